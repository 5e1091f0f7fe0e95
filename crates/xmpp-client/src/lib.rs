//! The c2s client connection the focus and the videobridge share (both log
//! in as service accounts on auth.DOMAIN): TCP, STARTTLS trusting the
//! deployment's own certificate (or, for development, any certificate),
//! SASL with tokio-xmpp's client mechanisms, stream restart, resource
//! binding. The result is tokio-xmpp's `XmppStream`; the daemons run their
//! own read loops on it.
//!
//! tokio-xmpp's high-level `Client` is not used: in 6.0.0 it sometimes never
//! surfaces a received stanza on a multi-threaded runtime, and it retries a
//! refused login forever without reporting it.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::Stanza;
use tokio_xmpp::xmlstream::{
    ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement, initiate_stream,
};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::BareJid;

const NS_CLIENT: &str = "jabber:client";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// A write that takes longer than this means the connection is stuck.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// The transport under the XMPP stream.
pub type Io = BufStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Where and as whom to log in.
#[derive(Debug, Clone)]
pub struct Account<'a> {
    pub host: &'a str,
    pub port: u16,
    pub jid: &'a BareJid,
    pub password: &'a str,
}

/// Accepts any server certificate: `disable_certificate_verification`
/// (development with self-signed certificates). It gives up server
/// authentication; handshake signatures are still verified.
#[derive(Debug)]
pub struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Trust `ca_file`, or anything when `accept_any`; the system roots are not
/// used (Jitsi deployments' XMPP certificates are self-signed).
pub fn tls_config(
    ca_file: Option<&Path>,
    accept_any: bool,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    if accept_any {
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth(),
        ));
    }
    let path = ca_file.ok_or(
        "neither ca_file nor disable_certificate_verification is set: name the XMPP \
         server's certificate (or its CA) in ca_file",
    )?;
    let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "ca_file {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// TCP, STARTTLS, SASL, bind. Returns the stream and the bound JID.
pub async fn login(
    account: &Account<'_>,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(XmppStream<Io>, String), String> {
    let jid = account.jid;
    let header = || StreamHeader {
        to: Some(Cow::Owned(jid.domain().as_str().to_string())),
        from: None,
        id: None,
    };
    let timeouts = Timeouts::tight();
    let tcp = TcpStream::connect((account.host, account.port))
        .await
        .map_err(|e| format!("connect to {}:{}: {e}", account.host, account.port))?;
    let _ = tcp.set_nodelay(true);
    let pending = initiate_stream(BufStream::new(tcp), NS_CLIENT, header(), timeouts)
        .await
        .map_err(|e| format!("stream start: {e}"))?;
    let (features, mut plain) = pending
        .recv_features::<XmppStreamElement>()
        .await
        .map_err(|e| format!("stream features: {e}"))?;
    if !features.can_starttls() {
        return Err("the server offers no STARTTLS".to_string());
    }
    plain
        .send(&XmppStreamElement::Starttls(
            xmpp_parsers::starttls::Nonza::Request(xmpp_parsers::starttls::Request),
        ))
        .await
        .map_err(|e| format!("STARTTLS: {e}"))?;
    loop {
        match plain.next().await {
            Some(Ok(XmppStreamElement::Starttls(xmpp_parsers::starttls::Nonza::Proceed(_)))) => {
                break;
            }
            Some(Ok(XmppStreamElement::Starttls(_))) => {
                return Err("the server refused STARTTLS".to_string());
            }
            Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => return Err(format!("STARTTLS: {e}")),
            None => return Err("connection closed during STARTTLS".to_string()),
        }
    }
    let tcp = plain.into_inner().into_inner();
    // The certificate names the XMPP domain, not the host we dialled.
    let name = ServerName::try_from(jid.domain().as_str().to_string())
        .map_err(|e| format!("TLS server name {}: {e}", jid.domain()))?;
    let tls_stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {}: {e}", jid.domain()))?;
    let pending = initiate_stream(BufStream::new(tls_stream), NS_CLIENT, header(), timeouts)
        .await
        .map_err(|e| format!("stream start after TLS: {e}"))?;
    let (features, stream) = pending
        .recv_features()
        .await
        .map_err(|e| format!("stream features after TLS: {e}"))?;
    let creds = sasl::common::Credentials::default()
        .with_username(jid.node().map(|n| n.as_str()).unwrap_or_default())
        .with_password(account.password)
        .with_channel_binding(sasl::common::ChannelBinding::None);
    let initiating = tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds)
        .await
        .map_err(|e| format!("authentication as {jid}: {e}"))?;
    let pending = initiating
        .send_header(header())
        .await
        .map_err(|e| format!("stream restart: {e}"))?;
    let (_features, mut stream) = pending
        .recv_features()
        .await
        .map_err(|e| format!("stream features after SASL: {e}"))?;
    let bind_id = "bind-1";
    send(
        &mut stream,
        Stanza::Iq(Iq::Set {
            from: None,
            to: None,
            id: bind_id.to_string(),
            payload: Element::bare("bind", NS_BIND),
        }),
    )
    .await?;
    loop {
        let item = stream
            .next()
            .await
            .map(|r| r.and_then(|e| e.into_read_error()));
        match item {
            Some(Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Result { id, payload, .. }))))
                if id == bind_id =>
            {
                let bound = payload
                    .as_ref()
                    .and_then(|b| b.get_child("jid", NS_BIND))
                    .map(Element::text)
                    .ok_or("bind result without a JID")?;
                return Ok((stream, bound));
            }
            Some(Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Error { id, error, .. }))))
                if id == bind_id =>
            {
                return Err(format!(
                    "resource binding refused: {:?}",
                    error.defined_condition
                ));
            }
            Some(Ok(_))
            | Some(Err(ReadError::SoftTimeout))
            | Some(Err(ReadError::ParseError(_))) => continue,
            Some(Err(e)) => return Err(format!("resource binding: {e}")),
            None => return Err("connection closed during resource binding".to_string()),
        }
    }
}

/// Send one stanza. A peer that stops reading would otherwise stall the
/// connection task forever once the socket buffers fill, hence the timeout.
pub async fn send(stream: &mut XmppStream<Io>, stanza: Stanza) -> Result<(), String> {
    match tokio::time::timeout(
        WRITE_TIMEOUT,
        stream.send(&XmppStreamElement::Stanza(stanza)),
    )
    .await
    {
        Ok(r) => r.map_err(|e| format!("write failed: {e}")),
        Err(_) => Err("write timed out".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_needs_something_to_trust() {
        let e = tls_config(None, false).expect_err("nothing to trust");
        assert!(
            e.contains("ca_file") && e.contains("disable_certificate_verification"),
            "{e}"
        );
        tls_config(None, true).expect("the accept-any verifier");
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = tls_config(Some(&empty), false).expect_err("no certificate in the file");
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = tls_config(Some(&dir.path().join("missing.pem")), false).expect_err("missing file");
        assert!(e.contains("missing.pem"), "{e}");
    }
}
