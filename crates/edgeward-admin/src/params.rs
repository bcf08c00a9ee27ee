//! The query-string parameters of the API: which requests (`instance`, `zone`, `from`, `to`)
//! and how to group them (`bucket`, `limit`).

use std::collections::HashMap;
use std::time::Duration;

use edgeward_analytics::Filter;

/// The parameters the API understands.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiParams {
    /// Which requests.
    pub filter: Filter,
    /// Bucket width of time series.
    pub bucket: Duration,
    /// How many rows of top lists.
    pub limit: u32,
}

impl ApiParams {
    /// Parses `instance`, `zone`, `from`/`to` (Unix ms), `bucket` (seconds, 1…86400, default
    /// 60) and `limit` (1…1000, default 20); other parameters are ignored; empty means unset.
    pub fn parse(query: &str) -> Result<ApiParams, String> {
        let pairs: HashMap<String, String> = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let text = |name: &str| pairs.get(name).filter(|v| !v.is_empty()).cloned();
        let number = |name: &str| -> Result<Option<i64>, String> {
            match text(name) {
                None => Ok(None),
                Some(v) => v
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("`{name}` must be an integer")),
            }
        };
        let mut p = ApiParams {
            filter: Filter {
                instance: text("instance"),
                zone: text("zone"),
                from_ms: number("from")?,
                to_ms: number("to")?,
            },
            bucket: Duration::from_secs(60),
            limit: 20,
        };
        if let Some(secs) = number("bucket")? {
            if !(1..=86_400).contains(&secs) {
                return Err("`bucket` must be 1..=86400 seconds".to_owned());
            }
            p.bucket = Duration::from_secs(secs.unsigned_abs());
        }
        if let Some(limit) = number("limit")? {
            p.limit = u32::try_from(limit)
                .ok()
                .filter(|l| (1..=1_000).contains(l))
                .ok_or("`limit` must be 1..=1000")?;
        }
        Ok(p)
    }
}

/// Decodes `%XX` escapes and `+` as space; malformed escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_validate() {
        let p = ApiParams::parse("instance=edge-a&zone=shop%2Eexample&from=10&to=20&bucket=30&limit=5&x=y")
            .unwrap();
        assert_eq!(p.filter.instance.as_deref(), Some("edge-a"));
        assert_eq!(p.filter.zone.as_deref(), Some("shop.example"));
        assert_eq!((p.filter.from_ms, p.filter.to_ms), (Some(10), Some(20)));
        assert_eq!((p.bucket, p.limit), (Duration::from_secs(30), 5));
        let d = ApiParams::parse("zone=&from=&instance=").unwrap();
        assert_eq!(d.filter, Filter::default());
        assert_eq!((d.bucket, d.limit), (Duration::from_secs(60), 20));
        assert!(ApiParams::parse("from=abc").is_err());
        assert!(ApiParams::parse("bucket=0").is_err());
        assert!(ApiParams::parse("limit=1001").is_err());
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a+b%20c"), "a b c");
    }
}
