<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\ConnectionException;
use Smtp\Exception\SmtpException;
use Smtp\Exception\TlsException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * The STARTTLS attacks of the TLS suite (tests/tests/tls_scripted.rs,
 * bindings/c/tests/test_starttls.c) through the PHP API and the legacy
 * class, against the capture server (real TLS with a CA made here):
 *
 * - a reply injected right after the 220 to STARTTLS (CVE-2011-0411
 *   style): TlsException, the connection dropped before any handshake;
 * - STARTTLS required but not offered: TlsException, nothing after EHLO
 *   (no AUTH, no MAIL);
 * - 454 to STARTTLS: TlsException, nothing after it;
 * - a failed handshake (garbage instead of TLS, or a certificate from an
 *   unknown CA), also in opportunistic mode: no plaintext fallback, no
 *   second connection;
 * - and the positive control: STARTTLS, then AUTH over TLS only.
 *
 * In every attack the credentials never reach the server, in clear or
 * base64.
 */
final class StartTlsAttackTest extends SmtpTestCase
{
    private const USER = 'alice@example.test';

    private const PASSWORD = 'starttls-S3cret pass';

    /** @var ?array{dir: string, ca: string, cert: string, key: string, otherCa: string} */
    private static ?array $pki = null;

    /**
     * A throw-away CA and a server certificate for 127.0.0.1 and localhost
     * signed by it (EC P-256), plus an unrelated CA; made once per run.
     *
     * @return array{dir: string, ca: string, cert: string, key: string, otherCa: string}
     */
    private static function pki(): array
    {
        if (self::$pki !== null) {
            return self::$pki;
        }
        $dir = sys_get_temp_dir() . '/smtp-php-tls-' . getmypid() . '-' . bin2hex(random_bytes(4));
        mkdir($dir, 0700);
        $config = "$dir/openssl.cnf";
        file_put_contents($config, <<<'CNF'
            [req]
            distinguished_name = dn
            default_bits = 2048
            [dn]
            [ca]
            basicConstraints = critical, CA:TRUE
            keyUsage = critical, keyCertSign, cRLSign
            subjectKeyIdentifier = hash
            [leaf]
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature
            extendedKeyUsage = serverAuth
            subjectAltName = IP:127.0.0.1, DNS:localhost
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            CNF);
        $keyOptions = ['private_key_type' => OPENSSL_KEYTYPE_EC, 'curve_name' => 'prime256v1', 'config' => $config];
        $make = static function (string $name, string $section, $issuerCert, $issuerKey) use ($keyOptions, $config): array {
            $key = openssl_pkey_new($keyOptions);
            $csr = openssl_csr_new(['commonName' => $name], $key, ['config' => $config, 'digest_alg' => 'sha256']);
            $cert = openssl_csr_sign($csr, $issuerCert, $issuerKey ?? $key, 2,
                ['config' => $config, 'x509_extensions' => $section, 'digest_alg' => 'sha256'], random_int(1, PHP_INT_MAX));
            if ($key === false || $csr === false || $cert === false) {
                throw new \RuntimeException('openssl: ' . openssl_error_string());
            }
            return [$cert, $key];
        };
        try {
            [$caCert, $caKey] = $make('smtp-php capture CA', 'ca', null, null);
            [$leafCert, $leafKey] = $make('127.0.0.1', 'leaf', $caCert, $caKey);
            [$otherCert] = $make('smtp-php unrelated CA', 'ca', null, null);
            openssl_x509_export_to_file($caCert, "$dir/ca.pem");
            openssl_x509_export_to_file($leafCert, "$dir/cert.pem");
            openssl_pkey_export_to_file($leafKey, "$dir/key.pem", null, ['config' => $config]);
            openssl_x509_export_to_file($otherCert, "$dir/other-ca.pem");
        } catch (\Throwable $e) {
            array_map('unlink', glob("$dir/*") ?: []);
            rmdir($dir);
            throw $e;
        }
        return self::$pki = ['dir' => $dir, 'ca' => "$dir/ca.pem", 'cert' => "$dir/cert.pem", 'key' => "$dir/key.pem",
            'otherCa' => "$dir/other-ca.pem"];
    }

    public static function tearDownAfterClass(): void
    {
        if (self::$pki !== null) {
            foreach (glob(self::$pki['dir'] . '/*') ?: [] as $file) {
                @unlink($file);
            }
            @rmdir(self::$pki['dir']);
            self::$pki = null;
        }
    }

    /** A capture server offering STARTTLS (unless $offer is false) and AUTH PLAIN LOGIN. */
    private static function server(?string $starttls, bool $offer = true): ScriptedServer
    {
        $pki = self::pki();
        return ScriptedServer::capture([
            'ehlo' => $offer ? ['STARTTLS', 'AUTH PLAIN LOGIN', '8BITMIME'] : ['AUTH PLAIN LOGIN', '8BITMIME'],
            'ehloTls' => ['AUTH PLAIN LOGIN', '8BITMIME'],
            'starttls' => $starttls,
            'cert' => $pki['cert'],
            'key' => $pki['key'],
            'connections' => 5,
        ]);
    }

    /** A Mailer for $server: STARTTLS required with credentials, or opportunistic without. */
    private static function client(ScriptedServer $server, bool $credentials, ?string $caFile = null): Mailer
    {
        $options = ['host' => '127.0.0.1', 'port' => $server->port, 'clientName' => 'client.test', 'timeout' => 5,
            'caFile' => $caFile ?? self::pki()['ca']];
        $options += $credentials
            ? ['security' => 'starttls', 'user' => self::USER, 'password' => self::PASSWORD, 'mechanism' => 'PLAIN']
            : ['security' => 'opportunistic'];
        return new Mailer(...$options);
    }

    /** Connects ($credentials) or sends a message (opportunistic); returns the exception. */
    private function attack(Mailer $mailer, bool $credentials): SmtpException
    {
        try {
            if ($credentials) {
                $mailer->connect();
            } else {
                $mailer->send(new Message(from: 'sender@example.test', to: 'rcpt@example.test', subject: 's', text: "secret letter\n"));
            }
        } catch (SmtpException $e) {
            $this->assertFalse($mailer->isConnected(), 'the session survived the attack');
            $this->assertNoSecret($e->getMessage() . (string) $e, self::PASSWORD, self::USER);
            return $e;
        }
        $this->fail('the attack was not noticed');
    }

    /**
     * Nothing but the commands in $allowed went out in clear (a final QUIT
     * aside), no credentials anywhere, one connection.
     *
     * @param array<string, mixed> $report
     * @param list<string> $allowed
     */
    private function assertOnlySent(array $report, array $allowed): void
    {
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(1, $report['connections'], 'a second connection (a fallback?)');
        $connection = $report['connections'][0];
        $lines = Wire::lines($connection);
        if (end($lines) === 'QUIT' && count($lines) > count($allowed)) {
            array_pop($lines);
        }
        $this->assertSame($allowed, $lines);
        $this->assertFalse($connection['tls'], 'a handshake succeeded');
        $raw = Wire::allRaw($report);
        $this->assertNoSecret($raw, self::PASSWORD, self::USER);
        foreach (['AUTH', 'MAIL FROM', 'RCPT TO', 'secret letter'] as $word) {
            $this->assertStringNotContainsString($word, $raw);
        }
    }

    /** @return iterable<string, array{bool}> */
    public static function modes(): iterable
    {
        yield 'STARTTLS required, with credentials' => [true];
        yield 'opportunistic, sending a message' => [false];
    }

    public function testStartTlsThenAuthenticationOverTlsOnly(): void
    {
        $server = self::server('ok');
        $lines = [];
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'starttls', user: self::USER,
            password: self::PASSWORD, mechanism: 'PLAIN', caFile: self::pki()['ca'], clientName: 'client.test', timeout: 5,
            transcript: function ($direction, string $line) use (&$lines): void {
                $lines[] = $line;
            });
        $info = $mailer->connect();
        $this->assertTrue($info->isTls());
        $this->assertSame('PLAIN', $info->authenticatedWith);
        $mailer->send(new Message(from: 'sender@example.test', to: 'rcpt@example.test', subject: 's', text: "over TLS\n"));
        $mailer->quit();
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $connection = $report['connections'][0];
        $this->assertTrue($connection['tls']);
        $this->assertSame(['EHLO client.test', 'STARTTLS'], Wire::lines($connection, false));
        $this->assertSame(['EHLO client.test', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'QUIT'],
            array_map(static fn (string $l): string => $l === 'EHLO client.test' ? $l : (string) strtok($l, ' '),
                Wire::lines($connection, true)));
        // The credentials went over TLS only.
        $this->assertSame("\0" . self::USER . "\0" . self::PASSWORD,
            base64_decode(substr(rtrim($connection['auth'][0]), strlen('AUTH PLAIN ')), true));
        $this->assertNoSecret($connection['raw'], self::PASSWORD, self::USER);
        $this->assertNoSecret(implode("\n", $lines), self::PASSWORD, self::USER);
    }

    /** @dataProvider modes */
    public function testReplyInjectedAfterThe220IsRefusedBeforeTheHandshake(bool $credentials): void
    {
        $server = self::server('inject');
        $e = $this->attack(self::client($server, $credentials), $credentials);
        $this->assertInstanceOf(TlsException::class, $e);
        $this->assertSame('SMTP_ERR_TLS', $e->getResultName());
        $report = $server->finish();
        $this->assertOnlySent($report, ['EHLO client.test', 'STARTTLS']);
        $this->assertSame('', $report['connections'][0]['afterStartTls'],
            'the client sent something after the injected reply (a handshake?)');
    }

    public function testStartTlsRequiredButNotOfferedSendsNothingElse(): void
    {
        $server = self::server(null, false);
        $e = $this->attack(self::client($server, true), true);
        $this->assertInstanceOf(TlsException::class, $e);
        $this->assertStringContainsString('STARTTLS', $e->getMessage());
        $this->assertOnlySent($server->finish(), ['EHLO client.test']);
    }

    public function testStartTls454IsRefusedWithoutCredentials(): void
    {
        $server = self::server('454');
        $e = $this->attack(self::client($server, true), true);
        $this->assertInstanceOf(TlsException::class, $e);
        $this->assertStringContainsString('454', $e->getMessage() . ' ' . $e->getServerReply());
        $this->assertOnlySent($server->finish(), ['EHLO client.test', 'STARTTLS']);
    }

    /** @dataProvider modes */
    public function testNoPlaintextFallbackAfterGarbageInsteadOfTls(bool $credentials): void
    {
        $server = self::server('garbage');
        $e = $this->attack(self::client($server, $credentials), $credentials);
        $this->assertTrue($e instanceof TlsException || $e instanceof ConnectionException, get_class($e));
        $report = $server->finish();
        $this->assertOnlySent($report, ['EHLO client.test', 'STARTTLS']);
        $after = (string) $report['connections'][0]['afterStartTls'];
        $this->assertStringStartsWith("\x16\x03", $after, 'no TLS ClientHello after the 220');
    }

    /** @dataProvider modes */
    public function testNoPlaintextFallbackAfterACertificateFromAnUnknownCa(bool $credentials): void
    {
        $server = self::server('ok');
        $e = $this->attack(self::client($server, $credentials, self::pki()['otherCa']), $credentials);
        $this->assertInstanceOf(TlsException::class, $e);
        $report = $server->finish();
        $this->assertOnlySent($report, ['EHLO client.test', 'STARTTLS']);
        $this->assertNotSame('', $report['connections'][0]['tlsError'], 'the handshake should have failed');
    }

    /** @return iterable<string, array{?string, bool}> */
    public static function legacyAttacks(): iterable
    {
        yield 'reply injected after the 220' => ['inject', true];
        yield 'STARTTLS not offered' => [null, false];
        yield '454 to STARTTLS' => ['454', true];
        yield 'garbage instead of TLS' => ['garbage', true];
    }

    /**
     * The legacy class with a CA file requires STARTTLS even on this
     * machine: each attack gives false, and the password never goes out.
     *
     * @dataProvider legacyAttacks
     */
    public function testLegacySendMailRefusesEachAttack(?string $starttls, bool $offered): void
    {
        $server = self::server($starttls, $offered);
        $sendmail = new \send_mail('127.0.0.1:' . $server->port, true, self::USER, self::PASSWORD, 'client.test', true,
            self::pki()['ca']);
        $sendmail->timeout = 5;
        ob_start();
        try {
            $ok = $sendmail->send('rcpt@example.test', 'sender@example.test', 'subject', 'secret letter');
        } finally {
            $output = (string) ob_get_clean();
        }
        $this->assertFalse($ok);
        $this->assertNotSame('', $sendmail->lasterror);
        $this->assertNoSecret($output . $sendmail->lastmessage . $sendmail->lasterror . print_r($sendmail, true),
            self::PASSWORD, self::USER);
        $this->assertOnlySent($server->finish(), $offered ? ['EHLO client.test', 'STARTTLS'] : ['EHLO client.test']);
    }

    public function testLegacySendMailOverStartTls(): void
    {
        $server = self::server('ok');
        $sendmail = new \send_mail('127.0.0.1:' . $server->port, true, self::USER, self::PASSWORD, 'client.test', false,
            self::pki()['ca']);
        $this->assertTrue($sendmail->send('rcpt@example.test', 'sender@example.test', 'subject', 'over TLS'), $sendmail->lasterror);
        $report = $server->finish();
        $connection = $report['connections'][0];
        $this->assertTrue($connection['tls']);
        $this->assertSame(['EHLO client.test', 'STARTTLS'], Wire::lines($connection, false));
        $this->assertNoSecret($connection['raw'], self::PASSWORD, self::USER);
        $this->assertStringStartsWith('AUTH ', $connection['auth'][0]);
    }
}
