<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * Load: 8 PHP processes at once (tests/fixtures/load-worker.php, each
 * with its own Mailer and connection) send 200 messages each to the test
 * bed's discard port (AUTH over loopback plaintext). Every process must
 * exit 0 having had every message accepted, each reply must carry a
 * queue id, and Postfix's count must equal the number sent: its log
 * (SMTP_TESTBED_LOG, read from where it ended before the run) must show
 * one "from=<sender>" queue entry per message, for exactly the queue ids
 * the processes got, each discarded with status=sent. Memory of each
 * process after its first and its last message stays flat.
 *
 * SMTP_PHP_LOAD_PROCESSES and SMTP_PHP_LOAD_MESSAGES (per process)
 * change the 8 × 200. The figures are printed to stderr.
 */
final class ConcurrentLoadTest extends SmtpTestCase
{
    /** memory_get_usage() may grow this much (the list of queue ids grows with the count). */
    private const PHP_MEMORY_SLACK = 256 * 1024;

    /** VmRSS may grow this much (allocator noise). */
    private const RSS_SLACK_KIB = 2048;

    private static function envCount(string $name, int $default): int
    {
        $value = getenv($name);
        return is_string($value) && ctype_digit(trim($value)) && (int) $value > 0 ? (int) $value : $default;
    }

    public function testEightProcessesAtOnceToThePostfixDiscardPort(): void
    {
        $bed = $this->bed();
        $processes = self::envCount('SMTP_PHP_LOAD_PROCESSES', 8);
        $perProcess = self::envCount('SMTP_PHP_LOAD_MESSAGES', 200);
        $total = $processes * $perProcess;
        $sender = TestBed::marker('php-load') . '@' . $bed->domain();
        $log = $bed->var('LOG');
        clearstatcache(true, $log);
        $offset = (int) filesize($log);

        $start = microtime(true);
        $children = [];
        for ($i = 0; $i < $processes; $i++) {
            $process = proc_open([PHP_BINARY, __DIR__ . '/fixtures/load-worker.php'],
                [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
            $this->assertIsResource($process);
            // Credentials on stdin, not on the command line.
            fwrite($pipes[0], json_encode(['host' => $bed->host(), 'port' => $bed->port('discard'), 'user' => $bed->user(),
                'password' => $bed->password(), 'count' => $perProcess, 'sender' => $sender,
                'to' => $bed->address('load'), 'tag' => "php-$i"], JSON_THROW_ON_ERROR));
            fclose($pipes[0]);
            stream_set_blocking($pipes[1], false);
            stream_set_blocking($pipes[2], false);
            $children[$i] = ['process' => $process, 'pipes' => $pipes, 'out' => '', 'err' => '', 'code' => null];
        }
        $deadline = microtime(true) + 180;
        while (microtime(true) < $deadline) {
            $running = 0;
            $read = [];
            foreach ($children as $i => &$child) {
                foreach ([1 => 'out', 2 => 'err'] as $fd => $key) {
                    $chunk = fread($child['pipes'][$fd], 1 << 16);
                    if (is_string($chunk)) {
                        $child[$key] .= $chunk;
                    }
                }
                if ($child['code'] === null) {
                    $status = proc_get_status($child['process']);
                    if ($status['running']) {
                        $running++;
                        $read[] = $child['pipes'][1];
                    } else {
                        $child['code'] = $status['exitcode'];
                    }
                }
            }
            unset($child);
            if ($running === 0) {
                break;
            }
            $w = $e = null;
            @stream_select($read, $w, $e, 0, 50_000);
        }
        $took = microtime(true) - $start;
        $queueIds = [];
        $figures = [];
        foreach ($children as $i => $child) {
            foreach ([1 => 'out', 2 => 'err'] as $fd => $key) {
                $child[$key] .= (string) stream_get_contents($child['pipes'][$fd]);
                fclose($child['pipes'][$fd]);
            }
            if ($child['code'] === null) {
                proc_terminate($child['process']);
            }
            proc_close($child['process']);
            $this->assertSame(0, $child['code'], "process $i: {$child['err']}{$child['out']}");
            $result = json_decode(trim($child['out']), true);
            $this->assertIsArray($result, "process $i printed: {$child['out']}");
            $this->assertSame($perProcess, $result['sent']);
            $this->assertNotContains(null, $result['queueIds'], "process $i: a reply without a queue id");
            array_push($queueIds, ...$result['queueIds']);
            $figures[] = sprintf('process %d: %.2f s, PHP memory %d -> %d bytes, VmRSS %d -> %d KiB', $i, $result['seconds'],
                $result['memStart'], $result['memEnd'], $result['rssStartKiB'], $result['rssEndKiB']);
            $this->assertLessThanOrEqual($result['memStart'] + self::PHP_MEMORY_SLACK, $result['memEnd'],
                "process $i: PHP memory grew");
            $this->assertLessThanOrEqual($result['rssStartKiB'] + self::RSS_SLACK_KIB, $result['rssEndKiB'],
                "process $i: VmRSS grew");
        }
        $this->assertCount($total, $queueIds);
        $this->assertCount($total, array_unique($queueIds), 'a queue id was given twice');

        // Postfix's count: queue entries from our sender, and their discards.
        $fromSender = [];
        $discarded = [];
        $handle = fopen($log, 'rb');
        $this->assertIsResource($handle);
        fseek($handle, $offset);
        $partial = '';
        $until = microtime(true) + 60;
        $quoted = preg_quote($sender, '/');
        do {
            $chunk = (string) stream_get_contents($handle);
            $lines = explode("\n", $partial . $chunk);
            $partial = (string) array_pop($lines);
            foreach ($lines as $line) {
                if (preg_match('/ postfix\/qmgr\[\d+\]: ([0-9A-Za-z]+): from=<' . $quoted . '>, size=\d+, nrcpt=1 \(queue active\)/', $line, $m) === 1) {
                    $fromSender[$m[1]] = ($fromSender[$m[1]] ?? 0) + 1;
                } elseif (preg_match('/ postfix\/discard\[\d+\]: ([0-9A-Za-z]+): to=<[^>]*>, .*status=sent \(discard-port\)/', $line, $m) === 1) {
                    $discarded[$m[1]] = true;
                }
            }
            $done = count($fromSender) >= $total
                && count(array_intersect_key($discarded, array_flip($queueIds))) >= $total;
            if (!$done) {
                usleep(200_000);
            }
        } while (!$done && microtime(true) < $until);
        fclose($handle);
        $counted = array_sum($fromSender);
        fwrite(STDERR, sprintf("\nPHP load: %d processes x %d messages = %d in %.2f s (%.0f/s); Postfix counted %d, discarded %d\n  %s\n",
            $processes, $perProcess, $total, $took, $total / $took, $counted,
            count(array_intersect_key($discarded, array_flip($queueIds))), implode("\n  ", $figures)));
        $this->assertSame($total, $counted, "Postfix's count of messages from $sender");
        $ids = array_keys($fromSender);
        sort($ids);
        $sent = $queueIds;
        sort($sent);
        $this->assertSame($sent, $ids, 'the queue ids in the log differ from the ones the processes got');
        $this->assertCount($total, array_intersect_key($discarded, array_flip($queueIds)), 'not every message was discarded');
    }
}
