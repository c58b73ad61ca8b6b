<?php

declare(strict_types=1);

namespace Smtp;

/**
 * The server's reply to one recipient (RCPT TO) of a send.
 */
final class RecipientResult
{
    /**
     * @param string $address the recipient's address as sent
     * @param int $code the reply code: 250 accepted, 550 refused, 450 try later...
     * @param string $enhancedCode the enhanced status code ("5.1.1"), "" if none
     * @param string $text the reply text without the codes
     */
    public function __construct(
        public readonly string $address,
        public readonly int $code,
        public readonly string $enhancedCode,
        public readonly string $text,
    ) {
    }

    /** True when the server accepted this recipient (a 2xx reply). */
    public function accepted(): bool
    {
        return $this->code >= 200 && $this->code < 300;
    }

    /** True for a temporary refusal (4xx): sending to it later may work. */
    public function isTemporaryFailure(): bool
    {
        return $this->code >= 400 && $this->code < 500;
    }

    /** The reply as one line, e.g. "550 5.1.1 <x@example.org>: Recipient address rejected". */
    public function reply(): string
    {
        return trim($this->code . ' ' . $this->enhancedCode . ' ' . $this->text);
    }
}
