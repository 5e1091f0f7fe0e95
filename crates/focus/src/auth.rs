//! Secure-domain authentication (jitsi-protocol.md §1.4), jicofo's
//! `XMPPDomainAuthAuthority`: with `auth_url = "XMPP:DOMAIN"`, a user who
//! logged in on DOMAIN gets a session (id, machine uid, identity) from the
//! conference request; the session is then bound to whichever JID presents
//! its id — the guest connection of the same browser — and that JID may
//! create rooms and becomes an owner. Sans-IO; time comes in as arguments.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// jicofo's `authentication-lifetime` default.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    machine_uid: String,
    /// Bare JID the user logged in with.
    identity: String,
    /// Full JIDs that presented this session.
    bound: Vec<String>,
    last_used: Instant,
}

/// Why a request was refused (mapped to the §1.3 errors by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `not-acceptable` + `<session-invalid/>`.
    SessionInvalid,
    /// `not-acceptable` with a text.
    NotAcceptable(&'static str),
    /// `not-authorized`: the room does not exist and the requester is a guest.
    NotAuthorized,
}

/// What a successful check grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    pub session_id: Option<String>,
    pub identity: Option<String>,
}

/// The sessions of one focus.
#[derive(Debug)]
pub struct Authority {
    /// DOMAIN of `XMPP:DOMAIN`.
    pub login_domain: String,
    sessions: HashMap<String, Session>,
}

fn domain_of(jid: &str) -> &str {
    let bare = jid.split('/').next().unwrap_or(jid);
    bare.rsplit('@').next().unwrap_or(bare)
}

fn bare(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}

impl Authority {
    /// From the configured `auth_url`; only jicofo's `XMPP:` type exists here.
    pub fn from_url(url: &str) -> Result<Authority, String> {
        match url.trim().strip_prefix("XMPP:") {
            Some(d) if !d.trim().is_empty() => Ok(Authority {
                login_domain: d.trim().to_ascii_lowercase(),
                sessions: HashMap::new(),
            }),
            _ => Err(format!(
                "{url:?}: only XMPP:<domain> authentication is supported (jicofo's org.jitsi.jicofo.auth.URL=XMPP:DOMAIN)"
            )),
        }
    }

    fn expire(&mut self, now: Instant) {
        self.sessions
            .retain(|_, s| now.duration_since(s.last_used) < LIFETIME);
    }

    /// §1.4 steps 1–4 for a conference request from `from` (full JID).
    pub fn check(
        &mut self,
        from: &str,
        session_id: Option<&str>,
        machine_uid: Option<&str>,
        room_exists: bool,
        now: Instant,
        new_id: impl FnOnce() -> String,
    ) -> Result<Grant, Refusal> {
        self.expire(now);
        let mut grant = Grant::default();
        if let Some(sid) = session_id.filter(|s| !s.is_empty()) {
            let Some(s) = self.sessions.get_mut(sid) else {
                return Err(Refusal::SessionInvalid);
            };
            if machine_uid != Some(s.machine_uid.as_str()) {
                return Err(Refusal::NotAcceptable("machine UID mismatch or empty"));
            }
            s.last_used = now;
            if !s.bound.iter().any(|b| b == from) {
                s.bound.push(from.to_string());
            }
            grant.session_id = Some(sid.to_string());
            grant.identity = Some(s.identity.clone());
        } else if domain_of(from).eq_ignore_ascii_case(&self.login_domain) {
            let Some(uid) = machine_uid.filter(|u| !u.is_empty()) else {
                return Err(Refusal::NotAcceptable(
                    "Missing mandatory attribute 'machine-uid'",
                ));
            };
            let id = new_id();
            self.sessions.insert(
                id.clone(),
                Session {
                    machine_uid: uid.to_string(),
                    identity: bare(from).to_string(),
                    bound: vec![from.to_string()],
                    last_used: now,
                },
            );
            grant.session_id = Some(id);
            grant.identity = Some(bare(from).to_string());
        }
        if !room_exists && grant.identity.is_none() {
            return Err(Refusal::NotAuthorized);
        }
        Ok(grant)
    }

    /// Whether `jid` (full) is bound to a live session, or logged in on the
    /// login domain itself.
    pub fn is_authenticated(&self, jid: &str) -> bool {
        domain_of(jid).eq_ignore_ascii_case(&self.login_domain)
            || self
                .sessions
                .values()
                .any(|s| s.bound.iter().any(|b| b == jid))
    }

    /// The logout IQ: `false` when the session is unknown.
    pub fn logout(&mut self, session_id: &str) -> bool {
        self.sessions.remove(session_id).is_some()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_domain_flow() {
        let mut a = Authority::from_url("XMPP:meet.test").expect("url");
        let now = Instant::now();
        let guest = "1234abcd@guest.meet.test/r1";
        // A guest alone may not create a room …
        assert_eq!(
            a.check(guest, None, Some("m1"), false, now, || "s1".into()),
            Err(Refusal::NotAuthorized)
        );
        // … but may join one that exists.
        assert_eq!(
            a.check(guest, None, Some("m1"), true, now, || "s1".into()),
            Ok(Grant::default())
        );
        // The user logs in on the login domain: a session.
        let g = a
            .check("alice@meet.test/x", None, Some("m1"), false, now, || {
                "s1".into()
            })
            .expect("authenticated");
        assert_eq!(g.session_id.as_deref(), Some("s1"));
        assert_eq!(g.identity.as_deref(), Some("alice@meet.test"));
        // Missing machine uid on the login domain.
        assert_eq!(
            a.check("alice@meet.test/y", None, None, false, now, || "s2".into()),
            Err(Refusal::NotAcceptable(
                "Missing mandatory attribute 'machine-uid'"
            ))
        );
        // The guest connection presents the session: bound, may create.
        let g = a
            .check(guest, Some("s1"), Some("m1"), false, now, || {
                unreachable_id()
            })
            .expect("bound");
        assert_eq!(g.identity.as_deref(), Some("alice@meet.test"));
        assert!(a.is_authenticated(guest));
        assert!(!a.is_authenticated("other@guest.meet.test/r"));
        // Wrong machine, unknown session.
        assert_eq!(
            a.check(guest, Some("s1"), Some("m2"), true, now, || "x".into()),
            Err(Refusal::NotAcceptable("machine UID mismatch or empty"))
        );
        assert_eq!(
            a.check(guest, Some("nope"), Some("m1"), true, now, || "x".into()),
            Err(Refusal::SessionInvalid)
        );
        // Sessions expire.
        let later = now + LIFETIME + Duration::from_secs(1);
        assert_eq!(
            a.check(guest, Some("s1"), Some("m1"), true, later, || "x".into()),
            Err(Refusal::SessionInvalid)
        );
        assert!(!a.logout("s1"));
        assert!(Authority::from_url("EXT_JWT:x").is_err());
        assert!(Authority::from_url("XMPP:").is_err());
    }

    fn unreachable_id() -> String {
        "never".into()
    }
}
