//! What the server offers, parsed from its EHLO reply (RFC 5321 4.1.1.1).

use crate::reply::Reply;

/// The service extensions a server announced in its EHLO reply.
///
/// Fields may be added in later versions, so outside this crate a value
/// comes from [`Capabilities::from_ehlo`] or [`Default`], not from a
/// struct literal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The domain the server named on the first EHLO line.
    pub server_name: String,
    /// SASL mechanisms from `AUTH` and the pre-standard `AUTH=` lines,
    /// upper-cased, without duplicates, in the server's order.
    pub auth: Vec<String>,
    /// `SIZE`: `Some(0)` means "no fixed limit", `None` means not offered.
    pub size: Option<u64>,
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
    /// `DSN` (RFC 3461).
    pub dsn: bool,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
    /// `MT-PRIORITY` (RFC 6710).
    pub mt_priority: bool,
    /// Every extension line as the server sent it (after the first line).
    pub raw: Vec<String>,
    /// True when these came from EHLO; false after a fallback to HELO
    /// (then nothing is offered).
    pub extended: bool,
}

impl Capabilities {
    /// Parses an EHLO reply. Unknown keywords are kept in `raw` only.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities {
            extended: true,
            ..Capabilities::default()
        };
        let mut lines = reply.lines().iter();
        if let Some(first) = lines.next() {
            caps.server_name = first.split(' ').next().unwrap_or("").to_string();
        }
        for line in lines {
            caps.raw.push(line.clone());
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            if let Some(list) = keyword.strip_prefix("AUTH=") {
                debug_assert_eq!(keyword_of(&keyword), "AUTH");
                // Old servers (and Outlook) announce `AUTH=LOGIN PLAIN`.
                let first = list.to_string();
                caps.add_auth(std::iter::once(first.as_str()).chain(words));
                continue;
            }
            match keyword.as_str() {
                "AUTH" => caps.add_auth(words),
                "SIZE" => {
                    caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0));
                }
                "PIPELINING" => caps.pipelining = true,
                "CHUNKING" => caps.chunking = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "STARTTLS" => caps.starttls = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "DSN" => caps.dsn = true,
                "REQUIRETLS" => caps.requiretls = true,
                "MT-PRIORITY" => caps.mt_priority = true,
                _ => {}
            }
        }
        caps
    }

    fn add_auth<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        for name in names {
            let name = name.to_ascii_uppercase();
            if !name.is_empty() && !self.auth.contains(&name) {
                self.auth.push(name);
            }
        }
    }

    /// The extension keywords offered, upper-case, in the server's order,
    /// without repeats; the pre-standard `AUTH=` counts as `AUTH`.
    pub fn keywords(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(self.raw.len());
        for line in &self.raw {
            if let Some(keyword) = line.split_ascii_whitespace().next().map(keyword_of) {
                if !out.contains(&keyword) {
                    out.push(keyword);
                }
            }
        }
        out
    }

    /// True when the server offers the extension `keyword` (any case;
    /// `AUTH` also for a server that announces `AUTH=`).
    pub fn offers(&self, keyword: &str) -> bool {
        self.raw.iter().any(|line| {
            line.split_ascii_whitespace()
                .next()
                .is_some_and(|k| keyword_of(k).eq_ignore_ascii_case(keyword))
        })
    }

    /// True when the server offers the SASL mechanism `name` (case-insensitive).
    pub fn offers_auth(&self, name: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(name))
    }
}

/// The extension an EHLO line's first word names: upper-case, with the
/// pre-standard `AUTH=LOGIN` read as `AUTH`.
fn keyword_of(word: &str) -> String {
    let upper = word.to_ascii_uppercase();
    if upper.starts_with("AUTH=") {
        "AUTH".to_string()
    } else {
        upper
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::parse_reply;

    #[test]
    fn postfix_ehlo() {
        let reply = parse_reply(
            b"250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
              250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256\r\n\
              250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
        )
        .unwrap();
        let caps = Capabilities::from_ehlo(&reply);
        assert_eq!(caps.server_name, "mail.example.org");
        assert_eq!(caps.auth, ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"]);
        assert_eq!(caps.size, Some(10_240_000));
        assert!(caps.pipelining && caps.chunking && caps.eight_bit_mime && caps.smtputf8);
        assert!(caps.starttls && caps.enhanced_status_codes && caps.dsn && caps.extended);
        assert_eq!(caps.raw.len(), 11);
    }

    #[test]
    fn old_auth_equals_form_and_case() {
        let reply = parse_reply(
            b"250-seed.263.net\r\n250-auth=LOGIN\r\n250-AUTH login cram-md5\r\n250 size\r\n",
        )
        .unwrap();
        let caps = Capabilities::from_ehlo(&reply);
        assert_eq!(caps.auth, ["LOGIN", "CRAM-MD5"]);
        assert_eq!(caps.size, Some(0));
        assert!(caps.offers_auth("cram-md5"));
        assert!(!caps.pipelining);
    }

    #[test]
    fn single_line_ehlo_offers_nothing() {
        let caps = Capabilities::from_ehlo(&parse_reply(b"250 hi\r\n").unwrap());
        assert_eq!(caps.server_name, "hi");
        assert!(caps.auth.is_empty() && caps.raw.is_empty());
    }

    #[test]
    fn keywords_in_order_with_old_auth_as_auth() {
        let reply = parse_reply(
            b"250-mx.example\r\n250-pipelining\r\n250-AUTH=LOGIN PLAIN\r\n250-AUTH LOGIN\r\n250 SIZE 100\r\n",
        )
        .unwrap();
        let caps = Capabilities::from_ehlo(&reply);
        assert_eq!(caps.keywords(), ["PIPELINING", "AUTH", "SIZE"]);
        assert!(caps.offers("auth") && caps.offers("Pipelining") && caps.offers("SIZE"));
        assert!(!caps.offers("CHUNKING") && !caps.offers("AUTH=LOGIN"));
    }
}
