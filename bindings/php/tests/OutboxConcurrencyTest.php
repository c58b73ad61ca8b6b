<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * php-fpm workers enqueueing at once: 8 PHP processes
 * (tests/fixtures/outbox-worker.php) enqueue 200 messages in all into one
 * outbox. Every id they were given is listed, no id twice; one flush then
 * delivers each message exactly once to the test bed's Maildir.
 */
final class OutboxConcurrencyTest extends SmtpTestCase
{
    private const PROCESSES = 8;

    private const PER_PROCESS = 25;

    public function testEightProcessesEnqueueThenOneFlushDeliversEachOnce(): void
    {
        $bed = $this->bed();
        $dir = sys_get_temp_dir() . '/smtp-php-outbox-' . getmypid() . '-' . bin2hex(random_bytes(6));
        try {
            $this->run8($bed, $dir);
        } finally {
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    private function run8(TestBed $bed, string $dir): void
    {
        $total = self::PROCESSES * self::PER_PROCESS;
        $marker = TestBed::marker('php-outbox-load');
        $children = [];
        for ($i = 0; $i < self::PROCESSES; $i++) {
            $process = proc_open([PHP_BINARY, __DIR__ . '/fixtures/outbox-worker.php'],
                [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
            $this->assertIsResource($process);
            fwrite($pipes[0], json_encode(['dir' => $dir, 'count' => self::PER_PROCESS, 'marker' => $marker,
                'tag' => "w$i", 'from' => $bed->address('outbox-load'), 'to' => $bed->address('outbox-load-rcpt')],
                JSON_THROW_ON_ERROR));
            fclose($pipes[0]);
            $children[$i] = ['process' => $process, 'pipes' => $pipes];
        }
        // Bounded: each worker gets what is left of 120 s, then is killed.
        $deadline = microtime(true) + 120;
        $ids = [];
        foreach ($children as $i => $child) {
            stream_set_timeout($child['pipes'][1], max(1, (int) ($deadline - microtime(true))));
            $out = (string) stream_get_contents($child['pipes'][1]);
            $err = (string) stream_get_contents($child['pipes'][2]);
            fclose($child['pipes'][1]);
            fclose($child['pipes'][2]);
            if (microtime(true) > $deadline) {
                proc_terminate($child['process'], 9);
            }
            $code = proc_close($child['process']);
            $this->assertSame(0, $code, "worker $i: $err$out");
            $result = json_decode(trim($out), true);
            $this->assertIsArray($result, "worker $i printed: $out");
            $this->assertCount(self::PER_PROCESS, $result['ids']);
            array_push($ids, ...$result['ids']);
        }
        $this->assertCount($total, $ids);
        $this->assertQueuedThenDeliveredOnce($bed, $dir, $ids, $marker, 'w\\d+-\\d+');
    }
}
