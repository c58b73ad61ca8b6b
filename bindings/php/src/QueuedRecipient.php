<?php

declare(strict_types=1);

namespace Smtp;

/**
 * One recipient of a queued message (QueuedMessage::$recipients) and where it stands.
 */
final class QueuedRecipient
{
    /** Not tried yet. */
    public const PENDING = 'pending';

    /** Refused for now (4xx, or the attempt failed): tried again later. */
    public const DEFERRED = 'deferred';

    /** Accepted by the server: never sent again. */
    public const DELIVERED = 'delivered';

    /** Refused for good (5xx, or the message's lifetime ran out). */
    public const FAILED = 'failed';

    /**
     * @param string $address the envelope address
     * @param string $status one of the constants: 'pending', 'deferred', 'delivered', 'failed'
     * @param string $reply the server's last reply about it ("" if none yet)
     */
    public function __construct(
        public readonly string $address,
        public readonly string $status,
        public readonly string $reply,
    ) {
    }
}
