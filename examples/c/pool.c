/* A pool shared by threads: THREADS threads send COUNT messages each
 * through one smtp_pool of at most 2 connections (a service's workers
 * sharing a few sessions to their relay).
 * Usage: pool URL FROM TO COUNT THREADS
 *   URL     smtp[s]://[user@]host[:port][?ca_file=CA.pem&security=...]
 *           (the password comes from $SMTP_PASSWORD, never the command line)
 * Build:  cc pool.c $(pkg-config --cflags --libs smtp) -lpthread -o pool */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <smtp.h>

static smtp_pool *pool;
static const char *from, *to;
static int count, failed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    int t = (int)(long)arg, i;
    char data[512];
    for (i = 0; i < count; i++) {
        int len = snprintf(data, sizeof data,
                           "From: %s\r\nTo: %s\r\nSubject: pool example, thread %d, message %d\r\n"
                           "\r\nSent through an smtp_pool.\r\n",
                           from, to, t, i);
        /* Any number of threads may send through one pool at once. */
        smtp_result r = smtp_pool_send_raw(pool, from, to, (const uint8_t *)data, (size_t)len);
        /* The outcome is this thread's: smtp_last_message() is per thread. */
        if (r != SMTP_OK) {
            fprintf(stderr, "thread %d, message %d: %s: %s\n", t, i, smtp_result_str(r),
                    smtp_last_message());
            pthread_mutex_lock(&lock);
            failed++;
            pthread_mutex_unlock(&lock);
        } else
            printf("thread %d, message %d: %s\n", t, i, smtp_last_message());
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t threads[64];
    const char *password = getenv("SMTP_PASSWORD");
    int n, t;
    if (argc != 6 || (n = atoi(argv[5])) < 1 || n > 64) {
        fprintf(stderr, "usage: %s URL FROM TO COUNT THREADS (1 to 64)\n", argv[0]);
        return 64;
    }
    from = argv[2];
    to = argv[3];
    count = atoi(argv[4]);
    if (smtp_pool_new(argv[1], &pool) != SMTP_OK ||
        smtp_pool_set_option(pool, "max_connections", "2") != SMTP_OK ||
        (password && smtp_pool_set_option(pool, "password", password) != SMTP_OK)) {
        fprintf(stderr, "%s\n", smtp_last_message());
        smtp_pool_free(pool);
        return 1;
    }
    for (t = 0; t < n; t++) pthread_create(&threads[t], NULL, worker, (void *)(long)t);
    for (t = 0; t < n; t++) pthread_join(threads[t], NULL);
    printf("%zu connections open at the end\n", smtp_pool_open_connections(pool));
    smtp_pool_close(pool); /* QUIT on the idle sessions */
    smtp_pool_free(pool);
    return failed ? 1 : 0;
}
