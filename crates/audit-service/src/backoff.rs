//! How long a failed stage waits before it tries again: doubling from a
//! base, never longer than the stage's own interval (a stage that runs
//! hourly retries within the hour, not later).

use std::time::Duration;

/// Exponential backoff bounded by a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub base: Duration,
    /// The longest wait.
    pub ceiling: Duration,
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.base
            .saturating_mul(1u32 << doublings)
            .min(self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_ceiling() {
        let b = Backoff {
            base: Duration::from_secs(5),
            ceiling: Duration::from_secs(60),
        };
        let waits: Vec<u64> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(b.delay(0), Duration::from_secs(5));
    }
}
