<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * Reading what a capture server (ScriptedServer::capture()) saw: command
 * lines, mail transactions, DATA bodies checked the way a strict server
 * reads them, and MIME text bodies decoded. The same rules as the Rust
 * tests' tests/src/support.rs (normalise_crlf, bare_line_breaks,
 * data_content).
 */
final class Wire
{
    /** Every CR, LF and CRLF as CRLF; with $terminateLast a final CRLF added if missing. */
    public static function normalise(string $input, bool $terminateLast = false): string
    {
        $out = preg_replace('/\r\n|\r|\n/', "\r\n", $input) ?? $input;
        if ($terminateLast && $out !== '' && !str_ends_with($out, "\r\n")) {
            $out .= "\r\n";
        }
        return $out;
    }

    /** LF line endings (how Postfix stores a message), after normalising. */
    public static function lf(string $input): string
    {
        return str_replace("\r\n", "\n", self::normalise($input));
    }

    /**
     * Offsets of every CR not followed by LF and every LF not preceded by CR.
     *
     * @return list<int>
     */
    public static function bareLineBreaks(string $bytes): array
    {
        $found = [];
        $n = strlen($bytes);
        for ($i = 0; $i < $n; $i++) {
            if ($bytes[$i] === "\r" && ($i + 1 >= $n || $bytes[$i + 1] !== "\n")) {
                $found[] = $i;
            } elseif ($bytes[$i] === "\n" && ($i === 0 || $bytes[$i - 1] !== "\r")) {
                $found[] = $i;
            }
        }
        return $found;
    }

    /**
     * The message a DATA body carries (dots un-stuffed, terminator removed),
     * or an error: a bare CR or LF on the wire, a lone "." line before the
     * last (a second end of data), or no terminator.
     *
     * @return array{?string, ?string} [content, error]
     */
    public static function dataContent(string $wire): array
    {
        $bare = self::bareLineBreaks($wire);
        if ($bare !== []) {
            return [null, 'bare CR or LF on the wire at offsets ' . implode(',', array_slice($bare, 0, 10))];
        }
        if (!($wire === ".\r\n" || str_ends_with($wire, "\r\n.\r\n"))) {
            return [null, 'the body does not end with CRLF . CRLF'];
        }
        $lines = explode("\r\n", substr($wire, 0, -2));
        $last = count($lines) - 1;
        $content = '';
        foreach ($lines as $n => $line) {
            if ($line === '.') {
                if ($n !== $last) {
                    return [null, sprintf('an end of data at line %d of %d', $n + 1, $last + 1)];
                }
                break;
            }
            $content .= (str_starts_with($line, '.') ? substr($line, 1) : $line) . "\r\n";
        }
        return [$content, null];
    }

    /**
     * The content of a captured body (DATA: checked and un-stuffed; BDAT:
     * checked for bare line breaks), or an error.
     *
     * @param array{kind: string, wire: string, chunks: list<int>} $body
     * @return array{?string, ?string}
     */
    public static function content(array $body): array
    {
        if ($body['kind'] === 'data') {
            return self::dataContent($body['wire']);
        }
        if (!empty($body['unfinished'])) {
            return [null, 'BDAT without LAST'];
        }
        $bare = self::bareLineBreaks($body['wire']);
        if ($bare !== []) {
            return [null, 'bare CR or LF in the BDAT chunks at offsets ' . implode(',', array_slice($bare, 0, 10))];
        }
        return [$body['wire'], null];
    }

    /**
     * The command lines of one connection (CRLF removed), optionally only
     * those in clear or over TLS.
     *
     * @param array<string, mixed> $connection
     * @return list<string>
     */
    public static function lines(array $connection, ?bool $tls = null): array
    {
        $out = [];
        foreach ($connection['lines'] as $line) {
            if ($tls === null || $line['tls'] === $tls) {
                $out[] = rtrim($line['raw'], "\r\n");
            }
        }
        return $out;
    }

    /**
     * The verbs of every command line of every connection ("EHLO", "MAIL"...),
     * AUTH continuation lines included as they are.
     *
     * @param array<string, mixed> $report
     * @return list<string>
     */
    public static function verbs(array $report): array
    {
        $out = [];
        foreach ($report['connections'] as $connection) {
            foreach (self::lines($connection) as $line) {
                $out[] = strtoupper((string) strtok($line, ' :'));
            }
        }
        return $out;
    }

    /**
     * Every mail transaction of every connection, in order: the MAIL line,
     * the RCPT lines, the transfer command lines (DATA, BDAT...) and the body.
     *
     * @param array<string, mixed> $report
     * @return list<array{mail: string, rcpt: list<string>, transfer: list<string>, body: ?array}>
     */
    public static function transactions(array $report): array
    {
        $out = [];
        foreach ($report['connections'] as $connection) {
            $bodies = $connection['bodies'];
            $current = null;
            foreach (self::lines($connection) as $line) {
                $verb = strtoupper((string) strtok($line, ' :'));
                if ($verb === 'MAIL') {
                    if ($current !== null) {
                        $out[] = $current;
                    }
                    $current = ['mail' => $line, 'rcpt' => [], 'transfer' => [], 'body' => null];
                } elseif ($verb === 'RCPT' && $current !== null) {
                    $current['rcpt'][] = $line;
                } elseif (($verb === 'DATA' || $verb === 'BDAT') && $current !== null) {
                    $current['transfer'][] = $line;
                    if ($verb === 'DATA' || str_ends_with(strtoupper($line), ' LAST')) {
                        $current['body'] = array_shift($bodies);
                        $out[] = $current;
                        $current = null;
                    }
                }
            }
            if ($current !== null) {
                $out[] = $current;
            }
        }
        return $out;
    }

    /** Every byte the capture server received in clear, over all connections. */
    public static function allRaw(array $report): string
    {
        return implode('', array_map(static fn (array $c): string => $c['raw'] . ($c['afterStartTls'] ?? ''),
            $report['connections']));
    }

    /** The deviations the capture server noted, over all connections. */
    public static function errors(array $report): array
    {
        $errors = $report['errors'];
        foreach ($report['connections'] as $i => $connection) {
            foreach ($connection['errors'] as $error) {
                $errors[] = "connection $i: $error";
            }
        }
        return $errors;
    }

    /**
     * The text/plain body of a message (CRLF), its transfer encoding
     * decoded; the first text/plain part of a multipart message. Null when
     * there is none.
     */
    public static function textBody(string $message): ?string
    {
        $message = self::normalise($message);
        $parts = explode("\r\n\r\n", $message, 2);
        if (count($parts) !== 2) {
            return null;
        }
        [$head, $body] = $parts;
        $head = preg_replace('/\r\n[ \t]+/', ' ', $head) ?? $head;
        $type = preg_match('/^Content-Type:\s*([^\r\n]*)/mi', $head, $m) === 1 ? $m[1] : 'text/plain';
        if (preg_match('/^multipart\//i', $type) === 1) {
            if (preg_match('/boundary="?([^";]+)"?/i', $type, $b) !== 1) {
                return null;
            }
            foreach (explode('--' . $b[1], $body) as $part) {
                $part = preg_replace('/^\r\n/', '', $part) ?? $part;
                $text = str_contains($part, "\r\n\r\n") ? self::textBody($part) : null;
                if ($text !== null) {
                    return $text;
                }
            }
            return null;
        }
        if (preg_match('/^text\/plain/i', trim($type)) !== 1) {
            return null;
        }
        $encoding = preg_match('/^Content-Transfer-Encoding:\s*(\S+)/mi', $head, $m) === 1 ? strtolower($m[1]) : '7bit';
        return match ($encoding) {
            'quoted-printable' => self::normalise(quoted_printable_decode($body)),
            'base64' => (string) base64_decode(preg_replace('/\s+/', '', $body) ?? '', false),
            default => $body,
        };
    }

    /** Equal once both are normalised to CRLF and final line breaks are ignored. */
    public static function sameText(string $a, string $b): bool
    {
        return rtrim(self::normalise($a), "\r\n") === rtrim(self::normalise($b), "\r\n");
    }

    /** A short printable form of bytes for failure messages. */
    public static function show(string $bytes, int $max = 400): string
    {
        $shown = json_encode(strlen($bytes) > $max ? substr($bytes, 0, $max) . '...' : $bytes,
            JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES);
        return $shown === false ? '(unprintable)' : $shown;
    }
}
