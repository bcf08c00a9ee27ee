//! Cost of the cache's own work per hit and per miss (lookup + serve / lookup + complete), in
//! process, without sockets: `cargo run -p edgeward-cache --example hit_cost [--release]`.

use std::time::Instant;

use bytes::Bytes;
use edgeward_cache::{
    Answer, Cache, CachePolicy, CacheRequest, CacheSettings, Lookup, MemoryStore, Selected, Store,
};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cache = Cache::new(
        Store::Memory(MemoryStore::new(256 << 20)),
        CacheSettings::default(),
    );
    let policy = CachePolicy::default();
    let body = Bytes::from(vec![b'x'; 7_600]);
    // 20,000 objects of 7.6 KB fit the 256 MiB store, so every later lookup is a hit.
    let n = 20_000;
    let started = Instant::now();
    for i in 0..n {
        let (parts, ()) = Request::get(format!("/page/{i}"))
            .header("accept-encoding", "gzip")
            .body(())
            .unwrap()
            .into_parts();
        let req = CacheRequest::new(&parts, "https", "example.com", Selected::Cache(&policy));
        let Lookup::Miss(fill) = cache.lookup(&req).await else {
            panic!("expected a miss")
        };
        let resp = Response::builder()
            .header("cache-control", "max-age=600")
            .header("content-type", "text/html")
            .header("content-length", body.len())
            .body(Full::new(body.clone()))
            .unwrap();
        let (head, b) = resp.into_parts();
        if let Answer::Respond(r, _) = cache.complete(fill, head, b).await {
            r.into_body().collect().await.unwrap();
        }
    }
    let miss = started.elapsed();
    let started = Instant::now();
    let mut bytes = 0;
    for i in 0..n {
        let (parts, ()) = Request::get(format!("/page/{}", (i * 7) % n))
            .header("accept-encoding", "gzip")
            .body(())
            .unwrap()
            .into_parts();
        let req = CacheRequest::new(&parts, "https", "example.com", Selected::Cache(&policy));
        let Lookup::Hit(hit) = cache.lookup(&req).await else {
            panic!("expected a hit")
        };
        if let Answer::Respond(r, _) = cache.serve::<Full<Bytes>>(&hit, &parts.method, &parts.headers) {
            bytes += r.into_body().collect().await.unwrap().to_bytes().len();
        }
    }
    let hit = started.elapsed();
    assert_eq!(bytes, n * body.len());
    println!(
        "miss (lookup + store {} B): {:.2} µs each",
        body.len(),
        miss.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "hit (lookup + serve): {:.2} µs each",
        hit.as_secs_f64() * 1e6 / n as f64
    );
}
