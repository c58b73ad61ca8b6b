<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * CR, LF and NUL injected into every field of every PHP API, proven on
 * the wire with the capture server: InputValidationTest shows each is an
 * InvalidInputException; here the server's capture shows that nothing
 * went out because of it.
 *
 * - Connection settings (EHLO name, host, user, password, token,
 *   mechanism, CA file, URL user, password and client_name): refused
 *   before connecting; the server sees no connection at all until a good
 *   Mailer connects.
 * - Message fields, attachment and inline names, content types and ids,
 *   extra headers, the sendRaw() envelope: refused on a live session;
 *   the server sees EHLO, then only the good message sent afterwards
 *   (MAIL, RCPT, DATA, QUIT), and "INJECTED" nowhere.
 * - send_mail: returns false; connection settings never connect, message
 *   fields never get past EHLO (QUIT aside).
 */
final class WireInjectionTest extends SmtpTestCase
{
    /** @return iterable<string, array{string}> */
    public static function injections(): iterable
    {
        yield 'CR' => ["\r"];
        yield 'LF' => ["\n"];
        yield 'CRLF' => ["\r\n"];
        yield 'NUL' => ["\0"];
        yield 'CRLF and a command' => ["\r\nRCPT TO:<INJECTED@evil.test>\r\n"];
        yield 'CRLF and a header' => ["\r\nBcc: INJECTED@evil.test\r\n"];
    }

    /** $base, the injection, then "INJECTED" (so the capture can look for it). */
    private static function bad(string $base, string $injection): string
    {
        return $base . $injection . 'INJECTED';
    }

    /**
     * Every field of Message and the sendRaw() envelope, as closures that
     * must throw InvalidInputException.
     *
     * @return array<string, \Closure(): mixed>
     */
    private static function messageFields(Mailer $mailer, string $injection): array
    {
        $address = self::bad('a@example.test', $injection);
        $text = self::bad('text', $injection);
        $m = static fn (): Message => new Message();
        $file = __FILE__;
        return [
            'from' => static fn () => $m()->from($address),
            'from (constructor)' => static fn () => new Message(from: $address),
            'sender' => static fn () => $m()->sender($address),
            'to' => static fn () => $m()->to($address),
            'to (list item)' => static fn () => $m()->to(['ok@example.test', $address]),
            'to (map key)' => static fn () => $m()->to([$address => 'Name']),
            'to (display name)' => static fn () => $m()->to(['ok@example.test' => self::bad('Jane', $injection)]),
            'cc' => static fn () => $m()->cc($address),
            'bcc' => static fn () => $m()->bcc($address),
            'replyTo' => static fn () => $m()->replyTo($address),
            'subject' => static fn () => $m()->subject($text),
            'subject (constructor)' => static fn () => new Message(subject: $text),
            'header name' => static fn () => $m()->header(self::bad('X-Name', $injection), 'value'),
            'header value' => static fn () => $m()->header('X-Name', $text),
            'headers (constructor)' => static fn () => new Message(headers: ['X-Name' => $text]),
            'messageId' => static fn () => $m()->messageId(self::bad('<id@example.test>', $injection)),
            'inReplyTo' => static fn () => $m()->inReplyTo(self::bad('<id@example.test>', $injection)),
            'references' => static fn () => $m()->references(self::bad('<id@example.test>', $injection)),
            'envelopeFrom' => static fn () => $m()->envelopeFrom($address),
            'envelopeTo' => static fn () => $m()->envelopeTo($address),
            'attachData name' => static fn () => $m()->attachData('x', self::bad('a.txt', $injection)),
            'attachData content type' => static fn () => $m()->attachData('x', 'a.txt', self::bad('text/plain', $injection)),
            'attachFile path' => static fn () => $m()->attachFile(self::bad($file, $injection)),
            'attachFile name' => static fn () => $m()->attachFile($file, self::bad('a.txt', $injection)),
            'attachFile content type' => static fn () => $m()->attachFile($file, 'a.txt', self::bad('text/plain', $injection)),
            'attachments (constructor)' => static fn () => new Message(attachments: [$file => self::bad('a.txt', $injection)]),
            'embedData content id' => static fn () => $m()->embedData('x', self::bad('logo', $injection)),
            'embedData name' => static fn () => $m()->embedData('x', 'logo', self::bad('l.png', $injection)),
            'embedData content type' => static fn () => $m()->embedData('x', 'logo', 'l.png', self::bad('image/png', $injection)),
            'embedFile content id' => static fn () => $m()->embedFile($file, self::bad('logo', $injection)),
            'embedFile path' => static fn () => $m()->embedFile(self::bad($file, $injection), 'logo'),
            'sendRaw from' => static fn () => $mailer->sendRaw("Subject: x\r\n\r\nx\r\n", $address, 'rcpt@example.test'),
            'sendRaw to' => static fn () => $mailer->sendRaw("Subject: x\r\n\r\nx\r\n", 'sender@example.test', $address),
            'sendRaw to (list)' => static fn () => $mailer->sendRaw("Subject: x\r\n\r\nx\r\n", 'sender@example.test',
                ['rcpt@example.test', $address]),
        ];
    }

    /** @dataProvider injections */
    public function testMessageFieldsAreRefusedOnALiveSessionAndNothingIsSent(string $injection): void
    {
        $server = ScriptedServer::capture();
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', clientName: 'client.test', timeout: 5);
        $mailer->connect();
        $accepted = [];
        foreach (self::messageFields($mailer, $injection) as $field => $attempt) {
            try {
                $attempt();
                $accepted[] = $field;
            } catch (InvalidInputException $e) {
                $this->assertDoesNotMatchRegularExpression('/[\r\n\0]/', $e->getMessage(), $field);
                $this->assertStringNotContainsString('INJECTED', $e->getMessage(), "$field: the message echoes the value");
            }
            $this->assertTrue($mailer->isConnected(), "$field: the session was lost");
        }
        $this->assertSame([], $accepted, 'fields that accepted the injection');

        // The session is still in step: a good message goes through.
        $mailer->send(new Message(from: 'sender@example.test', to: 'rcpt@example.test', subject: 'after', text: "ok\n"));
        $mailer->quit();
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(1, $report['connections']);
        $this->assertSame(['EHLO client.test', 'MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'QUIT'],
            Wire::lines($report['connections'][0]));
        $this->assertStringNotContainsString('INJECTED', Wire::allRaw($report));
    }

    public function testEncodedWordsThatDecodeToLineBreaksDoNotReachTheWireDecoded(): void
    {
        $server = ScriptedServer::capture();
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', clientName: 'client.test', timeout: 5);
        $word = '=?UTF-8?B?' . base64_encode("x\r\nBcc: INJECTED@evil.test\r\nX-Injected: 1") . '?=';
        $qword = '=?UTF-8?Q?x=0D=0ABcc=3A_INJECTED=40evil.test?=';
        $sent = 0;
        foreach ([['subject' => $word], ['subject' => $qword], ['headers' => ['X-Note' => $word]],
            ['to' => ['rcpt@example.test' => $word]], ['to' => "$qword <rcpt@example.test>"]] as $args) {
            try {
                $mailer->send(new Message(...$args + ['from' => 'sender@example.test', 'to' => 'rcpt@example.test', 'text' => "x\n"]));
                $sent++;
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1); // refused: as good
            }
        }
        // The session is in step: a good message follows.
        $mailer->send(new Message(from: 'sender@example.test', to: 'rcpt@example.test', subject: 'after', text: "x\n"));
        $mailer->quit();
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $transactions = Wire::transactions($report);
        $this->assertCount($sent + 1, $transactions);
        $this->assertStringNotContainsString('INJECTED@evil.test', Wire::allRaw($report));
        foreach ($transactions as $t) {
            $this->assertSame(['RCPT TO:<rcpt@example.test>'], $t['rcpt']);
            [$content, $error] = Wire::content($t['body']);
            $this->assertNull($error);
            $head = explode("\r\n\r\n", (string) $content, 2)[0];
            $this->assertDoesNotMatchRegularExpression('/^(Bcc|X-Injected|INJECTED)/mi', $head);
        }
    }

    /**
     * Connection settings as Mailer factories whose connect() must throw
     * InvalidInputException (or their constructor).
     *
     * @return array<string, \Closure(): Mailer>
     */
    private static function connectionSettings(int $port, string $injection): array
    {
        $base = ['host' => '127.0.0.1', 'port' => $port, 'security' => 'none', 'clientName' => 'client.test', 'timeout' => 5];
        $mailer = static fn (array $options): \Closure => static fn (): Mailer => new Mailer(...$options + $base);
        $url = static fn (string $userinfo, string $query = ''): \Closure => static fn (): Mailer => Mailer::fromUrl(
            "smtp://{$userinfo}127.0.0.1:$port?security=none&client_name=client.test$query",
            timeout: 5,
        );
        $enc = static fn (string $s): string => rawurlencode(self::bad($s, $injection));
        return [
            'clientName' => $mailer(['clientName' => self::bad('client.test', $injection)]),
            'host' => $mailer(['host' => self::bad('127.0.0.1', $injection)]),
            'user' => $mailer(['user' => self::bad('alice', $injection), 'password' => 'pw']),
            'password' => $mailer(['user' => 'alice', 'password' => self::bad('pw-S3cret', $injection)]),
            'token user' => $mailer(['user' => self::bad('alice', $injection), 'token' => 'ya29.token']),
            'token' => $mailer(['user' => 'alice', 'token' => self::bad('ya29.t0ken', $injection)]),
            'mechanism' => $mailer(['user' => 'alice', 'password' => 'pw', 'mechanism' => self::bad('PLAIN', $injection)]),
            'caFile' => $mailer(['caFile' => self::bad('/etc/ssl/certs/ca-certificates.crt', $injection)]),
            'url user' => $url($enc('alice') . ':pw@'),
            'url password' => $url('alice:' . $enc('pw-S3cret') . '@'),
            'url client_name' => $url('', '&client_name=' . $enc('client.test')),
        ];
    }

    /** @dataProvider injections */
    public function testConnectionSettingsAreRefusedBeforeConnecting(string $injection): void
    {
        $server = ScriptedServer::capture();
        $accepted = [];
        foreach (self::connectionSettings($server->port, $injection) as $setting => $make) {
            foreach (['connect', 'send'] as $call) {
                try {
                    $mailer = $make();
                    $call === 'connect' ? $mailer->connect()
                        : $mailer->send(new Message(from: 'sender@example.test', to: 'rcpt@example.test', text: "x\n"));
                    $accepted[] = "$setting ($call)";
                } catch (InvalidInputException $e) {
                    $everything = $e->getMessage() . (string) $e;
                    $this->assertStringNotContainsString('INJECTED', $e->getMessage(), "$setting: the message echoes the value");
                    $this->assertStringNotContainsString('S3cret', $everything, "$setting: a secret in the exception");
                    $this->assertStringNotContainsString('t0ken', $everything, "$setting: a token in the exception");
                }
                unset($mailer);
            }
        }
        $this->assertSame([], $accepted, 'settings that connected with the injection');

        // The first connection the server sees is this good one.
        $good = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', clientName: 'client.test', timeout: 5);
        $good->connect();
        $good->quit();
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(1, $report['connections'], 'a refused setting opened a connection');
        $this->assertSame(['EHLO client.test', 'QUIT'], Wire::lines($report['connections'][0]));
        $this->assertStringNotContainsString('INJECTED', Wire::allRaw($report));
    }

    /** @dataProvider injections */
    public function testLegacySendMailRefusesEveryFieldWithoutSendingIt(string $injection): void
    {
        // Connection settings: never a connection.
        $server = ScriptedServer::capture();
        $target = '127.0.0.1:' . $server->port;
        foreach ([
            'welcome (EHLO name)' => new \send_mail($target, false, '', '', self::bad('client.test', $injection)),
            'user' => new \send_mail($target, true, self::bad('alice', $injection), 'pw', 'client.test'),
            'password' => new \send_mail($target, true, 'alice', self::bad('pw-S3cret', $injection), 'client.test'),
            'server' => new \send_mail(self::bad('127.0.0.1', $injection) . ':' . $server->port, false, '', '', 'client.test'),
        ] as $setting => $sendmail) {
            $this->assertFalse($sendmail->send('rcpt@example.test', 'sender@example.test', 's', 'body'), $setting);
            $this->assertStringNotContainsString('S3cret', $sendmail->lastmessage . $sendmail->lasterror, $setting);
        }
        $good = new \send_mail($target, false, '', '', 'client.test');
        $this->assertTrue($good->send('rcpt@example.test', 'sender@example.test', 'good', 'body'), $good->lasterror);
        $report = $server->finish();
        $this->assertCount(1, $report['connections'], 'a refused setting opened a connection');
        $this->assertSame('EHLO client.test', Wire::lines($report['connections'][0])[0]);
        $this->assertStringNotContainsString('INJECTED', Wire::allRaw($report));

        // Message fields: refused before connecting.
        $server = ScriptedServer::capture();
        $sendmail = new \send_mail('127.0.0.1:' . $server->port, false, '', '', 'client.test');
        $cases = [
            'to' => [self::bad('rcpt@example.test', $injection), 'sender@example.test', 'subject', 'body'],
            'to (array)' => [['ok@example.test', self::bad('rcpt@example.test', $injection)], 'sender@example.test', 'subject', 'body'],
            'from' => ['rcpt@example.test', self::bad('sender@example.test', $injection), 'subject', 'body'],
            'subject' => ['rcpt@example.test', 'sender@example.test', self::bad('subject', $injection), 'body'],
        ];
        foreach ($cases as $field => $args) {
            // Both the composed path and the raw one (a message with its own header lines).
            foreach (['body', "X-Own: header\r\n\r\nbody"] as $message) {
                $args[3] = $message;
                $this->assertFalse($sendmail->send(...$args), "$field was accepted");
                $this->assertStringNotContainsString('INJECTED', $sendmail->lastmessage, $field);
            }
        }
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(0, $report['connections'], 'a refused message field opened a connection');
        $this->assertStringNotContainsString('INJECTED', Wire::allRaw($report));
    }
}
