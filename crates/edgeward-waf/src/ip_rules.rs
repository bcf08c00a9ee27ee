//! IP access rules: allow / block / challenge by IP, CIDR or country.
//!
//! Owns: parsing rule targets, the precedence between them (the most specific IP/CIDR match
//! wins, an exact IP being the most specific of all; country rules apply only when no IP or
//! CIDR rule matched), and the O(log n) lookup via `ranges`. Does not own: mapping IPs to
//! countries (that is `GeoIp`; the caller passes the country in) or acting on the verdict.

use crate::ranges::{Cidr, RangeMap};
use std::collections::HashMap;
use std::net::IpAddr;

/// What an access rule does with a matching client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpAction {
    Allow,
    Block,
    Challenge,
}

/// What an access rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpTarget {
    /// An IP address or CIDR block (an address is a /32 or /128).
    Cidr(String),
    /// An ISO 3166-1 alpha-2 country code, uppercase.
    Country(String),
}

impl IpTarget {
    /// Parses `203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32` or a country code like `AU`.
    pub fn parse(s: &str) -> Result<IpTarget, String> {
        let s = s.trim();
        if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Ok(IpTarget::Country(s.to_ascii_uppercase()));
        }
        Cidr::parse(s)?;
        Ok(IpTarget::Cidr(s.to_owned()))
    }
}

/// One configured access rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpRuleEntry {
    /// Stable id reported when the rule matches (e.g. `ip-office-allow`).
    pub id: String,
    pub target: IpTarget,
    pub action: IpAction,
}

impl IpRuleEntry {
    /// Convenience constructor parsing `target` with [`IpTarget::parse`].
    pub fn new(id: &str, target: &str, action: IpAction) -> Result<IpRuleEntry, String> {
        Ok(IpRuleEntry {
            id: id.to_owned(),
            target: IpTarget::parse(target)?,
            action,
        })
    }
}

/// A zone's compiled access rules.
#[derive(Clone, Debug)]
pub struct IpRules {
    ids: Vec<(IpAction, String)>,
    by_ip: RangeMap<usize>,
    by_country: HashMap<[u8; 2], usize>,
}

impl IpRules {
    /// Compiles `entries`; two rules on the same block or country are an error.
    pub fn new(entries: Vec<IpRuleEntry>) -> Result<IpRules, String> {
        let mut ids = Vec::with_capacity(entries.len());
        let mut blocks = Vec::new();
        let mut seen = HashMap::new();
        let mut by_country = HashMap::new();
        for (idx, e) in entries.into_iter().enumerate() {
            match &e.target {
                IpTarget::Cidr(s) => {
                    let cidr = Cidr::parse(s).map_err(|m| format!("rule `{}`: {m}", e.id))?;
                    if let Some(prev) = seen.insert(cidr, e.id.clone()) {
                        return Err(format!("rules `{prev}` and `{}` both target {s}", e.id));
                    }
                    blocks.push((cidr, idx));
                }
                IpTarget::Country(c) => {
                    let b = c.as_bytes();
                    if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
                        return Err(format!("rule `{}`: `{c}` is not a two-letter country code", e.id));
                    }
                    let key = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
                    if by_country.insert(key, idx).is_some() {
                        return Err(format!("rule `{}`: country {c} already has a rule", e.id));
                    }
                }
            }
            ids.push((e.action, e.id));
        }
        Ok(IpRules {
            ids,
            by_ip: RangeMap::build(blocks),
            by_country,
        })
    }

    /// The action and rule id for a client, or `None` when no rule applies.
    pub fn lookup(&self, ip: IpAddr, country: Option<&str>) -> Option<(IpAction, &str)> {
        let idx = self.by_ip.get(ip).copied().or_else(|| {
            let c = country?.as_bytes();
            if c.len() != 2 {
                return None;
            }
            self.by_country
                .get(&[c[0].to_ascii_uppercase(), c[1].to_ascii_uppercase()])
                .copied()
        })?;
        let (action, id) = &self.ids[idx];
        Some((*action, id))
    }

    /// True when there are no rules at all (the pipeline can skip the phase).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> IpRules {
        IpRules::new(vec![
            IpRuleEntry::new("block-net", "198.51.100.0/24", IpAction::Block).unwrap(),
            IpRuleEntry::new("allow-host", "198.51.100.7", IpAction::Allow).unwrap(),
            IpRuleEntry::new("challenge-sub", "198.51.100.128/25", IpAction::Challenge).unwrap(),
            IpRuleEntry::new("block-v6", "2001:db8::/32", IpAction::Block).unwrap(),
            IpRuleEntry::new("challenge-au", "au", IpAction::Challenge).unwrap(),
        ])
        .unwrap()
    }

    #[test]
    fn most_specific_wins_and_country_is_last() {
        let r = rules();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            r.lookup(ip("198.51.100.7"), Some("AU")),
            Some((IpAction::Allow, "allow-host"))
        );
        assert_eq!(
            r.lookup(ip("198.51.100.8"), None),
            Some((IpAction::Block, "block-net"))
        );
        assert_eq!(
            r.lookup(ip("198.51.100.200"), None),
            Some((IpAction::Challenge, "challenge-sub"))
        );
        assert_eq!(
            r.lookup(ip("2001:db8::5"), Some("AU")),
            Some((IpAction::Block, "block-v6"))
        );
        assert_eq!(
            r.lookup(ip("203.0.113.1"), Some("au")),
            Some((IpAction::Challenge, "challenge-au"))
        );
        assert_eq!(r.lookup(ip("203.0.113.1"), Some("NZ")), None);
        assert_eq!(r.lookup(ip("203.0.113.1"), None), None);
    }

    #[test]
    fn rejects_bad_and_duplicate_entries() {
        assert!(IpTarget::parse("300.1.1.1").is_err());
        assert!(IpTarget::parse("AUS").is_err());
        let dup = IpRules::new(vec![
            IpRuleEntry::new("a", "10.0.0.0/8", IpAction::Block).unwrap(),
            IpRuleEntry::new("b", "10.0.0.0/8", IpAction::Allow).unwrap(),
        ]);
        assert!(dup.unwrap_err().contains("both target"));
        assert!(IpRules::new(vec![]).unwrap().is_empty());
    }
}
