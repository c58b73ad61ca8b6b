<?php

/*
 * Concern: Smtp\Compat\PHPMailer's own rules, with the scripted capture
 * server where a connection is needed: unsupported features fail loudly,
 * host lists and SMTPOptions map onto libsmtp, debug output reaches every
 * kind of Debugoutput with credentials hidden, the password never shows.
 */

declare(strict_types=1);

namespace Smtp\Tests\Compat;

use Smtp\Compat\Exception;
use Smtp\Compat\HostList;
use Smtp\Compat\PHPMailer;
use Smtp\Compat\SMTP;
use Smtp\Compat\TlsOptions;
use Smtp\Tests\ScriptedServer;
use Smtp\Tests\SmtpTestCase;
use Smtp\Tests\Wire;

final class PHPMailerFacadeTest extends SmtpTestCase
{
    private const SECRET = 'pa55-Secret-word';

    /** A mailer for the capture server on $port, ready to send. */
    private static function ready(int $port, bool $exceptions = false): PHPMailer
    {
        $mail = new PHPMailer($exceptions);
        $mail->isSMTP();
        $mail->Host = '127.0.0.1';
        $mail->Port = $port;
        $mail->SMTPAutoTLS = false;
        $mail->Timeout = 5;
        $mail->setFrom('from@example.test');
        $mail->addAddress('to@example.test');
        $mail->Subject = 'subject';
        $mail->Body = 'body';
        return $mail;
    }

    /** @return iterable<string, array{\Closure(PHPMailer): mixed, string}> */
    public static function unsupported(): iterable
    {
        yield 'isSendmail' => [static fn (PHPMailer $m) => $m->isSendmail(), 'sendmail mailer is not supported'];
        yield 'isQmail' => [static fn (PHPMailer $m) => $m->isQmail(), 'qmail mailer is not supported'];
        yield 'isMail' => [static fn (PHPMailer $m) => $m->isMail(), 'mail mailer is not supported'];
        yield 'Mailer = mail' => [static fn (PHPMailer $m) => $m->Mailer = 'mail', 'mail mailer is not supported'];
        yield 'DKIM_domain' => [static fn (PHPMailer $m) => $m->DKIM_domain = 'example.test', 'DKIM signing is not supported'];
        yield 'DKIM_private_string' => [static fn (PHPMailer $m) => $m->DKIM_private_string = 'key', 'DKIM signing'];
        yield 'Ical' => [static fn (PHPMailer $m) => $m->Ical = 'BEGIN:VCALENDAR', 'Ical is set'];
        yield 'WordWrap' => [static fn (PHPMailer $m) => $m->WordWrap = 50, 'WordWrap is set'];
        yield 'SingleTo' => [static fn (PHPMailer $m) => $m->SingleTo = true, 'SingleTo is set'];
        yield 'do_verp' => [static fn (PHPMailer $m) => $m->do_verp = true, 'do_verp is set'];
        yield 'MessageDate' => [static fn (PHPMailer $m) => $m->MessageDate = 'Mon, 1 Jan 2024 00:00:00 +0000', 'MessageDate'];
        yield 'action_function' => [static fn (PHPMailer $m) => $m->action_function = 'strlen', 'action_function'];
        yield 'XOAUTH2' => [static function (PHPMailer $m) {
            $m->SMTPAuth = true;
            $m->AuthType = 'XOAUTH2';
        }, 'XOAUTH2'];
        yield 'SMTPOptions capath' => [static fn (PHPMailer $m) => $m->SMTPOptions = ['ssl' => ['capath' => '/etc/ssl/certs']], "['capath']"];
        yield 'SMTPOptions socket' => [static fn (PHPMailer $m) => $m->SMTPOptions = ['socket' => ['bindto' => '0:0']], "['socket']"];
        yield 'SMTPSecure starttls' => [static fn (PHPMailer $m) => $m->SMTPSecure = 'starttls', 'SMTPSecure must be'];
        yield 'ContentType calendar' => [static fn (PHPMailer $m) => $m->ContentType = 'text/calendar', 'ContentType text/calendar'];
        yield 'Encoding' => [static fn (PHPMailer $m) => $m->Encoding = 'uuencode', 'Unknown encoding: uuencode'];
        yield 'POP-before-SMTP host' => [static fn (PHPMailer $m) => $m->Host = 'pop3://127.0.0.1', 'No valid host'];
        // libsmtp takes these as the message's own fields: a custom To or
        // Bcc would become a recipient (PHPMailer writes them verbatim).
        foreach (['To', 'cc', 'BCC', 'From', 'Sender', 'Subject', 'Message-ID'] as $field) {
            yield "custom $field header" => [static fn (PHPMailer $m) => $m->addCustomHeader($field, 'list@example.test'),
                "Custom header $field is not supported"];
        }
    }

    /** @dataProvider unsupported */
    public function testUnsupportedFeaturesFailLoudlyAndSendNothing(\Closure $apply, string $reason): void
    {
        $server = ScriptedServer::capture();
        foreach ([false, true] as $exceptions) {
            $mail = self::ready($server->port, $exceptions);
            try {
                $apply($mail);
                $this->assertFalse($mail->send());
                $this->assertFalse($exceptions, 'exceptions mode must throw');
            } catch (Exception $e) {
                $this->assertTrue($exceptions, 'no exception without exceptions mode: ' . $e->getMessage());
                $this->assertStringContainsString($reason, $e->getMessage());
            }
            $this->assertStringContainsString($reason, $mail->ErrorInfo);
            $this->assertTrue($mail->isError());
        }
        $report = $server->finish();
        $this->assertSame([], array_merge(...array_map(static fn ($c) => $c['bodies'], $report['connections'])),
            'nothing was sent');
    }

    public function testOtherPHPMailerMethodsThrowNamingThemselves(): void
    {
        $mail = new PHPMailer();
        foreach (['msgHTML', 'sign', 'getSMTPInstance', 'smtpConnect', 'DKIM_Sign'] as $method) {
            try {
                $mail->{$method}('x');
                $this->fail("$method() did not throw");
            } catch (Exception $e) {
                $this->assertStringContainsString("PHPMailer::$method() is not supported", $e->getMessage());
            }
        }
        // Static helpers too: an Exception, not a fatal error.
        foreach (['rfcDate', 'normalizeBreaks', 'filenameToType'] as $method) {
            try {
                PHPMailer::{$method}('x');
                $this->fail("static $method() did not throw");
            } catch (Exception $e) {
                $this->assertStringContainsString("PHPMailer::$method() is not supported", $e->getMessage());
            }
        }
        try {
            $mail->getSentMIMEMessage();
            $this->fail('getSentMIMEMessage() did not throw');
        } catch (Exception $e) {
            $this->assertStringContainsString('getSentMIMEMessage() is not supported', $e->getMessage());
        }
    }

    public function testPreSendThenPostSendAndTheMessageId(): void
    {
        $server = ScriptedServer::capture();
        $mail = self::ready($server->port);
        $mail->MessageID = '<chosen.1@example.test>';
        $this->assertTrue($mail->preSend(), $mail->ErrorInfo);
        $this->assertSame('<chosen.1@example.test>', $mail->getLastMessageID());
        $this->assertTrue($mail->postSend(), $mail->ErrorInfo);
        $mail->MessageID = '';
        $this->assertTrue($mail->send(), $mail->ErrorInfo);
        $generated = $mail->getLastMessageID();
        $this->assertMatchesRegularExpression('/^<[0-9a-f]{32}@example\.test>$/', $generated);
        $report = $server->finish();
        $contents = [];
        foreach ($report['connections'] as $connection) {
            foreach ($connection['bodies'] as $body) {
                $contents[] = (string) Wire::content($body)[0];
            }
        }
        $this->assertCount(2, $contents);
        $this->assertSame('<chosen.1@example.test>', self::header($contents[0], 'Message-ID'));
        $this->assertSame($generated, self::header($contents[1], 'Message-ID'));
        $this->assertStringStartsWith('Smtp\Compat\PHPMailer (libsmtp ', (string) self::header($contents[0], 'X-Mailer'));
    }

    public function testHostListsBecomeRelayListsByTlsMode(): void
    {
        $hosts = HostList::parse('tls://smtp1.example.com:587;smtp2.example.com; ssl://smtp3.example.com;[::1]:2525;bad host;pop3://x',
            25, '', true, false);
        $this->assertSame([
            ['starttls', 'smtp1.example.com:587'],
            ['opportunistic', 'smtp2.example.com:25'],
            ['implicit', 'smtp3.example.com:25'],
            ['opportunistic', '[::1]:2525'],
        ], $hosts->groups);
        $this->assertSame(['bad host', 'pop3://x'], $hosts->invalid);
        // With SMTPAuth, "when offered" is "required" except for this machine.
        $hosts = HostList::parse('a.example.com;b.example.com:2525;localhost;127.0.0.1:26', 587, '', true, true);
        $this->assertSame([['starttls', 'a.example.com:587,b.example.com:2525'],
            ['opportunistic-local', 'localhost:587,127.0.0.1:26']], $hosts->groups);
        $this->assertSame([['implicit', 'a.example.com:465']], HostList::parse('a.example.com', 465, 'ssl', true, true)->groups);
        $this->assertSame([['none', 'a.example.com:25']], HostList::parse('a.example.com', 25, false, false, false)->groups);
    }

    public function testSmtpOptionsMapOntoTheLibrarysNames(): void
    {
        $this->assertSame(['caFile' => '/ca.pem'], TlsOptions::map(['ssl' => ['cafile' => '/ca.pem', 'verify_peer' => true]]));
        $this->assertSame(['dangerousAcceptInvalidCerts' => true], TlsOptions::map(['ssl' => ['verify_peer' => false,
            'verify_peer_name' => false, 'allow_self_signed' => true]]));
        $this->assertSame(['dangerousAcceptInvalidCerts' => true], TlsOptions::map(['ssl' => ['verify_peer_name' => false]]));
        $this->assertSame(['options' => ['tls_server_name' => 'mx.example.test']], TlsOptions::map(['ssl' => ['peer_name' => 'mx.example.test']]));
        $this->expectException(Exception::class);
        $this->expectExceptionMessage("['peer_fingerprint']");
        TlsOptions::map(['ssl' => ['peer_fingerprint' => 'abc']]);
    }

    public function testVerificationOffReachesTheServerWithItsUntrustedCertificate(): void
    {
        $bed = $this->bed();
        $marker = \Smtp\Tests\TestBed::marker('pm-noverify');
        foreach ([[], ['ssl' => ['verify_peer' => false, 'verify_peer_name' => false]]] as $options) {
            $mail = new PHPMailer();
            $mail->isSMTP();
            $mail->Host = $bed->host();
            $mail->Port = $bed->port('submission');
            $mail->SMTPSecure = PHPMailer::ENCRYPTION_STARTTLS;
            $mail->SMTPAuth = true;
            $mail->Username = $bed->user();
            $mail->Password = $bed->password();
            $mail->SMTPOptions = $options;
            $mail->Timeout = 10;
            $mail->setFrom($bed->address('s'));
            $mail->addAddress($bed->address('r'));
            $mail->Subject = $marker;
            $mail->Body = 'x';
            if ($options === []) {
                $this->assertFalse($mail->send(), 'the bed\'s CA is not trusted without cafile');
                $this->assertStringContainsString('Could not connect to SMTP host', $mail->ErrorInfo);
            } else {
                $this->assertTrue($mail->send(), $mail->ErrorInfo);
            }
        }
        $bed->waitForMessage($marker);
    }

    /** @return iterable<string, array{mixed}> */
    public static function debugTargets(): iterable
    {
        yield 'callable' => ['callable'];
        yield 'logger object' => ['logger'];
        yield 'echo' => ['echo'];
        yield 'html' => ['html'];
        yield 'error_log' => ['error_log'];
    }

    /** @dataProvider debugTargets */
    public function testDebugOutputGoesToEveryTargetWithCredentialsHidden(string $target): void
    {
        $server = ScriptedServer::capture(['ehlo' => 'AUTH PLAIN LOGIN', 'auth' => 'ok']);
        $mail = self::ready($server->port);
        $mail->SMTPAuth = true;
        $mail->Username = 'user@example.test';
        $mail->Password = self::SECRET;
        $mail->AuthType = 'PLAIN';
        $mail->SMTPDebug = SMTP::DEBUG_SERVER;
        $lines = [];
        $log = null;
        $logger = new class () {
            /** @var list<string> */
            public array $lines = [];

            public function debug(string $message, array $context = []): void
            {
                $this->lines[] = $message;
            }
        };
        $mail->Debugoutput = match ($target) {
            'callable' => static function (string $line, int $level) use (&$lines): void {
                $lines[] = "$level $line";
            },
            'logger' => $logger,
            default => $target,
        };
        if ($target === 'error_log') {
            $log = tempnam(sys_get_temp_dir(), 'pm-log');
            $previous = ini_set('error_log', $log);
        }
        ob_start();
        try {
            $sent = $mail->send();
        } finally {
            $output = (string) ob_get_clean();
            if ($target === 'error_log') {
                ini_set('error_log', (string) $previous);
            }
        }
        $this->assertTrue($sent, $mail->ErrorInfo);
        $text = match ($target) {
            'callable' => implode("\n", $lines),
            'logger' => implode("\n", $logger->lines),
            'error_log' => (string) file_get_contents($log),
            default => $output,
        };
        if ($log !== null) {
            unlink($log);
        }
        $this->assertStringContainsString('CLIENT -> SERVER: MAIL FROM:<from@example.test>', html_entity_decode($text));
        $this->assertStringContainsString('SERVER -> CLIENT: 250', html_entity_decode($text));
        $this->assertStringContainsString('[credentials hidden]', $text);
        $this->assertNoSecret($text, self::SECRET, 'user@example.test');
        if ($target === 'html') {
            $this->assertStringContainsString("<br>\n", $text);
            $this->assertStringContainsString('&lt;from@example.test&gt;', $text);
        }
        if ($target === 'echo') {
            $this->assertMatchesRegularExpression('/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\tCLIENT -> SERVER: /m', $text);
        }
        if ($target === 'callable') {
            $this->assertStringStartsWith('2 ', $lines[0]);
        }
        $server->finish();
    }

    public function testThePasswordNeverShows(): void
    {
        $mail = new PHPMailer(true);
        $mail->Password = self::SECRET;
        $this->assertStringNotContainsString(self::SECRET, print_r($mail, true));
        ob_start();
        var_dump($mail);
        $dump = (string) ob_get_clean();
        $this->assertStringNotContainsString(self::SECRET, $dump);
        $this->assertStringContainsString('[credentials hidden]', $dump);
        // A refused password: not in ErrorInfo, the exception or its trace.
        $server = ScriptedServer::capture(['ehlo' => 'AUTH PLAIN LOGIN', 'auth' => 'fail']);
        $mail = self::ready($server->port, true);
        $mail->SMTPAuth = true;
        $mail->Username = 'user@example.test';
        $mail->Password = self::SECRET;
        try {
            $mail->send();
            $this->fail('a refused password must throw');
        } catch (Exception $e) {
            $this->assertStringContainsString('SMTP Error: Could not authenticate.', $e->getMessage());
            $this->assertNoSecret($e->getMessage() . $e->getTraceAsString() . $mail->ErrorInfo
                . ($e->getPrevious()?->getTraceAsString() ?? ''), self::SECRET, 'user@example.test');
        }
        $server->finish();
    }

    public function testAddressRulesAndReturnValuesAreThoseOfPHPMailer(): void
    {
        $mail = new PHPMailer();
        $this->assertTrue($mail->addAddress('A@example.test', 'A'));
        $this->assertFalse($mail->addCC('a@EXAMPLE.test'), 'already a recipient');
        $this->assertSame('', $mail->ErrorInfo, 'a duplicate is not an error');
        $this->assertFalse($mail->addAddress('no-at-sign'));
        $this->assertSame('Invalid address:  (to): no-at-sign', $mail->ErrorInfo);
        $this->assertTrue($mail->addReplyTo('a@example.test'), 'Reply-To is a list of its own');
        $this->assertTrue($mail->addBCC('b@example.test'));
        $this->assertCount(2, $mail->getAllRecipientAddresses());
        $mail->clearAddresses();
        $this->assertSame([], $mail->getToAddresses());
        $this->assertTrue($mail->addCC('a@example.test'), 'cleared addresses can come back');
        $mail->clearAllRecipients();
        $this->assertSame([], $mail->getAllRecipientAddresses());
        $this->assertTrue(PHPMailer::validateAddress('user@example.test'));
        $this->assertFalse(PHPMailer::validateAddress("user@example.test\r\n"));
        $this->assertTrue(PHPMailer::validateAddress('user@example', 'html5'));
        $this->assertFalse(PHPMailer::validateAddress('user@example'));
        $this->assertTrue(PHPMailer::validateAddress('anything', static fn () => true));
        $this->assertSame('"Doe, Jane" <j@example.test>', $mail->addrFormat(['j@example.test', 'Doe, Jane']));
        $this->assertSame('Jane Doe <j@example.test>', $mail->addrFormat(['j@example.test', 'Jane Doe']));
        $this->assertTrue($mail->set('Subject', 'x'));
        $this->assertFalse($mail->set('NoSuchProperty', 'x'));
        $this->assertSame(0, SMTP::DEBUG_OFF);
        $this->assertSame(4, PHPMailer::DEBUG_LOWLEVEL);
    }
}
