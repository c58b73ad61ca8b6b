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

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use smtp_core::{Config, LongLines, Mechanism, RecipientPolicy, Security, Timeouts};

use crate::exit::Failure;

mod file;

pub use file::ConfigFile;
use file::Entry;

/// The default system-wide configuration file.
pub const SYSTEM_CONFIG: &str = "/etc/smtp-send.conf";

/// The error when no server is configured anywhere.
pub const NO_SERVER: &str = "no server configured: set url in the configuration file, SMTP_URL, or --url (see smtp-send --help)";

/// Every key a configuration file may hold.
pub const KEYS: &[&str] = &[
    "url",
    "user",
    "password",
    "password_command",
    "from",
    "ca_file",
    "security",
    "auth",
    "client_name",
    "timeout",
    "log_file",
    "long_lines",
];

/// Where the password comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Given as is (file, `SMTP_PASSWORD`, URL).
    Literal(String),
    /// The first line printed by this `/bin/sh -c` command.
    Command(String),
}

impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Literal(_) => f.write_str("Literal(hidden)"),
            PasswordSource::Command(_) => f.write_str("Command(hidden)"),
        }
    }
}

/// The security setting: automatic (from port and credentials) or forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecuritySetting {
    /// As the library decides: implicit TLS on 465, required STARTTLS on
    /// 587 or with credentials, opportunistic STARTTLS otherwise.
    Auto,
    /// This mode.
    Mode(Security),
}

/// One layer of settings; `None` leaves the value of earlier layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Server host (from a URL).
    pub host: Option<String>,
    /// Server port (from a URL; its scheme's default when it has none).
    pub port: Option<u16>,
    /// TLS mode.
    pub security: Option<SecuritySetting>,
    /// User name for AUTH.
    pub user: Option<String>,
    /// The password or the command that prints it.
    pub password: Option<PasswordSource>,
    /// The password is an OAuth bearer token (URL option `token=1`).
    pub token: Option<bool>,
    /// The sender address (`Name <addr>` or `addr`).
    pub from: Option<String>,
    /// Extra trusted CA file (PEM).
    pub ca_file: Option<PathBuf>,
    /// SASL mechanism (`Some(None)` = automatic).
    pub auth: Option<Option<Mechanism>>,
    /// EHLO name.
    pub client_name: Option<String>,
    /// Timeout in seconds for every step.
    pub timeout: Option<u64>,
    /// Log file.
    pub log_file: Option<PathBuf>,
    /// Use PIPELINING when offered (URL option `pipelining`).
    pub pipelining: Option<bool>,
    /// Use CHUNKING (`BDAT`) when offered (URL option `chunking`).
    pub chunking: Option<bool>,
    /// What to do with a message line over 998 octets (key and URL option
    /// `long_lines`).
    pub long_lines: Option<LongLines>,
}

fn non_empty(key: &str, value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("{key} is empty"))
    } else {
        Ok(value.to_string())
    }
}

impl Settings {
    /// Sets one key (`url`, `user`, `password`... see [`KEYS`]). A `url`
    /// sets the server, its port and TLS mode, and whatever else it holds
    /// (user, password, options).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "url" => self.apply_url(value)?,
            "user" => self.user = Some(non_empty(key, value)?),
            "password" => self.password = Some(PasswordSource::Literal(value.to_string())),
            "password_command" => {
                self.password = Some(PasswordSource::Command(non_empty(key, value)?))
            }
            "from" => {
                smtp_core::Mailbox::parse(value)
                    .map_err(|e| format!("from: {}", crate::exit::one_line(&e.to_string())))?;
                self.from = Some(value.to_string());
            }
            "ca_file" => self.ca_file = Some(PathBuf::from(non_empty(key, value)?)),
            "security" => {
                self.security = Some(if value.eq_ignore_ascii_case("auto") {
                    SecuritySetting::Auto
                } else {
                    SecuritySetting::Mode(Security::from_name(value).ok_or_else(|| {
                        format!(
                            "security must be auto, starttls, tls (implicit), opportunistic or none, not {value:?}"
                        )
                    })?)
                })
            }
            "auth" => {
                self.auth = Some(if value.eq_ignore_ascii_case("auto") {
                    None
                } else {
                    Some(Mechanism::from_name(value).ok_or_else(|| {
                        let names: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
                        format!(
                            "auth must be auto or one of {}, not {value:?}",
                            names.join(", ")
                        )
                    })?)
                })
            }
            "client_name" => self.client_name = Some(non_empty(key, value)?),
            "timeout" => {
                let secs: u64 =
                    value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("timeout must be a number of seconds, not {value:?}")
                    })?;
                self.timeout = Some(secs);
            }
            "log_file" => self.log_file = Some(PathBuf::from(non_empty(key, value)?)),
            "long_lines" => {
                self.long_lines =
                    Some(LongLines::from_name(value).ok_or_else(|| {
                        format!("long_lines must be repair or refuse, not {value:?}")
                    })?)
            }
            _ => return Err(format!("unknown key {key:?}")),
        }
        Ok(())
    }

    /// Takes a URL apart (the library's syntax, checked by
    /// [`Config::from_url`]).
    fn apply_url(&mut self, url: &str) -> Result<(), String> {
        // The library's own parser decides what is valid (unknown options
        // and bad values are its errors), and gives host, port, credentials
        // and the extension switches; the query options are read here so
        // that each can be overridden separately.
        let parsed = Config::from_url(url).map_err(|e| e.to_string())?;
        self.host = Some(parsed.host().to_string());
        self.port = Some(parsed.port());
        let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        self.security = Some(if scheme.eq_ignore_ascii_case("smtps") {
            SecuritySetting::Mode(Security::Implicit)
        } else {
            SecuritySetting::Auto
        });
        if let Some(credentials) = parsed.credentials() {
            self.user = Some(credentials.username().to_string());
            let has_password = authority
                .rsplit_once('@')
                .is_some_and(|(userinfo, _)| userinfo.contains(':'));
            if has_password {
                let secret = match credentials.secret() {
                    smtp_core::Secret::Password(p) | smtp_core::Secret::BearerToken(p) => {
                        p.as_str().to_string()
                    }
                };
                self.password = Some(PasswordSource::Literal(secret));
            }
            self.token = Some(credentials.is_bearer_token());
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "security" | "tls" => self.set("security", &value)?,
                "auth" | "mechanism" => self.set("auth", &value)?,
                "client_name" | "helo" | "ehlo" => self.set("client_name", &value)?,
                "ca_file" => self.set("ca_file", &value)?,
                "timeout" => self.set("timeout", &value)?,
                // Read from the credentials above.
                "token" => {}
                "pipelining" => self.pipelining = Some(parsed.pipelining()),
                "chunking" => self.chunking = Some(parsed.chunking()),
                "long_lines" => self.long_lines = Some(parsed.long_lines()),
                // An option the library accepts but smtp-send does not
                // know yet must not be dropped silently.
                _ => return Err(format!("invalid URL: unknown option {key:?}")),
            }
        }
        Ok(())
    }

    /// Lays `later` over `self`: every value `later` has wins.
    pub fn overlay(&mut self, later: &Settings) {
        fn take<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                slot.clone_from(value);
            }
        }
        take(&mut self.host, &later.host);
        take(&mut self.port, &later.port);
        take(&mut self.security, &later.security);
        take(&mut self.user, &later.user);
        take(&mut self.password, &later.password);
        take(&mut self.token, &later.token);
        take(&mut self.from, &later.from);
        take(&mut self.ca_file, &later.ca_file);
        take(&mut self.auth, &later.auth);
        take(&mut self.client_name, &later.client_name);
        take(&mut self.timeout, &later.timeout);
        take(&mut self.log_file, &later.log_file);
        take(&mut self.pipelining, &later.pipelining);
        take(&mut self.chunking, &later.chunking);
        take(&mut self.long_lines, &later.long_lines);
    }

    /// Builds settings from `key = value` lines, the `url` first so that
    /// the other keys of the same section override what it says.
    fn from_entries(entries: &[Entry], path: &Path) -> Result<Settings, Failure> {
        let mut settings = Settings::default();
        let urls = entries.iter().filter(|e| e.key == "url");
        let others = entries.iter().filter(|e| e.key != "url");
        for entry in urls.chain(others) {
            settings
                .set(&entry.key, &entry.value)
                .map_err(|e| Failure::config(format!("{}:{}: {e}", path.display(), entry.line)))?;
        }
        if entries.iter().any(|e| e.key == "password")
            && entries.iter().any(|e| e.key == "password_command")
        {
            return Err(Failure::config(format!(
                "{}: a section has both password and password_command",
                path.display()
            )));
        }
        Ok(settings)
    }
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

    fn settings(&self) -> Result<Settings, Failure> {
        let mut s = Settings::default();
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
        Ok(s)
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
    command_line: &Settings,
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
        settings.overlay(&file.settings(account.as_deref())?);
    }
    settings.overlay(&env.settings()?);
    settings.overlay(command_line);
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

/// Builds the library configuration.
pub fn build_config(settings: &Settings, purpose: Purpose) -> Result<Config, Failure> {
    let host = settings
        .host
        .as_deref()
        .ok_or_else(|| Failure::config(NO_SERVER))?;
    let security = settings.security.unwrap_or(SecuritySetting::Auto);
    let port = settings.port.unwrap_or(match security {
        SecuritySetting::Mode(Security::Implicit) => 465,
        _ => 587,
    });
    let mut config = Config::new(host, port).with_recipient_policy(RecipientPolicy::AllOrNothing);
    if let SecuritySetting::Mode(mode) = security {
        config = config.with_security(mode);
    }
    match (&settings.user, &settings.password) {
        (Some(user), password) => {
            let password = match (purpose, password) {
                (Purpose::Inspect, _) => String::new(),
                (Purpose::Send, Some(PasswordSource::Literal(p))) => p.clone(),
                (Purpose::Send, Some(PasswordSource::Command(c))) => run_password_command(c)?,
                (Purpose::Send, None) => {
                    return Err(Failure::config(format!(
                        "user {user:?} is set but no password: set password or password_command, or SMTP_PASSWORD"
                    )))
                }
            };
            config = if settings.token == Some(true) {
                config.with_bearer_token(user.clone(), password)
            } else {
                config.with_password(user.clone(), password)
            };
        }
        (None, Some(_)) => {
            return Err(Failure::config(
                "a password is set but no user: set user (or put it in the url)",
            ))
        }
        (None, None) => {}
    }
    if purpose == Purpose::Inspect {
        // Keep the TLS mode that sending with credentials would use.
        let mode = config.security();
        config = config.with_security(mode).with_credentials(None);
    }
    if let Some(Some(mechanism)) = settings.auth {
        config = config.with_mechanism(Some(mechanism));
    }
    if let Some(name) = &settings.client_name {
        config = config.with_client_name(name.clone());
    }
    if let Some(ca) = &settings.ca_file {
        config = config.with_ca_file(ca.clone());
    }
    if let Some(secs) = settings.timeout {
        config = config.with_timeouts(Timeouts::uniform(Duration::from_secs(secs)));
    }
    if let Some(on) = settings.pipelining {
        config = config.with_pipelining(on);
    }
    if let Some(on) = settings.chunking {
        config = config.with_chunking(on);
    }
    if let Some(policy) = settings.long_lines {
        config = config.with_long_lines(policy);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    #[test]
    fn url_is_taken_apart() {
        let mut s = Settings::default();
        s.set(
            "url",
            "smtps://us%40er:p%3Ass@mail.example.org?auth=plain&timeout=7&ca_file=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(s.host.as_deref(), Some("mail.example.org"));
        assert_eq!(s.port, Some(465));
        assert_eq!(s.security, Some(SecuritySetting::Mode(Security::Implicit)));
        assert_eq!(s.user.as_deref(), Some("us@er"));
        assert_eq!(s.password, Some(PasswordSource::Literal("p:ss".into())));
        assert_eq!(s.auth, Some(Some(Mechanism::Plain)));
        assert_eq!(s.timeout, Some(7));
        assert_eq!(s.ca_file, Some(PathBuf::from("/ca.pem")));
        assert!(!format!("{s:?}").contains("p:ss"));

        let mut s = Settings::default();
        s.set("url", "smtp://bob@h.example").unwrap();
        assert_eq!(s.port, Some(587));
        assert_eq!(s.password, None);
        assert!(s.set("url", "http://x").is_err());
        assert!(s.set("url", "smtp://h?security=maybe").is_err());
    }

    #[test]
    fn layers_override() {
        let mut file = Settings::default();
        file.set("url", "smtps://u1:pw1@one.example").unwrap();
        file.set("from", "A <a@one.example>").unwrap();
        let mut env = Settings::default();
        env.set("url", "smtp://two.example:2525").unwrap();
        env.set("password", "pw2").unwrap();
        let mut cli = Settings::default();
        cli.set("password_command", "echo pw3").unwrap();
        let mut merged = Settings::default();
        merged.overlay(&file);
        merged.overlay(&env);
        assert_eq!(merged.host.as_deref(), Some("two.example"));
        assert_eq!(merged.port, Some(2525));
        assert_eq!(merged.security, Some(SecuritySetting::Auto));
        assert_eq!(merged.user.as_deref(), Some("u1"));
        assert_eq!(merged.password, Some(PasswordSource::Literal("pw2".into())));
        merged.overlay(&cli);
        assert_eq!(
            merged.password,
            Some(PasswordSource::Command("echo pw3".into()))
        );
        assert_eq!(merged.from.as_deref(), Some("A <a@one.example>"));
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
        assert_eq!(s.host.as_deref(), Some("mail.example.org"));
        assert_eq!(s.user.as_deref(), Some("me"));
        assert_eq!(
            s.password,
            Some(PasswordSource::Literal(
                "  spaced # not a comment \" ".into()
            ))
        );
        assert_eq!(s.from.as_deref(), Some("Me <me@example.org>"));
        let s = file.settings(Some("other")).unwrap();
        assert_eq!(s.host.as_deref(), Some("other.example"));
        assert_eq!(s.user, None);
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
            ("timeout = soon\n", "f:1: timeout"),
            ("password = \"x\n", "unterminated"),
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
        assert_eq!(err, "invalid URL: unknown option \"pipelinig\"");
        let err = build("smtp://h.example?chunking=maybe").unwrap_err();
        assert!(err.starts_with("invalid URL: "), "{err}");
        // A later layer's URL that says nothing leaves the option alone.
        let mut s = Settings::default();
        s.set("url", "smtp://h.example?chunking=off").unwrap();
        let mut later = Settings::default();
        later.set("url", "smtp://other.example").unwrap();
        s.overlay(&later);
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
        assert_eq!(s.long_lines, Some(LongLines::Refuse));
        assert_eq!(build(&s).unwrap().long_lines(), LongLines::Refuse);
        let mut s = Settings::default();
        s.set("url", "smtp://h.example?long_lines=Repair&chunking=off")
            .unwrap();
        assert_eq!(build(&s).unwrap().long_lines(), LongLines::Repair);
        let err = s
            .set("url", "smtp://h.example?long_lines=fold")
            .unwrap_err();
        assert!(err.starts_with("invalid URL: "), "{err}");
        assert!(err.contains("long_lines"), "{err}");
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
                .contains("f:2: long_lines must be repair or refuse, not \"fold\""),
            "{}",
            err.message
        );
        // A later layer's URL without the option leaves it alone; a later
        // key overrides.
        let mut later = Settings::default();
        later.set("url", "smtp://other.example").unwrap();
        let mut merged = a.clone();
        merged.overlay(&later);
        assert_eq!(build(&merged).unwrap().long_lines(), LongLines::Refuse);
        later.set("long_lines", "REPAIR").unwrap();
        merged.overlay(&later);
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
        match c.credentials().unwrap().secret() {
            smtp_core::Secret::Password(p) => assert_eq!(p.as_str(), "sec ret"),
            smtp_core::Secret::BearerToken(_) => panic!("token"),
        }
        s.set("password_command", "exit 3").unwrap();
        let err = build_config(&s, Purpose::Send).unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert!(err.message.contains("password_command failed"));
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
        let mut cli = Settings::default();
        cli.set("timeout", "3").unwrap();
        let loaded = load(&env, None, None, &cli).unwrap();
        assert_eq!(loaded.account.as_deref(), Some("a"));
        let s = &loaded.settings;
        assert_eq!(s.host.as_deref(), Some("sys.example"));
        assert_eq!(s.user.as_deref(), Some("me"));
        assert_eq!(s.password, Some(PasswordSource::Literal("envpw".into())));
        assert_eq!(s.from.as_deref(), Some("sys@x.example"));
        assert_eq!(s.timeout, Some(3));
        // Group-readable is fine for the system file; the user file holds no password.
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

        let loaded = load(&env, None, Some("b"), &Settings::default()).unwrap();
        assert_eq!(loaded.settings.host.as_deref(), Some("b.example"));
        assert_eq!(loaded.settings.user, None);
        assert!(load(&env, None, Some("c"), &Settings::default()).is_err());

        fs::set_permissions(&system, fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load(&env, None, None, &Settings::default()).unwrap();
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].contains("system.conf"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2Fa%20b%"), "/a b%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
