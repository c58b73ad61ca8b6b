<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Message::listUnsubscribe() and Message::tlsRequiredNo(): the exact
 * header bytes on the wire (the capture server's DATA body), replacing
 * and removing, and every refused input as an InvalidInputException.
 */
final class UnsubscribeTest extends SmtpTestCase
{
    private static function message(): Message
    {
        return new Message(from: 'news@example.test', to: 'rcpt@example.test', subject: 'Digest', text: "Hello.\n");
    }

    /** The header block of $message as the capture server received it. */
    private function sentHeaders(Message $message): string
    {
        $server = ScriptedServer::capture();
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', clientName: 'client.test', timeout: 5);
        $mailer->send($message);
        $mailer->quit();
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(1, $report['connections'][0]['bodies']);
        [$content, $error] = Wire::content($report['connections'][0]['bodies'][0]);
        $this->assertNull($error);
        return explode("\r\n\r\n", (string) $content, 2)[0] . "\r\n";
    }

    public function testOneClickWithHttpsAndMailto(): void
    {
        $message = self::message()
            ->listUnsubscribe('https://example.test/u?l=news&t=abc', 'mailto:leave@example.test?subject=unsubscribe')
            ->tlsRequiredNo();
        $headers = $this->sentHeaders($message);
        $this->assertStringContainsString(
            "\r\nList-Unsubscribe: <https://example.test/u?l=news&t=abc>,\r\n"
            . " <mailto:leave@example.test?subject=unsubscribe>\r\n"
            . "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            . "TLS-Required: No\r\n"
            . "MIME-Version: 1.0\r\n",
            $headers,
        );
        $this->assertSame(1, substr_count($headers, 'List-Unsubscribe:'));
    }

    public function testWithoutOneClickReplacingAndRemoving(): void
    {
        $message = self::message()
            ->listUnsubscribe('https://example.test/first')
            ->tlsRequiredNo()
            ->listUnsubscribe(mailto: 'mailto:off@example.test', oneClick: false)
            ->tlsRequiredNo(false);
        $headers = $this->sentHeaders($message);
        $this->assertStringContainsString("\r\nList-Unsubscribe: <mailto:off@example.test>\r\nMIME-Version: 1.0\r\n", $headers);
        $this->assertStringNotContainsString('List-Unsubscribe-Post', $headers);
        $this->assertStringNotContainsString('first', $headers);
        $this->assertStringNotContainsString('TLS-Required', $headers);

        $headers = $this->sentHeaders(self::message()->listUnsubscribe('https://example.test/x', oneClick: false));
        $this->assertStringContainsString("\r\nList-Unsubscribe: <https://example.test/x>\r\nMIME-Version", $headers);
        $this->assertStringNotContainsString('List-Unsubscribe-Post', $headers);
    }

    /** @return iterable<string, array{\Closure(Message): mixed, string}> */
    public static function badInput(): iterable
    {
        yield 'both null' => [static fn (Message $m) => $m->listUnsubscribe(), 'https URI, a mailto URI'];
        yield 'both null, no one-click' => [static fn (Message $m) => $m->listUnsubscribe(null, null, false), 'https URI, a mailto URI'];
        yield 'one-click without https' => [static fn (Message $m) => $m->listUnsubscribe(mailto: 'mailto:a@example.test'), 'needs an https URI'];
        yield 'http' => [static fn (Message $m) => $m->listUnsubscribe('http://example.test/u'), 'https://'];
        yield 'CRLF' => [static fn (Message $m) => $m->listUnsubscribe("https://example.test/a\r\nBcc: x@y.test"), 'CR'];
        yield 'LF in mailto' => [static fn (Message $m) => $m->listUnsubscribe('https://example.test/', "mailto:a@b.test\n"), 'LF'];
        yield 'NUL' => [static fn (Message $m) => $m->listUnsubscribe("https://example.test/\0"), 'NUL'];
        yield 'angle brackets' => [static fn (Message $m) => $m->listUnsubscribe('https://example.test/a>,<x'), 'percent-encode'];
        yield 'space' => [static fn (Message $m) => $m->listUnsubscribe('https://example.test/a b'), 'a space'];
        yield 'no host' => [static fn (Message $m) => $m->listUnsubscribe('https:///u'), 'no host'];
        yield 'user info' => [static fn (Message $m) => $m->listUnsubscribe('https://me@example.test/'), 'user information'];
        yield 'bad mailto' => [static fn (Message $m) => $m->listUnsubscribe(null, 'mailto:nobody', false), 'mailto'];
        yield 'not UTF-8' => [static fn (Message $m) => $m->listUnsubscribe("https://example.test/\xff"), 'UTF-8'];
        yield 'https not text' => [static fn (Message $m) => $m->listUnsubscribe(['https://example.test/']), 'listUnsubscribe https'];
        yield 'oneClick not a flag' => [static fn (Message $m) => $m->listUnsubscribe('https://example.test/', null, 'yes'), 'oneClick'];
        yield 'tlsRequiredNo not a flag' => [static fn (Message $m) => $m->tlsRequiredNo('no'), 'tlsRequiredNo'];
        yield 'header List-Unsubscribe' => [static fn (Message $m) => $m->header('List-Unsubscribe', '<https://example.test/>'), 'list_unsubscribe'];
        yield 'header List-Unsubscribe-Post' => [static fn (Message $m) => $m->header('List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'), 'list_unsubscribe'];
        yield 'header TLS-Required' => [static fn (Message $m) => $m->header('TLS-Required', 'No'), 'tls_required_no'];
        yield 'headers in the constructor' => [static fn (Message $m) => new Message(headers: ['list-unsubscribe' => '<mailto:a@b.test>']), 'list_unsubscribe'];
    }

    /**
     * @dataProvider badInput
     * @param \Closure(Message): mixed $attempt
     */
    public function testBadInputIsAnInvalidInputException(\Closure $attempt, string $expected): void
    {
        $message = self::message();
        try {
            $attempt($message);
            $this->fail('accepted');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString($expected, $e->getMessage());
        }
        // A refused call leaves the message usable.
        $this->assertSame($message, $message->listUnsubscribe('https://example.test/ok'));
    }
}
