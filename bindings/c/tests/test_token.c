/*
 * OAuth 2.0 token callbacks through the C API, against the scripted
 * server: a refused token is replaced and the connection made again, once
 * (the callback called twice, the message sent once); a callback that
 * fails, writes no NUL or writes an unusable token gives SMTP_ERR_AUTH
 * with nothing sent; a pool's sessions share one token; no token in the
 * transcript or in smtp_last_message().
 */
#include "script_server.h"

#define USER "alice@example.test"
#define FROM "sender@example.test"
#define TO "rcpt@example.test"
#define MESSAGE "From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: t\r\n\r\nHi.\r\n"

static const char *const tokens[] = {"ya29.c-first-SECRET", "ya29.c-second-SECRET"};

/* What a callback does: hand out tokens[] in turn, or fail in some way. */
enum mode { GOOD, FAILS, NO_NUL, LINE_BREAK, EMPTY };

typedef struct {
    enum mode mode;
    int calls;
    int64_t lifetime;
} provider;

static int fetch(void *userdata, char *buf, size_t cap, int64_t *expires_in)
{
    provider *p = userdata;
    const char *token = tokens[p->calls < 2 ? p->calls : 1];
    p->calls++;
    if (*expires_in != -1) return 99; /* the library presets "unknown" */
    switch (p->mode) {
    case FAILS:
        return 3;
    case NO_NUL:
        memset(buf, 'a', cap);
        return 0;
    case LINE_BREAK:
        snprintf(buf, cap, "%s\r\nMAIL FROM:<evil@example.test>", token);
        return 0;
    case EMPTY:
        buf[0] = '\0';
        return 0;
    case GOOD:
        break;
    }
    if (strlen(token) + 1 > cap) return 1;
    memcpy(buf, token, strlen(token) + 1);
    *expires_in = p->lifetime;
    return 0;
}

/* "line AUTH XOAUTH2 <base64 of the XOAUTH2 message with token>" */
static void auth_line(const char *token, char *out, size_t len)
{
    char blob[512], b64[1024];
    int n = snprintf(blob, sizeof blob, "user=%s\001auth=Bearer %s\001\001", USER, token);
    base64((const unsigned char *)blob, (size_t)n, b64);
    snprintf(out, len, "line AUTH XOAUTH2 %s\n", b64);
}

static void check_no_token(const char *text)
{
    size_t i;
    char line[1200];
    if (!text) return;
    for (i = 0; i < 2; i++) {
        CHECK_NOT_CONTAINS(text, tokens[i]);
        auth_line(tokens[i], line, sizeof line);
        CHECK_NOT_CONTAINS(text, line + strlen("line AUTH XOAUTH2 "));
    }
    CHECK_NOT_CONTAINS(text, "SECRET");
}

static void test_refused_token_is_replaced_once(void)
{
    script_server s;
    smtp_client *c;
    transcript t = {0};
    provider p = {GOOD, 0, 3600};
    char line[1200], last[4096];
    const char *second;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "token-refresh"));
    c = scripted_client(&s);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    CHECK_OK(smtp_client_set_token_provider(c, USER, fetch, &p));
    CHECK_OK(smtp_client_connect(c));
    CHECK(p.calls == 2);
    CHECK_STR_EQ(smtp_client_authenticated_with(c), "XOAUTH2");
    CHECK_OK(smtp_client_send_raw(c, FROM, TO, (const uint8_t *)MESSAGE, strlen(MESSAGE)));
    snprintf(last, sizeof last, "%s", smtp_last_message());
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK(count_occurrences(s.out, "connected 1") == 2);
    auth_line(tokens[0], line, sizeof line);
    CHECK_CONTAINS(s.out, line);
    auth_line(tokens[1], line, sizeof line);
    second = strstr(s.out, line);
    CHECK(second != NULL);
    /* The message went once, on the second connection. */
    CHECK(count_occurrences(s.out, "line MAIL FROM") == 1);
    CHECK(second && strstr(second, "line MAIL FROM") != NULL);
    CHECK(count_occurrences(s.out, "body ok") == 1);
    CHECK_CONTAINS(t.text, "refused the OAuth 2.0 access token");
    check_no_token(t.text);
    check_no_token(last);
    free(t.text);
}

static void test_failing_callbacks_send_nothing(void)
{
    static const struct {
        enum mode mode;
        const char *why;
    } cases[] = {
        {FAILS, "returned 3"},
        {NO_NUL, "NUL-terminated"},
        {LINE_BREAK, "line break"},
        {EMPTY, "empty"},
    };
    script_server s;
    smtp_client *c;
    transcript t = {0};
    size_t i;
    provider good = {GOOD, 0, -1};
    char last[4096];
    if (!have_script_server()) return;
    /* The server takes one connection: had a failed attempt connected, the
     * good one at the end would not get through. */
    CHECK(script_server_start(&s, "xoauth2-ok"));
    c = scripted_client(&s);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        provider p = {cases[i].mode, 0, -1};
        CHECK_OK(smtp_client_set_token_provider(c, USER, fetch, &p));
        CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_AUTH);
        snprintf(last, sizeof last, "%s", smtp_last_message());
        CHECK_CONTAINS(last, cases[i].why);
        CHECK_CONTAINS(last, "token");
        CHECK(p.calls == 1);
        CHECK(!smtp_client_is_connected(c));
        check_no_token(last);
    }
    CHECK_OK(smtp_client_set_token_provider(c, USER, fetch, &good));
    CHECK_OK(smtp_client_connect(c));
    CHECK(good.calls == 1);
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK(count_occurrences(s.out, "line AUTH") == 1);
    CHECK_NOT_CONTAINS(s.out, "MAIL");
    check_no_token(t.text);
    free(t.text);
}

static void test_user_from_the_options_and_removal(void)
{
    smtp_client *c = NULL;
    provider p = {GOOD, 0, -1};
    CHECK_OK(smtp_client_new("127.0.0.1", 1, &c));
    /* A provider without a user: the connect says so, before connecting. */
    CHECK_OK(smtp_client_set_token_provider(c, NULL, fetch, &p));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "user");
    CHECK(p.calls == 0);
    CHECK_OK(smtp_client_set_option(c, "token_refresh_margin", "120"));
    CHECK_RESULT(smtp_client_set_option(c, "token_refresh_margin", "soon"), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_set_token_provider(c, NULL, NULL, NULL));
    CHECK_RESULT(smtp_client_set_token_provider(NULL, USER, fetch, &p), SMTP_ERR_NULL_PARAMETER);
    smtp_client_free(c);
}

static void test_pool_sessions_share_one_token(void)
{
    script_server s;
    smtp_pool *pool = NULL;
    provider p = {GOOD, 0, 3600};
    char url[256], line[1200];
    int i;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "token-twice"));
    snprintf(url, sizeof url,
             "smtp://127.0.0.1:%d?security=none&client_name=client.test&timeout=3", s.port);
    CHECK_OK(smtp_pool_new(url, &pool));
    CHECK_OK(smtp_pool_set_option(pool, "max_messages_per_connection", "1"));
    CHECK_OK(smtp_pool_set_token_provider(pool, USER, fetch, &p));
    for (i = 0; i < 2; i++)
        CHECK_OK(smtp_pool_send_raw(pool, FROM, TO, (const uint8_t *)MESSAGE, strlen(MESSAGE)));
    /* Fixed once the pool has sent. */
    CHECK_RESULT(smtp_pool_set_token_provider(pool, USER, fetch, &p), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_pool_close(pool));
    smtp_pool_free(pool);
    script_server_finish(&s);
    if (s.status != 0) fprintf(stderr, "%s", s.out);
    CHECK(s.status == 0);
    CHECK(p.calls == 1);
    auth_line(tokens[0], line, sizeof line);
    CHECK(count_occurrences(s.out, line) == 2);
    CHECK(count_occurrences(s.out, "body ok") == 2);
}

int main(void)
{
    RUN(test_refused_token_is_replaced_once);
    RUN(test_failing_callbacks_send_nothing);
    RUN(test_user_from_the_options_and_removal);
    RUN(test_pool_sessions_share_one_token);
    return h_summary();
}
