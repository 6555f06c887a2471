//! The learning-rate and momentum schedules of the MNIST setup of
//! Goodfellow et al. (2014): the rate divided by a constant after every
//! update down to a floor, and momentum ramped linearly over epochs.

use serde::{Deserialize, Serialize};

/// Learning rate decayed per update and momentum ramped per epoch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    /// Learning rate before the first update. Default 0.1.
    pub initial_learning_rate: f32,
    /// The rate is divided by this after every update. Default 1.000004.
    pub decay_factor: f64,
    /// The rate never drops below this. Default 1e-6.
    pub min_learning_rate: f32,
    /// Momentum up to and including `start_epoch`. Default 0.5.
    pub initial_momentum: f32,
    /// Momentum from `saturate_epoch` on. Default 0.7.
    pub final_momentum: f32,
    /// First epoch of the linear ramp (1-based). Default 1.
    pub start_epoch: u64,
    /// Epoch at which the ramp reaches `final_momentum`. Default 250.
    pub saturate_epoch: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            initial_learning_rate: 0.1,
            decay_factor: 1.000004,
            min_learning_rate: 1e-6,
            initial_momentum: 0.5,
            final_momentum: 0.7,
            start_epoch: 1,
            saturate_epoch: 250,
        }
    }
}

impl Schedule {
    /// Returns the learning rate for the update after `updates_done`
    /// updates: `max(lr0 / decay^updates_done, min_lr)`, computed in f64.
    pub fn learning_rate(&self, updates_done: u64) -> f32 {
        let decayed =
            f64::from(self.initial_learning_rate) / self.decay_factor.powf(updates_done as f64);
        decayed.max(f64::from(self.min_learning_rate)) as f32
    }

    /// Returns the momentum during `epoch` (1-based): constant up to
    /// `start_epoch`, linear up to `saturate_epoch`, constant after.
    pub fn momentum(&self, epoch: u64) -> f32 {
        if epoch <= self.start_epoch || self.saturate_epoch <= self.start_epoch {
            return if epoch >= self.saturate_epoch {
                self.final_momentum
            } else {
                self.initial_momentum
            };
        }
        let span = (self.saturate_epoch - self.start_epoch) as f64;
        let alpha = ((epoch - self.start_epoch) as f64 / span).min(1.0);
        let m = f64::from(self.initial_momentum) * (1.0 - alpha)
            + f64::from(self.final_momentum) * alpha;
        m as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_decays_to_floor() {
        let s = Schedule::default();
        assert_eq!(s.learning_rate(0), 0.1);
        let after = f64::from(s.learning_rate(1));
        assert!((after - 0.1 / 1.000004).abs() < 1e-9, "{after}");
        let expected = 0.1 / 1.000004f64.powf(100_000.0);
        assert!((f64::from(s.learning_rate(100_000)) - expected).abs() < 1e-8);
        // 0.1 / 1.000004^n reaches 1e-6 near n = 2.88 million.
        assert_eq!(s.learning_rate(10_000_000), 1e-6);
    }

    #[test]
    fn momentum_ramps_linearly() {
        let s = Schedule::default();
        assert_eq!(s.momentum(0), 0.5);
        assert_eq!(s.momentum(1), 0.5);
        assert!((s.momentum(250) - 0.7).abs() < 1e-7);
        assert!((s.momentum(1000) - 0.7).abs() < 1e-7);
        let mid = s.momentum(125);
        let want = 0.5 + 0.2 * 124.0 / 249.0;
        assert!((f64::from(mid) - want).abs() < 1e-6, "{mid}");
        assert!(s.momentum(2) > 0.5);
        assert!(s.momentum(2) < s.momentum(3));
    }
}
