//! The SOCKS5 handshake (RFC 1928) with optional user/password
//! authentication (RFC 1929), as bytes to send and replies to parse: the
//! greeting offers "no authentication" and, with credentials,
//! "user/password"; CONNECT names the mail server by domain name when
//! the proxy resolves it (no DNS query from here), else by address.

use std::net::IpAddr;

use zeroize::Zeroizing;

use super::Proxy;
use crate::error::{Error, Result};

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
const CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// The greeting: version 5 and the methods offered.
pub fn greeting(proxy: &Proxy) -> Vec<u8> {
    if proxy.has_credentials() {
        vec![VERSION, 2, NO_AUTH, USER_PASSWORD]
    } else {
        vec![VERSION, 1, NO_AUTH]
    }
}

/// What the proxy chose: `Ok(true)` when user/password authentication
/// follows, `Ok(false)` for none. `reply` is the whole 2-octet answer.
pub fn method_chosen(proxy: &Proxy, reply: [u8; 2]) -> Result<bool> {
    if reply[0] != VERSION {
        return Err(proxy.step_error(
            "greeting",
            format!("not a SOCKS5 reply (version {})", reply[0]),
        ));
    }
    match reply[1] {
        NO_AUTH => Ok(false),
        USER_PASSWORD if proxy.has_credentials() => Ok(true),
        NO_ACCEPTABLE if !proxy.has_credentials() => Err(proxy.step_error(
            "greeting",
            "the proxy requires authentication and no credentials are set",
        )),
        NO_ACCEPTABLE => Err(proxy.step_error("greeting", "no acceptable authentication method")),
        other => Err(proxy.step_error(
            "greeting",
            format!("the proxy chose method {other:#04x}, which was not offered"),
        )),
    }
}

/// The RFC 1929 request: version 1, the user and the password, each at
/// most 255 octets. Wiped when dropped.
pub fn auth_request(proxy: &Proxy) -> Result<Zeroizing<Vec<u8>>> {
    let user = proxy.user().unwrap_or("").as_bytes();
    let password = proxy.password().as_bytes();
    if user.is_empty() || user.len() > 255 || password.len() > 255 {
        return Err(Error::invalid(
            "proxy",
            "SOCKS5 user and password must be 1 to 255 and 0 to 255 octets".to_string(),
        ));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(3 + user.len() + password.len()));
    out.push(1);
    out.push(user.len() as u8);
    out.extend_from_slice(user);
    out.push(password.len() as u8);
    out.extend_from_slice(password);
    Ok(out)
}

/// Checks the 2-octet answer to the authentication request.
pub fn auth_result(proxy: &Proxy, reply: [u8; 2]) -> Result<()> {
    if reply[0] != 1 {
        return Err(proxy.step_error(
            "authentication",
            format!("malformed reply (version {})", reply[0]),
        ));
    }
    if reply[1] != 0 {
        return Err(proxy.step_error(
            "authentication",
            "the proxy refused the user name or password",
        ));
    }
    Ok(())
}

/// The CONNECT request for `host:port`: an address as such; a name as a
/// domain name (the proxy resolves it). A name over 255 octets is
/// [`Error::InvalidInput`].
pub fn connect_request(proxy: &Proxy, host: &str, port: u16) -> Result<Vec<u8>> {
    let mut out = vec![VERSION, CONNECT, 0];
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(IpAddr::V4(a)) => {
            out.push(ATYP_V4);
            out.extend_from_slice(&a.octets());
        }
        Ok(IpAddr::V6(a)) => {
            out.push(ATYP_V6);
            out.extend_from_slice(&a.octets());
        }
        Err(_) => {
            let name = host.as_bytes();
            if name.is_empty() || name.len() > 255 || name.iter().any(|b| b.is_ascii_control()) {
                return Err(proxy.step_error(
                    "connect",
                    "the mail server's name cannot be sent to the proxy",
                ));
            }
            out.push(ATYP_DOMAIN);
            out.push(name.len() as u8);
            out.extend_from_slice(name);
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// How long the CONNECT reply is, from its first 5 octets (version,
/// reply, reserved, address type, and the first address octet).
pub fn connect_reply_len(proxy: &Proxy, head: [u8; 5]) -> Result<usize> {
    if head[0] != VERSION {
        return Err(proxy.step_error(
            "connect",
            format!("not a SOCKS5 reply (version {})", head[0]),
        ));
    }
    if head[1] != 0 {
        return Err(proxy.step_error("connect", reply_text(head[1])));
    }
    match head[3] {
        ATYP_V4 => Ok(4 + 4 + 2),
        ATYP_V6 => Ok(4 + 16 + 2),
        ATYP_DOMAIN => Ok(4 + 1 + usize::from(head[4]) + 2),
        other => Err(proxy.step_error("connect", format!("unknown address type {other}"))),
    }
}

/// RFC 1928 section 6's reply codes, in words.
fn reply_text(code: u8) -> String {
    match code {
        1 => "general SOCKS server failure".into(),
        2 => "connection not allowed by the proxy's rules".into(),
        3 => "network unreachable".into(),
        4 => "host unreachable".into(),
        5 => "connection refused by the mail server".into(),
        6 => "TTL expired".into(),
        7 => "command not supported".into(),
        8 => "address type not supported".into(),
        other => format!("reply code {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(url: &str) -> Proxy {
        Proxy::parse(url).unwrap()
    }

    #[test]
    fn greeting_and_method_choice() {
        let plain = proxy("socks5://h");
        let with = proxy("socks5://ann:pw@h");
        assert_eq!(greeting(&plain), [5, 1, 0]);
        assert_eq!(greeting(&with), [5, 2, 0, 2]);
        assert!(!method_chosen(&plain, [5, 0]).unwrap());
        assert!(method_chosen(&with, [5, 2]).unwrap());
        assert!(method_chosen(&plain, [5, 2]).is_err(), "not offered");
        assert!(method_chosen(&plain, [5, 0xff])
            .unwrap_err()
            .to_string()
            .contains("requires authentication"));
        assert!(method_chosen(&with, [4, 0]).is_err());
    }

    #[test]
    fn user_password_request_and_result() {
        let with = proxy("socks5://ann:p%20w@h");
        assert_eq!(&**auth_request(&with).unwrap(), b"\x01\x03ann\x03p w");
        assert!(auth_result(&with, [1, 0]).is_ok());
        let refused = auth_result(&with, [1, 1]).unwrap_err().to_string();
        assert!(
            refused.contains("refused") && !refused.contains("p w"),
            "{refused}"
        );
        let long = proxy(&format!("socks5://ann:{}@h", "x".repeat(256)));
        assert!(auth_request(&long).is_err());
    }

    #[test]
    fn connect_requests_by_name_and_address() {
        let p = proxy("socks5://h");
        assert_eq!(
            connect_request(&p, "mail.example.org", 587).unwrap(),
            [&[5, 1, 0, 3, 16][..], b"mail.example.org", &[2, 75]].concat()
        );
        assert_eq!(
            connect_request(&p, "192.0.2.7", 25).unwrap(),
            [5, 1, 0, 1, 192, 0, 2, 7, 0, 25]
        );
        let v6 = connect_request(&p, "[::1]", 465).unwrap();
        assert_eq!((v6[3], v6.len()), (4, 4 + 16 + 2));
        assert!(connect_request(&p, "a\r\nb", 25).is_err());
        assert!(connect_request(&p, &"a".repeat(256), 25).is_err());
    }

    #[test]
    fn connect_replies() {
        let p = proxy("socks5://h");
        assert_eq!(connect_reply_len(&p, [5, 0, 0, 1, 127]).unwrap(), 10);
        assert_eq!(connect_reply_len(&p, [5, 0, 0, 4, 0]).unwrap(), 22);
        assert_eq!(connect_reply_len(&p, [5, 0, 0, 3, 9]).unwrap(), 16);
        let refused = connect_reply_len(&p, [5, 2, 0, 1, 0])
            .unwrap_err()
            .to_string();
        assert!(refused.contains("not allowed"), "{refused}");
        assert!(connect_reply_len(&p, [5, 0, 0, 9, 0]).is_err());
        assert!(connect_reply_len(&p, [b'H', b'T', b'T', b'P', b'/']).is_err());
    }
}
