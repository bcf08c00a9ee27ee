//! The structured formats' contract over every catalog error: a schema check of
//! the JSON members and their types, and markdown front matter that says the same.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use super::*;
use crate::{examples, render, Rendered};

/// Members every problem document has, with the JSON type each must have.
const REQUIRED: [(&str, Kind); 14] = [
    ("type", Kind::Str),
    ("title", Kind::Str),
    ("status", Kind::Int),
    ("detail", Kind::Str),
    ("instance", Kind::Str),
    ("error_code", Kind::Int),
    ("error_category", Kind::Str),
    ("ray_id", Kind::Str),
    ("timestamp", Kind::Str),
    ("zone", Kind::StrOrNull),
    ("retryable", Kind::Bool),
    ("retry_after", Kind::IntOrNull),
    ("owner_action_required", Kind::Bool),
    ("what_you_should_do", Kind::Str),
];

/// Members some documents have.
const OPTIONAL: [(&str, Kind); 3] = [
    ("rule_id", Kind::Str),
    ("client_ip", Kind::Str),
    ("available", Kind::StrArray),
];

const CATEGORIES: [&str; 11] = [
    "request",
    "access_denied",
    "rate_limit",
    "payment_required",
    "legal",
    "resource",
    "routing",
    "dns",
    "tls",
    "origin",
    "edge",
];

#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    Int,
    Bool,
    StrOrNull,
    IntOrNull,
    StrArray,
}

impl Kind {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Kind::Str => v.is_string(),
            Kind::Int => v.is_u64(),
            Kind::Bool => v.is_boolean(),
            Kind::StrOrNull => v.is_string() || v.is_null(),
            Kind::IntOrNull => v.is_u64() || v.is_null(),
            Kind::StrArray => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        }
    }
}

fn ctx<'a>(accept: &'a str, zone: Option<&'a str>) -> RenderContext<'a> {
    RenderContext {
        accept: Some(accept.as_bytes()),
        client_ip: Some("198.51.100.9".parse().unwrap()),
        zone,
        timestamp: Some(UNIX_EPOCH + Duration::from_secs(1_796_026_500)),
        ..RenderContext::new("7d3f9a0c1b2e")
    }
}

fn doc(r: &Rendered) -> serde_json::Map<String, Value> {
    match serde_json::from_slice(&r.body) {
        Ok(Value::Object(map)) => map,
        other => panic!("not a JSON object: {other:?}"),
    }
}

/// Checks one problem document against the schema and against the error.
fn check_schema(e: &EdgeError, r: &Rendered, zone: Option<&str>) {
    let d = doc(r);
    for (name, kind) in REQUIRED {
        let v = d.get(name).unwrap_or_else(|| panic!("{e:?}: no `{name}`"));
        assert!(kind.accepts(v), "{e:?}: `{name}` is {v}, expected {kind:?}");
    }
    for (name, v) in &d {
        let known = REQUIRED.iter().chain(&OPTIONAL).find(|(n, _)| n == name);
        let (_, kind) = known.unwrap_or_else(|| panic!("{e:?}: unexpected member `{name}`"));
        assert!(kind.accepts(v), "{e:?}: `{name}` is {v}");
    }
    assert_eq!(d["type"], format!("/.edgeward/error/{}", e.code()));
    assert_eq!(d["status"], e.status());
    assert_eq!(d["title"], e.title());
    assert_eq!(d["detail"], e.explanation());
    assert_eq!(d["instance"], "urn:edgeward:ray:7d3f9a0c1b2e");
    assert_eq!(d["error_code"], e.code());
    assert!(
        CATEGORIES.contains(&d["error_category"].as_str().unwrap()),
        "{e:?}"
    );
    assert_eq!(d["error_category"], r.header("Edgeward-Error-Type").unwrap());
    assert_eq!(d["ray_id"], "7d3f9a0c1b2e");
    assert_eq!(d["timestamp"], "2026-11-30T08:15:00Z");
    assert_eq!(d["zone"], zone.map_or(Value::Null, Value::from));
    let retry_after = r.header("Retry-After").map(|s| s.parse::<u64>().unwrap());
    assert_eq!(
        d["retry_after"],
        retry_after.map_or(Value::Null, Value::from),
        "{e:?}"
    );
    if retry_after.is_some() {
        assert_eq!(d["retryable"], true, "{e:?}: Retry-After but not retryable");
    }
    let advice = d["what_you_should_do"].as_str().unwrap();
    assert!(advice.len() > 10 && advice.len() < 120, "{e:?}: {advice}");
    assert_eq!(d.contains_key("rule_id"), e.rule_id().is_some(), "{e:?}");
    assert_eq!(d["client_ip"], "198.51.100.9");
}

#[test]
fn every_error_matches_the_json_schema_in_both_content_types() {
    for e in examples() {
        for zone in [None, Some("shop")] {
            let problem = render(&e, &ctx("application/problem+json", zone));
            assert_eq!(problem.header("Content-Type"), Some("application/problem+json"));
            check_schema(&e, &problem, zone);
            let json = render(&e, &ctx("application/json", zone));
            assert_eq!(json.header("Content-Type"), Some("application/json"));
            assert_eq!(json.body, problem.body, "{e:?}: the mirror differs");
        }
    }
}

/// The front matter of a markdown body as (key, JSON value) pairs, in order.
fn front_matter(body: &str) -> Vec<(String, Value)> {
    let rest = body.strip_prefix("---\n").expect("front matter first");
    let end = rest.find("\n---\n").expect("front matter end");
    rest[..end]
        .lines()
        .map(|line| {
            let (k, v) = line.split_once(": ").unwrap_or_else(|| panic!("line {line:?}"));
            let v: Value = serde_json::from_str(v).unwrap_or_else(|_| panic!("value of {line:?}"));
            (k.to_owned(), v)
        })
        .collect()
}

#[test]
fn markdown_front_matter_says_what_the_json_says() {
    for e in examples() {
        let c = ctx("text/markdown", Some("shop"));
        let md = render(&e, &c);
        assert_eq!(md.header("Content-Type"), Some("text/markdown; charset=utf-8"));
        let text = std::str::from_utf8(&md.body).unwrap();
        let json = doc(&render(
            &e,
            &RenderContext {
                accept: Some(b"application/json"),
                ..c
            },
        ));
        let fm = front_matter(text);
        let keys: Vec<&str> = fm.iter().map(|(k, _)| k.as_str()).collect();
        let mut expected: Vec<&str> = REQUIRED
            .iter()
            .map(|(n, _)| *n)
            .filter(|n| !matches!(*n, "detail" | "what_you_should_do"))
            .collect();
        if e.rule_id().is_some() {
            expected.push("rule_id");
        }
        let (mut got_sorted, mut want_sorted) = (keys.clone(), expected.clone());
        got_sorted.sort_unstable();
        want_sorted.sort_unstable();
        assert_eq!(got_sorted, want_sorted, "{e:?}");
        let map: BTreeMap<_, _> = fm.into_iter().collect();
        for (k, v) in &map {
            assert_eq!(&json[k.as_str()], v, "{e:?}: `{k}`");
        }
        assert!(
            text.contains(&format!("\n# Error {}: {}\n", e.code(), e.title())),
            "{e:?}"
        );
        assert!(text.contains("\n## What happened\n\n") && text.contains("\n## What you should do\n\n"));
        assert!(text.ends_with("Ray ID: 7d3f9a0c1b2e\n"));
    }
}

#[test]
fn markdown_escapes_request_data() {
    let e = EdgeError::UnknownHost {
        host: "[click](https://evil.example)<img>".to_owned(),
    };
    let r = render(&e, &ctx("text/markdown", None));
    let text = std::str::from_utf8(&r.body).unwrap();
    assert!(text.contains(r"\[click\](https://evil.example)\<img\>"), "{text}");
    assert!(!text.contains("[click]("));
}

#[test]
fn timestamps_are_rfc3339_utc() {
    let at = |secs| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "1970-01-01T00:00:00Z");
    assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(at(1_796_026_500), "2026-11-30T08:15:00Z");
    assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
}

#[test]
fn instance_percent_encodes_odd_request_ids() {
    assert_eq!(instance("ab-9_~."), "urn:edgeward:ray:ab-9_~.");
    assert_eq!(instance("a b/é"), "urn:edgeward:ray:a%20b%2F%C3%A9");
}
