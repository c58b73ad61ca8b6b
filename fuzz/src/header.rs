//! Header encoding: a message whose subject, custom header value, display
//! name, custom header name and text body come from the input.
//!
//! Input fields (separated by 0xFF): subject, `X-Fuzz` value, a display
//! name for a `To:` mailbox, a custom header name, the text body. Whatever
//! the message becomes: CRLF line endings only, no line over 998 octets,
//! ASCII only unless 8BITMIME / SMTPUTF8 are on, no header field the
//! caller did not ask for (no injection), and the subject, the custom
//! value and the display name decode back to what was given. A name with
//! a comma makes `To` a list: every element a valid mailbox, the same one
//! `parse_list` gives, and `parse` agrees with it.

use std::time::{Duration, UNIX_EPOCH};

use smtp_core::message::{decode_encoded_words, domain_to_ascii, MAX_LINE};
use smtp_core::{EncodeOptions, Mailbox, Message};

use crate::util::{crlf_only, fields};

/// The fields this library writes itself for a single-part message.
const OWN_FIELDS: [&str; 8] = [
    "Date",
    "From",
    "To",
    "Subject",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// The header target.
pub fn check(data: &[u8]) {
    let parts = fields(data);
    let text = |i: usize| String::from_utf8_lossy(parts.get(i).copied().unwrap_or(b""));
    let (subject, value, name, custom, body) = (text(0), text(1), text(2), text(3), text(4));

    // Arbitrary text never panics the decoder.
    let _ = decode_encoded_words(&subject);

    let mut m = Message::new();
    m.from("Fuzz Sender <sender@example.org>").expect("from");
    m.to("rcpt@example.net").expect("to");
    m.date(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let subject_ok = m.subject(&subject).is_ok();
    let value_ok = m.header("X-Fuzz", &value).is_ok();
    // A name with a comma makes a list (`a@x.org, <other@example.net>`):
    // to() takes exactly what parse_list takes, every element a valid
    // mailbox, and parse takes it only when the list is of one.
    let mailbox_text = format!("{name} <other@example.net>");
    let listed = Mailbox::parse_list(&mailbox_text);
    let named = match m.to(&mailbox_text) {
        Ok(_) => {
            let list = listed.expect("to() accepted it, so parse_list must");
            for mailbox in &list {
                crate::address::check_mailbox(mailbox);
            }
            match Mailbox::parse(&mailbox_text) {
                Ok(one) => assert_eq!(list, [one], "parse and parse_list differ"),
                Err(e) => assert_ne!(list.len(), 1, "parse refused a list of one: {e}"),
            }
            Some(list)
        }
        Err(e) => {
            assert!(listed.is_err(), "to() refused what parse_list takes: {e}");
            None
        }
    };
    // Names with a setter of their own would change the fields checked
    // below; they are the setters' business.
    let routed = [
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "message-id",
        "in-reply-to",
        "references",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(custom.trim()));
    let custom_ok = !custom.is_empty() && !routed && m.header(&custom, "custom value").is_ok();
    m.text(&body);

    let plain = EncodeOptions::default();
    let wide = EncodeOptions {
        allow_8bit: true,
        smtputf8: true,
    };
    for options in [plain, wide] {
        let Ok(bytes) = m.to_bytes(&options) else {
            continue;
        };
        assert!(crlf_only(&bytes), "bare CR or LF");
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            assert!(line.len() <= MAX_LINE, "a line of {} octets", line.len());
        }
        if !options.allow_8bit {
            assert!(bytes.is_ascii(), "8-bit bytes without 8BITMIME");
        }
        let end = crate::util::find(&bytes, b"\r\n\r\n").expect("a header block") + 2;
        let head = std::str::from_utf8(&bytes[..end]).expect("headers are UTF-8");

        // Unfolded fields, in order.
        let mut unfolded: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n").filter(|l| !l.is_empty()) {
            if line.starts_with([' ', '\t']) {
                let last = unfolded.last_mut().expect("a continuation after a field");
                last.1.push_str(line);
            } else {
                let (n, v) = line.split_once(':').expect("a field has a colon");
                unfolded.push((n.to_owned(), v.to_owned()));
            }
        }
        for (n, _) in &unfolded {
            let known = OWN_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(n))
                || (value_ok && n == "X-Fuzz")
                || (custom_ok && n.eq_ignore_ascii_case(&custom));
            assert!(known, "unexpected header field {n:?}");
        }
        let count = |f: &str| unfolded.iter().filter(|(n, _)| n == f).count();
        for f in ["Date", "From", "To", "Message-ID", "MIME-Version"] {
            assert_eq!(count(f), 1, "{f} appears {} times", count(f));
        }
        let get = |f: &str| {
            unfolded
                .iter()
                .find(|(n, _)| n == f)
                .map(|(_, v)| v.strip_prefix(' ').unwrap_or(v).to_owned())
        };
        if subject_ok {
            let want = decode_encoded_words(&subject)
                .trim_matches([' ', '\t'])
                .to_owned();
            let got = get("Subject").expect("a Subject field");
            assert_eq!(decode_encoded_words(&got), want, "Subject round trip");
        }
        if value_ok {
            let want = decode_encoded_words(&value)
                .trim_matches([' ', '\t'])
                .to_owned();
            let got = get("X-Fuzz").expect("an X-Fuzz field");
            assert_eq!(decode_encoded_words(&got), want, "X-Fuzz round trip");
        }
        if let Some(named) = &named {
            // rcpt@example.net, then what to() added, in order: the same
            // names, local parts and (IDNA) domains.
            let to = get("To").expect("a To field");
            let list = Mailbox::parse_list(&to).expect("our own To field parses");
            assert_eq!(list.len(), 1 + named.len(), "mailboxes in {to:?}");
            for (got, want) in list[1..].iter().zip(named) {
                assert_eq!(got.name, want.name, "display name round trip in {to:?}");
                let local = |m: &Mailbox| m.address.rsplit_once('@').map(|(l, _)| l.to_owned());
                assert_eq!(local(got), local(want), "local part round trip in {to:?}");
                let domain = |m: &Mailbox| domain_to_ascii(m.domain()).expect("a valid domain");
                assert!(
                    domain(got).eq_ignore_ascii_case(&domain(want)),
                    "domain round trip in {to:?}"
                );
            }
        }
    }
}
