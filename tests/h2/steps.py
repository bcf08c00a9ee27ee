"""Turns a vector's steps (TOML tables) into bytes on the wire and waits.

Owns: the compact frame description of tests/vectors/h2/README.md (every frame type
with structured fields, or raw payload hex to make it wrong on purpose), request
shorthands, `$name` values read off the server's SETTINGS, `repeat` loops (floods,
rapid reset) and the window-exhaustion step.
Does not own: the socket (h2wire.py) or judging (expect.py).
"""

from __future__ import annotations

import re
import struct
import time

import hpack
from hyperframe import frame as hf

from h2wire import FLAGS, FRAME_TYPES, SETTINGS, Connection, error_code, frame_bytes, literal_block, to_bytes

FRAME_KEYS = {
    "frame", "type", "stream", "flags", "reserved", "length", "payload",
    # DATA
    "data", "data_len", "pad", "pad_length",
    # HEADERS / PUSH_PROMISE / CONTINUATION
    "req", "authority", "drop", "add", "fields", "big", "block", "block_prefix", "block_suffix", "hpack",
    "priority", "promised", "payload_len", "fit",
    # PRIORITY
    "dep", "weight", "exclusive",
    # RST_STREAM / GOAWAY
    "code", "last", "debug",
    # SETTINGS
    "settings",
    # WINDOW_UPDATE
    "increment",
}

VAR = re.compile(r"^\$([a-z_]+)\s*([+-]\s*\d+)?$")


class Context:
    """What building frames needs: the connection, values by name, the HPACK encoder."""

    def __init__(self, conn: Connection, scheme: str):
        self.conn = conn
        self.scheme = scheme
        self.encoder = hpack.Encoder()
        self.env: dict[str, float] = {}

    def value(self, v):
        """An integer, or `$name` / `$name+N` (server settings, `s`, `last`)."""
        if not isinstance(v, str):
            return v
        m = VAR.match(v.strip())
        if not m:
            raise ValueError(f"not a number or $name: {v!r}")
        name, delta = m.group(1), int((m.group(2) or "0").replace(" ", ""))
        if name in self.env:
            base = self.env[name]
        elif name.upper() in SETTINGS:
            base = self.conn.setting(SETTINGS[name.upper()])
        else:
            raise ValueError(f"unknown value ${name}")
        return int(base) + delta


def flags_of(spec: dict) -> int:
    flags = spec.get("flags", 0)
    if isinstance(flags, int):
        return flags
    out = 0
    for name in flags:
        out |= FLAGS[name]
    return out


def fields_of(spec: dict, ctx: Context) -> list[tuple[bytes, bytes]]:
    """A field list: `fields` as given, or `req` ("GET /") expanded to the four request
    pseudo-header fields, minus `drop`, plus `add` and `big` (a value of N octets)."""
    if "fields" in spec:
        fields = [(to_bytes(n), to_bytes(v)) for n, v in spec["fields"]]
    elif "req" in spec:
        method, path = spec["req"].split(" ", 1)
        fields = [
            (b":method", to_bytes(method)),
            (b":scheme", to_bytes(ctx.scheme)),
            (b":path", to_bytes(path)),
            (b":authority", to_bytes(spec.get("authority", "example.com"))),
        ]
    else:
        fields = []
    drop = {to_bytes(n) for n in spec.get("drop", [])}
    fields = [(n, v) for n, v in fields if n not in drop]
    fields += [(to_bytes(n), to_bytes(v)) for n, v in spec.get("add", [])]
    fields += [(to_bytes(n), b"a" * ctx.value(size)) for n, size in spec.get("big", [])]
    return fields


def field_block(spec: dict, ctx: Context) -> bytes:
    """The field block: `block` hex as given, or the fields encoded, with optional raw
    `block_prefix` / `block_suffix` hex (HPACK instructions written by hand)."""
    if "block" in spec:
        return bytes.fromhex(spec["block"])
    fields = fields_of(spec, ctx)
    if spec.get("hpack", "literal") == "indexed":
        # The real encoder: Huffman strings, incremental indexing into the dynamic table.
        block = ctx.encoder.encode([(n, v) for n, v in fields], huffman=True)
    else:
        block = literal_block(fields)
    return bytes.fromhex(spec.get("block_prefix", "")) + block + bytes.fromhex(spec.get("block_suffix", ""))


def padded(spec: dict, body: bytes, flags: int) -> tuple[bytes, int]:
    """Adds the Pad Length field and padding when `pad` is given (PADDED flag set)."""
    if "pad" not in spec:
        return body, flags
    pad = spec["pad"]
    length = spec.get("pad_length", pad)
    return bytes([length]) + body + b"\x00" * pad, flags | FLAGS["PADDED"]


def build_frame(spec: dict, ctx: Context) -> bytes:
    """The bytes of one frame described by `spec`."""
    unknown = set(spec) - FRAME_KEYS
    if unknown:
        raise ValueError(f"unknown frame keys {sorted(unknown)} in {spec}")
    name = spec.get("frame")
    ftype = spec["type"] if "type" in spec else FRAME_TYPES[name]
    flags = flags_of(spec)
    stream = ctx.value(spec.get("stream", 0))
    if "payload" in spec:
        payload = bytes.fromhex(spec["payload"])
    elif "payload_len" in spec:
        payload = b"\x00" * ctx.value(spec["payload_len"])
    elif name == "DATA":
        data = to_bytes(spec.get("data", "")) if "data_len" not in spec else b"x" * ctx.value(spec["data_len"])
        payload, flags = padded(spec, data, flags)
    elif name in ("HEADERS", "CONTINUATION", "PUSH_PROMISE"):
        payload = field_block(spec, ctx)
        if name == "PUSH_PROMISE":
            payload = struct.pack(">I", spec.get("promised", 2)) + payload
        if "priority" in spec and name == "HEADERS":
            p = spec["priority"]
            dep = p.get("dep", 0) | (0x80000000 if p.get("exclusive") else 0)
            payload = struct.pack(">IB", dep, p.get("weight", 16) - 1) + payload
            flags |= FLAGS["PRIORITY"]
        if name != "CONTINUATION":
            payload, flags = padded(spec, payload, flags)
    elif name == "PRIORITY":
        dep = ctx.value(spec.get("dep", 0)) | (0x80000000 if spec.get("exclusive") else 0)
        payload = struct.pack(">IB", dep, spec.get("weight", 16) - 1)
    elif name == "RST_STREAM":
        payload = struct.pack(">I", error_code(spec.get("code", "CANCEL")))
    elif name == "SETTINGS":
        pairs = [(SETTINGS[i] if isinstance(i, str) else i, ctx.value(v)) for i, v in spec.get("settings", [])]
        payload = b"".join(struct.pack(">HI", i, v) for i, v in pairs)
    elif name == "PING":
        payload = bytes.fromhex(spec.get("data", "0102030405060708"))
    elif name == "GOAWAY":
        payload = struct.pack(">II", spec.get("last", 0), error_code(spec.get("code", "NO_ERROR")))
        payload += to_bytes(spec.get("debug", ""))
    elif name == "WINDOW_UPDATE":
        payload = struct.pack(">I", ctx.value(spec["increment"]))
    else:
        payload = b""
    if spec.get("fit") and name == "HEADERS":
        return fitted_headers(payload, flags, stream, ctx)
    return frame_bytes(ftype, flags, stream, payload, spec.get("length"), spec.get("reserved", False))


def fitted_headers(block: bytes, flags: int, stream: int, ctx: Context) -> bytes:
    """A HEADERS frame and as many CONTINUATION frames as the server's
    SETTINGS_MAX_FRAME_SIZE needs for `block` (END_HEADERS on the last one)."""
    size = ctx.conn.setting(SETTINGS["MAX_FRAME_SIZE"])
    parts = [block[i:i + size] for i in range(0, len(block), size)] or [b""]
    end_headers = flags & FLAGS["END_HEADERS"]
    out = bytearray()
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if i == 0:
            out += frame_bytes(0x1, (flags & ~FLAGS["END_HEADERS"]) | (end_headers if last else 0), stream, part)
        else:
            out += frame_bytes(0x9, end_headers if last else 0, stream, part)
    return bytes(out)


def run_repeat(step: dict, ctx: Context) -> None:
    """Sends `frames` `repeat` times with `$s` = first_stream, +2 each time, in batches,
    reading between batches (so the server's answers never block it); stops early when
    the server closes, stops reading, or `max_seconds` pass."""
    count = ctx.value(step["repeat"])
    sid = step.get("first_stream", 1)
    batch = step.get("batch", 100)
    deadline = time.monotonic() + step.get("max_seconds", 10.0)
    conn = ctx.conn
    sent = 0
    while sent < count and not conn.closed and time.monotonic() < deadline:
        chunk = bytearray()
        for _ in range(min(batch, count - sent)):
            ctx.env["s"] = sid
            for spec in step["frames"]:
                chunk += build_frame(spec, ctx)
            ctx.env["last"] = sid
            sid += 2
            sent += 1
        if not conn.send(bytes(chunk)):
            break
        conn.poll(0)
    ctx.env["sent"] = sent


def exhaust_window(step: dict, ctx: Context, settle: float = 0.5) -> None:
    """Sends DATA on `stream` until the window the server granted (its initial window
    plus every WINDOW_UPDATE received for the stream) is used up and the server has
    stayed quiet for `settle` seconds, then sends `extra` octets beyond it."""
    conn = ctx.conn
    sid = step["exhaust_window"]
    sent = 0
    quiet_since = time.monotonic()
    def granted() -> int:
        """What may still be sent: the smaller of the stream and connection windows."""
        stream = conn.setting(SETTINGS["INITIAL_WINDOW_SIZE"])
        connection = 65535 - ctx.env.get("conn_data_sent", 0)
        for e in conn.events:
            if e.kind == "frame" and isinstance(e.frame, hf.WindowUpdateFrame):
                if e.frame.stream_id == sid:
                    stream += e.frame.window_increment
                elif e.frame.stream_id == 0:
                    connection += e.frame.window_increment
        return min(stream, connection + sent)

    deadline = time.monotonic() + step.get("max_seconds", 10.0)
    while not conn.closed and time.monotonic() < deadline:
        room = granted() - sent
        if room > 0:
            n = min(room, 16384)
            if not conn.send(frame_bytes(0x0, 0, sid, b"x" * n)):
                return
            sent += n
            quiet_since = time.monotonic()
            if conn.poll(0):
                quiet_since = time.monotonic()
            continue
        if conn.poll(0.05):
            quiet_since = time.monotonic()
        if time.monotonic() - quiet_since >= settle and granted() - sent <= 0:
            conn.send(frame_bytes(0x0, 0, sid, b"x" * step.get("extra", 1)))
            ctx.env["window_sent"] = sent
            return
