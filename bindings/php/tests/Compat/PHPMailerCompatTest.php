<?php

/*
 * Concern: Smtp\Compat\PHPMailer checked against the real PHPMailer 6
 * (Debian's libphp-phpmailer): the same sending scripts run with both
 * classes against the test bed, each delivered message parsed back by
 * Python's email package, the summaries compared; failures reported alike.
 */

declare(strict_types=1);

namespace Smtp\Tests\Compat;

use Smtp\Tests\SmtpTestCase;
use Smtp\Tests\TestBed;

/**
 * Every scenario is written once, as a function of the class name, and run
 * with `PHPMailer\PHPMailer\PHPMailer` and `Smtp\Compat\PHPMailer`:
 * text; HTML with AltBody; attachments from a file and a string (binary
 * bytes); an embedded image; Cc and Bcc; custom headers; a Chinese UTF-8
 * subject; keep-alive with three messages on one connection; a wrong
 * password; an unreachable host. Sending goes to the bed's submission port
 * (STARTTLS, the bed's CA through SMTPOptions cafile, AUTH).
 *
 * What must match: recipients (To and Cc in the header, Bcc absent there
 * but delivered), subject, the parts (types, text, the alternative and
 * related structure), attachment names and bytes, the embedded image's
 * Content-ID; not the Message-ID, Date, boundaries or X-Mailer.
 */
final class PHPMailerCompatTest extends SmtpTestCase
{
    public const REAL = 'PHPMailer\PHPMailer\PHPMailer';
    public const OURS = 'Smtp\Compat\PHPMailer';

    /** Debian's PHPMailer, loaded once; the test is skipped without it. */
    public static function requirePHPMailer(): void
    {
        $autoload = '/usr/share/php/libphp-phpmailer/autoload.php';
        if (!class_exists(self::REAL, false)) {
            if (!is_file($autoload)) {
                if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                    self::fail('SMTP_TESTBED_REQUIRED=1 but PHPMailer is not installed (apt-get install libphp-phpmailer)');
                }
                self::markTestSkipped('PHPMailer is not installed (Debian: libphp-phpmailer)');
            }
            require_once $autoload;
        }
    }

    protected function setUp(): void
    {
        self::requirePHPMailer();
    }

    /** A mailer of $class set up for the bed's submission port. */
    private function configured(string $class, bool $exceptions = false): object
    {
        $bed = $this->bed();
        $mail = new $class($exceptions);
        $mail->isSMTP();
        $mail->Host = $bed->host();
        $mail->Port = $bed->port('submission');
        $mail->SMTPSecure = $class::ENCRYPTION_STARTTLS;
        $mail->SMTPAuth = true;
        $mail->Username = $bed->user();
        $mail->Password = $bed->password();
        $mail->SMTPOptions = ['ssl' => ['cafile' => $bed->caFile()]];
        $mail->Timeout = 20;
        $mail->CharSet = $class::CHARSET_UTF8;
        $mail->setFrom($bed->address('sender'), 'Sender Name');
        return $mail;
    }

    /**
     * The scenarios: each takes the class and a marker, sends, and returns
     * [send() results, the number of messages to wait for].
     *
     * @return array<string, \Closure(string, string): array{0: list<bool>, 1: int}>
     */
    private function scenarios(): array
    {
        $bed = $this->bed();
        $to = $bed->address('rcpt');
        $binary = '';
        for ($i = 0; $i < 4; $i++) {
            $binary .= implode('', array_map('chr', range(0, 255)));
        }
        $binaryFile = $this->tempFile('data.bin', $binary);
        $png = base64_decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==');
        $pngFile = $this->tempFile('logo.png', $png);
        return [
            'text' => function (string $class, string $marker) use ($to): array {
                $mail = $this->configured($class);
                $mail->addAddress($to, 'Rcpt Name');
                $mail->Subject = "text $marker";
                $mail->Body = "Hello,\nthis is plain text ($marker).\n";
                return [[$mail->send()], 1];
            },
            'html and AltBody' => function (string $class, string $marker) use ($to): array {
                $mail = $this->configured($class);
                $mail->addAddress($to);
                $mail->isHTML(true);
                $mail->Subject = "html $marker";
                $mail->Body = "<p>Hello <b>$marker</b></p>";
                $mail->AltBody = "Hello $marker";
                return [[$mail->send()], 1];
            },
            'attachments' => function (string $class, string $marker) use ($to, $binary, $binaryFile): array {
                $mail = $this->configured($class);
                $mail->addAddress($to);
                $mail->Subject = "attachments $marker";
                $mail->Body = "Two files ($marker).\n";
                $mail->addAttachment($binaryFile);
                $mail->addAttachment($binaryFile, 'renamed.bin');
                $mail->addStringAttachment(strrev($binary), 'from-memory.dat');
                $mail->addStringAttachment("a,b\n1,2\n", 'report.csv', $class::ENCODING_BASE64, 'text/csv');
                return [[$mail->send()], 1];
            },
            'embedded image' => function (string $class, string $marker) use ($to, $pngFile): array {
                $mail = $this->configured($class);
                $mail->addAddress($to);
                $mail->isHTML(true);
                $mail->Subject = "embedded $marker";
                $mail->Body = "<p>$marker</p><img src=\"cid:logo-cid\">";
                $mail->addEmbeddedImage($pngFile, 'logo-cid');
                return [[$mail->send()], 1];
            },
            'cc and bcc' => function (string $class, string $marker) use ($bed): array {
                $mail = $this->configured($class);
                $mail->addAddress($bed->address('to-one'), 'To One');
                $mail->addCC($bed->address('cc-one'), 'Cc One');
                $mail->addBCC($bed->address('bcc-one'));
                $mail->addReplyTo($bed->address('reply'), 'Replies');
                $mail->Subject = "copies $marker";
                $mail->Body = "copies $marker\n";
                return [[$mail->send()], 3];
            },
            'custom headers' => function (string $class, string $marker) use ($to): array {
                $mail = $this->configured($class);
                $mail->addAddress($to);
                $mail->addCustomHeader('X-Campaign', 'spring-42');
                $mail->addCustomHeader('X-Tag: two words');
                $mail->Subject = "headers $marker";
                $mail->Body = "headers $marker\n";
                return [[$mail->send()], 1];
            },
            'utf-8 subject' => function (string $class, string $marker) use ($to): array {
                $mail = $this->configured($class);
                $mail->addAddress($to, '张伟');
                $mail->Subject = "季度报告 — $marker";
                $mail->Body = "你好，世界 ($marker)\n";
                return [[$mail->send()], 1];
            },
            'keep-alive, three messages' => function (string $class, string $marker) use ($bed): array {
                $mail = $this->configured($class);
                $mail->SMTPKeepAlive = true;
                $results = [];
                for ($i = 1; $i <= 3; $i++) {
                    $mail->clearAddresses();
                    $mail->addAddress($bed->address("keep$i"));
                    $mail->Subject = "keep $i $marker";
                    $mail->Body = "message $i of 3 ($marker)\n";
                    $results[] = $mail->send();
                }
                $mail->smtpClose();
                return [$results, 3];
            },
        ];
    }

    public function testTheSameScriptsDeliverTheSameMessages(): void
    {
        $bed = $this->bed();
        foreach ($this->scenarios() as $name => $scenario) {
            $summaries = [];
            foreach ([self::REAL, self::OURS] as $class) {
                $marker = TestBed::marker('pm');
                [$results, $count] = $scenario($class, $marker);
                $this->assertSame(array_fill(0, count($results), true), $results, "$name with $class");
                $messages = $bed->waitForMessages($marker, $count, 20.0);
                $this->assertCount($count, $messages, "$name with $class: a message arrived twice");
                $summaries[$class] = array_map(fn (string $m): array => self::comparable($m, $marker), $messages);
                usort($summaries[$class], static fn (array $a, array $b): int => [$a['original-to'], $a['subject']] <=> [$b['original-to'], $b['subject']]);
            }
            $this->assertEquals($summaries[self::REAL], $summaries[self::OURS], "$name: the delivered messages differ");
            foreach ($summaries[self::OURS] as $summary) {
                $this->assertSame([], $summary['defects'], "$name: MIME defects");
                $this->assertFalse($summary['bcc-header'], "$name: a Bcc header");
            }
        }
    }

    public function testBccIsDeliveredButNotShown(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('pm-blind');
        $mail = $this->configured(self::OURS);
        $mail->addAddress($bed->address('to-one'));
        $mail->addBCC($bed->address('bcc-one'));
        $mail->addBCC($bed->address('bcc-two'));
        $mail->Subject = $marker;
        $mail->Body = 'x';
        $this->assertTrue($mail->send(), $mail->ErrorInfo);
        $delivered = [];
        foreach ($bed->waitForMessages($marker, 3) as $message) {
            $summary = self::summary($message);
            $this->assertFalse($summary['bcc-header']);
            $this->assertStringNotContainsString('bcc-', implode("\n", array_map(
                static fn (string $n): string => $n . ': ' . (self::header($message, $n) ?? ''),
                array_diff($summary['header-names'], ['x-original-to', 'delivered-to', 'received']),
            )));
            $delivered[] = $summary['original-to'];
        }
        sort($delivered);
        $this->assertSame([$bed->address('bcc-one'), $bed->address('bcc-two'), $bed->address('to-one')], $delivered);
    }

    public function testKeepAliveUsesOneConnectionWithBothClasses(): void
    {
        $bed = $this->bed();
        foreach ([self::REAL, self::OURS] as $class) {
            $lines = [];
            $marker = TestBed::marker('pm-keep');
            $mail = $this->configured($class);
            $mail->SMTPDebug = 1;
            $mail->Debugoutput = static function (string $line) use (&$lines): void {
                $lines[] = $line;
            };
            $mail->SMTPKeepAlive = true;
            for ($i = 1; $i <= 3; $i++) {
                $mail->clearAddresses();
                $mail->addAddress($bed->address("k$i"));
                $mail->Subject = "$marker $i";
                $mail->Body = 'x';
                $this->assertTrue($mail->send(), "$class: " . $mail->ErrorInfo);
            }
            $mail->smtpClose();
            $bed->waitForMessages($marker, 3);
            $starttls = array_filter($lines, static fn (string $l): bool => str_contains($l, 'CLIENT -> SERVER: STARTTLS'));
            $this->assertCount(1, $starttls, "$class: one connection (one STARTTLS) for three messages");
            $mails = array_filter($lines, static fn (string $l): bool => str_contains($l, 'CLIENT -> SERVER: MAIL FROM:'));
            $this->assertCount(3, $mails, $class);
            if ($class === self::OURS) {
                $this->assertNoSecret(implode("\n", $lines));
                $this->assertNotEmpty(array_filter($lines, static fn (string $l): bool => str_contains($l, '[credentials hidden]')));
            }
        }
    }

    /** @return iterable<string, array{string}> */
    public static function failures(): iterable
    {
        yield 'wrong password' => ['password'];
        yield 'unreachable host' => ['unreachable'];
    }

    /** @dataProvider failures */
    public function testFailuresAreReportedAlike(string $failure): void
    {
        foreach ([false, true] as $exceptions) {
            $outcome = [];
            foreach ([self::REAL, self::OURS] as $class) {
                $mail = $this->configured($class, $exceptions);
                $this->breakIt($mail, $failure);
                $mail->addAddress($this->bed()->address('never'));
                $mail->Subject = 'never';
                $mail->Body = 'never';
                try {
                    $outcome[$class] = ['returned' => $mail->send(), 'thrown' => null];
                } catch (\Exception $e) {
                    $outcome[$class] = ['returned' => null, 'thrown' => $e];
                }
                $outcome[$class]['info'] = $mail->ErrorInfo;
                $this->assertNotSame('', $mail->ErrorInfo, "$class, $failure: ErrorInfo is set");
            }
            $real = $outcome[self::REAL];
            $ours = $outcome[self::OURS];
            if ($exceptions) {
                $this->assertInstanceOf('PHPMailer\PHPMailer\Exception', $real['thrown'], "PHPMailer, $failure");
                $this->assertInstanceOf(\Smtp\Compat\Exception::class, $ours['thrown'], "ours, $failure");
                $this->assertStringContainsString('<strong>', $ours['thrown']->errorMessage());
                $this->assertInstanceOf(\Smtp\Exception\SmtpException::class, $ours['thrown']->getPrevious());
            } else {
                $this->assertFalse($real['returned'], "PHPMailer, $failure");
                $this->assertFalse($ours['returned'], "ours, $failure");
            }
            $word = $failure === 'password' ? 'authenticate' : 'connect';
            $this->assertStringContainsStringIgnoringCase($word, $ours['info']);
            $this->assertNoSecret($ours['info']);
            if ($ours['thrown'] !== null) {
                $this->assertNoSecret($ours['thrown']->getMessage() . $ours['thrown']->getTraceAsString());
            }
        }
    }

    /** Makes $mail fail: a wrong password, or a closed loopback port. */
    private function breakIt(object $mail, string $failure): void
    {
        if ($failure === 'password') {
            $mail->Password = 'not-the-password';
            return;
        }
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $this->assertNotFalse($server);
        $port = (int) substr((string) strrchr((string) stream_socket_get_name($server, false), ':'), 1);
        fclose($server);
        $mail->Port = $port;
        $mail->Timeout = 5;
    }

    /** The summary of a delivered message, with the marker and the fields meant to differ taken out. */
    private static function comparable(string $message, string $marker): array
    {
        $summary = self::summary($message);
        $replace = static fn (mixed $v): mixed => is_string($v) ? str_replace($marker, 'MARKER', $v) : $v;
        array_walk_recursive($summary, static function (mixed &$v) use ($replace): void {
            $v = $replace($v);
        });
        $summary['original-to'] = preg_replace('/^keep\d|^k\d/', 'keep', $summary['original-to']);
        unset($summary['message-id']);
        // The type of an attachment given without one is guessed from its
        // name, by each library from its own table (PHPMailer: .bin is
        // application/macbinary; libsmtp: application/octet-stream).
        foreach ($summary['parts'] as &$part) {
            if ($part['disposition'] === 'attachment' && !in_array($part['type'], ['text/csv'], true)) {
                $part['type'] = 'guessed';
            }
        }
        unset($part);
        // Header names: those of the message, not of either library's habits.
        $summary['header-names'] = array_values(array_diff($summary['header-names'], ['x-mailer', 'content-transfer-encoding']));
        return $summary;
    }

    /**
     * Python's email package's view of $message (tests/fixtures/mime-summary.py).
     *
     * @return array<string, mixed>
     */
    public static function summary(string $message): array
    {
        $process = proc_open(['python3', dirname(__DIR__) . '/fixtures/mime-summary.py'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        if (!is_resource($process)) {
            self::fail('cannot run python3');
        }
        fwrite($pipes[0], $message);
        fclose($pipes[0]);
        $out = (string) stream_get_contents($pipes[1]);
        $err = (string) stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $status = proc_close($process);
        if ($status !== 0) {
            self::fail("mime-summary.py failed ($status): $err");
        }
        return json_decode($out, true, 64, JSON_THROW_ON_ERROR);
    }

    /** A file called $name holding $bytes, in a directory removed at the end. */
    private function tempFile(string $name, string $bytes): string
    {
        static $dir = null;
        if ($dir === null) {
            $dir = sys_get_temp_dir() . '/pm-compat-' . getmypid() . '-' . bin2hex(random_bytes(4));
            mkdir($dir);
            register_shutdown_function(static function () use ($dir): void {
                foreach (glob("$dir/*") ?: [] as $file) {
                    @unlink($file);
                }
                @rmdir($dir);
            });
        }
        file_put_contents("$dir/$name", $bytes);
        return "$dir/$name";
    }
}
