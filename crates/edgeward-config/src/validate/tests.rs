//! Validation faults, each asserted on the line it reports and the fault its message names.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::{parse, Config, ConfigError, HostPattern, Limits, ZoneIndex};

/// Lines 1–2.
const SERVER: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n";

/// Lines 1–6 with `SERVER` before it (3–6).
const ZONE: &str = "[[zones]]\nname = \"www\"\nhosts = [\"example.com\"]\norigins = [\"127.0.0.1:9000\"]\n";

/// A directory of error pages for these tests, unique to this process and written once (tests
/// run in parallel, and rewriting a file while another test reads it would be a race).
fn pages_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("edgeward-config-tests-{}", std::process::id()));
        let pages = dir.join("pages");
        std::fs::create_dir_all(&pages).unwrap();
        std::fs::write(pages.join("404.html"), "<h1>{{status}} {{title}}</h1>").unwrap();
        std::fs::write(
            pages.join("5xx.html"),
            "<p>{{ explanation }} ({{request_id}})</p>",
        )
        .unwrap();
        std::fs::write(pages.join("broken.html"), "<p>ok</p>\n{{ rayid }}").unwrap();
        dir
    })
    .clone()
}

fn ok(text: &str) -> Config {
    parse(text, Path::new("edgeward.toml"), &pages_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// The fault `text` gives, after checking it is at `line` and its message contains `fault`.
fn fault(text: &str, line: usize, fault: &str) -> ConfigError {
    let err = match parse(text, Path::new("edgeward.toml"), &pages_dir()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(err) => err,
    };
    assert_eq!(err.line, Some(line), "{err}\n---\n{text}");
    assert!(err.message.contains(fault), "{err} lacks {fault:?}");
    assert!(
        err.to_string().starts_with(&format!("edgeward.toml:{line}:")),
        "{err}"
    );
    err
}

#[test]
fn full_config_round_trips_into_types() {
    let text = r#"
[server]
listen = ["127.0.0.1:8080", "[::1]:8081"]
workers = 4

[limits]
max_target_bytes = 8192
max_header_bytes = 32768
max_field_bytes = 4096
max_headers = 50
max_body_bytes = 1000
body_retry_after = 30
require_content_length = false
header_timeout = "250ms"
body_timeout = "2m"
keepalive_timeout = "1h"

[upstream]
connect_timeout = "1s"
response_timeout = "30s"
idle_timeout = "90s"
max_idle_per_origin = 8

[[zones]]
name = "www"
hosts = ["Example.com", "*.example.com"]
origins = ["127.0.0.1:9000", "origin.internal:80", "[::1]:81"]
intercept_origin_404 = true
limits = { max_body_bytes = 1048576, require_content_length = true }

[zones.error_pages]
"404" = "pages/404.html"
"5xx" = "pages/5xx.html"

[[zones]]
name = "api"
hosts = ["api.example.org"]
origins = ["10.0.0.2:8080"]
"#;
    let config = ok(text);
    assert_eq!(
        config.listen,
        vec!["127.0.0.1:8080".parse().unwrap(), "[::1]:8081".parse().unwrap()]
    );
    assert_eq!(config.workers, 4);
    assert_eq!(config.upstream.connect_timeout, Duration::from_secs(1));
    assert_eq!(config.upstream.response_timeout, Duration::from_secs(30));
    assert_eq!(config.upstream.idle_timeout, Duration::from_secs(90));
    assert_eq!(config.upstream.max_idle_per_origin, 8);

    let global = Limits {
        max_target_bytes: 8192,
        max_header_bytes: 32768,
        max_field_bytes: 4096,
        max_headers: 50,
        max_body_bytes: 1000,
        body_retry_after: Some(30),
        require_content_length: false,
        header_timeout: Duration::from_millis(250),
        body_timeout: Duration::from_secs(120),
        keepalive_timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    let [www, api] = &config.zones[..] else {
        panic!("two zones expected")
    };
    assert_eq!(www.name, "www");
    assert_eq!(
        www.hosts,
        vec![
            HostPattern::Exact("example.com".into()),
            HostPattern::Wildcard(".example.com".into())
        ]
    );
    let origins: Vec<String> = www.origins.iter().map(ToString::to_string).collect();
    assert_eq!(origins, ["127.0.0.1:9000", "origin.internal:80", "[::1]:81"]);
    assert!(www.intercept_origin_404);
    let www_limits = Limits {
        max_body_bytes: 1_048_576,
        require_content_length: true,
        ..global.clone()
    };
    assert_eq!(www.limits, www_limits);
    assert!(www.error_pages.for_status(404).is_some());
    assert!(www.error_pages.for_status(403).is_none());
    assert!(www.error_pages.for_status(503).is_some());

    assert_eq!(api.limits, global, "a zone without overrides inherits [limits]");
    assert!(!api.intercept_origin_404);
    assert!(api.error_pages.is_empty());

    let index = ZoneIndex::new(&config.zones);
    assert_eq!(index.lookup("a.b.example.com"), Some(0));
    assert_eq!(index.lookup("api.example.org"), Some(1));
}

#[test]
fn minimal_config_takes_defaults() {
    let config = ok(&format!("{SERVER}{ZONE}"));
    assert_eq!(config.workers, 0);
    assert_eq!(config.upstream, crate::UpstreamSettings::default());
    assert_eq!(config.zones[0].limits, Limits::default());
}

#[test]
fn unknown_keys_are_named() {
    let text = format!("{SERVER}[sever]\nx = 1\n{ZONE}");
    fault(&text, 3, "unknown field `sever`");
    let text = format!("{SERVER}{ZONE}limits = {{ max_bodybytes = 5 }}\n");
    fault(&text, 7, "unknown field `max_bodybytes`");
    let text = format!("{SERVER}{ZONE}hostz = [\"a.com\"]\n");
    fault(&text, 7, "unknown field `hostz`");
    let text = format!("[server]\nlisten = \"127.0.0.1:1\"\nport = 80\n{ZONE}");
    fault(&text, 3, "unknown field `port`");
}

#[test]
fn syntax_errors_are_located() {
    let text = format!("{SERVER}{ZONE}[limits\n");
    let err = fault(&text, 7, "invalid table header");
    assert!(!err.message.contains('\n'), "{err}");
    let text = format!("{SERVER}\nworkers = = 2\n");
    fault(&text, 4, "");
}

#[test]
fn wrong_types_are_located() {
    let text = format!("{SERVER}[limits]\nmax_headers = \"100\"\n{ZONE}");
    fault(&text, 4, "invalid type");
    let text = format!("{SERVER}[limits]\nheader_timeout = 10\n{ZONE}");
    fault(&text, 4, "\"250ms\", \"10s\", \"2m\", \"1h\"");
    let text = format!("{SERVER}[limits]\nmax_body_bytes = -1\n{ZONE}");
    fault(
        &text,
        4,
        "invalid value: integer `-1`, expected a non-negative integer",
    );
    let text = format!("[server]\nlisten = 8080\n{ZONE}");
    fault(&text, 2, "socket address");
}

#[test]
fn listen_must_be_socket_addresses() {
    let text = format!("[server]\nlisten = \"localhost:8080\"\n{ZONE}");
    fault(&text, 2, "invalid listen address `localhost:8080`");
    let text = format!("[server]\nlisten = [\n  \"127.0.0.1:80\",\n  \"1.2.3:80\",\n]\n{ZONE}");
    fault(&text, 4, "invalid listen address `1.2.3:80`");
    let text = format!("[server]\nlisten = []\n{ZONE}");
    fault(&text, 2, "`listen` is empty");
    let text = format!("[server]\nlisten = [\"0.0.0.0:80\", \"0.0.0.0:80\"]\n{ZONE}");
    fault(&text, 2, "listed twice");
    let err = parse(ZONE, Path::new("edgeward.toml"), &pages_dir()).unwrap_err();
    assert!(err.message.contains("missing [server]"), "{err}");
}

#[test]
fn durations_are_checked() {
    let text = format!("{SERVER}{ZONE}[upstream]\nconnect_timeout = \"5 s\"\n");
    let err = fault(&text, 8, "`connect_timeout`: invalid duration `5 s`");
    assert!(
        err.message.contains("\"250ms\", \"10s\", \"2m\", \"1h\""),
        "{err}"
    );
    let text = format!("{SERVER}[limits]\nbody_timeout = \"0s\"\n{ZONE}");
    fault(&text, 4, "must be greater than zero");
    let text = format!("{SERVER}[limits]\n\nkeepalive_timeout = \"25h\"\n{ZONE}");
    fault(&text, 5, "at most 24h");
}

#[test]
fn zero_or_absurd_limits_are_refused() {
    for (key_value, named) in [
        ("max_headers = 0", "`max_headers` = 0 is out of range"),
        ("max_target_bytes = 15", "`max_target_bytes` = 15"),
        ("max_header_bytes = 100000000", "`max_header_bytes` = 100000000"),
        ("max_field_bytes = 0", "`max_field_bytes` = 0"),
        ("body_retry_after = 0", "`body_retry_after` = 0"),
    ] {
        let text = format!("{SERVER}[limits]\n{key_value}\n{ZONE}");
        fault(&text, 4, named);
    }
    let text = format!("[server]\nlisten = \"127.0.0.1:1\"\nworkers = 100000\n{ZONE}");
    fault(&text, 3, "`workers` = 100000");
    let text = format!("{SERVER}{ZONE}[upstream]\nmax_idle_per_origin = 1000000\n");
    fault(&text, 8, "`max_idle_per_origin`");
    // Zone overrides are checked too, at their own line.
    let text = format!("{SERVER}{ZONE}limits = {{ max_headers = 0 }}\n");
    fault(&text, 7, "`max_headers` = 0");
}

#[test]
fn field_limit_cannot_exceed_header_limit() {
    let text = format!("{SERVER}[limits]\nmax_header_bytes = 1024\nmax_field_bytes = 2048\n{ZONE}");
    fault(&text, 5, "max_field_bytes (2048) exceeds max_header_bytes (1024)");
    let text =
        format!("{SERVER}[limits]\nmax_field_bytes = 1024\n{ZONE}limits = {{ max_header_bytes = 512 }}\n");
    fault(&text, 9, "exceeds max_header_bytes (512)");
}

#[test]
fn zones_need_hosts_and_origins() {
    let text = format!("{SERVER}[[zones]]\nname = \"www\"\norigins = [\"127.0.0.1:9000\"]\n");
    fault(&text, 4, "zone `www` has no hosts");
    let text = format!("{SERVER}[[zones]]\nname = \"www\"\nhosts = []\norigins = [\"127.0.0.1:9000\"]\n");
    fault(&text, 5, "zone `www` has no hosts");
    let text = format!("{SERVER}[[zones]]\nname = \"www\"\nhosts = [\"a.com\"]\n");
    fault(&text, 4, "zone `www` has no origins");
    let text = format!("{SERVER}[[zones]]\nname = \"www\"\nhosts = [\"a.com\"]\norigins = []\n");
    fault(&text, 6, "zone `www` has no origins");
}

#[test]
fn host_patterns_are_checked() {
    for (host, named) in [
        ("a.*.example.com", "leading `*.`"),
        ("*example.com", "leading `*.`"),
        ("exa mple.com", "not a valid hostname"),
        ("example.com:80", "not a valid hostname"),
    ] {
        let text = format!(
            "{SERVER}[[zones]]\nname = \"www\"\nhosts = [\n  \"ok.com\",\n  \"{host}\",\n]\norigins = [\"127.0.0.1:9000\"]\n"
        );
        let err = fault(&text, 7, named);
        assert!(err.message.contains(&format!("`{host}`")), "{err}");
    }
}

#[test]
fn a_host_belongs_to_one_zone() {
    let text = format!(
        "{SERVER}{ZONE}\n[[zones]]\nname = \"other\"\nhosts = [\"other.com\", \"Example.com\"]\norigins = [\"127.0.0.1:9001\"]\n"
    );
    fault(
        &text,
        10,
        "host `example.com` is in both zone `www` and zone `other`",
    );
    let text = format!(
        "{SERVER}[[zones]]\nname = \"www\"\nhosts = [\"a.com\", \"a.com\"]\norigins = [\"127.0.0.1:9000\"]\n"
    );
    fault(&text, 5, "listed twice in zone `www`");
    // The same suffix as exact and wildcard are different patterns.
    let text = format!(
        "{SERVER}{ZONE}[[zones]]\nname = \"sub\"\nhosts = [\"*.example.com\"]\norigins = [\"127.0.0.1:9001\"]\n"
    );
    ok(&text);
}

#[test]
fn origins_are_checked() {
    let zone = |origin: &str| {
        format!("{SERVER}[[zones]]\nname = \"www\"\nhosts = [\"a.com\"]\norigins = [\"127.0.0.1:1\", \"{origin}\"]\n")
    };
    fault(&zone("origin.internal"), 6, "expected host:port");
    fault(&zone("origin.internal:0"), 6, "port 0 is not allowed");
    fault(&zone("http://origin:80"), 6, "leave out `http://`");
    fault(&zone("127.0.0.1:1"), 6, "listed twice");
}

#[test]
fn error_page_keys_are_statuses_or_classes() {
    let text = format!(
        "{SERVER}{ZONE}[zones.error_pages]\n\"404\" = \"pages/404.html\"\n\"200\" = \"pages/404.html\"\n"
    );
    fault(&text, 9, "invalid error_pages key `200`");
    let text = format!("{SERVER}{ZONE}[zones.error_pages]\n3xx = \"pages/404.html\"\n");
    fault(&text, 8, "invalid error_pages key `3xx`");
}

#[test]
fn error_page_files_must_read_and_compile() {
    let text = format!("{SERVER}{ZONE}[zones.error_pages]\n\"4xx\" = \"pages/missing.html\"\n");
    let err = fault(&text, 8, "cannot read error page");
    assert!(err.message.contains("`pages/missing.html`"), "{err}");
    assert!(err.message.contains("os error"), "{err}");
    let text = format!("{SERVER}{ZONE}[zones.error_pages]\n\"5xx\" = \"pages/broken.html\"\n");
    let err = fault(&text, 8, "template error at byte 10");
    assert!(err.message.contains("`pages/broken.html`"), "{err}");
    assert!(err.message.contains("rayid"), "{err}");
}

#[test]
fn zone_names_are_unique_and_zones_exist() {
    let text = format!(
        "{SERVER}{ZONE}[[zones]]\nname = \"www\"\nhosts = [\"b.com\"]\norigins = [\"127.0.0.1:9001\"]\n"
    );
    fault(&text, 8, "duplicate zone name `www` (first defined on line 4)");
    let text =
        format!("{SERVER}[[zones]]\nname = \"\"\nhosts = [\"b.com\"]\norigins = [\"127.0.0.1:9001\"]\n");
    fault(&text, 4, "invalid zone name");
    let err = parse(SERVER, Path::new("edgeward.toml"), &pages_dir()).unwrap_err();
    assert_eq!(err.line, None);
    assert!(err.message.starts_with("no zones"), "{err}");
    assert!(err.to_string().starts_with("edgeward.toml: no zones"), "{err}");
}

#[test]
fn the_shipped_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/edgeward.toml");
    let config = crate::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.zones.is_empty());
    assert!(config.tls[0].certificates[0].names.covers("www.example.com"));
    for zone in &config.zones {
        assert!(!zone.hosts.is_empty() && !zone.origins.is_empty());
    }
}
