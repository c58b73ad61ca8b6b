//! The engine driven by hand: bytes in, bytes out, a clock that only moves
//! when the test says so. No socket anywhere.

use std::time::{Duration, Instant};

use super::*;
use crate::config::PlaintextAuthPolicy;
use crate::Security;

fn config() -> Config {
    Config::new("mx.test", 25)
        .with_security(Security::None)
        .with_client_name("client.test")
        .with_timeouts(crate::Timeouts::uniform(Duration::from_secs(10)))
}

fn peer() -> Peer {
    Peer {
        remote: Some("127.0.0.1:25".parse().unwrap()),
        local: None,
        host_name: None,
    }
}

/// Polls until the engine wants to read or is done; returns what it wrote.
fn written(engine: &mut Engine, now: Instant) -> (String, Option<Outcome>) {
    let mut out = Vec::new();
    for _ in 0..100 {
        match engine.poll(now) {
            Step::Write => {
                let n = engine.with_output(|bytes| {
                    out.extend_from_slice(bytes);
                    bytes.len()
                });
                engine.wrote(n);
            }
            Step::Read => return (String::from_utf8(out).unwrap(), None),
            Step::Body { .. } => engine.body_data(&[]),
            Step::Done(outcome) => return (String::from_utf8(out).unwrap(), Some(outcome)),
            Step::Idle => panic!("idle"),
        }
    }
    panic!("the engine never settled");
}

#[test]
fn a_whole_session_as_bytes() {
    let now = Instant::now();
    let config = config()
        .with_password("user", "pass")
        .with_plaintext_auth_policy(PlaintextAuthPolicy::InsecureAlways);
    let mut engine = Engine::new(config, now).unwrap();
    engine.start_connect(peer(), now).unwrap();
    assert_eq!(written(&mut engine, now).0, "");
    engine.received(b"220 mx.test ESMTP\r\n");
    assert_eq!(written(&mut engine, now).0, "EHLO client.test\r\n");
    engine.received(b"250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n");
    let (auth, _) = written(&mut engine, now);
    assert_eq!(auth, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n");
    // The clear AUTH line does not linger in the output buffer.
    assert_eq!(engine.link.lock().wipes, 1);
    engine.received(b"235 2.7.0 ok\r\n");
    let (_, outcome) = written(&mut engine, now);
    assert!(matches!(outcome, Some(Outcome::Connected(Ok(())))));
    assert_eq!(engine.authenticated_with(), Some(Mechanism::Plain));

    let envelope = Envelope::new("a@x.test", ["b@x.test"]).unwrap();
    engine.start_send(envelope, now).unwrap();
    let mut wire = Vec::new();
    let mut fed = false;
    for _ in 0..10 {
        match engine.poll(now) {
            Step::Body { max, message } => {
                assert_eq!(message, 0);
                assert!(max > 0);
                engine.body_data(if fed { b"" } else { b"Subject: t\n\nHi\n" });
                fed = true;
            }
            Step::Write => {
                let n = engine.with_output(|b| {
                    wire.extend_from_slice(b);
                    b.len()
                });
                engine.wrote(n);
            }
            Step::Read => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"
    );
    engine.received(b"250 ok\r\n250 ok\r\n354 go\r\n");
    let (body, _) = written(&mut engine, now);
    assert_eq!(body, "Subject: t\r\n\r\nHi\r\n.\r\n");
    engine.received(b"250 2.0.0 queued\r\n");
    match written(&mut engine, now).1 {
        Some(Outcome::Sent(Ok(report))) => assert_eq!(report.reply.code(), 250),
        other => panic!("{other:?}"),
    }
}

#[test]
fn time_is_what_the_driver_says() {
    let start = Instant::now();
    let mut engine = Engine::new(config(), start).unwrap();
    engine.start_connect(peer(), start).unwrap();
    assert!(engine.poll(start).is_read());
    let deadline = engine.deadline().expect("the greeting has a deadline");
    assert_eq!(deadline, start + Duration::from_secs(10));
    // Just before: still waiting. At the deadline: a timeout, at once.
    assert!(engine.poll(deadline - Duration::from_millis(1)).is_read());
    match engine.poll(deadline) {
        Step::Done(Outcome::Connected(Err(Error::Timeout { phase, after }))) => {
            assert_eq!(phase, Phase::Greeting);
            assert_eq!(after, Duration::from_secs(10));
        }
        other => panic!("{other:?}"),
    }
    assert!(!engine.is_open());
}

#[test]
fn a_reply_split_anywhere_is_the_same_reply() {
    let now = Instant::now();
    let reply = b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    for cut in 0..reply.len() {
        let mut engine = Engine::new(config(), now).unwrap();
        engine.start_connect(peer(), now).unwrap();
        written(&mut engine, now);
        engine.received(b"220 hi\r\n");
        written(&mut engine, now);
        engine.received(&reply[..cut]);
        engine.poll(now);
        engine.received(&reply[cut..]);
        let (_, outcome) = written(&mut engine, now);
        assert!(
            matches!(outcome, Some(Outcome::Connected(Ok(())))),
            "cut {cut}"
        );
        assert!(engine.capabilities().pipelining && engine.capabilities().eight_bit_mime);
    }
}

#[test]
fn a_flooding_server_is_cut_off() {
    let now = Instant::now();
    let mut engine = Engine::new(config(), now).unwrap();
    engine.start_connect(peer(), now).unwrap();
    written(&mut engine, now);
    // Greeting, then far more replies than anything asked for, in pieces.
    engine.received(b"220 hi\r\n");
    let junk = b"250 ok\r\n".repeat(64 * 1024);
    for _ in 0..20 {
        engine.received(&junk);
    }
    let (_, outcome) = written(&mut engine, now);
    match outcome {
        Some(Outcome::Connected(Err(Error::Protocol { reason, .. }))) => {
            assert!(reason.contains("no command had asked"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(engine.link.lock().input.capacity() < 2 * wire::MAX_UNREAD);
}

impl Step {
    fn is_read(&self) -> bool {
        matches!(self, Step::Read)
    }
}

#[test]
fn a_loopback_proxy_does_not_make_the_server_local() {
    let now = Instant::now();
    // LoopbackOnly is the default: without a proxy, AUTH in clear to
    // 127.0.0.1 is allowed; through a proxy on 127.0.0.1 it is refused.
    for (proxy, allowed) in [("off", true), ("socks5://127.0.0.1:1080", false)] {
        let mut config = config().with_password("user", "pass");
        config.set("proxy", proxy).unwrap();
        let mut engine = Engine::new(config, now).unwrap();
        engine.start_connect(peer(), now).unwrap();
        written(&mut engine, now);
        engine.received(b"220 mx.test ESMTP\r\n");
        written(&mut engine, now);
        engine.received(b"250-mx.test\r\n250 AUTH PLAIN\r\n");
        let (auth, outcome) = written(&mut engine, now);
        if allowed {
            assert!(auth.starts_with("AUTH PLAIN"), "{auth}");
        } else {
            assert!(!auth.contains("AUTH"), "{auth}");
            assert!(
                matches!(
                    outcome,
                    Some(Outcome::Connected(Err(Error::PlaintextAuthRefused { .. })))
                ),
                "{outcome:?}"
            );
        }
    }
}

#[test]
fn through_a_proxy_ehlo_does_not_give_away_the_local_address() {
    let now = Instant::now();
    for (proxy, ehlo) in [
        ("off", "EHLO [10.1.2.3]\r\n"),
        ("http://10.0.0.1:3128", "EHLO [127.0.0.1]\r\n"),
    ] {
        let mut config = Config::new("mx.test", 25).with_security(Security::None);
        config.set("proxy", proxy).unwrap();
        let mut engine = Engine::new(config, now).unwrap();
        let peer = Peer {
            remote: Some("10.0.0.1:3128".parse().unwrap()),
            local: Some("10.1.2.3:40000".parse().unwrap()),
            host_name: None,
        };
        engine.start_connect(peer, now).unwrap();
        written(&mut engine, now);
        engine.received(b"220 mx.test ESMTP\r\n");
        assert_eq!(written(&mut engine, now).0, ehlo);
    }
}
