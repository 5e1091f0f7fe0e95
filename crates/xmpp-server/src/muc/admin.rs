//! muc#admin: role changes (voice, moderator, kick) and affiliation changes
//! (member, admin, owner, ban), and the lists (XEP-0045 §8, §9, §10).
//!
//! Permission failures follow XEP-0045's split: a stranger to the room gets
//! `auth/forbidden` (or `cancel/not-acceptable` for role changes, which
//! need an occupant), an occupant lacking the rank `cancel/not-allowed`.

use minidom::Element;

use super::room::{Removal, Room, Sender, default_role, reply_error};
use super::service::Ctx;
use super::{Affiliation, NS_MUC_ADMIN, Role, RoomEvent};
use crate::router::Target;
use crate::stanza::{self, ErrorType, el};

/// Items per request; a room's occupants fit, floods do not.
const MAX_ITEMS: usize = 256;
/// Stored affiliations per room (memory bound against scripted admins).
pub(crate) const MAX_AFFILIATIONS: usize = 10_000;

/// Why a change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Denied(ErrorType, &'static str);

const NOT_ALLOWED: Denied = Denied(ErrorType::Cancel, "not-allowed");
const BAD_REQUEST: Denied = Denied(ErrorType::Modify, "bad-request");

#[derive(Debug)]
enum Change {
    Role {
        nick: String,
        role: Role,
        reason: Option<String>,
    },
    Affiliation {
        bare: String,
        affiliation: Affiliation,
        reason: Option<String>,
    },
}

/// Who is acting: its occupant (if in the room) and its affiliation.
struct Actor {
    occupant: Option<(String, Role)>,
    bare: String,
    affiliation: Affiliation,
}

impl Room {
    pub(crate) fn admin_iq(
        &mut self,
        ctx: &Ctx,
        iq: &Element,
        query: &Element,
        sender: &Sender,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let actor = Actor {
            occupant: self
                .index_by_real(&sender.real)
                .and_then(|i| self.occupants.get(i))
                .map(|o| (o.nick.clone(), o.role)),
            bare: sender.bare.clone(),
            affiliation: self.affiliation(ctx, &sender.bare),
        };
        let result = if iq.attr("type") == Some("get") {
            self.admin_list(ctx, &actor, query)
        } else {
            self.admin_set(ctx, &actor, query, out, events)
        };
        match result {
            Ok(payload) => out.push(stanza::iq_result(iq, payload)),
            Err(Denied(etype, cond)) => reply_error(iq, etype, cond, None, out),
        }
    }

    /// `<item affiliation='X'/>` or `<item role='X'/>`: the list.
    fn admin_list(
        &self,
        ctx: &Ctx,
        actor: &Actor,
        query: &Element,
    ) -> Result<Option<Element>, Denied> {
        let mut items = query.children().filter(|c| c.is("item", NS_MUC_ADMIN));
        let (Some(item), None) = (items.next(), items.next()) else {
            return Err(BAD_REQUEST);
        };
        let mut q = Element::bare("query", NS_MUC_ADMIN);
        match (item.attr("affiliation"), item.attr("role")) {
            (Some(a), None) => {
                let aff = Affiliation::parse(a)
                    .filter(|a| *a != Affiliation::None)
                    .ok_or(BAD_REQUEST)?;
                if actor.affiliation.rank() < Affiliation::Admin.rank() {
                    return Err(Denied(ErrorType::Auth, "forbidden"));
                }
                let mut jids: Vec<&String> = self
                    .affiliations
                    .iter()
                    .filter(|(_, v)| **v == aff)
                    .map(|(k, _)| k)
                    .collect();
                jids.sort();
                for j in jids {
                    q.append_child(el(
                        "item",
                        NS_MUC_ADMIN,
                        &[("affiliation", aff.as_str()), ("jid", j)],
                    ));
                }
            }
            (None, Some(r)) => {
                let role = Role::parse(r)
                    .filter(|r| *r != Role::None)
                    .ok_or(BAD_REQUEST)?;
                match &actor.occupant {
                    None => return Err(Denied(ErrorType::Cancel, "not-acceptable")),
                    Some((_, Role::Moderator)) => {}
                    Some(_) => return Err(Denied(ErrorType::Auth, "forbidden")),
                }
                for o in self.occupants.iter().filter(|o| o.role == role) {
                    let aff = self.affiliation(ctx, &o.bare);
                    q.append_child(el(
                        "item",
                        NS_MUC_ADMIN,
                        &[
                            ("role", role.as_str()),
                            ("nick", &o.nick),
                            ("affiliation", aff.as_str()),
                            ("jid", &o.real_jid),
                        ],
                    ));
                }
            }
            _ => return Err(BAD_REQUEST),
        }
        Ok(Some(q))
    }

    /// Parse every item, check every change against the current state,
    /// then apply them all: a request either succeeds or changes nothing.
    fn admin_set(
        &mut self,
        ctx: &Ctx,
        actor: &Actor,
        query: &Element,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<Option<Element>, Denied> {
        let items: Vec<&Element> = query
            .children()
            .filter(|c| c.is("item", NS_MUC_ADMIN))
            .take(MAX_ITEMS + 1)
            .collect();
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(BAD_REQUEST);
        }
        let mut changes = Vec::with_capacity(items.len());
        for item in items {
            changes.push(self.parse_item(item)?);
        }
        for c in &changes {
            match c {
                Change::Role { nick, role, .. } => self.check_role(ctx, actor, nick, *role)?,
                Change::Affiliation {
                    bare, affiliation, ..
                } => self.check_affiliation(ctx, actor, bare, *affiliation)?,
            }
        }
        let actor_nick = actor.occupant.as_ref().map(|(n, _)| n.as_str());
        for c in changes {
            match c {
                Change::Role { nick, role, reason } => {
                    self.apply_role(ctx, actor_nick, &nick, role, reason.as_deref(), out, events)
                }
                Change::Affiliation {
                    bare,
                    affiliation,
                    reason,
                } => self.apply_affiliation(
                    ctx,
                    actor_nick,
                    &bare,
                    affiliation,
                    reason.as_deref(),
                    out,
                    events,
                ),
            }
        }
        Ok(None)
    }

    fn parse_item(&self, item: &Element) -> Result<Change, Denied> {
        let reason = item.get_child("reason", NS_MUC_ADMIN).map(|r| r.text());
        match (item.attr("role"), item.attr("affiliation")) {
            (Some(r), None) => Ok(Change::Role {
                nick: item.attr("nick").ok_or(BAD_REQUEST)?.to_string(),
                role: Role::parse(r).ok_or(BAD_REQUEST)?,
                reason,
            }),
            (None, Some(a)) => {
                let affiliation = Affiliation::parse(a).ok_or(BAD_REQUEST)?;
                // By JID (full JIDs name their bare JID, as Jicofo sends
                // them) or by the nick of an occupant (as LJM sends them).
                let bare = match (item.attr("jid"), item.attr("nick")) {
                    (Some(j), _) => Target::parse(j)
                        .map(|t| t.bare())
                        .ok_or(Denied(ErrorType::Modify, "jid-malformed"))?,
                    (None, Some(n)) => self
                        .index_by_nick(n)
                        .and_then(|i| self.occupants.get(i))
                        .map(|o| o.bare.clone())
                        .ok_or(Denied(ErrorType::Cancel, "item-not-found"))?,
                    (None, None) => return Err(BAD_REQUEST),
                };
                Ok(Change::Affiliation {
                    bare,
                    affiliation,
                    reason,
                })
            }
            _ => Err(BAD_REQUEST),
        }
    }

    fn check_role(&self, ctx: &Ctx, actor: &Actor, nick: &str, role: Role) -> Result<(), Denied> {
        let Some((_, actor_role)) = &actor.occupant else {
            return Err(Denied(ErrorType::Cancel, "not-acceptable"));
        };
        if *actor_role != Role::Moderator {
            return Err(NOT_ALLOWED);
        }
        let target = self
            .index_by_nick(nick)
            .and_then(|i| self.occupants.get(i))
            .ok_or(Denied(ErrorType::Cancel, "item-not-found"))?;
        if target.role == role {
            return Ok(());
        }
        // Service admins (the focus) are above every room's hierarchy.
        if ctx.is_admin(&target.bare) {
            return Err(NOT_ALLOWED);
        }
        let target_aff = self.affiliation(ctx, &target.bare);
        if target_aff.rank() > actor.affiliation.rank() {
            return Err(NOT_ALLOWED);
        }
        if target_aff.rank() >= Affiliation::Admin.rank() {
            // Admins and owners are always moderators (§9.7); they can be
            // kicked only by an owner (owners may kick owners: Jitsi's
            // moderators are all owners and kick each other).
            if role != Role::Moderator && role != Role::None {
                return Err(NOT_ALLOWED);
            }
            if role == Role::None && actor.affiliation != Affiliation::Owner {
                return Err(NOT_ALLOWED);
            }
        }
        // Granting or revoking moderator is an admin use case (§9.6, §9.7).
        let moderator_change =
            role == Role::Moderator || (target.role == Role::Moderator && role != Role::None);
        if moderator_change && actor.affiliation.rank() < Affiliation::Admin.rank() {
            return Err(NOT_ALLOWED);
        }
        Ok(())
    }

    fn check_affiliation(
        &self,
        ctx: &Ctx,
        actor: &Actor,
        bare: &str,
        new: Affiliation,
    ) -> Result<(), Denied> {
        if actor.affiliation.rank() < Affiliation::Admin.rank() {
            let known = actor.occupant.is_some() || actor.affiliation != Affiliation::None;
            return Err(if known {
                NOT_ALLOWED
            } else {
                Denied(ErrorType::Auth, "forbidden")
            });
        }
        if ctx.is_admin(bare) {
            return if new == Affiliation::Owner {
                Ok(())
            } else {
                Err(NOT_ALLOWED)
            };
        }
        let current = self
            .affiliations
            .get(bare)
            .copied()
            .unwrap_or(Affiliation::None);
        if current == new {
            return Ok(());
        }
        // Only owners touch the admin and owner lists (§10).
        let high = Affiliation::Admin.rank();
        if actor.affiliation != Affiliation::Owner && (current.rank() >= high || new.rank() >= high)
        {
            return Err(NOT_ALLOWED);
        }
        // §10.6: the last owner cannot step down.
        if bare == actor.bare
            && current == Affiliation::Owner
            && !self
                .affiliations
                .iter()
                .any(|(k, v)| *v == Affiliation::Owner && k != bare)
        {
            return Err(Denied(ErrorType::Cancel, "conflict"));
        }
        if current == Affiliation::None
            && new != Affiliation::None
            && self.affiliations.len() >= MAX_AFFILIATIONS
        {
            return Err(Denied(ErrorType::Wait, "resource-constraint"));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_role(
        &mut self,
        ctx: &Ctx,
        actor_nick: Option<&str>,
        nick: &str,
        role: Role,
        reason: Option<&str>,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let Some(i) = self.index_by_nick(nick) else {
            return;
        };
        if role == Role::None {
            let r = Removal {
                codes: &[307],
                actor: actor_nick,
                reason,
                ..Removal::default()
            };
            return self.remove_at(ctx, i, r, out, events);
        }
        match self.occupants.get_mut(i) {
            Some(o) if o.role != role => o.role = role,
            _ => return,
        }
        self.announce(ctx, i, reason, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_affiliation(
        &mut self,
        ctx: &Ctx,
        actor_nick: Option<&str>,
        bare: &str,
        new: Affiliation,
        reason: Option<&str>,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        if ctx.is_admin(bare) {
            return;
        }
        let old = self
            .affiliations
            .get(bare)
            .copied()
            .unwrap_or(Affiliation::None);
        if old == new {
            return;
        }
        if new == Affiliation::None {
            self.affiliations.remove(bare);
        } else {
            self.affiliations.insert(bare.to_string(), new);
        }
        let ids: Vec<u64> = self
            .occupants
            .iter()
            .filter(|o| o.bare == bare)
            .map(|o| o.id)
            .collect();
        for id in ids {
            let Some(i) = self.index_by_id(id) else {
                continue;
            };
            let removal_code = if new == Affiliation::Outcast {
                Some(301)
            } else if self.config.members_only && new.rank() < Affiliation::Member.rank() {
                Some(321)
            } else {
                None
            };
            match removal_code {
                Some(code) => {
                    let codes = [code];
                    let r = Removal {
                        codes: &codes,
                        actor: actor_nick,
                        reason,
                        ..Removal::default()
                    };
                    self.remove_at(ctx, i, r, out, events);
                }
                None => {
                    if let Some(o) = self.occupants.get_mut(i) {
                        o.role = default_role(new, self.config.moderated);
                    }
                    self.announce(ctx, i, reason, out);
                }
            }
        }
    }
}
