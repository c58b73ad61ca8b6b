//! A scripted server for several connections in turn: script `i` runs
//! for the `i`-th connection to one port. For the pool tests, which need
//! a session the server closes and the new one that replaces it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use smtp_core::{Config, Security, Timeouts};

use crate::script::steps;
use crate::scripted::{serve, Capture, ACCEPT_TIMEOUT, CLIENT_NAME, FINISH_TIMEOUT};

/// Scripted connections to one loopback port, one after another.
#[derive(Debug)]
pub struct ScriptedSequence {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    progress: Arc<Mutex<String>>,
    done: mpsc::Receiver<Vec<Capture>>,
}

impl ScriptedSequence {
    /// Listens on 127.0.0.1 and runs `scripts[i]` (see
    /// [`steps`]) for the `i`-th connection.
    pub fn start(scripts: &[&str]) -> ScriptedSequence {
        let scripts: Vec<_> = scripts.iter().map(|s| steps(s)).collect();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        let addr = listener.local_addr().expect("the listener's address");
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Mutex::new(String::new()));
        let (tx, done) = mpsc::channel();
        {
            let stop = stop.clone();
            let progress = progress.clone();
            thread::Builder::new()
                .name(format!("scripted-sequence-{}", addr.port()))
                .spawn(move || {
                    let mut captures = Vec::new();
                    for script in scripts {
                        let Ok(clone) = listener.try_clone() else {
                            break;
                        };
                        captures.push(serve(clone, script, None, &stop, &progress));
                    }
                    let _ = tx.send(captures);
                })
                .expect("spawn the scripted sequence thread");
        }
        ScriptedSequence {
            addr,
            stop,
            progress,
            done,
        }
    }

    /// The port the scripts are served on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Like [`ScriptedSequence::finish`], but keeps waiting for each
    /// client (up to [`ACCEPT_TIMEOUT`] each): for clients in another
    /// process. Panics if the scripts have not ended within that plus
    /// [`FINISH_TIMEOUT`] per script.
    pub fn wait(self, scripts: usize) -> Vec<Capture> {
        let limit = (ACCEPT_TIMEOUT + FINISH_TIMEOUT) * u32::try_from(scripts.max(1)).unwrap_or(1);
        match self.done.recv_timeout(limit) {
            Ok(captures) => captures,
            Err(_) => panic!(
                "the scripted sequence did not finish (at: {})",
                self.progress.lock().map(|p| p.clone()).unwrap_or_default()
            ),
        }
    }

    /// A client configuration for this server: no TLS, client name
    /// [`CLIENT_NAME`], every timeout 2 s.
    pub fn config(&self) -> Config {
        Config::new(self.addr.ip().to_string(), self.addr.port())
            .with_security(Security::None)
            .with_client_name(CLIENT_NAME)
            .with_timeouts(Timeouts::uniform(Duration::from_secs(2)))
    }

    /// Waits for every script to end; the captures in connection order
    /// (a script no client came for has an unconnected capture). Panics
    /// if they have not ended within [`FINISH_TIMEOUT`].
    pub fn finish(self) -> Vec<Capture> {
        self.stop.store(true, Ordering::SeqCst);
        match self.done.recv_timeout(FINISH_TIMEOUT * 2) {
            Ok(captures) => captures,
            Err(_) => panic!(
                "the scripted sequence did not finish (at: {})",
                self.progress.lock().map(|p| p.clone()).unwrap_or_default()
            ),
        }
    }
}
