/*
 * smtp_client_send_batch(): many messages over one connection, pipelined
 * across messages, each with its own outcome. Against the Postfix test
 * bed: a batch of 50 (raw and composed messages mixed) arrives once each;
 * a refused recipient or an unparsable address stays with its message.
 * Against the scripted server: a 421 and a dropped connection in the
 * middle of a window give each message its exact result. Without a
 * server: bad arguments are typed errors naming the element, never a
 * crash, and leave nothing sent.
 */
#include "harness.h"
#include "script_server.h"

#define BATCH 50

/* Message i of a batch: its subject and body carry "MARKER-NNN-end". */
static int format_raw(char *buf, size_t len, const char *from, const char *to, const char *marker,
                      int i)
{
    return snprintf(buf, len,
                    "From: %s\r\nTo: %s\r\nSubject: %s-%03d-end\r\n\r\nbatch message %d\r\n",
                    from, to, marker, i, i);
}

/* A raw element of a batch (the strings must outlive the call). */
static smtp_batch_message raw_item(const char *sender, const char *const *recipients, size_t n,
                                   const char *data)
{
    smtp_batch_message m;
    memset(&m, 0, sizeof m);
    m.sender = sender;
    m.recipients = recipients;
    m.recipient_count = n;
    m.data = (const uint8_t *)data;
    m.len = data ? strlen(data) : 0;
    return m;
}

/* Checks message i's outcome: its result and reply code. */
static void check_outcome(smtp_client *c, size_t i, int want_result, int want_code)
{
    int result = -1, code = -1;
    const char *message = NULL, *enhanced = NULL, *text = NULL;
    CHECK(smtp_client_batch_result(c, i, &result, &message));
    CHECK(smtp_client_batch_reply(c, i, &code, &enhanced, &text));
    if (result != want_result || code != want_code)
        h_fail(__FILE__, __LINE__, "message %zu: result %d (%s), reply %d; expected %d, %d", i,
               result, message ? message : "(null)", code, want_result, want_code);
    CHECK(message != NULL && message[0] != '\0');
    CHECK(enhanced != NULL && text != NULL);
}

/* ---- against the test bed ------------------------------------------- */

static void test_fifty_messages_arrive_once_each(void)
{
    static char data[BATCH][1024];
    char marker[128], from[256], to[256], subject[192];
    const char *rcpt[1];
    smtp_batch_message items[BATCH];
    smtp_message *composed[BATCH] = {0};
    int want[BATCH], counts[BATCH], i;
    size_t sent = 0;
    transcript t = {0};
    smtp_client *c;
    time_t since = time(NULL) - 1;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "batch50");
    addr(from, sizeof from, "sender");
    rcpt[0] = addr(to, sizeof to, "batch");
    for (i = 0; i < BATCH; i++) {
        want[i] = 1;
        if (i % 5 == 0) {
            /* Every fifth message is composed: both kinds in one batch. */
            snprintf(subject, sizeof subject, "%s-%03d-end", marker, i);
            composed[i] = smtp_message_new();
            CHECK_OK(smtp_message_set_from(composed[i], from));
            CHECK_OK(smtp_message_add_to(composed[i], to));
            CHECK_OK(smtp_message_set_subject(composed[i], subject));
            CHECK_OK(smtp_message_set_text(composed[i], "composed, in a batch\n"));
            memset(&items[i], 0, sizeof items[i]);
            items[i].message = composed[i];
        } else {
            format_raw(data[i], sizeof data[i], from, to, marker, i);
            items[i] = raw_item(from, rcpt, 1, data[i]);
        }
    }
    c = plain_client();
    CHECK(c != NULL);
    if (!c) return;
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_batch(c, items, BATCH, &sent));
    CHECK(sent == BATCH);
    CHECK_STR_EQ(smtp_last_message(), "50 of 50 messages accepted");
    CHECK(smtp_client_batch_count(c) == BATCH);
    for (i = 0; i < BATCH; i++) {
        const char *address = NULL, *enhanced = NULL, *text = NULL, *message = NULL;
        int code = 0, result = -1;
        check_outcome(c, (size_t)i, SMTP_OK, 250);
        CHECK(smtp_client_batch_result(c, (size_t)i, &result, &message));
        CHECK_CONTAINS(message, "queued as");
        CHECK(smtp_client_batch_recipient_count(c, (size_t)i) == 1);
        CHECK(smtp_client_batch_recipient(c, (size_t)i, 0, &address, &code, &enhanced, &text));
        CHECK_STR_EQ(address, to);
        CHECK(code == 250);
        CHECK(!smtp_client_batch_recipient(c, (size_t)i, 1, &address, &code, &enhanced, &text));
    }
    {
        int result = -1;
        const char *message = NULL;
        CHECK(!smtp_client_batch_result(c, BATCH, &result, &message)); /* out of range */
        CHECK(result == -1 && message == NULL);
    }
    /* One transaction per message, pipelined: no message went twice. */
    CHECK(count_occurrences(t.text, "C: MAIL FROM:") == BATCH);
    CHECK_CONTAINS(t.text, "sending 50 messages, pipelined");
    /* The session goes on. */
    CHECK_OK(smtp_client_noop(c));
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);

    wait_numbered(marker, since, want, counts, BATCH);
    for (i = 0; i < BATCH; i++)
        if (counts[i] != 1) h_fail(__FILE__, __LINE__, "message %d arrived %d times", i, counts[i]);
    for (i = 0; i < BATCH; i++) smtp_message_free(composed[i]);
    free(t.text);
}

static void test_a_refused_recipient_stays_with_its_message(void)
{
    enum { N = 6 };
    static char data[N][1024];
    char marker[128], from[256], good[256], rx[256], ry[256], rz[256], list[600];
    const char *to_good[1], *to_rx[1], *to_both[2], *to_bad[1], *to_list[1];
    smtp_batch_message items[N];
    smtp_message *m;
    int want[N] = {1, 0, 1, 0, 0, 1}, counts[N], i, code = 0;
    const char *address, *enhanced, *text;
    size_t sent = 0;
    smtp_client *c;
    time_t since = time(NULL) - 1;
    if (!have_testbed()) return;
    make_marker(marker, sizeof marker, "batchrefused");
    addr(from, sizeof from, "sender");
    to_good[0] = addr(good, sizeof good, "good");
    to_rx[0] = addr(rx, sizeof rx, "reject-x");
    to_both[0] = good;
    to_both[1] = addr(ry, sizeof ry, "reject-y");
    to_bad[0] = "not an address";
    addr(rz, sizeof rz, "reject-z");
    snprintf(list, sizeof list, "Good <%s>, %s", good, rz); /* an element may hold a list */
    to_list[0] = list;
    for (i = 0; i < N; i++) format_raw(data[i], sizeof data[i], from, good, marker, i);
    items[0] = raw_item(from, to_good, 1, data[0]);
    items[1] = raw_item(from, to_rx, 1, data[1]);   /* every recipient refused */
    items[2] = raw_item(from, to_both, 2, data[2]); /* one of two refused */
    items[3] = raw_item(from, to_bad, 1, data[3]);  /* refused before sending */
    m = smtp_message_new();                         /* composed, refused */
    CHECK_OK(smtp_message_set_from(m, from));
    CHECK_OK(smtp_message_add_to(m, rz));
    CHECK_OK(smtp_message_set_subject(m, marker));
    CHECK_OK(smtp_message_set_text(m, "to a refused recipient\n"));
    memset(&items[4], 0, sizeof items[4]);
    items[4].message = m;
    items[5] = raw_item(from, to_list, 1, data[5]);

    c = plain_client();
    CHECK(c != NULL);
    if (!c) return;
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_batch(c, items, N, &sent));
    CHECK(sent == 3);
    CHECK_STR_EQ(smtp_last_message(), "3 of 6 messages accepted");
    check_outcome(c, 0, SMTP_OK, 250);
    check_outcome(c, 1, SMTP_ERR_RECIPIENTS_REFUSED, 550);
    CHECK(smtp_client_batch_reply(c, 1, &code, &enhanced, &text));
    CHECK_STR_EQ(enhanced, "5.1.1");
    CHECK(smtp_client_batch_recipient_count(c, 1) == 1);
    CHECK(smtp_client_batch_recipient(c, 1, 0, &address, &code, &enhanced, &text));
    CHECK_STR_EQ(address, rx);
    CHECK(code == 550);
    CHECK_CONTAINS(text, "Recipient refused by the test bed");
    /* Delivered to the accepted one; the refused one is listed. */
    check_outcome(c, 2, SMTP_OK, 250);
    CHECK(smtp_client_batch_recipient_count(c, 2) == 2);
    CHECK(smtp_client_batch_recipient(c, 2, 0, &address, &code, &enhanced, &text));
    CHECK(code == 250);
    CHECK(smtp_client_batch_recipient(c, 2, 1, &address, &code, &enhanced, &text));
    CHECK_STR_EQ(address, ry);
    CHECK(code == 550);
    check_outcome(c, 3, SMTP_ERR_INVALID_INPUT, 0);
    CHECK(smtp_client_batch_recipient_count(c, 3) == 0);
    check_outcome(c, 4, SMTP_ERR_RECIPIENTS_REFUSED, 550);
    check_outcome(c, 5, SMTP_OK, 250);
    CHECK(smtp_client_batch_recipient_count(c, 5) == 2);
    CHECK(smtp_client_batch_recipient(c, 5, 0, &address, &code, &enhanced, &text));
    CHECK_STR_EQ(address, good);
    CHECK(code == 250);
    CHECK(smtp_client_batch_recipient(c, 5, 1, &address, &code, &enhanced, &text));
    CHECK_STR_EQ(address, rz);
    CHECK(code == 550);
    CHECK(smtp_client_is_connected(c));

    /* A failed call (a NULL recipient) sends nothing and empties the
     * report; the session goes on and the next batch works. */
    to_both[1] = NULL;
    CHECK_RESULT(smtp_client_send_batch(c, items, N, &sent), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "messages[2].recipients[1]");
    CHECK(smtp_client_batch_count(c) == 0);
    CHECK(smtp_client_is_connected(c));
    CHECK_OK(smtp_client_send_batch(c, items, 1, &sent));
    CHECK(sent == 1);
    want[0] = 2;
    smtp_client_free(c);

    wait_numbered(marker, since, want, counts, N);
    for (i = 0; i < N; i++)
        if (counts[i] != want[i])
            h_fail(__FILE__, __LINE__, "message %d arrived %d times, expected %d", i, counts[i],
                   want[i]);
    smtp_message_free(m);
}

/* ---- against the scripted server ------------------------------------ */

static smtp_client *scripted_batch(script_server *s, const char *scenario, size_t n,
                                   size_t *sent)
{
    static const char *const rcpt[] = {"rcpt@example.test"};
    static const char data[] = "Subject: batch\r\n\r\nHello.\r\n";
    smtp_batch_message items[4];
    smtp_client *c;
    size_t i;
    if (!script_server_start(s, scenario)) return NULL;
    c = scripted_client(s);
    if (!c) return NULL;
    for (i = 0; i < n && i < 4; i++) items[i] = raw_item("sender@example.test", rcpt, 1, data);
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_batch(c, items, n, sent));
    CHECK(smtp_client_batch_count(c) == n);
    return c;
}

static void test_a_421_in_the_middle_of_a_window(void)
{
    script_server s;
    smtp_client *c;
    size_t sent = 0;
    if (!have_script_server()) return;
    c = scripted_batch(&s, "batch-421", 4, &sent);
    CHECK(c != NULL);
    if (!c) return;
    CHECK(sent == 1);
    check_outcome(c, 0, SMTP_OK, 250);
    check_outcome(c, 1, SMTP_ERR_RECIPIENTS_REFUSED, 550);
    CHECK(smtp_client_batch_recipient_count(c, 1) == 1);
    check_outcome(c, 2, SMTP_ERR_REJECTED, 421);
    /* The server closed after its 421: message 3 was not taken. */
    check_outcome(c, 3, SMTP_ERR_NOT_CONNECTED, 0);
    CHECK(!smtp_client_is_connected(c));
    CHECK_RESULT(smtp_client_send_batch(c, NULL, 0, &sent), SMTP_OK);
    CHECK_RESULT(smtp_client_noop(c), SMTP_ERR_NOT_CONNECTED);
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK(count_occurrences(s.out, "line MAIL FROM:<sender@example.test>") == 4);
    CHECK_NOT_CONTAINS(s.out, "error");
}

static void test_a_drop_leaves_written_messages_unknown(void)
{
    static const char *const rcpt[] = {"rcpt@example.test"};
    smtp_batch_message again;
    script_server s;
    smtp_client *c;
    size_t sent = 0;
    if (!have_script_server()) return;
    c = scripted_batch(&s, "batch-drop", 3, &sent);
    CHECK(c != NULL);
    if (!c) return;
    CHECK(sent == 1);
    check_outcome(c, 0, SMTP_OK, 250);
    /* Both ends were written and never answered: they may have arrived. */
    check_outcome(c, 1, SMTP_ERR_DELIVERY_UNKNOWN, 0);
    check_outcome(c, 2, SMTP_ERR_DELIVERY_UNKNOWN, 0);
    CHECK(!smtp_client_is_connected(c));
    /* A batch on the ended session is refused as a whole. */
    again = raw_item("sender@example.test", rcpt, 1, "Subject: x\r\n\r\nx\r\n");
    CHECK_RESULT(smtp_client_send_batch(c, &again, 1, &sent), SMTP_ERR_NOT_CONNECTED);
    CHECK(smtp_client_batch_count(c) == 0);
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK(count_occurrences(s.out, "line MAIL FROM:") == 3);
}

/* ---- without a server ------------------------------------------------ */

static void test_bad_arguments_are_typed_errors(void)
{
    static const char data[] = "Subject: x\r\n\r\nbody\r\n";
    const char *one[] = {"a@example.test"};
    const char *with_null[] = {"a@example.test", NULL};
    const char *bad_utf8[] = {"\xff\xfe@example.test"};
    smtp_batch_message items[2];
    smtp_message *m = smtp_message_new();
    smtp_client *c = NULL;
    size_t sent = 77;
    int result = 0, code = 0;
    const char *s1 = NULL, *s2 = NULL, *s3 = NULL;
    CHECK_OK(smtp_client_new("127.0.0.1", 1, &c));

    CHECK_RESULT(smtp_client_send_batch(c, NULL, 3, &sent), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "`messages`");
    CHECK_RESULT(smtp_client_send_batch(NULL, NULL, 0, &sent), SMTP_ERR_NULL_PARAMETER);
    items[0] = raw_item("s@example.test", one, 1, data);
    items[1] = raw_item("s@example.test", with_null, 2, data);
    CHECK_RESULT(smtp_client_send_batch(c, items, 2, &sent), SMTP_ERR_NULL_PARAMETER);
    CHECK_STR_EQ(smtp_last_message(), "NULL pointer passed for `messages[1].recipients[1]`");
    items[1] = raw_item("s@example.test", NULL, 1, data);
    CHECK_RESULT(smtp_client_send_batch(c, items, 2, &sent), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "messages[1].recipients");
    items[1] = raw_item(NULL, one, 1, data);
    CHECK_RESULT(smtp_client_send_batch(c, items, 2, &sent), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "messages[1].sender");
    items[1] = raw_item("s@example.test", one, 1, NULL);
    items[1].len = 5;
    CHECK_RESULT(smtp_client_send_batch(c, items, 2, &sent), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "messages[1].data");
    items[1] = raw_item("s@example.test", bad_utf8, 1, data);
    CHECK_RESULT(smtp_client_send_batch(c, items, 2, &sent), SMTP_ERR_INVALID_UTF8);
    CHECK_CONTAINS(smtp_last_message(), "messages[1].recipients[0]");
    items[1] = raw_item("s@example.test", one, 1, data);
    items[1].message = m; /* both kinds in one element */
    CHECK_RESULT(smtp_client_send_batch(c, items, 2, &sent), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "messages[1]");
    CHECK(sent == 77); /* written only on success */

    /* Nothing to send: done, connected or not. */
    CHECK_OK(smtp_client_send_batch(c, NULL, 0, &sent));
    CHECK(sent == 0);
    CHECK_OK(smtp_client_send_batch(c, NULL, 0, NULL));
    /* Good arguments, no session. */
    CHECK_RESULT(smtp_client_send_batch(c, items, 1, &sent), SMTP_ERR_NOT_CONNECTED);
    CHECK(smtp_client_batch_count(c) == 0);

    /* The accessors: NULL and out-of-range give 0 / false. */
    CHECK(smtp_client_batch_count(NULL) == 0);
    CHECK(!smtp_client_batch_result(NULL, 0, &result, &s1));
    CHECK(!smtp_client_batch_result(c, 0, &result, &s1));
    CHECK(!smtp_client_batch_result(c, 0, NULL, &s1));
    CHECK(!smtp_client_batch_reply(c, 0, &code, &s1, NULL));
    CHECK(!smtp_client_batch_reply(NULL, 0, &code, &s1, &s2));
    CHECK(smtp_client_batch_recipient_count(NULL, 0) == 0);
    CHECK(smtp_client_batch_recipient_count(c, 9) == 0);
    CHECK(!smtp_client_batch_recipient(c, 0, 0, &s1, &code, &s2, &s3));
    CHECK(!smtp_client_batch_recipient(NULL, 0, 0, &s1, &code, &s2, &s3));
    CHECK(!smtp_client_batch_recipient(c, 0, 0, &s1, NULL, &s2, &s3));
    smtp_client_free(c);
    smtp_message_free(m);
}

int main(void)
{
    RUN(test_bad_arguments_are_typed_errors);
    RUN(test_a_421_in_the_middle_of_a_window);
    RUN(test_a_drop_leaves_written_messages_unknown);
    RUN(test_fifty_messages_arrive_once_each);
    RUN(test_a_refused_recipient_stays_with_its_message);
    return h_summary();
}
