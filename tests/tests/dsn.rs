//! Envelope extensions on the wire and through Postfix: DSN (`RET`,
//! `ENVID`, `NOTIFY`, `ORCPT`, RFC 3461), REQUIRETLS (RFC 8689) and
//! MT-PRIORITY (RFC 6710). The scripted server checks the exact command
//! lines and what happens when the server lacks an extension; the real
//! Postfix checks that a success notification comes back carrying the
//! ENVID and ORCPT given, and that NOTIFY=NEVER means no bounce.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_core::{DsnReturn, Envelope, Error, Message, Notify, Security};
use smtp_tests::driver::Client;
use smtp_tests::script::Session;
use smtp_tests::skip::skipped;
use smtp_tests::support::{FROM, TO};
use smtp_tests::support::{PASSWORD, USER};
use smtp_tests::testbed::TestBed;
use smtp_tests::tls_support::{auth_plain_ok, starttls_then, tls_config, unrelated_ca_pem, Pki};

const MESSAGE: &[u8] = b"Subject: dsn\r\n\r\nHello.\r\n";
const TO2: &str = "second@example.test";

/// What a `<` step can expect of `line`: the script language ends a step
/// at `;`, so the part before it (the tests check whole lines after).
fn escaped(line: &str) -> &str {
    line.split(';').next().unwrap_or(line)
}

/// The lock-step transaction after `mail_line` and `rcpt_lines`, then QUIT.
fn lock_step(extensions: &str, mail_line: &str, rcpt_lines: &[&str]) -> String {
    let mut script = format!(
        "hello {extensions}; < {}; > 250 2.1.0 Ok; ",
        escaped(mail_line)
    );
    for line in rcpt_lines {
        script += &format!("< {}; > 250 2.1.5 Ok; ", escaped(line));
    }
    script += "< DATA; > 354 go ahead; body; > 250 2.0.0 Ok: queued as D5N1; quit";
    script
}

/// Every line in `lines` was received whole (CRLF-terminated).
#[track_caller]
fn assert_lines(received: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            received.contains(&format!("{line}\r\n")),
            "{line:?} not received whole in:\n{received}"
        );
    }
}

#[test]
fn dsn_parameters_go_on_the_wire_xtext_encoded() {
    let envelope = Envelope::new(FROM, [TO, TO2])
        .unwrap()
        .with_dsn_return(DsnReturn::Headers)
        .with_envelope_id("batch+7=x y")
        .unwrap()
        .with_recipient_notify(TO, Notify::SUCCESS | Notify::FAILURE)
        .unwrap()
        .with_recipient_notify(TO2, Notify::NEVER)
        .unwrap()
        .with_original_recipient(TO, "list+tag@example.test")
        .unwrap()
        .with_original_recipient(TO2, "用户@例子.test")
        .unwrap();
    let mail = format!("MAIL FROM:<{FROM}> RET=HDRS ENVID=batch+2B7+3Dx+20y");
    let rcpt1 =
        format!("RCPT TO:<{TO}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;list+2Btag@example.test");
    let rcpt2 = format!(
        "RCPT TO:<{TO2}> NOTIFY=NEVER ORCPT=utf-8;\\x{{7528}}\\x{{6237}}@\\x{{4F8B}}\\x{{5B50}}.test"
    );
    let script = lock_step("DSN", &mail, &[&rcpt1, &rcpt2]);
    let (report, cap) =
        Session::new(&script).run(|client| client.send_bytes(&envelope, MESSAGE).expect("sent"));
    assert!(report.omitted_extensions.is_empty());
    assert_lines(&cap.received_text(), &[&mail, &rcpt1, &rcpt2]);
}

#[test]
fn notify_for_every_recipient_and_priority_when_offered() {
    let envelope = Envelope::new(FROM, [TO])
        .unwrap()
        .with_notify(Notify::DELAY | Notify::FAILURE)
        .unwrap()
        .with_dsn_return(DsnReturn::Full)
        .with_priority(-4)
        .unwrap();
    let mail = format!("MAIL FROM:<{FROM}> RET=FULL MT-PRIORITY=-4");
    let rcpt = format!("RCPT TO:<{TO}> NOTIFY=FAILURE,DELAY");
    let script = lock_step("DSN, MT-PRIORITY", &mail, &[&rcpt]);
    let (report, cap) =
        Session::new(&script).run(|client| client.send_bytes(&envelope, MESSAGE).expect("sent"));
    assert!(report.omitted_extensions.is_empty());
    assert_lines(&cap.received_text(), &[&mail, &rcpt]);
}

#[test]
fn without_dsn_offered_the_send_fails_before_anything_is_sent() {
    let envelope = Envelope::new(FROM, [TO])
        .unwrap()
        .with_notify(Notify::SUCCESS)
        .unwrap();
    let (result, cap) =
        Session::new("hello PIPELINING; quit").run(|client| client.send_bytes(&envelope, MESSAGE));
    match result {
        Err(Error::Unsupported { extension, .. }) => assert_eq!(extension, "DSN"),
        other => panic!("expected Unsupported DSN, got {other:?}"),
    }
    assert!(!cap.received_text().contains("MAIL FROM"));
}

#[test]
fn without_dsn_offered_and_allowed_it_is_sent_without_and_reported() {
    let envelope = Envelope::new(FROM, [TO])
        .unwrap()
        .with_notify(Notify::SUCCESS)
        .unwrap()
        .with_envelope_id("abc")
        .unwrap()
        .with_priority(5)
        .unwrap()
        .with_dsn_if_offered(true);
    let notes = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = notes.clone();
    let mail = format!("MAIL FROM:<{FROM}>");
    let rcpt = format!("RCPT TO:<{TO}>");
    let script = lock_step("SIZE 1000000", &format!("{mail} SIZE="), &[&rcpt]);
    let (report, cap) = Session::new(&script)
        .config(move |server| {
            server.config().with_transcript(move |_, line| {
                sink.lock().unwrap().push(line.to_string());
            })
        })
        .run(|client| {
            client
                .send_bytes(&envelope.clone().with_size(MESSAGE.len() as u64), MESSAGE)
                .expect("sent")
        });
    assert_eq!(report.omitted_extensions, vec!["DSN", "MT-PRIORITY"]);
    let received = cap.received_text();
    assert_lines(
        &received,
        &[&format!("{mail} SIZE={}", MESSAGE.len()), &rcpt],
    );
    for word in ["NOTIFY", "ENVID", "MT-PRIORITY"] {
        assert!(!received.contains(word), "{word} sent: {received}");
    }
    let notes = notes.lock().unwrap().join("\n");
    assert!(notes.contains("does not offer DSN"), "{notes}");
    assert!(notes.contains("does not offer MT-PRIORITY"), "{notes}");
}

#[test]
fn batches_carry_each_messages_parameters_and_omissions() {
    let first = Envelope::new(FROM, [TO])
        .unwrap()
        .with_envelope_id("one")
        .unwrap();
    let second = Envelope::new(FROM, [TO])
        .unwrap()
        .with_recipient_notify(TO, Notify::NEVER)
        .unwrap()
        .with_priority(2)
        .unwrap();
    let script = format!(
        "hello PIPELINING, CHUNKING, DSN; \
         < MAIL FROM:<{FROM}> ENVID=one; < RCPT TO:<{TO}>; bdat; \
         < RSET; < MAIL FROM:<{FROM}>; < RCPT TO:<{TO}> NOTIFY=NEVER; bdat; \
         > 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 Ok: queued as A; \
         > 250 2.0.0 Ok | 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 Ok: queued as B; quit"
    );
    let (results, cap) = Session::new(&script).run(|client| {
        client.send_many_bytes(&[(first.clone(), MESSAGE), (second.clone(), MESSAGE)])
    });
    let reports: Vec<_> = results.into_iter().map(|r| r.expect("sent")).collect();
    assert!(reports[0].omitted_extensions.is_empty());
    assert_eq!(reports[1].omitted_extensions, vec!["MT-PRIORITY"]);
    assert_lines(
        &cap.received_text(),
        &[
            &format!("MAIL FROM:<{FROM}> ENVID=one"),
            &format!("RCPT TO:<{TO}> NOTIFY=NEVER"),
        ],
    );
}

#[test]
fn requiretls_is_refused_in_clear_before_anything_is_sent() {
    let envelope = Envelope::new(FROM, [TO]).unwrap().with_require_tls(true);
    let (result, cap) = Session::new("hello REQUIRETLS, PIPELINING; quit")
        .run(|client| client.send_bytes(&envelope, MESSAGE));
    match result {
        Err(Error::Unsupported { extension, reason }) => {
            assert_eq!(extension, "REQUIRETLS");
            assert!(reason.contains("TLS session"), "{reason}");
        }
        other => panic!("expected Unsupported REQUIRETLS, got {other:?}"),
    }
    assert!(!cap.received_text().contains("MAIL FROM"));
}

#[test]
fn requiretls_goes_out_over_tls_when_offered_and_is_refused_when_not() {
    let pki = Pki::new();
    let envelope = Envelope::new(FROM, [TO]).unwrap().with_require_tls(true);
    let mail = format!("MAIL FROM:<{FROM}> REQUIRETLS");
    let script = format!(
        "{}; {}; < {mail}; > 250 2.1.0 Ok; < RCPT TO:<{TO}>; > 250 2.1.5 Ok; \
         < DATA; > 354 go; body; > 250 2.0.0 Ok: queued as R1; quit",
        starttls_then("", "AUTH PLAIN, REQUIRETLS"),
        auth_plain_ok()
    );
    let sent = envelope.clone();
    let cap = pki.session(&script, Security::StartTls, move |client| {
        client.send_bytes(&sent, MESSAGE).expect("sent");
    });
    assert!(cap.tls.is_some());

    // Over TLS, but the server does not offer REQUIRETLS.
    let script = format!(
        "{}; {}; quit",
        starttls_then("", "AUTH PLAIN"),
        auth_plain_ok()
    );
    let refused = envelope.clone();
    let cap = pki.session(&script, Security::StartTls, move |client| {
        match client.send_bytes(&refused, MESSAGE) {
            Err(Error::Unsupported { extension, .. }) => assert_eq!(extension, "REQUIRETLS"),
            other => panic!("expected Unsupported REQUIRETLS, got {other:?}"),
        }
    });
    assert!(cap.tls.is_some());

    // Offered over TLS, but the certificate was not checked (RFC 8689
    // 4.2.1 wants it verified): refused too.
    let script = format!(
        "{}; {}; quit",
        starttls_then("", "AUTH PLAIN, REQUIRETLS"),
        auth_plain_ok()
    );
    let (result, cap) = Session::new(&script)
        .tls(pki.server.server_config())
        .config(|server| {
            tls_config(server, "localhost", Security::StartTls, &unrelated_ca_pem())
                .dangerous_accept_invalid_certs(true)
                .with_password(USER, PASSWORD)
        })
        .run(move |client| client.send_bytes(&envelope, MESSAGE));
    match result {
        Err(Error::Unsupported { extension, reason }) => {
            assert_eq!(extension, "REQUIRETLS");
            assert!(reason.contains("verified"), "{reason}");
        }
        other => panic!("expected Unsupported REQUIRETLS, got {other:?}"),
    }
    assert!(!cap.received_text().contains("MAIL FROM"));
}

#[test]
fn bad_extension_values_are_invalid_input() {
    let base = || Envelope::new(FROM, [TO]).unwrap();
    let invalid = |r: smtp_core::Result<Envelope>, what: &str| match r {
        Err(Error::InvalidInput { .. }) => {}
        other => panic!("{what}: expected InvalidInput, got {other:?}"),
    };
    invalid(
        base().with_notify(Notify::NEVER | Notify::SUCCESS),
        "never+success",
    );
    invalid(
        base().with_recipient_notify("other@example.test", Notify::SUCCESS),
        "not a recipient",
    );
    // The domain's case does not matter (the local part's does).
    let upper = base()
        .with_recipient_notify("rcpt@EXAMPLE.test", Notify::DELAY)
        .expect("the same recipient");
    assert_eq!(
        upper.recipient_params(TO).unwrap().notify,
        Some(Notify::DELAY)
    );
    invalid(
        base().with_recipient_notify("RCPT@example.test", Notify::SUCCESS),
        "another local part",
    );
    invalid(
        base().with_original_recipient(TO, "no domain"),
        "orcpt without domain",
    );
    invalid(
        base().with_original_recipient(TO, "a@b.test>\r\nRCPT TO:<x@y.test"),
        "orcpt with CRLF",
    );
    invalid(base().with_envelope_id(&"=".repeat(40)), "envid too long");
    invalid(base().with_envelope_id(""), "empty envid");
    invalid(
        base().with_envelope_id("id\r\nX-Injected: yes"),
        "envid with CRLF",
    );
    invalid(base().with_envelope_id("é"), "non-ASCII envid");
    invalid(base().with_priority(12), "priority out of range");
    assert!(matches!(
        Notify::parse("never,delay"),
        Err(Error::InvalidInput { .. })
    ));
    let mut message = Message::new();
    assert!(message.notify(Notify::NEVER | Notify::DELAY).is_err());
    assert!(message.original_recipient(TO, "x\ny@z.test").is_err());
    assert!(message.envelope_id(&"+".repeat(34)).is_err());
}

/// Waits for the queue id's `removed` line, then counts the bounce
/// daemon's lines for it.
fn notifications_for(bed: &TestBed, offset: u64, queue_id: &str, what: &str) -> usize {
    bed.wait_for_log_count(
        offset,
        &[&format!("{queue_id}: removed")],
        1,
        Duration::from_secs(30),
        Duration::from_millis(200),
    )
    .expect("the message leaves the queue");
    bed.count_in_log(offset, &[&format!("{queue_id}: "), what])
        .expect("read the log")
}

/// The queue id in Postfix's `250 2.0.0 Ok: queued as ID`.
fn queue_id(report: &smtp_core::SendReport) -> String {
    report
        .reply
        .text()
        .rsplit(' ')
        .next()
        .expect("a queue id")
        .to_string()
}

#[test]
fn postfix_returns_a_success_notification_with_the_envid_and_orcpt() {
    let Some(bed) = TestBed::get() else {
        return skipped("SMTP_TESTBED_ENV not set: real-server test");
    };
    let marker = TestBed::unique_marker("dsn-success");
    let sender = format!("{marker}@{}", bed.domain);
    let to = format!("dsn-rcpt@{}", bed.domain);
    let original = format!("original-{marker}@{}", bed.domain);
    let mut message = Message::new();
    message
        .from(&sender)
        .unwrap()
        .to(&to)
        .unwrap()
        .subject(&format!("success {marker}"))
        .unwrap()
        .text("Tell me when it arrives.")
        .recipient_notify(&to, Notify::SUCCESS)
        .unwrap()
        .original_recipient(&to, &original)
        .unwrap()
        .envelope_id(&marker)
        .unwrap()
        .dsn_return(DsnReturn::Headers);
    let mut client = Client::connect(bed.plain_config(bed.port_plain)).expect("connect");
    let report = client.send_message(&message).expect("sent");
    assert!(report.omitted_extensions.is_empty());
    client.quit().expect("quit");
    // The message itself, and the notification (it quotes the marker in
    // its Original-Envelope-Id and the returned header).
    let found = bed
        .wait_for_messages(&marker, 2, Duration::from_secs(30))
        .expect("the message and its notification");
    let notification = found
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .find(|m| m.contains("multipart/report"))
        .expect("a delivery status notification");
    assert!(notification.contains(&format!("Original-Envelope-Id: {marker}")));
    assert!(
        notification.contains(&format!("Original-Recipient: rfc822;{original}")),
        "{notification}"
    );
    assert!(notification.contains("Action: delivered"), "{notification}");
    assert!(notification.contains(&format!("To: {sender}")));
}

#[test]
fn postfix_sends_no_bounce_for_notify_never_and_one_without_it() {
    let Some(bed) = TestBed::get() else {
        return skipped("SMTP_TESTBED_ENV not set: real-server test");
    };
    let marker = TestBed::unique_marker("dsn-never");
    let sender = format!("{marker}@{}", bed.domain);
    let never = Envelope::new(sender.clone(), [format!("undeliverable-a@{}", bed.domain)])
        .unwrap()
        .with_notify(Notify::NEVER)
        .unwrap();
    let control = Envelope::new(sender.clone(), [format!("undeliverable-b@{}", bed.domain)])
        .unwrap()
        .with_envelope_id(&format!("control-{marker}"))
        .unwrap();
    let body = format!("Subject: {marker}\r\n\r\nThis cannot be delivered.\r\n");
    let offset = bed.log_offset();
    let mut client = Client::connect(bed.plain_config(bed.port_plain)).expect("connect");
    let never_id = queue_id(
        &client
            .send_bytes(&never, body.as_bytes())
            .expect("accepted"),
    );
    let control_id = queue_id(
        &client
            .send_bytes(&control, body.as_bytes())
            .expect("accepted"),
    );
    client.quit().expect("quit");
    assert_eq!(
        notifications_for(bed, offset, &never_id, "non-delivery notification"),
        0,
        "NOTIFY=NEVER produced a bounce"
    );
    assert_eq!(
        notifications_for(bed, offset, &control_id, "non-delivery notification"),
        1,
        "the control message produced no bounce"
    );
    let bounce = bed
        .wait_for_message(&format!("control-{marker}"), Duration::from_secs(30))
        .expect("the control bounce arrives");
    assert!(String::from_utf8_lossy(&bounce).contains("Action: failed"));
}

#[test]
fn configuration_defaults_apply_to_messages_that_do_not_set_their_own() {
    // Raw bytes with an envelope that asks nothing: the defaults apply;
    // a recipient with its own NOTIFY keeps it.
    let plain = Envelope::new(FROM, [TO]).unwrap();
    let own = Envelope::new(FROM, [TO2])
        .unwrap()
        .with_recipient_notify(TO2, Notify::NEVER)
        .unwrap();
    let first_mail = format!("MAIL FROM:<{FROM}> RET=HDRS");
    let first_rcpt = format!("RCPT TO:<{TO}> NOTIFY=SUCCESS,FAILURE");
    let second_rcpt = format!("RCPT TO:<{TO2}> NOTIFY=NEVER");
    let script = format!(
        "hello DSN; < {first_mail}; > 250 2.1.0 Ok; < {first_rcpt}; > 250 2.1.5 Ok; \
         < DATA; > 354 go; body; > 250 2.0.0 Ok: queued as C1; \
         < {first_mail}; > 250 2.1.0 Ok; < {second_rcpt}; > 250 2.1.5 Ok; \
         < DATA; > 354 go; body; > 250 2.0.0 Ok: queued as C2; quit"
    );
    let (_, cap) = Session::new(&script)
        .config(|server| {
            let mut config = server.config();
            config.set("dsn_notify", "success,failure").unwrap();
            config.set("dsn_return", "hdrs").unwrap();
            config
        })
        .run(|client| {
            client.send_bytes(&plain, MESSAGE).expect("sent");
            client.send_bytes(&own, MESSAGE).expect("sent");
        });
    assert_lines(
        &cap.received_text(),
        &[&first_mail, &first_rcpt, &second_rcpt],
    );

    // Not offered: an error, unless dsn_if_offered is on.
    let (result, _) = Session::new("hello PIPELINING; quit")
        .config(|server| server.config().with_dsn_notify(Notify::FAILURE).unwrap())
        .run(|client| client.send_bytes(&plain, MESSAGE));
    assert!(
        matches!(
            result,
            Err(Error::Unsupported {
                extension: "DSN",
                ..
            })
        ),
        "{result:?}"
    );
    let (report, _) = Session::new(&lock_step(
        "8BITMIME",
        &format!("MAIL FROM:<{FROM}>"),
        &[&format!("RCPT TO:<{TO}>")],
    ))
    .config(|server| {
        server
            .config()
            .with_dsn_notify(Notify::FAILURE)
            .unwrap()
            .with_dsn_if_offered(true)
    })
    .run(|client| client.send_bytes(&plain, MESSAGE).expect("sent"));
    assert_eq!(report.omitted_extensions, vec!["DSN"]);

    // REQUIRETLS and MT-PRIORITY for every message, by name.
    let (result, cap) = Session::new("hello REQUIRETLS, PIPELINING; quit")
        .config(|server| {
            let mut config = server.config();
            config.set("requiretls", "on").unwrap();
            config
        })
        .run(|client| client.send_bytes(&plain, MESSAGE));
    assert!(
        matches!(
            result,
            Err(Error::Unsupported {
                extension: "REQUIRETLS",
                ..
            })
        ),
        "{result:?}"
    );
    assert!(!cap.received_text().contains("MAIL FROM"));
    let mail = format!("MAIL FROM:<{FROM}> MT-PRIORITY=3");
    let (_, cap) = Session::new(&lock_step(
        "MT-PRIORITY",
        &mail,
        &[&format!("RCPT TO:<{TO}>")],
    ))
    .config(|server| {
        let mut config = server.config();
        config.set("mt_priority", "3").unwrap();
        config
    })
    .run(|client| client.send_bytes(&plain, MESSAGE).expect("sent"));
    assert_lines(&cap.received_text(), &[&mail]);

    // Bad values are refused by name.
    let mut config = smtp_core::Config::default();
    for (key, value) in [
        ("dsn_notify", "never,success"),
        ("dsn_notify", "often"),
        ("dsn_return", "all"),
        ("dsn_if_offered", "maybe"),
        ("requiretls", "perhaps"),
        ("mt_priority", "10"),
        ("mt_priority", "urgent"),
    ] {
        match config.set(key, value) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, key),
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    assert!(
        smtp_core::Config::from_url("smtp://h.example?dsn_notify=delay&dsn_return=full").is_ok()
    );
}
