//! Settings: the configuration files, the environment and the command
//! line, each layer overriding the one before, turned into a
//! [`smtp_core::Config`].
//!
//! File format (INI-like, UTF-8):
//!
//! ```text
//! # comment (also ';'); no comments after a value
//! default = work                 # account used without --account
//! from = Me <me@example.org>     # keys before any section apply to every account
//!
//! [account work]
//! url = smtp://me%40example.org@mail.example.org:587
//! password_command = pass show mail/work
//! ```

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use smtp_core::{Config, ConfigOption, RecipientPolicy};

use crate::exit::Failure;

mod file;

pub use file::ConfigFile;
use file::Entry;

/// The default system-wide configuration file.
pub const SYSTEM_CONFIG: &str = "/etc/smtp-send.conf";

/// The error when no server is configured anywhere.
pub const NO_SERVER: &str = "no server configured: set url in the configuration file, SMTP_URL, or --url (see smtp-send --help)";

/// The keys smtp-send adds to the library's options ([`smtp_core::OPTIONS`],
/// which a configuration file may hold too, under the same names).
pub const KEYS: &[&str] = &["from", "password_command", "log_file"];

/// Whether `key` may appear in a configuration file.
pub fn is_key(key: &str) -> bool {
    KEYS.contains(&key) || ConfigOption::named(key).is_some()
}

/// Every key's name, for messages and help.
pub fn key_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = smtp_core::OPTIONS.iter().map(|o| o.name).collect();
    names.extend_from_slice(KEYS);
    names
}

/// Settings as the layers have set them so far: the library's one
/// [`Config`] (every connection option, layered by applying each setting
/// in order) and what only smtp-send uses.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The connection: server, TLS, credentials, options.
    pub config: Config,
    /// The sender address (`Name <addr>` or `addr`).
    pub from: Option<String>,
    /// Log file.
    pub log_file: Option<PathBuf>,
    /// The command that prints the password, when the last layer to speak
    /// of the password gave a command rather than the password itself.
    pub password_command: Option<String>,
}

impl Settings {
    /// Sets one key: smtp-send's own ([`KEYS`]) or one of the library's
    /// options (`url`, `user`, `password`, `security`...), as a later
    /// layer does: the new value replaces what earlier ones said.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "from" => {
                smtp_core::Mailbox::parse(value)
                    .map_err(|e| format!("from: {}", crate::exit::one_line(&e.to_string())))?;
                self.from = Some(value.to_string());
            }
            "log_file" => {
                if value.is_empty() {
                    return Err("log_file is empty".into());
                }
                self.log_file = Some(PathBuf::from(value));
            }
            "password_command" => {
                if value.trim().is_empty() {
                    return Err("password_command is empty".into());
                }
                self.password_command = Some(value.to_string());
            }
            _ => {
                // A URL or password given here replaces a command given before.
                let replaces_command = match key {
                    "password" => true,
                    "url" => Config::from_url(value).is_ok_and(|c| c.has_secret()),
                    _ => false,
                };
                self.config.set(key, value).map_err(|e| e.to_string())?;
                if replaces_command {
                    self.password_command = None;
                }
            }
        }
        Ok(())
    }

    /// Whether a server is configured.
    pub fn has_server(&self) -> bool {
        !self.config.host().is_empty()
    }

    /// `host:port` of the configured server.
    pub fn server(&self) -> Option<String> {
        self.has_server().then(|| {
            let (host, port) = (self.config.host(), self.config.port());
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        })
    }

    /// Applies `key = value` lines, the `url` first so that the other keys
    /// of the same section override what it says.
    fn apply_entries(&mut self, entries: &[Entry], path: &Path) -> Result<(), Failure> {
        if entries.iter().any(|e| e.key == "password")
            && entries.iter().any(|e| e.key == "password_command")
        {
            return Err(Failure::config(format!(
                "{}: a section has both password and password_command",
                path.display()
            )));
        }
        let urls = entries.iter().filter(|e| e.key == "url");
        let others = entries.iter().filter(|e| e.key != "url");
        for entry in urls.chain(others) {
            self.set(&entry.key, &entry.value)
                .map_err(|e| Failure::config(format!("{}:{}: {e}", path.display(), entry.line)))?;
        }
        Ok(())
    }
}

/// The settings given on the command line, kept in order until the
/// layers before them are applied.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    entries: Vec<(String, String)>,
}

impl Layer {
    /// Adds a setting, checked now so that a bad value is a usage error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        Settings::default().set(key, value)?;
        self.entries.push((key.to_string(), value.to_string()));
        Ok(())
    }

    /// Applies the settings in the order given.
    pub fn apply(&self, settings: &mut Settings) -> Result<(), Failure> {
        for (key, value) in &self.entries {
            settings.set(key, value).map_err(Failure::usage)?;
        }
        Ok(())
    }

    /// These settings alone.
    #[cfg(test)]
    pub fn settings(&self) -> Result<Settings, Failure> {
        let mut settings = Settings::default();
        self.apply(&mut settings)?;
        Ok(settings)
    }
}

/// Everything the environment says, as read once.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    /// `SMTP_URL`.
    pub url: Option<String>,
    /// `SMTP_USER`.
    pub user: Option<String>,
    /// `SMTP_PASSWORD`.
    pub password: Option<String>,
    /// `SMTP_CA_FILE`.
    pub ca_file: Option<String>,
    /// `SMTP_FROM`.
    pub from: Option<String>,
    /// `SMTP_SEND_CONFIG`.
    pub config: Option<String>,
    /// `SMTP_SEND_SYSTEM_CONFIG`.
    pub system_config: Option<String>,
    /// `XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<String>,
    /// `HOME`.
    pub home: Option<String>,
}

impl Environment {
    /// Reads the variables (empty ones count as unset, except
    /// `SMTP_SEND_SYSTEM_CONFIG`, where empty means "no system file").
    pub fn from_process() -> Environment {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Environment {
            url: var("SMTP_URL"),
            user: var("SMTP_USER"),
            password: var("SMTP_PASSWORD"),
            ca_file: var("SMTP_CA_FILE"),
            from: var("SMTP_FROM"),
            config: var("SMTP_SEND_CONFIG"),
            system_config: std::env::var("SMTP_SEND_SYSTEM_CONFIG").ok(),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            home: var("HOME"),
        }
    }

    fn apply(&self, s: &mut Settings) -> Result<(), Failure> {
        let mut set = |key: &str, value: &Option<String>, var: &str| match value {
            Some(v) => s
                .set(key, v)
                .map_err(|e| Failure::config(format!("{var}: {e}"))),
            None => Ok(()),
        };
        set("url", &self.url, "SMTP_URL")?;
        set("user", &self.user, "SMTP_USER")?;
        set("password", &self.password, "SMTP_PASSWORD")?;
        set("ca_file", &self.ca_file, "SMTP_CA_FILE")?;
        set("from", &self.from, "SMTP_FROM")?;
        Ok(())
    }
}

/// The outcome of reading every layer.
#[derive(Debug)]
pub struct Loaded {
    /// The merged settings.
    pub settings: Settings,
    /// The account used, if any.
    pub account: Option<String>,
    /// Warnings to print (permissions).
    pub warnings: Vec<String>,
}

/// Reads a configuration file. `Ok(None)` when it does not exist and
/// `required` is false.
fn read_file(path: &Path, required: bool) -> Result<Option<(ConfigFile, u32)>, Failure> {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| Failure::config(format!("{}: not valid UTF-8", path.display())))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(Failure::config(format!(
                "cannot read configuration file {}: {e}",
                path.display()
            )))
        }
    };
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode())
        .unwrap_or(0o600);
    Ok(Some((ConfigFile::parse(&text, path)?, mode)))
}

/// Reads the system file, the per-user file, the environment and the
/// command-line layer, in that order.
pub fn load(
    env: &Environment,
    config_option: Option<&Path>,
    account_option: Option<&str>,
    command_line: &Layer,
) -> Result<Loaded, Failure> {
    let system: Option<PathBuf> = match &env.system_config {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => Some(PathBuf::from(SYSTEM_CONFIG)),
    };
    let (user, user_required): (Option<PathBuf>, bool) = if let Some(p) = config_option {
        (Some(p.to_path_buf()), true)
    } else if let Some(p) = &env.config {
        (Some(PathBuf::from(p)), true)
    } else if let Some(xdg) = &env.xdg_config_home {
        (Some(Path::new(xdg).join("smtp-send/config")), false)
    } else {
        (
            env.home
                .as_ref()
                .map(|h| Path::new(h).join(".config/smtp-send/config")),
            false,
        )
    };
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    if let Some(path) = system {
        if let Some((file, mode)) = read_file(&path, false)? {
            // A system-wide file is shared through its group (e.g. root:mail 0640).
            if file.has_password && mode & 0o004 != 0 {
                warnings.push(permission_warning(&path, "0640"));
            }
            files.push(file);
        }
    }
    if let Some(path) = user {
        if let Some((file, mode)) = read_file(&path, user_required)? {
            if file.has_password && mode & 0o044 != 0 {
                warnings.push(permission_warning(&path, "0600"));
            }
            files.push(file);
        }
    }
    let account = match account_option {
        Some(a) => Some(a.to_string()),
        None => files.iter().rev().find_map(|f| f.default.clone()),
    };
    if let Some(name) = &account {
        if !files.iter().any(|f| f.has_account(name)) {
            let read: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
            return Err(Failure::config(if read.is_empty() {
                format!("account {name:?} not found: no configuration file was read")
            } else {
                format!("account {name:?} not found in {}", read.join(", "))
            }));
        }
    }
    let mut settings = Settings::default();
    for file in &files {
        file.apply(&mut settings, account.as_deref())?;
    }
    env.apply(&mut settings)?;
    command_line.apply(&mut settings)?;
    Ok(Loaded {
        settings,
        account,
        warnings,
    })
}

fn permission_warning(path: &Path, mode: &str) -> String {
    format!(
        "warning: {} contains a password and can be read by other users; chmod {mode} it, or use password_command",
        path.display()
    )
}

/// Runs a password command with `/bin/sh -c`: its first line of output,
/// without the line ending, is the password.
pub fn run_password_command(command: &str) -> Result<String, Failure> {
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::config(format!("password_command could not be started: {e}")))?;
    if !output.status.success() {
        return Err(Failure::config(format!(
            "password_command failed ({})",
            output.status
        )));
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| Failure::config("password_command printed something that is not UTF-8"))?;
    let first = text.split('\n').next().unwrap_or("");
    let first = first.strip_suffix('\r').unwrap_or(first);
    if first.is_empty() {
        return Err(Failure::config("password_command printed no password"));
    }
    Ok(first.to_string())
}

/// What to build: with the password (to send) or without (`--serverinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Authenticate if a user is configured.
    Send,
    /// Never authenticate (the TLS mode is still the one sending would use).
    Inspect,
}

/// The library configuration for `purpose`: the password command run
/// (for sending only), every setting checked.
pub fn build_config(settings: &Settings, purpose: Purpose) -> Result<Config, Failure> {
    if !settings.has_server() {
        return Err(Failure::config(NO_SERVER));
    }
    let mut config = settings
        .config
        .clone()
        .with_recipient_policy(RecipientPolicy::AllOrNothing);
    match purpose {
        Purpose::Inspect => {
            // Keep the TLS mode that sending with credentials would use.
            let mode = config.security();
            config = config.with_security(mode).without_credentials();
        }
        Purpose::Send => {
            if let Some(command) = &settings.password_command {
                let password = zeroize::Zeroizing::new(run_password_command(command)?);
                config
                    .set("password", &password)
                    .map_err(|e| Failure::config(e.to_string()))?;
            }
        }
    }
    config.check().map_err(|e| {
        let message = e.to_string();
        Failure::config(match &e {
            smtp_core::Error::InvalidInput {
                field: "password", ..
            } => format!("{message}: set password or password_command, or SMTP_PASSWORD"),
            smtp_core::Error::InvalidInput { field: "user", .. } => {
                format!("{message} (or put it in the url)")
            }
            _ => message,
        })
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;
    use smtp_core::{LongLines, Mechanism, Security};
    use std::time::Duration;

    /// The secret a configuration holds, for checks.
    fn secret(config: &Config) -> Option<String> {
        config.credentials().map(|c| match c.secret() {
            smtp_core::Secret::Password(p) | smtp_core::Secret::BearerToken(p) => {
                p.as_str().to_string()
            }
        })
    }

    #[test]
    fn url_is_taken_apart() {
        let mut s = Settings::default();
        s.set(
            "url",
            "smtps://us%40er:p%3Ass@mail.example.org?auth=plain&timeout=7&ca_file=%2Fca.pem",
        )
        .unwrap();
        let c = &s.config;
        assert_eq!(c.host(), "mail.example.org");
        assert_eq!(c.port(), 465);
        assert_eq!(c.security(), Security::Implicit);
        assert_eq!(c.credentials().unwrap().username(), "us@er");
        assert_eq!(secret(c).as_deref(), Some("p:ss"));
        assert_eq!(c.mechanism(), Some(Mechanism::Plain));
        assert_eq!(c.timeouts().greeting, Duration::from_secs(7));
        assert!(format!("{c:?}").contains("/ca.pem"));
        assert!(!format!("{s:?}").contains("p:ss"));

        let mut s = Settings::default();
        s.set("url", "smtp://bob@h.example").unwrap();
        assert_eq!(s.config.port(), 587);
        assert!(!s.config.has_secret());
        assert!(s.set("url", "http://x").is_err());
        assert!(s.set("url", "smtp://h?security=maybe").is_err());
    }

    #[test]
    fn layers_override() {
        let mut merged = Settings::default();
        // The file's layer.
        merged.set("url", "smtps://u1:pw1@one.example").unwrap();
        merged.set("from", "A <a@one.example>").unwrap();
        // The environment's.
        merged.set("url", "smtp://two.example:2525").unwrap();
        merged.set("password", "pw2").unwrap();
        let c = &merged.config;
        assert_eq!(c.host(), "two.example");
        assert_eq!(c.port(), 2525);
        // smtp:// is automatic security: required STARTTLS with credentials.
        assert_eq!(c.security(), Security::StartTls);
        assert_eq!(c.credentials().unwrap().username(), "u1");
        assert_eq!(secret(c).as_deref(), Some("pw2"));
        // The command line's.
        merged.set("password_command", "echo pw3").unwrap();
        assert_eq!(merged.password_command.as_deref(), Some("echo pw3"));
        assert_eq!(merged.from.as_deref(), Some("A <a@one.example>"));
        let c = build_config(&merged, Purpose::Send).unwrap();
        assert_eq!(secret(&c).as_deref(), Some("pw3"));
        // A later password replaces the command.
        merged.set("password", "pw4").unwrap();
        assert_eq!(merged.password_command, None);
    }

    #[test]
    fn file_format() {
        let text = "# comment\n\
            ; another\n\
            default = work\n\
            from = Me <me@example.org>\n\
            \n\
            [account work]\n\
            user = me\n\
            url = smtp://mail.example.org:2525\n\
            password = \"  spaced # not a comment \\\" \"\n\
            [account other]\n\
            url = smtp://other.example\n";
        let file = ConfigFile::parse(text, Path::new("f")).unwrap();
        assert_eq!(file.default.as_deref(), Some("work"));
        assert!(file.has_password);
        let s = file.settings(Some("work")).unwrap();
        assert_eq!(s.config.host(), "mail.example.org");
        assert_eq!(s.config.credentials().unwrap().username(), "me");
        assert_eq!(
            secret(&s.config).as_deref(),
            Some("  spaced # not a comment \" ")
        );
        assert_eq!(s.from.as_deref(), Some("Me <me@example.org>"));
        let s = file.settings(Some("other")).unwrap();
        assert_eq!(s.config.host(), "other.example");
        assert!(s.config.credentials().is_none());
    }

    #[test]
    fn file_errors_name_the_line() {
        for (text, needle) in [
            ("[account]\n", "f:1:"),
            ("x\n", "f:1: expected key = value"),
            ("\n\nbogus = 1\n", "f:3: unknown key"),
            ("[account a]\ndefault = a\n", "f:2:"),
            ("[account a]\n[account a]\n", "defined twice"),
            ("[acount a]\n", "unknown section"),
            ("timeout = soon\n", "f:1: invalid timeout"),
            ("password = \"x\n", "unterminated"),
            ("pipelinig = off\n", "f:1: unknown key \"pipelinig\""),
        ] {
            let err = ConfigFile::parse(text, Path::new("f"))
                .and_then(|f| f.settings(None))
                .err()
                .unwrap_or_else(|| panic!("{text:?} accepted"));
            assert_eq!(err.exit, Exit::Config);
            assert!(err.message.contains(needle), "{text:?}: {}", err.message);
        }
    }

    #[test]
    fn url_options_are_honoured_or_refused() {
        let build = |url: &str| {
            let mut s = Settings::default();
            s.set("url", url)?;
            build_config(&s, Purpose::Inspect).map_err(|e| e.message)
        };
        let c = build("smtp://h.example").unwrap();
        assert!(c.pipelining() && c.chunking());
        let c = build("smtp://h.example?pipelining=off").unwrap();
        assert!(!c.pipelining() && c.chunking());
        let c = build("smtp://h.example?chunking=0").unwrap();
        assert!(c.pipelining() && !c.chunking());
        let c = build("smtp://h.example?pipelining=no&chunking=false").unwrap();
        assert!(!c.pipelining() && !c.chunking());
        let c = build("smtp://h.example?pipelining=on&chunking=1").unwrap();
        assert!(c.pipelining() && c.chunking());
        // Unknown keys and bad values: the library's words.
        let err = build("smtp://h.example?pipelinig=off").unwrap_err();
        assert!(
            err.starts_with(
                "invalid option: \"pipelinig\" is not an option; the options are url, host"
            ),
            "{err}"
        );
        let err = build("smtp://h.example?chunking=maybe").unwrap_err();
        assert!(err.starts_with("invalid chunking: "), "{err}");
        // A later layer's URL that says nothing leaves the option alone.
        let mut s = Settings::default();
        s.set("url", "smtp://h.example?chunking=off").unwrap();
        s.set("url", "smtp://other.example").unwrap();
        let c = build_config(&s, Purpose::Inspect).unwrap();
        assert!(!c.chunking() && c.host() == "other.example");
    }

    #[test]
    fn long_lines_from_url_file_and_layers() {
        let build = |s: &Settings| build_config(s, Purpose::Inspect).map_err(|e| e.message);
        let mut s = Settings::default();
        s.set("url", "smtp://h.example").unwrap();
        assert_eq!(build(&s).unwrap().long_lines(), LongLines::Repair);
        // The URL option, as the library parsed it.
        let mut s = Settings::default();
        s.set("url", "smtp://h.example?long_lines=refuse").unwrap();
        assert_eq!(s.config.long_lines(), LongLines::Refuse);
        assert_eq!(build(&s).unwrap().long_lines(), LongLines::Refuse);
        let mut s = Settings::default();
        s.set("url", "smtp://h.example?long_lines=Repair&chunking=off")
            .unwrap();
        assert_eq!(build(&s).unwrap().long_lines(), LongLines::Repair);
        let err = s
            .set("url", "smtp://h.example?long_lines=fold")
            .unwrap_err();
        assert!(err.starts_with("invalid long_lines: "), "{err}");
        // The configuration file key, overriding the section's url.
        let text = "long_lines = refuse\n\
            [account a]\n\
            url = smtp://a.example\n\
            [account b]\n\
            long_lines = repair\n\
            url = smtp://b.example?long_lines=refuse\n";
        let file = ConfigFile::parse(text, Path::new("f")).unwrap();
        let a = file.settings(Some("a")).unwrap();
        assert_eq!(build(&a).unwrap().long_lines(), LongLines::Refuse);
        let b = file.settings(Some("b")).unwrap();
        assert_eq!(build(&b).unwrap().long_lines(), LongLines::Repair);
        let err = ConfigFile::parse("\nlong_lines = fold\n", Path::new("f"))
            .and_then(|f| f.settings(None))
            .unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert!(
            err.message
                .contains("f:2: invalid long_lines: must be repair or refuse, not \"fold\""),
            "{}",
            err.message
        );
        // A later layer's URL without the option leaves it alone; a later
        // key overrides.
        let mut merged = a.clone();
        merged.set("url", "smtp://other.example").unwrap();
        assert_eq!(build(&merged).unwrap().long_lines(), LongLines::Refuse);
        merged.set("long_lines", "REPAIR").unwrap();
        assert_eq!(build(&merged).unwrap().long_lines(), LongLines::Repair);
    }

    #[test]
    fn config_building() {
        let mut s = Settings::default();
        assert_eq!(
            build_config(&s, Purpose::Send).unwrap_err().exit,
            Exit::Config
        );
        s.set("url", "smtp://u@h.example:25").unwrap();
        let err = build_config(&s, Purpose::Send).unwrap_err();
        assert!(err.message.contains("no password"), "{}", err.message);
        // Inspecting needs no password, and keeps the TLS mode of sending.
        let c = build_config(&s, Purpose::Inspect).unwrap();
        assert!(c.credentials().is_none());
        assert_eq!(c.security(), Security::StartTls);
        s.set("password_command", "printf 'sec ret\\r\\nsecond'")
            .unwrap();
        let c = build_config(&s, Purpose::Send).unwrap();
        assert_eq!(secret(&c).as_deref(), Some("sec ret"));
        s.set("password_command", "exit 3").unwrap();
        let err = build_config(&s, Purpose::Send).unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert!(err.message.contains("password_command failed"));
        // A password without a user.
        let mut s = Settings::default();
        s.set("url", "smtp://h.example").unwrap();
        s.set("password", "pw").unwrap();
        let err = build_config(&s, Purpose::Send).unwrap_err();
        assert!(err.message.contains("invalid user"), "{}", err.message);
    }

    #[test]
    fn system_then_user_then_environment_then_command_line() {
        let dir = std::env::temp_dir().join(format!("smtp-send-load-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str, mode: u32| {
            let path = dir.join(name);
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        let system = write(
            "system.conf",
            "default = a\nfrom = sys@x.example\n[account a]\nurl = smtp://sys.example\npassword = syspw\nuser = sysuser\n[account b]\nurl = smtp://b.example\n",
            0o640,
        );
        let user = write("user.conf", "[account a]\nuser = me\ntimeout = 9\n", 0o644);
        let env = Environment {
            system_config: Some(system.display().to_string()),
            config: Some(user.display().to_string()),
            password: Some("envpw".into()),
            ..Environment::default()
        };
        let mut cli = Layer::default();
        cli.set("timeout", "3").unwrap();
        let loaded = load(&env, None, None, &cli).unwrap();
        assert_eq!(loaded.account.as_deref(), Some("a"));
        let s = &loaded.settings;
        assert_eq!(s.config.host(), "sys.example");
        assert_eq!(s.config.credentials().unwrap().username(), "me");
        assert_eq!(secret(&s.config).as_deref(), Some("envpw"));
        assert_eq!(s.from.as_deref(), Some("sys@x.example"));
        assert_eq!(s.config.timeouts().greeting, Duration::from_secs(3));
        // Group-readable is fine for the system file; the user file holds no password.
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

        let loaded = load(&env, None, Some("b"), &Layer::default()).unwrap();
        assert_eq!(loaded.settings.config.host(), "b.example");
        // Only the environment's password: no user to go with it.
        assert!(loaded.settings.config.credentials().is_none());
        assert!(loaded.settings.config.has_secret());
        assert!(load(&env, None, Some("c"), &Layer::default()).is_err());

        fs::set_permissions(&system, fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load(&env, None, None, &Layer::default()).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("system.conf"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_library_option_is_a_file_key() {
        for option in smtp_core::OPTIONS {
            assert!(is_key(option.name), "{}", option.name);
            for alias in option.aliases {
                assert!(is_key(alias), "{alias}");
            }
        }
        for key in KEYS {
            assert!(is_key(key));
        }
        assert!(!is_key("pipelinig"));
        let text = "url = smtp://h.example\npipelining = off\nchunking = 0\nport = 2526\n";
        let s = ConfigFile::parse(text, Path::new("f"))
            .unwrap()
            .settings(None)
            .unwrap();
        assert!(!s.config.pipelining() && !s.config.chunking());
        assert_eq!(s.config.port(), 2526);
    }
}
