//! The outbox's delivery semantics against the scripted server (one
//! script per delivery run) and the catcher (many connections): 4xx then
//! 250 on the retry schedule, a 5xx recipient bounced in the same run, no
//! bounce for a null sender, one connection attempt when the relay is
//! down, a connection lost after the final dot (retried, flagged a
//! possible duplicate), lifetime expiry, held messages, the delay warning
//! sent once, and two runners on one spool never delivering twice.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use smtp_core::outbox::{Outcome, RecipientStatus};
use smtp_core::{Envelope, Outbox, RetryPolicy};
use smtp_tests::catcher::Catcher;
use smtp_tests::outbox_support::{marked_message, marker_of, no_jitter, secs, spool_dir};
use smtp_tests::scripted::ScriptedServer;
use smtp_tests::support::{steps, FROM, TO};

const A: &str = "a@example.test";
const B: &str = "b@example.test";
const C: &str = "c@example.test";

/// A spool with the schedule of [`no_jitter`] and `policy` changes.
fn outbox(name: &str, policy: impl FnOnce(&mut RetryPolicy)) -> Outbox {
    let mut p = no_jitter();
    policy(&mut p);
    Outbox::open(spool_dir(name)).unwrap().with_policy(p)
}

fn enqueue(outbox: &Outbox, from: &str, to: &[&str], marker: &str) -> smtp_core::QueueId {
    let env = Envelope::new(from, to.iter().copied()).unwrap();
    outbox
        .enqueue(&env, &mut marked_message(marker, 5).as_slice())
        .unwrap()
}

/// A transaction the server answers with `rcpt_reply` for [`TO`]
/// (pipelined): the client gives up the transaction with RSET.
fn refused_once(rcpt_reply: &str) -> String {
    format!(
        "hello PIPELINING, ENHANCEDSTATUSCODES; mail; rcpt; < DATA
         > 250 2.1.0 Ok | {rcpt_reply} | 554 5.5.1 no valid recipients
         rset; quit"
    )
}

/// A bounce or warning from the outbox: null sender, to [`FROM`].
const NOTIFICATION: &str = "< MAIL FROM:<>; rcpt sender@example.test; < DATA
     > 250 2.1.0 Ok | 250 2.1.5 Ok | 354 go ahead
     body; > 250 2.0.0 Ok: queued as DSN";

#[test]
fn a_4xx_is_retried_on_schedule_and_delivered_once() {
    let outbox = outbox("retry", |_| {});
    let id = enqueue(&outbox, FROM, &[TO], "retry-1");
    // State files keep whole seconds.
    let t0 = whole_second(SystemTime::now());

    // 1st attempt: greylisted.
    let server = ScriptedServer::start(steps(&refused_once("450 4.2.1 greylisted, try later")));
    let report = outbox.deliver_due_at(&server.config(), t0).unwrap();
    server.finish().assert_clean();
    assert_eq!(report.messages.len(), 1);
    assert_eq!(
        report.messages[0].outcome,
        Outcome::Deferred {
            next: t0 + secs(60)
        }
    );
    let entry = outbox.entry(&id).unwrap().unwrap();
    assert_eq!((entry.attempts, entry.next_attempt), (1, t0 + secs(60)));
    assert_eq!(entry.recipients[0].status, RecipientStatus::Deferred);
    assert!(entry.recipients[0]
        .reply
        .as_deref()
        .unwrap()
        .starts_with("450 4.2.1"));

    // Not due yet: nobody is contacted (the port is closed).
    let closed = closed_port_config();
    let report = outbox.deliver_due_at(&closed, t0 + secs(59)).unwrap();
    assert!(report.messages.is_empty(), "{report:?}");

    // 2nd attempt, 60 s later: greylisted again; the wait doubles.
    let server = ScriptedServer::start(steps(&refused_once("451 4.7.1 still greylisted")));
    let t1 = t0 + secs(61);
    let report = outbox.deliver_due_at(&server.config(), t1).unwrap();
    server.finish().assert_clean();
    assert_eq!(
        report.messages[0].outcome,
        Outcome::Deferred {
            next: t1 + secs(120)
        }
    );
    assert_eq!(outbox.entry(&id).unwrap().unwrap().attempts, 2);
    assert!(outbox
        .deliver_due_at(&closed, t1 + secs(119))
        .unwrap()
        .messages
        .is_empty());

    // 3rd attempt: accepted, once; the message leaves the queue.
    let server = ScriptedServer::start(steps(
        "hello PIPELINING, ENHANCEDSTATUSCODES; pipelined; quit",
    ));
    let report = outbox
        .deliver_due_at(&server.config(), t1 + secs(121))
        .unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].outcome, Outcome::Delivered);
    assert!(!report.messages[0].possible_duplicate);
    assert_eq!(cap.bodies.len(), 1);
    assert_eq!(marker_of(&cap.bodies[0]).as_deref(), Some("retry-1"));
    assert!(outbox.list().unwrap().is_empty());
    // Nothing left to deliver, ever.
    let later = outbox.flush(&closed).unwrap();
    assert!(later.messages.is_empty());
}

/// `time` without its fraction of a second.
fn whole_second(time: SystemTime) -> SystemTime {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    SystemTime::UNIX_EPOCH + secs(since.as_secs())
}

/// A configuration for a loopback port nobody listens on.
fn closed_port_config() -> smtp_core::Config {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    smtp_core::Config::new("127.0.0.1", port)
        .with_security(smtp_core::Security::None)
        .with_client_name("client.test")
        .with_timeouts(smtp_core::Timeouts::uniform(Duration::from_secs(2)))
}

#[test]
fn one_5xx_recipient_of_three_is_bounced_in_the_same_run() {
    let outbox = outbox("bounce", |_| {});
    let id = enqueue(&outbox, FROM, &[A, B, C], "bounce-1");
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING, ENHANCEDSTATUSCODES; mail; rcpt {A}; rcpt {B}; rcpt {C}; < DATA
         > 250 2.1.0 Ok | 250 2.1.5 Ok | 550 5.1.1 <{B}>: Recipient address rejected: User unknown | 250 2.1.5 Ok | 354 go ahead
         body; > 250 2.0.0 Ok: queued as 4F3A
         {NOTIFICATION}
         quit"
    )));
    let report = outbox.deliver_due(&server.config()).unwrap();
    let cap = server.finish();
    cap.assert_clean();
    // The message went once, to the two accepted recipients.
    assert_eq!(cap.bodies.len(), 2, "the message and its bounce");
    assert_eq!(marker_of(&cap.bodies[0]).as_deref(), Some("bounce-1"));
    assert_eq!(cap.count_lines("MAIL FROM:<sender@example.test>"), 1);
    assert_eq!(report.messages.len(), 2, "{report:?}");
    let first = &report.messages[0];
    assert_eq!((&first.id, &first.outcome), (&id, &Outcome::Bounced));
    let statuses: Vec<(&str, RecipientStatus)> = first
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (A, RecipientStatus::Delivered),
            (B, RecipientStatus::Failed),
            (C, RecipientStatus::Delivered)
        ]
    );
    // The bounce: queued by this run and delivered in it.
    let dsn_id = first.notification.clone().expect("a bounce was queued");
    assert_eq!(report.messages[1].id, dsn_id);
    assert_eq!(report.messages[1].outcome, Outcome::Delivered);
    let dsn = String::from_utf8(cap.bodies[1].clone()).unwrap();
    for needle in [
        "To: <sender@example.test>\r\n",
        "Content-Type: multipart/report; report-type=delivery-status;",
        &format!("Final-Recipient: rfc822; {B}\r\nAction: failed\r\nStatus: 5.1.1\r\n"),
        &format!(
            "Diagnostic-Code: smtp; 550 5.1.1 <{B}>: Recipient address rejected: User unknown\r\n"
        ),
        "Content-Type: text/rfc822-headers\r\n",
        "Subject: outbox test bounce-1\r\n",
    ] {
        assert!(dsn.contains(needle), "{needle:?} not in the bounce:\n{dsn}");
    }
    for delivered in [A, C] {
        assert!(
            !dsn.contains(&format!("Final-Recipient: rfc822; {delivered}")),
            "{delivered} was delivered:\n{dsn}"
        );
    }
    assert!(outbox.list().unwrap().is_empty());
}

#[test]
fn a_failing_message_from_the_null_sender_is_never_bounced() {
    let outbox = outbox("nullsender", |_| {});
    enqueue(&outbox, "", &[A], "null-1");
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING, ENHANCEDSTATUSCODES; < MAIL FROM:<>; rcpt {A}; < DATA
         > 250 2.1.0 Ok | 550 5.1.1 no such user | 554 5.5.1 no valid recipients
         rset; quit"
    )));
    let report = outbox.deliver_due(&server.config()).unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(report.messages.len(), 1, "{report:?}");
    assert_eq!(report.messages[0].outcome, Outcome::Bounced);
    assert_eq!(report.messages[0].notification, None);
    assert_eq!(cap.count_lines("MAIL FROM"), 1);
    assert!(outbox.list().unwrap().is_empty(), "failed and gone");
}

/// A listener that counts connections and answers each with a 421.
fn counting_421_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = s.write_all(b"421 4.3.2 Service not available, try later\r\n");
            let mut rest = Vec::new();
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = s.read_to_end(&mut rest);
        }
    });
    (port, count)
}

#[test]
fn a_relay_that_is_down_defers_every_due_message_after_one_attempt() {
    let outbox = outbox("down", |_| {});
    let ids: Vec<_> = (0..5)
        .map(|i| enqueue(&outbox, FROM, &[TO], &format!("down-{i}")))
        .collect();
    // Connection refused.
    let started = Instant::now();
    let report = outbox.deliver_due(&closed_port_config()).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.messages.len(), 5);
    assert_eq!(report.deferred(), 5, "{report:?}");
    let errors: Vec<&str> = report
        .messages
        .iter()
        .map(|m| m.error.as_deref().unwrap_or(""))
        .collect();
    assert!(
        errors.iter().all(|e| *e == errors[0] && !e.is_empty()),
        "{errors:?}"
    );
    for id in &ids {
        let entry = outbox.entry(id).unwrap().unwrap();
        assert_eq!(entry.attempts, 1);
        assert!(entry.last_error.is_some());
    }
    // A server that greets with 421: one connection for the five.
    for id in &ids {
        outbox.requeue(id).unwrap();
    }
    let (port, count) = counting_421_server();
    let config = closed_port_config().with_port(port);
    let report = outbox.deliver_due(&config).unwrap();
    assert_eq!(report.deferred(), 5, "{report:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "one connection attempt");
    assert!(report.messages[0].error.as_deref().unwrap().contains("421"));
    assert_eq!(outbox.list().unwrap().len(), 5);
    assert!(outbox.list().unwrap().iter().all(|e| e.attempts == 2));
}

#[test]
fn a_connection_lost_after_the_final_dot_is_retried_and_flagged() {
    let outbox = outbox("unknown", |_| {});
    let id = enqueue(&outbox, FROM, &[TO], "unknown-1");
    let t0 = SystemTime::now();
    let server = ScriptedServer::start(steps(
        "hello PIPELINING; mail; rcpt; < DATA
         > 250 2.1.0 Ok | 250 2.1.5 Ok | 354 go ahead
         body; close",
    ));
    let report = outbox.deliver_due_at(&server.config(), t0).unwrap();
    let cap = server.finish();
    assert_eq!(cap.bodies.len(), 1);
    let first = &report.messages[0];
    assert!(
        matches!(first.outcome, Outcome::Deferred { .. }),
        "{first:?}"
    );
    assert!(first.possible_duplicate);
    let entry = outbox.entry(&id).unwrap().unwrap();
    assert!(entry.possible_duplicate);
    assert_eq!(entry.attempts, 1);
    // Retried: at least once, never zero.
    let server = ScriptedServer::start(steps("hello PIPELINING; pipelined; quit"));
    let report = outbox
        .deliver_due_at(&server.config(), t0 + secs(61))
        .unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(report.messages[0].outcome, Outcome::Delivered);
    assert!(report.messages[0].possible_duplicate, "still flagged");
    assert_eq!(marker_of(&cap.bodies[0]).as_deref(), Some("unknown-1"));
    assert!(outbox.list().unwrap().is_empty());
}

#[test]
fn past_its_lifetime_a_message_fails_its_open_recipients_with_4_4_7() {
    let outbox = outbox("expiry", |p| p.lifetime = secs(3600));
    let id = enqueue(&outbox, FROM, &[A, B], "expiry-1");
    let t0 = SystemTime::now();
    // A is taken, B deferred.
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING, ENHANCEDSTATUSCODES; mail; rcpt {A}; rcpt {B}; < DATA
         > 250 2.1.0 Ok | 250 2.1.5 Ok | 452 4.2.2 mailbox full | 354 go ahead
         body; > 250 2.0.0 Ok; quit"
    )));
    outbox.deliver_due_at(&server.config(), t0).unwrap();
    server.finish().assert_clean();
    // Two hours later: B fails without another attempt; the bounce goes out.
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING, ENHANCEDSTATUSCODES; {NOTIFICATION}; quit"
    )));
    let report = outbox
        .deliver_due_at(&server.config(), t0 + secs(7200))
        .unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(report.messages[0].id, id);
    assert_eq!(report.messages[0].outcome, Outcome::Bounced);
    assert_eq!(cap.count_lines("MAIL FROM:<sender"), 0, "not tried again");
    let dsn = String::from_utf8(cap.bodies[0].clone()).unwrap();
    assert!(
        dsn.contains(&format!(
            "Final-Recipient: rfc822; {B}\r\nAction: failed\r\nStatus: 4.4.7\r\n"
        )),
        "{dsn}"
    );
    assert!(!dsn.contains(&format!("Final-Recipient: rfc822; {A}")));
    assert!(outbox.list().unwrap().is_empty());
}

#[test]
fn a_held_message_is_not_delivered_until_released() {
    let outbox = outbox("held", |_| {});
    let held = enqueue(&outbox, FROM, &[TO], "held-1");
    let free = enqueue(&outbox, FROM, &[TO], "free-1");
    outbox.hold(&held).unwrap();
    let catcher = Catcher::start();
    let report = outbox.flush(&catcher.config()).unwrap();
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].id, free);
    let report = outbox.deliver_due(&catcher.config()).unwrap();
    assert!(report.messages.is_empty());
    let entry = outbox.entry(&held).unwrap().unwrap();
    assert!(entry.held);
    assert_eq!(entry.attempts, 0);
    let markers: Vec<String> = catcher
        .messages()
        .iter()
        .filter_map(|m| marker_of(&m.body))
        .collect();
    assert_eq!(markers, ["free-1"]);
    outbox.release(&held).unwrap();
    let report = outbox.deliver_due(&catcher.config()).unwrap();
    assert_eq!(report.done(), 1);
    assert_eq!(catcher.messages().len(), 2);
    assert!(outbox.list().unwrap().is_empty());
}

#[test]
fn the_delay_warning_is_sent_once() {
    let outbox = outbox("warning", |p| p.warn_after = Some(secs(1800)));
    enqueue(&outbox, FROM, &[TO], "warn-1");
    let t0 = SystemTime::now();
    let greylisted = refused_once("450 4.2.1 greylisted").replace("rset; quit", "rset");
    // Young: no warning.
    let server = ScriptedServer::start(steps(&format!("{greylisted}; quit")));
    let report = outbox.deliver_due_at(&server.config(), t0).unwrap();
    server.finish().assert_clean();
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].notification, None);
    // Forty minutes: deferred again, and the warning goes out in the run.
    let server = ScriptedServer::start(steps(&format!("{greylisted}; {NOTIFICATION}; quit")));
    let report = outbox
        .deliver_due_at(&server.config(), t0 + secs(2400))
        .unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(report.messages.len(), 2, "{report:?}");
    assert!(report.messages[0].notification.is_some());
    let warning = String::from_utf8(cap.bodies[0].clone()).unwrap();
    assert!(
        warning.contains(&format!(
            "Final-Recipient: rfc822; {TO}\r\nAction: delayed\r\n"
        )),
        "{warning}"
    );
    assert!(warning.contains("Subject: Delayed Mail"), "{warning}");
    // Three hours: deferred once more, no second warning.
    let server = ScriptedServer::start(steps(&format!("{greylisted}; quit")));
    let report = outbox
        .deliver_due_at(&server.config(), t0 + secs(3 * 3600))
        .unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(report.messages.len(), 1, "{report:?}");
    assert_eq!(report.messages[0].notification, None);
    assert_eq!(cap.count_lines("MAIL FROM:<>"), 0);
    assert_eq!(outbox.list().unwrap().len(), 1);
}

#[test]
fn two_runners_on_one_spool_never_deliver_a_message_twice() {
    let dir = spool_dir("tworunners");
    let outbox = Outbox::open(&dir).unwrap();
    let count = 200;
    for i in 0..count {
        enqueue(&outbox, FROM, &[TO], &format!("two-{i}"));
    }
    let catcher = Catcher::start();
    let runners: Vec<_> = (0..2)
        .map(|_| {
            let (dir, config) = (dir.clone(), catcher.config());
            thread::spawn(move || Outbox::open(dir).unwrap().flush(&config).unwrap())
        })
        .collect();
    let reports: Vec<_> = runners.into_iter().map(|r| r.join().unwrap()).collect();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for report in &reports {
        for m in &report.messages {
            if m.outcome == Outcome::Delivered {
                *per_id.entry(m.id.to_string()).or_default() += 1;
            } else {
                assert_eq!(m.outcome, Outcome::Busy, "{m:?}");
            }
        }
    }
    assert_eq!(per_id.len(), count);
    assert!(per_id.values().all(|&n| n == 1));
    let mut per_marker: HashMap<String, usize> = HashMap::new();
    for m in catcher.messages() {
        *per_marker.entry(marker_of(&m.body).unwrap()).or_default() += 1;
    }
    assert_eq!(per_marker.len(), count);
    assert!(per_marker.values().all(|&n| n == 1), "a message went twice");
    assert!(outbox.list().unwrap().is_empty());
    // Both runners did some of the work (on two cores they overlap).
    let by_runner: Vec<usize> = reports.iter().map(|r| r.done()).collect();
    eprintln!("two runners delivered {by_runner:?}");
}

#[test]
fn queued_dsn_parameters_survive_the_spool_and_notify_never_gets_no_bounce() {
    let outbox = outbox("dsn-params", |_| {});
    let env = Envelope::new(FROM, [A, B, C])
        .unwrap()
        .with_dsn_return(smtp_core::DsnReturn::Headers)
        .with_envelope_id("q+1")
        .unwrap()
        .with_recipient_notify(A, smtp_core::Notify::SUCCESS | smtp_core::Notify::FAILURE)
        .unwrap()
        .with_recipient_notify(B, smtp_core::Notify::NEVER)
        .unwrap()
        .with_original_recipient(B, "list@example.test")
        .unwrap()
        .with_original_recipient(C, "orig-c@example.test")
        .unwrap();
    let id = outbox
        .enqueue(&env, &mut marked_message("dsn-params", 3).as_slice())
        .unwrap();
    // Read back from the spool by a second handle: the state file carries them.
    let reopened = Outbox::open(outbox.dir()).unwrap().with_policy(no_jitter());
    drop(outbox);
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING, ENHANCEDSTATUSCODES, DSN
         < MAIL FROM:<{FROM}> RET=HDRS ENVID=q+2B1
         < RCPT TO:<{A}> NOTIFY=SUCCESS,FAILURE
         < RCPT TO:<{B}> NOTIFY=NEVER ORCPT=rfc822
         < RCPT TO:<{C}> ORCPT=rfc822
         < DATA
         > 250 2.1.0 Ok | 250 2.1.5 Ok | 550 5.1.1 <{B}>: User unknown | 550 5.1.1 <{C}>: User unknown | 354 go ahead
         body; > 250 2.0.0 Ok: queued as 4F3A
         {NOTIFICATION}
         quit"
    )));
    let report = reopened.deliver_due(&server.config()).unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies.len(), 2, "the message and one bounce");
    assert!(cap.received_text().contains(&format!(
        "RCPT TO:<{B}> NOTIFY=NEVER ORCPT=rfc822;list@example.test\r\n"
    )));
    assert_eq!(report.messages.len(), 2, "{report:?}");
    let first = &report.messages[0];
    assert_eq!((&first.id, &first.outcome), (&id, &Outcome::Bounced));
    assert!(first.notification.is_some());
    // The bounce names C only (B asked for none), with the ENVID and C's ORCPT.
    let dsn = String::from_utf8(cap.bodies[1].clone()).unwrap();
    assert!(dsn.contains("Original-Envelope-Id: q+2B1\r\n"), "{dsn}");
    assert!(
        dsn.contains(&format!(
            "Original-Recipient: rfc822;orig-c@example.test\r\nFinal-Recipient: rfc822; {C}\r\n"
        )),
        "{dsn}"
    );
    assert!(
        !dsn.contains(&format!("Final-Recipient: rfc822; {B}")),
        "{dsn}"
    );
}
