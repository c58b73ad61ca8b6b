//! Relay failover and address order: which failures move a connection on
//! to the next server of a relay list, what the transcript says when it
//! does, and the order a name's addresses are tried in (RFC 8305 4:
//! families interleaved, the resolver's first family first).

use std::net::SocketAddr;

use crate::config::Config;
use crate::error::{Error, Phase};
use crate::transcript::Direction;

/// True when `err`, from connecting to one server, lets the next server
/// of the list be tried: the server could not be reached, TLS failed, or
/// it answered 4xx (421 among them) to the greeting, EHLO, STARTTLS or
/// AUTH. Connecting sends no message, so none can have been delivered.
/// Refused credentials (5xx, or a proxy refusing its login), settings the
/// server cannot meet and bad input are the same on every server: they
/// end the attempt.
pub(crate) fn fails_over(err: &Error) -> bool {
    let before_mail = |phase: &Phase| {
        matches!(
            phase,
            Phase::Connect
                | Phase::Greeting
                | Phase::Ehlo
                | Phase::Helo
                | Phase::StartTls
                | Phase::TlsHandshake
                | Phase::Auth
        )
    };
    match err {
        // A proxy that refused our login refuses it for every server.
        Error::Connect { source, .. } => source.kind() != std::io::ErrorKind::PermissionDenied,
        Error::Tls { kind, .. } => *kind != crate::error::TlsErrorKind::Config,
        Error::Timeout { phase, .. } | Error::Io { phase, .. } | Error::Protocol { phase, .. } => {
            before_mail(phase)
        }
        Error::Rejected { phase, reply } => before_mail(phase) && reply.code() / 100 == 4,
        Error::Auth {
            reply: Some(reply), ..
        } => reply.code() / 100 == 4,
        _ => false,
    }
}

/// After server `index` of `servers` failed with `err`: true, with a
/// transcript note, when the next server is to be tried (there is one,
/// `time_left` says the total timeout allows it, and `fails_over`).
pub(crate) fn try_next(
    config: &Config,
    servers: &[(String, u16)],
    index: usize,
    err: &Error,
    time_left: bool,
) -> bool {
    let Some((next, next_port)) = servers.get(index + 1) else {
        return false;
    };
    if !time_left || !fails_over(err) {
        return false;
    }
    let (host, port) = &servers[index];
    note_failover(
        config,
        &server_name(host, *port),
        err,
        &server_name(next, *next_port),
    );
    true
}

/// Writes to the transcript that `host:port` failed and `next` is tried.
fn note_failover(config: &Config, server: &str, err: &Error, next: &str) {
    if let Some(sink) = &config.transcript {
        sink(
            Direction::Info,
            &format!("{server} failed ({err}); trying the next server, {next}"),
        );
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn server_name(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `addrs` in the order to try them: the first address's family first,
/// then alternating families, each family in the resolver's order.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut second): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut ordered = Vec::with_capacity(first.len() + second.len());
    let (mut a, mut b) = (first.drain(..), second.drain(..));
    loop {
        match (a.next(), b.next()) {
            (None, None) => break,
            (x, y) => ordered.extend(x.into_iter().chain(y)),
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    #[test]
    fn families_alternate_starting_with_the_first() {
        let addrs: Vec<SocketAddr> = ["[::1]:25", "[::2]:25", "[::3]:25", "127.0.0.1:25"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let ordered: Vec<String> = interleave(addrs).iter().map(|a| a.to_string()).collect();
        assert_eq!(
            ordered,
            ["[::1]:25", "127.0.0.1:25", "[::2]:25", "[::3]:25"]
        );
        let v4_first: Vec<SocketAddr> = ["127.0.0.1:25", "127.0.0.2:25", "[::1]:25"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let ordered: Vec<String> = interleave(v4_first).iter().map(|a| a.to_string()).collect();
        assert_eq!(ordered, ["127.0.0.1:25", "[::1]:25", "127.0.0.2:25"]);
    }

    #[test]
    fn only_failures_before_any_message_fail_over() {
        let reply = |code| Reply::new(code, None, vec!["x".into()]);
        let rejected = |phase, code| Error::Rejected {
            phase,
            reply: reply(code),
        };
        assert!(fails_over(&rejected(Phase::Greeting, 421)));
        assert!(fails_over(&rejected(Phase::Ehlo, 451)));
        assert!(!fails_over(&rejected(Phase::Greeting, 554)));
        assert!(!fails_over(&rejected(Phase::MailFrom, 421)));
        assert!(!fails_over(&rejected(Phase::EndOfData, 451)));
        let auth = |code| Error::Auth {
            mechanism: crate::auth::Mechanism::Plain,
            reply: Some(reply(code)),
            reason: "x".into(),
            source: None,
        };
        assert!(fails_over(&auth(454)));
        assert!(!fails_over(&auth(535)));
        assert!(fails_over(&Error::Timeout {
            phase: Phase::Greeting,
            after: std::time::Duration::from_secs(1)
        }));
        assert!(!fails_over(&Error::Timeout {
            phase: Phase::Data,
            after: std::time::Duration::from_secs(1)
        }));
        assert!(!fails_over(&Error::invalid("host", "bad")));
        let proxy = crate::proxy::Proxy::parse("socks5://ann:pw@127.0.0.1:1080").unwrap();
        assert!(!fails_over(&proxy.step_error("authentication", "refused")));
        assert!(fails_over(&proxy.step_error("connect", "host unreachable")));
        assert!(fails_over(&proxy.stalled("greeting")));
    }
}
