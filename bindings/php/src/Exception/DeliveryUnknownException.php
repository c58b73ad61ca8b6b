<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * The connection failed after the message started to go out: the server may or may
 * not have accepted it (`SMTP_ERR_DELIVERY_UNKNOWN`). Check before sending again.
 */
class DeliveryUnknownException extends ConnectionException
{
}
