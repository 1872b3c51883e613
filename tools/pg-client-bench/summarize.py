#!/usr/bin/env python3
"""Medians of the RESULT lines in results/*.txt, as a Markdown table."""
import glob, re, statistics, collections
rows = collections.OrderedDict()
for f in ["results/plain.txt", "results/group.txt", "results/single.txt", "results/noaudit.txt"]:
    try:
        lines = open(f).read().splitlines()
    except FileNotFoundError:
        continue
    for l in lines:
        if not l.startswith("RESULT"):
            continue
        kv = dict(x.split("=", 1) for x in l.split()[1:] if "=" in x)
        key = (kv["mode"], kv["tasks"], kv["pool"], kv["committers"], kv["ping"])
        rows.setdefault(key, []).append(kv)
print("| mode | callers | connections | tx/s | p50 ms | p99 ms | client CPU µs/tx | server CPU µs/tx | avg batch | runs (tx/s) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (mode, tasks, pool, comm, ping), runs in rows.items():
    med = lambda k: statistics.median(float(r[k]) for r in runs)
    label = mode + (" (pool ping)" if ping == "true" else "")
    conns = pool + (f" ({comm} committer{'s' if comm != '1' else ''})" if comm != "0" else "")
    batch = runs[0]["avg_batch"]
    if batch != "-":
        batch = f"{med('avg_batch'):.1f}"
    print(f"| {label} | {tasks} | {conns} | {med('tps'):.0f} | {med('p50_ms'):.2f} | {med('p99_ms'):.2f} | "
          f"{med('client_cpu_us_per_tx'):.0f} | {med('server_cpu_us_per_tx'):.0f} | {batch} | "
          f"{', '.join(r['tps'] for r in runs)} |")
