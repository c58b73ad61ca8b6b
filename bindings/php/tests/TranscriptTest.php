<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\ConnectionException;
use Smtp\Internal\TranscriptRouter;
use Smtp\Mailer;
use Smtp\TranscriptDirection;

/**
 * The transcript callback: directions, several clients at once, and an
 * exception thrown by the callable (which must not cross libsmtp: PHP
 * would crash) handed back after the call.
 */
final class TranscriptTest extends SmtpTestCase
{
    public function testDirectionsAndTwoClientsKeepTheirOwnLines(): void
    {
        $bed = $this->bed();
        $first = [];
        $second = [];
        $a = $this->mailer('noauth', ['transcript' => function (TranscriptDirection $d, string $l) use (&$first): void {
            $first[] = [$d, $l];
        }]);
        $b = $this->mailer('noauth', ['transcript' => function (TranscriptDirection $d, string $l) use (&$second): void {
            $second[] = [$d, $l];
        }, 'clientName' => 'second.example.test']);
        $a->connect();
        $b->connect();
        $a->noop();
        $directions = array_unique(array_map(static fn ($e) => $e[0]->name, $first));
        sort($directions);
        $this->assertSame(['Info', 'Received', 'Sent'], $directions);
        $this->assertContains([TranscriptDirection::Sent, 'NOOP'], $first);
        $this->assertNotContains([TranscriptDirection::Sent, 'NOOP'], $second);
        $this->assertContains([TranscriptDirection::Sent, 'EHLO second.example.test'], $second);
        $this->assertNotContains([TranscriptDirection::Sent, 'EHLO second.example.test'], $first);
    }

    public function testAnExceptionFromTheCallableComesBackAfterTheCall(): void
    {
        $bed = $this->bed();
        $calls = 0;
        $mailer = $this->mailer('noauth', ['transcript' => function () use (&$calls): void {
            $calls++;
            throw new \DomainException("from the callable $calls");
        }]);
        try {
            $mailer->connect();
            $this->fail('expected the callable\'s exception');
        } catch (\DomainException $e) {
            $this->assertSame('from the callable 1', $e->getMessage(), 'the first one');
        }
        $this->assertGreaterThan(1, $calls, 'the session went on');
        $this->assertTrue($mailer->isConnected(), 'the connect itself succeeded');
    }

    public function testAFailedCallWinsOverTheCallablesException(): void
    {
        $server = new ScriptedServer('silent');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 0.3,
            transcript: static function (): void {
                throw new \LogicException('callable');
            });
        try {
            $mailer->connect();
            $this->fail('expected a ConnectionException');
        } catch (ConnectionException $e) {
            $this->assertInstanceOf(\LogicException::class, $e->getPrevious());
        }
    }

    public function testSinksAreUnregisteredWhenTheMailerGoes(): void
    {
        $before = TranscriptRouter::count();
        $mailer = new Mailer(host: '127.0.0.1', port: 25, transcript: static fn () => null);
        $this->assertSame($before + 1, TranscriptRouter::count());
        unset($mailer);
        $this->assertSame($before, TranscriptRouter::count());
        $mailer = new Mailer(host: '127.0.0.1', port: 25, transcript: static fn () => null);
        $mailer->close();
        $this->assertSame($before, TranscriptRouter::count());
        $this->expectException(ConnectionException::class);
        $mailer->noop();
    }
}
