//! The scenarios of the outbox tests of the C binding (test_outbox.c):
//! one message to three recipients answered 250, 451 and 550, then a
//! second connection on which only the deferred recipient is sent again
//! (the accepted one must not be), followed by the bounce about the
//! refused one, from the null sender to the message's sender. Each
//! serves one connection like the other scenarios of this program; any
//! line off the script (a recipient sent twice) is an error.

use smtp_tests::scripted::{expect, hello, reply, Step};
use smtp_tests::support::hangup;

/// The message's envelope sender.
const SENDER: &str = "sender@example.test";

/// These scenarios by name, with what each is for.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "outbox-partial",
        "one message from sender@ to ok@ (250), later@ (451) and bad@ (550) example.test",
    ),
    (
        "outbox-retry",
        "the message again to later@ only (250), then the bounce from <> to sender@",
    ),
];

/// One transaction: MAIL FROM `from`, each RCPT answered as given, DATA.
fn transaction(from: &str, rcpts: &[(&str, &str)]) -> Vec<Step> {
    let mut steps = vec![
        expect(&format!("MAIL FROM:<{from}>")),
        reply("250 2.1.0 Ok"),
    ];
    for (to, answer) in rcpts {
        steps.push(expect(&format!("RCPT TO:<{to}>")));
        steps.push(reply(answer));
    }
    steps.extend([
        expect("DATA"),
        reply("354 End data with <CR><LF>.<CR><LF>"),
        Step::ReadData,
        reply("250 2.0.0 Ok: queued"),
    ]);
    steps
}

/// The script of the scenario `name`, if it is one of [`SCENARIOS`].
pub fn scenario(name: &str) -> Option<Vec<Step>> {
    let mut steps = hello(&["8BITMIME"]);
    match name {
        "outbox-partial" => steps.extend(transaction(
            SENDER,
            &[
                ("ok@example.test", "250 2.1.5 Ok"),
                (
                    "later@example.test",
                    "451 4.2.0 <later@example.test>: try again later",
                ),
                (
                    "bad@example.test",
                    "550 5.1.1 <bad@example.test>: no such user",
                ),
            ],
        )),
        "outbox-retry" => {
            steps.extend(transaction(
                SENDER,
                &[("later@example.test", "250 2.1.5 Ok")],
            ));
            steps.extend(transaction("", &[(SENDER, "250 2.1.5 Ok")]));
        }
        _ => return None,
    }
    // The client keeps the session: it may QUIT or just close.
    steps.push(hangup());
    Some(steps)
}
