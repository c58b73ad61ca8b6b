//! The outbox: a durable local queue, so that a message the relay cannot
//! take now (down, slow, 4xx) is kept and delivered later, never lost.
//!
//! A directory holds `tmp/` (files being written), `queue/` (one `ID.msg`
//! per message: its first state, as `state.rs` writes it, then its bytes;
//! and, once it has been tried or changed, an `ID.state` that replaces
//! that first state). A runner or a control call `flock`s the message
//! file while it works on it (released by the kernel if the process
//! dies, so no lock goes stale). A
//! message is queued once its file has been renamed into `queue/` and the
//! directory synced (one file, one fsync and one directory fsync: what a
//! bare durable write costs); until then it is invisible. Credentials are
//! never written to the spool.
//!
//! Messages are queued unsigned; when the configuration that delivers them
//! has DKIM ([`Config::with_dkim`](crate::Config::with_dkim)), each is
//! signed as it is delivered (its file read once to hash it, then again
//! to send it).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::envelope::Envelope;
use crate::error::{Error, Result};
use crate::message::RawMessage;

mod deliver;
mod dsn;
mod free;
mod keep;
mod policy;
mod state;

pub use deliver::{DeliveryReport, MessageReport, Outcome};
pub use keep::Kept;
pub use policy::{RetryPolicy, RETRY_OPTIONS};
use state::{create_private, sync_dir, State};

/// The most a message file's first state may take (its recipients).
const PREAMBLE_LIMIT: u64 = 4 * 1024 * 1024;

/// What a first attempt made outside the queue left to record.
#[derive(Debug, Default)]
pub(crate) struct FirstTry {
    pub(crate) possible_duplicate: bool,
    pub(crate) error: Option<String>,
}

/// A queued message as read: its state, where its bytes start in its
/// file, whether it has a state file of its own.
pub(crate) struct Message {
    pub(crate) state: State,
    pub(crate) offset: u64,
    pub(crate) state_file: bool,
}

/// A message as read, or what is wrong with its files.
pub(crate) type Loaded = std::result::Result<Message, String>;
pub use state::{RecipientState, RecipientStatus};

/// The name of a queued message: letters, digits and dots, sortable by
/// the time it was queued.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(String);

impl QueueId {
    /// A new id: the time in base 36, a dot and 20 random characters.
    fn new() -> QueueId {
        QueueId(crate::message::new_id_local())
    }

    /// Checks an id given by a caller (it becomes part of a path).
    pub fn parse(text: &str) -> Result<QueueId> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && !text.starts_with('.')
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
        if ok {
            Ok(QueueId(text.to_string()))
        } else {
            Err(Error::invalid(
                "queue id",
                format!("{:?} is not a queue id", state::one_line(text)),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One message of the queue, as [`Outbox::list`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Its id.
    pub id: QueueId,
    /// When it was queued.
    pub created: SystemTime,
    /// The envelope sender ("" for the null sender of a bounce).
    pub sender: String,
    /// Its size in bytes.
    pub size: u64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When it is tried next.
    pub next_attempt: SystemTime,
    /// Held: not delivered until released.
    pub held: bool,
    /// A connection died after its end was sent: the server may have it
    /// already, and the next delivery may be a duplicate.
    pub possible_duplicate: bool,
    /// The last error that deferred it.
    pub last_error: Option<String>,
    /// Every recipient and where it stands.
    pub recipients: Vec<RecipientState>,
    /// What is wrong with its files, when something is (a corrupt or
    /// truncated message or state file): such a message is listed, never
    /// delivered and never removed without being asked.
    pub problem: Option<String>,
}

/// A durable queue in a directory (see the module documentation).
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    policy: RetryPolicy,
    /// Frees delivered messages' files in the background; shared by the
    /// clones, finished when the last one is dropped.
    freer: std::sync::Arc<free::Freer>,
}

/// An exclusive lock on one message: its message file, open and
/// `flock`ed; released when dropped.
pub(crate) struct MessageLock {
    pub(crate) file: File,
}

/// What trying to lock a message found.
pub(crate) enum Lock {
    /// Locked for this process.
    Held(MessageLock),
    /// Another process holds it.
    Busy,
    /// It is not (or no longer) in the queue.
    Gone,
}

fn spool_error(action: impl Into<String>, source: io::Error) -> Error {
    Error::Spool {
        action: action.into(),
        source,
    }
}

impl Outbox {
    /// Opens the queue in `dir`, creating it (mode 0700) and its
    /// subdirectories (with the directory's mode, so a group-shared spool
    /// stays shared) when missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Outbox> {
        let dir = dir.into();
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| spool_error(format!("creating {}", dir.display()), e))?;
        }
        let mode = fs::metadata(&dir)
            .map_err(|e| spool_error(format!("reading {}", dir.display()), e))?
            .permissions()
            .mode()
            & 0o7777;
        for sub in ["tmp", "queue"] {
            let path = dir.join(sub);
            if !path.exists() {
                match fs::DirBuilder::new().mode(mode).create(&path) {
                    Ok(()) => {
                        // The umask may have taken bits the directory has.
                        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode));
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(spool_error(format!("creating {}", path.display()), e)),
                }
            }
        }
        let freer = std::sync::Arc::new(free::Freer::default());
        // Delivered messages a dead runner had not freed yet.
        if let Ok(entries) = fs::read_dir(dir.join("tmp")) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".done"))
                {
                    freer.free(entry.path());
                }
            }
        }
        Ok(Outbox {
            dir,
            policy: RetryPolicy::default(),
            freer,
        })
    }

    /// Uses this retry schedule.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Outbox {
        self.policy = policy;
        self
    }

    /// The retry schedule.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn queue_path(&self, id: &QueueId, ext: &str) -> PathBuf {
        self.dir.join("queue").join(format!("{}.{ext}", id.0))
    }

    fn tmp_path(&self, id: &QueueId, ext: &str) -> PathBuf {
        self.dir.join("tmp").join(format!("{}.{ext}", id.0))
    }

    /// Queues a message: its bytes stream from `body` to disk, then the
    /// state is written and both are renamed into the queue and synced.
    /// When this returns an id the message survives a crash or a power
    /// loss; when it returns an error nothing was queued (and nothing half
    /// written is visible). Errors: [`Error::BodyRead`] when `body` fails,
    /// [`Error::Spool`] when the disk does (full, no permission).
    pub fn enqueue(&self, envelope: &Envelope, body: &mut dyn Read) -> Result<QueueId> {
        self.enqueue_at(envelope, body, SystemTime::now())
    }

    /// Queues a raw message prepared by [`RawMessage::read`]: its envelope
    /// (addresses as written; put in wire form at delivery) and its
    /// prepared bytes.
    pub fn enqueue_raw<R: Read>(&self, message: &mut RawMessage<R>) -> Result<QueueId> {
        let envelope = message.envelope().clone();
        self.enqueue(&envelope, message)
    }

    pub(crate) fn enqueue_at(
        &self,
        envelope: &Envelope,
        body: &mut dyn Read,
        now: SystemTime,
    ) -> Result<QueueId> {
        self.enqueue_flagged(envelope, body, now, FirstTry::default())
    }

    /// [`Outbox::enqueue_at`] for a message whose first attempt was made
    /// outside the queue: its error, and whether the connection died after
    /// the end of its data, recorded from the start.
    pub(crate) fn enqueue_flagged(
        &self,
        envelope: &Envelope,
        body: &mut dyn Read,
        now: SystemTime,
        first_try: FirstTry,
    ) -> Result<QueueId> {
        let id = QueueId::new();
        let tmp = self.tmp_path(&id, "msg");
        let state = State {
            created: now,
            sender: envelope.from().to_string(),
            size: 0,
            eight_bit: envelope.eight_bit,
            attempts: 0,
            next_attempt: now,
            held: false,
            possible_duplicate: first_try.possible_duplicate,
            warned: false,
            last_error: first_try.error,
            recipients: envelope
                .to()
                .iter()
                .map(|address| RecipientState {
                    address: address.clone(),
                    status: RecipientStatus::Pending,
                    reply: None,
                })
                .collect(),
            extensions: envelope.ext.clone(),
        };
        let result = (|| {
            self.write_message(&tmp, state.format().as_bytes(), body)?;
            // The rename is the moment the message is queued.
            let path = self.queue_path(&id, "msg");
            fs::rename(&tmp, &path)
                .map_err(|e| spool_error(format!("renaming into {}", path.display()), e))?;
            let queue = self.dir.join("queue");
            if let Err(e) = sync_dir(&queue) {
                // Not known to be durable: take it back rather than claim it.
                let _ = fs::remove_file(&path);
                return Err(spool_error(format!("syncing {}", queue.display()), e));
            }
            Ok(id.clone())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Writes `preamble` then `body` into a new file at `path` and syncs it.
    fn write_message(&self, path: &Path, preamble: &[u8], body: &mut dyn Read) -> Result<()> {
        let mut file = create_private(path)
            .map_err(|e| spool_error(format!("creating {}", path.display()), e))?;
        let mut buf = vec![0u8; 64 * 1024];
        file.write_all(preamble)
            .map_err(|e| spool_error(format!("writing {}", path.display()), e))?;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::BodyRead(e)),
            };
            file.write_all(&buf[..n])
                .map_err(|e| spool_error(format!("writing {}", path.display()), e))?;
        }
        file.sync_all()
            .map_err(|e| spool_error(format!("syncing {}", path.display()), e))
    }

    /// Reads a message's state (its state file, else the first state in
    /// its message file) and where its bytes start in the message file;
    /// `Ok(None)` when it is not (or no longer) in the queue, `Some(Err)`
    /// with the reason when its files are damaged.
    pub(crate) fn read_state(&self, id: &QueueId) -> Result<Option<Loaded>> {
        let msg = self.queue_path(id, "msg");
        match File::open(&msg) {
            Ok(mut file) => self.read_state_from(id, &mut file).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(spool_error(format!("reading {}", msg.display()), e)),
        }
    }

    /// [`Outbox::read_state`] with the message file already open.
    pub(crate) fn read_state_from(&self, id: &QueueId, file: &mut File) -> Result<Loaded> {
        let msg = self.queue_path(id, "msg");
        let len = file
            .metadata()
            .map_err(|e| spool_error(format!("reading {}", msg.display()), e))?
            .len();
        // Read until the first state's end line, in few reads: most fit in
        // the first 8 KiB; the message's bytes are not read.
        let mut head = vec![0u8; 8 * 1024];
        let mut filled: usize = 0;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| spool_error(format!("reading {}", msg.display()), e))?;
        let end = loop {
            let searched = filled.saturating_sub(4);
            let n = match file.read(&mut head[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(spool_error(format!("reading {}", msg.display()), e)),
            };
            filled += n;
            if let Some(i) = memchr::memmem::find(&head[searched..filled], b"\nend\n") {
                break searched + i + 5;
            }
            if n == 0 || filled as u64 >= PREAMBLE_LIMIT {
                return Ok(Err("corrupt message file: no envelope at its start".into()));
            }
            if filled == head.len() {
                head.resize(head.len() * 2, 0);
            }
        };
        let first = match std::str::from_utf8(&head[..end])
            .map_err(|_| "not UTF-8".to_string())
            .and_then(State::parse)
        {
            Ok(state) => state,
            Err(reason) => return Ok(Err(format!("corrupt message file: {reason}"))),
        };
        let offset = end as u64;
        let path = self.queue_path(id, "state");
        let (state, state_file) = match fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|text| State::parse(&text))
            {
                Ok(state) => (state, true),
                Err(reason) => return Ok(Err(format!("corrupt state file: {reason}"))),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => (first, false),
            Err(e) => return Err(spool_error(format!("reading {}", path.display()), e)),
        };
        Ok(Ok(Message {
            state: State {
                size: len - offset,
                ..state
            },
            offset,
            state_file,
        }))
    }

    /// Writes a message's state atomically.
    pub(crate) fn write_state(&self, id: &QueueId, state: &State) -> Result<()> {
        let (tmp, path) = (self.tmp_path(id, "state"), self.queue_path(id, "state"));
        let _ = fs::remove_file(&tmp);
        state
            .write(&tmp, &path)
            .map_err(|e| spool_error(format!("writing {}", path.display()), e))
    }

    /// Takes a message out of the queue: its message file first (from then
    /// on it is gone), then its state file. The directory is not synced:
    /// after a power loss the message may come back and be delivered again
    /// (at least once, never zero times).
    pub(crate) fn remove_files(&self, id: &QueueId, state_file: bool) -> Result<()> {
        let path = self.queue_path(id, "msg");
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(spool_error(format!("removing {}", path.display()), e)),
        }
        if state_file {
            let _ = fs::remove_file(self.queue_path(id, "state"));
        }
        Ok(())
    }

    /// Takes a delivered message out of the queue by renaming its file into
    /// `tmp/` as `ID.done` (one directory entry moved: from then on it is
    /// gone from the queue), and returns that path: freeing the file's
    /// blocks, the slow part, is left to the caller, off the delivery's
    /// path. `ID.done` files a dead process left are removed by
    /// [`Outbox::open`].
    pub(crate) fn retire(&self, id: &QueueId, state_file: bool) -> Result<PathBuf> {
        let path = self.queue_path(id, "msg");
        let done = self.tmp_path(id, "done");
        fs::rename(&path, &done)
            .map_err(|e| spool_error(format!("removing {}", path.display()), e))?;
        if state_file {
            let _ = fs::remove_file(self.queue_path(id, "state"));
        }
        Ok(done)
    }

    /// The path of a message's file.
    pub(crate) fn message_path(&self, id: &QueueId) -> PathBuf {
        self.queue_path(id, "msg")
    }

    /// Locks one message for this process: its message file, opened and
    /// `flock`ed without waiting.
    pub(crate) fn try_lock(&self, id: &QueueId) -> Result<Lock> {
        use std::os::unix::fs::MetadataExt;
        let path = self.queue_path(id, "msg");
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lock::Gone),
            Err(e) => return Err(spool_error(format!("opening {}", path.display()), e)),
        };
        // SAFETY: flock on a descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(Lock::Busy)
            } else {
                Err(spool_error(format!("locking {}", path.display()), e))
            };
        }
        // The holder before us may have delivered and unlinked it.
        let same = match (file.metadata(), fs::metadata(&path)) {
            (Ok(open), Ok(now)) => open.ino() == now.ino() && open.dev() == now.dev(),
            _ => false,
        };
        Ok(if same {
            Lock::Held(MessageLock { file })
        } else {
            Lock::Gone
        })
    }

    /// [`Outbox::try_lock`] for a control call: busy and gone are errors.
    fn lock_for_control(&self, id: &QueueId) -> Result<MessageLock> {
        match self.try_lock(id)? {
            Lock::Held(lock) => Ok(lock),
            Lock::Busy => Err(spool_error(
                format!("message {id}"),
                io::Error::new(io::ErrorKind::WouldBlock, "is being delivered now"),
            )),
            Lock::Gone => Err(Error::invalid(
                "queue id",
                format!("{id} is not in the queue"),
            )),
        }
    }

    /// The ids of the queue's messages, oldest first.
    pub(crate) fn ids(&self) -> Result<Vec<QueueId>> {
        let queue = self.dir.join("queue");
        let mut ids = Vec::new();
        let entries = fs::read_dir(&queue)
            .map_err(|e| spool_error(format!("reading {}", queue.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| spool_error(format!("reading {}", queue.display()), e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // A state file without its message is what a removal left.
            if let Some(id) = name
                .strip_suffix(".msg")
                .and_then(|s| QueueId::parse(s).ok())
            {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Every message in the queue, oldest first, with what is wrong with
    /// any of them.
    pub fn list(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            if let Some(entry) = self.entry(&id)? {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// One message, or `None` when it is not in the queue.
    pub fn entry(&self, id: &QueueId) -> Result<Option<Entry>> {
        Ok(self.read_state(id)?.map(|loaded| match loaded {
            Ok(Message { state, .. }) => Entry {
                id: id.clone(),
                created: state.created,
                sender: state.sender,
                size: state.size,
                attempts: state.attempts,
                next_attempt: state.next_attempt,
                held: state.held,
                possible_duplicate: state.possible_duplicate,
                last_error: state.last_error,
                recipients: state.recipients,
                problem: None,
            },
            Err(problem) => Entry {
                id: id.clone(),
                created: SystemTime::UNIX_EPOCH,
                sender: String::new(),
                size: 0,
                attempts: 0,
                next_attempt: SystemTime::UNIX_EPOCH,
                held: false,
                possible_duplicate: false,
                last_error: None,
                recipients: Vec::new(),
                problem: Some(problem),
            },
        }))
    }

    /// Changes a message's state under its lock.
    fn update(&self, id: &QueueId, change: impl FnOnce(&mut State)) -> Result<()> {
        let mut lock = self.lock_for_control(id)?;
        let mut state = match self.read_state_from(id, &mut lock.file)? {
            Ok(message) => message.state,
            Err(reason) => return Err(Error::invalid("queue id", format!("{id}: {reason}"))),
        };
        change(&mut state);
        self.write_state(id, &state)
    }

    /// Holds a message: it stays in the queue and is not delivered.
    pub fn hold(&self, id: &QueueId) -> Result<()> {
        self.update(id, |s| s.held = true)
    }

    /// Releases a held message.
    pub fn release(&self, id: &QueueId) -> Result<()> {
        self.update(id, |s| s.held = false)
    }

    /// Makes a message due now (and releases it).
    pub fn requeue(&self, id: &QueueId) -> Result<()> {
        self.update(id, |s| {
            s.held = false;
            s.next_attempt = SystemTime::now();
        })
    }

    /// Removes a message from the queue (also one whose files are broken).
    pub fn remove(&self, id: &QueueId) -> Result<()> {
        let _lock = self.lock_for_control(id)?;
        // A broken message may have a state file: try it too.
        self.remove_files(id, true)
    }
}

#[cfg(test)]
mod tests;
