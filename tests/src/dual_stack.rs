//! The dual-stack network namespace of the Happy Eyeballs tests
//! (tests/netns/dual-stack.sh: `dual.test` is ::1, then 127.0.0.1;
//! `v6only.test` is ::1): a test binary's outer test runs its own inner
//! test in it, or reports visibly why this machine cannot.

use std::process::Command;

use crate::skip::skipped;

/// Set inside the namespace by the script.
pub const INSIDE: &str = "SMTP_DUAL_STACK_NS";

/// The script that makes the namespace and runs a command in it.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/netns/dual-stack.sh");

/// True inside the namespace (the inner test runs, the outer one not).
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// Runs the test `inner` of the current test binary inside the namespace
/// and asserts it passed; prints its output lines from `tag` on (the
/// figures). Skipped visibly without root, iproute2 or an IPv6 loopback.
pub fn run_inner(inner: &str, tag: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        return skipped("needs root to create a network namespace");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return skipped("needs iproute2's ip to create a network namespace");
    }
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return skipped("no IPv6 loopback here (the black hole needs [::1])");
    }
    let output = Command::new("bash")
        .arg(SCRIPT)
        .arg(std::env::current_exe().expect("the test binary"))
        .args(["--exact", inner, "--nocapture", "--test-threads=1"])
        .output()
        .expect("run tests/netns/dual-stack.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "inner test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in stdout.lines() {
        if let Some(at) = line.find(tag) {
            println!("{}", &line[at..]);
        }
    }
}
