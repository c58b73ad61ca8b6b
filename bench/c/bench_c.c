/*
 * The C API (libsmtp) under benchmark: one smtp_client, connected once,
 * sends BENCH_COUNT copies of the message in BENCH_MESSAGE with
 * smtp_client_send_raw() and an explicit envelope, then prints the same
 * "RESULT {json}" line as every other client (see bench/src/lib.rs for the
 * BENCH_* variables).
 *
 * With BENCH_STREAM=1 the message streams from its file with
 * smtp_client_send_raw_file() instead of being read into a buffer first.
 *
 * Build: cc -O2 -I include bench/c/bench_c.c -L target/release -lsmtp
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

static const char *env(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return (v && *v) ? v : fallback;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds used so far: user + system, and user alone in *user. */
static double cpu_seconds(double *user) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        *user = 0.0;
        return 0.0;
    }
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    return *user + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Peak RSS in KiB: VmHWM from /proc/self/status (0 if unknown). */
static unsigned long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "bench-c: %s: %s: %s\n", what, smtp_result_str(rc), smtp_last_message());
    return 1;
}

int main(void) {
    const char *host = env("BENCH_HOST", "127.0.0.1");
    const char *port_s = env("BENCH_PORT", NULL);
    const char *user = env("BENCH_USER", NULL);
    const char *password = env("BENCH_PASSWORD", NULL);
    const char *from = env("BENCH_FROM", NULL);
    const char *rcpts = env("BENCH_RCPTS", NULL);
    const char *count_s = env("BENCH_COUNT", NULL);
    const char *path = env("BENCH_MESSAGE", NULL);
    int stream = strcmp(env("BENCH_STREAM", "0"), "0") != 0;
    if (!port_s || !from || !rcpts || !count_s || !path) {
        fprintf(stderr, "bench-c: BENCH_PORT, BENCH_FROM, BENCH_RCPTS, BENCH_COUNT and BENCH_MESSAGE are required\n");
        return 2;
    }
    if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0 && strcmp(host, "localhost") != 0) {
        fprintf(stderr, "bench-c: BENCH_HOST must be a loopback address\n");
        return 2;
    }
    long port = strtol(port_s, NULL, 10);
    long long count = strtoll(count_s, NULL, 10);
    if (port <= 0 || port > 65535 || count < 0) {
        fprintf(stderr, "bench-c: bad BENCH_PORT or BENCH_COUNT\n");
        return 2;
    }

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror("bench-c: BENCH_MESSAGE");
        return 1;
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *data;
    uint8_t *heap = NULL;
    if (stream) {
        data = NULL; /* read by the library, block by block */
    } else {
        heap = malloc(len ? len : 1);
        size_t got = 0;
        while (heap && got < len) {
            ssize_t n = read(fd, heap + got, len - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (!heap || got != len) {
            fprintf(stderr, "bench-c: cannot read %s\n", path);
            return 1;
        }
        data = heap;
    }

    smtp_client *client = NULL;
    int rc = smtp_client_new(host, (uint16_t)port, &client);
    if (rc != SMTP_OK)
        return fail("smtp_client_new", rc);
    if ((rc = smtp_client_set_security(client, SMTP_SECURITY_NONE)) != SMTP_OK)
        return fail("smtp_client_set_security", rc);
    if ((rc = smtp_client_set_client_name(client, "bench.example.test")) != SMTP_OK)
        return fail("smtp_client_set_client_name", rc);
    if ((rc = smtp_client_set_timeouts(client, 30000, 120000, 0)) != SMTP_OK)
        return fail("smtp_client_set_timeouts", rc);
    if (user && password && (rc = smtp_client_set_credentials(client, user, password)) != SMTP_OK)
        return fail("smtp_client_set_credentials", rc);
    if ((rc = smtp_client_connect(client)) != SMTP_OK)
        return fail("smtp_client_connect", rc);

    double user0, user1;
    double wall0 = now_seconds(), cpu0 = cpu_seconds(&user0);
    for (long long i = 0; i < count; i++) {
        rc = stream ? smtp_client_send_raw_file(client, from, rcpts, path)
                    : smtp_client_send_raw(client, from, rcpts, data, len);
        if (rc != SMTP_OK)
            return fail("smtp_client_send_raw", rc);
    }
    double wall = now_seconds() - wall0, cpu = cpu_seconds(&user1) - cpu0;
    rc = smtp_client_quit(client);
    smtp_client_free(client);
    free(heap);
    if (rc != SMTP_OK)
        return fail("smtp_client_quit", rc);
    printf("RESULT {\"client\":\"c\",\"messages\":%lld,\"seconds\":%.9f,\"cpu_seconds\":%.9f,\"cpu_user_seconds\":%.9f,\"bytes\":%llu,\"peak_rss_kb\":%lu}\n",
           count, wall, cpu, user1 - user0, (unsigned long long)len * (unsigned long long)count, peak_rss_kb());
    return 0;
}
