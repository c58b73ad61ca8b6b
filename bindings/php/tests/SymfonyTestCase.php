<?php

/*
 * Concern: what the Symfony transport tests share: Debian's Symfony Mailer
 * loaded (or the tests skipped), DSNs and transports for the test bed,
 * the independent MIME parser (tests/fixtures/mime-dump.py) and temporary
 * files.
 */

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\AuthenticationException;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Symfony\SmtpSubmitTransport;
use Smtp\Symfony\SmtpSubmitTransportFactory;
use Symfony\Component\Mailer\Envelope;
use Symfony\Component\Mailer\Exception\ExceptionInterface as MailerException;
use Symfony\Component\Mailer\Exception\IncompleteDsnException;
use Symfony\Component\Mailer\Exception\InvalidArgumentException;
use Symfony\Component\Mailer\Exception\TransportException;
use Symfony\Component\Mailer\Exception\TransportExceptionInterface;
use Symfony\Component\Mailer\Exception\UnsupportedSchemeException;
use Symfony\Component\Mailer\Mailer as SymfonyMailer;
use Symfony\Component\Mailer\SentMessage;
use Symfony\Component\Mailer\Transport;
use Symfony\Component\Mailer\Transport\Dsn;
use Symfony\Component\Mailer\Transport\TransportInterface;
use Symfony\Component\Mime\Address;
use Symfony\Component\Mime\Email;
use Symfony\Component\Mime\Exception\ExceptionInterface as MimeException;
use Symfony\Component\Mime\RawMessage;


abstract class SymfonyTestCase extends SmtpTestCase
{
    /** Where Debian's php-symfony-mailer puts its autoloader (composer users have theirs loaded). */
    protected const DEBIAN_AUTOLOAD = '/usr/share/php/Symfony/Component/Mailer/autoload.php';

    /** A tiny valid PNG (1x1, transparent). */
    protected const PNG = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89"
        . "\0\0\0\rIDATx\x9cc\xf8\xff\xff?\0\x05\xfe\x02\xfe\xa7\x35\x81\x84\0\0\0\0IEND\xaeB`\x82";

    /** @var list<string> temporary files to remove */
    protected array $files = [];

    protected function setUp(): void
    {
        if (!interface_exists(TransportInterface::class)) {
            $vendor = dirname(__DIR__) . '/vendor/autoload.php';
            foreach ([$vendor, self::DEBIAN_AUTOLOAD] as $autoload) {
                if (is_file($autoload)) {
                    require_once $autoload;
                    break;
                }
            }
        }
        if (!interface_exists(TransportInterface::class)) {
            $why = 'Symfony Mailer is not installed (apt-get install php-symfony-mailer, or composer require symfony/mailer)';
            if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                $this->fail("SMTP_TESTBED_REQUIRED=1 but $why");
            }
            $this->markTestSkipped($why);
        }
    }

    protected function tearDown(): void
    {
        foreach ($this->files as $file) {
            @unlink($file);
        }
    }

    /** Symfony's Transport with our factory first, then Symfony's own. */
    protected static function transports(): Transport
    {
        return new Transport([new SmtpSubmitTransportFactory(), ...Transport::getDefaultFactories()]);
    }

    /**
     * A DSN for one of the bed's ports: "plain" (AUTH over loopback
     * plaintext), "submission" (STARTTLS), "smtps" (implicit TLS).
     */
    protected function dsn(string $port = 'plain', string $query = '', ?string $password = null): string
    {
        $bed = $this->bed();
        $userinfo = rawurlencode($bed->user()) . ':' . rawurlencode($password ?? $bed->password()) . '@';
        $ca = 'ca_file=' . rawurlencode($bed->caFile());
        [$scheme, $options] = match ($port) {
            'plain' => ['smtp-submit', 'security=none'],
            'submission' => ['smtp-submit', $ca],
            'smtps' => ['smtp-submits', $ca],
            default => throw new \InvalidArgumentException($port),
        };
        return sprintf('%s://%s%s:%d?%s&timeout=20%s', $scheme, $userinfo, $bed->host(), $bed->port($port), $options,
            $query === '' ? '' : "&$query");
    }

    protected function transport(string $port = 'plain', string $query = ''): TransportInterface
    {
        return self::transports()->fromString($this->dsn($port, $query));
    }

    /**
     * Python's reading of a delivered message: headers (decoded) and leaf parts.
     *
     * @return array{headers: list<array{string, string}>, content_type: string, defects: list<string>,
     *               parts: list<array<string, mixed>>}
     */
    protected function parse(string $message): array
    {
        $file = tempnam(sys_get_temp_dir(), 'sf-mime');
        $this->files[] = $file;
        file_put_contents($file, $message);
        $script = __DIR__ . '/fixtures/mime-dump.py';
        $out = shell_exec('python3 ' . escapeshellarg($script) . ' ' . escapeshellarg($file) . ' 2>&1');
        $this->assertIsString($out, 'python3 ran');
        $this->assertStringStartsWith('{', $out, "mime-dump.py: $out");
        return json_decode($out, true, 64, JSON_THROW_ON_ERROR);
    }

    /**
     * The decoded values of header $name in a parse() result.
     *
     * @param array{headers: list<array{string, string}>} $mime
     * @return list<string>
     */
    protected static function values(array $mime, string $name): array
    {
        $out = [];
        foreach ($mime['headers'] as [$n, $v]) {
            if (strcasecmp($n, $name) === 0) {
                $out[] = $v;
            }
        }
        return $out;
    }

    /**
     * The one part of a parse() result with this file name, or this type.
     *
     * @param array{parts: list<array<string, mixed>>} $mime
     * @return array<string, mixed>
     */
    protected function part(array $mime, ?string $filename = null, ?string $type = null): array
    {
        $found = array_values(array_filter($mime['parts'], static fn (array $p): bool =>
            ($filename === null || $p['filename'] === $filename) && ($type === null || $p['type'] === $type)));
        $this->assertCount(1, $found, 'parts named ' . ($filename ?? $type) . ': ' . json_encode($mime['parts']));
        return $found[0];
    }

    protected function tempFile(string $content): string
    {
        $file = tempnam(sys_get_temp_dir(), 'sf-attach');
        $this->files[] = $file;
        file_put_contents($file, $content);
        return $file;
    }

    /** A loopback port nothing listens on (bound, then closed). */
    protected static function closedPort(): int
    {
        $server = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
        if ($server === false) {
            throw new \RuntimeException("cannot bind a loopback port: $errstr");
        }
        $name = (string) stream_socket_get_name($server, false);
        fclose($server);
        return (int) substr($name, strrpos($name, ':') + 1);
    }
}
