//! DKIM private keys: loaded from PEM (PKCS#8 for RSA and Ed25519, PKCS#1
//! for RSA), checked (RSA at least 2048 bits, a valid domain and
//! selector), and kept out of every Debug output and error.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The smallest RSA key accepted (RFC 8301 3.2: signers MUST use at least
/// 1024 bits, and 2048 is what every current recommendation asks for).
pub const MIN_RSA_BITS: usize = 2048;

/// The field name of every key-loading error.
const FIELD: &str = "DKIM key";

/// A DKIM signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DkimAlgorithm {
    /// `rsa-sha256` (RFC 6376): RSASSA-PKCS1-v1_5 with SHA-256.
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463): Ed25519 over the SHA-256 of the
    /// header hash input.
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// The `a=` tag's value.
    pub fn name(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The `k=` tag of the DNS key record.
    pub fn key_type(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa",
            DkimAlgorithm::Ed25519Sha256 => "ed25519",
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A DKIM private key with its signing domain (`d=`) and selector (`s=`).
/// Cloning shares the key. Its Debug output shows the algorithm, domain
/// and selector only; the key material never appears in output or errors.
#[derive(Clone)]
pub struct DkimKey {
    pair: Arc<Pair>,
    domain: String,
    selector: String,
    warning: Option<String>,
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimKey")
            .field("algorithm", &self.algorithm())
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .finish()
    }
}

impl DkimKey {
    /// A key from PEM text: `-----BEGIN PRIVATE KEY-----` (PKCS#8, RSA or
    /// Ed25519, as `openssl genpkey` writes) or `-----BEGIN RSA PRIVATE
    /// KEY-----` (PKCS#1). `domain` is the signing domain (`d=`, ASCII:
    /// an internationalised domain in its `xn--` form), `selector` the
    /// selector (`s=`; dots allowed).
    ///
    /// Errors ([`Error::InvalidInput`]): a domain or selector that is not
    /// DNS label syntax; no private key in the text, an encrypted key, a
    /// key type other than RSA and Ed25519, a malformed key; an RSA key
    /// under [`MIN_RSA_BITS`] bits ("weak key").
    pub fn from_pem(domain: &str, selector: &str, pem: &[u8]) -> Result<DkimKey> {
        check_name(domain, "DKIM domain")?;
        check_name(selector, "DKIM selector")?;
        let (label, der) = decode_pem(pem)?;
        let pair = match label.as_str() {
            "PRIVATE KEY" => pkcs8(&der)?,
            "RSA PRIVATE KEY" => rsa(&der, false)?,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(Error::invalid(
                    FIELD,
                    "is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)",
                ))
            }
            "EC PRIVATE KEY" => {
                return Err(Error::invalid(
                    FIELD,
                    "is an EC key; DKIM signs with RSA or Ed25519",
                ))
            }
            other => {
                return Err(Error::invalid(
                    FIELD,
                    format!(
                    "is a PEM {other:?} block, not a private key (PRIVATE KEY or RSA PRIVATE KEY)"
                ),
                ))
            }
        };
        Ok(DkimKey {
            pair: Arc::new(pair),
            domain: domain.to_ascii_lowercase(),
            selector: selector.to_string(),
            warning: None,
        })
    }

    /// [`DkimKey::from_pem`] with the PEM read from a file. A file that
    /// other users can read (group or other read permission) loads, with
    /// a warning in [`DkimKey::permission_warning`] for the caller to show.
    /// A file that cannot be read is [`Error::InvalidInput`] naming it.
    pub fn from_file(domain: &str, selector: &str, path: impl AsRef<Path>) -> Result<DkimKey> {
        let path = path.as_ref();
        let read = |e: std::io::Error| {
            Error::invalid(FIELD, format!("cannot read {}: {e}", path.display()))
        };
        let pem = Zeroizing::new(std::fs::read(path).map_err(read)?);
        let mut key = DkimKey::from_pem(domain, selector, &pem).map_err(|e| match e {
            Error::InvalidInput { field, reason } => {
                Error::invalid(field, format!("{}: {reason}", path.display()))
            }
            other => other,
        })?;
        key.warning = permission_warning(path);
        Ok(key)
    }

    /// Checks a signing domain as [`DkimKey::from_pem`] does.
    pub fn check_domain(domain: &str) -> Result<()> {
        check_name(domain, "DKIM domain")
    }

    /// The same key for another signing domain.
    pub fn with_domain(&self, domain: &str) -> Result<DkimKey> {
        check_name(domain, "DKIM domain")?;
        Ok(DkimKey {
            domain: domain.to_ascii_lowercase(),
            ..self.clone()
        })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> DkimAlgorithm {
        match *self.pair {
            Pair::Rsa(_) => DkimAlgorithm::RsaSha256,
            Pair::Ed25519(_) => DkimAlgorithm::Ed25519Sha256,
        }
    }

    /// The signing domain (`d=`), lower case.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The selector (`s=`).
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// For a key loaded with [`DkimKey::from_file`] from a file other users
    /// can read: a warning to show (the key still loads).
    pub fn permission_warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The DNS TXT record that publishes this key's public half at
    /// `<selector>._domainkey.<domain>`: `v=DKIM1; k=rsa; p=...` (the
    /// SubjectPublicKeyInfo, RFC 6376 3.6.1) or `v=DKIM1; k=ed25519; p=...`
    /// (the raw 32-byte key, RFC 8463 4.2).
    pub fn dns_record(&self) -> String {
        let public = match &*self.pair {
            Pair::Rsa(pair) => rsa_spki(pair.public_key().as_ref()),
            Pair::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
        };
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().key_type(),
            base64::engine::general_purpose::STANDARD.encode(public)
        )
    }

    /// Signs the header hash input `data` (RFC 6376 3.7, RFC 8463 3).
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        match &*self.pair {
            Pair::Rsa(pair) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    data,
                    &mut out,
                )
                .map_err(|_| Error::invalid(FIELD, "RSA signing failed"))?;
                Ok(out)
            }
            Pair::Ed25519(pair) => {
                let digest = ring::digest::digest(&ring::digest::SHA256, data);
                Ok(pair.sign(digest.as_ref()).as_ref().to_vec())
            }
        }
    }
}

/// Checks a domain or selector: dot-separated labels of letters, digits
/// and hyphens (not at either end), each 1 to 63 characters, 253 in all.
pub(crate) fn check_name(name: &str, field: &'static str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(field, format!("{name:?} {why}")));
    if name.is_empty() {
        return bad("is empty");
    }
    if name.len() > 253 {
        return bad("is longer than 253 characters");
    }
    if !name.is_ascii() {
        return bad("is not ASCII (write an internationalised domain in its xn-- form)");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("has an empty label or one over 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("may only have letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("has a label that starts or ends with a hyphen");
        }
    }
    Ok(())
}

/// The first private-key block of a PEM text: its label and DER bytes.
fn decode_pem(pem: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut first_label = None;
    let mut rest = pem;
    while let Some(start) = memchr::memmem::find(rest, BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(close) = memchr::memmem::find(after, b"-----") else {
            break;
        };
        let label = String::from_utf8_lossy(&after[..close]).into_owned();
        let body = &after[close + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = memchr::memmem::find(body, end_marker.as_bytes()) else {
            return Err(Error::invalid(
                FIELD,
                format!("PEM block {label:?} has no END line"),
            ));
        };
        if label.ends_with("PRIVATE KEY") {
            let text = &body[..end];
            if memchr::memchr(b':', text).is_some() {
                // RFC 1421 headers (Proc-Type: 4,ENCRYPTED).
                return Err(Error::invalid(
                    FIELD,
                    "is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)",
                ));
            }
            let mut b64 = Zeroizing::new(Vec::with_capacity(text.len()));
            b64.extend(text.iter().copied().filter(|b| !b.is_ascii_whitespace()));
            let der = base64::engine::general_purpose::STANDARD
                .decode(&*b64)
                .map_err(|_| Error::invalid(FIELD, "has a PEM block that is not valid base64"))?;
            return Ok((label, Zeroizing::new(der)));
        }
        first_label.get_or_insert(label);
        rest = &body[end + end_marker.len()..];
    }
    Err(Error::invalid(
        FIELD,
        match first_label {
            Some(label) => format!("is a PEM {label:?} block, not a private key"),
            None => "is not PEM text (no -----BEGIN PRIVATE KEY----- line)".to_string(),
        },
    ))
}

// ----- just enough DER ----------------------------------------------------

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.3.101.112
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn malformed() -> Error {
    Error::invalid(FIELD, "is not a well-formed private key")
}

/// A PKCS#8 `PrivateKeyInfo` (RFC 5958): RSA or Ed25519.
fn pkcs8(der: &[u8]) -> Result<Pair> {
    let (tag, info, _) = crate::der::element(der).ok_or_else(malformed)?;
    let (vtag, _, rest) = crate::der::element(info).ok_or_else(malformed)?;
    let (atag, algorithm, rest) = crate::der::element(rest).ok_or_else(malformed)?;
    let (otag, oid, _) = crate::der::element(algorithm).ok_or_else(malformed)?;
    if tag != SEQUENCE || vtag != INTEGER || atag != SEQUENCE || otag != OID {
        return Err(malformed());
    }
    if oid == OID_RSA {
        let (ktag, key, _) = crate::der::element(rest).ok_or_else(malformed)?;
        if ktag != OCTET_STRING {
            return Err(malformed());
        }
        check_rsa_bits(key)?;
        rsa(der, true)
    } else if oid == OID_ED25519 {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(Pair::Ed25519)
            .map_err(|e| Error::invalid(FIELD, format!("is not a usable Ed25519 key ({e})")))
    } else {
        Err(Error::invalid(
            FIELD,
            "is neither an RSA nor an Ed25519 key; DKIM signs with those two",
        ))
    }
}

/// The modulus size of a PKCS#1 `RSAPrivateKey`, refused under
/// [`MIN_RSA_BITS`].
fn check_rsa_bits(rsa_private_key: &[u8]) -> Result<()> {
    let (tag, seq, _) = crate::der::element(rsa_private_key).ok_or_else(malformed)?;
    let (vtag, _, rest) = crate::der::element(seq).ok_or_else(malformed)?;
    let (ntag, modulus, _) = crate::der::element(rest).ok_or_else(malformed)?;
    if tag != SEQUENCE || vtag != INTEGER || ntag != INTEGER {
        return Err(malformed());
    }
    let digits: &[u8] = match modulus.iter().position(|&b| b != 0) {
        Some(i) => &modulus[i..],
        None => &[],
    };
    let bits = match digits.first() {
        Some(&top) => (digits.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if bits < MIN_RSA_BITS {
        return Err(Error::invalid(
            FIELD,
            format!("is a weak key: RSA {bits} bits, at least {MIN_RSA_BITS} are needed"),
        ));
    }
    Ok(())
}

/// An RSA key: PKCS#8 (`pkcs8`) or PKCS#1.
fn rsa(der: &[u8], pkcs8: bool) -> Result<Pair> {
    if !pkcs8 {
        check_rsa_bits(der)?;
    }
    let pair = if pkcs8 {
        RsaKeyPair::from_pkcs8(der)
    } else {
        RsaKeyPair::from_der(der)
    };
    pair.map(Pair::Rsa)
        .map_err(|e| Error::invalid(FIELD, format!("is not a usable RSA key ({e})")))
}

/// A DER length prefix.
fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A PKCS#1 `RSAPublicKey` wrapped in a `SubjectPublicKeyInfo`.
fn rsa_spki(rsa_public_key: &[u8]) -> Vec<u8> {
    let mut algorithm = vec![SEQUENCE];
    let mut alg_body = vec![OID, OID_RSA.len() as u8];
    alg_body.extend_from_slice(OID_RSA);
    alg_body.extend_from_slice(&[0x05, 0x00]);
    der_len(alg_body.len(), &mut algorithm);
    algorithm.extend_from_slice(&alg_body);
    let mut bits = vec![0x03];
    der_len(rsa_public_key.len() + 1, &mut bits);
    bits.push(0);
    bits.extend_from_slice(rsa_public_key);
    let mut out = vec![SEQUENCE];
    der_len(algorithm.len() + bits.len(), &mut out);
    out.extend_from_slice(&algorithm);
    out.extend_from_slice(&bits);
    out
}

/// A warning when other users can read the key file (Unix permissions).
#[cfg(unix)]
fn permission_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| {
        format!(
            "warning: the DKIM key {} can be read by other users (mode {:04o}); chmod 0600 it",
            path.display(),
            mode & 0o7777
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path) -> Option<String> {
    None
}
