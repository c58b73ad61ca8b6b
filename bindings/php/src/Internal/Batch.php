<?php

declare(strict_types=1);

namespace Smtp\Internal;

use FFI;
use FFI\CData;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\Message;
use Smtp\RecipientResult;
use Smtp\SendResult;

/**
 * Mailer::sendMany()'s work: the messages checked and laid out as the C
 * array smtp_client_send_batch() reads (`smtp_batch_message[]`), and each
 * message's outcome read back as a SendResult or as the exception a
 * single send of it would have thrown.
 *
 * Raw messages' bytes and addresses are copied into C buffers owned by
 * this object (PHP strings cannot be stored in C structs); composed
 * messages are referenced by their native handle and kept alive here.
 * Everything lives until the object goes away, after the call.
 *
 * @internal
 */
final class Batch
{
    /** The keys of a raw message, as sendRaw()'s parameters are named. */
    private const RAW_KEYS = ['data', 'from', 'to'];

    /** `smtp_batch_message[count]`, null when empty. */
    private ?CData $items = null;

    /** @var list<CData> the C copies of raw messages' strings, bytes and recipient lists */
    private array $keep = [];

    /**
     * @param list<Message|array{data: string, from: string, to: list<string>}> $messages checked
     */
    private function __construct(private readonly Library $library, private readonly array $messages)
    {
    }

    /**
     * Checks every item before anything is sent: a Message, or a raw
     * message ['data' => bytes, 'from' => sender, 'to' => recipients].
     *
     * @throws SmtpException
     */
    public static function of(Library $library, mixed $messages): self
    {
        if (!is_iterable($messages)) {
            throw new InvalidInputException('sendMany() takes an iterable of messages, got ' . Arg::describe($messages));
        }
        $checked = [];
        foreach ($messages as $key => $item) {
            $n = count($checked);
            if ($item instanceof Message) {
                $item->nativeHandle($library); // another Library's, or freed: refused now
                $checked[] = $item;
                continue;
            }
            if (!is_array($item)) {
                throw new InvalidInputException("sendMany(): message #$n (key " . Arg::describe($key) . ') must be a '
                    . 'Smtp\Message or a raw message [\'data\' => ..., \'from\' => ..., \'to\' => ...], got '
                    . Arg::describe($item));
            }
            $unknown = array_diff(array_map('strval', array_keys($item)), self::RAW_KEYS);
            $missing = array_diff(self::RAW_KEYS, array_keys($item));
            if ($unknown !== [] || $missing !== []) {
                throw new InvalidInputException("sendMany(): raw message #$n needs exactly the keys 'data', "
                    . "'from' (the envelope sender, \"\" for the null sender) and 'to' (the recipients)"
                    . ($unknown !== [] ? '; unknown: ' . implode(', ', $unknown) : '')
                    . ($missing !== [] ? '; missing: ' . implode(', ', $missing) : ''));
            }
            $checked[] = [
                'data' => Arg::bytes($item['data'], "message #$n data"),
                'from' => Arg::text($item['from'], "message #$n from"),
                'to' => self::recipients($item['to'], "message #$n to"),
            ];
        }
        return new self($library, $checked);
    }

    /**
     * A raw message's recipients: a string ("a@x, B <b@y>", one element:
     * the library reads lists), a list of strings, or a map of address =>
     * display name; one element per entry.
     *
     * @return list<string>
     * @throws InvalidInputException
     */
    private static function recipients(mixed $to, string $field): array
    {
        if (!is_array($to)) {
            return [Arg::addressList($to, $field)];
        }
        if ($to === []) {
            throw new InvalidInputException("$field is an empty list");
        }
        $list = [];
        foreach ($to as $key => $value) {
            $list[] = Arg::addressList([$key => $value], $field);
        }
        return $list;
    }

    /** How many messages. */
    public function count(): int
    {
        return count($this->messages);
    }

    /**
     * Sends every message over the client's open session and returns
     * smtp_client_send_batch()'s result (SMTP_OK once each message has
     * its outcome).
     *
     * @throws SmtpException
     */
    public function send(CData $client): int
    {
        $ffi = $this->library->ffi();
        $this->layOut($ffi);
        return (int) $ffi->smtp_client_send_batch($client, $this->items, $this->count(), null);
    }

    /** Fills $items; raw messages' strings and bytes are copied into C buffers. */
    private function layOut(FFI $ffi): void
    {
        $this->items = $ffi->new('smtp_batch_message[' . $this->count() . ']');
        foreach ($this->messages as $i => $m) {
            $item = $this->items[$i];
            if ($m instanceof Message) {
                $item->message = $m->nativeHandle($this->library);
                continue;
            }
            $item->sender = $this->copy($ffi, $m['from'] . "\0", 'char');
            $list = $ffi->new('const char *[' . count($m['to']) . ']');
            $this->keep[] = $list;
            foreach ($m['to'] as $r => $address) {
                $list[$r] = $this->copy($ffi, $address . "\0", 'char');
            }
            $item->recipients = $ffi->cast('const char **', $list);
            $item->recipient_count = count($m['to']);
            if ($m['data'] !== '') {
                $item->data = $this->copy($ffi, $m['data'], 'uint8_t');
                $item->len = strlen($m['data']);
            }
        }
    }

    /**
     * A C copy of $bytes as a `$type *`, its memory kept alive with this
     * object. (No pointer arithmetic: PHP 8.2's FFI may free the type of a
     * pointer that `+` was applied to while the pointer is still used.)
     */
    private function copy(FFI $ffi, string $bytes, string $type): CData
    {
        $length = strlen($bytes);
        $buffer = $ffi->new("{$type}[$length]");
        FFI::memcpy($buffer, $bytes, $length);
        $this->keep[] = $buffer;
        return $ffi->cast("$type *", $buffer);
    }

    /**
     * Each message's outcome, in order: a SendResult for a message the
     * server accepted, else the SmtpException a single send would have
     * thrown (a RecipientsRefusedException carries its recipients).
     *
     * @return list<SendResult|SmtpException>
     */
    public function results(CData $client): array
    {
        $ffi = $this->library->ffi();
        $result = $ffi->new('int');
        $code = $ffi->new('int');
        $message = $ffi->new('const char *');
        $enhanced = $ffi->new('const char *');
        $text = $ffi->new('const char *');
        $out = [];
        for ($i = 0; $i < $this->count(); $i++) {
            if (
                !$ffi->smtp_client_batch_result($client, $i, FFI::addr($result), FFI::addr($message))
                || !$ffi->smtp_client_batch_reply($client, $i, FFI::addr($code), FFI::addr($enhanced), FFI::addr($text))
            ) {
                // Cannot happen after SMTP_OK; never invent a success.
                $out[] = $this->library->exception(199, "sendMany(): no outcome for message #$i");
                continue;
            }
            $recipients = $this->recipientsOf($client, $i);
            $status = (int) $result->cdata;
            $out[] = $status === 0
                ? new SendResult(
                    (int) $code->cdata,
                    Library::string($enhanced),
                    Library::string($text),
                    $recipients,
                )
                : $this->library->exception(
                    $status,
                    Library::string($message),
                    (int) $code->cdata,
                    Library::string($enhanced),
                    Library::string($text),
                    $recipients,
                );
        }
        return $out;
    }

    /**
     * The per-recipient replies of message $i of the client's last batch.
     *
     * @return list<RecipientResult>
     */
    private function recipientsOf(CData $client, int $i): array
    {
        $ffi = $this->library->ffi();
        $count = (int) $ffi->smtp_client_batch_recipient_count($client, $i);
        if ($count === 0) {
            return [];
        }
        $address = $ffi->new('const char *');
        $code = $ffi->new('int');
        $enhanced = $ffi->new('const char *');
        $text = $ffi->new('const char *');
        $out = [];
        for ($r = 0; $r < $count; $r++) {
            $ok = $ffi->smtp_client_batch_recipient(
                $client,
                $i,
                $r,
                FFI::addr($address),
                FFI::addr($code),
                FFI::addr($enhanced),
                FFI::addr($text),
            );
            if (!$ok) {
                break;
            }
            $out[] = new RecipientResult(
                Library::string($address),
                (int) $code->cdata,
                Library::string($enhanced),
                Library::string($text),
            );
        }
        return $out;
    }
}
