#!/usr/bin/env python3
"""smtp-send (sendmail mode) under benchmark: one process per message,
the message piped to its standard input as `sendmail -t -i` gets it from
PHP's mail().

Runs the release `smtp-send` (SMTP_SEND, else target/release/smtp-send)
BENCH_COUNT times with `-i -f BENCH_FROM` and the recipients as
arguments, the file BENCH_MESSAGE on its standard input, and prints the
"RESULT {json}" line every client prints: wall time, the children's CPU
time and their largest peak RSS (what streaming keeps small: the message
is never held whole). Each run goes through GNU time (`/usr/bin/time`):
a peak RSS read by this Python process would include its own pages,
which a forked child keeps counting until it execs.
"""

import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    env = os.environ
    host = env.get("BENCH_HOST") or "127.0.0.1"
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        sys.exit("smtp_send_client: BENCH_HOST must be a loopback address")
    port = int(env["BENCH_PORT"])
    count = int(env["BENCH_COUNT"])
    rcpts = [r.strip() for r in env["BENCH_RCPTS"].split(",") if r.strip()]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = env.get("CARGO_TARGET_DIR") or os.path.join(root, "target")
    program = env.get("SMTP_SEND") or os.path.join(target, "release", "smtp-send")
    user, password = env.get("BENCH_USER"), env.get("BENCH_PASSWORD")
    child_env = {k: v for k, v in env.items() if not k.startswith(("SMTP_", "BENCH_"))}
    # No configuration file of this machine's may change the run.
    child_env["SMTP_SEND_SYSTEM_CONFIG"] = ""
    child_env["SMTP_SEND_CONFIG"] = "/dev/null"
    url = f"smtp://{host}:{port}?security=none&plaintext_auth=loopback_only"
    if user and password:
        child_env["SMTP_USER"], child_env["SMTP_PASSWORD"] = user, password
    child_env["SMTP_URL"] = url
    size = os.path.getsize(env["BENCH_MESSAGE"])
    wall0 = time.perf_counter()
    cpu = user_cpu = 0.0
    peak = 0
    with tempfile.NamedTemporaryFile("r") as usage_file:
        for _ in range(count):
            with open(env["BENCH_MESSAGE"], "rb") as message:
                code = subprocess.call(
                    ["/usr/bin/time", "-f", "%M %U %S", "-o", usage_file.name,
                     program, "-i", "-f", env["BENCH_FROM"], *rcpts],
                    stdin=message, env=child_env)
            if code != 0:
                sys.exit(f"smtp_send_client: smtp-send exited with {code}")
            usage_file.seek(0)
            fields = usage_file.read().split()
            maxrss_kb, utime, stime = int(fields[-3]), float(fields[-2]), float(fields[-1])
            cpu += utime + stime
            user_cpu += utime
            peak = max(peak, maxrss_kb)
    wall = time.perf_counter() - wall0
    print("RESULT " + json.dumps({
        "client": "smtp-send",
        "messages": count,
        "seconds": wall,
        "cpu_seconds": cpu,
        "cpu_user_seconds": user_cpu,
        "bytes": size * count,
        "peak_rss_kb": peak,
    }))


if __name__ == "__main__":
    main()
