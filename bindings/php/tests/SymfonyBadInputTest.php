<?php

/*
 * Concern: bad input through the Symfony transport (CR/LF and NUL in
 * headers, names, addresses and file names, missing files, invalid
 * addresses) against the capture server: a Symfony exception every time,
 * never a PHP error, never an injected header or command on the wire.
 */

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\AuthenticationException;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Symfony\SmtpSubmitTransport;
use Smtp\Symfony\SmtpSubmitTransportFactory;
use Symfony\Component\Mailer\Envelope;
use Symfony\Component\Mailer\Exception\ExceptionInterface as MailerException;
use Symfony\Component\Mailer\Exception\IncompleteDsnException;
use Symfony\Component\Mailer\Exception\InvalidArgumentException;
use Symfony\Component\Mailer\Exception\TransportException;
use Symfony\Component\Mailer\Exception\TransportExceptionInterface;
use Symfony\Component\Mailer\Exception\UnsupportedSchemeException;
use Symfony\Component\Mailer\Mailer as SymfonyMailer;
use Symfony\Component\Mailer\SentMessage;
use Symfony\Component\Mailer\Transport;
use Symfony\Component\Mailer\Transport\Dsn;
use Symfony\Component\Mailer\Transport\TransportInterface;
use Symfony\Component\Mime\Address;
use Symfony\Component\Mime\Email;
use Symfony\Component\Mime\Exception\ExceptionInterface as MimeException;
use Symfony\Component\Mime\RawMessage;


final class SymfonyBadInputTest extends SymfonyTestCase
{
    /**
     * Bad input a Symfony application might pass, each as a closure that
     * builds (and so may fail on) the message and its optional envelope.
     *
     * @return array<string, \Closure(): array{0: RawMessage, 1?: Envelope}>
     */
    private function badInputs(): array
    {
        $email = static fn (): Email => (new Email())->from('sender@example.test')->to('rcpt@example.test')
            ->subject('bad input')->text("x\n");
        $header = "\r\nBcc: INJECTED@evil.test\r\nX-Injected: 1";
        $command = "\r\nRCPT TO:<INJECTED@evil.test>\r\n";
        $file = $this->tempFile('attachment');
        return [
            'CRLF in a header value' => static function () use ($email, $header) {
                $e = $email();
                $e->getHeaders()->addTextHeader('X-Note', "value$header");
                return [$e];
            },
            'LF in a header value' => static function () use ($email) {
                $e = $email();
                $e->getHeaders()->addTextHeader('X-Note', "value\nBcc: INJECTED@evil.test");
                return [$e];
            },
            'NUL in a header value' => static function () use ($email) {
                $e = $email();
                $e->getHeaders()->addTextHeader('X-Note', "value\0INJECTED");
                return [$e];
            },
            'CRLF in a header name' => static function () use ($email) {
                $e = $email();
                $e->getHeaders()->addTextHeader("X-Note\r\nBcc: INJECTED@evil.test\r\nX-A", 'v');
                return [$e];
            },
            'CRLF in a parameter name' => static function () use ($email) {
                $e = $email();
                $e->getHeaders()->addParameterizedHeader('X-Param', 'v', ["a\r\nBcc: INJECTED@evil.test\r\nX-Injected" => 'b']);
                return [$e];
            },
            'a field smuggled in a header name' => static function () use ($email) {
                $e = $email();
                $e->getHeaders()->addTextHeader("X-A: 1\r\nBcc: INJECTED@evil.test\r\nX-B", 'v');
                return [$e];
            },
            'CRLF in the subject' => static fn () => [$email()->subject("subject$header")],
            'a command in the subject' => static fn () => [$email()->subject("subject$command")],
            'CRLF in a display name' => static fn () => [$email()->to(new Address('rcpt@example.test', "Jane$header"))],
            'CRLF in an address' => static fn () => [$email()->to(new Address("rcpt@example.test$command"))],
            'CRLF in the sender' => static fn () => [$email()->from(new Address("sender@example.test$command"))],
            'CRLF in an address without <>' => static fn () => [$email()->to("rcpt@example.test\r\nINJECTED")],
            'an invalid address' => static fn () => [$email()->to('not an address INJECTED')],
            'CRLF in an attachment name' => static fn () => [$email()->attach('data', "a.txt$header")],
            'CRLF in an attachment type' => static fn () => [$email()->attach('data', 'a.txt', "text/plain$header")],
            'CRLF in an inline name' => static fn () => [$email()->embed('data', "logo.png$header", 'image/png')],
            'NUL in a file name' => static fn () => [$email()->attachFromPath("$file\0INJECTED")],
            'NUL in an attachment name' => static fn () => [$email()->attach('data', "a\0INJECTED.txt")],
            'a missing attachment' => static fn () => [$email()->attachFromPath('/nonexistent/INJECTED.pdf')],
            'CRLF in an envelope recipient' => static fn () => [$email(), new Envelope(new Address('sender@example.test'),
                [new Address("rcpt@example.test$command")])],
            'CRLF in the envelope sender' => static fn () => [$email(), new Envelope(new Address("sender@example.test$command"),
                [new Address('rcpt@example.test')])],
            'a raw message with an injected envelope' => static fn () => [new RawMessage("Subject: x\r\n\r\nx\r\n"),
                new Envelope(new Address('sender@example.test'), [new Address('rcpt@example.test'), new Address("x@example.test$command")])],
        ];
    }

    public function testBadInputGivesSymfonyExceptionsAndNothingInjectedOnTheWire(): void
    {
        $server = ScriptedServer::capture();
        $transport = self::transports()->fromString(
            "smtp-submit://127.0.0.1:{$server->port}?security=none&client_name=client.test&timeout=5"
        );
        $outcomes = [];
        $sent = 0;
        foreach ($this->badInputs() as $case => $build) {
            try {
                $args = $build();
                $transport->send(...$args);
                $outcomes[$case] = 'sent';
                $sent++;
            } catch (MailerException|MimeException $e) {
                // Symfony's own validation, or ours mapped to TransportException.
                $outcomes[$case] = get_class($e);
                $this->assertDoesNotMatchRegularExpression('/\r|\n(?!$)|\0/', $e->getMessage(), "$case: raw line breaks in the message");
                if ($e instanceof TransportException) {
                    $this->assertStringNotContainsString('INJECTED', $e->getMessage(), "$case: the message echoes the value");
                }
            }
        }
        // Every outcome is a Symfony one (a PHP Error would have ended the test).
        $this->assertNotContains('sent', array_intersect_key($outcomes, array_flip([
            'CRLF in a header name', 'CRLF in a parameter name', 'a field smuggled in a header name', 'NUL in an attachment name',
            'CRLF in an address', 'CRLF in the sender', 'CRLF in an address without <>', 'an invalid address', 'NUL in a file name', 'a missing attachment',
            'CRLF in an envelope recipient', 'CRLF in the envelope sender', 'a raw message with an injected envelope',
        ])), json_encode($outcomes, JSON_PRETTY_PRINT));

        // The session is in step: a good message follows on it.
        $transport->send((new Email())->from('sender@example.test')->to('rcpt@example.test')->subject('after')->text("ok\n"));
        $transport->stop();
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        foreach ($report['connections'] as $connection) {
            foreach (Wire::lines($connection) as $line) {
                $this->assertStringNotContainsString('INJECTED', $line, 'a command line carries injected text');
            }
        }
        $transactions = Wire::transactions($report);
        $this->assertCount($sent + 1, $transactions, json_encode($outcomes, JSON_PRETTY_PRINT));
        foreach ($transactions as $t) {
            $this->assertSame('MAIL FROM:<sender@example.test>', preg_replace('/ (SIZE|BODY)=\S+/', '', $t['mail']));
            $this->assertSame(['RCPT TO:<rcpt@example.test>'], $t['rcpt']);
            [$content, $error] = Wire::content($t['body']);
            $this->assertNull($error, (string) $error);
            $head = explode("\r\n\r\n", (string) $content, 2)[0];
            $this->assertDoesNotMatchRegularExpression('/^(Bcc|X-Injected|RCPT|INJECTED)/mi', $head, Wire::show($head, 2000));
            $this->assertStringNotContainsString("\0", (string) $content, 'a NUL went out');
            $mime = $this->parse((string) $content);
            $this->assertSame([], self::values($mime, 'Bcc'));
            $this->assertSame([], self::values($mime, 'X-Injected'));
        }
    }
}
