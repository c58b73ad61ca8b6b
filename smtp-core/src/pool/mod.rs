//! Connection pools: [`Pool`] for the blocking [`Client`](crate::Client)
//! and `AsyncPool` (feature `tokio`) for the `AsyncClient`. Both keep
//! one policy, defined here without I/O: at most `max_connections`
//! sessions, idle ones closed after `idle_timeout`, a session retired
//! after `max_messages_per_connection`, an idle session checked before it
//! is reused (one the server closed meanwhile is replaced before the
//! first byte of a transaction, never reported as a failure of the
//! message), and a rate limit (messages per second) that backs off when
//! the server says it is overloaded (`421`, `4.7.x` "too many", `4.5.3`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::{Error, Phase, Result};
use crate::report::SendReport;

#[cfg(feature = "tokio")]
mod async_pool;
mod blocking;

#[cfg(feature = "tokio")]
pub use async_pool::{AsyncPool, AsyncPooledClient};
pub use blocking::{Pool, PooledClient};

/// How a pool behaves. Every setting also has a name for
/// [`PoolOptions::set`], which C, PHP and configuration files use.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOptions {
    /// Most sessions open at once (default 4). A caller that finds them
    /// all busy waits (within the connect timeout) for one.
    pub max_connections: usize,
    /// An idle session is closed after this long (default 60 s: below
    /// the usual server idle timeouts of a few minutes).
    pub idle_timeout: Duration,
    /// A session is closed after this many messages (default 100;
    /// providers cap it: Gmail and Microsoft 365 at about 100).
    pub max_messages_per_connection: Option<u64>,
    /// An idle session older than this is checked with `NOOP` before it
    /// is reused (default 30 s); younger ones only by a look at the socket.
    pub noop_after: Duration,
    /// Most messages per second for the whole pool (default none).
    pub rate: Option<f64>,
    /// Most recipients per transaction (default none): a message held in
    /// memory with more is sent in several transactions.
    pub max_recipients: Option<usize>,
    /// The first pause after the server said it is overloaded (default
    /// 1 s); doubled on each further sign, up to `max_backoff`.
    pub backoff: Duration,
    /// The longest pause (default 60 s).
    pub max_backoff: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            max_messages_per_connection: Some(100),
            noop_after: Duration::from_secs(30),
            rate: None,
            max_recipients: None,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// The names [`PoolOptions::set`] takes.
pub const POOL_OPTIONS: &[&str] = &[
    "max_connections",
    "idle_timeout",
    "max_messages_per_connection",
    "noop_after",
    "rate",
    "max_recipients",
    "backoff",
    "max_backoff",
];

impl PoolOptions {
    /// Sets one option by name from text, as C, PHP and configuration
    /// files give it: counts as integers (`0` or `none` for no limit
    /// where a limit is optional), durations as `90s`, `5m`, `500ms` or
    /// seconds, the rate as messages per second (`2.5`).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let value = value.trim();
        let bad =
            |what: &str| Error::invalid("pool option", format!("{name}: {value:?} is not {what}"));
        let none = matches!(value, "" | "0" | "none" | "off");
        match name {
            "max_connections" => {
                let n: usize = value.parse().map_err(|_| bad("a count"))?;
                if n == 0 || n > 1024 {
                    return Err(bad("a count from 1 to 1024"));
                }
                self.max_connections = n;
            }
            "idle_timeout" => {
                self.idle_timeout = duration(value).ok_or_else(|| bad("a duration"))?
            }
            "noop_after" => self.noop_after = duration(value).ok_or_else(|| bad("a duration"))?,
            "backoff" => self.backoff = duration(value).ok_or_else(|| bad("a duration"))?,
            "max_backoff" => self.max_backoff = duration(value).ok_or_else(|| bad("a duration"))?,
            "max_messages_per_connection" => {
                self.max_messages_per_connection = if none {
                    None
                } else {
                    Some(value.parse().map_err(|_| bad("a count"))?)
                }
            }
            "max_recipients" => {
                self.max_recipients = if none {
                    None
                } else {
                    Some(value.parse().map_err(|_| bad("a count"))?)
                }
            }
            "rate" => {
                self.rate = if none {
                    None
                } else {
                    let r: f64 = value.parse().map_err(|_| bad("messages per second"))?;
                    if !(r.is_finite() && r > 0.0) {
                        return Err(bad("a positive number of messages per second"));
                    }
                    Some(r)
                }
            }
            _ => {
                return Err(Error::invalid(
                    "pool option",
                    format!(
                        "unknown pool option {name:?}; the options are {}",
                        POOL_OPTIONS.join(", ")
                    ),
                ))
            }
        }
        Ok(())
    }
}

/// `90s`, `5m`, `2h`, `500ms` or plain seconds.
fn duration(text: &str) -> Option<Duration> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: f64 = number.parse().ok()?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// An idle session on the shelf.
pub(crate) struct Idle<C> {
    pub(crate) client: C,
    pub(crate) since: Instant,
    pub(crate) sent: u64,
}

/// The pool's state: idle sessions and how many are open. Kept behind
/// the pool's lock; no I/O here.
pub(crate) struct Shelf<C> {
    pub(crate) idle: VecDeque<Idle<C>>,
    pub(crate) open: usize,
    pub(crate) closed: bool,
}

impl<C> Shelf<C> {
    pub(crate) fn new() -> Shelf<C> {
        Shelf {
            idle: VecDeque::new(),
            open: 0,
            closed: false,
        }
    }

    /// The most recently used idle session that has not timed out; the
    /// timed-out ones are handed back in `expired` to be closed (outside
    /// the lock).
    pub(crate) fn take(
        &mut self,
        now: Instant,
        options: &PoolOptions,
        expired: &mut Vec<C>,
    ) -> Option<Idle<C>> {
        // Every session past its time goes, not only those in the way.
        self.expire(now, options, expired);
        // Most recently used first: the likeliest to be alive.
        self.idle.pop_front()
    }

    /// Closes every idle session past its time (handed back to close).
    pub(crate) fn expire(&mut self, now: Instant, options: &PoolOptions, expired: &mut Vec<C>) {
        let before = self.idle.len();
        let mut kept = VecDeque::with_capacity(before);
        for idle in self.idle.drain(..) {
            if now.saturating_duration_since(idle.since) >= options.idle_timeout {
                expired.push(idle.client);
            } else {
                kept.push_back(idle);
            }
        }
        self.open -= before - kept.len();
        self.idle = kept;
    }

    /// Puts a session back, most recently used first.
    pub(crate) fn put(&mut self, idle: Idle<C>) {
        self.idle.push_front(idle);
    }
}

/// The rate limit and the back-off after overload signs, shared by all
/// sessions of a pool. No clock here: callers pass `now`.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// When the next message may start.
    next: Option<Instant>,
    /// The pause in force after an overload sign, if any.
    pause: Option<Duration>,
}

impl Limiter {
    pub(crate) fn new() -> Limiter {
        Limiter {
            next: None,
            pause: None,
        }
    }

    /// Reserves a start for one message: how long to wait before it.
    pub(crate) fn reserve(&mut self, now: Instant, options: &PoolOptions) -> Duration {
        let interval = options
            .rate
            .map(|r| Duration::from_secs_f64(1.0 / r))
            .unwrap_or_default();
        let start = match self.next {
            Some(next) if next > now => next,
            _ => now,
        };
        if interval > Duration::ZERO || self.pause.is_some() {
            self.next = Some(start + interval);
        }
        start - now
    }

    /// What a result says about the server's load: a sign of overload
    /// pauses every session; a success ends the back-off.
    pub(crate) fn observe(&mut self, now: Instant, options: &PoolOptions, outcome: Option<&Error>) {
        match outcome {
            Some(e) if overloaded(e) => {
                let pause = match self.pause {
                    Some(p) => (p * 2).min(options.max_backoff),
                    None => options.backoff.min(options.max_backoff),
                };
                self.pause = Some(pause);
                let resume = now + pause;
                self.next = Some(self.next.map_or(resume, |n| n.max(resume)));
            }
            Some(_) => {}
            None => self.pause = None,
        }
    }
}

/// True for the replies that mean "send less": `421` (service closing),
/// `4.7.x` saying "too many" or "rate", and `4.5.3` (too many
/// recipients), also when a recipient got it.
pub(crate) fn overloaded(error: &Error) -> bool {
    let reply_says = |reply: &crate::Reply| {
        if reply.code() == 421 {
            return true;
        }
        match reply.enhanced() {
            Some(code) if code.class == 4 && code.subject == 5 && code.detail == 3 => true,
            Some(code) if code.class == 4 && code.subject == 7 => {
                let text = reply.text().to_ascii_lowercase();
                ["too many", "rate", "throttl", "limit", "slow down"]
                    .iter()
                    .any(|w| text.contains(w))
            }
            _ => false,
        }
    };
    match error {
        Error::Rejected { reply, .. } => reply_says(reply),
        Error::RecipientsRefused { refused } => refused.iter().any(|r| reply_says(&r.reply)),
        _ => false,
    }
}

/// True when a send failed before anything of the message can have been
/// delivered because the connection was already gone: the message is
/// sent again on a fresh session, and the caller never sees this failure.
pub(crate) fn stale_connection(error: &Error) -> bool {
    let envelope = |phase: &Phase| matches!(phase, Phase::MailFrom | Phase::Rset | Phase::Noop);
    match error {
        Error::Io { phase, .. } => envelope(phase),
        Error::Rejected { phase, reply } => reply.code() == 421 && envelope(phase),
        _ => false,
    }
}

/// The transactions of one message sent in recipient groups, as one
/// report. A group the server refused with a reply (at MAIL, a RCPT, the
/// data) has that reply on each of its recipients, so the groups already
/// delivered are never hidden behind an error (a caller retrying the
/// whole message would send it to them twice). A failure without a
/// reply (the connection) stops the sending: it is returned as it is when
/// no group was delivered yet, else as `DeliveryUnknown` saying how many
/// recipients have the message.
#[derive(Default)]
pub(crate) struct GroupReport {
    report: Option<SendReport>,
}

impl GroupReport {
    /// Adds one group's outcome; Err to stop (a failure without a reply).
    pub(crate) fn add(&mut self, group: &[String], sent: Result<SendReport>) -> Result<()> {
        let part = match sent {
            Ok(report) => report,
            Err(Error::RecipientsRefused { refused }) => SendReport {
                reply: refused
                    .first()
                    .map(|r| r.reply.clone())
                    .unwrap_or_else(|| crate::Reply::new(554, None, Vec::new())),
                recipients: refused,
                omitted_extensions: Vec::new(),
            },
            Err(Error::Rejected { reply, .. }) => SendReport {
                recipients: group
                    .iter()
                    .map(|address| crate::RecipientResult {
                        address: address.clone(),
                        reply: reply.clone(),
                    })
                    .collect(),
                reply,
                omitted_extensions: Vec::new(),
            },
            Err(e) => {
                let delivered = self.delivered();
                if delivered == 0 {
                    return Err(e);
                }
                return Err(Error::DeliveryUnknown {
                    phase: Phase::MailFrom,
                    cause: Box::new(Error::NotConnected(format!(
                        "{delivered} recipients in earlier transactions have the message; \
                         the next group failed: {e}"
                    ))),
                });
            }
        };
        self.report = Some(match self.report.take() {
            None => part,
            Some(mut so_far) => {
                so_far.recipients.extend(part.recipients);
                for name in part.omitted_extensions {
                    if !so_far.omitted_extensions.contains(&name) {
                        so_far.omitted_extensions.push(name);
                    }
                }
                if part.reply.is_positive() || !so_far.reply.is_positive() {
                    so_far.reply = part.reply;
                }
                so_far
            }
        });
        Ok(())
    }

    fn delivered(&self) -> usize {
        self.report
            .as_ref()
            .map_or(0, |r| r.recipients.iter().filter(|r| r.accepted()).count())
    }

    /// The report of every group: an error when no recipient has it.
    pub(crate) fn finish(self) -> Result<SendReport> {
        let report = self
            .report
            .ok_or_else(|| Error::invalid("envelope", "no recipients"))?;
        if report
            .recipients
            .iter()
            .any(crate::RecipientResult::accepted)
        {
            Ok(report)
        } else {
            Err(Error::RecipientsRefused {
                refused: report.recipients,
            })
        }
    }
}

/// Splits recipients into groups of at most `max` (all in one group when
/// there is no limit).
pub(crate) fn recipient_groups(to: &[String], max: Option<usize>) -> Vec<Vec<String>> {
    match max {
        Some(max) if max > 0 && to.len() > max => to.chunks(max).map(<[String]>::to_vec).collect(),
        _ => vec![to.to_vec()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    #[test]
    fn options_by_name() {
        let mut o = PoolOptions::default();
        o.set("max_connections", "8").unwrap();
        o.set("idle_timeout", "90s").unwrap();
        o.set("noop_after", "500ms").unwrap();
        o.set("rate", "2.5").unwrap();
        o.set("max_messages_per_connection", "none").unwrap();
        o.set("max_recipients", "50").unwrap();
        assert_eq!(o.max_connections, 8);
        assert_eq!(o.idle_timeout, Duration::from_secs(90));
        assert_eq!(o.noop_after, Duration::from_millis(500));
        assert_eq!(o.rate, Some(2.5));
        assert_eq!(o.max_messages_per_connection, None);
        assert_eq!(o.max_recipients, Some(50));
        assert!(o.set("max_connections", "0").is_err());
        assert!(o.set("rate", "-1").is_err());
        assert!(o.set("idle_timeout", "soon").is_err());
        let e = o.set("max_conns", "3").unwrap_err().to_string();
        assert!(e.contains("max_connections"), "{e}");
    }

    #[test]
    fn the_rate_spaces_messages_and_overload_pauses_them() {
        let options = PoolOptions {
            rate: Some(10.0),
            ..PoolOptions::default()
        };
        let mut l = Limiter::new();
        let t0 = Instant::now();
        assert_eq!(l.reserve(t0, &options), Duration::ZERO);
        assert_eq!(l.reserve(t0, &options), Duration::from_millis(100));
        assert_eq!(l.reserve(t0, &options), Duration::from_millis(200));
        let busy = Error::Rejected {
            phase: Phase::MailFrom,
            reply: Reply::new(
                451,
                Some(crate::EnhancedCode {
                    class: 4,
                    subject: 7,
                    detail: 1,
                }),
                vec!["4.7.1 too many messages, slow down".into()],
            ),
        };
        l.observe(t0, &options, Some(&busy));
        assert!(l.reserve(t0, &options) >= Duration::from_secs(1));
        l.observe(t0, &options, Some(&busy));
        assert_eq!(l.pause, Some(Duration::from_secs(2)));
        l.observe(t0, &options, None);
        assert_eq!(l.pause, None);
    }

    #[test]
    fn overload_signs() {
        let reply = |code, detail: Option<(u8, u16, u16)>, text: &str| {
            Reply::new(
                code,
                detail.map(|(class, subject, detail)| crate::EnhancedCode {
                    class,
                    subject,
                    detail,
                }),
                vec![text.into()],
            )
        };
        let rejected = |r| Error::Rejected {
            phase: Phase::MailFrom,
            reply: r,
        };
        assert!(overloaded(&rejected(reply(421, None, "bye"))));
        assert!(overloaded(&rejected(reply(
            452,
            Some((4, 5, 3)),
            "too many recipients"
        ))));
        assert!(overloaded(&rejected(reply(
            451,
            Some((4, 7, 1)),
            "rate limit exceeded"
        ))));
        assert!(!overloaded(&rejected(reply(
            451,
            Some((4, 7, 1)),
            "greylisted"
        ))));
        assert!(!overloaded(&rejected(reply(
            550,
            Some((5, 1, 1)),
            "no such user"
        ))));
    }

    #[test]
    fn recipients_in_groups() {
        let to: Vec<String> = (0..5).map(|i| format!("r{i}@x.test")).collect();
        assert_eq!(recipient_groups(&to, None).len(), 1);
        let groups = recipient_groups(&to, Some(2));
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    }
}
