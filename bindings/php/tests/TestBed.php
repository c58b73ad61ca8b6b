<?php

declare(strict_types=1);

namespace Smtp\Tests;

use PHPUnit\Framework\TestCase;

/**
 * The real-server test bed (Postfix + Dovecot on loopback) described by the
 * env file named in SMTP_TESTBED_ENV (written by tests/testbed/start.sh).
 *
 * Without SMTP_TESTBED_ENV the tests that need it are skipped, unless
 * SMTP_TESTBED_REQUIRED=1, when they fail. Delivered mail is found the way
 * the Rust tests find it (tests/src/testbed.rs): a unique marker in the
 * message, and a bounded poll of the Maildir.
 */
final class TestBed
{
    private static ?self $bed = null;

    /** @var array<string, true> Maildir files already read that hold no marker of this process */
    private array $seen = [];

    /** @var array<string, string> Maildir files holding markers of this process, by name */
    private array $ours = [];

    /** @param array<string, string> $vars */
    private function __construct(private readonly array $vars)
    {
    }

    /**
     * The test bed, or a skipped test (a failed one when SMTP_TESTBED_REQUIRED=1).
     */
    public static function require(TestCase $test): self
    {
        $bed = self::get();
        if ($bed === null) {
            if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                TestCase::fail('SMTP_TESTBED_REQUIRED=1 but SMTP_TESTBED_ENV is not set: start the test bed '
                    . '(tests/testbed/start.sh DIR) and run SMTP_TESTBED_ENV=DIR/testbed.env bindings/php/run-tests.sh');
            }
            TestCase::markTestSkipped('no test bed (SMTP_TESTBED_ENV is not set)');
        }
        return $bed;
    }

    /** The test bed, null when SMTP_TESTBED_ENV is not set. */
    public static function get(): ?self
    {
        if (self::$bed === null) {
            $path = getenv('SMTP_TESTBED_ENV');
            if (!is_string($path) || $path === '') {
                return null;
            }
            $text = @file_get_contents($path);
            if ($text === false) {
                throw new \RuntimeException("SMTP_TESTBED_ENV=$path: cannot read the test bed env file");
            }
            self::$bed = new self(self::parseEnv($text));
        }
        return self::$bed;
    }

    /**
     * KEY=VALUE lines with the shell quoting start.sh writes ('...' or "...").
     *
     * @return array<string, string>
     */
    public static function parseEnv(string $text): array
    {
        $vars = [];
        foreach (preg_split('/\r?\n/', $text) ?: [] as $line) {
            $line = trim($line);
            if ($line === '' || $line[0] === '#') {
                continue;
            }
            if (preg_match('/^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/', $line, $m) !== 1) {
                continue;
            }
            $value = $m[2];
            if (preg_match("/^'(.*)'$/", $value, $q) === 1) {
                $value = str_replace("'\\''", "'", $q[1]);
            } elseif (preg_match('/^"(.*)"$/', $value, $q) === 1) {
                $value = stripcslashes($q[1]);
            }
            $vars[$m[1]] = $value;
        }
        return $vars;
    }

    /** A variable of the env file without its SMTP_TESTBED_ prefix, e.g. "PORT_PLAIN". */
    public function var(string $name): string
    {
        $value = $this->vars['SMTP_TESTBED_' . $name] ?? '';
        if ($value === '') {
            throw new \RuntimeException("SMTP_TESTBED_$name is missing from the test bed env file");
        }
        return $value;
    }

    /** The address every IPv4 listener is bound to (127.0.0.1). */
    public function host(): string
    {
        return $this->var('HOST');
    }

    /** A listener's port: "plain", "submission", "smtps", "noauth", "strict", "discard". */
    public function port(string $which): int
    {
        return (int) $this->var('PORT_' . strtoupper($which));
    }

    /** The first SASL user. */
    public function user(): string
    {
        return $this->var('USER');
    }

    /** The first SASL user's password (a blank and punctuation on purpose). */
    public function password(): string
    {
        return $this->var('PASSWORD');
    }

    /**
     * Whether start.sh started the proxies (dante SOCKS5 with and without
     * user/password, tinyproxy for HTTP CONNECT): their variables
     * (SOCKS5_PORT, SOCKS5_USER, SOCKS5_PASSWORD, SOCKS5_NOAUTH_PORT,
     * HTTP_PROXY_PORT, HTTP_PROXY_USER, HTTP_PROXY_PASSWORD) are empty
     * otherwise.
     */
    public function hasProxies(): bool
    {
        return ($this->vars['SMTP_TESTBED_SOCKS5_PORT'] ?? '') !== '';
    }

    /** The PEM file of the throw-away CA that signed the server certificate. */
    public function caFile(): string
    {
        return $this->var('CA_FILE');
    }

    /** The delivering test domain (example.test). */
    public function domain(): string
    {
        return $this->var('DOMAIN');
    }

    /** An address in the delivering test domain. */
    public function address(string $local): string
    {
        return $local . '@' . $this->domain();
    }

    /** A fresh marker ("prefix-pid-counter-time") to find a message again. */
    public static function marker(string $prefix): string
    {
        static $counter = 0;
        $counter++;
        return sprintf('%s-%d-%d-%s', $prefix, getmypid(), $counter, str_replace('.', '', (string) hrtime(true)));
    }

    /**
     * Waits (at most $timeout seconds, polling every 50 ms) until $count
     * delivered messages contain $marker; returns their contents.
     *
     * @return list<string>
     */
    public function waitForMessages(string $marker, int $count = 1, float $timeout = 10.0): array
    {
        $maildir = $this->var('MAILDIR');
        $deadline = microtime(true) + $timeout;
        $found = [];
        // Markers carry the pid: files without ours are skipped for good,
        // files with it are kept, so no file is read twice.
        $ownTag = '-' . getmypid() . '-';
        do {
            foreach (['new', 'cur'] as $sub) {
                $files = @scandir("$maildir/$sub");
                foreach ($files === false ? [] : $files as $name) {
                    $key = "$sub/$name";
                    if ($name[0] === '.' || isset($this->seen[$key]) || isset($this->ours[$key])) {
                        continue;
                    }
                    $content = @file_get_contents("$maildir/$key");
                    if ($content === false) {
                        continue;
                    }
                    if (str_contains($content, $ownTag)) {
                        $this->ours[$key] = $content;
                    } else {
                        $this->seen[$key] = true;
                    }
                }
            }
            $found = array_filter($this->ours, static fn (string $c): bool => str_contains($c, $marker));
            if (count($found) >= $count) {
                ksort($found);
                return array_values($found);
            }
            usleep(50_000);
        } while (microtime(true) < $deadline);
        throw new \RuntimeException(sprintf(
            "%d of %d messages with marker %s delivered within %.1f s; Postfix log tail:\n%s",
            count($found),
            $count,
            $marker,
            $timeout,
            $this->logTail(),
        ));
    }

    /** The one delivered message containing $marker. */
    public function waitForMessage(string $marker, float $timeout = 10.0): string
    {
        return $this->waitForMessages($marker, 1, $timeout)[0];
    }

    /** True if no message containing $marker arrives within $wait seconds. */
    public function noMessageWith(string $marker, float $wait = 1.0): bool
    {
        try {
            $this->waitForMessages($marker, 1, $wait);
            return false;
        } catch (\RuntimeException) {
            return true;
        }
    }

    /** The last lines of Postfix's log, for timeout messages. */
    private function logTail(): string
    {
        $lines = @file($this->var('LOG')) ?: [];
        return implode('', array_slice($lines, -30));
    }
}
