//! The connection pools, blocking (`Pool`) and async (`AsyncPool`):
//! against scripted servers, that a session the server closed while
//! idle is replaced before the first byte of the next message (never
//! reported as that message's failure), that a 421 on a reused session
//! sends the message again on a fresh one, that sessions retire after
//! their share of messages, and that the rate limit and the back-off
//! hold; against the real Postfix, that many threads or tasks share a
//! few sessions and every message arrives once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_core::{AsyncPool, Envelope, Pool, PoolOptions};
use smtp_tests::scripted_sequence::ScriptedSequence;
use smtp_tests::support::{FROM, TO};
use smtp_tests::testbed::TestBed;

const MESSAGE: &[u8] = b"Subject: pooled\r\n\r\nHello.\r\n";

fn envelope() -> Envelope {
    Envelope::new(FROM, [TO]).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Which pool a scenario runs on.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Blocking,
    Async,
}

/// Sends `MESSAGE` `count` times through a pool of `kind` on `sequence`,
/// pausing `pause` between messages, then closes the pool.
fn send_through(
    kind: Kind,
    sequence: &ScriptedSequence,
    options: PoolOptions,
    count: usize,
    pause: Duration,
) -> Vec<smtp_core::Result<smtp_core::SendReport>> {
    let mut results = Vec::new();
    match kind {
        Kind::Blocking => {
            let pool = Pool::new(sequence.config(), options).unwrap();
            for _ in 0..count {
                results.push(pool.send_bytes(&envelope(), MESSAGE));
                std::thread::sleep(pause);
            }
            pool.close();
        }
        Kind::Async => {
            let rt = runtime();
            rt.block_on(async {
                let pool = AsyncPool::new(sequence.config(), options).unwrap();
                for _ in 0..count {
                    results.push(pool.send_bytes(&envelope(), MESSAGE).await);
                    tokio::time::sleep(pause).await;
                }
                pool.close();
            });
        }
    }
    results
}

fn idle_session_closed_by_the_server_is_replaced(kind: Kind) {
    // The server closes the first session after its message, while idle;
    // the second message must go on a new session, not fail.
    let sequence =
        ScriptedSequence::start(&["hello; transaction; close", "hello; transaction; quit"]);
    let results = send_through(
        kind,
        &sequence,
        PoolOptions::default(),
        2,
        Duration::from_millis(150),
    );
    assert!(results.iter().all(Result::is_ok), "{kind:?}: {results:?}");
    let caps = sequence.finish();
    assert_eq!(caps.len(), 2);
    for cap in &caps {
        assert!(cap.errors.is_empty(), "{kind:?}: {:?}", cap.errors);
        assert_eq!(cap.bodies.len(), 1, "{kind:?}: one message per session");
    }
}

#[test]
fn blocking_pool_replaces_a_session_the_server_closed_while_idle() {
    idle_session_closed_by_the_server_is_replaced(Kind::Blocking);
}

#[test]
fn async_pool_replaces_a_session_the_server_closed_while_idle() {
    idle_session_closed_by_the_server_is_replaced(Kind::Async);
}

fn a_421_on_a_reused_session_goes_to_a_fresh_one(kind: Kind) {
    // The server takes one message, then answers the next MAIL with 421
    // and closes: nothing of that message was taken, so the pool sends it
    // on a new session and the caller sees a success.
    let sequence = ScriptedSequence::start(&[
        "hello; transaction; mail; > 421 4.4.2 mx.test idle too long, closing; close",
        "hello; transaction; quit",
    ]);
    let results = send_through(kind, &sequence, PoolOptions::default(), 2, Duration::ZERO);
    assert!(results.iter().all(Result::is_ok), "{kind:?}: {results:?}");
    let caps = sequence.finish();
    assert_eq!(caps[0].bodies.len(), 1);
    assert_eq!(caps[1].bodies.len(), 1);
}

#[test]
fn blocking_pool_sends_again_after_a_421_on_a_reused_session() {
    a_421_on_a_reused_session_goes_to_a_fresh_one(Kind::Blocking);
}

#[test]
fn async_pool_sends_again_after_a_421_on_a_reused_session() {
    a_421_on_a_reused_session_goes_to_a_fresh_one(Kind::Async);
}

fn sessions_retire_after_their_share(kind: Kind) {
    let sequence = ScriptedSequence::start(&[
        "hello; transaction; transaction; quit",
        "hello; transaction; quit",
    ]);
    let options = PoolOptions {
        max_messages_per_connection: Some(2),
        ..PoolOptions::default()
    };
    let results = send_through(kind, &sequence, options, 3, Duration::ZERO);
    assert!(results.iter().all(Result::is_ok), "{kind:?}: {results:?}");
    let caps = sequence.finish();
    assert_eq!(caps[0].bodies.len(), 2, "{kind:?}");
    assert_eq!(caps[1].bodies.len(), 1, "{kind:?}");
    assert!(caps.iter().all(|c| c.errors.is_empty()), "{kind:?}");
}

#[test]
fn blocking_pool_sessions_retire_after_max_messages() {
    sessions_retire_after_their_share(Kind::Blocking);
}

#[test]
fn async_pool_sessions_retire_after_max_messages() {
    sessions_retire_after_their_share(Kind::Async);
}

fn an_overloaded_server_makes_the_pool_pause(kind: Kind) {
    // "451 4.7.1 too many messages" to the first message: the next one
    // may not start before the back-off (300 ms) has passed.
    let sequence = ScriptedSequence::start(&[
        "hello; mail; > 451 4.7.1 too many messages, slow down; < RSET; > 250 Ok; transaction; quit",
    ]);
    let options = PoolOptions {
        backoff: Duration::from_millis(300),
        ..PoolOptions::default()
    };
    let started = Instant::now();
    let results = send_through(kind, &sequence, options, 2, Duration::ZERO);
    let elapsed = started.elapsed();
    assert!(
        results[0].as_ref().is_err_and(|e| e.is_transient()),
        "{results:?}"
    );
    assert!(results[1].is_ok(), "{results:?}");
    // A lower bound only: the pause cannot make it faster.
    assert!(
        elapsed >= Duration::from_millis(300),
        "{kind:?}: {elapsed:?}"
    );
    let caps = sequence.finish();
    assert!(caps[0].errors.is_empty(), "{:?}", caps[0].errors);
}

#[test]
fn blocking_pool_backs_off_after_too_many() {
    an_overloaded_server_makes_the_pool_pause(Kind::Blocking);
}

#[test]
fn async_pool_backs_off_after_too_many() {
    an_overloaded_server_makes_the_pool_pause(Kind::Async);
}

#[test]
fn the_rate_limit_spaces_messages() {
    let sequence = ScriptedSequence::start(&[
        "hello; transaction; transaction; transaction; transaction; transaction; quit",
    ]);
    let options = PoolOptions {
        rate: Some(20.0),
        ..PoolOptions::default()
    };
    let started = Instant::now();
    let results = send_through(Kind::Blocking, &sequence, options, 5, Duration::ZERO);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Five messages at 20 a second: at least four intervals of 50 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    sequence.finish();
}

#[test]
fn too_many_recipients_go_in_several_transactions() {
    let sequence = ScriptedSequence::start(&[
        "hello; transaction a@x.test b@x.test; transaction c@x.test; quit",
    ]);
    let pool = Pool::new(
        sequence.config(),
        PoolOptions {
            max_recipients: Some(2),
            ..PoolOptions::default()
        },
    )
    .unwrap();
    let envelope = Envelope::new(FROM, ["a@x.test", "b@x.test", "c@x.test"]).unwrap();
    let report = pool.send_bytes(&envelope, MESSAGE).unwrap();
    assert_eq!(report.recipients.len(), 3);
    pool.close();
    let caps = sequence.finish();
    assert!(caps[0].errors.is_empty(), "{:?}", caps[0].errors);
    assert_eq!(caps[0].bodies.len(), 2);
}

#[test]
fn a_refused_group_does_not_hide_the_delivered_ones() {
    // Two transactions (two recipients, then one): the second is refused
    // at MAIL. The report lists all three; only the third is refused.
    let sequence = ScriptedSequence::start(&[
        "hello; transaction a@x.test b@x.test; mail; > 451 4.3.0 try later; < RSET; > 250 Ok; quit",
    ]);
    let pool = Pool::new(
        sequence.config(),
        PoolOptions {
            max_recipients: Some(2),
            ..PoolOptions::default()
        },
    )
    .unwrap();
    let envelope = Envelope::new(FROM, ["a@x.test", "b@x.test", "c@x.test"]).unwrap();
    let report = pool.send_bytes(&envelope, MESSAGE).unwrap();
    assert_eq!(report.recipients.len(), 3);
    let refused: Vec<&str> = report.refused().map(|r| r.address.as_str()).collect();
    assert_eq!(refused, ["c@x.test"]);
    assert_eq!(report.refused().next().unwrap().reply.code(), 451);
    pool.close();
    let caps = sequence.finish();
    assert!(caps[0].errors.is_empty(), "{:?}", caps[0].errors);
}

// ----- the real Postfix --------------------------------------------------------

fn bed_message(bed: &TestBed, marker: &str, i: usize) -> (Envelope, Vec<u8>) {
    let from = format!("sender@{}", bed.domain);
    let to = format!("rcpt@{}", bed.domain);
    let bytes = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {marker} {i:04}\r\n\r\nPooled message {i}.\r\n"
    );
    (Envelope::new(from, [to]).unwrap(), bytes.into_bytes())
}

#[test]
fn eight_threads_share_two_postfix_sessions() {
    let Some(bed) = TestBed::get() else {
        eprintln!("SMTP_TESTBED_ENV not set: real-server test skipped");
        return;
    };
    let marker = TestBed::unique_marker("pool-threads");
    let pool = Pool::new(
        bed.submission_config(),
        PoolOptions {
            max_connections: 2,
            ..PoolOptions::default()
        },
    )
    .unwrap();
    let most_open = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for t in 0..8 {
            let pool = pool.clone();
            let marker = &marker;
            let most_open = most_open.clone();
            s.spawn(move || {
                for k in 0..5 {
                    let (envelope, bytes) = bed_message(bed, marker, t * 5 + k);
                    pool.send_bytes(&envelope, &bytes).expect("sent");
                    most_open.fetch_max(pool.open_connections(), Ordering::SeqCst);
                }
            });
        }
    });
    assert!(most_open.load(Ordering::SeqCst) <= 2);
    pool.close();
    bed.assert_each_once(&marker, 40);
}

#[test]
fn eight_tasks_share_an_async_pool_on_postfix() {
    let Some(bed) = TestBed::get() else {
        eprintln!("SMTP_TESTBED_ENV not set: real-server test skipped");
        return;
    };
    let marker = TestBed::unique_marker("pool-tasks");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = AsyncPool::new(
            bed.submission_config(),
            PoolOptions {
                max_connections: 3,
                ..PoolOptions::default()
            },
        )
        .unwrap();
        let mut tasks = Vec::new();
        for t in 0..8 {
            let pool = pool.clone();
            let marker = marker.clone();
            // tokio::spawn: the pool's futures are Send.
            tasks.push(tokio::spawn(async move {
                for k in 0..5 {
                    let (envelope, bytes) = bed_message(bed, &marker, t * 5 + k);
                    pool.send_bytes(&envelope, &bytes).await.expect("sent");
                    assert!(pool.open_connections() <= 3);
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        pool.close();
    });
    bed.assert_each_once(&marker, 40);
}
