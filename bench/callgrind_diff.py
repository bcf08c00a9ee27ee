#!/usr/bin/env python3
"""Per-function difference of two callgrind profiles, per request (for bench/profile.sh).

  callgrind_diff.py {self|inclusive} A B N TOTAL TOP
  callgrind_diff.py callers A B N FUNCTION TOP
  callgrind_diff.py components A B N TOTAL TOP

A and B are profiles of the same program, B having served N more requests than A. The
first form runs callgrind_annotate on both, subtracts A's cost from B's function by
function and prints the TOP largest differences divided by N as
"Ir-per-request|share-of-TOTAL|function" (TOTAL: the program's Ir per request over the
same difference). Costs are summed per function name: callgrind splits a function by the
source file of each line, and inlining spreads one function over many files. For
inclusive cost, the outer frames every request runs inside (main, the event loop, the
runtime's worker: 97 % or more) are left out.

The second form prints who calls FUNCTION (a substring of its name), per request:
"Ir-per-request|calls-per-request|caller", the TOP largest, and a total line first.

The third sums self cost per component: the crate a Rust function belongs to (the first
path segment, `<a::B as c::D>::f` counting as `a`), mimalloc (`mi_*`), nginx (`ngx_*`,
and unnamed addresses), and libc's memcpy/memset/malloc and the rest of libc, as
"Ir-per-request|share|component".
"""

import re
import subprocess
import sys

ROW = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)\s*$")
CALLER = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+<\s+(.+?)\s+\(([\d,]+)x\)")
CALLEE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\*\s+(.+?)\s*$")


def function_name(entry):
    """'file:function [object]' -> 'function' (the file part never contains ':' here
    except for the separator; function names may, e.g. 'a::b')."""
    entry = re.sub(r"\s+\[[^\]]*\]$", "", entry)
    match = re.match(r"^(\?\?\?|[^:]*\.[A-Za-z]+|[^:]*/[^:]*):(.*)$", entry)
    return match.group(2) if match else entry


def annotate(path, *options):
    return subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", *options, path],
                          capture_output=True, text=True, check=True).stdout.splitlines()


def costs(path, inclusive):
    result, in_table = {}, False
    for line in annotate(path, f"--inclusive={'yes' if inclusive else 'no'}"):
        if re.match(r"^Ir\s+file:function", line.strip()):
            in_table = True
            continue
        m = ROW.match(line) if in_table else None
        if m:
            name = function_name(m.group(2))
            result[name] = result.get(name, 0) + int(m.group(1).replace(",", ""))
    if not result:
        sys.exit(f"no function table in callgrind_annotate output of {path}")
    return result


def callers(path, needle):
    """{caller: [Ir, calls]} over every callee entry whose name contains needle."""
    lines = annotate(path, "--tree=caller")
    result = {}
    for i, line in enumerate(lines):
        m = CALLEE.match(line)
        if not m or needle not in function_name(m.group(2)):
            continue
        j = i - 1
        while j >= 0 and lines[j].strip():
            c = CALLER.match(lines[j])
            if c:
                entry = result.setdefault(function_name(c.group(2)), [0, 0])
                entry[0] += int(c.group(1).replace(",", ""))
                entry[1] += int(c.group(3).replace(",", ""))
            j -= 1
    return result


def component(name):
    """Which crate or library a function's self cost belongs to."""
    if "memcpy" in name or "memmove" in name or "memset" in name:
        return "libc memcpy/memmove/memset"
    if name.startswith(("mi_", "_mi_")):
        return "mimalloc"
    if name.startswith("ngx_") or name.startswith("0x"):
        return "nginx (ngx_*, unnamed addresses)"
    if "::" not in name:
        return "libc and other C (" + ("malloc/free" if "malloc" in name or "free" in name else "rest") + ")"
    first = name.lstrip("<").split("::")[0].split("<")[0]
    if first in ("core", "alloc", "std"):
        # Standard library code: say what kind, the crate of the caller is unknown here.
        second = name.lstrip("<").split("::")[1] if name.count("::") > 1 else ""
        return f"Rust std ({first}::{second})"
    return first


def short(name, width=150):
    return name if len(name) <= width else name[:width - 1] + "…"


def main():
    kind, a, b, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    top = int(sys.argv[6])
    if kind == "callers":
        needle = sys.argv[5]
        ca, cb = callers(a, needle), callers(b, needle)
        rows = sorted(((cb.get(k, [0, 0])[0] - ca.get(k, [0, 0])[0],
                        cb.get(k, [0, 0])[1] - ca.get(k, [0, 0])[1], k) for k in set(ca) | set(cb)),
                      reverse=True)
        print(f"{sum(r[0] for r in rows) / n:,.0f}|{sum(r[1] for r in rows) / n:.1f}|(all callers of {needle})")
        for d, calls, k in [r for r in rows if r[0] > 0][:top]:
            print(f"{d / n:,.0f}|{calls / n:.1f}|{short(k).replace('|', '/')}")
        return
    total = float(sys.argv[5])
    if kind == "components":
        ca, cb = costs(a, False), costs(b, False)
        sums = {}
        for k in set(ca) | set(cb):
            c = component(k)
            sums[c] = sums.get(c, 0) + cb.get(k, 0) - ca.get(k, 0)
        for c, d in sorted(sums.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{d / n:,.0f}|{100 * d / n / total:.1f}%|{c}")
        return
    ca, cb = costs(a, kind == "inclusive"), costs(b, kind == "inclusive")
    rows = sorted(((cb.get(k, 0) - ca.get(k, 0), k) for k in set(ca) | set(cb)), reverse=True)
    if kind == "inclusive":
        outer = [r for r in rows if r[0] / n >= 0.97 * total]
        rows = [r for r in rows if r[0] / n < 0.97 * total]
        if outer:
            print(f"—|≥97%|({len(outer)} outer frames left out: main, event loop, runtime worker)")
    for d, k in rows[:top]:
        print(f"{d / n:,.0f}|{100 * d / n / total:.1f}%|{short(k).replace('|', '/')}")


if __name__ == "__main__":
    main()
