//! Address parsing and validation: `Mailbox::parse` / `parse_list`,
//! `validate_address`, `validate_client_name`, `domain_to_ascii`, and the
//! commands that carry them. Whatever is accepted is free of CR, LF, NUL
//! and other controls, within the RFC 5321 limits, and formats as exactly
//! one command line; a local part is a dot-atom or a quoted string, and
//! the envelope and `Mailbox::parse` take the same bare addresses.

use smtp_core::command::{
    validate_address, validate_client_name, Command, MailParams, MAX_COMMAND_LINE, MAX_DOMAIN,
    MAX_PATH,
};
use smtp_core::message::domain_to_ascii;
use smtp_core::Mailbox;

/// The address target.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    for (field, allow_null) in [
        ("sender address", true),
        ("recipient address", false),
        ("address", false),
    ] {
        if validate_address(text, field, allow_null).is_ok() {
            assert!(!text.chars().any(char::is_control), "control accepted");
            assert!(!text.contains(['<', '>']));
            if let Some((local, _)) = text.rsplit_once('@') {
                check_local_part(local);
            }
            if text.is_empty() {
                assert!(allow_null);
            } else {
                assert!(text.len() + 2 <= MAX_PATH);
                assert!(
                    text.contains('@')
                        || (field == "recipient address"
                            && text.eq_ignore_ascii_case("postmaster"))
                );
            }
        }
    }
    let mail = Command::MailFrom {
        from: text.to_owned(),
        params: MailParams {
            size: Some(data.len() as u64),
            eight_bit: true,
            smtputf8: false,
            ..MailParams::default()
        },
    };
    check_command(&mail, MAX_COMMAND_LINE);
    check_command(&Command::rcpt(text), MAX_COMMAND_LINE);
    check_command(&Command::Ehlo(text.to_owned()), MAX_COMMAND_LINE);

    if validate_client_name(text).is_ok() {
        assert!(!text.is_empty() && text.len() <= MAX_DOMAIN);
        assert!(!text.bytes().any(|b| b.is_ascii_control() || b == b' '));
    }
    // ASCII is returned as it is (documented); a converted domain must
    // come out as plain ASCII labels.
    if let Ok(ascii) = domain_to_ascii(text) {
        assert!(ascii.is_ascii());
        if !text.is_ascii() {
            let ldh = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
            assert!(ascii.bytes().all(ldh), "{ascii:?} is not a host name");
        }
    }

    // parse is parse_list of exactly one.
    let one = Mailbox::parse(text);
    if let Ok(mailbox) = &one {
        check_mailbox(mailbox);
    }
    match Mailbox::parse_list(text) {
        Ok(list) => {
            assert!(!list.is_empty());
            for mailbox in &list {
                check_mailbox(mailbox);
            }
            match &one {
                Ok(mailbox) => assert_eq!(list.as_slice(), std::slice::from_ref(mailbox)),
                Err(e) => assert_ne!(list.len(), 1, "parse refused a list of one: {e}"),
            }
        }
        Err(_) => assert!(one.is_err(), "parse took what parse_list refused"),
    }

    // The envelope grammar and the header grammar are one: a bare address
    // the envelope takes (with a domain that has an IDNA form) is a mailbox
    // of itself. Address literals are left out: their dtext may hold
    // parentheses and quotes, which a header list reads as comments and
    // quoted strings.
    if validate_address(text, "address", false).is_ok() && !text.contains('[') {
        let (_, domain) = text.rsplit_once('@').expect("an '@'");
        if domain_to_ascii(domain).is_ok() {
            match &one {
                Ok(mailbox) => {
                    assert_eq!(mailbox.address, text);
                    assert_eq!(mailbox.name, None);
                }
                Err(e) => panic!("the envelope takes {text:?}, Mailbox::parse does not: {e}"),
            }
        }
    }
}

/// A local part the envelope takes is a quoted string or a dot-atom: no
/// unquoted space, no empty atom.
fn check_local_part(local: &str) {
    assert!(!local.is_empty());
    if local.starts_with('"') {
        assert!(
            local.len() >= 2 && local.ends_with('"'),
            "quoting of {local:?}"
        );
    } else {
        assert!(
            !local.contains([' ', '"', ',', '(', ')', '@', '\\']),
            "{local:?}"
        );
        assert!(
            local.split('.').all(|atom| !atom.is_empty()),
            "misplaced dot in {local:?}"
        );
    }
}

/// A parsed mailbox is safe to put in a header and in the envelope, and
/// its `Display` form parses back to it.
pub fn check_mailbox(mailbox: &Mailbox) {
    let address = &mailbox.address;
    assert!(
        !address.chars().any(char::is_control),
        "control in {address:?}"
    );
    assert!(
        validate_address(address, "recipient address", false).is_ok(),
        "parsed address {address:?} fails validate_address"
    );
    assert!(address.ends_with(&format!("@{}", mailbox.domain())));
    if let Some(name) = &mailbox.name {
        assert!(!name.is_empty());
        assert!(
            !name.chars().any(|c| c.is_control() && c != '\t'),
            "control in the name {name:?}"
        );
        // A name that still looks encoded would be decoded again.
        if name.contains("=?") {
            return;
        }
    }
    let shown = mailbox.to_string();
    match Mailbox::parse(&shown) {
        Ok(again) => assert_eq!(&again, mailbox, "Display form {shown:?} parses differently"),
        Err(error) => panic!("Display form {shown:?} does not parse: {error}"),
    }
}

/// A command is refused (and nothing written) or is one line within `limit`.
fn check_command(command: &Command, limit: usize) {
    let mut out = b"prefix".to_vec();
    match command.to_wire(&mut out) {
        Ok(()) => {
            let line = &out[6..];
            assert!(line.ends_with(b"\r\n") && line.len() <= limit);
            let body = &line[..line.len() - 2];
            assert!(!body.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)));
        }
        Err(_) => assert_eq!(out, b"prefix", "a refused command left bytes behind"),
    }
    let shown = command.to_transcript();
    assert!(!shown.contains(['\r', '\n']));
}
