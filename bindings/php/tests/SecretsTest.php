<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\AuthenticationException;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\SmtpException;
use Smtp\Mailer;
use Smtp\Message;
use Smtp\TranscriptDirection;

/**
 * No password or token anywhere the PHP side can show it, at the highest
 * verbosity: the Mailer transcript (every line in and out), send_mail's
 * debug output, exception messages, __toString() and traces (with
 * arguments: phpunit.xml sets zend.exception_ignore_args=0), var_dump(),
 * print_r(), var_export() and (array) casts of the exceptions, Mailers
 * and send_mail objects, and what PHP itself prints for an uncaught
 * exception in a separate process.
 *
 * - PLAIN, LOGIN, CRAM-MD5 and SCRAM-SHA-256 against the real bed,
 *   over loopback plaintext and STARTTLS, with the right and a wrong
 *   password: neither the password, nor its base64, nor the base64 of
 *   the PLAIN blob "\0user\0password".
 * - XOAUTH2 and OAUTHBEARER (and PLAIN, LOGIN) against the capture
 *   server, accepted and refused: besides the token and its base64, every
 *   credential string the server actually received (so the exact blobs,
 *   whatever their layout) must appear nowhere.
 */
final class SecretsTest extends SmtpTestCase
{
    /**
     * Everything PHP can print about a value, in one string. An exception's
     * trace holds PHPUnit's whole object graph in its arguments, so it is
     * dumped frame by frame with objects named (SensitiveParameterValue
     * ones exported); var_dump(), print_r() and var_export() of whole
     * exceptions are checked in a separate process (child()).
     */
    private static function dump(mixed ...$values): string
    {
        $out = '';
        foreach ($values as $value) {
            if ($value instanceof \Throwable) {
                for ($e = $value; $e !== null; $e = $e->getPrevious()) {
                    $out .= get_class($e) . $e->getMessage() . (string) $e . $e->getTraceAsString();
                    foreach ($e->getTrace() as $frame) {
                        $out .= self::shallow($frame['args'] ?? []);
                    }
                    if ($e instanceof SmtpException) {
                        $out .= $e->getServerReply() . $e->getServerText() . $e->getEnhancedCode();
                    }
                }
                continue;
            }
            ob_start();
            var_dump($value);
            $out .= (string) ob_get_clean();
            $out .= print_r($value, true) . var_export($value, true);
            if (is_object($value)) {
                $out .= print_r((array) $value, true);
                $json = json_encode((array) $value, JSON_PARTIAL_OUTPUT_ON_ERROR | JSON_INVALID_UTF8_SUBSTITUTE);
                $out .= $json === false ? '' : $json;
            }
        }
        return $out;
    }

    /** Scalars and arrays in full, objects by class name (SensitiveParameterValue exported). */
    private static function shallow(mixed $value, int $depth = 0): string
    {
        if (is_array($value)) {
            $out = '';
            foreach ($value as $key => $item) {
                $out .= $key . '=' . ($depth < 8 ? self::shallow($item, $depth + 1) : '...') . ' ';
            }
            return "[$out]";
        }
        if ($value instanceof \SensitiveParameterValue) {
            return var_export($value, true) . print_r($value, true);
        }
        return is_object($value) ? get_class($value) : var_export($value, true);
    }

    /** A wrong password as varied as the real one (blank, punctuation, non-ASCII). */
    private static function wrongPassword(): string
    {
        return 'wr0ng P@ss-ü-' . bin2hex(random_bytes(4));
    }

    /** @return iterable<string, array{string, string, bool}> */
    public static function mechanisms(): iterable
    {
        foreach (['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256'] as $mechanism) {
            foreach (['plain' => 'loopback plaintext', 'submission' => 'STARTTLS'] as $port => $how) {
                foreach ([true, false] as $right) {
                    yield "$mechanism, $how, " . ($right ? 'right password' : 'wrong password') => [$mechanism, $port, $right];
                }
            }
        }
    }

    /** @dataProvider mechanisms */
    public function testNoPasswordAnywhereForEachMechanismAgainstTheBed(string $mechanism, string $port, bool $right): void
    {
        $bed = $this->bed();
        $password = $right ? $bed->password() : self::wrongPassword();
        $mailer = $this->transcriptMailer($port, ['password' => $password, 'mechanism' => $mechanism]);
        $exception = null;
        try {
            $info = $mailer->connect();
            $this->assertTrue($right, 'a wrong password was accepted');
            $this->assertSame($mechanism, $info->authenticatedWith);
            $result = $mailer->send(new Message(from: $bed->address('secrets'), to: $bed->address('secrets'),
                subject: "secrets $mechanism", text: "body\n"));
            $this->assertSame(250, $result->code);
            $everything = self::dump($info, $result);
            $mailer->quit();
        } catch (AuthenticationException $e) {
            $this->assertFalse($right, "the right password was refused: {$e->getMessage()}");
            $this->assertSame(535, $e->getSmtpCode());
            $exception = $e;
            $everything = self::dump($e);
        }
        $transcript = implode("\n", $this->transcript);
        $this->assertStringContainsString("Sent AUTH $mechanism", $transcript);
        $this->assertStringContainsString('[credentials hidden]', $transcript);
        $this->assertNoSecret($transcript . $everything . self::dump($mailer), $password);
        if ($exception !== null) {
            // The server's reply is kept, the secret is not.
            $this->assertStringStartsWith('535', $exception->getServerReply());
        }
    }

    public function testLegacyDebugOutputAndObjectsHoldNoPassword(): void
    {
        $bed = $this->bed();
        foreach (['plain' => null, 'submission' => $bed->caFile()] as $port => $ca) {
            foreach ([$bed->password(), self::wrongPassword()] as $password) {
                $sendmail = new \send_mail('localhost:' . $bed->port($port), true, $bed->user(), $password, 'client.test', true, $ca);
                ob_start();
                try {
                    $ok = $sendmail->send($bed->address('secrets'), $bed->address('secrets'), 'legacy secrets', 'body');
                } finally {
                    $output = (string) ob_get_clean();
                }
                $this->assertSame($password === $bed->password(), $ok, $sendmail->lasterror);
                $this->assertStringContainsString('[credentials hidden]', $output);
                $this->assertStringContainsString('>> AUTH ', $output);
                $everything = $output . $sendmail->lastmessage . $sendmail->lasterror . $sendmail->lastact
                    . self::dump($sendmail);
                ob_start();
                debug_zval_dump($sendmail);
                $everything .= (string) ob_get_clean();
                $this->assertNoSecret($everything, $password);
                $this->assertSame('', $sendmail->passwd, 'reading $passwd gives ""');
                $this->assertTrue(isset($sendmail->passwd));
            }
        }
    }

    /** The password and token are in constructor frames of these traces: they must show as hidden. */
    public function testTracesOfExceptionsThrownWhileHoldingTheSecretHideIt(): void
    {
        $password = self::wrongPassword();
        $token = 'ya29.' . bin2hex(random_bytes(12));
        $attempts = [
            'constructor, password' => static fn () => new Mailer(host: '127.0.0.1', port: 25, user: 'u', password: $password, timeout: -1),
            'constructor, token' => static fn () => new Mailer(host: '127.0.0.1', port: 25, user: 'u', token: $token, timeout: -1),
            'constructor, token and password' => static fn () => new Mailer(host: '127.0.0.1', user: 'u', password: $password, token: $token),
            'fromUrl, bad port' => static fn () => Mailer::fromUrl('smtp://u:' . rawurlencode($password) . '@127.0.0.1:notaport'),
            'fromUrl, unknown option' => static fn () => Mailer::fromUrl('smtp://u:' . rawurlencode($password) . '@127.0.0.1', colour: 1),
            'constructor url' => static fn () => new Mailer(url: 'smtp://u:' . rawurlencode($password) . '@127.0.0.1:99999'),
            'legacy, password of a wrong type' => static function () use ($password): void {
                $sendmail = new \send_mail('127.0.0.1:1', true, 'u', [$password]);
                if ($sendmail->send('a@example.test', 'b@example.test', 's', 'm') !== false) {
                    throw new \LogicException('sent');
                }
                throw new InvalidInputException($sendmail->lasterror . $sendmail->lastmessage . print_r($sendmail, true)
                    . var_export($sendmail, true));
            },
        ];
        foreach ($attempts as $name => $attempt) {
            try {
                $attempt();
                $this->fail("$name: no exception");
            } catch (InvalidInputException $e) {
                if (!str_starts_with($name, 'legacy')) {
                    $this->assertStringContainsString('SensitiveParameterValue', self::shallow($e->getTrace()), $name);
                }
                $everything = self::dump($e);
                $this->assertNoSecret($everything, $password, 'u');
                $this->assertStringNotContainsString($token, $everything, $name);
            }
        }
    }

    /** @return iterable<string, array{string, string}> */
    public static function scriptedMechanisms(): iterable
    {
        foreach (['XOAUTH2', 'OAUTHBEARER', 'PLAIN', 'LOGIN'] as $mechanism) {
            foreach (['ok', 'fail'] as $outcome) {
                yield "$mechanism, " . ($outcome === 'ok' ? 'accepted' : 'refused') => [$mechanism, $outcome];
            }
        }
    }

    /**
     * The credential strings the server received: each AUTH argument and
     * continuation line whose decoding contains $secret, raw and decoded.
     *
     * @param array<string, mixed> $report
     * @return list<string>
     */
    private static function wireSecrets(array $report, string $secret): array
    {
        $forms = [];
        foreach ($report['connections'] as $connection) {
            foreach ($connection['auth'] as $n => $line) {
                $line = rtrim($line, "\r\n");
                $argument = $n === 0 ? (explode(' ', $line)[2] ?? '') : $line;
                $decoded = base64_decode($argument, true);
                if ($decoded !== false && str_contains($decoded, $secret)) {
                    $forms[] = $argument;
                    $forms[] = $decoded;
                }
            }
        }
        return $forms;
    }

    /** @dataProvider scriptedMechanisms */
    public function testNoTokenOrPasswordAnywhereAgainstTheCaptureServer(string $mechanism, string $outcome): void
    {
        $oauth = str_starts_with($mechanism, 'XOAUTH2') || $mechanism === 'OAUTHBEARER';
        $user = 'alice@example.test';
        $secret = $oauth ? 'ya29.' . bin2hex(random_bytes(16)) . '-Tok' : self::wrongPassword();
        $server = ScriptedServer::capture(['ehlo' => ["AUTH $mechanism", '8BITMIME'], 'auth' => $outcome]);
        $lines = [];
        $mailer = new Mailer(...[
            'host' => '127.0.0.1', 'port' => $server->port, 'security' => 'none', 'clientName' => 'client.test',
            'timeout' => 5, 'user' => $user, 'mechanism' => $mechanism, ($oauth ? 'token' : 'password') => $secret,
            'transcript' => function (TranscriptDirection $direction, string $line) use (&$lines): void {
                $lines[] = $direction->name . ' ' . $line;
            },
        ]);
        $everything = '';
        try {
            $info = $mailer->connect();
            $this->assertSame('ok', $outcome);
            $this->assertSame($mechanism, $info->authenticatedWith);
            $everything .= self::dump($info);
            $mailer->quit();
        } catch (AuthenticationException $e) {
            $this->assertSame('fail', $outcome, $e->getMessage());
            $everything .= self::dump($e);
        }
        $everything .= self::dump($mailer);

        // A separate process, noisily, with the exception uncaught (refused only).
        if ($outcome === 'fail' && $oauth) {
            $server2 = ScriptedServer::capture(['ehlo' => ["AUTH $mechanism"], 'auth' => 'fail']);
            [$code, $out] = self::child('token', ['host' => '127.0.0.1', 'port' => $server2->port, 'user' => $user,
                'token' => $secret, 'mechanism' => $mechanism]);
            $server2->finish();
            $this->assertNotSame(0, $code);
            $this->assertStringContainsString('Uncaught Smtp\Exception\AuthenticationException', $out);
            $everything .= $out;
        }

        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $forms = self::wireSecrets($report, $secret);
        $this->assertNotSame([], $forms, 'the secret never reached the server: the test would prove nothing');
        $forms[] = $secret;
        $forms[] = base64_encode($secret);
        if ($oauth) {
            $forms[] = base64_encode("user=$user\x01auth=Bearer $secret\x01\x01");
            $forms[] = "Bearer $secret";
        } else {
            $forms[] = base64_encode("\0$user\0$secret");
        }
        $transcript = implode("\n", $lines);
        $this->assertStringContainsString('[credentials hidden]', $transcript);
        foreach (array_unique($forms) as $form) {
            $this->assertStringNotContainsString($form, $transcript . $everything, 'a secret leaked: ' . Wire::show($form, 40));
        }
    }

    /**
     * Runs fixtures/secrets-child.php MODE with $input on stdin and every
     * error shown; returns [exit code, stdout + stderr].
     *
     * @param array<string, mixed> $input
     * @return array{int, string}
     */
    private static function child(string $mode, array $input): array
    {
        $process = proc_open(
            [PHP_BINARY, '-d', 'display_errors=stderr', '-d', 'error_reporting=-1', '-d', 'log_errors=0',
                '-d', 'zend.exception_ignore_args=0', '-d', 'html_errors=0', __DIR__ . '/fixtures/secrets-child.php', $mode],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes,
        );
        if (!is_resource($process)) {
            throw new \RuntimeException('cannot start the child');
        }
        fwrite($pipes[0], json_encode($input, JSON_THROW_ON_ERROR));
        fclose($pipes[0]);
        $out = '';
        $deadline = microtime(true) + 30;
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);
        while (microtime(true) < $deadline && !(feof($pipes[1]) && feof($pipes[2]))) {
            $r = [$pipes[1], $pipes[2]];
            $w = $e = null;
            if (@stream_select($r, $w, $e, 0, 100_000) > 0) {
                foreach ($r as $pipe) {
                    $out .= (string) fread($pipe, 65536);
                }
            }
        }
        fclose($pipes[1]);
        fclose($pipes[2]);
        $code = proc_close($process);
        return [$code, $out];
    }

    public function testWhatPhpPrintsForUncaughtExceptionsHoldsNoSecret(): void
    {
        $bed = $this->bed();
        $wrong = self::wrongPassword();
        $base = ['host' => $bed->host(), 'port' => $bed->port('plain'), 'user' => $bed->user(),
            'to' => $bed->address('secrets'), 'from' => $bed->address('secrets')];
        $runs = [
            ['auth', ['password' => $wrong, 'mechanism' => 'PLAIN'], $wrong, 'Uncaught Smtp\Exception\AuthenticationException'],
            ['auth', ['password' => $wrong, 'mechanism' => 'LOGIN'], $wrong, 'Uncaught Smtp\Exception\AuthenticationException'],
            ['constructor', ['password' => $bed->password()], $bed->password(), 'Uncaught Smtp\Exception\InvalidInputException'],
            ['url', ['password' => $bed->password()], $bed->password(), 'Uncaught Smtp\Exception\InvalidInputException'],
            ['legacy', ['password' => $bed->password()], $bed->password(), 'Uncaught RuntimeException: done: sent'],
            ['legacy', ['password' => $wrong], $wrong, 'Uncaught RuntimeException: done: refused'],
        ];
        foreach ($runs as [$mode, $input, $password, $expected]) {
            [$code, $out] = self::child($mode, $input + $base);
            $this->assertSame(255, $code, "$mode: $out");
            $this->assertStringContainsString($expected, $out);
            $this->assertStringContainsString('Stack trace:', $out);
            if ($mode === 'auth' || $mode === 'legacy') {
                $this->assertStringContainsString('[credentials hidden]', $out, "$mode: no AUTH in the output");
            }
            $this->assertNoSecret($out, $password);
        }
    }
}
