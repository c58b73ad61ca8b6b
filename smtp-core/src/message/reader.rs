//! [`MessageReader`]: the message as a byte stream, produced on demand.
//!
//! The plan of the message (header blocks, boundaries, and which source
//! each body comes from with which encoder) is built when the reader is
//! made; bodies are encoded while the reader is read, one block at a time.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::address::write_mailboxes;
use super::encode::{self, Encoder, TransferEncoding, BASE64_LINE_INPUT};
use super::header::{write_params, write_unstructured, HeaderWriter, Param};
use super::{date, new_boundary, part_encoding, ContentType, EncodeOptions, Message, Part, Source};
use crate::error::{Error, Result};

/// Input block size: a whole number of base64 lines (57 bytes each).
const BLOCK: usize = BASE64_LINE_INPUT * 1024;

/// Tries at picking a boundary that occurs in no 7bit/8bit part before
/// giving up (with random boundaries one try is all it ever takes).
const BOUNDARY_TRIES: usize = 32;

/// Where a body's bytes come from.
#[derive(Debug, Clone, Copy)]
enum Data<'a> {
    Mem(&'a [u8]),
    File(&'a Path),
}

/// One step of the output.
#[derive(Debug)]
enum Item<'a> {
    /// Headers, blank lines and boundary lines, ready to go.
    Raw(Vec<u8>),
    /// A body to encode.
    Body {
        data: Data<'a>,
        encoding: TransferEncoding,
        /// Text body: line breaks made CRLF even under base64.
        text: bool,
    },
}

/// A body part in the MIME tree.
struct Leaf<'a> {
    headers: Vec<u8>,
    data: Data<'a>,
    encoding: TransferEncoding,
    text: bool,
}

enum Node<'a> {
    Leaf(Leaf<'a>),
    Multi {
        subtype: &'static str,
        /// `type=` parameter (multipart/related).
        root_type: Option<&'static str>,
        boundary: String,
        children: Vec<Node<'a>>,
    },
}

/// The body being encoded.
struct Active<'a> {
    encoder: Encoder,
    source: ActiveSource<'a>,
}

enum ActiveSource<'a> {
    Mem { data: &'a [u8], offset: usize },
    File { file: Option<File>, path: &'a Path },
}

/// A message being written: implements [`Read`], producing the headers and
/// MIME body with CRLF line endings (not dot-stuffed: the client does that
/// when sending). Made by [`Message::reader`].
///
/// Memory use is constant whatever the size of file attachments: one input
/// block and its encoded form (about 140 KiB together, see
/// [`buffer_capacity`](MessageReader::buffer_capacity)).
pub struct MessageReader<'a> {
    items: Vec<Item<'a>>,
    /// The next item to produce.
    next: usize,
    active: Option<Active<'a>>,
    out: Vec<u8>,
    pos: usize,
    inbuf: Vec<u8>,
    scratch: Vec<u8>,
    last_two: [u8; 2],
    written: u64,
    done: bool,
    eight_bit: bool,
}

impl std::fmt::Debug for MessageReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("written", &self.written)
            .field("done", &self.done)
            .field("eight_bit", &self.eight_bit)
            .finish()
    }
}

impl<'a> MessageReader<'a> {
    pub(crate) fn new(message: &'a Message, options: &EncodeOptions) -> Result<MessageReader<'a>> {
        let (items, eight_bit) = plan(message, options)?;
        Ok(MessageReader {
            items,
            next: 0,
            active: None,
            out: Vec::new(),
            pos: 0,
            inbuf: Vec::new(),
            scratch: Vec::new(),
            last_two: [b'\r', b'\n'],
            written: 0,
            done: false,
            eight_bit,
        })
    }

    /// Starts again from the first byte, with the same plan: the same
    /// headers (`Date`, `Message-ID`), boundaries and encodings, so the
    /// bytes are the same again (file attachments are opened again and
    /// read from their start; a file changed in between gives its new
    /// content). What DKIM signing uses to read a message twice, once to
    /// hash it and once to send it, without holding it. The buffers are
    /// released until the next read (a batch of signed messages waiting
    /// to be sent holds none).
    pub fn rewind(&mut self) {
        self.next = 0;
        self.active = None;
        self.out = Vec::new();
        self.inbuf = Vec::new();
        self.scratch = Vec::new();
        self.pos = 0;
        self.last_two = [b'\r', b'\n'];
        self.written = 0;
        self.done = false;
    }

    /// True when a part is sent as `8bit` (the envelope must then say
    /// `BODY=8BITMIME`).
    pub fn uses_8bit(&self) -> bool {
        self.eight_bit
    }

    /// Bytes produced so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// The memory the reader's buffers hold now (their capacities): stays
    /// near 140 KiB plus the size of the largest header block, whatever the
    /// size of the attachments.
    pub fn buffer_capacity(&self) -> usize {
        self.out.capacity()
            + self.inbuf.capacity()
            + self.scratch.capacity()
            + self.active.as_ref().map_or(0, |a| a.encoder.capacity())
    }

    /// Fills `out` with the next piece of output; leaves it empty at the end.
    fn fill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.pos = 0;
        while self.out.is_empty() && !self.done {
            if let Some(active) = self.active.as_mut() {
                let finished = match &mut active.source {
                    ActiveSource::Mem { data, offset } => {
                        let end = (*offset + BLOCK).min(data.len());
                        active.encoder.encode(
                            &data[*offset..end],
                            &mut self.out,
                            &mut self.scratch,
                        );
                        *offset = end;
                        end == data.len()
                    }
                    ActiveSource::File { file, path } => {
                        let path: &Path = path;
                        let file = match file {
                            Some(f) => f,
                            None => file.insert(File::open(path).map_err(|e| file_error(path, e))?),
                        };
                        if self.inbuf.len() != BLOCK {
                            self.inbuf.resize(BLOCK, 0);
                        }
                        let n =
                            read_full(file, &mut self.inbuf).map_err(|e| file_error(path, e))?;
                        active
                            .encoder
                            .encode(&self.inbuf[..n], &mut self.out, &mut self.scratch);
                        n < BLOCK
                    }
                };
                if finished {
                    active.encoder.finish(&mut self.out, &mut self.scratch);
                    self.active = None;
                }
            } else {
                let item = self.items.get(self.next);
                self.next += usize::from(item.is_some());
                match item {
                    Some(Item::Raw(bytes)) => self.out.extend_from_slice(bytes),
                    Some(&Item::Body {
                        data,
                        encoding,
                        text,
                    }) => {
                        let source = match data {
                            Data::Mem(data) => ActiveSource::Mem { data, offset: 0 },
                            Data::File(path) => ActiveSource::File { file: None, path },
                        };
                        self.active = Some(Active {
                            encoder: Encoder::new(encoding, text),
                            source,
                        });
                    }
                    None => {
                        // End with a line break.
                        if self.last_two != *b"\r\n" {
                            self.out.extend_from_slice(b"\r\n");
                        }
                        self.done = true;
                    }
                }
            }
        }
        match self.out.len() {
            0 => {}
            1 => self.last_two = [self.last_two[1], self.out[0]],
            n => self.last_two = [self.out[n - 2], self.out[n - 1]],
        }
        Ok(())
    }
}

impl Read for MessageReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos >= self.out.len() {
            self.fill()?;
        }
        let available = &self.out[self.pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        self.written += n as u64;
        Ok(n)
    }
}

/// Reads until `buf` is full or the end of the file.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn file_error(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("attachment {}: {e}", path.display()))
}

// ----- the plan ---------------------------------------------------------

fn plan<'a>(message: &'a Message, options: &EncodeOptions) -> Result<(Vec<Item<'a>>, bool)> {
    let mut head = message_headers(message, options)?;
    let mut root = body_tree(message, options)?;
    assign_boundaries(&mut root)?;
    let eight_bit = uses_8bit(&root);
    let mut items = Vec::new();
    flatten(root, &mut head, &mut items)?;
    if !head.is_empty() {
        items.push(Item::Raw(head));
    }
    Ok((items, eight_bit))
}

fn message_headers(m: &Message, options: &EncodeOptions) -> Result<Vec<u8>> {
    let from = m.from.as_ref().ok_or_else(super::no_from)?;
    let utf8 = options.smtputf8;
    let mut h = Vec::with_capacity(1024);
    let date = date::format_date(m.date.unwrap_or_else(std::time::SystemTime::now));
    let mut w = HeaderWriter::new(&mut h, "Date", "date");
    w.token(" ", &date);
    w.finish()?;
    write_mailboxes(&mut h, "From", std::slice::from_ref(from), utf8, "from")?;
    if let Some(sender) = &m.sender {
        write_mailboxes(
            &mut h,
            "Sender",
            std::slice::from_ref(sender),
            utf8,
            "sender",
        )?;
    }
    if !m.reply_to.is_empty() {
        write_mailboxes(&mut h, "Reply-To", &m.reply_to, utf8, "reply-to")?;
    }
    if !m.to.is_empty() {
        write_mailboxes(&mut h, "To", &m.to, utf8, "to")?;
    }
    if !m.cc.is_empty() {
        write_mailboxes(&mut h, "Cc", &m.cc, utf8, "cc")?;
    }
    if m.to.is_empty() && m.cc.is_empty() {
        h.extend_from_slice(b"To: undisclosed-recipients:;\r\n");
    }
    if let Some(subject) = &m.subject {
        write_unstructured(&mut h, "Subject", subject, "subject")?;
    }
    let id = m.current_message_id()?;
    let mut w = HeaderWriter::new(&mut h, "Message-ID", "message id");
    w.token(" ", &id);
    w.finish()?;
    for (name, ids, field) in [
        ("In-Reply-To", &m.in_reply_to, "in-reply-to"),
        ("References", &m.references, "references"),
    ] {
        if !ids.is_empty() {
            let mut w = HeaderWriter::new(&mut h, name, field);
            for id in ids {
                w.token(" ", &format!("<{id}>"));
            }
            w.finish()?;
        }
    }
    for (name, value) in &m.headers {
        write_unstructured(&mut h, name, value, "header value")?;
    }
    super::unsubscribe::write_fields(m, &mut h)?;
    h.extend_from_slice(b"MIME-Version: 1.0\r\n");
    Ok(h)
}

fn text_leaf<'a>(body: &'a str, subtype: &str, options: &EncodeOptions) -> Result<Leaf<'a>> {
    let data = body.as_bytes();
    let encoding = encode::choose(&encode::scan(data), false, options.allow_8bit);
    let mut headers = Vec::new();
    write_params(
        &mut headers,
        "Content-Type",
        &format!("text/{subtype}"),
        &[Param::Rfc2231("charset", "utf-8")],
        "content type",
    )?;
    cte(&mut headers, encoding);
    Ok(Leaf {
        headers,
        data: Data::Mem(data),
        encoding,
        text: true,
    })
}

fn cte(headers: &mut Vec<u8>, encoding: TransferEncoding) {
    headers.extend_from_slice(b"Content-Transfer-Encoding: ");
    headers.extend_from_slice(encoding.as_str().as_bytes());
    headers.extend_from_slice(b"\r\n");
}

fn part_leaf<'a>(part: &'a Part, options: &EncodeOptions) -> Result<Leaf<'a>> {
    let encoding = part_encoding(part, options);
    let ContentType { mime, params } = &part.content_type;
    let mut list: Vec<Param<'_>> = params
        .iter()
        .map(|(a, v)| Param::Rfc2231(a.as_str(), v.as_str()))
        .collect();
    if let Some(name) = &part.filename {
        list.push(Param::Rfc2047("name", name));
    }
    let mut headers = Vec::new();
    write_params(&mut headers, "Content-Type", mime, &list, "content type")?;
    cte(&mut headers, encoding);
    if let Some(id) = &part.content_id {
        let mut w = HeaderWriter::new(&mut headers, "Content-ID", "content id");
        w.token(" ", &format!("<{id}>"));
        w.finish()?;
    }
    let disposition = if part.content_id.is_some() {
        "inline"
    } else {
        "attachment"
    };
    let mut dparams = Vec::new();
    if let Some(name) = &part.filename {
        dparams.push(Param::Rfc2231("filename", name));
    }
    write_params(
        &mut headers,
        "Content-Disposition",
        disposition,
        &dparams,
        "attachment file name",
    )?;
    let data = match &part.source {
        Source::Bytes(b) => Data::Mem(b),
        Source::File(p) => Data::File(p),
    };
    Ok(Leaf {
        headers,
        data,
        encoding,
        text: false,
    })
}

fn multi<'a>(subtype: &'static str, children: Vec<Node<'a>>) -> Node<'a> {
    Node::Multi {
        subtype,
        root_type: None,
        boundary: String::new(),
        children,
    }
}

fn body_tree<'a>(m: &'a Message, options: &EncodeOptions) -> Result<Node<'a>> {
    let text = m
        .text
        .as_deref()
        .map(|t| text_leaf(t, "plain", options))
        .transpose()?;
    let html = m
        .html
        .as_deref()
        .map(|t| text_leaf(t, "html", options))
        .transpose()?;
    let mut inline = Vec::new();
    let mut attachments = Vec::new();
    for part in &m.parts {
        let leaf = Node::Leaf(part_leaf(part, options)?);
        if part.content_id.is_some() && html.is_some() {
            inline.push(leaf);
        } else {
            attachments.push(leaf);
        }
    }
    let html = html.map(|h| {
        if inline.is_empty() {
            Node::Leaf(h)
        } else {
            let mut children = vec![Node::Leaf(h)];
            children.append(&mut inline);
            Node::Multi {
                subtype: "related",
                root_type: Some("text/html"),
                boundary: String::new(),
                children,
            }
        }
    });
    let main = match (text, html) {
        (Some(t), Some(h)) => Some(multi("alternative", vec![Node::Leaf(t), h])),
        (Some(t), None) => Some(Node::Leaf(t)),
        (None, Some(h)) => Some(h),
        (None, None) if attachments.is_empty() => {
            Some(Node::Leaf(text_leaf("", "plain", options)?))
        }
        (None, None) => None,
    };
    Ok(if attachments.is_empty() {
        main.ok_or_else(|| Error::invalid("body", "is empty"))?
    } else {
        let mut children: Vec<Node<'a>> = main.into_iter().collect();
        children.append(&mut attachments);
        multi("mixed", children)
    })
}

/// Collects the in-memory 7bit/8bit bodies under a node (the only ones a
/// boundary could occur in).
fn plain_bodies<'a>(node: &Node<'a>, out: &mut Vec<&'a [u8]>) {
    match node {
        Node::Leaf(Leaf {
            data: Data::Mem(data),
            encoding: TransferEncoding::SevenBit | TransferEncoding::EightBit,
            ..
        }) => out.push(data),
        Node::Leaf(_) => {}
        Node::Multi { children, .. } => children.iter().for_each(|c| plain_bodies(c, out)),
    }
}

fn assign_boundaries(node: &mut Node<'_>) -> Result<()> {
    let mut bodies = Vec::new();
    plain_bodies(node, &mut bodies);
    if let Node::Multi {
        boundary, children, ..
    } = node
    {
        let mut tries = 0;
        *boundary = loop {
            let candidate = new_boundary();
            let clash = bodies
                .iter()
                .any(|b| memchr::memmem::find(b, candidate.as_bytes()).is_some());
            if !clash {
                break candidate;
            }
            tries += 1;
            if tries >= BOUNDARY_TRIES {
                return Err(Error::invalid("body", "no MIME boundary could be found"));
            }
        };
        for child in children {
            assign_boundaries(child)?;
        }
    }
    Ok(())
}

fn uses_8bit(node: &Node<'_>) -> bool {
    match node {
        Node::Leaf(leaf) => leaf.encoding == TransferEncoding::EightBit,
        Node::Multi { children, .. } => children.iter().any(uses_8bit),
    }
}

/// Writes `node` (its content headers, a blank line, its body) as items.
/// `head` holds raw bytes not yet pushed.
fn flatten<'a>(node: Node<'a>, head: &mut Vec<u8>, items: &mut Vec<Item<'a>>) -> Result<()> {
    match node {
        Node::Leaf(leaf) => {
            head.extend_from_slice(&leaf.headers);
            head.extend_from_slice(b"\r\n");
            items.push(Item::Raw(std::mem::take(head)));
            items.push(Item::Body {
                data: leaf.data,
                encoding: leaf.encoding,
                text: leaf.text,
            });
        }
        Node::Multi {
            subtype,
            root_type,
            boundary,
            children,
        } => {
            let mut params = Vec::new();
            if let Some(t) = root_type {
                params.push(Param::Rfc2231("type", t));
            }
            params.push(Param::Rfc2231("boundary", &boundary));
            write_params(
                head,
                "Content-Type",
                &format!("multipart/{subtype}"),
                &params,
                "content type",
            )?;
            head.extend_from_slice(b"\r\n");
            for (i, child) in children.into_iter().enumerate() {
                if i > 0 {
                    head.extend_from_slice(b"\r\n");
                }
                head.extend_from_slice(b"--");
                head.extend_from_slice(boundary.as_bytes());
                head.extend_from_slice(b"\r\n");
                flatten(child, head, items)?;
            }
            head.extend_from_slice(b"\r\n--");
            head.extend_from_slice(boundary.as_bytes());
            head.extend_from_slice(b"--\r\n");
        }
    }
    Ok(())
}
