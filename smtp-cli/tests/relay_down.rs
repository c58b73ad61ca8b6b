//! No message lost while the relay is down: 1,000 messages sent by 8
//! concurrent processes (PHP's mail() through `smtp-send -t -i`,
//! `smtp-send` itself, and a C program using the C API: `smtp_send()`,
//! then `smtp_outbox_enqueue_raw()` when it fails) to a relay that refuses
//! connections are queued (`--queue=on-failure`, exit 0), all into one
//! spool, then `smtp-send -q` against the real
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

/// How a worker sends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// One PHP process calling mail() in a loop (smtp-send as sendmail).
    Php,
    /// One `smtp-send` process per message.
    SmtpSend,
    /// One C process: `smtp_send()`, and the outbox when it fails.
    C,
}

/// Compiles the C worker (tests/c/relay_worker.c) against the workspace's
/// libsmtp; `None` (with why) when there is no C compiler.
fn c_worker() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/relay_down-HASH -> target/<profile>
    let lib_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory")?
        .to_path_buf();
    if !lib_dir.join("libsmtp.so").exists() {
        // `cargo test --workspace` builds it; a lone `-p smtp-cli` may not.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "smtp-ffi"])
            .status()
            .map_err(|e| format!("cargo build -p smtp-ffi: {e}"))?;
        if !status.success() || !lib_dir.join("libsmtp.so").exists() {
            return Err(format!("no libsmtp.so in {}", lib_dir.display()));
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("relay-worker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // The library's SONAME is libsmtp.so.0: both names point at the build.
    for name in ["libsmtp.so", "libsmtp.so.0"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(lib_dir.join("libsmtp.so"), &link).map_err(|e| e.to_string())?;
    }
    let lib_dir = dir.clone();
    let out = dir.join("relay_worker");
    let status = Command::new("cc")
        .arg("-std=c11")
        .arg("-Wall")
        .arg("-Werror")
        .arg(format!("-I{}", manifest.join("../include").display()))
        .arg(manifest.join("tests/c/relay_worker.c"))
        .arg("-o")
        .arg(&out)
        .arg(format!("-L{}", lib_dir.display()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lsmtp")
        .status()
        .map_err(|e| format!("cc: {e}"))?;
    if !status.success() {
        return Err(format!("cc failed: {status}"));
    }
    Ok(out)
}

/// One worker: `PER_WORKER` messages, each with its own marker, through
/// PHP's mail() (one PHP process calling it in a loop), through one
/// `smtp-send` process per message, or through the C API.
#[allow(clippy::too_many_arguments)]
fn worker(
    n: usize,
    kind: Kind,
    c_program: Option<&Path>,
    queue: &Path,
    (down, down_port): (&str, u16),
    to: &str,
    from: &str,
    base: &str,
) {
    let markers: Vec<String> = (0..PER_WORKER)
        .map(|i| format!("{base}-{}", n * PER_WORKER + i))
        .collect();
    if kind == Kind::C {
        let program = c_program.expect("compiled");
        let mut c = Command::new(program);
        c.env_clear().args([
            queue.display().to_string(),
            down_port.to_string(),
            from.to_string(),
            to.to_string(),
            base.to_string(),
            (n * PER_WORKER).to_string(),
            PER_WORKER.to_string(),
        ]);
        let (code, out, err) = run(c, b"", Duration::from_secs(180));
        assert_eq!(code, 0, "C worker: {out}{err}");
        assert!(
            out.contains(&format!("queued={PER_WORKER} failed=0")),
            "{out}{err}"
        );
    } else if kind == Kind::Php {
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
        skipped("php is not installed: its workers use smtp-send directly");
    }
    let c_program = match c_worker() {
        Ok(path) => Some(path),
        Err(why) => {
            skipped(format!(
                "no C worker ({why}): its workers use smtp-send directly"
            ));
            None
        }
    };
    let dir: PathBuf =
        std::env::temp_dir().join(format!("smtp-send-relay-down-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let queue = dir.join("queue");
    let down_port = closed_port();
    let down = format!("smtp://127.0.0.1:{down_port}?security=none&timeout=5");
    let to = format!("relay-down@{}", bed.domain);
    let from = format!("www@{}", bed.domain);
    let base = TestBed::unique_marker("relay-down");
    let started = Instant::now();
    thread::scope(|s| {
        for n in 0..WORKERS {
            let (queue, down, to, from, base) = (&queue, &down, &to, &from, &base);
            let c_program = c_program.as_deref();
            // Three through PHP's mail(), three through smtp-send itself,
            // two through the C API.
            let kind = match n % 3 {
                0 if php => Kind::Php,
                2 if c_program.is_some() => Kind::C,
                _ => Kind::SmtpSend,
            };
            s.spawn(move || worker(n, kind, c_program, queue, (down, down_port), to, from, base));
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
    if let Some(dir) = c_program.as_deref().and_then(Path::parent) {
        let _ = std::fs::remove_dir_all(dir);
    }
}
