<?php

declare(strict_types=1);

namespace Smtp;

/**
 * How the connection is protected (libsmtp's `smtp_security`).
 */
enum Security: int
{
    /**
     * Chosen from the port and the credentials: implicit TLS on port 465
     * and smtps:// URLs; STARTTLS, required, on port 587 or whenever
     * credentials are set; otherwise STARTTLS when the server offers it.
     */
    case Default = 0;
    /** STARTTLS, required: if the server does not offer it, nothing else is sent. */
    case StartTls = 1;
    /** TLS from the first byte ("SMTPS", usually port 465). */
    case Implicit = 2;
    /**
     * STARTTLS when offered, plaintext otherwise. Refused together with
     * credentials unless insecurePlaintextAuth is on.
     */
    case StartTlsIfOffered = 3;
    /** No TLS. Credentials then only go to a server on this machine (loopback). */
    case None = 4;

    /**
     * The mode for a case, a value, or one of the names the URL option
     * takes: "default", "starttls", "implicit" (or "tls", "smtps"),
     * "opportunistic" (or "starttls-if-offered", "may"), "none".
     *
     * @throws Exception\InvalidInputException for anything else
     */
    public static function of(mixed $value): self
    {
        if ($value instanceof self) {
            return $value;
        }
        if (is_int($value)) {
            return self::tryFrom($value)
                ?? throw new Exception\InvalidInputException("security: no mode has the value $value");
        }
        if (is_string($value)) {
            $mode = match (strtolower(trim($value))) {
                'default', '' => self::Default,
                'starttls' => self::StartTls,
                'implicit', 'tls', 'smtps', 'ssl' => self::Implicit,
                'opportunistic', 'starttls-if-offered', 'may' => self::StartTlsIfOffered,
                'none', 'plain', 'plaintext' => self::None,
                default => null,
            };
            if ($mode !== null) {
                return $mode;
            }
            throw new Exception\InvalidInputException(
                'security: expected default, starttls, implicit, opportunistic or none, got '
                . Internal\Arg::describe($value)
            );
        }
        throw new Exception\InvalidInputException(
            'security: expected a Smtp\Security case or its name, got ' . Internal\Arg::describe($value)
        );
    }
}
