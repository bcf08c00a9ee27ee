//! Measures the managed WAF against the corpora in `corpus/`: detection per attack family,
//! per source (lines extracted from packaged payload lists vs lines written by hand next to
//! the detectors) and per placement, false positives per kind of benign traffic, at each
//! sensitivity; asserts floors. Run with `--nocapture` to see the tables,
//! `WAF_CORPUS_VERBOSE=1` to list misses and false positives.
//!
//! Attack lines are URL-level strings (as the upstream lists ship them). Placements: query
//! value, path segment, custom header, cookie (URL-level, decoded once by the WAF as an
//! origin would), urlencoded form, JSON, multipart field and XML text (the line decoded
//! once, then encoded as that body type requires).

use base64::Engine as _;
use edgeward_waf::{Sensitivity, Verdict, Waf, WafInput, WafRequest};
use std::collections::BTreeMap;
use std::fmt::Write as _;

const CHROME: &[u8] = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const FAMILIES: &[&str] = &[
    "sqli",
    "xss",
    "traversal",
    "cmdi",
    "java",
    "php",
    "ssti",
    "ssi",
    "nosql",
    "ldap",
    "crlf",
    "xxe",
];
const PLACEMENTS: &[&str] = &[
    "query",
    "path",
    "header",
    "cookie",
    "form",
    "json",
    "multipart",
    "xml",
];

fn corpus(rel: &str) -> Vec<String> {
    let path = format!("{}/corpus/{rel}", env!("CARGO_MANIFEST_DIR"));
    match std::fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("# "))
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Escapes what cannot travel raw in a URL, keeping existing `%XX` escapes.
fn url_level(s: &str, extra: &[u8]) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b <= b' ' || b >= 0x7f || b == b'&' || b == b'#' || extra.contains(&b) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(b as char);
        }
    }
    out
}

fn decode_once(s: &str) -> String {
    edgeward_waf::decode::percent_decode_once(s, false).into_owned()
}

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

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One synthetic request.
#[derive(Clone, Default)]
struct Req {
    label: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<(String, Vec<u8>)>,
}

impl Req {
    fn get(path: &str, query: &str) -> Req {
        Req {
            label: format!("{path}?{query}"),
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            ..Req::default()
        }
    }

    fn post(path: &str, ctype: &str, body: Vec<u8>) -> Req {
        Req {
            label: String::from_utf8_lossy(&body).chars().take(200).collect(),
            method: "POST".into(),
            path: path.into(),
            body: Some((ctype.into(), body)),
            ..Req::default()
        }
    }

    fn with_header(mut self, n: &str, v: &[u8]) -> Req {
        self.headers.push((n.into(), v.to_vec()));
        self
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
        let req = WafRequest {
            method: &self.method,
            input: WafInput {
                path: &self.path,
                query: &self.query,
                headers: &headers,
                body: self.body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())),
            },
            body_complete: true,
            skip_rules: &[],
        };
        match waf.inspect_request(&req) {
            Verdict::Block(m) | Verdict::TooLarge(m) | Verdict::Log(m) => Some(m.rule_id),
            Verdict::Pass => None,
        }
    }
}

/// The request carrying `line` (URL-level) at `placement`.
fn place(line: &str, placement: &str) -> Req {
    let raw = decode_once(line);
    let mut r = match placement {
        "query" => Req::get("/search", &format!("q={}", url_level(line, b""))),
        "path" => Req::get(&format!("/p/{}", url_level(line, b"?")), ""),
        "header" => Req::get("/", "").with_header("X-Note", url_level(line, b"").as_bytes()),
        "cookie" => Req::get("/", "").with_header(
            "Cookie",
            format!("sid=1; pref={}", url_level(line, b";")).as_bytes(),
        ),
        "form" => Req::post(
            "/submit",
            "application/x-www-form-urlencoded",
            format!("a=1&q={}", form_encode(&raw)).into_bytes(),
        ),
        "json" => Req::post(
            "/api",
            "application/json",
            serde_json::json!({ "q": raw }).to_string().into_bytes(),
        ),
        "multipart" => {
            let body =
                format!("--b0\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n{raw}\r\n--b0--\r\n");
            Req::post("/upload", "multipart/form-data; boundary=b0", body.into_bytes())
        }
        "xml" if raw.trim_start().starts_with('<') && raw.contains("<!") => {
            Req::post("/soap", "application/xml", raw.clone().into_bytes())
        }
        "xml" => Req::post(
            "/soap",
            "application/xml",
            format!("<r><q>{}</q></r>", xml_escape(&raw)).into_bytes(),
        ),
        other => unreachable!("{other}"),
    };
    r.label = format!("[{placement}] {line}");
    r
}

/// Protocol-policy lines: a request target, `METHOD m` or `HEADER name: value`.
fn protocol_request(line: &str) -> Req {
    let mut r = if let Some(m) = line.strip_prefix("METHOD ") {
        Req {
            method: m.into(),
            ..Req::get("/", "")
        }
    } else if let Some(h) = line.strip_prefix("HEADER ") {
        let (n, v) = h.split_once(": ").expect("HEADER name: value");
        Req::get("/", "").with_header(n, decode_once(v).as_bytes())
    } else {
        Req::get(line, "")
    };
    r.label = line.to_owned();
    r
}

fn benign() -> Vec<(String, Req)> {
    let mut out = Vec::new();
    for term in corpus("benign/search_terms.txt") {
        out.push((
            "search (hand)".into(),
            Req::get("/search", &format!("q={}", form_encode(&term))),
        ));
    }
    for target in corpus("benign/paths.txt") {
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        out.push(("paths (hand)".into(), Req::get(path, query)));
    }
    for ua in corpus("benign/user_agents.txt") {
        out.push((
            "user agents (hand)".into(),
            Req::get("/", "").with_header("User-Agent", ua.as_bytes()),
        ));
    }
    for ua in corpus("benign/user_agents_sqlmap.txt") {
        out.push((
            "user agents (sqlmap list)".into(),
            Req::get("/", "").with_header("User-Agent", ua.as_bytes()),
        ));
    }
    for c in corpus("benign/cookies.txt") {
        out.push((
            "cookies (hand)".into(),
            Req::get("/account", "").with_header("Cookie", c.as_bytes()),
        ));
    }
    for j in corpus("benign/json_bodies.jsonl") {
        out.push((
            "json (hand)".into(),
            Req::post("/api/v1/items", "application/json", j.into_bytes()),
        ));
    }
    for f in corpus("benign/form_bodies.txt") {
        out.push((
            "forms (hand)".into(),
            Req::post("/submit", "application/x-www-form-urlencoded", f.into_bytes()),
        ));
    }
    for line in corpus("benign/generated.jsonl") {
        let v: serde_json::Value = serde_json::from_str(&line).expect("generated.jsonl line");
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let body = match (v.get("body"), v.get("body_b64")) {
            (Some(b), _) => Some(b.as_str().unwrap_or_default().as_bytes().to_vec()),
            (None, Some(b)) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_str().unwrap_or_default())
                    .unwrap(),
            ),
            _ => None,
        };
        let mut r = Req::get(&s("path"), &s("query"));
        r.method = s("method");
        if let Some(b) = body {
            r.label = String::from_utf8_lossy(&b).chars().take(200).collect();
            r.body = Some((s("ctype"), b));
        }
        out.push((format!("{} (generated)", s("kind")), r));
    }
    out
}

struct Tally {
    hits: usize,
    n: usize,
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        return 0.0;
    }
    100.0 * a as f64 / b as f64
}

/// Detection of one family's lines from one source: per placement and overall.
fn family(waf: &Waf, fam: &str, lines: &[String], verbose: bool) -> (Tally, Vec<Tally>) {
    let mut all = Tally { hits: 0, n: 0 };
    let mut per = Vec::new();
    for p in PLACEMENTS {
        let mut t = Tally { hits: 0, n: 0 };
        for l in lines {
            let r = place(l, p);
            t.n += 1;
            if r.blocked(waf).is_some() {
                t.hits += 1;
            } else if verbose {
                println!("  miss {fam} {}", r.label);
            }
        }
        all.hits += t.hits;
        all.n += t.n;
        per.push(t);
    }
    (all, per)
}

#[test]
fn corpus_sizes() {
    let extracted: usize = FAMILIES
        .iter()
        .map(|f| corpus(&format!("extracted/{f}.txt")).len())
        .sum();
    let hand: usize = FAMILIES
        .iter()
        .map(|f| corpus(&format!("hand/{f}.txt")).len())
        .sum();
    assert!(extracted >= 1300, "extracted corpus has {extracted}");
    assert!(hand >= 300, "hand corpus has {hand}");
    assert!(benign().len() >= 4000, "benign corpus has {}", benign().len());
}

#[test]
fn detection_and_false_positive_rates() {
    let verbose = std::env::var_os("WAF_CORPUS_VERBOSE").is_some();
    let benign = benign();
    let mut failures = Vec::new();
    for s in [Sensitivity::Low, Sensitivity::Medium, Sensitivity::High] {
        let waf = Waf::new(s);
        println!(
            "\n== {s:?} ==\nfamily | source | lines | all placements | {}",
            PLACEMENTS.join(" | ")
        );
        let mut total = Tally { hits: 0, n: 0 };
        for fam in FAMILIES {
            for source in ["extracted", "hand"] {
                let lines = corpus(&format!("{source}/{fam}.txt"));
                if lines.is_empty() {
                    continue;
                }
                let (all, per) = family(&waf, fam, &lines, verbose && s == Sensitivity::Medium);
                let cells: Vec<String> = per.iter().map(|t| format!("{:.0}%", pct(t.hits, t.n))).collect();
                println!(
                    "{fam} | {source} | {} | {:.1}% | {}",
                    lines.len(),
                    pct(all.hits, all.n),
                    cells.join(" | ")
                );
                total.hits += all.hits;
                total.n += all.n;
                let floor = match s {
                    Sensitivity::Low => 0.0,
                    _ if source == "hand" => 85.0,
                    _ => 80.0,
                };
                if pct(all.hits, all.n) < floor {
                    failures.push(format!(
                        "{s:?} {fam} {source}: {:.1}% < {floor}%",
                        pct(all.hits, all.n)
                    ));
                }
            }
        }
        for (name, file) in [
            ("protocol", "hand/protocol.txt"),
            ("scanner", "hand/scanner_ua.txt"),
        ] {
            let reqs: Vec<Req> = corpus(file)
                .iter()
                .map(|l| {
                    if name == "protocol" {
                        protocol_request(l)
                    } else {
                        Req::get("/", "").with_header("User-Agent", l.as_bytes())
                    }
                })
                .collect();
            let hits = reqs.iter().filter(|r| r.blocked(&waf).is_some()).count();
            if verbose && s == Sensitivity::Medium {
                reqs.iter()
                    .filter(|r| r.blocked(&waf).is_none())
                    .for_each(|r| println!("  miss {name} {}", r.label));
            }
            println!(
                "{name} | hand | {} | {:.1}% | (own placement)",
                reqs.len(),
                pct(hits, reqs.len())
            );
        }
        println!(
            "all families, all placements: {:.1}% of {}",
            pct(total.hits, total.n),
            total.n
        );
        let mut fp: BTreeMap<&str, Tally> = BTreeMap::new();
        for (kind, r) in &benign {
            let t = fp.entry(kind).or_insert(Tally { hits: 0, n: 0 });
            t.n += 1;
            if let Some(rule) = r.blocked(&waf) {
                t.hits += 1;
                if verbose {
                    println!("  FP {s:?} {rule} {kind}: {}", r.label);
                }
            }
        }
        let (fph, fpn) = fp.values().fold((0, 0), |(h, n), t| (h + t.hits, n + t.n));
        let kinds: Vec<String> = fp
            .iter()
            .map(|(k, t)| format!("{k} {}/{}", t.hits, t.n))
            .collect();
        println!(
            "false positives: {:.2}% ({fph}/{fpn}); {}",
            pct(fph, fpn),
            kinds.join(", ")
        );
        let max_fp = match s {
            Sensitivity::Low => 0.5,
            Sensitivity::Medium => 1.0,
            // High also blocks weak signals (any HTML tag, a lone `../`): for zones that
            // accept no markup or code at all.
            Sensitivity::High => 20.0,
        };
        if pct(fph, fpn) > max_fp {
            failures.push(format!("{s:?} FP {:.2}% > {max_fp}%", pct(fph, fpn)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
