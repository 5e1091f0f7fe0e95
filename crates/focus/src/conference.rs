//! One conference (jicofo's `JitsiMeetConferenceImpl`), as a sans-IO state
//! machine: stanzas and bridge changes in, stanzas out. No sockets, tasks
//! or clock of its own — time comes in through [`Ctx`] — so the whole
//! conference life (room join, owner election, bridge allocation, the
//! Jingle offer/answer, source signalling, mute, bridge failover, the end)
//! is unit-tested with plain values.
//!
//! The sequence (jitsi-protocol.md §9): join the room as `focus` → read the
//! meeting id from the owner form and make the room non-anonymous → for each
//! participant: disco#info (features) → Colibri2 allocation on the
//! conference's bridge → session-initiate → session-accept → the bridge
//! learns the participant's transport and sources → source-add to everyone
//! else. A participant leaving expires its endpoint and sends source-remove;
//! the last one leaving expires the conference and the focus leaves.
//!
//! IQ ids carry the conference's prefix (`c<id>-<n>`) so the manager can
//! route answers back without knowing what they are for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jitsi_xmpp::{
    ConferenceModified, ConferenceModify, Endpoint, IceUdpTransport, MuteIq, Transport, ns,
};
use minidom::Element;

use crate::codecs::{self, Features, OfferOptions};
use crate::jingle::{self, Action, Incoming, NS_JINGLE_ERRORS};
use crate::muc::{self, Occupant, split_occupant};
use crate::selection::{Candidate, Selector};
use crate::sources::{ConferenceSources, EndpointSources};
use crate::xml::{NS_DISCO_INFO, el, reply};

/// How long a Colibri2 request may stay unanswered before the bridge is
/// considered failed (jicofo: 15 s).
pub const COLIBRI_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for a participant's disco#info before assuming
/// jicofo's default features.
pub const DISCO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long other IQs (owner form, Jingle acks) may stay unanswered.
pub const IQ_TIMEOUT: Duration = Duration::from_secs(20);
/// Retries of a failed allocation on other bridges before giving up.
const MAX_MOVES: u32 = 5;

/// Settings every conference shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The focus's full JID (Jingle `initiator`).
    pub initiator: String,
    /// Our nick in rooms.
    pub nick: String,
    pub version: String,
    /// Secure domain: only authenticated participants become owners.
    pub auth_enabled: bool,
}

/// The world a conference sees when it acts.
pub struct Ctx<'a> {
    pub now: Instant,
    pub bridges: &'a [Candidate],
    pub selector: &'a mut Selector,
    /// Full JIDs bound to an authenticated session (secure domain).
    pub authenticated: &'a dyn Fn(&str) -> bool,
}

/// What a conference asks of its surroundings.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this stanza on the focus's client connection.
    Send(Element),
    /// The focus is in the room (deferred conference replies may go).
    Joined,
    /// The room could not be joined (reason).
    JoinFailed(String),
    /// This bridge failed a request: mark it non-operational.
    BridgeFailed(String),
    /// The conference is over; drop it.
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Joining,
    Configuring,
    Running,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PState {
    /// disco#info sent.
    Discovering,
    /// Features known; waiting for the room or a bridge.
    Ready,
    /// Colibri2 allocation sent.
    Allocating,
    /// session-initiate (or transport-replace) sent.
    Offered,
    /// session-accept received.
    Active,
    /// The participant ended its session (not restarting).
    Terminated,
}

#[derive(Debug, Clone)]
struct Participant {
    nick: String,
    real_jid: String,
    seq: u64,
    occupant: Occupant,
    features: Features,
    state: PState,
    sid: Option<String>,
    /// The endpoint exists on the conference's bridge.
    allocated: bool,
    /// The participant's own transport, as last signalled.
    remote_transport: Option<IceUdpTransport>,
}

impl Participant {
    fn has_session(&self) -> bool {
        matches!(self.state, PState::Offered | PState::Active)
    }
}

#[derive(Debug, Clone)]
struct Bridge {
    jid: String,
    /// Our `<bridge-session id>` for this bridge.
    session_id: String,
    /// A create request went out.
    created: bool,
    feedback: EndpointSources,
}

#[derive(Debug, Clone)]
enum Pending {
    OwnerForm,
    OwnerSubmit,
    GrantOwner(String),
    Disco(String),
    /// Allocation of `nick` on `bridge`; `create` as sent.
    Allocate {
        nick: String,
        bridge: String,
        create: bool,
    },
    ColibriUpdate(String),
    Jingle(String, &'static str),
    Mute(String),
}

/// One conference room.
pub struct Conference {
    pub room: String,
    prefix: String,
    settings: Settings,
    phase: Phase,
    meeting_id: String,
    options: OfferOptions,
    participants: Vec<Participant>,
    next_seq: u64,
    next_id: u64,
    pending: HashMap<String, (Pending, Instant)>,
    bridge: Option<Bridge>,
    sources: ConferenceSources,
    /// `Some(true)` while the focus's presence says `bridgeNotAvailable`.
    announced_no_bridge: Option<bool>,
    granting: Option<String>,
    moves: u32,
    out: Vec<Output>,
}

impl Conference {
    /// A conference for `room`; `id` makes its IQ ids unique in the process
    /// and `meeting_id` is used when the room's form has none.
    pub fn new(
        room: &str,
        id: u64,
        meeting_id: String,
        settings: Settings,
        options: OfferOptions,
    ) -> Self {
        let mut c = Conference {
            room: room.to_string(),
            prefix: format!("c{id}-"),
            settings,
            phase: Phase::Joining,
            meeting_id,
            options,
            participants: Vec::new(),
            next_seq: 0,
            next_id: 0,
            pending: HashMap::new(),
            bridge: None,
            sources: ConferenceSources::default(),
            announced_no_bridge: None,
            granting: None,
            moves: 0,
            out: Vec::new(),
        };
        let me = c.occupant_jid(&c.settings.nick.clone());
        c.send(muc::join(&me));
        c
    }

    /// The IQ id prefix of this conference.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn meeting_id(&self) -> &str {
        &self.meeting_id
    }

    pub fn is_joined(&self) -> bool {
        matches!(self.phase, Phase::Configuring | Phase::Running)
    }

    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    pub fn bridge(&self) -> Option<&str> {
        self.bridge.as_ref().map(|b| b.jid.as_str())
    }

    /// What happened since the last call.
    pub fn drain(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    fn occupant_jid(&self, nick: &str) -> String {
        format!("{}/{}", self.room, nick)
    }

    fn send(&mut self, e: Element) {
        self.out.push(Output::Send(e));
    }

    fn request(
        &mut self,
        type_: &str,
        to: &str,
        payload: Element,
        what: Pending,
        now: Instant,
    ) -> String {
        self.next_id += 1;
        let id = format!("{}{}", self.prefix, self.next_id);
        self.pending.insert(id.clone(), (what, now));
        self.send(muc::iq(type_, to, &id, payload));
        id
    }

    fn find(&self, nick: &str) -> Option<usize> {
        self.participants.iter().position(|p| p.nick == nick)
    }

    fn new_sid(&mut self) -> String {
        self.next_id += 1;
        format!(
            "{}{:x}",
            self.prefix.trim_end_matches('-'),
            self.next_id * 7919 + 0x5a17
        )
    }

    // ---- presence ----------------------------------------------------

    /// A presence from the room.
    pub fn on_presence(&mut self, p: &Element, ctx: &mut Ctx<'_>) {
        if p.attr("type") == Some("error") {
            let from_me = p
                .attr("from")
                .and_then(split_occupant)
                .is_some_and(|(_, n)| n == self.settings.nick);
            if from_me && self.phase == Phase::Joining {
                let why = p
                    .get_child("error", muc::NS_CLIENT)
                    .and_then(|e| e.children().next())
                    .map(|c| c.name().to_string())
                    .unwrap_or_else(|| "error".into());
                self.out.push(Output::JoinFailed(format!(
                    "the room refused the focus: {why}"
                )));
                self.phase = Phase::Ended;
                self.out.push(Output::Ended);
            }
            return;
        }
        let Some(o) = Occupant::parse(p) else {
            return;
        };
        if o.nick == self.settings.nick {
            self.on_own_presence(&o, ctx);
            return;
        }
        if !o.available {
            self.participant_left(&o.nick, ctx);
            return;
        }
        match self.find(&o.nick) {
            Some(i) => {
                self.participants[i].occupant = o;
            }
            None => self.participant_joined(o, ctx),
        }
        self.elect_owner(ctx);
    }

    fn on_own_presence(&mut self, o: &Occupant, ctx: &mut Ctx<'_>) {
        if !o.available {
            if self.phase != Phase::Ended {
                tracing::warn!(room = %self.room, "the focus was removed from the room; ending the conference");
                self.end(ctx, false);
            }
            return;
        }
        if self.phase == Phase::Joining {
            self.phase = Phase::Configuring;
            tracing::info!(room = %self.room, "focus joined the room");
            self.out.push(Output::Joined);
            let room = self.room.clone();
            self.request(
                "get",
                &room,
                muc::owner_query(),
                Pending::OwnerForm,
                ctx.now,
            );
            self.announce(ctx);
        }
    }

    /// The focus's presence: bridge count and `bridgeNotAvailable`.
    fn announce(&mut self, ctx: &Ctx<'_>) {
        let no_bridge = self.bridge.is_none() && !ctx.bridges.iter().any(|b| b.usable);
        if self.announced_no_bridge == Some(no_bridge) {
            return;
        }
        self.announced_no_bridge = Some(no_bridge);
        let me = self.occupant_jid(&self.settings.nick.clone());
        let count = usize::from(self.bridge.is_some());
        let p = muc::focus_presence(&me, &self.settings.version, count, no_bridge);
        self.send(p);
    }

    fn participant_joined(&mut self, o: Occupant, ctx: &mut Ctx<'_>) {
        let Some(real) = o.jid.clone() else {
            // Without a real JID we cannot tell who it is (anonymous room
            // before our form submit); its next presence will carry one.
            tracing::debug!(room = %self.room, nick = %o.nick, "occupant without a real JID ignored");
            return;
        };
        self.next_seq += 1;
        let nick = o.nick.clone();
        tracing::info!(room = %self.room, %nick, jid = %real, "participant joined");
        self.participants.push(Participant {
            nick: nick.clone(),
            real_jid: real,
            seq: self.next_seq,
            occupant: o,
            features: Features::default(),
            state: PState::Discovering,
            sid: None,
            allocated: false,
            remote_transport: None,
        });
        let to = self.occupant_jid(&nick);
        self.request(
            "get",
            &to,
            Element::bare("query", NS_DISCO_INFO),
            Pending::Disco(nick),
            ctx.now,
        );
    }

    fn participant_left(&mut self, nick: &str, ctx: &mut Ctx<'_>) {
        let Some(i) = self.find(nick) else {
            return;
        };
        let p = self.participants.remove(i);
        tracing::info!(room = %self.room, %nick, "participant left");
        if self.granting.as_deref() == Some(nick) {
            self.granting = None;
        }
        if p.allocated {
            self.expire_endpoint(nick, ctx);
        }
        let removed = self.sources.remove_endpoint(nick);
        if !removed.is_empty() {
            self.signal_sources("source-remove", nick, &removed, ctx);
        }
        if self.participants.is_empty() {
            self.end(ctx, true);
            return;
        }
        self.elect_owner(ctx);
    }

    /// Auto-owner (§2.4): when no present non-robot participant is an
    /// owner, the earliest-joined becomes one. In secure-domain mode only
    /// authenticated participants are made owners.
    fn elect_owner(&mut self, ctx: &mut Ctx<'_>) {
        if self.phase != Phase::Running || self.granting.is_some() {
            return;
        }
        let target = if self.settings.auth_enabled {
            self.participants
                .iter()
                .filter(|p| p.occupant.affiliation != "owner" && (ctx.authenticated)(&p.real_jid))
                .min_by_key(|p| p.seq)
        } else {
            let has_owner = self
                .participants
                .iter()
                .any(|p| !p.occupant.robot && p.occupant.affiliation == "owner");
            if has_owner {
                None
            } else {
                self.participants
                    .iter()
                    .filter(|p| !p.occupant.robot)
                    .min_by_key(|p| p.seq)
            }
        };
        let Some(t) = target else {
            return;
        };
        let (nick, jid) = (t.nick.clone(), t.real_jid.clone());
        tracing::info!(room = %self.room, %nick, "granting owner");
        self.granting = Some(nick.clone());
        let room = self.room.clone();
        self.request(
            "set",
            &room,
            muc::grant_owner(&jid),
            Pending::GrantOwner(nick),
            ctx.now,
        );
    }

    // ---- IQ answers --------------------------------------------------

    /// A result or error for one of our IQs (its id has our prefix).
    pub fn on_iq_response(&mut self, iq: &Element, ctx: &mut Ctx<'_>) {
        let Some(id) = iq.attr("id") else {
            return;
        };
        let Some((what, _)) = self.pending.remove(id) else {
            return;
        };
        let ok = iq.attr("type") == Some("result");
        match what {
            Pending::OwnerForm => {
                if ok {
                    let q = iq.get_child("query", muc::NS_MUC_OWNER);
                    if let Some(mid) = q.and_then(|q| muc::form_value(q, "muc#roominfo_meetingId"))
                    {
                        self.meeting_id = mid;
                    }
                } else {
                    tracing::warn!(room = %self.room, "the room's owner form was refused; keeping our meeting id");
                }
                let room = self.room.clone();
                self.request(
                    "set",
                    &room,
                    muc::owner_submit_whois(),
                    Pending::OwnerSubmit,
                    ctx.now,
                );
            }
            Pending::OwnerSubmit => {
                if !ok {
                    tracing::warn!(room = %self.room, "the room refused whois=anyone; participants may lack real JIDs");
                }
                self.phase = Phase::Running;
                self.elect_owner(ctx);
                self.invite_ready(ctx);
            }
            Pending::GrantOwner(nick) => {
                if self.granting.as_deref() == Some(nick.as_str()) {
                    self.granting = None;
                }
                if ok {
                    // The presence update follows; mark it now so a second
                    // election does not pick another.
                    if let Some(i) = self.find(&nick) {
                        self.participants[i].occupant.affiliation = "owner".into();
                    }
                } else {
                    tracing::warn!(room = %self.room, %nick, "granting owner failed");
                }
            }
            Pending::Disco(nick) => {
                if let Some(i) = self.find(&nick) {
                    let features = iq
                        .get_child("query", NS_DISCO_INFO)
                        .filter(|_| ok)
                        .map(Features::from_disco)
                        .unwrap_or_default();
                    let p = &mut self.participants[i];
                    p.features = features;
                    if p.state == PState::Discovering {
                        p.state = PState::Ready;
                    }
                    self.invite_ready(ctx);
                }
            }
            Pending::Allocate {
                nick,
                bridge,
                create,
            } => {
                self.on_allocation(iq, ok, &nick, &bridge, create, ctx);
            }
            Pending::ColibriUpdate(bridge) => {
                if !ok && self.bridge() == Some(bridge.as_str()) {
                    tracing::warn!(room = %self.room, %bridge, error = %error_text(iq), "bridge refused an update; moving the conference");
                    self.bridge_failed(&bridge, ctx);
                }
            }
            Pending::Jingle(nick, action) => {
                if !ok {
                    tracing::warn!(room = %self.room, %nick, action, error = %error_text(iq), "participant refused a Jingle request");
                    if let Some(i) = (action == "session-initiate" || action == "transport-replace")
                        .then(|| self.find(&nick))
                        .flatten()
                    {
                        self.participants[i].state = PState::Terminated;
                        if self.participants[i].allocated {
                            self.participants[i].allocated = false;
                            self.expire_endpoint(&nick, ctx);
                        }
                    }
                }
            }
            Pending::Mute(nick) => {
                if !ok {
                    tracing::info!(room = %self.room, %nick, "participant refused the mute order");
                }
            }
        }
    }

    /// Unanswered IQs: disco falls back to defaults; a silent bridge is a
    /// failed bridge.
    pub fn tick(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now;
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (what, at))| {
                let limit = match what {
                    Pending::Disco(_) => DISCO_TIMEOUT,
                    Pending::Allocate { .. } | Pending::ColibriUpdate(_) => COLIBRI_TIMEOUT,
                    _ => IQ_TIMEOUT,
                };
                now.duration_since(*at) >= limit
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let mut timeout = el("iq", muc::NS_CLIENT, &[("type", "error"), ("id", &id)]);
            timeout.append_child(el("error", muc::NS_CLIENT, &[("type", "wait")]));
            if let Some((Pending::Allocate { bridge, .. } | Pending::ColibriUpdate(bridge), _)) =
                self.pending.get(&id)
            {
                tracing::warn!(room = %self.room, %bridge, "bridge did not answer in time");
            }
            self.on_iq_response(&timeout, ctx);
        }
        if self.phase == Phase::Running {
            self.invite_ready(ctx);
            self.announce(ctx);
        }
    }

    // ---- bridges -----------------------------------------------------

    /// The brewery changed: a bridge of ours that is gone or unusable
    /// moves the conference; waiting participants may now get one.
    pub fn on_bridges(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(b) = &self.bridge {
            // A draining bridge keeps its conferences; only a gone or
            // failed one moves them.
            let alive = ctx.bridges.iter().any(|c| c.jid == b.jid && c.operational);
            if !alive {
                let jid = b.jid.clone();
                tracing::warn!(room = %self.room, bridge = %jid, "the conference's bridge is gone or failed; moving");
                self.move_conference(&jid, ctx);
            }
        }
        if self.phase == Phase::Running {
            self.invite_ready(ctx);
            self.announce(ctx);
        }
    }

    fn bridge_failed(&mut self, jid: &str, ctx: &mut Ctx<'_>) {
        self.out.push(Output::BridgeFailed(jid.to_string()));
        self.move_conference(jid, ctx);
    }

    /// Re-home every participant on another bridge (§5, issue point 5):
    /// participants with a session get transport-replace, the rest a
    /// normal offer once allocated.
    fn move_conference(&mut self, failed: &str, ctx: &mut Ctx<'_>) {
        if self.bridge.as_ref().is_some_and(|b| b.jid == failed) {
            self.bridge = None;
        }
        for p in &mut self.participants {
            p.allocated = false;
            if p.state == PState::Allocating {
                p.state = PState::Ready;
            }
        }
        // Allocations in flight to the failed bridge are void.
        self.pending.retain(|_, (what, _)| match what {
            Pending::Allocate { bridge, .. } | Pending::ColibriUpdate(bridge) => bridge != failed,
            _ => true,
        });
        self.moves += 1;
        if self.moves > MAX_MOVES {
            tracing::error!(room = %self.room, "too many bridge failures; waiting for a healthy bridge");
        }
        self.invite_ready_excluding(ctx, &[failed.to_string()]);
        self.announce(ctx);
    }

    fn ensure_bridge(&mut self, ctx: &mut Ctx<'_>, exclude: &[String]) -> bool {
        if self.bridge.is_some() {
            return true;
        }
        let region = self
            .participants
            .iter()
            .min_by_key(|p| p.seq)
            .and_then(|p| p.occupant.region.clone());
        match ctx
            .selector
            .select(ctx.bridges, region.as_deref(), exclude, ctx.now)
        {
            Some(jid) => {
                tracing::info!(room = %self.room, bridge = %jid, "bridge selected");
                self.next_id += 1;
                let session_id = format!("{}{}-{}", self.prefix, self.next_id, self.meeting_id);
                self.bridge = Some(Bridge {
                    jid,
                    session_id,
                    created: false,
                    feedback: EndpointSources::default(),
                });
                true
            }
            None => false,
        }
    }

    fn invite_ready(&mut self, ctx: &mut Ctx<'_>) {
        self.invite_ready_excluding(ctx, &[]);
    }

    /// Allocate every participant that needs an endpoint: new ones
    /// (Ready) and, after a bridge move, those with a session.
    fn invite_ready_excluding(&mut self, ctx: &mut Ctx<'_>, exclude: &[String]) {
        if self.phase != Phase::Running {
            return;
        }
        let needs: Vec<String> = self
            .participants
            .iter()
            .filter(|p| p.state == PState::Ready || (p.has_session() && !p.allocated))
            .map(|p| p.nick.clone())
            .collect();
        if needs.is_empty() {
            return;
        }
        if !self.ensure_bridge(ctx, exclude) {
            self.announce(ctx);
            return;
        }
        for nick in needs {
            self.allocate(&nick, ctx);
        }
    }

    fn allocate(&mut self, nick: &str, ctx: &mut Ctx<'_>) {
        let Some(i) = self.find(nick) else {
            return;
        };
        let Some(bridge) = self.bridge.clone() else {
            return;
        };
        let p = &self.participants[i];
        let mut ep = Endpoint::new(nick);
        ep.create = true;
        ep.stats_id = p.occupant.stats_id.clone();
        ep.muc_role = Some(
            if p.occupant.is_moderator() {
                "moderator"
            } else {
                "participant"
            }
            .to_string(),
        );
        ep.media = codecs::offer(&p.features, &self.options);
        ep.transport = Some(Transport {
            ice_controlling: Some(true),
            use_unique_port: false,
            ice_restart: false,
            ice: None,
            sctp: None,
            extra: Vec::new(),
        });
        ep.capabilities = vec!["source-names".into()];
        // After a move the bridge must learn what it already knew.
        if let Some(s) = self.sources.get(nick).filter(|s| !s.is_empty()) {
            ep.sources = Some(s.to_colibri(nick));
        }
        let create = !bridge.created;
        let mut req = ConferenceModify::new(&self.meeting_id);
        req.name = Some(self.room.clone());
        req.create = create;
        req.rtcstats_enabled = Some(false);
        req.endpoints.push(ep);
        if let Some(b) = &mut self.bridge {
            b.created = true;
        }
        let had_session = p.has_session();
        if !had_session {
            self.participants[i].state = PState::Allocating;
        }
        self.participants[i].allocated = true;
        ctx.selector.record(&bridge.jid, ctx.now);
        self.request(
            "set",
            &bridge.jid,
            Element::from(&req),
            Pending::Allocate {
                nick: nick.to_string(),
                bridge: bridge.jid.clone(),
                create,
            },
            ctx.now,
        );
    }

    fn on_allocation(
        &mut self,
        iq: &Element,
        ok: bool,
        nick: &str,
        bridge: &str,
        create: bool,
        ctx: &mut Ctx<'_>,
    ) {
        if self.bridge() != Some(bridge) {
            return; // a stale answer from a bridge we left
        }
        if !ok {
            let cond = error_condition(iq);
            if create && cond.as_deref() == Some("conflict") {
                // The bridge still has this meeting (e.g. the focus
                // restarted): use it as it is.
                if let Some(i) = self.find(nick) {
                    self.participants[i].allocated = false;
                    if self.participants[i].state == PState::Allocating {
                        self.participants[i].state = PState::Ready;
                    }
                }
                self.allocate(nick, ctx);
                return;
            }
            tracing::warn!(room = %self.room, %bridge, error = %error_text(iq), "allocation failed; moving the conference");
            self.bridge_failed(bridge, ctx);
            return;
        }
        let modified = iq
            .get_child("conference-modified", ns::COLIBRI2)
            .map(ConferenceModified::try_from);
        let modified = match modified {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(room = %self.room, %bridge, error = %e, "unreadable allocation answer; moving the conference");
                self.bridge_failed(bridge, ctx);
                return;
            }
            None => {
                tracing::warn!(room = %self.room, %bridge, "allocation answer without conference-modified; moving the conference");
                self.bridge_failed(bridge, ctx);
                return;
            }
        };
        if let (Some(s), Some(b)) = (&modified.sources, &mut self.bridge) {
            let fb = EndpointSources::from_colibri(s);
            if !fb.is_empty() {
                b.feedback = fb;
            }
        }
        let Some(i) = self.find(nick) else {
            // Left while allocating: undo.
            self.expire_endpoint(nick, ctx);
            return;
        };
        let Some(ep) = modified.endpoints.iter().find(|e| e.id == nick) else {
            tracing::warn!(room = %self.room, %bridge, %nick, "allocation answer lacks the endpoint; moving the conference");
            self.bridge_failed(bridge, ctx);
            return;
        };
        let Some(transport) = ep.transport.as_ref().and_then(|t| t.ice.clone()) else {
            tracing::warn!(room = %self.room, %bridge, %nick, "allocation answer lacks a transport; moving the conference");
            self.bridge_failed(bridge, ctx);
            return;
        };
        let sctp = ep.transport.as_ref().is_some_and(|t| t.sctp.is_some())
            && self.participants[i].features.sctp;
        let replace = self.participants[i].has_session();
        let sid = match (&self.participants[i].sid, replace) {
            (Some(s), true) => s.clone(),
            _ => self.new_sid(),
        };
        self.participants[i].sid = Some(sid.clone());
        self.participants[i].state = PState::Offered;
        self.moves = 0;
        // A participant that already had a session re-sends its transport
        // with transport-accept; until then the bridge has its sources.
        self.send_offer(i, &sid, &transport, sctp, replace, ctx);
    }

    fn send_offer(
        &mut self,
        i: usize,
        sid: &str,
        transport: &IceUdpTransport,
        sctp: bool,
        replace: bool,
        ctx: &mut Ctx<'_>,
    ) {
        let Some(bridge) = self.bridge.clone() else {
            return;
        };
        let p = &self.participants[i];
        let others: Vec<(String, EndpointSources)> = self
            .sources
            .endpoints()
            .filter(|(n, s)| **n != p.nick && !s.is_empty())
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        let media = codecs::offer(&p.features, &self.options);
        let region = ctx
            .bridges
            .iter()
            .find(|c| c.jid == bridge.jid)
            .and_then(|c| c.region.clone());
        let offer = jingle::Offer {
            sid,
            initiator: &self.settings.initiator,
            media: &media,
            transport,
            sctp,
            sources: &others,
            feedback: &bridge.feedback,
            json_sources: p.features.json_sources,
            room: &self.room,
            bridge_session: &bridge.session_id,
            region: region.as_deref(),
            start_muted: None,
        };
        let action = if replace {
            "transport-replace"
        } else {
            "session-initiate"
        };
        let j = jingle::offer(action, &offer);
        let nick = p.nick.clone();
        let to = self.occupant_jid(&nick);
        tracing::info!(room = %self.room, %nick, action, bridge = %bridge.jid, "offer sent");
        self.request("set", &to, j, Pending::Jingle(nick, action), ctx.now);
    }

    /// Tell the bridge an endpoint's transport and/or complete sources.
    fn update_endpoint(
        &mut self,
        nick: &str,
        transport: Option<IceUdpTransport>,
        sources: bool,
        ctx: &mut Ctx<'_>,
    ) {
        let Some(bridge) = self.bridge.clone() else {
            return;
        };
        let mut ep = Endpoint::new(nick);
        if let Some(t) = transport {
            ep.transport = Some(Transport {
                ice_controlling: None,
                use_unique_port: false,
                ice_restart: false,
                ice: Some(t),
                sctp: None,
                extra: Vec::new(),
            });
        }
        if sources {
            ep.sources = Some(
                self.sources
                    .get(nick)
                    .map(|s| s.to_colibri(nick))
                    .unwrap_or_default(),
            );
        }
        let mut req = ConferenceModify::new(&self.meeting_id);
        req.endpoints.push(ep);
        self.request(
            "set",
            &bridge.jid,
            Element::from(&req),
            Pending::ColibriUpdate(bridge.jid.clone()),
            ctx.now,
        );
    }

    fn expire_endpoint(&mut self, nick: &str, ctx: &mut Ctx<'_>) {
        let Some(bridge) = self.bridge.clone() else {
            return;
        };
        let mut ep = Endpoint::new(nick);
        ep.expire = true;
        let mut req = ConferenceModify::new(&self.meeting_id);
        req.endpoints.push(ep);
        // An expiry that fails changes nothing for us: not tracked as an
        // update, so it cannot move the conference.
        self.next_id += 1;
        let id = format!("{}{}", self.prefix, self.next_id);
        self.send(muc::iq("set", &bridge.jid, &id, Element::from(&req)));
        let _ = ctx;
    }

    /// source-add / source-remove to every other participant with a session.
    fn signal_sources(
        &mut self,
        action: &'static str,
        owner: &str,
        set: &EndpointSources,
        ctx: &mut Ctx<'_>,
    ) {
        let targets: Vec<(String, String, bool)> = self
            .participants
            .iter()
            .filter(|p| p.nick != owner && p.has_session())
            .filter_map(|p| {
                p.sid
                    .clone()
                    .map(|s| (p.nick.clone(), s, p.features.json_sources))
            })
            .collect();
        for (nick, sid, json) in targets {
            let j = jingle::sources_update(action, &sid, &self.room, owner, set, json);
            let to = self.occupant_jid(&nick);
            self.request("set", &to, j, Pending::Jingle(nick, action), ctx.now);
        }
    }

    /// The conference is over: expire it on the bridge and leave the room.
    fn end(&mut self, ctx: &mut Ctx<'_>, leave: bool) {
        if let Some(b) = self.bridge.take().filter(|b| b.created) {
            let mut req = ConferenceModify::new(&self.meeting_id);
            req.expire = true;
            self.next_id += 1;
            let id = format!("{}{}", self.prefix, self.next_id);
            self.send(muc::iq("set", &b.jid, &id, Element::from(&req)));
        }
        if leave {
            let me = self.occupant_jid(&self.settings.nick.clone());
            self.send(muc::leave(&me));
        }
        tracing::info!(room = %self.room, "conference ended");
        self.phase = Phase::Ended;
        self.pending.clear();
        self.out.push(Output::Ended);
        let _ = ctx;
    }

    /// The focus is shutting down: leave cleanly.
    pub fn shutdown(&mut self, ctx: &mut Ctx<'_>) {
        if self.phase != Phase::Ended {
            let targets: Vec<(String, String)> = self
                .participants
                .iter()
                .filter(|p| p.has_session())
                .filter_map(|p| p.sid.clone().map(|s| (p.nick.clone(), s)))
                .collect();
            for (nick, sid) in targets {
                let to = self.occupant_jid(&nick);
                self.request(
                    "set",
                    &to,
                    jingle::terminate(&sid, "gone", Some("focus shutting down")),
                    Pending::Jingle(nick, "session-terminate"),
                    ctx.now,
                );
            }
            self.end(ctx, true);
        }
    }

    // ---- requests from participants -------------------------------------

    /// An IQ get/set from an occupant addressed to the focus's occupant JID.
    /// Always answers.
    pub fn on_iq_request(&mut self, iq: &Element, ctx: &mut Ctx<'_>) {
        let from = iq.attr("from").unwrap_or_default().to_string();
        let Some((_, nick)) = split_occupant(&from) else {
            self.send(muc::error_reply(
                iq,
                "modify",
                "bad-request",
                "not from an occupant",
                None,
            ));
            return;
        };
        let nick = nick.to_string();
        let Some(payload) = iq.children().next() else {
            self.send(muc::error_reply(
                iq,
                "modify",
                "bad-request",
                "empty IQ",
                None,
            ));
            return;
        };
        if payload.is("jingle", ns::JINGLE) && iq.attr("type") == Some("set") {
            self.on_jingle(iq, payload, &nick, ctx);
        } else if payload.name() == "mute" && iq.attr("type") == Some("set") {
            self.on_mute(iq, payload, &nick, ctx);
        } else if payload.is("query", NS_DISCO_INFO) && iq.attr("type") == Some("get") {
            let mut r = reply(iq, "result");
            r.append_child(crate::xml::disco_info(
                "client",
                "bot",
                "meet-rs focus",
                &[NS_DISCO_INFO, ns::JINGLE, codecs::FEATURE_JSON_SOURCES],
            ));
            self.send(r);
        } else {
            self.send(muc::error_reply(
                iq,
                "cancel",
                "service-unavailable",
                "not supported by the focus",
                None,
            ));
        }
    }

    fn on_jingle(&mut self, iq: &Element, j: &Element, nick: &str, ctx: &mut Ctx<'_>) {
        let inc = match Incoming::parse(j) {
            Ok(i) => i,
            Err(e) => {
                tracing::info!(room = %self.room, %nick, error = %e, "malformed Jingle refused");
                self.send(muc::error_reply(iq, "modify", "bad-request", &e, None));
                return;
            }
        };
        let Some(i) = self.find(nick) else {
            self.send(muc::error_reply(
                iq,
                "cancel",
                "item-not-found",
                "not a participant of this conference",
                None,
            ));
            return;
        };
        if self.participants[i].sid.as_deref() != Some(inc.sid.as_str()) {
            self.send(muc::error_reply(
                iq,
                "cancel",
                "item-not-found",
                "unknown session",
                Some(Element::bare("unknown-session", NS_JINGLE_ERRORS)),
            ));
            return;
        }
        let state = self.participants[i].state;
        let out_of_order = |s: &mut Self| {
            s.send(muc::error_reply(
                iq,
                "wait",
                "unexpected-request",
                "action out of order",
                Some(Element::bare("out-of-order", NS_JINGLE_ERRORS)),
            ));
        };
        match inc.action {
            Action::SessionAccept => {
                if state != PState::Offered {
                    out_of_order(self);
                    return;
                }
                if let Err(e) = self.sources.check(nick, &inc.sources) {
                    self.send(muc::error_reply(iq, "modify", "bad-request", &e.0, None));
                    return;
                }
                let previous = self.sources.remove_endpoint(nick);
                // check() passed, so this cannot fail.
                let _ = self.sources.add(nick, &inc.sources);
                self.participants[i].state = PState::Active;
                self.participants[i].remote_transport = inc.transport.clone();
                self.send(reply(iq, "result"));
                tracing::info!(room = %self.room, %nick, ssrcs = inc.sources.ssrcs().count(), "session accepted");
                self.update_endpoint(nick, inc.transport, true, ctx);
                if !previous.is_empty() {
                    self.signal_sources("source-remove", nick, &previous, ctx);
                }
                if !inc.sources.is_empty() {
                    self.signal_sources("source-add", nick, &inc.sources, ctx);
                }
            }
            Action::TransportInfo | Action::TransportAccept => {
                if !self.participants[i].has_session() {
                    out_of_order(self);
                    return;
                }
                self.send(reply(iq, "result"));
                if inc.action == Action::TransportAccept {
                    self.participants[i].state = PState::Active;
                }
                if let Some(t) = inc.transport {
                    self.participants[i].remote_transport = Some(t.clone());
                    let with_sources = inc.action == Action::TransportAccept;
                    self.update_endpoint(nick, Some(t), with_sources, ctx);
                }
            }
            Action::TransportReject => {
                self.send(reply(iq, "result"));
                tracing::warn!(room = %self.room, %nick, "participant rejected the new transport");
            }
            Action::SourceAdd => {
                if !self.participants[i].has_session() {
                    out_of_order(self);
                    return;
                }
                match self.sources.add(nick, &inc.sources) {
                    Ok(added) => {
                        self.send(reply(iq, "result"));
                        self.update_endpoint(nick, None, true, ctx);
                        if !added.is_empty() {
                            self.signal_sources("source-add", nick, &added, ctx);
                        }
                    }
                    Err(e) => self.send(muc::error_reply(iq, "modify", "bad-request", &e.0, None)),
                }
            }
            Action::SourceRemove => {
                if !self.participants[i].has_session() {
                    out_of_order(self);
                    return;
                }
                let removed = self.sources.remove(nick, &inc.sources);
                self.send(reply(iq, "result"));
                if !removed.is_empty() {
                    self.update_endpoint(nick, None, true, ctx);
                    self.signal_sources("source-remove", nick, &removed, ctx);
                }
            }
            Action::SessionTerminate => {
                self.send(reply(iq, "result"));
                let restart = inc.bridge_session.as_ref().is_some_and(|(_, r)| *r);
                self.terminate_participant(i, ctx);
                if restart {
                    tracing::info!(room = %self.room, %nick, "participant asked for a new session");
                    if let Some(i) = self.find(nick) {
                        self.participants[i].state = PState::Ready;
                        self.participants[i].sid = None;
                    }
                    self.invite_ready(ctx);
                }
            }
            Action::SessionInfo => {
                self.send(reply(iq, "result"));
                let current = self.bridge.as_ref().map(|b| b.session_id.clone());
                let failed = inc.ice_state.as_deref() == Some("failed");
                let same = inc.bridge_session.as_ref().map(|(id, _)| id.clone()) == current;
                if failed && same && self.participants[i].has_session() {
                    // ICE failed: a new endpoint (new credentials) and a
                    // transport-replace, as jicofo re-invites.
                    tracing::info!(room = %self.room, %nick, "participant reports ICE failure; re-inviting");
                    if self.participants[i].allocated {
                        self.participants[i].allocated = false;
                        self.expire_endpoint(nick, ctx);
                    }
                    self.invite_ready(ctx);
                }
            }
            Action::ContentModify => self.send(reply(iq, "result")),
            Action::SessionInitiate | Action::TransportReplace | Action::Other => {
                self.send(muc::error_reply(
                    iq,
                    "cancel",
                    "feature-not-implemented",
                    &format!("the focus does not take {}", inc.action_name),
                    None,
                ));
            }
        }
    }

    /// The participant's session is over: its endpoint and sources go.
    fn terminate_participant(&mut self, i: usize, ctx: &mut Ctx<'_>) {
        let nick = self.participants[i].nick.clone();
        self.participants[i].state = PState::Terminated;
        if self.participants[i].allocated {
            self.participants[i].allocated = false;
            self.expire_endpoint(&nick, ctx);
        }
        let removed = self.sources.remove_endpoint(&nick);
        if !removed.is_empty() {
            self.signal_sources("source-remove", &nick, &removed, ctx);
        }
    }

    /// §2.5: moderators may mute anyone; unmute only oneself.
    fn on_mute(&mut self, iq: &Element, payload: &Element, nick: &str, ctx: &mut Ctx<'_>) {
        let req = match MuteIq::try_from(payload) {
            Ok(r) => r,
            Err(e) => {
                self.send(muc::error_reply(
                    iq,
                    "modify",
                    "bad-request",
                    &e.to_string(),
                    None,
                ));
                return;
            }
        };
        let Some(me) = self.find(nick) else {
            self.send(muc::error_reply(
                iq,
                "cancel",
                "not-allowed",
                "not a participant",
                None,
            ));
            return;
        };
        let target = req
            .jid
            .as_deref()
            .and_then(split_occupant)
            .filter(|(room, _)| *room == self.room)
            .map(|(_, n)| n.to_string());
        let Some(target) = target else {
            self.send(muc::error_reply(
                iq,
                "modify",
                "bad-request",
                "jid must be an occupant of this room",
                None,
            ));
            return;
        };
        let Some(t) = self.find(&target) else {
            self.send(muc::error_reply(
                iq,
                "cancel",
                "item-not-found",
                "no such participant",
                None,
            ));
            return;
        };
        let is_self = target == nick;
        if !is_self && !self.participants[me].occupant.is_moderator() {
            self.send(muc::error_reply(
                iq,
                "cancel",
                "not-allowed",
                "only moderators may mute others",
                None,
            ));
            return;
        }
        if !req.mute && !is_self {
            self.send(muc::error_reply(
                iq,
                "cancel",
                "not-allowed",
                "only the participant may unmute itself",
                None,
            ));
            return;
        }
        self.send(reply(iq, "result"));
        if !is_self {
            let order = MuteIq {
                media: req.media,
                jid: None,
                actor: Some(self.occupant_jid(nick)),
                mute: true,
            };
            let to = self.occupant_jid(&self.participants[t].nick.clone());
            tracing::info!(room = %self.room, actor = %nick, %target, media = ?req.media, "mute ordered");
            self.request(
                "set",
                &to,
                Element::from(&order),
                Pending::Mute(target),
                ctx.now,
            );
        }
    }
}

fn error_condition(iq: &Element) -> Option<String> {
    let e = iq.children().find(|c| c.name() == "error")?;
    e.children()
        .find(|c| c.ns() == crate::xml::NS_STANZAS && c.name() != "text")
        .map(|c| c.name().to_string())
}

fn error_text(iq: &Element) -> String {
    let e = iq.children().find(|c| c.name() == "error");
    let cond = error_condition(iq).unwrap_or_else(|| "timeout".into());
    let text = e
        .and_then(|e| e.children().find(|c| c.name() == "text"))
        .map(|t| t.text())
        .unwrap_or_default();
    if text.is_empty() {
        cond
    } else {
        format!("{cond}: {text}")
    }
}

#[cfg(test)]
#[path = "conference_tests.rs"]
mod tests;
