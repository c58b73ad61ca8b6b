//! What the `smtp-send` test files share: running the program with its
//! standard input, a run's result and the check of its exit status, and a
//! temporary directory removed when dropped.

#![allow(dead_code)] // Each test file uses its own part of it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Runs `command` with `stdin` as its standard input; what it printed
/// and its exit status.
pub fn run(mut command: Command, stdin: &[u8]) -> Out {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start smtp-send");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // The program may exit without reading everything: ignore EPIPE.
    let writer = thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for smtp-send");
    let _ = writer.join();
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// What a run printed and returned.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Checks the exit status; a failure must come with an
    /// "smtp-send: ..." error line.
    pub fn expect(&self, code: i32) -> &Out {
        assert_eq!(
            self.code, code,
            "exit status {} (expected {code})\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        if code != 0 {
            assert!(
                self.stderr.starts_with("smtp-send: ") || self.stderr.contains("\nsmtp-send: "),
                "no smtp-send: error line: {:?}",
                self.stderr
            );
        }
        self
    }
}

/// A directory removed when dropped (made writable first, for tests that
/// take the permission away).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "smtp-send-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A file in the directory with these contents and mode.
    pub fn file(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A path in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o700));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
