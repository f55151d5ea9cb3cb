//! Reading strategy configs out of JSON with errors an operator can act on:
//! every error names the key, what was found and what is allowed.

use std::cell::RefCell;
use std::collections::BTreeSet;

use thiserror::Error;

use crate::model::{Size, SizeCatalog};

/// A config key that is missing, mistyped or out of range; with `more`,
/// the row's other keys that are wrong too (each said once: an operator
/// fixes them in one go, not one per run).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("key '{key}': {message}{}", more_text(.more))]
pub struct ConfigError {
    pub key: String,
    pub message: String,
    pub more: Vec<ConfigError>,
}

fn more_text(more: &[ConfigError]) -> String {
    more.iter().map(|e| format!("; and {e}")).collect()
}

impl ConfigError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_string(),
            message: message.into(),
            more: Vec::new(),
        }
    }

    /// The top-level key of the config the error is about (`windows` for
    /// `windows[1].cron`).
    pub fn top_key(&self) -> &str {
        KeyPath::of(&self.key).top()
    }

    /// The same error for a key nested under `prefix` (`windows[1].cron`).
    pub fn within(self, prefix: &str) -> Self {
        let key = if self.key == "(config)" {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.key)
        };
        ConfigError { key, ..self }
    }
}

/// A config object that remembers which keys were read, so the rest can be
/// reported as unknown.
pub(crate) struct Obj<'a> {
    map: &'a serde_json::Map<String, serde_json::Value>,
    read: RefCell<BTreeSet<&'static str>>,
}

impl<'a> Obj<'a> {
    pub fn new(raw: &'a serde_json::Value) -> Result<Self, ConfigError> {
        match raw {
            serde_json::Value::Object(map) => Ok(Obj {
                map,
                read: RefCell::new(BTreeSet::new()),
            }),
            other => Err(ConfigError::new(
                "(config)",
                format!("must be a JSON object, got {}", kind_of(other)),
            )),
        }
    }

    fn get(&self, key: &'static str) -> Option<&'a serde_json::Value> {
        self.read.borrow_mut().insert(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn unknown_keys(&self) -> Vec<String> {
        let read = self.read.borrow();
        self.map
            .keys()
            .filter(|k| !read.contains(k.as_str()))
            .cloned()
            .collect()
    }

    /// The keys a parser asked for, sorted (the allowed keys, for errors).
    pub fn read_keys(&self) -> Vec<&'static str> {
        self.read.borrow().iter().copied().collect()
    }

    pub fn opt_string(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(serde_json::Value::String(_)) => {
                Err(ConfigError::new(key, "must be a non-empty string"))
            }
            Some(other) => Err(ConfigError::new(
                key,
                format!("must be a string, got {}", kind_of(other)),
            )),
        }
    }

    /// A replica name Materialize accepts
    /// ([`super::refused_replica_name`]).
    pub fn opt_name(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        let name = self.opt_string(key)?;
        if let Some(why) = name.as_deref().and_then(super::refused_replica_name) {
            return Err(ConfigError::new(key, why));
        }
        // Materialize takes it, quoted; every plan, log line and table
        // would show it escaped (`\n`), not as the name an operator reads
        // in a catalog.
        if name
            .as_deref()
            .is_some_and(|n| n.chars().any(crate::model::is_hidden))
        {
            return Err(ConfigError::new(
                key,
                "holds a control or invisible character (a line break, a tab, an escape, a \
                 bidirectional override): choose a name without one",
            ));
        }
        Ok(name)
    }

    /// A size that the environment offers.
    pub fn size(&self, key: &'static str, sizes: &SizeCatalog) -> Result<Size, ConfigError> {
        let s = self.opt_string(key)?.ok_or_else(|| {
            ConfigError::new(key, format!("is required (one of: {})", sizes.names()))
        })?;
        let size = Size(s);
        if sizes.is_refused(&size) {
            return Err(ConfigError::new(
                key,
                format!(
                    "size '{}' is not in Materialize's allowed_cluster_replica_sizes, \
                     so Materialize refuses to create it; allowed sizes are: {}",
                    crate::model::echoed(&size.0),
                    sizes.names()
                ),
            ));
        }
        if !sizes.contains(&size) {
            // Only the case is taken for a slip: `80cc` is no typo of `50cc`.
            let same_but_case = sizes
                .all()
                .iter()
                .find(|s| s.name.0.eq_ignore_ascii_case(&size.0))
                .map(|s| format!(" (did you mean '{}'?)", s.name))
                .unwrap_or_default();
            return Err(ConfigError::new(
                key,
                format!(
                    "unknown size '{}'{same_but_case}; sizes are: {}",
                    crate::model::echoed(&size.0),
                    sizes.names()
                ),
            ));
        }
        Ok(size)
    }

    /// A whole number of seconds or a count, with a lower bound.
    pub fn opt_u64(&self, key: &'static str, min: u64) -> Result<Option<u64>, ConfigError> {
        self.whole(key, min, u64::MAX, false, |n| {
            format!("must be at most {}, got {n}", u64::MAX)
        })
    }

    /// A whole number within `min..=max`; `over(n)` says what a larger one
    /// (`1e20` too, which no u64 holds) is refused for. The one reading of
    /// whole numbers: 3600.0 is 3600; 3600.5 is refused, or with
    /// `round_up` (seconds, which mz-clusterctl took as fractions) 3601;
    /// negatives and text are not whole numbers.
    fn whole(
        &self,
        key: &'static str,
        min: u64,
        max: u64,
        round_up: bool,
        over: impl FnOnce(&serde_json::Number) -> String,
    ) -> Result<Option<u64>, ConfigError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let what = if round_up {
            "a number of seconds"
        } else {
            "a whole number"
        };
        let not_whole =
            |got: String| ConfigError::new(key, format!("must be {what} >= {min}, got {got}"));
        let serde_json::Value::Number(n) = v else {
            let hint = match v {
                // A duration written as text ("10m", "600"): a row takes
                // numbers only, as mz-clusterctl's rows did.
                serde_json::Value::String(text) if round_up => seconds_in(text)
                    .filter(|s| (min..=max).contains(s))
                    .map(|s| format!(": write {s}, a number, not text"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            return Err(not_whole(format!("{}{hint}", kind_of(v))));
        };
        // `None`: whole, but more than any u64.
        let whole: Option<u64> = if let Some(u) = n.as_u64() {
            Some(u)
        } else {
            match n.as_f64() {
                Some(f) if f >= 0.0 && (f.fract() == 0.0 || round_up) => {
                    let f = f.ceil();
                    (f <= u64::MAX as f64).then_some(f as u64)
                }
                _ => return Err(not_whole(n.to_string())),
            }
        };
        match whole {
            Some(u) if u < min => Err(not_whole(n.to_string())),
            Some(u) if u <= max => Ok(Some(u)),
            _ => Err(ConfigError::new(key, over(n))),
        }
    }

    /// A duration in seconds, at least `min` and at most a year
    /// ([`super::keys::MAX_SECONDS`]): longer values are mistakes, and they
    /// would overflow the interval arithmetic of the signal queries. A
    /// fraction (valid for mz-clusterctl: `1800.5`) is rounded up to the
    /// next whole second: a threshold is then reached at most a second
    /// later, never sooner.
    pub fn opt_seconds(&self, key: &'static str, min: u64) -> Result<Option<u64>, ConfigError> {
        let max = super::keys::MAX_SECONDS;
        self.whole(key, min, max, true, |n| {
            format!("must be at most {max} seconds (366 days), got {n}")
        })
    }

    /// [`Obj::opt_seconds`] within `min..=max` seconds: a fraction rounded
    /// up, seconds written as text refused with the number to write (the
    /// README's rule for every key in seconds; `prewarm_s`, a window's
    /// `duration_s` and `prewarm_margin_s` refused both as not whole).
    pub fn opt_seconds_in(
        &self,
        key: &'static str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        self.whole(key, min, max, true, |n| {
            format!("must be a number of seconds in {min}..={max}, got {n}")
        })
    }

    pub fn required_seconds(&self, key: &'static str, min: u64) -> Result<u64, ConfigError> {
        self.opt_seconds(key, min)?
            .ok_or_else(|| {
                ConfigError::new(
                    key,
                    format!("is required (a number of seconds >= {min}; a fraction counts as the next whole second)"),
                )
            })
    }

    /// A number > 0 (fractions allowed).
    pub fn opt_positive_f64(&self, key: &'static str) -> Result<Option<f64>, ConfigError> {
        self.opt_f64(key, "a number > 0", |f| f > 0.0 && f.is_finite())
    }

    /// A number within the bounds of the key's kind
    /// ([`super::keys::KeyKind::bounds`]: 0..=1, or a share 0.5..=1).
    pub fn opt_fraction(&self, key: &super::keys::Key) -> Result<Option<f64>, ConfigError> {
        let (low, high, what) = key.kind.bounds().unwrap_or(super::keys::FRACTION);
        self.opt_f64(key.name, what, |f| (low..=high).contains(&f))
    }

    /// A number for which `ok` holds; `what` names the values allowed.
    fn opt_f64(
        &self,
        key: &'static str,
        what: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<Option<f64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_json::Value::Number(n)) => match n.as_f64() {
                Some(f) if ok(f) => Ok(Some(f)),
                _ => Err(ConfigError::new(key, format!("must be {what}, got {n}"))),
            },
            Some(other) => Err(ConfigError::new(
                key,
                format!("must be {what}, got {}", kind_of(other)),
            )),
        }
    }

    /// A whole number within `min..=max`.
    pub fn opt_u64_in(
        &self,
        key: &'static str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        self.whole(key, min, max, false, |n| {
            format!("must be a whole number in {min}..={max}, got {n}")
        })
    }

    /// A JSON object, to be read with its own `Obj` (nested config).
    pub fn opt_object(
        &self,
        key: &'static str,
    ) -> Result<Option<&'a serde_json::Value>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ serde_json::Value::Object(_)) => Ok(Some(v)),
            Some(other) => Err(ConfigError::new(
                key,
                format!("must be an object, got {}", kind_of(other)),
            )),
        }
    }

    pub fn opt_array(
        &self,
        key: &'static str,
    ) -> Result<Option<&'a [serde_json::Value]>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_json::Value::Array(a)) => Ok(Some(a.as_slice())),
            Some(other) => Err(ConfigError::new(
                key,
                format!("must be an array, got {}", kind_of(other)),
            )),
        }
    }

    pub fn opt_bool(&self, key: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ConfigError::new(
                key,
                format!("must be true or false, got {}", kind_of(other)),
            )),
        }
    }
}

/// Reads a config's JSON text, as `strategy set --config` takes it and as
/// the store reads a row: the value and the keys given more than once (the
/// last wins, as in jsonb, which keeps no duplicates). A value that cannot
/// be read (a number no JSON number type holds, `1e400`; nesting past the
/// parser's limit) is named by its top-level key.
pub fn read_json(text: &str) -> Result<(serde_json::Value, Vec<String>), String> {
    use serde::de::DeserializeSeed;
    let mut probed = Probed::default();
    let mut de = serde_json::Deserializer::from_str(text);
    // Only what it finds is used: the value comes from the plain parse.
    let _ = Probe {
        probed: &mut probed,
        path: String::new(),
    }
    .deserialize(&mut de);
    match serde_json::from_str(text) {
        Ok(v) => match nul_in(&v) {
            // jsonb cannot store it: refused here, not by the database.
            Some(key) => Err(format!(
                "key '{key}': contains a NUL character (\\u0000), which a jsonb value cannot hold"
            )),
            None => Ok((v, probed.duplicates)),
        },
        Err(e) => Err(match probed.unreadable {
            Some((key, why)) => format!("key '{key}': {why}"),
            None => e.to_string(),
        }),
    }
}

/// What a key given twice in a config's JSON is told ([`read_json`] finds
/// them): the one message of `--config` and of a key flag's JSON.
pub fn given_twice(key: &str) -> String {
    format!(
        "key '{}' is given more than once; give each key once",
        crate::model::echoed(key)
    )
}

/// The top-level key under which a string (or key) holds a NUL character.
fn nul_in(v: &serde_json::Value) -> Option<String> {
    fn has(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(has),
            serde_json::Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has(v)),
            _ => false,
        }
    }
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .find(|(k, v)| k.contains('\0') || has(v))
            .map(|(k, _)| k.replace('\0', "\\u0000")),
        other => has(other).then(String::new),
    }
}

/// What [`Probe`] saw of an object's keys.
#[derive(Default)]
struct Probed {
    /// Keys given twice in one object, by path (`size`, `default.size`,
    /// `windows[0].size`): JSON keeps the last, silently, at any depth.
    duplicates: Vec<String>,
    /// The first top-level key whose value cannot be read, and why.
    unreadable: Option<(String, String)>,
}

/// Walks a JSON value, its objects' keys at every depth (`path`: where the
/// value is; empty for the whole config), reading it as the plain parse
/// does.
struct Probe<'a> {
    probed: &'a mut Probed,
    path: String,
}

impl<'de> serde::de::DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Probe<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        let top = self.path.is_empty();
        while let Some(key) = map.next_key::<String>()? {
            let path = match top {
                true => key.clone(),
                false => format!("{}.{key}", self.path),
            };
            if !seen.insert(key.clone()) && !self.probed.duplicates.contains(&path) {
                self.probed.duplicates.push(path.clone());
            }
            let value = Probe {
                probed: &mut *self.probed,
                path,
            };
            if let Err(e) = map.next_value_seed(value) {
                if top {
                    self.probed.unreadable = Some((key, e.to_string()));
                }
                return Err(e);
            }
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let element = Probe {
                probed: &mut *self.probed,
                path: format!("{}[{i}]", self.path),
            };
            if seq.next_element_seed(element)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The whole seconds a text means, read as a duration flag reads it
/// ("600", "10m", "1h 30m"); `None` for anything else (`5M`, a month in
/// that notation, included), or a fraction of a second.
fn seconds_in(text: &str) -> Option<u64> {
    let d = super::keys::read_duration(text.trim()).ok()?;
    (d.subsec_nanos() == 0).then_some(d.as_secs())
}

fn kind_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => format!("boolean {b}"),
        serde_json::Value::Number(n) => format!("number {n}"),
        serde_json::Value::String(s) => format!("string \"{}\"", crate::model::echoed(s)),
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

/// Where a [`ConfigError`] is, in the config's JSON: its top-level key,
/// and for a key inside an element of a list (`windows[0].duration_s`)
/// that element and the key in it. Anything else (`windows[0]`, deeper
/// paths) stands for its top-level key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPath<'k> {
    top: &'k str,
    nested: Option<(usize, &'k str)>,
}

impl<'k> KeyPath<'k> {
    pub fn of(key: &'k str) -> KeyPath<'k> {
        let top_end = key.find(['[', '.']).unwrap_or(key.len());
        let top = &key[..top_end];
        let nested = key[top_end..]
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("]."))
            .and_then(|(i, leaf)| {
                let plain = !leaf.is_empty() && !leaf.contains(['[', '.', ']']);
                Some((i.parse().ok()?, leaf)).filter(|_| plain)
            });
        KeyPath { top, nested }
    }

    pub fn top(&self) -> &'k str {
        self.top
    }

    /// The key inside a list's element, when the path is one.
    pub fn nested_leaf(&self) -> Option<&'k str> {
        self.nested.map(|(_, leaf)| leaf)
    }

    fn object_at<'v>(
        &self,
        root: &'v mut serde_json::Value,
    ) -> Option<&'v mut serde_json::Map<String, serde_json::Value>> {
        let map = root.as_object_mut()?;
        match self.nested {
            None => Some(map),
            Some((i, _)) => map
                .get_mut(self.top)?
                .as_array_mut()?
                .get_mut(i)?
                .as_object_mut(),
        }
    }

    fn leaf(&self) -> &'k str {
        self.nested.map(|(_, leaf)| leaf).unwrap_or(self.top)
    }

    /// Takes the key out of `root`; `false` when it is not there.
    pub fn remove_from(&self, root: &mut serde_json::Value) -> bool {
        let leaf = self.leaf();
        match self.object_at(root) {
            Some(map) => {
                map.remove(leaf);
                true
            }
            None => false,
        }
    }

    pub fn insert_into(&self, root: &mut serde_json::Value, v: serde_json::Value) {
        let leaf = self.leaf();
        if let Some(map) = self.object_at(root) {
            map.insert(leaf.to_string(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A path names a key inside a list's element only when that key is
    /// one plain name: an empty one, or one deeper still, stands for the
    /// top-level key.
    #[test]
    fn a_key_path_is_nested_only_for_one_plain_key_of_an_element() {
        let of = |k: &'static str| {
            let p = KeyPath::of(k);
            (p.top(), p.nested_leaf())
        };
        assert_eq!(of("windows[1].size"), ("windows", Some("size")));
        assert_eq!(of("idle_after_s"), ("idle_after_s", None));
        assert_eq!(of("windows[1]."), ("windows", None));
        assert_eq!(of("windows[1].a.b"), ("windows", None));
        assert_eq!(of("windows[1].a[2]"), ("windows", None));
        assert_eq!(of("windows[x].size"), ("windows", None));
        assert_eq!(of("windows.size"), ("windows", None));
    }

    /// A `null` value is a key not given (documented in the README).
    #[test]
    fn a_null_value_counts_as_not_given() {
        let raw = json!({"b": null, "n": null, "s": null});
        let o = Obj::new(&raw).unwrap();
        assert_eq!(o.opt_bool("b").unwrap(), None);
        assert_eq!(o.opt_u64("n", 1).unwrap(), None);
        assert!(
            o.required_seconds("s", 1).is_err(),
            "a required key stays required"
        );
        assert!(o.unknown_keys().is_empty(), "read, so not unknown");
    }

    #[test]
    fn numbers_and_their_errors() {
        let raw = json!({"a": 10, "b": -1, "c": "ten", "d": 2.5, "e": 60.0});
        let o = Obj::new(&raw).unwrap();
        assert_eq!(o.opt_u64("a", 1).unwrap(), Some(10));
        assert!(o
            .opt_u64("b", 0)
            .unwrap_err()
            .to_string()
            .contains("key 'b'"));
        assert!(o
            .opt_u64("c", 0)
            .unwrap_err()
            .to_string()
            .contains("string \"ten\""));
        assert!(o.opt_u64("d", 0).is_err());
        assert_eq!(o.opt_u64("e", 0).unwrap(), Some(60));
        assert_eq!(o.opt_u64("missing", 0).unwrap(), None);
        // What a row may write, as it is read: 0.25 is a second.
        assert_eq!(
            o.required_seconds("missing", 1).unwrap_err().message,
            "is required (a number of seconds >= 1; a fraction counts as the next whole second)"
        );
        assert!(o.opt_seconds("a", 0).is_ok());
        let big = json!({"x": 10_000_000_000u64});
        let err = Obj::new(&big).unwrap().opt_seconds("x", 0).unwrap_err();
        assert!(err.message.contains("at most"), "{err}");
        assert_eq!(o.opt_u64("a", 11).unwrap_err().key, "a");
    }

    #[test]
    fn a_whole_number_beyond_any_u64_is_over_the_maximum_not_unwhole() {
        let raw = json!({"s": 1e20, "neg": -1e20, "frac": 1.5, "at": 31_622_400});
        let o = Obj::new(&raw).unwrap();
        let s = o.opt_seconds("s", 1).unwrap_err().message;
        assert_eq!(s, "must be at most 31622400 seconds (366 days), got 1e+20");
        let n = o.opt_u64("s", 0).unwrap_err().message;
        assert_eq!(n, "must be at most 18446744073709551615, got 1e+20");
        let r = o.opt_u64_in("s", 1, 5).unwrap_err().message;
        assert_eq!(r, "must be a whole number in 1..=5, got 1e+20");
        let neg = o.opt_seconds("neg", 0).unwrap_err().message;
        assert_eq!(neg, "must be a number of seconds >= 0, got -1e+20");
        let frac = o.opt_u64("frac", 0).unwrap_err().message;
        assert_eq!(frac, "must be a whole number >= 0, got 1.5");
        // Seconds as mz-clusterctl took them: a fraction is rounded up.
        assert_eq!(o.opt_seconds("frac", 0).unwrap(), Some(2));
        let tiny = json!({"s": 0.25});
        assert_eq!(
            Obj::new(&tiny).unwrap().opt_seconds("s", 1).unwrap(),
            Some(1)
        );
        assert_eq!(o.opt_seconds("at", 1).unwrap(), Some(31_622_400));
        assert_eq!(o.opt_u64_in("at", 1, 31_622_400).unwrap(), Some(31_622_400));
        assert!(o.opt_u64_in("at", 1, 31_622_399).is_err());
    }

    #[test]
    fn seconds_written_as_text_are_refused_with_the_number_to_write() {
        let raw = json!({"m": "10m", "n": " 600 ", "hm": "1h 30m", "ms": "1500ms",
                         "zero": "0s", "year": "400days", "word": "soon", "frac": "2.5",
                         "month": "5M"});
        let o = Obj::new(&raw).unwrap();
        let message = |key| o.opt_seconds(key, 1).unwrap_err().message;
        assert_eq!(
            message("m"),
            r#"must be a number of seconds >= 1, got string "10m": write 600, a number, not text"#
        );
        assert!(message("n").ends_with(": write 600, a number, not text"));
        assert!(message("hm").ends_with(": write 5400, a number, not text"));
        // No hint where no whole number of seconds in bounds would do.
        for key in ["ms", "zero", "year", "word", "frac", "month"] {
            assert!(!message(key).contains("write"), "{key}: {}", message(key));
        }
        // Counts are not durations.
        let count = o.opt_u64("n", 1).unwrap_err().message;
        assert_eq!(count, r#"must be a whole number >= 1, got string " 600 ""#);
    }

    #[test]
    fn json_text_names_the_key_it_cannot_read_and_keys_given_twice() {
        let (v, dup) = read_json(r#"{"a": 1, "b": {"c": 2}, "a": 3}"#).unwrap();
        assert_eq!(v, json!({"a": 3, "b": {"c": 2}}));
        assert_eq!(dup, vec!["a".to_string()]);
        // At any depth, by path (a window's size given twice kept the
        // last, silently: an outside check).
        let (_, dup) = read_json(
            r#"{"windows": [{"size": "50cc"}, {"size": "50cc", "size": "100cc"}],
                "default": {"size": "25cc", "size": "50cc"}}"#,
        )
        .unwrap();
        assert_eq!(dup, ["windows[1].size", "default.size"]);
        let (_, dup) = read_json(r#"[{"a": 1, "a": 2}]"#).unwrap();
        assert_eq!(dup, ["[0].a"]);
        assert_eq!(read_json(r#"{"a": 1}"#).unwrap().1, Vec::<String>::new());
        let huge = read_json(r#"{"ok": 1, "k": 1e400}"#).unwrap_err();
        assert!(huge.starts_with("key 'k': number out of range"), "{huge}");
        let deep = format!(r#"{{"w": {}1{}}}"#, "[".repeat(500), "]".repeat(500));
        let deep = read_json(&deep).unwrap_err();
        assert!(deep.starts_with("key 'w': recursion limit"), "{deep}");
        let missing = read_json("{\"a\": }").unwrap_err();
        assert!(missing.starts_with("key 'a': expected value"), "{missing}");
        // Not an object, or no key to name: the parser's own words.
        assert_eq!(read_json("[1, 1]").unwrap(), (json!([1, 1]), vec![]));
        let cut = read_json("{\"a\": 1").unwrap_err();
        assert!(cut.starts_with("EOF while parsing an object"), "{cut}");
        // What jsonb cannot hold is refused here, named by its key.
        let nul = read_json(r#"{"ok": "x", "reason": {"why": ["a\u0000b"]}}"#).unwrap_err();
        assert!(
            nul.starts_with("key 'reason': contains a NUL character"),
            "{nul}"
        );
        let nul_key = read_json(r#"{"a\u0000": 1}"#).unwrap_err();
        assert!(nul_key.starts_with(r"key 'a\u0000'"), "{nul_key}");
        assert!(read_json(r#"{"a": "\u0001"}"#).is_ok());
    }

    #[test]
    fn a_positive_number_is_more_than_zero() {
        let raw = json!({"zero": 0, "half": 0.5, "neg": -1, "text": "1"});
        let o = Obj::new(&raw).unwrap();
        assert_eq!(o.opt_positive_f64("half").unwrap(), Some(0.5));
        assert_eq!(o.opt_positive_f64("missing").unwrap(), None);
        for key in ["zero", "neg", "text"] {
            let e = o.opt_positive_f64(key).unwrap_err();
            assert!(e.message.starts_with("must be a number > 0, got"), "{e}");
        }
    }

    #[test]
    fn an_empty_string_is_refused_as_such() {
        let raw = json!({"s": "", "n": 1});
        let o = Obj::new(&raw).unwrap();
        let empty = o.opt_string("s").unwrap_err();
        assert_eq!(empty.to_string(), "key 's': must be a non-empty string");
        // Not "unknown size ''" nor the replica name's own rules.
        let sizes = SizeCatalog::cloud_defaults();
        assert_eq!(o.size("s", &sizes).unwrap_err().message, empty.message);
        assert_eq!(o.opt_name("s").unwrap_err().message, empty.message);
        assert_eq!(
            o.opt_string("n").unwrap_err().message,
            "must be a string, got number 1"
        );
    }

    #[test]
    fn unknown_keys_are_those_never_read() {
        let raw = json!({"target_size": "25cc", "typo": 1});
        let o = Obj::new(&raw).unwrap();
        let _ = o.opt_string("target_size");
        assert_eq!(o.unknown_keys(), vec!["typo".to_string()]);
    }

    #[test]
    fn sizes_must_be_offered() {
        let sizes = SizeCatalog::cloud_defaults();
        let raw = json!({"s": "80cc"});
        let err = Obj::new(&raw).unwrap().size("s", &sizes).unwrap_err();
        assert!(err.message.contains("unknown size '80cc'; sizes"), "{err}");
        assert!(err.message.contains("25cc, 50cc"), "{err}");
        // Caps lock is a slip; another number is not.
        let raw = json!({"s": "25CC"});
        let err = Obj::new(&raw).unwrap().size("s", &sizes).unwrap_err();
        assert!(
            err.message
                .contains("unknown size '25CC' (did you mean '25cc'?)"),
            "{err}"
        );
    }

    #[test]
    fn sizes_the_region_does_not_allow_are_refused_naming_the_allowed() {
        let sizes = SizeCatalog::cloud_defaults().restrict_to(&["25cc".into(), "50cc".into()]);
        let raw = json!({"s": "800cc"});
        let err = Obj::new(&raw).unwrap().size("s", &sizes).unwrap_err();
        assert!(
            err.message
                .contains("size '800cc' is not in Materialize's allowed_cluster_replica_sizes"),
            "{err}"
        );
        assert!(
            err.message.ends_with("allowed sizes are: 25cc, 50cc"),
            "{err}"
        );
        // Priced all the same: a live replica of that size costs credits.
        assert_eq!(sizes.credits(&Size("800cc".into())), 8.0);
        let ok = json!({"s": "50cc"});
        assert!(Obj::new(&ok).unwrap().size("s", &sizes).is_ok());
    }

    #[test]
    fn non_objects_are_refused() {
        assert!(Obj::new(&json!([1, 2])).is_err());
        assert!(Obj::new(&json!("x")).is_err());
    }
}
