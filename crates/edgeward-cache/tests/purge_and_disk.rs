//! Purge by each key, the disk store across a restart, and the purge fan-out over a real
//! `redis-server` (started on a free loopback port; a loud skip outside CI when missing).

mod support;

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::Duration;

use edgeward_cache::{CacheSettings, CacheStatus, DiskStore, MemoryStore, Purge, PurgeChannel, Store};
use redis_server::RedisServer;
use support::{eventually, response, Edge};

fn tagged(edge: &Edge) {
    edge.origin.set(|_, path, _| {
        let tag = if path.starts_with("/static/") {
            "assets"
        } else {
            "pages"
        };
        response(
            200,
            &[
                ("cache-control", "max-age=600"),
                ("cache-tag", &format!("{tag}, all-site")),
            ],
            path,
        )
    });
}

async fn fill(edge: &Edge, paths: &[&str]) {
    for p in paths {
        edge.get(p, &[]).await;
    }
}

async fn cached(edge: &Edge, path: &str) -> bool {
    edge.get(path, &[("cache-control", "only-if-cached")]).await.cache == CacheStatus::Hit
}

#[tokio::test]
async fn purge_by_url_prefix_host_tag_and_everything() {
    let edge = Edge::memory();
    tagged(&edge);
    let paths = ["/static/a.js", "/static/b.css", "/page?x=1", "/page?x=2"];
    fill(&edge, &paths).await;
    assert_eq!(
        edge.cache
            .purge(&Purge::Url("https://example.com/page?x=1".into())),
        1
    );
    assert!(!cached(&edge, "/page?x=1").await);
    assert!(cached(&edge, "/page?x=2").await);
    assert_eq!(edge.cache.purge(&Purge::Prefix("example.com/static/".into())), 2);
    assert!(!cached(&edge, "/static/a.js").await && !cached(&edge, "/static/b.css").await);
    fill(&edge, &paths).await;
    assert_eq!(edge.cache.purge(&Purge::Tag("ASSETS".into())), 2);
    assert!(cached(&edge, "/page?x=1").await);
    assert_eq!(edge.cache.purge(&Purge::Host("other.example".into())), 0);
    assert_eq!(edge.cache.purge(&Purge::Host("example.com".into())), 2);
    fill(&edge, &paths).await;
    assert_eq!(edge.cache.purge(&Purge::Tag("all-site".into())), 4);
    fill(&edge, &paths).await;
    assert!(edge.cache.purge(&Purge::Everything) >= 4);
    for p in paths {
        assert!(!cached(&edge, p).await, "{p}");
    }
}

#[tokio::test]
async fn the_disk_store_serves_entries_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = CacheSettings::default();
    {
        let edge = Edge::new(
            Store::Disk(DiskStore::open(dir.path(), 10 << 20).unwrap()),
            settings.clone(),
        );
        tagged(&edge);
        fill(&edge, &["/one", "/two"]).await;
        let Store::Disk(disk) = edge.cache.store() else {
            unreachable!()
        };
        disk.flush().await;
    }
    let edge = Edge::new(
        Store::Disk(DiskStore::open(dir.path(), 10 << 20).unwrap()),
        settings,
    );
    tagged(&edge);
    let one = edge.get("/one", &[]).await;
    assert_eq!((one.cache, &one.body[..]), (CacheStatus::Hit, &b"/one"[..]));
    assert_eq!(edge.get("/two", &[]).await.cache, CacheStatus::Hit);
    assert_eq!(edge.origin.count(), 0, "nothing refetched after the restart");
    assert_eq!(edge.cache.purge(&Purge::Tag("pages".into())), 2);
    assert_eq!(edge.get("/one", &[]).await.cache, CacheStatus::Miss);
}

fn fanout_edge(server: &RedisServer, channel: &str) -> Edge {
    let settings = CacheSettings {
        purge: Some(PurgeChannel {
            url: server.url(),
            channel: channel.into(),
        }),
        ..Default::default()
    };
    Edge::new(Store::Memory(MemoryStore::new(1 << 24)), settings)
}

#[tokio::test]
async fn a_purge_on_one_edge_reaches_every_edge_over_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let edges: Vec<Arc<Edge>> = (0..3)
        .map(|_| Arc::new(fanout_edge(&server, "edgeward:purge:test")))
        .collect();
    let mut listeners = Vec::new();
    for e in &edges {
        tagged(e);
        fill(e, &["/static/a.js", "/page"]).await;
        listeners.push(
            e.cache
                .start_purge_listener()
                .await
                .expect("purge channel configured"),
        );
    }
    let (local, remote) = edges[0]
        .cache
        .purge_everywhere(&Purge::Tag("assets".into()))
        .await;
    assert_eq!(local, 1);
    assert_eq!(remote.unwrap(), 3, "three subscribed edges");
    for e in &edges {
        let e = e.clone();
        let store = e.cache.store().clone();
        eventually(move || {
            use edgeward_cache::ObjectStore;
            store.entries() == 1
        })
        .await;
        assert!(!cached(&e, "/static/a.js").await);
        assert!(cached(&e, "/page").await);
    }
    edges[1]
        .cache
        .purge_everywhere(&Purge::Everything)
        .await
        .1
        .unwrap();
    for e in &edges {
        let store = e.cache.store().clone();
        eventually(move || {
            use edgeward_cache::ObjectStore;
            store.entries() == 0
        })
        .await;
    }
    for l in listeners {
        l.abort();
    }
}

#[tokio::test]
async fn the_listener_reconnects_after_a_redis_restart() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let a = fanout_edge(&server, "edgeward:purge:restart");
    let b = fanout_edge(&server, "edgeward:purge:restart");
    tagged(&b);
    let listener = b.cache.start_purge_listener().await.unwrap();
    server.restart();
    fill(&b, &["/page"]).await;
    // Published purges are lost while the subscriber is away: keep publishing until one lands.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let _ = a
            .cache
            .purge_everywhere(&Purge::Url("example.com/page".into()))
            .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !cached(&b, "/page").await {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "purges never arrived after the restart"
        );
    }
    listener.abort();
}

#[tokio::test]
async fn publishing_without_redis_reports_the_failure() {
    let settings = CacheSettings {
        purge: Some(PurgeChannel {
            url: "redis://127.0.0.1:1/".into(),
            channel: "c".into(),
        }),
        ..Default::default()
    };
    let edge = Edge::new(Store::Memory(MemoryStore::new(1 << 20)), settings);
    let (local, remote) = edge.cache.purge_everywhere(&Purge::Everything).await;
    assert_eq!(local, 0);
    assert!(remote.is_err());
}
