<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * tests/fixtures/idle-proxy.php in a child process: a proxy to the test
 * bed that closes connections idle for a while.
 */
final class IdleProxy
{
    /** @var resource */
    private $process;

    /** @var array<int, resource> */
    private array $pipes;

    public readonly int $port;

    public function __construct(string $host, int $port, int $idleMs, string $mode)
    {
        $process = proc_open(
            ['timeout', '120', PHP_BINARY, __DIR__ . '/fixtures/idle-proxy.php', $host, (string) $port, (string) $idleMs, $mode],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes,
        );
        if (!is_resource($process)) {
            throw new \RuntimeException('cannot start the idle proxy');
        }
        $this->process = $process;
        $this->pipes = $pipes;
        $line = (string) fgets($pipes[1]);
        if (preg_match('/^port (\d+)/', $line, $m) !== 1) {
            throw new \RuntimeException('the idle proxy said: ' . $line . stream_get_contents($pipes[2]));
        }
        $this->port = (int) $m[1];
    }

    /**
     * Stops the proxy and returns what it saw: connections accepted, and
     * closed for idleness.
     *
     * @return array{connections: int, idleClosed: int}
     */
    public function finish(): array
    {
        fclose($this->pipes[0]);
        $out = (string) stream_get_contents($this->pipes[1]);
        $errors = (string) stream_get_contents($this->pipes[2]);
        fclose($this->pipes[1]);
        fclose($this->pipes[2]);
        proc_close($this->process);
        return json_decode(trim($out), true, 8, JSON_THROW_ON_ERROR)
            ?? throw new \RuntimeException("the idle proxy gave no report: $errors");
    }

    public function __destruct()
    {
        if (is_resource($this->process)) {
            foreach ($this->pipes as $pipe) {
                if (is_resource($pipe)) {
                    fclose($pipe);
                }
            }
            proc_terminate($this->process);
            proc_close($this->process);
        }
    }
}
