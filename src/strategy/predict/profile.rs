//! The learned demand profile of one cluster: when its demand recurs, from
//! the statement log's history by hour (`DemandHour`s over complete past
//! days, UTC).
//!
//! 1. **Sessions**: hours with statements are joined into sessions while the
//!    next hour's first statement comes within [`LINK_S`] of the previous
//!    last one; a session longer than a day (a cluster busy around the
//!    clock) is cut at each midnight.
//! 2. **Windows**: sessions are grouped by their start's time of day (on the
//!    24-hour circle, cut at its largest empty gap; single linkage within
//!    [`LINK_S`]), so a window's occurrences can wander and cross midnight
//!    (a nightly batch between 23:00 and 03:00 is one window). Each
//!    occurrence belongs to the day its window's midnight falls on.
//! 3. **Robust statistics** per window: the earliest onset is the smallest
//!    one not below the lower fence (Q1 − 1.5 IQR), so one odd early day
//!    does not move every prewarm; the share of each weekday's days on which
//!    it occurred (a holiday lowers one weekday's share by one week; a
//!    window seen on only one day — a one-off spike — never counts as
//!    recurring); a conservative rate (the tenth percentile of its days'
//!    rates) that tells how long a silence means the session is over.
//!
//! Pure: no clock, no I/O; `from`/`until` come with the history.

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::model::DemandHour;
pub use crate::model::{DaySample, Profile, Spread, Window, PRIOR_DAYS, RECURS};

/// Statements closer than this belong to one session; session starts
/// closer than this (on the time-of-day circle) belong to one window.
pub const LINK_S: i64 = 3600;
const DAY_S: i64 = 86_400;
/// One session: a run of statements without a silence of [`LINK_S`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Session {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub statements: f64,
}

pub fn midnight(t: DateTime<Utc>) -> DateTime<Utc> {
    t.date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|n| n.and_utc())
        .unwrap_or(t)
}

/// Monday = 0.
pub fn weekday(t: DateTime<Utc>) -> usize {
    t.weekday().num_days_from_monday() as usize
}

/// Sessions of a cluster's hours (sorted by hour).
pub fn sessions(hours: &[DemandHour]) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    for h in hours {
        match out.last_mut() {
            Some(s) if (h.first - s.end).num_seconds() <= LINK_S => {
                s.end = s.end.max(h.last);
                s.statements += h.statements;
            }
            _ => out.push(Session {
                start: h.first,
                end: h.last,
                statements: h.statements,
            }),
        }
    }
    out.into_iter().flat_map(cut_at_midnights).collect()
}

/// A session longer than a day, cut at each midnight (statements shared by
/// time); shorter ones unchanged.
fn cut_at_midnights(s: Session) -> Vec<Session> {
    if (s.end - s.start).num_seconds() <= DAY_S {
        return vec![s];
    }
    let total = (s.end - s.start).num_seconds().max(1) as f64;
    let mut out = Vec::new();
    let mut a = s.start;
    while a < s.end {
        let b = (midnight(a) + Duration::days(1)).min(s.end);
        out.push(Session {
            start: a,
            end: b,
            statements: s.statements * (b - a).num_seconds() as f64 / total,
        });
        a = b;
    }
    out
}

/// The profile of a cluster's history `[from, until)` (`from`: where the
/// statement log's data starts; a day without statements counts as a day
/// without demand). `hours` sorted.
pub fn learn(hours: &[DemandHour], from: DateTime<Utc>, until: DateTime<Utc>) -> Profile {
    let from = midnight(from).min(until);
    let mut observed = [0u16; 7];
    let mut d = from;
    while d < until {
        observed[weekday(d)] += 1;
        d += Duration::days(1);
    }
    // A session under way when the history starts is cut there: its start
    // is not an onset.
    let all: Vec<Session> = sessions(hours)
        .into_iter()
        .filter(|s| s.start - from >= Duration::hours(1))
        .collect();
    let windows = group(&all, from, until);
    // Hours are sorted: a day is counted at its first hour with statements.
    let (mut days_with_statements, mut last) = (0u16, None);
    for h in hours
        .iter()
        .filter(|h| h.statements > 0.0 && h.hour >= from && h.hour < until)
    {
        let day = midnight(h.hour);
        if last != Some(day) {
            days_with_statements = days_with_statements.saturating_add(1);
            last = Some(day);
        }
    }
    Profile {
        from,
        until,
        observed,
        days_with_statements,
        windows,
    }
}

fn tod(t: DateTime<Utc>) -> i64 {
    (t - midnight(t)).num_seconds()
}

/// Sessions grouped into windows by their start's time of day.
fn group(sessions: &[Session], from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Window> {
    if sessions.is_empty() {
        return Vec::new();
    }
    let mut tods: Vec<i64> = sessions.iter().map(|s| tod(s.start)).collect();
    tods.sort_unstable();
    // Cut the circle in the middle of its largest empty arc.
    let mut cut = (tods[tods.len() - 1] + (tods[0] + DAY_S - tods[tods.len() - 1]) / 2) % DAY_S;
    let mut widest = tods[0] + DAY_S - tods[tods.len() - 1];
    for w in tods.windows(2) {
        if w[1] - w[0] > widest {
            widest = w[1] - w[0];
            cut = w[0] + widest / 2;
        }
    }
    let rotated = |s: &Session| (tod(s.start) - cut).rem_euclid(DAY_S);
    let mut order: Vec<&Session> = sessions.iter().collect();
    order.sort_by_key(|s| rotated(s));
    let mut groups: Vec<Vec<&Session>> = Vec::new();
    let mut last = i64::MIN;
    for s in order {
        let v = rotated(s);
        match groups.last_mut() {
            Some(g) if v - last <= LINK_S => g.push(s),
            _ => groups.push(vec![s]),
        }
        last = v;
    }
    let mut windows: Vec<Window> = groups
        .iter()
        .filter_map(|g| window_of(g, cut, from, until))
        .collect();
    windows.sort_by_key(|w| w.onset.low);
    windows
}

/// One group's window, or `None` when it occurred on fewer than two days.
fn window_of(
    g: &[&Session],
    cut: i64,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<Window> {
    // Offsets from the occurrence day's midnight: keep the group's median
    // within the day.
    let mut offs: Vec<i64> = g
        .iter()
        .map(|s| (tod(s.start) - cut).rem_euclid(DAY_S) + cut)
        .collect();
    let mut sorted = offs.clone();
    sorted.sort_unstable();
    if sorted[sorted.len() / 2] >= DAY_S {
        offs.iter_mut().for_each(|o| *o -= DAY_S);
    }
    // Per day: the earliest start, the latest end, statements and span.
    struct Day {
        day: DateTime<Utc>,
        onset: i64,
        end: i64,
        statements: f64,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    }
    let mut days: Vec<Day> = Vec::new();
    for (s, off) in g.iter().zip(&offs) {
        // `off` is the start's time of day (mod a day): this is a midnight.
        let day = s.start - Duration::seconds(*off);
        if day < from - Duration::days(1) || day >= until {
            continue;
        }
        let end = (s.end - day).num_seconds();
        match days.iter_mut().find(|d| d.day == day) {
            Some(d) => {
                d.onset = d.onset.min(*off);
                d.end = d.end.max(end);
                d.statements += s.statements;
                d.first = d.first.min(s.start);
                d.last = d.last.max(s.end);
            }
            None => days.push(Day {
                day,
                onset: *off,
                end,
                statements: s.statements,
                first: s.start,
                last: s.end,
            }),
        }
    }
    if days.len() < 2 {
        return None;
    }
    let mut occurred = [0u16; 7];
    for d in &days {
        occurred[weekday(d.day)] += 1;
    }
    let mut rates: Vec<f64> = days
        .iter()
        .map(|d| d.statements / ((d.last - d.first).num_seconds().max(600) as f64))
        .collect();
    let mut samples: Vec<DaySample> = days
        .iter()
        .zip(&rates)
        .map(|(d, rate)| DaySample {
            weekday: weekday(d.day) as u8,
            onset: d.onset,
            rate: *rate,
            statements: d.statements,
            week: ((d.day - from).num_days().max(0) / 7).min(255) as u8,
        })
        .collect();
    samples.sort_by_key(|s| s.onset);
    rates.sort_by(f64::total_cmp);
    let rate = rates[(rates.len() - 1) / 10];
    Some(Window {
        onset: spread(days.iter().map(|d| d.onset).collect()),
        end: spread(days.iter().map(|d| d.end).collect()),
        duration: spread(days.iter().map(|d| d.end - d.onset).collect()),
        occurred,
        days: days.len() as u16,
        rate,
        samples,
    })
}

/// Fenced low, median and high of at least one value.
pub(crate) fn spread(mut v: Vec<i64>) -> Spread {
    v.sort_unstable();
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let (q1, med, q3) = (q(0.25), q(0.5), q(0.75));
    let iqr = q3 - q1;
    let (lo_fence, hi_fence) = if v.len() >= 4 {
        (q1 - iqr * 3 / 2, q3 + iqr * 3 / 2)
    } else {
        (i64::MIN, i64::MAX)
    };
    let low = v.iter().copied().find(|x| *x >= lo_fence).unwrap_or(v[0]);
    let high = v
        .iter()
        .rev()
        .copied()
        .find(|x| *x <= hi_fence)
        .unwrap_or(v[v.len() - 1]);
    Spread {
        low,
        median: med,
        high,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Hours of steady demand from `start` for `minutes`, `qps` per second.
    pub(crate) fn busy(start: DateTime<Utc>, minutes: i64, qps: f64) -> Vec<DemandHour> {
        let end = start + Duration::minutes(minutes);
        let mut out = Vec::new();
        let mut h = start - Duration::seconds(tod(start) % 3600);
        while h < end {
            let a = start.max(h);
            let b = end.min(h + Duration::hours(1));
            out.push(DemandHour {
                hour: h,
                statements: qps * (b - a).num_seconds() as f64,
                first: a,
                last: b - Duration::seconds(1),
            });
            h += Duration::hours(1);
        }
        out
    }

    fn merged(mut v: Vec<DemandHour>) -> Vec<DemandHour> {
        v.sort_by_key(|h| h.hour);
        let mut out: Vec<DemandHour> = Vec::new();
        for h in v {
            match out.last_mut() {
                Some(l) if l.hour == h.hour => {
                    l.statements += h.statements;
                    l.first = l.first.min(h.first);
                    l.last = l.last.max(h.last);
                }
                _ => out.push(h),
            }
        }
        out
    }

    /// Four weeks of weekday office hours starting at 08:30 + `jitter(day)`
    /// minutes, from Monday 2026-01-05.
    fn office(jitter: impl Fn(i64) -> i64, skip: &[i64]) -> Vec<DemandHour> {
        let mut hours = Vec::new();
        for day in 0..28 {
            if day % 7 >= 5 || skip.contains(&day) {
                continue;
            }
            let start =
                t("2026-01-05T08:30:00Z") + Duration::days(day) + Duration::minutes(jitter(day));
            hours.extend(busy(start, 540, 0.05));
        }
        merged(hours)
    }

    #[test]
    fn a_session_longer_than_a_day_is_cut_at_each_midnight_sharing_its_statements_by_time() {
        let long = Session {
            start: t("2026-01-05T12:00:00Z"),
            end: t("2026-01-07T06:00:00Z"),
            statements: 420.0,
        };
        let piece = |start: &str, end: &str, statements: f64| Session {
            start: t(start),
            end: t(end),
            statements,
        };
        assert_eq!(
            cut_at_midnights(long),
            [
                piece("2026-01-05T12:00:00Z", "2026-01-06T00:00:00Z", 120.0),
                piece("2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z", 240.0),
                piece("2026-01-07T00:00:00Z", "2026-01-07T06:00:00Z", 60.0),
            ]
        );
        // A day exactly is not cut.
        let day = piece("2026-01-05T12:00:00Z", "2026-01-06T12:00:00Z", 10.0);
        assert_eq!(cut_at_midnights(day), [day]);
    }

    #[test]
    fn days_with_statements_count_the_history_only_and_each_day_once() {
        let (from, until) = (t("2026-01-05T00:00:00Z"), t("2026-01-08T00:00:00Z"));
        let hour = |at: &str, statements: f64| DemandHour {
            hour: t(at),
            statements,
            first: t(at),
            last: t(at) + Duration::minutes(5),
        };
        let hours = [
            // Before the history: not counted.
            hour("2026-01-04T23:00:00Z", 5.0),
            // Two hours of one day: one day.
            hour("2026-01-05T09:00:00Z", 5.0),
            hour("2026-01-05T10:00:00Z", 5.0),
            // An hour without statements: no day.
            hour("2026-01-06T09:00:00Z", 0.0),
            hour("2026-01-07T09:00:00Z", 5.0),
            // The history's end is not in it.
            hour("2026-01-08T00:00:00Z", 5.0),
        ];
        assert_eq!(learn(&hours, from, until).days_with_statements, 2);
    }

    #[test]
    fn starts_spread_over_the_day_are_one_window_wherever_the_circle_is_cut() {
        // One session a day, each starting an hour later than the day
        // before's (`extra`: one more, `minutes` after the last): one window,
        // the circle cut in the middle of the empty arc after the last start,
        // not among the starts.
        let spread = |first: &str, days: i64, extra: Option<i64>| {
            let start = |day: i64| t(first) + Duration::days(day) + Duration::hours(day);
            let mut starts: Vec<DateTime<Utc>> = (0..days).map(start).collect();
            if let Some(minutes) = extra {
                starts.push(start(days - 1) + Duration::days(1) + Duration::minutes(minutes));
            }
            let n = starts.len();
            let hours = merged(starts.into_iter().flat_map(|s| busy(s, 30, 0.05)).collect());
            let p = learn(&hours, t("2026-01-01T00:00:00Z"), t("2026-02-01T00:00:00Z"));
            assert_eq!(p.windows.len(), 1, "{first}: {:#?}", p.windows);
            assert_eq!(
                usize::from(p.windows[0].days),
                n,
                "{first}: {:#?}",
                p.windows
            );
        };
        spread("2026-01-05T08:00:00Z", 11, None);
        spread("2026-01-05T13:00:00Z", 11, None);
        spread("2026-01-05T02:00:00Z", 21, None);
        spread("2026-01-05T03:00:00Z", 19, Some(30));
        // Across midnight: 20:00 to 06:00.
        spread("2026-01-05T20:00:00Z", 11, None);
    }

    #[test]
    fn a_nightly_occurrence_after_the_historys_first_midnight_counts_for_the_day_before() {
        // A window around 23:00: its occurrence at 01:00 on the history's
        // first day (an hour in, so not one under way at its start) began
        // the night before; it counts, for that day.
        let from = t("2026-01-05T00:00:00Z");
        let starts = [
            "2026-01-05T01:00:00Z",
            "2026-01-05T23:00:00Z",
            "2026-01-06T23:20:00Z",
            "2026-01-07T23:40:00Z",
            "2026-01-09T00:15:00Z",
            "2026-01-09T23:10:00Z",
        ];
        let hours = merged(starts.iter().flat_map(|s| busy(t(s), 20, 0.05)).collect());
        let p = learn(&hours, from, t("2026-01-12T00:00:00Z"));
        assert_eq!(p.windows.len(), 1, "{:#?}", p.windows);
        assert_eq!(p.windows[0].days, 6, "{:#?}", p.windows);
        assert_eq!(p.windows[0].onset.high, 25 * 3600, "{:#?}", p.windows);
    }

    #[test]
    fn a_windows_days_weeks_statements_and_slow_day_rate() {
        let from = t("2026-01-05T00:00:00Z");
        let until = t("2026-02-02T00:00:00Z");
        // Ten days, two or three days apart, an hour from 09:00 and five
        // minutes later each day, each busier than the one before; the first
        // is ten minutes, then a second session after more than an hour's
        // silence, within the window (the later days' starts link them).
        let days: Vec<i64> = (0..10).map(|i| i * 5 / 2).collect();
        let mut hours = Vec::new();
        for (i, day) in days.iter().enumerate().skip(1) {
            let start =
                t("2026-01-05T09:00:00Z") + Duration::days(*day) + Duration::minutes(5 * i as i64);
            hours.extend(busy(start, 60, 0.01 * (i + 1) as f64));
        }
        hours.extend(busy(t("2026-01-05T09:00:00Z"), 10, 0.01));
        hours.extend(busy(t("2026-01-05T10:15:00Z"), 10, 0.5));
        let p = learn(&merged(hours), from, until);
        assert_eq!(p.windows.len(), 1, "{:#?}", p.windows);
        let w = &p.windows[0];
        assert_eq!(w.days, 10);
        let mut samples = w.samples.clone();
        samples.sort_by_key(|s| s.week);
        let weeks: Vec<u8> = samples.iter().map(|s| s.week).collect();
        let want: Vec<u8> = days.iter().map(|d| (d / 7) as u8).collect();
        assert_eq!(weeks, want);
        // The first day's statements are both its sessions'.
        let first = w.samples.iter().find(|s| s.week == 0 && s.weekday == 0);
        let both = 0.01 * 600.0 + 0.5 * 600.0;
        assert!(
            first.is_some_and(|s| (s.statements - both).abs() < 1e-6),
            "{first:?}"
        );
        // The slow day's rate: the tenth percentile of ten days is the
        // lowest (the second day's, the first being busier with its second
        // session).
        let mut rates: Vec<f64> = w.samples.iter().map(|s| s.rate).collect();
        rates.sort_by(f64::total_cmp);
        assert_eq!(w.rate, rates[0]);
        assert!(rates[0] < rates[1], "{rates:?}");
        // Seen on two days only: still a window (a day past the history's
        // end is not in it).
        let two = merged(
            [
                t("2026-01-06T09:00:00Z"),
                t("2026-01-13T09:00:00Z"),
                until + Duration::hours(9),
            ]
            .into_iter()
            .flat_map(|s| busy(s, 60, 0.05))
            .collect(),
        );
        let p = learn(&two, from, until);
        assert_eq!(p.windows.iter().map(|w| w.days).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_spread_fences_at_one_and_a_half_interquartile_ranges() {
        // Quartiles 100 and 200: the fences are -50 and 350, each inside.
        let v = vec![-51, -50, 100, 100, 100, 150, 200, 200, 200, 350, 351];
        assert_eq!(
            spread(v),
            Spread {
                low: -50,
                median: 150,
                high: 350
            }
        );
        // Fewer than four values: no fence.
        assert_eq!(
            spread(vec![1000, 5, 3]),
            Spread {
                low: 3,
                median: 5,
                high: 1000
            }
        );
    }

    #[test]
    fn the_circle_is_cut_in_its_widest_gap_not_the_first_wider_than_the_night() {
        // One session a day at these hours: three windows, 00–02, 05–09
        // and 15–22, apart by gaps of 2 h (over midnight), 3 h and 6 h.
        let at: Vec<i64> = [0, 1, 2, 5, 6, 7, 8, 9]
            .into_iter()
            .chain(15..=22)
            .collect();
        let hours = merged(
            at.iter()
                .enumerate()
                .flat_map(|(day, h)| {
                    let start = t("2026-01-05T00:00:00Z") + Duration::days(day as i64);
                    busy(start + Duration::hours(*h), 30, 0.05)
                })
                .collect(),
        );
        let p = learn(&hours, t("2026-01-01T00:00:00Z"), t("2026-02-01T00:00:00Z"));
        let windows: Vec<(i64, u16)> = p.windows.iter().map(|w| (w.onset.low, w.days)).collect();
        assert_eq!(windows, [(0, 3), (5 * 3600, 5), (15 * 3600, 8)]);
    }

    #[test]
    fn office_hours_make_one_weekday_window() {
        let hours = office(|d| (d * 37 % 61) - 30, &[]);
        let p = learn(&hours, t("2026-01-05T00:00:00Z"), t("2026-02-02T00:00:00Z"));
        assert_eq!(p.days(), 28);
        assert_eq!(p.span(), "4 weeks");
        assert_eq!(p.days_with_statements, 20);
        assert_eq!(p.windows.len(), 1, "{p:#?}");
        let w = &p.windows[0];
        assert_eq!(w.days, 20);
        assert_eq!(w.occurred, [4, 4, 4, 4, 4, 0, 0]);
        for wd in 0..5 {
            assert!(w.expected_on(wd, &p.observed));
        }
        assert!(!w.expected_on(5, &p.observed) && !w.expected_on(6, &p.observed));
        // The earliest start is the earliest day's (08:00), not the median.
        let earliest = (0..28)
            .filter(|d| d % 7 < 5)
            .map(|d| d * 37 % 61 - 30)
            .min()
            .unwrap();
        assert_eq!(w.onset.low, 8 * 3600 + 30 * 60 + earliest * 60);
        assert!(w.onset.median > w.onset.low && w.onset.high > w.onset.median);
        assert!((w.rate - 0.05).abs() < 0.005, "{}", w.rate);
    }

    #[test]
    fn holidays_and_one_off_spikes_do_not_break_the_profile() {
        // A Monday holiday, and a spike at 03:00 on one Wednesday.
        let mut hours = office(|_| 0, &[14]);
        hours.extend(busy(t("2026-01-14T03:00:00Z"), 30, 1.0));
        let hours = merged(hours);
        let p = learn(&hours, t("2026-01-05T00:00:00Z"), t("2026-02-02T00:00:00Z"));
        assert_eq!(p.windows.len(), 1, "the spike is not a window: {p:#?}");
        let w = &p.windows[0];
        assert_eq!(w.occurred[0], 3, "three of four Mondays");
        assert!(
            w.expected_on(0, &p.observed),
            "a holiday does not cancel Mondays"
        );
        assert_eq!(w.onset.low, 8 * 3600 + 30 * 60);
    }

    #[test]
    fn one_odd_early_day_is_fenced_out() {
        // Tight 08:25-08:35 starts, and one day at 07:45: close enough to be
        // the same window, too far below the others to set every prewarm.
        let hours = office(|d| if d == 9 { -45 } else { (d % 3) * 5 - 5 }, &[]);
        let p = learn(&hours, t("2026-01-05T00:00:00Z"), t("2026-02-02T00:00:00Z"));
        let w = &p.windows[0];
        assert_eq!(w.onset.low, 8 * 3600 + 25 * 60, "{:?}", w.onset);
    }

    #[test]
    fn a_nightly_batch_across_midnight_is_one_window() {
        let mut hours = Vec::new();
        for day in 0..14 {
            // 23:00 .. 03:00, every night.
            let start = t("2026-01-05T23:00:00Z")
                + Duration::days(day)
                + Duration::minutes((day * 53) % 240);
            hours.extend(busy(start, 90, 0.3));
        }
        let hours = merged(hours);
        let p = learn(&hours, t("2026-01-05T00:00:00Z"), t("2026-01-20T00:00:00Z"));
        assert_eq!(p.windows.len(), 1, "{p:#?}");
        let w = &p.windows[0];
        assert!(
            w.onset.low < 0,
            "starts before the day's midnight: {:?}",
            w.onset
        );
        assert!(w.onset.high > 0, "{:?}", w.onset);
        assert!(w.days >= 13);
    }

    #[test]
    fn round_the_clock_demand_is_one_daily_window() {
        let hours = busy(t("2026-01-05T00:00:00Z"), 14 * 24 * 60, 0.2);
        let p = learn(&hours, t("2026-01-05T00:00:00Z"), t("2026-01-19T00:00:00Z"));
        assert_eq!(p.windows.len(), 1, "{p:#?}");
        let w = &p.windows[0];
        assert_eq!(w.onset.low, 0);
        assert!(w.end.high >= DAY_S - 2);
        assert!(w.expected_on(3, &p.observed));
    }

    #[test]
    fn no_history_no_windows() {
        let p = learn(&[], t("2026-01-05T00:00:00Z"), t("2026-02-02T00:00:00Z"));
        assert!(p.windows.is_empty());
        assert_eq!(p.days(), 28, "four weeks without a statement");
    }

    #[test]
    fn every_other_day_is_not_a_weekly_pattern() {
        let mut hours = Vec::new();
        for day in (0..28).step_by(2) {
            hours.extend(busy(
                t("2026-01-05T14:00:00Z") + Duration::days(day),
                45,
                0.01,
            ));
        }
        let p = learn(
            &merged(hours),
            t("2026-01-05T00:00:00Z"),
            t("2026-02-02T00:00:00Z"),
        );
        assert_eq!(p.windows.len(), 1);
        let w = &p.windows[0];
        for wd in 0..7 {
            assert_eq!(w.occurred[wd], 2);
            assert!(!w.expected_on(wd, &p.observed), "two of four weeks");
        }
    }

    #[test]
    fn spreads_are_fenced() {
        let s = spread(vec![100, 101, 102, 103, 104, 105, -500, 900]);
        assert_eq!((s.low, s.high), (100, 105));
        let s = spread(vec![5, 1]);
        assert_eq!((s.low, s.median, s.high), (1, 5, 5));
    }
}
