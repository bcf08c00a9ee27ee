//! Cache directives as typed values: `Cache-Control` on responses (RFC 9111 §5.2.2) and on
//! requests (§5.2.1), and the targeted fields of RFC 9213 (`CDN-Cache-Control` and our own
//! `Edgeward-CDN-Cache-Control`), which take precedence over `Cache-Control` for this cache.
//!
//! Owns parsing only: which directive wins for freshness or storage is decided in `freshness`
//! and `storable`. Parsing never fails outright: `Cache-Control` is read leniently (names are
//! case-insensitive, arguments may be quoted, the first occurrence of a directive wins, an
//! invalid delta-seconds makes the response stale); a targeted field is a Structured Field
//! Dictionary (RFC 8941) and is ignored whole when it does not parse (RFC 9213 §2.1).

use http::header::{HeaderMap, HeaderName, CACHE_CONTROL};

/// Largest delta-seconds a cache must represent; larger values are clamped to it (§1.2.2).
pub const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// `CDN-Cache-Control` (RFC 9213): directives aimed at every CDN cache.
pub static CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// `Edgeward-CDN-Cache-Control`: directives aimed at edgeward alone (highest precedence).
pub static EDGEWARD_CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("edgeward-cdn-cache-control");

/// A directive that may carry a list of field names (`no-cache`, `private`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Qualified {
    /// Absent.
    #[default]
    Absent,
    /// Present without field names: applies to the whole response.
    Whole,
    /// Present with field names (lowercase): applies to those fields only.
    Fields(Vec<String>),
}

impl Qualified {
    /// Whether the directive is present in its unqualified form.
    pub fn is_whole(&self) -> bool {
        matches!(self, Qualified::Whole)
    }

    /// The field names of the qualified form (empty otherwise).
    pub fn fields(&self) -> &[String] {
        match self {
            Qualified::Fields(f) => f,
            _ => &[],
        }
    }
}

/// Response cache directives (from `Cache-Control` or the targeted field that won).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseDirectives {
    /// `max-age` in seconds (0 when its argument was invalid: the response is then stale).
    pub max_age: Option<u64>,
    /// `s-maxage` in seconds (shared caches only).
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache`, possibly with field names.
    pub no_cache: Qualified,
    /// `private`, possibly with field names.
    pub private: Qualified,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `must-understand`.
    pub must_understand: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `stale-while-revalidate` in seconds (RFC 5861).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` in seconds (RFC 5861).
    pub stale_if_error: Option<u64>,
}

/// Where the response directives came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectiveSource {
    /// `Cache-Control` (or no field at all).
    CacheControl,
    /// A targeted field (RFC 9213); `Cache-Control` was ignored for this cache.
    Targeted,
}

impl ResponseDirectives {
    /// Reads `Cache-Control` alone.
    pub fn from_cache_control(headers: &HeaderMap) -> Self {
        let mut d = ResponseDirectives::default();
        for (name, arg) in field_directives(headers, &CACHE_CONTROL) {
            d.apply(&name, arg.as_deref());
        }
        d
    }

    /// The directives this cache obeys: the first valid targeted field in `targeted` (highest
    /// precedence first), else `Cache-Control` (RFC 9213 §2.1).
    pub fn for_edge(headers: &HeaderMap, targeted: &[HeaderName]) -> (Self, DirectiveSource) {
        for name in targeted {
            if let Some(members) = targeted_field(headers, name) {
                let mut d = ResponseDirectives::default();
                for (key, arg) in members {
                    // `key=?0` is a boolean directive switched off.
                    if arg.as_deref() != Some(SF_FALSE) {
                        d.apply(&key, arg.as_deref());
                    }
                }
                return (d, DirectiveSource::Targeted);
            }
        }
        (Self::from_cache_control(headers), DirectiveSource::CacheControl)
    }

    fn apply(&mut self, name: &str, arg: Option<&str>) {
        match name {
            "max-age" if self.max_age.is_none() => self.max_age = Some(delta_or_stale(arg)),
            "s-maxage" if self.s_maxage.is_none() => self.s_maxage = Some(delta_or_stale(arg)),
            "no-store" => self.no_store = true,
            "no-cache" => merge_qualified(&mut self.no_cache, arg),
            "private" => merge_qualified(&mut self.private, arg),
            "public" => self.public = true,
            "must-revalidate" => self.must_revalidate = true,
            "proxy-revalidate" => self.proxy_revalidate = true,
            "must-understand" => self.must_understand = true,
            "no-transform" => self.no_transform = true,
            "stale-while-revalidate" if self.stale_while_revalidate.is_none() => {
                self.stale_while_revalidate = arg.and_then(delta_seconds);
            }
            "stale-if-error" if self.stale_if_error.is_none() => {
                self.stale_if_error = arg.and_then(delta_seconds);
            }
            _ => {}
        }
    }
}

/// Request cache directives (§5.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestDirectives {
    /// `max-age`: the client accepts no response older than this.
    pub max_age: Option<u64>,
    /// `max-stale`: `Some(None)` = any staleness, `Some(Some(n))` = up to n seconds.
    pub max_stale: Option<Option<u64>>,
    /// `min-fresh`: the response must stay fresh at least this long.
    pub min_fresh: Option<u64>,
    /// `no-cache`: do not use a stored response without revalidating.
    pub no_cache: bool,
    /// `no-store`: do not store the request or its response.
    pub no_store: bool,
    /// `only-if-cached`: answer from the cache or 504.
    pub only_if_cached: bool,
    /// `stale-if-error` on the request (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
}

impl RequestDirectives {
    /// Reads a request's `Cache-Control`.
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut d = RequestDirectives::default();
        for (name, arg) in field_directives(headers, &CACHE_CONTROL) {
            match name.as_str() {
                "max-age" if d.max_age.is_none() => d.max_age = arg.as_deref().and_then(delta_seconds),
                "max-stale" if d.max_stale.is_none() => {
                    d.max_stale = Some(arg.as_deref().and_then(delta_seconds));
                }
                "min-fresh" if d.min_fresh.is_none() => d.min_fresh = arg.as_deref().and_then(delta_seconds),
                "no-cache" => d.no_cache = true,
                "no-store" => d.no_store = true,
                "only-if-cached" => d.only_if_cached = true,
                "stale-if-error" if d.stale_if_error.is_none() => {
                    d.stale_if_error = arg.as_deref().and_then(delta_seconds);
                }
                _ => {}
            }
        }
        d
    }
}

/// `1*DIGIT`, clamped to [`DELTA_SECONDS_MAX`]; `None` when not digits.
pub fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        text.parse::<u64>()
            .map_or(DELTA_SECONDS_MAX, |n| n.min(DELTA_SECONDS_MAX)),
    )
}

/// A freshness directive's argument; an invalid one makes the response stale.
fn delta_or_stale(arg: Option<&str>) -> u64 {
    arg.and_then(delta_seconds).unwrap_or(0)
}

fn merge_qualified(slot: &mut Qualified, arg: Option<&str>) {
    let fields: Vec<String> = arg
        .map(|a| {
            a.split(',')
                .map(|f| f.trim().to_ascii_lowercase())
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default();
    *slot = match (std::mem::take(slot), fields.is_empty()) {
        (Qualified::Whole, _) | (_, true) => Qualified::Whole,
        (Qualified::Fields(mut old), false) => {
            old.extend(fields);
            Qualified::Fields(old)
        }
        (Qualified::Absent, false) => Qualified::Fields(fields),
    };
}

/// The `name[=arg]` members of every line of a comma-separated directive field, names
/// lowercased, quoted arguments unquoted (§5.2: recipients accept both forms).
fn field_directives(headers: &HeaderMap, name: &HeaderName) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else { continue };
        let mut rest = text;
        while !rest.is_empty() {
            let (member, tail) = split_member(rest);
            rest = tail;
            let member = member.trim();
            if member.is_empty() {
                continue;
            }
            let (key, arg) = match member.split_once('=') {
                Some((k, v)) => (k.trim(), Some(unquote(v.trim()))),
                None => (member, None),
            };
            out.push((key.to_ascii_lowercase(), arg));
        }
    }
    out
}

/// Splits off one list member at the first comma outside a quoted string.
fn split_member(text: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => return (&text[..i], &text[i + 1..]),
            _ => {}
        }
    }
    (text, "")
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                escaped = false;
                out.push(c);
            }
            out
        }
        None => v.to_string(),
    }
}

/// A targeted field parsed as a Structured Field Dictionary; `None` when absent or invalid.
/// Values: booleans (bare keys), integers and strings; parameters are accepted and ignored.
fn targeted_field(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<(String, Option<String>)>> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    let mut joined = String::new();
    for line in lines {
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(line.to_str().ok()?);
    }
    parse_sf_dictionary(&joined)
}

/// The text a Structured Field `?0` (false) stands for among parsed values.
const SF_FALSE: &str = "?0";

fn parse_sf_dictionary(input: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut p = SfParser {
        s: input.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    if p.done() {
        return Some(out);
    }
    loop {
        let key = p.key()?;
        let value = if p.eat(b'=') { p.bare_item()? } else { None };
        p.parameters()?;
        // A later duplicate key overrides an earlier one (RFC 8941 §4.2.2).
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
        p.skip_ows();
        if p.done() {
            return Some(out);
        }
        if !p.eat(b',') {
            return None;
        }
        p.skip_ows();
        if p.done() {
            return None;
        }
    }
}

struct SfParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl SfParser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += usize::from(hit);
        hit
    }
    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn key(&mut self) -> Option<String> {
        let start = self.i;
        match self.peek()? {
            b'a'..=b'z' | b'*' => self.i += 1,
            _ => return None,
        }
        while matches!(
            self.peek(),
            Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')
        ) {
            self.i += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    /// An item's value as text; `?1` becomes `None` (a bare flag), `?0` becomes [`SF_FALSE`].
    fn bare_item(&mut self) -> Option<Option<String>> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    match self.peek()? {
                        b'\\' => {
                            self.i += 1;
                            let c = self.peek().filter(|c| matches!(c, b'"' | b'\\'))?;
                            out.push(c as char);
                        }
                        b'"' => {
                            self.i += 1;
                            return Some(Some(out));
                        }
                        c @ 0x20..=0x7e => out.push(c as char),
                        _ => return None,
                    }
                    self.i += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                self.i += 1;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'.')) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                if text.len() > 16 {
                    return None;
                }
                // Negative or decimal numbers are valid SF items but not valid delta-seconds:
                // keep the text so the directive is read as invalid (stale).
                Some(Some(text.to_string()))
            }
            b'?' => {
                self.i += 1;
                match self.peek()? {
                    b'1' => {
                        self.i += 1;
                        Some(None)
                    }
                    b'0' => {
                        self.i += 1;
                        Some(Some(SF_FALSE.to_string()))
                    }
                    _ => None,
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'*' => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b":/!#$%&'*+-.^_`|~".contains(&c))
                {
                    self.i += 1;
                }
                Some(Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()))
            }
            _ => None,
        }
    }
    fn parameters(&mut self) -> Option<()> {
        while self.eat(b';') {
            self.skip_sp();
            self.key()?;
            if self.eat(b'=') {
                self.bare_item()?;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn cache_control_is_case_insensitive_quoted_and_first_wins() {
        let h = headers(&[
            ("cache-control", "Max-Age=\"60\", s-maxage=10"),
            ("cache-control", "max-age=5"),
        ]);
        let d = ResponseDirectives::from_cache_control(&h);
        assert_eq!(d.max_age, Some(60));
        assert_eq!(d.s_maxage, Some(10));
    }

    #[test]
    fn invalid_max_age_is_stale_and_huge_is_clamped() {
        let d = ResponseDirectives::from_cache_control(&headers(&[("cache-control", "max-age=abc")]));
        assert_eq!(d.max_age, Some(0));
        let d = ResponseDirectives::from_cache_control(&headers(&[(
            "cache-control",
            "max-age=99999999999999999999",
        )]));
        assert_eq!(d.max_age, Some(DELTA_SECONDS_MAX));
    }

    #[test]
    fn qualified_no_cache_and_private_keep_their_field_names() {
        let h = headers(&[("cache-control", "no-cache=\"Set-Cookie, X-Foo\", private=x-user")]);
        let d = ResponseDirectives::from_cache_control(&h);
        assert_eq!(d.no_cache.fields(), ["set-cookie", "x-foo"]);
        assert_eq!(d.private.fields(), ["x-user"]);
        let d =
            ResponseDirectives::from_cache_control(&headers(&[("cache-control", "no-cache=a, no-cache")]));
        assert!(d.no_cache.is_whole());
    }

    #[test]
    fn a_valid_targeted_field_replaces_cache_control() {
        let h = headers(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=600, stale-if-error=30"),
        ]);
        let (d, src) = ResponseDirectives::for_edge(
            &h,
            &[EDGEWARD_CDN_CACHE_CONTROL.clone(), CDN_CACHE_CONTROL.clone()],
        );
        assert_eq!(src, DirectiveSource::Targeted);
        assert!(!d.no_store);
        assert_eq!(d.max_age, Some(600));
        assert_eq!(d.stale_if_error, Some(30));
    }

    #[test]
    fn the_edge_specific_field_outranks_cdn_cache_control() {
        let h = headers(&[
            ("cdn-cache-control", "max-age=600"),
            ("edgeward-cdn-cache-control", "no-store"),
        ]);
        let (d, _) = ResponseDirectives::for_edge(
            &h,
            &[EDGEWARD_CDN_CACHE_CONTROL.clone(), CDN_CACHE_CONTROL.clone()],
        );
        assert!(d.no_store);
        assert_eq!(d.max_age, None);
    }

    #[test]
    fn an_invalid_targeted_field_is_ignored_whole() {
        // Uppercase keys are not valid Structured Field keys (RFC 8941).
        let h = headers(&[
            ("cache-control", "max-age=5"),
            ("cdn-cache-control", "Max-Age=600"),
        ]);
        let (d, src) = ResponseDirectives::for_edge(&h, std::slice::from_ref(&CDN_CACHE_CONTROL));
        assert_eq!(src, DirectiveSource::CacheControl);
        assert_eq!(d.max_age, Some(5));
        for bad in ["max-age=600,", "max-age=(1 2)", "max-age=600 x", "\"x\""] {
            assert!(parse_sf_dictionary(bad).is_none(), "{bad}");
        }
        let ok = parse_sf_dictionary("max-age=600;foo=1, private=\"x-a\", no-store").unwrap();
        assert_eq!(ok.len(), 3);
    }

    #[test]
    fn request_directives() {
        let d = RequestDirectives::parse(&headers(&[(
            "cache-control",
            "max-stale, min-fresh=5, only-if-cached",
        )]));
        assert_eq!(d.max_stale, Some(None));
        assert_eq!(d.min_fresh, Some(5));
        assert!(d.only_if_cached);
        let d = RequestDirectives::parse(&headers(&[(
            "cache-control",
            "max-stale=10, no-cache, no-store, max-age=0",
        )]));
        assert_eq!(d.max_stale, Some(Some(10)));
        assert_eq!(d.max_age, Some(0));
        assert!(d.no_cache && d.no_store);
    }

    #[test]
    fn a_comma_inside_quotes_does_not_split() {
        let d = ResponseDirectives::from_cache_control(&headers(&[(
            "cache-control",
            "private=\"a, b\", max-age=3",
        )]));
        assert_eq!(d.private.fields(), ["a", "b"]);
        assert_eq!(d.max_age, Some(3));
    }
}
