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
        $fpm = self::findProgram(['/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm']);
        $fcgi = self::findProgram(['/usr/bin/cgi-fcgi']);
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
            [$server, $port] = $this->startFpm($fpm, $dir);
            $this->enqueueThroughFpm($bed, $fcgi, $port, $dir . '/outbox');
        } finally {
            if ($server !== null) {
                proc_terminate($server, 15);
                $deadline = microtime(true) + 10;
                while (proc_get_status($server)['running'] && microtime(true) < $deadline) {
                    usleep(50_000);
                }
                if (proc_get_status($server)['running']) {
                    proc_terminate($server, 9);
                }
                proc_close($server);
            }
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    /** @param list<string> $candidates */
    private static function findProgram(array $candidates): ?string
    {
        foreach ($candidates as $path) {
            if (is_executable($path)) {
                return $path;
            }
        }
        return null;
    }

    /**
     * Starts a php-fpm pool of 8 workers on a free loopback port.
     *
     * @return array{resource, int}
     */
    private function startFpm(string $fpm, string $dir): array
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0', $errno, $error);
        $this->assertNotFalse($probe, $error);
        $port = (int) substr((string) strrchr((string) stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        $library = (string) getenv('SMTP_LIBRARY');
        $conf = "$dir/fpm.conf";
        file_put_contents($conf, implode("\n", [
            '[global]',
            "pid = $dir/fpm.pid",
            "error_log = $dir/fpm.log",
            'daemonize = no',
            '[outbox]',
            "listen = 127.0.0.1:$port",
            'listen.allowed_clients = 127.0.0.1',
            'pm = static',
            'pm.max_children = ' . self::REQUESTS,
            'clear_env = no',
            "env[SMTP_LIBRARY] = $library",
            'php_admin_value[ffi.enable] = 1',
            'catch_workers_output = yes',
            '',
        ]));
        $server = proc_open([$fpm, '--fpm-config', $conf, '--nodaemonize', '--allow-to-run-as-root'],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/fpm.out", 'w'], 2 => ['file', "$dir/fpm.out", 'a']],
            $pipes);
        $this->assertIsResource($server);
        $deadline = microtime(true) + 15;
        while (true) {
            $socket = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $error, 0.2);
            if ($socket !== false) {
                fclose($socket);
                break;
            }
            if (microtime(true) > $deadline || !proc_get_status($server)['running']) {
                proc_terminate($server, 9);
                proc_close($server);
                $this->fail("php-fpm did not start: " . @file_get_contents("$dir/fpm.out") . @file_get_contents("$dir/fpm.log"));
            }
            usleep(50_000);
        }
        return [$server, $port];
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
