//! Which workers are in the job.
//!
//! Workers join with a name and get a fresh id; every heartbeat, task
//! request or result counts as a sign of life. A worker silent for longer
//! than the timeout is declared lost, and whatever it held is reassigned.
//! Time is passed in, so tests drive it without sleeping.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Member {
    name: String,
    last_seen: Instant,
}

/// The live workers of a job.
#[derive(Debug, Default)]
pub struct Membership {
    members: BTreeMap<u64, Member>,
    next_id: u64,
}

impl Membership {
    /// Adds a worker seen at `now` and returns its id (ids are never reused).
    pub fn join(&mut self, name: &str, now: Instant) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.members.insert(id, Member { name: name.to_string(), last_seen: now });
        id
    }

    /// Records a sign of life; returns false for an unknown or lost worker.
    pub fn touch(&mut self, id: u64, now: Instant) -> bool {
        match self.members.get_mut(&id) {
            Some(member) => {
                member.last_seen = now;
                true
            }
            None => false,
        }
    }

    /// Whether `id` is a live member.
    pub fn contains(&self, id: u64) -> bool {
        self.members.contains_key(&id)
    }

    /// Removes a worker that left; returns its name if it was a member.
    pub fn leave(&mut self, id: u64) -> Option<String> {
        self.members.remove(&id).map(|m| m.name)
    }

    /// Removes and returns (id, name) of every worker silent for more than
    /// `timeout` at `now`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<(u64, String)> {
        let lost: Vec<u64> = self
            .members
            .iter()
            .filter(|(_, m)| now.saturating_duration_since(m.last_seen) > timeout)
            .map(|(&id, _)| id)
            .collect();
        lost.into_iter()
            .filter_map(|id| self.members.remove(&id).map(|m| (id, m.name)))
            .collect()
    }

    /// Number of live workers.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no worker is live.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_worker_expires_and_active_one_stays() {
        let start = Instant::now();
        let mut members = Membership::default();
        let quiet = members.join("a", start);
        let busy = members.join("b", start);
        assert_ne!(quiet, busy);
        assert!(members.touch(busy, start + Duration::from_secs(2)));
        let lost = members.expire(start + Duration::from_secs(3), Duration::from_millis(1500));
        assert_eq!(lost, vec![(quiet, "a".to_string())]);
        assert!(members.contains(busy));
        assert!(!members.touch(quiet, start), "a lost worker must rejoin");
    }

    #[test]
    fn ids_are_not_reused_after_leave() {
        let now = Instant::now();
        let mut members = Membership::default();
        let first = members.join("a", now);
        assert_eq!(members.leave(first).as_deref(), Some("a"));
        assert_ne!(members.join("a", now), first);
        assert_eq!(members.len(), 1);
    }
}
