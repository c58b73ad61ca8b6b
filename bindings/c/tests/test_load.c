/*
 * Load through the C API: 8 threads, each with its own smtp_client, each
 * sending N messages over one connection to the test bed's discard port,
 * and one connection sending M messages; Postfix's own count (its log)
 * must equal the number sent. Counts: SMTP_LOAD_C_PER_THREAD (default
 * 100) and SMTP_LOAD_C_SINGLE (default 2000); under valgrind
 * (SMTP_TEST_WRAPPER mentions it) 10 and 100.
 */
#include <sys/stat.h>

#include "harness.h"

#define THREADS 8

static int env_int(const char *name, int normal, int slow)
{
    const char *v = getenv(name), *wrapper = getenv("SMTP_TEST_WRAPPER");
    int n = v ? atoi(v) : 0;
    if (n > 0) return n;
    return (wrapper && strstr(wrapper, "valgrind")) ? slow : normal;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long log_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Lines after `offset` in Postfix's log with "from=<sender>" and
 * "(queue active)": one per message the queue manager took. */
static int count_in_log(const char *path, long offset, const char *sender)
{
    char needle[512], line[4096];
    int n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    snprintf(needle, sizeof needle, "from=<%s>", sender);
    if (fseek(f, offset, SEEK_SET) == 0) {
        while (fgets(line, sizeof line, f))
            if (strstr(line, needle) && strstr(line, "(queue active)")) n++;
    }
    fclose(f);
    return n;
}

/* Waits (up to 120 s) for `expected` lines, then 1 s more; the count. */
static int wait_for_count(const char *path, long offset, const char *sender, int expected)
{
    struct timespec pause = {0, 100 * 1000 * 1000}, settle = {1, 0};
    int tries, n = 0;
    for (tries = 0; tries < 1200; tries++) {
        n = count_in_log(path, offset, sender);
        if (n >= expected) break;
        nanosleep(&pause, NULL);
    }
    nanosleep(&settle, NULL);
    return count_in_log(path, offset, sender);
}

typedef struct {
    int index, count, sent;
    const char *sender;
} worker;

static int discard_port(void)
{
    return h_env_port("SMTP_TESTBED_PORT_DISCARD");
}

/* Sends w->count raw messages over one connection. */
static void *work(void *arg)
{
    worker *w = arg;
    smtp_client *c = NULL;
    char to[256], raw[2048];
    int i, len;
    if (smtp_client_new(tb.host, (uint16_t)discard_port(), &c) != SMTP_OK) return NULL;
    smtp_client_set_security(c, SMTP_SECURITY_NONE);
    smtp_client_set_credentials(c, tb.user, tb.password);
    smtp_client_set_timeouts(c, 20000, 60000, 0);
    if (smtp_client_connect(c) != SMTP_OK) {
        h_fail(__FILE__, __LINE__, "thread %d: connect: %s", w->index, smtp_last_message());
        smtp_client_free(c);
        return NULL;
    }
    snprintf(to, sizeof to, "load-c@%s", tb.domain);
    len = snprintf(raw, sizeof raw,
                   "From: <%s>\r\nTo: <%s>\r\nSubject: C load %d\r\n\r\n"
                   "A message from C thread %d.\r\n",
                   w->sender, to, w->index, w->index);
    for (i = 0; i < w->count; i++) {
        if (smtp_client_send_raw(c, w->sender, to, (const uint8_t *)raw, (size_t)len) !=
            SMTP_OK) {
            h_fail(__FILE__, __LINE__, "thread %d, message %d: %s", w->index, i,
                   smtp_last_message());
            break;
        }
        w->sent++;
    }
    if (smtp_client_quit(c) != SMTP_OK)
        h_fail(__FILE__, __LINE__, "thread %d: quit: %s", w->index, smtp_last_message());
    smtp_client_free(c);
    return NULL;
}

static void run_load(int threads, int per_thread, const char *what)
{
    pthread_t ids[THREADS];
    worker workers[THREADS];
    char marker[128], sender[256];
    const char *log = getenv("SMTP_TESTBED_LOG");
    long offset;
    int i, sent = 0, counted;
    double start;
    if (!have_testbed()) return;
    CHECK(log != NULL && discard_port() != 0);
    if (!log || !discard_port()) return;
    make_marker(marker, sizeof marker, "load");
    snprintf(sender, sizeof sender, "%s@%s", marker, tb.domain);
    offset = log_size(log);
    start = now_seconds();
    for (i = 0; i < threads; i++) {
        workers[i].index = i;
        workers[i].count = per_thread;
        workers[i].sent = 0;
        workers[i].sender = sender;
        CHECK(pthread_create(&ids[i], NULL, work, &workers[i]) == 0);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        sent += workers[i].sent;
    }
    CHECK(sent == threads * per_thread);
    counted = wait_for_count(log, offset, sender, sent);
    fprintf(stderr, "  %s: %d messages over %d connection(s) in %.2f s; Postfix counted %d\n",
            what, sent, threads, now_seconds() - start, counted);
    printf("# %s: sent %d, Postfix counted %d\n", what, sent, counted);
    CHECK(counted == sent);
}

static void test_eight_threads_with_their_own_clients(void)
{
    run_load(THREADS, env_int("SMTP_LOAD_C_PER_THREAD", 100, 10), "8 C threads");
}

static void test_many_messages_over_one_connection(void)
{
    run_load(1, env_int("SMTP_LOAD_C_SINGLE", 2000, 100), "one C connection");
}

int main(void)
{
    RUN(test_eight_threads_with_their_own_clients);
    RUN(test_many_messages_over_one_connection);
    return h_summary();
}
