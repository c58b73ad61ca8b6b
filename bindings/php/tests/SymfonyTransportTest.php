<?php

/*
 * Concern: the Symfony Mailer transport (Smtp\Symfony) checked with the real
 * Symfony Mailer (Debian's php-symfony-mailer) against the test bed's
 * Postfix, each delivered message read back by an independent MIME parser
 * (Python's email package, tests/fixtures/mime-dump.py). Bad input is in
 * SymfonyBadInputTest.
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


final class SymfonyTransportTest extends SymfonyTestCase
{
    public function testTextMessageFromADsnWithTheServersQueueIdAndTranscript(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('sf-text');
        $transport = $this->transport('plain');
        $this->assertInstanceOf(SmtpSubmitTransport::class, $transport);
        $this->assertSame(sprintf('smtp-submit://%s:%d', $bed->host(), $bed->port('plain')), (string) $transport);

        $email = (new Email())
            ->from(new Address($bed->address('sf-from'), 'Symfony Sender'))
            ->to($bed->address('sf-to'))
            ->subject("Text $marker")
            ->text("Hello from Symfony Mailer.\n$marker\n");
        // Through Symfony's own Mailer class, as applications send.
        (new SymfonyMailer($transport))->send($email);
        $sent = $transport->send((clone $email)->subject("Text again $marker"));

        $this->assertInstanceOf(SentMessage::class, $sent);
        $queueId = $sent->getMessageId();
        $this->assertMatchesRegularExpression('/^[0-9A-Za-z]+$/', $queueId, 'the message id is Postfix\'s queue id');
        $debug = $sent->getDebug();
        $this->assertStringContainsString('queued as ' . $queueId, $debug);
        $this->assertStringContainsString('> MAIL FROM:<' . $bed->address('sf-from') . '>', $debug);
        $this->assertStringNotContainsString('* connected', $debug, 'the second message reused the session');
        $this->assertNoSecret($debug);

        $messages = $bed->waitForMessages($marker, 2);
        $again = array_values(array_filter($messages, static fn (string $m): bool => str_contains($m, 'Text again')));
        $this->assertCount(1, $again);
        $this->assertStringContainsString(" id $queueId", $again[0], 'Postfix\'s Received line names the same queue id');
        $mime = $this->parse($again[0]);
        $this->assertSame(["Text again $marker"], self::values($mime, 'Subject'));
        $this->assertSame(['Symfony Sender <' . $bed->address('sf-from') . '>'], self::values($mime, 'From'));
        $this->assertSame([$bed->address('sf-to')], self::values($mime, 'To'));
        $this->assertSame('text/plain', $mime['content_type']);
        $this->assertSame([], $mime['defects']);
        $this->assertSame("Hello from Symfony Mailer.\n$marker\n", str_replace("\r\n", "\n", $this->part($mime, type: 'text/plain')['text']));
    }

    public function testHtmlWithATextAlternativeOverStartTls(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('sf-html');
        $transport = $this->transport('submission');
        $sent = $transport->send((new Email())
            ->from($bed->address('sf-from'))
            ->to($bed->address('sf-to'))
            ->subject("HTML $marker")
            ->text("Plain version $marker\n")
            ->html("<html><body><h1>HTML version</h1><p>$marker</p></body></html>"));
        $this->assertStringContainsString('> STARTTLS', $sent->getDebug());
        $this->assertNoSecret($sent->getDebug());

        $mime = $this->parse($bed->waitForMessage($marker));
        $this->assertSame('multipart/alternative', $mime['content_type']);
        $this->assertCount(2, $mime['parts']);
        $this->assertStringContainsString("Plain version $marker", $this->part($mime, type: 'text/plain')['text']);
        $this->assertStringContainsString("<h1>HTML version</h1><p>$marker</p>", $this->part($mime, type: 'text/html')['text']);
        $this->assertSame([], $mime['defects']);
    }

    public function testAttachmentsFromFileAndMemoryAndAnInlineImageOverImplicitTls(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('sf-attach');
        // Every byte value, NUL, CR, LF and an SMTP end-of-data line.
        $fileBytes = implode('', array_map('chr', range(0, 255))) . "\r\n.\r\n" . random_bytes(5000);
        $memoryBytes = "\0\x01\x02\xff\xfe\r\n.\r\nBINARY " . random_bytes(3000);
        $file = $this->tempFile($fileBytes);
        // Two CA files (the same one twice): ca_file given as a list.
        $ca = rawurlencode($bed->caFile());
        $transport = self::transports()->fromString(sprintf(
            'smtp-submits://%s:%s@%s:%d?ca_file[]=%s&ca_file[]=%s&timeout=20',
            rawurlencode($bed->user()),
            rawurlencode($bed->password()),
            $bed->host(),
            $bed->port('smtps'),
            $ca,
            $ca,
        ));
        $this->assertSame(sprintf('smtp-submits://%s:%d', $bed->host(), $bed->port('smtps')), (string) $transport);
        $transport->send((new Email())
            ->from($bed->address('sf-from'))
            ->to($bed->address('sf-to'))
            ->subject("Attachments $marker")
            ->text("See the attachments. $marker\n")
            ->html('<p>Logo: <img src="cid:logo.png" alt="logo"></p>')
            ->attachFromPath($file, 'report.bin', 'application/octet-stream')
            ->attach($memoryBytes, 'memory data.dat', 'application/x-custom')
            ->embed(self::PNG, 'logo.png', 'image/png'));

        $mime = $this->parse($bed->waitForMessage($marker));
        $this->assertSame('multipart/mixed', $mime['content_type']);
        $this->assertSame([], $mime['defects']);
        $report = $this->part($mime, 'report.bin');
        $this->assertSame('application/octet-stream', $report['type']);
        $this->assertSame('attachment', $report['disposition']);
        $this->assertSame($fileBytes, base64_decode($report['base64'], true));
        $memory = $this->part($mime, 'memory data.dat');
        $this->assertSame('application/x-custom', $memory['type']);
        $this->assertSame($memoryBytes, base64_decode($memory['base64'], true));
        $logo = $this->part($mime, 'logo.png');
        $this->assertSame('image/png', $logo['type']);
        $this->assertSame('inline', $logo['disposition']);
        $this->assertSame(self::PNG, base64_decode($logo['base64'], true));
        $this->assertMatchesRegularExpression('/^<[^<>\s]+>$/', (string) $logo['content_id']);
        $cid = trim((string) $logo['content_id'], '<>');
        $html = $this->part($mime, type: 'text/html')['text'];
        $this->assertStringContainsString('src="cid:' . $cid . '"', $html, 'the HTML refers to the inline part');
        $this->assertStringContainsString($marker, $this->part($mime, type: 'text/plain')['text']);
    }

    public function testCcBccCustomHeadersAndAChineseSubject(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('sf-cc');
        $subject = "测试邮件：中文主题，附带一个很长的标题以便折行 $marker";
        $to = $bed->address('sf-to');
        $cc = $bed->address('sf-cc');
        $bcc = $bed->address('sf-bcc');
        $email = (new Email())
            ->from(new Address($bed->address('sf-from'), '发件人'))
            ->to(new Address($to, '收件人'))
            ->cc($cc)
            ->bcc($bcc)
            ->replyTo($bed->address('sf-reply'))
            ->subject($subject)
            ->text("正文：你好，世界。\n$marker\n");
        $email->getHeaders()->addTextHeader('X-Campaign', 'spring-2026');
        $email->getHeaders()->addTextHeader('X-Note', 'ünïcödé 值');
        $sent = $this->transport('plain')->send($email);
        $this->assertSame([$to, $cc, $bcc], array_map(static fn (Address $a): string => $a->getAddress(),
            $sent->getEnvelope()->getRecipients()));

        $messages = $bed->waitForMessages($marker, 3);
        $deliveredTo = [];
        foreach ($messages as $message) {
            $mime = $this->parse($message);
            $this->assertSame([], self::values($mime, 'Bcc'), 'no Bcc header');
            $this->assertStringNotContainsString('sf-bcc', explode("\n\n", str_replace("\r\n", "\n", $message), 2)[1] ?? '');
            $this->assertSame([$subject], self::values($mime, 'Subject'));
            $this->assertSame(["收件人 <$to>"], self::values($mime, 'To'));
            $this->assertSame([$cc], self::values($mime, 'Cc'));
            $this->assertSame(['发件人 <' . $bed->address('sf-from') . '>'], self::values($mime, 'From'));
            $this->assertSame(['spring-2026'], self::values($mime, 'X-Campaign'));
            $this->assertSame(['ünïcödé 值'], self::values($mime, 'X-Note'));
            $this->assertSame([$bed->address('sf-reply')], self::values($mime, 'Reply-To'));
            $this->assertStringContainsString('正文：你好，世界。', $this->part($mime, type: 'text/plain')['text']);
            $deliveredTo[] = self::values($mime, 'Delivered-To')[0];
            // Header lines are ASCII: the subject went as encoded words.
            $head = explode("\n\n", str_replace("\r\n", "\n", $message), 2)[0];
            $this->assertDoesNotMatchRegularExpression('/[\x80-\xff]/', $head);
        }
        sort($deliveredTo);
        $expected = [$to, $cc, $bcc];
        sort($expected);
        $this->assertSame($expected, $deliveredTo, 'To, Cc and Bcc each got the message');
    }

    public function testAnExplicitEnvelopeDecidesSenderAndRecipients(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('sf-envelope');
        $email = (new Email())
            ->from($bed->address('sf-from'))
            ->to($bed->address('sf-header-only'))
            ->subject("Envelope $marker")
            ->text("x $marker\n");
        $envelope = new Envelope(new Address($bed->address('sf-bounces')),
            [new Address($bed->address('sf-env1')), new Address($bed->address('sf-env2'))]);
        $this->transport('plain')->send($email, $envelope);

        $delivered = [];
        foreach ($bed->waitForMessages($marker, 2) as $message) {
            $mime = $this->parse($message);
            $delivered[] = self::values($mime, 'Delivered-To')[0];
            $this->assertSame(['<' . $bed->address('sf-bounces') . '>'], self::values($mime, 'Return-Path'));
            $this->assertSame([$bed->address('sf-header-only')], self::values($mime, 'To'));
        }
        sort($delivered);
        $this->assertSame([$bed->address('sf-env1'), $bed->address('sf-env2')], $delivered);
        $this->assertTrue($bed->noMessageWith("Delivered-To: " . $bed->address('sf-header-only'), 0.5));
    }

    public function testThreeMessagesGoOverOneConnection(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('sf-three');
        $transport = $this->transport('plain');
        $this->assertInstanceOf(SmtpSubmitTransport::class, $transport);
        $from = $bed->address('sf-from');
        $sent = [];
        $sent[] = $transport->send((new Email())->from($from)->to($bed->address('sf-1'))->subject("One $marker")->text('1'));
        $sent[] = $transport->send((new Email())->from($from)->to($bed->address('sf-2'))->subject("Two $marker")->text('2'));
        // A RawMessage needs an explicit envelope; it goes out unchanged.
        $raw = "From: $from\r\nTo: " . $bed->address('sf-3') . "\r\nSubject: Three $marker\r\nX-Raw: yes\r\n\r\n3\r\n";
        $sent[] = $transport->send(new RawMessage($raw), new Envelope(new Address($from), [new Address($bed->address('sf-3'))]));
        $this->assertTrue($transport->getMailer()->isConnected());
        $transport->stop();
        $this->assertFalse($transport->getMailer()->isConnected());

        $this->assertStringContainsString('* connected to', $sent[0]->getDebug());
        $this->assertStringNotContainsString('* connected to', $sent[1]->getDebug());
        $this->assertStringNotContainsString('* connected to', $sent[2]->getDebug());
        $this->assertStringNotContainsString('EHLO', $sent[1]->getDebug() . $sent[2]->getDebug());
        $ids = array_map(static fn (SentMessage $s): string => $s->getMessageId(), $sent);
        $this->assertCount(3, array_unique($ids));
        $this->assertCount(3, $bed->waitForMessages($marker, 3));
        $this->assertSame('yes', self::header($bed->waitForMessage("Three $marker"), 'X-Raw'));

        // Postfix's log: the three queue ids come from one smtpd process,
        // whose one session carried three MAIL commands.
        $log = $bed->var('LOG');
        $pids = [];
        $session = null;
        $deadline = microtime(true) + 10;
        do {
            $text = (string) file_get_contents($log);
            $after = 0;
            foreach ($ids as $id) {
                if (preg_match('/smtpd\[(\d+)\]: ' . preg_quote($id, '/') . ': client=/', $text, $m, PREG_OFFSET_CAPTURE) === 1) {
                    $pids[$id] = $m[1][0];
                    $after = max($after, $m[0][1]);
                }
            }
            if (count($pids) === 3 && count(array_unique($pids)) === 1) {
                // smtpd processes serve many sessions: the disconnect after ours.
                $pid = reset($pids);
                if (preg_match('/smtpd\[' . $pid . '\]: disconnect from [^\n]* mail=(\d+)/', $text, $m, 0, $after) === 1) {
                    $session = (int) $m[1];
                    break;
                }
            }
            usleep(100_000);
        } while (microtime(true) < $deadline);
        $this->assertCount(3, $pids, 'each queue id is in the Postfix log');
        $this->assertCount(1, array_unique($pids), 'one smtpd process took all three');
        $this->assertSame(3, $session, 'one session with three MAIL commands');
    }

    public function testTheProxyOptionPassesThroughTheDsn(): void
    {
        $bed = $this->bed();
        if (!$bed->hasProxies()) {
            if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
                $this->fail('SMTP_TESTBED_REQUIRED=1 but the test bed started no proxies (tests/testbed/install.sh)');
            }
            $this->markTestSkipped('the test bed started no proxies');
        }
        $proxyPassword = $bed->var('SOCKS5_PASSWORD');
        $proxy = sprintf('socks5h://%s:%s@%s:%d', rawurlencode($bed->var('SOCKS5_USER')), rawurlencode($proxyPassword),
            $bed->host(), (int) $bed->var('SOCKS5_PORT'));
        $marker = TestBed::marker('sf-proxy');
        // STARTTLS through the SOCKS5 proxy, the proxy URL percent-encoded as one DSN option.
        $sent = $this->transport('submission', 'proxy=' . rawurlencode($proxy))->send((new Email())
            ->from($bed->address('sf-from'))->to($bed->address('sf-to'))->subject("Proxy $marker")->text('x'));
        $this->assertMatchesRegularExpression('/connected to .*through .*' . preg_quote((string) $bed->var('SOCKS5_PORT'), '/') . '/i', $sent->getDebug());
        $this->assertStringNotContainsString($proxyPassword, $sent->getDebug());
        $this->assertNoSecret($sent->getDebug());
        $bed->waitForMessage("Proxy $marker");
    }

    public function testAWrongPasswordIsATransportExceptionWithoutThePassword(): void
    {
        $bed = $this->bed();
        $password = 'Wrong-S3cret pw!';
        $transport = self::transports()->fromString($this->dsn('plain', '', $password));
        try {
            $transport->send((new Email())->from($bed->address('sf-from'))->to($bed->address('sf-to'))->subject('x')->text('x'));
            $this->fail('expected a TransportException');
        } catch (TransportExceptionInterface $e) {
            $this->assertInstanceOf(TransportException::class, $e);
            $this->assertInstanceOf(AuthenticationException::class, $e->getPrevious());
            $this->assertSame(535, $e->getCode());
            $this->assertStringContainsString('Failed to authenticate', $e->getMessage());
            $this->assertStringContainsString('535', $e->getMessage(), 'the server\'s reply is in the message');
            $this->assertStringContainsString('AUTH', $e->getDebug());
            $everything = $e->getMessage() . "\n" . $e . "\n" . $e->getDebug() . "\n" . print_r($transport, true)
                . "\n" . var_export($transport, true);
            $this->assertNoSecret($everything, $password);
            $this->assertStringNotContainsString('S3cret', $everything);
        }
        // The right password on a fresh transport works (the bed is not locked out).
        $marker = TestBed::marker('sf-after-wrong');
        $this->transport('plain')->send((new Email())->from($bed->address('sf-from'))->to($bed->address('sf-to'))
            ->subject($marker)->text('x'));
        $bed->waitForMessage($marker);
    }

    public function testAnUnreachableHostIsATransportExceptionAndFailoverMovesOn(): void
    {
        $bed = $this->bed();
        $port = self::closedPort();
        $closed = "smtp-submit://127.0.0.1:$port?security=none&connect_timeout=5";
        $transport = self::transports()->fromString($closed);
        $email = (new Email())->from($bed->address('sf-from'))->to($bed->address('sf-to'))->subject('x')->text('x');
        try {
            $transport->send($email);
            $this->fail('expected a TransportException');
        } catch (TransportExceptionInterface $e) {
            $this->assertInstanceOf(ConnectionException::class, $e->getPrevious());
            $this->assertStringContainsString("Connection could not be established with SMTP server smtp-submit://127.0.0.1:$port", $e->getMessage());
        }

        // Symfony's failover() moves on to the next transport on our exception.
        $marker = TestBed::marker('sf-failover');
        $failover = self::transports()->fromString("failover($closed " . $this->dsn('plain') . ')');
        $failover->send((clone $email)->subject($marker));
        $bed->waitForMessage($marker);
    }

    public function testRefusedRecipientsFailTheMessageUnlessDeliverToAcceptedIsAsked(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('sf-refused');
        $transport = $this->transport('plain');
        $email = (new Email())->from($bed->address('sf-from'))
            ->to($bed->address('sf-ok'), $bed->address('reject-sf'))->subject("Refused $marker")->text('x');
        try {
            $transport->send($email);
            $this->fail('expected a TransportException');
        } catch (TransportExceptionInterface $e) {
            $this->assertInstanceOf(RecipientsRefusedException::class, $e->getPrevious());
            $this->assertSame(550, $e->getCode());
            $this->assertStringContainsString($bed->address('reject-sf') . ' (550 5.1.1', $e->getMessage());
            $this->assertStringContainsString('nothing was sent', $e->getMessage());
            $this->assertStringNotContainsString('sf-ok', $e->getMessage());
        }
        $this->assertTrue($bed->noMessageWith("Refused $marker", 1.0), 'all or nothing: nothing was delivered');
        // The session is still usable.
        $transport->send((new Email())->from($bed->address('sf-from'))->to($bed->address('sf-ok'))
            ->subject("After $marker")->text('x'));
        $bed->waitForMessage("After $marker");

        $partial = $this->transport('plain', 'recipient_policy=deliver_to_accepted');
        $sent = $partial->send((clone $email)->subject("Partial $marker"));
        $this->assertStringContainsString('refused recipients', $sent->getDebug());
        $this->assertStringContainsString($bed->address('reject-sf') . ': 550 5.1.1', $sent->getDebug());
        $this->assertSame($bed->address('sf-ok'), self::header($bed->waitForMessage("Partial $marker"), 'Delivered-To'));
    }

    public function testTheFactoryRefusesWhatItCannotUseWithoutLeakingThePassword(): void
    {
        $factory = new SmtpSubmitTransportFactory();
        $this->assertTrue($factory->supports(Dsn::fromString('smtp-submit://h')));
        $this->assertTrue($factory->supports(Dsn::fromString('smtp-submits://h')));
        $this->assertFalse($factory->supports(Dsn::fromString('smtp://h')));
        $this->assertSame('smtp-submit://mail.example.test:587', (string) $factory->create(Dsn::fromString('smtp-submit://mail.example.test')));
        $this->assertSame('smtp-submit://[::1]:2525', (string) $factory->create(Dsn::fromString('smtp-submit://[::1]:2525')));
        $this->assertSame('smtp-submits://mail.example.test:465', (string) $factory->create(Dsn::fromString('smtp-submits://u:p@mail.example.test')));

        $secret = 'Fact0ry-S3cret';
        $cases = [
            'scheme' => ['smtp://u:' . $secret . '@h', UnsupportedSchemeException::class],
            'unknown option' => ["smtp-submit://u:$secret@h?bogus_option=1", InvalidArgumentException::class, 'bogus_option'],
            'bad value' => ["smtp-submit://u:$secret@h?timeout=soon", InvalidArgumentException::class, 'timeout'],
            'option twice' => ["smtp-submit://u:$secret@h?timeout[]=1&timeout[]=2", InvalidArgumentException::class, 'timeout'],
            'implicit and starttls' => ["smtp-submits://u:$secret@h?security=starttls", InvalidArgumentException::class, 'security=starttls'],
            'max_per_second' => ["smtp-submit://u:$secret@h?max_per_second=fast", InvalidArgumentException::class, 'max_per_second'],
            'ping_threshold' => ["smtp-submit://u:$secret@h?ping_threshold=-1", InvalidArgumentException::class, 'ping_threshold'],
            'user without password' => ['smtp-submit://user@h', IncompleteDsnException::class],
            'password without user' => ["smtp-submit://:$secret@h", IncompleteDsnException::class],
            'CRLF in the EHLO name' => ["smtp-submit://u:$secret@h?client_name=a%0D%0AMAIL", InvalidArgumentException::class, 'client_name'],
            'NUL in the password' => ['smtp-submit://u:Fact0ry-S3cret%00x@h', InvalidArgumentException::class],
        ];
        foreach ($cases as $case => $expected) {
            [$dsn, $class] = $expected;
            $named = $expected[2] ?? null;
            try {
                $factory->create(Dsn::fromString($dsn));
                $this->fail("$case: no exception");
            } catch (MailerException $e) {
                $this->assertInstanceOf($class, $e, "$case: " . $e->getMessage());
                if ($named !== null) {
                    $this->assertStringContainsString($named, $e->getMessage(), $case);
                }
                $this->assertStringNotContainsString('S3cret', $e->getMessage() . "\n" . $e, "$case: the password leaked");
            }
        }
        // Symfony options: accepted and applied.
        $transport = $factory->create(Dsn::fromString('smtp-submit://h?max_per_second=2.5&ping_threshold=0&local_domain=client.test'));
        $this->assertInstanceOf(SmtpSubmitTransport::class, $transport);
        // Not copyable, not serializable (it owns a connection).
        foreach ([static fn () => clone $transport, static fn () => serialize($transport)] as $attempt) {
            try {
                $attempt();
                $this->fail('copied');
            } catch (MailerException $e) {
                $this->assertStringContainsString('cannot be', $e->getMessage());
            }
        }
    }

    public function testLocalDomainPingThresholdAndLibraryOptionsReachTheWire(): void
    {
        $server = ScriptedServer::capture();
        $transport = self::transports()->fromString(
            "smtp-submit://127.0.0.1:{$server->port}?security=none&local_domain=client.test&chunking=off&timeout=5&ping_threshold=0"
        );
        $email = (new Email())->from('sender@example.test')->to('rcpt@example.test')->subject('s')->text("x\n");
        $transport->send($email);
        // ping_threshold=0: the idle session is checked before the next message.
        $transport->send($email);
        $transport->stop();
        $report = $server->finish();
        $this->assertSame([], Wire::errors($report));
        $this->assertCount(1, $report['connections']);
        $transaction = ['MAIL FROM:<sender@example.test>', 'RCPT TO:<rcpt@example.test>', 'DATA'];
        $this->assertSame(['EHLO client.test', ...$transaction, 'NOOP', ...$transaction, 'QUIT'],
            Wire::lines($report['connections'][0]));
    }
}
