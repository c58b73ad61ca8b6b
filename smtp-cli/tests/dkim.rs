//! `smtp-send` with DKIM settings (`dkim_domain`, `dkim_key`): direct mode
//! and sendmail mode both sign, checked by dkimpy (tests/dkim_verify.py)
//! when python3-dkim is installed, and by the signature's presence and
//! body hash always; a key file others can read gives a warning.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{fake, TempDir};
use smtp_tests::catcher::Catcher;
use smtp_tests::skip::skipped;

fn smtp_send(url: &str) -> Command {
    fake::args(fake::smtp_send(), &["--url", url])
}

/// Runs `command` with `stdin`; its status and standard error.
fn run(command: Command, stdin: &[u8]) -> (i32, String) {
    let out = fake::run(command, stdin);
    (out.code, out.stderr)
}

/// dkimpy's verdict, or `None` when it is not installed.
fn dkimpy(message: &[u8], dir: &Path, record: &str) -> Option<String> {
    let python = ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import dkim, nacl"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = python else {
        if std::env::var("SMTP_TESTBED_REQUIRED").as_deref() == Ok("1") {
            panic!("python3-dkim and python3-nacl are needed");
        }
        skipped(
            "python3-dkim (dkimpy) is not installed: only the signature's body hash is checked",
        );
        return None;
    };
    let file = dir.join("caught.eml");
    std::fs::write(&file, message).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/dkim_verify.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&file)
        .arg(format!("ed._domainkey.example.org={record}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dkimpy: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn direct_and_sendmail_modes_sign() {
    let dir = TempDir::new("dkim");
    let key = dir.0.join("ed.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ED25519", "-out"])
        .arg(&key)
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        return skipped("openssl is not installed");
    }
    // The raw public key: the last 32 bytes of its SubjectPublicKeyInfo.
    let public = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl pkey -in '{}' -pubout -outform DER | tail -c 32 | base64 -w0",
            key.display()
        ))
        .output()
        .unwrap();
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        String::from_utf8_lossy(&public.stdout).trim()
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let catcher = Catcher::start();
    let url = format!(
        "smtp://127.0.0.1:{}?security=none&dkim_domain=example.org&dkim_key=ed:{}",
        catcher.port(),
        key.display()
    );
    let mut direct = smtp_send(&url);
    direct.args([
        "--from",
        "sender@example.org",
        "--to",
        "rcpt@example.net",
        "--subject",
        "direct",
        "--body",
        "Direct mode.",
    ]);
    let (code, stderr) = run(direct, b"");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("can be read by other users"), "{stderr}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut sendmail = smtp_send(&url);
    sendmail.arg("-t");
    let (code, stderr) = run(
        sendmail,
        b"From: sender@example.org\nTo: rcpt@example.net\nSubject: sendmail\n\nSendmail mode.\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("other users"), "{stderr}");
    let caught = catcher.messages();
    assert_eq!(caught.len(), 2);
    for c in caught {
        let text = String::from_utf8_lossy(&c.body);
        assert!(
            text.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"),
            "{text}"
        );
        if let Some(verdict) = dkimpy(&c.body, &dir.0, &record) {
            assert!(verdict.starts_with("pass"), "{verdict}");
        }
    }
}
