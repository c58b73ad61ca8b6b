//! `--serverinfo`: connect (with TLS as configured, without
//! authenticating), print what the server says and offers, send nothing.

use std::fmt::Write as _;

use smtp_core::Client;

use crate::exit::{Failure, Stage};
use crate::settings::{build_config, Purpose, Settings};
use crate::x509;

/// Connects and prints the server's greeting, TLS details, certificate and
/// capabilities on stdout.
pub fn run(settings: &Settings, verbose: bool) -> Result<(), Failure> {
    let config = build_config(settings, Purpose::Inspect)?;
    let config = if verbose {
        crate::with_transcript(config)
    } else {
        config
    };
    let server = format!("{}:{}", config.host(), config.port());
    let security = config.security();
    let mut client =
        Client::connect(config).map_err(|e| Failure::smtp(&e, Stage::Connect, &server))?;
    print!("{}", describe(&client, &server, security));
    let _ = client.quit();
    Ok(())
}

/// The report for a connected client.
fn describe(client: &Client, server: &str, security: smtp_core::Security) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Server:        {server}");
    let _ = writeln!(out, "Security:      {security:?}");
    let _ = writeln!(out, "Greeting:      {}", client.greeting());
    match client.tls_info() {
        Some(tls) => {
            let _ = writeln!(out, "TLS:           {}, {}", tls.version, tls.cipher_suite);
            if let Some(leaf) = tls.peer_certificates.first() {
                match x509::summarize(leaf) {
                    Some(cert) => {
                        let _ = writeln!(out, "Certificate:   subject: {}", cert.subject);
                        let _ = writeln!(out, "               issuer:  {}", cert.issuer);
                        let _ = writeln!(
                            out,
                            "               valid:   {} to {}",
                            cert.not_before, cert.not_after
                        );
                        if !cert.alt_names.is_empty() {
                            let _ = writeln!(
                                out,
                                "               names:   {}",
                                cert.alt_names.join(", ")
                            );
                        }
                    }
                    None => {
                        let _ = writeln!(out, "Certificate:   {} bytes (not decoded)", leaf.len());
                    }
                }
                let _ = writeln!(
                    out,
                    "               chain:   {} certificate(s), verified",
                    tls.peer_certificates.len()
                );
            }
        }
        None => {
            let _ = writeln!(out, "TLS:           none (the connection is not encrypted)");
        }
    }
    let caps = client.capabilities();
    if caps.extended {
        let _ = writeln!(out, "Capabilities (EHLO {}):", caps.server_name);
        for line in &caps.raw {
            let _ = writeln!(out, "    {line}");
        }
        if caps.auth.is_empty() {
            let _ = writeln!(out, "Authentication: not offered");
        } else {
            let _ = writeln!(out, "Authentication: {}", caps.auth.join(" "));
        }
    } else {
        let _ = writeln!(
            out,
            "Capabilities:  none (the server refused EHLO; HELO used)"
        );
    }
    out
}
