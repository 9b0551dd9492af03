//! Retry policy: attempts and exponential backoff with jitter and a cap.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How often and how far apart a failing step is tried again.
///
/// The delay before attempt `n + 1` is `initial * multiplier^(n-1)`, capped at `max_delay`,
/// then scaled by a random factor in `[1 - jitter, 1]` so retries of many runs spread out.
/// Backoff is stored as the job's next `run_at`; no worker sleeps while holding a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the second attempt, in milliseconds.
    pub initial_delay_ms: u64,
    /// Growth factor per attempt.
    pub multiplier: f64,
    /// Upper bound of a delay, in milliseconds.
    pub max_delay_ms: u64,
    /// Fraction of the delay that is randomised, 0.0 to 1.0.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 s doubling up to 5 min, 20 % jitter.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_delay_ms: 1_000,
            multiplier: 2.0,
            max_delay_ms: 300_000,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts with the default backoff.
    pub fn attempts(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            ..Self::default()
        }
    }

    /// No retries: the first failure is final.
    pub fn none() -> Self {
        Self::attempts(1)
    }

    /// Sets the first delay and the cap.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_delay_ms = initial.as_millis() as u64;
        self.max_delay_ms = max.as_millis() as u64;
        self
    }

    /// Sets the growth factor.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the jitter fraction (0 disables it).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Checks the numbers are usable.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(format!("jitter must be within 0..=1, got {}", self.jitter));
        }
        if self.multiplier < 1.0 || !self.multiplier.is_finite() {
            return Err(format!("multiplier must be >= 1, got {}", self.multiplier));
        }
        Ok(())
    }

    /// The delay before the attempt after `failed_attempt` (1-based), jitter applied.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        let base = self.delay_without_jitter(failed_attempt);
        if self.jitter <= 0.0 {
            return base;
        }
        let factor = 1.0 - rand::rng().random_range(0.0..=self.jitter);
        base.mul_f64(factor)
    }

    /// The delay before the attempt after `failed_attempt`, without jitter.
    pub fn delay_without_jitter(&self, failed_attempt: u32) -> Duration {
        let exp = failed_attempt.saturating_sub(1).min(64) as i32;
        let ms = (self.initial_delay_ms as f64) * self.multiplier.powi(exp);
        Duration::from_millis(ms.min(self.max_delay_ms as f64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = RetryPolicy::attempts(10)
            .backoff(Duration::from_millis(100), Duration::from_millis(1_000))
            .jitter(0.0);
        let delays: Vec<u128> = (1..=6).map(|n| p.delay_after(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = RetryPolicy::attempts(3)
            .backoff(Duration::from_millis(1_000), Duration::from_secs(10))
            .jitter(0.5);
        for _ in 0..200 {
            let d = p.delay_after(1).as_millis();
            assert!((500..=1_000).contains(&d), "{d}");
        }
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(RetryPolicy::attempts(0).validate().is_err());
        assert!(RetryPolicy::default().jitter(2.0).validate().is_err());
        assert!(RetryPolicy::default().multiplier(0.5).validate().is_err());
        assert!(RetryPolicy::default().validate().is_ok());
    }
}
