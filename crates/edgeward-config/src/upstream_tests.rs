//! `[upstream]`, `origins` entries and `[zones.upstream]`: values reach their types, faults
//! name their line.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::{parse, Balance, Config, ConfigError, HashKey, OriginAddress, StatusMatch};

const HEAD: &str =
    "[server]\nlisten = \"127.0.0.1:8080\"\n[[zones]]\nname = \"www\"\nhosts = [\"example.com\"]\n";

/// Certificates for these tests, written once per process.
fn certs_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("edgeward-config-upstream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let client = rcgen::CertificateParams::new(vec!["edge.test".to_owned()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("client.crt"), client.pem()).unwrap();
        std::fs::write(dir.join("client.key"), key.serialize_pem()).unwrap();
        std::fs::write(
            dir.join("other.key"),
            rcgen::KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();
        std::fs::write(dir.join("empty.pem"), "").unwrap();
        dir
    })
    .clone()
}

fn ok(text: &str) -> Config {
    parse(text, Path::new("edgeward.toml"), &certs_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn fault(text: &str, line: usize, fault: &str) -> ConfigError {
    let err = match parse(text, Path::new("edgeward.toml"), &certs_dir()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(err) => err,
    };
    assert_eq!(err.line, Some(line), "{err}\n---\n{text}");
    assert!(err.message.contains(fault), "{err} lacks {fault:?}");
    err
}

#[test]
fn upstream_settings_and_zone_sections_reach_their_types() {
    let text = format!(
        r#"{HEAD}origins = ["https://a.internal", {{ url = "10.0.0.2:8080", weight = 3 }}, "unix:/run/app.sock"]
[zones.upstream]
load_balancing = "consistent_hash"
hash_key = "cookie:session"
[zones.upstream.health_check]
path = "/healthz"
expected_statuses = [200, "3xx"]
interval = "2s"
timeout = "500ms"
rise = 4
fall = 5
passive_fall = 7
half_open_after = "30s"
[zones.upstream.tls]
server_name = "Origin.Example.com"
ca_bundle = "ca.pem"
client_cert = "client.crt"
client_key = "client.key"
http2 = true

[upstream]
max_connections_per_origin = 64
queue_timeout = "2s"
retries = 1
retry_budget_percent = 10
max_response_headers = 300
max_response_header_bytes = 131072
"#
    );
    let config = ok(&text);
    let up = &config.upstream;
    assert_eq!(up.max_connections_per_origin, 64);
    assert_eq!(up.queue_timeout, Duration::from_secs(2));
    assert_eq!((up.retries, up.retry_budget_percent), (1, 10));
    assert_eq!(
        (up.max_response_headers, up.max_response_header_bytes),
        (300, 131072)
    );
    let zone = &config.zones[0];
    let shown: Vec<String> = zone.origins.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["https://a.internal:443", "10.0.0.2:8080", "unix:/run/app.sock"]
    );
    assert_eq!(zone.origins[1].weight, 3);
    assert_eq!(
        zone.origins[2].address,
        OriginAddress::Unix("/run/app.sock".into())
    );
    let z = &zone.upstream;
    assert_eq!(
        z.balance,
        Balance::ConsistentHash(HashKey::Cookie("session".into()))
    );
    let active = z.health.active.as_ref().unwrap();
    assert_eq!(active.path, "/healthz");
    assert_eq!(active.expected, [StatusMatch::Exact(200), StatusMatch::Class(3)]);
    assert_eq!(
        (active.interval, active.timeout),
        (Duration::from_secs(2), Duration::from_millis(500))
    );
    assert_eq!((active.rise, active.fall, z.health.passive_fall), (4, 5, 7));
    assert_eq!(z.health.half_open_after, Duration::from_secs(30));
    assert_eq!(z.tls.server_name.as_deref(), Some("origin.example.com"));
    assert_eq!(z.tls.ca_bundle.as_ref().unwrap().len(), 1);
    assert!(z.tls.client_cert.is_some() && z.tls.http2 && !z.tls.insecure_skip_verify);
}

#[test]
fn defaults_without_the_sections() {
    let config = ok(&format!("{HEAD}origins = [\"127.0.0.1:9000\"]\n"));
    let z = &config.zones[0].upstream;
    assert_eq!(z.balance, Balance::RoundRobin);
    assert!(z.health.active.is_none());
    assert_eq!(z.health.passive_fall, 3);
    assert_eq!(config.upstream.max_response_headers, 256);
}

#[test]
fn faults_name_their_line() {
    let origins = "origins = [\"127.0.0.1:9000\"]\n";
    let cases: [(String, usize, &str); 13] = [
        (format!("{HEAD}origins = [{{ url = \"a:1\", weight = 0 }}]\n"), 6, "`weight` = 0 is out of range"),
        (format!("{HEAD}origins = [{{ url = \"a:1\", colour = 1 }}]\n"), 6, "unknown field `colour`"),
        (format!("{HEAD}origins = [\"a:1\",\n  \"unix:relative\"]\n"), 7, "must be absolute"),
        (format!("{HEAD}origins = [\"a:1\", \"https://a:1\"]\n"), 6, "listed twice"),
        (format!("{HEAD}{origins}[zones.upstream]\nload_balancing = \"random\"\n"), 8, "expected round_robin"),
        (format!("{HEAD}{origins}[zones.upstream]\nhash_key = \"ip\"\n"), 8, "only with load_balancing"),
        (
            format!("{HEAD}{origins}[zones.upstream]\nload_balancing = \"consistent_hash\"\nhash_key = \"query:x\"\n"),
            9,
            "expected \"ip\"",
        ),
        (format!("{HEAD}{origins}[zones.upstream.health_check]\ninterval = \"1s\"\n"), 8, "need `path`"),
        (format!("{HEAD}{origins}[zones.upstream.health_check]\npath = \"x\"\n"), 8, "origin-form"),
        (
            format!("{HEAD}{origins}[zones.upstream.health_check]\npath = \"/\"\nexpected_statuses = [\"6xx\"]\n"),
            9,
            "not a status",
        ),
        (format!("{HEAD}{origins}[zones.upstream.tls]\nclient_cert = \"client.crt\"\n"), 8, "go together"),
        (format!("{HEAD}{origins}[zones.upstream.tls]\nca_bundle = \"empty.pem\"\n"), 8, "no PEM certificate"),
        (
            format!("{HEAD}{origins}[zones.upstream.tls]\nclient_cert = \"client.crt\"\nclient_key = \"other.key\"\n"),
            9,
            "does not fit",
        ),
    ];
    for (text, line, message) in cases {
        fault(&text, line, message);
    }
    fault(
        &format!("{HEAD}{origins}[upstream]\nretries = 99\n"),
        8,
        "`retries` = 99 is out of range",
    );
    fault(
        &format!("{HEAD}{origins}[zones.upstream.tls]\nca_bundle = \"missing.pem\"\n"),
        8,
        "cannot read",
    );
}
