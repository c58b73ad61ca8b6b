<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * The outbox under a live php-fpm: a pool of 8 workers started for the
 * test (loopback port, FFI enabled), 8 concurrent FastCGI requests (through
 * cgi-fcgi) each enqueueing 25 messages into one outbox. Every id returned
 * is listed once, and one flush delivers each message exactly once to the
 * test bed's Maildir. Every wait is bounded.
 */
final class OutboxFpmTest extends SmtpTestCase
{
    private const REQUESTS = 8;

    private const PER_REQUEST = 25;

    public function testFpmWorkersEnqueueConcurrentlyThenOneFlushDeliversEachOnce(): void
    {
        $bed = $this->bed();
        $fpm = FpmServer::binary();
        $fcgi = FpmServer::find('/usr/bin/cgi-fcgi');
        if ($fpm === null || $fcgi === null) {
            $why = 'php-fpm or cgi-fcgi is not installed (apt-get install php8.2-fpm libfcgi-bin)';
            if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                $this->fail($why);
            }
            $this->markTestSkipped($why);
        }
        $dir = sys_get_temp_dir() . '/smtp-php-fpm-' . getmypid() . '-' . bin2hex(random_bytes(6));
        mkdir($dir, 0700, true);
        $server = null;
        try {
            $library = (string) getenv('SMTP_LIBRARY');
            $server = FpmServer::start($fpm, $dir, self::REQUESTS, ["env[SMTP_LIBRARY] = $library", 'php_admin_value[ffi.enable] = 1']);
            $this->enqueueThroughFpm($bed, $fcgi, $server->port, $dir . '/outbox');
        } finally {
            $server?->stop();
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    private function enqueueThroughFpm(TestBed $bed, string $fcgi, int $port, string $spool): void
    {
        $total = self::REQUESTS * self::PER_REQUEST;
        $marker = TestBed::marker('php-fpm-outbox');
        $script = __DIR__ . '/fixtures/outbox-fpm-worker.php';
        $children = [];
        for ($i = 0; $i < self::REQUESTS; $i++) {
            $job = json_encode(['dir' => $spool, 'count' => self::PER_REQUEST, 'marker' => $marker, 'tag' => "f$i",
                'from' => $bed->address('fpm-outbox'), 'to' => $bed->address('fpm-outbox-rcpt')], JSON_THROW_ON_ERROR);
            $env = [
                'PATH' => (string) getenv('PATH'),
                'REQUEST_METHOD' => 'GET',
                'SCRIPT_FILENAME' => $script,
                'SCRIPT_NAME' => '/outbox-fpm-worker.php',
                'QUERY_STRING' => 'job=' . rawurlencode($job),
                'SERVER_PROTOCOL' => 'HTTP/1.1',
                'GATEWAY_INTERFACE' => 'CGI/1.1',
            ];
            $process = proc_open([$fcgi, '-bind', '-connect', "127.0.0.1:$port"],
                [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
            $this->assertIsResource($process);
            $children[$i] = ['process' => $process, 'pipes' => $pipes];
        }
        $deadline = microtime(true) + 120;
        $ids = [];
        $pids = [];
        foreach ($children as $i => $child) {
            stream_set_timeout($child['pipes'][1], max(1, (int) ($deadline - microtime(true))));
            $out = (string) stream_get_contents($child['pipes'][1]);
            $err = (string) stream_get_contents($child['pipes'][2]);
            fclose($child['pipes'][1]);
            fclose($child['pipes'][2]);
            if (microtime(true) > $deadline) {
                proc_terminate($child['process'], 9);
            }
            proc_close($child['process']);
            // A FastCGI response: headers, an empty line, the body.
            $parts = preg_split('/\r?\n\r?\n/', $out, 2);
            $body = trim($parts[1] ?? '');
            $result = json_decode($body, true);
            $this->assertIsArray($result, "request $i answered: $out$err");
            $this->assertArrayHasKey('ids', $result, "request $i answered: $body");
            $this->assertCount(self::PER_REQUEST, $result['ids']);
            array_push($ids, ...$result['ids']);
            $pids[] = $result['pid'];
        }
        $this->assertCount($total, $ids);
        $this->assertGreaterThan(1, count(array_unique($pids)), 'the requests ran in more than one worker');
        $this->assertQueuedThenDeliveredOnce($bed, $spool, $ids, $marker, 'f\\d+-\\d+');
    }
}
