<?php

declare(strict_types=1);

namespace Smtp;

use FFI\CData;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\LibraryException;
use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\Internal\Arg;

/**
 * A message to compose (a libsmtp `smtp_message`): addresses, subject,
 * text and HTML bodies, attachments, inline images, extra headers.
 *
 * ```php
 * $message = new Message(
 *     from: 'Zoë <zoe@example.org>',
 *     to: ['bob@example.net', 'jane@example.net' => 'Doe, Jane'],
 *     subject: 'Quarterly report — 季度报告',
 *     text: "Hello,\nthe report is attached.\n",
 * );
 * $message->attachFile('/srv/reports/q3.pdf')->header('X-Mailer', 'intranet 2.1');
 * ```
 *
 * Every setter checks its value at once and throws an
 * Exception\InvalidInputException for anything that could not be sent
 * as given (a CR or LF in a header value, a NUL byte, a bad address, text
 * that is not UTF-8). Setters return the message, so calls chain.
 * Addresses may be given as "a@x, Name <b@y>", as a list of such strings,
 * or as a map address => display name. Bcc recipients get the message
 * and no header names them. Non-ASCII text is encoded as MIME requires.
 *
 * A message can be sent any number of times, by several Mailers using the
 * same Library. The native message is freed with the object.
 */
final class Message
{
    private Library $library;

    private ?CData $handle = null;

    /**
     * Creates a message; every argument is optional and does what the setter
     * of the same name does.
     *
     * @param mixed $from the author, "Name <user@domain>" or "user@domain"
     * @param mixed $to To recipients (string, list, or map address => name)
     * @param mixed $cc Cc recipients
     * @param mixed $bcc blind-copy recipients
     * @param mixed $replyTo Reply-To mailboxes
     * @param mixed $subject the subject, any language
     * @param mixed $text the plain-text body
     * @param mixed $html the HTML body (with $text: both, as alternatives)
     * @param mixed $headers extra header fields, name => value
     * @param mixed $attachments file paths to attach (list), or path => name shown
     * @param ?Library $library the libsmtp to use (default Library::get()); must be the Mailer's
     * @throws InvalidInputException|LibraryException
     */
    public function __construct(
        mixed $from = null,
        mixed $to = null,
        mixed $cc = null,
        mixed $bcc = null,
        mixed $replyTo = null,
        mixed $subject = null,
        mixed $text = null,
        mixed $html = null,
        mixed $headers = null,
        mixed $attachments = null,
        ?Library $library = null,
    ) {
        $this->library = $library ?? Library::get();
        $handle = $this->library->ffi()->smtp_message_new();
        if ($handle === null || \FFI::isNull($handle)) {
            throw new LibraryException('smtp_message_new() failed');
        }
        $this->handle = $handle;
        try {
            if ($from !== null) {
                $this->from($from);
            }
            if ($to !== null) {
                $this->to($to);
            }
            if ($cc !== null) {
                $this->cc($cc);
            }
            if ($bcc !== null) {
                $this->bcc($bcc);
            }
            if ($replyTo !== null) {
                $this->replyTo($replyTo);
            }
            if ($subject !== null) {
                $this->subject($subject);
            }
            if ($text !== null) {
                $this->text($text);
            }
            if ($html !== null) {
                $this->html($html);
            }
            if ($headers !== null) {
                if (!is_array($headers)) {
                    throw new InvalidInputException('headers must be an array of name => value, got '
                        . Arg::describe($headers));
                }
                foreach ($headers as $name => $value) {
                    $this->header($name, $value);
                }
            }
            if ($attachments !== null) {
                if (!is_array($attachments)) {
                    $attachments = [$attachments];
                }
                foreach ($attachments as $key => $value) {
                    is_string($key) ? $this->attachFile($key, $value) : $this->attachFile($value);
                }
            }
        } catch (\Throwable $e) {
            $this->free();
            throw $e;
        }
    }

    /**
     * Sets the author (From, and the envelope sender unless set otherwise).
     *
     * @throws InvalidInputException
     */
    public function from(mixed $mailbox): self
    {
        return $this->call('smtp_message_set_from', Arg::text($mailbox, 'from'));
    }

    /**
     * Sets the Sender header (who actually sends, when not the author); it
     * becomes the envelope sender.
     *
     * @throws InvalidInputException
     */
    public function sender(mixed $mailbox): self
    {
        return $this->call('smtp_message_set_sender', Arg::text($mailbox, 'sender'));
    }

    /**
     * Adds To recipients; calls add up.
     *
     * @throws InvalidInputException
     */
    public function to(mixed $addresses): self
    {
        return $this->call('smtp_message_add_to', Arg::addressList($addresses, 'to'));
    }

    /**
     * Adds Cc recipients.
     *
     * @throws InvalidInputException
     */
    public function cc(mixed $addresses): self
    {
        return $this->call('smtp_message_add_cc', Arg::addressList($addresses, 'cc'));
    }

    /**
     * Adds blind-copy recipients: they get the message, no header names them.
     *
     * @throws InvalidInputException
     */
    public function bcc(mixed $addresses): self
    {
        return $this->call('smtp_message_add_bcc', Arg::addressList($addresses, 'bcc'));
    }

    /**
     * Adds Reply-To mailboxes.
     *
     * @throws InvalidInputException
     */
    public function replyTo(mixed $addresses): self
    {
        return $this->call('smtp_message_add_reply_to', Arg::addressList($addresses, 'replyTo'));
    }

    /**
     * Sets the subject (one line, any language).
     *
     * @throws InvalidInputException
     */
    public function subject(mixed $subject): self
    {
        return $this->call('smtp_message_set_subject', Arg::text($subject, 'subject'));
    }

    /**
     * Sets the plain-text body (LF, CRLF or CR line breaks).
     *
     * @throws InvalidInputException
     */
    public function text(mixed $text): self
    {
        return $this->call('smtp_message_set_text', Arg::text($text, 'text', true));
    }

    /**
     * Sets the HTML body; with a text body too, both go as alternatives.
     *
     * @throws InvalidInputException
     */
    public function html(mixed $html): self
    {
        return $this->call('smtp_message_set_html', Arg::text($html, 'html', true));
    }

    /**
     * Adds a header field, e.g. ("X-Mailer", "intranet 2.1"). From, To,
     * Subject and the like go to their setters; Date, MIME-Version and
     * Content-* are the library's own and refused, and so are
     * List-Unsubscribe, List-Unsubscribe-Post (see listUnsubscribe()) and
     * TLS-Required (see tlsRequiredNo()).
     *
     * @throws InvalidInputException
     */
    public function header(mixed $name, mixed $value): self
    {
        return $this->call('smtp_message_add_header', Arg::text($name, 'header name'), Arg::text($value, 'header value'));
    }

    /**
     * Sets List-Unsubscribe (RFC 2369) to an https URI, a mailto URI or
     * both (at least one), and with $oneClick (the default) also
     * "List-Unsubscribe-Post: List-Unsubscribe=One-Click" (RFC 8058), which
     * needs the https URI: mail clients then unsubscribe with one HTTPS
     * POST to it, so it must identify the list and the recipient by itself.
     * A later call replaces an earlier one; header() refuses these names.
     *
     * ```php
     * $message->listUnsubscribe('https://example.org/u?id=42', 'mailto:leave@example.org');
     * ```
     *
     * URIs go into the header as given: spaces, <, >, commas, quotes and
     * non-ASCII characters must be percent-encoded; the https URI needs a
     * host (no user@), the mailto URI one valid address.
     *
     * @param mixed $https "https://host/path?query", or null
     * @param mixed $mailto "mailto:user@domain[?subject=...]", or null
     * @param mixed $oneClick true for RFC 8058 one-click (needs $https)
     * @throws InvalidInputException
     */
    public function listUnsubscribe(mixed $https = null, mixed $mailto = null, mixed $oneClick = true): self
    {
        return $this->call(
            'smtp_message_set_list_unsubscribe',
            Arg::optionalText($https, 'listUnsubscribe https'),
            Arg::optionalText($mailto, 'listUnsubscribe mailto'),
            Arg::flag($oneClick, 'listUnsubscribe oneClick') ? 1 : 0,
        );
    }

    /**
     * With true (the default), the message carries "TLS-Required: No"
     * (RFC 8689 section 5): relays may deliver it even where their policy
     * (MTA-STS, DANE) would otherwise require valid TLS, e.g. for a report
     * about a TLS problem. False removes it. header() refuses the name.
     *
     * @throws InvalidInputException
     */
    public function tlsRequiredNo(mixed $on = true): self
    {
        return $this->call('smtp_message_set_tls_required_no', Arg::flag($on, 'tlsRequiredNo') ? 1 : 0);
    }

    /**
     * Sets the Message-ID ("<id@domain>") instead of the generated one.
     *
     * @throws InvalidInputException
     */
    public function messageId(mixed $id): self
    {
        return $this->call('smtp_message_set_message_id', Arg::text($id, 'messageId'));
    }

    /**
     * Sets In-Reply-To (message ids).
     *
     * @throws InvalidInputException
     */
    public function inReplyTo(mixed $ids): self
    {
        return $this->call('smtp_message_set_in_reply_to', Arg::text($ids, 'inReplyTo'));
    }

    /**
     * Sets References (message ids, oldest first).
     *
     * @throws InvalidInputException
     */
    public function references(mixed $ids): self
    {
        return $this->call('smtp_message_set_references', Arg::text($ids, 'references'));
    }

    /**
     * Sets the envelope sender (MAIL FROM): a bare address, "" for the null sender.
     *
     * @throws InvalidInputException
     */
    public function envelopeFrom(mixed $address): self
    {
        return $this->call('smtp_message_set_envelope_from', Arg::text($address, 'envelopeFrom'));
    }

    /**
     * Adds envelope recipients (RCPT TO); once set they replace the ones
     * from To, Cc and Bcc.
     *
     * @throws InvalidInputException
     */
    public function envelopeTo(mixed $addresses): self
    {
        return $this->call('smtp_message_add_envelope_to', Arg::addressList($addresses, 'envelopeTo'));
    }

    /**
     * Asks delivery status notifications (RFC 3461) to return the whole
     * message ('FULL') or its header only ('HDRS').
     *
     * @throws InvalidInputException
     */
    public function dsnReturn(mixed $ret): self
    {
        return $this->call('smtp_message_set_dsn_return', Arg::text($ret, 'dsnReturn'));
    }

    /**
     * Sets the envelope identifier (ENVID) that notifications carry back.
     * Any text; '+', '=', controls and non-ASCII characters are escaped;
     * at most 100 characters once escaped.
     *
     * @throws InvalidInputException
     */
    public function envelopeId(mixed $id): self
    {
        return $this->call('smtp_message_set_envelope_id', Arg::text($id, 'envelopeId'));
    }

    /**
     * Asks for delivery status notifications (NOTIFY): 'NEVER', or any of
     * 'SUCCESS', 'FAILURE', 'DELAY' as a comma-separated string or a list.
     * For one recipient, or every recipient when $recipient is null.
     *
     * ```php
     * $message->notify(['success', 'failure'])->notify('never', 'list-archive@example.org');
     * ```
     *
     * @throws InvalidInputException
     */
    public function notify(mixed $notify, mixed $recipient = null): self
    {
        if (is_array($notify)) {
            foreach ($notify as $word) {
                if (!is_string($word)) {
                    throw new InvalidInputException('notify: a list of strings, got ' . Arg::describe($word));
                }
            }
            $notify = implode(',', $notify);
        }
        return $this->call(
            'smtp_message_set_notify',
            Arg::optionalText($recipient, 'notify recipient'),
            Arg::text($notify, 'notify'),
        );
    }

    /**
     * Gives the original recipient (ORCPT) of $recipient: the address the
     * message was first sent to, before forwarding or list expansion.
     *
     * @throws InvalidInputException
     */
    public function originalRecipient(mixed $recipient, mixed $original): self
    {
        return $this->call(
            'smtp_message_set_original_recipient',
            Arg::text($recipient, 'recipient'),
            Arg::text($original, 'originalRecipient'),
        );
    }

    /**
     * With true, a server that does not offer DSN gets the message without
     * the DSN parameters (SendResult::$omittedExtensions then lists 'DSN');
     * by default such a send throws an UnsupportedException before anything
     * is sent.
     *
     * @throws InvalidInputException
     */
    public function dsnIfOffered(mixed $on = true): self
    {
        return $this->call('smtp_message_set_dsn_if_offered', Arg::flag($on, 'dsnIfOffered'));
    }

    /**
     * REQUIRETLS (RFC 8689): the message must travel over TLS all the way.
     * The send throws an UnsupportedException, before anything is sent,
     * unless the session is TLS and the server offers REQUIRETLS.
     *
     * @throws InvalidInputException
     */
    public function requireTls(mixed $on = true): self
    {
        return $this->call('smtp_message_set_require_tls', Arg::flag($on, 'requireTls'));
    }

    /**
     * MT-PRIORITY (RFC 6710), -9 (lowest) to 9: sent when the server
     * offers it, otherwise left out (SendResult::$omittedExtensions says so).
     *
     * @throws InvalidInputException
     */
    public function priority(mixed $priority): self
    {
        if (!is_int($priority)) {
            throw new InvalidInputException('priority must be an integer from -9 to 9, got ' . Arg::describe($priority));
        }
        if ($priority < -9 || $priority > 9) {
            throw new InvalidInputException("priority must be from -9 to 9, got $priority");
        }
        return $this->call('smtp_message_set_priority', $priority);
    }

    /**
     * Attaches a file, read block by block each time the message is sent
     * (it must be readable now). $name is the name the recipient sees
     * (default: the file's), in any language; $contentType is guessed from
     * the name when null.
     *
     * @throws InvalidInputException
     */
    public function attachFile(mixed $path, mixed $name = null, mixed $contentType = null): self
    {
        return $this->call(
            'smtp_message_attach_file',
            Arg::text($path, 'attachment path'),
            Arg::optionalText($name, 'attachment name'),
            Arg::optionalText($contentType, 'attachment content type'),
        );
    }

    /**
     * Attaches bytes from memory (copied) as a file called $name.
     *
     * @throws InvalidInputException
     */
    public function attachData(mixed $data, mixed $name, mixed $contentType = null): self
    {
        $bytes = Arg::bytes($data, 'attachment data');
        return $this->call(
            'smtp_message_attach_bytes',
            Arg::text($name, 'attachment name'),
            Arg::optionalText($contentType, 'attachment content type'),
            $bytes,
            strlen($bytes),
        );
    }

    /**
     * Adds an inline part from a file, shown by the HTML body with
     * `<img src="cid:CONTENT_ID">`.
     *
     * @throws InvalidInputException
     */
    public function embedFile(mixed $path, mixed $contentId, mixed $contentType = null): self
    {
        return $this->call(
            'smtp_message_inline_file',
            Arg::text($contentId, 'content id'),
            Arg::text($path, 'inline path'),
            Arg::optionalText($contentType, 'inline content type'),
        );
    }

    /**
     * Adds an inline part from memory (see embedFile()).
     *
     * @throws InvalidInputException
     */
    public function embedData(mixed $data, mixed $contentId, mixed $name = null, mixed $contentType = null): self
    {
        $bytes = Arg::bytes($data, 'inline data');
        return $this->call(
            'smtp_message_inline_bytes',
            Arg::text($contentId, 'content id'),
            Arg::optionalText($name, 'inline name'),
            Arg::optionalText($contentType, 'inline content type'),
            $bytes,
            strlen($bytes),
        );
    }

    /**
     * The native message for a Mailer of $library.
     *
     * @throws SmtpException
     * @internal
     */
    public function nativeHandle(Library $library): CData
    {
        if ($library !== $this->library) {
            throw new InvalidInputException('this Message was created with another Library than the Mailer; '
                . 'pass the Mailer\'s library to new Message(library: ...)');
        }
        return $this->handle ?? throw new LibraryException('this Message was freed');
    }

    /** Frees the native message. */
    public function __destruct()
    {
        $this->free();
    }

    /**
     * A Message owns a native object and cannot be copied; build another.
     *
     * @throws LibraryException always
     */
    public function __clone()
    {
        // The copy must not free the original's handle when it goes away.
        $this->handle = null;
        throw new LibraryException('a Smtp\Message cannot be cloned');
    }

    /**
     * Not serializable (a native object).
     *
     * @throws LibraryException always
     */
    public function __serialize(): array
    {
        throw new LibraryException('a Smtp\Message cannot be serialized');
    }

    /**
     * Not serializable (a native object).
     *
     * @param array<mixed> $data
     * @throws LibraryException always
     */
    public function __unserialize(array $data): void
    {
        throw new LibraryException('a Smtp\Message cannot be unserialized');
    }

    /** Hides the native handle from var_dump(). */
    public function __debugInfo(): array
    {
        return ['library' => $this->library->origin()];
    }

    /** Frees the native message once. */
    private function free(): void
    {
        if ($this->handle !== null) {
            $handle = $this->handle;
            $this->handle = null;
            $this->library->ffi()->smtp_message_free($handle);
        }
    }

    /** @throws SmtpException */
    private function call(string $function, mixed ...$arguments): self
    {
        $handle = $this->handle ?? throw new LibraryException('this Message was freed');
        $this->library->check($this->library->ffi()->$function($handle, ...$arguments));
        return $this;
    }
}
