<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * The outbox's directory could not be read or written (`SMTP_ERR_SPOOL`): the disk is
 * full, a permission is missing, or a runner is delivering the message a control call
 * named. Nothing was queued. Transient: trying again later may work.
 */
class SpoolException extends SmtpException
{
}
