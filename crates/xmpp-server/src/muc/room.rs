//! One room: occupants, presence broadcast, groupchat and private
//! messages, subject, history, and IQs routed through occupant JIDs.

use std::collections::{HashMap, VecDeque};

use minidom::Element;

use super::config_form::RoomConfig;
use super::service::Ctx;
use super::{
    Affiliation, NS_DELAY, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, NS_MUC_ADMIN, NS_MUC_OWNER,
    NS_MUC_USER, NS_NICK, NS_PING, Role, RoomEvent,
};
use crate::router::Target;
use crate::stanza::{self, ErrorType, NS_STANZAS, el, remove_attr, set_attr};
use crate::xml::NS_CLIENT;

/// Groupchat messages kept for late joiners (Prosody's default length).
pub(crate) const HISTORY_LEN: usize = 20;
/// Forwarded IQs awaiting a response, per room. The focus talks to every
/// participant through the room, so this is generous; beyond it the oldest
/// mapping is dropped (its response is then dropped too).
pub(crate) const MAX_PENDING_IQS: usize = 4096;
/// A forwarded IQ unanswered for this long is forgotten when space is needed.
const PENDING_TTL_MS: u64 = 120_000;
/// Invitations handled per message; more is abuse, not a use case.
const MAX_INVITES: usize = 10;
/// XEP-0045 §7.2.x: nicks are resourceparts, at most 1023 bytes.
const MAX_NICK_BYTES: usize = 1023;

/// Error conditions that show the occupant's client is gone; an error
/// stanza carrying one (or no condition at all) removes the occupant, as
/// Prosody does, so dead sessions do not linger in rooms.
const KICKABLE_CONDITIONS: &[&str] = &[
    "gone",
    "internal-server-error",
    "item-not-found",
    "jid-malformed",
    "recipient-unavailable",
    "redirect",
    "remote-server-not-found",
    "remote-server-timeout",
    "service-unavailable",
];

/// The sender of a stanza: its real JID (normalised) and bare JID.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    pub real: String,
    pub bare: String,
}

impl Sender {
    pub(crate) fn from_target(t: &Target) -> Self {
        let bare = t.bare();
        let real = match &t.resource {
            Some(r) => format!("{bare}/{r}"),
            None => bare.clone(),
        };
        Self { real, bare }
    }
}

#[derive(Debug)]
pub(crate) struct Occupant {
    /// Room-unique id; the pending-IQ map uses it so nick changes keep
    /// in-flight IQs routable.
    pub id: u64,
    pub nick: String,
    pub real_jid: String,
    pub bare: String,
    pub role: Role,
    /// The room's bare JID in the form this occupant joined with (tenant
    /// form or canonical): everything it receives from the room uses it.
    pub view: String,
    /// Its last available presence's payload, relayed verbatim.
    pub ext: Vec<Element>,
}

impl Occupant {
    pub(crate) fn display_name(&self) -> Option<String> {
        self.ext
            .iter()
            .find(|e| e.is("nick", NS_NICK))
            .map(|e| e.text())
    }
}

/// Key of a forwarded IQ: who answers, who asked, and the id (kept as is,
/// like Prosody; colliding ids from different senders stay apart).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PendingKey {
    pub target: u64,
    pub sender: u64,
    pub id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub text: String,
    /// Nick of whoever set it (the message comes from room/nick).
    pub nick: Option<String>,
}

#[derive(Debug)]
pub(crate) struct HistoryEntry {
    nick: String,
    /// The message without `from`/`to`; they are set per receiver.
    stanza: Element,
    at_ms: u64,
}

/// How much history a joiner asked for (XEP-0045 §7.2.13).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HistoryRequest {
    max: usize,
    since_ms: u64,
}

impl HistoryRequest {
    pub(crate) const NONE: HistoryRequest = HistoryRequest {
        max: 0,
        since_ms: 0,
    };

    fn parse(muc_x: Option<&Element>, now_ms: u64) -> Self {
        let mut req = HistoryRequest {
            max: HISTORY_LEN,
            since_ms: 0,
        };
        let Some(h) = muc_x.and_then(|x| x.get_child("history", NS_MUC)) else {
            return req;
        };
        if let Some(n) = h
            .attr("maxstanzas")
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            req.max = req.max.min(n);
        }
        // maxchars='0' is the common way to ask for no history; other
        // character budgets are not worth counting.
        if h.attr("maxchars").map(str::trim) == Some("0") {
            req.max = 0;
        }
        if let Some(s) = h.attr("seconds").and_then(|v| v.trim().parse::<u64>().ok()) {
            req.since_ms = now_ms.saturating_sub(s.saturating_mul(1000));
        }
        req
    }
}

/// One presence the room sends about an occupant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Notice<'a> {
    pub id: u64,
    pub nick: &'a str,
    pub real_jid: &'a str,
    /// The occupant's own view of the room (for its self-presence).
    pub view: &'a str,
    pub role: Role,
    pub affiliation: Affiliation,
    pub ext: &'a [Element],
    pub unavailable: bool,
    /// Status codes for everyone.
    pub codes: &'a [u16],
    /// Status codes for the occupant itself, besides 110.
    pub self_codes: &'a [u16],
    pub new_nick: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub destroy: Option<&'a Element>,
    /// The triggering stanza's id, echoed in the self-presence.
    pub stanza_id: Option<&'a str>,
}

impl<'a> Notice<'a> {
    pub(crate) fn of(o: &'a Occupant, affiliation: Affiliation) -> Self {
        Notice {
            id: o.id,
            nick: &o.nick,
            real_jid: &o.real_jid,
            view: &o.view,
            role: o.role,
            affiliation,
            ext: &o.ext,
            unavailable: false,
            codes: &[],
            self_codes: &[],
            new_nick: None,
            actor: None,
            reason: None,
            destroy: None,
            stanza_id: None,
        }
    }

    /// The presence for one receiver. `show_jid`: the receiver may see
    /// real JIDs (whois=anyone, or it is a moderator).
    pub(crate) fn presence(
        &self,
        to_view: &str,
        to_real: &str,
        is_self: bool,
        show_jid: bool,
    ) -> Element {
        let from = format!("{to_view}/{}", self.nick);
        let mut p = el("presence", NS_CLIENT, &[("from", &from), ("to", to_real)]);
        if self.unavailable {
            set_attr(&mut p, "type", "unavailable");
        }
        if is_self && let Some(id) = self.stanza_id {
            set_attr(&mut p, "id", id);
        }
        for e in self.ext {
            p.append_child(e.clone());
        }
        let mut x = Element::bare("x", NS_MUC_USER);
        let mut item = el(
            "item",
            NS_MUC_USER,
            &[
                ("affiliation", self.affiliation.as_str()),
                ("role", self.role.as_str()),
            ],
        );
        // One's own real JID is no secret to oneself.
        if show_jid || is_self {
            set_attr(&mut item, "jid", self.real_jid);
        }
        if let Some(n) = self.new_nick {
            set_attr(&mut item, "nick", n);
        }
        if let Some(a) = self.actor {
            item.append_child(el("actor", NS_MUC_USER, &[("nick", a)]));
        }
        if let Some(r) = self.reason {
            item.append_child(text_el("reason", NS_MUC_USER, r));
        }
        x.append_child(item);
        if let Some(d) = self.destroy {
            x.append_child(d.clone());
        }
        let mut codes = self.codes.to_vec();
        if is_self {
            codes.push(110);
            codes.extend_from_slice(self.self_codes);
        }
        codes.sort_unstable();
        codes.dedup();
        for c in codes {
            x.append_child(el("status", NS_MUC_USER, &[("code", &c.to_string())]));
        }
        p.append_child(x);
        p
    }
}

/// How an occupant leaves (a plain leave, kick, ban, error, ...).
#[derive(Debug, Default)]
pub(crate) struct Removal<'a> {
    pub codes: &'a [u16],
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// Payload of the unavailable presence (e.g. its `<status>` text).
    pub ext: Vec<Element>,
    pub stanza_id: Option<&'a str>,
}

#[derive(Debug)]
pub(crate) struct Room {
    /// Canonical bare JID.
    pub jid: String,
    /// In join order: joiners receive the others in this order.
    pub occupants: Vec<Occupant>,
    /// Stored affiliations by bare JID (`none` is not stored).
    pub affiliations: HashMap<String, Affiliation>,
    pub config: RoomConfig,
    /// XEP-0045 §10.1.1: a new room is locked until its owner configures it.
    pub locked: bool,
    pub subject: Option<Subject>,
    pub history: VecDeque<HistoryEntry>,
    pub meeting_id: Option<String>,
    pub pending: HashMap<PendingKey, u64>,
    /// Set by an owner's destroy; the service then drops the room.
    pub destroyed: bool,
    next_id: u64,
}

/// Text child element.
pub(crate) fn text_el(name: &str, ns: &str, text: &str) -> Element {
    let mut e = Element::bare(name, ns);
    e.append_text(text.to_string());
    e
}

/// Answer `stanza` with an error, except where XMPP forbids it: errors are
/// never answered, and of presences only available ones (a join) are.
pub(crate) fn reply_error(
    stanza: &Element,
    etype: ErrorType,
    condition: &str,
    text: Option<&str>,
    out: &mut Vec<Element>,
) {
    if stanza.name() == "presence" && stanza.attr("type").is_some() {
        return;
    }
    if let Some(r) = stanza::error_reply(stanza, etype, condition, text) {
        out.push(r);
    }
}

/// The payload of a presence to relay: everything except MUC's own `<x>`
/// (the join `<x>` carries the password; muc#user `<x>` is ours to add).
pub(crate) fn extensions(presence: &Element) -> Vec<Element> {
    presence
        .children()
        .filter(|c| !(c.is("x", NS_MUC) || c.is("x", NS_MUC_USER)))
        .cloned()
        .collect()
}

/// Nicks arrive resourceprep'ed by the JID parser; this adds the limits
/// that parser does not enforce in every version.
pub(crate) fn valid_nick(nick: &str) -> bool {
    !nick.is_empty() && nick.len() <= MAX_NICK_BYTES && !nick.chars().any(char::is_control)
}

/// The role an occupant gets on entering, or after an affiliation change.
pub(crate) fn default_role(aff: Affiliation, moderated: bool) -> Role {
    match aff {
        Affiliation::Owner | Affiliation::Admin => Role::Moderator,
        Affiliation::Member => Role::Participant,
        Affiliation::None if moderated => Role::Visitor,
        Affiliation::None => Role::Participant,
        Affiliation::Outcast => Role::None,
    }
}

/// An error stanza that shows its sender's client is gone.
fn kickable(stanza: &Element) -> bool {
    let Some(err) = stanza.get_child("error", NS_CLIENT) else {
        return true;
    };
    match err
        .children()
        .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
    {
        None => true,
        Some(c) => KICKABLE_CONDITIONS.contains(&c.name()),
    }
}

/// XEP-0082 date-time (UTC, seconds) for `<delay stamp>`.
pub(crate) fn timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let mut days = secs / 86_400;
    let rem = secs % 86_400;
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    // Whole 400-year cycles first (146097 days each), so any clock value
    // costs at most a few hundred iterations below.
    let mut year = 1970 + days / 146_097 * 400;
    days %= 146_097;
    loop {
        let len = if leap(year) { 366 } else { 365 };
        if days < len {
            break;
        }
        days -= len;
        year += 1;
    }
    let feb = if leap(year) { 29 } else { 28 };
    let mut month = 1u64;
    for len in [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    format!(
        "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
        days + 1,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Room {
    pub(crate) fn new(jid: String, ctx: &Ctx) -> Self {
        Self {
            jid,
            occupants: Vec::new(),
            affiliations: HashMap::new(),
            config: RoomConfig::defaults(ctx.cfg.default_public_jids),
            locked: ctx.cfg.room_locking,
            subject: None,
            history: VecDeque::new(),
            meeting_id: ctx.cfg.meeting_id.then(|| uuid::Uuid::new_v4().to_string()),
            pending: HashMap::new(),
            destroyed: false,
            next_id: 1,
        }
    }

    /// Effective affiliation: service admins own every room.
    pub(crate) fn affiliation(&self, ctx: &Ctx, bare: &str) -> Affiliation {
        if ctx.is_admin(bare) {
            return Affiliation::Owner;
        }
        self.affiliations
            .get(bare)
            .copied()
            .unwrap_or(Affiliation::None)
    }

    pub(crate) fn index_by_real(&self, real: &str) -> Option<usize> {
        self.occupants.iter().position(|o| o.real_jid == real)
    }

    pub(crate) fn index_by_nick(&self, nick: &str) -> Option<usize> {
        self.occupants.iter().position(|o| o.nick == nick)
    }

    pub(crate) fn index_by_id(&self, id: u64) -> Option<usize> {
        self.occupants.iter().position(|o| o.id == id)
    }

    /// Send `n` to every other occupant, then (if `to_self`) to the occupant
    /// it is about.
    pub(crate) fn broadcast(&self, n: &Notice, to_self: bool, out: &mut Vec<Element>) {
        let whois = self.config.whois_anyone;
        for o in self.occupants.iter().filter(|o| o.id != n.id) {
            out.push(n.presence(
                &o.view,
                &o.real_jid,
                false,
                whois || o.role == Role::Moderator,
            ));
        }
        if to_self {
            out.push(n.presence(n.view, n.real_jid, true, true));
        }
    }

    /// Re-announce an occupant (after a role or affiliation change).
    pub(crate) fn announce(
        &self,
        ctx: &Ctx,
        idx: usize,
        reason: Option<&str>,
        out: &mut Vec<Element>,
    ) {
        if let Some(o) = self.occupants.get(idx) {
            let n = Notice {
                reason,
                ..Notice::of(o, self.affiliation(ctx, &o.bare))
            };
            self.broadcast(&n, true, out);
        }
    }

    /// Take an occupant out: unavailable to everyone (self with 110), its
    /// pending IQs forgotten, `Left` emitted.
    pub(crate) fn remove_at(
        &mut self,
        ctx: &Ctx,
        idx: usize,
        r: Removal,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        if idx >= self.occupants.len() {
            return;
        }
        let occ = self.occupants.remove(idx);
        let n = Notice {
            role: Role::None,
            ext: &r.ext,
            unavailable: true,
            codes: r.codes,
            actor: r.actor,
            reason: r.reason,
            stanza_id: r.stanza_id,
            ..Notice::of(&occ, self.affiliation(ctx, &occ.bare))
        };
        self.broadcast(&n, true, out);
        self.pending
            .retain(|k, _| k.target != occ.id && k.sender != occ.id);
        events.push(RoomEvent::Left {
            room: self.jid.clone(),
            display_name: occ.display_name(),
            nick: occ.nick,
            real_jid: occ.real_jid,
        });
    }

    /// A presence to `room/nick`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn presence_to_occupant(
        &mut self,
        ctx: &Ctx,
        stanza: &Element,
        sender: &Sender,
        view: &str,
        nick: &str,
        created: bool,
        now_ms: u64,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let idx = self.index_by_real(&sender.real);
        match (stanza.attr("type"), idx) {
            // Prosody's rule: an occupant whose client bounces presence is gone.
            (Some("error"), Some(i)) => self.remove_at(
                ctx,
                i,
                Removal {
                    codes: &[333],
                    ..Removal::default()
                },
                out,
                events,
            ),
            (Some("unavailable"), Some(i)) => self.remove_at(
                ctx,
                i,
                Removal {
                    ext: extensions(stanza),
                    stanza_id: stanza.attr("id"),
                    ..Removal::default()
                },
                out,
                events,
            ),
            (None, Some(i)) => self.occupant_presence(ctx, stanza, i, nick, out),
            (None, None) => self.join(
                ctx, stanza, sender, view, nick, created, now_ms, out, events,
            ),
            // Subscriptions, probes, stray unavailables and errors.
            _ => {}
        }
    }

    /// A presence to the room's bare JID.
    pub(crate) fn presence_to_room(
        &mut self,
        ctx: &Ctx,
        stanza: &Element,
        sender: &Sender,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        match (stanza.attr("type"), self.index_by_real(&sender.real)) {
            (Some("error"), Some(i)) => self.remove_at(
                ctx,
                i,
                Removal {
                    codes: &[333],
                    ..Removal::default()
                },
                out,
                events,
            ),
            // XEP-0045 §7.2.1: joining needs a nick.
            (None, _) => reply_error(stanza, ErrorType::Modify, "jid-malformed", None, out),
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        ctx: &Ctx,
        stanza: &Element,
        sender: &Sender,
        view: &str,
        nick: &str,
        created: bool,
        now_ms: u64,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let aff = self.affiliation(ctx, &sender.bare);
        let muc_x = stanza.get_child("x", NS_MUC);
        // Checks in an order that leaks least: nothing about the occupants
        // (nick conflicts) before the password and membership checks pass.
        if self.locked && aff != Affiliation::Owner {
            return reply_error(
                stanza,
                ErrorType::Cancel,
                "item-not-found",
                Some("This room is locked"),
                out,
            );
        }
        if aff == Affiliation::Outcast {
            return reply_error(
                stanza,
                ErrorType::Auth,
                "forbidden",
                Some("You are banned from this room"),
                out,
            );
        }
        if self.config.members_only && aff.rank() < Affiliation::Member.rank() {
            return reply_error(stanza, ErrorType::Auth, "registration-required", None, out);
        }
        if let Some(pw) = self.config.password()
            && !ctx.is_admin(&sender.bare)
        {
            let given = muc_x
                .and_then(|x| x.get_child("password", NS_MUC))
                .map(|p| p.text());
            if given.as_deref() != Some(pw) {
                return reply_error(stanza, ErrorType::Auth, "not-authorized", None, out);
            }
        }
        if self.index_by_nick(nick).is_some() {
            return reply_error(stanza, ErrorType::Cancel, "conflict", None, out);
        }
        if let Some(max) = self.config.max_users
            && self.occupants.len() >= max as usize
            && aff.rank() < Affiliation::Admin.rank()
        {
            return reply_error(stanza, ErrorType::Cancel, "service-unavailable", None, out);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.occupants.push(Occupant {
            id,
            nick: nick.to_string(),
            real_jid: sender.real.clone(),
            bare: sender.bare.clone(),
            role: default_role(aff, self.config.moderated),
            view: view.to_string(),
            ext: extensions(stanza),
        });
        let idx = self.occupants.len() - 1;
        let history = HistoryRequest::parse(muc_x, now_ms);
        self.join_sequence(ctx, idx, created, stanza.attr("id"), history, out);
        events.push(RoomEvent::Joined {
            room: self.jid.clone(),
            nick: nick.to_string(),
            real_jid: sender.real.clone(),
            occupants: self.occupants.len(),
            is_admin: ctx.is_admin(&sender.bare),
        });
    }

    /// What a (re)joining occupant receives, in XEP-0045 §7.2 order: the
    /// others' presences, its own presence (to the others, then to itself),
    /// history, subject.
    fn join_sequence(
        &self,
        ctx: &Ctx,
        idx: usize,
        created: bool,
        stanza_id: Option<&str>,
        history: HistoryRequest,
        out: &mut Vec<Element>,
    ) {
        let Some(new) = self.occupants.get(idx) else {
            return;
        };
        let whois = self.config.whois_anyone;
        let sees_jids = whois || new.role == Role::Moderator;
        for o in self.occupants.iter().filter(|o| o.id != new.id) {
            let n = Notice::of(o, self.affiliation(ctx, &o.bare));
            out.push(n.presence(&new.view, &new.real_jid, false, sees_jids));
        }
        let mut self_codes = Vec::new();
        if whois {
            self_codes.push(100);
        }
        if created {
            self_codes.push(201);
        }
        let n = Notice {
            self_codes: &self_codes,
            stanza_id,
            ..Notice::of(new, self.affiliation(ctx, &new.bare))
        };
        self.broadcast(&n, true, out);
        self.send_history(new, history, out);
        self.send_subject(new, out);
    }

    fn send_history(&self, to: &Occupant, req: HistoryRequest, out: &mut Vec<Element>) {
        if req.max == 0 {
            return;
        }
        let fresh: Vec<&HistoryEntry> = self
            .history
            .iter()
            .filter(|h| h.at_ms >= req.since_ms)
            .collect();
        let skip = fresh.len().saturating_sub(req.max);
        for h in fresh.into_iter().skip(skip) {
            let mut m = h.stanza.clone();
            set_attr(&mut m, "from", &format!("{}/{}", to.view, h.nick));
            set_attr(&mut m, "to", &to.real_jid);
            m.append_child(el(
                "delay",
                NS_DELAY,
                &[("stamp", &timestamp(h.at_ms)), ("from", &to.view)],
            ));
            out.push(m);
        }
    }

    /// The subject (empty when none is set, as XEP-0045 §7.2.15 allows).
    fn send_subject(&self, to: &Occupant, out: &mut Vec<Element>) {
        let from = match self.subject.as_ref().and_then(|s| s.nick.as_deref()) {
            Some(n) => format!("{}/{n}", to.view),
            None => to.view.clone(),
        };
        let mut m = el(
            "message",
            NS_CLIENT,
            &[("type", "groupchat"), ("from", &from), ("to", &to.real_jid)],
        );
        let text = self.subject.as_ref().map(|s| s.text.as_str()).unwrap_or("");
        m.append_child(text_el("subject", NS_CLIENT, text));
        out.push(m);
    }

    /// An available presence from an occupant: an update, a re-join, or a
    /// nick change.
    fn occupant_presence(
        &mut self,
        ctx: &Ctx,
        stanza: &Element,
        idx: usize,
        nick: &str,
        out: &mut Vec<Element>,
    ) {
        let Some(occ) = self.occupants.get_mut(idx) else {
            return;
        };
        if occ.nick == nick {
            occ.ext = extensions(stanza);
            if stanza.get_child("x", NS_MUC).is_some() {
                // A join from someone already in: resend the room's state
                // (a client that lost track resyncs this way).
                self.join_sequence(
                    ctx,
                    idx,
                    false,
                    stanza.attr("id"),
                    HistoryRequest::NONE,
                    out,
                );
            } else if let Some(o) = self.occupants.get(idx) {
                let n = Notice {
                    stanza_id: stanza.attr("id"),
                    ..Notice::of(o, self.affiliation(ctx, &o.bare))
                };
                self.broadcast(&n, true, out);
            }
            return;
        }
        if self.index_by_nick(nick).is_some() {
            return reply_error(stanza, ErrorType::Cancel, "conflict", None, out);
        }
        // XEP-0045 §7.6: unavailable with 303 and the new nick, then the
        // presence under the new nick.
        if let Some(o) = self.occupants.get(idx) {
            let n = Notice {
                ext: &[],
                unavailable: true,
                codes: &[303],
                new_nick: Some(nick),
                ..Notice::of(o, self.affiliation(ctx, &o.bare))
            };
            self.broadcast(&n, true, out);
        }
        if let Some(o) = self.occupants.get_mut(idx) {
            o.nick = nick.to_string();
            o.ext = extensions(stanza);
        }
        if let Some(o) = self.occupants.get(idx) {
            let n = Notice {
                stanza_id: stanza.attr("id"),
                ..Notice::of(o, self.affiliation(ctx, &o.bare))
            };
            self.broadcast(&n, true, out);
        }
    }

    /// A message to the room's bare JID.
    pub(crate) fn message_to_room(
        &mut self,
        ctx: &Ctx,
        stanza: &Element,
        sender: &Sender,
        now_ms: u64,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let idx = self.index_by_real(&sender.real);
        match stanza.attr("type") {
            Some("error") => {
                if let Some(i) = idx
                    && kickable(stanza)
                {
                    let r = Removal {
                        codes: &[333],
                        ..Removal::default()
                    };
                    self.remove_at(ctx, i, r, out, events);
                }
            }
            Some("groupchat") => self.groupchat(stanza, idx, now_ms, out),
            _ => self.invite(ctx, stanza, sender, idx, out),
        }
    }

    fn groupchat(
        &mut self,
        stanza: &Element,
        idx: Option<usize>,
        now_ms: u64,
        out: &mut Vec<Element>,
    ) {
        let Some(occ) = idx.and_then(|i| self.occupants.get(i)) else {
            return reply_error(
                stanza,
                ErrorType::Modify,
                "not-acceptable",
                Some("You are not currently connected to this chat"),
                out,
            );
        };
        if matches!(occ.role, Role::Visitor | Role::None) {
            return reply_error(stanza, ErrorType::Auth, "forbidden", None, out);
        }
        let nick = occ.nick.clone();
        let is_moderator = occ.role == Role::Moderator;
        let has_body = stanza.get_child("body", NS_CLIENT).is_some();
        if let Some(subject) = stanza.get_child("subject", NS_CLIENT)
            && !has_body
        {
            if !is_moderator && !self.config.change_subject {
                return reply_error(
                    stanza,
                    ErrorType::Auth,
                    "forbidden",
                    Some("Only moderators may change the subject"),
                    out,
                );
            }
            let text = subject.text();
            self.subject = (!text.is_empty()).then(|| Subject {
                text,
                nick: Some(nick.clone()),
            });
        }
        let mut template = stanza.clone();
        remove_attr(&mut template, "from");
        remove_attr(&mut template, "to");
        for o in &self.occupants {
            let mut m = template.clone();
            set_attr(&mut m, "from", &format!("{}/{nick}", o.view));
            set_attr(&mut m, "to", &o.real_jid);
            out.push(m);
        }
        if has_body {
            self.history.push_back(HistoryEntry {
                nick,
                stanza: template,
                at_ms: now_ms,
            });
            while self.history.len() > HISTORY_LEN {
                self.history.pop_front();
            }
        }
    }

    /// XEP-0045 §7.8.2 mediated invitations; any other non-groupchat
    /// message to the room is refused.
    fn invite(
        &self,
        ctx: &Ctx,
        stanza: &Element,
        sender: &Sender,
        idx: Option<usize>,
        out: &mut Vec<Element>,
    ) {
        let invites: Vec<&Element> = stanza
            .get_child("x", NS_MUC_USER)
            .map(|x| {
                x.children()
                    .filter(|c| c.is("invite", NS_MUC_USER))
                    .take(MAX_INVITES)
                    .collect()
            })
            .unwrap_or_default();
        if invites.is_empty() {
            return reply_error(stanza, ErrorType::Modify, "bad-request", None, out);
        }
        let Some(occ) = idx.and_then(|i| self.occupants.get(i)) else {
            return reply_error(stanza, ErrorType::Modify, "not-acceptable", None, out);
        };
        if self.config.members_only
            && self.affiliation(ctx, &sender.bare).rank() < Affiliation::Admin.rank()
        {
            return reply_error(stanza, ErrorType::Auth, "forbidden", None, out);
        }
        let mut targets = Vec::with_capacity(invites.len());
        for inv in &invites {
            match inv.attr("to").and_then(Target::parse) {
                Some(t) => targets.push((Sender::from_target(&t).real, *inv)),
                None => return reply_error(stanza, ErrorType::Modify, "jid-malformed", None, out),
            }
        }
        for (to, inv) in targets {
            let mut m = el("message", NS_CLIENT, &[("from", &occ.view), ("to", &to)]);
            let mut x = Element::bare("x", NS_MUC_USER);
            let mut i = el("invite", NS_MUC_USER, &[("from", &sender.bare)]);
            if let Some(r) = inv.get_child("reason", NS_MUC_USER) {
                i.append_child(text_el("reason", NS_MUC_USER, &r.text()));
            }
            x.append_child(i);
            if let Some(pw) = self.config.password() {
                x.append_child(text_el("password", NS_MUC_USER, pw));
            }
            m.append_child(x);
            out.push(m);
        }
    }

    /// A message to `room/nick`: a private message between occupants.
    pub(crate) fn message_to_occupant(
        &mut self,
        ctx: &Ctx,
        stanza: &Element,
        sender: &Sender,
        nick: &str,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let si = self.index_by_real(&sender.real);
        if stanza.attr("type") == Some("error") {
            let Some(si) = si else {
                return;
            };
            if kickable(stanza) {
                let r = Removal {
                    codes: &[333],
                    ..Removal::default()
                };
                return self.remove_at(ctx, si, r, out, events);
            }
            return self.relay(si, nick, stanza, false, out);
        }
        let Some(si) = si else {
            return reply_error(
                stanza,
                ErrorType::Modify,
                "not-acceptable",
                Some("You are not currently connected to this chat"),
                out,
            );
        };
        if stanza.attr("type") == Some("groupchat") {
            return reply_error(stanza, ErrorType::Modify, "bad-request", None, out);
        }
        if self.index_by_nick(nick).is_none() {
            return reply_error(stanza, ErrorType::Cancel, "item-not-found", None, out);
        }
        self.relay(si, nick, stanza, true, out);
    }

    /// Deliver a stanza from occupant `si` to the occupant `nick`, from the
    /// sender's occupant JID (in the receiver's view of the room).
    fn relay(&self, si: usize, nick: &str, stanza: &Element, mark: bool, out: &mut Vec<Element>) {
        let (Some(s), Some(t)) = (
            self.occupants.get(si),
            self.index_by_nick(nick).and_then(|i| self.occupants.get(i)),
        ) else {
            return;
        };
        let mut m = stanza.clone();
        set_attr(&mut m, "from", &format!("{}/{}", t.view, s.nick));
        set_attr(&mut m, "to", &t.real_jid);
        // XEP-0045 §7.5: mark private messages as MUC ones.
        if mark && !m.has_child("x", NS_MUC_USER) {
            m.append_child(Element::bare("x", NS_MUC_USER));
        }
        out.push(m);
    }

    /// An IQ to `room/nick`: forwarded between occupants both ways.
    pub(crate) fn iq_to_occupant(
        &mut self,
        stanza: &Element,
        sender: &Sender,
        nick: &str,
        now_ms: u64,
        out: &mut Vec<Element>,
    ) {
        let si = self.index_by_real(&sender.real);
        match stanza.attr("type") {
            Some("get") | Some("set") => {
                let Some(s) = si.and_then(|i| self.occupants.get(i)) else {
                    return reply_error(
                        stanza,
                        ErrorType::Cancel,
                        "not-acceptable",
                        Some("You are not currently connected to this chat"),
                        out,
                    );
                };
                let Some(id) = stanza.attr("id") else {
                    return reply_error(stanza, ErrorType::Modify, "bad-request", None, out);
                };
                let Some(t) = self.index_by_nick(nick).and_then(|i| self.occupants.get(i)) else {
                    return reply_error(stanza, ErrorType::Cancel, "item-not-found", None, out);
                };
                // XEP-0410: a ping to one's own occupant JID says "still joined".
                if s.id == t.id
                    && stanza.attr("type") == Some("get")
                    && stanza.has_child("ping", NS_PING)
                {
                    out.push(stanza::iq_result(stanza, None));
                    return;
                }
                let key = PendingKey {
                    target: t.id,
                    sender: s.id,
                    id: id.to_string(),
                };
                let mut fwd = stanza.clone();
                set_attr(&mut fwd, "from", &format!("{}/{}", t.view, s.nick));
                set_attr(&mut fwd, "to", &t.real_jid);
                out.push(fwd);
                self.remember(key, now_ms);
            }
            Some("result") | Some("error") => {
                // A response from the target, addressed to the asker's
                // occupant JID; only answers to IQs we forwarded pass.
                let Some(r) = si.and_then(|i| self.occupants.get(i)) else {
                    return;
                };
                let Some(asker) = self.index_by_nick(nick).and_then(|i| self.occupants.get(i))
                else {
                    return;
                };
                let key = PendingKey {
                    target: r.id,
                    sender: asker.id,
                    id: stanza.attr("id").unwrap_or_default().to_string(),
                };
                if self.pending.remove(&key).is_none() {
                    return;
                }
                let mut fwd = stanza.clone();
                set_attr(&mut fwd, "from", &format!("{}/{}", asker.view, r.nick));
                set_attr(&mut fwd, "to", &asker.real_jid);
                out.push(fwd);
            }
            _ => reply_error(stanza, ErrorType::Modify, "bad-request", None, out),
        }
    }

    fn remember(&mut self, key: PendingKey, now_ms: u64) {
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING_IQS {
            let cutoff = now_ms.saturating_sub(PENDING_TTL_MS);
            self.pending.retain(|_, at| *at >= cutoff);
            if self.pending.len() >= MAX_PENDING_IQS
                && let Some(oldest) = self
                    .pending
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
            {
                self.pending.remove(&oldest);
            }
        }
        self.pending.insert(key, now_ms);
    }

    /// An IQ to the room's bare JID.
    pub(crate) fn iq_to_room(
        &mut self,
        ctx: &Ctx,
        stanza: &Element,
        sender: &Sender,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let itype = stanza.attr("type");
        match itype {
            Some("get") | Some("set") => {}
            Some("result") | Some("error") => return,
            _ => return reply_error(stanza, ErrorType::Modify, "bad-request", None, out),
        }
        let mut payloads = stanza.children();
        let (Some(payload), None) = (payloads.next(), payloads.next()) else {
            return reply_error(stanza, ErrorType::Modify, "bad-request", None, out);
        };
        let is_owner = self.affiliation(ctx, &sender.bare) == Affiliation::Owner;
        let get = itype == Some("get");
        match (payload.name(), payload.ns().as_str()) {
            ("query", NS_DISCO_INFO) | ("query", NS_DISCO_ITEMS) if get => {
                // A locked room does not exist for anyone but its owners;
                // nodes (reserved nicks, ...) are not offered.
                if (self.locked && !is_owner) || payload.attr("node").is_some() {
                    return reply_error(stanza, ErrorType::Cancel, "item-not-found", None, out);
                }
                let q = if payload.ns() == NS_DISCO_INFO {
                    super::disco::room_info(self)
                } else {
                    Element::bare("query", NS_DISCO_ITEMS)
                };
                out.push(stanza::iq_result(stanza, Some(q)));
            }
            ("query", NS_MUC_ADMIN) => self.admin_iq(ctx, stanza, payload, sender, out, events),
            ("query", NS_MUC_OWNER) => self.owner_iq(ctx, stanza, payload, sender, out, events),
            ("ping", NS_PING) if get => out.push(stanza::iq_result(stanza, None)),
            _ => reply_error(stanza, ErrorType::Cancel, "service-unavailable", None, out),
        }
    }

    /// A status-code message from the room to every occupant (104, ...).
    pub(crate) fn status_message(&self, codes: &[u16], out: &mut Vec<Element>) {
        for o in &self.occupants {
            let mut m = el(
                "message",
                NS_CLIENT,
                &[
                    ("type", "groupchat"),
                    ("from", &o.view),
                    ("to", &o.real_jid),
                ],
            );
            let mut x = Element::bare("x", NS_MUC_USER);
            for c in codes {
                x.append_child(el("status", NS_MUC_USER, &[("code", &c.to_string())]));
            }
            m.append_child(x);
            out.push(m);
        }
    }
}
