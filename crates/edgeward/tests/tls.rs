//! TLS listeners end to end: real handshakes against the binary with certificates generated at
//! test time, the certificate chosen per SNI name, and the 403 for hosts no certificate covers.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;

use common::{config, Edgeward, Response, TestOrigin};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// A generated certificate: its DER (to recognise it) and PEM files (for the config).
struct Generated {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn generate(names: &[&str]) -> Generated {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let generated = rcgen::generate_simple_self_signed(names).expect("certificate generated");
    Generated {
        der: generated.cert.der().clone(),
        cert_pem: generated.cert.pem(),
        key_pem: generated.key_pair.serialize_pem(),
    }
}

/// The test site's certificates, in the order the config lists them.
struct Site {
    /// `example.com`, `*.example.com` (first: served when nothing covers the name).
    main: Generated,
    /// `other.test`.
    other: Generated,
    /// `www.example.com`: an exact name that beats `main`'s wildcard.
    www: Generated,
}

impl Site {
    fn new() -> Site {
        Site {
            main: generate(&["example.com", "*.example.com"]),
            other: generate(&["other.test"]),
            www: generate(&["www.example.com"]),
        }
    }

    fn trusted(&self) -> Vec<CertificateDer<'static>> {
        vec![
            self.main.der.clone(),
            self.other.der.clone(),
            self.www.der.clone(),
        ]
    }

    /// Starts edgeward with a plain and a TLS listener; `extra` goes into zone `test`.
    fn start(&self, origin: &TestOrigin, extra: &str) -> Edgeward {
        let text = format!(
            "{}\n[[zones]]\nname = \"other\"\nhosts = [\"other.test\"]\norigins = [\"{}\"]\n\n\
             [[tls]]\nlisten = \"127.0.0.1:0\"\n\
             [[tls.certificates]]\ncert = \"certs/main.crt\"\nkey = \"certs/main.key\"\n\
             [[tls.certificates]]\ncert = \"certs/other.crt\"\nkey = \"certs/other.key\"\n\
             [[tls.certificates]]\ncert = \"certs/www.crt\"\nkey = \"certs/www.key\"\n",
            config(origin.addr, extra),
            origin.addr
        );
        Edgeward::start_with_files(
            &text,
            &[
                ("certs/main.crt", &self.main.cert_pem),
                ("certs/main.key", &self.main.key_pem),
                ("certs/other.crt", &self.other.cert_pem),
                ("certs/other.key", &self.other.key_pem),
                ("certs/www.crt", &self.www.cert_pem),
                ("certs/www.key", &self.www.key_pem),
            ],
        )
    }
}

/// Accepts exactly the generated certificates, whatever name they were asked for — the
/// tests need handshakes for names the served certificate does not cover — while still
/// checking the handshake signatures.
#[derive(Debug)]
struct Pinned {
    certs: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.certs.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not a generated test certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// A completed handshake to `addr` naming `server_name` (an IP address sends no SNI).
fn tls_connect(addr: SocketAddr, server_name: &str, trusted: Vec<CertificateDer<'static>>) -> TlsClient {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Pinned {
        certs: trusted,
        provider: Arc::clone(&provider),
    });
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let conn = ClientConnection::new(Arc::new(client), name).unwrap();
    let tcp = common::connect(addr);
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).expect("TLS handshake");
    }
    stream
}

/// The end-entity certificate the server presented.
fn served(stream: &TlsClient) -> CertificateDer<'static> {
    stream.conn.peer_certificates().expect("a certificate")[0].clone()
}

/// Sends a GET for `host` on `stream` and reads the response.
fn get(stream: &mut TlsClient, host: &str, path: &str) -> Response {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.flush().unwrap();
    common::read_response(&mut BufReader::new(stream), false).expect("a response")
}

fn plain_get(addr: SocketAddr, host: &str, path: &str) -> Response {
    common::exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
}

/// Asserts the edge's branded 403 naming `rule_id`.
#[track_caller]
fn assert_forbidden(resp: &Response, rule_id: &str) {
    assert_eq!(resp.status, 403, "body:\n{}", resp.text());
    assert_eq!(resp.header("server"), Some("edgeward"));
    let body = resp.text();
    assert!(
        body.contains(rule_id),
        "body lacks the rule id {rule_id}:\n{body}"
    );
    assert!(body.contains("edgeward"), "body is not branded:\n{body}");
}

#[test]
fn a_covered_name_reaches_the_origin_as_https() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let site = Site::new();
    let edge = site.start(&origin, "");
    let mut stream = tls_connect(edge.tls_addr(), "a.example.com", site.trusted());
    assert_eq!(served(&stream), site.main.der);
    assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    for _ in 0..2 {
        let resp = get(&mut stream, "a.example.com", "/");
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.text(), "ok");
    }
    let requests = origin.requests();
    assert_eq!(
        requests.len(),
        2,
        "both requests on one kept-alive TLS connection"
    );
    assert_eq!(requests[0].header("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(requests[0].header("host").as_deref(), Some("a.example.com"));

    let resp = plain_get(edge.addr, "a.example.com", "/");
    assert_eq!(resp.status, 200);
    assert_eq!(
        origin.requests()[2].header("x-forwarded-proto").as_deref(),
        Some("http")
    );
}

#[test]
fn sni_picks_the_certificate_exact_names_first() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let site = Site::new();
    let edge = site.start(&origin, "");
    let mut other = tls_connect(edge.tls_addr(), "other.test", site.trusted());
    assert_eq!(served(&other), site.other.der);
    assert_eq!(get(&mut other, "other.test", "/").status, 200);
    // `www.example.com` is an exact name of the third certificate and under the first's wildcard.
    let mut www = tls_connect(edge.tls_addr(), "www.example.com", site.trusted());
    assert_eq!(served(&www), site.www.der);
    assert_eq!(get(&mut www, "www.example.com", "/").status, 200);
    let apex = tls_connect(edge.tls_addr(), "example.com", site.trusted());
    assert_eq!(served(&apex), site.main.der);
}

#[test]
fn a_name_no_certificate_covers_is_refused() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let site = Site::new();
    let edge = site.start(&origin, "");
    // Two labels under `*.example.com`: the wildcard does not cover it, as in browsers.
    let mut deep = tls_connect(edge.tls_addr(), "a.b.example.com", site.trusted());
    assert_eq!(
        served(&deep),
        site.main.der,
        "the first certificate completes the handshake"
    );
    assert_forbidden(&get(&mut deep, "a.b.example.com", "/"), "tls-host-not-covered");
    // No SNI at all (the client connects by address): nothing is known to be covered.
    let mut no_sni = tls_connect(edge.tls_addr(), "127.0.0.1", site.trusted());
    assert_forbidden(&get(&mut no_sni, "a.example.com", "/"), "tls-host-not-covered");
    assert!(origin.requests().is_empty(), "nothing reached the origin");
    assert!(edge.wait_for_log("tls-host-not-covered").contains("403"));
}

#[test]
fn a_host_the_served_certificate_does_not_cover_is_refused() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let site = Site::new();
    let edge = site.start(&origin, "");
    let mut stream = tls_connect(edge.tls_addr(), "a.example.com", site.trusted());
    // `other.test` has a certificate, but not the one this connection was served.
    assert_forbidden(&get(&mut stream, "other.test", "/"), "tls-host-not-covered");
    assert!(origin.requests().is_empty());
}

#[test]
fn plain_http_to_the_tls_port_fails_the_handshake_only() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let site = Site::new();
    let edge = site.start(&origin, "");
    let mut raw = common::connect(edge.tls_addr());
    raw.write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    // The server ends the connection (after a TLS alert at most), well within the wait.
    let _ = raw.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no HTTP answer on a TLS port: {answer:?}"
    );
    assert!(origin.requests().is_empty());

    let mut stream = tls_connect(edge.tls_addr(), "a.example.com", site.trusted());
    assert_eq!(
        get(&mut stream, "a.example.com", "/").status,
        200,
        "TLS still served"
    );
    assert_eq!(
        plain_get(edge.addr, "example.com", "/").status,
        200,
        "plain still served"
    );
}

#[test]
fn the_ssl_field_matches_on_tls_only() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let site = Site::new();
    let edge = site.start(
        &origin,
        "[[zones.rules]]\nid = \"tls-only\"\nexpression = 'ssl and http.request.uri.path eq \"/secure-only\"'\n\
         action = \"block\"\n",
    );
    let mut stream = tls_connect(edge.tls_addr(), "a.example.com", site.trusted());
    assert_forbidden(&get(&mut stream, "a.example.com", "/secure-only"), "tls-only");
    assert_eq!(plain_get(edge.addr, "a.example.com", "/secure-only").status, 200);
}

/// `edgeward check` on a config whose `[[tls]]` has a fault; its stderr.
fn check_fails(key_file: &str, cert_pem: &str, key_pem: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.crt"), cert_pem).unwrap();
    std::fs::write(dir.path().join("site.key"), key_pem).unwrap();
    let origin: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let text = format!(
        "{}\n[[tls]]\nlisten = \"127.0.0.1:0\"\n[[tls.certificates]]\ncert = \"site.crt\"\nkey = \"{key_file}\"\n",
        config(origin, "")
    );
    let path = dir.path().join("edgeward.toml");
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "accepted:\n{text}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn certificate_faults_name_the_line() {
    let site = generate(&["example.com"]);
    // `config` is 14 lines and a blank one; `[[tls]]` is line 16, `cert` 19 and `key` 20.
    let missing = check_fails("absent.key", &site.cert_pem, &site.key_pem);
    assert!(
        missing.contains("edgeward.toml:20:") && missing.contains("cannot read"),
        "{missing}"
    );
    let garbage = check_fails("site.key", "-----BEGIN GARBAGE-----\n", &site.key_pem);
    assert!(
        garbage.contains("edgeward.toml:19:") && garbage.contains("cert"),
        "{garbage}"
    );
    let bad_key = check_fails("site.key", &site.cert_pem, "not a key\n");
    assert!(
        bad_key.contains("edgeward.toml:20:") && bad_key.contains("private key"),
        "{bad_key}"
    );
}

#[test]
fn hsts_is_sent_on_tls_responses_only() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let site = Site::new();
    let edge = site.start(
        &origin,
        "[zones.hsts]\nmax_age = 31536000\ninclude_subdomains = true\n",
    );
    let mut stream = tls_connect(edge.tls_addr(), "a.example.com", site.trusted());
    let over_tls = get(&mut stream, "a.example.com", "/");
    assert_eq!(over_tls.status, 200);
    assert_eq!(
        over_tls.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    let plain = plain_get(edge.addr, "a.example.com", "/");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("strict-transport-security"), None, "RFC 6797 §7.2");
}
