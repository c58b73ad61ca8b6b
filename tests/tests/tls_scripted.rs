//! TLS against the scripted server (tests/src/scripted.rs), the upgrade
//! and the policies: STARTTLS, data injected after the `220` to STARTTLS,
//! STARTTLS missing or refused, connections dropped or stalled during the
//! handshake, and the policies that keep credentials off plaintext
//! connections. Certificates, implicit TLS, TLS versions and client
//! certificates are in `tls_certificates.rs`; the helpers both share in
//! `smtp_tests::tls_support`.
//!
//! Every failure test checks the exact error (variant, phase, TLS kind)
//! and the bytes the client put on the wire: whenever TLS did not come up,
//! no `AUTH` line and no form of the password (clear or base64) may be in
//! what the server received.
//!
//! One test is opt-in (ignored, so a plain run reports it skipped):
//! `plaintext_credentials_refused_to_a_non_loopback_peer_in_a_netns`
//! needs root and `ip netns`, and `SMTP_TEST_NETNS=1` to say so (without
//! it, running the test fails): it reruns this binary in a fresh network
//! namespace where the server has a non-loopback address, and checks that
//! the default policy refuses to send credentials there in clear (the
//! namespace half, `netns_child_default_policy_refuses_plaintext_credentials`,
//! is ignored too and runs only there). `tests/test-all.sh` runs it when
//! it runs as root: `SMTP_TEST_NETNS=1 cargo test -p smtp-tests --test
//! tls_scripted -- --ignored --exact
//! plaintext_credentials_refused_to_a_non_loopback_peer_in_a_netns`.

use std::env;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, TcpListener};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use smtp_core::{
    Config, Error, Mechanism, Phase, PlaintextAuthPolicy, Security, Timeouts, TlsErrorKind,
};
use smtp_tests::scripted::tls;
use smtp_tests::scripted::{Capture, ScriptedServer, Step, CLIENT_NAME};
use smtp_tests::skip::skipped;
use smtp_tests::support::{
    connect, connect_err, envelope, lines_without_final_quit, on_the_wire, steps, wire, Fault,
    Session, EHLO, PASSWORD, RCPT, USER,
};
use smtp_tests::tls_support::*;

// ----- 1. STARTTLS happy path ------------------------------------------------

#[test]
fn starttls_upgrades_says_ehlo_again_and_uses_the_post_tls_auth_list() {
    let pki = Pki::new();
    // Before TLS: AUTH LOGIN only. Over TLS: AUTH PLAIN only.
    let script = login_send_quit(&starttls_then("AUTH LOGIN", "AUTH PLAIN, SIZE 1000000"));
    let cap = pki.session(&script, Security::StartTls, |client| {
        let info = client.tls_info().expect("TLS info").clone();
        assert_eq!(info.version, "TLSv1.3");
        assert!(info.cipher_suite.starts_with("TLS13_"), "{info:?}");
        assert_eq!(info.peer_certificates, [pki.server.cert_der.to_vec()]);
        // The capabilities are those of the EHLO over TLS only.
        assert_eq!(client.capabilities().auth, ["PLAIN"]);
        assert!(!client.capabilities().starttls);
        assert_eq!(client.capabilities().size, Some(1_000_000));
        assert_eq!(client.authenticated_with(), Some(Mechanism::Plain));
        let report = client.send_bytes(&envelope(), MESSAGE).expect("send");
        assert!(report.all_accepted());
        assert_eq!(report.reply.code(), 250);
    });
    let tls = cap.tls.as_ref().expect("the server saw TLS");
    assert_eq!(tls.version, "TLSv1_3");
    assert_eq!(tls.sni.as_deref(), Some("localhost"));
    assert!(!cap.lines.iter().any(|l| l.starts_with("AUTH LOGIN")));
    let (auth, mail) = (auth_plain_line(), mail_line());
    let lines = [EHLO, "STARTTLS", EHLO, &auth, &mail, RCPT, "DATA"];
    assert_eq!(cap.lines, [&lines[..], &["QUIT"]].concat());
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE)]);
    // Byte for byte: nothing but these lines and the body went out.
    let mut expected = wire(&lines).into_bytes();
    expected.extend_from_slice(&on_the_wire(MESSAGE));
    expected.extend_from_slice(b"QUIT\r\n");
    assert_eq!(cap.received_text(), String::from_utf8(expected).unwrap());
}

#[test]
fn starttls_to_an_ip_address_checks_the_ip_san_and_sends_no_sni() {
    let pki = Pki::new();
    let ca_pem = pki.ca_pem();
    let cap = tls_session(
        &format!("{}; quit", starttls_then("", "8BITMIME")),
        pki.server.server_config(),
        move |s| tls_config(s, "127.0.0.1", Security::StartTls, &ca_pem),
        |client| assert!(client.capabilities().eight_bit_mime),
    );
    // RFC 6066 3: no IP addresses in SNI.
    assert_eq!(cap.tls.expect("TLS").sni, None);
    assert_eq!(cap.lines, [EHLO, "STARTTLS", EHLO, "QUIT"]);
}

// ----- 2. response injection ---------------------------------------------------

#[test]
fn data_after_the_220_to_starttls_is_refused_before_the_handshake() {
    // The 220 and the injected bytes in one write.
    let payloads = [
        r"220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n",
        r"220 x\r\ngarbage",
        r"220-go\r\n220 ahead\r\n\x16\x03\x03\x00\x05hello",
        r"220 go ahead\r\n\r\n",
    ];
    for payload in payloads {
        let script =
            format!("hello STARTTLS, AUTH PLAIN LOGIN; < STARTTLS; raw {payload}; read-to-close");
        // No ClientHello, no QUIT, nothing at all after STARTTLS.
        let (err, cap) = Fault::new(payload, &script)
            .config(required_with_password)
            .fails("Tls StartTls InjectedData")
            .closes()
            .sends_exactly(&[EHLO, "STARTTLS"])
            .connect();
        assert_tls_error(&err, Phase::StartTls, TlsErrorKind::InjectedData);
        assert_eq!(cap.received_text(), wire(&[EHLO, "STARTTLS"]), "{payload}");
        assert_eq!(cap.bodies, [Vec::<u8>::new()], "{payload}");
        assert!(cap.tls.is_none());
        assert_no_credentials(&cap);
    }
}

#[test]
fn data_injected_after_the_handshake_began_breaks_the_handshake() {
    // The injected line comes in a later write, once the client has sent
    // its ClientHello: TLS itself must refuse it.
    let script = format!(
        "{}; sleep 300ms; > 250 injected; read-to-close",
        up_to_starttls_220()
    );
    let (err, cap) = Fault::new("late injection", &script)
        .config(required_with_password)
        .connect();
    let plain = wire(&[EHLO, "STARTTLS"]);
    assert!(cap.received.starts_with(plain.as_bytes()));
    // Plaintext where the server's first TLS record should be is named
    // as the injection it is, however late it comes; TLS's own refusal
    // is the fallback.
    assert!(
        matches!(
            &err,
            Error::Tls {
                kind: TlsErrorKind::InjectedData | TlsErrorKind::Handshake,
                ..
            }
        ),
        "{err:?}"
    );
    // The ClientHello, then at most an alert: TLS records only.
    let after = &cap.received[plain.len()..];
    assert!(
        after.is_empty() || after.starts_with(&[0x16, 0x03]),
        "{after:?}"
    );
    assert_no_credentials(&cap);
}

// ----- 3. STARTTLS missing -------------------------------------------------------

#[test]
fn starttls_not_offered_when_required_sends_nothing_else() {
    let (err, cap) = Fault::new(
        "STARTTLS not offered",
        "hello AUTH PLAIN LOGIN, 8BITMIME, SIZE 1000; hangup",
    )
    .config(required_with_password)
    .fails("Tls StartTls NotOffered")
    .closes()
    .sends(&[EHLO])
    .connect();
    assert_tls_error(&err, Phase::StartTls, TlsErrorKind::NotOffered);
    assert!(!cap.has_line("MAIL"));
    assert_no_credentials(&cap);
}

// ----- 4. STARTTLS refused ---------------------------------------------------------

#[test]
fn starttls_454_when_required_is_refused_without_credentials() {
    let (err, cap) = Fault::new(
        "STARTTLS 454",
        "hello STARTTLS, AUTH PLAIN LOGIN; < STARTTLS
         > 454 4.7.0 TLS not available due to temporary reason; hangup",
    )
    .config(required_with_password)
    .fails("Tls StartTls StartTlsRefused")
    .closes()
    .sends(&[EHLO, "STARTTLS"])
    .connect();
    assert_tls_error(&err, Phase::StartTls, TlsErrorKind::StartTlsRefused);
    assert!(err.to_string().contains("454"), "{err}");
    assert_no_credentials(&cap);
}

/// An opportunistic session that goes on in plaintext and sends the
/// message; returns what the server saw.
fn plaintext_delivery(script: &str) -> Capture {
    let (_, cap) = Session::new(script).config(opportunistic).run(|client| {
        assert!(!client.is_encrypted());
        assert!(client.tls_info().is_none());
        client.send_bytes(&envelope(), MESSAGE).expect("send");
    });
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE)]);
    cap
}

#[test]
fn starttls_454_when_opportunistic_continues_in_plaintext() {
    let cap = plaintext_delivery(&format!(
        "hello STARTTLS, SIZE 1000000; < STARTTLS
         > 454 4.7.0 TLS not available due to temporary reason
         {}; quit",
        transaction()
    ));
    let mail = mail_line();
    assert_eq!(cap.lines, [EHLO, "STARTTLS", &mail, RCPT, "DATA", "QUIT"]);
}

#[test]
fn opportunistic_without_starttls_offered_sends_in_plaintext() {
    let cap = plaintext_delivery(&format!("hello SIZE 1000000; {}; quit", transaction()));
    assert_eq!(cap.lines[..2], [EHLO.to_string(), mail_line()]);
}

#[test]
fn opportunistic_starttls_does_not_fall_back_to_plaintext_after_a_failed_handshake() {
    // STARTTLS was offered and accepted, then the certificate is refused:
    // the session must not go on in clear.
    let pki = Pki::new();
    let ca_pem = pki.ca_pem();
    let (err, cap) = Fault::new(
        "opportunistic, bad certificate",
        &format!("{}; starttls; read-to-close", up_to_starttls_220()),
    )
    .tls(tls::self_signed(NAMES).server_config())
    .config(move |s| tls_config(s, "localhost", Security::StartTlsIfOffered, &ca_pem))
    .fails("Tls TlsHandshake UnknownIssuer")
    .unclean()
    .connect();
    assert_tls_error(&err, Phase::TlsHandshake, TlsErrorKind::UnknownIssuer);
    assert_eq!(cap.received_text(), wire(&[EHLO, "STARTTLS"]));
    assert!(!cap.has_line("MAIL"));
}

// ----- 5. drops and stalls during the handshake ----------------------------------------

#[test]
fn server_closing_right_after_the_220_is_a_handshake_error() {
    let (err, cap) = upgrade_broken("close after 220", "close", "Tls TlsHandshake Handshake");
    assert_tls_error(&err, Phase::TlsHandshake, TlsErrorKind::Handshake);
    assert_eq!(cap.received_text(), wire(&[EHLO, "STARTTLS"]));
}

#[test]
fn server_closing_after_reading_the_client_hello_is_a_handshake_error() {
    // The record header of the ClientHello, then hang up.
    let (err, cap) = upgrade_broken(
        "close after ClientHello",
        "read 5; close",
        "Tls TlsHandshake Handshake",
    );
    assert_tls_error(&err, Phase::TlsHandshake, TlsErrorKind::Handshake);
    assert_eq!(cap.bodies.len(), 1);
    assert_eq!(
        cap.bodies[0][..3],
        [0x16, 0x03, 0x01],
        "a TLS handshake record"
    );
    let plain = wire(&[EHLO, "STARTTLS"]);
    assert!(cap.received.starts_with(plain.as_bytes()));
}

#[test]
fn server_stalling_the_handshake_times_out() {
    let (_, cap) = Fault::new(
        "stalled handshake",
        &format!("{}; read-to-close", up_to_starttls_220()),
    )
    .config(|s| required_with_password(s).with_timeouts(Timeouts::uniform(SHORT)))
    .within(SHORT + SLACK)
    .fails("Timeout TlsHandshake 500ms")
    .closes()
    .connect();
    let plain = wire(&[EHLO, "STARTTLS"]);
    assert!(cap.received.starts_with(plain.as_bytes()));
    // Only the ClientHello came after STARTTLS.
    assert_eq!(cap.bodies[0][..3], [0x16, 0x03, 0x01]);
    assert_no_credentials(&cap);
}

/// A TLS record header announcing a 16 KiB handshake record, then some of
/// its bytes: a handshake that never completes.
fn endless_handshake_record(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x16, 0x03, 0x03, 0x40, 0x00];
    bytes.resize(len, 0x00);
    bytes
}

/// STARTTLS accepted, then, once the ClientHello arrived (earlier would
/// be injection), 25 bytes of a never-ending record, one every 100 ms.
fn dripping_handshake() -> Vec<Step> {
    let mut s = steps(&format!("{}; read 5", up_to_starttls_220()));
    s.push(Step::SendSlowly {
        bytes: endless_handshake_record(30),
        pause: Duration::from_millis(100),
    });
    s.extend(steps("read-to-close"));
    s
}

#[test]
fn server_dripping_the_handshake_times_out_within_the_command_timeout() {
    let (err, cap) = Fault::with_steps("dripping handshake", dripping_handshake())
        .config(|s| required_with_password(s).with_timeouts(Timeouts::uniform(SHORT)))
        .within(SHORT + SLACK)
        .unclean()
        .connect();
    assert_no_credentials(&cap);
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::TlsHandshake,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn server_dripping_the_handshake_does_not_outlast_the_total_deadline() {
    let timeouts = Timeouts {
        total: Some(SHORT),
        ..Timeouts::uniform(TIMEOUT)
    };
    let (err, cap) = Fault::with_steps("dripping handshake, total", dripping_handshake())
        .config(move |s| {
            tls_config(s, "localhost", Security::StartTls, &unrelated_ca_pem())
                .with_timeouts(timeouts)
        })
        .within(SHORT + SLACK)
        .unclean()
        .connect();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(!cap.has_line("MAIL"));
}

// ----- 7. credentials on plaintext connections ----------------------------------------------

#[test]
fn plaintext_credentials_refused_under_policy_never() {
    // PlaintextAuthPolicy::Never is what a non-loopback server gets under
    // the default LoopbackOnly policy.
    let server = ScriptedServer::start(steps("hello AUTH PLAIN LOGIN; hangup"));
    let config = server
        .config()
        .with_password(USER, PASSWORD)
        .with_plaintext_auth_policy(PlaintextAuthPolicy::Never);
    let err = connect_err(config);
    match &err {
        Error::PlaintextAuthRefused { server: s } => {
            assert_eq!(s, &format!("127.0.0.1:{}", server.port()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.phase(), Some(Phase::Auth));
    assert!(!err.to_string().contains(PASSWORD));
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.client_closed);
    assert_eq!(lines_without_final_quit(&cap), [EHLO.to_string()]);
    assert_no_credentials(&cap);
}

/// A loopback server offering AUTH PLAIN LOGIN without TLS gets the
/// credentials under the default policy.
fn plaintext_auth_to_loopback(ip: IpAddr) {
    let s = steps(&format!(
        "hello AUTH PLAIN LOGIN; {}; quit",
        auth_plain_ok()
    ));
    let server = ScriptedServer::start_on(ip, s, None);
    // server.config(): Security::None, default plaintext policy.
    let mut client = connect(server.config().with_password(USER, PASSWORD));
    assert!(!client.is_encrypted());
    assert_eq!(client.authenticated_with(), Some(Mechanism::Plain));
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        cap.lines,
        [EHLO.to_string(), auth_plain_line(), "QUIT".into()]
    );
}

#[test]
fn plaintext_credentials_sent_to_ipv4_loopback_under_the_default_policy() {
    plaintext_auth_to_loopback(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
}

#[test]
fn plaintext_credentials_sent_to_ipv6_loopback_under_the_default_policy() {
    if TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        return skipped("::1 is not available on this machine");
    }
    plaintext_auth_to_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST));
}

const NETNS_ENV: &str = "SMTP_TEST_NETNS";
const NETNS_CHILD_ENV: &str = "SMTP_TEST_NETNS_CHILD";
const NETNS_CHILD_TEST: &str = "netns_child_default_policy_refuses_plaintext_credentials";
/// The server's address inside the namespace (TEST-NET-1, RFC 5737).
const NETNS_ADDR: &str = "192.0.2.1";
const NETNS_MARKER: &str = "netns child: plaintext credentials refused";

/// A network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> Netns {
        let name = format!("smtp-tls-test-{}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &ns.0,
            "addr",
            "add",
            &format!("{NETNS_ADDR}/32"),
            "dev",
            "lo",
        ]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    assert!(status.success(), "ip {args:?} failed: {status}");
}

fn read_all_in_thread(mut from: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = from.read_to_string(&mut text);
        text
    })
}

#[test]
#[ignore = "needs root and `ip netns`: run with SMTP_TEST_NETNS=1 and --ignored (tests/test-all.sh does as root)"]
fn plaintext_credentials_refused_to_a_non_loopback_peer_in_a_netns() {
    // Asked to run (--ignored) but not allowed to: a failure, not a pass.
    assert!(
        env::var(NETNS_ENV).as_deref() == Ok("1"),
        "set {NETNS_ENV}=1 to run this test (needs root and `ip netns`)"
    );
    let ns = Netns::create();
    let exe = env::current_exe().expect("the test binary");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args([NETNS_CHILD_TEST, "--exact", "--ignored", "--nocapture"])
        .env(NETNS_CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test binary in the namespace");
    let stdout = read_all_in_thread(child.stdout.take().unwrap());
    let stderr = read_all_in_thread(child.stderr.take().unwrap());
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the test in the namespace did not end within 20 s");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(stdout.contains(NETNS_MARKER), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
}

/// A one-connection plaintext SMTP server for the namespace test (the
/// scripted server listens on loopback only): greets, answers the first
/// line with an EHLO reply offering AUTH PLAIN LOGIN, then records
/// everything until the client closes. Every wait is bounded.
fn one_ehlo_server(listener: TcpListener) -> thread::JoinHandle<io::Result<Vec<u8>>> {
    thread::spawn(move || {
        listener.set_nonblocking(true)?;
        let until = Instant::now() + Duration::from_secs(5);
        let mut tcp = loop {
            match listener.accept() {
                Ok((tcp, _)) => break tcp,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => {
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        };
        tcp.set_nonblocking(false)?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(5)))?;
        tcp.write_all(b"220 mx.test ESMTP\r\n")?;
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        let mut answered = false;
        loop {
            let n = tcp.read(&mut buf)?;
            if n == 0 {
                return Ok(received);
            }
            received.extend_from_slice(&buf[..n]);
            if !answered && received.ends_with(b"\r\n") {
                tcp.write_all(b"250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n")?;
                answered = true;
            }
        }
    })
}

#[test]
#[ignore = "run inside a network namespace by plaintext_credentials_refused_to_a_non_loopback_peer_in_a_netns"]
fn netns_child_default_policy_refuses_plaintext_credentials() {
    assert!(
        env::var(NETNS_CHILD_ENV).as_deref() == Ok("1"),
        "only plaintext_credentials_refused_to_a_non_loopback_peer_in_a_netns runs this test, \
         inside its network namespace"
    );
    let listener = TcpListener::bind((NETNS_ADDR, 0)).expect("bind the non-loopback address");
    let addr = listener.local_addr().unwrap();
    assert!(!addr.ip().is_loopback());
    let server = one_ehlo_server(listener);
    // Default plaintext policy (LoopbackOnly), no TLS, credentials set.
    let config = Config::new(NETNS_ADDR, addr.port())
        .with_security(Security::None)
        .with_client_name(CLIENT_NAME)
        .with_timeouts(Timeouts::uniform(TIMEOUT))
        .with_password(USER, PASSWORD);
    let err = connect_err(config);
    let received = server.join().unwrap().expect("the namespace server");
    let text = String::from_utf8_lossy(&received);
    match &err {
        Error::PlaintextAuthRefused { server } => assert_eq!(server, &addr.to_string()),
        other => panic!("{other:?}"),
    }
    assert!(
        text == wire(&[EHLO]) || text == wire(&[EHLO, "QUIT"]),
        "{text:?}"
    );
    println!("{NETNS_MARKER}");
}

// ----- 8. opportunistic TLS with credentials ----------------------------------------------

#[test]
fn opportunistic_tls_with_credentials_is_refused_at_connect() {
    let (err, cap) = Fault::new("opportunistic with credentials", "greeting; hangup")
        .config(|s| opportunistic(s).with_password(USER, PASSWORD))
        .fails("InvalidInput security")
        .unclean()
        .connect();
    match &err {
        Error::InvalidInput { field, reason } => {
            assert_eq!(*field, "security");
            assert!(
                reason.contains("insecure-opportunistic-TLS-with-credentials option"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!cap.connected, "the client connected: {cap:?}");
}

#[test]
fn opportunistic_tls_with_credentials_and_the_opt_in_upgrades_then_authenticates() {
    let pki = Pki::new();
    let script = format!(
        "{}; {}; quit",
        starttls_then("AUTH PLAIN LOGIN", "AUTH PLAIN LOGIN"),
        auth_plain_ok()
    );
    let trusted = pki.trusted(Security::StartTlsIfOffered);
    let cap = tls_session(
        &script,
        pki.server.server_config(),
        move |s| trusted(s).insecure_opportunistic_tls_with_credentials(true),
        |client| assert_eq!(client.authenticated_with(), Some(Mechanism::Plain)),
    );
    let auth = auth_plain_line();
    assert_eq!(cap.lines, [EHLO, "STARTTLS", EHLO, &auth, "QUIT"]);
}

#[test]
fn opportunistic_tls_with_the_opt_in_and_starttls_stripped_still_obeys_the_plaintext_policy() {
    let (_, cap) = Fault::new("STARTTLS stripped", "hello AUTH PLAIN LOGIN; hangup")
        .config(|s| {
            opportunistic(s)
                .with_password(USER, PASSWORD)
                .insecure_opportunistic_tls_with_credentials(true)
                .with_plaintext_auth_policy(PlaintextAuthPolicy::Never)
        })
        .fails("PlaintextAuthRefused")
        .sends(&[EHLO])
        .connect();
    assert_no_credentials(&cap);
}
