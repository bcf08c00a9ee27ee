//! A known mix of events over three minutes, for tests, the demo and benchmarks.
//!
//! Owns only the mix; the counts it produces are spelled out below so tests can assert
//! exact numbers. Not a traffic model.
//!
//! | minute | events |
//! | --- | --- |
//! | 0 | 20× 200 shop, 10× 304 blog, 5× waf `waf-sqli` 403, 3× ip_rule `ip-block-1` 403 |
//! | 1 | 20× 200 shop, 7× 404 `/old-page` (referrers: 4× `https://blog.example/post-1`, 2× `https://news.example/`, 1× none), 2× waf `waf-xss` 403, 2× browser_check `bic-empty-ua` 403, 4× challenge `rule-challenge` 403, 4× rate_limit `rl-login` 429 |
//! | 2 | 3× 404 `/missing.png` (referrer `https://shop.example/`), 1× 404 `/typo` blog, 1× legal `legal-de` 451, 2× rate_limit `rl-login` 429, 3× rate_limit `rl-api` 429, 2× edge 502, 1× client_closed 499, 1× origin 500 |
//!
//! 91 events: 80 in zone `shop.example`, 11 in `blog.example`; 38 are 4xx.

use crate::event::{Event, Source};

/// A minute-aligned start time (Unix ms) for [`events`].
pub const BASE_MS: i64 = 1_700_000_040_000;

/// How many events [`events`] returns.
pub const TOTAL: u64 = 91;

/// The mix described in the module docs, starting at `base_ms`.
pub fn events(base_ms: i64) -> Vec<Event> {
    let mut out = Vec::with_capacity(TOTAL as usize);
    let mut add = |n: usize, minute: i64, spec: Spec| {
        for i in 0..n {
            out.push(spec.event(base_ms + minute * 60_000 + (i as i64) * 500, out.len()));
        }
    };
    let shop = "shop.example";
    let blog = "blog.example";
    add(20, 0, Spec::origin(shop, "/", 200));
    add(10, 0, Spec::origin(blog, "/feed", 304));
    add(5, 0, Spec::policy(shop, Source::Waf, "waf-sqli", 403));
    add(3, 0, Spec::policy(shop, Source::IpRule, "ip-block-1", 403));

    add(20, 1, Spec::origin(shop, "/products", 200));
    add(
        4,
        1,
        Spec::origin(shop, "/old-page", 404).referer("https://blog.example/post-1"),
    );
    add(
        2,
        1,
        Spec::origin(shop, "/old-page", 404).referer("https://news.example/"),
    );
    add(1, 1, Spec::origin(shop, "/old-page", 404));
    add(2, 1, Spec::policy(shop, Source::Waf, "waf-xss", 403));
    add(
        2,
        1,
        Spec::policy(shop, Source::BrowserCheck, "bic-empty-ua", 403),
    );
    add(4, 1, Spec::policy(shop, Source::Challenge, "rule-challenge", 403));
    add(4, 1, Spec::policy(shop, Source::RateLimit, "rl-login", 429));

    add(
        3,
        2,
        Spec::origin(shop, "/missing.png", 404).referer("https://shop.example/"),
    );
    add(1, 2, Spec::origin(blog, "/typo", 404));
    add(1, 2, Spec::policy(shop, Source::Legal, "legal-de", 451));
    add(2, 2, Spec::policy(shop, Source::RateLimit, "rl-login", 429));
    add(3, 2, Spec::policy(shop, Source::RateLimit, "rl-api", 429));
    add(2, 2, Spec::edge(shop, Source::Edge, 502));
    add(1, 2, Spec::edge(shop, Source::ClientClosed, 499));
    add(1, 2, Spec::origin(shop, "/checkout", 500));
    out
}

/// The varying parts of a group of sample events.
struct Spec {
    zone: &'static str,
    path: &'static str,
    status: u16,
    source: Source,
    rule_id: Option<&'static str>,
    referer: &'static str,
    from_origin: bool,
}

impl Spec {
    fn origin(zone: &'static str, path: &'static str, status: u16) -> Spec {
        Spec {
            zone,
            path,
            status,
            source: Source::Origin,
            rule_id: None,
            referer: "",
            from_origin: true,
        }
    }

    fn policy(zone: &'static str, source: Source, rule: &'static str, status: u16) -> Spec {
        Spec {
            source,
            rule_id: Some(rule),
            from_origin: false,
            ..Spec::origin(zone, "/login", status)
        }
    }

    fn edge(zone: &'static str, source: Source, status: u16) -> Spec {
        Spec {
            source,
            from_origin: false,
            ..Spec::origin(zone, "/slow", status)
        }
    }

    fn referer(self, referer: &'static str) -> Spec {
        Spec { referer, ..self }
    }

    fn event(&self, time_ms: i64, n: usize) -> Event {
        Event {
            time_ms,
            zone: self.zone.to_owned(),
            method: "GET".to_owned(),
            host: self.zone.to_owned(),
            path: self.path.to_owned(),
            query: String::new(),
            status: self.status,
            origin_status: self.from_origin.then_some(self.status),
            source: self.source,
            rule_id: self.rule_id.map(str::to_owned),
            request_id: format!("req-{n:04}"),
            client_ip: format!("192.0.2.{}", n % 250),
            user_agent: "sample/1.0".to_owned(),
            referer: self.referer.to_owned(),
            bytes_in: 300,
            bytes_out: 1_200,
            duration_us: 5_000,
            origin_duration_us: self.from_origin.then_some(4_000),
        }
    }
}
