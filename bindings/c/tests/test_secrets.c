/*
 * No secret in the transcript or in smtp_last_message(), through the C
 * API, for failed and successful AUTH: against the scripted server
 * (PLAIN and LOGIN refused, XOAUTH2 refused with an error challenge and
 * accepted) and against the real bed (every mechanism it offers with a
 * wrong password, over plaintext loopback and over STARTTLS). Successful
 * logins on the bed are covered by test_client.c
 * (test_transcript_never_shows_the_password).
 */
#include "script_server.h"

#define PASSWORD "c-S3cret-never-shown"
#define TOKEN "ya29.c-secret-oauth-token"
#define USER "alice@example.test"

/* Checks that `text` holds none of the forms of `secret`. */
static void check_no_secret(const char *text, const char *user, const char *secret, int token)
{
    char blob[1024], b64[2048];
    size_t ulen = strlen(user), slen = strlen(secret), n;
    CHECK_NOT_CONTAINS(text, secret);
    base64((const unsigned char *)secret, slen, b64);
    CHECK_NOT_CONTAINS(text, b64);
    if (token) {
        n = (size_t)snprintf(blob, sizeof blob, "user=%s\001auth=Bearer %s\001\001", user, secret);
        base64((const unsigned char *)blob, n, b64);
        CHECK_NOT_CONTAINS(text, b64);
        n = (size_t)snprintf(blob, sizeof blob, "n,a=%s,\001auth=Bearer %s\001\001", user, secret);
        base64((const unsigned char *)blob, n, b64);
        CHECK_NOT_CONTAINS(text, b64);
    } else {
        blob[0] = '\0';
        memcpy(blob + 1, user, ulen);
        blob[1 + ulen] = '\0';
        memcpy(blob + 2 + ulen, secret, slen);
        base64((const unsigned char *)blob, 2 + ulen + slen, b64);
        CHECK_NOT_CONTAINS(text, b64);
    }
}

static void scripted_auth(const char *scenario, const char *mechanism, int token,
                          smtp_result expected)
{
    script_server s;
    smtp_client *c;
    transcript t = {0};
    char last[4096];
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, scenario));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    if (token)
        CHECK_OK(smtp_client_set_bearer_token(c, USER, TOKEN));
    else
        CHECK_OK(smtp_client_set_credentials(c, USER, PASSWORD));
    CHECK_OK(smtp_client_set_mechanism(c, mechanism));
    CHECK_RESULT(smtp_client_connect(c), expected);
    snprintf(last, sizeof last, "%s", smtp_last_message());
    if (expected == SMTP_OK) CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "line AUTH ");
    CHECK_CONTAINS(t.text, "[credentials hidden]");
    check_no_secret(t.text, USER, token ? TOKEN : PASSWORD, token);
    check_no_secret(last, USER, token ? TOKEN : PASSWORD, token);
    free(t.text);
}

static void test_plain_refused(void) { scripted_auth("plain-fail", "PLAIN", 0, SMTP_ERR_AUTH); }
static void test_login_refused(void) { scripted_auth("login-fail", "LOGIN", 0, SMTP_ERR_AUTH); }
static void test_xoauth2_refused(void) { scripted_auth("xoauth2-fail", "XOAUTH2", 1, SMTP_ERR_AUTH); }
static void test_xoauth2_accepted(void) { scripted_auth("xoauth2-ok", "XOAUTH2", 1, SMTP_OK); }

static void test_wrong_password_on_the_bed_for_every_mechanism(void)
{
    size_t i;
    int tls;
    if (!have_testbed()) return;
    for (i = 0; i < N_TESTBED_MECHANISMS; i++) {
        for (tls = 0; tls < 2; tls++) {
            transcript t = {0};
            smtp_client *c = NULL;
            char last[4096];
            if (tls) {
                CHECK_OK(smtp_client_new("localhost", (uint16_t)tb.port_submission, &c));
                CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_STARTTLS));
                CHECK_OK(smtp_client_add_ca_file(c, tb.ca_file));
                CHECK_OK(smtp_client_set_timeouts(c, 20000, 60000, 0));
            } else {
                c = plain_client();
            }
            CHECK(c != NULL);
            if (!c) continue;
            CHECK_OK(smtp_client_set_credentials(c, tb.user, PASSWORD));
            CHECK_OK(smtp_client_set_mechanism(c, testbed_mechanisms[i]));
            CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
            CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_AUTH);
            snprintf(last, sizeof last, "%s", smtp_last_message());
            CHECK(smtp_last_reply_code() == 535);
            CHECK_CONTAINS(t.text, "[credentials hidden]");
            check_no_secret(t.text, tb.user, PASSWORD, 0);
            check_no_secret(last, tb.user, PASSWORD, 0);
            check_no_secret(t.text, tb.user, tb.password, 0);
            smtp_client_free(c);
            free(t.text);
        }
    }
}

int main(void)
{
    RUN(test_plain_refused);
    RUN(test_login_refused);
    RUN(test_xoauth2_refused);
    RUN(test_xoauth2_accepted);
    RUN(test_wrong_password_on_the_bed_for_every_mechanism);
    return h_summary();
}
