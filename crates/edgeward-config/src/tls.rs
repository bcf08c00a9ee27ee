//! `[[tls]]`: TLS listeners and the certificates they serve, loaded and checked once.
//!
//! Owns reading the PEM files (paths relative to the config file), checking that each key
//! matches its chain, and the names each certificate covers (its subjectAltName DNS entries).
//! It does not accept connections or choose a certificate per handshake (the proxy does).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::Deserialize;
use toml::Spanned;

use crate::schema::Listen;
use crate::validate::Source;
use crate::ConfigError;

/// One `[[tls]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub listen: Spanned<Listen>,
    #[serde(default)]
    pub certificates: Vec<RawCertificate>,
    pub http2: Option<bool>,
}

/// One `[[tls.certificates]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCertificate {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

/// A TLS listener: where it listens and the certificates it may serve.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsListener {
    /// Addresses (at least one).
    pub listen: Vec<SocketAddr>,
    /// Certificates in file order (at least one); the first is served when none covers the
    /// client's SNI name.
    pub certificates: Vec<TlsCertificate>,
    /// Whether ALPN offers `h2` (default true); `http/1.1` is always offered.
    pub http2: bool,
}

/// A certificate chain with its private key, and the host names it covers.
#[derive(Debug, Clone)]
pub struct TlsCertificate {
    /// The names from the end-entity certificate's subjectAltName.
    pub names: Arc<CertNames>,
    /// The chain and the signing key, ready for rustls.
    pub key: Arc<CertifiedKey>,
}

impl PartialEq for TlsCertificate {
    /// Same names and same chain (a matching key follows from the chain).
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names && self.key.cert == other.key.cert
    }
}

/// The DNS names a certificate covers: exact names and single-label `*.` wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertNames {
    /// Exact names, lowercase.
    exact: Vec<String>,
    /// The parent domain of each `*.` wildcard (`example.com` for `*.example.com`), lowercase.
    wildcard: Vec<String>,
}

impl CertNames {
    /// Names as written in a certificate (`example.com`, `*.example.com`).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> CertNames {
        let mut out = CertNames::default();
        for name in names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(parent) => out.wildcard.push(parent.to_owned()),
                None => out.exact.push(name),
            }
        }
        out
    }

    /// Whether `host` (without port) is one of the exact names, ignoring ASCII case.
    pub fn covers_exactly(&self, host: &str) -> bool {
        self.exact.iter().any(|n| n.eq_ignore_ascii_case(host))
    }

    /// Whether a wildcard covers `host`, as browsers match them: `*.example.com` covers
    /// `a.example.com`, not `a.b.example.com` and not `example.com`.
    pub fn covers_by_wildcard(&self, host: &str) -> bool {
        let Some((label, parent)) = host.split_once('.') else {
            return false;
        };
        !label.is_empty()
            && !label.contains('*')
            && self.wildcard.iter().any(|w| w.eq_ignore_ascii_case(parent))
    }

    /// Whether the certificate is valid for `host` (without port).
    pub fn covers(&self, host: &str) -> bool {
        self.covers_exactly(host) || self.covers_by_wildcard(host)
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }
}

impl Source<'_> {
    /// Validates the `[[tls]]` entries; `plain` are the `[server] listen` addresses.
    pub(crate) fn tls(
        &self,
        raw: Vec<RawTls>,
        plain: &[SocketAddr],
    ) -> Result<Vec<TlsListener>, ConfigError> {
        let mut taken: Vec<SocketAddr> = plain.to_vec();
        let mut listeners = Vec::with_capacity(raw.len());
        for entry in raw {
            let listen = self.listen(&entry.listen)?;
            if let Some(addr) = listen.iter().find(|a| a.port() != 0 && taken.contains(a)) {
                let msg = format!("TLS listen address `{addr}` is already used by another listener");
                return Err(self.fault(entry.listen.span(), msg));
            }
            taken.extend(&listen);
            if entry.certificates.is_empty() {
                let msg = "[[tls]] has no certificates: add [[tls.certificates]] with `cert` and `key`";
                return Err(self.fault(entry.listen.span(), msg));
            }
            let certificates = entry
                .certificates
                .iter()
                .map(|c| self.certificate(c))
                .collect::<Result<_, _>>()?;
            listeners.push(TlsListener {
                listen,
                certificates,
                http2: entry.http2.unwrap_or(true),
            });
        }
        Ok(listeners)
    }

    fn certificate(&self, raw: &RawCertificate) -> Result<TlsCertificate, ConfigError> {
        let (cert_path, cert_pem) = self.read_pem(&raw.cert, "cert")?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                self.fault(
                    raw.cert.span(),
                    format!("`cert` {}: invalid PEM: {e}", cert_path.display()),
                )
            })?;
        let Some(end_entity) = chain.first() else {
            let msg = format!("`cert` {}: no PEM certificate in the file", cert_path.display());
            return Err(self.fault(raw.cert.span(), msg));
        };
        let names = cert_names(end_entity)
            .map_err(|e| self.fault(raw.cert.span(), format!("`cert` {}: {e}", cert_path.display())))?;
        let (key_path, key_pem) = self.read_pem(&raw.key, "key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            let msg = format!(
                "`key` {}: no PKCS#8, RSA or EC private key in PEM ({e})",
                key_path.display()
            );
            self.fault(raw.key.span(), msg)
        })?;
        let provider = rustls::crypto::ring::default_provider();
        let key = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
            let msg = match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "`key` {} does not match the certificate in {}",
                    key_path.display(),
                    cert_path.display()
                ),
                other => format!("`key` {}: unusable private key: {other}", key_path.display()),
            };
            self.fault(raw.key.span(), msg)
        })?;
        Ok(TlsCertificate {
            names: Arc::new(names),
            key: Arc::new(key),
        })
    }

    /// The path (relative to the config file) and bytes of a PEM file.
    fn read_pem(
        &self,
        path: &Spanned<String>,
        key: &str,
    ) -> Result<(std::path::PathBuf, Vec<u8>), ConfigError> {
        let full = self.base_dir.join(Path::new(path.get_ref()));
        match std::fs::read(&full) {
            Ok(bytes) => Ok((full, bytes)),
            Err(e) => Err(self.fault(
                path.span(),
                format!("`{key}`: cannot read {}: {e}", full.display()),
            )),
        }
    }
}

/// The subjectAltName DNS names of an end-entity certificate.
fn cert_names(der: &CertificateDer<'_>) -> Result<CertNames, String> {
    let cert =
        webpki::EndEntityCert::try_from(der).map_err(|e| format!("not a valid X.509 certificate ({e})"))?;
    let names = CertNames::new(cert.valid_dns_names());
    if names.is_empty() {
        return Err("the certificate names no DNS host in its subjectAltName".to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use super::CertNames;
    use crate::{parse, Config, ConfigError};

    /// Lines 1–6.
    const BASE: &str = "[server]\nlisten = \"127.0.0.1:8080\"\n[[zones]]\nname = \"www\"\n\
                        hosts = [\"example.com\"]\norigins = [\"127.0.0.1:9000\"]\n";

    /// A directory with two generated certificates (`a`, `b`) and garbage, written once per process.
    fn certs_dir() -> PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("edgeward-config-tls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, hosts) in [
                ("a", vec!["example.com", "*.example.com"]),
                ("b", vec!["other.test"]),
            ] {
                let hosts = hosts.into_iter().map(String::from).collect::<Vec<_>>();
                let generated = rcgen::generate_simple_self_signed(hosts).unwrap();
                std::fs::write(dir.join(format!("{name}.crt")), generated.cert.pem()).unwrap();
                std::fs::write(
                    dir.join(format!("{name}.key")),
                    generated.key_pair.serialize_pem(),
                )
                .unwrap();
            }
            std::fs::write(dir.join("garbage.pem"), "not a certificate\n").unwrap();
            dir
        })
        .clone()
    }

    fn load(tls: &str) -> Result<Config, ConfigError> {
        parse(&format!("{BASE}{tls}"), Path::new("edgeward.toml"), &certs_dir())
    }

    fn fault(tls: &str, line: usize, needle: &str) {
        let err = load(tls).err().unwrap_or_else(|| panic!("accepted:\n{tls}"));
        assert_eq!(err.line, Some(line), "{err}");
        assert!(err.message.contains(needle), "{err} lacks {needle:?}");
    }

    #[test]
    fn certificates_load_with_their_san_names() {
        let tls = "[[tls]]\nlisten = [\"127.0.0.1:8443\", \"[::1]:8443\"]\n\
                   [[tls.certificates]]\ncert = \"a.crt\"\nkey = \"a.key\"\n\
                   [[tls.certificates]]\ncert = \"b.crt\"\nkey = \"b.key\"\n";
        let config = load(tls).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.tls.len(), 1);
        let listener = &config.tls[0];
        assert_eq!(listener.listen.len(), 2);
        let [a, b] = &listener.certificates[..] else {
            panic!("two certificates expected")
        };
        assert!(a.names.covers("x.example.com") && a.names.covers("example.com"));
        assert!(!a.names.covers("other.test"));
        assert!(b.names.covers("other.test"));
    }

    #[test]
    fn tls_faults_name_their_line() {
        let entry = "[[tls]]\nlisten = \"127.0.0.1:8443\"\n[[tls.certificates]]\n";
        // Lines 7–9 are `entry`; `cert` is line 10 and `key` line 11.
        fault(
            &format!("{entry}cert = \"a.crt\"\nkey = \"missing.key\"\n"),
            11,
            "cannot read",
        );
        fault(
            &format!("{entry}cert = \"garbage.pem\"\nkey = \"a.key\"\n"),
            10,
            "no PEM certificate",
        );
        fault(
            &format!("{entry}cert = \"a.crt\"\nkey = \"garbage.pem\"\n"),
            11,
            "no PKCS#8, RSA or EC",
        );
        fault(
            &format!("{entry}cert = \"a.crt\"\nkey = \"b.key\"\n"),
            11,
            "does not match",
        );
        fault("[[tls]]\nlisten = \"127.0.0.1:8443\"\n", 8, "no certificates");
        fault("[[tls]]\nlisten = \"127.0.0.1:8080\"\n", 8, "already used");
        fault("[[tls]]\nlisten = \"nope\"\n", 8, "invalid listen address");
    }

    #[test]
    fn wildcards_cover_one_label_only() {
        let names = CertNames::new(["Example.com", "*.example.com"]);
        assert!(names.covers("example.com"));
        assert!(names.covers("A.Example.COM"));
        assert!(names.covers_by_wildcard("a.example.com"));
        assert!(!names.covers_exactly("a.example.com"));
        assert!(!names.covers("a.b.example.com"));
        assert!(!names.covers(".example.com"));
        assert!(!names.covers("other.test"));
        let wildcard_only = CertNames::new(["*.example.com"]);
        assert!(!wildcard_only.covers("example.com"));
    }
}
