//! Load: 10,000 messages over one connection to Postfix's `smtp-sink`
//! (counted by the sink, memory checked flat), and 8 connections at once
//! to the test bed's discard port (counted in Postfix's log). The counts
//! can be raised through the environment (see `tests/soak.sh`, which also
//! runs the ignored `soak` test for a given number of minutes):
//!
//! | variable | default |
//! | --- | --- |
//! | `SMTP_LOAD_MESSAGES` | 10000 (one connection to smtp-sink) |
//! | `SMTP_LOAD_CONNECTIONS` | 8 |
//! | `SMTP_LOAD_PER_CONNECTION` | 200 (to the discard port) |
//! | `SMTP_SOAK_SECONDS` | 60 (the ignored `soak` test) |
//! | `SMTP_SOAK_CONCURRENCY` | 8 |

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use smtp_core::{Config, Envelope, Security, Timeouts};
use smtp_tests::driver::Client;
use smtp_tests::sink::SmtpSink;
use smtp_tests::skip::skipped;
use smtp_tests::support::vm_rss_kib;
use smtp_tests::testbed::{TestBed, REQUIRED_VAR};

/// How much the resident set may grow between the first tenth of a run
/// and its end.
const RSS_SLACK_KIB: u64 = 2048;

/// The tests here run one at a time: the memory figures are the whole
/// process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// A 1 KiB message.
fn message(tag: &str) -> Vec<u8> {
    let mut m = format!(
        "From: <load@example.test>\r\nTo: <load@example.test>\r\nSubject: load {tag}\r\n\r\n"
    )
    .into_bytes();
    while m.len() < 1024 {
        m.extend_from_slice(
            b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n",
        );
    }
    m
}

fn rss() -> u64 {
    vm_rss_kib().expect("VmRSS in /proc/self/status")
}

#[test]
fn ten_thousand_messages_over_one_connection_to_smtp_sink() {
    let _serial = serial();
    let Some(sink) = SmtpSink::start() else {
        assert!(
            std::env::var(REQUIRED_VAR).map_or(true, |v| v.trim() != "1"),
            "smtp-sink (part of Postfix) is required"
        );
        return skipped(format_args!("no {}", smtp_tests::sink::SMTP_SINK));
    };
    let total = env_count("SMTP_LOAD_MESSAGES", 10_000);
    let warm = (total / 10).max(1);
    let config = Config::new("127.0.0.1", sink.port())
        .with_security(Security::None)
        .with_client_name("load.test")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(30)));
    let mut client = Client::connect(config).expect("connect to smtp-sink");
    assert!(client.capabilities().pipelining);
    let envelope = Envelope::new("load@example.test", ["sink@example.test"]).unwrap();
    let body = message("sink");
    let start = Instant::now();
    let mut rss_warm = 0;
    for i in 1..=total {
        let report = client
            .send_bytes(&envelope, &body)
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(report.reply.code(), 250);
        if i == warm {
            rss_warm = rss();
        }
    }
    client.quit().expect("quit");
    let took = start.elapsed();
    let rss_end = rss();
    let counted = sink.wait_for(total, Duration::from_secs(10));
    println!(
        "smtp-sink, one connection: {total} messages in {:.2} s ({:.0}/s); sink counted {counted}; \
         VmRSS {rss_warm} KiB after {warm}, {rss_end} KiB after {total}",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
    assert_eq!(counted, total, "the sink's count");
    assert!(
        rss_end <= rss_warm + RSS_SLACK_KIB,
        "memory grew from {rss_warm} KiB to {rss_end} KiB"
    );
}

/// Sends `count` messages over one connection to the discard port from
/// `sender`; returns how many were accepted.
fn send_batch(bed: &TestBed, sender: &str, count: usize, stop: Option<&AtomicBool>) -> usize {
    let mut client = Client::connect(bed.plain_config(bed.port_discard)).expect("connect");
    let envelope = Envelope::new(sender, [format!("load@{}", bed.domain)]).unwrap();
    let body = message(sender);
    let mut sent = 0;
    for _ in 0..count {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        client.send_bytes(&envelope, &body).expect("send");
        sent += 1;
    }
    client.quit().expect("quit");
    sent
}

fn wait_for_postfix(
    bed: &TestBed,
    offset: u64,
    sender: &str,
    sent: usize,
    timeout: Duration,
) -> usize {
    let from = format!("from=<{sender}>");
    bed.wait_for_log_count(
        offset,
        &[&from, "(queue active)"],
        sent,
        timeout,
        Duration::from_secs(1),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn eight_connections_at_once_to_the_postfix_discard_port() {
    let _serial = serial();
    let Some(bed) = TestBed::get() else { return };
    let connections = env_count("SMTP_LOAD_CONNECTIONS", 8);
    let per = env_count("SMTP_LOAD_PER_CONNECTION", 200);
    let sender = format!("{}@{}", TestBed::unique_marker("load"), bed.domain);
    let offset = bed.log_offset();
    let start = Instant::now();
    let sent: usize = thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|_| scope.spawn(|| send_batch(bed, &sender, per, None)))
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let took = start.elapsed();
    assert_eq!(sent, connections * per);
    let counted = wait_for_postfix(bed, offset, &sender, sent, Duration::from_secs(120));
    println!(
        "Postfix discard port, {connections} connections at once: {sent} messages in {:.2} s ({:.0}/s); Postfix counted {counted}",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64()
    );
    assert_eq!(counted, sent, "Postfix's count");
}

/// Runs for `SMTP_SOAK_SECONDS` with `SMTP_SOAK_CONCURRENCY` threads, each
/// sending batches of 500 messages per connection to the discard port;
/// checks Postfix's count and that memory stayed flat. Run by
/// `tests/soak.sh` (release build).
#[test]
#[ignore = "long; run by tests/soak.sh"]
fn soak() {
    let _serial = serial();
    let bed = TestBed::get().expect("the soak test needs the test bed (SMTP_TESTBED_ENV)");
    let seconds = env_count("SMTP_SOAK_SECONDS", 60) as u64;
    let concurrency = env_count("SMTP_SOAK_CONCURRENCY", 8);
    let sender = format!("{}@{}", TestBed::unique_marker("soak"), bed.domain);
    let offset = bed.log_offset();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = AtomicUsize::new(0);
    let connections = AtomicUsize::new(0);
    let start = Instant::now();
    let duration = Duration::from_secs(seconds);
    let mut rss_samples = Vec::new();
    thread::scope(|scope| {
        for _ in 0..concurrency {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let n = send_batch(bed, &sender, 500, Some(&stop));
                    sent.fetch_add(n, Ordering::Relaxed);
                    connections.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while start.elapsed() < duration {
            thread::sleep(Duration::from_secs(1).min(duration.saturating_sub(start.elapsed())));
            rss_samples.push((start.elapsed(), rss()));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let took = start.elapsed();
    // Before reading Postfix's log, which takes memory of its own.
    let end = rss();
    let sent = sent.into_inner();
    let counted = wait_for_postfix(bed, offset, &sender, sent, Duration::from_secs(600));
    // Memory after the first tenth of the run (warmed up) against the end.
    let warm = rss_samples
        .iter()
        .find(|(t, _)| *t >= duration / 10)
        .or(rss_samples.first())
        .map_or(0, |&(_, r)| r);
    let peak = rss_samples.iter().map(|&(_, r)| r).max().unwrap_or(end);
    println!(
        "SOAK: {sent} messages in {:.0} s ({:.0}/s) over {} connections ({concurrency} at once); \
         Postfix counted {counted}; VmRSS warm {warm} KiB, peak {peak} KiB, end {end} KiB",
        took.as_secs_f64(),
        sent as f64 / took.as_secs_f64(),
        connections.into_inner()
    );
    assert_eq!(counted, sent, "Postfix's count");
    assert!(
        end <= warm + 4 * RSS_SLACK_KIB,
        "memory grew from {warm} KiB to {end} KiB"
    );
}
