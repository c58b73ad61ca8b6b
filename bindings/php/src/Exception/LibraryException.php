<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * libsmtp could not be loaded or used: not found, not loadable by FFI, the wrong
 * version, FFI disabled, or an internal error in the library (`SMTP_ERR_PANIC`).
 */
class LibraryException extends SmtpException
{
}
