<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\AttachmentReadException;
use Smtp\Exception\AuthenticationException;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\DeliveryUnknownException;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\LibraryException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Exception\RejectedException;
use Smtp\Exception\SmtpException;
use Smtp\Exception\TimeoutException;
use Smtp\Exception\TlsException;
use Smtp\Exception\UnsupportedException;
use Smtp\Ffi\Library;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Each exception class, caused for real: by the test bed, by a scripted
 * server for what Postfix will not do, or by the environment.
 */
final class ExceptionsTest extends SmtpTestCase
{
    /** A loopback port nobody listens on. */
    private static function closedPort(): int
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($server, false);
        fclose($server);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    public function testEveryClassExtendsTheBase(): void
    {
        foreach ([ConnectionException::class, TimeoutException::class, DeliveryUnknownException::class,
            TlsException::class, AuthenticationException::class, RecipientsRefusedException::class,
            RejectedException::class, InvalidInputException::class, UnsupportedException::class,
            AttachmentReadException::class, LibraryException::class] as $class) {
            $this->assertTrue(is_subclass_of($class, SmtpException::class), $class);
        }
        $this->assertTrue(is_subclass_of(TimeoutException::class, ConnectionException::class));
        $this->assertTrue(is_subclass_of(SmtpException::class, \RuntimeException::class));
    }

    public function testConnectionRefused(): void
    {
        $mailer = new Mailer(host: '127.0.0.1', port: self::closedPort(), security: 'none', connectTimeout: 5);
        try {
            $mailer->connect();
            $this->fail('expected ConnectionException');
        } catch (ConnectionException $e) {
            $this->assertNotInstanceOf(TimeoutException::class, $e);
            $this->assertSame(1, $e->getResultCode());
            $this->assertSame('SMTP_ERR_CONNECT', $e->getResultName());
            $this->assertSame(0, $e->getSmtpCode());
            $this->assertStringContainsString('127.0.0.1', $e->getMessage());
        }
        $this->assertFalse($mailer->isConnected());
    }

    public function testTimeoutWhenTheServerNeverGreets(): void
    {
        $server = new ScriptedServer('silent');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 0.5);
        $start = microtime(true);
        try {
            $mailer->connect();
            $this->fail('expected TimeoutException');
        } catch (TimeoutException $e) {
            $this->assertSame('SMTP_ERR_TIMEOUT', $e->getResultName());
        }
        $this->assertLessThan(5, microtime(true) - $start);
    }

    public function testProtocolErrorIsAConnectionException(): void
    {
        $server = new ScriptedServer('garbage');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 5);
        $this->expectException(ConnectionException::class);
        $mailer->connect();
    }

    public function testTlsCertificateFromAnUnknownCa(): void
    {
        $bed = $this->bed();
        // The bed's certificate is signed by its own CA, which is not given here.
        $mailer = new Mailer(host: 'localhost', port: $bed->port('submission'), security: 'starttls',
            user: $bed->user(), password: $bed->password(), timeout: 10);
        try {
            $mailer->connect();
            $this->fail('expected TlsException');
        } catch (TlsException $e) {
            $this->assertSame(3, $e->getResultCode());
            $this->assertNoSecret($e->getMessage());
        }
    }

    public function testStartTlsRequiredButNotOffered(): void
    {
        $bed = $this->bed();
        $mailer = new Mailer(host: $bed->host(), port: $bed->port('noauth'), security: 'starttls',
            caFile: $bed->caFile(), timeout: 10);
        $this->expectException(TlsException::class);
        $mailer->connect();
    }

    public function testWrongPasswordGivesCodesAndServerTextButNoSecret(): void
    {
        $bed = $this->bed();
        $wrong = 'wr0ng-Secret-#' . random_int(1000, 9999);
        $mailer = $this->mailer('plain', ['password' => $wrong, 'mechanism' => 'PLAIN']);
        try {
            $mailer->connect();
            $this->fail('expected AuthenticationException');
        } catch (AuthenticationException $e) {
            $this->assertSame(535, $e->getSmtpCode());
            $this->assertSame('5.7.8', $e->getEnhancedCode());
            $this->assertStringContainsString('authentication failed', $e->getServerText());
            $this->assertStringStartsWith('535 5.7.8 ', $e->getServerReply());
            $this->assertSame('SMTP_ERR_AUTH', $e->getResultName());
            // The trace's arguments are checked, bounded, by SecretsTest: a
            // print_r of them reaches PHPUnit's own state through the test
            // case object, which can be hundreds of MB after a failure.
            $everything = $e->getMessage() . $e->getTraceAsString() . (string) $e;
            $this->assertNoSecret($everything, $wrong);
        }
    }

    public function testCredentialsForAServerWithoutAuth(): void
    {
        $bed = $this->bed();
        $mailer = new Mailer(host: $bed->host(), port: $bed->port('noauth'), security: 'none',
            user: $bed->user(), password: $bed->password(), timeout: 10);
        try {
            $mailer->connect();
            $this->fail('expected AuthenticationException');
        } catch (AuthenticationException $e) {
            $this->assertSame('SMTP_ERR_NO_COMPATIBLE_AUTH', $e->getResultName());
        }
    }

    public function testEveryRecipientRefused(): void
    {
        $bed = $this->bed();
        try {
            $this->mailer('plain')->send(new Message(
                from: $bed->address('s'),
                to: [$bed->address('reject-a'), $bed->address('tempfail-b')],
                subject: 's',
                text: 't',
            ));
            $this->fail('expected RecipientsRefusedException');
        } catch (RecipientsRefusedException $e) {
            $codes = array_map(static fn ($r) => $r->code, $e->getRecipients());
            $this->assertSame([550, 450], $codes);
            $this->assertSame('SMTP_ERR_RECIPIENTS_REFUSED', $e->getResultName());
        }
    }

    public function testSenderRejected(): void
    {
        $server = new ScriptedServer('reject-mail');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 5);
        try {
            $mailer->send(new Message(from: 'me@example.test', to: 'you@example.test', subject: 's', text: 't'));
            $this->fail('expected RejectedException');
        } catch (RejectedException $e) {
            $this->assertSame(553, $e->getSmtpCode());
            $this->assertSame('5.7.1', $e->getEnhancedCode());
            $this->assertStringContainsString('Sender address rejected', $e->getServerText());
        }
    }

    public function testSmtpUtf8NeededButNotOffered(): void
    {
        $server = new ScriptedServer('no-smtputf8');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 5);
        $this->expectException(UnsupportedException::class);
        $mailer->send(new Message(from: 'josé@example.test', to: 'zoë@example.test', subject: 's', text: 't'));
    }

    public function testConnectionLostAfterTheMessageWentOut(): void
    {
        $server = new ScriptedServer('drop-after-data');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 5);
        try {
            $mailer->send(new Message(from: 'me@example.test', to: 'you@example.test', subject: 's', text: 't'));
            $this->fail('expected DeliveryUnknownException');
        } catch (DeliveryUnknownException $e) {
            $this->assertInstanceOf(ConnectionException::class, $e);
            $this->assertSame('SMTP_ERR_DELIVERY_UNKNOWN', $e->getResultName());
        }
    }

    public function testAttachmentRemovedBeforeSending(): void
    {
        $bed = $this->bed();
        $file = tempnam(sys_get_temp_dir(), 'smtp-php-attach');
        file_put_contents($file, 'soon gone');
        $message = new Message(from: $bed->address('s'), to: $bed->address('r'), subject: 's', text: 't');
        $message->attachFile($file, 'gone.txt');
        unlink($file);
        $this->expectException(AttachmentReadException::class);
        $this->mailer('plain')->send($message);
    }

    public function testInvalidInputFromTheLibraryAndFromPhp(): void
    {
        try {
            new Message(from: 'not an address');
            $this->fail('expected InvalidInputException');
        } catch (InvalidInputException $e) {
            $this->assertSame('SMTP_ERR_INVALID_INPUT', $e->getResultName());
        }
        try {
            new Message(subject: "two\r\nlines");
            $this->fail('expected InvalidInputException');
        } catch (InvalidInputException $e) {
            $this->assertSame(0, $e->getResultCode(), 'found in PHP, before the library');
        }
    }

    public function testLibraryThatIsNotLibsmtp(): void
    {
        $libc = 'libc.so.6';
        try {
            Library::load($libc);
            $this->fail('expected LibraryException');
        } catch (LibraryException $e) {
            $this->assertStringContainsString('does not match', $e->getMessage());
            $this->assertStringContainsString(Library::headerVersion(), $e->getMessage());
        }
    }

    public function testLibraryFileMissing(): void
    {
        $this->expectException(LibraryException::class);
        $this->expectExceptionMessage('SMTP_LIBRARY');
        Library::load('/nonexistent/libsmtp.so.0');
    }
}
