//! CHUNKING (RFC 3030) and PIPELINING (RFC 2920) on the wire, against the
//! scripted server: what goes out in which write, how replies are matched,
//! and what happens when the server refuses or drops in the middle.

use std::io::{self, Read};
use std::time::Duration;

use smtp_core::{Envelope, Error, Phase, RecipientPolicy};
use smtp_tests::driver::Client;
use smtp_tests::scripted::{expect, hello, replies, reply, ScriptedServer, Step, CLIENT_NAME};

const FROM: &str = "sender@example.test";
const MESSAGE: &[u8] = b"Subject: chunked\r\n\r\n.a line starting with a dot\r\nbare LF\nend";
/// MESSAGE with line endings normalised and a final CRLF: what BDAT carries
/// (no dot-stuffing, no terminator).
const NORMALISED: &[u8] =
    b"Subject: chunked\r\n\r\n.a line starting with a dot\r\nbare LF\r\nend\r\n";

fn ehlo() -> String {
    format!("EHLO {CLIENT_NAME}")
}

fn mail() -> String {
    format!("MAIL FROM:<{FROM}> SIZE={}", MESSAGE.len())
}

fn hangup() -> Step {
    Step::ExpectClose(Duration::from_secs(3))
}

fn quit() -> Vec<Step> {
    vec![expect("QUIT"), reply("221 2.0.0 Bye"), hangup()]
}

fn envelope(to: &[&str]) -> Envelope {
    Envelope::new(FROM, to.iter().copied()).unwrap()
}

fn bdat_last() -> String {
    format!("BDAT {} LAST", NORMALISED.len())
}

#[test]
fn pipelined_bdat_sends_the_whole_message_in_one_flight() {
    let mut script = hello(&["PIPELINING", "CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<a@example.test>"),
        expect("RCPT TO:<b@example.test>"),
        expect(&bdat_last()),
        Step::ReadExact(NORMALISED.len()),
        // Nothing is answered until everything arrived: one round trip.
        replies(&[
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "250 2.0.0 queued as 1",
        ]),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    let report = client
        .send_bytes(&envelope(&["a@example.test", "b@example.test"]), MESSAGE)
        .unwrap();
    assert_eq!(report.reply.text(), "queued as 1");
    assert!(report.all_accepted());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [NORMALISED.to_vec()]);
}

#[test]
fn replies_merged_and_split_are_matched_in_order() {
    let mut script = hello(&["PIPELINING", "CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<a@example.test>"),
        expect(&bdat_last()),
        Step::ReadExact(NORMALISED.len()),
        Step::SendSlowly {
            bytes: b"250 2.1.0 Ok\r\n250-2.1.5 first\r\n250 2.1.5 Ok\r\n250 2.0.0 done\r\n"
                .to_vec(),
            pause: Duration::ZERO,
        },
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    let report = client
        .send_bytes(&envelope(&["a@example.test"]), MESSAGE)
        .unwrap();
    assert_eq!(report.recipients[0].reply.lines(), ["first", "Ok"]);
    assert_eq!(report.reply.text(), "done");
    client.quit().unwrap();
    server.finish().assert_clean();
}

#[test]
fn bdat_without_pipelining_waits_for_each_reply() {
    let mut script = hello(&["CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        Step::ExpectSilence(Duration::from_millis(100)),
        reply("250 2.1.0 Ok"),
        expect("RCPT TO:<a@example.test>"),
        Step::ExpectSilence(Duration::from_millis(100)),
        reply("250 2.1.5 Ok"),
        expect(&bdat_last()),
        Step::ReadExact(NORMALISED.len()),
        reply("250 2.0.0 Ok"),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    client
        .send_bytes(&envelope(&["a@example.test"]), MESSAGE)
        .unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [NORMALISED.to_vec()]);
}

#[test]
fn large_body_goes_in_several_chunks_and_only_the_last_says_last() {
    // 3 MiB of short lines: more than one 1 MiB chunk.
    let line = b"0123456789012345678901234567890123456789\n";
    let body: Vec<u8> = line.iter().copied().cycle().take(3 * 1024 * 1024).collect();
    // Each LF becomes CRLF, and the unterminated last line gets a CRLF.
    let mut normalised_len = body.len() + body.iter().filter(|&&b| b == b'\n').count();
    if !body.ends_with(b"\n") {
        normalised_len += 2;
    }
    const CHUNK: usize = 1024 * 1024;
    let full = normalised_len / CHUNK;
    let rest = normalised_len % CHUNK;
    assert!(full >= 2 && rest > 0);
    let mut script = hello(&["PIPELINING", "CHUNKING"]);
    script.extend([expect("MAIL FROM:"), expect("RCPT TO:")]);
    for i in 0..full {
        script.push(expect(&format!("BDAT {CHUNK}")));
        script.push(Step::ReadExact(CHUNK));
        if i == 0 {
            script.push(replies(&[
                "250 2.1.0 Ok",
                "250 2.1.5 Ok",
                "250 2.0.0 chunk",
            ]));
        } else {
            script.push(reply("250 2.0.0 chunk"));
        }
    }
    script.push(expect(&format!("BDAT {rest} LAST")));
    script.push(Step::ReadExact(rest));
    script.push(reply("250 2.0.0 queued"));
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    client
        .send(&envelope(&["a@example.test"]), &mut body.as_slice())
        .unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let total: usize = cap.bodies.iter().map(Vec::len).sum();
    assert_eq!(total, normalised_len);
    let bdat_lines: Vec<&String> = cap.lines.iter().filter(|l| l.starts_with("BDAT")).collect();
    assert_eq!(bdat_lines.len(), full + 1, "{bdat_lines:?}");
    assert!(bdat_lines[..full]
        .iter()
        .all(|l| *l == &format!("BDAT {CHUNK}")));
    let mut joined = Vec::new();
    for b in &cap.bodies {
        joined.extend_from_slice(b);
    }
    assert!(!joined.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
}

#[test]
fn refused_bdat_last_is_rejected_and_the_session_goes_on() {
    let mut script = hello(&["PIPELINING", "CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<a@example.test>"),
        expect(&bdat_last()),
        Step::ReadExact(NORMALISED.len()),
        replies(&["250 2.1.0 Ok", "250 2.1.5 Ok", "554 5.6.0 content refused"]),
        expect("MAIL FROM:"),
        expect("RCPT TO:"),
        expect("BDAT "),
        Step::ReadExact(NORMALISED.len()),
        replies(&["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 Ok"]),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    match client.send_bytes(&envelope(&["a@example.test"]), MESSAGE) {
        Err(Error::Rejected { phase, reply }) => {
            assert_eq!(phase, Phase::EndOfData);
            assert_eq!(reply.code(), 554);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    client
        .send_bytes(&envelope(&["a@example.test"]), MESSAGE)
        .unwrap();
    client.quit().unwrap();
    server.finish().assert_clean();
}

#[test]
fn every_recipient_refused_with_pipelined_bdat_resets() {
    let mut script = hello(&["PIPELINING", "CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<x@example.test>"),
        expect(&bdat_last()),
        Step::ReadExact(NORMALISED.len()),
        replies(&[
            "250 2.1.0 Ok",
            "550 5.1.1 no such user",
            "554 5.5.1 Error: no valid recipients",
        ]),
        expect("RSET"),
        reply("250 2.0.0 Ok"),
        expect("NOOP"),
        reply("250 2.0.0 Ok"),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    match client.send_bytes(&envelope(&["x@example.test"]), MESSAGE) {
        Err(Error::RecipientsRefused { refused }) => assert_eq!(refused[0].reply.code(), 550),
        other => panic!("expected RecipientsRefused, got {other:?}"),
    }
    client.noop().unwrap();
    client.quit().unwrap();
    server.finish().assert_clean();
}

#[test]
fn all_or_nothing_does_not_pipeline_the_body() {
    let mut script = hello(&["PIPELINING", "CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<a@example.test>"),
        expect("RCPT TO:<reject@example.test>"),
        // The body must not come before the RCPT replies.
        Step::ExpectSilence(Duration::from_millis(150)),
        replies(&["250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.1.1 no"]),
        expect("RSET"),
        reply("250 2.0.0 Ok"),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let config = server
        .config()
        .with_recipient_policy(RecipientPolicy::AllOrNothing);
    let mut client = Client::connect(config).unwrap();
    let err = client
        .send_bytes(
            &envelope(&["a@example.test", "reject@example.test"]),
            MESSAGE,
        )
        .unwrap_err();
    assert!(matches!(err, Error::RecipientsRefused { .. }), "{err:?}");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert!(cap.bodies.is_empty());
}

#[test]
fn drop_after_bdat_last_is_delivery_unknown() {
    let mut script = hello(&["PIPELINING", "CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<a@example.test>"),
        expect(&bdat_last()),
        Step::ReadExact(NORMALISED.len()),
        reply("250 2.1.0 Ok"),
        Step::Close,
    ]);
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    let err = client
        .send_bytes(&envelope(&["a@example.test"]), MESSAGE)
        .unwrap_err();
    assert!(matches!(err, Error::DeliveryUnknown { .. }), "{err:?}");
    assert!(!client.is_connected());
    server.finish().assert_clean();
}

struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("disk on fire"))
    }
}

#[test]
fn body_that_cannot_be_read_costs_nothing_with_bdat() {
    let mut script = hello(&["PIPELINING", "CHUNKING"]);
    script.extend([expect("NOOP"), reply("250 2.0.0 Ok")]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    let err = client
        .send(&envelope(&["a@example.test"]), &mut FailingReader)
        .unwrap_err();
    assert!(matches!(err, Error::BodyRead(_)), "{err:?}");
    // Nothing was sent, so the session is intact.
    client.noop().unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.lines, [ehlo(), "NOOP".into(), "QUIT".into()]);
}

#[test]
fn pipelining_without_chunking_sends_envelope_and_data_together() {
    let mut script = hello(&["PIPELINING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<a@example.test>"),
        expect("DATA"),
        replies(&["250 2.1.0 Ok", "250 2.1.5 Ok", "354 go"]),
        Step::ReadData,
        reply("250 2.0.0 Ok"),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config().with_chunking(true)).unwrap();
    client
        .send_bytes(&envelope(&["a@example.test"]), MESSAGE)
        .unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let mut dotted =
        b"Subject: chunked\r\n\r\n..a line starting with a dot\r\nbare LF\r\nend\r\n.\r\n".to_vec();
    assert_eq!(cap.bodies, [std::mem::take(&mut dotted)]);
}

#[test]
fn chunking_can_be_switched_off() {
    let mut script = hello(&["PIPELINING", "CHUNKING", "SIZE 1000000"]);
    script.extend([
        expect(&mail()),
        expect("RCPT TO:<a@example.test>"),
        expect("DATA"),
        replies(&["250 2.1.0 Ok", "250 2.1.5 Ok", "354 go"]),
        Step::ReadData,
        reply("250 2.0.0 Ok"),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config().with_chunking(false)).unwrap();
    client
        .send_bytes(&envelope(&["a@example.test"]), MESSAGE)
        .unwrap();
    client.quit().unwrap();
    server.finish().assert_clean();
}
