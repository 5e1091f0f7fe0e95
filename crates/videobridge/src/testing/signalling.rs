//! How a synthetic endpoint joins an SFU. The types carry what any
//! ICE/DTLS-SRTP SFU exchanges with a client (Colibri2 carries exactly
//! this; an SDP-based SFU carries it in SDP), not our engine's types.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::engine::{EndpointSource, MediaHandle, RemoteTransport};

/// What the SFU offers an endpoint: its ICE credentials, DTLS certificate
/// fingerprint and candidates. The endpoint answers as a browser does:
/// ICE-controlled, DTLS client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeOffer {
    pub ufrag: String,
    pub pwd: String,
    /// "AB:CD:..." (SHA-256).
    pub fingerprint_sha256: String,
    pub candidates: Vec<SocketAddr>,
}

/// The endpoint's answer (it is always the DTLS client: setup "active").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAnswer {
    pub ufrag: String,
    pub pwd: String,
    pub fingerprint_sha256: String,
    pub candidates: Vec<SocketAddr>,
}

/// One source the endpoint sends: a single SSRC, and for video its RTX
/// partner (an FID group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub video: bool,
    pub ssrc: u32,
    pub rtx: Option<u32>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signalling failed: {0}")]
pub struct SignallingError(pub String);

/// Joining and leaving an SFU's conference. Calls may block (a network
/// implementation waits for the SFU's answer).
pub trait Signalling: Send + Sync {
    /// Creates the endpoint in the conference (and the conference if new).
    fn join(&self, conference: &str, endpoint: &str) -> Result<BridgeOffer, SignallingError>;
    /// Gives the SFU the endpoint's transport and the sources it sends.
    fn answer(
        &self,
        conference: &str,
        endpoint: &str,
        answer: &ClientAnswer,
        sources: &[Source],
    ) -> Result<(), SignallingError>;
    fn leave(&self, conference: &str, endpoint: &str) -> Result<(), SignallingError>;
}

/// Drives our media plane in the same process, through [`MediaHandle`]
/// (what the Colibri2 handler calls), with no XMPP in between.
pub struct InProcess {
    media: Arc<dyn MediaHandle>,
}

impl InProcess {
    pub fn new(media: Arc<dyn MediaHandle>) -> Self {
        InProcess { media }
    }
}

fn err(e: impl std::fmt::Display) -> SignallingError {
    SignallingError(e.to_string())
}

impl Signalling for InProcess {
    fn join(&self, conference: &str, endpoint: &str) -> Result<BridgeOffer, SignallingError> {
        let t = self.media.allocate(conference, endpoint).map_err(err)?;
        Ok(BridgeOffer {
            ufrag: t.ufrag,
            pwd: t.pwd,
            fingerprint_sha256: t.fingerprint_sha256,
            candidates: t.candidates.iter().map(|c| c.addr).collect(),
        })
    }

    fn answer(
        &self,
        conference: &str,
        endpoint: &str,
        answer: &ClientAnswer,
        sources: &[Source],
    ) -> Result<(), SignallingError> {
        let remote = RemoteTransport {
            ufrag: Some(answer.ufrag.clone()),
            pwd: Some(answer.pwd.clone()),
            fingerprints: vec![("sha-256".into(), answer.fingerprint_sha256.clone())],
            setup: Some("active".into()),
            candidates: answer.candidates.clone(),
        };
        self.media
            .set_remote_transport(conference, endpoint, remote)
            .map_err(err)?;
        let sources = sources
            .iter()
            .map(|s| EndpointSource {
                kind: if s.video { "video" } else { "audio" }.into(),
                name: s.name.clone(),
                ssrcs: std::iter::once(s.ssrc).chain(s.rtx).collect(),
                sim: vec![],
                fid: s.rtx.map(|r| (s.ssrc, r)).into_iter().collect(),
            })
            .collect();
        self.media
            .set_sources(conference, endpoint, sources)
            .map_err(err)
    }

    fn leave(&self, conference: &str, endpoint: &str) -> Result<(), SignallingError> {
        self.media
            .expire_endpoint(conference, endpoint)
            .map_err(err)
    }
}
