<?php

declare(strict_types=1);

namespace Smtp;

/**
 * What the server said about a message it accepted: its final reply
 * (often with a queue id) and the reply to each recipient.
 */
final class SendResult
{
    /**
     * @param int $code the final reply code (250)
     * @param string $enhancedCode e.g. "2.0.0", "" if none
     * @param string $text the final reply's text, e.g. "Ok: queued as 4XyZ"
     * @param list<RecipientResult> $recipients one entry per envelope recipient, in order
     * @param list<string> $omittedExtensions extensions the message asked for that the
     *        server does not offer and that it went without, as allowed ('DSN',
     *        'MT-PRIORITY'); empty when everything asked for was sent
     * @param string $server the server that took the message, "host:port" (with a
     *        relay list, the one the session failed over to); "" where not known
     */
    public function __construct(
        public readonly int $code,
        public readonly string $enhancedCode,
        public readonly string $text,
        public readonly array $recipients,
        public readonly array $omittedExtensions = [],
        public readonly string $server = '',
    ) {
    }

    /** The final reply as one line, e.g. "250 2.0.0 Ok: queued as 4XyZ". */
    public function reply(): string
    {
        return trim($this->code . ' ' . $this->enhancedCode . ' ' . $this->text);
    }

    /**
     * The recipients the server accepted.
     *
     * @return list<RecipientResult>
     */
    public function accepted(): array
    {
        return array_values(array_filter($this->recipients, static fn (RecipientResult $r): bool => $r->accepted()));
    }

    /**
     * The recipients the server refused (the message did not go to them).
     *
     * @return list<RecipientResult>
     */
    public function refused(): array
    {
        return array_values(array_filter($this->recipients, static fn (RecipientResult $r): bool => !$r->accepted()));
    }

    /** True when every recipient was accepted. */
    public function allAccepted(): bool
    {
        return $this->refused() === [];
    }

    /** The queue id from a Postfix-style reply ("queued as 4XyZ"), or null. */
    public function queueId(): ?string
    {
        return preg_match('/queued as ([A-Za-z0-9]+)/', $this->text, $m) === 1 ? $m[1] : null;
    }
}
