//! The HTTPS listener's TLS (Apache's SSLEngine, SSLCertificateFile,
//! SSLCertificateKeyFile, SSLProtocol): rustls with TLS 1.2 and 1.3 only —
//! the guide's `SSLProtocol TLSv1 TLSv1.1 TLSv1.2` allowed versions every
//! current browser has dropped — and ALPN `http/1.1` (WebSockets need the
//! HTTP/1.1 upgrade; h2 would need RFC 8441 on both hops).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use meet_service::config::{ConfigError, ConfigProblem};

pub const ALPN_HTTP11: &[u8] = b"http/1.1";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Load the certificate chain and key and build the server config; errors
/// name the config key of the file at fault.
pub fn server_config(
    config_file: &Path,
    certificate: &Path,
    private_key: &Path,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let problem = |key: &str, text: String| ConfigError {
        file: config_file.to_path_buf(),
        problems: vec![ConfigProblem::new(key, text)],
    };
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| problem("server.certificate", pem_problem(certificate, &e)))?;
    if chain.is_empty() {
        return Err(problem(
            "server.certificate",
            format!("{}: no PEM certificate in the file", certificate.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .map_err(|e| problem("server.private_key", pem_problem(private_key, &e)))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| problem("server.certificate", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            problem(
                "server.private_key",
                format!(
                    "{} does not fit {}: {e}",
                    private_key.display(),
                    certificate.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

fn pem_problem(path: &Path, e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => format!("cannot read {}: {io}", path.display()),
        pem::Error::NoItemsFound => format!("{}: no PEM item of the right kind", path.display()),
        other => format!("{}: {other}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let c = dir.join(format!("{name}.crt"));
        let k = dir.join(format!("{name}.key"));
        std::fs::write(&c, cert.pem()).expect("write");
        std::fs::write(&k, key.serialize_pem()).expect("write");
        (c, k)
    }

    #[test]
    fn loads_a_pair_and_offers_http11() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, k) = pair(dir.path(), "a");
        let cfg = server_config(Path::new("web.toml"), &c, &k).expect("config");
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, k) = pair(dir.path(), "a");
        let (_, other_key) = pair(dir.path(), "b");
        let file = Path::new("web.toml");
        let e = server_config(file, &dir.path().join("missing.crt"), &k)
            .expect_err("missing")
            .to_string();
        assert!(e.contains("key `server.certificate`: cannot read"), "{e}");
        let e = server_config(file, &c, &other_key)
            .expect_err("mismatch")
            .to_string();
        assert!(e.contains("key `server.private_key`"), "{e}");
        let e = server_config(file, &k, &k)
            .expect_err("no cert")
            .to_string();
        assert!(e.contains("key `server.certificate`"), "{e}");
        let e = server_config(file, &c, &c).expect_err("no key").to_string();
        assert!(e.contains("key `server.private_key`"), "{e}");
    }
}
