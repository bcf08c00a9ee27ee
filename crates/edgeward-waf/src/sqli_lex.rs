//! The SQL lexer behind the SQL injection detector.
//!
//! Owns: splitting a lowercased value into SQL tokens (literals, numbers, words, operators,
//! comments), optionally starting inside a `'…'` or `"…"` literal, with bounded work
//! (at most `MAX_TOKENS` tokens). Does not own: deciding what a token sequence means
//! (that is `sqli`).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string literal; `closed` when its terminating quote was seen.
    Str {
        closed: bool,
    },
    Num,
    Word,
    /// `and`, `or`, `xor`, `&&`, `||`.
    Logic,
    /// `=`, `<`, `>`, `!=`, `<>`, `<=`, `>=`, `like`, `rlike`, `regexp`, `is`.
    Cmp,
    Op,
    LParen,
    RParen,
    Comma,
    Semi,
    Comment,
    /// `@@version`, `@var`.
    Var,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Tok<'a> {
    pub kind: Kind,
    pub text: &'a str,
}

/// Tokens examined per context; bounds work on long values.
const MAX_TOKENS: usize = 192;

pub(crate) fn tokenize<'a>(s: &'a str, ctx: Option<u8>, out: &mut Vec<Tok<'a>>) {
    out.clear();
    let b = s.as_bytes();
    let mut i = 0;
    if let Some(q) = ctx {
        let (end, closed) = scan_string(b, 0, q);
        out.push(Tok {
            kind: Kind::Str { closed },
            text: &s[..end.min(b.len())],
        });
        i = if closed { end + 1 } else { b.len() };
    }
    while i < b.len() && out.len() < MAX_TOKENS {
        let c = b[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0 => {
                i += 1;
                continue;
            }
            b'\'' | b'"' | b'`' => {
                let (end, closed) = scan_string(b, i + 1, c);
                i = if closed { end + 1 } else { b.len() };
                out.push(Tok {
                    kind: Kind::Str { closed },
                    text: &s[start + 1..end.min(b.len())],
                });
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                if b.get(i + 2) == Some(&b'!') {
                    // MySQL executable comment: its body is SQL, keep tokenizing inside.
                    i += 3;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    continue;
                }
                match crate::find::find(&b[i + 2..], b"*/") {
                    // A closed inline comment is whitespace to the SQL parser (`and/**/2=2`).
                    Some(e) => {
                        i += 2 + e + 2;
                        continue;
                    }
                    None => {
                        i = b.len();
                        Kind::Comment
                    }
                }
            }
            b'*' if b.get(i + 1) == Some(&b'/') => {
                i += 2;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b.len();
                Kind::Comment
            }
            b'#' => {
                i = b.len();
                Kind::Comment
            }
            b'0'..=b'9' => {
                i = number_end(b, i);
                Kind::Num
            }
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                Kind::Num
            }
            b'@' => {
                i += 1;
                while i < b.len() && (is_word_byte(b[i]) || b[i] == b'@') {
                    i += 1;
                }
                Kind::Var
            }
            c if is_word_byte(c) && !c.is_ascii_digit() => {
                while i < b.len() && (is_word_byte(b[i]) || b[i] == b'.') {
                    i += 1;
                }
                word_kind(&s[start..i])
            }
            b'(' => one(&mut i, Kind::LParen),
            b')' => one(&mut i, Kind::RParen),
            b',' => one(&mut i, Kind::Comma),
            b';' => one(&mut i, Kind::Semi),
            b'|' | b'&' if b.get(i + 1) == Some(&c) => {
                i += 2;
                Kind::Logic
            }
            b'=' | b'<' | b'>' | b'!' => {
                i += 1;
                while i < b.len() && matches!(b[i], b'=' | b'<' | b'>') {
                    i += 1;
                }
                if &s[start..i] == "!" {
                    Kind::Op
                } else {
                    Kind::Cmp
                }
            }
            _ => {
                // Any other byte (punctuation, non-ASCII) is a plain operator/separator.
                i += 1;
                while i < b.len() && !b[i].is_ascii() {
                    i += 1;
                }
                Kind::Op
            }
        };
        out.push(Tok {
            kind,
            text: &s[start..i],
        });
    }
}

/// The end of a numeric literal as MySQL reads it: `0x1f`, `0b101`, `12`, `1.5`, `1e1`,
/// `2.e-3`. A letter right after it starts the next token (`1e1and` is `1e1` `and`).
fn number_end(b: &[u8], mut i: usize) -> usize {
    if b[i] == b'0'
        && matches!(b.get(i + 1), Some(b'x' | b'b'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        i += 2;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if b.get(i) == Some(&b'e') {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

fn one(i: &mut usize, k: Kind) -> Kind {
    *i += 1;
    k
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Scans a string literal body from `from`; returns (index of closing quote or len, closed).
/// Doubled quotes and backslash escapes stay inside the literal, as in MySQL.
fn scan_string(b: &[u8], from: usize, q: u8) -> (usize, bool) {
    let mut j = from;
    while j < b.len() {
        if b[j] == b'\\' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return (j, true);
        }
        j += 1;
    }
    (b.len(), false)
}

fn word_kind(w: &str) -> Kind {
    match w {
        "and" | "or" | "xor" | "div" => Kind::Logic,
        "like" | "rlike" | "regexp" | "is" | "between" | "sounds" => Kind::Cmp,
        _ => Kind::Word,
    }
}
