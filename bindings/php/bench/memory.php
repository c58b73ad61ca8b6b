<?php

/**
 * Memory over many messages on one connection: sends COUNT messages (default
 * 10,000) to the test bed's DISCARD port (AUTH, Postfix accepts and drops
 * them), each a new Message with a small attachment, with a transcript
 * callback on, and reports memory_get_usage() and the process's VmRSS
 * every 1,000 messages.
 *
 *   SMTP_TESTBED_ENV=/path/testbed.env SMTP_LIBRARY=target/release/libsmtp.so \
 *       php bindings/php/bench/memory.php [COUNT]
 *
 * Prints one line per report and a summary of the growth between message
 * 1,000 and the last; exits 1 if memory_get_usage() grew by more than 64 KiB.
 */

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';
require dirname(__DIR__) . '/tests/TestBed.php';

use Smtp\Mailer;
use Smtp\Message;
use Smtp\TranscriptDirection;
use Smtp\Tests\TestBed;

/** The process's resident set size in kB, from /proc/self/status. */
function vmRssKb(): int
{
    $status = (string) @file_get_contents('/proc/self/status');
    return preg_match('/^VmRSS:\s+(\d+)\s+kB/m', $status, $m) === 1 ? (int) $m[1] : -1;
}

$count = max(1000, (int) ($argv[1] ?? 10000));
$bed = TestBed::get();
if ($bed === null) {
    fwrite(STDERR, "memory.php: set SMTP_TESTBED_ENV to the test bed's env file\n");
    exit(2);
}

$lines = 0;
$mailer = new Mailer(
    host: $bed->host(),
    port: $bed->port('discard'),
    security: 'none',
    user: $bed->user(),
    password: $bed->password(),
    timeout: 30,
    transcript: static function (TranscriptDirection $direction, string $line) use (&$lines): void {
        $lines++;
    },
);
$attachment = str_repeat('0123456789abcdef', 64); // 1 KiB
// Preallocated so that recording a report does not itself allocate.
$reportAt = range(1000, $count - $count % 1000, 1000);
$usage = array_fill_keys($reportAt, 0);
$realUsage = array_fill_keys($reportAt, 0);
$rss = array_fill_keys($reportAt, 0);
$start = microtime(true);
for ($i = 1; $i <= $count; $i++) {
    $message = new Message(
        from: $bed->address('bench'),
        to: $bed->address('discard'),
        subject: "memory $i",
        text: "Message $i of $count\n",
    );
    $message->attachData($attachment, "data-$i.txt");
    $result = $mailer->send($message);
    if ($result->code !== 250) {
        fwrite(STDERR, "message $i: " . $result->reply() . "\n");
        exit(1);
    }
    unset($message, $result);
    if ($i % 1000 === 0) {
        $usage[$i] = memory_get_usage();
        $realUsage[$i] = memory_get_usage(true);
        $rss[$i] = vmRssKb();
        printf(
            "messages=%-6d memory_get_usage=%-8d (real %d)  VmRSS=%d kB  %.1f s\n",
            $i,
            $usage[$i],
            $realUsage[$i],
            $rss[$i],
            microtime(true) - $start,
        );
    }
}
$mailer->quit();

$lastAt = array_key_last($usage);
$growth = $usage[$lastAt] - $usage[1000];
printf(
    "growth from 1000 to %d messages: memory_get_usage %+d bytes, VmRSS %+d kB (%d transcript lines, %.0f messages/s)\n",
    $lastAt,
    $growth,
    $rss[$lastAt] - $rss[1000],
    $lines,
    $count / (microtime(true) - $start),
);
exit($growth > 65536 ? 1 : 0);
