//! One controller acts at a time. Materialize has no advisory locks and no
//! read-write transactions, so the lease is a row taken by one conditional
//! UPDATE: it succeeds only when the lease has expired or is already ours,
//! and was not taken since the contender read it (a take that reaches the
//! server late changes nothing: [`take`]). Writes to a table are
//! serialized (Materialize) or row-locked and re-checked (PostgreSQL), so
//! two contenders never both see "1 row".
//!
//! Expiry is judged by the **database's** clock: every statement computes
//! `now()` on the server, so a controller whose clock is off by minutes or
//! days can neither steal a live lease nor block the others for longer than
//! the TTL. While a run acts, a [`Heartbeat`] renews the lease on its own
//! connection every quarter of the TTL, independent of what the run is
//! doing (a graceful resize may block for ten minutes); the run asks it,
//! before and during every DDL, whether the lease is still provably ours.
//!
//! A holder that provably died on this host may be taken over at once: the
//! holder text records the host, the PID, the PID namespace and the
//! process's start time, so a PID reused by another process, a zombie, or a
//! process in another container with the same host name are told apart.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_postgres::types::Type;

use super::store::{execute_text, missing_or, Attempt, Store, LEASE};
use super::{Client, Db, DbError};
use crate::process::Identity;

/// The lease every writing command shares.
pub const NAME: &str = "controller";

/// How the default lease behaves: a crashed holder on another host (every
/// CronJob pod has a new host name) blocks the others for at most a minute.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Who we are, as written into the lease row:
/// `host:pid:run:pid-namespace:start-time` (the last two empty where
/// /proc does not tell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder(pub String);

impl Holder {
    pub fn me(run_id: &uuid::Uuid) -> Holder {
        let me = Identity::current();
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        Holder(format!(
            "{}:{}:{run_id}:{}:{}",
            me.host,
            me.pid,
            opt(me.pid_ns),
            opt(me.start)
        ))
    }
}

/// Parses `host:pid:run:ns:start`; holders written by older versions
/// (`host:pid:run`) have no namespace or start time.
fn parse_holder(holder: &str) -> Option<Identity> {
    let parts: Vec<&str> = holder.rsplitn(5, ':').collect();
    let [start, ns, _run, pid, host] = parts.as_slice() else {
        return None;
    };
    Some(Identity {
        host: host.to_string(),
        pid: pid.parse().ok()?,
        pid_ns: ns.parse().ok(),
        start: start.parse().ok(),
    })
}

/// Why the holder is provably dead on this host, or `None` when it may be
/// alive: what lets a run here take its lease over at once, and what
/// `doctor` tells.
pub fn holder_is_dead(holder: &str) -> Option<&'static str> {
    parse_holder(holder)?.dead_here()
}

/// Why `holder` may be taken over at once: it provably died on this host,
/// or it is an earlier run of this very process (runs of one process
/// follow each other, so that run is over; its release failed, e.g. its
/// connection was cut or its session cluster lost its replica mid-run).
/// `None` when it may be acting.
fn holder_is_over(holder: &str, me: &Holder) -> Option<&'static str> {
    if let Some(why) = holder_is_dead(holder) {
        return Some(why);
    }
    let them = parse_holder(holder)?;
    let known = them.pid_ns.is_some() && them.start.is_some();
    (holder != me.0 && known && them == Identity::current())
        .then_some("an earlier run of this process, whose release failed")
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Acquired {
    /// Ours for `ttl` from when we asked.
    Yes,
    /// Someone else's.
    HeldBy {
        holder: String,
        /// `None`: held until broken ([`Row::until`]).
        until: Option<DateTime<Utc>>,
    },
}

/// Whether a row of the lease table (`a`: its alias and a dot, or empty)
/// is held, by the database's clock: the one rule [`take`] acts on and
/// [`read_row`] shows (both columns are NOT NULL). Held when it names a
/// holder and its time is not up: an expiry of `infinity` (a person's
/// hand) holds it until it is broken. The display read that expiry, no
/// time chrono holds, as the epoch, and said the lease was free while no
/// run could take it (`unlock --force` then broke nothing).
fn held_sql(a: &str) -> String {
    format!("({a}holder <> '' AND NOT {a}expires_at < now())")
}

/// When a held row's time is up, as messages say it: the time, or for an
/// expiry that is no time (`infinity`) that it lasts until broken.
pub fn until_text(until: Option<DateTime<Utc>>) -> String {
    match until {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => "it is broken (its expiry is infinity)".into(),
    }
}

/// `ttl` as an interval literal both Materialize and PostgreSQL parse.
fn interval(ttl: Duration) -> String {
    format!("{} milliseconds", ttl.as_millis())
}

/// Takes the lease if it is free or expired by the database's clock (or
/// already ours), or if its holder is over ([`holder_is_over`]). The row is
/// read first: the take compares the time of its last take with the one
/// read ([`take`]), so this attempt's take, if the server runs it late
/// (after a later attempt took the lease, or the run gave it back),
/// changes nothing.
pub async fn acquire(
    c: &Client,
    store: &Store,
    me: &Holder,
    ttl: Duration,
    attempt: Duration,
) -> Result<Acquired, DbError> {
    let try_take = async |seen: &Row| {
        take(c, store, NAME, &me.0, ttl, seen, attempt)
            .await
            .map_err(|e| missing_or(&e, store, LEASE, "taking the lease"))
    };
    // A row taken or given back between our read and our take is read
    // again (a few times: contenders may keep winning it).
    let mut attempts = 0;
    let seen = loop {
        attempts += 1;
        let seen = match read(c, store).await? {
            Some(seen) => seen,
            // The row is gone: put it back (free) and take it.
            None => {
                seed_missing(c, store).await?;
                current(c, store).await?
            }
        };
        if seen.held_by_another(me) {
            break seen;
        }
        if try_take(&seen).await? > 0 {
            return Ok(Acquired::Yes);
        }
        if attempts == 3 {
            break current(c, store).await?;
        }
    };
    let taken = take_over(c, store, NAME, &seen, me, ttl, attempt)
        .await
        .map_err(|e| missing_or(&e, store, LEASE, "taking over the lease"))?;
    let Row { holder, until, .. } = seen;
    match taken {
        TakeOver::Taken(why) => {
            tracing::warn!("took over the lease of {holder}: {why}");
            Ok(Acquired::Yes)
        }
        TakeOver::Lost => {
            let Row { holder, until, .. } = current(c, store).await?;
            Ok(Acquired::HeldBy { holder, until })
        }
        TakeOver::MayBeActing => Ok(Acquired::HeldBy { holder, until }),
    }
}

/// What [`take_over`] did.
pub(crate) enum TakeOver {
    /// The holder is over (why) and the row is ours now.
    Taken(&'static str),
    /// The holder is over, but another contender took the row first.
    Lost,
    /// The holder may be acting: the row is left to it.
    MayBeActing,
}

/// Takes row `name` from `seen`, the row just read, when its holder is
/// over ([`holder_is_over`]): the controller's lease and the migration lock
/// alike. A compare-and-set on the holder, so two contenders cannot both
/// win; by the time of the read plus `attempt`, as [`take`].
pub(crate) async fn take_over(
    c: &Client,
    store: &Store,
    name: &str,
    seen: &Row,
    me: &Holder,
    ttl: Duration,
    attempt: Duration,
) -> Result<TakeOver, tokio_postgres::Error> {
    let Some(why) = holder_is_over(&seen.holder, me) else {
        return Ok(TakeOver::MayBeActing);
    };
    let sql = format!(
        "UPDATE {} SET holder = $1, expires_at = now() + $2::text::interval, acquired_at = now() \
         WHERE name = $3 AND holder = $4 AND {in_time}",
        store.table(LEASE),
        in_time = in_time_sql("$5"),
    );
    let (ttl_text, name) = (interval(ttl), name.to_string());
    let by = seen.answer_by(attempt);
    let n = execute_text(c, &sql, &[&me.0, &ttl_text, &name, &seen.holder, &by]).await?;
    Ok(match n > 0 {
        true => TakeOver::Taken(why),
        false => TakeOver::Lost,
    })
}

/// Puts the lease row back (a clean-up or a partial restore deleted it;
/// migration 2 seeded it once), free, saying so (unless a concurrent run
/// put it back first).
async fn seed_missing(c: &Client, store: &Store) -> Result<(), DbError> {
    let n = seed(c, store, NAME)
        .await
        .map_err(|e| missing_or(&e, store, LEASE, "seeding the lease"))?;
    if n > 0 {
        tracing::warn!(
            "the lease row was missing from {}: put it back (free)",
            store.table(LEASE)
        );
    }
    Ok(())
}

/// The one rule of every row of the lease table (the controller's lease
/// and the migration lock alike): `holder` takes row `name` for `ttl` when
/// it is free or expired by the **database's** clock, or already its own,
/// and was not taken since the caller read it: `taken` is the time of the
/// name's last take as read ([`Row::taken`]). A compare-and-set: at most
/// one contender sees a row changed. `now()` is the server's, so a host
/// whose clock is off neither steals a live row nor waits for a dead one
/// longer than its TTL.
///
/// The read before it is what makes a late take harmless: an attempt given
/// up (its deadline passed; the cancel request sent as its connection was
/// dropped reached the server first, and found nothing to cancel) may
/// still reach the server after a later attempt
/// took the row, or after the run gave it back; it then finds a later take
/// than the one it was sent against and changes nothing. Taking the row
/// without it held it again for a run that was over, and the others waited
/// for its TTL. A take that arrives when nothing took the row since (the
/// run was killed while the take was on its way, or gave up) is refused
/// by the server's clock: its attempt (`attempt` long) began before the
/// read, so it was over by the read's `now()` plus `attempt`
/// ([`Row::answer_by`]); a take that arrives later runs for nobody.
///
/// Free and held are [`held_sql`]'s, as every read shows them.
///
/// A name with several rows (racing seeds leave two, kept in step by every
/// UPDATE of the name; a person may add one out of step) is taken only when
/// none of them is held by another: taking an expired copy while another
/// holder's copy is live let two controllers act at once. Materialize runs
/// the UPDATE as one read-then-write under the table's write lock (§8.3),
/// the subqueries included.
pub(crate) async fn take(
    c: &Client,
    store: &Store,
    name: &str,
    holder: &str,
    ttl: Duration,
    seen: &Row,
    attempt: Duration,
) -> Result<u64, tokio_postgres::Error> {
    let sql = format!(
        "UPDATE {t} SET holder = $1, expires_at = now() + $2::text::interval, acquired_at = now() \
         WHERE name = $3 AND (NOT {held} OR holder = $1) \
         AND NOT EXISTS (SELECT 1 FROM {t} AS other WHERE other.name = $3 \
           AND other.holder <> $1 AND {other_held}) \
         AND {last_taken} = $4 AND {in_time}",
        t = store.table(LEASE),
        held = held_sql(""),
        other_held = held_sql("other."),
        last_taken = last_taken_sql(store, "$3"),
        in_time = in_time_sql("$5"),
    );
    let (holder, ttl_text, name) = (holder.to_string(), interval(ttl), name.to_string());
    let by = seen.answer_by(attempt);
    execute_text(c, &sql, &[&holder, &ttl_text, &name, &seen.taken, &by]).await
}

/// A write's guard against arriving after its attempt was over: the
/// server's `now()` before `by` (a parameter, [`answer_by`]).
pub(crate) fn in_time_sql(by: &str) -> String {
    format!("now() < {by}::text::timestamptz")
}

/// When a write sent after a read of the server's `now()` (`read`), in an
/// attempt `attempt` long, was over: the attempt began before the read, so
/// by `read` plus `attempt` (durations are within a year), as the server's
/// text. A write that arrives later (a silent network held it past its
/// attempt: the run was killed, or the command retried or stopped) runs for
/// nobody, and [`in_time_sql`] refuses it.
pub(crate) fn answer_by(read: DateTime<Utc>, attempt: Duration) -> String {
    chrono::Duration::from_std(attempt)
        .ok()
        .and_then(|a| read.checked_add_signed(a))
        .unwrap_or(read)
        .to_rfc3339()
}

/// The time of the last take of the rows named by `name` (a parameter), as
/// the server renders it (empty when never taken): what [`read_row`] reads
/// and [`take`] compares, one expression so both render it alike.
fn last_taken_sql(store: &Store, name: &str) -> String {
    format!(
        "(SELECT coalesce(max(last.acquired_at)::text, '') FROM {} AS last WHERE last.name = {name})",
        store.table(LEASE)
    )
}

/// Frees row `name` if `holder` still has it (a release that finds it
/// taken by another changes nothing).
pub(crate) async fn give_back(
    c: &Client,
    store: &Store,
    name: &str,
    holder: &str,
) -> Result<u64, tokio_postgres::Error> {
    let sql = format!(
        "UPDATE {} SET holder = '', expires_at = TIMESTAMPTZ '1970-01-01 00:00:00+00' \
         WHERE name = $1 AND holder = $2",
        store.table(LEASE)
    );
    execute_text(c, &sql, &[&name.to_string(), &holder.to_string()]).await
}

/// Row `name` of the lease table as the database sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Empty when free.
    pub holder: String,
    /// `None`: an expiry that is no time chrono holds (`infinity`, a year
    /// past 262143): held until broken.
    pub until: Option<DateTime<Utc>>,
    /// The database's `now()` when it was read.
    pub db_now: DateTime<Utc>,
    /// Held, by the database's clock ([`held_sql`], the rule of [`take`]).
    pub held: bool,
    /// When the name was last taken, as the server renders it (empty when
    /// never): a take sent against it changes nothing once the row was
    /// taken again ([`take`]).
    pub taken: String,
}

impl Row {
    /// A free row (as seeded).
    pub fn free() -> Row {
        Row {
            holder: String::new(),
            until: Some(DateTime::<Utc>::UNIX_EPOCH),
            db_now: DateTime::<Utc>::UNIX_EPOCH,
            held: false,
            taken: String::new(),
        }
    }

    /// Nobody holds it, as [`take`] judges it.
    pub fn is_free(&self) -> bool {
        !self.held
    }

    /// When a take sent against this read, in an attempt `attempt` long,
    /// was over: [`answer_by`] of the read's `now()`.
    pub fn answer_by(&self, attempt: Duration) -> String {
        answer_by(self.db_now, attempt)
    }

    /// Held by another than `me`: not ours to take (only to take over, if
    /// its holder is over).
    pub fn held_by_another(&self, me: &Holder) -> bool {
        self.held && self.holder != me.0
    }

    /// How long it stays held by the database's clock (zero when free,
    /// the longest there is when held until broken).
    pub fn held_for(&self) -> Duration {
        match (self.held, self.until) {
            (false, _) => Duration::ZERO,
            (true, Some(until)) => (until - self.db_now).to_std().unwrap_or_default(),
            (true, None) => Duration::MAX,
        }
    }
}

/// Row `name` of the lease table (`None`: the row is missing). Racing
/// seeds may leave two rows of a name (a person may add one): a held one
/// counts ([`take`] takes none while one is held), then the later expiry.
pub(crate) async fn read_row(
    c: &Client,
    store: &Store,
    name: &str,
) -> Result<Option<Row>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT holder, expires_at, {held}, now(), {last_taken} FROM {t} WHERE name = $1 \
         ORDER BY {held} DESC, expires_at DESC LIMIT 1",
        t = store.table(LEASE),
        held = held_sql(""),
        last_taken = last_taken_sql(store, "$1"),
    );
    let name = name.to_string();
    let rows = c.query_typed(&sql, &[(&name, Type::TEXT)]).await?;
    Ok(rows.first().map(|row| Row {
        holder: row.try_get(0).unwrap_or_default(),
        // `infinity` is no time chrono holds: an error, read as none.
        until: row.try_get::<_, Option<DateTime<Utc>>>(1).ok().flatten(),
        held: row.try_get(2).unwrap_or(false),
        db_now: row.try_get(3).unwrap_or_default(),
        taken: row.try_get(4).unwrap_or_default(),
    }))
}

/// Inserts the row `name` of the lease table, free, unless there is one:
/// the controller's lease and the migration lock alike. Idempotent;
/// racing seeds may leave two rows, which every UPDATE of the name
/// addresses at once.
pub(crate) async fn seed(
    c: &Client,
    store: &Store,
    name: &str,
) -> Result<u64, tokio_postgres::Error> {
    let sql = format!(
        "INSERT INTO {t} (name, holder, expires_at) \
         SELECT $1::text, '', TIMESTAMPTZ '1970-01-01 00:00:00+00' \
         WHERE NOT EXISTS (SELECT 1 FROM {t} AS l WHERE l.name = $1::text)",
        t = store.table(LEASE)
    );
    execute_text(c, &sql, &[&name.to_string()]).await
}

/// Whether the lease is still ours by the database (held by `me`, not
/// expired by its clock).
pub async fn holds(c: &Client, store: &Store, me: &Holder) -> Result<bool, DbError> {
    let sql = format!(
        "SELECT count(*) FROM {} WHERE name = $1 AND holder = $2 AND expires_at > now()",
        store.table(LEASE)
    );
    let name = NAME.to_string();
    let rows = c
        .query_typed(&sql, &[(&name, Type::TEXT), (&me.0, Type::TEXT)])
        .await
        .map_err(|e| missing_or(&e, store, LEASE, "checking the lease"))?;
    let n: i64 = rows.first().and_then(|r| r.try_get(0).ok()).unwrap_or(0);
    Ok(n > 0)
}

/// Why the lease is not `me`'s, found so by a renewal or a check
/// ([`holds`]): its row now says (one statement, read only then).
pub async fn why_lost(c: &Client, store: &Store, me: &Holder) -> String {
    match current(c, store).await.map(|r| r.holder) {
        Ok(h) if h == me.0 => "it expired by the database's clock before a renewal reached it (or that clock stepped forward)".into(),
        Ok(h) if !h.is_empty() => format!(
            "another controller ({}) holds it now",
            crate::model::printable(&h)
        ),
        Ok(_) => "it was released or broken (`unlock --force`)".into(),
        Err(_) => NOT_OURS.into(),
    }
}

/// Why the lease is lost when its row cannot say ([`why_lost`]).
const NOT_OURS: &str = "it is no longer ours by the database";

/// The lease's row now (`None`: it is missing).
async fn read(c: &Client, store: &Store) -> Result<Option<Row>, DbError> {
    read_row(c, store, NAME)
        .await
        .map_err(|e| missing_or(&e, store, LEASE, "reading the lease"))
}

/// The lease's row now: who holds it, until when, whether it is held.
pub async fn current(c: &Client, store: &Store) -> Result<Row, DbError> {
    read(c, store).await?.ok_or_else(|| DbError::Query {
        context: "reading the lease".into(),
        reason: format!("no lease row in {}", store.table(LEASE)),
        transient: false,
    })
}

/// Extends our lease by `ttl` from the database's now; `false` when it is
/// no longer ours (released, broken by `unlock --force`, or taken after it
/// expired) or has expired: a renewal that reaches the server late (a
/// silent network held it) extends nothing once the lease is over, or it
/// held the lease again for a run that may be gone (killed meanwhile).
pub async fn renew(c: &Client, store: &Store, me: &Holder, ttl: Duration) -> Result<bool, DbError> {
    let sql = format!(
        "UPDATE {} SET expires_at = now() + $1::text::interval WHERE name = $2 AND holder = $3 \
         AND {held}",
        store.table(LEASE),
        held = held_sql(""),
    );
    let (name, ttl_text) = (NAME.to_string(), interval(ttl));
    let n = execute_text(c, &sql, &[&ttl_text, &name, &me.0])
        .await
        .map_err(|e| missing_or(&e, store, LEASE, "renewing the lease"))?;
    Ok(n > 0)
}

/// Gives the lease back (only if it is still ours).
pub async fn release(c: &Client, store: &Store, me: &Holder) -> Result<(), DbError> {
    give_back(c, store, NAME, &me.0)
        .await
        .map_err(|e| missing_or(&e, store, LEASE, "releasing the lease"))?;
    Ok(())
}

/// What [`force_release`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Broken {
    /// The lease was free: nothing to break.
    Free,
    /// This holder's lease was broken.
    Broke(Row),
    /// This holder's lease, read held, was given back or taken by another
    /// run before the break reached it: nothing was broken.
    Ended(Row),
}

/// Breaks the lease, whoever holds it (`unlock --force`). Only the lease
/// it read is broken: the break compares the time of the name's last take
/// with the one read, as [`take`] does, and lands only within its attempt
/// (`attempt` from its read's `now()`, as a take's: no round trip more).
/// So a break that reaches the server late (the command retried,
/// failed or was stopped meanwhile), or a retry after a break whose answer
/// was lost, never breaks a lease a run took since: that run may be
/// acting. Every row of the name is broken (one a person added out of
/// step too).
///
/// `sent` keeps the lease a break was sent against across attempts: a
/// retry breaks only that one, and when it finds it gone (the break was
/// applied, its answer lost; or it ended by itself meanwhile) the break
/// is still that one's.
pub async fn force_release(
    c: &Client,
    store: &Store,
    sent: &mut Option<Row>,
    attempt: Duration,
) -> Result<Broken, DbError> {
    let failed = |e: tokio_postgres::Error| missing_or(&e, store, LEASE, "breaking the lease");
    let Some(read) = read_row(c, store, NAME).await.map_err(failed)? else {
        // No row of the name: no lease, and none to break since.
        return Ok(match sent.clone() {
            Some(target) => Broken::Broke(target),
            None => Broken::Free,
        });
    };
    let earlier = sent.is_some();
    let target = match (sent.clone(), read.is_free()) {
        (Some(target), _) => target,
        (None, false) => read.clone(),
        (None, true) => return Ok(Broken::Free),
    };
    let a = Attempt {
        retry: earlier,
        by: Some(read.answer_by(attempt)),
    };
    let mut params = vec![NAME.to_string(), target.taken.clone()];
    let sql = format!(
        "UPDATE {} SET holder = '', expires_at = TIMESTAMPTZ '1970-01-01 00:00:00+00' \
         WHERE name = $1 AND {} = $2 AND {}",
        store.table(LEASE),
        last_taken_sql(store, "$1"),
        a.in_time(&mut params)
    );
    *sent = Some(target.clone());
    let n = execute_text(c, &sql, &params).await.map_err(failed)?;
    Ok(match n > 0 || earlier {
        true => Broken::Broke(target),
        false => Broken::Ended(target),
    })
}

/// What the heartbeat knows about our lease.
#[derive(Debug, Clone)]
struct State {
    /// A lower bound of the lease's end in local monotonic time: the
    /// renewal was sent at `t`, so the server's `now()` was later and its
    /// `expires_at` is at least `t + ttl`.
    valid_until: Instant,
    /// Why the lease is no longer ours.
    lost: Option<String>,
}

/// Renews the lease every quarter of the TTL on a connection of its own,
/// for as long as it lives (it stops when dropped). A renewal that fails is
/// retried on a fresh connection while the lease still runs; when the
/// lease could expire before a renewal succeeds, or a renewal finds it
/// taken, the lease counts as lost and stays so.
pub struct Heartbeat {
    state: watch::Receiver<State>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
    ttl: Duration,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Heartbeat {
    /// Starts renewing a lease taken at `taken` (when the acquiring
    /// statement was sent).
    pub fn start(
        db: Db,
        store: Store,
        me: Holder,
        ttl: Duration,
        statement_timeout: Duration,
        taken: Instant,
    ) -> Heartbeat {
        let (tx, rx) = watch::channel(State {
            valid_until: taken + ttl,
            lost: None,
        });
        let wake = Arc::new(Notify::new());
        let beat = Beat {
            db,
            store,
            me,
            ttl,
            statement_timeout,
            tx,
            wake: wake.clone(),
            client: None,
        };
        Heartbeat {
            state: rx,
            wake,
            task: tokio::spawn(beat.run()),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How long before the lease's end we stop trusting it: enough for a
    /// cancel request to reach the server.
    pub fn margin(&self) -> Duration {
        margin(self.ttl)
    }

    /// Why the lease is lost, if it is.
    pub fn lost(&self) -> Option<String> {
        let s = self.state.borrow();
        if let Some(why) = &s.lost {
            return Some(why.clone());
        }
        (Instant::now() + self.margin() >= s.valid_until)
            .then(|| "it could not be renewed before it would expire".to_string())
    }

    /// How long the lease is ours for certain (less the margin).
    pub fn remaining(&self) -> Duration {
        let until = self.state.borrow().valid_until;
        until.saturating_duration_since(Instant::now() + self.margin())
    }

    /// Waits until the lease is ours for longer than `need` (asking the
    /// heartbeat to renew at once if it is not); an error when it is lost.
    pub async fn ensure(&mut self, need: Duration) -> Result<(), String> {
        loop {
            if let Some(why) = self.lost() {
                return Err(why);
            }
            if self.remaining() > need {
                return Ok(());
            }
            self.wake.notify_one();
            let until = self.state.borrow().valid_until;
            let expiry = until.checked_sub(self.margin()).unwrap_or(until);
            tokio::select! {
                changed = self.state.changed() => {
                    if changed.is_err() {
                        return Err("the heartbeat stopped".into());
                    }
                }
                _ = tokio::time::sleep_until(expiry) => {}
            }
        }
    }

    /// Completes when the lease is lost or could expire before the next
    /// renewal lands: a DDL still running then is cancelled.
    pub async fn expired(&self) -> String {
        let mut state = self.state.clone();
        loop {
            if let Some(why) = self.lost() {
                return why;
            }
            let until = state.borrow().valid_until;
            let expiry = until.checked_sub(self.margin()).unwrap_or(until);
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() {
                        // No more renewals: the lease ends at `until`.
                        tokio::time::sleep_until(expiry).await;
                        return "the heartbeat stopped".into();
                    }
                }
                _ = tokio::time::sleep_until(expiry) => {}
            }
        }
    }
}

fn margin(ttl: Duration) -> Duration {
    (ttl / 10).min(Duration::from_secs(2))
}

/// The heartbeat task.
struct Beat {
    db: Db,
    store: Store,
    me: Holder,
    ttl: Duration,
    statement_timeout: Duration,
    tx: watch::Sender<State>,
    wake: Arc<Notify>,
    client: Option<Client>,
}

impl Beat {
    async fn run(mut self) {
        let period = self.ttl / 4;
        let mut next = Instant::now() + period;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.wake.notified() => {}
            }
            let valid_until = self.tx.borrow().valid_until;
            let budget = valid_until.saturating_duration_since(Instant::now() + margin(self.ttl));
            if budget.is_zero() {
                self.lose("it could not be renewed before it would expire".into());
                return;
            }
            let sent = Instant::now();
            match self.renew_once(budget.min(self.statement_timeout)).await {
                Ok(true) => {
                    self.tx.send_modify(|s| s.valid_until = sent + self.ttl);
                    next = sent + period;
                }
                Ok(false) => {
                    let why = match &self.client {
                        Some(c) => why_lost(c, &self.store, &self.me).await,
                        None => NOT_OURS.into(),
                    };
                    self.lose(why);
                    return;
                }
                Err(e) if !e.transient() => {
                    self.lose(format!("renewing it failed: {e}"));
                    return;
                }
                Err(e) => {
                    tracing::warn!(
                        "{}; trying again on a fresh connection",
                        super::live::in_context("renewing the lease", &e)
                    );
                    if let Some(c) = self.client.take() {
                        self.db.abandon(c);
                    }
                    let left = valid_until.saturating_duration_since(Instant::now());
                    next = Instant::now()
                        + (left / 8).clamp(Duration::from_millis(100), Duration::from_secs(1));
                }
            }
        }
    }

    async fn renew_once(&mut self, deadline: Duration) -> Result<bool, DbError> {
        let timed_out = || DbError::Timeout {
            context: "renewing the lease".into(),
            after: deadline,
        };
        let work = async {
            if self.client.is_none() {
                self.client = Some(self.db.client().await?);
            }
            match &self.client {
                Some(c) => renew(c, &self.store, &self.me, self.ttl).await,
                None => Err(timed_out()),
            }
        };
        tokio::time::timeout(deadline, work)
            .await
            .unwrap_or_else(|_| Err(timed_out()))
    }

    fn lose(&mut self, why: String) {
        tracing::error!("the lease was lost: {why}");
        self.tx.send_modify(|s| s.lost = Some(why));
        if let Some(c) = self.client.take() {
            super::discard(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_is_answered_by_the_read_plus_its_attempt_by_the_servers_clock() {
        let read = Row {
            db_now: "2026-12-05T16:00:00.250Z".parse().unwrap(),
            ..Row::free()
        };
        let by = read.answer_by(Duration::from_secs(30));
        assert_eq!(by, "2026-12-05T16:00:30.250+00:00");
        assert_eq!(
            read.answer_by(Duration::from_secs(366 * 24 * 3600)),
            "2027-12-06T16:00:00.250+00:00"
        );
    }

    #[test]
    fn holder_text_round_trips_and_old_holders_have_no_identity() {
        let me = Holder::me(&uuid::Uuid::nil());
        let id = parse_holder(&me.0).expect("parses");
        assert_eq!(id, Identity::current());
        let old = parse_holder("other-host:4242:run-x");
        assert!(old.is_none(), "{old:?}");
        assert_eq!(holder_is_dead("other-host:4242:run-x"), None);
    }

    #[test]
    fn an_earlier_run_of_this_process_is_over_and_no_one_else_is() {
        let me = Holder::me(&uuid::Uuid::new_v4());
        let earlier = Holder::me(&uuid::Uuid::new_v4());
        assert_eq!(
            holder_is_over(&earlier.0, &me),
            Some("an earlier run of this process, whose release failed")
        );
        // This run itself is not "over" (the UPDATE takes its own lease).
        assert_eq!(holder_is_over(&me.0, &me), None);
        // Old holders, and ours without the namespace or start time, prove
        // nothing.
        let id = Identity::current();
        assert_eq!(holder_is_over("other-host:4242:run-x", &me), None);
        let bare = format!("{}:{}:run::", id.host, id.pid);
        assert_eq!(holder_is_over(&bare, &me), None);
        let other_host = earlier.0.replacen(&id.host, "other-host", 1);
        assert_eq!(holder_is_over(&other_host, &me), None);
        // The same host name and PID in another container.
        let (ns, start) = (id.pid_ns.unwrap_or_default(), id.start.unwrap_or_default());
        let other_ns = format!("{}:{}:run:{}:{start}", id.host, id.pid, ns + 1);
        assert_eq!(holder_is_over(&other_ns, &me), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not_the_holder() {
        let me = Identity::current();
        assert!(me.pid_ns.is_some() && me.start.is_some(), "{me:?}");
        let holder = Holder::me(&uuid::Uuid::new_v4()).0;
        assert_eq!(holder_is_dead(&holder), None, "we are alive");
        let start = me.start.unwrap_or_default();
        let reused = holder.replace(&format!(":{start}"), &format!(":{}", start + 1));
        assert_eq!(
            holder_is_dead(&reused),
            Some("its PID now belongs to another process")
        );
        let other_ns = format!(
            "{}:{}:run:{}:{}",
            me.host,
            me.pid + 1_000_000,
            me.pid_ns.unwrap_or_default() + 1,
            start
        );
        assert_eq!(holder_is_dead(&other_ns), None, "another PID namespace");
        let gone = format!(
            "{}:{}:run:{}:{}",
            me.host,
            4_000_000,
            me.pid_ns.unwrap_or_default(),
            start
        );
        assert_eq!(holder_is_dead(&gone), Some("that process no longer exists"));
    }
}
