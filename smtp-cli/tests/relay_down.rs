//! No message lost while the relay is down: 1,000 messages sent by 8
//! concurrent processes (PHP's mail() through `smtp-send -t -i`, and
//! `smtp-send` itself) to a relay that refuses connections are queued
//! (`--queue=on-failure`, exit 0), then `smtp-send -q` against the real
//! Postfix of the test bed delivers every one of them exactly once (each
//! marker found once in the Maildir). Every process and wait is bounded.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use smtp_tests::skip::skipped;
use smtp_tests::testbed::TestBed;

const BIN: &str = env!("CARGO_BIN_EXE_smtp-send");
const WORKERS: usize = 8;
const PER_WORKER: usize = 125;

/// `smtp-send` with only the environment a test gives it.
fn smtp_send(queue: &Path, url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", "/nonexistent/smtp-send-test-home")
        .env("SMTP_SEND_SYSTEM_CONFIG", "")
        .env("SMTP_URL", url)
        .arg(format!("--queue-dir={}", queue.display()));
    c
}

/// Runs a command to its end within `limit` (killed after), its input
/// written and its output read while it runs.
fn run(mut command: Command, input: &[u8], limit: Duration) -> (i32, String, String) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let out = match finished.recv_timeout(limit) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            // SAFETY: kill(2) on the child's pid; it has not been reaped
            // (the waiting thread is still blocked on it).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("{command:?} ran longer than {limit:?}");
        }
    };
    let _ = writer.join();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn php_available() -> bool {
    Command::new("php")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One worker: `PER_WORKER` messages, each with its own marker, through
/// PHP's mail() (one PHP process calling it in a loop) or through one
/// `smtp-send` process per message.
fn worker(n: usize, php: bool, queue: &Path, down: &str, to: &str, from: &str, base: &str) {
    let markers: Vec<String> = (0..PER_WORKER)
        .map(|i| format!("{base}-{}", n * PER_WORKER + i))
        .collect();
    if php {
        let subjects = markers
            .iter()
            .map(|m| format!("'{m}'"))
            .collect::<Vec<_>>()
            .join(",");
        let script = format!(
            "$failed = 0; foreach ([{subjects}] as $s) {{ if (!mail('{to}', $s, \"body $s\\n\", 'From: {from}')) {{ $failed++; }} }} echo \"failed=$failed\";"
        );
        let mut php = Command::new("php");
        php.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", "/nonexistent/smtp-send-test-home")
            .env("SMTP_SEND_SYSTEM_CONFIG", "")
            .env("SMTP_URL", down)
            .args([
                "-n",
                "-d",
                &format!(
                    "sendmail_path={BIN} --queue=on-failure --queue-dir={} -t -i",
                    queue.display()
                ),
                "-r",
                &script,
            ]);
        let (code, out, err) = run(php, b"", Duration::from_secs(180));
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("failed=0"),
            "mail() reported a failure: {out}{err}"
        );
    } else {
        for marker in &markers {
            let mut c = smtp_send(queue, down);
            c.args(["--queue=on-failure", "-t", "-i"]);
            let message = format!("From: {from}\nTo: {to}\nSubject: {marker}\n\nbody {marker}\n");
            let (code, out, err) = run(c, message.as_bytes(), Duration::from_secs(30));
            assert_eq!(code, 0, "{marker}: {out}{err}");
        }
    }
}

#[test]
fn a_thousand_messages_from_eight_processes_survive_a_relay_down() {
    let Some(bed) = TestBed::get() else {
        return skipped("no test bed (SMTP_TESTBED_ENV)");
    };
    let php = php_available();
    if !php {
        skipped("php is not installed: every worker uses smtp-send directly");
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("smtp-send-relay-down-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let queue = dir.join("queue");
    let down = format!("smtp://127.0.0.1:{}?security=none&timeout=5", closed_port());
    let to = format!("relay-down@{}", bed.domain);
    let from = format!("www@{}", bed.domain);
    let base = TestBed::unique_marker("relay-down");
    let started = Instant::now();
    thread::scope(|s| {
        for n in 0..WORKERS {
            let (queue, down, to, from, base) = (&queue, &down, &to, &from, &base);
            // Half through PHP's mail(), half through smtp-send itself.
            s.spawn(move || worker(n, php && n % 2 == 0, queue, down, to, from, base));
        }
    });
    let queued_in = started.elapsed();
    // All queued: -bp --json lists every message, none with a problem.
    let mut list = smtp_send(&queue, &down);
    list.args(["-bp", "--json"]);
    let (code, json, err) = run(list, b"", Duration::from_secs(60));
    assert_eq!(code, 0, "{json}{err}");
    let entries: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON on stdout");
    assert_eq!(entries.len(), WORKERS * PER_WORKER, "messages queued");
    assert!(entries.iter().all(|e| e["problem"].is_null()));
    // The relay is back: one runner delivers them all.
    let up = format!(
        "smtp://{}@localhost:{}?timeout=30",
        bed.user, bed.port_submission
    );
    let mut runner = smtp_send(&queue, &up);
    runner
        .env("SMTP_PASSWORD", &bed.password)
        .env("SMTP_CA_FILE", &bed.ca_file)
        .args(["-q", "-v"]);
    let drained = Instant::now();
    let (code, out, err) = run(runner, b"", Duration::from_secs(300));
    assert_eq!(code, 0, "{out}{err}");
    let drained_in = drained.elapsed();
    let mut list = smtp_send(&queue, &up);
    list.args(["-bp", "--json"]);
    let (_, json, _) = run(list, b"", Duration::from_secs(60));
    let left: Vec<serde_json::Value> = serde_json::from_str(&json).expect("JSON");
    assert!(left.is_empty(), "still queued: {json}");
    // Each marker exactly once in the Maildir.
    let markers: Vec<String> = (0..WORKERS * PER_WORKER)
        .map(|i| format!("{base}-{i}\n"))
        .collect();
    let wanted: Vec<(&str, usize)> = markers.iter().map(|m| (m.as_str(), 1)).collect();
    bed.wait_for_markers(&wanted, Duration::from_secs(120))
        .expect("every message delivered");
    // A duplicate would arrive within moments of the first copy.
    thread::sleep(Duration::from_secs(1));
    let found = bed
        .wait_for_markers(&wanted, Duration::from_secs(30))
        .expect("every message still there");
    let duplicated: Vec<&str> = markers
        .iter()
        .zip(&found)
        .filter(|(_, copies)| copies.len() != 1)
        .map(|(m, _)| m.trim_end())
        .collect();
    assert!(
        duplicated.is_empty(),
        "delivered more than once: {duplicated:?}"
    );
    eprintln!(
        "relay down: {} messages queued by {WORKERS} processes in {queued_in:?}, delivered once each in {drained_in:?}",
        WORKERS * PER_WORKER
    );
    let _ = std::fs::remove_dir_all(&dir);
}
