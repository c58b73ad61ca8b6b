<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Mailer's `options` argument: any library option by its URL name
 * through smtp_client_set_option(). Every name and alias accepted (with
 * strings, numbers and bools), unknown names and bad values refused by the
 * library naming the option, wrong PHP types refused before it, options
 * winning over the other arguments, and a real send with PIPELINING and
 * CHUNKING switched off by name.
 */
final class OptionsTest extends SmtpTestCase
{
    /**
     * Every option and alias of the library's table with a value it takes
     * (no server or file is touched: nothing connects).
     *
     * @return iterable<string, array{string, mixed}>
     */
    public static function goodOptions(): iterable
    {
        yield 'url' => ['url', 'smtp://mail.example.test:2525?pipelining=off'];
        yield 'host' => ['host', 'mail.example.test'];
        yield 'port as int' => ['port', 2525];
        yield 'port as string' => ['port', '2525'];
        yield 'security' => ['security', 'starttls'];
        yield 'tls (alias of security)' => ['tls', 'implicit'];
        yield 'user' => ['user', 'someone'];
        yield 'password' => ['password', 'a secret'];
        yield 'token as bool' => ['token', false];
        yield 'token_refresh_margin as int' => ['token_refresh_margin', 300];
        yield 'auth' => ['auth', 'scram-sha-256'];
        yield 'mechanism (alias of auth)' => ['mechanism', 'auto'];
        yield 'client_name' => ['client_name', 'client.example.test'];
        yield 'helo (alias of client_name)' => ['helo', '[192.0.2.1]'];
        yield 'ehlo (alias of client_name)' => ['ehlo', 'client.example.test'];
        yield 'ca_file (read at connect)' => ['ca_file', '/nonexistent/ca.pem'];
        yield 'system_roots as bool' => ['system_roots', true];
        yield 'tls_server_name' => ['tls_server_name', 'mail.example.test'];
        yield 'timeout as int' => ['timeout', 30];
        yield 'connect_timeout as float' => ['connect_timeout', 2.5];
        yield 'total_timeout as string' => ['total_timeout', '0'];
        yield 'pipelining as bool' => ['pipelining', false];
        yield 'chunking as string' => ['chunking', 'off'];
        yield 'long_lines' => ['long_lines', 'refuse'];
        yield 'recipient_policy' => ['recipient_policy', 'all_or_nothing'];
        yield 'plaintext_auth' => ['plaintext_auth', 'never'];
        yield 'dkim_domain' => ['dkim_domain', 'example.org'];
        yield 'dkim_key empty (no signing)' => ['dkim_key', ''];
        yield 'dkim_canonicalization' => ['dkim_canonicalization', 'relaxed/simple'];
        yield 'dkim_headers' => ['dkim_headers', 'From, To, Subject'];
        yield 'dkim_expire as int' => ['dkim_expire', 3600];
        yield 'dsn_notify' => ['dsn_notify', 'success,failure'];
        yield 'dsn_return' => ['dsn_return', 'hdrs'];
        yield 'dsn_if_offered as bool' => ['dsn_if_offered', true];
        yield 'requiretls as bool' => ['requiretls', false];
        yield 'require_tls (alias of requiretls)' => ['require_tls', 'no'];
        yield 'mt_priority as int' => ['mt_priority', -3];
        yield 'priority (alias of mt_priority)' => ['priority', 'off'];
        yield 'proxy off' => ['proxy', 'off'];
        yield 'proxy socks5' => ['proxy', 'socks5://user:pass@127.0.0.1:1080'];
        yield 'proxy socks5l' => ['proxy', 'socks5l://[::1]:9050'];
        yield 'proxy http' => ['proxy', 'http://us%40er:p%3Ass@proxy.example.test:3128'];
    }

    /** @dataProvider goodOptions */
    public function testEveryOptionAndAliasIsAccepted(string $name, mixed $value): void
    {
        $mailer = new Mailer(host: 'localhost', options: [$name => $value]);
        $this->assertFalse($mailer->isConnected());
        $mailer->close();
    }

    /** The table above names every option the library lists (its unknown-option message). */
    public function testTheTableCoversEveryOptionTheLibraryLists(): void
    {
        try {
            new Mailer(host: 'localhost', options: ['no_such_option' => 1]);
            $this->fail('an unknown option was accepted');
        } catch (InvalidInputException $e) {
            $this->assertSame(1, preg_match('/the options are (.*)$/', $e->getMessage(), $m), $e->getMessage());
            $listed = explode(', ', $m[1]);
            $here = array_map(static fn (array $row): string => $row[0], iterator_to_array(self::goodOptions()));
            $this->assertSame([], array_values(array_diff($listed, $here)), 'options this test lacks');
            $this->assertGreaterThanOrEqual(20, count($listed));
        }
    }

    public function testAMisspeltNameIsTheLibrarysInvalidInputNamingItAndTheList(): void
    {
        try {
            new Mailer(host: 'localhost', options: ['pipelinig' => false]);
            $this->fail('a misspelt option was accepted');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('"pipelinig" is not an option', $e->getMessage());
            $this->assertStringContainsString('the options are url, host, port, security,', $e->getMessage());
            $this->assertStringContainsString('pipelining', $e->getMessage());
            $this->assertSame('SMTP_ERR_INVALID_INPUT', $e->getResultName());
        }
    }

    /**
     * Bad values and what the message must name: the library's checks,
     * then the binding's own (types, NUL, CR/LF).
     *
     * @return iterable<string, array{mixed, string}>
     */
    public static function badOptions(): iterable
    {
        yield 'port 0' => [['port' => 0], 'port'];
        yield 'port 65536' => [['port' => '65536'], 'port'];
        yield 'timeout soon' => [['timeout' => 'soon'], 'timeout'];
        yield 'timeout 0' => [['timeout' => 0], 'timeout'];
        yield 'token_refresh_margin -1' => [['token_refresh_margin' => -1], 'token_refresh_margin'];
        yield 'chunking maybe' => [['chunking' => 'maybe'], 'chunking'];
        yield 'pipelining 2' => [['pipelining' => 2], 'pipelining'];
        yield 'security tls13' => [['security' => 'tls13'], 'security'];
        yield 'tls (alias) sometimes' => [['tls' => 'sometimes'], 'security'];
        yield 'auth unknown' => [['auth' => 'NOT-A-MECHANISM'], 'auth'];
        yield 'long_lines cut' => [['long_lines' => 'cut'], 'long_lines'];
        yield 'recipient_policy some' => [['recipient_policy' => 'some'], 'recipient_policy'];
        yield 'plaintext_auth always' => [['plaintext_auth' => 'always'], 'plaintext_auth'];
        yield 'dkim_domain with a space' => [['dkim_domain' => 'bad domain'], 'dkim_domain'];
        yield 'dkim_key without a selector' => [['dkim_key' => '/no/selector.pem'], 'dkim_key'];
        yield 'dkim_key missing file' => [['dkim_key' => 'sel:/nonexistent/key.pem'], 'dkim_key'];
        yield 'dkim_canonicalization loose' => [['dkim_canonicalization' => 'loose'], 'dkim_canonicalization'];
        yield 'dsn_notify never with success' => [['dsn_notify' => 'never,success'], 'dsn_notify'];
        yield 'dsn_return all' => [['dsn_return' => 'all'], 'dsn_return'];
        yield 'dsn_if_offered perhaps' => [['dsn_if_offered' => 'perhaps'], 'dsn_if_offered'];
        yield 'requiretls 2' => [['requiretls' => 2], 'requiretls'];
        yield 'mt_priority 10' => [['mt_priority' => 10], 'mt_priority'];
        yield 'dkim_expire soon' => [['dkim_expire' => 'soon'], 'dkim_expire'];
        yield 'proxy without a scheme' => [['proxy' => 'proxy.example.test:1080'], 'proxy'];
        yield 'proxy ftp' => [['proxy' => 'ftp://proxy.example.test'], 'proxy'];
        yield 'proxy port 0' => [['proxy' => 'socks5://proxy.example.test:0'], 'proxy'];
        yield 'proxy with a path' => [['proxy' => 'http://proxy.example.test/x'], 'proxy'];
        yield 'host empty' => [['host' => ' '], 'host'];
        yield 'url not smtp' => [['url' => 'http://mail.example.test'], 'URL'];
        yield 'url with a misspelt option' => [['url' => 'smtp://mail.example.test?pipelinig=off'], 'pipelinig'];
        yield 'null value' => [['timeout' => null], 'option timeout'];
        yield 'array value' => [['port' => [25]], 'option port'];
        yield 'LF in a value' => [['client_name' => "x.test\r\nRCPT TO:<a@b>"], 'option client_name'];
        yield 'NUL in a name' => [["port\0x" => 25], 'option name'];
        yield 'a list, not a map' => [['pipelining', 'off'], 'keyed by option name'];
        yield 'not an array' => ['pipelining=off', 'options must be an array'];
    }

    /** @dataProvider badOptions */
    public function testBadValuesAreRefusedNamingTheOption(mixed $options, string $named): void
    {
        try {
            new Mailer(host: 'localhost', options: $options);
            $this->fail('accepted: ' . json_encode($options));
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString($named, $e->getMessage());
            $this->assertStringNotContainsString("\n", $e->getMessage());
        }
    }

    public function testAPasswordByNameNeverAppearsInAMessage(): void
    {
        $secret = 'Opt-S3cret-' . random_int(10000, 99999);
        try {
            new Mailer(host: 'localhost', options: ['user' => 'me', 'password' => $secret, 'port' => 'x']);
            $this->fail('a bad port was accepted');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('port', $e->getMessage());
            $this->assertStringNotContainsString($secret, $e->getMessage() . $e->getTraceAsString());
        }
    }

    /** Options come after the other arguments: a port by name wins over `port:`. */
    public function testOptionsWinOverTheOtherArguments(): void
    {
        $bed = $this->bed();
        $mailer = new Mailer(host: $bed->host(), port: 1, security: 'starttls', timeout: 20,
            options: ['port' => $bed->port('noauth'), 'security' => 'none', 'helo' => 'options.example.test']);
        $this->assertStringStartsWith('220', $mailer->connect()->greeting);
        $mailer->quit();

        $mailer = Mailer::fromUrl('smtp://' . $bed->host() . ':1?security=starttls', timeout: 20,
            options: ['port' => (string) $bed->port('noauth'), 'tls' => 'none']);
        $this->assertStringStartsWith('220', $mailer->connect()->greeting);
        $mailer->quit();
    }

    /**
     * A real send with PIPELINING and CHUNKING off by name: each command
     * waits for its reply, and the body goes with DATA, not BDAT. The
     * same Mailer without the options pipelines and uses BDAT (Postfix
     * offers both), so the difference is the options'.
     */
    public function testARealSendWithPipeliningAndChunkingOffByName(): void
    {
        $bed = $this->bed();
        foreach ([true, false] as $off) {
            $marker = TestBed::marker('php-options');
            $options = $off ? ['options' => ['pipelining' => false, 'chunking' => 'off']] : [];
            $mailer = $this->transcriptMailer('plain', $options);
            $result = $mailer->send(new Message(from: $bed->address('sender'), to: $bed->address('options'),
                subject: $marker, text: "sent with options by name\n"));
            $this->assertSame(250, $result->code);
            $mailer->quit();
            $bed->waitForMessage($marker);

            $transcript = implode("\n", $this->transcript);
            // The session without info lines, each line cut to its verb or reply code.
            $shape = [];
            foreach ($this->transcript as $line) {
                if (str_starts_with($line, 'Sent ')) {
                    $shape[] = 'Sent ' . strtok(substr($line, 5), ' ');
                } elseif (str_starts_with($line, 'Received ')) {
                    $shape[] = substr($line, 0, 12);
                }
            }
            $shape = implode(' / ', $shape);
            if ($off) {
                $this->assertContains('Sent DATA', $this->transcript, $transcript);
                $this->assertSame([], preg_grep('/^Sent BDAT/', $this->transcript), $transcript);
                $this->assertStringContainsString(
                    'Sent MAIL / Received 250 / Sent RCPT / Received 250 / Sent DATA / Received 354',
                    $shape,
                    $transcript,
                );
            } else {
                $this->assertNotSame([], preg_grep('/^Sent BDAT /', $this->transcript), $transcript);
                $this->assertStringContainsString('Sent MAIL / Sent RCPT / Sent BDAT', $shape, $transcript);
            }
        }
    }
}
