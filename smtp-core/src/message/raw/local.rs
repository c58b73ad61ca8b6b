//! Recipients without a domain in raw messages (`root`, `Cron Daemon
//! <www-data>`, as cron and system programs address mail): recognising
//! them in recipient lists, and replacing them in the envelope by what
//! the caller's resolver says (aliases, a default domain).

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

use super::super::address::{parse_item, parse_list_lenient, split_items};
use super::super::header::check_header_text;

/// Longest local part (RFC 5321 4.5.3.1.1).
const MAX_LOCAL: usize = 64;

/// A function from a local name to the addresses it stands for.
type ResolveFn = dyn Fn(&str) -> Result<Vec<String>> + Send + Sync;

/// The caller's resolver of local names (see
/// [`RawOptions::local_recipients`](super::RawOptions::local_recipients)).
#[derive(Clone)]
pub(crate) struct Resolver(Arc<ResolveFn>);

impl Resolver {
    pub(crate) fn new(f: impl Fn(&str) -> Result<Vec<String>> + Send + Sync + 'static) -> Self {
        Resolver(Arc::new(f))
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver(..)")
    }
}

/// One recipient of a list: an address, or a name without a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recipient {
    /// `user@domain`.
    Address(String),
    /// `user`: to be resolved.
    Local(String),
}

/// Parses a recipient list as [`parse_list_lenient`] does, except that an
/// item whose address has no `@` and is a plain local part (`root`,
/// `<root>`, `Name <root>`) is a [`Recipient::Local`] instead of an
/// error.
pub(crate) fn parse_recipients(input: &str, field: &'static str) -> Result<Vec<Recipient>> {
    let first_error = match parse_list_lenient(input, field) {
        Ok(list) => {
            return Ok(list
                .into_iter()
                .map(|m| Recipient::Address(m.address))
                .collect())
        }
        Err(e) => e,
    };
    check_header_text(input, field)?;
    let mut out = Vec::new();
    for item in split_items(input, field)? {
        if let Some(name) = local_name(item) {
            out.push(Recipient::Local(name.to_string()));
            continue;
        }
        match parse_item(item, field) {
            Ok(Some(mailbox)) => out.push(Recipient::Address(mailbox.address)),
            Ok(None) => {}
            Err(_) => return Err(first_error),
        }
    }
    Ok(out)
}

/// The local name of an item that is one (`root`, `<root>`,
/// `Name <root>`): dot-separated RFC 5322 atoms, at most 64 octets.
fn local_name(item: &str) -> Option<&str> {
    let item = item.trim();
    let candidate = match item.find('<') {
        Some(open) => {
            let inner = &item[open + 1..];
            let close = inner.find('>')?;
            if !inner[close + 1..].trim().is_empty() {
                return None;
            }
            inner[..close].trim()
        }
        None => item,
    };
    let ok = !candidate.is_empty()
        && candidate.len() <= MAX_LOCAL
        && candidate
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(super::super::header::is_atext));
    ok.then_some(candidate)
}

/// The addresses for `recipient`: itself, or what `resolver` gives for a
/// local name. Without a resolver a local name is an error.
pub(crate) fn resolve(recipient: &Recipient, resolver: Option<&Resolver>) -> Result<Vec<String>> {
    match (recipient, resolver) {
        (Recipient::Address(address), _) => Ok(vec![address.clone()]),
        (Recipient::Local(name), Some(resolver)) => {
            let addresses = (resolver.0)(name)?;
            if addresses.is_empty() {
                return Err(Error::invalid(
                    "local recipient",
                    format!("{name:?} resolves to no address"),
                ));
            }
            Ok(addresses)
        }
        (Recipient::Local(name), None) => Err(Error::invalid(
            "local recipient",
            format!("{name:?} has no domain (user@domain expected)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Vec<Recipient> {
        parse_recipients(input, "to").unwrap()
    }

    #[test]
    fn local_names_are_recognised() {
        use Recipient::{Address as A, Local as L};
        assert_eq!(parsed("a@x.example"), [A("a@x.example".into())]);
        assert_eq!(parsed("root"), [L("root".into())]);
        assert_eq!(
            parsed("root, Cron Daemon <www-data>, b@x.example, <first.last>"),
            [
                L("root".into()),
                L("www-data".into()),
                A("b@x.example".into()),
                L("first.last".into())
            ]
        );
        assert_eq!(parsed("undisclosed-recipients:;"), []);
        for bad in [
            "a b",
            "root@",
            "<root> extra",
            ".root",
            "ro..ot",
            "\"quoted\"",
            "root\r\nBcc: x",
        ] {
            assert!(parse_recipients(bad, "to").is_err(), "{bad:?}");
        }
        assert!(parse_recipients(&"x".repeat(65), "to").is_err());
    }

    #[test]
    fn resolving() {
        let resolver = Resolver::new(|name| match name {
            "root" => Ok(vec!["admin@x.example".into(), "ops@x.example".into()]),
            "nobody" => Ok(vec![]),
            _ => Err(Error::invalid("local recipient", "unknown")),
        });
        let local = |n: &str| Recipient::Local(n.into());
        assert_eq!(
            resolve(&local("root"), Some(&resolver)).unwrap(),
            ["admin@x.example", "ops@x.example"]
        );
        assert!(resolve(&local("nobody"), Some(&resolver)).is_err());
        assert!(resolve(&local("who"), Some(&resolver)).is_err());
        let err = resolve(&local("root"), None).unwrap_err();
        assert!(err.to_string().contains("\"root\" has no domain"), "{err}");
        assert_eq!(
            resolve(&Recipient::Address("a@b.example".into()), None).unwrap(),
            ["a@b.example"]
        );
    }
}
