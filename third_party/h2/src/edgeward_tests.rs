//! edgeward patch tests: one test per change listed in `EDGEWARD-PATCHES.md`.
//!
//! Each test drives a real `server::handshake` connection over an in-memory duplex pipe,
//! writes raw client frames (hand-encoded HPACK, so the client side cannot hide an
//! encoding) and reads the server's frames back, so it checks the error code that goes
//! on the wire. A watchdog thread fails a test that waits more than 10 s.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::frame::Reason;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// HPACK for `GET / http` with `:authority: a.test`, static-table indexes and a literal
/// without indexing, so the dynamic table stays empty.
const GET: &[u8] = b"\x82\x86\x84\x01\x06a.test";
/// The same for `POST`.
const POST: &[u8] = b"\x83\x86\x84\x01\x06a.test";

/// One frame: 9-octet header and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK literal field without indexing, new name (RFC 7541 §6.2.2), short strings only.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

/// A frame the server sent.
#[derive(Debug)]
struct Got {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Got {
    /// The error code of a RST_STREAM or GOAWAY.
    fn code(&self) -> Reason {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        let raw = &self.payload[at..at + 4];
        Reason::from(u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }
}

/// Runs `test` on a current-thread runtime, failing it after 10 s.
fn with_deadline<F: Future<Output = ()> + Send + 'static>(test: F) {
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(test);
        let _ = done.send(());
    });
    match wait.recv_timeout(Duration::from_secs(10)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("test panicked"),
    }
}

/// A server connection on one end of a pipe: it accepts every request and holds it
/// unanswered (so a stream whose request ended stays half-closed (remote)), reading
/// each request body to its end and sending the trailers (or the error) to `trailers`.
fn serve(
    trailers: tokio::sync::mpsc::UnboundedSender<Result<Option<HeaderMap>, Reason>>,
) -> DuplexStream {
    let (client, server) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut conn = match crate::server::handshake(server).await {
            Ok(conn) => conn,
            Err(_) => return,
        };
        let mut held = Vec::new();
        while let Some(Ok((req, respond))) = conn.accept().await {
            held.push(respond);
            let trailers = trailers.clone();
            tokio::spawn(async move {
                let mut body = req.into_body();
                while let Some(Ok(_)) = body.data().await {}
                let got = body
                    .trailers()
                    .await
                    .map_err(|e| e.reason().unwrap_or(Reason::NO_ERROR));
                let _ = trailers.send(got);
            });
        }
    });
    client
}

/// The client: sends the preface, an empty SETTINGS, then `frames`, then a PING, and
/// reads the server's frames until the PING's ACK (every frame before it was processed
/// without a connection error), a GOAWAY or the end of the connection. After a PING ACK
/// it keeps reading until the RST_STREAM frames `want_resets` name have arrived.
async fn exchange(io: &mut DuplexStream, frames: &[Vec<u8>], want_resets: &[u32]) -> Vec<Got> {
    // Writes may fail once the server has closed after a connection error; what it
    // sent before closing is still read below.
    let mut out = PREFACE.to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    for f in frames {
        out.extend_from_slice(f);
    }
    out.extend(frame(PING, 0, 0, b"edgeward"));
    let _ = io.write_all(&out).await;

    let mut got: Vec<Got> = Vec::new();
    let mut pong = false;
    loop {
        let resets_seen = want_resets
            .iter()
            .all(|id| got.iter().any(|f| f.kind == RST_STREAM && f.stream == *id));
        if (pong && resets_seen) || got.iter().any(|f| f.kind == GOAWAY) {
            return got;
        }
        let mut head = [0u8; 9];
        if io.read_exact(&mut head).await.is_err() {
            return got;
        }
        let len = (head[0] as usize) << 16 | (head[1] as usize) << 8 | head[2] as usize;
        let mut payload = vec![0u8; len];
        if io.read_exact(&mut payload).await.is_err() {
            return got;
        }
        let f = Got {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload,
        };
        if f.kind == SETTINGS && f.flags & ACK == 0 {
            let _ = io.write_all(&frame(SETTINGS, ACK, 0, &[])).await;
        }
        pong |= f.kind == PING && f.flags & ACK == ACK && f.payload == b"edgeward";
        got.push(f);
    }
}

/// Sends `frames` and returns the server's GOAWAY error code (panics without one).
fn goaway_code(frames: Vec<Vec<u8>>) -> Reason {
    let (tx, rx) = mpsc::channel();
    with_deadline(async move {
        let (trailers, _keep) = tokio::sync::mpsc::unbounded_channel();
        let mut io = serve(trailers);
        let got = exchange(&mut io, &frames, &[]).await;
        let _ = tx.send(got);
    });
    let got = rx.recv().unwrap();
    match got.iter().find(|f| f.kind == GOAWAY) {
        Some(goaway) => goaway.code(),
        None => panic!("no GOAWAY; got {:?}", got),
    }
}

/// Sends `frames` (holding `requests` requests) and returns every frame the server sent,
/// which must include a RST_STREAM on each of `resets` and no GOAWAY, plus what each
/// request body ended with (trailers, or the error's reason), in order of arrival.
fn stream_outcome(
    frames: Vec<Vec<u8>>,
    resets: &'static [u32],
    requests: usize,
) -> (Vec<Got>, Vec<Result<Option<HeaderMap>, Reason>>) {
    let (tx, rx) = mpsc::channel();
    with_deadline(async move {
        let (trailers, mut ended) = tokio::sync::mpsc::unbounded_channel();
        let mut io = serve(trailers);
        let got = exchange(&mut io, &frames, resets).await;
        let mut bodies = Vec::new();
        while bodies.len() < requests {
            bodies.push(ended.recv().await.expect("a request body's end"));
        }
        let _ = tx.send((got, bodies));
    });
    let (got, bodies) = rx.recv().unwrap();
    assert!(
        !got.iter().any(|f| f.kind == GOAWAY),
        "connection error instead of stream error; got {:?}",
        got
    );
    (got, bodies)
}

fn reset_code(got: &[Got], stream: u32) -> Reason {
    match got
        .iter()
        .find(|f| f.kind == RST_STREAM && f.stream == stream)
    {
        Some(rst) => rst.code(),
        None => panic!("no RST_STREAM on stream {}; got {:?}", stream, got),
    }
}

// ===== 1. HPACK decoding errors: COMPRESSION_ERROR (RFC 9113 §4.3) =====

#[test]
fn hpack_errors_are_compression_errors() {
    let cases: [(&str, &[u8]); 5] = [
        ("indexed field 0", b"\x80"),
        ("index beyond both tables", b"\xbf\x30"),
        (
            "integer overflow",
            b"\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff\x0f",
        ),
        ("string longer than the block", b"\x01\x10ab"),
        ("table size update after a field", b"\x82\x20"),
    ];
    for (what, block) in cases {
        let headers = frame(HEADERS, END_HEADERS | END_STREAM, 1, block);
        assert_eq!(
            goaway_code(vec![headers]),
            Reason::COMPRESSION_ERROR,
            "{}",
            what
        );
    }
}

#[test]
fn hpack_error_in_continuation_is_compression_error() {
    let headers = frame(HEADERS, END_STREAM, 1, GET);
    let continuation = frame(CONTINUATION, END_HEADERS, 1, b"\x80");
    assert_eq!(
        goaway_code(vec![headers, continuation]),
        Reason::COMPRESSION_ERROR
    );
}

#[test]
fn invalid_but_decodable_fields_stay_protocol_errors() {
    let mut empty_name = GET.to_vec();
    empty_name.extend(literal("", "1"));
    let mut upper_name = GET.to_vec();
    upper_name.extend(literal("X-Upper", "1"));
    for block in [empty_name, upper_name] {
        let headers = frame(HEADERS, END_HEADERS | END_STREAM, 1, &block);
        assert_eq!(goaway_code(vec![headers]), Reason::PROTOCOL_ERROR);
    }
}

// ===== 2. Frame size errors: FRAME_SIZE_ERROR (RFC 9113 §4.2, §6.3–§6.9) =====

#[test]
fn wrong_control_frame_lengths_are_frame_size_errors() {
    let cases = [
        ("RST_STREAM of 3", frame(RST_STREAM, 0, 1, &[0, 0, 8])),
        (
            "SETTINGS ACK with payload",
            frame(SETTINGS, ACK, 0, &[0; 6]),
        ),
        ("SETTINGS of 5", frame(SETTINGS, 0, 0, &[0; 5])),
        ("PING of 7", frame(PING, 0, 0, &[0; 7])),
        ("PING of 9", frame(PING, 0, 0, &[0; 9])),
        ("GOAWAY of 4", frame(GOAWAY, 0, 0, &[0; 4])),
        ("WINDOW_UPDATE of 3", frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1])),
        (
            "WINDOW_UPDATE of 5",
            frame(WINDOW_UPDATE, 0, 0, &[0, 0, 0, 1, 0]),
        ),
    ];
    for (what, f) in cases {
        assert_eq!(goaway_code(vec![f]), Reason::FRAME_SIZE_ERROR, "{}", what);
    }
}

#[test]
fn other_control_frame_errors_stay_protocol_errors() {
    let cases = [
        ("PING on a stream", frame(PING, 0, 1, &[0; 8])),
        (
            "SETTINGS_ENABLE_PUSH of 2",
            frame(SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2]),
        ),
    ];
    for (what, f) in cases {
        assert_eq!(goaway_code(vec![f]), Reason::PROTOCOL_ERROR, "{}", what);
    }
}

#[test]
fn priority_of_wrong_length_is_a_stream_error() {
    let (got, _) = stream_outcome(vec![frame(PRIORITY, 0, 1, &[0, 0, 0, 0])], &[1], 0);
    assert_eq!(reset_code(&got, 1), Reason::FRAME_SIZE_ERROR);
}

// ===== 3. SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1: FLOW_CONTROL_ERROR (§6.5.2) =====

#[test]
fn initial_window_size_over_maximum_is_flow_control_error() {
    let over = frame(SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]);
    assert_eq!(goaway_code(vec![over]), Reason::FLOW_CONTROL_ERROR);
}

#[test]
fn initial_window_size_at_maximum_is_accepted() {
    let max = frame(SETTINGS, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]);
    stream_outcome(vec![max], &[], 0);
}

// ===== 4. DATA/HEADERS on a half-closed (remote) stream: STREAM_CLOSED (§5.1) =====

#[test]
fn data_on_half_closed_remote_stream_is_stream_closed() {
    // Two streams, each sent one full-size DATA after its END_STREAM: both are reset,
    // and the 2 x 16 384 octets the connection window lost come back as one
    // WINDOW_UPDATE (§6.9: the frames still count against the connection window).
    let data = vec![0u8; 16_384];
    let frames = vec![
        frame(HEADERS, END_HEADERS | END_STREAM, 1, GET),
        frame(HEADERS, END_HEADERS | END_STREAM, 3, GET),
        frame(DATA, 0, 1, &data),
        frame(DATA, 0, 3, &data),
    ];
    let (got, _) = stream_outcome(frames, &[1, 3], 2);
    assert_eq!(reset_code(&got, 1), Reason::STREAM_CLOSED);
    assert_eq!(reset_code(&got, 3), Reason::STREAM_CLOSED);
    let returned: u32 = got
        .iter()
        .filter(|f| f.kind == WINDOW_UPDATE && f.stream == 0)
        .map(|f| u32::from_be_bytes([f.payload[0], f.payload[1], f.payload[2], f.payload[3]]))
        .sum();
    assert_eq!(
        returned,
        2 * 16_384,
        "connection window given back; got {:?}",
        got
    );
}

#[test]
fn headers_on_half_closed_remote_stream_is_stream_closed() {
    let late = literal("x-trailer", "late");
    for flags in [END_HEADERS | END_STREAM, END_HEADERS] {
        let frames = vec![
            frame(HEADERS, END_HEADERS | END_STREAM, 1, GET),
            frame(HEADERS, flags, 1, &late),
        ];
        let (got, _) = stream_outcome(frames, &[1], 1);
        assert_eq!(reset_code(&got, 1), Reason::STREAM_CLOSED);
    }
}

// ===== 5. Pseudo-header fields in trailers: malformed, PROTOCOL_ERROR (§8.1) =====

#[test]
fn pseudo_header_in_trailers_is_malformed() {
    let mut trailers = b"\x82".to_vec(); // :method GET
    trailers.extend(literal("x-t", "1"));
    let frames = vec![
        frame(HEADERS, END_HEADERS, 1, POST),
        frame(HEADERS, END_HEADERS | END_STREAM, 1, &trailers),
    ];
    let (got, bodies) = stream_outcome(frames, &[1], 1);
    assert_eq!(reset_code(&got, 1), Reason::PROTOCOL_ERROR);
    assert!(
        bodies[0].is_err(),
        "request body ended with {:?}",
        bodies[0]
    );
}

#[test]
fn trailers_without_pseudo_headers_still_arrive() {
    let frames = vec![
        frame(HEADERS, END_HEADERS, 1, POST),
        frame(HEADERS, END_HEADERS | END_STREAM, 1, &literal("x-t", "1")),
    ];
    let (got, bodies) = stream_outcome(frames, &[], 1);
    assert!(!got.iter().any(|f| f.kind == RST_STREAM), "got {:?}", got);
    let trailers = bodies[0].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(trailers["x-t"], "1");
}

#[test]
fn frame_helper_matches_rfc_layout() {
    // Guards the harness itself: a PING is 9 octets of header then 8 of payload.
    let ping = frame(PING, ACK, 0, b"12345678");
    assert_eq!(&ping[..9], &[0, 0, 8, 6, 1, 0, 0, 0, 0]);
    assert_eq!(ping.len(), 17);
}
