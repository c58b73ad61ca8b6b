<?php

/*
 * Concern: composing Smtp\Compat\PHPMailer's message as an Smtp\Message:
 * CharSet to UTF-8, From/Sender/recipients, bodies by ContentType and
 * AltBody, Message-ID, X-Mailer and the other headers, attachments.
 */

declare(strict_types=1);

namespace Smtp\Compat;

use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\Message;

/**
 * The composing half of Smtp\Compat\PHPMailer. Text in CharSet is
 * converted to UTF-8 (the message goes out labelled UTF-8; the reader sees
 * the same text); libsmtp encodes headers and chooses transfer encodings.
 *
 * @internal used by PHPMailer only
 */
trait PHPMailerComposition
{
    /**
     * $text (in CharSet) as UTF-8 for libsmtp.
     *
     * @throws Exception for an unknown CharSet or text that is not in it
     */
    protected function toUtf8(string $text): string
    {
        $charset = is_string($this->CharSet) ? strtolower(trim($this->CharSet)) : '';
        if ($charset === '' || $charset === 'utf-8' || $charset === 'utf8' || preg_match('/[\x80-\xff]/', $text) !== 1) {
            return $text;
        }
        try {
            $converted = function_exists('mb_convert_encoding')
                ? mb_convert_encoding($text, 'UTF-8', $this->CharSet)
                : @iconv($this->CharSet, 'UTF-8', $text);
        } catch (\ValueError) {
            $converted = false;
        }
        if (!is_string($converted)) {
            throw new Exception('CharSet ' . self::shown($charset) . ': cannot convert the text to UTF-8');
        }
        return $converted;
    }

    /**
     * The message as Smtp\Message.
     *
     * @throws SmtpException|Exception
     */
    protected function compose(): Message
    {
        $message = new Message();
        if ($this->From !== '') {
            $name = $this->toUtf8(self::cleanName($this->FromName));
            $message->from($name === '' ? $this->From : self::displayName($name) . ' <' . $this->From . '>');
        }
        if ($this->Sender !== '') {
            $message->envelopeFrom($this->Sender);
        }
        foreach (['to' => $this->to, 'cc' => $this->cc, 'bcc' => $this->bcc, 'replyTo' => $this->ReplyTo] as $field => $list) {
            if ($list !== []) {
                $message->{$field}($this->addressMap($list));
            }
        }
        if ($this->Subject !== '') {
            $message->subject($this->toUtf8($this->secureHeader($this->Subject)));
        }
        foreach (['Body', 'AltBody'] as $field) {
            if ($this->{$field} !== null && !is_scalar($this->{$field})) {
                throw new Exception("$field must be a string, got " . get_debug_type($this->{$field}));
            }
        }
        $body = $this->toUtf8((string) $this->Body);
        if ($this->alternativeExists()) {
            $message->html($body)->text($this->toUtf8((string) $this->AltBody));
        } elseif ($this->ContentType === self::CONTENT_TYPE_TEXT_HTML) {
            $message->html($body);
        } elseif ($this->ContentType === self::CONTENT_TYPE_PLAINTEXT) {
            $message->text($body);
        } else {
            throw new Exception('ContentType ' . self::shown(is_scalar($this->ContentType) ? (string) $this->ContentType : '') . ' is not supported by '
                . 'Smtp\Compat\PHPMailer (text/plain or text/html, with AltBody for both)');
        }
        $this->lastMessageID = $this->messageId();
        $message->messageId($this->lastMessageID);
        $this->addHeaders($message);
        if (is_string($this->dsn) && trim($this->dsn) !== '') {
            $message->notify(trim($this->dsn))->dsnIfOffered(true);
        }
        $this->attachTo($message);
        return $message;
    }

    /**
     * @param iterable<array{0: string, 1: string}> $list
     * @return array<string, string> address => name (UTF-8)
     * @throws Exception
     */
    private function addressMap(iterable $list): array
    {
        $map = [];
        foreach ($list as [$address, $name]) {
            $map[$address] = $this->toUtf8($name);
        }
        return $map;
    }

    /** MessageID when it has the form <left@right>, otherwise a new one. */
    private function messageId(): string
    {
        $id = is_string($this->MessageID) ? $this->MessageID : '';
        if (preg_match('/^<[^\s<>@"\x00-\x1f\x7f]+@[^\s<>@\x00-\x1f\x7f]+>$/D', $id) === 1) {
            return $id;
        }
        $domain = 'localhost.localdomain';
        $hostname = is_string($this->Hostname) ? $this->Hostname : '';
        $fromDomain = substr((string) strrchr($this->From, '@'), 1);
        foreach ([$hostname, $fromDomain] as $candidate) {
            if (preg_match('/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/D', $candidate) === 1) {
                $domain = $candidate;
                break;
            }
        }
        return '<' . bin2hex(random_bytes(16)) . '@' . $domain . '>';
    }

    /**
     * X-Mailer, X-Priority, Disposition-Notification-To and the custom headers.
     *
     * @throws SmtpException|Exception
     */
    private function addHeaders(Message $message): void
    {
        if ($this->XMailer === '') {
            $message->header('X-Mailer', 'Smtp\Compat\PHPMailer (libsmtp ' . Library::get()->version() . ')');
        } elseif (is_string($this->XMailer) && trim($this->XMailer) !== '') {
            $message->header('X-Mailer', trim($this->XMailer));
        }
        if (is_scalar($this->Priority) && $this->Priority !== '') {
            $message->header('X-Priority', (string) $this->Priority);
        }
        if ($this->ConfirmReadingTo !== '') {
            $message->header('Disposition-Notification-To', '<' . $this->ConfirmReadingTo . '>');
        }
        $unsubscribe = null;
        $oneClick = false;
        foreach ($this->CustomHeader as [$name, $value]) {
            // libsmtp takes these names as the message's own fields (a To
            // or Bcc would become a recipient): refused, never silently
            // another recipient, author or subject.
            if (in_array(strtolower($name), ['from', 'sender', 'to', 'cc', 'bcc', 'subject', 'message-id'], true)) {
                throw new Exception("Custom header $name is not supported by Smtp\\Compat\\PHPMailer: "
                    . 'set it with setFrom(), Sender, addAddress(), addCC(), addBCC(), Subject or MessageID');
            }
            if (strcasecmp($name, 'List-Unsubscribe-Post') === 0) {
                $oneClick = stripos($value, 'One-Click') !== false;
            } elseif (strcasecmp($name, 'List-Unsubscribe') === 0 && ($uris = self::unsubscribeUris($value)) !== null) {
                $unsubscribe = $uris;
            } else {
                $message->header($name, $this->toUtf8($value));
            }
        }
        if ($unsubscribe !== null) {
            $message->listUnsubscribe($unsubscribe[0], $unsubscribe[1], $oneClick && $unsubscribe[0] !== null);
        } elseif ($oneClick) {
            throw new Exception('List-Unsubscribe-Post needs a List-Unsubscribe header with an https: URI');
        }
    }

    /**
     * The https and mailto URIs of a List-Unsubscribe value
     * ("<mailto:...>, <https://...>"), or null when it holds anything else.
     *
     * @return ?array{0: ?string, 1: ?string}
     */
    private static function unsubscribeUris(string $value): ?array
    {
        $https = $mailto = null;
        foreach (explode(',', $value) as $item) {
            if (preg_match('/^\s*<((https|mailto):[^<>\s]+)>\s*$/iD', $item, $m) !== 1) {
                return null;
            }
            strtolower($m[2]) === 'https' ? $https = $m[1] : $mailto = $m[1];
        }
        return $https === null && $mailto === null ? null : [$https, $mailto];
    }
}
