//! The MUC service: addressing, dispatch to rooms, room creation and
//! teardown, and the service's own IQs.

use std::collections::{HashMap, HashSet};

use minidom::Element;

use super::disco;
use super::mapper::{Addr, Mapper};
use super::room::{Room, Sender, reply_error, valid_nick};
use super::{
    Affiliation, MucConfig, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, OccupantInfo, RoomEvent,
};
use crate::router::Target;
use crate::stanza::{self, ErrorType, Kind};

/// What every room needs to know about the service.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub cfg: MucConfig,
    admins: HashSet<String>,
    pub mapper: Mapper,
}

impl Ctx {
    pub(crate) fn is_admin(&self, bare: &str) -> bool {
        self.admins.contains(bare)
    }
}

/// Rooms one service holds at most: one user could otherwise create rooms
/// without end by joining them.
pub(crate) const MAX_ROOMS: usize = 100_000;

/// A XEP-0045 service; see the module documentation.
#[derive(Debug)]
pub struct MucService {
    ctx: Ctx,
    /// Rooms by canonical bare JID. Nothing else holds per-room state.
    rooms: HashMap<String, Room>,
    max_rooms: usize,
}

impl MucService {
    pub fn new(cfg: MucConfig) -> Self {
        let admins = cfg
            .admins
            .iter()
            .map(|a| Target::parse(a).map_or_else(|| a.to_lowercase(), |t| t.bare()))
            .collect();
        let mapper = Mapper::new(&cfg.domain, cfg.mapper_base.as_deref());
        Self {
            ctx: Ctx {
                cfg,
                admins,
                mapper,
            },
            rooms: HashMap::new(),
            max_rooms: MAX_ROOMS,
        }
    }

    #[cfg(test)]
    pub(crate) fn set_max_rooms(&mut self, n: usize) {
        self.max_rooms = n;
    }

    /// One stanza addressed to the service domain, a room, or an occupant
    /// (also in the tenant form when `mapper_base` is set). `from` is the
    /// sender's real full JID, already validated by the server.
    pub fn handle(
        &mut self,
        stanza: Element,
        now_ms: u64,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let Some(kind) = stanza::kind(&stanza) else {
            return;
        };
        // Without a sender there is nobody to answer or to act for.
        let Some(from) = stanza.attr("from").and_then(Target::parse) else {
            return;
        };
        let sender = Sender::from_target(&from);
        let Some(to) = stanza.attr("to").and_then(Target::parse) else {
            // Includes nicks the JID rules refuse (controls, too long, ...).
            return reply_error(&stanza, ErrorType::Modify, "jid-malformed", None, out);
        };
        let Some(addr) = self.ctx.mapper.resolve(to.node.as_deref(), &to.domain) else {
            return reply_error(&stanza, ErrorType::Cancel, "item-not-found", None, out);
        };
        match addr {
            Addr::Service { tenant } => self.handle_service(kind, &stanza, tenant.as_deref(), out),
            Addr::Room { key, view } => {
                if let Some(nick) = &to.resource
                    && !valid_nick(nick)
                {
                    return reply_error(&stanza, ErrorType::Modify, "jid-malformed", None, out);
                }
                self.handle_room(
                    kind,
                    &stanza,
                    &sender,
                    key,
                    &view,
                    to.resource.as_deref(),
                    now_ms,
                    out,
                    events,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_room(
        &mut self,
        kind: Kind,
        stanza: &Element,
        sender: &Sender,
        key: String,
        view: &str,
        nick: Option<&str>,
        now_ms: u64,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let ctx = &self.ctx;
        let Some(room) = self.rooms.get_mut(&key) else {
            return self.no_such_room(kind, stanza, sender, key, view, nick, now_ms, out, events);
        };
        match (kind, nick) {
            (Kind::Presence, Some(n)) => {
                room.presence_to_occupant(ctx, stanza, sender, view, n, false, now_ms, out, events)
            }
            (Kind::Presence, None) => room.presence_to_room(ctx, stanza, sender, out, events),
            (Kind::Message, Some(n)) => {
                room.message_to_occupant(ctx, stanza, sender, n, out, events)
            }
            (Kind::Message, None) => room.message_to_room(ctx, stanza, sender, now_ms, out, events),
            (Kind::Iq, Some(n)) => room.iq_to_occupant(stanza, sender, n, now_ms, out),
            (Kind::Iq, None) => room.iq_to_room(ctx, stanza, sender, out, events),
        }
        self.reap(&key, events);
    }

    /// A stanza for a room that does not exist: an available presence to
    /// room/nick creates it; anything else is item-not-found.
    #[allow(clippy::too_many_arguments)]
    fn no_such_room(
        &mut self,
        kind: Kind,
        stanza: &Element,
        sender: &Sender,
        key: String,
        view: &str,
        nick: Option<&str>,
        now_ms: u64,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let (Kind::Presence, Some(nick), None) = (kind, nick, stanza.attr("type")) else {
            return reply_error(stanza, ErrorType::Cancel, "item-not-found", None, out);
        };
        if self.ctx.cfg.restrict_room_creation && !self.ctx.is_admin(&sender.bare) {
            return reply_error(
                stanza,
                ErrorType::Cancel,
                "not-allowed",
                Some("Room creation is restricted"),
                out,
            );
        }
        if self.rooms.len() >= self.max_rooms {
            return reply_error(
                stanza,
                ErrorType::Wait,
                "resource-constraint",
                Some("Too many rooms"),
                out,
            );
        }
        let mut room = Room::new(key.clone(), &self.ctx);
        room.affiliations
            .insert(sender.bare.clone(), Affiliation::Owner);
        room.presence_to_occupant(
            &self.ctx, stanza, sender, view, nick, true, now_ms, out, events,
        );
        // The room only exists if its creator got in.
        if !room.occupants.is_empty() {
            self.rooms.insert(key, room);
        }
    }

    /// Drop a room that was destroyed or emptied (unless persistent): no
    /// state stays behind.
    fn reap(&mut self, key: &str, events: &mut Vec<RoomEvent>) {
        let gone = self
            .rooms
            .get(key)
            .is_some_and(|r| r.destroyed || (r.occupants.is_empty() && !r.config.persistent));
        if gone {
            self.rooms.remove(key);
            events.push(RoomEvent::Destroyed {
                room: key.to_string(),
            });
        }
    }

    /// Stanzas to the service domain itself (or a tenant's form of it).
    fn handle_service(
        &self,
        kind: Kind,
        stanza: &Element,
        tenant: Option<&str>,
        out: &mut Vec<Element>,
    ) {
        match kind {
            Kind::Presence => {}
            Kind::Message => {
                reply_error(stanza, ErrorType::Cancel, "service-unavailable", None, out)
            }
            Kind::Iq => {
                let get = match stanza.attr("type") {
                    Some("get") => true,
                    Some("set") => false,
                    Some("result") | Some("error") => return,
                    _ => return reply_error(stanza, ErrorType::Modify, "bad-request", None, out),
                };
                let payload = stanza.children().next();
                let (name, ns) = payload.map_or((String::new(), String::new()), |p| {
                    (p.name().to_string(), p.ns())
                });
                let has_node = payload.is_some_and(|p| p.attr("node").is_some());
                match (get, name.as_str(), ns.as_str()) {
                    (true, "query", NS_DISCO_INFO | NS_DISCO_ITEMS) if has_node => {
                        reply_error(stanza, ErrorType::Cancel, "item-not-found", None, out)
                    }
                    (true, "query", NS_DISCO_INFO) => {
                        out.push(stanza::iq_result(stanza, Some(disco::service_info())))
                    }
                    (true, "query", NS_DISCO_ITEMS) => {
                        let q = self.service_items(tenant);
                        out.push(stanza::iq_result(stanza, Some(q)));
                    }
                    (true, "ping", NS_PING) => out.push(stanza::iq_result(stanza, None)),
                    _ => reply_error(stanza, ErrorType::Cancel, "service-unavailable", None, out),
                }
            }
        }
    }

    /// The public rooms: all of them in canonical form on the service
    /// domain, a tenant's own in tenant form on the tenant's domain.
    fn service_items(&self, tenant: Option<&str>) -> Element {
        let mapper = &self.ctx.mapper;
        match tenant {
            None => disco::service_items(self.rooms.iter().map(|(k, r)| (k.clone(), r))),
            Some(t) => disco::service_items(
                self.rooms
                    .iter()
                    .filter_map(|(k, r)| mapper.tenant_view(k, t).map(|v| (v, r))),
            ),
        }
    }

    /// Canonical bare room JID for a room address in either form (None if
    /// not ours). A resource, if any, is ignored.
    pub fn canonical_room(&self, room_jid: &str) -> Option<String> {
        let t = Target::parse(room_jid)?;
        match self.ctx.mapper.resolve(t.node.as_deref(), &t.domain)? {
            Addr::Room { key, .. } => Some(key),
            Addr::Service { .. } => None,
        }
    }

    fn room(&self, room: &str) -> Option<&Room> {
        self.rooms.get(&self.canonical_room(room)?)
    }

    fn info(&self, room: &Room, o: &super::room::Occupant) -> OccupantInfo {
        OccupantInfo {
            nick: o.nick.clone(),
            real_jid: o.real_jid.clone(),
            role: o.role,
            affiliation: room.affiliation(&self.ctx, &o.bare),
            display_name: o.display_name(),
        }
    }

    /// The occupant of `room` (either form) with this real JID; a bare
    /// `real_jid` matches that account's first occupant.
    pub fn occupant_by_real_jid(&self, room: &str, real_jid: &str) -> Option<OccupantInfo> {
        let r = self.room(room)?;
        let who = Sender::from_target(&Target::parse(real_jid)?);
        let bare_only = !real_jid.contains('/');
        let o = r.occupants.iter().find(|o| {
            if bare_only {
                o.bare == who.bare
            } else {
                o.real_jid == who.real
            }
        })?;
        Some(self.info(r, o))
    }

    /// Occupants of `room` (either form), in join order.
    pub fn occupants(&self, room: &str) -> Vec<OccupantInfo> {
        self.room(room)
            .map(|r| r.occupants.iter().map(|o| self.info(r, o)).collect())
            .unwrap_or_default()
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn occupant_count(&self) -> usize {
        self.rooms.values().map(|r| r.occupants.len()).sum()
    }

    /// IQs forwarded between occupants and still awaiting their response,
    /// over all rooms (a leak check for tests and metrics).
    pub fn pending_iq_count(&self) -> usize {
        self.rooms.values().map(|r| r.pending.len()).sum()
    }
}
