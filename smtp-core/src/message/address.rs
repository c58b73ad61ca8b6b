//! Mailboxes: parsing `Name <user@domain>`, bare addresses and the
//! comma-separated lists legacy code passes, and writing them in headers
//! and the envelope (IDNA for domains, SMTPUTF8 for UTF-8 local parts).

use crate::command;
use crate::error::{Error, Result};

use super::header::{self, check_header_text, HeaderWriter, Phrase};

/// One mailbox: an optional display name and an address (`user@domain`).
///
/// Build one with [`Mailbox::parse`] or [`Mailbox::parse_list`], which
/// validate; the fields are plain data for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name (`John Doe`), decoded and unquoted, if any.
    pub name: Option<String>,
    /// The address as given (`user@example.org`); an internationalised
    /// domain is kept in Unicode here and converted when written.
    pub address: String,
}

impl Mailbox {
    /// Parses exactly one mailbox: `Name <user@domain>`,
    /// `"Quoted, Name" <user@domain>`, `<user@domain>`, `user@domain` or
    /// `user@domain (Name)`.
    pub fn parse(input: &str) -> Result<Mailbox> {
        parse_one(input, "address")
    }

    /// Parses a comma-separated list of mailboxes (commas inside quoted
    /// names are respected; groups such as `Team: a@x, b@y;` contribute
    /// their members). An empty list is an error.
    pub fn parse_list(input: &str) -> Result<Vec<Mailbox>> {
        parse_list(input, "address")
    }

    /// The domain part (after the last `@`).
    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
    }
}

impl std::fmt::Display for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            // Backslash first, so the escapes added for quotes stay single:
            // the output parses back to the same mailbox.
            Some(name) => {
                let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                write!(f, "\"{quoted}\" <{}>", self.address)
            }
            None => f.write_str(&self.address),
        }
    }
}

/// Parses one mailbox for `field`; a list of more than one is an error.
pub(crate) fn parse_one(input: &str, field: &'static str) -> Result<Mailbox> {
    let mut list = parse_list(input, field)?;
    if list.len() != 1 {
        return Err(Error::invalid(
            field,
            format!("expected one address, found {}", list.len()),
        ));
    }
    Ok(list.remove(0))
}

/// Parses a list of mailboxes for `field`.
pub(crate) fn parse_list(input: &str, field: &'static str) -> Result<Vec<Mailbox>> {
    let list = parse_list_lenient(input, field)?;
    if list.is_empty() {
        return Err(Error::invalid(field, "has no address"));
    }
    Ok(list)
}

/// Parses a list that may be empty (`undisclosed-recipients:;`).
pub(crate) fn parse_list_lenient(input: &str, field: &'static str) -> Result<Vec<Mailbox>> {
    if let Some(result) = parse_plain_list(input, field) {
        return result;
    }
    parse_list_general(input, field)
}

/// Bytes of a bare addr-spec without quoting: RFC 5322 atext, the dots and the `@`.
fn is_plain_address_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.@".contains(&b)
}

/// The common case, a list of bare addresses (`a@example.org,
/// b@example.net`), without the general scanner: the same result as
/// [`parse_list_general`] at a fraction of the cost (bulk senders parse
/// an envelope per message). `None` when the input needs the general parser.
fn parse_plain_list(input: &str, field: &'static str) -> Option<Result<Vec<Mailbox>>> {
    if !input
        .bytes()
        .all(|b| is_plain_address_byte(b) || b == b',' || b == b' ')
    {
        return None;
    }
    let mut out = Vec::new();
    for item in input.split(',') {
        let item = item.trim_matches(' ');
        if item.is_empty() {
            continue;
        }
        if item.contains(' ') {
            return None;
        }
        if let Err(e) = validate_addr_spec(item, field) {
            return Some(Err(e));
        }
        out.push(Mailbox {
            name: None,
            address: item.to_string(),
        });
    }
    Some(Ok(out))
}

/// Any list: names, quoted strings, comments, angle brackets, groups.
fn parse_list_general(input: &str, field: &'static str) -> Result<Vec<Mailbox>> {
    check_header_text(input, field)?;
    let mut out = Vec::new();
    for item in split_items(input, field)? {
        if let Some(mailbox) = parse_item(item, field)? {
            out.push(mailbox);
        }
    }
    Ok(out)
}

/// Splits a list at top-level commas (and group punctuation), respecting
/// quoted strings, comments, angle brackets and address literals.
pub(crate) fn split_items<'a>(input: &'a str, field: &'static str) -> Result<Vec<&'a str>> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    let mut comment = 0usize;
    let mut angle = false;
    let mut literal = false;
    let mut in_group = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if in_quote {
            match c {
                '\\' => escaped = true,
                '"' => in_quote = false,
                _ => {}
            }
            continue;
        }
        if comment > 0 {
            match c {
                '\\' => escaped = true,
                '(' => comment += 1,
                ')' => comment -= 1,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quote = true,
            '(' => comment = 1,
            '<' if !angle => angle = true,
            '>' if angle => angle = false,
            '[' if !literal => literal = true,
            ']' if literal => literal = false,
            ',' if !angle && !literal => {
                items.push(&input[start..i]);
                start = i + 1;
            }
            ':' if !angle && !literal && !in_group => {
                // `Group name:` -- the name is dropped, members follow.
                let name = input[start..i].trim();
                if name.is_empty() || name.contains('@') {
                    return Err(Error::invalid(field, "has a misplaced ':'"));
                }
                in_group = true;
                start = i + 1;
            }
            ';' if !angle && !literal && in_group => {
                items.push(&input[start..i]);
                start = i + 1;
                in_group = false;
            }
            _ => {}
        }
    }
    if in_quote {
        return Err(Error::invalid(field, "has an unterminated quoted string"));
    }
    if comment > 0 || escaped {
        return Err(Error::invalid(field, "has an unterminated comment"));
    }
    if angle {
        return Err(Error::invalid(field, "has a '<' without '>'"));
    }
    if literal {
        return Err(Error::invalid(field, "has a '[' without ']'"));
    }
    if in_group {
        return Err(Error::invalid(field, "has a group without its closing ';'"));
    }
    items.push(&input[start..]);
    Ok(items)
}

/// What a list item is made of, outside angle brackets.
#[derive(Default)]
struct ItemParts {
    /// Words of the display name (quoted strings unquoted), in order.
    words: Vec<String>,
    /// The texts of comments.
    comments: Vec<String>,
    /// The text between `<` and `>`.
    angle: Option<String>,
    /// Text after the angle address (other than comments and whitespace).
    trailing: bool,
    /// Whether the words came from a quoted string (never an address then).
    quoted: bool,
}

pub(crate) fn parse_item(item: &str, field: &'static str) -> Result<Option<Mailbox>> {
    let item = item.trim();
    if item.is_empty() {
        return Ok(None);
    }
    let parts = scan_item(item, field)?;
    if parts.trailing {
        return Err(Error::invalid(
            field,
            "has text after the address in angle brackets (a missing comma?)",
        ));
    }
    let (name, address) = match parts.angle {
        Some(address) => {
            let name = parts.words.join(" ");
            (name, address.trim().to_string())
        }
        None => {
            // A bare address: one word, maybe with a comment for a name.
            if parts.quoted {
                return Err(Error::invalid(
                    field,
                    "has a quoted name without an address in angle brackets",
                ));
            }
            if parts.words.len() != 1 {
                return Err(Error::invalid(
                    field,
                    "is not an address: expected user@domain or Name <user@domain>",
                ));
            }
            let name = parts.comments.join(" ");
            (name, parts.words[0].clone())
        }
    };
    // Trimmed after decoding too: an encoded word may decode to (or leave)
    // outer spaces, which the quoted form would not keep on a second parse.
    let name = header::decode_encoded_words(name.trim()).trim().to_owned();
    check_header_text(&name, field)?;
    validate_addr_spec(&address, field)?;
    Ok(Some(Mailbox {
        name: (!name.is_empty()).then_some(name),
        address,
    }))
}

fn scan_item(item: &str, field: &'static str) -> Result<ItemParts> {
    let mut parts = ItemParts::default();
    let mut chars = item.char_indices().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, parts: &mut ItemParts| {
        if !word.is_empty() {
            if parts.angle.is_some() {
                parts.trailing = true;
            }
            parts.words.push(std::mem::take(word));
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                flush(&mut word, &mut parts);
                let mut quoted = String::new();
                let mut closed = None;
                while let Some((j, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                quoted.push(n);
                            }
                        }
                        '"' => {
                            closed = Some(j);
                            break;
                        }
                        c => quoted.push(c),
                    }
                }
                let Some(end) = closed else {
                    return Err(Error::invalid(field, "has an unterminated quoted string"));
                };
                if parts.angle.is_some() {
                    parts.trailing = true;
                }
                // `"local"@domain` continues as a word, kept as written:
                // its escapes are part of the address (as inside `<...>`).
                if chars.peek().is_some_and(|&(_, c)| c == '@') {
                    word.push_str(&item[i..=end]);
                    parts.quoted = false;
                    continue;
                }
                parts.quoted = true;
                parts.words.push(quoted);
            }
            '(' => {
                flush(&mut word, &mut parts);
                let mut depth = 1;
                let mut text = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                text.push(n);
                            }
                        }
                        '(' => {
                            depth += 1;
                            text.push(c);
                        }
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        c => text.push(c),
                    }
                }
                parts.comments.push(text.trim().to_string());
            }
            '<' => {
                flush(&mut word, &mut parts);
                if parts.angle.is_some() {
                    return Err(Error::invalid(field, "has two addresses in angle brackets"));
                }
                let rest = &item[i + 1..];
                let Some(end) = rest.find('>') else {
                    return Err(Error::invalid(field, "has a '<' without '>'"));
                };
                parts.angle = Some(rest[..end].to_string());
                // Skip past the '>'.
                for (j, _) in chars.by_ref() {
                    if j == i + 1 + end {
                        break;
                    }
                }
            }
            '>' => return Err(Error::invalid(field, "has a '>' without '<'")),
            c if c == ' ' || c == '\t' => flush(&mut word, &mut parts),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut parts);
    Ok(parts)
}

/// Checks `local@domain` for a header field: the grammar of
/// [`command::validate_address`], the one the envelope uses (a dot-atom
/// local part of atext or UTF-8, or a quoted string; a domain of host-name
/// labels or an address literal; no controls, no unquoted spaces), and an
/// internationalised domain must have an IDNA form.
pub(crate) fn validate_addr_spec(address: &str, field: &'static str) -> Result<()> {
    check_header_text(address, field)?;
    let Some((_, domain)) = address.rsplit_once('@') else {
        return Err(Error::invalid(field, "has no '@'"));
    };
    command::validate_address(address, field, false)?;
    if !domain.is_ascii() {
        to_ascii_domain(domain, field)?;
    }
    Ok(())
}

/// The IDNA (UTS 46) ASCII form of a domain: `bücher.example` becomes
/// `xn--bcher-kva.example`. ASCII domains are returned as they are.
pub fn domain_to_ascii(domain: &str) -> Result<String> {
    to_ascii_domain(domain, "domain")
}

fn to_ascii_domain(domain: &str, field: &'static str) -> Result<String> {
    if domain.is_ascii() {
        return Ok(domain.to_string());
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|_| {
        Error::invalid(
            field,
            "has a domain that is not a valid internationalised domain name",
        )
    })?;
    // UTS 46 passes ASCII through as it is, controls and '@' included:
    // only letters, digits, '-' and dots make a host name.
    let ldh = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
    if ascii.is_empty()
        || !ascii.bytes().all(ldh)
        || ascii.split('.').any(|l| l.is_empty() || l.len() > 63)
    {
        return Err(Error::invalid(
            field,
            "has a domain that is not a valid internationalised domain name",
        ));
    }
    Ok(ascii)
}

/// The form of `address` to put on the wire (headers and envelope).
///
/// An address whose local part is ASCII is always written all-ASCII: an
/// internationalised domain becomes its IDNA A-label form, so the message
/// needs no SMTPUTF8 anywhere on its way. A UTF-8 local part can only be
/// sent to a server with SMTPUTF8 (`smtputf8`), and the address is then
/// kept as it is; without it the result is [`Error::Unsupported`].
pub(crate) fn wire_address(address: &str, smtputf8: bool, field: &'static str) -> Result<String> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Ok(address.to_string());
    };
    if !local.is_ascii() {
        if smtputf8 {
            return Ok(address.to_string());
        }
        return Err(Error::Unsupported {
            extension: "SMTPUTF8",
            reason: format!(
                "the {field} has a non-ASCII local part and the server does not offer SMTPUTF8"
            ),
        });
    }
    Ok(format!("{local}@{}", to_ascii_domain(domain, field)?))
}

/// Writes `Name: mailbox, mailbox, ...` with display names as phrases
/// (encoded words when not ASCII) and addresses in wire form.
pub(crate) fn write_mailboxes(
    out: &mut Vec<u8>,
    name: &str,
    list: &[Mailbox],
    smtputf8: bool,
    field: &'static str,
) -> Result<()> {
    let mut rendered = Vec::with_capacity(list.len());
    for mailbox in list {
        rendered.push(wire_address(&mailbox.address, smtputf8, field)?);
    }
    let mut w = HeaderWriter::new(out, name, field);
    for (i, (mailbox, address)) in list.iter().zip(&rendered).enumerate() {
        let comma = if i + 1 < list.len() { "," } else { "" };
        match &mailbox.name {
            Some(display) => {
                match header::phrase(display) {
                    Phrase::Plain(words) => {
                        for word in &words {
                            w.token(" ", word);
                        }
                    }
                    Phrase::Encoded(text) => w.encoded(" ", &text),
                }
                w.token(" ", &format!("<{address}>{comma}"));
            }
            None => w.token(" ", &format!("{address}{comma}")),
        }
    }
    w.finish()
}

/// True when two addresses are the same mailbox: the local part compared
/// exactly, the domain without regard to case.
pub(crate) fn same_address(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.to_lowercase() == db.to_lowercase(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(name: Option<&str>, address: &str) -> Mailbox {
        Mailbox {
            name: name.map(str::to_string),
            address: address.to_string(),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The fast path for bare addresses gives what the general parser
        /// gives, errors included, whenever it takes the input.
        #[test]
        fn plain_list_fast_path_agrees_with_the_general_parser(
            input in proptest::prop_oneof![
                "[a-c0-9.@ ,!#$%&'*+/=?^_`{|}~-]{0,40}",
                "( ?[a-c0-9.+_-]{1,5}@[a-c.-]{1,5}\\.[a-c]{2,3} ?,?){1,4}",
            ],
        ) {
            if let Some(fast) = parse_plain_list(&input, "to") {
                let general = parse_list_general(&input, "to");
                proptest::prop_assert_eq!(
                    fast.map_err(|e| e.to_string()),
                    general.map_err(|e| e.to_string())
                );
            }
        }
    }

    #[test]
    fn plain_lists_take_the_fast_path() {
        assert!(parse_plain_list("a@x.org, b.c+d@y.org", "to").is_some());
        assert!(parse_plain_list("Name <a@x.org>", "to").is_none());
        assert!(parse_plain_list("a @x.org", "to").is_none());
        assert!(parse_plain_list("\"q\"@x.org", "to").is_none());
        assert_eq!(
            Mailbox::parse_list("a@x.org, ,b@y.org").unwrap(),
            vec![mb(None, "a@x.org"), mb(None, "b@y.org")]
        );
        assert!(Mailbox::parse_list("a@@x.org").is_err());
        assert!(Mailbox::parse_list(" , ").is_err());
    }

    #[test]
    fn single_forms() {
        assert_eq!(Mailbox::parse("a@x.org").unwrap(), mb(None, "a@x.org"));
        assert_eq!(Mailbox::parse("<a@x.org>").unwrap(), mb(None, "a@x.org"));
        assert_eq!(
            Mailbox::parse("  B <b@y.org> ").unwrap(),
            mb(Some("B"), "b@y.org")
        );
        assert_eq!(
            Mailbox::parse("John  Q. Public <jq@x.org>").unwrap(),
            mb(Some("John Q. Public"), "jq@x.org")
        );
        assert_eq!(
            Mailbox::parse("\"Doe, John\" <j@x.org>").unwrap(),
            mb(Some("Doe, John"), "j@x.org")
        );
        assert_eq!(
            Mailbox::parse("\"say \\\"hi\\\"\" <j@x.org>").unwrap(),
            mb(Some("say \"hi\""), "j@x.org")
        );
        assert_eq!(
            Mailbox::parse("j@x.org (John Doe)").unwrap(),
            mb(Some("John Doe"), "j@x.org")
        );
        assert_eq!(
            Mailbox::parse("\"john doe\"@x.org").unwrap(),
            mb(None, "\"john doe\"@x.org")
        );
        assert_eq!(
            Mailbox::parse("=?UTF-8?B?5byg5LiJ?= <z@x.org>").unwrap(),
            mb(Some("张三"), "z@x.org")
        );
        assert_eq!(
            Mailbox::parse("用户@例子.中国").unwrap(),
            mb(None, "用户@例子.中国")
        );
        assert_eq!(
            Mailbox::parse("u@[127.0.0.1]").unwrap(),
            mb(None, "u@[127.0.0.1]")
        );
        assert_eq!(
            Mailbox::parse("Zoë 🎉 <zoe@bücher.example>").unwrap(),
            mb(Some("Zoë 🎉"), "zoe@bücher.example")
        );
    }

    #[test]
    fn lists() {
        assert_eq!(
            Mailbox::parse_list("a@x.org, B <b@y.org>").unwrap(),
            [mb(None, "a@x.org"), mb(Some("B"), "b@y.org")]
        );
        assert_eq!(
            Mailbox::parse_list("\"Last, First\" <f@x.org>,c@z.org,").unwrap(),
            [mb(Some("Last, First"), "f@x.org"), mb(None, "c@z.org")]
        );
        assert_eq!(
            Mailbox::parse_list("Team: a@x.org, b@x.org; c@x.org").unwrap(),
            [
                mb(None, "a@x.org"),
                mb(None, "b@x.org"),
                mb(None, "c@x.org")
            ]
        );
        assert_eq!(
            Mailbox::parse_list("x@y.org (a, b), <u@[IPv6:::1]>").unwrap(),
            [mb(Some("a, b"), "x@y.org"), mb(None, "u@[IPv6:::1]")]
        );
        assert!(parse_list_lenient("undisclosed-recipients:;", "to")
            .unwrap()
            .is_empty());
        assert!(Mailbox::parse_list("undisclosed-recipients:;").is_err());
        assert!(Mailbox::parse_list(" , ").is_err());
        assert!(Mailbox::parse("a@x.org, b@x.org").is_err());
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "nobody",
            "Doe, John <j@x.org>",
            "<a@x.org",
            "a@x.org>",
            "\"unterminated <a@x.org>",
            "A <a@x.org> B <b@x.org>",
            "A <a@x.org> trailing",
            "a b@x.org",
            "a@x..org",
            "a@-x.org",
            "a.@x.org",
            ".a@x.org",
            "a@",
            "@x.org",
            "a@x.org (unterminated",
            "a@[1.2.3.4",
            "\"just a name\"",
            "x@xn--.org",
            "a@bad_domain.org",
            "g: a@x.org",
        ] {
            assert!(Mailbox::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@x.org", "a".repeat(65));
        assert!(Mailbox::parse(&long).is_err());
    }

    #[test]
    fn injection_in_addresses() {
        for evil in [
            "a@x.org\r\nBcc: evil@y.org",
            "a@x.org\nBcc: evil@y.org",
            "a@x.org\rX",
            "a@x.org\0",
            "Name\r\n <a@x.org>",
            "\"Na\nme\" <a@x.org>",
            "a@x.org (x\r\ny)",
            "=?utf-8?Q?a=0D=0ABcc=3A_x=40y.org?= <a@x.org>",
        ] {
            let err = parse_list(evil, "to").unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { field: "to", .. }),
                "{evil:?}"
            );
        }
    }

    #[test]
    fn wire_forms() {
        assert_eq!(
            wire_address("zoe@bücher.example", false, "to").unwrap(),
            "zoe@xn--bcher-kva.example"
        );
        assert_eq!(
            wire_address("zoe@bücher.example", true, "to").unwrap(),
            "zoe@xn--bcher-kva.example"
        );
        assert_eq!(
            wire_address("用户@例子.中国", true, "to").unwrap(),
            "用户@例子.中国"
        );
        assert!(matches!(
            wire_address("用户@例子.中国", false, "to"),
            Err(Error::Unsupported {
                extension: "SMTPUTF8",
                ..
            })
        ));
        assert_eq!(
            domain_to_ascii("例子.中国").unwrap(),
            "xn--fsqu00a.xn--fiqs8s"
        );
    }

    #[test]
    fn header_rendering() {
        let list = Mailbox::parse_list(
            "a@x.org, \"Doe, John\" <j@x.org>, Zoë 🎉 <z@bücher.example>, Plain Name <p@x.org>",
        )
        .unwrap();
        let mut out = Vec::new();
        write_mailboxes(&mut out, "To", &list, false, "to").unwrap();
        let h = String::from_utf8(out).unwrap();
        assert!(h.is_ascii());
        for line in h.split("\r\n") {
            assert!(line.len() <= header::FOLD_AT, "{line}");
        }
        let unfolded = h.replace("\r\n", "");
        assert!(unfolded.starts_with("To: a@x.org, \"Doe, John\" <j@x.org>, =?UTF-8?"));
        assert!(unfolded.ends_with("<z@xn--bcher-kva.example>, Plain Name <p@x.org>"));
        assert!(unfolded.contains("=?UTF-8?"));
    }

    /// The `header` fuzz finding of issue 15: a display name holding a
    /// comma, `=?i@xxxx,`, before `<other@example.net>`. The text before
    /// the comma is a valid bare address (`=`, `?` and `i` are atext, a
    /// dotless domain is a domain), so the text is a list of two; taking it
    /// for one mailbox was the harness's mistake. What it must not do is
    /// take a first element that is not a mailbox.
    #[test]
    fn fuzz_finding_name_with_a_comma() {
        let text = "=?i@xxxx, <other@example.net>";
        assert_eq!(
            Mailbox::parse_list(text).unwrap(),
            [mb(None, "=?i@xxxx"), mb(None, "other@example.net")]
        );
        let err = Mailbox::parse(text).unwrap_err();
        assert!(
            err.to_string().contains("expected one address, found 2"),
            "{err}"
        );
        // The shape the issue describes: spaces, U+FFFD and a control
        // before the comma. Not a mailbox, so not a list either.
        for text in [
            "\u{1d}? \u{fffd} x, <other@example.net>",
            "a b\u{1d}@x.org, <other@example.net>",
            "a b@x.org, <other@example.net>",
            "\u{fffd} x, <other@example.net>",
        ] {
            let err = parse_list(text, "to").unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { field: "to", .. }),
                "{text:?}: {err:?}"
            );
        }
    }

    #[test]
    fn unquoted_space_in_local_part_is_refused() {
        for text in [
            "a b@example.org",
            "<a b@example.org>",
            "Name <a b@example.org>",
            "x@example.org, <a b@example.org>",
        ] {
            assert!(Mailbox::parse_list(text).is_err(), "{text:?}");
        }
        let err = Mailbox::parse("<a b@example.org>").unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidInput {
                field: "address",
                ..
            }
        ));
    }

    #[test]
    fn control_in_local_part_is_refused() {
        for control in ['\u{1d}', '\u{7f}', '\u{85}', '\t'] {
            for text in [
                format!("a{control}b@example.org"),
                format!("<a{control}b@example.org>"),
                format!("\"a{control}b\"@example.org"),
                format!("Name <\"a{control}b\"@example.org>"),
            ] {
                assert!(Mailbox::parse(&text).is_err(), "{text:?}");
                assert!(Mailbox::parse_list(&text).is_err(), "{text:?}");
            }
        }
    }

    #[test]
    fn quoted_local_part_with_space_is_accepted() {
        let want = mb(None, "\"a b\"@example.org");
        assert_eq!(Mailbox::parse("\"a b\"@example.org").unwrap(), want);
        assert_eq!(Mailbox::parse("<\"a b\"@example.org>").unwrap(), want);
        assert_eq!(
            Mailbox::parse("A B <\"a b\"@example.org>").unwrap(),
            mb(Some("A B"), "\"a b\"@example.org")
        );
        assert_eq!(
            Mailbox::parse_list("\"a b\"@example.org, c@example.org").unwrap(),
            [want, mb(None, "c@example.org")]
        );
    }

    #[test]
    fn utf8_local_part_is_accepted() {
        for address in ["jürgen@example.org", "用户.名@例子.中国", "ü@[192.0.2.1]"] {
            assert_eq!(Mailbox::parse(address).unwrap(), mb(None, address));
            let named = format!("Name <{address}>");
            assert_eq!(Mailbox::parse(&named).unwrap(), mb(Some("Name"), address));
        }
    }

    /// `parse` is `parse_list` of exactly one: same mailbox, same errors.
    #[test]
    fn parse_list_of_one_equals_parse() {
        for text in [
            "a@example.org",
            "<a@example.org>",
            "A <a@example.org>",
            "\"Doe, John\" <j@example.org>",
            "j@example.org (John)",
            "\"a b\"@example.org",
            "jürgen@bücher.example",
            "Team: a@example.org;",
            "=?i@xxxx",
        ] {
            assert_eq!(
                Mailbox::parse_list(text).unwrap(),
                [Mailbox::parse(text).unwrap()],
                "{text:?}"
            );
        }
        for text in [
            "a b@example.org",
            "a\u{1d}@example.org",
            "a,b <c@example.org>",
        ] {
            assert_eq!(
                Mailbox::parse_list(text).map_err(|e| e.to_string()),
                Mailbox::parse(text)
                    .map(|m| vec![m])
                    .map_err(|e| e.to_string()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn dedup_compare() {
        assert!(same_address("a@X.org", "a@x.ORG"));
        assert!(!same_address("A@x.org", "a@x.org"));
    }
}
