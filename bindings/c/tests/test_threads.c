/*
 * 8 threads sending at once, each with its own client handle, each
 * checking that its last message stays its own while the others make
 * calls (smtp_last_message() is per thread).
 */
#include "harness.h"

#define THREADS 8

static pthread_barrier_t barrier;

typedef struct {
    int index;
    char marker[128];
    char marker_send[128];
    int errors;
} worker;

#define W_CHECK(w, cond)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            h_fail(__FILE__, __LINE__, "thread %d: %s (last: %s)", (w)->index, #cond,  \
                   smtp_last_message());                                               \
            (w)->errors++;                                                             \
        }                                                                              \
    } while (0)

static void *work(void *arg)
{
    worker *w = arg;
    smtp_client *c = plain_client();
    smtp_message *m = smtp_message_new();
    char to[256], from[256], own[1024], bogus[64];
    int good = (w->index % 2) == 0;

    W_CHECK(w, c != NULL && m != NULL);
    if (!c || !m) goto out;
    W_CHECK(w, smtp_message_set_from(m, addr(from, sizeof from, "threads")) == SMTP_OK);
    snprintf(to, sizeof to, "thread-%d@%s", w->index, tb.domain);
    W_CHECK(w, smtp_message_add_to(m, to) == SMTP_OK);
    W_CHECK(w, smtp_message_set_subject(m, w->marker) == SMTP_OK);
    W_CHECK(w, smtp_message_set_text(m, "sent from a thread\n") == SMTP_OK);

    /* 1. Connect and send at the same time as the others. */
    pthread_barrier_wait(&barrier);
    W_CHECK(w, smtp_client_connect(c) == SMTP_OK);
    W_CHECK(w, smtp_client_send_message(c, m) == SMTP_OK);
    snprintf(own, sizeof own, "%s", smtp_last_message());
    W_CHECK(w, strstr(own, "queued as") != NULL);
    W_CHECK(w, smtp_last_reply_code() == 250);
    pthread_barrier_wait(&barrier); /* everyone has sent: their messages differ */
    W_CHECK(w, strcmp(smtp_last_message(), own) == 0);
    W_CHECK(w, smtp_last_reply_code() == 250);

    /* 2. A failure of its own, with a text naming this thread. */
    snprintf(bogus, sizeof bogus, "BOGUS-MECH-%d", w->index);
    W_CHECK(w, smtp_client_set_mechanism(c, bogus) == SMTP_ERR_INVALID_INPUT);
    W_CHECK(w, strstr(smtp_last_message(), bogus) != NULL);
    pthread_barrier_wait(&barrier);
    W_CHECK(w, strstr(smtp_last_message(), bogus) != NULL);
    W_CHECK(w, smtp_last_reply_code() == 0);

    /* 3. The one-call API at once: even threads succeed, odd ones give a
     *    bad password and must keep their own 535. */
    pthread_barrier_wait(&barrier);
    if (good) {
        W_CHECK(w, smtp_send(tb.host, (uint16_t)tb.port_plain, SMTP_SECURITY_NONE, tb.user,
                             tb.password, from, to, w->marker_send, "one call") == SMTP_OK);
    } else {
        W_CHECK(w, smtp_send(tb.host, (uint16_t)tb.port_plain, SMTP_SECURITY_NONE, tb.user,
                             "bad", from, to, w->marker_send, "one call") == SMTP_ERR_AUTH);
    }
    snprintf(own, sizeof own, "%s", smtp_last_message());
    pthread_barrier_wait(&barrier);
    W_CHECK(w, strcmp(smtp_last_message(), own) == 0);
    W_CHECK(w, smtp_last_reply_code() == (good ? 250 : 535));

    W_CHECK(w, smtp_client_quit(c) == SMTP_OK);
out:
    smtp_message_free(m);
    smtp_client_free(c);
    return NULL;
}

static void test_eight_threads_with_their_own_handles(void)
{
    pthread_t threads[THREADS];
    worker workers[THREADS];
    int i;
    if (!have_testbed()) return;
    /* The main thread's own last message, to be left alone by the workers. */
    CHECK_RESULT(smtp_client_set_security(NULL, 0), SMTP_ERR_NULL_PARAMETER);
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].index = i;
        make_marker(workers[i].marker, sizeof workers[i].marker, "thread");
        make_marker(workers[i].marker_send, sizeof workers[i].marker_send, "threadsend");
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (i = 0; i < THREADS; i++) {
        char *mail = find_delivered(workers[i].marker);
        CHECK(mail != NULL);
        free(mail);
        if (i % 2 == 0) {
            mail = find_delivered(workers[i].marker_send);
            CHECK(mail != NULL);
            free(mail);
        } else {
            CHECK(count_delivered(workers[i].marker_send) == 0);
        }
    }
    /* The main thread's last message was never touched by the workers. */
    CHECK_STR_EQ(smtp_last_message(), "NULL pointer passed for `client`");
}

int main(void)
{
    RUN(test_eight_threads_with_their_own_handles);
    return h_summary();
}
