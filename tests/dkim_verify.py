#!/usr/bin/env python3
"""Verifies every DKIM-Signature of a message with dkimpy (python3-dkim),
the key records given on the command line instead of DNS.

    dkim_verify.py MESSAGE_FILE NAME=RECORD...

NAME is <selector>._domainkey.<domain>, RECORD the TXT record
("v=DKIM1; k=rsa; p=..."). Prints one line per signature ("pass d=... s=..."
or "fail ...") and exits 0 only when there is at least one signature and all
of them verify; 2 when dkimpy cannot be imported.
"""

import re
import sys

try:
    import dkim
except ImportError as e:  # the caller decides whether that is a failure
    print(f"dkimpy missing: {e}", file=sys.stderr)
    sys.exit(2)


def main():
    path = sys.argv[1]
    records = {}
    for arg in sys.argv[2:]:
        name, record = arg.split("=", 1)
        records[name.lower().rstrip(".")] = record.encode()

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        return records.get(name.lower().rstrip("."))

    with open(path, "rb") as f:
        message = f.read()
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
