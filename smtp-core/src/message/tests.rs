//! Whole-message tests: structure, encodings, header injection in every
//! field, envelopes, and streaming a 100 MB attachment.

use std::io::{Read, Write};
use std::time::{Duration, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::encode::tests::qp_decode;
use super::*;

const PLAIN: EncodeOptions = EncodeOptions {
    allow_8bit: false,
    smtputf8: false,
};
const EIGHT: EncodeOptions = EncodeOptions {
    allow_8bit: true,
    smtputf8: true,
};

// ----- a small MIME reader for checking the output ---------------------

/// A parsed entity: unfolded headers and the decoded body or children.
#[derive(Debug)]
struct Entity {
    headers: Vec<(String, String)>,
    raw_body: Vec<u8>,
    children: Vec<Entity>,
}

impl Entity {
    fn parse(bytes: &[u8]) -> Entity {
        let split = find(bytes, b"\r\n\r\n").map(|i| i + 4);
        let (head, body) = match split {
            Some(i) => (&bytes[..i - 2], &bytes[i..]),
            None if bytes.starts_with(b"\r\n") => (&b""[..], &bytes[2..]),
            None => panic!("no blank line in {:?}", String::from_utf8_lossy(bytes)),
        };
        let head = String::from_utf8(head.to_vec()).unwrap();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n").filter(|l| !l.is_empty()) {
            if line.starts_with([' ', '\t']) {
                headers.last_mut().unwrap().1.push_str(line);
            } else {
                let (n, v) = line.split_once(':').unwrap();
                headers.push((n.to_string(), v.trim_start().to_string()));
            }
        }
        let mut e = Entity {
            headers,
            raw_body: body.to_vec(),
            children: Vec::new(),
        };
        if e.mime().starts_with("multipart/") {
            let boundary = e.param("Content-Type", "boundary").unwrap();
            let delim = format!("--{boundary}");
            let body = &e.raw_body;
            assert!(body.starts_with(delim.as_bytes()), "no first delimiter");
            let close = format!("\r\n--{boundary}--\r\n");
            assert!(body.ends_with(close.as_bytes()), "no close delimiter");
            let inner = &body[delim.len() + 2..body.len() - close.len()];
            let sep = format!("\r\n--{boundary}\r\n");
            let mut children = Vec::new();
            let mut rest = inner;
            loop {
                match find(rest, sep.as_bytes()) {
                    Some(i) => {
                        children.push(Entity::parse(&rest[..i]));
                        rest = &rest[i + sep.len()..];
                    }
                    None => {
                        children.push(Entity::parse(rest));
                        break;
                    }
                }
            }
            for child in &children {
                assert!(
                    find(&child.raw_body, boundary.as_bytes()).is_none()
                        || child.mime().starts_with("multipart/")
                );
            }
            e.children = children;
        }
        e
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn mime(&self) -> String {
        self.header("Content-Type")
            .unwrap_or("text/plain")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_string()
    }

    fn param(&self, header: &str, name: &str) -> Option<String> {
        let value = self.header(header)?;
        for part in value.split(';').skip(1) {
            let (n, v) = part.trim().split_once('=')?;
            if n.eq_ignore_ascii_case(name) {
                return Some(v.trim_matches('"').to_string());
            }
        }
        None
    }

    /// RFC 2231 value (with continuations) of a parameter.
    fn param_2231(&self, header: &str, name: &str) -> Option<String> {
        let value = self.header(header)?;
        let mut sections: Vec<(usize, String)> = Vec::new();
        for part in value.split(';').skip(1) {
            let (n, v) = part.trim().split_once('=')?;
            let n = n.trim();
            if n == name {
                return Some(v.trim_matches('"').to_string());
            }
            let Some(rest) = n.strip_prefix(&format!("{name}*")) else {
                continue;
            };
            let index = rest.trim_end_matches('*').parse().unwrap_or(0);
            let v = v.strip_prefix("utf-8''").unwrap_or(v);
            sections.push((index, v.to_string()));
        }
        if sections.is_empty() {
            return None;
        }
        sections.sort();
        let joined: String = sections.into_iter().map(|(_, s)| s).collect();
        Some(
            percent_encoding::percent_decode_str(&joined)
                .decode_utf8()
                .unwrap()
                .into_owned(),
        )
    }

    fn decoded(&self) -> Vec<u8> {
        match self.header("Content-Transfer-Encoding").unwrap_or("7bit") {
            "base64" => {
                let joined: Vec<u8> = self
                    .raw_body
                    .iter()
                    .copied()
                    .filter(|b| !b"\r\n".contains(b))
                    .collect();
                BASE64.decode(joined).unwrap()
            }
            "quoted-printable" => qp_decode(&self.raw_body),
            _ => self.raw_body.clone(),
        }
    }

    fn tree(&self) -> String {
        if self.children.is_empty() {
            self.mime()
        } else {
            let inner: Vec<String> = self.children.iter().map(Entity::tree).collect();
            format!("{}[{}]", self.mime(), inner.join(","))
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Every line is CRLF-terminated and at most 998 octets.
fn assert_wire_form(bytes: &[u8]) {
    assert!(bytes.ends_with(b"\r\n"));
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if i > 0 || !line.is_empty() {
            let content = line.strip_suffix(b"\r").unwrap_or(line);
            assert!(
                content.len() <= MAX_LINE,
                "line {i} has {} octets",
                content.len()
            );
            assert!(!content.contains(&b'\r'), "bare CR in line {i}");
        }
    }
    // Header lines are folded at 76.
    let head_end = find(bytes, b"\r\n\r\n").unwrap();
    for line in bytes[..head_end].split(|&b| b == b'\n') {
        assert!(
            line.len() <= FOLD_AT + 1,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

fn basic() -> Message {
    let mut m = Message::new();
    m.from("Alice <alice@example.org>")
        .unwrap()
        .to("bob@example.net")
        .unwrap()
        .subject("Hello")
        .unwrap()
        .date(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    m
}

fn render(m: &Message, options: &EncodeOptions) -> (Vec<u8>, Entity) {
    let bytes = m.to_bytes(options).unwrap();
    assert_wire_form(&bytes);
    let e = Entity::parse(&bytes);
    (bytes, e)
}

// ----- tests -----------------------------------------------------------

#[test]
fn plain_text_message() {
    let mut m = basic();
    m.text("Hi Bob,\nsee you.\n.dot line\n");
    let (bytes, e) = render(&m, &PLAIN);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Hello\r\nMessage-ID: <"));
    assert_eq!(e.header("MIME-Version"), Some("1.0"));
    assert_eq!(e.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(e.header("Content-Transfer-Encoding"), Some("7bit"));
    assert_eq!(e.raw_body, b"Hi Bob,\r\nsee you.\r\n.dot line\r\n");
    let id = e.header("Message-ID").unwrap();
    assert_eq!(id, m.current_message_id().unwrap());
    assert!(id.starts_with('<') && id.ends_with("@example.org>"), "{id}");
    // The same message renders the same id twice; another message differs.
    assert_eq!(
        Entity::parse(&m.to_bytes(&PLAIN).unwrap()).header("Message-ID"),
        Some(id)
    );
    assert_ne!(basic().current_message_id().unwrap(), id);
}

#[test]
fn message_ids_are_unique() {
    let ids: std::collections::HashSet<String> = (0..1000)
        .map(|_| basic().current_message_id().unwrap())
        .collect();
    assert_eq!(ids.len(), 1000);
}

#[test]
fn current_date_by_default() {
    let mut m = Message::new();
    m.from("a@x.org").unwrap().to("b@y.org").unwrap();
    let (_, e) = render(&m, &PLAIN);
    let date = e.header("Date").unwrap();
    let year: u32 = date.split(' ').nth(3).unwrap().parse().unwrap();
    assert!(year >= 2024, "{date}");
    assert!(date.ends_with(" +0000"));
}

#[test]
fn no_from_is_an_error() {
    let mut m = Message::new();
    m.to("b@y.org").unwrap();
    assert!(matches!(
        m.to_bytes(&PLAIN),
        Err(Error::InvalidInput { field: "from", .. })
    ));
    assert!(m.envelope(&PLAIN).is_err());
}

#[test]
fn empty_body_and_undisclosed_recipients() {
    let mut m = Message::new();
    m.from("a@x.org").unwrap().bcc("hidden@y.org").unwrap();
    let (bytes, e) = render(&m, &PLAIN);
    assert_eq!(e.header("To"), Some("undisclosed-recipients:;"));
    assert!(e.raw_body.is_empty() || e.raw_body == b"\r\n");
    assert!(find(&bytes, b"hidden").is_none());
    assert_eq!(m.envelope(&PLAIN).unwrap().to(), ["hidden@y.org"]);
}

#[test]
fn bcc_is_never_in_the_headers() {
    let mut m = basic();
    m.cc("Carol <carol@example.net>")
        .unwrap()
        .bcc("secret1@example.com, Secret Two <secret2@example.com>")
        .unwrap()
        .header("BCC", "secret3@example.com")
        .unwrap()
        .text("body");
    for options in [PLAIN, EIGHT] {
        let (bytes, e) = render(&m, &options);
        assert!(e.header("Bcc").is_none());
        for needle in [&b"secret"[..], b"Secret", b"Bcc", b"BCC"] {
            assert!(find(&bytes, needle).is_none());
        }
    }
    let env = m.envelope(&PLAIN).unwrap();
    assert_eq!(env.from(), "alice@example.org");
    assert_eq!(
        env.to(),
        [
            "bob@example.net",
            "carol@example.net",
            "secret1@example.com",
            "secret2@example.com",
            "secret3@example.com"
        ]
    );
}

#[test]
fn envelope_derivation_dedup_and_override() {
    let mut m = basic();
    m.cc("BOB@EXAMPLE.NET, bob@Example.Net, x@y.org").unwrap();
    m.bcc("x@Y.ORG").unwrap();
    m.sender("Bulk <bulk@lists.example.org>").unwrap();
    let env = m.envelope(&PLAIN).unwrap();
    assert_eq!(env.from(), "bulk@lists.example.org");
    assert_eq!(env.to(), ["bob@example.net", "BOB@EXAMPLE.NET", "x@y.org"]);
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.header("Sender"), Some("Bulk <bulk@lists.example.org>"));
    assert!(e
        .header("Message-ID")
        .unwrap()
        .ends_with("@lists.example.org>"));

    m.envelope_from("<bounces@example.org>").unwrap();
    m.envelope_to("only@example.net").unwrap();
    let env = m.envelope(&PLAIN).unwrap();
    assert_eq!(env.from(), "bounces@example.org");
    assert_eq!(env.to(), ["only@example.net"]);
    m.envelope_from("").unwrap();
    assert_eq!(m.envelope(&PLAIN).unwrap().from(), "");
}

/// Every setter refuses CR, LF, CRLF and NUL with InvalidInput naming the
/// field, and the message is left without the evil text.
#[test]
fn header_injection_in_every_field() {
    type Setter = fn(&mut Message, &str) -> Result<()>;
    let cases: Vec<(&str, Setter)> = vec![
        ("from", |m, v| m.from(&format!("a@x.org{v}")).map(drop)),
        ("from", |m, v| {
            m.from(&format!("Na{v}me <a@x.org>")).map(drop)
        }),
        ("sender", |m, v| m.sender(&format!("s@x.org{v}")).map(drop)),
        ("to", |m, v| m.to(&format!("b@y.org{v}")).map(drop)),
        ("to", |m, v| m.to(&format!("\"B{v}\" <b@y.org>")).map(drop)),
        ("cc", |m, v| m.cc(&format!("c@y.org, d@y.org{v}")).map(drop)),
        ("bcc", |m, v| m.bcc(&format!("e@y.org{v}")).map(drop)),
        ("reply-to", |m, v| {
            m.reply_to(&format!("r@y.org{v}")).map(drop)
        }),
        ("subject", |m, v| m.subject(&format!("Hi{v}")).map(drop)),
        ("header name", |m, v| {
            m.header(&format!("X-A{v}"), "v").map(drop)
        }),
        ("header value", |m, v| {
            m.header("X-A", &format!("v{v}")).map(drop)
        }),
        ("to", |m, v| {
            m.header("To", &format!("b@y.org{v}")).map(drop)
        }),
        ("attachment file name", |m, v| {
            m.attach_bytes(&format!("a{v}.txt"), vec![1]).map(drop)
        }),
        ("content type", |m, v| {
            m.attach(
                Attachment::bytes(vec![1])
                    .filename("a.bin")
                    .content_type(&format!("text/plain{v}")),
            )
            .map(drop)
        }),
        ("content type", |m, v| {
            m.attach(
                Attachment::bytes(vec![1])
                    .filename("a.bin")
                    .content_type(&format!("text/plain; charset=\"a{v}\"")),
            )
            .map(drop)
        }),
        ("content id", |m, v| {
            m.inline(
                &format!("logo{v}"),
                Attachment::bytes(vec![1]).content_type("image/png"),
            )
            .map(drop)
        }),
        ("attachment file name", |m, v| {
            m.inline(
                "logo",
                Attachment::bytes(vec![1]).filename(&format!("l{v}.png")),
            )
            .map(drop)
        }),
        ("message id", |m, v| {
            m.message_id(&format!("<a{v}@b>")).map(drop)
        }),
        ("in-reply-to", |m, v| {
            m.in_reply_to(&format!("<a@b>{v}")).map(drop)
        }),
        ("references", |m, v| {
            m.references(&format!("<a@b> {v}<c@d>")).map(drop)
        }),
        ("envelope sender", |m, v| {
            m.envelope_from(&format!("a@x.org{v}")).map(drop)
        }),
        ("envelope recipient", |m, v| {
            m.envelope_to(&format!("a@x.org{v}")).map(drop)
        }),
    ];
    for evil in [
        "\r",
        "\n",
        "\r\n",
        "\0",
        "\r\nBcc: evil@evil.example",
        "\nX-Evil: 1",
    ] {
        for (field, set) in &cases {
            let mut m = basic();
            let err = set(&mut m, evil).expect_err(&format!("{field} {evil:?}"));
            match err {
                Error::InvalidInput { field: f, .. } => assert_eq!(&f, field, "{evil:?}"),
                other => panic!("{field} {evil:?}: {other:?}"),
            }
            let bytes = m.to_bytes(&PLAIN).unwrap();
            assert!(find(&bytes, b"evil").is_none() && find(&bytes, b"Evil").is_none());
        }
    }
    // attach_file: the display name.
    let dir = temp_dir("inject");
    let path = dir.join("f.txt");
    std::fs::write(&path, b"x").unwrap();
    let mut m = basic();
    for evil in ["a\r\nb", "a\nb", "a\0b"] {
        assert!(matches!(
            m.attach(Attachment::file(&path).filename(evil)),
            Err(Error::InvalidInput {
                field: "attachment file name",
                ..
            })
        ));
        assert!(matches!(
            m.attach(Attachment::file(&path).content_type(&format!("text/plain{evil}"))),
            Err(Error::InvalidInput {
                field: "content type",
                ..
            })
        ));
    }
    // Encoded words that decode to a line break are refused too.
    assert!(matches!(
        m.subject("=?utf-8?Q?a=0D=0ABcc=3A_x=40y.org?="),
        Err(Error::InvalidInput {
            field: "subject",
            ..
        })
    ));
    assert!(matches!(
        m.header("X-A", "=?utf-8?B?YQ0KQmNjOiB4QHkub3Jn?="),
        Err(Error::InvalidInput {
            field: "header value",
            ..
        })
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn reserved_and_routed_headers() {
    let mut m = basic();
    for name in [
        "Date",
        "MIME-Version",
        "content-type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "Content-ID",
        "Return-Path",
    ] {
        assert!(matches!(
            m.header(name, "x"),
            Err(Error::InvalidInput {
                field: "header name",
                ..
            })
        ));
    }
    m.header("Cc", "c@y.org").unwrap();
    m.header("Reply-To", "Help <help@x.org>").unwrap();
    m.header("Subject", "routed").unwrap();
    m.header("Message-ID", "<fixed@x.org>").unwrap();
    m.header("X-Mailer", "smtp-core").unwrap();
    m.header("X-Tag", "one")
        .unwrap()
        .header("X-Tag", "two")
        .unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.header("Cc"), Some("c@y.org"));
    assert_eq!(e.header("Reply-To"), Some("Help <help@x.org>"));
    assert_eq!(e.header("Subject"), Some("routed"));
    assert_eq!(e.header("Message-ID"), Some("<fixed@x.org>"));
    assert_eq!(e.header("X-Mailer"), Some("smtp-core"));
    let tags: Vec<&str> = e
        .headers
        .iter()
        .filter(|(n, _)| n == "X-Tag")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(tags, ["one", "two"]);
}

#[test]
fn message_id_references_and_in_reply_to() {
    let mut m = basic();
    m.message_id("abc.123@example.org").unwrap();
    m.in_reply_to("<p1@x.org>").unwrap();
    m.references("<p0@x.org> <p1@x.org>,p2@x.org").unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.header("Message-ID"), Some("<abc.123@example.org>"));
    assert_eq!(e.header("In-Reply-To"), Some("<p1@x.org>"));
    assert_eq!(
        e.header("References"),
        Some("<p0@x.org> <p1@x.org> <p2@x.org>")
    );
    for bad in ["", "no-at", "<a@b", "a b@c", "<a@b> <c@d>", "a@b@c"] {
        assert!(m.message_id(bad).is_err(), "{bad:?}");
    }
    let many: Vec<String> = (0..100)
        .map(|i| format!("<ref{i}.long-id-part@example.org>"))
        .collect();
    m.references(&many.join(" ")).unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(
        e.header("References").unwrap().replace(' ', ""),
        many.join("")
    );
}

#[test]
fn international_subject_names_and_idna() {
    let subject = "季度报告 — Квартальный отчёт 🎉 with a long tail of words to force folding";
    let mut m = Message::new();
    m.from("Zoë 🎉 Müller <zoe@bücher.example>")
        .unwrap()
        .to("\"Doe, Jane\" <jane@例子.中国>, 张三 <zhang@example.cn>")
        .unwrap()
        .subject(subject)
        .unwrap()
        .header("X-Note", "Grüße aus Köln")
        .unwrap()
        .text("x");
    let (bytes, e) = render(&m, &PLAIN);
    let head_end = find(&bytes, b"\r\n\r\n").unwrap();
    assert!(bytes[..head_end].is_ascii());
    assert_eq!(decode_encoded_words(e.header("Subject").unwrap()), subject);
    assert_eq!(
        decode_encoded_words(e.header("X-Note").unwrap()),
        "Grüße aus Köln"
    );
    let from = e.header("From").unwrap();
    assert!(from.ends_with("<zoe@xn--bcher-kva.example>"), "{from}");
    assert_eq!(
        decode_encoded_words(from.trim_end_matches(" <zoe@xn--bcher-kva.example>")),
        "Zoë 🎉 Müller"
    );
    let to = e.header("To").unwrap();
    assert!(to.contains("<jane@xn--fsqu00a.xn--fiqs8s>"), "{to}");
    assert!(e
        .header("Message-ID")
        .unwrap()
        .ends_with("@xn--bcher-kva.example>"));
    let env = m.envelope(&PLAIN).unwrap();
    assert_eq!(env.from(), "zoe@xn--bcher-kva.example");
    assert_eq!(
        env.to(),
        ["jane@xn--fsqu00a.xn--fiqs8s", "zhang@example.cn"]
    );
    assert!(!env.needs_smtputf8());
}

#[test]
fn utf8_local_part_needs_smtputf8() {
    let mut m = basic();
    m.to("用户@例子.中国").unwrap().text("hi");
    assert!(matches!(
        m.to_bytes(&PLAIN),
        Err(Error::Unsupported {
            extension: "SMTPUTF8",
            ..
        })
    ));
    assert!(matches!(
        m.envelope(&PLAIN),
        Err(Error::Unsupported {
            extension: "SMTPUTF8",
            ..
        })
    ));
    let options = EncodeOptions {
        allow_8bit: false,
        smtputf8: true,
    };
    let (_, e) = render(&m, &options);
    assert_eq!(e.header("To"), Some("bob@example.net, 用户@例子.中国"));
    let env = m.envelope(&options).unwrap();
    assert!(env.needs_smtputf8());
    assert_eq!(env.to()[1], "用户@例子.中国");
}

#[test]
fn text_and_html_alternative() {
    let text = "Привет!\nЭто письмо на русском языке.\n";
    let html = "<p>Привет!</p>\n<p>Это <b>письмо</b>.</p>\n";
    let mut m = basic();
    m.text(text).html(html);
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.tree(), "multipart/alternative[text/plain,text/html]");
    let canon = |s: &str| s.replace('\n', "\r\n").into_bytes();
    assert_eq!(e.children[0].decoded(), canon(text));
    assert_eq!(e.children[1].decoded(), canon(html));
    assert_eq!(
        e.children[0].header("Content-Transfer-Encoding"),
        Some("base64")
    );
    assert_eq!(
        e.children[1].param("Content-Type", "charset").as_deref(),
        Some("utf-8")
    );
    // With 8BITMIME the same parts go as 8bit, and the envelope says so.
    let (_, e) = render(&m, &EIGHT);
    assert_eq!(
        e.children[0].header("Content-Transfer-Encoding"),
        Some("8bit")
    );
    assert_eq!(e.children[0].raw_body, canon(text));
    assert!(m.reader(&EIGHT).unwrap().uses_8bit());
    assert!(format!("{:?}", m.envelope(&EIGHT).unwrap()).contains("eight_bit: true"));
    assert!(format!("{:?}", m.envelope(&PLAIN).unwrap()).contains("eight_bit: false"));
}

#[test]
fn transfer_encoding_per_part() {
    let cases = [
        ("plain ascii\n", PLAIN, "7bit"),
        (
            "café crème brûlée, mostly ascii text here\n",
            PLAIN,
            "quoted-printable",
        ),
        ("café\n", EIGHT, "8bit"),
        ("你好世界，这是中文。\n", PLAIN, "base64"),
        ("tab\tand NUL \0 inside\n", EIGHT, "quoted-printable"),
    ];
    for (text, options, expected) in cases {
        let mut m = basic();
        m.text(text);
        let (_, e) = render(&m, &options);
        assert_eq!(
            e.header("Content-Transfer-Encoding"),
            Some(expected),
            "{text:?}"
        );
        assert_eq!(e.decoded(), text.replace('\n', "\r\n").into_bytes());
    }
}

#[test]
fn line_of_5000_characters() {
    for line in [
        "a".repeat(5000),
        "é".repeat(5000),
        format!("{}\u{1F600}", "b".repeat(4999)),
    ] {
        for options in [PLAIN, EIGHT] {
            let mut m = basic();
            let text = format!("start\n{line}\nend\n");
            m.text(&text).html(&format!("<p>{line}</p>"));
            let (bytes, e) = render(&m, &options);
            for part in &e.children {
                let cte = part.header("Content-Transfer-Encoding").unwrap();
                assert!(cte == "quoted-printable" || cte == "base64", "{cte}");
            }
            assert_eq!(
                e.children[0].decoded(),
                text.replace('\n', "\r\n").into_bytes()
            );
            for l in bytes.split(|&b| b == b'\n') {
                assert!(l.len() <= 78, "{}", l.len());
            }
        }
    }
}

#[test]
fn attachments_and_inline_parts() {
    let binary: Vec<u8> = (0..=255u8).collect();
    let mut m = basic();
    m.text("see attached")
        .html("<p>logo: <img src=\"cid:logo@example.org\"></p>");
    m.attach_bytes("数据 report (final).bin", binary.clone())
        .unwrap();
    m.attach_bytes("notes.txt", b"line one\r\nline two\r\n".to_vec())
        .unwrap();
    m.attach_bytes("unix.txt", b"bare\nlf\n".to_vec()).unwrap();
    m.attach_bytes("doc.pdf", b"%PDF-1.4".to_vec()).unwrap();
    m.attach_bytes("x.unknownext", vec![0; 10]).unwrap();
    m.attach(
        Attachment::bytes(vec![0xe9, b'\r', b'\n'])
            .filename("c.csv")
            .content_type("text/csv; charset=\"iso-8859-1\""),
    )
    .unwrap();
    m.inline(
        "<logo@example.org>",
        Attachment::bytes(vec![0x89, b'P', b'N', b'G', 0, 1]).filename("logo.png"),
    )
    .unwrap();
    assert!(m
        .inline(
            "logo@example.org",
            Attachment::bytes(vec![]).content_type("image/png")
        )
        .is_err());
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(
        e.tree(),
        "multipart/mixed[multipart/alternative[text/plain,multipart/related[text/html,image/png]],\
         application/octet-stream,text/plain,text/plain,application/pdf,application/octet-stream,text/csv]"
    );
    let related = &e.children[0].children[1];
    assert_eq!(
        related.param("Content-Type", "type").as_deref(),
        Some("text/html")
    );
    let img = &related.children[1];
    assert_eq!(img.header("Content-ID"), Some("<logo@example.org>"));
    assert!(img
        .header("Content-Disposition")
        .unwrap()
        .starts_with("inline"));
    assert_eq!(img.decoded(), [0x89, b'P', b'N', b'G', 0, 1]);

    let bin = &e.children[1];
    assert_eq!(bin.header("Content-Transfer-Encoding"), Some("base64"));
    assert_eq!(bin.decoded(), binary);
    assert!(bin
        .header("Content-Disposition")
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(
        bin.param_2231("Content-Disposition", "filename").as_deref(),
        Some("数据 report (final).bin")
    );
    let name = bin
        .header("Content-Type")
        .unwrap()
        .split_once("name=\"")
        .unwrap()
        .1;
    assert_eq!(
        decode_encoded_words(name.trim_end_matches('"')),
        "数据 report (final).bin"
    );

    let notes = &e.children[2];
    assert_eq!(notes.header("Content-Transfer-Encoding"), Some("7bit"));
    assert_eq!(notes.decoded(), b"line one\r\nline two\r\n");
    assert_eq!(
        notes.param("Content-Disposition", "filename").as_deref(),
        Some("notes.txt")
    );
    // Bare LF in an attachment: base64 keeps the bytes exact.
    assert_eq!(
        e.children[3].header("Content-Transfer-Encoding"),
        Some("base64")
    );
    assert_eq!(e.children[3].decoded(), b"bare\nlf\n");
    assert_eq!(e.children[4].decoded(), b"%PDF-1.4");
    let csv = &e.children[6];
    assert_eq!(
        csv.param("Content-Type", "charset").as_deref(),
        Some("iso-8859-1")
    );
    assert_eq!(csv.decoded(), [0xe9, b'\r', b'\n']);
}

#[test]
fn inline_without_html_goes_to_mixed() {
    let mut m = basic();
    m.text("t");
    m.inline(
        "a",
        Attachment::bytes(vec![1, 2, 3]).content_type("image/gif"),
    )
    .unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.tree(), "multipart/mixed[text/plain,image/gif]");
    let mut m = basic();
    m.attach_bytes("only.bin", vec![7]).unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.tree(), "multipart/mixed[application/octet-stream]");
    let mut m = basic();
    m.html("<p>only html</p>");
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.tree(), "text/html");
}

#[test]
fn content_types() {
    let mut m = basic();
    for bad in [
        "",
        "text",
        "text/",
        "te xt/plain",
        "multipart/mixed",
        "message/rfc822",
        "text/plain; charset",
        "text/plain; charset=a b",
        "text/plain; \"x",
    ] {
        assert!(
            m.attach(Attachment::bytes(vec![]).filename("a").content_type(bad))
                .is_err(),
            "{bad:?}"
        );
    }
    m.attach_bytes("mail.eml", b"x".to_vec()).unwrap();
    m.attach(
        Attachment::bytes(vec![1])
            .filename("a")
            .content_type("Image/PNG"),
    )
    .unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.children[0].mime(), "application/octet-stream");
    assert_eq!(e.children[1].mime(), "image/png");
}

#[test]
fn file_names() {
    let mut m = basic();
    for bad in ["", "/", "dir/", ".."] {
        assert!(m.attach_bytes(bad, vec![]).is_err(), "{bad:?}");
    }
    assert!(m.attach_bytes(&"x".repeat(256), vec![]).is_err());
    m.attach_bytes("../../etc/passwd", vec![]).unwrap();
    m.attach_bytes("C:\\Users\\me\\a.txt", vec![]).unwrap();
    let long = format!("{}.pdf", "长".repeat(200));
    m.attach_bytes(&long, vec![1]).unwrap();
    let long_ascii = format!(
        "{} {}.txt",
        "quarterly-report".repeat(8),
        "final".repeat(20)
    );
    m.attach_bytes(&long_ascii, vec![2]).unwrap();
    let (_, e) = render(&m, &PLAIN);
    let part = &e.children[3];
    assert_eq!(
        part.param_2231("Content-Disposition", "filename"),
        Some(long_ascii.clone())
    );
    let name = part
        .header("Content-Type")
        .unwrap()
        .split_once("name=\"")
        .unwrap()
        .1;
    assert_eq!(decode_encoded_words(name.trim_end_matches('"')), long_ascii);
    assert!(
        !format!("{m:?}").contains("[1]"),
        "Debug shows attachment bytes"
    );
    assert_eq!(
        e.children[0]
            .param("Content-Disposition", "filename")
            .as_deref(),
        Some("passwd")
    );
    assert_eq!(
        e.children[1]
            .param("Content-Disposition", "filename")
            .as_deref(),
        Some("a.txt")
    );
    assert_eq!(
        e.children[2].param_2231("Content-Disposition", "filename"),
        Some(long)
    );
}

#[test]
fn many_recipients_fold() {
    let mut m = basic();
    let list: Vec<String> = (0..200)
        .map(|i| format!("User Number {i} <user{i}@example.org>"))
        .collect();
    m.to(&list.join(", ")).unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.header("To").unwrap().matches('@').count(), 201);
    assert_eq!(m.envelope(&PLAIN).unwrap().to().len(), 201);
}

#[test]
fn long_header_values_fold_within_limits() {
    let mut m = basic();
    m.header("X-Long", &"word ".repeat(500)).unwrap();
    m.header("X-Unbroken", &"z".repeat(3000)).unwrap();
    m.subject(&"长".repeat(1000)).unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(e.header("X-Long").unwrap(), "word ".repeat(500).trim());
    assert_eq!(
        decode_encoded_words(e.header("X-Unbroken").unwrap()),
        "z".repeat(3000)
    );
    assert_eq!(
        decode_encoded_words(e.header("Subject").unwrap()),
        "长".repeat(1000)
    );
}

#[test]
fn legacy_pre_encoded_input_is_not_encoded_twice() {
    let mut m = basic();
    m.subject("=?UTF-8?B?5L2g5aW9?= world").unwrap();
    m.to("=?utf-8?Q?J=C3=BCrgen?= <j@x.org>").unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(
        decode_encoded_words(e.header("Subject").unwrap()),
        "你好 world"
    );
    assert!(e.header("To").unwrap().contains("<j@x.org>"));
    assert!(decode_encoded_words(e.header("To").unwrap()).contains("Jürgen <j@x.org>"));
}

#[test]
fn reader_in_small_reads_matches() {
    let mut m = basic();
    m.text(&"line\n".repeat(1000)).html("<p>x</p>");
    m.attach_bytes("a.bin", (0..100_000u32).map(|i| i as u8).collect())
        .unwrap();
    m.message_id("<fixed@x.org>").unwrap();
    let whole = m.to_bytes(&PLAIN).unwrap();
    let mut r = m.reader(&PLAIN).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(r.bytes_written(), out.len() as u64);
    // Boundaries are random: compare with them blanked.
    let e1 = Entity::parse(&whole);
    let e2 = Entity::parse(&out);
    assert_eq!(e1.tree(), e2.tree());
    assert_eq!(e1.children[1].decoded(), e2.children[1].decoded());
    assert_eq!(whole.len(), out.len());
}

#[test]
fn attachment_builder() {
    // Attached bytes need a name; an inline part may go without.
    let mut m = basic();
    assert!(matches!(
        m.attach(Attachment::bytes(vec![1])),
        Err(Error::InvalidInput {
            field: "attachment file name",
            ..
        })
    ));
    m.inline("a", Attachment::bytes(vec![1])).unwrap();
    // A file keeps its own name unless given another, attached or inline;
    // the type follows the name shown unless given.
    let dir = temp_dir("builder");
    let path = dir.join("export-7f3a.bin");
    std::fs::write(&path, b"a,b\r\n").unwrap();
    m.html("<img src=\"cid:b\">");
    m.attach(Attachment::file(&path).filename("report.csv"))
        .unwrap();
    m.inline("b", Attachment::file(&path).filename("chart.png"))
        .unwrap();
    m.attach(Attachment::file(&path).content_type("text/plain; charset=utf-8"))
        .unwrap();
    let (_, e) = render(&m, &PLAIN);
    assert_eq!(
        e.tree(),
        "multipart/mixed[multipart/related[text/html,application/octet-stream,image/png],text/csv,text/plain]"
    );
    let mixed = &e.children;
    assert_eq!(
        mixed[1].param("Content-Disposition", "filename").as_deref(),
        Some("report.csv")
    );
    assert_eq!(
        mixed[2].param("Content-Disposition", "filename").as_deref(),
        Some("export-7f3a.bin")
    );
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let random: [u8; 8] = random_bytes();
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("smtp-core-{tag}-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn file_attachments_are_read_when_sending() {
    let dir = temp_dir("files");
    let path = dir.join("Отчёт 2024.pdf");
    std::fs::write(&path, b"first").unwrap();
    let mut m = basic();
    m.text("see file");
    assert!(m.attach_file(dir.join("missing.pdf")).is_err());
    assert!(m.attach_file(&dir).is_err());
    m.attach_file(&path).unwrap();
    // Changed after attaching: the new content is what goes out.
    std::fs::write(&path, b"second version").unwrap();
    let (_, e) = render(&m, &PLAIN);
    let part = &e.children[1];
    assert_eq!(part.mime(), "application/pdf");
    assert_eq!(part.decoded(), b"second version");
    assert_eq!(
        part.param_2231("Content-Disposition", "filename")
            .as_deref(),
        Some("Отчёт 2024.pdf")
    );
    // Gone when sending: a read error, not a truncated message.
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(m.to_bytes(&PLAIN), Err(Error::BodyRead(_))));
    let _ = std::fs::remove_dir_all(dir);
}

/// A 100 MB file attachment streams through a small constant buffer, and
/// the output has exactly the expected size.
#[test]
fn hundred_megabyte_attachment_streams_in_constant_memory() {
    const SIZE: usize = 100 * 1024 * 1024;
    let dir = temp_dir("big");
    let big = dir.join("big.bin");
    let empty = dir.join("empty.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let block: Vec<u8> = (0..1024 * 1024)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for _ in 0..SIZE / block.len() {
            f.write_all(&block).unwrap();
        }
        f.flush().unwrap();
    }
    std::fs::write(&empty, b"").unwrap();

    let build = |path: &std::path::Path| {
        let mut m = basic();
        m.message_id("<big@example.org>").unwrap();
        m.text("The file is attached.")
            .html("<p>The file is attached.</p>");
        m.attach(Attachment::file(path).filename("big.bin"))
            .unwrap();
        m
    };
    let count = |m: &Message| -> (u64, usize) {
        let mut r = m.reader(&PLAIN).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let mut max_capacity = 0;
        let mut last = [0u8; 2];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n as u64;
            if n >= 2 {
                last = [buf[n - 2], buf[n - 1]];
            }
            max_capacity = max_capacity.max(r.buffer_capacity());
        }
        assert_eq!(&last, b"\r\n");
        (total, max_capacity)
    };
    let (big_total, big_capacity) = count(&build(&big));
    let (empty_total, _) = count(&build(&empty));
    assert_eq!(big_total, empty_total + base64_encoded_len(SIZE as u64));
    assert!(
        big_capacity < 512 * 1024,
        "buffers grew to {big_capacity} bytes"
    );
    let _ = std::fs::remove_dir_all(dir);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text from a mix of ASCII, controls, Latin, Cyrillic, CJK and emoji.
    fn any_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                4 => proptest::char::range(' ', '~'),
                1 => proptest::char::range('\0', '\u{1f}'),
                1 => Just(' '),
                1 => proptest::char::range('à', 'ÿ'),
                1 => proptest::char::range('А', 'я'),
                1 => proptest::char::range('一', '龥'),
                1 => proptest::char::range('😀', '🙏'),
            ],
            0..200,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// No input panics; whatever is accepted renders within the line
        /// limits and the subject decodes back to what was given.
        #[test]
        fn any_input_is_refused_or_rendered(
            subject in any_text(),
            name in any_text(),
            header in any_text(),
            filename in any_text(),
            body in any_text(),
            local in "[a-z0-9.!#-]{0,20}",
        ) {
            let mut m = basic();
            let subject_ok = m.subject(&subject).is_ok();
            let _ = m.to(&format!("{name} <{local}@example.org>"));
            let _ = m.cc(&name);
            let _ = m.header("X-Any", &header);
            let _ = m.header(&name, &header);
            let _ = m.attach_bytes(&filename, body.as_bytes().to_vec());
            let _ = m.inline(&name, Attachment::bytes(vec![1]).filename(&filename).content_type(&header));
            let _ = m.message_id(&name);
            let _ = m.references(&header);
            m.text(&body).html(&body);
            for options in [PLAIN, EIGHT] {
                if let Ok(bytes) = m.to_bytes(&options) {
                    assert_wire_form(&bytes);
                    let e = Entity::parse(&bytes);
                    if subject_ok {
                        let got = decode_encoded_words(e.header("Subject").unwrap_or(""));
                        let want = decode_encoded_words(subject.trim_matches([' ', '\t']));
                        prop_assert_eq!(got.as_ref(), want.as_ref());
                    }
                    if !options.allow_8bit {
                        prop_assert!(bytes.is_ascii());
                    }
                }
            }
        }

        /// Address-list parsing never panics on arbitrary text.
        #[test]
        fn any_address_list(input in any_text()) {
            let _ = Mailbox::parse_list(&input);
            let _ = Mailbox::parse(&input);
            let _ = envelope_from_headers(format!("From: {input}\r\nTo: {input}\r\n\r\n").as_bytes());
        }
    }
}
