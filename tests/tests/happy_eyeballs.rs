//! Happy Eyeballs v2 (RFC 8305) against a name whose IPv6 address drops
//! every SYN and whose IPv4 address answers, in a network namespace this
//! test creates (root and iproute2 needed; skipped visibly otherwise).
//! The namespace (tests/netns/dual-stack.sh, whose hosts file `ip netns
//! exec` mounts over /etc/hosts) gives `dual.test` ::1 then 127.0.0.1, and
//! `v6only.test` ::1 alone. The IPv6 "black hole" is a listener on [::1]
//! with a full accept queue: the kernel drops further SYNs, as a broken
//! IPv6 path does.
//!
//! The outer test runs the inner one inside the namespace (this same
//! binary, `--exact`), which measures both connects and prints the figures.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use smtp_core::{Config, Error, Phase, Security, Timeouts};
use smtp_tests::driver::Client;
use smtp_tests::dual_stack;
use smtp_tests::scripted::{expect, hello, reply, ScriptedServer, Step};

/// The connect timeout both connects get.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(6);

#[test]
fn an_ipv6_black_hole_costs_a_fraction_of_the_connect_timeout() {
    if !dual_stack::inside() {
        dual_stack::run_inner("inside_the_namespace", "happy eyeballs:");
    }
}

/// Runs only inside the namespace the outer test made.
#[test]
fn inside_the_namespace() {
    if !dual_stack::inside() {
        return;
    }
    let mut script = hello(&[]);
    script.extend([
        expect("QUIT"),
        reply("221 bye"),
        Step::ExpectClose(Duration::from_secs(2)),
    ]);
    let server = ScriptedServer::start(script);
    let port = server.port();
    // The black hole: [::1] on the same port, accept queue full.
    let hole = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    hole.set_only_v6(true).unwrap();
    let addr: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    hole.bind(&addr.into()).unwrap();
    hole.listen(0).unwrap();
    let _queued = TcpStream::connect(addr).unwrap();
    let order: Vec<SocketAddr> = ("dual.test", port).to_socket_addrs().unwrap().collect();
    assert!(
        order.len() == 2 && order[0].is_ipv6(),
        "dual.test must resolve to ::1 first here: {order:?}"
    );
    let config = |host: &str| {
        Config::new(host, port)
            .with_security(Security::None)
            .with_client_name("client.test")
            .with_timeouts(Timeouts::uniform(CONNECT_TIMEOUT))
    };

    let started = Instant::now();
    let mut client = Client::connect(config("dual.test")).unwrap();
    let dual = started.elapsed();
    client.quit().unwrap();
    server.finish().assert_clean();

    let started = Instant::now();
    let err = Client::connect(config("v6only.test")).unwrap_err();
    let single = started.elapsed();
    assert!(
        matches!(
            err,
            Error::Timeout {
                phase: Phase::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    println!(
        "happy eyeballs: dual-stack name connected over IPv4 in {} ms; IPv6-only name timed out after {} ms (connect timeout {} ms)",
        dual.as_millis(),
        single.as_millis(),
        CONNECT_TIMEOUT.as_millis()
    );
    assert!(
        dual < CONNECT_TIMEOUT / 3,
        "connected in {dual:?}, not well under the {CONNECT_TIMEOUT:?} connect timeout"
    );
    assert!(single >= CONNECT_TIMEOUT - Duration::from_millis(100));
}
