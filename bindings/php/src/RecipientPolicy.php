<?php

declare(strict_types=1);

namespace Smtp;

/**
 * What to do when some recipients of a message are refused
 * (libsmtp's `smtp_recipient_policy`).
 */
enum RecipientPolicy: int
{
    /**
     * Deliver to the accepted recipients; the send fails only when none is
     * accepted. SendResult::refused() lists the others.
     */
    case DeliverToAccepted = 0;
    /** Send nothing unless every recipient is accepted. */
    case AllOrNothing = 1;
}
