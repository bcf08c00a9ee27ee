//! Longest-prefix lookup over CIDR blocks, as sorted non-overlapping ranges.
//!
//! Owns: flattening a set of (possibly nested) CIDR blocks into disjoint address intervals,
//! each labelled with its most specific block, and the O(log n) binary-search lookup over
//! them. IPv4 and IPv6 live in separate tables; IPv4-mapped IPv6 addresses are looked up as
//! IPv4. Does not own: what the labels mean (rules, countries).

use std::net::IpAddr;

/// A parsed CIDR block: family, network address as an integer, prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Cidr {
    pub v6: bool,
    pub start: u128,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, `v6` or `v6/n`; host bits must be zero.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR"))?;
        let (v6, bits, value) = match ip {
            IpAddr::V4(v4) => (false, 32u8, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (true, 128u8, u128::from(v6)),
        };
        let prefix = match len {
            None => bits,
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= bits)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={bits}"))?,
        };
        let host = host_mask(bits, prefix);
        if value & host != 0 {
            return Err(format!(
                "`{s}` has host bits set; did you mean the network address?"
            ));
        }
        Ok(Cidr {
            v6,
            start: value,
            prefix,
        })
    }

    fn end(&self) -> u128 {
        self.start | host_mask(if self.v6 { 128 } else { 32 }, self.prefix)
    }
}

fn host_mask(bits: u8, prefix: u8) -> u128 {
    let host_bits = u32::from(bits - prefix);
    if host_bits == 0 {
        0
    } else if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

/// Disjoint, sorted intervals per family, each carrying the most specific block's value.
#[derive(Clone, Debug)]
pub(crate) struct RangeMap<V> {
    v4: Vec<(u128, u128, V)>,
    v6: Vec<(u128, u128, V)>,
}

impl<V: Clone> RangeMap<V> {
    /// Builds the map; for identical blocks the later one wins.
    pub fn build(blocks: Vec<(Cidr, V)>) -> RangeMap<V> {
        let (v4, v6): (Vec<_>, Vec<_>) = blocks.into_iter().partition(|(c, _)| !c.v6);
        RangeMap {
            v4: flatten(v4),
            v6: flatten(v6),
        }
    }

    /// The value of the most specific block containing `ip`.
    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        let (table, key) = match ip {
            IpAddr::V4(v4) => (&self.v4, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (&self.v4, u128::from(u32::from(v4))),
                None => (&self.v6, u128::from(v6)),
            },
        };
        let idx = table.partition_point(|(start, _, _)| *start <= key);
        let (_, end, v) = table.get(idx.checked_sub(1)?)?;
        (key <= *end).then_some(v)
    }

    /// Number of disjoint intervals (for tests and metrics).
    #[cfg(test)]
    pub fn intervals(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// CIDR blocks are nested or disjoint, never partially overlapping, so a sweep with a stack
/// of open blocks yields the disjoint intervals where the innermost block is the label.
fn flatten<V: Clone>(mut blocks: Vec<(Cidr, V)>) -> Vec<(u128, u128, V)> {
    // Stable sort keeps input order among identical blocks, so the later one is innermost.
    blocks.sort_by_key(|(c, _)| (c.start, c.prefix));
    let mut out: Vec<(u128, u128, V)> = Vec::with_capacity(blocks.len() * 2);
    let mut stack: Vec<(u128, V)> = Vec::new();
    // Next address not yet emitted; None once u128::MAX itself has been emitted.
    let mut cursor: Option<u128> = Some(0);
    let emit = |out: &mut Vec<(u128, u128, V)>, cursor: &mut Option<u128>, end: u128, v: &V| {
        if let Some(c) = *cursor {
            if c <= end {
                out.push((c, end, v.clone()));
                *cursor = end.checked_add(1);
            }
        }
    };
    for (cidr, v) in blocks {
        while let Some((end, top)) = stack.last().cloned() {
            if end >= cidr.start {
                break;
            }
            emit(&mut out, &mut cursor, end, &top);
            stack.pop();
        }
        if let Some((_, top)) = stack.last() {
            if cidr.start > 0 {
                emit(&mut out, &mut cursor, cidr.start - 1, top);
            }
        }
        cursor = Some(cidr.start);
        stack.push((cidr.end(), v));
    }
    while let Some((end, top)) = stack.pop() {
        emit(&mut out, &mut cursor, end, &top);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, u32)]) -> RangeMap<u32> {
        RangeMap::build(
            entries
                .iter()
                .map(|(c, v)| (Cidr::parse(c).unwrap(), *v))
                .collect(),
        )
    }

    #[test]
    fn most_specific_block_wins() {
        let m = map(&[
            ("10.0.0.0/8", 1),
            ("10.1.0.0/16", 2),
            ("10.1.2.3", 3),
            ("10.2.0.0/16", 4),
        ]);
        let get = |s: &str| m.get(s.parse().unwrap()).copied();
        assert_eq!(get("10.0.0.1"), Some(1));
        assert_eq!(get("10.1.9.9"), Some(2));
        assert_eq!(get("10.1.2.3"), Some(3));
        assert_eq!(get("10.1.2.4"), Some(2));
        assert_eq!(get("10.2.0.0"), Some(4));
        assert_eq!(get("10.255.255.255"), Some(1));
        assert_eq!(get("11.0.0.0"), None);
        assert_eq!(get("::ffff:10.1.2.3"), Some(3));
        assert_eq!(m.intervals(), 6);
    }

    #[test]
    fn whole_space_and_v6() {
        let m = map(&[
            ("0.0.0.0/0", 1),
            ("::/0", 2),
            ("2001:db8::/32", 3),
            ("255.255.255.255/32", 4),
        ]);
        let get = |s: &str| m.get(s.parse().unwrap()).copied();
        assert_eq!(get("1.2.3.4"), Some(1));
        assert_eq!(get("255.255.255.255"), Some(4));
        assert_eq!(get("2001:db8::1"), Some(3));
        assert_eq!(get("2001:db9::1"), Some(2));
        assert_eq!(get("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Some(2));
    }

    #[test]
    fn rejects_bad_cidrs() {
        assert!(Cidr::parse("10.0.0.1/8").is_err());
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("banana").is_err());
        assert!(Cidr::parse("2001:db8::/129").is_err());
    }
}
