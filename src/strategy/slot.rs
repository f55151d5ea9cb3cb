//! A strategy's state slot during one plan: its stored JSON is parsed on
//! first use and the typed value is kept for the rest of the plan (prepare,
//! decide, the next clock change, the prediction), then serialized once, and
//! only when a strategy changed it. Parsing the slot again at each step was
//! a third of a predicting cluster's plan in a long simulation.

use std::any::Any;

use serde::{Deserialize, Serialize};

/// What the slot holds once parsed: a strategy's typed state, type-erased
/// so one plan can keep the slots of different strategies side by side.
trait Typed: Any {
    fn to_json(&self) -> Option<serde_json::Value>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<S: Serialize + 'static> Typed for S {
    fn to_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What a stored slot holds, read as a strategy's state `S`: the one rule
/// of the plan ([`StateSlot`]) and of `describe` (`StrategyKind::state_error`).
pub(crate) enum Stored<S> {
    /// Absent or null: the strategy starts afresh.
    Nothing,
    Read(S),
    /// Not `S`: the plan alerts and starts it afresh.
    Unreadable(serde_json::Error),
}

impl<S: for<'de> Deserialize<'de>> Stored<S> {
    pub(crate) fn read(stored: Option<&serde_json::Value>) -> Self {
        match stored.filter(|v| !v.is_null()).map(S::deserialize) {
            None => Stored::Nothing,
            Some(Ok(state)) => Stored::Read(state),
            Some(Err(e)) => Stored::Unreadable(e),
        }
    }
}

/// One strategy's slot of a cluster's state for one plan.
pub struct StateSlot<'a> {
    /// As stored (`None`: the state has no such slot).
    stored: Option<&'a serde_json::Value>,
    typed: Option<Box<dyn Typed>>,
    /// Must be written: changed by its strategy, or stored as nothing
    /// (absent or null) or as something that does not parse.
    dirty: bool,
    /// Put back as stored, whatever was decided (see [`Self::restore`]).
    restored: bool,
    /// What was stored held no state of the strategy's (nothing, or
    /// something that does not parse): it starts afresh. Known once parsed.
    afresh: bool,
}

impl<'a> StateSlot<'a> {
    pub fn new(stored: Option<&'a serde_json::Value>) -> Self {
        StateSlot {
            stored,
            typed: None,
            dirty: false,
            restored: false,
            afresh: false,
        }
    }

    /// The typed state, parsed on first use; `true` when what was stored
    /// does not parse (it starts fresh and is replaced: said once), and
    /// whether it started afresh ([`Self::update_afresh`]). `None` only if
    /// the slot held another type, which one plan never asks for.
    fn typed<S>(&mut self) -> (Option<&mut S>, bool, bool)
    where
        S: Serialize + for<'de> Deserialize<'de> + Default + 'static,
    {
        let mut unreadable = false;
        if !self.typed.as_ref().is_some_and(|t| t.as_any().is::<S>()) {
            let parsed = Stored::<S>::read(self.stored);
            if !self.restored {
                unreadable = matches!(parsed, Stored::Unreadable(_));
                self.dirty |= !matches!(parsed, Stored::Read(_));
            }
            self.afresh = !matches!(parsed, Stored::Read(_));
            let state = match parsed {
                Stored::Read(state) => state,
                Stored::Nothing | Stored::Unreadable(_) => S::default(),
            };
            self.typed = Some(Box::new(state));
        }
        let afresh = self.afresh;
        let typed = self
            .typed
            .as_mut()
            .and_then(|t| t.as_any_mut().downcast_mut::<S>());
        (typed, unreadable, afresh)
    }

    /// Runs `f` on the typed state, noting whether it changed it; `true`
    /// when the stored slot did not parse (see [`Self::typed`]).
    pub fn update<S, F>(&mut self, f: F) -> bool
    where
        S: Serialize + for<'de> Deserialize<'de> + Default + Clone + PartialEq + 'static,
        F: FnOnce(&mut S),
    {
        self.update_afresh(|s, _| f(s))
    }

    /// [`Self::update`], `f` told whether the strategy starts afresh: its
    /// state was never written, was wiped (absent or null) or does not
    /// parse (an unreadable slot is lost as a wiped one is).
    pub fn update_afresh<S, F>(&mut self, f: F) -> bool
    where
        S: Serialize + for<'de> Deserialize<'de> + Default + Clone + PartialEq + 'static,
        F: FnOnce(&mut S, bool),
    {
        let (state, unreadable, afresh) = self.typed::<S>();
        if let Some(state) = state {
            let before = state.clone();
            f(state, afresh);
            if *state != before {
                self.dirty = true;
                self.restored = false;
            }
        }
        unreadable
    }

    /// `f` of the typed state as it stands (stored, or as decided so far).
    pub fn read<S, R>(&mut self, f: impl FnOnce(&S) -> R) -> R
    where
        S: Serialize + for<'de> Deserialize<'de> + Default + 'static,
    {
        match self.typed::<S>().0 {
            Some(s) => f(s),
            None => f(&S::default()),
        }
    }

    /// Forgets this plan's decisions: the slot is written back as stored
    /// (null when there was none), and reads see what was stored.
    pub fn restore(&mut self) {
        self.typed = None;
        self.dirty = false;
        self.restored = true;
    }

    /// The slot's JSON after the plan, when it differs from the stored one
    /// (`None`: unchanged, nothing to write).
    pub fn changed_json(&self) -> Option<serde_json::Value> {
        let null = serde_json::Value::Null;
        if self.restored {
            return self.stored.is_none().then_some(null);
        }
        if !self.dirty {
            return None;
        }
        let json = self.typed.as_ref().and_then(|t| t.to_json())?;
        (self.stored != Some(&json)).then_some(json)
    }

    /// The slot's JSON after the plan, given its [`Self::changed_json`]
    /// (serialized once).
    pub fn json(&self, changed: Option<serde_json::Value>) -> serde_json::Value {
        changed
            .or_else(|| self.stored.cloned())
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::burst::BurstState;

    fn touch(s: &mut BurstState) {
        s.gave_up_at = None;
    }

    #[test]
    fn a_slot_that_does_not_parse_is_replaced_and_said_once() {
        let garbage = serde_json::json!(17);
        let mut slot = StateSlot::new(Some(&garbage));
        assert!(slot.update(touch));
        assert!(
            slot.json(slot.changed_json()).is_object(),
            "replaced: {}",
            slot.json(slot.changed_json())
        );
        assert!(!slot.update(touch), "once");
        let wrong = serde_json::json!({"burst_since": 42});
        assert!(StateSlot::new(Some(&wrong)).update(touch));
    }

    #[test]
    fn an_empty_slot_is_written_with_what_the_strategy_starts_from() {
        for stored in [None, Some(&serde_json::Value::Null)] {
            let mut slot = StateSlot::new(stored);
            assert!(!slot.update(touch), "nothing stored is not unreadable");
            let json = slot.changed_json().expect("written");
            assert_eq!(json, serde_json::to_value(BurstState::default()).unwrap());
        }
    }

    #[test]
    fn a_slot_is_written_only_when_its_strategy_changed_it() {
        let stored = serde_json::to_value(BurstState::default()).unwrap();
        let mut slot = StateSlot::new(Some(&stored));
        slot.update(touch);
        assert_eq!(slot.changed_json(), None, "unchanged");
        assert_eq!(slot.json(slot.changed_json()), stored);
        slot.update(|s: &mut BurstState| s.burst_since = Some(crate::strategy::testutil::now()));
        let json = slot.changed_json().expect("changed");
        assert!(json["burst_since"].is_string(), "{json}");
        assert!(
            slot.read(|s: &BurstState| s.burst_since.is_some()),
            "reads see it"
        );
    }

    #[test]
    fn a_restored_slot_is_written_back_as_stored_and_read_so() {
        let mut stored = serde_json::to_value(BurstState::default()).unwrap();
        stored["burst_since"] = serde_json::json!("2026-11-21T11:00:00Z");
        let mut slot = StateSlot::new(Some(&stored));
        slot.update(|s: &mut BurstState| s.burst_since = None);
        slot.restore();
        assert_eq!(slot.changed_json(), None);
        assert!(slot.read(|s: &BurstState| s.burst_since.is_some()));
        assert_eq!(slot.json(slot.changed_json()), stored);
        let mut absent = StateSlot::new(None);
        absent.update(touch);
        absent.restore();
        assert_eq!(absent.changed_json(), Some(serde_json::Value::Null));
    }
}
