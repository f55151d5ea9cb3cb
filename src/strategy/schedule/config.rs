//! `schedule`'s config row: reads and checks `mz_cluster_strategies.config`
//! for a `schedule` strategy (timezone, prewarm, windows with their cron text,
//! default shape) and turns it into a [`ScheduleConfig`], or into a
//! [`ConfigError`] that names the key and says what would be accepted. It
//! must not decide anything nor compute occurrences: what a window means is
//! `schedule`'s, when it starts is the calendar's.
//!
//! Keys (see the example in `schedule`):
//! - `timezone` (required): an IANA name; cron fields are wall-clock times there.
//! - `prewarm_s` (default 0, at most 86400): start replicas this long before a
//!   window opens (windows with `replicas` 0 open on time). The effective prewarm is the larger of this and 1.2 × the
//!   learned hydration time (an exponentially weighted average over the
//!   replicas this strategy created, kept in its state slot).
//! - `windows` (1 to 64): `cron` (`sec min hour day-of-month month day-of-week
//!   [year]`; a 5-field expression gets second 0; days of the week by name,
//!   `Mon-Fri`, because dialects disagree whether 0 or 1 is Sunday),
//!   `duration_s` (60 s to 7 days), `size` (an offered size; may be left out
//!   when `replicas` is 0), `replicas` (0..=16, default 1).
//! - `default` (optional, same `size`/`replicas` keys): the shape outside
//!   every window. Without it the strategy leaves the cluster as the previous
//!   strategies decided.

use std::str::FromStr;

use chrono_tz::Tz;
use serde::Serialize;

use super::calendar::Recurrence;
use crate::model::{Size, SizeCatalog};
use crate::strategy::config::{ConfigError, Obj};
use crate::strategy::keys;

const MIN_DURATION_S: u64 = 60;
const MAX_DURATION_S: u64 = 7 * 86_400;
const MAX_REPLICAS: u64 = 16;
const MAX_PREWARM_S: u64 = 86_400;
const MAX_WINDOWS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleConfig {
    pub timezone: String,
    #[serde(skip)]
    pub(super) tz: Tz,
    pub prewarm_s: u64,
    pub windows: Vec<Window>,
    pub default: Option<Shape>,
    /// Managed clusters on releases without graceful resize: resize with a
    /// restart (downtime) rather than not at all.
    pub allow_downtime: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// As configured (shown in reasons).
    pub cron: String,
    #[serde(skip)]
    pub(super) schedule: Recurrence,
    pub duration_s: u64,
    #[serde(flatten)]
    pub shape: Shape,
}

/// What a cluster should run: `replicas` replicas of `size`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shape {
    /// `None` only when `replicas` is 0.
    pub size: Option<Size>,
    pub replicas: u32,
}

impl ScheduleConfig {
    pub(crate) fn parse(o: &Obj, sizes: &SizeCatalog) -> Result<Self, ConfigError> {
        let timezone = o.opt_string(keys::TIMEZONE.name)?.ok_or_else(|| {
            ConfigError::new(
                keys::TIMEZONE.name,
                "is required (an IANA name such as Europe/Berlin or UTC)",
            )
        })?;
        let tz = parse_tz(&timezone)?;
        let prewarm_s = o
            .opt_seconds_in(keys::PREWARM_S.name, 0, MAX_PREWARM_S)?
            .unwrap_or(0);
        let raw_windows = o.opt_array(keys::WINDOWS.name)?.ok_or_else(|| {
            ConfigError::new(
                keys::WINDOWS.name,
                "is required (a list of {cron, duration_s, size, replicas})",
            )
        })?;
        if raw_windows.is_empty() || raw_windows.len() > MAX_WINDOWS {
            return Err(ConfigError::new(
                keys::WINDOWS.name,
                format!(
                    "must list 1..={MAX_WINDOWS} windows, got {}",
                    raw_windows.len()
                ),
            ));
        }
        let windows = raw_windows
            .iter()
            .enumerate()
            .map(|(i, w)| Window::parse(w, sizes).map_err(|e| e.within(&format!("windows[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        let default = match o.opt_object(keys::DEFAULT.name)? {
            Some(raw) => Some(
                nested(raw, |n| Shape::parse(n, sizes))
                    .map_err(|e| e.within(keys::DEFAULT.name))?,
            ),
            None => None,
        };
        let allow_downtime = o.opt_bool(keys::ALLOW_DOWNTIME.name)?.unwrap_or(false);
        Ok(ScheduleConfig {
            timezone,
            tz,
            prewarm_s,
            windows,
            default,
            allow_downtime,
        })
    }
}

impl Window {
    fn parse(raw: &serde_json::Value, sizes: &SizeCatalog) -> Result<Self, ConfigError> {
        nested(raw, |o| {
            let cron = o.opt_string("cron")?.ok_or_else(|| {
                ConfigError::new("cron", "is required (e.g. \"0 0 8 * * Mon-Fri\")")
            })?;
            let schedule = parse_cron(&cron)?;
            let duration_s = o
                .opt_seconds_in("duration_s", MIN_DURATION_S, MAX_DURATION_S)?
                .ok_or_else(|| {
                    ConfigError::new(
                        "duration_s",
                        format!("is required (seconds, {MIN_DURATION_S}..={MAX_DURATION_S})"),
                    )
                })?;
            Ok(Window {
                cron,
                schedule,
                duration_s,
                shape: Shape::parse(o, sizes)?,
            })
        })
    }
}

impl Shape {
    fn parse(o: &Obj, sizes: &SizeCatalog) -> Result<Self, ConfigError> {
        let replicas = o.opt_u64_in("replicas", 0, MAX_REPLICAS)?.unwrap_or(1) as u32;
        let size = if replicas == 0 {
            // Optional, but checked when given: a typo should not hide.
            match o.opt_string("size")? {
                Some(_) => Some(o.size("size", sizes)?),
                None => None,
            }
        } else {
            Some(o.size("size", sizes)?)
        };
        Ok(Shape { size, replicas })
    }
}

/// Parses a nested object, refusing keys its parser did not read: inside a
/// window a typo would silently change the schedule.
fn nested<T>(
    raw: &serde_json::Value,
    f: impl FnOnce(&Obj) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let o = Obj::new(raw)?;
    let out = f(&o)?;
    if let Some(key) = o.unknown_keys().first() {
        return Err(ConfigError::new(
            key,
            format!("unknown key; allowed here: {}", o.read_keys().join(", ")),
        ));
    }
    Ok(out)
}

fn parse_tz(name: &str) -> Result<Tz, ConfigError> {
    if let Ok(tz) = Tz::from_str(name) {
        return Ok(tz);
    }
    let lower = name.to_ascii_lowercase();
    let closest = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                strsim::levenshtein(&lower, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .min();
    let hint = match closest {
        // Not a zone's name: no guess at one ("did you mean 'ROC'?").
        _ if matches!(lower.as_str(), "local" | "localtime" | "system") => {
            "; a window's hours are read in a named zone, never the machine's: name it".into()
        }
        Some((d, n)) if d <= 3 => format!("; did you mean '{n}'?"),
        _ => String::new(),
    };
    Err(ConfigError::new(
        keys::TIMEZONE.name,
        format!("unknown IANA timezone '{name}' (e.g. Europe/Berlin, America/New_York, UTC){hint}"),
    ))
}

/// The documented syntax (6 or 7 fields, 5 with second 0, `@` macros, days
/// of the week by name) checked here; the fields themselves by the calendar.
fn parse_cron(src: &str) -> Result<Recurrence, ConfigError> {
    let fields: Vec<&str> = src.split_whitespace().collect();
    let normalized = match fields.len() {
        1 if src.trim_start().starts_with('@') => src.trim().to_string(),
        5 => format!("0 {}", fields.join(" ")),
        6 | 7 => fields.join(" "),
        n => {
            return Err(ConfigError::new(
                "cron",
                format!(
                    "'{src}' has {n} fields; expected 'sec min hour day-of-month month day-of-week [year]' \
                     (or 5 fields without seconds), e.g. '0 0 8 * * Mon-Fri'"
                ),
            ))
        }
    };
    let dow = normalized.split_whitespace().nth(5).unwrap_or("*");
    if dow.chars().any(|ch| ch.is_ascii_digit()) {
        return Err(ConfigError::new(
            "cron",
            format!(
                "'{src}': name the days of the week (Mon-Fri, Sat,Sun) instead of '{dow}': \
                 cron dialects disagree whether 0 or 1 is Sunday"
            ),
        ));
    }
    let normalized = match fields_with_days_unwrapped(&normalized) {
        Some(unwrapped) => unwrapped,
        None => normalized,
    };
    let recurrence = Recurrence::parse(&normalized).map_err(|why| {
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        };
        ConfigError::new(
            "cron",
            format!(
                "'{src}' does not parse{why}; expected 'sec min hour day-of-month month day-of-week [year]', \
                 e.g. '0 0 8 * * Mon-Fri'"
            ),
        )
    })?;
    if !recurrence.ever_starts() {
        return Err(ConfigError::new(
            "cron",
            format!("'{src}' never starts (a day no month has in the years it names, or a year before 2000)"),
        ));
    }
    Ok(recurrence)
}

/// The days of the week in the calendar's order (Sunday first).
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `fields` with each range of day names that runs past Saturday
/// (`Mon-Sun`, `Sat-Sun`, `Fri-Mon`) written as the list of its days: the
/// calendar orders the week from Sunday and refused them ("Invalid named
/// range"), though names are required precisely so that the week's first
/// day does not matter (an outside check). `None` when there is none.
fn fields_with_days_unwrapped(fields: &str) -> Option<String> {
    let mut parts: Vec<String> = fields.split_whitespace().map(str::to_string).collect();
    let dow = parts.get(5)?;
    let index = |name: &str| DAYS.iter().position(|d| d.eq_ignore_ascii_case(name));
    let mut changed = false;
    let items: Vec<String> = dow
        .split(',')
        .map(|item| {
            let wrapped = item
                .split_once('-')
                .and_then(|(a, b)| Some((index(a)?, index(b)?)))
                .filter(|(a, b)| a > b);
            match wrapped {
                Some((a, b)) => {
                    changed = true;
                    (a..a + 7)
                        .take_while(|i| i % 7 != (b + 1) % 7 || *i == a)
                        .map(|i| DAYS[i % 7])
                        .collect::<Vec<_>>()
                        .join(",")
                }
                None => item.to_string(),
            }
        })
        .collect();
    if !changed {
        return None;
    }
    parts[5] = items.join(",");
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::schedule::tests::{at, parse};

    /// Ranges of day names past Saturday are the days they name.
    #[test]
    fn day_ranges_may_run_past_saturday() {
        for (dow, days) in [
            ("Mon-Sun", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"),
            ("Sat-Sun", "Sat,Sun"),
            ("fri-mon", "Fri,Sat,Sun,Mon"),
            ("Tue,Sat-Mon", "Tue,Sat,Sun,Mon"),
        ] {
            let fields = format!("0 0 22 * * {dow}");
            assert_eq!(
                fields_with_days_unwrapped(&fields),
                Some(format!("0 0 22 * * {days}")),
                "{dow}"
            );
            assert!(parse_cron(&fields).is_ok(), "{dow}");
        }
        for same in [
            "0 0 22 * * Mon-Fri",
            "0 0 22 * * *",
            "0 0 22 * * Sun-Sat",
            "@daily",
        ] {
            assert_eq!(fields_with_days_unwrapped(same), None, "{same}");
        }
    }
    use crate::strategy::testutil::*;
    use serde_json::json;

    #[test]
    fn bad_configs_name_the_key() {
        let w = |extra: serde_json::Value| {
            let mut base =
                json!({"cron": "0 0 8 * * Mon-Fri", "duration_s": 3600, "size": "200cc"});
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() {
                    base.as_object_mut().unwrap().remove(k);
                } else {
                    base[k] = v.clone();
                }
            }
            json!({"timezone": "UTC", "windows": [base]})
        };
        let cases: Vec<(serde_json::Value, &str, &str)> = vec![
            (json!({"windows": []}), "timezone", "is required"),
            (
                json!({"timezone": "Europe/Berln", "windows": []}),
                "timezone",
                "did you mean 'Europe/Berlin'",
            ),
            (json!({"timezone": 1}), "timezone", "must be a string"),
            (
                json!({"timezone": "Local", "windows": []}),
                "timezone",
                "never the machine's",
            ),
            (json!({"timezone": "UTC"}), "windows", "is required"),
            (
                json!({"timezone": "UTC", "windows": []}),
                "windows",
                "1..=64",
            ),
            (
                json!({"timezone": "UTC", "windows": {}}),
                "windows",
                "must be an array",
            ),
            (
                json!({"timezone": "UTC", "windows": [5]}),
                "windows[0]",
                "must be a JSON object",
            ),
            (w(json!({"cron": null})), "windows[0].cron", "is required"),
            (
                w(json!({"cron": "every day"})),
                "windows[0].cron",
                "has 2 fields",
            ),
            (
                w(json!({"cron": "0 0 25 * * *"})),
                "windows[0].cron",
                "does not parse: Hours must be at most 23. ('25' specified.); expected",
            ),
            (
                w(json!({"cron": "0 60 3 * * *"})),
                "windows[0].cron",
                "does not parse: Minutes must be at most 59. ('60' specified.); expected",
            ),
            (
                w(json!({"cron": "0 0 0 30 Feb *"})),
                "windows[0].cron",
                "'0 0 0 30 Feb *' never starts",
            ),
            (
                w(json!({"cron": "0 0 8 * * * 1999"})),
                "windows[0].cron",
                "never starts",
            ),
            (
                w(json!({"cron": "0 0 8 * * 1-5"})),
                "windows[0].cron",
                "name the days",
            ),
            (
                w(json!({"duration_s": null})),
                "windows[0].duration_s",
                "is required",
            ),
            (
                w(json!({"duration_s": 59})),
                "windows[0].duration_s",
                ">= 60",
            ),
            (
                w(json!({"duration_s": 604_801})),
                "windows[0].duration_s",
                "60..=604800",
            ),
            (w(json!({"size": null})), "windows[0].size", "is required"),
            (
                w(json!({"size": "7cc"})),
                "windows[0].size",
                "unknown size '7cc'",
            ),
            (
                w(json!({"size": "7cc", "replicas": 0})),
                "windows[0].size",
                "unknown size",
            ),
            (w(json!({"replicas": 17})), "windows[0].replicas", "0..=16"),
            (w(json!({"replicas": -1})), "windows[0].replicas", ">= 0"),
            (
                w(json!({"sise": "25cc"})),
                "windows[0].sise",
                "allowed here: cron, duration_s, replicas, size",
            ),
            (
                json!({"timezone": "UTC", "prewarm_s": 86_401, "windows": []}),
                "prewarm_s",
                "0..=86400",
            ),
            (
                json!({"timezone": "UTC", "prewarm_s": "600", "windows": []}),
                "prewarm_s",
                "got string \"600\": write 600, a number, not text",
            ),
            (
                json!({"timezone": "UTC", "windows": [
                    {"cron": "@daily", "duration_s": "1h", "size": "25cc"}]}),
                "windows[0].duration_s",
                "got string \"1h\": write 3600, a number, not text",
            ),
            (
                json!({"timezone": "UTC", "default": "off",
                       "windows": [{"cron": "@daily", "duration_s": 60, "size": "25cc"}]}),
                "default",
                "must be an object",
            ),
            (
                json!({"timezone": "UTC", "default": {"replicas": 1},
                       "windows": [{"cron": "@daily", "duration_s": 60, "size": "25cc"}]}),
                "default.size",
                "is required",
            ),
            (
                json!({"timezone": "UTC", "windows": [
                    {"cron": "@daily", "duration_s": 60, "size": "25cc"},
                    {"cron": "0 0 8 * *", "duration_s": 60, "size": "25cc", "replicas": 2.5}]}),
                "windows[1].replicas",
                "whole number",
            ),
        ];
        for (cfg, key, msg) in cases {
            let err = ScheduleConfig::parse(&Obj::new(&cfg).unwrap(), &sizes()).unwrap_err();
            assert_eq!(err.key, key, "{cfg}: {err}");
            assert!(err.message.contains(msg), "{cfg}: {err}");
        }
    }

    /// Seconds with a fraction are read, rounded up, as for every key in
    /// seconds (the README's rule): `prewarm_s` and `duration_s` refused
    /// them as not whole (an outside check).
    #[test]
    fn a_schedules_seconds_may_have_a_fraction() {
        let c = ScheduleConfig::parse(
            &Obj::new(&json!({"timezone": "UTC", "prewarm_s": 0.5, "windows": [
                {"cron": "@daily", "duration_s": 3600.5, "size": "25cc"}]}))
            .unwrap(),
            &sizes(),
        )
        .unwrap();
        assert_eq!((c.prewarm_s, c.windows[0].duration_s), (1, 3601));
    }

    /// The bounds `cargo mutants` found unpinned: 64 windows are allowed
    /// and 65 not; a time zone far from every name gets no "did you
    /// mean"; one field that is not an `@` macro is a cron of one field.
    #[test]
    fn the_edges_of_a_schedules_config() {
        let windows = |n: usize| {
            let one = json!({"cron": "@daily", "duration_s": 60, "size": "25cc"});
            json!({"timezone": "UTC", "windows": vec![one; n]})
        };
        let parse =
            |cfg: &serde_json::Value| ScheduleConfig::parse(&Obj::new(cfg).unwrap(), &sizes());
        assert!(parse(&windows(MAX_WINDOWS)).is_ok());
        let err = parse(&windows(MAX_WINDOWS + 1)).unwrap_err();
        assert_eq!(err.message, "must list 1..=64 windows, got 65");
        let far = parse(&json!({"timezone": "Nowhere/Atlantis-Under-The-Sea", "windows": []}))
            .unwrap_err();
        assert!(!far.message.contains("did you mean"), "{far}");
        let hourly = parse(&json!({"timezone": "UTC", "windows": [
            {"cron": "hourly", "duration_s": 60, "size": "25cc"}]}))
        .unwrap_err();
        assert!(hourly.message.contains("'hourly' has 1 fields"), "{hourly}");
    }

    #[test]
    fn accepted_forms() {
        let c = parse(&json!({"timezone": "America/New_York",
            "windows": [{"cron": "0 8 * * Mon-Fri", "duration_s": 60, "size": "25cc"},
                        {"cron": "@daily", "duration_s": 60, "replicas": 0}],
            "default": {"replicas": 0}}));
        assert_eq!(c.windows[0].shape.replicas, 1, "replicas default to 1");
        assert_eq!(c.windows[1].shape.size, None);
        assert_eq!(c.prewarm_s, 0);
        // A 5-field expression gets second 0.
        let start = c.windows[0]
            .schedule
            .next_start(c.tz, at("2026-11-23T00:00:00Z"));
        assert_eq!(start, Some(at("2026-11-23T08:00:00-05:00")));
    }
}
