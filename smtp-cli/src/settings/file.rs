//! The configuration file's syntax: `key = value` lines, `[account
//! NAME]` sections, quoted values, comments; what each key means is
//! `Settings`' business (see the parent module for the format).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) line: usize,
}

/// A parsed configuration file.
#[derive(Debug, Default)]
pub struct ConfigFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `default = NAME`.
    pub default: Option<String>,
    /// Keys before any section.
    top: Vec<Entry>,
    /// `[account NAME]` sections.
    accounts: BTreeMap<String, Vec<Entry>>,
    /// Whether it holds a password (a `password` key, or a URL or proxy
    /// URL with credentials).
    pub has_password: bool,
}

impl ConfigFile {
    /// Parses the text of a configuration file.
    pub fn parse(text: &str, path: &Path) -> Result<ConfigFile, Failure> {
        let mut file = ConfigFile {
            path: path.to_path_buf(),
            ..ConfigFile::default()
        };
        let at =
            |line: usize, msg: String| Failure::config(format!("{}:{line}: {msg}", path.display()));
        let mut section: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(inner) = line.strip_prefix('[') {
                let inner = inner
                    .strip_suffix(']')
                    .ok_or_else(|| at(line_no, "a section header must end with ]".into()))?
                    .trim();
                let name = inner
                    .strip_prefix("account")
                    .filter(|rest| rest.starts_with([' ', '\t']))
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .ok_or_else(|| {
                        at(
                            line_no,
                            format!("unknown section [{inner}] (expected [account NAME])"),
                        )
                    })?;
                if file.accounts.contains_key(name) {
                    return Err(at(line_no, format!("account {name:?} is defined twice")));
                }
                file.accounts.insert(name.to_string(), Vec::new());
                section = Some(name.to_string());
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| at(line_no, "expected key = value".into()))?;
            let key = key.trim().to_ascii_lowercase();
            let value = unquote(value.trim()).map_err(|e| at(line_no, e))?;
            if key == "default" {
                if section.is_some() {
                    return Err(at(
                        line_no,
                        "default = NAME must come before the first [account] section".into(),
                    ));
                }
                file.default = Some(value);
                continue;
            }
            if !is_key(&key) {
                return Err(at(
                    line_no,
                    format!(
                        "unknown key {key:?} (known: default, {})",
                        key_names().join(", ")
                    ),
                ));
            }
            if (key == "password" && !value.is_empty())
                || (key == "url" && Config::from_url(&value).is_ok_and(|c| c.has_secret()))
                || (key == "proxy"
                    && smtp_core::proxy::Proxy::parse(value.trim())
                        .is_ok_and(|p| p.has_credentials()))
            {
                file.has_password = true;
            }
            let entry = Entry {
                key,
                value,
                line: line_no,
            };
            match &section {
                Some(name) => file
                    .accounts
                    .get_mut(name)
                    .expect("section inserted above")
                    .push(entry),
                None => file.top.push(entry),
            }
        }
        Ok(file)
    }

    /// True when the file defines this account.
    pub fn has_account(&self, name: &str) -> bool {
        self.accounts.contains_key(name)
    }

    /// Applies the file's settings for `account` (the keys before any
    /// section, then the account's section).
    pub(super) fn apply(
        &self,
        settings: &mut Settings,
        account: Option<&str>,
    ) -> Result<(), Failure> {
        settings.apply_entries(&self.top, &self.path)?;
        if let Some(entries) = account.and_then(|a| self.accounts.get(a)) {
            settings.apply_entries(entries, &self.path)?;
        }
        Ok(())
    }

    /// The file's settings for `account` alone.
    #[cfg(test)]
    pub(super) fn settings(&self, account: Option<&str>) -> Result<Settings, Failure> {
        let mut settings = Settings::default();
        self.apply(&mut settings, account)?;
        Ok(settings)
    }
}

/// `"quoted value"` keeps blanks at its ends; `\"` and `\\` inside.
fn unquote(value: &str) -> Result<String, String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Ok(value.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err("unterminated quoted value".into()),
            },
            '"' => {
                return if chars.as_str().trim().is_empty() {
                    Ok(out)
                } else {
                    Err("text after the closing quote".into())
                };
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted value".into())
}
