<?php

declare(strict_types=1);

namespace Smtp\Ffi;

use FFI;
use FFI\CData;
use Smtp\Exception\AttachmentReadException;
use Smtp\Exception\AuthenticationException;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\DeliveryUnknownException;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\LibraryException;
use Smtp\Exception\RecipientsRefusedException;
use Smtp\Exception\RejectedException;
use Smtp\Exception\SmtpException;
use Smtp\Exception\SpoolException;
use Smtp\Exception\TimeoutException;
use Smtp\Exception\TlsException;
use Smtp\Exception\UnsupportedException;
use Smtp\Internal\TokenRouter;
use Smtp\Internal\TranscriptRouter;
use Smtp\RecipientResult;

/**
 * libsmtp loaded through PHP's FFI: finding the library, checking its
 * version, and turning its result codes into exceptions.
 *
 * Where the library comes from, first match wins:
 *
 * 1. a path given to Library::load($path) or Library::useLibrary($path);
 * 2. the FFI scope "SMTP", when opcache preloaded the header
 *    (Library::preload(), see bindings/php/preload.php);
 * 3. the SMTP_LIBRARY environment variable (a path to libsmtp.so);
 * 4. the default install path, /usr/local/lib/libsmtp.so.0
 *    (`make -C bindings/c install`);
 * 5. "libsmtp.so.0" through the dynamic loader's search path (where the
 *    Debian package of `make deb` puts it: /usr/lib/<multiarch>).
 *
 * At load the library's smtp_version() must be compatible with the version
 * of the header the bindings carry (ffi/smtp.h): same major version, and
 * for 0.x the same minor; otherwise a LibraryException says which is which.
 */
final class Library
{
    /** The FFI scope name the PHP header declares (FFI_SCOPE). */
    public const SCOPE = 'SMTP';

    /** Environment variable naming the library file. */
    public const ENV_VAR = 'SMTP_LIBRARY';

    /** Where `make -C bindings/c install` (PREFIX=/usr/local) puts the library. */
    public const DEFAULT_PATH = '/usr/local/lib/libsmtp.so.0';

    /** The library's SONAME, found through the loader's search path. */
    public const SONAME = 'libsmtp.so.0';

    private static ?self $shared = null;

    private static ?string $configuredPath = null;

    private static ?string $headerText = null;

    /** The converted transcript callback, created on first use. */
    private ?CData $transcriptHolder = null;

    /** The converted token callback, created on first use. */
    private ?CData $tokenHolder = null;

    /** Use get(), load() or the preloaded scope. */
    private function __construct(
        private readonly FFI $ffi,
        private readonly string $version,
        private readonly string $origin,
    ) {
    }

    /**
     * The library every class uses unless given another: loaded on first
     * use (see the class comment for where from), then shared.
     *
     * @throws LibraryException
     */
    public static function get(): self
    {
        if (self::$shared === null) {
            if (self::$configuredPath !== null) {
                self::$shared = self::load(self::$configuredPath);
            } else {
                self::$shared = self::tryScope() ?? self::load();
            }
        }
        return self::$shared;
    }

    /**
     * Sets the library file get() loads; must be called before the first
     * use (afterwards it throws, rather than silently keeping the old one).
     * null goes back to the default search.
     *
     * @throws LibraryException|InvalidInputException
     */
    public static function useLibrary(mixed $path): void
    {
        $path = $path === null ? null : \Smtp\Internal\Arg::text($path, 'library path');
        if (self::$shared !== null && $path !== self::$configuredPath) {
            throw new LibraryException('libsmtp is already loaded (from ' . self::$shared->origin
                . '); call Library::useLibrary() before the first use');
        }
        self::$configuredPath = $path;
    }

    /**
     * Loads the library with FFI::cdef from $path, or from the first
     * candidate of the default search (environment variable, default
     * install path, the loader's path), and checks its version. Each call
     * loads a new instance; most code wants get().
     *
     * @throws LibraryException
     */
    public static function load(mixed $path = null): self
    {
        $path = $path === null ? null : \Smtp\Internal\Arg::text($path, 'library path');
        self::checkFfiAvailable();
        $candidate = $path ?? self::defaultCandidate();
        $header = self::headerText();
        try {
            $ffi = FFI::cdef($header, $candidate);
        } catch (\FFI\Exception $e) {
            throw self::loadFailure($candidate, $e);
        }
        return self::verified($ffi, $candidate);
    }

    /**
     * For opcache.preload (php-fpm, where FFI is limited to preloaded code
     * by default): declares the FFI scope "SMTP" with FFI::load so that
     * every request finds the library through FFI::scope(). Does nothing
     * when the scope exists already (ffi.preload=.../ffi/smtp.h). With a
     * $path, or SMTP_LIBRARY set, or the library at the default install
     * path, a copy of the header naming that file is loaded instead of the
     * committed one (whose FFI_LIB is the bare SONAME).
     *
     * PHP refuses FFI::load() together with opcache.preload_user (needed
     * when php-fpm starts as root): then use ffi.preload for the scope;
     * see bindings/php/README.md.
     *
     * @throws LibraryException
     */
    public static function preload(mixed $path = null): void
    {
        $path = $path === null ? null : \Smtp\Internal\Arg::text($path, 'library path');
        self::checkFfiAvailable();
        if ($path === null && self::tryScope() !== null) {
            return; // ffi.preload already declared the scope.
        }
        $candidate = $path ?? self::defaultCandidate();
        $headerFile = self::headerFile();
        $temporary = null;
        if ($candidate !== self::SONAME) {
            $text = preg_replace(
                '/^#define FFI_LIB .*$/m',
                '#define FFI_LIB ' . json_encode($candidate, JSON_UNESCAPED_SLASHES),
                self::headerText()
            );
            $temporary = tempnam(sys_get_temp_dir(), 'smtp-ffi-');
            if ($temporary === false || file_put_contents($temporary, $text) === false) {
                throw new LibraryException('cannot write a temporary header for preloading');
            }
            $headerFile = $temporary;
        }
        try {
            $ffi = FFI::load($headerFile);
        } catch (\FFI\Exception $e) {
            throw self::loadFailure($candidate, $e);
        } finally {
            if ($temporary !== null) {
                @unlink($temporary);
            }
        }
        if ($ffi === null) {
            throw new LibraryException("FFI::load could not load libsmtp from $candidate (see the PHP log)");
        }
        self::verified($ffi, $candidate);
    }

    /** The library found through the preloaded FFI scope, or null when there is none. */
    private static function tryScope(): ?self
    {
        if (!extension_loaded('ffi')) {
            return null;
        }
        try {
            $ffi = FFI::scope(self::SCOPE);
        } catch (\FFI\Exception) {
            return null;
        }
        return self::verified($ffi, 'FFI scope ' . self::SCOPE);
    }

    /** The file to load when no path was given. */
    private static function defaultCandidate(): string
    {
        $env = getenv(self::ENV_VAR);
        if (is_string($env) && $env !== '') {
            return $env;
        }
        if (is_file(self::DEFAULT_PATH)) {
            return self::DEFAULT_PATH;
        }
        return self::SONAME;
    }

    /** @throws LibraryException */
    private static function checkFfiAvailable(): void
    {
        if (!extension_loaded('ffi')) {
            throw new LibraryException('the FFI extension is not loaded: install and enable ext-ffi '
                . '(Debian: it is part of php8.2-cli / php8.2-fpm, enabled by 20-ffi.ini)');
        }
        $mode = strtolower((string) ini_get('ffi.enable'));
        if (in_array($mode, ['0', 'off', 'false', ''], true)) {
            throw new LibraryException('FFI is disabled (ffi.enable=0): set ffi.enable=preload and preload '
                . 'bindings/php/preload.php, or ffi.enable=1');
        }
    }

    /** The exception for a failed FFI::cdef/FFI::load, with what to do about it. */
    private static function loadFailure(string $candidate, \FFI\Exception $e): LibraryException
    {
        $why = $e->getMessage();
        if (stripos($why, 'restricted') !== false) {
            return new LibraryException("FFI is limited to preloaded code here (ffi.enable=preload): add "
                . "opcache.preload=/path/to/bindings/php/preload.php to php.ini (see bindings/php/README.md) "
                . "or set ffi.enable=1 ($why)", 0, 0, '', '', $e);
        }
        if (stripos($why, 'resolving') !== false) {
            // The file loaded but lacks a function the header declares: an
            // older or newer library. Say which version it is.
            $version = self::probeVersion($candidate);
            return new LibraryException("libsmtp at $candidate (version " . ($version ?? 'unknown')
                . ') does not match these PHP bindings, which need a version compatible with '
                . self::headerVersion() . ": $why", 0, 0, '', '', $e);
        }
        $hint = $candidate === self::SONAME
            ? ' (not at ' . self::DEFAULT_PATH . ' nor on the loader\'s path: install it with '
                . '`make -C bindings/c install` or the Debian package (`make deb`), or set '
                . self::ENV_VAR . ' to the path of libsmtp.so)'
            : ' (set ' . self::ENV_VAR . ' or pass the path of libsmtp.so)';
        return new LibraryException("cannot load libsmtp from $candidate$hint: $why", 0, 0, '', '', $e);
    }

    /** The version of the library at $path through a one-function declaration, null if even that fails. */
    private static function probeVersion(string $path): ?string
    {
        try {
            $probe = FFI::cdef('const char *smtp_version(void);', $path);
            $version = $probe->smtp_version();
            return is_string($version) ? $version : null;
        } catch (\Throwable) {
            return null;
        }
    }

    /** @throws LibraryException */
    private static function verified(FFI $ffi, string $origin): self
    {
        $version = $ffi->smtp_version();
        if (!is_string($version)) {
            throw new LibraryException("libsmtp from $origin returned no version");
        }
        $expected = self::headerVersion();
        if (!self::isCompatible($version, $expected)) {
            throw new LibraryException("libsmtp from $origin is version $version, but these PHP bindings "
                . "were generated from the header of version $expected: install a matching libsmtp, or "
                . 'regenerate bindings/php/ffi/smtp.h with bindings/php/generate-header.sh');
        }
        return new self($ffi, $version, $origin);
    }

    /**
     * True when a library of version $library can be used through a header
     * of version $header: the same major version and, for 0.x (where minor
     * versions may break the ABI), the same minor; for 1.x and later the
     * library's minor at least the header's.
     */
    public static function isCompatible(string $library, string $header): bool
    {
        $parse = static function (string $v): ?array {
            return preg_match('/^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/', $v, $m) === 1
                ? [(int) $m[1], (int) $m[2], (int) $m[3]]
                : null;
        };
        $lib = $parse($library);
        $hdr = $parse($header);
        if ($lib === null || $hdr === null || $lib[0] !== $hdr[0]) {
            return false;
        }
        return $lib[0] === 0 ? $lib[1] === $hdr[1] : $lib[1] >= $hdr[1];
    }

    /** The path of the PHP-ready header (generated, committed). */
    public static function headerFile(): string
    {
        return dirname(__DIR__, 2) . '/ffi/smtp.h';
    }

    /** @throws LibraryException */
    private static function headerText(): string
    {
        if (self::$headerText === null) {
            $text = @file_get_contents(self::headerFile());
            if ($text === false) {
                throw new LibraryException('cannot read the FFI header ' . self::headerFile());
            }
            self::$headerText = $text;
        }
        return self::$headerText;
    }

    /**
     * The libsmtp version the header was generated from (SMTP_VERSION_STRING).
     *
     * @throws LibraryException
     */
    public static function headerVersion(): string
    {
        if (preg_match('/^#define SMTP_VERSION_STRING "([^"]+)"/m', self::headerText(), $m) !== 1) {
            throw new LibraryException('the FFI header ' . self::headerFile() . ' has no SMTP_VERSION_STRING');
        }
        return $m[1];
    }

    /** The loaded library's version, e.g. "0.1.0". */
    public function version(): string
    {
        return $this->version;
    }

    /**
     * How many native handles (clients, messages, pools, outboxes) this
     * process holds: created and not yet freed. A php-fpm worker whose
     * requests free what they create sees the same number at the end of
     * every request; the php-fpm load test checks it.
     */
    public function liveHandles(): int
    {
        return (int) $this->ffi->smtp_live_handles();
    }

    /** Where the library came from: a path, or "FFI scope SMTP" when preloaded. */
    public function origin(): string
    {
        return $this->origin;
    }

    /**
     * The FFI instance, for the bindings' own classes.
     *
     * @internal
     */
    public function ffi(): FFI
    {
        return $this->ffi;
    }

    /**
     * Throws the exception for a result code other than SMTP_OK (0).
     *
     * @throws SmtpException
     * @internal
     */
    public function check(int $result, ?CData $client = null): void
    {
        if ($result !== 0) {
            throw $this->failure($result, $client);
        }
    }

    /**
     * The exception for a failed call, built from the calling thread's last
     * message, reply code, enhanced code and reply text; for refused
     * recipients with each recipient's reply (from $client).
     *
     * @internal
     */
    public function failure(int $result, ?CData $client = null, ?\Throwable $previous = null): SmtpException
    {
        $ffi = $this->ffi;
        $message = (string) $ffi->smtp_last_message();
        $code = (int) $ffi->smtp_last_reply_code();
        $enhanced = (string) $ffi->smtp_last_enhanced_code();
        $text = (string) $ffi->smtp_last_reply_text();
        $recipients = $result === 5 && $client !== null ? $this->recipients($client) : [];
        return $this->exception($result, $message, $code, $enhanced, $text, $recipients, $previous);
    }

    /**
     * The exception for result code $result (a `smtp_result` other than
     * SMTP_OK) with its details: the text ("" for the code's own), the
     * server's reply code, enhanced code and text, and for refused
     * recipients each recipient's reply. The class follows the code.
     *
     * @param list<RecipientResult> $recipients
     * @internal
     */
    public function exception(
        int $result,
        string $message,
        int $code = 0,
        string $enhanced = '',
        string $text = '',
        array $recipients = [],
        ?\Throwable $previous = null,
    ): SmtpException {
        if ($message === '') {
            $message = (string) $this->ffi->smtp_result_str($result);
        }
        $class = match ($result) {
            1, 9, 14, 15 => ConnectionException::class,
            2 => TimeoutException::class,
            3 => TlsException::class,
            4 => RejectedException::class,
            5 => RecipientsRefusedException::class,
            6, 7, 8 => AuthenticationException::class,
            10, 100, 101 => InvalidInputException::class,
            11 => UnsupportedException::class,
            12 => DeliveryUnknownException::class,
            13 => AttachmentReadException::class,
            16 => SpoolException::class,
            102 => LibraryException::class,
            default => SmtpException::class,
        };
        $exception = new $class($message, $result, $code, $enhanced, $text, $previous);
        if ($exception instanceof RecipientsRefusedException) {
            $exception->withRecipients($recipients);
        }
        return $exception;
    }

    /**
     * The per-recipient replies of the client's last send.
     *
     * @return list<RecipientResult>
     * @internal
     */
    public function recipients(CData $client): array
    {
        return $this->readRecipients('smtp_client_recipient_count', 'smtp_client_recipient', $client);
    }

    /**
     * The per-recipient replies of this thread's last send through the pool.
     *
     * @return list<RecipientResult>
     * @internal
     */
    public function poolRecipients(CData $pool): array
    {
        return $this->readRecipients('smtp_pool_recipient_count', 'smtp_pool_recipient', $pool);
    }

    /**
     * Per-recipient replies through a count function and an accessor
     * taking (handle, index, &address, &code, &enhanced, &text).
     *
     * @return list<RecipientResult>
     */
    private function readRecipients(string $countFunction, string $function, CData $handle): array
    {
        $ffi = $this->ffi;
        $count = (int) $ffi->$countFunction($handle);
        $address = $ffi->new('const char*');
        $code = $ffi->new('int');
        $enhanced = $ffi->new('const char*');
        $text = $ffi->new('const char*');
        $out = [];
        for ($i = 0; $i < $count; $i++) {
            $ok = $ffi->$function(
                $handle,
                $i,
                FFI::addr($address),
                FFI::addr($code),
                FFI::addr($enhanced),
                FFI::addr($text),
            );
            if (!$ok) {
                break;
            }
            $out[] = new RecipientResult(
                self::string($address),
                (int) $code->cdata,
                self::string($enhanced),
                self::string($text),
            );
        }
        return $out;
    }

    /**
     * A PHP string from a `const char *` the library returned ("" for NULL).
     *
     * @internal
     */
    public static function string(mixed $pointer): string
    {
        if (is_string($pointer)) {
            return $pointer;
        }
        if (!$pointer instanceof CData || FFI::isNull($pointer)) {
            return '';
        }
        return FFI::string($pointer);
    }

    /**
     * The C function pointer every client of this library passes to
     * smtp_client_set_transcript(): one converted closure for the whole
     * process (see TranscriptRouter for why). Its userdata points to the
     * client's int32 id.
     *
     * @internal
     */
    public function transcriptCallback(): CData
    {
        if ($this->transcriptHolder === null) {
            $ffi = $this->ffi;
            $holder = $ffi->new('smtp_transcript_callback[1]');
            $holder[0] = static function ($userdata, $direction, $line) use ($ffi): void {
                // Nothing may be thrown from here: it would have to unwind
                // through libsmtp, which PHP turns into a crash.
                try {
                    if (!$userdata instanceof CData) {
                        return;
                    }
                    $id = (int) $ffi->cast('int32_t*', $userdata)[0];
                    TranscriptRouter::deliver($id, (int) $direction, is_string($line) ? $line : '');
                } catch (\Throwable) {
                    // TranscriptRouter::deliver already keeps the sink's own errors.
                }
            };
            $this->transcriptHolder = $holder;
        }
        return $this->transcriptHolder[0];
    }

    /**
     * The one C token callback of this library (smtp_token_callback),
     * routing each request to the provider whose id `userdata` points to
     * (TokenRouter). Runs only inside a libsmtp call PHP made, on PHP's
     * thread (see TokenRouter).
     *
     * @internal
     */
    public function tokenCallback(): CData
    {
        if ($this->tokenHolder === null) {
            $ffi = $this->ffi;
            $holder = $ffi->new('smtp_token_callback[1]');
            $holder[0] = static function ($userdata, $buf, $cap, $expiresIn) use ($ffi): int {
                // Nothing may be thrown from here (it would unwind through
                // libsmtp): any failure is a nonzero return.
                try {
                    if (!$userdata instanceof CData || !$buf instanceof CData || !$expiresIn instanceof CData) {
                        return 1;
                    }
                    $id = (int) $ffi->cast('int32_t*', $userdata)[0];
                    $token = TokenRouter::fetch($id);
                    if ($token === null) {
                        return 2;
                    }
                    [$text, $seconds] = $token;
                    $length = strlen($text);
                    if ($length + 1 > (int) $cap) {
                        return 3;
                    }
                    if ($length > 0) {
                        FFI::memcpy($buf, $text, $length);
                    }
                    $buf[$length] = "\0";
                    $expiresIn[0] = $seconds;
                    return 0;
                } catch (\Throwable) {
                    return 4;
                }
            };
            $this->tokenHolder = $holder;
        }
        return $this->tokenHolder[0];
    }
}
