//! Composed messages through the real Postfix test bed (see
//! tests/testbed/), taken apart again by an independent MIME parser
//! (`mail-parser`): every header, part, file name and body byte must come
//! out as it went in.
//!
//! The first test needs no server: it parses the composed bytes directly,
//! under both encodings (7-bit only, and with 8BITMIME + SMTPUTF8).

use std::io::Write;
use std::time::Duration;

use mail_parser::{HeaderName, MessageParser, MimeHeaders};
use smtp_core::{Attachment, Config, EncodeOptions, Envelope, Message, Security};
use smtp_tests::driver::Client;
use smtp_tests::testbed::TestBed;

const WAIT: Duration = Duration::from_secs(20);

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

fn plain_config(bed: &TestBed) -> Config {
    Config::new(bed.host.clone(), bed.port_plain)
        .with_security(Security::None)
        .with_client_name("client.example.test")
        .with_password(bed.user.clone(), bed.password.clone())
        .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(30)))
}

const SUBJECT_PREFIX: &str = "季度报告 — Квартальный отчёт 🎉";
const FROM_NAME: &str = "Zoë 🎉 Example";
const RUSSIAN: &str = "Здравствуйте!\nЭто тестовое письмо на русском языке.\nС уважением,\nЗоя\n";
const HTML: &str = "<html><body><p>Привет, <b>мир</b>! 你好！</p>\
                    <p><img src=\"cid:logo@example.test\" alt=\"logo\"></p></body></html>\n";
const CHINESE_FILE: &str = "季度报告 2024（最终版）.pdf";
const BINARY_FILE: &str = "all-bytes.bin";
const LOGO: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR not really a png \xff\xfe";

fn all_bytes() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}

fn long_line() -> String {
    // 5000 characters, no spaces, so nothing can break it but the encoding.
    (0..5000).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

fn text_body() -> String {
    format!("{RUSSIAN}{}\nend.\n", long_line())
}

fn pdf_bytes() -> Vec<u8> {
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec()
}

struct Composed {
    message: Message,
    subject: String,
    message_id: String,
}

fn compose(domain: &str, marker: &str, attachment_path: Option<&std::path::Path>) -> Composed {
    let subject = format!("{SUBJECT_PREFIX} {marker}");
    let message_id = format!("{marker}@{domain}");
    let mut m = Message::new();
    m.from(&format!("{FROM_NAME} <sender@{domain}>"))
        .unwrap()
        .to(&format!(
            "rcpt-to@{domain}, \"Doe, Jane\" <jane@{domain}>, 张三 <zhang@{domain}>"
        ))
        .unwrap()
        .cc(&format!("Карл <cc-carl@{domain}>"))
        .unwrap()
        .bcc(&format!("Hidden Person <bcc-hidden@{domain}>"))
        .unwrap()
        .reply_to(&format!("Help Desk <help@{domain}>"))
        .unwrap()
        .subject(&subject)
        .unwrap()
        .message_id(&message_id)
        .unwrap()
        .in_reply_to(&format!("<parent-{marker}@{domain}>"))
        .unwrap()
        .header("X-Compose-Test", "Grüße — 测试")
        .unwrap();
    m.text(&text_body()).html(HTML);
    m.attach_bytes(CHINESE_FILE, pdf_bytes()).unwrap();
    m.attach(
        Attachment::bytes(all_bytes())
            .filename(BINARY_FILE)
            .content_type("application/octet-stream"),
    )
    .unwrap();
    m.inline(
        "logo@example.test",
        Attachment::bytes(LOGO.to_vec()).filename("logo.png"),
    )
    .unwrap();
    if let Some(path) = attachment_path {
        m.attach(Attachment::file(path).filename("大文件.dat"))
            .unwrap();
    }
    Composed {
        message: m,
        subject,
        message_id,
    }
}

fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// Parses `raw` with mail-parser and checks every field and part against
/// what [`compose`] put in.
fn check_parsed(raw: &[u8], composed: &Composed, domain: &str, big: Option<&[u8]>) {
    // The standard headers parsed as usual, and every other header decoded
    // as unstructured text (RFC 2047).
    let parsed = MessageParser::new()
        .with_mime_headers()
        .with_date_headers()
        .with_address_headers()
        .with_message_ids()
        .header_text(HeaderName::Subject)
        .default_header_text()
        .parse(raw)
        .expect("mail-parser could not parse the message");
    assert_eq!(parsed.subject(), Some(composed.subject.as_str()));
    assert_eq!(parsed.message_id(), Some(composed.message_id.as_str()));

    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some(FROM_NAME));
    assert_eq!(from.address(), Some(format!("sender@{domain}").as_str()));

    let to: Vec<(Option<&str>, Option<&str>)> = parsed
        .to()
        .unwrap()
        .iter()
        .map(|a| (a.name(), a.address()))
        .collect();
    let want_to = [
        (None, format!("rcpt-to@{domain}")),
        (Some("Doe, Jane"), format!("jane@{domain}")),
        (Some("张三"), format!("zhang@{domain}")),
    ];
    assert_eq!(to.len(), want_to.len(), "{to:?}");
    for ((name, address), (want_name, want_address)) in to.iter().zip(&want_to) {
        assert_eq!(name, want_name);
        assert_eq!(*address, Some(want_address.as_str()));
    }
    let cc = parsed.cc().unwrap().first().unwrap();
    assert_eq!(cc.name(), Some("Карл"));
    assert_eq!(cc.address(), Some(format!("cc-carl@{domain}").as_str()));
    let reply_to = parsed.reply_to().unwrap().first().unwrap();
    assert_eq!(reply_to.name(), Some("Help Desk"));

    // Bcc: in no header, and the address nowhere in the message.
    assert!(parsed.bcc().is_none());
    assert!(parsed
        .headers()
        .iter()
        .all(|h| !h.name().eq_ignore_ascii_case("bcc")));
    assert!(!raw.windows(10).any(|w| w == b"bcc-hidden"));
    assert!(!raw.windows(6).any(|w| w == b"Hidden"));

    let custom = parsed
        .header("X-Compose-Test")
        .and_then(|v| v.as_text())
        .unwrap();
    assert_eq!(custom, "Grüße — 测试");
    assert!(parsed.date().is_some());
    let in_reply_to = parsed.in_reply_to().as_text().unwrap();
    assert!(in_reply_to.starts_with("parent-"), "{in_reply_to}");

    // Bodies.
    assert_eq!(lf(&parsed.body_text(0).unwrap()), text_body());
    assert_eq!(lf(&parsed.body_html(0).unwrap()), HTML);

    // Attachments, by file name.
    let mut seen = Vec::new();
    for part in parsed.attachments() {
        let name = part.attachment_name().unwrap_or("").to_string();
        let ct = part.content_type().unwrap();
        let mime = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
        match name.as_str() {
            CHINESE_FILE => {
                assert_eq!(mime, "application/pdf");
                assert_eq!(part.contents(), pdf_bytes());
                // The RFC 2047 fallback in Content-Type names it too.
                assert_eq!(ct.attribute("name"), Some(CHINESE_FILE));
                assert!(part.content_disposition().unwrap().is_attachment());
            }
            BINARY_FILE => {
                assert_eq!(part.contents(), all_bytes());
                assert_eq!(part.content_transfer_encoding(), Some("base64"));
            }
            "logo.png" => {
                assert_eq!(mime, "image/png");
                assert_eq!(part.contents(), LOGO);
                let cid = part.content_id().unwrap();
                assert_eq!(cid.trim_matches(['<', '>']), "logo@example.test");
                assert!(part.content_disposition().unwrap().is_inline());
            }
            "大文件.dat" => assert_eq!(Some(part.contents()), big),
            other => panic!("unexpected attachment {other:?} ({mime})"),
        }
        seen.push(name);
    }
    seen.sort();
    let mut want = vec![
        CHINESE_FILE.to_string(),
        BINARY_FILE.to_string(),
        "logo.png".to_string(),
    ];
    if big.is_some() {
        want.push("大文件.dat".to_string());
    }
    want.sort();
    assert_eq!(seen, want);
}

/// Every line of the delivered or composed message is within 998 octets.
fn assert_line_limits(raw: &[u8]) {
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(line.len() <= 998, "a line of {} octets", line.len());
    }
}

#[test]
fn composed_message_parses_with_an_independent_parser() {
    for options in [
        EncodeOptions::default(),
        EncodeOptions {
            allow_8bit: true,
            smtputf8: true,
        },
    ] {
        let composed = compose("example.test", "offline-marker", None);
        let raw = composed.message.to_bytes(&options).unwrap();
        assert_line_limits(&raw);
        if !options.allow_8bit {
            assert!(raw.is_ascii(), "7-bit message has 8-bit bytes");
        }
        check_parsed(&raw, &composed, "example.test", None);
    }
}

#[test]
fn composed_message_round_trip_through_postfix() {
    let bed = bed!();
    let marker = TestBed::unique_marker("compose");
    let composed = compose(&bed.domain, &marker, None);
    let mut client = Client::connect(plain_config(bed)).expect("connect");
    let caps = client.capabilities().clone();
    assert!(caps.eight_bit_mime && caps.smtputf8);
    let report = client.send_message(&composed.message).expect("send");
    assert!(report.all_accepted());
    let recipients: Vec<&str> = report
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    let domain = &bed.domain;
    assert_eq!(
        recipients,
        [
            format!("rcpt-to@{domain}"),
            format!("jane@{domain}"),
            format!("zhang@{domain}"),
            format!("cc-carl@{domain}"),
            format!("bcc-hidden@{domain}"),
        ]
    );
    client.quit().unwrap();

    // One delivery per recipient, the Bcc recipient included.
    let copies = bed
        .wait_for_messages(&marker, 5, WAIT)
        .unwrap_or_else(|e| panic!("not delivered: {e}"));
    let mut delivered_to = Vec::new();
    for raw in &copies {
        let delivered = TestBed::parse_delivered(raw);
        assert_eq!(
            delivered.envelope_from.as_deref(),
            Some(format!("sender@{domain}").as_str())
        );
        delivered_to.extend(delivered.delivered_to.clone());
        assert_line_limits(&delivered.as_sent);
        check_parsed(&delivered.as_sent, &composed, domain, None);
        // The server got 8bit text parts (it offers 8BITMIME).
        let text = String::from_utf8_lossy(&delivered.as_sent);
        assert!(text.contains("Content-Transfer-Encoding: 8bit"));
    }
    assert!(
        delivered_to.contains(&format!("bcc-hidden@{domain}")),
        "{delivered_to:?}"
    );
}

#[test]
fn seven_bit_encoding_through_postfix() {
    // The same message as a server without 8BITMIME would get it: quoted-
    // printable and base64 only, all ASCII on the wire.
    let bed = bed!();
    let marker = TestBed::unique_marker("compose7");
    let composed = compose(&bed.domain, &marker, None);
    let options = EncodeOptions::default();
    let envelope = composed.message.envelope(&options).unwrap();
    let mut reader = composed.message.reader(&options).unwrap();
    assert!(!reader.uses_8bit());
    let mut client = Client::connect(plain_config(bed)).expect("connect");
    client.send(&envelope, &mut reader).expect("send");
    client.quit().unwrap();
    let raw = bed
        .wait_for_message(&marker, WAIT)
        .unwrap_or_else(|e| panic!("not delivered: {e}"));
    let delivered = TestBed::parse_delivered(&raw);
    assert!(delivered.as_sent.is_ascii());
    check_parsed(&delivered.as_sent, &composed, &bed.domain, None);
}

#[test]
fn file_attachment_streams_through_postfix() {
    let bed = bed!();
    let marker = TestBed::unique_marker("compose-file");
    let dir = std::env::temp_dir().join(format!("compose-real-{marker}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.dat");
    // 3 MB of varied bytes.
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let composed = compose(&bed.domain, &marker, Some(&path));
    let mut client = Client::connect(plain_config(bed)).expect("connect");
    client.send_message(&composed.message).expect("send");
    client.quit().unwrap();
    let copies = bed
        .wait_for_messages(&marker, 5, WAIT)
        .unwrap_or_else(|e| panic!("not delivered: {e}"));
    let delivered = TestBed::parse_delivered(&copies[0]);
    check_parsed(&delivered.as_sent, &composed, &bed.domain, Some(&data));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn raw_message_with_derived_envelope_strips_bcc() {
    let bed = bed!();
    let marker = TestBed::unique_marker("raw-t");
    let domain = &bed.domain;
    let raw = format!(
        "From: Legacy App <sender@{domain}>\r\n\
         To: raw-to@{domain}\r\n\
         Cc: \"Copy, Person\" <raw-cc@{domain}>\r\n\
         Bcc: raw-bcc@{domain},\r\n raw-bcc2@{domain}\r\n\
         Subject: {marker}\r\n\
         Message-ID: <{marker}@{domain}>\r\n\
         \r\n\
         Bcc: this line is body text, not a header\r\n\
         bye\r\n"
    );
    let mut client = Client::connect(plain_config(bed)).expect("connect");
    let report = client
        .send_raw(None, &mut raw.as_bytes())
        .expect("send_raw");
    let recipients: Vec<&str> = report
        .recipients
        .iter()
        .map(|r| r.address.as_str())
        .collect();
    assert_eq!(
        recipients,
        [
            format!("raw-to@{domain}"),
            format!("raw-cc@{domain}"),
            format!("raw-bcc@{domain}"),
            format!("raw-bcc2@{domain}"),
        ]
    );
    client.quit().unwrap();
    let copies = bed
        .wait_for_messages(&marker, 4, WAIT)
        .unwrap_or_else(|e| panic!("not delivered: {e}"));
    let mut delivered_to = Vec::new();
    for copy in &copies {
        let delivered = TestBed::parse_delivered(copy);
        delivered_to.extend(delivered.delivered_to.clone());
        let text = String::from_utf8(delivered.as_sent.clone()).unwrap();
        assert!(!text.contains("raw-bcc"), "{text}");
        let want = raw
            .replace(
                &format!("Bcc: raw-bcc@{domain},\r\n raw-bcc2@{domain}\r\n"),
                "",
            )
            .replace("\r\n", "\n");
        assert_eq!(text, want);
    }
    assert!(delivered_to.contains(&format!("raw-bcc2@{domain}")));

    // With an explicit envelope the bytes go out untouched.
    let marker = TestBed::unique_marker("raw-env");
    let raw = format!("From: sender@{domain}\r\nSubject: {marker}\r\n\r\nexplicit\r\n");
    let envelope = Envelope::new(
        format!("sender@{domain}"),
        [format!("raw-explicit@{domain}")],
    )
    .unwrap();
    let mut client = Client::connect(plain_config(bed)).expect("connect");
    client
        .send_raw(Some(&envelope), &mut raw.as_bytes())
        .expect("send_raw");
    client.quit().unwrap();
    let copy = bed.wait_for_message(&marker, WAIT).unwrap();
    let delivered = TestBed::parse_delivered(&copy);
    assert_eq!(delivered.as_sent, raw.replace("\r\n", "\n").into_bytes());
}

#[test]
fn international_addresses_through_postfix() {
    let bed = bed!();
    let marker = TestBed::unique_marker("utf8-addr");
    let domain = &bed.domain;
    let mut m = Message::new();
    m.from(&format!("Отправитель <sender@{domain}>"))
        .unwrap()
        .to(&format!("Пользователь <пользователь@{domain}>"))
        .unwrap()
        .subject(&format!("UTF-8 address {marker}"))
        .unwrap();
    m.text("Привет\n");
    let mut client = Client::connect(plain_config(bed)).expect("connect");
    // The bed offers SMTPUTF8: the UTF-8 local part is allowed.
    let report = client.send_message(&m).expect("send");
    assert_eq!(
        report.recipients[0].address,
        format!("пользователь@{domain}")
    );
    client.quit().unwrap();
    let copy = bed.wait_for_message(&marker, WAIT).unwrap();
    let delivered = TestBed::parse_delivered(&copy);
    let parsed = MessageParser::default().parse(&delivered.as_sent).unwrap();
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(to.name(), Some("Пользователь"));
    assert_eq!(
        to.address(),
        Some(format!("пользователь@{domain}").as_str())
    );
    assert_eq!(lf(&parsed.body_text(0).unwrap()), "Привет\n");
}
