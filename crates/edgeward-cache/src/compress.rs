//! Response compression: gzip, brotli and zstd negotiated by `Accept-Encoding` q-values
//! (RFC 9110 §12.5.3) for compressible types above a size, applied as a stream
//! (`async-compression`), never over an existing content coding, with `Vary: Accept-Encoding`
//! and a weakened `ETag` (the bytes differ from the origin's, §8.8.3).
//!
//! [`variant_key`] normalises `Accept-Encoding` for the cache's secondary key: clients that
//! would get the same encoding share one cached variant. This module does not cache anything.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder, ZstdEncoder};
use async_compression::Level;
use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http::header::{
    HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY,
};
use http_body::{Body, Frame};
use http_body_util::BodyDataStream;
use tokio::io::AsyncRead;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::settings::CompressionSettings;

/// A content coding the edge applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
    /// `zstd`.
    Zstd,
}

impl Encoding {
    /// The token in `Content-Encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }

    /// Parses a token (`x-gzip` is `gzip`, §8.4.1.3).
    pub fn parse(token: &str) -> Option<Encoding> {
        match token.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Encoding::Gzip),
            "br" => Some(Encoding::Brotli),
            "zstd" => Some(Encoding::Zstd),
            _ => None,
        }
    }
}

/// The q-value `Accept-Encoding` gives `coding` (1000 = q=1); `None` when the field is absent.
fn qvalue(accept: &HeaderMap, coding: &str) -> Option<u16> {
    let mut present = false;
    let (mut exact, mut star) = (None, None);
    for v in accept.get_all(http::header::ACCEPT_ENCODING) {
        present = true;
        let Ok(text) = v.to_str() else { continue };
        for member in text.split(',') {
            let mut parts = member.split(';');
            let name = parts.next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            let q = parts
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(1000, |(_, v)| parse_q(v.trim()));
            let same = name.eq_ignore_ascii_case(coding)
                || (coding == "gzip" && name.eq_ignore_ascii_case("x-gzip"));
            if same {
                exact = Some(exact.map_or(q, |e: u16| e.max(q)));
            } else if name == "*" {
                star = Some(q);
            }
        }
    }
    present.then(|| exact.or(star).unwrap_or(if coding == "identity" { 1 } else { 0 }))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` as thousandths; invalid = 0.
fn parse_q(text: &str) -> u16 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().unwrap_or(0);
    match int {
        "0" => frac_value,
        "1" if frac_value == 0 => 1000,
        _ => 0,
    }
}

/// The encoding the client prefers among `offered` (server order breaks ties), if any has a
/// positive q-value and is at least as preferred as `identity`.
pub fn preferred(accept: &HeaderMap, offered: &[Encoding]) -> Option<Encoding> {
    let identity = qvalue(accept, "identity")?;
    let mut best: Option<(Encoding, u16)> = None;
    for &e in offered {
        let q = qvalue(accept, e.as_str()).unwrap_or(0);
        if q > 0 && q >= identity && best.is_none_or(|(_, b)| q > b) {
            best = Some((e, q));
        }
    }
    best.map(|(e, _)| e)
}

/// Whether the client accepts a response with `content_encoding` (none/identity always unless
/// refused; a listed coding only with q > 0).
pub fn acceptable(accept: &HeaderMap, content_encoding: Option<&str>) -> bool {
    let coding = match content_encoding.map(str::trim) {
        None | Some("") => "identity",
        Some(c) => c,
    };
    match qvalue(accept, coding) {
        None => true,
        Some(q) => q > 0 || (coding == "identity" && q == 1),
    }
}

/// The normalised `Accept-Encoding` secondary-key value: the encoding this client would get.
pub fn variant_key(accept: &HeaderMap, settings: &CompressionSettings) -> &'static str {
    if !settings.enabled {
        return "-";
    }
    preferred(accept, &settings.encodings).map_or("identity", Encoding::as_str)
}

/// Whether a media type is compressible under `settings`.
pub fn compressible_type(content_type: &str, settings: &CompressionSettings) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    settings.types.iter().any(|t| match t.strip_suffix('*') {
        Some(prefix) => essence.starts_with(prefix),
        None => essence == *t,
    })
}

/// Whether a response's representation may be compressed at all (type, size, not already
/// coded, not `no-transform`, a status that carries content).
pub fn eligible(status: u16, headers: &HeaderMap, settings: &CompressionSettings) -> bool {
    if !settings.enabled || matches!(status, 204 | 206 | 304) || status < 200 {
        return false;
    }
    let coded = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    let no_transform = headers.get_all(CACHE_CONTROL).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.to_ascii_lowercase().contains("no-transform"))
    });
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let small = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n < settings.min_bytes);
    !coded && !no_transform && !small && compressible_type(content_type, settings)
}

/// The encoding to apply to a response for a request's `Accept-Encoding`, if any.
pub fn negotiate(
    accept: &HeaderMap,
    status: u16,
    headers: &HeaderMap,
    settings: &CompressionSettings,
) -> Option<Encoding> {
    if !eligible(status, headers, settings) {
        return None;
    }
    preferred(accept, &settings.encodings)
}

/// Adds `Vary: Accept-Encoding` unless the field already names it (or `*`).
pub fn add_vary_accept_encoding(headers: &mut HeaderMap) {
    let listed = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|n| n.trim().eq_ignore_ascii_case("accept-encoding") || n.trim() == "*")
        })
    });
    if !listed {
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// Rewrites a response head for a body compressed with `encoding`: `Content-Encoding`, no
/// `Content-Length` (the new length is unknown until the end), a weak `ETag`, and `Vary`.
pub fn compressed_head(headers: &mut HeaderMap, encoding: Encoding) {
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding.as_str()));
    headers.remove(CONTENT_LENGTH);
    headers.remove(http::header::ACCEPT_RANGES);
    if let Some(etag) = headers.get(ETAG) {
        if !etag.as_bytes().starts_with(b"W/") {
            let mut weak = b"W/".to_vec();
            weak.extend_from_slice(etag.as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&weak) {
                headers.insert(ETAG, v);
            }
        }
    }
    add_vary_accept_encoding(headers);
}

type Reader = Pin<Box<dyn AsyncRead + Send>>;

/// A body compressed on the fly.
pub struct CompressBody {
    inner: ReaderStream<Reader>,
}

impl std::fmt::Debug for CompressBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompressBody")
    }
}

impl CompressBody {
    /// Compresses `body` with `encoding`, streaming.
    pub fn new<B>(body: B, encoding: Encoding) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>> =
            Box::pin(BodyDataStream::new(body).map_err(|e| io::Error::other(e.into())));
        let reader = StreamReader::new(stream);
        let encoder: Reader = match encoding {
            Encoding::Gzip => Box::pin(GzipEncoder::with_quality(reader, Level::Default)),
            // Quality 5: near-gzip speed with better ratios; 11 is far too slow for live traffic.
            Encoding::Brotli => Box::pin(BrotliEncoder::with_quality(reader, Level::Precise(5))),
            Encoding::Zstd => Box::pin(ZstdEncoder::with_quality(reader, Level::Default)),
        };
        CompressBody {
            inner: ReaderStream::new(encoder),
        }
    }
}

impl Body for CompressBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.inner)
            .poll_next(cx)
            .map(|o| o.map(|r| r.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
    use http_body_util::{BodyExt, Full, StreamBody};
    use tokio::io::AsyncReadExt;

    fn ae(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    fn all() -> Vec<Encoding> {
        vec![Encoding::Zstd, Encoding::Brotli, Encoding::Gzip]
    }

    #[test]
    fn q_values_decide_and_server_order_breaks_ties() {
        assert_eq!(preferred(&ae("gzip, br, zstd"), &all()), Some(Encoding::Zstd));
        assert_eq!(preferred(&ae("gzip;q=1, br;q=0.9"), &all()), Some(Encoding::Gzip));
        assert_eq!(
            preferred(&ae("gzip;q=0.5, br;q=0.8, zstd;q=0"), &all()),
            Some(Encoding::Brotli)
        );
        assert_eq!(preferred(&ae("*"), &all()), Some(Encoding::Zstd));
        assert_eq!(preferred(&ae("*;q=0.5, gzip"), &all()), Some(Encoding::Gzip));
        assert_eq!(preferred(&ae("x-gzip"), &all()), Some(Encoding::Gzip));
        assert_eq!(preferred(&ae("GZIP;Q=0.5"), &all()), Some(Encoding::Gzip));
        assert_eq!(preferred(&ae("identity"), &all()), None);
        assert_eq!(preferred(&ae("gzip;q=0"), &all()), None);
        assert_eq!(preferred(&ae("gzip;q=0.5, identity;q=1"), &all()), None);
        assert_eq!(preferred(&ae("deflate"), &all()), None);
        assert_eq!(
            preferred(&HeaderMap::new(), &all()),
            None,
            "absent: send identity"
        );
        assert_eq!(preferred(&ae("gzip;q=abc"), &all()), None);
        assert_eq!(
            preferred(&ae("gzip, br"), &[Encoding::Gzip]),
            Some(Encoding::Gzip)
        );
    }

    #[test]
    fn acceptability_of_a_stored_coding() {
        assert!(acceptable(&ae("gzip"), Some("gzip")));
        assert!(!acceptable(&ae("br"), Some("gzip")));
        assert!(acceptable(&HeaderMap::new(), Some("gzip")));
        assert!(acceptable(&ae("br"), None));
        assert!(!acceptable(&ae("identity;q=0"), None));
    }

    fn head(ct: &str, len: Option<u64>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        if let Some(n) = len {
            h.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        h
    }

    #[test]
    fn only_compressible_unencoded_large_enough_bodies() {
        let s = CompressionSettings::default();
        let gzip = ae("gzip");
        assert_eq!(
            negotiate(&gzip, 200, &head("text/html; charset=utf-8", Some(7600)), &s),
            Some(Encoding::Gzip)
        );
        assert_eq!(
            negotiate(&gzip, 200, &head("application/json", None), &s),
            Some(Encoding::Gzip)
        );
        assert_eq!(negotiate(&gzip, 200, &head("image/png", Some(7600)), &s), None);
        assert_eq!(negotiate(&gzip, 200, &head("image/jpeg", Some(7600)), &s), None);
        assert_eq!(negotiate(&gzip, 200, &head("text/html", Some(100)), &s), None);
        let mut coded = head("text/html", Some(7600));
        coded.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(
            negotiate(&ae("br"), 200, &coded, &s),
            None,
            "never double-compressed"
        );
        let mut nt = head("text/html", Some(7600));
        nt.insert(CACHE_CONTROL, HeaderValue::from_static("public, no-transform"));
        assert_eq!(negotiate(&gzip, 200, &nt, &s), None);
        assert_eq!(negotiate(&gzip, 206, &head("text/html", Some(7600)), &s), None);
        assert_eq!(negotiate(&gzip, 304, &head("text/html", Some(7600)), &s), None);
    }

    #[test]
    fn the_head_is_rewritten() {
        let mut h = head("text/html", Some(7600));
        h.insert(ETAG, HeaderValue::from_static("\"abc\""));
        h.insert(VARY, HeaderValue::from_static("Accept-Language"));
        compressed_head(&mut h, Encoding::Brotli);
        assert_eq!(h[CONTENT_ENCODING], "br");
        assert!(!h.contains_key(CONTENT_LENGTH));
        assert_eq!(h[ETAG], "W/\"abc\"");
        let vary: Vec<_> = h.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Language", "accept-encoding"]);
        compressed_head(&mut h, Encoding::Brotli);
        assert_eq!(h[ETAG], "W/\"abc\"");
        assert_eq!(h.get_all(VARY).iter().count(), 2);
    }

    #[test]
    fn variant_keys() {
        let s = CompressionSettings::default();
        assert_eq!(variant_key(&ae("gzip, deflate, br"), &s), "br");
        assert_eq!(variant_key(&ae("gzip"), &s), "gzip");
        assert_eq!(variant_key(&HeaderMap::new(), &s), "identity");
    }

    fn page() -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0..2000 {
            text.extend_from_slice(format!("<li>item {i} of a long list</li>\n").as_bytes());
        }
        text
    }

    async fn decode(encoding: Encoding, bytes: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        let input = &bytes[..];
        match encoding {
            Encoding::Gzip => GzipDecoder::new(input).read_to_end(&mut out).await.unwrap(),
            Encoding::Brotli => BrotliDecoder::new(input).read_to_end(&mut out).await.unwrap(),
            Encoding::Zstd => ZstdDecoder::new(input).read_to_end(&mut out).await.unwrap(),
        };
        out
    }

    #[tokio::test]
    async fn each_encoding_round_trips_streamed() {
        let text = page();
        for encoding in all() {
            // Many small frames, as a proxied body arrives.
            let chunks: Vec<Result<Frame<Bytes>, io::Error>> = text
                .chunks(700)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let body = StreamBody::new(futures_util::stream::iter(chunks));
            let compressed = CompressBody::new(body, encoding)
                .collect()
                .await
                .unwrap()
                .to_bytes();
            assert!(
                compressed.len() < text.len() / 4,
                "{encoding:?}: {}",
                compressed.len()
            );
            assert_eq!(decode(encoding, compressed.to_vec()).await, text, "{encoding:?}");
        }
    }

    #[tokio::test]
    async fn an_empty_body_still_round_trips() {
        for encoding in all() {
            let compressed = CompressBody::new(Full::new(Bytes::new()), encoding)
                .collect()
                .await
                .unwrap()
                .to_bytes();
            assert!(decode(encoding, compressed.to_vec()).await.is_empty());
        }
    }
}
