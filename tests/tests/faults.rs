//! Fault injection against the scripted server (tests/src/scripted.rs),
//! curl style, for the session around the mail: the greeting, EHLO and
//! its HELO fallback, reply size limits, NOOP/RSET/QUIT, 421 closings,
//! deadlines and per-phase timeouts, and the scripted server itself.
//! Every test scripts the server (in the language of
//! `smtp_tests::script`), runs the client, and checks both the exact
//! error (its class: variant, phase, reply code) and the exact lines the
//! client sent. AUTH is in faults_auth.rs, MAIL/RCPT/DATA in
//! faults_transaction.rs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_core::{Config, Envelope, Error, Timeouts};
use smtp_tests::driver::Client;
use smtp_tests::fault_tests;
use smtp_tests::scripted::{
    expect, greeting, reply, respond, tls, Capture, ScriptedServer, Step, CLIENT_NAME,
};
use smtp_tests::support::{
    assert_elapsed_below, connect, envelope, on_the_wire, steps, transaction_lines, wire, Fault,
    Transcript, EHLO, FROM, MAIL, PASSWORD, RCPT, SMALL_MESSAGE as MESSAGE, TO, USER,
};

/// The short per-phase timeout of the timeout tests.
const SHORT: Duration = Duration::from_millis(500);
/// Slack allowed over a timeout before the test calls it too slow.
const SLACK: Duration = Duration::from_secs(1);

const A: &str = "a@example.test";
const B: &str = "b@example.test";
const C: &str = "c@example.test";

/// The server's configuration with every timeout at [`SHORT`].
fn short(server: &ScriptedServer) -> Config {
    server.config().with_timeouts(Timeouts::uniform(SHORT))
}

// ----- greeting and EHLO: refusals, table-driven ------------------------------------

/// A connection the server refuses or breaks before any mail: the script,
/// the error's class, the lines the server read (a final QUIT tolerated).
fn refused_at_connect(
    name: &str,
    (script, class, sent): (&str, &str, &[&str]),
) -> (Error, Capture) {
    Fault::new(name, script).fails(class).sends(sent).connect()
}

fault_tests! { refused_at_connect;
    ehlo_421_is_rejected_without_helo:
        ("greeting; ehlo; > 421 4.3.2 shutting down; hangup", "Rejected Ehlo 421", &[EHLO]),
    ehlo_554_is_rejected_without_helo:
        ("greeting; ehlo; > 554 5.7.1 go away; hangup", "Rejected Ehlo 554", &[EHLO]),
}

#[test]
fn greeting_554_is_rejected_and_nothing_is_sent() {
    let (err, _) = Fault::new("greeting 554", "> 554 5.3.2 no service for you; hangup")
        .fails("Rejected Greeting 554")
        .sends_no_command()
        .closes()
        .connect();
    assert_eq!(err.reply().expect("a reply").text(), "no service for you");
}

#[test]
fn greeting_421_is_rejected() {
    let (err, _) = refused_at_connect(
        "greeting 421",
        (
            "> 421 4.3.2 busy, try later; hangup",
            "Rejected Greeting 421",
            &[],
        ),
    );
    assert!(err.is_transient());
}

#[test]
fn multiline_greeting_is_accepted() {
    let server = ScriptedServer::start(steps(
        "> 220-mx.test ESMTP | 220-no UCE | 220 ready; ehlo; ehlo-reply; quit",
    ));
    let mut client = connect(server.config());
    assert_eq!(client.greeting().code(), 220);
    assert_eq!(
        client.greeting().lines(),
        ["mx.test ESMTP", "no UCE", "ready"]
    );
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.received_text(), wire(&[EHLO, "QUIT"]));
}

#[test]
fn garbage_greeting_is_a_protocol_error() {
    Fault::new(
        "garbage greeting",
        r"raw HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n; hangup",
    )
    .fails("Protocol Greeting")
    .sends_nothing()
    .closes()
    .connect();
}

#[test]
fn close_before_greeting_is_an_io_error() {
    let (err, _) = Fault::new("close before greeting", "close")
        .fails("Io Greeting")
        .sends_nothing()
        .connect();
    assert!(err.is_transient());
}

#[test]
fn silent_server_times_out_in_greeting() {
    Fault::new("silent greeting", "hangup")
        .config(short)
        .within(SHORT + SLACK)
        .not_before(SHORT - Duration::from_millis(50))
        .fails("Timeout Greeting 500ms")
        .closes()
        .sends_nothing()
        .connect();
}

fn helo_fallback_then_send(code: &str) {
    let server = ScriptedServer::start(steps(&format!(
        "greeting; ehlo; > {code}; < HELO {CLIENT_NAME}; > 250 mx.test; transaction; quit"
    )));
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
    let mut expected = wire(&[EHLO, &format!("HELO {CLIENT_NAME}"), MAIL, RCPT, "DATA"]);
    expected += std::str::from_utf8(&on_the_wire(MESSAGE)).unwrap();
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

#[test]
fn ehlo_reply_with_mixed_codes_is_a_protocol_error() {
    Fault::new(
        "mixed codes",
        "greeting; ehlo; > 250-mx.test | 251 PIPELINING; hangup",
    )
    .fails("Protocol Ehlo")
    .sends_exactly(&[EHLO])
    .connect();
}

// ----- reply limits ------------------------------------------------------------------

#[test]
fn endless_reply_line_is_a_protocol_error_without_buffering_it() {
    const TOTAL: usize = 64 * 1024 * 1024;
    let flood = Step::Flood {
        prefix: b"220 ".to_vec(),
        fill: b'x',
        total: TOTAL,
    };
    let (err, cap) = Fault::with_steps("endless line", vec![flood])
        .within(Duration::from_secs(5))
        .fails("Protocol Greeting")
        .closes()
        .sends_nothing()
        .connect();
    assert!(
        matches!(&err, Error::Protocol { reason, .. } if reason.contains("longer than")),
        "{err:?}"
    );
    assert!(
        cap.flood_written < TOTAL,
        "the server could write all {TOTAL} bytes: the client kept reading"
    );
}

/// An EHLO reply of `count` lines, the last `250 PIPELINING`, as a script step.
fn ehlo_with_lines(count: usize) -> String {
    let mut lines: Vec<String> = (1..count).map(|i| format!("250-X-EXT{i}")).collect();
    lines.insert(0, "250-mx.test".into());
    lines.truncate(count - 1);
    lines.push("250 PIPELINING".into());
    assert_eq!(lines.len(), count);
    format!("> {}", lines.join(" | "))
}

#[test]
fn reply_with_101_lines_is_a_protocol_error() {
    let script = format!("greeting; ehlo; {}; hangup", ehlo_with_lines(101));
    let (err, _) = Fault::new("101 lines", &script)
        .fails("Protocol Ehlo")
        .sends_exactly(&[EHLO])
        .connect();
    assert!(
        matches!(&err, Error::Protocol { reason, .. } if reason.contains("100")),
        "{err:?}"
    );
}

#[test]
fn reply_with_100_lines_is_accepted() {
    let script = format!("greeting; ehlo; {}; quit", ehlo_with_lines(100));
    let server = ScriptedServer::start(steps(&script));
    let mut client = connect(server.config());
    assert!(client.capabilities().pipelining);
    assert_eq!(client.capabilities().raw.len(), 99);
    client.quit().unwrap();
    server.finish().assert_clean();
}

// ----- session ------------------------------------------------------------------------

#[test]
fn two_messages_on_one_connection() {
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING; pipelined {A}; pipelined {B} {C}; quit"
    )));
    let mut client = connect(server.config());
    client
        .send_bytes(&Envelope::new(FROM, [A]).unwrap(), MESSAGE)
        .unwrap();
    let second: &[u8] = b"Subject: 2\r\n\r\nSecond.\r\n";
    client
        .send_bytes(&Envelope::new(FROM, [B, C]).unwrap(), second)
        .unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE), on_the_wire(second)]);
}

#[test]
fn rset_then_a_good_transaction() {
    let server = ScriptedServer::start(steps("hello; rset; transaction; quit"));
    let mut client = connect(server.config());
    client.reset().unwrap();
    client.send_bytes(&envelope(), MESSAGE).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let mut lines = vec![EHLO.to_string(), "RSET".into()];
    lines.extend(transaction_lines(&[TO]));
    lines.push("QUIT".into());
    assert_eq!(cap.lines, lines, "received: {:?}", cap.received_text());
}

#[test]
fn noop_returns_the_reply() {
    Fault::new(
        "NOOP 421",
        "hello; < NOOP; > 250 2.0.0 Ok; < NOOP; > 421 4.4.2 idle too long; hangup",
    )
    .fails("Rejected Noop 421")
    .sends(&[EHLO, "NOOP", "NOOP"])
    .session(|client| {
        let r = client.noop().unwrap();
        assert_eq!((r.code(), r.text()), (250, "Ok".to_string()));
        let err = client.noop().unwrap_err();
        assert!(!client.is_connected());
        err
    });
}

#[test]
fn server_control_characters_never_reach_the_transcript_or_errors() {
    // Escape sequences (colour, window title), a bare CR and a backspace in
    // the greeting, the EHLO reply and a refusal; tab stays.
    let script = r"> 220 mx.test \x1b[31mESMTP\x1b[0m\rfake\x08
        ehlo
        > 250-mx.test \x1b]0\;owned\x07 | 250 XTEST\tvalue
        mail; > 550 5.7.1 \x1b[2Jno\x1b[0m
        rset; quit";
    let transcript = Transcript::default();
    let tr = transcript.clone();
    let (err, _) = Fault::new("control characters", script)
        .config(move |s| tr.attach(s.config()))
        .fails("Rejected MailFrom 550")
        .session(|client| {
            client
                .send(&envelope(), &mut &b"Subject: x\r\n\r\nx\r\n"[..])
                .expect_err("MAIL is refused")
        });
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
    let server = ScriptedServer::start(steps("hello; quit"));
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
    assert_eq!(cap.received_text(), wire(&[EHLO, "QUIT"]));
}

/// The client after a fatal reply: not connected, and every call says so.
fn assert_closed(client: &mut Client) {
    assert!(!client.is_connected());
    assert!(matches!(
        client.send_bytes(&envelope(), MESSAGE),
        Err(Error::NotConnected(_))
    ));
    assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
}

/// A 421 to MAIL (or to the pipelined envelope): closed, in particular
/// without RSET. The script and the lines the server read.
fn mail_421(name: &str, (script, sent): (&str, &[&str])) {
    let (err, _) = Fault::new(name, script)
        .fails("Rejected MailFrom 421")
        .sends(sent)
        .session(|client| {
            let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
            assert_closed(client);
            err
        });
    assert!(err.is_transient(), "{name}");
}

fault_tests! { mail_421;
    reply_421_to_mail_closes_without_rset:
        ("hello; mail; > 421 4.7.0 too many errors, closing; hangup", &[EHLO, MAIL]),
    reply_421_to_pipelined_mail_closes_without_rset: (
        "hello PIPELINING; mail; rcpt; < DATA; > 421 4.7.0 too many errors, closing; hangup",
        &[EHLO, MAIL, RCPT, "DATA"],
    ),
}

/// The greeting at one byte every 100 ms.
const SLOW_GREETING: &str = "220 mx.test ESMTP at one byte every 100 ms\r\n";

/// Every timeout 3 s, and a total deadline of 600 ms.
fn total_600ms(server: &ScriptedServer) -> Config {
    let mut timeouts = Timeouts::uniform(Duration::from_secs(3));
    timeouts.total = Some(Duration::from_millis(600));
    server.config().with_timeouts(timeouts)
}

fn slow_drip(bytes: &str) -> Step {
    Step::SendSlowly {
        bytes: bytes.as_bytes().to_vec(),
        pause: Duration::from_millis(100),
    }
}

#[test]
fn total_deadline_cuts_a_slow_drip_greeting() {
    Fault::with_steps("slow greeting", vec![slow_drip(SLOW_GREETING)])
        .config(total_600ms)
        .within(Duration::from_millis(600) + SLACK)
        .fails("Timeout Greeting 600ms")
        .closes()
        .connect();
}

#[test]
fn total_deadline_cuts_a_slow_drip_reply_during_send() {
    let total = Duration::from_millis(600);
    let mut script = steps("hello; mail");
    script.push(slow_drip("250 2.1.0 Ok, one byte every 100 ms, slowly\r\n"));
    Fault::with_steps("slow MAIL reply", script)
        .config(total_600ms)
        .fails("Timeout MailFrom 600ms")
        .sends_exactly(&[EHLO, MAIL])
        .session(|client| {
            // The deadline counts per call: connecting did not use up this one.
            std::thread::sleep(total);
            let start = Instant::now();
            let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
            assert_elapsed_below(start, total + SLACK);
            assert!(start.elapsed() >= total - Duration::from_millis(100));
            assert!(!client.is_connected());
            err
        });
}

#[test]
fn garbage_reply_mid_session_is_a_protocol_error_and_closes() {
    // No RSET, no DATA: nothing after a reply that cannot be understood.
    Fault::new(
        "garbage RCPT reply",
        r"hello; mail; > 250 Ok; rcpt; raw OK, sure\r\n; hangup",
    )
    .fails("Protocol RcptTo")
    .sends(&[EHLO, MAIL, RCPT])
    .session(|client| {
        let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
        assert!(!client.is_connected());
        assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
        err
    });
}

#[test]
fn total_deadline_timeout_reports_the_total() {
    Fault::with_steps("total reported", vec![slow_drip(SLOW_GREETING)])
        .config(total_600ms)
        .fails("Timeout Greeting 600ms")
        .unclean()
        .connect();
}

// ----- timeouts, table-driven ---------------------------------------------------------

/// A server that stops answering: the script, the recipients, the error's
/// class and the lines the server read (`None`: not checked). Every
/// timeout is [`SHORT`]; the client must give up within it (plus slack),
/// close, and (after a send) say it is not connected.
type Stall<'a> = (&'a str, &'a [&'a str], &'a str, Option<&'a [&'a str]>);

fn times_out(name: &str, (script, to, class, sent): Stall) -> Capture {
    let mut fault = Fault::new(name, script)
        .config(short)
        .within(SHORT + SLACK)
        .closes()
        .fails(class);
    if let Some(sent) = sent {
        fault = fault.sends_exactly(sent);
    }
    let (_, cap) = if to.is_empty() {
        fault.connect()
    } else {
        fault.session(|client| {
            let env = Envelope::new(FROM, to.iter().copied()).unwrap();
            let err = client.send_bytes(&env, MESSAGE).unwrap_err();
            assert!(!client.is_connected(), "{name}");
            err
        })
    };
    cap
}

fault_tests! { times_out;
    mail_never_answered_times_out:
        ("hello; mail; hangup", &[TO], "Timeout MailFrom 500ms", Some(&[EHLO, MAIL])),
    timeout_at_ehlo: ("greeting; ehlo; hangup", &[], "Timeout Ehlo 500ms", Some(&[EHLO])),
    timeout_at_rcpt: (
        "hello; mail; > 250 Ok; rcpt; hangup",
        &[TO],
        "Timeout RcptTo 500ms",
        Some(&[EHLO, MAIL, RCPT]),
    ),
    timeout_at_data: (
        "hello; mail; > 250 Ok; rcpt; > 250 Ok; < DATA; hangup",
        &[TO],
        "Timeout Data 500ms",
        Some(&[EHLO, MAIL, RCPT, "DATA"]),
    ),
}

#[test]
fn timeout_at_auth() {
    let (_, cap) = Fault::new("timeout at AUTH", "hello AUTH PLAIN; < AUTH PLAIN; hangup")
        .config(|s| short(s).with_password(USER, PASSWORD))
        .within(SHORT + SLACK)
        .closes()
        .fails("Timeout Auth 500ms")
        .connect();
    assert_eq!(cap.lines.len(), 2, "{:?}", cap.lines);
}

#[test]
fn timeout_at_pipelined_rcpt() {
    let script =
        format!("hello PIPELINING; mail; rcpt {A}; rcpt {B}; < DATA; > 250 Ok | 250 Ok; hangup");
    let cap = times_out(
        "timeout at pipelined RCPT",
        (&script, &[A, B], "Timeout RcptTo 500ms", None),
    );
    assert!(cap.bodies.is_empty());
}

#[test]
fn timeout_at_end_of_data_is_delivery_unknown() {
    let cap = times_out(
        "timeout at the final dot",
        (
            "hello PIPELINING; mail; rcpt; < DATA; > 250 Ok | 250 Ok | 354 go ahead; body; hangup",
            &[TO],
            "DeliveryUnknown EndOfData (Timeout EndOfData 500ms)",
            None,
        ),
    );
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE)]);
}

// ----- the scripted server itself -------------------------------------------------------

#[test]
fn scripted_server_reports_a_mismatch() {
    let script = vec![greeting(), expect("HELO "), reply("250 never sent")];
    let (_, cap) = Fault::with_steps("mismatch", script)
        .fails("Io Ehlo")
        .unclean()
        .connect();
    assert_eq!(cap.errors.len(), 1, "{:?}", cap.errors);
    assert!(
        cap.errors[0].contains("expected \"HELO \""),
        "{:?}",
        cap.errors
    );
}

/// A client configuration for a TLS server reached as `localhost`.
fn localhost(server: &ScriptedServer, security: smtp_core::Security) -> Config {
    Config::new("localhost", server.port())
        .with_security(security)
        .with_system_roots(false)
        .with_client_name(CLIENT_NAME)
        .with_timeouts(Timeouts::uniform(Duration::from_secs(2)))
}

#[test]
fn scripted_server_with_tls_runs_starttls() {
    let ca = tls::TestCa::new();
    let cert = ca.issue(&["localhost", "127.0.0.1"]);
    let server = ScriptedServer::start_with_tls(
        steps("hello STARTTLS; < STARTTLS; > 220 2.0.0 go ahead; starttls; ehlo; ehlo-reply PIPELINING; quit"),
        cert.server_config(),
    );
    let config = localhost(&server, smtp_core::Security::StartTls).with_ca_pem(ca.ca_pem());
    let mut client = connect(config);
    assert!(client.is_encrypted());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let tls = cap.tls.as_ref().expect("TLS was set up");
    assert_eq!(tls.sni.as_deref(), Some("localhost"));
    assert_eq!(cap.received_text(), wire(&[EHLO, "STARTTLS", EHLO, "QUIT"]));
}

/// Implicit TLS to a scripted server presenting `server_tls`; returns the
/// client's result and the capture.
fn implicit_tls(
    server_tls: Arc<rustls::ServerConfig>,
    config: impl FnOnce(Config) -> Config,
) -> (Result<Client, Error>, Capture) {
    let server = ScriptedServer::start_with_tls(steps("starttls; hello; quit"), server_tls);
    let base = localhost(&server, smtp_core::Security::Implicit);
    let result = Client::connect(config(base)).map(|mut client| {
        client.quit().unwrap();
        client
    });
    (result, server.finish())
}

#[test]
fn scripted_tls_helpers_make_the_intended_certificates() {
    use smtp_core::TlsErrorKind;
    use tls::{self_signed, TestCa};
    let ca = TestCa::new();
    let other_ca = TestCa::new();
    let cases = [
        ("issued", ca.issue(&["localhost"]), None),
        (
            "expired",
            ca.expired(&["localhost"]),
            Some(TlsErrorKind::Expired),
        ),
        (
            "not yet valid",
            ca.not_yet_valid(&["localhost"]),
            Some(TlsErrorKind::Expired),
        ),
        (
            "other name",
            ca.issue(&["mail.example.test"]),
            Some(TlsErrorKind::NameMismatch),
        ),
        (
            "other CA",
            other_ca.issue(&["localhost"]),
            Some(TlsErrorKind::UnknownIssuer),
        ),
        (
            "self-signed",
            self_signed(&["localhost"]),
            Some(TlsErrorKind::UnknownIssuer),
        ),
    ];
    for (name, cert, expected) in cases {
        let (result, cap) = implicit_tls(cert.server_config(), |c| c.with_ca_pem(ca.ca_pem()));
        match (result, expected) {
            (Ok(client), None) => {
                assert!(!client.is_connected(), "{name}");
                cap.assert_clean();
                assert_eq!(cap.tls.as_ref().unwrap().sni.as_deref(), Some("localhost"));
            }
            (Err(Error::Tls { kind, .. }), Some(expected)) => {
                assert_eq!(kind, expected, "{name}");
                assert!(
                    cap.errors[0].starts_with("TLS handshake failed"),
                    "{name}: {:?}",
                    cap.errors
                );
                assert!(cap.received.is_empty(), "{name}: nothing in clear");
            }
            (other, _) => panic!("{name}: {other:?}"),
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
    let mut script = steps("greeting");
    script.push(respond(|line| {
        format!("250 echo {}\r\n", line.to_ascii_lowercase()).into_bytes()
    }));
    script.extend(steps("quit"));
    let server = ScriptedServer::start(script);
    let mut client = connect(server.config());
    assert_eq!(client.capabilities().server_name, "echo");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines, [EHLO, "QUIT"]);
}
