/*
 * The outbox from C (smtp_outbox_*): argument checks, a queue round trip
 * (enqueue, list, hold, release, requeue, remove), raw messages with an
 * envelope from the headers, broken spool files listed with their
 * problem, delivery to the test bed's Postfix (each message once, the
 * queue emptied), and per-recipient results against the scripted server
 * (250 kept, 451 retried alone, 550 bounced to the sender).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "harness.h"
#include "script_server.h"

/* A fresh spool directory under /tmp (removed by rm_spool). */
static void new_spool(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/smtp-outbox-test.XXXXXX");
    if (!mkdtemp(buf)) buf[0] = '\0';
}

static void rm_spool(const char *dir)
{
    char cmd[4200];
    if (!dir[0] || strncmp(dir, "/tmp/smtp-outbox-test.", 22) != 0) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "  note: could not remove %s\n", dir);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Opens an outbox in a fresh directory (dir receives its path). */
static smtp_outbox *open_outbox(char *dir, size_t len)
{
    smtp_outbox *o = NULL;
    new_spool(dir, len);
    CHECK(dir[0] != '\0');
    CHECK_OK(smtp_outbox_open(dir, &o));
    CHECK(o != NULL);
    return o;
}

/* Lists the outbox; returns the number of entries. */
static size_t list(smtp_outbox *o)
{
    size_t n = 12345;
    CHECK_OK(smtp_outbox_list(o, &n));
    CHECK(n == smtp_outbox_count(o));
    return n;
}

/* The index of `id` in the last listing, or -1. */
static long find_entry(const smtp_outbox *o, const char *id)
{
    size_t i;
    for (i = 0; i < smtp_outbox_count(o); i++)
        if (strcmp(smtp_outbox_entry_id(o, i), id) == 0) return (long)i;
    return -1;
}

static void test_null_and_invalid_arguments(void)
{
    static const char *const bad_ids[] = {
        "", ".hidden", "../state", "a/b", "x y", "id\nnext", "semi;colon",
        "0123456789012345678901234567890123456789012345678901234567890123456789",
    };
    char dir[256];
    smtp_outbox *o = NULL;
    const char *id = NULL, *s = NULL;
    int code = 0;
    size_t i;

    CHECK_RESULT(smtp_outbox_open(NULL, &o), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "dir");
    CHECK_RESULT(smtp_outbox_open("/tmp", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_open("", &o), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_outbox_open("/proc/no-such-dir/outbox", &o), SMTP_ERR_SPOOL);
    CHECK(o == NULL);
    smtp_outbox_free(NULL);

    CHECK_RESULT(smtp_outbox_enqueue_raw(NULL, "a@example.test", "b@example.test",
                                         (const uint8_t *)"x", 1, &id),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_enqueue_message(NULL, NULL, &id), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_flush(NULL, NULL, NULL, NULL, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_list(NULL, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_hold(NULL, "abc"), SMTP_ERR_NULL_PARAMETER);
    CHECK(smtp_outbox_count(NULL) == 0);
    CHECK(smtp_outbox_report_count(NULL) == 0);
    CHECK(smtp_outbox_entry_id(NULL, 0) == NULL);
    CHECK(smtp_outbox_entry_size(NULL, 0) == 0);
    CHECK(!smtp_outbox_entry_held(NULL, 0));
    CHECK(!smtp_outbox_entry_recipient(NULL, 0, 0, &s, &code, &s));
    CHECK(!smtp_outbox_report(NULL, 0, &s, &code, &s, &s));

    o = open_outbox(dir, sizeof dir);
    CHECK_RESULT(smtp_outbox_enqueue_message(o, NULL, &id), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_enqueue_raw(o, "a@example.test", NULL, (const uint8_t *)"x", 1, &id),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_enqueue_raw(o, NULL, "b@example.test", (const uint8_t *)"x", 1, &id),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_enqueue_raw(o, "a@example.test", "b@example.test", NULL, 5, &id),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_enqueue_raw(o, "a@example.test", "not an address", (const uint8_t *)"x",
                                         1, &id),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_outbox_enqueue_raw(o, "\xff", "b@example.test", (const uint8_t *)"x", 1, &id),
                 SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_outbox_enqueue_raw_file(o, NULL, NULL, NULL, &id), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_enqueue_raw_file(o, NULL, NULL, "/no/such/file.eml", &id),
                 SMTP_ERR_INVALID_INPUT);
    /* A flush needs a client with a session. */
    CHECK_RESULT(smtp_outbox_flush(o, NULL, NULL, NULL, NULL), SMTP_ERR_NULL_PARAMETER);
    {
        smtp_client *c = NULL;
        CHECK_OK(smtp_client_new("127.0.0.1", 1, &c));
        CHECK_RESULT(smtp_outbox_deliver_due(o, c, NULL, NULL, NULL), SMTP_ERR_NOT_CONNECTED);
        smtp_client_free(c);
    }
    for (i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        CHECK_RESULT(smtp_outbox_hold(o, bad_ids[i]), SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_outbox_release(o, bad_ids[i]), SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_outbox_requeue(o, bad_ids[i]), SMTP_ERR_INVALID_INPUT);
        CHECK_RESULT(smtp_outbox_remove(o, bad_ids[i]), SMTP_ERR_INVALID_INPUT);
    }
    CHECK_RESULT(smtp_outbox_hold(o, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_outbox_remove(o, "\xff"), SMTP_ERR_INVALID_UTF8);
    /* Well formed but not queued. */
    CHECK_RESULT(smtp_outbox_hold(o, "abc.def"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "not in the queue");
    CHECK_RESULT(smtp_outbox_remove(o, "abc.def"), SMTP_ERR_INVALID_INPUT);
    /* Nothing was queued by any of the failures. */
    CHECK(list(o) == 0);
    CHECK(smtp_outbox_entry_id(o, 0) == NULL);
    CHECK(smtp_outbox_entry_problem(o, 0) == NULL);
    CHECK(smtp_outbox_entry_recipient_count(o, 0) == 0);
    smtp_outbox_free(o);
    rm_spool(dir);
}

static void test_enqueue_list_hold_release_remove(void)
{
    char dir[256], path[512], id1[80], id2[80], id3[80];
    const char *id = NULL, *address = NULL, *reply = NULL;
    static const char raw[] = "From: b@example.test\nTo: c@example.test\nSubject: raw\n\nbody\n";
    smtp_outbox *o = open_outbox(dir, sizeof dir);
    smtp_message *m = smtp_message_new();
    time_t now = time(NULL);
    int status = -1;
    long i1, i2, i3;

    CHECK_OK(smtp_message_set_from(m, "Ann <ann@example.test>"));
    CHECK_OK(smtp_message_add_to(m, "one@example.test, Two <two@example.test>"));
    CHECK_OK(smtp_message_set_subject(m, "queued \xc3\xa9t\xc3\xa9"));
    CHECK_OK(smtp_message_set_text(m, "Caf\xc3\xa9 au lait.\n"));
    CHECK_OK(smtp_outbox_enqueue_message(o, m, &id));
    CHECK(id != NULL && strlen(id) > 0 && strlen(id) < sizeof id1);
    snprintf(id1, sizeof id1, "%s", id);
    CHECK_OK(smtp_outbox_enqueue_raw(o, "b@example.test", "c@example.test, d@example.test",
                                     (const uint8_t *)raw, strlen(raw), &id));
    snprintf(id2, sizeof id2, "%s", id);
    snprintf(path, sizeof path, "%s/raw.eml", dir);
    write_file(path, raw);
    /* id_out may be NULL. */
    CHECK_OK(smtp_outbox_enqueue_raw_file(o, "", "e@example.test", path, NULL));
    CHECK_OK(smtp_outbox_enqueue_raw_file(o, "", "e@example.test", path, &id));
    snprintf(id3, sizeof id3, "%s", id);
    CHECK(strcmp(id1, id2) != 0 && strcmp(id2, id3) != 0);

    CHECK(list(o) == 4);
    i1 = find_entry(o, id1);
    i2 = find_entry(o, id2);
    i3 = find_entry(o, id3);
    CHECK(i1 >= 0 && i2 >= 0 && i3 >= 0);
    if (i1 < 0 || i2 < 0 || i3 < 0) goto out;
    CHECK_STR_EQ(smtp_outbox_entry_sender(o, (size_t)i1), "ann@example.test");
    CHECK_STR_EQ(smtp_outbox_entry_sender(o, (size_t)i2), "b@example.test");
    CHECK_STR_EQ(smtp_outbox_entry_sender(o, (size_t)i3), "");
    CHECK(smtp_outbox_entry_size(o, (size_t)i2) == strlen(raw));
    CHECK(smtp_outbox_entry_size(o, (size_t)i1) > 100);
    CHECK(smtp_outbox_entry_attempts(o, (size_t)i1) == 0);
    CHECK(smtp_outbox_entry_created(o, (size_t)i1) >= (int64_t)now - 5);
    CHECK(smtp_outbox_entry_next_attempt(o, (size_t)i1) <= (int64_t)time(NULL) + 1);
    CHECK(!smtp_outbox_entry_held(o, (size_t)i1));
    CHECK(!smtp_outbox_entry_possible_duplicate(o, (size_t)i1));
    CHECK_STR_EQ(smtp_outbox_entry_problem(o, (size_t)i1), "");
    CHECK_STR_EQ(smtp_outbox_entry_last_error(o, (size_t)i1), "");
    CHECK(smtp_outbox_entry_recipient_count(o, (size_t)i1) == 2);
    CHECK(smtp_outbox_entry_recipient_count(o, (size_t)i2) == 2);
    CHECK(smtp_outbox_entry_recipient(o, (size_t)i1, 1, &address, &status, &reply));
    CHECK_STR_EQ(address, "two@example.test");
    CHECK(status == SMTP_RECIPIENT_PENDING);
    CHECK_STR_EQ(reply, "");
    CHECK(!smtp_outbox_entry_recipient(o, (size_t)i1, 2, &address, &status, &reply));
    CHECK(!smtp_outbox_entry_recipient(o, (size_t)i1, 0, NULL, &status, &reply));
    CHECK(smtp_outbox_entry_id(o, 4) == NULL);
    {
        /* The composed message went to disk 7-bit, its Bcc-free headers
         * complete. */
        char *bytes;
        snprintf(path, sizeof path, "%s/queue/%s.msg", dir, id1);
        bytes = h_read_file(path);
        CHECK_CONTAINS(bytes, "Message-ID: <");
        CHECK_CONTAINS(bytes, "Date: ");
        CHECK_CONTAINS(bytes, "Subject: queued =?UTF-8?");
        if (bytes) {
            const unsigned char *p;
            for (p = (const unsigned char *)bytes; *p; p++)
                if (*p >= 0x80) break;
            CHECK(*p == '\0');
        }
        free(bytes);
    }

    /* Hold, release, requeue: each seen by the next listing only. */
    CHECK_OK(smtp_outbox_hold(o, id2));
    CHECK(!smtp_outbox_entry_held(o, (size_t)i2));
    list(o);
    CHECK(smtp_outbox_entry_held(o, (size_t)find_entry(o, id2)));
    CHECK_OK(smtp_outbox_release(o, id2));
    list(o);
    CHECK(!smtp_outbox_entry_held(o, (size_t)find_entry(o, id2)));
    CHECK_OK(smtp_outbox_hold(o, id2));
    CHECK_OK(smtp_outbox_requeue(o, id2));
    list(o);
    CHECK(!smtp_outbox_entry_held(o, (size_t)find_entry(o, id2)));

    /* Remove: gone, files included; a second remove is refused. */
    CHECK_OK(smtp_outbox_remove(o, id2));
    CHECK_RESULT(smtp_outbox_remove(o, id2), SMTP_ERR_INVALID_INPUT);
    CHECK(list(o) == 3);
    CHECK(find_entry(o, id2) < 0);
    snprintf(path, sizeof path, "%s/queue/%s.msg", dir, id2);
    CHECK(access(path, F_OK) != 0);

    /* A second handle on the same directory sees the same queue. */
    {
        smtp_outbox *other = NULL;
        CHECK_OK(smtp_outbox_open(dir, &other));
        CHECK(list(other) == 3);
        CHECK_OK(smtp_outbox_remove(other, id3));
        smtp_outbox_free(other);
        CHECK(list(o) == 2);
    }
out:
    smtp_message_free(m);
    smtp_outbox_free(o);
    rm_spool(dir);
}

/* Raw messages with the envelope from the headers, table-driven. */
static void test_enqueue_raw_envelope_from_headers(void)
{
    static const struct {
        const char *data;
        const char *sender;
        const char *recipients[4]; /* NULL-terminated */
        smtp_result expected;
    } cases[] = {
        {"From: Ann <ann@example.test>\r\nTo: b@example.test\r\nCc: c@example.test\r\n"
         "Bcc: hidden@example.test\r\nSubject: s\r\n\r\nbody\r\n",
         "ann@example.test",
         {"b@example.test", "c@example.test", "hidden@example.test", NULL},
         SMTP_OK},
        {"Sender: s@example.test\nFrom: a@example.test\nTo: b@example.test\n\nLF only\n",
         "s@example.test",
         {"b@example.test", NULL},
         SMTP_OK},
        {"From: a@example.test\nSubject: nobody\n\nbody\n", NULL, {NULL}, SMTP_ERR_INVALID_INPUT},
        {"To: b@example.test\n\nno from\n", NULL, {NULL}, SMTP_ERR_INVALID_INPUT},
    };
    char dir[256], path[512];
    smtp_outbox *o = open_outbox(dir, sizeof dir);
    size_t c, queued = 0;

    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *id = NULL, *address, *reply;
        char copy[80];
        int status;
        size_t r;
        long i;
        char *bytes;
        CHECK_RESULT(smtp_outbox_enqueue_raw(o, NULL, NULL, (const uint8_t *)cases[c].data,
                                             strlen(cases[c].data), &id),
                     cases[c].expected);
        if (cases[c].expected != SMTP_OK) continue;
        queued++;
        snprintf(copy, sizeof copy, "%s", id);
        CHECK(list(o) == queued);
        i = find_entry(o, copy);
        CHECK(i >= 0);
        if (i < 0) continue;
        CHECK_STR_EQ(smtp_outbox_entry_sender(o, (size_t)i), cases[c].sender);
        for (r = 0; cases[c].recipients[r]; r++) {
            CHECK(smtp_outbox_entry_recipient(o, (size_t)i, r, &address, &status, &reply));
            CHECK_STR_EQ(address, cases[c].recipients[r]);
        }
        CHECK(smtp_outbox_entry_recipient_count(o, (size_t)i) == r);
        /* Bcc is a recipient (in the envelope that opens the file) but
         * its header is not stored with the message. */
        snprintf(path, sizeof path, "%s/queue/%s.msg", dir, copy);
        bytes = h_read_file(path);
        CHECK(bytes != NULL);
        if (bytes) {
            const char *message = strstr(bytes, "\nend\n");
            CHECK(message != NULL);
            if (message) {
                CHECK_NOT_CONTAINS(message, "Bcc");
                CHECK_NOT_CONTAINS(message, "hidden@");
            }
        }
        free(bytes);
    }
    CHECK(list(o) == queued);
    smtp_outbox_free(o);
    rm_spool(dir);
}

/* A raw message completed as smtp_client_send_raw_completed() would. */
static void test_enqueue_raw_completed(void)
{
    static const char body[] = "Hello,\nplain text without a header.\n";
    char dir[256], path[512], id[80];
    const char *out = NULL, *address, *reply;
    int status;
    char *bytes;
    smtp_outbox *o = open_outbox(dir, sizeof dir);

    CHECK_RESULT(smtp_outbox_enqueue_raw_completed(o, NULL, NULL, 0x40, NULL, NULL, NULL,
                                                   (const uint8_t *)body, strlen(body), &out),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_outbox_enqueue_raw_completed(NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0,
                                                   &out),
                 SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_outbox_enqueue_raw_completed(
        o, NULL, "cc@example.test", SMTP_RAW_RECIPIENTS_FROM_HEADERS, "Ann <ann@example.test>",
        "to@example.test", "completed", (const uint8_t *)body, strlen(body), &out));
    snprintf(id, sizeof id, "%s", out);
    CHECK(list(o) == 1);
    CHECK_STR_EQ(smtp_outbox_entry_id(o, 0), id);
    CHECK_STR_EQ(smtp_outbox_entry_sender(o, 0), "ann@example.test");
    CHECK(smtp_outbox_entry_recipient_count(o, 0) == 2);
    /* The header's recipients (the To added), then the ones given. */
    CHECK(smtp_outbox_entry_recipient(o, 0, 0, &address, &status, &reply));
    CHECK_STR_EQ(address, "to@example.test");
    CHECK(smtp_outbox_entry_recipient(o, 0, 1, &address, &status, &reply));
    CHECK_STR_EQ(address, "cc@example.test");
    snprintf(path, sizeof path, "%s/queue/%s.msg", dir, id);
    bytes = h_read_file(path);
    CHECK_CONTAINS(bytes, "Subject: completed");
    CHECK_CONTAINS(bytes, "From: Ann <ann@example.test>");
    CHECK_CONTAINS(bytes, "Message-ID: <");
    CHECK_CONTAINS(bytes, "plain text without a header");
    free(bytes);
    smtp_outbox_free(o);
    rm_spool(dir);
}

/* Broken files are listed with their problem: never a crash. */
static void test_broken_state_files_are_listed_with_their_problem(void)
{
    static const char *const states[] = {
        "",
        "garbage\n",
        "smtp-outbox-state 1\ncreated: 1\nsender: a@example.test\n",    /* truncated */
        "smtp-outbox-state 1\ncreated: x\nsender: a@example.test\nend\n", /* bad number */
        "smtp-outbox-state 1\nsender: a@example.test\nend\n",            /* no recipient */
        "smtp-outbox-state 1\nsender: a@example.test\nrcpt: lost\tb@example.test\t\nend\n",
    };
    char dir[256], path[512], id[80];
    const char *out = NULL;
    size_t n, i;
    smtp_outbox *o = open_outbox(dir, sizeof dir);

    for (i = 0; i < sizeof states / sizeof states[0]; i++) {
        CHECK_OK(smtp_outbox_enqueue_raw(o, "a@example.test", "b@example.test",
                                         (const uint8_t *)"Subject: x\n\nx\n", 14, &out));
        snprintf(id, sizeof id, "%s", out);
        snprintf(path, sizeof path, "%s/queue/%s.state", dir, id);
        write_file(path, states[i]);
    }
    /* A message file that is not one (no envelope at its start). */
    snprintf(path, sizeof path, "%s/queue/zzzz.orphan.msg", dir);
    write_file(path, "Subject: orphan\n\nx\n");

    n = list(o);
    CHECK(n == sizeof states / sizeof states[0] + 1);
    for (i = 0; i < n; i++) {
        const char *problem = smtp_outbox_entry_problem(o, i);
        CHECK(problem != NULL && problem[0] != '\0');
        if (strcmp(smtp_outbox_entry_id(o, i), "zzzz.orphan") == 0)
            CHECK_CONTAINS(problem, "corrupt message file");
        else
            CHECK_CONTAINS(problem, "corrupt state file");
        CHECK(smtp_outbox_entry_recipient_count(o, i) == 0);
        /* Control calls refuse a broken state; remove takes it away. */
        CHECK_RESULT(smtp_outbox_hold(o, smtp_outbox_entry_id(o, i)), SMTP_ERR_INVALID_INPUT);
    }
    snprintf(id, sizeof id, "%s", smtp_outbox_entry_id(o, 0));
    CHECK_OK(smtp_outbox_remove(o, id));
    CHECK_OK(smtp_outbox_remove(o, "zzzz.orphan"));
    CHECK(list(o) == n - 2);
    smtp_outbox_free(o);
    rm_spool(dir);
}

/* Enqueued messages go to the bed's Postfix once each; the queue empties. */
static void test_flush_delivers_each_message_once(void)
{
    enum { N = 4 };
    char dir[256], markers[N][128], from[128], to[128], raw[512];
    const char *id = NULL, *rid, *note, *error;
    smtp_outbox *o;
    smtp_client *c;
    size_t delivered = 99, deferred = 99, bounced = 99, i;
    int outcome;

    if (!have_testbed()) return;
    o = open_outbox(dir, sizeof dir);
    addr(from, sizeof from, "outbox-sender");
    addr(to, sizeof to, "outbox-rcpt");
    for (i = 0; i < N; i++) {
        make_marker(markers[i], sizeof markers[i], "outbox");
        if (i % 2 == 0) {
            smtp_message *m = smtp_message_new();
            CHECK_OK(smtp_message_set_from(m, from));
            CHECK_OK(smtp_message_add_to(m, to));
            CHECK_OK(smtp_message_set_subject(m, markers[i]));
            CHECK_OK(smtp_message_set_text(m, "queued, then flushed\n"));
            CHECK_OK(smtp_outbox_enqueue_message(o, m, &id));
            smtp_message_free(m);
        } else {
            snprintf(raw, sizeof raw, "From: %s\nTo: %s\nSubject: %s\n\nraw, queued\n", from, to,
                     markers[i]);
            CHECK_OK(smtp_outbox_enqueue_raw(o, NULL, NULL, (const uint8_t *)raw, strlen(raw),
                                             &id));
        }
    }
    CHECK(list(o) == N);
    c = plain_client();
    CHECK(c != NULL);
    if (!c) goto out;
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_outbox_flush(o, c, &delivered, &deferred, &bounced));
    CHECK(delivered == N && deferred == 0 && bounced == 0);
    CHECK(smtp_outbox_report_count(o) == N);
    for (i = 0; i < smtp_outbox_report_count(o); i++) {
        CHECK(smtp_outbox_report(o, i, &rid, &outcome, &note, &error));
        CHECK(outcome == SMTP_OUTBOX_DELIVERED);
        CHECK_STR_EQ(note, "");
        CHECK_STR_EQ(error, "");
    }
    CHECK(list(o) == 0);
    /* The session stays open; a second run has nothing to do. */
    CHECK(smtp_client_is_connected(c));
    CHECK_OK(smtp_outbox_flush(o, c, &delivered, NULL, NULL));
    CHECK(delivered == 0 && smtp_outbox_report_count(o) == 0);
    /* deliver_due takes a new message at once. */
    {
        char marker[128];
        make_marker(marker, sizeof marker, "outbox-due");
        snprintf(raw, sizeof raw, "Subject: %s\n\ndue now\n", marker);
        CHECK_OK(smtp_outbox_enqueue_raw(o, from, to, (const uint8_t *)raw, strlen(raw), NULL));
        CHECK_OK(smtp_outbox_deliver_due(o, c, &delivered, &deferred, &bounced));
        CHECK(delivered == 1 && deferred == 0 && bounced == 0);
        free(find_delivered(marker));
        CHECK(count_delivered(marker) == 1);
    }
    CHECK_OK(smtp_client_quit(c));
    for (i = 0; i < N; i++) {
        char *mail = find_delivered(markers[i]);
        CHECK(mail != NULL);
        free(mail);
        CHECK(count_delivered(markers[i]) == 1);
    }
    smtp_client_free(c);
out:
    smtp_outbox_free(o);
    rm_spool(dir);
}

/* 250, 451 and 550 for three recipients: the accepted one is never sent
 * again, the deferred one alone is retried, the refused one is bounced to
 * the sender (from <>), in the same run as the retry. */
static void test_partial_refusal_is_retried_and_bounced(void)
{
    static const char raw[] = "From: sender@example.test\r\nSubject: partial\r\n\r\nbody\r\n";
    char dir[256], id[80], bounce[80];
    const char *out = NULL, *rid, *note, *error, *address, *reply;
    smtp_outbox *o;
    smtp_client *c;
    script_server s;
    size_t delivered = 99, deferred = 99, bounced = 99, r;
    int outcome = -1, status;
    static const struct {
        const char *address;
        int status;
        const char *reply;
    } after_first[] = {
        {"ok@example.test", SMTP_RECIPIENT_DELIVERED, "250"},
        {"later@example.test", SMTP_RECIPIENT_DEFERRED, "451 4.2.0"},
        {"bad@example.test", SMTP_RECIPIENT_FAILED, "550 5.1.1"},
    };

    if (!have_script_server()) return;
    o = open_outbox(dir, sizeof dir);
    CHECK_OK(smtp_outbox_enqueue_raw(o, "sender@example.test",
                                     "ok@example.test, later@example.test, bad@example.test",
                                     (const uint8_t *)raw, strlen(raw), &out));
    snprintf(id, sizeof id, "%s", out);

    /* First run: one of each. */
    CHECK(script_server_start(&s, "outbox-partial"));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_outbox_flush(o, c, &delivered, &deferred, &bounced));
    CHECK(delivered == 0 && deferred == 1 && bounced == 0);
    CHECK(smtp_outbox_report(o, 0, &rid, &outcome, &note, &error));
    CHECK_STR_EQ(rid, id);
    CHECK(outcome == SMTP_OUTBOX_DEFERRED);
    CHECK_STR_EQ(note, "");
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_NOT_CONTAINS(s.out, "error");
    CHECK(list(o) == 1);
    CHECK_STR_EQ(smtp_outbox_entry_id(o, 0), id);
    CHECK(smtp_outbox_entry_attempts(o, 0) == 1);
    CHECK(smtp_outbox_entry_next_attempt(o, 0) > (int64_t)time(NULL) + 30);
    CHECK(smtp_outbox_entry_recipient_count(o, 0) == 3);
    for (r = 0; r < 3; r++) {
        CHECK(smtp_outbox_entry_recipient(o, 0, r, &address, &status, &reply));
        CHECK_STR_EQ(address, after_first[r].address);
        CHECK(status == after_first[r].status);
        CHECK_CONTAINS(reply, after_first[r].reply);
    }

    /* Not due yet: deliver_due leaves it (the server would see nothing). */
    /* Second run (flush: due or not): later@ only, then the bounce. */
    CHECK(script_server_start(&s, "outbox-retry"));
    c = scripted_client(&s);
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_outbox_deliver_due(o, c, &delivered, &deferred, &bounced));
    CHECK(delivered == 0 && deferred == 0 && bounced == 0);
    CHECK(smtp_outbox_report_count(o) == 0);
    CHECK_OK(smtp_outbox_flush(o, c, &delivered, &deferred, &bounced));
    CHECK(delivered == 1 && deferred == 0 && bounced == 1);
    CHECK(smtp_outbox_report_count(o) == 2);
    CHECK(smtp_outbox_report(o, 0, &rid, &outcome, &note, &error));
    CHECK_STR_EQ(rid, id);
    CHECK(outcome == SMTP_OUTBOX_BOUNCED);
    CHECK(note[0] != '\0');
    snprintf(bounce, sizeof bounce, "%s", note);
    CHECK(smtp_outbox_report(o, 1, &rid, &outcome, &note, &error));
    CHECK_STR_EQ(rid, bounce);
    CHECK(outcome == SMTP_OUTBOX_DELIVERED);
    smtp_client_free(c);
    script_server_finish(&s);
    CHECK(s.status == 0);
    CHECK_NOT_CONTAINS(s.out, "error");
    CHECK_NOT_CONTAINS(s.out, "RCPT TO:<ok@");
    CHECK_CONTAINS(s.out, "line MAIL FROM:<>");
    CHECK(count_occurrences(s.out, "body ok") == 2);
    CHECK(list(o) == 0);
    smtp_outbox_free(o);
    rm_spool(dir);
}

int main(void)
{
    RUN(test_null_and_invalid_arguments);
    RUN(test_enqueue_list_hold_release_remove);
    RUN(test_enqueue_raw_envelope_from_headers);
    RUN(test_enqueue_raw_completed);
    RUN(test_broken_state_files_are_listed_with_their_problem);
    RUN(test_flush_delivers_each_message_once);
    RUN(test_partial_refusal_is_retried_and_bounced);
    return h_summary();
}
