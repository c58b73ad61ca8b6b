//! Fault injection for AUTH against the scripted server: every mechanism
//! on the wire (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256 against a server
//! that really knows the password, XOAUTH2, OAUTHBEARER), refusals and
//! endless or broken challenges, mechanisms that must not be used, and
//! secrets that must never show. Each test checks the error's class and
//! the exact lines the client sent: nothing after a refusal, no MAIL
//! after a failed AUTH, no credentials where they do not belong.
//!
//! SCRAM against a real server is covered by the Dovecot tests in
//! real_server.rs.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use smtp_core::{
    Config, Credentials, Direction, Error, Mechanism, PlaintextAuthPolicy, MAX_AUTH_ROUNDS,
};
use smtp_tests::fault_tests;
use smtp_tests::scripted::{converse, Answer, Capture, ScriptedServer, Step};
use smtp_tests::support::{
    b64, connect, connect_err, script, steps, wire, Fault, Transcript, EHLO, PASSWORD, USER,
};

const TOKEN: &str = "ya29.a0AfH6SMBx-very-secret-token";

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

fn token_config(server: &ScriptedServer) -> Config {
    server.config().with_bearer_token(USER, TOKEN)
}

/// Connects with `config` to `server`, whose script accepts AUTH with
/// `mechanism`, and QUITs; returns what the server saw.
fn logs_in(config: Config, server: ScriptedServer, mechanism: Mechanism) -> Capture {
    let mut client = connect(config);
    assert_eq!(client.authenticated_with(), Some(mechanism));
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    cap
}

#[test]
fn auth_plain_sends_initial_response() {
    let vectors = sasl_vectors();
    let v = &vectors["plain"][0];
    let ir = v["message_b64"].as_str().unwrap();
    let text = "hello AUTH PLAIN; < AUTH PLAIN ; > 235 2.7.0 Authentication successful; quit";
    let server = ScriptedServer::start(steps(text));
    let config = server.config().with_password(
        v["authcid"].as_str().unwrap(),
        v["password"].as_str().unwrap(),
    );
    let cap = logs_in(config, server, Mechanism::Plain);
    assert_eq!(
        cap.received_text(),
        wire(&[EHLO, &format!("AUTH PLAIN {ir}"), "QUIT"])
    );
}

/// A LOGIN exchange with these two prompts; returns the capture.
fn login_exchange(first_prompt: &[u8], second_prompt: &[u8], transcript: &Transcript) -> Capture {
    let text = format!(
        "hello AUTH LOGIN; < AUTH LOGIN; > 334 {}; any; > 334 {}; any; > 235 2.7.0 Authentication successful; quit",
        b64(first_prompt),
        b64(second_prompt)
    );
    let server = ScriptedServer::start(steps(&text));
    let config = transcript.attach(password_config(&server));
    logs_in(config, server, Mechanism::Login)
}

/// The LOGIN lines with the user name first, or the password first.
fn login_lines(user_first: bool) -> String {
    let (a, b) = if user_first {
        (b64(USER), b64(PASSWORD))
    } else {
        (b64(PASSWORD), b64(USER))
    };
    wire(&[EHLO, "AUTH LOGIN", &a, &b, "QUIT"])
}

#[test]
fn auth_login_answers_prompts_in_reversed_order() {
    let cap = login_exchange(b"Password:", b"Username:", &Transcript::default());
    assert_eq!(cap.received_text(), login_lines(false));
}

#[test]
fn auth_login_reads_lower_case_prompts() {
    // (first prompt, second prompt, whether the user name goes first)
    let cases: [(&[u8], &[u8], bool); 2] = [
        (b"username:", b"password:", true),
        (b"password:", b"user name", false),
    ];
    for (first, second, user_first) in cases {
        let cap = login_exchange(first, second, &Transcript::default());
        let name = String::from_utf8_lossy(first);
        assert_eq!(cap.received_text(), login_lines(user_first), "{name}");
    }
}

#[test]
fn auth_login_unreadable_prompts_fall_back_to_order_with_a_note() {
    let transcript = Transcript::default();
    let cap = login_exchange(b"\x01\x02?", b"Gib:", &transcript);
    assert_eq!(cap.received_text(), login_lines(true));
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
    let text = format!(
        "hello AUTH CRAM-MD5; < AUTH CRAM-MD5; > 334 {}; any; > 235 2.7.0 Authentication successful; quit",
        v["challenge_b64"].as_str().unwrap()
    );
    let server = ScriptedServer::start(steps(&text));
    let config = server
        .config()
        .with_password(v["user"].as_str().unwrap(), v["secret"].as_str().unwrap());
    let cap = logs_in(config, server, Mechanism::CramMd5);
    let response = v["response_b64"].as_str().unwrap();
    assert_eq!(
        cap.received_text(),
        wire(&[EHLO, "AUTH CRAM-MD5", response, "QUIT"])
    );
}

#[test]
fn auth_oauthbearer_on_the_wire() {
    let text = "hello AUTH OAUTHBEARER XOAUTH2; < AUTH OAUTHBEARER ; > 235 2.7.0 Accepted; quit";
    let server = ScriptedServer::start(steps(text));
    let config = token_config(&server);
    let cap = logs_in(config, server, Mechanism::OAuthBearer);
    let message = b64(format!("n,a={USER},\x01auth=Bearer {TOKEN}\x01\x01"));
    assert_eq!(
        cap.received_text(),
        wire(&[EHLO, &format!("AUTH OAUTHBEARER {message}"), "QUIT"])
    );
}

// ----- refusals, table-driven ---------------------------------------------------------

/// An AUTH the server refuses or breaks: the script, the error's class,
/// the lines the server read (a final QUIT tolerated). The client logs in
/// with the password.
fn auth_fails(name: &str, (script, class, sent): (&str, &str, &[&str])) -> Error {
    Fault::new(name, script)
        .config(password_config)
        .fails(class)
        .sends(sent)
        .connect()
        .0
}

fault_tests! { auth_fails;
    auth_prefers_the_strongest_offered_mechanism: (
        "hello AUTH LOGIN PLAIN, AUTH=CRAM-MD5; < AUTH CRAM-MD5; > 535 5.7.8 no; hangup",
        "Auth CramMd5 535",
        &[EHLO, "AUTH CRAM-MD5"],
    ),
}

#[test]
fn auth_challenge_that_is_not_base64_is_cancelled() {
    let err = auth_fails(
        "not base64",
        (
            "hello AUTH LOGIN; < AUTH LOGIN; > 334 this is not base64!; < *; > 501 5.5.2 cancelled; hangup",
            "Auth Login 334",
            &[EHLO, "AUTH LOGIN", "*"],
        ),
    );
    match &err {
        Error::Auth { reason, .. } => assert!(reason.contains("base64"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_535_is_an_auth_error_with_the_server_text_and_nothing_follows() {
    let ir = b64(format!("\0{USER}\0{PASSWORD}"));
    let plain = format!("AUTH PLAIN {ir}");
    let err = auth_fails(
        "AUTH 535",
        (
            "hello AUTH PLAIN, PIPELINING; < AUTH PLAIN ; > 535 5.7.8 Authentication credentials invalid; hangup",
            "Auth Plain 535",
            &[EHLO, &plain],
        ),
    );
    match &err {
        Error::Auth { reply, reason, .. } => {
            let reply = reply.as_ref().expect("a reply");
            assert_eq!(reply.enhanced().unwrap().to_string(), "5.7.8");
            assert_eq!(reason, "Authentication credentials invalid");
            // A refusal by the server has no SASL source.
            assert!(std::error::Error::source(&err).is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
}

#[test]
fn reply_421_during_auth_closes_without_mail() {
    let user = b64(USER);
    auth_fails(
        "AUTH 421",
        (
            "hello AUTH LOGIN; < AUTH LOGIN; > 334 VXNlcm5hbWU6; any; > 421 4.7.0 too many AUTH errors; hangup",
            "Rejected Auth 421",
            &[EHLO, "AUTH LOGIN", &user],
        ),
    );
}

fn xoauth2_message(user: &str, token: &str) -> String {
    b64(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

#[test]
fn auth_xoauth2_error_json_then_535() {
    let json = r#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
    let transcript = Transcript::default();
    let tr = transcript.clone();
    let text = format!(
        "hello AUTH XOAUTH2 PLAIN; < AUTH XOAUTH2 ; > 334 {}; any; > 535 5.7.8 Username and Password not accepted; hangup",
        b64(json)
    );
    let first = format!("AUTH XOAUTH2 {}", xoauth2_message(USER, TOKEN));
    let (err, _) = Fault::new("XOAUTH2 535", &text)
        .config(move |s| tr.attach(token_config(s)))
        .fails("Auth XOAuth2 535")
        .sends(&[EHLO, &first, ""])
        .connect();
    match &err {
        Error::Auth { reason, .. } => assert_eq!(reason, "Username and Password not accepted"),
        other => panic!("{other:?}"),
    }
    // The error JSON is shown in the transcript, the token never.
    let text = transcript.text();
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

// ----- SCRAM against a server that knows the password ----------------------------------

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

/// `hello` offering `offered`, the SCRAM server in `mode`, then `after`.
fn scram_script(offered: &str, mode: ScramServerMode, after: &str) -> Vec<Step> {
    script(vec![
        steps(&format!("hello {offered}")),
        vec![scram_sha256_server(PASSWORD, mode)],
        steps(after),
    ])
}

#[test]
fn auth_scram_sha256_full_exchange_with_verified_server() {
    let transcript = Transcript::default();
    let server = ScriptedServer::start(scram_script(
        "AUTH SCRAM-SHA-256 PLAIN",
        ScramServerMode::Honest,
        "quit",
    ));
    let config = transcript.attach(password_config(&server));
    let cap = logs_in(config, server, Mechanism::ScramSha256);
    assert_eq!(cap.lines.len(), 5, "{:?}", cap.lines);
    assert_eq!(cap.lines[3], "", "empty answer to server-final");
    assert!(transcript.text().contains("server signature verified"));
}

#[test]
fn auth_scram_sha256_wrong_server_signature_is_refused() {
    let script = scram_script(
        "AUTH SCRAM-SHA-256",
        ScramServerMode::WrongSignature,
        "hangup",
    );
    let (err, cap) = Fault::with_steps("wrong signature", script)
        .config(password_config)
        .fails("Auth ScramSha256")
        .closes()
        .connect();
    match &err {
        Error::Auth { reason, source, .. } => {
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
    let lines = smtp_tests::support::lines_without_final_quit(&cap);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[1].starts_with("AUTH SCRAM-SHA-256 "));
    assert_eq!(lines[3], "*", "the exchange is cancelled");
}

#[test]
fn auth_scram_success_without_server_signature_is_refused() {
    let script = scram_script(
        "AUTH SCRAM-SHA-256",
        ScramServerMode::SuccessWithoutSignature,
        "hangup",
    );
    let (err, cap) = Fault::with_steps("no signature", script)
        .config(password_config)
        .fails("Auth ScramSha256 235")
        .closes()
        .connect();
    match &err {
        Error::Auth { reason, .. } => assert!(reason.contains("never proved"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Nothing at all after the unverified success, not even QUIT.
    assert_eq!(cap.lines.len(), 3, "{:?}", cap.lines);
}

// ----- endless challenges ---------------------------------------------------------------

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

/// The endless server offering `mechanism`; the client logs in with
/// `credentials`. Checks the class and that the exchange ends with `*`.
fn endless_334_with(mechanism: &str, credentials: Credentials, class: &str) -> Vec<String> {
    let script = script(vec![
        steps(&format!("hello AUTH {mechanism}")),
        vec![endless_334()],
        steps("hangup"),
    ]);
    let (_, cap) = Fault::with_steps(mechanism, script)
        .config(move |s| s.config().with_credentials(credentials))
        .fails(class)
        .connect();
    let lines = smtp_tests::support::lines_without_final_quit(&cap);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("*"),
        "{mechanism}: {lines:?}"
    );
    lines
}

#[test]
fn auth_endless_334_gives_up_and_cancels() {
    let lines = endless_334_with("LOGIN", Credentials::password(USER, PASSWORD), "Auth Login");
    assert_eq!(lines, [EHLO, "AUTH LOGIN", &b64(USER), &b64(PASSWORD), "*"]);
}

#[test]
fn auth_endless_334_every_mechanism_stops_within_max_rounds() {
    let password = || Credentials::password(USER, PASSWORD);
    let token = || Credentials::bearer_token(USER, TOKEN);
    let cases = [
        ("PLAIN", password(), "Auth Plain"),
        ("LOGIN", password(), "Auth Login"),
        ("CRAM-MD5", password(), "Auth CramMd5"),
        ("SCRAM-SHA-1", password(), "Auth ScramSha1"),
        ("SCRAM-SHA-256", password(), "Auth ScramSha256"),
        ("XOAUTH2", token(), "Auth XOAuth2"),
        ("OAUTHBEARER", token(), "Auth OAuthBearer"),
    ];
    for (mechanism, credentials, class) in cases {
        let lines = endless_334_with(mechanism, credentials, class);
        // EHLO, AUTH, the answers, "*".
        let answers = lines.len() - 3;
        assert!(answers <= MAX_AUTH_ROUNDS, "{mechanism}: {answers} answers");
    }
}

#[test]
fn auth_initial_response_too_long_for_the_line_is_refused_before_auth() {
    let long_token = "t".repeat(20_000);
    let server = ScriptedServer::start(script(vec![
        steps("hello AUTH XOAUTH2"),
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
        steps("hangup"),
    ]));
    let err = connect_err(server.config().with_bearer_token(USER, long_token));
    let cap = server.finish();
    let sent = smtp_tests::support::lines_without_final_quit(&cap);
    match &err {
        // Refused up front: nothing but EHLO went out.
        Error::InvalidInput { .. } => assert_eq!(sent, [EHLO], "{err:?}"),
        // Or the exchange was started and cancelled properly.
        Error::Auth { .. } => assert_eq!(sent, [EHLO, "AUTH XOAUTH2", "*"]),
        other => panic!("{other:?}"),
    }
    cap.assert_clean();
}

// ----- mechanisms that must not be used, table-driven ---------------------------------

/// Connecting to a server offering `offered` (a `hello` list) must fail
/// before any AUTH line, with this class; only EHLO (and QUIT) went out.
fn refused_before_auth(
    name: &str,
    (offered, config, class): (&str, fn(&ScriptedServer) -> Config, &str),
) -> Error {
    Fault::new(name, &format!("hello {offered}; hangup"))
        .config(config)
        .fails(class)
        .sends(&[EHLO])
        .closes()
        .connect()
        .0
}

fault_tests! { refused_before_auth;
    credentials_without_auth_offered_are_not_sent:
        ("PIPELINING, 8BITMIME", password_config, "NoCompatibleAuth"),
    password_with_only_xoauth2_offered_is_not_sent:
        ("AUTH XOAUTH2", password_config, "NoCompatibleAuth XOAUTH2"),
}

#[test]
fn forced_mechanism_not_offered_is_not_used() {
    let err = refused_before_auth(
        "forced CRAM-MD5",
        (
            "AUTH PLAIN LOGIN",
            |s| password_config(s).with_mechanism(Mechanism::CramMd5),
            "NoCompatibleAuth PLAIN LOGIN",
        ),
    );
    match &err {
        Error::NoCompatibleAuth { reason, .. } => {
            assert!(reason.contains("CRAM-MD5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn plaintext_policy_never_refuses_even_on_loopback() {
    let err = refused_before_auth(
        "policy never",
        (
            "AUTH PLAIN LOGIN",
            |s| password_config(s).with_plaintext_auth_policy(PlaintextAuthPolicy::Never),
            "PlaintextAuthRefused",
        ),
    );
    assert!(
        matches!(&err, Error::PlaintextAuthRefused { server } if server.starts_with("127.0.0.1:")),
        "{err:?}"
    );
}

// ----- secrets ---------------------------------------------------------------------------

#[test]
fn transcripts_and_errors_never_contain_secrets() {
    let transcript = Transcript::default();
    let mut errors = Vec::new();
    // (mechanism, script, token instead of password, accepted)
    let sessions: [(&str, Vec<Step>, bool, bool); 5] = [
        (
            "PLAIN",
            steps("hello AUTH PLAIN; < AUTH PLAIN; > 235 2.7.0 ok; quit"),
            false,
            true,
        ),
        (
            "LOGIN",
            steps("hello AUTH LOGIN; < AUTH LOGIN; > 334 VXNlcm5hbWU6; any; > 334 UGFzc3dvcmQ6; any; > 535 5.7.8 nope; hangup"),
            false,
            false,
        ),
        (
            "CRAM-MD5",
            steps("hello AUTH CRAM-MD5; < AUTH CRAM-MD5; > 334 PDEyMzRAbXgudGVzdD4=; any; > 235 2.7.0 ok; quit"),
            false,
            true,
        ),
        (
            "SCRAM",
            scram_script("AUTH SCRAM-SHA-256", ScramServerMode::WrongSignature, "hangup"),
            false,
            false,
        ),
        (
            "XOAUTH2",
            steps("hello AUTH XOAUTH2; < AUTH XOAUTH2; > 334 eyJzdGF0dXMiOiI0MDEifQ==; any; > 535 5.7.8 bad token; hangup"),
            true,
            false,
        ),
    ];
    let mut last_config = None;
    for (name, script, token, accepted) in sessions {
        let server = ScriptedServer::start(script);
        let config = transcript.attach(if token {
            token_config(&server)
        } else {
            password_config(&server)
        });
        if accepted {
            connect(config.clone()).quit().unwrap();
        } else {
            errors.push(connect_err(config.clone()));
        }
        let cap = server.finish();
        assert!(cap.errors.is_empty(), "{name}: {:?}", cap.errors);
        last_config = Some(config);
    }
    let config = last_config.expect("a session ran");

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
