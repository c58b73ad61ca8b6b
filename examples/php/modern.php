<?php
/**
 * The modern API: one connection, a message with HTML, an attachment with
 * a non-ASCII name, per-recipient results, exceptions.
 *
 *   SMTP_URL='smtp://me%40example.org@mail.example.org:587' SMTP_PASSWORD=... \
 *       php modern.php FROM TO [FILE]
 *
 * (SMTP_URL may carry ?ca_file=/path/ca.pem for a private CA; with Composer,
 * require vendor/autoload.php instead of the bindings' autoload.php.)
 */

declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

use Smtp\Exception\RecipientsRefusedException;
use Smtp\Exception\SmtpException;
use Smtp\Mailer;
use Smtp\Message;

[, $from, $to] = $argv + [null, 'me@example.org', 'you@example.net'];
$file = $argv[3] ?? null;

try {
    $url = getenv('SMTP_URL') ?: 'smtp://localhost:25?security=none';
    $options = ['timeout' => 30];
    if (getenv('SMTP_PASSWORD') !== false) {
        // The user name is in the URL; the password stays out of it (and out of `ps`).
        $options['user'] = rawurldecode((string) parse_url($url, PHP_URL_USER));
        $options['password'] = getenv('SMTP_PASSWORD');
    }
    $mailer = Mailer::fromUrl($url, ...$options);

    $message = new Message(
        from: $from,
        to: $to,
        subject: 'Quarterly report — 季度报告',
        text: "Hello,\n\nthe report is attached.\n",
        html: '<p>Hello,</p><p>the report is <b>attached</b>.</p>',
        headers: ['X-Mailer' => 'examples/php/modern.php'],
    );
    if ($file !== null) {
        $message->attachFile($file);
    } else {
        $message->attachData("quarter,revenue\nQ3,42\n", 'Bericht Q3 — 报告.csv', 'text/csv; charset=utf-8');
    }

    $result = $mailer->send($message);
    echo $result->reply(), "\n";
    foreach ($result->refused() as $refused) {
        echo "refused: {$refused->address}: {$refused->reply()}\n";
    }
    $mailer->quit();
} catch (RecipientsRefusedException $e) {
    foreach ($e->getRefused() as $refused) {
        fwrite(STDERR, "refused: {$refused->address}: {$refused->reply()}\n");
    }
    exit(1);
} catch (SmtpException $e) {
    fwrite(STDERR, get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}
