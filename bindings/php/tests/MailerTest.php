<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Mailer;
use Smtp\Message;
use Smtp\RecipientPolicy;
use Smtp\Security;

/**
 * The modern API against the real Postfix + Dovecot test bed.
 */
final class MailerTest extends SmtpTestCase
{
    public function testStartTlsWithAuthenticationDeliversAndDescribesTheSession(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-starttls');
        $mailer = $this->mailer('submission');
        $info = $mailer->connect();
        $this->assertTrue($mailer->isConnected());
        $this->assertStringStartsWith('220 ', $info->greeting);
        $this->assertTrue($info->isTls());
        $this->assertContains($info->tlsVersion, ['TLSv1.2', 'TLSv1.3']);
        $this->assertNotEmpty($info->tlsCipher);
        $this->assertSame('SCRAM-SHA-256', $info->authenticatedWith);
        $this->assertContains('PLAIN', $info->authMechanisms);
        $this->assertTrue($info->hasExtension('pipelining'));
        $this->assertFalse($info->hasExtension('STARTTLS'), 'capabilities are those after TLS');
        $this->assertStringContainsString('BEGIN CERTIFICATE', (string) $info->peerCertificatePem());

        $result = $mailer->send(new Message(
            from: $bed->address('sender'),
            to: $bed->address('alice'),
            subject: "StartTLS $marker",
            text: "Body of $marker\n",
        ));
        $this->assertSame(250, $result->code);
        $this->assertSame('2.0.0', $result->enhancedCode);
        $this->assertNotNull($result->queueId());
        $this->assertStringStartsWith('250 2.0.0 ', $result->reply());
        $this->assertCount(1, $result->recipients);
        $this->assertTrue($result->allAccepted());
        $mailer->quit();
        $this->assertFalse($mailer->isConnected());

        $delivered = $bed->waitForMessage($marker);
        $this->assertSame("StartTLS $marker", self::header($delivered, 'Subject'));
        $this->assertStringContainsString("Body of $marker", $delivered);
        $this->assertNotNull(self::header($delivered, 'Message-ID'));
        $this->assertNotNull(self::header($delivered, 'Date'));
    }

    public function testImplicitTlsFromAUrlWithPercentEncodedCredentials(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-smtps');
        $url = sprintf(
            'smtps://%s:%s@localhost:%d?ca_file=%s',
            rawurlencode($bed->user()),
            rawurlencode($bed->password()),
            $bed->port('smtps'),
            rawurlencode($bed->caFile()),
        );
        $mailer = Mailer::fromUrl($url, timeout: 20);
        $result = $mailer->send(new Message(from: $bed->address('s'), to: $bed->address('bob'), subject: $marker, text: 'x'));
        $this->assertSame(250, $result->code);
        $this->assertTrue($mailer->serverInfo()->isTls());
        $this->assertNotNull($mailer->serverInfo()->authenticatedWith);
        $bed->waitForMessage($marker);
    }

    public function testConstructorTakesAUrlByName(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-url-arg');
        $mailer = new Mailer(url: "smtp://{$bed->host()}:{$bed->port('noauth')}?security=none", timeout: 20);
        $mailer->send(new Message(from: $bed->address('s'), to: $bed->address('carol'), subject: $marker, text: 'x'));
        $this->assertStringContainsString($marker, $bed->waitForMessage($marker));
    }

    public function testAUrlWithTheUserAndThePasswordApart(): void
    {
        // The password kept out of the URL (and out of logs of it), the
        // user in it: both are used; a password with no user anywhere is
        // refused when connecting.
        $bed = $this->bed();
        $url = 'smtp://' . rawurlencode($bed->user()) . '@' . $bed->host() . ':' . $bed->port('plain') . '?security=none';
        $mailer = new Mailer(url: $url, password: $bed->password(), timeout: 20);
        $this->assertNotNull($mailer->connect()->authenticatedWith);
        $mailer->quit();
        $alone = new Mailer(host: $bed->host(), port: $bed->port('plain'), security: 'none', password: $bed->password());
        try {
            $alone->connect();
            $this->fail('connected with a password and no user');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('set the user too', $e->getMessage());
            $this->assertStringNotContainsString($bed->password(), $e->getMessage());
        }
    }

    public function testEveryAuthMechanismWorksAndTheTranscriptHidesTheSecret(): void
    {
        $bed = $this->bed();
        foreach (['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256'] as $mechanism) {
            $mailer = $this->transcriptMailer('plain', ['mechanism' => $mechanism]);
            $info = $mailer->connect();
            $this->assertSame($mechanism, $info->authenticatedWith, $mechanism);
            $mailer->quit();
            $text = implode("\n", $this->transcript);
            $this->assertStringContainsString("Sent AUTH $mechanism", $text);
            $this->assertStringContainsString('[credentials hidden]', $text);
            $this->assertNoSecret($text);
        }
    }

    public function testSeveralMessagesOverOneConnection(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-many');
        $mailer = $this->transcriptMailer('plain');
        for ($i = 1; $i <= 5; $i++) {
            $result = $mailer->send(new Message(
                from: $bed->address('batch'),
                to: $bed->address("rcpt$i"),
                subject: "Batch $i $marker",
                text: "Message $i of 5\n",
            ));
            $this->assertSame(250, $result->code);
        }
        $mailer->quit();
        $connects = array_filter($this->transcript, static fn (string $l): bool => str_starts_with($l, 'Info connected to'));
        $this->assertCount(1, $connects, 'one connection for all messages');
        $authCount = count(array_filter($this->transcript, static fn (string $l): bool => str_starts_with($l, 'Sent AUTH')));
        $this->assertSame(1, $authCount);
        $delivered = $bed->waitForMessages($marker, 5);
        $this->assertCount(5, $delivered);
    }

    public function testTheSameMessageCanBeSentTwiceAndSendReconnectsAfterQuit(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-again');
        $mailer = $this->mailer('noauth');
        $message = new Message(from: $bed->address('s'), to: $bed->address('dave'), subject: $marker, text: 'again');
        $mailer->send($message);
        $mailer->quit();
        $mailer->send($message);
        $this->assertTrue($mailer->isConnected());
        $mailer->noop();
        $mailer->reset();
        $this->assertCount(2, $bed->waitForMessages($marker, 2));
    }

    public function testPerRecipientResults(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-rcpt');
        $mailer = $this->mailer('plain');
        $result = $mailer->send(new Message(
            from: $bed->address('s'),
            to: [$bed->address('ok1'), $bed->address('reject-one')],
            cc: $bed->address('tempfail-two'),
            bcc: $bed->address('ok2'),
            subject: $marker,
            text: 'x',
        ));
        $codes = [];
        foreach ($result->recipients as $r) {
            $codes[$r->address] = $r->code;
        }
        $this->assertSame(250, $codes[$bed->address('ok1')]);
        $this->assertSame(550, $codes[$bed->address('reject-one')]);
        $this->assertSame(450, $codes[$bed->address('tempfail-two')]);
        $this->assertSame(250, $codes[$bed->address('ok2')]);
        $this->assertCount(2, $result->accepted());
        $this->assertCount(2, $result->refused());
        $this->assertFalse($result->allAccepted());
        $refused = $result->refused();
        $this->assertSame('5.1.1', $refused[0]->enhancedCode);
        $this->assertStringContainsString('reject-one', $refused[0]->text);
        $this->assertTrue($refused[1]->isTemporaryFailure());
        $delivered = $bed->waitForMessages($marker, 2);
        foreach ($delivered as $message) {
            $this->assertNull(self::header($message, 'Bcc'), 'no Bcc header');
        }
    }

    public function testAllOrNothingSendsNothingWhenOneRecipientIsRefused(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-allornothing');
        $mailer = $this->mailer('plain', ['recipientPolicy' => RecipientPolicy::AllOrNothing]);
        try {
            $mailer->send(new Message(
                from: $bed->address('s'),
                to: [$bed->address('fine'), $bed->address('reject-x')],
                subject: $marker,
                text: 'x',
            ));
            $this->fail('expected RecipientsRefusedException');
        } catch (RecipientsRefusedException $e) {
            // The refused recipients are listed, with the server's reply.
            $this->assertCount(1, $e->getRefused());
            $this->assertSame($bed->address('reject-x'), $e->getRefused()[0]->address);
            $this->assertSame(550, $e->getSmtpCode());
            $this->assertSame(550, $e->getRefused()[0]->code);
        }
        $this->assertTrue($bed->noMessageWith($marker, 1.0));
        // The session stays usable after a refused transaction.
        $mailer->send(new Message(from: $bed->address('s'), to: $bed->address('fine'), subject: "$marker-2", text: 'y'));
        $bed->waitForMessage("$marker-2");
    }

    public function testSendRawWithExplicitEnvelopeSendsTheBytesUnchanged(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-raw');
        $raw = "From: Raw <raw@example.test>\r\nTo: someone-else@example.test\r\nSubject: $marker\r\n"
            . "X-Raw: yes\r\n\r\nLine one\r\n.leading dot\r\nLast line\r\n";
        $result = $this->mailer('plain')->sendRaw($raw, $bed->address('raw'), [$bed->address('raw-rcpt')]);
        $this->assertSame(250, $result->code);
        $this->assertSame($bed->address('raw-rcpt'), $result->recipients[0]->address);
        $delivered = $bed->waitForMessage($marker);
        $this->assertSame('yes', self::header($delivered, 'X-Raw'));
        $this->assertStringContainsString("\n.leading dot\n", str_replace("\r\n", "\n", $delivered));
        $this->assertStringContainsString('Delivered-To: ' . $bed->address('raw-rcpt'), $delivered);
    }

    public function testSendRawDerivesTheEnvelopeAndRemovesBcc(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-raw-derived');
        $raw = "From: " . $bed->address('raw') . "\nTo: " . $bed->address('visible') . "\nBcc: "
            . $bed->address('hidden') . "\nSubject: $marker\n\nbody\n";
        $result = $this->mailer('plain')->sendRaw($raw);
        $this->assertCount(2, $result->recipients);
        $delivered = $bed->waitForMessages($marker, 2);
        foreach ($delivered as $message) {
            $this->assertNull(self::header($message, 'Bcc'));
        }
    }

    public function testSendRawFileStreamsAFileWithAndWithoutChunking(): void
    {
        $bed = $this->bed();
        $path = tempnam(sys_get_temp_dir(), 'smtp-php-raw');
        try {
            foreach ([true, false] as $chunking) {
                $marker = TestBed::marker('php-raw-file');
                $body = '';
                for ($i = 0; $i < 5000; $i++) {
                    $body .= ".line $i\n";
                }
                file_put_contents($path, "From: file@example.test\nTo: " . $bed->address('file')
                    . "\nSubject: $marker\n\n" . $body);
                $this->transcript = [];
                $mailer = $this->transcriptMailer('plain', ['chunking' => $chunking, 'pipelining' => $chunking]);
                // With chunking: an explicit envelope; without: from the headers.
                $result = $chunking
                    ? $mailer->sendRawFile($path, 'file@example.test', [$bed->address('file')])
                    : $mailer->sendRawFile($path);
                $this->assertSame(250, $result->code);
                $this->assertCount(1, $result->recipients);
                $delivered = str_replace("\r\n", "\n", $bed->waitForMessage($marker));
                $this->assertStringContainsString("\n.line 0\n", $delivered);
                $this->assertStringContainsString("\n.line 4999\n", $delivered);
                $sentBdat = (bool) preg_grep('/^Sent BDAT /', $this->transcript);
                $sentData = in_array('Sent DATA', $this->transcript, true);
                $this->assertSame([$chunking, !$chunking], [$sentBdat, $sentData], implode("\n", $this->transcript));
                // With an explicit envelope the file's size is declared
                // (the server offers SIZE).
                $declared = (bool) preg_grep('/^Sent MAIL FROM:<file@example\.test> .*SIZE=' . filesize($path)
                    . '/', $this->transcript);
                $this->assertSame($chunking, $declared, implode("\n", $this->transcript));
            }
        } finally {
            @unlink($path);
        }
        $this->expectException(InvalidInputException::class);
        $this->mailer('plain')->sendRawFile($path);
    }

    public function testHtmlTextHeadersReplyToAndNonAsciiSubject(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-html');
        $subject = "Quarterly report — 季度报告 $marker";
        $this->mailer('plain')->send((new Message(
            from: 'Zoë Example <' . $bed->address('zoe') . '>',
            to: [$bed->address('jane') => 'Doe, Jane'],
            replyTo: $bed->address('replies'),
            subject: $subject,
            text: "Plain text\n",
            html: '<p>HTML <b>text</b></p>',
            headers: ['X-Mailer' => 'php-tests 1.0'],
        ))->inReplyTo('<earlier@example.test>'));
        $delivered = $bed->waitForMessage($marker);
        $this->assertSame($subject, self::decodedHeader($delivered, 'Subject'));
        $this->assertSame('php-tests 1.0', self::header($delivered, 'X-Mailer'));
        $this->assertStringContainsString('"Doe, Jane"', (string) self::header($delivered, 'To'));
        $this->assertStringContainsString($bed->address('replies'), (string) self::header($delivered, 'Reply-To'));
        $this->assertSame('<earlier@example.test>', self::header($delivered, 'In-Reply-To'));
        $this->assertStringContainsString('multipart/alternative', $delivered);
        $this->assertStringContainsString('text/html', $delivered);
    }

    public function testSecurityNamesAndCases(): void
    {
        $this->assertSame(Security::StartTls, Security::of('STARTTLS'));
        $this->assertSame(Security::Implicit, Security::of('smtps'));
        $this->assertSame(Security::StartTlsIfOffered, Security::of('opportunistic'));
        $this->assertSame(Security::None, Security::of(4));
        $this->assertSame(Security::Default, Security::of(Security::Default));
    }
}
