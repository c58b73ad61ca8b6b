<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Message;

/**
 * Attachments and inline parts, from memory and from files, with names in
 * any language, delivered through Postfix and taken apart again here
 * (MIME parts, RFC 2231 file names, RFC 2047 names, base64 bodies).
 */
final class AttachmentTest extends SmtpTestCase
{
    /**
     * The leaf parts of a MIME message: headers (lower-case names,
     * unfolded) and decoded body.
     *
     * @return list<array{headers: array<string, string>, body: string}>
     */
    private static function parts(string $message): array
    {
        $message = str_replace("\r\n", "\n", $message);
        [$head, $body] = explode("\n\n", $message, 2) + [1 => ''];
        $headers = [];
        foreach (explode("\n", preg_replace('/\n[ \t]+/', ' ', $head)) as $line) {
            if (str_contains($line, ':')) {
                [$name, $value] = explode(':', $line, 2);
                $headers[strtolower(trim($name))] = trim($value);
            }
        }
        $type = $headers['content-type'] ?? 'text/plain';
        if (preg_match('/^multipart\/.*boundary="?([^";]+)"?/i', $type, $m) === 1) {
            $parts = [];
            $sections = explode("\n--" . $m[1], "\n" . $body);
            foreach (array_slice($sections, 1) as $section) {
                if (str_starts_with($section, '--')) {
                    break;
                }
                $parts = array_merge($parts, self::parts(substr($section, strpos($section, "\n") + 1)));
            }
            return $parts;
        }
        if (strtolower($headers['content-transfer-encoding'] ?? '') === 'base64') {
            $body = base64_decode(preg_replace('/\s+/', '', $body), true);
        } elseif (strtolower($headers['content-transfer-encoding'] ?? '') === 'quoted-printable') {
            $body = quoted_printable_decode($body);
        }
        return [['headers' => $headers, 'body' => (string) $body]];
    }

    /** The file name of a part's Content-Disposition, RFC 2231 continuations and charsets decoded. */
    private static function fileName(string $disposition): ?string
    {
        // filename*=charset''pct (one piece) or filename*0*=..., filename*1*=... (continuations).
        if (preg_match_all('/filename(?:\*(\d+))?(\*)?=("[^"]*"|[^;]+)/i', $disposition, $m, PREG_SET_ORDER) > 0
            && ($m[0][1] !== '' || $m[0][2] === '*')) {
            usort($m, static fn ($a, $b) => (int) $a[1] <=> (int) $b[1]);
            $name = '';
            foreach ($m as $i => $piece) {
                $value = trim(trim($piece[3]), '"');
                if ($piece[2] === '*') {
                    if ($i === 0) {
                        $value = substr($value, strpos($value, "'", strpos($value, "'") + 1) + 1);
                    }
                    $value = rawurldecode($value);
                }
                $name .= $value;
            }
            return $name;
        }
        return preg_match('/filename="?([^";]*)"?/i', $disposition, $p) === 1 ? $p[1] : null;
    }

    /** The part whose file name is $name. */
    private static function part(array $parts, string $name): array
    {
        foreach ($parts as $part) {
            if (self::fileName($part['headers']['content-disposition'] ?? '') === $name) {
                return $part;
            }
        }
        self::fail("no part named $name");
    }

    public function testNonAsciiNamesFromMemoryAndFiles(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-attach');
        $binary = random_bytes(3000) . "\0\r\n.\r\n\0";
        $longName = 'Quartalsbericht Q3 — 季度报告 — Grüße an alle, with a name long enough to need continuations.pdf';
        $file = tempnam(sys_get_temp_dir(), 'smtp-php-file');
        file_put_contents($file, "col1;col2\nä;ö\n");
        try {
            $message = new Message(
                from: $bed->address('sender'),
                to: $bed->address('attach'),
                subject: "Attachments $marker",
                text: "See the attachments.\n",
                html: '<p>Logo: <img src="cid:logo-1"></p>',
            );
            $message->attachData($binary, $longName, 'application/pdf')
                ->attachData('plain ascii', 'readme.txt')
                ->attachFile($file, 'Übersicht €.csv', 'text/csv; charset=utf-8')
                ->embedData("\x89PNG\r\n\x1a\nfake", 'logo-1', 'logö.png');
            $result = $this->mailer('plain')->send($message);
            $this->assertSame(250, $result->code);
        } finally {
            unlink($file);
        }
        $parts = self::parts($bed->waitForMessage($marker));

        $pdf = self::part($parts, $longName);
        $this->assertSame($binary, $pdf['body'], 'binary bytes arrive unchanged');
        $this->assertStringStartsWith('application/pdf', $pdf['headers']['content-type']);
        $this->assertStringStartsWith('attachment', $pdf['headers']['content-disposition']);

        $this->assertSame('plain ascii', self::part($parts, 'readme.txt')['body']);
        $csv = self::part($parts, 'Übersicht €.csv');
        $this->assertSame("col1;col2\nä;ö\n", str_replace("\r\n", "\n", $csv['body']));
        $this->assertStringStartsWith('text/csv', $csv['headers']['content-type']);

        $logo = self::part($parts, 'logö.png');
        $this->assertSame('<logo-1>', $logo['headers']['content-id']);
        $this->assertStringStartsWith('inline', $logo['headers']['content-disposition']);
        $this->assertSame("\x89PNG\r\n\x1a\nfake", $logo['body']);
    }

    public function testAttachmentsAsConstructorArgumentAndEmbeddedFile(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-attach-ctor');
        $dir = sys_get_temp_dir() . '/smtp-php-' . getmypid();
        @mkdir($dir);
        $path = "$dir/résumé 简历.txt";
        $image = "$dir/pixel.gif";
        file_put_contents($path, "CV\n");
        file_put_contents($image, base64_decode('R0lGODlhAQABAAAAACw='));
        try {
            $message = new Message(
                from: $bed->address('s'),
                to: $bed->address('r'),
                subject: $marker,
                html: '<img src="cid:px">',
                attachments: [$path],
            );
            $message->embedFile($image, 'px');
            $this->mailer('plain')->send($message);
        } finally {
            unlink($path);
            unlink($image);
            rmdir($dir);
        }
        $parts = self::parts($bed->waitForMessage($marker));
        $this->assertSame("CV\n", str_replace("\r\n", "\n", self::part($parts, 'résumé 简历.txt')['body']));
        $gif = array_values(array_filter($parts, static fn ($p) => ($p['headers']['content-id'] ?? '') === '<px>'));
        $this->assertCount(1, $gif);
        $this->assertStringStartsWith('image/gif', $gif[0]['headers']['content-type']);
    }
}
