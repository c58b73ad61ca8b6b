/*
 * smtp_client_set_option(): every option name and alias of the library's
 * table accepted with a good value, and the table here checked against
 * the names the library lists; a misspelt name refused with the name and
 * the list in smtp_last_message(); bad values refused naming the option
 * and changing nothing; NULL and invalid UTF-8. Then, against the test
 * bed, what the options do: port and host by name reach the server, and a
 * session set up option by option goes exactly like one set up by the
 * same options in a URL (no PIPELINING, DATA instead of BDAT, the EHLO
 * name).
 */
#include "harness.h"

/* Every option and alias, with a value it takes. The values need no
 * server and no file: nothing is connected. */
static const struct {
    const char *name, *value;
} good[] = {
    {"url", "smtp://mail.example.test:2525?pipelining=off"},
    {"host", "mail.example.test"},
    {"port", "2525"},
    {"security", "starttls"},
    {"security", "auto"},
    {"tls", "implicit"},
    {"user", "someone"},
    {"password", "a secret"},
    {"token", "off"},
    {"token_refresh_margin", "300"},
    {"auth", "scram-sha-256"},
    {"mechanism", "auto"},
    {"client_name", "client.example.test"},
    {"helo", "[192.0.2.1]"},
    {"ehlo", "client.example.test"},
    {"ca_file", "/nonexistent/is/read/at/connect.pem"},
    {"system_roots", "no"},
    {"tls_server_name", "mail.example.test"},
    {"timeout", "30"},
    {"connect_timeout", "2.5"},
    {"total_timeout", "0"},
    {"pipelining", "off"},
    {"chunking", "FALSE"},
    {"long_lines", "refuse"},
    {"recipient_policy", "all_or_nothing"},
    {"plaintext_auth", "never"},
    {"dkim_domain", "example.org"},
    {"dkim_key", ""},
    {"dkim_canonicalization", "relaxed/simple"},
    {"dkim_headers", "From, To, Subject"},
    {"dkim_expire", "3600"},
    {"dsn_notify", "success,failure"},
    {"dsn_return", "hdrs"},
    {"dsn_if_offered", "on"},
    {"requiretls", "off"},
    {"require_tls", "no"},
    {"mt_priority", "-3"},
    {"priority", "off"},
    {"proxy", "off"},
    {"proxy", "socks5://proxy.example.test"},
    {"proxy", "socks5h://user:pass@127.0.0.1:1080"},
    {"proxy", "socks5l://[::1]:9050"},
    {"proxy", "http://us%40er:p%3Ass@proxy.example.test:3128/"},
};
#define N_GOOD (sizeof good / sizeof good[0])

/* Bad values: each must be refused naming its option. */
static const struct {
    const char *name, *value;
} bad[] = {
    {"port", "0"},
    {"port", "65536"},
    {"port", "smtp"},
    {"timeout", "soon"},
    {"timeout", "0"},
    {"connect_timeout", "-1"},
    {"total_timeout", "86401"},
    {"chunking", "maybe"},
    {"pipelining", ""},
    {"system_roots", "2"},
    {"token", "yes please"},
    {"token_refresh_margin", "soon"},
    {"security", "tls13"},
    {"tls", "sometimes"},
    {"auth", "NOT-A-MECHANISM"},
    {"mechanism", "md5"},
    {"long_lines", "cut"},
    {"recipient_policy", "some"},
    {"plaintext_auth", "always"},
    {"host", " "},
    {"user", ""},
    {"client_name", "bad name"},
    {"helo", ""},
    {"tls_server_name", "not a name"},
    {"ca_file", ""},
    {"url", "http://mail.example.test"},
    {"url", "smtp://mail.example.test?pipelinig=off"},
    {"dkim_domain", "bad domain"},
    {"dkim_key", "/no/selector.pem"},
    {"dkim_key", "sel:/nonexistent/key.pem"},
    {"dkim_canonicalization", "loose"},
    {"dkim_headers", "DKIM-Signature"},
    {"dkim_expire", "soon"},
    {"dsn_notify", "never,success"},
    {"dsn_notify", "often"},
    {"dsn_return", "all"},
    {"dsn_if_offered", "perhaps"},
    {"requiretls", "2"},
    {"mt_priority", "10"},
    {"mt_priority", "high"},
    {"proxy", "proxy.example.test:1080"},
    {"proxy", "ftp://proxy.example.test"},
    {"proxy", "https://proxy.example.test"},
    {"proxy", "socks5://"},
    {"proxy", "socks5://proxy.example.test:0"},
    {"proxy", "http://proxy.example.test/path"},
    {"proxy", "socks5://:pass@proxy.example.test"},
};
#define N_BAD (sizeof bad / sizeof bad[0])

static int in_good_table(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < N_GOOD; i++)
        if (strlen(good[i].name) == len && strncmp(good[i].name, name, len) == 0) return 1;
    return 0;
}

/* Sets one option on a new client; 1 when the result is `expected`
 * (else a failure is reported). smtp_last_message() still tells why. */
static int set_on_new_client(const char *name, const char *value, smtp_result expected)
{
    smtp_client *c = NULL;
    smtp_result r;
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    r = smtp_client_set_option(c, name, value);
    if (r != expected)
        h_fail(__FILE__, __LINE__, "%s=\"%s\" returned %d (%s), expected %d: %s", name, value,
               (int)r, smtp_result_str((int)r), (int)expected, smtp_last_message());
    smtp_client_free(c);
    return r == expected;
}

static void test_every_option_and_alias_is_accepted(void)
{
    size_t i;
    for (i = 0; i < N_GOOD; i++) set_on_new_client(good[i].name, good[i].value, SMTP_OK);
}

static void test_the_table_here_covers_every_option_the_library_lists(void)
{
    smtp_client *c = NULL;
    const char *list, *p;
    int listed = 0;
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    CHECK_RESULT(smtp_client_set_option(c, "no_such_option", "1"), SMTP_ERR_INVALID_INPUT);
    list = strstr(smtp_last_message(), "the options are ");
    CHECK(list != NULL);
    for (p = list ? list + strlen("the options are ") : ""; *p;) {
        size_t len = strcspn(p, ", ");
        if (len == 0) break;
        if (!in_good_table(p, len))
            h_fail(__FILE__, __LINE__, "the library lists \"%.*s\", which this test lacks",
                   (int)len, p);
        listed++;
        p += len;
        p += strspn(p, ", ");
    }
    /* 20 options in smtp-core/src/config/options.rs today. */
    CHECK(listed >= 20);
    smtp_client_free(c);
}

static void test_a_misspelt_name_is_refused_with_the_name_and_the_list(void)
{
    smtp_client *c = NULL;
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    CHECK_RESULT(smtp_client_set_option(c, "pipelinig", "off"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "\"pipelinig\"");
    CHECK_CONTAINS(smtp_last_message(), "is not an option");
    CHECK_CONTAINS(smtp_last_message(), "the options are url, host, port, security,");
    CHECK_CONTAINS(smtp_last_message(), "pipelining");
    CHECK_CONTAINS(smtp_last_message(), "plaintext_auth");
    /* Names are exact: no other case, no blanks, no dashes. */
    CHECK_RESULT(smtp_client_set_option(c, "Port", "25"), SMTP_ERR_INVALID_INPUT);
    CHECK_CONTAINS(smtp_last_message(), "\"Port\"");
    CHECK_RESULT(smtp_client_set_option(c, " port", "25"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_set_option(c, "client-name", "x.test"), SMTP_ERR_INVALID_INPUT);
    CHECK_RESULT(smtp_client_set_option(c, "", "x"), SMTP_ERR_INVALID_INPUT);
    smtp_client_free(c);
}

/* Whether `message` names option `name`: as spelt, in any case ("invalid
 * URL: ..."), or with '_' read as a space ("invalid client name: ..." for
 * client_name, whose check the library shares with
 * smtp_client_set_client_name()); an alias's message may name the option
 * it stands for instead. */
static int names_option(const char *message, const char *name)
{
    static const char *const aliases[][2] = {{"tls", "security"},
                                             {"mechanism", "auth"},
                                             {"helo", "client_name"},
                                             {"ehlo", "client_name"}};
    char lower[1024], spaced[64];
    size_t i;
    snprintf(lower, sizeof lower, "%s", message);
    for (i = 0; lower[i]; i++)
        if (lower[i] >= 'A' && lower[i] <= 'Z') lower[i] = (char)(lower[i] - 'A' + 'a');
    snprintf(spaced, sizeof spaced, "%s", name);
    for (i = 0; spaced[i]; i++)
        if (spaced[i] == '_') spaced[i] = ' ';
    if (strstr(lower, name) || strstr(lower, spaced)) return 1;
    for (i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i][0]) == 0 && names_option(message, aliases[i][1])) return 1;
    return 0;
}

static void test_bad_values_are_refused_naming_the_option(void)
{
    size_t i;
    for (i = 0; i < N_BAD; i++)
        if (set_on_new_client(bad[i].name, bad[i].value, SMTP_ERR_INVALID_INPUT) &&
            !names_option(smtp_last_message(), bad[i].name))
            h_fail(__FILE__, __LINE__, "%s=\"%s\": \"%s\" does not name the option", bad[i].name,
                   bad[i].value, smtp_last_message());
}

static void test_null_and_invalid_utf8(void)
{
    smtp_client *c = NULL;
    CHECK_RESULT(smtp_client_set_option(NULL, "port", "25"), SMTP_ERR_NULL_PARAMETER);
    CHECK_OK(smtp_client_new("localhost", 25, &c));
    CHECK_RESULT(smtp_client_set_option(c, NULL, "25"), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "name");
    CHECK_RESULT(smtp_client_set_option(c, "port", NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_CONTAINS(smtp_last_message(), "value");
    CHECK_RESULT(smtp_client_set_option(c, NULL, NULL), SMTP_ERR_NULL_PARAMETER);
    CHECK_RESULT(smtp_client_set_option(c, "\xff\xfe", "25"), SMTP_ERR_INVALID_UTF8);
    CHECK_RESULT(smtp_client_set_option(c, "client_name", "\xff\xfe"), SMTP_ERR_INVALID_UTF8);
    /* The client still works after every refusal. */
    CHECK_OK(smtp_client_set_option(c, "port", "2525"));
    smtp_client_free(c);
}

/* ---- against the test bed ---------------------------------------------- */

static void test_port_and_host_by_name_reach_the_server(void)
{
    smtp_client *c = NULL;
    char port[16];
    if (!have_testbed()) return;
    snprintf(port, sizeof port, "%d", tb.port_noauth);

    /* Port 1 refuses: only the option's port can work. A bad port after
     * it changes nothing. */
    CHECK_OK(smtp_client_new(tb.host, 1, &c));
    CHECK_OK(smtp_client_set_option(c, "security", "none"));
    CHECK_OK(smtp_client_set_option(c, "timeout", "20"));
    CHECK_OK(smtp_client_set_option(c, "port", port));
    CHECK_RESULT(smtp_client_set_option(c, "port", "0"), SMTP_ERR_INVALID_INPUT);
    CHECK_OK(smtp_client_connect(c));
    CHECK_CONTAINS(smtp_client_greeting(c), "220");
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);

    /* A host that does not resolve, replaced by name. */
    c = NULL;
    CHECK_OK(smtp_client_new("no-such-host.invalid", (uint16_t)tb.port_noauth, &c));
    CHECK_OK(smtp_client_set_option(c, "tls", "none"));
    CHECK_OK(smtp_client_set_option(c, "connect_timeout", "20"));
    CHECK_OK(smtp_client_set_option(c, "host", tb.host));
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_quit(c));
    smtp_client_free(c);
}

/* One line per transcript line, without what differs from session to
 * session: "C: " and the command's first word, "S: " and the reply code
 * (its first three characters), info lines left out. */
static void shape(const char *text, char *out, size_t len)
{
    size_t o = 0;
    const char *line = text ? text : "";
    out[0] = '\0';
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        size_t keep = 0;
        if (strncmp(line, "C: ", 3) == 0)
            keep = 3 + strcspn(line + 3, " \n");
        else if (strncmp(line, "S: ", 3) == 0)
            keep = n < 6 ? n : 6;
        if (keep && o + keep + 2 < len) {
            memcpy(out + o, line, keep);
            o += keep;
            out[o++] = '\n';
            out[o] = '\0';
        }
        line += n + (end ? 1 : 0);
    }
}

/* Sends one message with client c (its transcript into t) and checks it
 * arrived. */
static void send_one(smtp_client *c, transcript *t, const char *tag)
{
    char marker[128], from[256], to[256];
    smtp_message *m = smtp_message_new();
    char *mail;
    make_marker(marker, sizeof marker, tag);
    CHECK_OK(smtp_client_set_transcript(c, collect_line, t));
    CHECK_OK(smtp_message_set_from(m, addr(from, sizeof from, "sender")));
    CHECK_OK(smtp_message_add_to(m, addr(to, sizeof to, "options")));
    CHECK_OK(smtp_message_set_subject(m, marker));
    CHECK_OK(smtp_message_set_text(m, "sent with options by name\n"));
    CHECK_OK(smtp_client_connect(c));
    CHECK_OK(smtp_client_send_message(c, m));
    CHECK_OK(smtp_client_quit(c));
    mail = find_delivered(marker);
    CHECK(mail != NULL);
    free(mail);
    smtp_message_free(m);
}

static void test_options_by_name_do_what_the_same_url_does(void)
{
    static const char *const names[] = {"security", "pipelining", "chunking", "helo", "timeout",
                                        "user", "password"};
    const char *values[7];
    char url[4096], port[16], by_url[8192], by_name[8192];
    transcript t_url = {0}, t_name = {0};
    smtp_client *c = NULL;
    size_t i;
    if (!have_testbed()) return;
    values[0] = "none";
    values[1] = "off";
    values[2] = "off";
    values[3] = "options.example.test";
    values[4] = "20";
    values[5] = tb.user;
    values[6] = tb.password;

    /* The URL: the same options in its query; credentials by setter (the
     * bed's password would need percent-encoding). */
    snprintf(url, sizeof url,
             "smtp://%s:%d?security=none&pipelining=off&chunking=off&helo=options.example.test"
             "&timeout=20",
             tb.host, tb.port_plain);
    CHECK_OK(smtp_client_new_url(url, &c));
    CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
    send_one(c, &t_url, "options-url");
    smtp_client_free(c);

    /* The same, option by option on a client made for another port. */
    c = NULL;
    snprintf(port, sizeof port, "%d", tb.port_plain);
    CHECK_OK(smtp_client_new(tb.host, 1, &c));
    CHECK_OK(smtp_client_set_option(c, "port", port));
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK_OK(smtp_client_set_option(c, names[i], values[i]));
    send_one(c, &t_name, "options-name");
    smtp_client_free(c);

    shape(t_url.text, by_url, sizeof by_url);
    shape(t_name.text, by_name, sizeof by_name);
    CHECK_STR_EQ(by_name, by_url);
    /* What the options asked for: the EHLO name, DATA rather than BDAT,
     * and each command waiting for its reply (no PIPELINING). */
    CHECK_CONTAINS(t_name.text, "C: EHLO options.example.test\n");
    CHECK_CONTAINS(t_name.text, "C: DATA\n");
    CHECK_NOT_CONTAINS(t_name.text, "C: BDAT");
    CHECK_CONTAINS(by_name, "C: MAIL\nS: 250\nC: RCPT\nS: 250\nC: DATA\nS: 354\n");
    CHECK_NOT_CONTAINS(t_name.text, tb.password);
    free(t_url.text);
    free(t_name.text);
}

/* The control: with the defaults the same server gets a pipelined BDAT
 * send, so the test above tells the options' effect apart. */
static void test_without_the_options_the_send_is_pipelined_with_bdat(void)
{
    char url[4096], by_default[8192];
    transcript t = {0};
    smtp_client *c = NULL;
    if (!have_testbed()) return;
    snprintf(url, sizeof url, "smtp://%s:%d?security=none&timeout=20", tb.host, tb.port_plain);
    CHECK_OK(smtp_client_new_url(url, &c));
    CHECK_OK(smtp_client_set_credentials(c, tb.user, tb.password));
    send_one(c, &t, "options-default");
    smtp_client_free(c);
    shape(t.text, by_default, sizeof by_default);
    CHECK_CONTAINS(t.text, "C: BDAT ");
    CHECK_CONTAINS(by_default, "C: MAIL\nC: RCPT\n");
    free(t.text);
}

int main(void)
{
    RUN(test_every_option_and_alias_is_accepted);
    RUN(test_the_table_here_covers_every_option_the_library_lists);
    RUN(test_a_misspelt_name_is_refused_with_the_name_and_the_list);
    RUN(test_bad_values_are_refused_naming_the_option);
    RUN(test_null_and_invalid_utf8);
    RUN(test_port_and_host_by_name_reach_the_server);
    RUN(test_options_by_name_do_what_the_same_url_does);
    RUN(test_without_the_options_the_send_is_pipelined_with_bdat);
    return h_summary();
}
