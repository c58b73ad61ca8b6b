//! Fault injection for DATA and the body against the scripted server:
//! dot-stuffing, DATA refused or answered oddly, refusals and 421 after
//! the final dot, connections dropped or stalled during the body (a
//! certain failure) or after the final dot (delivery unknown), and body
//! readers that fail. Each test checks the error's class and what the
//! server read: no body after a refused DATA, never a final dot after a
//! failed read.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use smtp_core::{Error, Timeouts};
use smtp_tests::fault_tests;
use smtp_tests::scripted::ScriptedServer;
use smtp_tests::support::{
    assert_elapsed_below, connect, envelope, on_the_wire, steps, transaction_lines, Fault, Lines,
    EHLO, SMALL_MESSAGE as MESSAGE, TO,
};

/// The short per-phase timeout of the stall test.
const SHORT: Duration = Duration::from_millis(500);

/// A body that gives its `Lines` and then fails.
struct FailingBody {
    inner: Lines,
}

impl Read for FailingBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf)? {
            0 => Err(io::Error::other("disk on fire")),
            n => Ok(n),
        }
    }
}

/// EHLO and one transaction to [`TO`], then `tail`.
fn lines(tail: &[&str]) -> Vec<String> {
    let mut v = vec![EHLO.to_string()];
    v.extend(transaction_lines(&[TO]));
    v.extend(tail.iter().map(|l| l.to_string()));
    v
}

#[test]
fn body_is_dot_stuffed_and_line_endings_normalised() {
    let body: &[u8] = b"Subject: dots\r\n\r\n.hidden\r\nbare\nLF\n.\nMAIL FROM:<evil@x.test>\n\r\n.\r\nend\r.\rlast";
    let expected: &[u8] = b"Subject: dots\r\n\r\n..hidden\r\nbare\r\nLF\r\n..\r\nMAIL FROM:<evil@x.test>\r\n\r\n..\r\nend\r\n..\r\nlast\r\n.\r\n";
    let server = ScriptedServer::start(steps("hello PIPELINING; pipelined; quit"));
    let mut client = connect(server.config());
    client.send(&envelope(), &mut &body[..]).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(
        String::from_utf8_lossy(&cap.bodies[0]),
        String::from_utf8_lossy(expected)
    );
    // The smuggled command stayed inside the body.
    assert_eq!(cap.lines, lines(&["QUIT"]));
}

#[test]
fn empty_body_sends_only_the_terminator() {
    let server = ScriptedServer::start(steps("hello; transaction; quit"));
    let mut client = connect(server.config());
    client.send(&envelope(), &mut io::empty()).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [b".\r\n".to_vec()]);
}

// ----- DATA refused, table-driven -----------------------------------------------------

/// A message the server refuses at DATA or after the final dot, the
/// session going on: the script, the error's class, what follows the
/// transaction on the wire, and the bodies read.
type Refused<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a [u8]]);

fn data_refused(name: &str, (script, class, tail, bodies): Refused) -> Error {
    let (err, cap) = Fault::new(name, script).fails(class).session(|client| {
        let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
        assert!(client.is_connected(), "{name}");
        if tail.contains(&"NOOP") {
            assert_eq!(client.noop().unwrap().code(), 250, "{name}");
        }
        err
    });
    assert_eq!(cap.bodies, bodies, "{name}");
    assert_eq!(cap.lines, lines(tail), "{name}");
    err
}

/// The lock-step transaction up to DATA, its reply `reply`, then RSET.
fn lockstep_data_refused(reply: &str) -> String {
    format!("hello; mail; > 250 Ok; rcpt; > 250 Ok; < DATA; > {reply}; rset; quit")
}

fault_tests! { data_refused;
    data_answered_without_354_gets_no_body: (
        &lockstep_data_refused("250 2.0.0 Ok, whatever"),
        "Rejected Data 250",
        &["RSET", "QUIT"],
        &[],
    ),
    pipelined_data_refused_is_rejected_then_rset: (
        "hello PIPELINING; mail; rcpt; < DATA; > 250 Ok | 250 Ok | 554 5.3.4 no; rset; quit",
        "Rejected Data 554",
        &["RSET", "QUIT"],
        &[],
    ),
    refusal_after_the_final_dot_is_rejected_and_session_stays_usable: (
        "hello PIPELINING; mail; rcpt; < DATA; > 250 Ok | 250 Ok | 354 go ahead
         body; > 554 5.7.1 message looks like spam; < NOOP; > 250 2.0.0 Ok; quit",
        "Rejected EndOfData 554",
        &["NOOP", "QUIT"],
        &[&on_the_wire(MESSAGE)[..]],
    ),
}

#[test]
fn data_refused_is_rejected_then_rset() {
    // (reply to DATA, class, transient)
    let cases = [
        ("451 4.3.0 try again later", "Rejected Data 451", true),
        ("554 5.7.1 no DATA for you", "Rejected Data 554", false),
    ];
    for (reply, class, transient) in cases {
        let script = lockstep_data_refused(reply);
        let err = data_refused(reply, (&script, class, &["RSET", "QUIT"], &[]));
        assert_eq!(err.is_transient(), transient, "{reply}");
    }
}

// ----- the connection lost -------------------------------------------------------------

#[test]
fn reply_421_after_the_final_dot_closes_the_session() {
    let script = "hello; mail; > 250 Ok; rcpt; > 250 Ok; < DATA; > 354 go; body
                  > 421 4.3.2 shutting down; hangup";
    Fault::new("421 after the dot", script)
        .fails("Rejected EndOfData 421")
        .sends(&lines(&[])[..])
        .session(|client| {
            let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
            assert!(!client.is_connected());
            let again = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
            assert!(matches!(again, Error::NotConnected(_)), "{again:?}");
            err
        });
}

#[test]
fn server_dropping_during_the_body_is_a_certain_failure() {
    let script = "hello; mail; > 250 Ok; rcpt; > 250 Ok; < DATA; > 354 go; read 4096; close";
    // Writing the body failed, so the final dot never left: nothing can
    // have been delivered, and the error says so (not DeliveryUnknown).
    let (err, cap) = Fault::new("drop during the body", script)
        .fails("Io Body")
        .session(|client| {
            let err = client
                .send(&envelope(), &mut Lines::new(32 * 1024 * 1024))
                .unwrap_err();
            assert!(!client.is_connected());
            assert!(matches!(client.noop(), Err(Error::NotConnected(_))));
            err
        });
    assert!(err.is_transient());
    assert_eq!(cap.bodies[0], Lines::bytes(4096));
}

#[test]
fn server_dropping_after_the_final_dot_is_delivery_unknown() {
    let script =
        "hello PIPELINING; mail; rcpt; < DATA; > 250 Ok | 250 Ok | 354 go ahead; body; close";
    let (_, cap) = Fault::new("drop after the dot", script)
        .fails("DeliveryUnknown EndOfData (Io EndOfData)")
        .session(|client| {
            let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
            assert!(!client.is_connected());
            err
        });
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE)]);
}

#[test]
fn server_no_longer_reading_the_body_times_out_as_a_certain_failure() {
    // The data block timeout applies to each write (RFC 5321 4.5.3.2.5),
    // and on loopback a blocked write still makes a little progress now and
    // then (the kernel compacts the receive queue), so the client may need a
    // few timeouts in a row: the server stalls long enough for that.
    const STALL: Duration = Duration::from_secs(4);
    // Stop reading: the client's writes block once the buffers fill.
    let script =
        "hello; mail; > 250 Ok; rcpt; > 250 Ok; < DATA; > 354 go; read 4096; sleep 4s; close";
    // The final dot never left: a plain timeout, not DeliveryUnknown.
    Fault::new("stalled body", script)
        .config(|s| s.config().with_timeouts(Timeouts::uniform(SHORT)))
        .fails("Timeout Body 500ms")
        .session(|client| {
            let start = Instant::now();
            let mut body = Lines::new(256 * 1024 * 1024);
            let err = client.send(&envelope(), &mut body).unwrap_err();
            assert_elapsed_below(start, STALL - Duration::from_millis(500));
            // The body is streamed: the client read only a little more than
            // the socket buffers hold, not the whole 256 MiB.
            assert!(
                body.left() > 200 * 1024 * 1024,
                "{} bytes left",
                body.left()
            );
            assert!(!client.is_connected());
            err
        });
}

#[test]
fn body_read_error_never_terminates_the_message() {
    // Past the 1 MiB read before anything is sent, so the failure comes
    // in the middle of the body.
    const GOOD: usize = 3 * 1024 * 1024;
    let script =
        "hello PIPELINING; mail; rcpt; < DATA; > 250 Ok | 250 Ok | 354 go ahead; read-to-close";
    let (err, cap) = Fault::new("failing body", script)
        .fails("BodyRead")
        .closes()
        .session(|client| {
            let mut body = FailingBody {
                inner: Lines::new(GOOD),
            };
            let err = client.send(&envelope(), &mut body).unwrap_err();
            assert!(!client.is_connected());
            err
        });
    match &err {
        Error::BodyRead(e) => assert_eq!(e.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
    let got = &cap.bodies[0];
    // Part of the body went out (so the test means something), never the end.
    assert!(!got.is_empty() && got.len() <= GOOD, "{} bytes", got.len());
    assert_eq!(got[..], Lines::bytes(got.len())[..]);
    assert!(
        !got.windows(5).any(|w| w == b"\r\n.\r\n"),
        "the terminator was sent"
    );
    assert!(!got.ends_with(b".\r\n"));
}

#[test]
fn body_read_error_early_in_the_message_sends_nothing() {
    // The first 1 MiB is read before MAIL FROM: a failure there costs no
    // command, and the session stays usable.
    let (err, _) = Fault::new(
        "failing body early",
        "hello PIPELINING; < NOOP; > 250 2.0.0 Ok; quit",
    )
    .fails("BodyRead")
    .session(|client| {
        let mut body = FailingBody {
            inner: Lines::new(64 * 1024),
        };
        let err = client.send(&envelope(), &mut body).unwrap_err();
        assert!(client.is_connected());
        assert_eq!(client.noop().unwrap().code(), 250);
        err
    });
    match &err {
        Error::BodyRead(e) => assert_eq!(e.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
}
