<?php

/*
 * Concern: the recipient, sender and custom-header half of
 * Smtp\Compat\PHPMailer: adding, validating, listing and clearing, with
 * PHPMailer 6's return values and error texts.
 */

declare(strict_types=1);

namespace Smtp\Compat;

use Smtp\Internal\Arg;

/**
 * Addresses and custom headers of Smtp\Compat\PHPMailer.
 *
 * As in PHPMailer 6: an address without "@" or that validateAddress()
 * refuses (a CR or LF included) is an error (false and ErrorInfo, or an
 * Exception in exceptions mode); an address already added (any case)
 * gives false without an error; line breaks in display names are removed.
 * A domain in another script is converted to its ASCII form (punycode)
 * when PHP's intl extension is there.
 *
 * @internal used by PHPMailer only
 */
trait PHPMailerAddresses
{
    /** @var list<array{0: string, 1: string}> */
    protected array $to = [];

    /** @var list<array{0: string, 1: string}> */
    protected array $cc = [];

    /** @var list<array{0: string, 1: string}> */
    protected array $bcc = [];

    /** @var array<string, array{0: string, 1: string}> keyed by the lower-case address */
    protected array $ReplyTo = [];

    /** @var array<string, true> every To, Cc and Bcc address, lower case */
    protected array $all_recipients = [];

    /** @var list<array{0: string, 1: string}> */
    protected array $CustomHeader = [];

    /**
     * Adds a To recipient. False for an address already added, or an
     * invalid one (then ErrorInfo says why; exceptions mode throws).
     *
     * @throws Exception in exceptions mode
     */
    public function addAddress($address, $name = ''): bool
    {
        return $this->addAnAddress('to', $address, $name);
    }

    /**
     * Adds a Cc recipient (see addAddress()).
     *
     * @throws Exception in exceptions mode
     */
    public function addCC($address, $name = ''): bool
    {
        return $this->addAnAddress('cc', $address, $name);
    }

    /**
     * Adds a blind-copy recipient: it gets the message, no header names it.
     *
     * @throws Exception in exceptions mode
     */
    public function addBCC($address, $name = ''): bool
    {
        return $this->addAnAddress('bcc', $address, $name);
    }

    /**
     * Adds a Reply-To mailbox (see addAddress()).
     *
     * @throws Exception in exceptions mode
     */
    public function addReplyTo($address, $name = ''): bool
    {
        return $this->addAnAddress('Reply-To', $address, $name);
    }

    /**
     * Sets From (address and display name) and, with $auto and no Sender
     * yet, the envelope sender.
     *
     * @throws Exception in exceptions mode
     */
    public function setFrom($address, $name = '', $auto = true): bool
    {
        $checked = $this->checkedAddress('From', $address);
        if ($checked === null) {
            return false;
        }
        $this->From = $checked;
        $this->FromName = self::cleanName($name);
        if ($auto && ($this->Sender === '' || $this->Sender === null)) {
            $this->Sender = $checked;
        }
        return true;
    }

    /**
     * Adds a header field: addCustomHeader('X-Tag', 'v') or
     * addCustomHeader('X-Tag: v'). A missing name or a line break in the
     * name or value is an error ("Invalid header name or value": false, or
     * an Exception in exceptions mode). Fields libsmtp writes itself (Date,
     * MIME-Version, Content-*) make send() fail with the library's reason;
     * List-Unsubscribe (mailto: and https: URIs) and List-Unsubscribe-Post
     * are passed to the library's own List-Unsubscribe support.
     *
     * @throws Exception in exceptions mode
     */
    public function addCustomHeader($name, $value = null): bool
    {
        if (!is_string($name) || ($value !== null && !is_scalar($value))) {
            return $this->fail('Invalid header name or value');
        }
        if ($value === null && str_contains($name, ':')) {
            [$name, $value] = explode(':', $name, 2);
        }
        $name = trim($name);
        $value = trim((string) $value);
        if ($name === '' || strpbrk($name . $value, "\r\n") !== false) {
            return $this->fail('Invalid header name or value');
        }
        $this->CustomHeader[] = [$name, $value];
        return true;
    }

    /**
     * The custom headers, as [name, value] pairs.
     *
     * @return list<array{0: string, 1: string}>
     */
    public function getCustomHeaders(): array
    {
        return $this->CustomHeader;
    }

    /** Removes every custom header. */
    public function clearCustomHeaders(): void
    {
        $this->CustomHeader = [];
    }

    /**
     * The To recipients, as [address, name] pairs.
     *
     * @return list<array{0: string, 1: string}>
     */
    public function getToAddresses(): array
    {
        return $this->to;
    }

    /** @return list<array{0: string, 1: string}> the Cc recipients */
    public function getCcAddresses(): array
    {
        return $this->cc;
    }

    /** @return list<array{0: string, 1: string}> the Bcc recipients */
    public function getBccAddresses(): array
    {
        return $this->bcc;
    }

    /** @return array<string, array{0: string, 1: string}> the Reply-To mailboxes, by lower-case address */
    public function getReplyToAddresses(): array
    {
        return $this->ReplyTo;
    }

    /** @return array<string, true> every recipient address (lower case) as a key */
    public function getAllRecipientAddresses(): array
    {
        return $this->all_recipients;
    }

    /** Removes the To recipients. */
    public function clearAddresses(): void
    {
        $this->forget($this->to);
        $this->to = [];
    }

    /** Removes the Cc recipients. */
    public function clearCCs(): void
    {
        $this->forget($this->cc);
        $this->cc = [];
    }

    /** Removes the Bcc recipients. */
    public function clearBCCs(): void
    {
        $this->forget($this->bcc);
        $this->bcc = [];
    }

    /** Removes the Reply-To mailboxes. */
    public function clearReplyTos(): void
    {
        $this->ReplyTo = [];
    }

    /** Removes every To, Cc and Bcc recipient. */
    public function clearAllRecipients(): void
    {
        $this->to = [];
        $this->cc = [];
        $this->bcc = [];
        $this->all_recipients = [];
    }

    /**
     * "Name <address>" (the name quoted when needed), or the address alone
     * for an empty name; line breaks removed. Not MIME-encoded: libsmtp
     * encodes names when it writes the header.
     *
     * @param array{0: string, 1?: string} $addr
     */
    public function addrFormat($addr): string
    {
        $address = $this->secureHeader((string) ($addr[0] ?? ''));
        $name = $this->secureHeader((string) ($addr[1] ?? ''));
        return $name === '' ? $address : self::displayName($name) . ' <' . $address . '>';
    }

    /** A display name as a phrase: as it is when it is plain words, quoted otherwise. */
    protected static function displayName(string $name): string
    {
        return preg_match('/^[A-Za-z0-9!#$%&\'*+\/=?^_`{|}~ -]+$/', $name) === 1 ? $name : Arg::quoteName($name);
    }

    /** A display name without line breaks, trimmed (non-strings: ''). */
    protected static function cleanName(mixed $name): string
    {
        return is_scalar($name) ? trim((string) preg_replace('/[\r\n]+/', '', (string) $name)) : '';
    }

    /** @param list<array{0: string, 1: string}> $list */
    private function forget(array $list): void
    {
        foreach ($list as [$address]) {
            unset($this->all_recipients[strtolower($address)]);
        }
    }

    /**
     * Adds one address of $kind ('to', 'cc', 'bcc', 'Reply-To').
     *
     * @throws Exception in exceptions mode
     */
    private function addAnAddress(string $kind, mixed $address, mixed $name): bool
    {
        $checked = $this->checkedAddress($kind, $address);
        if ($checked === null) {
            return false;
        }
        $key = strtolower($checked);
        $name = self::cleanName($name);
        if ($kind === 'Reply-To') {
            if (isset($this->ReplyTo[$key])) {
                return false;
            }
            $this->ReplyTo[$key] = [$checked, $name];
            return true;
        }
        if (isset($this->all_recipients[$key])) {
            return false;
        }
        $this->{$kind}[] = [$checked, $name];
        $this->all_recipients[$key] = true;
        return true;
    }

    /**
     * The trimmed address in the form it will be sent (domain in ASCII),
     * or null after reporting "Invalid address:  (KIND): ADDRESS".
     *
     * @throws Exception in exceptions mode
     */
    private function checkedAddress(string $kind, mixed $address): ?string
    {
        $text = is_scalar($address) ? trim((string) $address) : '';
        $candidate = $text;
        $at = strrpos($text, '@');
        if ($at !== false && preg_match('/[\x80-\xff]/', substr($text, $at + 1)) === 1) {
            $candidate = $this->asciiDomain($text, $at) ?? $text;
        }
        if ($at === false || !static::validateAddress($candidate)) {
            $this->fail(sprintf('Invalid address:  (%s): %s', $kind, self::shown($text)));
            return null;
        }
        return $candidate;
    }

    /** $address with its domain (after $at) in punycode, null when intl is missing or it cannot be converted. */
    private function asciiDomain(string $address, int $at): ?string
    {
        if (!function_exists('idn_to_ascii')) {
            return null;
        }
        try {
            $domain = $this->toUtf8(substr($address, $at + 1));
        } catch (Exception) {
            return null;
        }
        $ascii = idn_to_ascii($domain, IDNA_DEFAULT | IDNA_USE_STD3_RULES | IDNA_NONTRANSITIONAL_TO_ASCII, INTL_IDNA_VARIANT_UTS46);
        return $ascii === false ? null : substr($address, 0, $at + 1) . $ascii;
    }

    /** $value for an error message: control characters shown as escapes, so an ErrorInfo is one line. */
    protected static function shown(string $value): string
    {
        return addcslashes($value, "\0..\37\177");
    }
}
