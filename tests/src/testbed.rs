//! Access to the real-server test bed (Postfix + Dovecot on loopback).
//!
//! `tests/testbed/start.sh DIR` starts the servers and writes
//! `DIR/testbed.env`; tests find it through the `SMTP_TESTBED_ENV`
//! environment variable (see `tests/testbed/README.md`).  Tests that need the
//! servers start with
//!
//! ```ignore
//! let Some(bed) = TestBed::get() else { return }; // reported skipped without a test bed
//! ```
//!
//! Every message accepted for `@example.test` on a delivering port lands in
//! one Maildir; tests put a [`TestBed::unique_marker`] into the message and
//! find it again with [`TestBed::wait_for_message`].

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable naming the env file written by `start.sh`.
pub const ENV_FILE_VAR: &str = "SMTP_TESTBED_ENV";

/// Environment variable that, set to `1`, turns a missing test bed into a
/// panic instead of silently skipped tests (for CI).
pub const REQUIRED_VAR: &str = "SMTP_TESTBED_REQUIRED";

/// How often the Maildir is polled while waiting for a delivery.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Lines of log shown when a wait times out.
const TIMEOUT_LOG_LINES: usize = 40;

/// The running test bed, read from the env file named by the
/// `SMTP_TESTBED_ENV` environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBed {
    /// Address every IPv4 listener is bound to (`127.0.0.1`).
    pub host: String,
    /// No TLS at all; AUTH (PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256)
    /// over plaintext; recipients need AUTH.
    pub port_plain: u16,
    /// STARTTLS required before AUTH and mail; AUTH only after STARTTLS.
    pub port_submission: u16,
    /// Implicit TLS (TLS handshake before the greeting), AUTH offered.
    pub port_smtps: u16,
    /// No AUTH, no TLS; mail for the test domain accepted from anybody.
    pub port_noauth: u16,
    /// Like `port_plain`, but Postfix does not take a bare LF as a line end
    /// (`smtpd_forbid_bare_newline`); `None` when this Postfix lacks it.
    pub port_strict: Option<u16>,
    /// Like `port_plain`, but accepted mail is discarded (for benchmarks).
    pub port_discard: u16,
    /// Like `port_plain` on `[::1]`; `None` when the machine has no IPv6
    /// loopback.
    pub port_ipv6: Option<u16>,
    /// First SASL user.
    pub user: String,
    /// Password of `user` (contains a blank and punctuation on purpose).
    pub password: String,
    /// Second SASL user.
    pub user2: String,
    /// Password of `user2`.
    pub password2: String,
    /// The domain delivered to the Maildir (`example.test`).
    pub domain: String,
    /// PEM file of the throw-away CA that signed the server certificate
    /// (valid for `localhost`, `127.0.0.1` and `::1`).
    pub ca_file: PathBuf,
    /// Directory with `ca.pem`, `server.pem`/`.key`, `selfsigned.pem`/`.key`,
    /// `wrongname.pem`/`.key` (for `wrong.example`) and `expired.pem`/`.key`.
    pub cert_dir: PathBuf,
    /// The Maildir (holding `new/`, `cur/` and `tmp/`) all mail goes to.
    pub maildir: PathBuf,
    /// Postfix's log file.
    pub log: PathBuf,
    /// Dovecot's log file (SASL decisions), when the env file names one.
    pub dovecot_log: Option<PathBuf>,
    /// The SOCKS5 and HTTP CONNECT proxies in front of the bed; `None`
    /// when `start.sh` started none (see [`TestBed::proxies`]).
    pub proxies: Option<Proxies>,
}

/// The bed's proxies (`tests/testbed/proxies.sh`), all on the bed's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxies {
    /// dante SOCKS5 requiring user/password (RFC 1929).
    pub socks5_port: u16,
    /// Its user (a throw-away system account).
    pub socks5_user: String,
    /// Its password (random letters and digits).
    pub socks5_password: String,
    /// dante SOCKS5 without authentication.
    pub socks5_noauth_port: u16,
    /// The ports of the bed both SOCKS servers connect to (plain,
    /// submission, smtps, noauth); any other is refused (reply 2).
    pub socks5_allowed_ports: Vec<u16>,
    /// tinyproxy: HTTP CONNECT with Basic credentials.
    pub http_port: u16,
    /// Its user.
    pub http_user: String,
    /// Its password (random letters and digits).
    pub http_password: String,
    /// The ports CONNECT may reach (submission and smtps); any other is
    /// `403`.
    pub http_allowed_ports: Vec<u16>,
    /// The proxies' log files.
    pub logs: Vec<PathBuf>,
}

impl Proxies {
    /// `socks5h://user:password@host:port` of the authenticating SOCKS
    /// server (the proxy resolves the mail server's name).
    pub fn socks5_url(&self, host: &str) -> String {
        format!(
            "socks5h://{}:{}@{host}:{}",
            self.socks5_user, self.socks5_password, self.socks5_port
        )
    }

    /// The authenticating SOCKS server's URL with `scheme` (`socks5`,
    /// `socks5h` or `socks5l`) and the given password.
    pub fn socks5_url_with(&self, scheme: &str, host: &str, password: &str) -> String {
        format!(
            "{scheme}://{}:{password}@{host}:{}",
            self.socks5_user, self.socks5_port
        )
    }

    /// `socks5h://host:port` of the SOCKS server without authentication.
    pub fn socks5_noauth_url(&self, host: &str) -> String {
        format!("socks5h://{host}:{}", self.socks5_noauth_port)
    }

    /// `http://user:password@host:port` of tinyproxy.
    pub fn http_url(&self, host: &str) -> String {
        self.http_url_with(host, &self.http_password)
    }

    /// tinyproxy's URL with the given password.
    pub fn http_url_with(&self, host: &str, password: &str) -> String {
        format!(
            "http://{}:{password}@{host}:{}",
            self.http_user, self.http_port
        )
    }
}

/// A delivered message taken apart by [`TestBed::parse_delivered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The envelope sender from `Return-Path:`, without angle brackets
    /// (`Some("")` for the null sender `<>`); `None` without that header.
    pub envelope_from: Option<String>,
    /// Envelope recipients from the `Delivered-To:` and `X-Original-To:`
    /// headers Postfix added, in order, without duplicates.
    pub delivered_to: Vec<String>,
    /// The whole file as stored in the Maildir.
    pub raw: Vec<u8>,
    /// The message as the client sent it: `raw` without the header fields
    /// Postfix put on top.  Postfix stores lines with LF endings and removes
    /// the SMTP dot-stuffing, so compare against the sent message with CRLF
    /// turned into LF (or use [`Delivered::as_sent_crlf`]).
    pub as_sent: Vec<u8>,
}

impl Delivered {
    /// `as_sent` with every line ending turned into CRLF, which is how a
    /// well-behaved client puts the message on the wire (before
    /// dot-stuffing).
    pub fn as_sent_crlf(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.as_sent.len() + self.as_sent.len() / 32);
        let mut prev = 0u8;
        for &b in &self.as_sent {
            if b == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            prev = b;
        }
        out
    }
}

impl TestBed {
    /// Some(bed) when SMTP_TESTBED_ENV is set; None when it is unset (and
    /// the calling test is reported as skipped, see [`crate::skip`]), unless
    /// SMTP_TESTBED_REQUIRED=1, in which case this panics with a message
    /// saying to run the README's test command.  Parses the env file
    /// (KEY=VALUE with shell single-quote or double-quote quoting as
    /// start.sh writes it) once; the result is cached for the process.
    ///
    /// # Panics
    ///
    /// When the test bed is required but not configured, or when the env
    /// file cannot be read or parsed.
    pub fn get() -> Option<&'static TestBed> {
        static BED: OnceLock<Option<TestBed>> = OnceLock::new();
        let bed = BED.get_or_init(|| {
            let path = std::env::var_os(ENV_FILE_VAR).filter(|p| !p.is_empty());
            match path {
                Some(path) => {
                    let path = PathBuf::from(path);
                    match TestBed::from_env_file(&path) {
                        Ok(bed) => Some(bed),
                        Err(e) => panic!(
                            "{ENV_FILE_VAR}={}: cannot use the test bed env file: {e}",
                            path.display()
                        ),
                    }
                }
                None if std::env::var(REQUIRED_VAR).is_ok_and(|v| v.trim() == "1") => panic!(
                    "{REQUIRED_VAR}=1 but {ENV_FILE_VAR} is not set: start the test bed and run \
                     the tests with the command in tests/testbed/README.md \
                     (sudo tests/testbed/start.sh DIR, then \
                     {ENV_FILE_VAR}=DIR/testbed.env cargo test -p smtp-tests)"
                ),
                None => None,
            }
        });
        if bed.is_none() {
            crate::skip::skipped(format_args!(
                "no test bed ({ENV_FILE_VAR} is not set; tests/test-all.sh starts one)"
            ));
        }
        bed.as_ref()
    }

    /// Reads an env file as written by `start.sh`.
    pub fn from_env_file(path: &Path) -> Result<TestBed, String> {
        let text =
            fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let vars = parse_env(&text)?;
        TestBed::from_vars(&vars)
    }

    /// Builds a `TestBed` from parsed `SMTP_TESTBED_*` variables.
    fn from_vars(vars: &HashMap<String, String>) -> Result<TestBed, String> {
        let get = |key: &str| -> Result<String, String> {
            vars.get(&format!("SMTP_TESTBED_{key}"))
                .cloned()
                .ok_or_else(|| format!("SMTP_TESTBED_{key} missing from the env file"))
        };
        let nonempty = |key: &str| -> Result<String, String> {
            let v = get(key)?;
            if v.is_empty() {
                Err(format!("SMTP_TESTBED_{key} is empty"))
            } else {
                Ok(v)
            }
        };
        let port = |key: &str| -> Result<u16, String> {
            let v = nonempty(key)?;
            v.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("SMTP_TESTBED_{key}={v:?} is not a port number"))
        };
        let opt_port = |key: &str| -> Result<Option<u16>, String> {
            match vars.get(&format!("SMTP_TESTBED_{key}")).map(|v| v.trim()) {
                None | Some("") => Ok(None),
                Some(_) => port(key).map(Some),
            }
        };
        Ok(TestBed {
            host: nonempty("HOST")?,
            port_plain: port("PORT_PLAIN")?,
            port_submission: port("PORT_SUBMISSION")?,
            port_smtps: port("PORT_SMTPS")?,
            port_noauth: port("PORT_NOAUTH")?,
            port_strict: opt_port("PORT_STRICT")?,
            port_discard: port("PORT_DISCARD")?,
            port_ipv6: opt_port("PORT_IPV6")?,
            user: nonempty("USER")?,
            password: get("PASSWORD")?,
            user2: nonempty("USER2")?,
            password2: get("PASSWORD2")?,
            domain: nonempty("DOMAIN")?,
            ca_file: nonempty("CA_FILE")?.into(),
            cert_dir: nonempty("CERT_DIR")?.into(),
            maildir: nonempty("MAILDIR")?.into(),
            log: nonempty("LOG")?.into(),
            dovecot_log: vars
                .get("SMTP_TESTBED_DOVECOT_LOG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            proxies: match opt_port("SOCKS5_PORT")? {
                None => None,
                Some(socks5_port) => {
                    let ports = |key: &str| -> Result<Vec<u16>, String> {
                        nonempty(key)?
                            .split(',')
                            .map(|p| {
                                p.trim().parse::<u16>().map_err(|_| {
                                    format!("SMTP_TESTBED_{key}: {p:?} is not a port number")
                                })
                            })
                            .collect()
                    };
                    Some(Proxies {
                        socks5_port,
                        socks5_user: nonempty("SOCKS5_USER")?,
                        socks5_password: nonempty("SOCKS5_PASSWORD")?,
                        socks5_noauth_port: port("SOCKS5_NOAUTH_PORT")?,
                        socks5_allowed_ports: ports("SOCKS5_ALLOWED_PORTS")?,
                        http_port: port("HTTP_PROXY_PORT")?,
                        http_user: nonempty("HTTP_PROXY_USER")?,
                        http_password: nonempty("HTTP_PROXY_PASSWORD")?,
                        http_allowed_ports: ports("HTTP_PROXY_ALLOWED_PORTS")?,
                        logs: get("PROXY_LOGS")
                            .unwrap_or_default()
                            .split(':')
                            .filter(|p| !p.is_empty())
                            .map(PathBuf::from)
                            .collect(),
                    })
                }
            },
        })
    }

    /// The bed's proxies, or `None` (the calling test reported as
    /// skipped) when `start.sh` started none; with
    /// `SMTP_TESTBED_REQUIRED=1` a missing proxy panics instead.
    ///
    /// # Panics
    ///
    /// When the proxies are required but the bed has none.
    pub fn proxies(&self) -> Option<&Proxies> {
        if self.proxies.is_none() {
            if std::env::var(REQUIRED_VAR).is_ok_and(|v| v.trim() == "1") {
                panic!(
                    "{REQUIRED_VAR}=1 but the test bed has no proxies: install dante-server and \
                     tinyproxy (tests/testbed/install.sh) and restart it without \
                     SMTP_TESTBED_NO_PROXIES"
                );
            }
            crate::skip::skipped("the test bed started no proxies");
        }
        self.proxies.as_ref()
    }

    /// A client configuration for one of the bed's plaintext ports
    /// (`port_plain`, `port_strict`, `port_discard`): no TLS, the first
    /// user's credentials (allowed in clear to loopback), client name
    /// `client.example.test`, 20 s timeouts.
    pub fn plain_config(&self, port: u16) -> smtp_core::Config {
        smtp_core::Config::new(self.host.clone(), port)
            .with_security(smtp_core::Security::None)
            .with_password(self.user.clone(), self.password.clone())
            .with_client_name("client.example.test")
            .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(20)))
    }

    /// Like [`TestBed::plain_config`] for the submission port (STARTTLS
    /// required) reached as `localhost`, trusting only the bed's CA.
    pub fn submission_config(&self) -> smtp_core::Config {
        smtp_core::Config::new("localhost", self.port_submission)
            .with_security(smtp_core::Security::StartTls)
            .with_ca_file(&self.ca_file)
            .with_system_roots(false)
            .with_password(self.user.clone(), self.password.clone())
            .with_client_name("client.example.test")
            .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(20)))
    }

    /// A fresh unique marker (`"<prefix>-<pid>-<counter>-<nanos>"`) tests put
    /// into a Subject/Message-ID to find their message.  It contains only
    /// ASCII letters, digits and `-` when `prefix` does.
    pub fn unique_marker(prefix: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{prefix}-{}-{n}-{nanos}", std::process::id())
    }

    /// Wait (bounded by `timeout`, polling every 50 ms) for a delivered
    /// message in maildir/new or maildir/cur whose bytes contain `marker`;
    /// return its full bytes.  Err(String) with the log tail on timeout.
    ///
    /// Delivery status notifications to a sender in the test domain land in
    /// the same Maildir and may quote the marker: use a sender outside the
    /// test domain (their DSNs are discarded) or
    /// [`TestBed::wait_for_messages`] when that matters.
    pub fn wait_for_message(&self, marker: &str, timeout: Duration) -> Result<Vec<u8>, String> {
        let mut found = self.wait_for_messages(marker, 1, timeout)?;
        Ok(found.swap_remove(0))
    }

    /// Waits (bounded, 60 s) until each of `"{marker} 0000"` to
    /// `"{marker} {n-1:04}"` was delivered, and checks each exactly once
    /// (panics otherwise): the check of the batch and pool tests.
    pub fn assert_each_once(&self, marker: &str, n: usize) {
        let markers: Vec<String> = (0..n).map(|i| format!("{marker} {i:04}")).collect();
        let wanted: Vec<(&str, usize)> = markers.iter().map(|m| (m.as_str(), 1)).collect();
        let found = self
            .wait_for_markers(&wanted, Duration::from_secs(60))
            .expect("every message delivered");
        for (i, copies) in found.iter().enumerate() {
            assert_eq!(
                copies.len(),
                1,
                "message {i} delivered {} times",
                copies.len()
            );
        }
    }

    /// Like wait_for_message but returns all messages containing marker once
    /// `count` are present (in delivery order as far as the Maildir file names
    /// tell; possibly more than `count`).
    pub fn wait_for_messages(
        &self,
        marker: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Vec<u8>>, String> {
        let mut found = self.wait_for_markers(&[(marker, count)], timeout)?;
        Ok(found.swap_remove(0))
    }

    /// Waits (bounded by `timeout`) until, for every `(marker, count)`,
    /// at least `count` delivered messages contain the marker, reading
    /// each Maildir file once however many markers there are. Returns,
    /// for each marker in order, every message containing it (in delivery
    /// order; possibly more than `count`). Err(String) with the log tail
    /// on timeout.
    pub fn wait_for_markers(
        &self,
        markers: &[(&str, usize)],
        timeout: Duration,
    ) -> Result<Vec<Vec<Vec<u8>>>, String> {
        if markers.iter().any(|(m, _)| m.is_empty()) {
            return Err("wait_for_markers: empty marker".to_string());
        }
        if markers.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + timeout;
        // Markers usually share a prefix (unique_marker's "<prefix>-<pid>-"):
        // a file without it is skipped after one scan, however many
        // markers there are.
        let first = markers[0].0.as_bytes();
        let common = markers.iter().fold(first.len(), |n, (m, _)| {
            first[..n]
                .iter()
                .zip(m.as_bytes())
                .take_while(|(a, b)| a == b)
                .count()
        });
        let prefix = &first[..common];
        // Maildir files never change once they are in new/ or cur/, so each
        // is read once: `seen` holds the names already checked.
        let mut seen: HashSet<String> = HashSet::new();
        let mut matches: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); markers.len()];
        let mut last_error: Option<String> = None;
        loop {
            for sub in ["new", "cur"] {
                let dir = self.maildir.join(sub);
                let entries = match fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) => {
                        last_error = Some(format!("listing {}: {e}", dir.display()));
                        continue;
                    }
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // A file renamed from new/ to cur/ keeps its base name
                    // (up to the ":2," info suffix).
                    let key = name.split(':').next().unwrap_or(&name).to_string();
                    if seen.contains(&key) {
                        continue;
                    }
                    match fs::read(entry.path()) {
                        Ok(bytes) => {
                            seen.insert(key.clone());
                            if markers.len() > 1 && !contains(&bytes, prefix) {
                                continue;
                            }
                            for (i, (marker, _)) in markers.iter().enumerate() {
                                if contains(&bytes, marker.as_bytes()) {
                                    matches[i].push((key.clone(), bytes.clone()));
                                }
                            }
                        }
                        // Moved away between listing and reading: look
                        // again next round.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            last_error = Some(format!("reading {}: {e}", entry.path().display()));
                        }
                    }
                }
            }
            let done = markers
                .iter()
                .zip(&matches)
                .all(|((_, count), found)| found.len() >= (*count).max(1));
            if done {
                return Ok(matches
                    .into_iter()
                    .map(|mut found| {
                        found.sort_by(|a, b| maildir_order(&a.0, &b.0));
                        found.into_iter().map(|(_, bytes)| bytes).collect()
                    })
                    .collect());
            }
            let now = Instant::now();
            if now >= deadline {
                let missing: Vec<String> = markers
                    .iter()
                    .zip(&matches)
                    .filter(|((_, count), found)| found.len() < (*count).max(1))
                    .map(|((marker, count), found)| {
                        format!(
                            "{count} message(s) containing {marker:?} (found {})",
                            found.len()
                        )
                    })
                    .collect();
                let mut msg = format!(
                    "timed out after {timeout:?} waiting in {} for {}",
                    self.maildir.display(),
                    missing.join(", ")
                );
                if let Some(e) = last_error {
                    msg.push_str(&format!(
                        "; last error: {e} (start the test bed with sudo so that mail is \
                         delivered as your user, or run the tests as root)"
                    ));
                }
                msg.push('\n');
                msg.push_str(&self.log_tail(TIMEOUT_LOG_LINES));
                return Err(msg);
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }

    /// The body of a delivered message as sent by the client: strips the
    /// header lines Postfix prepends (Return-Path, Delivered-To, Received,
    /// and X-Original-To if any — only those at the very top) and returns the
    /// rest, so tests can compare with what they sent.  Also returns the
    /// Return-Path value (envelope sender) and the Delivered-To /
    /// X-Original-To values.
    ///
    /// Postfix's delivery agent writes `Return-Path`, `X-Original-To` and
    /// `Delivered-To`; the SMTP server put exactly one `Received` field
    /// before them, so only the first `Received` field is removed (a
    /// message that itself starts with `Received` keeps its own).
    pub fn parse_delivered(raw: &[u8]) -> Delivered {
        let mut pos = 0;
        let mut envelope_from = None;
        let mut delivered_to: Vec<String> = Vec::new();
        let mut received_seen = false;
        while let Some((name, value, end)) = header_field(raw, pos) {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "return-path" if !received_seen && envelope_from.is_none() => {
                    let v = value.trim();
                    let v = v
                        .strip_prefix('<')
                        .and_then(|v| v.strip_suffix('>'))
                        .unwrap_or(v);
                    envelope_from = Some(v.to_string());
                }
                "delivered-to" | "x-original-to" if !received_seen => {
                    let v = value.trim().to_string();
                    if !delivered_to.contains(&v) {
                        delivered_to.push(v);
                    }
                }
                "received" if !received_seen => received_seen = true,
                _ => break,
            }
            pos = end;
            if received_seen {
                break;
            }
        }
        Delivered {
            envelope_from,
            delivered_to,
            raw: raw.to_vec(),
            as_sent: raw[pos..].to_vec(),
        }
    }

    /// The current length of Postfix's log: count lines written after
    /// this point with [`TestBed::wait_for_log_count`].
    pub fn log_offset(&self) -> u64 {
        fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// Lines of Postfix's log after byte `offset` that contain every one
    /// of `needles`.
    pub fn count_in_log(&self, offset: u64, needles: &[&str]) -> Result<usize, String> {
        let mut f = fs::File::open(&self.log)
            .map_err(|e| format!("opening {}: {e}", self.log.display()))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| format!("seeking in {}: {e}", self.log.display()))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| format!("reading {}: {e}", self.log.display()))?;
        Ok(buf
            .split(|&b| b == b'\n')
            .filter(|line| needles.iter().all(|n| contains(line, n.as_bytes())))
            .count())
    }

    /// Waits (bounded by `timeout`) until at least `count` lines after
    /// `offset` contain every one of `needles`, then waits `settle` more
    /// and returns the final count (which may exceed `count`: callers
    /// compare). Err with the log tail when the count is not reached.
    pub fn wait_for_log_count(
        &self,
        offset: u64,
        needles: &[&str],
        count: usize,
        timeout: Duration,
        settle: Duration,
    ) -> Result<usize, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.count_in_log(offset, needles)?;
            if n >= count {
                std::thread::sleep(settle);
                return self.count_in_log(offset, needles);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "{n} of {count} log lines with {needles:?} after {timeout:?}\n{}",
                    self.log_tail(TIMEOUT_LOG_LINES)
                ));
            }
            std::thread::sleep(Duration::from_millis(100).min(deadline - now));
        }
    }

    /// The last `lines` lines of Postfix's log, followed by the last `lines`
    /// lines of Dovecot's log when there is one, each under a title line.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = format!("--- last {lines} lines of {} ---\n", self.log.display());
        out.push_str(&tail_of_file(&self.log, lines));
        if let Some(dovecot) = &self.dovecot_log {
            out.push_str(&format!(
                "--- last {lines} lines of {} ---\n",
                dovecot.display()
            ));
            out.push_str(&tail_of_file(dovecot, lines));
        }
        out
    }
}

/// Whether `haystack` contains `needle` (non-empty).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut start = 0;
    while start + needle.len() <= haystack.len() {
        match haystack[start..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)
        {
            None => return false,
            Some(i) => {
                let at = start + i;
                if &haystack[at + 1..at + needle.len()] == rest {
                    return true;
                }
                start = at + 1;
            }
        }
    }
    false
}

/// Orders Maildir file names by their leading delivery time
/// (`<seconds>.<unique>`), then by name.
fn maildir_order(a: &str, b: &str) -> std::cmp::Ordering {
    let secs = |s: &str| -> u64 {
        s.split('.')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(u64::MAX)
    };
    secs(a).cmp(&secs(b)).then_with(|| a.cmp(b))
}

/// One header field starting at `pos`: (name, unfolded value, end offset).
/// `None` at the blank line that ends the header, at the end of the data, or
/// at a line that is not a header field.
fn header_field(raw: &[u8], pos: usize) -> Option<(String, String, usize)> {
    let line_end = |from: usize| -> usize {
        raw[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| from + i + 1)
    };
    if pos >= raw.len()
        || raw[pos] == b'\n'
        || raw[pos] == b'\r'
        || raw[pos] == b' '
        || raw[pos] == b'\t'
    {
        return None;
    }
    let mut end = line_end(pos);
    while end < raw.len() && (raw[end] == b' ' || raw[end] == b'\t') {
        end = line_end(end);
    }
    let field = &raw[pos..end];
    let colon = field.iter().position(|&b| b == b':')?;
    let name = &field[..colon];
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_graphic()) {
        return None;
    }
    let value: String = String::from_utf8_lossy(&field[colon + 1..])
        .split(['\r', '\n'])
        .collect::<Vec<_>>()
        .concat();
    Some((String::from_utf8_lossy(name).into_owned(), value, end))
}

/// The last `lines` lines of a file (reading at most its last 1 MiB).
fn tail_of_file(path: &Path, lines: usize) -> String {
    const MAX: u64 = 1 << 20;
    let read = || -> std::io::Result<Vec<u8>> {
        let mut f = fs::File::open(path)?;
        let len = f.metadata()?.len();
        if len > MAX {
            f.seek(SeekFrom::Start(len - MAX))?;
        }
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(buf)
    };
    match read() {
        Ok(buf) => {
            let text = String::from_utf8_lossy(&buf);
            let all: Vec<&str> = text.lines().collect();
            let mut out = all[all.len().saturating_sub(lines)..].join("\n");
            out.push('\n');
            out
        }
        Err(e) => format!("(cannot read {}: {e})\n", path.display()),
    }
}

/// Parses `KEY=VALUE` lines with POSIX-shell quoting (no expansions):
/// blank lines and `#` comments are skipped, an `export ` prefix is allowed.
fn parse_env(text: &str) -> Result<HashMap<String, String>, String> {
    let mut vars = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected KEY=VALUE", n + 1))?;
        let valid_key = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_key {
            return Err(format!("line {}: bad variable name {key:?}", n + 1));
        }
        let value = shell_word(value).map_err(|e| format!("line {} ({key}): {e}", n + 1))?;
        vars.insert(key.to_string(), value);
    }
    Ok(vars)
}

/// Decodes one shell word: '…' literal, "…" with \\ \" \$ \` escapes, \x
/// outside quotes.  Anything after unquoted blanks must be a comment.
fn shell_word(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err("unterminated single quote".to_string()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('\\' | '"' | '$' | '`')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("unterminated double quote".to_string()),
                    },
                    Some(c @ ('$' | '`')) => {
                        return Err(format!("unsupported expansion {c:?} in double quotes"))
                    }
                    Some(c) => out.push(c),
                    None => return Err("unterminated double quote".to_string()),
                }
            },
            '\\' => match chars.next() {
                Some(c) => out.push(c),
                None => return Err("trailing backslash".to_string()),
            },
            ' ' | '\t' => {
                let rest = chars.as_str().trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    break;
                }
                return Err("more than one word".to_string());
            }
            '$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                return Err(format!("unsupported shell syntax {c:?}"))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("'t3st-P@ss word!'").unwrap(), "t3st-P@ss word!");
        assert_eq!(shell_word(r"'it'\''s'").unwrap(), "it's");
        assert_eq!(
            shell_word(r#""a \"b\" \$c \\ \n""#).unwrap(),
            r#"a "b" $c \ \n"#
        );
        assert_eq!(shell_word("plain").unwrap(), "plain");
        assert_eq!(shell_word(r"a\ b").unwrap(), "a b");
        assert_eq!(shell_word("''").unwrap(), "");
        assert_eq!(shell_word("").unwrap(), "");
        assert_eq!(shell_word("'x' # comment").unwrap(), "x");
        assert!(shell_word("'open").is_err());
        assert!(shell_word("\"open").is_err());
        assert!(shell_word("$HOME").is_err());
        assert!(shell_word("a b").is_err());
    }

    const ENV: &str = "# SMTP test bed\n\
        SMTP_TESTBED_DIR='/tmp/tb'\n\
        SMTP_TESTBED_HOST='127.0.0.1'\n\
        SMTP_TESTBED_PORT_PLAIN='2525'\n\
        SMTP_TESTBED_PORT_SUBMISSION='2587'\n\
        SMTP_TESTBED_PORT_SMTPS=2465\n\
        export SMTP_TESTBED_PORT_NOAUTH=\"2526\"\n\
        SMTP_TESTBED_PORT_STRICT=''\n\
        SMTP_TESTBED_PORT_DISCARD='2527'\n\
        SMTP_TESTBED_PORT_IPV6=\n\
        SMTP_TESTBED_USER='testuser'\n\
        SMTP_TESTBED_PASSWORD='t3st-P@ss word!'\n\
        SMTP_TESTBED_USER2='other'\n\
        SMTP_TESTBED_PASSWORD2='other-pass'\n\
        SMTP_TESTBED_DOMAIN='example.test'\n\
        SMTP_TESTBED_CA_FILE='/tmp/tb/certs/ca.pem'\n\
        SMTP_TESTBED_CERT_DIR='/tmp/tb/certs'\n\
        SMTP_TESTBED_MAILDIR='/tmp/tb/maildir'\n\
        SMTP_TESTBED_LOG='/tmp/tb/logs/postfix.log'\n";

    #[test]
    fn env_file() {
        let bed = TestBed::from_vars(&parse_env(ENV).unwrap()).unwrap();
        assert_eq!(bed.host, "127.0.0.1");
        assert_eq!(bed.port_plain, 2525);
        assert_eq!(bed.port_smtps, 2465);
        assert_eq!(bed.port_noauth, 2526);
        assert_eq!(bed.port_strict, None);
        assert_eq!(bed.port_ipv6, None);
        assert_eq!(bed.password, "t3st-P@ss word!");
        assert_eq!(bed.maildir, PathBuf::from("/tmp/tb/maildir"));
        assert_eq!(bed.dovecot_log, None);
        assert_eq!(bed.proxies, None);

        let with_proxies = format!(
            "{ENV}SMTP_TESTBED_SOCKS5_PORT='1080'\n\
             SMTP_TESTBED_SOCKS5_USER='smtptb-0123abcd'\n\
             SMTP_TESTBED_SOCKS5_PASSWORD='sx-1'\n\
             SMTP_TESTBED_SOCKS5_NOAUTH_PORT='1081'\n\
             SMTP_TESTBED_SOCKS5_ALLOWED_PORTS='2525,2587'\n\
             SMTP_TESTBED_HTTP_PROXY_PORT='3128'\n\
             SMTP_TESTBED_HTTP_PROXY_USER='webproxy'\n\
             SMTP_TESTBED_HTTP_PROXY_PASSWORD='hx-1'\n\
             SMTP_TESTBED_HTTP_PROXY_ALLOWED_PORTS='2587'\n\
             SMTP_TESTBED_PROXY_LOGS='/a.log:/b.log'\n"
        );
        let bed = TestBed::from_vars(&parse_env(&with_proxies).unwrap()).unwrap();
        let proxies = bed.proxies.expect("proxies");
        assert_eq!(proxies.socks5_allowed_ports, vec![2525, 2587]);
        assert_eq!(proxies.http_allowed_ports, vec![2587]);
        assert_eq!(proxies.logs.len(), 2);
        assert_eq!(
            proxies.socks5_url("127.0.0.1"),
            "socks5h://smtptb-0123abcd:sx-1@127.0.0.1:1080"
        );
        assert_eq!(
            proxies.http_url("127.0.0.1"),
            "http://webproxy:hx-1@127.0.0.1:3128"
        );
        let empty = format!("{ENV}SMTP_TESTBED_SOCKS5_PORT=''\n");
        let bed = TestBed::from_vars(&parse_env(&empty).unwrap()).unwrap();
        assert_eq!(bed.proxies, None);

        let broken = ENV.replace("PORT_PLAIN='2525'", "PORT_PLAIN='x'");
        assert!(TestBed::from_vars(&parse_env(&broken).unwrap()).is_err());
        let missing = ENV.replace("SMTP_TESTBED_USER='testuser'\n", "");
        assert!(TestBed::from_vars(&parse_env(&missing).unwrap()).is_err());
    }

    #[test]
    fn markers_are_unique() {
        let a = TestBed::unique_marker("tb");
        let b = TestBed::unique_marker("tb");
        assert_ne!(a, b);
        assert!(a.starts_with("tb-"));
    }

    #[test]
    fn substring_search() {
        assert!(contains(b"hello world", b"world"));
        assert!(contains(b"hello world", b"hello world"));
        assert!(contains(b"aab", b"ab"));
        assert!(!contains(b"hello", b"hello!"));
        assert!(!contains(b"", b"x"));
        assert!(contains(b"x", b""));
    }

    #[test]
    fn delivered_message() {
        let raw = b"Return-Path: <sender@example.test>\n\
            X-Original-To: rcpt@example.test\n\
            Delivered-To: rcpt@example.test\n\
            Received: from [127.0.0.1] (unknown [127.0.0.1])\n\
            \tby testbed.example.test (Postfix) with ESMTPA id 3C6CA990186\n\
            \tfor <rcpt@example.test>; Sat, 28 Nov 2026 01:19:16 +0000 (UTC)\n\
            Received: by client.example; Sat, 28 Nov 2026 01:19:15 +0000\n\
            Subject: hi\n\
            \n\
            body\n";
        let d = TestBed::parse_delivered(raw);
        assert_eq!(d.envelope_from.as_deref(), Some("sender@example.test"));
        assert_eq!(d.delivered_to, vec!["rcpt@example.test".to_string()]);
        assert_eq!(
            d.as_sent,
            b"Received: by client.example; Sat, 28 Nov 2026 01:19:15 +0000\nSubject: hi\n\nbody\n"
        );
        assert_eq!(
            d.as_sent_crlf(),
            b"Received: by client.example; Sat, 28 Nov 2026 01:19:15 +0000\r\nSubject: hi\r\n\r\nbody\r\n"
        );

        let bounce = b"Return-Path: <>\nDelivered-To: a@example.test\nReceived: x\n\nno header\n";
        let d = TestBed::parse_delivered(bounce);
        assert_eq!(d.envelope_from.as_deref(), Some(""));
        assert_eq!(d.as_sent, b"\nno header\n");

        let plain = b"Subject: no prepended fields\n\nx\n";
        let d = TestBed::parse_delivered(plain);
        assert_eq!(d.envelope_from, None);
        assert!(d.delivered_to.is_empty());
        assert_eq!(d.as_sent, plain);
    }

    #[test]
    fn maildir_names_sort_by_time() {
        let mut names = vec![
            "1700000010.V1.host",
            "999999999.V2.host",
            "1700000001.V3.host",
        ];
        names.sort_by(|a, b| maildir_order(a, b));
        assert_eq!(
            names,
            vec![
                "999999999.V2.host",
                "1700000001.V3.host",
                "1700000010.V1.host"
            ]
        );
    }
}
