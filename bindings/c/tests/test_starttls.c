/*
 * The STARTTLS attacks of the TLS suite, through the C API, against the
 * scripted server (tests/src/bin/script-server/main.rs): a reply injected
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

/* Every setter that takes text, as one row: its name (for the report), the
 * valid value the injection is appended to, and how to call it. Setters of
 * the plain (message, text) shape are called directly; the others through
 * a small wrapper that fills in their other arguments with valid values. */
typedef smtp_result (*message_setter)(smtp_message *, const char *);
typedef smtp_result (*other_setter)(smtp_client *, smtp_message *, const char *);

typedef struct {
    const char *name;
    const char *base;
    message_setter set;  /* either this ... */
    other_setter set_it; /* ... or this */
} setter;

static const uint8_t blob[] = {'x'};

static smtp_result header_name(smtp_client *c, smtp_message *m, const char *v)
{
    (void)c;
    return smtp_message_add_header(m, v, "value");
}

static smtp_result header_value(smtp_client *c, smtp_message *m, const char *v)
{
    (void)c;
    return smtp_message_add_header(m, "X-Name", v);
}

static smtp_result attachment_name(smtp_client *c, smtp_message *m, const char *v)
{
    (void)c;
    return smtp_message_attach_bytes(m, v, NULL, blob, 1);
}

static smtp_result attachment_type(smtp_client *c, smtp_message *m, const char *v)
{
    (void)c;
    return smtp_message_attach_bytes(m, "a.txt", v, blob, 1);
}

static smtp_result inline_cid(smtp_client *c, smtp_message *m, const char *v)
{
    (void)c;
    return smtp_message_inline_bytes(m, v, "l.png", NULL, blob, 1);
}

static smtp_result raw_from(smtp_client *c, smtp_message *m, const char *v)
{
    (void)m;
    return smtp_client_send_raw(c, v, "rcpt@example.test", blob, 1);
}

static smtp_result raw_to(smtp_client *c, smtp_message *m, const char *v)
{
    (void)m;
    return smtp_client_send_raw(c, "sender@example.test", v, blob, 1);
}

static smtp_result mechanism(smtp_client *c, smtp_message *m, const char *v)
{
    (void)m;
    return smtp_client_set_mechanism(c, v);
}

static const setter setters[] = {
    {"smtp_message_set_from", "a@example.test", smtp_message_set_from, NULL},
    {"smtp_message_set_sender", "a@example.test", smtp_message_set_sender, NULL},
    {"smtp_message_add_to", "b@example.test", smtp_message_add_to, NULL},
    {"smtp_message_add_cc", "c@example.test", smtp_message_add_cc, NULL},
    {"smtp_message_add_bcc", "d@example.test", smtp_message_add_bcc, NULL},
    {"smtp_message_add_reply_to", "e@example.test", smtp_message_add_reply_to, NULL},
    {"smtp_message_set_subject", "Subject", smtp_message_set_subject, NULL},
    {"smtp_message_add_header (name)", "X-Name", NULL, header_name},
    {"smtp_message_add_header (value)", "value", NULL, header_value},
    {"smtp_message_set_message_id", "<id@example.test>", smtp_message_set_message_id, NULL},
    {"smtp_message_set_in_reply_to", "<id@example.test>", smtp_message_set_in_reply_to, NULL},
    {"smtp_message_set_references", "<id@example.test>", smtp_message_set_references, NULL},
    {"smtp_message_set_envelope_from", "f@example.test", smtp_message_set_envelope_from, NULL},
    {"smtp_message_add_envelope_to", "g@example.test", smtp_message_add_envelope_to, NULL},
    {"smtp_message_attach_bytes (name)", "a.txt", NULL, attachment_name},
    {"smtp_message_attach_bytes (type)", "text/plain", NULL, attachment_type},
    {"smtp_message_inline_bytes (cid)", "logo", NULL, inline_cid},
    {"smtp_client_send_raw (from)", "h@example.test", NULL, raw_from},
    {"smtp_client_send_raw (to)", "rcpt@example.test", NULL, raw_to},
    {"smtp_client_set_mechanism", "PLAIN", NULL, mechanism},
};
#define N_SETTERS (sizeof setters / sizeof setters[0])

static void test_control_characters_in_every_setter_are_refused_on_a_live_session(void)
{
    script_server s;
    smtp_client *c;
    smtp_message *m;
    char v[512];
    size_t i, k;
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
        for (k = 0; k < N_SETTERS; k++) {
            const setter *e = &setters[k];
            smtp_result r;
            bad(v, sizeof v, e->base, i);
            r = e->set ? e->set(m, v) : e->set_it(c, m, v);
            if (r != SMTP_ERR_INVALID_INPUT)
                h_fail(__FILE__, __LINE__,
                       "%s with injection %u returned %d (%s), expected %d; last: %s", e->name,
                       (unsigned)i, (int)r, smtp_result_str((int)r),
                       (int)SMTP_ERR_INVALID_INPUT, smtp_last_message());
        }
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
    for (i = 0; i < N_EARLY_ENDS; i++) {
        for (composed = 0; composed < 2; composed++) {
            script_server s;
            smtp_client *c;
            smuggling_body(body, sizeof body, i, "");
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
