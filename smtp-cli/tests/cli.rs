//! The `smtp-send` binary, run as a program: command-line handling and
//! exit codes without a server, the SMTP side against a small scripted
//! server (always), and real delivery through the Postfix + Dovecot test
//! bed (when `SMTP_TESTBED_ENV` names one; see tests/testbed/README.md).

mod common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::fake::{
    args, fake_server, fake_url, run, smtp_send, submission, with_fake, Script, BIN, WAIT,
};
use common::{Out, TempDir};
use smtp_tests::skip::skipped;
use smtp_tests::testbed::TestBed;

// ----- running the binary ----------------------------------------------

/// A loopback port where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next().unwrap_or("");
    head.split("\r\n").find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

// ----- no server needed ------------------------------------------------

#[test]
fn help_documents_options_config_environment_and_exit_codes() {
    let out = run(args(smtp_send(), &["--help"]), b"");
    out.expect(0);
    for needle in [
        "-t ",
        "-i, -oi",
        "-f ADDR",
        "-F NAME",
        "--to",
        "--cc",
        "--bcc",
        "--subject",
        "--body-file",
        "--html-file",
        "--attach",
        "--serverinfo",
        "--account",
        "--config",
        "--url",
        "--user",
        "--password-command",
        "--ca-file",
        "--security",
        "--auth",
        "--from",
        "--log-file",
        "--version",
        "/etc/smtp-send.conf",
        "~/.config/smtp-send/config",
        "SMTP_URL",
        "SMTP_PASSWORD",
        "SMTP_CA_FILE",
        "SMTP_PROXY",
        "SMTP_SEND_CONFIG",
        "[account NAME]",
        "password_command",
        "EX_TEMPFAIL",
        "EX_NOUSER",
        "EX_CONFIG",
        "EX_USAGE",
    ] {
        assert!(out.stdout.contains(needle), "--help lacks {needle:?}");
    }
    let version = run(args(smtp_send(), &["--version"]), b"");
    version.expect(0);
    assert!(
        version.stdout.starts_with("smtp-send "),
        "{}",
        version.stdout
    );
}

#[test]
fn exit_64_for_bad_flags_and_missing_recipients() {
    for bad in [
        &["-x", "a@example.test"][..],
        &["-bs"],
        &["-q15m"],
        &["-f"],
        &["--bogus"],
        &["-oZ", "a@example.test"],
    ] {
        let out = run(args(smtp_send(), bad), b"Subject: x\n\nbody\n");
        out.expect(64);
        assert_eq!(out.stderr.lines().count(), 1, "{bad:?}: {}", out.stderr);
    }
    // Harmless flags are accepted (then the missing server is the problem).
    let out = run(
        args(
            smtp_send(),
            &[
                "-odi",
                "-oem",
                "-oi",
                "-B8BITMIME",
                "-FCron",
                "-N",
                "never",
                "a@example.test",
            ],
        ),
        b"x\n",
    );
    out.expect(78);
    // No recipient at all.
    let mut c = smtp_send();
    c.env("SMTP_URL", fake_url(closed_port()));
    let out = run(c, b"Subject: x\n\nbody\n");
    out.expect(64);
    assert!(out.stderr.contains("no recipient"), "{}", out.stderr);
}

#[test]
fn exit_78_for_configuration_problems() {
    // No server configured anywhere.
    let out = run(args(smtp_send(), &["a@example.test"]), b"x\n");
    out.expect(78);
    assert!(
        out.stderr.contains("no server configured"),
        "{}",
        out.stderr
    );

    let dir = TempDir::new("config");
    let bad = dir.file("bad.conf", "url = smtp://h.example\nbogus = 1\n", 0o600);
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &bad).arg("a@example.test");
    let out = run(c, b"x\n");
    out.expect(78);
    assert!(
        out.stderr.contains("bad.conf:2: unknown key"),
        "{}",
        out.stderr
    );

    let good = dir.file("good.conf", "url = smtp://h.example\n", 0o600);
    let out = run(
        args(
            smtp_send(),
            &[
                "--config",
                good.to_str().unwrap(),
                "--account",
                "nope",
                "a@example.test",
            ],
        ),
        b"x\n",
    );
    out.expect(78);
    assert!(
        out.stderr.contains("account \"nope\" not found"),
        "{}",
        out.stderr
    );

    let missing = dir.path("missing.conf");
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &missing).arg("a@example.test");
    run(c, b"x\n").expect(78);

    // A user without a password, and a bad URL.
    let mut c = smtp_send();
    c.env("SMTP_URL", "smtp://someone@127.0.0.1:1")
        .arg("a@example.test");
    run(c, b"x\n").expect(78);
    let mut c = smtp_send();
    c.env("SMTP_URL", "http://example.test")
        .arg("a@example.test");
    run(c, b"x\n").expect(78);
}

#[test]
fn exit_78_when_the_password_command_fails() {
    let (port, _rx) = fake_server(Script::default());
    let out = run(
        args(
            smtp_send(),
            &[
                "--url",
                &format!("smtp://user@127.0.0.1:{port}?security=none"),
                "--password-command",
                "echo secret-in-cmd >/dev/null; exit 3",
                "a@example.test",
            ],
        ),
        b"Subject: x\n\nbody\n",
    );
    out.expect(78);
    assert!(
        out.stderr.contains("password_command failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret-in-cmd"), "{}", out.stderr);
}

#[test]
fn exit_66_for_missing_body_or_attachment_files() {
    let dir = TempDir::new("noinput");
    let body = dir.file("body.txt", "hello\n", 0o644);
    let mut c = smtp_send();
    c.env("SMTP_URL", fake_url(closed_port())).args([
        "--to",
        "a@example.test",
        "--body-file",
        body.to_str().unwrap(),
        "--attach",
        dir.path("nothere.pdf").to_str().unwrap(),
    ]);
    let out = run(c, b"");
    out.expect(66);
    assert!(out.stderr.contains("nothere.pdf"), "{}", out.stderr);
    let mut c = smtp_send();
    c.env("SMTP_URL", fake_url(closed_port())).args([
        "--to",
        "a@example.test",
        "--body-file",
        dir.path("nobody.txt").to_str().unwrap(),
    ]);
    run(c, b"").expect(66);
}

#[test]
fn exit_65_for_bad_addresses_and_messages() {
    let url = fake_url(closed_port());
    let mut c = smtp_send();
    c.env("SMTP_URL", &url).arg("not an address");
    run(c, b"Subject: x\n\nbody\n").expect(65);
    let mut c = smtp_send();
    c.env("SMTP_URL", &url).arg("-t");
    run(c, b"To: <broken@example.test\nSubject: x\n\nbody\n").expect(65);
    // -t and no recipient in the message.
    let mut c = smtp_send();
    c.env("SMTP_URL", &url).arg("-t");
    run(c, b"Subject: x\n\nbody\n").expect(65);
    let mut c = smtp_send();
    c.env("SMTP_URL", &url).args([
        "--to",
        "a@example.test",
        "--body",
        "x",
        "--header",
        "Bad Name: x",
    ]);
    run(c, b"").expect(65);
}

#[test]
fn long_line_refusal_is_65_before_mail_from() {
    let long = "x".repeat(1500);
    let message = format!("To: a@example.test\nSubject: s\n\n{long}\n");
    let dir = TempDir::new("long-fake");
    let log = dir.path("send.log");
    let (out, session) = with_fake(
        Script::default(),
        &[
            "-t",
            "--long-lines=refuse",
            "--log-file",
            log.to_str().unwrap(),
        ],
        message.as_bytes(),
    );
    out.expect(65);
    assert!(
        out.stderr
            .contains("line 4 of the message is longer than 998 octets and "),
        "{}",
        out.stderr
    );
    assert!(
        !session.commands.iter().any(|c| c.starts_with("MAIL")),
        "{:?}",
        session.commands
    );
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(line.contains("result=dataerr exit=65"), "{line}");
    // Repaired by default: quoted-printable, no long line.
    let (out, session) = with_fake(Script::default(), &["-t"], message.as_bytes());
    out.expect(0);
    let data = session.data();
    assert_eq!(
        header(&data, "Content-Transfer-Encoding"),
        Some("quoted-printable")
    );
    assert!(data.split("\r\n").all(|l| l.len() <= 998), "{data}");
    // A bad value is a configuration (environment) or usage (option) error.
    let mut c = smtp_send();
    c.env("SMTP_URL", "smtp://127.0.0.1:25?long_lines=fold")
        .arg("a@example.test");
    let out = run(c, b"Subject: x\n\nbody\n");
    out.expect(78);
    assert!(out.stderr.contains("long_lines"), "{}", out.stderr);
    let out = run(
        args(smtp_send(), &["--long-lines", "fold", "a@example.test"]),
        b"",
    );
    out.expect(64);
    assert!(out.stderr.contains("repair or refuse"), "{}", out.stderr);
}

#[test]
fn exit_75_when_nothing_listens() {
    let dir = TempDir::new("closed");
    let log = dir.path("send.log");
    let mut c = smtp_send();
    c.env(
        "SMTP_URL",
        format!("smtp://127.0.0.1:{}?security=none", closed_port()),
    )
    .args([
        "--log-file",
        log.to_str().unwrap(),
        "-f",
        "me@example.test",
        "you@example.test",
    ]);
    let out = run(c, b"Subject: x\n\nbody\n");
    out.expect(75);
    assert!(out.stderr.contains("could not connect"), "{}", out.stderr);
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(
        line.contains("from=<me@example.test> to=<you@example.test>")
            && line.contains(" result=tempfail exit=75 ")
            && line.contains("error=\""),
        "{line}"
    );
}

#[test]
fn warns_about_a_readable_config_file_with_a_password() {
    let dir = TempDir::new("perm");
    let text = format!(
        "default = main\n[account main]\nurl = smtp://u@127.0.0.1:{}?security=none\npassword = hunter2 # really\n",
        closed_port()
    );
    let open = dir.file("open.conf", &text, 0o644);
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &open).arg("a@example.test");
    let out = run(c, b"Subject: x\n\nbody\n");
    out.expect(75); // not fatal: the send is attempted
    assert!(
        out.stderr.contains("warning:") && out.stderr.contains("open.conf contains a password"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);

    let closed = dir.file("closed.conf", &text, 0o600);
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &closed).arg("a@example.test");
    let out = run(c, b"Subject: x\n\nbody\n");
    out.expect(75);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    // No password in it: no warning either.
    let nopw = dir.file(
        "nopw.conf",
        &format!("url = smtp://127.0.0.1:{}?security=none\n", closed_port()),
        0o644,
    );
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &nopw).arg("a@example.test");
    let out = run(c, b"x\n");
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

// ----- against the scripted server -------------------------------------

#[test]
fn lone_dot_ends_input_unless_i() {
    let input = b"Subject: dots\n\nline one\n..two dots stay\n.\nnot sent\n";
    let (out, session) = with_fake(Script::default(), &["a@example.test"], input);
    out.expect(0);
    let data = session.data();
    assert!(data.contains("line one\r\n..two dots stay\r\n"), "{data}");
    assert!(!data.contains("not sent"), "{data}");

    for flag in ["-i", "-oi"] {
        let (out, session) = with_fake(Script::default(), &[flag, "a@example.test"], input);
        out.expect(0);
        let data = session.data();
        assert!(data.contains("\r\n.\r\nnot sent\r\n"), "{flag}: {data}");
    }
}

#[test]
fn missing_headers_are_added_and_bcc_removed() {
    let (out, session) = with_fake(
        Script::default(),
        &["-t", "-i", "-f", "bounce@example.test", "-F", "Zoë Sender"],
        b"To: to@example.test\nCc: Copy <cc@example.test>\nBcc: hidden@example.test,\n  hidden2@example.test\nSubject: headers\n\nbody\n",
    );
    out.expect(0);
    let data = session.data();
    assert!(
        session
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<bounce@example.test>")),
        "{:?}",
        session.commands
    );
    for rcpt in ["to", "cc", "hidden", "hidden2"] {
        assert!(
            session.has(&format!("RCPT TO:<{rcpt}@example.test>")),
            "{rcpt}: {:?}",
            session.commands
        );
    }
    assert!(!data.contains("hidden"), "{data}");
    assert!(!data.to_ascii_lowercase().contains("bcc:"), "{data}");
    // The name encoded as the library encodes display names (RFC 2047).
    let from = header(&data, "From").expect("From added");
    assert!(from.starts_with("=?UTF-8?") && from.is_ascii(), "{from}");
    let from = smtp_core::Mailbox::parse(from).unwrap();
    assert_eq!(from.name.as_deref(), Some("Zoë Sender"));
    assert_eq!(from.address, "bounce@example.test");
    let date = header(&data, "Date").expect("Date added");
    assert!(date.ends_with("+0000") && date.len() > 25, "{date}");
    let id = header(&data, "Message-ID").expect("Message-ID added");
    assert!(
        id.starts_with('<') && id.ends_with("@example.test>"),
        "{id}"
    );
    assert!(data.ends_with("\r\n\r\nbody\r\n"), "{data}");

    // Present headers are kept as they are.
    let (out, session) = with_fake(
        Script::default(),
        &["a@example.test"],
        b"From: Me <me@example.test>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <fixed@example.test>\n\nb\n",
    );
    out.expect(0);
    let data = session.data();
    assert_eq!(header(&data, "Message-ID"), Some("<fixed@example.test>"));
    assert_eq!(data.matches("Date:").count(), 1);
    assert!(
        session
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<me@example.test>")),
        "the From address is the envelope sender without -f: {:?}",
        session.commands
    );
}

#[test]
fn configured_from_is_the_sender_and_the_added_from() {
    let dir = TempDir::new("from");
    let conf = dir.file(
        "c.conf",
        "from = Web Site <www@example.test>\n[account x]\nfrom = other@example.test\n",
        0o600,
    );
    let (port, rx) = fake_server(Script::default());
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &conf)
        .env("SMTP_URL", fake_url(port))
        .arg("a@example.test");
    run(c, b"Subject: s\n\nb\n").expect(0);
    let session = rx.recv_timeout(WAIT).unwrap();
    assert!(
        session
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<www@example.test>")),
        "{:?}",
        session.commands
    );
    assert_eq!(
        header(&session.data(), "From"),
        Some("Web Site <www@example.test>")
    );

    // --account selects the section; the command line beats the environment.
    let (port, rx) = fake_server(Script::default());
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &conf)
        .env("SMTP_URL", "smtp://unused.invalid")
        .env("SMTP_FROM", "env@example.test")
        .args(["--account", "x", "--url", &fake_url(port), "a@example.test"]);
    run(c, b"Subject: s\n\nb\n").expect(0);
    let session = rx.recv_timeout(WAIT).unwrap();
    assert!(
        session
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<env@example.test>")),
        "{:?}",
        session.commands
    );
}

#[test]
fn server_refusals_map_to_exit_codes() {
    let cases: &[(Script, &str, i32)] = &[
        (Script::default(), "reject-me@example.test", 67),
        (Script::default(), "tempfail-me@example.test", 75),
        (
            Script {
                mail: "553 5.7.1 Sender address rejected: not owned by user",
                ..Script::default()
            },
            "a@example.test",
            69,
        ),
        (
            Script {
                greeting: "554 5.3.2 no service",
                ..Script::default()
            },
            "a@example.test",
            69,
        ),
        (
            Script {
                data_end: "451 4.3.0 try again",
                ..Script::default()
            },
            "a@example.test",
            75,
        ),
        (
            Script {
                data_end: "554 5.7.1 spam",
                ..Script::default()
            },
            "a@example.test",
            69,
        ),
        (
            Script {
                greeting: "hello, I am not an SMTP server",
                ..Script::default()
            },
            "a@example.test",
            76,
        ),
    ];
    for (script, rcpt, code) in cases {
        let (out, _) = with_fake(script.clone(), &[rcpt], b"Subject: x\n\nbody\n");
        out.expect(*code);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    // One refused recipient among good ones: nothing is sent.
    let (out, session) = with_fake(
        Script::default(),
        &["good@example.test", "reject-x@example.test"],
        b"Subject: x\n\nbody\n",
    );
    out.expect(67);
    assert!(
        session.data.is_empty() && !session.has("DATA"),
        "{:?}",
        session.commands
    );
}

#[test]
fn auth_failure_is_77_and_the_password_stays_secret() {
    let dir = TempDir::new("auth");
    let log = dir.path("log");
    let (port, rx) = fake_server(Script {
        auth: "535 5.7.8 Error: authentication failed",
        ..Script::default()
    });
    let mut c = smtp_send();
    c.env(
        "SMTP_URL",
        format!("smtp://user@127.0.0.1:{port}?security=none&auth=plain"),
    )
    .env("SMTP_PASSWORD", "sup3r-s3cret")
    .args(["--log-file", log.to_str().unwrap(), "a@example.test"]);
    let out = run(c, b"Subject: x\n\nbody\n");
    out.expect(77);
    let session = rx.recv_timeout(WAIT).unwrap();
    assert!(
        session.has(&format!("AUTH PLAIN {}", base64(b"\0user\0sup3r-s3cret"))),
        "{:?}",
        session.commands
    );
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(line.contains("result=noperm exit=77"), "{line}");
    assert!(line.contains("reply=\"535 5.7.8"), "{line}");
    for text in [&out.stderr, &line] {
        assert!(!text.contains("sup3r-s3cret"), "{text}");
        assert!(!text.contains(&base64(b"\0user\0sup3r-s3cret")), "{text}");
    }
}

#[test]
fn password_from_a_command_and_the_log_line() {
    let dir = TempDir::new("pwcmd");
    let log = dir.path("send.log");
    let conf = dir.file(
        "c.conf",
        &format!(
            "log_file = {}\n[account a]\nuser = cmd-user\npassword_command = printf 'from-cmd\\nsecond line\\n'\n",
            log.display()
        ),
        0o644,
    );
    let (port, rx) = fake_server(Script::default());
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &conf).args([
        "--account",
        "a",
        "--url",
        &format!("smtp://127.0.0.1:{port}?security=none"),
        "-f",
        "me@example.test",
        "you@example.test, Other <other@example.test>",
    ]);
    let out = run(c, b"Subject: logged\n\nbody\n");
    out.expect(0);
    assert!(
        !out.stderr.contains("warning"),
        "no password in the file: {}",
        out.stderr
    );
    let session = rx.recv_timeout(WAIT).unwrap();
    assert!(
        session.has(&format!("AUTH PLAIN {}", base64(b"\0cmd-user\0from-cmd"))),
        "{:?}",
        session.commands
    );
    let line = std::fs::read_to_string(&log).unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");
    let size = session.data.len();
    for part in [
        "account=a",
        &format!("server=127.0.0.1:{port}"),
        "from=<me@example.test>",
        "to=<you@example.test>,<other@example.test>",
        &format!("size={size}"),
        "result=ok exit=0",
        "reply=\"250 2.0.0 Ok: queued as FAKE42\"",
    ] {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
    assert!(
        line.starts_with("20") && line.as_bytes()[19] == b'Z',
        "{line}"
    );
    assert!(!line.contains("from-cmd"), "{line}");
}

#[test]
fn direct_mode_composes_with_the_library() {
    let dir = TempDir::new("direct");
    let body = dir.file("body.txt", "Hello,\nsee attached.\n", 0o644);
    let attachment = dir.file("report.csv", "a,b\n1,2\n", 0o644);
    let (out, session) = with_fake(
        Script::default(),
        &[
            "--from",
            "Me <me@example.test>",
            "--to",
            "you@example.test",
            "--bcc",
            "secret@example.test",
            "--subject",
            "Direct ✓",
            "--body-file",
            body.to_str().unwrap(),
            "--attach",
            attachment.to_str().unwrap(),
            "--header",
            "X-Test: yes",
        ],
        b"",
    );
    out.expect(0);
    let data = session.data();
    assert!(
        session.has("RCPT TO:<secret@example.test>"),
        "{:?}",
        session.commands
    );
    assert!(!data.contains("secret@"), "{data}");
    assert_eq!(header(&data, "X-Test"), Some("yes"));
    assert!(
        header(&data, "Subject")
            .unwrap()
            .contains("=?UTF-8?B?4pyT?="),
        "{data}"
    );
    assert!(data.contains("multipart/mixed"), "{data}");
    assert!(
        data.contains("filename=report.csv") || data.contains("filename=\"report.csv\""),
        "{data}"
    );
    assert!(
        data.contains(&base64(b"a,b\r\n1,2\r\n")) || data.contains(&base64(b"a,b\n1,2\n")),
        "{data}"
    );
}

// ----- the real Postfix test bed ---------------------------------------

macro_rules! bed {
    () => {
        match TestBed::get() {
            Some(bed) => bed,
            None => {
                eprintln!("SMTP_TESTBED_ENV not set: real-server test skipped (see tests/testbed/README.md)");
                return;
            }
        }
    };
}

fn addr(bed: &TestBed, local: &str) -> String {
    format!("{local}@{}", bed.domain)
}

fn delivered(bed: &TestBed, marker: &str, count: usize) -> Vec<smtp_tests::testbed::Delivered> {
    bed.wait_for_messages(marker, count, WAIT)
        .unwrap_or_else(|e| panic!("{marker} not delivered: {e}"))
        .iter()
        .map(|raw| TestBed::parse_delivered(raw))
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn php_available() -> bool {
    let found = Command::new("php")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let required = std::env::var("SMTP_TESTBED_REQUIRED").is_ok_and(|v| v.trim() == "1");
        assert!(
            !required,
            "php is not installed (tests/testbed/install.sh --with-php, or apt-get install php8.2-cli)"
        );
        skipped("php is not installed");
    }
    found
}

/// PHP's mail() through `sendmail_path = "smtp-send -t -i"`.
fn php_mail(mut command: Command, to: &str, subject: &str, headers: &str) -> Out {
    let script = format!(
        "$ok = mail({to:?}, {subject:?}, \"Hello from PHP.\\n.\\nA lone dot above.\\n\", {headers:?}); echo $ok ? \"sent\" : \"failed\";"
    );
    let php = Command::new("php");
    // Keep the environment smtp_send() prepared (PHP passes it on to the
    // sendmail command it runs).
    let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = command
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut php = php;
    php.env_clear();
    for (k, v) in envs {
        if let Some(v) = v {
            php.env(k, v);
        }
    }
    php.args([
        "-n",
        "-d",
        &format!("sendmail_path={BIN} --queue=never -t -i"),
        "-r",
        &script,
    ]);
    command = php;
    run(command, b"")
}

#[test]
fn php_mail_delivers_with_auth_over_starttls_from_the_environment() {
    let bed = bed!();
    if !php_available() {
        return;
    }
    let marker = TestBed::unique_marker("php-env");
    let out = php_mail(
        submission(bed),
        &addr(bed, "php-rcpt"),
        &marker,
        &format!("From: Web Site <{}>", addr(bed, "www")),
    );
    out.expect(0);
    assert_eq!(out.stdout.trim(), "sent", "{out:?}");
    let d = &delivered(bed, &marker, 1)[0];
    assert_eq!(d.envelope_from.as_deref(), Some(addr(bed, "www").as_str()));
    assert_eq!(d.delivered_to, [addr(bed, "php-rcpt")]);
    let sent = text(&d.as_sent);
    assert!(
        sent.contains("Hello from PHP.\n.\nA lone dot above.\n"),
        "{sent}"
    );
    assert!(
        sent.contains("\nDate: ") && sent.contains("\nMessage-ID: <"),
        "{sent}"
    );
    // Postfix names the TLS and AUTH in its Received line.
    let raw = text(&d.raw);
    assert!(raw.contains("with ESMTPSA"), "{raw}");
}

#[test]
fn php_mail_with_a_config_file_and_password_command() {
    let bed = bed!();
    if !php_available() {
        return;
    }
    let dir = TempDir::new("php-conf");
    let secret = dir.file("secret", &format!("{}\n", bed.password), 0o600);
    let log = dir.path("send.log");
    let conf = dir.file(
        "config",
        &format!(
            "default = bed\nlog_file = {}\n\n[account bed]\nurl = smtp://localhost:{}\nuser = {}\npassword_command = cat '{}'\nca_file = {}\nfrom = PHP App <{}>\n",
            log.display(),
            bed.port_submission,
            bed.user,
            secret.display(),
            bed.ca_file.display(),
            addr(bed, "app")
        ),
        0o644,
    );
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", &conf);
    let marker = TestBed::unique_marker("php-conf");
    let out = php_mail(c, &addr(bed, "conf-rcpt"), &marker, "X-Mailer: test");
    out.expect(0);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let d = &delivered(bed, &marker, 1)[0];
    assert_eq!(d.envelope_from.as_deref(), Some(addr(bed, "app").as_str()));
    let sent = text(&d.as_sent);
    assert!(
        sent.contains(&format!("\nFrom: PHP App <{}>\n", addr(bed, "app"))),
        "{sent}"
    );
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(
        line.contains("result=ok exit=0") && line.contains("queued as"),
        "{line}"
    );
    assert!(!line.contains(&bed.password), "{line}");
}

#[test]
fn t_sends_to_bcc_without_showing_it() {
    let bed = bed!();
    let marker = TestBed::unique_marker("bcc");
    let message = format!(
        "From: {}\nTo: {}\nBcc: {}\nSubject: {marker}\n\nbody\n",
        addr(bed, "sender"),
        addr(bed, "visible"),
        addr(bed, "blind")
    );
    let mut c = submission(bed);
    c.args(["-t", "-i"]);
    run(c, message.as_bytes()).expect(0);
    let all = delivered(bed, &marker, 2);
    let mut to: Vec<String> = all.iter().flat_map(|d| d.delivered_to.clone()).collect();
    to.sort();
    assert_eq!(to, [addr(bed, "blind"), addr(bed, "visible")]);
    for d in &all {
        let sent = text(&d.as_sent);
        assert!(!sent.to_ascii_lowercase().contains("bcc:"), "{sent}");
        assert!(!sent.contains("blind@"), "{sent}");
    }
}

#[test]
fn f_sets_the_envelope_sender_and_arguments_are_recipients() {
    let bed = bed!();
    let marker = TestBed::unique_marker("envfrom");
    let bounce = addr(bed, "bounces");
    let mut c = submission(bed);
    c.args([
        "-i",
        &format!("-f{bounce}"),
        "--",
        &addr(bed, "arg1"),
        &format!("Two <{}>", addr(bed, "arg2")),
    ]);
    let message = format!(
        "From: Author <{}>\nTo: nobody-in-envelope@{}\nSubject: {marker}\n\nbody\n",
        addr(bed, "author"),
        bed.domain
    );
    run(c, message.as_bytes()).expect(0);
    let all = delivered(bed, &marker, 2);
    let mut to: Vec<String> = all.iter().flat_map(|d| d.delivered_to.clone()).collect();
    to.sort();
    assert_eq!(to, [addr(bed, "arg1"), addr(bed, "arg2")]);
    for d in &all {
        assert_eq!(d.envelope_from.as_deref(), Some(bounce.as_str()));
    }
}

#[test]
fn missing_headers_are_added_on_a_real_server() {
    let bed = bed!();
    let marker = TestBed::unique_marker("noheaders");
    let mut c = submission(bed);
    c.args([
        "-F",
        "Cron Daemon",
        "-f",
        &addr(bed, "cron"),
        &addr(bed, "root"),
    ]);
    run(
        c,
        format!("Subject: {marker}\n\nno From, Date or Message-ID\n").as_bytes(),
    )
    .expect(0);
    let d = &delivered(bed, &marker, 1)[0];
    let sent = text(&d.as_sent);
    assert!(
        sent.contains(&format!("From: Cron Daemon <{}>\n", addr(bed, "cron"))),
        "{sent}"
    );
    assert!(sent.contains("\nDate: "), "{sent}");
    assert!(
        sent.contains("\nMessage-ID: <") && sent.contains(&format!("@{}>\n", bed.domain)),
        "{sent}"
    );
}

#[test]
fn real_server_exit_codes() {
    let bed = bed!();
    let message = b"Subject: exit codes\n\nbody\n";
    // 550 for reject-*: 67.
    let mut c = submission(bed);
    c.arg(addr(bed, "reject-this"));
    let out = run(c, message);
    out.expect(67);
    assert!(out.stderr.contains("550"), "{}", out.stderr);
    // 450 for tempfail-*: 75.
    let mut c = submission(bed);
    c.arg(addr(bed, "tempfail-this"));
    run(c, message).expect(75);
    // Wrong password: 77.
    let mut c = submission(bed);
    c.env("SMTP_PASSWORD", "wrong password").arg(addr(bed, "x"));
    let out = run(c, message);
    out.expect(77);
    assert!(!out.stderr.contains("wrong password"), "{}", out.stderr);
    // STARTTLS required but the no-auth port does not offer it: 69.
    let mut c = smtp_send();
    c.env(
        "SMTP_URL",
        format!("smtp://127.0.0.1:{}?security=starttls", bed.port_noauth),
    )
    .arg(addr(bed, "x"));
    run(c, message).expect(69);
    // The server's certificate without its CA: 69 as well.
    let mut c = submission(bed);
    c.env_remove("SMTP_CA_FILE").arg(addr(bed, "x"));
    run(c, message).expect(69);
    // A CA file that is not PEM: 78.
    let dir = TempDir::new("badca");
    let bad_ca = dir.file("ca.pem", "not a certificate\n", 0o644);
    let mut c = submission(bed);
    c.env("SMTP_CA_FILE", &bad_ca).arg(addr(bed, "x"));
    run(c, message).expect(78);
    // Credentials refused without TLS to a non-loopback name are a
    // library decision; the password command failing is ours: 78.
    let mut c = submission(bed);
    c.env_remove("SMTP_PASSWORD")
        .args(["--password-command", "false", &addr(bed, "x")]);
    run(c, message).expect(78);
    // Nothing listening: 75.
    let mut c = submission(bed);
    c.env(
        "SMTP_URL",
        format!("smtp://{}@localhost:{}", bed.user, closed_port()),
    )
    .arg(addr(bed, "x"));
    run(c, message).expect(75);
}

#[test]
fn serverinfo_on_the_starttls_port() {
    let bed = bed!();
    let out = run(args(submission(bed), &["--serverinfo"]), b"");
    out.expect(0);
    let s = &out.stdout;
    assert!(
        s.contains(&format!("Server:        localhost:{}", bed.port_submission)),
        "{s}"
    );
    assert!(s.contains("Greeting:      220 "), "{s}");
    assert!(s.contains("TLS:           TLSv1."), "{s}");
    assert!(s.contains("subject: ") && s.contains("CN=localhost"), "{s}");
    assert!(s.contains("DNS:localhost"), "{s}");
    // The capabilities after STARTTLS: AUTH is offered there.
    assert!(s.contains("    AUTH ") && s.contains("PLAIN"), "{s}");
    assert!(!s.contains("    STARTTLS"), "{s}");
    // Nothing was sent (and no password needed).
    let mut c = submission(bed);
    c.env_remove("SMTP_PASSWORD").arg("--serverinfo");
    run(c, b"").expect(0);
}

#[test]
fn direct_mode_with_an_attachment_over_implicit_tls() {
    let bed = bed!();
    let dir = TempDir::new("direct-real");
    let body = dir.file("body.txt", "Report attached.\n", 0o644);
    let data: Vec<u8> = (0u8..=255).cycle().take(5000).collect();
    let attachment = dir.path("data.bin");
    std::fs::write(&attachment, &data).unwrap();
    let marker = TestBed::unique_marker("direct");
    let mut c = smtp_send();
    c.env(
        "SMTP_URL",
        format!("smtps://{}@localhost:{}", bed.user, bed.port_smtps),
    )
    .env("SMTP_PASSWORD", &bed.password)
    .env("SMTP_CA_FILE", &bed.ca_file)
    .args([
        "--from",
        &format!("Direct <{}>", addr(bed, "direct")),
        "--to",
        &addr(bed, "direct-rcpt"),
        "--subject",
        &marker,
        "--body-file",
        body.to_str().unwrap(),
        "--attach",
        attachment.to_str().unwrap(),
    ]);
    run(c, b"").expect(0);
    let d = &delivered(bed, &marker, 1)[0];
    assert_eq!(
        d.envelope_from.as_deref(),
        Some(addr(bed, "direct").as_str())
    );
    let sent = text(&d.as_sent);
    assert!(sent.contains("Report attached."), "{sent}");
    assert!(sent.contains("data.bin"), "{sent}");
    // The attachment's base64, line-wrapped: compare without line breaks.
    let flat: String = sent.split('\n').collect();
    assert!(
        flat.contains(&base64(&data)),
        "attachment content not found"
    );
}

// ----- lines over 998 octets -------------------------------------------

/// A one-line HTML body of exactly `len` octets, as PHP's mail() passes
/// it on (`=` signs and UTF-8 included, so that quoted-printable has
/// something to escape).
fn html_line(len: usize) -> String {
    let mut line = String::from("<html><body>");
    let tail = "</body></html>";
    while line.len() + tail.len() < len {
        line.push_str("<p class=\"x\">Grüße, world</p>");
    }
    while line.len() + tail.len() > len {
        line.pop();
    }
    while line.len() + tail.len() < len {
        line.push('.');
    }
    line.push_str(tail);
    assert_eq!(line.len(), len);
    line
}

/// Decodes a quoted-printable body as Postfix stores it (LF line endings):
/// `=` at the end of a line is a soft break, `=XX` an octet.
fn qp_decode(body: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> u8 {
        match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'F' => b - b'A' + 10,
            b'a'..=b'f' => b - b'a' + 10,
            _ => panic!("bad quoted-printable escape digit {:?}", b as char),
        }
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'=' if body.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if body[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' => {
                out.push(hex(body[i + 1]) << 4 | hex(body[i + 2]));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The header and body of a delivered message (split at the first empty
/// line; LF line endings as Postfix stores them).
fn head_and_body(sent: &[u8]) -> (String, &[u8]) {
    let at = sent
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("an empty line after the header");
    (text(&sent[..=at]), &sent[at + 2..])
}

/// A PHP mail() style message: From, To, Subject, `extra` header lines
/// (each ending in LF), no MIME headers, LF line endings, the body one
/// line.
fn php_style(bed: &TestBed, marker: &str, extra: &str, body: &str) -> String {
    format!(
        "From: Web Site <{}>\nTo: {}\nSubject: {marker}\n{extra}\n{body}\n",
        addr(bed, "www"),
        addr(bed, "long-rcpt"),
    )
}

/// Checks that nothing with `refused` arrived: a message sent after it
/// (`follow_up`) is delivered first, then the Maildir is searched once
/// more.
fn assert_not_delivered(bed: &TestBed, refused: &str) {
    let follow_up = TestBed::unique_marker("long-follow-up");
    let mut c = submission(bed);
    c.args(["-t", "-i"]);
    run(c, php_style(bed, &follow_up, "", "short").as_bytes()).expect(0);
    delivered(bed, &follow_up, 1);
    assert!(
        bed.wait_for_message(refused, Duration::from_secs(1))
            .is_err(),
        "{refused} was delivered"
    );
}

#[test]
fn long_line_of_html_is_sent_as_quoted_printable() {
    let bed = bed!();
    let marker = TestBed::unique_marker("long-repair");
    let line = html_line(2000);
    let mut c = submission(bed);
    c.args(["-t", "-i"]);
    run(c, php_style(bed, &marker, "", &line).as_bytes()).expect(0);
    let d = &delivered(bed, &marker, 1)[0];
    for (n, sent_line) in d.as_sent.split(|&b| b == b'\n').enumerate() {
        assert!(
            sent_line.len() <= 998,
            "line {} has {} octets",
            n + 1,
            sent_line.len()
        );
    }
    let (head, body) = head_and_body(&d.as_sent);
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("\ncontent-transfer-encoding: quoted-printable\n"),
        "{head}"
    );
    assert!(lower.contains("\nmime-version: 1.0\n"), "{head}");
    assert!(head.contains(&format!("\nSubject: {marker}\n")), "{head}");
    let decoded = qp_decode(body);
    let decoded = decoded.strip_suffix(b"\n").unwrap_or(&decoded);
    assert_eq!(text(decoded), line);
}

#[test]
fn long_line_is_refused_with_long_lines_refuse() {
    let bed = bed!();
    let line = html_line(2000);
    let dir = TempDir::new("long-refuse");
    let conf = dir.file("config", "long_lines = refuse\n", 0o600);
    let url = format!(
        "smtp://{}@localhost:{}?timeout=20&long_lines=refuse",
        bed.user, bed.port_submission
    );
    let mut by_url = submission(bed);
    by_url.env("SMTP_URL", &url);
    let mut by_file = submission(bed);
    by_file.env("SMTP_SEND_CONFIG", &conf);
    let by_option = args(submission(bed), &["--long-lines", "refuse"]);
    let mut refused = Vec::new();
    for (how, mut command) in [
        ("URL option", by_url),
        ("config key", by_file),
        ("option", by_option),
    ] {
        let marker = TestBed::unique_marker("long-refuse");
        command.args(["-t", "-i"]);
        let out = run(command, php_style(bed, &marker, "", &line).as_bytes());
        out.expect(65);
        // From, To, Subject, the empty line: the HTML is line 5 of the
        // input (Date and Message-ID, added, do not count).
        assert!(
            out.stderr
                .contains("line 5 of the message is longer than 998 octets and "),
            "{how}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{how}: {}", out.stderr);
        refused.push(marker);
    }
    for marker in &refused {
        assert_not_delivered(bed, marker);
    }
}

#[test]
fn long_line_in_a_header_without_blanks_is_refused_even_when_repairing() {
    let bed = bed!();
    let marker = TestBed::unique_marker("long-header");
    let token = format!("X-Token: {}\n", "a".repeat(1200));
    let mut c = submission(bed);
    c.args(["-t", "-i", "--long-lines", "repair"]);
    let out = run(c, php_style(bed, &marker, &token, "body").as_bytes());
    out.expect(65);
    assert!(
        out.stderr
            .contains("line 4 of the message is longer than 998 octets and "),
        "{}",
        out.stderr
    );
    assert_not_delivered(bed, &marker);
    // The default is repair too.
    let marker = TestBed::unique_marker("long-header");
    let mut c = submission(bed);
    c.args(["-t", "-i"]);
    run(c, php_style(bed, &marker, &token, "body").as_bytes()).expect(65);
    assert_not_delivered(bed, &marker);
}

#[test]
fn long_line_after_the_first_mib_is_refused_not_retried() {
    let bed = bed!();
    let marker = TestBed::unique_marker("long-late");
    // 20,000 short lines (1.28 MB), then the long one: too late to
    // re-encode the message, whose header has gone out.
    let mut body =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n".repeat(20_000);
    body.push_str(&html_line(2000));
    let mut c = submission(bed);
    c.args(["-t", "-i"]);
    let out = run(c, php_style(bed, &marker, "", &body).as_bytes());
    // 65, not 75: sending it again cannot work.
    out.expect(65);
    assert!(
        out.stderr
            .contains("line 20005 of the message is longer than 998 octets and "),
        "{}",
        out.stderr
    );
    assert_not_delivered(bed, &marker);
}
