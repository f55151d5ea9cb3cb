//! The prewarm decision: given the profile, the clock, the latest statement
//! and the lead (learned hydration + one interval + the adapted margin),
//! where the cluster stands with respect to its predicted demand.
//!
//! Each window is first *prepared for* ([`prepare`]): the onset the wake
//! aims at and the weekdays left to wake on demand. By default
//! (`prewarm_target` 0.995) that is as late, and on as few days, as still
//! finds the cluster hydrated for 99.5 % of the window's statements when
//! the past days are replayed: a busy window whose start wanders is aimed a
//! little after its earliest onset, and weekend days with a handful of
//! statements wake on demand instead of being held warm for hours.
//!
//! For each window expected on a day not left on demand, an occurrence:
//! - `wake` = aimed onset − lead: the replica is started then, so it is
//!   hydrated when the users of that window arrive (with `prewarm_target`
//!   1, or `prewarm_lateness` 0, when the earliest ever arrived);
//! - from `wake` to `hold_until` (the latest onset + lead) the cluster is
//!   kept warm while nobody came; once users came, until the earlier of
//!   `hold_until` and the earliest the session can end by its history
//!   ([`Occurrence::ends_no_earlier`]: its first statement + the shortest
//!   past session, and not before the window's earliest end). A session
//!   that began early and is over is not held to the latest onset, and a
//!   lone early query holds the cluster as long as past days' sessions,
//!   which counted such queries, lasted;
//! - after that, if users came (a statement since `wake`), it is *started*:
//!   it stays while the silence is shorter than `idle_after_s` until the
//!   earliest the session can end, then shorter than [`SESSION_OVER`] mean
//!   gaps at the slow-day rate of that weekday (a session that is over is
//!   detected in minutes, not half an hour), until `idle_after_s` past the
//!   window's latest end: later statements (a weekend day left on demand)
//!   are not that session's;
//! - if nobody came, it was *missed* (a holiday, a cancelled batch): the
//!   cluster may suspend at once; a late arrival wakes it as usual.
//!
//! Between the instants where a phase or threshold changes
//! ([`Forecast::next_change`]) the decision with frozen inputs only moves
//! one way (a silence only grows), which is what lets the simulator skip
//! rounds and `apply --watch` sleep until the next change.

use std::cell::RefCell;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::profile::{midnight, weekday, DaySample, Profile, Window};
use crate::model::human_duration;

/// Not suspending when the next wake is closer than this, or than the
/// lead ([`Forecast::too_close_to_suspend`]).
pub const MIN_GAP_S: i64 = 300;
/// After a window's earliest end, a silence this many mean gaps long (at
/// its slow-day rate) ends the session: at a Poisson rate the chance of
/// such a gap within a session is e^-8 (0.03 %) per gap.
pub const SESSION_OVER: f64 = 8.0;
/// ... but never shorter than this.
pub const MIN_SILENCE_S: f64 = 120.0;

/// One predicted occurrence of a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Occurrence {
    /// Position in the profile's windows.
    pub window: usize,
    /// The midnight of its day.
    pub day: DateTime<Utc>,
    pub onset_low: DateTime<Utc>,
    pub onset_median: DateTime<Utc>,
    pub onset_high: DateTime<Utc>,
    /// No past day's session of the window ended earlier.
    pub end_low: DateTime<Utc>,
    pub end_high: DateTime<Utc>,
    /// The shortest (fenced) past session, seconds.
    pub shortest_s: i64,
    /// Its session's first statement as seen (the earliest latest-statement
    /// seen since `wake`); `None` while nobody came.
    pub began: Option<DateTime<Utc>>,
    /// The onset it is prepared for (see [`prepare`]): hydrated by then.
    pub aimed: DateTime<Utc>,
    /// `aimed` − the lead.
    pub wake: DateTime<Utc>,
    pub hold_until: DateTime<Utc>,
    /// Slow-day statements per second.
    pub rate: f64,
}

/// Where the cluster stands with respect to the latest occurrence whose
/// wake has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before `hold_until`, nobody came yet.
    Prewarm,
    /// Users came since `wake`.
    Started,
    /// `hold_until` passed and nobody came.
    Missed,
    /// No occurrence near (or the last one's window is over).
    Outside,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub lead_s: i64,
    /// How each of the profile's windows is prepared for, in its order.
    pub preparations: Vec<Preparation>,
    /// The occurrence whose wake passed last, and its phase.
    pub current: Option<(Occurrence, Phase)>,
    /// An occurrence being held warm (wake passed, hold not over).
    pub holding: Option<Occurrence>,
    /// The next occurrence to wake for.
    pub next: Option<Occurrence>,
    /// The one after it (what is next once `next` is being held warm for:
    /// woken earlier than its wake now says).
    pub then: Option<Occurrence>,
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

/// `Mon 08:55`, UTC.
pub fn clock(t: DateTime<Utc>) -> String {
    t.format("%a %H:%M").to_string()
}

/// `08:55`, UTC.
pub fn hm(t: DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// `t` said beside `by`, a time said with its day (`Mon 09:20`): `08:55`
/// on the same day, `Sun 23:50` on another (a wake a `--interval 1d`
/// ahead, an onset before midnight), so no reader takes it for the
/// wrong day.
pub fn beside(t: DateTime<Utc>, by: DateTime<Utc>) -> String {
    match t.date_naive() == by.date_naive() {
        true => hm(t),
        false => clock(t),
    }
}

impl Occurrence {
    /// The earliest its session can end by the window's history: the
    /// session's first statement + the shortest past session, and not
    /// before the window's earliest end. Before anyone came: not before the
    /// latest onset either (the crowd may still be to come).
    pub fn ends_no_earlier(&self) -> DateTime<Utc> {
        match self.began {
            Some(b) => self.end_low.max(b + secs(self.shortest_s)),
            None => self.end_low.max(self.onset_high),
        }
    }

    /// Until when it holds the cluster once users came: the earlier of
    /// `hold_until` and [`Occurrence::ends_no_earlier`].
    pub fn started_until(&self) -> DateTime<Utc> {
        self.hold_until.min(self.ends_no_earlier())
    }

    /// Until when it holds the cluster warm: `hold_until` while nobody
    /// came, then [`Occurrence::started_until`].
    pub fn held_until(&self) -> DateTime<Utc> {
        if self.began.is_some() {
            self.started_until()
        } else {
            self.hold_until
        }
    }

    /// The occurrence of window `i` on `day`, prepared for the onset
    /// `ready` (seconds from the day's midnight, see [`prepare`]).
    fn of(i: usize, w: &Window, day: DateTime<Utc>, lead_s: i64, ready: i64) -> Occurrence {
        let onset_low = day + secs(w.onset.low);
        let onset_high = day + secs(w.onset.high);
        let aimed = day + secs(ready);
        Occurrence {
            window: i,
            day,
            onset_low,
            onset_median: day + secs(w.onset.median),
            onset_high,
            end_low: day + secs(w.end.low),
            end_high: (day + secs(w.end.high)).max(onset_high),
            shortest_s: w.duration.low.max(0),
            began: None,
            aimed,
            wake: aimed - secs(lead_s),
            hold_until: onset_high + secs(lead_s),
            rate: w.rate_on(weekday(day)),
        }
    }

    /// `Mon 09:20±25m (earliest 08:55)`, or `Mon 08:55±4m` when the median
    /// is within a minute of the spread's middle.
    pub fn describe(&self) -> String {
        let below = (self.onset_median - self.onset_low).num_seconds().max(0);
        let above = (self.onset_high - self.onset_median).num_seconds().max(0);
        let pm = below.max(above) as u64;
        let pm = if pm < 60 {
            String::new()
        } else {
            format!("±{}", human_duration(pm / 60 * 60))
        };
        if below + 60 >= above && above + 60 >= below {
            format!("{}{pm}", clock(self.onset_median))
        } else {
            format!(
                "{}{pm} (earliest {})",
                clock(self.onset_median),
                beside(self.onset_low, self.onset_median)
            )
        }
    }
}

/// How a wake is aimed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aim {
    /// `prewarm_lateness`: every expected day is prepared for an onset
    /// between the earliest (0) and the median (1) of past days.
    Lateness(f64),
    /// `prewarm_target`: as late, and on as few days, as still serves this
    /// share of the window's statements warm when replayed over past days.
    Target(f64),
}

/// How a window is prepared for: the onset aimed at (seconds from its
/// day's midnight) and the weekdays left to wake on demand.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Preparation {
    pub ready: i64,
    pub on_demand: [bool; 7],
    /// The share of the past days' statements this preparation serves warm
    /// when they are replayed (`None`: no statements to replay).
    pub warm: Option<f64>,
}

/// How a wake is timed: its lead, and when the replay of past days counts
/// the cluster hydrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Seconds a wake comes before the onset it is aimed at.
    pub lead_s: i64,
    /// A prepared day: seconds before the aimed onset its replica is
    /// expected hydrated (the part of the lead beyond the hydration that is
    /// not spent waiting for a run).
    pub early_s: i64,
    /// A day woken on demand: seconds after its onset its replica is
    /// expected hydrated (a run sees the users, then the hydration).
    pub cold_s: i64,
}

impl Timing {
    /// Hydrated exactly at the aimed onset, and a cold start as long as the
    /// lead: the most a wake can take (the replay's timing before
    /// `Lead::timing`, kept for tests written against it).
    #[cfg(test)]
    pub(crate) fn exact(lead_s: i64) -> Timing {
        let lead_s = lead_s.max(0);
        Timing {
            lead_s,
            early_s: 0,
            cold_s: lead_s,
        }
    }
}

/// The statements a day of `s` loses when the cluster is prepared for the
/// onset `ready` (hydrated `t.early_s` before it) or, woken on demand, a
/// cold start `t.cold_s` after its onset.
fn lost(s: &DaySample, ready: Option<i64>, t: Timing) -> f64 {
    let late = match ready {
        Some(r) => (r - t.early_s - s.onset).clamp(0, t.cold_s),
        None => t.cold_s,
    };
    (s.rate * late as f64).min(s.statements)
}

/// The statements `days` lose when the cluster is hydrated at `ready` on
/// each of them, but woken on demand on the weekdays of `on_demand`; and
/// their statements.
fn replay<'a>(
    days: impl IntoIterator<Item = &'a DaySample>,
    ready: i64,
    on_demand: &[bool; 7],
    t: Timing,
) -> (f64, f64) {
    days.into_iter().fold((0.0, 0.0), |(l, n), s| {
        let prepared = !on_demand[s.day()];
        (l + lost(s, prepared.then_some(ready), t), n + s.statements)
    })
}

/// The share of the statements of `days` served warm under [`replay`]
/// (`None`: no statements).
fn warm_share(days: &[&DaySample], ready: i64, on_demand: &[bool; 7], t: Timing) -> Option<f64> {
    let (lost, statements) = replay(days.iter().copied(), ready, on_demand, t);
    (statements > 0.0).then(|| 1.0 - lost / statements)
}

/// What to expect on days not seen yet: the share of the window's
/// statements served warm when each week of its history is replayed under
/// the preparation chosen from the other weeks alone (their own onsets,
/// fenced), the weeks pooled. `None` with fewer than two weeks of samples,
/// with a fixed `prewarm_lateness`, or without statements.
pub fn held_out(w: &Window, observed: &[u16; 7], t: Timing, aim: Aim) -> Option<f64> {
    if matches!(aim, Aim::Lateness(_)) {
        return None;
    }
    let mut weeks: Vec<u8> = w.samples.iter().map(|s| s.week).collect();
    weeks.sort_unstable();
    weeks.dedup();
    if weeks.len() < 2 {
        return None;
    }
    let (mut lost, mut statements) = (0.0, 0.0);
    for k in weeks {
        let mut others = w.clone();
        others.samples.retain(|s| s.week != k);
        others.onset = super::profile::spread(others.samples.iter().map(|s| s.onset).collect());
        let prep = prepare(&others, observed, t, aim);
        let this_week = w.expected_samples(observed).filter(|s| s.week == k);
        let (l, n) = replay(this_week, prep.ready, &prep.on_demand, t);
        lost += l;
        statements += n;
    }
    (statements > 0.0).then(|| 1.0 - lost / statements)
}

/// How window `w` is prepared for, given how a wake is timed (`t`: when a
/// prepared day and a day woken on demand are hydrated).
///
/// With [`Aim::Target`] the past days are replayed: for each onset aimed
/// at, from the earliest (fenced) one up to the median, the statements
/// lost (on days that came earlier) and the seconds held warm for nobody
/// (on days that came later); then weekdays whose days lose the fewest
/// statements per second held are left to wake on demand, while what is
/// lost stays within the budget and only where holding them warm costs
/// more than a cold start's time per statement it saves (a weekday as busy
/// as the others is never given up to spend the budget). The cheapest
/// choice wins. Weekends with a
/// handful of statements wake on demand; a busy window whose onset wanders
/// is prepared a little after its earliest onset. Without samples (or
/// statements) it is the earliest onset, every day.
pub fn prepare(w: &Window, observed: &[u16; 7], t: Timing, aim: Aim) -> Preparation {
    let days: Vec<&DaySample> = w.expected_samples(observed).collect();
    // The share served warm is replayed once, for the choice made.
    let chosen = |ready: i64, on_demand: [bool; 7]| Preparation {
        ready,
        on_demand,
        warm: warm_share(&days, ready, &on_demand, t),
    };
    let target = match aim {
        Aim::Lateness(l) => {
            let late = (w.onset.median - w.onset.low).max(0) as f64 * l.clamp(0.0, 1.0);
            return chosen(w.onset.low + late as i64, [false; 7]);
        }
        Aim::Target(t) => t.clamp(0.0, 1.0),
    };
    let statements: f64 = days.iter().map(|s| s.statements).sum();
    if days.is_empty() || statements <= 0.0 {
        return chosen(w.onset.low, [false; 7]);
    }
    let budget = (1.0 - target) * statements;
    let mut best: Option<(f64, i64, [bool; 7])> = None;
    let candidates = std::iter::once(w.onset.low).chain(
        days.iter()
            .map(|s| s.onset)
            .filter(|o| *o > w.onset.low && *o <= w.onset.median),
    );
    for ready in candidates {
        // Per weekday: lost and held warm when prepared, lost on demand.
        let mut prepared_lost = [0.0f64; 7];
        let mut held = [0.0f64; 7];
        let mut demand_lost = [0.0f64; 7];
        for s in &days {
            let d = s.day();
            prepared_lost[d] += lost(s, Some(ready), t);
            held[d] += (s.onset - ready).max(0) as f64;
            demand_lost[d] += lost(s, None, t);
        }
        let mut total_lost: f64 = prepared_lost.iter().sum();
        if total_lost > budget {
            break;
        }
        // Weekdays by seconds held saved per statement lost, best first.
        let mut order: Vec<usize> = (0..7).filter(|d| held[*d] > 0.0).collect();
        let per_lost = |d: usize| held[d] / (demand_lost[d] - prepared_lost[d]).max(1e-9);
        order.sort_by(|a, b| per_lost(*b).total_cmp(&per_lost(*a)));
        let mut on_demand = [false; 7];
        let mut cost: f64 = held.iter().sum();
        for d in order {
            let extra = demand_lost[d] - prepared_lost[d];
            // Only where holding warm costs more than a cold start's time
            // per statement it saves (sparse days), and within the budget.
            if held[d] > t.cold_s as f64 * extra && total_lost + extra <= budget {
                total_lost += extra;
                cost -= held[d];
                on_demand[d] = true;
            }
        }
        if best.is_none_or(|(c, _, _)| cost < c) {
            best = Some((cost, ready, on_demand));
        }
    }
    let (ready, on_demand) = best.map_or((w.onset.low, [false; 7]), |(_, r, o)| (r, o));
    chosen(ready, on_demand)
}

/// The occurrences of the profile's windows on days `[from, to]`, in wake
/// order (a weekday left to wake on demand has none).
fn occurrences(
    p: &Profile,
    prep: &[Preparation],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    lead_s: i64,
) -> Vec<Occurrence> {
    let mut out = Vec::new();
    let mut day = midnight(from);
    while day <= to {
        let wd = weekday(day);
        for ((i, w), pr) in p.windows.iter().enumerate().zip(prep) {
            if w.expected_on(wd, &p.observed) && !pr.on_demand[wd] {
                out.push(Occurrence::of(i, w, day, lead_s, pr.ready));
            }
        }
        day += Duration::days(1);
    }
    out.sort_by_key(|o| o.wake);
    out
}

/// The occurrences from two days before `now` up to the two next wakes
/// after it (`next` and `then`; at most eight days ahead). Most calls find
/// both within two days: only when they do not come before any day further
/// out could start is the full week generated (a forecast is made several
/// times a plan). With one alone, `then` was missing: on a Friday held
/// warm after its lead shrank (its wake now after the clock), `describe`
/// said "no demand predicted within a week" of a Mon–Fri profile (an
/// outside check).
fn upcoming(p: &Profile, prep: &[Preparation], now: DateTime<Utc>, lead_s: i64) -> Vec<Occurrence> {
    let from = now - Duration::days(2);
    let near = now + Duration::days(2);
    let occ = occurrences(p, prep, from, near, lead_s);
    // The earliest wake of any day after the near ones.
    let earliest_offset = prep.iter().map(|pr| pr.ready).min().unwrap_or(0);
    let horizon = midnight(near) + Duration::days(1) + Duration::seconds(earliest_offset - lead_s);
    if occ
        .iter()
        .filter(|o| o.wake > now && o.wake < horizon)
        .count()
        >= 2
    {
        occ
    } else {
        occurrences(p, prep, from, now + Duration::days(8), lead_s)
    }
}

/// The preparations of a profile's windows made during one plan, by timing
/// and aim, and the forecasts made from them: a plan forecasts up to five
/// times with the same inputs, and the profile cannot change while the
/// plan's context borrows it. A clone starts empty (it may be given another
/// profile).
#[derive(Debug, Default)]
pub struct Prepared(
    RefCell<Vec<(Timing, Aim, Vec<Preparation>)>>,
    RefCell<Vec<(Asked, Forecast)>>,
);

/// What a forecast is made from, besides the profile: timing, aim, clock
/// and what was seen of the statements ([`Seen`]).
type Asked = (Timing, Aim, DateTime<Utc>, Seen);

/// What the forecast knows of a cluster's statements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// The latest statement (within the activity lookback).
    pub last_begin: Option<DateTime<Utc>>,
    /// The first statement seen since the wake of the occurrence under way,
    /// as recorded between runs (the latest statement when first seen, so
    /// at most one run late): where its session began.
    pub began: Option<DateTime<Utc>>,
}

impl Seen {
    /// Where the session of an occurrence woken at `wake` began: `None`
    /// while nobody came since the wake; else the first statement recorded
    /// since then or, first seen now, the latest. The one rule for "users
    /// came" (the forecast's phases and a hold started earlier ask it).
    pub fn began_since(&self, wake: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let last = self.last_begin.filter(|b| *b >= wake)?;
        Some(
            self.began
                .filter(|b| *b >= wake && *b <= last)
                .unwrap_or(last),
        )
    }
}

impl Clone for Prepared {
    fn clone(&self) -> Self {
        Prepared::default()
    }
}

impl Prepared {
    /// How `p`'s windows are prepared for with this timing and aim
    /// ([`prepare`]), made once.
    pub fn of(&self, p: &Profile, t: Timing, aim: Aim) -> Vec<Preparation> {
        let mut made = self.0.borrow_mut();
        if let Some((_, _, v)) = made.iter().find(|(l, a, _)| *l == t && *a == aim) {
            return v.clone();
        }
        let v: Vec<Preparation> = p
            .windows
            .iter()
            .map(|w| prepare(w, &p.observed, t, aim))
            .collect();
        made.push((t, aim, v.clone()));
        v
    }

    /// [`forecast_prepared`] with [`Prepared::of`]'s preparations, made
    /// once per timing, aim, clock and statements seen.
    pub fn forecast(
        &self,
        p: &Profile,
        t: Timing,
        aim: Aim,
        now: DateTime<Utc>,
        seen: Seen,
    ) -> Forecast {
        let asked = (t, aim, now, seen);
        if let Some((_, f)) = self.1.borrow().iter().find(|(a, _)| *a == asked) {
            return f.clone();
        }
        let f = forecast_prepared(p, self.of(p, t, aim), now, seen, t.lead_s);
        self.1.borrow_mut().push((asked, f.clone()));
        f
    }
}

/// Where the cluster stands at `now`, its windows prepared for as
/// `preparations` say (for this lead, see [`Prepared`]), with what was
/// seen of its statements.
fn forecast_prepared(
    p: &Profile,
    preparations: Vec<Preparation>,
    now: DateTime<Utc>,
    seen: Seen,
    lead_s: i64,
) -> Forecast {
    let lead_s = lead_s.max(0);
    let occ = upcoming(p, &preparations, now, lead_s);
    let mut current = None;
    let mut holding = None;
    let mut next = None;
    let mut then = None;
    for mut o in occ {
        if o.wake > now {
            if next.is_none() {
                next = Some(o);
            } else if then.is_none() {
                then = Some(o);
            }
            continue;
        }
        o.began = seen.began_since(o.wake);
        let started = o.began.is_some();
        if now < o.held_until() && holding.is_none() {
            holding = Some(o.clone());
        }
        let phase = if now < o.hold_until {
            if started {
                Phase::Started
            } else {
                Phase::Prewarm
            }
        } else if started {
            Phase::Started
        } else if now < o.end_high {
            Phase::Missed
        } else {
            Phase::Outside
        };
        current = Some((o, phase));
    }
    Forecast {
        lead_s,
        preparations,
        current,
        holding,
        next,
        then,
    }
}

impl Forecast {
    /// The occurrence the cluster is kept warm for, if any.
    pub fn keep_warm(&self) -> Option<&Occurrence> {
        self.holding.as_ref()
    }

    /// Whether new statements could change the decision (with the clock
    /// alone they cannot): while warm for an occurrence nobody came to yet,
    /// the first users set when its session can end. Otherwise more
    /// statements only make the cluster busier.
    pub fn activity_sensitive(&self) -> bool {
        matches!(self.current, Some((_, Phase::Prewarm)))
    }

    /// How long a silence suspends the cluster now, and why.
    pub fn threshold(&self, now: DateTime<Utc>, idle_after_s: u64) -> (f64, String) {
        self.threshold_held(now, idle_after_s, None)
    }

    /// [`Forecast::threshold`] once a hold that kept the cluster warm
    /// ended at `held_until` (recorded by an earlier run, with the lead it
    /// had then): a missed occurrence did not come by the later of the
    /// two, when the cluster was kept warm to (the reason said the
    /// occurrence's own end, minutes before the run that suspended it: an
    /// outside check).
    pub fn threshold_held(
        &self,
        now: DateTime<Utc>,
        idle_after_s: u64,
        held_until: Option<DateTime<Utc>>,
    ) -> (f64, String) {
        let classic = idle_after_s as f64;
        match &self.current {
            Some((o, Phase::Started))
                if now >= o.ends_no_earlier() && now < o.end_high + secs(idle_after_s as i64) =>
            {
                let t = if o.rate > 0.0 {
                    (SESSION_OVER / o.rate).clamp(MIN_SILENCE_S, classic.max(MIN_SILENCE_S))
                } else {
                    classic
                }
                .min(classic);
                (
                    t,
                    format!(
                        "after {}, the earliest its session ends by past days, a silence of {} ends it (8 mean gaps at {:.3} q/s)",
                        beside(o.ends_no_earlier(), now),
                        human_duration(t as u64),
                        o.rate
                    ),
                )
            }
            Some((o, Phase::Missed)) => (
                0.0,
                format!(
                    "predicted demand {} did not come by {}",
                    o.describe(),
                    beside(
                        held_until
                            .filter(|t| *t <= now)
                            .map_or(o.hold_until, |t| t.max(o.hold_until)),
                        o.onset_median
                    )
                ),
            ),
            _ => (
                classic,
                format!("threshold {}", human_duration(idle_after_s)),
            ),
        }
    }

    /// Seconds until the next wake when it is too close to suspend an
    /// idle cluster: within the lead (at least [`MIN_GAP_S`]). A
    /// suspension then is made again before it could save what a lead
    /// costs, its hydration thrown away and paid again (a stray early
    /// statement woke it, or an outage ended shortly before the wake: an
    /// outside check).
    pub fn too_close_to_suspend(&self, now: DateTime<Utc>) -> Option<i64> {
        self.next
            .as_ref()
            .map(|o| (o.wake - now).num_seconds())
            .filter(|s| *s < self.churn_gap_s())
    }

    /// How close a wake keeps an idle cluster from being suspended.
    fn churn_gap_s(&self) -> i64 {
        MIN_GAP_S.max(self.lead_s)
    }

    /// The next instant after `now` at which a phase, a threshold or the
    /// wake-gap rule changes (with the inputs held still).
    pub fn next_change(&self, now: DateTime<Utc>, idle_after_s: u64) -> Option<DateTime<Utc>> {
        let mut c: Vec<DateTime<Utc>> = Vec::new();
        if let Some(o) = &self.next {
            c.push(o.wake);
            c.push(o.wake - secs(self.churn_gap_s()));
        }
        if let Some(o) = &self.holding {
            c.push(o.hold_until);
            c.push(o.ends_no_earlier());
        }
        if let Some((o, _)) = &self.current {
            c.extend([
                o.hold_until,
                o.ends_no_earlier(),
                o.end_high,
                o.end_high + secs(idle_after_s as i64),
            ]);
        }
        c.into_iter().filter(|t| *t > now).min()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::strategy::predict::profile::{Spread, Window};

    /// [`Prepared::forecast`] with nothing prepared before.
    fn forecast(
        p: &Profile,
        now: DateTime<Utc>,
        last_begin: Option<DateTime<Utc>>,
        lead_s: i64,
        aim: Aim,
    ) -> Forecast {
        let seen = Seen {
            last_begin,
            began: None,
        };
        Prepared::default().forecast(p, Timing::exact(lead_s), aim, now, seen)
    }

    /// What was seen: the latest statement, and the first recorded since
    /// a wake.
    fn seen(last: &str, began: &str) -> Seen {
        Seen {
            last_begin: Some(t(last)),
            began: Some(t(began)),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A wake a day or more ahead of its onset (`--interval 1d`), or an
    /// onset before midnight, says its day; the same day's does not.
    #[test]
    fn a_time_on_another_day_than_its_onset_says_its_day() {
        let onset = t("2026-02-03T18:24:00Z");
        assert_eq!(beside(t("2026-02-03T18:13:00Z"), onset), "18:13");
        assert_eq!(beside(t("2026-02-01T18:13:00Z"), onset), "Sun 18:13");
        assert_eq!(
            beside(t("2026-02-02T23:50:00Z"), t("2026-02-03T00:10:00Z")),
            "Mon 23:50"
        );
    }

    #[test]
    fn users_came_is_one_rule_for_the_forecast_and_a_hold() {
        let wake = t("2026-02-02T08:30:00Z");
        let none = Seen::default();
        assert_eq!(none.began_since(wake), None);
        // The latest statement is from before the wake: nobody came.
        let before = seen("2026-02-02T08:29:59Z", "2026-02-02T08:00:00Z");
        assert_eq!(before.began_since(wake), None);
        // At the wake itself: came.
        let at = Seen {
            last_begin: Some(wake),
            began: None,
        };
        assert_eq!(at.began_since(wake), Some(wake));
        // A start recorded before the wake (yesterday's) is not this one's.
        let stale = seen("2026-02-02T09:10:00Z", "2026-02-01T09:00:00Z");
        assert_eq!(stale.began_since(wake), Some(t("2026-02-02T09:10:00Z")));
        // A start recorded since the wake is kept as statements go on.
        let kept = seen("2026-02-02T09:10:00Z", "2026-02-02T08:40:00Z");
        assert_eq!(kept.began_since(wake), Some(t("2026-02-02T08:40:00Z")));
        // One after the latest statement cannot be: the latest counts.
        let ahead = seen("2026-02-02T09:10:00Z", "2026-02-02T09:20:00Z");
        assert_eq!(ahead.began_since(wake), Some(t("2026-02-02T09:10:00Z")));

        // A hold started earlier asks the same rule.
        let hold = crate::strategy::predict::Hold {
            wake,
            until: t("2026-02-02T10:00:00Z"),
            started_until: t("2026-02-02T09:30:00Z"),
            why: String::new(),
        };
        for s in [none, before, at, stale, kept, ahead] {
            let came = s.began_since(wake).is_some();
            assert_eq!(hold.started(s), came);
            let until = if came { hold.started_until } else { hold.until };
            assert_eq!(hold.until(s), until);
        }
    }

    fn hhmm(h: i64, m: i64) -> i64 {
        h * 3600 + m * 60
    }

    /// Weekdays 08:55 (earliest) .. 09:45 (latest) onsets, ends 16:40..18:00.
    pub(crate) fn office() -> Profile {
        Profile {
            from: t("2026-01-05T00:00:00Z"),
            until: t("2026-02-02T00:00:00Z"),
            observed: [4; 7],
            days_with_statements: 19,
            windows: vec![Window {
                onset: Spread {
                    low: hhmm(8, 55),
                    median: hhmm(9, 20),
                    high: hhmm(9, 45),
                },
                end: Spread {
                    low: hhmm(16, 40),
                    median: hhmm(17, 20),
                    high: hhmm(18, 0),
                },
                duration: Spread {
                    low: hhmm(7, 30),
                    median: hhmm(8, 0),
                    high: hhmm(8, 40),
                },
                occurred: [4, 4, 4, 3, 4, 0, 0],
                days: 19,
                rate: 0.03,
                samples: Vec::new(),
            }],
        }
    }

    /// On a Friday the occurrence after the day's is Monday's, more than
    /// two days ahead: found (it was missing, and `describe` said "no
    /// demand predicted within a week" while Friday was held warm).
    #[test]
    fn the_occurrence_after_fridays_is_mondays() {
        let p = office();
        let f = forecast(
            &p,
            t("2026-02-06T06:00:00Z"),
            Some(t("2026-02-05T17:00:00Z")),
            14 * 60,
            Aim::Lateness(0.0),
        );
        assert_eq!(
            f.next.as_ref().map(|o| o.wake),
            Some(t("2026-02-06T08:41:00Z"))
        );
        assert_eq!(
            f.then.as_ref().map(|o| o.wake),
            Some(t("2026-02-09T08:41:00Z"))
        );
    }

    #[test]
    fn phases_through_a_day() {
        let p = office();
        let lead = 14 * 60;
        // Monday 2026-02-02.
        let f = |now: &str, last: Option<&str>| {
            forecast(&p, t(now), last.map(t), lead, Aim::Lateness(0.0))
        };
        // Early morning: waiting for the 08:41 wake.
        let a = f("2026-02-02T06:00:00Z", Some("2026-01-30T17:00:00Z"));
        assert!(a.keep_warm().is_none());
        assert_eq!(a.next.as_ref().unwrap().wake, t("2026-02-02T08:41:00Z"));
        assert_eq!(
            a.next_change(t("2026-02-02T06:00:00Z"), 1800),
            Some(t("2026-02-02T08:27:00Z"))
        );
        // A change due now is not the next one: the one after it is.
        assert_eq!(
            a.next_change(t("2026-02-02T08:27:00Z"), 1800),
            Some(t("2026-02-02T08:41:00Z"))
        );
        // 08:41: warm, nobody yet.
        let b = f("2026-02-02T08:41:00Z", Some("2026-01-30T17:00:00Z"));
        assert_eq!(b.current.as_ref().unwrap().1, Phase::Prewarm);
        assert!(b.keep_warm().is_some());
        assert!(b.activity_sensitive(), "the first users change the hold");
        // 09:10: users came at 09:02; held until 09:59 whatever happens.
        let c = f("2026-02-02T09:10:00Z", Some("2026-02-02T09:02:00Z"));
        assert_eq!(c.current.as_ref().unwrap().1, Phase::Started);
        assert_eq!(c.keep_warm().unwrap().hold_until, t("2026-02-02T09:59:00Z"));
        assert!(!c.activity_sensitive());
        assert_eq!(
            c.current.as_ref().unwrap().0.began,
            Some(t("2026-02-02T09:02:00Z"))
        );
        // Later the session's start is the one recorded at 09:02.
        let g = |now: &str, last: &str| {
            Prepared::default().forecast(
                &p,
                Timing::exact(lead),
                Aim::Lateness(0.0),
                t(now),
                seen(last, "2026-02-02T09:02:00Z"),
            )
        };
        // 12:00: started, before the earliest end: the classic threshold.
        let d = g("2026-02-02T12:00:00Z", "2026-02-02T11:50:00Z");
        assert!(d.keep_warm().is_none());
        assert_eq!(d.threshold(t("2026-02-02T12:00:00Z"), 1800).0, 1800.0);
        // 17:00: after the earliest end (16:40, later than 09:02 + the
        // shortest session, 7h30), a 267 s silence ends it (8 / 0.03).
        let e = g("2026-02-02T17:00:00Z", "2026-02-02T16:55:00Z");
        let (thr, why) = e.threshold(t("2026-02-02T17:00:00Z"), 1800);
        assert!((thr - 8.0 / 0.03).abs() < 1e-9, "{thr}");
        assert!(why.contains("after 16:40"), "{why}");
        // Had the session been first seen at 10:00 (a run missed, say), it
        // is expected to run until 17:30: the classic threshold until then.
        let late = Prepared::default().forecast(
            &p,
            Timing::exact(lead),
            Aim::Lateness(0.0),
            t("2026-02-02T17:00:00Z"),
            seen("2026-02-02T16:55:00Z", "2026-02-02T10:00:00Z"),
        );
        assert_eq!(late.threshold(t("2026-02-02T17:00:00Z"), 1800).0, 1800.0);
        assert_eq!(
            late.next_change(t("2026-02-02T17:00:00Z"), 1800),
            Some(t("2026-02-02T17:30:00Z"))
        );
        // Next wake is Tuesday's.
        assert_eq!(e.next.as_ref().unwrap().wake, t("2026-02-03T08:41:00Z"));
    }

    #[test]
    fn a_day_nobody_came_is_missed() {
        let p = office();
        let f = forecast(
            &p,
            t("2026-02-02T10:00:00Z"),
            Some(t("2026-01-30T17:00:00Z")),
            14 * 60,
            Aim::Lateness(0.0),
        );
        assert_eq!(f.current.as_ref().unwrap().1, Phase::Missed);
        let (thr, why) = f.threshold(t("2026-02-02T10:00:00Z"), 1800);
        assert_eq!(thr, 0.0);
        assert_eq!(why, "predicted demand Mon 09:20±25m did not come by 09:59");
    }

    /// Lateness moves the wake from the earliest onset (08:55) towards the
    /// median (09:20), nothing else: the hold still lasts to the latest.
    #[test]
    fn lateness_aims_the_wake_between_the_earliest_and_the_median_onset() {
        let p = office();
        let at = |lateness: f64| {
            forecast(
                &p,
                t("2026-02-02T06:00:00Z"),
                None,
                600,
                Aim::Lateness(lateness),
            )
            .next
            .unwrap()
        };
        assert_eq!(at(0.0).wake, t("2026-02-02T08:45:00Z"));
        assert_eq!(at(0.4).wake, t("2026-02-02T08:55:00Z"));
        assert_eq!(at(1.0).wake, t("2026-02-02T09:10:00Z"));
        assert_eq!(at(7.0).wake, at(1.0).wake, "clamped");
        assert_eq!(at(0.4).hold_until, at(0.0).hold_until);
        // The plan's reason says which onset a late wake prepares for.
        let lead = super::super::Lead {
            hydration: None,
            interval_s: 60,
            margin_s: 0,
        };
        let next = |lateness: f64| {
            forecast(
                &p,
                t("2026-02-02T06:00:00Z"),
                None,
                lead.seconds(),
                Aim::Lateness(lateness),
            )
            .next
            .unwrap()
        };
        let why = super::super::wake_reason(&p, &next(0.4), &lead);
        assert!(
            why.ends_with("for onset 09:05 (earlier users wake it on demand)"),
            "{why}"
        );
        let why = super::super::wake_reason(&p, &next(0.0), &lead);
        assert!(!why.contains("for onset"), "{why}");
    }

    /// Looking two days ahead first gives the forecast a full week gives,
    /// at every hour of a week, for office hours and for a nightly window
    /// that starts before midnight, with short and long leads.
    #[test]
    fn the_near_look_ahead_forecasts_like_the_full_week() {
        let mut nightly = office();
        nightly.windows[0].onset = Spread {
            low: -hhmm(1, 30),
            median: hhmm(0, 30),
            high: hhmm(2, 0),
        };
        nightly.windows[0].occurred = [4, 4, 4, 4, 4, 4, 4];
        nightly.windows[0].days = 28;
        for p in [office(), nightly] {
            for lead in [60, 840, 6 * 3600] {
                for h in 0..24 * 7 {
                    let now = t("2026-02-02T00:20:00Z") + Duration::hours(h);
                    let full = {
                        let prep = [prepare(
                            &p.windows[0],
                            &p.observed,
                            Timing::exact(lead),
                            Aim::Lateness(0.0),
                        )];
                        let occ = occurrences(
                            &p,
                            &prep,
                            now - Duration::days(2),
                            now + Duration::days(8),
                            lead,
                        );
                        occ.into_iter().find(|o| o.wake > now).map(|o| o.wake)
                    };
                    let near = forecast(&p, now, None, lead, Aim::Lateness(0.0))
                        .next
                        .map(|o| o.wake);
                    assert_eq!(near, full, "at {now}, lead {lead}");
                }
            }
        }
        // Friday evening: the next wake is Monday's, beyond two days.
        let f = forecast(
            &office(),
            t("2026-02-06T18:00:00Z"),
            None,
            600,
            Aim::Lateness(0.0),
        );
        assert_eq!(f.next.unwrap().day, t("2026-02-09T00:00:00Z"));
    }

    #[test]
    fn weekends_and_rare_weekdays_are_not_predicted() {
        let p = office();
        // Saturday: no occurrence near, next is Monday's.
        let f = forecast(&p, t("2026-02-07T10:00:00Z"), None, 600, Aim::Lateness(0.0));
        assert!(f.keep_warm().is_none());
        assert_eq!(f.next.as_ref().unwrap().day, t("2026-02-09T00:00:00Z"));
        assert_eq!(f.threshold(t("2026-02-07T10:00:00Z"), 900).0, 900.0);
    }

    #[test]
    fn occurrences_describe_themselves() {
        let p = office();
        let o = Occurrence::of(
            0,
            &p.windows[0],
            t("2026-02-02T00:00:00Z"),
            840,
            hhmm(8, 55),
        );
        assert_eq!(o.describe(), "Mon 09:20±25m");
        let mut w = p.windows[0].clone();
        w.onset.median = hhmm(8, 59);
        let o = Occurrence::of(0, &w, t("2026-02-02T00:00:00Z"), 840, w.onset.low);
        assert_eq!(o.describe(), "Mon 08:59±46m (earliest 08:55)");
        // Boundaries: under a minute of spread is no spread; a minute is
        // one; sides within a minute of each other are one ±.
        let with = |low: i64, median: i64, high: i64| {
            let mut w = p.windows[0].clone();
            w.onset = Spread { low, median, high };
            Occurrence::of(0, &w, t("2026-02-02T00:00:00Z"), 840, w.onset.low).describe()
        };
        let nine = hhmm(9, 0);
        assert_eq!(with(nine - 30, nine, nine + 30), "Mon 09:00");
        assert_eq!(with(nine - 60, nine, nine + 60), "Mon 09:00±1m");
        assert_eq!(with(nine, nine, nine + 50), "Mon 09:00");
        assert_eq!(
            with(nine, nine, nine + 120),
            "Mon 09:00±2m (earliest 09:00)"
        );
    }

    /// Office hours every weekday (onsets 08:00..09:54 over 20 days, 0.05 q/s,
    /// 1620 statements a day) and sparse weekend days (onsets from 09:00,
    /// 0.002 q/s, 60 statements): four weeks of samples.
    fn office_and_weekends() -> Profile {
        let mut p = office();
        let w = &mut p.windows[0];
        let mut samples: Vec<DaySample> = (0..20)
            .map(|i| DaySample {
                weekday: (i % 5) as u8,
                onset: hhmm(8, 0) + i * 6 * 60,
                rate: 0.05,
                statements: 1620.0,
                week: (i / 5) as u8,
            })
            .chain((0..8).map(|i| DaySample {
                weekday: (5 + i % 2) as u8,
                onset: hhmm(9, 0) + i * 5 * 60,
                rate: 0.002,
                statements: 60.0,
                week: (i / 2) as u8,
            }))
            .collect();
        samples.sort_by_key(|s| s.onset);
        *w = seen_daily(w.clone(), samples, [hhmm(8, 0), hhmm(9, 0), hhmm(9, 54)]);
        p
    }

    /// `w` seen on every day of four weeks, with these samples and onsets
    /// (earliest, median, latest).
    fn seen_daily(mut w: Window, samples: Vec<DaySample>, [low, median, high]: [i64; 3]) -> Window {
        w.samples = samples;
        w.onset = Spread { low, median, high };
        w.occurred = [4; 7];
        w.days = 28;
        w
    }

    /// What the past days lose under `prep`, and their statements.
    fn replayed(w: &Window, prep: &Preparation, cold: Timing) -> (f64, f64) {
        let lost: f64 = w
            .samples
            .iter()
            .map(|s| {
                let ready = (!prep.on_demand[s.day()]).then_some(prep.ready);
                lost(s, ready, cold)
            })
            .sum();
        (lost, w.samples.iter().map(|s| s.statements).sum())
    }

    #[test]
    fn a_target_aims_as_late_as_the_past_days_allow() {
        let p = office_and_weekends();
        let w = &p.windows[0];
        let cold = Timing::exact(13 * 60);
        let at = |aim| prepare(w, &p.observed, cold, aim);
        let default = at(Aim::Target(0.995));
        // Weekends lose a statement or two on demand: they wake so.
        assert_eq!(
            default.on_demand,
            [false, false, false, false, false, true, true]
        );
        assert!(
            default.ready > w.onset.low && default.ready <= w.onset.median,
            "{default:?}"
        );
        let (lost, all) = replayed(w, &default, cold);
        assert!(lost <= 0.005 * all, "{lost} of {all}");
        // It says what it served warm in the replay.
        let warm = default.warm.unwrap();
        assert!(
            (warm - (1.0 - lost / all)).abs() < 1e-9 && warm >= 0.995,
            "{warm}"
        );
        // A looser target aims later; a stricter one earlier; 1 serves
        // every past day from the earliest onset.
        assert!(at(Aim::Target(0.98)).ready > default.ready);
        assert!(at(Aim::Target(0.999)).ready < default.ready);
        let every = at(Aim::Target(1.0));
        assert_eq!(every.ready, w.onset.low);
        assert_eq!(every.on_demand, [false; 7]);
        assert_eq!(replayed(w, &every, cold).0, 0.0);
        assert_eq!(every.warm, Some(1.0));
        // The next later onset would lose more than allowed.
        let later = w
            .samples
            .iter()
            .map(|s| s.onset)
            .find(|o| *o > default.ready)
            .unwrap();
        let (lost, _) = replayed(
            w,
            &Preparation {
                ready: later,
                ..default
            },
            cold,
        );
        assert!(lost > 0.005 * all, "{lost} of {all}");
        // A fixed lateness ignores the samples to aim, every day, but says
        // what the past days would have been served warm; without samples,
        // the earliest onset, with nothing to say.
        let half = at(Aim::Lateness(0.5));
        assert_eq!((half.ready, half.on_demand), (hhmm(8, 30), [false; 7]));
        let (lost, all) = replayed(w, &half, cold);
        assert!(lost > 0.0);
        assert!(
            (half.warm.unwrap() - (1.0 - lost / all)).abs() < 1e-9,
            "{half:?}"
        );
        let earliest = |w: &Window| {
            let p = prepare(w, &p.observed, cold, Aim::Target(0.9));
            (p.ready, p.on_demand, p.warm)
        };
        let mut bare = w.clone();
        bare.samples.clear();
        assert_eq!(earliest(&bare), (every.ready, every.on_demand, None));
        // Days without statements (nothing to serve) say nothing either.
        let mut silent = w.clone();
        silent.samples.iter_mut().for_each(|s| s.statements = 0.0);
        assert_eq!(earliest(&silent), (every.ready, every.on_demand, None));
        // However loose the target, never later than the median onset.
        let loose = at(Aim::Target(0.5)).ready;
        assert!(loose > default.ready && loose <= w.onset.median, "{loose}");
    }

    #[test]
    fn the_held_out_share_replays_each_week_under_the_aim_of_the_others() {
        let p = office_and_weekends();
        let w = &p.windows[0];
        let cold = Timing::exact(13 * 60);
        let aim = Aim::Target(0.995);
        let in_sample = prepare(w, &p.observed, cold, aim).warm.unwrap();
        // Onsets drift later week after week: the first week (08:00 to
        // 08:24), replayed under the aim of the three later ones (none
        // before their earliest onset, 08:30), loses at least 13 + 13 + 13
        // + 12 + 6 minutes at 0.05 q/s: 171 of the 32 880 statements,
        // which the in-sample replay does not see.
        let held = held_out(w, &p.observed, cold, aim).unwrap();
        assert!(in_sample >= 0.995, "{in_sample}");
        assert!(held <= 1.0 - 171.0 / 32_880.0, "{held} vs {in_sample}");
        // Every week alike (each weekday starting at its own time): the
        // other weeks choose the same aim, and the shares agree.
        let mut alike = w.clone();
        for s in &mut alike.samples {
            s.onset = hhmm(8, 0) + i64::from(s.weekday) * 11 * 60;
        }
        alike.onset = crate::strategy::predict::profile::spread(
            alike.samples.iter().map(|s| s.onset).collect(),
        );
        let prep = prepare(&alike, &p.observed, cold, aim);
        assert!(prep.ready > alike.onset.low, "{prep:?}");
        let held = held_out(&alike, &p.observed, cold, aim).unwrap();
        assert!(
            (held - prep.warm.unwrap()).abs() < 1e-9,
            "{held} vs {prep:?}"
        );
        // Two weeks are enough: each is replayed under the other's aim.
        let mut two_weeks = alike.clone();
        two_weeks.samples.retain(|s| s.week <= 1);
        let weeks: std::collections::BTreeSet<u8> =
            two_weeks.samples.iter().map(|s| s.week).collect();
        assert_eq!(weeks.len(), 2, "{weeks:?}");
        let held = held_out(&two_weeks, &p.observed, cold, aim).expect("two weeks");
        assert!((0.0..=1.0).contains(&held), "{held}");
        // Nothing to hold out: one week, a fixed lateness, no statements.
        let mut one_week = w.clone();
        one_week.samples.retain(|s| s.week == 2);
        assert_eq!(held_out(&one_week, &p.observed, cold, aim), None);
        assert_eq!(held_out(w, &p.observed, cold, Aim::Lateness(0.5)), None);
        let mut silent = w.clone();
        silent.samples.iter_mut().for_each(|s| s.statements = 0.0);
        assert_eq!(held_out(&silent, &p.observed, cold, aim), None);
    }

    /// Weekdays all start at 08:00 (0.05 q/s), but Fridays at 08:30;
    /// Saturdays at 09:00 (0.004 q/s) and Sundays at 10:00 (0.002 q/s), 60
    /// statements each: only the weekend is worth leaving on demand.
    fn sparse_weekend() -> Window {
        let w = office().windows[0].clone();
        let day = |week: u8, weekday: u8, onset: i64, rate: f64, statements: f64| DaySample {
            weekday,
            onset,
            rate,
            statements,
            week,
        };
        let samples = (0..4)
            .flat_map(|wk| {
                (0..4)
                    .map(move |d| day(wk, d, hhmm(8, 0), 0.05, 1620.0))
                    .chain([
                        day(wk, 4, hhmm(8, 30), 0.05, 1620.0),
                        day(wk, 5, hhmm(9, 0), 0.004, 60.0),
                        day(wk, 6, hhmm(10, 0), 0.002, 60.0),
                    ])
            })
            .collect();
        seen_daily(w, samples, [hhmm(8, 0), hhmm(8, 0), hhmm(10, 0)])
    }

    #[test]
    fn sparse_days_go_on_demand_best_first_within_the_budget() {
        let w = sparse_weekend();
        let cold = Timing::exact(780);
        let on_demand = |t: f64| prepare(&w, &[4; 7], cold, Aim::Target(t)).on_demand;
        // On demand, a Sunday loses 0.002 × 780 s = 1.56 statements for 4 h
        // held, a Saturday 3.12 for 1 h: Sunday first. A budget of 13.15
        // statements (32 880 × 0.0004) holds Sunday's four days (6.24),
        // not Saturday's on top (12.48 more).
        assert_eq!(
            on_demand(0.9996),
            [false, false, false, false, false, false, true]
        );
        // A loose target gives both up, never a busy Friday: holding it 30
        // minutes costs less than the cold starts it would lose.
        assert_eq!(
            on_demand(0.99),
            [false, false, false, false, false, true, true]
        );
        assert_eq!(on_demand(1.0), [false; 7]);
        // One Sunday came at 07:50, before the aim: it loses 1.2 statements
        // even prepared, so going on demand costs Sundays only 5.04 more.
        // A budget of 7.56 (32 880 × 0.00023) holds the 1.2 and that.
        let mut early_sunday = w.clone();
        let sunday = early_sunday
            .samples
            .iter_mut()
            .find(|s| s.weekday == 6)
            .unwrap();
        sunday.onset = hhmm(7, 50);
        assert_eq!(
            prepare(&early_sunday, &[4; 7], cold, Aim::Target(0.99977)).on_demand,
            [false, false, false, false, false, false, true]
        );
    }

    #[test]
    fn preparations_are_made_once_per_lead_and_aim() {
        let p = office_and_weekends();
        let direct = |lead: i64, aim: Aim| -> Vec<Preparation> {
            p.windows
                .iter()
                .map(|w| prepare(w, &p.observed, Timing::exact(lead), aim))
                .collect()
        };
        let made = Prepared::default();
        let (strict, loose) = (Aim::Target(0.995), Aim::Target(0.98));
        // Each lead and aim gets its own, whatever was made before.
        assert_ne!(direct(780, strict), direct(60, strict));
        assert_ne!(direct(780, strict), direct(780, loose));
        for (lead, aim) in [(780, strict), (60, strict), (780, loose), (780, strict)] {
            assert_eq!(
                made.of(&p, Timing::exact(lead), aim),
                direct(lead, aim),
                "{lead} {aim:?}"
            );
        }
        // A negative lead is none, as in `forecast_prepared`.
        assert_eq!(made.of(&p, Timing::exact(-5), strict), direct(0, strict));
        // A clone (maybe for another profile) starts with nothing made.
        let every = Aim::Lateness(0.0);
        assert_eq!(
            made.of(&p, Timing::exact(780), every)[0].ready,
            p.windows[0].onset.low
        );
        let mut other = p.clone();
        other.windows[0].onset.low -= 3600;
        assert_eq!(
            made.clone().of(&other, Timing::exact(780), every)[0].ready,
            other.windows[0].onset.low
        );
        // Forecasts likewise, by lead, aim, clock and latest statement.
        let monday = DateTime::parse_from_rfc3339("2026-01-05T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let direct = |lead: i64, aim: Aim, now: DateTime<Utc>, seen: Seen| {
            forecast_prepared(&p, direct(lead, aim), now, seen, lead)
        };
        let later = monday + Duration::hours(3);
        let last = |t: DateTime<Utc>| Seen {
            last_begin: Some(t),
            began: None,
        };
        let nothing = Seen::default();
        let from_nine = Seen {
            began: Some(monday + Duration::hours(1)),
            ..last(later - Duration::minutes(5))
        };
        let asks = [
            (780, strict, monday, nothing),
            (60, strict, monday, nothing),
            (780, loose, monday, nothing),
            (780, strict, later, nothing),
            (780, strict, later, last(later - Duration::minutes(5))),
            (780, strict, later, from_nine),
            (780, strict, monday, nothing),
        ];
        assert_ne!(
            direct(780, strict, monday, nothing),
            direct(780, strict, later, nothing)
        );
        assert_ne!(
            direct(780, strict, later, nothing),
            direct(780, strict, later, last(later - Duration::minutes(5)))
        );
        assert_ne!(
            direct(780, strict, later, last(later - Duration::minutes(5))),
            direct(780, strict, later, from_nine)
        );
        for (lead, aim, now, seen) in asks {
            assert_eq!(
                made.forecast(&p, Timing::exact(lead), aim, now, seen),
                direct(lead, aim, now, seen)
            );
        }
    }

    /// Four weeks of weekdays at 0.05 q/s, 1620 statements each, starting
    /// at 08:30 but for the first two days (`early`).
    fn four_weeks_of_weekdays(early: [i64; 2]) -> Vec<DaySample> {
        let mut samples: Vec<DaySample> = (0..4u8)
            .flat_map(|week| {
                (0..5u8).map(move |weekday| DaySample {
                    weekday,
                    onset: hhmm(8, 30),
                    rate: 0.05,
                    statements: 1620.0,
                    week,
                })
            })
            .collect();
        samples[0].onset = early[0];
        samples[1].onset = early[1];
        samples
    }

    #[test]
    fn the_replay_counts_a_prepared_day_hydrated_early_s_before_the_aim() {
        // Weekdays at 0.05 q/s: one at 08:00, one at 08:01, the rest 08:30.
        let samples = four_weeks_of_weekdays([hhmm(8, 0), hhmm(8, 1)]);
        let w = seen_daily(
            office().windows[0].clone(),
            samples,
            [hhmm(8, 0), hhmm(8, 30), hhmm(8, 30)],
        );
        let every = Aim::Target(1.0);
        // Hydrated at the aim itself, nothing may be lost: the earliest.
        let exact = Timing::exact(780);
        assert_eq!(prepare(&w, &[4; 7], exact, every).ready, hhmm(8, 0));
        // Hydrated 90 s before the aim, 08:01 loses nothing on the 08:00
        // day (hydrated at 07:59:30); 08:30 would.
        let t = Timing {
            lead_s: 780,
            early_s: 90,
            cold_s: 690,
        };
        let prep = prepare(&w, &[4; 7], t, every);
        assert_eq!((prep.ready, prep.warm), (hhmm(8, 1), Some(1.0)));
        let (l, _) = replay(&w.samples, hhmm(8, 1) + 31, &[false; 7], t);
        assert!((l - 0.05).abs() < 1e-9, "{l}");
        // Woken on demand, a day loses its cold start, not the whole lead.
        let on_demand = [true; 7];
        let (l, n) = replay(&w.samples[..1], hhmm(8, 0), &on_demand, t);
        assert_eq!((l, n), (0.05 * 690.0, 1620.0));
        let (l, _) = replay(&w.samples[..1], hhmm(8, 0), &on_demand, exact);
        assert_eq!(l, 0.05 * 780.0);
    }

    #[test]
    fn giving_up_sparse_days_can_beat_aiming_later() {
        // Weekdays at 0.05 q/s, 1620 statements: one at 08:00, one at
        // 08:02, eighteen at 08:30; weekends at 14:00, 0.004 q/s, 60
        // statements. Budget: 27 of the 32 880 statements.
        let weekend = |week: u8, weekday: u8| DaySample {
            weekday,
            onset: hhmm(14, 0),
            rate: 0.004,
            statements: 60.0,
            week,
        };
        let mut samples = four_weeks_of_weekdays([hhmm(8, 0), hhmm(8, 2)]);
        samples.extend((0..4u8).flat_map(|wk| [weekend(wk, 5), weekend(wk, 6)]));
        let w = seen_daily(
            office().windows[0].clone(),
            samples,
            [hhmm(8, 0), hhmm(8, 30), hhmm(14, 0)],
        );
        let cold = Timing::exact(780);
        let prep = prepare(&w, &[4; 7], cold, Aim::Target(1.0 - 27.0 / 32_880.0));
        // Aimed at 08:02 the 08:00 day loses 6 statements, and the budget
        // left gives up only one weekend day (4 × 3.12 each): held 116 160 s.
        // Aimed at 08:00 nothing is lost prepared, both weekend days go on
        // demand (24.96), and it holds 32 520 s: the earliest aim wins.
        assert_eq!(
            (prep.ready, prep.on_demand),
            (hhmm(8, 0), [false, false, false, false, false, true, true])
        );
        let later = [false, false, false, false, false, true, false];
        let (lost, _) = replay(&w.samples, hhmm(8, 2), &later, cold);
        assert!(lost <= 27.0, "08:02 was a candidate: {lost}");
    }

    #[test]
    fn a_day_left_on_demand_is_not_prewarmed_and_not_held_to_yesterday() {
        let p = office_and_weekends();
        let aim = Aim::Target(0.995);
        // Saturday 2026-02-07, 10:00, users since 09:40: nothing predicted
        // today, the next wake is Monday's.
        let f = forecast(
            &p,
            t("2026-02-07T10:00:00Z"),
            Some(t("2026-02-07T09:40:00Z")),
            780,
            aim,
        );
        assert!(f.keep_warm().is_none());
        assert_eq!(f.next.as_ref().unwrap().day, t("2026-02-09T00:00:00Z"));
        // Friday's session is long over: its short end-of-session silence
        // (8 gaps at Friday's 0.05 q/s) does not suspend Saturday's users.
        let (thr, _) = f.threshold(t("2026-02-07T10:00:00Z"), 900);
        assert_eq!(thr, 900.0);
        // On Friday evening it does, at Friday's own rate.
        let fri = Prepared::default().forecast(
            &p,
            Timing::exact(780),
            aim,
            t("2026-02-06T17:00:00Z"),
            seen("2026-02-06T16:59:00Z", "2026-02-06T09:00:00Z"),
        );
        let (thr, _) = fri.threshold(t("2026-02-06T17:00:00Z"), 900);
        assert_eq!(thr, 8.0 / 0.05);
        assert!(fri
            .next_change(t("2026-02-06T17:00:00Z"), 900)
            .is_some_and(|c| c <= t("2026-02-06T18:15:00Z")));
    }

    /// A nightly batch that starts between 00:00 and 02:00 and runs at
    /// least an hour (no night ended before 01:10).
    fn nightly() -> Profile {
        let mut p = office();
        let w = &mut p.windows[0];
        w.onset = Spread {
            low: 0,
            median: hhmm(1, 0),
            high: hhmm(2, 0),
        };
        w.end = Spread {
            low: hhmm(1, 10),
            median: hhmm(2, 30),
            high: hhmm(4, 0),
        };
        w.duration = Spread {
            low: hhmm(1, 0),
            median: hhmm(1, 30),
            high: hhmm(2, 0),
        };
        w.occurred = [4; 7];
        w.rate = 0.2;
        p
    }

    #[test]
    fn a_session_is_held_as_long_as_the_shortest_past_one_from_its_start() {
        let p = nightly();
        let lead = 20 * 60;
        let at = |now: &str, seen: Seen| {
            Prepared::default().forecast(&p, Timing::exact(lead), Aim::Lateness(0.0), t(now), seen)
        };
        // Nobody yet at 01:30: held until the latest onset + lead (02:20).
        let none = at(
            "2026-02-03T01:30:00Z",
            Seen {
                last_begin: Some(t("2026-02-02T03:00:00Z")),
                began: None,
            },
        );
        assert_eq!(none.current.as_ref().unwrap().1, Phase::Prewarm);
        assert_eq!(
            none.keep_warm().unwrap().held_until(),
            t("2026-02-03T02:20:00Z")
        );
        // Began at 00:05: held until 01:10 (the earliest end; 00:05 + 1h is
        // earlier), not to the latest onset the crowd could have come at.
        let early = at(
            "2026-02-03T01:00:00Z",
            seen("2026-02-03T00:59:00Z", "2026-02-03T00:05:00Z"),
        );
        let o = early.keep_warm().unwrap();
        assert_eq!(o.began, Some(t("2026-02-03T00:05:00Z")));
        assert_eq!(o.held_until(), t("2026-02-03T01:10:00Z"));
        let at_end = at(
            "2026-02-03T01:10:00Z",
            seen("2026-02-03T00:59:00Z", "2026-02-03T00:05:00Z"),
        );
        assert!(
            at_end.keep_warm().is_none(),
            "held until, not through, 01:10"
        );
        let over = at(
            "2026-02-03T01:15:00Z",
            seen("2026-02-03T01:12:00Z", "2026-02-03T00:05:00Z"),
        );
        assert!(over.keep_warm().is_none());
        let (thr, why) = over.threshold(t("2026-02-03T01:15:00Z"), 900);
        assert_eq!(thr, MIN_SILENCE_S, "8 gaps at 0.2 q/s, at least 2 min");
        assert!(why.contains("after 01:10"), "{why}");
        // Began at 01:50: it runs an hour at least, past the hold (02:20):
        // the classic threshold until 02:50, then the session's.
        let late = |now: &str| at(now, seen("2026-02-03T02:00:00Z", "2026-02-03T01:50:00Z"));
        assert_eq!(
            late("2026-02-03T02:00:00Z")
                .keep_warm()
                .unwrap()
                .held_until(),
            t("2026-02-03T02:20:00Z")
        );
        assert_eq!(
            late("2026-02-03T02:30:00Z")
                .threshold(t("2026-02-03T02:30:00Z"), 900)
                .0,
            900.0
        );
        assert_eq!(
            late("2026-02-03T02:30:00Z").next_change(t("2026-02-03T02:30:00Z"), 900),
            Some(t("2026-02-03T02:50:00Z"))
        );
        assert_eq!(
            late("2026-02-03T02:50:00Z")
                .threshold(t("2026-02-03T02:50:00Z"), 900)
                .0,
            MIN_SILENCE_S
        );
        // Until `idle_after_s` past the latest end (04:00): later
        // statements are not that session's.
        let threshold_at = |now: &str| late(now).threshold(t(now), 900).0;
        assert_eq!(threshold_at("2026-02-03T04:14:59Z"), MIN_SILENCE_S);
        assert_eq!(threshold_at("2026-02-03T04:15:00Z"), 900.0);
        // A start recorded for an earlier night is not this one's: the
        // latest statement is, first seen now.
        let stale = at(
            "2026-02-03T01:00:00Z",
            seen("2026-02-03T00:59:00Z", "2026-02-02T00:05:00Z"),
        );
        assert_eq!(
            stale.keep_warm().unwrap().began,
            Some(t("2026-02-03T00:59:00Z"))
        );
    }

    #[test]
    fn each_weekday_has_its_own_slow_day_rate() {
        let p = office_and_weekends();
        let w = &p.windows[0];
        assert_eq!(w.rate_on(2), 0.05);
        assert_eq!(w.rate_on(6), 0.002);
        // The slowest day of the weekday, not its first nor its busiest.
        let mut slow_wednesday = w.clone();
        for (i, r) in [(2usize, 0.08), (7, 0.01)] {
            slow_wednesday.samples[i].weekday = 2;
            slow_wednesday.samples[i].rate = r;
        }
        assert_eq!(slow_wednesday.rate_on(2), 0.01);
        let mut none_on_sunday = w.clone();
        none_on_sunday.samples.retain(|s| s.weekday != 6);
        assert_eq!(none_on_sunday.rate_on(6), w.rate, "the window's rate");
    }
}
