#!/usr/bin/env python3
"""Check a running test bed from the outside with smtplib.

    python3 tests/testbed/selfcheck.py [DIR/testbed.env]

Without an argument the env file named by $SMTP_TESTBED_ENV is used, so
"tests/testbed/run.sh python3 tests/testbed/selfcheck.py" checks a fresh bed.

Prints the EHLO capabilities of every port and checks AUTH, TLS, delivery and
the reject-/tempfail- recipients.  Exits non-zero on the first failed check.
"""
import base64
import hashlib
import hmac
import os
import shlex
import smtplib
import ssl
import sys
import time
import uuid


def load_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            words = shlex.split(value)
            env[key] = words[0] if words else ""
    return env


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok:   {what}")


def ehlo_lines(smtp):
    code, text = smtp.ehlo("selfcheck.example.test")
    check(code == 250, f"EHLO answered 250 (got {code})")
    return text.decode().splitlines()[1:]


def auth_mechs(smtp):
    return set(smtp.esmtp_features.get("auth", "").upper().split())


def scram_login(smtp, mech, user, password):
    """A minimal SCRAM-SHA-1/-256 client (RFC 5802), no channel binding."""
    algo = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech]
    b64 = lambda b: base64.b64encode(b).decode()
    nonce = b64(os.urandom(18))
    name = user.replace("=", "=3D").replace(",", "=2C")
    first_bare = f"n={name},r={nonce}"
    code, resp = smtp.docmd("AUTH", f"{mech} {b64(('n,,' + first_bare).encode())}")
    if code != 334:
        return code
    server_first = base64.b64decode(resp).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields["r"].startswith(nonce):
        return -1
    salted = hashlib.pbkdf2_hmac(algo, password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", algo).digest()
    stored_key = hashlib.new(algo, client_key).digest()
    final_bare = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.new(stored_key, auth_message, algo).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    code, resp = smtp.docmd(b64(f"{final_bare},p={b64(proof)}".encode()))
    if code != 334:
        return code
    server_key = hmac.new(salted, b"Server Key", algo).digest()
    expected = "v=" + b64(hmac.new(server_key, auth_message, algo).digest())
    if base64.b64decode(resp).decode() != expected:
        return -2
    code, _ = smtp.docmd("")
    return code


def wait_for(maildir, marker, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for sub in ("new", "cur"):
            d = os.path.join(maildir, sub)
            for name in os.listdir(d):
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
                if marker.encode() in data:
                    return data
        time.sleep(0.05)
    return None


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SMTP_TESTBED_ENV")
    if not path:
        sys.exit("usage: selfcheck.py DIR/testbed.env (or set SMTP_TESTBED_ENV)")
    env = load_env(path)
    host = env["SMTP_TESTBED_HOST"]
    user, password = env["SMTP_TESTBED_USER"], env["SMTP_TESTBED_PASSWORD"]
    domain = env["SMTP_TESTBED_DOMAIN"]
    maildir = env["SMTP_TESTBED_MAILDIR"]
    ctx = ssl.create_default_context(cafile=env["SMTP_TESTBED_CA_FILE"])
    all_mechs = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"}
    port = lambda name: int(env[f"SMTP_TESTBED_PORT_{name}"])

    # a. plain
    print(f"--- PORT_PLAIN {port('PLAIN')}")
    with smtplib.SMTP(host, port("PLAIN"), timeout=10) as s:
        for line in ehlo_lines(s):
            print("    " + line)
        check(auth_mechs(s) == all_mechs, "plain: AUTH offers exactly the five mechanisms")
        check(not s.has_extn("starttls"), "plain: no STARTTLS")
        for ext in ("pipelining", "8bitmime", "smtputf8", "chunking", "size"):
            check(s.has_extn(ext), f"plain: {ext.upper()} offered")
        check(s.esmtp_features["size"] == "209715200", "plain: SIZE 209715200")
        code, _ = s.docmd("MAIL FROM:<nobody@example.test>")
        check(code == 250, "plain: MAIL FROM without AUTH accepted")
        code, text = s.docmd(f"RCPT TO:<someone@{domain}>")
        check(code == 554, f"plain: RCPT without AUTH refused ({code} {text.decode()})")
    for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
        with smtplib.SMTP(host, port("PLAIN"), timeout=10) as s:
            s.ehlo()
            s.user, s.password = user, password
            code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")))
            check(code == 235, f"plain: AUTH {mech} as {user}")
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
        with smtplib.SMTP(host, port("PLAIN"), timeout=10) as s:
            s.ehlo()
            code = scram_login(s, mech, user, password)
            check(code == 235, f"plain: AUTH {mech} as {user} (server signature verified)")
        with smtplib.SMTP(host, port("PLAIN"), timeout=10) as s:
            s.ehlo()
            code = scram_login(s, mech, user, "wrong")
            check(code == 535, f"plain: AUTH {mech} with a wrong password refused ({code})")
    with smtplib.SMTP(host, port("PLAIN"), timeout=10) as s:
        s.ehlo()
        try:
            s.login(user, "wrong password")
            check(False, "plain: wrong password refused")
        except smtplib.SMTPAuthenticationError as e:
            check(e.smtp_code == 535, f"plain: wrong password refused ({e.smtp_code})")
    with smtplib.SMTP(host, port("PLAIN"), timeout=10) as s:
        s.login(env["SMTP_TESTBED_USER2"], env["SMTP_TESTBED_PASSWORD2"])
        check(True, "plain: second user logs in")
        marker = "selfcheck-" + uuid.uuid4().hex
        msg = f"From: a@{domain}\r\nTo: someone@{domain}\r\nSubject: {marker}\r\n\r\nhello\r\n"
        s.sendmail(f"sender@{domain}", [f"someone@{domain}"], msg)
        try:
            s.sendmail(f"sender@{domain}", [f"reject-x@{domain}"], msg)
            check(False, "reject-x refused")
        except smtplib.SMTPRecipientsRefused as e:
            code = e.recipients[f"reject-x@{domain}"][0]
            check(code == 550, f"plain: reject-x@ refused with {code}")
        try:
            s.sendmail(f"sender@{domain}", [f"tempfail-x@{domain}"], msg)
            check(False, "tempfail-x refused")
        except smtplib.SMTPRecipientsRefused as e:
            code = e.recipients[f"tempfail-x@{domain}"][0]
            check(code == 450, f"plain: tempfail-x@ refused with {code}")
        try:
            s.sendmail(f"sender@{domain}", ["someone@elsewhere.example"], msg)
            check(False, "relay refused")
        except smtplib.SMTPRecipientsRefused as e:
            code = e.recipients["someone@elsewhere.example"][0]
            check(code == 554, f"plain: relaying to elsewhere.example refused with {code}")
    data = wait_for(maildir, marker)
    check(data is not None, "plain: message delivered to the Maildir")
    print("    " + "\n    ".join(data.decode().splitlines()[:8]))

    # b. submission
    print(f"--- PORT_SUBMISSION {port('SUBMISSION')}")
    with smtplib.SMTP(host, port("SUBMISSION"), timeout=10) as s:
        for line in ehlo_lines(s):
            print("    " + line)
        check(s.has_extn("starttls"), "submission: STARTTLS offered")
        check(not s.has_extn("auth"), "submission: no AUTH before STARTTLS")
        code, _ = s.docmd("MAIL FROM:<a@example.test>")
        check(code == 530, f"submission: MAIL before STARTTLS refused ({code})")
        s.starttls(context=ctx)
        print("    after STARTTLS:")
        for line in ehlo_lines(s):
            print("    " + line)
        check(auth_mechs(s) == all_mechs, "submission: AUTH after STARTTLS, cert verified for localhost")
        s.login(user, password)
        marker = "selfcheck-" + uuid.uuid4().hex
        s.sendmail(f"sender@{domain}", [f"sub@{domain}"], f"Subject: {marker}\r\n\r\nx\r\n")
    check(wait_for(maildir, marker) is not None, "submission: message delivered")

    # c. smtps
    print(f"--- PORT_SMTPS {port('SMTPS')}")
    import socket
    with socket.create_connection((host, port("SMTPS")), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            greeting = tls.makefile("rb").readline().decode().strip()
            check(greeting.startswith("220"), f"smtps: TLS first, cert verified for localhost, then {greeting!r}")
    # smtplib verifies the address it connected to: the IP SAN 127.0.0.1.
    with smtplib.SMTP_SSL(host, port("SMTPS"), timeout=10, context=ctx) as s:
        for line in ehlo_lines(s):
            print("    " + line)
        check(auth_mechs(s) == all_mechs, "smtps: AUTH offered (cert verified for IP 127.0.0.1)")
        check(not s.has_extn("starttls"), "smtps: no STARTTLS inside TLS")
        s.login(user, password)

    # d. noauth
    print(f"--- PORT_NOAUTH {port('NOAUTH')}")
    with smtplib.SMTP(host, port("NOAUTH"), timeout=10) as s:
        for line in ehlo_lines(s):
            print("    " + line)
        check(not s.has_extn("auth"), "noauth: no AUTH")
        check(not s.has_extn("starttls"), "noauth: no STARTTLS")
        marker = "selfcheck-" + uuid.uuid4().hex
        s.sendmail("", [f"open@{domain}"], f"Subject: {marker}\r\n\r\nx\r\n")
        try:
            s.sendmail("", [f"reject-y@{domain}"], "Subject: x\r\n\r\nx\r\n")
            check(False, "noauth: reject-y refused")
        except smtplib.SMTPRecipientsRefused as e:
            check(e.recipients[f"reject-y@{domain}"][0] == 550, "noauth: reject-y@ refused with 550")
    check(wait_for(maildir, marker) is not None, "noauth: unauthenticated message delivered")

    # e/f/g: like plain
    for name in ("STRICT", "DISCARD", "IPV6"):
        if not env.get(f"SMTP_TESTBED_PORT_{name}"):
            print(f"--- PORT_{name}: not available")
            continue
        h = "::1" if name == "IPV6" else host
        print(f"--- PORT_{name} {port(name)} on {h}")
        with smtplib.SMTP(h, port(name), timeout=10) as s:
            for line in ehlo_lines(s):
                print("    " + line)
            check(auth_mechs(s) == all_mechs, f"{name.lower()}: AUTH offered")
            s.login(user, password)
            marker = "selfcheck-" + uuid.uuid4().hex
            s.sendmail(f"sender@{domain}", [f"x@{domain}"], f"Subject: {marker}\r\n\r\nx\r\n")
        got = wait_for(maildir, marker, timeout=3 if name == "DISCARD" else 10)
        if name == "DISCARD":
            check(got is None, "discard: accepted message not delivered")
        else:
            check(got is not None, f"{name.lower()}: message delivered")
    print("all checks passed")


if __name__ == "__main__":
    main()
