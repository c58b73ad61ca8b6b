<?php

/*
 * Concern: Smtp\Compat\PHPMailer, the public API of PHPMailer 6 that SMTP
 * users touch (properties, send(), errors, keep-alive), implemented with
 * Smtp\Mailer and Smtp\Message: settings mapping, composing and sending.
 * Addresses, attachments and composing are in the PHPMailerAddresses,
 * PHPMailerAttachments and PHPMailerComposition traits, debug output in
 * DebugOutput, Host in HostList, SMTPOptions in TlsOptions.
 */

declare(strict_types=1);

namespace Smtp\Compat;

use Smtp\Exception\InvalidInputException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Exception\RejectedException;
use Smtp\Exception\SmtpException;
use Smtp\Mailer;
use Smtp\Message;

/**
 * PHPMailer 6's API for sending over SMTP, on libsmtp.
 *
 * Code written for PHPMailer changes its `use` lines and nothing else:
 *
 * ```php
 * use Smtp\Compat\PHPMailer;      // was: use PHPMailer\PHPMailer\PHPMailer;
 * use Smtp\Compat\Exception;      // was: use PHPMailer\PHPMailer\Exception;
 * use Smtp\Compat\SMTP;           // was: use PHPMailer\PHPMailer\SMTP;
 *
 * $mail = new PHPMailer(true);
 * $mail->isSMTP();
 * $mail->Host = 'smtp.example.org';
 * $mail->SMTPAuth = true;
 * $mail->Username = 'me@example.org';
 * $mail->Password = $secret;
 * $mail->SMTPSecure = PHPMailer::ENCRYPTION_STARTTLS;
 * $mail->Port = 587;
 * $mail->setFrom('me@example.org', 'Me');
 * $mail->addAddress('you@example.net');
 * $mail->Subject = 'Hi';
 * $mail->Body = 'Hello.';
 * $mail->send();
 * ```
 *
 * Composition, TLS, authentication and the protocol are libsmtp's
 * (Smtp\Message and Smtp\Mailer); this class maps PHPMailer's properties
 * onto them and reports failures the PHPMailer way: send() returns false
 * with ErrorInfo set, or, after `new PHPMailer(true)`, throws
 * Smtp\Compat\Exception (the library's exception as getPrevious()).
 *
 * What PHPMailer does and this class cannot is never ignored: sendmail,
 * qmail and mail() (Mailer other than 'smtp'), DKIM_* and S/MIME signing,
 * Ical, WordWrap, SingleTo, VERP, a custom MessageDate, XOAUTH2 and
 * action_function make send() fail with an ErrorInfo naming the setting;
 * methods of PHPMailer that are not here throw an Exception naming them.
 * getSentMIMEMessage() throws: libsmtp composes the message while sending
 * and its C API has no call that renders a message to bytes.
 */
class PHPMailer
{
    use PHPMailerAddresses;
    use PHPMailerAttachments;
    use PHPMailerComposition;
    use PHPMailerConnection;

    public const CHARSET_ASCII = 'us-ascii';
    public const CHARSET_ISO88591 = 'iso-8859-1';
    public const CHARSET_UTF8 = 'utf-8';

    public const CONTENT_TYPE_PLAINTEXT = 'text/plain';
    public const CONTENT_TYPE_TEXT_CALENDAR = 'text/calendar';
    public const CONTENT_TYPE_TEXT_HTML = 'text/html';
    public const CONTENT_TYPE_MULTIPART_ALTERNATIVE = 'multipart/alternative';
    public const CONTENT_TYPE_MULTIPART_MIXED = 'multipart/mixed';
    public const CONTENT_TYPE_MULTIPART_RELATED = 'multipart/related';

    public const ENCODING_7BIT = '7bit';
    public const ENCODING_8BIT = '8bit';
    public const ENCODING_BASE64 = 'base64';
    public const ENCODING_BINARY = 'binary';
    public const ENCODING_QUOTED_PRINTABLE = 'quoted-printable';

    /** SMTPSecure for STARTTLS (required). */
    public const ENCRYPTION_STARTTLS = 'tls';

    /** SMTPSecure for implicit TLS (SMTPS, usually port 465). */
    public const ENCRYPTION_SMTPS = 'ssl';

    /** The PHPMailer release whose API this class follows. */
    public const VERSION = '6.6.3';

    public const STOP_MESSAGE = 0;
    public const STOP_CONTINUE = 1;
    public const STOP_CRITICAL = 2;

    public const CRLF = "\r\n";

    /** The SMTPDebug levels, also on Smtp\Compat\SMTP. */
    public const DEBUG_OFF = SMTP::DEBUG_OFF;
    public const DEBUG_CLIENT = SMTP::DEBUG_CLIENT;
    public const DEBUG_SERVER = SMTP::DEBUG_SERVER;
    public const DEBUG_CONNECTION = SMTP::DEBUG_CONNECTION;
    public const DEBUG_LOWLEVEL = SMTP::DEBUG_LOWLEVEL;

    /** The settings of PHPMailer this class cannot honour, with the value that means "off". */
    private const UNSUPPORTED = [
        'DKIM_selector' => '', 'DKIM_identity' => '', 'DKIM_passphrase' => '', 'DKIM_domain' => '',
        'DKIM_private' => '', 'DKIM_private_string' => '', 'DKIM_extraHeaders' => [], 'Ical' => '',
        'WordWrap' => 0, 'SingleTo' => false, 'do_verp' => false, 'MessageDate' => '', 'action_function' => '',
    ];

    /** X-Priority value (1 highest, 3 normal, 5 lowest); null: no header. */
    public $Priority;

    /** The character set of Subject, bodies and names; text is converted to UTF-8 for libsmtp. */
    public $CharSet = self::CHARSET_ISO88591;

    /** text/plain or text/html (isHTML()); with AltBody the message is HTML plus text. */
    public $ContentType = self::CONTENT_TYPE_PLAINTEXT;

    /** Checked (7bit, 8bit, base64, binary, quoted-printable); libsmtp chooses each part's transfer encoding. */
    public $Encoding = self::ENCODING_8BIT;

    /** Why the last call failed ('' when none did). */
    public $ErrorInfo = '';

    /** The author's address (setFrom()). */
    public $From = '';

    /** The author's display name. */
    public $FromName = '';

    /** The envelope sender (MAIL FROM, the bounce address); '' for From. Not a Sender header. */
    public $Sender = '';

    /** The subject; line breaks are removed. */
    public $Subject = '';

    /** The body: text, or HTML after isHTML() or with AltBody. */
    public $Body = '';

    /** The plain-text alternative of an HTML Body. */
    public $AltBody = '';

    /** Not supported: a non-empty value makes send() fail. */
    public $Ical = '';

    /** Not supported (libsmtp keeps lines within limits itself): above 0 makes send() fail. */
    public $WordWrap = 0;

    /** 'smtp' after isSMTP(); every other mailer makes send() fail. */
    public $Mailer = 'mail';

    /** Unused (sendmail is not supported). */
    public $Sendmail = '/usr/sbin/sendmail';

    /** Unused (sendmail is not supported). */
    public $UseSendmailOptions = true;

    /** Adds Disposition-Notification-To with this address (a read receipt request). */
    public $ConfirmReadingTo = '';

    /** The name for EHLO (when Helo is empty) and for generated Message-IDs. */
    public $Hostname = '';

    /** A Message-ID of the form <id@domain>; anything else is replaced by a generated one. */
    public $MessageID = '';

    /** Not supported (libsmtp writes Date): a non-empty value makes send() fail. */
    public $MessageDate = '';

    /** Server(s): "smtp1.example.org;tls://smtp2.example.org:587", tried in order. */
    public $Host = 'localhost';

    /** The port of hosts given without one. */
    public $Port = 25;

    /** The name sent with EHLO (default: Hostname, else libsmtp's default, this machine's name). */
    public $Helo = '';

    /** '' (see SMTPAutoTLS), 'tls' (STARTTLS required) or 'ssl' (implicit TLS). */
    public $SMTPSecure = '';

    /** With SMTPSecure '': STARTTLS when the server offers it (true), never (false). */
    public $SMTPAutoTLS = true;

    /** Authenticate with Username and Password. */
    public $SMTPAuth = false;

    /** ['ssl' => ['cafile' => ..., 'verify_peer' => ..., 'verify_peer_name' => ..., 'allow_self_signed' => ..., 'peer_name' => ...]]. */
    public $SMTPOptions = [];

    /** The user name for SMTPAuth. */
    public $Username = '';

    /** The password for SMTPAuth; never shown in debug output, errors or var_dump(). */
    public $Password = '';

    /** '' for the strongest mechanism both sides offer, or CRAM-MD5, LOGIN, PLAIN, SCRAM-SHA-256... */
    public $AuthType = '';

    /** Seconds to connect and to wait for each reply. */
    public $Timeout = 300;

    /** Delivery status notifications: 'NEVER', or SUCCESS, FAILURE, DELAY separated by commas. */
    public $dsn = '';

    /** SMTPDebug level, 0 (off) to 4: see the DEBUG_* constants. */
    public $SMTPDebug = 0;

    /** Where debug output goes: 'echo', 'html', 'error_log', a callable, or a logger object with debug(). */
    public $Debugoutput = 'echo';

    /** Keep the connection open between send() calls, until smtpClose(). */
    public $SMTPKeepAlive = false;

    /** Not supported: true makes send() fail. */
    public $SingleTo = false;

    /** Not supported: true makes send() fail. */
    public $do_verp = false;

    /** Allow an empty Body. */
    public $AllowEmpty = false;

    /** Not supported (DKIM signing): any DKIM_* value makes send() fail. */
    public $DKIM_selector = '';

    /** @see $DKIM_selector */
    public $DKIM_identity = '';

    /** @see $DKIM_selector */
    public $DKIM_passphrase = '';

    /** @see $DKIM_selector */
    public $DKIM_domain = '';

    /** @see $DKIM_selector */
    public $DKIM_copyHeaderFields = true;

    /** @see $DKIM_selector */
    public $DKIM_extraHeaders = [];

    /** @see $DKIM_selector */
    public $DKIM_private = '';

    /** @see $DKIM_selector */
    public $DKIM_private_string = '';

    /** Not supported: a callback makes send() fail. */
    public $action_function = '';

    /** The X-Mailer header: '' for this class's own, a blank for none, other text as it is. */
    public $XMailer = '';

    /** validateAddress()'s default: 'php' (filter_var), 'html5', or a callable (not a string). */
    public static $validator = 'php';

    /** Whether errors throw Exception. */
    protected $exceptions = false;

    /** Errors since the last preSend(). */
    protected $error_count = 0;

    /** The connection kept between sends (SMTPKeepAlive). */
    private ?Mailer $connection = null;

    /** The message preSend() composed, for postSend(). */
    private ?Message $prepared = null;

    /** The Message-ID of the message last composed. */
    private string $lastMessageID = '';

    /**
     * @param bool|null $exceptions true: errors throw Smtp\Compat\Exception (send() still sets ErrorInfo)
     */
    public function __construct($exceptions = null)
    {
        if ($exceptions !== null) {
            $this->exceptions = (bool) $exceptions;
        }
        $this->Debugoutput = str_contains(PHP_SAPI, 'cli') ? 'echo' : 'html';
    }

    /** Closes a kept connection (QUIT). */
    public function __destruct()
    {
        $this->smtpClose();
    }

    /** Sends through SMTP (the only mailer here). */
    public function isSMTP(): void
    {
        $this->Mailer = 'smtp';
    }

    /**
     * Not supported: send() will fail, and in exceptions mode this throws.
     *
     * @throws Exception in exceptions mode
     */
    public function isMail(): void
    {
        $this->Mailer = 'mail';
        $this->fail($this->unsupportedMailer());
    }

    /**
     * Not supported: send() will fail, and in exceptions mode this throws.
     *
     * @throws Exception in exceptions mode
     */
    public function isSendmail(): void
    {
        $this->Mailer = 'sendmail';
        $this->fail($this->unsupportedMailer());
    }

    /**
     * Not supported: send() will fail, and in exceptions mode this throws.
     *
     * @throws Exception in exceptions mode
     */
    public function isQmail(): void
    {
        $this->Mailer = 'qmail';
        $this->fail($this->unsupportedMailer());
    }

    /** Body is HTML (true) or plain text (false). */
    public function isHTML($isHtml = true): void
    {
        $this->ContentType = $isHtml ? self::CONTENT_TYPE_TEXT_HTML : self::CONTENT_TYPE_PLAINTEXT;
    }

    /**
     * Composes and sends the message. False on failure, with ErrorInfo
     * saying why; in exceptions mode an Exception instead.
     *
     * @throws Exception in exceptions mode
     */
    public function send(): bool
    {
        return $this->preSend() && $this->postSend();
    }

    /**
     * Checks the settings and composes the message (as libsmtp objects,
     * not as bytes). False on failure, as send().
     *
     * @throws Exception in exceptions mode
     */
    public function preSend(): bool
    {
        $this->error_count = 0;
        $this->prepared = null;
        if ($this->Mailer !== 'smtp') {
            return $this->fail($this->unsupportedMailer());
        }
        $unsupported = $this->unsupportedSetting();
        if ($unsupported !== null) {
            return $this->fail($unsupported);
        }
        if (count($this->to) + count($this->cc) + count($this->bcc) < 1) {
            return $this->fail('You must provide at least one recipient email address.');
        }
        foreach (['From', 'Sender', 'ConfirmReadingTo'] as $kind) {
            $this->{$kind} = is_scalar($this->{$kind}) ? trim((string) $this->{$kind}) : '';
            if ($this->{$kind} !== '' && !static::validateAddress($this->{$kind})) {
                return $this->fail(sprintf('Invalid address:  (%s): %s', $kind, self::shown($this->{$kind})));
            }
        }
        if (!$this->AllowEmpty && empty($this->Body)) {
            return $this->fail('Message body empty');
        }
        $this->Subject = is_scalar($this->Subject) ? trim((string) $this->Subject) : '';
        try {
            $this->prepared = $this->compose();
        } catch (Exception $e) {
            return $this->fail($e->getMessage(), $e->getPrevious());
        } catch (SmtpException $e) {
            return $this->fail($e->getMessage(), $e);
        }
        return true;
    }

    /**
     * Sends the message preSend() composed. False on failure, as send().
     *
     * @throws Exception in exceptions mode
     */
    public function postSend(): bool
    {
        $message = $this->prepared;
        if ($message === null) {
            return $this->fail('postSend(): no message; call preSend() first');
        }
        $this->prepared = null;
        $error = null;
        $previous = null;
        try {
            $mailer = $this->connection;
            if ($mailer === null || !$mailer->isConnected()) {
                $this->dropConnection();
                $mailer = $this->connection = $this->connect();
            }
            $result = $mailer->send($message);
            if ($result->refused() !== []) {
                // As PHPMailer: the others got it, the call still fails.
                $error = 'SMTP Error: The following recipients failed: ' . self::refusedList($result->refused());
            }
        } catch (Exception $e) {
            [$error, $previous] = [$e->getMessage(), $e->getPrevious()];
        } catch (RecipientsRefusedException $e) {
            [$error, $previous] = ['SMTP Error: The following recipients failed: ' . self::refusedList($e->getRecipients()), $e];
        } catch (RejectedException $e) {
            [$error, $previous] = ['SMTP server error: ' . $e->getMessage(), $e];
        } catch (InvalidInputException $e) {
            [$error, $previous] = [$e->getMessage(), $e];
        } catch (SmtpException $e) {
            [$error, $previous] = ['SMTP Error: data not accepted. ' . $e->getMessage(), $e];
        } finally {
            if (!$this->SMTPKeepAlive) {
                $this->smtpClose();
            } elseif ($this->connection !== null && !$this->connection->isConnected()) {
                $this->dropConnection();
            }
        }
        return $error === null ? true : $this->fail($error, $previous);
    }

    /** Says QUIT and closes the connection kept open by SMTPKeepAlive. */
    public function smtpClose(): void
    {
        if ($this->connection !== null) {
            try {
                $this->connection->quit();
            } catch (SmtpException) {
                // Closing anyway.
            }
            $this->dropConnection();
        }
    }

    /**
     * Not supported: libsmtp composes the message while it sends it, and
     * its C API has no call that renders a composed message to bytes.
     *
     * @throws Exception always
     */
    public function getSentMIMEMessage(): string
    {
        throw new Exception('getSentMIMEMessage() is not supported by Smtp\Compat\PHPMailer: libsmtp composes the '
            . 'message while sending it and cannot hand back its bytes');
    }

    /** The Message-ID of the last message composed (by preSend() or send()). */
    public function getLastMessageID(): string
    {
        return $this->lastMessageID;
    }

    /** True when an error happened since the last preSend(). */
    public function isError(): bool
    {
        return $this->error_count > 0;
    }

    /**
     * Whether $address looks like an email address: with $patternselect
     * (default static::$validator) 'html5' the HTML form rule, a callable
     * (not a string) decides, anything else PHP's FILTER_VALIDATE_EMAIL.
     * Line breaks are always refused.
     */
    public static function validateAddress($address, $patternselect = null): bool
    {
        $patternselect ??= static::$validator;
        if (!is_string($patternselect) && is_callable($patternselect)) {
            return (bool) $patternselect($address);
        }
        if (!is_string($address) || strpbrk($address, "\r\n\0") !== false) {
            return false;
        }
        if ($patternselect === 'html5') {
            // The HTML "valid e-mail address" rule: local part of printable
            // specials, domain of dot-separated labels of at most 63 characters.
            return preg_match('/^[A-Za-z0-9.!#$%&\'*+\/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
                . '(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/D', $address) === 1;
        }
        return filter_var($address, FILTER_VALIDATE_EMAIL) !== false;
    }

    /** True when PHP's intl extension can convert international domain names. */
    public static function idnSupported(): bool
    {
        return function_exists('idn_to_ascii');
    }

    /** $str without line breaks, trimmed. */
    public function secureHeader($str): string
    {
        return trim(str_replace(["\r", "\n"], '', (string) $str));
    }

    /**
     * Sets a public property by name; false (and ErrorInfo) for one that does not exist.
     *
     * @throws Exception in exceptions mode
     */
    public function set($name, $value = ''): bool
    {
        if (is_string($name) && property_exists($this, $name) && (new \ReflectionProperty($this, $name))->isPublic()) {
            $this->{$name} = $value;
            return true;
        }
        return $this->fail('Cannot set or reset variable: ' . self::shown(is_scalar($name) ? (string) $name : ''));
    }

    /** Messages are in English only: true for 'en', false otherwise (as PHPMailer without the language file). */
    public function setLanguage($langcode = 'en', $lang_path = ''): bool
    {
        return $langcode === 'en';
    }

    /**
     * Any other PHPMailer method (msgHTML(), sign(), setOAuth(),
     * getSMTPInstance(), smtpConnect()...): not supported.
     *
     * @param array<mixed> $arguments
     * @throws Exception always
     */
    public function __call(string $name, array $arguments): mixed
    {
        throw new Exception("PHPMailer::$name() is not supported by Smtp\\Compat\\PHPMailer "
            . '(see the bindings README, "Already using PHPMailer?")');
    }

    /**
     * PHPMailer's static helpers (rfcDate(), normalizeBreaks()...) are not
     * provided either: an Exception naming the method, not a fatal error.
     *
     * @param array<mixed> $arguments
     * @throws Exception
     */
    public static function __callStatic(string $name, array $arguments): mixed
    {
        throw new Exception("PHPMailer::$name() is not supported by Smtp\\Compat\\PHPMailer "
            . '(see the bindings README, "Already using PHPMailer?")');
    }

    /**
     * The public state for var_dump() and print_r(), the password hidden.
     *
     * @return array<string, mixed>
     */
    public function __debugInfo(): array
    {
        $info = [];
        foreach ((new \ReflectionObject($this))->getProperties(\ReflectionProperty::IS_PUBLIC) as $property) {
            if (!$property->isStatic()) {
                $info[$property->getName()] = $property->getValue($this);
            }
        }
        if ($info['Password'] !== '' && $info['Password'] !== null) {
            $info['Password'] = '[credentials hidden]';
        }
        $info['connected'] = $this->connection?->isConnected() ?? false;
        return $info;
    }

    /**
     * Records an error: ErrorInfo, the debug output, and in exceptions
     * mode an Exception. Returns false for `return $this->fail(...)`.
     *
     * @throws Exception in exceptions mode
     */
    protected function fail(string $message, ?\Throwable $previous = null): bool
    {
        $this->error_count++;
        $this->ErrorInfo = $message;
        $this->edebug($message);
        if ($this->exceptions) {
            throw new Exception($message, 0, $previous);
        }
        return false;
    }

    /** Writes a debug line when SMTPDebug is on. */
    protected function edebug(string $text): void
    {
        DebugOutput::write($this->Debugoutput, (int) $this->SMTPDebug, $text);
    }

    /** "sendmail mailer is not supported..." for the current Mailer. */
    private function unsupportedMailer(): string
    {
        $mailer = is_scalar($this->Mailer) ? self::shown((string) $this->Mailer) : get_debug_type($this->Mailer);
        return "$mailer mailer is not supported. Smtp\\Compat\\PHPMailer sends through SMTP only: call isSMTP()";
    }

    /** What set setting cannot be honoured, or null. */
    private function unsupportedSetting(): ?string
    {
        foreach (self::UNSUPPORTED as $property => $off) {
            if (!empty($this->{$property}) && $this->{$property} !== $off) {
                $what = str_starts_with($property, 'DKIM_') ? 'DKIM signing' : $property;
                return "$property is set, but $what is not supported by Smtp\\Compat\\PHPMailer";
            }
        }
        if (is_string($this->AuthType) && strtoupper($this->AuthType) === 'XOAUTH2') {
            return 'AuthType XOAUTH2 (setOAuth()) is not supported by Smtp\Compat\PHPMailer; '
                . 'Smtp\Mailer takes OAuth 2.0 tokens (token:)';
        }
        if (!in_array($this->Encoding, [self::ENCODING_7BIT, self::ENCODING_8BIT, self::ENCODING_BASE64,
            self::ENCODING_BINARY, self::ENCODING_QUOTED_PRINTABLE], true)) {
            return 'Unknown encoding: ' . self::shown(is_scalar($this->Encoding) ? (string) $this->Encoding : '');
        }
        return null;
    }

    /** @param list<\Smtp\RecipientResult> $refused "a@x: 550 5.1.1 text, b@y: ..." */
    private static function refusedList(array $refused): string
    {
        return implode(', ', array_map(static fn ($r): string => $r->address . ': ' . $r->reply(), $refused));
    }
}
