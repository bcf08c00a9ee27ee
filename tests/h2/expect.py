"""Judges what the server did against a vector's expectation, in the spirit of h2spec.

Owns: the expectation kinds (connection error, stream error, malformed request, response,
no error, flow-control and SETTINGS checks, `any_of` / `all_of`), what each accepts as a
conforming outcome, and the checks every HTTP/2 response must pass (RFC 9113 §8.1.1,
§8.2, §8.2.2, §8.3.2).
Does not own: sending (steps.py) or reading frames (h2wire.py).

A judgement is one of PASS, FAIL or WAIT (undecided so far) with a reason. Accepted
outcomes follow RFC 9113 §5.4: a stream error may be escalated to a connection error
(GOAWAY with the same code); a connection error SHOULD carry a GOAWAY, so a bare close
is accepted too (and named in the reason).
"""

from __future__ import annotations

from hyperframe import frame as hf

from h2wire import ERROR_CODES, Connection, error_code, error_name

PASS, FAIL, WAIT = "pass", "fail", "wait"

# RFC 9113 §8.2.2: never in an HTTP/2 message.
CONNECTION_SPECIFIC = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade")

# How long the connection must stay quiet before a "nothing more arrives" check passes.
QUIET = 0.3

KINDS = {
    "connection_error", "stream_error", "malformed", "status", "no_error", "settings_acks",
    "absent_ping", "window", "no_data", "any_of", "all_of", "first_frame",
}
RESPONSE_KEYS = {
    "stream", "status", "head", "headers", "headers_absent", "body_contains", "body_len",
    "from_origin", "content_type_prefix", "max_data_frame",
}


class Judge:
    """Evaluates one expectation table against a connection's events."""

    def __init__(self, conn: Connection, env: dict[str, int], ping_payloads: dict[int, bytes]):
        self.conn = conn
        self.env = env
        self.pings = ping_payloads  # id(no_error table) -> the PING payload sent for it

    def judge(self, exp: dict, now: float) -> tuple[str, str]:
        """The verdict for `exp` given everything received so far."""
        kinds = [k for k in exp if k in KINDS]
        if len(kinds) != 1:
            raise ValueError(f"an expectation needs exactly one of {sorted(KINDS)}: {exp}")
        kind = kinds[0]
        return getattr(self, "_" + kind)(exp, now)

    # -- helpers ---------------------------------------------------------

    def stream_id(self, exp: dict) -> int:
        value = exp.get("stream", 1)
        if isinstance(value, str):
            return self.env[value.lstrip("$")]
        return value

    def frames(self):
        for e in self.conn.events:
            if e.kind == "frame":
                yield e

    def quiet_for(self, now: float) -> float:
        last = self.conn.events[-1].at if self.conn.events else 0.0
        return now - max(last, self.env.get("_steps_done_at", 0.0))

    def summary(self) -> str:
        """What the server sent, compactly, for a failure message."""
        out = []
        for e in self.conn.events:
            if e.kind != "frame":
                out.append(f"[{e.kind}: {e.detail}]")
                continue
            f = e.frame
            name = type(f).__name__.replace("Frame", "").upper()
            if isinstance(f, hf.GoAwayFrame):
                out.append(f"GOAWAY({error_name(f.error_code)}, last={f.last_stream_id})")
            elif isinstance(f, hf.RstStreamFrame):
                out.append(f"RST_STREAM(s{f.stream_id}, {error_name(f.error_code)})")
            elif isinstance(f, hf.HeadersFrame) and e.fields is not None:
                status = dict(e.fields).get(":status", "-")
                out.append(f"HEADERS(s{f.stream_id}, :status={status})")
            elif isinstance(f, hf.DataFrame):
                out.append(f"DATA(s{f.stream_id}, {len(f.data)}{', ES' if 'END_STREAM' in f.flags else ''})")
            elif isinstance(f, hf.SettingsFrame):
                out.append("SETTINGS(ACK)" if "ACK" in f.flags else "SETTINGS")
            elif isinstance(f, hf.WindowUpdateFrame):
                out.append(f"WINDOW_UPDATE(s{f.stream_id}, +{f.window_increment})")
            elif isinstance(f, hf.PingFrame):
                out.append(f"PING({'ACK, ' if 'ACK' in f.flags else ''}{bytes(f.opaque_data).hex()})")
            else:
                out.append(f"{name}(s{f.stream_id})")
        # Long runs of frames (floods) are cut in the middle.
        if len(out) > 24:
            out = out[:10] + [f"... {len(out) - 20} more ..."] + out[-10:]
        return " ".join(out) or "nothing"

    # -- error expectations ----------------------------------------------

    def _connection_error(self, exp: dict, now: float) -> tuple[str, str]:
        codes = [error_code(c) for c in exp["connection_error"]]
        for e in self.conn.events:
            if e.kind == "closed":
                if exp.get("goaway_required"):
                    return FAIL, f"closed without GOAWAY ({e.detail})"
                return PASS, f"closed without GOAWAY ({e.detail})"
            if e.kind == "frame" and isinstance(e.frame, hf.GoAwayFrame):
                if e.frame.error_code in codes:
                    return PASS, f"GOAWAY {error_name(e.frame.error_code)}"
                return FAIL, f"GOAWAY {error_name(e.frame.error_code)}, not {names(codes)}"
        return WAIT, ""

    def _stream_error(self, exp: dict, now: float) -> tuple[str, str]:
        codes = [error_code(c) for c in exp["stream_error"]]
        sid = self.stream_id(exp)
        for e in self.conn.events:
            if e.kind == "closed":
                return PASS, f"closed without GOAWAY ({e.detail})"
            if e.kind != "frame":
                continue
            f = e.frame
            if isinstance(f, hf.RstStreamFrame) and f.stream_id == sid:
                if f.error_code in codes:
                    return PASS, f"RST_STREAM {error_name(f.error_code)}"
                return FAIL, f"RST_STREAM {error_name(f.error_code)} on stream {sid}, not {names(codes)}"
            if isinstance(f, hf.GoAwayFrame):
                if f.error_code in codes:
                    return PASS, f"GOAWAY {error_name(f.error_code)}"
                return FAIL, f"GOAWAY {error_name(f.error_code)}, not {names(codes)}"
        return WAIT, ""

    def _malformed(self, exp: dict, now: float) -> tuple[str, str]:
        """RFC 9113 §8.1.1: a stream error PROTOCOL_ERROR; the server MAY first answer
        (a 4xx of its own: a malformed request MUST NOT reach the origin)."""
        sid = self.stream_id(exp)
        statuses = exp.get("statuses", [400])
        log = self.conn.streams.get(sid)
        for e in self.conn.events:
            if e.kind == "closed":
                return PASS, f"closed without GOAWAY ({e.detail})"
            if e.kind != "frame":
                continue
            f = e.frame
            if isinstance(f, hf.RstStreamFrame) and f.stream_id == sid:
                if f.error_code == ERROR_CODES["PROTOCOL_ERROR"]:
                    return PASS, "RST_STREAM PROTOCOL_ERROR"
                return FAIL, f"RST_STREAM {error_name(f.error_code)}, not PROTOCOL_ERROR"
            if isinstance(f, hf.GoAwayFrame):
                if f.error_code == ERROR_CODES["PROTOCOL_ERROR"]:
                    return PASS, "GOAWAY PROTOCOL_ERROR"
                return FAIL, f"GOAWAY {error_name(f.error_code)}, not PROTOCOL_ERROR"
            if isinstance(f, hf.HeadersFrame) and f.stream_id == sid and e.fields is not None:
                head = dict(e.fields)
                status = int(head.get(":status", "0"))
                if "x-origin" in head:
                    return FAIL, f"forwarded to the origin (:status {status})"
                if status in statuses:
                    return PASS, f"answered {status} by the edge"
                return FAIL, f"answered {status}, not a stream error or {statuses}"
        if log and log.blocks is not None and self.has_decode_error():
            return FAIL, "response field block failed to decode"
        return WAIT, ""

    def has_decode_error(self) -> bool:
        return any(e.kind == "decode-error" for e in self.conn.events)

    # -- responses -------------------------------------------------------

    def _status(self, exp: dict, now: float) -> tuple[str, str]:
        unknown = set(exp) - RESPONSE_KEYS
        if unknown:
            raise ValueError(f"unknown response keys {sorted(unknown)}")
        sid = self.stream_id(exp)
        for e in self.conn.events:
            if e.kind == "decode-error":
                return FAIL, e.detail
            if e.kind == "invalid":
                return FAIL, f"invalid frame from the server: {e.detail}"
            if e.kind == "frame" and isinstance(e.frame, hf.GoAwayFrame) and e.frame.error_code != 0:
                return FAIL, f"GOAWAY {error_name(e.frame.error_code)}"
            if e.kind == "frame" and isinstance(e.frame, hf.RstStreamFrame) and e.frame.stream_id == sid:
                log = self.conn.streams.get(sid)
                if not (log and log.ended and e.frame.error_code == 0):
                    return FAIL, f"RST_STREAM {error_name(e.frame.error_code)} on stream {sid}"
        log = self.conn.streams.get(sid)
        if log is None or not log.ended:
            if self.conn.closed:
                return FAIL, "connection closed before the response ended"
            return WAIT, ""
        return check_response(exp, log)

    # -- liveness and settings -------------------------------------------

    def _no_error(self, exp: dict, now: float) -> tuple[str, str]:
        """The connection survives: the PING sent after the steps is acknowledged and no
        error was signalled before it (RFC 9113 §6.7 gives the round trip)."""
        payload = self.pings.get(id(exp))
        allow_reset = exp.get("allow_reset", [])
        for e in self.conn.events:
            if e.kind == "closed":
                return FAIL, f"connection closed ({e.detail})"
            if e.kind in ("invalid", "decode-error"):
                return FAIL, e.detail
            if e.kind != "frame":
                continue
            f = e.frame
            if isinstance(f, hf.GoAwayFrame) and f.error_code != 0:
                return FAIL, f"GOAWAY {error_name(f.error_code)}"
            if isinstance(f, hf.RstStreamFrame) and f.error_code not in (0, *map(error_code, allow_reset)):
                return FAIL, f"RST_STREAM {error_name(f.error_code)} on stream {f.stream_id}"
            if (isinstance(f, hf.PingFrame) and "ACK" in f.flags and payload is not None
                    and bytes(f.opaque_data) == payload):
                return PASS, "PING acknowledged"
        return WAIT, ""

    def _settings_acks(self, exp: dict, now: float) -> tuple[str, str]:
        want = exp["settings_acks"]
        got = sum(1 for e in self.frames() if isinstance(e.frame, hf.SettingsFrame) and "ACK" in e.frame.flags)
        if got >= want:
            return PASS, f"{got} SETTINGS ACK"
        if self.conn.closed:
            return FAIL, f"closed after {got} SETTINGS ACK"
        return WAIT, f"{got} of {want} SETTINGS ACK"

    def _absent_ping(self, exp: dict, now: float) -> tuple[str, str]:
        payload = bytes.fromhex(exp["absent_ping"])
        for e in self.frames():
            if isinstance(e.frame, hf.PingFrame) and bytes(e.frame.opaque_data) == payload:
                return FAIL, f"the server answered a PING it must not answer ({payload.hex()})"
        if self.quiet_for(now) >= QUIET:
            return PASS, "no answer"
        return WAIT, ""

    def _first_frame(self, exp: dict, now: float) -> tuple[str, str]:
        for e in self.conn.events:
            if e.kind != "frame":
                return FAIL, f"{e.kind} before any frame"
            f = e.frame
            if isinstance(f, hf.SettingsFrame) and "ACK" not in f.flags:
                return PASS, "SETTINGS first"
            return FAIL, f"first frame was {type(f).__name__}"
        return WAIT, ""

    # -- flow control ----------------------------------------------------

    def _window(self, exp: dict, now: float) -> tuple[str, str]:
        """The server sends at most `window` DATA octets on the stream (RFC 9113 §6.9.1),
        and uses all of it (no deadlock) before the connection goes quiet."""
        sid = self.stream_id(exp)
        window = exp["window"]
        log = self.conn.streams.get(sid)
        total = len(log.data) if log else 0
        if total > window:
            return FAIL, f"{total} DATA octets sent into a window of {window}"
        if log and log.ended:
            return PASS, f"the response ended within the window ({total} octets)"
        if total == window and self.quiet_for(now) >= QUIET:
            return PASS, f"stopped at the window ({total} octets)"
        if self.conn.closed:
            return FAIL, "connection closed"
        return WAIT, f"{total} of {window} octets"

    def _no_data(self, exp: dict, now: float) -> tuple[str, str]:
        sid = self.stream_id(exp)
        log = self.conn.streams.get(sid)
        if log and log.data:
            return FAIL, f"{len(log.data)} DATA octets sent into a zero window"
        if self.conn.closed:
            return FAIL, "connection closed"
        if self.quiet_for(now) >= QUIET:
            return PASS, "no DATA while the window is 0"
        return WAIT, ""

    # -- combinators -----------------------------------------------------

    def _any_of(self, exp: dict, now: float) -> tuple[str, str]:
        reasons = []
        waiting = False
        for sub in exp["any_of"]:
            verdict, why = self.judge(sub, now)
            if verdict == PASS:
                return PASS, why
            waiting |= verdict == WAIT
            reasons.append(why)
        if waiting:
            return WAIT, ""
        return FAIL, " / ".join(reasons)

    def _all_of(self, exp: dict, now: float) -> tuple[str, str]:
        reasons = []
        for sub in exp["all_of"]:
            verdict, why = self.judge(sub, now)
            if verdict != PASS:
                return verdict, why
            reasons.append(why)
        return PASS, "; ".join(reasons)


def names(codes: list[int]) -> str:
    return "|".join(error_name(c) for c in codes)


def check_response(exp: dict, log) -> tuple[str, str]:
    """A complete response against `exp`, and against what every HTTP/2 response must be."""
    finals = [b for b in log.blocks if not b or not b[0][1].startswith("1")]
    if not finals:
        return FAIL, "no final response head"
    head = finals[0]
    problems = conformance(head, log, exp.get("head", False))
    status = int(dict(head).get(":status", "0"))
    want = exp["status"]
    wanted = want if isinstance(want, list) else [want]
    fields = {}
    for name, value in head:
        fields.setdefault(name, value)
    if status not in wanted:
        problems.insert(0, f":status {status}, not {want}")
    for name, value in exp.get("headers", {}).items():
        if fields.get(name) != value:
            problems.append(f"{name}: {fields.get(name)!r}, not {value!r}")
    for name in exp.get("headers_absent", []):
        if name in fields:
            problems.append(f"{name} present ({fields[name]!r})")
    body = bytes(log.data)
    if "body_contains" in exp and exp["body_contains"].encode() not in body:
        problems.append(f"body lacks {exp['body_contains']!r} ({body[:80]!r})")
    if "body_len" in exp and len(body) != exp["body_len"]:
        problems.append(f"body is {len(body)} octets, not {exp['body_len']}")
    if "from_origin" in exp and ("x-origin" in fields) != exp["from_origin"]:
        problems.append("answered by the origin" if "x-origin" in fields else "not answered by the origin")
    prefix = exp.get("content_type_prefix")
    if prefix and not fields.get("content-type", "").startswith(prefix):
        problems.append(f"content-type {fields.get('content-type')!r}, not {prefix}*")
    limit = exp.get("max_data_frame")
    if limit is not None and any(n > limit for n in log.data_frames):
        problems.append(f"a DATA frame of {max(log.data_frames)} octets (limit {limit})")
    if problems:
        return FAIL, "; ".join(problems)
    return PASS, f":status {status}, {len(body)} octets"


def conformance(head: list[tuple[str, str]], log, head_request: bool) -> list[str]:
    """What RFC 9113 requires of every response the server sends."""
    problems = []
    pseudo = [n for n, _ in head if n.startswith(":")]
    if pseudo != [":status"]:
        problems.append(f"pseudo-header fields {pseudo} (§8.3.2 wants exactly :status)")
    seen_regular = False
    for name, _ in head:
        if name.startswith(":") and seen_regular:
            problems.append("a pseudo-header field after a regular one (§8.3)")
        seen_regular |= not name.startswith(":")
        if name != name.lower():
            problems.append(f"uppercase field name {name!r} (§8.2)")
        if name in CONNECTION_SPECIFIC:
            problems.append(f"connection-specific field {name!r} (§8.2.2)")
    status = dict(head).get(":status", "0")
    lengths = [v for n, v in head if n == "content-length"]
    if lengths and not head_request and status not in ("204", "304"):
        if any(v != str(len(log.data)) for v in lengths):
            problems.append(f"content-length {lengths} but {len(log.data)} DATA octets (§8.1.1)")
    if (head_request or status in ("204", "304")) and log.data:
        problems.append(f"{len(log.data)} DATA octets in a response that has no content")
    return problems
