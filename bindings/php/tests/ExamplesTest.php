<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * examples/php/send.php (the seed's program), examples/php/modern.php and
 * examples/php/pool.php run against the test bed in a child process.
 */
final class ExamplesTest extends SmtpTestCase
{
    /** @return array{int, string} exit code and output */
    private static function runExample(array $args, array $env): array
    {
        $base = getenv();
        $process = proc_open(['timeout', '30', PHP_BINARY, ...$args], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['redirect', 1]],
            $pipes, null, $env + $base);
        $output = (string) stream_get_contents($pipes[1]);
        fclose($pipes[1]);
        return [proc_close($process), $output];
    }

    /** The path of an example program. */
    private static function example(string $name): string
    {
        return dirname(__DIR__, 3) . "/examples/php/$name";
    }

    public function testTheSeedsSendPhp(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-example-send');
        // The marker goes into the sender address, the one free-form field.
        $from = "$marker@" . $bed->domain();
        [$rc, $output] = self::runExample(
            [self::example('send.php'), $bed->host() . ':' . $bed->port('plain'), $bed->user(), $bed->address('example'), $from],
            ['SMTP_PASSWORD' => $bed->password()],
        );
        $this->assertSame(0, $rc, $output);
        $this->assertStringContainsString('>> EHLO hello', $output);
        $this->assertStringContainsString('[credentials hidden]', $output);
        $this->assertNoSecret($output);
        $delivered = $bed->waitForMessage($marker);
        $this->assertSame('test', self::header($delivered, 'Subject'));
        $this->assertStringContainsString('This is a test!', $delivered);
    }

    public function testTheSeedsSendPhpReportsFailure(): void
    {
        $bed = $this->bed();
        [$rc, $output] = self::runExample(
            [self::example('send.php'), $bed->host() . ':' . $bed->port('plain'), $bed->user(), $bed->address('x'), $bed->address('y')],
            ['SMTP_PASSWORD' => 'wrong password'],
        );
        $this->assertSame(1, $rc, $output);
        $this->assertStringContainsString('535', $output);
    }

    public function testTheModernExample(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-example-modern');
        $url = sprintf('smtp://%s@localhost:%d?ca_file=%s', rawurlencode($bed->user()), $bed->port('submission'),
            rawurlencode($bed->caFile()));
        [$rc, $output] = self::runExample(
            [self::example('modern.php'), "$marker@" . $bed->domain(), $bed->address('modern')],
            ['SMTP_URL' => $url, 'SMTP_PASSWORD' => $bed->password()],
        );
        $this->assertSame(0, $rc, $output);
        $this->assertStringStartsWith('250 2.0.0 ', $output);
        $delivered = $bed->waitForMessage($marker);
        $this->assertStringContainsString('multipart/mixed', $delivered);
        $this->assertStringContainsString('text/csv', $delivered);
    }

    public function testThePoolExample(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-example-pool');
        $jobs = tempnam(sys_get_temp_dir(), 'pool-jobs-');
        $lines = [];
        for ($i = 0; $i < 3; $i++) {
            $lines[] = json_encode(['to' => $bed->address('pool-example'), 'subject' => "$marker-$i",
                'text' => "job $i\n"]);
        }
        $lines[] = json_encode(['to' => 'not an address', 'subject' => 'bad job']);
        file_put_contents($jobs, implode("\n", $lines) . "\n");
        $url = sprintf('smtp://%s@localhost:%d?ca_file=%s', rawurlencode($bed->user()), $bed->port('submission'),
            rawurlencode($bed->caFile()));
        try {
            [$rc, $output] = self::runExample(
                [self::example('pool.php'), $bed->address('pool-example-sender'), $jobs],
                ['SMTP_URL' => $url, 'SMTP_PASSWORD' => $bed->password()],
            );
        } finally {
            unlink($jobs);
        }
        // The bad job is reported, and the worker went on.
        $this->assertSame(1, $rc, $output);
        $this->assertSame(3, substr_count($output, '250 2.0.0 '), $output);
        $this->assertStringContainsString('InvalidInputException', $output);
        $this->assertNoSecret($output);
        for ($i = 0; $i < 3; $i++) {
            $bed->waitForMessage("$marker-$i");
        }
    }
}
