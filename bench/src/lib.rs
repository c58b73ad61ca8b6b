//! # smtp-bench
//!
//! The pieces of the benchmark harness that are written in Rust (the
//! harness itself is `bench/run.sh`, which drives `bench/harness.py`):
//!
//! * `bench-rust`: the smtp-core client (the Rust API) sending N messages
//!   over one connection;
//! * `bench-raw`: the baseline, a plain socket speaking just enough SMTP and
//!   copying the prepared message file to the socket with `std::io::copy`;
//! * `bench-batch`: `Client::send_many_bytes`, many messages in one
//!   pipelined request over one connection;
//! * `bench-async`: the `AsyncClient` on a tokio runtime over one or more
//!   connections, or (`--threads`) as many OS threads with a blocking
//!   `Client` each;
//! * `latency-proxy`: a TCP proxy on loopback that delays each direction by
//!   half a round-trip time without serialising the traffic, and counts
//!   round trips;
//! * `examples/lettre_client.rs`: the same work done with lettre, the peer
//!   we compare against (a dev-dependency).
//!
//! Every client reads its settings from the environment ([`Settings`]) and
//! prints one `RESULT {json}` line ([`Measurement`]), so clients in other
//! languages (C, Python, PHP) follow the same protocol.

use std::time::{Duration, Instant};

/// What one benchmark client is asked to do, read from `BENCH_*`
/// environment variables (the same for every client, in every language).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BENCH_HOST`: the server (or proxy) address; loopback only.
    pub host: String,
    /// `BENCH_PORT`: its port.
    pub port: u16,
    /// `BENCH_USER` / `BENCH_PASSWORD`: credentials for AUTH PLAIN, when set.
    pub credentials: Option<(String, String)>,
    /// `BENCH_FROM`: the envelope sender.
    pub from: String,
    /// `BENCH_RCPTS`: the envelope recipients, comma-separated.
    pub rcpts: Vec<String>,
    /// `BENCH_COUNT`: how many messages to send over the one connection.
    pub count: u64,
    /// `BENCH_MESSAGE`: the file holding the complete message (headers and
    /// body, CRLF line endings, no line starting with a dot).
    pub message: std::path::PathBuf,
    /// `BENCH_PIPELINING` (default 1): use PIPELINING when offered.
    pub pipelining: bool,
    /// `BENCH_CHUNKING` (default 1): use CHUNKING (BDAT) when offered.
    pub chunking: bool,
    /// `BENCH_STREAM` (default 0): stream the message from its file instead
    /// of sending it from memory (for the large-message run).
    pub stream: bool,
}

/// A settings error: which variable and what is wrong with it.
#[derive(Debug)]
pub struct SettingsError(pub String);

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(name: &str) -> Result<String, SettingsError> {
    var(name).ok_or_else(|| SettingsError(format!("{name} is not set")))
}

fn flag(name: &str, default: bool) -> bool {
    match var(name).as_deref() {
        None => default,
        Some(v) => !matches!(v, "0" | "false" | "no" | "off"),
    }
}

impl Settings {
    /// Reads the settings from the environment. The host must be a
    /// loopback address: the harness never talks to anything else.
    pub fn from_env() -> Result<Settings, SettingsError> {
        let host = var("BENCH_HOST").unwrap_or_else(|| "127.0.0.1".into());
        let loopback = host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(host == "localhost");
        if !loopback {
            return Err(SettingsError(format!(
                "BENCH_HOST={host} is not a loopback address"
            )));
        }
        let port = required("BENCH_PORT")?
            .parse()
            .map_err(|e| SettingsError(format!("BENCH_PORT: {e}")))?;
        let credentials = match (var("BENCH_USER"), var("BENCH_PASSWORD")) {
            (Some(u), Some(p)) => Some((u, p)),
            _ => None,
        };
        let rcpts: Vec<String> = required("BENCH_RCPTS")?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if rcpts.is_empty() {
            return Err(SettingsError("BENCH_RCPTS has no address".into()));
        }
        let count = required("BENCH_COUNT")?
            .parse()
            .map_err(|e| SettingsError(format!("BENCH_COUNT: {e}")))?;
        Ok(Settings {
            host,
            port,
            credentials,
            from: required("BENCH_FROM")?,
            rcpts,
            count,
            message: required("BENCH_MESSAGE")?.into(),
            pipelining: flag("BENCH_PIPELINING", true),
            chunking: flag("BENCH_CHUNKING", true),
            stream: flag("BENCH_STREAM", false),
        })
    }
}

impl Settings {
    /// The client configuration every smtp-core client of the harness
    /// uses (`bench-rust` spells out the same): no TLS on loopback, a
    /// fixed client name, generous timeouts, PIPELINING and CHUNKING as
    /// asked, AUTH PLAIN when credentials are set.
    pub fn config(&self) -> smtp_core::Config {
        let config = smtp_core::Config::new(self.host.clone(), self.port)
            .with_security(smtp_core::Security::None)
            .with_client_name("bench.example.test")
            .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(120)))
            .with_pipelining(self.pipelining)
            .with_chunking(self.chunking);
        match &self.credentials {
            Some((user, password)) => config.with_password(user.clone(), password.clone()),
            None => config,
        }
    }
}

/// CPU time this process has used so far, from `getrusage(RUSAGE_SELF)`:
/// `(user, system)`.
pub fn cpu_times() -> (Duration, Duration) {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return (Duration::ZERO, Duration::ZERO);
        }
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    let (user, system) = cpu_times();
    user + system
}

/// This process's peak resident set size in KiB (`VmHWM` in
/// `/proc/self/status`; it starts afresh at `exec`, unlike the
/// `ru_maxrss` a parent gets from `wait4`, which keeps the forking
/// parent's size). 0 when unknown.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Wall and CPU clocks started together, around the measured loop only
/// (connection set-up and QUIT are outside it).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    user: Duration,
    system: Duration,
}

impl Stopwatch {
    /// Starts both clocks now.
    pub fn start() -> Stopwatch {
        let (user, system) = cpu_times();
        Stopwatch {
            wall: Instant::now(),
            user,
            system,
        }
    }

    /// Stops both clocks and builds the measurement.
    pub fn stop(self, client: &str, messages: u64, bytes: u64) -> Measurement {
        let seconds = self.wall.elapsed().as_secs_f64();
        let (user, system) = cpu_times();
        let user = user.saturating_sub(self.user);
        let system = system.saturating_sub(self.system);
        Measurement {
            client: client.to_string(),
            messages,
            seconds,
            cpu_seconds: (user + system).as_secs_f64(),
            cpu_user_seconds: user.as_secs_f64(),
            bytes,
            peak_rss_kb: 0,
        }
    }
}

/// What a client reports: printed as one `RESULT {json}` line on stdout.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The client's name.
    pub client: String,
    /// Messages sent (each accepted by the server).
    pub messages: u64,
    /// Wall-clock seconds for the send loop.
    pub seconds: f64,
    /// CPU seconds (user + system) the client used in the send loop.
    pub cpu_seconds: f64,
    /// The user part of `cpu_seconds` (the rest is the kernel's: system
    /// calls, and on loopback the TCP work of both ends of each send).
    pub cpu_user_seconds: f64,
    /// Message bytes sent (the file's size times the count).
    pub bytes: u64,
    /// Peak RSS in KiB, read when the line is printed ([`peak_rss_kb`]).
    pub peak_rss_kb: u64,
}

impl Measurement {
    /// The `RESULT {json}` line the harness reads (the peak RSS is read
    /// now if it was not set).
    pub fn to_line(&self) -> String {
        let rss = if self.peak_rss_kb == 0 {
            peak_rss_kb()
        } else {
            self.peak_rss_kb
        };
        format!(
            "RESULT {{\"client\":\"{}\",\"messages\":{},\"seconds\":{:.9},\"cpu_seconds\":{:.9},\"cpu_user_seconds\":{:.9},\"bytes\":{},\"peak_rss_kb\":{}}}",
            self.client.replace(['"', '\\'], "_"),
            self.messages,
            self.seconds,
            self.cpu_seconds,
            self.cpu_user_seconds,
            self.bytes,
            rss
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_is_json_shaped() {
        let m = Measurement {
            client: "rust".into(),
            messages: 3,
            seconds: 0.5,
            cpu_seconds: 0.25,
            cpu_user_seconds: 0.125,
            bytes: 3072,
            peak_rss_kb: 2048,
        };
        assert_eq!(
            m.to_line(),
            "RESULT {\"client\":\"rust\",\"messages\":3,\"seconds\":0.500000000,\"cpu_seconds\":0.250000000,\"cpu_user_seconds\":0.125000000,\"bytes\":3072,\"peak_rss_kb\":2048}"
        );
        assert!(peak_rss_kb() > 0);
    }

    #[test]
    fn cpu_time_moves_forward() {
        let a = cpu_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_time() >= a);
    }
}
