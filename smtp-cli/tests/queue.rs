//! The outbox through the `smtp-send` binary: `--queue=always|on-failure`,
//! `-q`, `-bp [--json]`, `--queue-runner`, an unwritable queue, against the
//! workspace's scripted server on loopback (and the real test bed when
//! `SMTP_TESTBED_ENV` names one). Every wait is bounded.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{fake, Out, TempDir};
use smtp_tests::scripted::{converse, expect, hello, reply, Answer, ScriptedServer, Step};
use smtp_tests::skip::skipped;
use smtp_tests::testbed::TestBed;

const MESSAGE: &[u8] = b"Subject: queued\n\nHello from the outbox.\n";

/// smtp-send with a clean environment (no configuration files, HOME in
/// the test's directory), the queue in `queue`, the server at `url`.
fn smtp_send(home: &TempDir, queue: &Path, url: &str) -> Command {
    let mut c = fake::clean_command();
    c.env("HOME", home.path("home"))
        .env("SMTP_URL", url)
        .arg(format!("--queue-dir={}", queue.display()));
    c
}

fn run(command: Command, arguments: &[&str], stdin: &[u8]) -> Out {
    fake::run(fake::args(command, arguments), stdin)
}

/// A URL for the scripted server (no TLS, 5 s timeouts).
fn url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}?security=none&timeout=5")
}

/// A loopback port where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One whole delivery from `from` to `to`, then QUIT.
fn delivery(from: &str, to: &[&str]) -> Vec<Step> {
    let mut script = hello(&[]);
    script.extend([
        expect(&format!("MAIL FROM:<{from}>")),
        reply("250 2.1.0 Ok"),
    ]);
    for rcpt in to {
        script.extend([expect(&format!("RCPT TO:<{rcpt}>")), reply("250 2.1.5 Ok")]);
    }
    script.extend([
        expect("DATA"),
        reply("354 go ahead"),
        Step::ReadData,
        reply("250 2.0.0 Ok: queued as SCRIPTED"),
        expect("QUIT"),
        reply("221 2.0.0 bye"),
        Step::ExpectClose(Duration::from_secs(3)),
    ]);
    script
}

/// The queue as `-bp --json` gives it, parsed.
fn listed(home: &TempDir, queue: &Path) -> Vec<serde_json::Value> {
    let out = run(
        smtp_send(home, queue, "smtp://127.0.0.1:1"),
        &["-bp", "--json"],
        b"",
    );
    out.expect(0);
    let value: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("-bp --json is not JSON ({e}): {}", out.stdout));
    value.as_array().expect("an array").clone()
}

/// The files in the queue's `queue/` directory.
fn queue_files(queue: &Path) -> Vec<String> {
    match std::fs::read_dir(queue.join("queue")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The id in a `queued as ID` note.
fn queued_id(stderr: &str) -> String {
    let at = stderr
        .find("queued as ")
        .unwrap_or_else(|| panic!("no 'queued as' in {stderr:?}"));
    stderr[at + 10..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn queue_always_then_q_delivers_once() {
    let home = TempDir::new("always");
    let queue = home.path("q");
    // Nothing listens: with always, nothing is even tried.
    let down = url(closed_port());
    let out = run(
        smtp_send(&home, &queue, &down),
        &[
            "--queue=always",
            "-v",
            "-f",
            "me@example.test",
            "you@example.test",
        ],
        MESSAGE,
    );
    out.expect(0);
    let id = queued_id(&out.stderr);
    assert!(!out.stderr.contains("could not connect"), "{}", out.stderr);
    let entries = listed(&home, &queue);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["id"], id.as_str());
    // -q delivers it over one connection.
    let server = ScriptedServer::start(delivery("me@example.test", &["you@example.test"]));
    let out = run(
        smtp_send(&home, &queue, &url(server.port())),
        &["-q", "-v"],
        b"",
    );
    out.expect(0);
    assert!(
        out.stderr.contains(&format!("{id} delivered")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("queue run: 1 delivered, 0 deferred"),
        "{}",
        out.stderr
    );
    let capture = server.wait();
    capture.assert_clean();
    assert_eq!(capture.count_lines("MAIL FROM"), 1);
    let body = String::from_utf8_lossy(&capture.bodies[0]).into_owned();
    assert!(body.contains("Hello from the outbox."), "{body}");
    assert!(body.contains("Message-ID: "), "{body}");
    assert!(listed(&home, &queue).is_empty());
    assert!(queue_files(&queue).is_empty(), "{:?}", queue_files(&queue));
    // A second run has nothing to do and connects nowhere.
    let out = run(smtp_send(&home, &queue, &down), &["-q", "-v"], b"");
    out.expect(0);
    assert!(out.stderr.contains("nothing to deliver"), "{}", out.stderr);
}

#[test]
fn on_failure_with_the_relay_down_queues_then_q_delivers_once() {
    let home = TempDir::new("down");
    let queue = home.path("q");
    let log = home.path("send.log");
    let out = run(
        smtp_send(&home, &queue, &url(closed_port())),
        &[
            "-v",
            "--log-file",
            log.to_str().unwrap(),
            "-f",
            "me@example.test",
            "you@example.test",
        ],
        MESSAGE,
    );
    // on-failure is the default.
    out.expect(0);
    assert!(out.stderr.contains("could not connect"), "{}", out.stderr);
    let id = queued_id(&out.stderr);
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(
        line.contains(&format!(" result=queued exit=0 queue_id={id} ")),
        "{line}"
    );
    // Without -v, the same is silent.
    let quiet = run(
        smtp_send(&home, &queue, &url(closed_port())),
        &["-f", "me@example.test", "other@example.test"],
        MESSAGE,
    );
    quiet.expect(0);
    assert_eq!(quiet.stderr, "");
    let entries = listed(&home, &queue);
    assert_eq!(entries.len(), 2);
    // -bp says why each was queued.
    for e in &entries {
        let why = e["last_error"].as_str().unwrap_or_default();
        assert!(why.contains("connect"), "{e}");
    }
    // Both go out over one connection to a working server, once each.
    let mut script = hello(&[]);
    for rcpt in ["you@example.test", "other@example.test"] {
        script.extend([
            expect("MAIL FROM:<me@example.test>"),
            reply("250 2.1.0 Ok"),
            expect(&format!("RCPT TO:<{rcpt}>")),
            reply("250 2.1.5 Ok"),
            expect("DATA"),
            reply("354 go ahead"),
            Step::ReadData,
            reply("250 2.0.0 Ok"),
        ]);
    }
    script.extend([
        expect("QUIT"),
        reply("221 2.0.0 bye"),
        Step::ExpectClose(Duration::from_secs(3)),
    ]);
    let server = ScriptedServer::start(script);
    let out = run(smtp_send(&home, &queue, &url(server.port())), &["-q"], b"");
    out.expect(0);
    assert_eq!(out.stderr, "", "-q is quiet without -v");
    let capture = server.wait();
    capture.assert_clean();
    assert_eq!(capture.count_lines("MAIL FROM"), 2);
    assert_eq!(capture.bodies.len(), 2);
    assert!(listed(&home, &queue).is_empty());
    assert!(queue_files(&queue).is_empty());
}

#[test]
fn a_transient_refusal_is_queued_with_the_bytes_that_were_tried() {
    let home = TempDir::new("451");
    let queue = home.path("q");
    // 451 after the data: the queued copy is the whole prepared message.
    let mut script = hello(&[]);
    script.extend([
        expect("MAIL FROM:<me@example.test>"),
        reply("250 2.1.0 Ok"),
        expect("RCPT TO:<you@example.test>"),
        reply("250 2.1.5 Ok"),
        expect("DATA"),
        reply("354 go ahead"),
        Step::ReadData,
        reply("451 4.3.0 try again later"),
        Step::ExpectClose(Duration::from_secs(3)),
    ]);
    let server = ScriptedServer::start(script);
    let out = run(
        smtp_send(&home, &queue, &url(server.port())),
        &["-v", "-f", "me@example.test", "you@example.test"],
        MESSAGE,
    );
    out.expect(0);
    assert!(out.stderr.contains("451 4.3.0"), "{}", out.stderr);
    let id = queued_id(&out.stderr);
    let capture = server.wait();
    let sent = String::from_utf8_lossy(&capture.bodies[0]).into_owned();
    let queued = String::from_utf8(queued_message(&queue, &id)).unwrap();
    // The same bytes (the wire adds only the final dot).
    assert_eq!(format!("{queued}.\r\n"), sent);
}

#[test]
fn a_permanent_refusal_stays_a_failure_with_nothing_queued() {
    let home = TempDir::new("550");
    let queue = home.path("q");
    let mut script = hello(&[]);
    script.extend([
        expect("MAIL FROM:<me@example.test>"),
        reply("250 2.1.0 Ok"),
        expect("RCPT TO:<nobody@example.test>"),
        reply("550 5.1.1 no such user"),
        converse(3, |line| {
            if line.to_ascii_uppercase().starts_with("QUIT") {
                Answer::ReplyAndEnd(b"221 bye\r\n".to_vec())
            } else {
                Answer::Reply(b"250 2.0.0 Ok\r\n".to_vec())
            }
        }),
    ]);
    let server = ScriptedServer::start(script);
    let out = run(
        smtp_send(&home, &queue, &url(server.port())),
        &["-v", "-f", "me@example.test", "nobody@example.test"],
        MESSAGE,
    );
    out.expect(67);
    assert!(out.stderr.contains("550 5.1.1"), "{}", out.stderr);
    assert!(!out.stderr.contains("queued as"), "{}", out.stderr);
    let _ = server.wait();
    assert!(listed(&home, &queue).is_empty());
    assert!(queue_files(&queue).is_empty());
    // Nothing left in tmp/ either: the kept copy was never a file there.
    let tmp: Vec<_> = std::fs::read_dir(queue.join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
}

#[test]
fn bp_lists_an_entry_as_text_and_as_json() {
    let home = TempDir::new("bp");
    let queue = home.path("q");
    let out = run(
        smtp_send(&home, &queue, &url(closed_port())),
        &[
            "--queue=always",
            "-v",
            "-f",
            "me@example.test",
            "a@example.test, \"Quote\\\"d\" <b@example.test>",
        ],
        MESSAGE,
    );
    out.expect(0);
    let id = queued_id(&out.stderr);
    let text = run(
        smtp_send(&home, &queue, "smtp://127.0.0.1:1"),
        &["-bp"],
        b"",
    );
    text.expect(0);
    let t = &text.stdout;
    assert!(t.starts_with(&format!("{id}  ")), "{t}");
    for needle in [
        " bytes  age ",
        "attempts 0",
        "due now",
        "  from <me@example.test>\n",
        "  to <a@example.test>  pending\n",
        "  to <b@example.test>  pending\n",
        "-- 1 message in ",
    ] {
        assert!(t.contains(needle), "{needle:?} not in:\n{t}");
    }
    let entries = listed(&home, &queue);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["sender"], "me@example.test");
    assert_eq!(e["attempts"], 0);
    assert_eq!(e["held"], false);
    assert_eq!(e["possible_duplicate"], false);
    assert!(e["problem"].is_null() && e["last_error"].is_null());
    let size = e["size"].as_u64().unwrap();
    assert_eq!(size, queued_message(&queue, &id).len() as u64);
    assert!(e["created"].as_u64().unwrap() > 1_600_000_000);
    let recipients = e["recipients"].as_array().unwrap();
    let addresses: Vec<&str> = recipients
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["a@example.test", "b@example.test"]);
    assert!(recipients
        .iter()
        .all(|r| r["status"] == "pending" && r["reply"].is_null()));
    // A broken entry is listed, not dropped.
    std::fs::write(queue.join("queue").join("zz.broken.msg"), b"x").unwrap();
    let entries = listed(&home, &queue);
    assert_eq!(entries.len(), 2);
    assert!(entries[1]["problem"]
        .as_str()
        .unwrap()
        .contains("corrupt message file"));
    // An empty queue, and one that does not exist.
    let out = run(
        smtp_send(&home, &home.path("none"), "smtp://127.0.0.1:1"),
        &["-bp"],
        b"",
    );
    out.expect(0);
    assert!(
        out.stdout.starts_with("Mail queue is empty"),
        "{}",
        out.stdout
    );
    assert!(!home.path("none").exists());
}

/// What smtp-send does with a queue it cannot write, relay down or up.
fn unwritable(home: &TempDir, queue: &Path) {
    let out = run(
        smtp_send(home, queue, &url(closed_port())),
        &[
            "--queue=always",
            "-v",
            "-f",
            "me@example.test",
            "you@example.test",
        ],
        MESSAGE,
    );
    out.expect(75);
    assert!(out.stderr.contains("NOT queued"), "{}", out.stderr);
    assert!(!out.stderr.contains("queued as"), "{}", out.stderr);
    // on-failure: the relay is down too; the message is not claimed safe.
    let out = run(
        smtp_send(home, queue, &url(closed_port())),
        &["-v", "-f", "me@example.test", "you@example.test"],
        MESSAGE,
    );
    out.expect(75);
    assert!(
        out.stderr.contains("could not connect") && out.stderr.contains("NOT queued"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("queued as"), "{}", out.stderr);
    // on-failure with a working relay still delivers.
    let server = ScriptedServer::start(delivery("me@example.test", &["you@example.test"]));
    let out = run(
        smtp_send(home, queue, &url(server.port())),
        &["-f", "me@example.test", "you@example.test"],
        MESSAGE,
    );
    out.expect(0);
    server.wait().assert_clean();
    // -q and -bp say what is wrong: exit 75.
    let out = run(smtp_send(home, queue, &url(closed_port())), &["-q"], b"");
    out.expect(75);
}

#[test]
fn a_queue_under_a_file_is_exit_75_and_nothing_is_claimed() {
    // Even root cannot make a directory under a regular file.
    let home = TempDir::new("notdir");
    std::fs::write(home.path("file"), b"").unwrap();
    unwritable(&home, &home.path("file").join("q"));
}

#[test]
fn a_full_disk_is_exit_75_and_nothing_is_claimed() {
    // A 256 KiB tmpfs (CI runs as root; elsewhere: reported skipped).
    let home = TempDir::new("full");
    let mount = home.path("disk");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"])
        .arg(&mount)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        return skipped("cannot mount a tmpfs (needs root)");
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let queue = mount.join("q");
    // One small message fits and is queued.
    let out = run(
        smtp_send(&home, &queue, &url(closed_port())),
        &[
            "--queue=always",
            "-v",
            "-f",
            "me@example.test",
            "you@example.test",
        ],
        MESSAGE,
    );
    out.expect(0);
    let kept = queued_id(&out.stderr);
    // One larger than the disk: exit 75, not claimed, nothing half visible.
    let big = [MESSAGE, &b"x".repeat(400 * 1024)[..], b"\n"].concat();
    for mode in ["--queue=always", "--queue=on-failure"] {
        let out = run(
            smtp_send(&home, &queue, &url(closed_port())),
            &[mode, "-v", "-f", "me@example.test", "you@example.test"],
            &big,
        );
        out.expect(75);
        assert!(out.stderr.contains("NOT queued"), "{mode}: {}", out.stderr);
        assert!(!out.stderr.contains("queued as"), "{mode}: {}", out.stderr);
    }
    let entries = listed(&home, &queue);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["id"], kept.as_str());
    assert!(entries[0]["problem"].is_null());
    assert!(
        std::fs::read_dir(queue.join("tmp"))
            .unwrap()
            .next()
            .is_none(),
        "a half-written file was left in tmp/"
    );
}

#[test]
fn an_unwritable_queue_is_exit_75_and_nothing_is_claimed() {
    let home = TempDir::new("ro");
    let queue = home.path("q");
    std::fs::create_dir(&queue).unwrap();
    std::fs::set_permissions(&queue, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(queue.join("probe"), b"").is_ok() {
        return skipped("running as root: directory permissions do not bind");
    }
    unwritable(&home, &queue);
    assert_eq!(std::fs::read_dir(&queue).unwrap().count(), 0);
}

/// Waits (bounded) for the child to exit.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn the_runner_delivers_a_message_enqueued_while_it_runs() {
    let home = TempDir::new("runner");
    let queue = home.path("q");
    let server = ScriptedServer::start(delivery("me@example.test", &["you@example.test"]));
    let mut runner = smtp_send(&home, &queue, &url(server.port()))
        .args(["--queue-runner", "-v"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the runner");
    // The runner starts on an empty queue: no connection.
    thread::sleep(Duration::from_millis(300));
    let out = run(
        smtp_send(&home, &queue, &url(closed_port())),
        &[
            "--queue=always",
            "-f",
            "me@example.test",
            "you@example.test",
        ],
        MESSAGE,
    );
    out.expect(0);
    let enqueued = Instant::now();
    let capture = server.wait();
    capture.assert_clean();
    assert_eq!(capture.count_lines("MAIL FROM"), 1);
    // Within the poll interval (2 s) and some slack, not a timeout's worth.
    assert!(
        enqueued.elapsed() < Duration::from_secs(8),
        "{:?}",
        enqueued.elapsed()
    );
    let start = Instant::now();
    while !queue_files(&queue).is_empty() && start.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(50));
    }
    assert!(queue_files(&queue).is_empty(), "{:?}", queue_files(&queue));
    // SIGTERM ends it cleanly.
    let pid = runner.id() as libc::pid_t;
    // SAFETY: a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_bounded(&mut runner, Duration::from_secs(10));
    if status.is_none() {
        let _ = runner.kill();
        let _ = runner.wait();
        panic!("the runner did not stop within 10 s of SIGTERM");
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(runner.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.unwrap().success(), "{stderr}");
    assert!(stderr.contains("delivered"), "{stderr}");
    assert!(stderr.contains("queue runner stopped"), "{stderr}");
}

#[test]
fn queued_while_the_bed_is_unreachable_then_delivered_by_q() {
    // TestBed::get says why when there is no bed (SKIPPED line).
    let Some(bed) = TestBed::get() else {
        return;
    };
    let home = TempDir::new("bed");
    let queue = home.path("q");
    let marker = TestBed::unique_marker("queue-bed");
    let to = format!("{}@{}", "queue-rcpt", bed.domain);
    let message = format!("Subject: {marker}\n\nQueued for the bed.\n");
    let bed_url = format!(
        "smtp://{}@localhost:{}?timeout=20",
        bed.user, bed.port_submission
    );
    // First the relay is "down" (a closed port): queued, exit 0.
    let out = run(
        smtp_send(&home, &queue, &url(closed_port())),
        &["-f", &format!("queue-sender@{}", bed.domain), &to],
        message.as_bytes(),
    );
    out.expect(0);
    assert_eq!(listed(&home, &queue).len(), 1);
    // Then -q with the bed's credentials (a password command) delivers it.
    let mut c = smtp_send(&home, &queue, &bed_url);
    c.env("SMTP_CA_FILE", &bed.ca_file);
    let password = home.path("password");
    std::fs::write(&password, format!("{}\n", bed.password)).unwrap();
    let command = format!("cat {}", password.display());
    let out = run(c, &["-q", "--password-command", &command], b"");
    out.expect(0);
    let delivered = bed
        .wait_for_messages(&marker, 1, Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{marker} not delivered: {e}"));
    assert_eq!(delivered.len(), 1);
    assert!(listed(&home, &queue).is_empty());
}

/// The message bytes of a queued message: its file without the first
/// state written before them (up to the state's `end` line).
fn queued_message(queue: &std::path::Path, id: &str) -> Vec<u8> {
    let file = std::fs::read(queue.join("queue").join(format!("{id}.msg"))).unwrap();
    let end = file
        .windows(5)
        .position(|w| w == b"\nend\n")
        .expect("the first state's end line")
        + 5;
    file[end..].to_vec()
}
