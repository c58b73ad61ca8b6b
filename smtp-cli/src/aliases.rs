//! Recipients without a domain (`root`, `www-data`, as cron and system
//! programs address mail): the `aliases` file (aliases(5) syntax, as
//! msmtp reads it) and `default_domain`, turned into the addresses the
//! envelope carries.
//!
//! ```text
//! # /etc/aliases
//! root: admin@example.org, ops@example.org
//! www-data: root
//! backup: backup-reports@example.org,
//!     admin@example.org                # a continuation line
//! default: postmaster@example.org      # any other name
//! ```
//!
//! A name is looked up without regard to ASCII case. Its values are
//! addresses, or names looked up in turn (at most [`MAX_DEPTH`] deep; a
//! loop is an error); a name that is no alias gets `default_domain`
//! (`\name` never is an alias). A name on the command line or in the
//! header that is no alias goes to the `default` entry when there is one,
//! else gets `default_domain`. Entries smtp-send cannot deliver
//! (`|command`, `/file`, `:include:`) are refused when used: it only
//! submits mail to a server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::exit::{one_line, Exit, Failure};

/// How deep aliases may refer to other aliases.
pub const MAX_DEPTH: usize = 8;

/// One value of an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// `user@domain`.
    Address(String),
    /// `name`: looked up in turn.
    Name(String),
    /// `\name`: a local mailbox, never an alias.
    Mailbox(String),
    /// `|command`, `/file`, `:include:`, or text that is no address: an
    /// error when used.
    Unusable(String),
}

/// An aliases file, parsed.
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    /// By lower-case name: the values and the line the entry starts on.
    entries: HashMap<String, (Vec<Value>, usize)>,
    path: PathBuf,
}

impl Aliases {
    /// Reads and parses the file at `path` (a configuration error when it
    /// cannot be read or parsed).
    pub fn load(path: &Path) -> Result<Aliases, Failure> {
        let text = std::fs::read(path).map_err(|e| {
            Failure::config(format!("cannot read aliases file {}: {e}", path.display()))
        })?;
        let text = String::from_utf8(text).map_err(|_| {
            Failure::config(format!("aliases file {}: not valid UTF-8", path.display()))
        })?;
        Aliases::parse(&text, path)
    }

    /// Parses aliases(5) text: `name: value, value` entries, lines starting
    /// with whitespace continuing the entry before, `#` comment lines.
    pub fn parse(text: &str, path: &Path) -> Result<Aliases, Failure> {
        let mut aliases = Aliases {
            entries: HashMap::new(),
            path: path.to_path_buf(),
        };
        let mut current: Option<(String, String, usize)> = None;
        for (i, raw) in text.lines().enumerate() {
            let number = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim_start().starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if line.trim().is_empty() {
                    continue;
                }
                match &mut current {
                    Some((_, values, _)) => {
                        values.push(' ');
                        values.push_str(line.trim());
                    }
                    None => {
                        return Err(
                            aliases.syntax(number, "a continuation line with no entry before it")
                        )
                    }
                }
                continue;
            }
            if let Some(entry) = current.take() {
                aliases.add(entry)?;
            }
            if line.trim().is_empty() {
                continue;
            }
            let Some((name, values)) = line.split_once(':') else {
                return Err(aliases.syntax(number, "expected name: value, value..."));
            };
            let name = name.trim();
            if name.is_empty() || name.contains([' ', '\t', '@', ',']) {
                return Err(aliases.syntax(
                    number,
                    &format!("{:?} is not an alias name", one_line(name)),
                ));
            }
            current = Some((name.to_ascii_lowercase(), values.to_string(), number));
        }
        if let Some(entry) = current.take() {
            aliases.add(entry)?;
        }
        Ok(aliases)
    }

    fn add(&mut self, (name, values, line): (String, String, usize)) -> Result<(), Failure> {
        if let Some((_, first)) = self.entries.get(&name) {
            return Err(self.syntax(
                line,
                &format!("{name:?} is defined twice (first on line {first})"),
            ));
        }
        let values: Vec<Value> = split_values(&values).into_iter().map(value).collect();
        if values.is_empty() {
            return Err(self.syntax(line, &format!("{name:?} has no value")));
        }
        self.entries.insert(name, (values, line));
        Ok(())
    }

    fn syntax(&self, line: usize, what: &str) -> Failure {
        Failure::config(format!(
            "aliases file {}:{line}: {what}",
            self.path.display()
        ))
    }
}

/// Splits the values of an entry at commas outside double quotes.
fn split_values(text: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => values.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    values.push(current);
    values
        .into_iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// What one value is.
fn value(text: String) -> Value {
    let unquoted = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(&text)
        .trim();
    if unquoted.starts_with('|')
        || unquoted.starts_with('/')
        || unquoted.to_ascii_lowercase().starts_with(":include:")
    {
        return Value::Unusable(format!(
            "{:?} (commands, files and :include: are not supported: smtp-send only submits mail to a server)",
            one_line(&text)
        ));
    }
    if let Some(name) = unquoted.strip_prefix('\\') {
        return if is_local_name(name) {
            Value::Mailbox(name.to_string())
        } else {
            Value::Unusable(format!("{:?} is not a local name", one_line(&text)))
        };
    }
    if is_local_name(unquoted) {
        return Value::Name(unquoted.to_string());
    }
    match smtp_core::Mailbox::parse(unquoted) {
        Ok(mailbox) => Value::Address(mailbox.address),
        Err(e) => Value::Unusable(format!(
            "{:?}: {}",
            one_line(&text),
            one_line(&e.to_string())
        )),
    }
}

/// A local name: dot-separated atoms of letters, digits and
/// `!#$%&'*+-/=?^_`{|}~`, at most 64 octets.
pub fn is_local_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c))
        })
}

/// Resolves names without a domain: the aliases file (read on first
/// use, so that mail to full addresses never needs it) and the default
/// domain.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    path: Option<PathBuf>,
    aliases: Arc<OnceLock<Result<Aliases, Failure>>>,
    default_domain: Option<String>,
}

impl Resolver {
    /// A resolver for these settings; `None` when neither is set.
    pub fn new(aliases: Option<&Path>, default_domain: Option<&str>) -> Option<Resolver> {
        if aliases.is_none() && default_domain.is_none() {
            return None;
        }
        Some(Resolver {
            path: aliases.map(Path::to_path_buf),
            aliases: Arc::new(OnceLock::new()),
            default_domain: default_domain.map(str::to_string),
        })
    }

    /// The default domain, if set.
    pub fn default_domain(&self) -> Option<&str> {
        self.default_domain.as_deref()
    }

    /// The addresses for `name` (a recipient without a domain).
    pub fn resolve(&self, name: &str) -> Result<Vec<String>, Failure> {
        let aliases = match &self.path {
            Some(path) => Some(
                self.aliases
                    .get_or_init(|| Aliases::load(path))
                    .as_ref()
                    .map_err(Clone::clone)?,
            ),
            None => None,
        };
        let mut out = Vec::new();
        self.resolve_into(aliases, name, &mut Vec::new(), true, &mut out)?;
        Ok(out)
    }

    fn resolve_into(
        &self,
        aliases: Option<&Aliases>,
        name: &str,
        chain: &mut Vec<String>,
        top: bool,
        out: &mut Vec<String>,
    ) -> Result<(), Failure> {
        let key = name.to_ascii_lowercase();
        let entry = aliases.and_then(|a| a.entries.get(&key));
        let Some((values, _)) = entry else {
            let default = aliases.filter(|_| top && key != "default");
            if let Some(a) = default.filter(|a| a.entries.contains_key("default")) {
                return self.resolve_into(Some(a), "default", chain, false, out);
            }
            out.push(self.qualify(name, chain)?);
            return Ok(());
        };
        if chain.contains(&key) {
            chain.push(key);
            return Err(unresolvable(format!("alias loop: {}", chain.join(" -> "))));
        }
        chain.push(key);
        if chain.len() > MAX_DEPTH {
            return Err(unresolvable(format!(
                "aliases nested more than {MAX_DEPTH} deep: {}",
                chain.join(" -> ")
            )));
        }
        for value in values {
            match value {
                Value::Address(address) => out.push(address.clone()),
                Value::Name(next) => self.resolve_into(aliases, next, chain, false, out)?,
                Value::Mailbox(mailbox) => out.push(self.qualify(mailbox, chain)?),
                Value::Unusable(what) => {
                    return Err(unresolvable(format!(
                        "alias {}: {what}",
                        chain.join(" -> ")
                    )))
                }
            }
        }
        chain.pop();
        Ok(())
    }

    /// `name@default_domain`, or the error that says what to set.
    fn qualify(&self, name: &str, chain: &[String]) -> Result<String, Failure> {
        match &self.default_domain {
            Some(domain) => Ok(format!("{name}@{domain}")),
            None => {
                let via = if chain.is_empty() {
                    String::new()
                } else {
                    format!(" (from alias {})", chain.join(" -> "))
                };
                Err(unresolvable(format!(
                    "recipient {name:?}{via} has no domain and no alias: add it to the aliases file, or set default_domain"
                )))
            }
        }
    }

    /// The resolver as the library takes it: a failure is kept in `slot`
    /// (the library's error only carries text).
    pub fn for_library(
        self,
        slot: Arc<Mutex<Option<Failure>>>,
    ) -> impl Fn(&str) -> smtp_core::Result<Vec<String>> + Send + Sync + 'static {
        move |name: &str| {
            self.resolve(name).map_err(|failure| {
                let reason = failure.message.clone();
                if let Ok(mut slot) = slot.lock() {
                    slot.get_or_insert(failure);
                }
                smtp_core::Error::InvalidInput {
                    field: "local recipient",
                    reason,
                }
            })
        }
    }
}

/// A recipient that cannot be resolved: the message's fault (65).
fn unresolvable(message: String) -> Failure {
    Failure::new(Exit::DataErr, message)
}

/// The message when a recipient has no domain and nothing is configured
/// to resolve it.
pub fn no_resolver(name_or_reason: &str) -> Failure {
    Failure::data(format!(
        "{name_or_reason}: set aliases (an /etc/aliases-style file) or default_domain in the configuration file, or SMTP_ALIASES / SMTP_DEFAULT_DOMAIN (see smtp-send --help)"
    ))
}

#[cfg(test)]
#[path = "aliases_tests.rs"]
mod tests;
