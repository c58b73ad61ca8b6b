<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * php-fpm for real: Debian's php-fpm started for the test with the
 * binding preloaded exactly as the README's php.ini lines say
 * (ffi.preload + opcache.preload), a static pool of workers, and
 * concurrent FastCGI clients (tests/FastCgiClient.php) each sending
 * messages, one per request, through the test bed's Postfix (its discard
 * port: accepted, queued and delivered by Postfix's discard transport, so
 * 200,000 messages leave no Maildir behind). One worker is killed with
 * SIGKILL while the load runs. Checked:
 *
 * - every message reported sent (a queue id in the reply) was accepted
 *   exactly once and delivered, by Postfix's log (message-id and queue id);
 * - no native handle outlives a request (smtp_live_handles() is 0 at the
 *   end of every request);
 * - each worker's resident memory is flat (first and last figure printed);
 * - the killed worker cost at most the request it was serving.
 *
 * Load: SMTP_FPM_CLIENTS (default 4) clients × SMTP_FPM_REQUESTS (default
 * 250) requests; tests/test-all.sh runs 20 × 10,000. Every wait is bounded.
 */
final class FpmLoadTest extends SmtpTestCase
{
    private const WORKERS = 8;

    /** Largest growth of a worker's resident memory over its requests. */
    private const RSS_GROWTH_LIMIT_KB = 4096;

    public function testConcurrentRequestsThroughPreloadedFpmLoseNothing(): void
    {
        $bed = $this->bed();
        $fpm = FpmServer::binary();
        $library = (string) getenv('SMTP_LIBRARY');
        if ($fpm === null || $library === '') {
            $why = $fpm === null ? 'php-fpm is not installed (apt-get install php8.2-fpm)' : 'SMTP_LIBRARY is not set';
            if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                $this->fail($why);
            }
            $this->markTestSkipped($why);
        }
        $clients = max(1, (int) (getenv('SMTP_FPM_CLIENTS') ?: 4));
        $requests = max(1, (int) (getenv('SMTP_FPM_REQUESTS') ?: 250));
        $total = $clients * $requests;
        $dir = sys_get_temp_dir() . '/smtp-fpm-load-' . getmypid() . '-' . bin2hex(random_bytes(4));
        mkdir($dir, 0755, true);
        $server = null;
        try {
            $server = $this->startFpm($fpm, $library, $dir, $bed);
            $marker = TestBed::marker('fpmload');
            $logFile = $bed->var('LOG');
            $logStart = (int) filesize($logFile);
            $started = microtime(true);
            $children = $this->startClients($bed, $server->port, $dir, $marker, $clients, $requests);
            $killed = $this->killOneWorkerMidway($server->pid(), $logFile, $logStart, $marker, $total, $children);
            $results = $this->collect($children);
            $seconds = microtime(true) - $started;
            $this->check($bed, $logFile, $logStart, $marker, $results, $total, $killed, $seconds);
        } finally {
            $server?->stop();
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    /** php-fpm with the binding preloaded by the README's php.ini lines. */
    private function startFpm(string $fpm, string $library, string $dir, TestBed $bed): FpmServer
    {
        // The committed header names libsmtp.so.0: found here, as it is in
        // /usr/lib after an install.
        mkdir("$dir/lib");
        symlink($library, "$dir/lib/libsmtp.so.0");
        $user = posix_getpwuid(posix_geteuid())['name'] ?? 'root';
        $php = dirname(__DIR__);
        $env = getenv();
        unset($env['SMTP_LIBRARY']);
        $env['LD_LIBRARY_PATH'] = "$dir/lib";
        $env['SMTP_FPM_PASSWORD'] = $bed->password();
        return FpmServer::start($fpm, $dir, self::WORKERS, ['listen.backlog = 256'], [
            'ffi.enable=preload',
            "ffi.preload=$php/ffi/smtp.h",
            'opcache.enable=1',
            "opcache.preload=$php/preload.php",
            "opcache.preload_user=$user",
        ], $env);
    }

    /** @return list<array{resource, string}> */
    private function startClients(TestBed $bed, int $port, string $dir, string $marker, int $clients, int $requests): array
    {
        $children = [];
        for ($c = 0; $c < $clients; $c++) {
            $job = json_encode([
                'fpm' => "127.0.0.1:$port",
                'script' => __DIR__ . '/fixtures/fpm-load-worker.php',
                'port' => $bed->port('discard'),
                'user' => $bed->user(),
                'from' => $bed->address('fpm-load'),
                'to' => $bed->address('fpm-load-rcpt'),
                'marker' => $marker,
                'client' => $c,
                'count' => $requests,
                'limit' => 3000,
            ], JSON_THROW_ON_ERROR);
            $out = "$dir/client-$c.json";
            $process = proc_open([PHP_BINARY, __DIR__ . '/fixtures/fpm-load-client.php', $job],
                [0 => ['file', '/dev/null', 'r'], 1 => ['file', $out, 'w'], 2 => ['file', "$out.err", 'w']], $pipes);
            $this->assertIsResource($process);
            $children[] = [$process, $out];
        }
        return $children;
    }

    /**
     * Once a quarter of the messages went through (by Postfix's log), kills
     * one worker with SIGKILL (the lowest pid; with at least as many
     * clients as workers it is busy); its pid, or 0 if the load ended
     * first.
     *
     * @param list<array{resource, string}> $children
     */
    private function killOneWorkerMidway(int $master, string $logFile, int $logStart, string $marker, int $total, array $children): int
    {
        $seen = 0;
        $offset = $logStart;
        $deadline = microtime(true) + 600;
        while (microtime(true) < $deadline) {
            $log = fopen($logFile, 'r');
            fseek($log, $offset);
            $chunk = (string) stream_get_contents($log);
            fclose($log);
            // Whole lines only.
            $end = strrpos($chunk, "\n");
            if ($end !== false) {
                $seen += substr_count(substr($chunk, 0, $end + 1), "message-id=<$marker-");
                $offset += $end + 1;
            }
            if ($seen * 4 >= $total) {
                $pids = array_filter(array_map('intval', explode("\n", (string) shell_exec("pgrep -P $master"))));
                $this->assertNotEmpty($pids, 'php-fpm has workers');
                $victim = $pids[array_key_first($pids)];
                posix_kill($victim, 9);
                return $victim;
            }
            $running = array_filter($children, fn ($c) => proc_get_status($c[0])['running']);
            if ($running === []) {
                return 0;
            }
            usleep(100_000);
        }
        $this->fail('the load did not reach a quarter of its messages in 600 s');
    }

    /**
     * @param list<array{resource, string}> $children
     * @return list<array<string, mixed>>
     */
    private function collect(array $children): array
    {
        $results = [];
        $deadline = microtime(true) + 3600;
        foreach ($children as [$process, $out]) {
            while (proc_get_status($process)['running'] && microtime(true) < $deadline) {
                usleep(200_000);
            }
            if (proc_get_status($process)['running']) {
                proc_terminate($process, 9);
            }
            proc_close($process);
            $result = json_decode((string) file_get_contents($out), true);
            $this->assertIsArray($result, "client output $out: " . @file_get_contents($out) . @file_get_contents("$out.err"));
            $results[] = $result;
        }
        return $results;
    }

    /** @param list<array<string, mixed>> $results */
    private function check(TestBed $bed, string $logFile, int $logStart, string $marker, array $results, int $total, int $killed, float $seconds): void
    {
        $sent = [];
        $failures = [];
        $workers = [];
        foreach ($results as $r) {
            foreach ($r['sent'] as [$id, $queue]) {
                $this->assertArrayNotHasKey($id, $sent, "$id reported sent twice");
                $sent[$id] = $queue;
            }
            array_push($failures, ...$r['failures']);
            foreach ($r['workers'] as $pid => $w) {
                $workers[$pid] ??= ['first_rss_kb' => $w['first_rss_kb'], 'last_rss_kb' => $w['last_rss_kb'], 'requests' => 0, 'max_handles' => 0];
                $workers[$pid]['first_rss_kb'] = min($workers[$pid]['first_rss_kb'], $w['first_rss_kb']);
                $workers[$pid]['last_rss_kb'] = max($workers[$pid]['last_rss_kb'], $w['last_rss_kb']);
                $workers[$pid]['requests'] += $w['requests'];
                $workers[$pid]['max_handles'] = max($workers[$pid]['max_handles'], $w['max_handles']);
                $workers[$pid]['origin'] = $w['origin'];
            }
        }
        // The killed worker costs the request it was serving, nothing else.
        $this->assertLessThanOrEqual(1, count($failures), 'failures: ' . json_encode(array_slice($failures, 0, 5)));
        foreach ($failures as [$id, $why]) {
            $this->assertMatchesRegularExpression('/php-fpm (closed the connection|timed out)/', $why, "$id: $why");
        }
        $this->assertSame($total, count($sent) + count($failures));

        // Postfix accepted each reported message once, under the queue id
        // the client was given, and delivered it.
        $accepted = [];
        $delivered = [];
        $deadline = microtime(true) + 120;
        do {
            $log = fopen($logFile, 'r');
            fseek($log, $logStart);
            $accepted = [];
            $delivered = [];
            while (($line = fgets($log)) !== false) {
                if (preg_match("/ (\\w+): message-id=<($marker-c\\d+-\\d+)@fpm\\.test>/", $line, $m) === 1) {
                    $accepted[$m[2]][] = $m[1];
                } elseif (str_contains($line, 'status=sent') && preg_match('/ (\w+): to=/', $line, $m) === 1) {
                    $delivered[$m[1]] = true;
                }
            }
            fclose($log);
            $missing = array_filter($sent, fn ($queue) => !isset($delivered[$queue]));
        } while ($missing !== [] && microtime(true) < $deadline && usleep(500_000) === null);
        foreach ($sent as $id => $queue) {
            $this->assertSame([$queue], $accepted[$id] ?? [], "$id: accepted as " . json_encode($accepted[$id] ?? []));
        }
        $this->assertSame([], array_slice($missing, 0, 5, true), count($missing) . ' reported-sent messages not delivered');

        $report = [sprintf('php-fpm load: %d clients x %d requests = %d messages in %.1f s (%.0f/s), %d failed (worker %d killed)',
            count($results), intdiv($total, max(1, count($results))), $total, $seconds, $total / max($seconds, 0.001), count($failures), $killed)];
        ksort($workers);
        foreach ($workers as $pid => $w) {
            $this->assertSame(0, $w['max_handles'], "worker $pid kept native handles across requests");
            // The preloaded scope (ffi.preload), not a per-request FFI::cdef.
            $this->assertSame('FFI scope SMTP', $w['origin'], "worker $pid");
            $growth = $w['last_rss_kb'] - $w['first_rss_kb'];
            $report[] = sprintf('  worker %d: %d requests, RSS %d KB -> %d KB (%+d KB)', $pid, $w['requests'],
                $w['first_rss_kb'], $w['last_rss_kb'], $growth);
            if ($w['requests'] >= 100) {
                $this->assertLessThanOrEqual(self::RSS_GROWTH_LIMIT_KB, $growth, "worker $pid grew by $growth KB");
            }
        }
        $this->assertGreaterThan(self::WORKERS / 2, count($workers), 'the requests spread over the workers');
        if ($killed !== 0) {
            $this->assertArrayHasKey($killed, $workers, 'the killed worker had served requests');
        }
        $text = implode("\n", $report) . "\n";
        fwrite(STDERR, "\n$text");
        $file = getenv('SMTP_FPM_REPORT');
        if (is_string($file) && $file !== '') {
            file_put_contents($file, $text);
        }
    }
}
