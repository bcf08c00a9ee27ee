//! Substring search tuned for the short values the detectors see, and the byte-set
//! prefilter that lets detectors skip searches that cannot match.
//!
//! Owns: [`ByteSet`] (which byte values occur in a value: one pass, then O(1) membership),
//! [`Hay`] (a haystack plus a superset of its bytes) and `find` / `contains` / `find_iter`.
//! A needle containing a byte that is not in the set cannot occur, so the search is skipped;
//! since the set is only ever a superset of the haystack's bytes, skipping never changes a
//! result. Request values are mostly under a few hundred bytes, where building a
//! `memchr::memmem` searcher per call costs far more than the search itself; short haystacks
//! are scanned with `memchr` on the needle's first byte and a prefix compare, long ones
//! (bodies) still go through `memmem`. Results are identical to `memmem::find` /
//! `memmem::find_iter` (leftmost, non-overlapping).
//! Does not own: any detection logic.

use memchr::memmem;

/// Haystacks longer than this use `memmem`, whose set-up pays off on long inputs.
const SHORT: usize = 256;

/// Which byte classes occur in a value: a 64-bit mask built with one table lookup per byte.
///
/// Classes are chosen so that every byte a detector gates on owns a class by itself, making
/// [`ByteSet::has`] exact for them: each ASCII letter (case-folded), each ASCII punctuation
/// character, space, `\n` and `\r`. The remaining bytes share three classes — digits, other
/// controls (NUL, TAB, DEL, …) and non-ASCII — so for those `has` may answer "maybe" (true
/// for a byte that is absent), which only ever makes a search run, never skips one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ByteSet(u64);

/// The class of each byte, as a one-bit mask.
static CLASS: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let class = match b {
            b'a'..=b'z' => b - b'a',
            b'A'..=b'Z' => b - b'A',
            b'0'..=b'9' => 26,
            b'!'..=b'/' => 27 + (b - b'!'), // 15 classes: 27..=41
            b':'..=b'@' => 42 + (b - b':'), // 7 classes: 42..=48
            b'['..=b'`' => 49 + (b - b'['), // 6 classes: 49..=54
            b'{'..=b'~' => 55 + (b - b'{'), // 4 classes: 55..=58
            b' ' => 59,
            b'\n' => 60,
            b'\r' => 61,
            0x80..=0xff => 62,
            _ => 63, // NUL, TAB and the other controls, DEL
        };
        t[c] = 1 << class;
        c += 1;
    }
    t
};

impl ByteSet {
    /// Every class: with it every gate opens (the reference the pre-filter is tested against).
    pub(crate) const FULL: ByteSet = ByteSet(u64::MAX);

    /// The classes of the bytes of `b`.
    pub(crate) fn of(b: &[u8]) -> ByteSet {
        ByteSet(b.iter().fold(0, |m, &c| m | CLASS[usize::from(c)]))
    }

    /// The classes of the bytes of `b`, for building constant sets.
    pub(crate) const fn of_const(b: &[u8]) -> ByteSet {
        let mut m = 0;
        let mut i = 0;
        while i < b.len() {
            m |= CLASS[b[i] as usize];
            i += 1;
        }
        ByteSet(m)
    }

    pub(crate) fn insert(&mut self, c: u8) {
        self.0 |= CLASS[usize::from(c)];
    }

    /// True when `c` (or, for a shared class, a byte of its class) occurs.
    pub(crate) fn has(&self, c: u8) -> bool {
        self.0 & CLASS[usize::from(c)] != 0
    }

    /// True when some byte of `bytes` is in the set.
    pub(crate) fn has_any(&self, bytes: &[u8]) -> bool {
        self.0 & ByteSet::of(bytes).0 != 0
    }

    /// False when `needle` certainly does not occur in a value whose bytes this set covers.
    pub(crate) fn may_contain(&self, needle: &[u8]) -> bool {
        let n = ByteSet::of(needle).0;
        self.0 & n == n
    }

    /// True when every class in the set is also in `other`.
    pub(crate) fn is_subset(&self, other: &ByteSet) -> bool {
        self.0 & !other.0 == 0
    }
}

/// A haystack with a superset of its bytes, so searches for impossible needles cost O(|needle|).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hay<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) set: ByteSet,
}

impl<'a> Hay<'a> {
    /// `set` must contain every byte of `bytes` (it may contain more).
    pub(crate) fn new(bytes: &'a [u8], set: ByteSet) -> Hay<'a> {
        debug_assert!(ByteSet::of(bytes).is_subset(&set));
        Hay { bytes, set }
    }

    pub(crate) fn find(&self, needle: &[u8]) -> Option<usize> {
        if !self.set.may_contain(needle) {
            return None;
        }
        find(self.bytes, needle)
    }

    pub(crate) fn contains(&self, needle: &[u8]) -> bool {
        self.find(needle).is_some()
    }

    pub(crate) fn find_iter<'n>(&self, needle: &'n [u8]) -> impl Iterator<Item = usize> + 'n
    where
        'a: 'n,
    {
        let possible = self.set.may_contain(needle);
        find_iter(if possible { self.bytes } else { &[] }, needle)
    }
}

/// The leftmost occurrence of `needle` in `hay` at or after `from`.
fn find_from(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let rest = hay.get(from..)?;
    if rest.len() > SHORT {
        return memmem::find(rest, needle).map(|p| from + p);
    }
    let Some((&first, tail)) = needle.split_first() else {
        return Some(from);
    };
    let mut i = 0;
    while let Some(off) = memchr::memchr(first, &rest[i..]) {
        let at = i + off;
        // Needles are a few bytes long: a plain loop beats a `memcmp` call.
        let cand = &rest[at + 1..];
        if cand.len() >= tail.len() && cand.iter().zip(tail).all(|(a, b)| a == b) {
            return Some(from + at);
        }
        i = at + 1;
    }
    None
}

/// The leftmost occurrence of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    find_from(hay, needle, 0)
}

/// True when `needle` occurs in `hay`.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find_from(hay, needle, 0).is_some()
}

/// Start offsets of the non-overlapping occurrences of a non-empty `needle`, left to right.
pub(crate) fn find_iter<'a>(hay: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let at = find_from(hay, needle, pos)?;
        pos = at + needle.len().max(1);
        Some(at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_memmem() {
        let long = "ab..".repeat(100);
        for hay in ["", "a", "....", "x../..y", "abcabcab", "aaaa", long.as_str()] {
            for needle in ["..", "a", "ab", "abc", "bca", "aa", "../"] {
                let (h, n) = (hay.as_bytes(), needle.as_bytes());
                assert_eq!(find(h, n), memmem::find(h, n), "{hay:?} {needle:?}");
                assert_eq!(
                    find_iter(h, n).collect::<Vec<_>>(),
                    memmem::find_iter(h, n).collect::<Vec<_>>(),
                    "{hay:?} {needle:?}"
                );
            }
        }
    }
}
