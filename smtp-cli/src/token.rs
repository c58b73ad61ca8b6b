//! `token_command`: OAuth 2.0 access tokens from a command the user
//! configures (like msmtp's passwordeval), run with `/bin/sh -c` as
//! `password_command` is, bounded in time and output, whose output is a
//! token endpoint's JSON answer or a bare token line; the command as the
//! library's token provider.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_core::{AccessToken, TokenError, TokenProvider};
use zeroize::Zeroizing;

/// How long the command may run.
pub const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The most output read from the command (a token endpoint's answer with
/// an ID token and a refresh token is a few KiB).
pub const TOKEN_COMMAND_MAX_OUTPUT: usize = 64 * 1024;

/// The command as a token provider: run again each time the library needs
/// a new token.
pub fn provider(command: &str) -> Arc<dyn TokenProvider> {
    let command = command.to_string();
    Arc::new(move || -> Result<AccessToken, TokenError> {
        let output = run(&command, TOKEN_COMMAND_TIMEOUT)?;
        parse(&output)
    })
}

/// Runs `command` with `/bin/sh -c` in its own process group, stdin
/// empty, stderr passed through: its standard output, if it exits 0
/// within `timeout` having printed at most [`TOKEN_COMMAND_MAX_OUTPUT`]
/// bytes. Kept in a buffer wiped when dropped.
pub fn run(command: &str, timeout: Duration) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .map_err(|e| TokenError::new(format!("token_command could not be started: {e}")))?;
    let Some(mut stdout) = child.stdout.take() else {
        kill(&mut child);
        return Err(TokenError::new("token_command: no output pipe"));
    };
    // Read on another thread so that the wait below keeps its deadline
    // even when the command stops printing without exiting.
    let (sender, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Zeroizing::new(Vec::new());
        let limit = TOKEN_COMMAND_MAX_OUTPUT as u64 + 1;
        let read = (&mut stdout).take(limit).read_to_end(&mut out);
        let _ = sender.send(read.map(|_| out));
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                return Err(TokenError::new(format!(
                    "token_command did not finish within {} s and was stopped",
                    timeout.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill(&mut child);
                return Err(TokenError::new(format!("token_command: {e}")));
            }
        }
    };
    // The shell is gone; whatever it left behind in its group goes too,
    // so the pipe closes and the reader ends.
    kill_group(&child);
    // Bounded too: a process that left the group may still hold the pipe.
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    let output = output
        .recv_timeout(left)
        .map_err(|_| TokenError::new("token_command exited but its output did not end"))?
        .map_err(|e| TokenError::new(format!("token_command: reading its output: {e}")))?;
    if output.len() > TOKEN_COMMAND_MAX_OUTPUT {
        return Err(TokenError::new(format!(
            "token_command printed more than {TOKEN_COMMAND_MAX_OUTPUT} bytes"
        )));
    }
    if !status.success() {
        return Err(TokenError::new(format!("token_command failed ({status})")));
    }
    Ok(output)
}

/// Stops the command and its process group, and reaps it.
fn kill(child: &mut Child) {
    kill_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGKILL to the process group the command leads (its id: `process_group(0)`).
fn kill_group(child: &Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with the negated id of the group this program
        // created for its own child; no memory is involved.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

/// The token in a command's output: a token endpoint's JSON answer
/// (`{"access_token": "...", "expires_in": 3599, ...}`; an `error` member
/// is reported), or a bare token on the first line, optionally followed
/// by a line `expires_in=SECONDS`. Error messages never quote the token.
pub fn parse(output: &[u8]) -> Result<AccessToken, TokenError> {
    let text = std::str::from_utf8(output)
        .map_err(|_| TokenError::new("token_command printed something that is not UTF-8"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(TokenError::new("token_command printed nothing"));
    }
    if text.starts_with('{') {
        return parse_json(text);
    }
    let mut lines = text.lines();
    let token = lines.next().unwrap_or("").trim_end_matches('\r');
    let mut access = AccessToken::new(token);
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(value) = line.strip_prefix("expires_in=") else {
            return Err(TokenError::new(
                "token_command printed more than a token line and an expires_in=SECONDS line",
            ));
        };
        access =
            access.with_expires_in(Duration::from_secs(value.trim().parse().map_err(|_| {
                TokenError::new("token_command's expires_in= is not a number of seconds")
            })?));
    }
    Ok(access)
}

/// A token endpoint's answer (RFC 6749 5.1 and 5.2).
fn parse_json(text: &str) -> Result<AccessToken, TokenError> {
    let mut value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| TokenError::new(format!("token_command printed invalid JSON ({e})")))?;
    let token = token_of(&value);
    // The parsed answer may hold a refresh token too: its strings are wiped.
    wipe(&mut value);
    token
}

/// Every string in `value` overwritten with zeros before it is freed.
fn wipe(value: &mut serde_json::Value) {
    use zeroize::Zeroize;
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
        serde_json::Value::Object(members) => members.values_mut().for_each(wipe),
        _ => {}
    }
}

/// The token and its lifetime in a parsed token endpoint answer.
fn token_of(value: &serde_json::Value) -> Result<AccessToken, TokenError> {
    if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
        let description = value
            .get("error_description")
            .and_then(|d| d.as_str())
            .map(|d| format!(": {}", crate::exit::one_line(d)))
            .unwrap_or_default();
        return Err(TokenError::new(format!(
            "the token endpoint answered error {}{description}",
            crate::exit::one_line(error)
        )));
    }
    let token = value
        .get("access_token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| TokenError::new("token_command's JSON has no access_token string"))?;
    let mut access = AccessToken::new(token);
    match value.get("expires_in") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Number(n)) => {
            let secs = n.as_u64().ok_or_else(|| {
                TokenError::new("token_command's expires_in is not a whole number of seconds")
            })?;
            access = access.with_expires_in(Duration::from_secs(secs));
        }
        // Some endpoints (Microsoft's v1) send it as a string.
        Some(serde_json::Value::String(s)) => {
            let secs = s.trim().parse().map_err(|_| {
                TokenError::new("token_command's expires_in is not a number of seconds")
            })?;
            access = access.with_expires_in(Duration::from_secs(secs));
        }
        Some(_) => {
            return Err(TokenError::new(
                "token_command's expires_in is not a number of seconds",
            ))
        }
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (String, Option<u64>) {
        let t = parse(text.as_bytes()).unwrap();
        (
            t.secret().as_str().to_string(),
            t.expires_in().map(|d| d.as_secs()),
        )
    }

    fn err(text: &str) -> String {
        parse(text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn endpoint_json_and_bare_tokens() {
        assert_eq!(
            ok(
                r#"{"access_token":"ya29.A","expires_in":3599,"scope":"https://mail.google.com/","token_type":"Bearer"}"#
            ),
            ("ya29.A".into(), Some(3599))
        );
        assert_eq!(
            ok("{\"access_token\": \"eyJ0.x\", \"expires_in\": \"3600\", \"refresh_token\": \"R\"}\n"),
            ("eyJ0.x".into(), Some(3600))
        );
        assert_eq!(ok(r#"{"access_token":"t"}"#), ("t".into(), None));
        assert_eq!(ok("ya29.B\n"), ("ya29.B".into(), None));
        assert_eq!(
            ok("ya29.C\r\nexpires_in=120\r\n"),
            ("ya29.C".into(), Some(120))
        );
    }

    #[test]
    fn bad_output_is_named_without_the_token() {
        assert!(err("").contains("nothing"));
        assert!(err("{not json").contains("invalid JSON"));
        assert!(err(r#"{"token":"ya29.SECRET"}"#).contains("no access_token"));
        let e = err(
            r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
        );
        assert!(e.contains("invalid_grant") && e.contains("revoked"), "{e}");
        let e = err(r#"{"access_token":"ya29.SECRET","expires_in":-5}"#);
        assert!(e.contains("expires_in") && !e.contains("SECRET"), "{e}");
        let e = err("ya29.SECRET\nsomething else");
        assert!(!e.contains("SECRET"), "{e}");
        assert!(err("ya29.SECRET\nexpires_in=soon").contains("expires_in"));
        assert!(parse(b"\xff\xfe").is_err());
    }

    #[test]
    fn commands_are_bounded() {
        let out = run("printf 'ya29.D\\nexpires_in=60\\n'", Duration::from_secs(5)).unwrap();
        assert_eq!(&out[..], b"ya29.D\nexpires_in=60\n");
        let e = run("exit 3", Duration::from_secs(5))
            .unwrap_err()
            .to_string();
        assert!(e.contains("failed") && e.contains('3'), "{e}");
        let started = Instant::now();
        let e = run("sleep 20; echo late", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not finish"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // A background child holding the pipe open does not keep us waiting.
        let started = Instant::now();
        let out = run("(sleep 20 &) ; echo tok", Duration::from_secs(5)).unwrap();
        assert_eq!(&out[..], b"tok\n");
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = run(
            "head -c 70000 /dev/zero | tr '\\0' a",
            Duration::from_secs(5),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than"), "{e}");
    }
}
