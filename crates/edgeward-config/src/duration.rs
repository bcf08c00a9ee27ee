//! Durations written as strings in the config (`"250ms"`, `"10s"`, `"2m"`, `"1h"`).
//!
//! Owns the textual form and its parser only; which durations are sensible for which setting is
//! decided in `validate`.

use std::time::Duration;

/// The accepted forms, quoted in every error about a duration.
pub(crate) const FORMS: &str =
    "a whole number followed by a unit ms, s, m or h, e.g. \"250ms\", \"10s\", \"2m\", \"1h\"";

/// Parses `"<digits><unit>"` with unit `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{text}`: expected {FORMS}");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs_per_unit = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad()),
    };
    n.checked_mul(secs_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_other_forms_and_names_the_accepted_ones() {
        for bad in [
            "",
            "10",
            "s",
            "10 s",
            " 10s",
            "10S",
            "1.5s",
            "-1s",
            "10d",
            "10sec",
            "1h30m",
            "99999999999999999999s",
            "5124095576030432h",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains(&format!("`{bad}`")), "{err}");
            assert!(err.contains("\"250ms\", \"10s\", \"2m\", \"1h\""), "{err}");
        }
    }
}
