//! XEP-0045 Multi-User Chat, sans-IO: Prosody's MUC component as Jitsi
//! uses it (jitsi-protocol.md §2).
//!
//! [`MucService::handle`] takes one stanza addressed to the service, a room
//! or an occupant and appends the stanzas to route to `out` and the room
//! lifecycle to `events`; it owns no socket and no clock (`now_ms` comes in).
//! Layout: `service` (dispatch, room creation and teardown), `room` (room
//! and occupant state, presence, messages, IQs through occupant JIDs),
//! `admin` (muc#admin roles and affiliations), `config_form` (muc#owner:
//! configuration form and destroy), `disco` (XEP-0030), `mapper`
//! (muc_domain_mapper's tenant addresses).

mod admin;
mod config_form;
mod disco;
mod mapper;
mod room;
mod service;
#[cfg(test)]
mod tests;

pub use service::MucService;

pub(crate) const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub(crate) const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub(crate) const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub(crate) const NS_MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub(crate) const NS_DATA: &str = "jabber:x:data";
pub(crate) const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub(crate) const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub(crate) const NS_NICK: &str = "http://jabber.org/protocol/nick";
pub(crate) const NS_DELAY: &str = "urn:xmpp:delay";
pub(crate) const NS_PING: &str = "urn:xmpp:ping";

/// Settings of one MUC component (prosody.cfg.lua names in the comments).
#[derive(Debug, Clone, Default)]
pub struct MucConfig {
    /// The component's domain, e.g. `conference.meet.test`.
    pub domain: String,
    /// Bare JIDs that are owners of every room (the guide: `focus@auth.DOMAIN`).
    pub admins: Vec<String>,
    /// `muc_room_locking`: new rooms stay locked until their owner configures them.
    pub room_locking: bool,
    /// `muc_room_default_public_jids`: new rooms show real JIDs to everyone.
    pub default_public_jids: bool,
    /// `restrict_room_creation`: only admins may create rooms.
    pub restrict_room_creation: bool,
    /// Module `muc_meeting_id`: every room gets a random meeting id.
    pub meeting_id: bool,
    /// `muc_domain_mapper` with `muc_mapper_domain_base`.
    pub mapper_base: Option<String>,
}

/// Room lifecycle, for the components that watch rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    Joined {
        /// Canonical bare room JID.
        room: String,
        nick: String,
        real_jid: String,
        /// Occupants after the join.
        occupants: usize,
        /// The occupant's bare JID is one of `MucConfig::admins`.
        is_admin: bool,
    },
    Left {
        room: String,
        nick: String,
        real_jid: String,
        /// The `<nick xmlns='http://jabber.org/protocol/nick'>` of its last presence.
        display_name: Option<String>,
    },
    Destroyed {
        room: String,
    },
}

/// A snapshot of one occupant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccupantInfo {
    pub nick: String,
    pub real_jid: String,
    pub role: Role,
    pub affiliation: Affiliation,
    pub display_name: Option<String>,
}

/// XEP-0045 §5.1 roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Moderator,
    Participant,
    Visitor,
    None,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
            Role::Visitor => "visitor",
            Role::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "moderator" => Some(Role::Moderator),
            "participant" => Some(Role::Participant),
            "visitor" => Some(Role::Visitor),
            "none" => Some(Role::None),
            _ => None,
        }
    }
}

/// XEP-0045 §5.2 affiliations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Affiliation {
    Owner,
    Admin,
    Member,
    None,
    Outcast,
}

impl Affiliation {
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Admin => "admin",
            Affiliation::Member => "member",
            Affiliation::None => "none",
            Affiliation::Outcast => "outcast",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Affiliation::Owner),
            "admin" => Some(Affiliation::Admin),
            "member" => Some(Affiliation::Member),
            "none" => Some(Affiliation::None),
            "outcast" => Some(Affiliation::Outcast),
            _ => None,
        }
    }

    /// Position in the hierarchy; permission checks compare these.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Affiliation::Outcast => 0,
            Affiliation::None => 1,
            Affiliation::Member => 2,
            Affiliation::Admin => 3,
            Affiliation::Owner => 4,
        }
    }
}
