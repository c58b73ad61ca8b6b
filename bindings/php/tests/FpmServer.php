<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * A php-fpm master started for a test: a static pool on a free loopback
 * port, its configuration, pid and logs in the test's directory, stopped
 * (SIGTERM, then SIGKILL after 10 s) by stop(). Every wait is bounded.
 */
final class FpmServer
{
    /** @param resource $process */
    private function __construct(private $process, public readonly int $port)
    {
    }

    /** The first of these programs that exists, or null. */
    public static function find(string ...$candidates): ?string
    {
        foreach ($candidates as $path) {
            if (is_executable($path)) {
                return $path;
            }
        }
        return null;
    }

    /** Debian's php-fpm, or null when it is not installed. */
    public static function binary(): ?string
    {
        return self::find('/usr/sbin/php-fpm8.2', '/usr/sbin/php-fpm');
    }

    /**
     * Starts $fpm with a pool of $workers static workers (more pool lines
     * in $pool), php.ini settings $ini (-d) and the master's environment
     * $env, and waits (at most 15 s) until it accepts connections.
     *
     * @param list<string> $pool
     * @param list<string> $ini
     * @param array<string, string>|null $env null: this process's
     * @throws \RuntimeException when it does not start
     */
    public static function start(string $fpm, string $dir, int $workers, array $pool = [], array $ini = [], ?array $env = null): self
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0', $errno, $error);
        if ($probe === false) {
            throw new \RuntimeException("no free port: $error");
        }
        $port = (int) substr((string) strrchr((string) stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);
        file_put_contents("$dir/fpm.conf", implode("\n", [
            '[global]',
            "pid = $dir/fpm.pid",
            "error_log = $dir/fpm.log",
            'daemonize = no',
            '[test]',
            "listen = 127.0.0.1:$port",
            'listen.allowed_clients = 127.0.0.1',
            'pm = static',
            "pm.max_children = $workers",
            'clear_env = no',
            'catch_workers_output = yes',
            ...$pool,
            '',
        ]));
        $command = [$fpm, '--fpm-config', "$dir/fpm.conf", '--nodaemonize', '--allow-to-run-as-root'];
        foreach ($ini as $setting) {
            array_push($command, '-d', $setting);
        }
        $process = proc_open($command,
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/fpm.out", 'w'], 2 => ['file', "$dir/fpm.out", 'a']],
            $pipes, null, $env);
        if (!is_resource($process)) {
            throw new \RuntimeException('cannot run php-fpm');
        }
        $server = new self($process, $port);
        $deadline = microtime(true) + 15;
        while (true) {
            $socket = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $error, 0.2);
            if ($socket !== false) {
                fclose($socket);
                return $server;
            }
            if (microtime(true) > $deadline || !proc_get_status($process)['running']) {
                $server->stop();
                throw new \RuntimeException('php-fpm did not start: ' . @file_get_contents("$dir/fpm.out")
                    . @file_get_contents("$dir/fpm.log"));
            }
            usleep(50_000);
        }
    }

    /** The master's pid (its workers are its children). */
    public function pid(): int
    {
        return proc_get_status($this->process)['pid'];
    }

    /** Stops the master and its workers. */
    public function stop(): void
    {
        if (!is_resource($this->process)) {
            return;
        }
        proc_terminate($this->process, 15);
        $deadline = microtime(true) + 10;
        while (proc_get_status($this->process)['running'] && microtime(true) < $deadline) {
            usleep(50_000);
        }
        if (proc_get_status($this->process)['running']) {
            proc_terminate($this->process, 9);
        }
        proc_close($this->process);
    }
}
