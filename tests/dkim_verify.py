#!/usr/bin/env python3
"""Verifies every DKIM-Signature of a message with dkimpy (python3-dkim),
the key records given on the command line instead of DNS.

    dkim_verify.py MESSAGE_FILE NAME=RECORD...

NAME is <selector>._domainkey.<domain>, RECORD the TXT record
("v=DKIM1; k=rsa; p=...") or @PATH: the record of the private key in the
PEM file PATH (RSA or Ed25519), its public key taken out by `openssl pkey`.
Line endings are made CRLF first (a Maildir stores LF). Prints one line
per signature ("pass d=... s=..." or "fail ...") and exits 0 only when
there is at least one signature and all of them verify; 2 when dkimpy
cannot be imported.
"""

import base64
import re
import subprocess
import sys

try:
    import dkim
except ImportError as e:  # the caller decides whether that is a failure
    print(f"dkimpy missing: {e}", file=sys.stderr)
    sys.exit(2)


def record_of(pem_path):
    """The DKIM key record of a private key file, through openssl."""
    der = subprocess.run(
        ["openssl", "pkey", "-in", pem_path, "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    text = subprocess.run(
        ["openssl", "pkey", "-in", pem_path, "-noout", "-text"],
        check=True,
        capture_output=True,
    ).stdout
    if b"ED25519" in text.upper():
        # RFC 8463: the bare 32-byte public key, the end of the SPKI.
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:])
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def main():
    path = sys.argv[1]
    records = {}
    for arg in sys.argv[2:]:
        name, record = arg.split("=", 1)
        value = record_of(record[1:]) if record.startswith("@") else record.encode()
        records[name.lower().rstrip(".")] = value

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.lower().rstrip("."))

    with open(path, "rb") as f:
        message = f.read()
    message = re.sub(rb"\r?\n", b"\r\n", message)
    d = dkim.DKIM(message)
    signatures = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
    if not signatures:
        print("fail: no DKIM-Signature")
        return 1
    ok = True
    for idx, value in enumerate(signatures):
        tags = dict(
            (m.group(1).decode(), m.group(2).decode())
            for m in re.finditer(rb"([a-z]+)=([^;\s]*)", value)
        )
        verdict = d.verify(idx=idx, dnsfunc=dnsfunc)
        ok = ok and verdict
        print(f"{'pass' if verdict else 'fail'} a={tags.get('a')} d={tags.get('d')} s={tags.get('s')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
