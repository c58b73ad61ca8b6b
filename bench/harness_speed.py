"""The harness's sections for batch and async sending (sections 6 and 7),
the issue's speed rows; harness.py calls them with its Harness (servers,
message files, h.run) and appends to the same table and target list.

6. batch: BENCH_COUNT messages over one connection to Postfix through the
   latency proxy, at 0 ms and at the chosen RTT: one Client::send_many_bytes
   call (bench-batch; CHUNKING on, then off) against Client::send_bytes one
   by one on one reused connection (bench-rust, the latency rows' client).
7. async: the AsyncClient (bench-async) against the blocking Client, on one
   connection (client CPU per message) and on 8 connections at once
   (messages per second, against 8 OS threads with a blocking Client each).
"""

import os

from harness_common import TARGET, Client, best_of, cell_fail, fmt, log, ratio

# Connections of the concurrent rows in section 7.
CONNECTIONS = 8


def batch_section(h, out, targets):
    a = h.args
    n, rtt = a.batch_count, a.rtt
    exe = os.path.join(TARGET, "bench-batch")
    clients = {
        "batch": Client("batch", "smtp-core `send_many_bytes` (PIPELINING+CHUNKING)", [exe]),
        "batch-nochunk": Client("batch-nochunk", "smtp-core `send_many_bytes`, CHUNKING off (PIPELINING only)",
                                [exe], env={"BENCH_CHUNKING": "0"}),
        "one-by-one": Client("one-by-one", "smtp-core `send_bytes` one by one (PIPELINING+CHUNKING)",
                             h.clients["rust"].cmd),
    }
    out.append(f"### 6. Batch: {n} messages of 1 KB, 1 recipient, one connection, {h.postfix.label}")
    out.append("")
    out.append(f"Through the latency proxy at 0 ms and at {rtt:g} ms added RTT. The batch rows send all {n} "
               "messages with one `Client::send_many_bytes` call; the last row sends them with "
               f"`Client::send_bytes` one after the other (the latency rows' client). Round trips per message = "
               f"(s @{rtt:g} − s @0) / {n} / {rtt:g} ms; *turns* = client bursts after server data that the proxy "
               f"counted over the whole connection at {rtt:g} ms, its set-up (EHLO, each AUTH step) and QUIT "
               "included (one by one shows how many those are: turns − messages). "
               f"*Speed-up* = one by one @{rtt:g} / this row @{rtt:g}; *vs bound* = this row @{rtt:g} / "
               f"(3 × {rtt:g} ms + 1.2 × this row @0).")
    out.append("")
    out.append(f"| client | s @0 | s @{rtt:g} | ms/msg @0 | ms/msg @{rtt:g} | RTT/msg (formula) | turns @{rtt:g} "
               f"| speed-up @{rtt:g} vs one by one | @{rtt:g} vs bound | CPU µs/msg @0 | runs @0/@{rtt:g} |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def one(key_rtt):
        key, ms = key_rtt
        log(f"batch: {key} at {ms:g} ms")
        return h.run(clients[key], h.postfix, n, 1, h.small, rtt_ms=ms)

    keys = [(key, ms) for key in clients for ms in (0, rtt)]
    rows = best_of(h, keys, a.reps, 5.0, one)
    serial = rows[("one-by-one", rtt)]
    found = {}
    for key, c in clients.items():
        r0, r1 = rows[(key, 0)], rows[(key, rtt)]
        if not (r0["ok"] and r1["ok"]):
            bad = r0 if not r0["ok"] else r1
            out.append(f"| {c.label} | {cell_fail(bad)} | | | | | | | | | |")
            continue
        s0, s1 = r0["seconds"], r1["seconds"]
        rtts = (s1 - s0) / n / (rtt / 1000)
        bound = 3 * rtt / 1000 + 1.2 * s0
        speedup = serial["seconds"] / s1 if serial["ok"] else None
        found[key] = (s0, s1, rtts, bound, speedup)
        out.append(f"| {c.label} | {fmt(s0, 3)} | {fmt(s1, 3)} | {fmt(s0 / n * 1000, 3)} | {fmt(s1 / n * 1000, 3)} "
                   f"| {fmt(rtts, 3)} | {r1['turns']} | {fmt(speedup, 1)}× | {ratio(s1, bound)} "
                   f"| {fmt(r0['cpu'] / n * 1e6, 1)} | {r0['runs']}/{r1['runs']} |")
    out.append("")
    out.append(f"At 0 ms every row takes about Postfix's own time per message: a batch saves the client's "
               f"waiting, not the server's work, so its speed-up at {rtt:g} ms cannot go much beyond "
               f"(one by one @{rtt:g}) / (batch @0).")
    out.append("")
    v = found.get("batch")
    if v and v[4] is not None:
        targets.append((f"batch of {n}: `send_many_bytes` ≥ 50× faster than one by one @{rtt:g} ms",
                        v[4] >= 50, f"{v[1]:.3f} vs {serial['seconds']:.3f} s ({v[4]:.1f}×)"))
    if v:
        targets.append((f"batch of {n} @{rtt:g} ms ≤ 3 RTT + 1.2 × batch @0",
                        v[1] <= v[3], f"{v[1]:.3f} vs {v[3]:.3f} s (3 × {rtt:g} ms + 1.2 × {v[0]:.3f} s)"))
    v = found.get("batch-nochunk")
    if v:
        targets.append((f"batch of {n} with PIPELINING alone: 1 round trip/message (`send_many`'s promise)",
                        abs(v[2] - 1) < 0.5, f"formula {v[2]:.2f}"))


def async_section(h, out, targets):
    a = h.args
    n = a.async_count
    exe = os.path.join(TARGET, "bench-async")
    per = f"{n // CONNECTIONS}" if n % CONNECTIONS == 0 else f"about {n / CONNECTIONS:.0f}"
    clients = {
        "blocking": Client("blocking", "blocking `Client` (`send_bytes`)", h.clients["rust"].cmd),
        "async": Client("async", "`AsyncClient` (`send_bytes`), tokio current-thread runtime", [exe],
                        env={"BENCH_RUNTIME": "current", "BENCH_CONNECTIONS": "1"}),
        "threads": Client("threads", f"{CONNECTIONS} OS threads, a blocking `Client` each", [exe, "--threads"],
                          env={"BENCH_CONNECTIONS": str(CONNECTIONS)}),
        "async-multi": Client("async-multi", f"`AsyncClient`, {CONNECTIONS} tasks, tokio multi-thread runtime",
                              [exe], env={"BENCH_RUNTIME": "multi", "BENCH_CONNECTIONS": str(CONNECTIONS)}),
        "async-current": Client("async-current", f"`AsyncClient`, {CONNECTIONS} tasks, tokio current-thread runtime",
                                [exe], env={"BENCH_RUNTIME": "current", "BENCH_CONNECTIONS": str(CONNECTIONS)}),
    }
    peers = {"blocking": "blocking", "async": "blocking", "threads": "threads", "async-multi": "threads",
             "async-current": "threads"}
    out.append(f"### 7. Async client: {n} messages of 1 KB, 1 recipient, no added latency, {h.postfix.label}")
    out.append("")
    out.append(f"One connection sends all {n} messages one by one; with {CONNECTIONS} connections each sends "
               f"{per}. Every row is a separate process; its clock starts once its connections are open and CPU "
               "is the whole process's (getrusage, all threads). *Peer*: the blocking `Client` for the rows with "
               f"one connection, the {CONNECTIONS} OS threads for the rows with {CONNECTIONS}. The multi-thread "
               "runtime has one worker per core.")
    out.append("")
    out.append("| client | connections | msgs/s | msgs/s vs peer | CPU µs/msg | CPU vs peer | user CPU µs/msg "
               "| peak RSS MB | runs |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def one(key):
        log(f"async: {key}")
        return h.run(clients[key], h.postfix, n, 1, h.small)

    # Warm-up (discarded), as in the throughput section.
    h.run(clients["blocking"], h.postfix, min(n, 200), 1, h.small)
    rows = best_of(h, list(clients), a.reps, 30.0, one)
    for r in rows.values():
        if r["ok"]:
            r["rate"] = r["messages"] / r["seconds"]
            r["cpu_us"] = r["cpu"] / r["messages"] * 1e6
            r["user_us"] = r["user"] / r["messages"] * 1e6
    for key, c in clients.items():
        r, peer = rows[key], rows[peers[key]]
        conns = c.env.get("BENCH_CONNECTIONS", "1")
        if not r["ok"]:
            out.append(f"| {c.label} | {conns} | {cell_fail(r)} | | | | | | |")
            continue
        prate = peer.get("rate") if peer["ok"] else None
        pcpu = peer.get("cpu_us") if peer["ok"] else None
        out.append(f"| {c.label} | {conns} | {fmt(r['rate'], 0)} | {ratio(r['rate'], prate)} | "
                   f"{fmt(r['cpu_us'], 1)} | {ratio(r['cpu_us'], pcpu)} | {fmt(r['user_us'], 1)} | "
                   f"{fmt(r['maxrss_kb'] / 1024, 1)} | {r['runs']} |")
    out.append("")
    blocking, single = rows["blocking"], rows["async"]
    if blocking["ok"] and single["ok"]:
        r = single["cpu_us"] / blocking["cpu_us"]
        targets.append(("AsyncClient (current-thread runtime) CPU per message ≤ 1.2× the blocking Client's, "
                        "one connection (postfix)", r <= 1.2,
                        f"{single['cpu_us']:.1f} vs {blocking['cpu_us']:.1f} µs ({r:.2f}×)"))
    threads, multi = rows["threads"], rows["async-multi"]
    if threads["ok"] and multi["ok"]:
        r = multi["rate"] / threads["rate"]
        targets.append((f"{CONNECTIONS} AsyncClient tasks (multi-thread runtime) ≥ 0.9× the msgs/s of "
                        f"{CONNECTIONS} threads with a blocking Client each (postfix)", r >= 0.9,
                        f"{multi['rate']:.0f} vs {threads['rate']:.0f} msgs/s ({r:.2f}×)"))
