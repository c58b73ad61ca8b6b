<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Exception\UnsupportedException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Delivery options of a Message: DSN (RET, ENVID, NOTIFY, ORCPT),
 * REQUIRETLS and MT-PRIORITY. The capturing server shows the MAIL and RCPT
 * lines as sent and what happens when the server lacks an extension; the
 * Postfix test bed sends a success notification back carrying the ENVID.
 */
final class DeliveryOptionsTest extends SmtpTestCase
{
    private static function scriptedMailer(ScriptedServer $server): Mailer
    {
        return new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 5, clientName: 'client.test');
    }

    private static function message(): Message
    {
        return new Message(from: 'sender@example.test', to: 'rcpt@example.test', subject: 'options', text: "body\n");
    }

    public function testTheParametersGoOnTheWire(): void
    {
        $server = ScriptedServer::capture(['ehlo' => ['DSN', 'MT-PRIORITY', '8BITMIME']]);
        $mailer = self::scriptedMailer($server);
        $message = self::message()
            ->dsnReturn('HDRS')
            ->envelopeId('id+1 =')
            ->notify(['success', 'delay'], 'rcpt@example.test')
            ->originalRecipient('rcpt@example.test', 'list+x@example.test')
            ->priority(-3);
        $result = $mailer->send($message);
        $this->assertSame([], $result->omittedExtensions);
        $mailer->quit();
        $lines = Wire::lines($server->finish()['connections'][0]);
        $this->assertContains('MAIL FROM:<sender@example.test> RET=HDRS ENVID=id+2B1+20+3D MT-PRIORITY=-3', $lines);
        $this->assertContains('RCPT TO:<rcpt@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;list+2Bx@example.test', $lines);
    }

    public function testMailerDefaultsApplyToRawSendsToo(): void
    {
        $server = ScriptedServer::capture(['ehlo' => ['DSN']]);
        $mailer = new Mailer(
            host: '127.0.0.1',
            port: $server->port,
            security: 'none',
            timeout: 5,
            clientName: 'client.test',
            options: ['dsn_notify' => 'success,failure', 'dsn_return' => 'full'],
        );
        $mailer->sendRaw("Subject: raw\r\n\r\nbody\r\n", 'sender@example.test', 'rcpt@example.test');
        // A message's own NOTIFY wins over the Mailer's.
        $mailer->send(self::message()->notify('never'));
        $mailer->quit();
        $lines = Wire::lines($server->finish()['connections'][0]);
        $this->assertContains('MAIL FROM:<sender@example.test> RET=FULL', $lines);
        $this->assertContains('RCPT TO:<rcpt@example.test> NOTIFY=SUCCESS,FAILURE', $lines);
        $this->assertContains('RCPT TO:<rcpt@example.test> NOTIFY=NEVER', $lines);
        try {
            new Mailer(host: '127.0.0.1', options: ['dsn_notify' => 'never,delay']);
            $this->fail('accepted NEVER with DELAY');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('dsn_notify', $e->getMessage());
        }
    }

    public function testWithoutDsnTheSendIsRefusedUnlessAllowed(): void
    {
        $server = ScriptedServer::capture(['ehlo' => ['8BITMIME']]);
        $mailer = self::scriptedMailer($server);
        $message = self::message()->notify('failure')->priority(4);
        try {
            $mailer->send($message);
            $this->fail('sent without DSN');
        } catch (UnsupportedException $e) {
            $this->assertStringContainsString('DSN', $e->getMessage());
        }
        $result = $mailer->send($message->dsnIfOffered());
        $this->assertSame(['DSN', 'MT-PRIORITY'], $result->omittedExtensions);
        $mailer->quit();
        $lines = Wire::lines($server->finish()['connections'][0]);
        $mails = array_values(array_filter($lines, static fn (string $l): bool => str_starts_with($l, 'MAIL ')));
        $this->assertSame(['MAIL FROM:<sender@example.test>'], $mails, 'one MAIL, without parameters');
        $this->assertContains('RCPT TO:<rcpt@example.test>', $lines);
    }

    public function testRequireTlsInClearIsRefusedBeforeAnythingIsSent(): void
    {
        $server = ScriptedServer::capture(['ehlo' => ['REQUIRETLS']]);
        $mailer = self::scriptedMailer($server);
        try {
            $mailer->send(self::message()->requireTls());
            $this->fail('REQUIRETLS sent in clear');
        } catch (UnsupportedException $e) {
            $this->assertStringContainsString('REQUIRETLS', $e->getMessage());
        }
        $mailer->quit();
        foreach (Wire::lines($server->finish()['connections'][0]) as $line) {
            $this->assertStringStartsNotWith('MAIL', $line);
        }
    }

    public function testBadValuesAreInvalidInput(): void
    {
        $bad = [
            'never and success' => static fn (Message $m) => $m->notify('never,success'),
            'unknown notify' => static fn (Message $m) => $m->notify(['sometimes']),
            'notify not strings' => static fn (Message $m) => $m->notify([1]),
            'empty envid' => static fn (Message $m) => $m->envelopeId(''),
            'long envid' => static fn (Message $m) => $m->envelopeId(str_repeat('=', 40)),
            'orcpt with CRLF' => static fn (Message $m) => $m->originalRecipient('rcpt@example.test', "a@b.test>\r\nRCPT TO:<c@d.test"),
            'orcpt without domain' => static fn (Message $m) => $m->originalRecipient('rcpt@example.test', 'nodomain'),
            'ret' => static fn (Message $m) => $m->dsnReturn('ALL'),
            'priority range' => static fn (Message $m) => $m->priority(10),
            'priority type' => static fn (Message $m) => $m->priority('5'),
            'NUL in envid' => static fn (Message $m) => $m->envelopeId("a\0b"),
            'CR LF in envid' => static fn (Message $m) => $m->envelopeId("a\r\nX-Injected: 1"),
            'non-ASCII envid' => static fn (Message $m) => $m->envelopeId('é'),
        ];
        foreach ($bad as $what => $call) {
            try {
                $call(self::message());
                $this->fail("$what accepted");
            } catch (InvalidInputException $e) {
                $this->assertNotSame('', $e->getMessage(), $what);
            }
        }
    }

    public function testPostfixSendsBackASuccessNotification(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('phpdsn');
        $message = new Message(
            from: $bed->address($marker),
            to: $bed->address('dsn-php'),
            subject: "success $marker",
            text: "tell me\n",
        );
        $message->notify('SUCCESS')->envelopeId($marker)->dsnReturn('HDRS');
        $mailer = $this->mailer();
        $this->assertSame([], $mailer->send($message)->omittedExtensions);
        $mailer->quit();
        $found = $bed->waitForMessage("Original-Envelope-Id: $marker", 30.0);
        $this->assertStringContainsString('Action: delivered', $found);
    }
}
