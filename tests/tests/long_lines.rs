//! Lines over 998 octets (RFC 5322 2.1.1, RFC 5321 4.5.3.1.6): what goes
//! on the wire for a raw message that has one (the scripted server sees
//! every byte, through DATA and BDAT), what a real Postfix delivers (taken
//! apart by an independent MIME parser), and what is refused before
//! anything is sent.

use std::time::Duration;

use mail_parser::MessageParser;
use smtp_core::{Envelope, Error, LongLines};
use smtp_tests::driver::Client;
use smtp_tests::scripted::{expect, hello, reply, ScriptedServer, Step};
use smtp_tests::testbed::TestBed;

const FROM: &str = "sender@example.test";
const TO: &str = "rcpt@example.test";
const WAIT: Duration = Duration::from_secs(20);

/// One-line HTML, as PHP's mail() sends it: no MIME headers, LF endings.
fn one_line_html() -> String {
    let cells: String = (0..150).map(|i| format!("<td>cell {i}</td>")).collect();
    format!("<html><body><table><tr>{cells}</tr></table></body></html>")
}

fn php_mail_message(subject: &str, html: &str) -> String {
    format!("From: {FROM}\nTo: {TO}\nSubject: {subject}\n\n{html}\nbye\n")
}

fn longest_line(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0)
}

fn envelope() -> Envelope {
    Envelope::new(FROM, [TO]).unwrap()
}

fn quit() -> Vec<Step> {
    vec![
        expect("QUIT"),
        reply("221 2.0.0 Bye"),
        Step::ExpectClose(Duration::from_secs(3)),
    ]
}

/// The body of a message taken apart by mail-parser, with CRLF as LF.
fn decoded_text(raw: &[u8]) -> String {
    let parsed = MessageParser::default().parse(raw).expect("parses");
    parsed
        .body_text(0)
        .expect("a text body")
        .replace("\r\n", "\n")
}

#[test]
fn a_long_line_never_reaches_the_wire_through_data() {
    let html = one_line_html();
    assert!(html.len() > 2000);
    let message = php_mail_message("data", &html);
    let mut script = hello(&[]);
    script.extend([
        expect(&format!("MAIL FROM:<{FROM}>")),
        reply("250 Ok"),
        expect(&format!("RCPT TO:<{TO}>")),
        reply("250 Ok"),
        expect("DATA"),
        reply("354 go"),
        Step::ReadData,
        reply("250 2.0.0 queued"),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    client
        .send_raw(Some(&envelope()), &mut message.as_bytes())
        .unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let wire = &cap.bodies[0];
    assert!(longest_line(wire) <= 78, "{} octets", longest_line(wire));
    let text = String::from_utf8_lossy(wire);
    assert!(
        text.contains("MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
    );
    let unstuffed = wire.strip_suffix(b".\r\n").unwrap();
    assert_eq!(decoded_text(unstuffed), format!("{html}\nbye\n"));
}

#[test]
fn a_long_line_never_reaches_the_wire_through_bdat() {
    let words: String = (0..400).map(|i| format!(" word{i}")).collect();
    let message = format!(
        "From: {FROM}\r\nTo: {TO}\r\nSubject:{words}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Grüße {}\r\n",
        "ü".repeat(800)
    );
    let mut script = hello(&["PIPELINING", "CHUNKING", "8BITMIME", "SIZE 10000000"]);
    script.extend([
        expect(&format!("MAIL FROM:<{FROM}>")),
        expect(&format!("RCPT TO:<{TO}>")),
        Step::ReadBdat,
        reply("250 Ok"),
        reply("250 Ok"),
        reply("250 2.0.0 queued"),
    ]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    client.send_bytes(&envelope(), message.as_bytes()).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let wire = &cap.bodies[0];
    assert!(longest_line(wire) <= 998);
    // The Subject was folded (unfolding gives it back), the part re-encoded.
    let parsed = MessageParser::default().parse(wire).unwrap();
    assert_eq!(parsed.subject().unwrap().trim(), words.trim());
    assert_eq!(decoded_text(wire), format!("Grüße {}\n", "ü".repeat(800)));
    // SIZE declares what was sent, not the shorter message given.
    let mail = cap.lines.iter().find(|l| l.starts_with("MAIL")).unwrap();
    assert!(
        mail.contains(&format!("SIZE={} ", wire.len())),
        "{mail} for {} octets",
        wire.len()
    );
    assert!(wire.len() > message.len());
}

#[test]
fn refusing_sends_nothing_and_keeps_the_session() {
    let html = one_line_html();
    let message = php_mail_message("refuse", &html);
    let mut script = hello(&["PIPELINING", "SIZE 1000000"]);
    script.extend([expect("NOOP"), reply("250 2.0.0 Ok")]);
    script.extend(quit());
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config().with_long_lines(LongLines::Refuse)).unwrap();
    let err = client
        .send_raw(Some(&envelope()), &mut message.as_bytes())
        .unwrap_err();
    match &err {
        Error::InvalidInput { field, reason } => {
            assert_eq!(*field, "message");
            assert!(
                reason.starts_with("line 5 of the message is longer than 998 octets"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A long header line too (in repair mode it would be folded if it had
    // whitespace; see the unit tests).
    let token = format!(
        "From: {FROM}\r\nX-Token: {}\r\n\r\nhi\r\n",
        "t".repeat(1500)
    );
    let err = client
        .send_raw(Some(&envelope()), &mut token.as_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("line 2 of the message"), "{err}");
    assert!(client.is_connected());
    assert_eq!(client.noop().unwrap().code(), 250);
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert!(!cap.has_line("MAIL"), "{:?}", cap.lines);
}

#[test]
fn a_long_line_past_the_first_mebibyte_ends_the_transaction_undelivered() {
    // A text part held back while it might need re-encoding is at most
    // 1 MiB; a long line after that cannot be repaired, and the message,
    // already partly sent, must not be delivered: no final dot.
    let filler = "a short line of text\n".repeat(80_000);
    let message = format!(
        "From: {FROM}\nTo: {TO}\nSubject: big\n\n{filler}{}\nend\n",
        "x".repeat(1500)
    );
    let mut script = hello(&[]);
    script.extend([
        expect("MAIL FROM:"),
        reply("250 Ok"),
        expect("RCPT TO:"),
        reply("250 Ok"),
        expect("DATA"),
        reply("354 go"),
        Step::ReadToClose(Duration::from_secs(5)),
    ]);
    let server = ScriptedServer::start(script);
    let mut client = Client::connect(server.config()).unwrap();
    let err = client
        .send_raw(Some(&envelope()), &mut message.as_bytes())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("already sent"), "{err}");
    assert!(!client.is_connected());
    drop(client);
    let cap = server.finish();
    cap.assert_clean();
    let got = &cap.bodies[0];
    assert!(got.len() > 1024 * 1024, "{} octets", got.len());
    assert!(
        !got.windows(5).any(|w| w == b"\r\n.\r\n"),
        "the terminator was sent"
    );
    assert!(longest_line(got) <= 998);
}

#[test]
fn postfix_delivers_the_repaired_message() {
    let Some(bed) = TestBed::get() else {
        return;
    };
    let marker = TestBed::unique_marker("long-line");
    let domain = &bed.domain;
    let html = one_line_html();
    let message = format!(
        "From: sender@{domain}\nTo: long-lines@{domain}\nSubject: {marker}\n\n{html}\nbye\n"
    );
    let mut client = Client::connect(bed.plain_config(bed.port_plain)).expect("connect");
    client
        .send_raw(None, &mut message.as_bytes())
        .expect("send");
    client.quit().unwrap();
    let copy = bed.wait_for_message(&marker, WAIT).unwrap();
    let delivered = TestBed::parse_delivered(&copy);
    assert!(longest_line(&delivered.as_sent) <= 78);
    let text = String::from_utf8_lossy(&delivered.as_sent);
    assert!(
        text.contains("\nContent-Transfer-Encoding: quoted-printable\n"),
        "{text}"
    );
    assert_eq!(
        decoded_text(&delivered.as_sent_crlf()),
        format!("{html}\nbye\n")
    );

    // Refused: nothing is sent, and the same session delivers the next one.
    let refused = TestBed::unique_marker("long-line-refused");
    let mut client = Client::connect(
        bed.plain_config(bed.port_plain)
            .with_long_lines(LongLines::Refuse),
    )
    .expect("connect");
    let bad = message.replace(&marker, &refused);
    let err = client.send_raw(None, &mut bad.as_bytes()).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let fine = TestBed::unique_marker("long-line-after");
    let good =
        format!("From: sender@{domain}\nTo: long-lines@{domain}\nSubject: {fine}\n\nshort\n");
    client.send_raw(None, &mut good.as_bytes()).expect("send");
    client.quit().unwrap();
    bed.wait_for_message(&fine, WAIT).unwrap();
    assert!(
        bed.wait_for_message(&refused, Duration::from_millis(500))
            .is_err(),
        "the refused message was delivered"
    );
}
