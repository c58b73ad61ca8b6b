<?php

/*
 * Concern: the exception Smtp\Compat\PHPMailer throws in exceptions mode,
 * shaped like the one PHPMailer 6 users catch.
 */

declare(strict_types=1);

namespace Smtp\Compat;

/**
 * Thrown by Smtp\Compat\PHPMailer created with `new PHPMailer(true)`, and
 * always by calls the facade does not support.
 *
 * Code written for PHPMailer 6 catches `PHPMailer\PHPMailer\Exception`;
 * with `use Smtp\Compat\Exception;` (or a class_alias) the same catch
 * blocks work. The message is the one ErrorInfo gets. When the failure
 * came from libsmtp, getPrevious() is the library's
 * Smtp\Exception\SmtpException with the SMTP code, enhanced code and
 * server text. Messages never contain a password.
 */
class Exception extends \Exception
{
    /**
     * The message as a small HTML fragment (escaped, in bold, with a line
     * break), as PHPMailer's errorMessage() gives it.
     */
    public function errorMessage(): string
    {
        return '<strong>' . htmlspecialchars($this->getMessage(), ENT_COMPAT | ENT_HTML401) . "</strong><br />\n";
    }
}
