//! [`DkimSigner`]: which keys, canonicalization, headers and expiry; the
//! streaming [`DkimStream`] that splits a message into its header block
//! and body hash; and the `DKIM-Signature` fields it writes, folded.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::canon::{canon_header, fields, BodyCanon, Canonicalization, Field};
use super::key::{DkimAlgorithm, DkimKey};
use crate::data::BdatNormalizer;
use crate::error::{Error, Result};
use crate::message::MAX_RAW_HEADER_BLOCK;

/// The header fields signed by default, when present (`From` once more
/// than present, so that no `From` can be added after signing).
pub const DEFAULT_SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Reply-To",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Signed whenever present, whatever the list says (RFC 8058 3 for the
/// List-Unsubscribe pair; RFC 6376 5.4 for From).
const ALWAYS_SIGNED: &[&str] = &["From", "List-Unsubscribe", "List-Unsubscribe-Post"];

/// Lines of a `DKIM-Signature` field are folded to at most this many
/// octets.
const LINE: usize = 76;

/// Pieces the input is normalised in (bounds the scratch buffer).
const PIECE: usize = 64 * 1024;

/// Signs messages with one or more [`DkimKey`]s (RFC 6376; RFC 8463 for
/// Ed25519): one `DKIM-Signature` field per key, RSA's before Ed25519's
/// (keys of one algorithm in the order they were added), so that
/// verifiers that only look at the first signature see the one every
/// verifier understands.
///
/// Defaults: `relaxed/relaxed`, the [`DEFAULT_SIGNED_HEADERS`] that are
/// present, no expiry. `l=` is never used: the whole body is signed.
///
/// Line breaks are hashed as the client sends them: every CRLF, bare LF
/// and bare CR is one CRLF. A message with a line over 998 octets is not
/// repaired once signed (the repair would break the signature): with a
/// signature it is refused ([`crate::LongLines`]).
#[derive(Debug, Clone)]
pub struct DkimSigner {
    keys: Vec<DkimKey>,
    header_canon: Canonicalization,
    body_canon: Canonicalization,
    headers: Vec<String>,
    expiry: Option<Duration>,
}

impl DkimSigner {
    /// A signer with one key and the defaults.
    pub fn new(key: DkimKey) -> DkimSigner {
        DkimSigner {
            keys: vec![key],
            header_canon: Canonicalization::Relaxed,
            body_canon: Canonicalization::Relaxed,
            headers: DEFAULT_SIGNED_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            expiry: None,
        }
    }

    /// Adds a key: each key makes its own signature (typically one RSA and
    /// one Ed25519 key of the same domain).
    pub fn with_key(mut self, key: DkimKey) -> DkimSigner {
        self.keys.push(key);
        self
    }

    /// The same signer with every key for the signing domain `domain`.
    pub fn with_domain(&self, domain: &str) -> Result<DkimSigner> {
        let keys = self
            .keys
            .iter()
            .map(|k| k.with_domain(domain))
            .collect::<Result<Vec<_>>>()?;
        Ok(DkimSigner {
            keys,
            ..self.clone()
        })
    }

    /// The keys, in the order their signatures are written.
    pub fn keys(&self) -> Vec<&DkimKey> {
        let mut keys: Vec<&DkimKey> = self.keys.iter().collect();
        keys.sort_by_key(|k| k.algorithm() != DkimAlgorithm::RsaSha256);
        keys
    }

    /// The header and body canonicalizations (`c=header/body`).
    pub fn with_canonicalization(
        mut self,
        header: Canonicalization,
        body: Canonicalization,
    ) -> DkimSigner {
        self.header_canon = header;
        self.body_canon = body;
        self
    }

    /// The header and body canonicalizations.
    pub fn canonicalization(&self) -> (Canonicalization, Canonicalization) {
        (self.header_canon, self.body_canon)
    }

    /// The header fields to sign (when present), instead of
    /// [`DEFAULT_SIGNED_HEADERS`]. `From` (oversigned), `List-Unsubscribe`
    /// and `List-Unsubscribe-Post` are always added. A name that is not a
    /// field name (printable ASCII without `:`) is [`Error::InvalidInput`].
    pub fn with_headers<S: AsRef<str>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<DkimSigner> {
        self.headers = header_names(names)?;
        Ok(self)
    }

    /// The header fields signed when present.
    pub fn signed_headers(&self) -> &[String] {
        &self.headers
    }

    /// Signatures expire this long after signing (`x=`); `None`, the
    /// default, for no expiry. The signing time (`t=`) is always written.
    pub fn with_expiry(mut self, expiry: Option<Duration>) -> DkimSigner {
        self.expiry = expiry;
        self
    }

    /// The expiry of signatures.
    pub fn expiry(&self) -> Option<Duration> {
        self.expiry
    }

    /// Warnings about the keys (key files other users can read).
    pub fn warnings(&self) -> Vec<&str> {
        self.keys
            .iter()
            .filter_map(|k| k.permission_warning())
            .collect()
    }

    /// Signs a message given as its header block (up to and with the
    /// CRLF of its last field, or with the empty line too) and its body.
    /// Returns the `DKIM-Signature` fields, each ending in CRLF, to put
    /// before the message's first line.
    ///
    /// Errors: [`Error::BodyRead`] when `body` cannot be read,
    /// [`Error::InvalidInput`] for a header block over
    /// [`MAX_RAW_HEADER_BLOCK`].
    pub fn sign(&self, header_block: &[u8], body: impl Read) -> Result<Vec<u8>> {
        let mut stream = self.stream();
        stream.update(header_block)?;
        // Whatever the block ends with, the body starts after an empty line.
        let ends_line = header_block.ends_with(b"\n") || header_block.ends_with(b"\r");
        let ends_blank = [&b"\n\n"[..], b"\r\n\r\n", b"\r\r"]
            .iter()
            .any(|end| header_block.ends_with(end));
        if header_block.is_empty() || (ends_line && !ends_blank) {
            stream.update(b"\r\n")?;
        } else if !ends_line {
            stream.update(b"\r\n\r\n")?;
        }
        stream.update_from(body)?;
        stream.finish()
    }

    /// Signs a whole message read from `message` (the header block ends
    /// at the first empty line); see [`DkimSigner::sign`].
    pub fn sign_message(&self, message: impl Read) -> Result<Vec<u8>> {
        let mut stream = self.stream();
        stream.update_from(message)?;
        stream.finish()
    }

    /// Starts signing a message fed piece by piece.
    pub fn stream(&self) -> DkimStream<'_> {
        DkimStream {
            signer: self,
            normalizer: BdatNormalizer::new(),
            scratch: Vec::new(),
            head: Vec::new(),
            in_body: false,
            body: BodyCanon::new(self.body_canon),
        }
    }
}

/// A message being signed as it streams: feed it the whole message (header
/// block, empty line, body) in pieces of any size with
/// [`update`](DkimStream::update), then [`finish`](DkimStream::finish).
/// Only the header block is held (at most [`MAX_RAW_HEADER_BLOCK`]); the
/// body is hashed as it comes.
#[derive(Debug)]
pub struct DkimStream<'s> {
    signer: &'s DkimSigner,
    normalizer: BdatNormalizer,
    scratch: Vec<u8>,
    head: Vec<u8>,
    in_body: bool,
    body: BodyCanon,
}

impl DkimStream<'_> {
    /// Feeds the next piece of the message. Errors:
    /// [`Error::InvalidInput`] when the header block grows over
    /// [`MAX_RAW_HEADER_BLOCK`].
    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut outcome = Ok(());
        for piece in data.chunks(PIECE) {
            scratch.clear();
            self.normalizer.encode(piece, &mut scratch);
            outcome = self.feed(&scratch);
            if outcome.is_err() {
                break;
            }
        }
        self.scratch = scratch;
        outcome
    }

    /// Feeds everything `input` gives, to its end.
    pub fn update_from(&mut self, mut input: impl Read) -> Result<()> {
        let mut buf = vec![0; PIECE];
        loop {
            match input.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => self.update(&buf[..n])?,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::BodyRead(e)),
            }
        }
    }

    /// Normalised bytes: to the header block until its end, then hashed.
    fn feed(&mut self, data: &[u8]) -> Result<()> {
        if self.in_body {
            self.body.update(data);
            return Ok(());
        }
        let searched = self.head.len().saturating_sub(3);
        self.head.extend_from_slice(data);
        let end = if self.head.starts_with(b"\r\n") {
            Some((0, 2))
        } else {
            memchr::memmem::find(&self.head[searched..], b"\r\n\r\n")
                .map(|i| (searched + i + 2, searched + i + 4))
        };
        match end {
            Some((head_end, body_start)) => {
                self.in_body = true;
                let body = self.head.split_off(body_start);
                self.head.truncate(head_end);
                self.body.update(&body);
                Ok(())
            }
            None if self.head.len() > MAX_RAW_HEADER_BLOCK => Err(Error::invalid(
                "message",
                format!("has a header block over {MAX_RAW_HEADER_BLOCK} bytes"),
            )),
            None => Ok(()),
        }
    }

    /// The `DKIM-Signature` fields (each ending in CRLF), signed now.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.finish_at(SystemTime::now())
    }

    /// [`DkimStream::finish`] with `t=` set to `now`.
    pub fn finish_at(mut self, now: SystemTime) -> Result<Vec<u8>> {
        let mut tail = Vec::new();
        self.normalizer.finish(&mut tail);
        self.feed(&tail)?;
        let signer = self.signer;
        let bh = self.body.finish();
        let fields = fields(&self.head);
        let names = header_list(&signer.headers, &fields);
        let t = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let x = signer.expiry.map(|e| t.saturating_add(e.as_secs().max(1)));
        let mut out = Vec::new();
        for key in signer.keys() {
            let unsigned = unsigned_field(key, signer, &names, &bh, t, x);
            let mut data = header_hash_input(signer.header_canon, &fields, &names);
            let start = data.len();
            canon_header(signer.header_canon, unsigned.text.as_bytes(), &mut data);
            if signer.header_canon == Canonicalization::Relaxed {
                data.truncate(data.len() - 2); // no CRLF after the signature field
            }
            debug_assert!(data.len() > start);
            let signature = key.sign(&data)?;
            let b = base64::engine::general_purpose::STANDARD.encode(signature);
            let mut text = unsigned.text;
            let mut col = unsigned.col;
            fold_base64(&mut text, &mut col, &b, LINE);
            text.push_str("\r\n");
            out.extend_from_slice(text.as_bytes());
        }
        Ok(out)
    }
}

/// The list of fields to sign: `names` checked, with `From` first and
/// [`ALWAYS_SIGNED`] added, without duplicates.
pub(crate) fn header_names<S: AsRef<str>>(
    names: impl IntoIterator<Item = S>,
) -> Result<Vec<String>> {
    let mut list: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        if !list.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            list.push(name.to_string());
        }
    };
    push("From");
    for name in names {
        let name = name.as_ref().trim();
        if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
            return Err(Error::invalid(
                "DKIM headers",
                format!("{name:?} is not a header field name"),
            ));
        }
        if name.eq_ignore_ascii_case("DKIM-Signature") {
            return Err(Error::invalid(
                "DKIM headers",
                "DKIM-Signature cannot be signed by a DKIM signature",
            ));
        }
        push(name);
    }
    for name in ALWAYS_SIGNED {
        push(name);
    }
    Ok(list)
}

/// The `h=` names: each listed field as many times as it is present
/// (bottom-up selection picks each instance once), `From` once more.
fn header_list(list: &[String], fields: &[Field<'_>]) -> Vec<String> {
    let mut names = Vec::new();
    for name in list {
        let present = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            .count();
        let times = if name.eq_ignore_ascii_case("from") {
            present + 1
        } else {
            present
        };
        names.extend(std::iter::repeat_n(name.clone(), times));
    }
    names
}

/// The canonical header fields `names` select, bottom-up (RFC 6376
/// 5.4.2): each name takes the last instance not taken yet; a name with
/// none left adds nothing.
fn header_hash_input(canon: Canonicalization, fields: &[Field<'_>], names: &[String]) -> Vec<u8> {
    let mut used = vec![false; fields.len()];
    let mut data = Vec::new();
    for name in names {
        let found = (0..fields.len())
            .rev()
            .find(|&i| !used[i] && fields[i].name.eq_ignore_ascii_case(name.as_bytes()));
        if let Some(i) = found {
            used[i] = true;
            canon_header(canon, fields[i].text, &mut data);
        }
    }
    data
}

/// A signature field up to its empty `b=`, and the column it ends at.
struct Unsigned {
    text: String,
    col: usize,
}

fn unsigned_field(
    key: &DkimKey,
    signer: &DkimSigner,
    names: &[String],
    bh: &[u8; 32],
    t: u64,
    x: Option<u64>,
) -> Unsigned {
    let mut f = Folder {
        text: String::from("DKIM-Signature:"),
        col: "DKIM-Signature:".len(),
    };
    f.tag("v=1;");
    f.tag(&format!("a={};", key.algorithm().name()));
    f.tag(&format!(
        "c={}/{};",
        signer.header_canon.name(),
        signer.body_canon.name()
    ));
    f.tag(&format!("d={};", key.domain()));
    f.tag(&format!("s={};", key.selector()));
    f.tag(&format!("t={t};"));
    if let Some(x) = x {
        f.tag(&format!("x={x};"));
    }
    // h=: folded after a colon when needed.
    let mut first = true;
    for (i, name) in names.iter().enumerate() {
        let piece = if first {
            format!("h={name}")
        } else {
            name.clone()
        };
        let piece = if i + 1 == names.len() {
            piece + ";"
        } else {
            piece + ":"
        };
        if first {
            f.tag(&piece);
            first = false;
        } else {
            f.word(&piece);
        }
    }
    let bh = base64::engine::general_purpose::STANDARD.encode(bh);
    f.tag("bh=");
    fold_base64(&mut f.text, &mut f.col, &bh, LINE - 1);
    f.text.push(';');
    f.col += 1;
    f.tag_reserving("b=", 16);
    Unsigned {
        text: f.text,
        col: f.col,
    }
}

/// Writes tags with folding whitespace between them.
struct Folder {
    text: String,
    col: usize,
}

impl Folder {
    /// A tag after a space, or on a new line when it would not fit.
    fn tag(&mut self, tag: &str) {
        self.tag_reserving(tag, 0);
    }

    /// [`Folder::tag`], with room for `reserve` more octets on its line.
    fn tag_reserving(&mut self, tag: &str, reserve: usize) {
        if self.col + 1 + tag.len() + reserve > LINE {
            self.text.push_str("\r\n\t");
            self.col = 1;
        } else {
            self.text.push(' ');
            self.col += 1;
        }
        self.text.push_str(tag);
        self.col += tag.len();
    }

    /// More of the current tag: right after, or on a new line.
    fn word(&mut self, word: &str) {
        if self.col + word.len() > LINE {
            self.text.push_str("\r\n\t");
            self.col = 1;
        }
        self.text.push_str(word);
        self.col += word.len();
    }
}

/// Appends a base64 value, folding (CRLF TAB) wherever a line reaches
/// `limit`.
fn fold_base64(text: &mut String, col: &mut usize, value: &str, limit: usize) {
    let mut rest = value;
    while !rest.is_empty() {
        if *col >= limit {
            text.push_str("\r\n\t");
            *col = 1;
        }
        let n = (limit - *col).min(rest.len());
        text.push_str(&rest[..n]);
        *col += n;
        rest = &rest[n..];
    }
}
