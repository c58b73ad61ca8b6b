//! A TCP proxy on loopback that adds latency: every chunk read from one side
//! is written to the other `--delay-us` microseconds after it arrived (half
//! the round-trip time wanted). Each direction has its own reader and writer
//! threads joined by a queue, so chunks in flight overlap: the proxy delays
//! traffic but never serialises it (a pipelined client keeps its advantage).
//!
//! It also counts round trips: a *turn* starts whenever the client sends
//! something after the proxy has delivered data from the server to it.
//! Turns per connection, minus the fixed ones (greeting, EHLO, AUTH, QUIT),
//! are the client's round trips.
//!
//! ```text
//! latency-proxy --target 127.0.0.1:PORT --delay-us 10000 [--max-seconds 600]
//! ```
//!
//! Prints `LISTENING <port>` (an ephemeral loopback port) once ready. It
//! stops when its standard input reaches end of file (the harness holds
//! the other end, so the proxy ends with it) or after `--max-seconds`, then
//! prints one `CONN {json}` line per connection and `DONE`.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Most connections accepted over the proxy's life.
const MAX_CONNECTIONS: usize = 1000;
/// How long the proxy waits for open connections to finish once told to stop.
const DRAIN: Duration = Duration::from_secs(3);

/// What the proxy saw on one connection.
#[derive(Debug, Default)]
struct ConnStats {
    /// Client bursts that followed data delivered from the server.
    turns: u64,
    /// Bytes from the client to the server.
    c2s_bytes: u64,
    /// Bytes from the server to the client.
    s2c_bytes: u64,
    /// The last thing delivered was from the server (the next client data
    /// starts a new turn).
    server_spoke_last: bool,
    /// Writer threads finished (2 = connection done).
    finished: u8,
}

type Shared = Arc<Mutex<ConnStats>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    ClientToServer,
    ServerToClient,
}

fn lock(stats: &Shared) -> std::sync::MutexGuard<'_, ConnStats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

fn reader(
    mut src: TcpStream,
    tx: mpsc::Sender<(Instant, Vec<u8>)>,
    dir: Dir,
    delay: Duration,
    stats: Shared,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let due = Instant::now() + delay;
        if dir == Dir::ClientToServer {
            let mut s = lock(&stats);
            if s.server_spoke_last {
                s.turns += 1;
                s.server_spoke_last = false;
            }
            s.c2s_bytes += n as u64;
        }
        if tx.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
}

fn writer(mut dst: TcpStream, rx: mpsc::Receiver<(Instant, Vec<u8>)>, dir: Dir, stats: Shared) {
    for (due, chunk) in rx {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        if dir == Dir::ServerToClient {
            // Marked before the write: once the client has the data it may
            // answer at once, and that answer must count as a new turn.
            let mut s = lock(&stats);
            s.server_spoke_last = true;
            s.s2c_bytes += chunk.len() as u64;
        }
        if dst.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = dst.shutdown(Shutdown::Write);
    lock(&stats).finished += 1;
}

fn serve(
    client: TcpStream,
    target: SocketAddr,
    delay: Duration,
    idle: Duration,
    stats: Shared,
) -> std::io::Result<()> {
    let server = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
    for s in [&client, &server] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(idle))?;
        s.set_write_timeout(Some(idle))?;
    }
    let pairs = [
        (
            client.try_clone()?,
            server.try_clone()?,
            Dir::ClientToServer,
        ),
        (server, client, Dir::ServerToClient),
    ];
    for (src, dst, dir) in pairs {
        let (tx, rx) = mpsc::channel();
        let (a, b) = (stats.clone(), stats.clone());
        thread::spawn(move || reader(src, tx, dir, delay, a));
        thread::spawn(move || writer(dst, rx, dir, b));
    }
    Ok(())
}

struct Args {
    target: SocketAddr,
    delay: Duration,
    max: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut target = None;
    let mut delay = Duration::ZERO;
    let mut max = Duration::from_secs(600);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--target" => {
                let t: SocketAddr = value()?.parse().map_err(|e| format!("--target: {e}"))?;
                if !t.ip().is_loopback() {
                    return Err(format!("--target {t} is not a loopback address"));
                }
                target = Some(t);
            }
            "--delay-us" => {
                delay =
                    Duration::from_micros(value()?.parse().map_err(|e| format!("--delay-us: {e}"))?)
            }
            "--max-seconds" => {
                max = Duration::from_secs(
                    value()?
                        .parse()
                        .map_err(|e| format!("--max-seconds: {e}"))?,
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        target: target.ok_or("--target is required")?,
        delay,
        max,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("latency-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("latency-proxy: bind: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let conns: Arc<Mutex<Vec<Shared>>> = Arc::default();
    {
        let conns = conns.clone();
        let (target, delay, idle) = (args.target, args.delay, args.max);
        thread::spawn(move || {
            for incoming in listener.incoming().take(MAX_CONNECTIONS) {
                let Ok(client) = incoming else { continue };
                let stats = Shared::default();
                match serve(client, target, delay, idle, stats.clone()) {
                    Ok(()) => conns.lock().unwrap_or_else(|e| e.into_inner()).push(stats),
                    Err(e) => eprintln!("latency-proxy: connecting to {target}: {e}"),
                }
            }
        });
    }
    println!("LISTENING {port}");
    let _ = std::io::stdout().flush();

    // Stop at end of standard input or at the time limit, whichever first.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = stop_tx.send(());
    });
    let _ = stop_rx.recv_timeout(args.max);

    let drain_until = Instant::now() + DRAIN;
    let all_done = || {
        conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(|c| lock(c).finished >= 2)
    };
    while !all_done() && Instant::now() < drain_until {
        thread::sleep(Duration::from_millis(5));
    }
    let list = conns.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = std::io::stdout().lock();
    for (id, c) in list.iter().enumerate() {
        let s = lock(c);
        let _ = writeln!(
            out,
            "CONN {{\"id\":{id},\"turns\":{},\"c2s_bytes\":{},\"s2c_bytes\":{},\"complete\":{}}}",
            s.turns,
            s.c2s_bytes,
            s.s2c_bytes,
            s.finished >= 2
        );
    }
    let _ = writeln!(out, "DONE");
    let _ = out.flush();
    ExitCode::SUCCESS
}
