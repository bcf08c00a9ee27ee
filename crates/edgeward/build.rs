//! Finds the real servers and clients the end-to-end tests start (redis-server, chromium,
//! curl with HTTP/2, python3 with hyperframe and hpack) and sets a `cfg` for each one
//! present. A test that needs a missing one is marked ignored with the reason (`cargo test`
//! lists it as "ignored, <reason>"), so a skip is never silent. Under CI (`CI` set to
//! anything but empty, `false` or `0`) a missing one fails the build instead: CI must
//! install it (`.ci/run` does).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "false" | "0"));
    let tools: [(&str, &str, bool); 4] = [
        (
            "has_redis",
            "redis-server (Debian package redis-server)",
            on_path("redis-server"),
        ),
        (
            "has_chromium",
            "chromium (Debian package chromium)",
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .any(|n| on_path(n)),
        ),
        (
            "has_curl_http2",
            "curl with HTTP/2 (Debian package curl)",
            curl_has_http2(),
        ),
        (
            "has_python_h2",
            "python3 with the PyPI packages hyperframe and hpack (python3 -m pip install hyperframe hpack)",
            python_has_h2(),
        ),
    ];
    // Not a tool, but the same rule: a test that needs `[::1]` says so when it is missing.
    println!("cargo::rustc-check-cfg=cfg(has_ipv6_loopback)");
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        println!("cargo::rustc-cfg=has_ipv6_loopback");
    } else {
        println!("cargo::warning=the IPv6 end-to-end test is marked ignored: no [::1] loopback");
    }
    let mut missing = Vec::new();
    for (cfg, what, present) in tools {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if present {
            println!("cargo::rustc-cfg={cfg}");
        } else {
            missing.push(what);
        }
    }
    if ci && !missing.is_empty() {
        panic!(
            "CI is set but these test dependencies are missing: {}",
            missing.join(", ")
        );
    }
    for what in missing {
        println!("cargo::warning=end-to-end tests that need {what} are marked ignored: it is not installed");
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(name))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn curl_has_http2() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("HTTP2"))
}

/// Whether python3 can import the packages the HTTP/2 frame-vector runner uses.
fn python_has_h2() -> bool {
    Command::new("python3")
        .args(["-c", "import hyperframe, hpack"])
        .output()
        .is_ok_and(|out| out.status.success())
}
