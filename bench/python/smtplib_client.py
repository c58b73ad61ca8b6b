#!/usr/bin/env python3
"""Python's smtplib under benchmark (standard library only).

One smtplib.SMTP connection, AUTH PLAIN when BENCH_USER/BENCH_PASSWORD are
set, then BENCH_COUNT calls of SMTP.sendmail() with the same pre-formatted
message (BENCH_MESSAGE) and envelope. Prints the "RESULT {json}" line every
client prints (see bench/src/lib.rs for the BENCH_* variables).
"""

import ipaddress
import json
import os
import resource
import smtplib
import sys
import time


def cpu_seconds():
    """(user + system, user) CPU time of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_utime


def peak_rss_kb():
    """Peak RSS in KiB (VmHWM in /proc/self/status), 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    env = os.environ
    host = env.get("BENCH_HOST") or "127.0.0.1"
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        sys.exit("smtplib_client: BENCH_HOST must be a loopback address")
    port = int(env["BENCH_PORT"])
    count = int(env["BENCH_COUNT"])
    sender = env["BENCH_FROM"]
    rcpts = [r.strip() for r in env["BENCH_RCPTS"].split(",") if r.strip()]
    with open(env["BENCH_MESSAGE"], "rb") as f:
        message = f.read()
    smtp = smtplib.SMTP(host, port, local_hostname="bench.example.test", timeout=120)
    smtp.ehlo()
    user, password = env.get("BENCH_USER"), env.get("BENCH_PASSWORD")
    if user and password:
        smtp.user, smtp.password = user, password
        smtp.auth("PLAIN", smtp.auth_plain)
    wall0, (cpu0, user0) = time.perf_counter(), cpu_seconds()
    for _ in range(count):
        refused = smtp.sendmail(sender, rcpts, message)
        if refused:
            sys.exit(f"smtplib_client: recipients refused: {refused}")
    wall = time.perf_counter() - wall0
    cpu1, user1 = cpu_seconds()
    smtp.quit()
    print("RESULT " + json.dumps({
        "client": "smtplib",
        "messages": count,
        "seconds": wall,
        "cpu_seconds": cpu1 - cpu0,
        "cpu_user_seconds": user1 - user0,
        "bytes": len(message) * count,
        "peak_rss_kb": peak_rss_kb(),
    }))


if __name__ == "__main__":
    main()
