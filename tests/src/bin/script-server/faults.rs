//! The scenarios of the bindings' error-mapping tests (the PHP suite's
//! ExceptionsTest and TranscriptTest): a server that never greets, one
//! that greets with garbage, a refused sender, no SMTPUTF8 on offer, a
//! connection dropped once the message went out, and batches (the C and
//! PHP batch tests) that fail in the middle of a pipelined window. Each
//! serves one connection like the other scenarios of this program.

use std::time::Duration;

use smtp_tests::script::steps;
use smtp_tests::scripted::{converse, expect, hello, raw, reply, Answer, Step};
use smtp_tests::support::hangup;

/// These scenarios by name, with what each is for.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("silent", "accepts the connection and never greets"),
    ("busy", "greets with 421 4.3.2 and closes (relay failover)"),
    ("garbage", "greets with a line that is not SMTP"),
    (
        "reject-mail",
        "MAIL FROM answered 553 5.7.1 (sender rejected)",
    ),
    ("no-smtputf8", "EHLO offers 8BITMIME but not SMTPUTF8"),
    (
        "drop-after-data",
        "takes one message, then closes without a reply to its end",
    ),
    (
        "batch-421",
        "a batch of 4 (PIPELINING, CHUNKING): #0 queued, #1's recipient refused, \
         421 and close before #2",
    ),
    (
        "batch-drop",
        "a batch of 3 (PIPELINING, CHUNKING): #0 queued, then closes before the \
         replies to #1 and #2",
    ),
];

/// How long the silent server waits for the client to give up.
const SILENT_FOR: Duration = Duration::from_secs(10);

/// The extensions of the EHLO reply (but for `no-smtputf8`).
const EXTENSIONS: &[&str] = &["8BITMIME", "SMTPUTF8"];

/// The script of the scenario `name`, if it is one of [`SCENARIOS`].
pub fn scenario(name: &str) -> Option<Vec<Step>> {
    Some(match name {
        "silent" => vec![Step::ExpectClose(SILENT_FOR)],
        "busy" => vec![reply("421 4.3.2 Too busy, try another server"), hangup()],
        "garbage" => vec![raw(b"this is not SMTP\r\n"), hangup()],
        "reject-mail" => {
            let mut steps = hello(EXTENSIONS);
            steps.extend([
                expect("MAIL FROM:"),
                reply("553 5.7.1 <sender>: Sender address rejected: not allowed here"),
                wind_down(),
                hangup(),
            ]);
            steps
        }
        "no-smtputf8" => {
            let mut steps = hello(&["8BITMIME"]);
            steps.extend([wind_down(), hangup()]);
            steps
        }
        "drop-after-data" => {
            let mut steps = hello(EXTENSIONS);
            steps.extend([
                expect("MAIL FROM:"),
                reply("250 2.1.0 Ok"),
                expect("RCPT TO:"),
                reply("250 2.1.5 Ok"),
                expect("DATA"),
                reply("354 End data with <CR><LF>.<CR><LF>"),
                Step::ReadData,
                Step::Close,
            ]);
            steps
        }
        // Every message of a window is written before any reply: MAIL,
        // RCPT and BDAT LAST, each but the first behind an RSET.
        "batch-421" => steps(&format!(
            "hello PIPELINING, CHUNKING; {}\
             > 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 Ok: queued as Q0; \
             > 250 2.0.0 Ok | 250 2.1.0 Ok | 550 5.1.1 <rcpt@example.test>: Recipient refused \
             | 554 5.5.1 Error: no valid recipients; \
             > 421 4.7.0 Too busy, closing; close",
            batch_commands(4)
        )),
        "batch-drop" => steps(&format!(
            "hello PIPELINING, CHUNKING; {}\
             > 250 2.1.0 Ok | 250 2.1.5 Ok | 250 2.0.0 Ok: queued as Q0; close",
            batch_commands(3)
        )),
        _ => return None,
    })
}

/// What a client writes for a BDAT window of `n` one-recipient messages.
fn batch_commands(n: usize) -> String {
    (0..n)
        .map(|i| {
            if i == 0 {
                "mail; rcpt; bdat; "
            } else {
                "< RSET; mail; rcpt; bdat; "
            }
        })
        .collect()
}

/// What a client may send once its transaction failed: RSET and NOOP are
/// answered 250, QUIT 221 (which ends the step), anything else 502.
fn wind_down() -> Step {
    converse(20, |line| {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "RSET" | "NOOP" => Answer::Reply(b"250 2.0.0 Ok\r\n".to_vec()),
            "QUIT" => Answer::ReplyAndEnd(b"221 2.0.0 Bye\r\n".to_vec()),
            _ => Answer::Reply(b"502 5.5.2 Error: command not recognized\r\n".to_vec()),
        }
    })
}
