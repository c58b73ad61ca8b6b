<?php

/*
 * Concern: the connection half of Smtp\Compat\PHPMailer: Host lists and
 * SMTPSecure/SMTPAutoTLS/SMTPOptions turned into Smtp\Mailer settings, the
 * hosts tried in order, PHPMailer's wording for a failed connection, and
 * SMTPDebug fed from libsmtp's transcript (credentials already hidden).
 */

declare(strict_types=1);

namespace Smtp\Compat;

use Smtp\Exception\AuthenticationException;
use Smtp\Exception\ConnectionException;
use Smtp\Exception\SmtpException;
use Smtp\Exception\TlsException;
use Smtp\Mailer;
use Smtp\TranscriptDirection;

/**
 * Connecting for Smtp\Compat\PHPMailer.
 *
 * @internal used by PHPMailer only
 */
trait PHPMailerConnection
{
    /**
     * Connects to the first host of Host that works: one that cannot be
     * reached or whose TLS fails moves on to the next (libsmtp's relay-list
     * rule; PHPMailer also moves on after refused credentials).
     *
     * @throws Exception with the last failure (libsmtp's as previous)
     */
    private function connect(): Mailer
    {
        try {
            $hosts = HostList::parse($this->Host, $this->Port, $this->SMTPSecure, $this->SMTPAutoTLS, (bool) $this->SMTPAuth);
            $settings = $this->settings();
        } catch (SmtpException $e) {
            throw new Exception($e->getMessage(), 0, $e);
        }
        foreach ($hosts->invalid as $entry) {
            $this->edebug('Invalid host: ' . self::shown($entry));
        }
        if ($hosts->groups === []) {
            throw new Exception('SMTP Error: Could not connect to SMTP host. No valid host in Host');
        }
        $last = null;
        foreach ($hosts->groups as [$security, $list]) {
            $mailer = null;
            try {
                // Plaintext authentication to this machine only (see HostList).
                $local = $security === 'opportunistic-local';
                $mailer = new Mailer(...['host' => $list, 'security' => $local ? 'opportunistic' : $security,
                    'insecurePlaintextAuth' => $local] + $settings);
                $mailer->connect();
                return $mailer;
            } catch (SmtpException $e) {
                $last = $e;
                $this->edebug($this->connectError($e));
                $mailer?->close();
                // libsmtp's relay-list rule across TLS modes too: refused
                // credentials or bad settings would fail on the next host alike.
                if (!$e instanceof ConnectionException && !$e instanceof TlsException) {
                    break;
                }
            }
        }
        throw new Exception($this->connectError($last), 0, $last);
    }

    /** PHPMailer's wording for a failed connection, then libsmtp's explanation. */
    private function connectError(?SmtpException $e): string
    {
        if ($e instanceof AuthenticationException) {
            return 'SMTP Error: Could not authenticate. ' . $e->getMessage();
        }
        if ($e instanceof ConnectionException || $e instanceof TlsException) {
            return 'SMTP Error: Could not connect to SMTP host. ' . $e->getMessage();
        }
        return 'SMTP connect() failed. ' . ($e?->getMessage() ?? '');
    }

    /**
     * Mailer's arguments from the connection properties (all but host and security).
     *
     * @return array<string, mixed>
     * @throws Exception
     */
    private function settings(): array
    {
        $settings = ['options' => []];
        if ($this->SMTPAuth) {
            $settings['user'] = is_scalar($this->Username) ? (string) $this->Username : '';
            $settings['password'] = is_scalar($this->Password) ? (string) $this->Password : '';
            if (is_string($this->AuthType) && trim($this->AuthType) !== '') {
                $settings['mechanism'] = strtoupper(trim($this->AuthType));
            }
        }
        if (is_numeric($this->Timeout) && $this->Timeout > 0) {
            $settings['timeout'] = $settings['connectTimeout'] = (int) ceil((float) $this->Timeout);
        }
        $helo = is_string($this->Helo) && $this->Helo !== '' ? $this->Helo
            : (is_string($this->Hostname) && $this->Hostname !== '' ? $this->Hostname : null);
        if ($helo !== null) {
            $settings['clientName'] = $helo;
        }
        $settings = TlsOptions::map($this->SMTPOptions) + $settings;
        if ((int) $this->SMTPDebug > 0) {
            $settings['transcript'] = $this->transcript();
        }
        return $settings;
    }

    /**
     * The transcript callable: libsmtp's lines (credentials already
     * hidden) to the debug output. It holds this object weakly, so a
     * kept connection does not keep the object alive.
     */
    private function transcript(): \Closure
    {
        $self = \WeakReference::create($this);
        return static function (TranscriptDirection $direction, string $line) use ($self): void {
            $mail = $self->get();
            if ($mail === null) {
                return;
            }
            $text = DebugOutput::transcriptLine($direction, $line, (int) $mail->SMTPDebug);
            if ($text !== null) {
                DebugOutput::write($mail->Debugoutput, (int) $mail->SMTPDebug, $text);
            }
        };
    }

    /** Frees the connection object. */
    private function dropConnection(): void
    {
        $this->connection?->close();
        $this->connection = null;
    }
}
