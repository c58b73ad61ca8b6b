/*
 * smtp_pool: a few connections to one server shared by threads. Against
 * the Postfix test bed: 4 threads x 10 messages (raw and composed)
 * through one pool with max_connections=2 arrive once each, a thread's
 * outcome (last message, per-recipient replies) stays its own, and the
 * pool never holds more than 2 connections; refused recipients are
 * reported to the thread that sent. Without a server: bad option names
 * and values, NULL arguments and a closed pool are typed errors, never a
 * crash; an unreachable server is a connect error that leaves no session
 * counted.
 */
#include "harness.h"

#define THREADS 4
#define PER_THREAD 10
#define TOTAL (THREADS * PER_THREAD)

static pthread_barrier_t start;
static pthread_mutex_t monitor_lock = PTHREAD_MUTEX_INITIALIZER;
static int monitor_running;

typedef struct {
    smtp_pool *pool;
    int index;
    const char *marker;
    char to[256];
} worker;

typedef struct {
    smtp_pool *pool;
    size_t max_open, samples;
} monitor;

#define W_CHECK(w, cond)                                                               \
    do {                                                                               \
        if (!(cond))                                                                   \
            h_fail(__FILE__, __LINE__, "thread %d: %s (last: %s)", (w)->index, #cond,  \
                   smtp_last_message());                                               \
    } while (0)

/* A pool for the bed's plain port (AUTH over loopback plaintext, which
 * the library allows), its credentials and timeouts set as client
 * options by name. */
static smtp_pool *bed_pool(const char *max_connections)
{
    char url[256];
    smtp_pool *p = NULL;
    snprintf(url, sizeof url, "smtp://%s:%d", tb.host, tb.port_plain);
    if (smtp_pool_new(url, &p) != SMTP_OK) return NULL;
    CHECK_OK(smtp_pool_set_option(p, "security", "none"));
    CHECK_OK(smtp_pool_set_option(p, "user", tb.user));
    CHECK_OK(smtp_pool_set_option(p, "password", tb.password));
    CHECK_OK(smtp_pool_set_option(p, "timeout", "20"));
    CHECK_OK(smtp_pool_set_option(p, "connect_timeout", "20"));
    CHECK_OK(smtp_pool_set_option(p, "max_connections", max_connections));
    return p;
}

/* Checks the calling thread's results of its last send through `p`: one
 * recipient, `to`, accepted. */
static void check_one_accepted(worker *w, smtp_pool *p, const char *to)
{
    const char *address = NULL, *enhanced = NULL, *text = NULL;
    int code = 0;
    W_CHECK(w, smtp_last_reply_code() == 250);
    W_CHECK(w, strstr(smtp_last_message(), "queued as") != NULL);
    W_CHECK(w, smtp_pool_recipient_count(p) == 1);
    W_CHECK(w, smtp_pool_recipient(p, 0, &address, &code, &enhanced, &text));
    W_CHECK(w, address != NULL && strcmp(address, to) == 0);
    W_CHECK(w, code == 250);
    W_CHECK(w, !smtp_pool_recipient(p, 1, &address, &code, &enhanced, &text));
}

static void *send_ten(void *arg)
{
    worker *w = arg;
    char from[256], subject[192], data[1024];
    int j;
    addr(from, sizeof from, "pool-sender");
    pthread_barrier_wait(&start);
    for (j = 0; j < PER_THREAD; j++) {
        int n = w->index * PER_THREAD + j;
        snprintf(subject, sizeof subject, "%s-%03d-end", w->marker, n);
        if (j % 2 == 0) {
            int len = snprintf(data, sizeof data,
                               "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nraw, through a pool\r\n",
                               from, w->to, subject);
            W_CHECK(w, smtp_pool_send_raw(w->pool, from, w->to, (const uint8_t *)data,
                                          (size_t)len) == SMTP_OK);
        } else {
            smtp_message *m = smtp_message_new();
            W_CHECK(w, m != NULL);
            if (!m) continue;
            W_CHECK(w, smtp_message_set_from(m, from) == SMTP_OK);
            W_CHECK(w, smtp_message_add_to(m, w->to) == SMTP_OK);
            W_CHECK(w, smtp_message_set_subject(m, subject) == SMTP_OK);
            W_CHECK(w, smtp_message_set_text(m, "composed, through a pool\n") == SMTP_OK);
            W_CHECK(w, smtp_pool_send_message(w->pool, m) == SMTP_OK);
            smtp_message_free(m);
        }
        /* Another thread's send in between would show here as its
         * address or its reply. */
        check_one_accepted(w, w->pool, w->to);
    }
    return NULL;
}

/* Samples the pool's open connections until told to stop. */
static void *watch(void *arg)
{
    monitor *m = arg;
    struct timespec pause = {0, 1000 * 1000};
    for (;;) {
        size_t open = smtp_pool_open_connections(m->pool);
        int running;
        if (open > m->max_open) m->max_open = open;
        m->samples++;
        pthread_mutex_lock(&monitor_lock);
        running = monitor_running;
        pthread_mutex_unlock(&monitor_lock);
        if (!running) break;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void test_four_threads_share_two_connections(void)
{
    pthread_t threads[THREADS], watcher;
    worker workers[THREADS];
    monitor mon;
    char marker[128];
    int want[TOTAL], counts[TOTAL], i;
    time_t since = time(NULL) - 1;
    smtp_pool *p;
    if (!have_testbed()) return;
    p = bed_pool("2");
    CHECK(p != NULL);
    if (!p) return;
    make_marker(marker, sizeof marker, "pool40");
    CHECK(smtp_pool_open_connections(p) == 0); /* nothing opens before a send */

    memset(&mon, 0, sizeof mon);
    mon.pool = p;
    monitor_running = 1;
    CHECK(pthread_create(&watcher, NULL, watch, &mon) == 0);
    pthread_barrier_init(&start, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        workers[i].pool = p;
        workers[i].index = i;
        workers[i].marker = marker;
        snprintf(workers[i].to, sizeof workers[i].to, "pool-%d@%s", i, tb.domain);
        CHECK(pthread_create(&threads[i], NULL, send_ten, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    pthread_mutex_lock(&monitor_lock);
    monitor_running = 0;
    pthread_mutex_unlock(&monitor_lock);
    pthread_join(watcher, NULL);
    pthread_barrier_destroy(&start);

    fprintf(stderr, "  at most %zu connections open in %zu samples\n", mon.max_open, mon.samples);
    CHECK(mon.samples > 0);
    CHECK(mon.max_open <= 2);
    /* Four threads wanted sessions at once: the pool opened its two, and
     * both are idle now, kept for the next sends. */
    CHECK(smtp_pool_open_connections(p) == 2);
    CHECK(smtp_pool_idle_connections(p) == 2);
    /* The settings are fixed once the pool has sent. */
    CHECK_RESULT(smtp_pool_set_option(p, "max_connections", "8"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "max_connections");

    CHECK_OK(smtp_pool_close(p));
    CHECK(smtp_pool_open_connections(p) == 0);
    CHECK(smtp_pool_idle_connections(p) == 0);
    {
        const char *data = "Subject: after close\r\n\r\nx\r\n";
        CHECK_RESULT(smtp_pool_send_raw(p, "a@example.test", workers[0].to, (const uint8_t *)data,
                                        strlen(data)),
                     SMTP_ERR_NOT_CONNECTED);
        CHECK_CONTAINS(smtp_last_message(), "closed");
        CHECK(smtp_pool_recipient_count(p) == 0);
    }
    smtp_pool_free(p);

    for (i = 0; i < TOTAL; i++) want[i] = 1;
    wait_numbered(marker, since, want, counts, TOTAL);
    for (i = 0; i < TOTAL; i++)
        if (counts[i] != 1) h_fail(__FILE__, __LINE__, "message %d arrived %d times", i, counts[i]);
}

static void test_refused_recipients_are_the_senders(void)
{
    char marker[128], from[256], good[256], rx[256], ry[256], list[600], data[1024];
    const char *address = NULL, *enhanced = NULL, *text = NULL;
    int code = 0, len;
    smtp_pool *p, *other = NULL;
    if (!have_testbed()) return;
    p = bed_pool("1");
    CHECK(p != NULL);
    if (!p) return;
    make_marker(marker, sizeof marker, "poolrefused");
    addr(from, sizeof from, "pool-sender");
    addr(good, sizeof good, "good");
    addr(rx, sizeof rx, "reject-x");
    addr(ry, sizeof ry, "reject-y");
    snprintf(list, sizeof list, "%s, %s", good, rx);
    len = snprintf(data, sizeof data, "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nhalf refused\r\n",
                   from, good, marker);

    /* One of two refused: sent to the other, both replies listed. */
    CHECK_OK(smtp_pool_send_raw(p, from, list, (const uint8_t *)data, (size_t)len));
    CHECK(smtp_pool_recipient_count(p) == 2);
    CHECK(smtp_pool_recipient(p, 0, &address, &code, &enhanced, &text));
    CHECK_STR_EQ(address, good);
    CHECK(code == 250);
    CHECK(smtp_pool_recipient(p, 1, &address, &code, &enhanced, &text));
    CHECK_STR_EQ(address, rx);
    CHECK(code == 550);
    CHECK_STR_EQ(enhanced, "5.1.1");
    CHECK_CONTAINS(text, "Recipient refused by the test bed");

    /* Every recipient refused: an error, with the refusal listed. */
    CHECK_RESULT(smtp_pool_send_raw(p, from, ry, (const uint8_t *)data, (size_t)len),
                 SMTP_ERR_RECIPIENTS_REFUSED);
    CHECK(smtp_last_reply_code() == 550);
    CHECK(smtp_pool_recipient_count(p) == 1);
    CHECK(smtp_pool_recipient(p, 0, &address, &code, &enhanced, &text));
    CHECK_STR_EQ(address, ry);
    CHECK(code == 550);

    /* The results belong to this pool: another one has none. */
    {
        char url[256];
        snprintf(url, sizeof url, "smtp://%s:%d", tb.host, tb.port_plain);
        CHECK_OK(smtp_pool_new(url, &other));
        CHECK(smtp_pool_recipient_count(other) == 0);
        CHECK(!smtp_pool_recipient(other, 0, &address, &code, &enhanced, &text));
        smtp_pool_free(other);
    }
    /* The session survived both: one connection, idle. */
    CHECK(smtp_pool_open_connections(p) == 1);
    CHECK(smtp_pool_idle_connections(p) == 1);
    smtp_pool_free(p);
    {
        char *mail = find_delivered(marker);
        CHECK(mail != NULL);
        free(mail);
        CHECK(count_delivered(marker) == 1);
    }
}

/* ---- without a server ------------------------------------------------ */

static void test_bad_options_and_null_arguments_are_typed_errors(void)
{
    static const char data[] = "Subject: x\r\n\r\nbody\r\n";
    const uint8_t *d = (const uint8_t *)data;
    smtp_pool *p = NULL, *untouched = NULL;
    smtp_message *m = smtp_message_new();
    const char *s1 = NULL, *s2 = NULL, *s3 = NULL;
    int code = 0;

    CHECK_RESULT(smtp_pool_new(NULL, &p), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`url`");
    CHECK_RESULT(smtp_pool_new("smtp://127.0.0.1:1", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`pool_out`");
    CHECK_RESULT(smtp_pool_new("127.0.0.1:x", &p), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_pool_new("smtp://127.0.0.1:1?bogus=1", &p), SMTP_ERR_INVALID_INPUT);
    CHECK(p == NULL); /* written only on success */
    CHECK_RESULT(smtp_pool_new("smtp://\xff\xfe", &p), SMTP_ERR_INVALID_UTF8);
    CHECK_OK(smtp_pool_new("smtp://127.0.0.1:1?security=none", &p));
    CHECK(p != NULL);
    if (!p) return;

    /* Options: unknown names and bad values are named; nothing changes. */
    CHECK_RESULT(smtp_pool_set_option(p, "max_conections", "2"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "\"max_conections\"");
    CHECK_CONTAINS(smtp_last_message(), "max_connections"); /* the list of names */
    CHECK_RESULT(smtp_pool_set_option(p, "max_connections", "0"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "max_connections");
    CHECK_RESULT(smtp_pool_set_option(p, "idle_timeout", "soon"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "idle_timeout");
    CHECK_RESULT(smtp_pool_set_option(p, "security", "maybe"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "security");
    CHECK_OK(smtp_pool_set_option(p, "rate", "100"));
    CHECK_OK(smtp_pool_set_option(p, "max_messages_per_connection", "none"));
    CHECK_OK(smtp_pool_set_option(p, "connect_timeout", "5"));

    /* NULL arguments. */
    CHECK_RESULT(smtp_pool_set_option(NULL, "rate", "1"), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`pool`");
    CHECK_RESULT(smtp_pool_set_option(p, NULL, "1"), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_pool_set_option(p, "rate", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_pool_set_option(p, "\xff", "1"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_pool_send_raw(NULL, "a@example.test", "b@example.test", d, sizeof data - 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_pool_send_raw(p, NULL, "b@example.test", d, sizeof data - 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`from`");
    CHECK_RESULT(smtp_pool_send_raw(p, "a@example.test", NULL, d, sizeof data - 1),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`to_list`");
    CHECK_RESULT(smtp_pool_send_raw(p, "a@example.test", "b@example.test", NULL, 5),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`data`");
    CHECK_RESULT(smtp_pool_send_raw(p, "a@example.test", "not an address", d, sizeof data - 1),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_pool_send_message(NULL, m), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_pool_send_message(p, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`message`");
    CHECK_RESULT(smtp_pool_close(NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK(smtp_pool_open_connections(NULL) == 0);
    CHECK(smtp_pool_idle_connections(NULL) == 0);
    CHECK(smtp_pool_recipient_count(NULL) == 0);
    CHECK(!smtp_pool_recipient(NULL, 0, &s1, &code, &s2, &s3));
    CHECK(!smtp_pool_recipient(p, 0, NULL, &code, &s2, &s3));
    CHECK(!smtp_pool_recipient(p, 0, &s1, &code, &s2, &s3));
    smtp_pool_free(NULL);
    /* None of that opened anything. */
    CHECK(smtp_pool_open_connections(p) == 0);

    /* Closed before use: options fixed, sends refused. */
    CHECK_OK(smtp_pool_close(p));
    CHECK_OK(smtp_pool_close(p));
    CHECK_RESULT(smtp_pool_set_option(p, "rate", "1"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_pool_send_raw(p, "a@example.test", "b@example.test", d, sizeof data - 1),
                 SMTP_ERR_NOT_CONNECTED);
    smtp_pool_free(p);

    /* Pools freed without ever being used: a URL, and a server as
     * smtp_client_new() takes it. */
    CHECK_OK(smtp_pool_new("smtps://u:secret@127.0.0.1:1", &untouched));
    smtp_pool_free(untouched);
    untouched = NULL;
    CHECK_OK(smtp_pool_new("[::1]:25", &untouched));
    CHECK(untouched != NULL);
    smtp_pool_free(untouched);
    smtp_message_free(m);
}

static void test_an_unreachable_server_is_a_connect_error(void)
{
    static const char data[] = "Subject: x\r\n\r\nbody\r\n";
    smtp_pool *p = NULL;
    CHECK_OK(smtp_pool_new("smtp://127.0.0.1:1?security=none", &p));
    if (!p) return;
    CHECK_OK(smtp_pool_set_option(p, "connect_timeout", "5"));
    CHECK_RESULT(smtp_pool_send_raw(p, "a@example.test", "b@example.test", (const uint8_t *)data,
                                    sizeof data - 1),
                 SMTP_ERR_CONNECT);
    CHECK(smtp_last_message()[0] != '\0');
    /* The failed session is not counted, and the pool stays usable. */
    CHECK(smtp_pool_open_connections(p) == 0);
    CHECK_RESULT(smtp_pool_send_raw(p, "a@example.test", "b@example.test", (const uint8_t *)data,
                                    sizeof data - 1),
                 SMTP_ERR_CONNECT);
    CHECK(smtp_pool_open_connections(p) == 0);
    smtp_pool_free(p);
}

int main(void)
{
    RUN(test_bad_options_and_null_arguments_are_typed_errors);
    RUN(test_an_unreachable_server_is_a_connect_error);
    RUN(test_four_threads_share_two_connections);
    RUN(test_refused_recipients_are_the_senders);
    return h_summary();
}
