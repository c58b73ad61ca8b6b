/*
 * A tiny test harness for the C tests of libsmtp: named test cases, CHECK
 * macros that report the failing expression, test-bed access, Maildir
 * scanning, a transcript collector, the smuggling payloads. Each test
 * program ends with one line "N passed, N failed" (", N skipped" when some
 * were skipped) and exits non-zero on failure.
 */
#ifndef SMTP_TEST_HARNESS_H
#define SMTP_TEST_HARNESS_H

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

static int h_passed, h_failed, h_skipped;
static int h_current_failed;
static const char *h_current;
static pthread_mutex_t h_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void h_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&h_lock);
    fprintf(stderr, "  FAIL %s:%d [%s]: ", file, line, h_current ? h_current : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    h_current_failed++;
    pthread_mutex_unlock(&h_lock);
}

/* CHECK(cond): the condition must hold. */
#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) h_fail(__FILE__, __LINE__, "%s", #cond);                          \
    } while (0)

/* CHECK_RESULT(call, expected): a smtp_result must be the expected one. */
#define CHECK_RESULT(call, expected)                                                   \
    do {                                                                               \
        smtp_result h_r_ = (call);                                                     \
        if (h_r_ != (expected))                                                        \
            h_fail(__FILE__, __LINE__, "%s returned %d (%s), expected %d; last: %s",   \
                   #call, (int)h_r_, smtp_result_str((int)h_r_), (int)(expected),      \
                   smtp_last_message());                                               \
    } while (0)

#define CHECK_OK(call) CHECK_RESULT(call, SMTP_OK)

/* CHECK_CONTAINS(haystack, needle): haystack (may be NULL) contains needle. */
#define CHECK_CONTAINS(hay, needle)                                                    \
    do {                                                                               \
        const char *h_h_ = (hay);                                                      \
        if (!h_h_ || !strstr(h_h_, (needle)))                                          \
            h_fail(__FILE__, __LINE__, "%s = \"%s\" does not contain \"%s\"", #hay,    \
                   h_h_ ? h_h_ : "(null)", (needle));                                  \
    } while (0)

#define CHECK_NOT_CONTAINS(hay, needle)                                                \
    do {                                                                               \
        const char *h_h_ = (hay);                                                      \
        if (h_h_ && strstr(h_h_, (needle)))                                            \
            h_fail(__FILE__, __LINE__, "%s contains \"%s\"", #hay, (needle));          \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                             \
    do {                                                                               \
        const char *h_a_ = (a), *h_b_ = (b);                                           \
        if (!h_a_ || !h_b_ || strcmp(h_a_, h_b_) != 0)                                 \
            h_fail(__FILE__, __LINE__, "%s = \"%s\", expected \"%s\"", #a,             \
                   h_a_ ? h_a_ : "(null)", h_b_ ? h_b_ : "(null)");                    \
    } while (0)

typedef void (*h_test_fn)(void);

static inline void h_run(const char *name, h_test_fn fn)
{
    h_current = name;
    h_current_failed = 0;
    fprintf(stderr, "test %s ...\n", name);
    fn();
    if (h_current_failed) {
        h_failed++;
        fprintf(stderr, "test %s: FAILED\n", name);
    } else {
        h_passed++;
    }
    h_current = NULL;
}

#define RUN(fn) h_run(#fn, fn)

/* ---- the test bed ---------------------------------------------------- */

typedef struct {
    const char *host;
    int port_plain, port_submission, port_smtps, port_noauth;
    int port_strict; /* 0 when this Postfix has no smtpd_forbid_bare_newline */
    const char *user, *password, *domain, *ca_file, *maildir;
} testbed;

static testbed tb;

/* The SASL mechanisms the test bed's Dovecot offers (XOAUTH2 and
 * OAUTHBEARER need a token backend it does not have: scripted only). */
static const char *const testbed_mechanisms[] = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1",
                                                 "SCRAM-SHA-256"};
#define N_TESTBED_MECHANISMS (sizeof testbed_mechanisms / sizeof testbed_mechanisms[0])

static inline int h_env_port(const char *name)
{
    const char *v = getenv(name);
    return v ? atoi(v) : 0;
}

/* Something a test needs is missing (`what`, with a hint how to get it):
 * the test counts as skipped, or as failed when SMTP_TESTBED_REQUIRED=1.
 * One place, so every "have_..." check treats a missing piece alike. */
static inline void h_missing(const char *what, const char *hint)
{
    const char *required = getenv("SMTP_TESTBED_REQUIRED");
    if (required && strcmp(required, "1") == 0) {
        h_fail(__FILE__, __LINE__, "required but missing: %s", what);
        return;
    }
    fprintf(stderr, "  skipped: no %s (%s)\n", what, hint);
    pthread_mutex_lock(&h_lock);
    h_skipped++;
    h_passed--; /* h_run counts it as passed; count it as skipped */
    pthread_mutex_unlock(&h_lock);
}

/* Fills `tb` from the environment (the runner sources SMTP_TESTBED_ENV).
 * Returns 1 when the bed is there. Without it, a test is skipped, or
 * failed when SMTP_TESTBED_REQUIRED=1. */
static inline int have_testbed(void)
{
    tb.host = getenv("SMTP_TESTBED_HOST");
    tb.port_plain = h_env_port("SMTP_TESTBED_PORT_PLAIN");
    tb.port_submission = h_env_port("SMTP_TESTBED_PORT_SUBMISSION");
    tb.port_smtps = h_env_port("SMTP_TESTBED_PORT_SMTPS");
    tb.port_noauth = h_env_port("SMTP_TESTBED_PORT_NOAUTH");
    tb.port_strict = h_env_port("SMTP_TESTBED_PORT_STRICT");
    tb.user = getenv("SMTP_TESTBED_USER");
    tb.password = getenv("SMTP_TESTBED_PASSWORD");
    tb.domain = getenv("SMTP_TESTBED_DOMAIN");
    tb.ca_file = getenv("SMTP_TESTBED_CA_FILE");
    tb.maildir = getenv("SMTP_TESTBED_MAILDIR");
    if (tb.host && tb.port_plain && tb.port_submission && tb.user && tb.password && tb.domain &&
        tb.ca_file && tb.maildir)
        return 1;
    h_missing("test bed", "set SMTP_TESTBED_ENV");
    return 0;
}

/* The bed and its strict port (SMTP_TESTBED_PORT_STRICT is empty when the
 * bed's Postfix lacks smtpd_forbid_bare_newline): 1 when both are there. */
static inline int have_strict_port(void)
{
    if (!have_testbed()) return 0;
    if (tb.port_strict) return 1;
    h_missing("strict port", "SMTP_TESTBED_PORT_STRICT is empty");
    return 0;
}

/* A marker no other message has: put it in a subject or body, then find
 * the delivered message with find_delivered(). */
static inline void make_marker(char *buf, size_t len, const char *tag)
{
    static unsigned counter;
    struct timespec ts;
    unsigned n;
    pthread_mutex_lock(&h_lock);
    n = ++counter;
    pthread_mutex_unlock(&h_lock);
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, len, "mk-%s-%ld-%ld%09ld-%u", tag, (long)getpid(), (long)ts.tv_sec,
             (long)ts.tv_nsec, n);
}

static inline char *h_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[size] = '\0';
    fclose(f);
    return buf;
}

/* Waits (up to ~10 s) for a delivered message containing `marker` in the
 * Maildir's new/ and returns its contents (free() it), or NULL. */
static inline char *find_delivered(const char *marker)
{
    char dir[4096], path[8192];
    int tries;
    snprintf(dir, sizeof dir, "%s/new", tb.maildir);
    for (tries = 0; tries < 200; tries++) {
        DIR *d = opendir(dir);
        struct dirent *e;
        struct timespec pause = {0, 50 * 1000 * 1000};
        while (d && (e = readdir(d)) != NULL) {
            char *content;
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            content = h_read_file(path);
            if (content && strstr(content, marker)) {
                closedir(d);
                return content;
            }
            free(content);
        }
        if (d) closedir(d);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* Counts delivered messages containing `marker` (no waiting). */
static inline int count_delivered(const char *marker)
{
    char dir[4096], path[8192];
    int n = 0;
    DIR *d;
    struct dirent *e;
    snprintf(dir, sizeof dir, "%s/new", tb.maildir);
    d = opendir(dir);
    while (d && (e = readdir(d)) != NULL) {
        char *content;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        content = h_read_file(path);
        if (content && strstr(content, marker)) n++;
        free(content);
    }
    if (d) closedir(d);
    return n;
}

/* Numbered messages (test_batch, test_pool): message NNN carries
 * "MARKER-NNN-end" (e.g. in its subject). Reads one pass of the Maildir:
 * for each message delivered since `since` that carries "MARKER-NNN-end"
 * with NNN < n, counts[NNN]++. */
static inline void count_numbered(const char *marker, time_t since, int *counts, int n)
{
    char dir[4096], path[8192];
    size_t mlen = strlen(marker);
    DIR *d;
    struct dirent *e;
    memset(counts, 0, sizeof(int) * (size_t)n);
    snprintf(dir, sizeof dir, "%s/new", tb.maildir);
    d = opendir(dir);
    while (d && (e = readdir(d)) != NULL) {
        struct stat st;
        char *content, *p;
        int i;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        /* Only this run's messages: the bed's Maildir holds thousands. */
        if (stat(path, &st) != 0 || st.st_mtime < since) continue;
        content = h_read_file(path);
        p = content ? strstr(content, marker) : NULL;
        if (p && sscanf(p + mlen, "-%d-end", &i) == 1 && i >= 0 && i < n) counts[i]++;
        free(content);
    }
    if (d) closedir(d);
}

/* Waits (up to ~30 s) until every message i has arrived want[i] times,
 * then a little longer for a copy too many; leaves the counts in
 * counts[]. */
static inline void wait_numbered(const char *marker, time_t since, const int *want, int *counts,
                                 int n)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    int tries, i, missing = n;
    for (tries = 0; tries < 150 && missing; tries++) {
        count_numbered(marker, since, counts, n);
        for (missing = 0, i = 0; i < n; i++)
            if (counts[i] < want[i]) missing++;
        if (missing) nanosleep(&pause, NULL);
    }
    nanosleep(&pause, NULL);
    count_numbered(marker, since, counts, n);
}

/* A testbed address: local@domain in buf. */
static inline const char *addr(char *buf, size_t len, const char *local)
{
    snprintf(buf, len, "%s@%s", local, tb.domain);
    return buf;
}

/* A new client for a plaintext loopback port of the bed (the library
 * allows AUTH without TLS to 127.0.0.1), authenticated, with test
 * timeouts. */
static inline smtp_client *loopback_client(int port)
{
    smtp_client *c = NULL;
    if (smtp_client_new(tb.host, (uint16_t)port, &c) != SMTP_OK) return NULL;
    smtp_client_set_security(c, SMTP_SECURITY_NONE);
    smtp_client_set_credentials(c, tb.user, tb.password);
    smtp_client_set_timeouts(c, 20000, 60000, 0);
    return c;
}

/* The same for the plain port. */
static inline smtp_client *plain_client(void)
{
    return loopback_client(tb.port_plain);
}

/* ---- transcripts ------------------------------------------------------ */

/* A transcript collector for smtp_client_set_transcript(): every line,
 * "C: ", "S: " or "* " prefixed (by direction), '\n'-separated; free(text)
 * when done. */
typedef struct {
    char *text;
    size_t len, cap;
    int lines[3];      /* per direction */
    int bad_direction; /* lines with a direction outside the three */
} transcript;

static inline void collect_line(void *userdata, int direction, const char *line)
{
    static const char *const prefix[] = {"C: ", "S: ", "* "};
    transcript *t = userdata;
    size_t need = strlen(line) + 4;
    if (direction < 0 || direction > 2) {
        t->bad_direction++;
        return;
    }
    t->lines[direction]++;
    if (t->len + need + 1 > t->cap) {
        size_t cap = (t->cap + need + 1) * 2;
        char *grown = realloc(t->text, cap);
        if (!grown) return;
        t->text = grown;
        t->cap = cap;
    }
    t->len += (size_t)sprintf(t->text + t->len, "%s%s\n", prefix[direction], line);
}

/* How often `needle` occurs in `hay` (NULL: 0), not overlapping. */
static inline int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    const char *p = hay;
    size_t step = strlen(needle);
    if (step == 0) return 0; /* an empty needle would never advance */
    while (p && (p = strstr(p, needle)) != NULL) {
        n++;
        p += step;
    }
    return n;
}

/* ---- smuggling payloads ------------------------------------------------ */

/* Would-be early ends of DATA: bare LF and bare CR variants of
 * "<CRLF>.<CRLF>", and the real one (which dot-stuffing must neutralise).
 * Shared by the scripted-server test (test_starttls.c) and the
 * strict-Postfix test (test_client.c), so both send the same set. */
static const char *const early_ends[] = {
    "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r.\r\n",
    "\n.\r", "\r.\n", "\r\r\n.\r\r\n", "\r\n.\r\n", "\r\n..\r\n",
};
#define N_EARLY_ENDS (sizeof early_ends / sizeof early_ends[0])

/* The attack body for early_ends[i]: a first line, the early end, then a
 * whole second SMTP transaction, then a last line. `tag` is put after
 * "smuggled" so a delivered second message would be findable by it. */
static inline const char *smuggling_body(char *buf, size_t len, size_t i, const char *tag)
{
    snprintf(buf, len,
             "first line%sMAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<victim@example.test>"
             "\r\nDATA\r\nsmuggled%s\r\n.\r\nlast line\r\n",
             early_ends[i], tag);
    return buf;
}

/* Standard base64 (no line breaks) of len bytes into out (size >= 4*((len+2)/3)+1). */
static inline void base64(const unsigned char *in, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < len; i += 3) {
        out[o++] = tbl[in[i] >> 2];
        out[o++] = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        out[o++] = tbl[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        out[o++] = tbl[in[i + 2] & 63];
    }
    if (len - i == 1) {
        out[o++] = tbl[in[i] >> 2];
        out[o++] = tbl[(in[i] & 3) << 4];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        out[o++] = tbl[in[i] >> 2];
        out[o++] = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        out[o++] = tbl[(in[i + 1] & 15) << 2];
        out[o++] = '=';
    }
    out[o] = '\0';
}

static inline int h_summary(void)
{
    if (h_skipped)
        printf("%d passed, %d failed, %d skipped\n", h_passed, h_failed, h_skipped);
    else
        printf("%d passed, %d failed\n", h_passed, h_failed);
    fflush(stdout);
    return h_failed ? 1 : 0;
}

#endif
