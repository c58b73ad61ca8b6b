<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\DeliveryReport;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\SpoolException;
use Smtp\Mailer;
use Smtp\Message;
use Smtp\Outbox;
use Smtp\QueuedMessage;
use Smtp\QueuedRecipient;

/**
 * Smtp\Outbox: enqueue, list, hold/release/requeue/remove, broken files
 * listed with their problem, Mailer::queue(), and flush() to the test
 * bed's Postfix delivering each message once.
 */
final class OutboxTest extends SmtpTestCase
{
    /** @var list<string> spool directories to remove after the test */
    private array $dirs = [];

    /** A fresh spool directory (removed after the test). */
    protected function spool(): string
    {
        $dir = sys_get_temp_dir() . '/smtp-php-outbox-' . getmypid() . '-' . bin2hex(random_bytes(6));
        $this->dirs[] = $dir;
        return $dir;
    }

    protected function tearDown(): void
    {
        foreach ($this->dirs as $dir) {
            if (is_dir($dir)) {
                exec('rm -rf ' . escapeshellarg($dir));
            }
        }
        $this->dirs = [];
    }

    public function testEnqueueListAndControl(): void
    {
        $outbox = Outbox::open($this->spool());
        $this->assertSame([], $outbox->list());
        $a = $outbox->enqueue(new Message(from: 'Ann <ann@example.test>', to: 'one@example.test, two@example.test',
            subject: 'composed', text: "Caf\u{e9}\n"));
        $b = $outbox->enqueueRaw("Subject: raw\n\nbody\n", 'b@example.test', ['c@example.test']);
        $c = $outbox->enqueueRaw("From: d@example.test\nTo: e@example.test\nBcc: f@example.test\n\nbody\n");
        $this->assertCount(3, array_unique([$a, $b, $c]));
        $this->assertMatchesRegularExpression('/^[A-Za-z0-9.]+$/', $a);

        $list = $outbox->list();
        $this->assertCount(3, $list);
        $this->assertContainsOnlyInstancesOf(QueuedMessage::class, $list);
        $byId = array_column(array_map(static fn (QueuedMessage $m) => ['id' => $m->id, 'm' => $m], $list), 'm', 'id');
        $this->assertSame('ann@example.test', $byId[$a]->sender);
        $this->assertSame(['one@example.test', 'two@example.test'],
            array_map(static fn (QueuedRecipient $r) => $r->address, $byId[$a]->recipients));
        $this->assertSame(QueuedRecipient::PENDING, $byId[$a]->recipients[0]->status);
        $this->assertSame(0, $byId[$a]->attempts);
        $this->assertFalse($byId[$a]->held);
        $this->assertNull($byId[$a]->problem);
        $this->assertNull($byId[$a]->lastError);
        $this->assertEqualsWithDelta(time(), $byId[$a]->created, 5);
        $this->assertSame(strlen("Subject: raw\n\nbody\n"), $byId[$b]->size);
        $this->assertSame('d@example.test', $byId[$c]->sender);
        $this->assertCount(2, $byId[$c]->recipients);

        $outbox->hold($b);
        $this->assertTrue($this->entry($outbox, $b)->held);
        $outbox->release($b);
        $this->assertFalse($this->entry($outbox, $b)->held);
        $outbox->hold($b);
        $outbox->requeue($b);
        $this->assertFalse($this->entry($outbox, $b)->held);
        $outbox->remove($b);
        $this->assertCount(2, $outbox->list());

        try {
            $outbox->remove($b);
            $this->fail('removed twice');
        } catch (InvalidInputException $e) {
            $this->assertStringContainsString('not in the queue', $e->getMessage());
        }
        foreach (['', '../x', 'a b', '.x'] as $bad) {
            try {
                $outbox->hold($bad);
                $this->fail("hold($bad) accepted");
            } catch (InvalidInputException) {
                $this->addToAssertionCount(1);
            }
        }
        $this->expectException(InvalidInputException::class);
        $outbox->enqueueRaw('x', 'a@example.test');
    }

    public function testBrokenStateIsListedWithItsProblem(): void
    {
        $dir = $this->spool();
        $outbox = new Outbox($dir);
        $id = $outbox->enqueueRaw("Subject: x\n\nx\n", 'a@example.test', 'b@example.test');
        file_put_contents("$dir/queue/$id.state", "smtp-outbox-state 1\nsender: a@example.test\n");
        $list = $outbox->list();
        $this->assertCount(1, $list);
        $this->assertStringContainsString('corrupt state file', (string) $list[0]->problem);
        $this->assertSame([], $list[0]->recipients);
        $outbox->remove($id);
        $this->assertSame([], $outbox->list());
    }

    public function testUnwritableSpoolIsASpoolException(): void
    {
        // A path under a plain file cannot become a directory, for root too.
        $file = $this->spool();
        file_put_contents($file, 'x');
        $this->expectException(SpoolException::class);
        new Outbox("$file/outbox");
    }

    public function testQueueThenFlushDeliversOnce(): void
    {
        $bed = $this->bed();
        $outbox = Outbox::open($this->spool());
        $mailer = $this->mailer('plain', ['outbox' => $outbox]);
        $markers = [];
        for ($i = 0; $i < 3; $i++) {
            $markers[] = $marker = TestBed::marker('php-outbox');
            $message = new Message(from: $bed->address('outbox-sender'), to: $bed->address('outbox-rcpt'),
                subject: $marker, text: "queued by PHP\n");
            $ids[] = $i === 0 ? $outbox->enqueue($message) : $mailer->queue($message);
        }
        $this->assertFalse($mailer->isConnected(), 'queue() never connects');
        $this->assertCount(3, $outbox->list());

        $report = $outbox->flush($mailer);
        $this->assertSame([3, 0, 0], [$report->delivered, $report->deferred, $report->bounced]);
        $this->assertSame($ids, array_column($report->messages, 'id'));
        $this->assertSame(array_fill(0, 3, DeliveryReport::DELIVERED), array_column($report->messages, 'outcome'));
        $this->assertSame([], $outbox->list());
        foreach ($markers as $marker) {
            $bed->waitForMessage($marker);
        }
        // Nothing left: a second flush and deliverDue() send nothing.
        $this->assertSame(0, $outbox->flush($mailer)->delivered);
        $this->assertSame([], $outbox->deliverDue($mailer)->messages);
        $mailer->quit();
        foreach ($markers as $marker) {
            $this->assertCount(1, $bed->waitForMessages($marker, 1, 1.0));
        }
    }

    public function testQueueWithoutAnOutboxIsRefused(): void
    {
        $mailer = new Mailer(host: '127.0.0.1', port: 1);
        $this->assertNull($mailer->outbox());
        $this->expectException(InvalidInputException::class);
        $mailer->queue(new Message(from: 'a@example.test', to: 'b@example.test', text: 'x'));
    }

    public function testMailerOutboxByDirectory(): void
    {
        $dir = $this->spool();
        $mailer = new Mailer(host: '127.0.0.1', port: 1, outbox: $dir);
        $id = $mailer->queue(new Message(from: 'a@example.test', to: 'b@example.test', text: 'x'));
        $this->assertSame([$id], array_map(static fn ($m) => $m->id, (new Outbox($dir))->list()));
    }

    /** The entry $id of a fresh listing. */
    private function entry(Outbox $outbox, string $id): QueuedMessage
    {
        foreach ($outbox->list() as $m) {
            if ($m->id === $id) {
                return $m;
            }
        }
        $this->fail("$id not listed");
    }
}
