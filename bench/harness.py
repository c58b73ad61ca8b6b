#!/usr/bin/env python3
"""The benchmark harness driver (standard library only). Run it through
bench/run.sh, which installs and builds what it needs first.

It starts the servers (a private Postfix test bed, or the one named by
SMTP_TESTBED_ENV, and an smtp-sink on a free loopback port), runs every
client as a child process (one connection each, the same pre-formatted
message, the same envelope), optionally through bench's latency proxy, and
prints a Markdown table. Each client reports the wall and CPU time of its
send loop itself (a "RESULT {json}" line); peak RSS comes from wait4().

Every number is measured in this run; ratios compare clients measured in
this run. Exit status: 0 when every client succeeded, 1 otherwise.
"""

import argparse
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from harness_common import (BENCH, DOMAIN, ROOT, SENDER, TARGET, Client, best_of, cell_fail,
                            fmt, log, ratio)
from harness_dkim import dkim_section
from harness_speed import async_section, batch_section


# ----- clients ----------------------------------------------------------------

def php_binding_client():
    """The PHP binding column: only when bindings/php/src exists."""
    src = os.path.join(ROOT, "bindings", "php", "src")
    script = os.path.join(BENCH, "php", "binding_client.php")
    if not os.path.isdir(src):
        return Client("php", "smtp PHP binding (FFI)", [], available=False,
                      why="n/a (binding not ready)")
    if not os.path.exists(script):
        return Client("php", "smtp PHP binding (FFI)", [], available=False,
                      why="n/a (no bench script)")
    return Client("php", "smtp PHP binding (FFI)",
                  ["php", "-d", "memory_limit=-1", "-d", "ffi.enable=1", script],
                  env={"SMTP_LIBRARY": os.path.join(TARGET, "libsmtp.so")})


def all_clients():
    rust = os.path.join(TARGET, "bench-rust")
    return {
        "rust": Client("rust", "smtp-core (Rust API)", [rust]),
        "c": Client("c", "libsmtp (C API)", [os.path.join(BENCH, "build", "bench-c")]),
        "php": php_binding_client(),
        "lettre": Client("lettre", "lettre 0.11 (SmtpTransport, pool of 1)",
                         [os.path.join(TARGET, "examples", "lettre-client")]),
        "smtplib": Client("smtplib", "Python smtplib",
                          [sys.executable, os.path.join(BENCH, "python", "smtplib_client.py")]),
        "phpmailer": Client("phpmailer", "PHPMailer 6 (keep-alive)",
                            ["php", "-d", "memory_limit=-1",
                             os.path.join(BENCH, "php", "phpmailer_client.php")]),
        "raw": Client("raw", "plain socket copy (baseline)", [os.path.join(TARGET, "bench-raw")]),
        "smtp-send": Client("smtp-send", "smtp-send (sendmail mode, stdin streamed)",
                            [sys.executable, os.path.join(BENCH, "python", "smtp_send_client.py")]),
        "rust-nochunk": Client("rust-nochunk", "smtp-core, CHUNKING off (PIPELINING only)", [rust],
                               env={"BENCH_CHUNKING": "0"}),
        "rust-serial": Client("rust-serial", "smtp-core, PIPELINING and CHUNKING off", [rust],
                              env={"BENCH_CHUNKING": "0", "BENCH_PIPELINING": "0"}),
    }


# ----- servers ----------------------------------------------------------------

class Server:
    def __init__(self, name, label, port, user=None, password=None):
        self.name, self.label, self.port = name, label, port
        self.user, self.password = user, password


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Z0-9_]+)='(.*)'\s*$", line.strip())
            if m:
                env[m.group(1)] = m.group(2).replace("'\\''", "'")
    return env


class Harness:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="smtp-bench.", dir="/tmp")
        # Postfix's unprivileged processes must reach the test bed inside it.
        os.chmod(self.tmp, 0o755)
        self.sink_proc = None
        self.bed_dir = None
        self.failures = []
        self.clients = all_clients()

    # -- set-up and tear-down

    def start_servers(self):
        env_file = os.environ.get("SMTP_TESTBED_ENV")
        if env_file:
            log(f"using the running test bed {env_file}")
        else:
            self.bed_dir = os.path.join(self.tmp, "bed")
            log("starting a Postfix test bed (tests/testbed/start.sh)")
            out = subprocess.run(["bash", os.path.join(ROOT, "tests", "testbed", "start.sh"), self.bed_dir],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise RuntimeError("tests/testbed/start.sh failed")
            env_file = out.stdout.strip().splitlines()[-1]
        bed = read_env_file(env_file)
        self.postfix = Server("postfix", "Postfix smtpd (PIPELINING, CHUNKING; AUTH PLAIN; discard)",
                              int(bed["SMTP_TESTBED_PORT_DISCARD"]),
                              bed["SMTP_TESTBED_USER"], bed["SMTP_TESTBED_PASSWORD"])
        sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        for _ in range(5):
            port = free_port()
            cmd = [sink]
            if os.geteuid() == 0:
                cmd += ["-u", "nobody"]
            cmd += ["-4", "-m", "64", f"127.0.0.1:{port}", "1000"]
            self.sink_proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE)
            if wait_port(port):
                break
            self.stop_sink()
        else:
            raise RuntimeError("smtp-sink did not start")
        self.sink = Server("sink", "smtp-sink (PIPELINING, no CHUNKING)", port)
        log(f"Postfix discard port {self.postfix.port}, smtp-sink port {self.sink.port}")

    def stop_sink(self):
        if self.sink_proc and self.sink_proc.poll() is None:
            self.sink_proc.terminate()
            try:
                self.sink_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.sink_proc.kill()
                self.sink_proc.wait(timeout=5)
        self.sink_proc = None

    def cleanup(self):
        self.stop_sink()
        if self.bed_dir:
            subprocess.run(["bash", os.path.join(ROOT, "tests", "testbed", "stop.sh"), self.bed_dir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            self.bed_dir = None
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- messages

    def write_messages(self):
        header = ("From: Bench <bench@example.test>\r\n"
                  "To: anything@example.test\r\n"
                  "Subject: benchmark message\r\n"
                  "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
                  "Message-ID: <bench.1@example.test>\r\n"
                  "MIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
        line = b"The quick brown fox jumps over the lazy dog and sends another message.\r\n"
        small = bytearray(header)
        while len(small) + len(line) <= 1024:
            small += line
        small += b"x" * (1022 - len(small)) + b"\r\n"
        assert len(small) == 1024
        self.small = os.path.join(self.tmp, "1k.eml")
        with open(self.small, "wb") as f:
            f.write(small)
        # The large message: CRLF lines, none starting with a dot, so the
        # plain socket copy sends it as it is (DATA needs no stuffing).
        size = self.args.big_mb * 1_000_000
        lines = bytearray()
        n = 0
        while len(lines) < 1 << 20:
            lines += b"%08d the quick brown fox jumps over the lazy dog, line after line\r\n" % n
            n += 1
        block = bytes(lines)
        self.big = os.path.join(self.tmp, "big.eml")
        with open(self.big, "wb") as f:
            f.write(header)
            left = size - len(header)
            while left >= len(block) + 200:
                f.write(block)
                left -= len(block)
            # Whole lines, then one last line of 100 to 200 octets.
            cut = block[: block.rindex(b"\n", 0, max(left - 100, 1)) + 1] if left > 300 else b""
            f.write(cut)
            left -= len(cut)
            f.write(b"y" * (left - 2) + b"\r\n")
        self.big_size = os.path.getsize(self.big)

    # -- running one client

    def run(self, client, server, count, rcpts, message, rtt_ms=None, stream=False, timeout=None):
        """Runs one client once; returns a dict (ok, seconds, cpu, messages,
        bytes, maxrss_kb, turns, error)."""
        if not client.available:
            return {"ok": False, "na": client.why}
        rcpt_list = ["anything@example.test"] + [f"r{i}@{DOMAIN}" for i in range(2, rcpts + 1)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
        env.update({
            "BENCH_HOST": "127.0.0.1",
            "BENCH_PORT": str(server.port),
            "BENCH_FROM": SENDER,
            "BENCH_RCPTS": ",".join(rcpt_list),
            "BENCH_COUNT": str(count),
            "BENCH_MESSAGE": message,
            "BENCH_STREAM": "1" if stream else "0",
        })
        if server.user:
            env["BENCH_USER"], env["BENCH_PASSWORD"] = server.user, server.password
        env.update(client.env)
        if timeout is None:
            timeout = 60 + count * (0.3 if rtt_ms else 0.1)
        label = f"{client.key}-{server.name}-{rcpts}r-{rtt_ms}ms-{count}"
        proxy = None
        if rtt_ms is not None:
            proxy = subprocess.Popen(
                [os.path.join(TARGET, "latency-proxy"), "--target", f"127.0.0.1:{server.port}",
                 "--delay-us", str(int(rtt_ms * 500)), "--max-seconds", str(int(timeout) + 30)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready, _, _ = select.select([proxy.stdout], [], [], 10)
            first = proxy.stdout.readline() if ready else ""
            if not first.startswith("LISTENING "):
                proxy.kill()
                proxy.wait()
                return {"ok": False, "error": "latency proxy did not start"}
            env["BENCH_PORT"] = first.split()[1]
        out_path = os.path.join(self.tmp, label + ".out")
        err_path = os.path.join(self.tmp, label + ".err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen(client.cmd, env=env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, cwd=ROOT)
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
        turns = None
        if proxy:
            proxy.stdin.close()
            killer = threading.Timer(15, proxy.kill)
            killer.start()
            rest = proxy.stdout.read()
            proxy.wait()
            killer.cancel()
            conns = [json.loads(l[5:]) for l in rest.splitlines() if l.startswith("CONN ")]
            turns = sum(c["turns"] for c in conns)
        with open(out_path) as f:
            stdout = f.read()
        with open(err_path) as f:
            stderr = f.read()
        result = None
        for line in stdout.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
        if proc.returncode != 0 or result is None or result.get("messages") != count:
            why = f"exit {proc.returncode}: " + (stderr.strip().splitlines() or ["no output"])[-1]
            if proc.returncode == -signal.SIGKILL:
                why = f"killed after {timeout:.0f} s"
            self.failures.append(f"{client.label} ({label}): {why}")
            log(f"FAILED {label}: {why}")
            return {"ok": False, "error": why}
        return {
            "ok": True,
            "messages": count,
            "seconds": result["seconds"],
            "cpu": result["cpu_seconds"],
            "user": result.get("cpu_user_seconds", 0.0),
            "bytes": result["bytes"],
            # Reported by the client itself (VmHWM): wait4's ru_maxrss would
            # include the forking harness's own size.
            "maxrss_kb": result.get("peak_rss_kb") or usage.ru_maxrss,
            "turns": turns,
            "read_bytes": result.get("read_bytes"),
        }


# ----- the sections ---------------------------------------------------------

def latency_section(h, out, targets):
    a = h.args
    keys = ["rust", "c", "php", "lettre", "smtplib", "phpmailer", "rust-nochunk", "rust-serial"]
    out.append(f"### 1. Latency: 1 KB messages, one reused connection, {h.postfix.label}")
    out.append("")
    out.append(f"Through the latency proxy: {a.latency_count0} messages at 0 ms added RTT, "
               f"{a.latency_count} at {a.rtt:g} ms. Round trips per message = "
               f"(ms at {a.rtt:g} − ms at 0) / {a.rtt:g}; *counted* = client bursts after a server reply "
               "seen by the proxy, per message (difference of the two runs).")
    out.append("")
    out.append(f"| client | rcpts | ms/msg @0 | ms/msg @{a.rtt:g} | RTT/msg (formula) | RTT/msg (counted) | ms @{a.rtt:g} vs smtp-core |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    found = {}
    for rcpts in (1, 5):
        for key in keys:
            c = h.clients[key]
            log(f"latency: {key}, {rcpts} recipient(s)")
            r0 = h.run(c, h.postfix, a.latency_count0, rcpts, h.small, rtt_ms=0)
            r1 = h.run(c, h.postfix, a.latency_count, rcpts, h.small, rtt_ms=a.rtt) if r0["ok"] else r0
            if not (r0["ok"] and r1["ok"]):
                bad = r0 if not r0["ok"] else r1
                out.append(f"| {c.label} | {rcpts} | {cell_fail(bad)} | | | | |")
                continue
            ms0 = r0["seconds"] / r0["messages"] * 1000
            ms1 = r1["seconds"] / r1["messages"] * 1000
            rtts = (ms1 - ms0) / a.rtt
            counted = (r0["turns"] - r1["turns"]) / (r0["messages"] - r1["messages"])
            found[(key, rcpts)] = (ms0, ms1, rtts, counted)
            base = found.get(("rust", rcpts))
            out.append(f"| {c.label} | {rcpts} | {fmt(ms0, 2)} | {fmt(ms1, 1)} | {fmt(rtts, 2)} | "
                       f"{fmt(counted, 2)} | {ratio(ms1, base[1] if base else None)} |")
    out.append("")
    for rcpts in (1, 5):
        for key, want in (("rust", 1), ("rust-nochunk", 2)):
            v = found.get((key, rcpts))
            if v:
                ok = round(v[3]) == want and abs(v[2] - want) < 0.5
                what = "PIPELINING+CHUNKING" if want == 1 else "PIPELINING alone"
                targets.append((f"{want} round trip(s)/message with {what}, {rcpts} rcpt",
                                ok, f"formula {v[2]:.2f}, counted {v[3]:.2f}"))
        for key in ("c", "php"):
            v, base = found.get((key, rcpts)), found.get(("rust", rcpts))
            if v and base:
                targets.append((f"{h.clients[key].label} within 10% of Rust, ms/msg @{a.rtt:g} ms, {rcpts} rcpt",
                                v[1] <= base[1] * 1.10, f"{v[1]:.2f} vs {base[1]:.2f} ms"))
    return found


def throughput_section(h, out, targets):
    a = h.args
    keys = ["raw", "rust", "c", "php", "lettre", "smtplib", "phpmailer"]
    servers = {"sink": [h.sink], "postfix": [h.postfix], "both": [h.sink, h.postfix]}[a.throughput_server]
    for server in servers:
        out.append(f"### 2. Throughput: {a.count} messages of 1 KB, 1 recipient, no added latency, {server.label}")
        out.append("")
        out.append("| client | msgs/s | % of baseline msgs/s | CPU µs/msg | CPU vs lettre | user CPU µs/msg "
                   "| user CPU vs lettre | peak RSS MB | runs |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

        def one(key, server=server):
            log(f"throughput: {key} on {server.name}")
            return h.run(h.clients[key], server, a.count, 1, h.small, timeout=60 + a.count * 0.1)

        # Warm-up (discarded): the first run after start-up is slower.
        h.run(h.clients["raw"], server, min(a.count, 200), 1, h.small)
        rows = best_of(h, keys, a.reps, 5.0, one)
        base = rows["raw"]
        lettre = rows["lettre"]
        for key in keys:
            r = rows[key]
            if r["ok"]:
                r["rate"] = r["messages"] / r["seconds"]
                r["cpu_us"] = r["cpu"] / r["messages"] * 1e6
                r["user_us"] = r["user"] / r["messages"] * 1e6
        for key in keys:
            c, r = h.clients[key], rows[key]
            if not r["ok"]:
                out.append(f"| {c.label} | {cell_fail(r)} | | | | | | | |")
                continue
            pct = f"{100 * r['rate'] / base['rate']:.0f}%" if base["ok"] else "–"
            lc = lettre.get("cpu_us") if lettre["ok"] else None
            lu = lettre.get("user_us") if lettre["ok"] else None
            out.append(f"| {c.label} | {fmt(r['rate'], 0)} | {pct} | {fmt(r['cpu_us'], 1)} | {ratio(r['cpu_us'], lc)} | "
                       f"{fmt(r['user_us'], 1)} | {ratio(r['user_us'], lu)} | "
                       f"{fmt(r['maxrss_kb'] / 1024, 1)} | {r['runs']} |")
        out.append("")
        out.append("CPU is the client's own (getrusage around its send loop), user + system; on loopback the "
                   "system part includes the kernel's TCP work for both ends of each write, the same for every "
                   "client that makes the same system calls. User CPU is the client's own work alone (the kernel samples "
                   "the user/system split at its tick: rough for a client that mostly sleeps).")
        out.append("")
        rust = rows["rust"]
        if rust["ok"] and lettre["ok"]:
            targets.append((f"CPU per small message ≤ 1/10 of lettre's ({server.name})",
                            rust["cpu_us"] <= lettre["cpu_us"] / 10,
                            f"{rust['cpu_us']:.1f} vs {lettre['cpu_us']:.1f} µs "
                            f"({rust['cpu_us'] / lettre['cpu_us']:.2f}×; the plain socket copy itself: "
                            f"{base['cpu_us'] if base['ok'] else float('nan'):.1f} µs, "
                            f"{base['cpu_us'] / lettre['cpu_us'] if base['ok'] else float('nan'):.2f}×)"))
        if rust["ok"] and base["ok"]:
            targets.append((f"messages/s limited by the server: ≥ 90% of the plain-socket baseline ({server.name})",
                            rust["rate"] >= 0.9 * base["rate"],
                            f"{rust['rate']:.0f} vs {base['rate']:.0f} msgs/s"))
        for key in ("c", "php"):
            r = rows[key]
            if r["ok"] and rust["ok"]:
                targets.append((f"{h.clients[key].label} within 10% of Rust, msgs/s ({server.name})",
                                r["rate"] >= rust["rate"] * 0.9,
                                f"{r['rate']:.0f} vs {rust['rate']:.0f} msgs/s"))


def big_section(h, out, targets):
    a = h.args
    keys = ["raw", "rust", "c", "php", "smtp-send", "lettre", "smtplib", "phpmailer"]
    for server in (h.sink, h.postfix):
        out.append(f"### 3. One {a.big_mb} MB message ({h.big_size:,} bytes), {server.label}")
        out.append("")
        out.append("| client | MB/s | % of plain socket copy | CPU s | peak RSS MB | runs |")
        out.append("|---|---:|---:|---:|---:|---:|")

        def one(key, server=server):
            log(f"large message: {key} on {server.name}")
            return h.run(h.clients[key], server, 1, 1, h.big, stream=True, timeout=300)

        rows = best_of(h, keys, a.reps, 5.0, one)
        base = rows["raw"]
        for r in rows.values():
            if r["ok"]:
                r["mbs"] = r["bytes"] / r["seconds"] / 1e6
        for key in keys:
            c, r = h.clients[key], rows[key]
            if not r["ok"]:
                out.append(f"| {c.label} | {cell_fail(r)} | | | | |")
                continue
            pct = f"{100 * r['mbs'] / base['mbs']:.0f}%" if base["ok"] else "–"
            out.append(f"| {c.label} | {fmt(r['mbs'], 0)} | {pct} | {fmt(r['cpu'], 2)} | "
                       f"{fmt(r['maxrss_kb'] / 1024, 1)} | {r['runs']} |")
        out.append("")
        rust = rows["rust"]
        if rust["ok"]:
            targets.append((f"{a.big_mb} MB message: peak RSS < 10 MB, Rust streaming API ({server.name})",
                            rust["maxrss_kb"] < 10 * 1024, f"{rust['maxrss_kb'] / 1024:.1f} MB"))
            if base["ok"]:
                targets.append((f"{a.big_mb} MB message: ≥ 90% of the plain socket copy ({server.name})",
                                rust["mbs"] >= 0.9 * base["mbs"],
                                f"{rust['mbs']:.0f} vs {base['mbs']:.0f} MB/s"))
            send = rows["smtp-send"]
            if send["ok"]:
                targets.append((f"{a.big_mb} MB message through smtp-send: peak RSS < 20 MB ({server.name})",
                                send["maxrss_kb"] < 20 * 1024, f"{send['maxrss_kb'] / 1024:.1f} MB"))
            for key in ("c", "php"):
                r = rows[key]
                if r["ok"]:
                    targets.append((f"{h.clients[key].label} within 10% of Rust, MB/s ({server.name})",
                                    r["mbs"] >= rust["mbs"] * 0.9,
                                    f"{r['mbs']:.0f} vs {rust['mbs']:.0f} MB/s"))


def encoder_section(h, out, targets):
    proc = subprocess.run([os.path.join(TARGET, "bench-rust"), "--encoder"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("ENCODER ")), None)
    if proc.returncode != 0 or not line:
        h.failures.append("bench-rust --encoder failed")
        return
    e = json.loads(line[8:])
    out.append("### 4. DATA encoder alone (one core; `cargo bench -p smtp-core` has the criterion version)")
    out.append("")
    out.append("| input | MB/s |")
    out.append("|---|---:|")
    out.append(f"| 64 MiB ordinary text (CRLF lines of 40–90 chars, some dot-stuffed) | {fmt(e['short_lines_mb_s'], 0)} |")
    out.append(f"| 64 MiB with no line break | {fmt(e['no_line_breaks_mb_s'], 0)} |")
    out.append("")
    targets.append(("DATA encoder ≥ 2 GB/s on ordinary text", e["short_lines_mb_s"] >= 2000,
                    f"{e['short_lines_mb_s']:.0f} MB/s"))


def outbox_section(h, out, targets):
    """Issue 17: the outbox's enqueue against a bare durable write, and a
    drain of the queue against live sending of the same messages."""
    a = h.args
    exe = os.path.join(TARGET, "bench-outbox")
    spool = os.path.join(h.tmp, "outbox")
    os.makedirs(spool, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    env.update({"BENCH_HOST": "127.0.0.1", "BENCH_PORT": str(h.sink.port), "BENCH_FROM": SENDER,
                "BENCH_RCPTS": "anything@example.test", "BENCH_MESSAGE": h.small, "BENCH_SPOOL": spool})

    def tool(mode, count):
        log(f"outbox: {mode} x {count}")
        p = subprocess.run([exe, mode], env=dict(env, BENCH_COUNT=str(count)), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120 + count * 0.1)
        if p.returncode != 0:
            why = (p.stderr.strip().splitlines() or ["no output"])[-1]
            h.failures.append(f"bench-outbox {mode}: exit {p.returncode}: {why}")
            log(f"FAILED bench-outbox {mode}: {why}")
            return None
        return p.stdout

    out.append(f"### 5. Outbox (issue 17): enqueue of a 1 KB message ({a.outbox_enqueue} times), "
               f"drain of {a.outbox_count} queued messages over one connection, smtp-sink")
    out.append("")
    enq = tool("enqueue", a.outbox_enqueue)
    line = next((l for l in (enq or "").splitlines() if l.startswith("OUTBOX_ENQUEUE ")), None)
    if line:
        e = json.loads(line[len("OUTBOX_ENQUEUE "):])
        r = e["enqueue_us"] / e["bare_us"] if e["bare_us"] else float("nan")
        out.append("| operation | µs per message |")
        out.append("|---|---:|")
        out.append(f"| `Outbox::enqueue` (one file: first state then message, fsync, rename, fsync of the queue directory) "
                   f"| {fmt(e['enqueue_us'], 1)} |")
        out.append(f"| bare write + fsync + rename + fsync dir of the same bytes | {fmt(e['bare_us'], 1)} |")
        out.append(f"| ratio | {r:.2f}× |")
        out.append("")
        targets.append(("outbox enqueue ≤ 1.3× a bare write + fsync + rename + fsync dir", r <= 1.3,
                        f"{e['enqueue_us']:.0f} vs {e['bare_us']:.0f} µs ({r:.2f}×)"))
    drain_client = Client("outbox-drain", "Outbox::flush (queued messages)", [exe, "drain"],
                          env={"BENCH_SPOOL": spool})
    filled = tool("fill", a.outbox_count) is not None
    drain = h.run(drain_client, h.sink, a.outbox_count, 1, h.small) if filled else {"ok": False, "error": "fill failed"}
    log("outbox: live sending for comparison")
    live = h.run(h.clients["rust"], h.sink, a.outbox_count, 1, h.small)
    out.append("| client | msgs/s | peak RSS MB |")
    out.append("|---|---:|---:|")
    for label, r in (("drain of the queue (`Outbox::flush`, one connection)", drain),
                     ("live sending (`Client::send_bytes`, one connection)", live)):
        if r["ok"]:
            r["rate"] = r["messages"] / r["seconds"]
            out.append(f"| {label} | {fmt(r['rate'], 0)} | {fmt(r['maxrss_kb'] / 1024, 1)} |")
        else:
            out.append(f"| {label} | {cell_fail(r)} | |")
    out.append("")
    if drain["ok"] and live["ok"]:
        share = drain["rate"] / live["rate"]
        targets.append((f"outbox drain of {a.outbox_count} messages ≥ 80% of live sending (smtp-sink)",
                        share >= 0.8, f"{drain['rate']:.0f} vs {live['rate']:.0f} msgs/s ({100 * share:.0f}%)"))
    if drain["ok"]:
        targets.append((f"outbox drain of {a.outbox_count} messages: peak RSS < 20 MB", drain["maxrss_kb"] < 20 * 1024,
                        f"{drain['maxrss_kb'] / 1024:.1f} MB"))


def first_line(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        return (p.stdout.strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_description():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(l.split()[1] for l in f if l.startswith("MemTotal")))
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    lettre = "?"
    try:
        with open(os.path.join(ROOT, "Cargo.lock")) as f:
            m = re.search(r'name = "lettre"\nversion = "([^"]+)"', f.read())
            lettre = m.group(1) if m else "?"
    except OSError:
        pass
    phpmailer = first_line(["php", "-r", "require '/usr/share/php/libphp-phpmailer/autoload.php'; "
                            "echo PHPMailer\\PHPMailer\\PHPMailer::VERSION;"])
    php = first_line(["php", "-r", 'echo "PHP " . PHP_VERSION;'])
    rustc = first_line(["rustc", "--version"])
    postfix = first_line(["postconf", "-d", "-h", "mail_version"])
    return (f"{cpu}, {os.cpu_count()} cores, {mem} RAM; Linux {platform.release()}; "
            f"{rustc}; Postfix {postfix}; Python {platform.python_version()}; {php}; "
            f"lettre {lettre}; PHPMailer {phpmailer}")


SECTIONS = ["latency", "throughput", "big", "encoder", "outbox", "batch", "async", "dkim"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="every client briefly with small counts (CI smoke run, under a minute)")
    p.add_argument("--rtt", type=float, default=20.0, help="added round-trip time in ms (default 20)")
    p.add_argument("--count", type=int, help="messages in the throughput run (default 2000)")
    p.add_argument("--big-mb", type=int, help="size of the large message in MB (default 100)")
    p.add_argument("--throughput-server", choices=["sink", "postfix", "both"], default="sink")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help="comma-separated subset of " + ",".join(SECTIONS))
    p.add_argument("--outbox-count", type=int,
                   help="queued messages the outbox drains in section 5 (default 10000, 200 with --quick)")
    p.add_argument("--batch-count", type=int,
                   help="messages in the batch section's one connection (default 1000, 20 with --quick)")
    p.add_argument("--async-count", type=int,
                   help="messages in the async section, per row (default 2000, 40 with --quick)")
    p.add_argument("--dkim-count", type=int,
                   help="1 KB messages per row of the DKIM section (default 2000, 40 with --quick)")
    p.add_argument("--reps", type=int,
                   help="runs per client in sections 2, 3, 6 and 7 when a run is short (best kept; default 3, 1 with --quick)")
    p.add_argument("--out", help="also write the table (Markdown) to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (client logs)")
    a = p.parse_args()
    if a.rtt <= 0:
        p.error("--rtt must be positive")
    a.count = a.count or (50 if a.quick else 2000)
    a.reps = a.reps or (1 if a.quick else 3)
    a.big_mb = a.big_mb or (5 if a.quick else 100)
    a.outbox_count = a.outbox_count or (200 if a.quick else 10000)
    a.outbox_enqueue = 50 if a.quick else 2000
    a.latency_count0 = 8 if a.quick else 100
    a.latency_count = 3 if a.quick else 25
    a.batch_count = a.batch_count or (20 if a.quick else 1000)
    a.async_count = a.async_count or (40 if a.quick else 2000)
    a.dkim_count = a.dkim_count or (40 if a.quick else 2000)
    sections = set(a.sections.split(","))
    if not sections <= set(SECTIONS):
        p.error(f"--sections: unknown {','.join(sorted(sections - set(SECTIONS)))}")

    h = Harness(a)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    out, targets = [], []
    started = time.monotonic()
    try:
        h.start_servers()
        h.write_messages()
        out.append(f"Machine: {machine_description()}")
        out.append("")
        if "latency" in sections:
            latency_section(h, out, targets)
        if "throughput" in sections:
            throughput_section(h, out, targets)
        if "big" in sections:
            big_section(h, out, targets)
        if "encoder" in sections:
            encoder_section(h, out, targets)
        if "outbox" in sections:
            outbox_section(h, out, targets)
        if "batch" in sections:
            batch_section(h, out, targets)
        if "async" in sections:
            async_section(h, out, targets)
        if "dkim" in sections:
            dkim_section(h, out, targets)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    finally:
        h.cleanup()
    out.append("### Targets (from the figures above)")
    out.append("")
    out.append("| target | met | measured |")
    out.append("|---|---|---|")
    for name, ok, measured in targets:
        out.append(f"| {name} | {'yes' if ok else '**no**'} | {measured} |")
    out.append("")
    out.append(f"Run took {time.monotonic() - started:.0f} s{' (--quick: small counts, figures are not meaningful)' if a.quick else ''}.")
    text = "\n".join(out)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    if h.failures:
        print("\nFAILED clients:", file=sys.stderr)
        for f in h.failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
