//! The DKIM tests' keys and verifiers: keys and their DNS records made by
//! `openssl`, dkimpy through `tests/dkim_verify.py`, and `mail-auth` with
//! the records in its TXT cache (no DNS, no network).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use base64::Engine as _;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use smtp_core::{DkimKey, DkimSigner};
use smtp_tests::skip::skipped;

pub const DOMAIN: &str = "example.org";

/// Keys and their DNS records, made once per test process.
pub struct Keys {
    pub dir: PathBuf,
    /// (selector, TXT record).
    pub records: Vec<(String, String)>,
}

impl Keys {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn rsa(&self) -> DkimKey {
        DkimKey::from_file(DOMAIN, "rsa", self.path("rsa.pem")).unwrap()
    }

    pub fn rsa_pkcs1(&self) -> DkimKey {
        DkimKey::from_file(DOMAIN, "rsa1", self.path("rsa1.pem")).unwrap()
    }

    pub fn ed(&self) -> DkimKey {
        DkimKey::from_file(DOMAIN, "ed", self.path("ed.pem")).unwrap()
    }

    pub fn both(&self) -> DkimSigner {
        DkimSigner::new(self.ed()).with_key(self.rsa())
    }
}

fn openssl(args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("openssl").args(args).output().ok()?;
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

fn make_keys() -> Option<Keys> {
    let dir = std::env::temp_dir().join(format!("smtp-dkim-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |n: &str| dir.join(n).display().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &p("rsa.pem"),
    ])?;
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &p("rsa1-8.pem"),
    ])?;
    openssl(&[
        "rsa",
        "-in",
        &p("rsa1-8.pem"),
        "-traditional",
        "-out",
        &p("rsa1.pem"),
    ])?;
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", &p("ed.pem")])?;
    for f in ["rsa.pem", "rsa1.pem", "ed.pem"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let spki = |f: &str| openssl(&["pkey", "-in", &p(f), "-pubout", "-outform", "DER"]).unwrap();
    let ed = spki("ed.pem");
    let records = vec![
        (
            "rsa".into(),
            format!("v=DKIM1; k=rsa; p={}", b64(&spki("rsa.pem"))),
        ),
        (
            "rsa1".into(),
            format!("v=DKIM1; k=rsa; p={}", b64(&spki("rsa1.pem"))),
        ),
        // RFC 8463 4.2: the raw key, the last 32 bytes of the SPKI.
        (
            "ed".into(),
            format!("v=DKIM1; k=ed25519; p={}", b64(&ed[ed.len() - 32..])),
        ),
    ];
    Some(Keys { dir, records })
}

pub fn keys() -> Option<&'static Keys> {
    static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
    let keys = KEYS.get_or_init(make_keys).as_ref();
    if keys.is_none() {
        skipped("openssl is not installed");
    }
    keys
}

// ----- dkimpy -------------------------------------------------------------

/// A Python interpreter that has dkimpy (and PyNaCl for Ed25519).
fn python_with_dkimpy() -> Option<&'static str> {
    static PYTHON: OnceLock<Option<&'static str>> = OnceLock::new();
    *PYTHON.get_or_init(|| {
        ["/usr/bin/python3", "python3"].into_iter().find(|py| {
            Command::new(py)
                .args(["-c", "import dkim, nacl"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    })
}

/// dkimpy's verdict on each signature, all passing; `None` when dkimpy is
/// missing (a failure under `SMTP_TESTBED_REQUIRED=1`).
fn dkimpy(message: &[u8], keys: &Keys) -> Option<Vec<String>> {
    let (passed, lines) = run_dkimpy(message, keys)?;
    assert!(passed, "dkimpy: {lines:?}");
    Some(lines)
}

/// Runs dkimpy: whether every signature passed, and its report lines.
pub fn run_dkimpy(message: &[u8], keys: &Keys) -> Option<(bool, Vec<String>)> {
    let Some(python) = python_with_dkimpy() else {
        if std::env::var("SMTP_TESTBED_REQUIRED").as_deref() == Ok("1") {
            panic!("python3-dkim (dkimpy) and python3-nacl are needed: apt-get install python3-dkim python3-nacl");
        }
        skipped("python3-dkim (dkimpy) is not installed: dkimpy verification skipped");
        return None;
    };
    let file = keys
        .dir
        .join(format!("msg-{:?}.eml", std::thread::current().id()));
    std::fs::write(&file, message).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("dkim_verify.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg(&file);
    for (selector, record) in &keys.records {
        cmd.arg(format!("{selector}._domainkey.{DOMAIN}={record}"));
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "dkimpy: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((code == Some(0), text.lines().map(String::from).collect()))
}

// ----- mail-auth ------------------------------------------------------------

/// mail-auth's TXT cache, filled with the key records: lookups never
/// reach DNS.
struct Records(Mutex<HashMap<Box<str>, Txt>>);

impl ResolverCache<Box<str>, Txt> for Records {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }

    fn insert(&self, key: Box<str>, value: Txt, _: Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// mail-auth's result for each signature, in order.
pub fn mail_auth(message: &[u8], keys: &Keys) -> Vec<DkimResult> {
    let mut map = HashMap::new();
    for (selector, record) in &keys.records {
        let parse = || DomainKey::parse(record.as_bytes()).expect("mail-auth parses the record");
        let name = format!("{selector}._domainkey.{DOMAIN}");
        map.insert(format!("{name}.").into_boxed_str(), Txt::from(parse()));
        map.insert(name.into_boxed_str(), Txt::from(parse()));
    }
    let records = Records(Mutex::new(map));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // A resolver is needed, but the cache answers every lookup.
        let authenticator = MessageAuthenticator::new_cloudflare().unwrap();
        let parsed = AuthenticatedMessage::parse(message).expect("mail-auth parses the message");
        authenticator
            .verify_dkim(Parameters::new(&parsed).with_txt_cache(&records))
            .await
            .into_iter()
            .map(|o| o.result().clone())
            .collect()
    })
}

/// Both verifiers pass `expected` signatures, in the expected order of
/// algorithms (RSA's first).
pub fn assert_verifies(message: &[u8], keys: &Keys, algorithms: &[&str]) {
    verify_with(message, keys, algorithms, true);
}

/// [`assert_verifies`], with or without mail-auth.
pub fn verify_with(message: &[u8], keys: &Keys, algorithms: &[&str], use_mail_auth: bool) {
    let found: Vec<String> = signature_fields(message)
        .iter()
        .map(|f| tag(f, "a"))
        .collect();
    assert_eq!(found, algorithms, "signatures in order");
    if use_mail_auth {
        let results = mail_auth(message, keys);
        assert_eq!(results.len(), algorithms.len(), "{results:?}");
        assert!(
            results.iter().all(|r| *r == DkimResult::Pass),
            "mail-auth: {results:?}"
        );
    }
    if let Some(lines) = dkimpy(message, keys) {
        assert_eq!(lines.len(), algorithms.len(), "{lines:?}");
        for (line, alg) in lines.iter().zip(algorithms) {
            assert!(line.starts_with(&format!("pass a={alg}")), "{lines:?}");
        }
    }
}

/// The DKIM-Signature fields of a message, each with its folding.
pub fn signature_fields(message: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut fields: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                if last.starts_with("DKIM-Signature:") {
                    last.push_str("\r\n");
                    last.push_str(line);
                }
            }
        } else {
            fields.push(line.to_string());
        }
    }
    fields.retain(|f| f.starts_with("DKIM-Signature:"));
    fields
}

pub fn tag(field: &str, name: &str) -> String {
    let unfolded: String = field.chars().filter(|c| !c.is_whitespace()).collect();
    unfolded
        .split_once(':')
        .unwrap()
        .1
        .split(';')
        .find_map(|t| t.strip_prefix(&format!("{name}=")).map(String::from))
        .unwrap_or_default()
}
