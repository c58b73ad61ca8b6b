<?php

declare(strict_types=1);

namespace Smtp;

/**
 * What Outbox::flush() or Outbox::deliverDue() did: counts, and each message tried as
 * ['id' => string, 'outcome' => string, 'notification' => ?string, 'error' => ?string],
 * where outcome is one of the constants, notification the id of the bounce queued about
 * it and error what deferred or failed it as a whole.
 */
final class DeliveryReport
{
    /** Every recipient accepted: the message left the queue. */
    public const DELIVERED = 'delivered';

    /** Done, some recipients failed for good: a bounce went to the sender. */
    public const BOUNCED = 'bounced';

    /** Some recipients are still open: the message stays queued. */
    public const DEFERRED = 'deferred';

    /** Another runner was delivering it: left alone. */
    public const BUSY = 'busy';

    /** Its files are broken: left in the queue, never delivered. */
    public const BROKEN = 'broken';

    /**
     * @param int $delivered messages delivered to every recipient
     * @param int $deferred messages still queued
     * @param int $bounced messages done with some recipients failed (bounced to the sender)
     * @param list<array{id: string, outcome: string, notification: ?string, error: ?string}> $messages
     */
    public function __construct(
        public readonly int $delivered,
        public readonly int $deferred,
        public readonly int $bounced,
        public readonly array $messages,
    ) {
    }
}
