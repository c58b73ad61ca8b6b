<?php

declare(strict_types=1);

namespace Smtp\Exception;

/**
 * Base class of every exception the Smtp bindings throw.
 *
 * Besides the message (which never contains a password or token) it
 * carries what the server said, when the failure involved a reply: the
 * three-digit SMTP code, the RFC 3463 enhanced status code and the reply
 * text; and libsmtp's result code (a stable `smtp_result` number, also
 * available as getCode()).
 */
class SmtpException extends \RuntimeException
{
    /** libsmtp's result names, by number (include/smtp.h, `smtp_result`). */
    public const RESULT_NAMES = [
        0 => 'SMTP_OK',
        1 => 'SMTP_ERR_CONNECT',
        2 => 'SMTP_ERR_TIMEOUT',
        3 => 'SMTP_ERR_TLS',
        4 => 'SMTP_ERR_REJECTED',
        5 => 'SMTP_ERR_RECIPIENTS_REFUSED',
        6 => 'SMTP_ERR_AUTH',
        7 => 'SMTP_ERR_NO_COMPATIBLE_AUTH',
        8 => 'SMTP_ERR_PLAINTEXT_AUTH_REFUSED',
        9 => 'SMTP_ERR_PROTOCOL',
        10 => 'SMTP_ERR_INVALID_INPUT',
        11 => 'SMTP_ERR_UNSUPPORTED',
        12 => 'SMTP_ERR_DELIVERY_UNKNOWN',
        13 => 'SMTP_ERR_BODY_READ',
        14 => 'SMTP_ERR_NOT_CONNECTED',
        15 => 'SMTP_ERR_IO',
        100 => 'SMTP_ERR_NULL_PARAMETER',
        101 => 'SMTP_ERR_INVALID_UTF8',
        102 => 'SMTP_ERR_PANIC',
        199 => 'SMTP_ERR_OTHER',
    ];

    /**
     * @param string $message what went wrong, for people
     * @param int $resultCode libsmtp's `smtp_result` value (0 when the failure was detected in PHP)
     * @param int $smtpCode the server's reply code (e.g. 535), 0 when no reply was involved
     * @param string $enhancedCode the server's enhanced status code (e.g. "5.7.8"), "" if none
     * @param string $serverText the server's reply text without the codes, "" if none
     */
    public function __construct(
        string $message,
        private readonly int $resultCode = 0,
        private readonly int $smtpCode = 0,
        private readonly string $enhancedCode = '',
        private readonly string $serverText = '',
        ?\Throwable $previous = null,
    ) {
        parent::__construct($message, $resultCode, $previous);
    }

    /** libsmtp's result code (`smtp_result`), 0 for failures found in PHP. */
    public function getResultCode(): int
    {
        return $this->resultCode;
    }

    /** The result code's C name, e.g. "SMTP_ERR_AUTH" ("" when found in PHP). */
    public function getResultName(): string
    {
        if ($this->resultCode === 0) {
            return '';
        }
        return self::RESULT_NAMES[$this->resultCode] ?? 'SMTP_ERR_OTHER';
    }

    /** The server's three-digit reply code (535, 550...), 0 when no reply was involved. */
    public function getSmtpCode(): int
    {
        return $this->smtpCode;
    }

    /** The server's enhanced status code ("5.7.8"), "" when it sent none. */
    public function getEnhancedCode(): string
    {
        return $this->enhancedCode;
    }

    /** The text of the server's reply, without the codes; "" when no reply was involved. */
    public function getServerText(): string
    {
        return $this->serverText;
    }

    /** The server's reply as one line, e.g. "535 5.7.8 Error: authentication failed"; "" if none. */
    public function getServerReply(): string
    {
        if ($this->smtpCode === 0) {
            return '';
        }
        return trim($this->smtpCode . ' ' . $this->enhancedCode . ' ' . $this->serverText);
    }
}
