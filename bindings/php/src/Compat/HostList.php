<?php

/*
 * Concern: PHPMailer's Host setting ("tls://a.example:587;b.example") turned
 * into libsmtp relay lists, one per TLS mode, in the order given.
 */

declare(strict_types=1);

namespace Smtp\Compat;

/**
 * The hosts of a PHPMailer Host value, grouped for Smtp\Mailer.
 *
 * Entries are separated by ";", each `[tls://|ssl://]host[:port]`
 * (`[v6]:port` for IPv6). Without a port an entry uses Port. Its TLS mode
 * is its prefix's (ssl:// implicit TLS, tls:// STARTTLS required), else
 * SMTPSecure's ('ssl', 'tls'), else, with SMTPAutoTLS, STARTTLS when the
 * server offers it, and without it none. One difference, libsmtp's rule
 * that a password never travels where TLS could have been stripped: with
 * SMTPAuth, "STARTTLS when offered" becomes "STARTTLS required" for every
 * host but this machine's (localhost, 127.0.0.0/8, ::1), which keeps
 * "when offered" (the group's security is then 'opportunistic-local', for
 * which PHPMailer allows plaintext authentication). Consecutive entries with the
 * same mode make one libsmtp relay list ("a:587,b:587", tried in order by
 * the library); a change of mode starts the next list. An entry that is
 * not a host name or an address is left out (and listed in $invalid), as
 * PHPMailer skips it.
 *
 * @internal used by PHPMailer only
 */
final class HostList
{
    /**
     * @param list<array{0: string, 1: string}> $groups [security, "host:port,host:port"] in order
     * @param list<string> $invalid the entries left out
     */
    private function __construct(public readonly array $groups, public readonly array $invalid)
    {
    }

    /**
     * @throws Exception for an SMTPSecure value other than '', 'tls', 'ssl' (or false/null)
     */
    public static function parse(mixed $host, mixed $port, mixed $secure, mixed $autoTls, bool $auth): self
    {
        $default = self::security($secure, (bool) $autoTls);
        $defaultPort = is_numeric($port) && (int) $port > 0 && (int) $port < 65536 ? (int) $port : 25;
        $groups = [];
        $invalid = [];
        $entries = is_string($host) ? explode(';', $host) : [];
        foreach (array_slice($entries, 0, 100) as $entry) {
            $entry = trim($entry);
            if ($entry === '') {
                continue;
            }
            $security = $default;
            if (preg_match('#^([A-Za-z]+)://(.*)$#sD', $entry, $m) === 1) {
                $scheme = strtolower($m[1]);
                if ($scheme !== 'ssl' && $scheme !== 'tls') {
                    $invalid[] = $entry;
                    continue;
                }
                $security = $scheme === 'ssl' ? 'implicit' : 'starttls';
                $rest = $m[2];
            } else {
                $rest = $entry;
            }
            $address = self::hostPort($rest, $defaultPort);
            if ($address === null) {
                $invalid[] = $entry;
                continue;
            }
            if ($security === 'opportunistic' && $auth) {
                $security = self::isLoopback($address) ? 'opportunistic-local' : 'starttls';
            }
            $last = count($groups) - 1;
            if ($last >= 0 && $groups[$last][0] === $security) {
                $groups[$last][1] .= ',' . $address;
            } else {
                $groups[] = [$security, $address];
            }
        }
        return new self($groups, $invalid);
    }

    /** The Mailer security for SMTPSecure and SMTPAutoTLS. */
    private static function security(mixed $secure, bool $autoTls): string
    {
        if ($secure === null || $secure === false || $secure === '') {
            return $autoTls ? 'opportunistic' : 'none';
        }
        $secure = is_string($secure) ? strtolower(trim($secure)) : '';
        return match ($secure) {
            PHPMailer::ENCRYPTION_STARTTLS => 'starttls',
            PHPMailer::ENCRYPTION_SMTPS => 'implicit',
            default => throw new Exception("SMTPSecure must be '', 'tls' (PHPMailer::ENCRYPTION_STARTTLS) or 'ssl' "
                . '(PHPMailer::ENCRYPTION_SMTPS)'),
        };
    }

    /** Whether "host:port" names this machine. */
    private static function isLoopback(string $address): bool
    {
        $host = strtolower(trim(substr($address, 0, (int) strrpos($address, ':')), '[]'));
        return $host === 'localhost' || $host === '::1' || preg_match('/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/D', $host) === 1;
    }

    /** "host:port" ("[v6]:port") for an entry, or null when the host is not a name or an address. */
    private static function hostPort(string $entry, int $defaultPort): ?string
    {
        $port = $defaultPort;
        if (preg_match('/^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/D', $entry, $m) === 1) {
            $host = $m[1];
            $portText = $m[2] ?? '';
        } elseif (substr_count($entry, ':') > 1) {
            $host = $entry; // a bare IPv6 address
            $portText = '';
        } else {
            [$host, $portText] = array_pad(explode(':', $entry, 2), 2, '');
        }
        if ($portText !== '') {
            if (preg_match('/^\d{1,5}$/D', $portText) !== 1 || (int) $portText < 1 || (int) $portText > 65535) {
                return null;
            }
            $port = (int) $portText;
        }
        if (filter_var($host, FILTER_VALIDATE_IP, FILTER_FLAG_IPV6) !== false) {
            return "[$host]:$port";
        }
        $isName = strlen($host) <= 253
            && preg_match('/^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/D', $host) === 1;
        return $isName ? "$host:$port" : null;
    }
}
