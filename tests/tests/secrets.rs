//! No secret in any output, at the highest verbosity: the transcript
//! callback on, a `log` logger recording every record at Trace level
//! (rustls logs through the `log` crate; smtp-core itself does not log),
//! every error's Display, Debug and source chain, the Debug of the
//! config, client and report, and `smtp-send -v --log-file` (stdout,
//! stderr and the log file).
//!
//! For every mechanism the real bed offers (PLAIN, LOGIN, CRAM-MD5,
//! SCRAM-SHA-1, SCRAM-SHA-256) over plaintext loopback and over STARTTLS,
//! with the right and with a wrong password, and for XOAUTH2 and
//! OAUTHBEARER against the scripted server (accepted and refused), none of
//! these appears anywhere: the password, its base64, the base64 of the
//! PLAIN blob, the token, its base64, the XOAUTH2 and OAUTHBEARER blobs.

use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use smtp_core::{Config, Error, Mechanism, Message, HIDDEN};
use smtp_tests::driver::Client;
use smtp_tests::scripted::{expect, hello, reply, ScriptedServer, Step};
use smtp_tests::support::{contains, hangup, quit_steps, script, Transcript};
use smtp_tests::testbed::TestBed;

const WRONG_PASSWORD: &str = "Wr0ng-S3cret-never-shown";
const TOKEN: &str = "ya29.a0-secret-oauth-token-42";
const TOKEN_USER: &str = "alice@example.test";

// ----- a logger that keeps everything ----------------------------------------------

struct Recorder(Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

/// Installs the recorder (once per process) at Trace level.
fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let r: &'static Recorder = Box::leak(Box::new(Recorder(Mutex::new(Vec::new()))));
        log::set_logger(r).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
        r
    })
}

fn log_text() -> String {
    recorder().0.lock().unwrap().join("\n")
}

// ----- what must never show ---------------------------------------------------------

/// The forms of a password that must not appear.
fn password_forms(user: &str, password: &str) -> Vec<(String, String)> {
    vec![
        ("password".into(), password.to_string()),
        ("base64(password)".into(), B64.encode(password)),
        (
            "base64(PLAIN blob)".into(),
            B64.encode(format!("\0{user}\0{password}")),
        ),
    ]
}

/// The forms of a bearer token that must not appear.
fn token_forms(user: &str, token: &str) -> Vec<(String, String)> {
    vec![
        ("token".into(), token.to_string()),
        ("base64(token)".into(), B64.encode(token)),
        (
            "base64(XOAUTH2 blob)".into(),
            B64.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01")),
        ),
        (
            "base64(OAUTHBEARER blob)".into(),
            B64.encode(format!("n,a={user},\x01auth=Bearer {token}\x01\x01")),
        ),
    ]
}

/// Display, Debug and every source of an error.
fn error_text(err: &Error) -> String {
    let mut text = format!("{err}\n{err:?}\n");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!("{s}\n{s:?}\n"));
        source = s.source();
    }
    text
}

fn assert_nothing_secret(what: &str, haystack: &str, secrets: &[(String, String)]) {
    for (name, secret) in secrets {
        assert!(
            !contains(haystack.as_bytes(), secret.as_bytes()),
            "{what} contains the {name}:\n{haystack}"
        );
    }
}

// ----- the real bed -------------------------------------------------------------------

const MECHANISMS: [Mechanism; 5] = [
    Mechanism::Plain,
    Mechanism::Login,
    Mechanism::CramMd5,
    Mechanism::ScramSha1,
    Mechanism::ScramSha256,
];

/// One session: connect with `password`, send a message if that works;
/// returns everything the library let out.
fn session(bed: &TestBed, config: Config, mechanism: Mechanism, password: &str) -> (String, bool) {
    let transcript = Transcript::new();
    let config = transcript.attach(
        config
            .with_password(bed.user.clone(), password)
            .with_mechanism(mechanism),
    );
    let mut out = format!("{config:?}\n");
    let connected = match Client::connect(config) {
        Ok(mut client) => {
            let marker = TestBed::unique_marker("secrets");
            let mut m = Message::new();
            m.from(&format!("secrets@{}", bed.domain)).unwrap();
            m.to(&format!("secrets@{}", bed.domain)).unwrap();
            m.subject(&marker).unwrap();
            m.text("no secrets here\n");
            let report = client.send_message(&m).expect("send");
            out.push_str(&format!("{client:?}\n{report:?}\n"));
            client.quit().expect("quit");
            true
        }
        Err(e) => {
            assert!(
                matches!(e, Error::Auth { .. }),
                "{mechanism:?}: expected an AUTH failure, got {e:?}"
            );
            out.push_str(&error_text(&e));
            false
        }
    };
    let text = transcript.text();
    assert!(
        text.contains(HIDDEN),
        "{mechanism:?}: the AUTH exchange is in the transcript, hidden:\n{text}"
    );
    out.push_str(&text);
    (out, connected)
}

#[test]
fn no_secret_in_transcripts_logs_or_errors_for_any_mechanism_against_the_bed() {
    let Some(bed) = TestBed::get() else { return };
    recorder();
    let mut secrets = password_forms(&bed.user, &bed.password);
    secrets.extend(password_forms(&bed.user, WRONG_PASSWORD));
    let mut sessions = 0;
    for mechanism in MECHANISMS {
        for (transport, config) in [
            ("plaintext loopback", bed.plain_config(bed.port_plain)),
            ("STARTTLS", bed.submission_config()),
        ] {
            for (password, should_work) in [(bed.password.as_str(), true), (WRONG_PASSWORD, false)]
            {
                let (out, connected) = session(bed, config.clone(), mechanism, password);
                assert_eq!(
                    connected, should_work,
                    "{mechanism:?} over {transport}, right password: {should_work}"
                );
                assert_nothing_secret(
                    &format!("{mechanism:?} over {transport} (accepted: {connected})"),
                    &out,
                    &secrets,
                );
                sessions += 1;
            }
        }
    }
    assert_eq!(sessions, 20);
    let logs = log_text();
    // rustls did log (the logger works) and none of it is secret.
    assert!(
        logs.contains("rustls"),
        "no rustls record captured:\n{logs}"
    );
    assert_nothing_secret("the log records", &logs, &secrets);
}

// ----- XOAUTH2 and OAUTHBEARER against the scripted server ------------------------

#[test]
fn no_token_in_transcripts_logs_or_errors_for_oauth_mechanisms() {
    recorder();
    let secrets = token_forms(TOKEN_USER, TOKEN);
    let error_json = B64.encode(r#"{"status":"401","schemes":"bearer"}"#);
    let mut cases = 0;
    for mechanism in [Mechanism::XOAuth2, Mechanism::OAuthBearer] {
        for accepted in [true, false] {
            let auth = format!("AUTH {} ", mechanism.name());
            let mut steps = vec![expect(&auth)];
            if accepted {
                steps.push(reply("235 2.7.0 Accepted"));
                steps.extend(quit_steps());
            } else {
                steps.extend([
                    reply(&format!("334 {error_json}")),
                    Step::ExpectAny,
                    reply("535 5.7.8 Username and Password not accepted"),
                    hangup(),
                ]);
            }
            let server =
                ScriptedServer::start(script(vec![hello(&["AUTH XOAUTH2 OAUTHBEARER"]), steps]));
            let transcript = Transcript::new();
            let config = transcript.attach(
                server
                    .config()
                    .with_bearer_token(TOKEN_USER, TOKEN)
                    .with_mechanism(mechanism),
            );
            let mut out = format!("{config:?}\n");
            match Client::connect(config) {
                Ok(mut client) => {
                    assert!(accepted, "{mechanism:?} connected after a 535");
                    out.push_str(&format!("{client:?}\n"));
                    client.quit().unwrap();
                }
                Err(e) => {
                    assert!(!accepted, "{mechanism:?}: {e:?}");
                    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
                    out.push_str(&error_text(&e));
                }
            }
            let cap = server.finish();
            cap.assert_clean();
            // The token did go to the server (this is the real exchange)...
            let sent = cap.received_text();
            assert!(
                secrets[2..].iter().any(|(_, s)| sent.contains(s.as_str())),
                "{sent}"
            );
            // ...and nowhere else.
            out.push_str(&transcript.text());
            assert!(transcript.text().contains(HIDDEN));
            assert_nothing_secret(
                &format!("{mechanism:?} (accepted: {accepted})"),
                &out,
                &secrets,
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 4);
    assert_nothing_secret("the log records", &log_text(), &secrets);
}

// ----- smtp-send at its most verbose -----------------------------------------------

/// The `smtp-send` binary of this workspace, built if needed.
fn smtp_send() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let bin = dir.join("smtp-send");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "smtp-cli", "--bin", "smtp-send"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building smtp-send failed");
    }
    bin
}

#[test]
fn smtp_send_verbose_output_and_log_file_hold_no_secret() {
    let Some(bed) = TestBed::get() else { return };
    let bin = smtp_send();
    let dir = std::env::temp_dir().join(format!("secrets-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_file = dir.join("smtp-send.log");
    let mut secrets = password_forms(&bed.user, &bed.password);
    secrets.extend(password_forms(&bed.user, WRONG_PASSWORD));
    let user = bed.user.replace('@', "%40");
    let mut runs = 0;
    for mechanism in ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"] {
        for (url, ca) in [
            (
                format!(
                    "smtp://{user}@{}:{}?security=none",
                    bed.host, bed.port_plain
                ),
                None,
            ),
            (
                format!("smtp://{user}@localhost:{}", bed.port_submission),
                Some(&bed.ca_file),
            ),
        ] {
            for (password, ok) in [(bed.password.as_str(), true), (WRONG_PASSWORD, false)] {
                let mut cmd = Command::new(&bin);
                cmd.args(["-v", "-i", "--url", &url, "--auth", mechanism])
                    .arg("--log-file")
                    .arg(&log_file)
                    .args(["--timeout", "20", "-f"])
                    .arg(format!("cli@{}", bed.domain))
                    .arg(format!("secrets-cli@{}", bed.domain))
                    .env("SMTP_PASSWORD", password)
                    .env("SMTP_SEND_SYSTEM_CONFIG", "")
                    .env("HOME", &dir)
                    .env_remove("XDG_CONFIG_HOME")
                    .env_remove("SMTP_URL")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                if let Some(ca) = ca {
                    cmd.arg("--ca-file").arg(ca);
                }
                let mut child = cmd.spawn().expect("run smtp-send");
                {
                    use std::io::Write;
                    let mut stdin = child.stdin.take().unwrap();
                    stdin
                        .write_all(b"Subject: smtp-send secrets test\n\nno secrets here\n")
                        .unwrap();
                }
                let output = child.wait_with_output().unwrap();
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
                let what = format!("smtp-send {mechanism} {url} (right password: {ok})");
                assert_eq!(
                    output.status.code(),
                    Some(if ok { 0 } else { 77 }),
                    "{what}: {stderr}"
                );
                assert!(
                    stderr.contains("AUTH"),
                    "{what}: -v shows the dialogue: {stderr}"
                );
                assert_nothing_secret(&what, &format!("{stdout}\n{stderr}"), &secrets);
                runs += 1;
            }
        }
    }
    let log = std::fs::read_to_string(&log_file).expect("the log file");
    assert_eq!(log.lines().count(), runs, "{log}");
    assert!(
        log.contains("result=ok") && log.contains("exit=77"),
        "{log}"
    );
    assert_nothing_secret("the smtp-send log file", &log, &secrets);
    let _ = std::fs::remove_dir_all(&dir);
}
