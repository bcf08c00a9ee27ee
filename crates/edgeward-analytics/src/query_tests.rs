//! Exact answers of every query on the [`crate::sample`] mix.

use super::*;
use crate::sample::{self, BASE_MS};

fn store() -> SqliteStore {
    let mut store = SqliteStore::in_memory().unwrap();
    store.insert_batch(&sample::events(BASE_MS)).unwrap();
    store
}

const ALL: Filter<'static> = Filter {
    zone: None,
    from_ms: None,
    to_ms: None,
};

fn sb(minute: i64, class: &str, count: u64) -> StatusBucket {
    StatusBucket {
        bucket_start_ms: BASE_MS + minute * 60_000,
        status_class: class.to_owned(),
        count,
    }
}

#[test]
fn status_over_time_buckets_by_minute_and_class() {
    let got = store().status_over_time(&ALL, Duration::from_secs(60)).unwrap();
    let want = vec![
        sb(0, "2xx", 20),
        sb(0, "3xx", 10),
        sb(0, "4xx", 8),
        sb(1, "2xx", 20),
        sb(1, "4xx", 19),
        sb(2, "4xx", 11),
        sb(2, "5xx", 3),
    ];
    assert_eq!(got, want);
}

#[test]
fn status_counts_and_4xx_share() {
    let s = store();
    let got: Vec<(u16, u64)> = s
        .status_counts(&ALL)
        .unwrap()
        .into_iter()
        .map(|c| (c.status, c.count))
        .collect();
    assert_eq!(
        got,
        [
            (200, 40),
            (304, 10),
            (403, 16),
            (404, 11),
            (429, 9),
            (451, 1),
            (499, 1),
            (500, 1),
            (502, 2)
        ]
    );
    assert!((s.share_4xx(&ALL).unwrap() - 38.0 / 91.0).abs() < 1e-12);
    let empty = SqliteStore::in_memory().unwrap();
    assert_eq!(empty.share_4xx(&ALL).unwrap(), 0.0);
}

#[test]
fn top_404_lists_broken_links_with_referrers() {
    let got = store().top_404(&ALL, 2).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].path.as_str(), got[0].count), ("/old-page", 7));
    let refs: Vec<(&str, u64)> = got[0]
        .referers
        .iter()
        .map(|r| (r.referer.as_str(), r.count))
        .collect();
    assert_eq!(
        refs,
        [
            ("https://blog.example/post-1", 4),
            ("https://news.example/", 2),
            ("", 1)
        ]
    );
    assert_eq!((got[1].path.as_str(), got[1].count), ("/missing.png", 3));
    assert_eq!(got[1].referers[0].count, 3);
}

#[test]
fn security_events_by_source_and_rule() {
    let got: Vec<(String, Option<String>, u64)> = store()
        .security_events(&ALL)
        .unwrap()
        .into_iter()
        .map(|c| (c.source, c.rule_id, c.count))
        .collect();
    let want = [
        ("waf", "waf-sqli", 5),
        ("challenge", "rule-challenge", 4),
        ("ip_rule", "ip-block-1", 3),
        ("browser_check", "bic-empty-ua", 2),
        ("waf", "waf-xss", 2),
        ("legal", "legal-de", 1),
    ]
    .map(|(s, r, n)| (s.to_owned(), Some(r.to_owned()), n));
    assert_eq!(got, want);
}

#[test]
fn rate_limited_by_bucket_and_rule() {
    let got: Vec<(i64, Option<String>, u64)> = store()
        .rate_limited(&ALL, Duration::from_secs(60))
        .unwrap()
        .into_iter()
        .map(|b| (b.bucket_start_ms, b.rule_id, b.count))
        .collect();
    let m = |k: i64| BASE_MS + k * 60_000;
    assert_eq!(
        got,
        [
            (m(1), Some("rl-login".to_owned()), 4),
            (m(2), Some("rl-api".to_owned()), 3),
            (m(2), Some("rl-login".to_owned()), 2),
        ]
    );
}

#[test]
fn totals_split_by_source() {
    let t = store().totals(&ALL).unwrap();
    assert_eq!(t.requests, sample::TOTAL);
    let got: Vec<(&str, u64)> = t.by_source.iter().map(|s| (s.source.as_str(), s.count)).collect();
    assert_eq!(
        got,
        [
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
    );
}

#[test]
fn filters_restrict_zone_and_half_open_time_range() {
    let s = store();
    let blog = Filter {
        zone: Some("blog.example"),
        ..ALL
    };
    assert_eq!(s.totals(&blog).unwrap().requests, 11);
    assert_eq!(s.top_404(&blog, 10).unwrap()[0].path, "/typo");
    let minute1 = Filter {
        from_ms: Some(BASE_MS + 60_000),
        to_ms: Some(BASE_MS + 120_000),
        ..ALL
    };
    assert_eq!(s.totals(&minute1).unwrap().requests, 39);
    let both = Filter {
        zone: Some("blog.example"),
        ..minute1
    };
    assert_eq!(s.totals(&both).unwrap().requests, 0);
    assert!(s.security_events(&both).unwrap().is_empty());
}

/// The sample mix stored the way the writer stores it: routine events as rollups.
fn rolled_up_store() -> SqliteStore {
    let rollups = crate::rollup::Rollups::default();
    let mut store = SqliteStore::in_memory().unwrap();
    let (routine, details): (Vec<_>, Vec<_>) =
        sample::events(BASE_MS).into_iter().partition(|e| e.is_routine());
    for e in &routine {
        assert!(rollups.add(&e.as_routine()));
    }
    assert_eq!(
        store.insert_rollups(&rollups.take()).unwrap(),
        routine.len() as u64
    );
    store.insert_batch(&details).unwrap();
    assert_eq!(store.detail_count().unwrap(), details.len() as u64);
    store
}

#[test]
fn rollups_answer_every_query_exactly_as_detail_rows_do() {
    let (full, rolled) = (store(), rolled_up_store());
    assert_eq!(rolled.count().unwrap(), sample::TOTAL);
    let second = Duration::from_secs(1);
    let minute = Duration::from_secs(60);
    // Boundaries inside a second and between two events of the same rollup second.
    let filters = [
        ALL,
        Filter {
            zone: Some("shop.example"),
            ..ALL
        },
        Filter {
            zone: Some("blog.example"),
            ..ALL
        },
        Filter {
            from_ms: Some(BASE_MS + 2_500),
            to_ms: Some(BASE_MS + 61_001),
            ..ALL
        },
        Filter {
            from_ms: Some(BASE_MS + 500),
            to_ms: Some(BASE_MS + 999),
            ..ALL
        },
        Filter {
            zone: Some("shop.example"),
            from_ms: Some(BASE_MS + 60_250),
            to_ms: None,
        },
    ];
    for f in &filters {
        assert_eq!(full.totals(f).unwrap(), rolled.totals(f).unwrap(), "{f:?}");
        assert_eq!(
            full.status_counts(f).unwrap(),
            rolled.status_counts(f).unwrap(),
            "{f:?}"
        );
        assert_eq!(full.share_4xx(f).unwrap(), rolled.share_4xx(f).unwrap(), "{f:?}");
        for b in [second, minute] {
            assert_eq!(
                full.status_over_time(f, b).unwrap(),
                rolled.status_over_time(f, b).unwrap(),
                "{f:?} {b:?}"
            );
            assert_eq!(
                full.rate_limited(f, b).unwrap(),
                rolled.rate_limited(f, b).unwrap()
            );
        }
        assert_eq!(
            full.top_404(f, 10).unwrap(),
            rolled.top_404(f, 10).unwrap(),
            "{f:?}"
        );
        assert_eq!(
            full.security_events(f).unwrap(),
            rolled.security_events(f).unwrap()
        );
    }
}

#[test]
fn retention_deletes_rollups_too() {
    let mut s = rolled_up_store();
    s.delete_before(BASE_MS + 120_000).unwrap();
    let left: u64 = sample::events(BASE_MS)
        .iter()
        .filter(|e| e.time_ms >= BASE_MS + 120_000)
        .count() as u64;
    assert_eq!(s.count().unwrap(), left);
    assert_eq!(s.totals(&ALL).unwrap().requests, left);
}

#[test]
fn rollup_rows_with_the_same_key_add_up() {
    let rollups = crate::rollup::Rollups::default();
    let e = &sample::events(BASE_MS)[0];
    rollups.add(&e.as_routine());
    let taken = rollups.take();
    let mut s = SqliteStore::in_memory().unwrap();
    s.insert_rollups(&taken).unwrap();
    s.insert_rollups(&taken).unwrap();
    assert_eq!(s.count().unwrap(), 2);
    assert_eq!(
        s.status_counts(&ALL).unwrap(),
        vec![StatusCount {
            status: 200,
            count: 2
        }]
    );
}
