<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * The server did not answer, or did not take data, in time (`SMTP_ERR_TIMEOUT`).
 */
class TimeoutException extends ConnectionException
{
}
