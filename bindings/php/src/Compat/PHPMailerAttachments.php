<?php

/*
 * Concern: the attachment half of Smtp\Compat\PHPMailer: files and
 * strings, attached or embedded (cid:), checked when added as PHPMailer 6
 * checks them, and handed to Smtp\Message when the message is composed.
 */

declare(strict_types=1);

namespace Smtp\Compat;

use Smtp\Message;

/**
 * Attachments of Smtp\Compat\PHPMailer, kept in PHPMailer's layout
 * (getAttachments() returns the same arrays: 0 path or bytes, 1 file
 * name, 2 name, 3 encoding, 4 type, 5 is-string, 6 disposition, 7 cid).
 *
 * A file that is missing or unreadable, a path with a NUL byte or a
 * stream wrapper (phar://, http://...) is "Could not access file: PATH";
 * an encoding other than 7bit, 8bit, base64, binary and quoted-printable
 * is "Unknown encoding: X". The encoding is only checked: libsmtp chooses
 * the transfer encoding of each part itself (base64 for binary data).
 * Line breaks in names and content ids are removed, as PHPMailer does.
 *
 * @internal used by PHPMailer only
 */
trait PHPMailerAttachments
{
    /** @var list<array{0: string, 1: string, 2: string, 3: string, 4: string, 5: bool, 6: string, 7: string|int}> */
    protected array $attachment = [];

    /**
     * Attaches a file (read when the message is sent). $name is the name
     * shown (default: the file's), $type the MIME type (default: guessed
     * from the name).
     *
     * @throws Exception in exceptions mode
     */
    public function addAttachment($path, $name = '', $encoding = self::ENCODING_BASE64, $type = '', $disposition = 'attachment'): bool
    {
        if (!self::fileIsAccessible($path)) {
            return $this->fail('Could not access file: ' . self::shown(is_scalar($path) ? (string) $path : ''));
        }
        if (!$this->checkedEncoding($encoding) || !$this->checkedDisposition($disposition, 'attachment', 'addAttachment')) {
            return false;
        }
        $file = basename((string) $path);
        $name = is_scalar($name) && (string) $name !== '' ? (string) $name : $file;
        $this->attachment[] = [(string) $path, $file, $name, (string) $encoding, self::typeText($type), false, 'attachment', $name];
        return true;
    }

    /**
     * Attaches bytes from memory as a file called $filename.
     *
     * @throws Exception in exceptions mode
     */
    public function addStringAttachment($string, $filename, $encoding = self::ENCODING_BASE64, $type = '', $disposition = 'attachment'): bool
    {
        if (!is_scalar($string) || !is_scalar($filename)) {
            return $this->fail('addStringAttachment() takes the bytes and a file name as strings');
        }
        if (!$this->checkedEncoding($encoding) || !$this->checkedDisposition($disposition, 'attachment', 'addStringAttachment')) {
            return false;
        }
        $this->attachment[] = [(string) $string, (string) $filename, basename((string) $filename), (string) $encoding,
            self::typeText($type), true, 'attachment', 0];
        return true;
    }

    /**
     * Embeds a file for the HTML body to show with `<img src="cid:CID">`.
     *
     * @throws Exception in exceptions mode
     */
    public function addEmbeddedImage($path, $cid, $name = '', $encoding = self::ENCODING_BASE64, $type = '', $disposition = 'inline'): bool
    {
        if (!self::fileIsAccessible($path)) {
            return $this->fail('Could not access file: ' . self::shown(is_scalar($path) ? (string) $path : ''));
        }
        if (!$this->checkedEncoding($encoding) || !$this->checkedDisposition($disposition, 'inline', 'addEmbeddedImage')) {
            return false;
        }
        $file = basename((string) $path);
        $name = is_scalar($name) && (string) $name !== '' ? (string) $name : $file;
        $this->attachment[] = [(string) $path, $file, $name, (string) $encoding, self::typeText($type), false, 'inline',
            is_scalar($cid) ? (string) $cid : ''];
        return true;
    }

    /**
     * Embeds bytes from memory (see addEmbeddedImage()).
     *
     * @throws Exception in exceptions mode
     */
    public function addStringEmbeddedImage($string, $cid, $name = '', $encoding = self::ENCODING_BASE64, $type = '', $disposition = 'inline'): bool
    {
        if (!is_scalar($string)) {
            return $this->fail('addStringEmbeddedImage() takes the bytes as a string');
        }
        if (!$this->checkedEncoding($encoding) || !$this->checkedDisposition($disposition, 'inline', 'addStringEmbeddedImage')) {
            return false;
        }
        $name = is_scalar($name) ? (string) $name : '';
        $this->attachment[] = [(string) $string, $name, $name, (string) $encoding, self::typeText($type), true, 'inline',
            is_scalar($cid) ? (string) $cid : ''];
        return true;
    }

    /** @return list<array{0: string, 1: string, 2: string, 3: string, 4: string, 5: bool, 6: string, 7: string|int}> */
    public function getAttachments(): array
    {
        return $this->attachment;
    }

    /** Removes every attachment and embedded image. */
    public function clearAttachments(): void
    {
        $this->attachment = [];
    }

    /** True when an attachment (not an embedded image) was added. */
    public function attachmentExists(): bool
    {
        foreach ($this->attachment as $item) {
            if ($item[6] === 'attachment') {
                return true;
            }
        }
        return false;
    }

    /** True when an embedded image was added. */
    public function inlineImageExists(): bool
    {
        foreach ($this->attachment as $item) {
            if ($item[6] === 'inline') {
                return true;
            }
        }
        return false;
    }

    /** True when AltBody is set (the message goes as HTML with a text alternative). */
    public function alternativeExists(): bool
    {
        return $this->AltBody !== '' && $this->AltBody !== null;
    }

    /**
     * Hands the attachments to $message, names converted to UTF-8 and
     * without line breaks.
     *
     * @throws \Smtp\Exception\SmtpException|Exception
     */
    protected function attachTo(Message $message): void
    {
        foreach ($this->attachment as [$source, $file, $name, , $type, $isString, $disposition, $cid]) {
            $name = $this->toUtf8($this->secureHeader((string) $name));
            $type = $type === '' ? null : $type;
            if ($disposition === 'attachment') {
                $isString
                    ? $message->attachData($source, $name === '' ? 'attachment' : $name, $type)
                    : $message->attachFile($source, $name, $type);
                continue;
            }
            $cid = $this->secureHeader((string) $cid);
            if ($isString) {
                $message->embedData($source, $cid, $name === '' ? null : $name, $type);
            } elseif ($name === $file) {
                $message->embedFile($source, $cid, $type);
            } else {
                // A name of its own: embedFile() names the part after the file.
                $bytes = @file_get_contents($source);
                if ($bytes === false) {
                    throw new Exception('Could not access file: ' . self::shown($source));
                }
                $message->embedData($bytes, $cid, $name, $type);
            }
        }
    }

    /** A readable regular file, named without NUL bytes or a stream wrapper. */
    private static function fileIsAccessible(mixed $path): bool
    {
        if (!is_string($path) || $path === '' || str_contains($path, "\0")
            || preg_match('#^[a-z][a-z\d+.-]*://#i', $path) === 1) {
            return false;
        }
        return @is_file($path) && @is_readable($path);
    }

    /** @throws Exception in exceptions mode */
    private function checkedEncoding(mixed $encoding): bool
    {
        if (in_array($encoding, [self::ENCODING_7BIT, self::ENCODING_8BIT, self::ENCODING_BASE64, self::ENCODING_BINARY,
            self::ENCODING_QUOTED_PRINTABLE], true)) {
            return true;
        }
        return $this->fail('Unknown encoding: ' . self::shown(is_scalar($encoding) ? (string) $encoding : get_debug_type($encoding)));
    }

    /**
     * Only the usual disposition of each kind: libsmtp attaches files as
     * attachments and embeds images inline.
     *
     * @throws Exception in exceptions mode
     */
    private function checkedDisposition(mixed $disposition, string $expected, string $method): bool
    {
        if ($disposition === $expected) {
            return true;
        }
        return $this->fail("$method(): disposition '" . self::shown(is_scalar($disposition) ? (string) $disposition : '')
            . "' is not supported by Smtp\\Compat\\PHPMailer (only '$expected'; "
            . ($expected === 'inline' ? 'addAttachment() attaches' : 'addEmbeddedImage() embeds') . ')');
    }

    /** A MIME type argument as text ('' for none; line breaks are left for libsmtp to refuse). */
    private static function typeText(mixed $type): string
    {
        return is_scalar($type) ? trim((string) $type) : '';
    }
}
