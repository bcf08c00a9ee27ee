//! TLS termination: the acceptor of a `[[tls]]` listener, the certificate chosen per SNI
//! name, and the [`Transport`] a connection carries into every request.
//!
//! Owns the handshake (rustls with the ring provider, ALPN `h2` and `http/1.1`, a bound on
//! its duration) and which certificate answers which name. A name no certificate covers still
//! completes the handshake with the first certificate; the pipeline then refuses its
//! requests with a 403. It does not read HTTP (that is `conn`'s).

use std::sync::Arc;
use std::time::Duration;

use edgeward_config::{CertNames, TlsCertificate, TlsListener};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How a connection reached the edge: plain TCP, or TLS and the certificate it was served.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// Whether the connection is TLS.
    pub tls: bool,
    /// Whether a certificate covers the client's SNI name (false when it sent none).
    pub sni_covered: bool,
    /// The names the served certificate covers (`None` on plain connections).
    pub served_names: Option<Arc<CertNames>>,
    /// Whether ALPN chose HTTP/2.
    pub h2: bool,
}

impl Transport {
    /// A plain-TCP connection.
    pub fn plain() -> Transport {
        Transport::default()
    }

    /// Whether a request for `host` (without port; empty when the client sent none) may be
    /// answered on this connection: always on plain TCP; on TLS only when the SNI name and
    /// the host are both covered by the certificate served.
    pub fn covers(&self, host: &str) -> bool {
        match &self.served_names {
            None => true,
            Some(names) => self.sni_covered && (host.is_empty() || names.covers(host)),
        }
    }
}

/// The certificate for `sni`: an exact name first, then a single-label wildcard, in file
/// order; otherwise the first certificate, reported as not covering the name.
fn select(certificates: &[TlsCertificate], sni: Option<&str>) -> (usize, bool) {
    let Some(sni) = sni else {
        return (0, false);
    };
    let exact = certificates.iter().position(|c| c.names.covers_exactly(sni));
    match exact.or_else(|| certificates.iter().position(|c| c.names.covers_by_wildcard(sni))) {
        Some(i) => (i, true),
        None => (0, false),
    }
}

/// Answers each ClientHello with the certificate `select` picks.
#[derive(Debug)]
struct SniResolver {
    certificates: Arc<[TlsCertificate]>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let (i, _) = select(&self.certificates, hello.server_name());
        Some(Arc::clone(&self.certificates[i].key))
    }
}

/// The TLS side of one `[[tls]]` listener.
pub struct TlsEndpoint {
    acceptor: TlsAcceptor,
    certificates: Arc<[TlsCertificate]>,
}

impl TlsEndpoint {
    /// The acceptor for `listener`'s certificates.
    pub fn new(listener: &TlsListener) -> Result<TlsEndpoint, rustls::Error> {
        let certificates: Arc<[TlsCertificate]> = listener.certificates.clone().into();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SniResolver {
                certificates: Arc::clone(&certificates),
            }));
        // HTTP/2 first, as browsers and every peer of ours prefer it (RFC 9113 §3.2).
        config.alpn_protocols = if listener.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        Ok(TlsEndpoint {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificates,
        })
    }

    /// Completes the handshake within `timeout`; the stream and its [`Transport`].
    pub async fn handshake(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> std::io::Result<(TlsStream<TcpStream>, Transport)> {
        let stream = tokio::time::timeout(timeout, self.acceptor.accept(stream))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        // The same choice the resolver made (also for resumed sessions, where it is not asked).
        let (i, sni_covered) = select(&self.certificates, stream.get_ref().1.server_name());
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let transport = Transport {
            tls: true,
            sni_covered,
            served_names: Some(Arc::clone(&self.certificates[i].names)),
            h2,
        };
        Ok((stream, transport))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_covers_hosts_of_the_served_certificate_only() {
        let plain = Transport::plain();
        assert!(plain.covers("anything.test"));
        let names = Arc::new(CertNames::new(["example.com", "*.example.com"]));
        let tls = Transport {
            tls: true,
            sni_covered: true,
            served_names: Some(names),
            h2: false,
        };
        assert!(tls.covers("a.example.com"));
        assert!(tls.covers(""));
        assert!(!tls.covers("a.b.example.com"));
        assert!(!tls.covers("other.test"));
        let uncovered_sni = Transport {
            sni_covered: false,
            ..tls
        };
        assert!(!uncovered_sni.covers("a.example.com"));
    }
}
