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

    /** The capture server's report, once finish() read it. */
    private ?array $report = null;

    /**
     * Starts the server for $scenario and waits (at most 5 s) for its port.
     * With $capture (options, see fixtures/capture-server.php) it runs the
     * capturing server instead, whose report finish() returns.
     *
     * @param ?array<string, mixed> $capture
     */
    public function __construct(string $scenario, private readonly ?array $capture = null)
    {
        $command = $capture === null
            ? [PHP_BINARY, '-n', __DIR__ . '/scripted-server.php', $scenario]
            : [PHP_BINARY, '-n', __DIR__ . '/fixtures/capture-server.php',
                base64_encode(json_encode($capture, JSON_THROW_ON_ERROR))];
        $process = proc_open(
            $command,
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

    /**
     * A capturing server (fixtures/capture-server.php): serves connections
     * one after the other and records every byte; finish() returns what it saw.
     *
     * @param array<string, mixed> $options
     */
    public static function capture(array $options = []): self
    {
        return new self('capture', $options);
    }

    /**
     * For a capturing server: tells it the client is done (closes its
     * standard input), waits (at most $timeout s) for its report and
     * returns it: ['connections' => [...], 'errors' => [...]].
     *
     * @return array<string, mixed>
     */
    public function finish(float $timeout = 15.0): array
    {
        if ($this->report !== null) {
            return $this->report;
        }
        if ($this->capture === null || !is_resource($this->process)) {
            throw new \LogicException('finish() is for a running capture server');
        }
        fclose($this->pipes[0]);
        $out = '';
        $deadline = microtime(true) + $timeout;
        stream_set_blocking($this->pipes[1], false);
        while (microtime(true) < $deadline) {
            $chunk = fread($this->pipes[1], 1 << 20);
            if (is_string($chunk) && $chunk !== '') {
                $out .= $chunk;
                continue;
            }
            if (feof($this->pipes[1])) {
                break;
            }
            $r = [$this->pipes[1]];
            $w = $e = null;
            @stream_select($r, $w, $e, 0, 100_000);
        }
        stream_set_blocking($this->pipes[2], false);
        $errors = (string) stream_get_contents($this->pipes[2]);
        $this->stop();
        if (preg_match('/^CAPTURE (\S+)$/m', $out, $m) !== 1) {
            throw new \RuntimeException("the capture server gave no report; stdout: $out; stderr: $errors");
        }
        $report = unserialize((string) base64_decode($m[1], true), ['allowed_classes' => false]);
        if (!is_array($report)) {
            throw new \RuntimeException('the capture server\'s report does not decode');
        }
        return $this->report = $report;
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
