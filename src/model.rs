//! The vocabulary every stage shares: clusters, replicas, sizes and signals as
//! read from Materialize's catalog. Plain data, no I/O; the `snapshot` module
//! fills it from a database, the `sim` module from its simulated environment.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A cluster id as Materialize prints it (`u7`, `s2`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterId(pub String);

impl ClusterId {
    /// The number of a user cluster's id (`u7`: 7). Materialize numbers
    /// user clusters in the order they are created and never reuses a
    /// number, so a cluster numbered above the newest one at some moment
    /// did not exist then.
    pub fn user_number(&self) -> Option<u64> {
        let digits = self.0.strip_prefix('u')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text from the database (names, reasons, notes) made safe for a
/// terminal: control characters are shown escaped (`\n`, `\u{1b}`), so a
/// strategy row cannot move the cursor, retitle the window or break a
/// table's lines. Cells get it (`render::table::Cell`); whole outputs get
/// `render::terminal_safe`.
pub fn printable(s: &str) -> String {
    if !s.chars().any(is_hidden) {
        return s.to_string();
    }
    s.chars().map(shown_char).collect()
}

/// A character a terminal does not show as itself: a control character
/// (`\n`, ESC), or an invisible one that changes how the rest of the line
/// is drawn or read (a bidirectional override or isolate, a zero-width
/// character, a soft hyphen, a byte-order mark). U+202E in a replica name
/// drew a plan line's size backwards (an outside check).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

/// One character as [`printable`] shows it: escaped when hidden.
pub fn shown_char(c: char) -> String {
    match c {
        c if c.is_control() => c.escape_debug().to_string(),
        c if is_hidden(c) => c.escape_unicode().to_string(),
        c => c.to_string(),
    }
}

/// Columns `s` takes on a terminal: a wide character (CJK, most emoji)
/// two, a combining one none. What plain tables align by.
pub fn display_width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// A strategy row's `strategy_type` as messages name it: [`echoed`], and
/// `(empty)` for an empty one, `(blank)` for one of blanks alone
/// (`strategy : unknown strategy type ''`: an outside check).
pub fn strategy_type_shown(ty: &str) -> String {
    match (ty.is_empty(), ty.trim().is_empty()) {
        (true, _) => "(empty)".to_string(),
        (false, true) => "(blank)".to_string(),
        (false, false) => echoed(ty),
    }
}

/// A value from a row (a size, a key, a string) as a message quotes it:
/// whole up to 80 columns, else cut and said how long it was, so that a
/// 2 MB string written by hand makes a line, not 2 MB on every run.
pub fn echoed(s: &str) -> String {
    const MAX: usize = 80;
    if display_width(s) <= MAX {
        return s.to_string();
    }
    format!("{} ({} characters)", fit_width(s, MAX), s.chars().count())
}

/// `s` cut to at most `width` columns, ending with `…` when cut.
pub fn fit_width(s: &str, width: usize) -> String {
    if display_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// How to name a cluster in a command we suggest (`clusterctl strategy
/// resume …`): its name when a shell takes it as it is, else its id (a
/// name with a space, a quote or a line break would need quoting; one
/// that starts with a dash, an option to the command).
pub fn command_arg<'a>(name: &'a str, id: &'a ClusterId) -> &'a str {
    match shell_word(name) && !looks_like_option(name) {
        true => name,
        false => &id.0,
    }
}

/// Whether the command would take `arg`, a cluster named on its command
/// line, for an option (`-dash`): quoting does not help, as the shell
/// removes the quotes before the command sees it.
fn looks_like_option(arg: &str) -> bool {
    arg.starts_with('-')
}

/// Whether a shell takes `s` as one argument as it is (no quoting).
pub fn shell_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// A path as a shell takes it in a command we suggest: as it is when it
/// needs no quoting, else in single quotes ([`single_quoted`]).
pub fn shell_path(s: &str) -> String {
    match s.split('/').all(|part| part.is_empty() || shell_word(part)) && !s.is_empty() {
        true => s.to_string(),
        false => single_quoted(s),
    }
}

/// An argument as a shell takes it, in a command line we record: as it is
/// when it needs no quoting, else in single quotes ([`single_quoted`], the
/// rule of [`shell_path`]). `None` for one with a control character: a line
/// break would start a line of its own, quoted or not; and for one that
/// starts with a dash, which the line run again would take for an option.
pub fn shell_arg(s: &str) -> Option<String> {
    match (
        s.chars().any(char::is_control) || looks_like_option(s),
        shell_word(s),
    ) {
        (true, _) => None,
        (false, true) => Some(s.to_string()),
        (false, false) => Some(single_quoted(s)),
    }
}

/// A flag's value as a shell takes it, in a command line we show: as it is
/// when it needs no quoting (plain names separated by commas too: `a,b`),
/// else in single quotes ([`single_quoted`]).
pub fn shell_value(s: &str) -> String {
    match s.split(',').all(shell_word) {
        true => s.to_string(),
        false => single_quoted(s),
    }
}

/// `s` in single quotes, where a shell takes every character as it is but
/// a quote (written `'\''`: close, an escaped quote, open again).
pub fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A replica size name (`25cc`, `M.1-large`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Size(pub String);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Size {
    fn from(s: &str) -> Self {
        Size(s.to_string())
    }
}

/// One offered replica size with what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaSize {
    pub name: Size,
    pub credits_per_hour: f64,
    /// Total memory of the replica (processes × memory per process), bytes.
    pub memory_bytes: f64,
    /// Total CPU of the replica (processes × cpu per process), cores.
    pub cpu_cores: f64,
}

impl ReplicaSize {
    /// The catalog's order of sizes, smallest first: by credits, then
    /// cores, then memory, then name.
    pub fn order(a: &ReplicaSize, b: &ReplicaSize) -> std::cmp::Ordering {
        a.credits_per_hour
            .total_cmp(&b.credits_per_hour)
            .then(a.cpu_cores.total_cmp(&b.cpu_cores))
            .then(a.memory_bytes.total_cmp(&b.memory_bytes))
            .then(a.name.cmp(&b.name))
    }
}

/// Offered sizes, smallest to largest (credits, then CPU, then memory), as the
/// catalog reference §5 prescribes: names are never parsed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SizeCatalog {
    sizes: Vec<ReplicaSize>,
    /// Sizes the catalog offers but the region's
    /// `allowed_cluster_replica_sizes` does not (Materialize refuses to
    /// create them): never chosen, only priced (a live replica of such a
    /// size still counts toward the region's credit rate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    refused: Vec<ReplicaSize>,
    /// Sizes the catalog prices but `--replica-sizes` leaves out: never
    /// chosen (a row naming one names an unknown size), only priced (a
    /// live replica of one still counts toward the region's credit rate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unlisted: Vec<ReplicaSize>,
    /// The credits are made up (`--replica-sizes` names sizes without
    /// their prices): the region's credit limit cannot be judged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    invented_credits: bool,
}

impl SizeCatalog {
    pub fn new(mut sizes: Vec<ReplicaSize>) -> Self {
        sizes.sort_by(ReplicaSize::order);
        sizes.dedup_by(|a, b| a.name == b.name);
        SizeCatalog {
            sizes,
            ..SizeCatalog::default()
        }
    }

    /// Only the sizes Materialize's `allowed_cluster_replica_sizes` lists
    /// (an empty list allows every size, as in Materialize); the others
    /// are kept aside, priced but never offered.
    pub fn restrict_to(mut self, allowed: &[String]) -> Self {
        if allowed.is_empty() {
            return self;
        }
        let (offered, refused) = self
            .sizes
            .into_iter()
            .partition(|s| allowed.iter().any(|a| a == &s.name.0));
        self.sizes = offered;
        self.refused = refused;
        self
    }

    /// A size the catalog has but the region does not allow.
    pub fn is_refused(&self, size: &Size) -> bool {
        self.refused.iter().any(|s| &s.name == size)
    }

    /// Why `size` is not among the sizes offered, in a few words: left out
    /// by `--replica-sizes`, refused by the region's setting, or unknown
    /// (a size missing from the flag was said "not offered", of a size the
    /// region offers: an outside check).
    pub fn why_not_offered(&self, size: &Size) -> &'static str {
        if self.unlisted.iter().any(|s| &s.name == size) || self.invented_credits {
            "is not in --replica-sizes"
        } else if self.is_refused(size) {
            "is not allowed here (allowed_cluster_replica_sizes)"
        } else {
            "is not offered"
        }
    }

    /// Whether the credits are the catalog's (not made up by
    /// `--replica-sizes`).
    pub fn credits_known(&self) -> bool {
        !self.invented_credits
    }

    /// The sizes `--replica-sizes a,b,c` names. When the catalog has every
    /// one, they are its sizes, with its credits and in its order (the
    /// others priced, never offered), so the region's credit limit is
    /// judged; else by name only ([`SizeCatalog::from_names`]).
    pub fn listed(names: &[String], catalog: Option<SizeCatalog>) -> Self {
        match catalog {
            Some(c) if !names.is_empty() && names.iter().all(|n| c.contains(&Size(n.clone()))) => {
                let (sizes, unlisted) =
                    c.sizes.into_iter().partition(|s| names.contains(&s.name.0));
                SizeCatalog {
                    sizes,
                    unlisted,
                    ..c
                }
            }
            _ => Self::from_names(names),
        }
    }

    /// Sizes given by name only (`--replica-sizes a,b,c`): kept in the given
    /// order, credits growing with the position so ordering stays stable.
    pub fn from_names(names: &[String]) -> Self {
        let sizes = names
            .iter()
            .enumerate()
            .map(|(i, n)| ReplicaSize {
                name: Size(n.clone()),
                credits_per_hour: (i + 1) as f64,
                memory_bytes: 0.0,
                cpu_cores: 0.0,
            })
            .collect();
        SizeCatalog {
            sizes,
            invented_credits: true,
            ..SizeCatalog::default()
        }
    }

    /// Materialize Cloud's cc sizes (catalog reference §5), for the simulator.
    pub fn cloud_defaults() -> Self {
        const CC: &[(&str, f64)] = &[
            ("25cc", 0.25),
            ("50cc", 0.5),
            ("100cc", 1.0),
            ("200cc", 2.0),
            ("300cc", 3.0),
            ("400cc", 4.0),
            ("600cc", 6.0),
            ("800cc", 8.0),
            ("1200cc", 12.0),
            ("1600cc", 16.0),
            ("3200cc", 32.0),
            ("6400cc", 64.0),
            ("128C", 128.0),
            ("256C", 256.0),
            ("512C", 512.0),
        ];
        let gib = 1024.0 * 1024.0 * 1024.0;
        SizeCatalog::new(
            CC.iter()
                .map(|(n, c)| ReplicaSize {
                    name: Size(n.to_string()),
                    credits_per_hour: *c,
                    // cc sizes scale linearly: 1 credit ≈ 1 core, ≈ 8 GiB.
                    memory_bytes: c * 8.0 * gib,
                    cpu_cores: *c,
                })
                .collect(),
        )
    }

    pub fn all(&self) -> &[ReplicaSize] {
        &self.sizes
    }

    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Position in the smallest-to-largest order.
    pub fn rank(&self, size: &Size) -> Option<usize> {
        self.sizes.iter().position(|s| &s.name == size)
    }

    /// Whether `a` is a larger size than `floor`: by the offered order
    /// when both are offered, else by the catalog's order
    /// ([`ReplicaSize::order`]: sizes the region refuses or
    /// `--replica-sizes` leaves out are in the catalog too). A floor the
    /// catalog does not have (or made-up credits) is no floor (`true`); a
    /// size it does not have is not above a floor it has.
    pub fn above(&self, a: &Size, floor: &Size) -> bool {
        if let (Some(x), Some(f)) = (self.rank(a), self.rank(floor)) {
            return x > f;
        }
        let known = |s: &Size| self.in_catalog(s).filter(|_| self.credits_known());
        match (known(a), known(floor)) {
            (_, None) => true,
            (Some(x), Some(f)) => ReplicaSize::order(x, f).is_gt(),
            (None, Some(_)) => false,
        }
    }

    pub fn get(&self, size: &Size) -> Option<&ReplicaSize> {
        self.sizes.iter().find(|s| &s.name == size)
    }

    pub fn contains(&self, size: &Size) -> bool {
        self.get(size).is_some()
    }

    /// Credits per hour of a size (one the region no longer allows too);
    /// unknown sizes cost nothing we can know.
    pub fn credits(&self, size: &Size) -> f64 {
        self.in_catalog(size)
            .map(|s| s.credits_per_hour)
            .unwrap_or(0.0)
    }

    /// A size the catalog has: offered, refused by the region, or left out
    /// by `--replica-sizes`.
    fn in_catalog(&self, size: &Size) -> Option<&ReplicaSize> {
        self.get(size).or_else(|| {
            (self.refused.iter())
                .chain(&self.unlisted)
                .find(|s| &s.name == size)
        })
    }

    /// All sizes up to and including `max`, smallest first.
    pub fn up_to(&self, max: &Size) -> Vec<Size> {
        match self.rank(max) {
            Some(i) => self.sizes[..=i].iter().map(|s| s.name.clone()).collect(),
            None => Vec::new(),
        }
    }

    /// The size just below `size` in the catalog's order (`None` for the
    /// smallest, or a size not listed).
    pub fn below(&self, size: &Size) -> Option<Size> {
        let i = self.rank(size)?;
        Some(self.sizes.get(i.checked_sub(1)?)?.name.clone())
    }

    /// The names, comma separated, for error messages.
    pub fn names(&self) -> String {
        self.sizes
            .iter()
            .map(|s| s.name.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Crash and OOM counts of a replica over the lookback window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrashInfo {
    pub crashes: u32,
    pub ooms: u32,
    pub last_crash: Option<DateTime<Utc>>,
    /// The oldest crash in the window: with `last_crash` and `crashes`,
    /// the loop's pace.
    #[serde(default)]
    pub first_crash: Option<DateTime<Utc>>,
    /// The latest offline event without a reason (a restart, maintenance,
    /// or a crash Materialize gives no reason for: a panic): no crash, but
    /// it makes the replica [`Replica::unproven`] for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_offline: Option<DateTime<Utc>>,
}

/// How far apart two clocks may be and still be taken to agree (another
/// host's, a client's that wrote a row by hand): a time ahead of ours by
/// more is said or not kept (a textfile's last success, a strategy row's
/// `updated_at`).
pub const CLOCK_SLACK_S: i64 = 60;

/// A crash-looping replica that has served this long since its last
/// crash has recovered, at least: twice Kubernetes' longest restart delay
/// (5 minutes), so a replica between two kills of a loop is not taken for
/// a recovered one.
pub const RECOVERED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

impl Replica {
    /// Offline twice or more in the crash window, and not recovered since:
    /// not a replica to rely on (`status`'s CrashLooping and the metric;
    /// `target_size` does not retire a healthy replica for it; `burst`
    /// names it when it gives up). `shrink_to_fit` has thresholds of its
    /// own.
    ///
    /// Recovered: hydrated, and serving since its last crash for longer
    /// than [`RECOVERED_AFTER`] and than twice the loop's mean gap between
    /// crashes (a loop that hydrates between kills is still a loop). It
    /// used to count as looping for the whole crash window (an hour) after
    /// its workload shrank back.
    pub fn crash_looping(&self, now: DateTime<Utc>) -> bool {
        if self.crash.crashes < 2 {
            return false;
        }
        self.loop_recovers_at().is_none_or(|at| now < at)
    }

    /// When a loop of two crashes or more counts as recovered if it serves
    /// until then ([`Replica::crash_looping`]): its last crash plus
    /// [`RECOVERED_AFTER`] or twice its mean gap, whichever is longer.
    /// `None` while it is not hydrated, or its last crash is unknown: that
    /// hangs on what it does next.
    fn loop_recovers_at(&self) -> Option<DateTime<Utc>> {
        let c = &self.crash;
        let last = c.last_crash.filter(|_| self.hydrated)?;
        let gap = c
            .first_crash
            .map(|first| {
                (last - first) / i32::try_from(c.crashes.saturating_sub(1)).unwrap_or(i32::MAX)
            })
            .unwrap_or_default();
        Some(last + RECOVERED_AFTER.max(gap * 2))
    }

    /// Crash looping, or offline (killed or crashed) within
    /// [`RECOVERED_AFTER`]: not yet a replica to retire a serving one for.
    /// A size whose state outgrows its memory after hydration serves
    /// between kills, so a snapshot may find it hydrated with one kill
    /// behind it, the loop's first; a retirement then left the cluster
    /// with that loop alone.
    pub fn unproven(&self, now: DateTime<Utc>) -> bool {
        self.crash_looping(now)
            || self
                .last_down()
                .is_some_and(|last| now - last < RECOVERED_AFTER)
    }

    /// Its latest offline event, a crash's or one without a reason.
    fn last_down(&self) -> Option<DateTime<Utc>> {
        self.crash.last_crash.max(self.crash.last_offline)
    }

    /// Seconds until it is no longer [`Replica::unproven`], as far as the
    /// catalog tells: a kill within [`RECOVERED_AFTER`], or a loop it serves
    /// through (hydrated, its last kill and mean gap known); `None` when it
    /// is proven, or when that hangs on what it does next (a loop not
    /// hydrated).
    pub fn proven_in(&self, now: DateTime<Utc>) -> Option<u64> {
        if !self.unproven(now) {
            return None;
        }
        let until = match self.crash_looping(now) {
            true => self.loop_recovers_at()?,
            false => self.last_down()? + RECOVERED_AFTER,
        };
        Some((until - now).num_seconds().max(0) as u64)
    }

    /// Why it is [`Replica::unproven`], and until when `staying` (what it
    /// does not retire, with its verb: "the other sizes stay") stays: the
    /// plan's note of every strategy that holds a retirement back for it.
    pub fn why_unproven(&self, now: DateTime<Utc>, staying: &str) -> Option<String> {
        if self.crash_looping(now) {
            Some(format!("crash-loops: {staying} until it is healthy"))
        } else if self.unproven(now) {
            Some(format!(
                "went offline (killed or crashed) less than {} ago: {staying} until it has \
                 served that long without",
                human_duration(RECOVERED_AFTER.num_seconds().unsigned_abs())
            ))
        } else {
            None
        }
    }
}

/// Names of clusterctl's temporary replicas (`--create-replica`) start
/// with this: a command's, on its session cluster, never a strategy's.
pub const TEMP_PREFIX: &str = "clusterctl_tmp_";

/// A replica as it exists in the catalog, with its signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replica {
    pub id: String,
    pub name: String,
    /// `None` for unorchestrated replicas: such a cluster is left alone.
    pub size: Option<Size>,
    pub hydrated: bool,
    #[serde(default)]
    pub crash: CrashInfo,
    /// `mz_cluster_replicas.owner_id`: dropping the replica needs it (§8.4).
    /// `None` when not read (the simulator).
    #[serde(default)]
    pub owner_id: Option<RoleId>,
    /// When it was created: its oldest event in the status history (kept
    /// 30 days by default, so an older replica shows 30 days). `None` when
    /// not read (the simulator) or without history.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// How far its hydration got, object by object (the cluster's indexes,
    /// materialized views and sources): `None` when the cluster has none
    /// or it was not read (the simulator models a replica's hydration as
    /// one event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<Objects>,
    /// A process of it is offline now, not starting (a reason other than
    /// `initializing`, or none): it is not hydrating, whatever its objects
    /// say (`status` called such a replica "hydrating": an outside check).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
}

/// Of a cluster's objects, how many a replica reports hydrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objects {
    pub hydrated: u32,
    pub total: u32,
}

/// A cluster's strategy rows as the plan guard compares them: a
/// fingerprint of each row in effect (its type, config and `updated_at` as
/// the snapshot reads them: a timestamp it cannot represent counts as none)
/// and how many older rows of its type it hides, kept to 8 bytes as every
/// cluster's plan carries one. A `strategy pause`, `set` or `rm` during a
/// run changes it, and so does a SQL `UPDATE` of a config that keeps
/// `updated_at`; the run then sends no further DDL to the cluster (it went
/// on dropping replicas after the pause was confirmed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowsSeen(u64);

impl RowsSeen {
    /// From the rows in effect, in the order `plan::rows::in_effect` gives
    /// them, each with the number of older rows of its type.
    pub fn of<'a>(in_effect: impl IntoIterator<Item = (&'a StrategyRow, usize)>) -> RowsSeen {
        use std::hash::{Hash as _, Hasher as _};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (row, older) in in_effect {
            row.strategy_type.hash(&mut h);
            row.config.to_string().hash(&mut h);
            row.unreadable.hash(&mut h);
            row.updated_at.hash(&mut h);
            older.hash(&mut h);
        }
        RowsSeen(h.finish())
    }
}

/// A replica as the plan guard compares it: what the plan saw against
/// what is there right before a statement. A replica that stopped
/// being hydrated since the snapshot (an OOM) changes the plan: the drop of
/// the one it relied on must not go out.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub name: String,
    pub size: Option<Size>,
    pub hydrated: bool,
}

impl Seen {
    pub fn of(r: &Replica) -> Seen {
        Seen {
            name: r.name.clone(),
            size: r.size.clone(),
            hydrated: r.hydrated,
        }
    }
}

impl Replica {
    /// A command's temporary replica (`--create-replica`): never the
    /// strategies' to keep, retire or count on to serve. A swap or a
    /// rename puts a watcher's under a cluster with strategies, whose
    /// plans retired it every run (and counted it as serving: an outside
    /// check).
    pub fn is_temporary(&self) -> bool {
        self.name.starts_with(TEMP_PREFIX)
    }

    /// Creation order: replica ids are `u<N>` from one counter.
    pub fn creation_order(&self) -> u64 {
        self.id
            .get(1..)
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    }
}

/// Recent query activity of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Latest statement begin within the lookback, if any was logged.
    pub last_begin: Option<DateTime<Utc>>,
    /// Statements that began and have not finished (waiting counts as demand).
    pub in_flight: u32,
    /// Latest statement end (`finished_at`) of those that began within the
    /// lookback: a long query keeps its cluster busy until it ends.
    pub last_end: Option<DateTime<Utc>>,
}

impl Activity {
    /// When the cluster was last used: the latest begin or end (idle time
    /// counts from here; from the begin alone, a cluster whose two-hour
    /// query had just finished was "idle for 2h" and suspended at once,
    /// where mz-clusterctl counted from the end).
    pub fn last_used(&self) -> Option<DateTime<Utc>> {
        self.last_begin.max(self.last_end)
    }

    /// Whether `self`, read later, shows demand that `seen` did not: a
    /// statement that began after the latest one seen, or more in flight.
    pub fn newer_than(&self, seen: &Activity) -> bool {
        let began_since = match (self.last_begin, seen.last_begin) {
            (Some(now), Some(then)) => now > then,
            (Some(_), None) => true,
            (None, _) => false,
        };
        began_since || self.in_flight > seen.in_flight
    }
}

/// How a cluster is scheduled by Materialize itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Manual,
    OnRefresh,
    Other(String),
}

impl Schedule {
    /// From `mz_clusters.schedule`'s text (NULL: manual), as a scenario's
    /// `schedule` key takes it too.
    pub fn from_catalog(text: Option<String>) -> Schedule {
        match text.as_deref() {
            None | Some("manual") => Schedule::Manual,
            Some("on-refresh") => Schedule::OnRefresh,
            Some(_) => Schedule::Other(text.unwrap_or_default()),
        }
    }

    /// The catalog's text of it.
    pub fn as_catalog(&self) -> &str {
        match self {
            Schedule::Manual => "manual",
            Schedule::OnRefresh => "on-refresh",
            Schedule::Other(s) => s,
        }
    }
}

/// Statements that began this recently on a cluster no replica can serve
/// are users turned away ([`Cluster::wanted_unserved`]).
pub const TURNED_AWAY_S: i64 = 300;

/// A cluster with its replicas and signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: ClusterId,
    pub name: String,
    pub managed: bool,
    /// Managed clusters only: the configured size and replication factor.
    pub size: Option<Size>,
    pub replication_factor: Option<i64>,
    pub schedule: Schedule,
    /// Has a PostgreSQL/MySQL/SQL Server source: its oldest replica runs it.
    pub has_singleton_source: bool,
    pub replicas: Vec<Replica>,
    pub activity: Activity,
    /// `mz_clusters.owner_id`: creating replicas and `ALTER CLUSTER` need
    /// it (§8.4). `None` when not read (the simulator).
    #[serde(default)]
    pub owner_id: Option<RoleId>,
    /// Materialize's own auto-scaling drives this cluster (a row in the
    /// auto-scaling relation of newer releases, §8.8).
    #[serde(default)]
    pub auto_scaling: bool,
}

impl Cluster {
    /// An unmanaged cluster without replicas, schedule or signals.
    pub fn empty(id: ClusterId, name: &str) -> Cluster {
        Cluster {
            id,
            name: name.to_string(),
            managed: false,
            size: None,
            replication_factor: None,
            schedule: Schedule::Manual,
            has_singleton_source: false,
            replicas: Vec::new(),
            activity: Activity::default(),
            owner_id: None,
            auto_scaling: false,
        }
    }

    pub fn is_system(&self) -> bool {
        self.id.0.starts_with('s')
    }

    pub fn replica(&self, name: &str) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.name == name)
    }

    pub fn any_hydrated(&self) -> bool {
        self.replicas.iter().any(|r| r.hydrated)
    }

    /// When the oldest replica it runs began (the catalog's first sight of
    /// it, [`Replica::since`]): a silence of the statement log from before
    /// then proves nothing of the cluster's use.
    pub fn oldest_replica_since(&self) -> Option<DateTime<Utc>> {
        self.replicas.iter().filter_map(|r| r.since).min()
    }

    /// Statements are waiting and no replica can serve them.
    pub fn demand_waiting(&self) -> bool {
        self.activity.in_flight > 0 && !self.any_hydrated()
    }

    /// How many replicas this cluster can be given before any is dropped,
    /// under Materialize's `max_replicas_per_cluster` (`limit`): creates
    /// run before drops, so every live replica counts. `None`: no limit
    /// known, or a managed cluster (its replication factor is the count).
    pub fn room_for_creates(&self, limit: Option<u32>) -> Option<usize> {
        match (self.managed, limit) {
            (false, Some(limit)) => Some((limit as usize).saturating_sub(self.replicas.len())),
            _ => None,
        }
    }

    /// Users want it now and no replica can serve them: statements are
    /// waiting, or began within [`TURNED_AWAY_S`] (without a replica they
    /// fail at once, §8.10, and wait for nothing).
    pub fn wanted_unserved(&self, now: DateTime<Utc>) -> bool {
        let recent = self
            .activity
            .last_begin
            .is_some_and(|t| (now - t).num_seconds() < TURNED_AWAY_S);
        self.demand_waiting() || (recent && !self.any_hydrated())
    }

    /// The replica running the cluster's singleton sources, if any.
    pub fn source_replica(&self) -> Option<&Replica> {
        if !self.has_singleton_source {
            return None;
        }
        self.replicas.iter().min_by_key(|r| r.creation_order())
    }
}

/// One row of `mz_cluster_strategies`, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyRow {
    pub cluster_id: ClusterId,
    pub strategy_type: String,
    pub config: serde_json::Value,
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the stored config cannot be read (a number beyond any float,
    /// JSON nested deeper than a config ever is); `config` is then null,
    /// and validation refuses the row saying this, not "got null".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

impl StrategyRow {
    /// The config as shown in a table or a line: its JSON, or why it
    /// cannot be read.
    pub fn config_text(config: &serde_json::Value, unreadable: Option<&str>) -> String {
        match unreadable {
            Some(why) => format!("(cannot be read: {why})"),
            None => config.to_string(),
        }
    }

    /// The config as an operator's audit row records what a command
    /// replaced or removed: its JSON, or, for a config that is `null` or
    /// cannot be read, a text saying so (recorded as null, it read as
    /// "none": no row before).
    pub fn audited_config(&self) -> serde_json::Value {
        match (&self.config, &self.unreadable) {
            (_, Some(why)) => format!("(cannot be read: {why})").into(),
            (serde_json::Value::Null, None) => "(null)".into(),
            (config, None) => config.clone(),
        }
    }
}

/// A JSON value with every object and array at exactly its length. The
/// parser grows them as it reads (an object of one or two keys takes room
/// for three entries), and a snapshot keeps a config and a state payload
/// per cluster: 10 000 clusters hold tens of thousands of small objects.
pub fn compact_json(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut out = serde_json::Map::with_capacity(m.len());
            for (k, v) in m {
                out.insert(k, compact_json(v));
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(compact_json).collect())
        }
        other => other,
    }
}

/// At most `max` characters of `s`, with `…` where it was cut (text from
/// outside quoted in a message: a name, a line of a file).
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `s` after a count other than one (`1 row`, `2 rows`).
pub fn plural<N: TryInto<u64>>(n: N) -> &'static str {
    if matches!(n.try_into(), Ok(1)) {
        ""
    } else {
        "s"
    }
}

/// A duration for people: `45s`, `12m05s`, `2h01m`, `3d04h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 && s > 0 {
        format!("{m}m{s:02}s")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// How far back crashes and OOMs count (DESIGN §3).
pub const CRASH_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// The shortest statement history read for activity; the largest
/// `idle_after_s` configured extends it (DESIGN §3).
pub const MIN_ACTIVITY_LOOKBACK: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Strategy type of the row that pauses the controller for a cluster
/// (`clusterctl strategy pause`): not a strategy, never "unknown".
pub const PAUSE: &str = "pause";

/// Current version of the state payload we write.
pub const STATE_VERSION: i32 = 2;

/// This machine's clock since boot: the kernel's boot id and the seconds
/// since that boot (`CLOCK_BOOTTIME`, which no setting of the time of day
/// moves). Two readings with the same id are on one timeline whatever the
/// wall clocks of this machine and of the server did between them,
/// whichever process (or container on the same kernel) took them: what
/// lets a run judge how long ago a run killed here wrote its intent
/// (`plan::doubt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootClock {
    pub id: String,
    pub uptime_s: f64,
}

impl BootClock {
    /// A reading: the boot id's text (`/proc/sys/kernel/random/boot_id`)
    /// and the seconds since boot, as the shell takes them (`boot_clock`).
    pub fn of(boot_id: &str, uptime_s: f64) -> Option<BootClock> {
        let id = boot_id.trim();
        (!id.is_empty() && uptime_s.is_finite() && uptime_s >= 0.0).then(|| BootClock {
            id: id.to_string(),
            uptime_s,
        })
    }

    /// This reading moved by `by` seconds along its timeline.
    pub fn shifted(&self, by: f64) -> BootClock {
        BootClock {
            id: self.id.clone(),
            uptime_s: self.uptime_s + by,
        }
    }

    /// Seconds from `earlier` to this reading, when both are of this boot.
    pub fn since(&self, earlier: &BootClock) -> Option<f64> {
        let d = self.uptime_s - earlier.uptime_s;
        (self.id == earlier.id && d.is_finite()).then_some(d)
    }
}

/// Everything one reconcile round decides on. Read once, never refreshed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The database's clock when the snapshot was taken.
    pub now: DateTime<Utc>,
    pub sizes: SizeCatalog,
    pub clusters: Vec<Cluster>,
    pub strategies: Vec<StrategyRow>,
    /// Newest state payload per cluster (unknown versions already dropped).
    pub states: BTreeMap<ClusterId, serde_json::Value>,
    /// Whether the statement log had any row at all in the lookback window.
    pub activity_log_has_rows: bool,
    /// The oldest statement the activity read saw, of any cluster (within
    /// its lookback): the log's silence about a cluster is evidence from
    /// then on. `None` when the log had no rows or was not read.
    #[serde(default)]
    pub activity_log_since: Option<DateTime<Utc>>,
    /// The cluster our own session runs on; never suspended or shrunk.
    pub session_cluster: Option<String>,
    /// What the server is and allows (release, settings, our role).
    #[serde(default)]
    pub env: Environment,
    /// Statement history by hour of the clusters that learn their demand
    /// (`idle_suspend` with `predict`); `None` when not read or unreadable.
    #[serde(default)]
    pub demand: Option<DemandLog>,
    /// Audit rows of interrupted runs without an outcome (empty when the
    /// trail could not be read: `Environment::unfinished_error` says why).
    #[serde(default)]
    pub unfinished: Vec<Unresolved>,
    /// Per cluster, what the audit trail shows of its last suspension by
    /// this controller (empty when the trail could not be read:
    /// `Environment::suspensions_error` says why).
    #[serde(default)]
    pub suspensions: BTreeMap<ClusterId, LastSuspension>,
    /// The newest creation of ours on each cluster read with `suspensions`
    /// that has no suspension by this controller.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub created_since: BTreeMap<ClusterId, DateTime<Utc>>,
    /// `suspensions` was read: only when a cluster the command plans needs
    /// it, for those only (`plan::reads_the_trail_for`), and without error.
    #[serde(default)]
    pub suspensions_read: bool,
    /// Per cluster, the newest executed `set_size` action of the audit
    /// trail (read with the unfinished rows, in the same statement): a
    /// managed cluster of another size with no reconfiguration in flight
    /// did not take it (`plan::rolled_back`).
    #[serde(default)]
    pub last_resizes: BTreeMap<ClusterId, LastResize>,
    /// Per cluster, the statements the server refused in a row within the
    /// last hour, each since it last ran there (read with the
    /// unfinished rows, in the same statement): one refused again is held
    /// back for a while (`plan::refused`).
    #[serde(default)]
    pub refusals: BTreeMap<ClusterId, Vec<Refusal>>,
    /// This machine's boot clock when `now` was read (the reading run's,
    /// not the database's): how long ago an intent written on this machine
    /// was, whatever the server's clock did since (`plan::doubt`). `None`
    /// off Linux and in the simulator.
    #[serde(default)]
    pub local_clock: Option<BootClock>,
}

/// A cluster's newest resize the audit trail records as executed, or as
/// failed (a `WAIT UNTIL READY` that timed out and rolled back): the size
/// asked for and the database's time it was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastResize {
    pub size: Size,
    pub at: DateTime<Utc>,
    /// Its statement failed, with this error (`None`: it ran).
    #[serde(default)]
    pub failed: Option<String>,
}

/// A statement the server refused `count` times in a row within the last
/// hour (it did not run on its cluster since the first), the last at
/// `last_at`, as the audit trail recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The statement, as last refused (what the alert shows).
    pub sql: String,
    /// What it does: the action's kind, replica, size and replication
    /// factor, as its audit row records them. A refusal is matched to a
    /// planned action by these, not by the statement's text, which
    /// carries `--resize-timeout` (a `status` planned with another timeout
    /// missed it: an outside check).
    #[serde(default)]
    pub action: RefusedAction,
    pub count: u32,
    pub last_at: DateTime<Utc>,
    /// An error it was refused with (the same statement is refused for the
    /// same cause; `None` where the row had none).
    pub error: Option<String>,
}

/// What a refused statement did, as its audit row records it (see
/// [`Refusal::action`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedAction {
    /// `create_replica`, `set_size`, … (`ActionKind::name`).
    pub kind: String,
    /// Empty for a managed cluster's statements.
    pub replica: String,
    pub size: Option<String>,
    pub replication_factor: Option<i64>,
}

/// The replicas `idle_suspend` dropped in its last suspension of the
/// cluster by this controller (executed drops only; one suspension may take
/// several runs), as the audit trail recorded them: what a suspended
/// cluster whose state was wiped can be woken with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastSuspension {
    /// When the newest of those drops was recorded.
    pub at: DateTime<Utc>,
    /// `(replica, size)`, by name; the size `None` where the row had none.
    pub dropped: Vec<(String, Option<Size>)>,
    /// The replicas live when its runs planned it, by name: those of them
    /// still running are the rest of a suspension under way.
    #[serde(default)]
    pub live: Vec<String>,
    /// The newest replica creation this controller recorded on the cluster
    /// (executed), whenever it was: one after `at` means the cluster was
    /// woken since.
    pub last_created: Option<DateTime<Utc>>,
    /// Replicas later runs dropped to keep it suspended (made while it
    /// was, no statement since): not the suspension's, and not what a
    /// slot begun afresh after it should remember (it woke at a hand-made
    /// replica's size: an outside check).
    #[serde(default)]
    pub made_while_suspended: Vec<(String, Option<Size>)>,
}

/// A DROP of a replica that got no answer in time and may have reached
/// the server late (`plan::doubt::sent_drops`).
#[derive(Debug, Clone, PartialEq)]
pub struct SentDrop {
    pub replica: String,
    /// When its intent was written (the database's clock).
    pub sent: DateTime<Utc>,
    /// Until when it could still reach the server: its deadline and the
    /// late-delivery window.
    pub until: DateTime<Utc>,
}

/// An audit row without an outcome, as the settling of a killed run needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unresolved {
    pub action_id: String,
    pub cluster_id: ClusterId,
    /// `create_replica`, `drop_replica`, `set_size`, `set_replication_factor`.
    pub kind: String,
    pub replica: String,
    pub size: Option<String>,
    pub replication_factor: Option<i64>,
    /// The DDL deadline of the run that wrote it (older rows: unknown).
    pub deadline_s: Option<f64>,
    /// The database's time when the intent was written.
    pub created_at: Option<DateTime<Utc>>,
    /// The writing machine's boot clock at `created_at` (rows of older
    /// releases, or of a machine without one: `None`).
    pub boot: Option<BootClock>,
    /// An executed drop of its replica is recorded after it. A create: it
    /// ran, though the catalog no longer shows the replica. A drop: the
    /// later one did it (this one, had it landed first, would have made
    /// that one fail), so this one did not.
    pub dropped_since: bool,
    /// Settled already (a drop of the last day whose run gave up on it, or
    /// one a retry ran after an attempt without an answer): read only for
    /// the create of the same name it holds back while it may still land.
    pub settled: bool,
    /// The cluster's name when the row was written (`decision_ctx`'s
    /// `cluster`): the DDL names its cluster so, and lands on the cluster
    /// of that name when it runs (after `ALTER CLUSTER … SWAP WITH`, not
    /// the row's id).
    pub cluster_name: Option<String>,
}

/// A role id as Materialize prints it (`u7`, `s1`, `g2`): a kind letter
/// and a number. Copy-sized, so the owner of each of 10 000 clusters and
/// replicas costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleId {
    kind: u8,
    n: u32,
}

impl RoleId {
    /// `None` for text that is not an ASCII letter and a number.
    pub fn parse(s: &str) -> Option<RoleId> {
        let kind = *s.as_bytes().first()?;
        if !kind.is_ascii_alphabetic() {
            return None;
        }
        Some(RoleId {
            kind,
            n: s.get(1..)?.parse().ok()?,
        })
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind as char, self.n)
    }
}

impl Serialize for RoleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RoleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoleId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a role id: {s}")))
    }
}

/// A role as the catalog names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
}

/// Who our session acts as (§8.4). Everything is `None`/empty when it could
/// not be read: ownership is then not judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// `current_role` and its `mz_roles` id.
    pub role: Option<Role>,
    /// `mz_is_superuser()`.
    pub superuser: Option<bool>,
    /// Ids of the roles our role acts as: itself and every role it is a
    /// member of, directly or through other roles (`mz_role_members`).
    pub holds: std::collections::BTreeSet<RoleId>,
    /// Every role's name by id, for messages.
    pub role_names: BTreeMap<RoleId, String>,
    /// The roles each role is a direct member of (`mz_role_members`): what
    /// [`Identity::acting_as`] judges another role by.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub member_of: BTreeMap<RoleId, Vec<RoleId>>,
}

impl Identity {
    /// The identity of the role named `name` rather than ours (`dry-run
    /// --as-role`: a reviewer's read-only role judging ownership as the
    /// role `apply` runs as; a read-only dry-run said "No changes" of
    /// clusters only its own role does not own: an outside check): its
    /// memberships' closure; whether it is a superuser is not read
    /// (`mz_is_superuser()` answers for our session only). `None` when no
    /// role has that name.
    pub fn acting_as(&self, name: &str) -> Option<Identity> {
        let (id, name) = self
            .role_names
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, n)| (*id, n.clone()))?;
        let mut holds = std::collections::BTreeSet::new();
        let mut todo = vec![id];
        while let Some(r) = todo.pop() {
            if holds.insert(r) {
                todo.extend(self.member_of.get(&r).into_iter().flatten().copied());
            }
        }
        Some(Identity {
            role: Some(Role { id, name }),
            superuser: None,
            holds,
            role_names: self.role_names.clone(),
            member_of: self.member_of.clone(),
        })
    }

    /// Whether our role may act as the owner `owner_id`: `None` when we do
    /// not know who we are.
    pub fn acts_as(&self, owner_id: &RoleId) -> Option<bool> {
        self.role.as_ref()?;
        if self.superuser == Some(true) {
            return Some(true);
        }
        Some(self.holds.contains(owner_id))
    }

    /// Whether our role is (a member of) the role named `name`.
    pub fn member_of(&self, name: &str) -> Option<bool> {
        self.role.as_ref()?;
        if self.superuser == Some(true) {
            return Some(true);
        }
        Some(
            self.holds
                .iter()
                .any(|id| self.role_names.get(id).is_some_and(|n| n == name)),
        )
    }

    /// A role's name (its id when the catalog did not say).
    pub fn name_of(&self, id: &RoleId) -> String {
        self.role_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

/// Server settings read with `SHOW` (§8.1, §8.5, §8.6): `None` when the
/// release does not have the setting or it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub max_replicas_per_cluster: Option<u32>,
    pub statement_logging_default_sample_rate: Option<f64>,
    pub statement_logging_max_sample_rate: Option<f64>,
    pub enable_zero_downtime_cluster_reconfiguration: Option<bool>,
    pub enable_background_alter_cluster: Option<bool>,
    /// Self-managed installs may run without RBAC: everyone is then a superuser.
    pub enable_rbac_checks: Option<bool>,
    /// The most credits per hour all user replicas of the region may use
    /// together (§8.5; Materialize's default 1024).
    #[serde(default)]
    pub max_credit_consumption_rate: Option<f64>,
    /// The sizes new replicas may have; empty: every size (§8.5).
    #[serde(default)]
    pub allowed_cluster_replica_sizes: Option<Vec<String>>,
}

impl Settings {
    /// The sample rate of a new session's statements: min(default, max);
    /// `None` when neither setting could be read.
    pub fn sample_rate(&self) -> Option<f64> {
        match (
            self.statement_logging_default_sample_rate,
            self.statement_logging_max_sample_rate,
        ) {
            (Some(d), Some(m)) => Some(d.min(m)),
            (Some(r), None) | (None, Some(r)) => Some(r),
            (None, None) => None,
        }
        .map(|r| r.clamp(0.0, 1.0))
    }
}

/// What the server is and allows, read once per run with the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// `mz_version()`, e.g. `v26.35.0 (0123abcde)`.
    pub version: Option<String>,
    /// `mz_environment_id()`: which environment (region) this is.
    #[serde(default)]
    pub environment_id: Option<String>,
    pub settings: Settings,
    pub identity: Identity,
    /// Why the statement log could not be read; activity is then unknown.
    pub activity_error: Option<String>,
    /// The auto-scaling relation exists on this release (§8.8).
    pub auto_scaling_relation: bool,
    /// Why that relation could not be read (which clusters it drives is
    /// then unknown).
    pub auto_scaling_error: Option<String>,
    /// The latest statement dated after the database's clock, when the
    /// statement log has one (taken as beginning now).
    #[serde(default)]
    pub activity_future: Option<DateTime<Utc>>,
    /// Why the audit trail's unfinished actions could not be read (an
    /// interrupted run's action in doubt is then not known).
    #[serde(default)]
    pub unfinished_error: Option<String>,
    /// The audit trail's table does not exist (dropped by hand): `apply`
    /// refuses with the fix, as for every missing table of ours.
    #[serde(default)]
    pub actions_missing: bool,
    /// Why the audit trail's last suspensions could not be read (a
    /// suspended cluster whose state was wiped is then not woken from it).
    #[serde(default)]
    pub suspensions_error: Option<String>,
    /// The migrations our tables record, as far as the newer-schema rule
    /// needs them (the highest; empty: none, or no migrations table), read
    /// with the unfinished actions; `None` when not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_versions: Option<Vec<i32>>,
    /// When the server last refused a graceful resize as gated off (the
    /// audit trail's; its flag is not visible to `SHOW`, §8.1): the
    /// setting is then taken as off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_refused_at: Option<DateTime<Utc>>,
    /// The `--schema` our tables were read from (`None`: the session's
    /// default): a fix said for them names it ([`Environment::command`],
    /// `ddl::table`); one said without it ran against another
    /// installation's tables (an outside check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// An RFC 3339 time of our records (a state slot, a row's config, the
/// audit trail's decision context), in UTC; `None` when it is none.
pub fn utc_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What every output puts in place of a secret (`config::redact`).
pub const MASK: &str = "****";

/// The `--exec-cluster` this process was given ([`say_exec_cluster`]).
static SAID_EXEC_CLUSTER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records the `--exec-cluster` the command line gave, once, so every
/// command a fix names runs on it too ([`clusterctl_command`]): run as
/// printed without it, on a default cluster with no replica, a hint waited
/// two minutes and failed (an outside check).
pub fn say_exec_cluster(name: &str) {
    let _ = SAID_EXEC_CLUSTER.set(name.to_string());
}

/// `clusterctl SUB`, with the `--schema` our tables are in and the
/// `--exec-cluster` this process runs on (unless `sub` names one), as a fix
/// names a command to run.
pub fn clusterctl_command(schema: Option<&str>, sub: &str) -> String {
    let mut command = match schema {
        Some(s) => format!("clusterctl {sub} --schema {}", shell_value(s)),
        None => format!("clusterctl {sub}"),
    };
    if let Some(c) = SAID_EXEC_CLUSTER
        .get()
        .filter(|_| !sub.contains("--exec-cluster"))
    {
        command.push_str(&format!(" --exec-cluster {}", shell_value(c)));
    }
    command
}

/// The command that ends a cluster's pause (`cluster_arg`: how a command
/// line names it, [`command_arg`]), with the `--schema` of its rows.
pub fn resume_command(schema: Option<&str>, cluster_arg: &str) -> String {
    clusterctl_command(schema, &format!("strategy resume {cluster_arg}"))
}

impl Environment {
    /// [`clusterctl_command`] in the schema our tables were read from.
    pub fn command(&self, sub: &str) -> String {
        clusterctl_command(self.schema.as_deref(), sub)
    }

    /// `(major, minor, patch)` of [`Environment::version`].
    pub fn version_number(&self) -> Option<(u32, u32, u32)> {
        let v = self.version.as_deref()?.trim();
        let v = v.strip_prefix('v').unwrap_or(v);
        let core = v.split([' ', '-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        Some((
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        ))
    }
}

/// How a cluster argument typed on a command line reads: as typed when a
/// cluster has exactly that name (`' spaced '`, `a,b`: Materialize allows
/// both), else without surrounding blanks (`"a, b"`, a pasted `analytics `),
/// unless no cluster has that name and one has it with blanks of its own
/// around it (`blanked`: whether one does, given the trimmed text): then
/// as typed,
/// which names no cluster, so the command refuses it with the names it may
/// have meant (`strategy rm 'u3 '` beside a cluster named `' u3'` removed
/// the rows of the cluster whose id is u3: an outside check). The one rule
/// of every command's CLUSTER argument and of `--cluster`
/// (`plan::Selection`, which also splits at commas what names no cluster).
pub fn cluster_arg(
    arg: &str,
    is_name: impl Fn(&str) -> bool,
    blanked: impl Fn(&str) -> bool,
) -> &str {
    let trimmed = arg.trim();
    if is_name(arg) || (trimmed != arg && !is_name(trimmed) && blanked(trimmed)) {
        arg
    } else {
        trimmed
    }
}

impl Snapshot {
    pub fn cluster(&self, id: &ClusterId) -> Option<&Cluster> {
        self.clusters.iter().find(|c| &c.id == id)
    }

    /// The cluster's last statement: in the activity lookback
    /// ([`Activity::last_used`]), else the last the statement history
    /// holds (read for a predicting cluster: weeks). A cluster silent for
    /// longer than the lookback was "new (no statement seen)", idle since
    /// the controller's first sight, though its history was just
    /// profiled (an outside check).
    pub fn last_statement(&self, cluster: &Cluster) -> Option<DateTime<Utc>> {
        cluster.activity.last_used().or_else(|| {
            let hours = self.demand.as_ref()?.clusters.get(&cluster.id)?;
            hours.iter().map(|h| h.last).max()
        })
    }

    /// A cluster named on a command line: by exact name, else by id, the
    /// argument read by [`cluster_arg`].
    pub fn find_cluster(&self, arg: &str) -> Option<&Cluster> {
        let arg = cluster_arg(
            arg,
            |n| self.clusters.iter().any(|c| c.name == n),
            |t| {
                self.clusters
                    .iter()
                    .any(|c| c.name != t && c.name.trim() == t)
            },
        );
        self.clusters
            .iter()
            .find(|c| c.name == arg)
            .or_else(|| self.clusters.iter().find(|c| c.id.0 == arg))
    }

    /// Whether strategy rows mention this cluster id (it may be gone).
    pub fn has_rows(&self, id: &ClusterId) -> bool {
        self.strategies.iter().any(|r| &r.cluster_id == id)
    }

    /// The user clusters' names, for "did you mean" hints.
    pub fn user_cluster_names(&self) -> Vec<&str> {
        self.clusters
            .iter()
            .filter(|c| !c.is_system())
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Position of each cluster by id: one index instead of a linear search
    /// per lookup (10 000 clusters).
    pub fn cluster_index(&self) -> std::collections::HashMap<&ClusterId, usize> {
        self.clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (&c.id, i))
            .collect()
    }
}

/// Statement history of the clusters that learn their demand, by hour, over
/// complete past days (UTC): what `mz_statement_execution_history_redacted`
/// says about when each cluster is used (issue 16). Read in one statement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DemandLog {
    /// The window read: `[from, until)`, both UTC midnights.
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Hours with statements, oldest first, by cluster; a cluster absent
    /// had no statement in the window.
    pub clusters: BTreeMap<ClusterId, Vec<DemandHour>>,
    /// Profiles already learned from `clusters`, by cluster, with the days
    /// of history learned from (`strategy::predict::profile_of`, a pure
    /// function of the log): whoever builds the log may learn them once, so
    /// that the plans of a long-lived log (the simulator's, a day long) do
    /// not learn them again; a profile absent here, or learned over other
    /// days, is learned by the plan.
    #[serde(skip)]
    pub profiles: BTreeMap<ClusterId, (u64, Profile)>,
}

/// The statements of one cluster in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemandHour {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    /// Statements logged, each counted 1/sample_rate times: an estimate of
    /// all statements, the unsampled ones included.
    pub statements: f64,
    /// The first and the last statement begin within the hour.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    /// `crashes` kills, the first `first` and the last `last` minutes ago.
    fn looping(hydrated: bool, crashes: u32, first: Option<i64>, last: Option<i64>) -> bool {
        use chrono::TimeDelta;
        let now = chrono::DateTime::UNIX_EPOCH + TimeDelta::days(1);
        let mut r = crate::strategy::testutil::replica("r1", "25cc", hydrated);
        r.crash = super::CrashInfo {
            crashes,
            ooms: crashes,
            last_crash: last.map(|m| now - TimeDelta::minutes(m)),
            first_crash: first.map(|m| now - TimeDelta::minutes(m)),
            last_offline: None,
        };
        r.crash_looping(now)
    }

    /// An offline event without a reason (a panic's loop says none) is no
    /// crash, but the replica is not one to retire another for until it
    /// has served 10 minutes since; a crash counts as before.
    #[test]
    fn an_offline_event_without_a_reason_leaves_the_replica_unproven_for_a_while() {
        use chrono::TimeDelta;
        let now = chrono::DateTime::UNIX_EPOCH + TimeDelta::days(1);
        let down = |mins: i64| {
            let mut r = crate::strategy::testutil::replica("r1", "25cc", true);
            r.crash.last_offline = Some(now - TimeDelta::minutes(mins));
            r
        };
        assert!(down(3).unproven(now));
        assert_eq!(down(3).proven_in(now), Some(7 * 60));
        assert!(!down(3).crash_looping(now), "no crash");
        assert!(!down(11).unproven(now));
        let mut both = down(8);
        both.crash.last_crash = Some(now - TimeDelta::minutes(2));
        both.crash.crashes = 1;
        assert_eq!(both.proven_in(now), Some(8 * 60), "the later of the two");
    }

    #[test]
    fn only_a_user_clusters_id_has_a_number() {
        let n = |s: &str| super::ClusterId(s.to_string()).user_number();
        assert_eq!(n("u7"), Some(7));
        assert_eq!(n("u0012"), Some(12));
        for none in ["s2", "u", "u-1", "u+1", "7", "u7x", "u99999999999999999999"] {
            assert_eq!(n(none), None, "{none}");
        }
    }

    #[test]
    fn a_crash_loop_ends_once_the_replica_served_long_enough_after_its_last_kill() {
        // Once is not a loop; twice is, while it does not serve.
        assert!(!looping(false, 1, Some(1), Some(1)));
        assert!(looping(false, 2, Some(50), Some(40)));
        // Serving between two kills a minute apart: still a loop for ten
        // minutes after the last.
        assert!(looping(true, 3, Some(11), Some(9)));
        assert!(!looping(true, 3, Some(12), Some(10)));
        // A slow loop (20 minutes between kills) is still one after 39.
        assert!(looping(true, 2, Some(59), Some(39)));
        assert!(!looping(true, 2, Some(60), Some(40)));
        // The mean gap: three kills over 20 minutes are 10 apart.
        assert!(looping(true, 3, Some(39), Some(19)));
        assert!(!looping(true, 3, Some(40), Some(20)));
        // When the kills are not known, the count alone.
        assert!(looping(true, 2, None, None));
        assert!(!looping(true, 2, None, Some(10)));
    }

    #[test]
    fn a_cluster_argument_is_a_name_as_typed_else_trimmed_then_an_id() {
        use super::{ClusterId, Snapshot};
        use crate::strategy::testutil::cluster;
        let mut snap = Snapshot::default();
        for (name, id) in [("a", "u1"), (" spaced ", "u2"), ("u1", "u3")] {
            let mut c = cluster(name, vec![]);
            c.id = ClusterId(id.into());
            snap.clusters.push(c);
        }
        let found = |arg: &str| snap.find_cluster(arg).map(|c| c.id.0.clone());
        assert_eq!(found("a").as_deref(), Some("u1"));
        assert_eq!(found(" a ").as_deref(), Some("u1"));
        assert_eq!(found(" spaced ").as_deref(), Some("u2"));
        assert_eq!(found("spaced"), None);
        assert_eq!(found("u1").as_deref(), Some("u3"), "a name wins over an id");
        assert_eq!(found(" u2").as_deref(), Some("u2"));
        assert_eq!(found("u9"), None);
        // A cluster named ' u9' (u11) beside the one whose id is u9: a
        // near miss of its name is no cluster, not u9 (`strategy rm 'u9 '`
        // removed u9's rows: an outside check); exact texts still are.
        let mut blanked = cluster(" u9", vec![]);
        blanked.id = ClusterId("u11".into());
        let mut nine = cluster("batch", vec![]);
        nine.id = ClusterId("u9".into());
        snap.clusters.extend([blanked, nine]);
        let found = |arg: &str| snap.find_cluster(arg).map(|c| c.id.0.clone());
        assert_eq!(found("u9 "), None);
        assert_eq!(found(" u9 "), None);
        assert_eq!(found(" u9").as_deref(), Some("u11"));
        assert_eq!(found("u9").as_deref(), Some("u9"));
        // A name the trimmed text is wins: ' a ' is a.
        assert_eq!(found(" a ").as_deref(), Some("u1"));
    }

    #[test]
    fn one_of_any_integer_type_is_singular() {
        assert_eq!(super::plural(1usize), "");
        assert_eq!(super::plural(1u64), "");
        assert_eq!(super::plural(1i64), "");
        assert_eq!(super::plural(0u32), "s");
        assert_eq!(super::plural(2usize), "s");
        assert_eq!(super::plural(-1i64), "s");
    }

    #[test]
    fn an_unreadable_config_is_shown_with_its_reason() {
        use super::StrategyRow;
        let config = serde_json::json!({"k": 1});
        assert_eq!(StrategyRow::config_text(&config, None), r#"{"k":1}"#);
        assert_eq!(
            StrategyRow::config_text(
                &serde_json::Value::Null,
                Some("key 'k': number out of range")
            ),
            "(cannot be read: key 'k': number out of range)"
        );
    }

    #[test]
    fn human_durations() {
        use super::human_duration as h;
        assert_eq!(h(45), "45s");
        assert_eq!(h(720), "12m");
        assert_eq!(h(725), "12m05s");
        assert_eq!(h(7249), "2h00m");
        assert_eq!(h(7260), "2h01m");
        assert_eq!(h(86400 * 3 + 3600 * 4 + 5), "3d04h");
    }

    #[test]
    fn compacting_json_keeps_every_value_and_the_key_order() {
        let text = r#"{"z":1,"a":{"y":[1,{"b":null,"a":"x"}],"x":true},"m":[],"e":{}}"#;
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let c = super::compact_json(v.clone());
        assert_eq!(c, v);
        assert_eq!(c.to_string(), text);
    }
}

#[cfg(test)]
mod size_catalog_tests {
    use super::*;

    /// Invisible characters that change how a line is drawn are shown
    /// escaped, as control characters are: U+202E drew a plan line's size
    /// backwards (an outside check); plain text and other scripts are kept.
    #[test]
    fn bidirectional_and_zero_width_characters_are_shown_escaped() {
        assert_eq!(printable("r_\u{202e}cc0046"), "r_\\u{202e}cc0046");
        assert_eq!(printable("a\u{200b}b\u{2066}c"), "a\\u{200b}b\\u{2066}c");
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable("ümlaut 日本 עברית"), "ümlaut 日本 עברית");
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_size_not_offered_says_why() {
        let cloud = || SizeCatalog::cloud_defaults();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let flag = SizeCatalog::listed(&names(&["25cc", "100cc"]), Some(cloud()));
        assert_eq!(
            flag.why_not_offered(&Size::from("50cc")),
            "is not in --replica-sizes"
        );
        let made_up = SizeCatalog::listed(&names(&["tiny"]), Some(cloud()));
        assert_eq!(
            made_up.why_not_offered(&Size::from("50cc")),
            "is not in --replica-sizes"
        );
        let allowed = cloud().restrict_to(&names(&["25cc"]));
        assert!(allowed
            .why_not_offered(&Size::from("50cc"))
            .contains("allowed_cluster_replica_sizes"));
        assert_eq!(
            cloud().why_not_offered(&Size::from("xlarge")),
            "is not offered"
        );
    }

    #[test]
    fn listed_sizes_the_catalog_prices_keep_their_credits_and_order() {
        let catalog = SizeCatalog::cloud_defaults();
        let listed = SizeCatalog::listed(&names(&["100cc", "25cc"]), Some(catalog.clone()));
        assert!(listed.credits_known());
        assert_eq!(listed.names(), "25cc, 100cc", "the catalog's order");
        assert_eq!(listed.credits(&Size("100cc".into())), 1.0);
        // Left out: never offered, priced all the same, and not the
        // region's refusal.
        let other = Size("800cc".into());
        assert!(!listed.contains(&other) && !listed.is_refused(&other));
        assert_eq!(listed.credits(&other), 8.0);
        // A name the catalog does not have: by name only, as given.
        for (list, catalog) in [
            (&["25cc", "1"][..], Some(catalog.clone())),
            (&["100cc", "25cc"][..], None),
            (&[][..], Some(catalog.clone())),
        ] {
            let by_name = SizeCatalog::listed(&names(list), catalog);
            assert!(!by_name.credits_known(), "{list:?}");
            assert_eq!(by_name, SizeCatalog::from_names(&names(list)));
        }
        // The region's allowed sizes then narrow the listed ones.
        let allowed = listed.restrict_to(&names(&["25cc"]));
        assert_eq!(allowed.names(), "25cc");
        assert!(allowed.is_refused(&Size("100cc".into())));
        assert_eq!(allowed.credits(&other), 8.0);
    }
}

#[cfg(test)]
mod role_id_tests {
    use super::*;

    #[test]
    fn a_suggested_path_is_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_path("plan.json"), "plan.json");
        assert_eq!(shell_path("/tmp/a-b/plan_1.json"), "/tmp/a-b/plan_1.json");
        assert_eq!(shell_path("my plans/plan.json"), "'my plans/plan.json'");
        assert_eq!(shell_path("it's.json"), "'it'\\''s.json'");
        assert_eq!(shell_path("$HOME/p"), "'$HOME/p'");
        assert_eq!(shell_path(""), "''");
        // An argument: the same quoting, and none that a line break survives.
        assert_eq!(shell_arg("plain1").as_deref(), Some("plain1"));
        assert_eq!(shell_arg("a b").as_deref(), Some("'a b'"));
        assert_eq!(shell_arg("it's").as_deref(), Some("'it'\\''s'"));
        assert_eq!(shell_arg("a/b").as_deref(), Some("'a/b'"));
        assert_eq!(shell_arg("").as_deref(), Some("''"));
        assert_eq!(shell_arg("a\nb"), None);
        // Nor a dash: the command would read `-dash` as options.
        assert_eq!(shell_arg("-dash"), None);
        assert_eq!(shell_arg("- x"), None);
        assert_eq!(shell_arg("a-b").as_deref(), Some("a-b"));
    }

    #[test]
    fn role_ids_round_trip_and_refuse_other_text() {
        for id in ["u1", "s2", "g1", "u4294967295"] {
            let parsed = RoleId::parse(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(parsed.to_string(), id);
            let json = serde_json::to_string(&parsed).unwrap_or_default();
            assert_eq!(json, format!("\"{id}\""));
            assert_eq!(serde_json::from_str::<RoleId>(&json).ok(), Some(parsed));
        }
        for bad in ["", "u", "1", "ux", "u-1", "u4294967296"] {
            assert_eq!(RoleId::parse(bad), None, "{bad}");
        }
        assert_ne!(RoleId::parse("u1"), RoleId::parse("s1"));
    }
}

// The learned demand profile of a cluster (`strategy::predict::profile`
// learns it; its data lives here, beside the `DemandLog` it is learned
// from, so a snapshot can carry it once learned).

/// A window recurs on a weekday when it occurred on more than this share of
/// that weekday's days (shrunk towards all days' share, see
/// [`Window::share`]: 3 of 4 weeks — a holiday — still recur; every other
/// week does not).
pub const RECURS: f64 = 0.5;
/// Weight of the pooled share in a weekday's share, in days.
pub const PRIOR_DAYS: f64 = 2.0;

/// Low, typical and high values of a quantity over a window's days, in
/// seconds from the midnight of the occurrence's day (may be negative or
/// beyond a day for windows that cross midnight).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The smallest value within the lower fence (Q1 − 1.5 IQR).
    pub low: i64,
    pub median: i64,
    /// The largest value within the upper fence (Q3 + 1.5 IQR).
    pub high: i64,
}

/// A recurring window of demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// When its sessions start.
    pub onset: Spread,
    /// When its sessions end (the last statement).
    pub end: Spread,
    /// How long its sessions last, from the first statement to the last
    /// (per day): once users came, the session is expected to run at least
    /// the shortest (fenced) of these.
    pub duration: Spread,
    /// Days it occurred on, by weekday (Monday first).
    pub occurred: [u16; 7],
    /// Days it occurred on.
    pub days: u16,
    /// Statements per second while it runs, on a slow day (the tenth
    /// percentile of its days).
    pub rate: f64,
    /// Each day it occurred on, earliest onset first: what the prewarm is
    /// aimed from (see `forecast::prepare`).
    #[serde(skip)]
    pub samples: Vec<DaySample>,
}

/// One day's occurrence of a window, as the history saw it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DaySample {
    /// Monday = 0.
    pub weekday: u8,
    /// Its onset, seconds from the day's midnight.
    pub onset: i64,
    /// Statements per second while it ran.
    pub rate: f64,
    /// Statements it had.
    pub statements: f64,
    /// Its week of the history (0: the first seven days).
    pub week: u8,
}

impl DaySample {
    /// Its weekday as an index (Monday = 0, at most 6).
    pub fn day(&self) -> usize {
        usize::from(self.weekday).min(6)
    }
}

/// What the history says about a cluster's demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// The first day with data (a UTC midnight) and the end of the history.
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Days of history, by weekday (Monday first).
    pub observed: [u16; 7],
    /// Days of the history on which the cluster had statements.
    pub days_with_statements: u16,
    /// Windows seen on at least two days, earliest onset first.
    pub windows: Vec<Window>,
}

impl Profile {
    /// Whole days of history.
    pub fn days(&self) -> i64 {
        (self.until - self.from).num_days().max(0)
    }

    /// Weeks of history, for explanations (`4 weeks`, `9 days`).
    pub fn span(&self) -> String {
        let d = self.days();
        match d {
            d if d >= 14 && d % 7 == 0 => format!("{} weeks", d / 7),
            1 => "1 day".into(),
            d => format!("{d} days"),
        }
    }
}

impl Window {
    /// The share of all days on which the window occurred.
    pub fn pooled_share(&self, observed: &[u16; 7]) -> f64 {
        let all: u16 = observed.iter().sum();
        (f64::from(self.days) / f64::from(all.max(1))).min(1.0)
    }

    /// The share of `weekday`'s days (Monday = 0) on which the window
    /// occurred, shrunk towards its share of all days as if [`PRIOR_DAYS`]
    /// more of that weekday had followed the pooled share: four samples
    /// alone make a daily batch that skipped one Saturday look like a
    /// weekday pattern.
    pub fn share(&self, weekday: usize, observed: &[u16; 7]) -> f64 {
        let pooled = self.pooled_share(observed);
        let k = PRIOR_DAYS;
        ((f64::from(self.occurred[weekday]) + k * pooled) / (f64::from(observed[weekday]) + k))
            .min(1.0)
    }

    /// Whether the window is expected on a day of this weekday: it
    /// occurred on more than half of them (shrunk as in [`Window::share`])
    /// and on two days at least.
    pub fn expected_on(&self, weekday: usize, observed: &[u16; 7]) -> bool {
        self.days >= 2 && self.share(weekday, observed) > RECURS
    }

    /// The past days of weekdays it is expected on: the days a preparation
    /// for it is judged by.
    pub fn expected_samples<'a>(
        &'a self,
        observed: &'a [u16; 7],
    ) -> impl Iterator<Item = &'a DaySample> + 'a {
        self.samples
            .iter()
            .filter(move |s| self.expected_on(s.day(), observed))
    }

    /// Statements per second on the slowest day of this weekday seen (at
    /// most eight: the history is at most 56 days): weekend days of an
    /// office window are far slower than its weekdays, and a silence means
    /// the session is over sooner on a busy day. The window's
    /// [`Window::rate`] when no day of this weekday was seen.
    pub fn rate_on(&self, weekday: usize) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.day() == weekday)
            .map(|s| s.rate)
            .min_by(f64::total_cmp)
            .unwrap_or(self.rate)
    }
}

#[cfg(test)]
mod command_arg_tests {
    use super::*;

    #[test]
    fn a_name_a_shell_would_split_or_break_is_suggested_by_its_id() {
        let id = ClusterId("u7".into());
        for plain in ["analytics", "bi_2", "etl-nightly", "v1.2"] {
            assert_eq!(command_arg(plain, &id), plain);
        }
        for odd in [
            "",
            "two words",
            "team\nx",
            "it's",
            "a;rm",
            "ünï",
            "-dash",
            "--x",
        ] {
            assert_eq!(command_arg(odd, &id), "u7", "{odd:?}");
        }
    }
}
