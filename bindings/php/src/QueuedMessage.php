<?php

declare(strict_types=1);

namespace Smtp;

/**
 * One message of an Outbox, as Outbox::list() shows it: a snapshot, not updated later.
 */
final class QueuedMessage
{
    /**
     * @param string $id the queue id (letters, digits, dots), for hold(), release(), requeue(), remove()
     * @param string $sender the envelope sender ("" for the null sender of a bounce)
     * @param int $size its size in bytes
     * @param int $attempts delivery attempts so far
     * @param int $created when it was queued (Unix time)
     * @param int $nextAttempt when deliverDue() tries it next (Unix time)
     * @param bool $held held: not delivered until released
     * @param bool $possibleDuplicate a connection died after its end was sent: the next delivery may
     *             be a duplicate
     * @param ?string $lastError the error that last deferred it as a whole, null if none
     * @param ?string $problem what is wrong with its files (a corrupt state file, a message file
     *             without state), null if nothing: such a message is never delivered
     * @param list<QueuedRecipient> $recipients every recipient and where it stands
     */
    public function __construct(
        public readonly string $id,
        public readonly string $sender,
        public readonly int $size,
        public readonly int $attempts,
        public readonly int $created,
        public readonly int $nextAttempt,
        public readonly bool $held,
        public readonly bool $possibleDuplicate,
        public readonly ?string $lastError,
        public readonly ?string $problem,
        public readonly array $recipients,
    ) {
    }
}
