<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * Runs tests/scripted-server.php in a child process for one connection.
 */
final class ScriptedServer
{
    /** @var resource */
    private $process;

    /** @var array<int, resource> */
    private array $pipes;

    public readonly int $port;

    /** Starts the server for $scenario and waits (at most 5 s) for its port. */
    public function __construct(string $scenario)
    {
        $process = proc_open(
            [PHP_BINARY, '-n', __DIR__ . '/scripted-server.php', $scenario],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes,
        );
        if (!is_resource($process)) {
            throw new \RuntimeException('cannot start the scripted server');
        }
        $this->process = $process;
        $this->pipes = $pipes;
        $read = [$pipes[1]];
        $write = $except = null;
        if (stream_select($read, $write, $except, 5) !== 1) {
            $this->stop();
            throw new \RuntimeException('the scripted server did not start within 5 s');
        }
        $line = (string) fgets($pipes[1]);
        if (preg_match('/^PORT (\d+)/', $line, $m) !== 1) {
            $this->stop();
            throw new \RuntimeException("the scripted server said: $line");
        }
        $this->port = (int) $m[1];
    }

    /** Ends the child process (it also ends by itself within 15 s). */
    public function stop(): void
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

    /** Stops the child process. */
    public function __destruct()
    {
        $this->stop();
    }
}
