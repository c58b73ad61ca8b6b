<?php

declare(strict_types=1);

namespace Smtp\Tests;

use PHPUnit\Framework\TestCase;
use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\RecipientPolicy;
use Smtp\Security;
use Smtp\TranscriptDirection;

/**
 * The committed PHP header (ffi/smtp.h) is what generate-header.sh makes
 * from include/smtp.h, declares every function of it, and loads against
 * the freshly built library (SMTP_LIBRARY, set by run-tests.sh).
 */
final class FfiHeaderTest extends TestCase
{
    /** The repository root. */
    private static function root(): string
    {
        return dirname(__DIR__, 3);
    }

    /** @return list<string> the smtp_* functions declared in a header */
    private static function functions(string $header): array
    {
        preg_match_all('/\b(smtp_[a-z0-9_]+)\s*\(/', $header, $m);
        $names = array_values(array_unique($m[1]));
        sort($names);
        return $names;
    }

    public function testCommittedHeaderIsUpToDate(): void
    {
        $out = tempnam(sys_get_temp_dir(), 'smtp-php-header');
        try {
            exec(escapeshellarg(dirname(__DIR__) . '/generate-header.sh') . ' ' . escapeshellarg($out) . ' 2>&1', $output, $rc);
            $this->assertSame(0, $rc, implode("\n", $output));
            $this->assertSame(
                file_get_contents(Library::headerFile()),
                file_get_contents($out),
                'bindings/php/ffi/smtp.h is stale: run bindings/php/generate-header.sh',
            );
        } finally {
            @unlink($out);
        }
    }

    public function testEveryFunctionOfTheCHeaderIsDeclared(): void
    {
        $c = self::functions((string) file_get_contents(self::root() . '/include/smtp.h'));
        $php = self::functions((string) file_get_contents(Library::headerFile()));
        $this->assertNotEmpty($c);
        $this->assertSame($c, $php);
    }

    public function testHeaderLoadsAgainstTheFreshLibraryAndEveryFunctionResolves(): void
    {
        $library = getenv('SMTP_LIBRARY');
        if (!is_string($library) || $library === '') {
            $this->markTestSkipped('SMTP_LIBRARY is not set (run-tests.sh sets it to the fresh build)');
        }
        $header = (string) file_get_contents(Library::headerFile());
        // FFI::cdef resolves every declared function now; a missing one throws.
        $ffi = \FFI::cdef($header, $library);
        $this->assertSame(Library::headerVersion(), $ffi->smtp_version());
        foreach (self::functions($header) as $function) {
            $pointer = $ffi->$function;
            $this->assertInstanceOf(\FFI\CData::class, $pointer, $function);
            $this->assertFalse(\FFI::isNull($pointer), $function);
        }
        // The version macros match the C header's.
        $c = (string) file_get_contents(self::root() . '/include/smtp.h');
        preg_match('/#define SMTP_VERSION_STRING "([^"]+)"/', $c, $m);
        $this->assertSame($m[1], Library::headerVersion());
    }

    public function testEnumValuesMatchThePhpClasses(): void
    {
        $ffi = Library::get()->ffi();
        foreach (SmtpException::RESULT_NAMES as $value => $name) {
            $this->assertSame($value, $ffi->$name, $name);
            $this->assertNotSame('unknown result code', $ffi->smtp_result_str($value), $name);
        }
        $this->assertSame(Security::Default->value, $ffi->SMTP_SECURITY_DEFAULT);
        $this->assertSame(Security::StartTls->value, $ffi->SMTP_SECURITY_STARTTLS);
        $this->assertSame(Security::Implicit->value, $ffi->SMTP_SECURITY_IMPLICIT);
        $this->assertSame(Security::StartTlsIfOffered->value, $ffi->SMTP_SECURITY_STARTTLS_IF_OFFERED);
        $this->assertSame(Security::None->value, $ffi->SMTP_SECURITY_NONE);
        $this->assertSame(RecipientPolicy::DeliverToAccepted->value, $ffi->SMTP_RECIPIENTS_DELIVER_TO_ACCEPTED);
        $this->assertSame(RecipientPolicy::AllOrNothing->value, $ffi->SMTP_RECIPIENTS_ALL_OR_NOTHING);
        $this->assertSame(TranscriptDirection::Sent->value, $ffi->SMTP_DIRECTION_SENT);
        $this->assertSame(TranscriptDirection::Received->value, $ffi->SMTP_DIRECTION_RECEIVED);
        $this->assertSame(TranscriptDirection::Info->value, $ffi->SMTP_DIRECTION_INFO);
    }

    public function testHeaderHasTheScopeAndLibraryForPreloading(): void
    {
        $header = (string) file_get_contents(Library::headerFile());
        $this->assertStringContainsString('#define FFI_SCOPE "SMTP"', $header);
        $this->assertStringContainsString('#define FFI_LIB "libsmtp.so.0"', $header);
        $this->assertStringNotContainsString('extern "C"', $header);
        $this->assertStringNotContainsString('#include', $header);
    }
}
