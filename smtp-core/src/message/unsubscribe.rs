//! List-Unsubscribe (RFC 2369), one-click unsubscribe (RFC 8058) and
//! `TLS-Required: No` (RFC 8689 section 5) on composed messages: the
//! setters, the checks of the unsubscribe URIs, and writing the fields.
//!
//! ```
//! use smtp_core::Message;
//!
//! # fn main() -> Result<(), smtp_core::Error> {
//! let mut message = Message::new();
//! message
//!     .from("news@example.org")?
//!     .to("reader@example.net")?
//!     .list_unsubscribe_one_click(
//!         "https://example.org/unsubscribe?u=42&t=Zm9v",
//!         Some("mailto:unsubscribe@example.org?subject=unsubscribe"),
//!     )?;
//! // List-Unsubscribe: <https://example.org/unsubscribe?u=42&t=Zm9v>,
//! //  <mailto:unsubscribe@example.org?subject=unsubscribe>
//! // List-Unsubscribe-Post: List-Unsubscribe=One-Click
//! # Ok(())
//! # }
//! ```

use super::address;
use super::header::HeaderWriter;
use super::Message;
use crate::error::{Error, Result};

/// Longest unsubscribe URI accepted (octets): with `List-Unsubscribe: <`
/// and `>,` it still fits a header line of [`super::MAX_LINE`] octets.
pub const MAX_UNSUBSCRIBE_URI: usize = 900;

/// What [`Message::list_unsubscribe`] or
/// [`Message::list_unsubscribe_one_click`] set: checked URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListUnsubscribe {
    https: Option<String>,
    mailto: Option<String>,
    one_click: bool,
}

impl Message {
    /// Sets `List-Unsubscribe:` (RFC 2369) with an `https://` URI, a
    /// `mailto:` URI, or both (at least one), without one-click: use
    /// [`list_unsubscribe_one_click`](Message::list_unsubscribe_one_click)
    /// for the RFC 8058 form that large mailbox providers ask bulk senders
    /// for. Replaces what either method set before.
    ///
    /// The https URI must be `https://host[:port]/...` with no user
    /// information; the mailto URI `mailto:user@domain[?hfields]` with one
    /// address. Both are written as given, between angle brackets, so
    /// characters that would break the header (spaces, controls, `<`, `>`,
    /// `,`, `"`, non-ASCII) must be percent-encoded; an invalid `%` escape,
    /// another scheme, or a URI longer than [`MAX_UNSUBSCRIBE_URI`] octets
    /// is an [`Error::InvalidInput`] and changes nothing.
    ///
    /// The field name is reserved: [`header`](Message::header) refuses
    /// `List-Unsubscribe` and `List-Unsubscribe-Post`, so the message
    /// never carries two of them.
    pub fn list_unsubscribe(
        &mut self,
        https: Option<&str>,
        mailto: Option<&str>,
    ) -> Result<&mut Self> {
        self.unsubscribe = Some(checked(https, mailto, false)?);
        Ok(self)
    }

    /// Sets one-click unsubscribe (RFC 8058): `List-Unsubscribe:` with the
    /// `https` URI (and the `mailto` URI after it, if given) and
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The receiver's
    /// mail client then unsubscribes with an HTTPS POST of
    /// `List-Unsubscribe=One-Click` to the URI, without a page to confirm,
    /// so the URI must identify the recipient and the list by itself.
    /// RFC 8058 requires the message to be DKIM-signed with both fields
    /// covered.
    ///
    /// The URIs are checked as for
    /// [`list_unsubscribe`](Message::list_unsubscribe) (an https URI is
    /// required here); replaces what either method set before.
    pub fn list_unsubscribe_one_click(
        &mut self,
        https: &str,
        mailto: Option<&str>,
    ) -> Result<&mut Self> {
        self.unsubscribe = Some(checked(Some(https), mailto, true)?);
        Ok(self)
    }

    /// Removes what [`list_unsubscribe`](Message::list_unsubscribe) or
    /// [`list_unsubscribe_one_click`](Message::list_unsubscribe_one_click)
    /// set.
    pub fn clear_list_unsubscribe(&mut self) -> &mut Self {
        self.unsubscribe = None;
        self
    }

    /// With `true`, the message carries `TLS-Required: No` (RFC 8689
    /// section 5): the sender asks relays to deliver it even where their
    /// policy (MTA-STS, DANE) would otherwise refuse a connection without
    /// valid TLS, e.g. for a message that reports a TLS problem. `false`
    /// removes the field. The name is reserved:
    /// [`header`](Message::header) refuses `TLS-Required`.
    pub fn tls_required_no(&mut self, on: bool) -> &mut Self {
        self.tls_required_no = on;
        self
    }
}

/// Header names only these setters write (lower case), and the setter to
/// name in the error.
pub(crate) fn reserved_setter(lower_name: &str) -> Option<&'static str> {
    match lower_name {
        "list-unsubscribe" | "list-unsubscribe-post" => {
            Some("Message::list_unsubscribe or Message::list_unsubscribe_one_click")
        }
        "tls-required" => Some("Message::tls_required_no"),
        _ => None,
    }
}

/// Writes the fields these setters ask for (after the custom headers).
pub(crate) fn write_fields(m: &Message, out: &mut Vec<u8>) -> Result<()> {
    if let Some(links) = &m.unsubscribe {
        let uris: Vec<&String> = links.https.iter().chain(&links.mailto).collect();
        let mut w = HeaderWriter::new(out, "List-Unsubscribe", "list-unsubscribe");
        for (i, uri) in uris.iter().enumerate() {
            let comma = if i + 1 < uris.len() { "," } else { "" };
            w.token(" ", &format!("<{uri}>{comma}"));
        }
        w.finish()?;
        if links.one_click {
            out.extend_from_slice(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
        }
    }
    if m.tls_required_no {
        out.extend_from_slice(b"TLS-Required: No\r\n");
    }
    Ok(())
}

fn checked(https: Option<&str>, mailto: Option<&str>, one_click: bool) -> Result<ListUnsubscribe> {
    if https.is_none() && mailto.is_none() {
        return Err(Error::invalid(
            "list-unsubscribe",
            "needs an https URI, a mailto URI, or both",
        ));
    }
    if one_click && https.is_none() {
        return Err(Error::invalid(
            "list-unsubscribe https URI",
            "one-click unsubscribe (RFC 8058) needs an https URI",
        ));
    }
    if let Some(uri) = https {
        check_https(uri)?;
    }
    if let Some(uri) = mailto {
        check_mailto(uri)?;
    }
    Ok(ListUnsubscribe {
        https: https.map(str::to_string),
        mailto: mailto.map(str::to_string),
        one_click,
    })
}

/// RFC 3986 characters that may stand as they are in an unsubscribe URI:
/// unreserved, gen-delims and sub-delims except `,` (which separates the
/// URIs of the field for careless parsers; write `%2C`).
fn is_uri_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+;=".contains(&b)
}

/// Checks the characters common to both kinds: length, no whitespace,
/// controls, non-ASCII or delimiters, and well-formed `%HH` escapes.
fn check_uri_chars(uri: &str, field: &'static str) -> Result<()> {
    if uri.len() > MAX_UNSUBSCRIBE_URI {
        return Err(Error::invalid(
            field,
            format!("is longer than {MAX_UNSUBSCRIBE_URI} octets"),
        ));
    }
    let bytes = uri.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3);
            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                return Err(Error::invalid(
                    field,
                    "has a '%' that is not followed by two hexadecimal digits",
                ));
            }
            i += 3;
            continue;
        }
        if !is_uri_char(b) {
            let what = match b {
                b'\r' => "CR".to_string(),
                b'\n' => "LF".to_string(),
                b if b.is_ascii_control() => "a control character".to_string(),
                b' ' => "a space".to_string(),
                b if !b.is_ascii() => "a non-ASCII character".to_string(),
                b => format!("{:?}", b as char),
            };
            return Err(Error::invalid(
                field,
                format!("contains {what}; percent-encode it (a URI in this header is printable ASCII without spaces, '<', '>' or ',')"),
            ));
        }
        i += 1;
    }
    Ok(())
}

/// `https://host[:port][/path][?query][#fragment]`, no user information.
fn check_https(uri: &str) -> Result<()> {
    const FIELD: &str = "list-unsubscribe https URI";
    let scheme_ok = uri
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !scheme_ok {
        return Err(Error::invalid(FIELD, "must start with https://"));
    }
    check_uri_chars(uri, FIELD)?;
    let rest = &uri[8..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(Error::invalid(
            FIELD,
            "has user information before the host (not accepted in an unsubscribe link)",
        ));
    }
    let (host, port) = if let Some(literal) = authority.strip_prefix('[') {
        let end = literal
            .find(']')
            .ok_or_else(|| Error::invalid(FIELD, "has a '[' without ']' in the host"))?;
        let inside = &literal[..end];
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(Error::invalid(FIELD, "has an invalid IPv6 address literal"));
        }
        (&authority[..end + 2], &literal[end + 1..])
    } else {
        match authority.find(':') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        }
    };
    if host.is_empty() {
        return Err(Error::invalid(FIELD, "has no host"));
    }
    let labels_ok = host.starts_with('[')
        || host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !labels_ok {
        return Err(Error::invalid(
            FIELD,
            format!("has an invalid host {host:?} (internationalised names in their xn-- form)"),
        ));
    }
    if let Some(digits) = port.strip_prefix(':') {
        let ok =
            !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit());
        if !ok || digits.parse::<u32>().map_or(true, |p| p == 0 || p > 65535) {
            return Err(Error::invalid(
                FIELD,
                format!("has an invalid port {digits:?}"),
            ));
        }
    } else if !port.is_empty() {
        return Err(Error::invalid(FIELD, "has text after the host's ']'"));
    }
    Ok(())
}

/// `mailto:user@domain[?hfield=value&...]` (RFC 6068) with one address.
fn check_mailto(uri: &str) -> Result<()> {
    const FIELD: &str = "list-unsubscribe mailto URI";
    let scheme_ok = uri
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("mailto:"));
    if !scheme_ok {
        return Err(Error::invalid(FIELD, "must start with mailto:"));
    }
    check_uri_chars(uri, FIELD)?;
    let rest = &uri[7..];
    if rest.contains('#') {
        return Err(Error::invalid(
            FIELD,
            "has a fragment ('#'), which mailto has not",
        ));
    }
    let (to, query) = rest.split_once('?').unwrap_or((rest, ""));
    let to = percent_encoding::percent_decode_str(to)
        .decode_utf8()
        .map_err(|_| Error::invalid(FIELD, "has an address that is not UTF-8"))?;
    if to.is_empty() {
        return Err(Error::invalid(FIELD, "has no address"));
    }
    address::validate_addr_spec(&to, FIELD)?;
    if !query.is_empty() {
        for hfield in query.split('&') {
            let name = hfield.split_once('=').map(|(n, _)| n);
            if name.is_none_or(str::is_empty) {
                return Err(Error::invalid(
                    FIELD,
                    format!("has a query part {hfield:?} that is not name=value"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "unsubscribe_tests.rs"]
mod tests;
