//! `smtp_client_set_proxy()`: the SOCKS5 or HTTP CONNECT proxy a client's
//! connections go through (the `proxy` option, as a dedicated setter).

use std::ffi::c_char;

use super::{smtp_client, with_client};
use crate::args::opt_str_arg;
use crate::result::smtp_result;

/// Sets the proxy the client's connections go through.
///
/// `url` is one of:
///
/// * `"socks5://[user[:password]@]host[:port]"`: a SOCKS5 proxy (RFC 1928;
///   user/password authentication, RFC 1929, when given), which resolves
///   the mail server's name itself (no DNS query from this machine);
///   `"socks5h://..."` is the same; default port 1080;
/// * `"socks5l://..."`: the same, the name resolved on this machine;
/// * `"http://[user[:password]@]host[:port]"`: an HTTP proxy's CONNECT
///   method, with Basic credentials when given; default port 3128.
///
/// User and password may be percent-encoded (`%40` for `@`, `%3A` for
/// `:`). NULL, `""` or `"off"` removes the proxy. The same as
/// `smtp_client_set_option(client, "proxy", url)`; a pool takes it as
/// `smtp_pool_set_option(pool, "proxy", url)`.
///
/// TLS (STARTTLS or implicit) runs end to end through the tunnel: the
/// proxy sees only encrypted traffic after the handshake, and the
/// certificate is checked against the mail server's name, never the
/// proxy's. The proxy's connection and handshake count against the
/// connect timeout (and the total timeout, if set).
///
/// A malformed URL gives `SMTP_ERR_INVALID_INPUT` with
/// `smtp_last_message()` saying what is wrong (never repeating the
/// password); nothing changes then. At connect, a failed proxy step gives
/// `SMTP_ERR_CONNECT` with a message naming the proxy and the step, e.g.
/// "could not connect to proxy 127.0.0.1:1080: SOCKS5 authentication: the
/// proxy refused the user name or password" (never the password); a
/// proxy that cannot be reached or does not answer in time is
/// `SMTP_ERR_CONNECT` too ("... SOCKS5 greeting: no answer within the
/// connect timeout").
///
/// Applies to the next connect. `client` must not be NULL; `url` is
/// copied, and the proxy password is wiped from the library's memory when
/// replaced or when the client is freed.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_proxy(
    client: *mut smtp_client,
    url: *const c_char,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let url = unsafe { opt_str_arg(url, "url") }?;
        c.config.set("proxy", url.unwrap_or("off"))?;
        Ok(())
    })
}
