<?php

/*
 * Concern: Smtp\Compat\PHPMailer's debug output: SMTPDebug levels and the
 * Debugoutput targets ('echo', 'html', 'error_log', a callable, a logger),
 * fed from libsmtp's transcript, which already hides credentials.
 */

declare(strict_types=1);

namespace Smtp\Compat;

use Smtp\TranscriptDirection;

/**
 * Writes debug lines where PHPMailer 6 code expects them.
 *
 * The target is PHPMailer's `Debugoutput`: an object with a debug()
 * method (a PSR-3 logger; no PSR package is needed, the method is enough),
 * a callable other than the names below (called with the line and the
 * level), 'error_log' (PHP's error_log()), 'html' (escaped, one line,
 * `<br>`), or 'echo' and anything else (a UTC time stamp, a tab, the
 * line). Lines come from libsmtp's transcript, where AUTH exchanges are
 * already "[credentials hidden]", and from the facade's own messages,
 * which never contain the password.
 *
 * @internal
 */
final class DebugOutput
{
    private function __construct()
    {
    }

    /**
     * Writes $text to $target when $level (SMTPDebug) is above 0.
     */
    public static function write(mixed $target, int $level, string $text): void
    {
        if ($level <= 0) {
            return;
        }
        if (is_object($target) && !$target instanceof \Closure && method_exists($target, 'debug')) {
            $target->debug($text);
            return;
        }
        if (!in_array($target, ['echo', 'html', 'error_log'], true) && is_callable($target)) {
            $target($text, $level);
            return;
        }
        if ($target === 'error_log') {
            error_log($text);
            return;
        }
        if ($target === 'html') {
            echo htmlentities((string) preg_replace('/[\r\n]+/', '', $text), ENT_QUOTES, 'UTF-8'), "<br>\n";
            return;
        }
        $lines = preg_split('/\r\n|\r|\n/', trim($text)) ?: [''];
        echo gmdate('Y-m-d H:i:s'), "\t", implode("\n\t", $lines), "\n";
    }

    /**
     * The debug line for one transcript line at $level, or null when that
     * level does not show it: the client's lines from DEBUG_CLIENT, the
     * server's from DEBUG_SERVER, the library's notes (connection, TLS,
     * failover) from DEBUG_CONNECTION.
     */
    public static function transcriptLine(TranscriptDirection $direction, string $line, int $level): ?string
    {
        return match ($direction) {
            TranscriptDirection::Sent => $level >= SMTP::DEBUG_CLIENT ? 'CLIENT -> SERVER: ' . $line : null,
            TranscriptDirection::Received => $level >= SMTP::DEBUG_SERVER ? 'SERVER -> CLIENT: ' . $line : null,
            TranscriptDirection::Info => $level >= SMTP::DEBUG_CONNECTION ? 'Connection: ' . $line : null,
        };
    }
}
