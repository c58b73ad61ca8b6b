//! Tests of the line fitter: each repair decodes to what was given, each
//! refusal names its reason, and the output never depends on how the
//! input was split.

use super::*;
use crate::message::encode::tests::qp_decode;
use base64::Engine as _;
use memchr::memmem;
use proptest::prelude::*;

fn fit(policy: LongLines, message: &[u8]) -> Result<Vec<u8>, LongLineError> {
    LineFitter::fit_all(policy, message)
}

fn repair(message: &[u8]) -> Vec<u8> {
    fit(LongLines::Repair, message).expect("repairable")
}

fn max_line(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0)
}

/// Splits a message at its first empty line.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    let at = memmem::find(message, b"\r\n\r\n").expect("a header block") + 4;
    message.split_at(at)
}

fn unfold(head: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(head)
        .replace("\r\n ", " ")
        .replace("\r\n\t", "\t")
        .into_bytes()
}

/// The longest line, taking CR, LF and CRLF as line breaks.
fn max_line_any(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n' || b == b'\r')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

fn long_text(n: usize) -> String {
    (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect()
}

#[test]
fn a_message_that_fits_is_unchanged_but_for_line_breaks() {
    let m = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nline one\r\n.dot\r\n";
    assert_eq!(repair(m), m);
    assert_eq!(fit(LongLines::Refuse, m).unwrap(), m);
    let bare = b"From: a@example.org\nSubject: hi\n\nbody\rmore\n";
    assert_eq!(
        repair(bare),
        b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\nmore\r\n"
    );
    // An unterminated last line gets its line break.
    assert_eq!(repair(b"A: 1\r\n\r\nend"), b"A: 1\r\n\r\nend\r\n");
    // A 998-octet line is allowed as it is.
    let edge = format!("A: 1\r\n\r\n{}\r\n", long_text(998));
    assert_eq!(repair(edge.as_bytes()), edge.as_bytes());
}

#[test]
fn a_long_header_line_is_folded_at_whitespace() {
    let words = (0..300)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let m = format!("From: a@example.org\r\nSubject: {words}\r\n\r\nbody\r\n");
    let out = repair(m.as_bytes());
    assert!(max_line(&out) <= 78, "folded at 78 columns");
    let (head, body) = split(&out);
    assert_eq!(body, b"body\r\n");
    assert_eq!(unfold(head), split(m.as_bytes()).0);
    let err = fit(LongLines::Refuse, m.as_bytes()).unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.reason.contains("refuse"), "{err}");
}

#[test]
fn a_header_line_without_whitespace_is_refused() {
    let m = format!(
        "From: a@example.org\r\nX-Token: {}\r\n\r\nbody\r\n",
        long_text(1200)
    );
    let err = fit(LongLines::Repair, m.as_bytes()).unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.reason.contains("no whitespace"), "{err}");
    assert!(err
        .to_string()
        .starts_with("line 2 of the message is longer than 998 octets"));
}

#[test]
fn a_plain_message_with_a_long_line_becomes_quoted_printable() {
    // What PHP's mail() makes of one-line HTML: no MIME headers at all.
    let html = format!("<p>{}</p>", "Hello = world, ünïcode ".repeat(120));
    let m = format!("From: a@example.org\nTo: b@example.net\nSubject: x\n\nfirst\n{html}\nlast \n");
    let out = repair(m.as_bytes());
    assert!(max_line(&out) <= 76);
    let (head, body) = split(&out);
    let head = String::from_utf8_lossy(head);
    assert!(head.contains("MIME-Version: 1.0\r\n"), "{head}");
    assert!(head.ends_with("Content-Transfer-Encoding: quoted-printable\r\n\r\n"));
    assert!(head.starts_with("From: a@example.org\r\nTo: b@example.net\r\nSubject: x\r\n"));
    let want = format!("first\r\n{html}\r\nlast \r\n");
    assert_eq!(qp_decode(body), want.as_bytes());
}

#[test]
fn a_text_part_is_reencoded_and_the_others_left_alone() {
    let long = format!("<p>{}</p>", long_text(3000));
    let m = format!(
        "From: a@example.org\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n\
         preamble\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nshort text\r\n\
         --b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{long}\r\nafter\r\n\
         --b1--\r\nepilogue\r\n"
    );
    let out = repair(m.as_bytes());
    assert!(max_line(&out) <= 998);
    let text = String::from_utf8(out.clone()).unwrap();
    let parts: Vec<&str> = text.split("\r\n--b1").collect();
    assert_eq!(parts.len(), 4, "{text}");
    assert!(parts[1].contains("Content-Transfer-Encoding: 8bit\r\n\r\nshort text"));
    let html = parts[2];
    assert!(html.starts_with(
        "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    ));
    assert!(!html.contains("MIME-Version"), "only the message gets one");
    let body = html.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(
        qp_decode(body.as_bytes()),
        format!("{long}\r\nafter").as_bytes()
    );
    assert!(parts[3].starts_with("--\r\nepilogue"));
}

#[test]
fn a_quoted_printable_line_gets_soft_breaks_not_split_escapes() {
    let encoded: String = (0..700)
        .map(|i| if i % 3 == 0 { "=C3=A9" } else { "ab" })
        .collect();
    let m = format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{encoded}\r\nnext\r\n"
    );
    let out = repair(m.as_bytes());
    assert!(max_line(&out) <= 76);
    let (head, body) = split(&out);
    assert_eq!(head, split(m.as_bytes()).0, "headers unchanged");
    let (got, want) = (
        qp_decode(body),
        qp_decode(format!("{encoded}\r\nnext\r\n").as_bytes()),
    );
    let at = got.iter().zip(&want).position(|(a, b)| a != b);
    assert!(
        got == want,
        "{} vs {} differ at {at:?}: {}",
        got.len(),
        want.len(),
        String::from_utf8_lossy(&body[..300])
    );
    // Also in an application part: soft breaks change no content type.
    let m = format!(
        "Content-Type: application/json\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n{encoded}\r\n"
    );
    assert_eq!(
        qp_decode(split(&repair(m.as_bytes())).1),
        qp_decode(format!("{encoded}\r\n").as_bytes())
    );
}

#[test]
fn a_base64_line_is_cut_into_76_characters() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let one_line = base64::engine::general_purpose::STANDARD.encode(&data);
    let m = format!(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
         Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{one_line}\r\n--x--\r\n"
    );
    let out = repair(m.as_bytes());
    assert!(max_line(&out) <= 76);
    let text = String::from_utf8(out).unwrap();
    let part = text.split("\r\n--x").nth(1).unwrap();
    let b64: String = part.split_once("\r\n\r\n").unwrap().1.replace("\r\n", "");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        data
    );
    // Not base64 after all: refused, not mangled.
    let m = format!(
        "Content-Transfer-Encoding: base64\r\n\r\n{} {}\r\n",
        one_line, one_line
    );
    assert!(fit(LongLines::Repair, m.as_bytes())
        .unwrap_err()
        .reason
        .contains("not base64"));
}

#[test]
fn what_cannot_be_repaired_is_refused() {
    let long = long_text(2000);
    let cases = [
        (
            format!("Content-Type: application/octet-stream\r\n\r\n{long}\r\n"),
            "non-text part",
        ),
        (
            format!("DKIM-Signature: v=1; a=rsa-sha256; d=example.org\r\nSubject: x\r\n\r\n{long}\r\n"),
            "signed",
        ),
        (
            format!(
                "Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\r\n\r\n\
                 --s\r\nContent-Type: text/plain\r\n\r\n{long}\r\n--s--\r\n"
            ),
            "multipart/signed",
        ),
        (
            format!("Content-Type: multipart/mixed; boundary=m\r\n\r\n{long}\r\n--m--\r\n"),
            "preamble",
        ),
        (
            format!("Content-Transfer-Encoding: x-uuencode\r\n\r\n{long}\r\n"),
            "transfer encoding",
        ),
        (format!("Subject: x\r\n\r\n{long}\r\n"), "REFUSE"),
        (
            format!(
                "DKIM-Signature: v=1; d=example.org\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n\
                 --m\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nshort\r\n\
                 --m\r\nContent-Type: text/plain\r\n\r\n{long}\r\n--m--\r\n"
            ),
            "signed",
        ),
    ];
    for (m, why) in cases {
        let policy = if why == "REFUSE" {
            LongLines::Refuse
        } else {
            LongLines::Repair
        };
        let err = fit(policy, m.as_bytes()).unwrap_err();
        let want = if why == "REFUSE" { "refuse" } else { why };
        assert!(err.reason.contains(want), "{why}: {err}");
        assert!(err.line >= 2, "{err}");
    }
}

#[test]
fn a_long_line_past_the_held_part_is_refused() {
    let filler = "x".repeat(80) + "\r\n";
    let mut m = String::from("Subject: big\r\n\r\n");
    m.push_str(&filler.repeat(HOLD_LIMIT / filler.len() + 10));
    m.push_str(&long_text(1500));
    m.push_str("\r\n");
    let err = fit(LongLines::Repair, m.as_bytes()).unwrap_err();
    assert!(err.reason.contains("already sent"), "{err}");
    // Within the held part it is repaired.
    let mut m = String::from("Subject: big\r\n\r\n");
    m.push_str(&filler.repeat(HOLD_LIMIT / filler.len() - 100));
    m.push_str(&long_text(1500));
    m.push_str("\r\n");
    assert!(max_line(&repair(m.as_bytes())) <= 76);
}

#[test]
fn a_message_without_headers_and_a_long_line_is_refused() {
    let m = format!("just text {}\r\n", long_text(1500));
    let err = fit(LongLines::Repair, m.as_bytes()).unwrap_err();
    assert!(err.reason.contains("malformed"), "{err}");
    assert_eq!(
        fit(LongLines::Repair, b"just text\r\nmore\r\n").unwrap(),
        b"just text\r\nmore\r\n"
    );
}

#[test]
fn nested_messages_and_parts_ending_in_their_headers() {
    let long = long_text(1200);
    let m = format!(
        "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n\
         Subject: inner\r\n\r\n{long}\r\n--o\r\nContent-Type: text/plain\r\n--o--\r\n"
    );
    let out = repair(m.as_bytes());
    assert!(max_line(&out) <= 76);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(
            "Subject: inner\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n--o\r\nContent-Type: text/plain\r\n--o--\r\n"),
        "{text}"
    );
}

#[test]
fn streaming_memory_is_bounded() {
    // A 20 MB base64 part on one line goes through in pieces.
    let mut fitter = LineFitter::new(LongLines::Repair);
    let mut out = Vec::new();
    fitter
        .push(b"Content-Transfer-Encoding: base64\r\n\r\n", &mut out)
        .unwrap();
    let block = vec![b'Q'; 64 * 1024];
    let mut written = 0;
    for _ in 0..320 {
        out.clear();
        fitter.push(&block, &mut out).unwrap();
        written += out.len();
        assert!(fitter.capacity() < 64 * 1024, "{}", fitter.capacity());
    }
    out.clear();
    fitter.finish(&mut out).unwrap();
    assert!(written > 20_000_000);
}

fn message_strategy() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        "[a-z =.-]{0,40}".prop_map(String::into_bytes),
        (990usize..1300).prop_map(|n| long_text(n).into_bytes()),
        (990usize..1300).prop_map(|n| "ab c".repeat(n / 4).into_bytes()),
        Just(b"--b".to_vec()),
        Just(b"--b--".to_vec()),
        Just(b"Content-Type: text/plain".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable".to_vec()),
        Just(b"Content-Transfer-Encoding: base64".to_vec()),
        Just(Vec::new()),
    ];
    (
        any::<bool>(),
        prop::collection::vec(line, 0..30),
        prop::sample::select(vec![&b"\r\n"[..], b"\n", b"\r"]),
    )
        .prop_map(|(multipart, lines, brk)| {
            let mut m = b"From: a@example.org".to_vec();
            m.extend_from_slice(brk);
            if multipart {
                m.extend_from_slice(b"Content-Type: multipart/mixed; boundary=b");
                m.extend_from_slice(brk);
            }
            for l in lines {
                m.extend_from_slice(&l);
                m.extend_from_slice(brk);
            }
            m
        })
}

/// Found by `prop_fitting`: an empty push between the CR and the LF of a
/// line break made the LF a second, bare line break (an empty line: the
/// header ended early).
#[test]
fn an_empty_push_between_cr_and_lf_changes_nothing() {
    let message = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Type: text/plain\r\n";
    let whole = fit(LongLines::Repair, message).unwrap();
    assert_eq!(whole, message);
    let cr = 20; // just after "From: a@example.org\r"
    for pieces in [
        vec![&message[..cr], &[][..], &message[cr..]],
        vec![&message[..cr], &[][..], &[][..], &message[cr..]],
        vec![&[][..], &message[..cr], &message[cr..], &[][..]],
    ] {
        let mut fitter = LineFitter::new(LongLines::Repair);
        let mut out = Vec::new();
        for piece in pieces {
            fitter.push(piece, &mut out).unwrap();
        }
        fitter.finish(&mut out).unwrap();
        assert_eq!(out, whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the split, the same result; whatever comes out has CRLF
    /// line breaks only and no line over 998 octets.
    #[test]
    fn prop_fitting(message in message_strategy(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let whole = fit(LongLines::Repair, &message);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(message.len() + 1)).collect();
        points.sort_unstable();
        let mut fitter = LineFitter::new(LongLines::Repair);
        let mut out = Vec::new();
        let mut prev = 0;
        let mut split_result = Ok(());
        for p in points.into_iter().chain([message.len()]) {
            split_result = split_result.and_then(|_| fitter.push(&message[prev..p], &mut out));
            prev = p;
        }
        let split_result = split_result.and_then(|_| fitter.finish(&mut out)).map(|_| out);
        prop_assert_eq!(&whole, &split_result);
        if let Ok(out) = whole {
            prop_assert!(max_line(&out) <= 998);
            let bare = out.windows(2).enumerate().any(|(i, w)| (w[1] == b'\n' && w[0] != b'\r') || (w[0] == b'\r' && w[1] != b'\n') || (i == 0 && w[0] == b'\n'));
            prop_assert!(!bare, "bare line break");
            if max_line_any(&message) <= 998 {
                prop_assert_eq!(out, crate::data::BdatNormalizer::encode_all(&message));
            }
        }
        if max_line_any(&message) > 998 {
            prop_assert!(fit(LongLines::Refuse, &message).is_err());
        }
    }
}
