/*
 * The scripted fault-injection server for C tests: runs
 * `$SMTP_SCRIPT_SERVER SCENARIO` (tests/src/bin/script-server/main.rs, built by
 * the Makefile) through popen, reads the port it listens on (and the CA
 * file of the TLS scenarios), and after the client is done reads what the
 * server saw: "connected N", one "line ..." per command line, "error ..."
 * for each deviation from the script, "end".
 */
#ifndef SMTP_TEST_SCRIPT_SERVER_H
#define SMTP_TEST_SCRIPT_SERVER_H

#include <sys/wait.h>

#include "harness.h"

typedef struct {
    FILE *pipe;
    int port;
    char ca[2048];
    char out[32768]; /* everything printed after the port (and CA) lines */
    int status;      /* the exit status: 0 when the script ran as written */
} script_server;

/* 1 when $SMTP_SCRIPT_SERVER names the program; otherwise the test is
 * skipped, or failed with SMTP_TESTBED_REQUIRED=1. */
static inline int have_script_server(void)
{
    const char *bin = getenv("SMTP_SCRIPT_SERVER");
    if (bin && access(bin, X_OK) == 0) return 1;
    h_missing("script server", "set SMTP_SCRIPT_SERVER to the script-server program");
    return 0;
}

/* Starts a scenario; 1 when it listens (s->port set). */
static inline int script_server_start(script_server *s, const char *scenario)
{
    char cmd[4096], line[2048 + 3];
    memset(s, 0, sizeof *s);
    snprintf(cmd, sizeof cmd, "exec '%s' '%s'", getenv("SMTP_SCRIPT_SERVER"), scenario);
    s->pipe = popen(cmd, "r");
    if (!s->pipe) return 0;
    if (!fgets(line, sizeof line, s->pipe) || sscanf(line, "port %d", &s->port) != 1) {
        pclose(s->pipe);
        s->pipe = NULL;
        return 0;
    }
    if (strstr(scenario, "starttls-ok")) {
        size_t n;
        if (!fgets(line, sizeof line, s->pipe) || strncmp(line, "ca ", 3) != 0) return 0;
        memcpy(s->ca, line + 3, strlen(line + 3) + 1); /* line is as long as s->ca */
        n = strlen(s->ca);
        while (n && (s->ca[n - 1] == '\n' || s->ca[n - 1] == '\r')) s->ca[--n] = '\0';
    }
    return 1;
}

/* Waits for the server to end (the client must be done: freed or quit)
 * and reads its report into s->out. */
static inline void script_server_finish(script_server *s)
{
    size_t len = 0, n;
    int rc;
    if (!s->pipe) return;
    while (len + 1 < sizeof s->out &&
           (n = fread(s->out + len, 1, sizeof s->out - 1 - len, s->pipe)) > 0)
        len += n;
    s->out[len] = '\0';
    rc = pclose(s->pipe);
    s->pipe = NULL;
    s->status = (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
    if (s->ca[0]) remove(s->ca);
}

/* A client for the scripted server: no TLS, client name client.test,
 * short timeouts. */
static inline smtp_client *scripted_client(const script_server *s)
{
    smtp_client *c = NULL;
    if (smtp_client_new("127.0.0.1", (uint16_t)s->port, &c) != SMTP_OK) return NULL;
    smtp_client_set_security(c, SMTP_SECURITY_NONE);
    smtp_client_set_client_name(c, "client.test");
    smtp_client_set_timeouts(c, 5000, 3000, 0);
    return c;
}

#endif
