<?php

declare(strict_types=1);

namespace Smtp\Tests;

use PHPUnit\Framework\TestCase;

/**
 * Runs the project's scripted fault-injection server, the Rust program
 * named by SMTP_SCRIPT_SERVER (tests/src/bin/script-server/, built and
 * exported by run-tests.sh, as bindings/c/Makefile does for the C tests),
 * in a child process.
 *
 * new ScriptedServer('silent') runs one of its scenarios for one
 * connection (`script-server --list` lists them); ScriptedServer::capture()
 * runs its capturing mode, which serves connections one after the other,
 * records every byte and, when finish() says the client is done, reports
 * what it saw. Without SMTP_SCRIPT_SERVER the test is skipped, or failed
 * with SMTP_TESTBED_REQUIRED=1.
 */
final class ScriptedServer
{
    /** The capture options and the script-server flag each becomes. */
    private const FLAGS = ['ehlo' => '--ehlo', 'ehloTls' => '--ehlo-tls', 'starttls' => '--starttls',
        'cert' => '--cert', 'key' => '--key', 'auth' => '--auth', 'connections' => '--connections',
        'lifetime' => '--lifetime'];

    /** @var resource */
    private $process;

    /** @var array<int, resource> */
    private array $pipes;

    public readonly int $port;

    /** The capture server's report, once finish() read it. */
    private ?array $report = null;

    /**
     * Starts the server for $scenario and waits (at most 5 s) for its port.
     * With $capture (options, see capture()) it runs the capturing mode
     * instead, whose report finish() returns.
     *
     * @param ?array<string, mixed> $capture
     */
    public function __construct(string $scenario, private readonly ?array $capture = null)
    {
        $command = [self::program(), ...($capture === null ? [$scenario] : self::captureArguments($capture))];
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
        if (preg_match('/^port (\d+)/', $line, $m) !== 1) {
            stream_set_blocking($pipes[2], false);
            $errors = (string) stream_get_contents($pipes[2]);
            $this->stop();
            throw new \RuntimeException("the scripted server said: $line$errors");
        }
        $this->port = (int) $m[1];
    }

    /**
     * A capturing server: serves connections one after the other and
     * records every byte; finish() returns what it saw. Options (all
     * optional): ehlo and ehloTls (the extension lines of the EHLO reply,
     * in clear and after STARTTLS), starttls ("ok" with cert and key, PEM
     * files; "inject", "454", "garbage"), auth ("ok" or "fail"),
     * connections, lifetime (seconds). See
     * tests/src/bin/script-server/capture/mod.rs.
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
     * returns it: ['connections' => [...], 'errors' => [...]], each
     * connection with its lines (['tls' => bool, 'raw' => bytes]), auth
     * lines, bodies (['kind' => 'data'|'bdat', 'wire' => bytes, 'chunks'
     * => [sizes], 'unfinished' => bool]), afterStartTls, tls, tlsError,
     * errors, raw and tail.
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
        if (preg_match('/^capture (\{.*\})$/m', $out, $m) !== 1) {
            throw new \RuntimeException("the capture server gave no report; stdout: $out; stderr: $errors");
        }
        return $this->report = self::decode(json_decode($m[1], true, 64, JSON_THROW_ON_ERROR));
    }

    /**
     * For a scenario: waits (at most $timeout s) for the server to end (the
     * client must be done: quit or closed) and returns its report, the
     * lines after the port: "connected 1", "line ..." per command line,
     * "body ok N", "error ..." and "end" (one block per connection for
     * the token scenarios).
     */
    public function output(float $timeout = 15.0): string
    {
        if ($this->capture !== null || !is_resource($this->process)) {
            throw new \LogicException('output() is for a running scenario');
        }
        $out = '';
        $deadline = microtime(true) + $timeout;
        stream_set_blocking($this->pipes[1], false);
        while (microtime(true) < $deadline) {
            $chunk = fread($this->pipes[1], 1 << 16);
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
        $this->stop();
        return $out;
    }

    /** Ends the child process (it also ends by itself: every wait in it is bounded). */
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

    /** The script-server program, or a skipped (SMTP_TESTBED_REQUIRED=1: failed) test. */
    private static function program(): string
    {
        $program = getenv('SMTP_SCRIPT_SERVER');
        if (is_string($program) && $program !== '' && is_executable($program)) {
            return $program;
        }
        $why = 'no scripted server: set SMTP_SCRIPT_SERVER to the script-server program '
            . '(cargo build -p smtp-tests --bin script-server; run-tests.sh does it)';
        if (getenv('SMTP_TESTBED_REQUIRED') === '1') {
            TestCase::fail("SMTP_TESTBED_REQUIRED=1 but $why");
        }
        TestCase::markTestSkipped($why);
    }

    /**
     * `capture` and the flags for these options.
     *
     * @param array<string, mixed> $options
     * @return list<string>
     */
    private static function captureArguments(array $options): array
    {
        $arguments = ['capture'];
        foreach ($options as $name => $value) {
            $flag = self::FLAGS[$name] ?? throw new \InvalidArgumentException("unknown capture option $name");
            foreach (is_array($value) ? $value : [$value] as $one) {
                if ($one !== null) {
                    array_push($arguments, $flag, (string) $one);
                }
            }
        }
        return $arguments;
    }

    /**
     * The report with its byte strings (base64 in the JSON) decoded.
     *
     * @param array<string, mixed> $report
     * @return array<string, mixed>
     */
    private static function decode(array $report): array
    {
        $bytes = static fn (string $b64): string => (string) base64_decode($b64, true);
        foreach ($report['connections'] as &$c) {
            foreach ($c['lines'] as &$line) {
                $line['raw'] = $bytes($line['raw']);
            }
            unset($line);
            $c['auth'] = array_map($bytes, $c['auth']);
            foreach ($c['bodies'] as &$body) {
                $body['wire'] = $bytes($body['wire']);
            }
            unset($body);
            foreach (['afterStartTls', 'raw', 'tail'] as $field) {
                $c[$field] = $c[$field] === null ? null : $bytes($c[$field]);
            }
        }
        unset($c);
        return $report;
    }
}
