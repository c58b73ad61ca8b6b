<?php

/*
 * The proxy argument and option of Mailer and Pool against the test bed's
 * real proxies: dante (SOCKS5, with and without user/password) and
 * tinyproxy (HTTP CONNECT with Basic credentials) in front of Postfix,
 * STARTTLS and implicit TLS end to end, each message found in the
 * Maildir; a wrong proxy password is a ConnectionException naming the
 * proxy and its step, with no password in it or in the transcript.
 */

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\ConnectionException;
use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Pool;

final class ProxyTest extends SmtpTestCase
{
    /** The bed with its proxies, or a skipped (SMTP_TESTBED_REQUIRED=1: failed) test. */
    private function proxied(): TestBed
    {
        $bed = $this->bed();
        if (!$bed->hasProxies()) {
            if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                $this->fail('SMTP_TESTBED_REQUIRED=1 but the test bed started no proxies '
                    . '(install dante-server and tinyproxy: tests/testbed/install.sh)');
            }
            $this->markTestSkipped('the test bed started no proxies');
        }
        return $bed;
    }

    /** The authenticating SOCKS5 proxy's URL with $password. */
    private static function socksUrl(TestBed $bed, string $password, string $scheme = 'socks5h'): string
    {
        return sprintf('%s://%s:%s@%s:%d', $scheme, rawurlencode($bed->var('SOCKS5_USER')),
            rawurlencode($password), $bed->host(), (int) $bed->var('SOCKS5_PORT'));
    }

    /** tinyproxy's URL with $password. */
    private static function httpUrl(TestBed $bed, string $password): string
    {
        return sprintf('http://%s:%s@%s:%d', rawurlencode($bed->var('HTTP_PROXY_USER')),
            rawurlencode($password), $bed->host(), (int) $bed->var('HTTP_PROXY_PORT'));
    }

    /**
     * A Mailer for $port ('submission' or 'smtps') of the bed as
     * "localhost" (the name in its certificate) through $proxy, its
     * transcript in $this->transcript.
     */
    private function proxiedMailer(string $port, string $proxy, bool $byOption = false): Mailer
    {
        $bed = $this->proxied();
        $this->transcript = [];
        return new Mailer(...[
            'host' => 'localhost',
            'port' => $bed->port($port),
            'security' => $port === 'smtps' ? 'implicit' : 'starttls',
            'user' => $bed->user(),
            'password' => $bed->password(),
            'caFile' => $bed->caFile(),
            'timeout' => 20,
            'clientName' => 'client.example.test',
            'transcript' => function ($direction, string $line): void {
                $this->transcript[] = $direction->name . ' ' . $line;
            },
        ] + ($byOption ? ['options' => ['system_roots' => false, 'proxy' => $proxy]]
                       : ['proxy' => $proxy, 'options' => ['system_roots' => false]]));
    }

    /** A raw message whose subject carries $marker. */
    private static function raw(TestBed $bed, string $marker): string
    {
        return 'From: <' . $bed->address('sender') . ">\r\nTo: <" . $bed->address('rcpt')
            . ">\r\nSubject: $marker\r\n\r\nthrough a proxy, from PHP\r\n";
    }

    /**
     * Sends one message with $mailer and checks it arrived over TLS,
     * authenticated, and that the session's connection went to the proxy
     * at $proxyPort with $secret nowhere in the transcript.
     */
    private function sendThrough(Mailer $mailer, int $proxyPort, string $secret, string $tag): void
    {
        $bed = $this->proxied();
        $marker = TestBed::marker($tag);
        $info = $mailer->connect();
        $this->assertNotNull($info->tlsVersion, 'TLS through the proxy');
        $this->assertNotNull($info->authenticatedWith);
        $mailer->sendRaw(self::raw($bed, $marker), $bed->address('sender'), $bed->address('rcpt'));
        $mailer->quit();
        $this->assertStringContainsString('with ESMTPSA', $bed->waitForMessage($marker));
        $transcript = implode("\n", $this->transcript);
        $connected = array_values(array_filter($this->transcript, static fn (string $l): bool => str_contains($l, 'connected to')));
        $this->assertNotEmpty($connected, $transcript);
        $this->assertStringContainsString(":$proxyPort", $connected[0], 'the session went through the proxy');
        $this->assertStringNotContainsString($secret, $transcript);
        $this->assertNoSecret($transcript);
    }

    public function testSocks5WithPasswordStartTlsAndImplicitTls(): void
    {
        $bed = $this->proxied();
        $password = $bed->var('SOCKS5_PASSWORD');
        $port = (int) $bed->var('SOCKS5_PORT');
        $this->sendThrough($this->proxiedMailer('submission', self::socksUrl($bed, $password)), $port, $password, 'php-socks');
        $this->sendThrough($this->proxiedMailer('smtps', self::socksUrl($bed, $password, 'socks5')), $port, $password, 'php-socks-smtps');
        // The same by the options array.
        $this->sendThrough($this->proxiedMailer('submission', self::socksUrl($bed, $password), true), $port, $password, 'php-socks-opt');
    }

    public function testSocks5WithoutAuthentication(): void
    {
        $bed = $this->proxied();
        $port = (int) $bed->var('SOCKS5_NOAUTH_PORT');
        $url = sprintf('socks5://%s:%d', $bed->host(), $port);
        $this->sendThrough($this->proxiedMailer('submission', $url), $port, $bed->password(), 'php-socks-noauth');
    }

    public function testHttpConnectStartTlsAndImplicitTls(): void
    {
        $bed = $this->proxied();
        $password = $bed->var('HTTP_PROXY_PASSWORD');
        $port = (int) $bed->var('HTTP_PROXY_PORT');
        $this->sendThrough($this->proxiedMailer('submission', self::httpUrl($bed, $password)), $port, $password, 'php-http');
        $this->sendThrough($this->proxiedMailer('smtps', self::httpUrl($bed, $password)), $port, $password, 'php-http-smtps');
    }

    /**
     * Connecting through $proxy must throw a ConnectionException naming
     * the proxy at $proxyPort and $step, with neither password anywhere.
     */
    private function assertRefused(Mailer $mailer, int $proxyPort, string $step, string $wrong, string $right): string
    {
        $bed = $this->proxied();
        try {
            $mailer->connect();
            $this->fail('connected through a proxy with a wrong password');
        } catch (ConnectionException $e) {
            $message = $e->getMessage();
            $this->assertSame('SMTP_ERR_CONNECT', $e->getResultName());
            $this->assertStringContainsString('proxy ' . $bed->host() . ":$proxyPort", $message);
            $this->assertStringContainsString($step, $message);
            $shown = $message . "\n" . $e->getTraceAsString() . "\n" . implode("\n", $this->transcript)
                . "\n" . print_r($mailer, true);
            foreach ([$wrong, $right, rawurlencode($wrong)] as $secret) {
                $this->assertStringNotContainsString($secret, $shown);
            }
            $this->assertFalse($mailer->isConnected());
            return $message;
        } finally {
            $mailer->close();
        }
    }

    public function testAWrongProxyPasswordIsAConnectionExceptionWithoutThePassword(): void
    {
        $bed = $this->proxied();
        $wrong = TestBed::marker('wrong-pw') . '@%:';
        $this->assertRefused(
            $this->proxiedMailer('submission', self::socksUrl($bed, $wrong)),
            (int) $bed->var('SOCKS5_PORT'),
            'SOCKS5 authentication: the proxy refused the user name or password',
            $wrong,
            $bed->var('SOCKS5_PASSWORD'),
        );
        $message = $this->assertRefused(
            $this->proxiedMailer('submission', self::httpUrl($bed, $wrong)),
            (int) $bed->var('HTTP_PROXY_PORT'),
            'HTTP CONNECT',
            $wrong,
            $bed->var('HTTP_PROXY_PASSWORD'),
        );
        // tinyproxy answers wrong Basic credentials with 401, missing ones with 407.
        $this->assertMatchesRegularExpression('/authentication|401/', $message);
    }

    public function testAPoolThroughEachProxy(): void
    {
        $bed = $this->proxied();
        foreach ([
            'php-pool-socks' => self::socksUrl($bed, $bed->var('SOCKS5_PASSWORD')),
            'php-pool-http' => self::httpUrl($bed, $bed->var('HTTP_PROXY_PASSWORD')),
        ] as $tag => $url) {
            $pool = new Pool(host: 'localhost', port: $bed->port('submission'), security: 'starttls',
                user: $bed->user(), password: $bed->password(), caFile: $bed->caFile(), timeout: 20,
                maxConnections: 1, proxy: $url, options: ['system_roots' => false]);
            $markers = [TestBed::marker($tag), TestBed::marker($tag)];
            foreach ($markers as $marker) {
                $pool->sendRaw(self::raw($bed, $marker), $bed->address('sender'), $bed->address('rcpt'));
            }
            foreach ($markers as $marker) {
                $this->assertStringContainsString('with ESMTPSA', $bed->waitForMessage($marker));
            }
            $this->assertSame(1, $pool->openConnections());
            $pool->close();
        }
    }

    public function testAPoolWithAWrongProxyPassword(): void
    {
        $bed = $this->proxied();
        $wrong = TestBed::marker('wrong-pool-pw');
        $pool = new Pool(host: 'localhost', port: $bed->port('submission'), user: $bed->user(),
            password: $bed->password(), caFile: $bed->caFile(), timeout: 20,
            options: ['proxy' => self::socksUrl($bed, $wrong)]);
        try {
            $pool->sendRaw(self::raw($bed, 'never-sent'), $bed->address('sender'), $bed->address('rcpt'));
            $this->fail('sent through a proxy with a wrong password');
        } catch (ConnectionException $e) {
            $this->assertStringContainsString('SOCKS5 authentication', $e->getMessage());
            $this->assertStringNotContainsString($wrong, $e->getMessage() . $e->getTraceAsString());
        }
        $this->assertSame(0, $pool->openConnections());
        $pool->close();
    }

    /** Malformed URLs: InvalidInputException naming the proxy, never the password. */
    public function testASilentProxyIsAConnectionExceptionWithinTheConnectTimeout(): void
    {
        // A listener that accepts (the kernel does) and never says a word.
        $silent = stream_socket_server('tcp://127.0.0.1:0');
        $this->assertNotFalse($silent);
        $address = (string) stream_socket_get_name($silent, false);
        foreach (['socks5', 'http'] as $scheme) {
            $mailer = new Mailer(
                host: 'mail.example.test',
                port: 587,
                security: 'none',
                connectTimeout: 1,
                timeout: 1,
                proxy: "$scheme://ann:Px-s3cret-2@$address",
            );
            $started = hrtime(true);
            try {
                $mailer->connect();
                $this->fail("connected through a silent $scheme proxy");
            } catch (ConnectionException $e) {
                $took = (hrtime(true) - $started) / 1e9;
                $this->assertStringContainsString("proxy $address", $e->getMessage());
                $this->assertStringContainsString('no answer within the connect timeout', $e->getMessage());
                $this->assertStringNotContainsString('Px-s3cret-2', $e->getMessage());
                $this->assertLessThan(4.0, $took, $e->getMessage());
            }
            $mailer->close();
        }
        fclose($silent);
    }

    public function testMalformedProxyUrlsAreInvalidInput(): void
    {
        foreach ([
            'socks5://user:Px-s3cret-1@',
            'ftp://user:Px-s3cret-1@proxy.example.test',
            'http://user:Px-s3cret-1@proxy.example.test/path',
            'proxy.example.test:1080',
        ] as $url) {
            foreach (['mailer', 'pool', 'option'] as $how) {
                try {
                    match ($how) {
                        'mailer' => new Mailer(host: 'localhost', proxy: $url),
                        'pool' => new Pool(host: 'localhost', proxy: $url),
                        'option' => new Mailer(host: 'localhost', options: ['proxy' => $url]),
                    };
                    $this->fail("$how accepted $url");
                } catch (InvalidInputException $e) {
                    $this->assertStringContainsString('proxy', $e->getMessage(), $url);
                    $this->assertStringNotContainsString('Px-s3cret-1', $e->getMessage() . $e->getTraceAsString());
                }
            }
        }
        // Off, three ways.
        foreach (['off', '', false] as $off) {
            (new Mailer(host: 'localhost', proxy: $off))->close();
            (new Pool(host: 'localhost', proxy: $off))->close();
        }
        $this->expectException(InvalidInputException::class);
        new Mailer(host: 'localhost', proxy: ['socks5://127.0.0.1']);
    }
}
