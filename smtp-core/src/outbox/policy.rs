//! When a queued message is tried again, and when it is given up: an
//! exponential backoff with jitter, a lifetime, an optional delay warning.

use std::time::Duration;

/// The retry schedule of an [`Outbox`](super::Outbox).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt (default 1 minute).
    pub first_retry: Duration,
    /// Each later wait is the one before times this (default 2).
    pub factor: u32,
    /// No wait is longer than this (default 1 hour).
    pub max_retry: Duration,
    /// A random part of each wait, up to this fraction of it, so that many
    /// messages deferred together are not all tried together (default 0.2).
    pub jitter: f64,
    /// After this long in the queue, the recipients still open fail and
    /// are bounced (default 5 days).
    pub lifetime: Duration,
    /// After this long, a warning that delivery is delayed goes to the
    /// sender once (default none; 4 hours is the MTA custom).
    pub warn_after: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            first_retry: Duration::from_secs(60),
            factor: 2,
            max_retry: Duration::from_secs(3600),
            jitter: 0.2,
            lifetime: Duration::from_secs(5 * 24 * 3600),
            warn_after: None,
        }
    }
}

impl RetryPolicy {
    /// The wait after attempt number `attempts` (from 1) failed, before
    /// jitter: `first_retry * factor^(attempts-1)`, at most `max_retry`.
    pub fn delay(&self, attempts: u32) -> Duration {
        let mut delay = self.first_retry;
        for _ in 1..attempts.max(1) {
            delay = delay.saturating_mul(self.factor.max(1));
            if delay >= self.max_retry {
                return self.max_retry;
            }
        }
        delay.min(self.max_retry)
    }

    /// [`RetryPolicy::delay`] plus a random part of up to `jitter` of it;
    /// `random` is uniform in 0..1.
    pub(crate) fn delay_with_jitter(&self, attempts: u32, random: f64) -> Duration {
        let delay = self.delay(attempts);
        let jitter = self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        delay + delay.mul_f64(jitter)
    }
}

/// A uniform random number in 0..1.
pub(crate) fn random_unit() -> f64 {
    let bytes: [u8; 8] = crate::message::random_bytes();
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let minutes: Vec<u64> = (1..=9).map(|n| p.delay(n).as_secs() / 60).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(p.delay(0), Duration::from_secs(60));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(3600));
        assert_eq!(p.delay_with_jitter(1, 0.0), Duration::from_secs(60));
        assert_eq!(p.delay_with_jitter(1, 1.0), Duration::from_secs(72));
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
