<?php

/**
 * opcache.preload script: loads libsmtp's FFI header once, at server
 * start, so that requests find it with FFI::scope("SMTP"). Needed under
 * php-fpm, where by default (ffi.enable=preload) only preloaded code may
 * use FFI. Also preloads the bindings' classes.
 *
 * php.ini (e.g. /etc/php/8.2/fpm/conf.d/90-smtp.ini):
 *
 *     ffi.enable=preload
 *     ffi.preload=/path/to/bindings/php/ffi/smtp.h
 *     opcache.enable=1
 *     opcache.preload=/path/to/bindings/php/preload.php
 *     opcache.preload_user=www-data
 *
 * Both preload lines are needed: with ffi.enable=preload only functions
 * compiled during preloading may call FFI::scope() (or FFI::cdef()), so
 * the bindings' classes must be preloaded; ffi.preload declares the scope
 * (FFI::load() here does it too, but PHP refuses it when
 * opcache.preload_user is set, which php-fpm started as root requires).
 *
 * ffi.preload finds the library under its SONAME, libsmtp.so.0, on the
 * loader's path (`make -C bindings/c install` + ldconfig puts it in
 * /usr/local/lib); elsewhere, write a header naming it with
 * `SMTP_FFI_LIB=/opt/lib/libsmtp.so.0 bindings/php/generate-header.sh /etc/php/smtp.h`
 * and preload that. Requests then need no configuration: Smtp\Ffi\Library
 * uses the preloaded scope. Restart php-fpm after upgrading libsmtp.
 */

declare(strict_types=1);

require __DIR__ . '/autoload.php';

try {
    Smtp\Ffi\Library::preload();
} catch (Smtp\Exception\LibraryException $e) {
    // E.g. FFI::load() refused with opcache.preload_user (php-fpm started as
    // root). The preloaded classes below still work: they may call
    // FFI::cdef() at run time because they are preloaded; ffi.preload
    // (README.md) saves parsing the header on every request.
    error_log('smtp preload: no FFI scope (' . $e->getMessage() . '); requests will load libsmtp with FFI::cdef');
}

// Compile every class into shared memory (the autoloader requires each
// file, parents first). Not src/Symfony: it extends Symfony's classes,
// which need not be installed (and are not loadable here), and it calls
// FFI only through the preloaded Mailer, so it loads with the framework.
$files = new RecursiveIteratorIterator(new RecursiveDirectoryIterator(__DIR__ . '/src', FilesystemIterator::SKIP_DOTS));
foreach ($files as $file) {
    if ($file->getExtension() === 'php' && !str_starts_with($file->getPathname(), __DIR__ . '/src/Symfony/')) {
        $class = 'Smtp\\' . str_replace('/', '\\', substr($file->getPathname(), strlen(__DIR__ . '/src/'), -4));
        class_exists($class) || interface_exists($class) || enum_exists($class);
    }
}
class_exists('send_mail');
