//! Every command the client sends, formatted in one place. Arguments are
//! checked here: CR, LF and NUL never reach the wire, so no caller-supplied
//! value can start a second command.

use zeroize::Zeroizing;

use crate::dsn::{DsnReturn, RecipientParams};
use crate::error::{Error, Phase, Result};

/// Longest `AUTH` line (RFC 4954 section 4: 12288 octets including CRLF).
pub const MAX_AUTH_LINE: usize = 12288;
/// Longest other command line (RFC 5321 4.5.3.1.4, CRLF included).
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest local part of an address (RFC 5321 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// Longest domain (RFC 5321 4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// Longest reverse- or forward-path including the angle brackets (RFC 5321 4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// How much longer a `MAIL` or `RCPT` line may be with DSN parameters
/// (RFC 3461 section 4: 100 and 500 characters more).
const DSN_MAIL_EXTRA: usize = 100;
const DSN_RCPT_EXTRA: usize = 500;
/// And with REQUIRETLS and MT-PRIORITY, whose words are short.
const OTHER_MAIL_EXTRA: usize = 40;

/// Optional `MAIL FROM` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=` (RFC 1870), sent when the server offers SIZE.
    pub size: Option<u64>,
    /// `BODY=8BITMIME` (RFC 6152).
    pub eight_bit: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<DsnReturn>,
    /// `ENVID=`, already xtext-encoded (RFC 3461).
    pub envid: Option<String>,
    /// `REQUIRETLS` (RFC 8689).
    pub require_tls: bool,
    /// `MT-PRIORITY=` (RFC 6710).
    pub priority: Option<i8>,
}

/// A command, as a value: formatted on the wire by [`Command::to_wire`] and
/// shown in the transcript by [`Command::to_transcript`].
///
/// `Debug` is written by hand: SASL responses print as `<redacted>` whatever
/// the `zeroize` version (only some versions print `Zeroizing` opaquely).
pub enum Command {
    /// `EHLO name`.
    Ehlo(String),
    /// `HELO name`.
    Helo(String),
    /// `STARTTLS`.
    StartTls,
    /// `AUTH mechanism [initial-response]`; the response is already base64.
    Auth {
        /// Mechanism name.
        mechanism: &'static str,
        /// Base64 initial response (`=` for an empty one).
        initial_response: Option<Zeroizing<String>>,
    },
    /// A base64 answer to a `334` challenge (`*` cancels).
    AuthResponse(Zeroizing<String>),
    /// `MAIL FROM:<path> params`.
    MailFrom {
        /// The reverse path, empty for the null sender.
        from: String,
        /// Parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path> params`.
    RcptTo {
        /// The forward path.
        to: String,
        /// `NOTIFY` and `ORCPT` (RFC 3461).
        params: RecipientParams,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030); the chunk follows on the wire.
    Bdat {
        /// Octets in the chunk.
        size: u64,
        /// True for the chunk that ends the message.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

impl Command {
    /// `RCPT TO:<to>` without parameters.
    pub fn rcpt(to: impl Into<String>) -> Command {
        Command::RcptTo {
            to: to.into(),
            params: RecipientParams::default(),
        }
    }
}

/// What `Debug` prints in place of a SASL response or credential.
const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Ehlo(name) => f.debug_tuple("Ehlo").field(name).finish(),
            Command::Helo(name) => f.debug_tuple("Helo").field(name).finish(),
            Command::StartTls => f.write_str("StartTls"),
            Command::Auth {
                mechanism,
                initial_response,
            } => f
                .debug_struct("Auth")
                .field("mechanism", mechanism)
                .field(
                    "initial_response",
                    &initial_response.as_ref().map(|_| Redacted),
                )
                .finish(),
            Command::AuthResponse(_) => f.debug_tuple("AuthResponse").field(&Redacted).finish(),
            Command::MailFrom { from, params } => f
                .debug_struct("MailFrom")
                .field("from", from)
                .field("params", params)
                .finish(),
            Command::RcptTo { to, params } => f
                .debug_struct("RcptTo")
                .field("to", to)
                .field("params", params)
                .finish(),
            Command::Data => f.write_str("Data"),
            Command::Bdat { size, last } => f
                .debug_struct("Bdat")
                .field("size", size)
                .field("last", last)
                .finish(),
            Command::Rset => f.write_str("Rset"),
            Command::Noop => f.write_str("Noop"),
            Command::Quit => f.write_str("Quit"),
        }
    }
}

/// Prints [`REDACTED`] (unquoted) in a `Debug` field.
struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Command {
    /// The protocol phase this command belongs to (for errors and timeouts).
    pub fn phase(&self) -> Phase {
        match self {
            Command::Ehlo(_) => Phase::Ehlo,
            Command::Helo(_) => Phase::Helo,
            Command::StartTls => Phase::StartTls,
            Command::Auth { .. } | Command::AuthResponse(_) => Phase::Auth,
            Command::MailFrom { .. } => Phase::MailFrom,
            Command::RcptTo { .. } => Phase::RcptTo,
            Command::Data => Phase::Data,
            Command::Bdat { last: true, .. } => Phase::EndOfData,
            Command::Bdat { last: false, .. } => Phase::Body,
            Command::Rset => Phase::Rset,
            Command::Noop => Phase::Noop,
            Command::Quit => Phase::Quit,
        }
    }

    /// Appends the command line, CRLF included, to `out`. Fails if an
    /// argument holds CR, LF or NUL or the line is too long.
    pub fn to_wire(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let mut push = |s: &str| out.extend_from_slice(s.as_bytes());
        match self {
            Command::Ehlo(name) => {
                push("EHLO ");
                push(name);
            }
            Command::Helo(name) => {
                push("HELO ");
                push(name);
            }
            Command::StartTls => push("STARTTLS"),
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                push("AUTH ");
                push(mechanism);
                if let Some(ir) = initial_response {
                    push(" ");
                    push(ir);
                }
            }
            Command::AuthResponse(response) => push(response),
            Command::MailFrom { from, params } => {
                push("MAIL FROM:<");
                push(from);
                push(">");
                if let Some(size) = params.size {
                    push(&format!(" SIZE={size}"));
                }
                if params.eight_bit {
                    push(" BODY=8BITMIME");
                }
                if params.smtputf8 {
                    push(" SMTPUTF8");
                }
                if let Some(ret) = params.ret {
                    push(" RET=");
                    push(ret.as_str());
                }
                if let Some(envid) = &params.envid {
                    push(" ENVID=");
                    push(envid);
                }
                if params.require_tls {
                    push(" REQUIRETLS");
                }
                if let Some(priority) = params.priority {
                    push(&format!(" MT-PRIORITY={priority}"));
                }
            }
            Command::RcptTo { to, params } => {
                push("RCPT TO:<");
                push(to);
                push(">");
                if let Some(notify) = params.notify {
                    push(" NOTIFY=");
                    push(&notify.to_param());
                }
                if let Some(orcpt) = &params.orcpt {
                    push(" ORCPT=");
                    push(orcpt);
                }
            }
            Command::Data => push("DATA"),
            Command::Bdat { size, last } => {
                push(&format!("BDAT {size}"));
                if *last {
                    push(" LAST");
                }
            }
            Command::Rset => push("RSET"),
            Command::Noop => push("NOOP"),
            Command::Quit => push("QUIT"),
        }
        let line = &out[start..];
        let bad = line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0));
        let limit = match self {
            Command::Auth { .. } | Command::AuthResponse(_) => MAX_AUTH_LINE,
            Command::MailFrom { params, .. } => {
                let mut limit = MAX_COMMAND_LINE;
                if params.ret.is_some() || params.envid.is_some() {
                    limit += DSN_MAIL_EXTRA;
                }
                if params.require_tls || params.priority.is_some() {
                    limit += OTHER_MAIL_EXTRA;
                }
                limit
            }
            Command::RcptTo { params, .. } if params.notify.is_some() || params.orcpt.is_some() => {
                MAX_COMMAND_LINE + DSN_RCPT_EXTRA
            }
            _ => MAX_COMMAND_LINE,
        };
        let too_long = line.len() + 2 > limit;
        if bad || too_long {
            out.truncate(start);
            let field = self.field_name();
            return Err(Error::invalid(
                field,
                if bad {
                    "contains CR, LF or NUL".to_string()
                } else {
                    format!("the command line would exceed {limit} octets")
                },
            ));
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn field_name(&self) -> &'static str {
        match self {
            Command::Ehlo(_) | Command::Helo(_) => "client name",
            Command::Auth { .. } | Command::AuthResponse(_) => "authentication data",
            Command::MailFrom { .. } => "sender address",
            Command::RcptTo { .. } => "recipient address",
            _ => "command",
        }
    }

    /// The line as it may appear in a transcript: authentication data is
    /// replaced by `[credentials hidden]`.
    pub fn to_transcript(&self) -> String {
        match self {
            Command::Auth {
                mechanism,
                initial_response: Some(_),
            } => format!("AUTH {mechanism} [credentials hidden]"),
            Command::AuthResponse(_) => "[credentials hidden]".to_string(),
            other => {
                let mut line = Vec::new();
                match other.to_wire(&mut line) {
                    Ok(()) => {
                        line.truncate(line.len() - 2);
                        String::from_utf8_lossy(&line).into_owned()
                    }
                    Err(_) => "[invalid command]".to_string(),
                }
            }
        }
    }
}

/// Checks a client name for EHLO/HELO: a domain or an address literal.
pub fn validate_client_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("client name", "is empty"));
    }
    if name.len() > MAX_DOMAIN {
        return Err(Error::invalid(
            "client name",
            format!("is longer than {MAX_DOMAIN} octets"),
        ));
    }
    if name.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(Error::invalid(
            "client name",
            "contains a space or a control character (CR, LF, NUL...)",
        ));
    }
    Ok(())
}

/// Checks an envelope address (without angle brackets): RFC 5321 syntax
/// with RFC 6531 UTF-8, and the RFC 5321 length limits. `field` names the
/// input in errors. The empty string (the null reverse-path) is accepted
/// only when `allow_null` is set.
///
/// The grammar: `local@domain`, split at the last `@`. The local part is a
/// dot-atom (atoms of RFC 5322 `atext` or any non-ASCII character, joined
/// by single dots) or a quoted string (`"a b"`: printable ASCII, spaces,
/// non-ASCII and `\` pairs escaping a printable ASCII character or a
/// space). The domain is dot-separated labels of letters, digits, hyphens
/// (not first or last) and non-ASCII characters, or an address literal in
/// brackets (`[192.0.2.1]`, `[IPv6:::1]`). No control character (C0, DEL
/// or C1) is allowed anywhere, nor `<` or `>`.
pub fn validate_address(address: &str, field: &'static str, allow_null: bool) -> Result<()> {
    /// RFC 5322 `atext` for ASCII; every non-ASCII character (RFC 6531),
    /// controls having been refused before.
    fn atom_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
    }
    /// The inside of a quoted local part: qtext, spaces and quoted pairs.
    fn quoted_ok(inner: &str) -> bool {
        let mut escaped = false;
        for c in inner.chars() {
            if escaped {
                // A quoted pair escapes printable ASCII or a space.
                if !(c == ' ' || c.is_ascii_graphic()) {
                    return false;
                }
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                return false;
            }
        }
        !escaped
    }

    if address.is_empty() {
        return if allow_null {
            Ok(())
        } else {
            Err(Error::invalid(field, "is empty"))
        };
    }
    if let Some(c) = address.chars().find(|c| c.is_control()) {
        let what = match c {
            '\r' => "CR",
            '\n' => "LF",
            '\0' => "NUL",
            _ => "a control character",
        };
        return Err(Error::invalid(field, format!("contains {what}")));
    }
    if address.contains(['<', '>']) {
        return Err(Error::invalid(field, "contains '<' or '>'"));
    }
    if address.len() + 2 > MAX_PATH {
        return Err(Error::invalid(
            field,
            format!("is longer than {} octets", MAX_PATH - 2),
        ));
    }
    let Some(at) = address.rfind('@') else {
        // RFC 5321 allows a bare "postmaster" as a recipient.
        if field == "recipient address" && address.eq_ignore_ascii_case("postmaster") {
            return Ok(());
        }
        return Err(Error::invalid(field, "has no '@'"));
    };
    let (local, domain) = (&address[..at], &address[at + 1..]);
    if local.is_empty() {
        return Err(Error::invalid(field, "has an empty local part"));
    }
    if local.len() > MAX_LOCAL_PART {
        return Err(Error::invalid(
            field,
            format!("has a local part longer than {MAX_LOCAL_PART} octets"),
        ));
    }
    if let Some(quoted) = local.strip_prefix('"') {
        let ok = quoted.strip_suffix('"').is_some_and(quoted_ok);
        if !ok {
            return Err(Error::invalid(field, "has a malformed quoted local part"));
        }
    } else if local.contains(' ') {
        return Err(Error::invalid(
            field,
            "has a space in an unquoted local part",
        ));
    } else if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atom_char))
    {
        return Err(Error::invalid(
            field,
            "has a local part with characters that need quoting (or a misplaced '.')",
        ));
    }
    if domain.is_empty() {
        return Err(Error::invalid(field, "has an empty domain"));
    }
    if domain.len() > MAX_DOMAIN {
        return Err(Error::invalid(
            field,
            format!("has a domain longer than {MAX_DOMAIN} octets"),
        ));
    }
    if let Some(literal) = domain.strip_prefix('[') {
        // RFC 5322 dtext: printable ASCII other than the brackets and '\'.
        let ok = literal.strip_suffix(']').is_some_and(|inner| {
            !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '[' | ']' | '\\'))
        });
        if !ok {
            return Err(Error::invalid(field, "has a malformed address literal"));
        }
        return Ok(());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
            && (!label.is_ascii() || label.len() <= 63)
    };
    if !domain.split('.').all(label_ok) {
        return Err(Error::invalid(field, "has a malformed domain"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(cmd: &Command) -> Result<String> {
        let mut out = Vec::new();
        cmd.to_wire(&mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn formats_commands() {
        assert_eq!(wire(&Command::Ehlo("a.b".into())).unwrap(), "EHLO a.b\r\n");
        assert_eq!(wire(&Command::Quit).unwrap(), "QUIT\r\n");
        let bdat = Command::Bdat {
            size: 42,
            last: true,
        };
        assert_eq!(wire(&bdat).unwrap(), "BDAT 42 LAST\r\n");
        let bdat = Command::Bdat {
            size: 0,
            last: false,
        };
        assert_eq!(wire(&bdat).unwrap(), "BDAT 0\r\n");
        let mail = Command::MailFrom {
            from: "a@b.c".into(),
            params: MailParams {
                size: Some(10),
                eight_bit: true,
                smtputf8: true,
                ..MailParams::default()
            },
        };
        assert_eq!(
            wire(&mail).unwrap(),
            "MAIL FROM:<a@b.c> SIZE=10 BODY=8BITMIME SMTPUTF8\r\n"
        );
        let extended = Command::MailFrom {
            from: "a@b.c".into(),
            params: MailParams {
                ret: Some(DsnReturn::Headers),
                envid: Some("q+2B1".into()),
                require_tls: true,
                priority: Some(-3),
                ..MailParams::default()
            },
        };
        assert_eq!(
            wire(&extended).unwrap(),
            "MAIL FROM:<a@b.c> RET=HDRS ENVID=q+2B1 REQUIRETLS MT-PRIORITY=-3\r\n"
        );
        let rcpt = Command::RcptTo {
            to: "x@y.z".into(),
            params: RecipientParams {
                notify: Some(crate::Notify::SUCCESS | crate::Notify::DELAY),
                orcpt: Some("rfc822;x+2By@y.z".into()),
            },
        };
        assert_eq!(
            wire(&rcpt).unwrap(),
            "RCPT TO:<x@y.z> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+2By@y.z\r\n"
        );
        let null = Command::MailFrom {
            from: String::new(),
            params: MailParams::default(),
        };
        assert_eq!(wire(&null).unwrap(), "MAIL FROM:<>\r\n");
        assert_eq!(
            wire(&Command::rcpt("x@y.z")).unwrap(),
            "RCPT TO:<x@y.z>\r\n"
        );
    }

    #[test]
    fn rejects_line_breaks_in_every_argument() {
        for evil in ["a\r\nRSET", "a\nb", "a\rb", "a\0b"] {
            assert!(wire(&Command::Ehlo(evil.into())).is_err());
            assert!(wire(&Command::rcpt(evil)).is_err());
            assert!(wire(&Command::AuthResponse(Zeroizing::new(evil.into()))).is_err());
            let mail = Command::MailFrom {
                from: evil.into(),
                params: MailParams::default(),
            };
            let err = wire(&mail).unwrap_err();
            assert!(matches!(
                err,
                Error::InvalidInput {
                    field: "sender address",
                    ..
                }
            ));
        }
    }

    #[test]
    fn auth_is_hidden_in_transcript() {
        let auth = Command::Auth {
            mechanism: "PLAIN",
            initial_response: Some(Zeroizing::new("AHRpbQB0YW5zdGFhZnRhbnN0YWFm".into())),
        };
        assert_eq!(auth.to_transcript(), "AUTH PLAIN [credentials hidden]");
        let resp = Command::AuthResponse(Zeroizing::new("c2VjcmV0".into()));
        assert_eq!(resp.to_transcript(), "[credentials hidden]");
    }

    #[test]
    fn debug_hides_sasl_secrets() {
        use base64::Engine as _;
        let secret = "tanstaafl-hunter2";
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("\0tim\0{secret}"));
        let cases = [
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(Zeroizing::new(b64.clone())),
            },
            Command::AuthResponse(Zeroizing::new(b64.clone())),
            Command::AuthResponse(Zeroizing::new(secret.into())),
        ];
        for cmd in &cases {
            for shown in [format!("{cmd:?}"), format!("{cmd:#?}")] {
                assert!(!shown.contains(secret), "{shown}");
                assert!(!shown.contains(&b64), "{shown}");
                assert!(shown.contains(REDACTED), "{shown}");
            }
        }
        let shown = format!("{:?}", cases[0]);
        assert!(shown.contains("PLAIN"), "{shown}");
        // Nothing to hide: no placeholder.
        let none = Command::Auth {
            mechanism: "LOGIN",
            initial_response: None,
        };
        assert_eq!(
            format!("{none:?}"),
            "Auth { mechanism: \"LOGIN\", initial_response: None }"
        );
        assert_eq!(
            format!("{:?}", Command::rcpt("a@b")),
            "RcptTo { to: \"a@b\", params: RecipientParams { notify: None, orcpt: None } }"
        );
    }

    #[test]
    fn command_length_limits() {
        let long = format!("{}@x.org", "a".repeat(600));
        assert!(wire(&Command::rcpt(long)).is_err());
        let ir = Zeroizing::new("A".repeat(5000));
        let auth = Command::Auth {
            mechanism: "XOAUTH2",
            initial_response: Some(ir),
        };
        assert!(wire(&auth).is_ok());
    }

    #[test]
    fn address_validation() {
        let ok = [
            "a@b.c",
            "\"john doe\"@x.org",
            "u@[127.0.0.1]",
            "用户@例子.中国",
        ];
        for a in ok {
            validate_address(a, "recipient address", false).unwrap();
        }
        validate_address("", "sender address", true).unwrap();
        validate_address("postmaster", "recipient address", false).unwrap();
        let bad = [
            "",
            "nobody",
            "@x.org",
            "a@",
            "a b@x.org",
            "a@x..org",
            "a@x\r\n.org",
            "a\0@x.org",
            "a>@x.org",
            "a@[1.2.3.4",
        ];
        for a in bad {
            assert!(
                validate_address(a, "recipient address", false).is_err(),
                "{a:?}"
            );
        }
        let long_local = format!("{}@x.org", "a".repeat(65));
        assert!(validate_address(&long_local, "recipient address", false).is_err());
        let long_domain = format!("a@{}.org", "d".repeat(252));
        assert!(validate_address(&long_domain, "recipient address", false).is_err());
    }

    /// The envelope grammar is the one `Mailbox::parse` uses: a dot-atom
    /// (ASCII atext or any non-ASCII) or a quoted string, then a domain of
    /// host-name labels or an address literal; no control anywhere. The
    /// refused cases were all accepted before.
    #[test]
    fn address_grammar() {
        let ok = [
            "\"a b\"@example.org",
            "\"a\\\"b\"@example.org",
            "\"\"@example.org",
            "!#$%&'*+-/=?^_`{|}~@example.org",
            "ü.ñ@example.org",
            "=?i@xxxx",
            "u@[IPv6:2001:db8::1]",
            "u@bücher.example",
        ];
        for a in ok {
            validate_address(a, "recipient address", false)
                .unwrap_or_else(|e| panic!("{a:?}: {e}"));
        }
        let bad = [
            // Controls: C1 (NEL) and DEL as well as C0.
            "a\u{85}b@example.org",
            "a\u{7f}@example.org",
            "\"a\u{1d}\"@example.org",
            "\"a\tb\"@example.org",
            // Unquoted specials, misplaced dots, broken quoting.
            "a,b@example.org",
            "(c)a@example.org",
            "a@b@example.org",
            "a\"b@example.org",
            "\"a\"b\"@example.org",
            "\"a\\\"@example.org",
            "\"a\\\u{e9}\"@example.org",
            "a..b@example.org",
            ".a@example.org",
            "a.@example.org",
            // Domains.
            "a@ex_ample.org",
            "a@example!.org",
            "a@example.org.",
            "a@-x.org",
            "a@x-.org",
            "a@[]",
            "a@[1.2.3.4]x",
            "a@[a[b]",
        ];
        for a in bad {
            assert!(
                validate_address(a, "recipient address", false).is_err(),
                "{a:?}"
            );
        }
        let long_label = format!("a@{}.org", "d".repeat(64));
        assert!(validate_address(&long_label, "recipient address", false).is_err());
    }

    #[test]
    fn client_name_validation() {
        validate_client_name("mail.example.org").unwrap();
        validate_client_name("[127.0.0.1]").unwrap();
        for bad in ["", "a b", "a\r\nMAIL", "a\0"] {
            assert!(validate_client_name(bad).is_err());
        }
    }
}
