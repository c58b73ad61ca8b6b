//! Tests of List-Unsubscribe, List-Unsubscribe-Post and TLS-Required: the
//! exact header bytes, folding, replacement, and every refused input.

use super::super::{EncodeOptions, Message, MAX_LINE};
use crate::error::Error;

const PLAIN: EncodeOptions = EncodeOptions {
    allow_8bit: false,
    smtputf8: false,
};

fn message() -> Message {
    let mut m = Message::new();
    m.from("news@example.org").unwrap();
    m.to("reader@example.net").unwrap();
    m.subject("Digest").unwrap();
    m.text("hello\n");
    m
}

/// The header block, as a string.
fn head(m: &Message) -> String {
    let bytes = m.to_bytes(&PLAIN).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    text.split_once("\r\n\r\n").unwrap().0.to_string() + "\r\n"
}

/// The lines of the field `name` (with continuation lines), exactly as
/// written.
fn field(head: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}:");
    let mut lines = head.split("\r\n");
    let first = lines.find(|l| l.starts_with(&prefix))?;
    let mut out = format!("{first}\r\n");
    for line in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    Some(out)
}

fn invalid_field(err: Error) -> &'static str {
    match err {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn one_click_with_https_and_mailto() {
    let mut m = message();
    m.list_unsubscribe_one_click(
        "https://example.org/u?l=news&t=abc",
        Some("mailto:leave@example.org?subject=unsubscribe"),
    )
    .unwrap();
    let h = head(&m);
    assert_eq!(
        field(&h, "List-Unsubscribe").unwrap(),
        "List-Unsubscribe: <https://example.org/u?l=news&t=abc>,\r\n \
         <mailto:leave@example.org?subject=unsubscribe>\r\n"
    );
    assert_eq!(
        field(&h, "List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    );
    // After the other headers, before MIME-Version.
    let post = h.find("List-Unsubscribe-Post:").unwrap();
    assert!(h.find("Message-ID:").unwrap() < h.find("List-Unsubscribe:").unwrap());
    assert!(post < h.find("MIME-Version:").unwrap());
    assert_eq!(h.matches("List-Unsubscribe:").count(), 1);
}

#[test]
fn short_pair_stays_on_one_line() {
    let mut m = message();
    m.list_unsubscribe(Some("https://a.example/u"), Some("mailto:u@a.example"))
        .unwrap();
    let h = head(&m);
    assert_eq!(
        field(&h, "List-Unsubscribe").unwrap(),
        "List-Unsubscribe: <https://a.example/u>, <mailto:u@a.example>\r\n"
    );
    assert!(field(&h, "List-Unsubscribe-Post").is_none());
}

#[test]
fn https_only_mailto_only_and_replacing() {
    let mut m = message();
    m.list_unsubscribe_one_click("https://example.org/x", None)
        .unwrap();
    let h = head(&m);
    assert_eq!(
        field(&h, "List-Unsubscribe").unwrap(),
        "List-Unsubscribe: <https://example.org/x>\r\n"
    );
    assert!(field(&h, "List-Unsubscribe-Post").is_some());

    // Setting it again replaces both fields: no one-click any more.
    m.list_unsubscribe(None, Some("mailto:off@example.org"))
        .unwrap();
    let h = head(&m);
    assert_eq!(
        field(&h, "List-Unsubscribe").unwrap(),
        "List-Unsubscribe: <mailto:off@example.org>\r\n"
    );
    assert!(field(&h, "List-Unsubscribe-Post").is_none());
    assert_eq!(h.matches("List-Unsubscribe").count(), 1);

    // A refused call changes nothing.
    assert!(m
        .list_unsubscribe_one_click("http://x.example/", None)
        .is_err());
    assert_eq!(
        field(&head(&m), "List-Unsubscribe").unwrap(),
        "List-Unsubscribe: <mailto:off@example.org>\r\n"
    );

    m.clear_list_unsubscribe();
    assert!(field(&head(&m), "List-Unsubscribe").is_none());
}

#[test]
fn long_uris_fold_between_uris_and_fit_a_line() {
    let long = format!("https://example.org/unsubscribe/{}", "a".repeat(850));
    let mut m = message();
    m.list_unsubscribe_one_click(&long, Some("mailto:u@example.org"))
        .unwrap();
    let f = field(&head(&m), "List-Unsubscribe").unwrap();
    assert_eq!(
        f,
        format!("List-Unsubscribe: <{long}>,\r\n <mailto:u@example.org>\r\n")
    );
    assert!(f.split("\r\n").all(|l| l.len() <= MAX_LINE));

    let too_long = format!("https://example.org/{}", "a".repeat(900));
    let err = m.list_unsubscribe_one_click(&too_long, None).unwrap_err();
    assert_eq!(invalid_field(err), "list-unsubscribe https URI");
}

#[test]
fn percent_encoded_and_special_forms_are_accepted() {
    let mut m = message();
    for uri in [
        "https://example.org/u?e=a%40b.example&n=%E4%BD%A0%2C",
        "HTTPS://Example.ORG:8443/",
        "https://[2001:db8::1]:443/u",
        "https://example.org",
        "https://example.org?x=1#frag",
    ] {
        m.list_unsubscribe_one_click(uri, None)
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert!(head(&m).contains(&format!("List-Unsubscribe: <{uri}>\r\n")));
    }
    for uri in [
        "mailto:leave@example.org",
        "MAILTO:leave+news@example.org?subject=unsubscribe&body=x%20y",
        "mailto:%22odd%20one%22@example.org",
    ] {
        m.list_unsubscribe(None, Some(uri))
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
    }
}

#[test]
fn bad_https_uris_are_refused() {
    const F: &str = "list-unsubscribe https URI";
    for bad in [
        "http://example.org/u",
        "example.org/u",
        "https://",
        "https:///path",
        "https://:443/",
        "https://user:pw@example.org/",
        "https://exa mple.org/",
        "https://example.org/a b",
        "https://example.org/a\r\nBcc: x@y.example",
        "https://example.org/a\nb",
        "https://example.org/a\0",
        "https://example.org/a\tb",
        "https://example.org/<x>",
        "https://example.org/a>,<mailto:x@y.example",
        "https://example.org/a,b",
        "https://example.org/\"q\"",
        "https://example.org/ü",
        "https://bücher.example/",
        "https://example.org/%zz",
        "https://example.org/%4",
        "https://example.org:0/",
        "https://example.org:99999/",
        "https://example.org:x/",
        "https://[zz::1]/",
        "https://[::1/",
        "https://a..b/",
        "https://exa_mple.org/",
    ] {
        let mut m = message();
        let err = m.list_unsubscribe_one_click(bad, None).unwrap_err();
        assert_eq!(invalid_field(err), F, "{bad:?}");
        let err = m.list_unsubscribe(Some(bad), None).unwrap_err();
        assert_eq!(invalid_field(err), F, "{bad:?}");
    }
}

#[test]
fn bad_mailto_uris_are_refused() {
    const F: &str = "list-unsubscribe mailto URI";
    for bad in [
        "leave@example.org",
        "mailto:",
        "mailto:leave",
        "mailto:@example.org",
        "mailto:a@b.example,c@d.example",
        "mailto:a@b.example?subject=a b",
        "mailto:a@b.example\r\nBcc: x@y.example",
        "mailto:a%0D%0ABcc:x@b.example",
        "mailto:a@b.example?=x",
        "mailto:a@b.example?subject",
        "mailto:a@b.example#x",
        "mailto:<a@b.example>",
        "https://example.org/",
    ] {
        let mut m = message();
        let err = m
            .list_unsubscribe_one_click("https://example.org/", Some(bad))
            .unwrap_err();
        assert_eq!(invalid_field(err), F, "{bad:?}");
        assert!(field(&head(&m), "List-Unsubscribe").is_none());
    }
}

#[test]
fn one_click_needs_https_and_some_uri_is_needed() {
    let mut m = message();
    let err = m.list_unsubscribe(None, None).unwrap_err();
    assert_eq!(invalid_field(err), "list-unsubscribe");
    let err = m
        .list_unsubscribe_one_click("mailto:a@b.example", None)
        .unwrap_err();
    assert_eq!(invalid_field(err), "list-unsubscribe https URI");
}

#[test]
fn reserved_names_are_refused_by_header() {
    let mut m = message();
    for name in [
        "List-Unsubscribe",
        "list-unsubscribe",
        "List-Unsubscribe-Post",
        "TLS-Required",
        "tls-required",
    ] {
        let err = m.header(name, "<https://example.org/>").unwrap_err();
        match err {
            Error::InvalidInput { field, reason } => {
                assert_eq!(field, "header name");
                assert!(reason.contains("Message::"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    m.header("List-Id", "News <news.example.org>").unwrap();
    assert!(head(&m).contains("List-Id: News <news.example.org>\r\n"));
}

#[test]
fn tls_required_no() {
    let mut m = message();
    assert!(field(&head(&m), "TLS-Required").is_none());
    m.tls_required_no(true);
    m.tls_required_no(true);
    let h = head(&m);
    assert_eq!(h.matches("TLS-Required:").count(), 1);
    assert_eq!(field(&h, "TLS-Required").unwrap(), "TLS-Required: No\r\n");
    assert!(h.find("TLS-Required:").unwrap() < h.find("MIME-Version:").unwrap());
    m.tls_required_no(false);
    assert!(field(&head(&m), "TLS-Required").is_none());
}
