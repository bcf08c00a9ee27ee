//! The Redis store against a real `redis-server`: shared limits, exactness, outages, recovery.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use edgeward_limits::{
    now_ms, CounterStore, Decision, FailMode, Limiter, Policy, RedisConfig, RedisStore, Store,
};
use redis_server::RedisServer;

fn policy(requests: u64, period: Duration, mitigation: Duration) -> Policy {
    Policy {
        requests,
        period,
        mitigation_timeout: mitigation,
    }
}

async fn store(server: &RedisServer, fail_mode: FailMode) -> RedisStore {
    let mut config = RedisConfig::new(server.url());
    config.fail_mode = fail_mode;
    RedisStore::connect(config)
        .await
        .expect("connect to the test redis")
}

#[tokio::test]
async fn two_instances_share_one_limit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        store(&server, FailMode::Open).await,
        store(&server, FailMode::Open).await,
    );
    let p = policy(10, Duration::from_secs(60), Duration::ZERO);
    let now = now_ms();
    let mut allowed = 0;
    for i in 0..30 {
        let instance = if i % 2 == 0 { &a } else { &b };
        if instance
            .hit(b"rl:shared:ip", &p, now, true)
            .await
            .unwrap()
            .is_allowed()
        {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10);
    assert!(!a.hit(b"rl:shared:ip", &p, now, false).await.unwrap().is_allowed());
    assert!(!b.hit(b"rl:shared:ip", &p, now, false).await.unwrap().is_allowed());
    assert!(a
        .hit(b"rl:shared:other", &p, now, true)
        .await
        .unwrap()
        .is_allowed());
    assert_eq!(a.failures() + b.failures(), 0);
}

#[tokio::test]
async fn a_block_set_by_one_instance_holds_on_the_other() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (
        store(&server, FailMode::Open).await,
        store(&server, FailMode::Open).await,
    );
    let p = policy(2, Duration::from_secs(1), Duration::from_secs(30));
    let now = now_ms();
    assert!(a.hit(b"rl:block:k", &p, now, true).await.unwrap().is_allowed());
    assert!(a.hit(b"rl:block:k", &p, now, true).await.unwrap().is_allowed());
    assert_eq!(
        a.hit(b"rl:block:k", &p, now, true).await.unwrap(),
        Decision::Limit { retry_after_secs: 30 }
    );
    // Five seconds later the counts alone would admit; the block (a Redis PX key) still holds.
    let later = b.hit(b"rl:block:k", &p, now + 5_000, true).await.unwrap();
    assert!(
        matches!(
            later,
            Decision::Limit {
                retry_after_secs: 26..=30
            }
        ),
        "{later:?}"
    );
}

#[tokio::test]
async fn redis_decides_exactly_like_the_memory_model() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let redis = store(&server, FailMode::Open).await;
    let memory = edgeward_limits::MemoryStore::new();
    let p = policy(20, Duration::from_secs(1), Duration::ZERO);
    // A steady client at twice the limit for 20 windows, on injected time.
    let start = now_ms() / 1000 * 1000;
    let (mut admitted, mut mismatches) = (0, 0);
    for i in 0..800u64 {
        let t = start + i * 25;
        let from_redis = redis.hit(b"rl:steady:ip", &p, t, true).await.unwrap();
        if from_redis != memory.hit_at(b"rl:steady:ip", &p, t, true) {
            mismatches += 1;
        }
        admitted += u64::from(from_redis.is_allowed());
    }
    assert_eq!(mismatches, 0);
    let per_window = admitted as f64 / 20.0;
    assert!(
        (per_window - 20.0).abs() <= 1.0,
        "admitted {per_window} per window"
    );
}

#[tokio::test]
async fn record_then_check_only() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let limiter = Limiter::new(Store::Redis(store(&server, FailMode::Open).await));
    let p = policy(2, Duration::from_secs(60), Duration::ZERO);
    assert!(limiter.peek("404s", &[b"ip"], &p).await.is_allowed());
    limiter.record("404s", &[b"ip"], &p).await;
    assert!(limiter.peek("404s", &[b"ip"], &p).await.is_allowed());
    limiter.record("404s", &[b"ip"], &p).await;
    assert!(!limiter.peek("404s", &[b"ip"], &p).await.is_allowed());
}

/// Hits until one is refused; returns how many were admitted first.
async fn fill(store: &RedisStore, key: &[u8], p: &Policy) -> usize {
    let mut admitted = 0;
    while store.hit(key, p, now_ms(), true).await.unwrap().is_allowed() {
        admitted += 1;
        assert!(admitted < 1_000, "never limited");
    }
    admitted
}

#[tokio::test]
async fn an_outage_fails_open_is_counted_and_recovers_by_itself() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, FailMode::Open).await;
    let p = policy(3, Duration::from_secs(60), Duration::ZERO);
    assert_eq!(fill(&store, b"rl:outage:ip", &p).await, 3);

    server.kill();
    let started = Instant::now();
    for _ in 0..20 {
        assert!(store
            .hit(b"rl:outage:ip", &p, now_ms(), true)
            .await
            .unwrap()
            .is_allowed());
    }
    assert_eq!(store.failures(), 20);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "fail-open decisions were slow: {:?}",
        started.elapsed()
    );

    server.restart();
    let restarted = Instant::now();
    // The restarted Redis has no counters (and no script): enforcement resumes from zero.
    loop {
        let d = store.hit(b"rl:outage:ip2", &p, now_ms(), true).await.unwrap();
        let failures = store.failures();
        if !d.is_allowed() {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "not recovered after 10 s"
        );
        if failures > 20 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let recovered_after = restarted.elapsed();
    let failures = store.failures();
    assert_eq!(
        fill(&store, b"rl:outage:ip3", &p).await,
        3,
        "enforcement is exact again"
    );
    assert_eq!(store.failures(), failures, "no failures after recovery");
    eprintln!("recovered {recovered_after:?} after the restart ({failures} failed calls in all)");
}

#[tokio::test]
async fn an_outage_fails_closed_when_configured() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = store(&server, FailMode::Closed).await;
    let p = policy(100, Duration::from_secs(60), Duration::ZERO);
    assert!(store
        .hit(b"rl:closed:ip", &p, now_ms(), true)
        .await
        .unwrap()
        .is_allowed());
    server.kill();
    let d = store.hit(b"rl:closed:ip", &p, now_ms(), true).await.unwrap();
    assert_eq!(d, Decision::Limit { retry_after_secs: 1 });
    assert_eq!(store.failures(), 1);
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store
        .hit(b"rl:closed:ip", &p, now_ms(), true)
        .await
        .unwrap()
        .is_allowed()
    {
        assert!(Instant::now() < deadline, "not recovered after 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_store_made_while_redis_is_down_connects_when_it_comes_up() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    server.kill();
    let store = RedisStore::new(RedisConfig::new(server.url())).unwrap();
    let p = policy(1, Duration::from_secs(60), Duration::ZERO);
    assert!(store
        .hit(b"rl:cold:ip", &p, now_ms(), true)
        .await
        .unwrap()
        .is_allowed());
    assert!(store.failures() >= 1);
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store
        .hit(b"rl:cold:ip", &p, now_ms(), true)
        .await
        .unwrap()
        .is_allowed()
    {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
