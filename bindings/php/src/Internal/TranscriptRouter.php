<?php

declare(strict_types=1);

namespace Smtp\Internal;

use Smtp\TranscriptDirection;

/**
 * Routes transcript lines from libsmtp to the PHP callable of the client
 * they belong to.
 *
 * Why not one PHP closure per client: every PHP closure PHP's FFI turns
 * into a C function pointer stays allocated until the end of the request,
 * so a long-running process creating clients would grow. Instead each
 * Library converts one static closure, once; each client passes a pointer
 * to its own id as libsmtp's `userdata`, and the closure looks the id up
 * here. Callbacks run synchronously on the calling thread, inside the
 * libsmtp call, so a plain static table is enough.
 *
 * An exception must never leave the closure (it cannot unwind through C:
 * PHP would crash), so it is kept and handed back to the client after
 * the libsmtp call returns (takeError()).
 *
 * @internal
 */
final class TranscriptRouter
{
    /** @var array<int, callable(TranscriptDirection, string): void> */
    private static array $sinks = [];

    /** @var array<int, \Throwable> */
    private static array $errors = [];

    private static int $nextId = 1;

    /**
     * Registers a sink and returns its id (never 0).
     *
     * @param callable(TranscriptDirection, string): void $sink
     */
    public static function register(callable $sink): int
    {
        $id = self::$nextId;
        // Ids are int32 in C; wrap long before that, skipping ids in use.
        do {
            self::$nextId = self::$nextId >= 0x7fffffff ? 1 : self::$nextId + 1;
        } while (isset(self::$sinks[self::$nextId]));
        self::$sinks[$id] = $sink;
        return $id;
    }

    /** Forgets a sink (and any error it left). */
    public static function unregister(int $id): void
    {
        unset(self::$sinks[$id], self::$errors[$id]);
    }

    /**
     * Delivers one line to sink $id. Never throws.
     */
    public static function deliver(int $id, int $direction, string $line): void
    {
        $sink = self::$sinks[$id] ?? null;
        if ($sink === null) {
            return;
        }
        try {
            $sink(TranscriptDirection::tryFrom($direction) ?? TranscriptDirection::Info, $line);
        } catch (\Throwable $e) {
            self::$errors[$id] ??= $e;
        }
    }

    /** The first exception sink $id threw since the last call, if any. */
    public static function takeError(int $id): ?\Throwable
    {
        $error = self::$errors[$id] ?? null;
        unset(self::$errors[$id]);
        return $error;
    }

    /** How many sinks are registered (for tests of the cleanup). */
    public static function count(): int
    {
        return count(self::$sinks);
    }
}
