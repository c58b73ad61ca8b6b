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

/// The names [`RetryPolicy::set`] takes.
pub const RETRY_OPTIONS: &[&str] = &[
    "first_retry",
    "factor",
    "max_retry",
    "lifetime",
    "warn_after",
];

/// A duration as people write it: `90`, `90s`, `5m`, `4h`, `5d`.
fn duration(name: &'static str, value: &str) -> crate::Result<Duration> {
    let value = value.trim();
    let (number, unit) = match value.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => value.split_at(i),
        None => (value, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|_| scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .map(Duration::from_secs)
        .ok_or_else(|| crate::Error::InvalidInput {
            field: name,
            reason: format!("must be a duration such as 90s, 5m, 4h or 5d, not {value:?}"),
        })
}

impl RetryPolicy {
    /// Sets one part of the schedule by name ([`RETRY_OPTIONS`]), as a
    /// configuration file gives it: `first_retry`, `max_retry`, `lifetime`
    /// (durations: `90s`, `5m`, `4h`, `5d`), `factor` (a whole number from
    /// 1), `warn_after` (a duration, or `off`). An unknown name or a bad
    /// value is [`Error::InvalidInput`](crate::Error::InvalidInput) and
    /// changes nothing.
    pub fn set(&mut self, name: &str, value: &str) -> crate::Result<()> {
        match name {
            "first_retry" => self.first_retry = duration("first_retry", value)?,
            "max_retry" => self.max_retry = duration("max_retry", value)?,
            "lifetime" => self.lifetime = duration("lifetime", value)?,
            "warn_after" => {
                self.warn_after = if matches!(value.trim(), "off" | "0" | "none") {
                    None
                } else {
                    Some(duration("warn_after", value)?)
                }
            }
            "factor" => {
                self.factor = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|f| *f >= 1)
                    .ok_or_else(|| crate::Error::InvalidInput {
                        field: "factor",
                        reason: format!("must be a whole number from 1, not {value:?}"),
                    })?
            }
            _ => {
                return Err(crate::Error::InvalidInput {
                    field: "retry option",
                    reason: format!("{name:?} is not one; they are {}", RETRY_OPTIONS.join(", ")),
                })
            }
        }
        Ok(())
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
    fn the_schedule_by_name() {
        let mut p = RetryPolicy::default();
        for (name, value) in [
            ("first_retry", "90s"),
            ("max_retry", "2h"),
            ("lifetime", "3d"),
            ("warn_after", "4h"),
            ("factor", "3"),
        ] {
            p.set(name, value).unwrap();
        }
        assert_eq!(p.first_retry, Duration::from_secs(90));
        assert_eq!(p.max_retry, Duration::from_secs(7200));
        assert_eq!(p.lifetime, Duration::from_secs(3 * 86_400));
        assert_eq!(p.warn_after, Some(Duration::from_secs(4 * 3600)));
        assert_eq!(p.factor, 3);
        p.set("warn_after", "off").unwrap();
        assert_eq!(p.warn_after, None);
        p.set("first_retry", "120").unwrap();
        assert_eq!(p.first_retry, Duration::from_secs(120));
        for (name, value) in [
            ("first_retry", "soon"),
            ("lifetime", "5w"),
            ("factor", "0"),
            ("max_retry", ""),
            ("retries", "3"),
        ] {
            assert!(p.set(name, value).is_err(), "{name}={value}");
        }
        assert_eq!(p.first_retry, Duration::from_secs(120), "nothing changed");
    }

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
