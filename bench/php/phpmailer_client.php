<?php
/*
 * PHPMailer 6 (Debian's libphp-phpmailer) under benchmark.
 *
 * PHPMailer::send() with SMTPKeepAlive = true does, per message, exactly
 * this on its SMTP object: MAIL, one RCPT per recipient, DATA with the
 * message, then RSET to keep the connection ready for the next one. We make
 * those calls on PHPMailer's own SMTP class with the same pre-formatted
 * message every client sends, so the work is the same as the other clients'
 * raw sends (no composition). Connection and AUTH PLAIN happen before the
 * clock starts. Prints the "RESULT {json}" line every client prints (see
 * bench/src/lib.rs for the BENCH_* variables).
 */

declare(strict_types=1);

$autoload = getenv('PHPMAILER_AUTOLOAD') ?: '/usr/share/php/libphp-phpmailer/autoload.php';
require $autoload;

use PHPMailer\PHPMailer\SMTP;

function bench_env(string $name, ?string $default = null): ?string
{
    $v = getenv($name);
    return ($v === false || $v === '') ? $default : $v;
}

/* [user + system, user] CPU seconds of this process so far. */
function cpu_seconds(): array
{
    $ru = getrusage();
    $user = $ru['ru_utime.tv_sec'] + $ru['ru_utime.tv_usec'] / 1e6;
    return [$user + $ru['ru_stime.tv_sec'] + $ru['ru_stime.tv_usec'] / 1e6, $user];
}

/* Peak RSS in KiB (VmHWM in /proc/self/status), 0 if unknown. */
function peak_rss_kb(): int
{
    $status = @file_get_contents('/proc/self/status');
    if ($status !== false && preg_match('/^VmHWM:\s+(\d+) kB/m', $status, $m)) {
        return (int) $m[1];
    }
    return 0;
}

function fail(string $what, SMTP $smtp): void
{
    fwrite(STDERR, "phpmailer_client: $what failed: " . json_encode($smtp->getError()) . "\n");
    exit(1);
}

$host = bench_env('BENCH_HOST', '127.0.0.1');
if (!in_array($host, ['127.0.0.1', '::1', 'localhost'], true)) {
    fwrite(STDERR, "phpmailer_client: BENCH_HOST must be a loopback address\n");
    exit(2);
}
$port = (int) bench_env('BENCH_PORT', '0');
$count = (int) bench_env('BENCH_COUNT', '0');
$from = (string) bench_env('BENCH_FROM', '');
$rcpts = array_values(array_filter(array_map('trim', explode(',', (string) bench_env('BENCH_RCPTS', '')))));
$message = file_get_contents((string) bench_env('BENCH_MESSAGE', ''));
if ($port <= 0 || $from === '' || !$rcpts || $message === false) {
    fwrite(STDERR, "phpmailer_client: BENCH_PORT, BENCH_FROM, BENCH_RCPTS and BENCH_MESSAGE are required\n");
    exit(2);
}

$smtp = new SMTP();
$smtp->Timelimit = 120;
$smtp->Timeout = 120;
if (!$smtp->connect($host, $port, 30)) {
    fail('connect', $smtp);
}
if (!$smtp->hello('bench.example.test')) {
    fail('EHLO', $smtp);
}
$user = bench_env('BENCH_USER');
$password = bench_env('BENCH_PASSWORD');
if ($user !== null && $password !== null && !$smtp->authenticate($user, $password, 'PLAIN')) {
    fail('AUTH', $smtp);
}

$wall0 = hrtime(true);
[$cpu0, $user0] = cpu_seconds();
for ($i = 0; $i < $count; $i++) {
    if (!$smtp->mail($from)) {
        fail('MAIL', $smtp);
    }
    foreach ($rcpts as $rcpt) {
        if (!$smtp->recipient($rcpt)) {
            fail('RCPT', $smtp);
        }
    }
    if (!$smtp->data($message)) {
        fail('DATA', $smtp);
    }
    if (!$smtp->reset()) {
        fail('RSET', $smtp);
    }
}
$wall = (hrtime(true) - $wall0) / 1e9;
[$cpu1, $user1] = cpu_seconds();
$smtp->quit();
$smtp->close();
echo 'RESULT ' . json_encode([
    'client' => 'phpmailer',
    'messages' => $count,
    'seconds' => $wall,
    'cpu_seconds' => $cpu1 - $cpu0,
    'cpu_user_seconds' => $user1 - $user0,
    'bytes' => strlen($message) * $count,
    'peak_rss_kb' => peak_rss_kb(),
]) . "\n";
