//! Just enough DER to show a server certificate: subject, issuer,
//! validity and the DNS names / addresses it is valid for. Anything
//! unexpected makes [`summarize`] return `None`; nothing here decides
//! trust (the library verified the certificate already).

use smtp_core::der::element;

/// What `--serverinfo` shows of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject, e.g. `CN=localhost, O=Example`.
    pub subject: String,
    /// The issuer, same format.
    pub issuer: String,
    /// Start of validity, `YYYY-MM-DD HH:MM:SS UTC`.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// Subject alternative names (DNS names and IP addresses).
    pub alt_names: Vec<String>,
}

/// The next element, which must have this tag.
fn expect(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = element(data)?;
    (t == tag).then_some((content, rest))
}

/// Summarizes a DER certificate.
pub fn summarize(der: &[u8]) -> Option<CertSummary> {
    let (cert, _) = expect(der, 0x30)?;
    let (tbs, _) = expect(cert, 0x30)?;
    let mut rest = tbs;
    if let Some((0xa0, _, after)) = element(rest) {
        rest = after; // version
    }
    let (_serial, rest) = expect(rest, 0x02)?;
    let (_signature, rest) = expect(rest, 0x30)?;
    let (issuer, rest) = expect(rest, 0x30)?;
    let (validity, rest) = expect(rest, 0x30)?;
    let (subject, rest) = expect(rest, 0x30)?;
    let (_spki, mut rest) = expect(rest, 0x30)?;
    let (t1, v1, after) = element(validity)?;
    let (t2, v2, _) = element(after)?;
    let mut alt_names = Vec::new();
    while let Some((tag, content, after)) = element(rest) {
        if tag == 0xa3 {
            alt_names = subject_alt_names(content).unwrap_or_default();
        }
        rest = after;
    }
    Some(CertSummary {
        subject: name(subject)?,
        issuer: name(issuer)?,
        not_before: time(t1, v1)?,
        not_after: time(t2, v2)?,
        alt_names,
    })
}

/// An X.500 name as `CN=..., O=...` (in certificate order).
fn name(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (set, after) = expect(rdns, 0x31)?;
        rdns = after;
        let mut set = set;
        while !set.is_empty() {
            let (attribute, after) = expect(set, 0x30)?;
            set = after;
            let (oid_bytes, value) = expect(attribute, 0x06)?;
            let (tag, value, _) = element(value)?;
            let oid = oid(oid_bytes)?;
            let label = match oid.as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.6" => "C",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.10" => "O",
                "2.5.4.11" => "OU",
                "2.5.4.5" => "serialNumber",
                "1.2.840.113549.1.9.1" => "emailAddress",
                "0.9.2342.19200300.100.1.25" => "DC",
                _ => "",
            };
            let label = if label.is_empty() { oid } else { label.into() };
            parts.push(format!("{label}={}", string(tag, value)));
        }
    }
    Some(parts.join(", "))
}

/// A directory string, printable (control characters escaped).
fn string(tag: u8, value: &[u8]) -> String {
    let text = match tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = value
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // UniversalString: UTF-32BE.
        0x1c => value
            .chunks(4)
            .filter_map(|c| {
                let b: [u8; 4] = c.try_into().ok()?;
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect(),
        _ => String::from_utf8_lossy(value).into_owned(),
    };
    text.chars().flat_map(char::escape_debug).collect()
}

/// An object identifier in dotted form.
fn oid(bytes: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in bytes {
        value = value.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time(tag: u8, value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let full = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: u32 = digits[..2].parse().ok()?;
            format!("{}{digits}", if yy >= 50 { "19" } else { "20" })
        }
        (0x18, 14) => digits.to_string(),
        _ => return None,
    };
    Some(format!(
        "{}-{}-{} {}:{}:{} UTC",
        &full[..4],
        &full[4..6],
        &full[6..8],
        &full[8..10],
        &full[10..12],
        &full[12..14]
    ))
}

/// DNS names and IP addresses from the extensions (`[3]` contents).
fn subject_alt_names(explicit: &[u8]) -> Option<Vec<String>> {
    let (mut extensions, _) = expect(explicit, 0x30)?;
    while !extensions.is_empty() {
        let (extension, after) = expect(extensions, 0x30)?;
        extensions = after;
        let (id, mut rest) = expect(extension, 0x06)?;
        if id != [0x55, 0x1d, 0x11] {
            continue; // not 2.5.29.17
        }
        if let Some((0x01, _, after)) = element(rest) {
            rest = after; // critical flag
        }
        let (octets, _) = expect(rest, 0x04)?;
        let (mut names, _) = expect(octets, 0x30)?;
        let mut out = Vec::new();
        while let Some((tag, value, after)) = element(names) {
            names = after;
            match (tag, value.len()) {
                (0x82, _) => out.push(format!("DNS:{}", string(0x16, value))),
                (0x87, 4) => out.push(format!(
                    "IP:{}",
                    std::net::Ipv4Addr::new(value[0], value[1], value[2], value[3])
                )),
                (0x87, 16) => {
                    let b: [u8; 16] = value.try_into().ok()?;
                    out.push(format!("IP:{}", std::net::Ipv6Addr::from(b)));
                }
                _ => {}
            }
        }
        return Some(out);
    }
    Some(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a DER element.
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 128 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn rdn(oid: &[u8], value: &str) -> Vec<u8> {
        der(
            0x31,
            &der(0x30, &cat(&[der(0x06, oid), der(0x0c, value.as_bytes())])),
        )
    }

    #[test]
    fn summarizes_a_certificate() {
        let cn = [0x55, 0x04, 0x03];
        let o = [0x55, 0x04, 0x0a];
        let issuer = der(0x30, &rdn(&cn, "Test CA"));
        let subject = der(0x30, &cat(&[rdn(&o, "Acme, Inc."), rdn(&cn, "localhost")]));
        let validity = der(
            0x30,
            &cat(&[der(0x17, b"250101000000Z"), der(0x18, b"20350101123456Z")]),
        );
        let san = der(
            0x30,
            &cat(&[der(0x82, b"localhost"), der(0x87, &[127, 0, 0, 1])]),
        );
        let extension = der(
            0x30,
            &cat(&[der(0x06, &[0x55, 0x1d, 0x11]), der(0x04, &san)]),
        );
        let extensions = der(0xa3, &der(0x30, &extension));
        let tbs = der(
            0x30,
            &cat(&[
                der(0xa0, &der(0x02, &[2])),
                der(0x02, &[1, 2, 3]),
                der(
                    0x30,
                    &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
                ),
                issuer,
                validity,
                subject,
                der(0x30, &[0x05, 0x00]),
                extensions,
            ]),
        );
        let cert = der(0x30, &cat(&[tbs, der(0x30, &[]), der(0x03, &[0])]));
        let s = summarize(&cert).unwrap();
        assert_eq!(s.subject, "O=Acme, Inc., CN=localhost");
        assert_eq!(s.issuer, "CN=Test CA");
        assert_eq!(s.not_before, "2025-01-01 00:00:00 UTC");
        assert_eq!(s.not_after, "2035-01-01 12:34:56 UTC");
        assert_eq!(s.alt_names, ["DNS:localhost", "IP:127.0.0.1"]);
        assert_eq!(summarize(&cert[..cert.len() - 1]), None);
        assert_eq!(summarize(b"garbage"), None);
    }

    #[test]
    fn oids() {
        assert_eq!(
            oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]).unwrap(),
            "1.2.840.113549"
        );
        assert_eq!(oid(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
    }
}
