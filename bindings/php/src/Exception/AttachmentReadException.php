<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * An attachment file could not be read while sending (`SMTP_ERR_BODY_READ`); the
 * message was not delivered.
 */
class AttachmentReadException extends SmtpException
{
}
