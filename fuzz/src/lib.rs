//! Fuzz targets for edgeward's HTTP/1.1 codec (`edgeward-http`).
//!
//! Each target is a plain function over arbitrary bytes, so the same checks run
//! under libFuzzer (`fuzz_targets/*.rs`, `cargo +nightly fuzz run <target>`) and
//! on stable, by replaying seed, corpus and artifact files (`tests/replay.rs`,
//! `src/bin/replay.rs`). A target panics only when the codec breaks one of its
//! invariants; any typed verdict, even a refusal, is fine.
//!
//! The targets:
//! - `codec_head`: bytes → `parse_head` (default and tiny limits); checks the
//!   head it returns, and that no strict prefix of that head was already judged.
//! - `codec_body`: `[mode, seed, len_hi, len_lo, body..]` → `BodyDecoder`; the
//!   outcome must not depend on how the body bytes are split into reads.
//! - `codec_pipeline`: `[seed, stream..]` → heads and bodies parsed one after
//!   another from one buffer; again the same whether read whole or in pieces.

use bytes::BytesMut;
use edgeward_errors::EdgeError;
use edgeward_http::{
    check_body_policy, has_underscore, parse_head, BodyDecoder, BodyEvent, BodyFraming, Limits, RequestHead,
    TargetForm, Version,
};

/// Statuses the codec may answer a malformed or oversized request with.
pub const CODEC_STATUSES: [u16; 7] = [400, 413, 414, 417, 431, 501, 505];

/// Requests handled per pipeline input before the target stops (keeps each run bounded).
const MAX_PIPELINED: usize = 64;

/// Small limits, so that every limit is reachable by short inputs.
pub fn tiny_limits() -> Limits {
    Limits {
        max_target_bytes: 16,
        max_header_bytes: 96,
        max_field_bytes: 24,
        max_headers: 4,
        max_body_bytes: 8,
        ..Limits::default()
    }
}

/// `tchar` of RFC 9110 §5.6.2 (the codec's own copy is private).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn assert_codec_status(e: &EdgeError) {
    assert!(
        CODEC_STATUSES.contains(&e.status()),
        "status {} is not a codec status: {e:?}",
        e.status()
    );
}

/// Pseudo-random read sizes in `1..=max` from a one-byte seed (xorshift32).
pub fn read_sizes(seed: u8, max: usize) -> impl FnMut() -> usize {
    let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        1 + state as usize % max.max(1)
    }
}

// ---------------------------------------------------------------- codec_head

/// Target `codec_head`: arbitrary bytes as a request head, under default and tiny limits.
pub fn codec_head(data: &[u8]) {
    for limits in [Limits::default(), tiny_limits()] {
        head_with(data, &limits);
    }
}

fn head_with(data: &[u8], limits: &Limits) {
    let mut buf = BytesMut::from(data);
    match parse_head(&mut buf, limits) {
        Ok(Some(head)) => {
            assert!(buf.len() <= data.len(), "parse_head grew the buffer");
            let consumed = data.len() - buf.len();
            assert_eq!(
                &buf[..],
                &data[consumed..],
                "what is left is not the rest of the input"
            );
            check_head(&head, limits);
            let head_bytes = &data[..consumed];
            check_prefixes_undecided(head_bytes, limits);
            let mut exact = BytesMut::from(head_bytes);
            let again = parse_head(&mut exact, limits);
            assert!(
                matches!(&again, Ok(Some(h)) if same_head(h, &head)) && exact.is_empty(),
                "the head alone parses differently: {again:?}"
            );
        }
        Ok(None) => assert_eq!(buf.len(), data.len(), "Ok(None) consumed bytes"),
        Err(e) => assert_codec_status(&e),
    }
}

/// Invariants of any head the codec hands out.
pub fn check_head(head: &RequestHead, limits: &Limits) {
    let method = head.method();
    assert!(
        !method.is_empty() && method.bytes().all(is_tchar),
        "method {method:?}"
    );
    let target = head.target();
    assert!(!target.is_empty(), "empty target");
    assert!(
        target.iter().all(|b| (0x21..=0x7e).contains(b)),
        "target {target:?}"
    );
    assert!(target.len() <= limits.max_target_bytes, "target over its limit");
    assert_eq!(head.target_str().as_bytes(), target);
    let fields: Vec<_> = head.headers().collect();
    assert!(
        fields.len() <= limits.max_headers,
        "{} fields over the limit",
        fields.len()
    );
    for (name, value) in &fields {
        assert!(
            !name.is_empty() && name.iter().all(|&b| is_tchar(b)),
            "field name {name:?}"
        );
        assert!(
            value.iter().all(|&b| b == b'\t' || b >= b' ') && !value.contains(&0x7f),
            "field value {value:?}"
        );
    }
    match (head.header("host"), head.target_form) {
        // RFC 9112 §3.2.2: an absolute-form target's authority wins over Host.
        (_, TargetForm::Absolute) => {
            let t = head.target_str();
            let after = &t[t.find("://").expect("absolute form") + 3..];
            let authority = after.split(['/', '?']).next().unwrap_or("");
            assert_eq!(head.host(), authority, "host of an absolute-form target");
            assert!(!authority.contains('@'), "userinfo accepted: {t:?}");
        }
        (Some(host), _) => assert_eq!(head.host().as_bytes(), host),
        (None, _) => assert!(
            head.version == Version::Http10 && head.host().is_empty(),
            "no Host in HTTP/1.1"
        ),
    }
    assert_eq!(
        head.has_underscore_names(),
        fields.iter().any(|(n, _)| has_underscore(n)),
        "underscore flag"
    );
    match head.framing {
        // The body limit is the zone's, judged after routing by `check_body_policy`.
        BodyFraming::Length(n) => {
            assert!(n > 0, "Content-Length 0 framed as a body");
            let policy = check_body_policy(head, limits);
            assert_eq!(
                n > limits.max_body_bytes,
                matches!(&policy, Err(e) if e.status() == 413),
                "Content-Length {n} against a limit of {}: {policy:?}",
                limits.max_body_bytes
            );
        }
        BodyFraming::Chunked => {
            assert!(head.header("transfer-encoding").is_some());
            // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is refused.
            assert_eq!(head.version, Version::Http11, "chunked HTTP/1.0 accepted");
        }
        BodyFraming::None => assert!(head.header("transfer-encoding").is_none()),
    }
    let _ = (
        head.path(),
        head.path_and_query(),
        head.is_head(),
        head.headers_shared().count(),
    );
    let strict = Limits {
        require_content_length: true,
        ..limits.clone()
    };
    for l in [limits, &strict] {
        if let Err(e) = check_body_policy(head, l) {
            assert!(matches!(e.status(), 411 | 413), "policy answered {e:?}");
        }
    }
}

/// Field-by-field equality of two heads (the type has no `PartialEq`).
pub fn same_head(a: &RequestHead, b: &RequestHead) -> bool {
    a.method() == b.method()
        && a.target() == b.target()
        && a.host() == b.host()
        && a.headers().eq(b.headers())
        && a.version == b.version
        && a.target_form == b.target_form
        && a.framing == b.framing
        && a.keep_alive == b.keep_alive
        && a.expect_continue == b.expect_continue
        && a.has_underscore_names() == b.has_underscore_names()
}

/// A head that parses must not have been judged (accepted or refused) on any
/// strict prefix: a client's head arrives in arbitrary reads. Checked where
/// lines end, where faults and limits are decided, and one byte short.
fn check_prefixes_undecided(head: &[u8], limits: &Limits) {
    let cuts = (1..head.len()).filter(|&i| matches!(head[i - 1], b'\r' | b'\n') || i + 1 == head.len());
    for cut in cuts {
        let mut buf = BytesMut::from(&head[..cut]);
        let verdict = parse_head(&mut buf, limits);
        assert!(
            matches!(verdict, Ok(None)),
            "prefix of {cut} of an accepted {}-byte head was judged: {verdict:?}",
            head.len()
        );
    }
}

// ---------------------------------------------------------------- codec_body

/// How decoding one body ended.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyOutcome {
    /// `End`: the data, the raw trailers, and the input bytes after the body.
    End {
        data: Vec<u8>,
        trailers: Vec<u8>,
        rest: Vec<u8>,
    },
    /// The input ran out; the data decoded until then.
    Incomplete { data: Vec<u8> },
    /// The decoder refused the body with this status.
    Failed { status: u16 },
}

/// Target `codec_body`: `[mode, seed, len_hi, len_lo, body..]`.
///
/// `mode` bit 0 picks chunked (else Content-Length `len`), bit 1 a tiny body
/// limit; `seed` drives the read sizes compared with one whole read.
pub fn codec_body(data: &[u8]) {
    let [mode, seed, hi, lo, input @ ..] = data else {
        return;
    };
    let framing = if mode & 1 == 1 {
        BodyFraming::Chunked
    } else {
        BodyFraming::Length(u64::from(u16::from_be_bytes([*hi, *lo])))
    };
    let max_body = if mode & 2 == 2 { 8 } else { 1 << 20 };
    let whole = decode_body(framing, max_body, input, || usize::MAX);
    let split = decode_body(
        framing,
        max_body,
        input,
        read_sizes(*seed, 1 + usize::from(mode >> 2)),
    );
    assert_eq!(whole, split, "outcome depends on read sizes");
    if input.len() <= 256 {
        assert_eq!(
            whole,
            decode_body(framing, max_body, input, || 1),
            "outcome differs byte by byte"
        );
    }
    if let (BodyFraming::Length(n), BodyOutcome::End { data, rest, .. }) = (framing, &whole) {
        let n = n as usize;
        assert_eq!(
            (&data[..], &rest[..]),
            (&input[..n], &input[n..]),
            "Content-Length body"
        );
    }
}

/// Decodes `input` fed in reads of `next_read()` bytes, checking each step.
pub fn decode_body(
    framing: BodyFraming,
    max_body: u64,
    input: &[u8],
    mut next_read: impl FnMut() -> usize,
) -> BodyOutcome {
    let mut dec = BodyDecoder::new(framing, max_body);
    let mut buf = BytesMut::new();
    let (mut fed, mut data) = (0, Vec::new());
    // Each call consumes a byte, is fed one, or ends: more calls means a stall.
    for _ in 0..2 * input.len() + 8 {
        match dec.decode(&mut buf) {
            Ok(BodyEvent::Data(d)) => {
                assert!(!d.is_empty(), "empty Data event");
                data.extend_from_slice(&d);
                assert_eq!(dec.received(), data.len() as u64);
            }
            Ok(BodyEvent::End(trailers)) => {
                assert!(dec.is_done());
                let left = buf.len();
                assert_eq!(
                    dec.decode(&mut buf),
                    Ok(BodyEvent::End(bytes::Bytes::new())),
                    "second End"
                );
                assert_eq!(buf.len(), left, "decoding after End consumed bytes");
                let mut rest = buf.to_vec();
                rest.extend_from_slice(&input[fed..]);
                return BodyOutcome::End {
                    data,
                    trailers: trailers.to_vec(),
                    rest,
                };
            }
            Ok(BodyEvent::NeedMore) => {
                if fed == input.len() {
                    return BodyOutcome::Incomplete { data };
                }
                let n = next_read().clamp(1, input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                assert_codec_status(&e);
                return BodyOutcome::Failed { status: e.status() };
            }
        }
    }
    panic!(
        "body decoder stalled: {} of {} bytes fed, state {dec:?}",
        fed,
        input.len()
    );
}

// ------------------------------------------------------------ codec_pipeline

/// One request as read from a pipelined stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Exchange {
    pub method: String,
    pub target: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub framing: BodyFraming,
    pub body: Vec<u8>,
    pub trailers: Vec<u8>,
}

/// How a pipelined stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// All input used; the last head or body (if any) is incomplete.
    NeedMore,
    /// A head or body was refused with this status.
    Failed(u16),
    /// `MAX_PIPELINED` requests were read.
    Capped,
}

/// Target `codec_pipeline`: `[seed, stream..]`, read whole and in seeded pieces.
pub fn codec_pipeline(data: &[u8]) {
    let [seed, stream @ ..] = data else {
        return;
    };
    let limits = Limits {
        max_body_bytes: 1 << 16,
        ..Limits::default()
    };
    let whole = read_pipeline(stream, &limits, || usize::MAX);
    let split = read_pipeline(stream, &limits, read_sizes(*seed, 1 + usize::from(*seed >> 3)));
    assert_eq!(whole, split, "pipeline depends on read sizes");
}

/// Reads requests one after another from `stream`, fed in reads of `next_read()` bytes.
pub fn read_pipeline(
    stream: &[u8],
    limits: &Limits,
    mut next_read: impl FnMut() -> usize,
) -> (Vec<Exchange>, StreamEnd) {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut feed = |buf: &mut BytesMut| {
        if fed == stream.len() {
            return false;
        }
        let n = next_read().clamp(1, stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        true
    };
    let mut exchanges = Vec::new();
    while exchanges.len() < MAX_PIPELINED {
        let head = loop {
            let before = buf.len();
            match parse_head(&mut buf, limits) {
                Ok(Some(head)) => {
                    assert!(buf.len() < before, "a head consumed nothing");
                    break head;
                }
                Ok(None) if feed(&mut buf) => {}
                Ok(None) => return (exchanges, StreamEnd::NeedMore),
                Err(e) => {
                    assert_codec_status(&e);
                    return (exchanges, StreamEnd::Failed(e.status()));
                }
            }
        };
        check_head(&head, limits);
        let mut dec = BodyDecoder::new(head.framing, limits.max_body_bytes);
        let mut body = Vec::new();
        let trailers = loop {
            match dec.decode(&mut buf) {
                Ok(BodyEvent::Data(d)) => body.extend_from_slice(&d),
                Ok(BodyEvent::End(t)) => break t.to_vec(),
                Ok(BodyEvent::NeedMore) if feed(&mut buf) => {}
                Ok(BodyEvent::NeedMore) => return (exchanges, StreamEnd::NeedMore),
                Err(e) => {
                    assert_codec_status(&e);
                    return (exchanges, StreamEnd::Failed(e.status()));
                }
            }
        };
        exchanges.push(Exchange {
            method: head.method().to_owned(),
            target: head.target().to_vec(),
            headers: head.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
            framing: head.framing,
            body,
            trailers,
        });
    }
    (exchanges, StreamEnd::Capped)
}
