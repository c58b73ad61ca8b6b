//! Delivery status notifications from `smtp-send`: `-N`, `-R`, `-V` (as
//! sendmail and msmtp spell them) and the `dsn_notify` / `dsn_return`
//! configuration keys, through the Postfix test bed (a success
//! notification comes back carrying the ENVID), and refused before
//! anything is sent by a server without DSN.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::fake::{run, smtp_send};
use common::TempDir;
use smtp_tests::skip::skipped;
use smtp_tests::testbed::TestBed;

const WAIT: Duration = Duration::from_secs(30);

/// smtp-send for the test bed's plaintext AUTH port.
fn plain(bed: &TestBed) -> Command {
    let mut c = smtp_send();
    c.env(
        "SMTP_URL",
        format!(
            "smtp://{}@{}:{}?security=none&timeout=20",
            bed.user, bed.host, bed.port_plain
        ),
    )
    .env("SMTP_PASSWORD", &bed.password);
    c
}

/// Waits for the success notification of the message sent with ENVID
/// `marker`; its text.
fn notification(bed: &TestBed, marker: &str) -> String {
    let raw = bed
        .wait_for_message(&format!("Original-Envelope-Id: {marker}"), WAIT)
        .unwrap_or_else(|e| panic!("no notification for {marker}: {e}"));
    String::from_utf8_lossy(&raw).into_owned()
}

#[test]
fn n_r_v_flags_bring_back_a_success_notification() {
    let Some(bed) = TestBed::get() else {
        return skipped("SMTP_TESTBED_ENV not set: real-server test");
    };
    let marker = TestBed::unique_marker("clidsn");
    let sender = format!("{marker}@{}", bed.domain);
    let mut c = plain(bed);
    c.args([
        "-i",
        "-N",
        "success,failure",
        "-R",
        "hdrs",
        "-V",
        &marker,
        "-f",
        &sender,
        &format!("dsn-cli@{}", bed.domain),
    ]);
    let message = format!("Subject: {marker}\n\nplease confirm\n");
    run(c, message.as_bytes()).expect(0);
    let dsn = notification(bed, &marker);
    assert!(dsn.contains("Action: delivered"), "{dsn}");
    // RET=HDRS: the header comes back, the body does not.
    assert!(dsn.contains("text/rfc822-headers"), "{dsn}");
    assert!(!dsn.contains("please confirm"), "{dsn}");
}

#[test]
fn config_file_defaults_apply_in_direct_mode_too() {
    let Some(bed) = TestBed::get() else {
        return skipped("SMTP_TESTBED_ENV not set: real-server test");
    };
    let marker = TestBed::unique_marker("clidsncfg");
    let sender = format!("{marker}@{}", bed.domain);
    let dir = TempDir::new("dsn-config");
    let config = dir.file(
        "smtp-send.conf",
        "dsn_notify = success\ndsn_return = full\n",
        0o600,
    );
    let mut c = plain(bed);
    c.arg(format!("--config={}", config.display())).args([
        "-v",
        "-V",
        &marker,
        "-f",
        &sender,
        "--to",
        &format!("dsn-cli-direct@{}", bed.domain),
        "--subject",
        &marker,
        "--body",
        "the whole message comes back",
    ]);
    let out = run(c, b"");
    out.expect(0);
    // Postfix returns only the header in a success notification whatever
    // RET says: the dialogue (-v) shows what was asked.
    assert!(
        out.stderr.contains(&format!("RET=FULL ENVID={marker}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("NOTIFY=SUCCESS"), "{}", out.stderr);
    let dsn = notification(bed, &marker);
    assert!(dsn.contains("Action: delivered"), "{dsn}");
}

#[test]
fn bad_values_are_usage_errors() {
    for bad in [
        &["-N", "never,success", "a@example.test"][..],
        &["-N", "sometimes", "a@example.test"],
        &["-R", "everything", "a@example.test"],
        &["-V", "", "a@example.test"],
    ] {
        let mut c = smtp_send();
        c.env("SMTP_URL", "smtp://127.0.0.1:1?security=none")
            .args(bad);
        let out = run(c, b"Subject: x\n\nx\n");
        out.expect(64);
    }
    let dir = TempDir::new("dsn-bad-config");
    let config = dir.file("bad.conf", "dsn_notify = never,delay\n", 0o600);
    let mut c = smtp_send();
    c.env("SMTP_URL", "smtp://127.0.0.1:1?security=none")
        .arg(format!("--config={}", config.display()))
        .arg("a@example.test");
    let out = run(c, b"Subject: x\n\nx\n");
    out.expect(78);
}

/// A server offering only 8BITMIME, in clear: answers 250 to anything
/// but EHLO and QUIT; the lines it read, once the client is gone.
fn plain_server() -> (u16, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("a client");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stream);
        out.write_all(b"220 nodsn.example ESMTP\r\n").unwrap();
        // Bounded: a handful of commands at most.
        for _ in 0..10 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim_end().to_string();
            let reply: &[u8] = if line.starts_with("EHLO") {
                b"250-nodsn.example\r\n250 8BITMIME\r\n"
            } else if line == "QUIT" {
                b"221 2.0.0 Bye\r\n"
            } else {
                b"250 2.0.0 Ok\r\n"
            };
            out.write_all(reply).unwrap();
            lines.push(line.clone());
            if line == "QUIT" {
                break;
            }
        }
        lines
    });
    (port, server)
}

#[test]
fn a_server_without_dsn_gets_nothing_and_the_exit_is_69() {
    for (url_options, flags, named) in [
        ("", &["-N", "success"][..], "DSN"),
        ("&requiretls=on", &[][..], "REQUIRETLS"),
    ] {
        let (port, server) = plain_server();
        let mut c = smtp_send();
        c.env(
            "SMTP_URL",
            format!("smtp://127.0.0.1:{port}?security=none{url_options}"),
        )
        .args(flags)
        .arg("a@example.test");
        let out = run(c, b"Subject: x\n\nx\n");
        out.expect(69);
        assert!(out.stderr.contains(named), "{}", out.stderr);
        let lines = server.join().unwrap();
        assert!(
            !lines.iter().any(|l| l.starts_with("MAIL")),
            "sent: {lines:?}"
        );
    }
}
