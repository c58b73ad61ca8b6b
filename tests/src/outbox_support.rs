//! Shared pieces of the outbox tests: fresh spool directories, messages
//! that carry a marker and can be checked whole, and a retry policy
//! without jitter (so that a test knows when a message is due).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use smtp_core::RetryPolicy;

/// A new empty directory for a spool, under the system's temporary
/// directory, named after `name` and this process (removed first if a
/// run before left it).
pub fn spool_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir()
        .join("smtp-outbox-tests")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().expect("a parent")).expect("create the test directory");
    dir
}

/// The message carrying `marker`: a few header fields (the marker in the
/// Subject and the Message-ID) and a body of `lines` lines that repeat the
/// marker, so that a truncated copy is told from a whole one. CRLF line
/// ends, no line starting with a dot: it arrives exactly as it is.
pub fn marked_message(marker: &str, lines: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender <sender@example.test>\r\n\
         To: rcpt@example.test\r\n\
         Subject: outbox test {marker}\r\n\
         Message-ID: <{marker}@example.test>\r\n\
         Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n"
    );
    for i in 0..lines {
        m.push_str(&format!("line {i:05} of {marker}: the quick brown fox\r\n"));
    }
    m.push_str(&format!("end of {marker}\r\n"));
    m.into_bytes()
}

/// The marker in a message made by [`marked_message`] (from its Subject).
pub fn marker_of(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let start = text.find("Subject: outbox test ")? + "Subject: outbox test ".len();
    let end = text[start..].find('\r').map(|e| start + e)?;
    Some(text[start..end].to_string())
}

/// The default schedule without jitter: the first retry after exactly
/// 60 s, then 120 s, 240 s...
pub fn no_jitter() -> RetryPolicy {
    RetryPolicy {
        jitter: 0.0,
        ..RetryPolicy::default()
    }
}

/// `seconds` as a [`Duration`] (reads better in schedule tests).
pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// A small deterministic pseudo-random generator (xorshift64*), so that
/// what a seeded test tries is the same on every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is moved off the fixed point).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_come_back_out() {
        let m = marked_message("abc-1", 3);
        assert_eq!(marker_of(&m).as_deref(), Some("abc-1"));
        assert!(!m.split(|&b| b == b'\n').any(|l| l.starts_with(b".")));
    }

    #[test]
    fn the_generator_is_seeded() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.below(100)).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.below(100)).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(0).next_u64(), 0);
    }
}
