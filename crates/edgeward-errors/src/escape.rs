//! HTML escaping for text interpolated into error pages and templates.
//!
//! Owns escaping only; it does not know which text is trusted.

/// Appends `s` to `out` with `& < > " '` replaced by character references, so the
/// text is safe both in element content and in quoted attribute values.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// `s` HTML-escaped (see [`push_escaped`]).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_all_five_specials() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn leaves_plain_and_unicode_text_alone() {
        assert_eq!(escape("Ray ID: abc §2.2 ü"), "Ray ID: abc §2.2 ü");
        assert_eq!(escape(""), "");
    }
}
