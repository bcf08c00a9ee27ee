"""HTTP/2 on the wire for the vector runner: frames built byte by byte (so a vector can
make them wrong on purpose), HPACK field blocks, and a client connection that reads,
parses (hyperframe) and HPACK-decodes (hpack) everything the server sends.

Owns: frame encoding (RFC 9113 §4.1), field-block encoding (RFC 7541), the client
connection preface (RFC 9113 §3.4), the ordered log of what the server sent, and the
client's automatic duties (SETTINGS ACK, PING ACK, WINDOW_UPDATE for received DATA).
Does not own: what a vector sends (steps.py) or how an outcome is judged (expect.py).
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field

import hpack
from hyperframe import frame as hf
from hyperframe.exceptions import HyperframeError

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

FRAME_TYPES = {
    "DATA": 0x0,
    "HEADERS": 0x1,
    "PRIORITY": 0x2,
    "RST_STREAM": 0x3,
    "SETTINGS": 0x4,
    "PUSH_PROMISE": 0x5,
    "PING": 0x6,
    "GOAWAY": 0x7,
    "WINDOW_UPDATE": 0x8,
    "CONTINUATION": 0x9,
}

FLAGS = {
    "END_STREAM": 0x1,
    "ES": 0x1,
    "ACK": 0x1,
    "END_HEADERS": 0x4,
    "EH": 0x4,
    "PADDED": 0x8,
    "PRIORITY": 0x20,
}

ERROR_CODES = {
    "NO_ERROR": 0x0,
    "PROTOCOL_ERROR": 0x1,
    "INTERNAL_ERROR": 0x2,
    "FLOW_CONTROL_ERROR": 0x3,
    "SETTINGS_TIMEOUT": 0x4,
    "STREAM_CLOSED": 0x5,
    "FRAME_SIZE_ERROR": 0x6,
    "REFUSED_STREAM": 0x7,
    "CANCEL": 0x8,
    "COMPRESSION_ERROR": 0x9,
    "CONNECT_ERROR": 0xA,
    "ENHANCE_YOUR_CALM": 0xB,
    "INADEQUATE_SECURITY": 0xC,
    "HTTP_1_1_REQUIRED": 0xD,
}
ERROR_NAMES = {v: k for k, v in ERROR_CODES.items()}

SETTINGS = {
    "HEADER_TABLE_SIZE": 0x1,
    "ENABLE_PUSH": 0x2,
    "MAX_CONCURRENT_STREAMS": 0x3,
    "INITIAL_WINDOW_SIZE": 0x4,
    "MAX_FRAME_SIZE": 0x5,
    "MAX_HEADER_LIST_SIZE": 0x6,
    "ENABLE_CONNECT_PROTOCOL": 0x8,
}

# RFC 9113 §6.5.2 initial values (an unlimited one is given the value a runner uses).
SETTING_DEFAULTS = {
    0x1: 4096,
    0x2: 1,
    0x3: 100,
    0x4: 65535,
    0x5: 16384,
    0x6: 65536,
    0x8: 0,
}


def error_name(code: int) -> str:
    """The RFC 9113 §7 name of an error code, or its hex for an unknown one."""
    return ERROR_NAMES.get(code, f"0x{code:x}")


def error_code(name: str | int) -> int:
    """An error code from its name (or a number)."""
    if isinstance(name, int):
        return name
    return ERROR_CODES[name]


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def frame_bytes(ftype: int, flags: int, stream: int, payload: bytes, length: int | None = None,
                reserved: bool = False) -> bytes:
    """One frame: the 9-octet header of RFC 9113 §4.1 and the payload, as given."""
    n = len(payload) if length is None else length
    sid = (stream & 0x7FFFFFFF) | (0x80000000 if reserved else 0)
    return struct.pack(">I", n)[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """An HPACK integer (RFC 7541 §5.1) with `first` holding the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(raw: bytes) -> bytes:
    """An HPACK string literal without Huffman coding (RFC 7541 §5.2)."""
    return hpack_int(len(raw), 7) + raw


def literal_block(fields: list[tuple[bytes, bytes]]) -> bytes:
    """A field block of "literal without indexing, new name" lines (RFC 7541 §6.2.2):
    every byte goes out exactly as given and the dynamic table is never touched, so
    malformed names and values reach the server unchanged."""
    out = bytearray()
    for name, value in fields:
        out += b"\x00" + hpack_string(name) + hpack_string(value)
    return bytes(out)


def to_bytes(text: str) -> bytes:
    """Vector strings are Latin-1, so any byte (NUL, CR, 0xff) can be written as \\uXXXX."""
    return text.encode("latin-1")


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------


@dataclass
class Event:
    """One thing the server did, in the order it happened."""

    kind: str  # "frame", "closed", "invalid", "decode-error", "send-blocked"
    at: float
    frame: hf.Frame | None = None
    detail: str = ""
    fields: list[tuple[str, str]] | None = None  # a decoded field block (HEADERS)


@dataclass
class StreamLog:
    """What the server sent on one stream."""

    blocks: list[list[tuple[str, str]]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    data_frames: list[int] = field(default_factory=list)
    ended: bool = False
    reset: int | None = None


class Closed(Exception):
    """The server closed the connection."""


class Connection:
    """A client connection to the edge that records everything the server sends."""

    def __init__(self, addr: tuple[str, int], tls: bool, timeout: float, sni: str = "example.com"):
        sock = socket.create_connection(addr, timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=sni)
            if sock.selected_alpn_protocol() != "h2":
                raise RuntimeError(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
        self.sock = sock
        self.tls = tls
        self.send_timeout = timeout
        self.buf = bytearray()
        self.events: list[Event] = []
        self.streams: dict[int, StreamLog] = {}
        self.server_settings: dict[int, int] = {}
        self.closed = False
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.pending_block: tuple[int, bytearray, bool] | None = None
        self.auto_window = True
        self.auto_ping_ack = True
        self.auto_settings_ack = True
        self.sent_bytes = 0
        self.send_failed = ""

    # -- sending ---------------------------------------------------------

    def send(self, data: bytes) -> bool:
        """Writes `data`; False (and a logged event) if the server closed or stopped reading."""
        if self.closed:
            return False
        try:
            self.sock.settimeout(self.send_timeout)
            self.sock.sendall(data)
            self.sent_bytes += len(data)
            return True
        except (socket.timeout, TimeoutError):
            self.events.append(Event("send-blocked", time.monotonic(), detail="server stopped reading"))
            return False
        except OSError as e:
            # The server may have sent a GOAWAY before closing: read it before noting the close.
            self.send_failed = f"send failed: {e}"
            self.poll(0.5)
            self._close(self.send_failed)
            return False

    # -- receiving -------------------------------------------------------

    def poll(self, timeout: float) -> int:
        """Reads what arrives within `timeout` seconds (returning as soon as something
        did and what was already buffered is parsed); the number of new events."""
        before = len(self.events)
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not (self.tls and self.sock.pending() > 0):
                wait = max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([self.sock], [], [], wait)
                if not ready:
                    break
            try:
                self.sock.settimeout(0.5)
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
                continue
            except OSError as e:
                self._close(f"connection reset: {e}")
                break
            if not chunk:
                self._close("connection closed")
                break
            self.buf += chunk
            self._parse()
            if len(self.events) > before:
                deadline = time.monotonic()
        return len(self.events) - before

    def _close(self, why: str) -> None:
        if not self.closed:
            self.closed = True
            self.events.append(Event("closed", time.monotonic(), detail=why))

    def _parse(self) -> None:
        while len(self.buf) >= 9:
            try:
                frame, length = hf.Frame.parse_frame_header(memoryview(bytes(self.buf[:9])))
            except HyperframeError as e:
                self.events.append(Event("invalid", time.monotonic(), detail=f"frame header: {e}"))
                self.buf.clear()
                return
            if len(self.buf) < 9 + length:
                return
            body = bytes(self.buf[9:9 + length])
            del self.buf[:9 + length]
            try:
                frame.parse_body(memoryview(body))
            except HyperframeError as e:
                self.events.append(Event("invalid", time.monotonic(), detail=f"{type(frame).__name__}: {e}"))
                continue
            self._on_frame(frame)

    def _on_frame(self, frame: hf.Frame) -> None:
        now = time.monotonic()
        if isinstance(frame, (hf.HeadersFrame, hf.PushPromiseFrame)):
            self.pending_block = (frame.stream_id, bytearray(frame.data), "END_STREAM" in frame.flags)
            self.events.append(Event("frame", now, frame))
            if "END_HEADERS" in frame.flags:
                self._finish_block(now)
            return
        if isinstance(frame, hf.ContinuationFrame) and self.pending_block is not None:
            self.pending_block[1].extend(frame.data)
            self.events.append(Event("frame", now, frame))
            if "END_HEADERS" in frame.flags:
                self._finish_block(now)
            return
        self.events.append(Event("frame", now, frame))
        if isinstance(frame, hf.SettingsFrame):
            if "ACK" not in frame.flags:
                self.server_settings.update(frame.settings)
                if self.auto_settings_ack:
                    self.send(frame_bytes(0x4, 0x1, 0, b""))
        elif isinstance(frame, hf.PingFrame):
            if "ACK" not in frame.flags and self.auto_ping_ack:
                self.send(frame_bytes(0x6, 0x1, 0, bytes(frame.opaque_data)))
        elif isinstance(frame, hf.DataFrame):
            log = self.stream(frame.stream_id)
            log.data += frame.data
            log.data_frames.append(len(frame.data))
            if "END_STREAM" in frame.flags:
                log.ended = True
            n = frame.flow_controlled_length
            if self.auto_window and n > 0:
                update = frame_bytes(0x8, 0, 0, struct.pack(">I", n))
                if not log.ended:
                    update += frame_bytes(0x8, 0, frame.stream_id, struct.pack(">I", n))
                self.send(update)
        elif isinstance(frame, hf.RstStreamFrame):
            self.stream(frame.stream_id).reset = frame.error_code

    def _finish_block(self, now: float) -> None:
        stream_id, block, end_stream = self.pending_block
        self.pending_block = None
        try:
            fields = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.decoder.decode(bytes(block), raw=True)]
        except Exception as e:  # hpack raises several unrelated types
            self.events.append(Event("decode-error", now, detail=f"stream {stream_id}: {type(e).__name__}: {e}"))
            return
        log = self.stream(stream_id)
        log.blocks.append(fields)
        if end_stream:
            log.ended = True
        self.events[-1].fields = fields

    def stream(self, stream_id: int) -> StreamLog:
        """The log of one stream (created empty on first use)."""
        return self.streams.setdefault(stream_id, StreamLog())

    def setting(self, ident: int) -> int:
        """A setting the server announced, or its RFC 9113 initial value."""
        return self.server_settings.get(ident, SETTING_DEFAULTS.get(ident, 0))

    def close(self) -> None:
        """Closes the socket."""
        try:
            self.sock.close()
        except OSError:
            pass

    # -- the preface -----------------------------------------------------

    def handshake(self, client_settings: list[tuple[int, int]], timeout: float) -> None:
        """Sends the client preface with `client_settings` and waits for the server's
        SETTINGS (RFC 9113 §3.4), which is acknowledged as it arrives."""
        payload = b"".join(struct.pack(">HI", i, v) for i, v in client_settings)
        self.send(PREFACE + frame_bytes(0x4, 0, 0, payload))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed:
            self.poll(0.05)
            if any(e.kind == "frame" and isinstance(e.frame, hf.SettingsFrame) and "ACK" not in e.frame.flags
                   for e in self.events):
                return
        raise RuntimeError("the server sent no SETTINGS after the client preface")
