//! `token_command` (OAuth 2.0, XOAUTH2) against scripted servers: a
//! command printing a token endpoint's JSON, run again when the server
//! refuses the first token (the message then sent once, on the second
//! connection); a bare token line with `expires_in=`; a command that
//! fails or prints garbage is exit 77 like refused credentials, with
//! nothing sent and no token in the error or the log.

mod common;

use common::fake::{run, smtp_send};
use common::TempDir;
use smtp_tests::scripted::ScriptedServer;
use smtp_tests::scripted_sequence::ScriptedSequence;
use smtp_tests::support::{b64, steps};

const USER: &str = "alice@example.test";

/// A session that takes XOAUTH2 and the message, then QUIT.
const ACCEPTS: &str =
    "hello AUTH XOAUTH2; < AUTH XOAUTH2 ; > 235 2.7.0 Accepted; transaction; quit";

/// The `n`-th token the counting command prints.
fn token(n: u32) -> String {
    format!("ya29.cli-{n}-SECRET")
}

fn xoauth2(token: &str) -> String {
    b64(format!("user={USER}\x01auth=Bearer {token}\x01\x01"))
}

/// A configuration file with an account using `command`, and the log.
fn config(dir: &TempDir, command: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = dir.path("send.log");
    let conf = dir.file(
        "smtp-send.conf",
        &format!(
            "log_file = {}\n[account oauth]\nuser = {USER}\ntoken_command = {command}\n",
            log.display()
        ),
        0o600,
    );
    (conf, log)
}

/// A command printing a token endpoint's answer with the next token of a
/// count kept in `dir`.
fn counting_command(dir: &TempDir) -> String {
    let count = dir.path("count");
    let script = dir.file(
        "token.sh",
        &format!(
            "n=$(cat '{c}' 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > '{c}'\n\
             printf '{{\"access_token\": \"ya29.cli-%s-SECRET\", \"expires_in\": 3599, \"token_type\": \"Bearer\", \"scope\": \"https://mail.google.com/\"}}\\n' \"$n\"\n",
            c = count.display()
        ),
        0o700,
    );
    format!("sh {}", script.display())
}

fn calls(dir: &TempDir) -> u32 {
    std::fs::read_to_string(dir.path("count"))
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(0)
}

fn send(conf: &std::path::Path, port: u16) -> common::Out {
    let mut c = smtp_send();
    c.env("SMTP_SEND_CONFIG", conf).args([
        "--account",
        "oauth",
        "--url",
        &format!("smtp://127.0.0.1:{port}?security=none&timeout=5"),
        "-f",
        "sender@example.test",
        "rcpt@example.test",
    ]);
    run(c, b"Subject: oauth\n\nbody\n")
}

#[test]
fn json_from_the_command_and_a_refused_token_replaced_once() {
    let dir = TempDir::new("token-json");
    let (conf, log) = config(&dir, &counting_command(&dir));
    let sequence = ScriptedSequence::start(&[
        "hello AUTH XOAUTH2; < AUTH XOAUTH2 ; > 535 5.7.8 Username and Password not accepted; hangup",
        ACCEPTS,
    ]);
    let out = send(&conf, sequence.port());
    let caps = sequence.finish();
    out.expect(0);
    assert_eq!(calls(&dir), 2, "the command runs again after the refusal");
    for cap in &caps {
        cap.assert_clean();
    }
    assert_eq!(
        caps[0].lines[1],
        format!("AUTH XOAUTH2 {}", xoauth2(&token(1)))
    );
    assert_eq!(caps[0].count_lines("MAIL"), 0);
    assert_eq!(
        caps[1].lines[1],
        format!("AUTH XOAUTH2 {}", xoauth2(&token(2)))
    );
    assert_eq!(caps[1].bodies.len(), 1, "the message sent once");
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(line.contains("result=ok exit=0"), "{line}");
    for text in [&out.stderr, &out.stdout, &line] {
        assert!(!text.contains("SECRET"), "{text}");
    }
}

#[test]
fn a_bare_token_line_with_its_lifetime() {
    let dir = TempDir::new("token-bare");
    let (conf, _) = config(&dir, "printf 'ya29.bare-SECRET\\nexpires_in=3599\\n'");
    let server = ScriptedServer::start(steps(ACCEPTS));
    let out = send(&conf, server.port());
    let cap = server.finish();
    out.expect(0);
    cap.assert_clean();
    assert_eq!(
        cap.lines[1],
        format!("AUTH XOAUTH2 {}", xoauth2("ya29.bare-SECRET"))
    );
}

#[test]
fn a_failing_or_garbage_command_is_77_and_sends_nothing() {
    let cases = [
        ("exit 3", "token_command failed"),
        ("true", "token_command printed nothing"),
        (
            r#"printf '{"error": "invalid_grant", "error_description": "Bad Request"}'"#,
            "invalid_grant",
        ),
        ("printf 'ya29.SECRET with spaces\\n'", "white space"),
        ("printf '{\"access_token\": 42}'", "no access_token"),
    ];
    for (command, expected) in cases {
        let dir = TempDir::new("token-fail");
        let (conf, log) = config(&dir, command);
        let server = ScriptedServer::start(steps("hello AUTH XOAUTH2; hangup"));
        let out = send(&conf, server.port());
        let cap = server.finish();
        out.expect(77);
        assert!(out.stderr.contains(expected), "{command}: {}", out.stderr);
        assert!(!cap.connected, "{command}: nothing may be sent");
        let line = std::fs::read_to_string(&log).unwrap();
        assert!(line.contains("exit=77"), "{line}");
        for text in [&out.stderr, &line] {
            assert!(!text.contains("SECRET"), "{command}: {text}");
        }
    }
}

#[test]
fn token_command_and_a_password_in_one_section_is_a_configuration_error() {
    let dir = TempDir::new("token-conflict");
    let conf = dir.file(
        "c.conf",
        &format!("[account oauth]\nuser = {USER}\npassword = pw\ntoken_command = true\n"),
        0o600,
    );
    let out = send(&conf, 1);
    out.expect(78);
    assert!(
        out.stderr.contains("both password and token_command"),
        "{}",
        out.stderr
    );
}
