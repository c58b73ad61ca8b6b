<?php

/*
 * Concern: PHPMailer's SMTPOptions (PHP stream-context 'ssl' options)
 * mapped to Smtp\Mailer's TLS settings, refusing what has no equivalent.
 */

declare(strict_types=1);

namespace Smtp\Compat;

/**
 * SMTPOptions to Smtp\Mailer arguments.
 *
 * | SMTPOptions['ssl'] | Smtp\Mailer |
 * |---|---|
 * | `cafile` (a PEM file) | `caFile` (trusted besides the system's CAs) |
 * | `verify_peer` false, `verify_peer_name` false, `allow_self_signed` true | `dangerousAcceptInvalidCerts: true` (every certificate accepted: tests only) |
 * | `peer_name` | option `tls_server_name` |
 * | `verify_peer` true, `verify_peer_name` true, `allow_self_signed` false, `SNI_enabled` true | the default |
 *
 * Anything else (`capath`, `local_cert`, `ciphers`, `peer_fingerprint`,
 * `crypto_method`, a 'socket' context...) is refused with an Exception
 * naming it: silently dropping a TLS setting could weaken or break the
 * connection without a word.
 *
 * @internal used by PHPMailer only
 */
final class TlsOptions
{
    private function __construct()
    {
    }

    /**
     * @return array<string, mixed> Mailer arguments (caFile, dangerousAcceptInvalidCerts, options)
     * @throws Exception for an option without an equivalent
     */
    public static function map(mixed $options): array
    {
        if ($options === null || $options === []) {
            return [];
        }
        if (!is_array($options)) {
            throw new Exception('SMTPOptions must be an array like [\'ssl\' => [...]]');
        }
        $settings = [];
        foreach ($options as $context => $values) {
            if ($context !== 'ssl' || !is_array($values)) {
                throw new Exception('SMTPOptions[' . self::name($context) . '] is not supported by Smtp\Compat\PHPMailer '
                    . "(only 'ssl' options: cafile, verify_peer, verify_peer_name, allow_self_signed, peer_name)");
            }
            foreach ($values as $name => $value) {
                $dangerous = match ($name) {
                    'verify_peer', 'verify_peer_name' => !$value,
                    'allow_self_signed' => (bool) $value,
                    'SNI_enabled' => $value ? false : throw self::unsupported($name),
                    default => null,
                };
                if ($dangerous !== null) {
                    if ($dangerous) {
                        $settings['dangerousAcceptInvalidCerts'] = true;
                    }
                } elseif ($name === 'cafile') {
                    $settings['caFile'] = $value;
                } elseif ($name === 'peer_name') {
                    $settings['options']['tls_server_name'] = $value;
                } else {
                    throw self::unsupported($name);
                }
            }
        }
        return $settings;
    }

    private static function unsupported(mixed $name): Exception
    {
        return new Exception("SMTPOptions['ssl'][" . self::name($name) . '] is not supported by Smtp\Compat\PHPMailer '
            . '(supported: cafile, verify_peer, verify_peer_name, allow_self_signed, peer_name, SNI_enabled true)');
    }

    private static function name(mixed $name): string
    {
        return is_string($name) ? "'" . addcslashes($name, "\0..\37\177'") . "'" : (string) (is_int($name) ? $name : '?');
    }
}
