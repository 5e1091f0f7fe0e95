//! Jitsi's `speakerstats_component` and `conference_duration_component`
//! (jitsi-protocol.md §2.11), sans-IO.
//!
//! Both watch one MUC service: [`JitsiComponents::on_room_event`] takes the
//! MUC's room lifecycle events, [`JitsiComponents::handle`] takes stanzas
//! addressed to the component domains, and every stanza to send is pushed to
//! `out`. The caller supplies the clock (`now_ms`, ms since the Unix epoch)
//! and a [`RoomDirectory`] to look rooms and occupants up.

use std::collections::{BTreeMap, HashMap};

use minidom::Element;
use serde::Serialize;

use crate::muc::RoomEvent;
use crate::services::NS_DISCO_INFO;
use crate::stanza::{self, ErrorType, Kind};
use crate::xml::NS_CLIENT;

/// Namespace of `<json-message>`, `<speakerstats>` and `<facialExpression>`.
pub const NS_JITMEET: &str = "http://jitsi.org/jitmeet";

/// The expressions lib-jitsi-meet reports. Only these are counted, which
/// also bounds the per-user state whatever a client sends.
pub const FACIAL_EXPRESSIONS: [&str; 7] = [
    "happy",
    "neutral",
    "surprised",
    "angry",
    "fearful",
    "disgusted",
    "sad",
];

/// Users kept per room; past it, departed users with the least stats are
/// dropped so join/leave churn cannot grow a room's state without bound.
const MAX_USERS_PER_ROOM: usize = 1000;

/// Display names are echoed to every joiner; cap what one name can cost.
const MAX_DISPLAY_NAME_BYTES: usize = 512;

/// A JID is at most 3 × 1023 bytes plus separators (RFC 7622 §3.1); anything
/// longer cannot name a room, so it is not worth a directory lookup.
const MAX_JID_BYTES: usize = 3071;

/// What the components need from the MUC service.
pub trait RoomDirectory {
    /// The canonical bare JID of an existing room (tenant forms mapped), or
    /// None when there is no such room.
    fn canonical_room(&self, room_jid: &str) -> Option<String>;
    /// Nick and display name of the occupant of `room` (canonical) whose real
    /// full JID is `real_jid`, or None when that JID is not an occupant.
    fn occupant_nick(&self, room: &str, real_jid: &str) -> Option<(String, Option<String>)>;
}

#[derive(Debug, Default)]
struct UserStats {
    display_name: Option<String>,
    total_ms: u64,
    /// Set while this user is the dominant speaker.
    speaking_since: Option<u64>,
    /// Accumulated durations, indexed like [`FACIAL_EXPRESSIONS`].
    facial: [u64; FACIAL_EXPRESSIONS.len()],
    present: bool,
}

impl UserStats {
    fn stop_speaking(&mut self, now_ms: u64) {
        if let Some(since) = self.speaking_since.take() {
            // saturating: a clock that steps back must not wrap the total.
            self.total_ms = self.total_ms.saturating_add(now_ms.saturating_sub(since));
        }
    }

    /// Total speaking time including the running interval.
    fn time_at(&self, now_ms: u64) -> u64 {
        let running = self.speaking_since.map_or(0, |s| now_ms.saturating_sub(s));
        self.total_ms.saturating_add(running)
    }

    fn has_expressions(&self) -> bool {
        self.facial.iter().any(|&d| d > 0)
    }

    /// Whether a joiner is told about this user (§2.11).
    fn reportable(&self) -> bool {
        self.total_ms > 0
            || self.speaking_since.is_some()
            || !self.present
            || self.has_expressions()
    }

    /// Eviction order: the departed user with the least stats goes first.
    fn weight(&self) -> u64 {
        self.facial
            .iter()
            .fold(self.total_ms, |acc, d| acc.saturating_add(*d))
    }
}

#[derive(Debug, Default)]
struct RoomState {
    /// conference_duration: set once, when the room first has two occupants.
    created_timestamp: Option<u64>,
    /// speakerstats, by occupant nick (the key lib-jitsi-meet expects).
    users: HashMap<String, UserStats>,
    /// Nick of the current dominant speaker, if tracked.
    dominant: Option<String>,
}

impl RoomState {
    /// The entry of a present occupant, created (or revived after a leave,
    /// keeping the totals of a reconnect under the same nick) as needed.
    fn present_user(&mut self, nick: &str) -> &mut UserStats {
        if !self.users.contains_key(nick) && self.users.len() >= MAX_USERS_PER_ROOM {
            self.evict_one_departed();
        }
        let user = self.users.entry(nick.to_string()).or_default();
        user.present = true;
        user
    }

    fn evict_one_departed(&mut self) {
        let victim = self
            .users
            .iter()
            .filter(|(_, u)| !u.present)
            .min_by_key(|(_, u)| u.weight())
            .map(|(n, _)| n.clone());
        if let Some(n) = victim {
            self.users.remove(&n);
        }
    }

    fn set_dominant(&mut self, nick: &str, now_ms: u64) {
        if self.dominant.as_deref() == Some(nick) {
            return;
        }
        if let Some(old) = self.dominant.take()
            && let Some(u) = self.users.get_mut(&old)
        {
            u.stop_speaking(now_ms);
        }
        if let Some(u) = self.users.get_mut(nick) {
            u.speaking_since = Some(now_ms);
            self.dominant = Some(nick.to_string());
        }
    }

    fn stats_json(&self, now_ms: u64) -> Option<String> {
        let users = self
            .users
            .iter()
            .filter(|(_, u)| u.reportable())
            .map(|(nick, u)| {
                let facial = FACIAL_EXPRESSIONS
                    .iter()
                    .copied()
                    .zip(u.facial.iter().copied())
                    .collect();
                let entry = UserJson {
                    display_name: u.display_name.as_deref(),
                    total_dominant_speaker_time: u.time_at(now_ms),
                    facial_expressions: facial,
                };
                (nick.as_str(), entry)
            })
            .collect();
        to_json(&StatsJson {
            kind: "speakerstats",
            users,
        })
    }
}

#[derive(Serialize)]
struct DurationJson {
    #[serde(rename = "type")]
    kind: &'static str,
    created_timestamp: u64,
}

#[derive(Serialize)]
struct StatsJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    users: BTreeMap<&'a str, UserJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserJson<'a> {
    /// Omitted rather than null when unknown, as the Lua module does.
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    total_dominant_speaker_time: u64,
    facial_expressions: BTreeMap<&'static str, u64>,
}

fn to_json<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_string(v) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode component JSON");
            None
        }
    }
}

/// `<message from=component to=real_jid><json-message>JSON</json-message></message>`
fn json_message(from: &str, to: &str, json: String) -> Element {
    let mut msg = stanza::el("message", NS_CLIENT, &[("from", from), ("to", to)]);
    let mut body = Element::bare("json-message", NS_JITMEET);
    body.append_text(json);
    msg.append_child(body);
    msg
}

/// The domain part of a JID (no validation: only compared, never trusted).
fn jid_domain(jid: &str) -> &str {
    let bare = jid.split_once('/').map_or(jid, |(b, _)| b);
    bare.split_once('@').map_or(bare, |(_, d)| d)
}

fn truncate_name(mut s: String) -> String {
    if s.len() > MAX_DISPLAY_NAME_BYTES {
        let mut end = MAX_DISPLAY_NAME_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    SpeakerStats,
    ConferenceDuration,
}

impl Component {
    fn identity_type(self) -> &'static str {
        match self {
            Component::SpeakerStats => "speakerstats",
            Component::ConferenceDuration => "conference_duration",
        }
    }
}

/// The two components attached to one MUC service, with per-room state.
#[derive(Debug)]
pub struct JitsiComponents {
    speakerstats: Option<String>,
    conference_duration: Option<String>,
    rooms: HashMap<String, RoomState>,
}

impl JitsiComponents {
    /// speakerstats / conference_duration component domains attached to one
    /// MUC (either may be None).
    pub fn new(speakerstats: Option<String>, conference_duration: Option<String>) -> Self {
        // Domains compare case-insensitively; keep one spelling for `from`.
        Self {
            speakerstats: speakerstats.map(|d| d.to_ascii_lowercase()),
            conference_duration: conference_duration.map(|d| d.to_ascii_lowercase()),
            rooms: HashMap::new(),
        }
    }

    pub fn handles_domain(&self, domain: &str) -> bool {
        self.component_for(domain).is_some()
    }

    /// Rooms with state (for leak checks).
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    fn component_for(&self, domain: &str) -> Option<(Component, &str)> {
        if let Some(d) = &self.speakerstats
            && d.eq_ignore_ascii_case(domain)
        {
            return Some((Component::SpeakerStats, d));
        }
        if let Some(d) = &self.conference_duration
            && d.eq_ignore_ascii_case(domain)
        {
            return Some((Component::ConferenceDuration, d));
        }
        None
    }

    /// A room lifecycle event from the MUC (called after the MUC handled the
    /// stanza).
    pub fn on_room_event(&mut self, ev: &RoomEvent, now_ms: u64, out: &mut Vec<Element>) {
        match ev {
            RoomEvent::Joined {
                room,
                nick,
                real_jid,
                occupants,
                is_admin,
                ..
            } => {
                if self.speakerstats.is_none() && self.conference_duration.is_none() {
                    return;
                }
                let state = self.rooms.entry(room.to_string()).or_default();
                if let Some(domain) = &self.conference_duration
                    && *occupants > 1
                {
                    // Occupants include the focus: the clock starts when the
                    // first participant joins it.
                    let created = *state.created_timestamp.get_or_insert(now_ms);
                    let body = DurationJson {
                        kind: "conference_duration",
                        created_timestamp: created,
                    };
                    if let Some(json) = to_json(&body) {
                        out.push(json_message(domain, real_jid, json));
                    }
                }
                // Admins (the focus) neither get stats nor get an entry.
                if let Some(domain) = &self.speakerstats
                    && !*is_admin
                {
                    // Built before the joiner's entry is made, so a fresh
                    // joiner is not listed and a returning one sees its past
                    // totals.
                    if let Some(json) = state.stats_json(now_ms) {
                        out.push(json_message(domain, real_jid, json));
                    }
                    state.present_user(nick);
                }
            }
            RoomEvent::Left {
                room,
                nick,
                display_name,
                ..
            } => self.on_left(room, nick, display_name.as_deref(), now_ms),
            RoomEvent::Destroyed { room, .. } => {
                self.rooms.remove(room);
            }
        }
    }

    fn on_left(&mut self, room: &str, nick: &str, display_name: Option<&str>, now_ms: u64) {
        let Some(state) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(user) = state.users.get_mut(nick) else {
            return;
        };
        user.stop_speaking(now_ms);
        user.present = false;
        if let Some(name) = display_name {
            user.display_name = Some(truncate_name(name.to_string()));
        }
        if state.dominant.as_deref() == Some(nick) {
            state.dominant = None;
        }
    }

    /// A stanza addressed to one of our domains (`from` = sender's real full
    /// JID).
    pub fn handle(
        &mut self,
        stanza: Element,
        now_ms: u64,
        rooms: &dyn RoomDirectory,
        out: &mut Vec<Element>,
    ) {
        let Some(kind) = stanza::kind(&stanza) else {
            return;
        };
        let to = stanza.attr("to").unwrap_or("");
        let Some((component, domain)) = self.component_for(jid_domain(to)) else {
            tracing::debug!(to, "stanza for a domain that is not a Jitsi component");
            return;
        };
        match kind {
            Kind::Iq => {
                let reply = Self::iq_reply(&stanza, component, domain, to);
                out.extend(reply);
            }
            Kind::Message if component == Component::SpeakerStats => {
                if !stanza::is_error(&stanza) {
                    self.on_speakerstats_message(&stanza, now_ms, rooms);
                }
            }
            // conference_duration takes no messages; presence is meaningless
            // to both components.
            Kind::Message | Kind::Presence => {}
        }
    }

    fn iq_reply(iq: &Element, component: Component, domain: &str, to: &str) -> Option<Element> {
        let ty = iq.attr("type").unwrap_or("");
        if ty != "get" && ty != "set" {
            // Results and errors are never answered.
            return None;
        }
        let is_disco_info = ty == "get"
            && to.eq_ignore_ascii_case(domain)
            && stanza::iq_payload(iq)
                .is_some_and(|p| p.name() == "query" && p.ns() == NS_DISCO_INFO);
        if !is_disco_info {
            return stanza::error_reply(iq, ErrorType::Cancel, "service-unavailable", None);
        }
        if stanza::iq_payload(iq).is_some_and(|p| p.attr("node").is_some()) {
            return stanza::error_reply(iq, ErrorType::Cancel, "item-not-found", None);
        }
        let mut q = Element::bare("query", NS_DISCO_INFO);
        q.append_child(stanza::el(
            "identity",
            NS_DISCO_INFO,
            &[
                ("category", "component"),
                ("type", component.identity_type()),
                ("name", domain),
            ],
        ));
        q.append_child(stanza::el(
            "feature",
            NS_DISCO_INFO,
            &[("var", NS_DISCO_INFO)],
        ));
        Some(stanza::iq_result(iq, Some(q)))
    }

    fn on_speakerstats_message(&mut self, msg: &Element, now_ms: u64, rooms: &dyn RoomDirectory) {
        let Some(from) = msg.attr("from") else {
            return;
        };
        if let Some(ss) = msg.get_child("speakerstats", NS_JITMEET)
            && let Some((state, nick)) = self.sender_state(ss, from, rooms)
        {
            state.set_dominant(&nick, now_ms);
        }
        if let Some(fe) = msg.get_child("facialExpression", NS_JITMEET) {
            let Some(idx) = fe
                .attr("expression")
                .and_then(|e| FACIAL_EXPRESSIONS.iter().position(|k| *k == e))
            else {
                return;
            };
            let Some(duration) = fe
                .attr("duration")
                .and_then(|d| d.trim().parse::<u64>().ok())
            else {
                return;
            };
            if let Some((state, nick)) = self.sender_state(fe, from, rooms)
                && let Some(user) = state.users.get_mut(&nick)
            {
                user.facial[idx] = user.facial[idx].saturating_add(duration);
            }
        }
    }

    /// The state of the room named by `payload`'s `room` attribute and the
    /// sender's nick there, ensuring the sender has an entry; None for
    /// unknown rooms and non-occupants.
    fn sender_state(
        &mut self,
        payload: &Element,
        from: &str,
        rooms: &dyn RoomDirectory,
    ) -> Option<(&mut RoomState, String)> {
        let room_attr = payload.attr("room")?;
        if room_attr.is_empty() || room_attr.len() > MAX_JID_BYTES || from.len() > MAX_JID_BYTES {
            return None;
        }
        let room = rooms.canonical_room(room_attr)?;
        let Some((nick, display_name)) = rooms.occupant_nick(&room, from) else {
            tracing::debug!(room, from, "speakerstats from a non-occupant");
            return None;
        };
        // The room exists in the MUC, so state made here (after a missed
        // join) is still removed by its Destroyed event.
        let state = self.rooms.entry(room).or_default();
        let user = state.present_user(&nick);
        if let Some(name) = display_name {
            user.display_name = Some(truncate_name(name));
        }
        Some((state, nick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::NS_STANZAS;
    use crate::xml::parse_document;
    use serde_json::{Value, json};

    const SS: &str = "speakerstats.example.org";
    const CD: &str = "conferenceduration.example.org";
    const ROOM: &str = "room@conference.example.org";
    const FOCUS: &str = "focus@auth.example.org/focus";
    const ALICE: &str = "alice@example.org/a";
    const BOB: &str = "bob@example.org/b";
    const CAROL: &str = "carol@example.org/c";

    /// Stands in for the MUC: rooms, and occupants by real JID.
    #[derive(Default)]
    struct FakeMuc {
        rooms: Vec<String>,
        occupants: HashMap<(String, String), (String, Option<String>)>,
    }

    impl FakeMuc {
        fn with_room(room: &str) -> Self {
            Self {
                rooms: vec![room.to_string()],
                ..Self::default()
            }
        }
        fn add(&mut self, room: &str, jid: &str, nick: &str) {
            self.occupants
                .insert((room.into(), jid.into()), (nick.into(), None));
        }
        fn remove(&mut self, room: &str, jid: &str) {
            self.occupants.remove(&(room.into(), jid.into()));
        }
    }

    impl RoomDirectory for FakeMuc {
        fn canonical_room(&self, room_jid: &str) -> Option<String> {
            // Tenant form `[t]room@conference.D` stands for the same room.
            let j = room_jid.to_ascii_lowercase();
            let j = match j.strip_prefix("[t]") {
                Some(rest) => rest.to_string(),
                None => j,
            };
            self.rooms.iter().find(|r| **r == j).cloned()
        }
        fn occupant_nick(&self, room: &str, real_jid: &str) -> Option<(String, Option<String>)> {
            self.occupants
                .get(&(room.to_string(), real_jid.to_string()))
                .cloned()
        }
    }

    fn both() -> JitsiComponents {
        JitsiComponents::new(Some(SS.into()), Some(CD.into()))
    }

    fn joined(room: &str, nick: &str, jid: &str, occupants: usize, is_admin: bool) -> RoomEvent {
        RoomEvent::Joined {
            room: room.into(),
            nick: nick.into(),
            real_jid: jid.into(),
            occupants,
            is_admin,
        }
    }

    fn left(room: &str, nick: &str, jid: &str, name: Option<&str>) -> RoomEvent {
        RoomEvent::Left {
            room: room.into(),
            nick: nick.into(),
            real_jid: jid.into(),
            display_name: name.map(str::to_string),
        }
    }

    fn parse(xml: &str) -> Element {
        parse_document(xml.as_bytes(), 1 << 22).expect("test stanza parses")
    }

    fn speak_msg(from: &str, room: &str) -> Element {
        parse(&format!(
            "<message xmlns='jabber:client' from='{from}' to='{SS}'>\
             <speakerstats xmlns='http://jitsi.org/jitmeet' room='{room}'/></message>"
        ))
    }

    fn face_msg(from: &str, room: &str, expression: &str, duration: &str) -> Element {
        parse(&format!(
            "<message xmlns='jabber:client' from='{from}' to='{SS}'>\
             <facialExpression xmlns='http://jitsi.org/jitmeet' room='{room}' \
             expression='{expression}' duration='{duration}'/></message>"
        ))
    }

    /// The JSON payloads in `out` of the given `type`, with their recipients.
    fn payloads(out: &[Element], from: &str, ty: &str) -> Vec<(String, Value)> {
        out.iter()
            .filter(|m| m.name() == "message" && m.attr("from") == Some(from))
            .filter_map(|m| {
                let body = m.get_child("json-message", NS_JITMEET)?;
                let v: Value = serde_json::from_str(&body.text()).expect("valid JSON");
                (v["type"] == ty).then(|| (m.attr("to").unwrap_or("").to_string(), v))
            })
            .collect()
    }

    fn stats_for(out: &[Element], to: &str) -> Value {
        let mut p = payloads(out, SS, "speakerstats");
        assert_eq!(p.len(), 1, "one speakerstats message: {p:?}");
        let (dest, v) = p.remove(0);
        assert_eq!(dest, to);
        v["users"].clone()
    }

    /// Joins focus, alice and bob to ROOM at t=1000..3000.
    fn room_with_two(c: &mut JitsiComponents, muc: &mut FakeMuc) {
        let mut out = Vec::new();
        c.on_room_event(&joined(ROOM, "focus", FOCUS, 1, true), 1000, &mut out);
        c.on_room_event(&joined(ROOM, "alice", ALICE, 2, false), 2000, &mut out);
        c.on_room_event(&joined(ROOM, "bob", BOB, 3, false), 3000, &mut out);
        muc.add(ROOM, FOCUS, "focus");
        muc.add(ROOM, ALICE, "alice");
        muc.add(ROOM, BOB, "bob");
    }

    #[test]
    fn duration_is_set_once_at_the_second_occupant_and_sent_to_each_later_joiner() {
        let mut c = both();
        let mut out = Vec::new();
        c.on_room_event(&joined(ROOM, "focus", FOCUS, 1, true), 1000, &mut out);
        assert!(payloads(&out, CD, "conference_duration").is_empty());

        out.clear();
        c.on_room_event(&joined(ROOM, "alice", ALICE, 2, false), 2500, &mut out);
        let p = payloads(&out, CD, "conference_duration");
        assert_eq!(
            p,
            vec![(
                ALICE.to_string(),
                json!({"type": "conference_duration", "created_timestamp": 2500})
            )]
        );
        let msg = out
            .iter()
            .find(|m| m.attr("from") == Some(CD))
            .expect("duration message");
        assert_eq!(msg.ns(), NS_CLIENT);
        assert_eq!(msg.attr("to"), Some(ALICE));

        for (i, (nick, jid, admin)) in [("bob", BOB, false), ("rec", "jibri@x/r", true)]
            .into_iter()
            .enumerate()
        {
            out.clear();
            c.on_room_event(&joined(ROOM, nick, jid, 3 + i, admin), 9000, &mut out);
            let p = payloads(&out, CD, "conference_duration");
            assert_eq!(p.len(), 1);
            assert_eq!(p[0].0, jid);
            assert_eq!(p[0].1["created_timestamp"], 2500);
        }

        // A component set without conference_duration sends none.
        let mut only_ss = JitsiComponents::new(Some(SS.into()), None);
        out.clear();
        only_ss.on_room_event(&joined(ROOM, "alice", ALICE, 2, false), 1, &mut out);
        assert!(payloads(&out, CD, "conference_duration").is_empty());
        assert_eq!(payloads(&out, SS, "speakerstats").len(), 1);
    }

    #[test]
    fn speaker_time_accumulates_across_switches() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();

        c.handle(speak_msg(ALICE, ROOM), 10_000, &muc, &mut out);
        c.handle(speak_msg(BOB, ROOM), 13_000, &muc, &mut out);
        c.handle(speak_msg(ALICE, ROOM), 20_000, &muc, &mut out);
        assert!(out.is_empty(), "speaker messages are not answered");

        c.on_room_event(&joined(ROOM, "carol", CAROL, 4, false), 21_000, &mut out);
        let users = stats_for(&out, CAROL);
        // Alice: 3 s finished plus 1 s running; Bob: 7 s; the focus and the
        // joiner are not listed.
        assert_eq!(users["alice"]["totalDominantSpeakerTime"], 4000);
        assert_eq!(users["bob"]["totalDominantSpeakerTime"], 7000);
        assert!(users.get("carol").is_none());
        assert!(users.get("focus").is_none());
        assert_eq!(users["alice"]["facialExpressions"]["happy"], 0);
        assert!(users["alice"].get("displayName").is_none());

        // A repeated message from the current speaker does not restart it.
        muc.add(ROOM, CAROL, "carol");
        c.handle(speak_msg(ALICE, ROOM), 30_000, &muc, &mut out);
        out.clear();
        c.on_room_event(
            &joined(ROOM, "dave", "dave@x/d", 5, false),
            31_000,
            &mut out,
        );
        let users = stats_for(&out, "dave@x/d");
        assert_eq!(users["alice"]["totalDominantSpeakerTime"], 14_000);
        assert_eq!(users["bob"]["totalDominantSpeakerTime"], 7000);
        // Carol never spoke and is present: not listed.
        assert!(users.get("carol").is_none());
    }

    #[test]
    fn departed_users_are_kept_with_their_display_name() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        c.on_room_event(&joined(ROOM, "carol", CAROL, 4, false), 3500, &mut out);
        muc.add(ROOM, CAROL, "carol");

        c.handle(speak_msg(BOB, ROOM), 13_000, &muc, &mut out);
        c.on_room_event(&left(ROOM, "bob", BOB, Some("Bob B")), 14_500, &mut out);
        muc.remove(ROOM, BOB);
        // Carol leaves silent: listed anyway, as departed.
        c.on_room_event(&left(ROOM, "carol", CAROL, Some("Carol")), 15_000, &mut out);
        muc.remove(ROOM, CAROL);
        // A message from a departed user changes nothing.
        c.handle(speak_msg(BOB, ROOM), 16_000, &muc, &mut out);

        out.clear();
        c.on_room_event(&joined(ROOM, "dan", "dan@x/d", 3, false), 50_000, &mut out);
        let users = stats_for(&out, "dan@x/d");
        assert_eq!(
            users["bob"],
            json!({
                "displayName": "Bob B",
                "totalDominantSpeakerTime": 1500,
                "facialExpressions": {"angry": 0, "disgusted": 0, "fearful": 0,
                    "happy": 0, "neutral": 0, "sad": 0, "surprised": 0}
            })
        );
        assert_eq!(users["carol"]["displayName"], "Carol");
        assert_eq!(users["carol"]["totalDominantSpeakerTime"], 0);
        assert!(users.get("alice").is_none());

        // Bob reconnects under the same nick: his totals carry on and he
        // sees them; after that he is present and silent again.
        out.clear();
        c.on_room_event(&joined(ROOM, "bob", BOB, 4, false), 60_000, &mut out);
        let users = stats_for(&out, BOB);
        assert_eq!(users["bob"]["totalDominantSpeakerTime"], 1500);
        muc.add(ROOM, BOB, "bob");
        c.handle(speak_msg(BOB, ROOM), 61_000, &muc, &mut out);
        out.clear();
        c.on_room_event(&joined(ROOM, "eve", "eve@x/e", 5, false), 62_000, &mut out);
        let users = stats_for(&out, "eve@x/e");
        assert_eq!(users["bob"]["totalDominantSpeakerTime"], 2500);
        assert_eq!(users["bob"]["displayName"], "Bob B");
    }

    #[test]
    fn admins_get_no_stats_and_are_not_listed() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        c.handle(speak_msg(ALICE, ROOM), 10_000, &muc, &mut out);
        c.on_room_event(&joined(ROOM, "rec", "jibri@x/r", 4, true), 11_000, &mut out);
        assert!(payloads(&out, SS, "speakerstats").is_empty());
        c.on_room_event(
            &left(ROOM, "rec", "jibri@x/r", Some("Recorder")),
            12_000,
            &mut out,
        );
        c.on_room_event(&joined(ROOM, "zed", "zed@x/z", 4, false), 13_000, &mut out);
        let users = stats_for(&out, "zed@x/z");
        assert!(users.get("rec").is_none());
        assert!(users.get("focus").is_none());
        assert_eq!(users["alice"]["totalDominantSpeakerTime"], 3000);
    }

    #[test]
    fn facial_expressions_accumulate_and_make_a_user_listed() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        c.handle(face_msg(ALICE, ROOM, "happy", "3"), 5000, &muc, &mut out);
        c.handle(face_msg(ALICE, ROOM, "happy", "2"), 6000, &muc, &mut out);
        c.handle(face_msg(ALICE, ROOM, "sad", "1"), 7000, &muc, &mut out);
        c.handle(
            face_msg(ALICE, ROOM, "sad", &u64::MAX.to_string()),
            7000,
            &muc,
            &mut out,
        );
        c.on_room_event(&joined(ROOM, "zed", "zed@x/z", 4, false), 8000, &mut out);
        let users = stats_for(&out, "zed@x/z");
        assert_eq!(users["alice"]["totalDominantSpeakerTime"], 0);
        assert_eq!(users["alice"]["facialExpressions"]["happy"], 5);
        assert_eq!(users["alice"]["facialExpressions"]["sad"], u64::MAX);
        assert!(users.get("bob").is_none());
    }

    #[test]
    fn unknown_rooms_and_non_occupants_are_ignored() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        c.handle(
            speak_msg(ALICE, "other@conference.example.org"),
            10_000,
            &muc,
            &mut out,
        );
        c.handle(speak_msg("mallory@x/m", ROOM), 10_000, &muc, &mut out);
        c.handle(
            face_msg("mallory@x/m", ROOM, "happy", "9"),
            10_000,
            &muc,
            &mut out,
        );
        // A room the MUC knows but that had no events: nobody is in it.
        muc.rooms.push("empty@conference.example.org".into());
        c.handle(
            speak_msg(ALICE, "empty@conference.example.org"),
            10_000,
            &muc,
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(c.room_count(), 1);
        c.on_room_event(&joined(ROOM, "zed", "zed@x/z", 4, false), 20_000, &mut out);
        assert_eq!(stats_for(&out, "zed@x/z"), json!({}));
        // Left for a room without state creates none.
        c.on_room_event(
            &left("ghost@conference.example.org", "a", ALICE, None),
            1,
            &mut out,
        );
        assert_eq!(c.room_count(), 1);
    }

    #[test]
    fn room_attribute_goes_through_the_directory_mapping() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        c.handle(
            speak_msg(ALICE, "[t]ROOM@conference.example.org"),
            1000,
            &muc,
            &mut out,
        );
        c.on_room_event(&joined(ROOM, "zed", "zed@x/z", 4, false), 4000, &mut out);
        assert_eq!(
            stats_for(&out, "zed@x/z")["alice"]["totalDominantSpeakerTime"],
            3000
        );
    }

    #[test]
    fn hostile_input_never_panics_nor_changes_state() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        // Just under the parser's token limit (xml::MAX_TOKEN): the largest
        // attribute that can reach a component.
        let huge = "x".repeat(30_000);
        let jm = NS_JITMEET;
        // (stanza name, stanza namespace, extra attributes, payload)
        let env = |name: &str, ns: &str, attrs: &str, payload: &str| {
            format!("<{name} xmlns='{ns}' {attrs}>{payload}</{name}>")
        };
        let to_ss = format!("from='{ALICE}' to='{SS}'");
        let speak = |room_attr: &str| format!("<speakerstats xmlns='{jm}' {room_attr}/>");
        let good_speak = speak(&format!("room='{ROOM}'"));
        let face = |attrs: &str| format!("<facialExpression xmlns='{jm}' {attrs}/>");
        let room = format!("room='{ROOM}'");
        let mut stanzas = vec![
            // missing / empty / huge room attribute, huge sender
            env("message", NS_CLIENT, &to_ss, &speak("")),
            env("message", NS_CLIENT, &to_ss, &speak("room=''")),
            env(
                "message",
                NS_CLIENT,
                &to_ss,
                &speak(&format!("room='{huge}'")),
            ),
            env(
                "message",
                NS_CLIENT,
                &format!("from='{huge}' to='{SS}'"),
                &good_speak,
            ),
            // wrong namespaces: payload, and the stanza itself
            env(
                "message",
                NS_CLIENT,
                &to_ss,
                &format!("<speakerstats xmlns='urn:x' {room}/>"),
            ),
            env("message", "jabber:server", &to_ss, &good_speak),
            env("message", "jabber:component:accept", &to_ss, &good_speak),
            // no sender, an error message, the wrong component or domain
            env("message", NS_CLIENT, &format!("to='{SS}'"), &good_speak),
            env(
                "message",
                NS_CLIENT,
                &format!("type='error' {to_ss}"),
                &good_speak,
            ),
            env(
                "message",
                NS_CLIENT,
                &format!("from='{ALICE}' to='{CD}'"),
                &good_speak,
            ),
            env(
                "message",
                NS_CLIENT,
                &format!("from='{ALICE}' to='x.org'"),
                &good_speak,
            ),
            env(
                "message",
                NS_CLIENT,
                &format!("from='{ALICE}'"),
                &good_speak,
            ),
            env("presence", NS_CLIENT, &to_ss, &good_speak),
            // facial expressions that cannot count
            env(
                "message",
                NS_CLIENT,
                &to_ss,
                &face(&format!("{room} expression='{huge}' duration='1'")),
            ),
            env(
                "message",
                NS_CLIENT,
                &to_ss,
                &face(&format!("{room} duration='1'")),
            ),
            env(
                "message",
                NS_CLIENT,
                &to_ss,
                &face(&format!("{room} expression='happy'")),
            ),
            env(
                "message",
                NS_CLIENT,
                &to_ss,
                &face("expression='happy' duration='1'"),
            ),
            env(
                "message",
                NS_CLIENT,
                &to_ss,
                &format!(
                    "<facialExpression xmlns='urn:x' {room} expression='happy' duration='1'/>"
                ),
            ),
            // JSON-looking junk and an empty message
            env("message", NS_CLIENT, &to_ss, "<body>{\"type\":</body>"),
            env("message", NS_CLIENT, &to_ss, ""),
        ];
        for d in [
            "-5",
            "abc",
            "1e999",
            "NaN",
            "",
            "1.5",
            "99999999999999999999999",
        ] {
            let attrs = format!("{room} expression='happy' duration='{d}'");
            stanzas.push(env("message", NS_CLIENT, &to_ss, &face(&attrs)));
        }
        let mut out = Vec::new();
        for (i, s) in stanzas.iter().enumerate() {
            c.handle(parse(s), 10_000 + i as u64, &muc, &mut out);
        }
        assert!(out.is_empty(), "nothing answered: {out:?}");
        assert_eq!(c.room_count(), 1);
        c.on_room_event(&joined(ROOM, "zed", "zed@x/z", 4, false), 90_000, &mut out);
        assert_eq!(stats_for(&out, "zed@x/z"), json!({}));

        // The same good message is counted, so the cases above were not
        // rejected for some shared reason.
        c.handle(
            parse(&env("message", NS_CLIENT, &to_ss, &good_speak)),
            1,
            &muc,
            &mut out,
        );
        assert_eq!(c.rooms[ROOM].dominant.as_deref(), Some("alice"));
    }

    #[test]
    fn a_clock_stepping_back_does_not_wrap() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        c.handle(speak_msg(ALICE, ROOM), 10_000, &muc, &mut out);
        c.on_room_event(&joined(ROOM, "zed", "zed@x/z", 4, false), 5_000, &mut out);
        assert_eq!(
            stats_for(&out, "zed@x/z")["alice"]["totalDominantSpeakerTime"],
            0
        );
        c.handle(speak_msg(BOB, ROOM), 4_000, &muc, &mut out);
        c.on_room_event(&left(ROOM, "bob", BOB, None), 0, &mut out);
        out.clear();
        c.on_room_event(&joined(ROOM, "y", "y@x/y", 4, false), u64::MAX, &mut out);
        let users = stats_for(&out, "y@x/y");
        // Alice stopped "before" she started: nothing counted, not listed.
        assert!(users.get("alice").is_none());
        assert_eq!(users["bob"]["totalDominantSpeakerTime"], 0);

        // Totals near the top of the range saturate instead of wrapping.
        c.handle(speak_msg(ALICE, ROOM), 0, &muc, &mut out);
        muc.add(ROOM, "y@x/y", "y");
        c.handle(speak_msg("y@x/y", ROOM), u64::MAX - 10, &muc, &mut out);
        c.handle(speak_msg(ALICE, ROOM), 0, &muc, &mut out);
        out.clear();
        c.on_room_event(&joined(ROOM, "w", "w@x/w", 5, false), 100, &mut out);
        let users = stats_for(&out, "w@x/w");
        assert_eq!(users["alice"]["totalDominantSpeakerTime"], u64::MAX);
    }

    #[test]
    fn destroyed_removes_room_state() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        c.handle(speak_msg(ALICE, ROOM), 10_000, &muc, &mut out);
        c.on_room_event(
            &joined("r2@conference.example.org", "a", ALICE, 1, false),
            1,
            &mut out,
        );
        assert_eq!(c.room_count(), 2);
        c.on_room_event(
            &RoomEvent::Destroyed { room: ROOM.into() },
            20_000,
            &mut out,
        );
        assert_eq!(c.room_count(), 1);
        c.on_room_event(
            &RoomEvent::Destroyed {
                room: "r2@conference.example.org".into(),
            },
            20_000,
            &mut out,
        );
        assert_eq!(c.room_count(), 0);

        // A room re-created under the same name starts afresh.
        out.clear();
        c.on_room_event(&joined(ROOM, "focus", FOCUS, 1, true), 30_000, &mut out);
        c.on_room_event(&joined(ROOM, "bob", BOB, 2, false), 31_000, &mut out);
        assert_eq!(stats_for(&out, BOB), json!({}));
        let p = payloads(&out, CD, "conference_duration");
        assert_eq!(p[0].1["created_timestamp"], 31_000);

        // Without any component configured nothing is kept.
        let mut none = JitsiComponents::new(None, None);
        none.on_room_event(&joined(ROOM, "bob", BOB, 2, false), 1, &mut out);
        assert_eq!(none.room_count(), 0);
    }

    #[test]
    fn join_leave_churn_is_bounded() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        // Alice's stats must survive the churn.
        c.handle(speak_msg(ALICE, ROOM), 10_000, &muc, &mut out);
        for i in 0..(MAX_USERS_PER_ROOM + 50) {
            let nick = format!("n{i}");
            c.on_room_event(&joined(ROOM, &nick, "x@y/z", 4, false), 20_000, &mut out);
            c.on_room_event(&left(ROOM, &nick, "x@y/z", Some("N")), 20_000, &mut out);
            out.clear();
        }
        let state = c.rooms.get(ROOM).expect("room state");
        assert!(state.users.len() <= MAX_USERS_PER_ROOM);
        assert!(state.users.contains_key("alice"));
        assert!(state.users.contains_key("bob"));
    }

    #[test]
    fn display_names_are_capped_on_a_char_boundary() {
        let mut c = both();
        let mut muc = FakeMuc::with_room(ROOM);
        room_with_two(&mut c, &mut muc);
        let mut out = Vec::new();
        let name = "é".repeat(10_000);
        c.on_room_event(&left(ROOM, "bob", BOB, Some(&name)), 5000, &mut out);
        c.on_room_event(&joined(ROOM, "zed", "zed@x/z", 3, false), 6000, &mut out);
        let users = stats_for(&out, "zed@x/z");
        let shown = users["bob"]["displayName"].as_str().expect("name");
        assert!(shown.len() <= MAX_DISPLAY_NAME_BYTES);
        assert!(shown.chars().all(|ch| ch == 'é'));
    }

    #[test]
    fn disco_info_is_answered_and_other_iqs_are_refused() {
        let mut c = both();
        let muc = FakeMuc::default();
        let iq = |ty: &str, to: &str, payload: &str| {
            parse(&format!(
                "<iq xmlns='jabber:client' type='{ty}' id='i1' from='{ALICE}' to='{to}'>\
                 {payload}</iq>"
            ))
        };
        let disco = format!("<query xmlns='{NS_DISCO_INFO}'/>");
        for (domain, ty) in [(SS, "speakerstats"), (CD, "conference_duration")] {
            assert!(c.handles_domain(domain));
            assert!(c.handles_domain(&domain.to_ascii_uppercase()));
            let mut out = Vec::new();
            c.handle(iq("get", domain, &disco), 0, &muc, &mut out);
            assert_eq!(out.len(), 1);
            let r = &out[0];
            assert_eq!(r.attr("type"), Some("result"));
            assert_eq!(r.attr("id"), Some("i1"));
            assert_eq!(r.attr("to"), Some(ALICE));
            assert_eq!(r.attr("from"), Some(domain));
            let q = r.get_child("query", NS_DISCO_INFO).expect("query");
            let id = q.get_child("identity", NS_DISCO_INFO).expect("identity");
            assert_eq!(id.attr("category"), Some("component"));
            assert_eq!(id.attr("type"), Some(ty));
            assert!(
                q.children()
                    .any(|f| f.name() == "feature" && f.attr("var") == Some(NS_DISCO_INFO))
            );

            let node_jid = format!("someone@{domain}");
            let with_node = format!("<query xmlns='{NS_DISCO_INFO}' node='x'/>");
            for (stanza, condition) in [
                (
                    iq("get", domain, "<ping xmlns='urn:xmpp:ping'/>"),
                    "service-unavailable",
                ),
                (iq("set", domain, &disco), "service-unavailable"),
                (iq("get", domain, ""), "service-unavailable"),
                (iq("get", &node_jid, &disco), "service-unavailable"),
                (iq("get", domain, &with_node), "item-not-found"),
            ] {
                out.clear();
                c.handle(stanza.clone(), 0, &muc, &mut out);
                assert_eq!(out.len(), 1, "{stanza:?}");
                assert_eq!(out[0].attr("type"), Some("error"));
                let err = out[0].get_child("error", NS_CLIENT).expect("error");
                assert!(err.has_child(condition, NS_STANZAS), "{stanza:?}");
            }
            out.clear();
            for ty in ["result", "error"] {
                c.handle(iq(ty, domain, ""), 0, &muc, &mut out);
            }
            assert!(out.is_empty());
        }
        assert!(!c.handles_domain("example.org"));
        assert!(!JitsiComponents::new(None, None).handles_domain(SS));
    }
}
