//! Attachments and inline parts: the [`Attachment`] a caller describes,
//! how [`Message`] adds it, and the checks on file names, content types
//! and Content-IDs that keep every value inside its header.

use std::path::{Path, PathBuf};

use super::header::{self, check_header_text};
use super::Message;
use crate::error::{Error, Result};

/// Longest attachment file name accepted, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

/// Where a part's bytes come from.
#[derive(Clone)]
pub(crate) enum Source {
    /// Held in memory.
    Bytes(Vec<u8>),
    /// Read from this file when the message is sent.
    File(PathBuf),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Source::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// A `type/subtype` with parameters, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentType {
    /// Lower-case `type/subtype`.
    pub mime: String,
    /// Parameters other than `name` (which is written from the file name).
    pub params: Vec<(String, String)>,
}

impl ContentType {
    pub(crate) fn is_text(&self) -> bool {
        self.mime.starts_with("text/")
    }
}

/// An attachment or an inline part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// `Some` for an inline part referenced by `cid:`.
    pub content_id: Option<String>,
    pub filename: Option<String>,
    pub content_type: ContentType,
    pub source: Source,
}

/// A file or bytes to add to a [`Message`], with the name and content
/// type the recipient sees.
///
/// ```no_run
/// use smtp_core::{Attachment, Message};
///
/// # fn main() -> Result<(), smtp_core::Error> {
/// let mut message = Message::new();
/// message.attach_file("report.pdf")?; // the common case
/// message.attach(
///     Attachment::file("/tmp/export-7f3a.csv")
///         .filename("report.csv")
///         .content_type("text/csv; charset=utf-8"),
/// )?;
/// message.inline("logo", Attachment::bytes(vec![0x89, b'P', b'N', b'G']).filename("logo.png"))?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Attachment {
    source: Source,
    filename: Option<String>,
    content_type: Option<String>,
}

impl Attachment {
    /// A file, read block by block when the message is sent. It is shown
    /// under the path's last component unless
    /// [`filename`](Attachment::filename) gives another name.
    pub fn file(path: impl AsRef<Path>) -> Attachment {
        Attachment {
            source: Source::File(path.as_ref().to_path_buf()),
            filename: None,
            content_type: None,
        }
    }

    /// Bytes held in memory. An attachment needs a
    /// [`filename`](Attachment::filename); an inline part may go without.
    pub fn bytes(data: Vec<u8>) -> Attachment {
        Attachment {
            source: Source::Bytes(data),
            filename: None,
            content_type: None,
        }
    }

    /// The file name the recipient sees (only its last path component is
    /// kept). Checked when the part is added to a message.
    pub fn filename(mut self, name: &str) -> Attachment {
        self.filename = Some(name.to_owned());
        self
    }

    /// The content type, `type/subtype` with optional parameters
    /// (`text/csv; charset=utf-8`); without it the type is guessed from
    /// the file name. Checked when the part is added to a message.
    pub fn content_type(mut self, content_type: &str) -> Attachment {
        self.content_type = Some(content_type.to_owned());
        self
    }

    /// The checked file name: the one given, else a file's own name.
    fn checked_filename(&self) -> Result<Option<String>> {
        match (&self.filename, &self.source) {
            (Some(name), _) => check_filename(name).map(Some),
            (None, Source::File(path)) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                check_filename(&name).map(Some)
            }
            (None, Source::Bytes(_)) => Ok(None),
        }
    }

    /// Checks every field and makes the part; a file must be readable now.
    fn into_part(self, content_id: Option<String>, filename: Option<String>) -> Result<Part> {
        let content_type = resolve_content_type(self.content_type.as_deref(), filename.as_deref())?;
        if let Source::File(path) = &self.source {
            check_readable(path)?;
        }
        Ok(Part {
            content_id,
            filename,
            content_type,
            source: self.source,
        })
    }
}

impl Message {
    /// Attaches a file under its own name, with the content type guessed
    /// from that name. It must exist and be readable now; it is read when
    /// the message is sent, block by block. For another name or type, see
    /// [`attach`](Message::attach).
    pub fn attach_file(&mut self, path: impl AsRef<Path>) -> Result<&mut Self> {
        self.attach(Attachment::file(path))
    }

    /// Attaches bytes as a file called `filename`, with the content type
    /// guessed from that name. For another type, see
    /// [`attach`](Message::attach).
    pub fn attach_bytes(&mut self, filename: &str, data: Vec<u8>) -> Result<&mut Self> {
        self.attach(Attachment::bytes(data).filename(filename))
    }

    /// Attaches a file or bytes as described by `attachment`. Bytes need a
    /// [`filename`](Attachment::filename).
    pub fn attach(&mut self, attachment: Attachment) -> Result<&mut Self> {
        let Some(filename) = attachment.checked_filename()? else {
            return Err(Error::invalid(
                "attachment file name",
                "is missing: attached bytes need one (Attachment::filename)",
            ));
        };
        let part = attachment.into_part(None, Some(filename))?;
        self.parts.push(part);
        Ok(self)
    }

    /// Adds an inline part (an image the HTML shows with
    /// `<img src="cid:CONTENT_ID">`). `content_id` is given without
    /// `cid:`; angle brackets are optional.
    pub fn inline(&mut self, content_id: &str, part: Attachment) -> Result<&mut Self> {
        let content_id = self.check_new_content_id(content_id)?;
        let filename = part.checked_filename()?;
        let part = part.into_part(Some(content_id), filename)?;
        self.parts.push(part);
        Ok(self)
    }

    fn check_new_content_id(&self, content_id: &str) -> Result<String> {
        let id = check_content_id(content_id)?;
        if self
            .parts
            .iter()
            .any(|p| p.content_id.as_deref() == Some(&id))
        {
            return Err(Error::invalid("content id", format!("{id} is used twice")));
        }
        Ok(id)
    }
}

/// Checks a Content-ID (without `cid:`; brackets optional) and returns it
/// without brackets.
fn check_content_id(input: &str) -> Result<String> {
    const FIELD: &str = "content id";
    check_header_text(input, FIELD)?;
    let id = input.trim();
    let id = id
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id);
    let id = id.strip_prefix("cid:").unwrap_or(id);
    let ok = !id.is_empty()
        && id.len() <= 250
        && id
            .chars()
            .all(|c| header::is_atext(c) || c == '.' || c == '@');
    if !ok {
        return Err(Error::invalid(
            FIELD,
            "must be 1 to 250 characters: letters, digits, '.', '@' and !#$%&'*+-/=?^_`{|}~",
        ));
    }
    Ok(id.to_string())
}

/// Checks a file name and keeps its last path component.
fn check_filename(input: &str) -> Result<String> {
    const FIELD: &str = "attachment file name";
    check_header_text(input, FIELD)?;
    let base = input.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." {
        return Err(Error::invalid(FIELD, "is empty"));
    }
    if base.chars().count() > MAX_FILENAME_CHARS {
        return Err(Error::invalid(
            FIELD,
            format!("is longer than {MAX_FILENAME_CHARS} characters"),
        ));
    }
    Ok(base.to_string())
}

fn check_readable(path: &Path) -> Result<()> {
    const FIELD: &str = "attachment file";
    let file = std::fs::File::open(path)
        .map_err(|e| Error::invalid(FIELD, format!("cannot open {}: {e}", path.display())))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::invalid(FIELD, format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::invalid(
            FIELD,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(())
}

/// The content type given, or guessed from the file name, or
/// `application/octet-stream`.
fn resolve_content_type(given: Option<&str>, filename: Option<&str>) -> Result<ContentType> {
    if let Some(given) = given {
        return parse_content_type(given);
    }
    let guessed = filename
        .and_then(|f| mime_guess::from_path(f).first_raw())
        .filter(|m| !m.starts_with("multipart/") && !m.starts_with("message/"))
        .unwrap_or("application/octet-stream");
    Ok(ContentType {
        mime: guessed.to_string(),
        params: Vec::new(),
    })
}

/// Parses `type/subtype; attr=value; attr="quoted"`.
fn parse_content_type(input: &str) -> Result<ContentType> {
    const FIELD: &str = "content type";
    check_header_text(input, FIELD)?;
    let mut pieces = split_params(input, FIELD)?.into_iter();
    let mime = pieces
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((ty, sub)) = mime.split_once('/') else {
        return Err(Error::invalid(FIELD, "must be type/subtype"));
    };
    let token = |s: &str| !s.is_empty() && s.chars().all(header::is_token_char);
    if !token(ty) || !token(sub) {
        return Err(Error::invalid(
            FIELD,
            "must be type/subtype in token characters",
        ));
    }
    if ty == "multipart" || ty == "message" {
        return Err(Error::invalid(
            FIELD,
            format!("{mime} cannot be attached as is; use application/octet-stream"),
        ));
    }
    let mut params = Vec::new();
    for piece in pieces {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let Some((attr, value)) = piece.split_once('=') else {
            return Err(Error::invalid(
                FIELD,
                format!("parameter {piece:?} has no '='"),
            ));
        };
        let attr = attr.trim().to_ascii_lowercase();
        if !token(&attr) || attr.contains('*') {
            return Err(Error::invalid(
                FIELD,
                format!("bad parameter name {attr:?}"),
            ));
        }
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => {
                let mut out = String::new();
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        out.extend(chars.next());
                    } else {
                        out.push(c);
                    }
                }
                out
            }
            None if token(value) => value.to_string(),
            None => {
                return Err(Error::invalid(
                    FIELD,
                    format!("bad value for parameter {attr}"),
                ));
            }
        };
        if attr == "name" || attr == "boundary" {
            continue;
        }
        params.push((attr, value));
    }
    Ok(ContentType { mime, params })
}

/// Splits at `;` outside quoted strings.
fn split_params<'a>(input: &'a str, field: &'static str) -> Result<Vec<&'a str>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
        } else if in_quote && c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quote = !in_quote;
        } else if c == ';' && !in_quote {
            pieces.push(&input[start..i]);
            start = i + 1;
        }
    }
    if in_quote {
        return Err(Error::invalid(field, "has an unterminated quoted string"));
    }
    pieces.push(&input[start..]);
    Ok(pieces)
}
