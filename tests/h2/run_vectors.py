#!/usr/bin/env python3
"""Runs the HTTP/2 raw-frame vectors (tests/vectors/h2/*.toml) against a running edge.

Owns: loading and checking the vector files (every vector names its RFC section, names
are unique, fewer than the minimum count fails), running each vector on a fresh
connection (several at once; the heavy ones alone at the end), and the report: one line
per vector, every failure with what was expected, what the server did and the RFC rule,
and a closing "N passed, N failed" line. The exit status is 0 only if every vector met
its expectation.
Does not own: the wire (h2wire.py), the steps (steps.py), the judging (expect.py), or
starting the edge and its origins (crates/edgeward/tests/h2_vectors.rs does that).

Usage: run_vectors.py --addr 127.0.0.1:8080 [--tls] [--only NAME ...] [--jobs N]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

from expect import FAIL, PASS, WAIT, Judge  # noqa: E402
from h2wire import SETTINGS, Connection, frame_bytes  # noqa: E402
from steps import Context, build_frame, exhaust_window, run_repeat  # noqa: E402

# Fewer vectors than this fails the run, so deleting vectors is noticed.
MIN_VECTORS = 100

VECTOR_DIR = Path(__file__).resolve().parent.parent / "vectors" / "h2"
VECTOR_KEYS = {
    "name", "rfc", "rule", "kind", "preface", "client_settings", "auto_window",
    "decoder_table_size", "timeout", "exclusive", "steps", "expect", "unless_setting",
}
RFC_CITATION = re.compile(r"^RFC (9113|7541|9110|8441) §\d+(\.\d+)*( and RFC (9113|7541|9110|8441) §\d+(\.\d+)*)*$")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFAULT_TIMEOUT = 3.0


class VectorFailed(Exception):
    """A vector did not meet its expectation."""


def load(directory: Path) -> list[dict]:
    """Every vector of every file, checked for the fields the format requires."""
    vectors, seen = [], set()
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as f:
            data = tomllib.load(f)
        for v in data.get("vector", []):
            where = f"{path.name}: {v.get('name', '?')}"
            unknown = set(v) - VECTOR_KEYS
            if unknown:
                raise SystemExit(f"{where}: unknown keys {sorted(unknown)}")
            for key in ("name", "rfc", "rule", "steps", "expect"):
                if key not in v:
                    raise SystemExit(f"{where}: missing {key!r}")
            if not NAME.match(v["name"]) or v["name"] in seen:
                raise SystemExit(f"{where}: the name must be unique kebab-case")
            if not RFC_CITATION.match(v["rfc"]):
                raise SystemExit(f"{where}: rfc must read like 'RFC 9113 §6.5.2', not {v['rfc']!r}")
            if v.get("kind", "rfc") not in ("rfc", "edge"):
                raise SystemExit(f"{where}: kind is 'rfc' or 'edge'")
            seen.add(v["name"])
            v["file"] = path.name
            vectors.append(v)
    return vectors


def describe(exp: dict) -> str:
    """An expectation in words, for failure messages."""
    if "connection_error" in exp:
        return f"connection error {'|'.join(exp['connection_error'])}"
    if "stream_error" in exp:
        return f"stream error {'|'.join(exp['stream_error'])} on stream {exp.get('stream', 1)}"
    if "malformed" in exp:
        return f"malformed: RST_STREAM PROTOCOL_ERROR (or an edge {exp.get('statuses', [400])}) on stream {exp.get('stream', 1)}"
    if "status" in exp:
        return f"a response {exp['status']} on stream {exp.get('stream', 1)}"
    if "no_error" in exp:
        return "no error (PING acknowledged)"
    if "any_of" in exp:
        return " OR ".join(describe(e) for e in exp["any_of"])
    if "all_of" in exp:
        return " AND ".join(describe(e) for e in exp["all_of"])
    key = next(iter(exp))
    return f"{key} = {exp[key]}"


def no_error_tables(exp: dict):
    """Every `no_error` table inside an expectation (each gets its own PING)."""
    if "no_error" in exp:
        yield exp
    for sub in exp.get("any_of", []) + exp.get("all_of", []):
        yield from no_error_tables(sub)


def first_authority(steps: list[dict]) -> str:
    """The authority a vector's first request names (the TLS server name to send)."""
    for step in steps:
        for frame in [step, *step.get("frames", [])]:
            if "req" in frame:
                host = frame.get("authority", "").rsplit("@", 1)[-1].split(":")[0]
                return host or "example.com"
    return "example.com"


class Run:
    """One vector on one connection."""

    def __init__(self, vector: dict, addr: tuple[str, int], tls: bool):
        self.v = vector
        self.conn = Connection(addr, tls, timeout=5.0, sni=first_authority(vector["steps"]))
        self.ctx = Context(self.conn, "https" if tls else "http")
        self.pings: dict[int, bytes] = {}
        self.judge = Judge(self.conn, self.ctx.env, self.pings)
        self.pending = bytearray()
        self.ping_counter = 0

    def flush(self) -> None:
        if self.pending:
            self.conn.send(bytes(self.pending))
            self.pending.clear()

    def run(self) -> str:
        v, conn = self.v, self.conn
        conn.auto_window = v.get("auto_window", True)
        if "decoder_table_size" in v:
            n = v["decoder_table_size"]
            conn.decoder.max_allowed_table_size = n
            conn.decoder.header_table.maxsize = n
        if v.get("preface", "standard") == "standard":
            settings = [(SETTINGS[i] if isinstance(i, str) else i, n) for i, n in v.get("client_settings", [])]
            conn.handshake(settings, DEFAULT_TIMEOUT)
        for step in v["steps"]:
            self.step(step)
        self.flush()
        exp = v["expect"]
        alt = v.get("unless_setting")
        if alt and conn.setting(SETTINGS[alt["name"]]) == alt["value"]:
            exp = alt["expect"]
        return self.checkpoint(exp, v.get("timeout", DEFAULT_TIMEOUT))

    def step(self, step: dict) -> None:
        if "expect" in step:
            self.flush()
            self.checkpoint(step["expect"], step.get("timeout", DEFAULT_TIMEOUT))
        elif "sleep" in step:
            self.flush()
            end = time.monotonic() + step["sleep"]
            while time.monotonic() < end:
                self.conn.poll(max(0.0, end - time.monotonic()))
        elif "repeat" in step:
            self.flush()
            run_repeat(step, self.ctx)
        elif "exhaust_window" in step:
            self.flush()
            exhaust_window(step, self.ctx)
        elif "raw" in step:
            self.pending += bytes.fromhex(step["raw"].replace(" ", ""))
        else:
            frame = build_frame(step, self.ctx)
            if frame[3] == 0x0:
                sent = self.ctx.env.get("conn_data_sent", 0)
                self.ctx.env["conn_data_sent"] = sent + int.from_bytes(frame[:3], "big")
            self.pending += frame

    def checkpoint(self, exp: dict, timeout: float) -> str:
        """Waits until `exp` is met (its reason) or fails (VectorFailed)."""
        for table in no_error_tables(exp):
            self.ping_counter += 1
            payload = b"h2vector" if self.ping_counter == 1 else f"h2vec{self.ping_counter:03d}".encode()[:8]
            self.pings[id(table)] = payload
            self.conn.send(frame_bytes(0x6, 0, 0, payload))
        self.ctx.env["_steps_done_at"] = time.monotonic()
        deadline = time.monotonic() + timeout
        while True:
            verdict, why = self.judge.judge(exp, time.monotonic())
            if verdict == PASS:
                return why
            if verdict == FAIL:
                raise VectorFailed(why)
            if time.monotonic() >= deadline:
                raise VectorFailed(f"timed out after {timeout:.1f}s {why}".rstrip())
            if self.conn.closed:
                # Nothing more can arrive; give quiet-period checks their last look.
                time.sleep(0.01)
            self.conn.poll(0.05)


def run_one(vector: dict, addr: tuple[str, int], tls: bool) -> tuple[bool, str]:
    started = time.monotonic()
    run = None
    try:
        run = Run(vector, addr, tls)
        why = run.run()
        ok = True
    except VectorFailed as e:
        ok, why = False, str(e)
    except (OSError, RuntimeError) as e:
        ok, why = False, f"{type(e).__name__}: {e}"
    took = time.monotonic() - started
    if ok:
        return True, f"ok   {vector['name']} ({vector['rfc']}): {why} [{took:.2f}s]"
    got = run.judge.summary() if run else "nothing"
    return False, (
        f"FAIL {vector['name']} ({vector['rfc']}, {vector['file']}){' [edge]' if vector.get('kind') == 'edge' else ''}\n"
        f"     rule:     {vector['rule']}\n"
        f"     expected: {describe(vector['expect'])}\n"
        f"     got:      {why}\n"
        f"     received: {got}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addr", required=True, help="the edge's h2c (or, with --tls, TLS) address host:port")
    parser.add_argument("--tls", action="store_true", help="connect with TLS and ALPN h2")
    parser.add_argument("--vectors", type=Path, default=VECTOR_DIR)
    parser.add_argument("--min-count", type=int, default=MIN_VECTORS)
    parser.add_argument("--only", nargs="*", help="run only these vector names")
    parser.add_argument("--jobs", type=int, default=6)
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    addr = (host, int(port))

    vectors = load(args.vectors)
    if len(vectors) < args.min_count:
        print(f"only {len(vectors)} vectors in {args.vectors}, at least {args.min_count} required")
        return 1
    if args.only:
        vectors = [v for v in vectors if v["name"] in args.only]
    started = time.monotonic()
    light = [v for v in vectors if not v.get("exclusive")]
    heavy = [v for v in vectors if v.get("exclusive")]
    results: dict[str, tuple[bool, str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for v, result in zip(light, pool.map(lambda v: run_one(v, addr, args.tls), light)):
            results[v["name"]] = result
    for v in heavy:
        results[v["name"]] = run_one(v, addr, args.tls)
    passed = failed = 0
    for v in vectors:
        ok, line = results[v["name"]]
        print(line)
        passed += ok
        failed += not ok
    print(f"\n{len(vectors)} vectors in {time.monotonic() - started:.1f}s")
    print(f"vectors: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
