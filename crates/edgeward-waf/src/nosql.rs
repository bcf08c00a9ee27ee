//! NoSQL (MongoDB) injection: query operators smuggled in parameter names or JSON keys, and
//! JavaScript injected into `$where` / `mapReduce` strings.
//!
//! | rule | family |
//! | --- | --- |
//! | `waf-nosql-1200` | operators: `user[$ne]=`, a JSON key `"$gt"`, `{"$where": …}` |
//! | `waf-nosql-1201` | JavaScript in a query: `';return true;var a='`, `this.password.match(`, `db.users.find(` |
//!
//! Every signature holds one of the gate bytes `$ ' " ; | (`, so the gate skips no match.
//! Does not own: SQL (`sqli`) or server-side JavaScript outside a query.

use crate::find::{ByteSet, Hay};
use crate::Strength;

const OPERATORS: &[&str] = &[
    "ne",
    "eq",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "nin",
    "regex",
    "where",
    "exists",
    "or",
    "and",
    "nor",
    "not",
    "expr",
    "elemmatch",
    "all",
    "size",
    "type",
    "mod",
    "text",
    "function",
    "accumulator",
    "lookup",
    "jsonschema",
    "options",
];

const JS: &[(&[u8], Strength)] = &[
    (b"db.getcollection(", Strength::Strong),
    (b"db.getsiblingdb(", Strength::Strong),
    (b"db.dropdatabase(", Strength::Strong),
    (b"db.users.find(", Strength::Strong),
    (b"mapreduce(", Strength::Medium),
    (b"tojson(", Strength::Medium),
    (b"sleep(", Strength::Weak),
    (b"while(true)", Strength::Strong),
    (b"while (true)", Strength::Strong),
    (b"return true", Strength::Weak),
    (b"return 1", Strength::Weak),
    (b"function()", Strength::Weak),
];

/// Looks for NoSQL injection in a lowercased, decoded value.
pub(crate) fn detect_in(s: &str, set: ByteSet) -> Option<(&'static str, Strength)> {
    if !set.has_any(b"$'\";|(") {
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
    if set.has(b'$') {
        // A value that is exactly an operator is a JSON key or a bracketed name's inside.
        if s.strip_prefix('$').is_some_and(|op| OPERATORS.contains(&op)) {
            note("waf-nosql-1200", Strength::Medium);
        }
        for at in h.find_iter(b"$") {
            let prev = at.checked_sub(1).map(|p| b[p]);
            let word_end = b[at + 1..]
                .iter()
                .position(|c| !c.is_ascii_alphabetic())
                .map_or(b.len(), |p| at + 1 + p);
            let op = std::str::from_utf8(&b[at + 1..word_end]).unwrap_or_default();
            if !OPERATORS.contains(&op) {
                continue;
            }
            let next = b.get(word_end).copied();
            match (prev, next) {
                (Some(b'['), Some(b']')) => note("waf-nosql-1200", Strength::Strong),
                (Some(b'"' | b'\''), Some(b'"' | b'\''))
                    if b[word_end + 1..].trim_ascii_start().starts_with(b":") =>
                {
                    note("waf-nosql-1200", Strength::Strong)
                }
                (Some(b'{' | b',' | b' '), Some(b':')) => note("waf-nosql-1200", Strength::Strong),
                _ if op == "where" => note("waf-nosql-1200", Strength::Medium),
                _ => {}
            }
        }
    }
    let quote_break = h.contains(b"';") || h.contains(b"\";") || h.contains(b"'||") || h.contains(b"' ||");
    for (js, st) in JS {
        if h.contains(js) {
            let st = if *st == Strength::Weak && (quote_break || h.contains(b"$where")) {
                Strength::Medium
            } else {
                *st
            };
            note("waf-nosql-1201", st);
        }
    }
    if quote_break && h.contains(b"this.") {
        note("waf-nosql-1201", Strength::Medium);
    }
    if quote_break && (h.contains(b"=='") || h.contains(b"==\"") || h.contains(b"==1")) {
        note("waf-nosql-1201", Strength::Medium);
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
        assert_eq!(rule("username[$ne]"), Some("waf-nosql-1200"));
        assert_eq!(rule("$gt"), Some("waf-nosql-1200"));
        assert_eq!(rule("{\"$where\": \"sleep(5000)\"}"), Some("waf-nosql-1200"));
        assert_eq!(rule("';return true;var a='"), Some("waf-nosql-1201"));
        assert_eq!(rule("' || this.password.match(/.*/)//"), Some("waf-nosql-1201"));
        assert_eq!(rule("1'; while(true){}"), Some("waf-nosql-1201"));
    }

    #[test]
    fn leaves_prose_alone() {
        for ok in [
            "$5 or more",
            "costs $ne",
            "this. is it",
            "rock'n'roll; fine",
            "price in $",
        ] {
            assert_eq!(rule(ok), None, "{ok}");
        }
    }
}
