//! Predictive scaling: `idle_suspend` with `"predict": true` learns when a
//! cluster's demand comes from the statement log's history and has the
//! cluster hydrated before its users arrive, instead of waking it with their
//! first (failing) queries.
//!
//! - `profile`: the recurring windows of demand, learned from the hours of
//!   the last `history_days` complete days (robust to noise, holidays and
//!   one-off spikes);
//! - `hydration`: how long the cluster's replicas take, per size, from its
//!   own past hydrations;
//! - `forecast`: the prewarm decision: which onset to aim at and which
//!   weekdays to leave on demand (from `prewarm_target`, replaying past
//!   days), when to wake (aimed onset − lead, lead = hydration + one
//!   interval + a margin adapted from misses), how long to hold, when a
//!   session is over.
//!
//! Everything here is a pure function of the snapshot, the plan's `now`
//! and the strategy's state slot: no clock, no I/O.

pub mod forecast;
pub mod hydration;
pub mod profile;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use forecast::{Aim, Forecast, Occurrence, Phase, Seen, Timing};
pub use hydration::{Estimate, Hydrations};
pub use profile::Profile;

use crate::model::{human_duration, ClusterId, DemandLog, Size, SizeCatalog};

/// Largest margin the misses can grow it to.
pub const MAX_MARGIN_S: f64 = 3600.0;
/// Share of the excess margin kept after a hit.
const DECAY: f64 = 0.75;

/// The predictive mode's keys of `idle_suspend`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictConfig {
    /// Days of statement history learned from (1..=56, default 28).
    pub history_days: u64,
    /// The margin added to the lead before any miss (seconds, default 60).
    pub margin_s: u64,
    /// How the wake is aimed: by default for 99.5 % of the statements
    /// (`prewarm_target`); `prewarm_lateness` fixes it between the earliest
    /// (0) and the median (1) onset of past days instead.
    pub aim: Aim,
}

/// The default `prewarm_target`.
pub const DEFAULT_TARGET: f64 = 0.995;

impl Default for PredictConfig {
    fn default() -> Self {
        PredictConfig {
            history_days: 28,
            margin_s: 60,
            aim: Aim::Target(DEFAULT_TARGET),
        }
    }
}

/// What the mode keeps between runs (in `idle_suspend`'s state slot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictState {
    #[serde(default)]
    pub hydrations: Hydrations,
    /// The adapted margin, seconds (the configured one until a miss).
    #[serde(default)]
    pub margin_s: Option<f64>,
    /// Since when users have been waiting with nothing hydrated.
    #[serde(default)]
    pub miss_since: Option<DateTime<Utc>>,
    /// Whether that demand was predicted (a late prewarm, not a surprise).
    #[serde(default)]
    pub miss_predicted: bool,
    /// The occurrence last counted as a hit or a miss, by the onset it was
    /// aimed at (its wake moves with the lead; written as its wake before).
    #[serde(default)]
    pub scored: Option<DateTime<Utc>>,
    #[serde(default)]
    pub hits: u32,
    #[serde(default)]
    pub misses: u32,
    /// A prewarm under way: kept until `until` even if tomorrow's profile
    /// (a day more of history) no longer predicts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    /// The first statement seen since the wake of the occurrence under way
    /// (`forecast::Seen::began`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub began: Option<DateTime<Utc>>,
    /// How often the controller that wrote this state runs, seconds (its
    /// `--interval`): the lead of its wakes. `describe`, `status` and a
    /// `dry-run` without `--interval` plan with it, so that they show the
    /// wake the controller will make (`plan::PlanOptions::interval_s`).
    /// Absent from rows written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u64>,
}

/// A prewarm started for a predicted occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hold {
    pub wake: DateTime<Utc>,
    /// While nobody came.
    pub until: DateTime<Utc>,
    /// Once users came (the earliest their session can end, if earlier).
    pub started_until: DateTime<Utc>,
    pub why: String,
}

impl Hold {
    /// Whether users came since its wake ([`Seen::began_since`]).
    pub fn started(&self, seen: Seen) -> bool {
        seen.began_since(self.wake).is_some()
    }

    pub fn until(&self, seen: Seen) -> DateTime<Utc> {
        if self.started(seen) {
            self.started_until
        } else {
            self.until
        }
    }
}

impl PredictState {
    pub fn margin(&self, c: &PredictConfig) -> f64 {
        self.margin_s
            .filter(|m| m.is_finite())
            .unwrap_or(c.margin_s as f64)
            .clamp(c.margin_s as f64, MAX_MARGIN_S.max(c.margin_s as f64))
    }

    /// Counts the occurrence that just started as a hit (users found the
    /// cluster hydrated): the margin decays towards the configured one.
    pub fn hit(&mut self, c: &PredictConfig, aimed: DateTime<Utc>) {
        if self.scored == Some(aimed) || self.miss_since.is_some() {
            return;
        }
        self.scored = Some(aimed);
        self.hits += 1;
        let base = c.margin_s as f64;
        self.margin_s = Some(base + (self.margin(c) - base) * DECAY);
    }

    /// Users are waiting with nothing hydrated since `since`.
    pub fn waiting(&mut self, since: DateTime<Utc>, predicted: bool) {
        match self.miss_since {
            Some(t) if t <= since => {}
            _ => {
                self.miss_since = Some(since);
                self.miss_predicted |= predicted;
            }
        }
    }

    /// A replica is hydrated again: a predicted demand that waited widens
    /// the margin by how long it waited.
    pub fn served(&mut self, c: &PredictConfig, now: DateTime<Utc>, aimed: Option<DateTime<Utc>>) {
        let Some(since) = self.miss_since.take() else {
            return;
        };
        if std::mem::take(&mut self.miss_predicted) {
            let late = (now - since).num_seconds().max(0) as f64;
            self.margin_s = Some((self.margin(c) + late).min(MAX_MARGIN_S));
            self.misses += 1;
            if aimed.is_some() {
                self.scored = aimed;
            }
        }
    }
}

/// The profile of one cluster from the snapshot's statement history: the
/// last `days` days of it.
pub fn profile_of(log: &DemandLog, cluster: &ClusterId, days: u64) -> Profile {
    let from = (log.until - Duration::days(days as i64)).max(log.from);
    let hours = log.clusters.get(cluster).map(Vec::as_slice).unwrap_or(&[]);
    let start = hours.partition_point(|h| h.hour < from);
    profile::learn(&hours[start..], from, log.until)
}

/// The lead of a wake: hydration of the slowest size the cluster wakes
/// with, one interval (a cron's run may come that late), and the margin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lead {
    pub hydration: Option<Estimate>,
    pub interval_s: u64,
    pub margin_s: u64,
}

impl Lead {
    pub fn of(
        hydrations: &Hydrations,
        sizes_to_wake: &[Size],
        sizes: &SizeCatalog,
        interval_s: u64,
        margin_s: f64,
    ) -> Lead {
        let hydration = sizes_to_wake
            .iter()
            .map(|s| hydrations.estimate(s, sizes))
            .max_by_key(|e| e.seconds)
            .or_else(|| {
                // Nothing to wake with known: the slowest size measured.
                hydrations
                    .by_size
                    .keys()
                    .map(|s| hydrations.estimate(s, sizes))
                    .max_by_key(|e| e.seconds)
            });
        Lead {
            hydration,
            interval_s,
            margin_s: margin_s.max(0.0).round() as u64,
        }
    }

    pub fn seconds(&self) -> i64 {
        let h = self
            .hydration
            .as_ref()
            .map_or(hydration::DEFAULT_S, |e| e.seconds);
        (u64::from(h) + self.interval_s + self.margin_s) as i64
    }

    /// How a wake with this lead is timed, `configured_margin_s` being the
    /// margin before any miss. The replay of past days counts a prepared
    /// day hydrated half an interval and the configured margin before the
    /// onset it was aimed at (the run that wakes it comes on average half
    /// an interval after the wake, and the margin is for hydrations slower
    /// than estimated; what misses added to it is not counted), and a day
    /// woken on demand hydrated half an interval and a hydration after its
    /// onset. Counting the whole lead as lost, the replay served more than
    /// its target asked (fleet-100: 99.89 % for 0.995).
    pub fn timing(&self, configured_margin_s: u64) -> Timing {
        let lead_s = self.seconds();
        let half = (self.interval_s / 2) as i64;
        let hydration = lead_s - (self.interval_s + self.margin_s) as i64;
        Timing {
            lead_s,
            early_s: (half + configured_margin_s.min(self.margin_s) as i64).min(lead_s),
            cold_s: (hydration + half).clamp(0, lead_s),
        }
    }

    /// `hydration 11m on 200cc + interval 1m + margin 2m`.
    pub fn describe(&self) -> String {
        let h = match &self.hydration {
            Some(e) => format!("hydration {}", e.describe()),
            None => format!(
                "hydration {} (assumed: none seen yet)",
                human_duration(u64::from(hydration::DEFAULT_S))
            ),
        };
        format!(
            "{h} + interval {} + margin {}",
            human_duration(self.interval_s),
            human_duration(self.margin_s)
        )
    }
}

/// The reason of a predictive wake: `predicted demand Mon 09:20±25m
/// (earliest 08:55) from 4 weeks of history; hydration 11m on 200cc +
/// interval 1m + margin 2m: waking at 08:41` (with its day when that is
/// another: `waking at Sun 08:41` under `--interval 1d`).
pub fn wake_reason(p: &Profile, o: &Occurrence, lead: &Lead) -> String {
    // Aimed later than the earliest onset (`prewarm_target`,
    // `prewarm_lateness`): say for which.
    let aim = if o.aimed > o.onset_low {
        format!(
            " for onset {} (earlier users wake it on demand)",
            forecast::beside(o.aimed, o.onset_median)
        )
    } else {
        String::new()
    };
    format!(
        "predicted demand {} from {} of history; {}: waking at {}{aim}",
        o.describe(),
        p.span(),
        lead.describe(),
        forecast::beside(o.wake, o.onset_median)
    )
}

/// What comes next, for reasons and `describe`: `next predicted demand
/// Tue 09:20±25m, waking at 08:41`.
pub fn next_reason(f: &Forecast) -> String {
    match &f.next {
        Some(o) => format!(
            "next predicted demand {}, waking at {}",
            o.describe(),
            forecast::clock(o.wake)
        ),
        None => "no demand predicted within a week".into(),
    }
}

/// What a predicting cluster learned and expects, for `status`,
/// `describe` and the plan's JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// `4 weeks`, `9 days`.
    pub history: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Days of that history on which the cluster had statements.
    pub days_with_statements: u16,
    pub windows: Vec<WindowView>,
    /// Hydration estimates per size known (learned, scaled or assumed).
    pub hydration: Vec<Estimate>,
    pub lead_s: i64,
    pub margin_s: u64,
    pub interval_s: u64,
    /// Where the cluster stands with respect to its latest predicted
    /// occurrence.
    pub phase: Option<Phase>,
    /// `Tue 09:20±25m` and when the cluster wakes for it.
    pub next_demand: Option<String>,
    pub next_wake: Option<DateTime<Utc>>,
    pub hits: u32,
    pub misses: u32,
}

/// One learned window, for people (times UTC).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView {
    /// The weekdays it is prewarmed for: `Mon-Fri`, `daily`, `Mon,Wed`.
    pub days: String,
    /// The weekdays it is expected on but left to wake on demand (too few
    /// statements to be worth holding warm): `Sat,Sun`, or `none`.
    pub on_demand: String,
    /// The onset a wake aims to have the cluster hydrated by.
    pub aimed_onset: String,
    /// The share of the past days' statements (in percent, to 0.01) that
    /// found the cluster hydrated when they are replayed under this aim and
    /// these on-demand days: what `prewarm_target` bounds. `None` without
    /// statements to replay.
    pub warm_in_past_pct: Option<f64>,
    /// The same share with each week of the history replayed under the aim
    /// chosen from the other weeks: what to expect on days not seen yet.
    /// `None` with under two weeks of history or a fixed lateness.
    pub held_out_pct: Option<f64>,
    /// Earliest, median and latest onset, `HH:MM` (`-1d 23:30` before the day).
    pub onset: [String; 3],
    /// Earliest, median and latest end.
    pub end: [String; 3],
    /// The shortest past session (fenced), seconds: once users came, the
    /// cluster is held at least this long from their first statement.
    pub shortest_session_s: i64,
    /// Statements per second on a slow day.
    pub rate_qps: f64,
    /// Days it occurred on in the history.
    pub seen_on_days: u16,
}

impl Prediction {
    /// One line: `Mon-Fri 09:20±25m until ~17:20; next wake Tue 08:41`.
    pub fn summary(&self) -> String {
        let windows: Vec<String> = self
            .windows
            .iter()
            .map(|w| {
                let mut text = format!("{} {} until ~{}", w.days, w.onset[1], w.end[1]);
                if w.on_demand != "none" {
                    text.push_str(&format!(" ({} on demand)", w.on_demand));
                }
                text
            })
            .collect();
        let mut s = if windows.is_empty() {
            self.without_windows()
        } else {
            windows.join(", ")
        };
        if let Some(w) = self.next_wake {
            s.push_str(&format!("; next wake {}", forecast::clock(w)));
        }
        s
    }

    /// Whole days of history read.
    pub fn days(&self) -> i64 {
        (self.until - self.from).num_days().max(0)
    }

    /// What was read when no window recurs, for people: `no complete day
    /// of statement history yet`, `no statement in 4 weeks`, `statements on
    /// 3 of 28 days, none recurring`.
    pub fn without_windows(&self) -> String {
        match (self.days(), self.days_with_statements) {
            (0, _) => "no complete day of statement history yet".into(),
            (_, 0) => format!("no statement in {}", self.history),
            (d, n) => format!(
                "statements on {n} of {d} day{}, none recurring",
                crate::model::plural(d)
            ),
        }
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `Mon-Fri`, `daily`, `Sat,Sun`.
fn weekdays(on: &[bool; 7]) -> String {
    if on.iter().all(|b| *b) {
        return "daily".into();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !on[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < 7 && on[i + 1] {
            i += 1;
        }
        parts.push(if i - start >= 2 {
            format!("{}-{}", WEEKDAYS[start], WEEKDAYS[i])
        } else if i > start {
            format!("{},{}", WEEKDAYS[start], WEEKDAYS[i])
        } else {
            WEEKDAYS[start].to_string()
        });
        i += 1;
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(",")
    }
}

/// Seconds from a day's midnight as `HH:MM`, `-1d 23:30`, `+1d 01:15`.
fn offset(secs: i64) -> String {
    let day = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let hm = format!("{:02}:{:02}", rest / 3600, rest % 3600 / 60);
    match day {
        0 => hm,
        d if d < 0 => format!("{d}d {hm}"),
        d => format!("+{d}d {hm}"),
    }
}

impl WindowView {
    pub fn of(
        w: &profile::Window,
        observed: &[u16; 7],
        prep: &forecast::Preparation,
        held_out: Option<f64>,
    ) -> WindowView {
        let pct = |share: f64| (share * 10_000.0).round() / 100.0;
        let mut on = [false; 7];
        let mut on_demand = [false; 7];
        for d in 0..7 {
            let expected = w.expected_on(d, observed);
            on[d] = expected && !prep.on_demand[d];
            on_demand[d] = expected && prep.on_demand[d];
        }
        WindowView {
            days: weekdays(&on),
            on_demand: weekdays(&on_demand),
            aimed_onset: offset(prep.ready),
            warm_in_past_pct: prep.warm.map(pct),
            held_out_pct: held_out.map(pct),
            onset: [
                offset(w.onset.low),
                offset(w.onset.median),
                offset(w.onset.high),
            ],
            end: [offset(w.end.low), offset(w.end.median), offset(w.end.high)],
            shortest_session_s: w.duration.low.max(0),
            rate_qps: (w.rate * 1000.0).round() / 1000.0,
            seen_on_days: w.days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::now;

    /// What `describe` is given for a profile of `windows`, with nothing
    /// learned of hydration and no wake planned.
    fn prediction(
        history: String,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        days_with_statements: u16,
        windows: Vec<WindowView>,
    ) -> Prediction {
        Prediction {
            history,
            from,
            until,
            days_with_statements,
            windows,
            hydration: Vec::new(),
            lead_s: 0,
            margin_s: 0,
            interval_s: 60,
            phase: None,
            next_demand: None,
            next_wake: None,
            hits: 0,
            misses: 0,
        }
    }

    /// The defaults the help text promises are the ones the parser uses.
    #[test]
    fn help_states_the_defaults_in_force() {
        let d = PredictConfig::default();
        let keys = crate::strategy::keys::PREWARM_MARGIN_S;
        assert!(
            keys.help.contains(&format!("default {})", d.margin_s)),
            "{}",
            keys.help
        );
        let keys = crate::strategy::keys::PREWARM_TARGET;
        assert_eq!(d.aim, Aim::Target(DEFAULT_TARGET));
        assert!(
            keys.help.contains(&format!("default {DEFAULT_TARGET})")),
            "{}",
            keys.help
        );
        let keys = crate::strategy::keys::HISTORY_DAYS;
        assert!(
            keys.help.contains(&format!("default {})", d.history_days)),
            "{}",
            keys.help
        );
    }

    #[test]
    fn a_window_shows_its_prewarmed_and_on_demand_days_and_its_aim() {
        let p = forecast::tests::office();
        let mut w = p.windows[0].clone();
        w.occurred = [4; 7];
        w.rate = 0.123_456;
        let prep = forecast::Preparation {
            ready: 9 * 3600 + 5 * 60,
            on_demand: [false, false, false, false, false, true, true],
            warm: Some(0.996_24),
        };
        let v = WindowView::of(&w, &p.observed, &prep, Some(0.991_77));
        assert_eq!(
            (
                v.days.as_str(),
                v.on_demand.as_str(),
                v.aimed_onset.as_str(),
                v.warm_in_past_pct,
                v.held_out_pct
            ),
            ("Mon-Fri", "Sat,Sun", "09:05", Some(99.62), Some(99.18))
        );
        // The shortest past session: how long a session is held once begun.
        assert_eq!(v.shortest_session_s, 7 * 3600 + 30 * 60);
        // A slow day's rate, to a thousandth of a statement per second.
        assert_eq!(v.rate_qps, 0.123);
        let view = |windows| prediction("4 weeks".into(), p.from, p.until, 19, windows);
        assert_eq!(
            view(vec![v]).summary(),
            "Mon-Fri 09:20 until ~17:20 (Sat,Sun on demand)"
        );
        let every = WindowView::of(
            &w,
            &p.observed,
            &forecast::Preparation {
                ready: w.onset.low,
                on_demand: [false; 7],
                warm: None,
            },
            None,
        );
        assert_eq!(
            (every.days.as_str(), every.on_demand.as_str()),
            ("daily", "none")
        );
        assert_eq!(view(vec![every]).summary(), "daily 09:20 until ~17:20");
    }

    #[test]
    fn without_a_recurring_window_it_says_what_was_read() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        let (from, until) = (t("2026-01-05T00:00:00Z"), t("2026-02-02T00:00:00Z"));
        let said = |hours: &[crate::model::DemandHour], from| {
            let p = profile::learn(hours, from, until);
            assert!(p.windows.is_empty(), "{p:#?}");
            prediction(
                p.span(),
                p.from,
                p.until,
                p.days_with_statements,
                Vec::new(),
            )
            .summary()
        };
        // Four weeks read, nothing of this cluster in them (it said "no
        // recurring demand" under "learned from 4 weeks").
        assert_eq!(said(&[], from), "no statement in 4 weeks");
        // One odd afternoon is not a window.
        let once = crate::model::DemandHour {
            hour: t("2026-01-20T14:00:00Z"),
            statements: 3.0,
            first: t("2026-01-20T14:05:00Z"),
            last: t("2026-01-20T14:20:00Z"),
        };
        assert_eq!(
            said(&[once], from),
            "statements on 1 of 28 days, none recurring"
        );
        // The log starts today: no complete day to learn from.
        assert_eq!(said(&[], until), "no complete day of statement history yet");
    }

    #[test]
    fn windows_for_people() {
        let mut on = [true, true, true, true, true, false, false];
        assert_eq!(weekdays(&on), "Mon-Fri");
        on = [true; 7];
        assert_eq!(weekdays(&on), "daily");
        on = [false, false, false, false, false, true, true];
        assert_eq!(weekdays(&on), "Sat,Sun");
        on = [true, false, true, false, false, false, false];
        assert_eq!(weekdays(&on), "Mon,Wed");
        assert_eq!(offset(-1800), "-1d 23:30");
        assert_eq!(offset(9 * 3600 + 5 * 60), "09:05");
        assert_eq!(offset(86_400 + 3600), "+1d 01:00");
    }

    #[test]
    fn the_margin_grows_with_predicted_misses_and_decays_with_hits() {
        let c = PredictConfig {
            margin_s: 120,
            ..PredictConfig::default()
        };
        let mut st = PredictState::default();
        assert_eq!(st.margin(&c), 120.0);
        let t0 = now();
        // Users waited 7 minutes for a prewarm that was late.
        st.waiting(t0, true);
        st.waiting(t0 + Duration::minutes(1), true);
        st.served(&c, t0 + Duration::minutes(7), Some(t0));
        assert_eq!(st.margin(&c), 120.0 + 420.0);
        assert_eq!(st.misses, 1);
        // A surprise (nothing predicted) teaches the margin nothing.
        st.waiting(t0 + Duration::hours(5), false);
        st.served(&c, t0 + Duration::hours(6), None);
        assert_eq!(st.margin(&c), 540.0);
        // Hits decay it towards the configured margin, once per occurrence.
        let day = t0 + Duration::days(1);
        st.hit(&c, day);
        st.hit(&c, day);
        assert_eq!(st.margin(&c), 120.0 + 420.0 * 0.75);
        assert_eq!(st.hits, 1);
        // Never beyond the cap.
        st.waiting(t0, true);
        st.served(&c, t0 + Duration::hours(5), None);
        assert_eq!(st.margin(&c), MAX_MARGIN_S);
    }

    /// The statement log shows an earlier waiting user late (it is flushed
    /// every few seconds, and sampled): the miss counts from that user,
    /// and it was predicted if their demand was.
    #[test]
    fn a_miss_counts_from_its_earliest_waiting_user() {
        let c = PredictConfig {
            margin_s: 120,
            ..PredictConfig::default()
        };
        let mut st = PredictState::default();
        let t0 = now();
        st.waiting(t0 + Duration::minutes(2), false);
        st.waiting(t0, true);
        st.served(&c, t0 + Duration::minutes(7), None);
        assert_eq!(st.margin(&c), 120.0 + 420.0);
        assert_eq!(st.misses, 1);
    }

    /// A session under way when the history read starts (its first hour is
    /// the history's first) has no onset in it: the learned window has
    /// only the days whose sessions began within the history.
    #[test]
    fn a_session_under_way_when_the_history_starts_is_no_onset() {
        let until = "2026-03-02T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap_or_default();
        // 00:00 to 03:00 every night for 32 days, of which 28 are read
        // (32: the search for where they start meets that night's first
        // hour on its way).
        let hours: Vec<crate::model::DemandHour> = (1..=32)
            .rev()
            .flat_map(|d| {
                let day = until - Duration::days(d);
                (0..3).map(move |h| {
                    let hour = day + Duration::hours(h);
                    crate::model::DemandHour {
                        hour,
                        statements: 40.0,
                        first: hour + Duration::minutes(1),
                        last: hour + Duration::minutes(59),
                    }
                })
            })
            .collect();
        let c = ClusterId("u1".into());
        let log = DemandLog {
            from: until - Duration::days(32),
            until,
            clusters: [(c.clone(), hours)].into_iter().collect(),
            profiles: Default::default(),
        };
        let p = profile_of(&log, &c, 28);
        assert_eq!(p.from, until - Duration::days(28));
        assert_eq!(p.days_with_statements, 28);
        assert_eq!(p.windows.len(), 1, "{p:#?}");
        assert_eq!(p.windows[0].days, 27, "{p:#?}");
    }

    #[test]
    fn the_lead_is_hydration_interval_and_margin() {
        let sizes = SizeCatalog::cloud_defaults();
        let mut h = Hydrations::default();
        h.by_size.insert(Size::from("200cc"), vec![600, 660]);
        let lead = Lead::of(&h, &[Size::from("200cc")], &sizes, 60, 120.0);
        assert_eq!(lead.seconds(), 660 + 60 + 120);
        assert_eq!(
            lead.describe(),
            "hydration 11m on 200cc + interval 1m + margin 2m"
        );
        // Waking with nothing known: the slowest measured size.
        let lead = Lead::of(&h, &[], &sizes, 60, 0.0);
        assert_eq!(lead.seconds(), 720);
        let lead = Lead::of(&Hydrations::default(), &[], &sizes, 60, 0.0);
        assert_eq!(lead.seconds(), 660);
    }

    #[test]
    fn the_replay_counts_half_an_interval_and_the_configured_margin_hydrated() {
        let sizes = SizeCatalog::cloud_defaults();
        let mut h = Hydrations::default();
        h.by_size.insert(Size::from("200cc"), vec![600, 660]);
        let wake = [Size::from("200cc")];
        // 11 min + 1 min + the configured 1 min: hydrated 30 s + 60 s before
        // the aim; on demand 30 s + 11 min after the onset.
        let t = Lead::of(&h, &wake, &sizes, 60, 60.0).timing(60);
        assert_eq!(
            t,
            Timing {
                lead_s: 780,
                early_s: 90,
                cold_s: 690
            }
        );
        // Misses widened the margin to 5 min: the wake comes earlier, but
        // the replay counts only the configured minute.
        let t = Lead::of(&h, &wake, &sizes, 60, 300.0).timing(60);
        assert_eq!((t.lead_s, t.early_s, t.cold_s), (1020, 90, 690));
        // A watcher woken on time (no interval), no margin: hydrated at the
        // aim, and on demand after the hydration.
        let t = Lead::of(&h, &wake, &sizes, 0, 0.0).timing(0);
        assert_eq!((t.lead_s, t.early_s, t.cold_s), (660, 0, 660));
        // An odd interval rounds half of it down.
        let t = Lead::of(&h, &wake, &sizes, 61, 0.0).timing(0);
        assert_eq!((t.early_s, t.cold_s), (30, 690));
    }
}
