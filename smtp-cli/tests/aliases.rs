//! `smtp-send` and recipients without a domain (cron and system mail to
//! `root`, `www-data`): an aliases file and `default_domain` from a
//! configuration file or the environment, checked on the RCPT TO lines a
//! scripted server sees (the header is sent unchanged), the refusals and
//! their exit codes, and one delivery through the Postfix test bed when
//! `SMTP_TESTBED_ENV` names one.

mod common;

use std::time::Duration;

use common::fake::{fake_server, fake_url, run, smtp_send, submission, Script, Session, WAIT};
use common::{Out, TempDir};
use smtp_tests::testbed::TestBed;

const ALIASES: &str = "\
# aliases for the tests
root: admin@example.test, Ops Team <ops@example.test>
# a continuation line, and a comment inside the entry
backup: one@example.test,
    # (ignored)
\ttwo@example.test
www-data: root
WebMaster: web@example.test
cron: \\cron
loop1: loop2
loop2: loop1
pipe: |/usr/bin/procmail
file: /var/mail/archive
include: :include:/etc/mail/list
";

/// Runs smtp-send against the scripted server with an aliases file (and
/// these extra config lines), `args` and `message` on standard input.
fn send(aliases: &str, config: &str, args: &[&str], message: &str) -> (Out, Session, TempDir) {
    let dir = TempDir::new("aliases");
    let file = dir.file("aliases", aliases, 0o644);
    let (port, rx) = fake_server(Script::default());
    let conf = dir.file(
        "config",
        &format!(
            "url = {}\naliases = {}\n{config}",
            fake_url(port),
            file.display()
        ),
        0o600,
    );
    let mut c = smtp_send();
    c.arg("--config").arg(&conf).args(args);
    let out = run(c, message.as_bytes());
    // A refused message never connects: no need to wait long for it.
    let wait = if out.code == 0 {
        WAIT
    } else {
        Duration::from_millis(200)
    };
    let session = rx.recv_timeout(wait).unwrap_or_default();
    (out, session, dir)
}

/// The RCPT TO addresses the server got.
fn rcpts(session: &Session) -> Vec<String> {
    session
        .commands
        .iter()
        .filter_map(|c| c.strip_prefix("RCPT TO:<"))
        .map(|c| c.trim_end_matches('>').to_string())
        .collect()
}

const MESSAGE: &str = "From: cron@example.test\nSubject: report\n\nbody\n";

#[test]
fn an_alias_to_one_and_to_several_addresses() {
    let (out, session, _dir) = send(ALIASES, "", &["webmaster"], MESSAGE);
    out.expect(0);
    assert_eq!(rcpts(&session), ["web@example.test"]);

    let (out, session, _dir) = send(ALIASES, "", &["root", "backup"], MESSAGE);
    out.expect(0);
    assert_eq!(
        rcpts(&session),
        [
            "admin@example.test",
            "ops@example.test",
            "one@example.test",
            "two@example.test"
        ]
    );
}

#[test]
fn nested_aliases_and_t_headers_resolve_in_the_envelope_only() {
    let message = "From: cron@example.test\nTo: www-data, other@example.test\nCc: Backups <backup>\nSubject: s\n\nbody\n";
    let (out, session, _dir) = send(ALIASES, "", &["-t"], message);
    out.expect(0);
    assert_eq!(
        rcpts(&session),
        [
            "admin@example.test",
            "ops@example.test",
            "other@example.test",
            "one@example.test",
            "two@example.test"
        ]
    );
    // The header is not rewritten.
    let data = session.data();
    assert!(
        data.contains("To: www-data, other@example.test\r\n"),
        "{data}"
    );
    assert!(data.contains("Cc: Backups <backup>\r\n"), "{data}");
}

#[test]
fn the_default_entry_and_the_default_domain() {
    let with_default = format!("{ALIASES}default: catchall@example.test\n");
    let (out, session, _dir) = send(&with_default, "", &["nobody"], MESSAGE);
    out.expect(0);
    assert_eq!(rcpts(&session), ["catchall@example.test"]);

    // No alias, no default entry: the default domain; \cron is never an alias.
    let (out, session, _dir) = send(
        ALIASES,
        "default_domain = host.example.test\n",
        &["-f", "daemon", "nobody", "cron"],
        MESSAGE,
    );
    out.expect(0);
    assert_eq!(
        rcpts(&session),
        ["nobody@host.example.test", "cron@host.example.test"]
    );
    assert!(
        session
            .commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<daemon@host.example.test>")),
        "{:?}",
        session.commands
    );

    // The environment works too, without a file.
    let (port, rx) = fake_server(Script::default());
    let mut c = smtp_send();
    c.env("SMTP_URL", fake_url(port))
        .env("SMTP_DEFAULT_DOMAIN", "env.example.test")
        .arg("root");
    run(c, MESSAGE.as_bytes()).expect(0);
    let session = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(rcpts(&session), ["root@env.example.test"]);
}

#[test]
fn unresolvable_names_are_refused_before_mail_from() {
    for (args, code, expected) in [
        (&["loop1"][..], 65, "alias loop: loop1 -> loop2 -> loop1"),
        (&["pipe"][..], 65, "not supported"),
        (&["file"][..], 65, "not supported"),
        (&["include"][..], 65, "not supported"),
        (&["unknown"][..], 65, "set default_domain"),
    ] {
        let (out, session, _dir) = send(ALIASES, "", args, MESSAGE);
        out.expect(code);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert!(!session.commands.iter().any(|c| c.starts_with("MAIL")));
    }
    // A malformed file is a configuration error, and only when needed.
    let (out, _, _dir) = send("root admin@example.test\n", "", &["root"], MESSAGE);
    out.expect(78);
    assert!(
        out.stderr.contains("aliases:1: expected name: value"),
        "{}",
        out.stderr
    );
    let (out, session, _dir) = send("root admin\n", "", &["a@example.test"], MESSAGE);
    out.expect(0);
    assert_eq!(rcpts(&session), ["a@example.test"]);
}

#[test]
fn without_aliases_or_default_domain_the_refusal_says_what_to_set() {
    let (port, rx) = fake_server(Script::default());
    for args in [&["root"][..], &["-t"][..]] {
        let mut c = smtp_send();
        c.env("SMTP_URL", fake_url(port)).args(args);
        let out = run(c, b"From: a@example.test\nTo: root\n\nbody\n");
        out.expect(65);
        assert!(
            out.stderr.contains("\"root\" has no domain"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("set aliases") && out.stderr.contains("default_domain"),
            "{}",
            out.stderr
        );
    }
    let mut c = smtp_send();
    c.env("SMTP_URL", fake_url(port))
        .args(["-f", "root", "a@example.test"]);
    let out = run(c, MESSAGE.as_bytes());
    out.expect(65);
    assert!(out.stderr.contains("default_domain"), "{}", out.stderr);
    drop(rx);
}

#[test]
fn bad_settings_are_configuration_errors() {
    let dir = TempDir::new("aliases-conf");
    let conf = dir.file(
        "config",
        "url = smtp://127.0.0.1:1\ndefault_domain = not a domain\n",
        0o600,
    );
    let mut c = smtp_send();
    c.arg("--config").arg(&conf).arg("root");
    let out = run(c, MESSAGE.as_bytes());
    out.expect(78);
    assert!(out.stderr.contains("default_domain"), "{}", out.stderr);
}

#[test]
fn cron_mail_to_root_is_delivered_on_the_test_bed() {
    let Some(bed) = TestBed::get() else {
        eprintln!(
            "SMTP_TESTBED_ENV not set: real-server test skipped (see tests/testbed/README.md)"
        );
        return;
    };
    let marker = TestBed::unique_marker("aliases");
    let dir = TempDir::new("aliases-bed");
    let aliases = dir.file(
        "aliases",
        &format!(
            "root: cron-admin@{d}, cron-ops\ndefault: catchall@{d}\n",
            d = bed.domain
        ),
        0o644,
    );
    let mut c = submission(bed);
    c.env("SMTP_ALIASES", &aliases)
        .env("SMTP_DEFAULT_DOMAIN", &bed.domain)
        .args(["-t", "-i", "-f", "cron"]);
    let message = format!(
        "From: Cron Daemon <cron@{}>\nTo: root\nSubject: {marker}\n\nreport\n",
        bed.domain
    );
    run(c, message.as_bytes()).expect(0);
    let mut to: Vec<String> = bed
        .wait_for_messages(&marker, 2, WAIT)
        .unwrap_or_else(|e| panic!("{marker} not delivered: {e}"))
        .iter()
        .flat_map(|raw| TestBed::parse_delivered(raw).delivered_to)
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            format!("cron-admin@{}", bed.domain),
            format!("cron-ops@{}", bed.domain)
        ]
    );
}
