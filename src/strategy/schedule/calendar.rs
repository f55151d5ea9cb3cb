//! `schedule`'s calendar: when a cron expression starts, its fields read as
//! wall-clock times in an IANA time zone. It owns the cron engine (the `cron`
//! crate is named nowhere else) and the daylight-saving rules below. It must
//! not know windows, sizes or state, and must not read the clock: every
//! instant comes in as an argument.
//!
//! Daylight saving time (the rules of RFC 5545 and of ISC cron):
//! - a wall time that happens twice (the fall-back hour) starts a window once,
//!   on its first pass; the repeated hour starts nothing;
//! - a wall time that does not exist (the spring-forward gap) starts the
//!   window at the moment the clock jumps (e.g. 03:00 CEST for 02:30 on
//!   Europe/Berlin's spring-forward day);
//! - `duration_s` is real elapsed time, so a window spanning a transition
//!   covers one hour more or less of wall-clock time (the decision's concern).
//!
//! Why `cron` and our own time-zone code rather than `croner`, whose searches
//! are time-zone aware: croner applies other rules (an interval expression
//! such as `0 */15 * * * *` starts again in the repeated hour and skips the
//! gap; a fixed time in a gap longer than two hours, Samoa 2011, is an
//! error), so the rules above would still need this file, and croner refuses
//! expressions that parse today (`Monday`, `0/10`).

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A parsed cron expression: 6 or 7 fields (`sec min hour day-of-month month
/// day-of-week [year]`) or an `@` macro such as `@daily`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Recurrence(cron::Schedule);

impl Recurrence {
    /// Parses an expression already in that form. The error is the crate's
    /// explanation (possibly empty), without the copy of the expression and
    /// the caret it draws on lines of their own, and with its bound said
    /// right: the crate writes "Hours must be less than 23" of a 23 it
    /// takes (the highest value allowed).
    pub(super) fn parse(normalized: &str) -> Result<Self, String> {
        cron::Schedule::from_str(normalized)
            .map(Recurrence)
            .map_err(|e| {
                e.to_string()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && *l != "^" && *l != normalized)
                    .collect::<Vec<_>>()
                    .join("; ")
                    .replace(" must be less than ", " must be at most ")
            })
    }

    /// Whether the calendar has any start at all from 2000 on: `30 Feb`,
    /// or a year long past, never comes (checked once, where a row is
    /// validated; the search ends where the cron crate's calendar does).
    pub(super) fn ever_starts(&self) -> bool {
        let from = NaiveDateTime::parse_from_str("2000-01-01 00:00:00", "%Y-%m-%d %H:%M:%S");
        from.ok().is_some_and(|w| self.next_wall(w).is_some())
    }

    /// The first start strictly after `after`, with the DST rules of the
    /// module doc: starts are wall times mapped to instants by `resolve`,
    /// which is monotonic, so "the first wall time after `after`'s wall time"
    /// is the answer, except inside the second pass of a fall-back hour,
    /// whose wall times all map to the first pass, before `after`.
    pub(super) fn next_start(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wall = after.with_timezone(&tz).naive_local();
        let first = self.next_wall(wall).and_then(|n| resolve(tz, n))?;
        if first > after {
            return Some(first);
        }
        let fold_end = first_second_where(wall, 86_400, |m| {
            !matches!(tz.from_local_datetime(m), LocalResult::Ambiguous(..))
        })?;
        let from = fold_end.checked_sub_signed(Duration::seconds(1))?;
        self.next_wall(from)
            .and_then(|n| resolve(tz, n))
            .filter(|s| *s > after)
    }

    /// The first wall-clock time strictly after `wall` that the cron matches.
    /// The cron crate works on a `TimeZone`; UTC carries naive wall times
    /// unchanged.
    fn next_wall(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        self.0
            .after(&Utc.from_utc_datetime(&wall))
            .next()
            .map(|t| t.naive_utc())
    }
}

/// The instant a window starting at wall time `wall` opens: a repeated wall
/// time on its first pass, a skipped one at the moment the clock jumps.
fn resolve(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps are an hour in most zones, a day at most (Samoa, 2011).
            let after_gap = first_second_where(wall, 2 * 86_400, |m| {
                !matches!(tz.from_local_datetime(m), LocalResult::None)
            })?;
            tz.from_local_datetime(&after_gap)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

/// The first whole second in `(from, from + span_s]` where `pred` holds,
/// given that it does not hold at `from` and, once true, stays true in the
/// range (the end of a DST gap or fold). Binary search: bounded work.
fn first_second_where(
    from: NaiveDateTime,
    span_s: i64,
    pred: impl Fn(&NaiveDateTime) -> bool,
) -> Option<NaiveDateTime> {
    let from = from.with_nanosecond(0)?;
    let at = |s: i64| from.checked_add_signed(Duration::seconds(s));
    if !pred(&at(span_s)?) {
        return None;
    }
    let (mut lo, mut hi) = (0, span_s);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if pred(&at(mid)?) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    at(hi)
}

/// The DST rules are pinned through the decision (`choose`, `active`): what
/// an operator sees is whether a window is active, minute by minute.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::schedule::tests::{at, parse, step};
    use crate::strategy::schedule::{active, choose, ScheduleState};
    use crate::strategy::testutil::*;
    use serde_json::json;

    /// Every start from `from` up to `to`, one `next_start` after the other.
    fn starts(tz: &str, cron: &str, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        let r = Recurrence::parse(cron).unwrap();
        let (tz, to): (Tz, _) = (tz.parse().unwrap(), at(to));
        std::iter::successors(r.next_start(tz, at(from)), |t| r.next_start(tz, *t))
            .take_while(|t| *t < to)
            .collect()
    }

    #[test]
    fn next_start_gives_each_wall_time_once_across_transitions() {
        // Spring forward: 02:00..02:45 CET do not exist; they all start at
        // 03:00 CEST, once, and the iteration goes on from there.
        assert_eq!(
            starts(
                "Europe/Berlin",
                "0 */15 * * * *",
                "2026-03-29T01:40:00+01:00",
                "2026-03-29T03:20:00+02:00"
            ),
            vec![
                at("2026-03-29T01:45:00+01:00"),
                at("2026-03-29T03:00:00+02:00"),
                at("2026-03-29T03:15:00+02:00"),
            ]
        );
        // Fall back: 02:00..02:45 happen twice; only the first pass starts.
        assert_eq!(
            starts(
                "Europe/Berlin",
                "0 */15 * * * *",
                "2026-10-25T02:40:00+02:00",
                "2026-10-25T03:20:00+01:00"
            ),
            vec![
                at("2026-10-25T02:45:00+02:00"),
                at("2026-10-25T03:00:00+01:00"),
                at("2026-10-25T03:15:00+01:00"),
            ]
        );
        // Asked from inside the second pass, the next start is after it.
        assert_eq!(
            starts(
                "Europe/Berlin",
                "0 30 2 * * *",
                "2026-10-25T02:10:00+01:00",
                "2026-10-27T00:00:00+01:00"
            ),
            vec![at("2026-10-26T02:30:00+01:00")]
        );
        // Samoa skipped 2011-12-30: noon that day starts when the clock jumps,
        // at midnight of the 31st.
        assert_eq!(
            starts(
                "Pacific/Apia",
                "0 0 12 * * *",
                "2011-12-29T13:00:00-10:00",
                "2011-12-31T13:00:00+14:00"
            ),
            vec![
                at("2011-12-31T00:00:00+14:00"),
                at("2011-12-31T12:00:00+14:00"),
            ]
        );
    }

    /// The intervals during which `cron` (lasting `duration_s`) is active,
    /// sampled every minute over `[from, to)`.
    fn active_intervals(
        tz: &str,
        cron: &str,
        duration_s: u64,
        from: &str,
        to: &str,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let c = parse(&json!({"timezone": tz,
            "windows": [{"cron": cron, "duration_s": duration_s, "size": "25cc"}]}));
        let (mut t, to) = (at(from), at(to));
        let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        let mut open: Option<DateTime<Utc>> = None;
        while t < to {
            let on = choose(&c, &sizes(), t, 0).is_some();
            match (on, open) {
                (true, None) => open = Some(t),
                (false, Some(s)) => {
                    out.push((s, t));
                    open = None;
                }
                _ => {}
            }
            t += Duration::minutes(1);
        }
        if let Some(s) = open {
            out.push((s, to));
        }
        out
    }

    #[test]
    fn dst_spring_forward_window_in_the_gap_opens_when_the_clock_jumps() {
        // Europe/Berlin, 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST.
        // 02:30 does not exist that day: the window opens at 03:00 CEST and
        // lasts its full hour. The days around it are ordinary.
        let got = active_intervals(
            "Europe/Berlin",
            "0 30 2 * * *",
            3600,
            "2026-03-28T00:00:00Z",
            "2026-03-31T00:00:00Z",
        );
        assert_eq!(
            got,
            vec![
                (
                    at("2026-03-28T02:30:00+01:00"),
                    at("2026-03-28T03:30:00+01:00")
                ),
                (
                    at("2026-03-29T03:00:00+02:00"),
                    at("2026-03-29T04:00:00+02:00")
                ),
                (
                    at("2026-03-30T02:30:00+02:00"),
                    at("2026-03-30T03:30:00+02:00")
                ),
            ]
        );
    }

    #[test]
    fn dst_spring_forward_window_across_the_gap_lasts_its_real_duration() {
        // 01:00 CET + 3 h of real time ends at 05:00 CEST (04:00 on the wall
        // clock of an ordinary day): 180 minutes, once, without flapping.
        let got = active_intervals(
            "Europe/Berlin",
            "0 0 1 * * *",
            3 * 3600,
            "2026-03-28T22:00:00Z",
            "2026-03-29T22:00:00Z",
        );
        assert_eq!(
            got,
            vec![(
                at("2026-03-29T01:00:00+01:00"),
                at("2026-03-29T05:00:00+02:00")
            )]
        );
        assert_eq!((got[0].1 - got[0].0).num_minutes(), 180);
        let c = parse(&json!({"timezone": "Europe/Berlin",
            "windows": [{"cron": "0 0 1 * * *", "duration_s": 10_800, "size": "25cc"}]}));
        let d = step(
            &c,
            &cluster("c", vec![]),
            at("2026-03-29T03:30:00+02:00"),
            &mut ScheduleState::default(),
        );
        assert!(
            d.replicas["r_25cc"]
                .added_by
                .as_ref()
                .unwrap()
                .reason
                .ends_with("until 05:00 CEST"),
            "{:?}",
            d.replicas["r_25cc"].added_by
        );
    }

    #[test]
    fn dst_fall_back_window_in_the_repeated_hour_opens_once() {
        // Europe/Berlin, 2026-10-25: 03:00 CEST (01:00Z) falls back to 02:00
        // CET, so 02:30 happens twice. The window opens on the first pass
        // (02:30 CEST) and lasts one real hour, i.e. until 02:30 CET; the
        // second 02:30 does not open it again.
        let got = active_intervals(
            "Europe/Berlin",
            "0 30 2 * * *",
            3600,
            "2026-10-24T20:00:00Z",
            "2026-10-25T20:00:00Z",
        );
        assert_eq!(
            got,
            vec![(
                at("2026-10-25T02:30:00+02:00"),
                at("2026-10-25T02:30:00+01:00")
            )]
        );
    }

    /// The documented rules, computed the slow way: walk the wall clock
    /// minute by minute, map each match to an instant.
    fn reference_starts(
        tz: Tz,
        schedule: &cron::Schedule,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut wall = from
            .with_timezone(&tz)
            .naive_local()
            .with_second(0)
            .unwrap();
        let end = to.with_timezone(&tz).naive_local();
        while wall < end {
            if schedule.includes(Utc.from_utc_datetime(&wall)) {
                let instant = match tz.from_local_datetime(&wall) {
                    LocalResult::Single(t) => t,
                    LocalResult::Ambiguous(first, _) => first,
                    LocalResult::None => {
                        let mut later = wall;
                        loop {
                            later += Duration::minutes(1);
                            if let Some(t) = tz.from_local_datetime(&later).earliest() {
                                break t;
                            }
                        }
                    }
                };
                out.push(instant.with_timezone(&Utc));
            }
            wall += Duration::minutes(1);
        }
        out
    }

    #[test]
    fn dst_fast_lookup_matches_the_reference_around_transitions() {
        let transitions = [
            ("Europe/Berlin", "2026-03-29T01:00:00Z"),
            ("Europe/Berlin", "2026-10-25T01:00:00Z"),
            ("America/New_York", "2026-03-08T07:00:00Z"),
            ("America/New_York", "2026-11-01T06:00:00Z"),
            // Half-hour shifts.
            ("Australia/Lord_Howe", "2026-04-04T15:00:00Z"),
            ("Australia/Lord_Howe", "2026-10-03T15:30:00Z"),
            // Samoa skipped 2011-12-30 entirely.
            ("Pacific/Apia", "2011-12-30T10:00:00Z"),
        ];
        let crons = [
            ("0 */15 * * * *", 600),
            ("0 */15 * * * *", 3600),
            ("0 0 * * * *", 300),
            ("0 30 2 * * *", 3600),
            ("0 0 2 * * *", 60),
            ("0 59 1 * * *", 120),
            ("0 0 3 * * *", 7200),
            ("0 0 12 * * *", 86_400),
        ];
        for (zone, transition) in transitions {
            let tz: Tz = zone.parse().unwrap();
            let mid = at(transition);
            for (cron, duration_s) in crons {
                let c = parse(&json!({"timezone": zone,
                    "windows": [{"cron": cron, "duration_s": duration_s, "size": "25cc"}]}));
                let w = &c.windows[0];
                let starts = reference_starts(
                    tz,
                    &w.schedule.0,
                    mid - Duration::days(3),
                    mid + Duration::days(2),
                );
                for prewarm_s in [0, 900] {
                    let mut t = mid - Duration::hours(6) + Duration::seconds(17);
                    while t < mid + Duration::hours(6) {
                        let lo = t - Duration::seconds(duration_s as i64);
                        let hi = t + Duration::seconds(prewarm_s as i64);
                        let want = starts.iter().find(|s| lo < **s && **s <= hi);
                        let got = active(w, tz, t, prewarm_s).map(|a| a.start);
                        assert_eq!(
                            got,
                            want.copied(),
                            "{zone} '{cron}' {duration_s}s prewarm {prewarm_s}s at {t}"
                        );
                        t += Duration::seconds(60);
                    }
                }
            }
        }
    }
}
