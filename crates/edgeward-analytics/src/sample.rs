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
            origin: self.from_origin.then(|| "127.0.0.1:9000".to_owned()),
            ..Event::default()
        }
    }
}

/// The mix as the delivery thread would hand it to a store: one batch, routine events
/// rolled up, the rest in full.
pub fn batch(instance: &str, id: u64, base_ms: i64) -> crate::Batch {
    let rollups = crate::rollup::Rollups::default();
    let mut details = Vec::new();
    for e in events(base_ms) {
        if e.is_routine() {
            rollups.add(&e.as_routine());
        } else {
            details.push(e);
        }
    }
    crate::Batch {
        id,
        instance: instance.to_owned(),
        created_ms: base_ms,
        events: details,
        rollups: rollups.take(),
    }
}

/// Checks every answer of `query` against the mix stored `copies` times (e.g. once by each
/// of two edges, asked for the whole fleet) from [`BASE_MS`]; `filter` restricts instance
/// (the zone and time fields must be unset). Any store must pass this.
pub async fn check_answers(
    query: &dyn crate::EventQuery,
    filter: crate::Filter,
    copies: u64,
) -> Result<(), String> {
    use crate::query::{Answer, Ask, Question};
    use std::time::Duration;
    let ask = |kind: Ask, filter: crate::Filter| async move {
        query
            .answer(&Question { kind, filter })
            .await
            .map_err(|e| format!("{kind:?}: {e}"))
    };
    let k = copies;
    let minute = Duration::from_secs(60);
    let mut failures = Vec::new();
    let mut check = |what: &str, got: String, want: String| {
        if got != want {
            failures.push(format!("{what}:\n  got  {got}\n  want {want}"));
        }
    };

    let Answer::Totals(t) = ask(Ask::Totals, filter.clone()).await? else {
        return Err("totals: wrong answer kind".into());
    };
    let by_source: Vec<(String, u64)> = t.by_source.into_iter().map(|s| (s.source, s.count)).collect();
    let want = [
        ("origin", 62),
        ("rate_limit", 9),
        ("waf", 7),
        ("challenge", 4),
        ("ip_rule", 3),
        ("browser_check", 2),
        ("edge", 2),
        ("client_closed", 1),
        ("legal", 1),
    ]
    .map(|(s, n)| (s.to_owned(), n * k));
    check(
        "totals",
        format!("{} {by_source:?}", t.requests),
        format!("{} {want:?}", TOTAL * k),
    );

    let Answer::StatusCounts { counts, share_4xx } = ask(Ask::StatusCounts, filter.clone()).await? else {
        return Err("status counts: wrong answer kind".into());
    };
    let counts: Vec<(u16, u64)> = counts.into_iter().map(|c| (c.status, c.count)).collect();
    let want = [
        (200, 40),
        (304, 10),
        (403, 16),
        (404, 11),
        (429, 9),
        (451, 1),
        (499, 1),
        (500, 1),
        (502, 2),
    ]
    .map(|(s, n)| (s, n * k));
    check("status counts", format!("{counts:?}"), format!("{want:?}"));
    let share_ok = (share_4xx - 38.0 / 91.0).abs() < 1e-9;
    check("4xx share", share_ok.to_string(), "true".into());

    let Answer::StatusOverTime(buckets) = ask(Ask::StatusOverTime { bucket: minute }, filter.clone()).await?
    else {
        return Err("status over time: wrong answer kind".into());
    };
    let got: Vec<(i64, String, u64)> = buckets
        .into_iter()
        .map(|b| ((b.bucket_start_ms - BASE_MS) / 60_000, b.status_class, b.count))
        .collect();
    let want = [
        (0, "2xx", 20),
        (0, "3xx", 10),
        (0, "4xx", 8),
        (1, "2xx", 20),
        (1, "4xx", 19),
        (2, "4xx", 11),
        (2, "5xx", 3),
    ]
    .map(|(m, c, n)| (m, c.to_owned(), n * k));
    check("status over time", format!("{got:?}"), format!("{want:?}"));

    let Answer::Top404(paths) = ask(Ask::Top404 { limit: 2 }, filter.clone()).await? else {
        return Err("top 404: wrong answer kind".into());
    };
    type PathCounts = Vec<(String, u64, Vec<(String, u64)>)>;
    let got: PathCounts = paths
        .into_iter()
        .map(|p| {
            (
                p.path,
                p.count,
                p.referers.into_iter().map(|r| (r.referer, r.count)).collect(),
            )
        })
        .collect();
    let want = vec![
        (
            "/old-page".to_owned(),
            7 * k,
            vec![
                ("https://blog.example/post-1".to_owned(), 4 * k),
                ("https://news.example/".to_owned(), 2 * k),
                (String::new(), k),
            ],
        ),
        (
            "/missing.png".to_owned(),
            3 * k,
            vec![("https://shop.example/".to_owned(), 3 * k)],
        ),
    ];
    check("top 404", format!("{got:?}"), format!("{want:?}"));

    let Answer::SecurityEvents(sec) = ask(Ask::SecurityEvents, filter.clone()).await? else {
        return Err("security: wrong answer kind".into());
    };
    let got: Vec<(String, Option<String>, u64)> =
        sec.into_iter().map(|c| (c.source, c.rule_id, c.count)).collect();
    let want = [
        ("waf", "waf-sqli", 5),
        ("challenge", "rule-challenge", 4),
        ("ip_rule", "ip-block-1", 3),
        ("browser_check", "bic-empty-ua", 2),
        ("waf", "waf-xss", 2),
        ("legal", "legal-de", 1),
    ]
    .map(|(s, r, n)| (s.to_owned(), Some(r.to_owned()), n * k));
    check("security events", format!("{got:?}"), format!("{want:?}"));

    let Answer::RateLimited(rl) = ask(Ask::RateLimited { bucket: minute }, filter.clone()).await? else {
        return Err("rate limited: wrong answer kind".into());
    };
    let got: Vec<(i64, Option<String>, u64)> = rl
        .into_iter()
        .map(|b| ((b.bucket_start_ms - BASE_MS) / 60_000, b.rule_id, b.count))
        .collect();
    let want = [(1, "rl-login", 4), (2, "rl-api", 3), (2, "rl-login", 2)]
        .map(|(m, r, n)| (m, Some(r.to_owned()), n * k));
    check("rate limited", format!("{got:?}"), format!("{want:?}"));

    let blog = crate::Filter {
        zone: Some("blog.example".into()),
        from_ms: Some(BASE_MS + 60_000),
        ..filter.clone()
    };
    let Answer::Totals(t) = ask(Ask::Totals, blog).await? else {
        return Err("totals: wrong answer kind".into());
    };
    check("blog from minute 1", t.requests.to_string(), k.to_string());
    let minute1 = crate::Filter {
        from_ms: Some(BASE_MS + 60_000),
        to_ms: Some(BASE_MS + 120_000),
        ..filter
    };
    let Answer::Totals(t) = ask(Ask::Totals, minute1).await? else {
        return Err("totals: wrong answer kind".into());
    };
    check("minute 1", t.requests.to_string(), (39 * k).to_string());
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
