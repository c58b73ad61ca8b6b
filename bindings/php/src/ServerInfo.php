<?php

declare(strict_types=1);

namespace Smtp;

/**
 * What the server told about itself on the last connect: greeting,
 * extensions, authentication and TLS.
 */
final class ServerInfo
{
    /**
     * @param string $greeting the 220 greeting, e.g. "220 mail.example.org ESMTP"
     * @param list<string> $extensions the EHLO lines ("PIPELINING", "SIZE 10240000"...); [] after HELO
     * @param list<string> $authMechanisms the SASL mechanisms offered, upper-case
     * @param ?string $authenticatedWith the mechanism used, null if the session did not authenticate
     * @param ?string $tlsVersion e.g. "TLSv1.3", null without TLS
     * @param ?string $tlsCipher e.g. "TLS13_AES_256_GCM_SHA384", null without TLS
     * @param ?string $peerCertificate the server's certificate (DER bytes), null without TLS
     * @param string $server the server connected to, "host:port" (with a relay list, the
     *        one that took the session)
     */
    public function __construct(
        public readonly string $greeting,
        public readonly array $extensions,
        public readonly array $authMechanisms,
        public readonly ?string $authenticatedWith,
        public readonly ?string $tlsVersion,
        public readonly ?string $tlsCipher,
        public readonly ?string $peerCertificate,
        public readonly string $server = '',
    ) {
    }

    /** True if the server announced the extension (its first word, any case), e.g. "SMTPUTF8". */
    public function hasExtension(string $keyword): bool
    {
        foreach ($this->extensions as $line) {
            if (strcasecmp(strtok($line, ' ') ?: '', $keyword) === 0) {
                return true;
            }
        }
        return false;
    }

    /** True when the session runs over TLS. */
    public function isTls(): bool
    {
        return $this->tlsVersion !== null;
    }

    /**
     * For var_dump()/print_r(): the certificate as its length, not raw bytes.
     *
     * @return array<string, mixed>
     */
    public function __debugInfo(): array
    {
        $info = get_object_vars($this);
        $info['peerCertificate'] = $this->peerCertificate === null
            ? null
            : 'DER, ' . strlen($this->peerCertificate) . ' bytes';
        return $info;
    }

    /** The server's certificate as PEM text, null without TLS. */
    public function peerCertificatePem(): ?string
    {
        if ($this->peerCertificate === null) {
            return null;
        }
        return "-----BEGIN CERTIFICATE-----\n"
            . chunk_split(base64_encode($this->peerCertificate), 64, "\n")
            . "-----END CERTIFICATE-----\n";
    }
}
