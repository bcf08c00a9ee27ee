//! Path traversal and local file inclusion detection.
//!
//! Owns: recognising directory climbing and sensitive-file targets in a lowercased, decoded
//! value, with backslashes treated as slashes (Windows origins accept both):
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-trav-300` | `../` climbing (and `..\`, `....//` filter-bypass forms) |
//! | `waf-trav-301` | sensitive files: `/etc/passwd`, `/etc/shadow`, `win.ini`, `boot.ini`, `/proc/self/` |
//! | `waf-trav-302` | NUL byte (from `%00`) used to cut a file extension |
//! | `waf-trav-303` | encoding evasions left after one decode (overlong UTF-8, `%2e%2e`) |
//! | `waf-trav-304` | absolute file URLs and Windows drive paths to system folders |
//!
//! Does not own: the once-only percent decoding, which `decode` performs (and which already
//! folds overlong UTF-8 and `%uXXXX`), nor the double-encoding signal it reports.

use crate::find::{ByteSet, Hay};
use crate::Strength;

const SENSITIVE: &[&[u8]] = &[
    b"/etc/passwd",
    b"/etc/shadow",
    b"/etc/group",
    b"/etc/hosts",
    b"/etc/issue",
    b"/etc/motd",
    b"/etc/mysql/",
    b"/etc/httpd/",
    b"/etc/apache2/",
    b"/etc/nginx/",
    b"/proc/self/",
    b"/proc/version",
    b"/var/log/",
    b"win.ini",
    b"boot.ini",
    b"system.ini",
    b"/windows/system32",
    b"/winnt/",
    b"global.asa",
    b"web-inf/web.xml",
    b".htpasswd",
    b"/.ssh/id_rsa",
    b"/.bash_history",
    b"localstart.asp",
    b"/conf/server.xml",
];

/// Looks for traversal in a lowercased, decoded value.
#[cfg(test)]
pub(crate) fn detect(s: &str) -> Option<(&'static str, Strength)> {
    detect_in(s, ByteSet::of(s.as_bytes()))
}

/// [`detect`] given `set`, exactly the bytes of `s` (its gates rely on absence).
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    let raw = s.as_bytes();
    if !set.has_any(b"./\\\0%:") {
        return None;
    }
    if set.has(0) && raw.contains(&0) {
        return Some(("waf-trav-302", Strength::Strong));
    }
    // Fold `\` to `/` without allocating when there is none; the folded value's bytes are
    // covered by `set` plus `/`.
    let mut set = set;
    set.insert(b'/');
    let folded;
    let b: &[u8] = if set.has(b'\\') && raw.contains(&b'\\') {
        folded = raw
            .iter()
            .map(|&c| if c == b'\\' { b'/' } else { c })
            .collect::<Vec<u8>>();
        &folded
    } else {
        raw
    };
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, s: Strength| {
        if best.map_or(true, |b| s < b.1) {
            best = Some((id, s));
        }
    };
    let h = Hay::new(b, set);
    let climbs = count_climbs(&h);
    let sensitive =
        SENSITIVE.iter().any(|n| h.contains(n)) || b.ends_with(b"etc/passwd") || b.ends_with(b"etc/shadow");
    if sensitive {
        note(
            "waf-trav-301",
            if climbs > 0 || b.starts_with(b"/") {
                Strength::Strong
            } else {
                Strength::Medium
            },
        );
    }
    match climbs {
        0 => {}
        1 if b == b".." || b.starts_with(b"../") || b.starts_with(b"/../") => {
            note("waf-trav-300", Strength::Medium)
        }
        1 => note("waf-trav-300", Strength::Weak),
        2 => note("waf-trav-300", Strength::Medium),
        _ => note("waf-trav-300", Strength::Strong),
    }
    if h.contains(b"....//") || h.contains(b"/.../") || b.starts_with(b".../") {
        note("waf-trav-300", Strength::Medium);
    }
    if [
        &b"%2e%2e"[..],
        b"%c0%ae",
        b"%c0%af",
        b"%c1%9c",
        b"%u002e",
        b"%e0%80%af",
        b"..%2f",
        b"..%5c",
        b"%2e./",
        b".%2e/",
    ]
    .iter()
    .any(|n| h.contains(n))
    {
        note("waf-trav-303", Strength::Strong);
    }
    if b.starts_with(b"file:/") || h.contains(b"=file:/") {
        note("waf-trav-304", Strength::Medium);
    }
    if let Some(p) = h.find(b":/") {
        let drive = p >= 1 && b[p - 1].is_ascii_alphabetic() && (p == 1 || !b[p - 2].is_ascii_alphanumeric());
        let rest = &b[p + 2..];
        if drive
            && [
                &b"windows"[..],
                b"winnt",
                b"inetpub",
                b"boot.ini",
                b"users/",
                b"documents and settings",
            ]
            .iter()
            .any(|n| rest.starts_with(n))
        {
            note("waf-trav-304", Strength::Medium);
        }
    }
    best
}

/// Counts `..` path segments (`../`, `/..` at the end, `..;/` Tomcat form).
fn count_climbs(h: &Hay<'_>) -> usize {
    let b = h.bytes;
    let mut n = 0;
    for at in h.find_iter(b"..") {
        let before_ok = at == 0 || matches!(b[at - 1], b'/' | b'=' | b'.' | b';');
        let after = b.get(at + 2).copied();
        let after_ok = matches!(after, None | Some(b'/' | b';' | b'%' | b'.'));
        if before_ok && after_ok {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        detect(s).filter(|h| h.1 != Strength::Weak).map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(rule("../../../../etc/passwd"), Some("waf-trav-301"));
        assert_eq!(rule("..\\..\\..\\windows\\win.ini"), Some("waf-trav-301"));
        assert_eq!(rule("../../../x"), Some("waf-trav-300"));
        assert_eq!(rule("....//....//x"), Some("waf-trav-300"));
        assert_eq!(rule("image.php\0.jpg"), Some("waf-trav-302"));
        assert_eq!(rule("%2e%2e/%2e%2e/"), Some("waf-trav-303"));
        assert_eq!(rule("file:///etc/hosts"), Some("waf-trav-301"));
        assert_eq!(rule("c:/windows/system.ini"), Some("waf-trav-301"));
        assert_eq!(rule("c:\\inetpub\\wwwroot"), Some("waf-trav-304"));
    }

    #[test]
    fn leaves_normal_paths_alone() {
        for ok in [
            "/static/app.v2.js",
            "/docs/v1.2.3/readme",
            "wait... what?",
            "/a/b/c.tar.gz",
            "https://example.com/x",
            "section 1.2..1.4",
            "10:30",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
