//! The evaluator: runs a compiled program against one [`Request`] without heap allocation.
//!
//! Case-mapped comparisons fold bytes on the fly against literals folded at compile time, and
//! the only values that must be materialised (the joined `path?query` URI, and a case-mapped
//! value fed to a regex) are built in a stack buffer. A value longer than that buffer is the one
//! case that allocates. It does not type-check or parse (`compile.rs`, `parser.rs`).

use crate::compile::{Case, IntSrc, IntTest, IpSet, Node, StrTest};
use crate::fields::{self, StrField, Value};
use crate::Request;
use std::net::IpAddr;

/// Values up to this many bytes are materialised on the stack; longer ones on the heap.
const STACK_COPY: usize = 4096;

impl Node {
    /// Whether the request (and, for custom error rules, the response status `code`) satisfies
    /// this node.
    pub(crate) fn eval(&self, req: &Request<'_>, code: u16) -> bool {
        match self {
            Node::All(ns) => ns.iter().all(|n| n.eval(req, code)),
            Node::Any(ns) => ns.iter().any(|n| n.eval(req, code)),
            Node::Xor(pair) => pair[0].eval(req, code) != pair[1].eval(req, code),
            Node::Not(n) => !n.eval(req, code),
            Node::Ssl => req.tls,
            Node::Str { field, case, test } => eval_str(field, *case, test, req),
            Node::Int { src, test } => {
                let n = match src {
                    IntSrc::BodySize => req.body_size,
                    IntSrc::ResponseCode => u64::from(code),
                    IntSrc::Len(f) => fields::read(f, req).len() as u64,
                };
                match test {
                    IntTest::Order(lit, accept) => accept.test(n.cmp(lit)),
                    IntTest::In(set) => set.binary_search(&n).is_ok(),
                }
            }
            Node::Ip(set) => set.contains(req.ip),
        }
    }
}

fn eval_str(field: &StrField, case: Case, test: &StrTest, req: &Request<'_>) -> bool {
    match fields::read(field, req) {
        Value::One(v) => test_str(test, case, v),
        joined => with_copy(&joined, Case::Exact, |v| test_str(test, case, v)),
    }
}

/// Tests the raw (unmapped) bytes `v` as if `case` had been applied to them.
fn test_str(test: &StrTest, case: Case, v: &[u8]) -> bool {
    match test {
        StrTest::Eq(lit) => eq(v, lit, case),
        StrTest::Order(lit, accept) => accept.test(mapped(v, case).cmp(lit.iter().copied())),
        StrTest::Contains(re) => re.is_match(v),
        StrTest::Matches(re) if case == Case::Exact => re.is_match(v),
        StrTest::Matches(re) => with_copy(&Value::One(v), case, |m| re.is_match(m)),
        StrTest::In(set) => set
            .binary_search_by(|lit| lit.iter().copied().cmp(mapped(v, case)))
            .is_ok(),
        StrTest::StartsWith(lit) => v.len() >= lit.len() && eq(&v[..lit.len()], lit, case),
        StrTest::EndsWith(lit) => v.len() >= lit.len() && eq(&v[v.len() - lit.len()..], lit, case),
    }
}

/// Equality of `v` mapped by `case` with a literal the mapping can produce (checked at compile
/// time), which makes it an ASCII-case-insensitive comparison.
#[inline]
fn eq(v: &[u8], lit: &[u8], case: Case) -> bool {
    match case {
        Case::Exact => v == lit,
        Case::Lower | Case::Upper => v.eq_ignore_ascii_case(lit),
    }
}

#[inline]
fn mapped(v: &[u8], case: Case) -> impl Iterator<Item = u8> + '_ {
    v.iter().map(move |&b| case.apply(b))
}

/// Materialises `value` mapped by `case` and hands it to `f`.
fn with_copy<R>(value: &Value<'_>, case: Case, f: impl FnOnce(&[u8]) -> R) -> R {
    let len = value.len();
    if len <= STACK_COPY {
        let mut buf = [0u8; STACK_COPY];
        fill(&mut buf[..len], value, case);
        f(&buf[..len])
    } else {
        let mut heap = vec![0u8; len];
        fill(&mut heap, value, case);
        f(&heap)
    }
}

fn fill(dst: &mut [u8], value: &Value<'_>, case: Case) {
    let mut put = |at: usize, src: &[u8]| {
        for (d, &s) in dst[at..at + src.len()].iter_mut().zip(src) {
            *d = case.apply(s);
        }
    };
    match *value {
        Value::One(v) => put(0, v),
        Value::Uri(p, q) => {
            put(0, p);
            put(p.len(), b"?");
            put(p.len() + 1, q);
        }
    }
}

impl IpSet {
    /// Whether `ip` (IPv4-mapped IPv6 counts as IPv4) falls in one of the ranges.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }
}

#[inline]
fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|r| r.0 <= x);
    i > 0 && x <= ranges[i - 1].1
}
