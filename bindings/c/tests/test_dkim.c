/*
 * DKIM signing through the C ABI: keys and domain set as options by name
 * (smtp_client_set_option, smtp_pool_set_option), an RSA-2048 and an
 * Ed25519 key made with openssl at run time. Messages sent through the
 * Postfix test bed (composed, raw with an envelope, a batch, a pool) are
 * taken from the Maildir and every signature is verified by dkimpy
 * (tests/dkim_verify.py, the public keys derived from the key files).
 * Bad keys are refused when set, never at send time.
 */
#include <sys/stat.h>

#include "harness.h"

#define DOMAIN "example.org"

static char dir[256];
static char rsa_key[320], ed_key[320], weak_key[320], keys_option[800];

/* Runs a shell command; 1 when it exits 0. */
static int sh(const char *cmd)
{
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* The keys, made once; 0 (and a skip, or a failure when required) when
 * openssl or dkimpy is missing. */
static int have_keys(void)
{
    static int made = -1;
    char cmd[1200];
    if (made != -1) return made;
    made = 0;
    if (!sh("openssl version >/dev/null 2>&1")) {
        h_missing("openssl", "apt-get install openssl");
        return 0;
    }
    if (!getenv("SMTP_DKIM_VERIFY")) {
        h_missing("verifier", "set SMTP_DKIM_VERIFY to tests/dkim_verify.py (the Makefile does)");
        return 0;
    }
    if (!sh("/usr/bin/python3 -c 'import dkim, nacl' >/dev/null 2>&1")) {
        h_missing("dkimpy", "apt-get install python3-dkim python3-nacl");
        return 0;
    }
    snprintf(dir, sizeof dir, "/tmp/smtp-c-dkim-%ld", (long)getpid());
    mkdir(dir, 0700);
    snprintf(rsa_key, sizeof rsa_key, "%s/rsa.pem", dir);
    snprintf(ed_key, sizeof ed_key, "%s/ed.pem", dir);
    snprintf(weak_key, sizeof weak_key, "%s/weak.pem", dir);
    snprintf(cmd, sizeof cmd,
             "umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s "
             "2>/dev/null && openssl genpkey -algorithm ed25519 -out %s 2>/dev/null && "
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out %s 2>/dev/null",
             rsa_key, ed_key, weak_key);
    if (!sh(cmd)) {
        h_fail(__FILE__, __LINE__, "openssl genpkey failed");
        return 0;
    }
    snprintf(keys_option, sizeof keys_option, "brisk:%s,swift:%s", rsa_key, ed_key);
    made = 1;
    return 1;
}

/* Verifies every signature of `message` (both must be there and pass). */
static void check_verifies(const char *message)
{
    char path[320], cmd[1600];
    FILE *f;
    snprintf(path, sizeof path, "%s/message.eml", dir);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(message, f);
    fclose(f);
    CHECK_CONTAINS(message, "a=rsa-sha256");
    CHECK_CONTAINS(message, "a=ed25519-sha256");
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s' %s "
             "brisk._domainkey." DOMAIN "=@%s swift._domainkey." DOMAIN "=@%s >%s/verdict 2>&1",
             getenv("SMTP_DKIM_VERIFY"), path, rsa_key, ed_key, dir);
    if (!sh(cmd)) {
        char verdict[340];
        char *text;
        snprintf(verdict, sizeof verdict, "%s/verdict", dir);
        text = h_read_file(verdict);
        h_fail(__FILE__, __LINE__, "dkimpy: %s", text ? text : "(no output)");
        free(text);
    }
}

/* A bed client signing with both keys. */
static smtp_client *signing_client(void)
{
    smtp_client *c = plain_client();
    CHECK(c != NULL);
    CHECK_OK(smtp_client_set_option(c, "dkim_domain", DOMAIN));
    CHECK_OK(smtp_client_set_option(c, "dkim_key", keys_option));
    return c;
}

static void test_composed_raw_and_batch_are_signed(void)
{
    char marker[128], to[256], subject[200], raw[1024];
    smtp_batch_message items[2];
    const char *rcpt[1];
    smtp_client *c;
    smtp_message *m;
    size_t sent = 0;
    char *got;
    if (!have_testbed() || !have_keys()) return;
    make_marker(marker, sizeof marker, "cdkim");
    rcpt[0] = addr(to, sizeof to, "dkim-c");
    c = signing_client();
    CHECK_OK(smtp_client_connect(c));

    /* Composed, with a non-ASCII subject and an attachment. */
    m = smtp_message_new();
    snprintf(subject, sizeof subject, "签名 composed %s", marker);
    CHECK_OK(smtp_message_set_from(m, "Sender <sender@" DOMAIN ">"));
    CHECK_OK(smtp_message_add_to(m, to));
    CHECK_OK(smtp_message_set_subject(m, subject));
    CHECK_OK(smtp_message_set_text(m, "正文 body\n\n\n"));
    CHECK_OK(smtp_message_attach_bytes(m, "数据.txt", NULL, (const uint8_t *)"abc\n", 4));
    CHECK_OK(smtp_client_send_message(c, m));
    got = find_delivered(subject + strlen("签名 "));
    CHECK(got != NULL);
    if (got) check_verifies(got);
    free(got);

    /* Raw, with an explicit envelope. */
    snprintf(raw, sizeof raw,
             "From: sender@" DOMAIN "\r\nTo: %s\r\nSubject: raw %s\r\n\r\nraw body  \r\n\r\n", to,
             marker);
    CHECK_OK(smtp_client_send_raw(c, "sender@" DOMAIN, to, (const uint8_t *)raw, strlen(raw)));
    snprintf(subject, sizeof subject, "raw %s", marker);
    got = find_delivered(subject);
    CHECK(got != NULL);
    if (got) check_verifies(got);
    free(got);

    /* A batch: one composed, one raw. */
    snprintf(subject, sizeof subject, "batch composed %s", marker);
    CHECK_OK(smtp_message_set_subject(m, subject));
    memset(items, 0, sizeof items);
    items[0].message = m;
    snprintf(raw, sizeof raw, "From: sender@" DOMAIN "\r\nTo: %s\r\nSubject: batch raw %s\r\n\r\nb\r\n",
             to, marker);
    items[1].sender = "sender@" DOMAIN;
    items[1].recipients = rcpt;
    items[1].recipient_count = 1;
    items[1].data = (const uint8_t *)raw;
    items[1].len = strlen(raw);
    CHECK_OK(smtp_client_send_batch(c, items, 2, &sent));
    CHECK(sent == 2);
    got = find_delivered(subject);
    CHECK(got != NULL);
    if (got) check_verifies(got);
    free(got);
    snprintf(subject, sizeof subject, "batch raw %s", marker);
    got = find_delivered(subject);
    CHECK(got != NULL);
    if (got) check_verifies(got);
    free(got);

    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
    smtp_message_free(m);
}

static void test_the_pool_signs(void)
{
    char url[256], marker[128], to[256], raw[512], subject[160];
    smtp_pool *p = NULL;
    char *got;
    if (!have_testbed() || !have_keys()) return;
    make_marker(marker, sizeof marker, "cdkimpool");
    addr(to, sizeof to, "dkim-pool");
    snprintf(url, sizeof url, "smtp://%s:%d", tb.host, tb.port_plain);
    CHECK_OK(smtp_pool_new(url, &p));
    CHECK_OK(smtp_pool_set_option(p, "security", "none"));
    CHECK_OK(smtp_pool_set_option(p, "user", tb.user));
    CHECK_OK(smtp_pool_set_option(p, "password", tb.password));
    CHECK_OK(smtp_pool_set_option(p, "dkim_domain", DOMAIN));
    CHECK_OK(smtp_pool_set_option(p, "dkim_key", keys_option));
    snprintf(raw, sizeof raw, "From: sender@" DOMAIN "\r\nTo: %s\r\nSubject: pool %s\r\n\r\np\r\n",
             to, marker);
    CHECK_OK(smtp_pool_send_raw(p, "sender@" DOMAIN, to, (const uint8_t *)raw, strlen(raw)));
    snprintf(subject, sizeof subject, "pool %s", marker);
    got = find_delivered(subject);
    CHECK(got != NULL);
    if (got) check_verifies(got);
    free(got);
    CHECK_OK(smtp_pool_close(p));
    smtp_pool_free(p);
}

static void test_bad_keys_are_refused_when_set(void)
{
    char option[400];
    smtp_client *c = NULL;
    if (!have_keys()) return;
    CHECK_OK(smtp_client_new("127.0.0.1", 25, &c));
    snprintf(option, sizeof option, "weak:%s", weak_key);
    CHECK_RESULT(smtp_client_set_option(c, "dkim_key", option), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "1024");
    snprintf(option, sizeof option, "bad selector:%s", rsa_key);
    CHECK_RESULT(smtp_client_set_option(c, "dkim_key", option), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_set_option(c, "dkim_key", "s1:/nonexistent/key.pem"),
                 SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_set_option(c, "dkim_domain", "bad domain\r\n.org"),
                 SMTP_ERR_INVALID_INPUT);
    /* The key's text never comes back in the error. */
    CHECK_NOT_CONTAINS(smtp_last_message(), "PRIVATE KEY");
    smtp_client_free(c);
}

int main(void)
{
    char cmd[400];
    RUN(test_bad_keys_are_refused_when_set);
    RUN(test_composed_raw_and_batch_are_signed);
    RUN(test_the_pool_signs);
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        (void)sh(cmd);
    }
    return h_summary();
}
