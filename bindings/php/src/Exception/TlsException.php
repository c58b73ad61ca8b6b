<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * TLS could not be set up: STARTTLS not offered or refused, handshake failure, or the
 * server certificate was refused (`SMTP_ERR_TLS`). Nothing was sent in clear.
 */
class TlsException extends SmtpException
{
}
