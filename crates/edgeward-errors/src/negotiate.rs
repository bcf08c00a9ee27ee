//! Choosing the error body's format from the request's `Accept` header
//! (proactive negotiation, RFC 9110 §12.5.1).
//!
//! Owns parsing `Accept` (leniently: malformed entries are skipped, bad parameters
//! ignored) and picking one of the five formats. It never refuses: when nothing
//! is acceptable the answer is HTML, serving the less preferred format rather than
//! a 406 as the seed advises.

/// A format an error body can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A branded HTML page (`text/html`).
    Html,
    /// RFC 9457 problem details (`application/problem+json`).
    ProblemJson,
    /// The same problem details document, labelled `application/json` for
    /// clients that asked for exactly that.
    Json,
    /// Markdown with YAML front matter (`text/markdown`), for agents.
    Markdown,
    /// A few lines of plain text (`text/plain`).
    Text,
}

impl Format {
    /// Candidates in server preference order (used to break ties).
    const SERVER_ORDER: [Format; 5] = [
        Format::Html,
        Format::ProblemJson,
        Format::Json,
        Format::Markdown,
        Format::Text,
    ];

    /// The `Content-Type` header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::ProblemJson => "application/problem+json",
            Format::Json => "application/json",
            // RFC 7763 §2: the charset parameter is required.
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Text => "text/plain; charset=utf-8",
        }
    }

    /// How specifically `range` (`type`, `subtype`, lower-cased) names this format:
    /// 0 = no match, 1 = `*/*`, 2 = `type/*`, 3 = an alias (`text/x-markdown`),
    /// 4 = the exact media type.
    fn specificity(self, ty: &[u8], sub: &[u8]) -> u8 {
        let (my_ty, my_sub, alias): (&[u8], &[u8], &[u8]) = match self {
            Format::Html => (b"text", b"html", b""),
            Format::ProblemJson => (b"application", b"problem+json", b""),
            Format::Json => (b"application", b"json", b""),
            Format::Markdown => (b"text", b"markdown", b"x-markdown"),
            Format::Text => (b"text", b"plain", b""),
        };
        match (ty, sub) {
            (b"*", b"*") => 1,
            (t, b"*") if t == my_ty => 2,
            (t, s) if t == my_ty && s == my_sub => 4,
            (t, s) if t == my_ty && !alias.is_empty() && s == alias => 3,
            _ => 0,
        }
    }
}

/// One parsed `Accept` entry: a media range (lower-cased) and its weight in thousandths.
struct Range {
    ty: Vec<u8>,
    sub: Vec<u8>,
    q: u16,
}

/// The format to render for a request whose `Accept` value is `accept`.
///
/// Highest q wins; ties go to the more specific match, then to server order
/// (HTML, problem+json, json, markdown, text). A missing header, or one naming nothing we can
/// produce, gives HTML.
pub fn negotiate(accept: Option<&[u8]>) -> Format {
    let Some(accept) = accept else {
        return Format::Html;
    };
    let ranges: Vec<Range> = accept.split(|&b| b == b',').filter_map(parse_range).collect();
    let mut best: Option<(u16, u8, Format)> = None;
    for format in Format::SERVER_ORDER {
        // The most specific matching range decides this format's weight.
        let mut matched: Option<(u8, u16)> = None;
        for r in &ranges {
            let spec = format.specificity(&r.ty, &r.sub);
            if spec == 0 {
                continue;
            }
            matched = match matched {
                Some((s, q)) if s > spec || (s == spec && q >= r.q) => Some((s, q)),
                _ => Some((spec, r.q)),
            };
        }
        let Some((spec, q)) = matched else { continue };
        if q == 0 {
            continue;
        }
        // Strictly greater: an equal (q, specificity) keeps the earlier, server-preferred format.
        match best {
            Some((bq, bs, _)) if (q, spec) <= (bq, bs) => {}
            _ => best = Some((q, spec, format)),
        }
    }
    best.map_or(Format::Html, |(_, _, f)| f)
}

/// Parses one comma-separated `Accept` element; `None` when it is not a media range.
fn parse_range(entry: &[u8]) -> Option<Range> {
    let mut parts = entry.split(|&b| b == b';');
    let range = trim(parts.next()?);
    let slash = range.iter().position(|&b| b == b'/')?;
    let (ty, sub) = (&range[..slash], &range[slash + 1..]);
    if !is_token(ty) || !is_token(sub) || (ty == b"*" && sub != b"*") {
        return None;
    }
    let mut q = 1000;
    for param in parts {
        let param = trim(param);
        let Some(eq) = param.iter().position(|&b| b == b'=') else {
            continue;
        };
        if trim(&param[..eq]).eq_ignore_ascii_case(b"q") {
            if let Some(v) = parse_qvalue(trim(&param[eq + 1..])) {
                q = v;
            }
            // Parameters after q are accept-extensions, which we ignore.
            break;
        }
    }
    Some(Range {
        ty: ty.to_ascii_lowercase(),
        sub: sub.to_ascii_lowercase(),
        q,
    })
}

/// An RFC 9110 qvalue (`0[.ddd]` or `1[.000]`) in thousandths.
fn parse_qvalue(v: &[u8]) -> Option<u16> {
    let (&first, rest) = v.split_first()?;
    let frac = match rest {
        [] => &[][..],
        [b'.', digits @ ..] if digits.len() <= 3 => digits,
        _ => return None,
    };
    if !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for i in 0..3 {
        thousandths = thousandths * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    match first {
        b'0' => Some(thousandths),
        b'1' if thousandths == 0 => Some(1000),
        _ => None,
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ows(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::{negotiate, parse_qvalue, Format};

    fn n(accept: &str) -> Format {
        negotiate(Some(accept.as_bytes()))
    }

    #[test]
    fn missing_or_empty_accept_gives_html() {
        assert_eq!(negotiate(None), Format::Html);
        assert_eq!(n(""), Format::Html);
        assert_eq!(n("  ,  , "), Format::Html);
    }

    #[test]
    fn exact_types_and_aliases() {
        assert_eq!(n("text/html"), Format::Html);
        assert_eq!(n("application/problem+json"), Format::ProblemJson);
        assert_eq!(n("application/json"), Format::Json);
        assert_eq!(n("text/markdown"), Format::Markdown);
        assert_eq!(n("text/x-markdown"), Format::Markdown);
        assert_eq!(n("text/plain"), Format::Text);
        assert_eq!(n("TEXT/Plain"), Format::Text);
    }

    #[test]
    fn wildcards() {
        assert_eq!(n("*/*"), Format::Html);
        assert_eq!(n("text/*"), Format::Html);
        assert_eq!(n("application/*"), Format::ProblemJson);
        assert_eq!(n("text/plain, */*;q=0.1"), Format::Text);
        // Browsers' usual header.
        assert_eq!(
            n("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"),
            Format::Html
        );
        // curl's default.
        assert_eq!(n("*/*"), Format::Html);
    }

    #[test]
    fn highest_q_wins() {
        assert_eq!(n("text/html;q=0.5, text/plain"), Format::Text);
        assert_eq!(
            n("text/html;q=0.5, application/json;q=0.9, text/plain;q=0.7"),
            Format::Json
        );
        assert_eq!(n("text/markdown, application/json;q=0.9"), Format::Markdown);
        assert_eq!(n("application/json, text/markdown;q=0.9"), Format::Json);
        assert_eq!(
            n("text/plain; charset=utf-8; q=0.5, application/json;q=0.4"),
            Format::Text
        );
        assert_eq!(n("*/*;q=0.2, text/plain;q=0.3"), Format::Text);
    }

    #[test]
    fn q_zero_excludes_even_under_a_wildcard() {
        assert_eq!(n("text/html;q=0, */*"), Format::ProblemJson);
        assert_eq!(n("text/html;q=0, application/*;q=0, */*"), Format::Markdown);
        assert_eq!(
            n("text/html;q=0, application/*;q=0, text/markdown;q=0, */*"),
            Format::Text
        );
        assert_eq!(n("*/*;q=0, text/plain;q=0.1"), Format::Text);
        assert_eq!(n("application/json;q=0.000, text/*;q=0.001"), Format::Html);
        // The exact type's q=0 outranks the alias.
        assert_eq!(
            n("text/markdown;q=0, text/x-markdown, text/plain;q=0.5"),
            Format::Text
        );
        // problem+json refused, plain json still wanted: the mirror is served.
        assert_eq!(
            n("application/problem+json;q=0, application/json, text/plain;q=0.5"),
            Format::Json
        );
    }

    #[test]
    fn ties_prefer_specific_then_server_order() {
        assert_eq!(n("text/*;q=0.8, application/json;q=0.8"), Format::Json);
        assert_eq!(n("text/html;q=0.8, application/json;q=0.8"), Format::Html);
        assert_eq!(n("text/plain, application/problem+json"), Format::ProblemJson);
        assert_eq!(n("text/plain, application/json"), Format::Json);
        assert_eq!(
            n("application/json, application/problem+json"),
            Format::ProblemJson
        );
        assert_eq!(n("text/plain, text/html"), Format::Html);
        assert_eq!(n("text/plain, */*"), Format::Text);
    }

    #[test]
    fn nothing_acceptable_gives_html() {
        assert_eq!(n("image/png"), Format::Html);
        assert_eq!(
            n("text/html;q=0, application/json;q=0, text/plain;q=0"),
            Format::Html
        );
        assert_eq!(n("application/yaml, image/*"), Format::Html);
        assert_eq!(n("*/*;q=0"), Format::Html);
    }

    #[test]
    fn garbage_is_skipped_leniently() {
        assert_eq!(n("garbage, ;;, /, */json, text/plain;q=abc"), Format::Text);
        assert_eq!(n("text/plain;q=2, text/html;q=0.9"), Format::Text);
        assert_eq!(n("text/plain;foo;q=0.1, application/json;q=0.2"), Format::Json);
        assert_eq!(n("text/html;q=0.5;level=1, text/plain;q=0.6"), Format::Text);
        assert_eq!(negotiate(Some(b"\xff\xfe, application/json")), Format::Json);
        assert_eq!(n("text /plain, application/json;q=0.5"), Format::Json);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue(b"0"), Some(0));
        assert_eq!(parse_qvalue(b"0."), Some(0));
        assert_eq!(parse_qvalue(b"0.5"), Some(500));
        assert_eq!(parse_qvalue(b"0.123"), Some(123));
        assert_eq!(parse_qvalue(b"1"), Some(1000));
        assert_eq!(parse_qvalue(b"1.000"), Some(1000));
        assert_eq!(parse_qvalue(b"1.001"), None);
        assert_eq!(parse_qvalue(b"0.1234"), None);
        assert_eq!(parse_qvalue(b"2"), None);
        assert_eq!(parse_qvalue(b".5"), None);
        assert_eq!(parse_qvalue(b""), None);
        assert_eq!(parse_qvalue(b"0.5x"), None);
    }
}
