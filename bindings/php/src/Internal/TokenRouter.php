<?php

declare(strict_types=1);

namespace Smtp\Internal;

use Smtp\Exception\InvalidInputException;

/**
 * Routes libsmtp's OAuth 2.0 token requests to the PHP callable of the
 * Mailer or Pool they belong to, as TranscriptRouter does for transcript
 * lines: one converted C callback per Library, each owner passing a
 * pointer to its own id as the callback's `userdata`.
 *
 * Threads: PHP code must only ever run on PHP's own thread. libsmtp asks
 * for a token only while it connects, and a Mailer's client and a Pool's
 * sessions connect only inside the libsmtp call PHP made (connect, send),
 * on the calling thread; libsmtp starts no thread of its own that
 * connects. So the callable runs synchronously, inside that call, on
 * PHP's thread.
 *
 * Nothing may be thrown through C: an exception of the callable (or a
 * return value of the wrong shape) is kept, the token request fails, and
 * the owner rethrows it as the previous exception of the connect's
 * AuthenticationException (takeError()).
 *
 * @internal
 */
final class TokenRouter
{
    /** @var array<int, callable(): mixed> */
    private static array $providers = [];

    /** @var array<int, \Throwable> */
    private static array $errors = [];

    private static int $nextId = 1;

    /**
     * Registers a provider and returns its id (never 0).
     *
     * @param callable(): mixed $provider
     */
    public static function register(callable $provider): int
    {
        $id = self::$nextId;
        do {
            self::$nextId = self::$nextId >= 0x7fffffff ? 1 : self::$nextId + 1;
        } while (isset(self::$providers[self::$nextId]));
        self::$providers[$id] = $provider;
        return $id;
    }

    /** Forgets a provider (and any error it left). */
    public static function unregister(int $id): void
    {
        unset(self::$providers[$id], self::$errors[$id]);
    }

    /**
     * Asks provider $id for a token: [token, seconds it stays valid or -1],
     * or null (the error kept for takeError()). Never throws.
     *
     * @return array{string, int}|null
     */
    public static function fetch(int $id): ?array
    {
        $provider = self::$providers[$id] ?? null;
        if ($provider === null) {
            return null;
        }
        try {
            return self::token($provider());
        } catch (\Throwable $e) {
            self::$errors[$id] ??= $e;
            return null;
        }
    }

    /**
     * The token and lifetime in what a token callable returned: a string,
     * or a token endpoint's decoded answer with 'access_token' and
     * optionally 'expires_in'.
     *
     * @return array{string, int}
     * @throws InvalidInputException
     */
    public static function token(mixed $value): array
    {
        [$token, $expires] = self::parse($value);
        // C would cut the token at a NUL and send the rest as if whole.
        if (str_contains($token, "\0")) {
            throw new InvalidInputException('token callable returned a token with a NUL byte');
        }
        return [$token, $expires];
    }

    /**
     * @return array{string, int}
     * @throws InvalidInputException
     */
    private static function parse(mixed $value): array
    {
        if (is_string($value)) {
            return [$value, -1];
        }
        if (is_array($value) && is_string($value['access_token'] ?? null)) {
            $expires = $value['expires_in'] ?? null;
            if ($expires === null) {
                return [$value['access_token'], -1];
            }
            if (is_string($expires) && ctype_digit($expires)) {
                $expires = (int) $expires;
            }
            if (!is_int($expires) || $expires < 0) {
                throw new InvalidInputException('token callable: expires_in must be a number of seconds, got '
                    . Arg::describe($expires));
            }
            return [$value['access_token'], $expires];
        }
        // Never the value itself: it may be a token.
        throw new InvalidInputException('token callable must return a string or an array with an access_token string (and expires_in), got '
            . get_debug_type($value));
    }

    /** The first exception provider $id threw since the last call, if any. */
    public static function takeError(int $id): ?\Throwable
    {
        $error = self::$errors[$id] ?? null;
        unset(self::$errors[$id]);
        return $error;
    }

    /** How many providers are registered (for tests of the cleanup). */
    public static function count(): int
    {
        return count(self::$providers);
    }

    /** Whether $token is a provider rather than a fixed token (a string is always a token). */
    public static function isProvider(mixed $token): bool
    {
        return !is_string($token) && is_callable($token);
    }
}
