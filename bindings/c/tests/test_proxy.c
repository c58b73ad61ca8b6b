/*
 * smtp_client_set_proxy() and the "proxy" option of a pool: mail through
 * the test bed's SOCKS5 proxies (dante, with and without user/password)
 * and its HTTP CONNECT proxy (tinyproxy, Basic credentials) to Postfix
 * with STARTTLS, checked in the Maildir; the transcript shows the
 * session went to the proxy and never the proxy's password. A wrong
 * proxy password is SMTP_ERR_CONNECT with a message naming the proxy and
 * its step, never the password. Without a server: NULL, invalid UTF-8
 * and malformed URLs (whose password the message does not repeat).
 */
#include "harness.h"

/* The bed's proxies (SMTP_TESTBED_SOCKS5_* and SMTP_TESTBED_HTTP_PROXY_*
 * from the env file). */
static struct {
    int socks_port, socks_noauth_port, http_port;
    const char *socks_user, *socks_password, *http_user, *http_password;
} px;

/* The bed and its proxies: 1 when both are there. */
static int have_proxies(void)
{
    if (!have_testbed()) return 0;
    px.socks_port = h_env_port("SMTP_TESTBED_SOCKS5_PORT");
    px.socks_noauth_port = h_env_port("SMTP_TESTBED_SOCKS5_NOAUTH_PORT");
    px.http_port = h_env_port("SMTP_TESTBED_HTTP_PROXY_PORT");
    px.socks_user = getenv("SMTP_TESTBED_SOCKS5_USER");
    px.socks_password = getenv("SMTP_TESTBED_SOCKS5_PASSWORD");
    px.http_user = getenv("SMTP_TESTBED_HTTP_PROXY_USER");
    px.http_password = getenv("SMTP_TESTBED_HTTP_PROXY_PASSWORD");
    if (px.socks_port && px.socks_noauth_port && px.http_port && px.socks_user &&
        px.socks_password && *px.socks_password && px.http_user && px.http_password &&
        *px.http_password)
        return 1;
    h_missing("proxies", "SMTP_TESTBED_SOCKS5_PORT is empty: start the bed with dante-server "
                         "and tinyproxy installed");
    return 0;
}

/* The proxies' URLs; the passwords are letters, digits and '-', so they
 * need no percent-encoding. */
static const char *socks_url(char *buf, size_t len, const char *password)
{
    snprintf(buf, len, "socks5h://%s:%s@%s:%d", px.socks_user, password, tb.host, px.socks_port);
    return buf;
}

static const char *socks_noauth_url(char *buf, size_t len)
{
    snprintf(buf, len, "socks5://%s:%d", tb.host, px.socks_noauth_port);
    return buf;
}

static const char *http_url(char *buf, size_t len, const char *password)
{
    snprintf(buf, len, "http://%s:%s@%s:%d", px.http_user, password, tb.host, px.http_port);
    return buf;
}

/* A client for the bed's submission port as "localhost" (STARTTLS
 * required, only the bed's CA trusted), authenticated, through `proxy`,
 * its transcript into t. */
static smtp_client *submission_client(const char *proxy, transcript *t)
{
    smtp_client *c = NULL;
    if (smtp_client_new("localhost", (uint16_t)tb.port_submission, &c) != SMTP_OK) return NULL;
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_STARTTLS));
    CHECK_OK(smtp_client_add_ca_file(c, tb.ca_file));
    CHECK_OK(smtp_client_set_option(c, "system_roots", "off"));
    CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
    CHECK_OK(smtp_client_set_client_name(c, "client.example.test"));
    CHECK_OK(smtp_client_set_timeouts(c, 20000, 20000, 0));
    CHECK_OK(smtp_client_set_transcript(c, collect_line, t));
    CHECK_OK(smtp_client_set_proxy(c, proxy));
    return c;
}

/* The transcript's "connected to" line names the proxy's port. */
static void check_went_through(const transcript *t, int proxy_port)
{
    char want[32];
    const char *line = t->text ? strstr(t->text, "connected to ") : NULL;
    const char *end = line ? strchr(line, '\n') : NULL;
    snprintf(want, sizeof want, ":%d", proxy_port);
    if (!line || !end) {
        h_fail(__FILE__, __LINE__, "no \"connected to\" line in the transcript");
        return;
    }
    {
        char copy[256];
        size_t n = (size_t)(end - line) < sizeof copy - 1 ? (size_t)(end - line) : sizeof copy - 1;
        memcpy(copy, line, n);
        copy[n] = '\0';
        CHECK_CONTAINS(copy, want);
    }
}

/* Sends one message through `proxy` (STARTTLS to submission) and checks
 * it arrived over TLS, authenticated, through the proxy at proxy_port,
 * and that no transcript line holds `secret` (NULL: none to check). */
static void send_through(const char *proxy, int proxy_port, const char *secret, const char *tag)
{
    char marker[128], from[256], to[256], raw[1024];
    transcript t = {0};
    smtp_client *c = submission_client(proxy, &t);
    char *mail;
    CHECK(c != NULL);
    if (!c) return;
    make_marker(marker, sizeof marker, tag);
    snprintf(raw, sizeof raw,
             "From: <sender@%s>\r\nTo: <rcpt@%s>\r\nSubject: %s\r\n\r\nThrough a proxy.\r\n",
             tb.domain, tb.domain, marker);
    CHECK_OK(smtp_client_connect(c));
    CHECK(smtp_client_tls_version(c) != NULL);
    CHECK_OK(smtp_client_send_raw(c, addr(from, sizeof from, "sender"),
                                  addr(to, sizeof to, "rcpt"), (const uint8_t *)raw,
                                  strlen(raw)));
    CHECK_OK(smtp_client_quit(c));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    /* Postfix's "with ESMTPSA": TLS (S) and AUTH (A). */
    CHECK_CONTAINS(mail, "with ESMTPSA");
    free(mail);
    check_went_through(&t, proxy_port);
    if (secret) CHECK_NOT_CONTAINS(t.text, secret);
    CHECK_NOT_CONTAINS(t.text, tb.password);
    smtp_client_free(c);
    free(t.text);
}

/* ---- without a server --------------------------------------------------- */

static void test_null_invalid_utf8_and_bad_urls(void)
{
    smtp_client *c = NULL;
    CHECK_RESULT(smtp_client_set_proxy(NULL, "socks5://127.0.0.1"), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    CHECK_RESULT(smtp_client_set_proxy(c, "socks5://\xff\xfe"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_proxy(c, "ftp://proxy.example.test"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "proxy");
    CHECK_RESULT(smtp_client_set_proxy(c, "proxy.example.test:1080"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "proxy");
    /* A malformed URL's message never repeats its password. */
    CHECK_RESULT(smtp_client_set_proxy(c, "socks5://user:hunter2-secret@"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "proxy");
    CHECK_NOT_CONTAINS(smtp_last_message(), "hunter2-secret");
    CHECK_RESULT(smtp_client_set_proxy(c, "http://user:hunter2-secret@proxy.example.test/x"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_NOT_CONTAINS(smtp_last_message(), "hunter2-secret");
    /* Good ones, and the ways to remove it. */
    CHECK_OK(smtp_client_set_proxy(c, "socks5://127.0.0.1"));
    CHECK_OK(smtp_client_set_proxy(c, "socks5l://u:p@127.0.0.1:1081"));
    CHECK_OK(smtp_client_set_proxy(c, "http://u%40x:p%3Ass@[::1]:3128"));
    CHECK_OK(smtp_client_set_proxy(c, NULL));
    CHECK_OK(smtp_client_set_proxy(c, ""));
    CHECK_OK(smtp_client_set_proxy(c, "off"));
    CHECK_OK(smtp_client_set_option(c, "proxy", "socks5h://127.0.0.1:1080"));
    smtp_client_free(c);
}

/* A proxy that refuses connections: SMTP_ERR_CONNECT naming the proxy,
 * not the mail server. Port 1 of loopback is closed. */
static void test_an_unreachable_proxy_is_a_connect_error(void)
{
    smtp_client *c = NULL;
    CHECK_OK(smtp_client_new("localhost", 587, &c));
    CHECK_OK(smtp_client_set_timeouts(c, 5000, 5000, 0));
    CHECK_OK(smtp_client_set_proxy(c, "socks5://user:unreachable-pw@127.0.0.1:1"));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_CONNECT);
    CHECK_CONTAINS(smtp_last_message(), "127.0.0.1:1");
    CHECK_NOT_CONTAINS(smtp_last_message(), "unreachable-pw");
    smtp_client_free(c);
}

/* ---- against the test bed ------------------------------------------------ */

static void test_socks5_with_password_starttls(void)
{
    char url[512];
    if (!have_proxies()) return;
    send_through(socks_url(url, sizeof url, px.socks_password), px.socks_port, px.socks_password,
                 "c-socks");
}

static void test_socks5_without_authentication_starttls(void)
{
    char url[512];
    if (!have_proxies()) return;
    send_through(socks_noauth_url(url, sizeof url), px.socks_noauth_port, NULL, "c-socks-noauth");
}

static void test_http_connect_starttls(void)
{
    char url[512];
    if (!have_proxies()) return;
    send_through(http_url(url, sizeof url, px.http_password), px.http_port, px.http_password,
                 "c-http");
}

/* Connects through `proxy` expecting SMTP_ERR_CONNECT; the message must
 * name the proxy at proxy_port and contain `step`, and hold neither
 * password. */
static void check_refused(const char *proxy, int proxy_port, const char *step,
                          const char *wrong, const char *right)
{
    char where[64];
    transcript t = {0};
    smtp_client *c = submission_client(proxy, &t);
    CHECK(c != NULL);
    if (!c) return;
    snprintf(where, sizeof where, "proxy %s:%d", tb.host, proxy_port);
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_CONNECT);
    CHECK_CONTAINS(smtp_last_message(), where);
    CHECK_CONTAINS(smtp_last_message(), step);
    CHECK_NOT_CONTAINS(smtp_last_message(), wrong);
    CHECK_NOT_CONTAINS(smtp_last_message(), right);
    CHECK_NOT_CONTAINS(t.text, wrong);
    CHECK_NOT_CONTAINS(t.text, right);
    CHECK(!smtp_client_is_connected(c));
    smtp_client_free(c);
    free(t.text);
}

static void test_a_wrong_proxy_password_names_the_step_not_the_password(void)
{
    char url[512], wrong[128];
    if (!have_proxies()) return;
    make_marker(wrong, sizeof wrong, "wrong-pw");
    check_refused(socks_url(url, sizeof url, wrong), px.socks_port,
                  "SOCKS5 authentication: the proxy refused the user name or password", wrong,
                  px.socks_password);
    /* tinyproxy answers wrong Basic credentials with 401 (missing ones
     * with 407): the message names the HTTP CONNECT step either way. */
    check_refused(http_url(url, sizeof url, wrong), px.http_port, "HTTP CONNECT", wrong,
                  px.http_password);
    CHECK(strstr(smtp_last_message(), "authentication") != NULL ||
          strstr(smtp_last_message(), "401") != NULL);
}

/* A pool with its options by name, "proxy" among them: two messages
 * arrive through it. */
static void pool_through(const char *proxy, const char *tag)
{
    char url[512], marker[128], from[256], to[256], raw[1024];
    smtp_pool *p = NULL;
    int i;
    snprintf(url, sizeof url, "smtp://localhost:%d", tb.port_submission);
    CHECK_OK(smtp_pool_new(url, &p));
    if (!p) return;
    CHECK_OK(smtp_pool_set_option(p, "security", "starttls"));
    CHECK_OK(smtp_pool_set_option(p, "ca_file", tb.ca_file));
    CHECK_OK(smtp_pool_set_option(p, "system_roots", "off"));
    CHECK_OK(smtp_pool_set_option(p, "user", tb.user));
    CHECK_OK(smtp_pool_set_option(p, "password", tb.password));
    CHECK_OK(smtp_pool_set_option(p, "timeout", "20"));
    CHECK_OK(smtp_pool_set_option(p, "max_connections", "1"));
    CHECK_OK(smtp_pool_set_option(p, "proxy", proxy));
    for (i = 0; i < 2; i++) {
        char *mail;
        make_marker(marker, sizeof marker, tag);
        snprintf(raw, sizeof raw, "Subject: %s\r\n\r\npool message %d through a proxy\r\n",
                 marker, i);
        CHECK_OK(smtp_pool_send_raw(p, addr(from, sizeof from, "sender"),
                                    addr(to, sizeof to, "rcpt"), (const uint8_t *)raw,
                                    strlen(raw)));
        mail = find_delivered(marker);
        CHECK(mail != NULL);
        CHECK_CONTAINS(mail, "with ESMTPSA");
        free(mail);
    }
    CHECK(smtp_pool_open_connections(p) == 1);
    CHECK_OK(smtp_pool_close(p));
    smtp_pool_free(p);
}

static void test_a_pool_through_each_proxy(void)
{
    char url[512];
    if (!have_proxies()) return;
    pool_through(socks_url(url, sizeof url, px.socks_password), "c-pool-socks");
    pool_through(http_url(url, sizeof url, px.http_password), "c-pool-http");
}

static void test_a_pool_with_a_wrong_proxy_password(void)
{
    char url[512], purl[512], wrong[128], from[256], to[256];
    const char *raw = "Subject: never sent\r\n\r\nx\r\n";
    smtp_pool *p = NULL;
    if (!have_proxies()) return;
    make_marker(wrong, sizeof wrong, "wrong-pool-pw");
    snprintf(url, sizeof url, "smtp://localhost:%d", tb.port_submission);
    CHECK_OK(smtp_pool_new(url, &p));
    if (!p) return;
    CHECK_OK(smtp_pool_set_option(p, "ca_file", tb.ca_file));
    CHECK_OK(smtp_pool_set_option(p, "user", tb.user));
    CHECK_OK(smtp_pool_set_option(p, "password", tb.password));
    CHECK_OK(smtp_pool_set_option(p, "timeout", "20"));
    CHECK_OK(smtp_pool_set_option(p, "proxy", socks_url(purl, sizeof purl, wrong)));
    CHECK_RESULT(smtp_pool_send_raw(p, addr(from, sizeof from, "sender"),
                                    addr(to, sizeof to, "rcpt"), (const uint8_t *)raw,
                                    strlen(raw)),
                 SMTP_ERR_CONNECT);
    CHECK_CONTAINS(smtp_last_message(), "SOCKS5 authentication");
    CHECK_NOT_CONTAINS(smtp_last_message(), wrong);
    CHECK(smtp_pool_open_connections(p) == 0);
    smtp_pool_free(p);
}

int main(void)
{
    RUN(test_null_invalid_utf8_and_bad_urls);
    RUN(test_an_unreachable_proxy_is_a_connect_error);
    RUN(test_socks5_with_password_starttls);
    RUN(test_socks5_without_authentication_starttls);
    RUN(test_http_connect_starttls);
    RUN(test_a_wrong_proxy_password_names_the_step_not_the_password);
    RUN(test_a_pool_through_each_proxy);
    RUN(test_a_pool_with_a_wrong_proxy_password);
    return h_summary();
}
