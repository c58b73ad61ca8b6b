<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * Authentication failed: the server refused the credentials (usually 535), offers no
 * mechanism that can use them, or they would have gone without TLS to another
 * machine (`SMTP_ERR_AUTH`, `SMTP_ERR_NO_COMPATIBLE_AUTH`, `SMTP_ERR_PLAINTEXT_AUTH_REFUSED`).
 */
class AuthenticationException extends SmtpException
{
}
