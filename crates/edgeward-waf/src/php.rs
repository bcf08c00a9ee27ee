//! PHP code injection: open tags, stream wrappers, code-execution functions, superglobals,
//! serialized objects.
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-php-800` | `<?php` / `<?=` open tags |
//! | `waf-php-801` | stream wrappers `php://`, `phar://`, `expect://`, `zip://`, `data://` |
//! | `waf-php-802` | calls of code-execution functions (`shell_exec(`, `base64_decode(`, `system('…')`) |
//! | `waf-php-803` | serialized objects `O:8:"stdClass":1:{…}` |
//! | `waf-php-805` | superglobals `$_GET[`, `$_SERVER[`, `$GLOBALS` |
//!
//! `waf-php-804` (uploads named `*.php`) is the multipart walker's, in `body::multipart`.
//! Does not own: shell command syntax (`cmdi`) or `file://` paths (`traversal`).

use crate::find::{ByteSet, Hay};
use crate::Strength;

/// Functions whose call is PHP code execution or its usual obfuscation, whatever the argument.
const STRONG_FUNCS: &[&str] = &[
    "phpinfo",
    "shell_exec",
    "passthru",
    "proc_open",
    "popen",
    "pcntl_exec",
    "base64_decode",
    "gzinflate",
    "gzuncompress",
    "str_rot13",
    "create_function",
    "call_user_func",
    "call_user_func_array",
    "assert",
    "file_put_contents",
    "file_get_contents",
    "fsockopen",
    "highlight_file",
    "show_source",
    "php_uname",
    "move_uploaded_file",
    "preg_replace",
    "posix_getpwuid",
    "get_current_user",
    "getcwd",
    "readfile",
    "include_once",
    "require_once",
    "var_dump",
    "print_r",
    "fputs",
    "fwrite",
    "fopen",
    "unlink",
    "symlink",
    "ini_set",
    "escapeshellcmd",
    "escapeshellarg",
    "array_map",
    "usort",
    "scandir",
    "get_defined_vars",
    "extract",
    "parse_str",
    "putenv",
    "mail",
    "chr",
    "ord",
    "hex2bin",
];

/// Functions whose names are also words: they need a PHP-shaped argument.
const WORDY_FUNCS: &[&str] = &[
    "system", "exec", "eval", "include", "require", "echo", "print", "die", "file",
];

const WRAPPERS: &[(&[u8], Strength)] = &[
    (b"php://", Strength::Strong),
    (b"phar://", Strength::Strong),
    (b"expect://", Strength::Strong),
    (b"zip://", Strength::Medium),
    (b"glob://", Strength::Medium),
    (b"compress.zlib://", Strength::Strong),
    (b"compress.bzip2://", Strength::Strong),
    (b"data://text/plain", Strength::Strong),
    (b"data:text/plain;base64,pd9", Strength::Strong),
];

const SUPERGLOBALS: &[&[u8]] = &[
    b"$_get",
    b"$_post",
    b"$_request",
    b"$_cookie",
    b"$_server",
    b"$_files",
    b"$_env",
    b"$_session",
    b"$globals",
];

/// Looks for PHP code injection in a lowercased, decoded value.
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    if !set.has_any(b"<(:$") {
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
    if h.contains(b"<?php") {
        note("waf-php-800", Strength::Strong);
    }
    for at in h.find_iter(b"<?=") {
        let next = b[at + 3..].trim_ascii_start().first().copied();
        if matches!(next, Some(b'$' | b'`' | b'\'' | b'"') | Some(b'a'..=b'z')) {
            note("waf-php-800", Strength::Medium);
        }
    }
    for (w, st) in WRAPPERS {
        if h.contains(w) {
            note("waf-php-801", *st);
        }
    }
    if set.has(b'(') {
        for at in h.find_iter(b"(") {
            let name = word_before(b, at);
            if name.is_empty() {
                continue;
            }
            let arg = b[at + 1..].trim_ascii_start();
            let phpish = matches!(arg.first(), Some(b'$' | b'\'' | b'"' | b')' | b'`'))
                || arg
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count()
                    > 2
                    && arg.iter().find(|c| !(c.is_ascii_alphanumeric() || **c == b'_')) == Some(&b'(');
            if STRONG_FUNCS.contains(&name) && (phpish || at + 1 == b.len()) {
                note(
                    "waf-php-802",
                    if name.len() > 4 {
                        Strength::Strong
                    } else {
                        Strength::Medium
                    },
                );
            } else if WORDY_FUNCS.contains(&name) && phpish && !arg.starts_with(b")") {
                note("waf-php-802", Strength::Medium);
            }
        }
    }
    if set.has(b'$') {
        for g in SUPERGLOBALS {
            for at in h.find_iter(g) {
                let next = b.get(at + g.len()).copied();
                if matches!(next, Some(b'[' | b'{' | b')' | b';' | b'.' | b',')) {
                    note("waf-php-805", Strength::Medium);
                } else if next.is_none() || next == Some(b' ') {
                    note("waf-php-805", Strength::Weak);
                }
            }
        }
    }
    if set.has(b':') && set.has(b'"') && serialized_object(b) {
        note("waf-php-803", Strength::Medium);
    }
    best
}

/// The identifier ending right before `at` (`shell_exec` in `shell_exec(`), spaces allowed.
fn word_before(b: &[u8], at: usize) -> &str {
    let mut end = at;
    while end > 0 && b[end - 1] == b' ' {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
        start -= 1;
    }
    std::str::from_utf8(&b[start..end]).unwrap_or_default()
}

/// `o:<digits>:"<class>":<digits>:{` (also `c:` custom-serialized objects).
fn serialized_object(b: &[u8]) -> bool {
    let mut i = 0;
    while i + 4 < b.len() {
        if matches!(b[i], b'o' | b'c') && b[i + 1] == b':' && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i + 2;
            let d = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > d && b[j..].starts_with(b":\"") {
                if let Some(q) = b[j + 2..].iter().position(|&c| c == b'"') {
                    let after = &b[j + 2 + q + 1..];
                    if after.starts_with(b":")
                        && after[1..].iter().find(|c| !c.is_ascii_digit()) == Some(&b':')
                    {
                        return true;
                    }
                }
            }
        }
        i += 1;
    }
    false
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
        assert_eq!(rule("<?php system($_GET['c']); ?>"), Some("waf-php-800"));
        assert_eq!(
            rule("php://filter/convert.base64-encode/resource=index.php"),
            Some("waf-php-801")
        );
        assert_eq!(rule("phpinfo()"), Some("waf-php-802"));
        assert_eq!(rule("system('id')"), Some("waf-php-802"));
        assert_eq!(rule("eval(base64_decode('ZWNobyAx'))"), Some("waf-php-802"));
        assert_eq!(rule("O:8:\"stdClass\":1:{s:1:\"a\";i:1;}"), Some("waf-php-803"));
        assert_eq!(rule("${@print($_SERVER['DOCUMENT_ROOT'])}"), Some("waf-php-802"));
    }

    #[test]
    fn leaves_prose_alone() {
        for ok in [
            "the operating system(s) we support",
            "print (the page)",
            "include (optional) fields",
            "ratio 1:2",
            "price $5 (approx)",
            "file (pdf)",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
