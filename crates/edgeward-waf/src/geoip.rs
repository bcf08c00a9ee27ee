//! A CIDR → country map loaded from CSV, for country access rules.
//!
//! Owns: parsing `cidr,country` lines (blank lines and `#` comments skipped, an optional
//! header line) with line-numbered errors, and O(log n) lookup of an address's country via
//! `ranges` (nested blocks: the most specific wins). Does not own: where the CSV comes from
//! or how often it is refreshed.

use crate::ranges::{Cidr, RangeMap};
use std::net::IpAddr;

/// Country lookup by client address.
#[derive(Clone, Debug)]
pub struct GeoIp {
    map: RangeMap<[u8; 2]>,
}

impl GeoIp {
    /// Parses CSV text such as `203.0.113.0/24,AU`; an error names its 1-based line.
    pub fn from_csv(text: &str) -> Result<GeoIp, (usize, String)> {
        let mut blocks = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (cidr, country) = line
                .split_once(',')
                .ok_or_else(|| (line_no, format!("expected `cidr,country`, got `{line}`")))?;
            let (cidr, country) = (cidr.trim(), country.trim().trim_matches('"'));
            if blocks.is_empty()
                && matches!(cidr.to_ascii_lowercase().as_str(), "cidr" | "network" | "prefix")
            {
                continue;
            }
            let parsed = Cidr::parse(cidr).map_err(|m| (line_no, m))?;
            let c = country.as_bytes();
            if c.len() != 2 || !c.iter().all(u8::is_ascii_alphabetic) {
                return Err((line_no, format!("`{country}` is not a two-letter country code")));
            }
            blocks.push((parsed, [c[0].to_ascii_uppercase(), c[1].to_ascii_uppercase()]));
        }
        Ok(GeoIp {
            map: RangeMap::build(blocks),
        })
    }

    /// The country code of `ip`, if a block covers it.
    pub fn country(&self, ip: IpAddr) -> Option<&str> {
        self.map.get(ip).and_then(|c| std::str::from_utf8(c).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_looks_up() {
        let g = GeoIp::from_csv(
            "network,country\n# test data\n203.0.113.0/24,AU\n\n203.0.113.128/25,nz\n2001:db8::/32,DE\n",
        )
        .unwrap();
        let c = |s: &str| g.country(s.parse().unwrap());
        assert_eq!(c("203.0.113.5"), Some("AU"));
        assert_eq!(c("203.0.113.200"), Some("NZ"));
        assert_eq!(c("2001:db8::1"), Some("DE"));
        assert_eq!(c("192.0.2.1"), None);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(GeoIp::from_csv("10.0.0.0/8,US\nbogus\n").unwrap_err().0, 2);
        assert_eq!(GeoIp::from_csv("10.0.0.0/8,USA\n").unwrap_err().0, 1);
        assert_eq!(GeoIp::from_csv("\n\n10.0.0.1/8,US\n").unwrap_err().0, 3);
    }
}
