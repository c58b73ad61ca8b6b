<?php

declare(strict_types=1);

namespace Smtp\Internal;

use FFI;
use FFI\CData;
use Smtp\Exception\InvalidInputException;
use Smtp\Exception\SmtpException;
use Smtp\Ffi\Library;
use Smtp\RecipientPolicy;
use Smtp\Security;

/**
 * A Mailer's settings applied to its native client: the constructor's
 * arguments (security, credentials, CAs, timeouts, names, recipient
 * policy, the insecure switches, the proxy), long lines and the library
 * options by name, each checked, then passed to its smtp_client_set_*
 * function.
 *
 * @internal
 */
final class ClientSettings
{
    /**
     * The smtp_long_lines value for 'repair' or 'refuse' (any case).
     *
     * @throws InvalidInputException
     */
    public static function longLines(FFI $ffi, mixed $value): int
    {
        return match (is_string($value) ? strtolower($value) : null) {
            'repair' => $ffi->SMTP_LONG_LINES_REPAIR,
            'refuse' => $ffi->SMTP_LONG_LINES_REFUSE,
            default => throw new InvalidInputException("longLines must be 'repair' or 'refuse', got "
                . Arg::describe($value)),
        };
    }

    /**
     * The text of a proxy argument: false is 'off', anything else a
     * string (the library checks the URL; no message quotes it, as it
     * may hold a password).
     *
     * @throws InvalidInputException
     */
    public static function proxy(#[\SensitiveParameter] mixed $proxy): string
    {
        return $proxy === false ? 'off' : Arg::secret($proxy, 'proxy');
    }

    /**
     * Sets each name => value of $options through smtp_client_set_option(),
     * in order: the library's names (an unknown one, or a bad value, is its
     * InvalidInputException naming the option), values as text.
     *
     * @throws SmtpException
     */
    public static function setOptions(Library $library, CData $handle, #[\SensitiveParameter] mixed $options): void
    {
        if (!is_array($options)) {
            throw new InvalidInputException('options must be an array of name => value, got ' . Arg::describe($options));
        }
        $ffi = $library->ffi();
        foreach ($options as $name => $value) {
            if (!is_string($name)) {
                throw new InvalidInputException("options must be keyed by option name, got key #$name");
            }
            $name = Arg::text($name, 'option name');
            $field = "option $name";
            $text = match (true) {
                $value === true => 'on',
                $value === false => 'off',
                // Never quoted in a message: the value may be a password.
                default => Arg::text($value, $field),
            };
            $library->check($ffi->smtp_client_set_option($handle, $name, $text));
        }
    }

    /**
     * Applies the constructor's settings but the transcript, each through
     * its smtp_client_set_* function.
     *
     * @throws SmtpException
     */
    public static function apply(
        Library $library,
        CData $handle,
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
        mixed $insecurePlaintextAuth,
        mixed $dangerousAcceptInvalidCerts,
    ): void {
        $ffi = $library->ffi();
        if ($security !== null) {
            $library->check($ffi->smtp_client_set_security($handle, Security::of($security)->value));
        }
        if ($token !== null) {
            if ($password !== null) {
                throw new InvalidInputException('give a password or a token, not both');
            }
            $user = Arg::text($user ?? '', 'user');
            // A token callable may take the URL's user.
            if ($user === '' && !TokenRouter::isProvider($token)) {
                throw new InvalidInputException('a token needs a user name');
            }
            // A token callable is registered by the Mailer (which keeps its
            // id's cell alive): Mailer::registerToken().
            if (!TokenRouter::isProvider($token)) {
                $library->check($ffi->smtp_client_set_bearer_token($handle, $user, Arg::secret($token, 'token')));
            }
        } elseif ($user !== null) {
            $user = Arg::text($user, 'user');
            if ($user !== '' && $password === null) {
                throw new InvalidInputException('a user name needs a password (or a token)');
            }
            $secret = $password === null ? null : Arg::secret($password, 'password');
            $library->check($ffi->smtp_client_set_credentials($handle, $user, $secret));
        } elseif ($password !== null) {
            // The user may come from the URL (url: 'smtp://me%40example.org@host');
            // without one anywhere, connecting says so.
            $library->check($ffi->smtp_client_set_option($handle, 'password', Arg::secret($password, 'password')));
        }
        foreach (Arg::paths($caFile, 'caFile') as $path) {
            $library->check($ffi->smtp_client_add_ca_file($handle, $path));
        }
        if ($timeout !== null || $connectTimeout !== null || $totalTimeout !== null) {
            $library->check($ffi->smtp_client_set_timeouts(
                $handle,
                Arg::milliseconds($connectTimeout, 'connectTimeout'),
                Arg::milliseconds($timeout, 'timeout'),
                Arg::milliseconds($totalTimeout, 'totalTimeout'),
            ));
        }
        if ($clientName !== null) {
            $library->check($ffi->smtp_client_set_client_name($handle, Arg::text($clientName, 'clientName')));
        }
        if ($mechanism !== null) {
            $library->check($ffi->smtp_client_set_mechanism($handle, Arg::text($mechanism, 'mechanism')));
        }
        if ($recipientPolicy !== null) {
            $policy = $recipientPolicy instanceof RecipientPolicy
                ? $recipientPolicy
                : (is_int($recipientPolicy) ? RecipientPolicy::tryFrom($recipientPolicy) : null);
            if ($policy === null) {
                throw new InvalidInputException('recipientPolicy must be a Smtp\RecipientPolicy case, got '
                    . Arg::describe($recipientPolicy));
            }
            $library->check($ffi->smtp_client_set_recipient_policy($handle, $policy->value));
        }
        if (Arg::flag($insecurePlaintextAuth, 'insecurePlaintextAuth')) {
            $library->check($ffi->smtp_client_set_insecure_plaintext_auth($handle, true));
        }
        if (Arg::flag($dangerousAcceptInvalidCerts, 'dangerousAcceptInvalidCerts')) {
            $library->check($ffi->smtp_client_set_dangerous_accept_invalid_certs($handle, true));
        }
    }
}
