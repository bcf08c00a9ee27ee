//! Raw-socket conformance vectors for the HTTP/1.1 front end and the client-error
//! catalog, plus pipelining and keep-alive tests.
//!
//! The vectors are data files under `tests/vectors/` at the workspace root; their
//! format is described in `tests/vectors/README.md`. One edgeward runs in front of
//! one test origin (answering `200 OK` with the body `ok`); every vector is sent on
//! a fresh connection and every failing vector is reported at once.

mod common;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::{config, connect, read_response, Action, Edgeward, Received, TestOrigin};

/// Where the vector files live.
const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors");

/// Fewer vector files than this fails the test (so deleting files is noticed).
const MIN_VECTORS: usize = 90;

/// How long to wait for the server to close a connection it should close.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// The follow-up request sent on a connection a vector expects to stay open.
const FOLLOW_UP: &[u8] = b"GET /follow-up HTTP/1.1\r\nHost: example.com\r\n\r\n";

/// The edge config every vector runs against: the default zone (`example.com`) with
/// short timeouts, a zone requiring Content-Length (`strict.test`) and a zone with a
/// 64-byte body limit that is temporary (`small.test`, `Retry-After: 30`).
fn vector_config(origin: SocketAddr) -> String {
    config(
        origin,
        &format!(
            "\n[limits]\nheader_timeout = \"500ms\"\nbody_timeout = \"500ms\"\n\n\
             [[zones]]\nname = \"strict\"\nhosts = [\"strict.test\"]\norigins = [\"{origin}\"]\n\
             limits = {{ require_content_length = true }}\n\n\
             [[zones]]\nname = \"small\"\nhosts = [\"small.test\"]\norigins = [\"{origin}\"]\n\
             limits = {{ max_body_bytes = 64, body_retry_after = 30 }}\n"
        ),
    )
}

// ---------------------------------------------------------------------------
// The vector file format
// ---------------------------------------------------------------------------

/// One step of sending a vector's request.
#[derive(Debug)]
enum Step {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Wait this long before the next step.
    Pause(Duration),
    /// Read one interim (1xx) response with this status before the next step.
    AwaitInterim(u16),
}

/// How the connection must be left after the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// The server closes it (the next read returns EOF, no stray bytes).
    Close,
    /// A follow-up request on the same connection gets a `200`.
    KeepAlive,
}

/// The format of an edge error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    /// The problem document labelled `application/json` (what `Accept: application/json` gets).
    Json,
    /// The problem document labelled `application/problem+json`.
    ProblemJson,
    Markdown,
    Text,
}

impl Format {
    const ALL: [Format; 5] = [
        Format::Html,
        Format::Json,
        Format::ProblemJson,
        Format::Markdown,
        Format::Text,
    ];

    fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html",
            Format::Json => "application/json",
            Format::ProblemJson => "application/problem+json",
            Format::Markdown => "text/markdown",
            Format::Text => "text/plain",
        }
    }

    fn is_json(self) -> bool {
        matches!(self, Format::Json | Format::ProblemJson)
    }
}

/// Whether the origin saw the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OriginSees {
    None,
    One,
}

/// One parsed vector file.
#[derive(Debug)]
struct Vector {
    name: String,
    rfc: Vec<String>,
    steps: Vec<Step>,
    status: u16,
    reason: String,
    code: Option<u16>,
    format: Format,
    headers: Vec<(String, Option<String>)>,
    absent: Vec<String>,
    body: Option<Vec<u8>>,
    body_contains: Vec<Vec<u8>>,
    interim: Vec<u16>,
    conn: Conn,
    origin: Option<OriginSees>,
    origin_body: Option<Vec<u8>>,
    origin_headers: Vec<(String, String)>,
}

impl Vector {
    /// Whether the request is a HEAD (its response has no body).
    fn is_head(&self) -> bool {
        let first = self.steps.iter().find_map(|s| match s {
            Step::Send(b) => Some(b.as_slice()),
            _ => None,
        });
        let mut bytes = first.unwrap_or_default();
        while let Some(rest) = bytes.strip_prefix(b"\r\n") {
            bytes = rest;
        }
        bytes.starts_with(b"HEAD ")
    }
}

/// Decodes the escapes of a vector line: `\r \n \t \0 \\ \xNN` and `{repeat:N:text}`.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let esc = *bytes.get(i + 1).ok_or("a lone `\\` at the end of the line")?;
                i += 2;
                match esc {
                    b'r' => out.push(b'\r'),
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'0' => out.push(0),
                    b'\\' => out.push(b'\\'),
                    b'{' => out.push(b'{'),
                    b'"' => out.push(b'"'),
                    b'x' => {
                        let hex = s.get(i..i + 2).ok_or("`\\x` needs two hex digits")?;
                        let b = u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape `\\x{hex}`"))?;
                        out.push(b);
                        i += 2;
                    }
                    other => return Err(format!("unknown escape `\\{}`", other as char)),
                }
            }
            b'{' if s[i..].starts_with("{repeat:") => {
                let rest = &s[i + "{repeat:".len()..];
                let end = rest.find('}').ok_or("`{repeat:` without a closing `}`")?;
                let (count, text) = rest[..end]
                    .split_once(':')
                    .ok_or("`{repeat:N:text}` needs a count and a text")?;
                let count: usize = count.parse().map_err(|_| format!("bad repeat count `{count}`"))?;
                let unit = unescape(text)?;
                for _ in 0..count {
                    out.extend_from_slice(&unit);
                }
                i += "{repeat:".len() + end + 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A value in double quotes with escapes, e.g. `"ok"` or `""`.
fn quoted(value: &str) -> Result<Vec<u8>, String> {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(|| format!("expected a double-quoted value, got `{value}`"))?;
    unescape(inner)
}

fn parse_duration(v: &str) -> Result<Duration, String> {
    if let Some(ms) = v.strip_suffix("ms") {
        return ms
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| format!("bad duration `{v}`"));
    }
    if let Some(s) = v.strip_suffix('s') {
        return s
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("bad duration `{v}`"));
    }
    Err(format!("bad duration `{v}` (use e.g. 700ms or 2s)"))
}

/// Parses one vector file.
fn parse_vector(name: &str, text: &str) -> Result<Vector, String> {
    let mut v = Vector {
        name: name.to_owned(),
        rfc: Vec::new(),
        steps: Vec::new(),
        status: 0,
        reason: String::new(),
        code: None,
        format: Format::Html,
        headers: Vec::new(),
        absent: Vec::new(),
        body: None,
        body_contains: Vec::new(),
        interim: Vec::new(),
        conn: Conn::Close,
        origin: None,
        origin_body: None,
        origin_headers: Vec::new(),
    };
    let mut format = None;
    let mut conn = None;
    let mut reason = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(raw) = line.strip_prefix('>') {
            let raw = match raw.strip_prefix(' ') {
                Some(r) => r,
                None if raw.is_empty() => "",
                None => return Err(at("a request line starts with `> ` (one space)".into())),
            };
            if raw.ends_with([' ', '\t']) {
                return Err(at(
                    "trailing whitespace in a `>` line: write it as \\x20 or \\t".into()
                ));
            }
            let bytes = unescape(raw).map_err(at)?;
            match v.steps.last_mut() {
                Some(Step::Send(prev)) => prev.extend_from_slice(&bytes),
                _ => v.steps.push(Step::Send(bytes)),
            }
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .map(|(k, val)| (k.trim(), val.trim()))
            .ok_or_else(|| {
                at(format!(
                    "expected `key: value`, `> bytes` or `# comment`, got `{line}`"
                ))
            })?;
        match key {
            "rfc" => v.rfc.push(value.to_owned()),
            "pause" => v.steps.push(Step::Pause(parse_duration(value).map_err(at)?)),
            "await-interim" => {
                let status = value.parse().map_err(|_| at(format!("bad status `{value}`")))?;
                v.steps.push(Step::AwaitInterim(status));
                v.interim.push(status);
            }
            "status" => v.status = value.parse().map_err(|_| at(format!("bad status `{value}`")))?,
            "reason" => reason = Some(value.to_owned()),
            "code" => v.code = Some(value.parse().map_err(|_| at(format!("bad code `{value}`")))?),
            "format" => {
                format = Some(match value {
                    "html" => Format::Html,
                    "json" => Format::Json,
                    "problem+json" => Format::ProblemJson,
                    "markdown" => Format::Markdown,
                    "text" => Format::Text,
                    _ => {
                        return Err(at(format!(
                            "format is html, json, problem+json, markdown or text, not `{value}`"
                        )))
                    }
                })
            }
            "header" => v.headers.push(match value.split_once('=') {
                Some((name, val)) => (name.trim().to_owned(), Some(val.trim().to_owned())),
                None => (value.to_owned(), None),
            }),
            "no-header" => v.absent.push(value.to_owned()),
            "body" => v.body = Some(quoted(value).map_err(at)?),
            "body-contains" => v.body_contains.push(quoted(value).map_err(at)?),
            "interim" => v
                .interim
                .push(value.parse().map_err(|_| at(format!("bad status `{value}`")))?),
            "conn" => {
                conn = Some(match value {
                    "close" => Conn::Close,
                    "keep-alive" => Conn::KeepAlive,
                    _ => return Err(at(format!("conn is close or keep-alive, not `{value}`"))),
                })
            }
            "origin" => {
                v.origin = Some(match value {
                    "none" => OriginSees::None,
                    "one" => OriginSees::One,
                    _ => return Err(at(format!("origin is none or one, not `{value}`"))),
                })
            }
            "origin-body" => v.origin_body = Some(quoted(value).map_err(at)?),
            "origin-header" => {
                let (name, val) = value
                    .split_once('=')
                    .ok_or_else(|| at(format!("origin-header is `Name=value`, not `{value}`")))?;
                v.origin_headers
                    .push((name.trim().to_owned(), val.trim().to_owned()));
            }
            _ => return Err(at(format!("unknown key `{key}`"))),
        }
    }
    if v.rfc.is_empty() {
        return Err("no `rfc:` line naming the rule the vector tests".into());
    }
    if !v.steps.iter().any(|s| matches!(s, Step::Send(_))) {
        return Err("no request bytes (`> ` lines)".into());
    }
    if !(100..=599).contains(&v.status) {
        return Err("no valid `status:`".into());
    }
    v.reason = reason.ok_or("no `reason:`")?;
    v.conn = conn.ok_or("no `conn:` (close or keep-alive)")?;
    if let Some(f) = format {
        if v.code.is_none() {
            return Err("`format:` without `code:`".into());
        }
        v.format = f;
    }
    v.interim.dedup();
    Ok(v)
}

/// Every `*.vector` file, sorted by name.
fn vector_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(VECTOR_DIR)
        .unwrap_or_else(|e| panic!("reading {VECTOR_DIR}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vector"))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------
// Reading responses (with interim 1xx responses)
// ---------------------------------------------------------------------------

/// A response head and body as read off the wire.
#[derive(Debug)]
struct Wire {
    version: String,
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a status line and header section.
fn read_head(reader: &mut impl BufRead) -> Result<Wire, String> {
    let mut line = Vec::new();
    let n = reader
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the status line: {e}"))?;
    if n == 0 {
        return Err("the server closed the connection without a response".into());
    }
    let status_line = String::from_utf8_lossy(&line).into_owned();
    let status_line = status_line
        .strip_suffix("\r\n")
        .ok_or_else(|| format!("status line not ended by CRLF: {status_line:?}"))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_owned();
    if !matches!(version.as_str(), "HTTP/1.1" | "HTTP/1.0") {
        return Err(format!("status line {status_line:?} is not HTTP/1.x"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = Vec::new();
        reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading the header section: {e}"))?;
        let text = String::from_utf8_lossy(&line).into_owned();
        let Some(text) = text.strip_suffix("\r\n") else {
            return Err(format!("header line not ended by CRLF: {text:?}"));
        };
        if text.is_empty() {
            break;
        }
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| format!("header line without a colon: {text:?}"))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Wire {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
    })
}

/// Reads the body of `resp` by its framing.
fn read_body(reader: &mut impl BufRead, resp: &mut Wire) -> Result<(), String> {
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| format!("bad Content-Length {len:?}"))?;
        resp.body.resize(len, 0);
        reader
            .read_exact(&mut resp.body)
            .map_err(|e| format!("reading a {len}-byte body: {e}"))?;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader
                .read_line(&mut size)
                .map_err(|e| format!("chunk size: {e}"))?;
            let n = usize::from_str_radix(size.trim(), 16).map_err(|_| format!("bad chunk size {size:?}"))?;
            if n == 0 {
                let mut end = String::new();
                reader
                    .read_line(&mut end)
                    .map_err(|e| format!("last chunk: {e}"))?;
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader
                .read_exact(&mut chunk)
                .map_err(|e| format!("chunk data: {e}"))?;
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else {
        reader
            .read_to_end(&mut resp.body)
            .map_err(|e| format!("reading a close-delimited body: {e}"))?;
    }
    Ok(())
}

/// Reads responses until a final one; returns the interim statuses seen and the final response.
fn read_final(reader: &mut impl BufRead, head_only: bool) -> Result<(Vec<u16>, Wire), String> {
    let mut interim = Vec::new();
    loop {
        let mut resp = read_head(reader)?;
        if (100..200).contains(&resp.status) {
            interim.push(resp.status);
            continue;
        }
        if !(head_only || resp.status == 204 || resp.status == 304) {
            read_body(reader, &mut resp)?;
        }
        return Ok((interim, resp));
    }
}

/// Waits for the server to close: `Ok` on EOF (or reset), a description otherwise.
fn expect_closed(reader: &mut BufReader<TcpStream>) -> Result<(), String> {
    if !reader.buffer().is_empty() {
        return Err(format!(
            "unexpected bytes after the response: {:?}",
            String::from_utf8_lossy(reader.buffer())
        ));
    }
    let stream = reader.get_mut();
    stream.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!(
            "unexpected bytes after the response: {:?}",
            String::from_utf8_lossy(&buf[..n])
        )),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) =>
        {
            Ok(())
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(format!(
            "the server did not close the connection within {CLOSE_WAIT:?}"
        )),
        Err(e) => Err(format!("reading after the response: {e}")),
    }
}

// ---------------------------------------------------------------------------
// Running one vector
// ---------------------------------------------------------------------------

/// The code an edge error body states, by format.
fn body_code(format: Format, body: &[u8]) -> Result<u16, String> {
    let text = String::from_utf8_lossy(body);
    let digits_after = |marker: &str| -> Option<u16> {
        let start = text.find(marker)? + marker.len();
        let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    match format {
        Format::Json | Format::ProblemJson => {
            let doc: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| format!("body is not JSON ({e}): {text:?}"))?;
            doc.get("error_code")
                .and_then(serde_json::Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .ok_or_else(|| format!("problem+json without a numeric `error_code`: {text}"))
        }
        Format::Markdown => digits_after("\nerror_code: ")
            .ok_or_else(|| format!("markdown without `error_code: NNNN`: {:?}", truncate(&text))),
        Format::Html => digits_after("<p class=\"code\">Error ")
            .ok_or_else(|| format!("HTML body without `Error NNNN`: {:?}", truncate(&text))),
        Format::Text => digits_after("\nerror ")
            .ok_or_else(|| format!("text body without `error NNNN:`: {:?}", truncate(&text))),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Checks the response against the vector's expectations; every mismatch is listed.
fn check_response(v: &Vector, interim: &[u16], resp: &Wire, problems: &mut Vec<String>) {
    if resp.status != v.status {
        let mut msg = format!("status {} {:?}, expected {}", resp.status, resp.reason, v.status);
        // Name the fault edgeward reported, when it generated an error.
        if let Some(format) = Format::ALL.into_iter().find(|f| {
            resp.header("content-type")
                .is_some_and(|ct| ct.starts_with(f.content_type()))
        }) {
            if let Ok(code) = body_code(format, &resp.body) {
                let _ = write!(msg, " (edgeward said error {code})");
            }
        }
        problems.push(msg);
        return;
    }
    if resp.version != "HTTP/1.1" {
        problems.push(format!(
            "status line version {}: RFC 9110 §6.2 says a server SHOULD answer with the highest \
             version it conforms to (HTTP/1.1), also to an HTTP/1.0 request",
            resp.version
        ));
    }
    if resp.reason != v.reason {
        problems.push(format!(
            "reason phrase {:?}, expected {:?}",
            resp.reason, v.reason
        ));
    }
    for status in &v.interim {
        if !interim.contains(status) {
            problems.push(format!(
                "no interim {status} response before the final one (saw {interim:?})"
            ));
        }
    }
    for (name, value) in &v.headers {
        match (resp.header(name), value) {
            (None, _) => problems.push(format!("missing header {name}")),
            (Some(got), Some(want)) if got != want => {
                problems.push(format!("header {name}: {got:?}, expected {want:?}"))
            }
            _ => {}
        }
    }
    for name in &v.absent {
        if let Some(got) = resp.header(name) {
            problems.push(format!("header {name}: {got:?} must be absent"));
        }
    }
    if let Some(body) = &v.body {
        if &resp.body != body {
            problems.push(format!(
                "body {:?}, expected {:?}",
                truncate(&String::from_utf8_lossy(&resp.body)),
                String::from_utf8_lossy(body)
            ));
        }
    }
    for needle in &v.body_contains {
        if !resp.body.windows(needle.len()).any(|w| w == &needle[..]) {
            problems.push(format!(
                "the body does not contain {:?}: {:?}",
                String::from_utf8_lossy(needle),
                truncate(&String::from_utf8_lossy(&resp.body))
            ));
        }
    }
    if let Some(code) = v.code {
        check_edge_error(v, code, resp, problems);
    }
}

/// The headers and body every edge-generated error carries.
fn check_edge_error(v: &Vector, code: u16, resp: &Wire, problems: &mut Vec<String>) {
    let want_type = v.format.content_type();
    match resp.header("content-type") {
        Some(ct) if ct.starts_with(want_type) => {}
        other => problems.push(format!("Content-Type {other:?}, expected {want_type}")),
    }
    for (name, want) in [
        ("Cache-Control", "no-store"),
        ("Server", "edgeward"),
        ("Vary", "Accept"),
    ] {
        if resp.header(name) != Some(want) {
            problems.push(format!(
                "header {name}: {:?}, expected {want:?}",
                resp.header(name)
            ));
        }
    }
    if resp.header("date").is_none() {
        problems.push("missing header Date".into());
    }
    if resp.header("edgeward-error-code") != Some(code.to_string().as_str()) {
        problems.push(format!(
            "header Edgeward-Error-Code: {:?}, expected \"{code}\"",
            resp.header("edgeward-error-code")
        ));
    }
    if resp.header("edgeward-error-type").is_none_or(str::is_empty) {
        problems.push("missing header Edgeward-Error-Type".into());
    }
    let request_id = resp.header("x-request-id").unwrap_or("");
    if request_id.is_empty() {
        problems.push("missing header X-Request-Id".into());
    }
    let length = resp
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok());
    if v.is_head() {
        // HEAD: no body (the follow-up or EOF check proves it); the length a GET
        // would get is compared by `check_head_length`.
        return;
    }
    if length != Some(resp.body.len()) {
        problems.push(format!(
            "Content-Length {length:?} but the body has {} bytes",
            resp.body.len()
        ));
    }
    match body_code(v.format, &resp.body) {
        Ok(got) if got == code => {}
        Ok(got) => problems.push(format!("error code {got}, expected {code}")),
        Err(e) => problems.push(e),
    }
    if v.format.is_json() {
        if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&resp.body) {
            let want_type = format!("/.edgeward/error/{code}");
            let expected = [
                ("status", serde_json::Value::from(v.status)),
                ("type", want_type.into()),
                ("ray_id", request_id.into()),
            ];
            for (member, want) in expected {
                if doc.get(member) != Some(&want) {
                    problems.push(format!(
                        "problem+json {member} {:?}, expected {want}",
                        doc.get(member)
                    ));
                }
            }
        }
    }
    if !request_id.is_empty() && !String::from_utf8_lossy(&resp.body).contains(request_id) {
        problems.push(format!("the body does not show the request id {request_id:?}"));
    }
}

/// Sends the vector on a fresh connection and checks everything; the problems found.
fn run_vector(v: &Vector, edge: SocketAddr, origin: &TestOrigin) -> Vec<String> {
    let mut problems = Vec::new();
    let seen_before = origin.requests().len();
    let stream = connect(edge);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut interim_seen = Vec::new();
    for step in &v.steps {
        match step {
            Step::Send(bytes) => {
                if let Err(e) = writer.write_all(bytes) {
                    // The server may refuse early and close; the response may still be readable.
                    problems.push(format!("note: writing the request failed: {e}"));
                    break;
                }
            }
            Step::Pause(d) => thread::sleep(*d),
            Step::AwaitInterim(status) => match read_head(&mut reader) {
                Ok(resp) if resp.status == *status => interim_seen.push(resp.status),
                Ok(resp) => {
                    problems.push(format!(
                        "expected an interim {status}, got {} {:?}",
                        resp.status, resp.reason
                    ));
                    return problems;
                }
                Err(e) => {
                    problems.push(format!("expected an interim {status}: {e}"));
                    return problems;
                }
            },
        }
    }
    // A write error alone is not a failure when the response is right.
    let write_note = problems.pop();
    let (interim, resp) = match read_final(&mut reader, v.is_head()) {
        Ok((mut interim, resp)) => {
            interim_seen.append(&mut interim);
            (interim_seen, resp)
        }
        Err(e) => {
            problems.extend(write_note);
            problems.push(e);
            return problems;
        }
    };
    check_response(v, &interim, &resp, &mut problems);
    if v.code.is_some() && v.is_head() && resp.status == v.status {
        check_head_length(v, edge, &resp, &mut problems);
    }

    let seen = origin.requests();
    let new = &seen[seen_before.min(seen.len())..];
    match (v.origin, new.len()) {
        (Some(OriginSees::None), n) if n > 0 => problems.push(format!(
            "the origin received {n} request(s) but the edge must answer itself: {:?}",
            new[0].request_line()
        )),
        (Some(OriginSees::One), n) if n != 1 => {
            problems.push(format!("the origin received {n} requests, expected 1"))
        }
        _ => {}
    }
    if let Some(body) = &v.origin_body {
        match new.last() {
            Some(r) if &r.body == body => {}
            Some(r) => problems.push(format!(
                "the origin received body {:?}, expected {:?}",
                String::from_utf8_lossy(&r.body),
                String::from_utf8_lossy(body)
            )),
            None => problems.push("the origin received no request (expected a body)".into()),
        }
    }
    for (name, want) in &v.origin_headers {
        match new.last() {
            Some(r) => {
                let got = origin_field(r, name);
                if got.as_deref() != Some(want.as_str()) {
                    problems.push(format!("the origin received {name}: {got:?}, expected {want:?}"));
                }
            }
            None => problems.push(format!(
                "the origin received no request (expected {name}: {want})"
            )),
        }
    }

    match v.conn {
        Conn::Close => {
            if let Err(e) = expect_closed(&mut reader) {
                problems.push(e);
            }
        }
        Conn::KeepAlive => {
            let follow_up = writer
                .write_all(FOLLOW_UP)
                .map_err(|e| format!("writing the follow-up request: {e}"))
                .and_then(|()| read_final(&mut reader, false));
            match follow_up {
                Ok((_, r)) if r.status == 200 && r.body == b"ok" => {}
                Ok((_, r)) => problems.push(format!(
                    "follow-up request on the kept-alive connection got {} {:?} with body {:?}",
                    r.status,
                    r.reason,
                    truncate(&String::from_utf8_lossy(&r.body))
                )),
                Err(e) => problems.push(format!("follow-up request on the kept-alive connection: {e}")),
            }
        }
    }
    problems
}

/// RFC 9110 §9.3.2 / §8.6: a HEAD response's Content-Length is the length of the
/// body the same request as a GET gets. Sends that GET on a fresh connection and
/// compares. (Request ids are fixed-width, so the two bodies have one length.)
fn check_head_length(v: &Vector, edge: SocketAddr, head: &Wire, problems: &mut Vec<String>) {
    let mut bytes: Vec<u8> = v
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Send(b) => Some(b.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect();
    let Some(at) = bytes.windows(5).position(|w| w == b"HEAD ") else {
        return problems.push("HEAD vector without `HEAD `".into());
    };
    drop(bytes.splice(at..at + 5, b"GET ".iter().copied()));
    let stream = connect(edge);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let get = writer
        .write_all(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|()| read_final(&mut reader, false));
    let get = match get {
        Ok((_, get)) => get,
        Err(e) => return problems.push(format!("HEAD: the GET twin failed: {e}")),
    };
    let head_length = head
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok());
    if get.status != head.status || head_length != Some(get.body.len()) || get.body.is_empty() {
        problems.push(format!(
            "HEAD: status {} Content-Length {head_length:?}, but the same GET got status {} with a \
             {}-byte body",
            head.status,
            get.status,
            get.body.len()
        ));
    }
    if get.header("content-type") != head.header("content-type") {
        problems.push(format!(
            "HEAD: Content-Type {:?}, the GET got {:?}",
            head.header("content-type"),
            get.header("content-type")
        ));
    }
}

/// Every value of field `name` in the head the origin received, joined by `, ` (one field line each).
fn origin_field(r: &Received, name: &str) -> Option<String> {
    let values: Vec<&str> = r
        .head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect();
    (!values.is_empty()).then(|| values.join(" | "))
}

fn ok_origin() -> TestOrigin {
    TestOrigin::fixed("200 OK", "", "ok")
}

#[test]
fn vectors() {
    let origin = ok_origin();
    let edge = Edgeward::start(&vector_config(origin.addr));
    let files = vector_files();
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut names = Vec::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        names.push(name.clone());
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: cannot read: {e}"));
                continue;
            }
        };
        let vector = match parse_vector(&name, &text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: invalid vector file: {e}"));
                continue;
            }
        };
        let problems = run_vector(&vector, edge.addr, &origin);
        if !problems.is_empty() {
            failures.push(format!(
                "{} [{}]:\n      - {}",
                vector.name,
                vector.rfc.join("; "),
                problems.join("\n      - ")
            ));
        }
    }
    eprintln!("ran {} vectors in {:?}", files.len(), started.elapsed());
    assert!(
        files.len() >= MIN_VECTORS,
        "only {} vector files in {VECTOR_DIR} (at least {MIN_VECTORS} expected): {names:?}",
        files.len()
    );
    // The server survived every vector.
    let after = common::exchange(edge.addr, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(after.status, 200, "edgeward no longer serves after the vectors");
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n  {}\n",
        failures.len(),
        files.len(),
        failures.join("\n  ")
    );
}

#[test]
fn vector_format_parses_escapes_and_macros() {
    assert_eq!(unescape(r"a\r\n\t\x00\x7f\\\{").unwrap(), b"a\r\n\t\0\x7f\\{");
    assert_eq!(unescape("{repeat:3:ab}c").unwrap(), b"abababc");
    assert_eq!(unescape(r"{repeat:2:X: 1\r\n}").unwrap(), b"X: 1\r\nX: 1\r\n");
    assert!(unescape(r"\q").is_err());
    assert!(unescape(r"\x4").is_err());
    let v = parse_vector(
        "t",
        "# c\nrfc: RFC 9112 §2.2\n> GET / HTTP/1.1\\r\\n\n> \\r\\n\nstatus: 200\nreason: OK\nconn: keep-alive\n",
    )
    .unwrap();
    assert!(matches!(&v.steps[..], [Step::Send(b)] if b == b"GET / HTTP/1.1\r\n\r\n"));
    assert!(
        parse_vector("t", "> GET\nstatus: 200\nreason: OK\nconn: close\n").is_err(),
        "no rfc line"
    );
    assert!(parse_vector("t", "rfc: x\n> GET \nstatus: 200\nreason: OK\nconn: close\n").is_err());
}

// ---------------------------------------------------------------------------
// Pipelining and keep-alive
// ---------------------------------------------------------------------------

/// An origin answering `METHOD PATH BODY` so responses can be told apart.
fn echo_origin() -> TestOrigin {
    TestOrigin::start(|req: &Received| {
        let line = req.request_line();
        let mut parts = line.split(' ');
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let body = format!("{method} {path} {}", String::from_utf8_lossy(&req.body));
        Action::Respond(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes(),
        )
    })
}

fn start_echo() -> (TestOrigin, Edgeward) {
    let origin = echo_origin();
    let edge = Edgeward::start(&config(origin.addr, ""));
    (origin, edge)
}

fn must_close(reader: &mut BufReader<TcpStream>, what: &str) {
    if let Err(e) = expect_closed(reader) {
        panic!("{what}: {e}");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (origin, edge) = start_echo();
    let mut s = connect(edge.addr);
    s.write_all(
        b"GET /first HTTP/1.1\r\nHost: example.com\r\n\r\n\
          POST /second HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello\
          GET /third HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let resp = read_response(&mut reader, false).expect("a pipelined response");
        assert_eq!(resp.status, 200, "{}", resp.raw_head);
        bodies.push(resp.text());
    }
    assert_eq!(bodies, ["GET /first ", "POST /second hello", "GET /third "]);
    let lines: Vec<String> = origin
        .requests()
        .iter()
        .map(|r| r.request_line().to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "GET /first HTTP/1.1",
            "POST /second HTTP/1.1",
            "GET /third HTTP/1.1"
        ],
        "the origin saw the requests in order"
    );
}

#[test]
fn pipelined_chunked_request_and_edge_endpoint_keep_their_order() {
    let (_origin, edge) = start_echo();
    let mut s = connect(edge.addr);
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
          GET /.edgeward/missing HTTP/1.1\r\nHost: example.com\r\nAccept: text/plain\r\n\r\n\
          HEAD /after HTTP/1.1\r\nHost: example.com\r\n\r\n\
          GET /last HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let first = read_response(&mut reader, false).expect("response 1");
    assert_eq!((first.status, first.text().as_str()), (200, "POST /up abcde"));
    let second = read_response(&mut reader, false).expect("response 2");
    assert_eq!(second.status, 404, "{}", second.raw_head);
    assert!(second.text().contains("error 1300:"), "{}", second.text());
    let third = read_response(&mut reader, true).expect("response 3 (HEAD)");
    assert_eq!(third.status, 200, "{}", third.raw_head);
    let fourth = read_response(&mut reader, false).expect("response 4");
    assert_eq!((fourth.status, fourth.text().as_str()), (200, "GET /last "));
    must_close(&mut reader, "after `Connection: close`");
}

#[test]
fn pipelined_protocol_error_is_answered_after_the_valid_requests_then_closes() {
    let (origin, edge) = start_echo();
    let mut s = connect(edge.addr);
    s.write_all(
        b"GET /one HTTP/1.1\r\nHost: example.com\r\n\r\n\
          GET /two HTTP/1.1\r\nHost: example.com\r\n\r\n\
          GET /three HTTP/1.1\r\nHost : example.com\r\n\r\n\
          GET /never HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    for want in ["GET /one ", "GET /two "] {
        let resp = read_response(&mut reader, false).expect("a response");
        assert_eq!((resp.status, resp.text().as_str()), (200, want));
    }
    let bad = read_response(&mut reader, false).expect("the 400");
    assert_eq!(bad.status, 400, "{}", bad.raw_head);
    assert_eq!(bad.header("connection"), Some("close"));
    must_close(&mut reader, "after a protocol 400");
    assert!(
        origin
            .requests()
            .iter()
            .all(|r| !r.request_line().contains("/never")),
        "a request after a framing error must not be forwarded"
    );
}

#[test]
fn keep_alive_serves_sequential_requests_on_one_connection() {
    let (origin, edge) = start_echo();
    let s = connect(edge.addr);
    let mut writer = s.try_clone().unwrap();
    let mut reader = BufReader::new(s);
    for path in ["/a", "/b", "/c"] {
        writer
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes())
            .unwrap();
        let resp = read_response(&mut reader, false).expect("a response on the kept-alive connection");
        assert_eq!((resp.status, resp.text()), (200, format!("GET {path} ")));
        assert_ne!(resp.header("connection"), Some("close"));
        // Give the server a moment: it must not close between requests.
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(origin.requests().len(), 3);
}

#[test]
fn connection_close_request_gets_its_response_then_the_server_closes() {
    let (_origin, edge) = start_echo();
    let mut s = connect(edge.addr);
    s.write_all(b"GET /bye HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(s);
    let resp = read_response(&mut reader, false).expect("a response");
    assert_eq!((resp.status, resp.text().as_str()), (200, "GET /bye "));
    assert_eq!(resp.header("connection"), Some("close"), "{}", resp.raw_head);
    must_close(&mut reader, "after `Connection: close`");
}

#[test]
fn http10_without_keep_alive_closes_and_with_keep_alive_stays_open() {
    let (_origin, edge) = start_echo();
    let mut s = connect(edge.addr);
    s.write_all(b"GET /old HTTP/1.0\r\nHost: example.com\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(s);
    let resp = read_response(&mut reader, false).expect("a response");
    assert_eq!((resp.status, resp.text().as_str()), (200, "GET /old "));
    must_close(&mut reader, "HTTP/1.0 without keep-alive");

    let s = connect(edge.addr);
    let mut writer = s.try_clone().unwrap();
    let mut reader = BufReader::new(s);
    for path in ["/k1", "/k2"] {
        writer
            .write_all(
                format!("GET {path} HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        let resp =
            read_response(&mut reader, false).expect("a response on an HTTP/1.0 keep-alive connection");
        assert_eq!((resp.status, resp.text()), (200, format!("GET {path} ")));
        assert!(
            resp.header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("keep-alive")),
            "HTTP/1.0 keep-alive response must say so: {}",
            resp.raw_head
        );
    }
}

#[test]
fn every_protocol_400_closes_the_connection_even_after_a_good_request() {
    let (_origin, edge) = start_echo();
    let faults: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nHost: example.com\r\nX-A: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\nX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
        b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        b"GET /a\x01 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nHost: example.com\r\n\r\n",
    ];
    for fault in faults {
        let s = connect(edge.addr);
        let mut writer = s.try_clone().unwrap();
        let mut reader = BufReader::new(s);
        writer
            .write_all(b"GET /ok HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .unwrap();
        let good = read_response(&mut reader, false).expect("the good response");
        assert_eq!(good.status, 200);
        writer.write_all(fault).unwrap();
        let bad = read_response(&mut reader, false).expect("the 400");
        let shown = String::from_utf8_lossy(fault);
        assert_eq!(bad.status, 400, "{shown:?}: {}", bad.raw_head);
        assert_eq!(bad.header("connection"), Some("close"), "{shown:?}");
        must_close(&mut reader, &format!("after the 400 for {shown:?}"));
    }
}

#[test]
fn client_closing_mid_head_gets_no_response_and_the_server_carries_on() {
    let (origin, edge) = start_echo();
    // Half-close after part of a head: nothing may come back but EOF.
    let mut s = connect(edge.addr);
    s.write_all(b"GET /partial HTTP/1.1\r\nHo").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    match s.read_to_end(&mut got) {
        Ok(_) => assert!(
            got.is_empty(),
            "a response to half a head: {:?}",
            String::from_utf8_lossy(&got)
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ),
            "the server did not close after the client left mid-head: {e}"
        ),
    }
    // Vanish entirely in the middle of the request line and of a field.
    for partial in [
        &b"GET /par"[..],
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Le",
    ] {
        let mut s = connect(edge.addr);
        s.write_all(partial).unwrap();
        drop(s);
    }
    thread::sleep(Duration::from_millis(100));
    assert!(origin.requests().is_empty(), "a partial head was forwarded");
    let resp = common::exchange(edge.addr, b"GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((resp.status, resp.text().as_str()), (200, "GET /next "));
}

#[test]
fn vector_files_are_documented() {
    let readme =
        std::fs::read_to_string(Path::new(VECTOR_DIR).join("README.md")).expect("tests/vectors/README.md");
    for key in [
        "rfc:",
        "status:",
        "reason:",
        "code:",
        "header:",
        "conn:",
        "pause:",
        "await-interim:",
        "body-contains:",
        "markdown",
        "{repeat:",
    ] {
        assert!(readme.contains(key), "README.md does not document `{key}`");
    }
}
