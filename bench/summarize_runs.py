#!/usr/bin/env python3
"""Ranges over repeated run.sh reports (bench/out/results-*.md), for RESULTS.md.

  for i in 1 2 3; do bash bench/run.sh; done
  python3 bench/summarize_runs.py bench/out/results-A.md bench/out/results-B.md ...

Reads the table of each report (same scenarios and targets in each) and prints one
markdown table: per scenario and target the min–max over the reports of req/s, p50, p99,
CPU µs per request, user / sys µs per request and CPU busy, and, per report, edgeward's
(and HAProxy's) CPU per request and p99 over nginx's in the same report, as min–max.
"""

import collections
import sys

TARGETS = ["direct origin (nginx)", "edgeward", "nginx", "haproxy"]


def read(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        if not line.startswith("| GET"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        scenario, target, rps, p50, p99, cpu, _vs, busy, user_sys = cells[:9]
        user, sys_ = (float(x) for x in user_sys.split("/"))
        rows[(scenario, target)] = {"rps": float(rps), "p50": float(p50), "p99": float(p99),
                                    "cpu": float(cpu), "user": user, "sys": sys_,
                                    "busy": float(busy.rstrip("%"))}
    return rows


def span(values, fmt):
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}–{hi}"


def main():
    reports = [read(p) for p in sys.argv[1:]]
    if not reports:
        sys.exit(__doc__)
    scenarios = list(dict.fromkeys(s for r in reports for (s, _) in r))
    print("| scenario | target | req/s | p50 (ms) | p99 (ms) | CPU µs / req | user / sys µs per req "
          "| CPU vs nginx | p99 vs nginx | CPU busy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        for target in TARGETS:
            runs = [r[(scenario, target)] for r in reports if (scenario, target) in r]
            if not runs:
                continue
            pairs = [(r[(scenario, target)], r[(scenario, "nginx")]) for r in reports
                     if (scenario, target) in r and (scenario, "nginx") in r]
            if target in ("edgeward", "haproxy") and pairs:
                cpu_vs = span([a["cpu"] / b["cpu"] for a, b in pairs], "{:.2f}×")
                p99_vs = span([a["p99"] / b["p99"] for a, b in pairs], "{:.2f}×")
            else:
                cpu_vs = p99_vs = "—"
            col = collections.defaultdict(list)
            for run in runs:
                for k, v in run.items():
                    col[k].append(v)
            print(f"| {scenario} | {target} | {span(col['rps'], '{:.0f}')} | {span(col['p50'], '{:.2f}')} "
                  f"| {span(col['p99'], '{:.1f}')} | {span(col['cpu'], '{:.1f}')} "
                  f"| {span(col['user'], '{:.1f}')} / {span(col['sys'], '{:.1f}')} | {cpu_vs} | {p99_vs} "
                  f"| {span(col['busy'], '{:.0f}')}% |")


if __name__ == "__main__":
    main()
