//! Relay failover: a host list tried in order, moving on only for
//! failures before any message (unreachable, 4xx greeting/EHLO/AUTH, a
//! silent server, TLS), never after a message may have been delivered;
//! the client and the transcript say which server took the connection.
//! Scripted servers for the faults, the test bed's Postfix for delivery.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_core::{Config, Direction, Envelope, Error, Phase, Security, Timeouts};
use smtp_tests::driver::Client;
use smtp_tests::scripted::{expect, greeting, hello, reply, ScriptedServer, Step};
use smtp_tests::testbed::TestBed;

/// A loopback port nothing listens on (bound, then freed).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A listener that must never see a connection; checked by `untouched`.
fn bystander() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    listener
}

fn untouched(listener: &TcpListener) -> bool {
    matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn with_transcript(config: Config) -> (Config, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let config = config.with_transcript(move |direction, line| {
        if direction == Direction::Info {
            sink.lock().unwrap().push(line.to_string());
        }
    });
    (config, lines)
}

/// A scripted server that greets with 421 and closes.
fn busy_server() -> ScriptedServer {
    ScriptedServer::start(vec![reply("421 4.3.2 busy, try another"), Step::Close])
}

/// A scripted server that takes one message.
fn taking_server() -> ScriptedServer {
    let mut script = hello(&["PIPELINING"]);
    script.extend([
        expect("MAIL FROM:<a@example.test>"),
        reply("250 ok"),
        expect("RCPT TO:<b@example.test>"),
        reply("250 ok"),
        expect("DATA"),
        reply("354 go"),
        Step::ReadData,
        reply("250 2.0.0 queued as FAILOVER"),
        expect("QUIT"),
        reply("221 bye"),
        Step::ExpectClose(Duration::from_secs(2)),
    ]);
    ScriptedServer::start(script)
}

fn list(items: &[String]) -> Config {
    Config::for_server(&items.join(","))
        .unwrap()
        .with_security(Security::None)
        .with_client_name("client.test")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(2)))
}

fn envelope() -> Envelope {
    Envelope::new("a@example.test", ["b@example.test"]).unwrap()
}

#[test]
fn refused_then_421_then_the_third_server_takes_the_message() {
    let busy = busy_server();
    let taker = taking_server();
    let servers = [
        format!("127.0.0.1:{}", closed_port()),
        format!("127.0.0.1:{}", busy.port()),
        format!("127.0.0.1:{}", taker.port()),
    ];
    let (config, notes) = with_transcript(list(&servers));
    let mut client = Client::connect(config).unwrap();
    assert_eq!(client.server(), servers[2]);
    let report = client
        .send_bytes(&envelope(), b"Subject: x\r\n\r\nbody\r\n")
        .unwrap();
    assert!(report.reply.text().contains("FAILOVER"));
    client.quit().unwrap();
    taker.finish().assert_clean();
    busy.finish();
    let notes = notes.lock().unwrap().join("\n");
    assert!(
        notes.contains(&format!("{} failed", servers[0]))
            && notes.contains(&format!("trying the next server, {}", servers[1])),
        "{notes}"
    );
    assert!(
        notes.contains(&format!(
            "{} failed (server refused greeting: 421",
            servers[1]
        )),
        "{notes}"
    );
}

#[test]
fn a_4xx_to_ehlo_or_auth_and_a_silent_greeting_move_on() {
    let ehlo_busy = ScriptedServer::start(vec![
        greeting(),
        expect("EHLO"),
        reply("451 4.3.0 try later"),
        Step::Close,
    ]);
    let mut script = hello(&["AUTH PLAIN"]);
    script.extend([
        expect("AUTH PLAIN"),
        reply("454 4.7.0 temporary authentication failure"),
        Step::Close,
    ]);
    let auth_busy = ScriptedServer::start(script);
    let silent = ScriptedServer::start(vec![Step::Sleep(Duration::from_secs(3)), Step::Close]);
    let mut script = hello(&["AUTH PLAIN"]);
    script.extend([
        expect("AUTH PLAIN"),
        reply("235 2.7.0 ok"),
        expect("QUIT"),
        reply("221 bye"),
        Step::ExpectClose(Duration::from_secs(2)),
    ]);
    let good = ScriptedServer::start(script);
    let servers: Vec<String> = [&ehlo_busy, &auth_busy, &silent, &good]
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port()))
        .collect();
    let config = list(&servers)
        .with_password("ann", "secret")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(1)));
    let (config, notes) = with_transcript(config);
    let mut client = Client::connect(config).unwrap();
    assert_eq!(client.server(), servers[3]);
    client.quit().unwrap();
    good.finish().assert_clean();
    let notes = notes.lock().unwrap().join("\n");
    for server in &servers[..3] {
        assert!(notes.contains(&format!("{server} failed")), "{notes}");
    }
    assert!(notes.contains("timed out"), "{notes}");
    assert!(!notes.contains("secret"), "{notes}");
}

#[test]
fn refused_credentials_do_not_move_on() {
    let mut script = hello(&["AUTH PLAIN"]);
    script.extend([expect("AUTH PLAIN"), reply("535 5.7.8 bad credentials")]);
    let refusing = ScriptedServer::start(script);
    let next = bystander();
    let servers = [
        format!("127.0.0.1:{}", refusing.port()),
        format!("127.0.0.1:{}", next.local_addr().unwrap().port()),
    ];
    let err = Client::connect(list(&servers).with_password("ann", "secret")).unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(untouched(&next), "the second server was tried after a 535");
    refusing.finish();
}

#[test]
fn a_failure_after_connecting_never_moves_on() {
    let mut script = hello(&[]);
    script.extend([
        expect("MAIL FROM:<a@example.test>"),
        reply("421 4.3.2 shutting down"),
        Step::Close,
    ]);
    let first = ScriptedServer::start(script);
    let next = bystander();
    let servers = [
        format!("127.0.0.1:{}", first.port()),
        format!("127.0.0.1:{}", next.local_addr().unwrap().port()),
    ];
    let mut client = Client::connect(list(&servers)).unwrap();
    let err = client
        .send_bytes(&envelope(), b"Subject: x\r\n\r\nbody\r\n")
        .unwrap_err();
    assert_eq!(err.phase(), Some(Phase::MailFrom), "{err:?}");
    assert!(
        untouched(&next),
        "the second server was tried after MAIL FROM"
    );
    first.finish();
}

#[test]
fn every_server_failing_gives_the_last_error() {
    let servers = [
        format!("127.0.0.1:{}", closed_port()),
        format!("127.0.0.1:{}", closed_port()),
    ];
    let err = Client::connect(list(&servers)).unwrap_err();
    match err {
        Error::Connect { server, .. } => assert_eq!(server, servers[1]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn postfix_takes_the_message_after_a_refusing_and_a_busy_server() {
    let Some(bed) = TestBed::get() else {
        eprintln!("SMTP_TESTBED_ENV not set: real-server failover test skipped");
        return;
    };
    let busy = busy_server();
    let servers = [
        format!("127.0.0.1:{}", closed_port()),
        format!("127.0.0.1:{}", busy.port()),
        format!("localhost:{}", bed.port_submission),
    ];
    let config = bed.submission_config().with_host(servers.join(","));
    let (config, notes) = with_transcript(config);
    let marker = TestBed::unique_marker("failover");
    let to = format!("failover@{}", bed.domain);
    let envelope = Envelope::new(format!("sender@{}", bed.domain), [to.as_str()]).unwrap();
    let mut client = Client::connect(config).unwrap();
    assert_eq!(client.server(), servers[2]);
    assert!(client.is_encrypted());
    let message =
        format!("Subject: {marker}\r\nMessage-ID: <{marker}@example.test>\r\n\r\nthird server\r\n");
    client.send_bytes(&envelope, message.as_bytes()).unwrap();
    client.quit().unwrap();
    let delivered = bed
        .wait_for_message(&marker, Duration::from_secs(10))
        .unwrap();
    assert!(String::from_utf8_lossy(&delivered).contains("third server"));
    let copies = bed
        .wait_for_markers(&[(marker.as_str(), 1)], Duration::from_secs(10))
        .unwrap();
    assert_eq!(copies[0].len(), 1, "delivered once");
    busy.finish();
    let notes = notes.lock().unwrap().join("\n");
    assert!(
        notes.contains(&format!("trying the next server, {}", servers[2])),
        "{notes}"
    );
}
