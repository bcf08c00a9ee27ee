//! Safe header field construction: values stripped of bytes that could split or
//! smuggle a response, quoted strings, and canonical-case names for configured headers.
//!
//! Owns the byte-level rules for what we write into a header field. It does not
//! decide which headers an error carries (the catalog does).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// `s` with every control byte except HTAB removed, so no CR/LF/NUL ever reaches
/// the header section however the value was configured.
pub(crate) fn value(s: &str) -> String {
    s.chars().filter(|&c| c == '\t' || !c.is_control()).collect()
}

/// `s` as an RFC 9110 quoted-string (with the quotes), backslash-escaping `"` and `\`.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in value(s).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `s` as a structured-field sf-string (RFC 8941 §3.3.3): printable ASCII only,
/// `"` and `\` escaped; other characters are dropped.
pub(crate) fn sf_string(s: &str) -> String {
    let printable: String = s.chars().filter(|c| matches!(c, ' '..='~')).collect();
    quoted(&printable)
}

/// Whether `b` is an RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Most distinct configured header names we will ever intern; bounds the leak.
const MAX_INTERNED: usize = 512;

/// A configured header name as a canonical-case `&'static str` ("x-price" →
/// "X-Price"), or `None` when the name is not a token.
///
/// `Rendered::headers` holds `&'static str` names, so configured names are
/// interned: each distinct name is leaked once, and at most [`MAX_INTERNED`] of them.
pub(crate) fn interned_name(name: &str) -> Option<&'static str> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return None;
    }
    let mut canonical = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        canonical.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&existing) = names.get(canonical.as_str()) {
        return Some(existing);
    }
    if names.len() >= MAX_INTERNED {
        return None;
    }
    let leaked: &'static str = Box::leak(canonical.into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_strips_controls_but_keeps_tab_and_unicode() {
        assert_eq!(value("a\r\nSet-Cookie: x\0\tÿ"), "aSet-Cookie: x\tÿ");
    }

    #[test]
    fn quoted_escapes_quotes_and_backslashes() {
        assert_eq!(quoted(r#"my "realm" \ x"#), r#""my \"realm\" \\ x""#);
        assert_eq!(quoted("a\r\nb"), "\"ab\"");
    }

    #[test]
    fn sf_string_drops_non_ascii() {
        assert_eq!(sf_string("rülé\"1"), r#""rl\"1""#);
    }

    #[test]
    fn interned_names_are_canonical_and_shared() {
        let a = interned_name("x-crawler-PRICE").unwrap();
        let b = interned_name("X-Crawler-Price").unwrap();
        assert_eq!(a, "X-Crawler-Price");
        assert!(std::ptr::eq(a, b));
        assert_eq!(interned_name("bad name"), None);
        assert_eq!(interned_name("bad:name"), None);
        assert_eq!(interned_name(""), None);
    }
}
