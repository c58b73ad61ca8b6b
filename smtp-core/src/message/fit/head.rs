//! The header block of a message or part, for the line fitter: what it
//! says (media type, boundary, transfer encoding, signatures), folding its
//! long lines, and rewriting its transfer encoding.

use super::MAX_LINE;

/// Where a long header line is folded when it has whitespace there.
const FOLD_COLUMNS: usize = 78;

/// A header field line (`name:`) or a continuation line.
pub(super) fn is_field_line(line: &[u8]) -> bool {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return true;
    }
    match memchr::memchr(b':', line) {
        Some(colon) => {
            let name = &line[..colon];
            let name = name.strip_suffix(b" ").unwrap_or(name);
            !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b))
        }
        None => false,
    }
}

/// What a header block says about its entity.
#[derive(Debug, Default)]
pub(super) struct HeadInfo {
    /// `type/subtype`, lower case.
    pub(super) media_type: Option<String>,
    pub(super) boundary: Option<Vec<u8>>,
    /// The transfer encoding, lower case.
    pub(super) encoding: Option<String>,
    /// `DKIM-Signature` or `ARC-Message-Signature`.
    pub(super) signature: bool,
    /// A line over 998 octets.
    pub(super) long_line: bool,
}

impl HeadInfo {
    pub(super) fn read(head: &[u8]) -> HeadInfo {
        let mut info = HeadInfo::default();
        for_each_field(head, |name, value| {
            if name.eq_ignore_ascii_case(b"content-type") {
                let value = unfold(value);
                let mut params = value.split(';');
                let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
                if !media.is_empty() {
                    info.media_type = Some(media);
                }
                info.boundary = params
                    .find_map(|p| {
                        let (k, v) = p.split_once('=')?;
                        k.trim().eq_ignore_ascii_case("boundary").then(|| {
                            let v = v.trim();
                            let v = v
                                .strip_prefix('"')
                                .and_then(|v| v.strip_suffix('"'))
                                .unwrap_or(v);
                            v.as_bytes().to_vec()
                        })
                    })
                    .filter(|b| !b.is_empty());
            } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
                info.encoding = Some(unfold(value).trim().to_ascii_lowercase());
            } else if name.eq_ignore_ascii_case(b"dkim-signature")
                || name.eq_ignore_ascii_case(b"arc-message-signature")
            {
                info.signature = true;
            }
        });
        info.long_line = head
            .split(|&b| b == b'\n')
            .any(|l| l.strip_suffix(b"\r").unwrap_or(l).len() > MAX_LINE);
        info
    }
}

/// Calls `f` with each field's name (trimmed) and raw value (from after
/// the colon to the end of its last continuation line). Nothing is
/// allocated: most fields are not looked at.
fn for_each_field(head: &[u8], mut f: impl FnMut(&[u8], &[u8])) {
    let mut field: Option<(usize, usize)> = None; // (start, colon)
    let mut pos = 0;
    let emit = |field: Option<(usize, usize)>, end: usize, f: &mut dyn FnMut(&[u8], &[u8])| {
        if let Some((start, colon)) = field {
            f(head[start..colon].trim_ascii(), &head[colon + 1..end]);
        }
    };
    while pos < head.len() {
        let end = memchr::memchr(b'\n', &head[pos..]).map_or(head.len(), |i| pos + i + 1);
        let line = &head[pos..end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            pos = end;
            continue;
        }
        emit(field.take(), pos, &mut f);
        field = memchr::memchr(b':', line).map(|c| (pos, pos + c));
        pos = end;
    }
    emit(field, head.len(), &mut f);
}

/// A raw field value as one line of text.
fn unfold(value: &[u8]) -> String {
    let text: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(&text).into_owned()
}

/// Folds every header line over 998 octets at whitespace; an error names
/// a line that has none where it would be needed.
pub(super) fn fold_head(head: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(head.len() + 64);
    for line in head.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.len() <= MAX_LINE {
            out.extend_from_slice(line);
            continue;
        }
        let mut rest = content;
        // At 78 columns where there is whitespace, anywhere up to 998
        // where there is not; a line of 998 octets or fewer may stay.
        while rest.len() > FOLD_COLUMNS {
            let fold_at = |limit: usize| {
                (1..=limit.min(rest.len() - 1)).rev().find(|&i| {
                    matches!(rest[i], b' ' | b'\t')
                        && rest[..i].iter().any(|&b| b != b' ' && b != b'\t')
                })
            };
            let at = match fold_at(FOLD_COLUMNS) {
                Some(at) => at,
                None if rest.len() <= MAX_LINE => break,
                None => fold_at(MAX_LINE).ok_or_else(|| {
                    "it is a header line with no whitespace to fold it at".to_string()
                })?,
            };
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[at..];
        }
        out.extend_from_slice(rest);
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// A part's header block with `Content-Transfer-Encoding:
/// quoted-printable` in place of the old one (and `MIME-Version: 1.0` for
/// a message that had none).
pub(super) fn rewrite_encoding(head: &[u8], top: bool, out: &mut Vec<u8>) {
    let body_start = head.len() - if head.ends_with(b"\r\n") { 2 } else { 0 };
    let mut skipping = false;
    let mut has_version = false;
    for line in head[..body_start].split_inclusive(|&b| b == b'\n') {
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            skipping = name == "content-transfer-encoding";
            has_version |= name == "mime-version";
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    if top && !has_version {
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
}
