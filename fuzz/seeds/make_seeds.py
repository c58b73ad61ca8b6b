#!/usr/bin/env python3
"""Writes the hand-made seed inputs into fuzz/corpus/<target>/seed-*.

Realistic inputs: EHLO replies as Postfix, Gmail, Exchange and Exim send
them, SASL challenges from the RFC examples, bodies with dots and bare
CR/LF, address and header texts. Run from fuzz/; `cargo fuzz cmin` then
keeps what adds coverage.
"""
import os

SEP = b"\xff"

def crlf(*lines):
    return b"".join(l.encode() + b"\r\n" for l in lines)

POSTFIX = crlf("250-mail.example.org", "250-PIPELINING", "250-SIZE 10240000", "250-VRFY",
               "250-ETRN", "250-STARTTLS", "250-AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256",
               "250-AUTH=PLAIN LOGIN", "250-ENHANCEDSTATUSCODES", "250-8BITMIME",
               "250-DSN", "250-SMTPUTF8", "250 CHUNKING")
GMAIL = crlf("250-smtp.gmail.com at your service, [203.0.113.7]", "250-SIZE 35882577",
             "250-8BITMIME", "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
             "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-CHUNKING", "250 SMTPUTF8")
EXCHANGE = crlf("250-AM0PR01CA0001.outlook.office365.com Hello [203.0.113.7]",
                "250-SIZE 157286400", "250-PIPELINING", "250-DSN", "250-ENHANCEDSTATUSCODES",
                "250-AUTH LOGIN XOAUTH2", "250-8BITMIME", "250-BINARYMIME", "250-CHUNKING",
                "250 SMTPUTF8")
EXIM = crlf("250-mx.example.net Hello client.example.org [192.0.2.1]", "250-SIZE 52428800",
            "250-8BITMIME", "250-PIPELINING", "250-PIPE_CONNECT", "250-AUTH CRAM-MD5 PLAIN",
            "250-STARTTLS", "250 HELP")
OLD = crlf("250-seed.263.net", "250-auth=LOGIN", "250-AUTH login cram-md5", "250 size")

REPLIES = {
    "postfix-ehlo": POSTFIX, "gmail-ehlo": GMAIL, "exchange-ehlo": EXCHANGE, "exim-ehlo": EXIM,
    "old-auth": OLD,
    "greeting": crlf("220 mail.example.org ESMTP Postfix (Debian/GNU)"),
    "greeting-multi": crlf("220-mail.example.org ESMTP", "220-no UCE", "220 ready"),
    "auth-challenge": crlf("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
    "auth-empty": b"334 \r\n",
    "auth-ok": crlf("235 2.7.0 Authentication successful"),
    "auth-fail": crlf("535 5.7.8 Error: authentication failed: authentication failure"),
    "mail-ok": crlf("250 2.1.0 Ok"),
    "data-go": crlf("354 End data with <CR><LF>.<CR><LF>"),
    "queued": crlf("250 2.0.0 Ok: queued as 4Fx1b22Gz9z9sWQ"),
    "rejected": crlf("550-5.1.1 The email account that you tried to reach does not exist.",
                     "550-5.1.1 Please try double-checking the recipient's email",
                     "550 5.1.1 https://support.google.com/mail/?p=NoSuchUser"),
    "shutdown": crlf("421 4.3.2 Service shutting down, closing transmission channel"),
    "lf-only": b"220-a\n220 b\n",
    "mixed": crlf("250-a", "251 b"),
    "bare-code": b"250\r\n",
    "class-mismatch": crlf("250 5.1.1 odd"),
    "latin1": b"250 caf\xe9\r\n",
    "two-replies": crlf("250 2.1.5 Ok", "250 2.1.5 Ok"),
    "pipelined": crlf("250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 go ahead"),
    "too-many": crlf(*(["250-x"] * 100 + ["250 x"])),
    "long-line": b"250 " + b"x" * 9000 + b"\r\n",
}

DATA = {
    "plain": b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello.\r\n",
    "dots": b"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nmid.dle\r\n.",
    "lf": b"Subject: lf\n\nline one\n.line two\n\n.\n",
    "bare-cr": b"a\rb\r\r\n.\rc\r",
    "mixed": b"x\r\n.\n\r.\r\r\n\n\n..\r",
    "no-final-newline": b"last line without newline",
    "terminator-inside": b"body\r\n.\r\nQUIT\r\n",
    "empty": b"",
    "only-dot": b".",
    "binary": bytes(range(256)),
    "crlf-split": b"\r" + b"\n" * 3 + b"\r\r\n\n.\r\n.",
}

SASL = {
    "sasl_plain": {
        "go-ahead": b"\x00",
        "initial": b"\x01",
        "custom-authzid": b"\x05test\x001234\x00test",
        "unexpected": b"\x01" + SEP + b"junk",
    },
    "sasl_login": {
        "usual": b"\x00Username:" + SEP + b"Password:",
        "variant": b"\x00User Name\x00" + SEP + b"Password",
        "reversed": b"\x00Password:" + SEP + b"Username:",
        "neither": b"\x00" + SEP + SEP + b"again",
        "custom": b"\x04user\x00secret" + SEP + b"login:" + SEP + b"pass:",
    },
    "sasl_cram_md5": {
        "rfc2195": b"\x00<1896.697170952@postoffice.reston.mci.net>",
        "curl": b"\x04user\x00secret" + SEP + b"<1972.987654321@curl>",
        "twice": b"\x00<1.2@host>" + SEP + b"<3.4@host>",
        "empty": b"\x00",
    },
    "sasl_xoauth2": {
        "google-error": b"\x01" + b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}',
        "go-ahead": b"\x00" + SEP + b'{"status":"400"}',
        "success": b"\x01",
    },
    "sasl_oauthbearer": {
        "rfc7628-error": b"\x01" + b'{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}' + SEP + b"{}",
        "go-ahead": b"\x00",
        "custom": b"\x05we,ird=name\x00tok\x00boss" + SEP + b'{"status":"invalid_token"}',
    },
    "sasl_scram_sha1": {
        "rfc5802": b"\x01r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096" + SEP + b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        "rfc5802-harness": b"\x09r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        "corrupted": b"\x59r=fyko+d2lbbFgONRv9qkxdawLxyz,s=QSXCR+Q6sek8bf92,i=16",
        "no-initial": b"\x08" + SEP + b"r=fyko+d2lbbFgONRv9qkxdawLab,s=c2FsdA,i=1,x=ext" + SEP + b"v=AAAA",
        "custom": b"\x0dus,er=\x00pencil\x00ad=min" + SEP + b"r=fyko+d2lbbFgONRv9qkxdawL!,s=QSXCR+Q6sek8bf92,i=8",
        "server-error": b"\x01e=invalid-proof",
        "mandatory-ext": b"\x01m=x,r=fyko+d2lbbFgONRv9qkxdawL1,s=QSXCR+Q6sek8bf92,i=4096",
        "success-data": b"\x03r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096" + SEP + b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    },
    "sasl_scram_sha256": {
        "rfc7677": b"\x01r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096" + SEP + b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        "rfc7677-harness": b"\x09r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "corrupted": b"\xb9r=rOprNGfwEbeRWgbNEkqOq,s=W22ZaJ0SNY7soEsUEjb6gQ,i=2",
        "no-initial": b"\x08" + SEP + b"r=rOprNGfwEbeRWgbNEkqO1,s=c2FsdA==,i=1" + SEP + b"v=" + SEP + b"extra",
        "custom": b"\x0dalice\x00p,a=ss" + SEP + b"r=rOprNGfwEbeRWgbNEkqOz,s=QSXCR+Q6sek8bf92,i=3",
        "server-error": b"\x01r=rOprNGfwEbeRWgbNEkqO2,s=QSXCR+Q6sek8bf92,i=1" + SEP + b"e=other-error",
        "huge-count": b"\x01r=rOprNGfwEbeRWgbNEkqO2,s=QSXCR+Q6sek8bf92,i=4294967296",
    },
}

ADDRESSES = {
    "plain": "a@b.c", "quoted-local": '"john doe"@x.org', "name": "Zoë Example <zoe@example.org>",
    "literal": "u@[127.0.0.1]", "idn": "用户@例子.中国", "idn-domain": "user@bücher.example",
    "postmaster": "postmaster", "crlf": "a@x\r\n.org", "group": "Team: a@x.org, b@y.org;",
    "undisclosed": "undisclosed-recipients:;", "encoded-name": "=?UTF-8?B?Wm/Dqw==?= <zoe@example.org>",
    "comment": "bob@example.net (Bob)", "quoted-comma": '"Doe, Jane" <jane@example.net>, bob@example.net',
    "backslash": '"a\\\\b \\"c\\"" <x@example.org>', "ace": "xn--bcher-kva.example",
    "nested-comment": "x@y.org (a (b) c)", "angle-only": "<a@example.org>",
}

ENVELOPES = {
    "simple": b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: x\r\n\r\nbody\r\nBcc: not-a-header@example.net\r\n",
    "bcc-folded": b"From: a@example.org\r\nTo: b@example.net,\r\n c@example.net\r\nBcc: secret@example.net,\r\n\tother@example.net\r\nCc: B@EXAMPLE.NET\r\n\r\nbody",
    "sender": b"Sender: s@example.org\nFrom: a@example.org, b@example.org\nbcc : x@example.com\nTo: undisclosed-recipients:;\n\n",
    "group": b"From: a@example.org\r\nTo: Team: x@example.org, y@example.org;, z@example.org\r\n\r\n",
    "no-body": b"From: a@example.org\r\nTo: b@example.net",
    "empty-first": b"\r\nFrom: a@example.org\r\nTo: b@example.net\r\n",
    "no-colon": b"Bcc\r\nFrom: a@example.org\r\nTo: b@example.net\r\n\r\n",
}

HEADERS = {
    "ascii": ["Hello world", "plain value", "John Doe", "X-Mailer", "Hi.\n.\nBye\n"],
    "unicode": ["Quarterly report — 季度报告", "Zoë née Ünïcode", "Zoë Example", "X-Tag",
                "Grüße\r\n.\r\n"],
    "encoded": ["=?UTF-8?Q?caf=C3=A9?= and more", "=?utf-8?B?5L2g5aW9?=", "=?iso-8859-1?q?x?=",
                "List-Id", ""],
    "long": ["word " * 60, "x" * 1000, "a" * 80 + " é " + "b" * 950, "Keywords", "y" * 2000],
    "quotes": ['say "hi"', "tab\there", 'Doe, "Jane" \\ Q', "In-Reply-To", "."],
    "spaces": ["  lead and trail  ", " =?x ?= ", "a  b", "Subject", "\r"],
    "emoji": ["😀" * 40, "🙏 ok", "😀😀 😀", "X-😀", "\n" * 5],
}

def write(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

for name, data in REPLIES.items():
    write("reply", name, data)
for name in ["postfix-ehlo", "gmail-ehlo", "exchange-ehlo", "exim-ehlo", "old-auth", "greeting"]:
    write("capabilities", name, REPLIES[name])
write("capabilities", "bare-lines", b"250-host\nAUTH PLAIN\nSIZE\nsize 12x\n")
for name, data in DATA.items():
    write("data", name, data)
    write("bdat", name, data)
for target, seeds in SASL.items():
    for name, data in seeds.items():
        write(target, name, data)
for name, text in ADDRESSES.items():
    write("address", name, text.encode())
for name, data in ENVELOPES.items():
    write("envelope", name, data)
for name, fields in HEADERS.items():
    write("header", name, SEP.join(f.encode() for f in fields))
