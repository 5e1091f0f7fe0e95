//! muc#owner: the room configuration form (XEP-0045 §10.2, XEP-0004) and
//! room destruction (§10.9).

use minidom::Element;

use super::room::{Notice, Removal, Room, Sender, reply_error, text_el};
use super::service::Ctx;
use super::{Affiliation, NS_DATA, NS_MUC_OWNER, NS_MUC_USER, Role, RoomEvent};
use crate::router::Target;
use crate::stanza::{self, ErrorType, el};

const FORM_TYPE: &str = "http://jabber.org/protocol/muc#roomconfig";
/// Bounds on free-text fields: they are copied into every disco reply.
const MAX_TEXT_BYTES: usize = 4096;
const MAX_SECRET_BYTES: usize = 1024;
/// Offered values of `muc#roomconfig_maxusers` (any number is accepted).
const MAXUSERS_OPTIONS: &[&str] = &["10", "20", "30", "50", "100", "none"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomConfig {
    pub name: String,
    pub description: String,
    pub persistent: bool,
    pub public: bool,
    pub members_only: bool,
    pub moderated: bool,
    pub change_subject: bool,
    pub password_protected: bool,
    pub secret: String,
    /// `muc#roomconfig_whois`: true = anyone, false = moderators.
    pub whois_anyone: bool,
    pub max_users: Option<u32>,
}

/// A submitted value the field cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadValue(pub String);

fn parse_bool(var: &str, v: &str) -> Result<bool, BadValue> {
    match v.trim() {
        "1" | "true" => Ok(true),
        // XEP-0004 §3.3: a boolean without value is false.
        "0" | "false" | "" => Ok(false),
        _ => Err(BadValue(format!("{var}: not a boolean"))),
    }
}

fn bounded(var: &str, v: &str, max: usize) -> Result<String, BadValue> {
    if v.len() > max || v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(BadValue(format!("{var}: value not acceptable")));
    }
    Ok(v.to_string())
}

fn field(var: &str, ftype: &str, label: &str, values: &[&str]) -> Element {
    let mut f = el("field", NS_DATA, &[("var", var), ("type", ftype)]);
    if !label.is_empty() {
        stanza::set_attr(&mut f, "label", label);
    }
    for v in values {
        f.append_child(text_el("value", NS_DATA, v));
    }
    f
}

fn bool_str(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

fn option(label: &str, value: &str) -> Element {
    let mut o = el("option", NS_DATA, &[("label", label)]);
    o.append_child(text_el("value", NS_DATA, value));
    o
}

impl RoomConfig {
    pub(crate) fn defaults(public_jids: bool) -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            persistent: false,
            public: true,
            members_only: false,
            moderated: false,
            change_subject: false,
            password_protected: false,
            secret: String::new(),
            whois_anyone: public_jids,
            max_users: None,
        }
    }

    /// The password joiners must give, if the room is protected.
    pub(crate) fn password(&self) -> Option<&str> {
        (self.password_protected && !self.secret.is_empty()).then_some(self.secret.as_str())
    }

    /// The `jabber:x:data` form (type `form`) with the current values.
    pub(crate) fn to_form(&self, meeting_id: Option<&str>) -> Element {
        let mut x = el("x", NS_DATA, &[("type", "form")]);
        x.append_child(text_el("title", NS_DATA, "Room configuration"));
        x.append_child(field("FORM_TYPE", "hidden", "", &[FORM_TYPE]));
        x.append_child(field(
            "muc#roomconfig_roomname",
            "text-single",
            "Title",
            &[&self.name],
        ));
        x.append_child(field(
            "muc#roomconfig_roomdesc",
            "text-single",
            "Description",
            &[&self.description],
        ));
        let booleans = [
            (
                "muc#roomconfig_persistentroom",
                "Persistent (not destroyed when the last occupant leaves)",
                self.persistent,
            ),
            (
                "muc#roomconfig_publicroom",
                "Public (listed in the room directory)",
                self.public,
            ),
            (
                "muc#roomconfig_membersonly",
                "Members only",
                self.members_only,
            ),
            (
                "muc#roomconfig_moderatedroom",
                "Moderated (only participants may speak)",
                self.moderated,
            ),
            (
                "muc#roomconfig_changesubject",
                "Allow participants to change the subject",
                self.change_subject,
            ),
            (
                "muc#roomconfig_passwordprotectedroom",
                "Password protected",
                self.password_protected,
            ),
        ];
        for (var, label, v) in booleans {
            x.append_child(field(var, "boolean", label, &[bool_str(v)]));
        }
        x.append_child(field(
            "muc#roomconfig_roomsecret",
            "text-private",
            "Password",
            &[&self.secret],
        ));
        let mut whois = field(
            "muc#roomconfig_whois",
            "list-single",
            "Who may see real JIDs",
            &[if self.whois_anyone {
                "anyone"
            } else {
                "moderators"
            }],
        );
        whois.append_child(option("Moderators only", "moderators"));
        whois.append_child(option("Anyone", "anyone"));
        x.append_child(whois);
        let current = self
            .max_users
            .map_or_else(|| "none".to_string(), |n| n.to_string());
        let mut max = field(
            "muc#roomconfig_maxusers",
            "list-single",
            "Maximum occupants",
            &[&current],
        );
        for v in MAXUSERS_OPTIONS {
            max.append_child(option(v, v));
        }
        if !MAXUSERS_OPTIONS.contains(&current.as_str()) {
            max.append_child(option(&current, &current));
        }
        x.append_child(max);
        // mod_muc_meeting_id puts the id in the form too; Jicofo reads it here.
        if let Some(id) = meeting_id {
            x.append_child(field(
                "muc#roominfo_meetingId",
                "text-single",
                "Meeting ID",
                &[id],
            ));
        }
        x
    }

    /// Apply a submitted form to a copy of this config. Unknown fields are
    /// ignored, missing ones keep their value; any bad value rejects all.
    pub(crate) fn submit(&self, x: &Element) -> Result<RoomConfig, BadValue> {
        let mut c = self.clone();
        let mut saw_protected = false;
        let mut saw_secret = false;
        for f in x.children().filter(|f| f.is("field", NS_DATA)) {
            let Some(var) = f.attr("var") else {
                continue;
            };
            let value = f
                .children()
                .find(|v| v.is("value", NS_DATA))
                .map(|v| v.text())
                .unwrap_or_default();
            match var {
                "muc#roomconfig_roomname" => c.name = bounded(var, &value, MAX_TEXT_BYTES)?,
                "muc#roomconfig_roomdesc" => c.description = bounded(var, &value, MAX_TEXT_BYTES)?,
                "muc#roomconfig_persistentroom" => c.persistent = parse_bool(var, &value)?,
                "muc#roomconfig_publicroom" => c.public = parse_bool(var, &value)?,
                "muc#roomconfig_membersonly" => c.members_only = parse_bool(var, &value)?,
                "muc#roomconfig_moderatedroom" => c.moderated = parse_bool(var, &value)?,
                "muc#roomconfig_changesubject" => c.change_subject = parse_bool(var, &value)?,
                "muc#roomconfig_passwordprotectedroom" => {
                    c.password_protected = parse_bool(var, &value)?;
                    saw_protected = true;
                }
                "muc#roomconfig_roomsecret" => {
                    c.secret = bounded(var, &value, MAX_SECRET_BYTES)?;
                    saw_secret = true;
                }
                "muc#roomconfig_whois" => {
                    c.whois_anyone = match value.trim() {
                        "anyone" => true,
                        "moderators" => false,
                        _ => return Err(BadValue(format!("{var}: anyone or moderators"))),
                    }
                }
                "muc#roomconfig_maxusers" => {
                    c.max_users = match value.trim() {
                        "" | "none" | "0" => None,
                        v => Some(
                            v.parse::<u32>()
                                .map_err(|_| BadValue(format!("{var}: not a number")))?,
                        ),
                    }
                }
                _ => {}
            }
        }
        // A secret alone means "protect with this" (and an empty one
        // "unprotect"), as clients that only send the secret expect.
        if saw_secret && !saw_protected {
            c.password_protected = !c.secret.is_empty();
        }
        Ok(c)
    }
}

impl Room {
    /// A muc#owner IQ (get the form, submit it, or destroy the room).
    pub(crate) fn owner_iq(
        &mut self,
        ctx: &Ctx,
        iq: &Element,
        query: &Element,
        sender: &Sender,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        if self.affiliation(ctx, &sender.bare) != Affiliation::Owner {
            return reply_error(
                iq,
                ErrorType::Auth,
                "forbidden",
                Some("Only owners may configure the room"),
                out,
            );
        }
        if iq.attr("type") == Some("get") {
            let mut q = Element::bare("query", NS_MUC_OWNER);
            q.append_child(self.config.to_form(self.meeting_id.as_deref()));
            out.push(stanza::iq_result(iq, Some(q)));
            return;
        }
        let mut children = query.children();
        let (Some(child), None) = (children.next(), children.next()) else {
            return reply_error(iq, ErrorType::Modify, "bad-request", None, out);
        };
        if child.is("destroy", NS_MUC_OWNER) {
            let mut d = Element::bare("destroy", NS_MUC_USER);
            // An alternate venue is only passed on when it is a JID.
            if let Some(j) = child.attr("jid").filter(|j| Target::parse(j).is_some()) {
                stanza::set_attr(&mut d, "jid", j);
            }
            if let Some(r) = child.get_child("reason", NS_MUC_OWNER) {
                d.append_child(text_el("reason", NS_MUC_USER, &r.text()));
            }
            self.destroy(&d, out, events);
            out.push(stanza::iq_result(iq, None));
            return;
        }
        if !child.is("x", NS_DATA) {
            return reply_error(iq, ErrorType::Modify, "bad-request", None, out);
        }
        match child.attr("type") {
            // Prosody's behaviour: cancel changes nothing (a locked room
            // stays locked; XEP-0045 would destroy it).
            Some("cancel") => out.push(stanza::iq_result(iq, None)),
            Some("submit") => match self.config.submit(child) {
                Ok(new) => {
                    self.apply_config(ctx, new, out, events);
                    out.push(stanza::iq_result(iq, None));
                }
                Err(BadValue(why)) => {
                    reply_error(iq, ErrorType::Modify, "not-acceptable", Some(&why), out)
                }
            },
            _ => reply_error(iq, ErrorType::Modify, "bad-request", None, out),
        }
    }

    /// Install a submitted config: unlock, and tell the occupants what
    /// changed (104, with 172/173 when real JIDs became visible/hidden).
    fn apply_config(
        &mut self,
        ctx: &Ctx,
        new: RoomConfig,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        self.locked = false;
        if new == self.config {
            return;
        }
        let whois_changed = new.whois_anyone != self.config.whois_anyone;
        let members_only_on = new.members_only && !self.config.members_only;
        self.config = new;
        let mut codes = vec![104];
        if whois_changed {
            codes.push(if self.config.whois_anyone { 172 } else { 173 });
        }
        self.status_message(&codes, out);
        if whois_changed {
            // Everyone's view of the others' real JIDs changed: re-announce
            // each occupant to the others (clients like LJM ignore
            // occupants whose presence lacks the JID).
            for o in &self.occupants {
                let n = Notice::of(o, self.affiliation(ctx, &o.bare));
                self.broadcast(&n, false, out);
            }
        }
        if members_only_on {
            // XEP-0045 §9.3 / status 322: non-members leave.
            let ids: Vec<u64> = self
                .occupants
                .iter()
                .filter(|o| self.affiliation(ctx, &o.bare).rank() < Affiliation::Member.rank())
                .map(|o| o.id)
                .collect();
            for id in ids {
                if let Some(i) = self.index_by_id(id) {
                    let r = Removal {
                        codes: &[322],
                        ..Removal::default()
                    };
                    self.remove_at(ctx, i, r, out, events);
                }
            }
        }
    }

    /// Everyone leaves with the `<destroy>` element; the service then drops
    /// the room. Each occupant gets only its own unavailable presence
    /// (XEP-0045 §10.9), which keeps this linear in the room size.
    pub(crate) fn destroy(
        &mut self,
        destroy: &Element,
        out: &mut Vec<Element>,
        events: &mut Vec<RoomEvent>,
    ) {
        let occupants = std::mem::take(&mut self.occupants);
        for o in occupants {
            let n = Notice {
                role: Role::None,
                affiliation: Affiliation::None,
                ext: &[],
                unavailable: true,
                destroy: Some(destroy),
                ..Notice::of(&o, Affiliation::None)
            };
            out.push(n.presence(&o.view, &o.real_jid, true, true));
            events.push(RoomEvent::Left {
                room: self.jid.clone(),
                display_name: o.display_name(),
                nick: o.nick,
                real_jid: o.real_jid,
            });
        }
        self.pending.clear();
        self.destroyed = true;
    }
}
