//! Tests skipped at run time, made visible.
//!
//! The test harness has no run-time skip: a test that returns early counts
//! as passed, and what it printed with `eprintln!` is captured and thrown
//! away. [`skipped`] writes one line straight to the process's standard
//! error, which the harness does not capture, so every run shows it:
//!
//! ```text
//! SKIPPED ipv6_loopback: the test bed has no IPv6 loopback port
//! ```
//!
//! `tests/test-all.sh` counts these lines in its summary. Tests whose
//! prerequisites the full suite provides (the test bed, php, smtp-sink)
//! fail instead of skipping when `SMTP_TESTBED_REQUIRED=1`; that check stays
//! with each prerequisite (see [`crate::testbed::TestBed::get`]).

use std::fmt::Display;
use std::io::Write;

/// The prefix of a skip line.
pub const PREFIX: &str = "SKIPPED";

/// The line [`skipped`] writes for the test `name`.
pub fn skip_line(name: &str, reason: impl Display) -> String {
    format!("{PREFIX} {name}: {reason}\n")
}

/// Reports the current test as skipped, with its reason, on standard error
/// (uncaptured). The caller then returns: `return skipped("...")`.
pub fn skipped(reason: impl Display) {
    // The harness names each test's thread after the test.
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("a test");
    let line = skip_line(name, reason);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_test_and_the_reason() {
        assert_eq!(skip_line("t", "no ::1"), "SKIPPED t: no ::1\n".to_string());
    }
}
