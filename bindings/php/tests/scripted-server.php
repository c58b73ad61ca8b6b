<?php

/**
 * A scripted SMTP server for what the real test bed will not do: never
 * greet, refuse MAIL FROM, lack SMTPUTF8, drop the connection after the
 * message, send garbage. Listens on 127.0.0.1 (a free port), prints
 * "PORT n", serves one connection following the named scenario, exits.
 * Everything is bounded: 15 s in all, 5 s per read.
 *
 *   php scripted-server.php SCENARIO
 */

declare(strict_types=1);

$scenario = $argv[1] ?? 'reject-mail';
$deadline = microtime(true) + 15;
$server = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
if ($server === false) {
    fwrite(STDERR, "listen: $errstr\n");
    exit(1);
}
$name = stream_socket_get_name($server, false);
echo 'PORT ', substr($name, strrpos($name, ':') + 1), "\n";
fflush(STDOUT);

$client = @stream_socket_accept($server, 10);
if ($client === false) {
    exit(0);
}
stream_set_timeout($client, 5);

$send = static function (string $text) use ($client): void {
    @fwrite($client, $text);
};
$readLine = static function () use ($client, $deadline): ?string {
    if (microtime(true) > $deadline) {
        return null;
    }
    $line = fgets($client, 4096);
    return $line === false ? null : rtrim($line, "\r\n");
};

if ($scenario === 'silent') {
    // Accept and say nothing until the client gives up (bounded).
    while (microtime(true) < $deadline && !feof($client)) {
        $r = [$client];
        $w = $e = null;
        if (@stream_select($r, $w, $e, 0, 200_000) > 0 && fread($client, 1024) === '') {
            break;
        }
    }
    exit(0);
}
if ($scenario === 'garbage') {
    $send("this is not SMTP\r\n");
    $readLine();
    exit(0);
}

$send("220 scripted.test ESMTP ready\r\n");
$ehlo = $scenario === 'no-smtputf8'
    ? "250-scripted.test\r\n250 8BITMIME\r\n"
    : "250-scripted.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
for ($i = 0; $i < 100; $i++) {
    $line = $readLine();
    if ($line === null) {
        break;
    }
    $verb = strtoupper(strtok($line, ' :') ?: '');
    switch ($verb) {
        case 'EHLO':
            $send($ehlo);
            break;
        case 'HELO':
            $send("250 scripted.test\r\n");
            break;
        case 'MAIL':
            $send($scenario === 'reject-mail'
                ? "553 5.7.1 <sender>: Sender address rejected: not allowed here\r\n"
                : "250 2.1.0 Ok\r\n");
            break;
        case 'RCPT':
            $send("250 2.1.5 Ok\r\n");
            break;
        case 'DATA':
            $send("354 End data with <CR><LF>.<CR><LF>\r\n");
            for ($j = 0; $j < 100000; $j++) {
                $data = $readLine();
                if ($data === null || $data === '.') {
                    break;
                }
            }
            if ($scenario === 'drop-after-data') {
                exit(0);
            }
            $send("250 2.0.0 Ok: queued as SCRIPTED\r\n");
            break;
        case 'RSET':
        case 'NOOP':
            $send("250 2.0.0 Ok\r\n");
            break;
        case 'QUIT':
            $send("221 2.0.0 Bye\r\n");
            exit(0);
        default:
            $send("502 5.5.2 Error: command not recognized\r\n");
    }
}
