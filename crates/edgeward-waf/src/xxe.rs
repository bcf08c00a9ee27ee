//! XML external entities and DTD abuse, in any value (an XML document posted in a parameter)
//! and in XML bodies (whose DOCTYPE `body::xml` hands here).
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-xxe-1500` | external entities: `<!ENTITY x SYSTEM "file:///…">`, `PUBLIC`, parameter entities `<!ENTITY % x`, an external DTD |
//! | `waf-xxe-1501` | a DOCTYPE with an internal subset declaring entities (billion laughs when several) |
//! | `waf-xxe-1502` | XInclude (`xmlns:xi`, `<xi:include`) and XSLT file/extension access |
//!
//! Does not own: XML parsing (`body::xml`, no entity is ever expanded).

use crate::find::{ByteSet, Hay};
use crate::Strength;

/// Looks for XXE in a lowercased, decoded value.
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    if !set.has(b'<') {
        return None;
    }
    let b = s.as_bytes();
    let h = Hay::new(b, set);
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, st: Strength| {
        if best.map_or(true, |b| st < b.1) {
            best = Some((id, st));
        }
    };
    let mut entities = 0;
    for at in h.find_iter(b"<!entity") {
        entities += 1;
        let decl = &b[at..b.len().min(at + 512)];
        let decl = &decl[..decl.iter().position(|&c| c == b'>').unwrap_or(decl.len())];
        let external = crate::find::contains(decl, b" system") || crate::find::contains(decl, b" public");
        let parameter = decl[8..].trim_ascii_start().starts_with(b"%");
        note(
            "waf-xxe-1500",
            if external || parameter {
                Strength::Strong
            } else {
                Strength::Medium
            },
        );
    }
    for at in h.find_iter(b"<!doctype") {
        let decl = &b[at..b.len().min(at + 512)];
        let head = &decl[..decl
            .iter()
            .position(|&c| c == b'[' || c == b'>')
            .unwrap_or(decl.len())];
        // The W3C's own public identifiers (XHTML documents) name no attacker's file.
        let w3c = crate::find::contains(head, b"\"-//w3c//");
        if !w3c && (crate::find::contains(head, b" system") || crate::find::contains(head, b" public")) {
            note("waf-xxe-1500", Strength::Strong);
        } else if decl.contains(&b'[') {
            note(
                "waf-xxe-1501",
                if h.contains(b"<!entity") {
                    Strength::Strong
                } else {
                    Strength::Medium
                },
            );
        }
    }
    if entities >= 3 {
        note("waf-xxe-1501", Strength::Strong);
    }
    if h.contains(b"<xi:include") || h.contains(b"w3.org/2001/xinclude") {
        note("waf-xxe-1502", Strength::Strong);
    }
    if h.contains(b"<xsl:") || h.contains(b"xsl:stylesheet") {
        let file = [
            &b"document("[..],
            b"unparsed-text(",
            b"php:function",
            b"system-property(",
            b"java:",
            b"<xsl:include",
            b"<xsl:import",
        ];
        if file.iter().any(|n| h.contains(n)) {
            note("waf-xxe-1502", Strength::Strong);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        let l = s.to_ascii_lowercase();
        detect_in(&l, ByteSet::of(l.as_bytes()))
            .filter(|h| h.1 != Strength::Weak)
            .map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(rule("<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><foo>&xxe;</foo>"), Some("waf-xxe-1500"));
        assert_eq!(
            rule("<!DOCTYPE x [<!ENTITY % p SYSTEM \"http://a/b.dtd\"> %p;]>"),
            Some("waf-xxe-1500")
        );
        assert_eq!(rule("<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\"><!ENTITY lol3 \"&lol2;&lol2;\">]>"), Some("waf-xxe-1501"));
        assert_eq!(rule("<foo xmlns:xi=\"http://www.w3.org/2001/XInclude\"><xi:include parse=\"text\" href=\"file:///etc/passwd\"/></foo>"), Some("waf-xxe-1502"));
        assert_eq!(
            rule("<!DOCTYPE html SYSTEM \"http://evil/x.dtd\">"),
            Some("waf-xxe-1500")
        );
    }

    #[test]
    fn leaves_documents_alone() {
        for ok in [
            "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">",
            "<!doctype html><html></html>", "<?xml version=\"1.0\"?><a>1</a>", "<p>entity framework</p>"] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
