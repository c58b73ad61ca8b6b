//! Fault injection for the envelope against the scripted server: MAIL
//! FROM and RCPT TO refused (in lock-step and pipelined), recipient
//! policies, the extensions a message needs (SIZE, SMTPUTF8, 8BITMIME)
//! missing or declared, control characters in addresses and names, and
//! how commands are pipelined. Each test checks the error's class and the
//! exact lines the client sent (RSET where a transaction is abandoned, no
//! body after a refused envelope).

use smtp_core::{Envelope, Error, RecipientPolicy};
use smtp_tests::driver::Client;
use smtp_tests::fault_tests;
use smtp_tests::scripted::ScriptedServer;
use smtp_tests::support::{
    connect, connect_err, envelope, on_the_wire, steps, transaction_lines, wire, Fault, Lines,
    EHLO, FROM, MAIL, RCPT, SMALL_MESSAGE as MESSAGE, TO,
};

const A: &str = "a@example.test";
const B: &str = "b@example.test";
const C: &str = "c@example.test";

/// `EHLO`, the lines of `transactions` (MAIL, RCPT..., DATA each), then
/// `tail`.
fn lines(transactions: &[&[&str]], tail: &[&str]) -> Vec<String> {
    let mut v = vec![EHLO.to_string()];
    for to in transactions {
        v.extend(transaction_lines(to));
    }
    v.extend(tail.iter().map(|l| l.to_string()));
    v
}

// ----- refused envelopes, table-driven ------------------------------------------------

/// A transaction the server refuses: the script, the recipients, the
/// error's class, the lines the server read (QUIT included: the session
/// survives) and the bodies it read.
type Refused<'a> = (
    &'a str,
    &'a [&'a str],
    &'a str,
    &'a [&'a str],
    &'a [&'a [u8]],
);

fn refused(name: &str, (script, to, class, sent, bodies): Refused) -> Error {
    let (err, cap) = Fault::new(name, script).fails(class).session(|client| {
        let env = Envelope::new(FROM, to.iter().copied()).unwrap();
        let err = client.send_bytes(&env, MESSAGE).unwrap_err();
        assert!(client.is_connected(), "{name}");
        err
    });
    assert_eq!(cap.received_text(), wire(sent), "{name}");
    assert_eq!(cap.bodies, bodies, "{name}");
    err
}

fault_tests! { refused;
    mail_from_refused_but_data_354_sends_an_empty_message_then_rset: (
        "hello PIPELINING; mail; rcpt; < DATA
         > 550 5.7.1 sender refused | 503 5.5.1 need MAIL | 354 go ahead
         body; > 503 5.5.1 no transaction; rset; quit",
        &[TO],
        "Rejected MailFrom 550",
        &[EHLO, MAIL, RCPT, "DATA", ".", "RSET", "QUIT"],
        &[b".\r\n"],
    ),
    all_recipients_refused_but_data_354_sends_an_empty_message_then_rset: (
        "hello PIPELINING; mail; rcpt a@example.test; < DATA
         > 250 2.1.0 Ok | 550 5.1.1 no such user | 354 go ahead
         body; > 554 5.5.1 no valid recipients; rset; quit",
        &[A],
        "RecipientsRefused 1",
        &[EHLO, MAIL, "RCPT TO:<a@example.test>", "DATA", ".", "RSET", "QUIT"],
        // RFC 2920: an empty message.
        &[b".\r\n"],
    ),
    mail_from_550_pipelined_is_rejected_then_rset: (
        "hello PIPELINING; < MAIL FROM:; < RCPT TO:; < DATA
         > 550 5.7.1 sender refused | 503 5.5.1 need MAIL | 503 5.5.1 need RCPT
         rset; quit",
        &[TO],
        "Rejected MailFrom 550",
        &[EHLO, MAIL, RCPT, "DATA", "RSET", "QUIT"],
        &[],
    ),
}

#[test]
fn mail_from_550_is_rejected_then_rset_and_session_usable() {
    let (_, cap) = Fault::new(
        "MAIL 550",
        "hello; < MAIL FROM:; > 550 5.7.1 sender refused; rset; < NOOP; > 250 2.0.0 Ok; quit",
    )
    .fails("Rejected MailFrom 550")
    .session(|client| {
        let err = client.send_bytes(&envelope(), MESSAGE).unwrap_err();
        assert!(client.is_connected());
        client.noop().unwrap();
        err
    });
    assert_eq!(
        cap.received_text(),
        wire(&[EHLO, MAIL, "RSET", "NOOP", "QUIT"])
    );
}

#[test]
fn one_refused_recipient_of_three_is_reported_and_the_message_delivered() {
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING, ENHANCEDSTATUSCODES; mail; rcpt {A}; rcpt {B}; rcpt {C}; < DATA
         > 250 2.1.0 Ok | 250 2.1.5 Ok | 550 5.1.1 <b@example.test>: Recipient address rejected | 250 2.1.5 Ok | 354 go ahead
         body; > 250 2.0.0 Ok: queued as 4F3A; quit"
    )));
    let mut client = connect(server.config());
    let env = Envelope::new(FROM, [A, B, C]).unwrap();
    let report = client.send_bytes(&env, MESSAGE).unwrap();
    let summary: Vec<(String, u16, bool)> = report
        .recipients
        .iter()
        .map(|r| (r.address.clone(), r.reply.code(), r.accepted()))
        .collect();
    assert_eq!(
        summary,
        [
            (A.to_string(), 250, true),
            (B.to_string(), 550, false),
            (C.to_string(), 250, true)
        ]
    );
    let refused: Vec<_> = report.refused().collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].reply.enhanced().unwrap().to_string(), "5.1.1");
    assert_eq!(
        refused[0].reply.text(),
        "<b@example.test>: Recipient address rejected"
    );
    assert_eq!(report.accepted().count(), 2);
    assert!(!report.all_accepted());
    assert_eq!(report.reply.code(), 250);
    assert_eq!(report.reply.text(), "Ok: queued as 4F3A");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE)]);
}

#[test]
fn all_or_nothing_with_one_refused_sends_no_data() {
    let script = format!(
        "hello PIPELINING; mail; rcpt {A}; rcpt {B}; rcpt {C}
         > 250 2.1.0 Ok | 250 2.1.5 Ok | 450 4.2.0 <b@example.test>: greylisted | 250 2.1.5 Ok
         rset; quit"
    );
    let (err, cap) = Fault::new("all or nothing", &script)
        .config(|s| {
            s.config()
                .with_recipient_policy(RecipientPolicy::AllOrNothing)
        })
        .fails("RecipientsRefused 1")
        .session(|client| {
            let env = Envelope::new(FROM, [A, B, C]).unwrap();
            client.send_bytes(&env, MESSAGE).unwrap_err()
        });
    match &err {
        Error::RecipientsRefused { refused } => {
            assert_eq!(refused[0].address, B);
            assert_eq!(refused[0].reply.code(), 450);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_transient());
    assert!(cap.bodies.is_empty());
    let rcpts = [A, B, C].map(|a| format!("RCPT TO:<{a}>"));
    assert_eq!(
        cap.received_text(),
        wire(&[EHLO, MAIL, &rcpts[0], &rcpts[1], &rcpts[2], "RSET", "QUIT"])
    );
}

#[test]
fn all_recipients_refused_pipelined_data_554_then_rset_and_next_message_works() {
    let script = format!(
        "hello PIPELINING; mail; rcpt {A}; rcpt {B}; < DATA
         > 250 2.1.0 Ok | 550 5.1.1 no such user | 550 5.1.1 no such user | 554 5.5.1 Error: no valid recipients
         rset; pipelined {C}; quit"
    );
    let (err, cap) = Fault::new("all refused", &script)
        .fails("RecipientsRefused 2")
        .session(|client| {
            let err = client
                .send_bytes(&Envelope::new(FROM, [A, B]).unwrap(), MESSAGE)
                .unwrap_err();
            assert!(client.is_connected());
            let report = client
                .send_bytes(&Envelope::new(FROM, [C]).unwrap(), MESSAGE)
                .unwrap();
            assert!(report.all_accepted());
            err
        });
    match &err {
        Error::RecipientsRefused { refused } => {
            let who: Vec<&str> = refused.iter().map(|r| r.address.as_str()).collect();
            assert_eq!(who, [A, B]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE)]);
    let mut expected = lines(&[&[A, B]], &["RSET"]);
    expected.extend(transaction_lines(&[C]));
    expected.push("QUIT".into());
    assert_eq!(cap.lines, expected);
}

// ----- what the message needs, table-driven ----------------------------------------------

/// A message the server cannot take (its extensions are `offered`):
/// `attempt` must fail before anything is sent, with this class; only
/// EHLO and QUIT go out and the session stays usable.
fn refused_before_mail(
    name: &str,
    (offered, class, attempt): (&str, &str, fn(&mut Client) -> Error),
) {
    let (_, cap) = Fault::new(name, &format!("hello {offered}; quit"))
        .fails(class)
        .session(|client| {
            let err = attempt(client);
            assert!(client.is_connected(), "{name}");
            err
        });
    assert_eq!(cap.received_text(), wire(&[EHLO, "QUIT"]), "{name}");
}

const EIGHT_BIT: &[u8] = "Subject: café\r\n\r\nÀ bientôt.\r\n".as_bytes();

fault_tests! { refused_before_mail;
    message_over_the_size_limit_sends_nothing: ("SIZE 100, PIPELINING", "Unsupported SIZE", |client| {
        client.send_bytes(&envelope(), &Lines::bytes(101)).unwrap_err()
    }),
    utf8_address_without_smtputf8_sends_nothing: ("8BITMIME", "Unsupported SMTPUTF8", |client| {
        let env = Envelope::new("jörg@example.test", [TO]).unwrap();
        client.send_bytes(&env, MESSAGE).unwrap_err()
    }),
    eight_bit_body_without_8bitmime_sends_nothing: ("PIPELINING, SMTPUTF8", "Unsupported 8BITMIME", |client| {
        client.send_bytes(&envelope(), EIGHT_BIT).unwrap_err()
    }),
    control_characters_in_addresses_are_refused_and_nothing_is_sent:
        ("PIPELINING, SMTPUTF8", "NotConnected", |_client| {
            for bad in [
                "a@example.test\r\nRCPT TO:<evil@example.test>",
                "a\r@example.test",
                "a\n@example.test",
                "a\0@example.test",
                "a@example.test\r\n.\r\nMAIL FROM:<x@y.test>",
            ] {
                let err = Envelope::new(bad, [TO]).unwrap_err();
                let class = smtp_tests::support::class(&err);
                assert_eq!(class, "InvalidInput sender address", "{bad:?}: {err:?}");
                let err = Envelope::new(FROM, [TO, bad]).unwrap_err();
                let class = smtp_tests::support::class(&err);
                assert_eq!(class, "InvalidInput recipient address", "{bad:?}: {err:?}");
            }
            Error::NotConnected("nothing was attempted".into())
        }),
}

/// Sends `body` to `to` through a server whose script is `script`;
/// returns the capture.
fn delivered(script: &str, env: &Envelope, body: &[u8]) -> smtp_tests::scripted::Capture {
    let server = ScriptedServer::start(steps(script));
    let mut client = connect(server.config());
    client.send_bytes(env, body).unwrap();
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    cap
}

#[test]
fn size_is_declared_when_offered() {
    let cap = delivered("hello SIZE 10240; transaction; quit", &envelope(), MESSAGE);
    assert_eq!(cap.lines[1], format!("{MAIL} SIZE={}", MESSAGE.len()));
}

#[test]
fn utf8_address_with_smtputf8_is_sent_with_the_parameter() {
    let env = Envelope::new("jörg@bücher.test", ["δοκιμή@παράδειγμα.test"]).unwrap();
    let cap = delivered(
        "hello SMTPUTF8; < MAIL FROM:; > 250 2.1.0 Ok; < RCPT TO:; > 250 2.1.5 Ok
         < DATA; > 354 go ahead; body; > 250 2.0.0 Ok; quit",
        &env,
        MESSAGE,
    );
    assert_eq!(
        cap.received_text(),
        wire(&[
            EHLO,
            "MAIL FROM:<jörg@bücher.test> SMTPUTF8",
            "RCPT TO:<δοκιμή@παράδειγμα.test>",
            "DATA",
        ]) + std::str::from_utf8(&on_the_wire(MESSAGE)).unwrap()
            + "QUIT\r\n"
    );
}

#[test]
fn eight_bit_body_with_8bitmime_declares_it() {
    let cap = delivered(
        &format!(
            "hello 8BITMIME; < {MAIL} BODY=8BITMIME; > 250 Ok; rcpt; > 250 Ok
             < DATA; > 354 go; body; > 250 Ok; quit"
        ),
        &envelope(),
        EIGHT_BIT,
    );
    assert_eq!(cap.lines[1], format!("{MAIL} BODY=8BITMIME"));
    assert_eq!(cap.bodies, [on_the_wire(EIGHT_BIT)]);
}

#[test]
fn control_characters_in_the_client_name_are_refused_before_connecting() {
    let server = ScriptedServer::start(steps("hello; quit"));
    for name in ["evil\r\nMAIL FROM:<x@y.test>", "a\nb", "a\0b", "a b"] {
        let err = connect_err(server.config().with_client_name(name));
        let class = smtp_tests::support::class(&err);
        assert_eq!(class, "InvalidInput client name", "{name:?}: {err:?}");
    }
    let cap = server.finish();
    assert!(!cap.connected, "the client must not even connect");
    assert!(cap.received.is_empty());
}

// ----- pipelining ------------------------------------------------------------------------

#[test]
fn pipelined_envelope_is_sent_before_any_reply() {
    let server =
        ScriptedServer::start(steps(&format!("hello PIPELINING; pipelined {A} {B}; quit")));
    let mut client = connect(server.config());
    assert!(client.capabilities().pipelining);
    let report = client
        .send_bytes(&Envelope::new(FROM, [A, B]).unwrap(), MESSAGE)
        .unwrap();
    assert!(report.all_accepted());
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    let sent = lines(&[&[A, B]], &[]);
    let mut expected = wire(&sent.iter().map(String::as_str).collect::<Vec<_>>());
    expected += std::str::from_utf8(&on_the_wire(MESSAGE)).unwrap();
    expected += "QUIT\r\n";
    assert_eq!(cap.received_text(), expected);
}

#[test]
fn replies_split_byte_by_byte_are_understood() {
    let server = ScriptedServer::start(steps(
        r"slowly 220-mx.test ESMTP\r\n220 ready\r\n
          ehlo
          slowly 250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n
          mail; rcpt; < DATA
          slowly 250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n
          body; slowly 250 2.0.0 Ok: queued\r\n
          < QUIT; slowly 221 2.0.0 Bye\r\n; hangup",
    ));
    let mut client = connect(server.config());
    assert!(client.capabilities().pipelining && client.capabilities().eight_bit_mime);
    let report = client.send_bytes(&envelope(), MESSAGE).unwrap();
    assert_eq!(report.reply.text(), "Ok: queued");
    client.quit().unwrap();
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.bodies, [on_the_wire(MESSAGE)]);
}

#[test]
fn pipelining_disabled_sends_one_command_at_a_time() {
    let server = ScriptedServer::start(steps(&format!(
        "hello PIPELINING
         mail; silence 150ms; > 250 2.1.0 Ok
         rcpt {A}; silence 150ms; > 250 2.1.5 Ok
         rcpt {B}; silence 150ms; > 250 2.1.5 Ok
         < DATA; silence 150ms; > 354 go ahead
         body; > 250 2.0.0 Ok; quit"
    )));
    let mut client = connect(server.config().with_pipelining(false));
    client
        .send_bytes(&Envelope::new(FROM, [A, B]).unwrap(), MESSAGE)
        .unwrap();
    client.quit().unwrap();
    server.finish().assert_clean();
}
