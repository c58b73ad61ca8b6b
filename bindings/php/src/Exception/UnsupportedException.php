<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * The message needs something the server does not offer (SMTPUTF8, 8BITMIME) or is
 * larger than its SIZE limit (`SMTP_ERR_UNSUPPORTED`). Nothing was sent.
 */
class UnsupportedException extends SmtpException
{
}
