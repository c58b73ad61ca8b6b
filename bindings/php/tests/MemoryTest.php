<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Internal\TranscriptRouter;
use Smtp\Mailer;
use Smtp\Message;
use Smtp\TranscriptDirection;

/**
 * Native handles are freed: many messages over one connection, many
 * Mailers and many legacy sends leave PHP's memory and the process's
 * resident size where they were. (bench/memory.php does 10,000.)
 */
final class MemoryTest extends SmtpTestCase
{
    /** The process's resident set size in kB (VmRSS). */
    private static function rssKb(): int
    {
        $status = (string) file_get_contents('/proc/self/status');
        return preg_match('/^VmRSS:\s+(\d+)\s+kB/m', $status, $m) === 1 ? (int) $m[1] : 0;
    }

    public function testTwoThousandMessagesOverOneConnectionDoNotGrowMemory(): void
    {
        $bed = $this->bed();
        $lines = 0;
        $mailer = $this->mailer('discard', [
            'transcript' => static function (TranscriptDirection $d, string $line) use (&$lines): void {
                $lines++;
            },
        ]);
        $attachment = str_repeat('x', 2048);
        $send = static function (int $i) use ($mailer, $bed, $attachment): void {
            $message = new Message(from: $bed->address('mem'), to: $bed->address('discard'), subject: "m $i", text: "body $i\n");
            $message->attachData($attachment, "a-$i.txt");
            $mailer->send($message);
        };
        for ($i = 0; $i < 200; $i++) {
            $send($i);
        }
        // No gc_collect_cycles() here: it shrinks PHP's GC buffer, which
        // then grows again by itself. Refcounting must free everything.
        $rssBefore = self::rssKb(); // first: its regex is cached on first use
        $memoryBefore = memory_get_usage();
        $deadline = microtime(true) + 30;
        for ($i = 200; $i < 2000 && microtime(true) < $deadline; $i++) {
            $send($i);
        }
        // Measured before any assertion: PHPUnit allocates as it asserts.
        $memoryGrowth = memory_get_usage() - $memoryBefore;
        $rssGrowth = self::rssKb() - $rssBefore;
        $this->assertSame(2000, $i, 'all messages sent within 30 s');
        $mailer->quit();
        $this->assertGreaterThan(2000 * 5, $lines, 'the transcript ran');
        $this->assertLessThan(16 * 1024, $memoryGrowth, "memory_get_usage grew by $memoryGrowth bytes over 1800 messages");
        $this->assertLessThan(2 * 1024, $rssGrowth, "VmRSS grew by $rssGrowth kB over 1800 messages");
    }

    public function testMailersAndMessagesAreFreed(): void
    {
        $baseline = TranscriptRouter::count();
        $make = static function (): void {
            $mailer = new Mailer(host: '127.0.0.1', port: 25, security: 'none', user: 'u', password: 'p',
                transcript: static fn () => null);
            $message = new Message(from: 'a@example.test', to: 'b@example.test', subject: 's', text: 't');
            $message->attachData(str_repeat('y', 4096), 'y.bin');
        };
        for ($i = 0; $i < 200; $i++) {
            $make();
        }
        $rssBefore = self::rssKb();
        $before = memory_get_usage();
        for ($i = 0; $i < 3000; $i++) {
            $make();
        }
        $growth = memory_get_usage() - $before;
        $rssGrowth = self::rssKb() - $rssBefore;
        $this->assertSame($baseline, TranscriptRouter::count(), 'transcript sinks unregistered');
        $this->assertLessThan(8 * 1024, $growth, "memory_get_usage grew by $growth bytes");
        $this->assertLessThan(1024, $rssGrowth, "VmRSS grew by $rssGrowth kB");
    }

    public function testLegacySendsInALoopDoNotGrowMemory(): void
    {
        $bed = $this->bed();
        $server = $bed->host() . ':' . $bed->port('discard');
        $send = static function (int $i) use ($bed, $server): bool {
            $sendmail = new \send_mail($server, true, $bed->user(), $bed->password(), 'hello', false);
            return $sendmail->send($bed->address('discard'), $bed->address('legacy'), "legacy $i", "body $i");
        };
        for ($i = 0; $i < 50; $i++) {
            $this->assertTrue($send($i));
        }
        $before = memory_get_usage();
        $deadline = microtime(true) + 20;
        $failed = 0;
        for ($i = 50; $i < 300 && microtime(true) < $deadline; $i++) {
            $failed += $send($i) ? 0 : 1;
        }
        $growth = memory_get_usage() - $before;
        $this->assertSame(0, $failed);
        $this->assertSame(300, $i, 'all legacy sends within 20 s');
        $this->assertLessThan(8 * 1024, $growth, "memory_get_usage grew by $growth bytes over 250 legacy sends");
    }
}
