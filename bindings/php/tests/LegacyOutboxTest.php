<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Outbox;

/**
 * The legacy send_mail class's opt-in outbox ($queue_dir): off by
 * default (an unreachable server still means false); with it, a message
 * the server could not take for now is queued, send() returns true, and
 * flush_queue() delivers it later, once.
 */
final class LegacyOutboxTest extends SmtpTestCase
{
    /** A loopback port nobody listens on. */
    private static function closedPort(): int
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($server, false);
        fclose($server);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    public function testUnreachableServerQueuesWhenAskedAndFlushDelivers(): void
    {
        $bed = $this->bed();
        $dir = sys_get_temp_dir() . '/smtp-php-outbox-' . getmypid() . '-' . bin2hex(random_bytes(6));
        try {
            $port = self::closedPort();
            $marker = TestBed::marker('legacy-outbox');
            $to = $bed->address('legacy-rcpt');
            $from = $bed->address('legacy-sender');

            // Off by default: false, as the original class returned.
            $plain = new \send_mail("127.0.0.1:$port", false, '', '', 'legacy.test');
            $plain->timeout = 5;
            $this->assertFalse($plain->send($to, $from, $marker, 'not queued'));
            $this->assertSame('', $plain->queued_id);
            $this->assertDirectoryDoesNotExist($dir);

            $mail = new \send_mail("127.0.0.1:$port", true, $bed->user(), $bed->password(), 'legacy.test', false, null, $dir);
            $mail->timeout = 5;
            $this->assertTrue($mail->send($to, $from, $marker, "queued while the server was down\n"));
            $this->assertNotSame('', $mail->queued_id);
            $this->assertStringContainsString('queued as ' . $mail->queued_id, $mail->lastmessage);
            $this->assertNotSame('', $mail->lasterror, 'why it was queued');
            $this->assertNoSecret($mail->lastmessage . $mail->lasterror);
            $list = (new Outbox($dir))->list();
            $this->assertCount(1, $list);
            $this->assertSame($mail->queued_id, $list[0]->id);
            $this->assertSame([$to], array_map(static fn ($r) => $r->address, $list[0]->recipients));
            // The password never reaches the spool.
            foreach (glob("$dir/queue/*") as $file) {
                $this->assertNoSecret((string) file_get_contents($file));
            }

            // The server is back (the bed's plain port): a flush delivers it.
            $mail->smtp = $bed->host() . ':' . $bed->port('plain');
            $this->assertSame(1, $mail->flush_queue(), $mail->lasterror);
            $this->assertSame([], (new Outbox($dir))->list());
            $delivered = $bed->waitForMessage($marker);
            $this->assertStringContainsString('queued while the server was down', $delivered);
            $this->assertSame(0, $mail->flush_queue(), $mail->lasterror);
            $this->assertCount(1, $bed->waitForMessages($marker, 1, 1.0));
        } finally {
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    public function testPermanentFailureIsNotQueued(): void
    {
        $bed = $this->bed();
        $dir = sys_get_temp_dir() . '/smtp-php-outbox-' . getmypid() . '-' . bin2hex(random_bytes(6));
        try {
            $mail = new \send_mail($bed->host() . ':' . $bed->port('plain'), true, $bed->user(), 'wrong password',
                'legacy.test', false, null, $dir);
            $mail->timeout = 10;
            $this->assertFalse($mail->send($bed->address('x'), $bed->address('y'), 'auth fails', 'body'));
            $this->assertSame('', $mail->queued_id);
            $this->assertSame([], (new Outbox($dir))->list());
        } finally {
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }
}
