//! Postfix's `smtp-sink` as a counting test server: it accepts any mail
//! as fast as it can and throws it away, and with `-c` prints its running
//! counters (`sess=N quit=N mesg=N`), which [`SmtpSink::messages`] reads.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Where Debian installs it.
pub const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// A running `smtp-sink` on a loopback port; killed when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts `smtp-sink -c` on a free port of 127.0.0.1 (as `nobody`
    /// when running as root, which it requires) and waits (at most 5 s)
    /// until it accepts connections. `None` when the program is not
    /// installed.
    pub fn start() -> Option<SmtpSink> {
        if !Path::new(SMTP_SINK).exists() {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut cmd = Command::new(SMTP_SINK);
        if is_root() {
            cmd.args(["-u", "nobody"]);
        }
        cmd.arg("-c")
            .arg(format!("127.0.0.1:{port}"))
            .arg("64")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start smtp-sink");
        let mut stdout = child.stdout.take().expect("smtp-sink's stdout");
        let output = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let output = output.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut out) = output.lock() {
                        out.extend_from_slice(&buf[..n]);
                        // Only the last counters matter.
                        let len = out.len();
                        if len > 1 << 16 {
                            out.drain(..len - 4096);
                        }
                    }
                }
            })
        };
        let sink = SmtpSink {
            child,
            port,
            output,
            reader: Some(reader),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "smtp-sink did not listen on 127.0.0.1:{port}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        Some(sink)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Messages received so far (its last `mesg=` counter).
    pub fn messages(&self) -> usize {
        let out = self.output.lock().map(|o| o.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&out);
        text.rsplit("mesg=")
            .next()
            .filter(|_| text.contains("mesg="))
            .and_then(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .unwrap_or(0)
    }

    /// Waits (bounded by `timeout`) until it counted at least `count`
    /// messages; returns its count then.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.messages();
            if n >= count || Instant::now() >= deadline {
                return n;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
