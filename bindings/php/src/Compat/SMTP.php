<?php

/*
 * Concern: the debug-level constants PHPMailer 6 code reads from its SMTP
 * class (SMTP::DEBUG_SERVER...), for Smtp\Compat\PHPMailer's SMTPDebug.
 */

declare(strict_types=1);

namespace Smtp\Compat;

/**
 * Constants only: code that writes `$mail->SMTPDebug = SMTP::DEBUG_SERVER;`
 * keeps working after `use Smtp\Compat\SMTP;`. The protocol itself is
 * libsmtp's; PHPMailer's low-level SMTP client (connect(), hello(),
 * mail(), data()...) is not provided.
 */
final class SMTP
{
    /** No debug output. */
    public const DEBUG_OFF = 0;

    /** The commands this client sends. */
    public const DEBUG_CLIENT = 1;

    /** Commands and the server's replies. */
    public const DEBUG_SERVER = 2;

    /** Also what happens on the connection (TLS, failover, closing). */
    public const DEBUG_CONNECTION = 3;

    /** The same as DEBUG_CONNECTION here (libsmtp reports no lower level). */
    public const DEBUG_LOWLEVEL = 4;

    private function __construct()
    {
    }
}
