<?php

declare(strict_types=1);

namespace Smtp\Exception;

use Smtp\RecipientResult;

/**
 * The server refused every recipient, or (with the all-or-nothing policy)
 * at least one; nothing was sent (`SMTP_ERR_RECIPIENTS_REFUSED`).
 * getRecipients() gives each recipient's reply.
 */
class RecipientsRefusedException extends SmtpException
{
    /** @var list<RecipientResult> */
    private array $recipients = [];

    /**
     * Attaches the per-recipient replies (done by the bindings when they
     * build the exception).
     *
     * @param list<RecipientResult> $recipients
     * @internal
     */
    public function withRecipients(array $recipients): static
    {
        $this->recipients = $recipients;
        return $this;
    }

    /**
     * Every recipient of the refused send with the server's reply to it.
     *
     * @return list<RecipientResult>
     */
    public function getRecipients(): array
    {
        return $this->recipients;
    }

    /**
     * Only the refused recipients.
     *
     * @return list<RecipientResult>
     */
    public function getRefused(): array
    {
        return array_values(array_filter($this->recipients, static fn (RecipientResult $r): bool => !$r->accepted()));
    }
}
