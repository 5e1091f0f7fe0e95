//! The boundary between the videobridge's control plane (brewery, Colibri2,
//! HTTP) and its media plane (one UDP port, str0m peers, the forwarding
//! core). The control plane only talks to the media plane through
//! [`MediaHandle`], so either side can be tested alone.

use std::net::SocketAddr;

/// A conference as the bridge knows it: Colibri2 keys it by the MUC's
/// meeting id.
pub type ConferenceId = String;
/// Endpoint id = the participant's MUC nick (Colibri2 `endpoint id`).
pub type EndpointId = String;

/// What the bridge offers an endpoint (goes into Colibri2 `<transport>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTransport {
    pub ufrag: String,
    pub pwd: String,
    /// SHA-256 DTLS certificate fingerprint, uppercase hex pairs with ':'.
    pub fingerprint_sha256: String,
    /// Host (and srflx) candidates on the shared UDP port.
    pub candidates: Vec<LocalCandidate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCandidate {
    pub addr: SocketAddr,
    /// "host" or "srflx".
    pub typ: &'static str,
    /// For srflx: the local (base) address.
    pub related: Option<SocketAddr>,
    pub priority: u32,
    pub foundation: String,
}

/// What the endpoint told us (from Colibri2, relayed by the focus from the
/// client's Jingle session-accept / transport-info).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteTransport {
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    /// (hash algorithm, value) pairs, e.g. ("sha-256", "AB:CD:...").
    pub fingerprints: Vec<(String, String)>,
    /// DTLS role the remote takes: "active", "passive" or "actpass".
    pub setup: Option<String>,
    pub candidates: Vec<SocketAddr>,
}

/// One signalled media source of an endpoint (Colibri2 `media-source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSource {
    /// "audio" or "video".
    pub kind: String,
    /// Source name, e.g. "6a8c1f2e-v0".
    pub name: String,
    /// All SSRCs of the source, primaries first.
    pub ssrcs: Vec<u32>,
    /// Simulcast layers, low to high (SIM group), if any.
    pub sim: Vec<u32>,
    /// (primary, rtx) pairs from FID groups.
    pub fid: Vec<(u32, u32)>,
}

/// Bridge-wide numbers for brewery stats and /colibri/stats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStats {
    pub conferences: usize,
    pub endpoints: usize,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Packets per second over the last interval, in and out.
    pub packet_rate_download: u64,
    pub packet_rate_upload: u64,
    /// Kilobits per second over the last interval, in and out.
    pub bit_rate_download: u64,
    pub bit_rate_upload: u64,
    pub dropped_packets: u64,
    /// 0.0 (idle) .. 1.0 (saturated): what the focus balances on.
    pub stress_level: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("conference not found: {0}")]
    ConferenceNotFound(ConferenceId),
    #[error("endpoint not found: {0}")]
    EndpointNotFound(EndpointId),
    #[error("endpoint already exists: {0}")]
    EndpointExists(EndpointId),
    #[error("invalid remote transport: {0}")]
    InvalidTransport(String),
    /// The conference already has as many endpoints as one conference may.
    #[error("conference is full: at most {0} endpoints")]
    ConferenceFull(usize),
    /// A signalled SSRC belongs to another endpoint of the conference.
    #[error("SSRC {ssrc} is already used by endpoint {owner}")]
    SsrcInUse { ssrc: u32, owner: EndpointId },
    /// More SSRCs than one endpoint may send.
    #[error("too many sources: {count} SSRCs, at most {max} per endpoint")]
    TooManySources { count: usize, max: usize },
    /// A source set the forwarding core cannot use (groups naming unlisted
    /// SSRCs, duplicates, SSRC 0, ...).
    #[error("invalid sources: {0}")]
    InvalidSources(String),
    #[error("media engine stopped")]
    Stopped,
}

/// The media plane as the control plane sees it. Implemented by the UDP/str0m
/// engine; tests may use a fake.
pub trait MediaHandle: Send + Sync + 'static {
    /// Create an endpoint (and its conference if new) and return what to offer.
    fn allocate(&self, conference: &str, endpoint: &str) -> Result<LocalTransport, EngineError>;
    /// Apply the endpoint's transport (ICE credentials, fingerprint, candidates).
    fn set_remote_transport(
        &self,
        conference: &str,
        endpoint: &str,
        remote: RemoteTransport,
    ) -> Result<(), EngineError>;
    /// Replace the endpoint's complete set of sources.
    fn set_sources(
        &self,
        conference: &str,
        endpoint: &str,
        sources: Vec<EndpointSource>,
    ) -> Result<(), EngineError>;
    fn expire_endpoint(&self, conference: &str, endpoint: &str) -> Result<(), EngineError>;
    fn expire_conference(&self, conference: &str) -> Result<(), EngineError>;
    /// The bridge's own feedback SSRCs (audio, video), signalled as jvb-a0 / jvb-v0.
    fn feedback_ssrcs(&self) -> (u32, u32);
    fn stats(&self) -> MediaStats;
}

/// The bridge channel over WebSocket (colibri-ws), served on the bridge's
/// HTTP port at `/colibri-ws/{server-id}/{meeting-id}/{endpoint}?pwd={ice-pwd}`.
/// The HTTP module hands every request under `/colibri-ws/` to this; the
/// media plane implements it (it owns the endpoints and their ICE passwords).
pub trait ColibriWs: Send + Sync + 'static {
    /// Answer the request: `101 Switching Protocols` after upgrading (the
    /// socket is then served in the background), or an error response
    /// (404 unknown conference/endpoint, 401 wrong pwd, 400 not an upgrade).
    fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
                + Send,
        >,
    >;
}
