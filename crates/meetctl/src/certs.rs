//! meet-web's certificate as the guide makes it with openssl: a private root
//! CA ("openssl req -x509 -new -key rootCA.key") and a host certificate for
//! DOMAIN signed by it, so browsers need to trust only the CA. (The XMPP
//! hosts' certificates are xmpp-server's own `cert generate`, as the guide
//! uses `prosodyctl cert generate`.)

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use crate::files::{self, Access};

/// The guide's CA lives 10000 days; ten years is long enough to install it
/// once in browsers and short enough to be replaced some day.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// 825 days: the longest validity Apple's clients accept for a server
/// certificate, even from a private CA (the guide's 5000 days is refused).
const HOST_VALIDITY: Duration = Duration::from_secs(825 * 24 * 3600);

/// The files of the CA and of the web host certificate in the certs folder.
#[derive(Debug, Clone)]
pub struct WebCerts {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl WebCerts {
    pub fn in_dir(dir: &Path, domain: &str) -> Self {
        Self {
            ca_cert: dir.join("meet-rs-ca.crt"),
            ca_key: dir.join("meet-rs-ca.key"),
            cert: dir.join(format!("{domain}.crt")),
            key: dir.join(format!("{domain}.key")),
        }
    }
}

/// What [`ensure`] did, for setup's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    Nothing,
    HostCert,
    CaAndHostCert,
}

/// Make the CA (if missing) and the host certificate for `domain` (if
/// missing). Existing files are never replaced: to renew the host
/// certificate, delete it and run setup again (the CA is reused, so
/// browsers that trust it keep trusting the new one).
pub fn ensure(files: &WebCerts, domain: &str, key_group: &str) -> Result<Made, String> {
    if files.cert.exists() && files.key.exists() {
        return Ok(Made::Nothing);
    }
    let tls = |e: rcgen::Error| format!("cannot create a certificate: {e}");
    let (ca_key, made) = if files.ca_cert.exists() && files.ca_key.exists() {
        let pem = std::fs::read_to_string(&files.ca_key)
            .map_err(|e| format!("cannot read {}: {e}", files.ca_key.display()))?;
        let key = KeyPair::from_pem(&pem)
            .map_err(|e| format!("{}: not a usable key: {e}", files.ca_key.display()))?;
        (key, Made::HostCert)
    } else {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(tls)?;
        let cert = ca_params(domain).self_signed(&key).map_err(tls)?;
        files::write(&files.ca_key, &key.serialize_pem(), Access::Owner)?;
        files::write(&files.ca_cert, &cert.pem(), Access::Public)?;
        (key, Made::CaAndHostCert)
    };
    // The issuer is rebuilt from the same name and key, which is all a
    // certificate it signs refers to (subject name, key identifier).
    let issuer = Issuer::new(ca_params(domain), &ca_key);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(tls)?;
    let cert = host_params(domain)
        .map_err(tls)?
        .signed_by(&key, &issuer)
        .map_err(tls)?;
    files::write(
        &files.key,
        &key.serialize_pem(),
        Access::Secret { group: key_group },
    )?;
    files::write(&files.cert, &cert.pem(), Access::Public)?;
    Ok(made)
}

/// X.509 times have one-second resolution; the epoch plus whole seconds
/// avoids depending on a date crate.
/// (The date type is the `time` crate's, which we only reach through rcgen.)
fn epoch_now() -> Duration {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Duration::from_secs(secs)
}

/// The CA's parameters; the same for a domain every time, so an existing
/// CA key can sign again (see [`ensure`]).
fn ca_params(domain: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "meet-rs");
    dn.push(DnType::CommonName, format!("meet-rs CA for {domain}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let start = rcgen::date_time_ymd(1970, 1, 1) + epoch_now();
    params.not_before = start;
    params.not_after = start + CA_VALIDITY;
    params
}

fn host_params(domain: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(vec![domain.to_string()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, domain);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let start = rcgen::date_time_ymd(1970, 1, 1) + epoch_now();
    params.not_before = start;
    params.not_after = start + HOST_VALIDITY;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    fn verify(files: &WebCerts, domain: &str) -> Result<(), rustls::Error> {
        let ca = CertificateDer::from_pem_file(&files.ca_cert).expect("ca pem");
        let leaf = CertificateDer::from_pem_file(&files.cert).expect("leaf pem");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("add ca");
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .expect("verifier");
        let name = ServerName::try_from(domain.to_string()).expect("name");
        rustls::client::danger::ServerCertVerifier::verify_server_cert(
            verifier.as_ref(),
            &leaf,
            &[],
            &name,
            &[],
            UnixTime::now(),
        )
        .map(drop)
    }

    #[test]
    fn host_certificate_chains_to_the_ca_also_after_renewal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = WebCerts::in_dir(dir.path(), "meet.example");
        assert_eq!(
            ensure(&files, "meet.example", "nogroup-x"),
            Ok(Made::CaAndHostCert)
        );
        verify(&files, "meet.example").expect("chain");
        assert!(verify(&files, "other.example").is_err());
        assert_eq!(
            ensure(&files, "meet.example", "nogroup-x"),
            Ok(Made::Nothing)
        );
        // Renewal: delete the host certificate; the CA signs a new one.
        let ca = std::fs::read(&files.ca_cert).expect("ca");
        std::fs::remove_file(&files.cert).expect("rm");
        assert_eq!(
            ensure(&files, "meet.example", "nogroup-x"),
            Ok(Made::HostCert)
        );
        assert_eq!(std::fs::read(&files.ca_cert).expect("ca"), ca);
        verify(&files, "meet.example").expect("chain after renewal");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("m").permissions().mode() & 0o777;
        assert_eq!(mode(&files.ca_key), 0o600);
        assert_eq!(mode(&files.key), 0o600);
        assert_eq!(mode(&files.cert), 0o644);
    }
}
