<?php

declare(strict_types=1);

namespace Smtp;

use FFI;
use FFI\CData;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\LibraryException;
use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\Internal\Arg;

/**
 * A durable outbox (a libsmtp `smtp_outbox`): a spool directory that keeps messages until
 * a server took them, so that a relay that is down, slow or answering 4xx never costs a
 * message, and a web request never waits for it.
 *
 * ```php
 * $outbox = Outbox::open('/var/spool/myapp/outbox');
 * $id = $outbox->enqueue($message);              // on disk, synced: safe from here on
 * // later, in a cron job or a worker:
 * $report = $outbox->deliverDue(new Mailer(host: 'mail.example.org', user: 'me', password: $secret));
 * ```
 *
 * Delivery records each recipient's result as it comes: an accepted recipient is never
 * sent again, a 4xx is retried later (about 1 minute, doubling, at most 1 hour), a 5xx
 * fails that recipient and a bounce goes to the sender. Credentials are never written to
 * the spool: they stay with the Mailer. Any number of processes (php-fpm workers) may
 * enqueue into one directory at once, and several runners may deliver it at once: each
 * message is delivered under a lock. One Outbox object is for one thread at a time.
 */
final class Outbox
{
    private Library $library;

    private ?CData $handle = null;

    /**
     * Opens (creating it, mode 0700, when missing) the outbox in $dir.
     *
     * @param mixed $dir the spool directory; create it with mode 2770 beforehand for a spool
     *              shared by a group (a web server that enqueues, a service that delivers)
     * @throws SmtpException Exception\SpoolException when it cannot be created or read
     */
    public function __construct(mixed $dir, ?Library $library = null)
    {
        $this->library = $library ?? Library::get();
        $dir = Arg::text($dir, 'dir');
        $ffi = $this->library->ffi();
        $out = $ffi->new('smtp_outbox*');
        $this->library->check($ffi->smtp_outbox_open($dir, FFI::addr($out)));
        $this->handle = $out;
    }

    /**
     * The same as `new Outbox($dir)`.
     *
     * @throws SmtpException
     */
    public static function open(mixed $dir, ?Library $library = null): self
    {
        return new self($dir, $library);
    }

    /**
     * Queues a composed message and returns its queue id. It is encoded for any server
     * (7-bit), its Date and Message-ID fixed now, and the envelope taken from it (as
     * Mailer::send() does); attachment files are read now. When this returns, the message
     * survives a crash; when it throws, nothing was queued.
     *
     * @throws SmtpException
     */
    public function enqueue(mixed $message): string
    {
        if (!$message instanceof Message) {
            throw new InvalidInputException('enqueue() takes a Smtp\Message, got ' . Arg::describe($message)
                . ' (enqueueRaw() queues a formatted message)');
        }
        $native = $message->nativeHandle($this->library);
        $id = $this->library->ffi()->new('const char*');
        $this->check($this->library->ffi()->smtp_outbox_enqueue_message($this->handle(), $native, FFI::addr($id)));
        return Library::string($id);
    }

    /**
     * Queues a message the caller formatted completely (headers, empty line, body) and
     * returns its queue id. With $from and $to the envelope is exactly that and the bytes
     * are kept unchanged; with neither, the envelope comes from the headers (Sender or From;
     * To, Cc, Bcc) and the Bcc lines are removed.
     *
     * @param mixed $data the message
     * @param mixed $from the envelope sender, "" for the null sender
     * @param mixed $to the envelope recipients: "a@x, b@y" or a list
     * @throws SmtpException
     */
    public function enqueueRaw(mixed $data, mixed $from = null, mixed $to = null): string
    {
        $data = Arg::bytes($data, 'data');
        [$fromText, $toList] = self::envelope('enqueueRaw', $from, $to);
        $id = $this->library->ffi()->new('const char*');
        $this->check($this->library->ffi()->smtp_outbox_enqueue_raw(
            $this->handle(),
            $fromText,
            $toList,
            $data,
            strlen($data),
            FFI::addr($id),
        ));
        return Library::string($id);
    }

    /**
     * Queues the complete message in a file (copied block by block) and returns its queue
     * id. Envelope as for enqueueRaw().
     *
     * @throws SmtpException
     */
    public function enqueueRawFile(mixed $path, mixed $from = null, mixed $to = null): string
    {
        $path = Arg::text($path, 'path');
        [$fromText, $toList] = self::envelope('enqueueRawFile', $from, $to);
        $id = $this->library->ffi()->new('const char*');
        $this->check($this->library->ffi()->smtp_outbox_enqueue_raw_file(
            $this->handle(),
            $fromText,
            $toList,
            $path,
            FFI::addr($id),
        ));
        return Library::string($id);
    }

    /**
     * Queues a message the caller formatted, completed first exactly as
     * Mailer::sendRawCompleted() completes it (same arguments), and returns its queue id.
     *
     * @param mixed $data the message (header, empty line, body)
     * @param mixed $recipients more recipients: "a@x, b@y" or a list
     * @param mixed $author "Name <addr>" or "addr" for the fields added
     * @throws SmtpException
     */
    public function enqueueRawCompleted(
        mixed $data,
        mixed $recipients = null,
        bool $recipientsFromHeaders = true,
        mixed $sender = null,
        mixed $author = null,
        mixed $to = null,
        mixed $subject = null,
    ): string {
        $data = Arg::bytes($data, 'data');
        $id = $this->library->ffi()->new('const char*');
        $this->check($this->library->ffi()->smtp_outbox_enqueue_raw_completed(
            $this->handle(),
            $sender === null ? null : Arg::text($sender, 'sender'),
            $recipients === null ? null : Arg::addressList($recipients, 'recipients'),
            $recipientsFromHeaders ? 1 : 0,
            $author === null ? null : Arg::text($author, 'author'),
            $to === null ? null : Arg::addressList($to, 'to'),
            $subject === null ? null : Arg::text($subject, 'subject'),
            $data,
            strlen($data),
            FFI::addr($id),
        ));
        return Library::string($id);
    }

    /**
     * Every queued message, oldest first, those with broken files included (with their
     * problem).
     *
     * @return list<QueuedMessage>
     * @throws SmtpException
     */
    public function list(): array
    {
        $ffi = $this->library->ffi();
        $handle = $this->handle();
        $count = $ffi->new('size_t');
        $this->check($ffi->smtp_outbox_list($handle, FFI::addr($count)));
        $statuses = [
            $ffi->SMTP_RECIPIENT_PENDING => QueuedRecipient::PENDING,
            $ffi->SMTP_RECIPIENT_DEFERRED => QueuedRecipient::DEFERRED,
            $ffi->SMTP_RECIPIENT_DELIVERED => QueuedRecipient::DELIVERED,
            $ffi->SMTP_RECIPIENT_FAILED => QueuedRecipient::FAILED,
        ];
        $address = $ffi->new('const char*');
        $status = $ffi->new('int');
        $reply = $ffi->new('const char*');
        $out = [];
        for ($i = 0, $n = (int) $count->cdata; $i < $n; $i++) {
            $recipients = [];
            $m = (int) $ffi->smtp_outbox_entry_recipient_count($handle, $i);
            for ($r = 0; $r < $m; $r++) {
                if (!$ffi->smtp_outbox_entry_recipient($handle, $i, $r, FFI::addr($address), FFI::addr($status), FFI::addr($reply))) {
                    break;
                }
                $recipients[] = new QueuedRecipient(
                    Library::string($address),
                    $statuses[(int) $status->cdata] ?? QueuedRecipient::PENDING,
                    Library::string($reply),
                );
            }
            $lastError = Library::string($ffi->smtp_outbox_entry_last_error($handle, $i));
            $problem = Library::string($ffi->smtp_outbox_entry_problem($handle, $i));
            $out[] = new QueuedMessage(
                Library::string($ffi->smtp_outbox_entry_id($handle, $i)),
                Library::string($ffi->smtp_outbox_entry_sender($handle, $i)),
                (int) $ffi->smtp_outbox_entry_size($handle, $i),
                (int) $ffi->smtp_outbox_entry_attempts($handle, $i),
                (int) $ffi->smtp_outbox_entry_created($handle, $i),
                (int) $ffi->smtp_outbox_entry_next_attempt($handle, $i),
                (bool) $ffi->smtp_outbox_entry_held($handle, $i),
                (bool) $ffi->smtp_outbox_entry_possible_duplicate($handle, $i),
                $lastError === '' ? null : $lastError,
                $problem === '' ? null : $problem,
                $recipients,
            );
        }
        return $out;
    }

    /**
     * Holds a message: it stays queued and is not delivered until released.
     * An unknown id is an InvalidInputException; a message being delivered right now a
     * SpoolException (try again).
     *
     * @throws SmtpException
     */
    public function hold(mixed $id): void
    {
        $this->check($this->library->ffi()->smtp_outbox_hold($this->handle(), Arg::text($id, 'id')));
    }

    /**
     * Releases a held message (its schedule unchanged).
     *
     * @throws SmtpException
     */
    public function release(mixed $id): void
    {
        $this->check($this->library->ffi()->smtp_outbox_release($this->handle(), Arg::text($id, 'id')));
    }

    /**
     * Makes a message due now (and releases it).
     *
     * @throws SmtpException
     */
    public function requeue(mixed $id): void
    {
        $this->check($this->library->ffi()->smtp_outbox_requeue($this->handle(), Arg::text($id, 'id')));
    }

    /**
     * Removes a message without delivering it (also one whose files are broken); no bounce.
     *
     * @throws SmtpException
     */
    public function remove(mixed $id): void
    {
        $this->check($this->library->ffi()->smtp_outbox_remove($this->handle(), Arg::text($id, 'id')));
    }

    /**
     * Delivers every message not held, due or not, through $mailer (connected first when
     * needed; not at all when the queue is empty; the session stays open). Delivery
     * failures are in the report, not thrown: only a spool error, or a Mailer that cannot
     * connect (the queue is then untouched), throws.
     *
     * @throws SmtpException
     */
    public function flush(Mailer $mailer): DeliveryReport
    {
        return $this->run($mailer, false);
    }

    /**
     * flush() for the messages whose next attempt has come: what a cron job or a worker
     * calls periodically.
     *
     * @throws SmtpException
     */
    public function deliverDue(Mailer $mailer): DeliveryReport
    {
        return $this->run($mailer, true);
    }

    /** Frees the native handle now (the queue stays on disk). Later calls throw. */
    public function close(): void
    {
        if ($this->handle !== null) {
            $handle = $this->handle;
            $this->handle = null;
            $this->library->ffi()->smtp_outbox_free($handle);
        }
    }

    /** Frees the native handle. */
    public function __destruct()
    {
        $this->close();
    }

    /**
     * An Outbox owns a native handle and cannot be copied; open another.
     *
     * @throws LibraryException always
     */
    public function __clone()
    {
        $this->handle = null;
        throw new LibraryException('a Smtp\Outbox cannot be cloned (open the directory again)');
    }

    /** @throws SmtpException */
    private function run(Mailer $mailer, bool $dueOnly): DeliveryReport
    {
        if ($mailer->library() !== $this->library) {
            throw new InvalidInputException('the Mailer uses another Library than this Outbox');
        }
        if ($this->list() === []) {
            return new DeliveryReport(0, 0, 0, []);
        }
        $ffi = $this->library->ffi();
        $client = $mailer->sessionHandle();
        $delivered = $ffi->new('size_t');
        $deferred = $ffi->new('size_t');
        $bounced = $ffi->new('size_t');
        $function = $dueOnly ? 'smtp_outbox_deliver_due' : 'smtp_outbox_flush';
        $this->check($ffi->$function(
            $this->handle(),
            $client,
            FFI::addr($delivered),
            FFI::addr($deferred),
            FFI::addr($bounced),
        ));
        $outcomes = [
            $ffi->SMTP_OUTBOX_DELIVERED => DeliveryReport::DELIVERED,
            $ffi->SMTP_OUTBOX_BOUNCED => DeliveryReport::BOUNCED,
            $ffi->SMTP_OUTBOX_DEFERRED => DeliveryReport::DEFERRED,
            $ffi->SMTP_OUTBOX_BUSY => DeliveryReport::BUSY,
            $ffi->SMTP_OUTBOX_BROKEN => DeliveryReport::BROKEN,
        ];
        $id = $ffi->new('const char*');
        $outcome = $ffi->new('int');
        $notification = $ffi->new('const char*');
        $error = $ffi->new('const char*');
        $messages = [];
        $n = (int) $ffi->smtp_outbox_report_count($this->handle());
        for ($i = 0; $i < $n; $i++) {
            if (!$ffi->smtp_outbox_report($this->handle(), $i, FFI::addr($id), FFI::addr($outcome), FFI::addr($notification), FFI::addr($error))) {
                break;
            }
            $note = Library::string($notification);
            $why = Library::string($error);
            $messages[] = [
                'id' => Library::string($id),
                'outcome' => $outcomes[(int) $outcome->cdata] ?? DeliveryReport::DEFERRED,
                'notification' => $note === '' ? null : $note,
                'error' => $why === '' ? null : $why,
            ];
        }
        return new DeliveryReport((int) $delivered->cdata, (int) $deferred->cdata, (int) $bounced->cdata, $messages);
    }

    /**
     * The envelope arguments of the raw calls: both or neither.
     *
     * @return array{0: ?string, 1: ?string}
     * @throws InvalidInputException
     */
    private static function envelope(string $method, mixed $from, mixed $to): array
    {
        if (($from === null) !== ($to === null)) {
            throw new InvalidInputException("$method(): give both \$from and \$to, or neither");
        }
        return [
            $from === null ? null : Arg::text($from, 'from'),
            $to === null ? null : Arg::addressList($to, 'to'),
        ];
    }

    /** @throws SmtpException */
    private function check(int $result): void
    {
        $this->library->check($result);
    }

    /** @throws SmtpException */
    private function handle(): CData
    {
        return $this->handle ?? throw new LibraryException('this Outbox was closed');
    }
}
