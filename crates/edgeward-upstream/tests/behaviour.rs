//! How a cluster behaves across origins: retries per method (RFC 9112 §9.3.1), health
//! (passive fall, active rise, all down), the pool across a reload, the connection cap, and
//! load-balancing distribution and stickiness — each against real loopback origins.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeward_upstream::{
    ActiveCheck, Balance, HashKey, HealthCheck, Origin, UpstreamError, UpstreamSettings, ZoneUpstream,
    DEFAULT_EXPECTED,
};
use http::Request;
use support::*;

fn none() -> Option<Request<TestBody>> {
    None
}

fn round_robin() -> ZoneUpstream {
    ZoneUpstream::default()
}

async fn origin_of(resp: http::Response<edgeward_upstream::OriginBody<TestBody>>) -> String {
    let name = resp.headers()["x-origin"].to_str().unwrap().to_owned();
    let _ = text(resp).await;
    name
}

#[tokio::test]
async fn non_idempotent_requests_that_reached_an_origin_are_never_retried() {
    for method in ["POST", "PATCH"] {
        let (closing, closing_counts) = closing_origin().await;
        let (good, good_counts) = http_origin("good").await;
        let up = pool();
        let cluster = up.cluster(&[origin(closing), origin(good)], &round_robin(), &settings());
        let rebuild = || Some(request(method, "/"));
        let err = cluster
            .send(request(method, "/"), None, rebuild)
            .await
            .unwrap_err();
        assert_eq!(err, UpstreamError::Reset, "{method}");
        assert_eq!(closing_counts.requests(), 1, "{method} sent once");
        assert_eq!(good_counts.requests(), 0, "{method} not retried elsewhere");
    }
}

#[tokio::test]
async fn idempotent_requests_are_retried_on_another_origin_after_a_reset() {
    for method in ["GET", "PUT", "DELETE", "HEAD"] {
        let (closing, closing_counts) = closing_origin().await;
        let (good, good_counts) = http_origin("good").await;
        let up = pool();
        let cluster = up.cluster(&[origin(closing), origin(good)], &round_robin(), &settings());
        let resp = cluster
            .send(request(method, "/"), None, || Some(request(method, "/")))
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-origin"], "good", "{method}");
        assert_eq!(resp.headers()["x-method"], method);
        assert_eq!(
            (closing_counts.requests(), good_counts.requests()),
            (1, 1),
            "{method}"
        );
    }
}

#[tokio::test]
async fn a_streamed_body_that_was_sent_is_not_replayed() {
    let (closing, closing_counts) = closing_origin().await;
    let (good, good_counts) = http_origin("good").await;
    let up = pool();
    let cluster = up.cluster(&[origin(closing), origin(good)], &round_robin(), &settings());
    let req = Request::put("/")
        .header("host", "o")
        .header("content-length", "3")
        .body(body("abc"))
        .unwrap();
    assert_eq!(
        cluster.send(req, None, none).await.unwrap_err(),
        UpstreamError::Reset
    );
    assert_eq!((closing_counts.requests(), good_counts.requests()), (1, 0));
}

#[tokio::test]
async fn any_method_moves_on_when_no_byte_reached_an_origin() {
    let refused = refusing_addr().await;
    let (good, good_counts) = http_origin("good").await;
    let up = pool();
    let cluster = up.cluster(&[origin(refused), origin(good)], &round_robin(), &settings());
    for method in ["POST", "PATCH", "GET"] {
        let resp = cluster.send(request(method, "/"), None, none).await.unwrap();
        assert_eq!(resp.headers()["x-origin"], "good");
    }
    assert_eq!(good_counts.requests(), 3);
    // (A fresh pool: in `up` the refusing origin is already out of rotation.)
    let no_retries = UpstreamSettings {
        retries: 0,
        ..settings()
    };
    let strict = pool().cluster(&[origin(refused)], &round_robin(), &no_retries);
    assert_eq!(
        strict.send(get("/"), None, none).await.unwrap_err(),
        UpstreamError::ConnectRefused
    );
}

#[tokio::test]
async fn a_post_on_a_kept_alive_connection_the_origin_dropped_is_sent_once() {
    // Issue 11 item 2: warm-up, then a bodiless POST whose connection closes unanswered.
    let (flaky, counts) = flaky_origin().await;
    let up = pool();
    let cluster = up.cluster(&[origin(flaky)], &round_robin(), &settings());
    assert_eq!(
        origin_of(cluster.send(get("/"), None, none).await.unwrap()).await,
        "flaky"
    );
    let err = cluster
        .send(request("POST", "/"), None, || Some(request("POST", "/")))
        .await
        .unwrap_err();
    assert_eq!(err, UpstreamError::Reset);
    assert_eq!(counts.requests(), 2, "warm-up + one POST");
    // A GET in the same spot is retried on a fresh connection to the same origin.
    assert_eq!(
        origin_of(cluster.send(get("/"), None, none).await.unwrap()).await,
        "flaky"
    );
    let resp = cluster.send(get("/"), None, || Some(get("/"))).await.unwrap();
    assert_eq!(origin_of(resp).await, "flaky");
    assert_eq!(counts.connections(), 3);
}

fn passive(fall: u32) -> ZoneUpstream {
    ZoneUpstream {
        health: HealthCheck {
            passive_fall: fall,
            half_open_after: Duration::from_secs(60),
            active: None,
        },
        ..ZoneUpstream::default()
    }
}

#[tokio::test]
async fn hanging_and_refusing_origins_are_taken_out_after_the_fall_count() {
    let (hang, hang_counts) = hanging_origin().await;
    let refused = refusing_addr().await;
    let (good, _) = http_origin("good").await;
    let up = pool();
    let quick = UpstreamSettings {
        response_timeout: Duration::from_millis(200),
        ..settings()
    };
    let cluster = up.cluster(
        &[origin(hang), origin(refused), origin(good)],
        &passive(2),
        &quick,
    );
    // Until the fall count, a request may meet the hanging origin (and time out).
    for _ in 0..9 {
        let _ = cluster.send(get("/"), None, none).await;
    }
    let status = cluster.status();
    assert!(
        !status[0].healthy && !status[1].healthy && status[2].healthy,
        "{status:?}"
    );
    let seen = hang_counts.connections();
    let started = Instant::now();
    for _ in 0..20 {
        let resp = cluster.send(get("/"), None, none).await.unwrap();
        assert_eq!(origin_of(resp).await, "good");
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "nobody waited: {:?}",
        started.elapsed()
    );
    assert_eq!(hang_counts.connections(), seen, "the hanging origin gets nothing");
}

#[tokio::test]
async fn all_origins_down_is_an_immediate_error() {
    let (hang, _) = hanging_origin().await;
    let refused = refusing_addr().await;
    let up = pool();
    let quick = UpstreamSettings {
        response_timeout: Duration::from_millis(100),
        ..settings()
    };
    let cluster = up.cluster(&[origin(hang), origin(refused)], &passive(1), &quick);
    let _ = cluster.send(get("/"), None, none).await;
    let _ = cluster.send(get("/"), None, none).await;
    assert!(!cluster.any_healthy());
    let started = Instant::now();
    let err = cluster.send(get("/"), None, none).await.unwrap_err();
    assert_eq!(err, UpstreamError::NoHealthyOrigin);
    assert!(started.elapsed() < Duration::from_millis(20));
}

#[tokio::test]
async fn a_passively_failed_origin_gets_one_trial_after_half_open_after() {
    let refused = refusing_addr().await;
    let up = pool();
    let zone = ZoneUpstream {
        health: HealthCheck {
            passive_fall: 1,
            half_open_after: Duration::from_millis(100),
            active: None,
        },
        ..ZoneUpstream::default()
    };
    let cluster = up.cluster(&[origin(refused)], &zone, &settings());
    assert_eq!(
        cluster.send(get("/"), None, none).await.unwrap_err(),
        UpstreamError::ConnectRefused
    );
    assert_eq!(
        cluster.send(get("/"), None, none).await.unwrap_err(),
        UpstreamError::NoHealthyOrigin
    );
    // The origin comes up on the same port; after half_open_after one request tries it.
    let listener = tokio::net::TcpListener::bind(refused).await.unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            serve(
                s,
                false,
                Answer {
                    name: "back",
                    extra_headers: 0,
                },
                Arc::default(),
            );
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        origin_of(cluster.send(get("/"), None, none).await.unwrap()).await,
        "back"
    );
    assert!(cluster.any_healthy());
}

#[tokio::test]
async fn active_checks_take_an_origin_out_and_bring_it_back_after_rise() {
    let addr = refusing_addr().await;
    let (good, _) = http_origin("good").await;
    let up = pool();
    let check = ActiveCheck {
        path: "/health".into(),
        host: None,
        expected: DEFAULT_EXPECTED.to_vec(),
        interval: Duration::from_millis(40),
        timeout: Duration::from_millis(200),
        rise: 3,
        fall: 2,
    };
    let zone = ZoneUpstream {
        health: HealthCheck {
            active: Some(check),
            ..HealthCheck::default()
        },
        ..ZoneUpstream::default()
    };
    let cluster = up.cluster(&[origin(addr), origin(good)], &zone, &settings());
    wait_for(|| !cluster.status()[0].healthy).await;
    for _ in 0..5 {
        assert_eq!(
            origin_of(cluster.send(get("/"), None, none).await.unwrap()).await,
            "good"
        );
    }
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            serve(
                s,
                false,
                Answer {
                    name: "back",
                    extra_headers: 0,
                },
                c.clone(),
            );
        }
    });
    wait_for(|| cluster.status()[0].healthy).await;
    assert!(counts.requests() >= 3, "back only after rise = 3 probes");
    // The state is shared through the process-wide pool: a reload sees it too.
    let reloaded = up.cluster(&[origin(addr), origin(good)], &zone, &settings());
    assert!(reloaded.status()[0].healthy);
}

async fn wait_for(cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "condition not reached in 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_reload_keeps_pooled_connections() {
    let (a, a_counts) = http_origin("a").await;
    let (b, b_counts) = http_origin("b").await;
    let up = pool();
    let origins = [origin(a), origin(b)];
    let old = Arc::new(up.cluster(&origins, &round_robin(), &settings()));
    load(&old, 4, 10).await;
    let before = (a_counts.connections(), b_counts.connections());
    assert!(
        before.0 >= 1 && before.1 >= 1 && before.0 + before.1 <= 8,
        "{before:?}"
    );
    // A reload: a new config builds new clusters while the old one may still serve.
    let new = Arc::new(up.cluster(&origins.clone(), &round_robin(), &settings()));
    drop(old);
    load(&new, 4, 10).await;
    assert_eq!(
        (a_counts.connections(), b_counts.connections()),
        before,
        "no new connects"
    );
    assert_eq!(a_counts.requests() + b_counts.requests(), 80);
}

async fn load(cluster: &Arc<edgeward_upstream::Cluster<TestBody>>, tasks: usize, each: usize) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let c = cluster.clone();
            tokio::spawn(async move {
                for _ in 0..each {
                    let _ = text(c.send(get("/"), None, none).await.unwrap()).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test]
async fn the_connection_cap_queues_requests() {
    let (addr, counts) = http_origin("capped").await;
    let up = pool();
    let capped = UpstreamSettings {
        max_connections_per_origin: 2,
        ..settings()
    };
    let cluster = Arc::new(up.cluster(&[origin(addr)], &round_robin(), &capped));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let c = cluster.clone();
            tokio::spawn(async move { text(c.send(get("/slow"), None, none).await.unwrap()).await })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap(), "capped");
    }
    assert_eq!(counts.connections(), 2);
    assert_eq!(counts.requests(), 6);
    // Past queue_timeout the queued request gets a typed error.
    let impatient = UpstreamSettings {
        max_connections_per_origin: 1,
        queue_timeout: Duration::from_millis(50),
        ..settings()
    };
    let cluster = Arc::new(pool().cluster(&[origin(addr)], &round_robin(), &impatient));
    let c = cluster.clone();
    let slow = tokio::spawn(async move { text(c.send(get("/slow"), None, none).await.unwrap()).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = cluster.send(get("/"), None, none).await.unwrap_err();
    assert_eq!(err, UpstreamError::QueueTimeout);
    assert_eq!(slow.await.unwrap(), "capped");
}

#[tokio::test]
async fn round_robin_follows_weights() {
    let (a, _) = http_origin("a").await;
    let (b, _) = http_origin("b").await;
    let (c, _) = http_origin("c").await;
    let weighted = |addr, weight| Origin {
        weight,
        ..origin(addr)
    };
    let up = pool();
    let cluster = up.cluster(
        &[weighted(a, 1), weighted(b, 2), weighted(c, 3)],
        &round_robin(),
        &settings(),
    );
    let mut seen = std::collections::HashMap::new();
    for _ in 0..60 {
        *seen
            .entry(origin_of(cluster.send(get("/"), None, none).await.unwrap()).await)
            .or_insert(0) += 1;
    }
    assert_eq!((seen["a"], seen["b"], seen["c"]), (10, 20, 30));
}

#[tokio::test]
async fn least_outstanding_avoids_the_busy_origin() {
    let (a, a_counts) = http_origin("a").await;
    let (b, _) = http_origin("b").await;
    let up = pool();
    let zone = ZoneUpstream {
        balance: Balance::LeastOutstanding,
        ..ZoneUpstream::default()
    };
    let cluster = Arc::new(up.cluster(&[origin(a), origin(b)], &zone, &settings()));
    // Hold one slow request on whichever origin is picked first, then send quick ones.
    let c = cluster.clone();
    let slow = tokio::spawn(async move { origin_of(c.send(get("/slow"), None, none).await.unwrap()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let busy = if a_counts.requests() == 1 { "a" } else { "b" };
    for _ in 0..5 {
        assert_ne!(
            origin_of(cluster.send(get("/"), None, none).await.unwrap()).await,
            busy
        );
    }
    assert_eq!(slow.await.unwrap(), busy);
}

#[tokio::test]
async fn consistent_hashing_keeps_a_key_on_its_origin() {
    let (a, _) = http_origin("a").await;
    let (b, _) = http_origin("b").await;
    let (c, _) = http_origin("c").await;
    let up = pool();
    let zone = ZoneUpstream {
        balance: Balance::ConsistentHash(HashKey::ClientIp),
        ..ZoneUpstream::default()
    };
    let cluster = up.cluster(&[origin(a), origin(b), origin(c)], &zone, &settings());
    let mut used = std::collections::HashSet::new();
    for k in 0..30 {
        let key = format!("198.51.100.{k}");
        let first = origin_of(cluster.send(get("/"), Some(key.as_bytes()), none).await.unwrap()).await;
        for _ in 0..3 {
            let again = origin_of(cluster.send(get("/"), Some(key.as_bytes()), none).await.unwrap()).await;
            assert_eq!(again, first, "{key}");
        }
        used.insert(first);
    }
    assert_eq!(used.len(), 3, "keys spread over every origin");
}
