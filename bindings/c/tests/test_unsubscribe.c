/*
 * smtp_message_set_list_unsubscribe() and smtp_message_set_tls_required_no():
 * the header bytes a composed message carries on the wire (sent to the
 * scripted server's capture mode, which reports the DATA body in base64),
 * and refused input (one-click without https, CR/LF, both URIs NULL, the
 * reserved names through smtp_message_add_header()).
 */
#include <signal.h>
#include <sys/wait.h>

#include "script_server.h"

/* Decodes standard base64 (no whitespace) into out; returns the length. */
static size_t b64_decode(const char *in, size_t n, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t len = 0, i;
    for (i = 0; i < n && in[i] != '='; i++) {
        const char *p = strchr(alphabet, in[i]);
        if (!p || !*p) break;
        acc = (acc << 6) | (unsigned)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[len] = '\0';
    return len;
}

/* Sends `m` to `script-server capture --connections 1` and returns the
 * DATA body it received (free() it), or NULL. */
static char *captured_body(smtp_message *m)
{
    int to_child[2], from_child[2], port = 0;
    char line[256], *report = NULL, *wire, *end, *body = NULL;
    size_t cap = 1 << 16, len = 0, n;
    pid_t pid;
    FILE *out;
    smtp_client *c = NULL;
    script_server s;
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return NULL;
    pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) {
        /* The child's stdin stays open until the test closes it. */
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(getenv("SMTP_SCRIPT_SERVER"), "script-server", "capture", "--connections", "1",
              "--lifetime", "20", (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    out = fdopen(from_child[0], "r");
    if (out && fgets(line, sizeof line, out) && sscanf(line, "port %d", &port) == 1) {
        s.port = port;
        c = scripted_client(&s);
        if (c) {
            CHECK_OK(smtp_client_connect(c));
            CHECK_OK(smtp_client_send_message(c, m));
            smtp_client_quit(c);
            smtp_client_free(c);
        }
    }
    close(to_child[1]);
    report = malloc(cap);
    while (report && out && (n = fread(report + len, 1, cap - 1 - len, out)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *bigger = realloc(report, cap * 2);
            if (!bigger) break;
            report = bigger;
            cap *= 2;
        }
    }
    if (out) fclose(out);
    waitpid(pid, NULL, 0);
    if (!report) return NULL;
    report[len] = '\0';
    wire = strstr(report, "\"wire\":\"");
    if (wire) {
        wire += strlen("\"wire\":\"");
        end = strchr(wire, '"');
        if (end) {
            body = malloc((size_t)(end - wire) + 1);
            if (body) b64_decode(wire, (size_t)(end - wire), body);
        }
    }
    if (!body) fprintf(stderr, "  capture report: %s\n", report);
    free(report);
    return body;
}

static smtp_message *base_message(void)
{
    smtp_message *m = smtp_message_new();
    CHECK_OK(smtp_message_set_from(m, "news@example.test"));
    CHECK_OK(smtp_message_add_to(m, "rcpt@example.test"));
    CHECK_OK(smtp_message_set_subject(m, "Digest"));
    CHECK_OK(smtp_message_set_text(m, "Hello.\n"));
    return m;
}

static void test_one_click_header_bytes(void)
{
    smtp_message *m;
    char *body;
    if (!have_script_server()) return;
    m = base_message();
    CHECK_OK(smtp_message_set_list_unsubscribe(m, "https://example.test/u?l=news&t=abc",
                                               "mailto:leave@example.test?subject=unsubscribe",
                                               1));
    CHECK_OK(smtp_message_set_tls_required_no(m, 1));
    body = captured_body(m);
    CHECK(body != NULL);
    if (body) {
        CHECK_CONTAINS(body, "\r\nList-Unsubscribe: <https://example.test/u?l=news&t=abc>,\r\n"
                             " <mailto:leave@example.test?subject=unsubscribe>\r\n"
                             "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
                             "TLS-Required: No\r\n"
                             "MIME-Version: 1.0\r\n");
        CHECK(count_occurrences(body, "List-Unsubscribe:") == 1);
    }
    free(body);
    smtp_message_free(m);
}

static void test_replacing_and_removing(void)
{
    smtp_message *m;
    char *body;
    if (!have_script_server()) return;
    m = base_message();
    CHECK_OK(smtp_message_set_list_unsubscribe(m, "https://example.test/u", NULL, 1));
    CHECK_OK(smtp_message_set_tls_required_no(m, 1));
    /* The second call replaces the first: mailto only, no one-click. */
    CHECK_OK(smtp_message_set_list_unsubscribe(m, NULL, "mailto:off@example.test", 0));
    CHECK_OK(smtp_message_set_tls_required_no(m, 0));
    body = captured_body(m);
    CHECK(body != NULL);
    if (body) {
        CHECK_CONTAINS(body, "\r\nList-Unsubscribe: <mailto:off@example.test>\r\nMIME-Version");
        CHECK_NOT_CONTAINS(body, "List-Unsubscribe-Post");
        CHECK_NOT_CONTAINS(body, "https://example.test/u");
        CHECK_NOT_CONTAINS(body, "TLS-Required");
    }
    free(body);
    smtp_message_free(m);
}

static void test_bad_input(void)
{
    smtp_message *m = base_message();
    CHECK_RESULT(smtp_message_set_list_unsubscribe(NULL, "https://example.test/", NULL, 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_message_set_tls_required_no(NULL, 1), SMTP_ERR_NULL_PARAMETER);
    /* Both NULL. */
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, NULL, NULL, 0), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, NULL, NULL, 1), SMTP_ERR_INVALID_INPUT);
    /* One-click needs an https URI. */
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, NULL, "mailto:a@example.test", 1),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "https");
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, "http://example.test/u", NULL, 1),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "https://");
    /* CR/LF and other header-breaking characters. */
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, "https://example.test/a\r\nBcc: x@y.test",
                                                   NULL, 1),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, "https://example.test/a", "mailto:a@b.test\n",
                                                   0),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, "https://example.test/a>,<x", NULL, 0),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, NULL, "mailto:not-an-address", 0),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, "https://user@example.test/", NULL, 1),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_set_list_unsubscribe(m, "https://example.test/\xff", NULL, 1),
                 SMTP_ERR_INVALID_UTF8);
    /* The names are reserved for the setters. */
    CHECK_RESULT(smtp_message_add_header(m, "List-Unsubscribe", "<https://example.test/>"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_add_header(m, "List-Unsubscribe-Post",
                                         "List-Unsubscribe=One-Click"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_message_add_header(m, "TLS-Required", "No"), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_message_set_list_unsubscribe(m, "https://example.test/u", NULL, 1));
    CHECK_STR_EQ(smtp_last_message(), "");
    smtp_message_free(m);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_bad_input);
    RUN(test_one_click_header_bytes);
    RUN(test_replacing_and_removing);
    return h_summary();
}
