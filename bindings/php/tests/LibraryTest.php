<?php

declare(strict_types=1);

namespace Smtp\Tests;

use Smtp\Exception\InvalidInputException;
use Smtp\Exception\LibraryException;
use Smtp\Ffi\Library;
use Smtp\Mailer;
use Smtp\Message;

/**
 * Finding and loading libsmtp: explicit path, SMTP_LIBRARY, the default
 * install path and the loader's path; the version check at load.
 * Cases that need a fresh process run PHP in a child process (bounded).
 */
final class LibraryTest extends SmtpTestCase
{
    /** The library under test (SMTP_LIBRARY), or a skipped test. */
    private static function freshLibrary(): string
    {
        $path = getenv('SMTP_LIBRARY');
        if (!is_string($path) || $path === '') {
            self::markTestSkipped('SMTP_LIBRARY is not set (run-tests.sh sets it to the fresh build)');
        }
        return $path;
    }

    /**
     * Runs PHP code in a child process with the given environment
     * (SMTP_LIBRARY removed unless given) and returns [exit code, output].
     *
     * @param array<string, string> $env
     * @return array{int, string}
     */
    private static function runPhp(string $code, array $env = [], ?string $bindings = null): array
    {
        $bindings ??= dirname(__DIR__);
        $base = getenv();
        unset($base['SMTP_LIBRARY'], $base['LD_LIBRARY_PATH']);
        $script = '<?php require ' . var_export("$bindings/autoload.php", true) . ";\n" . $code;
        $file = tempnam(sys_get_temp_dir(), 'smtp-php-child');
        file_put_contents($file, $script);
        try {
            $process = proc_open(['timeout', '20', PHP_BINARY, $file], [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes, null, $env + $base);
            $output = stream_get_contents($pipes[1]);
            fclose($pipes[1]);
            $rc = proc_close($process);
        } finally {
            unlink($file);
        }
        return [$rc, (string) $output];
    }

    public function testTheLoadedLibraryMatchesTheHeader(): void
    {
        $library = Library::get();
        $this->assertSame(Library::headerVersion(), $library->version());
        $this->assertSame(self::freshLibrary(), $library->origin());
    }

    public function testVersionCompatibilityRules(): void
    {
        $this->assertTrue(Library::isCompatible('0.1.0', '0.1.0'));
        $this->assertTrue(Library::isCompatible('0.1.7', '0.1.0'));
        $this->assertTrue(Library::isCompatible('0.1.0', '0.1.3'), 'patch releases keep the ABI');
        $this->assertFalse(Library::isCompatible('0.2.0', '0.1.0'), '0.x minors may break the ABI');
        $this->assertFalse(Library::isCompatible('0.1.0', '0.2.0'));
        $this->assertTrue(Library::isCompatible('1.3.0', '1.2.0'));
        $this->assertFalse(Library::isCompatible('1.1.0', '1.2.0'));
        $this->assertFalse(Library::isCompatible('2.0.0', '1.2.0'));
        $this->assertFalse(Library::isCompatible('garbage', '0.1.0'));
        $this->assertTrue(Library::isCompatible('0.1.0-rc.1', '0.1.0'));
    }

    public function testExplicitPathGivesAnIndependentInstance(): void
    {
        $other = Library::load(self::freshLibrary());
        $this->assertNotSame(Library::get(), $other);
        $this->assertSame(Library::headerVersion(), $other->version());
        // Messages belong to their library: mixing them is refused, not undefined.
        $message = new Message(from: 'a@example.test', to: 'b@example.test', library: $other);
        $mailer = new Mailer(host: '127.0.0.1', port: 1, security: 'none');
        $this->expectException(InvalidInputException::class);
        $mailer->send($message);
    }

    public function testUseLibraryAfterLoadingIsRefused(): void
    {
        Library::get();
        $this->expectException(LibraryException::class);
        Library::useLibrary('/some/other/libsmtp.so');
    }

    public function testEnvironmentVariableNamesTheLibrary(): void
    {
        [$rc, $out] = self::runPhp('echo Smtp\Ffi\Library::get()->origin();', ['SMTP_LIBRARY' => self::freshLibrary()]);
        $this->assertSame(0, $rc, $out);
        $this->assertSame(self::freshLibrary(), $out);

        [$rc, $out] = self::runPhp(
            'try { Smtp\Ffi\Library::get(); } catch (Smtp\Exception\LibraryException $e) { echo $e->getMessage(); }',
            ['SMTP_LIBRARY' => '/nonexistent/libsmtp.so.0'],
        );
        $this->assertSame(0, $rc, $out);
        $this->assertStringContainsString('/nonexistent/libsmtp.so.0', $out);
        $this->assertStringContainsString('SMTP_LIBRARY', $out);
    }

    public function testUseLibraryBeforeFirstUse(): void
    {
        [$rc, $out] = self::runPhp(
            'Smtp\Ffi\Library::useLibrary(' . var_export(self::freshLibrary(), true) . '); echo Smtp\Ffi\Library::get()->origin();',
        );
        $this->assertSame(0, $rc, $out);
        $this->assertSame(self::freshLibrary(), $out);
    }

    public function testDefaultInstallPathThenTheLoadersPath(): void
    {
        $code = 'try { echo Smtp\Ffi\Library::get()->origin(); } '
            . 'catch (Smtp\Exception\LibraryException $e) { echo "ERROR ", $e->getMessage(); }';
        if (is_file(Library::DEFAULT_PATH)) {
            [, $out] = self::runPhp($code);
            $this->assertSame(Library::DEFAULT_PATH, $out);
            return;
        }
        [, $out] = self::runPhp($code);
        if (!str_starts_with($out, 'ERROR ')) {
            // Installed on the loader's path already (the Debian package of
            // `make deb`, or ldconfig after an install elsewhere): found under
            // its SONAME without configuration, which is what the rest checks.
            $this->assertSame(Library::SONAME, $out);
            return;
        }
        $this->assertStringStartsWith('ERROR ', $out);
        $this->assertStringContainsString(Library::DEFAULT_PATH, $out);
        $this->assertStringContainsString('make -C bindings/c install', $out);

        // On the loader's path under its SONAME, it is found without configuration.
        $dir = sys_get_temp_dir() . '/smtp-php-soname-' . getmypid();
        @mkdir($dir);
        $link = "$dir/" . Library::SONAME;
        @unlink($link);
        symlink(self::freshLibrary(), $link);
        try {
            [$rc, $out] = self::runPhp($code, ['LD_LIBRARY_PATH' => $dir]);
        } finally {
            unlink($link);
            rmdir($dir);
        }
        $this->assertSame(0, $rc, $out);
        $this->assertSame(Library::SONAME, $out);
    }

    public function testVersionMismatchIsAClearException(): void
    {
        // A copy of the bindings whose header claims another version.
        $copy = sys_get_temp_dir() . '/smtp-php-mismatch-' . getmypid();
        $source = dirname(__DIR__);
        exec('rm -rf ' . escapeshellarg($copy) . ' && mkdir -p ' . escapeshellarg($copy) . ' && cp -r '
            . escapeshellarg("$source/src") . ' ' . escapeshellarg("$source/ffi") . ' ' . escapeshellarg("$source/legacy")
            . ' ' . escapeshellarg("$source/autoload.php") . ' ' . escapeshellarg($copy), $o, $rc);
        $this->assertSame(0, $rc);
        $header = "$copy/ffi/smtp.h";
        file_put_contents($header, preg_replace(
            '/^#define SMTP_VERSION_STRING "[^"]+"/m',
            '#define SMTP_VERSION_STRING "9.9.0"',
            (string) file_get_contents($header),
        ));
        try {
            [$rc, $out] = self::runPhp(
                'try { Smtp\Ffi\Library::get(); echo "loaded"; } catch (Smtp\Exception\LibraryException $e) { echo $e->getMessage(); }',
                ['SMTP_LIBRARY' => self::freshLibrary()],
                $copy,
            );
        } finally {
            exec('rm -rf ' . escapeshellarg($copy));
        }
        $this->assertSame(0, $rc, $out);
        $this->assertStringContainsString('is version ' . Library::headerVersion(), $out);
        $this->assertStringContainsString('9.9.0', $out);

        // The legacy class reports it as a failed send, not a crash.
        $copy2 = $copy . '-legacy';
        exec('mkdir -p ' . escapeshellarg($copy2) . ' && cp -r ' . escapeshellarg("$source/src") . ' '
            . escapeshellarg("$source/ffi") . ' ' . escapeshellarg("$source/legacy") . ' '
            . escapeshellarg("$source/autoload.php") . ' ' . escapeshellarg($copy2));
        file_put_contents("$copy2/ffi/smtp.h", preg_replace(
            '/^#define SMTP_VERSION_STRING "[^"]+"/m',
            '#define SMTP_VERSION_STRING "9.9.0"',
            (string) file_get_contents("$copy2/ffi/smtp.h"),
        ));
        try {
            [$rc, $out] = self::runPhp(
                '$m = new send_mail("127.0.0.1:1"); var_export($m->send("a@example.test", "b@example.test", "s", "m")); echo " ", $m->lastmessage;',
                ['SMTP_LIBRARY' => self::freshLibrary()],
                $copy2,
            );
        } finally {
            exec('rm -rf ' . escapeshellarg($copy2));
        }
        $this->assertSame(0, $rc, $out);
        $this->assertStringStartsWith('false ', $out);
        $this->assertStringContainsString('9.9.0', $out);
    }
}
