/*
 * The STARTTLS attacks of the TLS suite, through the C API, against the
 * scripted server (tests/src/bin/script-server.rs): a reply injected
 * after the 220 to STARTTLS, STARTTLS not offered, STARTTLS refused with
 * 454 — each refused with SMTP_ERR_TLS and no credentials sent — and the
 * positive control (STARTTLS, then AUTH over TLS). Then CR/LF injection
 * into every C setter on a live session: refused with
 * SMTP_ERR_INVALID_INPUT, nothing sent, the session still in step. And
 * the smuggling payloads (early ends of DATA) through smtp_client_send_raw
 * and a composed text body: the server gets one well-formed body of the
 * right size and one MAIL.
 */
#include "script_server.h"

static smtp_client *credentials_client(const script_server *s)
{
    smtp_client *c = scripted_client(s);
    CHECK(c != NULL);
    if (!c) return NULL;
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_STARTTLS));
    CHECK_OK(smtp_client_set_credentials(c, "alice@example.test", "starttls-S3cret"));
    return c;
}

/* Runs one attack scenario: connect must fail with SMTP_ERR_TLS and the
 * server must have seen no AUTH. */
static void refused_attack(const char *scenario, const char *in_message, int saw_starttls)
{
    script_server s;
    smtp_client *c;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, scenario));
    c = credentials_client(&s);
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_TLS);
    CHECK_CONTAINS(smtp_last_message(), in_message);
    CHECK_NOT_CONTAINS(smtp_last_message(), "starttls-S3cret");
    CHECK(!smtp_client_is_connected(c));
    CHECK_RESULT(smtp_client_noop(c), SMTP_ERR_NOT_CONNECTED);
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "connected 1");
    CHECK_CONTAINS(s.out, "line EHLO client.test");
    CHECK_NOT_CONTAINS(s.out, "line AUTH");
    CHECK_NOT_CONTAINS(s.out, "line MAIL");
    if (saw_starttls)
        CHECK_CONTAINS(s.out, "line STARTTLS");
    else
        CHECK_NOT_CONTAINS(s.out, "line STARTTLS");
}

static void test_reply_injected_after_starttls_is_refused(void)
{
    refused_attack("starttls-injection", "injected", 1);
}

static void test_starttls_not_offered_is_refused_without_credentials(void)
{
    refused_attack("starttls-missing", "STARTTLS", 0);
}

static void test_starttls_454_is_refused_without_credentials(void)
{
    refused_attack("starttls-454", "454", 1);
}

static void test_starttls_then_auth_over_tls(void)
{
    script_server s;
    smtp_client *c;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "starttls-ok"));
    c = credentials_client(&s);
    CHECK_OK(smtp_client_add_ca_file(c, s.ca));
    CHECK_OK(smtp_client_set_mechanism(c, "PLAIN"));
    CHECK_OK(smtp_client_connect(c));
    CHECK(smtp_client_tls_version(c) != NULL);
    CHECK_STR_EQ(smtp_client_authenticated_with(c), "PLAIN");
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "line STARTTLS");
    CHECK_CONTAINS(s.out, "line AUTH PLAIN ");
}

/* ---- injection through every C setter ---------------------------------- */

static const char *const injections[] = {
    "\r", "\n", "\r\n", "\r\nRCPT TO:<INJECTED@evil.test>\r\n", "\r\nBcc: INJECTED@evil.test\r\n",
};
#define N_INJECTIONS (sizeof injections / sizeof injections[0])

/* base + injection + "INJECTED" in buf */
static const char *bad(char *buf, size_t len, const char *base, size_t i)
{
    snprintf(buf, len, "%s%sINJECTED", base, injections[i]);
    return buf;
}

static void test_control_characters_in_every_setter_are_refused_on_a_live_session(void)
{
    static const uint8_t blob[] = {'x'};
    script_server s;
    smtp_client *c;
    smtp_message *m;
    char v[512];
    size_t i;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "one-message"));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_connect(c));
    m = smtp_message_new();
    CHECK_OK(smtp_message_set_from(m, "sender@example.test"));
    CHECK_OK(smtp_message_add_to(m, "rcpt@example.test"));
    CHECK_OK(smtp_message_set_subject(m, "injection"));
    CHECK_OK(smtp_message_set_text(m, "body\n"));
    for (i = 0; i < N_INJECTIONS; i++) {
        CHECK_RESULT(smtp_message_set_from(m, bad(v, sizeof v, "a@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_set_sender(m, bad(v, sizeof v, "a@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_add_to(m, bad(v, sizeof v, "b@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_add_cc(m, bad(v, sizeof v, "c@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_add_bcc(m, bad(v, sizeof v, "d@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_add_reply_to(m, bad(v, sizeof v, "e@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_set_subject(m, bad(v, sizeof v, "Subject", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_add_header(m, bad(v, sizeof v, "X-Name", i), "value"),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_add_header(m, "X-Name", bad(v, sizeof v, "value", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_set_message_id(m, bad(v, sizeof v, "<id@example.test>", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_set_in_reply_to(m, bad(v, sizeof v, "<id@example.test>", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_set_references(m, bad(v, sizeof v, "<id@example.test>", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_set_envelope_from(m, bad(v, sizeof v, "f@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_add_envelope_to(m, bad(v, sizeof v, "g@example.test", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_attach_bytes(m, bad(v, sizeof v, "a.txt", i), NULL, blob, 1),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_attach_bytes(m, "a.txt", bad(v, sizeof v, "text/plain", i),
                                               blob, 1),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_message_inline_bytes(m, bad(v, sizeof v, "logo", i), "l.png", NULL,
                                               blob, 1),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_client_send_raw(c, bad(v, sizeof v, "h@example.test", i),
                                          "rcpt@example.test", blob, 1),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_client_send_raw(c, "sender@example.test",
                                          bad(v, sizeof v, "rcpt@example.test", i), blob, 1),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_client_set_mechanism(c, bad(v, sizeof v, "PLAIN", i)),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_NOT_CONTAINS(smtp_last_message(), "\r");
        CHECK_NOT_CONTAINS(smtp_last_message(), "\n");
    }
    /* Nothing went out meanwhile: the session is in step. */
    CHECK(smtp_client_is_connected(c));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK_OK(smtp_client_quit(c));
    smtp_message_free(m);
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "line EHLO client.test\nline MAIL FROM:<sender@example.test>\n"
                          "line RCPT TO:<rcpt@example.test>\nline DATA\nline QUIT\nbody ok ");
    CHECK_NOT_CONTAINS(s.out, "INJECTED");
}

static void test_control_characters_in_connection_settings_are_refused_before_connecting(void)
{
    script_server s;
    smtp_client *c;
    char v[512];
    size_t i;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "starttls-missing"));
    c = scripted_client(&s);
    for (i = 0; i < N_INJECTIONS; i++) {
        CHECK_OK(smtp_client_set_client_name(c, bad(v, sizeof v, "client.test", i)));
        CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_INVALID_INPUT);
        CHECK_OK(smtp_client_set_client_name(c, "client.test"));
        CHECK_OK(smtp_client_set_credentials(c, bad(v, sizeof v, "alice", i), "pw"));
        CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_INVALID_INPUT);
        CHECK_OK(smtp_client_set_credentials(c, "alice", bad(v, sizeof v, "pw", i)));
        CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_INVALID_INPUT);
        CHECK_NOT_CONTAINS(smtp_last_message(), "INJECTED");
        CHECK_OK(smtp_client_set_bearer_token(c, "alice", bad(v, sizeof v, "ya29.tok", i)));
        CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_INVALID_INPUT);
        CHECK_OK(smtp_client_set_credentials(c, NULL, NULL));
    }
    /* Then a valid connect: the first connection the server sees. */
    CHECK_OK(smtp_client_connect(c));
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "connected 1\nline EHLO client.test\n");
    CHECK_NOT_CONTAINS(s.out, "INJECTED");
}

/* ---- smuggling through the C API ------------------------------------------ */

static const char *const early_ends[] = {
    "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r.\r\n",
    "\n.\r", "\r.\n", "\r\r\n.\r\r\n", "\r\n.\r\n", "\r\n..\r\n",
};

/* The size of `raw` with every CR, LF and CRLF as CRLF and the last line
 * terminated: what the server must get (before dot-stuffing). */
static size_t normalised_size(const char *raw)
{
    size_t n = 0, i, len = strlen(raw);
    int at_line_start = 1;
    for (i = 0; i < len; i++) {
        if (raw[i] == '\r' || raw[i] == '\n') {
            if (raw[i] == '\r' && raw[i + 1] == '\n') i++;
            n += 2;
            at_line_start = 1;
        } else {
            n++;
            at_line_start = 0;
        }
    }
    return at_line_start ? n : n + 2;
}

static void test_early_ends_of_data_are_neutralised_through_the_c_api(void)
{
    char raw[1024], body[512], expect[64];
    size_t i;
    int composed;
    if (!have_script_server()) return;
    for (i = 0; i < sizeof early_ends / sizeof early_ends[0]; i++) {
        for (composed = 0; composed < 2; composed++) {
            script_server s;
            smtp_client *c;
            snprintf(body, sizeof body,
                     "first line%sMAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<victim@example.test>"
                     "\r\nDATA\r\nsmuggled\r\n.\r\nlast line\r\n",
                     early_ends[i]);
            snprintf(raw, sizeof raw,
                     "From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\n"
                     "Subject: smuggling %u\r\n\r\n%s",
                     (unsigned)i, body);
            CHECK(script_server_start(&s, "one-message"));
            c = scripted_client(&s);
            CHECK_OK(smtp_client_connect(c));
            if (composed) {
                smtp_message *m = smtp_message_new();
                CHECK_OK(smtp_message_set_from(m, "sender@example.test"));
                CHECK_OK(smtp_message_add_to(m, "rcpt@example.test"));
                CHECK_OK(smtp_message_set_text(m, body));
                CHECK_OK(smtp_client_send_message(c, m));
                smtp_message_free(m);
            } else {
                CHECK_OK(smtp_client_send_raw(c, "sender@example.test", "rcpt@example.test",
                                              (const uint8_t *)raw, strlen(raw)));
            }
            CHECK_OK(smtp_client_quit(c));
            smtp_client_free(c);
            script_server_finish(&s);
            CHECK(s.status == 0);
            CHECK_CONTAINS(s.out, "line MAIL FROM:<sender@example.test>\n"
                                  "line RCPT TO:<rcpt@example.test>\nline DATA\nline QUIT\n");
            CHECK_NOT_CONTAINS(s.out, "smuggler");
            CHECK_CONTAINS(s.out, "body ok ");
            if (!composed) {
                snprintf(expect, sizeof expect, "body ok %lu\n",
                         (unsigned long)normalised_size(raw));
                CHECK_CONTAINS(s.out, expect);
            }
        }
    }
}

int main(void)
{
    RUN(test_reply_injected_after_starttls_is_refused);
    RUN(test_starttls_not_offered_is_refused_without_credentials);
    RUN(test_starttls_454_is_refused_without_credentials);
    RUN(test_starttls_then_auth_over_tls);
    RUN(test_control_characters_in_every_setter_are_refused_on_a_live_session);
    RUN(test_control_characters_in_connection_settings_are_refused_before_connecting);
    RUN(test_early_ends_of_data_are_neutralised_through_the_c_api);
    return h_summary();
}
