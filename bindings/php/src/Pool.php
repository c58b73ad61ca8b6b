<?php

declare(strict_types=1);

namespace Smtp;

use FFI;
use FFI\CData;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\LibraryException;
use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\Internal\Arg;
use Smtp\Internal\ClientSettings;
use Smtp\Internal\PoolSettings;
use Smtp\Internal\TokenRouter;

/**
 * A pool of connections to one server (a libsmtp `smtp_pool`), for a
 * long-running PHP worker, a queue consumer sending message after
 * message: sessions are kept open between sends and reused; one the
 * server closed while idle is replaced before the next message starts
 * (never a failure of that message); idle ones are closed after
 * `idleTimeout`, used ones retired after `maxMessagesPerConnection`, and
 * `rate` spaces the messages.
 *
 * ```php
 * $pool = new Pool(url: 'smtp://mail.example.org:587', user: 'me', password: $secret,
 *                  maxConnections: 2, idleTimeout: 60, rate: 10);
 * while ($job = $queue->next()) {
 *     $pool->send($job->message());          // SendResult, or an SmtpException
 * }
 * $pool->close();
 * ```
 *
 * Settings are Mailer's (but the transcript, the insecure switches and
 * the outbox; the proxy included) plus the pool options, all fixed when
 * the pool is made.
 * Results and exceptions are Mailer's. The native pool is thread-safe;
 * the Pool object follows PHP's rules (one thread, PHP's ZTS builds
 * included). A forked child must make its own Pool.
 */
final class Pool
{
    private Library $library;

    private ?CData $handle = null;

    /** The token provider's id (0: none) and the C int it is passed through. */
    private int $tokenId = 0;

    private ?CData $tokenCell = null;

    /**
     * Creates a pool (no connection yet: the first send opens one).
     *
     * Give either $url or $host (default "localhost"). The client
     * settings are Mailer's constructor arguments of the same names;
     * the pool options follow.
     *
     * @param mixed $host host name or address; "host:port" works too
     * @param mixed $port 0/null: the default for the security mode (465 implicit, else 587)
     * @param mixed $security a Security case or its name
     * @param mixed $user user name for authentication (with $password or $token)
     * @param mixed $password password
     * @param mixed $token OAuth 2.0 bearer token instead of a password: a string, or a callable
     *              as for Mailer, asked for a token when a session opens and there is none or it
     *              expires within 'token_refresh_margin', or the server refused it; one token is
     *              shared by every session. libsmtp's pool opens sessions only inside the send()
     *              PHP called, on the calling thread, so the callable runs on PHP's thread (see
     *              Internal\TokenRouter); its exception is the previous one of the send's
     *              AuthenticationException
     * @param mixed $caFile PEM file (or list of files) of CAs to trust besides the system's
     * @param mixed $timeout seconds to wait for each server reply
     * @param mixed $connectTimeout seconds to open a connection (default 30); also how long a send
     *              waits for a session when maxConnections are busy
     * @param mixed $totalTimeout limit in seconds on each whole call
     * @param mixed $clientName the name sent with EHLO
     * @param mixed $mechanism force one SASL mechanism
     * @param mixed $recipientPolicy a RecipientPolicy
     * @param mixed $url smtp://[user[:password]@]host[:port][?options] or smtps://...
     * @param ?Library $library the libsmtp to use (default Library::get())
     * @param mixed $pipelining false: never PIPELINING
     * @param mixed $chunking false: never CHUNKING (BDAT)
     * @param mixed $longLines 'repair' (default) or 'refuse', as for Mailer
     * @param mixed $options any option by name, the library's pool options ('max_connections',
     *              'idle_timeout'...) and client options ('tls_server_name'...): set last, so they
     *              win; an unknown name or a bad value is an InvalidInputException naming it
     * @param mixed $maxConnections most sessions open at once (default 4)
     * @param mixed $idleTimeout seconds (or "500ms", "5m") after which an idle session is closed (default 60)
     * @param mixed $maxMessagesPerConnection a session is closed after this many messages (default 100; 0: no limit)
     * @param mixed $noopAfter seconds after which an idle session must answer NOOP before reuse (default 30)
     * @param mixed $rate most messages per second for the pool (default: no limit)
     * @param mixed $maxRecipients a message with more recipients goes in several transactions (default: no limit)
     * @param mixed $backoff seconds of pause after the server said it is overloaded (default 1), doubled up to $maxBackoff
     * @param mixed $maxBackoff the longest pause in seconds (default 60)
     * @param mixed $proxy the SOCKS5 or HTTP CONNECT proxy every session goes through, as for
     *              Mailer ('socks5://user:password@host:port', 'http://...'; null, false or 'off': none)
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
        #[\SensitiveParameter] mixed $url = null,
        ?Library $library = null,
        mixed $pipelining = null,
        mixed $chunking = null,
        mixed $longLines = null,
        #[\SensitiveParameter] mixed $options = [],
        mixed $maxConnections = null,
        mixed $idleTimeout = null,
        mixed $maxMessagesPerConnection = null,
        mixed $noopAfter = null,
        mixed $rate = null,
        mixed $maxRecipients = null,
        mixed $backoff = null,
        mixed $maxBackoff = null,
        #[\SensitiveParameter] mixed $proxy = null,
    ) {
        $this->library = $library ?? Library::get();
        // Everything is checked before the native pool exists.
        $settings = [
            ...PoolSettings::client(
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
                $pipelining,
                $chunking,
                $longLines,
            ),
            ...($proxy === null ? [] : [['proxy', ClientSettings::proxy($proxy)]]),
            ...PoolSettings::pool(compact(array_keys(PoolSettings::POOL_OPTIONS))),
            ...PoolSettings::named($options),
        ];
        if ($url !== null) {
            if ($host !== null || $port !== null) {
                throw new InvalidInputException('give either a URL or host/port, not both (the port goes in the URL)');
            }
            $server = Arg::text($url, 'url');
            if (!str_contains($server, '://')) {
                throw new InvalidInputException('url must start with smtp:// or smtps://');
            }
        } else {
            $server = Arg::text($host ?? 'localhost', 'host');
            if (trim($server) === '' || str_contains($server, '://')) {
                throw new InvalidInputException(trim($server) === '' ? 'host is empty' : 'host is a URL; pass it as url:');
            }
            if (strlen($server) > 300) {
                throw new InvalidInputException('host is too long (' . strlen($server) . ' bytes)');
            }
            $port = Arg::port($port);
            if ($port !== 0) {
                array_unshift($settings, ['port', (string) $port]);
            }
        }
        $ffi = $this->library->ffi();
        $out = $ffi->new('smtp_pool*');
        $this->library->check($ffi->smtp_pool_new($server, FFI::addr($out)));
        $this->handle = $out;
        try {
            foreach ($settings as [$name, $value]) {
                $this->library->check($ffi->smtp_pool_set_option($out, $name, $value));
            }
            if ($token !== null && TokenRouter::isProvider($token)) {
                $this->tokenId = TokenRouter::register($token);
                $cell = $ffi->new('int32_t');
                $cell->cdata = $this->tokenId;
                $this->tokenCell = $cell;
                $this->library->check($ffi->smtp_pool_set_token_provider(
                    $out,
                    null,
                    $this->library->tokenCallback(),
                    $ffi->cast('void*', FFI::addr($cell)),
                ));
            }
        } catch (\Throwable $e) {
            // A constructor that throws gets no __destruct: free here.
            $this->free();
            throw $e;
        }
    }

    /**
     * Sends a composed message on a session of the pool (opening one if
     * none is idle), the envelope taken from the message. Results as for
     * Mailer::send(): a SendResult (SendResult::refused() lists refused
     * recipients when others got it), or a RecipientsRefusedException
     * when every recipient was refused, or the exception of what failed.
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
        $handle = $this->handle();
        return $this->sendResult($this->library->ffi()->smtp_pool_send_message($handle, $native), $handle);
    }

    /**
     * Sends a message the caller formatted completely (headers, empty
     * line, body; LF or CRLF line endings) with the envelope $from ("" for
     * the null sender) and $to ("a@x, b@y" or a list); the bytes go out
     * unchanged. Results as for send().
     *
     * @param mixed $data the message
     * @param mixed $from the envelope sender, "" for the null sender
     * @param mixed $to the envelope recipients: "a@x, b@y" or a list
     * @throws SmtpException
     */
    public function sendRaw(mixed $data, mixed $from, mixed $to): SendResult
    {
        $data = Arg::bytes($data, 'data');
        $from = Arg::text($from, 'from');
        $to = Arg::addressList($to, 'to');
        $handle = $this->handle();
        $result = $this->library->ffi()->smtp_pool_send_raw($handle, $from, $to, $data, strlen($data));
        return $this->sendResult($result, $handle);
    }

    /** Sessions open now (idle, or being used); 0 before the first send and after close(). */
    public function openConnections(): int
    {
        return $this->handle === null ? 0 : (int) $this->library->ffi()->smtp_pool_open_connections($this->handle);
    }

    /** Sessions idle now, kept for the next sends. */
    public function idleConnections(): int
    {
        return $this->handle === null ? 0 : (int) $this->library->ffi()->smtp_pool_idle_connections($this->handle);
    }

    /**
     * Says QUIT on every session and closes them. Later sends throw a
     * ConnectionException; a closed pool cannot be opened again (make a
     * new one). Closing twice does nothing.
     */
    public function close(): void
    {
        if ($this->handle !== null) {
            $this->library->check($this->library->ffi()->smtp_pool_close($this->handle));
        }
    }

    /** The libsmtp this pool uses. */
    public function library(): Library
    {
        return $this->library;
    }

    /** Frees the native pool (QUIT without waiting for the reply on idle sessions). */
    public function __destruct()
    {
        $this->free();
    }

    /**
     * A Pool owns native connections and cannot be copied.
     *
     * @throws LibraryException always
     */
    public function __clone()
    {
        // The copy must not free the original's handle when it goes away.
        $this->handle = null;
        $this->tokenId = 0;
        $this->tokenCell = null;
        throw new LibraryException('a Smtp\Pool cannot be cloned (it owns native connections)');
    }

    /**
     * Not serializable (native connections).
     *
     * @throws LibraryException always
     */
    public function __serialize(): array
    {
        throw new LibraryException('a Smtp\Pool cannot be serialized');
    }

    /**
     * Not serializable (native connections).
     *
     * @param array<mixed> $data
     * @throws LibraryException always
     */
    public function __unserialize(array $data): void
    {
        throw new LibraryException('a Smtp\Pool cannot be unserialized');
    }

    /** Hides the native handle (and the settings, which may hold a password) from var_dump(). */
    public function __debugInfo(): array
    {
        return [
            'openConnections' => $this->openConnections(),
            'idleConnections' => $this->idleConnections(),
            'library' => $this->library->origin(),
        ];
    }

    private function free(): void
    {
        if ($this->handle !== null) {
            $handle = $this->handle;
            $this->handle = null;
            $this->library->ffi()->smtp_pool_free($handle);
        }
        if ($this->tokenId !== 0) {
            TokenRouter::unregister($this->tokenId);
            $this->tokenId = 0;
        }
        $this->tokenCell = null;
    }

    /** @throws SmtpException */
    private function handle(): CData
    {
        return $this->handle ?? throw new ConnectionException('this Pool was freed', 14);
    }

    /**
     * The SendResult of a send, or its exception, from this thread's last
     * message and the pool's per-recipient replies for this thread.
     *
     * @throws SmtpException
     */
    private function sendResult(int $result, CData $handle): SendResult
    {
        $ffi = $this->library->ffi();
        // Read before any other call replaces them (the accessors below do not).
        $message = (string) $ffi->smtp_last_message();
        $code = (int) $ffi->smtp_last_reply_code();
        $enhanced = (string) $ffi->smtp_last_enhanced_code();
        $text = (string) $ffi->smtp_last_reply_text();
        $tokenError = $this->tokenId !== 0 ? TokenRouter::takeError($this->tokenId) : null;
        if ($result !== 0) {
            $recipients = $result === 5 ? $this->library->poolRecipients($handle) : [];
            throw $this->library->exception($result, $message, $code, $enhanced, $text, $recipients, $tokenError);
        }
        return new SendResult($code, $enhanced, $text, $this->library->poolRecipients($handle));
    }
}
