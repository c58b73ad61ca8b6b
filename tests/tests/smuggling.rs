//! SMTP smuggling: every known way of ending DATA early, hidden in a
//! message body, followed by a whole second transaction (MAIL, RCPT,
//! DATA, a message, QUIT) that a confused server would run.
//!
//! One table of payloads × the ways a body reaches the library (raw bytes,
//! raw through a reader that hands out 1-byte or odd-sized pieces so that
//! a CR and its LF arrive in different reads, raw with the envelope taken
//! from the headers, a composed text body, HTML body and attachment) ×
//! DATA and BDAT:
//!
//! * against the scripted server, the bytes on the wire: exactly one end of
//!   data (or one `BDAT n LAST`), no bare CR or LF anywhere, the content
//!   (un-stuffed) equal to the input with its line endings normalised, and
//!   no second MAIL FROM;
//! * against the real Postfix, on the port with `smtpd_forbid_bare_newline
//!   = yes` and on the plain port: exactly one message delivered per send,
//!   containing the whole payload text, and no other message.

use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use smtp_core::{Attachment, Envelope, Message, SendReport};
use smtp_tests::driver::Client;
use smtp_tests::scripted::{ScriptedServer, CLIENT_NAME};
use smtp_tests::skip::skipped;
use smtp_tests::support::{
    bare_line_breaks, data_content, envelope, mail_line, normalise, normalise_line_breaks,
    one_message_script, rcpt_line, Chunked, FROM, TO,
};
use smtp_tests::testbed::TestBed;

/// The early ends of data, by name.
const PAYLOADS: &[(&str, &[u8])] = &[
    ("LF.LF", b"\n.\n"),
    ("CRLF.LF", b"\r\n.\n"),
    ("LF.CRLF", b"\n.\r\n"),
    ("CR.CR", b"\r.\r"),
    ("CRLF.CR", b"\r\n.\r"),
    ("CR.CRLF", b"\r.\r\n"),
    ("LF.CR", b"\n.\r"),
    ("CR.LF", b"\r.\n"),
    ("CRCRLF.CRCRLF", b"\r\r\n.\r\r\n"),
    ("CRLF.CRLF", b"\r\n.\r\n"),
    ("CRLF..CRLF", b"\r\n..\r\n"),
    ("CRLF.NUL", b"\r\n.\0\r\n"),
];

/// How the body reaches the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// `send_bytes` with an explicit envelope.
    Bytes,
    /// `send_raw` with an envelope, one byte per read.
    OneByteReads,
    /// `send_raw` with an envelope, reads of 3, 5, 7 and 1 bytes.
    OddReads,
    /// `send_raw` without an envelope (taken from the headers), reads of 2.
    DerivedEnvelope,
    /// A composed message, the payload as its text body.
    ComposedText,
    /// A composed message, the payload as its HTML body.
    ComposedHtml,
    /// A composed message, the payload as a text/plain attachment.
    ComposedAttachment,
}

const INPUTS: [Input; 7] = [
    Input::Bytes,
    Input::OneByteReads,
    Input::OddReads,
    Input::DerivedEnvelope,
    Input::ComposedText,
    Input::ComposedHtml,
    Input::ComposedAttachment,
];

impl Input {
    fn composed(self) -> bool {
        matches!(
            self,
            Input::ComposedText | Input::ComposedHtml | Input::ComposedAttachment
        )
    }
}

/// A body with `sep` inside, followed by a whole smuggled transaction;
/// with `trailing`, the body ends with `sep` instead.
fn attack_body(sep: &[u8], marker: &str, trailing: bool) -> Vec<u8> {
    let mut body = format!("first line {marker}").into_bytes();
    body.extend_from_slice(sep);
    if !trailing {
        body.extend_from_slice(
            format!(
                "MAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<victim-{marker}@example.test>\r\n\
                 DATA\r\nSubject: smuggled {marker}\r\n\r\nsmuggled body {marker}\r\n.\r\n\
                 QUIT\r\nlast line {marker}\r\n"
            )
            .as_bytes(),
        );
    }
    body
}

fn raw_message(marker: &str, body: &[u8]) -> Vec<u8> {
    let mut raw =
        format!("From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: smuggle {marker}\r\n\r\n").into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn composed(input: Input, marker: &str, body: &[u8], to: &str) -> Message {
    let text = std::str::from_utf8(body).expect("ASCII payloads");
    let mut m = Message::new();
    m.from(FROM).unwrap().to(to).unwrap();
    m.subject(&format!("smuggle {marker}")).unwrap();
    match input {
        Input::ComposedText => {
            m.text(text);
        }
        Input::ComposedHtml => {
            m.html(text);
        }
        _ => {
            m.text(&format!("see the attachment {marker}\n"));
            m.attach(
                Attachment::bytes(body.to_vec())
                    .filename("payload.txt")
                    .content_type("text/plain"),
            )
            .unwrap();
        }
    }
    m
}

/// Sends `body` the way `input` says, to [`TO`] (raw) or `to` (composed).
fn send(
    client: &mut Client,
    input: Input,
    marker: &str,
    body: &[u8],
    env: &Envelope,
) -> smtp_core::Result<SendReport> {
    let raw = raw_message(marker, body);
    match input {
        Input::Bytes => client.send_bytes(env, &raw),
        Input::OneByteReads => client.send_raw(Some(env), &mut Chunked::new(&raw, &[1])),
        Input::OddReads => client.send_raw(Some(env), &mut Chunked::new(&raw, &[3, 5, 7, 1])),
        Input::DerivedEnvelope => client.send_raw(None, &mut Chunked::new(&raw, &[2])),
        _ => client.send_message(&composed(input, marker, body, &env.to()[0])),
    }
}

/// The payload as the composed message carries it, decoded.
fn composed_payload(input: Input, message: &[u8]) -> Result<Vec<u8>, String> {
    let parsed = MessageParser::default()
        .parse(message)
        .ok_or("the composed message does not parse")?;
    Ok(match input {
        Input::ComposedText => parsed
            .body_text(0)
            .ok_or("no text body")?
            .as_bytes()
            .to_vec(),
        Input::ComposedHtml => parsed
            .body_html(0)
            .ok_or("no HTML body")?
            .as_bytes()
            .to_vec(),
        _ => {
            let part = parsed.attachment(0).ok_or("no attachment")?;
            if part.attachment_name() != Some("payload.txt") {
                return Err(format!("attachment named {:?}", part.attachment_name()));
            }
            part.contents().to_vec()
        }
    })
}

/// Equal once both are normalised to CRLF and a final line break is
/// ignored (a composed body always ends its last line).
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let trim = |v: Vec<u8>| -> Vec<u8> {
        let mut v = v;
        while v.ends_with(b"\r\n") {
            v.truncate(v.len() - 2);
        }
        v
    };
    trim(normalise_line_breaks(a)) == trim(normalise_line_breaks(b))
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// One case against the scripted server; the problems found.
fn scripted_case(
    name: &str,
    sep: &[u8],
    trailing: bool,
    input: Input,
    chunking: bool,
) -> Vec<String> {
    let marker = format!("case-{name}");
    let body = attack_body(sep, &marker, trailing);
    let exts: &[&str] = if chunking { &["CHUNKING"] } else { &[] };
    let server = ScriptedServer::start(one_message_script(exts, FROM, &[TO], chunking));
    let mut client = Client::connect(server.config()).expect("connect");
    let sent = send(&mut client, input, &marker, &body, &envelope());
    let quit = client.quit();
    let cap = server.finish();
    let mut problems = Vec::new();
    if let Err(e) = &sent {
        problems.push(format!("send failed: {e}"));
    }
    if let Err(e) = &quit {
        problems.push(format!("QUIT failed: {e}"));
    }
    if !cap.errors.is_empty() {
        problems.push(format!("server: {:?}", cap.errors));
    }
    let end_line = cap.lines.get(3).cloned().unwrap_or_default();
    let ended_once = if chunking {
        end_line.starts_with("BDAT ") && end_line.ends_with(" LAST")
    } else {
        end_line == "DATA"
    };
    let expected_lines = [
        format!("EHLO {CLIENT_NAME}"),
        mail_line(FROM),
        rcpt_line(TO),
        end_line.clone(),
        "QUIT".into(),
    ];
    if !ended_once || cap.lines != expected_lines || cap.count_lines("MAIL FROM") != 1 {
        problems.push(format!("commands on the wire: {:?}", cap.lines));
    }
    let Some(wire) = cap.bodies.first() else {
        problems.push("no body read".into());
        return problems;
    };
    let content = if chunking {
        let bare = bare_line_breaks(wire);
        if !bare.is_empty() {
            problems.push(format!("bare CR/LF in the BDAT chunk at {bare:?}"));
        }
        wire.clone()
    } else {
        match data_content(wire) {
            Ok(content) => content,
            Err(e) => {
                problems.push(format!("DATA body: {e}: {}", show(wire)));
                return problems;
            }
        }
    };
    if input.composed() {
        match composed_payload(input, &content) {
            Ok(payload) if same_text(&payload, &body) => {}
            Ok(payload) => problems.push(format!(
                "decoded payload {} differs from {}",
                show(&payload),
                show(&body)
            )),
            Err(e) => problems.push(e),
        }
    } else {
        let expected = normalise(&raw_message(&marker, &body));
        if content != expected {
            problems.push(format!(
                "content {} differs from {}",
                show(&content),
                show(&expected)
            ));
        }
    }
    problems
}

fn scripted_table(chunking: bool) {
    let mut failures = Vec::new();
    let mut cases = 0;
    for &(name, sep) in PAYLOADS {
        for trailing in [false, true] {
            for input in INPUTS {
                cases += 1;
                for p in scripted_case(name, sep, trailing, input, chunking) {
                    failures.push(format!("{name} (trailing: {trailing}) via {input:?}: {p}"));
                }
            }
        }
    }
    assert_eq!(cases, PAYLOADS.len() * 2 * INPUTS.len());
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn early_ends_of_data_are_neutralised_on_the_wire_with_data() {
    scripted_table(false);
}

#[test]
fn early_ends_of_data_are_neutralised_on_the_wire_with_bdat() {
    scripted_table(true);
}

/// The split reader really splits: one byte per read puts every CR and its
/// LF in different reads (a self-check of the harness).
#[test]
fn split_reader_separates_cr_from_lf() {
    let raw = raw_message("x", &attack_body(b"\r\n.\r\n", "x", false));
    let mut reader = Chunked::new(&raw, &[1]);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut out).unwrap();
    assert_eq!(out, raw);
    assert_eq!(reader.reads, raw.len());
}

// ----- through the real Postfix ---------------------------------------------------

/// LF line endings, as Postfix stores messages.
fn lf(bytes: &[u8]) -> Vec<u8> {
    let crlf = normalise_line_breaks(bytes);
    let mut out = Vec::with_capacity(crlf.len());
    for (i, &b) in crlf.iter().enumerate() {
        if !(b == b'\r' && crlf.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// Every payload, trailing or not, through raw bytes, one-byte reads and
/// a composed text body, with DATA and (when offered) BDAT, on `port`.
fn through_postfix(bed: &TestBed, port: u16, tag: &str) {
    let to = format!("smuggle@{}", bed.domain);
    let env = Envelope::new(FROM, [to.as_str()]).unwrap();
    let inputs = [Input::Bytes, Input::OneByteReads, Input::ComposedText];
    let mut cases: Vec<(String, Vec<u8>, Input)> = Vec::new();
    let mut transfers = 0;
    for chunking in [false, true] {
        let mut client = Client::connect(bed.plain_config(port).with_chunking(chunking))
            .expect("connect to Postfix");
        if chunking && !client.capabilities().chunking {
            continue;
        }
        transfers += 1;
        for &(name, sep) in PAYLOADS {
            for trailing in [false, true] {
                for input in inputs {
                    let marker = TestBed::unique_marker(&format!("smuggle-{tag}"));
                    let body = attack_body(sep, &marker, trailing);
                    let report =
                        send(&mut client, input, &marker, &body, &env).unwrap_or_else(|e| {
                            panic!("{name} via {input:?} (chunking {chunking}): {e}")
                        });
                    assert!(report.all_accepted(), "{report:?}");
                    cases.push((marker, body, input));
                }
            }
        }
        client.quit().unwrap();
    }
    assert!(transfers >= 1);
    let wanted: Vec<(&str, usize)> = cases.iter().map(|(m, _, _)| (m.as_str(), 1)).collect();
    bed.wait_for_markers(&wanted, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    // Give a smuggled second message time to arrive, then count again.
    std::thread::sleep(Duration::from_secs(1));
    let found = bed
        .wait_for_markers(&wanted, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for ((marker, body, input), messages) in cases.iter().zip(&found) {
        if messages.len() != 1 {
            failures.push(format!("{marker}: {} messages", messages.len()));
            continue;
        }
        let delivered = TestBed::parse_delivered(&messages[0]);
        let whole = if *input == Input::ComposedText {
            composed_payload(*input, &delivered.as_sent)
                .map(|p| same_text(&p, body))
                .unwrap_or(false)
        } else {
            smtp_tests::support::contains(&delivered.as_sent, &lf(body))
        };
        if !whole {
            failures.push(format!(
                "{marker} via {input:?}: the payload {} is not whole in {}",
                show(body),
                show(&delivered.as_sent)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "{tag}: {} messages ({} transfer modes), each delivered once and whole",
        cases.len(),
        transfers
    );
}

#[test]
fn early_ends_of_data_through_postfix_forbidding_bare_newlines() {
    let Some(bed) = TestBed::get() else { return };
    let Some(port) = bed.port_strict else {
        return skipped("this Postfix has no smtpd_forbid_bare_newline (no strict port)");
    };
    through_postfix(bed, port, "strict");
}

#[test]
fn early_ends_of_data_through_postfix_plain_port() {
    let Some(bed) = TestBed::get() else { return };
    through_postfix(bed, bed.port_plain, "plain");
}
