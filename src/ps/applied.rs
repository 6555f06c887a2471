//! Exactly-once bookkeeping: which update keys a shard has applied and the
//! version each produced.
//!
//! Memory stays bounded: a shard remembers its most recent keys (the
//! window, 1024 by default) and the newest key it has forgotten. A key
//! that is neither remembered nor newer than the forgotten one is stale and
//! must be rejected, because it may have been applied already.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use crate::nn::Phase;

/// Number of recent keys a shard remembers by default.
pub const DEFAULT_APPLIED_KEY_WINDOW: usize = 1024;

/// Identifies one update of the schedule: the global step and its phase.
/// Keys order by step, then by phase code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpdateKey {
    /// Global step counter of the coordinator.
    pub step: u64,
    /// Which update of that step.
    pub phase: Phase,
}

impl Ord for UpdateKey {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.step, self.phase.code()).cmp(&(other.step, other.phase.code()))
    }
}

impl PartialOrd for UpdateKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for UpdateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} {:?}", self.step, self.phase)
    }
}

/// What a shard knows about a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// Never applied: apply it.
    New,
    /// Applied before, producing `version`.
    Applied { version: u64 },
    /// Older than every remembered key: it may or may not have been applied.
    Stale { forgotten_up_to: UpdateKey },
}

/// The applied keys of one shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedKeys {
    recent: BTreeMap<UpdateKey, u64>,
    forgotten_up_to: Option<UpdateKey>,
}

impl AppliedKeys {
    /// Creates an empty record: every key is new.
    pub fn new() -> Self {
        AppliedKeys::default()
    }

    /// Rebuilds a record from a checkpoint's (key, version) pairs and the
    /// newest forgotten key.
    pub fn from_parts(
        recent: impl IntoIterator<Item = (UpdateKey, u64)>,
        forgotten_up_to: Option<UpdateKey>,
    ) -> Self {
        AppliedKeys { recent: recent.into_iter().collect(), forgotten_up_to }
    }

    /// Looks `key` up.
    pub fn status(&self, key: UpdateKey) -> KeyStatus {
        if let Some(&version) = self.recent.get(&key) {
            return KeyStatus::Applied { version };
        }
        match self.forgotten_up_to {
            Some(forgotten_up_to) if key <= forgotten_up_to => KeyStatus::Stale { forgotten_up_to },
            _ => KeyStatus::New,
        }
    }

    /// Records that `key` produced `version`, then forgets the oldest keys
    /// beyond `window` (at least one key is always kept).
    pub fn record(&mut self, key: UpdateKey, version: u64, window: usize) {
        self.recent.insert(key, version);
        while self.recent.len() > window.max(1) {
            let Some((oldest, _)) = self.recent.pop_first() else { break };
            self.forgotten_up_to = Some(self.forgotten_up_to.map_or(oldest, |f| f.max(oldest)));
        }
    }

    /// Remembered keys with their versions, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = (UpdateKey, u64)> + '_ {
        self.recent.iter().map(|(&key, &version)| (key, version))
    }

    /// The newest forgotten key, if any key was forgotten.
    pub fn forgotten_up_to(&self) -> Option<UpdateKey> {
        self.forgotten_up_to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(step: u64) -> UpdateKey {
        UpdateKey { step, phase: Phase::Discriminator }
    }

    #[test]
    fn window_forgets_oldest_and_marks_stale() {
        let mut applied = AppliedKeys::new();
        for step in 0..5 {
            applied.record(key(step), step + 1, 3);
        }
        assert_eq!(applied.recent().count(), 3);
        assert_eq!(applied.status(key(4)), KeyStatus::Applied { version: 5 });
        assert_eq!(applied.status(key(2)), KeyStatus::Applied { version: 3 });
        assert_eq!(applied.status(key(1)), KeyStatus::Stale { forgotten_up_to: key(1) });
        assert_eq!(applied.status(key(0)), KeyStatus::Stale { forgotten_up_to: key(1) });
        assert_eq!(applied.status(key(5)), KeyStatus::New);
    }

    #[test]
    fn keys_order_by_step_then_phase() {
        let d = UpdateKey { step: 3, phase: Phase::Discriminator };
        let g = UpdateKey { step: 3, phase: Phase::Generator };
        assert!(d < g);
        assert!(g < key(4));
    }
}
