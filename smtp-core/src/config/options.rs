//! Settings by name: the one table of option names (URL query options,
//! configuration-file keys, `smtp_client_set_option()` in C, PHP's
//! `options` array) and the one parser for each option's value.

use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use super::{Config, PlaintextAuthPolicy, RecipientPolicy, Timeouts};
use crate::auth::{Credentials, Mechanism};
use crate::error::{Error, Result};
use crate::message::LongLines;
use crate::tls::Security;

/// One option [`Config::set`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigOption {
    /// The name, as written in URLs and configuration files.
    pub name: &'static str,
    /// Other spellings accepted for the same option.
    pub aliases: &'static [&'static str],
    /// The values it takes.
    pub values: &'static str,
    /// What it does.
    pub about: &'static str,
}

const fn option(
    name: &'static str,
    aliases: &'static [&'static str],
    values: &'static str,
    about: &'static str,
) -> ConfigOption {
    ConfigOption {
        name,
        aliases,
        values,
        about,
    }
}

/// What an on/off option takes.
const FLAG: &str = "1, 0, true, false, yes, no, on or off";

/// Every option, in the order the documentation lists them.
pub const OPTIONS: &[ConfigOption] = &[
    option("url", &[], "smtp://... or smtps://...", "the server, its port and TLS mode, the user and password, and options, as one URL"),
    option("host", &[], "a host name or address, or a comma-separated list of host[:port] (relay failover)", "the server, or the servers tried in order when one cannot be reached, fails TLS or answers 4xx before any message (greeting, EHLO, AUTH)"),
    option("port", &[], "1 to 65535", "the server's port (default 465 for implicit TLS, else 587)"),
    option("security", &["tls"], "auto, implicit, starttls, opportunistic or none", "how TLS is used (auto: implicit on 465, STARTTLS required on 587 or with credentials, else opportunistic)"),
    option("user", &[], "a user name", "the user to authenticate as"),
    option("password", &[], "a password (or a token, with token=1)", "the secret to authenticate with"),
    option("token", &[], FLAG, "the password is an OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER)"),
    option("token_refresh_margin", &[], "seconds, 0 to 86400", "with an OAuth 2.0 token provider (smtp-send: token_command), a cached token expiring within this is replaced before use (default 600)"),
    option("auth", &["mechanism"], "auto, or a SASL mechanism: scram-sha-256, scram-sha-1, cram-md5, plain, login, xoauth2, oauthbearer", "the mechanism to use (auto: the strongest both sides support)"),
    option("client_name", &["helo", "ehlo"], "a domain name or an address literal", "the name sent with EHLO"),
    option("ca_file", &[], "a path", "a PEM file of CA certificates to trust, in addition to the system's (may be given several times)"),
    option("system_roots", &[], FLAG, "whether the system's CA certificates are trusted (default on)"),
    option("tls_server_name", &[], "a host name or address", "the name the server's certificate is checked against (default: the host)"),
    option("timeout", &[], "seconds", "the timeout of every step (default: RFC 5321's, 2 to 10 minutes)"),
    option("connect_timeout", &[], "seconds", "the timeout of opening the connection (default 30)"),
    option("total_timeout", &[], "seconds, 0 for none", "a limit on each whole call (default none)"),
    option("pipelining", &[], FLAG, "use PIPELINING when offered (default on)"),
    option("chunking", &[], FLAG, "use CHUNKING (BDAT) when offered (default on)"),
    option("long_lines", &[], "repair or refuse", "what happens to a message line over 998 octets (default repair)"),
    option("recipient_policy", &[], "deliver_to_accepted or all_or_nothing", "what happens when some recipients are refused (default deliver_to_accepted)"),
    option("plaintext_auth", &[], "never, loopback_only or insecure_always", "when credentials may travel without TLS (default loopback_only)"),
    option("dsn_notify", &[], "off, never, or a comma-separated list of success, failure, delay", "delivery status notifications (NOTIFY) for every recipient of messages that do not set their own (default off)"),
    option("dsn_return", &[], "off, full or hdrs", "what delivery status notifications return (RET) for messages that do not say (default off)"),
    option("dsn_if_offered", &[], FLAG, "a server without DSN gets messages without the DSN parameters (reported as omitted) instead of an error (default off)"),
    option("requiretls", &["require_tls"], FLAG, "REQUIRETLS (RFC 8689) on every message: refused before anything is sent unless the session is TLS and the server offers it (default off)"),
    option("proxy", &[], "off, socks5://[user[:password]@]host[:port] (socks5h, socks5l) or http://[user[:password]@]host[:port]", "connect through a SOCKS5 or HTTP CONNECT proxy; TLS runs end to end, checked against the mail server's name (default off)"),
    option("mt_priority", &["priority"], "off, or -9 (lowest) to 9", "MT-PRIORITY (RFC 6710) for messages that do not set their own, sent when the server offers it (default off)"),
    option("dkim_domain", &[], "a domain name (ASCII, xn-- for IDNs)", "the DKIM signing domain (d=); with dkim_key, every composed and raw message is signed"),
    option("dkim_key", &[], "selector:/path/to/key.pem, comma-separated (one RSA and one Ed25519 key make two signatures); empty for no signing", "the DKIM private keys (PEM: PKCS#8, or PKCS#1 for RSA; RSA at least 2048 bits), loaded and checked when set"),
    option("dkim_canonicalization", &[], "header/body, each simple or relaxed (default relaxed/relaxed)", "the DKIM canonicalization (c=)"),
    option("dkim_headers", &[], "header field names, separated by commas or colons", "the header fields DKIM signs when present (default From, To, Cc, Subject, Date, Message-ID, MIME-Version, Content-Type, Reply-To, In-Reply-To, References, List-Unsubscribe, List-Unsubscribe-Post; From is always signed once more than present)"),
    option("dkim_expire", &[], "seconds, 0 for none", "DKIM signatures expire this long after signing (x=; default none)"),
];

impl ConfigOption {
    /// The option called `key` (its name or one of its aliases).
    pub fn named(key: &str) -> Option<&'static ConfigOption> {
        OPTIONS
            .iter()
            .find(|o| o.name == key || o.aliases.contains(&key))
    }
}

/// The canonical name of `key` (an option's name or one of its aliases).
fn canonical(key: &str) -> Option<&'static str> {
    ConfigOption::named(key).map(|o| o.name)
}

/// The error for a name that is not an option.
fn unknown(key: &str) -> Error {
    let names: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
    Error::invalid(
        "option",
        format!(
            "{key:?} is not an option; the options are {}",
            names.join(", ")
        ),
    )
}

/// An input error reported under the option's name.
fn renamed(name: &'static str, error: Error) -> Error {
    match error {
        Error::InvalidInput { reason, .. } => Error::invalid(name, reason),
        other => other,
    }
}

/// Parses an on/off value.
fn flag(name: &'static str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(
            name,
            format!("must be {FLAG}, not {value:?}"),
        )),
    }
}

/// Parses a number of seconds (a fraction allowed), at most a day;
/// `zero_ok` lets 0 through.
fn seconds(name: &'static str, value: &str, zero_ok: bool) -> Result<Duration> {
    let secs: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .ok_or_else(|| {
            Error::invalid(
                name,
                format!("must be a number of seconds up to 86400, not {value:?}"),
            )
        })?;
    if secs == 0.0 && !zero_ok {
        return Err(Error::invalid(name, "must be more than 0 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A value that must not be empty.
fn non_empty<'v>(name: &'static str, value: &'v str) -> Result<&'v str> {
    if value.trim().is_empty() {
        Err(Error::invalid(name, "is empty"))
    } else {
        Ok(value)
    }
}

impl Config {
    /// The options [`Config::set`] accepts, with their values and meaning.
    pub fn options() -> &'static [ConfigOption] {
        OPTIONS
    }

    /// Sets one option by name, as a URL query, a configuration file, the
    /// C ABI (`smtp_client_set_option`) or PHP give it; the names and
    /// values are in [`OPTIONS`]. A later value replaces an earlier one
    /// (`ca_file` adds a file). An unknown name or a bad value is
    /// [`Error::InvalidInput`] naming the option, and changes nothing.
    ///
    /// ```
    /// use smtp_core::{Config, Security};
    ///
    /// let mut config = Config::from_url("smtp://mail.example.org").unwrap();
    /// config.set("port", "2525").unwrap();
    /// config.set("security", "implicit").unwrap();
    /// assert_eq!((config.port(), config.security()), (2525, Security::Implicit));
    /// assert!(config.set("pipelinig", "off").is_err()); // misspelt: an error
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let name = canonical(key).ok_or_else(|| unknown(key))?;
        match name {
            "url" => {
                // Applied to a copy: a bad URL changes nothing.
                let mut next = self.clone();
                next.apply_url(value)?;
                *self = next;
            }
            "host" => self.host = non_empty(name, value)?.trim().to_string(),
            "port" => {
                let port: u16 = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| {
                        Error::invalid(name, format!("must be 1 to 65535, not {value:?}"))
                    })?;
                self.port = Some(port);
            }
            "security" => {
                self.security = if value.eq_ignore_ascii_case("auto") {
                    None
                } else {
                    Some(Security::from_name(value).ok_or_else(|| {
                        Error::invalid(
                            name,
                            format!("must be auto, implicit, starttls, opportunistic or none, not {value:?}"),
                        )
                    })?)
                };
            }
            "user" => self.set_user(non_empty(name, value)?.to_string()),
            "password" => self.set_secret(value),
            "token" => self.set_token(flag(name, value)?),
            "token_refresh_margin" => self.token_refresh_margin = seconds(name, value, true)?,
            "auth" => {
                self.mechanism = if value.eq_ignore_ascii_case("auto") {
                    None
                } else {
                    Some(Mechanism::from_name(value).ok_or_else(|| {
                        let names: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
                        Error::invalid(
                            name,
                            format!("must be auto or one of {}, not {value:?}", names.join(", ")),
                        )
                    })?)
                };
            }
            "client_name" => {
                let value = non_empty(name, value)?;
                crate::command::validate_client_name(value).map_err(|e| match e {
                    Error::InvalidInput { reason, .. } => Error::invalid(name, reason),
                    other => other,
                })?;
                self.client_name = Some(value.to_string());
            }
            "ca_file" => self
                .tls
                .ca_files
                .push(PathBuf::from(non_empty(name, value)?)),
            "system_roots" => self.tls.system_roots = flag(name, value)?,
            "tls_server_name" => {
                let value = non_empty(name, value)?;
                crate::tls::server_name(value).map_err(|_| {
                    Error::invalid(name, "is not a valid DNS name or IP address for TLS")
                })?;
                self.tls_server_name = Some(value.to_string());
            }
            "timeout" => {
                // Every step, connecting included; a later connect_timeout
                // or total_timeout still applies on top.
                let total = self.timeouts.total;
                self.timeouts = Timeouts {
                    total,
                    ..Timeouts::uniform(seconds(name, value, false)?)
                };
            }
            "connect_timeout" => self.timeouts.connect = seconds(name, value, false)?,
            "total_timeout" => {
                let total = seconds(name, value, true)?;
                self.timeouts.total = (!total.is_zero()).then_some(total);
            }
            "pipelining" => self.pipelining = flag(name, value)?,
            "chunking" => self.chunking = flag(name, value)?,
            "long_lines" => {
                self.long_lines = LongLines::from_name(value).ok_or_else(|| {
                    Error::invalid(name, format!("must be repair or refuse, not {value:?}"))
                })?;
            }
            "recipient_policy" => {
                self.recipient_policy = match value.to_ascii_lowercase().as_str() {
                    "deliver_to_accepted" => RecipientPolicy::DeliverToAccepted,
                    "all_or_nothing" => RecipientPolicy::AllOrNothing,
                    _ => {
                        return Err(Error::invalid(
                            name,
                            format!("must be deliver_to_accepted or all_or_nothing, not {value:?}"),
                        ))
                    }
                };
            }
            "plaintext_auth" => {
                self.plaintext_auth = match value.to_ascii_lowercase().as_str() {
                    "never" => PlaintextAuthPolicy::Never,
                    "loopback_only" => PlaintextAuthPolicy::LoopbackOnly,
                    "insecure_always" => PlaintextAuthPolicy::InsecureAlways,
                    _ => {
                        return Err(Error::invalid(
                            name,
                            format!(
                                "must be never, loopback_only or insecure_always, not {value:?}"
                            ),
                        ))
                    }
                };
            }
            "dsn_notify" => self.set_dsn_notify(value).map_err(|e| renamed(name, e))?,
            "dsn_return" => self.set_dsn_return(value).map_err(|e| renamed(name, e))?,
            "dsn_if_offered" => self.dsn.if_offered = flag(name, value)?,
            "requiretls" => self.dsn.require_tls = flag(name, value)?,
            "proxy" => {
                // Compared in place: a lower-cased copy would hold the
                // password unwiped.
                let value = value.trim();
                let off = ["", "off", "none"];
                self.proxy = match off.iter().any(|o| value.eq_ignore_ascii_case(o)) {
                    true => None,
                    false => Some(crate::proxy::Proxy::parse(value)?),
                }
            }
            "mt_priority" => self.set_priority(value).map_err(|e| renamed(name, e))?,
            "dkim_domain"
            | "dkim_key"
            | "dkim_canonicalization"
            | "dkim_headers"
            | "dkim_expire" => self.set_dkim(name, value)?,
            _ => return Err(unknown(key)),
        }
        Ok(())
    }

    /// The user to authenticate as, keeping a secret already given.
    pub(super) fn set_user(&mut self, user: String) {
        if self.token.is_some() {
            // The provider's token goes in when connecting.
            let authzid = self
                .credentials
                .take()
                .and_then(|c| c.authzid().map(String::from));
            let credentials = Credentials::bearer_token(user, "");
            self.credentials = Some(match authzid {
                Some(authzid) => credentials.with_authzid(authzid),
                None => credentials,
            });
            self.secret_given = true;
            return;
        }
        let secret = match self.credentials.take() {
            Some(old) => Zeroizing::new(old.secret_text().to_string()),
            None => match self.pending_secret.take() {
                Some(secret) => {
                    self.secret_given = true;
                    secret
                }
                None => {
                    self.secret_given = false;
                    Zeroizing::new(String::new())
                }
            },
        };
        self.credentials = Some(self.make_credentials(user, &secret));
    }

    /// The password or token, for the user given before or after it.
    pub(super) fn set_secret(&mut self, secret: &str) {
        // A secret given by name replaces a token provider, and is a
        // password again (`token=1` makes it a fixed token).
        if self.token.take().is_some() {
            self.secret_is_token = false;
        }
        match self.credentials.take() {
            Some(old) => {
                let user = old.username().to_string();
                self.credentials = Some(self.make_credentials(user, secret));
                self.secret_given = true;
            }
            None => self.pending_secret = Some(Zeroizing::new(secret.to_string())),
        }
    }

    /// Whether secrets set by name are bearer tokens.
    fn set_token(&mut self, token: bool) {
        if !token && self.token.take().is_some() {
            // The provider's credentials hold no secret: a password is needed now.
            self.secret_given = false;
        }
        self.secret_is_token = token;
        if let Some(old) = self.credentials.take() {
            let secret = Zeroizing::new(old.secret_text().to_string());
            self.credentials = Some(self.make_credentials(old.username().to_string(), &secret));
        }
    }

    fn make_credentials(&self, user: String, secret: &str) -> Credentials {
        if self.secret_is_token {
            Credentials::bearer_token(user, secret)
        } else {
            Credentials::password(user, secret)
        }
    }
}
