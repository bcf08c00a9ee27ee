//! A peer: one origin as the pool sees it (address, TLS with SNI, ALPN, client certificate,
//! trust anchors), and the connector that opens a stream to it.
//!
//! Owns DNS, TCP and Unix connects with their timeout, the rustls client configuration
//! (built once per peer, never per request) and the handshake. It does not speak HTTP
//! (`conn`) or keep connections (`pool`).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::UpstreamError;
use crate::spec::{Origin, OriginAddress, OriginTls};

/// What identifies a peer in the process-wide pool: same key, same connections.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PeerKey {
    pub address: OriginAddress,
    /// TLS settings, for `https://` origins only.
    pub tls: Option<OriginTls>,
}

impl PeerKey {
    pub(crate) fn new(origin: &Origin, tls: &OriginTls) -> PeerKey {
        PeerKey {
            address: origin.address.clone(),
            tls: origin.tls.then(|| tls.clone()),
        }
    }
}

/// One origin ready to be connected to.
pub struct Peer {
    key: PeerKey,
    /// The socket address, when the host is an IP literal (no DNS per connect).
    literal: Option<SocketAddr>,
    tls: Option<PeerTls>,
}

struct PeerTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

/// A connected byte stream to an origin.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A fresh connection and what ALPN agreed on.
pub(crate) struct Connected {
    pub stream: Stream,
    pub h2: bool,
}

impl Peer {
    pub(crate) fn new(key: PeerKey) -> Peer {
        let literal = match &key.address {
            OriginAddress::Tcp { host, port } => {
                host.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, *port))
            }
            OriginAddress::Unix(_) => None,
        };
        let tls = key.tls.as_ref().map(|options| {
            let host = match &key.address {
                OriginAddress::Tcp { host, .. } => host.as_str(),
                OriginAddress::Unix(_) => "localhost",
            };
            let name = options.server_name.as_deref().unwrap_or(host);
            let server_name = ServerName::try_from(name.to_owned()).unwrap_or_else(|_| {
                tracing::warn!(name, "origin TLS name is not a DNS name or IP; using `invalid`");
                ServerName::try_from("invalid").expect("a valid DNS name")
            });
            if options.insecure_skip_verify {
                tracing::warn!(origin = %name, "insecure_skip_verify: the origin's certificate is NOT verified");
            }
            PeerTls {
                connector: TlsConnector::from(Arc::new(client_config(options))),
                server_name,
            }
        });
        Peer { key, literal, tls }
    }

    /// The address as configured (`https://host:port`, `host:port`, `unix:/path`).
    pub fn address(&self) -> &OriginAddress {
        &self.key.address
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The host used for `Host` by health probes: the TLS name, the TCP host, or `localhost`.
    pub(crate) fn default_host(&self) -> &str {
        if let Some(name) = self.key.tls.as_ref().and_then(|t| t.server_name.as_deref()) {
            return name;
        }
        match &self.key.address {
            OriginAddress::Tcp { host, .. } => host,
            OriginAddress::Unix(_) => "localhost",
        }
    }

    /// Opens a stream: connect within `timeout`, then the TLS handshake within `timeout` again.
    pub(crate) async fn connect(&self, timeout: Duration) -> Result<Connected, UpstreamError> {
        let plain = tokio::time::timeout(timeout, self.connect_plain())
            .await
            .map_err(|_| UpstreamError::ConnectTimeout)??;
        let Some(tls) = &self.tls else {
            return Ok(Connected {
                stream: plain,
                h2: false,
            });
        };
        let Stream::Tcp(tcp) = plain else {
            return Ok(Connected {
                stream: plain,
                h2: false,
            });
        };
        let handshake = tls.connector.connect(tls.server_name.clone(), tcp);
        let stream = tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| UpstreamError::TlsHandshake)?
            .map_err(|e| {
                tracing::debug!(peer = %self, error = %e, "origin TLS handshake failed");
                UpstreamError::from_handshake(&e)
            })?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(Connected {
            stream: Stream::Tls(Box::new(stream)),
            h2,
        })
    }

    async fn connect_plain(&self) -> Result<Stream, UpstreamError> {
        let (host, port) = match &self.key.address {
            OriginAddress::Unix(path) => {
                return UnixStream::connect(path)
                    .await
                    .map(Stream::Unix)
                    .map_err(|e| UpstreamError::from_connect(&e));
            }
            OriginAddress::Tcp { host, port } => (host.as_str(), *port),
        };
        if let Some(addr) = self.literal {
            return tcp(addr).await;
        }
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| UpstreamError::Dns {
                host: host.to_owned(),
            })?;
        let mut last = UpstreamError::Dns {
            host: host.to_owned(),
        };
        for addr in addrs {
            match tcp(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

async fn tcp(addr: SocketAddr) -> Result<Stream, UpstreamError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| UpstreamError::from_connect(&e))?;
    let _ = stream.set_nodelay(true);
    Ok(Stream::Tcp(stream))
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = Origin {
            address: self.key.address.clone(),
            tls: self.key.tls.is_some(),
            weight: 1,
        };
        fmt::Display::fmt(&origin, f)
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Peer({self})")
    }
}

/// The Mozilla roots, loaded once per process.
fn mozilla_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            Arc::new(store)
        })
        .clone()
}

fn client_config(options: &OriginTls) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let builder = if options.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let roots = match &options.ca_bundle {
            Some(bundle) => {
                let mut store = RootCertStore::empty();
                // The config checked each certificate; one that still fails is left out.
                let (_, ignored) = store.add_parsable_certificates(bundle.iter().cloned());
                if ignored > 0 {
                    tracing::warn!(ignored, "CA bundle certificates unusable as trust anchors");
                }
                Arc::new(store)
            }
            None => mozilla_roots(),
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match &options.client_cert {
        Some(key) => builder.with_client_cert_resolver(Arc::new(ClientCertificate(key.clone()))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if options.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    config
}

/// Presents the zone's client certificate to every origin that asks.
#[derive(Debug)]
struct ClientCertificate(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCertificate {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `insecure_skip_verify`: any certificate is accepted, handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

macro_rules! each_stream {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            Stream::Unix($s) => $e,
            Stream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each_stream!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_stream!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
