<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * SMTP smuggling through the PHP API: every known way of ending DATA
 * early, hidden in a body and followed by a whole second transaction
 * (MAIL, RCPT, DATA, a message, QUIT) that a confused server would run.
 * The payload table is the Rust one (tests/tests/smuggling.rs).
 *
 * Each payload, in the middle of the body and at its end, goes through
 * Mailer::sendRaw() (envelope given, and taken from the headers), a
 * composed Message text body, and the legacy send_mail (plain body,
 * which is composed, and a body with its own header lines, which is sent
 * raw):
 *
 * - to the capture server, once without CHUNKING (DATA) and once with it
 *   (BDAT): exactly one end of data per message, no bare CR or LF on the
 *   wire, the dot-stuffed lines un-stuff to the input with its line
 *   endings normalised, one MAIL FROM per message and nothing smuggled;
 *   also with the early end straddling the library's 64 KiB read blocks;
 * - to the real Postfix, on the port with smtpd_forbid_bare_newline=yes
 *   and on the plain port: exactly one message delivered per send, the
 *   whole payload in it; with BDAT (Postfix offers CHUNKING) and, with
 *   the Mailer's chunking: false, with DATA.
 */
final class SmugglingTest extends SmtpTestCase
{
    private const FROM = 'sender@example.test';

    private const TO = 'rcpt@example.test';

    /** The early ends of data, by name (as in tests/tests/smuggling.rs). */
    private const PAYLOADS = [
        'LF.LF' => "\n.\n",
        'CRLF.LF' => "\r\n.\n",
        'LF.CRLF' => "\n.\r\n",
        'CR.CR' => "\r.\r",
        'CRLF.CR' => "\r\n.\r",
        'CR.CRLF' => "\r.\r\n",
        'LF.CR' => "\n.\r",
        'CR.LF' => "\r.\n",
        'CRCRLF.CRCRLF' => "\r\r\n.\r\r\n",
        'CRLF.CRLF' => "\r\n.\r\n",
        'CRLF..CRLF' => "\r\n..\r\n",
        'CRLF.NUL' => "\r\n.\0\r\n",
    ];

    /** @return iterable<string, array{string, string, bool}> */
    public static function payloadsAndTransfers(): iterable
    {
        foreach (self::PAYLOADS as $name => $separator) {
            foreach ([false, true] as $chunking) {
                yield $name . ($chunking ? ' with BDAT' : ' with DATA') => [$name, $separator, $chunking];
            }
        }
    }

    /** A body with $separator inside, followed by a smuggled transaction; or ending with it. */
    private static function attackBody(string $separator, string $marker, bool $trailing): string
    {
        $body = "first line $marker" . $separator;
        if (!$trailing) {
            $body .= "MAIL FROM:<smuggler@evil.test>\r\nRCPT TO:<victim-$marker@example.test>\r\n"
                . "DATA\r\nSubject: smuggled $marker\r\n\r\nsmuggled body $marker\r\n.\r\n"
                . "QUIT\r\nlast line $marker\r\n";
        }
        return $body;
    }

    private static function rawMessage(string $marker, string $body, string $from = self::FROM, string $to = self::TO): string
    {
        return "From: <$from>\r\nTo: <$to>\r\nSubject: smuggle $marker\r\n\r\n" . $body;
    }

    /** What the legacy class does to a message that ends with its own end of data (as the original did). */
    private static function legacyBody(string $body): string
    {
        return preg_replace('/\r?\n\.\r?\n$/D', "\n", $body) ?? $body;
    }

    /** @dataProvider payloadsAndTransfers */
    public function testEarlyEndsOfDataAreNeutralisedOnTheWire(string $name, string $separator, bool $chunking): void
    {
        $server = ScriptedServer::capture(['ehlo' => $chunking ? ['8BITMIME', 'SMTPUTF8', 'CHUNKING'] : ['8BITMIME', 'SMTPUTF8']]);
        $hasNul = str_contains($separator, "\0");
        /** @var list<array{string, callable(string): ?string}> $expected what each transaction must carry */
        $expected = [];

        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', clientName: 'client.test', timeout: 5);
        foreach ([false, true] as $trailing) {
            $marker = "case-$name-" . ($trailing ? 'end' : 'inside');
            $body = self::attackBody($separator, $marker, $trailing);
            $raw = self::rawMessage($marker, $body);
            $rawCheck = static function (string $content) use ($raw): ?string {
                $want = Wire::normalise($raw, true);
                return $content === $want ? null : 'content ' . Wire::show($content) . ' differs from ' . Wire::show($want);
            };
            $composedCheck = static function (string $content) use ($body): ?string {
                $text = Wire::textBody($content);
                return $text !== null && Wire::sameText($text, $body) ? null
                    : 'decoded text ' . Wire::show((string) $text) . ' differs from ' . Wire::show($body);
            };

            $this->assertSame(250, $mailer->sendRaw($raw, self::FROM, self::TO)->code);
            $expected[] = ["$marker via sendRaw", $rawCheck];
            $this->assertSame(250, $mailer->sendRaw($raw)->code);
            $expected[] = ["$marker via sendRaw, envelope from the headers", $rawCheck];
            if ($hasNul) {
                try {
                    new Message(from: self::FROM, to: self::TO, subject: "smuggle $marker", text: $body);
                    $this->fail('a text body with a NUL byte was accepted');
                } catch (InvalidInputException) {
                    $this->addToAssertionCount(1);
                }
            } else {
                $this->assertSame(250, $mailer->send(new Message(from: self::FROM, to: self::TO,
                    subject: "smuggle $marker", text: $body))->code);
                $expected[] = ["$marker via a composed text body", $composedCheck];
            }
        }
        $mailer->quit();
        $mailer->close();

        foreach ([false, true] as $trailing) {
            $marker = "case-$name-legacy-" . ($trailing ? 'end' : 'inside');
            $body = self::attackBody($separator, $marker, $trailing);
            $kept = self::legacyBody($body);
            $sendmail = new \send_mail('127.0.0.1:' . $server->port, false, '', '', 'client.test', false);
            $ok = $sendmail->send(self::TO, self::FROM, "smuggle $marker", $body);
            if ($hasNul) {
                $this->assertFalse($ok, 'send_mail sent a text body with a NUL byte');
            } else {
                $this->assertTrue($ok, $sendmail->lasterror);
                $expected[] = ["$marker via send_mail", static function (string $content) use ($kept): ?string {
                    $text = Wire::textBody($content);
                    return $text !== null && Wire::sameText($text, $kept) ? null
                        : 'decoded text ' . Wire::show((string) $text) . ' differs from ' . Wire::show($kept);
                }];
            }
            // With its own header lines the message goes out raw.
            $ok = $sendmail->send(self::TO, self::FROM, "smuggle $marker", "X-Smuggle: $marker\r\n\r\n" . $body);
            $this->assertTrue($ok, $sendmail->lasterror);
            $expected[] = ["$marker via send_mail with header lines", static function (string $content) use ($kept, $marker): ?string {
                // The caller's field in the header (the library adds the
                // missing ones after it), the body exactly after the
                // first empty line.
                [$head, $body] = explode("\r\n\r\n", $content, 2) + [1 => null];
                $wanted = Wire::normalise($kept, true);
                return str_starts_with($head . "\r\n", "X-Smuggle: $marker\r\n") && $body === $wanted ? null
                    : 'content ' . Wire::show($content) . ' is not the header with X-Smuggle, then ' . Wire::show($wanted);
            }];
        }

        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(5, $report['connections'], 'one Mailer connection and four send_mail ones');
        $this->assertWireMatches($report, $expected, $chunking);
    }

    /**
     * The capture holds exactly the expected transactions, each well formed
     * and carrying what its check wants, and no other command.
     *
     * @param array<string, mixed> $report
     * @param list<array{string, callable(string): ?string}> $expected
     */
    private function assertWireMatches(array $report, array $expected, bool $chunking): void
    {
        $problems = [];
        foreach ($report['connections'] as $i => $connection) {
            $lines = Wire::lines($connection);
            foreach ($lines as $line) {
                $verb = strtoupper((string) strtok($line, ' :'));
                if (!in_array($verb, ['EHLO', 'MAIL', 'RCPT', $chunking ? 'BDAT' : 'DATA', 'QUIT'], true)) {
                    $problems[] = "connection $i: unexpected command " . Wire::show($line);
                }
                if (stripos($line, 'smuggle') !== false || stripos($line, 'victim') !== false) {
                    $problems[] = "connection $i: smuggled command " . Wire::show($line);
                }
            }
            if (($lines[0] ?? '') !== 'EHLO client.test') {
                $problems[] = "connection $i does not start with EHLO client.test";
            }
        }
        $transactions = Wire::transactions($report);
        $mailLines = count(array_filter(Wire::verbs($report), static fn (string $v): bool => $v === 'MAIL'));
        if ($mailLines !== count($expected) || count($transactions) !== count($expected)) {
            $problems[] = sprintf('%d MAIL FROM lines and %d transactions for %d messages sent',
                $mailLines, count($transactions), count($expected));
        }
        foreach ($expected as $n => [$label, $check]) {
            $t = $transactions[$n] ?? null;
            if ($t === null) {
                $problems[] = "$label: no transaction";
                continue;
            }
            if (!str_starts_with($t['mail'], 'MAIL FROM:<' . self::FROM . '>') || $t['rcpt'] !== ['RCPT TO:<' . self::TO . '>']) {
                $problems[] = "$label: envelope " . Wire::show($t['mail'] . ' ' . implode(' ', $t['rcpt']));
            }
            $last = end($t['transfer']);
            if ($chunking ? !preg_match('/^BDAT \d+ LAST$/', (string) $last) : $t['transfer'] !== ['DATA']) {
                $problems[] = "$label: transfer commands " . Wire::show(implode(' | ', $t['transfer']));
            }
            if ($t['body'] === null) {
                $problems[] = "$label: no body";
                continue;
            }
            [$content, $error] = Wire::content($t['body']);
            if ($error !== null) {
                $problems[] = "$label: $error: " . Wire::show($t['body']['wire']);
                continue;
            }
            $problem = $check($content);
            if ($problem !== null) {
                $problems[] = "$label: $problem";
            }
        }
        $this->assertSame([], $problems, count($problems) . " problems:\n" . implode("\n", $problems));
    }

    /** @return iterable<string, array{bool}> */
    public static function transfers(): iterable
    {
        yield 'DATA' => [false];
        yield 'BDAT' => [true];
    }

    /**
     * Each early end placed across the library's 64 KiB read block (its
     * first byte at offsets 65536 - k for every k within it), so that a CR
     * and its LF, or the dot and its line break, are handled in different
     * blocks.
     *
     * @dataProvider transfers
     */
    public function testEarlyEndsSplitAcrossTheLibrarysReadBlocks(bool $chunking): void
    {
        $server = ScriptedServer::capture(['ehlo' => $chunking ? ['8BITMIME', 'CHUNKING'] : ['8BITMIME']]);
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', clientName: 'client.test', timeout: 10);
        $expected = [];
        foreach (self::PAYLOADS as $name => $separator) {
            for ($k = 0; $k <= strlen($separator); $k++) {
                $marker = "split-$name-$k";
                $head = self::rawMessage($marker, '');
                $tail = " first line $marker";
                $padding = 65536 - $k - strlen($head) - strlen($tail);
                $lines = intdiv($padding, 72);
                $prefix = $head . str_repeat(str_repeat('y', 70) . "\r\n", $lines) . str_repeat('z', $padding - 72 * $lines) . $tail;
                $this->assertSame(65536 - $k, strlen($prefix));
                $raw = $prefix . substr(self::attackBody($separator, $marker, false), strlen("first line $marker"));
                $check = static function (string $content) use ($raw): ?string {
                    return $content === Wire::normalise($raw, true) ? null : 'content differs around '
                        . Wire::show(substr($content, 65536 - 200, 400));
                };
                $this->assertSame(250, $mailer->sendRaw($raw, self::FROM, self::TO)->code);
                $expected[] = ["$marker via sendRaw", $check];
                $this->assertSame(250, $mailer->sendRaw($raw)->code);
                $expected[] = ["$marker via sendRaw, envelope from the headers", $check];
            }
        }
        $mailer->quit();
        $mailer->close();
        $report = $server->finish(30);
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(1, $report['connections']);
        $this->assertWireMatches($report, $expected, $chunking);
    }

    // ----- through the real Postfix ---------------------------------------------

    /** @return iterable<string, array{string}> */
    public static function postfixPorts(): iterable
    {
        yield 'strict port (smtpd_forbid_bare_newline=yes)' => ['strict'];
        yield 'plain port' => ['plain'];
    }

    /**
     * Through Postfix with BDAT (the default, Postfix offers CHUNKING) and,
     * when the Mailer has the chunking option, with DATA too.
     *
     * @dataProvider postfixPorts
     */
    public function testEarlyEndsOfDataThroughPostfix(string $port): void
    {
        $bed = $this->bed();
        $from = $bed->address('smuggle-sender');
        $to = $bed->address('smuggle');
        $modes = ['BDAT' => []];
        $parameters = array_map(static fn (\ReflectionParameter $p): string => $p->getName(),
            (new \ReflectionMethod(Mailer::class, '__construct'))->getParameters());
        if (in_array('chunking', $parameters, true)) {
            $modes['DATA'] = ['chunking' => false];
        }
        /** @var list<array{string, string, string}> $cases [marker, how, the text that must arrive whole] */
        $cases = [];
        foreach ($modes as $mode => $options) {
            $verbs = [];
            $mailer = new Mailer(...['host' => $bed->host(), 'port' => $bed->port($port), 'security' => 'none',
                'user' => $bed->user(), 'password' => $bed->password(), 'clientName' => 'client.test', 'timeout' => 20,
                'transcript' => static function (\Smtp\TranscriptDirection $direction, string $line) use (&$verbs): void {
                    if ($direction === \Smtp\TranscriptDirection::Sent) {
                        $verbs[(string) strtok($line, ' ')] = true;
                    }
                }] + $options);
            $this->assertContains('CHUNKING', array_map('strtoupper', $mailer->connect()->extensions));
            foreach (self::PAYLOADS as $name => $separator) {
                $hasNul = str_contains($separator, "\0");
                foreach ([false, true] as $trailing) {
                    $marker = TestBed::marker("php-smuggle-$port");
                    $body = self::attackBody($separator, $marker, $trailing);
                    $result = $mailer->sendRaw(self::rawMessage($marker, $body, $from, $to), $from, $to);
                    $this->assertSame(250, $result->code, "$name via sendRaw");
                    $cases[] = [$marker, "$name via sendRaw ($mode)", $body];
                    if ($hasNul) {
                        continue;
                    }
                    $marker = TestBed::marker("php-smuggle-$port");
                    $body = self::attackBody($separator, $marker, $trailing);
                    $this->assertSame(250, $mailer->send(new Message(from: $from, to: $to,
                        subject: "smuggle $marker", text: $body))->code, "$name via Message");
                    $cases[] = [$marker, "$name via a composed text body ($mode)", 'text:' . $body];
                    if ($mode !== 'BDAT') {
                        continue;
                    }
                    $marker = TestBed::marker("php-smuggle-$port");
                    $body = self::attackBody($separator, $marker, $trailing);
                    $sendmail = new \send_mail($bed->host() . ':' . $bed->port($port), true, $bed->user(),
                        $bed->password(), 'client.test', false);
                    $this->assertTrue($sendmail->send($to, $from, "smuggle $marker", $body), $sendmail->lasterror);
                    $cases[] = [$marker, "$name via send_mail", 'text:' . self::legacyBody($body)];
                }
            }
            $this->assertArrayHasKey($mode, $verbs, "the library did not use $mode");
            $this->assertArrayNotHasKey($mode === 'BDAT' ? 'DATA' : 'BDAT', $verbs);
            $mailer->quit();
        }

        foreach ($cases as [$marker]) {
            $bed->waitForMessages($marker, 1, 60);
        }
        // Time for a smuggled second message to arrive; then count again.
        sleep(1);
        $problems = [];
        foreach ($cases as [$marker, $how, $payload]) {
            $messages = $bed->waitForMessages($marker, 1, 5);
            if (count($messages) !== 1) {
                $problems[] = "$how ($marker): " . count($messages) . ' messages delivered';
                continue;
            }
            $delivered = $messages[0];
            if (str_starts_with($payload, 'text:')) {
                $text = Wire::textBody($delivered);
                $whole = $text !== null && Wire::sameText($text, substr($payload, 5));
            } else {
                $whole = str_contains($delivered, Wire::lf($payload));
            }
            if (!$whole) {
                $problems[] = "$how ($marker): the payload " . Wire::show($payload) . ' is not whole in '
                    . Wire::show($delivered, 2000);
            }
        }
        $this->assertSame([], $problems, count($problems) . " problems:\n" . implode("\n", $problems));
        $this->assertCount(12 * 2 + 11 * 2 * 2 + (count($modes) - 1) * (12 * 2 + 11 * 2), $cases);
    }
}
