//! Measures the cost of `Waf::inspect` on realistic benign requests (no criterion needed).
//!
//! Builds a browser-like GET (User-Agent, Accept, Accept-Language, a cookie header with five
//! values, a referer URL, a three-parameter query) and a JSON POST, then reports nanoseconds
//! per inspect at the default (Medium) sensitivity.
//!
//!     cargo run --release -p edgeward-waf --example inspect_speed

use edgeward_waf::{Sensitivity, Waf, WafInput};
use std::hint::black_box;
use std::time::Instant;

const BROWSER_HEADERS: &[(&str, &[u8])] = &[
    ("Host", b"shop.example.com"),
    (
        "User-Agent",
        b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        "Accept",
        b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    ),
    ("Accept-Language", b"en-GB,en;q=0.9,de;q=0.7"),
    ("Accept-Encoding", b"gzip, deflate, br, zstd"),
    (
        "Cookie",
        b"_ga=GA1.2.1234567890.1714567890; _gid=GA1.2.987654321.1714567890; theme=dark; \
          sessionid=8f7e6d5c4b3a29181726354453627180; cart=%7B%22items%22%3A3%7D",
    ),
    (
        "Referer",
        b"https://shop.example.com/catalog/shoes/running?sort=price_asc&page=2",
    ),
    ("Upgrade-Insecure-Requests", b"1"),
    ("Sec-Fetch-Mode", b"navigate"),
];

const API_HEADERS: &[(&str, &[u8])] = &[
    ("Host", b"api.example.com"),
    ("User-Agent", b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15"),
    ("Accept", b"application/json"),
    ("Content-Type", b"application/json"),
    ("Cookie", b"sessionid=8f7e6d5c4b3a29181726354453627180; csrftoken=Zx9Yw8Xv7Uu6Tt5Ss4Rr3Qq2Pp1Oo0Nn"),
    ("Referer", b"https://shop.example.com/checkout"),
];

const JSON_BODY: &str = r#"{"order":{"id":"A-1029384","items":[{"sku":"RUN-42-BLK","qty":1,"price":129.95},{"sku":"SOCK-M-WHT","qty":3,"price":4.5}],"shipping":{"name":"Jane O'Neil","line1":"12 Rock & Roll Ave","city":"Zürich","zip":"8001","country":"CH"},"note":"Please leave at the door, thanks!","coupon":"SPRING-24"}}"#;

fn time(label: &str, waf: &Waf, input: &WafInput<'_>) {
    assert_eq!(waf.inspect(input), None, "{label} must be benign");
    let mut iters = 1_000u64;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(waf.inspect(black_box(input)));
        }
        let took = start.elapsed();
        if took.as_millis() >= 300 {
            // Best of five runs of this size, to keep scheduling noise out.
            let mut best = took;
            for _ in 0..4 {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(waf.inspect(black_box(input)));
                }
                best = best.min(start.elapsed());
            }
            let ns = best.as_nanos() as f64 / iters as f64;
            println!("{label:<12} {ns:>8.0} ns/inspect");
            return;
        }
        iters *= 2;
    }
}

fn main() {
    let waf = Waf::new(Sensitivity::Medium);
    let get = WafInput {
        path: "/catalog/shoes/running/trail-runner-2",
        query: "color=black&size=42&utm_source=newsletter",
        headers: BROWSER_HEADERS,
        body: None,
    };
    let post = WafInput {
        path: "/api/v1/orders",
        query: "",
        headers: API_HEADERS,
        body: Some(("application/json; charset=utf-8", JSON_BODY.as_bytes())),
    };
    time("browser GET", &waf, &get);
    time("JSON POST", &waf, &post);
}
