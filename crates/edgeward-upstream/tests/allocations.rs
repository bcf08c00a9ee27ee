//! Heap allocations per request through `Cluster::send` on a warm keep-alive connection,
//! counted on the client thread only (the origin runs on its own thread). A regression guard
//! for the hot path: hyper's own allocations (response `HeaderMap`, dispatch callback, the
//! header-index buffer when more than 100 fields are allowed) are most of them.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use support::*;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_warm_bodiless_request_allocates_little() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tx.send(http_origin("a").await.0).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let addr = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let up = pool();
        let cluster = up.cluster(&[origin(addr)], &zone(), &settings());
        let none = || None;
        for _ in 0..10 {
            let _ = text(cluster.send(get("/"), None, none).await.unwrap()).await;
        }
        let requests = 200u64;
        let mut total = 0;
        for _ in 0..requests {
            let req = get("/");
            COUNT.with(|c| c.set(0));
            COUNTING.with(|c| c.set(true));
            let resp = cluster.send(req, None, none).await.unwrap();
            let body = text(resp).await;
            COUNTING.with(|c| c.set(false));
            assert_eq!(body, "a");
            total += COUNT.with(Cell::get);
        }
        let per_request = total as f64 / requests as f64;
        println!("allocations per request (send + reading a 1-byte body): {per_request:.1}");
        assert!(per_request <= 16.0, "{per_request} allocations per request");
    });
}
