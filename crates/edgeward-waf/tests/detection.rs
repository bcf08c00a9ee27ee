//! Measures the managed detectors against the attack and benign corpora in `corpus/` and
//! asserts floors per sensitivity. Run with `--nocapture` to see the table.
//!
//! Attack payloads are URL-level strings (as the upstream lists ship them): each is sent as
//! the value of a query parameter with only the bytes that cannot appear raw in a query
//! (space, `&`, `#`, controls, non-ASCII) escaped, so the WAF's single decode restores the
//! list text. Scanner payloads are sent as the User-Agent. A payload counts as detected when
//! `inspect` returns any match. Benign lines are sent the way a browser would send them.

use edgeward_waf::{Sensitivity, Waf, WafInput};
use std::fmt::Write as _;

const CHROME: &[u8] = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn corpus(rel: &str) -> Vec<String> {
    let path = format!("{}/corpus/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("# "))
        .map(str::to_owned)
        .collect()
}

/// Escapes what cannot travel raw in a query, keeping existing `%XX` escapes.
fn url_level(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b <= b' ' || b >= 0x7f || b == b'&' || b == b'#' {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Form-encodes a human-typed string as a browser's search box does.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// One synthetic request: path, query, extra headers, body.
struct Req {
    label: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<(&'static str, Vec<u8>)>,
}

impl Req {
    fn get(path: &str, query: String) -> Req {
        Req {
            label: format!("{path}?{query}"),
            path: path.into(),
            query,
            headers: Vec::new(),
            body: None,
        }
    }

    fn blocked(&self, waf: &Waf) -> Option<&'static str> {
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("Host", b"example.com"),
            ("Accept", b"text/html,*/*;q=0.8"),
            ("Accept-Language", b"en-US,en;q=0.9"),
        ];
        if !self.headers.iter().any(|(n, _)| n == "User-Agent") {
            headers.push(("User-Agent", CHROME));
        }
        headers.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
        let input = WafInput {
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: self.body.as_ref().map(|(t, b)| (*t, b.as_slice())),
        };
        waf.inspect(&input).map(|m| m.rule_id)
    }
}

fn attacks() -> Vec<(&'static str, Vec<Req>)> {
    let q = |file: &str| {
        corpus(file)
            .iter()
            .map(|p| Req::get("/search", format!("q={}", url_level(p))))
            .collect::<Vec<_>>()
    };
    let scanners = corpus("attack/scanner_ua.txt")
        .into_iter()
        .map(|ua| Req {
            label: ua.clone(),
            headers: vec![("User-Agent".into(), ua.into_bytes())],
            ..Req::get("/", String::new())
        })
        .collect();
    vec![
        ("sqli", q("attack/sqli.txt")),
        ("xss", q("attack/xss.txt")),
        ("traversal", q("attack/traversal.txt")),
        ("cmdi", q("attack/cmdi.txt")),
        ("scanner", scanners),
    ]
}

fn benign() -> Vec<Req> {
    let mut out = Vec::new();
    for term in corpus("benign/search_terms.txt") {
        out.push(Req::get("/search", format!("q={}", form_encode(&term))));
    }
    for target in corpus("benign/paths.txt") {
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        out.push(Req::get(path, query.to_owned()));
    }
    for ua in corpus("benign/user_agents.txt")
        .into_iter()
        .chain(corpus("benign/user_agents_sqlmap.txt"))
    {
        out.push(Req {
            label: ua.clone(),
            headers: vec![("User-Agent".into(), ua.into_bytes())],
            ..Req::get("/", String::new())
        });
    }
    for c in corpus("benign/cookies.txt") {
        out.push(Req {
            label: c.clone(),
            headers: vec![("Cookie".into(), c.into_bytes())],
            ..Req::get("/account", String::new())
        });
    }
    for j in corpus("benign/json_bodies.jsonl") {
        out.push(Req {
            label: j.clone(),
            body: Some(("application/json", j.into_bytes())),
            ..Req::get("/api/v1/items", String::new())
        });
    }
    for f in corpus("benign/form_bodies.txt") {
        out.push(Req {
            label: f.clone(),
            body: Some(("application/x-www-form-urlencoded", f.into_bytes())),
            ..Req::get("/submit", String::new())
        });
    }
    out
}

struct Row {
    detection: Vec<(&'static str, usize, usize)>,
    false_positives: usize,
    benign: usize,
}

fn measure(s: Sensitivity, verbose: bool) -> Row {
    let waf = Waf::new(s);
    let mut detection = Vec::new();
    for (cat, reqs) in attacks() {
        let hits = reqs.iter().filter(|r| r.blocked(&waf).is_some()).count();
        if verbose {
            for r in reqs.iter().filter(|r| r.blocked(&waf).is_none()) {
                println!("  miss {s:?} {cat}: {}", r.label);
            }
        }
        detection.push((cat, hits, reqs.len()));
    }
    let benign = benign();
    let mut false_positives = 0;
    for r in &benign {
        if let Some(rule) = r.blocked(&waf) {
            false_positives += 1;
            if verbose {
                println!("  FP {s:?} {rule}: {}", r.label);
            }
        }
    }
    Row {
        detection,
        false_positives,
        benign: benign.len(),
    }
}

fn pct(a: usize, b: usize) -> f64 {
    100.0 * a as f64 / b as f64
}

#[test]
fn corpus_sizes() {
    let attacks: usize = attacks().iter().map(|(_, r)| r.len()).sum();
    assert!(attacks >= 300, "attack corpus has {attacks}");
    assert!(benign().len() >= 500, "benign corpus has {}", benign().len());
}

#[test]
fn detection_and_false_positive_rates() {
    let verbose = std::env::var_os("WAF_CORPUS_VERBOSE").is_some();
    // Floors sit a little under the measured rates so a regression fails, not noise.
    let floors = [
        (Sensitivity::Low, 55.0, 0.5),
        (Sensitivity::Medium, 90.0, 1.0),
        (Sensitivity::High, 90.0, 5.0),
    ];
    println!("sensitivity | sqli | xss | traversal | cmdi | scanner | FP (of benign)");
    let mut failures = Vec::new();
    for (s, min_detect, max_fp) in floors {
        let row = measure(s, verbose);
        let mut line = format!("{s:?}");
        for (cat, hits, n) in &row.detection {
            let p = pct(*hits, *n);
            let _ = write!(line, " | {p:.1}% ({hits}/{n})");
            if p < min_detect {
                failures.push(format!("{s:?} {cat}: {p:.1}% < {min_detect}%"));
            }
        }
        let fp = pct(row.false_positives, row.benign);
        let _ = write!(line, " | {fp:.2}% ({}/{})", row.false_positives, row.benign);
        if fp > max_fp {
            failures.push(format!("{s:?} FP {fp:.2}% > {max_fp}%"));
        }
        println!("{line}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
