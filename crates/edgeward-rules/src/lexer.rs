//! The lexer: turns rule source text into tokens, each carrying its 1-based column.
//!
//! It owns the surface syntax of literals (strings with `\"` / `\\` escapes, raw strings
//! `r"…"` / `r#"…"#`, integers, IP addresses and CIDRs) and of operators in both their word
//! and symbol forms. It knows nothing about fields, types or precedence.

use crate::CompileError;
use std::net::IpAddr;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
    In,
}

impl CmpOp {
    /// The word form, used in error messages.
    pub(crate) fn word(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Contains => "contains",
            CmpOp::Matches => "matches",
            CmpOp::In => "in",
        }
    }
}

/// An IP address with a prefix length; a plain address has the full prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Int(u64),
    Ip(Cidr),
    Cmp(CmpOp),
    And,
    Or,
    Xor,
    Not,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("\"{s}\""),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Int(n) => format!("integer {n}"),
            Tok::Ip(c) => format!("address {}", c.addr),
            Tok::Cmp(op) => format!("operator \"{}\"", op.word()),
            Tok::And => "\"and\"".into(),
            Tok::Or => "\"or\"".into(),
            Tok::Xor => "\"xor\"".into(),
            Tok::Not => "\"not\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Eof => "end of expression".into(),
        }
    }
}

/// A token and the 1-based column of its first character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`] at the column after the last character.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, CompileError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two = |a: char, b: char| c == a && chars.get(i + 1) == Some(&b);
        let (tok, len) = if two('=', '=') {
            (Tok::Cmp(CmpOp::Eq), 2)
        } else if two('!', '=') {
            (Tok::Cmp(CmpOp::Ne), 2)
        } else if two('<', '=') {
            (Tok::Cmp(CmpOp::Le), 2)
        } else if two('>', '=') {
            (Tok::Cmp(CmpOp::Ge), 2)
        } else if two('&', '&') {
            (Tok::And, 2)
        } else if two('|', '|') {
            (Tok::Or, 2)
        } else if two('^', '^') {
            (Tok::Xor, 2)
        } else if c == 'r' && matches!(chars.get(i + 1), Some('"' | '#')) {
            let (s, end) = raw_string(&chars, i)?;
            (Tok::Str(s), end - i)
        } else {
            match c {
                '<' => (Tok::Cmp(CmpOp::Lt), 1),
                '>' => (Tok::Cmp(CmpOp::Gt), 1),
                '~' => (Tok::Cmp(CmpOp::Matches), 1),
                '!' => (Tok::Not, 1),
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                '{' => (Tok::LBrace, 1),
                '}' => (Tok::RBrace, 1),
                '[' => (Tok::LBracket, 1),
                ']' => (Tok::RBracket, 1),
                ',' => (Tok::Comma, 1),
                '"' => {
                    let (s, end) = quoted_string(&chars, i)?;
                    (Tok::Str(s), end - i)
                }
                c if is_word_char(c) => {
                    let end = (i..chars.len())
                        .find(|&j| !is_word_char(chars[j]))
                        .unwrap_or(chars.len());
                    let word: String = chars[i..end].iter().collect();
                    (word_token(&word, col)?, end - i)
                }
                '=' => return Err(err(col, "unexpected \"=\"; equality is \"eq\" or \"==\"")),
                '&' => return Err(err(col, "unexpected \"&\"; logical and is \"and\" or \"&&\"")),
                '|' => return Err(err(col, "unexpected \"|\"; logical or is \"or\" or \"||\"")),
                other => return Err(err(col, format!("unexpected character {other:?}"))),
            }
        };
        out.push(Token { tok, col });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        col: chars.len() + 1,
    });
    Ok(out)
}

fn err(column: usize, message: impl Into<String>) -> CompileError {
    CompileError {
        column,
        message: message.into(),
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/')
}

/// Classifies a run of word characters: keyword, identifier, integer, IP address or CIDR.
fn word_token(word: &str, col: usize) -> Result<Tok, CompileError> {
    let keyword = match word {
        "and" => Some(Tok::And),
        "or" => Some(Tok::Or),
        "xor" => Some(Tok::Xor),
        "not" => Some(Tok::Not),
        "eq" => Some(Tok::Cmp(CmpOp::Eq)),
        "ne" => Some(Tok::Cmp(CmpOp::Ne)),
        "lt" => Some(Tok::Cmp(CmpOp::Lt)),
        "le" => Some(Tok::Cmp(CmpOp::Le)),
        "gt" => Some(Tok::Cmp(CmpOp::Gt)),
        "ge" => Some(Tok::Cmp(CmpOp::Ge)),
        "contains" => Some(Tok::Cmp(CmpOp::Contains)),
        "matches" => Some(Tok::Cmp(CmpOp::Matches)),
        "in" => Some(Tok::Cmp(CmpOp::In)),
        _ => None,
    };
    if let Some(tok) = keyword {
        return Ok(tok);
    }
    let first = word.chars().next().unwrap_or(' ');
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return word
            .parse()
            .map(Tok::Int)
            .map_err(|_| err(col, format!("integer {word} is out of range")));
    }
    if first.is_ascii_digit() || word.contains(':') {
        return parse_cidr(word)
            .map(Tok::Ip)
            .ok_or_else(|| err(col, format!("invalid IP address or CIDR \"{word}\"")));
    }
    if (first.is_ascii_alphabetic() || first == '_') && !word.contains('/') {
        return Ok(Tok::Ident(word.to_string()));
    }
    Err(err(col, format!("unexpected \"{word}\"")))
}

/// Parses `addr` or `addr/prefix`, clearing host bits below the prefix.
fn parse_cidr(word: &str) -> Option<Cidr> {
    let (addr, prefix) = match word.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (word, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
        Some(_) => return None,
        None => max,
    };
    (prefix <= max).then_some(Cidr { addr, prefix })
}

/// A `"…"` string starting at `start`; returns its value and the index after the closing quote.
fn quoted_string(chars: &[char], start: usize) -> Result<(String, usize), CompileError> {
    let mut s = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((s, i + 1)),
            '\\' => match chars.get(i + 1) {
                Some(&c @ ('"' | '\\')) => {
                    s.push(c);
                    i += 2;
                }
                Some(c) => {
                    return Err(err(
                        i + 1,
                        format!("invalid escape \"\\{c}\"; only \\\" and \\\\ are allowed (raw strings r\"…\" take backslashes as they are)"),
                    ))
                }
                None => break,
            },
            c => {
                s.push(c);
                i += 1;
            }
        }
    }
    Err(err(start + 1, "unterminated string"))
}

/// A raw string `r"…"` or `r#"…"#` (any number of `#`) starting at `start`.
fn raw_string(chars: &[char], start: usize) -> Result<(String, usize), CompileError> {
    let hashes = chars[start + 1..].iter().take_while(|&&c| c == '#').count();
    let open = start + 1 + hashes;
    if chars.get(open) != Some(&'"') {
        return Err(err(start + 1, "a raw string starts with r\" or r#\""));
    }
    let mut i = open + 1;
    while i < chars.len() {
        if chars[i] == '"'
            && chars.len() >= i + 1 + hashes
            && chars[i + 1..i + 1 + hashes].iter().all(|&c| c == '#')
        {
            return Ok((chars[open + 1..i].iter().collect(), i + 1 + hashes));
        }
        i += 1;
    }
    Err(err(start + 1, "unterminated raw string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn symbols_and_words_lex_to_the_same_operators() {
        assert_eq!(
            toks("== eq"),
            [Tok::Cmp(CmpOp::Eq), Tok::Cmp(CmpOp::Eq), Tok::Eof]
        );
        assert_eq!(
            toks("&& || ! ^^"),
            [Tok::And, Tok::Or, Tok::Not, Tok::Xor, Tok::Eof]
        );
        assert_eq!(
            toks("<= < >= > ~ !="),
            [
                Tok::Cmp(CmpOp::Le),
                Tok::Cmp(CmpOp::Lt),
                Tok::Cmp(CmpOp::Ge),
                Tok::Cmp(CmpOp::Gt),
                Tok::Cmp(CmpOp::Matches),
                Tok::Cmp(CmpOp::Ne),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn strings_escapes_and_raw_strings() {
        assert_eq!(toks(r#""a\"b\\c""#)[0], Tok::Str(r#"a"b\c"#.into()));
        assert_eq!(toks(r#"r"a\d+""#)[0], Tok::Str(r"a\d+".into()));
        assert_eq!(toks(r###"r#"say "hi""#"###)[0], Tok::Str(r#"say "hi""#.into()));
    }

    #[test]
    fn addresses_integers_and_identifiers() {
        let t = toks("10.0.0.0/8 2001:db8::/32 ::1 fe80::1 42 http.host");
        assert!(matches!(t[0], Tok::Ip(Cidr { prefix: 8, .. })));
        assert!(matches!(t[1], Tok::Ip(Cidr { prefix: 32, .. })));
        assert!(matches!(t[2], Tok::Ip(Cidr { prefix: 128, .. })));
        assert!(matches!(t[3], Tok::Ip(Cidr { prefix: 128, .. })));
        assert_eq!(t[4], Tok::Int(42));
        assert_eq!(t[5], Tok::Ident("http.host".into()));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let t = lex("\"é\" eq").unwrap();
        assert_eq!(t[1].col, 5);
    }
}
