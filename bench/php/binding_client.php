<?php
/*
 * This project's PHP binding (bindings/php: Smtp\Mailer over libsmtp through
 * FFI) under benchmark: one Mailer, connected once (AUTH PLAIN when
 * BENCH_USER/BENCH_PASSWORD are set, no TLS on loopback), then BENCH_COUNT
 * calls of Mailer::sendRaw() with the same pre-formatted message and an
 * explicit envelope, like every other client. The library comes from
 * SMTP_LIBRARY (the harness points it at target/release/libsmtp.so).
 * Prints the "RESULT {json}" line every client prints (see bench/src/lib.rs
 * for the BENCH_* variables).
 *
 * With BENCH_STREAM=1 the message streams from its file with
 * Mailer::sendRawFile() instead of being read into a string first.
 */

declare(strict_types=1);

require dirname(__DIR__, 2) . '/bindings/php/autoload.php';

use Smtp\Mailer;

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

$host = bench_env('BENCH_HOST', '127.0.0.1');
if (!in_array($host, ['127.0.0.1', '::1', 'localhost'], true)) {
    fwrite(STDERR, "binding_client: BENCH_HOST must be a loopback address\n");
    exit(2);
}
$port = (int) bench_env('BENCH_PORT', '0');
$count = (int) bench_env('BENCH_COUNT', '0');
$from = (string) bench_env('BENCH_FROM', '');
$rcpts = array_values(array_filter(array_map('trim', explode(',', (string) bench_env('BENCH_RCPTS', '')))));
$path = (string) bench_env('BENCH_MESSAGE', '');
$stream = bench_env('BENCH_STREAM') === '1';
$message = $stream ? (is_readable($path) ? '' : false) : file_get_contents($path);
if ($port <= 0 || $from === '' || !$rcpts || $message === false) {
    fwrite(STDERR, "binding_client: BENCH_PORT, BENCH_FROM, BENCH_RCPTS and BENCH_MESSAGE are required\n");
    exit(2);
}

try {
    $mailer = new Mailer(
        host: $host,
        port: $port,
        security: 'none',
        user: bench_env('BENCH_USER'),
        password: bench_env('BENCH_PASSWORD'),
        timeout: 120,
        connectTimeout: 30,
        clientName: 'bench.example.test',
    );
    $mailer->connect();
    $wall0 = hrtime(true);
    [$cpu0, $user0] = cpu_seconds();
    for ($i = 0; $i < $count; $i++) {
        if ($stream) {
            $mailer->sendRawFile($path, $from, $rcpts);
        } else {
            $mailer->sendRaw($message, $from, $rcpts);
        }
    }
    $wall = (hrtime(true) - $wall0) / 1e9;
    [$cpu1, $user1] = cpu_seconds();
    $mailer->quit();
} catch (\Throwable $e) {
    fwrite(STDERR, 'binding_client: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}
echo 'RESULT ' . json_encode([
    'client' => 'php',
    'messages' => $count,
    'seconds' => $wall,
    'cpu_seconds' => $cpu1 - $cpu0,
    'cpu_user_seconds' => $user1 - $user0,
    'bytes' => ($stream ? (int) filesize($path) : strlen($message)) * $count,
    'peak_rss_kb' => peak_rss_kb(),
]) . "\n";
