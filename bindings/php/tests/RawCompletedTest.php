<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;

/**
 * Mailer::sendRawCompleted(): a message the caller formatted, completed by
 * the library's raw-message path (the one smtp-send and the C API use)
 * and delivered through the real Postfix.
 */
final class RawCompletedTest extends SmtpTestCase
{
    public function testMissingFieldsAreAddedAndBccStaysHidden(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-raw-completed');
        $mailer = $this->mailer('noauth');
        $data = "Bcc: " . $bed->address('raw-bcc') . "\nX-Origin: php\n\nbody $marker\n";
        $result = $mailer->sendRawCompleted(
            $data,
            recipients: $bed->address('raw-to'),
            author: 'Raw Author <' . $bed->address('raw-from') . '>',
            to: $bed->address('raw-to'),
            subject: "Grüße $marker",
        );
        $this->assertSame(250, $result->code);
        $this->assertCount(2, $result->recipients, 'the argument and the Bcc');
        $delivered = $bed->waitForMessage($marker);
        $this->assertSame('php', self::header($delivered, 'X-Origin'));
        $this->assertSame($bed->address('raw-to'), self::header($delivered, 'To'));
        $this->assertSame('Raw Author <' . $bed->address('raw-from') . '>', self::header($delivered, 'From'));
        $this->assertNotNull(self::header($delivered, 'Date'));
        $this->assertNotNull(self::header($delivered, 'Message-ID'));
        $this->assertStringStartsWith('=?UTF-8?', (string) self::header($delivered, 'Subject'));
        $this->assertStringNotContainsString('Bcc:', $delivered);
        $mailer->quit();
    }

    public function testNoRecipientAnywhereIsRefusedBeforeSending(): void
    {
        $this->bed();
        $mailer = $this->mailer('noauth');
        try {
            $mailer->sendRawCompleted("From: a@example.test\n\nx\n");
            $this->fail('expected InvalidInputException');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('recipients', $e->getMessage());
        }
        $mailer->noop();
        $this->assertTrue($mailer->isConnected(), 'the session is still usable');
    }
}
