<?php

/*
 * Concern: bad input through Smtp\Compat\PHPMailer, next to the same input
 * through the real PHPMailer 6, with the scripted capture server recording
 * every byte: the same outcome (sent, false + ErrorInfo, or an exception),
 * never a PHP error, and never an injected header or command on our wire.
 */

declare(strict_types=1);

namespace Smtp\Tests\Compat;

use Smtp\Tests\ScriptedServer;
use Smtp\Tests\SmtpTestCase;
use Smtp\Tests\Wire;

/**
 * CR/LF (with a header and an SMTP command after it) in every field a
 * PHPMailer user sets, a NUL in a file name, a missing attachment and an
 * invalid address.
 *
 * Where PHPMailer removes line breaks (Subject, display names, attachment
 * names, content ids) both classes send the cleaned value; where it
 * refuses (addresses, custom headers, files) both refuse; a MessageID
 * that is not <id@domain> is replaced by a generated one in both.
 * Where PHPMailer 6.6.3 sends the value as it is (XMailer, Helo, Hostname,
 * an attachment's MIME type: its capture shows injected lines, asserted),
 * and for a content id that is not a valid id once cleaned, ours refuses
 * instead (false + ErrorInfo, or the exception).
 */
final class PHPMailerInputTest extends SmtpTestCase
{
    private const INJECTION = "\r\nX-Injected: yes\r\nRCPT TO:<INJECTED@evil.test>\r\n";

    /**
     * name => [what to do to a ready mailer, our outcome ('sent', or
     * 'refused': the call or send() false, or an exception), and, when
     * PHPMailer's differs, PHPMailer's].
     *
     * @return array<string, array{0: \Closure(object): mixed, 1: string, 2?: string}>
     */
    private static function cases(): array
    {
        $bad = static fn (string $base): string => $base . self::INJECTION;
        $file = __FILE__;
        $png = self::pngFile();
        return [
            'Subject' => [static fn ($m) => $m->Subject = $bad('Subject'), 'sent'],
            'From name' => [static fn ($m) => $m->setFrom('from@example.test', $bad('Name')), 'sent'],
            'From address' => [static fn ($m) => $m->setFrom($bad('from@example.test')), 'refused'],
            'To name' => [static fn ($m) => $m->addAddress('to2@example.test', $bad('Name')), 'sent'],
            'To address' => [static fn ($m) => $m->addAddress($bad('to2@example.test')), 'refused'],
            'Cc name' => [static fn ($m) => $m->addCC('cc@example.test', $bad('Name')), 'sent'],
            'Cc address' => [static fn ($m) => $m->addCC($bad('cc@example.test')), 'refused'],
            'Bcc address' => [static fn ($m) => $m->addBCC($bad('bcc@example.test')), 'refused'],
            'Reply-To name' => [static fn ($m) => $m->addReplyTo('reply@example.test', $bad('Name')), 'sent'],
            'Reply-To address' => [static fn ($m) => $m->addReplyTo($bad('reply@example.test')), 'refused'],
            'custom header name' => [static fn ($m) => $m->addCustomHeader($bad('X-Name'), 'value'), 'refused'],
            'custom header value' => [static fn ($m) => $m->addCustomHeader('X-Name', $bad('value')), 'refused'],
            'custom header name:value' => [static fn ($m) => $m->addCustomHeader($bad('X-Name: value')), 'refused'],
            'attachment name' => [static fn ($m) => $m->addAttachment($file, $bad('a.txt')), 'sent'],
            'string attachment name' => [static fn ($m) => $m->addStringAttachment('bytes', $bad('a.txt')), 'sent'],
            'embedded image cid' => [static function ($m) use ($png, $bad) {
                $m->isHTML(true);
                return $m->addEmbeddedImage($png, $bad('logo'));
            }, 'refused', 'sent'], // libsmtp refuses the cleaned id (spaces, ':', '<'); PHPMailer sends it
            'MessageID' => [static fn ($m) => $m->MessageID = $bad('<id@example.test>'), 'sent'],
            'Sender' => [static fn ($m) => $m->Sender = $bad('bounce@example.test'), 'refused'],
            'XMailer' => [static fn ($m) => $m->XMailer = $bad('Mailer'), 'refused', 'sent'],
            'Helo' => [static fn ($m) => $m->Helo = $bad('client.test'), 'refused', 'sent'],
            'Hostname' => [static fn ($m) => $m->Hostname = $bad('host.test'), 'refused', 'sent'],
            'attachment type' => [static fn ($m) => $m->addStringAttachment('bytes', 'a.txt', 'base64', $bad('text/plain')),
                'refused', 'sent'],
            'NUL in a file name' => [static fn ($m) => $m->addAttachment("$file\0.txt"), 'refused'],
            'missing attachment' => [static fn ($m) => $m->addAttachment('/nonexistent/report.pdf'), 'refused'],
            'invalid address' => [static fn ($m) => $m->addAddress('not an address'), 'refused'],
        ];
    }

    /** @return iterable<string, array{bool}> */
    public static function modes(): iterable
    {
        yield 'false and ErrorInfo' => [false];
        yield 'exceptions' => [true];
    }

    /** @dataProvider modes */
    public function testBadInputGivesPHPMailersOutcomeAndNeverReachesTheWire(bool $exceptions): void
    {
        PHPMailerCompatTest::requirePHPMailer();
        $outcomes = [];
        $reports = [];
        foreach ([PHPMailerCompatTest::REAL, PHPMailerCompatTest::OURS] as $class) {
            $server = ScriptedServer::capture();
            foreach (self::cases() as $name => [$apply]) {
                $outcomes[$class][$name] = $this->attempt($class, $server->port, $exceptions, $apply);
            }
            $reports[$class] = $server->finish();
        }
        foreach (self::cases() as $name => $case) {
            $expected = $case[1];
            $real = $outcomes[PHPMailerCompatTest::REAL][$name];
            $ours = $outcomes[PHPMailerCompatTest::OURS][$name];
            $this->assertSame($expected, $ours['outcome'], "$name: ours ({$ours['info']})");
            $this->assertSame($case[2] ?? $expected, $real['outcome'], "$name: PHPMailer");
            if ($expected === 'refused') {
                $this->assertNotSame('', $ours['info'], "$name: ErrorInfo");
                $this->assertDoesNotMatchRegularExpression('/[\r\n\0]/', $ours['info'], "$name: ErrorInfo is one line");
                if ($exceptions) {
                    $this->assertInstanceOf(\Smtp\Compat\Exception::class, $ours['thrown'], $name);
                    $this->assertSame($ours['info'], $ours['thrown']->getMessage(), $name);
                } else {
                    $this->assertNull($ours['thrown'], $name);
                }
            }
        }
        $this->assertSame([], $this->injections($reports[PHPMailerCompatTest::OURS]), 'injected on our wire');
        $this->assertSame([], Wire::errors($reports[PHPMailerCompatTest::OURS]));
        // The differences: PHPMailer 6.6.3 itself writes these injections.
        $this->assertNotSame([], $this->injections($reports[PHPMailerCompatTest::REAL]), 'PHPMailer wrote no injection');
        $sent = count(array_filter($outcomes[PHPMailerCompatTest::OURS], static fn (array $o): bool => $o['sent']));
        $this->assertCount($sent, $this->bodies($reports[PHPMailerCompatTest::OURS]), 'one message per send() that said true');
    }

    /**
     * One case with one class: a ready mailer, the bad value, send().
     *
     * @return array{outcome: string, sent: bool, info: string, thrown: ?\Throwable}
     */
    private function attempt(string $class, int $port, bool $exceptions, \Closure $apply): array
    {
        $mail = new $class($exceptions);
        $thrown = null;
        $sent = false;
        $accepted = null;
        try {
            $mail->isSMTP();
            $mail->Host = '127.0.0.1';
            $mail->Port = $port;
            $mail->SMTPAutoTLS = false;
            $mail->Timeout = 5;
            $mail->setFrom('from@example.test', 'From');
            $mail->addAddress('to@example.test', 'To');
            $mail->Subject = 'subject';
            $mail->Body = 'body';
            $accepted = $apply($mail);
            $sent = $mail->send();
        } catch (\Exception $e) {
            $expected = $class === PHPMailerCompatTest::OURS ? \Smtp\Compat\Exception::class : 'PHPMailer\PHPMailer\Exception';
            if (!$e instanceof $expected) {
                throw $e; // a PHP error or another class: a failure of its own
            }
            $thrown = $e;
        }
        // A setter that said false counts as refused even when send() then
        // went out with the earlier, good value (as for setFrom()).
        $refused = !$sent || $accepted === false;
        return ['outcome' => $refused ? 'refused' : 'sent', 'sent' => $sent, 'info' => $mail->ErrorInfo, 'thrown' => $thrown];
    }

    /**
     * Command lines and header lines that came from an injection.
     *
     * @param array<string, mixed> $report
     * @return list<string>
     */
    private function injections(array $report): array
    {
        $found = [];
        foreach ($report['connections'] as $connection) {
            foreach (Wire::lines($connection) as $line) {
                if (str_contains($line, 'INJECTED') || stripos($line, 'X-Injected') !== false) {
                    $found[] = "command: $line";
                }
            }
        }
        foreach ($this->bodies($report) as $content) {
            foreach (explode("\r\n", $content) as $line) {
                if (preg_match('/^(X-Injected|RCPT TO:<INJECTED)/i', $line) === 1) {
                    $found[] = "message: $line";
                }
            }
        }
        return $found;
    }

    /**
     * The message contents captured.
     *
     * @param array<string, mixed> $report
     * @return list<string>
     */
    private function bodies(array $report): array
    {
        $out = [];
        foreach ($report['connections'] as $connection) {
            foreach ($connection['bodies'] as $body) {
                [$content, $error] = Wire::content($body);
                $this->assertNull($error);
                $out[] = (string) $content;
            }
        }
        return $out;
    }

    /** A one-pixel PNG in a temporary file. */
    private static function pngFile(): string
    {
        static $path = null;
        if ($path === null) {
            $path = sys_get_temp_dir() . '/pm-input-' . getmypid() . '.png';
            file_put_contents($path, (string) base64_decode(
                'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='));
            register_shutdown_function(static fn () => @unlink($path));
        }
        return $path;
    }
}
