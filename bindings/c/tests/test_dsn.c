/*
 * Delivery options of a composed message through the C ABI: DSN (RET,
 * ENVID, NOTIFY, ORCPT), REQUIRETLS and MT-PRIORITY. Against the scripted
 * server: the exact MAIL and RCPT lines, a server without DSN (refused by
 * default, sent without when allowed, and smtp_client_omitted_extensions()
 * says so), REQUIRETLS refused in clear. Against the Postfix test bed: a
 * NOTIFY=SUCCESS message brings back a success notification carrying the
 * ENVID. Without a server: bad values are typed errors.
 */
#include "harness.h"
#include "script_server.h"

#define FROM "sender@example.test"
#define TO "rcpt@example.test"

static smtp_message *simple_message(void)
{
    smtp_message *m = smtp_message_new();
    CHECK(m != NULL);
    CHECK_OK(smtp_message_set_from(m, FROM));
    CHECK_OK(smtp_message_add_to(m, TO));
    CHECK_OK(smtp_message_set_subject(m, "delivery options"));
    CHECK_OK(smtp_message_set_text(m, "body\n"));
    return m;
}

static void test_parameters_on_the_wire(void)
{
    script_server s;
    smtp_client *c;
    smtp_message *m;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "dsn-offered"));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_connect(c));
    m = simple_message();
    CHECK_OK(smtp_message_set_dsn_return(m, "hdrs"));
    CHECK_OK(smtp_message_set_envelope_id(m, "id+1"));
    CHECK_OK(smtp_message_set_notify(m, TO, "success, delay"));
    CHECK_OK(smtp_message_set_original_recipient(m, TO, "orig+x@example.test"));
    CHECK_OK(smtp_message_set_priority(m, 3));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK_STR_EQ(smtp_client_omitted_extensions(c), "");
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    smtp_message_free(m);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "line MAIL FROM:<" FROM "> RET=HDRS ENVID=id+2B1 MT-PRIORITY=3\n");
    CHECK_CONTAINS(s.out,
                   "line RCPT TO:<" TO "> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig+2Bx@example.test\n");
}

static void test_without_dsn_the_send_is_refused_before_anything_is_sent(void)
{
    script_server s;
    smtp_client *c;
    smtp_message *m;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "dsn-refused"));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_connect(c));
    m = simple_message();
    CHECK_OK(smtp_message_set_notify(m, NULL, "FAILURE"));
    CHECK_RESULT(smtp_client_send_message(c, m), SMTP_ERR_UNSUPPORTED);
    CHECK_CONTAINS(smtp_last_message(), "DSN");
    /* REQUIRETLS over a session in clear: refused the same way. */
    CHECK_OK(smtp_message_set_dsn_if_offered(m, true));
    CHECK_OK(smtp_message_set_require_tls(m, true));
    CHECK_RESULT(smtp_client_send_message(c, m), SMTP_ERR_UNSUPPORTED);
    CHECK_CONTAINS(smtp_last_message(), "REQUIRETLS");
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    smtp_message_free(m);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_NOT_CONTAINS(s.out, "line MAIL");
}

static void test_without_dsn_allowed_it_goes_without_and_says_so(void)
{
    script_server s;
    smtp_client *c;
    smtp_message *m;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "dsn-missing"));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_connect(c));
    m = simple_message();
    CHECK_OK(smtp_message_set_notify(m, NULL, "success"));
    CHECK_OK(smtp_message_set_envelope_id(m, "abc"));
    CHECK_OK(smtp_message_set_priority(m, -2));
    CHECK_OK(smtp_message_set_dsn_if_offered(m, true));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK_STR_EQ(smtp_client_omitted_extensions(c), "DSN,MT-PRIORITY");
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    smtp_message_free(m);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "line RCPT TO:<" TO ">\n");
    CHECK_NOT_CONTAINS(s.out, "ENVID");
    CHECK_NOT_CONTAINS(s.out, "NOTIFY");
    CHECK_NOT_CONTAINS(s.out, "MT-PRIORITY");
}

static void test_client_defaults_apply_to_raw_sends(void)
{
    static const char raw[] = "From: <" FROM ">\r\nTo: <" TO ">\r\nSubject: raw\r\n\r\nbody\r\n";
    script_server s;
    smtp_client *c;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "dsn-offered"));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_set_option(c, "dsn_notify", "delay,failure"));
    CHECK_OK(smtp_client_set_option(c, "dsn_return", "full"));
    CHECK_RESULT(smtp_client_set_option(c, "dsn_notify", "never,delay"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "dsn_notify");
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_raw(c, FROM, TO, (const uint8_t *)raw, strlen(raw)));
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_CONTAINS(s.out, "line MAIL FROM:<" FROM "> RET=FULL\n");
    CHECK_CONTAINS(s.out, "line RCPT TO:<" TO "> NOTIFY=FAILURE,DELAY\n");
}

static void test_bad_values_are_typed_errors(void)
{
    smtp_message *m = simple_message();
    char long_id[200];
    memset(long_id, '=', 60);
    long_id[60] = '\0';
    CHECK_RESULT(smtp_message_set_notify(m, NULL, "never,success"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "NEVER");
    CHECK_RESULT(smtp_message_set_notify(m, NULL, "sometimes"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_notify(m, NULL, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_notify(NULL, NULL, "success"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_envelope_id(m, long_id), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_envelope_id(m, ""), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_envelope_id(m, "id\r\nX-Injected: 1"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_envelope_id(m, "\xc3\xa9"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_original_recipient(m, TO, "x@y.test>\r\nRCPT TO:<z@y.test"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_original_recipient(m, TO, "no domain"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_original_recipient(m, NULL, "a@b.test"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_priority(m, 10), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_priority(m, 100000), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_dsn_return(m, "ALL"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_require_tls(NULL, true), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_dsn_if_offered(NULL, true), SMTP_ERR_NULL_PARAMETER);
    CHECK(smtp_client_omitted_extensions(NULL) == NULL);
    smtp_message_free(m);
}

static void test_postfix_returns_a_success_notification(void)
{
    char marker[128], from[256], to[256], subject[192];
    smtp_client *c;
    smtp_message *m;
    char *dsn;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "cdsn");
    snprintf(from, sizeof from, "%s@%s", marker, tb.domain);
    addr(to, sizeof to, "dsn-c");
    snprintf(subject, sizeof subject, "success %s", marker);
    m = smtp_message_new();
    CHECK_OK(smtp_message_set_from(m, from));
    CHECK_OK(smtp_message_add_to(m, to));
    CHECK_OK(smtp_message_set_subject(m, subject));
    CHECK_OK(smtp_message_set_text(m, "tell me\n"));
    CHECK_OK(smtp_message_set_notify(m, NULL, "SUCCESS"));
    CHECK_OK(smtp_message_set_envelope_id(m, marker));
    CHECK_OK(smtp_message_set_dsn_return(m, "HDRS"));
    c = plain_client();
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    smtp_message_free(m);
    {
        char needle[200];
        snprintf(needle, sizeof needle, "Original-Envelope-Id: %s", marker);
        dsn = find_delivered(needle);
    }
    CHECK(dsn != NULL);
    if (dsn) {
        CHECK_CONTAINS(dsn, "Action: delivered");
        CHECK_CONTAINS(dsn, "multipart/report");
    }
    free(dsn);
}

int main(void)
{
    RUN(test_bad_values_are_typed_errors);
    RUN(test_parameters_on_the_wire);
    RUN(test_client_defaults_apply_to_raw_sends);
    RUN(test_without_dsn_the_send_is_refused_before_anything_is_sent);
    RUN(test_without_dsn_allowed_it_goes_without_and_says_so);
    RUN(test_postfix_returns_a_success_notification);
    return h_summary();
}
