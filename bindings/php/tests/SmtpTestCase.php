<?php

declare(strict_types=1);

namespace Smtp\Tests;

use PHPUnit\Framework\TestCase;
use Smtp\Mailer;
use Smtp\TranscriptDirection;

/**
 * Shared helpers: Mailers for the test bed's ports, transcripts, and
 * checks that no secret leaks.
 */
abstract class SmtpTestCase extends TestCase
{
    /** @var list<string> the transcript of the last transcriptMailer() */
    protected array $transcript = [];

    /** The test bed, or a skipped (SMTP_TESTBED_REQUIRED=1: failed) test. */
    protected function bed(): TestBed
    {
        return TestBed::require($this);
    }

    /**
     * A Mailer for one of the bed's ports: "plain" and "discard" with AUTH
     * over loopback plaintext, "submission" with STARTTLS, "smtps" with
     * implicit TLS, "noauth" without credentials.
     *
     * @param array<string, mixed> $options more constructor arguments
     */
    protected function mailer(string $port = 'plain', array $options = []): Mailer
    {
        $bed = $this->bed();
        $defaults = match ($port) {
            'plain', 'discard' => ['security' => 'none', 'user' => $bed->user(), 'password' => $bed->password()],
            'submission' => ['security' => 'starttls', 'user' => $bed->user(), 'password' => $bed->password(),
                'caFile' => $bed->caFile()],
            'smtps' => ['security' => 'implicit', 'user' => $bed->user(), 'password' => $bed->password(),
                'caFile' => $bed->caFile()],
            'noauth' => ['security' => 'none'],
            default => throw new \InvalidArgumentException($port),
        };
        return new Mailer(...array_merge(
            ['host' => $bed->host(), 'port' => $bed->port($port), 'timeout' => 20],
            $defaults,
            $options,
        ));
    }

    /** A Mailer like mailer() whose transcript lands in $this->transcript. */
    protected function transcriptMailer(string $port = 'plain', array $options = []): Mailer
    {
        $this->transcript = [];
        return $this->mailer($port, $options + [
            'transcript' => function (TranscriptDirection $direction, string $line): void {
                $this->transcript[] = $direction->name . ' ' . $line;
            },
        ]);
    }

    /**
     * Asserts that neither the password, nor its base64, nor the base64 of
     * a PLAIN or LOGIN payload carrying it appears in $text.
     */
    protected function assertNoSecret(string $text, ?string $password = null, ?string $user = null): void
    {
        $password ??= $this->bed()->password();
        $user ??= $this->bed()->user();
        $forms = [
            $password,
            base64_encode($password),
            base64_encode("\0$user\0$password"),
            base64_encode("$user\0$user\0$password"),
            rawurlencode($password),
        ];
        foreach ($forms as $form) {
            $this->assertStringNotContainsString($form, $text, 'a secret leaked');
        }
    }

    /** The unfolded value of header $name in a delivered message, null if absent. */
    protected static function header(string $message, string $name): ?string
    {
        $head = preg_split('/\r?\n\r?\n/', $message, 2)[0];
        $head = preg_replace('/\r?\n[ \t]+/', ' ', $head);
        foreach (preg_split('/\r?\n/', $head) as $line) {
            if (stripos($line, $name . ':') === 0) {
                return trim(substr($line, strlen($name) + 1));
            }
        }
        return null;
    }

    /** A header's value with RFC 2047 encoded words decoded (iconv, part of php-cli). */
    protected static function decodedHeader(string $message, string $name): ?string
    {
        $value = self::header($message, $name);
        if ($value === null) {
            return null;
        }
        $decoded = iconv_mime_decode($value, ICONV_MIME_DECODE_CONTINUE_ON_ERROR, 'UTF-8');
        return $decoded === false ? $value : $decoded;
    }

    /**
     * The end of a concurrent-enqueue test: the ids the workers were given
     * are all different, listed exactly (none broken), and one flush
     * through the test bed delivers each message once: the bodies carry
     * "MARKER-TAG" with TAG matching $tag (a regex without delimiters).
     *
     * @param list<string> $ids
     */
    protected function assertQueuedThenDeliveredOnce(TestBed $bed, string $dir, array $ids, string $marker, string $tag): void
    {
        $total = count($ids);
        $this->assertCount($total, array_unique($ids), 'an id was given twice');
        $outbox = \Smtp\Outbox::open($dir);
        $listed = array_map(static fn ($m) => $m->id, $outbox->list());
        sort($listed);
        sort($ids);
        $this->assertSame($ids, $listed, 'every enqueued id is listed, nothing else');
        foreach ($outbox->list() as $m) {
            $this->assertNull($m->problem);
        }
        $mailer = $this->mailer('plain');
        $report = $outbox->flush($mailer);
        $mailer->quit();
        $this->assertSame([$total, 0, 0], [$report->delivered, $report->deferred, $report->bounced]);
        $this->assertSame([], $outbox->list());
        $messages = $bed->waitForMessages($marker, $total, 60.0);
        $tags = [];
        foreach ($messages as $content) {
            $this->assertSame(1, preg_match('/' . preg_quote($marker, '/') . "-($tag)/", $content, $m));
            $tags[] = $m[1];
        }
        $this->assertCount($total, $messages, 'a message arrived twice');
        $this->assertCount($total, array_unique($tags), 'a message arrived twice');
    }
}
