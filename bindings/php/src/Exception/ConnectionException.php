<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * The connection failed: no server answered, the network failed, the server broke the
 * protocol or closed the session (`SMTP_ERR_CONNECT`, `SMTP_ERR_IO`, `SMTP_ERR_PROTOCOL`,
 * `SMTP_ERR_NOT_CONNECTED`). Connecting again may work.
 */
class ConnectionException extends SmtpException
{
}
