<?php

declare(strict_types=1);

namespace Smtp\Tests;

use PHPUnit\Framework\TestCase;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Happy Eyeballs (RFC 8305) from PHP. Runs for real only inside
 * tests/netns/dual-stack.sh, where dual.test resolves to ::1 first, then
 * 127.0.0.1 (tests/test-all.sh runs it there); skipped elsewhere. The
 * script server answers on 127.0.0.1:P and [::1]:P is a black hole (a
 * listener with a full accept queue: further SYNs are dropped), so the
 * Mailer must connect over IPv4 in a fraction of its 6 s connect timeout.
 */
final class HappyEyeballsTest extends TestCase
{
    private const CONNECT_TIMEOUT = 6;

    public function testIpv4AnswersWhileIpv6DropsPackets(): void
    {
        if (getenv('SMTP_DUAL_STACK_NS') !== '1') {
            $this->markTestSkipped('not in the dual-stack namespace (run under tests/netns/dual-stack.sh, as root)');
        }
        // The namespace's hosts file; its IPv6 entry comes first (the C and
        // Rust tests check the order, PHP has no getaddrinfo).
        $this->assertContains('127.0.0.1', gethostbynamel('dual.test') ?: [], 'dual.test has its IPv4 address');

        $server = new ScriptedServer('one-message');
        $context = stream_context_create(['socket' => ['backlog' => 0, 'ipv6_v6only' => true]]);
        $hole = stream_socket_server("tcp://[::1]:{$server->port}", $errno, $errstr, STREAM_SERVER_BIND | STREAM_SERVER_LISTEN, $context);
        $this->assertNotFalse($hole, "black hole on [::1]:{$server->port}: $errstr");
        // One connection fills the accept queue; it is never accepted.
        $filler = stream_socket_client("tcp://[::1]:{$server->port}", $errno, $errstr, 2);
        $this->assertNotFalse($filler, $errstr);

        $mailer = new Mailer(
            host: 'dual.test',
            port: $server->port,
            security: 'none',
            clientName: 'client.test',
            timeout: self::CONNECT_TIMEOUT,
        );
        $started = hrtime(true);
        $info = $mailer->connect();
        $took = (hrtime(true) - $started) / 1e9;
        fwrite(STDERR, sprintf("happy eyeballs (PHP): connected to dual.test over IPv4 in %d ms\n", (int) ($took * 1000)));
        $this->assertLessThan(self::CONNECT_TIMEOUT / 3, $took);
        $this->assertSame("dual.test:{$server->port}", $info->server);
        $result = $mailer->send(new Message(
            from: 'sender@example.test',
            to: 'rcpt@example.test',
            subject: 'happy eyeballs',
            text: "over IPv4\n",
        ));
        $this->assertSame(250, $result->code);
        $mailer->quit();
        fclose($filler);
        fclose($hole);
        $server->stop();
    }
}
