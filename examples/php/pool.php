<?php
/**
 * A long-running worker: one Smtp\Pool for the whole run, one message per
 * job taken off a queue (here: JSON lines, {"to": ..., "subject": ...,
 * "text": ...}, from a file or standard input). Sessions stay open from
 * one job to the next; one the server closed while the worker waited is
 * replaced before the next message, never a failed job.
 *
 *   SMTP_URL='smtp://me%40example.org@mail.example.org:587' SMTP_PASSWORD=... \
 *       php pool.php FROM [JOBS_FILE]
 *
 * (SMTP_URL may carry ?ca_file=/path/ca.pem for a private CA.)
 */

declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

use Smtp\Exception\SmtpException;
use Smtp\Message;
use Smtp\Pool;

$from = $argv[1] ?? 'me@example.org';
$jobs = fopen($argv[2] ?? 'php://stdin', 'r') ?: exit(64);

$url = getenv('SMTP_URL') ?: 'smtp://localhost:25?security=none';
$settings = ['timeout' => 30, 'maxConnections' => 2, 'idleTimeout' => 60, 'maxMessagesPerConnection' => 100,
    'rate' => 10];
if (getenv('SMTP_PASSWORD') !== false) {
    // The user name is in the URL; the password stays out of it (and out of `ps`).
    $settings['user'] = rawurldecode((string) parse_url($url, PHP_URL_USER));
    $settings['password'] = getenv('SMTP_PASSWORD');
}
try {
    $pool = new Pool(...['url' => $url] + $settings);
} catch (SmtpException $e) {
    fwrite(STDERR, get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}

$failed = 0;
while (($line = fgets($jobs)) !== false) {
    if (trim($line) === '') {
        continue;
    }
    $job = json_decode($line, true);
    try {
        if (!is_array($job)) {
            throw new \Smtp\Exception\InvalidInputException('a job is a JSON object');
        }
        $result = $pool->send(new Message(from: $from, to: $job['to'] ?? '', subject: $job['subject'] ?? '',
            text: $job['text'] ?? ''));
        echo $result->reply(), "\n";
    } catch (SmtpException $e) {
        // One failed job never stops the worker: report it (retry it, queue it...) and go on.
        $failed++;
        fwrite(STDERR, get_class($e) . ': ' . $e->getMessage() . "\n");
    }
}
$pool->close();
exit($failed === 0 ? 0 : 1);
