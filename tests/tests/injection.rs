//! Header and command injection, proved on the wire: CR, LF, CRLF (with
//! and without a whole command after it) and NUL put into every field of
//! the Rust API.
//!
//! * Connection settings (EHLO name, host, user, password, token, authzid,
//!   TLS server name, URL user and password): `Client::connect` refuses
//!   with `Error::InvalidInput` and the scripted server sees no
//!   connection at all.
//! * Envelope addresses and every `Message` setter (addresses, subject,
//!   header names and values, ids, file names, content types, content
//!   ids, encoded words that decode to a line break): refused with
//!   `Error::InvalidInput` on a live session; then the same session sends
//!   a good message, and the server sees exactly EHLO, MAIL, RCPT, DATA,
//!   one well-formed body and QUIT, with no trace of the injected text
//!   (so the refused call sent nothing and added nothing).

use std::path::PathBuf;

use smtp_core::{Attachment, Config, Credentials, Envelope, Error, Message, Security};
use smtp_tests::driver::Client;
use smtp_tests::scripted::{hello, ScriptedServer, CLIENT_NAME};
use smtp_tests::support::{
    bare_line_breaks, contains, data_content, hangup, mail_line, one_message_script, rcpt_line,
    FROM, TO,
};

/// What every injected value carries, to be looked for on the wire.
const TOKEN: &str = "INJECTED";

/// The injections: a name and the bytes put into a value.
const INJECTIONS: &[(&str, &str)] = &[
    ("CR", "\r"),
    ("LF", "\n"),
    ("CRLF", "\r\n"),
    ("NUL", "\0"),
    ("CRLF+command", "\r\nRCPT TO:<injected@evil.test>\r\n"),
    ("CRLF+header", "\r\nBcc: injected@evil.test\r\n"),
];

/// `base` with `injection` and [`TOKEN`] put in the middle (after `at`
/// characters) and at the end.
fn variants(base: &str, injection: &str) -> [String; 2] {
    let at = base
        .char_indices()
        .nth(base.len().min(3))
        .map_or(base.len(), |(i, _)| i);
    [
        format!("{}{injection}{TOKEN}{}", &base[..at], &base[at..]),
        format!("{base}{injection}{TOKEN}"),
    ]
}

// ----- connection settings --------------------------------------------------------

type ConfigCase = (&'static str, &'static str, fn(Config, &str) -> Config);

/// Settings that must be refused before connecting: (field, a valid base
/// value, how to set it).
const CONFIG_CASES: &[ConfigCase] = &[
    ("client name (EHLO)", "client.test", |c, v| {
        c.with_client_name(v)
    }),
    ("AUTH user", "alice@example.test", |c, v| {
        c.with_password(v, "secret")
    }),
    ("password", "secret-password", |c, v| {
        c.with_password("alice@example.test", v)
    }),
    ("token user", "alice@example.test", |c, v| {
        c.with_bearer_token(v, "ya29.token")
    }),
    ("bearer token", "ya29.token", |c, v| {
        c.with_bearer_token("alice@example.test", v)
    }),
    ("authzid", "admin", |c, v| {
        c.with_credentials(Credentials::password("alice@example.test", "secret").with_authzid(v))
    }),
    ("TLS server name", "mx.test", |c, v| {
        c.with_security(Security::StartTls).with_tls_server_name(v)
    }),
    ("host", "127.0.0.1", |c, v| {
        let port = c.port();
        Config::new(v, port)
            .with_security(Security::None)
            .with_client_name(CLIENT_NAME)
    }),
];

fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Connects with `config` to a server that would take anything; the
/// connect must fail with InvalidInput and the server see nobody.
fn refused_before_connecting(server: ScriptedServer, config: Config) -> Result<(), String> {
    let result = Client::connect(config);
    let cap = server.finish();
    match result {
        Err(Error::InvalidInput { .. }) if !cap.connected => Ok(()),
        Err(Error::InvalidInput { .. }) => Err(format!(
            "refused, but only after connecting; the server got {:?}",
            cap.received_text()
        )),
        Err(e) => Err(format!("refused with {e:?}, not InvalidInput")),
        Ok(_) => Err(format!(
            "accepted; the server got {:?}",
            cap.received_text()
        )),
    }
}

fn open_server() -> ScriptedServer {
    let mut script = hello(&["AUTH PLAIN LOGIN XOAUTH2", "STARTTLS", "PIPELINING"]);
    script.push(hangup());
    ScriptedServer::start(script)
}

#[test]
fn control_characters_in_connection_settings_are_refused_before_connecting() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for (field, base, set) in CONFIG_CASES {
        for (name, injection) in INJECTIONS {
            for value in variants(base, injection) {
                cases += 1;
                let server = open_server();
                let config = set(server.config(), &value);
                if let Err(e) = refused_before_connecting(server, config) {
                    failures.push(format!("{field} with {name} ({value:?}): {e}"));
                }
            }
        }
    }
    // The same through a URL, percent-encoded as legacy code builds them.
    for (name, injection) in INJECTIONS {
        for (field, user, password) in [
            (
                "URL user",
                format!("al{injection}{TOKEN}ice"),
                "pw".to_string(),
            ),
            (
                "URL password",
                "alice".to_string(),
                format!("p{injection}{TOKEN}w"),
            ),
        ] {
            cases += 1;
            let server = open_server();
            let url = format!(
                "smtp://{}:{}@127.0.0.1:{}?security=none",
                percent(&user),
                percent(&password),
                server.port()
            );
            let result = Config::from_url(&url).map(|c| c.with_client_name(CLIENT_NAME));
            let outcome = match result {
                Err(Error::InvalidInput { .. }) => {
                    let cap = server.finish();
                    if cap.connected {
                        Err("connected".to_string())
                    } else {
                        Ok(())
                    }
                }
                Err(e) => Err(format!("from_url gave {e:?}")),
                Ok(config) => refused_before_connecting(server, config),
            };
            if let Err(e) = outcome {
                failures.push(format!("{field} with {name}: {e}"));
            }
        }
    }
    assert_eq!(
        cases,
        CONFIG_CASES.len() * INJECTIONS.len() * 2 + INJECTIONS.len() * 2
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases not refused before connecting:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ----- envelope and message fields, on a live session --------------------------------

/// A valid message from [`FROM`] to [`TO`] that the bad setter is tried on.
fn base_message() -> Message {
    let mut m = Message::new();
    m.from(FROM).unwrap().to(TO).unwrap();
    m.subject("injection test").unwrap();
    m.text("The body.\n");
    m
}

/// What a case may do with the bad value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// `Error::InvalidInput`.
    Refused,
    /// `Error::InvalidInput`, or accepted and encoded so that no line
    /// break of it reaches the wire (checked on the wire).
    RefusedOrEncoded,
}

type MessageCase = (
    &'static str,
    &'static str,
    Expect,
    fn(&mut Message, &str) -> smtp_core::Result<()>,
);

fn attachment_file() -> PathBuf {
    let path = std::env::temp_dir().join(format!("injection-{}.txt", std::process::id()));
    std::fs::write(&path, b"attached\n").unwrap();
    path
}

const MESSAGE_CASES: &[MessageCase] = &[
    ("envelope MAIL FROM", FROM, Expect::Refused, |_, v| {
        Envelope::new(v, [TO]).map(drop)
    }),
    ("envelope RCPT TO", TO, Expect::Refused, |_, v| {
        Envelope::new(FROM, [v]).map(drop)
    }),
    (
        "From",
        "Alice <alice@example.test>",
        Expect::Refused,
        |m, v| m.from(v).map(drop),
    ),
    ("Sender", "alice@example.test", Expect::Refused, |m, v| {
        m.sender(v).map(drop)
    }),
    ("To", "bob@example.test", Expect::Refused, |m, v| {
        m.to(v).map(drop)
    }),
    (
        "Cc",
        "Carol <carol@example.test>",
        Expect::Refused,
        |m, v| m.cc(v).map(drop),
    ),
    ("Bcc", "dave@example.test", Expect::Refused, |m, v| {
        m.bcc(v).map(drop)
    }),
    (
        "Reply-To",
        "replies@example.test",
        Expect::Refused,
        |m, v| m.reply_to(v).map(drop),
    ),
    ("Subject", "Quarterly report", Expect::Refused, |m, v| {
        m.subject(v).map(drop)
    }),
    ("header name", "X-Custom", Expect::Refused, |m, v| {
        m.header(v, "value").map(drop)
    }),
    ("header value", "some value", Expect::Refused, |m, v| {
        m.header("X-Custom", v).map(drop)
    }),
    (
        "header value via Subject",
        "Report",
        Expect::Refused,
        |m, v| m.header("Subject", v).map(drop),
    ),
    (
        "Message-ID",
        "<id1@example.test>",
        Expect::Refused,
        |m, v| m.message_id(v).map(drop),
    ),
    (
        "In-Reply-To",
        "<id2@example.test>",
        Expect::Refused,
        |m, v| m.in_reply_to(v).map(drop),
    ),
    (
        "References",
        "<id3@example.test>",
        Expect::Refused,
        |m, v| m.references(v).map(drop),
    ),
    ("envelope_from", FROM, Expect::Refused, |m, v| {
        m.envelope_from(v).map(drop)
    }),
    ("envelope_to", TO, Expect::Refused, |m, v| {
        m.envelope_to(v).map(drop)
    }),
    (
        "attachment file name",
        "report.pdf",
        Expect::Refused,
        |m, v| m.attach_bytes(v, b"x".to_vec()).map(drop),
    ),
    (
        "attachment content type",
        "text/plain",
        Expect::Refused,
        |m, v| {
            m.attach(
                Attachment::bytes(b"x".to_vec())
                    .filename("a.txt")
                    .content_type(v),
            )
            .map(drop)
        },
    ),
    (
        "attached file display name",
        "report.txt",
        Expect::Refused,
        |m, v| {
            m.attach(Attachment::file(attachment_file()).filename(v))
                .map(drop)
        },
    ),
    (
        "attached file content type",
        "text/plain",
        Expect::Refused,
        |m, v| {
            m.attach(Attachment::file(attachment_file()).content_type(v))
                .map(drop)
        },
    ),
    ("inline content id", "logo", Expect::Refused, |m, v| {
        m.inline(v, Attachment::bytes(b"x".to_vec())).map(drop)
    }),
    ("inline file name", "logo.png", Expect::Refused, |m, v| {
        m.inline("logo", Attachment::bytes(b"x".to_vec()).filename(v))
            .map(drop)
    }),
    (
        "inline content type",
        "image/png",
        Expect::Refused,
        |m, v| {
            m.inline("logo", Attachment::bytes(b"x".to_vec()).content_type(v))
                .map(drop)
        },
    ),
    (
        "inline file content type",
        "text/plain",
        Expect::Refused,
        |m, v| {
            m.inline("logo", Attachment::file(attachment_file()).content_type(v))
                .map(drop)
        },
    ),
    (
        "file name from the path on disk",
        "report.txt",
        Expect::RefusedOrEncoded,
        |m, v| {
            let dir = std::env::temp_dir().join(format!("injection-dir-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(v.replace(['\0', '/'], "_"));
            std::fs::write(&path, b"attached\n").unwrap();
            m.attach_file(&path).map(drop)
        },
    ),
];

/// Encoded words whose decoded text holds a line break: refused, or kept
/// encoded (never decoded onto the wire).
const ENCODED_CASES: &[MessageCase] = &[
    (
        "Subject, Q-encoded CRLF",
        "",
        Expect::RefusedOrEncoded,
        |m, v| {
            m.subject(&format!("=?UTF-8?Q?x=0D=0ABcc:_{v}@evil.test?="))
                .map(drop)
        },
    ),
    (
        "Subject, B-encoded CRLF",
        "",
        Expect::RefusedOrEncoded,
        |m, v| {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD
                .encode(format!("x\r\nBcc: {v}@evil.test"));
            m.subject(&format!("=?UTF-8?B?{b}?=")).map(drop)
        },
    ),
    (
        "header value, Q-encoded LF",
        "",
        Expect::RefusedOrEncoded,
        |m, v| {
            m.header("X-Custom", &format!("=?UTF-8?Q?x=0ABcc:_{v}@evil.test?="))
                .map(drop)
        },
    ),
    (
        "display name, Q-encoded CRLF",
        "",
        Expect::RefusedOrEncoded,
        |m, v| {
            m.cc(&format!("=?UTF-8?Q?x=0D=0ABcc:_{v}?= <carol@example.test>"))
                .map(drop)
        },
    ),
];

/// Tries `set` with `value` on a live session, then sends the base message
/// on it; returns the problems found on the wire.
fn message_case(
    expect: Expect,
    set: fn(&mut Message, &str) -> smtp_core::Result<()>,
    value: &str,
) -> Vec<String> {
    let server = ScriptedServer::start(one_message_script(&[], FROM, &[TO], false));
    let mut client = Client::connect(server.config()).expect("connect");
    let mut message = base_message();
    let result = set(&mut message, value);
    let mut problems = Vec::new();
    match (&result, expect) {
        (Err(Error::InvalidInput { reason, .. }), _) => {
            if reason.contains(TOKEN) && (value.contains('\r') || value.contains('\n')) {
                problems.push(format!("the error repeats the raw value: {reason:?}"));
            }
        }
        (Ok(()), Expect::RefusedOrEncoded) => {}
        (other, _) => problems.push(format!("setter gave {other:?}")),
    }
    let sent = client.send_message(&message);
    let quit = client.quit();
    let cap = server.finish();
    if let Err(e) = sent {
        problems.push(format!("the good message after it failed: {e:?}"));
    }
    if let Err(e) = quit {
        problems.push(format!("QUIT failed: {e:?}"));
    }
    if !cap.errors.is_empty() {
        problems.push(format!("server: {:?}", cap.errors));
    }
    let lines = [
        format!("EHLO {CLIENT_NAME}"),
        mail_line(FROM),
        rcpt_line(TO),
        "DATA".to_string(),
        "QUIT".to_string(),
    ];
    if cap.lines != lines {
        problems.push(format!("commands: {:?}", cap.lines));
    }
    let body = cap.bodies.first().cloned().unwrap_or_default();
    match data_content(&body) {
        Ok(content) => {
            let header_end = content
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(content.len());
            let header = &content[..header_end];
            let injected_field = header
                .split(|&b| b == b'\n')
                .any(|l| l.starts_with(b"Bcc:") || l.starts_with(TOKEN.as_bytes()));
            if injected_field {
                problems.push(format!(
                    "an injected header field: {:?}",
                    String::from_utf8_lossy(header)
                ));
            }
            if result.is_err() && contains(&content, TOKEN.as_bytes()) {
                problems.push("the refused value is in the message".into());
            }
        }
        Err(e) => problems.push(format!("body: {e}")),
    }
    let bare = bare_line_breaks(&cap.received);
    if !bare.is_empty() {
        problems.push(format!("bare CR/LF on the wire at {bare:?}"));
    }
    problems
}

#[test]
fn control_characters_in_envelope_and_message_fields_are_refused_on_a_live_session() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for (field, base, expect, set) in MESSAGE_CASES {
        for (name, injection) in INJECTIONS {
            for value in variants(base, injection) {
                cases += 1;
                for p in message_case(*expect, *set, &value) {
                    failures.push(format!("{field} with {name} ({value:?}): {p}"));
                }
            }
        }
    }
    assert_eq!(cases, MESSAGE_CASES.len() * INJECTIONS.len() * 2);
    assert!(
        failures.is_empty(),
        "{} problems in {cases} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn encoded_words_that_decode_to_line_breaks_never_reach_the_wire_decoded() {
    let mut failures = Vec::new();
    for (field, _, expect, set) in ENCODED_CASES {
        for p in message_case(*expect, *set, TOKEN) {
            failures.push(format!("{field}: {p}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The raw path: a message the caller formatted goes out as data, so an
/// injected line there is body text, never a command; with the envelope
/// taken from the headers, an address that a header line break turned
/// into a second field is just another header.
#[test]
fn raw_message_lines_never_become_commands() {
    let raw = format!(
        "From: <{FROM}>\r\nTo: <{TO}>\r\nSubject: x\r\n\r\nbody\r\nRCPT TO:<{TOKEN}@evil.test>\r\n.\r\nMAIL FROM:<{TOKEN}@evil.test>\r\n"
    );
    let server = ScriptedServer::start(one_message_script(&[], FROM, &[TO], false));
    let mut client = Client::connect(server.config()).expect("connect");
    client.send_raw(None, &mut raw.as_bytes()).expect("send");
    client.quit().expect("quit");
    let cap = server.finish();
    cap.assert_clean();
    assert_eq!(cap.count_lines("MAIL FROM"), 1, "{:?}", cap.lines);
    assert_eq!(cap.count_lines("RCPT TO"), 1, "{:?}", cap.lines);
    let content = data_content(&cap.bodies[0]).unwrap();
    assert!(contains(
        &content,
        b"\r\n.\r\nMAIL FROM:<INJECTED@evil.test>\r\n"
    ));
    assert!(
        contains(&cap.bodies[0], b"\r\n..\r\n"),
        "the lone dot is stuffed"
    );
}
