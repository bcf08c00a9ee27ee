//! Property tests for the request codec, bounded to run in seconds.
//!
//! Well-formed requests (random method, origin-form target, fields, Host, and a
//! Content-Length or chunked body with extensions and trailers) must come back
//! exactly, whatever the sizes of the reads they arrive in; arbitrary bytes must
//! never panic nor claim more than they were given; a request corrupted by one
//! control or non-ASCII byte must get a typed 4xx/5xx; pipelined requests must
//! come back in order. The fuzz targets in `fuzz/` check the same ground without
//! bounds.

use bytes::BytesMut;
use edgeward_errors::EdgeError;
use edgeward_http::{parse_head, BodyDecoder, BodyEvent, BodyFraming, Limits, RequestHead, Version};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

const TCHARS: &[u8] = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Statuses the codec may answer a malformed or oversized request with.
const CODEC_STATUSES: [u16; 7] = [400, 413, 414, 417, 431, 501, 505];

/// Field names whose meaning the codec interprets; generated fields avoid them.
const FRAMING_FIELDS: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "expect",
    "connection",
    "content-type",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ requests

/// A request body as it is put on the wire.
#[derive(Debug, Clone)]
enum Body {
    None,
    Length(Vec<u8>),
    Chunked {
        /// (data, size digits as written, extensions as written)
        chunks: Vec<(Vec<u8>, String, String)>,
        last_ext: String,
        trailers: Vec<(String, Vec<u8>)>,
    },
}

/// A well-formed request and what the codec should read back from it.
#[derive(Debug, Clone)]
struct Req {
    leading_crlfs: usize,
    method: String,
    target: Vec<u8>,
    http10: bool,
    /// Every field in wire order, Host and framing fields included.
    fields: Vec<(String, Vec<u8>)>,
    body: Body,
}

impl Req {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"\r\n".repeat(self.leading_crlfs);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(if self.http10 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        for (name, value) in &self.fields {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        match &self.body {
            Body::None => {}
            Body::Length(data) => out.extend_from_slice(data),
            Body::Chunked { chunks, last_ext, .. } => {
                for (data, size, ext) in chunks {
                    out.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(format!("0{last_ext}\r\n").as_bytes());
                out.extend_from_slice(&self.trailer_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    fn trailer_bytes(&self) -> Vec<u8> {
        let Body::Chunked { trailers, .. } = &self.body else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, value) in trailers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn body_bytes(&self) -> Vec<u8> {
        match &self.body {
            Body::None => Vec::new(),
            Body::Length(data) => data.clone(),
            Body::Chunked { chunks, .. } => chunks.iter().flat_map(|(d, _, _)| d.iter().copied()).collect(),
        }
    }

    fn framing(&self) -> BodyFraming {
        match &self.body {
            Body::None => BodyFraming::None,
            Body::Length(data) if data.is_empty() => BodyFraming::None,
            Body::Length(data) => BodyFraming::Length(data.len() as u64),
            Body::Chunked { .. } => BodyFraming::Chunked,
        }
    }

    /// Where the target starts in `to_bytes()`.
    fn target_offset(&self) -> usize {
        2 * self.leading_crlfs + self.method.len() + 1
    }

    fn check(&self, head: &RequestHead, body: &[u8], trailers: &[u8]) -> Result<(), TestCaseError> {
        prop_assert_eq!(head.method(), self.method.as_str());
        prop_assert_eq!(head.target(), &self.target[..]);
        let version = if self.http10 {
            Version::Http10
        } else {
            Version::Http11
        };
        prop_assert_eq!(head.version, version);
        let got: Vec<_> = head.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        let want: Vec<_> = self
            .fields
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()))
            .collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(head.framing, self.framing());
        prop_assert_eq!(body, &self.body_bytes()[..]);
        prop_assert_eq!(trailers, &self.trailer_bytes()[..]);
        Ok(())
    }
}

fn token(max: usize) -> impl Strategy<Value = String> {
    vec(select(TCHARS), 1..=max).prop_map(|b| String::from_utf8(b).expect("tchar is ASCII"))
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        select(&["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"][..])
            .prop_map(String::from),
        token(12),
    ]
    .prop_filter("CONNECT takes an authority-form target", |m| m != "CONNECT")
}

/// Origin form: `/` then any visible ASCII but `#` (a fragment is never part of a
/// request target; the codec leaves the rest of URI syntax to routing).
fn target() -> impl Strategy<Value = Vec<u8>> {
    vec((0x21u8..=0x7e).prop_filter("no fragment", |&b| b != b'#'), 0..48)
        .prop_map(|rest| [&b"/"[..], &rest].concat())
}

/// A field value: visible ASCII and obs-text, inner SP / HTAB, no outer whitespace.
fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![8 => 0x21u8..=0x7e, 1 => 0x80u8..=0xff, 1 => select(&b" \t"[..])];
    vec(byte, 0..40).prop_map(|v| {
        let start = v.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(v.len());
        let end = v
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(start, |e| e + 1);
        v[start..end].to_vec()
    })
}

fn field() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        token(20).prop_filter("not a framing field", |n| {
            !FRAMING_FIELDS.iter().any(|f| n.eq_ignore_ascii_case(f))
        }),
        field_value(),
    )
}

fn host() -> impl Strategy<Value = Vec<u8>> {
    let name = vec(select(&b"abcdefghijklmnopqrstuvwxyz0123456789-._~"[..]), 1..24);
    (name, proptest::option::of(0u32..=65535))
        .prop_map(|(name, port)| [name, port.map_or(Vec::new(), |p| format!(":{p}").into_bytes())].concat())
}

/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`
fn chunk_ext() -> impl Strategy<Value = String> {
    let qdtext = prop_oneof![
        select(&b" \t!#$%&'()*+,-./:;<=>?@[]^_`{|}~abcXYZ019"[..]).prop_map(|b| (b as char).to_string()),
        select(&b"\"\\a"[..]).prop_map(|b| format!("\\{}", b as char)),
    ];
    let quoted = vec(qdtext, 0..8).prop_map(|parts| format!("\"{}\"", parts.concat()));
    let value = prop_oneof![token(8), quoted];
    let one = (
        select(&["", " ", "\t "][..]),
        token(8),
        proptest::option::of(value),
    )
        .prop_map(|(ws, name, value)| match value {
            Some(v) => format!("{ws};{ws}{name}{ws}={ws}{v}"),
            None => format!("{ws};{ws}{name}"),
        });
    vec(one, 0..3).prop_map(|exts| exts.concat())
}

/// Hex digits for `n`, in either case, maybe zero-padded.
fn chunk_size_digits(n: usize, upper: bool, zeros: usize) -> String {
    let hex = if upper { format!("{n:X}") } else { format!("{n:x}") };
    format!("{}{hex}", "0".repeat(zeros))
}

fn body() -> impl Strategy<Value = Body> {
    let chunk = (vec(any::<u8>(), 1..64), any::<bool>(), 0usize..3, chunk_ext()).prop_map(
        |(data, upper, zeros, ext)| {
            let size = chunk_size_digits(data.len(), upper, zeros);
            (data, size, ext)
        },
    );
    let trailer = (
        token(16).prop_filter("not a framing field", |n| {
            !FRAMING_FIELDS.iter().any(|f| n.eq_ignore_ascii_case(f))
        }),
        field_value(),
    );
    prop_oneof![
        Just(Body::None),
        vec(any::<u8>(), 0..200).prop_map(Body::Length),
        (vec(chunk, 0..6), chunk_ext(), vec(trailer, 0..3)).prop_map(|(chunks, last_ext, trailers)| {
            Body::Chunked {
                chunks,
                last_ext,
                trailers,
            }
        }),
    ]
}

fn request() -> impl Strategy<Value = Req> {
    (
        0usize..3,
        method(),
        target(),
        prop::bool::weighted(0.1),
        vec(field(), 0..=20),
        host(),
        any::<Index>(),
        any::<Index>(),
        body(),
    )
        .prop_map(
            |(leading_crlfs, method, target, http10, mut fields, host, host_at, framing_at, body)| {
                fields.insert(host_at.index(fields.len() + 1), ("Host".to_owned(), host));
                let framing_field = match &body {
                    Body::None => None,
                    Body::Length(data) => {
                        Some(("Content-Length".to_owned(), data.len().to_string().into_bytes()))
                    }
                    Body::Chunked { .. } => Some(("Transfer-Encoding".to_owned(), b"chunked".to_vec())),
                };
                if let Some(f) = framing_field {
                    fields.insert(framing_at.index(fields.len() + 1), f);
                }
                Req {
                    leading_crlfs,
                    method,
                    target,
                    // Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 §6.1).
                    http10: http10 && !matches!(body, Body::Chunked { .. }),
                    fields,
                    body,
                }
            },
        )
}

// ------------------------------------------------------------------- reading

/// One request read back: its head, body bytes and raw trailers.
type Exchange = (RequestHead, Vec<u8>, Vec<u8>);

/// Reads `count` requests from `input`, delivered in reads of the sizes in `reads` (cycled).
/// Returns them with the bytes left unread (buffered or never delivered).
fn read_requests(
    input: &[u8],
    reads: &[usize],
    count: usize,
    limits: &Limits,
) -> Result<(Vec<Exchange>, usize), EdgeError> {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut sizes = reads.iter().cycle();
    let mut feed = |buf: &mut BytesMut| {
        let n = (*sizes.next().expect("non-empty reads")).min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        n > 0
    };
    let mut out = Vec::new();
    while out.len() < count {
        let head = loop {
            if let Some(head) = parse_head(&mut buf, limits)? {
                break head;
            }
            assert!(feed(&mut buf), "head still incomplete after the whole input");
        };
        let mut decoder = BodyDecoder::new(head.framing, limits.max_body_bytes);
        let mut body = Vec::new();
        let trailers = loop {
            match decoder.decode(&mut buf)? {
                BodyEvent::Data(d) => body.extend_from_slice(&d),
                BodyEvent::End(t) => break t.to_vec(),
                BodyEvent::NeedMore => assert!(feed(&mut buf), "body still incomplete after the whole input"),
            }
        };
        out.push((head, body, trailers));
    }
    Ok((out, buf.len() + input.len() - fed))
}

fn reads() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        vec(1usize..64, 1..32),
        vec(1usize..4, 1..8),
        Just(vec![usize::MAX])
    ]
}

fn tiny_limits() -> Limits {
    Limits {
        max_target_bytes: 16,
        max_header_bytes: 96,
        max_field_bytes: 24,
        max_headers: 4,
        max_body_bytes: 8,
        ..Limits::default()
    }
}

/// Parses `input` whole under `limits`; checks what any verdict must satisfy.
fn parse_any(input: &[u8], limits: &Limits) -> Result<Result<Option<RequestHead>, EdgeError>, TestCaseError> {
    let mut buf = BytesMut::from(input);
    let verdict = parse_head(&mut buf, limits);
    match &verdict {
        Ok(Some(head)) => {
            prop_assert!(buf.len() <= input.len(), "consumed more than the input");
            prop_assert_eq!(&buf[..], &input[input.len() - buf.len()..]);
            prop_assert!(head.target().iter().all(|b| (0x21..=0x7e).contains(b)));
            prop_assert!(!head.method().is_empty() && head.method().bytes().all(|b| TCHARS.contains(&b)));
        }
        Ok(None) => prop_assert_eq!(buf.len(), input.len()),
        Err(e) => prop_assert!(
            CODEC_STATUSES.contains(&e.status()),
            "status {} for {:?}",
            e.status(),
            e
        ),
    }
    Ok(verdict)
}

/// Bytes that make up requests, so random sequences of them reach deep states.
const FRAGMENTS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"CONNECT",
    b"OPTIONS",
    b" ",
    b"\t",
    b"/",
    b"*",
    b"?",
    b"http://a",
    b"a:1",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"\r\n",
    b"\r",
    b"\n",
    b":",
    b": ",
    b"Host",
    b"a",
    b"Content-Length",
    b"Transfer-Encoding",
    b"chunked",
    b"gzip",
    b",",
    b"Expect",
    b"100-continue",
    b"0",
    b"5",
    b"ff",
    b";",
    b"=",
    b"\"",
    b"\\",
    b"\0",
    b"\x7f",
    b"\x80",
    b"\xff",
];

fn http_ish() -> impl Strategy<Value = Vec<u8>> {
    vec(select(FRAGMENTS), 0..48).prop_map(|parts| parts.concat())
}

// --------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config())]

    /// (a) A well-formed request reads back exactly, whatever the read sizes.
    #[test]
    fn well_formed_requests_round_trip(req in request(), reads in reads()) {
        let bytes = req.to_bytes();
        let (got, unread) = read_requests(&bytes, &reads, 1, &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("refused: {e:?}\n{}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(unread, 0);
        let (head, body, trailers) = &got[0];
        req.check(head, body, trailers)?;
    }

    /// (b) Arbitrary bytes never panic, never consume more than given, and are
    /// refused only with codec statuses; bodies decode them without panicking.
    #[test]
    fn arbitrary_bytes_are_judged_safely(input in prop_oneof![vec(any::<u8>(), 0..512), http_ish()]) {
        for limits in [Limits::default(), tiny_limits()] {
            parse_any(&input, &limits).map(drop)?;
        }
        for framing in [BodyFraming::Chunked, BodyFraming::Length(input.len() as u64 / 2 + 1)] {
            let mut buf = BytesMut::from(&input[..]);
            let mut decoder = BodyDecoder::new(framing, 64);
            for _ in 0..=input.len() + 2 {
                match decoder.decode(&mut buf) {
                    Ok(BodyEvent::Data(d)) => prop_assert!(!d.is_empty()),
                    Ok(_) => break,
                    Err(e) => {
                        prop_assert!(CODEC_STATUSES.contains(&e.status()));
                        break;
                    }
                }
            }
        }
    }

    /// (c) One CR, LF, NUL or non-ASCII byte in the target gets a 400; anywhere
    /// in the head, it gets a codec status or is accepted, never a panic.
    #[test]
    fn corrupted_bytes_get_a_codec_status(
        req in request(),
        at_target in any::<Index>(),
        at_head in any::<Index>(),
        bad in prop_oneof![select(&b"\r\n\0"[..]), 0x80u8..=0xff],
    ) {
        let bytes = req.to_bytes();
        let mut in_target = bytes.clone();
        in_target[req.target_offset() + at_target.index(req.target.len())] = bad;
        let verdict = parse_any(&in_target, &Limits::default())?;
        prop_assert!(
            matches!(&verdict, Err(e) if e.status() == 400),
            "target byte {:#04x} got {:?}", bad, verdict.map(|h| h.map(|h| h.target().to_vec()))
        );

        let mut in_head = bytes.clone();
        in_head[at_head.index(head_end(&bytes))] = bad;
        parse_any(&in_head, &Limits::default()).map(drop)?;
        parse_any(&in_head, &tiny_limits()).map(drop)?;
    }

    /// (d) N requests sent back to back read back as N requests, in order.
    #[test]
    fn pipelined_requests_read_back_in_order(reqs in vec(request(), 1..=5), reads in reads()) {
        let bytes: Vec<u8> = reqs.iter().flat_map(Req::to_bytes).collect();
        let (got, unread) = read_requests(&bytes, &reads, reqs.len(), &Limits::default())
            .map_err(|e| TestCaseError::fail(format!("refused: {e:?}")))?;
        prop_assert_eq!(unread, 0);
        prop_assert_eq!(got.len(), reqs.len());
        for (req, (head, body, trailers)) in reqs.iter().zip(&got) {
            req.check(head, body, trailers)?;
        }
    }
}

/// End of the head (after its empty line) in a generated request.
fn head_end(bytes: &[u8]) -> usize {
    let leading = bytes.chunks(2).take_while(|c| *c == b"\r\n").count() * 2;
    leading
        + bytes[leading..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("generated head ends")
        + 4
}

// ------------------------------------------- regressions found by fuzzing
//
// Found by the fuzz targets: limits were checked with an off-by-one (or not at
// all) on one of the two paths, so whether a request was accepted depended on
// where a read happened to end. Fixed; these keep them fixed.

/// Whether `input` gets the same verdict whole and cut into two reads at `cut`.
fn same_verdict_when_cut(input: &[u8], cut: usize, limits: &Limits) -> (bool, String) {
    let mut whole = BytesMut::from(input);
    let once = parse_head(&mut whole, limits).map(|h| h.is_some());
    let mut first = BytesMut::from(&input[..cut]);
    let twice = match parse_head(&mut first, limits) {
        Ok(None) => {
            first.extend_from_slice(&input[cut..]);
            parse_head(&mut first, limits).map(|h| h.is_some())
        }
        other => other.map(|h| h.is_some()),
    };
    (once == twice, format!("whole: {once:?}, cut at {cut}: {twice:?}"))
}

#[test]
fn regression_field_at_limit_depends_on_read_split() {
    let input = b"GET / HTTP/1.1\r\nHost: a\r\nX: 012345678901234567890\r\n\r\n";
    let cut = input.len() - 3; // just after the CR of the 24-byte field line
    let (same, why) = same_verdict_when_cut(input, cut, &tiny_limits());
    assert!(same, "{why}");
}

#[test]
fn regression_section_at_limit_depends_on_read_split() {
    // Section = request line CRLF + field lines = 2 + 3 * 26 + 16 = 96 bytes.
    let mut input = b"GET / HTTP/1.1\r\n".to_vec();
    for name in [b"A", b"B", b"C"] {
        input.extend_from_slice(name);
        input.extend_from_slice(b": 01234567890123456789a\r\n");
    }
    input.extend_from_slice(b"Host: abcdefgh\r\n\r\n");
    let cut = input.len() - 1;
    let (same, why) = same_verdict_when_cut(&input, cut, &tiny_limits());
    assert!(same, "{why}");
}

#[test]
fn regression_request_line_at_limit_depends_on_read_split() {
    // 54-byte method, 16-byte target: the line is 80 = 16 + 64 bytes.
    let mut input = vec![b'M'; 54];
    input.extend_from_slice(b" /0123456789abcde HTTP/1.1\r\nHost: a\r\n\r\n");
    let (same, why) = same_verdict_when_cut(&input, 81, &tiny_limits());
    assert!(same, "{why}");
}

/// Body verdict (`Ok(data)` or the error's status) with the input fed in reads of `step` bytes.
fn chunked_verdict(input: &[u8], step: usize) -> Result<Vec<u8>, u16> {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, 1 << 20);
    let (mut buf, mut fed, mut data) = (BytesMut::new(), 0, Vec::new());
    loop {
        match decoder.decode(&mut buf).map_err(|e| e.status())? {
            BodyEvent::Data(d) => data.extend_from_slice(&d),
            BodyEvent::End(_) => return Ok(data),
            BodyEvent::NeedMore if fed < input.len() => {
                let end = (fed + step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            BodyEvent::NeedMore => return Err(0),
        }
    }
}

#[test]
fn regression_long_chunk_line_depends_on_read_split() {
    let mut input = b"1;x=\"".to_vec();
    input.extend_from_slice(&[b'a'; 5000]);
    input.extend_from_slice(b"\"\r\nZ\r\n0\r\n\r\n");
    let (whole, split) = (
        chunked_verdict(&input, input.len()),
        chunked_verdict(&input, 4097),
    );
    assert_eq!(whole, split);
}

#[test]
fn regression_trailers_at_limit_depend_on_read_split() {
    // One trailer line of 16382 bytes + CRLF = 16384 bytes of trailer fields.
    let mut input = b"0\r\nT: ".to_vec();
    input.extend_from_slice(&[b'v'; 16382 - 3]);
    input.extend_from_slice(b"\r\n\r\n");
    let cut = input.len() - 1;
    let whole = chunked_verdict(&input, input.len());
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, 1 << 20);
    let mut buf = BytesMut::from(&input[..cut]);
    let first = decoder.decode(&mut buf).map(|_| ()).map_err(|e| e.status());
    assert_eq!((whole, first), (Ok(Vec::new()), Ok(())));
}

#[test]
fn regression_field_count_is_judged_before_a_bare_cr_on_a_partial_line() {
    // Found by codec_pipeline: with max_headers fields already read, a started line holding
    // a bare CR got 400 when split there but 431 when whole. Count comes first on both paths.
    let limits = Limits {
        max_headers: 2,
        ..Limits::default()
    };
    let input = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: x\ry\r\n\r\n";
    for cut in 1..input.len() {
        let (same, verdicts) = same_verdict_when_cut(input, cut, &limits);
        assert!(same, "{verdicts}");
    }
}
