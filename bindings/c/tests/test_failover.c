/*
 * Relay failover through the C ABI: a comma-separated server list tried in
 * order. A refused port, then the script server greeting 421, then the
 * Postfix test bed, which takes the message (found in the Maildir);
 * smtp_client_server() and the transcript name the server that took it.
 * Refused credentials never move on (a listener that must see no
 * connection), and smtp_send() takes a list too.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness.h"
#include "script_server.h"

/* A loopback listener on a port the OS picks; *port set. */
static int listener(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd >= 0);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(fd, 4) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
    int port;
    close(listener(&port));
    return port;
}

/* True when nobody connected to `fd`. */
static int untouched(int fd)
{
    int client;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    client = accept(fd, NULL, NULL);
    if (client >= 0) close(client);
    return client < 0;
}

static void test_the_third_server_takes_the_message(void)
{
    script_server busy;
    char servers[256], third[64], marker[128], to[256], from[256], subject[192];
    smtp_client *c = NULL;
    smtp_message *m;
    transcript t = {0};
    char *delivered;
    if (!have_testbed() || !have_script_server()) return;
    CHECK(script_server_start(&busy, "busy"));
    snprintf(third, sizeof third, "127.0.0.1:%d", tb.port_plain);
    snprintf(servers, sizeof servers, "127.0.0.1:%d,127.0.0.1:%d,%s", closed_port(), busy.port,
             third);
    CHECK_OK(smtp_client_new(servers, 0, &c));
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_NONE));
    CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
    CHECK_OK(smtp_client_set_timeouts(c, 20000, 60000, 0));
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    CHECK(smtp_client_server(c) == NULL);
    CHECK_OK(smtp_client_connect(c));
    CHECK_STR_EQ(smtp_client_server(c), third);

    make_marker(marker, sizeof marker, "cfailover");
    snprintf(subject, sizeof subject, "failover %s", marker);
    m = smtp_message_new();
    CHECK_OK(smtp_message_set_from(m, addr(from, sizeof from, "sender")));
    CHECK_OK(smtp_message_add_to(m, addr(to, sizeof to, "failover-c")));
    CHECK_OK(smtp_message_set_subject(m, subject));
    CHECK_OK(smtp_message_set_text(m, "taken by the third server\n"));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    smtp_message_free(m);
    script_server_finish(&busy);
    CHECK(busy.status == 0);
    CHECK_CONTAINS(t.text, "trying the next server");
    CHECK_CONTAINS(t.text, "421 4.3.2");
    CHECK_CONTAINS(t.text, third);
    free(t.text);
    delivered = find_delivered(marker);
    CHECK(delivered != NULL);
    if (delivered) CHECK_CONTAINS(delivered, "taken by the third server");
    free(delivered);
    CHECK(count_delivered(marker) == 1);
}

static void test_refused_credentials_do_not_move_on(void)
{
    script_server s;
    char servers[128];
    smtp_client *c = NULL;
    int next_port, next;
    if (!have_script_server()) return;
    CHECK(script_server_start(&s, "plain-fail"));
    next = listener(&next_port);
    snprintf(servers, sizeof servers, "127.0.0.1:%d,127.0.0.1:%d", s.port, next_port);
    CHECK_OK(smtp_client_new(servers, 0, &c));
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_NONE));
    CHECK_OK(smtp_client_set_client_name(c, "client.test"));
    CHECK_OK(smtp_client_set_credentials(c, "ann", "not the password"));
    CHECK_OK(smtp_client_set_timeouts(c, 5000, 3000, 0));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_AUTH);
    CHECK_NOT_CONTAINS(smtp_last_message(), "not the password");
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(untouched(next));
    close(next);
}

static void test_every_server_down_names_the_last(void)
{
    char servers[128], last[64];
    smtp_client *c = NULL;
    snprintf(last, sizeof last, "127.0.0.1:%d", closed_port());
    snprintf(servers, sizeof servers, "127.0.0.1:%d,%s", closed_port(), last);
    CHECK_OK(smtp_client_new(servers, 0, &c));
    CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_NONE));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_CONNECT);
    CHECK_CONTAINS(smtp_last_message(), last);
    smtp_client_free(c);
    CHECK_RESULT(smtp_client_new("a.example,,b.example", 0, &c), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "host");
}

int main(void)
{
    RUN(test_every_server_down_names_the_last);
    RUN(test_refused_credentials_do_not_move_on);
    RUN(test_the_third_server_takes_the_message);
    return h_summary();
}
