<?php

/**
 * PHPUnit bootstrap: the bindings' autoloader, the library under test
 * (SMTP_LIBRARY, set by run-tests.sh to the freshly built one), and an
 * error handler that turns every PHP warning, notice and deprecation
 * into a failure: the bindings promise exceptions, never warnings.
 */

declare(strict_types=1);

require_once dirname(__DIR__) . '/autoload.php';
require_once __DIR__ . '/TestBed.php';
require_once __DIR__ . '/ScriptedServer.php';
require_once __DIR__ . '/IdleProxy.php';
require_once __DIR__ . '/SmtpTestCase.php';
require_once __DIR__ . '/SymfonyTestCase.php';
require_once __DIR__ . '/FastCgiClient.php';
require_once __DIR__ . '/FpmServer.php';
require_once __DIR__ . '/Wire.php';

set_error_handler(static function (int $severity, string $message, string $file, int $line): bool {
    if ((error_reporting() & $severity) === 0) {
        return false; // silenced with @ on purpose
    }
    throw new \ErrorException($message, 0, $severity, $file, $line);
});
