//! Many messages in one round trip (`send_many`): against the scripted
//! server, that every reply is matched to its message and that a failure
//! in the middle of a window is reported precisely; against the real
//! Postfix, that every message of a large batch arrives exactly once,
//! with BDAT and with DATA.

use std::time::Duration;

use smtp_core::{Envelope, Error, Phase};
use smtp_tests::driver::Client;
use smtp_tests::script::{steps, Session};
use smtp_tests::scripted::ScriptedServer;
use smtp_tests::support::{FROM, TO};
use smtp_tests::testbed::TestBed;

const MESSAGE: &[u8] = b"Subject: batch\r\n\r\nHello.\r\n";

fn batch(n: usize) -> Vec<(Envelope, &'static [u8])> {
    (0..n)
        .map(|_| (Envelope::new(FROM, [TO]).unwrap(), MESSAGE))
        .collect()
}

/// The commands of message `i` of a BDAT window, as the client writes
/// them (an RSET before every message but the first).
fn bdat_commands(i: usize) -> String {
    let rset = if i > 0 { "< RSET; " } else { "" };
    format!("{rset}mail; rcpt; bdat; ")
}

/// The replies to message `i`'s commands, its BDAT answered `last`.
fn bdat_replies(i: usize, last: &str) -> String {
    let rset = if i > 0 { "250 2.0.0 Ok | " } else { "" };
    format!("> {rset}250 2.1.0 Ok | 250 2.1.5 Ok | {last}; ")
}

fn run_failing(script: &str, n: usize) -> (Vec<smtp_core::Result<smtp_core::SendReport>>, bool) {
    let server = ScriptedServer::start(steps(script));
    let mut client = Client::connect(server.config()).expect("connect");
    let results = client.send_many_bytes(&batch(n));
    let connected = client.is_connected();
    drop(client);
    let cap = server.finish();
    assert!(cap.errors.is_empty(), "{:?}", cap.errors);
    (results, connected)
}

#[test]
fn a_window_goes_out_before_any_reply_and_every_reply_finds_its_message() {
    // The server reads all five messages before it answers any: the
    // replies to message 1 arrive while message 5 is in flight.
    let mut script = String::from("hello PIPELINING, CHUNKING; ");
    for i in 0..5 {
        script += &bdat_commands(i);
    }
    for i in 0..5 {
        script += &bdat_replies(i, &format!("250 2.0.0 Ok: queued as Q{i}"));
    }
    script += "quit";
    let (results, cap) = Session::new(&script).run(|client| client.send_many_bytes(&batch(5)));
    for (i, r) in results.iter().enumerate() {
        let report = r.as_ref().expect("delivered");
        assert_eq!(report.reply.text(), format!("Ok: queued as Q{i}"));
        assert_eq!(report.recipients.len(), 1);
    }
    assert_eq!(cap.bodies.len(), 5);
    assert!(cap.bodies.iter().all(|b| b == MESSAGE));
}

#[test]
fn refusals_inside_a_window_stay_with_their_message() {
    let mut script = String::from("hello PIPELINING, CHUNKING; ");
    for i in 0..4 {
        script += &bdat_commands(i);
    }
    script += "> 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 queued; ";
    // Message 2: its recipient refused, so its BDAT is refused too.
    script +=
        "> 250 2.0.0 Ok | 250 2.1.0 Ok | 550 5.1.1 no such user | 554 5.5.1 no valid recipients; ";
    // Message 3: the sender refused.
    script +=
        "> 250 2.0.0 Ok | 553 5.7.1 sender refused | 503 5.5.1 need MAIL | 503 5.5.1 need RCPT; ";
    script += "> 250 2.0.0 Ok | 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 queued; quit";
    let (results, _) = Session::new(&script).run(|client| client.send_many_bytes(&batch(4)));
    assert!(results[0].is_ok());
    match &results[1] {
        Err(Error::RecipientsRefused { refused }) => assert_eq!(refused[0].reply.code(), 550),
        other => panic!("{other:?}"),
    }
    match &results[2] {
        Err(Error::Rejected {
            phase: Phase::MailFrom,
            reply,
        }) => assert_eq!(reply.code(), 553),
        other => panic!("{other:?}"),
    }
    assert!(results[3].is_ok());
}

#[test]
fn a_421_in_the_middle_of_a_window() {
    let mut script = String::from("hello PIPELINING, CHUNKING; ");
    for i in 0..5 {
        script += &bdat_commands(i);
    }
    script += &bdat_replies(0, "250 2.0.0 queued");
    script += &bdat_replies(1, "250 2.0.0 queued");
    script += "> 421 4.7.0 too busy, closing; close";
    let (results, connected) = run_failing(&script, 5);
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    match &results[2] {
        Err(Error::Rejected {
            phase: Phase::Rset,
            reply,
        }) => assert_eq!(reply.code(), 421),
        other => panic!("{other:?}"),
    }
    // The server closed after its 421: nothing after it was taken.
    for r in &results[3..] {
        assert!(matches!(r, Err(Error::NotConnected(_))), "{r:?}");
    }
    assert!(!connected);
}

#[test]
fn a_drop_before_the_reply_to_bdat_last_leaves_those_messages_unknown() {
    let mut script = String::from("hello PIPELINING, CHUNKING; ");
    for i in 0..3 {
        script += &bdat_commands(i);
    }
    script += &bdat_replies(0, "250 2.0.0 queued");
    // Message 2: envelope accepted, then the connection drops.
    script += "> 250 2.0.0 Ok | 250 2.1.0 Ok | 250 2.1.5 Ok; close";
    let (results, connected) = run_failing(&script, 3);
    assert!(results[0].is_ok());
    // Both ends were written and never answered: they may have been
    // delivered, and say so.
    for r in &results[1..] {
        assert!(matches!(r, Err(Error::DeliveryUnknown { .. })), "{r:?}");
    }
    assert!(!connected);
}

#[test]
fn a_provider_rate_limit_at_message_50() {
    const N: usize = 60;
    let mut script = String::from("hello PIPELINING, CHUNKING; ");
    for i in 0..N {
        script += &bdat_commands(i);
    }
    for i in 0..N {
        if i < 49 {
            script += &bdat_replies(i, "250 2.0.0 queued");
        } else {
            script += "> 250 2.0.0 Ok | 451 4.7.1 too many messages, slow down | 503 5.5.1 need MAIL | 503 5.5.1 need RCPT; ";
        }
    }
    script += "quit";
    let (results, _) = Session::new(&script).run(|client| client.send_many_bytes(&batch(N)));
    assert!(results[..49].iter().all(Result::is_ok));
    for r in &results[49..] {
        match r {
            Err(
                e @ Error::Rejected {
                    phase: Phase::MailFrom,
                    reply,
                },
            ) => {
                assert_eq!(reply.code(), 451);
                assert!(e.is_transient(), "a 451 is worth retrying");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn with_pipelining_alone_the_next_envelope_goes_with_the_final_dot() {
    // The server reads message 2's envelope before it answers message 1's
    // final dot: the client did not wait for that reply.
    let script = "hello PIPELINING; \
        mail; rcpt; < DATA; > 250 2.1.0 Ok | 250 2.1.5 Ok | 354 go; body; \
        mail; rcpt; < DATA; > 250 2.0.0 queued 1 | 250 2.1.0 Ok | 250 2.1.5 Ok | 354 go; body; \
        mail; rcpt; < DATA; > 250 2.0.0 queued 2 | 250 2.1.0 Ok | 250 2.1.5 Ok | 354 go; body; \
        > 250 2.0.0 queued 3; quit";
    let (results, cap) = Session::new(script).run(|client| client.send_many_bytes(&batch(3)));
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            r.as_ref().expect("delivered").reply.text(),
            format!("queued {}", i + 1)
        );
    }
    assert_eq!(cap.bodies.len(), 3);
}

#[test]
fn a_body_that_fails_to_read_costs_only_its_own_message() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
    let script = "hello PIPELINING, CHUNKING; mail; rcpt; bdat; < RSET; mail; rcpt; bdat; \
        > 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 queued; \
        > 250 2.0.0 Ok | 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 queued; quit";
    let (results, _) = Session::new(script).run(|client| {
        let envelope = Envelope::new(FROM, [TO]).unwrap();
        let messages: Vec<(Envelope, Box<dyn std::io::Read>)> = vec![
            (envelope.clone(), Box::new(MESSAGE)),
            (envelope.clone(), Box::new(Failing)),
            (envelope, Box::new(MESSAGE)),
        ];
        client.send_many(messages)
    });
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(Error::BodyRead(_))),
        "{:?}",
        results[1]
    );
}

// ----- the real Postfix --------------------------------------------------------

fn real_batch(bed: &TestBed, chunking: bool, n: usize) {
    let marker = TestBed::unique_marker(if chunking { "batch-bdat" } else { "batch-data" });
    let config = bed
        .submission_config()
        .with_chunking(chunking)
        .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(60)));
    let mut client = Client::connect(config).expect("connect");
    assert!(client.capabilities().chunking, "Postfix offers CHUNKING");
    let from = format!("sender@{}", bed.domain);
    let to = format!("rcpt@{}", bed.domain);
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!(
                "From: <{from}>\r\nTo: <{to}>\r\nSubject: {marker} {i:04}\r\nMessage-ID: <{marker}-{i}@example.test>\r\n\r\nMessage {i} of a batch.\r\n"
            )
            .into_bytes()
        })
        .collect();
    let messages: Vec<(Envelope, Vec<u8>)> = bodies
        .into_iter()
        .map(|b| (Envelope::new(from.clone(), [to.clone()]).unwrap(), b))
        .collect();
    let results = client.send_many_bytes(&messages);
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "message {i}: {r:?}");
    }
    client.quit().expect("QUIT");
    bed.assert_each_once(&marker, n);
}

#[test]
fn postfix_takes_a_batch_of_300_with_bdat_each_once() {
    let Some(bed) = TestBed::get() else {
        eprintln!("SMTP_TESTBED_ENV not set: real-server test skipped");
        return;
    };
    real_batch(bed, true, 300);
}

#[test]
fn postfix_takes_composed_messages_in_one_batch() {
    let Some(bed) = TestBed::get() else {
        eprintln!("SMTP_TESTBED_ENV not set: real-server test skipped");
        return;
    };
    let marker = TestBed::unique_marker("batch-composed");
    let messages: Vec<smtp_core::Message> = (0..20)
        .map(|i| {
            let mut m = smtp_core::Message::new();
            m.from(&format!("Sender <sender@{}>", bed.domain))
                .unwrap()
                .to(&format!("Rcpt <rcpt@{}>", bed.domain))
                .unwrap()
                .subject(&format!("composed {i} — grüße"))
                .unwrap()
                // The marker, ASCII, in the body: readable in any encoding.
                .text(&format!("{marker} {i:04}\n你好.\n"));
            m
        })
        .collect();
    let mut client = Client::connect(bed.submission_config()).expect("connect");
    let results = client.send_many_messages(&messages);
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "message {i}: {r:?}");
    }
    client.quit().expect("QUIT");
    bed.assert_each_once(&marker, 20);
}

#[test]
fn postfix_takes_a_batch_of_100_with_data_each_once() {
    let Some(bed) = TestBed::get() else {
        eprintln!("SMTP_TESTBED_ENV not set: real-server test skipped");
        return;
    };
    real_batch(bed, false, 100);
}
