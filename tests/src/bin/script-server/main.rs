//! `script-server SCENARIO`: runs one named script of the scripted
//! fault-injection server (tests/src/scripted.rs) for a client in another
//! process: the C tests and the PHP binding's tests. The scenarios of the
//! bindings' error-mapping tests are in `faults.rs`; `script-server capture
//! [OPTIONS]`, the capturing mode of the PHP hardening tests (many
//! connections, STARTTLS attacks, a report of every byte), is in
//! `capture/` and documented there; the outbox tests' scenarios are in
//! `outbox.rs`; the OAuth 2.0 token tests' scenarios, which serve several
//! connections in turn (the report has one `connected` line and its
//! lines per connection, then one `end`), are in `token.rs`.
//!
//! It prints `port N` (and `ca PATH`, a PEM file of the test CA, for the
//! TLS scenarios) on standard output, flushes, serves one connection (a
//! client has 10 s to connect), then prints what it saw and exits:
//!
//! ```text
//! connected 1
//! line EHLO client.test        (each command line the client sent)
//! body ok 1234                 (each DATA body: well formed, its size)
//! body bad <reason>            (...or what is wrong with it: a bare CR or
//!                              LF, an early end of data, no terminator)
//! error ...                    (each deviation from the script)
//! end
//! ```
//!
//! The exit status is 0 when the script ran as written, 1 when it did not,
//! 2 for a bad scenario name. `script-server --list` lists the scenarios.

mod capture;
mod faults;
mod outbox;
mod token;

use std::io::Write;

use smtp_tests::scripted::{
    ehlo_reply, expect, greeting, hello, raw, reply, tls::TestCa, Capture, ScriptedServer, Step,
};
use smtp_tests::scripted_sequence::ScriptedSequence;
use smtp_tests::support::{data_content, hangup, one_message_script, quit_steps, script, FROM, TO};

/// Scenarios by name, with what each is for.
const SCENARIOS: &[(&str, &str)] = &[
    (
        "starttls-ok",
        "STARTTLS (test CA, certificate for 127.0.0.1), AUTH PLAIN accepted, QUIT",
    ),
    (
        "starttls-injection",
        "a 250 line injected right after the 220 to STARTTLS",
    ),
    (
        "starttls-missing",
        "STARTTLS not offered (AUTH PLAIN offered in clear)",
    ),
    ("starttls-454", "STARTTLS answered 454"),
    ("plain-fail", "AUTH PLAIN answered 535"),
    ("login-fail", "AUTH LOGIN: both prompts, then 535"),
    ("xoauth2-ok", "AUTH XOAUTH2 accepted, QUIT"),
    (
        "xoauth2-fail",
        "AUTH XOAUTH2: an error JSON challenge, then 535",
    ),
    (
        "one-message",
        "one message from sender@ to rcpt@example.test, QUIT",
    ),
    (
        "dsn-offered",
        "DSN and MT-PRIORITY offered; one message (any parameters), QUIT",
    ),
    (
        "dsn-missing",
        "nothing offered; one message (any parameters), QUIT",
    ),
    ("dsn-refused", "nothing offered; QUIT only (no message)"),
];

fn scenario(name: &str) -> Option<(Vec<Step>, bool)> {
    let auth_fail = |mech: &str, middle: Vec<Step>| {
        let mut steps = hello(&[&format!("AUTH {mech}")]);
        steps.push(expect(&format!("AUTH {mech}")));
        steps.extend(middle);
        steps.extend([reply("535 5.7.8 Authentication failed"), hangup()]);
        steps
    };
    Some(match name {
        "starttls-ok" => (
            script(vec![
                vec![greeting(), expect("EHLO "), ehlo_reply(&["STARTTLS"])],
                vec![expect("STARTTLS"), reply("220 2.0.0 Ready"), Step::StartTls],
                vec![expect("EHLO "), ehlo_reply(&["AUTH PLAIN"])],
                vec![expect("AUTH PLAIN "), reply("235 2.7.0 Accepted")],
                quit_steps(),
            ]),
            true,
        ),
        "starttls-injection" => (
            script(vec![
                hello(&["STARTTLS", "AUTH PLAIN"]),
                vec![
                    expect("STARTTLS"),
                    raw(b"220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n"),
                    hangup(),
                ],
            ]),
            false,
        ),
        "starttls-missing" => (script(vec![hello(&["AUTH PLAIN"]), vec![hangup()]]), false),
        "starttls-454" => (
            script(vec![
                hello(&["STARTTLS", "AUTH PLAIN"]),
                vec![
                    expect("STARTTLS"),
                    reply("454 4.7.0 TLS not available"),
                    hangup(),
                ],
            ]),
            false,
        ),
        "plain-fail" => (auth_fail("PLAIN", vec![]), false),
        "login-fail" => (
            auth_fail(
                "LOGIN",
                vec![
                    reply("334 VXNlcm5hbWU6"),
                    Step::ExpectAny,
                    reply("334 UGFzc3dvcmQ6"),
                    Step::ExpectAny,
                ],
            ),
            false,
        ),
        "xoauth2-ok" => (
            script(vec![
                hello(&["AUTH XOAUTH2"]),
                vec![expect("AUTH XOAUTH2 "), reply("235 2.7.0 Accepted")],
                quit_steps(),
            ]),
            false,
        ),
        "xoauth2-fail" => (
            auth_fail(
                "XOAUTH2",
                // {"status":"401","schemes":"bearer"}
                vec![
                    reply("334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0="),
                    Step::ExpectAny,
                ],
            ),
            false,
        ),
        "one-message" => (one_message_script(&[], FROM, &[TO], false), false),
        "dsn-offered" => (
            one_message_script(&["DSN", "MT-PRIORITY"], FROM, &[TO], false),
            false,
        ),
        "dsn-missing" => (one_message_script(&[], FROM, &[TO], false), false),
        "dsn-refused" => (script(vec![hello(&[]), quit_steps()]), false),
        _ => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().cloned().unwrap_or_default();
    if name == "--list" {
        for (name, what) in SCENARIOS
            .iter()
            .chain(faults::SCENARIOS)
            .chain(outbox::SCENARIOS)
            .chain(token::SCENARIOS)
        {
            println!("{name:<20} {what}");
        }
        println!(
            "{:<20} the capturing server (see capture/mod.rs)",
            "capture [OPTIONS]"
        );
        return;
    }
    if name == "capture" {
        let options = capture::Options::parse(&args[1..]).unwrap_or_else(|e| {
            eprintln!("script-server capture: {e}");
            std::process::exit(2);
        });
        if let Err(e) = capture::run(&options) {
            eprintln!("script-server capture: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Some(scripts) = token::sequence(&name) {
        let scripts: Vec<&str> = scripts.iter().map(String::as_str).collect();
        let sequence = ScriptedSequence::start(&scripts);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "port {}", sequence.port());
        let _ = out.flush();
        let caps = sequence.wait(scripts.len());
        for cap in &caps {
            report(&mut out, cap);
        }
        let _ = writeln!(out, "end");
        let _ = out.flush();
        std::process::exit(i32::from(caps.iter().any(|c| !c.errors.is_empty())));
    }
    let scripted = scenario(&name)
        .or_else(|| faults::scenario(&name).map(|s| (s, false)))
        .or_else(|| outbox::scenario(&name).map(|s| (s, false)));
    let Some((steps, tls)) = scripted else {
        eprintln!("script-server: unknown scenario {name:?} (see --list)");
        std::process::exit(2);
    };
    let mut out = std::io::stdout().lock();
    let server = if tls {
        let ca = TestCa::new();
        let cert = ca.issue(&["127.0.0.1", "localhost"]);
        let path =
            std::env::temp_dir().join(format!("script-server-ca-{}.pem", std::process::id()));
        std::fs::write(&path, ca.ca_pem()).expect("write the CA file");
        let server = ScriptedServer::start_with_tls(steps, cert.server_config());
        let _ = writeln!(out, "port {}\nca {}", server.port(), path.display());
        server
    } else {
        let server = ScriptedServer::start(steps);
        let _ = writeln!(out, "port {}", server.port());
        server
    };
    let _ = out.flush();
    let cap = server.wait();
    report(&mut out, &cap);
    let _ = writeln!(out, "end");
    let _ = out.flush();
    std::process::exit(i32::from(!cap.errors.is_empty()));
}

/// Prints what the server saw on one connection.
fn report(out: &mut impl Write, cap: &Capture) {
    let _ = writeln!(out, "connected {}", u8::from(cap.connected));
    for line in &cap.lines {
        let _ = writeln!(out, "line {}", line.escape_debug());
    }
    for body in &cap.bodies {
        match data_content(body) {
            Ok(content) => {
                let _ = writeln!(out, "body ok {}", content.len());
            }
            Err(e) => {
                let _ = writeln!(out, "body bad {}", e.escape_debug());
            }
        }
    }
    for error in &cap.errors {
        let _ = writeln!(out, "error {}", error.escape_debug());
    }
}
