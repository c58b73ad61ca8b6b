//! `smtp-send`: a sendmail-compatible command over `smtp-core`.
//!
//! Programs that pipe a message into `sendmail` (PHP's `mail()`, cron,
//! CGI scripts) send authenticated mail through a submission server
//! without changing their code: point `sendmail_path` at `smtp-send -t -i`.
//! A direct mode composes a message from options, and `--serverinfo`
//! shows what a server offers. A durable outbox keeps a message the relay
//! cannot take now (`--queue`, `-q`, `-bp`, `--queue-runner`: see
//! `queue.rs`). `smtp-send --help` documents everything.

mod aliases;
mod args;
mod direct;
mod exit;
mod help;
mod log;
mod queue;
mod rawmsg;
mod serverinfo;
mod settings;
mod sys;
mod token;
mod x509;

use std::io::{self, Read};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use smtp_core::{Client, Config, EncodeOptions, Mailbox, RawMessage, SendReport};

use crate::queue::Sent;

use crate::args::{Mode, Options};
use crate::exit::{Exit, Failure, Stage};
use crate::settings::{Loaded, Purpose, Settings};

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("smtp-send: {}", failure.message);
            ExitCode::from(failure.exit.code())
        }
    }
}

/// Runs the command; the error is what to print and the exit status.
fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<(), Failure> {
    let opts = args::parse(args)?;
    let mode = opts.mode()?;
    match mode {
        Mode::Help => {
            print!("{}", help::help());
            return Ok(());
        }
        Mode::Version => {
            println!(
                "smtp-send {} (smtp-core {})",
                env!("CARGO_PKG_VERSION"),
                smtp_core::VERSION
            );
            return Ok(());
        }
        _ => {}
    }
    let env = settings::Environment::from_process();
    let loaded = settings::load(
        &env,
        opts.config_file.as_deref(),
        opts.account.as_deref(),
        &opts.settings,
    )?;
    for warning in &loaded.warnings {
        eprintln!("smtp-send: {warning}");
    }
    // DKIM key files other users can read (dkim_key).
    for warning in loaded
        .settings
        .config
        .dkim()
        .map(|d| d.warnings())
        .unwrap_or_default()
    {
        eprintln!("smtp-send: {warning}");
    }
    if opts.verbose {
        for flag in &opts.ignored {
            eprintln!("smtp-send: ignoring {flag}");
        }
    }
    let queue_dir = settings::queue_dir(&loaded.settings, &env);
    match mode {
        Mode::QueueList => return queue::list(&queue_dir, opts.json),
        Mode::QueueRun { all } => {
            return queue::run_queue(&loaded.settings, &queue_dir, opts.verbose, all)
        }
        Mode::QueueRunner => return queue::runner(&loaded.settings, &queue_dir, opts.verbose),
        _ => {}
    }
    if !loaded.settings.has_server() && loaded.settings.queue != settings::QueueMode::Always {
        // Checked before reading the message, so that nothing is read in vain.
        return Err(Failure::config(settings::NO_SERVER));
    }
    match mode {
        Mode::ServerInfo => serverinfo::run(&loaded.settings, opts.verbose),
        Mode::Direct => send_direct(&opts, &loaded),
        _ => send_stdin(&opts, &loaded, &queue_dir),
    }
}

/// Prints the SMTP dialogue on stderr (the library hides credentials).
pub(crate) fn with_transcript(config: Config) -> Config {
    config.with_transcript(|direction, line| eprintln!("{direction} {line}"))
}

/// `host:port` as the settings say, when a server is configured.
fn server_of(settings: &Settings) -> Option<String> {
    settings.server()
}

/// The configured `from` mailbox, if any.
fn configured_from(settings: &Settings) -> Result<Option<Mailbox>, Failure> {
    settings
        .from
        .as_deref()
        .map(|f| {
            Mailbox::parse(f).map_err(|e| Failure::config(format!("bad from address {f:?}: {e}")))
        })
        .transpose()
}

/// The author (From) mailbox. Sendmail mode: `-f`, else `from`, else
/// user@host; direct mode: `from`, else `-f`, else user@host. The name is
/// `-F`, else the name in `from` when its address is used.
fn author(
    opts: &Options,
    envelope_from: Option<&str>,
    configured: Option<&Mailbox>,
    mode: Mode,
) -> Result<Mailbox, Failure> {
    let envelope = match envelope_from {
        Some(f) => Some(rawmsg::bare_address(f)?).filter(|a| !a.is_empty()),
        None => None,
    };
    let mut mailbox = match (mode, envelope, configured) {
        (Mode::Direct, _, Some(c)) => c.clone(),
        (_, Some(address), _) => Mailbox {
            name: None,
            address,
        },
        (_, None, Some(c)) => c.clone(),
        (_, None, None) => Mailbox {
            name: None,
            address: sys::default_address(),
        },
    };
    if let Some(name) = &opts.full_name {
        mailbox.name = Some(name.clone());
    }
    Ok(mailbox)
}

/// Connects, runs `send`, says QUIT.
pub(crate) fn deliver(
    settings: &Settings,
    verbose: bool,
    send: impl FnOnce(&mut Client) -> smtp_core::Result<SendReport>,
) -> Result<SendReport, Failure> {
    let mut config = settings::build_config(settings, Purpose::Send)?;
    if verbose {
        config = with_transcript(config);
    }
    let server = server_of(settings).unwrap_or_default();
    let mut client =
        Client::connect(config).map_err(|e| Failure::smtp(&e, Stage::Connect, &server))?;
    let report = send(&mut client).map_err(|e| Failure::smtp(&e, Stage::Send, &server))?;
    // The message is accepted; a failing QUIT changes nothing.
    let _ = client.quit();
    Ok(report)
}

/// Writes the log line, when a log file is configured.
fn log_outcome(settings: &Settings, record: &log::Record, result: &Result<Sent, Failure>) {
    let Some(path) = &settings.log_file else {
        return;
    };
    let outcome = match result {
        Ok(Sent::Delivered(report)) => log::Outcome {
            exit: Exit::Ok,
            reply: Some(report.reply.to_string()),
            error: None,
            queued: None,
        },
        Ok(Sent::Queued { id, error, reply }) => log::Outcome {
            exit: Exit::Ok,
            reply: reply.clone(),
            error: error.clone(),
            queued: Some(id.to_string()),
        },
        Err(failure) => log::Outcome {
            exit: failure.exit,
            reply: failure.reply.clone(),
            error: Some(failure.message.clone()),
            queued: None,
        },
    };
    log::append(path, record, &outcome);
}

fn new_record(loaded: &Loaded) -> log::Record {
    log::Record {
        account: loaded.account.clone(),
        server: server_of(&loaded.settings),
        ..log::Record::default()
    }
}

/// Sendmail mode: the message streams from standard input (only its
/// header block is held), so its size does not matter.
fn send_stdin(
    opts: &Options,
    loaded: &Loaded,
    queue_dir: &Result<std::path::PathBuf, Failure>,
) -> Result<(), Failure> {
    let mut record = new_record(loaded);
    let result = send_raw(opts, &loaded.settings, queue_dir, &mut record);
    log_outcome(&loaded.settings, &record, &result);
    result.map(drop)
}

fn send_raw(
    opts: &Options,
    settings: &Settings,
    queue_dir: &Result<std::path::PathBuf, Failure>,
    record: &mut log::Record,
) -> Result<Sent, Failure> {
    if !opts.extract_recipients && opts.recipients.is_empty() {
        return Err(Failure::usage(
            "no recipient given: name recipients as arguments, or use -t to take them from the message",
        ));
    }
    let configured = configured_from(settings)?;
    let resolver = aliases::Resolver::new(
        settings.aliases.as_deref(),
        settings.default_domain.as_deref(),
    );
    let sender = match &opts.envelope_from {
        Some(f) => Some(rawmsg::qualified_sender(f, resolver.as_ref())?),
        None => None,
    };
    let envelope_from = match &sender {
        Some(f) => Some(f.clone()),
        None => configured.as_ref().map(|m| m.address.clone()),
    };
    let author = author(opts, sender.as_deref(), configured.as_ref(), Mode::Sendmail)?;
    let mut options = rawmsg::raw_options(
        envelope_from.as_deref(),
        &opts.recipients,
        opts.extract_recipients,
        author,
    )?;
    // Why a recipient without a domain could not be resolved, in full.
    let unresolved: Arc<Mutex<Option<Failure>>> = Arc::default();
    if let Some(resolver) = resolver {
        options = options.local_recipients(resolver.for_library(Arc::clone(&unresolved)));
    }
    let stdin = io::stdin().lock();
    let input: Box<dyn Read> = if opts.ignore_dots {
        Box::new(stdin)
    } else {
        Box::new(rawmsg::DotTerminated::new(stdin))
    };
    let message = RawMessage::read(rawmsg::Crlf::new(input), &options).map_err(|e| match &e {
        smtp_core::Error::BodyRead(io) => Failure::new(
            Exit::IoErr,
            format!("reading the message from standard input: {io}"),
        ),
        smtp_core::Error::InvalidInput {
            field: "local recipient",
            reason,
        } => unresolved
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| aliases::no_resolver(reason)),
        smtp_core::Error::InvalidInput {
            field: "recipients",
            ..
        } => Failure::data(
            "no recipient: the message has no To, Cc or Bcc address and none was given as an argument",
        ),
        _ => Failure::smtp(&e, Stage::Message, "bad message header"),
    })?;
    // -N and -R are in the configuration; -V is this message's.
    let mut message = match &opts.envelope_id {
        Some(id) => {
            let envelope = message
                .envelope()
                .clone()
                .with_envelope_id(id)
                .map_err(|e| Failure::smtp(&e, Stage::Message, "bad envelope id"))?;
            message.with_envelope(envelope)
        }
        None => message,
    };
    record.from = Some(message.envelope().from().to_string());
    record.to = message.envelope().to().to_vec();
    let result = queue::send(settings, queue_dir, opts.verbose, &mut message);
    if message.bytes_read() > 0 {
        record.size = Some(message.bytes_read());
    }
    result
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Direct mode.
fn send_direct(opts: &Options, loaded: &Loaded) -> Result<(), Failure> {
    let mut record = new_record(loaded);
    let result = compose_and_send(opts, &loaded.settings, &mut record).map(Sent::Delivered);
    log_outcome(&loaded.settings, &record, &result);
    result.map(drop)
}

fn compose_and_send(
    opts: &Options,
    settings: &Settings,
    record: &mut log::Record,
) -> Result<SendReport, Failure> {
    let configured = configured_from(settings)?;
    let author = author(
        opts,
        opts.envelope_from.as_deref(),
        configured.as_ref(),
        Mode::Direct,
    )?;
    let mut message = direct::compose(opts, &author)?;
    if let Some(id) = &opts.envelope_id {
        message
            .envelope_id(id)
            .map_err(|e| Failure::smtp(&e, Stage::Message, "bad envelope id"))?;
    }
    let everything = EncodeOptions {
        allow_8bit: true,
        smtputf8: true,
    };
    let preview = message
        .envelope(&everything)
        .map_err(|e| Failure::smtp(&e, Stage::Message, "bad address"))?;
    record.from = Some(preview.from().to_string());
    record.to = preview.to().to_vec();
    let mut size = 0;
    let result = deliver(settings, opts.verbose, |client| {
        let options = EncodeOptions::for_server(client.capabilities());
        let envelope = message.envelope(&options)?;
        // Signed as Client::send_message would (dkim_* settings).
        let reader = message.reader(&options)?;
        let reader = match settings.config.dkim() {
            Some(signer) => signer.sign_reader(reader)?,
            None => smtp_core::dkim::SignedReader::unsigned(reader),
        };
        let mut reader = Counting {
            inner: reader,
            count: 0,
        };
        let report = client.send(&envelope, &mut reader);
        size = reader.count;
        report
    });
    if size > 0 {
        record.size = Some(size);
    }
    result
}
