<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\AuthenticationException;
use Smtp\Exception\InvalidInputException;
use Smtp\Internal\TokenRouter;
use Smtp\Mailer;
use Smtp\Message;
use Smtp\Pool;
use Smtp\TranscriptDirection;

/**
 * OAuth 2.0 token callables against the scripted server: a Mailer whose
 * first token is refused asks its callable again and connects once more
 * (the message sent once); a token endpoint's decoded answer works as it
 * is; a callable that throws or returns something else fails the connect
 * with an AuthenticationException whose previous exception says why,
 * with nothing sent; a Pool's sessions share one token; no token in the
 * transcript or the exceptions; providers are forgotten when their owner
 * goes.
 */
final class OAuthTest extends SmtpTestCase
{
    private const USER = 'alice@example.test';

    /** "line AUTH XOAUTH2 <base64>" for $token. */
    private static function authLine(string $token): string
    {
        return 'line AUTH XOAUTH2 ' . base64_encode('user=' . self::USER . "\x01auth=Bearer $token\x01\x01") . "\n";
    }

    private static function message(): Message
    {
        return new Message(from: 'sender@example.test', to: 'rcpt@example.test', subject: 'oauth', text: "Hi.\n");
    }

    public function testARefusedTokenIsReplacedOnce(): void
    {
        $server = new ScriptedServer('token-refresh');
        $calls = 0;
        $lines = [];
        $mailer = new Mailer(
            host: '127.0.0.1',
            port: $server->port,
            security: 'none',
            clientName: 'client.test',
            timeout: 5,
            user: self::USER,
            token: function () use (&$calls): array {
                $calls++;
                return ['access_token' => "ya29.php-$calls-SECRET", 'expires_in' => 3599, 'token_type' => 'Bearer'];
            },
            transcript: function (TranscriptDirection $direction, string $line) use (&$lines): void {
                $lines[] = $line;
            },
        );
        $result = $mailer->send(self::message());
        $this->assertSame(250, $result->code);
        $this->assertSame(2, $calls);
        $this->assertSame('XOAUTH2', $mailer->serverInfo()->authenticatedWith);
        $mailer->quit();
        $out = $server->output();
        $this->assertSame(2, substr_count($out, "connected 1\n"), $out);
        $this->assertStringContainsString(self::authLine('ya29.php-1-SECRET'), $out);
        $second = strpos($out, self::authLine('ya29.php-2-SECRET'));
        $this->assertNotFalse($second, $out);
        $this->assertSame(1, substr_count($out, 'line MAIL FROM'), $out);
        $this->assertGreaterThan($second, strpos($out, 'line MAIL FROM'));
        $this->assertStringNotContainsString("\nerror ", $out);
        $transcript = implode("\n", $lines);
        $this->assertStringContainsString('refused the OAuth 2.0 access token', $transcript);
        $this->assertStringNotContainsString('SECRET', $transcript);
        $mailer->close();
    }

    public function testCallablesThatFailSendNothing(): void
    {
        $server = new ScriptedServer('xoauth2-ok');
        $cases = [
            'throws' => [fn () => throw new \RuntimeException('token endpoint offline'), \RuntimeException::class, 'offline'],
            'wrong type' => [fn () => 42, InvalidInputException::class, 'must return a string'],
            'no access_token' => [fn () => ['token' => 'ya29.x-SECRET'], InvalidInputException::class, 'access_token'],
            'bad expires_in' => [fn () => ['access_token' => 'ya29.x-SECRET', 'expires_in' => 'soon'], InvalidInputException::class, 'expires_in'],
            'NUL byte' => [fn () => "ya29.x\0-SECRET", InvalidInputException::class, 'NUL'],
        ];
        foreach ($cases as $name => [$callable, $class, $why]) {
            $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none',
                clientName: 'client.test', timeout: 5, user: self::USER, token: $callable);
            try {
                $mailer->connect();
                $this->fail("$name: connected");
            } catch (AuthenticationException $e) {
                $previous = $e->getPrevious();
                $this->assertInstanceOf($class, $previous, $name);
                $this->assertStringContainsString($why, $previous->getMessage(), $name);
                $this->assertStringNotContainsString('SECRET', (string) $e, $name);
            }
            $this->assertFalse($mailer->isConnected());
            $mailer->close();
        }
        // An unusable token (a line break) is refused by the library.
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none',
            clientName: 'client.test', timeout: 5, user: self::USER,
            token: fn () => "ya29.x-SECRET\r\nMAIL FROM:<evil@example.test>");
        try {
            $mailer->connect();
            $this->fail('an unusable token was sent');
        } catch (AuthenticationException $e) {
            $this->assertStringContainsString('line break', $e->getMessage());
            $this->assertStringNotContainsString('SECRET', $e->getMessage());
        }
        $mailer->close();
        // The server served one connection: the good one, after all those.
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none',
            clientName: 'client.test', timeout: 5, user: self::USER, token: fn () => 'ya29.good-SECRET');
        $mailer->connect();
        $mailer->quit();
        $mailer->close();
        $out = $server->output();
        $this->assertSame(1, substr_count($out, "connected 1\n"), $out);
        $this->assertSame(1, substr_count($out, 'line AUTH'), $out);
        $this->assertStringContainsString(self::authLine('ya29.good-SECRET'), $out);
    }

    public function testAPoolSharesOneToken(): void
    {
        $server = new ScriptedServer('token-twice');
        $calls = 0;
        $before = TokenRouter::count();
        $pool = new Pool(host: '127.0.0.1', port: $server->port, security: 'none', clientName: 'client.test',
            timeout: 5, user: self::USER, maxMessagesPerConnection: 1,
            token: function () use (&$calls): array {
                $calls++;
                return ['access_token' => 'ya29.pool-SECRET', 'expires_in' => 3599];
            });
        $this->assertSame($before + 1, TokenRouter::count());
        for ($i = 0; $i < 2; $i++) {
            $this->assertSame(250, $pool->send(self::message())->code);
        }
        $pool->close();
        unset($pool);
        $this->assertSame($before, TokenRouter::count(), 'the provider is forgotten with its pool');
        $this->assertSame(1, $calls);
        $out = $server->output();
        $this->assertSame(2, substr_count($out, self::authLine('ya29.pool-SECRET')), $out);
        $this->assertSame(2, substr_count($out, 'body ok'), $out);
    }

    public function testAStringIsAlwaysAFixedTokenAndProvidersAreForgotten(): void
    {
        $before = TokenRouter::count();
        // 'strlen' names a function, but a string is a token.
        $mailer = new Mailer(host: 'localhost', user: self::USER, token: 'strlen');
        $this->assertSame($before, TokenRouter::count());
        $mailer->close();
        $mailer = new Mailer(host: 'localhost', user: self::USER, token: fn () => 'x');
        $this->assertSame($before + 1, TokenRouter::count());
        unset($mailer);
        $this->assertSame($before, TokenRouter::count());
        $this->expectException(InvalidInputException::class);
        new Mailer(host: 'localhost', user: self::USER, password: 'pw', token: fn () => 'x');
    }
}
