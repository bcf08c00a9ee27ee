//! Path normalisation for security decisions: the path as the most resolving
//! origin would see it.
//!
//! Without it `/%61dmin`, `/./admin`, `/x/../admin`, `//admin` and
//! `/x/..%2Fadmin` all reach origins that resolve them to `/admin`, while a
//! rule written for `/admin` never matched. Owns: decoding percent-encoded
//! unreserved characters and `%2F` (RFC 3986 §6.2.2, plus the slash that common
//! servers decode before routing), upper-casing the remaining percent-encodings,
//! merging repeated slashes, and removing dot segments (§5.2.4). The request is
//! forwarded as sent; decisions err on the side of the resolved path.

use std::borrow::Cow;

/// The normalised form of an origin-form path (no query); borrowed when already normal.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    let needs_work =
        path.contains('%') || path.contains("//") || path.split('/').any(|seg| seg == "." || seg == "..");
    if !needs_work {
        return Cow::Borrowed(path);
    }
    Cow::Owned(remove_dot_segments(&decode_unreserved(path)))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` of unreserved characters; other escapes keep their meaning, in upper case.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let value = h << 4 | l;
                if is_unreserved(value) || value == b'/' {
                    out.push(value as char);
                } else {
                    out.push('%');
                    out.push(bytes[i + 1].to_ascii_uppercase() as char);
                    out.push(bytes[i + 2].to_ascii_uppercase() as char);
                }
                i += 3;
                continue;
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

/// RFC 3986 §5.2.4 on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let ends_in_dir = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for seg in path.split('/').skip(1) {
        match seg {
            // An empty segment is a repeated slash: merged, as servers do.
            "." | "" => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if ends_in_dir || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn normal_paths_are_borrowed() {
        assert!(matches!(
            normalize_path("/a/b.html"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert!(matches!(normalize_path("/"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_upper_cased() {
        assert_eq!(normalize_path("/%61dmin"), "/admin");
        assert_eq!(normalize_path("/%61%64%6d%69%6e"), "/admin");
        assert_eq!(normalize_path("/%7euser"), "/~user");
        assert_eq!(normalize_path("/a%2fb"), "/a/b");
        assert_eq!(normalize_path("/a%5cb"), "/a%5Cb");
        assert_eq!(normalize_path("/100%"), "/100%");
        assert_eq!(normalize_path("/%zz"), "/%zz");
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(normalize_path("/./admin"), "/admin");
        assert_eq!(normalize_path("/x/../admin"), "/admin");
        assert_eq!(normalize_path("/%2E/admin"), "/admin");
        assert_eq!(normalize_path("/a/b/../../../c"), "/c");
        assert_eq!(normalize_path("/a/b/.."), "/a/");
        assert_eq!(normalize_path("/a/."), "/a/");
        assert_eq!(normalize_path("/.."), "/");
        assert_eq!(normalize_path("/a//b"), "/a/b");
        assert_eq!(normalize_path("//private/x"), "/private/x");
        assert_eq!(normalize_path("/public/..%2Fprivate/x"), "/private/x");
        assert_eq!(normalize_path("/a/"), "/a/");
        assert_eq!(normalize_path("/%61dmin/"), "/admin/");
        assert_eq!(normalize_path("/a//"), "/a/");
    }
}
