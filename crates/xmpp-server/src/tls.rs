//! rustls set-up for the c2s STARTTLS listener: one certificate per virtual
//! host, chosen by SNI, the way Prosody picks a host's `ssl` settings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::SupportedProtocolVersion;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ServerConfig;

/// Versions the listener accepts. Older ones are broken (and rustls has
/// none); TLS 1.2 stays for older XMPP clients and libraries.
pub const PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];

/// A certificate or key that cannot be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid PEM: {source}", path.display())]
    Pem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("{}: no certificate found (expected a \"BEGIN CERTIFICATE\" PEM block)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no private key found (expected a \"BEGIN ... PRIVATE KEY\" PEM block)", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{}: unsupported private key: {source}", path.display())]
    UnsupportedKey {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{}: certificate cannot be used: {source}", path.display())]
    BadCertificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{}: this private key does not belong to the certificate {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS set-up failed: {0}")]
    Setup(#[source] rustls::Error),
}

/// The provider is named explicitly so that behaviour does not depend on
/// which provider some other crate installed as the process default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// rustls `ServerConfig` for the c2s STARTTLS listener: TLS 1.2 and 1.3
/// only, aws-lc-rs provider (explicit, not the process default). SNI picks
/// the virtual host's certificate; no SNI or an unknown name gets the first
/// virtual host with `ssl`. `None` if no virtual host has `ssl`.
pub fn server_config(cfg: &ServerConfig) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
    let mut by_host = HashMap::new();
    let mut fallback = None;
    for vh in &cfg.virtual_host {
        let Some(ssl) = &vh.ssl else { continue };
        let key = load_certified_key(&ssl.certificate, &ssl.key)?;
        fallback.get_or_insert_with(|| key.clone());
        by_host.insert(vh.host.to_ascii_lowercase(), key);
    }
    let Some(fallback) = fallback else {
        return Ok(None);
    };
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(TlsError::Setup)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { by_host, fallback }));
    Ok(Some(Arc::new(config)))
}

/// Load a PEM certificate chain (leaf first) and its PEM private key
/// (PKCS#8, PKCS#1 or SEC1), checking that they belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_chain(cert)?;
    let der = read_key(key)?;
    let signing = provider()
        .key_provider
        .load_private_key(der)
        .map_err(|source| TlsError::UnsupportedKey {
            path: key.to_path_buf(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // Unknown: the key type cannot report its public key; accept, as rustls does.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::KeyMismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(TlsError::BadCertificate {
                path: cert.to_path_buf(),
                source,
            });
        }
    }
    Ok(Arc::new(certified))
}

fn pem_error(path: &Path, e: pem::Error) -> TlsError {
    match e {
        pem::Error::Io(source) => TlsError::Read {
            path: path.to_path_buf(),
            source,
        },
        source => TlsError::Pem {
            path: path.to_path_buf(),
            source,
        },
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        e => pem_error(path, e),
    })
}

/// Picks a virtual host's certificate by SNI.
#[derive(Debug)]
struct SniResolver {
    /// Lowercase host name → its certificate.
    by_host: HashMap<String, Arc<CertifiedKey>>,
    /// The first virtual host with `ssl`, like Prosody's default certificate.
    fallback: Arc<CertifiedKey>,
}

impl SniResolver {
    fn pick(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        if let Some(name) = server_name {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(key) = self.by_host.get(&name) {
                return key.clone();
            }
            // A component's name (conference.HOST) gets its parent host's
            // certificate: `cert generate` certificates cover *.HOST.
            if let Some(key) = name
                .split_once('.')
                .and_then(|(_, parent)| self.by_host.get(parent))
            {
                return key.clone();
            }
        }
        self.fallback.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(client_hello.server_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    const FIRST: &str = "jitsi2.test.alt";
    const SECOND: &str = "auth.jitsi2.test.alt";

    struct Setup {
        _dir: tempfile::TempDir,
        first: certs::GeneratedCert,
        second: certs::GeneratedCert,
        server: Arc<rustls::ServerConfig>,
    }

    fn two_hosts() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = certs::generate(FIRST, dir.path(), false).expect("first cert");
        let second = certs::generate(SECOND, dir.path(), false).expect("second cert");
        let text = format!(
            "[[virtual_host]]\nhost = \"{FIRST}\"\nssl = {{ key = \"{}\", certificate = \"{}\" }}\n\
             [[virtual_host]]\nhost = \"nossl.test.alt\"\n\
             [[virtual_host]]\nhost = \"{SECOND}\"\nssl = {{ key = \"{}\", certificate = \"{}\" }}\n",
            first.key_path.display(),
            first.cert_path.display(),
            second.key_path.display(),
            second.cert_path.display(),
        );
        let cfg = ServerConfig::from_toml_str(Path::new("test.toml"), &text).expect("config");
        let server = server_config(&cfg)
            .expect("tls config")
            .expect("some host has ssl");
        Setup {
            _dir: dir,
            first,
            second,
            server,
        }
    }

    fn leaf(path: &Path) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(path).expect("cert pem")
    }

    fn client(
        trusted: &[&Path],
        versions: &[&'static SupportedProtocolVersion],
        sni: bool,
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for p in trusted {
            roots.add(leaf(p)).expect("trust anchor");
        }
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.enable_sni = sni;
        Arc::new(config)
    }

    /// A real handshake over an in-memory pipe; returns what the client saw.
    async fn handshake(
        server: Arc<rustls::ServerConfig>,
        client: Arc<ClientConfig>,
        name: &str,
    ) -> (CertificateDer<'static>, ProtocolVersion) {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let name = ServerName::try_from(name.to_string()).expect("server name");
        let (accepted, connected) = tokio::join!(
            TlsAcceptor::from(server).accept(server_io),
            TlsConnector::from(client).connect(name, client_io)
        );
        accepted.expect("server side of the handshake");
        let stream = connected.expect("client side of the handshake");
        let conn = stream.get_ref().1;
        let peer = conn.peer_certificates().expect("peer certificates")[0].clone();
        (peer, conn.protocol_version().expect("version"))
    }

    #[tokio::test]
    async fn sni_selects_the_second_host() {
        let s = two_hosts();
        let c = client(
            &[&s.first.cert_path, &s.second.cert_path],
            PROTOCOL_VERSIONS,
            true,
        );
        let (peer, version) = handshake(s.server.clone(), c.clone(), SECOND).await;
        assert_eq!(peer, leaf(&s.second.cert_path));
        assert_eq!(version, ProtocolVersion::TLSv1_3);
        let (peer, _) = handshake(s.server, c, FIRST).await;
        assert_eq!(peer, leaf(&s.first.cert_path));
    }

    #[tokio::test]
    async fn no_sni_gets_the_first_host() {
        let s = two_hosts();
        let c = client(&[&s.first.cert_path], PROTOCOL_VERSIONS, false);
        let (peer, _) = handshake(s.server, c, FIRST).await;
        assert_eq!(peer, leaf(&s.first.cert_path));
    }

    #[tokio::test]
    async fn component_name_gets_its_parent_host() {
        let s = two_hosts();
        let c = client(&[&s.second.cert_path], PROTOCOL_VERSIONS, true);
        let (peer, _) = handshake(s.server, c, "internal.auth.jitsi2.test.alt").await;
        assert_eq!(peer, leaf(&s.second.cert_path));
    }

    #[tokio::test]
    async fn tls12_clients_are_accepted() {
        let s = two_hosts();
        let c = client(&[&s.second.cert_path], &[&TLS12], true);
        let (peer, version) = handshake(s.server, c, SECOND).await;
        assert_eq!(peer, leaf(&s.second.cert_path));
        assert_eq!(version, ProtocolVersion::TLSv1_2);
    }

    #[test]
    fn unknown_name_gets_the_first_host() {
        let s = two_hosts();
        let first = load_certified_key(&s.first.cert_path, &s.first.key_path).expect("first");
        let second = load_certified_key(&s.second.cert_path, &s.second.key_path).expect("second");
        let resolver = SniResolver {
            by_host: HashMap::from([
                (FIRST.to_string(), first.clone()),
                (SECOND.to_string(), second.clone()),
            ]),
            fallback: first.clone(),
        };
        assert!(Arc::ptr_eq(
            &resolver.pick(Some("AUTH.jitsi2.test.alt.")),
            &second
        ));
        assert!(Arc::ptr_eq(&resolver.pick(Some("other.example")), &first));
        assert!(Arc::ptr_eq(
            &resolver.pick(Some("a.b.other.example")),
            &first
        ));
        assert!(Arc::ptr_eq(&resolver.pick(None), &first));
    }

    #[test]
    fn versions_and_provider() {
        let versions: Vec<_> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(
            versions,
            [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
        );
        let s = two_hosts();
        let suites: Vec<_> = s
            .server
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|c| c.suite())
            .collect();
        let aws: Vec<_> = rustls::crypto::aws_lc_rs::default_provider()
            .cipher_suites
            .iter()
            .map(|c| c.suite())
            .collect();
        assert_eq!(suites, aws);
    }

    #[test]
    fn no_ssl_means_no_config() {
        let cfg = ServerConfig::from_toml_str(
            Path::new("test.toml"),
            "[[virtual_host]]\nhost = \"plain.example\"\n",
        )
        .expect("config");
        assert!(server_config(&cfg).expect("no error").is_none());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = certs::generate("a.example", dir.path(), false).expect("a");
        let b = certs::generate("b.example", dir.path(), false).expect("b");

        let e = load_certified_key(&a.cert_path, &b.key_path).expect_err("mismatch");
        assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
        assert!(e.to_string().contains("b.example.key"), "{e}");

        let missing = dir.path().join("missing.crt");
        let e = load_certified_key(&missing, &a.key_path).expect_err("missing");
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(e.to_string().contains("missing.crt"), "{e}");

        // Certificate and key swapped: each file lacks what is looked for.
        let e = load_certified_key(&a.key_path, &a.key_path).expect_err("key as cert");
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        let e = load_certified_key(&a.cert_path, &a.cert_path).expect_err("cert as key");
        assert!(matches!(e, TlsError::NoPrivateKey { .. }), "{e}");

        let garbage = dir.path().join("garbage.crt");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let e = load_certified_key(&garbage, &a.key_path).expect_err("garbage");
        assert!(matches!(e, TlsError::Pem { .. }), "{e}");
        assert!(
            e.to_string().starts_with(&garbage.display().to_string()),
            "{e}"
        );
    }
}
