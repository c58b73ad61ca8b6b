//! Envelope extensions: delivery status notification requests (RFC 3461:
//! `RET`, `ENVID`, `NOTIFY`, `ORCPT`), `REQUIRETLS` (RFC 8689) and
//! `MT-PRIORITY` (RFC 6710), with the xtext encodings their values travel in.

use std::fmt;
use std::ops::BitOr;

use crate::command;
use crate::error::{Error, Result};

/// How much of the message a delivery status notification returns
/// (`RET=`, RFC 3461 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnReturn {
    /// `RET=FULL`: the whole message.
    Full,
    /// `RET=HDRS`: its header only.
    Headers,
}

impl DsnReturn {
    /// Parses `FULL` or `HDRS` (any case; `headers` too).
    pub fn parse(text: &str) -> Result<DsnReturn> {
        match text.trim().to_ascii_uppercase().as_str() {
            "FULL" => Ok(DsnReturn::Full),
            "HDRS" | "HEADERS" => Ok(DsnReturn::Headers),
            _ => Err(Error::invalid(
                "DSN return",
                "expected FULL or HDRS".to_string(),
            )),
        }
    }

    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            DsnReturn::Full => "FULL",
            DsnReturn::Headers => "HDRS",
        }
    }
}

/// When to send a delivery status notification for a recipient
/// (`NOTIFY=`, RFC 3461 4.1): [`Notify::NEVER`], or any union of
/// [`Notify::SUCCESS`], [`Notify::FAILURE`] and [`Notify::DELAY`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Notify(u8);

impl Notify {
    /// No notification at all, not even on failure.
    pub const NEVER: Notify = Notify(8);
    /// A notification on successful delivery.
    pub const SUCCESS: Notify = Notify(1);
    /// A notification on failure (the server's default).
    pub const FAILURE: Notify = Notify(2);
    /// A notification when delivery is delayed.
    pub const DELAY: Notify = Notify(4);

    /// Parses `NEVER` or a comma-separated list of `SUCCESS`, `FAILURE`
    /// and `DELAY` (any case), as `sendmail -N` takes it.
    pub fn parse(text: &str) -> Result<Notify> {
        let mut bits = 0u8;
        for word in text.split(',') {
            bits |= match word.trim().to_ascii_uppercase().as_str() {
                "NEVER" => Notify::NEVER.0,
                "SUCCESS" => Notify::SUCCESS.0,
                "FAILURE" => Notify::FAILURE.0,
                "DELAY" => Notify::DELAY.0,
                other => {
                    return Err(Error::invalid(
                        "DSN notify",
                        format!(
                            "{:?} is not NEVER, SUCCESS, FAILURE or DELAY",
                            other.chars().take(20).collect::<String>()
                        ),
                    ))
                }
            };
        }
        Notify(bits).checked()
    }

    /// The value itself, refused when NEVER is combined with another.
    pub(crate) fn checked(self) -> Result<Notify> {
        if self.0 & Notify::NEVER.0 != 0 && self.0 != Notify::NEVER.0 {
            return Err(Error::invalid(
                "DSN notify",
                "NEVER cannot be combined with SUCCESS, FAILURE or DELAY".to_string(),
            ));
        }
        if self.0 == 0 {
            return Err(Error::invalid("DSN notify", "empty".to_string()));
        }
        Ok(self)
    }

    /// True when every notification in `other` is asked for here.
    pub fn contains(self, other: Notify) -> bool {
        self.0 & other.0 == other.0
    }

    /// The parameter value (`SUCCESS,FAILURE`).
    pub fn to_param(self) -> String {
        let names = [
            (Notify::NEVER, "NEVER"),
            (Notify::SUCCESS, "SUCCESS"),
            (Notify::FAILURE, "FAILURE"),
            (Notify::DELAY, "DELAY"),
        ];
        let mut out = String::new();
        for (flag, name) in names {
            if self.contains(flag) {
                if !out.is_empty() {
                    out.push(',');
                }
                out.push_str(name);
            }
        }
        out
    }
}

impl BitOr for Notify {
    type Output = Notify;
    fn bitor(self, other: Notify) -> Notify {
        Notify(self.0 | other.0)
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notify({})", self.to_param())
    }
}

/// The extension parameters of one envelope: empty by default, so an
/// envelope without them costs no allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    pub(crate) ret: Option<DsnReturn>,
    /// The envelope identifier, already xtext-encoded.
    pub(crate) envid: Option<String>,
    /// Per recipient (same order as the envelope's), or empty.
    pub(crate) recipients: Vec<RecipientParams>,
    /// Send without the DSN parameters when the server lacks DSN.
    pub(crate) dsn_if_offered: bool,
    pub(crate) require_tls: bool,
    pub(crate) priority: Option<i8>,
}

impl Extensions {
    /// True when a DSN parameter is set.
    pub(crate) fn wants_dsn(&self) -> bool {
        self.ret.is_some()
            || self.envid.is_some()
            || self
                .recipients
                .iter()
                .any(|r| r.notify.is_some() || r.orcpt.is_some())
    }
}

/// The `RCPT TO` parameters of one recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientParams {
    /// `NOTIFY=`.
    pub notify: Option<Notify>,
    /// `ORCPT=` value, already encoded (`rfc822;...` or `utf-8;...`).
    pub orcpt: Option<String>,
}

/// Extensions the server did not offer, whose parameters were left out
/// of a message because the caller allowed it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Omitted(u8);

impl Omitted {
    pub(crate) const DSN: Omitted = Omitted(1);
    pub(crate) const MT_PRIORITY: Omitted = Omitted(2);

    pub(crate) fn add(&mut self, other: Omitted) {
        self.0 |= other.0;
    }

    pub(crate) fn has(self, other: Omitted) -> bool {
        self.0 & other.0 != 0
    }

    /// The extension names, for the send report.
    pub(crate) fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.has(Omitted::DSN) {
            names.push("DSN");
        }
        if self.has(Omitted::MT_PRIORITY) {
            names.push("MT-PRIORITY");
        }
        names
    }
}

/// Longest `ENVID` value once encoded (RFC 3461 4.4: 100 characters).
pub const MAX_ENVID: usize = 100;
/// Longest `ORCPT` value once encoded (RFC 3461 4.2: 500 characters).
pub const MAX_ORCPT: usize = 500;

/// RFC 3461 xtext: `+` followed by two upper-case hex digits for every
/// octet outside `!`..`~` and for `+` and `=`.
pub fn xtext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// RFC 6533 utf-8-addr-xtext: every character outside `!`..`~` and `+`,
/// `=`, `\` as `\x{HEX}`, so the value stays 7-bit and needs no further
/// xtext escaping.
pub fn utf8_addr_xtext(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    for c in address.chars() {
        if ('!'..='~').contains(&c) && !matches!(c, '+' | '=' | '\\') {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:X}}}", c as u32));
        }
    }
    out
}

/// The `ENVID` parameter value for `id`, checked: printable US-ASCII
/// (space to `~`, RFC 3461 4.4), `+` and `=` escaped. A control character
/// would otherwise reach the `Original-Envelope-Id` field of the server's
/// notification, and servers refuse them (Postfix: `501 5.5.4 Bad ENVID
/// parameter syntax`), so they are refused here, before anything is sent.
pub(crate) fn encode_envelope_id(id: &str) -> Result<String> {
    if id.is_empty() {
        return Err(Error::invalid("envelope id", "empty".to_string()));
    }
    if let Some(c) = id.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(Error::invalid(
            "envelope id",
            format!(
                "holds {}; RFC 3461 allows printable US-ASCII only (space to ~)",
                if c.is_control() {
                    format!("the control character U+{:04X}", c as u32)
                } else {
                    format!("the non-ASCII character {c:?}")
                }
            ),
        ));
    }
    let encoded = xtext(id);
    if encoded.len() > MAX_ENVID {
        return Err(Error::invalid(
            "envelope id",
            format!(
                "{} characters once encoded; at most {MAX_ENVID}",
                encoded.len()
            ),
        ));
    }
    Ok(encoded)
}

/// The `ORCPT` parameter value for the original recipient `address`:
/// `rfc822;` and xtext for an ASCII address, `utf-8;` and the RFC 6533
/// 7-bit form otherwise. The address is checked like any recipient.
pub(crate) fn encode_original_recipient(address: &str) -> Result<String> {
    command::validate_address(address, "original recipient", false)?;
    let encoded = if address.is_ascii() {
        format!("rfc822;{}", xtext(address))
    } else {
        format!("utf-8;{}", utf8_addr_xtext(address))
    };
    if encoded.len() > MAX_ORCPT {
        return Err(Error::invalid(
            "original recipient",
            format!(
                "{} characters once encoded; at most {MAX_ORCPT}",
                encoded.len()
            ),
        ));
    }
    Ok(encoded)
}

/// Checks an `MT-PRIORITY` value (RFC 6710: -9 to 9).
pub(crate) fn check_priority(priority: i8) -> Result<i8> {
    if (-9..=9).contains(&priority) {
        Ok(priority)
    } else {
        Err(Error::invalid(
            "priority",
            format!("{priority} is outside -9..9"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_parse_and_format() {
        assert_eq!(
            Notify::parse("success, Failure").unwrap(),
            Notify::SUCCESS | Notify::FAILURE
        );
        assert_eq!(
            Notify::parse("delay,success").unwrap().to_param(),
            "SUCCESS,DELAY"
        );
        assert_eq!(Notify::parse("never").unwrap().to_param(), "NEVER");
        assert!(Notify::parse("never,success").is_err());
        assert!(Notify::parse("").is_err());
        assert!(Notify::parse("sometimes").is_err());
        assert!((Notify::NEVER | Notify::DELAY).checked().is_err());
    }

    #[test]
    fn xtext_escapes_plus_equals_controls_and_non_ascii() {
        assert_eq!(xtext("a+b=c"), "a+2Bb+3Dc");
        assert_eq!(xtext("id 1\r\n"), "id+201+0D+0A");
        assert_eq!(xtext("é"), "+C3+A9");
        assert_eq!(xtext("plain@example.org"), "plain@example.org");
    }

    #[test]
    fn utf8_address_form() {
        assert_eq!(
            utf8_addr_xtext("用户@例子.广告"),
            "\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}"
        );
        assert_eq!(utf8_addr_xtext("a+b@x"), "a\\x{2B}b@x");
        assert_eq!(
            encode_original_recipient("ü@x.de").unwrap(),
            "utf-8;\\x{FC}@x.de"
        );
        assert_eq!(
            encode_original_recipient("a+b@x.de").unwrap(),
            "rfc822;a+2Bb@x.de"
        );
        assert!(encode_original_recipient("a@b\r\nRCPT TO:<x@y>").is_err());
        assert!(encode_original_recipient("no-domain").is_err());
        // 60 non-ASCII characters: each \x{HEX} is 7 or 8 characters.
        let long = format!("{}@example.org", "用".repeat(60));
        assert!(encode_original_recipient(&long).is_err());
    }

    #[test]
    fn envelope_id_limits() {
        assert_eq!(encode_envelope_id("q+1").unwrap(), "q+2B1");
        assert_eq!(encode_envelope_id("a b=c").unwrap(), "a+20b+3Dc");
        assert!(encode_envelope_id("").is_err());
        assert!(encode_envelope_id("id\r\nX-Injected: 1").is_err());
        assert!(encode_envelope_id("tab\there").is_err());
        assert!(encode_envelope_id("é").is_err());
        assert!(encode_envelope_id("nul\0").is_err());
        assert!(encode_envelope_id(&"x".repeat(101)).is_err());
        assert!(encode_envelope_id(&"=".repeat(34)).is_err());
        assert!(encode_envelope_id(&"x".repeat(100)).is_ok());
    }

    #[test]
    fn priority_range() {
        assert!(check_priority(9).is_ok() && check_priority(-9).is_ok());
        assert!(check_priority(10).is_err() && check_priority(-10).is_err());
    }
}
