//! Tests of raw messages: header block parsing, envelope derivation,
//! `Bcc` removal, added fields and line renumbering.

use std::time::{Duration, UNIX_EPOCH};

use super::*;

const RAW: &[u8] = b"From: Alice <alice@example.org>\r\n\
    To: bob@example.net,\r\n  \"Doe, Carol\" <carol@example.net>\r\n\
    Cc: undisclosed-recipients:;\r\n\
    Bcc: secret@example.com,\r\n\tBOB@EXAMPLE.NET\r\n\
    Subject: hi\r\n\
    BCC: also@example.com\r\n\
    \r\n\
    Bcc: not-a-header@example.com\r\nbody\r\n";

/// The whole prepared message.
fn prepared(input: &[u8], options: &RawOptions) -> Result<(Envelope, String)> {
    let mut m = RawMessage::read(input, options)?;
    let envelope = m.envelope().clone();
    let mut out = Vec::new();
    m.read_to_end(&mut out).unwrap();
    Ok((envelope, String::from_utf8(out).unwrap()))
}

/// A reader that gives one byte per call.
struct Slow<'a>(&'a [u8]);

impl Read for Slow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[0];
        self.0 = &self.0[1..];
        Ok(1)
    }
}

#[test]
fn derives_envelope() {
    let env = envelope_from_headers(RAW).unwrap();
    assert_eq!(env.from(), "alice@example.org");
    assert_eq!(
        env.to(),
        [
            "bob@example.net",
            "carol@example.net",
            "secret@example.com",
            "BOB@EXAMPLE.NET",
            "also@example.com"
        ]
    );
    let env = envelope_from_headers(b"From: a@x.org\nSender: s@x.org\nTo: t@y.org\n\n").unwrap();
    assert_eq!(env.from(), "s@x.org");
    assert!(envelope_from_headers(b"To: t@y.org\r\n\r\n").is_err());
    assert!(envelope_from_headers(b"From: a@x.org\r\n\r\nTo: b@y.org\r\n").is_err());
    assert!(envelope_from_headers(b"From: a@x.org\r\nTo: <b@y.org\r\n\r\n").is_err());
}

#[test]
fn strips_bcc_only_in_headers() {
    let mut out = Vec::new();
    StripBcc::new(RAW).read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("secret@"));
    assert!(!text.contains("also@"));
    assert!(text.contains("\r\n\r\nBcc: not-a-header@example.com\r\nbody\r\n"));
    assert!(text.starts_with("From: Alice <alice@example.org>\r\nTo: bob@example.net,\r\n  \"Doe"));
    assert!(text.contains("Cc: undisclosed-recipients:;\r\nSubject: hi\r\n\r\n"));
    // The same through RawMessage.
    let (_, text) = prepared(RAW, &RawOptions::new()).unwrap();
    assert!(!text.contains("secret@") && !text.contains("also@"));
    assert!(text.contains("\r\n\r\nBcc: not-a-header@example.com\r\nbody\r\n"));
}

#[test]
fn header_block_reading() {
    let read = |input: &[u8]| {
        let (head, rest) = Head::read(&mut &input[..], 100).unwrap();
        (String::from_utf8(head.bytes).unwrap(), head.separator, rest)
    };
    assert_eq!(
        read(b"A: 1\nB: 2\n\nbody"),
        ("A: 1\nB: 2\n".into(), true, b"body".to_vec())
    );
    assert_eq!(read(b"A: 1\r\n"), ("A: 1\r\n".into(), false, Vec::new()));
    assert_eq!(read(b"A: 1"), ("A: 1".into(), false, Vec::new()));
    assert_eq!(read(b"\r\nbody"), (String::new(), true, b"body".to_vec()));
    let big = vec![b'x'; 300];
    assert!(Head::read(&mut big.as_slice(), 100).is_err());
    let many = b"A: 1\r\n".repeat(50);
    assert!(Head::read(&mut many.as_slice(), 100).is_err());
    // One byte at a time.
    let mut slow = Slow(b"A: 1\r\nBcc: x@y\r\n\r\nrest");
    let (head, mut rest) = Head::read(&mut slow, 100).unwrap();
    assert_eq!(head.bytes, b"A: 1\r\nBcc: x@y\r\n");
    slow.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"rest", "read past the block, then left in the input");
    let mut out = Vec::new();
    StripBcc::new(Slow(b"A: 1\r\nBcc: x@y\r\n\r\nrest"))
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, b"A: 1\r\n\r\nrest");
}

#[test]
fn header_parsing_and_assembly() {
    let options = RawOptions::new().recipients_from_headers(true);
    let (env, out) = prepared(
        b"From me@x.example Mon Jan  1 00:00:00 2024\nFrom: me@x.example\nTo: a@x.example,\n b@x.example\nBcc: hidden@x.example\nSubject: hi\n\nbody\nBcc: kept\n",
        &options,
    )
    .unwrap();
    assert_eq!(env.to(), ["a@x.example", "b@x.example", "hidden@x.example"]);
    assert_eq!(
        out,
        "From: me@x.example\nTo: a@x.example,\n b@x.example\nSubject: hi\n\r\nbody\nBcc: kept\n"
    );
    let author = Mailbox::parse("a@b.example").unwrap();
    let complete = RawOptions::new()
        .recipients("r@x.example")
        .unwrap()
        .complete_headers(author)
        .at(UNIX_EPOCH);
    // No empty line: the first non-header line starts the body.
    let (_, out) = prepared(b"Subject: x\nthis is body\n", &complete).unwrap();
    assert!(
        out.starts_with("Subject: x\nFrom: a@b.example\r\nDate: "),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nthis is body\n"), "{out}");
    // No header at all.
    let (_, out) = prepared(b"just text\n", &complete).unwrap();
    assert!(out.starts_with("From: a@b.example\r\n"), "{out}");
    assert!(out.ends_with(">\r\n\r\njust text\n"), "{out}");
    // Empty message.
    let (env, out) = prepared(b"", &complete).unwrap();
    assert!(out.starts_with("From: a@b.example\r\n") && out.ends_with("\r\n\r\n"));
    assert_eq!(
        (env.from(), env.to()),
        ("a@b.example", &["r@x.example".to_string()][..])
    );
    // A group with nobody in it, a broken address.
    let (env, _) = prepared(
        b"From: f@x.example\nTo: undisclosed-recipients:;\n\nb\n",
        &complete,
    )
    .unwrap();
    assert_eq!(env.to(), ["r@x.example"]);
    assert!(prepared(
        b"From: f@x.example\nTo: <broken@x.example\n\nb\n",
        &complete
    )
    .is_err());
    // No recipient at all.
    match prepared(b"From: f@x.example\n\nb\n", &RawOptions::new()) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "recipients"),
        other => panic!("{:?}", other.map(|(e, _)| e)),
    }
}

#[test]
fn resent_fields_address_a_resent_message() {
    let input = b"From: orig@x.example\nTo: first@x.example\nResent-From: fwd@y.example\nResent-To: again@y.example\nResent-Bcc: quiet@y.example\nBcc: old@x.example\n\nbody\n";
    let (env, out) = prepared(input, &RawOptions::new()).unwrap();
    assert_eq!(env.from(), "fwd@y.example");
    assert_eq!(env.to(), ["again@y.example", "quiet@y.example"]);
    assert!(!out.contains("quiet@"), "{out}");
    // The original Bcc is history now: kept, not a recipient.
    assert!(out.contains("Bcc: old@x.example"), "{out}");
    // Options win over the headers.
    let options = RawOptions::new()
        .sender("Other <other@z.example>")
        .unwrap()
        .recipients_from_headers(false)
        .recipients("one@z.example, Two <two@z.example>")
        .unwrap();
    let (env, _) = prepared(input, &options).unwrap();
    assert_eq!(env.from(), "other@z.example");
    assert_eq!(env.to(), ["one@z.example", "two@z.example"]);
    let null = RawOptions::new().sender("<>").unwrap();
    assert_eq!(prepared(input, &null).unwrap().0.from(), "");
}

#[test]
fn line_numbers_of_the_input() {
    // 1 mbox line, 2 From, 3-4 To, 5 Bcc, 6 Subject, 7 empty, 8 body, 9 long.
    let input = b"From me Mon\nFrom: me@x.example\nTo: a@x.example,\n b@x.example\nBcc: h@x.example\nSubject: s\n\nbody\nlong\n";
    let author = Mailbox::parse("me@x.example").unwrap();
    let options = RawOptions::new().complete_headers(author.clone());
    let m = RawMessage::read(&input[..], &options).unwrap();
    // Sent: From, To, To, Subject, Date, Message-ID, empty, body, long.
    let input_lines: Vec<Option<u64>> = (1..=9).map(|n| m.lines.input_line(n)).collect();
    assert_eq!(
        input_lines,
        [
            Some(2),
            Some(3),
            Some(4),
            Some(6),
            None,
            None,
            Some(7),
            Some(8),
            Some(9)
        ]
    );
    assert_eq!(m.lines.input_line(0), None);
    // No empty line after the header: one is inserted.
    let m = RawMessage::read(
        &b"Subject: x\nbody\nlong\n"[..],
        &options.clone().recipients("r@x.example").unwrap(),
    )
    .unwrap();
    let input_lines: Vec<Option<u64>> = (1..=6).map(|n| m.lines.input_line(n)).collect();
    assert_eq!(input_lines, [Some(1), None, None, None, None, Some(2)]);
    // The library's refusal, renumbered; anything else kept.
    let refusal = |reason: &str| Error::InvalidInput {
        field: "message",
        reason: reason.into(),
    };
    let e = m.renumber(refusal(
        "line 7 of the message is longer than 998 octets and it cannot be folded",
    ));
    assert_eq!(
        e.to_string(),
        "invalid message: line 3 of the message is longer than 998 octets and it cannot be folded"
    );
    let e = m.renumber(refusal("line 2 of the message is longer"));
    assert_eq!(
        e.to_string(),
        "invalid message: line 2 of the message is longer"
    );
    let e = m.renumber(refusal("linear"));
    assert_eq!(e.to_string(), "invalid message: linear");
}

#[test]
fn added_headers() {
    let author = Mailbox {
        name: Some("Zoë Ünïcode".into()),
        address: "zoe@x.example".into(),
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let options = RawOptions::new().complete_headers(author).at(now);
    let (_, out) = prepared(b"To: a@y.example\n\nbody\n", &options).unwrap();
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "To: a@y.example\nFrom: =?UTF-8?B?Wm/DqyDDnG7Dr2NvZGU=?= <zoe@x.example>"
    );
    assert_eq!(lines[1], "Date: Tue, 14 Nov 2023 22:13:20 +0000");
    assert!(lines[2].starts_with("Message-ID: <") && lines[2].ends_with("@x.example>"));

    let (_, out) = prepared(
        b"From: Someone <s@other.example>\nTo: a@y.example\nDate: x\n\nbody\n",
        &options,
    )
    .unwrap();
    let added: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Message-ID") || l.starts_with("Date"))
        .collect();
    assert_eq!(added.len(), 2, "{out}");
    assert!(added[1].ends_with("@other.example>"), "{out}");
}

/// The `From:` field added for an author named `name` (folded lines kept).
fn added_from(name: &str) -> String {
    let author = Mailbox {
        name: Some(name.into()),
        address: "a@x.example".into(),
    };
    let options = RawOptions::new()
        .recipients("r@x.example")
        .unwrap()
        .complete_headers(author);
    let (_, out) = prepared(b"Subject: s\n\n", &options).unwrap();
    let start = out.find("From: ").unwrap();
    let end = out[start..].find("\r\nDate: ").unwrap();
    out[start..start + end].to_string()
}

#[test]
fn phrases() {
    assert_eq!(added_from("Cron Daemon"), "From: Cron Daemon <a@x.example>");
    assert_eq!(
        added_from("Doe, J. \"x\""),
        "From: \"Doe, J. \\\"x\\\"\" <a@x.example>"
    );
    let long = added_from(&"é".repeat(40));
    assert!(long.matches("=?UTF-8?").count() >= 2, "{long}");
    assert!(long.split("\r\n").all(|l| l.len() <= 78), "{long}");
}

#[test]
fn encoded_names_read_back_as_written() {
    for name in ["Zoë", "日本語の名前", "plain ascii", "quote \" and \\ back"] {
        let from = added_from(name);
        let value = from.strip_prefix("From: ").unwrap().replace("\r\n", "");
        let parsed = Mailbox::parse(&value).unwrap();
        assert_eq!(parsed.name.as_deref(), Some(name), "{value}");
        assert_eq!(parsed.address, "a@x.example");
    }
}

#[test]
fn envelopes_parse_as_written() {
    let e = Envelope::parse(
        "Me <me@bücher.example>",
        "a@x.example, B <b@bücher.example>",
    )
    .unwrap();
    assert_eq!(e.from(), "me@xn--bcher-kva.example");
    assert_eq!(e.to(), ["a@x.example", "b@xn--bcher-kva.example"]);
    assert_eq!(Envelope::parse(" <> ", "a@x.example").unwrap().from(), "");
    assert_eq!(Envelope::parse("", "a@x.example").unwrap().from(), "");
    assert!(Envelope::parse("a@x.example", "nodomain").is_err());
    assert!(Envelope::parse("a@x.example", "").is_err());
    // A UTF-8 local part stays as it is (it needs SMTPUTF8 to be sent).
    let e = Envelope::parse("", "zoë@x.example").unwrap();
    assert_eq!(e.to(), ["zoë@x.example"]);
}

#[test]
fn fields_added_when_missing() {
    let author = Mailbox::parse("Me <me@x.example>").unwrap();
    let options = RawOptions::new()
        .to_when_missing("You <you@y.example>, other@y.example")
        .unwrap()
        .subject_when_missing("Grüße")
        .unwrap()
        .complete_headers(author)
        .at(UNIX_EPOCH);
    let (env, out) = prepared(
        b"Content-Type: text/plain; charset=utf-8\n\nbody\n",
        &options,
    )
    .unwrap();
    assert!(out.starts_with("Content-Type: text/plain; charset=utf-8\nTo: You <you@y.example>, other@y.example\r\nSubject: =?UTF-8?"), "{out}");
    assert!(
        out.contains("\r\nMIME-Version: 1.0\r\nFrom: Me <me@x.example>\r\nDate: "),
        "{out}"
    );
    assert_eq!(env.from(), "me@x.example");
    assert_eq!(env.to(), ["you@y.example", "other@y.example"]);
    // Present fields win; an empty subject adds nothing.
    let options = RawOptions::new()
        .to_when_missing("you@y.example")
        .unwrap()
        .subject_when_missing("")
        .unwrap();
    let (_, out) = prepared(
        b"From: a@x.example\nTo: t@z.example\nMIME-Version: 1.0\n\nbody\n",
        &options,
    )
    .unwrap();
    assert_eq!(
        out,
        "From: a@x.example\nTo: t@z.example\nMIME-Version: 1.0\n\r\nbody\n"
    );
    assert!(RawOptions::new()
        .subject_when_missing("a\r\nBcc: x@y")
        .is_err());
    assert!(RawOptions::new().to_when_missing("not an address").is_err());
}

#[test]
fn local_recipients_are_resolved_in_the_envelope_only() {
    let input =
        b"From: cron@x.example\r\nTo: root, Web <www-data>\r\nCc: a@x.example\r\n\r\nbody\r\n";
    // Without a resolver: refused, naming the recipient.
    match RawMessage::read(&input[..], &RawOptions::new()) {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "local recipient");
            assert!(reason.contains("\"root\" has no domain"), "{reason}");
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted a recipient without a domain"),
    }
    let resolver = |name: &str| -> Result<Vec<String>> {
        match name {
            "root" => Ok(vec!["admin@x.example".into(), "admin@X.EXAMPLE".into()]),
            "www-data" | "postmaster" => Ok(vec![format!("{name}@x.example")]),
            _ => Err(Error::invalid(
                "local recipient",
                format!("{name}: unknown"),
            )),
        }
    };
    let options = RawOptions::new()
        .recipients("postmaster, b@x.example")
        .unwrap()
        .local_recipients(resolver);
    let (env, out) = prepared(input, &options).unwrap();
    assert_eq!(
        env.to(),
        [
            "admin@x.example",
            "www-data@x.example",
            "a@x.example",
            "postmaster@x.example",
            "b@x.example"
        ]
    );
    // The header is sent as written.
    assert!(
        out.starts_with("From: cron@x.example\r\nTo: root, Web <www-data>\r\n"),
        "{out}"
    );
    // A resolver's error fails the read.
    let options = RawOptions::new()
        .recipients_from_headers(false)
        .recipients("nobody")
        .unwrap()
        .local_recipients(resolver);
    assert!(prepared(input, &options).is_err());
    // Other bad addresses keep their own error.
    assert!(RawOptions::new().recipients("a b@").is_err());
    assert!(RawOptions::new().recipients("").is_err());
}
