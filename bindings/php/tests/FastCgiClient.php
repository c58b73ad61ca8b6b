<?php

declare(strict_types=1);

namespace Smtp\Tests;

/**
 * A small FastCGI client (the responder role of the FastCGI 1.0
 * specification) for driving php-fpm from the tests: one connection per
 * request, as a web server without keep-alive to the backend opens them
 * (php-fpm would tie a kept connection to one worker). Every read and
 * write is bounded by a timeout.
 */
final class FastCgiClient
{
    private const VERSION = 1;
    private const BEGIN_REQUEST = 1;
    private const END_REQUEST = 3;
    private const PARAMS = 4;
    private const STDIN = 5;
    private const STDOUT = 6;
    private const STDERR = 7;
    private const RESPONDER = 1;

    /** @var resource|null */
    private $socket = null;

    public function __construct(private readonly string $address, private readonly float $timeout = 30.0)
    {
    }

    /**
     * Runs one request on a new connection and returns its response body
     * (after the CGI headers). Throws \RuntimeException when the
     * connection fails or closes before the request ends.
     *
     * @param array<string, string> $params
     */
    public function request(array $params): string
    {
        try {
            return $this->exchange($params);
        } finally {
            $this->close();
        }
    }

    public function close(): void
    {
        if ($this->socket !== null) {
            fclose($this->socket);
            $this->socket = null;
        }
    }

    /** @param array<string, string> $params */
    private function exchange(array $params): string
    {
        if ($this->socket === null) {
            $socket = @stream_socket_client("tcp://{$this->address}", $errno, $error, $this->timeout);
            if ($socket === false) {
                throw new \RuntimeException("cannot connect to php-fpm at {$this->address}: $error");
            }
            stream_set_timeout($socket, (int) ceil($this->timeout));
            $this->socket = $socket;
        }
        $id = 1;
        $pairs = '';
        foreach ($params as $name => $value) {
            $pairs .= self::length(strlen($name)) . self::length(strlen($value)) . $name . $value;
        }
        $out = self::record(self::BEGIN_REQUEST, $id, pack('nCx5', self::RESPONDER, 0));
        foreach (str_split($pairs, 65535) as $chunk) {
            $out .= self::record(self::PARAMS, $id, $chunk);
        }
        $out .= self::record(self::PARAMS, $id, '') . self::record(self::STDIN, $id, '');
        $this->write($out);
        $stdout = '';
        // Bounded: every read waits at most the timeout, and the response
        // of one request is at most a few records.
        for ($records = 0; $records < 10_000; $records++) {
            $header = unpack('Cversion/Ctype/nid/nlength/Cpadding/x', $this->read(8));
            $content = $this->read($header['length'] + $header['padding']);
            $content = substr($content, 0, $header['length']);
            if ($header['type'] === self::STDOUT) {
                $stdout .= $content;
            } elseif ($header['type'] === self::END_REQUEST) {
                $parts = preg_split('/\r?\n\r?\n/', $stdout, 2);
                return $parts[1] ?? '';
            } elseif ($header['type'] !== self::STDERR) {
                throw new \RuntimeException("unexpected FastCGI record type {$header['type']}");
            }
        }
        throw new \RuntimeException('the response never ended');
    }

    private static function length(int $n): string
    {
        return $n < 128 ? chr($n) : pack('N', $n | 0x80000000);
    }

    private static function record(int $type, int $id, string $content): string
    {
        $padding = (8 - strlen($content) % 8) % 8;
        return pack('CCnnCx', self::VERSION, $type, $id, strlen($content), $padding) . $content . str_repeat("\0", $padding);
    }

    private function write(string $bytes): void
    {
        while ($bytes !== '') {
            $n = @fwrite($this->socket, $bytes);
            if ($n === false || $n === 0) {
                throw new \RuntimeException('php-fpm closed the connection (write)');
            }
            $bytes = substr($bytes, $n);
        }
    }

    private function read(int $length): string
    {
        $data = '';
        while (strlen($data) < $length) {
            $chunk = @fread($this->socket, $length - strlen($data));
            if ($chunk === false || $chunk === '') {
                $why = stream_get_meta_data($this->socket)['timed_out'] ? 'timed out' : 'closed the connection';
                throw new \RuntimeException("php-fpm $why (read)");
            }
            $data .= $chunk;
        }
        return $data;
    }
}
