//! The config keys of every strategy, in one table: the parsers read their
//! keys through these constants, `check` and the planner name unknown keys
//! from it, and the command line generates one `strategy set` flag per key
//! from it. A unit test pins the table to what the parsers actually read.
//! It also holds the one reading of a duration text (`30s`, `5m`): every
//! duration flag reads with it, and a row's seconds written as text are
//! refused naming the number it reads.

use std::time::Duration;

use super::StrategyKind;
use crate::model::SizeCatalog;

/// What a key holds, which decides how a command-line flag is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A replica size offered by the environment.
    Size,
    /// A replica name.
    Name,
    /// A duration in whole seconds (flags also take `30m`, `2h`).
    Seconds,
    /// A whole number.
    Count,
    Bool,
    /// A positive number of credits per hour.
    Credits,
    /// A number within 0..=1.
    Fraction,
    /// A share of the statements within 0.5..=1: a target (below half is
    /// none).
    Share,
    /// Free text (an IANA time zone).
    Text,
    /// A JSON value (schedule windows).
    Json,
}

/// A fraction's bounds and how an error says them ([`KeyKind::bounds`]).
pub const FRACTION: (f64, f64, &str) = (0.0, 1.0, "a number within 0..=1");

impl KeyKind {
    /// The numbers a fractional kind takes, and how an error says them:
    /// one rule for a row's value and a flag's.
    pub fn bounds(self) -> Option<(f64, f64, &'static str)> {
        match self {
            KeyKind::Fraction => Some(FRACTION),
            KeyKind::Share => Some((0.5, 1.0, "a share within 0.5..=1 (e.g. 0.995)")),
            _ => None,
        }
    }
}

/// One config key.
#[derive(Debug, PartialEq, Eq)]
pub struct Key {
    /// The key in the JSON config (`idle_after_s`).
    pub name: &'static str,
    pub kind: KeyKind,
    /// One line for `--help`.
    pub help: &'static str,
}

impl Key {
    /// The command-line flag, without dashes: `idle-after-s`.
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }
}

macro_rules! key {
    ($id:ident, $name:literal, $kind:ident, $help:literal) => {
        pub const $id: Key = Key {
            name: $name,
            kind: KeyKind::$kind,
            help: $help,
        };
    };
}

key!(TARGET_SIZE, "target_size", Size, "the size to keep");
key!(
    REPLICA_NAME,
    "replica_name",
    Name,
    "the replica's name (default r_<size>)"
);
key!(
    ALLOW_DOWNTIME,
    "allow_downtime",
    Bool,
    "managed clusters on releases without graceful resize: resize with a restart (downtime) (default false)"
);
key!(
    MAX_REPLICA_SIZE,
    "max_replica_size",
    Size,
    "the largest size to try"
);
key!(
    MIN_OOM_COUNT,
    "min_oom_count",
    Count,
    "OOMs before a size is given up (default 1)"
);
key!(
    MIN_CRASH_COUNT,
    "min_crash_count",
    Count,
    "crashes other than OOM kills before a size is given up (default 1)"
);
key!(
    REFIT_AFTER_S,
    "refit_after_s",
    Seconds,
    "after this long, sizes found too small are tried again beside the one serving, as workloads shrink (default never)"
);
key!(
    BURST_REPLICA_SIZE,
    "burst_replica_size",
    Size,
    "the size of the burst replica"
);
key!(
    LINGER_S,
    "linger_s",
    Seconds,
    "keep the burst replica this long after another one hydrated (default 0)"
);
key!(
    MAX_BURST_S,
    "max_burst_s",
    Seconds,
    "give up a burst that lasts longer than this (at least 60 s; default never)"
);
key!(
    IDLE_AFTER_S,
    "idle_after_s",
    Seconds,
    "suspend after this long without a statement"
);
key!(
    SUSPEND_WHEN_UNKNOWN,
    "suspend_when_unknown",
    Bool,
    "suspend even when the statement log has no data (default false)"
);
key!(
    PREDICT,
    "predict",
    Bool,
    "learn the cluster's demand from its statement history and wake it before users arrive (default false)"
);
key!(
    HISTORY_DAYS,
    "history_days",
    Count,
    "with predict: days of statement history to learn from (1..=56, default 28)"
);
key!(
    PREWARM_MARGIN_S,
    "prewarm_margin_s",
    Seconds,
    "with predict: extra lead before predicted demand; misses widen it (default 60)"
);
key!(
    PREWARM_LATENESS,
    "prewarm_lateness",
    Fraction,
    "with predict: fix the wake between the earliest (0) and the median (1) onset of past days, every expected day, instead of prewarm_target"
);
key!(
    PREWARM_TARGET,
    "prewarm_target",
    Share,
    "with predict: share of the statements to find the cluster hydrated; the wake comes as late, and sparse days (weekends) wake on demand, as far as past days say this holds (0.5..=1, default 0.995)"
);
key!(
    COOLDOWN_S,
    "cooldown_s",
    Seconds,
    "minimum time between two changes (default 0)"
);
key!(
    MAX_REPLICAS,
    "max_replicas",
    Count,
    "at most this many replicas"
);
key!(
    MAX_CREDITS_PER_HOUR,
    "max_credits_per_hour",
    Credits,
    "at most this many credits per hour across the cluster's replicas"
);
key!(
    SCALE_DOWN_AFTER_S,
    "scale_down_after_s",
    Seconds,
    "drop a live replica only once wanted gone this long (default 300)"
);
key!(
    SCALE_UP_AFTER_S,
    "scale_up_after_s",
    Seconds,
    "create a replica only once wanted this long (default 0)"
);
key!(
    TIMEZONE,
    "timezone",
    Text,
    "IANA time zone of the windows (Europe/Berlin)"
);
key!(
    PREWARM_S,
    "prewarm_s",
    Seconds,
    "start replicas this long before a window (default 0)"
);
key!(
    WINDOWS,
    "windows",
    Json,
    "JSON array of windows: [{\"cron\": …, \"duration_s\": …, \"size\": …, \"replicas\": 1}]"
);
key!(
    DEFAULT,
    "default",
    Json,
    "JSON object: replicas outside every window ({\"size\": …, \"replicas\": 0})"
);

/// The longest duration any key accepts: a year. Longer values are typos
/// (or units mistaken), and they overflow the interval arithmetic of the
/// signal queries.
pub const MAX_SECONDS: u64 = 366 * 24 * 3600;

impl StrategyKind {
    /// The keys this strategy's config may have.
    pub fn keys(self) -> &'static [&'static Key] {
        match self {
            StrategyKind::TargetSize => &[&TARGET_SIZE, &REPLICA_NAME, &ALLOW_DOWNTIME],
            StrategyKind::Schedule => &[&TIMEZONE, &PREWARM_S, &WINDOWS, &DEFAULT, &ALLOW_DOWNTIME],
            StrategyKind::ShrinkToFit => &[
                &MAX_REPLICA_SIZE,
                &COOLDOWN_S,
                &MIN_OOM_COUNT,
                &MIN_CRASH_COUNT,
                &REFIT_AFTER_S,
            ],
            StrategyKind::Burst => &[&BURST_REPLICA_SIZE, &COOLDOWN_S, &LINGER_S, &MAX_BURST_S],
            StrategyKind::IdleSuspend => &[
                &IDLE_AFTER_S,
                &COOLDOWN_S,
                &SUSPEND_WHEN_UNKNOWN,
                &PREDICT,
                &HISTORY_DAYS,
                &PREWARM_MARGIN_S,
                &PREWARM_LATENESS,
                &PREWARM_TARGET,
            ],
            StrategyKind::Limits => &[&MAX_REPLICAS, &MAX_CREDITS_PER_HOUR],
            StrategyKind::Stabilization => &[&SCALE_DOWN_AFTER_S, &SCALE_UP_AFTER_S],
        }
    }

    pub fn key_names(self) -> Vec<&'static str> {
        self.keys().iter().map(|k| k.name).collect()
    }
}

/// A valid value of `kind`'s key `name` that says nothing (the first size
/// offered, an hour, UTC), to read a row's other keys when this required
/// one is wrong; `None` for a key no stand-in fits (a list of windows).
pub fn stand_in(kind: StrategyKind, name: &str, sizes: &SizeCatalog) -> Option<serde_json::Value> {
    let key = kind.keys().iter().find(|k| k.name == name)?;
    Some(match key.kind {
        KeyKind::Size => serde_json::json!(sizes.all().first()?.name.0),
        KeyKind::Name => serde_json::json!("r1"),
        KeyKind::Seconds => serde_json::json!(3600),
        KeyKind::Count => serde_json::json!(1),
        KeyKind::Bool => serde_json::json!(false),
        KeyKind::Credits => serde_json::json!(1.0),
        KeyKind::Fraction | KeyKind::Share => serde_json::json!(0.9),
        KeyKind::Text => serde_json::json!("UTC"),
        KeyKind::Json => return None,
    })
}

/// A valid value for a required key inside a list's element (a
/// schedule's window), so a row's other wrong keys can be read.
pub fn nested_stand_in(name: &str, sizes: &SizeCatalog) -> Option<serde_json::Value> {
    Some(match name {
        "cron" => serde_json::json!("0 0 0 * * *"),
        "duration_s" => serde_json::json!(3600),
        "size" => serde_json::json!(sizes.all().first()?.name.0),
        // 0: with 1 a window without a size would be told its size is
        // required, which only holds for the count it will be given.
        "replicas" => serde_json::json!(0),
        _ => return None,
    })
}

/// Every key of every strategy once, in table order, with the strategies
/// that read it (for `strategy set`'s flags).
pub fn all_keys() -> Vec<(&'static Key, Vec<StrategyKind>)> {
    let mut out: Vec<(&'static Key, Vec<StrategyKind>)> = Vec::new();
    for kind in StrategyKind::ALL {
        for key in kind.keys() {
            match out.iter_mut().find(|(k, _)| k.name == key.name) {
                Some((_, kinds)) => kinds.push(kind),
                None => out.push((key, vec![kind])),
            }
        }
    }
    out
}

/// The closest candidate to a misspelt word, if one is close enough. Case
/// does not count: `TARGET_SIZE` is one slip (caps lock) from
/// `target_size`, not eleven.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&word, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// " (did you mean 'x'?)" when a candidate is close, else nothing; every
/// candidate the word is but for case when there are several (`BATCH`
/// beside `batch` and `Batch` offered only the first: an outside check),
/// each as it prints (a tab shown, not typed raw).
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    let lower = word.to_lowercase();
    let same: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| c.to_lowercase() == lower)
        .collect();
    let offered = match (same.len(), suggest(word, candidates)) {
        (2.., _) => same,
        (_, Some(s)) => vec![s],
        (_, None) => return String::new(),
    };
    let quoted: Vec<String> = offered
        .iter()
        .map(|c| format!("'{}'", crate::model::printable(c)))
        .collect();
    format!(" (did you mean {}?)", quoted.join(" or "))
}

/// A duration of any length, as a flag or a hint writes it (`30s`, `5m`,
/// `1h30m`, plain seconds), or why `s` is none. The one reading of a
/// duration text: every duration flag, and the hint of a row that wrote its
/// seconds as text.
pub fn read_duration(s: &str) -> Result<Duration, String> {
    if s.starts_with('-') {
        return Err(format!(
            "'{s}': a duration cannot be negative (e.g. 30s, 5m or 1h)"
        ));
    }
    if s.split(|c: char| c.is_ascii_digit() || c.is_whitespace() || c == '.')
        .any(|unit| unit == "M")
    {
        // humantime's month is a minute's capital: `--interval 5M` was
        // five months (within a year, so taken), where minutes were meant.
        return Err(format!(
            "'{s}': M is a month in this notation, m a minute: write {} for minutes, or \
             months in full (2months)",
            s.replace('M', "m")
        ));
    }
    duration_syntax(s).map_err(|e| {
        if matches!(e, humantime::DurationError::NumberOverflow) {
            // Whole seconds already (a plain number), or with a unit.
            return match s.parse::<f64>().is_ok() {
                true => format!("'{s}' is too large a number of seconds"),
                false => format!("'{s}' is too large a duration"),
            };
        }
        if s.parse::<f64>().is_ok_and(f64::is_finite) {
            // humantime said "unknown unit ''" of a plain `1800.5`.
            return format!(
                "'{s}' is not a duration: a plain number is whole seconds (1800); with a unit \
                 it may be a fraction (1.5h)"
            );
        }
        format!(
            "'{s}' is not a duration like 30s, 5m or 1h ({})",
            syntax_error(&e)
        )
    })
}

/// The units a duration is written in, as its messages list them.
const DURATION_UNITS: &str = "ms, s, m, h, d, w";

/// Why `humantime` read no duration, in our words: its own message for
/// an unknown unit lists every unit it knows, months and years included,
/// though a flag takes a year at most.
fn syntax_error(e: &humantime::DurationError) -> String {
    match e {
        humantime::DurationError::UnknownUnit { unit, .. } => {
            format!("unknown unit '{unit}'; the units are {DURATION_UNITS}")
        }
        other => format!("{other}; the units are {DURATION_UNITS}"),
    }
}

/// `30s`, `5m`, `1h30m`, or plain seconds, of any length. Whole seconds
/// past what a number holds overflow, as a number with a unit does.
pub fn duration_syntax(s: &str) -> Result<Duration, humantime::DurationError> {
    match s.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            Err(humantime::DurationError::NumberOverflow)
        }
        Err(_) => humantime::parse_duration(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_once_with_its_strategies() {
        let all = all_keys();
        let cooldown = all.iter().find(|(k, _)| k.name == "cooldown_s").unwrap();
        assert_eq!(
            cooldown.1,
            [
                StrategyKind::ShrinkToFit,
                StrategyKind::Burst,
                StrategyKind::IdleSuspend
            ]
        );
        let mut names: Vec<&str> = all.iter().map(|(k, _)| k.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(IDLE_AFTER_S.flag(), "idle-after-s");
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(
            suggest("idle_after", &StrategyKind::IdleSuspend.key_names()),
            Some("idle_after_s")
        );
        assert_eq!(suggest("autoscale", &["target_size", "burst"]), None);
        // Whatever the case, on either side.
        let types = ["target_size", "idle_suspend", "pause"];
        assert_eq!(suggest("TARGET_SIZE", &types), Some("target_size"));
        assert_eq!(suggest("Idle_Suspnd", &types), Some("idle_suspend"));
        assert_eq!(suggest("analytics", &["Analytics"]), Some("Analytics"));
    }

    #[test]
    fn did_you_mean_offers_every_name_that_differs_in_case_alone() {
        assert_eq!(
            did_you_mean("BATCH", &["batch", "etl", "Batch"]),
            " (did you mean 'batch' or 'Batch'?)"
        );
        assert_eq!(
            did_you_mean("BATCH", &["batch", "etl"]),
            " (did you mean 'batch'?)"
        );
        assert_eq!(
            did_you_mean("etx", &["batch", "etl"]),
            " (did you mean 'etl'?)"
        );
        assert_eq!(did_you_mean("zzzzzz", &["batch"]), "");
        let hint = did_you_mean("a\tb", &["a\tb"]);
        assert!(!hint.contains('\t'), "{hint:?}");
    }
}
