<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\ConnectionException;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Message;
use Smtp\Pool;

/**
 * Smtp\Pool against the test bed: a long-running worker (a child PHP
 * process taking 50 jobs off its standard input) sends each message
 * once through one Pool; a Pool whose idle session the server closed (a
 * proxy in front of Postfix that closes idle connections, with Postfix's
 * 421 or without a word) still sends, on a new session; a tiny
 * idleTimeout makes the pool close its session itself; refused
 * recipients and a closed pool. Without a server: bad options are
 * InvalidInputExceptions naming them, and nothing secret is shown.
 */
final class PoolTest extends SmtpTestCase
{
    /** A Pool for the bed's plain port (AUTH over loopback plaintext). */
    private function pool(array $options = [], ?int $port = null): Pool
    {
        $bed = $this->bed();
        return new Pool(...array_merge([
            'host' => $bed->host(),
            'port' => $port ?? $bed->port('plain'),
            'security' => 'none',
            'user' => $bed->user(),
            'password' => $bed->password(),
            'timeout' => 20,
            'connectTimeout' => 20,
        ], $options));
    }

    /** A raw message whose subject carries $marker. */
    private static function raw(TestBed $bed, string $marker): string
    {
        return 'From: <' . $bed->address('pool-sender') . ">\r\nTo: <" . $bed->address('pool')
            . ">\r\nSubject: $marker\r\n\r\nthrough a Smtp\\Pool\r\n";
    }

    public function testFiftyMessagesFromALongRunningWorkerArriveOnceEach(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-pool50');
        $process = proc_open(
            ['timeout', '120', PHP_BINARY, __DIR__ . '/fixtures/pool-worker.php'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes,
        );
        $this->assertIsResource($process);
        $lines = [json_encode([
            'host' => $bed->host(), 'port' => $bed->port('plain'), 'user' => $bed->user(),
            'password' => $bed->password(), 'from' => $bed->address('pool-sender'),
            'to' => $bed->address('pool'), 'marker' => $marker, 'maxConnections' => 2,
            'maxMessagesPerConnection' => 20,
        ])];
        for ($i = 0; $i < 50; $i++) {
            $lines[] = json_encode(['i' => $i, 'kind' => $i % 2 === 0 ? 'raw' : 'message']);
        }
        fwrite($pipes[0], implode("\n", $lines) . "\n");
        fclose($pipes[0]);
        $out = (string) stream_get_contents($pipes[1]);
        $errors = (string) stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $this->assertSame(0, proc_close($process), $errors . $out);
        $this->assertNoSecret($out . $errors);

        $reports = array_map(
            static fn (string $l): array => json_decode($l, true, 512, JSON_THROW_ON_ERROR),
            array_values(array_filter(explode("\n", $out), static fn (string $l): bool => $l !== '')),
        );
        $done = array_pop($reports);
        $this->assertTrue($done['done'] ?? false, $out);
        $this->assertCount(50, $reports, $out);
        $queueIds = [];
        foreach ($reports as $n => $report) {
            $this->assertSame($n, $report['i']);
            $this->assertArrayNotHasKey('error', $report, $report['error'] ?? '');
            $this->assertSame(250, $report['code']);
            // One worker, one message at a time: one session is enough,
            // kept from one job to the next, and retired (QUIT) after its
            // 20th message (maxMessagesPerConnection).
            $this->assertSame(($n + 1) % 20 === 0 ? 0 : 1, $report['open'], "after job $n");
            $queueIds[] = $report['queueId'];
        }
        $this->assertCount(50, array_unique($queueIds), 'a queue id came back twice');
        $this->assertSame([1, 1], [$done['open'], $done['idle']]); // the third session, 10 messages in

        $messages = $bed->waitForMessages($marker, 50, 60.0);
        $seen = [];
        foreach ($messages as $content) {
            $this->assertSame(1, preg_match('/' . preg_quote($marker, '/') . '-(\d{3})-end/', $content, $m));
            $seen[] = (int) $m[1];
        }
        sort($seen);
        $this->assertSame(range(0, 49), $seen, 'every message once');
    }

    /** @return array<string, array{string}> */
    public static function serverCloses(): array
    {
        return ['with a 421, as Postfix does' => ['421'], 'without a word' => ['silent']];
    }

    /**
     * @dataProvider serverCloses
     */
    public function testAPoolStillSendsAfterTheServerClosedItsIdleSession(string $mode): void
    {
        $bed = $this->bed();
        $proxy = new IdleProxy($bed->host(), $bed->port('plain'), 300, $mode);
        $marker = TestBed::marker("php-pool-idle-$mode");
        $pool = $this->pool(port: $proxy->port);

        $first = $pool->sendRaw(self::raw($bed, "$marker-first"), $bed->address('pool-sender'), $bed->address('pool'));
        $this->assertSame(250, $first->code);
        $this->assertSame([1, 1], [$pool->openConnections(), $pool->idleConnections()]);
        // The proxy closes the session after 300 ms without traffic; the
        // pool keeps it on its shelf until the next send looks at it.
        usleep(1_200_000);
        $second = $pool->send(new Message(from: $bed->address('pool-sender'), to: $bed->address('pool'),
            subject: "$marker-second", text: "after the server closed the idle session\n"));
        $this->assertSame(250, $second->code);
        $this->assertNotSame($first->queueId(), $second->queueId());
        $this->assertSame(1, $pool->openConnections());
        $pool->close();

        $stats = $proxy->finish();
        $this->assertSame(2, $stats['connections'], 'the closed session was replaced by a new one');
        $this->assertGreaterThanOrEqual(1, $stats['idleClosed']);
        $bed->waitForMessage("$marker-first");
        $bed->waitForMessage("$marker-second");
    }

    public function testATinyIdleTimeoutClosesTheSessionBeforeTheServerDoes(): void
    {
        $bed = $this->bed();
        // The proxy would close after 5 s; the pool's own timer is 200 ms.
        $proxy = new IdleProxy($bed->host(), $bed->port('plain'), 5000, '421');
        $marker = TestBed::marker('php-pool-tiny-idle');
        $pool = $this->pool(['idleTimeout' => 0.2], $proxy->port);
        $pool->sendRaw(self::raw($bed, "$marker-first"), $bed->address('pool-sender'), $bed->address('pool'));
        usleep(600_000);
        $result = $pool->sendRaw(self::raw($bed, "$marker-second"), $bed->address('pool-sender'), $bed->address('pool'));
        $this->assertSame(250, $result->code);
        $this->assertSame(1, $pool->openConnections());
        $pool->close();
        $stats = $proxy->finish();
        $this->assertSame(['connections' => 2, 'idleClosed' => 0], $stats);
        $bed->waitForMessage("$marker-second");
    }

    public function testRefusedRecipientsAndAClosedPool(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-pool-refused');
        $pool = $this->pool(['maxConnections' => 1, 'rate' => 50]);
        $result = $pool->sendRaw(self::raw($bed, $marker), $bed->address('pool-sender'),
            [$bed->address('good'), $bed->address('reject-x')]);
        $this->assertSame(250, $result->code);
        $this->assertCount(2, $result->recipients);
        $this->assertCount(1, $result->refused());
        $this->assertSame($bed->address('reject-x'), $result->refused()[0]->address);
        $this->assertSame(550, $result->refused()[0]->code);
        try {
            $pool->sendRaw(self::raw($bed, "$marker-none"), $bed->address('pool-sender'), $bed->address('reject-y'));
            $this->fail('every recipient refused: an exception');
        } catch (RecipientsRefusedException $e) {
            $this->assertSame(550, $e->getSmtpCode());
            $this->assertSame('5.1.1', $e->getEnhancedCode());
            $this->assertSame($bed->address('reject-y'), $e->getRefused()[0]->address);
        }
        $this->assertSame(1, $pool->openConnections(), 'the session survived both');
        $pool->close();
        $pool->close();
        $this->assertSame(0, $pool->openConnections());
        try {
            $pool->sendRaw(self::raw($bed, "$marker-closed"), $bed->address('pool-sender'), $bed->address('pool'));
            $this->fail('a closed pool sends nothing');
        } catch (ConnectionException $e) {
            $this->assertStringContainsString('closed', $e->getMessage());
        }
        $this->assertStringContainsString('through a Smtp\\Pool', $bed->waitForMessage($marker));
        $this->assertTrue($bed->noMessageWith("$marker-none", 0.5));
        $this->assertTrue($bed->noMessageWith("$marker-closed", 0.1));
    }

    /** @return array<string, array{array<string, mixed>, string}> */
    public static function badOptions(): array
    {
        return [
            'misspelt option name' => [['options' => ['max_conections' => 2]], 'max_conections'],
            'unknown client option' => [['options' => ['pipelinig' => false]], 'pipelinig'],
            'no connections' => [['maxConnections' => 0], 'max_connections'],
            'too many connections' => [['maxConnections' => 5000], 'max_connections'],
            'not a count' => [['maxConnections' => 'many'], 'maxConnections'],
            'negative count' => [['maxRecipients' => -1], 'maxRecipients'],
            'not a duration' => [['idleTimeout' => 'soon'], 'idle_timeout'],
            'not a rate' => [['rate' => 'fast'], 'rate'],
            'bad value by name' => [['options' => ['noop_after' => 'never']], 'noop_after'],
            'bad security' => [['security' => 'maybe'], 'security'],
            'url and host' => [['url' => 'smtp://127.0.0.1:1', 'host' => '127.0.0.1'], 'either a URL'],
            'not a url' => [['url' => '127.0.0.1'], 'smtp://'],
            'url as host' => [['host' => 'smtp://127.0.0.1'], 'url'],
        ];
    }

    /**
     * @dataProvider badOptions
     * @param array<string, mixed> $arguments
     */
    public function testABadOptionIsAnInvalidInputExceptionNamingIt(array $arguments, string $named): void
    {
        $arguments += isset($arguments['url']) ? [] : ['host' => '127.0.0.1', 'port' => 1];
        try {
            new Pool(...$arguments);
            $this->fail('accepted');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString($named, $e->getMessage());
        }
    }

    public function testOptionsByNameAndNoSecretShown(): void
    {
        $password = 'pool-s3cret pass!';
        $pool = new Pool(host: '127.0.0.1', port: 1, security: 'none', user: 'u', password: $password,
            maxConnections: 3, idleTimeout: '500ms', maxMessagesPerConnection: 0, noopAfter: 1.5,
            rate: 2.5, maxRecipients: 50, backoff: 0.5, maxBackoff: 10,
            options: ['connect_timeout' => 2, 'pipelining' => false, 'max_connections' => 2]);
        $this->assertSame(0, $pool->openConnections(), 'nothing opens before a send');
        $shown = print_r($pool, true) . var_export($pool->__debugInfo(), true);
        $this->assertNoSecret($shown, $password, 'u');
        // Nothing listens on port 1: the first send's connect fails, and
        // the failed session is not counted.
        try {
            $pool->sendRaw("Subject: x\r\n\r\nx\r\n", 'a@example.test', 'b@example.test');
            $this->fail('nothing listens on port 1');
        } catch (ConnectionException $e) {
            $this->assertStringNotContainsString($password, $e->getMessage());
        }
        $this->assertSame(0, $pool->openConnections());
        $this->expectException(\Smtp\Exception\LibraryException::class);
        clone $pool;
    }
}
