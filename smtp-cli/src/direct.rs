//! Direct mode: a message composed from command-line options with
//! [`smtp_core::Message`].

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use smtp_core::{Mailbox, Message};

use crate::args::Options;
use crate::exit::{one_line, Exit, Failure, Stage};

fn bad(e: smtp_core::Error) -> Failure {
    Failure::smtp(&e, Stage::Message, "bad message")
}

/// Reads a text file given with `--body-file` / `--html-file` (`-` is
/// standard input).
fn read_text(path: &Path, option: &str) -> Result<String, Failure> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| Failure::new(Exit::IoErr, format!("reading standard input: {e}")))?;
        buf
    } else {
        fs::read(path).map_err(|e| input_error(path, option, &e))?
    };
    String::from_utf8(bytes)
        .map_err(|_| Failure::data(format!("{option} {}: not UTF-8 text", path.display())))
}

fn input_error(path: &Path, option: &str, e: &io::Error) -> Failure {
    let exit = match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => Exit::NoInput,
        _ => Exit::IoErr,
    };
    Failure::new(exit, format!("{option} {}: {e}", path.display()))
}

/// Checks that an attachment is a readable regular file (66 otherwise).
fn check_attachment(path: &Path) -> Result<(), Failure> {
    let file = fs::File::open(path).map_err(|e| input_error(path, "--attach", &e))?;
    let meta = file
        .metadata()
        .map_err(|e| input_error(path, "--attach", &e))?;
    if !meta.is_file() {
        return Err(Failure::new(
            Exit::NoInput,
            format!("--attach {}: not a regular file", path.display()),
        ));
    }
    Ok(())
}

/// Composes the message. `author` is the From mailbox (already carrying
/// the `-F` name when one applies).
pub fn compose(opts: &Options, author: &Mailbox) -> Result<Message, Failure> {
    let mut m = Message::new();
    let from = match &author.name {
        Some(name) => format!(
            "\"{}\" <{}>",
            name.replace('\\', "\\\\").replace('"', "\\\""),
            author.address
        ),
        None => author.address.clone(),
    };
    m.from(&from).map_err(bad)?;
    for list in opts.to.iter().chain(&opts.recipients) {
        m.to(list).map_err(bad)?;
    }
    for list in &opts.cc {
        m.cc(list).map_err(bad)?;
    }
    for list in &opts.bcc {
        m.bcc(list).map_err(bad)?;
    }
    if opts.to.is_empty() && opts.recipients.is_empty() && opts.cc.is_empty() && opts.bcc.is_empty()
    {
        return Err(Failure::usage(
            "no recipient: give --to, --cc or --bcc (or addresses as arguments)",
        ));
    }
    for list in &opts.reply_to {
        m.reply_to(list).map_err(bad)?;
    }
    if let Some(subject) = &opts.subject {
        m.subject(subject).map_err(bad)?;
    }
    for header in &opts.headers {
        let (name, value) = header.split_once(':').ok_or_else(|| {
            Failure::usage(format!(
                "--header {:?}: expected \"Name: value\"",
                one_line(header)
            ))
        })?;
        m.header(name.trim(), value.trim()).map_err(bad)?;
    }
    if let Some(envelope_from) = &opts.envelope_from {
        let address = crate::rawmsg::bare_address(envelope_from)?;
        m.envelope_from(&address).map_err(bad)?;
    }
    for path in &opts.attach {
        check_attachment(path)?;
    }
    let html = match &opts.html_file {
        Some(path) => Some(read_text(path, "--html-file")?),
        None => None,
    };
    let text = match (&opts.body, &opts.body_file) {
        (Some(body), _) => Some(body.clone()),
        (None, Some(path)) => Some(read_text(path, "--body-file")?),
        // Nothing else given: the text comes from standard input, like mail(1).
        (None, None) if html.is_none() => Some(read_text(Path::new("-"), "standard input")?),
        (None, None) => None,
    };
    if let Some(text) = &text {
        m.text(text);
    }
    if let Some(html) = &html {
        m.html(html);
    }
    for path in &opts.attach {
        // Readable (checked above); what can still fail is the file name.
        m.attach_file(path).map_err(bad)?;
    }
    Ok(m)
}
