//! Mail through a proxy: the test bed's dante (SOCKS5, with and without
//! user/password) and tinyproxy (HTTP CONNECT with Basic credentials) in
//! front of its Postfix, with STARTTLS and implicit TLS end to end and the
//! certificate checked against the mail server's name; and the failures:
//! a wrong proxy password, a destination the proxy forbids, a "proxy"
//! that stalls and one that answers nonsense (scripted loopback
//! listeners). Proxy credentials never reach an error or a transcript.
//! Every test goes through `smtp_tests::driver::Client`, so
//! `SMTP_TEST_DRIVER=async` runs them again with the tokio client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use smtp_core::{Config, Envelope, Error, Phase, Security, TlsErrorKind};
use smtp_tests::driver::Client;
use smtp_tests::testbed::{Proxies, TestBed};

const WAIT: Duration = Duration::from_secs(10);

/// The bed and its proxies, or return (reported skipped) without them.
macro_rules! bed_and_proxies {
    () => {{
        let Some(bed) = TestBed::get() else { return };
        let Some(proxies) = bed.proxies() else { return };
        (bed, proxies)
    }};
}

/// Every transcript line of a session, as "<direction> <line>".
type Lines = Arc<Mutex<Vec<String>>>;

/// A TLS configuration for `host:port` of the bed (trusting only its CA),
/// authenticated, going through `proxy`, with its transcript in `lines`.
fn proxied(
    bed: &TestBed,
    host: &str,
    port: u16,
    security: Security,
    proxy: &str,
) -> (Config, Lines) {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    let mut config = Config::new(host, port)
        .with_security(security)
        .with_ca_file(&bed.ca_file)
        .with_system_roots(false)
        .with_password(bed.user.clone(), bed.password.clone())
        .with_client_name("client.example.test")
        .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(20)))
        .with_transcript(move |dir, line| sink.lock().unwrap().push(format!("{dir} {line}")));
    config.set("proxy", proxy).expect("a valid proxy URL");
    (config, lines)
}

/// A message with `marker` in its Subject.
fn message(bed: &TestBed, marker: &str) -> Vec<u8> {
    format!(
        "From: <sender@{d}>\r\nTo: <rcpt@{d}>\r\nSubject: {marker}\r\n\r\nThrough a proxy.\r\n",
        d = bed.domain
    )
    .into_bytes()
}

/// Connects through the proxy, sends one message, quits, and checks it
/// in the Maildir (received over TLS, authenticated) and that the
/// session went to the proxy's port (the transcript's "connected to").
/// Returns the transcript.
fn deliver(bed: &TestBed, config: Config, lines: &Lines, proxy_port: u16, tag: &str) -> String {
    let marker = TestBed::unique_marker(tag);
    let mut client = Client::connect(config).unwrap_or_else(|e| panic!("{tag}: {e}"));
    assert!(client.is_encrypted(), "{tag}: TLS");
    assert!(client.tls_info().is_some(), "{tag}: TLS info");
    assert!(client.authenticated_with().is_some(), "{tag}: AUTH");
    let envelope = Envelope::new(
        format!("sender@{}", bed.domain),
        [format!("rcpt@{}", bed.domain)],
    )
    .unwrap();
    client
        .send_bytes(&envelope, &message(bed, &marker))
        .unwrap_or_else(|e| panic!("{tag}: {e}"));
    client.quit().unwrap();
    let raw = bed.wait_for_message(&marker, WAIT).unwrap();
    let text = String::from_utf8_lossy(&raw);
    // Postfix's "with ESMTPSA": over TLS (S), authenticated (A).
    assert!(text.contains("with ESMTPSA"), "{tag}: {text}");
    let all = lines.lock().unwrap().join("\n");
    let connected = all
        .lines()
        .find(|l| l.contains("connected to"))
        .unwrap_or_else(|| panic!("{tag}: no \"connected to\" line in\n{all}"));
    assert!(
        connected.contains(&format!(":{proxy_port}")),
        "{tag}: the session did not go through the proxy on port {proxy_port}: {connected}"
    );
    all
}

/// Asserts that none of `secrets` (nor the Basic token of user:secret)
/// appears in `text`.
fn assert_hidden(text: &str, user: &str, secrets: &[&str], what: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{what} shows a proxy password:\n{text}"
        );
        let token = b64.encode(format!("{user}:{secret}"));
        assert!(
            !text.contains(&token),
            "{what} shows the Basic token:\n{text}"
        );
    }
}

fn socks_secrets(p: &Proxies) -> [&str; 1] {
    [p.socks5_password.as_str()]
}

#[test]
fn socks5_with_password_starttls_and_implicit_tls() {
    let (bed, p) = bed_and_proxies!();
    for (scheme, port, security) in [
        ("socks5h", bed.port_submission, Security::StartTls),
        ("socks5h", bed.port_smtps, Security::Implicit),
        ("socks5", bed.port_submission, Security::StartTls),
        ("socks5l", bed.port_smtps, Security::Implicit),
    ] {
        let url = p.socks5_url_with(scheme, &bed.host, &p.socks5_password);
        let (config, lines) = proxied(bed, "localhost", port, security, &url);
        assert_hidden(
            &format!("{config:?}"),
            &p.socks5_user,
            &socks_secrets(p),
            "Config's Debug",
        );
        let tag = format!("{scheme}-{port}");
        let transcript = deliver(bed, config, &lines, p.socks5_port, &tag);
        assert_hidden(
            &transcript,
            &p.socks5_user,
            &socks_secrets(p),
            "the transcript",
        );
        assert!(!transcript.contains(&p.socks5_user), "{transcript}");
    }
}

#[test]
fn socks5_without_authentication() {
    let (bed, p) = bed_and_proxies!();
    for (port, security) in [
        (bed.port_submission, Security::StartTls),
        (bed.port_smtps, Security::Implicit),
    ] {
        let url = p.socks5_noauth_url(&bed.host);
        let (config, lines) = proxied(bed, "localhost", port, security, &url);
        deliver(bed, config, &lines, p.socks5_noauth_port, "socks-noauth");
    }
}

#[test]
fn http_connect_starttls_and_implicit_tls() {
    let (bed, p) = bed_and_proxies!();
    for (port, security) in [
        (bed.port_submission, Security::StartTls),
        (bed.port_smtps, Security::Implicit),
    ] {
        let (config, lines) = proxied(bed, "localhost", port, security, &p.http_url(&bed.host));
        let secrets = [p.http_password.as_str()];
        assert_hidden(
            &format!("{config:?}"),
            &p.http_user,
            &secrets,
            "Config's Debug",
        );
        let transcript = deliver(bed, config, &lines, p.http_port, "http-connect");
        assert_hidden(&transcript, &p.http_user, &secrets, "the transcript");
    }
}

#[test]
fn the_certificate_is_checked_against_the_mail_servers_name() {
    let (bed, p) = bed_and_proxies!();
    let proxies = [
        (p.socks5_url(&bed.host), p.socks5_port),
        (p.http_url(&bed.host), p.http_port),
    ];
    for (url, proxy_port) in &proxies {
        // The mail server named by address, its certificate checked
        // against the name given for it.
        let (config, lines) = proxied(
            bed,
            "127.0.0.1",
            bed.port_submission,
            Security::StartTls,
            url,
        );
        let config = config.with_tls_server_name("localhost");
        deliver(bed, config, &lines, *proxy_port, "tls-name");

        // A name the certificate does not hold: refused, whatever the
        // proxy's name.
        let (config, _) = config_pair(bed, url);
        let config = config.with_tls_server_name("wrong.example");
        match Client::connect(config) {
            Err(Error::Tls { kind, .. }) => assert_eq!(kind, TlsErrorKind::NameMismatch, "{url}"),
            Err(e) => panic!("{proxy_port}: expected a name mismatch, got {e:?}"),
            Ok(_) => panic!("{proxy_port}: a certificate for localhost accepted for wrong.example"),
        }
    }
}

/// [`proxied`] for the submission port as `localhost`, STARTTLS.
fn config_pair(bed: &TestBed, url: &str) -> (Config, Lines) {
    proxied(
        bed,
        "localhost",
        bed.port_submission,
        Security::StartTls,
        url,
    )
}

/// Connects expecting a proxy step's failure: an `Error::Connect` naming
/// the proxy at `proxy_port` and whose text holds each of `words`.
/// Returns the error's text (Display and Debug) and the transcript.
fn proxy_error(config: Config, lines: &Lines, proxy_port: u16, words: &[&str]) -> String {
    let started = Instant::now();
    let err = match Client::connect(config) {
        Ok(_) => panic!("connected through a proxy that should have refused"),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let text = format!("{err}\n{err:?}");
    match &err {
        Error::Connect { server, .. } => {
            assert!(server.starts_with("proxy "), "{text}");
            assert!(server.ends_with(&format!(":{proxy_port}")), "{text}");
        }
        other => panic!("expected a Connect error naming the proxy, got {other:?}"),
    }
    assert_eq!(err.phase(), Some(Phase::Connect));
    for word in words {
        assert!(text.contains(word), "{word:?} missing from {text}");
    }
    let transcript = lines.lock().unwrap().join("\n");
    format!("{text}\n{transcript}")
}

#[test]
fn a_wrong_socks5_password_is_a_connect_error_without_the_password() {
    let (bed, p) = bed_and_proxies!();
    let wrong = format!("wrong-{}", TestBed::unique_marker("pw"));
    let url = p.socks5_url_with("socks5h", &bed.host, &wrong);
    let (config, lines) = config_pair(bed, &url);
    let shown = proxy_error(
        config,
        &lines,
        p.socks5_port,
        &["SOCKS5 authentication", "refused the user name or password"],
    );
    assert_hidden(
        &shown,
        &p.socks5_user,
        &[&wrong, &p.socks5_password],
        "the error",
    );
}

#[test]
fn a_wrong_http_proxy_password_is_a_connect_error_without_the_password() {
    let (bed, p) = bed_and_proxies!();
    let wrong = format!("wrong-{}", TestBed::unique_marker("pw"));
    let (config, lines) = config_pair(bed, &p.http_url_with(&bed.host, &wrong));
    let shown = proxy_error(config, &lines, p.http_port, &["HTTP CONNECT"]);
    // tinyproxy (1.11) answers wrong Basic credentials with 401, missing
    // ones with 407: both are the authentication step.
    assert!(shown.contains("HTTP CONNECT authentication"), "{shown}");
    assert_hidden(
        &shown,
        &p.http_user,
        &[&wrong, &p.http_password],
        "the error",
    );
}

#[test]
fn missing_proxy_credentials_are_named() {
    let (bed, p) = bed_and_proxies!();
    let socks = format!("socks5h://{}:{}", bed.host, p.socks5_port);
    let (config, lines) = config_pair(bed, &socks);
    proxy_error(
        config,
        &lines,
        p.socks5_port,
        &["SOCKS5 greeting", "requires authentication"],
    );
    let http = format!("http://{}:{}", bed.host, p.http_port);
    let (config, lines) = config_pair(bed, &http);
    proxy_error(
        config,
        &lines,
        p.http_port,
        &["HTTP CONNECT authentication", "requires credentials"],
    );
}

#[test]
fn a_port_the_proxy_forbids_is_a_clear_error() {
    let (bed, p) = bed_and_proxies!();
    // tinyproxy's ConnectPort lists only submission and smtps.
    assert!(!p.http_allowed_ports.contains(&bed.port_plain));
    let (config, lines) = proxied(
        bed,
        "localhost",
        bed.port_plain,
        Security::StartTls,
        &p.http_url(&bed.host),
    );
    proxy_error(
        config,
        &lines,
        p.http_port,
        &["HTTP CONNECT response", "403"],
    );
    // dante connects only to the bed's SMTP ports, not to the discard port.
    assert!(!p.socks5_allowed_ports.contains(&bed.port_discard));
    for (url, port) in [
        (p.socks5_url(&bed.host), p.socks5_port),
        (p.socks5_noauth_url(&bed.host), p.socks5_noauth_port),
    ] {
        let (config, lines) = proxied(bed, "localhost", bed.port_discard, Security::StartTls, &url);
        proxy_error(config, &lines, port, &["SOCKS5 connect", "not allowed"]);
    }
}

/// A loopback listener playing a proxy: for its one connection, for each
/// answer in turn it reads what the client sent (one read) and writes the
/// answer; then it keeps the connection open, reading, until the client
/// closes it or 20 s pass. An empty answer list stalls at once. The
/// thread returns what it read, one entry per read.
struct FakeProxy {
    addr: SocketAddr,
    thread: Option<JoinHandle<Vec<Vec<u8>>>>,
}

impl FakeProxy {
    fn start(answers: Vec<Vec<u8>>, close_after: bool) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut stream: TcpStream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => return seen,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 1024];
            for answer in answers {
                // One request, waited for (bounded).
                let got = loop {
                    match stream.read(&mut buf) {
                        Ok(n) => break n,
                        Err(_) if Instant::now() < deadline => continue,
                        Err(_) => return seen,
                    }
                };
                if got == 0 {
                    return seen;
                }
                seen.push(buf[..got].to_vec());
                if stream.write_all(&answer).is_err() {
                    return seen;
                }
            }
            if close_after {
                return seen;
            }
            // Say nothing more until the client goes (or the deadline).
            while Instant::now() < deadline {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => seen.push(buf[..n].to_vec()),
                    Err(_) => {}
                }
            }
            seen
        });
        FakeProxy {
            addr,
            thread: Some(thread),
        }
    }

    /// What the client sent, once the connection is over.
    fn requests(mut self) -> Vec<Vec<u8>> {
        self.thread.take().unwrap().join().unwrap()
    }
}

/// A configuration for the bed's submission port through the fake proxy
/// at `url`, with a 1 s connect timeout.
fn fake_config(bed: &TestBed, url: &str) -> (Config, Lines) {
    let (mut config, lines) = config_pair(bed, url);
    let mut timeouts = smtp_core::Timeouts::uniform(Duration::from_secs(20));
    timeouts.connect = Duration::from_secs(1);
    config = config.with_timeouts(timeouts);
    (config, lines)
}

#[test]
fn a_stalling_proxy_fails_within_the_connect_timeout() {
    let Some(bed) = TestBed::get() else { return };
    for (scheme, answers) in [
        ("socks5h", vec![]),
        ("http", vec![]),
        // Greeting answered, then silence at CONNECT.
        ("socks5h", vec![vec![5, 0]]),
        // A status line, and no end of the head.
        (
            "http",
            vec![b"HTTP/1.1 200 Connection established\r\n".to_vec()],
        ),
    ] {
        let fake = FakeProxy::start(answers.clone(), false);
        let url = format!("{scheme}://{}", fake.addr);
        let (config, _) = fake_config(bed, &url);
        let started = Instant::now();
        let err = match Client::connect(config) {
            Ok(_) => panic!("{url} {answers:?}: connected through a silent proxy"),
            Err(e) => e,
        };
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{url} {answers:?}: {err} after {took:?} (connect timeout 1 s)"
        );
        assert_eq!(err.phase(), Some(Phase::Connect), "{err:?}");
        // A stall is the proxy's failure: named, with its step.
        let shown = err.to_string();
        assert!(
            matches!(err, Error::Connect { .. })
                && shown.contains(&format!("proxy {}", fake.addr))
                && shown.contains("no answer within"),
            "{err:?}"
        );
        drop(fake.requests());
    }
}

/// A scheme, the fake proxy's answers, and the words the error must hold.
type LieCase = (&'static str, Vec<Vec<u8>>, &'static [&'static str]);

#[test]
fn a_proxy_that_lies_is_a_clear_error() {
    let Some(bed) = TestBed::get() else { return };
    let cases: Vec<LieCase> = vec![
        // A SOCKS4 answer to a SOCKS5 greeting.
        (
            "socks5h",
            vec![vec![0, 0x5a]],
            &["SOCKS5 greeting", "version 0"],
        ),
        (
            "socks5h",
            vec![vec![4, 0]],
            &["SOCKS5 greeting", "not a SOCKS5 reply"],
        ),
        // Asks for user/password when none was offered.
        (
            "socks5h",
            vec![vec![5, 2]],
            &["SOCKS5 greeting", "not offered"],
        ),
        // A CONNECT reply of another version.
        (
            "socks5h",
            vec![vec![5, 0], vec![4, 0, 0, 1, 127, 0, 0, 1, 0, 25]],
            &["SOCKS5 connect", "not a SOCKS5 reply"],
        ),
        // An unknown address type in the CONNECT reply.
        (
            "socks5h",
            vec![vec![5, 0], vec![5, 0, 0, 9, 0, 0, 0, 0, 0, 0]],
            &["SOCKS5 connect", "address type"],
        ),
        (
            "http",
            vec![b"HTTP/1.1 502 Bad Gateway\r\n\r\n".to_vec()],
            &["HTTP CONNECT response", "502 Bad Gateway"],
        ),
        (
            "http",
            vec![b"HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n".to_vec()],
            &["HTTP CONNECT response", "301"],
        ),
        // Not HTTP at all.
        (
            "http",
            vec![b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec()],
            &["HTTP CONNECT response", "not an HTTP response"],
        ),
    ];
    for (scheme, answers, words) in cases {
        let fake = FakeProxy::start(answers.clone(), false);
        let port = fake.addr.port();
        let url = format!("{scheme}://{}", fake.addr);
        let (config, lines) = fake_config(bed, &url);
        proxy_error(config, &lines, port, words);
        drop(fake.requests());
    }
}

#[test]
fn a_proxy_that_hangs_up_is_a_connect_error() {
    let Some(bed) = TestBed::get() else { return };
    for (scheme, answers, step) in [
        ("socks5h", vec![vec![5]], "SOCKS5 greeting"),
        (
            "http",
            vec![b"HTTP/1.1 200 OK\r\n".to_vec()],
            "HTTP CONNECT response",
        ),
        // An SMTP server where the proxy should be.
        (
            "http",
            vec![b"220 mail.example ESMTP\r\n".to_vec()],
            "HTTP CONNECT response",
        ),
    ] {
        let fake = FakeProxy::start(answers, true);
        let port = fake.addr.port();
        let url = format!("{scheme}://{}", fake.addr);
        let (config, lines) = fake_config(bed, &url);
        proxy_error(config, &lines, port, &[step]);
        drop(fake.requests());
    }
}

/// The CONNECT request a fake SOCKS5 proxy receives for `scheme`, for
/// the mail server named `localhost` (refused by the proxy afterwards).
fn socks_connect_request(bed: &TestBed, scheme: &str) -> Vec<u8> {
    // General failure, after the greeting.
    let fake = FakeProxy::start(vec![vec![5, 0], vec![5, 1, 0, 1, 0, 0, 0, 0, 0, 0]], true);
    let url = format!("{scheme}://{}", fake.addr);
    let (config, _) = fake_config(bed, &url);
    let err = Client::connect(config).expect_err("the proxy refused");
    assert!(
        err.to_string().contains("general SOCKS server failure"),
        "{err}"
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        requests[0],
        [5, 1, 0],
        "the greeting offers no authentication only"
    );
    requests[1].clone()
}

#[test]
fn socks5h_sends_the_name_to_the_proxy() {
    let Some(bed) = TestBed::get() else { return };
    let port = bed.port_submission.to_be_bytes();
    let expected = [&[5, 1, 0, 3, 9][..], b"localhost", &port].concat();
    assert_eq!(socks_connect_request(bed, "socks5h"), expected);
    assert_eq!(socks_connect_request(bed, "socks5"), expected);
}

#[test]
fn socks5l_resolves_the_name_here() {
    let Some(bed) = TestBed::get() else { return };
    let request = socks_connect_request(bed, "socks5l");
    let port = bed.port_submission.to_be_bytes();
    match request.get(3) {
        Some(1) => assert_eq!(request, [&[5, 1, 0, 1, 127, 0, 0, 1][..], &port].concat()),
        Some(4) => assert_eq!(request.len(), 4 + 16 + 2, "{request:?}"),
        _ => panic!("socks5l sent {request:?}: not an address"),
    }
}
