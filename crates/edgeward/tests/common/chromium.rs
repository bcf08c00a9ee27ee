//! Headless Chromium for end-to-end tests: the binary (tests needing it are ignored, with
//! the reason, when the build found none) and one run with the isolation flags this machine
//! needs (no sandbox as root, no background networking), returning its stdout.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Debian's chromium (tests that need it are ignored, with the reason, when the build found
/// none: `has_chromium` in crates/edgeward/build.rs).
pub fn binary() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| ["/usr/bin", "/usr/local/bin", "/snap/bin"].map(|dir| Path::new(dir).join(name)))
        .find(|p| p.exists())
        .expect("chromium (the build found it on PATH)")
}

/// Runs headless chromium with `args` plus the isolation flags; its stdout.
pub fn run(bin: &Path, args: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn chromium");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s: {}", err.join().unwrap());
        }
        thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "chromium failed ({status}): {err}");
    out
}
