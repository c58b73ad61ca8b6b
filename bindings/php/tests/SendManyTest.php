<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\ConnectionException;
use Smtp\Exception\DeliveryUnknownException;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Exception\RejectedException;
use Smtp\Mailer;
use Smtp\Message;
use Smtp\SendResult;

/**
 * Mailer::sendMany(): many messages over one connection, pipelined
 * across messages. Against the real Postfix test bed: 30 messages (raw
 * and composed) arrive once each, a refused recipient stays with its
 * message; against the scripted server: a 421 and a dropped connection
 * in the middle of a window; and bad items are refused before anything
 * is sent.
 */
final class SendManyTest extends SmtpTestCase
{
    /** A raw message whose subject and body carry "$marker-NN-end". */
    private static function raw(string $from, string $to, string $marker, int $i): string
    {
        return "From: $from\r\nTo: $to\r\nSubject: $marker-" . sprintf('%02d', $i) . "-end\r\n\r\n"
            . "raw message $i of a batch\r\n";
    }

    /**
     * The message numbers of the delivered messages with $marker, after
     * waiting for $count of them (and a little longer for a copy too
     * many), sorted.
     *
     * @return list<int>
     */
    private static function arrived(TestBed $bed, string $marker, int $count): array
    {
        $bed->waitForMessages($marker, $count, 30.0);
        usleep(500_000);
        $numbers = [];
        foreach ($bed->waitForMessages($marker, $count, 1.0) as $content) {
            self::assertSame(1, preg_match('/' . preg_quote($marker, '/') . '-(\d\d)-end/', $content, $m));
            $numbers[] = (int) $m[1];
        }
        sort($numbers);
        return $numbers;
    }

    public function testThirtyMessagesArriveOnceEach(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-batch30');
        $from = $bed->address('sender');
        $to = $bed->address('batch');
        $messages = [];
        for ($i = 0; $i < 30; $i++) {
            $messages["key-$i"] = match ($i % 3) {
                // Composed, raw with a list of recipients, raw with a string.
                0 => new Message(from: $from, to: $to, subject: sprintf('%s-%02d-end', $marker, $i), text: "composed $i\n"),
                1 => ['data' => self::raw($from, $to, $marker, $i), 'from' => $from, 'to' => [$to]],
                2 => ['data' => self::raw($from, $to, $marker, $i), 'from' => $from, 'to' => $to],
            };
        }
        $mailer = $this->transcriptMailer('plain');
        $results = $mailer->sendMany($messages);

        $this->assertSame(range(0, 29), array_keys($results), 'a list, in order');
        foreach ($results as $i => $result) {
            $this->assertInstanceOf(SendResult::class, $result, "message $i");
            $this->assertSame(250, $result->code);
            $this->assertSame('2.0.0', $result->enhancedCode);
            $this->assertNotNull($result->queueId());
            $this->assertCount(1, $result->recipients);
            $this->assertSame($to, $result->recipients[0]->address);
            $this->assertTrue($result->allAccepted());
        }
        $queueIds = array_map(static fn (SendResult $r): ?string => $r->queueId(), $results);
        $this->assertCount(30, array_unique($queueIds), 'one queue entry per message');
        // One transaction per message, pipelined across messages.
        $mails = array_filter($this->transcript, static fn (string $l): bool => str_starts_with($l, 'Sent MAIL FROM:'));
        $this->assertCount(30, $mails);
        $this->assertNotEmpty(array_filter($this->transcript, static fn (string $l): bool => str_contains($l, 'sending 30 messages, pipelined')));
        $this->assertTrue($mailer->isConnected());
        $mailer->noop();
        $mailer->quit();

        $this->assertSame(range(0, 29), self::arrived($bed, $marker, 30), 'each message arrived once');
    }

    public function testOneRefusedRecipientStaysWithItsMessage(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-batch-refused');
        $from = $bed->address('sender');
        $good = $bed->address('good');
        $messages = [
            ['data' => self::raw($from, $good, $marker, 0), 'from' => $from, 'to' => $good],
            ['data' => self::raw($from, $good, $marker, 1), 'from' => $from, 'to' => [$bed->address('reject-x')]],
            new Message(from: $from, to: [$good, $bed->address('reject-y')], subject: "$marker-02-end", text: "two\n"),
            ['data' => self::raw($from, $good, $marker, 3), 'from' => $from, 'to' => 'not an address'],
            ['data' => self::raw($from, $good, $marker, 4), 'from' => $from, 'to' => "Good <$good>, " . $bed->address('reject-w')],
        ];
        $mailer = $this->mailer('plain');
        $results = $mailer->sendMany($messages);
        $this->assertCount(5, $results);

        $this->assertInstanceOf(SendResult::class, $results[0]);
        $refused = $results[1];
        $this->assertInstanceOf(RecipientsRefusedException::class, $refused);
        $this->assertSame('SMTP_ERR_RECIPIENTS_REFUSED', $refused->getResultName());
        $this->assertSame(550, $refused->getSmtpCode());
        $this->assertSame('5.1.1', $refused->getEnhancedCode());
        $this->assertCount(1, $refused->getRecipients());
        $this->assertSame($bed->address('reject-x'), $refused->getRefused()[0]->address);
        $this->assertStringContainsString('Recipient refused by the test bed', $refused->getMessage());
        // One of two refused: delivered to the other, the refusal listed.
        $this->assertInstanceOf(SendResult::class, $results[2]);
        $this->assertCount(2, $results[2]->recipients);
        $this->assertSame([$bed->address('reject-y')], array_map(static fn ($r) => $r->address, $results[2]->refused()));
        $this->assertSame(550, $results[2]->refused()[0]->code);
        // Refused before anything was sent for it; the others went on.
        $this->assertInstanceOf(InvalidInputException::class, $results[3]);
        $this->assertSame('SMTP_ERR_INVALID_INPUT', $results[3]->getResultName());
        $this->assertSame(0, $results[3]->getSmtpCode());
        $this->assertInstanceOf(SendResult::class, $results[4]);
        $this->assertSame([$good, $bed->address('reject-w')], array_map(static fn ($r) => $r->address, $results[4]->recipients));
        $this->assertSame([250, 550], array_map(static fn ($r) => $r->code, $results[4]->recipients));
        $this->assertTrue($mailer->isConnected());
        $mailer->quit();

        $this->assertSame([0, 2, 4], self::arrived($bed, $marker, 3));
    }

    public function testBadItemsAreRefusedBeforeAnythingIsSent(): void
    {
        $bed = $this->bed();
        $mailer = $this->transcriptMailer('plain');
        $good = ['data' => "Subject: x\r\n\r\nx\r\n", 'from' => $bed->address('s'), 'to' => $bed->address('r')];
        $bad = [
            'not iterable' => 42,
            'an int item' => [$good, 42],
            'a string item' => ['Subject: x'],
            'missing to' => [['data' => 'x', 'from' => 'a@example.test']],
            'unknown key' => [$good + ['cc' => 'c@example.test']],
            'null from' => [['data' => 'x', 'from' => null, 'to' => 'a@example.test']],
            'empty to' => [['data' => 'x', 'from' => 'a@example.test', 'to' => []]],
            'array data' => [['data' => [], 'from' => 'a@example.test', 'to' => 'b@example.test']],
            'NUL in to' => [['data' => 'x', 'from' => 'a@example.test', 'to' => ["b@example.test\0"]]],
        ];
        foreach ($bad as $what => $messages) {
            try {
                $mailer->sendMany($messages);
                $this->fail("$what: expected InvalidInputException");
            } catch (InvalidInputException $e) {
                $this->assertSame(0, $e->getResultCode(), "$what: found in PHP");
            }
        }
        $this->assertSame([], $mailer->sendMany([]));
        $this->assertSame([], $mailer->sendMany((static function () {
            yield from [];
        })()));
        $this->assertFalse($mailer->isConnected(), 'never connected');
        $this->assertSame([], $this->transcript);

        // A generator works, and its keys do not matter.
        $results = $mailer->sendMany((static function () use ($good) {
            yield 'a' => $good;
            yield 'a' => $good;
        })());
        $this->assertCount(2, $results);
        $this->assertContainsOnlyInstancesOf(SendResult::class, $results);
        $mailer->quit();
    }

    public function testA421MidBatchEndsTheSessionForTheRest(): void
    {
        $server = new ScriptedServer('batch-421');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 5, clientName: 'client.test');
        $raw = ['data' => "Subject: batch\r\n\r\nHello.\r\n", 'from' => 'sender@example.test', 'to' => 'rcpt@example.test'];
        $results = $mailer->sendMany([$raw, $raw, $raw, $raw]);
        $this->assertInstanceOf(SendResult::class, $results[0]);
        $this->assertSame('Q0', $results[0]->queueId());
        $this->assertInstanceOf(RecipientsRefusedException::class, $results[1]);
        $this->assertSame(550, $results[1]->getRecipients()[0]->code);
        $this->assertInstanceOf(RejectedException::class, $results[2]);
        $this->assertSame(421, $results[2]->getSmtpCode());
        $this->assertInstanceOf(ConnectionException::class, $results[3]);
        $this->assertSame('SMTP_ERR_NOT_CONNECTED', $results[3]->getResultName());
        $this->assertFalse($mailer->isConnected());
        $mailer->close();
        $server->stop();
    }

    public function testADropMidBatchLeavesWrittenMessagesUnknown(): void
    {
        $server = new ScriptedServer('batch-drop');
        $mailer = new Mailer(host: '127.0.0.1', port: $server->port, security: 'none', timeout: 5, clientName: 'client.test');
        $raw = ['data' => "Subject: batch\r\n\r\nHello.\r\n", 'from' => 'sender@example.test', 'to' => ['rcpt@example.test']];
        $results = $mailer->sendMany([$raw, $raw, $raw]);
        $this->assertInstanceOf(SendResult::class, $results[0]);
        foreach ([1, 2] as $i) {
            $this->assertInstanceOf(DeliveryUnknownException::class, $results[$i]);
            $this->assertSame('SMTP_ERR_DELIVERY_UNKNOWN', $results[$i]->getResultName());
        }
        $this->assertFalse($mailer->isConnected());
        $mailer->close();
        $server->stop();
    }
}
