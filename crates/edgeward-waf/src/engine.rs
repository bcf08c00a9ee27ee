//! Detection over one value: normalisation into the forms worth matching, the byte-class
//! pre-filter, and running every detector family on each form.
//!
//! Owns: [`Hit`] (one detector signal), [`Gates`] (pre-filter on, or off for the
//! differential test that proves it changes no verdict), the normal forms of a value (URL
//! decoding to a bounded fixed point, HTML character references, NUL removal, case folding)
//! and the splitting of long values into overlapping windows so that detectors with bounded
//! work still see a payload placed after padding.
//! Does not own: where values come from (`waf`, `body`), what each detector matches (one
//! module per family), or which hits block (`waf` filters by sensitivity and disabled rules).
//!
//! The pre-filter: each value is lowercased and byte-classified once (`find::ByteSet`), and a
//! detector skips a search or a whole family when a byte its signatures need is absent. With
//! [`Gates::Off`] the set is [`ByteSet::FULL`], so every gate opens and every search runs;
//! `engine_tests` checks that both give the same hits on the corpus and on generated inputs.
//! Separately, and by design rather than as a shortcut, a value made only of letters,
//! digits, spaces and `-_.,!?` is checked by the SQL, traversal and Java families only.

use crate::decode::{html_entities, percent_decode_once};
use crate::find::ByteSet;
use crate::{cmdi, crlf, java, ldap, nosql, php, sqli, ssi, ssti, traversal, xss, xxe};
use crate::{Category, Strength};
use std::borrow::Cow;

/// One detector signal: a managed rule id, its family and how certain it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub id: &'static str,
    pub category: Category,
    pub strength: Strength,
}

/// Whether the byte-class pre-filter may skip work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gates {
    On,
    /// Every gate open: the reference the pre-filter is tested against.
    #[cfg_attr(not(test), allow(dead_code))]
    Off,
}

/// Most extra percent-decoding rounds after the first (the fixed point is usually 1–2).
const MAX_DECODE_ROUNDS: usize = 4;
/// Values longer than this are inspected in overlapping windows.
const WINDOW: usize = 4096;
const OVERLAP: usize = 512;

/// Decodes `%XX` / `%uXXXX` until nothing changes (at most [`MAX_DECODE_ROUNDS`] rounds).
pub(crate) fn decode_fixed_point(s: &str) -> Cow<'_, str> {
    let mut cur: Cow<'_, str> = Cow::Borrowed(s);
    for _ in 0..MAX_DECODE_ROUNDS {
        if !cur.as_bytes().contains(&b'%') {
            break;
        }
        match percent_decode_once(&cur, false) {
            Cow::Owned(next) if next != *cur => cur = Cow::Owned(next),
            _ => break,
        }
    }
    cur
}

/// Every hit of every family on `value` (already decoded once by its container) and on its
/// other normal forms, appended to `out`.
pub(crate) fn hits(value: &str, gates: Gates, out: &mut Vec<Hit>) {
    if value.len() > WINDOW {
        for w in windows(value) {
            hits(w, gates, out);
        }
        return;
    }
    let decoded = decode_fixed_point(value);
    hits_one(value, gates, out);
    if *decoded != *value {
        hits_one(&decoded, gates, out);
    }
    let d: &str = &decoded;
    if let Some(ent) = html_entities(d) {
        hits_one(&ent, gates, out);
    }
    if d.as_bytes().contains(&0) {
        hits_one(&d.replace('\0', ""), gates, out);
    }
}

/// Splits a long value into windows of [`WINDOW`] bytes overlapping by [`OVERLAP`].
fn windows(s: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= s.len() {
            return None;
        }
        let mut end = (start + WINDOW).min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let w = &s[start..end];
        start = if end == s.len() {
            end
        } else {
            floor_boundary(s, end - OVERLAP)
        };
        Some(w)
    })
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Runs every family on one form of a value.
fn hits_one(value: &str, gates: Gates, out: &mut Vec<Hit>) {
    // One pass lowercasing the value (on the stack when short) and collecting its byte set.
    let mut stack = [0u8; 512];
    let heap;
    let lower: &str = if value.len() <= stack.len() {
        let buf = &mut stack[..value.len()];
        buf.copy_from_slice(value.as_bytes());
        buf.make_ascii_lowercase();
        // ASCII lowercasing keeps UTF-8 valid, so this never fails.
        std::str::from_utf8(buf).unwrap_or_default()
    } else {
        heap = value.to_ascii_lowercase();
        &heap
    };
    let set = match gates {
        Gates::On => ByteSet::of(lower.as_bytes()),
        Gates::Off => ByteSet::FULL,
    };
    let mut push = |hit: Option<(&'static str, Strength)>, category: Category| {
        if let Some((id, strength)) = hit {
            // A detector may report a rule of a neighbouring family (a smuggled request line
            // found by the CRLF detector is a protocol rule): the catalog has the last word.
            let category = crate::rules::managed_rule(id).map_or(category, |r| r.category);
            out.push(Hit {
                id,
                category,
                strength,
            });
        }
    };
    // Families whose every signature needs punctuation are gated inside their module; SQL
    // traversal and Java can match plain words (`waitfor delay 0 0 5`, `..`, `ysoserial`),
    // so they always run.
    push(sqli::detect(lower), Category::SqlInjection);
    push(traversal::detect_in(lower, set), Category::PathTraversal);
    push(java::detect_in(value, lower, set), Category::Java);
    // A scoping rule, not a gate: it reads the value's exact bytes in both modes.
    let exact = match gates {
        Gates::On => set,
        Gates::Off => ByteSet::of(lower.as_bytes()),
    };
    if exact.is_subset(&PLAIN) {
        return;
    }
    push(cmdi::detect_in(lower, set), Category::CommandInjection);
    push(xss::detect_in(value, lower, set), Category::Xss);
    push(php::detect_in(lower, set), Category::Php);
    push(ssti::detect_in(lower, set), Category::TemplateInjection);
    push(ssi::detect_in(lower, set), Category::Ssi);
    push(nosql::detect_in(lower, set), Category::NoSql);
    push(ldap::detect_in(lower, set), Category::Ldap);
    push(crlf::detect_in(lower, set), Category::Crlf);
    push(xxe::detect_in(lower, set), Category::Xxe);
}

/// Bytes of a "plain" value: letters, digits, space, `-_.,!?` and any non-ASCII byte. Such a
/// value (prose, a search, a slug) is only checked by the SQL, traversal and Java families:
/// the others would only find words in it (`nc -e`, `net user`), which is prose.
const PLAIN: ByteSet = ByteSet::of_const(b"abcdefghijklmnopqrstuvwxyz0 -_.,!?\x80");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_to_a_bounded_fixed_point() {
        assert_eq!(decode_fixed_point("1%2520union%2520select"), "1 union select");
        assert_eq!(decode_fixed_point("%252527"), "'");
        assert_eq!(decode_fixed_point("plain"), "plain");
        // Six layers: decoding stops after the bound, leaving an escape.
        let deep = "%25252525252527";
        assert!(decode_fixed_point(deep).contains('%'));
    }

    #[test]
    fn long_values_are_windowed_with_overlap() {
        let s = format!("{}1 union select 1,2--", "a".repeat(WINDOW - 6));
        let mut out = Vec::new();
        hits(&s, Gates::On, &mut out);
        assert!(out.iter().any(|h| h.id == "waf-sqli-100"), "{out:?}");
        let total: usize = windows(&"x".repeat(3 * WINDOW)).map(str::len).sum();
        assert!(total >= 3 * WINDOW);
    }
}
