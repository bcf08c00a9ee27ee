//! The dashboard in a real browser: headless Chromium loads the page from the admin server
//! over a socket, runs its script against the JSON API, and we check the rendered DOM and a
//! screenshot. Needs the `chromium` package; skipped loudly without it, failed under `CI=true`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use edgeward_admin::{serve_admin, AdminState, Metrics};
use edgeward_analytics::{sample, EventSink, SqliteCap, SqliteStore};

const CHARTS: [&str; 7] = [
    "chart-instances",
    "chart-totals",
    "chart-4xx-share",
    "chart-status-over-time",
    "chart-top-404",
    "chart-security",
    "chart-rate-limited",
];

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Starts the admin server over the sample mix on its own runtime thread.
fn start_server() -> SocketAddr {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut store = SqliteStore::in_memory(SqliteCap::default()).unwrap();
            store.write(&sample::batch("edge-a", 1, sample::BASE_MS)).unwrap();
            let reader = store.reader().unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let state = AdminState {
                query: Some(Arc::new(reader)),
                ..AdminState::new(Arc::new(Metrics::default()))
            };
            serve_admin(listener, state).await.unwrap();
            drop(store);
        });
    });
    addr_rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// Runs headless Chromium with `args` in a fresh profile; returns its stdout.
fn run_chromium(chromium: &Path, profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The opening tag of the element with `id`.
fn tag_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let start = dom[..at].rfind('<').unwrap();
    let end = at + dom[at..].find('>').unwrap();
    &dom[start..=end]
}

/// The text from the element with `id` up to the next chart (enough for containment checks).
fn section_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap();
    let end = dom[at..].find("</section>").map_or(dom.len(), |e| at + e);
    &dom[at..end]
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<this test binary>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

#[test]
fn dashboard_renders_every_chart_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is not installed; CI must `apt-get install -y chromium`");
        }
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!!! SKIPPED dashboard browser test: chromium not found on PATH.");
        eprintln!("!!! Install it with `apt-get install -y chromium` to run this test.");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
        return;
    };
    let addr = start_server();
    let url = format!("http://{addr}/dashboard");
    let work = std::env::temp_dir().join(format!("edgeward-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    let dom = run_chromium(
        &chromium,
        &work.join("profile-dom"),
        &["--dump-dom".into(), url.clone()],
    );
    for id in CHARTS {
        let tag = tag_of(&dom, id);
        assert!(
            tag.contains("data-rendered=\"true\""),
            "#{id} not rendered: {tag}"
        );
    }
    assert!(dom.contains("id=\"total-requests\">91<"), "total requests");
    assert!(dom.contains("id=\"share-4xx\">41.8%<"), "4xx share (38 of 91)");
    let status = section_of(&dom, "chart-status-over-time");
    assert!(status.contains(">2xx 40<") && status.contains(">4xx 38<") && status.contains(">5xx 3<"));
    let top = section_of(&dom, "chart-top-404");
    assert!(top.contains("data-path=\"/old-page\""));
    assert!(top.contains("<td class=\"num\">7</td>") && top.contains("<td class=\"num\">3</td>"));
    assert!(top.contains("https://blog.example/post-1") && top.contains(" × 4"));
    let security = section_of(&dom, "chart-security");
    assert!(security.contains("waf · waf-sqli") && security.contains("legal · legal-de"));
    assert!(security.contains("class=\"value\">5<"));
    let limited = section_of(&dom, "chart-rate-limited");
    assert!(limited.contains(">rl-login 6<") && limited.contains(">rl-api 3<"));

    let shot = work.join("dashboard.png");
    run_chromium(
        &chromium,
        &work.join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600".into(),
            "--hide-scrollbars".into(),
            url,
        ],
    );
    let size = std::fs::metadata(&shot).expect("screenshot written").len();
    assert!(size > 10 * 1024, "screenshot is only {size} bytes");
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let kept = target_dir().join("dashboard.png");
    std::fs::copy(&shot, &kept).unwrap();
    eprintln!("dashboard screenshot: {}", kept.display());
    let _ = std::fs::remove_dir_all(&work);
}
