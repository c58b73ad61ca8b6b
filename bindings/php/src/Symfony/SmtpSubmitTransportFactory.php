<?php

/*
 * Concern: turning a Symfony Mailer DSN (smtp-submit://, smtp-submits://)
 * into an SmtpSubmitTransport: scheme, host, port and credentials into
 * Smtp\Mailer's arguments, query options into libsmtp's option table.
 * Needs symfony/mailer (Debian: php-symfony-mailer).
 */

declare(strict_types=1);

namespace Smtp\Symfony;

use Symfony\Component\Mailer\Exception\IncompleteDsnException;
use Symfony\Component\Mailer\Exception\InvalidArgumentException;
use Symfony\Component\Mailer\Exception\UnsupportedSchemeException;
use Symfony\Component\Mailer\Transport\AbstractTransportFactory;
use Symfony\Component\Mailer\Transport\Dsn;
use Symfony\Component\Mailer\Transport\TransportInterface;

/**
 * Makes {@see SmtpSubmitTransport}s from DSNs:
 *
 * - `smtp-submit://user:pass@host[:port]`: libsmtp's default TLS mode
 *   (STARTTLS, required, on 587 (the default port) or whenever there are
 *   credentials; implicit TLS on 465);
 * - `smtp-submits://user:pass@host[:port]`: implicit TLS, port 465 by default.
 *
 * User and password are percent-encoded where needed (`%40` for "@"); both
 * may be left out for a server without authentication. Query options are
 * libsmtp's options by the names its URLs use (`?ca_file=/etc/ca.pem`,
 * `&timeout=20`, `&proxy=socks5://proxy.internal`, `&security=none`,
 * `&auth=scram-sha-256`...; see the bindings' README), checked by libsmtp:
 * an unknown name or a bad value is an InvalidArgumentException naming
 * the option. `ca_file[]=a.pem&ca_file[]=b.pem` trusts several files.
 * Besides these, three of Symfony's own SMTP options:
 * `max_per_second` (throttling), `ping_threshold` (seconds of idleness
 * before a NOOP checks the session, default 100) and `local_domain` (the
 * EHLO name, the same as `client_name`).
 *
 * Unlike libsmtp's own default, `recipient_policy` defaults to
 * `all_or_nothing` here: one refused recipient fails the whole message
 * with a TransportException and nothing is sent, as with Symfony's SMTP
 * transport (so that a retry cannot deliver twice).
 * `?recipient_policy=deliver_to_accepted` sends to the others instead.
 *
 * Register it next to Symfony's factories:
 * `(new Transport([new SmtpSubmitTransportFactory(), ...Transport::getDefaultFactories()]))->fromString($dsn)`,
 * or, in a Symfony application, as a service tagged `mailer.transport_factory`.
 */
final class SmtpSubmitTransportFactory extends AbstractTransportFactory
{
    /** Query options that are Symfony's, not libsmtp's. */
    private const SYMFONY_OPTIONS = ['max_per_second', 'ping_threshold', 'local_domain'];

    /**
     * Creates the transport for $dsn (it does not connect: the first send does).
     *
     * @throws UnsupportedSchemeException for a scheme other than smtp-submit and smtp-submits
     * @throws IncompleteDsnException for a user without a password, or a password without a user
     * @throws InvalidArgumentException for an option libsmtp refuses, or a malformed value
     */
    public function create(Dsn $dsn): TransportInterface
    {
        $scheme = $dsn->getScheme();
        if (!in_array($scheme, $this->getSupportedSchemes(), true)) {
            throw new UnsupportedSchemeException($dsn, 'smtp-submit', $this->getSupportedSchemes());
        }
        $implicit = $scheme === 'smtp-submits';

        $user = $dsn->getUser();
        $password = $dsn->getPassword();
        if ($user !== null && $password === null) {
            throw new IncompleteDsnException('The smtp-submit DSN has a user but no password (smtp-submit://user:password@host).');
        }
        if ($user === null && $password !== null) {
            throw new IncompleteDsnException('The smtp-submit DSN has a password but no user (smtp-submit://user:password@host).');
        }

        $options = self::options($dsn);
        $arguments = ['host' => self::host($dsn->getHost()), 'port' => $dsn->getPort()];
        if ($implicit) {
            foreach (['security', 'tls'] as $name) {
                if (isset($options[$name]) && strcasecmp((string) $options[$name], 'implicit') !== 0) {
                    throw new InvalidArgumentException(sprintf(
                        'The smtp-submits scheme means implicit TLS; it cannot be combined with %s=%s (use smtp-submit:// for that).',
                        $name,
                        (string) $options[$name],
                    ));
                }
            }
            $arguments['security'] = 'implicit';
        }
        if ($user !== null) {
            $arguments['user'] = $user;
            $arguments['password'] = $password;
        }

        $maxPerSecond = self::number($options, 'max_per_second');
        $pingThreshold = self::number($options, 'ping_threshold');
        if (isset($options['local_domain'])) {
            $options['client_name'] ??= $options['local_domain'];
        }
        if (isset($options['ca_file'])) {
            $arguments['caFile'] = $options['ca_file'];
            unset($options['ca_file']);
        }
        foreach (self::SYMFONY_OPTIONS as $name) {
            unset($options[$name]);
        }
        $options['recipient_policy'] ??= 'all_or_nothing';
        foreach ($options as $name => $value) {
            if (!is_string($value)) {
                throw new InvalidArgumentException(sprintf('The smtp-submit DSN option "%s" must be given once, as name=value.', $name));
            }
        }
        $arguments['options'] = $options;

        $name = ($implicit ? 'smtp-submits://' : 'smtp-submit://') . self::displayHost($arguments['host'])
            . ':' . ($dsn->getPort() ?? ($implicit ? 465 : 587));
        $transport = new SmtpSubmitTransport($arguments, $this->dispatcher, $this->logger, $name);
        if ($maxPerSecond !== null) {
            $transport->setMaxPerSecond($maxPerSecond);
        }
        if ($pingThreshold !== null) {
            $transport->setPingThreshold($pingThreshold);
        }
        return $transport;
    }

    /** @return list<string> smtp-submit and smtp-submits */
    protected function getSupportedSchemes(): array
    {
        return ['smtp-submit', 'smtp-submits'];
    }

    /**
     * Every query option of $dsn. Symfony's Dsn has no getter for all of
     * them (only getOption($name)), so the one private property is read;
     * it has had that name and meaning from Symfony 4.4 to 7.
     *
     * @return array<string, mixed>
     */
    private static function options(Dsn $dsn): array
    {
        if (!property_exists(Dsn::class, 'options')) {
            throw new InvalidArgumentException('This version of Symfony Mailer keeps DSN options where smtp-submit cannot read them.');
        }
        $read = \Closure::bind(static fn (Dsn $d): mixed => $d->options, null, Dsn::class);
        $options = $read($dsn);
        return is_array($options) ? $options : [];
    }

    /**
     * A non-negative number option, removed from the list libsmtp gets; null when absent.
     *
     * @param array<string, mixed> $options
     */
    private static function number(array $options, string $name): ?float
    {
        if (!array_key_exists($name, $options)) {
            return null;
        }
        $value = $options[$name];
        if (!is_string($value) || !is_numeric($value) || (float) $value < 0) {
            throw new InvalidArgumentException(sprintf('The smtp-submit DSN option "%s" must be a number, 0 or more.', $name));
        }
        return (float) $value;
    }

    /** The DSN's host without the brackets of an IPv6 literal ("[::1]" is "::1" for libsmtp). */
    private static function host(string $host): string
    {
        if (str_starts_with($host, '[') && str_ends_with($host, ']')) {
            return substr($host, 1, -1);
        }
        return $host;
    }

    /** $host for a URL-like name: an IPv6 address in brackets. */
    private static function displayHost(string $host): string
    {
        return str_contains($host, ':') ? "[$host]" : $host;
    }
}
