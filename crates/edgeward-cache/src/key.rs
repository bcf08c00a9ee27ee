//! Cache keys: the primary key (scheme, host, path, query as the zone's [`KeyOptions`] say,
//! plus chosen header and cookie values) and the secondary key of a variant — the request's
//! values of the fields the stored `Vary` names, normalised so that equivalent requests share
//! a variant (RFC 9111 §4.1).
//!
//! Normalisation: field lines are joined, list members trimmed and whitespace collapsed, names
//! that are case-insensitive by definition lowercased, and `Accept-Encoding` reduced to the
//! encoding the client would get ([`crate::compress::variant_key`]). An absent field differs
//! from an empty one. This module owns key text only; lookups are the engine's.

use http::HeaderMap;

use crate::settings::{CompressionSettings, KeyOptions, QueryKey};

/// Separates the primary key from a variant's secondary key.
pub const VARIANT_SEPARATOR: char = '\u{1}';

/// The parts of a request the primary key is made from.
#[derive(Debug, Clone, Copy)]
pub struct KeyInput<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The host the request was routed by (any port is dropped, case folded).
    pub host: &'a str,
    /// The path.
    pub path: &'a str,
    /// The query, without `?`.
    pub query: Option<&'a str>,
    /// The request headers (for key headers and cookies).
    pub headers: &'a HeaderMap,
}

/// `host/path?query` as requested: what purges by URL and prefix match.
pub fn purge_url(host: &str, path: &str, query: Option<&str>) -> String {
    let mut url = String::with_capacity(host.len() + path.len() + 8);
    url.push_str(&bare_host(host));
    url.push_str(if path.is_empty() { "/" } else { path });
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// The host lowercased, without a port.
pub fn bare_host(host: &str) -> String {
    let h = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 1])
    } else {
        host.split_once(':').map_or(host, |(h, _)| h)
    };
    h.to_ascii_lowercase()
}

/// The primary cache key.
pub fn primary(input: KeyInput<'_>, opts: &KeyOptions) -> String {
    let mut key = String::with_capacity(64);
    key.push_str(input.scheme);
    key.push_str("://");
    key.push_str(&bare_host(input.host));
    key.push_str(if input.path.is_empty() { "/" } else { input.path });
    match (input.query, opts.query) {
        (None, _) | (_, QueryKey::Ignore) => {}
        (Some(q), QueryKey::Full) => {
            key.push('?');
            key.push_str(q);
        }
        (Some(q), QueryKey::Sorted) => {
            let mut params: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
            params.sort_unstable();
            key.push('?');
            key.push_str(&params.join("&"));
        }
    }
    for name in &opts.headers {
        key.push_str("\nh:");
        key.push_str(name);
        key.push('=');
        push_field(&mut key, input.headers, name);
    }
    for name in &opts.cookies {
        key.push_str("\nc:");
        key.push_str(name);
        key.push('=');
        key.push_str(cookie(input.headers, name).unwrap_or("\u{0}"));
    }
    key
}

/// A cookie's value from the request's `Cookie` fields.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn push_field(key: &mut String, headers: &HeaderMap, name: &str) {
    let mut any = false;
    for v in headers.get_all(name) {
        if any {
            key.push(',');
        }
        any = true;
        key.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    if !any {
        key.push('\u{0}');
    }
}

/// Fields whose values compare case-insensitively.
const CASE_INSENSITIVE: [&str; 3] = ["accept-language", "accept-charset", "accept"];

/// The secondary key of a request for a stored response that varies on `names`.
pub fn secondary(names: &[String], headers: &HeaderMap, compression: &CompressionSettings) -> String {
    let mut key = String::new();
    for name in names {
        key.push_str(name);
        key.push('=');
        if name == "accept-encoding" {
            key.push_str(crate::compress::variant_key(headers, compression));
        } else {
            push_normalised(&mut key, headers, name);
        }
        key.push('\n');
    }
    key
}

fn push_normalised(key: &mut String, headers: &HeaderMap, name: &str) {
    let mut members: Vec<String> = Vec::new();
    let mut present = false;
    for v in headers.get_all(name) {
        present = true;
        let text = String::from_utf8_lossy(v.as_bytes());
        for m in text.split(',') {
            let m: String = m.split_whitespace().collect::<Vec<_>>().join(" ");
            let m = m.replace(" ;", ";").replace("; ", ";");
            if !m.is_empty() {
                members.push(if CASE_INSENSITIVE.contains(&name) {
                    m.to_ascii_lowercase()
                } else {
                    m
                });
            }
        }
    }
    if present {
        key.push_str(&members.join(","));
    } else {
        key.push('\u{0}');
    }
}

/// The store key of a variant.
pub fn variant(primary: &str, secondary: &str) -> String {
    let mut k = String::with_capacity(primary.len() + secondary.len() + 1);
    k.push_str(primary);
    k.push(VARIANT_SEPARATOR);
    k.push_str(secondary);
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn key(query: Option<&str>, h: &HeaderMap, opts: &KeyOptions) -> String {
        primary(
            KeyInput {
                scheme: "https",
                host: "Example.COM:443",
                path: "/a",
                query,
                headers: h,
            },
            opts,
        )
    }

    #[test]
    fn query_options() {
        let h = HeaderMap::new();
        let full = KeyOptions::default();
        assert_eq!(key(Some("b=2&a=1"), &h, &full), "https://example.com/a?b=2&a=1");
        assert_ne!(key(Some("b=2&a=1"), &h, &full), key(Some("a=1&b=2"), &h, &full));
        let sorted = KeyOptions {
            query: QueryKey::Sorted,
            ..Default::default()
        };
        assert_eq!(
            key(Some("b=2&a=1"), &h, &sorted),
            key(Some("a=1&b=2"), &h, &sorted)
        );
        let ignore = KeyOptions {
            query: QueryKey::Ignore,
            ..Default::default()
        };
        assert_eq!(key(Some("x=1"), &h, &ignore), "https://example.com/a");
    }

    #[test]
    fn headers_and_cookies_enter_the_key() {
        let opts = KeyOptions {
            headers: vec!["x-device".into()],
            cookies: vec!["lang".into()],
            ..Default::default()
        };
        let a = key(
            None,
            &headers(&[("x-device", "mobile"), ("cookie", "sid=1; lang=fr")]),
            &opts,
        );
        let b = key(
            None,
            &headers(&[("x-device", "mobile"), ("cookie", "lang=fr; sid=2")]),
            &opts,
        );
        let c = key(
            None,
            &headers(&[("x-device", "desktop"), ("cookie", "lang=fr")]),
            &opts,
        );
        let d = key(None, &headers(&[("cookie", "lang=fr")]), &opts);
        assert_eq!(a, b, "other cookies do not matter");
        assert_ne!(a, c);
        assert_ne!(c, d);
    }

    #[test]
    fn secondary_keys_are_normalised() {
        let s = CompressionSettings::default();
        let names = vec!["accept-language".to_string(), "accept-encoding".to_string()];
        let a = secondary(
            &names,
            &headers(&[
                ("accept-language", "en-US,  fr;q=0.5"),
                ("accept-encoding", "gzip, br"),
            ]),
            &s,
        );
        let b = secondary(
            &names,
            &headers(&[
                ("accept-language", "EN-us"),
                ("accept-language", "fr ; q=0.5"),
                ("accept-encoding", "br;q=1, gzip;q=0.8"),
            ]),
            &s,
        );
        assert_eq!(a, b);
        let c = secondary(&names, &headers(&[("accept-language", "de")]), &s);
        assert_ne!(a, c);
        let absent = secondary(&["x-a".to_string()], &HeaderMap::new(), &s);
        let empty = secondary(&["x-a".to_string()], &headers(&[("x-a", "")]), &s);
        assert_ne!(absent, empty);
    }

    #[test]
    fn purge_urls() {
        assert_eq!(
            purge_url("Example.com:8443", "/a", Some("b=1")),
            "example.com/a?b=1"
        );
        assert_eq!(purge_url("[::1]:80", "", None), "[::1]/");
    }
}
