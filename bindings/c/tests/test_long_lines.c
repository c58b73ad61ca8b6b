/*
 * Lines over 998 octets (RFC 5322 2.1.1) in raw messages, against the
 * real Postfix test bed: repaired by default (a message without MIME
 * headers re-encoded as quoted-printable, delivered with every line short
 * and the same text once decoded), refused with SMTP_LONG_LINES_REFUSE or
 * the URL option long_lines=refuse, refused when a header line has no
 * whitespace to fold at; refusals come before MAIL FROM. Also the
 * setter's argument checks and smtp_send() with the URL option.
 */
#include "harness.h"

#define LONG_LINE 2000

/* A line of `len` printable octets with spaces, '=' and a tab in it
 * (what quoted-printable must escape or keep), not ending in whitespace. */
static void fill_long_line(char *buf, size_t len)
{
    static const char pattern[] = "Lorem ipsum=dolor sit\tamet, <b>consectetur</b> 50% ";
    size_t i;
    for (i = 0; i < len; i++) buf[i] = pattern[i % (sizeof pattern - 1)];
    buf[len - 1] = '.';
    buf[len] = '\0';
}

/* A raw message without MIME headers whose body's first line is
 * LONG_LINE octets; malloc'ed. `body` receives the body (malloc'ed). */
static char *long_line_message(const char *marker, char **body)
{
    char line[LONG_LINE + 1], to[256];
    size_t size = LONG_LINE + 1024;
    char *raw = malloc(size), *b = malloc(size);
    fill_long_line(line, LONG_LINE);
    snprintf(b, size, "%s\nshort second line\n", line);
    snprintf(raw, size, "From: Long <long@example.test>\nTo: %s\nSubject: %s\n\n%s",
             addr(to, sizeof to, "long-lines"), marker, b);
    *body = b;
    return raw;
}

/* The longest line of `text` in octets, CR not counted. */
static size_t longest_line(const char *text)
{
    size_t longest = 0, n = 0;
    for (; *text; text++) {
        if (*text == '\n') {
            if (n > longest) longest = n;
            n = 0;
        } else if (*text != '\r') {
            n++;
        }
    }
    return n > longest ? n : longest;
}

/* Case-insensitive strstr (header names have no fixed case). */
static const char *find_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && (hay[i] | 0x20) == (needle[i] | 0x20)) i++;
        if (i == n) return hay;
    }
    return NULL;
}

/* The body of a delivered message (after the first empty line). */
static const char *body_of(const char *mail)
{
    const char *crlf = strstr(mail, "\r\n\r\n"), *lf = strstr(mail, "\n\n");
    if (crlf && (!lf || crlf < lf)) return crlf + 4;
    return lf ? lf + 2 : NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes quoted-printable (RFC 2045 6.7): "=XX" escapes, "=" at the end
 * of a line is a soft line break; CRLF becomes LF. Counts the soft
 * breaks in *soft. Returns a malloc'ed string, NULL on a malformed escape. */
static char *qp_decode(const char *in, int *soft)
{
    char *out = malloc(strlen(in) + 1), *o = out;
    *soft = 0;
    while (*in) {
        if (in[0] == '=') {
            const char *after = in[1] == '\r' ? in + 2 : in + 1;
            if (*after == '\n') {
                (*soft)++;
                in = after + 1;
                continue;
            }
            if (hex_value(in[1]) < 0 || hex_value(in[2]) < 0) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hex_value(in[1]) * 16 + hex_value(in[2]));
            in += 3;
        } else if (in[0] == '\r' && in[1] == '\n') {
            in++;
        } else {
            *o++ = *in++;
        }
    }
    *o = '\0';
    return out;
}

/* Nothing of the message reached the server: no MAIL FROM in `t`, and
 * (after a pause for a delivery that should not come) no copy of it. */
static void check_nothing_sent(const transcript *t, const char *marker)
{
    struct timespec pause = {0, 300 * 1000 * 1000};
    CHECK(count_occurrences(t->text, "C: MAIL FROM:") == 0);
    CHECK(count_occurrences(t->text, "C: DATA") == 0);
    CHECK(count_occurrences(t->text, "C: BDAT") == 0);
    nanosleep(&pause, NULL);
    CHECK(count_delivered(marker) == 0);
}

/* A read callback serving a string in pieces of at most 100 octets. */
typedef struct {
    const char *next;
    size_t left;
} mem_source;

static ptrdiff_t read_mem(void *userdata, uint8_t *buf, size_t len)
{
    mem_source *s = userdata;
    size_t n = s->left < len ? s->left : len;
    if (n > 100) n = 100;
    memcpy(buf, s->next, n);
    s->next += n;
    s->left -= n;
    return (ptrdiff_t)n;
}

/* ---- tests --------------------------------------------------------- */

static void test_long_body_line_is_repaired_as_quoted_printable(void)
{
    char marker[128];
    char *raw, *body, *mail, *decoded;
    smtp_client *c;
    int soft = 0;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "llrepair");
    raw = long_line_message(marker, &body);
    c = plain_client();
    CHECK(c != NULL);
    /* The default is repair; the setter says so explicitly once. */
    CHECK_OK(smtp_client_set_long_lines(c, SMTP_LONG_LINES_REPAIR));
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)raw, strlen(raw)));
    CHECK(smtp_last_reply_code() == 250);
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    if (mail) {
        const char *b = body_of(mail);
        CHECK(longest_line(mail) <= 998);
        CHECK(b != NULL && longest_line(b) <= 76); /* RFC 2045's limit, soft break included */
        CHECK(find_nocase(mail, "\nContent-Transfer-Encoding: quoted-printable") != NULL);
        CHECK(find_nocase(mail, "\nMIME-Version: 1.0") != NULL);
        CHECK(b != NULL);
        decoded = b ? qp_decode(b, &soft) : NULL;
        CHECK(decoded != NULL);
        CHECK(soft >= LONG_LINE / 76); /* the long line was cut with soft breaks */
        if (decoded && strcmp(decoded, body) != 0)
            h_fail(__FILE__, __LINE__, "decoded body differs: \"%.120s...\"", decoded);
        free(decoded);
    }
    free(mail);
    free(raw);
    free(body);
    smtp_client_free(c);
}

static void test_refuse_sends_nothing_and_keeps_the_session(void)
{
    char marker[128], ok_marker[128], ok[512];
    char *raw, *body;
    smtp_client *c;
    transcript t = {0};
    char *mail;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "llrefuse");
    raw = long_line_message(marker, &body);
    c = plain_client();
    CHECK(c != NULL);
    CHECK_OK(smtp_client_set_long_lines(c, SMTP_LONG_LINES_REFUSE));
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    CHECK_OK(smtp_client_connect(c));
    CHECK_RESULT(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)raw, strlen(raw)),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "998");
    CHECK_CONTAINS(smtp_last_message(), "line 5"); /* 3 headers, the empty line, then it */
    check_nothing_sent(&t, marker);
    /* The session is still there: a short message goes through it. */
    CHECK(smtp_client_is_connected(c));
    make_marker(ok_marker, sizeof ok_marker, "llrefuse-ok");
    snprintf(ok, sizeof ok, "From: long@example.test\nTo: long-ok@%s\nSubject: %s\n\nshort\n",
             tb.domain, ok_marker);
    CHECK_OK(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)ok, strlen(ok)));
    mail = find_delivered(ok_marker);
    CHECK(mail != NULL);
    free(mail);
    CHECK(count_occurrences(t.text, "C: EHLO ") == 1);
    smtp_client_free(c);
    free(t.text);
    free(raw);
    free(body);
}

static void test_header_line_without_whitespace_is_refused_in_repair_mode(void)
{
    char marker[128], to[256], value[LONG_LINE + 1];
    char *raw;
    size_t size = LONG_LINE + 1024;
    smtp_client *c;
    transcript t = {0};
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "llheader");
    memset(value, 'x', LONG_LINE);
    value[LONG_LINE] = '\0';
    raw = malloc(size);
    snprintf(raw, size, "From: long@example.test\nTo: %s\nSubject: %s\nX-Long: %s\n\nbody\n",
             addr(to, sizeof to, "long-header"), marker, value);
    c = plain_client();
    CHECK(c != NULL);
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    CHECK_OK(smtp_client_connect(c));
    CHECK_RESULT(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)raw, strlen(raw)),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "998");
    CHECK_CONTAINS(smtp_last_message(), "line 4");
    check_nothing_sent(&t, marker);
    /* The same through a read callback, in small pieces, is refused alike
     * on the same session. */
    {
        mem_source source = {raw, strlen(raw)};
        char from[256];
        CHECK_RESULT(smtp_client_send_raw_callback(c, addr(from, sizeof from, "long"), to,
                                                   read_mem, &source),
                     SMTP_ERR_INVALID_INPUT);
        CHECK_CONTAINS(smtp_last_message(), "998");
        check_nothing_sent(&t, marker);
    }
    smtp_client_free(c);
    free(t.text);
    free(raw);
}

static void test_url_option_and_setter_override(void)
{
    char url[512], marker[128];
    char *raw, *body, *mail;
    smtp_client *c = NULL;
    transcript t = {0};
    if (!have_testbed()) return;
    /* ?long_lines=refuse in the URL refuses. */
    snprintf(url, sizeof url, "smtp://%s:%d?security=none&long_lines=refuse", tb.host,
             tb.port_plain);
    CHECK_OK(smtp_client_new_url(url, &c));
    CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
    CHECK_OK(smtp_client_set_timeouts(c, 20000, 60000, 0));
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    CHECK_OK(smtp_client_connect(c));
    make_marker(marker, sizeof marker, "llurl");
    raw = long_line_message(marker, &body);
    CHECK_RESULT(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)raw, strlen(raw)),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "998");
    check_nothing_sent(&t, marker);
    /* The setter wins over the URL from the next connect on. */
    CHECK_OK(smtp_client_set_long_lines(c, SMTP_LONG_LINES_REPAIR));
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)raw, strlen(raw)));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    if (mail) CHECK(longest_line(mail) <= 998);
    free(mail);
    smtp_client_free(c);
    free(t.text);
    free(raw);
    free(body);

    /* A bad value in the URL. */
    c = NULL;
    CHECK_RESULT(smtp_client_new_url("smtp://localhost?long_lines=fold", &c),
                 SMTP_ERR_INVALID_INPUT);
    CHECK(c == NULL);
    CHECK_CONTAINS(smtp_last_message(), "long_lines");
}

static void test_smtp_send_takes_the_url_option(void)
{
    char url[512], marker[128], from[256], to[256], line[LONG_LINE + 1];
    char *mail;
    if (!have_testbed()) return;
    /* smtp_send() composes its message, whose lines always fit (a long
     * body line is encoded as quoted-printable): with long_lines=refuse
     * it is still delivered, showing the option parses there. */
    snprintf(url, sizeof url, "smtp://%s:%d?long_lines=refuse", tb.host, tb.port_plain);
    make_marker(marker, sizeof marker, "llsend");
    fill_long_line(line, LONG_LINE);
    CHECK_OK(smtp_send(url, 0, SMTP_SECURITY_NONE, tb.user, tb.password,
                       addr(from, sizeof from, "sender"), addr(to, sizeof to, "llsend"), marker,
                       line));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    if (mail) CHECK(longest_line(mail) <= 998);
    free(mail);
    /* A bad value is invalid input, before any connection. */
    snprintf(url, sizeof url, "smtp://%s:%d?long_lines=maybe", tb.host, tb.port_plain);
    CHECK_RESULT(smtp_send(url, 0, SMTP_SECURITY_NONE, tb.user, tb.password,
                           addr(from, sizeof from, "sender"), addr(to, sizeof to, "llsend"),
                           "s", "b"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "long_lines");
}

static void test_setter_checks_its_arguments(void)
{
    smtp_client *c = NULL;
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    CHECK_OK(smtp_client_set_long_lines(c, SMTP_LONG_LINES_REFUSE));
    CHECK_OK(smtp_client_set_long_lines(c, SMTP_LONG_LINES_REPAIR));
    CHECK_RESULT(smtp_client_set_long_lines(c, 2), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "smtp_long_lines");
    CHECK_RESULT(smtp_client_set_long_lines(c, -1), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_set_long_lines(NULL, SMTP_LONG_LINES_REFUSE),
                 SMTP_ERR_NULL_PARAMETER);
    smtp_client_free(c);
}

int main(void)
{
    RUN(test_setter_checks_its_arguments);
    RUN(test_long_body_line_is_repaired_as_quoted_printable);
    RUN(test_refuse_sends_nothing_and_keeps_the_session);
    RUN(test_header_line_without_whitespace_is_refused_in_repair_mode);
    RUN(test_url_option_and_setter_override);
    RUN(test_smtp_send_takes_the_url_option);
    return h_summary();
}
