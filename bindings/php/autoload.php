<?php

/**
 * Autoloader for the Smtp bindings without Composer: `require` this file
 * (Composer users get the same through composer.json's PSR-4 map).
 * Maps Smtp\Foo\Bar to src/Foo/Bar.php, and the legacy class send_mail
 * to legacy/sendmail.class.php.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if ($class === 'send_mail') {
        require_once __DIR__ . '/legacy/sendmail.class.php';
        return;
    }
    if (strncmp($class, 'Smtp\\', 5) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 5)) . '.php';
    if (is_file($file)) {
        require_once $file;
    }
});
