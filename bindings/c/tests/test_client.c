/*
 * The handle API against the real Postfix test bed: connect, capabilities
 * and TLS details, several messages on one connection, attachments,
 * per-recipient results, raw messages, the transcript callback, forced
 * mechanisms, bad credentials, and the smuggling payloads (early ends of
 * DATA, shared with test_starttls.c) through the strict port.
 */
#include "harness.h"

static smtp_client *submission_client(void)
{
    char url[4096];
    smtp_client *c = NULL;
    snprintf(url, sizeof url, "smtp://localhost:%d", tb.port_submission);
    if (smtp_client_new_url(url, &c) != SMTP_OK) return NULL;
    CHECK_OK(smtp_client_add_ca_file(c, tb.ca_file));
    CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
    CHECK_OK(smtp_client_set_timeouts(c, 20000, 60000, 0));
    return c;
}

static smtp_message *simple_message(const char *marker, const char *to)
{
    char from[256];
    smtp_message *m = smtp_message_new();
    CHECK_OK(smtp_message_set_from(m, addr(from, sizeof from, "sender")));
    CHECK_OK(smtp_message_add_to(m, to));
    CHECK_OK(smtp_message_set_subject(m, marker));
    CHECK_OK(smtp_message_set_text(m, "body\n"));
    return m;
}

/* ---- tests --------------------------------------------------------- */

static void test_connect_capabilities_and_tls(void)
{
    smtp_client *c;
    const uint8_t *der;
    size_t der_len = 0;
    const char *v;
    if (!have_testbed()) return;
    c = submission_client();
    CHECK(c != NULL);
    CHECK(!smtp_client_is_connected(c));
    CHECK_OK(smtp_client_connect(c));
    CHECK(smtp_client_is_connected(c));
    CHECK(smtp_last_reply_code() == 220); /* the greeting */
    CHECK_CONTAINS(smtp_client_greeting(c), "220");
    v = smtp_client_tls_version(c);
    CHECK(v != NULL && strncmp(v, "TLSv1.", 6) == 0);
    CHECK(smtp_client_tls_cipher(c) != NULL);
    der = smtp_client_peer_certificate(c, &der_len);
    CHECK(der != NULL && der_len > 100 && der[0] == 0x30); /* a DER SEQUENCE */
    CHECK_CONTAINS(smtp_client_capabilities(c), "PIPELINING");
    CHECK_CONTAINS(smtp_client_capabilities(c), "\n");
    CHECK(smtp_client_has_extension(c, "pipelining"));
    CHECK(smtp_client_has_extension(c, "AUTH"));
    CHECK(smtp_client_has_extension(c, "SIZE"));
    CHECK(!smtp_client_has_extension(c, "STARTTLS")); /* not offered again over TLS */
    CHECK(!smtp_client_has_extension(c, "NO-SUCH-EXTENSION"));
    CHECK_CONTAINS(smtp_client_auth_mechanisms(c), "PLAIN");
    CHECK_STR_EQ(smtp_client_authenticated_with(c), "SCRAM-SHA-256");
    CHECK_OK(smtp_client_noop(c));
    CHECK(smtp_last_reply_code() == 250);
    CHECK_OK(smtp_client_reset(c));
    CHECK_OK(smtp_client_quit(c));
    CHECK(!smtp_client_is_connected(c));
    /* What the session was stays readable until the next connect. */
    CHECK_CONTAINS(smtp_client_capabilities(c), "PIPELINING");
    CHECK_RESULT(smtp_client_quit(c), SMTP_ERR_NOT_CONNECTED);
    CHECK_RESULT(smtp_client_noop(c), SMTP_ERR_NOT_CONNECTED);
    /* And it can connect again. */
    CHECK_OK(smtp_client_connect(c));
    CHECK(smtp_client_is_connected(c));
    smtp_client_free(c); /* frees while connected: QUIT without waiting */
}

static void test_several_messages_on_one_connection(void)
{
    smtp_client *c;
    smtp_message *m;
    transcript t = {0};
    char markers[3][128], to[256];
    int i;
    if (!have_testbed()) return;
    c = plain_client();
    CHECK(c != NULL);
    CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
    CHECK_OK(smtp_client_connect(c));
    m = simple_message("first", addr(to, sizeof to, "multi"));
    for (i = 0; i < 3; i++) {
        make_marker(markers[i], sizeof markers[i], "multi");
        CHECK_OK(smtp_message_set_subject(m, markers[i])); /* replaces the subject */
        CHECK_OK(smtp_client_send_message(c, m));
        CHECK(smtp_last_reply_code() == 250);
        CHECK_CONTAINS(smtp_last_message(), "queued as");
        CHECK(smtp_client_recipient_count(c) == 1);
    }
    CHECK_OK(smtp_client_quit(c));
    for (i = 0; i < 3; i++) {
        char *mail = find_delivered(markers[i]);
        CHECK(mail != NULL);
        free(mail);
    }
    /* One connection: one greeting, one EHLO, one AUTH, three messages. */
    CHECK(count_occurrences(t.text, "C: EHLO ") == 1);
    CHECK(count_occurrences(t.text, "C: AUTH ") == 1);
    CHECK(count_occurrences(t.text, "C: MAIL FROM:") == 3);
    CHECK(t.bad_direction == 0);
    smtp_message_free(m);
    smtp_client_free(c);
    free(t.text);
}

static void test_per_recipient_results(void)
{
    smtp_client *c;
    smtp_message *m;
    char marker[128], to[1024];
    const char *address = NULL, *enhanced = NULL, *text = NULL;
    int code = 0;
    char *mail;
    if (!have_testbed()) return;
    c = plain_client();
    CHECK_OK(smtp_client_connect(c));
    make_marker(marker, sizeof marker, "partial");
    snprintf(to, sizeof to, "good@%s, reject-x@%s, tempfail-y@%s", tb.domain, tb.domain,
             tb.domain);
    m = simple_message(marker, to);
    /* Default policy: delivered to the accepted one, the others reported. */
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK(smtp_client_recipient_count(c) == 3);
    CHECK(smtp_client_recipient(c, 0, &address, &code, &enhanced, &text));
    CHECK_CONTAINS(address, "good@");
    CHECK(code == 250);
    CHECK(smtp_client_recipient(c, 1, &address, &code, &enhanced, &text));
    CHECK_CONTAINS(address, "reject-x@");
    CHECK(code == 550);
    CHECK_STR_EQ(enhanced, "5.1.1");
    CHECK_CONTAINS(text, "rejected");
    CHECK(smtp_client_recipient(c, 2, &address, &code, &enhanced, &text));
    CHECK_CONTAINS(address, "tempfail-y@");
    CHECK(code == 450);
    CHECK(!smtp_client_recipient(c, 3, &address, &code, &enhanced, &text));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    free(mail);
    CHECK(count_delivered(marker) == 1);

    /* Every recipient refused: an error, with the replies readable. */
    smtp_message_free(m);
    snprintf(to, sizeof to, "reject-a@%s, reject-b@%s", tb.domain, tb.domain);
    m = simple_message(marker, to);
    CHECK_RESULT(smtp_client_send_message(c, m), SMTP_ERR_RECIPIENTS_REFUSED);
    CHECK(smtp_last_reply_code() == 550);
    CHECK(smtp_client_recipient_count(c) == 2);
    CHECK(smtp_client_recipient(c, 1, &address, &code, &enhanced, &text));
    CHECK_CONTAINS(address, "reject-b@");
    CHECK(code == 550);
    /* The session is still usable. */
    CHECK_OK(smtp_client_noop(c));

    /* All or nothing (applies from the next connect). */
    smtp_message_free(m);
    make_marker(marker, sizeof marker, "allornothing");
    snprintf(to, sizeof to, "good@%s, reject-x@%s", tb.domain, tb.domain);
    m = simple_message(marker, to);
    CHECK_OK(smtp_client_set_recipient_policy(c, SMTP_RECIPIENTS_ALL_OR_NOTHING));
    CHECK_OK(smtp_client_connect(c));
    CHECK_RESULT(smtp_client_send_message(c, m), SMTP_ERR_RECIPIENTS_REFUSED);
    CHECK(smtp_client_recipient_count(c) == 1);
    CHECK(smtp_client_recipient(c, 0, &address, &code, &enhanced, &text));
    CHECK_CONTAINS(address, "reject-x@");
    CHECK(code == 550);
    CHECK(count_delivered(marker) == 0);
    smtp_message_free(m);
    smtp_client_free(c);
}

static void test_attachments_arrive(void)
{
    static const unsigned char blob[] = {0x00, 0x01, 0x02, 0xfe, 0xff, 'P', 'N', 'G', 0x89,
                                         0x0d, 0x0a, 0x1a, 0x0a, 0x7f, 0x80};
    static const char file_content[] = "Name,Amount\nZo\xc3\xab,42\nBob,7\n";
    char marker[128], to[256], path[512], b64[256];
    smtp_client *c;
    smtp_message *m;
    char *mail;
    FILE *f;
    if (!have_testbed()) return;
    snprintf(path, sizeof path, "/tmp/smtp-ffi-attach-%ld.csv", (long)getpid());
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(file_content, f);
    fclose(f);

    make_marker(marker, sizeof marker, "attach");
    m = simple_message(marker, addr(to, sizeof to, "attach"));
    CHECK_OK(smtp_message_set_html(m, "<p>See <img src=\"cid:logo\"> the report.</p>"));
    CHECK_OK(smtp_message_attach_bytes(m, "blob.bin", NULL, blob, sizeof blob));
    CHECK_OK(smtp_message_attach_file(m, path, "report.csv", "text/csv; charset=utf-8"));
    CHECK_OK(smtp_message_inline_bytes(m, "logo", "logo.png", "image/png", blob, 8));
    CHECK_OK(smtp_message_add_header(m, "X-Mailer", "smtp-ffi C test"));
    CHECK_OK(smtp_message_add_cc(m, "Copy <cc-rcpt@example.test>"));
    CHECK_OK(smtp_message_add_reply_to(m, "replies@example.test"));
    c = plain_client();
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK(smtp_client_recipient_count(c) == 2);
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    CHECK_CONTAINS(mail, "multipart/mixed");
    CHECK_CONTAINS(mail, "multipart/related");
    CHECK_CONTAINS(mail, "Content-Disposition: attachment; filename=");
    CHECK_CONTAINS(mail, "blob.bin");
    CHECK_CONTAINS(mail, "report.csv");
    CHECK_CONTAINS(mail, "text/csv");
    CHECK_CONTAINS(mail, "Content-ID: <logo>");
    CHECK_CONTAINS(mail, "X-Mailer: smtp-ffi C test");
    CHECK_CONTAINS(mail, "Reply-To: replies@example.test");
    CHECK_CONTAINS(mail, "Cc: Copy <cc-rcpt@example.test>");
    base64(blob, sizeof blob, b64);
    CHECK_CONTAINS(mail, b64); /* the memory attachment, byte for byte */
    base64((const unsigned char *)file_content, strlen(file_content), b64);
    CHECK_CONTAINS(mail, b64); /* the file attachment */
    free(mail);

    /* A file that disappears before sending: nothing is delivered. */
    make_marker(marker, sizeof marker, "vanished");
    CHECK_OK(smtp_message_set_subject(m, marker));
    remove(path);
    CHECK_RESULT(smtp_client_send_message(c, m), SMTP_ERR_BODY_READ);
    /* The session is closed, or (when the read failed before anything was
     * sent, as with CHUNKING) still usable. */
    CHECK(!smtp_client_is_connected(c) || smtp_client_noop(c) == SMTP_OK);
    CHECK(count_delivered(marker) == 0);
    smtp_message_free(m);
    smtp_client_free(c);
}

static void test_raw_messages(void)
{
    char marker[128], raw[2048], from[256], to[256];
    smtp_client *c;
    char *mail;
    if (!have_testbed()) return;
    c = plain_client();
    CHECK_OK(smtp_client_connect(c));

    /* Explicit envelope: the bytes go as they are. */
    make_marker(marker, sizeof marker, "rawenv");
    snprintf(raw, sizeof raw,
             "From: <raw@example.test>\nTo: <someone-else@example.test>\nSubject: %s\n\n"
             "raw body\n.leading dot\n.\nafter a lone dot\n",
             marker);
    CHECK_OK(smtp_client_send_raw(c, addr(from, sizeof from, "raw"),
                                  addr(to, sizeof to, "raw-rcpt"), (const uint8_t *)raw,
                                  strlen(raw)));
    CHECK(smtp_client_recipient_count(c) == 1);
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    CHECK_CONTAINS(mail, "\n.leading dot\n.\nafter a lone dot\n");
    free(mail);

    /* Envelope from the headers; Bcc removed before sending. */
    make_marker(marker, sizeof marker, "rawhdr");
    snprintf(raw, sizeof raw,
             "From: Raw <raw@example.test>\r\nTo: hdr-to@example.test\r\n"
             "Bcc: hdr-bcc@example.test\r\nSubject: %s\r\n\r\nbody\r\n",
             marker);
    CHECK_OK(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)raw, strlen(raw)));
    CHECK(smtp_client_recipient_count(c) == 2);
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    CHECK_NOT_CONTAINS(mail, "Bcc:"); /* (Postfix's Delivered-To may name it) */
    free(mail);
    {
        const char *address = NULL, *enhanced = NULL, *text = NULL;
        int code = 0;
        CHECK(smtp_client_recipient(c, 1, &address, &code, &enhanced, &text));
        CHECK_STR_EQ(address, "hdr-bcc@example.test");
        CHECK(code == 250);
    }
    {
        struct timespec pause = {0, 300 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(count_delivered(marker) == 2); /* To and Bcc each got one */

    /* Headers without a recipient: refused before anything is sent. */
    CHECK_RESULT(smtp_client_send_raw(c, NULL, NULL, (const uint8_t *)"From: a@example.test\n\nx",
                                      24),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_noop(c));
    smtp_client_free(c);
}

/* A message completed as sendmail would: To and Subject when missing,
 * From, Date, Message-ID from the author, Bcc removed, recipients from
 * the arguments and the headers. */
static void test_raw_messages_completed(void)
{
    char marker[128], raw[2048], author[320], from_addr[256], to[256], bcc[256], subject[160];
    smtp_client *c;
    char *mail;
    if (!have_testbed()) return;
    c = plain_client();
    CHECK_OK(smtp_client_connect(c));

    make_marker(marker, sizeof marker, "rawdone");
    snprintf(subject, sizeof subject, "completed %s", marker);
    snprintf(raw, sizeof raw, "Bcc: %s\nX-Mailer: legacy\n\nbody %s\n",
             addr(bcc, sizeof bcc, "done-bcc"), marker);
    addr(to, sizeof to, "done-to");
    snprintf(author, sizeof author, "Done Author <%s>", addr(from_addr, sizeof from_addr, "done"));
    CHECK_OK(smtp_client_send_raw_completed(c, NULL, to, SMTP_RAW_RECIPIENTS_FROM_HEADERS, author,
                                            to, subject, (const uint8_t *)raw, strlen(raw)));
    CHECK(smtp_client_recipient_count(c) == 2);
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    if (mail) {
        CHECK_CONTAINS(mail, "X-Mailer: legacy");
        CHECK_CONTAINS(mail, "Subject: completed ");
        CHECK_CONTAINS(mail, "From: Done Author <");
        CHECK_CONTAINS(mail, "\nDate: ");
        CHECK_CONTAINS(mail, "\nMessage-ID: <");
        CHECK_CONTAINS(mail, "\nTo: ");
        CHECK_NOT_CONTAINS(mail, "Bcc:");
        free(mail);
    }

    /* No recipient anywhere, a bad flag, a bad author: refused before
     * anything is sent, and the session stays usable. */
    CHECK_RESULT(smtp_client_send_raw_completed(c, NULL, NULL, 0, NULL, NULL, NULL,
                                                (const uint8_t *)"From: a@example.test\n\nx", 24),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "recipients");
    CHECK_RESULT(smtp_client_send_raw_completed(c, NULL, to, 0x10, NULL, NULL, NULL,
                                                (const uint8_t *)"From: a@example.test\n\nx", 24),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_send_raw_completed(c, NULL, to, 0, "not an address", NULL, NULL,
                                                (const uint8_t *)"\nx", 2),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_noop(c));
    smtp_client_free(c);
}

/* A body generated on the fly: `lines` lines, then the end. The lines
 * begin with a dot on purpose (dot-stuffing must still apply). */
typedef struct {
    const char *marker;
    int line, lines;
    int calls;
} generator;

static ptrdiff_t generate(void *userdata, uint8_t *buf, size_t len)
{
    generator *g = userdata;
    char chunk[256];
    int n;
    g->calls++;
    if (g->line > g->lines) return 0;
    if (g->line == 0)
        n = snprintf(chunk, sizeof chunk, "From: gen@example.test\nSubject: %s\n\n", g->marker);
    else
        n = snprintf(chunk, sizeof chunk, ".line %d of the generated body\n", g->line);
    if (n < 0 || (size_t)n > len) return -1;
    memcpy(buf, chunk, (size_t)n);
    g->line++;
    return n;
}

static ptrdiff_t failing_source(void *userdata, uint8_t *buf, size_t len)
{
    int *calls = userdata;
    (*calls)++;
    if (*calls == 1 && len > 8) {
        memcpy(buf, "Subject:", 8);
        return 8;
    }
    return -1;
}

static void test_streamed_raw_messages(void)
{
    char marker[128], from[256], to[256], path[512];
    smtp_client *c;
    char *mail;
    FILE *f;
    int i, calls = 0;
    generator g = {0};
    if (!have_testbed()) return;
    c = plain_client();
    /* Both switches off and on again: the settings are accepted and the
     * sends below work either way. */
    CHECK_OK(smtp_client_set_pipelining(c, false));
    CHECK_OK(smtp_client_set_chunking(c, false));
    CHECK_OK(smtp_client_connect(c));

    /* From a callback, with DATA (chunking off). */
    make_marker(marker, sizeof marker, "rawcb");
    g.marker = marker;
    g.lines = 2000;
    CHECK_OK(smtp_client_send_raw_callback(c, addr(from, sizeof from, "gen"),
                                           addr(to, sizeof to, "gen-rcpt"), generate, &g));
    CHECK(g.calls > g.lines);
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    CHECK_CONTAINS(mail, "\n.line 1 of the generated body\n");
    CHECK_CONTAINS(mail, "\n.line 2000 of the generated body\n");
    free(mail);

    /* A failing source: BODY_READ, and the message is never completed
     * (the connection is dropped, so the server discards it). */
    CHECK_RESULT(smtp_client_send_raw_callback(c, addr(from, sizeof from, "gen"),
                                               addr(to, sizeof to, "gen-rcpt"), failing_source,
                                               &calls),
                 SMTP_ERR_BODY_READ);
    CHECK(calls == 2);
    CHECK_RESULT(smtp_client_send_raw_callback(c, NULL, NULL, NULL, NULL),
                 SMTP_ERR_NULL_PARAMETER);

    /* From a file, with BDAT (chunking on again), envelope from headers. */
    CHECK_OK(smtp_client_set_pipelining(c, true));
    CHECK_OK(smtp_client_set_chunking(c, true));
    CHECK_OK(smtp_client_connect(c));
    CHECK(smtp_client_has_extension(c, "CHUNKING"));
    make_marker(marker, sizeof marker, "rawfile");
    snprintf(path, sizeof path, "%s/smtp-c-test-%ld.eml", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid());
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) {
        smtp_client_free(c);
        return;
    }
    fprintf(f, "From: file@example.test\r\nTo: %s\r\nSubject: %s\r\n\r\n",
            addr(to, sizeof to, "file-rcpt"), marker);
    for (i = 0; i < 20000; i++) fprintf(f, "file line %d\n", i);
    fclose(f);
    CHECK_OK(smtp_client_send_raw_file(c, NULL, NULL, path));
    CHECK(smtp_client_recipient_count(c) == 1);
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    CHECK_CONTAINS(mail, "\nfile line 19999\n");
    free(mail);
    unlink(path);
    CHECK_RESULT(smtp_client_send_raw_file(c, NULL, NULL, path), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_noop(c));
    smtp_client_free(c);
}

static void test_transcript_never_shows_the_password(void)
{
    char plain[512], b64[1024], marker[128], to[256];
    size_t i, ulen = strlen(tb.user ? tb.user : ""), plen;
    if (!have_testbed()) return;
    plen = strlen(tb.password);
    for (i = 0; i < N_TESTBED_MECHANISMS; i++) {
        transcript t = {0};
        smtp_client *c = plain_client();
        smtp_message *m;
        CHECK_OK(smtp_client_set_transcript(c, collect_line, &t));
        CHECK_OK(smtp_client_set_mechanism(c, testbed_mechanisms[i]));
        CHECK_OK(smtp_client_connect(c));
        CHECK_STR_EQ(smtp_client_authenticated_with(c), testbed_mechanisms[i]);
        make_marker(marker, sizeof marker, "transcript");
        m = simple_message(marker, addr(to, sizeof to, "transcript"));
        CHECK_OK(smtp_client_send_message(c, m));
        CHECK_OK(smtp_client_quit(c));
        CHECK(t.lines[SMTP_DIRECTION_SENT] > 3);
        CHECK(t.lines[SMTP_DIRECTION_RECEIVED] > 3);
        CHECK(t.lines[SMTP_DIRECTION_INFO] > 0);
        CHECK_CONTAINS(t.text, "C: AUTH ");
        CHECK_CONTAINS(t.text, "[credentials hidden]");
        CHECK_CONTAINS(t.text, "S: 235");
        CHECK_NOT_CONTAINS(t.text, tb.password);
        base64((const unsigned char *)tb.password, plen, b64);
        CHECK_NOT_CONTAINS(t.text, b64);
        /* PLAIN's "\0user\0password" */
        plain[0] = '\0';
        memcpy(plain + 1, tb.user, ulen);
        plain[1 + ulen] = '\0';
        memcpy(plain + 2 + ulen, tb.password, plen);
        base64((const unsigned char *)plain, 2 + ulen + plen, b64);
        CHECK_NOT_CONTAINS(t.text, b64);
        smtp_message_free(m);
        smtp_client_free(c);
        free(t.text);
    }
}

static void test_bad_credentials(void)
{
    smtp_client *c;
    if (!have_testbed()) return;
    c = plain_client();
    CHECK_OK(smtp_client_set_credentials(c, tb.user, "not the password"));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_AUTH);
    CHECK(smtp_last_reply_code() == 535);
    CHECK_CONTAINS(smtp_last_message(), "authentication failed");
    CHECK_NOT_CONTAINS(smtp_last_message(), "not the password");
    CHECK(!smtp_client_is_connected(c));
    /* A bearer token: Dovecot here offers no OAuth mechanism. */
    CHECK_OK(smtp_client_set_bearer_token(c, tb.user, "ya29.token"));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_NO_COMPATIBLE_AUTH);
    /* Fixed, the same handle connects. */
    CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
    CHECK_OK(smtp_client_connect(c));
    smtp_client_free(c);
}

static void test_tls_settings(void)
{
    char url[4096];
    smtp_client *c = NULL;
    if (!have_testbed()) return;
    snprintf(url, sizeof url, "smtp://localhost:%d", tb.port_submission);
    CHECK_OK(smtp_client_new_url(url, &c));
    CHECK_OK(smtp_client_set_timeouts(c, 20000, 60000, 0));
    CHECK_RESULT(smtp_client_connect(c), SMTP_ERR_TLS); /* private CA not trusted */
    CHECK_CONTAINS(smtp_last_message(), "certificate");
    CHECK_OK(smtp_client_set_dangerous_accept_invalid_certs(c, true));
    CHECK_OK(smtp_client_connect(c));
    CHECK(smtp_client_tls_version(c) != NULL);
    smtp_client_free(c);

    /* Implicit TLS by host and port, with the CA file. */
    if (tb.port_smtps) {
        c = NULL;
        CHECK_OK(smtp_client_new("localhost", (uint16_t)tb.port_smtps, &c));
        CHECK_OK(smtp_client_set_security(c, SMTP_SECURITY_IMPLICIT));
        CHECK_OK(smtp_client_add_ca_file(c, tb.ca_file));
        CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
        CHECK_OK(smtp_client_set_client_name(c, "client.example.test"));
        CHECK_OK(smtp_client_connect(c));
        CHECK(smtp_client_tls_version(c) != NULL);
        CHECK(smtp_client_authenticated_with(c) != NULL);
        smtp_client_free(c);
    }
}

/* ---- smuggling through the strict port ---------------------------------- */

/* The mail delivered for `marker` must be the whole attack body, the would-
 * be second transaction included (its body line is `smuggled`), and the
 * only message with the marker (that line carries it too, so a second
 * message would count). */
static void check_smuggling_stayed_inside(const char *marker, const char *smuggled, size_t i,
                                          int composed)
{
    static const char *const parts[] = {"first line", "MAIL FROM:<smuggler@evil.test>",
                                        "RCPT TO:<victim@example.test>", "last line"};
    char *mail = find_delivered(marker);
    size_t k;
    int n;
    const char *how = composed ? "composed" : "raw";
    if (!mail) {
        h_fail(__FILE__, __LINE__, "early end %u (%s): %s was not delivered", (unsigned)i, how,
               marker);
        return;
    }
    for (k = 0; k < sizeof parts / sizeof parts[0]; k++)
        if (!strstr(mail, parts[k]))
            h_fail(__FILE__, __LINE__, "early end %u (%s): \"%s\" missing in:\n%s", (unsigned)i,
                   how, parts[k], mail);
    if (!strstr(mail, smuggled))
        h_fail(__FILE__, __LINE__, "early end %u (%s): \"%s\" missing in:\n%s", (unsigned)i,
               how, smuggled, mail);
    free(mail);
    n = count_delivered(marker);
    if (n != 1)
        h_fail(__FILE__, __LINE__, "early end %u (%s): %d messages with %s, expected 1",
               (unsigned)i, how, n, marker);
}

static void test_early_ends_of_data_stay_in_one_message_on_the_strict_port(void)
{
    char markers[N_EARLY_ENDS][2][128], smuggled[N_EARLY_ENDS][2][160];
    char body[1024], raw[2048], from[256], to[256];
    struct timespec settle = {1, 0};
    smtp_client *c;
    size_t i;
    int composed;
    if (!have_strict_port()) return;
    addr(from, sizeof from, "smuggle-sender");
    addr(to, sizeof to, "smuggle");
    c = loopback_client(tb.port_strict);
    CHECK(c != NULL);
    if (!c) return;
    CHECK_OK(smtp_client_connect(c));
    for (i = 0; i < N_EARLY_ENDS; i++) {
        for (composed = 0; composed < 2; composed++) {
            char *marker = markers[i][composed];
            make_marker(marker, sizeof markers[i][composed], "strict");
            snprintf(smuggled[i][composed], sizeof smuggled[i][composed], "smuggled %s", marker);
            /* the tag goes right after "smuggled" in the body */
            smuggling_body(body, sizeof body, i, smuggled[i][composed] + strlen("smuggled"));
            /* A send that lost the connection must not fail the ones after. */
            if (!smtp_client_is_connected(c)) CHECK_OK(smtp_client_connect(c));
            if (composed) {
                smtp_message *m = smtp_message_new();
                CHECK_OK(smtp_message_set_from(m, from));
                CHECK_OK(smtp_message_add_to(m, to));
                CHECK_OK(smtp_message_set_subject(m, marker));
                CHECK_OK(smtp_message_set_text(m, body));
                CHECK_OK(smtp_client_send_message(c, m));
                smtp_message_free(m);
            } else {
                snprintf(raw, sizeof raw, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n%s",
                         from, to, marker, body);
                CHECK_OK(smtp_client_send_raw(c, from, to, (const uint8_t *)raw, strlen(raw)));
            }
            CHECK(smtp_client_recipient_count(c) == 1);
        }
    }
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    /* Wait for every first message (find_delivered waits, bounded), then
     * give a smuggled second one time to arrive before counting. */
    for (i = 0; i < N_EARLY_ENDS; i++) {
        for (composed = 0; composed < 2; composed++) {
            char *mail = find_delivered(markers[i][composed]);
            free(mail);
        }
    }
    nanosleep(&settle, NULL);
    for (i = 0; i < N_EARLY_ENDS; i++)
        for (composed = 0; composed < 2; composed++)
            check_smuggling_stayed_inside(markers[i][composed], smuggled[i][composed], i,
                                          composed);
}

int main(void)
{
    RUN(test_connect_capabilities_and_tls);
    RUN(test_several_messages_on_one_connection);
    RUN(test_per_recipient_results);
    RUN(test_attachments_arrive);
    RUN(test_raw_messages);
    RUN(test_raw_messages_completed);
    RUN(test_streamed_raw_messages);
    RUN(test_transcript_never_shows_the_password);
    RUN(test_bad_credentials);
    RUN(test_tls_settings);
    RUN(test_early_ends_of_data_stay_in_one_message_on_the_strict_port);
    return h_summary();
}
