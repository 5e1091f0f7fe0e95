//! Self-signed certificates for virtual hosts: the meet-rs counterpart of
//! `prosodyctl cert generate HOST`.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

use crate::config::domain_name_problem;

/// How long a generated certificate is valid (prosodyctl's `-days 365`).
pub const VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Where [`generate`] put the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedCert {
    /// `dir/HOST.key`, PEM PKCS#8, mode 0600.
    pub key_path: PathBuf,
    /// `dir/HOST.crt`, PEM, mode 0644.
    pub cert_path: PathBuf,
}

/// Why no certificate was written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("`{host}` is not a valid host name: {reason}")]
    InvalidHost { host: String, reason: String },
    #[error("{} already exists (pass overwrite to replace it)", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Self-signed certificate for `host` (SANs: host and *.host), ECDSA P-256,
/// valid 1 year, written to `dir/HOST.key` (mode 0600) and `dir/HOST.crt`
/// (0644); `dir` is created if missing. Refuses to overwrite existing files
/// unless `overwrite` (prosodyctl asks; we take a flag).
pub fn generate(host: &str, dir: &Path, overwrite: bool) -> Result<GeneratedCert, CertError> {
    if let Some(reason) = domain_name_problem(host) {
        return Err(CertError::InvalidHost {
            host: host.to_string(),
            reason,
        });
    }
    let out = GeneratedCert {
        key_path: dir.join(format!("{host}.key")),
        cert_path: dir.join(format!("{host}.crt")),
    };
    if !overwrite {
        // Check both before writing either, so a refusal leaves nothing behind.
        for path in [&out.key_path, &out.cert_path] {
            if path.symlink_metadata().is_ok() {
                return Err(CertError::Exists { path: path.clone() });
            }
        }
    }
    let (key_pem, cert_pem) = self_signed(host)?;
    fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_file(&out.key_path, &key_pem, 0o600, overwrite)?;
    if let Err(e) = write_file(&out.cert_path, &cert_pem, 0o644, overwrite) {
        // A key without its certificate would block the next attempt.
        if !overwrite {
            let _ = fs::remove_file(&out.key_path);
        }
        return Err(e);
    }
    Ok(out)
}

/// `(key PEM, certificate PEM)`.
fn self_signed(host: &str) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec![host.to_string(), format!("*.{host}")])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, host);
    params.distinguished_name = dn;
    // X.509 times have one-second resolution; the epoch plus whole seconds
    // avoids naming the `time` crate, which is not our dependency.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let start = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(now.as_secs());
    params.not_before = start;
    params.not_after = start + VALIDITY;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // ClientAuth too: the same certificate may later serve s2s, where it
    // authenticates us as a client.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.self_signed(&key)?;
    Ok((key.serialize_pem(), cert.pem()))
}

/// Write `contents` to `path` with exactly `mode`.
///
/// Without `overwrite`, the file is created exclusively (which also refuses
/// to follow a symlink). With it, the data goes to a fresh temporary file
/// that is then renamed over `path`: a symlink planted at `path` is replaced,
/// not followed, and readers never see a half-written key.
fn write_file(path: &Path, contents: &str, mode: u32, overwrite: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !overwrite {
        let file = create_new(path, mode).map_err(|source| match source.kind() {
            ErrorKind::AlreadyExists => CertError::Exists {
                path: path.to_path_buf(),
            },
            _ => io(source),
        })?;
        return fill(file, contents, mode).map_err(io);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // A leftover from a crashed run; removing a symlink removes only the link.
    let _ = fs::remove_file(&tmp);
    let written = create_new(&tmp, mode)
        .and_then(|file| fill(file, contents, mode))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(source));
    }
    Ok(())
}

fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Create with the final mode so the key is never readable by others.
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

fn fill(mut file: File, contents: &str, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask may have taken bits off (0644 → 0600 under umask 077).
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn writes_a_usable_key_and_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("certs");
        let g = generate("jitsi2.test.alt", &sub, false).expect("generate");
        assert_eq!(g.key_path, sub.join("jitsi2.test.alt.key"));
        assert_eq!(g.cert_path, sub.join("jitsi2.test.alt.crt"));
        let key = fs::read_to_string(&g.key_path).expect("key");
        let cert = fs::read_to_string(&g.cert_path).expect("cert");
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        #[cfg(unix)]
        {
            assert_eq!(mode(&g.key_path), 0o600);
            assert_eq!(mode(&g.cert_path), 0o644);
        }
        let loaded = tls::load_certified_key(&g.cert_path, &g.key_path).expect("loads");
        assert_eq!(loaded.cert.len(), 1);
        assert!(loaded.keys_match().is_ok());
    }

    #[test]
    fn refuses_to_overwrite_unless_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = generate("auth.jitsi2.test.alt", dir.path(), false).expect("first");
        let before = fs::read(&g.key_path).expect("key");

        let e = generate("auth.jitsi2.test.alt", dir.path(), false).expect_err("exists");
        assert!(matches!(e, CertError::Exists { .. }), "{e}");
        assert!(e.to_string().contains("auth.jitsi2.test.alt.key"), "{e}");
        assert_eq!(fs::read(&g.key_path).expect("key"), before);

        // Only the certificate left: still refused, and the key is not written.
        fs::remove_file(&g.key_path).expect("rm");
        let e = generate("auth.jitsi2.test.alt", dir.path(), false).expect_err("cert exists");
        assert!(e.to_string().contains("auth.jitsi2.test.alt.crt"), "{e}");
        assert!(!g.key_path.exists());

        let again = generate("auth.jitsi2.test.alt", dir.path(), true).expect("overwrite");
        assert_eq!(again, g);
        tls::load_certified_key(&g.cert_path, &g.key_path).expect("new pair matches");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn overwrite_tightens_a_loose_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("x.example.key");
        fs::write(&key, "old").expect("write");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o666)).expect("chmod");
        generate("x.example", dir.path(), true).expect("overwrite");
        assert_eq!(mode(&key), 0o600);
    }

    #[test]
    fn rejects_bad_host_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        for host in ["", "../etc/passwd", "Upper.example", "a..b"] {
            let e = generate(host, dir.path(), false).expect_err(host);
            assert!(matches!(e, CertError::InvalidHost { .. }), "{host}: {e}");
        }
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}
