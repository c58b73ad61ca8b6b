//! The header block of a raw message: read line by line up to the empty
//! line (or the first line that is not a header field, which then starts
//! the body, as sendmail has it), a leading mbox `From ` line dropped,
//! its fields located and unfolded. Only the block is held in memory.

use std::io::{self, Read};

/// One header field: its name and where it lies in [`Head::bytes`].
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    /// Byte range of the whole field: name, continuation lines, line break.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A message's header block as read.
#[derive(Debug, Default)]
pub(crate) struct Head {
    /// The header lines as read: each ends in a line break, but for a
    /// last line at the end of the input.
    pub(crate) bytes: Vec<u8>,
    pub(crate) fields: Vec<Field>,
    /// The input line (from 1) of the first header line.
    pub(crate) first_line: u64,
    /// A leading mbox `From ` line, not part of the header.
    pub(crate) mbox_line: Vec<u8>,
    /// Whether an empty line ended the block (else one is inserted).
    pub(crate) separator: bool,
    /// That empty line as read (LF or CRLF).
    pub(crate) separator_line: Vec<u8>,
}

/// The field name of a header line (`Name:` with printable ASCII and no
/// blank before the colon), or `None` when the line is not a header field.
pub(crate) fn field_name(line: &[u8]) -> Option<&str> {
    let colon = memchr::memchr(b':', line)?;
    let name = &line[..colon];
    let trimmed_len = name
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |p| p + 1);
    let name = &name[..trimmed_len];
    if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
        return None;
    }
    std::str::from_utf8(name).ok()
}

/// What a line of the header block is.
enum LineKind {
    /// The empty line that ends the block.
    Separator,
    /// A folded continuation of the field before.
    Continuation,
    /// A new field with this name.
    Field(String),
    /// Not part of a header: the body starts here.
    Body,
}

impl Head {
    fn classify(&self, content: &[u8]) -> LineKind {
        if content.is_empty() {
            LineKind::Separator
        } else if matches!(content[0], b' ' | b'\t') {
            if self.fields.is_empty() {
                LineKind::Body
            } else {
                LineKind::Continuation
            }
        } else {
            match field_name(content) {
                Some(name) => LineKind::Field(name.to_string()),
                None => LineKind::Body,
            }
        }
    }

    /// Takes one complete line (with its line break, if any). Returns
    /// `false` when the block has ended (the line is then not taken unless
    /// it was the separator, which `separator` records).
    fn take_line(&mut self, line: &[u8]) -> bool {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        match self.classify(content) {
            LineKind::Separator => {
                self.separator = true;
                self.separator_line = line.to_vec();
                false
            }
            LineKind::Body => false,
            LineKind::Continuation => {
                self.push(line);
                if let Some(last) = self.fields.last_mut() {
                    last.end = self.bytes.len();
                }
                true
            }
            LineKind::Field(name) => {
                let start = self.bytes.len();
                self.push(line);
                self.fields.push(Field {
                    name,
                    start,
                    end: self.bytes.len(),
                });
                true
            }
        }
    }

    /// Appends a line as read (the last one may lack its line break).
    fn push(&mut self, line: &[u8]) {
        self.bytes.extend_from_slice(line);
    }

    /// Reads the header block from `input`. Returns it with whatever was
    /// read past it (the start of the body). Fails with `InvalidData` when
    /// the block is larger than `limit` bytes.
    pub(crate) fn read(input: &mut dyn Read, limit: usize) -> io::Result<(Head, Vec<u8>)> {
        let mut head = Head {
            first_line: 1,
            ..Head::default()
        };
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut pos = 0; // start of the first line not yet taken
        let mut eof = false;
        let mut first = true;
        loop {
            let line_end = match memchr::memchr(b'\n', &buf[pos..]) {
                Some(i) => pos + i + 1,
                None if eof => buf.len(),
                None => {
                    if buf.len() - pos > limit || head.bytes.len() > limit {
                        return Err(too_large(limit));
                    }
                    // Keep the buffer from growing with lines already taken.
                    buf.drain(..pos);
                    pos = 0;
                    let mut chunk = [0u8; 8192];
                    let n = loop {
                        match input.read(&mut chunk) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e),
                        }
                    };
                    eof = n == 0;
                    buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
            };
            if pos == line_end {
                // End of input.
                return Ok((head, Vec::new()));
            }
            let line = &buf[pos..line_end];
            if std::mem::take(&mut first) && line.starts_with(b"From ") {
                // An mbox separator line, as sendmail drops it.
                head.first_line = 2;
                head.mbox_line = line.to_vec();
                pos = line_end;
                continue;
            }
            let line = line.to_vec();
            if !head.take_line(&line) {
                let rest_from = if head.separator { line_end } else { pos };
                return Ok((head, buf.split_off(rest_from)));
            }
            if head.bytes.len() > limit {
                return Err(too_large(limit));
            }
            pos = line_end;
        }
    }

    /// True when a field with this name (any case) is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.fields
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The unfolded values of every field with this name, in order.
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = String> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| unfolded_value(&self.bytes[f.start..f.end]))
    }
}

fn too_large(limit: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the message's header block is larger than {limit} bytes"),
    )
}

/// The unfolded value of a field (`Name: value`, continuation lines joined).
pub(crate) fn unfolded_value(field: &[u8]) -> String {
    let after = memchr::memchr(b':', field).map_or(field.len(), |i| i + 1);
    let unfolded: Vec<u8> = field[after..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(&unfolded).trim().to_string()
}
