//! Raw XMPP over TCP for negative tests (malformed XML, oversized stanzas,
//! vanishing peers, component handshakes) where a real client library would
//! refuse to misbehave; plus a tokio-xmpp connector that does STARTTLS with
//! the test server's self-signed certificates as roots.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use tokio_xmpp::connect::{DnsConfig, ServerConnector};
use tokio_xmpp::xmlstream::{
    PendingFeaturesRecv, StreamHeader, Timeouts, XmppStreamElement, initiate_stream,
};
use xmpp_parsers::jid::Jid;

/// A plain TCP connection that collects what the server sends.
pub struct RawConn {
    pub stream: TcpStream,
    pub received: String,
}

impl RawConn {
    pub async fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        Self {
            stream,
            received: String::new(),
        }
    }

    pub async fn send(&mut self, data: &str) {
        self.stream.write_all(data.as_bytes()).await.expect("send");
    }

    /// Read until `needle` has been received (panics after 10 s or on EOF
    /// before it).
    pub async fn expect(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 8192];
        while !self.received.contains(needle) {
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!("timeout waiting for {needle:?}; got {:?}", self.received)
                })
                .expect("read");
            if n == 0 {
                panic!("EOF waiting for {needle:?}; got {:?}", self.received);
            }
            self.received.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        self.received.clone()
    }

    /// Read whatever arrives within `wait` (one read at most); false on EOF.
    pub async fn read_some(&mut self, wait: Duration) -> bool {
        let mut buf = vec![0u8; 256 * 1024];
        match tokio::time::timeout(wait, self.stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.received.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            Err(_) => true,
        }
    }

    /// Read until `needle` arrives or the server closes; returns everything.
    pub async fn read_until_or_close(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 8192];
        while !self.received.contains(needle) {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => self.received.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => panic!("neither {needle:?} nor close; got {:?}", self.received),
            }
        }
        self.received.clone()
    }

    /// Read until the server closes the connection; returns everything.
    pub async fn read_to_close(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 8192];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return self.received.clone(),
                Ok(Ok(n)) => self.received.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => panic!("server did not close; got {:?}", self.received),
            }
        }
    }

    /// Open a c2s stream to `host` and authenticate anonymously (the host must
    /// allow unencrypted SASL), bind, and return the bound JID.
    pub async fn anonymous_login(&mut self, host: &str) -> String {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{host}' version='1.0'>"
        ))
        .await;
        self.expect("</stream:features>").await;
        self.received.clear();
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
            .await;
        self.expect("<success").await;
        self.received.clear();
        self.send(&format!(
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{host}' version='1.0'>"
        ))
        .await;
        self.expect("</stream:features>").await;
        self.received.clear();
        self.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
            .await;
        let got = self.expect("</jid>").await;
        self.received.clear();
        let start = got.find("<jid>").map(|i| i + 5).unwrap_or(0);
        let end = got.find("</jid>").unwrap_or(start);
        got[start..end].to_string()
    }
}

/// A rustls client config trusting exactly the given PEM certificates.
pub fn client_tls(ca_pems: &[String]) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.expect("pem cert")).expect("add root");
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// tokio-xmpp's STARTTLS connector builds its TLS config from the system
/// roots; this one is the same flow with the test CA.
#[derive(Clone)]
pub struct TestStartTls {
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TestStartTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestStartTls({})", self.port)
    }
}

impl ServerConnector for TestStartTls {
    type Stream = BufStream<tokio_rustls::client::TlsStream<TcpStream>>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<
        (
            PendingFeaturesRecv<Self::Stream>,
            sasl::common::ChannelBinding,
        ),
        tokio_xmpp::Error,
    > {
        let tcp = DnsConfig::addr(&format!("127.0.0.1:{}", self.port))
            .resolve()
            .await?;
        let header = || StreamHeader {
            to: Some(Cow::Owned(jid.domain().as_str().to_string())),
            from: None,
            id: None,
        };
        let stream = initiate_stream(BufStream::new(tcp), ns, header(), timeouts).await?;
        let (features, mut stream) = stream.recv_features().await?;
        if !features.can_starttls() {
            return Err(tokio_xmpp::Error::Io(std::io::Error::other(
                "server offered no STARTTLS",
            )));
        }
        stream
            .send(&XmppStreamElement::Starttls(
                xmpp_parsers::starttls::Nonza::Request(xmpp_parsers::starttls::Request),
            ))
            .await?;
        loop {
            match stream.next().await {
                Some(Ok(XmppStreamElement::Starttls(xmpp_parsers::starttls::Nonza::Proceed(
                    _,
                )))) => break,
                Some(Ok(_)) => continue,
                _ => return Err(tokio_xmpp::Error::Disconnected),
            }
        }
        let tcp = stream.into_inner().into_inner();
        let name = rustls_pki_types::ServerName::try_from(jid.domain().as_str().to_string())
            .map_err(|e| tokio_xmpp::Error::Io(std::io::Error::other(e.to_string())))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(tokio_xmpp::Error::Io)?;
        let stream = initiate_stream(BufStream::new(tls), ns, header(), timeouts).await?;
        Ok((stream, sasl::common::ChannelBinding::None))
    }
}
