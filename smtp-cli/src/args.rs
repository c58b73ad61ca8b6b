//! Command-line parsing: sendmail's single-letter flags (getopt style,
//! bundled or not: `-ti`, `-f addr`, `-faddr`, `-oi`), GNU-style long
//! options (`--to X`, `--to=X`), recipients anywhere, `--` to end options.

use std::path::PathBuf;

use crate::exit::Failure;
use crate::settings::Layer;

/// What the command was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read a message on standard input and send it (sendmail).
    Sendmail,
    /// Compose a message from `--to`, `--subject`, `--body-file`... and send it.
    Direct,
    /// Connect, print what the server offers, send nothing.
    ServerInfo,
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
    /// `-q` / `-qf` / `--flush`: deliver the queue's due messages (`all`:
    /// every message not held) and exit.
    QueueRun {
        /// Every message, due or not.
        all: bool,
    },
    /// `-bp`: list the queue (`--json`: as JSON).
    QueueList,
    /// `--queue-runner`: stay in the foreground, delivering what becomes due.
    QueueRunner,
}

/// Everything the command line says.
#[derive(Default)]
pub struct Options {
    /// `-t`: recipients from the To, Cc and Bcc headers.
    pub extract_recipients: bool,
    /// `-i` / `-oi`: a line with a single dot does not end the input.
    pub ignore_dots: bool,
    /// `-f` / `-r`: the envelope sender.
    pub envelope_from: Option<String>,
    /// `-F`: the full name used when a From header is added.
    pub full_name: Option<String>,
    /// `-v` / `--verbose`: the SMTP dialogue on stderr.
    pub verbose: bool,
    /// Recipients given as arguments.
    pub recipients: Vec<String>,
    /// Sendmail flags accepted and ignored (shown with `-v`).
    pub ignored: Vec<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--config`: the per-user configuration file to read instead of the default one.
    pub config_file: Option<PathBuf>,
    /// Connection settings given on the command line (the last layer).
    pub settings: Layer,
    /// `--serverinfo`.
    pub serverinfo: bool,
    /// `--help`.
    pub help: bool,
    /// `--version`.
    pub version: bool,
    /// `-q` (`Some(false)`), `-qf` or `--flush` (`Some(true)`).
    pub queue_run: Option<bool>,
    /// `-bp`.
    pub list_queue: bool,
    /// `--json` (with `-bp`).
    pub json: bool,
    /// `--queue-runner`.
    pub queue_runner: bool,
    /// Direct mode: `--to`.
    pub to: Vec<String>,
    /// Direct mode: `--cc`.
    pub cc: Vec<String>,
    /// Direct mode: `--bcc`.
    pub bcc: Vec<String>,
    /// Direct mode: `--reply-to`.
    pub reply_to: Vec<String>,
    /// Direct mode: `--subject`.
    pub subject: Option<String>,
    /// Direct mode: `--body`.
    pub body: Option<String>,
    /// Direct mode: `--body-file` (`-` is standard input).
    pub body_file: Option<PathBuf>,
    /// Direct mode: `--html-file`.
    pub html_file: Option<PathBuf>,
    /// Direct mode: `--attach` (repeatable).
    pub attach: Vec<PathBuf>,
    /// Direct mode: `--header "Name: value"` (repeatable).
    pub headers: Vec<String>,
    /// `-V`: the envelope identifier notifications carry back (`-N` and
    /// `-R` are the `dsn_notify` and `dsn_return` settings).
    pub envelope_id: Option<String>,
}

impl Options {
    /// True when a direct-mode option was given.
    fn has_direct_options(&self) -> bool {
        !self.to.is_empty()
            || !self.cc.is_empty()
            || !self.bcc.is_empty()
            || !self.reply_to.is_empty()
            || self.subject.is_some()
            || self.body.is_some()
            || self.body_file.is_some()
            || self.html_file.is_some()
            || !self.attach.is_empty()
            || !self.headers.is_empty()
    }

    /// The mode the options ask for, or a usage error when they conflict.
    pub fn mode(&self) -> Result<Mode, Failure> {
        if self.help {
            return Ok(Mode::Help);
        }
        if self.version {
            return Ok(Mode::Version);
        }
        let direct = self.has_direct_options();
        if let Some(mode) = self.queue_mode()? {
            if direct || !self.recipients.is_empty() || self.extract_recipients || self.serverinfo {
                return Err(Failure::usage(
                    "-q, -bp and --queue-runner send no new message: they take no recipients and no message options",
                ));
            }
            return Ok(mode);
        }
        if self.serverinfo {
            if direct || !self.recipients.is_empty() || self.extract_recipients {
                return Err(Failure::usage(
                    "--serverinfo sends nothing: it takes no recipients and no message options",
                ));
            }
            return Ok(Mode::ServerInfo);
        }
        if direct {
            if self.extract_recipients {
                return Err(Failure::usage(
                    "-t reads a message from standard input; it cannot be combined with --to, --subject, --body...",
                ));
            }
            if self.body.is_some() && self.body_file.is_some() {
                return Err(Failure::usage("give --body or --body-file, not both"));
            }
            return Ok(Mode::Direct);
        }
        Ok(Mode::Sendmail)
    }
}

impl Options {
    /// The queue mode asked for, if any; a usage error for two of them.
    fn queue_mode(&self) -> Result<Option<Mode>, Failure> {
        let mut modes = Vec::new();
        if let Some(all) = self.queue_run {
            modes.push(Mode::QueueRun { all });
        }
        if self.list_queue {
            modes.push(Mode::QueueList);
        }
        if self.queue_runner {
            modes.push(Mode::QueueRunner);
        }
        if modes.len() > 1 {
            return Err(Failure::usage(
                "give one of -q (or -qf, --flush), -bp and --queue-runner",
            ));
        }
        if self.json && !self.list_queue {
            return Err(Failure::usage("--json goes with -bp (list the queue)"));
        }
        Ok(modes.pop())
    }
}

/// Long options: name and whether it takes a value.
const LONG: &[(&str, bool)] = &[
    ("help", false),
    ("version", false),
    ("serverinfo", false),
    ("verbose", false),
    ("flush", false),
    ("queue-runner", false),
    ("json", false),
    ("queue", true),
    ("queue-dir", true),
    ("account", true),
    ("config", true),
    ("url", true),
    ("user", true),
    ("password-command", true),
    ("token-command", true),
    ("ca-file", true),
    ("security", true),
    ("auth", true),
    ("from", true),
    ("client-name", true),
    ("timeout", true),
    ("log-file", true),
    ("long-lines", true),
    ("to", true),
    ("cc", true),
    ("bcc", true),
    ("reply-to", true),
    ("subject", true),
    ("body", true),
    ("body-file", true),
    ("html-file", true),
    ("attach", true),
    ("header", true),
];

/// Sendmail flags without an argument.
const SHORT_FLAGS: &str = "tivnUGm";
/// Sendmail flags with an argument (attached or the next word).
const SHORT_WITH_ARG: &str = "frFBNRVXLhOobACd";

/// Parses the arguments (without the program name).
pub fn parse<I>(args: I) -> Result<Options, Failure>
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    let mut words = Vec::new();
    for arg in args {
        match arg.into_string() {
            Ok(s) => words.push(s),
            Err(_) => return Err(Failure::usage("an argument is not valid UTF-8")),
        }
    }
    let mut opts = Options::default();
    let mut i = 0;
    let mut options_ended = false;
    while i < words.len() {
        let word = words[i].clone();
        i += 1;
        if options_ended || word == "-" || !word.starts_with('-') {
            if word == "-" && !options_ended {
                return Err(Failure::usage(
                    "unexpected argument \"-\" (the message is always read from standard input)",
                ));
            }
            opts.recipients.push(word);
            continue;
        }
        if word == "--" {
            options_ended = true;
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let takes_value = LONG
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    Failure::usage(format!("unknown option --{name} (see smtp-send --help)"))
                })?;
            let value = if takes_value {
                match inline {
                    Some(v) => Some(v),
                    None if i < words.len() => {
                        i += 1;
                        Some(words[i - 1].clone())
                    }
                    None => {
                        return Err(Failure::usage(format!("option --{name} needs a value")));
                    }
                }
            } else {
                if inline.is_some() {
                    return Err(Failure::usage(format!("option --{name} takes no value")));
                }
                None
            };
            long_option(&mut opts, name, value.unwrap_or_default())?;
            continue;
        }
        // Sendmail flags, getopt style.
        let body = &word[1..];
        for (pos, c) in body.char_indices() {
            if c == 'q' {
                // Its value is attached or absent, never the next word.
                queue_flag(&mut opts, &body[pos + 1..])?;
                break;
            }
            if SHORT_FLAGS.contains(c) {
                short_flag(&mut opts, c);
                continue;
            }
            if !SHORT_WITH_ARG.contains(c) {
                return Err(Failure::usage(format!(
                    "unknown option -{c} (see smtp-send --help)"
                )));
            }
            let rest = &body[pos + c.len_utf8()..];
            let value = if !rest.is_empty() {
                rest.to_string()
            } else if i < words.len() {
                i += 1;
                words[i - 1].clone()
            } else {
                return Err(Failure::usage(format!("option -{c} needs a value")));
            };
            short_with_arg(&mut opts, c, value)?;
            break;
        }
    }
    Ok(opts)
}

fn short_flag(opts: &mut Options, c: char) {
    match c {
        't' => opts.extract_recipients = true,
        'i' => opts.ignore_dots = true,
        'v' => opts.verbose = true,
        // -n (no aliasing), -U (initial submission), -G (gateway), -m (me too).
        _ => opts.ignored.push(format!("-{c}")),
    }
}

fn short_with_arg(opts: &mut Options, c: char, value: String) -> Result<(), Failure> {
    match c {
        'f' | 'r' => opts.envelope_from = Some(value),
        'F' => opts.full_name = Some(value),
        'o' => sendmail_o_option(opts, &value)?,
        'b' => match value.as_str() {
            "m" => {}
            "p" => opts.list_queue = true,
            other => {
                return Err(Failure::usage(format!(
                    "-b{other} is not supported: smtp-send delivers a message (-bm) or lists its queue (-bp)"
                )))
            }
        },
        'B' => {
            if !matches!(value.to_ascii_uppercase().as_str(), "7BIT" | "8BITMIME") {
                return Err(Failure::usage(format!(
                    "-B takes 7BIT or 8BITMIME, not {value:?}"
                )));
            }
            opts.ignored.push(format!("-B {value}"));
        }
        'A' => {
            if !matches!(value.as_str(), "m" | "c") {
                return Err(Failure::usage(format!("-A takes m or c, not {value:?}")));
            }
            opts.ignored.push(format!("-A{value}"));
        }
        'N' => opts
            .settings
            .set("dsn_notify", &value)
            .map_err(|e| Failure::usage(format!("-N: {e}")))?,
        'R' => opts
            .settings
            .set("dsn_return", &value)
            .map_err(|e| Failure::usage(format!("-R: {e}")))?,
        'V' => {
            smtp_core::Message::new()
                .envelope_id(&value)
                .map_err(|e| Failure::usage(format!("-V: {e}")))?;
            opts.envelope_id = Some(value);
        }
        // -X traffic log, -L tag, -h hops, -O option=value.
        'X' | 'L' | 'h' | 'O' => opts.ignored.push(format!("-{c} {value}")),
        'C' => {
            return Err(Failure::usage(
                "-C (a sendmail.cf file) is not supported; use --config FILE",
            ))
        }
        _ => return Err(Failure::usage(format!("-{c} (debugging) is not supported"))),
    }
    Ok(())
}

/// `-q` (deliver what is due) and `-qf` (everything); sendmail's other
/// queue flags (an interval, `-qI`, `-qR`, `-qS`...) are refused.
fn queue_flag(opts: &mut Options, value: &str) -> Result<(), Failure> {
    opts.queue_run = Some(match value {
        "" => false,
        "f" => true,
        other => {
            return Err(Failure::usage(format!(
                "-q{other} is not supported: use -q (deliver what is due), -qf (everything) or --queue-runner (stay and deliver)"
            )))
        }
    });
    Ok(())
}

/// `-oX...`: `-oi` is `-i`; delivery mode (`-od*`), error mode (`-oe*`),
/// `-om`, `-oQ*`, `-oL*` are accepted and ignored.
fn sendmail_o_option(opts: &mut Options, value: &str) -> Result<(), Failure> {
    match value.chars().next() {
        Some('i') if value == "i" => opts.ignore_dots = true,
        Some('d' | 'e' | 'Q' | 'L') => opts.ignored.push(format!("-o{value}")),
        Some('m') if value == "m" => opts.ignored.push("-om".into()),
        _ => {
            return Err(Failure::usage(format!(
                "unsupported option -o{value} (accepted: -oi, -od*, -oe*, -om, -oQ*, -oL*)"
            )))
        }
    }
    Ok(())
}

fn long_option(opts: &mut Options, name: &str, value: String) -> Result<(), Failure> {
    let setting = |opts: &mut Options, key: &str, value: &str| {
        opts.settings
            .set(key, value)
            .map_err(|e| Failure::usage(format!("--{name}: {e}")))
    };
    match name {
        "help" => opts.help = true,
        "version" => opts.version = true,
        "serverinfo" => opts.serverinfo = true,
        "verbose" => opts.verbose = true,
        "flush" => opts.queue_run = Some(true),
        "queue-runner" => opts.queue_runner = true,
        "json" => opts.json = true,
        "queue" => setting(opts, "queue", &value)?,
        "queue-dir" => setting(opts, "queue_dir", &value)?,
        "account" => opts.account = Some(value),
        "config" => opts.config_file = Some(PathBuf::from(value)),
        "url" => setting(opts, "url", &value)?,
        "user" => setting(opts, "user", &value)?,
        "password-command" => setting(opts, "password_command", &value)?,
        "token-command" => setting(opts, "token_command", &value)?,
        "ca-file" => setting(opts, "ca_file", &value)?,
        "security" => setting(opts, "security", &value)?,
        "auth" => setting(opts, "auth", &value)?,
        "from" => setting(opts, "from", &value)?,
        "client-name" => setting(opts, "client_name", &value)?,
        "timeout" => setting(opts, "timeout", &value)?,
        "log-file" => setting(opts, "log_file", &value)?,
        "long-lines" => setting(opts, "long_lines", &value)?,
        "to" => opts.to.push(value),
        "cc" => opts.cc.push(value),
        "bcc" => opts.bcc.push(value),
        "reply-to" => opts.reply_to.push(value),
        "subject" => opts.subject = Some(value),
        "body" => opts.body = Some(value),
        "body-file" => opts.body_file = Some(PathBuf::from(value)),
        "html-file" => opts.html_file = Some(PathBuf::from(value)),
        "attach" => opts.attach.push(PathBuf::from(value)),
        "header" => opts.headers.push(value),
        _ => return Err(Failure::usage(format!("unknown option --{name}"))),
    }
    Ok(())
}

/// The names of every long option (for the help test).
#[cfg(test)]
pub fn long_option_names() -> impl Iterator<Item = &'static str> {
    LONG.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    fn p(args: &[&str]) -> Result<Options, Failure> {
        parse(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn sendmail_flags() {
        let o = p(&["-t", "-i", "-fme@x.example", "-F", "Me Too", "a@y.example"]).unwrap();
        assert!(o.extract_recipients && o.ignore_dots);
        assert_eq!(o.envelope_from.as_deref(), Some("me@x.example"));
        assert_eq!(o.full_name.as_deref(), Some("Me Too"));
        assert_eq!(o.recipients, ["a@y.example"]);
        assert_eq!(o.mode().unwrap(), Mode::Sendmail);

        let o = p(&["-ti", "-f", "s@x.example"]).unwrap();
        assert!(o.extract_recipients && o.ignore_dots);
        assert_eq!(o.envelope_from.as_deref(), Some("s@x.example"));

        let o = p(&[
            "-oi",
            "-odi",
            "-oem",
            "-om",
            "-B8BITMIME",
            "-FCronDaemon",
            "root",
        ])
        .unwrap();
        assert!(o.ignore_dots);
        assert_eq!(o.full_name.as_deref(), Some("CronDaemon"));
        assert_eq!(o.ignored, ["-odi", "-oem", "-om", "-B 8BITMIME"]);

        let o = p(&["-tf", "a@b.example", "--", "-odd@x.example"]).unwrap();
        assert_eq!(o.envelope_from.as_deref(), Some("a@b.example"));
        assert_eq!(o.recipients, ["-odd@x.example"]);

        let o = p(&[
            "-N",
            "never",
            "-R",
            "hdrs",
            "-Am",
            "-bm",
            "-v",
            "-X",
            "/dev/null",
        ])
        .unwrap();
        assert!(o.verbose);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for bad in [
            &["-x"][..],
            &["-f"],
            &["-bs"],
            &["-oZ"],
            &["-q15m"],
            &["-qR", "x"],
            &["-q", "a@x.example"],
            &["-bp", "-q"],
            &["--queue-runner", "--flush"],
            &["--json"],
            &["--queue=later"],
            &["-C", "/etc/mail/sendmail.cf"],
            &["--nope"],
            &["--to"],
            &["--help=yes"],
            &["-B", "9BIT"],
            &["-"],
        ] {
            let err = p(bad)
                .and_then(|o| o.mode())
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(err.exit, Exit::Usage, "{bad:?}");
        }
    }

    #[test]
    fn queue_flags_and_modes() {
        let mode = |args: &[&str]| p(args).unwrap().mode().unwrap();
        assert_eq!(mode(&["-q"]), Mode::QueueRun { all: false });
        assert_eq!(mode(&["-qf"]), Mode::QueueRun { all: true });
        assert_eq!(mode(&["--flush", "-v"]), Mode::QueueRun { all: true });
        // -q takes no next word: -v stays a flag.
        let o = p(&["-q", "-v"]).unwrap();
        assert!(o.verbose);
        assert_eq!(mode(&["-bp"]), Mode::QueueList);
        assert_eq!(mode(&["-bp", "--json"]), Mode::QueueList);
        assert_eq!(mode(&["--queue-runner"]), Mode::QueueRunner);
        let o = p(&["--queue=always", "--queue-dir", "/q", "a@x.example"]).unwrap();
        assert_eq!(o.mode().unwrap(), Mode::Sendmail);
        let s = o.settings.settings().unwrap();
        assert_eq!(s.queue, crate::settings::QueueMode::Always);
        assert_eq!(s.queue_dir.as_deref(), Some(std::path::Path::new("/q")));
    }

    #[test]
    fn help_documents_every_option_and_key() {
        let help = crate::help::help();
        for name in long_option_names() {
            assert!(help.contains(&format!("--{name}")), "--{name}");
        }
        for key in crate::settings::key_names() {
            assert!(help.contains(key), "{key}");
        }
        for flag in [
            "-t",
            "-i",
            "-oi",
            "-f ADDR",
            "-F NAME",
            "-v",
            "-oem",
            "-odi",
            "-B",
            "-q ",
            "-qf",
            "-bp",
            "--json",
            "--queue=MODE",
            "--queue-dir=DIR",
        ] {
            assert!(crate::help::HELP.contains(flag), "{flag}");
        }
    }

    #[test]
    fn long_options_and_modes() {
        let o = p(&[
            "--to=a@x.example",
            "--subject",
            "S",
            "--body-file",
            "f.txt",
            "--attach",
            "a.pdf",
            "--attach=b.pdf",
            "--url",
            "smtp://h.example:2525",
        ])
        .unwrap();
        assert_eq!(o.mode().unwrap(), Mode::Direct);
        assert_eq!(o.attach.len(), 2);
        let s = o.settings.settings().unwrap();
        assert_eq!(s.config.host(), "h.example");
        assert_eq!(s.config.port(), 2525);

        assert_eq!(
            p(&["--serverinfo"]).unwrap().mode().unwrap(),
            Mode::ServerInfo
        );
        assert!(p(&["--serverinfo", "a@x.example"]).unwrap().mode().is_err());
        assert!(p(&["--to", "a@x.example", "-t"]).unwrap().mode().is_err());
        assert_eq!(p(&["--help", "-x"]).err().unwrap().exit, Exit::Usage);
        assert_eq!(p(&["-x", "--help"]).err().unwrap().exit, Exit::Usage);
        assert_eq!(p(&["--version"]).unwrap().mode().unwrap(), Mode::Version);
        assert_eq!(p(&["--security", "maybe"]).err().unwrap().exit, Exit::Usage);
        let o = p(&["--long-lines=refuse"]).unwrap();
        let s = o.settings.settings().unwrap();
        assert_eq!(s.config.long_lines(), smtp_core::LongLines::Refuse);
        let err = p(&["--long-lines", "fold"]).err().unwrap();
        assert_eq!(err.exit, Exit::Usage);
        assert!(
            err.message
                .starts_with("--long-lines: invalid long_lines: must be"),
            "{}",
            err.message
        );
    }
}
