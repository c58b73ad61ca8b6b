/*
 * The C API without a server: version, result strings, NULL in every
 * pointer parameter, invalid UTF-8 in every string parameter, enum
 * values out of range, message validation, the last-message rules.
 */
#include "harness.h"

static const char BAD[] = "\xff\xfe not UTF-8";

static void test_version_matches_header(void)
{
    char expected[64];
    CHECK_STR_EQ(smtp_version(), SMTP_VERSION_STRING);
    snprintf(expected, sizeof expected, "%d.%d.%d", SMTP_VERSION_MAJOR, SMTP_VERSION_MINOR,
             SMTP_VERSION_PATCH);
    CHECK_STR_EQ(smtp_version(), expected);
}

static void test_result_str_for_every_value(void)
{
    static const smtp_result all[] = {
        SMTP_OK, SMTP_ERR_CONNECT, SMTP_ERR_TIMEOUT, SMTP_ERR_TLS, SMTP_ERR_REJECTED,
        SMTP_ERR_RECIPIENTS_REFUSED, SMTP_ERR_AUTH, SMTP_ERR_NO_COMPATIBLE_AUTH,
        SMTP_ERR_PLAINTEXT_AUTH_REFUSED, SMTP_ERR_PROTOCOL, SMTP_ERR_INVALID_INPUT,
        SMTP_ERR_UNSUPPORTED, SMTP_ERR_DELIVERY_UNKNOWN, SMTP_ERR_BODY_READ,
        SMTP_ERR_NOT_CONNECTED, SMTP_ERR_IO, SMTP_ERR_SPOOL, SMTP_ERR_NULL_PARAMETER,
        SMTP_ERR_INVALID_UTF8, SMTP_ERR_PANIC, SMTP_ERR_OTHER,
    };
    static const int numbers[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  100, 101, 102, 199};
    size_t i, j;
    const char *unknown = smtp_result_str(-1);
    CHECK_STR_EQ(unknown, "unknown result code");
    CHECK_STR_EQ(smtp_result_str(17), "unknown result code");
    CHECK_STR_EQ(smtp_result_str(SMTP_OK), "success");
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = smtp_result_str(all[i]);
        CHECK((int)all[i] == numbers[i]);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(strcmp(s, unknown) != 0);
        for (j = 0; j < i; j++) CHECK(strcmp(s, smtp_result_str(all[j])) != 0);
    }
}

static void test_last_message_rules(void)
{
    smtp_message *m = smtp_message_new();
    /* Never NULL, "" before anything failed on this thread. */
    CHECK(smtp_last_message() != NULL);
    CHECK(smtp_last_enhanced_code() != NULL);
    CHECK_RESULT(smtp_message_set_from(m, "not an address"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "from");
    CHECK(smtp_last_reply_code() == 0);
    CHECK_STR_EQ(smtp_last_enhanced_code(), "");
    /* Functions that do not return smtp_result leave it alone. */
    (void)smtp_result_str(SMTP_ERR_AUTH);
    (void)smtp_version();
    (void)smtp_client_is_connected(NULL);
    smtp_message_free(NULL);
    CHECK_CONTAINS(smtp_last_message(), "from");
    /* A success replaces it. */
    CHECK_OK(smtp_message_set_from(m, "Ann <ann@example.test>"));
    CHECK_STR_EQ(smtp_last_message(), "");
    smtp_message_free(m);
}

static void test_null_everywhere(void)
{
    smtp_client *c = NULL, *dummy = (smtp_client *)0;
    smtp_message *m = smtp_message_new();
    const uint8_t data[] = "x";
    const char *s = NULL;
    int code = 0;
    size_t len = 0;

    CHECK(m != NULL);
    /* smtp_send: every required string. */
    CHECK_RESULT(smtp_send(NULL, 0, 0, "u", "p", "a@b.example", "c@d.example", "s", "b"),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "server");
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", NULL, "c@d.example", "s", "b"),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", "a@b.example", NULL, "s", "b"),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", "a@b.example", "c@d.example", NULL, "b"),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", "a@b.example", "c@d.example", "s", NULL),
                 SMTP_ERR_NULL_PARAMETER);
    /* A user without a password is an error; no user at all means no AUTH. */
    CHECK_RESULT(smtp_send("h", 0, 0, "u", NULL, "a@b.example", "c@d.example", "s", "b"),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "password");
    CHECK_RESULT(smtp_send("127.0.0.1", 1, SMTP_SECURITY_NONE, NULL, NULL, "a@b.example",
                           "c@d.example", "s", "b"),
                 SMTP_ERR_CONNECT);

    /* Constructors. */
    CHECK_RESULT(smtp_client_new(NULL, 25, &c), SMTP_ERR_NULL_PARAMETER);
    CHECK(c == NULL);
    CHECK_RESULT(smtp_client_new("localhost", 25, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_new_url(NULL, &c), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_new_url("smtp://localhost", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK(c == NULL);
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    CHECK(c != NULL);

    /* Setters: the client, and each required string. */
    CHECK_RESULT(smtp_client_set_credentials(dummy, "u", "p"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_credentials(c, "u", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_set_credentials(c, NULL, NULL)); /* documented: removes them */
    CHECK_RESULT(smtp_client_set_bearer_token(dummy, "u", "t"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_bearer_token(c, "u", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_set_bearer_token(c, NULL, NULL));
    CHECK_RESULT(smtp_client_set_security(dummy, SMTP_SECURITY_NONE), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_add_ca_file(dummy, "/etc/hosts"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_add_ca_file(c, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_dangerous_accept_invalid_certs(dummy, true),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_client_name(dummy, "x"), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_set_client_name(c, NULL)); /* documented: default */
    CHECK_RESULT(smtp_client_set_timeouts(dummy, 1, 1, 1), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_mechanism(dummy, "PLAIN"), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_set_mechanism(c, NULL)); /* documented: automatic */
    CHECK_RESULT(smtp_client_set_recipient_policy(dummy, 0), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_insecure_plaintext_auth(dummy, false), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_transcript(dummy, NULL, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_set_transcript(c, NULL, NULL)); /* documented: off */
    CHECK_RESULT(smtp_client_set_proxy(dummy, "socks5://127.0.0.1"), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_set_proxy(c, NULL)); /* documented: no proxy */

    /* Session functions. */
    CHECK_RESULT(smtp_client_connect(dummy), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_send_message(dummy, m), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_send_message(c, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_send_raw(dummy, "a@b.example", "c@d.example", data, 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_send_raw(c, "a@b.example", "c@d.example", NULL, 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_send_raw(c, NULL, "c@d.example", data, 1), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_send_raw(c, "a@b.example", NULL, data, 1), SMTP_ERR_NULL_PARAMETER);
    /* NULL data with length 0 is an empty buffer: the call gets as far as
     * the missing session. */
    CHECK_RESULT(smtp_client_send_raw(c, "a@b.example", "c@d.example", NULL, 0),
                 SMTP_ERR_NOT_CONNECTED);
    CHECK_RESULT(smtp_client_noop(dummy), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_reset(dummy), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_quit(dummy), SMTP_ERR_NULL_PARAMETER);

    /* Accessors: documented NULL / false / 0, outputs untouched. */
    CHECK(!smtp_client_is_connected(dummy));
    CHECK(smtp_client_recipient_count(dummy) == 0);
    s = "untouched";
    code = 7;
    CHECK(!smtp_client_recipient(dummy, 0, &s, &code, &s, &s));
    CHECK(!smtp_client_recipient(c, 0, NULL, &code, &s, &s));
    CHECK(!smtp_client_recipient(c, 0, &s, NULL, &s, &s));
    CHECK(!smtp_client_recipient(c, 0, &s, &code, NULL, &s));
    CHECK(!smtp_client_recipient(c, 0, &s, &code, &s, NULL));
    CHECK(!smtp_client_recipient(c, 0, &s, &code, &s, &s)); /* no send yet */
    CHECK_STR_EQ(s, "untouched");
    CHECK(code == 7);
    CHECK(smtp_client_capabilities(dummy) == NULL);
    CHECK(smtp_client_capabilities(c) == NULL); /* not connected */
    CHECK(!smtp_client_has_extension(dummy, "PIPELINING"));
    CHECK(!smtp_client_has_extension(c, NULL));
    CHECK(smtp_client_auth_mechanisms(dummy) == NULL);
    CHECK(smtp_client_greeting(dummy) == NULL);
    CHECK(smtp_client_authenticated_with(dummy) == NULL);
    CHECK(smtp_client_tls_version(dummy) == NULL);
    CHECK(smtp_client_tls_cipher(dummy) == NULL);
    len = 99;
    CHECK(smtp_client_peer_certificate(dummy, &len) == NULL);
    CHECK(smtp_client_peer_certificate(c, NULL) == NULL);
    CHECK(smtp_client_peer_certificate(c, &len) == NULL);
    CHECK(len == 99);

    /* Message setters: the message, and each required string. */
    CHECK_RESULT(smtp_message_set_from(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_from(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_sender(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_sender(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_to(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_to(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_cc(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_cc(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_bcc(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_bcc(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_reply_to(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_reply_to(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_subject(NULL, "s"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_subject(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_text(NULL, "t"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_text(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_html(NULL, "<p>"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_html(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_header(NULL, "X-A", "v"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_header(m, NULL, "v"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_header(m, "X-A", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(NULL, "https://a.example/", NULL, 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_tls_required_no(NULL, 1), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_message_id(NULL, "<a@b>"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_message_id(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_in_reply_to(NULL, "<a@b>"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_in_reply_to(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_references(NULL, "<a@b>"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_references(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_envelope_from(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_envelope_from(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_envelope_to(NULL, "a@b.example"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_add_envelope_to(m, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_attach_bytes(NULL, "a.txt", NULL, data, 1), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_attach_bytes(m, NULL, NULL, data, 1), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_attach_bytes(m, "a.txt", NULL, NULL, 1), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_message_attach_bytes(m, "empty.txt", NULL, NULL, 0)); /* empty file */
    CHECK_RESULT(smtp_message_attach_file(NULL, "/etc/hostname", NULL, NULL),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_attach_file(m, NULL, NULL, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_inline_bytes(NULL, "cid1", NULL, NULL, data, 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_inline_bytes(m, NULL, NULL, NULL, data, 1), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_inline_bytes(m, "cid1", NULL, NULL, NULL, 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_inline_file(NULL, "cid2", "/etc/hostname", NULL),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_inline_file(m, NULL, "/etc/hostname", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_inline_file(m, "cid2", NULL, NULL), SMTP_ERR_NULL_PARAMETER);

    /* Frees accept NULL. */
    smtp_client_free(NULL);
    smtp_message_free(NULL);
    smtp_client_free(c);
    smtp_message_free(m);
}

static void test_invalid_utf8_everywhere(void)
{
    smtp_client *c = NULL;
    smtp_message *m = smtp_message_new();
    const uint8_t data[] = "x";
    const char *ok = "a@b.example";

    CHECK_RESULT(smtp_send(BAD, 0, 0, "u", "p", ok, ok, "s", "b"), SMTP_ERR_INVALID_UTF8);
    CHECK_CONTAINS(smtp_last_message(), "server");
    CHECK_RESULT(smtp_send("h", 0, 0, BAD, "p", ok, ok, "s", "b"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", BAD, ok, ok, "s", "b"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", BAD, ok, "s", "b"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", ok, BAD, "s", "b"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", ok, ok, BAD, "b"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_send("h", 0, 0, "u", "p", ok, ok, "s", BAD), SMTP_ERR_INVALID_UTF8);
    /* The message never contains the password, valid or not. */
    CHECK_NOT_CONTAINS(smtp_last_message(), "secret-pw");

    CHECK_RESULT(smtp_client_new(BAD, 25, &c), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_new_url(BAD, &c), SMTP_ERR_INVALID_UTF8);
    CHECK(c == NULL);
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    CHECK_RESULT(smtp_client_set_credentials(c, BAD, "p"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_credentials(c, "u", BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_bearer_token(c, BAD, "t"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_bearer_token(c, "u", BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_add_ca_file(c, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_client_name(c, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_mechanism(c, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_proxy(c, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_send_raw(c, BAD, ok, data, 1), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_send_raw(c, ok, BAD, data, 1), SMTP_ERR_INVALID_UTF8);
    CHECK(!smtp_client_has_extension(c, BAD));

    CHECK_RESULT(smtp_message_set_from(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_sender(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_add_to(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_add_cc(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_add_bcc(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_add_reply_to(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_subject(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_text(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_html(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_add_header(m, BAD, "v"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_add_header(m, "X-A", BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_message_id(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_in_reply_to(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_references(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_envelope_from(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_add_envelope_to(m, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, BAD, NULL, 1), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, NULL, BAD, 0), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_attach_bytes(m, BAD, NULL, data, 1), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_attach_bytes(m, "a.txt", BAD, data, 1), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_attach_file(m, BAD, NULL, NULL), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_attach_file(m, "/etc/hostname", BAD, NULL), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_attach_file(m, "/etc/hostname", NULL, BAD), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_inline_bytes(m, BAD, NULL, NULL, data, 1), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_inline_bytes(m, "c1", BAD, NULL, data, 1), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_inline_bytes(m, "c1", NULL, BAD, data, 1), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_inline_file(m, BAD, "/etc/hostname", NULL), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_inline_file(m, "c2", BAD, NULL), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_message_inline_file(m, "c2", "/etc/hostname", BAD), SMTP_ERR_INVALID_UTF8);

    smtp_client_free(c);
    smtp_message_free(m);
}

static void test_enum_values_are_checked(void)
{
    smtp_client *c = NULL;
    CHECK_OK(smtp_client_new("localhost", 0, &c));
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_IMPLICIT));
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_DEFAULT));
    CHECK_RESULT(smtp_client_set_security(c, 5), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_set_security(c, -1), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_set_recipient_policy(c, SMTP_RECIPIENTS_ALL_OR_NOTHING));
    CHECK_RESULT(smtp_client_set_recipient_policy(c, 2), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_send("h", 0, 77, NULL, NULL, "a@b.example", "c@d.example", "s", "b"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "security");
    smtp_client_free(c);
}

static void test_invalid_input_is_refused_before_connecting(void)
{
    smtp_client *c = NULL;
    smtp_message *m = smtp_message_new();
    /* Header injection through every text field. */
    CHECK_RESULT(smtp_message_set_subject(m, "hi\r\nBcc: victim@example.org"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_add_to(m, "a@b.example\r\nX: y"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_add_header(m, "X-Bad Name", "v"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_add_header(m, "Content-Type", "text/html"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_add_to(m, ""), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_attach_file(m, "/nonexistent/file.pdf", NULL, NULL),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_message_add_to(m, "a@b.example, \"Doe, Jane\" <jane@example.net>"));
    CHECK_OK(smtp_message_inline_bytes(m, "logo", "logo.png", NULL, (const uint8_t *)"P", 1));
    CHECK_RESULT(smtp_message_inline_bytes(m, "logo", NULL, NULL, (const uint8_t *)"P", 1),
                 SMTP_ERR_INVALID_INPUT); /* the same content id twice */
    /* smtp_send checks the message before connecting (port 1 would refuse). */
    CHECK_RESULT(smtp_send("127.0.0.1", 1, SMTP_SECURITY_NONE, NULL, NULL, "not an address",
                           "c@d.example", "s", "b"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_send("127.0.0.1", 1, SMTP_SECURITY_NONE, NULL, NULL, "a@b.example",
                           "c@d.example", "s\nBcc: x@y.example", "b"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_send("http://example.org", 0, 0, NULL, NULL, "a@b.example", "c@d.example",
                           "s", "b"),
                 SMTP_ERR_INVALID_INPUT);
    /* Client settings. */
    CHECK_RESULT(smtp_client_new_url("smtp://h?bogus=1", &c), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_new_url("localhost", &c), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_new("smtp://localhost", 25, &c), SMTP_ERR_INVALID_INPUT);
    CHECK(c == NULL);
    CHECK_OK(smtp_client_new_url("smtp://u:p%40ss@localhost:2525?auth=plain", &c));
    CHECK_RESULT(smtp_client_set_mechanism(c, "NOT-A-MECH"), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_set_mechanism(c, "cram-md5"));
    CHECK_RESULT(smtp_client_add_ca_file(c, "/nonexistent/ca.pem"), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_set_client_name(c, "bad name\r\n"));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_INVALID_INPUT); /* checked at connect */
    CHECK(!smtp_client_is_connected(c));
    smtp_client_free(c);
    smtp_message_free(m);
}

static void test_not_connected(void)
{
    smtp_client *c = NULL;
    smtp_message *m = smtp_message_new();
    CHECK_OK(smtp_client_new("127.0.0.1", 1, &c));
    CHECK_OK(smtp_message_set_from(m, "a@b.example"));
    CHECK_OK(smtp_message_add_to(m, "c@d.example"));
    CHECK_RESULT(smtp_client_send_message(c, m), SMTP_ERR_NOT_CONNECTED);
    CHECK_CONTAINS(smtp_last_message(), "smtp_client_connect");
    CHECK_RESULT(smtp_client_noop(c), SMTP_ERR_NOT_CONNECTED);
    CHECK_RESULT(smtp_client_reset(c), SMTP_ERR_NOT_CONNECTED);
    CHECK_RESULT(smtp_client_quit(c), SMTP_ERR_NOT_CONNECTED);
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_NONE));
    CHECK_OK(smtp_client_set_timeouts(c, 2000, 2000, 0));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_CONNECT);
    CHECK_CONTAINS(smtp_last_message(), "127.0.0.1:1");
    CHECK(!smtp_client_is_connected(c));
    smtp_client_free(c);
    smtp_message_free(m);
}

static void test_live_handles_count_what_is_not_freed(void)
{
    /* Tests run one after the other in this program: nothing else is
     * alive meanwhile. */
    size_t before = smtp_live_handles();
    smtp_client *c = NULL;
    smtp_message *m = smtp_message_new();
    smtp_pool *p = NULL;
    CHECK(m != NULL);
    CHECK_OK(smtp_client_new("127.0.0.1", 25, &c));
    CHECK_OK(smtp_pool_new("smtp://127.0.0.1:25", &p));
    CHECK(smtp_live_handles() == before + 3);
    /* A failed constructor creates nothing. */
    CHECK_RESULT(smtp_client_new("", 25, &c), SMTP_ERR_INVALID_INPUT);
    CHECK(smtp_live_handles() == before + 3);
    smtp_pool_free(p);
    smtp_client_free(c);
    smtp_message_free(m);
    smtp_message_free(NULL);
    CHECK(smtp_live_handles() == before);
}

int main(void)
{
    RUN(test_version_matches_header);
    RUN(test_live_handles_count_what_is_not_freed);
    RUN(test_result_str_for_every_value);
    RUN(test_last_message_rules);
    RUN(test_null_everywhere);
    RUN(test_invalid_utf8_everywhere);
    RUN(test_enum_values_are_checked);
    RUN(test_invalid_input_is_refused_before_connecting);
    RUN(test_not_connected);
    return h_summary();
}
