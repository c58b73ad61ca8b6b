<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * The server refused a command with a 4xx or 5xx reply (`SMTP_ERR_REJECTED`): the
 * sender, the message, or a command. getSmtpCode() tells temporary (4xx) from permanent (5xx).
 */
class RejectedException extends SmtpException
{
}
