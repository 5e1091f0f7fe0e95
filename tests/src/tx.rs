//! A test client built from tokio-xmpp's stream layer (connector, SASL,
//! `XmppStream`) with resource binding on top. tokio-xmpp's high-level
//! `Client` is avoided: in 6.0.0, on a multi-threaded runtime, its stanza
//! worker sometimes never surfaces a stanza it has received (sequential
//! pings hang at a random point — reproduced against Debian's Prosody 0.12
//! as often as against ours, with the reply on the wire in both cases), and
//! it retries failed logins forever without reporting them.

use std::borrow::Cow;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::parsers::stanza::Stanza;
use tokio_xmpp::xmlstream::{ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement};
use xmpp_parsers::jid::Jid;

use crate::raw::{TestStartTls, client_tls};

type Io = BufStream<tokio_rustls::client::TlsStream<TcpStream>>;

pub struct TxClient {
    stream: XmppStream<Io>,
    /// The bound full JID.
    pub jid: String,
}

impl TxClient {
    /// STARTTLS (trusting `ca_pems`), SASL with tokio-xmpp's mechanism
    /// choice, stream restart, resource binding.
    pub async fn login(
        port: u16,
        ca_pems: &[String],
        jid: &str,
        password: &str,
    ) -> Result<Self, String> {
        let jid: Jid = jid.parse().map_err(|e| format!("{e}"))?;
        let connector = TestStartTls {
            port,
            tls: client_tls(ca_pems),
        };
        let (pending, _) = connector
            .connect(&jid, "jabber:client", Timeouts::tight())
            .await
            .map_err(|e| e.to_string())?;
        let (features, stream) = pending.recv_features().await.map_err(|e| e.to_string())?;
        let creds = sasl::common::Credentials::default()
            .with_username(jid.node().map(|n| n.as_str()).unwrap_or("anonymous"))
            .with_password(password)
            .with_channel_binding(sasl::common::ChannelBinding::None);
        let initiating = tokio::time::timeout(
            Duration::from_secs(15),
            tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds),
        )
        .await
        .map_err(|_| "authentication timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let pending = initiating
            .send_header(StreamHeader {
                to: Some(Cow::Owned(jid.domain().as_str().to_string())),
                from: None,
                id: None,
            })
            .await
            .map_err(|e| e.to_string())?;
        let (_features, stream) = pending.recv_features().await.map_err(|e| e.to_string())?;
        let mut client = Self {
            stream,
            jid: String::new(),
        };
        client
            .send(
                "<iq xmlns='jabber:client' type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
                    .parse()
                    .map_err(|e| format!("{e}"))?,
            )
            .await;
        let reply = client
            .next_matching(|e| e.attr("id") == Some("bind-1"))
            .await?;
        let bound = reply
            .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.get_child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
            .map(|j| j.text())
            .ok_or_else(|| format!("bind failed: {}", String::from(&reply)))?;
        client.jid = bound;
        Ok(client)
    }

    /// Send a stanza (message, presence or iq in jabber:client).
    pub async fn send(&mut self, el: Element) {
        let stanza = Stanza::try_from(el).expect("a valid stanza");
        self.stream
            .send(&XmppStreamElement::Stanza(stanza))
            .await
            .expect("send stanza");
    }

    pub async fn send_xml(&mut self, xml: &str) {
        self.send(xml.parse().expect("test XML")).await;
    }

    /// The next stanza, as an Element (None when the stream ends).
    pub async fn recv(&mut self) -> Result<Option<Element>, String> {
        loop {
            match self.stream.next().await {
                None => return Ok(None),
                Some(item) => match item.map(|v| v.into_read_error()) {
                    Ok(Ok(XmppStreamElement::Stanza(s))) => {
                        return Ok(Some(match s {
                            Stanza::Iq(i) => i.into(),
                            Stanza::Message(m) => m.into(),
                            Stanza::Presence(p) => p.into(),
                        }));
                    }
                    Ok(Ok(_)) | Ok(Err(ReadError::SoftTimeout)) | Err(ReadError::SoftTimeout) => {
                        continue;
                    }
                    Ok(Err(ReadError::StreamFooterReceived))
                    | Err(ReadError::StreamFooterReceived) => return Ok(None),
                    Ok(Err(e)) | Err(e) => return Err(format!("{e:?}")),
                },
            }
        }
    }

    /// Wait (at most 10 s) for a stanza matching `pred`; others are skipped
    /// and reported if the wait fails.
    pub async fn next_matching(
        &mut self,
        pred: impl Fn(&Element) -> bool,
    ) -> Result<Element, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut skipped = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => return Err(format!("timed out; skipped meanwhile: {skipped:?}")),
                Ok(Ok(Some(el))) => {
                    if pred(&el) {
                        return Ok(el);
                    }
                    skipped.push(String::from(&el));
                }
                Ok(Ok(None)) => return Err(format!("stream ended; skipped: {skipped:?}")),
                Ok(Err(e)) => return Err(format!("read error {e}; skipped: {skipped:?}")),
            }
        }
    }
}
