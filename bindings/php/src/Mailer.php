<?php

declare(strict_types=1);

namespace Smtp;

use FFI;
use FFI\CData;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\LibraryException;
use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\Internal\Arg;
use Smtp\Internal\Batch;
use Smtp\Internal\ClientSettings;
use Smtp\Internal\TokenRouter;
use Smtp\Internal\TranscriptRouter;

/**
 * A connection to an SMTP server (a libsmtp `smtp_client`): settings,
 * then any number of messages over one session.
 *
 * ```php
 * $mailer = new Mailer(host: 'mail.example.org', port: 587, user: 'me', password: $secret);
 * $result = $mailer->send(new Message(from: 'me@example.org', to: 'you@example.net',
 *                                     subject: 'Hi', text: "Hello.\n"));
 * $mailer->quit();
 * ```
 *
 * or `Mailer::fromUrl('smtps://me:secret@mail.example.org')`.
 *
 * Defaults are safe: with credentials TLS is required (STARTTLS, or
 * implicit TLS on port 465), certificates are checked, and a password
 * never goes unencrypted to another machine. send() connects on first use
 * and again after the server ended the session. Failures throw a subclass
 * of Exception\SmtpException. The native handle is freed when the object
 * goes away (after a QUIT that does not wait for the reply).
 *
 * Not for two threads at once (PHP's ZTS builds); separate Mailers are
 * independent.
 */
final class Mailer
{
    /** SMTP_RAW_RECIPIENTS_FROM_HEADERS of the C API (a #define, out of FFI's reach). */
    private const RAW_RECIPIENTS_FROM_HEADERS = 1;

    /** The option names fromUrl() accepts besides the URL. */
    private const URL_OPTIONS = [
        'security', 'user', 'password', 'token', 'caFile', 'timeout', 'connectTimeout', 'totalTimeout',
        'clientName', 'mechanism', 'recipientPolicy', 'transcript', 'insecurePlaintextAuth',
        'dangerousAcceptInvalidCerts', 'library', 'pipelining', 'chunking', 'longLines', 'options', 'outbox',
        'proxy',
    ];

    private Library $library;

    private ?CData $handle = null;

    /** This client's transcript id (0: none) and the C int it is passed through. */
    private int $transcriptId = 0;

    private ?CData $transcriptCell = null;

    /** This client's token provider id (0: none) and the C int it is passed through. */
    private int $tokenId = 0;

    private ?CData $tokenCell = null;

    /** The outbox queue() uses when given none. */
    private ?Outbox $outbox = null;

    /**
     * Creates a client (not connected yet: send() or connect() connects).
     *
     * Give either $url or $host (default "localhost").
     *
     * @param mixed $host host name or address ("mail.example.org", "192.0.2.1", "::1"); "host:port" works too;
     *        a relay list ("a.example,b.example:2525", or a list of strings) is tried in order
     * @param mixed $port 0/null: the default for the security mode (465 implicit, else 587)
     * @param mixed $security a Security case or its name ("starttls", "implicit", "opportunistic", "none")
     * @param mixed $user user name for authentication (with $password or $token)
     * @param mixed $password password; the strongest mechanism both sides support is used
     * @param mixed $token OAuth 2.0 bearer token (XOAUTH2 / OAUTHBEARER) instead of a password: a
     *              string (a fixed token), or a callable (a Closure, [$object, 'method'], an
     *              invokable object; a string is always a token) returning the current token as a
     *              string or as a token endpoint's decoded answer ['access_token' => ...,
     *              'expires_in' => seconds]. The callable is called while connecting, on this thread,
     *              when there is no token yet, when it expires within the 'token_refresh_margin'
     *              option (default 600 s), and once more when the server refuses the token as
     *              expired (then the connection is made again, once). An exception it throws
     *              becomes the previous exception of the connect's AuthenticationException
     * @param mixed $caFile PEM file (or list of files) of CAs to trust besides the system's
     * @param mixed $timeout seconds to wait for each server reply (default: RFC 5321's minutes)
     * @param mixed $connectTimeout seconds to open the TCP connection (default 30)
     * @param mixed $totalTimeout limit in seconds on each whole call (connect, send)
     * @param mixed $clientName the name sent with EHLO (default: this machine's name)
     * @param mixed $mechanism force one SASL mechanism ("PLAIN", "SCRAM-SHA-256"...)
     * @param mixed $recipientPolicy a RecipientPolicy (default: deliver to the accepted ones)
     * @param mixed $transcript callable(TranscriptDirection $direction, string $line): every line in
     *              and out, credentials replaced by "[credentials hidden]"
     * @param mixed $insecurePlaintextAuth INSECURE: allow credentials without TLS to any server
     * @param mixed $dangerousAcceptInvalidCerts DANGEROUS: accept any certificate (tests only)
     * @param mixed $url smtp://[user[:password]@]host[:port][?options] or smtps://...
     *              (options: security, auth, client_name, ca_file, timeout, token=1, long_lines)
     * @param ?Library $library the libsmtp to use (default Library::get())
     * @param mixed $pipelining false: never PIPELINING (RFC 2920), one round trip per command
     * @param mixed $chunking false: never CHUNKING (RFC 3030 BDAT), DATA instead
     * @param mixed $longLines what happens to a message with a line over 998 octets (RFC 5322's
     *              limit), sendRaw() and sendRawFile() included: 'repair' (the default) folds a
     *              long header line at whitespace and re-encodes a text part (or a message
     *              without MIME headers) as quoted-printable, and refuses what cannot be
     *              repaired so (a header line without whitespace, a non-text part, a signed
     *              message); 'refuse' refuses every such message, for messages that must go
     *              out byte for byte. A refusal is an InvalidInputException naming the line,
     *              thrown before MAIL FROM (for messages up to 1 MiB)
     * @param mixed $options any library option by the name URLs and configuration files use
     *              (smtp_client_set_option()): ['pipelining' => false, 'tls_server_name' => 'mx.example.org'];
     *              values are strings, numbers or bools (true: "on", false: "off"), set after the
     *              other arguments, so they win; an unknown name or a bad value is an
     *              InvalidInputException naming the option
     * @param mixed $outbox an Outbox (or its directory) for queue(): messages queued there go out
     *              later through Outbox::flush() or Outbox::deliverDue() with a Mailer
     * @param mixed $proxy the proxy connections go through: 'socks5://[user[:password]@]host[:port]'
     *              (SOCKS5, the proxy resolves the server's name; 'socks5h://' the same,
     *              'socks5l://' resolves it here; port 1080 by default) or
     *              'http://[user[:password]@]host[:port]' (HTTP CONNECT, Basic credentials; port
     *              3128 by default); user and password percent-encoded where needed; null (the
     *              default), false or 'off' for none. TLS runs end to end through the proxy and the
     *              certificate is checked against the mail server's name. A malformed URL is an
     *              InvalidInputException, a refusing proxy a ConnectionException naming the proxy
     *              and the step ("SOCKS5 authentication: ..."), a silent one too ("... no answer
     *              within the connect timeout");
     *              the proxy password is never in a message. The same as options: ['proxy' => ...]
     * @throws InvalidInputException|LibraryException
     */
    public function __construct(
        mixed $host = null,
        mixed $port = null,
        mixed $security = null,
        mixed $user = null,
        #[\SensitiveParameter] mixed $password = null,
        #[\SensitiveParameter] mixed $token = null,
        mixed $caFile = null,
        mixed $timeout = null,
        mixed $connectTimeout = null,
        mixed $totalTimeout = null,
        mixed $clientName = null,
        mixed $mechanism = null,
        mixed $recipientPolicy = null,
        mixed $transcript = null,
        mixed $insecurePlaintextAuth = false,
        mixed $dangerousAcceptInvalidCerts = false,
        #[\SensitiveParameter] mixed $url = null,
        ?Library $library = null,
        mixed $pipelining = null,
        mixed $chunking = null,
        mixed $longLines = null,
        #[\SensitiveParameter] mixed $options = [],
        mixed $outbox = null,
        #[\SensitiveParameter] mixed $proxy = null,
    ) {
        $this->library = $library ?? Library::get();
        if ($outbox !== null && !$outbox instanceof Outbox) {
            $outbox = new Outbox($outbox, $this->library);
        }
        $this->outbox = $outbox;
        $ffi = $this->library->ffi();
        $out = $ffi->new('smtp_client*');
        if ($url !== null) {
            if ($host !== null || $port !== null) {
                throw new InvalidInputException('give either a URL or host/port, not both (the port goes in the URL)');
            }
            $url = Arg::text($url, 'url');
            $this->library->check($ffi->smtp_client_new_url($url, FFI::addr($out)));
        } else {
            if (is_array($host)) {
                // A relay list: tried in order (see the README's "A relay list").
                $host = implode(',', array_map(static fn (mixed $h): string => Arg::text($h, 'host'), $host));
            }
            $host = Arg::text($host ?? 'localhost', 'host');
            if (trim($host) === '') {
                throw new InvalidInputException('host is empty');
            }
            // A DNS name has at most 253 characters; "[v6]:port" adds little.
            if (strlen($host) > 300) {
                throw new InvalidInputException('host is too long (' . strlen($host) . ' bytes)');
            }
            $port = Arg::port($port);
            $this->library->check($ffi->smtp_client_new($host, $port, FFI::addr($out)));
        }
        $this->handle = $out;
        try {
            ClientSettings::apply(
                $this->library,
                $out,
                $security,
                $user,
                $password,
                $token,
                $caFile,
                $timeout,
                $connectTimeout,
                $totalTimeout,
                $clientName,
                $mechanism,
                $recipientPolicy,
                $insecurePlaintextAuth,
                $dangerousAcceptInvalidCerts,
            );
            $this->registerTranscript($transcript);
            $this->registerToken($user, $token);
            // Both default to on in the library (used when offered).
            if ($pipelining !== null) {
                $this->library->check($ffi->smtp_client_set_pipelining($out, Arg::flag($pipelining, 'pipelining')));
            }
            if ($chunking !== null) {
                $this->library->check($ffi->smtp_client_set_chunking($out, Arg::flag($chunking, 'chunking')));
            }
            if ($longLines !== null) {
                $this->library->check($ffi->smtp_client_set_long_lines($out, ClientSettings::longLines($ffi, $longLines)));
            }
            if ($proxy !== null) {
                $this->library->check($ffi->smtp_client_set_proxy($out, ClientSettings::proxy($proxy)));
            }
            ClientSettings::setOptions($this->library, $out, $options);
        } catch (\Throwable $e) {
            // A constructor that throws gets no __destruct: free here.
            $this->close();
            throw $e;
        }
    }

    /**
     * Creates a client from a URL, with any constructor option by name:
     * `Mailer::fromUrl('smtp://me%40example.org:secret@mail.example.org:587', timeout: 20)`.
     * Options given here override what the URL says.
     *
     * @throws InvalidInputException|LibraryException
     */
    public static function fromUrl(#[\SensitiveParameter] mixed $url, mixed ...$options): self
    {
        foreach (array_keys($options) as $name) {
            if (!is_string($name) || !in_array($name, self::URL_OPTIONS, true)) {
                throw new InvalidInputException('fromUrl(): unknown option ' . (is_string($name) ? $name : '#' . $name)
                    . '; options are ' . implode(', ', self::URL_OPTIONS));
            }
        }
        if ($url === null) {
            throw new InvalidInputException('url must be a string, got null');
        }
        return new self(...['url' => $url] + $options);
    }

    /**
     * Sends each transcript line to $transcript, through the one C
     * callback of the library and this client's id (TranscriptRouter).
     *
     * @throws SmtpException
     */
    private function registerTranscript(mixed $transcript): void
    {
        if ($transcript === null) {
            return;
        }
        if (!is_callable($transcript)) {
            throw new InvalidInputException('transcript must be callable, got ' . Arg::describe($transcript));
        }
        $ffi = $this->library->ffi();
        $this->transcriptId = TranscriptRouter::register($transcript);
        $cell = $ffi->new('int32_t');
        $cell->cdata = $this->transcriptId;
        $this->transcriptCell = $cell;
        $this->library->check($ffi->smtp_client_set_transcript(
            $this->handle,
            $this->library->transcriptCallback(),
            $ffi->cast('void*', FFI::addr($cell)),
        ));
    }

    /**
     * Asks $token (a callable) for OAuth 2.0 tokens through the one C
     * token callback of the library and this client's id (TokenRouter).
     * libsmtp calls it only inside smtp_client_connect(), on this thread.
     *
     * @throws SmtpException
     */
    private function registerToken(mixed $user, mixed $token): void
    {
        if ($token === null || !TokenRouter::isProvider($token)) {
            return;
        }
        $ffi = $this->library->ffi();
        $this->tokenId = TokenRouter::register($token);
        $cell = $ffi->new('int32_t');
        $cell->cdata = $this->tokenId;
        $this->tokenCell = $cell;
        $this->library->check($ffi->smtp_client_set_token_provider(
            $this->handle,
            Arg::text($user ?? '', 'user'),
            $this->library->tokenCallback(),
            $ffi->cast('void*', FFI::addr($cell)),
        ));
    }

    /**
     * Connects (greeting, EHLO, TLS as configured, authentication) and
     * returns what the server told about itself. A session already open
     * is closed first.
     *
     * @throws SmtpException
     */
    public function connect(): ServerInfo
    {
        $handle = $this->handle();
        $result = $this->library->ffi()->smtp_client_connect($handle);
        $this->finish($result);
        return $this->serverInfo();
    }

    /**
     * Sends a composed message over the open session (connecting first if
     * there is none), the envelope taken from the message.
     *
     * With the default recipient policy the message goes to the accepted
     * recipients and SendResult::refused() lists the others; when every
     * recipient is refused (or any, with RecipientPolicy::AllOrNothing) a
     * RecipientsRefusedException is thrown and nothing is sent.
     *
     * @throws SmtpException
     */
    public function send(mixed $message): SendResult
    {
        if (!$message instanceof Message) {
            throw new InvalidInputException('send() takes a Smtp\Message, got ' . Arg::describe($message)
                . ' (sendRaw() sends a formatted message)');
        }
        $native = $message->nativeHandle($this->library);
        $this->ensureConnected();
        $handle = $this->handle();
        $result = $this->library->ffi()->smtp_client_send_message($handle, $native);
        return $this->sendResult($result);
    }

    /**
     * Queues a composed message in an outbox instead of sending it now and
     * returns its queue id: the message is on disk (synced) when this
     * returns, and goes out with the next Outbox::flush() or
     * Outbox::deliverDue(). Never connects. $outbox defaults to the one
     * given to the constructor.
     *
     * @throws SmtpException
     */
    public function queue(mixed $message, ?Outbox $outbox = null): string
    {
        $outbox ??= $this->outbox
            ?? throw new InvalidInputException('queue(): no outbox; pass one, or give new Mailer(outbox: ...)');
        return $outbox->enqueue($message);
    }

    /** The outbox given to the constructor, if any. */
    public function outbox(): ?Outbox
    {
        return $this->outbox;
    }

    /**
     * The native client with an open session (connecting first when there
     * is none), for Outbox::flush().
     *
     * @throws SmtpException
     * @internal
     */
    public function sessionHandle(): CData
    {
        $this->ensureConnected();
        return $this->handle();
    }

    /**
     * Sends a message the caller formatted completely (headers, empty
     * line, body; LF or CRLF line endings). With $from and $to the
     * envelope is exactly that and the bytes go out unchanged; with
     * neither, the envelope comes from the headers (Sender or From; To, Cc,
     * Bcc) and Bcc lines are removed.
     *
     * @param mixed $data the message
     * @param mixed $from the envelope sender, "" for the null sender
     * @param mixed $to the envelope recipients: "a@x, b@y" or a list
     * @throws SmtpException
     */
    public function sendRaw(mixed $data, mixed $from = null, mixed $to = null): SendResult
    {
        $data = Arg::bytes($data, 'data');
        if (($from === null) !== ($to === null)) {
            throw new InvalidInputException('sendRaw(): give both $from and $to, or neither');
        }
        $fromText = $from === null ? null : Arg::text($from, 'from');
        $toList = $to === null ? null : Arg::addressList($to, 'to');
        $this->ensureConnected();
        $handle = $this->handle();
        $result = $this->library->ffi()->smtp_client_send_raw($handle, $fromText, $toList, $data, strlen($data));
        return $this->sendResult($result);
    }

    /**
     * Sends a message the caller formatted, completed as sendmail or a
     * submission server would, by the library's one raw-message path: Bcc
     * removed; To ($to) and Subject ($subject) added when the message has
     * none; with $author, From, Date, Message-ID and MIME-Version added
     * when missing. The header ends at the first empty line or at the first
     * line that is not a header field. The envelope sender is $sender
     * ("" for the null sender), else the message's Sender or From; the
     * recipients are $recipients plus, with $recipientsFromHeaders, the
     * header's To, Cc and Bcc (Resent-* for a resent message).
     *
     * @param mixed $data the message (header, empty line, body)
     * @param mixed $recipients more recipients: "a@x, b@y" or a list
     * @param mixed $author "Name <addr>" or "addr" for the fields added
     * @throws SmtpException
     */
    public function sendRawCompleted(
        mixed $data,
        mixed $recipients = null,
        bool $recipientsFromHeaders = true,
        mixed $sender = null,
        mixed $author = null,
        mixed $to = null,
        mixed $subject = null,
    ): SendResult {
        $data = Arg::bytes($data, 'data');
        $recipients = $recipients === null ? null : Arg::addressList($recipients, 'recipients');
        $sender = $sender === null ? null : Arg::text($sender, 'sender');
        $author = $author === null ? null : Arg::text($author, 'author');
        $to = $to === null ? null : Arg::addressList($to, 'to');
        $subject = $subject === null ? null : Arg::text($subject, 'subject');
        $this->ensureConnected();
        $result = $this->library->ffi()->smtp_client_send_raw_completed(
            $this->handle(),
            $sender,
            $recipients,
            $recipientsFromHeaders ? self::RAW_RECIPIENTS_FROM_HEADERS : 0,
            $author,
            $to,
            $subject,
            $data,
            strlen($data),
        );
        return $this->sendResult($result);
    }

    /**
     * Sends a complete message stored in a file, read block by block as it
     * goes out, so a large message never sits in PHP's memory. Envelope
     * rules as for sendRaw(); with an explicit envelope the file's size is
     * declared (as SIZE's estimate) to servers that offer SIZE. A file
     * that cannot be opened gives InvalidInputException before anything is
     * sent.
     *
     * @param mixed $path the file's path
     * @param mixed $from the envelope sender, "" for the null sender
     * @param mixed $to the envelope recipients: "a@x, b@y" or a list
     * @throws SmtpException
     */
    public function sendRawFile(mixed $path, mixed $from = null, mixed $to = null): SendResult
    {
        $path = Arg::text($path, 'path');
        if (($from === null) !== ($to === null)) {
            throw new InvalidInputException('sendRawFile(): give both $from and $to, or neither');
        }
        $fromText = $from === null ? null : Arg::text($from, 'from');
        $toList = $to === null ? null : Arg::addressList($to, 'to');
        $this->ensureConnected();
        $handle = $this->handle();
        $result = $this->library->ffi()->smtp_client_send_raw_file($handle, $fromText, $toList, $path);
        return $this->sendResult($result);
    }

    /**
     * Sends many messages over the open session (connecting first if
     * there is none), pipelined across messages: with PIPELINING and
     * CHUNKING hundreds of small messages take a few round trips instead
     * of two or more each.
     *
     * Each item is a Message, or a raw message the caller formatted with
     * its envelope: `['data' => $bytes, 'from' => $sender, 'to' => $recipients]`
     * (as sendRaw()'s arguments: 'from' "" for the null sender, 'to' a
     * string "a@x, b@y" or a list; the bytes go out unchanged).
     *
     * Returns one entry per item, in order (a list, whatever the keys):
     * the SendResult of a message the server accepted, or the exception a
     * send() of that message alone would have thrown, returned rather than
     * thrown so that one failed message never hides the others' results.
     * A refused recipient stays with its message: SendResult::refused(),
     * or a RecipientsRefusedException when all of them were refused. When
     * the connection fails midway, each message without its reply is a
     * ConnectionException (SMTP_ERR_NOT_CONNECTED: not sent) or a
     * DeliveryUnknownException (its end was written: it may have arrived).
     *
     * Thrown: InvalidInputException for an item of another shape (before
     * anything is sent), and the exception of a failed connect.
     *
     * @param mixed $messages iterable<Message|array{data: string, from: string, to: string|list<string>}>
     * @return list<SendResult|SmtpException>
     * @throws SmtpException
     */
    public function sendMany(mixed $messages): array
    {
        $batch = Batch::of($this->library, $messages);
        if ($batch->count() === 0) {
            return [];
        }
        $this->ensureConnected();
        $handle = $this->handle();
        $this->finish($batch->send($handle));
        return $batch->results($handle);
    }

    /**
     * Sends NOOP: checks that the server is still there.
     *
     * @throws SmtpException
     */
    public function noop(): void
    {
        $this->finish($this->library->ffi()->smtp_client_noop($this->handle()));
    }

    /**
     * Sends RSET (sends never leave a transaction open; this is for callers
     * that want to be sure).
     *
     * @throws SmtpException
     */
    public function reset(): void
    {
        $this->finish($this->library->ffi()->smtp_client_reset($this->handle()));
    }

    /**
     * Says QUIT and closes the connection, if one is open. The settings
     * stay: send() or connect() connects again.
     *
     * @throws SmtpException
     */
    public function quit(): void
    {
        if ($this->handle !== null && $this->library->ffi()->smtp_client_is_connected($this->handle)) {
            $this->finish($this->library->ffi()->smtp_client_quit($this->handle));
        }
    }

    /** True while a session is open and usable. */
    public function isConnected(): bool
    {
        return $this->handle !== null && (bool) $this->library->ffi()->smtp_client_is_connected($this->handle);
    }

    /**
     * What the server announced on the last connect (greeting, extensions,
     * mechanisms, TLS).
     *
     * @throws SmtpException when the client never connected
     */
    public function serverInfo(): ServerInfo
    {
        $ffi = $this->library->ffi();
        $handle = $this->handle();
        $greeting = $ffi->smtp_client_greeting($handle);
        if ($greeting === null) {
            throw new Exception\ConnectionException('not connected yet: no server information', 14);
        }
        $capabilities = (string) $ffi->smtp_client_capabilities($handle);
        $mechanisms = (string) $ffi->smtp_client_auth_mechanisms($handle);
        $length = $ffi->new('size_t');
        $der = $ffi->smtp_client_peer_certificate($handle, FFI::addr($length));
        $certificate = ($der === null || FFI::isNull($der)) ? null : FFI::string($der, (int) $length->cdata);
        return new ServerInfo(
            (string) $greeting,
            $capabilities === '' ? [] : explode("\n", $capabilities),
            $mechanisms === '' ? [] : explode(' ', $mechanisms),
            $ffi->smtp_client_authenticated_with($handle),
            $ffi->smtp_client_tls_version($handle),
            $ffi->smtp_client_tls_cipher($handle),
            $certificate,
            (string) $ffi->smtp_client_server($handle),
        );
    }

    /** The libsmtp this client uses. */
    public function library(): Library
    {
        return $this->library;
    }

    /**
     * Frees the native client now (QUIT without waiting for the reply if a
     * session is open). Later calls throw; destruction calls this.
     */
    public function close(): void
    {
        if ($this->handle !== null) {
            $handle = $this->handle;
            $this->handle = null;
            $this->library->ffi()->smtp_client_free($handle);
        }
        if ($this->transcriptId !== 0) {
            TranscriptRouter::unregister($this->transcriptId);
            $this->transcriptId = 0;
        }
        $this->transcriptCell = null;
        if ($this->tokenId !== 0) {
            TokenRouter::unregister($this->tokenId);
            $this->tokenId = 0;
        }
        $this->tokenCell = null;
    }

    /** Frees the native client. */
    public function __destruct()
    {
        $this->close();
    }

    /**
     * A Mailer owns a native connection and cannot be copied.
     *
     * @throws LibraryException always
     */
    public function __clone()
    {
        // The copy must not free the original's handle when it goes away.
        $this->handle = null;
        $this->transcriptId = 0;
        $this->transcriptCell = null;
        $this->tokenId = 0;
        $this->tokenCell = null;
        throw new LibraryException('a Smtp\Mailer cannot be cloned (it owns a native connection)');
    }

    /**
     * Not serializable (a native connection).
     *
     * @throws LibraryException always
     */
    public function __serialize(): array
    {
        throw new LibraryException('a Smtp\Mailer cannot be serialized');
    }

    /**
     * Not serializable (a native connection).
     *
     * @param array<mixed> $data
     * @throws LibraryException always
     */
    public function __unserialize(array $data): void
    {
        throw new LibraryException('a Smtp\Mailer cannot be unserialized');
    }

    /** Hides the native handle from var_dump(). */
    public function __debugInfo(): array
    {
        return ['connected' => $this->isConnected(), 'library' => $this->library->origin()];
    }

    /** @throws SmtpException */
    private function handle(): CData
    {
        return $this->handle ?? throw new Exception\ConnectionException('this Mailer was closed', 14);
    }

    /** @throws SmtpException */
    private function ensureConnected(): void
    {
        if (!$this->library->ffi()->smtp_client_is_connected($this->handle())) {
            $this->connect();
        }
    }

    /**
     * Turns a result into an exception if needed, also handing back an
     * exception the transcript (or token) callable threw during the call.
     *
     * @throws \Throwable
     */
    private function finish(int $result): void
    {
        $callbackError = $this->transcriptId !== 0 ? TranscriptRouter::takeError($this->transcriptId) : null;
        $tokenError = $this->tokenId !== 0 ? TokenRouter::takeError($this->tokenId) : null;
        // The token callable's exception explains a failed connect first.
        $callbackError = $tokenError ?? $callbackError;
        if ($result !== 0) {
            throw $this->library->failure($result, $this->handle, $callbackError);
        }
        if ($callbackError !== null) {
            throw $callbackError;
        }
    }

    /** @throws SmtpException */
    private function sendResult(int $result): SendResult
    {
        $ffi = $this->library->ffi();
        if ($result === 0) {
            // Read the thread's last reply before any other call replaces it.
            $code = (int) $ffi->smtp_last_reply_code();
            $enhanced = (string) $ffi->smtp_last_enhanced_code();
            $text = (string) $ffi->smtp_last_reply_text();
        }
        $this->finish($result);
        $omitted = (string) $ffi->smtp_client_omitted_extensions($this->handle());
        return new SendResult(
            $code ?? 0,
            $enhanced ?? '',
            $text ?? '',
            $this->library->recipients($this->handle()),
            $omitted === '' ? [] : explode(',', $omitted),
            (string) $ffi->smtp_client_server($this->handle()),
        );
    }
}
