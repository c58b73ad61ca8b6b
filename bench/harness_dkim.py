"""The harness's DKIM section (section 8); harness.py calls it with its
Harness (servers, h.run) and appends to the same table and target list.

8. dkim: bench-dkim composes and sends messages over one connection to
   smtp-sink with Client::send_message, unsigned and signed, every row a
   separate process in the same run:
   - 1 KB messages: the client's CPU per message signed with Ed25519, with
     RSA-2048, and unsigned; the difference is what signing costs;
   - one message with a large file attachment (--big-mb, default 100 MB),
     unsigned and signed with both keys: peak RSS, and the bytes the
     process read (/proc/self/io rchar) in file sizes: 1 when the file is
     read once to send it, 2 when it is read once more to hash it.
"""

import os
import subprocess

from harness_common import TARGET, Client, best_of, cell_fail, fmt, log


def make_keys(h):
    """An RSA-2048 and an Ed25519 key (PKCS#8 PEM) in h.tmp/dkim-keys."""
    keys = os.path.join(h.tmp, "dkim-keys")
    os.makedirs(keys, mode=0o700, exist_ok=True)
    for name, algorithm in (("rsa", ["RSA", "-pkeyopt", "rsa_keygen_bits:2048"]), ("ed", ["ed25519"])):
        path = os.path.join(keys, f"{name}.pem")
        if not os.path.exists(path):
            subprocess.run(["openssl", "genpkey", "-algorithm", *algorithm, "-out", path],
                           check=True, capture_output=True)
            os.chmod(path, 0o600)
    return keys


def make_attachment(h):
    """A file of --big-mb MB of varied bytes (base64 in the message)."""
    path = os.path.join(h.tmp, "attachment.bin")
    size = h.args.big_mb * 1_000_000
    block = bytes((i * 7 + i // 251) & 0xFF for i in range(1 << 20))
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:left])
            left -= len(block)
    return path, size


def dkim_section(h, out, targets):
    a = h.args
    n = a.dkim_count
    exe = os.path.join(TARGET, "bench-dkim")
    keys = make_keys(h)
    attachment, size = make_attachment(h)

    def client(mode, attach=None):
        env = {"BENCH_DKIM": mode, "BENCH_DKIM_KEYS": keys}
        if attach:
            env["BENCH_ATTACH"] = attach
        return Client(f"dkim-{mode}{'-big' if attach else ''}", f"`send_message`, DKIM {mode}", [exe], env=env)

    small = {mode: client(mode) for mode in ("none", "ed25519", "rsa")}
    out.append(f"### 8. DKIM signing: {n} composed 1 KB messages, one connection, {h.sink.label}")
    out.append("")
    reps = 1 if a.quick else max(a.reps, 5)
    out.append("Each row composes and sends the same message with `Client::send_message`; signing adds its "
               "body hash, header canonicalization and signature. The rows run in turn, "
               f"{reps} times each; a row keeps its least CPU (the machine is shared). *Extra CPU* = this "
               "row's CPU per message minus the unsigned row's, same run.")
    out.append("")
    out.append("| client | CPU µs/msg | extra CPU µs/msg vs unsigned | msgs/s | runs |")
    out.append("|---|---:|---:|---:|---:|")

    def one_small(key):
        log(f"dkim: {key}, {n} messages")
        return h.run(small[key], h.sink, n, 1, h.small)

    rows = {}
    for _ in range(reps):
        for key in small:
            r = one_small(key)
            prev = rows.get(key)
            r["runs"] = (prev or {}).get("runs", 0) + 1
            if prev is None or not r["ok"] or (prev["ok"] and r["cpu"] < prev["cpu"]):
                rows[key] = r
            else:
                prev["runs"] = r["runs"]
    base = rows["none"]
    extra = {}
    for key, c in small.items():
        r = rows[key]
        if not r["ok"]:
            out.append(f"| {c.label} | {cell_fail(r)} | | | |")
            continue
        per = r["cpu"] / n * 1e6
        if base["ok"] and key != "none":
            extra[key] = per - base["cpu"] / n * 1e6
        out.append(f"| {c.label} | {fmt(per, 1)} | {fmt(extra.get(key), 1) if key != 'none' else '–'} "
                   f"| {fmt(n / r['seconds'], 0)} | {r['runs']} |")
    out.append("")
    if "ed25519" in extra:
        targets.append(("DKIM Ed25519 on a 1 KB message: ≤ 50 µs extra CPU per message",
                        extra["ed25519"] <= 50, f"{extra['ed25519']:.1f} µs"))
    if "rsa" in extra:
        targets.append(("DKIM RSA-2048 on a 1 KB message: ≤ 2 ms extra CPU per message",
                        extra["rsa"] <= 2000, f"{extra['rsa']:.0f} µs"))

    big = {mode: client(mode, attachment) for mode in ("none", "both")}
    out.append(f"One message with a {a.big_mb} MB file attachment ({size:,} bytes), streamed, {h.sink.label}:")
    out.append("")
    out.append("| client | s | peak RSS MB | file read (× its size) | runs |")
    out.append("|---|---:|---:|---:|---:|")

    def one_big(key):
        log(f"dkim: {key} with a {a.big_mb} MB attachment")
        return h.run(big[key], h.sink, 1, 1, h.small, timeout=600)

    big_rows = best_of(h, list(big), 1, 0, one_big)
    for key, c in big.items():
        r = big_rows[key]
        if not r["ok"]:
            out.append(f"| {c.label} | {cell_fail(r)} | | | |")
            continue
        reads = (r.get("read_bytes") or 0) / size
        r["reads"] = reads
        out.append(f"| {c.label} (attachment) | {fmt(r['seconds'], 2)} | {fmt(r['maxrss_kb'] / 1024, 1)} "
                   f"| {reads:.2f} | {r['runs']} |")
    out.append("")
    signed, plain = big_rows["both"], big_rows["none"]
    if signed["ok"]:
        targets.append((f"DKIM (RSA + Ed25519) of a {a.big_mb} MB attachment: peak RSS < 10 MB",
                        signed["maxrss_kb"] < 10 * 1024, f"{signed['maxrss_kb'] / 1024:.1f} MB"))
        if plain["ok"]:
            extra_reads = signed["reads"] - plain["reads"]
            targets.append((f"DKIM of a {a.big_mb} MB attachment: at most one extra read of the file",
                            extra_reads <= 1.05, f"{extra_reads:.2f} extra file sizes read"))
