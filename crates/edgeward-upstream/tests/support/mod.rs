//! Real loopback origins for the upstream tests: plain, TLS (rcgen certificates, optional
//! client-certificate requirement, optional HTTP/2), Unix socket, one that hangs, one that
//! refuses, one that closes without answering. Each counts accepted connections and requests.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use bytes::Bytes;
use edgeward_upstream::{Origin, OriginAddress, OriginTls, UpstreamSettings, Upstreams, ZoneUpstream};
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

/// The request body type the tests send.
pub type TestBody = UnsyncBoxBody<Bytes, std::io::Error>;

pub fn body(bytes: &'static str) -> TestBody {
    Full::new(Bytes::from_static(bytes.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A streamed body fed through the returned sender; it ends when the sender is dropped.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, TestBody) {
    struct Channel(tokio::sync::mpsc::Receiver<Bytes>);
    impl http_body::Body for Channel {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    (tx, Channel(rx).boxed_unsync())
}

pub fn empty() -> TestBody {
    body("")
}

pub fn get(path: &str) -> Request<TestBody> {
    request("GET", path)
}

pub fn request(method: &str, path: &str) -> Request<TestBody> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "origin.test")
        .body(empty())
        .unwrap()
}

pub fn pool() -> Upstreams<TestBody> {
    Upstreams::new()
}

pub fn settings() -> UpstreamSettings {
    UpstreamSettings {
        connect_timeout: std::time::Duration::from_secs(2),
        response_timeout: std::time::Duration::from_secs(2),
        ..UpstreamSettings::default()
    }
}

pub fn origin(addr: SocketAddr) -> Origin {
    Origin::from(addr)
}

pub fn tls_origin(host: &str, port: u16) -> Origin {
    Origin {
        address: OriginAddress::Tcp {
            host: host.to_owned(),
            port,
        },
        tls: true,
        weight: 1,
    }
}

pub fn zone() -> ZoneUpstream {
    ZoneUpstream::default()
}

/// Reads a whole response body as text.
pub async fn text<B>(resp: Response<B>) -> String
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Counters an origin keeps.
#[derive(Default)]
pub struct Counts {
    pub connections: AtomicUsize,
    pub requests: AtomicUsize,
}

impl Counts {
    pub fn connections(&self) -> usize {
        self.connections.load(SeqCst)
    }
    pub fn requests(&self) -> usize {
        self.requests.load(SeqCst)
    }
}

/// What an origin answers: `name` as the body, plus request details in headers.
#[derive(Clone)]
pub struct Answer {
    pub name: &'static str,
    pub extra_headers: usize,
}

async fn answer(
    answer: Answer,
    counts: Arc<Counts>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    counts.requests.fetch_add(1, SeqCst);
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let version = format!("{:?}", req.version());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if path == "/slow" {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let mut resp = Response::builder()
        .header("x-origin", answer.name)
        .header("x-method", method)
        .header("x-version", version)
        .header("x-body-len", body.len().to_string());
    for i in 0..answer.extra_headers {
        resp = resp.header(format!("x-extra-{i}"), "v");
    }
    Ok(resp.body(Full::new(Bytes::from(answer.name))).unwrap())
}

/// Serves HTTP/1.1 (or HTTP/2 when `h2`) on one accepted stream.
pub fn serve<S>(stream: S, h2: bool, a: Answer, counts: Arc<Counts>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let svc = service_fn(move |req| answer(a.clone(), counts.clone(), req));
        let io = TokioIo::new(stream);
        if h2 {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, svc)
                .await;
        } else {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        }
    });
}

/// A plain HTTP/1.1 origin answering its `name`.
pub async fn http_origin(name: &'static str) -> (SocketAddr, Arc<Counts>) {
    http_origin_with(Answer {
        name,
        extra_headers: 0,
    })
    .await
}

pub async fn http_origin_with(a: Answer) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, SeqCst);
            serve(stream, false, a.clone(), c.clone());
        }
    });
    (addr, counts)
}

/// An origin on a Unix socket in a fresh temp dir.
pub async fn unix_origin(name: &'static str) -> (PathBuf, Arc<Counts>) {
    let dir = std::env::temp_dir().join(format!("edgeward-upstream-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("origin.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, SeqCst);
            serve(
                stream,
                false,
                Answer {
                    name,
                    extra_headers: 0,
                },
                c.clone(),
            );
        }
    });
    (path, counts)
}

pub fn unix(path: &Path) -> Origin {
    Origin {
        address: OriginAddress::Unix(path.to_owned()),
        tls: false,
        weight: 1,
    }
}

/// Accepts connections and never answers (reads and holds them).
pub async fn hanging_origin() -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    c.requests.fetch_add(1, SeqCst);
                }
            });
        }
    });
    (addr, counts)
}

/// An address where nothing listens: connections are refused.
pub async fn refusing_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// Reads one request head, then closes without a response byte.
pub async fn closing_origin() -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                c.requests.fetch_add(1, SeqCst);
            });
        }
    });
    (addr, counts)
}

/// A private CA and what it signs.
pub struct Pki {
    pub ca_cert: CertificateDer<'static>,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "edgeward test CA");
        let ca = params.self_signed(&ca_key).unwrap();
        Pki {
            ca_cert: ca.der().clone(),
            ca,
            ca_key,
        }
    }

    /// A leaf certificate for `names`, with its key.
    pub fn leaf(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }

    /// A client certificate the edge presents.
    pub fn client_key(&self) -> Arc<CertifiedKey> {
        let (chain, key) = self.leaf(&["edge.test"]);
        let provider = rustls::crypto::ring::default_provider();
        Arc::new(CertifiedKey::from_der(chain, key, &provider).unwrap())
    }

    /// TLS settings trusting this CA.
    pub fn trusting(&self) -> OriginTls {
        OriginTls {
            ca_bundle: Some(Arc::from(vec![self.ca_cert.clone()])),
            ..OriginTls::default()
        }
    }
}

/// How a TLS test origin behaves.
pub struct TlsOrigin {
    pub names: &'static [&'static str],
    /// Require a client certificate signed by the PKI's CA.
    pub require_client_cert: bool,
    /// Offer h2 by ALPN.
    pub h2: bool,
}

pub async fn https_origin(pki: &Pki, spec: TlsOrigin, name: &'static str) -> (SocketAddr, Arc<Counts>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (chain, key) = pki.leaf(spec.names);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if spec.require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_cert.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = if spec.h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, SeqCst);
            let acceptor = acceptor.clone();
            let c = c.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(stream).await {
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    serve(
                        tls,
                        h2,
                        Answer {
                            name,
                            extra_headers: 0,
                        },
                        c,
                    );
                }
            });
        }
    });
    (addr, counts)
}

/// Per connection: answers the first request (keep-alive), then reads the next request head
/// and closes without a response byte, as an origin whose idle timeout just fired.
pub async fn flaky_origin() -> (SocketAddr, Arc<Counts>) {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            c.connections.fetch_add(1, SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                for answered in [true, false] {
                    let mut head = Vec::new();
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    c.requests.fetch_add(1, SeqCst);
                    if answered {
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-origin: flaky\r\n\r\nflaky";
                        if stream.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, counts)
}
