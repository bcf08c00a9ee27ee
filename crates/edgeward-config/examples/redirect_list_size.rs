//! Measures bulk redirect lists of 1,000 and 100,000 entries loaded through the config: load time, heap
//! bytes it keeps (a counting allocator), and the time of a hit and a miss per request.
//!
//! Run with `cargo run --release -p edgeward-config --example redirect_list_size`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use edgeward_rules::{Request, Vars};

struct Counting;

/// Live heap bytes.
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    // The same measurement at two sizes: per-request cost should not grow with the list.
    for n in [1_000, 100_000] {
        measure(n);
    }
}

fn measure(n: usize) {
    let dir = std::env::temp_dir().join(format!("edgeward-redirect-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::with_capacity(n * 80);
    for i in 0..n {
        // Half host-specific, half path-only, with realistic lengths (~40-byte sources).
        if i % 2 == 0 {
            csv.push_str(&format!(
                "www.example.com/products/old-item-{i}.html,https://www.example.com/p/{i}\n"
            ));
        } else {
            csv.push_str(&format!(
                "/blog/2019/{:02}/post-number-{i},/articles/{i},308,true\n",
                i % 12
            ));
        }
    }
    std::fs::write(dir.join("moved.csv"), &csv).unwrap();
    let text =
        "[server]\nlisten = \"127.0.0.1:8080\"\n[[zones]]\nname = \"www\"\nhosts = [\"www.example.com\"]\n\
                origins = [\"127.0.0.1:9000\"]\n[[zones.redirect_lists]]\nfile = \"moved.csv\"\n";

    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let config = edgeward_config::parse(text, Path::new("edgeward.toml"), &dir).unwrap();
    let load = started.elapsed();
    let kept = LIVE.load(Ordering::Relaxed) - before;
    let traffic = &config.zones[0].traffic;
    assert_eq!(traffic.redirect_lists[0].len(), n);

    let hosts: &[(&str, &str)] = &[];
    let vars = Vars::default();
    let ip = "192.0.2.1".parse().unwrap();
    let paths: Vec<String> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                format!("/products/old-item-{i}.html")
            } else {
                format!("/blog/2019/{:02}/post-number-{i}", i % 12)
            }
        })
        .collect();
    let misses: Vec<String> = (0..n).map(|i| format!("/products/new-item-{i}.html")).collect();
    let time = |paths: &[String], expect_hit: bool| {
        let started = Instant::now();
        let mut hits = 0usize;
        let rounds = 500_000 / paths.len();
        for _ in 0..rounds {
            for p in paths {
                let mut req = Request::new(ip, &hosts);
                req.host = "www.example.com";
                req.path = p;
                req.tls = true;
                hits += usize::from(black_box(traffic.redirect(&req, &vars, 443)).is_some());
            }
        }
        assert_eq!(hits, if expect_hit { rounds * paths.len() } else { 0 });
        started.elapsed().as_nanos() as f64 / (rounds * paths.len()) as f64
    };
    let hit_ns = time(&paths, true);
    let miss_ns = time(&misses, false);
    let started = Instant::now();
    for p in &misses {
        black_box(traffic.has_redirect("www.example.com", p));
    }
    let has_ns = started.elapsed().as_nanos() as f64 / n as f64;

    println!(
        "bulk redirect list, {n} entries ({} KiB of CSV):",
        csv.len() / 1024
    );
    println!("  load (read + parse + index): {load:?}");
    println!(
        "  heap kept: {:.1} MiB ({} bytes per entry)",
        kept as f64 / (1024.0 * 1024.0),
        kept / n as isize
    );
    println!("  redirect() hit, Location built: {hit_ns:.0} ns");
    println!("  redirect() miss: {miss_ns:.0} ns");
    println!("  has_redirect() miss: {has_ns:.0} ns");
    std::fs::remove_dir_all(&dir).ok();
}
