//! Unit tests of DKIM signing: canonicalization (RFC 6376 3.4.5), chunk
//! invariance of the body hash, key loading and its errors, redaction,
//! folding of the signature field.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use sha2::{Digest, Sha256};

use super::canon::{canon_header, fields};
use super::*;
use crate::error::Error;

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn body_hash(canon: Canonicalization, chunks: &[&[u8]]) -> [u8; 32] {
    let mut h = BodyHasher::new(canon);
    for c in chunks {
        h.update(c);
    }
    h.finish()
}

/// The obvious, whole-body canonicalization to compare the streaming one
/// against.
fn reference_body(canon: Canonicalization, body: &[u8]) -> Vec<u8> {
    let normal = crate::data::BdatNormalizer::encode_all(body);
    let text = normal.strip_suffix(b"\r\n").unwrap_or(&normal);
    let mut lines: Vec<Vec<u8>> = if normal.is_empty() {
        Vec::new()
    } else {
        text.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .collect()
    };
    if canon == Canonicalization::Relaxed {
        for line in &mut lines {
            let mut out = Vec::new();
            let mut space = false;
            for &b in line.iter() {
                if b == b' ' || b == b'\t' {
                    space = true;
                } else {
                    if space {
                        out.push(b' ');
                    }
                    space = false;
                    out.push(b);
                }
            }
            *line = out;
        }
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    if out.is_empty() && canon == Canonicalization::Simple {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn rfc6376_3_4_5_example() {
    let header = b"A: X\r\nB : Y\t\r\n\tZ  \r\n";
    let body = b" C \r\nD \t E\r\n\r\n\r\n";
    let mut relaxed = Vec::new();
    let mut simple = Vec::new();
    for f in fields(header) {
        canon_header(Canonicalization::Relaxed, f.text, &mut relaxed);
        canon_header(Canonicalization::Simple, f.text, &mut simple);
    }
    assert_eq!(relaxed, b"a:X\r\nb:Y Z\r\n");
    assert_eq!(simple, header);
    assert_eq!(
        body_hash(Canonicalization::Relaxed, &[body]),
        sha(b" C\r\nD E\r\n")
    );
    assert_eq!(
        body_hash(Canonicalization::Simple, &[body]),
        sha(b" C \r\nD \t E\r\n")
    );
}

#[test]
fn empty_and_blank_bodies() {
    for body in [&b""[..], b"\r\n", b"\r\n\r\n\r\n", b"\n\n"] {
        assert_eq!(body_hash(Canonicalization::Simple, &[body]), sha(b"\r\n"));
        assert_eq!(body_hash(Canonicalization::Relaxed, &[body]), sha(b""));
    }
    // Whitespace-only lines are empty lines for relaxed, not for simple.
    let body = b"x\r\n  \r\n\t\r\n\r\n";
    assert_eq!(body_hash(Canonicalization::Relaxed, &[body]), sha(b"x\r\n"));
    assert_eq!(
        body_hash(Canonicalization::Simple, &[body]),
        sha(b"x\r\n  \r\n\t\r\n")
    );
    // Empty lines in the middle stay.
    let body = b"a\r\n\r\n\r\nb\r\n\r\n";
    assert_eq!(
        body_hash(Canonicalization::Relaxed, &[body]),
        sha(b"a\r\n\r\n\r\nb\r\n")
    );
    // An unterminated last line gets its CRLF; bare LF is a line break.
    assert_eq!(
        body_hash(Canonicalization::Simple, &[b"a\nb"]),
        sha(b"a\r\nb\r\n")
    );
    assert_eq!(
        body_hash(Canonicalization::Relaxed, &[b"  lead  and trail \t"]),
        sha(b" lead and trail\r\n")
    );
}

#[test]
fn body_hash_does_not_depend_on_chunks() {
    let bodies: [&[u8]; 6] = [
        b" C \r\nD \t E\r\n\r\n\r\n",
        b"line one\nline two  \n\n \t \n\r\n\r\r\nend \t",
        b"\r\n\r\n  x\r\n\r\n\t\r\n",
        b"a\rb\r\n\r\nc \r\n   \r\n",
        b"no line break at all",
        b"\t\t\r\n  \r\n\n",
    ];
    for body in bodies {
        for canon in [Canonicalization::Simple, Canonicalization::Relaxed] {
            let want = sha(&reference_body(canon, body));
            assert_eq!(body_hash(canon, &[body]), want, "{body:?} {canon:?}");
            for i in 0..=body.len() {
                for j in i..=body.len() {
                    let got = body_hash(canon, &[&body[..i], &body[i..j], &body[j..]]);
                    assert_eq!(got, want, "{body:?} {canon:?} split {i} {j}");
                }
            }
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(body_hash(canon, &bytes), want);
        }
    }
}

#[test]
fn long_runs_of_empty_lines_are_counted_not_held() {
    let mut h = BodyHasher::new(Canonicalization::Simple);
    h.update(b"start\r\n");
    for _ in 0..10_000 {
        h.update(b"\r\n\r\n");
    }
    h.update(b"end\r\n");
    let mut want = b"start\r\n".to_vec();
    want.extend(std::iter::repeat_n(*b"\r\n", 20_000).flatten());
    want.extend_from_slice(b"end\r\n");
    assert_eq!(h.finish(), sha(&want));
}

#[test]
fn canonicalization_names() {
    use Canonicalization::*;
    assert_eq!(
        Canonicalization::parse_pair("relaxed/simple").unwrap(),
        (Relaxed, Simple)
    );
    assert_eq!(
        Canonicalization::parse_pair("Simple").unwrap(),
        (Simple, Simple)
    );
    assert!(Canonicalization::parse_pair("relaxed/loose").is_err());
}

// ----- keys ---------------------------------------------------------------

fn ed25519_pem() -> Vec<u8> {
    let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n").into_bytes()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smtp-dkim-unit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs openssl; `None` (the test is skipped) when it is not installed.
fn openssl(args: &[&str]) -> Option<()> {
    match Command::new("openssl").args(args).output() {
        Ok(out) if out.status.success() => Some(()),
        Ok(out) => panic!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => {
            eprintln!("skipped: openssl is not installed");
            None
        }
    }
}

fn invalid_reason(e: Error) -> String {
    match e {
        Error::InvalidInput { reason, .. } => reason,
        other => panic!("not InvalidInput: {other:?}"),
    }
}

#[test]
fn ed25519_key_loads_and_debug_is_redacted() {
    let pem = ed25519_pem();
    let key = DkimKey::from_pem("Example.ORG", "ed.2026", &pem).unwrap();
    assert_eq!(key.algorithm(), DkimAlgorithm::Ed25519Sha256);
    assert_eq!(key.domain(), "example.org");
    assert_eq!(key.selector(), "ed.2026");
    let debug = format!("{key:?}");
    assert!(debug.contains("Ed25519Sha256") && debug.contains("ed.2026"));
    let body = String::from_utf8(pem.clone()).unwrap();
    let b64 = body.lines().nth(1).unwrap();
    assert!(!debug.contains(&b64[..16]));
    let signer = DkimSigner::new(key.clone());
    assert!(!format!("{signer:?}").contains(&b64[..16]));
    assert!(key.dns_record().starts_with("v=DKIM1; k=ed25519; p="));
}

#[test]
fn bad_keys_and_names_are_invalid_input() {
    let pem = ed25519_pem();
    for (domain, selector) in [
        ("", "s"),
        ("exa mple.org", "s"),
        ("example.org;", "s"),
        ("example.org", "s=1"),
        ("example.org", "s\r\nX: y"),
        ("example.org", "-s"),
        ("exa\0mple.org", "s"),
        ("example..org", "s"),
    ] {
        assert!(
            DkimKey::from_pem(domain, selector, &pem).is_err(),
            "{domain:?} {selector:?}"
        );
    }
    let garbage = invalid_reason(DkimKey::from_pem("a.org", "s", b"hello").unwrap_err());
    assert!(garbage.contains("not PEM"), "{garbage}");
    let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let label = invalid_reason(DkimKey::from_pem("a.org", "s", cert).unwrap_err());
    assert!(label.contains("CERTIFICATE"), "{label}");
    let broken = b"-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n";
    assert!(DkimKey::from_pem("a.org", "s", broken).is_err());
    let not_b64 = b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
    assert!(DkimKey::from_pem("a.org", "s", not_b64).is_err());
}

#[test]
fn rsa_keys_from_openssl() {
    let dir = temp_dir("rsa");
    let p = |n: &str| dir.join(n).display().to_string();
    let gen = |bits: &str, out: &str| {
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
            "-out",
            out,
        ])
    };
    if gen("2048", &p("rsa.pem")).is_none() {
        return;
    }
    gen("1024", &p("weak.pem")).unwrap();
    openssl(&[
        "rsa",
        "-in",
        &p("rsa.pem"),
        "-traditional",
        "-out",
        &p("rsa1.pem"),
    ])
    .unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &p("ec.pem"),
    ])
    .unwrap();
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", &p("ed.pem")]).unwrap();

    let pkcs8 = DkimKey::from_file("example.org", "rsa", p("rsa.pem")).unwrap();
    assert_eq!(pkcs8.algorithm(), DkimAlgorithm::RsaSha256);
    let pkcs1 = std::fs::read(p("rsa1.pem")).unwrap();
    assert!(pkcs1.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    let pkcs1 = DkimKey::from_pem("example.org", "rsa", &pkcs1).unwrap();
    assert_eq!(pkcs1.dns_record(), pkcs8.dns_record());
    let ed = DkimKey::from_file("example.org", "ed", p("ed.pem")).unwrap();
    assert_eq!(ed.algorithm(), DkimAlgorithm::Ed25519Sha256);

    let weak = invalid_reason(DkimKey::from_file("example.org", "s", p("weak.pem")).unwrap_err());
    assert!(weak.contains("weak key") && weak.contains("1024"), "{weak}");
    let ec = invalid_reason(DkimKey::from_file("example.org", "s", p("ec.pem")).unwrap_err());
    assert!(ec.contains("neither an RSA nor an Ed25519"), "{ec}");
    let missing =
        invalid_reason(DkimKey::from_file("example.org", "s", p("nope.pem")).unwrap_err());
    assert!(missing.contains("nope.pem"), "{missing}");

    // Permissions: 0644 warns, 0600 does not.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = p("rsa.pem");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let key = DkimKey::from_file("example.org", "rsa", &path).unwrap();
        assert!(key.permission_warning().unwrap().contains("0644"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = DkimKey::from_file("example.org", "rsa", &path).unwrap();
        assert!(key.permission_warning().is_none());
    }

    // Config: keys load when set, whatever the order of the options.
    let mut config = crate::Config::for_host("mail.example.org");
    config
        .set(
            "dkim_key",
            &format!("rsa:{},ed:{}", p("rsa.pem"), p("ed.pem")),
        )
        .unwrap();
    assert!(config.dkim().is_none());
    assert!(config.check().is_err(), "keys without a domain");
    config.set("dkim_domain", "example.org").unwrap();
    let signer = config.dkim().unwrap();
    let algs: Vec<_> = signer.keys().iter().map(|k| k.algorithm()).collect();
    assert_eq!(
        algs,
        [DkimAlgorithm::RsaSha256, DkimAlgorithm::Ed25519Sha256]
    );
    assert!(signer.keys().iter().all(|k| k.domain() == "example.org"));
    config.check().unwrap();
    let e = config
        .set("dkim_key", &format!("s:{}", p("weak.pem")))
        .unwrap_err();
    assert!(invalid_reason(e).contains("weak key"));
    assert_eq!(
        config.dkim().unwrap().keys().len(),
        2,
        "unchanged by a bad key"
    );
    config
        .set("dkim_canonicalization", "simple/relaxed")
        .unwrap();
    config.set("dkim_expire", "3600").unwrap();
    config.set("dkim_headers", "Subject:X-Custom").unwrap();
    let signer = config.dkim().unwrap();
    assert_eq!(
        signer.canonicalization(),
        (Canonicalization::Simple, Canonicalization::Relaxed)
    );
    assert_eq!(signer.expiry(), Some(std::time::Duration::from_secs(3600)));
    assert_eq!(
        signer.signed_headers(),
        [
            "From",
            "Subject",
            "X-Custom",
            "List-Unsubscribe",
            "List-Unsubscribe-Post"
        ]
    );
    assert!(config.set("dkim_canonicalization", "loose").is_err());
    assert!(config.set("dkim_expire", "soon").is_err());
    assert!(config.set("dkim_domain", "bad domain").is_err());
    assert!(!format!("{config:?}").contains("PRIVATE"));
    config.set("dkim_key", "").unwrap();
    assert!(config.dkim().is_none());
    config.check().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

// ----- signatures ---------------------------------------------------------

/// The fields of a signature block, unfolded, by tag.
fn tags(signature: &str) -> Vec<(String, String)> {
    let value = signature.split_once(':').unwrap().1;
    let unfolded: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    unfolded
        .split(';')
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (k, v) = t.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn signature_field_is_folded_and_lists_headers() {
    let key = DkimKey::from_pem("example.org", "sel", &ed25519_pem()).unwrap();
    let signer = DkimSigner::new(key).with_expiry(Some(std::time::Duration::from_secs(60)));
    let header = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\
                   Received: x\r\nTo: c@example.net\r\nList-Unsubscribe: <mailto:u@example.org>\r\n";
    let out = signer.sign(header, &b"body\r\n"[..]).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;"));
    assert!(text.ends_with("\r\n"));
    for line in text.split("\r\n") {
        assert!(line.len() <= 76, "{line:?}");
    }
    let tags = tags(&text);
    let get = |k: &str| tags.iter().find(|(t, _)| t == k).unwrap().1.clone();
    assert_eq!(get("h"), "From:From:To:To:Subject:List-Unsubscribe");
    assert_eq!(get("d"), "example.org");
    assert_eq!(get("s"), "sel");
    let t: u64 = get("t").parse().unwrap();
    assert_eq!(get("x").parse::<u64>().unwrap(), t + 60);
    let bh = base64::engine::general_purpose::STANDARD.encode(sha(b"body\r\n"));
    assert_eq!(get("bh"), bh);
    assert!(!tags.iter().any(|(t, _)| t == "l"));
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(get("b"))
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn ed25519_signature_verifies_with_ring() {
    // Checks the header hash input by hand, for relaxed and simple.
    let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    let key = DkimKey::from_pem("example.org", "s", pem.as_bytes()).unwrap();
    for canon in [Canonicalization::Relaxed, Canonicalization::Simple] {
        let signer = DkimSigner::new(key.clone()).with_canonicalization(canon, canon);
        let header = b"From: A <a@example.org>\r\nSubject:  two\r\n  lines \r\n";
        let sig = signer.sign(header, &b"x\r\n"[..]).unwrap();
        let text = String::from_utf8(sig).unwrap();
        let field = text.strip_suffix("\r\n").unwrap();
        let b_at = field.rfind("b=").unwrap() + 2;
        let b: String = field[b_at..]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut data = Vec::new();
        let fs = fields(header);
        canon_header(canon, fs[0].text, &mut data); // From (once; the extra is empty)
        canon_header(canon, fs[1].text, &mut data);
        let mut own = Vec::new();
        canon_header(canon, &field.as_bytes()[..b_at], &mut own);
        if canon == Canonicalization::Relaxed {
            own.truncate(own.len() - 2);
        }
        data.extend_from_slice(&own);
        let signature = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ED25519,
            pair.public_key().as_ref(),
        );
        public.verify(&sha(&data), &signature).unwrap();
    }
}

#[test]
fn composed_message_rewinds_to_the_same_bytes() {
    use crate::message::{EncodeOptions, Message};
    use std::io::Read;
    let dir = temp_dir("rewind");
    let file = dir.join("data.bin");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    let mut m = Message::new();
    m.from("a@example.org")
        .unwrap()
        .to("b@example.net")
        .unwrap();
    m.subject("rewind").unwrap();
    m.text("hello\n").html("<p>hello</p>");
    m.attach_file(&file).unwrap();
    let mut reader = m.reader(&EncodeOptions::default()).unwrap();
    let mut first = Vec::new();
    reader.read_to_end(&mut first).unwrap();
    assert!(reader.buffer_capacity() > 0);
    reader.rewind();
    assert_eq!(reader.buffer_capacity(), 0, "buffers released");
    let mut second = Vec::new();
    reader.read_to_end(&mut second).unwrap();
    assert_eq!(first, second);
    // Signed: the signature, then the same message again.
    let key = DkimKey::from_pem("example.org", "s", &ed25519_pem()).unwrap();
    reader.rewind();
    let mut signed = DkimSigner::new(key).sign_reader(reader).unwrap();
    let signature = signed.signature().to_vec();
    let mut all = Vec::new();
    signed.read_to_end(&mut all).unwrap();
    assert_eq!(&all[..signature.len()], &signature[..]);
    assert_eq!(&all[signature.len()..], &first[..]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn raw_spool_in_memory_and_on_disk() {
    use std::io::Read;
    let key = DkimKey::from_pem("example.org", "s", &ed25519_pem()).unwrap();
    let signer = DkimSigner::new(key);
    for size in [100usize, SPOOL_MEMORY * 3] {
        let mut message = b"From: a@example.org\r\nTo: b@example.net\r\n\r\n".to_vec();
        message.extend(std::iter::repeat_n(b'x', size));
        let (signature, mut spool) = signer.sign_spooled(&mut &message[..]).unwrap();
        assert_eq!(spool.on_disk(), size > SPOOL_MEMORY);
        let mut back = Vec::new();
        spool.read_to_end(&mut back).unwrap();
        assert_eq!(back, message);
        // The same signature as signing from memory (same second, same
        // key: Ed25519 is deterministic).
        let again = signer.sign_message(&message[..]).unwrap();
        let strip_t = |s: &[u8]| {
            tags(&String::from_utf8_lossy(s))
                .into_iter()
                .filter(|(t, _)| t == "bh")
                .collect::<Vec<_>>()
        };
        assert_eq!(strip_t(&signature), strip_t(&again));
    }
}

#[test]
fn dkim_options_good_and_bad_values_name_the_option() {
    // The same tables as bindings/c/tests/test_options.c and PHP's
    // OptionsTest: each on a new configuration.
    for (name, value) in [
        ("dkim_domain", "example.org"),
        ("dkim_key", ""),
        ("dkim_canonicalization", "relaxed/simple"),
        ("dkim_headers", "From, To, Subject"),
        ("dkim_expire", "3600"),
    ] {
        let mut config = crate::Config::for_host("localhost");
        config.set(name, value).unwrap();
    }
    for (name, value) in [
        ("dkim_domain", "bad domain"),
        ("dkim_key", "/no/selector.pem"),
        ("dkim_key", "sel:/nonexistent/key.pem"),
        ("dkim_canonicalization", "loose"),
        ("dkim_headers", "DKIM-Signature"),
        ("dkim_expire", "soon"),
    ] {
        let mut config = crate::Config::for_host("localhost");
        let e = config.set(name, value).unwrap_err();
        assert!(e.to_string().contains(name), "{name}={value:?}: {e}");
        assert!(config.dkim().is_none());
    }
    let mut config = crate::Config::for_host("localhost");
    config.set("dkim_domain", "example.org").unwrap();
    assert!(config.check().is_err(), "a domain without keys");

    // Options by name on top of a signer given in code.
    let key = DkimKey::from_pem("example.org", "s", &ed25519_pem()).unwrap();
    let mut config = crate::Config::for_host("localhost").with_dkim(DkimSigner::new(key));
    config.set("dkim_domain", "example.net").unwrap();
    config
        .set("dkim_canonicalization", "simple/simple")
        .unwrap();
    config.check().unwrap();
    let signer = config.dkim().unwrap();
    assert_eq!(signer.keys()[0].domain(), "example.net");
    assert_eq!(signer.keys()[0].selector(), "s");
    assert_eq!(signer.canonicalization().0, Canonicalization::Simple);
}

#[test]
fn header_block_in_any_form_gives_the_same_signature() {
    let key = DkimKey::from_pem("example.org", "s", &ed25519_pem()).unwrap();
    let signer = DkimSigner::new(key);
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let whole = |message: &[u8]| {
        let mut stream = signer.stream();
        stream.update(message).unwrap();
        stream.finish_at(now).unwrap()
    };
    let want = whole(b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n");
    for block in [
        &b"From: a@example.org\r\nSubject: x"[..],
        b"From: a@example.org\r\nSubject: x\r\n",
        b"From: a@example.org\nSubject: x\n\n",
        b"From: a@example.org\r\nSubject: x\r\n\r\n",
    ] {
        let mut stream = signer.stream();
        stream.update(block).unwrap();
        let ends_line = block.ends_with(b"\n");
        let blank = block.ends_with(b"\n\n") || block.ends_with(b"\r\n\r\n");
        stream
            .update(match (ends_line, blank) {
                (_, true) => &b""[..],
                (true, false) => b"\r\n",
                (false, _) => b"\r\n\r\n",
            })
            .unwrap();
        stream.update(b"body\r\n").unwrap();
        assert_eq!(stream.finish_at(now).unwrap(), want, "{block:?}");
        // And through sign(), which adds the empty line itself.
        let signed = signer.sign(block, &b"body\r\n"[..]).unwrap();
        let bh = |s: &[u8]| {
            let text = String::from_utf8_lossy(s).replace(['\r', '\n', '\t', ' '], "");
            text.split(';')
                .find(|t| t.starts_with("bh="))
                .unwrap()
                .to_string()
        };
        assert_eq!(bh(&signed), bh(&want), "{block:?}");
    }
    // Only headers, no body at all: the body is empty.
    let headers_only = whole(b"From: a@example.org\r\n");
    let empty_body = whole(b"From: a@example.org\r\n\r\n");
    assert_eq!(headers_only, empty_body);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any body, split anywhere: the streaming hash equals the whole-body
    /// reference, for both canonicalizations.
    #[test]
    fn body_hash_matches_the_reference(
        body in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'.', b' ', b'\t', b'\r', b'\n']),
            0..200,
        ),
        cuts in proptest::collection::vec(0usize..200, 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for c in cuts {
            pieces.push(&body[from..c]);
            from = c;
        }
        pieces.push(&body[from..]);
        for canon in [Canonicalization::Simple, Canonicalization::Relaxed] {
            proptest::prop_assert_eq!(
                body_hash(canon, &pieces),
                sha(&reference_body(canon, &body))
            );
        }
    }
}
