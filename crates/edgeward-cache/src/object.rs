//! What the cache stores: an [`Object`] (a response's status, stored header fields, complete
//! body and the metadata freshness and purge need) or a [`VaryMarker`] naming the fields that
//! select among a URL's variants; [`Entry`] is either. Also their byte encoding for the disk
//! store (a versioned, length-prefixed format; decoding checks every length).
//!
//! This module does not decide what is stored (`storable`) or where (`store`).

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::freshness::{StalePolicy, Timing};

/// What purges match an entry by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Lowercase host (without port).
    pub host: String,
    /// `host/path?query` as requested (no scheme).
    pub url: String,
    /// `Cache-Tag` values, lowercase.
    pub tags: Vec<String>,
}

/// A stored response.
#[derive(Debug, Clone)]
pub struct Object {
    /// The response status.
    pub status: StatusCode,
    /// The stored header fields (see `storable::stored_headers`).
    pub headers: HeaderMap,
    /// The complete body (content-coded as sent, e.g. gzip for a gzip variant).
    pub body: Bytes,
    /// Age inputs recorded when the response arrived.
    pub timing: Timing,
    /// Freshness lifetime at this edge (ms).
    pub lifetime: u64,
    /// What the response allows once stale.
    pub stale: StalePolicy,
    /// Purge identity.
    pub origin: Origin,
}

impl Object {
    /// Approximate bytes held (for size bounds).
    pub fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        (self.body.len() + headers + self.origin.url.len() * 2 + 128) as u64
    }
}

/// The `Vary` field names of a URL's stored variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaryMarker {
    /// Lowercase field names.
    pub names: Vec<String>,
    /// Part of every variant key: a new marker (after an invalidation) makes older variants
    /// unreachable.
    pub generation: u64,
    /// Purge identity (no tags: variants carry those).
    pub origin: Origin,
}

/// One stored value.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A response.
    Object(Arc<Object>),
    /// A pointer to variants.
    Vary(Arc<VaryMarker>),
}

impl Entry {
    /// Approximate bytes held.
    pub fn weight(&self) -> u64 {
        match self {
            Entry::Object(o) => o.weight(),
            Entry::Vary(v) => {
                (v.names.iter().map(|n| n.len() + 24).sum::<usize>() + v.origin.url.len() + 96) as u64
            }
        }
    }

    /// Purge identity.
    pub fn origin(&self) -> &Origin {
        match self {
            Entry::Object(o) => &o.origin,
            Entry::Vary(v) => &v.origin,
        }
    }
}

const MAGIC: &[u8; 8] = b"EWCACHE1";
const KIND_OBJECT: u8 = 1;
const KIND_VARY: u8 = 2;

/// Encodes `key` and `entry` for the disk store.
pub fn encode(key: &str, entry: &Entry) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(256 + entry.weight() as usize);
    b.put_slice(MAGIC);
    put_str(&mut b, key);
    put_origin(&mut b, entry.origin());
    match entry {
        Entry::Vary(v) => {
            b.put_u8(KIND_VARY);
            b.put_u64_le(v.generation);
            b.put_u32_le(v.names.len() as u32);
            for n in &v.names {
                put_str(&mut b, n);
            }
        }
        Entry::Object(o) => {
            b.put_u8(KIND_OBJECT);
            b.put_u16_le(o.status.as_u16());
            for n in [
                o.timing.request_time,
                o.timing.response_time,
                o.timing.date,
                o.timing.age_value,
                o.lifetime,
            ] {
                b.put_u64_le(n);
            }
            b.put_u8(u8::from(o.stale.no_cache) | (u8::from(o.stale.must_revalidate) << 1));
            b.put_u64_le(o.stale.while_revalidate);
            b.put_u64_le(o.stale.if_error);
            b.put_u32_le(o.headers.len() as u32);
            for (name, value) in &o.headers {
                put_bytes(&mut b, name.as_str().as_bytes());
                put_bytes(&mut b, value.as_bytes());
            }
            put_bytes(&mut b, &o.body);
        }
    }
    b.to_vec()
}

/// Decodes what [`encode`] wrote; `None` for a foreign, truncated or corrupt file.
pub fn decode(bytes: Bytes) -> Option<(String, Entry)> {
    let mut r = Reader(bytes);
    if r.take(8)?.as_ref() != MAGIC {
        return None;
    }
    let key = r.string()?;
    let origin = r.origin()?;
    let entry = match r.u8()? {
        KIND_VARY => {
            let generation = r.u64()?;
            let n = r.u32()? as usize;
            let mut names = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                names.push(r.string()?);
            }
            Entry::Vary(Arc::new(VaryMarker {
                names,
                generation,
                origin,
            }))
        }
        KIND_OBJECT => {
            let status = StatusCode::from_u16(r.u16()?).ok()?;
            let timing = Timing {
                request_time: r.u64()?,
                response_time: r.u64()?,
                date: r.u64()?,
                age_value: r.u64()?,
            };
            let lifetime = r.u64()?;
            let flags = r.u8()?;
            let stale = StalePolicy {
                no_cache: flags & 1 != 0,
                must_revalidate: flags & 2 != 0,
                while_revalidate: r.u64()?,
                if_error: r.u64()?,
            };
            let n = r.u32()? as usize;
            let mut headers = HeaderMap::with_capacity(n.min(256));
            for _ in 0..n {
                let name = HeaderName::from_bytes(&r.bytes()?).ok()?;
                let value = HeaderValue::from_maybe_shared(r.bytes()?).ok()?;
                headers.append(name, value);
            }
            let body = r.bytes()?;
            Entry::Object(Arc::new(Object {
                status,
                headers,
                body,
                timing,
                lifetime,
                stale,
                origin,
            }))
        }
        _ => return None,
    };
    r.0.is_empty().then_some((key, entry))
}

/// Reads only the key and purge identity of an encoded entry (for rebuilding the index).
pub fn decode_identity(bytes: Bytes) -> Option<(String, Origin)> {
    let mut r = Reader(bytes);
    if r.take(8)?.as_ref() != MAGIC {
        return None;
    }
    Some((r.string()?, r.origin()?))
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_u32_le(v.len() as u32);
    b.put_slice(v);
}

fn put_str(b: &mut BytesMut, v: &str) {
    put_bytes(b, v.as_bytes());
}

fn put_origin(b: &mut BytesMut, o: &Origin) {
    put_str(b, &o.host);
    put_str(b, &o.url);
    b.put_u32_le(o.tags.len() as u32);
    for t in &o.tags {
        put_str(b, t);
    }
}

struct Reader(Bytes);

impl Reader {
    fn take(&mut self, n: usize) -> Option<Bytes> {
        (self.0.len() >= n).then(|| self.0.split_to(n))
    }
    fn u8(&mut self) -> Option<u8> {
        (!self.0.is_empty()).then(|| self.0.get_u8())
    }
    fn u16(&mut self) -> Option<u16> {
        (self.0.len() >= 2).then(|| self.0.get_u16_le())
    }
    fn u32(&mut self) -> Option<u32> {
        (self.0.len() >= 4).then(|| self.0.get_u32_le())
    }
    fn u64(&mut self) -> Option<u64> {
        (self.0.len() >= 8).then(|| self.0.get_u64_le())
    }
    fn bytes(&mut self) -> Option<Bytes> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    fn origin(&mut self) -> Option<Origin> {
        let host = self.string()?;
        let url = self.string()?;
        let n = self.u32()? as usize;
        let mut tags = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            tags.push(self.string()?);
        }
        Some(Origin { host, url, tags })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Object {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        Object {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"hello"),
            timing: Timing {
                request_time: 1,
                response_time: 2,
                date: 3,
                age_value: 4,
            },
            lifetime: 60_000,
            stale: StalePolicy {
                no_cache: false,
                must_revalidate: true,
                while_revalidate: 5,
                if_error: 6,
            },
            origin: Origin {
                host: "example.com".into(),
                url: "example.com/a?b".into(),
                tags: vec!["t1".into()],
            },
        }
    }

    #[test]
    fn objects_round_trip() {
        let bytes = encode("k1", &Entry::Object(Arc::new(sample())));
        let (key, entry) = decode(Bytes::from(bytes.clone())).unwrap();
        assert_eq!(key, "k1");
        let Entry::Object(o) = entry else {
            panic!("not an object")
        };
        let s = sample();
        assert_eq!(o.headers, s.headers);
        assert_eq!(o.body, s.body);
        assert_eq!(o.timing, s.timing);
        assert_eq!(o.stale, s.stale);
        assert_eq!(o.origin, s.origin);
        assert_eq!(decode_identity(Bytes::from(bytes)).unwrap().1, s.origin);
    }

    #[test]
    fn vary_markers_round_trip() {
        let m = VaryMarker {
            names: vec!["accept-encoding".into()],
            generation: 77,
            origin: sample().origin,
        };
        let (_, entry) = decode(Bytes::from(encode("k", &Entry::Vary(Arc::new(m.clone()))))).unwrap();
        let Entry::Vary(v) = entry else {
            panic!("not a marker")
        };
        assert_eq!(*v, m);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_rejected() {
        let bytes = encode("k1", &Entry::Object(Arc::new(sample())));
        for cut in [0, 7, 8, 20, bytes.len() - 1] {
            assert!(
                decode(Bytes::copy_from_slice(&bytes[..cut])).is_none(),
                "cut at {cut}"
            );
        }
        assert!(decode(Bytes::from_static(b"NOTCACHE........")).is_none());
    }
}
