/*
 * Happy Eyeballs (RFC 8305) through the C ABI. Runs for real only inside
 * tests/netns/dual-stack.sh, where dual.test resolves to ::1 first, then
 * 127.0.0.1; elsewhere it is skipped visibly. The script server answers
 * on 127.0.0.1:P; [::1]:P is made a black hole (a listener whose accept
 * queue is full, so the kernel drops further SYNs, as a broken IPv6 path
 * does). With a 6 s connect timeout the client must connect over IPv4
 * within a fraction of it, send the message, and say which server it took.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "harness.h"
#include "script_server.h"

#define CONNECT_TIMEOUT_MS 6000

/* 1 when dual.test resolves to ::1 then 127.0.0.1 (inside the namespace). */
static int in_dual_stack_namespace(void)
{
    struct addrinfo hints, *list = NULL, *second;
    int ok;
    if (!getenv("SMTP_DUAL_STACK_NS")) {
        /* Not h_missing(): the test bed being required does not make this
         * namespace present; tests/test-all.sh runs this program in it. */
        fprintf(stderr, "  skipped: not in the dual-stack namespace (run under "
                        "tests/netns/dual-stack.sh, as root)\n");
        pthread_mutex_lock(&h_lock);
        h_skipped++;
        h_passed--;
        pthread_mutex_unlock(&h_lock);
        return 0;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("dual.test", "25", &hints, &list) != 0) return 0;
    second = list ? list->ai_next : NULL;
    ok = list && list->ai_family == AF_INET6 && second && second->ai_family == AF_INET;
    freeaddrinfo(list);
    CHECK(ok);
    return ok;
}

/* The black hole on [::1]:port: *listener and *filler to close after. */
static void black_hole(int port, int *listener, int *filler)
{
    struct sockaddr_in6 a;
    int one = 1;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    a.sin6_port = htons((uint16_t)port);
    *listener = socket(AF_INET6, SOCK_STREAM, 0);
    CHECK(*listener >= 0);
    CHECK(setsockopt(*listener, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0);
    CHECK(bind(*listener, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(*listener, 0) == 0);
    /* One connection fills the queue; it is never accepted. */
    *filler = socket(AF_INET6, SOCK_STREAM, 0);
    CHECK(*filler >= 0);
    CHECK(connect(*filler, (struct sockaddr *)&a, sizeof a) == 0);
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

static void test_ipv4_answers_while_ipv6_drops_packets(void)
{
    script_server s;
    smtp_client *c = NULL;
    smtp_message *m;
    int listener = -1, filler = -1;
    char expected[64];
    struct timespec start;
    long took;
    if (!in_dual_stack_namespace() || !have_script_server()) return;
    CHECK(script_server_start(&s, "one-message"));
    black_hole(s.port, &listener, &filler);
    CHECK_OK(smtp_client_new("dual.test", (uint16_t)s.port, &c));
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_NONE));
    CHECK_OK(smtp_client_set_client_name(c, "client.test"));
    CHECK_OK(smtp_client_set_timeouts(c, CONNECT_TIMEOUT_MS, CONNECT_TIMEOUT_MS, 0));
    clock_gettime(CLOCK_MONOTONIC, &start);
    CHECK_OK(smtp_client_connect(c));
    took = elapsed_ms(&start);
    printf("happy eyeballs (C): connected to dual.test over IPv4 in %ld ms (connect timeout %d ms)\n",
           took, CONNECT_TIMEOUT_MS);
    CHECK(took < CONNECT_TIMEOUT_MS / 3);
    snprintf(expected, sizeof expected, "dual.test:%d", s.port);
    CHECK_STR_EQ(smtp_client_server(c), expected);
    m = smtp_message_new();
    CHECK_OK(smtp_message_set_from(m, "sender@example.test"));
    CHECK_OK(smtp_message_add_to(m, "rcpt@example.test"));
    CHECK_OK(smtp_message_set_subject(m, "happy eyeballs"));
    CHECK_OK(smtp_message_set_text(m, "over IPv4\n"));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK_OK(smtp_client_quit(c));
    smtp_message_free(m);
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    close(filler);
    close(listener);
}

int main(void)
{
    RUN(test_ipv4_answers_while_ipv6_drops_packets);
    return h_summary();
}
