<?php

/*
 * Concern: Symfony Mailer's transport interface on top of Smtp\Mailer.
 * A Symfony (or Laravel) message is rendered by Symfony's MIME component
 * and handed to libsmtp as raw bytes with its envelope; libsmtp's
 * failures become Symfony's TransportException. Needs symfony/mailer
 * (Debian: php-symfony-mailer).
 */

declare(strict_types=1);

namespace Smtp\Symfony;

use Psr\EventDispatcher\EventDispatcherInterface;
use Psr\Log\LoggerInterface;
use Smtp\Exception\AuthenticationException;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\DeliveryUnknownException;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Exception\SmtpException;
use Smtp\Exception\TimeoutException;
use Smtp\Exception\TlsException;
use Smtp\Mailer;
use Smtp\RecipientResult;
use Smtp\TranscriptDirection;
use Symfony\Component\Mailer\Exception\InvalidArgumentException;
use Symfony\Component\Mailer\Exception\LogicException;
use Symfony\Component\Mailer\Exception\TransportException;
use Symfony\Component\Mailer\SentMessage;
use Symfony\Component\Mailer\Transport\AbstractTransport;
use Symfony\Component\Mime\Exception\InvalidArgumentException as MimeInvalidArgumentException;
use Symfony\Component\Mime\Message;
use Symfony\Component\Mime\RawMessage;

/**
 * A Symfony Mailer transport that submits messages through libsmtp.
 *
 * Usually made by {@see SmtpSubmitTransportFactory} from a DSN such as
 * `smtp-submit://user:pass@mail.example.org:587` (STARTTLS) or
 * `smtp-submits://user:pass@mail.example.org` (implicit TLS, port 465).
 *
 * Each message is rendered by Symfony's MIME component (Bcc already out of
 * the header) and sent unchanged with the envelope Symfony computed (or the
 * one given to send()), over one connection that stays open between
 * messages: the first send() connects, later ones reuse the session (after
 * a NOOP when it was idle for longer than the ping threshold, reconnecting
 * if the server has gone). stop() says QUIT; destruction closes it.
 *
 * The returned SentMessage carries the server's queue id as its message id
 * when the server names one ("250 2.0.0 Ok: queued as 4XyZ"; as Symfony's
 * own SMTP transport does since 6.1), else the Message-ID header's id, and
 * the session's transcript (credentials hidden) as its debug text.
 *
 * Every libsmtp failure is a Symfony TransportException (code: the SMTP
 * reply code, 0 if none; previous: the Smtp\Exception with all details).
 * With the default all-or-nothing recipient policy a refused recipient
 * fails the whole message before anything is sent, as with Symfony's own
 * SMTP transport; with `recipient_policy=deliver_to_accepted` the message
 * goes to the accepted ones and the refusals are only in the debug text and
 * the logger (a warning). No message, debug text, log line or dump carries
 * the password.
 */
final class SmtpSubmitTransport extends AbstractTransport
{
    /** Debug text kept per message at most (the transcript summarises bodies, so this is generous). */
    private const DEBUG_LIMIT = 65536;

    private Mailer $mailer;

    /** This transport as Symfony prints it, e.g. "smtp-submit://mail.example.org:587". */
    private string $name;

    /**
     * The transcript since the current send began, in ->text. An object of
     * its own so that the transcript closure (kept by libsmtp's callback
     * registry until the Mailer closes) does not hold the transport: the
     * transport can then go away, and its destructor close the Mailer.
     */
    private \stdClass $debug;

    /** Seconds of idleness after which a NOOP checks the session before the next message. */
    private float $pingThreshold = 100.0;

    /** When the last message went out (0: never, or the session failed since). */
    private float $lastMessageTime = 0.0;

    /**
     * Creates the transport and its Smtp\Mailer (which does not connect yet).
     *
     * @param array<string, mixed> $mailerArguments named arguments of Smtp\Mailer's constructor
     *        ('host', 'port', 'security', 'user', 'password', 'caFile', 'options', 'url'...); a
     *        'transcript' callable given there still gets every line
     * @param ?EventDispatcherInterface $dispatcher Symfony's event dispatcher (MessageEvent listeners)
     * @param ?LoggerInterface $logger where refused recipients are reported
     * @param ?string $name what __toString() returns (default: built from host, port and security)
     * @throws InvalidArgumentException for a setting libsmtp refuses (its message names the
     *         setting, never a secret)
     */
    public function __construct(
        #[\SensitiveParameter] array $mailerArguments,
        ?EventDispatcherInterface $dispatcher = null,
        ?LoggerInterface $logger = null,
        ?string $name = null,
    ) {
        parent::__construct($dispatcher, $logger);
        $userTranscript = $mailerArguments['transcript'] ?? null;
        if ($userTranscript !== null && !is_callable($userTranscript)) {
            throw new InvalidArgumentException('transcript must be callable');
        }
        $debug = new \stdClass();
        $debug->text = '';
        $this->debug = $debug;
        $mailerArguments['transcript'] = static function (TranscriptDirection $direction, string $line) use ($debug, $userTranscript): void {
            if (strlen($debug->text) < self::DEBUG_LIMIT) {
                $prefix = match ($direction) {
                    TranscriptDirection::Sent => '> ',
                    TranscriptDirection::Received => '< ',
                    TranscriptDirection::Info => '* ',
                };
                $debug->text .= $prefix . $line . "\n";
            }
            if ($userTranscript !== null) {
                $userTranscript($direction, $line);
            }
        };
        try {
            $this->mailer = new Mailer(...$mailerArguments);
        } catch (InvalidInputException $e) {
            throw new InvalidArgumentException('smtp-submit: ' . $e->getMessage(), 0, $e);
        } catch (SmtpException $e) {
            throw new InvalidArgumentException('smtp-submit: ' . $e->getMessage(), 0, $e);
        } catch (\Error $e) {
            // An unknown named argument ("Unknown named parameter $x").
            throw new InvalidArgumentException('smtp-submit: ' . $e->getMessage(), 0, $e);
        }
        $this->name = $name ?? self::describe($mailerArguments);
    }

    /**
     * Sets how long (seconds) the session may stay idle before the next
     * message checks it with a NOOP (default 100, as Symfony's SMTP
     * transport); 0 checks before every message.
     *
     * @return $this
     */
    public function setPingThreshold(float $seconds): self
    {
        if ($seconds < 0 || !is_finite($seconds)) {
            throw new InvalidArgumentException('ping threshold must be a number of seconds, 0 or more');
        }
        $this->pingThreshold = $seconds;
        return $this;
    }

    /**
     * The Smtp\Mailer underneath, for what Symfony's interface does not
     * cover (serverInfo(), connect() to check the settings early).
     */
    public function getMailer(): Mailer
    {
        return $this->mailer;
    }

    /**
     * Ends the session with QUIT, if one is open. The next send()
     * connects again. Never throws: a server that is already gone is
     * simply closed.
     */
    public function stop(): void
    {
        try {
            $this->mailer->quit();
        } catch (SmtpException) {
            // The session is unusable anyway; the next send() reconnects.
        }
        $this->lastMessageTime = 0.0;
    }

    /** "smtp-submit://host:port" (or "smtp-submits://..." for implicit TLS); never credentials. */
    public function __toString(): string
    {
        return $this->name;
    }

    /** Closes the session (QUIT without waiting) and frees the native client. */
    public function __destruct()
    {
        if (isset($this->mailer)) {
            $this->mailer->close();
        }
    }

    /**
     * Not copyable: the transport owns a connection.
     *
     * @throws LogicException always
     */
    public function __clone()
    {
        throw new LogicException('a ' . self::class . ' cannot be cloned (it owns a connection); make another from the DSN');
    }

    /**
     * Not serializable (a connection and credentials).
     *
     * @throws LogicException always
     */
    public function __serialize(): array
    {
        throw new LogicException('a ' . self::class . ' cannot be serialized');
    }

    /**
     * Not serializable (a connection and credentials).
     *
     * @param array<mixed> $data
     * @throws LogicException always
     */
    public function __unserialize(array $data): void
    {
        throw new LogicException('a ' . self::class . ' cannot be unserialized');
    }

    /** What var_dump() and print_r() show: no settings, no credentials. */
    public function __debugInfo(): array
    {
        return ['transport' => $this->name, 'connected' => isset($this->mailer) && $this->mailer->isConnected()];
    }

    /**
     * Sends one message (AbstractTransport::send() has already applied the
     * MessageEvent listeners and built the envelope).
     *
     * @throws TransportException
     */
    protected function doSend(SentMessage $message): void
    {
        // Render first: a message Symfony cannot render (an unreadable
        // attachment: Symfony's own exception) fails before any command is
        // sent. PHP refuses some paths with a ValueError (a NUL byte in an
        // attachment's path): that becomes Symfony's InvalidArgumentException
        // for paths it cannot open.
        try {
            $data = $message->toString();
        } catch (\ValueError $e) {
            throw new MimeInvalidArgumentException('The message cannot be rendered: ' . $e->getMessage(), 0, $e);
        }
        self::checkRendered($message->getOriginalMessage(), $data);
        $envelope = $message->getEnvelope();
        $from = $envelope->getSender()->getEncodedAddress();
        $to = [];
        foreach ($envelope->getRecipients() as $recipient) {
            $to[] = $recipient->getEncodedAddress();
        }

        $this->debug->text = '';
        $this->checkIdleSession();
        try {
            $result = $this->mailer->sendRaw($data, $from, $to);
        } catch (SmtpException $e) {
            $this->lastMessageTime = 0.0;
            $exception = $this->transportException($e);
            $exception->appendDebug($this->takeDebug());
            throw $exception;
        }
        $this->lastMessageTime = microtime(true);

        $refused = $result->refused();
        if ($refused !== []) {
            $lines = array_map(static fn (RecipientResult $r): string => $r->address . ': ' . $r->reply(), $refused);
            $this->debug->text .= '* refused recipients (the message went to the others): ' . implode('; ', $lines) . "\n";
            $this->getLogger()->warning('{transport}: {count} recipient(s) refused, the message went to the others: {refused}', [
                'transport' => $this->name,
                'count' => count($refused),
                'refused' => implode('; ', $lines),
            ]);
        }
        $queueId = $result->queueId();
        if ($queueId !== null) {
            $message->setMessageId($queueId);
        }
        $message->appendDebug($this->takeDebug());
    }

    /**
     * Refuses a rendered message whose header Symfony's objects do not
     * account for, and any NUL byte (RFC 5322 allows none).
     *
     * Symfony's MIME component encodes header values, but writes header
     * names and parameter names as given: a line break in one
     * (`addTextHeader("X-A\r\nBcc: x", ...)`, a parameter name of
     * `addParameterizedHeader()`) would put a field of its own into the
     * header. So the rendered header's field names are counted against the
     * message's prepared headers (plus the top part's Content-* fields):
     * a field line no header object explains, or a line that is no field,
     * stops the message before anything is sent.
     *
     * @throws TransportException
     */
    private static function checkRendered(RawMessage $original, string $data): void
    {
        if (str_contains($data, "\0")) {
            throw new TransportException('The message contains a NUL byte (in a header or an attachment name?), which mail cannot carry; nothing was sent.');
        }
        if (!$original instanceof Message) {
            return; // raw bytes from the caller: sent as given
        }
        $allowed = ['content-type' => 1, 'content-transfer-encoding' => 1, 'content-disposition' => 1, 'content-id' => 1];
        foreach ($original->getPreparedHeaders()->all() as $header) {
            $name = strtolower($header->getName());
            $allowed[$name] = ($allowed[$name] ?? 0) + 1;
        }
        $end = strpos($data, "\r\n\r\n");
        $head = $end === false ? $data : substr($data, 0, $end);
        foreach (explode("\r\n", $head) as $number => $line) {
            if ($number > 0 && $line !== '' && ($line[0] === ' ' || $line[0] === "\t")) {
                continue; // a folded continuation
            }
            if (preg_match('/^([!-9;-~]+):/', $line, $m) !== 1) {
                throw new TransportException(sprintf(
                    'Header line %d of the rendered message is not a header field (a line break in a header or parameter name?); nothing was sent.',
                    $number + 1,
                ));
            }
            $name = strtolower($m[1]);
            if (($allowed[$name] ?? 0) === 0) {
                throw new TransportException(sprintf(
                    'Header line %d of the rendered message is a field the message\'s headers do not have (a line break in a header or parameter name?); nothing was sent.',
                    $number + 1,
                ));
            }
            $allowed[$name]--;
        }
    }

    /** A NOOP on a session idle for longer than the ping threshold; a dead one is closed (send() reconnects). */
    private function checkIdleSession(): void
    {
        if ($this->lastMessageTime <= 0.0 || microtime(true) - $this->lastMessageTime < $this->pingThreshold) {
            return;
        }
        if (!$this->mailer->isConnected()) {
            return;
        }
        try {
            $this->mailer->noop();
        } catch (SmtpException) {
            $this->stop();
        }
    }

    /** The transcript collected since the send began, emptied. */
    private function takeDebug(): string
    {
        $debug = $this->debug->text;
        $this->debug->text = '';
        if (strlen($debug) >= self::DEBUG_LIMIT) {
            $debug .= "* (transcript cut at " . self::DEBUG_LIMIT . " bytes)\n";
        }
        return $debug;
    }

    /** Symfony's exception for one of libsmtp's, with the server's reply code as its code. */
    private function transportException(SmtpException $e): TransportException
    {
        $detail = $e->getMessage();
        $message = match (true) {
            $e instanceof AuthenticationException => sprintf('Failed to authenticate on SMTP server %s: %s', $this->name, $detail),
            $e instanceof RecipientsRefusedException => sprintf('The SMTP server %s refused %s; nothing was sent', $this->name, self::refusals($e)),
            $e instanceof TlsException => sprintf('TLS with SMTP server %s failed: %s', $this->name, $detail),
            $e instanceof TimeoutException => sprintf('Timeout with SMTP server %s: %s', $this->name, $detail),
            $e instanceof ConnectionException => sprintf('Connection could not be established with SMTP server %s: %s', $this->name, $detail),
            $e instanceof DeliveryUnknownException => sprintf('The connection to SMTP server %s failed after the message was sent, before its reply; it may have been delivered: %s', $this->name, $detail),
            $e instanceof InvalidInputException => sprintf('The message cannot be sent through %s: %s', $this->name, $detail),
            default => sprintf('Sending through SMTP server %s failed: %s', $this->name, $detail),
        };
        return new TransportException($message, $e->getSmtpCode(), $e);
    }

    /** "a@x (550 5.1.1 ...), b@y (450 ...)" for the refused recipients of $e, else its message. */
    private static function refusals(RecipientsRefusedException $e): string
    {
        $refused = $e->getRefused();
        if ($refused === []) {
            return 'the recipients (' . $e->getMessage() . ')';
        }
        $parts = array_map(static fn (RecipientResult $r): string => $r->address . ' (' . $r->reply() . ')', $refused);
        return (count($refused) === 1 ? 'recipient ' : 'recipients ') . implode(', ', $parts);
    }

    /**
     * "smtp-submit://host:port" from Mailer arguments.
     *
     * @param array<string, mixed> $arguments
     */
    private static function describe(#[\SensitiveParameter] array $arguments): string
    {
        $security = $arguments['security'] ?? ($arguments['options']['security'] ?? ($arguments['options']['tls'] ?? null));
        $security = $security instanceof \Smtp\Security ? $security->name : (is_string($security) ? $security : '');
        $implicit = strcasecmp($security, 'implicit') === 0;
        $host = $arguments['host'] ?? null;
        if (is_array($host)) {
            $host = implode(',', array_filter($host, 'is_string'));
        }
        if (!is_string($host) || $host === '') {
            $url = $arguments['url'] ?? null;
            $parsed = is_string($url) ? parse_url($url) : false;
            if (is_array($parsed) && isset($parsed['host'])) {
                $implicit = $implicit || ($parsed['scheme'] ?? '') === 'smtps';
                $host = $parsed['host'];
                $arguments['port'] ??= $parsed['port'] ?? null;
            } else {
                $host = 'localhost';
            }
        }
        $port = $arguments['port'] ?? null;
        $port = is_int($port) && $port > 0 ? $port : ($implicit ? 465 : 587);
        if (substr_count($host, ':') > 1 && !str_contains($host, ',') && !str_starts_with($host, '[')) {
            $host = "[$host]"; // an IPv6 address
        }
        // A relay list carries its own ports; a "host:port" string too.
        $hostPort = str_contains($host, ',') || preg_match('/^(\[[^\]]*\]|[^:]*):\d+$/', $host) === 1 ? $host : "$host:$port";
        return ($implicit ? 'smtp-submits://' : 'smtp-submit://') . $hostPort;
    }
}
