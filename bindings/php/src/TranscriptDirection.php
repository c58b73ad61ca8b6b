<?php

declare(strict_types=1);

namespace Smtp;

/**
 * Which way a transcript line went (libsmtp's `smtp_direction`).
 */
enum TranscriptDirection: int
{
    /** A line the client sent (authentication data replaced by "[credentials hidden]"). */
    case Sent = 0;
    /** A line the server sent. */
    case Received = 1;
    /** A note from the library (connected, TLS established...). */
    case Info = 2;
}
