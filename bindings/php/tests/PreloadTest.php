<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * The php-fpm setup: with ffi.enable=preload, code outside preloading may
 * not use FFI, so the bindings must work from opcache.preload (and
 * ffi.preload). PHP's built-in web server applies that restriction like
 * php-fpm does (only the CLI is exempt), so it stands in for php-fpm here:
 * a request that is not preloaded sends mail through the modern API and
 * the legacy class, and checks that it could not have called FFI itself.
 */
final class PreloadTest extends SmtpTestCase
{
    /** A loopback port nobody listens on now. */
    private static function freePort(): int
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($server, false);
        fclose($server);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    /**
     * Starts `php -S` with the given ini settings, requests the test page
     * once, stops the server, and returns [page, server log].
     *
     * @param list<string> $ini
     * @param array<string, string> $env
     * @param list<string> $prefix a command to run PHP under (e.g. to change user)
     * @return array{string, string}
     */
    private function serve(array $ini, array $env, string $query, array $prefix = []): array
    {
        $docroot = sys_get_temp_dir() . '/smtp-php-docroot-' . getmypid();
        @mkdir($docroot);
        chmod($docroot, 0755);
        file_put_contents("$docroot/send.php", <<<'PHP'
            <?php
            // Not preloaded: everything FFI happens inside the preloaded classes.
            try { FFI::cdef('int abs(int);'); echo "cdef-allowed\n"; } catch (Throwable $e) { echo "cdef-restricted\n"; }
            echo 'origin: ', Smtp\Ffi\Library::get()->origin(), "\n";
            $lines = 0;
            $mailer = new Smtp\Mailer(host: '127.0.0.1', port: (int) $_GET['port'], security: 'none', timeout: 10,
                transcript: function ($direction, $line) use (&$lines) { $lines++; });
            $result = $mailer->send(new Smtp\Message(from: 'web@example.test', to: 'web-rcpt@example.test',
                subject: $_GET['marker'], text: "sent from a request\n"));
            echo 'modern: ', $result->code, ' lines: ', $lines, "\n";
            $legacy = new send_mail('127.0.0.1:' . (int) $_GET['port'], false, '', '', 'web', true);
            ob_start();
            $ok = $legacy->send('web-rcpt@example.test', 'web@example.test', $_GET['marker'] . '-legacy', 'x');
            $debug = ob_get_clean();
            echo 'legacy: ', var_export($ok, true), ' html-debug: ', var_export(str_contains($debug, '<font color=#999999>&gt;&gt; </font>EHLO web<br>'), true), "\n";
            PHP);
        chmod("$docroot/send.php", 0644);
        $port = self::freePort();
        $command = [...$prefix, PHP_BINARY, '-n'];
        foreach (array_merge(['extension=ffi', 'zend_extension=opcache', 'opcache.enable=1', 'ffi.enable=preload'], $ini) as $setting) {
            $command[] = '-d';
            $command[] = $setting;
        }
        array_push($command, '-S', "127.0.0.1:$port", '-t', $docroot);
        $log = tempnam(sys_get_temp_dir(), 'smtp-php-server');
        chmod($log, 0666);
        $base = getenv();
        unset($base['SMTP_LIBRARY']);
        $process = proc_open($command, [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'w'], 2 => ['file', $log, 'w']],
            $pipes, $docroot, $env + $base);
        try {
            // Wait (bounded) for the server to listen, then request the page.
            $page = false;
            $deadline = microtime(true) + 10;
            while ($page === false && microtime(true) < $deadline) {
                usleep(100_000);
                $connection = @fsockopen('127.0.0.1', $port, $errno, $errstr, 1);
                if ($connection !== false) {
                    fclose($connection);
                    $context = stream_context_create(['http' => ['timeout' => 20, 'ignore_errors' => true]]);
                    $page = @file_get_contents("http://127.0.0.1:$port/send.php?$query", false, $context);
                }
            }
        } finally {
            proc_terminate($process);
            proc_close($process);
            $serverLog = (string) file_get_contents($log);
            unlink($log);
            unlink("$docroot/send.php");
            rmdir($docroot);
        }
        return [(string) $page, $serverLog];
    }

    /** A directory on which the library is found under its SONAME. */
    private function sonameDirectory(): string
    {
        $library = getenv('SMTP_LIBRARY');
        if (!is_string($library) || $library === '') {
            $this->markTestSkipped('SMTP_LIBRARY is not set (run-tests.sh sets it to the fresh build)');
        }
        $dir = sys_get_temp_dir() . '/smtp-php-preload-lib-' . getmypid();
        @mkdir($dir);
        chmod($dir, 0755);
        @unlink("$dir/libsmtp.so.0");
        symlink($library, "$dir/libsmtp.so.0");
        return $dir;
    }

    /** The request ran with FFI restricted and sent both messages. */
    private function assertRequestSent(string $page, string $log, string $marker, string $origin): void
    {
        $this->assertStringContainsString('cdef-restricted', $page, "FFI was not restricted:\n$page\n$log");
        $this->assertStringContainsString("origin: $origin", $page, $page . $log);
        $this->assertMatchesRegularExpression('/modern: 250 lines: [1-9]/', $page, $page . $log);
        $this->assertStringContainsString('legacy: true html-debug: true', $page, $page . $log);
        $this->bed()->waitForMessages($marker, 2);
    }

    public function testFfiPreloadPlusOpcachePreloadAsInPhpFpm(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-preload-ffi');
        $dir = $this->sonameDirectory();
        try {
            [$page, $log] = $this->serve(
                [
                    'ffi.preload=' . dirname(__DIR__) . '/ffi/smtp.h',
                    'opcache.preload=' . dirname(__DIR__) . '/preload.php',
                    'opcache.preload_user=' . (posix_getpwuid(posix_geteuid())['name'] ?? 'root'),
                ],
                ['LD_LIBRARY_PATH' => $dir],
                http_build_query(['port' => $bed->port('noauth'), 'marker' => $marker]),
            );
        } finally {
            unlink("$dir/libsmtp.so.0");
            rmdir($dir);
        }
        $this->assertRequestSent($page, $log, $marker, 'FFI scope SMTP');
    }

    public function testOpcachePreloadAloneLetsThePreloadedClassesLoadTheLibrary(): void
    {
        $bed = $this->bed();
        $marker = TestBed::marker('php-preload-cdef');
        [$page, $log] = $this->serve(
            [
                'opcache.preload=' . dirname(__DIR__) . '/preload.php',
                'opcache.preload_user=' . (posix_getpwuid(posix_geteuid())['name'] ?? 'root'),
            ],
            ['SMTP_LIBRARY' => (string) getenv('SMTP_LIBRARY')],
            http_build_query(['port' => $bed->port('noauth'), 'marker' => $marker]),
        );
        $this->assertRequestSent($page, $log, $marker, (string) getenv('SMTP_LIBRARY'));
    }

    public function testOpcachePreloadWithFfiLoadWhenNotRoot(): void
    {
        $bed = $this->bed();
        if (posix_geteuid() !== 0 || !is_executable('/usr/bin/setpriv') || posix_getpwnam('nobody') === false) {
            // Not root: this process itself is the non-root case.
            $prefix = [];
        } else {
            $prefix = ['/usr/bin/setpriv', '--reuid=nobody', '--regid=' . (posix_getgrnam('nogroup') !== false ? 'nogroup' : 'nobody'),
                '--clear-groups'];
        }
        $marker = TestBed::marker('php-preload-load');
        [$page, $log] = $this->serve(
            ['opcache.preload=' . dirname(__DIR__) . '/preload.php'],
            ['SMTP_LIBRARY' => (string) getenv('SMTP_LIBRARY')],
            http_build_query(['port' => $bed->port('noauth'), 'marker' => $marker]),
            $prefix,
        );
        $this->assertRequestSent($page, $log, $marker, 'FFI scope SMTP');
    }
}
