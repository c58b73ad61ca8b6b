//! Real mail through a real Postfix + Dovecot on loopback (see
//! tests/testbed/). Every test compares what was delivered to the Maildir
//! with what was sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_core::{
    Config, Direction, Envelope, Error, Mechanism, PlaintextAuthPolicy, RecipientPolicy, Security,
    TlsErrorKind,
};
use smtp_tests::driver::Client;
use smtp_tests::skip::skipped;
use smtp_tests::testbed::TestBed;

const WAIT: Duration = Duration::from_secs(10);

macro_rules! bed {
    () => {
        match TestBed::get() {
            Some(bed) => bed,
            None => {
                eprintln!(
                    "SMTP_TESTBED_ENV not set: real-server test skipped (run tests/test-all.sh)"
                );
                return;
            }
        }
    };
}

/// Plaintext on loopback, authenticated (the plain port relays only for
/// authenticated clients).
fn plain_config(bed: &TestBed) -> Config {
    Config::new(bed.host.clone(), bed.port_plain)
        .with_security(Security::None)
        .with_password(bed.user.clone(), bed.password.clone())
        .with_client_name("client.example.test")
        .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(20)))
}

fn tls_config(bed: &TestBed, port: u16, security: Security) -> Config {
    Config::new("localhost", port)
        .with_security(security)
        .with_ca_file(&bed.ca_file)
        .with_system_roots(false)
        .with_client_name("client.example.test")
        .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(20)))
}

fn addr(bed: &TestBed, local: &str) -> String {
    format!("{local}@{}", bed.domain)
}

/// A message with the marker in its Subject, CRLF line endings.
fn message(bed: &TestBed, marker: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <{}>\r\nTo: <{}>\r\nSubject: {marker}\r\nMessage-ID: <{marker}@example.test>\r\n\r\n{body}",
        addr(bed, "sender"),
        addr(bed, "rcpt")
    )
    .into_bytes()
}

/// What the Maildir should hold for `sent`: line breaks as LF (Postfix
/// stores LF), and a final line break.
fn as_stored(sent: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sent.len());
    let mut i = 0;
    while i < sent.len() {
        match sent[i] {
            b'\r' if sent.get(i + 1) == Some(&b'\n') => {
                out.push(b'\n');
                i += 2;
                continue;
            }
            b'\r' => out.push(b'\n'),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

fn assert_delivered(bed: &TestBed, marker: &str, sent: &[u8], envelope_from: &str) {
    let raw = bed
        .wait_for_message(marker, WAIT)
        .unwrap_or_else(|e| panic!("message {marker} not delivered: {e}"));
    let delivered = TestBed::parse_delivered(&raw);
    let got = as_stored(&delivered.as_sent);
    let want = as_stored(sent);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "delivered bytes differ from sent bytes"
    );
    assert_eq!(got, want);
    assert_eq!(delivered.envelope_from.as_deref(), Some(envelope_from));
}

fn send_one(bed: &TestBed, config: Config, marker: &str) -> Client {
    let mut client = Client::connect(config).expect("connect");
    let envelope = Envelope::new(addr(bed, "sender"), [addr(bed, "rcpt")]).unwrap();
    let msg = message(bed, marker, "Hello.\r\n.leading dot\r\nbye\r\n");
    let report = client.send_bytes(&envelope, &msg).expect("send");
    assert!(report.all_accepted());
    assert_eq!(report.reply.code(), 250);
    assert_delivered(bed, marker, &msg, &addr(bed, "sender"));
    client
}

#[test]
fn every_mechanism_over_plaintext_loopback() {
    let bed = bed!();
    for mechanism in [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::ScramSha1,
        Mechanism::ScramSha256,
    ] {
        let marker = TestBed::unique_marker(&format!("plain-{}", mechanism.name()));
        let config = plain_config(bed)
            .with_password(bed.user.clone(), bed.password.clone())
            .with_mechanism(mechanism);
        let mut client = send_one(bed, config, &marker);
        assert_eq!(client.authenticated_with(), Some(mechanism));
        assert!(!client.is_encrypted());
        client.quit().unwrap();
    }
}

#[test]
fn strongest_mechanism_is_chosen() {
    let bed = bed!();
    let config = plain_config(bed).with_password(bed.user.clone(), bed.password.clone());
    let client = Client::connect(config).unwrap();
    assert_eq!(client.authenticated_with(), Some(Mechanism::ScramSha256));
    let caps = client.capabilities();
    for m in ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"] {
        assert!(caps.offers_auth(m), "{m} not offered: {:?}", caps.auth);
    }
    assert!(caps.pipelining && caps.eight_bit_mime && caps.smtputf8 && caps.chunking);
}

#[test]
fn every_mechanism_over_starttls_and_implicit_tls() {
    let bed = bed!();
    for (port, security) in [
        (bed.port_submission, Security::StartTls),
        (bed.port_smtps, Security::Implicit),
    ] {
        for mechanism in [
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::ScramSha1,
            Mechanism::ScramSha256,
        ] {
            let marker = TestBed::unique_marker(&format!("tls-{port}-{}", mechanism.name()));
            let config = tls_config(bed, port, security)
                .with_password(bed.user.clone(), bed.password.clone())
                .with_mechanism(mechanism);
            let mut client = send_one(bed, config, &marker);
            assert!(client.is_encrypted());
            let info = client.tls_info().unwrap();
            assert!(info.version.starts_with("TLS"), "{info:?}");
            assert!(!info.peer_certificates.is_empty());
            client.quit().unwrap();
        }
    }
}

#[test]
fn wrong_password_is_an_auth_error_with_server_text() {
    let bed = bed!();
    for mechanism in [Mechanism::Plain, Mechanism::Login, Mechanism::ScramSha256] {
        let config = plain_config(bed)
            .with_password(bed.user.clone(), "not the password")
            .with_mechanism(mechanism);
        match Client::connect(config) {
            Err(Error::Auth {
                mechanism: m,
                reply: Some(reply),
                reason,
                ..
            }) => {
                assert_eq!(m, mechanism);
                assert_eq!(reply.code(), 535, "{reply}");
                assert!(!reason.is_empty());
            }
            other => panic!("{mechanism}: expected Auth error, got {other:?}"),
        }
    }
}

#[test]
fn auth_only_after_tls_on_submission_port() {
    let bed = bed!();
    // Without TLS the submission port offers no AUTH: the client must not
    // send the message unauthenticated.
    let config = Config::new(bed.host.clone(), bed.port_submission)
        .with_security(Security::None)
        .with_password(bed.user.clone(), bed.password.clone());
    match Client::connect(config) {
        Err(Error::NoCompatibleAuth { offered, .. }) => assert!(offered.is_empty()),
        other => panic!("expected NoCompatibleAuth, got {other:?}"),
    }
}

#[test]
fn credentials_but_no_auth_offered() {
    let bed = bed!();
    let config = Config::new(bed.host.clone(), bed.port_noauth)
        .with_security(Security::None)
        .with_password(bed.user.clone(), bed.password.clone());
    assert!(matches!(
        Client::connect(config),
        Err(Error::NoCompatibleAuth { .. })
    ));
}

#[test]
fn starttls_required_but_not_offered() {
    let bed = bed!();
    let config = Config::new(bed.host.clone(), bed.port_plain).with_security(Security::StartTls);
    match Client::connect(config) {
        Err(Error::Tls { kind, .. }) => assert_eq!(kind, TlsErrorKind::NotOffered),
        other => panic!("expected Tls NotOffered, got {other:?}"),
    }
}

#[test]
fn untrusted_certificate_is_refused() {
    let bed = bed!();
    for (port, security) in [
        (bed.port_submission, Security::StartTls),
        (bed.port_smtps, Security::Implicit),
    ] {
        let config = Config::new("localhost", port)
            .with_security(security)
            .with_password(bed.user.clone(), bed.password.clone());
        match Client::connect(config) {
            Err(Error::Tls { kind, .. }) => assert_eq!(kind, TlsErrorKind::UnknownIssuer),
            other => panic!("expected Tls UnknownIssuer, got {other:?}"),
        }
    }
}

#[test]
fn plaintext_policy_never_refuses_loopback_auth() {
    let bed = bed!();
    let config = plain_config(bed)
        .with_password(bed.user.clone(), bed.password.clone())
        .with_plaintext_auth_policy(PlaintextAuthPolicy::Never);
    assert!(matches!(
        Client::connect(config),
        Err(Error::PlaintextAuthRefused { .. })
    ));
}

#[test]
fn per_recipient_results() {
    let bed = bed!();
    let marker = TestBed::unique_marker("rcpts");
    let config = plain_config(bed).with_password(bed.user.clone(), bed.password.clone());
    let mut client = Client::connect(config).unwrap();
    let to = [
        addr(bed, "first"),
        addr(bed, "reject-me"),
        addr(bed, "tempfail-me"),
        addr(bed, "second"),
    ];
    let envelope = Envelope::new(addr(bed, "sender"), to.clone()).unwrap();
    let msg = message(bed, &marker, "to some\r\n");
    let report = client.send_bytes(&envelope, &msg).unwrap();
    let codes: Vec<u16> = report.recipients.iter().map(|r| r.reply.code()).collect();
    assert_eq!(codes, [250, 550, 450, 250]);
    assert_eq!(report.recipients[1].address, to[1]);
    assert_eq!(report.refused().count(), 2);
    assert!(report.recipients[1].reply.enhanced().is_some());
    let delivered = bed.wait_for_messages(&marker, 2, WAIT).unwrap();
    assert_eq!(delivered.len(), 2);

    // All or nothing: nothing is sent, the session stays usable.
    let strict = plain_config(bed)
        .with_password(bed.user.clone(), bed.password.clone())
        .with_recipient_policy(RecipientPolicy::AllOrNothing);
    let mut client = Client::connect(strict).unwrap();
    let marker2 = TestBed::unique_marker("all-or-nothing");
    let err = client
        .send_bytes(&envelope, &message(bed, &marker2, "x\r\n"))
        .unwrap_err();
    match err {
        Error::RecipientsRefused { refused } => assert_eq!(refused.len(), 2),
        other => panic!("expected RecipientsRefused, got {other:?}"),
    }
    let marker3 = TestBed::unique_marker("after-refusal");
    let ok = Envelope::new(addr(bed, "sender"), [addr(bed, "rcpt")]).unwrap();
    let msg3 = message(bed, &marker3, "ok\r\n");
    client.send_bytes(&ok, &msg3).unwrap();
    assert_delivered(bed, &marker3, &msg3, &addr(bed, "sender"));
    assert!(bed
        .wait_for_message(&marker2, Duration::from_millis(500))
        .is_err());
}

#[test]
fn every_recipient_refused() {
    let bed = bed!();
    let mut client = Client::connect(plain_config(bed)).unwrap();
    let envelope = Envelope::new(
        addr(bed, "sender"),
        [addr(bed, "reject-a"), addr(bed, "reject-b")],
    )
    .unwrap();
    match client.send_bytes(&envelope, b"Subject: x\r\n\r\nx\r\n") {
        Err(Error::RecipientsRefused { refused }) => {
            assert_eq!(refused.len(), 2);
            assert!(refused.iter().all(|r| r.reply.code() == 550));
        }
        other => panic!("expected RecipientsRefused, got {other:?}"),
    }
    client.noop().unwrap();
}

#[test]
fn many_messages_on_one_connection_with_and_without_pipelining() {
    let bed = bed!();
    for pipelining in [true, false] {
        let config = plain_config(bed)
            .with_password(bed.user.clone(), bed.password.clone())
            .with_pipelining(pipelining);
        let mut client = Client::connect(config).unwrap();
        let marker = TestBed::unique_marker(&format!("many-{pipelining}"));
        let envelope = Envelope::new(addr(bed, "sender"), [addr(bed, "rcpt")]).unwrap();
        for i in 0..5 {
            let msg = message(bed, &format!("{marker}-{i}"), &format!("message {i}\r\n"));
            client.send_bytes(&envelope, &msg).unwrap();
        }
        client.noop().unwrap();
        client.reset().unwrap();
        client.quit().unwrap();
        assert_eq!(bed.wait_for_messages(&marker, 5, WAIT).unwrap().len(), 5);
        assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
    }
}

#[test]
fn dot_stuffing_and_line_endings_survive() {
    let bed = bed!();
    let data: serde_json::Value =
        serde_json::from_str(include_str!("../../smtp-core/testdata/data-encoding.json")).unwrap();
    // DATA with dot-stuffing, and BDAT (CHUNKING) without it.
    for chunking in [false, true] {
        let mut client = Client::connect(plain_config(bed).with_chunking(chunking)).unwrap();
        let envelope = Envelope::new(addr(bed, "sender"), [addr(bed, "rcpt")]).unwrap();
        for (i, case) in data["cases"].as_array().unwrap().iter().enumerate() {
            let body = case["body"].as_str().unwrap();
            let marker = TestBed::unique_marker(&format!("dots-{chunking}-{i}"));
            let msg = message(bed, &marker, body);
            client.send_bytes(&envelope, &msg).unwrap();
            assert_delivered(bed, &marker, &msg, &addr(bed, "sender"));
        }
    }
}

#[test]
fn null_sender_eight_bit_and_smtputf8() {
    let bed = bed!();
    let mut client = Client::connect(plain_config(bed)).unwrap();
    let marker = TestBed::unique_marker("bounce");
    let envelope = Envelope::new("", [addr(bed, "rcpt")]).unwrap();
    let msg = message(bed, &marker, "null sender\r\n");
    client.send_bytes(&envelope, &msg).unwrap();
    let raw = bed.wait_for_message(&marker, WAIT).unwrap();
    assert_eq!(
        TestBed::parse_delivered(&raw).envelope_from.as_deref(),
        Some("")
    );

    let marker = TestBed::unique_marker("utf8");
    let envelope = Envelope::new(addr(bed, "sender"), [addr(bed, "用户")]).unwrap();
    let msg = message(bed, &marker, "Grüße, 你好\r\n");
    client.send_bytes(&envelope, &msg).unwrap();
    assert_delivered(bed, &marker, &msg, &addr(bed, "sender"));
}

#[test]
fn large_streamed_body() {
    let bed = bed!();
    for chunking in [false, true] {
        large_body(bed, chunking);
    }
}

fn large_body(bed: &TestBed, chunking: bool) {
    let mut client = Client::connect(plain_config(bed).with_chunking(chunking)).unwrap();
    let marker = TestBed::unique_marker(&format!("large-{chunking}"));
    let mut msg = message(bed, &marker, "");
    let line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;\r\n";
    while msg.len() < 8 * 1024 * 1024 {
        msg.extend_from_slice(line);
    }
    let envelope = Envelope::new(addr(bed, "sender"), [addr(bed, "rcpt")])
        .unwrap()
        .with_size(msg.len() as u64);
    client.send(&envelope, &mut msg.as_slice()).unwrap();
    assert_delivered(bed, &marker, &msg, &addr(bed, "sender"));
}

#[test]
fn url_configuration_and_transcript_hides_secrets() {
    let bed = bed!();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    let url = format!(
        "smtp://{}:{}@{}:{}?security=none&auth=plain",
        enc(&bed.user),
        enc(&bed.password),
        bed.host,
        bed.port_plain
    );
    let config = Config::from_url(&url)
        .unwrap()
        .with_transcript(move |dir, line| sink.lock().unwrap().push(format!("{dir} {line}")));
    let marker = TestBed::unique_marker("url");
    let mut client = send_one(bed, config, &marker);
    client.quit().unwrap();
    let lines = lines.lock().unwrap();
    let all = lines.join("\n");
    assert!(all.contains("AUTH PLAIN [credentials hidden]"), "{all}");
    assert!(all.contains("C: MAIL FROM:<"), "{all}");
    assert!(all.contains("S: 235"), "{all}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let plain = b64.encode(format!("\0{}\0{}", bed.user, bed.password));
    assert!(!all.contains(&bed.password));
    assert!(!all.contains(&plain));
    assert!(!all.contains(&b64.encode(&bed.password)));
    let _ = Direction::Info;
}

#[test]
fn ipv6_loopback() {
    let bed = bed!();
    let Some(port) = bed.port_ipv6 else {
        return skipped("the test bed has no IPv6 loopback port (no ::1 on this machine)");
    };
    let config = Config::new("::1", port)
        .with_security(Security::None)
        .with_password(bed.user.clone(), bed.password.clone());
    let marker = TestBed::unique_marker("ipv6");
    send_one(bed, config, &marker).quit().unwrap();
}

#[test]
fn wrong_host_name_is_refused() {
    let bed = bed!();
    for (port, security) in [
        (bed.port_submission, Security::StartTls),
        (bed.port_smtps, Security::Implicit),
    ] {
        // The certificate names localhost, 127.0.0.1 and ::1; checking it
        // for another name must fail even though the CA is trusted.
        let config = tls_config(bed, port, security)
            .with_tls_server_name("mail.wrong.example")
            .with_password(bed.user.clone(), bed.password.clone());
        match Client::connect(config) {
            Err(Error::Tls { kind, .. }) => assert_eq!(kind, TlsErrorKind::NameMismatch),
            other => panic!("expected Tls NameMismatch, got {other:?}"),
        }
    }
}

#[test]
fn connecting_by_ip_checks_the_ip_in_the_certificate() {
    let bed = bed!();
    let config = tls_config(bed, bed.port_submission, Security::StartTls);
    let config = Config::new("127.0.0.1", config.port())
        .with_security(Security::StartTls)
        .with_ca_file(&bed.ca_file)
        .with_system_roots(false)
        .with_password(bed.user.clone(), bed.password.clone());
    let marker = TestBed::unique_marker("by-ip");
    let mut client = send_one(bed, config, &marker);
    assert!(client.is_encrypted());
    client.quit().unwrap();
}

/// Not a timed assertion: prints the median STARTTLS and implicit-TLS
/// connect times against the local Postfix, for the record.
#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn handshake_time_report() {
    let bed = bed!();
    for (port, security) in [
        (bed.port_submission, Security::StartTls),
        (bed.port_smtps, Security::Implicit),
        (bed.port_plain, Security::None),
    ] {
        let mut times = Vec::new();
        for _ in 0..21 {
            let config = tls_config(bed, port, security);
            let started = std::time::Instant::now();
            let mut client = Client::connect(config).unwrap();
            times.push(started.elapsed());
            client.quit().unwrap();
        }
        times.sort();
        println!(
            "{security:?} on port {port}: median connect (greeting + EHLO + TLS) {:?}, min {:?}, max {:?}",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
}
