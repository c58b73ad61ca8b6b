//! Fault injection against the scripted server (tests/src/scripted.rs),
//! curl style: every test scripts the server, runs the client, and checks
//! both the exact error (variant, phase, reply code) and the exact bytes
//! the client sent, so that nothing unexpected went out (no credentials
//! after a refusal, no MAIL after a failed AUTH, no body after a refused
//! envelope...).
//!
//! SCRAM against a server that really knows the password is covered here
//! too (`auth_scram_sha256_full_exchange_with_verified_server`, the server
//! side computed in the test) and by the real Dovecot tests in
//! real_server.rs.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use smtp_core::{
    Client, Config, Credentials, Direction, Envelope, Error, Mechanism, Phase, PlaintextAuthPolicy,
    RecipientPolicy, Timeouts, MAX_AUTH_ROUNDS,
};
use smtp_tests::scripted::{
    converse, expect, hello, raw, replies, reply, respond, Answer, Capture, ScriptedServer, Step,
    CLIENT_NAME,
};

// ----- helpers ----------------------------------------------------------------

/// The short per-phase timeout of the timeout tests.
const SHORT: Duration = Duration::from_millis(500);
/// Slack allowed over a timeout before the test calls it too slow.
const SLACK: Duration = Duration::from_secs(1);
/// How long the server waits for the client to hang up.
const HANGUP: Duration = Duration::from_secs(3);

const FROM: &str = "sender@example.test";
const TO: &str = "rcpt@example.test";
const MESSAGE: &[u8] =
    b"From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: test\r\n\r\nHello.\r\n";

const USER: &str = "alice@example.test";
const PASSWORD: &str = "s3cret-Pa55word";
const TOKEN: &str = "ya29.a0AfH6SMBx-very-secret-token";

fn hangup() -> Step {
    Step::ExpectClose(HANGUP)
}

fn ehlo() -> String {
    format!("EHLO {CLIENT_NAME}")
}

/// Lines joined with CRLF, each terminated: the expected wire transcript.
fn wire(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn script(parts: Vec<Vec<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

fn envelope() -> Envelope {
    Envelope::new(FROM, [TO]).unwrap()
}

fn mail_line() -> String {
    format!("MAIL FROM:<{FROM}>")
}

fn rcpt_line(to: &str) -> String {
    format!("RCPT TO:<{to}>")
}

/// MESSAGE as it must appear after DATA (already CRLF, no dots), terminated.
fn message_on_wire() -> Vec<u8> {
    let mut v = MESSAGE.to_vec();
    v.extend_from_slice(b".\r\n");
    v
}

/// A whole non-pipelined transaction, one reply per command.
fn transaction(to: &[&str]) -> Vec<Step> {
    let mut s = vec![expect(&mail_line()), reply("250 2.1.0 Ok")];
    for t in to {
        s.push(expect(&rcpt_line(t)));
        s.push(reply("250 2.1.5 Ok"));
    }
    s.extend([
        expect("DATA"),
        reply("354 End data with <CR><LF>.<CR><LF>"),
        Step::ReadData,
        reply("250 2.0.0 Ok: queued as 4F3A"),
    ]);
    s
}

/// A whole pipelined transaction: every command read before any reply.
fn pipelined_transaction(to: &[&str]) -> Vec<Step> {
    let mut s = vec![expect(&mail_line())];
    s.extend(to.iter().map(|t| expect(&rcpt_line(t))));
    s.push(expect("DATA"));
    let mut answers = vec!["250 2.1.0 Ok"];
    answers.extend(to.iter().map(|_| "250 2.1.5 Ok"));
    answers.push("354 End data with <CR><LF>.<CR><LF>");
    s.push(replies(&answers));
    s.extend([Step::ReadData, reply("250 2.0.0 Ok: queued as 4F3A")]);
    s
}

fn quit() -> Vec<Step> {
    vec![expect("QUIT"), reply("221 2.0.0 Bye"), hangup()]
}

/// The wire lines of one transaction (without the body).
fn transaction_lines(to: &[&str]) -> Vec<String> {
    let mut v = vec![mail_line()];
    v.extend(to.iter().map(|t| rcpt_line(t)));
    v.push("DATA".into());
    v
}

fn connect(config: Config) -> Client {
    Client::connect(config).expect("connect")
}

fn connect_err(config: Config) -> Error {
    Client::connect(config).expect_err("connect must fail")
}

/// The command lines seen, with one optional trailing `QUIT` removed (a
/// client may say goodbye after a fatal reply or not).
fn lines_without_final_quit(cap: &Capture) -> Vec<String> {
    let mut lines = cap.lines.clone();
    if lines.last().is_some_and(|l| l == "QUIT") {
        lines.pop();
    }
    lines
}

fn assert_lines(cap: &Capture, expected: &[String]) {
    assert_eq!(cap.lines, expected, "received: {:?}", cap.received_text());
}

fn assert_elapsed_below(start: Instant, limit: Duration) {
    let elapsed = start.elapsed();
    assert!(elapsed < limit, "took {elapsed:?}, limit {limit:?}");
}

/// Collects the client's transcript.
#[derive(Clone, Default)]
struct Transcript(Arc<Mutex<Vec<(Direction, String)>>>);

impl Transcript {
    fn attach(&self, config: Config) -> Config {
        let sink = self.0.clone();
        config.with_transcript(move |direction, line| {
            sink.lock().unwrap().push((direction, line.to_string()));
        })
    }

    fn lines(&self) -> Vec<(Direction, String)> {
        self.0.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        self.lines()
            .iter()
            .map(|(d, l)| format!("{d} {l}\n"))
            .collect()
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// A body that produces `len` bytes of `0123...\r\n` lines, then ends.
struct Generated {
    left: usize,
    pos: usize,
}

const GENERATED_LINE: &[u8] =
    b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";

impl Generated {
    fn new(len: usize) -> Generated {
        Generated { left: len, pos: 0 }
    }

    fn bytes(len: usize) -> Vec<u8> {
        let mut v = Vec::new();
        Generated::new(len).read_to_end(&mut v).unwrap();
        v
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left);
        for b in &mut buf[..n] {
            *b = GENERATED_LINE[self.pos];
            self.pos = (self.pos + 1) % GENERATED_LINE.len();
        }
        self.left -= n;
        Ok(n)
    }
}

/// A body that gives `good` bytes (in reads of at most 64 KiB) and then fails.
struct FailingBody {
    inner: Generated,
}

impl Read for FailingBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf)? {
            0 => Err(io::Error::other("disk on fire")),
            n => Ok(n),
        }
    }
}

// ----- greeting -------------------------------------------------------------------

#[test]
fn greeting_554_is_rejected_and_nothing_is_sent() {
    let server = ScriptedServer::start(vec![reply("554 5.3.2 no service for you"), hangup()]);
    let err = connect_err(server.config());
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::Greeting, reply } if reply.code() == 554
            && reply.text() == "no service for you"),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
    assert!(lines_without_final_quit(&cap).is_empty(), "{:?}", cap.lines);
}

#[test]
fn greeting_421_is_rejected() {
    let server = ScriptedServer::start(vec![reply("421 4.3.2 busy, try later"), hangup()]);
    let err = connect_err(server.config());
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::Greeting, reply } if reply.code() == 421),
        "{err:?}"
    );
    assert!(err.is_transient());
    let cap = server.finish();
    cap.assert_clean();
    assert!(lines_without_final_quit(&cap).is_empty(), "{:?}", cap.lines);
}

#[test]
fn multiline_greeting_is_accepted() {
    let server = ScriptedServer::start(script(vec![
        vec![
            replies(&["220-mx.test ESMTP", "220-no UCE", "220 ready"]),
            expect("EHLO "),
            scripted_ehlo(&[]),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    assert_eq!(client.greeting().code(), 220);
    assert_eq!(
        client.greeting().lines(),
        ["mx.test ESMTP", "no UCE", "ready"]
    );
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.received_text(), wire(&[&ehlo(), "QUIT"]));
}

fn scripted_ehlo(exts: &[&str]) -> Step {
    smtp_tests::scripted::ehlo_reply(exts)
}

#[test]
fn garbage_greeting_is_a_protocol_error() {
    let server = ScriptedServer::start(vec![
        raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
        hangup(),
    ]);
    let err = connect_err(server.config());
    assert!(
        matches!(
            &err,
            Error::Protocol {
                phase: Phase::Greeting,
                ..
            }
        ),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.received.is_empty(), "{:?}", cap.received_text());
    assert!(cap.client_closed);
}

#[test]
fn close_before_greeting_is_an_io_error() {
    let server = ScriptedServer::start(vec![Step::Close]);
    let err = connect_err(server.config());
    assert!(
        matches!(
            &err,
            Error::Io {
                phase: Phase::Greeting,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.received.is_empty());
}

#[test]
fn silent_server_times_out_in_greeting() {
    let server = ScriptedServer::start(vec![hangup()]);
    let start = Instant::now();
    let err = connect_err(server.config().with_timeouts(Timeouts::uniform(SHORT)));
    assert_elapsed_below(start, SHORT + SLACK);
    assert!(start.elapsed() >= SHORT - Duration::from_millis(50));
    assert!(
        matches!(&err, Error::Timeout { phase: Phase::Greeting, after } if *after == SHORT),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
    assert!(cap.received.is_empty(), "{:?}", cap.received_text());
}

// ----- EHLO -----------------------------------------------------------------------

fn helo_fallback_then_send(code: &str) {
    let server = ScriptedServer::start(script(vec![
        vec![
            smtp_tests::scripted::greeting(),
            expect("EHLO "),
            reply(code),
            expect(&format!("HELO {CLIENT_NAME}")),
            reply("250 mx.test"),
        ],
        transaction(&[TO]),
        quit(),
    ]));
    let mut client = connect(server.config());
    let caps = client.capabilities();
    assert!(!caps.extended);
    assert!(!caps.pipelining);
    assert!(caps.auth.is_empty());
    assert_eq!(caps.size, None);
    assert_eq!(caps.server_name, "mx.test");
    let report = client.send_bytes(&envelope(), MESSAGE).unwrap();
    assert!(report.all_accepted());
    assert_eq!(report.reply.code(), 250);
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let mut expected = wire(&[&ehlo(), &format!("HELO {CLIENT_NAME}")]);
    expected += &wire(&[&mail_line(), &rcpt_line(TO), "DATA"]);
    expected += std::str::from_utf8(&message_on_wire()).unwrap();
    expected += &wire(&["QUIT"]);
    assert_eq!(cap.received_text(), expected);
}

#[test]
fn ehlo_500_falls_back_to_helo() {
    helo_fallback_then_send("500 5.5.1 command unrecognized");
}

#[test]
fn ehlo_502_falls_back_to_helo() {
    helo_fallback_then_send("502 5.5.2 command not implemented");
}

fn ehlo_refused(code: u16, line: &str) {
    let server = ScriptedServer::start(vec![
        smtp_tests::scripted::greeting(),
        expect("EHLO "),
        reply(line),
        hangup(),
    ]);
    let err = connect_err(server.config());
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::Ehlo, reply } if reply.code() == code),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    // No HELO, nothing else (a QUIT is tolerated).
    assert_eq!(lines_without_final_quit(&cap), [ehlo()]);
}

#[test]
fn ehlo_421_is_rejected_without_helo() {
    ehlo_refused(421, "421 4.3.2 shutting down");
}

#[test]
fn ehlo_554_is_rejected_without_helo() {
    ehlo_refused(554, "554 5.7.1 go away");
}

#[test]
fn ehlo_reply_with_mixed_codes_is_a_protocol_error() {
    let server = ScriptedServer::start(vec![
        smtp_tests::scripted::greeting(),
        expect("EHLO "),
        replies(&["250-mx.test", "251 PIPELINING"]),
        hangup(),
    ]);
    let err = connect_err(server.config());
    assert!(
        matches!(
            &err,
            Error::Protocol {
                phase: Phase::Ehlo,
                ..
            }
        ),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines, [ehlo()], "nothing after a broken reply");
}

// ----- reply limits ------------------------------------------------------------------

#[test]
fn endless_reply_line_is_a_protocol_error_without_buffering_it() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let server = ScriptedServer::start(vec![Step::Flood {
        prefix: b"220 ".to_vec(),
        fill: b'x',
        total: TOTAL,
    }]);
    let start = Instant::now();
    let err = connect_err(server.config());
    assert_elapsed_below(start, Duration::from_secs(5));
    assert!(
        matches!(&err, Error::Protocol { phase: Phase::Greeting, reason } if reason.contains("longer than")),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed, "the client must hang up");
    assert!(
        cap.flood_written < TOTAL,
        "the server could write all {TOTAL} bytes: the client kept reading"
    );
    assert!(cap.received.is_empty());
}

fn ehlo_with_lines(count: usize) -> Step {
    let mut lines: Vec<String> = (1..count).map(|i| format!("250-X-EXT{i}")).collect();
    lines.insert(0, "250-mx.test".into());
    lines.truncate(count - 1);
    lines.push("250 PIPELINING".into());
    assert_eq!(lines.len(), count);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    replies(&refs)
}

#[test]
fn reply_with_101_lines_is_a_protocol_error() {
    let server = ScriptedServer::start(vec![
        smtp_tests::scripted::greeting(),
        expect("EHLO "),
        ehlo_with_lines(101),
        hangup(),
    ]);
    let err = connect_err(server.config());
    assert!(
        matches!(&err, Error::Protocol { phase: Phase::Ehlo, reason } if reason.contains("100")),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines, [ehlo()]);
}

#[test]
fn reply_with_100_lines_is_accepted() {
    let server = ScriptedServer::start(script(vec![
        vec![
            smtp_tests::scripted::greeting(),
            expect("EHLO "),
            ehlo_with_lines(100),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    assert!(client.capabilities().pipelining);
    assert_eq!(client.capabilities().raw.len(), 99);
    client.quit().unwrap();
    server.finish().assert_clean();
}

// ----- AUTH -------------------------------------------------------------------------

fn sasl_vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../smtp-core/testdata/sasl.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn password_config(server: &ScriptedServer) -> Config {
    server.config().with_password(USER, PASSWORD)
}

#[test]
fn auth_plain_sends_initial_response() {
    let vectors = sasl_vectors();
    let v = &vectors["plain"][0];
    let ir = v["message_b64"].as_str().unwrap();
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH PLAIN"]),
        vec![
            expect("AUTH PLAIN "),
            reply("235 2.7.0 Authentication successful"),
        ],
        quit(),
    ]));
    let config = server.config().with_password(
        v["authcid"].as_str().unwrap(),
        v["password"].as_str().unwrap(),
    );
    let mut client = connect(config);
    assert_eq!(client.authenticated_with(), Some(Mechanism::Plain));
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), &format!("AUTH PLAIN {ir}"), "QUIT"])
    );
}

/// A LOGIN exchange with these two prompts; returns the capture.
fn login_exchange(first_prompt: &[u8], second_prompt: &[u8], transcript: &Transcript) -> Capture {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH LOGIN"]),
        vec![
            expect("AUTH LOGIN"),
            reply(&format!("334 {}", b64(first_prompt))),
            Step::ExpectAny,
            reply(&format!("334 {}", b64(second_prompt))),
            Step::ExpectAny,
            reply("235 2.7.0 Authentication successful"),
        ],
        quit(),
    ]));
    let mut client = connect(transcript.attach(password_config(&server)));
    assert_eq!(client.authenticated_with(), Some(Mechanism::Login));
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    cap
}

#[test]
fn auth_login_answers_prompts_in_reversed_order() {
    let cap = login_exchange(b"Password:", b"Username:", &Transcript::default());
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), "AUTH LOGIN", &b64(PASSWORD), &b64(USER), "QUIT"])
    );
}

#[test]
fn auth_login_reads_lower_case_prompts() {
    let cap = login_exchange(b"username:", b"password:", &Transcript::default());
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), "AUTH LOGIN", &b64(USER), &b64(PASSWORD), "QUIT"])
    );
    // And reversed, lower case.
    let cap = login_exchange(b"password:", b"user name", &Transcript::default());
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), "AUTH LOGIN", &b64(PASSWORD), &b64(USER), "QUIT"])
    );
}

#[test]
fn auth_login_unreadable_prompts_fall_back_to_order_with_a_note() {
    let transcript = Transcript::default();
    let cap = login_exchange(b"\x01\x02?", b"Gib:", &transcript);
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), "AUTH LOGIN", &b64(USER), &b64(PASSWORD), "QUIT"])
    );
    let notes: Vec<String> = transcript
        .lines()
        .into_iter()
        .filter(|(d, _)| *d == Direction::Info)
        .map(|(_, l)| l)
        .filter(|l| l.contains("LOGIN prompt"))
        .collect();
    assert_eq!(notes.len(), 2, "{}", transcript.text());
    assert!(notes[0].contains("username by position"), "{notes:?}");
    assert!(notes[1].contains("password by position"), "{notes:?}");
}

#[test]
fn auth_cram_md5_rfc2195_vector() {
    let vectors = sasl_vectors();
    let v = &vectors["cram_md5"][0];
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH CRAM-MD5"]),
        vec![
            expect("AUTH CRAM-MD5"),
            reply(&format!("334 {}", v["challenge_b64"].as_str().unwrap())),
            Step::ExpectAny,
            reply("235 2.7.0 Authentication successful"),
        ],
        quit(),
    ]));
    let config = server
        .config()
        .with_password(v["user"].as_str().unwrap(), v["secret"].as_str().unwrap());
    let mut client = connect(config);
    assert_eq!(client.authenticated_with(), Some(Mechanism::CramMd5));
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.received_text(),
        wire(&[
            &ehlo(),
            "AUTH CRAM-MD5",
            v["response_b64"].as_str().unwrap(),
            "QUIT"
        ])
    );
}

#[test]
fn auth_prefers_the_strongest_offered_mechanism() {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH LOGIN PLAIN", "AUTH=CRAM-MD5"]),
        vec![expect("AUTH CRAM-MD5"), reply("535 5.7.8 no")],
        vec![hangup()],
    ]));
    let err = connect_err(password_config(&server));
    assert!(
        matches!(
            &err,
            Error::Auth {
                mechanism: Mechanism::CramMd5,
                ..
            }
        ),
        "{err:?}"
    );
    server.finish().assert_clean();
}

fn xoauth2_message(user: &str, token: &str) -> String {
    b64(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

#[test]
fn auth_xoauth2_error_json_then_535() {
    let json = r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
    let transcript = Transcript::default();
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH XOAUTH2 PLAIN"]),
        vec![
            expect("AUTH XOAUTH2 "),
            reply(&format!("334 {}", b64(json))),
            Step::ExpectAny,
            reply("535 5.7.8 Username and Password not accepted"),
        ],
        vec![hangup()],
    ]));
    let config = transcript.attach(server.config().with_bearer_token(USER, TOKEN));
    let err = connect_err(config);
    match &err {
        Error::Auth {
            mechanism: Mechanism::XOAuth2,
            reply: Some(reply),
            reason,
            ..
        } => {
            assert_eq!(reply.code(), 535);
            assert_eq!(reason, "Username and Password not accepted");
        }
        other => panic!("{other:?}"),
    }
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        lines_without_final_quit(&cap),
        [
            ehlo(),
            format!("AUTH XOAUTH2 {}", xoauth2_message(USER, TOKEN)),
            String::new(),
        ]
    );
    // The error JSON is shown in the transcript, the token never.
    let text = transcript.text();
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

/// What the SCRAM server does after verifying the client proof.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScramServerMode {
    /// Sends the right server signature, then 235.
    Honest,
    /// Sends a wrong server signature.
    WrongSignature,
    /// Says 235 without sending a server signature.
    SuccessWithoutSignature,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The server side of SCRAM-SHA-256 (RFC 5802 / 7677), checking the
/// client's proof for `password`.
fn scram_sha256_server(password: &'static str, mode: ScramServerMode) -> Step {
    use sha2::Digest;
    const SALT: &[u8] = b"scripted-salt-16";
    const ITERATIONS: u32 = 4096;
    let mut state = 0;
    let mut client_first_bare = String::new();
    let mut server_first = String::new();
    let mut nonce = String::new();
    converse(4, move |line| {
        state += 1;
        match state {
            1 => {
                let Some(ir) = line.strip_prefix("AUTH SCRAM-SHA-256 ") else {
                    return Answer::Fail(format!("expected AUTH SCRAM-SHA-256, got {line:?}"));
                };
                let first = String::from_utf8(B64.decode(ir).unwrap()).unwrap();
                let Some(bare) = first.strip_prefix("n,,") else {
                    return Answer::Fail(format!("bad GS2 header in {first:?}"));
                };
                client_first_bare = bare.to_string();
                let Some(cnonce) = bare.split(',').find_map(|f| f.strip_prefix("r=")) else {
                    return Answer::Fail(format!("no nonce in {bare:?}"));
                };
                nonce = format!("{cnonce}Srv+n0nce/42");
                server_first = format!("r={nonce},s={},i={ITERATIONS}", b64(SALT));
                Answer::Reply(format!("334 {}\r\n", b64(&server_first)).into_bytes())
            }
            2 => {
                let last = String::from_utf8(B64.decode(line).unwrap()).unwrap();
                let Some((without_proof, proof)) = last.rsplit_once(",p=") else {
                    return Answer::Fail(format!("no proof in {last:?}"));
                };
                if without_proof != format!("c=biws,r={nonce}") {
                    return Answer::Fail(format!("bad client-final {without_proof:?}"));
                }
                let mut salted = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                    password.as_bytes(),
                    SALT,
                    ITERATIONS,
                    &mut salted,
                );
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let client_key = hmac_sha256(&salted, b"Client Key");
                let stored_key = sha2::Sha256::digest(&client_key);
                let client_signature = hmac_sha256(&stored_key, auth_message.as_bytes());
                let expected: Vec<u8> = client_key
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                if B64.decode(proof).ok() != Some(expected) {
                    return Answer::Fail("the client proof is wrong".into());
                }
                let server_key = hmac_sha256(&salted, b"Server Key");
                let mut signature = hmac_sha256(&server_key, auth_message.as_bytes());
                match mode {
                    ScramServerMode::Honest => {}
                    ScramServerMode::WrongSignature => signature[0] ^= 0x55,
                    ScramServerMode::SuccessWithoutSignature => {
                        return Answer::ReplyAndEnd(
                            b"235 2.7.0 Authentication successful\r\n".to_vec(),
                        )
                    }
                }
                let server_final = format!("v={}", b64(&signature));
                Answer::Reply(format!("334 {}\r\n", b64(server_final)).into_bytes())
            }
            _ => match (mode, line) {
                (ScramServerMode::Honest, "") => {
                    Answer::ReplyAndEnd(b"235 2.7.0 Authentication successful\r\n".to_vec())
                }
                (ScramServerMode::WrongSignature, "*") => {
                    Answer::ReplyAndEnd(b"501 5.7.0 Authentication cancelled\r\n".to_vec())
                }
                _ => Answer::Fail(format!("unexpected line {line:?} after server-final")),
            },
        }
    })
}

#[test]
fn auth_scram_sha256_full_exchange_with_verified_server() {
    let transcript = Transcript::default();
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH SCRAM-SHA-256 PLAIN"]),
        vec![scram_sha256_server(PASSWORD, ScramServerMode::Honest)],
        quit(),
    ]));
    let mut client = connect(transcript.attach(password_config(&server)));
    assert_eq!(client.authenticated_with(), Some(Mechanism::ScramSha256));
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines.len(), 5, "{:?}", cap.lines);
    assert_eq!(cap.lines[3], "", "empty answer to server-final");
    assert!(transcript.text().contains("server signature verified"));
}

#[test]
fn auth_scram_sha256_wrong_server_signature_is_refused() {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH SCRAM-SHA-256"]),
        vec![scram_sha256_server(
            PASSWORD,
            ScramServerMode::WrongSignature,
        )],
        vec![hangup()],
    ]));
    let err = connect_err(password_config(&server));
    match &err {
        Error::Auth {
            mechanism: Mechanism::ScramSha256,
            reason,
            source,
            ..
        } => {
            assert!(reason.contains("signature is wrong"), "{reason}");
            // The mechanism's finding is kept as the error's source.
            assert!(
                matches!(source, Some(smtp_core::SaslError::ServerSignatureMismatch)),
                "{source:?}"
            );
            let source = std::error::Error::source(&err).expect("a source");
            assert_eq!(source.to_string(), *reason);
        }
        other => panic!("{other:?}"),
    }
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed, "the connection must be closed");
    let lines = lines_without_final_quit(&cap);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[1].starts_with("AUTH SCRAM-SHA-256 "));
    assert_eq!(lines[3], "*", "the exchange is cancelled");
}

#[test]
fn auth_scram_success_without_server_signature_is_refused() {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH SCRAM-SHA-256"]),
        vec![scram_sha256_server(
            PASSWORD,
            ScramServerMode::SuccessWithoutSignature,
        )],
        vec![hangup()],
    ]));
    let err = connect_err(password_config(&server));
    match &err {
        Error::Auth {
            mechanism: Mechanism::ScramSha256,
            reply: Some(reply),
            reason,
            ..
        } => {
            assert_eq!(reply.code(), 235);
            assert!(reason.contains("never proved"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
    // Nothing at all after the unverified success, not even QUIT.
    assert_eq!(cap.lines.len(), 3, "{:?}", cap.lines);
}

#[test]
fn auth_535_is_an_auth_error_with_the_server_text_and_nothing_follows() {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH PLAIN", "PIPELINING"]),
        vec![
            expect("AUTH PLAIN "),
            reply("535 5.7.8 Authentication credentials invalid"),
        ],
        vec![hangup()],
    ]));
    let err = connect_err(password_config(&server));
    match &err {
        Error::Auth {
            mechanism: Mechanism::Plain,
            reply: Some(reply),
            reason,
            ..
        } => {
            assert_eq!(reply.code(), 535);
            assert_eq!(reply.enhanced().unwrap().to_string(), "5.7.8");
            assert_eq!(reason, "Authentication credentials invalid");
            // A refusal by the server has no SASL source.
            assert!(std::error::Error::source(&err).is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    let cap = server.finish();
    cap.assert_clean();
    let ir = b64(format!("\0{USER}\0{PASSWORD}"));
    assert_eq!(
        lines_without_final_quit(&cap),
        [ehlo(), format!("AUTH PLAIN {ir}")]
    );
}

/// A server that answers every AUTH line with an empty `334 ` (at most 20
/// times) until the client cancels with `*`.
fn endless_334() -> Step {
    converse(20, |line| {
        if line == "*" {
            Answer::ReplyAndEnd(b"501 5.7.0 Authentication cancelled\r\n".to_vec())
        } else {
            Answer::Reply(b"334 \r\n".to_vec())
        }
    })
}

fn endless_334_with(mechanism: &str, config: impl FnOnce(Config) -> Config) -> (Error, Capture) {
    let server = ScriptedServer::start(script(vec![
        hello(&[&format!("AUTH {mechanism}")]),
        vec![endless_334(), hangup()],
    ]));
    let err = connect_err(config(server.config()));
    (err, server.finish())
}

#[test]
fn auth_endless_334_gives_up_and_cancels() {
    let (err, cap) = endless_334_with("LOGIN", |c| c.with_password(USER, PASSWORD));
    assert!(
        matches!(
            &err,
            Error::Auth {
                mechanism: Mechanism::Login,
                ..
            }
        ),
        "{err:?}"
    );
    cap.assert_clean();
    assert_eq!(
        lines_without_final_quit(&cap),
        [
            ehlo(),
            "AUTH LOGIN".into(),
            b64(USER),
            b64(PASSWORD),
            "*".into()
        ]
    );
}

#[test]
fn auth_endless_334_every_mechanism_stops_within_max_rounds() {
    let cases: [(&str, Credentials); 7] = [
        ("PLAIN", Credentials::password(USER, PASSWORD)),
        ("LOGIN", Credentials::password(USER, PASSWORD)),
        ("CRAM-MD5", Credentials::password(USER, PASSWORD)),
        ("SCRAM-SHA-1", Credentials::password(USER, PASSWORD)),
        ("SCRAM-SHA-256", Credentials::password(USER, PASSWORD)),
        ("XOAUTH2", Credentials::bearer_token(USER, TOKEN)),
        ("OAUTHBEARER", Credentials::bearer_token(USER, TOKEN)),
    ];
    for (mechanism, credentials) in cases {
        let (err, cap) = endless_334_with(mechanism, |c| c.with_credentials(Some(credentials)));
        assert!(matches!(&err, Error::Auth { .. }), "{mechanism}: {err:?}");
        cap.assert_clean();
        let lines = lines_without_final_quit(&cap);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("*"),
            "{mechanism}: {lines:?}"
        );
        // EHLO, AUTH, the answers, "*".
        let answers = lines.len() - 3;
        assert!(answers <= MAX_AUTH_ROUNDS, "{mechanism}: {answers} answers");
    }
}

#[test]
fn auth_challenge_that_is_not_base64_is_cancelled() {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH LOGIN"]),
        vec![
            expect("AUTH LOGIN"),
            reply("334 this is not base64!"),
            expect("*"),
            reply("501 5.5.2 cancelled"),
            hangup(),
        ],
    ]));
    let err = connect_err(password_config(&server));
    match &err {
        Error::Auth {
            mechanism: Mechanism::Login,
            reason,
            ..
        } => assert!(reason.contains("base64"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        lines_without_final_quit(&cap),
        [ehlo(), "AUTH LOGIN".into(), "*".into()]
    );
}

/// Connects with `config` to a server offering `extensions`, expecting a
/// failure before any AUTH line: returns the error; checks that only EHLO
/// (and QUIT) went out.
fn refused_before_auth(
    extensions: &[&str],
    config: impl FnOnce(&ScriptedServer) -> Config,
) -> Error {
    let server = ScriptedServer::start(script(vec![hello(extensions), vec![hangup()]]));
    let err = connect_err(config(&server));
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(lines_without_final_quit(&cap), [ehlo()], "{err:?}");
    assert!(cap.client_closed);
    err
}

#[test]
fn credentials_without_auth_offered_are_not_sent() {
    let err = refused_before_auth(&["PIPELINING", "8BITMIME"], password_config);
    assert!(
        matches!(&err, Error::NoCompatibleAuth { offered, .. } if offered.is_empty()),
        "{err:?}"
    );
}

#[test]
fn password_with_only_xoauth2_offered_is_not_sent() {
    let err = refused_before_auth(&["AUTH XOAUTH2"], password_config);
    assert!(
        matches!(&err, Error::NoCompatibleAuth { offered, .. } if offered == &["XOAUTH2"]),
        "{err:?}"
    );
}

#[test]
fn forced_mechanism_not_offered_is_not_used() {
    let err = refused_before_auth(&["AUTH PLAIN LOGIN"], |s| {
        password_config(s).with_mechanism(Some(Mechanism::CramMd5))
    });
    match &err {
        Error::NoCompatibleAuth { offered, reason } => {
            assert_eq!(offered, &["PLAIN", "LOGIN"]);
            assert!(reason.contains("CRAM-MD5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn plaintext_policy_never_refuses_even_on_loopback() {
    let err = refused_before_auth(&["AUTH PLAIN LOGIN"], |s| {
        password_config(s).with_plaintext_auth_policy(PlaintextAuthPolicy::Never)
    });
    assert!(
        matches!(&err, Error::PlaintextAuthRefused { server } if server.starts_with("127.0.0.1:")),
        "{err:?}"
    );
}

#[test]
fn transcripts_and_errors_never_contain_secrets() {
    let transcript = Transcript::default();
    let mut errors = Vec::new();
    // PLAIN, accepted.
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH PLAIN"]),
        vec![expect("AUTH PLAIN"), reply("235 2.7.0 ok")],
        quit(),
    ]));
    connect(transcript.attach(password_config(&server)))
        .quit()
        .unwrap();
    server.finish().assert_clean();
    // LOGIN, refused.
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH LOGIN"]),
        vec![
            expect("AUTH LOGIN"),
            reply("334 VXNlcm5hbWU6"),
            Step::ExpectAny,
            reply("334 UGFzc3dvcmQ6"),
            Step::ExpectAny,
            reply("535 5.7.8 nope"),
            hangup(),
        ],
    ]));
    errors.push(connect_err(transcript.attach(password_config(&server))));
    server.finish().assert_clean();
    // CRAM-MD5, accepted.
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH CRAM-MD5"]),
        vec![
            expect("AUTH CRAM-MD5"),
            reply("334 PDEyMzRAbXgudGVzdD4="),
            Step::ExpectAny,
            reply("235 2.7.0 ok"),
        ],
        quit(),
    ]));
    connect(transcript.attach(password_config(&server)))
        .quit()
        .unwrap();
    server.finish().assert_clean();
    // SCRAM, wrong server signature.
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH SCRAM-SHA-256"]),
        vec![
            scram_sha256_server(PASSWORD, ScramServerMode::WrongSignature),
            hangup(),
        ],
    ]));
    errors.push(connect_err(transcript.attach(password_config(&server))));
    server.finish().assert_clean();
    // XOAUTH2, refused with the error JSON.
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH XOAUTH2"]),
        vec![
            expect("AUTH XOAUTH2"),
            reply("334 eyJzdGF0dXMiOiI0MDEifQ=="),
            Step::ExpectAny,
            reply("535 5.7.8 bad token"),
            hangup(),
        ],
    ]));
    let config = transcript.attach(server.config().with_bearer_token(USER, TOKEN));
    errors.push(connect_err(config.clone()));
    server.finish().assert_clean();

    let secrets = [
        PASSWORD.to_string(),
        TOKEN.to_string(),
        b64(PASSWORD),
        b64(TOKEN),
        b64(format!("\0{USER}\0{PASSWORD}")),
        xoauth2_message(USER, TOKEN),
    ];
    let text = transcript.text();
    assert!(text.contains("AUTH PLAIN"), "{text}");
    assert!(text.contains(smtp_core::HIDDEN), "{text}");
    let shown = format!(
        "{text}\n{errors:?}\n{}\n{config:?}",
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for secret in &secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "{secret:?} leaked in:\n{shown}"
        );
    }
}

#[test]
fn auth_initial_response_too_long_for_the_line_is_refused_before_auth() {
    let long_token = "t".repeat(20_000);
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH XOAUTH2"]),
        vec![converse(3, |line| {
            if line.eq_ignore_ascii_case("AUTH XOAUTH2") {
                Answer::Reply(b"334 \r\n".to_vec())
            } else if line == "*" {
                Answer::ReplyAndEnd(b"501 5.7.0 cancelled\r\n".to_vec())
            } else if line.eq_ignore_ascii_case("QUIT") {
                // Refused before AUTH: the client says goodbye.
                Answer::ReplyAndEnd(b"221 2.0.0 bye\r\n".to_vec())
            } else {
                Answer::Fail(format!("unexpected line of {} bytes", line.len()))
            }
        })],
        vec![hangup()],
    ]));
    let err = connect_err(server.config().with_bearer_token(USER, long_token));
    let cap = server.finish();
    let sent = lines_without_final_quit(&cap);
    match &err {
        // Refused up front: nothing but EHLO went out.
        Error::InvalidInput { .. } => assert_eq!(sent, [ehlo()], "{err:?}"),
        // Or the exchange was started and cancelled properly.
        Error::Auth { .. } => assert_eq!(sent, [ehlo(), "AUTH XOAUTH2".into(), "*".into()]),
        other => panic!("{other:?}"),
    }
    cap.assert_clean();
}

#[test]
fn auth_oauthbearer_on_the_wire() {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH OAUTHBEARER XOAUTH2"]),
        vec![expect("AUTH OAUTHBEARER "), reply("235 2.7.0 Accepted")],
        quit(),
    ]));
    let mut client = connect(server.config().with_bearer_token(USER, TOKEN));
    assert_eq!(client.authenticated_with(), Some(Mechanism::OAuthBearer));
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let message = b64(format!("n,a={USER},\x01auth=Bearer {TOKEN}\x01\x01"));
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), &format!("AUTH OAUTHBEARER {message}"), "QUIT"])
    );
}

#[test]
fn reply_421_during_auth_closes_without_mail() {
    let server = ScriptedServer::start(script(vec![
        hello(&["AUTH LOGIN"]),
        vec![
            expect("AUTH LOGIN"),
            reply("334 VXNlcm5hbWU6"),
            Step::ExpectAny,
            reply("421 4.7.0 too many AUTH errors"),
            hangup(),
        ],
    ]));
    let err = connect_err(password_config(&server));
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::Auth, reply } if reply.code() == 421),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        lines_without_final_quit(&cap),
        [ehlo(), "AUTH LOGIN".into(), b64(USER)]
    );
}

// ----- envelope -----------------------------------------------------------------------

#[test]
fn mail_from_550_is_rejected_then_rset_and_session_usable() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect("MAIL FROM:"),
            reply("550 5.7.1 sender refused"),
            expect("RSET"),
            reply("250 2.0.0 Ok"),
            expect("NOOP"),
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::MailFrom, reply } if reply.code() == 550),
        "{err:?}"
    );
    assert!(client.is_connected());
    client.noop().unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), &mail_line(), "RSET", "NOOP", "QUIT"])
    );
}

#[test]
fn mail_from_550_pipelined_is_rejected_then_rset() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect("MAIL FROM:"),
            expect("RCPT TO:"),
            expect("DATA"),
            replies(&[
                "550 5.7.1 sender refused",
                "503 5.5.1 need MAIL",
                "503 5.5.1 need RCPT",
            ]),
            expect("RSET"),
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::MailFrom, reply } if reply.code() == 550),
        "{err:?}"
    );
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.bodies.is_empty());
    let mut expected = vec![ehlo()];
    expected.extend(transaction_lines(&[TO]));
    expected.extend(["RSET".into(), "QUIT".into()]);
    assert_lines(&cap, &expected);
}

#[test]
fn mail_from_refused_but_data_354_sends_an_empty_message_then_rset() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(TO)),
            expect("DATA"),
            replies(&[
                "550 5.7.1 sender refused",
                "503 5.5.1 need MAIL",
                "354 go ahead",
            ]),
            Step::ReadData,
            reply("503 5.5.1 no transaction"),
            expect("RSET"),
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::MailFrom, reply } if reply.code() == 550),
        "{err:?}"
    );
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [b".\r\n".to_vec()]);
    assert_eq!(
        cap.received_text(),
        wire(&[
            &ehlo(),
            &mail_line(),
            &rcpt_line(TO),
            "DATA",
            ".",
            "RSET",
            "QUIT"
        ])
    );
}

const A: &str = "a@example.test";
const B: &str = "b@example.test";
const C: &str = "c@example.test";

#[test]
fn one_refused_recipient_of_three_is_reported_and_the_message_delivered() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING", "ENHANCEDSTATUSCODES"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(A)),
            expect(&rcpt_line(B)),
            expect(&rcpt_line(C)),
            expect("DATA"),
            replies(&[
                "250 2.1.0 Ok",
                "250 2.1.5 Ok",
                "550 5.1.1 <b@example.test>: Recipient address rejected",
                "250 2.1.5 Ok",
                "354 go ahead",
            ]),
            Step::ReadData,
            reply("250 2.0.0 Ok: queued as 4F3A"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let env = Envelope::new(FROM, [A, B, C]).unwrap();
    let report = client.send_bytes(&env, MESSAGE).unwrap();
    let summary: Vec<(String, u16, bool)> = report
        .recipients
        .iter()
        .map(|r| (r.address.clone(), r.reply.code(), r.accepted()))
        .collect();
    assert_eq!(
        summary,
        [
            (A.to_string(), 250, true),
            (B.to_string(), 550, false),
            (C.to_string(), 250, true)
        ]
    );
    let refused: Vec<_> = report.refused().collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].reply.enhanced().unwrap().to_string(), "5.1.1");
    assert_eq!(
        refused[0].reply.text(),
        "<b@example.test>: Recipient address rejected"
    );
    assert_eq!(report.accepted().count(), 2);
    assert!(!report.all_accepted());
    assert_eq!(report.reply.code(), 250);
    assert_eq!(report.reply.text(), "Ok: queued as 4F3A");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [message_on_wire()]);
}

#[test]
fn all_or_nothing_with_one_refused_sends_no_data() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(A)),
            expect(&rcpt_line(B)),
            expect(&rcpt_line(C)),
            replies(&[
                "250 2.1.0 Ok",
                "250 2.1.5 Ok",
                "450 4.2.0 <b@example.test>: greylisted",
                "250 2.1.5 Ok",
            ]),
            expect("RSET"),
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(
        server
            .config()
            .with_recipient_policy(RecipientPolicy::AllOrNothing),
    );
    let env = Envelope::new(FROM, [A, B, C]).unwrap();
    let err = client.send_bytes(&env, MESSAGE).unwrap_err();
    match &err {
        Error::RecipientsRefused { refused } => {
            assert_eq!(refused.len(), 1);
            assert_eq!(refused[0].address, B);
            assert_eq!(refused[0].reply.code(), 450);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.bodies.is_empty());
    assert_eq!(
        cap.received_text(),
        wire(&[
            &ehlo(),
            &mail_line(),
            &rcpt_line(A),
            &rcpt_line(B),
            &rcpt_line(C),
            "RSET",
            "QUIT"
        ])
    );
}

#[test]
fn all_recipients_refused_pipelined_data_554_then_rset_and_next_message_works() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(A)),
            expect(&rcpt_line(B)),
            expect("DATA"),
            replies(&[
                "250 2.1.0 Ok",
                "550 5.1.1 no such user",
                "550 5.1.1 no such user",
                "554 5.5.1 Error: no valid recipients",
            ]),
            expect("RSET"),
            reply("250 2.0.0 Ok"),
        ],
        pipelined_transaction(&[C]),
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client
        .send_bytes(&Envelope::new(FROM, [A, B]).unwrap(), MESSAGE)
        .unwrap_err();
    match &err {
        Error::RecipientsRefused { refused } => {
            let who: Vec<&str> = refused.iter().map(|r| r.address.as_str()).collect();
            assert_eq!(who, [A, B]);
        }
        other => panic!("{other:?}"),
    }
    assert!(client.is_connected());
    let report = client
        .send_bytes(&Envelope::new(FROM, [C]).unwrap(), MESSAGE)
        .unwrap();
    assert!(report.all_accepted());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [message_on_wire()]);
    let mut expected = vec![ehlo()];
    expected.extend(transaction_lines(&[A, B]));
    expected.push("RSET".into());
    expected.extend(transaction_lines(&[C]));
    expected.push("QUIT".into());
    assert_lines(&cap, &expected);
}

#[test]
fn all_recipients_refused_but_data_354_sends_an_empty_message_then_rset() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(A)),
            expect("DATA"),
            replies(&["250 2.1.0 Ok", "550 5.1.1 no such user", "354 go ahead"]),
            Step::ReadData,
            reply("554 5.5.1 no valid recipients"),
            expect("RSET"),
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client
        .send_bytes(&Envelope::new(FROM, [A]).unwrap(), MESSAGE)
        .unwrap_err();
    assert!(matches!(&err, Error::RecipientsRefused { .. }), "{err:?}");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.bodies,
        [b".\r\n".to_vec()],
        "RFC 2920: an empty message"
    );
    assert_eq!(
        cap.received_text(),
        wire(&[
            &ehlo(),
            &mail_line(),
            &rcpt_line(A),
            "DATA",
            ".",
            "RSET",
            "QUIT"
        ])
    );
}

/// Connects to a server offering `extensions`, runs `attempt` (which must
/// fail before sending anything), then QUIT; checks that only EHLO and
/// QUIT went out. Returns the error.
fn refused_before_mail(extensions: &[&str], attempt: impl FnOnce(&mut Client) -> Error) -> Error {
    let server = ScriptedServer::start(script(vec![hello(extensions), quit()]));
    let mut client = connect(server.config());
    let err = attempt(&mut client);
    assert!(client.is_connected());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.received_text(), wire(&[&ehlo(), "QUIT"]), "{err:?}");
    err
}

#[test]
fn message_over_the_size_limit_sends_nothing() {
    let err = refused_before_mail(&["SIZE 100", "PIPELINING"], |client| {
        client
            .send_bytes(&envelope(), &Generated::bytes(101))
            .unwrap_err()
    });
    assert!(
        matches!(
            &err,
            Error::Unsupported {
                extension: "SIZE",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn size_is_declared_when_offered() {
    let server = ScriptedServer::start(script(vec![
        hello(&["SIZE 10240"]),
        transaction(&[TO]),
        quit(),
    ]));
    let mut client = connect(server.config());
    client.send_bytes(&envelope(), MESSAGE).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.lines[1],
        format!("MAIL FROM:<{FROM}> SIZE={}", MESSAGE.len())
    );
}

#[test]
fn utf8_address_without_smtputf8_sends_nothing() {
    let err = refused_before_mail(&["8BITMIME"], |client| {
        let env = Envelope::new("jörg@example.test", [TO]).unwrap();
        client.send_bytes(&env, MESSAGE).unwrap_err()
    });
    assert!(
        matches!(
            &err,
            Error::Unsupported {
                extension: "SMTPUTF8",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn utf8_address_with_smtputf8_is_sent_with_the_parameter() {
    let server = ScriptedServer::start(script(vec![
        hello(&["SMTPUTF8"]),
        vec![
            expect("MAIL FROM:"),
            reply("250 2.1.0 Ok"),
            expect("RCPT TO:"),
            reply("250 2.1.5 Ok"),
            expect("DATA"),
            reply("354 go ahead"),
            Step::ReadData,
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let env = Envelope::new("jörg@bücher.test", ["δοκιμή@παράδειγμα.test"]).unwrap();
    client.send_bytes(&env, MESSAGE).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.received_text(),
        wire(&[
            &ehlo(),
            "MAIL FROM:<jörg@bücher.test> SMTPUTF8",
            "RCPT TO:<δοκιμή@παράδειγμα.test>",
            "DATA",
        ]) + std::str::from_utf8(&message_on_wire()).unwrap()
            + "QUIT\r\n"
    );
}

const EIGHT_BIT: &[u8] = "Subject: café\r\n\r\nÀ bientôt.\r\n".as_bytes();

#[test]
fn eight_bit_body_without_8bitmime_sends_nothing() {
    let err = refused_before_mail(&["PIPELINING", "SMTPUTF8"], |client| {
        client.send_bytes(&envelope(), EIGHT_BIT).unwrap_err()
    });
    assert!(
        matches!(
            &err,
            Error::Unsupported {
                extension: "8BITMIME",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn eight_bit_body_with_8bitmime_declares_it() {
    let server = ScriptedServer::start(script(vec![
        hello(&["8BITMIME"]),
        vec![
            expect(&format!("{} BODY=8BITMIME", mail_line())),
            reply("250 Ok"),
        ],
        vec![
            expect(&rcpt_line(TO)),
            reply("250 Ok"),
            expect("DATA"),
            reply("354 go"),
            Step::ReadData,
            reply("250 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    client.send_bytes(&envelope(), EIGHT_BIT).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines[1], format!("{} BODY=8BITMIME", mail_line()));
    let mut body = EIGHT_BIT.to_vec();
    body.extend_from_slice(b".\r\n");
    assert_eq!(cap.bodies, [body]);
}

#[test]
fn control_characters_in_addresses_are_refused_and_nothing_is_sent() {
    let bad = [
        "a@example.test\r\nRCPT TO:<evil@example.test>",
        "a\r@example.test",
        "a\n@example.test",
        "a\0@example.test",
        "a@example.test\r\n.\r\nMAIL FROM:<x@y.test>",
    ];
    refused_before_mail(&["PIPELINING", "SMTPUTF8"], |_client| {
        for b in bad {
            let err = Envelope::new(b, [TO]).unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::InvalidInput {
                        field: "sender address",
                        ..
                    }
                ),
                "{b:?}: {err:?}"
            );
            let err = Envelope::new(FROM, [TO, b]).unwrap_err();
            assert!(
                matches!(
                    &err,
                    Error::InvalidInput {
                        field: "recipient address",
                        ..
                    }
                ),
                "{b:?}: {err:?}"
            );
        }
        Error::NotConnected("nothing was attempted".into())
    });
}

#[test]
fn control_characters_in_the_client_name_are_refused_before_connecting() {
    let server = ScriptedServer::start(script(vec![hello(&[]), quit()]));
    for name in ["evil\r\nMAIL FROM:<x@y.test>", "a\nb", "a\0b", "a b"] {
        let err = connect_err(server.config().with_client_name(name));
        assert!(
            matches!(
                &err,
                Error::InvalidInput {
                    field: "client name",
                    ..
                }
            ),
            "{name:?}: {err:?}"
        );
    }
    let cap = server.finish();
    assert!(!cap.connected, "the client must not even connect");
    assert!(cap.received.is_empty());
}

// ----- pipelining ------------------------------------------------------------------------

#[test]
fn pipelined_envelope_is_sent_before_any_reply() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        pipelined_transaction(&[A, B]),
        quit(),
    ]));
    let mut client = connect(server.config());
    assert!(client.capabilities().pipelining);
    let report = client
        .send_bytes(&Envelope::new(FROM, [A, B]).unwrap(), MESSAGE)
        .unwrap();
    assert!(report.all_accepted());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let mut expected = wire(&[&ehlo(), &mail_line(), &rcpt_line(A), &rcpt_line(B), "DATA"]);
    expected += std::str::from_utf8(&message_on_wire()).unwrap();
    expected += "QUIT\r\n";
    assert_eq!(cap.received_text(), expected);
}

fn slowly(text: &str) -> Step {
    Step::SendSlowly {
        bytes: text.as_bytes().to_vec(),
        pause: Duration::from_millis(1),
    }
}

#[test]
fn replies_split_byte_by_byte_are_understood() {
    let server = ScriptedServer::start(vec![
        slowly("220-mx.test ESMTP\r\n220 ready\r\n"),
        expect("EHLO "),
        slowly("250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
        expect(&mail_line()),
        expect(&rcpt_line(TO)),
        expect("DATA"),
        slowly("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n"),
        Step::ReadData,
        slowly("250 2.0.0 Ok: queued\r\n"),
        expect("QUIT"),
        slowly("221 2.0.0 Bye\r\n"),
        hangup(),
    ]);
    let mut client = connect(server.config());
    assert!(client.capabilities().pipelining && client.capabilities().eight_bit_mime);
    let report = client.send_bytes(&envelope(), MESSAGE).unwrap();
    assert_eq!(report.reply.text(), "Ok: queued");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [message_on_wire()]);
}

#[test]
fn pipelining_disabled_sends_one_command_at_a_time() {
    let quiet = || Step::ExpectSilence(Duration::from_millis(150));
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            quiet(),
            reply("250 2.1.0 Ok"),
            expect(&rcpt_line(A)),
            quiet(),
            reply("250 2.1.5 Ok"),
            expect(&rcpt_line(B)),
            quiet(),
            reply("250 2.1.5 Ok"),
            expect("DATA"),
            quiet(),
            reply("354 go ahead"),
            Step::ReadData,
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config().with_pipelining(false));
    client
        .send_bytes(&Envelope::new(FROM, [A, B]).unwrap(), MESSAGE)
        .unwrap();
    client.quit().unwrap();
    server.finish().assert_clean();
}

// ----- DATA ------------------------------------------------------------------------------

#[test]
fn body_is_dot_stuffed_and_line_endings_normalised() {
    let body: &[u8] = b"Subject: dots\r\n\r\n.hidden\r\nbare\nLF\n.\nMAIL FROM:<evil@x.test>\n\r\n.\r\nend\r.\rlast";
    let expected: &[u8] = b"Subject: dots\r\n\r\n..hidden\r\nbare\r\nLF\r\n..\r\nMAIL FROM:<evil@x.test>\r\n\r\n..\r\nend\r\n..\r\nlast\r\n.\r\n";
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        pipelined_transaction(&[TO]),
        quit(),
    ]));
    let mut client = connect(server.config());
    client.send(&envelope(), &mut &body[..]).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        String::from_utf8_lossy(&cap.bodies[0]),
        String::from_utf8_lossy(expected)
    );
    // The smuggled command stayed inside the body.
    let mut lines = vec![ehlo()];
    lines.extend(transaction_lines(&[TO]));
    lines.push("QUIT".into());
    assert_lines(&cap, &lines);
}

#[test]
fn empty_body_sends_only_the_terminator() {
    let server = ScriptedServer::start(script(vec![hello(&[]), transaction(&[TO]), quit()]));
    let mut client = connect(server.config());
    client.send(&envelope(), &mut io::empty()).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [b".\r\n".to_vec()]);
}

#[test]
fn data_refused_is_rejected_then_rset() {
    for line in ["451 4.3.0 try again later", "554 5.7.1 no DATA for you"] {
        let code: u16 = line[..3].parse().unwrap();
        let server = ScriptedServer::start(script(vec![
            hello(&[]),
            vec![
                expect(&mail_line()),
                reply("250 Ok"),
                expect(&rcpt_line(TO)),
                reply("250 Ok"),
                expect("DATA"),
                reply(line),
                expect("RSET"),
                reply("250 Ok"),
            ],
            quit(),
        ]));
        let mut client = connect(server.config());
        let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
        assert!(
            matches!(&err, Error::Rejected { phase: Phase::Data, reply } if reply.code() == code),
            "{err:?}"
        );
        assert_eq!(err.is_transient(), code == 451);
        client.quit().unwrap();
        let cap = server.finish();
        cap.assert_clean();
        assert!(cap.bodies.is_empty());
        assert_eq!(
            cap.received_text(),
            wire(&[
                &ehlo(),
                &mail_line(),
                &rcpt_line(TO),
                "DATA",
                "RSET",
                "QUIT"
            ])
        );
    }
}

#[test]
fn data_answered_without_354_gets_no_body() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect(&mail_line()),
            reply("250 Ok"),
            expect(&rcpt_line(TO)),
            reply("250 Ok"),
            expect("DATA"),
            reply("250 2.0.0 Ok, whatever"),
            expect("RSET"),
            reply("250 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::Data, reply } if reply.code() == 250),
        "{err:?}"
    );
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.bodies.is_empty());
    assert_eq!(
        cap.received_text(),
        wire(&[
            &ehlo(),
            &mail_line(),
            &rcpt_line(TO),
            "DATA",
            "RSET",
            "QUIT"
        ])
    );
}

#[test]
fn pipelined_data_refused_is_rejected_then_rset() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(TO)),
            expect("DATA"),
            replies(&["250 Ok", "250 Ok", "554 5.3.4 no"]),
            expect("RSET"),
            reply("250 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::Data, reply } if reply.code() == 554),
        "{err:?}"
    );
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.bodies.is_empty());
}

#[test]
fn refusal_after_the_final_dot_is_rejected_and_session_stays_usable() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(TO)),
            expect("DATA"),
            replies(&["250 Ok", "250 Ok", "354 go ahead"]),
            Step::ReadData,
            reply("554 5.7.1 message looks like spam"),
            expect("NOOP"),
            reply("250 2.0.0 Ok"),
        ],
        quit(),
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::EndOfData, reply } if reply.code() == 554),
        "{err:?}"
    );
    assert_eq!(client.noop().unwrap().code(), 250);
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [message_on_wire()]);
    let mut lines = vec![ehlo()];
    lines.extend(transaction_lines(&[TO]));
    lines.extend(["NOOP".into(), "QUIT".into()]);
    assert_lines(&cap, &lines);
}

#[test]
fn reply_421_after_the_final_dot_closes_the_session() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect(&mail_line()),
            reply("250 Ok"),
            expect(&rcpt_line(TO)),
            reply("250 Ok"),
            expect("DATA"),
            reply("354 go"),
            Step::ReadData,
            reply("421 4.3.2 shutting down"),
            hangup(),
        ],
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::EndOfData, reply } if reply.code() == 421),
        "{err:?}"
    );
    assert!(!client.is_connected());
    let again = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(matches!(again, Error::NotConnected(_)), "{again:?}");
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    let mut lines = vec![ehlo()];
    lines.extend(transaction_lines(&[TO]));
    assert_eq!(lines_without_final_quit(&cap), lines);
}

#[test]
fn server_dropping_during_the_body_is_a_certain_failure() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect(&mail_line()),
            reply("250 Ok"),
            expect(&rcpt_line(TO)),
            reply("250 Ok"),
            expect("DATA"),
            reply("354 go"),
            Step::ReadExact(4096),
            Step::Close,
        ],
    ]));
    let mut client = connect(server.config());
    let err = client
        .send(&envelope(), &mut Generated::new(32 * 1024 * 1024))
        .unwrap_err();
    // Writing the body failed, so the final dot never left: nothing can
    // have been delivered, and the error says so (not DeliveryUnknown).
    assert!(
        matches!(
            err,
            Error::Io {
                phase: Phase::Body,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(!client.is_connected());
    assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies[0], Generated::bytes(4096));
}

#[test]
fn server_dropping_after_the_final_dot_is_delivery_unknown() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(TO)),
            expect("DATA"),
            replies(&["250 Ok", "250 Ok", "354 go ahead"]),
            Step::ReadData,
            Step::Close,
        ],
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    match &err {
        Error::DeliveryUnknown {
            phase: Phase::EndOfData,
            cause,
        } => assert!(
            matches!(
                **cause,
                Error::Io {
                    phase: Phase::EndOfData,
                    ..
                }
            ),
            "{cause:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(!client.is_connected());
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [message_on_wire()]);
}

#[test]
fn server_no_longer_reading_the_body_times_out_as_a_certain_failure() {
    // The data block timeout applies to each write (RFC 5321 4.5.3.2.5),
    // and on loopback a blocked write still makes a little progress now and
    // then (the kernel compacts the receive queue), so the client may need a
    // few timeouts in a row: the server stalls long enough for that.
    const STALL: Duration = Duration::from_secs(4);
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect(&mail_line()),
            reply("250 Ok"),
            expect(&rcpt_line(TO)),
            reply("250 Ok"),
            expect("DATA"),
            reply("354 go"),
            Step::ReadExact(4096),
            // Stop reading: the client's writes block once the buffers fill.
            Step::Sleep(STALL),
            Step::Close,
        ],
    ]));
    let mut client = connect(server.config().with_timeouts(Timeouts::uniform(SHORT)));
    let start = Instant::now();
    let mut body = Generated::new(256 * 1024 * 1024);
    let err = client.send(&envelope(), &mut body).unwrap_err();
    assert_elapsed_below(start, STALL - Duration::from_millis(500));
    // The final dot never left: a plain timeout, not DeliveryUnknown.
    assert!(
        matches!(err, Error::Timeout { phase: Phase::Body, after } if after == SHORT),
        "{err:?}"
    );
    // The body is streamed: the client read only a little more than the
    // socket buffers hold, not the whole 256 MiB.
    assert!(body.left > 200 * 1024 * 1024, "{} bytes left", body.left);
    assert!(!client.is_connected());
    server.finish().assert_clean();
}

#[test]
fn body_read_error_never_terminates_the_message() {
    // Past the 1 MiB read before anything is sent, so the failure comes
    // in the middle of the body.
    const GOOD: usize = 3 * 1024 * 1024;
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![
            expect(&mail_line()),
            expect(&rcpt_line(TO)),
            expect("DATA"),
            replies(&["250 Ok", "250 Ok", "354 go ahead"]),
            Step::ReadToClose(HANGUP),
        ],
    ]));
    let mut client = connect(server.config());
    let mut body = FailingBody {
        inner: Generated::new(GOOD),
    };
    let err = client.send(&envelope(), &mut body).unwrap_err();
    match &err {
        Error::BodyRead(e) => assert_eq!(e.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
    assert!(!client.is_connected());
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
    let got = &cap.bodies[0];
    // Part of the body went out (so the test means something), never the end.
    assert!(!got.is_empty() && got.len() <= GOOD, "{} bytes", got.len());
    assert_eq!(got[..], Generated::bytes(got.len())[..]);
    assert!(
        !got.windows(5).any(|w| w == b"\r\n.\r\n"),
        "the terminator was sent"
    );
    assert!(!got.ends_with(b".\r\n"));
}

#[test]
fn body_read_error_early_in_the_message_sends_nothing() {
    // The first 1 MiB is read before MAIL FROM: a failure there costs no
    // command, and the session stays usable.
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        vec![expect("NOOP"), reply("250 2.0.0 Ok")],
        quit(),
    ]));
    let mut client = connect(server.config());
    let mut body = FailingBody {
        inner: Generated::new(64 * 1024),
    };
    let err = client.send(&envelope(), &mut body).unwrap_err();
    match &err {
        Error::BodyRead(e) => assert_eq!(e.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
    assert!(client.is_connected());
    assert_eq!(client.noop().unwrap().code(), 250);
    client.quit().unwrap();
    server.finish().assert_clean();
}

// ----- session ------------------------------------------------------------------------

#[test]
fn two_messages_on_one_connection() {
    let server = ScriptedServer::start(script(vec![
        hello(&["PIPELINING"]),
        pipelined_transaction(&[A]),
        pipelined_transaction(&[B, C]),
        quit(),
    ]));
    let mut client = connect(server.config());
    client
        .send_bytes(&Envelope::new(FROM, [A]).unwrap(), MESSAGE)
        .unwrap();
    client
        .send_bytes(
            &Envelope::new(FROM, [B, C]).unwrap(),
            b"Subject: 2\r\n\r\nSecond.\r\n",
        )
        .unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.bodies,
        [
            message_on_wire(),
            b"Subject: 2\r\n\r\nSecond.\r\n.\r\n".to_vec()
        ]
    );
}

#[test]
fn rset_then_a_good_transaction() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![expect("RSET"), reply("250 2.0.0 Ok")],
        transaction(&[TO]),
        quit(),
    ]));
    let mut client = connect(server.config());
    client.reset().unwrap();
    client.send_bytes(&envelope(), MESSAGE).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let mut lines = vec![ehlo(), "RSET".into()];
    lines.extend(transaction_lines(&[TO]));
    lines.push("QUIT".into());
    assert_lines(&cap, &lines);
}

#[test]
fn noop_returns_the_reply() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect("NOOP"),
            reply("250 2.0.0 Ok"),
            expect("NOOP"),
            reply("421 4.4.2 idle too long"),
            hangup(),
        ],
    ]));
    let mut client = connect(server.config());
    let r = client.noop().unwrap();
    assert_eq!((r.code(), r.text()), (250, "Ok".to_string()));
    let err = client.noop().unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::Noop, reply } if reply.code() == 421),
        "{err:?}"
    );
    assert!(!client.is_connected());
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        lines_without_final_quit(&cap),
        [ehlo(), "NOOP".into(), "NOOP".into()]
    );
}

#[test]
fn server_control_characters_never_reach_the_transcript_or_errors() {
    // Escape sequences (colour, window title), a bare CR and a backspace in
    // the greeting, the EHLO reply and a refusal; tab stays.
    let server = ScriptedServer::start(script(vec![
        vec![
            reply("220 mx.test \x1b[31mESMTP\x1b[0m\rfake\x08"),
            expect("EHLO "),
            replies(&["250-mx.test \x1b]0;owned\x07", "250 XTEST\tvalue"]),
        ],
        vec![expect(&mail_line()), reply("550 5.7.1 \x1b[2Jno\x1b[0m")],
        vec![expect("RSET"), reply("250 2.0.0 Ok")],
        quit(),
    ]));
    let transcript = Transcript::default();
    let mut client = connect(transcript.attach(server.config()));
    let err = client
        .send(&envelope(), &mut &b"Subject: x\r\n\r\nx\r\n"[..])
        .expect_err("MAIL is refused");
    client.quit().unwrap();
    server.finish().assert_clean();
    let text = format!("{}\n{err}\n{err:?}", transcript.text());
    for c in ['\x1b', '\r', '\x08', '\x07'] {
        assert!(!text.contains(c), "{c:?} in {text:?}");
    }
    assert!(text.contains("S: 220 mx.test \u{fffd}[31mESMTP"), "{text}");
    assert!(text.contains("XTEST\tvalue"), "{text}");
    assert!(format!("{err}").contains("\u{fffd}[2Jno"), "{err}");
}

#[test]
fn quit_closes_the_session() {
    let server = ScriptedServer::start(script(vec![hello(&[]), quit()]));
    let mut client = connect(server.config());
    client.quit().unwrap();
    assert!(!client.is_connected());
    assert!(matches!(
        client.send_bytes(&envelope(), MESSAGE),
        Err(Error::NotConnected(_))
    ));
    assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
    assert!(matches!(client.reset(), Err(Error::NotConnected(_))));
    assert!(matches!(client.quit(), Err(Error::NotConnected(_))));
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
    assert_eq!(cap.received_text(), wire(&[&ehlo(), "QUIT"]));
}

fn mail_421(pipelining: bool) {
    let mut steps = vec![expect(&mail_line())];
    if pipelining {
        steps.extend([expect(&rcpt_line(TO)), expect("DATA")]);
    }
    steps.extend([reply("421 4.7.0 too many errors, closing"), hangup()]);
    let exts: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
    let server = ScriptedServer::start(script(vec![hello(exts), steps]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { phase: Phase::MailFrom, reply } if reply.code() == 421),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(!client.is_connected());
    assert!(matches!(
        client.send_bytes(&envelope(), MESSAGE),
        Err(Error::NotConnected(_))
    ));
    assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    let mut lines = vec![ehlo(), mail_line()];
    if pipelining {
        lines.extend([rcpt_line(TO), "DATA".into()]);
    }
    // In particular no RSET.
    assert_eq!(lines_without_final_quit(&cap), lines);
}

#[test]
fn reply_421_to_mail_closes_without_rset() {
    mail_421(false);
}

#[test]
fn reply_421_to_pipelined_mail_closes_without_rset() {
    mail_421(true);
}

#[test]
fn total_deadline_cuts_a_slow_drip_greeting() {
    let total = Duration::from_millis(600);
    let server = ScriptedServer::start(vec![Step::SendSlowly {
        bytes: b"220 mx.test ESMTP at one byte every 100 ms\r\n".to_vec(),
        pause: Duration::from_millis(100),
    }]);
    let mut timeouts = Timeouts::uniform(Duration::from_secs(3));
    timeouts.total = Some(total);
    let start = Instant::now();
    let err = connect_err(server.config().with_timeouts(timeouts));
    assert_elapsed_below(start, total + SLACK);
    assert!(
        matches!(
            &err,
            Error::Timeout {
                phase: Phase::Greeting,
                ..
            }
        ),
        "{err:?}"
    );
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
}

#[test]
fn total_deadline_cuts_a_slow_drip_reply_during_send() {
    let total = Duration::from_millis(600);
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect(&mail_line()),
            Step::SendSlowly {
                bytes: b"250 2.1.0 Ok, one byte every 100 ms, slowly\r\n".to_vec(),
                pause: Duration::from_millis(100),
            },
        ],
    ]));
    let mut timeouts = Timeouts::uniform(Duration::from_secs(3));
    timeouts.total = Some(total);
    let mut client = connect(server.config().with_timeouts(timeouts));
    // The deadline counts per call: connecting did not use up this one.
    std::thread::sleep(total);
    let start = Instant::now();
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert_elapsed_below(start, total + SLACK);
    assert!(start.elapsed() >= total - Duration::from_millis(100));
    assert!(
        matches!(
            &err,
            Error::Timeout {
                phase: Phase::MailFrom,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!client.is_connected());
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines, [ehlo(), mail_line()]);
}

#[test]
fn garbage_reply_mid_session_is_a_protocol_error_and_closes() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![
            expect(&mail_line()),
            reply("250 Ok"),
            expect(&rcpt_line(TO)),
            raw(b"OK, sure\r\n"),
            hangup(),
        ],
    ]));
    let mut client = connect(server.config());
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Protocol {
                phase: Phase::RcptTo,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!client.is_connected());
    assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    // No RSET, no DATA: nothing after a reply that cannot be understood.
    assert_eq!(
        lines_without_final_quit(&cap),
        [ehlo(), mail_line(), rcpt_line(TO)]
    );
}

#[test]
fn total_deadline_timeout_reports_the_total() {
    let total = Duration::from_millis(600);
    let server = ScriptedServer::start(vec![Step::SendSlowly {
        bytes: b"220 mx.test ESMTP at one byte every 100 ms\r\n".to_vec(),
        pause: Duration::from_millis(100),
    }]);
    let mut timeouts = Timeouts::uniform(Duration::from_secs(3));
    timeouts.total = Some(total);
    let err = connect_err(server.config().with_timeouts(timeouts));
    assert!(
        matches!(&err, Error::Timeout { phase: Phase::Greeting, after } if *after == total),
        "{err:?}"
    );
    server.finish();
}

// ----- timeouts -----------------------------------------------------------------------

/// Runs `run` against `script` with every timeout at [`SHORT`]; checks it
/// failed within the timeout plus slack and returns the error.
fn timed_out(
    script: Vec<Step>,
    config: impl FnOnce(Config) -> Config,
    run: impl FnOnce(Config) -> Error,
) -> (Error, Capture) {
    let server = ScriptedServer::start(script);
    let config = config(server.config().with_timeouts(Timeouts::uniform(SHORT)));
    let start = Instant::now();
    let err = run(config);
    assert_elapsed_below(start, SHORT + SLACK);
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
    (err, cap)
}

fn is_timeout(err: &Error, expected: Phase) -> bool {
    matches!(err, Error::Timeout { phase, after } if *phase == expected && *after == SHORT)
}

#[test]
fn mail_never_answered_times_out() {
    let server = ScriptedServer::start(script(vec![
        hello(&[]),
        vec![expect(&mail_line()), hangup()],
    ]));
    let mut client = connect(server.config().with_timeouts(Timeouts::uniform(SHORT)));
    let start = Instant::now();
    let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
    assert_elapsed_below(start, SHORT + SLACK);
    assert!(is_timeout(&err, Phase::MailFrom), "{err:?}");
    assert!(!client.is_connected());
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines, [ehlo(), mail_line()]);
}

#[test]
fn timeout_at_ehlo() {
    let (err, cap) = timed_out(
        vec![smtp_tests::scripted::greeting(), expect("EHLO "), hangup()],
        |c| c,
        connect_err,
    );
    assert!(is_timeout(&err, Phase::Ehlo), "{err:?}");
    assert_eq!(cap.lines, [ehlo()]);
}

#[test]
fn timeout_at_auth() {
    let (err, cap) = timed_out(
        script(vec![
            hello(&["AUTH PLAIN"]),
            vec![expect("AUTH PLAIN"), hangup()],
        ]),
        |c| c.with_password(USER, PASSWORD),
        connect_err,
    );
    assert!(is_timeout(&err, Phase::Auth), "{err:?}");
    assert_eq!(cap.lines.len(), 2, "{:?}", cap.lines);
}

fn send_err(config: Config, to: &[&str]) -> Error {
    let mut client = connect(config);
    let err = client
        .send_bytes(&Envelope::new(FROM, to.iter().copied()).unwrap(), MESSAGE)
        .unwrap_err();
    assert!(!client.is_connected());
    err
}

#[test]
fn timeout_at_rcpt() {
    let (err, cap) = timed_out(
        script(vec![
            hello(&[]),
            vec![
                expect(&mail_line()),
                reply("250 Ok"),
                expect(&rcpt_line(TO)),
                hangup(),
            ],
        ]),
        |c| c,
        |c| send_err(c, &[TO]),
    );
    assert!(is_timeout(&err, Phase::RcptTo), "{err:?}");
    assert_eq!(cap.lines, [ehlo(), mail_line(), rcpt_line(TO)]);
}

#[test]
fn timeout_at_pipelined_rcpt() {
    let (err, cap) = timed_out(
        script(vec![
            hello(&["PIPELINING"]),
            vec![
                expect(&mail_line()),
                expect(&rcpt_line(A)),
                expect(&rcpt_line(B)),
                expect("DATA"),
                replies(&["250 Ok", "250 Ok"]),
                hangup(),
            ],
        ]),
        |c| c,
        |c| send_err(c, &[A, B]),
    );
    assert!(is_timeout(&err, Phase::RcptTo), "{err:?}");
    assert!(cap.bodies.is_empty());
}

#[test]
fn timeout_at_data() {
    let (err, cap) = timed_out(
        script(vec![
            hello(&[]),
            vec![
                expect(&mail_line()),
                reply("250 Ok"),
                expect(&rcpt_line(TO)),
                reply("250 Ok"),
                expect("DATA"),
                hangup(),
            ],
        ]),
        |c| c,
        |c| send_err(c, &[TO]),
    );
    assert!(is_timeout(&err, Phase::Data), "{err:?}");
    let mut lines = vec![ehlo()];
    lines.extend(transaction_lines(&[TO]));
    assert_eq!(cap.lines, lines);
}

#[test]
fn timeout_at_end_of_data_is_delivery_unknown() {
    let (err, cap) = timed_out(
        script(vec![
            hello(&["PIPELINING"]),
            vec![
                expect(&mail_line()),
                expect(&rcpt_line(TO)),
                expect("DATA"),
                replies(&["250 Ok", "250 Ok", "354 go ahead"]),
                Step::ReadData,
                hangup(),
            ],
        ]),
        |c| c,
        |c| send_err(c, &[TO]),
    );
    match &err {
        Error::DeliveryUnknown {
            phase: Phase::EndOfData,
            cause,
        } => assert!(is_timeout(cause, Phase::EndOfData), "{cause:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(cap.bodies, [message_on_wire()]);
}

// ----- the scripted server itself -------------------------------------------------------

#[test]
fn scripted_server_reports_a_mismatch() {
    let server = ScriptedServer::start(vec![
        smtp_tests::scripted::greeting(),
        expect("HELO "),
        reply("250 never sent"),
    ]);
    let err = connect_err(server.config());
    assert!(
        matches!(
            &err,
            Error::Io {
                phase: Phase::Ehlo,
                ..
            }
        ),
        "{err:?}"
    );
    let cap = server.finish();
    assert_eq!(cap.errors.len(), 1, "{:?}", cap.errors);
    assert!(
        cap.errors[0].contains("expected \"HELO \""),
        "{:?}",
        cap.errors
    );
}

#[test]
fn scripted_server_with_tls_runs_starttls() {
    let ca = smtp_tests::scripted::tls::TestCa::new();
    let cert = ca.issue(&["localhost", "127.0.0.1"]);
    let server = ScriptedServer::start_with_tls(
        script(vec![
            hello(&["STARTTLS"]),
            vec![
                expect("STARTTLS"),
                reply("220 2.0.0 go ahead"),
                Step::StartTls,
            ],
            vec![
                expect("EHLO "),
                smtp_tests::scripted::ehlo_reply(&["PIPELINING"]),
            ],
            quit(),
        ]),
        cert.server_config(),
    );
    let config = Config::new("localhost", server.port())
        .with_security(smtp_core::Security::StartTls)
        .with_ca_pem(ca.ca_pem())
        .with_system_roots(false)
        .with_client_name(CLIENT_NAME)
        .with_timeouts(Timeouts::uniform(Duration::from_secs(2)));
    let mut client = connect(config);
    assert!(client.is_encrypted());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let tls = cap.tls.as_ref().expect("TLS was set up");
    assert_eq!(tls.sni.as_deref(), Some("localhost"));
    assert_eq!(
        cap.received_text(),
        wire(&[&ehlo(), "STARTTLS", &ehlo(), "QUIT"])
    );
}

/// Implicit TLS to a scripted server presenting `server_tls`; returns the
/// client's result and the capture.
fn implicit_tls(
    server_tls: Arc<rustls::ServerConfig>,
    config: impl FnOnce(Config) -> Config,
) -> (Result<Client, Error>, Capture) {
    let server = ScriptedServer::start_with_tls(
        script(vec![vec![Step::StartTls], hello(&[]), quit()]),
        server_tls,
    );
    let base = Config::new("localhost", server.port())
        .with_security(smtp_core::Security::Implicit)
        .with_system_roots(false)
        .with_client_name(CLIENT_NAME)
        .with_timeouts(Timeouts::uniform(Duration::from_secs(2)));
    let result = Client::connect(config(base)).map(|mut client| {
        client.quit().unwrap();
        client
    });
    (result, server.finish())
}

#[test]
fn scripted_tls_helpers_make_the_intended_certificates() {
    use smtp_core::TlsErrorKind;
    use smtp_tests::scripted::tls::{self_signed, TestCa};
    let ca = TestCa::new();
    let other_ca = TestCa::new();
    let cases = [
        (ca.issue(&["localhost"]), None),
        (ca.expired(&["localhost"]), Some(TlsErrorKind::Expired)),
        (
            ca.not_yet_valid(&["localhost"]),
            Some(TlsErrorKind::Expired),
        ),
        (
            ca.issue(&["mail.example.test"]),
            Some(TlsErrorKind::NameMismatch),
        ),
        (
            other_ca.issue(&["localhost"]),
            Some(TlsErrorKind::UnknownIssuer),
        ),
        (
            self_signed(&["localhost"]),
            Some(TlsErrorKind::UnknownIssuer),
        ),
    ];
    for (i, (cert, expected)) in cases.into_iter().enumerate() {
        let (result, cap) = implicit_tls(cert.server_config(), |c| c.with_ca_pem(ca.ca_pem()));
        match (result, expected) {
            (Ok(client), None) => {
                assert!(!client.is_connected());
                cap.assert_clean();
                assert_eq!(cap.tls.as_ref().unwrap().sni.as_deref(), Some("localhost"));
            }
            (Err(Error::Tls { kind, .. }), Some(expected)) => {
                assert_eq!(kind, expected, "case {i}");
                assert!(
                    cap.errors[0].starts_with("TLS handshake failed"),
                    "{:?}",
                    cap.errors
                );
                assert!(cap.received.is_empty(), "case {i}: nothing in clear");
            }
            (other, _) => panic!("case {i}: {other:?}"),
        }
    }
    // A client certificate from the CA, required by the server.
    let server_cert = ca.issue(&["localhost"]);
    let client_cert = ca.issue_client("client.test");
    let (result, cap) = implicit_tls(ca.server_config_requiring_client_cert(&server_cert), |c| {
        c.with_ca_pem(ca.ca_pem()).with_client_certificate(
            client_cert.cert_pem.clone().into_bytes(),
            client_cert.key_pem.clone().into_bytes(),
        )
    });
    result.unwrap();
    cap.assert_clean();
    assert_eq!(
        cap.tls.unwrap().client_certificates,
        [client_cert.cert_der.to_vec()]
    );
}

#[test]
fn scripted_server_respond_answers_from_the_line() {
    let server = ScriptedServer::start(vec![
        smtp_tests::scripted::greeting(),
        respond(|line| format!("250 echo {}\r\n", line.to_ascii_lowercase()).into_bytes()),
        expect("QUIT"),
        reply("221 bye"),
        hangup(),
    ]);
    let mut client = connect(server.config());
    assert_eq!(client.capabilities().server_name, "echo");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines, [ehlo(), "QUIT".to_string()]);
}
