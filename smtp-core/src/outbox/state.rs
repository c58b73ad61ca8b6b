//! The state file of one queued message: its envelope, each recipient's
//! state and last reply, attempts and the next attempt, as `key: value`
//! text lines ending with an `end` line (a truncated file is detected),
//! written atomically (a temporary file, fsync, rename, fsync of the
//! directory).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dsn::{DsnReturn, Extensions, Notify, RecipientParams};

/// The first line of every state file (and its format's version).
const MAGIC: &str = "smtp-outbox-state 1";
/// The first line of a state with extension parameters (DSN, REQUIRETLS,
/// MT-PRIORITY): a version an older runner refuses rather than deliver
/// the message without them.
const MAGIC_EXTENDED: &str = "smtp-outbox-state 2";

/// A stored extension value (xtext): printable ASCII without spaces, so
/// it stays one parameter on the command line.
fn check_xtext(key: &str, value: &str) -> Result<String, String> {
    if !value.is_empty() && value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        Ok(value.to_string())
    } else {
        Err(format!("{key} is not xtext: {value:?}"))
    }
}

/// Where one recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecipientStatus {
    /// Not tried yet.
    Pending,
    /// Refused for now (4xx, or the attempt failed): tried again later.
    Deferred,
    /// Accepted by the server: never sent again.
    Delivered,
    /// Refused for good (5xx, or the message's lifetime ran out).
    Failed,
}

impl RecipientStatus {
    /// The word in state files and listings.
    pub fn name(self) -> &'static str {
        match self {
            RecipientStatus::Pending => "pending",
            RecipientStatus::Deferred => "deferred",
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Failed => "failed",
        }
    }

    fn from_name(name: &str) -> Option<RecipientStatus> {
        Some(match name {
            "pending" => RecipientStatus::Pending,
            "deferred" => RecipientStatus::Deferred,
            "delivered" => RecipientStatus::Delivered,
            "failed" => RecipientStatus::Failed,
            _ => return None,
        })
    }

    /// Whether the recipient still has to be tried.
    pub fn is_open(self) -> bool {
        matches!(self, RecipientStatus::Pending | RecipientStatus::Deferred)
    }
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientState {
    /// The envelope address.
    pub address: String,
    /// Where it stands.
    pub status: RecipientStatus,
    /// The server's last reply about it (one line), if any.
    pub reply: Option<String>,
}

/// Everything the queue knows of one message besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) created: SystemTime,
    pub(crate) sender: String,
    pub(crate) size: u64,
    pub(crate) eight_bit: bool,
    pub(crate) attempts: u32,
    pub(crate) next_attempt: SystemTime,
    pub(crate) held: bool,
    /// A connection died after the end of the message was sent: the next
    /// delivery may be a duplicate.
    pub(crate) possible_duplicate: bool,
    /// Whether the delay warning was sent.
    pub(crate) warned: bool,
    pub(crate) last_error: Option<String>,
    pub(crate) recipients: Vec<RecipientState>,
    /// DSN, REQUIRETLS and MT-PRIORITY as the message was queued with
    /// (per-recipient parameters in the order of `recipients`).
    pub(crate) extensions: Extensions,
}

fn secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// One line of text: line breaks, tabs and other controls become spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

impl State {
    /// The text of the state file.
    pub(crate) fn format(&self) -> String {
        let mut out = String::with_capacity(256 + 64 * self.recipients.len());
        out.push_str(if self.extensions == Extensions::default() {
            MAGIC
        } else {
            MAGIC_EXTENDED
        });
        out.push('\n');
        let mut field = |key: &str, value: &str| {
            out.push_str(key);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        };
        field("created", &secs(self.created).to_string());
        field("sender", &self.sender);
        field("size", &self.size.to_string());
        field("eight_bit", if self.eight_bit { "1" } else { "0" });
        field("attempts", &self.attempts.to_string());
        field("next", &secs(self.next_attempt).to_string());
        field("held", if self.held { "1" } else { "0" });
        field("duplicate", if self.possible_duplicate { "1" } else { "0" });
        field("warned", if self.warned { "1" } else { "0" });
        if let Some(error) = &self.last_error {
            field("last", &one_line(error));
        }
        for r in &self.recipients {
            let reply = r.reply.as_deref().map(one_line).unwrap_or_default();
            field(
                "rcpt",
                &format!("{}\t{}\t{}", r.status.name(), r.address, reply),
            );
        }
        // The extension values are ASCII without controls (xtext).
        let ext = &self.extensions;
        if let Some(ret) = ext.ret {
            field("ret", ret.as_str());
        }
        if let Some(envid) = &ext.envid {
            field("envid", envid);
        }
        if ext.dsn_if_offered {
            field("dsn_if_offered", "1");
        }
        if ext.require_tls {
            field("requiretls", "1");
        }
        if let Some(priority) = ext.priority {
            field("priority", &priority.to_string());
        }
        for (i, params) in ext.recipients.iter().enumerate() {
            if params.notify.is_some() || params.orcpt.is_some() {
                let notify = params.notify.map(Notify::to_param).unwrap_or_default();
                let orcpt = params.orcpt.as_deref().unwrap_or_default();
                field("rcpt_dsn", &format!("{i}\t{notify}\t{orcpt}"));
            }
        }
        out.push_str("end\n");
        out
    }

    /// Parses a state file. The reason of an error names what is wrong.
    pub(crate) fn parse(text: &str) -> Result<State, String> {
        if !text.ends_with("\nend\n") {
            return Err("truncated (no end line)".into());
        }
        let mut lines = text.lines();
        if !matches!(lines.next(), Some(MAGIC | MAGIC_EXTENDED)) {
            return Err("not a state file (or a newer format)".into());
        }
        let mut state = State {
            created: UNIX_EPOCH,
            sender: String::new(),
            size: 0,
            eight_bit: false,
            attempts: 0,
            next_attempt: UNIX_EPOCH,
            held: false,
            possible_duplicate: false,
            warned: false,
            last_error: None,
            recipients: Vec::new(),
            extensions: Extensions::default(),
        };
        let mut rcpt_dsn = Vec::new();
        let mut seen_sender = false;
        let mut ended = false;
        for line in lines {
            if ended {
                return Err("text after the end line".into());
            }
            if line == "end" {
                ended = true;
                continue;
            }
            let (key, value) = line
                .split_once(": ")
                .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
                .ok_or_else(|| format!("malformed line {line:?}"))?;
            let number = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{key} is not a number: {v:?}"))
            };
            let flag = |v: &str| match v {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(format!("{key} is not 0 or 1: {v:?}")),
            };
            match key {
                "created" => state.created = time(number(value)?),
                "sender" => {
                    state.sender = value.to_string();
                    seen_sender = true;
                }
                "size" => state.size = number(value)?,
                "eight_bit" => state.eight_bit = flag(value)?,
                "attempts" => {
                    state.attempts = u32::try_from(number(value)?)
                        .map_err(|_| format!("attempts out of range: {value:?}"))?
                }
                "next" => state.next_attempt = time(number(value)?),
                "held" => state.held = flag(value)?,
                "duplicate" => state.possible_duplicate = flag(value)?,
                "warned" => state.warned = flag(value)?,
                "last" => state.last_error = Some(value.to_string()),
                "rcpt" => {
                    let mut parts = value.splitn(3, '\t');
                    let (status, address, reply) = (parts.next(), parts.next(), parts.next());
                    let status = status
                        .and_then(RecipientStatus::from_name)
                        .ok_or_else(|| format!("bad recipient line {value:?}"))?;
                    let address = address
                        .filter(|a| !a.is_empty())
                        .ok_or_else(|| format!("bad recipient line {value:?}"))?;
                    state.recipients.push(RecipientState {
                        address: address.to_string(),
                        status,
                        reply: reply.filter(|r| !r.is_empty()).map(str::to_string),
                    });
                }
                "ret" => {
                    state.extensions.ret =
                        Some(DsnReturn::parse(value).map_err(|_| format!("bad ret {value:?}"))?)
                }
                "envid" => state.extensions.envid = Some(check_xtext(key, value)?),
                "dsn_if_offered" => state.extensions.dsn_if_offered = flag(value)?,
                "requiretls" => state.extensions.require_tls = flag(value)?,
                "priority" => {
                    state.extensions.priority = Some(
                        value
                            .parse::<i8>()
                            .ok()
                            .filter(|p| (-9..=9).contains(p))
                            .ok_or_else(|| format!("bad priority {value:?}"))?,
                    )
                }
                "rcpt_dsn" => {
                    let bad = || format!("bad rcpt_dsn line {value:?}");
                    let mut parts = value.splitn(3, '\t');
                    let index: usize = parts.next().and_then(|i| i.parse().ok()).ok_or_else(bad)?;
                    let notify = match parts.next().ok_or_else(bad)? {
                        "" => None,
                        text => Some(Notify::parse(text).map_err(|_| bad())?),
                    };
                    let orcpt = match parts.next().filter(|o| !o.is_empty()) {
                        Some(o) => Some(check_xtext(key, o)?),
                        None => None,
                    };
                    rcpt_dsn.push((index, RecipientParams { notify, orcpt }));
                }
                // Keys of later versions are kept out of the way.
                _ => {}
            }
        }
        if !ended {
            return Err("truncated (no end line)".into());
        }
        if !seen_sender {
            return Err("no sender line".into());
        }
        if state.recipients.is_empty() {
            return Err("no recipient".into());
        }
        if !rcpt_dsn.is_empty() {
            let mut all = vec![RecipientParams::default(); state.recipients.len()];
            for (index, params) in rcpt_dsn {
                *all.get_mut(index).ok_or_else(|| {
                    format!("rcpt_dsn for recipient {index}, which is not there")
                })? = params;
            }
            state.extensions.recipients = all;
        }
        Ok(state)
    }

    /// Writes the state for `path` atomically: `tmp` (a file in the same
    /// file system), fsync, rename over `path`, fsync of the directory.
    pub(crate) fn write(&self, tmp: &Path, path: &Path) -> io::Result<()> {
        write_atomically(tmp, path, self.format().as_bytes())
    }
}

/// Writes `bytes` to `tmp`, syncs it, renames it to `path` and syncs the
/// directory of `path`: after this returns, `path` holds `bytes` even if
/// the machine loses power; before, it holds what it held.
pub(crate) fn write_atomically(tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = create_private(tmp)?;
    let written = file.write_all(bytes).and_then(|_| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|_| fs::rename(tmp, path)) {
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Creates a new file readable and writable by the owner and its group
/// only (the group matters for a shared spool; the directory's mode
/// decides who can reach it).
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o660)
        .open(path)
}

/// Makes a directory's entries (renames, new files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
