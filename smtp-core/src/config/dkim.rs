//! The DKIM settings of the configuration: [`Config::with_dkim`] from
//! code, the `dkim_*` options by name. Keys are loaded and checked when
//! they are set, so a missing, malformed or weak key is an error of the
//! configuration, not of a later send.

use std::time::Duration;

use super::Config;
use crate::dkim::{Canonicalization, DkimKey, DkimSigner};
use crate::error::{Error, Result};

/// A placeholder domain for keys loaded before `dkim_domain` is set.
const NO_DOMAIN: &str = "domain.invalid";

/// The `dkim_*` options as given by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct DkimText {
    domain: Option<String>,
    keys: Vec<DkimKey>,
    canonicalization: Option<(Canonicalization, Canonicalization)>,
    headers: Option<Vec<String>>,
    expiry: Option<Option<Duration>>,
}

impl DkimText {
    /// Keys without a domain, or a domain without keys, cannot sign
    /// (checked when no signer was given with `with_dkim`).
    pub(crate) fn validate(&self) -> Result<()> {
        match (&self.domain, self.keys.is_empty()) {
            (None, false) => Err(Error::invalid(
                "dkim_domain",
                "is not set, and dkim_key needs it",
            )),
            (Some(_), true) => Err(Error::invalid(
                "dkim_key",
                "is not set, and dkim_domain needs it",
            )),
            _ => Ok(()),
        }
    }

    /// Applies the canonicalization, headers and expiry set by name.
    fn tune(&self, mut signer: DkimSigner) -> Result<DkimSigner> {
        if let Some((header, body)) = self.canonicalization {
            signer = signer.with_canonicalization(header, body);
        }
        if let Some(headers) = &self.headers {
            signer = signer.with_headers(headers)?;
        }
        if let Some(expiry) = self.expiry {
            signer = signer.with_expiry(expiry);
        }
        Ok(signer)
    }
}

/// Parses `selector:/path, selector:/path`, loading each key.
fn load_keys(value: &str, domain: Option<&str>) -> Result<Vec<DkimKey>> {
    let mut keys = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (selector, path) = item.split_once(':').ok_or_else(|| {
            Error::invalid(
                "dkim_key",
                format!("must be selector:/path/to/key.pem, not {item:?}"),
            )
        })?;
        keys.push(DkimKey::from_file(
            domain.unwrap_or(NO_DOMAIN),
            selector.trim(),
            path.trim(),
        )?);
    }
    Ok(keys)
}

impl Config {
    /// Signs every composed message ([`Client::send_message`](crate::Client::send_message),
    /// `send_many_messages`) and raw message ([`Client::send_raw_message`](crate::Client::send_raw_message),
    /// `send_raw` with or without an envelope, the pools' `send_raw`)
    /// with DKIM. Bytes given to [`Client::send`](crate::Client::send),
    /// `send_bytes` or `send_many` are sent as they are. Replaces the
    /// `dkim_*` options set by name.
    pub fn with_dkim(mut self, signer: DkimSigner) -> Config {
        self.dkim = Some(std::sync::Arc::new(signer));
        self.dkim_text = DkimText::default();
        self
    }

    /// No DKIM signing (the default).
    pub fn without_dkim(mut self) -> Config {
        self.dkim = None;
        self.dkim_text = DkimText::default();
        self
    }

    /// The DKIM signer, if messages are signed. Its
    /// [`warnings`](DkimSigner::warnings) tell of key files others can read.
    pub fn dkim(&self) -> Option<&DkimSigner> {
        self.dkim.as_deref()
    }

    /// One `dkim_*` option by name (see [`Config::set`]); a bad value
    /// changes nothing, and its error names the option.
    pub(super) fn set_dkim(&mut self, name: &'static str, value: &str) -> Result<()> {
        self.set_dkim_inner(name, value).map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::invalid(name, reason),
            other => other,
        })
    }

    fn set_dkim_inner(&mut self, name: &'static str, value: &str) -> Result<()> {
        let mut text = self.dkim_text.clone();
        match name {
            "dkim_domain" => {
                let domain = value.trim();
                crate::dkim::DkimKey::check_domain(domain)?;
                text.keys = text
                    .keys
                    .iter()
                    .map(|k| k.with_domain(domain))
                    .collect::<Result<_>>()?;
                text.domain = Some(domain.to_string());
            }
            "dkim_key" => {
                // Keys set by name after `with_dkim` keep its domain.
                let typed = self
                    .dkim
                    .as_ref()
                    .and_then(|s| s.keys().first().map(|k| k.domain().to_string()));
                let domain = text.domain.clone().or(typed);
                text.keys = load_keys(value, domain.as_deref())?;
                text.domain = if text.keys.is_empty() {
                    None // Empty: no signing.
                } else {
                    domain
                };
            }
            "dkim_canonicalization" => {
                text.canonicalization = Some(Canonicalization::parse_pair(value)?)
            }
            "dkim_headers" => {
                let names: Vec<String> = value
                    .split([',', ':'])
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from)
                    .collect();
                crate::dkim::header_names(&names)?;
                text.headers = Some(names);
            }
            "dkim_expire" => {
                let secs: u64 = value.trim().parse().map_err(|_| {
                    Error::invalid(
                        "dkim_expire",
                        format!("must be a whole number of seconds, not {value:?}"),
                    )
                })?;
                text.expiry = Some((secs > 0).then(|| Duration::from_secs(secs)));
            }
            _ => {
                return Err(Error::invalid(
                    "option",
                    format!("{name:?} is not a DKIM option"),
                ))
            }
        }
        // Build now, so that every problem shows here.
        let built = match (&text.domain, text.keys.split_first()) {
            (Some(_), Some((first, rest))) => Some(
                rest.iter()
                    .fold(DkimSigner::new(first.clone()), |s, k| s.with_key(k.clone())),
            ),
            _ if name == "dkim_key" && text.keys.is_empty() => None,
            // A domain for the signer given with `with_dkim`.
            (Some(domain), None) => match &self.dkim {
                Some(signer) => Some(signer.with_domain(domain)?),
                None => None,
            },
            _ => self.dkim.as_deref().cloned(),
        };
        let signer = built.map(|s| text.tune(s)).transpose()?;
        self.dkim = signer.map(std::sync::Arc::new);
        self.dkim_text = text;
        Ok(())
    }
}
