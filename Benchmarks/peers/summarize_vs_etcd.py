#!/usr/bin/env python3
"""Summary of one run_quorum_vs_etcd.sh run: floors, both systems' figures (median over repetitions),
Quorum/etcd ratios, and the BENCHMARKS.md goals that this run can check.
Usage: summarize_vs_etcd.py RESULTS_DIR"""
import glob, json, os, statistics, sys
from collections import defaultdict

R = sys.argv[1] if len(sys.argv) > 1 else "."
A, B = "quorum3", "etcd3"
WLS = ["seqput", "put16", "put64", "get16", "lock8"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x, nd=0):
    return "-" if x is None else f"{x:,.{nd}f}"


def ratio(a, b, nd=2):
    return "-" if a is None or b in (None, 0) else f"{a / b:.{nd}f}x"


floors = []
print("## Floors measured in this run\n")
print("| when | 4 KiB append + fdatasync p50 / p99 (ms) | overwrite + fdatasync p50 / p99 (ms) | TCP loopback RTT 1 B p50 / p99 (us) |")
print("|---|---|---|---|")
for p in sorted(glob.glob(os.path.join(R, "floors_*.json"))):
    d = json.load(open(p))
    floors.append(d)
    fa, fo, lb = d["fsync_append_fdatasync"], d["fsync_overwrite_fdatasync"], d["loopback_rtt_1B"]
    print(f"| {os.path.basename(p)} | {fa['p50_us'] / 1e3:.2f} / {fa['p99_us'] / 1e3:.2f} | "
          f"{fo['p50_us'] / 1e3:.2f} / {fo['p99_us'] / 1e3:.2f} | {lb['p50_us']:.0f} / {lb['p99_us']:.0f} |")

rows = defaultdict(list)
for line in open(os.path.join(R, "loadgen.jsonl")):
    r = json.loads(line)
    rows[(r["label"], r["workload"])].append(r)


def m(label, w, k):
    return med([r.get(k) for r in rows.get((label, w), [])])


def per_core(label, w):
    ops, srv = m(label, w, "ops_per_s"), m(label, w, "server_cpu_cores")
    if w == "seqput" or not ops or not srv:
        return None
    return ops / srv


print("\n## Same generator (loadgen.py), same run; median over repetitions\n")
print("seqput: 1 client, sequential; ops/s there is 1/mean latency. Server cores = CPU used by the 3 server "
      "processes during the window (2 cores in the machine); ops per server core-s = ops/s / server cores.\n")
print("| system | workload | ops/s (each rep) | median ops/s | p50 ms | p99 ms | server cores | ops per server core-s "
      "| loadgen cores | other cores | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for label in (B, A):
    for w in WLS:
        rs = rows.get((label, w))
        if not rs:
            continue
        print(f"| {label} | {w} | {', '.join(f(r['ops_per_s']) for r in rs)} | {f(m(label, w, 'ops_per_s'))} | "
              f"{f(m(label, w, 'p50_ms'), 2)} | {f(m(label, w, 'p99_ms'), 2)} | {f(m(label, w, 'server_cpu_cores'), 2)} | "
              f"{f(per_core(label, w))} | {f(m(label, w, 'loadgen_cpu_cores'), 2)} | "
              f"{f(m(label, w, 'other_cpu_cores'), 2)} | {sum(r['errors'] for r in rs)} |")

print(f"\n## Ratios {A} / {B}\n")
print("| workload | ops/s | p50 | p99 | server CPU per op (lower is better for Quorum) |")
print("|---|---|---|---|---|")
for w in WLS:
    if not rows.get((A, w)) or not rows.get((B, w)):
        continue
    pa, pb = per_core(A, w), per_core(B, w)
    cpu = "-" if not pa or not pb else f"{pb / pa:.2f}x"
    print(f"| {w} | {ratio(m(A, w, 'ops_per_s'), m(B, w, 'ops_per_s'))} | {ratio(m(A, w, 'p50_ms'), m(B, w, 'p50_ms'))} | "
          f"{ratio(m(A, w, 'p99_ms'), m(B, w, 'p99_ms'))} | {cpu} |")

print("\n## BENCHMARKS.md goals this run can check\n")


def goal(text, ok, detail):
    print(f"- {'MET' if ok else 'MISSED' if ok is not None else 'n/a'}: {text} ({detail})")


oa, ob = m(A, "put64", "ops_per_s"), m(B, "put64", "ops_per_s")
if oa and ob:
    goal("put64 >= 2x etcd ops/s", oa >= 2 * ob, f"{oa / ob:.2f}x")
    pa, pb = per_core(A, "put64"), per_core(B, "put64")
    if pa and pb:
        goal("put64 server CPU per op <= 1/3 of etcd's", pb / pa <= 1 / 3, f"{pb / pa:.2f} of etcd's")
    qa, qb = m(A, "put64", "p99_ms"), m(B, "put64", "p99_ms")
    goal("put64 p99 <= etcd's", qa <= qb, f"{qa:.2f} ms vs {qb:.2f} ms")
sa = m(A, "seqput", "p50_ms")
if sa and floors:
    fl = [d["fsync_append_fdatasync"]["p50_us"] / 1e3 for d in floors]
    goal("seqput p50 within 1.5x of the fsync floor (4 KiB append + fdatasync p50, this run)",
         sa <= 1.5 * min(fl), f"{sa:.2f} ms vs floor {' / '.join(f'{x:.2f}' for x in fl)} ms -> "
         f"{sa / min(fl):.2f}x..{sa / max(fl):.2f}x")
ga, gb = m(A, "get16", "ops_per_s"), m(B, "get16", "ops_per_s")
if ga and gb:
    goal("get16 (linearizable) >= 3x etcd's", ga >= 3 * gb, f"{ga / gb:.2f}x")
la, lb = m(A, "lock8", "ops_per_s"), m(B, "lock8", "ops_per_s")
if la and lb:
    goal("lock8 >= 3x etcd's (Quorum: txn-polling mutex, no lease, not a lock recipe)", la >= 3 * lb, f"{la / lb:.2f}x")
