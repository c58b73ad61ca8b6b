/*
 * A C application in the relay-down test (smtp-cli/tests/relay_down.rs):
 * it sends each message with smtp_send() and, when the relay cannot be
 * reached, queues the same message in the outbox with
 * smtp_outbox_enqueue_raw(), as a C web application using the library
 * would. Prints "failed=N": messages neither sent nor queued.
 *
 * usage: relay_worker QUEUE_DIR PORT FROM TO MARKER_BASE FIRST COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtp.h>

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: relay_worker QUEUE_DIR PORT FROM TO MARKER_BASE FIRST COUNT\n");
        return 2;
    }
    const char *dir = argv[1];
    int port = atoi(argv[2]);
    const char *from = argv[3], *to = argv[4], *base = argv[5];
    int first = atoi(argv[6]), count = atoi(argv[7]);
    if (port <= 0 || port > 65535 || first < 0 || count < 0 || count > 100000) {
        fprintf(stderr, "relay_worker: bad numbers\n");
        return 2;
    }
    smtp_outbox *outbox = NULL;
    if (smtp_outbox_open(dir, &outbox) != SMTP_OK) {
        fprintf(stderr, "relay_worker: open %s: %s\n", dir, smtp_last_message());
        return 1;
    }
    int failed = 0, queued = 0;
    for (int i = first; i < first + count; i++) {
        char marker[256], message[1024];
        snprintf(marker, sizeof marker, "%s-%d", base, i);
        char body[300];
        snprintf(body, sizeof body, "body %s\n", marker);
        smtp_result sent = smtp_send("127.0.0.1", (uint16_t)port, SMTP_SECURITY_NONE, NULL, NULL,
                                     from, to, marker, body);
        if (sent == SMTP_OK) {
            continue;
        }
        int n = snprintf(message, sizeof message,
                         "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nbody %s\r\n", from, to, marker,
                         marker);
        if (n < 0 || (size_t)n >= sizeof message) {
            failed++;
            continue;
        }
        if (smtp_outbox_enqueue_raw(outbox, from, to, (const uint8_t *)message, (size_t)n, NULL) ==
            SMTP_OK) {
            queued++;
        } else {
            fprintf(stderr, "relay_worker: %s not queued: %s\n", marker, smtp_last_message());
            failed++;
        }
    }
    smtp_outbox_free(outbox);
    printf("queued=%d failed=%d\n", queued, failed);
    return failed == 0 ? 0 : 1;
}
