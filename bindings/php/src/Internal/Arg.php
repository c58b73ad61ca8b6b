<?php

declare(strict_types=1);

namespace Smtp\Internal;

use Smtp\Exception\InvalidInputException;

/**
 * Checks the values callers pass before they reach the C library.
 *
 * The public API takes `mixed` and checks here, so that a wrong type, a
 * NUL byte (C would silently cut the string there), CR/LF where a header
 * line is built, text that is not UTF-8 or a number out of range gives an
 * InvalidInputException instead of a TypeError, a warning or a crash.
 * Messages name the field and describe the value without quoting it (it
 * may be a secret).
 *
 * @internal
 */
final class Arg
{
    /** Largest timeout libsmtp takes: u32 milliseconds. */
    public const MAX_TIMEOUT_SECONDS = 4294967;

    /**
     * A short description of a value's type for error messages; never the value itself.
     */
    public static function describe(mixed $value): string
    {
        return match (true) {
            $value === null => 'null',
            is_bool($value) => 'bool',
            is_int($value) => 'int',
            is_float($value) => 'float',
            is_string($value) => 'a string of ' . strlen($value) . ' bytes',
            is_array($value) => 'array',
            is_object($value) => 'an object of class ' . get_class($value),
            default => get_debug_type($value),
        };
    }

    /**
     * Text: a string, a Stringable or a number, valid UTF-8 without NUL;
     * without CR or LF unless $multiline.
     *
     * @throws InvalidInputException
     */
    public static function text(mixed $value, string $field, bool $multiline = false): string
    {
        $text = self::bytes($value, $field);
        self::checkText($text, $field, $multiline);
        return $text;
    }

    /**
     * Like text(), but null stays null.
     *
     * @throws InvalidInputException
     */
    public static function optionalText(mixed $value, string $field, bool $multiline = false): ?string
    {
        return $value === null ? null : self::text($value, $field, $multiline);
    }

    /**
     * A secret (password, token): a string without NUL, valid UTF-8. The
     * message never contains it.
     *
     * @throws InvalidInputException
     */
    public static function secret(#[\SensitiveParameter] mixed $value, string $field): string
    {
        if (!is_string($value) && !$value instanceof \Stringable) {
            throw new InvalidInputException("$field must be a string, got " . self::describe($value));
        }
        $secret = (string) $value;
        if (str_contains($secret, "\0")) {
            throw new InvalidInputException("$field contains a NUL byte");
        }
        if (preg_match('//u', $secret) !== 1) {
            throw new InvalidInputException("$field is not valid UTF-8");
        }
        return $secret;
    }

    /**
     * Bytes: a string (anything goes, NUL included), a Stringable, or a number.
     *
     * @throws InvalidInputException
     */
    public static function bytes(mixed $value, string $field): string
    {
        if (is_string($value)) {
            return $value;
        }
        if (is_int($value) || is_float($value) || $value instanceof \Stringable) {
            return (string) $value;
        }
        throw new InvalidInputException("$field must be a string, got " . self::describe($value));
    }

    /**
     * Checks text already known to be a string.
     *
     * @throws InvalidInputException
     */
    public static function checkText(string $text, string $field, bool $multiline = false): void
    {
        if (str_contains($text, "\0")) {
            throw new InvalidInputException("$field contains a NUL byte");
        }
        if (!$multiline && strpbrk($text, "\r\n") !== false) {
            throw new InvalidInputException("$field contains CR or LF (a header value is one line)");
        }
        if (preg_match('//u', $text) !== 1) {
            throw new InvalidInputException("$field is not valid UTF-8");
        }
    }

    /**
     * An address list: a string ("a@x, B <b@y>"), a list of strings, or a
     * map of address => display name. Returned as one comma-separated
     * string, display names quoted.
     *
     * @throws InvalidInputException
     */
    public static function addressList(mixed $value, string $field): string
    {
        if (!is_array($value)) {
            $list = self::text($value, $field);
            if (trim($list) === '') {
                throw new InvalidInputException("$field is empty");
            }
            return $list;
        }
        if ($value === []) {
            throw new InvalidInputException("$field is an empty list");
        }
        $items = [];
        foreach ($value as $key => $item) {
            if (is_string($key)) {
                $address = self::text($key, $field . ' address');
                $name = self::text($item, $field . ' display name');
                $items[] = $name === '' ? $address : self::quoteName($name) . ' <' . $address . '>';
            } else {
                $items[] = self::text($item, $field . " item $key");
            }
        }
        return implode(', ', $items);
    }

    /**
     * A display name as an RFC 5322 quoted string ("Doe, Jane").
     */
    public static function quoteName(string $name): string
    {
        return '"' . addcslashes($name, '"\\') . '"';
    }

    /**
     * A TCP port: 0 (the default) to 65535; numeric strings accepted.
     *
     * @throws InvalidInputException
     */
    public static function port(mixed $value, string $field = 'port'): int
    {
        if ($value === null) {
            return 0;
        }
        if (is_string($value) && preg_match('/^\s*\d{1,5}\s*$/', $value) === 1) {
            $value = (int) $value;
        }
        if (!is_int($value)) {
            throw new InvalidInputException("$field must be an integer from 0 to 65535, got " . self::describe($value));
        }
        if ($value < 0 || $value > 65535) {
            throw new InvalidInputException("$field must be from 0 to 65535, got $value");
        }
        return $value;
    }

    /**
     * A duration in seconds (int, float or numeric string), returned in
     * milliseconds; null gives 0, which libsmtp reads as "its default".
     *
     * @throws InvalidInputException
     */
    public static function milliseconds(mixed $value, string $field): int
    {
        if ($value === null) {
            return 0;
        }
        if (is_string($value) && is_numeric($value)) {
            $value = (float) $value;
        }
        if (!is_int($value) && !is_float($value)) {
            throw new InvalidInputException("$field must be a number of seconds, got " . self::describe($value));
        }
        if (is_nan((float) $value) || $value <= 0 || $value > self::MAX_TIMEOUT_SECONDS) {
            throw new InvalidInputException(
                "$field must be more than 0 and at most " . self::MAX_TIMEOUT_SECONDS . ' seconds'
            );
        }
        return max(1, (int) round($value * 1000));
    }

    /**
     * A flag: bool, or 0/1.
     *
     * @throws InvalidInputException
     */
    public static function flag(mixed $value, string $field): bool
    {
        if (is_bool($value)) {
            return $value;
        }
        if ($value === 0 || $value === 1) {
            return $value === 1;
        }
        throw new InvalidInputException("$field must be true or false, got " . self::describe($value));
    }

    /**
     * A list of file paths (one string or a list of strings).
     *
     * @return list<string>
     * @throws InvalidInputException
     */
    public static function paths(mixed $value, string $field): array
    {
        if ($value === null) {
            return [];
        }
        $items = is_array($value) ? array_values($value) : [$value];
        $paths = [];
        foreach ($items as $item) {
            $path = self::text($item, $field);
            if ($path === '') {
                throw new InvalidInputException("$field is empty");
            }
            $paths[] = $path;
        }
        return $paths;
    }
}
