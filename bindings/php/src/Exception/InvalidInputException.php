<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * A value passed in is invalid: wrong type, NUL byte, CR or LF in a header, a bad
 * address or URL, a number out of range, text that is not UTF-8 (`SMTP_ERR_INVALID_INPUT`,
 * `SMTP_ERR_INVALID_UTF8`, `SMTP_ERR_NULL_PARAMETER`, or found in PHP). Nothing was sent.
 */
class InvalidInputException extends SmtpException
{
}
