//! Server-side includes and Edge Side Includes.
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-ssi-1100` | SSI directives `<!--#exec cmd=…-->`, `<!--#include virtual=…-->`, `#echo`, `#printenv` … |
//! | `waf-ssi-1101` | ESI tags `<esi:include src=…>`, `<esi:vars>` |
//!
//! Does not own: other markup (`xss`).

use crate::find::{ByteSet, Hay};
use crate::Strength;

const DIRECTIVES: &[&[u8]] = &[
    b"exec",
    b"include",
    b"echo",
    b"config",
    b"printenv",
    b"set",
    b"fsize",
    b"flastmod",
    b"if",
    b"elif",
];

/// Looks for SSI / ESI in a lowercased, decoded value.
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    if !set.has(b'<') {
        return None;
    }
    let b = s.as_bytes();
    let h = Hay::new(b, set);
    for at in h.find_iter(b"<!--") {
        let rest = b[at + 4..].trim_ascii_start();
        if let Some(d) = rest.strip_prefix(b"#") {
            let d = d.trim_ascii_start();
            if DIRECTIVES.iter().any(|x| d.starts_with(x)) {
                return Some(("waf-ssi-1100", Strength::Strong));
            }
        }
    }
    if h.contains(b"<esi:") || h.contains(b"</esi:") {
        return Some(("waf-ssi-1101", Strength::Strong));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        let l = s.to_ascii_lowercase();
        detect_in(&l, ByteSet::of(l.as_bytes())).map(|h| h.0)
    }

    #[test]
    fn detects_and_leaves_comments_alone() {
        assert_eq!(rule("<!--#exec cmd=\"ls\" -->"), Some("waf-ssi-1100"));
        assert_eq!(
            rule("<!--# include virtual=\"/etc/passwd\"-->"),
            Some("waf-ssi-1100")
        );
        assert_eq!(rule("<esi:include src=\"http://x/\"/>"), Some("waf-ssi-1101"));
        assert_eq!(rule("<!-- a comment #1 -->"), None);
        assert_eq!(rule("issue #include guards"), None);
    }
}
