//! Start a real `meet-web` with a generated certificate and static root,
//! and talk to it: one HTTP/1.1 exchange per call over plain TCP or
//! rustls, with hyper's client connection (no client library with its own
//! connection pool in the way).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::{Daemon, binary, free_port, wait_port};

/// What differs between the tests' servers.
pub struct Options {
    pub plain_http: bool,
    pub xmpp_server: String,
    pub videobridge: String,
    /// More TOML, appended (e.g. a `[limits]` section).
    pub extra: String,
}

impl Default for Options {
    fn default() -> Self {
        // Closed ports: tests that proxy set their upstreams.
        Self {
            plain_http: false,
            xmpp_server: format!("http://127.0.0.1:{}", free_port()),
            videobridge: format!("http://127.0.0.1:{}", free_port()),
            extra: String::new(),
        }
    }
}

/// A running meet-web.
pub struct WebServer {
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub config_path: PathBuf,
    /// Unused (0) with plain_http.
    pub https_port: u16,
    pub http_port: u16,
    /// The server's self-signed certificate (for the clients' roots).
    pub cert_pem: String,
}

/// A self-signed certificate for `localhost` and `127.0.0.1`:
/// `(certificate PEM, key PEM)`.
pub fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key pair");
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate params");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    (cert.pem(), key.serialize_pem())
}

impl WebServer {
    /// Write a config, let `populate` fill the static root, check the
    /// config with `check-config`, start the server and wait until it is
    /// ready.
    pub fn start(opts: Options, populate: impl FnOnce(&Path)) -> Self {
        let bin = binary("meet-web");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("www");
        std::fs::create_dir_all(&root).expect("static root");
        populate(&root);
        let (cert_pem, key_pem) = self_signed();
        let cert = dir.path().join("web.crt");
        let key = dir.path().join("web.key");
        std::fs::write(&cert, &cert_pem).expect("write cert");
        std::fs::write(&key, &key_pem).expect("write key");
        let https_port = if opts.plain_http { 0 } else { free_port() };
        let http_port = free_port();
        let https_listen = if opts.plain_http {
            String::new()
        } else {
            format!("https_listen = [\"127.0.0.1:{https_port}\"]\n")
        };
        let config_path = dir.path().join("web.toml");
        std::fs::write(
            &config_path,
            format!(
                r#"[hosts]
domain = "meet.test"

[server]
{https_listen}http_listen = ["127.0.0.1:{http_port}"]
plain_http = {plain}
certificate = "{cert}"
private_key = "{key}"
static_root = "{root}"

[proxy]
xmpp_server = "{xmpp}"
videobridge = "{bridge}"

{extra}
"#,
                plain = opts.plain_http,
                cert = cert.display(),
                key = key.display(),
                root = root.display(),
                xmpp = opts.xmpp_server,
                bridge = opts.videobridge,
                extra = opts.extra,
            ),
        )
        .expect("write config");
        let out = Command::new(&bin)
            .arg("--config")
            .arg(&config_path)
            .arg("check-config")
            .output()
            .expect("check-config");
        assert!(
            out.status.success(),
            "check-config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cmd = Command::new(&bin);
        cmd.arg("--config").arg(&config_path);
        let daemon = Daemon::spawn("meet-web", cmd, dir.path().join("meet-web.log"));
        let server = Self {
            daemon,
            dir,
            root,
            config_path,
            https_port,
            http_port,
            cert_pem,
        };
        let port = if opts.plain_http {
            http_port
        } else {
            https_port
        };
        assert!(
            wait_port(port, Duration::from_secs(30)),
            "meet-web did not open its port\n{}",
            server.daemon.log()
        );
        server
            .daemon
            .wait_for_log("meet-web ready", Duration::from_secs(10));
        server
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A rustls client trusting `cert_pem`, limited to `versions`.
pub fn client_config(
    cert_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.expect("PEM certificate")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TLS connection to `127.0.0.1:port` (server name `localhost`), TLS 1.2
/// or 1.3.
pub async fn tls_connect(port: u16, cert_pem: &str) -> TlsStream<TcpStream> {
    tls_connect_with(
        port,
        client_config(
            cert_pem,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
        ),
    )
    .await
    .expect("TLS handshake")
}

pub async fn tls_connect_with(
    port: u16,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(config).connect(name, tcp).await
}

/// One request on `io`. `Host: localhost` unless `headers` has one.
pub async fn exchange<IO>(
    io: IO,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("request");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.headers_mut()
            .insert("host", hyper::header::HeaderValue::from_static("localhost"));
    }
    for (k, v) in headers {
        req.headers_mut().append(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            hyper::header::HeaderValue::from_str(v).expect("header value"),
        );
    }
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .expect("response in time")
        .expect("response");
    let (parts, body) = resp.into_parts();
    let body = tokio::time::timeout(Duration::from_secs(30), body.collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// One request over HTTPS.
pub async fn https(
    port: u16,
    cert_pem: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let tls = tls_connect(port, cert_pem).await;
    exchange(tls, method, path, headers, body).await
}

/// One request over plain HTTP.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    exchange(tcp, method, path, headers, body).await
}
