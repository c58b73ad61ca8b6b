<?php

/**
 * sendmail.class.php: a drop-in replacement for the `send_mail` class of
 * limodou's sendmail.class.php3 (2000), sending through libsmtp.
 *
 * Old code changes its include line and nothing else:
 *
 *     include("/path/to/bindings/php/legacy/sendmail.class.php");
 *     $sendmail = new send_mail("smtp.example.org", true, "username", "password", "hello", true);
 *     $sendmail->send("to@example.net", "from@example.org", "test", "This is a test!");
 *
 * and gains TLS (STARTTLS or implicit TLS, certificates checked) and every
 * AUTH mechanism (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN; the
 * strongest both sides support), with the same constructor, the same
 * send() returning true or false, and the same public properties
 * ($lastmessage, $lastact, $smtp, $port, $welcome, $debug, $auth, $user).
 *
 * Defaults (the original spoke plain SMTP to port 25):
 *
 * - $smtp is "host" or "host:port" ("[::1]:25" for IPv6), passed to the
 *   library as it is; without a port in it the port is $port, 25 as
 *   before.
 * - TLS: to a server on this machine (127.0.0.0/8, ::1, localhost) none,
 *   as the old class spoke plain SMTP to local relays and the traffic
 *   never leaves the machine, unless a CA file is given or the port is
 *   465. Otherwise the library's automatic rule: implicit TLS on port
 *   465, STARTTLS required on port 587 or when authenticating (the
 *   password never travels in clear), STARTTLS when offered otherwise.
 *   Set $security ("starttls", "implicit", "opportunistic", "none") to
 *   choose yourself.
 * - A private CA: the 7th constructor argument, the $ca_file property,
 *   or the SMTP_CA_FILE environment variable.
 * - Timeouts: $timeout seconds (default: ini default_socket_timeout, as
 *   fsockopen() used) for the connection and each reply.
 * - Several recipients may be given, "a@x, B <b@y>" or an array; if the
 *   server refuses any, nothing is sent and send() returns false.
 * - A message that starts with header lines (Content-Type:, Cc:, X-...:)
 *   and an empty line is sent with those headers, as the original did;
 *   To, From and Subject are added unless present, Date and Message-ID
 *   too, Bcc recipients get it without a Bcc header. Text that is not
 *   UTF-8 (GB2312, Latin-1...) goes out byte for byte, as before; UTF-8
 *   text gets proper MIME headers.
 *
 * After send(): $lastmessage is the server's reply to the message
 * ("250 2.0.0 Ok: queued as ...") or, after a failure, the server's reply
 * that refused it, or what went wrong when there was no reply;
 * $lasterror is the full explanation; $lastact the last command sent.
 * With $debug every line in and out is echoed (HTML in a web server,
 * plain text in the CLI), credentials replaced by "[credentials hidden]".
 * send() never throws and never dies.
 *
 * Queueing (opt-in, off by default: the original returned false): with
 * $queue_dir set (the 8th constructor argument or the property) to an
 * outbox directory (see Smtp\Outbox), a message the server could not take
 * for now (no connection, a timeout, a 4xx reply, a connection lost after
 * the message was sent) is put in that outbox instead, and send() returns
 * true: the message is on disk and goes out with the next flush_queue()
 * (or Smtp\Outbox::deliverDue() from a cron job). $queued_id is its queue
 * id ("" when it was sent directly); $lasterror still tells why it was
 * queued. Permanent failures (5xx, bad credentials, bad input) still
 * return false. The password is never written to the outbox.
 *
 * The password is kept out of var_dump(), print_r() and stack traces.
 */

require_once dirname(__DIR__) . '/autoload.php';

/**
 * The legacy mail class: construct with the server and credentials, call
 * send($to, $from, $subject, $message), get true or false.
 */
#[\AllowDynamicProperties]
class send_mail
{
    /** @var string the last server reply, or what went wrong */
    public $lastmessage = '';

    /** @var string the last command sent ("connect" before the connection is up) */
    public $lastact = '';

    /** @var string the full explanation of the last failure, "" after a success */
    public $lasterror = '';

    /** @var string the name sent with EHLO ("" for this machine's name) */
    public $welcome;

    /** @var bool echo the session */
    public $debug;

    /** @var string the server, "host" or "host:port" */
    public $smtp;

    /** @var int|string the port when $smtp has none */
    public $port = 25;

    /** @var bool authenticate with $user and the password */
    public $auth;

    /** @var string the user name */
    public $user;

    /** @var ?string PEM file of a private CA to trust (null: SMTP_CA_FILE, if set) */
    public $ca_file;

    /** @var ?string "starttls", "implicit", "opportunistic" or "none"; null chooses (see the file comment) */
    public $security = null;

    /** @var int|float|null seconds to wait for the connection and each reply (null: default_socket_timeout) */
    public $timeout = null;

    /** @var ?string an outbox directory: queue a message on a transient failure (null: off) */
    public $queue_dir = null;

    /** @var string the queue id of the message the last send() queued, "" if it queued none */
    public $queued_id = '';

    /** @var null kept for old code that tests it; there is no socket of our own */
    public $fp = null;

    /**
     * @var \SensitiveParameterValue the password, never shown: wrapped so
     * that var_export(), (array) casts and json_encode() do not show it
     * either (they ignore __debugInfo())
     */
    private $password;

    /** Header fields that mark a message starting with its own header lines. */
    private const HEADER_START = '/^(content-[a-z-]+|mime-version|cc|bcc|reply-to|x-[a-z0-9-]+|date|message-id'
        . '|sender|importance|priority|organization|disposition-notification-to|return-receipt-to|in-reply-to'
        . '|references|errors-to|from|to|subject|list-[a-z-]+|precedence|auto-submitted|keywords|comments)'
        . '[ \t]*:/i';

    /**
     * The original constructor, plus an optional CA file.
     *
     * @param string $smtp the server: "host" or "host:port"
     * @param bool $auth whether to authenticate
     * @param string $authuser user name
     * @param string $authpasswd password
     * @param string $welcome the EHLO name ("" for this machine's name)
     * @param bool $debug echo the session
     * @param ?string $ca_file PEM file of a private CA (also: SMTP_CA_FILE)
     * @param ?string $queue_dir an outbox directory to queue in on a transient failure (see the file comment)
     */
    public function __construct(
        $smtp = '',
        $auth = false,
        $authuser = '',
        #[\SensitiveParameter] $authpasswd = '',
        $welcome = '',
        $debug = false,
        $ca_file = null,
        $queue_dir = null
    ) {
        $this->smtp = $smtp;
        $this->auth = $auth;
        $this->user = $authuser;
        $this->password = new \SensitiveParameterValue($authpasswd);
        $this->welcome = $welcome;
        $this->debug = $debug;
        $this->ca_file = $ca_file;
        $this->queue_dir = $queue_dir;
    }

    /**
     * Sends one message. Returns true once the server accepted it, false
     * otherwise (see $lastmessage and $lasterror); never throws.
     *
     * @param string|array $to recipient(s)
     * @param string $from the sender, "user@domain" or "Name <user@domain>"
     * @param string $subject the subject
     * @param string $message the body, optionally preceded by header lines and an empty line
     * @return bool
     */
    public function send($to, $from, $subject, $message)
    {
        $this->lastmessage = '';
        $this->lasterror = '';
        $this->lastact = 'connect';
        $this->queued_id = '';
        $mailer = null;
        try {
            $to = $this->stringArgument($to, 'to', true);
            $from = $this->stringArgument($from, 'from');
            $subject = $this->stringArgument($subject, 'subject');
            $message = $this->stringArgument($message, 'message');
            // Refused before connecting: a header value is one line.
            self::checkOneLine(['to' => $to, 'from' => $from, 'subject' => $subject]);
            [$server, $port, $local] = $this->server();
            $this->show_debug('Connect to SMTP server : ' . $server . ($port === null ? '' : ':' . $port), 'out');
            $mailer = $this->mailer($server, $port, $local);
            $mailer->connect();
            $result = $this->deliver($mailer, $to, $from, $subject, $message);
            $this->lastmessage = $result->reply();
            try {
                $mailer->quit();
            } catch (\Smtp\Exception\SmtpException $e) {
                // The message was accepted; a failed QUIT changes nothing.
            }
            return true;
        } catch (\Smtp\Exception\SmtpException $e) {
            $this->lasterror = $e->getMessage();
            $this->lastmessage = $e->getServerReply() !== '' ? $e->getServerReply() : $e->getMessage();
            $this->show_debug('Failed: ' . $e->getMessage(), 'in');
            if ($mailer !== null && self::isTransient($e) && $this->queue($mailer, $to, $from, $subject, $message)) {
                return true;
            }
            return false;
        } catch (\Throwable $e) {
            // Old code expects true or false, whatever happens.
            $this->lasterror = get_class($e) . ': ' . $e->getMessage();
            $this->lastmessage = $this->lasterror;
            $this->show_debug('Failed: ' . $this->lasterror, 'in');
            return false;
        } finally {
            if ($mailer !== null) {
                $mailer->close();
            }
        }
    }

    /**
     * Delivers what the outbox in $queue_dir holds (every message not held,
     * due or not) through this object's server and credentials. Returns
     * the number of messages delivered (bounced ones included), or false
     * when the outbox or the server could not be reached (see $lasterror);
     * never throws.
     *
     * @return int|false
     */
    public function flush_queue()
    {
        $this->lastmessage = '';
        $this->lasterror = '';
        $mailer = null;
        try {
            $outbox = new \Smtp\Outbox($this->stringArgument($this->queue_dir, 'queue_dir'));
            [$server, $port, $local] = $this->server();
            $mailer = $this->mailer($server, $port, $local, \Smtp\RecipientPolicy::DeliverToAccepted);
            $report = $outbox->flush($mailer);
            try {
                $mailer->quit();
            } catch (\Smtp\Exception\SmtpException $e) {
                // Delivered is delivered.
            }
            $this->lastmessage = "delivered $report->delivered, bounced $report->bounced, deferred $report->deferred";
            return $report->delivered + $report->bounced;
        } catch (\Throwable $e) {
            $this->lasterror = $e->getMessage();
            $this->lastmessage = $e->getMessage();
            $this->show_debug('Failed: ' . $e->getMessage(), 'in');
            return false;
        } finally {
            if ($mailer !== null) {
                $mailer->close();
            }
        }
    }

    /**
     * Echoes one line of the session when $debug is on, as the original
     * did: ">> " for what was sent, "<< " for what was received, "-- " for
     * notes. HTML-escaped in a web server, plain in the CLI.
     *
     * @param string $message the line
     * @param string $inout "in", "out" or "info"
     * @return void
     */
    public function show_debug($message, $inout)
    {
        if (!$this->debug) {
            return;
        }
        $prefix = $inout === 'in' ? '<< ' : ($inout === 'out' ? '>> ' : '-- ');
        $line = rtrim(is_scalar($message) ? (string) $message : '', "\r\n");
        if (PHP_SAPI === 'cli') {
            echo $prefix, $line, "\n";
        } else {
            echo '<font color=#999999>', htmlspecialchars($prefix, ENT_QUOTES | ENT_SUBSTITUTE), '</font>',
                nl2br(htmlspecialchars($line, ENT_QUOTES | ENT_SUBSTITUTE)), "<br>\n";
        }
    }

    /**
     * The original kept the password in $passwd; reading it gives "" so it
     * cannot leak, setting it works.
     *
     * @param string $name
     * @return mixed
     */
    public function __get($name)
    {
        return $name === 'passwd' ? '' : null;
    }

    /**
     * Setting $passwd (as old code may do) sets the password.
     *
     * @param string $name
     * @param mixed $value
     * @return void
     */
    public function __set($name, #[\SensitiveParameter] $value)
    {
        if ($name === 'passwd' || $name === 'password') {
            $this->password = new \SensitiveParameterValue($value);
        } else {
            $this->$name = $value;
        }
    }

    /**
     * isset($mail->passwd): whether a password is set.
     *
     * @param string $name
     * @return bool
     */
    public function __isset($name)
    {
        return $name === 'passwd' && $this->hasPassword();
    }

    /**
     * What var_dump() and print_r() show: everything but the password.
     *
     * @return array<string, mixed>
     */
    public function __debugInfo()
    {
        $info = get_object_vars($this);
        unset($info['password']);
        $info['passwd'] = $this->hasPassword() ? '[hidden]' : '';
        return $info;
    }

    /** Whether a password is set (not null, not ""). */
    private function hasPassword(): bool
    {
        $password = $this->password->getValue();
        return $password !== '' && $password !== null;
    }

    /** Not serializable: it would write the password out. */
    public function __serialize(): array
    {
        throw new \LogicException('send_mail cannot be serialized (it holds a password)');
    }

    /**
     * A scalar (or Stringable) argument as a string; $to may also be an array.
     *
     * @throws \Smtp\Exception\InvalidInputException
     */
    private function stringArgument($value, string $name, bool $list = false): string
    {
        if ($value === null) {
            return '';
        }
        if ($list && is_array($value)) {
            $items = [];
            foreach ($value as $item) {
                $items[] = $this->stringArgument($item, $name);
            }
            return implode(', ', $items);
        }
        if (is_string($value)) {
            return $value;
        }
        if (is_int($value) || is_float($value) || $value instanceof \Stringable) {
            return (string) $value;
        }
        throw new \Smtp\Exception\InvalidInputException("$name must be a string, got "
            . \Smtp\Internal\Arg::describe($value));
    }

    /**
     * The server as the library takes it: $smtp unchanged ("host",
     * "host:port", "[v6]:port"; the library splits it, as
     * smtp_client_new() does), the port to pass with it (null when $smtp
     * has one, else $port: 25 unless changed, 0 meaning 25), and whether
     * the server is on this machine and not on port 465 (the loopback
     * rule in mailer()).
     *
     * The library tells neither whether $smtp has a port nor its bare
     * host, so the smallest parse that finds both is left here: a name or
     * a bracketed address, then an optional ":digits". Anything else (a
     * bare IPv6 address, a bad port) is a host alone, for the library to
     * take or refuse.
     *
     * @return array{string, ?int, bool}
     * @throws \Smtp\Exception\InvalidInputException
     */
    private function server(): array
    {
        $server = trim($this->stringArgument($this->smtp, 'smtp'));
        if ($server === '') {
            throw new \Smtp\Exception\InvalidInputException('SMTP server cannot be empty');
        }
        if (preg_match('/^(\[[^\]]*\]|[^:]+)(?::(\d+))?$/', $server, $m) !== 1) {
            $m = [$server, $server];
        }
        $port = isset($m[2]) ? null : (\Smtp\Internal\Arg::port($this->port, 'port') ?: 25);
        $local = ($port ?? (int) $m[2]) !== 465 && self::isLoopback(trim($m[1], '[]'));
        return [$server, $port, $local];
    }

    /** True for an address or name that is this machine. */
    private static function isLoopback(string $host): bool
    {
        $host = strtolower($host);
        if ($host === 'localhost' || str_ends_with($host, '.localhost') || $host === '::1') {
            return true;
        }
        return filter_var($host, FILTER_VALIDATE_IP, FILTER_FLAG_IPV4) !== false && str_starts_with($host, '127.');
    }

    /**
     * A Mailer with this object's settings for $server ($port: null when
     * $server has its own). $local: the server is on this machine, not on
     * port 465 (see server()).
     *
     * @throws \Smtp\Exception\SmtpException
     */
    private function mailer(
        string $server,
        ?int $port,
        bool $local,
        \Smtp\RecipientPolicy $policy = \Smtp\RecipientPolicy::AllOrNothing,
    ): \Smtp\Mailer {
        $caFile = $this->ca_file;
        if ($caFile === null || $caFile === '') {
            $fromEnv = getenv('SMTP_CA_FILE');
            $caFile = is_string($fromEnv) && $fromEnv !== '' ? $fromEnv : null;
        }
        $auth = (bool) $this->auth;
        if ($this->security !== null && $this->security !== '') {
            $security = \Smtp\Security::of($this->security);
        } elseif ($local && $caFile === null) {
            // The legacy class's own compatibility rule: plain SMTP to a
            // server on this machine. The 2000-era class spoke plain SMTP,
            // and the code still using it mostly talks to a local relay
            // that offers no STARTTLS, or one with a certificate nothing
            // here vouches for; the traffic never leaves the machine. A CA
            // file asks for TLS, and port 465 is implicit TLS: then, as
            // everywhere else, the library's rule decides.
            $security = \Smtp\Security::None;
        } else {
            // null: the library's automatic rule (see the file comment).
            $security = null;
        }
        $timeout = $this->timeout ?? (float) ini_get('default_socket_timeout');
        if (!is_numeric($timeout) || $timeout <= 0) {
            $timeout = 60;
        }
        $user = null;
        $password = null;
        if ($auth) {
            $user = $this->stringArgument($this->user, 'user');
            if ($user === '') {
                throw new \Smtp\Exception\InvalidInputException('authentication is on but the user name is empty');
            }
            $password = $this->stringArgument($this->password->getValue(), 'password');
        }
        $welcome = $this->stringArgument($this->welcome, 'welcome');
        return new \Smtp\Mailer(
            host: $server,
            port: $port,
            security: $security,
            user: $user,
            password: $password,
            caFile: $caFile,
            timeout: $timeout,
            connectTimeout: $timeout,
            clientName: $welcome === '' ? null : $welcome,
            recipientPolicy: $policy,
            transcript: function (\Smtp\TranscriptDirection $direction, string $line): void {
                if ($direction === \Smtp\TranscriptDirection::Sent) {
                    // "[message chunk, N octets]" is a note, not a command.
                    if ($line === '' || $line[0] !== '[') {
                        $this->lastact = $line;
                    }
                    $this->show_debug($line, 'out');
                } elseif ($direction === \Smtp\TranscriptDirection::Received) {
                    $this->show_debug($line, 'in');
                } else {
                    $this->show_debug($line, 'info');
                }
            },
        );
    }

    /**
     * Refuses CR, LF and NUL in values that become one header line each.
     *
     * @param array<string, string> $values
     * @throws \Smtp\Exception\InvalidInputException
     */
    private static function checkOneLine(array $values): void
    {
        foreach ($values as $name => $value) {
            if (strpbrk($value, "\r\n\0") !== false) {
                throw new \Smtp\Exception\InvalidInputException("$name contains CR, LF or NUL (a header value is one line)");
            }
        }
    }

    /**
     * Sends the message: composed by the library when it is plain UTF-8
     * text without a header block, otherwise as the caller formatted it,
     * completed by the library's raw-message path (the one sendmail mode
     * and the C API use): To, From, Subject, Date, Message-ID and
     * MIME-Version added where missing, Bcc removed, the envelope from
     * $from, $to and the header's To, Cc and Bcc.
     *
     * With $outbox the message is queued there instead, prepared the same
     * way, and its queue id returned.
     *
     * @throws \Smtp\Exception\SmtpException
     */
    private function deliver(
        \Smtp\Mailer $mailer,
        string $to,
        string $from,
        string $subject,
        string $message,
        ?\Smtp\Outbox $outbox = null,
    ): \Smtp\SendResult|string {
        // The original ended the data itself with "\n.\n"; code that
        // added it already must not get a stray "." line.
        $message = preg_replace('/\r?\n\.\r?\n$/D', "\n", $message) ?? $message;
        $hasHeader = self::startsWithHeaderBlock($message);
        if (!$hasHeader && preg_match('//u', $subject . $message) === 1) {
            $composed = new \Smtp\Message(library: $mailer->library());
            $composed->from($from)->to($to)->text($message);
            if ($subject !== '') {
                $composed->subject($subject);
            }
            return $outbox === null ? $mailer->send($composed) : $outbox->enqueue($composed);
        }
        self::checkOneLine(['to' => $to, 'from' => $from, 'subject' => $subject]);
        // Without a header block of its own, the whole text is the body.
        $data = $hasHeader ? $message : "\r\n" . $message;
        if (preg_match('//u', $subject) !== 1) {
            // A subject in a legacy charset (GB2312...) goes out byte for
            // byte, as the original sent it; the library takes UTF-8 only.
            $head = $hasHeader ? (preg_split('/\r?\n\r?\n/', $data, 2)[0] ?? '') : '';
            if (preg_match('/^subject[ \t]*:/im', $head) !== 1) {
                $data = 'Subject: ' . $subject . "\r\n" . $data;
            }
            $subject = '';
        }
        $arguments = [
            'recipients' => $to,
            'recipientsFromHeaders' => true,
            'sender' => $from,
            'author' => $from,
            'to' => $to,
            'subject' => $subject,
        ];
        return $outbox === null
            ? $mailer->sendRawCompleted($data, ...$arguments)
            : $outbox->enqueueRawCompleted($data, ...$arguments);
    }

    /**
     * Whether a failure is for now (the message may go through later): no
     * connection or a timeout, a 4xx reply (to the message or to a
     * recipient), or a connection lost after the message was sent (it is
     * then retried, at least once, as MTAs do).
     */
    private static function isTransient(\Smtp\Exception\SmtpException $e): bool
    {
        if ($e instanceof \Smtp\Exception\ConnectionException
            || $e instanceof \Smtp\Exception\DeliveryUnknownException) {
            return true;
        }
        if ($e instanceof \Smtp\Exception\RecipientsRefusedException) {
            $recipients = $e->getRecipients();
            $refused = array_filter($recipients, static fn ($r) => !$r->accepted());
            // Only when every refusal is temporary (a 5xx would fail again).
            return $refused !== [] && array_filter($refused, static fn ($r) => !$r->isTemporaryFailure()) === [];
        }
        $code = $e->getSmtpCode();
        return $e instanceof \Smtp\Exception\RejectedException && $code >= 400 && $code < 500;
    }

    /**
     * Queues the message in $queue_dir after a transient failure (when
     * set): true when it is on disk. A failure to queue is added to
     * $lasterror.
     */
    private function queue(\Smtp\Mailer $mailer, $to, $from, $subject, $message): bool
    {
        if ($this->queue_dir === null || $this->queue_dir === '') {
            return false;
        }
        try {
            $outbox = new \Smtp\Outbox($this->stringArgument($this->queue_dir, 'queue_dir'), $mailer->library());
            $this->queued_id = $this->deliver($mailer, $to, $from, $subject, $message, $outbox);
            $this->lastmessage = 'queued as ' . $this->queued_id . ' (' . $this->lastmessage . ')';
            $this->show_debug('Queued as ' . $this->queued_id, 'info');
            return true;
        } catch (\Throwable $e) {
            $this->lasterror .= '; queueing failed too: ' . $e->getMessage();
            return false;
        }
    }

    /**
     * Whether the message starts with a header block of its own: a header
     * field this class knows (the original's rule, so that ordinary text
     * starting with "Note:" stays text) and an empty line after it.
     */
    private static function startsWithHeaderBlock(string $message): bool
    {
        return preg_match(self::HEADER_START, $message) === 1
            && preg_match('/\r?\n\r?\n/', $message) === 1;
    }
}
