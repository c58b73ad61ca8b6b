<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Message;
use Smtp\Pool;

/**
 * DKIM signing from PHP: an RSA-2048 and an Ed25519 key (made with openssl
 * for the run) given as Mailer and Pool options. Messages go through the
 * Postfix test bed (send, sendRaw, sendMany, Pool::sendRaw) and every
 * signature of each delivered copy is verified by dkimpy
 * (tests/dkim_verify.py). Weak and wrong keys fail when the Mailer is
 * made, never at send time.
 */
final class DkimTest extends SmtpTestCase
{
    private const DOMAIN = 'example.org';

    private static ?string $dir = null;

    /** @return array{rsa: string, ed: string, weak: string} the key files */
    private function keys(): array
    {
        if (self::$dir === null) {
            $check = shell_exec("/usr/bin/python3 -c 'import dkim, nacl; print(1)' 2>/dev/null");
            if (trim((string) $check) !== '1') {
                if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                    $this->fail('SMTP_TESTBED_REQUIRED=1 but dkimpy is missing (apt-get install python3-dkim python3-nacl)');
                }
                $this->markTestSkipped('no dkimpy (apt-get install python3-dkim python3-nacl)');
            }
            $dir = sys_get_temp_dir() . '/smtp-php-dkim-' . getmypid();
            @mkdir($dir, 0700);
            foreach (['rsa' => 'RSA -pkeyopt rsa_keygen_bits:2048', 'ed' => 'ed25519',
                'weak' => 'RSA -pkeyopt rsa_keygen_bits:1024'] as $name => $algorithm) {
                exec("umask 077 && openssl genpkey -algorithm $algorithm -out $dir/$name.pem 2>/dev/null", $out, $rc);
                $this->assertSame(0, $rc, "openssl genpkey $algorithm");
            }
            self::$dir = $dir;
        }
        return ['rsa' => self::$dir . '/rsa.pem', 'ed' => self::$dir . '/ed.pem', 'weak' => self::$dir . '/weak.pem'];
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$dir !== null) {
            array_map('unlink', glob(self::$dir . '/*') ?: []);
            @rmdir(self::$dir);
            self::$dir = null;
        }
    }

    /** @return array<string, string> the Mailer/Pool options that sign with both keys */
    private function dkimOptions(): array
    {
        $keys = $this->keys();
        return ['dkim_domain' => self::DOMAIN, 'dkim_key' => "brisk:{$keys['rsa']},swift:{$keys['ed']}"];
    }

    private function assertVerifies(string $message): void
    {
        $keys = $this->keys();
        $file = self::$dir . '/message.eml';
        file_put_contents($file, $message);
        $this->assertStringContainsString('a=rsa-sha256', $message);
        $this->assertStringContainsString('a=ed25519-sha256', $message);
        $command = ['/usr/bin/python3', dirname(__DIR__, 3) . '/tests/dkim_verify.py', $file,
            'brisk._domainkey.' . self::DOMAIN . '=@' . $keys['rsa'],
            'swift._domainkey.' . self::DOMAIN . '=@' . $keys['ed']];
        exec(implode(' ', array_map('escapeshellarg', $command)) . ' 2>&1', $lines, $rc);
        $this->assertSame(0, $rc, implode("\n", $lines));
    }

    public function testEveryWayOfSendingSigns(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('phpdkim');
        $mailer = $this->mailer('plain', ['options' => $this->dkimOptions()]);
        $to = $bed->address('dkim-php');

        $message = new Message(
            from: 'Zoë <sender@' . self::DOMAIN . '>',
            to: $to,
            subject: "签名的信 send $marker",
            text: "你好，\nsigned from PHP.\n\n",
            html: '<p>签名 <b>signed</b></p>',
        );
        $message->attachData("data\n", '报告.txt')->listUnsubscribe("https://example.org/u/$marker");
        $mailer->send($message);
        $raw = "From: sender@" . self::DOMAIN . "\r\nTo: $to\r\nSubject: raw $marker\r\n\r\nraw \r\n\r\n";
        $mailer->sendRaw($raw, 'sender@' . self::DOMAIN, $to);
        $results = $mailer->sendMany([
            new Message(from: 'sender@' . self::DOMAIN, to: $to, subject: "many-1 $marker", text: 'one'),
            ['data' => str_replace("raw $marker", "many-2 $marker", $raw), 'from' => 'sender@' . self::DOMAIN, 'to' => $to],
        ]);
        $this->assertCount(2, $results);
        $mailer->quit();

        $pool = new Pool(
            host: $bed->host(),
            port: $bed->port('plain'),
            security: 'none',
            user: $bed->user(),
            password: $bed->password(),
            options: $this->dkimOptions(),
        );
        $pool->sendRaw(str_replace("raw $marker", "pool $marker", $raw), 'sender@' . self::DOMAIN, $to);
        $pool->close();

        foreach (["send $marker", "raw $marker", "many-1 $marker", "many-2 $marker", "pool $marker"] as $subject) {
            $this->assertVerifies($bed->waitForMessage($subject, 20.0));
        }
    }

    public function testBadKeysFailWhenTheMailerIsMade(): void
    {
        $keys = $this->keys();
        $cases = [
            'weak RSA' => ['dkim_domain' => self::DOMAIN, 'dkim_key' => "s:{$keys['weak']}"],
            'missing file' => ['dkim_domain' => self::DOMAIN, 'dkim_key' => 's:/nonexistent/key.pem'],
            'selector with a space' => ['dkim_domain' => self::DOMAIN, 'dkim_key' => "bad s:{$keys['rsa']}"],
            'domain with CR LF' => ['dkim_domain' => "example.org\r\nX: y", 'dkim_key' => "s:{$keys['rsa']}"],
        ];
        foreach ($cases as $what => $options) {
            try {
                new Mailer(host: '127.0.0.1', options: $options);
                $this->fail("$what accepted");
            } catch (InvalidInputException $e) {
                $this->assertStringNotContainsString('PRIVATE KEY', $e->getMessage(), $what);
            }
        }
    }
}
