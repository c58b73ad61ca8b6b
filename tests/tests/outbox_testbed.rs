//! The outbox against the real Postfix of the test bed: a relay that is
//! down while 1,000 messages are queued from 8 threads, then up (all
//! arrive in the Maildir once), and a bounce for a recipient Postfix
//! refuses reaching the sender's Maildir with the RFC 3464 fields.

use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use smtp_core::outbox::Outcome;
use smtp_core::{Config, Envelope, Outbox, Security, Timeouts};
use smtp_tests::outbox_support::{marked_message, spool_dir};
use smtp_tests::testbed::TestBed;

/// The bed's port without AUTH (mail for the test domain from anybody).
fn noauth(bed: &TestBed) -> Config {
    Config::new(bed.host.clone(), bed.port_noauth)
        .with_security(Security::None)
        .with_client_name("client.example.test")
        .with_timeouts(Timeouts::uniform(Duration::from_secs(20)))
}

#[test]
fn a_relay_down_then_up_gets_all_1000_messages_once() {
    let Some(bed) = TestBed::get() else { return };
    let dir = spool_dir("bed-down-up");
    Outbox::open(&dir).unwrap();
    let base = TestBed::unique_marker("outbox");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (dir, base) = (dir.clone(), base.clone());
            thread::spawn(move || {
                let outbox = Outbox::open(dir).unwrap();
                for i in 0..125 {
                    // Fixed width, closed: no marker is a part of another.
                    let marker = format!("{base}-{:04}x", t * 125 + i);
                    let env = Envelope::new("sender@example.test", ["rcpt@example.test"]).unwrap();
                    outbox
                        .enqueue(&env, &mut marked_message(&marker, 10).as_slice())
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let outbox = Outbox::open(&dir).unwrap();
    assert_eq!(outbox.list().unwrap().len(), 1000);
    // The relay is down: a port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = noauth(bed).with_port(closed);
    let report = outbox.deliver_due(&down).unwrap();
    assert_eq!(report.deferred(), 1000);
    assert_eq!(outbox.list().unwrap().len(), 1000);
    // Up again: the real Postfix.
    let report = outbox.flush(&noauth(bed)).unwrap();
    assert_eq!(report.done(), 1000, "{:?}", &report.messages[..3]);
    assert!(outbox.list().unwrap().is_empty());
    let markers: Vec<String> = (0..1000).map(|n| format!("{base}-{n:04}x")).collect();
    let wanted: Vec<(&str, usize)> = markers.iter().map(|m| (m.as_str(), 1)).collect();
    let found = bed
        .wait_for_markers(&wanted, Duration::from_secs(180))
        .unwrap();
    for (marker, copies) in markers.iter().zip(&found) {
        assert_eq!(copies.len(), 1, "{marker} arrived {} times", copies.len());
        let text = String::from_utf8_lossy(&copies[0]);
        assert!(text.contains(&format!("Message-ID: <{marker}@example.test>")));
    }
}

#[test]
fn a_recipient_postfix_refuses_is_bounced_to_the_senders_maildir() {
    let Some(bed) = TestBed::get() else { return };
    let outbox = Outbox::open(spool_dir("bed-bounce")).unwrap();
    let marker = TestBed::unique_marker("outbox-bounce");
    let refused = format!("reject-{}@example.test", marker.to_ascii_lowercase());
    let env = Envelope::new(
        "sender@example.test",
        ["rcpt@example.test", refused.as_str()],
    )
    .unwrap();
    outbox
        .enqueue(&env, &mut marked_message(&marker, 10).as_slice())
        .unwrap();
    let report = outbox.flush(&noauth(bed)).unwrap();
    assert_eq!(report.messages.len(), 2, "{report:?}");
    assert_eq!(report.messages[0].outcome, Outcome::Bounced);
    assert_eq!(report.messages[1].outcome, Outcome::Delivered);
    // The message (to rcpt@) and the bounce (to sender@, quoting its header).
    let found = bed
        .wait_for_messages(&marker, 2, Duration::from_secs(30))
        .unwrap();
    assert_eq!(found.len(), 2);
    let bounce = found
        .iter()
        .map(|m| TestBed::parse_delivered(m))
        .find(|d| d.envelope_from.as_deref() == Some(""))
        .expect("a bounce with the null sender");
    assert!(bounce
        .delivered_to
        .iter()
        .any(|a| a == "sender@example.test"));
    let text = String::from_utf8_lossy(&bounce.raw).replace("\r\n", "\n");
    for needle in [
        format!("Final-Recipient: rfc822; {refused}\nAction: failed\nStatus: 5.1.1\n"),
        format!("Diagnostic-Code: smtp; 550 5.1.1 <{refused}>: Recipient address rejected"),
        "Content-Type: multipart/report; report-type=delivery-status;".to_string(),
        format!("Message-ID: <{marker}@example.test>"),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in\n{text}");
    }
    assert!(!text.contains("Final-Recipient: rfc822; rcpt@example.test"));
}
