<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\AuthenticationException;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Relay failover from PHP: a host list (string or array) tried in order.
 * A refused port, then the script server greeting 421, then Postfix,
 * which takes the message; the result, the server info and the transcript
 * name the server that took it. Refused credentials never move on.
 */
final class FailoverTest extends SmtpTestCase
{
    /** A loopback port nothing listens on. */
    private static function closedPort(): int
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        self::assertNotFalse($server);
        $name = (string) stream_socket_get_name($server, false);
        fclose($server);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    public function testTheThirdServerTakesTheMessage(): void
    {
        $bed = $this->bed();
        $busy = new ScriptedServer('busy');
        $third = '127.0.0.1:' . $bed->port('plain');
        $this->transcript = [];
        $mailer = new Mailer(
            host: ['127.0.0.1:' . self::closedPort(), '127.0.0.1:' . $busy->port, $third],
            security: 'none',
            user: $bed->user(),
            password: $bed->password(),
            timeout: 20,
            transcript: function ($direction, string $line): void {
                $this->transcript[] = $line;
            },
        );
        $marker = TestBed::marker('phpfailover');
        $result = $mailer->send(new Message(
            from: $bed->address('sender'),
            to: $bed->address('failover-php'),
            subject: $marker,
            text: "taken by the third server\n",
        ));
        $this->assertSame($third, $result->server);
        $this->assertSame($third, $mailer->serverInfo()->server);
        $mailer->quit();
        $busy->stop();
        $log = implode("\n", $this->transcript);
        $this->assertStringContainsString('trying the next server, 127.0.0.1:' . $busy->port, $log);
        $this->assertStringContainsString('trying the next server, ' . $third, $log);
        $this->assertStringContainsString('421 4.3.2', $log);
        $this->assertNoSecret($log);
        $messages = $bed->waitForMessages($marker);
        $this->assertCount(1, $messages);
        $this->assertStringContainsString('taken by the third server', $messages[0]);
    }

    public function testRefusedCredentialsDoNotMoveOn(): void
    {
        $refusing = new ScriptedServer('plain-fail');
        $next = stream_socket_server('tcp://127.0.0.1:0');
        $this->assertNotFalse($next);
        $name = (string) stream_socket_get_name($next, false);
        $mailer = new Mailer(
            host: "127.0.0.1:{$refusing->port},$name",
            security: 'none',
            user: 'ann',
            password: 'not the password',
            timeout: 5,
            clientName: 'client.test',
        );
        try {
            $mailer->connect();
            $this->fail('connected with refused credentials');
        } catch (AuthenticationException $e) {
            $this->assertStringNotContainsString('not the password', $e->getMessage());
        }
        $refusing->stop();
        stream_set_blocking($next, false);
        $this->assertFalse(@stream_socket_accept($next, 0), 'the second server was tried after a 535');
        fclose($next);
    }

    public function testEveryServerDownNamesTheLastAndBadListsAreRefused(): void
    {
        $last = '127.0.0.1:' . self::closedPort();
        $mailer = new Mailer(host: '127.0.0.1:' . self::closedPort() . ',' . $last, security: 'none', timeout: 5);
        try {
            $mailer->connect();
            $this->fail('connected to closed ports');
        } catch (ConnectionException $e) {
            $this->assertStringContainsString($last, $e->getMessage());
        }
        $this->expectException(InvalidInputException::class);
        new Mailer(host: 'a.example,,b.example', security: 'none');
    }
}
