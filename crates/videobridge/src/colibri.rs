//! The bridge's side of Colibri2 (jitsi-protocol.md §4.2–4.3): turn a
//! focus's `<conference-modify>` into calls on the media plane and answer
//! `<conference-modified>` or a [`Colibri2Failure`].
//!
//! [`Conferences`] is sans-IO: it owns the control plane's view of the
//! conferences (keyed by meeting-id) and their endpoints (keyed by MUC
//! nick), and is driven by [`Conferences::handle`] with the media plane
//! passed in as a [`MediaHandle`]. No sockets, tasks or clocks, so it is
//! unit-tested with [`crate::fake_media::FakeMedia`].
//!
//! Semantics follow JVB's Colibri2 handler:
//! - `create="true"` makes the conference (conflict if it exists; refused with
//!   `graceful_shutdown` while draining); any other request for an unknown
//!   conference fails with `conference_not_found`, which tells the focus to
//!   re-create it.
//! - Endpoints are created (the `source-names` capability is mandatory),
//!   updated (remote transport, complete source set) or expired, in request
//!   order. The whole request is validated before the media plane is
//!   touched, so a malformed request changes nothing.
//! - A created endpoint's answer carries the bridge's ICE-UDP transport with
//!   `<rtcp-mux/>` and a colibri-ws `<web-socket>` URL. SCTP is never
//!   offered: the bridge channel is colibri-ws (clients prefer it whenever a
//!   URL is present), and offering SCTP would invite browsers to open a
//!   DTLS-SCTP association the bridge does not serve.
//! - Any create answers with the bridge's feedback sources `jvb-a0`/`jvb-v0`.
//! - A conference left with no endpoints after a non-create request is
//!   expired, as JVB does.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use jitsi_xmpp::{
    Candidate, CandidateType, ConferenceModified, ConferenceModify, Endpoint, ErrorReason,
    Fingerprint, IceUdpTransport, MediaSource, MediaType, Semantics, Setup, Source, Sources,
    Transport,
};

use crate::config::Config;
use crate::engine::{
    EndpointSource, EngineError, LocalCandidate, LocalTransport, MediaHandle, RemoteTransport,
};
use crate::stats::{BridgeStatus, ConferenceCounts, StatsSnapshot};

/// Capability an endpoint must announce on create (§4.2).
pub const SOURCE_NAMES: &str = "source-names";
/// Longest meeting-id, endpoint id or source name accepted.
pub const MAX_ID_CHARS: usize = 256;
/// Most endpoints one request may touch.
pub const MAX_ENDPOINTS_PER_REQUEST: usize = 512;
/// Most media sources one endpoint may signal.
pub const MAX_SOURCES_PER_ENDPOINT: usize = 64;
/// Most SSRCs one media source may carry (3 simulcast layers + RTX = 6).
pub const MAX_SSRCS_PER_SOURCE: usize = 32;
/// Most remote candidates / fingerprints accepted per transport.
pub const MAX_CANDIDATES: usize = 64;
pub const MAX_FINGERPRINTS: usize = 8;
/// Longest ICE ufrag/pwd or fingerprint value accepted.
pub const MAX_CREDENTIAL_CHARS: usize = 256;

/// Names of the bridge's own (feedback) sources, as jicofo expects them.
pub const FEEDBACK_AUDIO: &str = "jvb-a0";
pub const FEEDBACK_VIDEO: &str = "jvb-v0";

/// Settings the handler needs, taken from the configuration once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColibriConfig {
    /// The bridge's id in colibri-ws URLs (`videobridge.server_id`).
    pub server_id: String,
    /// Base of colibri-ws URLs without a trailing `/`, e.g.
    /// `wss://meet.example.com/colibri-ws`.
    pub websocket_base_url: String,
}

impl ColibriConfig {
    /// `websocket_base_url` from the config, or the bridge's own HTTP
    /// listener (`ws://host:port/colibri-ws`) — right for a single-machine
    /// setup; behind the web server's proxy the config must name the public URL.
    pub fn from_config(cfg: &Config) -> Self {
        let vb = &cfg.videobridge;
        let base = match &vb.websocket_base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("ws://{}/colibri-ws", vb.http.addr()),
        };
        Self {
            server_id: vb.server_id.clone(),
            websocket_base_url: base,
        }
    }
}

/// The stanza error condition of a failure (RFC 6120 §8.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    BadRequest,
    Conflict,
    ItemNotFound,
    ServiceUnavailable,
    InternalServerError,
    FeatureNotImplemented,
}

impl Condition {
    /// The condition's element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::BadRequest => "bad-request",
            Condition::Conflict => "conflict",
            Condition::ItemNotFound => "item-not-found",
            Condition::ServiceUnavailable => "service-unavailable",
            Condition::InternalServerError => "internal-server-error",
            Condition::FeatureNotImplemented => "feature-not-implemented",
        }
    }
}

/// Why a `conference-modify` failed: the IQ error's condition, the Colibri2
/// `<error reason=…/>` when JVB sends one, and a text for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Colibri2Failure {
    pub condition: Condition,
    pub reason: Option<ErrorReason>,
    pub text: String,
    /// The media plane reported it has stopped (the bridge is unhealthy).
    pub engine_stopped: bool,
}

impl fmt::Display for Colibri2Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.condition.as_str(), self.text)
    }
}

impl std::error::Error for Colibri2Failure {}

impl Colibri2Failure {
    fn new(condition: Condition, reason: Option<ErrorReason>, text: impl Into<String>) -> Self {
        Self {
            condition,
            reason,
            text: text.into(),
            engine_stopped: false,
        }
    }

    pub fn bad_request(text: impl Into<String>) -> Self {
        Self::new(Condition::BadRequest, None, text)
    }

    fn conference_not_found(meeting_id: &str) -> Self {
        Self::new(
            Condition::ItemNotFound,
            Some(ErrorReason::ConferenceNotFound),
            format!("Conference not found for ID: {meeting_id}"),
        )
    }

    fn unknown_endpoint(id: &str) -> Self {
        Self::new(
            Condition::ItemNotFound,
            Some(ErrorReason::Other("unknown_endpoint".to_string())),
            format!("Unknown endpoint {id}"),
        )
    }

    fn from_engine(e: EngineError) -> Self {
        match e {
            EngineError::ConferenceNotFound(id) => Self::conference_not_found(&id),
            EngineError::EndpointNotFound(id) => Self::unknown_endpoint(&id),
            EngineError::EndpointExists(id) => Self::new(
                Condition::Conflict,
                None,
                format!("Endpoint with ID {id} already exists"),
            ),
            EngineError::InvalidTransport(why) => {
                Self::bad_request(format!("invalid transport: {why}"))
            }
            // The request asks for something the media plane refuses: the
            // text says what, so the focus's log (and its operator) knows.
            e @ (EngineError::ConferenceFull(_)
            | EngineError::SsrcInUse { .. }
            | EngineError::TooManySources { .. }
            | EngineError::InvalidSources(_)) => Self::bad_request(e.to_string()),
            EngineError::Stopped => Self {
                engine_stopped: true,
                ..Self::new(Condition::InternalServerError, None, "media engine stopped")
            },
        }
    }
}

/// What the control plane remembers about an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EndpointState {
    stats_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Conference {
    /// The room's JID (`name`), for logs.
    name: Option<String>,
    endpoints: BTreeMap<String, EndpointState>,
}

/// One endpoint of a request, validated and converted before anything runs.
enum Plan {
    Expire {
        id: String,
    },
    Create {
        id: String,
        stats_id: Option<String>,
        update: Update,
    },
    Update {
        id: String,
        update: Update,
    },
}

#[derive(Default)]
struct Update {
    transport: Option<RemoteTransport>,
    sources: Option<Vec<EndpointSource>>,
}

/// The conferences this bridge hosts, as Colibri2 sees them.
#[derive(Debug, Default)]
pub struct Conferences {
    conferences: BTreeMap<String, Conference>,
}

impl Conferences {
    pub fn new() -> Self {
        Self::default()
    }

    /// Numbers for stats.
    pub fn counts(&self) -> ConferenceCounts {
        ConferenceCounts {
            conferences: self.conferences.len(),
            endpoints: self.conferences.values().map(|c| c.endpoints.len()).sum(),
            largest_conference: self
                .conferences
                .values()
                .map(|c| c.endpoints.len())
                .max()
                .unwrap_or(0),
        }
    }

    pub fn conference_count(&self) -> usize {
        self.conferences.len()
    }

    pub fn contains(&self, meeting_id: &str) -> bool {
        self.conferences.contains_key(meeting_id)
    }

    /// Endpoint ids of a conference (empty if unknown).
    pub fn endpoints(&self, meeting_id: &str) -> Vec<String> {
        self.conferences
            .get(meeting_id)
            .map(|c| c.endpoints.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Handle one `conference-modify`. `refuse_new` is true while draining
    /// or shutting down: new conferences are refused, existing ones continue.
    pub fn handle(
        &mut self,
        req: ConferenceModify,
        media: &dyn MediaHandle,
        cfg: &ColibriConfig,
        refuse_new: bool,
    ) -> Result<ConferenceModified, Colibri2Failure> {
        check_id("meeting-id", &req.meeting_id)?;
        if req.create && req.expire {
            return Err(Colibri2Failure::bad_request(
                "create and expire in the same request",
            ));
        }
        let plans = plan_endpoints(&req.endpoints)?;
        let meeting_id = req.meeting_id.as_str();
        let exists = self.conferences.contains_key(meeting_id);
        if req.create {
            if exists {
                return Err(Colibri2Failure::new(
                    Condition::Conflict,
                    Some(ErrorReason::ConferenceAlreadyExists),
                    format!("Conference already exists for ID: {meeting_id}"),
                ));
            }
            if refuse_new {
                return Err(Colibri2Failure::new(
                    Condition::ServiceUnavailable,
                    Some(ErrorReason::GracefulShutdown),
                    "In graceful shutdown",
                ));
            }
        } else if !exists {
            return Err(Colibri2Failure::conference_not_found(meeting_id));
        }

        if req.expire {
            self.expire_conference(meeting_id, media)?;
            return Ok(ConferenceModified {
                meeting_id: Some(req.meeting_id),
                ..Default::default()
            });
        }

        if req.create {
            tracing::info!(
                meeting_id,
                room = req.name.as_deref().unwrap_or(""),
                "conference created"
            );
            self.conferences.insert(
                meeting_id.to_string(),
                Conference {
                    name: req.name.clone(),
                    endpoints: BTreeMap::new(),
                },
            );
        }

        let mut answer = ConferenceModified {
            meeting_id: Some(req.meeting_id.clone()),
            ..Default::default()
        };
        let result = self.apply(meeting_id, plans, media, cfg, &mut answer);
        let empty = self
            .conferences
            .get(meeting_id)
            .is_some_and(|c| c.endpoints.is_empty());
        match result {
            Ok(created_endpoint) => {
                if empty && !req.create {
                    // JVB drops a conference that a non-create request leaves empty.
                    self.expire_conference(meeting_id, media)?;
                }
                if req.create || created_endpoint {
                    answer.sources = Some(feedback_sources(media.feedback_ssrcs()));
                }
                Ok(answer)
            }
            Err(e) => {
                // Do not leave behind an empty conference this very request made.
                if empty && req.create {
                    let _ = self.expire_conference(meeting_id, media);
                }
                Err(e)
            }
        }
    }

    /// Expire every conference (at shutdown).
    pub fn expire_all(&mut self, media: &dyn MediaHandle) {
        let ids: Vec<String> = self.conferences.keys().cloned().collect();
        for id in ids {
            let _ = self.expire_conference(&id, media);
        }
    }

    /// Returns whether an endpoint was created.
    fn apply(
        &mut self,
        meeting_id: &str,
        plans: Vec<Plan>,
        media: &dyn MediaHandle,
        cfg: &ColibriConfig,
        answer: &mut ConferenceModified,
    ) -> Result<bool, Colibri2Failure> {
        let mut created = false;
        for plan in plans {
            match plan {
                Plan::Expire { id } => {
                    self.expire_endpoint(meeting_id, &id, media)?;
                    answer.endpoints.push(Endpoint {
                        expire: true,
                        ..Endpoint::new(&id)
                    });
                }
                Plan::Create {
                    id,
                    stats_id,
                    update,
                } => {
                    if self.endpoint_exists(meeting_id, &id) {
                        return Err(Colibri2Failure::from_engine(EngineError::EndpointExists(
                            id,
                        )));
                    }
                    let local = media
                        .allocate(meeting_id, &id)
                        .map_err(|e| self.engine_failure(meeting_id, &id, e))?;
                    if let Some(conf) = self.conferences.get_mut(meeting_id) {
                        conf.endpoints.insert(
                            id.clone(),
                            EndpointState {
                                stats_id: stats_id.clone(),
                            },
                        );
                    }
                    tracing::info!(
                        meeting_id,
                        endpoint = %id,
                        stats_id = stats_id.as_deref().unwrap_or(""),
                        candidates = local.candidates.len(),
                        "endpoint allocated"
                    );
                    self.update_endpoint(meeting_id, &id, update, media)?;
                    answer.endpoints.push(Endpoint {
                        transport: Some(local_transport(&local, cfg, meeting_id, &id)),
                        ..Endpoint::new(&id)
                    });
                    created = true;
                }
                Plan::Update { id, update } => {
                    if !self.endpoint_exists(meeting_id, &id) {
                        return Err(Colibri2Failure::unknown_endpoint(&id));
                    }
                    self.update_endpoint(meeting_id, &id, update, media)?;
                    answer.endpoints.push(Endpoint::new(&id));
                }
            }
        }
        Ok(created)
    }

    fn endpoint_exists(&self, meeting_id: &str, id: &str) -> bool {
        self.conferences
            .get(meeting_id)
            .is_some_and(|c| c.endpoints.contains_key(id))
    }

    fn update_endpoint(
        &mut self,
        meeting_id: &str,
        id: &str,
        update: Update,
        media: &dyn MediaHandle,
    ) -> Result<(), Colibri2Failure> {
        if let Some(remote) = update.transport {
            media
                .set_remote_transport(meeting_id, id, remote)
                .map_err(|e| self.engine_failure(meeting_id, id, e))?;
        }
        if let Some(sources) = update.sources {
            tracing::debug!(meeting_id, endpoint = id, n = sources.len(), "sources set");
            media
                .set_sources(meeting_id, id, sources)
                .map_err(|e| self.engine_failure(meeting_id, id, e))?;
        }
        Ok(())
    }

    /// Map a media-plane error, first forgetting what the media plane says no
    /// longer exists so the control plane's view follows it.
    fn engine_failure(&mut self, meeting_id: &str, id: &str, e: EngineError) -> Colibri2Failure {
        match &e {
            EngineError::ConferenceNotFound(_) => {
                self.conferences.remove(meeting_id);
            }
            EngineError::EndpointNotFound(_) => {
                if let Some(c) = self.conferences.get_mut(meeting_id) {
                    c.endpoints.remove(id);
                }
            }
            _ => {}
        }
        Colibri2Failure::from_engine(e)
    }

    /// Expiring an endpoint the bridge no longer has succeeds: the focus may
    /// expire an endpoint the media plane already dropped, and an error
    /// would make it treat the whole bridge as broken.
    fn expire_endpoint(
        &mut self,
        meeting_id: &str,
        id: &str,
        media: &dyn MediaHandle,
    ) -> Result<(), Colibri2Failure> {
        let Some(conf) = self.conferences.get_mut(meeting_id) else {
            return Ok(());
        };
        if conf.endpoints.remove(id).is_none() {
            return Ok(());
        }
        tracing::info!(meeting_id, endpoint = id, "endpoint expired");
        match media.expire_endpoint(meeting_id, id) {
            Ok(())
            | Err(EngineError::EndpointNotFound(_))
            | Err(EngineError::ConferenceNotFound(_)) => Ok(()),
            Err(e) => Err(Colibri2Failure::from_engine(e)),
        }
    }

    fn expire_conference(
        &mut self,
        meeting_id: &str,
        media: &dyn MediaHandle,
    ) -> Result<(), Colibri2Failure> {
        let Some(conf) = self.conferences.remove(meeting_id) else {
            return Ok(());
        };
        tracing::info!(
            meeting_id,
            room = conf.name.as_deref().unwrap_or(""),
            endpoints = conf.endpoints.len(),
            "conference expired"
        );
        match media.expire_conference(meeting_id) {
            Ok(()) | Err(EngineError::ConferenceNotFound(_)) => Ok(()),
            Err(e) => Err(Colibri2Failure::from_engine(e)),
        }
    }
}

/// The Colibri2 service as the XMPP connections and the HTTP server share
/// it: the [`Conferences`] behind a lock, the media plane and the bridge's
/// status. Its methods may block in the media plane, so async callers use
/// the `*_async` variants, which run them on the blocking pool.
pub struct Bridge {
    conferences: Mutex<Conferences>,
    media: Arc<dyn MediaHandle>,
    config: ColibriConfig,
    status: Arc<BridgeStatus>,
    region: Option<String>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("config", &self.config)
            .field("conferences", &self.lock().counts())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    pub fn new(
        media: Arc<dyn MediaHandle>,
        config: ColibriConfig,
        status: Arc<BridgeStatus>,
        region: Option<String>,
    ) -> Self {
        Self {
            conferences: Mutex::new(Conferences::new()),
            media,
            config,
            status,
            region,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Conferences> {
        // A panic while holding the lock cannot leave the map half-updated
        // in a way that matters more than refusing all further requests.
        self.conferences.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> &Arc<BridgeStatus> {
        &self.status
    }

    pub fn config(&self) -> &ColibriConfig {
        &self.config
    }

    /// Handle a `conference-modify` (blocking; see [`Bridge::handle_async`]).
    pub fn handle(&self, req: ConferenceModify) -> Result<ConferenceModified, Colibri2Failure> {
        let metrics = &self.status.metrics;
        metrics.colibri_requests.inc();
        let refuse_new = self.status.refuses_new_conferences();
        let result = self
            .lock()
            .handle(req, self.media.as_ref(), &self.config, refuse_new);
        if let Err(e) = &result {
            metrics.colibri_errors.inc();
            if e.engine_stopped {
                self.status.media_failed(&e.text);
            }
        }
        result
    }

    pub async fn handle_async(
        self: &Arc<Self>,
        req: ConferenceModify,
    ) -> Result<ConferenceModified, Colibri2Failure> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.handle(req))
            .await
            .unwrap_or_else(|e| {
                Err(Colibri2Failure::new(
                    Condition::InternalServerError,
                    None,
                    format!("request handler failed: {e}"),
                ))
            })
    }

    /// One stats sample (blocking; see [`Bridge::snapshot_async`]).
    pub fn snapshot(&self) -> StatsSnapshot {
        let counts = self.lock().counts();
        StatsSnapshot::take(
            self.media.stats(),
            counts,
            &self.status,
            self.region.as_deref(),
            &self.config.server_id,
        )
    }

    pub async fn snapshot_async(self: &Arc<Self>) -> Option<StatsSnapshot> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || me.snapshot())
            .await
            .ok()
    }

    pub fn conference_count(&self) -> usize {
        self.lock().conference_count()
    }

    /// Expire every conference (at shutdown; blocking).
    pub fn expire_all(&self) {
        self.lock().expire_all(self.media.as_ref());
    }
}

/// An id that is safe to log and to put in a URL (after escaping).
fn check_id(what: &str, id: &str) -> Result<(), Colibri2Failure> {
    if id.is_empty() {
        return Err(Colibri2Failure::bad_request(format!("empty {what}")));
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(Colibri2Failure::bad_request(format!(
            "{what} longer than {MAX_ID_CHARS} characters"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(Colibri2Failure::bad_request(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

fn plan_endpoints(endpoints: &[Endpoint]) -> Result<Vec<Plan>, Colibri2Failure> {
    if endpoints.len() > MAX_ENDPOINTS_PER_REQUEST {
        return Err(Colibri2Failure::bad_request(format!(
            "more than {MAX_ENDPOINTS_PER_REQUEST} endpoints in one request"
        )));
    }
    let mut seen = HashSet::new();
    let mut plans = Vec::with_capacity(endpoints.len());
    for ep in endpoints {
        check_id("endpoint id", &ep.id)?;
        if !seen.insert(ep.id.as_str()) {
            return Err(Colibri2Failure::bad_request(format!(
                "endpoint {} appears twice",
                ep.id
            )));
        }
        if ep.expire {
            if ep.create {
                return Err(Colibri2Failure::bad_request(format!(
                    "endpoint {}: create and expire together",
                    ep.id
                )));
            }
            plans.push(Plan::Expire { id: ep.id.clone() });
            continue;
        }
        if ep.create && !ep.has_capability(SOURCE_NAMES) {
            return Err(Colibri2Failure::bad_request(format!(
                "endpoint {}: Source name support is mandatory",
                ep.id
            )));
        }
        let mut update = Update::default();
        if let Some(t) = &ep.transport {
            if t.ice_restart {
                // The media plane has no ICE restart yet; saying so beats
                // answering with stale credentials.
                return Err(Colibri2Failure::new(
                    Condition::FeatureNotImplemented,
                    None,
                    "ICE restart is not supported",
                ));
            }
            if let Some(ice) = &t.ice {
                update.transport = remote_transport(ice)?;
            }
        }
        if let Some(sources) = &ep.sources {
            update.sources = Some(endpoint_sources(sources)?);
        }
        if ep.create {
            plans.push(Plan::Create {
                id: ep.id.clone(),
                stats_id: ep.stats_id.clone(),
                update,
            });
        } else {
            plans.push(Plan::Update {
                id: ep.id.clone(),
                update,
            });
        }
    }
    Ok(plans)
}

/// The endpoint's ICE-UDP transport as the media plane wants it; `None` when
/// the element carries nothing (jicofo's create sends an empty transport).
fn remote_transport(ice: &IceUdpTransport) -> Result<Option<RemoteTransport>, Colibri2Failure> {
    let long = |s: &Option<String>| s.as_ref().is_some_and(|v| v.len() > MAX_CREDENTIAL_CHARS);
    if long(&ice.ufrag) || long(&ice.pwd) {
        return Err(Colibri2Failure::bad_request("ICE ufrag or pwd too long"));
    }
    if ice.fingerprints.len() > MAX_FINGERPRINTS || ice.candidates.len() > MAX_CANDIDATES {
        return Err(Colibri2Failure::bad_request(
            "too many fingerprints or candidates",
        ));
    }
    if ice
        .fingerprints
        .iter()
        .any(|f| f.value.len() > MAX_CREDENTIAL_CHARS || f.hash.len() > 32)
    {
        return Err(Colibri2Failure::bad_request("fingerprint too long"));
    }
    let candidates: Vec<SocketAddr> = ice
        .candidates
        .iter()
        .filter(|c| c.component == 1 && c.protocol.eq_ignore_ascii_case("udp") && c.port != 0)
        // Hostname (mDNS) candidates cannot be used by the bridge; skip them.
        .filter_map(|c| {
            c.ip.parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, c.port))
        })
        .collect();
    let remote = RemoteTransport {
        ufrag: ice.ufrag.clone(),
        pwd: ice.pwd.clone(),
        fingerprints: ice
            .fingerprints
            .iter()
            .map(|f| (f.hash.clone(), f.value.clone()))
            .collect(),
        setup: ice
            .fingerprints
            .iter()
            .find_map(|f| f.setup)
            .map(|s| s.as_str().to_string()),
        candidates,
    };
    if remote.ufrag.is_none()
        && remote.pwd.is_none()
        && remote.fingerprints.is_empty()
        && ice.candidates.is_empty()
    {
        return Ok(None);
    }
    Ok(Some(remote))
}

/// Colibri2 media sources → the media plane's sources, with SIM and FID
/// groups resolved and primaries listed before RTX SSRCs.
fn endpoint_sources(sources: &Sources) -> Result<Vec<EndpointSource>, Colibri2Failure> {
    if sources.media_sources.len() > MAX_SOURCES_PER_ENDPOINT {
        return Err(Colibri2Failure::bad_request(format!(
            "more than {MAX_SOURCES_PER_ENDPOINT} media sources"
        )));
    }
    let mut all_ssrcs = HashSet::new();
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(sources.media_sources.len());
    for ms in &sources.media_sources {
        check_id("media-source id", &ms.id)?;
        if !names.insert(ms.id.as_str()) {
            return Err(Colibri2Failure::bad_request(format!(
                "media-source {} appears twice",
                ms.id
            )));
        }
        out.push(endpoint_source(ms, &mut all_ssrcs)?);
    }
    Ok(out)
}

fn endpoint_source(
    ms: &MediaSource,
    all_ssrcs: &mut HashSet<u32>,
) -> Result<EndpointSource, Colibri2Failure> {
    let bad =
        |what: String| Colibri2Failure::bad_request(format!("media-source {}: {what}", ms.id));
    if ms.sources.len() > MAX_SSRCS_PER_SOURCE || ms.ssrc_groups.len() > MAX_SSRCS_PER_SOURCE {
        return Err(bad("too many sources or groups".to_string()));
    }
    let declared: Vec<u32> = ms.sources.iter().map(|s| s.ssrc).collect();
    for ssrc in &declared {
        if !all_ssrcs.insert(*ssrc) {
            return Err(bad(format!("SSRC {ssrc} signalled twice")));
        }
    }
    let mut sim = Vec::new();
    let mut fid = Vec::new();
    for g in &ms.ssrc_groups {
        if let Some(unknown) = g.ssrcs.iter().find(|s| !declared.contains(s)) {
            return Err(bad(format!(
                "{} group names undeclared SSRC {unknown}",
                g.semantics.as_str()
            )));
        }
        match &g.semantics {
            Semantics::Sim => {
                if !sim.is_empty() || g.ssrcs.is_empty() {
                    return Err(bad("more than one or an empty SIM group".to_string()));
                }
                sim = g.ssrcs.clone();
            }
            Semantics::Fid => match g.ssrcs.as_slice() {
                [primary, rtx] => fid.push((*primary, *rtx)),
                _ => return Err(bad("FID group needs exactly two SSRCs".to_string())),
            },
            // Other groupings (e.g. FEC-FR) do not change forwarding.
            Semantics::Other(_) => {}
        }
    }
    let rtx: BTreeSet<u32> = fid.iter().map(|(_, r)| *r).collect();
    let mut ssrcs: Vec<u32> = sim.clone();
    ssrcs.extend(
        declared
            .iter()
            .filter(|s| !rtx.contains(s) && !sim.contains(s)),
    );
    ssrcs.extend(declared.iter().filter(|s| rtx.contains(s)));
    Ok(EndpointSource {
        kind: ms.kind.as_str().to_string(),
        name: ms.id.clone(),
        ssrcs,
        sim,
        fid,
    })
}

/// The `<transport>` answered for a created endpoint.
fn local_transport(
    local: &LocalTransport,
    cfg: &ColibriConfig,
    meeting_id: &str,
    endpoint: &str,
) -> Transport {
    let candidates = local
        .candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| candidate(c, i))
        .collect();
    let ws = format!(
        "{}/{}/{}/{}?pwd={}",
        cfg.websocket_base_url,
        url_escape(&cfg.server_id),
        url_escape(meeting_id),
        url_escape(endpoint),
        url_escape(&local.pwd),
    );
    Transport {
        ice: Some(IceUdpTransport {
            ufrag: Some(local.ufrag.clone()),
            pwd: Some(local.pwd.clone()),
            fingerprints: vec![Fingerprint {
                hash: "sha-256".to_string(),
                setup: Some(Setup::Actpass),
                required: None,
                value: local.fingerprint_sha256.clone(),
            }],
            candidates,
            web_socket: Some(ws),
            rtcp_mux: true,
            extra: Vec::new(),
        }),
        ..Default::default()
    }
}

fn candidate(c: &LocalCandidate, index: usize) -> Option<Candidate> {
    let Some(typ) = CandidateType::parse(c.typ) else {
        tracing::warn!(
            typ = c.typ,
            "media plane offered an unknown candidate type; skipped"
        );
        return None;
    };
    Some(Candidate {
        component: 1,
        foundation: c.foundation.clone(),
        generation: Some(0),
        // Unique within the transport, which is all the id is for.
        id: Some(format!("{}{index}", c.foundation)),
        ip: c.addr.ip().to_string(),
        port: c.addr.port(),
        priority: c.priority,
        protocol: "udp".to_string(),
        typ,
        rel_addr: c.related.map(|r| r.ip().to_string()),
        rel_port: c.related.map(|r| r.port()),
        network: Some(0),
        tcptype: None,
    })
}

/// The bridge's feedback sources (`jvb-a0` audio, `jvb-v0` video).
pub fn feedback_sources((audio, video): (u32, u32)) -> Sources {
    let one = |kind: MediaType, name: &str, ssrc: u32| MediaSource {
        sources: vec![Source {
            name: Some(name.to_string()),
            ..Source::new(ssrc)
        }],
        ..MediaSource::new(kind, name)
    };
    Sources {
        media_sources: vec![
            one(MediaType::Audio, FEEDBACK_AUDIO, audio),
            one(MediaType::Video, FEEDBACK_VIDEO, video),
        ],
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters, so ids and
/// ICE passwords (which may hold `+` and `/`) survive in a URL.
pub fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_media::{Call, FEEDBACK_SSRCS, FINGERPRINT, FakeMedia};
    use minidom::Element;

    fn cfg() -> ColibriConfig {
        ColibriConfig {
            server_id: "jvb-1".into(),
            websocket_base_url: "wss://meet.example.com/colibri-ws".into(),
        }
    }

    fn req(xml: &str) -> ConferenceModify {
        let el: Element = xml.parse().expect("test XML");
        ConferenceModify::try_from(&el).expect("valid conference-modify")
    }

    const CREATE: &str = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1" name="room@conference.meet.test" create="true">
      <endpoint id="ep1" create="true" stats-id="Elmer-3ab" muc-role="moderator">
        <media type="audio"><payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="111" name="opus" clockrate="48000" channels="2"/></media>
        <transport ice-controlling="true"><sctp/></transport>
        <capability name="source-names"/>
      </endpoint>
    </conference-modify>"#;

    fn created(c: &mut Conferences, m: &FakeMedia) -> ConferenceModified {
        c.handle(req(CREATE), m, &cfg(), false).expect("create")
    }

    #[test]
    fn create_allocates_and_answers_transport_and_feedback_sources() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        let answer = created(&mut c, &m);
        // The answer serialises to the shape of §4.2 and parses back.
        let el = Element::from(&answer);
        assert_eq!(ConferenceModified::try_from(&el).as_ref(), Ok(&answer));
        let xml = String::from(&el);
        assert!(
            xml.contains("web-socket") && xml.contains("rtcp-mux"),
            "{xml}"
        );
        assert_eq!(answer.meeting_id.as_deref(), Some("m1"));
        assert_eq!(answer.endpoints.len(), 1);
        let t = answer.endpoints[0].transport.as_ref().expect("transport");
        assert!(t.sctp.is_none(), "colibri-ws is the bridge channel");
        let ice = t.ice.as_ref().expect("ice-udp");
        assert_eq!(ice.ufrag.as_deref(), Some("fake0001"));
        let pwd = ice.pwd.clone().expect("pwd");
        assert_eq!(ice.fingerprints[0].hash, "sha-256");
        assert_eq!(ice.fingerprints[0].setup, Some(Setup::Actpass));
        assert_eq!(ice.fingerprints[0].value, FINGERPRINT);
        assert!(ice.rtcp_mux);
        assert_eq!(ice.candidates.len(), 2);
        let host = &ice.candidates[0];
        assert_eq!(
            (
                host.component,
                host.protocol.as_str(),
                host.ip.as_str(),
                host.port
            ),
            (1, "udp", "127.0.0.1", 10000)
        );
        assert_eq!(host.typ, CandidateType::Host);
        assert_eq!((host.generation, host.network), (Some(0), Some(0)));
        assert!(host.id.is_some());
        let srflx = &ice.candidates[1];
        assert_eq!(srflx.typ, CandidateType::Srflx);
        assert_eq!(srflx.rel_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(srflx.rel_port, Some(10000));
        assert_eq!(
            ice.web_socket.as_deref(),
            Some(
                format!(
                    "wss://meet.example.com/colibri-ws/jvb-1/m1/ep1?pwd={}",
                    url_escape(&pwd)
                )
                .as_str()
            )
        );
        assert!(
            ice.web_socket
                .as_deref()
                .is_some_and(|u| u.ends_with("%2B%2F"))
        );
        let sources = answer.sources.expect("feedback sources");
        let ids: Vec<_> = sources
            .media_sources
            .iter()
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(ids, [FEEDBACK_AUDIO, FEEDBACK_VIDEO]);
        assert_eq!(sources.media_sources[0].kind, MediaType::Audio);
        assert_eq!(sources.media_sources[0].sources[0].ssrc, FEEDBACK_SSRCS.0);
        assert_eq!(
            sources.media_sources[0].sources[0].name.as_deref(),
            Some("jvb-a0")
        );
        assert_eq!(sources.media_sources[1].sources[0].ssrc, FEEDBACK_SSRCS.1);
        assert_eq!(
            m.calls(),
            [Call::Allocate {
                conference: "m1".into(),
                endpoint: "ep1".into()
            }]
        );
        assert_eq!(c.counts().conferences, 1);
        assert_eq!(c.counts().endpoints, 1);
    }

    #[test]
    fn update_passes_transport_and_sources_to_the_media_plane() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        m.clear_calls();
        let update = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1">
          <endpoint id="ep1">
            <transport><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="cUfr" pwd="clientpwdclientpwd1234">
              <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">11:22</fingerprint>
              <candidate component="1" foundation="1" generation="0" id="a" ip="192.0.2.7" port="50000" priority="1" protocol="udp" type="host"/>
              <candidate component="1" foundation="2" generation="0" id="b" ip="abcd.local" port="50001" priority="1" protocol="udp" type="host"/>
              <candidate component="1" foundation="3" generation="0" id="c" ip="192.0.2.7" port="443" priority="1" protocol="tcp" type="host"/>
            </transport></transport>
            <sources>
              <media-source type="video" id="ep1-v0">
                <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="11"/>
                <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="12"/>
                <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="21"/>
                <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="22"/>
                <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="11"/><source ssrc="21"/></ssrc-group>
                <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="12"/><source ssrc="22"/></ssrc-group>
                <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="SIM"><source ssrc="12"/><source ssrc="11"/></ssrc-group>
              </media-source>
              <media-source type="audio" id="ep1-a0">
                <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="5"/>
              </media-source>
            </sources>
          </endpoint>
        </conference-modify>"#;
        let answer = c.handle(req(update), &m, &cfg(), false).expect("update");
        assert_eq!(answer.endpoints.len(), 1);
        assert!(answer.endpoints[0].transport.is_none());
        assert!(answer.sources.is_none());
        let calls = m.calls();
        assert_eq!(calls.len(), 2);
        let Call::SetRemoteTransport { remote, .. } = &calls[0] else {
            panic!("expected a transport first: {calls:?}");
        };
        assert_eq!(remote.ufrag.as_deref(), Some("cUfr"));
        assert_eq!(remote.setup.as_deref(), Some("active"));
        assert_eq!(
            remote.fingerprints,
            [("sha-256".to_string(), "11:22".to_string())]
        );
        assert_eq!(
            remote.candidates,
            ["192.0.2.7:50000".parse::<SocketAddr>().expect("addr")]
        );
        let Call::SetSources { sources, .. } = &calls[1] else {
            panic!("expected sources: {calls:?}");
        };
        assert_eq!(
            sources[0],
            EndpointSource {
                kind: "video".into(),
                name: "ep1-v0".into(),
                ssrcs: vec![12, 11, 21, 22],
                sim: vec![12, 11],
                fid: vec![(11, 21), (12, 22)],
            }
        );
        assert_eq!(sources[1].ssrcs, [5]);
        assert_eq!(sources[1].kind, "audio");

        // An empty source set clears the endpoint's sources (complete-set semantics).
        m.clear_calls();
        let clear = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1"><sources/></endpoint></conference-modify>"#;
        c.handle(req(clear), &m, &cfg(), false).expect("clear");
        assert_eq!(
            m.calls(),
            [Call::SetSources {
                conference: "m1".into(),
                endpoint: "ep1".into(),
                sources: vec![]
            }]
        );
    }

    #[test]
    fn second_endpoint_and_expiry() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        let add = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep2" create="true"><capability name="source-names"/></endpoint></conference-modify>"#;
        let answer = c.handle(req(add), &m, &cfg(), false).expect("add");
        assert!(answer.endpoints[0].transport.is_some());
        assert!(answer.sources.is_some(), "feedback sources on any create");
        assert_eq!(c.endpoints("m1"), ["ep1", "ep2"]);

        let expire = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1" expire="true"/></conference-modify>"#;
        let answer = c
            .handle(req(expire), &m, &cfg(), false)
            .expect("expire ep1");
        assert!(answer.endpoints[0].expire);
        assert!(!m.has_endpoint("m1", "ep1"));
        assert!(c.contains("m1"));
        // Expiring it again is harmless.
        c.handle(req(expire), &m, &cfg(), false)
            .expect("expire ep1 again");

        // The last endpoint leaving expires the conference.
        let expire2 = expire.replace("ep1", "ep2");
        c.handle(req(&expire2), &m, &cfg(), false)
            .expect("expire ep2");
        assert!(!c.contains("m1"));
        assert!(!m.has_conference("m1"));
        assert_eq!(c.counts(), ConferenceCounts::default());
    }

    #[test]
    fn conference_expire() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        let expire = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1" expire="true"/>"#;
        let answer = c.handle(req(expire), &m, &cfg(), false).expect("expire");
        assert_eq!(answer.meeting_id.as_deref(), Some("m1"));
        assert!(!c.contains("m1"));
        assert!(!m.has_conference("m1"));
        assert!(m.calls().contains(&Call::ExpireConference {
            conference: "m1".into()
        }));
        let e = c.handle(req(expire), &m, &cfg(), false).expect_err("gone");
        assert_eq!(e.reason, Some(ErrorReason::ConferenceNotFound));
    }

    #[test]
    fn create_without_source_names_is_a_bad_request_and_changes_nothing() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        let bad = CREATE.replace(r#"<capability name="source-names"/>"#, "");
        let e = c
            .handle(req(&bad), &m, &cfg(), false)
            .expect_err("no capability");
        assert_eq!(e.condition, Condition::BadRequest);
        assert!(e.text.contains("Source name support is mandatory"), "{e}");
        assert!(m.calls().is_empty());
        assert!(!c.contains("m1"));
    }

    #[test]
    fn unknown_conference_and_endpoint() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        let update = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="nope"><endpoint id="ep1"><sources/></endpoint></conference-modify>"#;
        let e = c
            .handle(req(update), &m, &cfg(), false)
            .expect_err("unknown conference");
        assert_eq!(e.condition, Condition::ItemNotFound);
        assert_eq!(e.reason, Some(ErrorReason::ConferenceNotFound));
        assert_eq!(e.text, "Conference not found for ID: nope");

        created(&mut c, &m);
        let update = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ghost"><sources/></endpoint></conference-modify>"#;
        let e = c
            .handle(req(update), &m, &cfg(), false)
            .expect_err("unknown endpoint");
        assert_eq!(e.condition, Condition::ItemNotFound);
        assert_eq!(
            e.reason,
            Some(ErrorReason::Other("unknown_endpoint".into()))
        );
        assert!(
            c.contains("m1"),
            "a failed update leaves the conference alone"
        );
    }

    #[test]
    fn duplicates_conflict() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        let e = c
            .handle(req(CREATE), &m, &cfg(), false)
            .expect_err("exists");
        assert_eq!(e.condition, Condition::Conflict);
        assert_eq!(e.reason, Some(ErrorReason::ConferenceAlreadyExists));
        let again = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1" create="true"><capability name="source-names"/></endpoint></conference-modify>"#;
        let e = c
            .handle(req(again), &m, &cfg(), false)
            .expect_err("endpoint exists");
        assert_eq!(e.condition, Condition::Conflict);
    }

    #[test]
    fn draining_refuses_new_conferences_only() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        let other = CREATE.replace("m1", "m2");
        let e = c
            .handle(req(&other), &m, &cfg(), true)
            .expect_err("draining");
        assert_eq!(e.condition, Condition::ServiceUnavailable);
        assert_eq!(e.reason, Some(ErrorReason::GracefulShutdown));
        assert!(!c.contains("m2"));
        // Existing conferences still take new endpoints.
        let add = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep2" create="true"><capability name="source-names"/></endpoint></conference-modify>"#;
        c.handle(req(add), &m, &cfg(), true)
            .expect("existing conference");
    }

    #[test]
    fn malformed_requests_are_bad_requests() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        m.clear_calls();
        let cases = [
            // FID with three SSRCs.
            r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1"><sources><media-source type="video" id="v"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1"/><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="2"/><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="3"/><ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="1"/><source ssrc="2"/><source ssrc="3"/></ssrc-group></media-source></sources></endpoint></conference-modify>"#,
            // A group naming an SSRC the source does not have.
            r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1"><sources><media-source type="video" id="v"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1"/><ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="SIM"><source ssrc="1"/><source ssrc="9"/></ssrc-group></media-source></sources></endpoint></conference-modify>"#,
            // The same SSRC in two sources.
            r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1"><sources><media-source type="video" id="v"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1"/></media-source><media-source type="audio" id="a"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1"/></media-source></sources></endpoint></conference-modify>"#,
            // The same endpoint twice.
            r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1"/><endpoint id="ep1"/></conference-modify>"#,
            // An empty endpoint id.
            r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id=""/></conference-modify>"#,
            // create and expire together.
            r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1" create="true" expire="true"/>"#,
        ];
        for xml in cases {
            let e = c.handle(req(xml), &m, &cfg(), false).expect_err(xml);
            assert_eq!(e.condition, Condition::BadRequest, "{xml}: {e}");
        }
        let long = format!(
            r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="{}"/>"#,
            "x".repeat(MAX_ID_CHARS + 1)
        );
        let e = c
            .handle(req(&long), &m, &cfg(), false)
            .expect_err("long id");
        assert_eq!(e.condition, Condition::BadRequest);
        assert!(
            m.calls().is_empty(),
            "validation runs before the media plane"
        );
    }

    #[test]
    fn sources_the_media_plane_refuses_are_a_bad_request_saying_why() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        let update = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1"><sources><media-source type="audio" id="ep1-a0"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="5"/></media-source></sources></endpoint></conference-modify>"#;
        let cases = [
            (
                EngineError::SsrcInUse {
                    ssrc: 5,
                    owner: "ep2".into(),
                },
                "SSRC 5 is already used by endpoint ep2",
            ),
            (
                EngineError::TooManySources { count: 40, max: 32 },
                "too many sources: 40 SSRCs, at most 32 per endpoint",
            ),
            (
                EngineError::InvalidSources("SSRC 0 is reserved (probing)".into()),
                "invalid sources: SSRC 0 is reserved (probing)",
            ),
            (
                EngineError::ConferenceFull(500),
                "conference is full: at most 500 endpoints",
            ),
        ];
        for (refusal, text) in cases {
            m.refuse_next_sources(refusal);
            let e = c
                .handle(req(update), &m, &cfg(), false)
                .expect_err("refused");
            assert_eq!(e.condition, Condition::BadRequest);
            assert_eq!(e.text, text);
            assert!(!e.engine_stopped);
            // The endpoint stays: only the request was refused.
            assert_eq!(c.endpoints("m1"), ["ep1"]);
        }
    }

    #[test]
    fn a_stopped_engine_fails_cleanly_and_leaves_no_conference() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        m.stop();
        let e = c
            .handle(req(CREATE), &m, &cfg(), false)
            .expect_err("stopped");
        assert_eq!(e.condition, Condition::InternalServerError);
        assert!(e.engine_stopped);
        assert!(!c.contains("m1"));
    }

    #[test]
    fn media_plane_losing_an_endpoint_is_followed() {
        let (mut c, m) = (Conferences::new(), FakeMedia::new());
        created(&mut c, &m);
        let add = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep2" create="true"><capability name="source-names"/></endpoint></conference-modify>"#;
        c.handle(req(add), &m, &cfg(), false).expect("add");
        m.expire_endpoint("m1", "ep1").expect("media drops ep1");
        let update = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="ep1"><sources/></endpoint></conference-modify>"#;
        let e = c
            .handle(req(update), &m, &cfg(), false)
            .expect_err("gone in media");
        assert_eq!(e.condition, Condition::ItemNotFound);
        assert_eq!(c.endpoints("m1"), ["ep2"]);
    }

    #[test]
    fn escaping_and_default_websocket_base() {
        assert_eq!(url_escape("a b/c+d~é"), "a%20b%2Fc%2Bd~%C3%A9");
        let text = r#"
[videobridge]
server_id = "jvb-7"
[videobridge.http]
port = 9090
[videobridge.apis.xmpp-client.configs.shard]
hostname = "localhost"
domain = "auth.meet.test"
username = "jvb"
password = "pw"
muc_jids = "JvbBrewery@internal.auth.meet.test"
muc_nickname = "jvb-1"
"#;
        let config = Config::from_toml_str(std::path::Path::new("t.toml"), text).expect("config");
        let cc = ColibriConfig::from_config(&config);
        assert_eq!(cc.websocket_base_url, "ws://127.0.0.1:9090/colibri-ws");
        assert_eq!(cc.server_id, "jvb-7");
    }
}
