<?php

declare(strict_types=1);

namespace Smtp\Internal;

use Smtp\Exception\InvalidInputException;
use Smtp\RecipientPolicy;
use Smtp\Security;

/**
 * A Pool's constructor arguments as the option names and texts
 * smtp_pool_set_option() takes: the client settings Mailer has (a pool
 * has no per-setting functions, only options by name), the pool options
 * (maxConnections => max_connections...), then the `options` array.
 * Each value is checked here as Mailer checks it; the library checks
 * the rest and names the option.
 *
 * @internal
 */
final class PoolSettings
{
    /** The pool options: constructor argument => library name. */
    public const POOL_OPTIONS = [
        'maxConnections' => 'max_connections',
        'idleTimeout' => 'idle_timeout',
        'maxMessagesPerConnection' => 'max_messages_per_connection',
        'noopAfter' => 'noop_after',
        'rate' => 'rate',
        'maxRecipients' => 'max_recipients',
        'backoff' => 'backoff',
        'maxBackoff' => 'max_backoff',
    ];

    /** The pool options that are durations (seconds, or a text like "500ms"). */
    private const DURATIONS = ['idleTimeout', 'noopAfter', 'backoff', 'maxBackoff'];

    /** The pool options that are counts (null or 0: no limit, where a limit is optional). */
    private const COUNTS = ['maxConnections', 'maxMessagesPerConnection', 'maxRecipients'];

    /**
     * The client settings as [name, text] pairs, in the order they are set.
     *
     * @return list<array{string, string}>
     * @throws InvalidInputException
     */
    public static function client(
        mixed $security,
        mixed $user,
        #[\SensitiveParameter] mixed $password,
        #[\SensitiveParameter] mixed $token,
        mixed $caFile,
        mixed $timeout,
        mixed $connectTimeout,
        mixed $totalTimeout,
        mixed $clientName,
        mixed $mechanism,
        mixed $recipientPolicy,
        mixed $pipelining,
        mixed $chunking,
        mixed $longLines,
    ): array {
        $set = [];
        if ($security !== null) {
            $set[] = ['security', match (Security::of($security)) {
                Security::Default => 'auto',
                Security::StartTls => 'starttls',
                Security::Implicit => 'implicit',
                Security::StartTlsIfOffered => 'opportunistic',
                Security::None => 'none',
            }];
        }
        if ($token !== null) {
            if ($password !== null) {
                throw new InvalidInputException('give a password or a token, not both');
            }
            $user = Arg::text($user ?? '', 'user');
            if (TokenRouter::isProvider($token)) {
                // Set by the Pool itself (smtp_pool_set_token_provider());
                // the URL's user serves when none is given.
                if ($user !== '') {
                    $set[] = ['user', $user];
                }
            } else {
                if ($user === '') {
                    throw new InvalidInputException('a token needs a user name');
                }
                array_push($set, ['user', $user], ['password', Arg::secret($token, 'token')], ['token', 'on']);
            }
        } elseif ($user !== null) {
            $user = Arg::text($user, 'user');
            if ($user !== '') {
                if ($password === null) {
                    throw new InvalidInputException('a user name needs a password (or a token)');
                }
                array_push($set, ['user', $user], ['password', Arg::secret($password, 'password')]);
            }
        } elseif ($password !== null) {
            // The user may come from the URL; without one, sending says so.
            $set[] = ['password', Arg::secret($password, 'password')];
        }
        foreach (Arg::paths($caFile, 'caFile') as $path) {
            $set[] = ['ca_file', $path];
        }
        foreach (['timeout' => $timeout, 'connect_timeout' => $connectTimeout, 'total_timeout' => $totalTimeout] as $name => $value) {
            if ($value !== null) {
                $field = lcfirst(str_replace('_', '', ucwords($name, '_')));
                $set[] = [$name, self::seconds(Arg::milliseconds($value, $field) / 1000)];
            }
        }
        if ($clientName !== null) {
            $set[] = ['client_name', Arg::text($clientName, 'clientName')];
        }
        if ($mechanism !== null) {
            $set[] = ['auth', Arg::text($mechanism, 'mechanism')];
        }
        if ($recipientPolicy !== null) {
            $policy = $recipientPolicy instanceof RecipientPolicy
                ? $recipientPolicy
                : (is_int($recipientPolicy) ? RecipientPolicy::tryFrom($recipientPolicy) : null);
            $set[] = ['recipient_policy', match ($policy) {
                RecipientPolicy::DeliverToAccepted => 'deliver_to_accepted',
                RecipientPolicy::AllOrNothing => 'all_or_nothing',
                null => throw new InvalidInputException('recipientPolicy must be a Smtp\RecipientPolicy case, got '
                    . Arg::describe($recipientPolicy)),
            }];
        }
        foreach (['pipelining' => $pipelining, 'chunking' => $chunking] as $name => $value) {
            if ($value !== null) {
                $set[] = [$name, Arg::flag($value, $name) ? 'on' : 'off'];
            }
        }
        if ($longLines !== null) {
            $set[] = ['long_lines', match (is_string($longLines) ? strtolower($longLines) : null) {
                'repair' => 'repair',
                'refuse' => 'refuse',
                default => throw new InvalidInputException("longLines must be 'repair' or 'refuse', got "
                    . Arg::describe($longLines)),
            }];
        }
        return $set;
    }

    /**
     * The pool options given (argument name => value, null for "not
     * given") as [name, text] pairs: counts as integers (0 for no limit
     * where a limit is optional), durations in seconds (int or float) or
     * as the library's text ("500ms", "90s", "5m"), the rate in messages
     * per second.
     *
     * @param array<string, mixed> $values
     * @return list<array{string, string}>
     * @throws InvalidInputException
     */
    public static function pool(array $values): array
    {
        $set = [];
        foreach (self::POOL_OPTIONS as $argument => $name) {
            $value = $values[$argument] ?? null;
            if ($value === null) {
                continue;
            }
            if (in_array($argument, self::COUNTS, true)) {
                if (is_string($value) && preg_match('/^\s*\d+\s*$/', $value) === 1) {
                    $value = (int) $value;
                }
                if (!is_int($value) || $value < 0) {
                    throw new InvalidInputException("$argument must be a count (an integer from 0), got "
                        . Arg::describe($value));
                }
                $set[] = [$name, (string) $value];
                continue;
            }
            if (is_string($value) && in_array($argument, self::DURATIONS, true)) {
                $set[] = [$name, Arg::text($value, $argument)]; // "500ms", "90s": the library checks it
                continue;
            }
            if (is_string($value) && is_numeric($value)) {
                $value = (float) $value;
            }
            if ((!is_int($value) && !is_float($value)) || !is_finite((float) $value) || $value < 0) {
                throw new InvalidInputException("$argument must be a number "
                    . ($argument === 'rate' ? 'of messages per second' : 'of seconds') . ', got ' . Arg::describe($value));
            }
            $set[] = [$name, self::seconds((float) $value)];
        }
        return $set;
    }

    /**
     * Each name => value of the constructor's `options`, as [name, text]
     * pairs (true: "on", false: "off"), in order.
     *
     * @return list<array{string, string}>
     * @throws InvalidInputException
     */
    public static function named(#[\SensitiveParameter] mixed $options): array
    {
        if (!is_array($options)) {
            throw new InvalidInputException('options must be an array of name => value, got ' . Arg::describe($options));
        }
        $set = [];
        foreach ($options as $name => $value) {
            if (!is_string($name)) {
                throw new InvalidInputException("options must be keyed by option name, got key #$name");
            }
            $name = Arg::text($name, 'option name');
            $set[] = [$name, match (true) {
                $value === true => 'on',
                $value === false => 'off',
                // Never quoted in a message: the value may be a password.
                default => Arg::text($value, "option $name"),
            }];
        }
        return $set;
    }

    /** A number as the library reads it: "1.5", never "1.5E-5". */
    private static function seconds(float $value): string
    {
        $text = rtrim(rtrim(sprintf('%.6F', $value), '0'), '.');
        return $text === '' ? '0' : $text;
    }
}
