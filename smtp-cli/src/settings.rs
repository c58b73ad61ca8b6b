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
pub const KEYS: &[&str] = &[
    "from",
    "aliases",
    "default_domain",
    "password_command",
    "token_command",
    "log_file",
    "queue",
    "queue_dir",
    "queue_first_retry",
    "queue_factor",
    "queue_max_retry",
    "queue_lifetime",
    "queue_warn_after",
];

/// The queue directory used by root when `queue_dir` is not set.
pub const SYSTEM_QUEUE_DIR: &str = "/var/spool/smtp-send";

/// When sendmail mode puts a message in the outbox (`queue`, `--queue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueMode {
    /// Never: a message the server does not take now is a failure.
    Never,
    /// Send now; queue when the attempt fails for now (the default).
    #[default]
    OnFailure,
    /// Only queue; `smtp-send -q` or a runner sends.
    Always,
}

impl QueueMode {
    /// Parses `never`, `on-failure` or `always` (ASCII case ignored).
    pub fn parse(value: &str) -> Result<QueueMode, String> {
        match value.to_ascii_lowercase().as_str() {
            "never" => Ok(QueueMode::Never),
            "on-failure" => Ok(QueueMode::OnFailure),
            "always" => Ok(QueueMode::Always),
            _ => Err(format!(
                "invalid queue: must be never, on-failure or always, not {value:?}"
            )),
        }
    }
}

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
    /// The aliases file for recipients without a domain (`aliases`).
    pub aliases: Option<PathBuf>,
    /// The domain given to recipients (and a `-f` sender) without one
    /// that no alias resolves (`default_domain`).
    pub default_domain: Option<String>,
    /// Log file.
    pub log_file: Option<PathBuf>,
    /// The command that prints the password, when the last layer to speak
    /// of the password gave a command rather than the password itself.
    pub password_command: Option<String>,
    /// The command that prints OAuth 2.0 access tokens (`token_command`),
    /// when the last layer to speak of the secret gave one; run by the
    /// library whenever it needs a new token (`token.rs`).
    pub token_command: Option<String>,
    /// When sendmail mode queues a message.
    pub queue: QueueMode,
    /// The outbox's directory, when configured (see [`queue_dir`]).
    pub queue_dir: Option<PathBuf>,
    /// The outbox's retry schedule (`queue_first_retry`, `queue_factor`,
    /// `queue_max_retry`, `queue_lifetime`, `queue_warn_after`).
    pub retry: smtp_core::RetryPolicy,
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
            "aliases" => {
                if value.is_empty() {
                    return Err("aliases is empty".into());
                }
                self.aliases = Some(PathBuf::from(value));
            }
            "default_domain" => {
                let domain = value.trim().trim_start_matches('@');
                let probe = format!("postmaster@{domain}");
                if domain.is_empty()
                    || domain.contains(['<', '>', ' ', ','])
                    || smtp_core::message::envelope_address(&probe).is_err()
                {
                    return Err(format!(
                        "default_domain: {:?} is not a domain",
                        crate::exit::one_line(value)
                    ));
                }
                self.default_domain = Some(domain.to_string());
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
                self.token_command = None;
            }
            "token_command" => {
                if value.trim().is_empty() {
                    return Err("token_command is empty".into());
                }
                self.token_command = Some(value.to_string());
                self.password_command = None;
            }
            "queue" => self.queue = QueueMode::parse(value)?,
            "queue_dir" => {
                if value.is_empty() {
                    return Err("queue_dir is empty".into());
                }
                self.queue_dir = Some(PathBuf::from(value));
            }
            _ if key.starts_with("queue_") && KEYS.contains(&key) => {
                // The library's one parser of the schedule.
                self.retry
                    .set(&key["queue_".len()..], value)
                    .map_err(|e| format!("{key}: {e}"))?;
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
                    self.token_command = None;
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
        let secrets = ["password", "password_command", "token_command"];
        let given: Vec<&str> = secrets
            .into_iter()
            .filter(|key| entries.iter().any(|e| e.key == *key))
            .collect();
        if given.len() > 1 {
            return Err(Failure::config(format!(
                "{}: a section has both {} and {}",
                path.display(),
                given[0],
                given[1]
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
    /// `SMTP_PROXY`: the `proxy` option (`socks5://...`, `http://...`,
    /// `off`).
    pub proxy: Option<String>,
    /// `SMTP_FROM`.
    pub from: Option<String>,
    /// `SMTP_ALIASES`.
    pub aliases: Option<String>,
    /// `SMTP_DEFAULT_DOMAIN`.
    pub default_domain: Option<String>,
    /// `SMTP_SEND_CONFIG`.
    pub config: Option<String>,
    /// `SMTP_SEND_SYSTEM_CONFIG`.
    pub system_config: Option<String>,
    /// `XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<String>,
    /// `HOME`.
    pub home: Option<String>,
    /// `XDG_STATE_HOME`.
    pub xdg_state_home: Option<String>,
    /// Whether the command runs as root (effective user id 0).
    pub root: bool,
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
            proxy: var("SMTP_PROXY"),
            from: var("SMTP_FROM"),
            aliases: var("SMTP_ALIASES"),
            default_domain: var("SMTP_DEFAULT_DOMAIN"),
            config: var("SMTP_SEND_CONFIG"),
            system_config: std::env::var("SMTP_SEND_SYSTEM_CONFIG").ok(),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            home: var("HOME"),
            xdg_state_home: var("XDG_STATE_HOME"),
            root: crate::sys::is_root(),
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
        set("proxy", &self.proxy, "SMTP_PROXY")?;
        set("from", &self.from, "SMTP_FROM")?;
        set("aliases", &self.aliases, "SMTP_ALIASES")?;
        set(
            "default_domain",
            &self.default_domain,
            "SMTP_DEFAULT_DOMAIN",
        )?;
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

/// The outbox's directory: `queue_dir` (file, `--queue-dir`), else
/// [`SYSTEM_QUEUE_DIR`] for root, else `$XDG_STATE_HOME/smtp-send/queue`,
/// else `$HOME/.local/state/smtp-send/queue`.
pub fn queue_dir(settings: &Settings, env: &Environment) -> Result<PathBuf, Failure> {
    if let Some(dir) = &settings.queue_dir {
        return Ok(dir.clone());
    }
    if env.root {
        return Ok(PathBuf::from(SYSTEM_QUEUE_DIR));
    }
    if let Some(state) = &env.xdg_state_home {
        return Ok(Path::new(state).join("smtp-send/queue"));
    }
    match &env.home {
        Some(home) => Ok(Path::new(home).join(".local/state/smtp-send/queue")),
        None => Err(Failure::config(
            "no queue directory: set queue_dir (or --queue-dir), XDG_STATE_HOME or HOME",
        )),
    }
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
            if let Some(command) = &settings.token_command {
                // Run when connecting, and again when the token expires
                // or the server refuses it.
                config.set_token_provider(crate::token::provider(command));
            }
        }
    }
    config.check().map_err(|e| {
        let message = e.to_string();
        Failure::config(match &e {
            smtp_core::Error::InvalidInput {
                field: "password", ..
            } => format!(
                "{message}: set password, password_command or token_command, or SMTP_PASSWORD"
            ),
            smtp_core::Error::InvalidInput { field: "user", .. } => {
                format!("{message} (or put it in the url)")
            }
            _ => message,
        })
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests;
