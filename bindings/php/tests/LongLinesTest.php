<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;

/**
 * Lines over 998 octets (RFC 5322 2.1.1) through the real Postfix: the
 * Mailer's longLines option ('repair', the default, or 'refuse'), the URL
 * option long_lines, and the legacy send_mail class with a one-line HTML
 * body as PHP code of its era writes it.
 */
final class LongLinesTest extends SmtpTestCase
{
    private const LONG = 2000;

    /** A line of $length octets with what quoted-printable must escape or keep ('=', a tab, spaces). */
    private static function longLine(int $length, string $pattern = 'Lorem ipsum=dolor sit	amet, <b>consectetur</b> 50% '): string
    {
        return substr(str_repeat($pattern, intdiv($length, strlen($pattern)) + 1), 0, $length - 1) . '.';
    }

    /** The longest line of $text in octets, CR not counted. */
    private static function longestLine(string $text): int
    {
        $lines = explode("\n", str_replace("\r\n", "\n", $text));
        return max(array_map('strlen', $lines));
    }

    /** The body of a delivered message, LF line ends. */
    private static function bodyOf(string $mail): string
    {
        return explode("\n\n", str_replace("\r\n", "\n", $mail), 2)[1] ?? '';
    }

    /** Asserts the delivered $mail is quoted-printable, every line short, and decodes to $body. */
    private function assertRepaired(string $mail, string $body): void
    {
        $this->assertLessThanOrEqual(998, self::longestLine($mail));
        $encoded = self::bodyOf($mail);
        $this->assertLessThanOrEqual(76, self::longestLine($encoded), 'RFC 2045 lines, soft break included');
        $this->assertSame('quoted-printable', strtolower((string) self::header($mail, 'Content-Transfer-Encoding')));
        $this->assertSame('1.0', self::header($mail, 'MIME-Version'));
        $this->assertGreaterThanOrEqual(intdiv(self::LONG, 76), substr_count($encoded, "=\n"), 'soft line breaks');
        $this->assertSame(str_replace("\r\n", "\n", $body), quoted_printable_decode($encoded));
    }

    /** A message with $head (CRLF-separated header lines after To and Subject) and $body. */
    private function raw(string $marker, string $body, string $head = ''): string
    {
        $bed = $this->bed();
        return "From: Long <long@example.test>\r\nTo: " . $bed->address('php-long') . "\r\nSubject: $marker\r\n"
            . $head . "\r\n" . $body;
    }

    /** No MAIL FROM, no message data: nothing of a refused message reached the server. */
    private function assertNothingSent(string $marker): void
    {
        foreach ($this->transcript as $line) {
            $this->assertStringStartsNotWith('Sent MAIL FROM:', $line);
            $this->assertStringStartsNotWith('Sent DATA', $line);
            $this->assertStringStartsNotWith('Sent BDAT', $line);
        }
        $this->assertTrue($this->bed()->noMessageWith($marker, 1.0), 'nothing delivered');
    }

    public function testSendRawRepairsALongLineOfAMessageWithoutMimeHeaders(): void
    {
        $marker = TestBed::marker('php-long-plain');
        $body = self::longLine(self::LONG) . "\r\nshort second line\r\n";
        $mailer = $this->mailer('plain', ['longLines' => 'repair']);
        $this->assertSame(250, $mailer->sendRaw($this->raw($marker, $body))->code);
        $this->assertRepaired($this->bed()->waitForMessage($marker), $body);
        $mailer->quit();
    }

    public function testAnEightBitHtmlPartIsReencoded(): void
    {
        $marker = TestBed::marker('php-long-html');
        $body = '<p>' . self::longLine(self::LONG, 'Grüße, 你好 <i>wörld</i> = ') . "</p>\r\n";
        $head = "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
        $mailer = $this->mailer();
        $this->assertSame(250, $mailer->sendRaw($this->raw($marker, $body, $head))->code);
        $mail = $this->bed()->waitForMessage($marker);
        $this->assertRepaired($mail, $body);
        $this->assertSame('text/html; charset=utf-8', self::header($mail, 'Content-Type'));
        $this->assertSame(1, substr_count(strtolower($mail), "\ncontent-transfer-encoding:"), 'rewritten, not added');
        $mailer->quit();
    }

    public function testRefuseThrowsBeforeAnythingIsSentAndKeepsTheSession(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-long-refuse');
        $mailer = $this->transcriptMailer('plain', ['longLines' => 'refuse']);
        $mailer->connect();
        try {
            $mailer->sendRaw($this->raw($marker, self::longLine(self::LONG) . "\r\n"));
            $this->fail('a message with a long line was sent in refuse mode');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('998', $e->getMessage());
            $this->assertStringContainsString('line 5', $e->getMessage());
            $this->assertSame(10, $e->getResultCode());
            $this->assertSame('SMTP_ERR_INVALID_INPUT', $e->getResultName());
        }
        $this->assertNothingSent($marker);
        $this->assertTrue($mailer->isConnected());
        $ok = TestBed::marker('php-long-refuse-ok');
        $this->assertSame(250, $mailer->sendRaw($this->raw($ok, "short\r\n"))->code);
        $bed->waitForMessage($ok);
        $mailer->quit();
    }

    public function testRepairRefusesAHeaderLineWithoutWhitespace(): void
    {
        $marker = TestBed::marker('php-long-header');
        $mailer = $this->transcriptMailer();
        $mailer->connect();
        try {
            $mailer->sendRaw($this->raw($marker, "body\r\n", 'X-Long: ' . str_repeat('x', self::LONG) . "\r\n"));
            $this->fail('a header line without whitespace cannot be folded');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('998', $e->getMessage());
            $this->assertStringContainsString('line 4', $e->getMessage());
        }
        $this->assertNothingSent($marker);
        $mailer->quit();
    }

    public function testTheUrlOptionAndTheArgumentOverridingIt(): void
    {
        $bed = $this->bed();
        $url = sprintf('smtp://%s:%d?security=none&long_lines=refuse', $bed->host(), $bed->port('plain'));
        $credentials = ['user' => $bed->user(), 'password' => $bed->password(), 'timeout' => 20];
        $marker = TestBed::marker('php-long-url');
        $raw = $this->raw($marker, self::longLine(self::LONG) . "\r\n");
        $refusing = Mailer::fromUrl($url, ...$credentials);
        try {
            $refusing->sendRaw($raw);
            $this->fail('long_lines=refuse in the URL was ignored');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('998', $e->getMessage());
        }
        $refusing->quit();
        $this->assertTrue($bed->noMessageWith($marker, 0.5));
        $repairing = Mailer::fromUrl($url, ...$credentials + ['longLines' => 'repair']);
        $this->assertSame(250, $repairing->sendRaw($raw)->code);
        $this->assertLessThanOrEqual(998, self::longestLine($bed->waitForMessage($marker)));
        $repairing->quit();
    }

    /** @return iterable<string, array{mixed}> */
    public static function badValues(): iterable
    {
        yield 'unknown word' => ['fold'];
        yield 'empty' => [''];
        yield 'padded' => [' repair'];
        yield 'int' => [1];
        yield 'bool' => [true];
        yield 'list' => [['refuse']];
        yield 'NUL' => ["refuse\0"];
    }

    /** @dataProvider badValues */
    public function testBadValuesAreInvalidInput(mixed $value): void
    {
        $this->expectException(InvalidInputException::class);
        $this->expectExceptionMessage('longLines');
        new Mailer(host: 'localhost', port: 25, longLines: $value);
    }

    public function testGoodValuesInAnyCaseAndABadUrlValue(): void
    {
        foreach (['repair', 'refuse', 'Refuse', 'REPAIR'] as $value) {
            $mailer = new Mailer(host: 'localhost', port: 25, longLines: $value);
            $this->assertFalse($mailer->isConnected());
            $mailer->close();
        }
        $this->expectException(InvalidInputException::class);
        $this->expectExceptionMessage('long_lines');
        Mailer::fromUrl('smtp://localhost:25?long_lines=sometimes');
    }

    /** The legacy class: a one-line HTML body as send_mail callers wrote it, with and without header lines. */
    public function testLegacySendMailDeliversAOneLineHtmlBodyRepaired(): void
    {
        $bed = $this->bed();
        $server = $bed->host() . ':' . $bed->port('plain');
        $html = '<html><body>' . self::longLine(self::LONG, '<td class="cell">Grüße =</td> ') . "</body></html>\n";

        // Header lines in the message: sent as formatted bytes, repaired on the way.
        $marker = TestBed::marker('php-long-legacy-head');
        $sendmail = new \send_mail($server, true, $bed->user(), $bed->password(), 'hello', false);
        $message = "Content-Type: text/html; charset=utf-8\n\n" . $html;
        $this->assertTrue($sendmail->send($bed->address('toemail'), $bed->address('fromemail'), "test $marker", $message),
            $sendmail->lasterror);
        $mail = $bed->waitForMessage($marker);
        $this->assertRepaired($mail, $html);
        $this->assertSame('text/html; charset=utf-8', self::header($mail, 'Content-Type'));

        // Just the HTML, as the seed's send.php passes its text.
        $marker = TestBed::marker('php-long-legacy-bare');
        $this->assertTrue($sendmail->send($bed->address('toemail'), $bed->address('fromemail'), "test $marker", $html),
            $sendmail->lasterror);
        $mail = $bed->waitForMessage($marker);
        $this->assertLessThanOrEqual(998, self::longestLine($mail));
        $encoding = strtolower((string) self::header($mail, 'Content-Transfer-Encoding'));
        $body = self::bodyOf($mail);
        $decoded = match ($encoding) {
            'quoted-printable' => quoted_printable_decode($body),
            'base64' => (string) base64_decode($body, true),
            default => $body,
        };
        $this->assertSame($html, $decoded);
    }
}
