//! The `--help` text: the fixed part, and the connection options listed
//! from the library's one table of them.

/// Printed by `smtp-send --help`.
pub const HELP: &str = r#"smtp-send - send mail through an SMTP submission server (AUTH, STARTTLS/TLS);
a drop-in for sendmail (PHP's mail(), cron, CGI programs...).

USAGE
  smtp-send [sendmail flags] [options] [--] [recipient...]  < message
  smtp-send --to ADDR [--subject S] [--body TEXT | --body-file FILE]
            [--html-file FILE] [--attach FILE]... [options]
  smtp-send --serverinfo [options]
  smtp-send -q | -qf | --flush | -bp [--json] | --queue-runner [options]
  smtp-send --help | --version

SENDMAIL MODE (the default)
  The message (header and body) is read on standard input. Missing Date,
  Message-ID and From headers are added; Bcc headers are always removed;
  line endings are normalised to CRLF. Recipients are the arguments (each
  may be a comma-separated list) plus, with -t, the message's To/Cc/Bcc.
  Flags may be bundled (-ti) and take their value attached or as the next
  word (-fme@example.org, -f me@example.org).

  -t              Also send to every address in the To, Cc and Bcc headers.
  -i, -oi         A line holding a single "." does not end the message (read
                  to end of input). Without -i such a line ends the message,
                  as with sendmail.
  -f ADDR, -r ADDR
                  Envelope sender (Return-Path); "<>" or "" is the null
                  sender. Also the address of an added From header.
  -F NAME         Full name used when a From header is added.
  -v, --verbose   Print the SMTP dialogue on stderr (credentials hidden) and
                  the flags that were ignored.
  -N DSN          Delivery status notifications (RFC 3461) for every
                  recipient: "never", or any of success,failure,delay
                  (comma-separated). Config key `dsn_notify`.
  -R RET          What a notification returns: full or hdrs. Config key
                  `dsn_return`.
  -V ENVID        An envelope identifier notifications carry back.
                  With -N, -R or -V, a server that does not offer DSN is a
                  failure (exit 69) and nothing is sent. Also in direct mode.
  --              End of options: every later word is a recipient.
  Accepted and ignored: -bm (deliver; the only mode), -oem -oep -oeq -oew
  -oes (error modes), -odi -odb -odq -odf (delivery modes), -om, -oQDIR,
  -oLN, -B 7BIT|8BITMIME (the body type is detected),
  -X FILE (no traffic log; see --log-file),
  -L TAG, -h HOPS, -O OPTION=VALUE, -Am, -Ac, -n, -U, -G, -m.
  Refused with exit 64: other modes (-bs, -bd, -bi, -bt, -bv...), other
  queue flags (-q15m, -qR..., -qI...), -C FILE (use --config), -d, any
  other flag.
  Envelope sender: -f, else `from` (config, SMTP_FROM, --from), else the
  message's Sender/From address, else USER@HOSTNAME. An added From header
  uses -f, else `from`, else USER@HOSTNAME, with the -F name (or the name in
  `from`). Recipients named twice get one copy. If the server refuses any
  recipient, the message is sent to nobody (exit 67 or 75).
  What happens when the server cannot take the message now: see OUTBOX.
  Recipients without a domain (root, www-data): see LOCAL RECIPIENTS.

LOCAL RECIPIENTS (cron and system mail to root, www-data...)
  A recipient without a domain, as an argument or (with -t) in To/Cc/Bcc,
  is replaced in the envelope (the header is sent unchanged) by:
    1. its entry in the `aliases` file (config key; SMTP_ALIASES), an
       /etc/aliases-style file: "name: value, value" lines, # comments,
       lines starting with a blank continue the entry before; names are
       matched without regard to case; values are addresses, or names
       looked up in turn (at most 8 deep; a loop is an error; \name is
       never an alias). |command, /file and :include: values are refused
       (exit 65): smtp-send only submits mail;
    2. else the file's `default:` entry (as msmtp does);
    3. else NAME@default_domain (config key `default_domain`;
       SMTP_DEFAULT_DOMAIN), which names in alias values get too.
  A -f sender without a domain gets default_domain as well. With neither
  setting such an address is refused (exit 65), saying what to set. The
  aliases file is read only when a recipient needs it; an unreadable or
  malformed file is exit 78.

OUTBOX (never lose a message)
  --queue=MODE    When sendmail mode puts a message in the outbox, a
                  durable local queue (config key `queue`):
                  on-failure (default): send now; when that fails for now
                    (connection refused, timeout, 4xx reply, TLS handshake,
                    connection lost: what would be exit 75) the message,
                    exactly as it was being sent, is queued and synced to
                    disk, and smtp-send exits 0 (with -v a note on stderr
                    says so). A permanent failure (5xx...) still exits with
                    its code and queues nothing.
                  always: only queue it and exit 0 at once (nothing is
                    sent; the web request never waits for the relay).
                  never: no outbox; a failure is an exit code, as sendmail.
                  If the outbox cannot be written (unwritable, disk full)
                  the exit is 75 and the error says "NOT queued".
  --queue-dir=DIR The outbox's directory (config key `queue_dir`). Default:
                  $XDG_STATE_HOME/smtp-send/queue, else
                  $HOME/.local/state/smtp-send/queue; /var/spool/smtp-send
                  when run as root. Created with mode 0700 when missing.
  -q              Deliver the queued messages that are due (for cron or a
                  systemd timer), over one connection, with the configured
                  server and credentials (the password command runs as for
                  sending); with -v, a line per message and a summary.
                  Exit 0 unless the queue itself (or the configuration)
                  failed: what cannot be delivered stays queued. Retries
                  back off from 1 minute, doubling, up to 1 hour; after 5
                  days a message fails; a recipient refused for good (5xx)
                  is bounced to the sender (a delivery status notification),
                  never for a null sender.
  -qf, --flush    Deliver every queued message that is not held, due or not.
  -bp             List the queue like mailq: id, size, age, attempts, next
                  attempt, held, possible duplicate, sender, each recipient
                  with its status (pending, deferred, delivered, failed) and
                  last reply, the last error, and any problem with its files
                  (a corrupt state or message file).
  --json          With -bp: a JSON array, one object per message (id, size,
                  created and next_attempt in seconds since 1970,
                  age_seconds, sender, recipients [address, status, reply],
                  attempts, held, possible_duplicate, last_error, problem).
  --queue-runner  Stay in the foreground and deliver what becomes due: at
                  once, when a message arrives, and at least every 2 seconds;
                  SIGTERM or SIGINT end it after the delivery under way
                  (exit 0). For a systemd service (see
                  examples/systemd/smtp-send-queue.service).
  A web server that enqueues as one user (www-data) and a service user
  that delivers share a group-owned directory with the setgid bit:
    install -d -o smtp-send -g smtp-queue -m 2770 /var/spool/smtp-send
  with both users in the group smtp-queue and queue_dir set in
  /etc/smtp-send.conf; the credentials stay with the runner's
  configuration and are never written to the queue.

DIRECT MODE (composes a MIME message; any of these options selects it)
  --to LIST       To recipients (repeatable; "a@x, B <b@y>" lists allowed).
                  Addresses given as arguments are added to To.
  --cc LIST       Cc recipients (repeatable).
  --bcc LIST      Blind-copy recipients (repeatable; in no header).
  --reply-to LIST Reply-To mailboxes.
  --subject TEXT  Subject (any language; encoded as needed).
  --body TEXT     Plain-text body.
  --body-file FILE
                  Plain-text body from a UTF-8 file ("-" is standard input).
                  Without --body, --body-file or --html-file the text body is
                  read from standard input.
  --html-file FILE
                  HTML body (with a text body: multipart/alternative).
  --attach FILE   Attach a file (repeatable; type guessed from its name).
  --header "Name: value"
                  Add a header field (repeatable).
  The From header is `from` (--from, SMTP_FROM, config; with -F NAME as its
  name) or USER@HOSTNAME; -f sets a different envelope sender.

SERVER INFORMATION
  --serverinfo    Connect with TLS as configured (implicit TLS, or STARTTLS),
                  without authenticating, and print the greeting, the TLS
                  version and cipher, the server certificate (subject,
                  issuer, validity, names) and the EHLO capabilities. Sends
                  no mail.

CONNECTION OPTIONS (override the environment and the configuration files)
  --account NAME  Use the [account NAME] section of the configuration files
                  (default: the files' `default = NAME`).
  --config FILE   Read FILE instead of the per-user configuration file (it
                  must exist).
  --url URL       Server: smtp://[USER[:PASSWORD]@]HOST[:PORT][?OPTIONS] or
                  smtps://... (implicit TLS). Default ports 587 (smtp) and
                  465 (smtps). USER and PASSWORD are percent-encoded
                  (me%40example.org). OPTIONS: NAME=VALUE pairs joined by
                  &, any of the CONNECTION OPTIONS below (for example
                  token=1, pipelining=off, chunking=off, long_lines=refuse);
                  an unknown one is an error. A password on the command line is
                  visible to other users: prefer --password-command,
                  SMTP_PASSWORD or the config file.
  --user NAME     User name for AUTH.
  --password-command CMD
                  Run CMD with /bin/sh -c; the first line it prints (line
                  ending removed) is the password. Failure: exit 78.
  --token-command CMD
                  OAuth 2.0 (XOAUTH2/OAUTHBEARER, Gmail, Microsoft 365): run
                  CMD with /bin/sh -c whenever a new access token is needed
                  (none yet, expiring within token_refresh_margin, or
                  refused by the server: then once more). It prints a token
                  endpoint's JSON ({"access_token": ..., "expires_in": N})
                  or the token on one line, optionally followed by a line
                  expires_in=N. At most 30 s and 64 KiB of output. Failure:
                  exit 77, as for refused credentials.
  --ca-file FILE  Also trust the CA certificates in this PEM file.
  --security MODE auto (default: implicit TLS on port 465, STARTTLS required
                  on 587 or when a user is set, else STARTTLS if offered),
                  starttls, tls (implicit TLS), opportunistic, none.
  --auth MECH     auto (strongest offered) or SCRAM-SHA-256, SCRAM-SHA-1,
                  CRAM-MD5, PLAIN, LOGIN, XOAUTH2, OAUTHBEARER.
  --from ADDR     Sender address, "Name <addr>" or "addr" (see above).
  --client-name NAME
                  Name sent with EHLO (default: this host's FQDN or address).
  --timeout SECS  Timeout for each step (default: RFC 5321's, minutes).
  --log-file FILE Append one line per message to FILE (see LOG FILE).
  --long-lines MODE
                  What to do with a message line over 998 octets (RFC 5322's
                  limit; strict servers refuse such a message, and PHP's
                  mail() makes them from one-line HTML). No such line is
                  ever sent. repair (default): a long header line is folded
                  at a blank; a text part, or a message without MIME headers,
                  is re-encoded as quoted-printable (Content-Transfer-Encoding
                  rewritten, MIME-Version added); quoted-printable and
                  base64 lines are shortened. A message that cannot be
                  repaired so that its reader sees the same thing (a header
                  line without blanks, a long line in another kind of part,
                  a signed message) is refused with exit 65 and the line's
                  number (in the message as read) and the reason on stderr;
                  nothing is delivered. refuse: every message with such a
                  line is refused that way.
  --help          This text.
  --version       Version.

CONFIGURATION FILES
  Read in this order, each overriding the one before:
    1. /etc/smtp-send.conf (system-wide; $SMTP_SEND_SYSTEM_CONFIG names
       another file, empty for none);
    2. the per-user file: --config FILE, else $SMTP_SEND_CONFIG, else
       $XDG_CONFIG_HOME/smtp-send/config, else ~/.config/smtp-send/config;
    3. the environment variables; 4. the command-line options.
  Missing files are skipped (except --config and $SMTP_SEND_CONFIG).

  Format: UTF-8 lines "key = value". Blank lines and lines starting with #
  or ; are ignored (no comment after a value: a password may hold #).
  "double quotes" keep blanks at a value's ends (\" and \\ inside). Keys
  before the first section apply to every account; `default = NAME` (before
  the first section) picks the account used without --account.

    default = work
    from = Web Site <www@example.org>
    log_file = /var/log/smtp-send.log

    [account work]
    url = smtp://www%40example.org@mail.example.org:587
    password_command = cat /etc/smtp-send.secret
    aliases = /etc/aliases
    default_domain = example.org

    [account backup]
    url = smtps://mail.example.net
    user = www@example.net
    password = "s3cret with blanks "

  Keys: every CONNECTION OPTION below, plus from, password_command,
  token_command,
  log_file, queue and queue_dir (meanings as the command-line options
  above), aliases and default_domain (see LOCAL RECIPIENTS), and the outbox's retry schedule: queue_first_retry (default 1m),
  queue_factor (2), queue_max_retry (1h), queue_lifetime (5d: then the
  remaining recipients fail and are bounced), queue_warn_after (off; e.g.
  4h: one "delayed" notice to the sender). Durations: 90s, 5m, 4h, 5d.
  In a section the url is applied first, so the other keys override what it
  says. A file that holds a password (a proxy's included) and that others
  can read gets a warning on stderr (per-user file: any group/other read
  bit; system file: the other-read bit, so that root:mail 0640 is fine).
  proxy = socks5://USER:PASSWORD@HOST:PORT (or http://...) connects
  through a proxy, like SMTP_PROXY.

ENVIRONMENT
  SMTP_URL          Server URL (as --url).
  SMTP_USER         User name.
  SMTP_PASSWORD     Password.
  SMTP_CA_FILE      Extra trusted CA file.
  SMTP_PROXY        Proxy to connect through (the proxy key):
                    socks5://[USER[:PASSWORD]@]HOST[:PORT] (the proxy
                    resolves the server's name; socks5l:// resolves it here)
                    or http://[USER[:PASSWORD]@]HOST[:PORT] (HTTP CONNECT);
                    off for none. TLS runs end to end, the certificate
                    checked against the server's name. A refusing proxy
                    exits 75 with the proxy and its step on stderr.
  SMTP_FROM         Sender address (as --from).
  SMTP_ALIASES      Aliases file (see LOCAL RECIPIENTS).
  SMTP_DEFAULT_DOMAIN
                    Domain for names without one (see LOCAL RECIPIENTS).
  SMTP_SEND_CONFIG  Per-user configuration file (must exist).
  SMTP_SEND_SYSTEM_CONFIG
                    System-wide file instead of /etc/smtp-send.conf.
  XDG_CONFIG_HOME, HOME
                    Where the per-user file is looked for.
  XDG_STATE_HOME    Where the default queue directory is (see OUTBOX).

LOG FILE
  With log_file / --log-file, one line per message is appended (file
  created with mode 0600):
    TIME [account=NAME] server=HOST:PORT from=<ADDR> to=<ADDR>,... size=BYTES
    result=ok|queued|KIND exit=CODE [queue_id=ID] [reply="SERVER REPLY"]
    [error="MESSAGE"]
  TIME is ISO 8601 UTC; KIND is the exit code's name below; queued is a
  message put in the outbox (error: why the attempt before failed).
  Passwords are never logged.

EXIT CODES (sysexits.h)
  0   ok: the server accepted the message for every recipient, or it is
      safe in the outbox (see OUTBOX); -q: the queue was run.
  64  EX_USAGE: bad flag or option, no recipient given.
  65  EX_DATAERR: bad message or address (also: -t found no recipient, a
      recipient without a domain that cannot be resolved, or a line over
      998 octets that --long-lines refuses). Sending it again
      will fail the same way.
  66  EX_NOINPUT: a --body-file, --html-file or --attach file is missing or
      unreadable.
  67  EX_NOUSER: the server refused a recipient (5xx).
  69  EX_UNAVAILABLE: other permanent refusal (5xx at connect, MAIL FROM or
      end of data), STARTTLS required but not offered, certificate not
      trusted / expired / for another name, message needs an extension the
      server lacks (SMTPUTF8, SIZE).
  70  EX_SOFTWARE: internal error.
  74  EX_IOERR: reading standard input or a file failed.
  75  EX_TEMPFAIL: 4xx reply, timeout, connection refused or lost, TLS
      handshake failure, or delivery state unknown (connection lost after
      the message was sent): try again later. Also: the outbox could not
      be written (the message was NOT queued).
  76  EX_PROTOCOL: the server broke the SMTP protocol.
  77  EX_NOPERM: authentication refused, or no usable AUTH mechanism.
  78  EX_CONFIG: configuration error (file syntax, unknown account, no server
      configured, user without password, bad CA file, credentials refused
      on a non-TLS connection), or the password command failed.
  Errors are one line on stderr: "smtp-send: ...".

EXAMPLES
  php.ini:  sendmail_path = "/usr/local/bin/smtp-send -t -i"
  echo "Subject: hi" | smtp-send -f me@example.org you@example.net
  php.ini:  sendmail_path = "/usr/local/bin/smtp-send --queue=always -t -i"
  crontab:  * * * * *  smtp-send -q
  smtp-send --to you@example.net --subject Report --body-file r.txt --attach r.pdf
  SMTP_URL=smtp://me%40example.org@mail.example.org SMTP_PASSWORD=... smtp-send --serverinfo
"#;

/// The whole `--help` text: [`HELP`] and the connection options, as the
/// library lists them (the same names in URLs, files, C and PHP).
pub fn help() -> String {
    let mut out = String::from(HELP);
    out.push_str("\nCONNECTION OPTIONS (URL ?NAME=VALUE, configuration-file keys)\n");
    for option in smtp_core::OPTIONS {
        let mut names = option.name.to_string();
        for alias in option.aliases {
            names.push_str(" | ");
            names.push_str(alias);
        }
        out.push_str(&format!(
            "  {names} = {}\n      {}\n",
            option.values, option.about
        ));
    }
    out
}
