/*
 * smtp_send(), the one-call API, against the real Postfix test bed:
 * plaintext loopback with AUTH, STARTTLS with a private CA given in the
 * URL, implicit TLS, recipient lists, refused recipients, bad passwords,
 * certificate checks.
 */
#include "harness.h"

static char url[4096];

static void test_plaintext_loopback_with_auth(void)
{
    char marker[128], from[256], to[256];
    char *mail;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "plain");
    CHECK_OK(smtp_send(tb.host, (uint16_t)tb.port_plain, SMTP_SECURITY_NONE, tb.user,
                       tb.password, addr(from, sizeof from, "sender"),
                       addr(to, sizeof to, "plain-rcpt"), marker, "Hello from C.\nSecond line.\n"));
    /* The server's final reply, with its queue id. */
    CHECK(smtp_last_reply_code() == 250);
    CHECK_CONTAINS(smtp_last_message(), "250");
    CHECK_CONTAINS(smtp_last_message(), "queued");
    CHECK_STR_EQ(smtp_last_enhanced_code(), "2.0.0");
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    CHECK_CONTAINS(mail, "Subject: mk-plain-");
    CHECK_CONTAINS(mail, "Hello from C.\nSecond line.");
    CHECK_CONTAINS(mail, "Message-ID: <");
    CHECK_CONTAINS(mail, "Date: ");
    CHECK_CONTAINS(mail, "From: sender@example.test");
    CHECK_CONTAINS(mail, "To: plain-rcpt@example.test");
    free(mail);
}

static void test_starttls_with_ca_file_in_url(void)
{
    char marker[128], from[256];
    char *mail;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "starttls");
    /* The password goes separately; the URL only says where and which CA. */
    snprintf(url, sizeof url, "smtp://localhost:%d?ca_file=%s", tb.port_submission, tb.ca_file);
    CHECK_OK(smtp_send(url, 0, SMTP_SECURITY_DEFAULT, tb.user, tb.password,
                       addr(from, sizeof from, "sender"),
                       "one@example.test, \"Two, Second\" <two@example.test>", marker,
                       "Over STARTTLS."));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    CHECK_CONTAINS(mail, "Over STARTTLS.");
    CHECK_CONTAINS(mail, "two@example.test");
    free(mail);
    /* Both recipients got it (one Maildir for all: two copies). */
    CHECK(count_delivered(marker) == 2);
}

static void test_implicit_tls_and_credentials_in_url(void)
{
    char marker[128], from[256], to[256];
    char *mail;
    if (!have_testbed() || !tb.port_smtps) return;
    make_marker(marker, sizeof marker, "smtps");
    /* Percent-encoded credentials (the password has ' ', '@' and '!'), and
     * the port given as an argument overriding the URL's default 465. */
    snprintf(url, sizeof url, "smtps://testuser:t3st-P%%40ss%%20word%%21@localhost?ca_file=%s",
             tb.ca_file);
    if (strcmp(tb.password, "t3st-P@ss word!") != 0 || strcmp(tb.user, "testuser") != 0) {
        /* The URL above encodes the usual test-bed password. */
        return;
    }
    CHECK_OK(smtp_send(url, (uint16_t)tb.port_smtps, SMTP_SECURITY_DEFAULT, NULL, NULL,
                       addr(from, sizeof from, "sender"), addr(to, sizeof to, "smtps-rcpt"),
                       marker, "Over implicit TLS."));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    free(mail);
}

static void test_host_port_string(void)
{
    char server[300], marker[128], from[256], to[256];
    char *mail;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "hostport");
    snprintf(server, sizeof server, "%s:%d", tb.host, tb.port_noauth);
    CHECK_OK(smtp_send(server, 0, SMTP_SECURITY_NONE, "", NULL, addr(from, sizeof from, "s"),
                       addr(to, sizeof to, "noauth-rcpt"), marker, "No AUTH at all."));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    free(mail);
}

static void test_bad_password(void)
{
    char from[256], to[256];
    if (!have_testbed()) return;
    CHECK_RESULT(smtp_send(tb.host, (uint16_t)tb.port_plain, SMTP_SECURITY_NONE, tb.user,
                           "wrong password", addr(from, sizeof from, "s"),
                           addr(to, sizeof to, "r"), "s", "b"),
                 SMTP_ERR_AUTH);
    CHECK(smtp_last_reply_code() == 535);
    CHECK_STR_EQ(smtp_last_enhanced_code(), "5.7.8");
    /* The server's own text is in the message; the password is not. */
    CHECK_CONTAINS(smtp_last_message(), "authentication failed");
    CHECK_CONTAINS(smtp_last_message(), "535");
    CHECK_NOT_CONTAINS(smtp_last_message(), "wrong password");
}

static void test_refused_recipient_sends_nothing(void)
{
    char marker[128], from[256], to[600];
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "refused");
    snprintf(to, sizeof to, "ok-rcpt@%s, reject-x@%s", tb.domain, tb.domain);
    CHECK_RESULT(smtp_send(tb.host, (uint16_t)tb.port_plain, SMTP_SECURITY_NONE, tb.user,
                           tb.password, addr(from, sizeof from, "s"), to, marker, "b"),
                 SMTP_ERR_RECIPIENTS_REFUSED);
    CHECK(smtp_last_reply_code() == 550);
    CHECK_CONTAINS(smtp_last_message(), "reject-x@");
    /* All or nothing: the accepted recipient did not get it either. */
    {
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(count_delivered(marker) == 0);
}

static void test_certificates_are_checked(void)
{
    char from[256], to[256];
    if (!have_testbed()) return;
    /* Without the private CA, the test bed's certificate is not trusted. */
    snprintf(url, sizeof url, "smtp://localhost:%d?timeout=20", tb.port_submission);
    CHECK_RESULT(smtp_send(url, 0, SMTP_SECURITY_DEFAULT, tb.user, tb.password,
                           addr(from, sizeof from, "s"), addr(to, sizeof to, "r"), "s", "b"),
                 SMTP_ERR_TLS);
    CHECK_CONTAINS(smtp_last_message(), "certificate");
    /* Credentials on a port without STARTTLS: TLS is required, not skipped. */
    CHECK_RESULT(smtp_send(tb.host, (uint16_t)tb.port_plain, SMTP_SECURITY_DEFAULT, tb.user,
                           tb.password, addr(from, sizeof from, "s"), addr(to, sizeof to, "r"),
                           "s", "b"),
                 SMTP_ERR_TLS);
    CHECK_CONTAINS(smtp_last_message(), "STARTTLS");
}

int main(void)
{
    RUN(test_plaintext_loopback_with_auth);
    RUN(test_starttls_with_ca_file_in_url);
    RUN(test_implicit_tls_and_credentials_in_url);
    RUN(test_host_port_string);
    RUN(test_bad_password);
    RUN(test_refused_recipient_sends_nothing);
    RUN(test_certificates_are_checked);
    return h_summary();
}
