//! Stanza routing between sessions, hosts and components.
//!
//! Every connection task owns its socket and an inbox (a bounded channel);
//! the router maps addresses to inboxes. Lookups take a read lock on a map
//! (sessions and components are added rarely, looked up per stanza); a
//! delivery is a `try_send`, so a slow reader can never block the sender.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use minidom::Element;
use tokio::sync::mpsc;

use crate::services::HostServices;
use crate::stanza::{self, ErrorType, Kind};

/// What a connection task receives.
#[derive(Debug)]
pub enum Delivery {
    Stanza(Element),
    /// Close the session (e.g. the account was deleted, or a stream conflict).
    Close {
        condition: &'static str,
        text: String,
    },
}

pub type Inbox = mpsc::Sender<Delivery>;

/// Inbox depth per connection: a client that stops reading loses stanzas
/// beyond this instead of growing the server's memory.
pub const INBOX_DEPTH: usize = 8192;

#[derive(Debug)]
struct Bound {
    resource: String,
    id: u64,
    inbox: Inbox,
    available: bool,
    priority: i8,
}

/// A component domain is already connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("component already connected")]
pub struct AlreadyConnected;

#[derive(Debug, Default)]
pub struct RouterStats {
    pub routed: AtomicU64,
    pub dropped_full: AtomicU64,
    pub undeliverable: AtomicU64,
}

#[derive(Debug)]
pub struct Router {
    services: HostServices,
    sessions: RwLock<HashMap<String, Vec<Bound>>>,
    components: RwLock<HashMap<String, Inbox>>,
    next_id: AtomicU64,
    pub stats: RouterStats,
}

/// The address of a stanza's target, lower-cased where JIDs are
/// case-insensitive (node and domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub node: Option<String>,
    pub domain: String,
    pub resource: Option<String>,
}

impl Target {
    pub fn parse(s: &str) -> Option<Self> {
        let j = jid::Jid::new(s).ok()?;
        Some(Self {
            node: j.node().map(|n| n.as_str().to_lowercase()),
            domain: j.domain().as_str().to_lowercase(),
            resource: j.resource().map(|r| r.as_str().to_string()),
        })
    }
    pub fn bare(&self) -> String {
        match &self.node {
            Some(n) => format!("{n}@{}", self.domain),
            None => self.domain.clone(),
        }
    }
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Router {
    pub fn new(services: HostServices) -> Arc<Self> {
        Arc::new(Self {
            services,
            sessions: RwLock::new(HashMap::new()),
            components: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            stats: RouterStats::default(),
        })
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }

    /// Register a session for `node@host`, with `requested` as its resource
    /// if free (otherwise a unique one derived from it). Returns the bound
    /// resource and the session id used to unbind.
    pub fn bind(&self, bare: &str, requested: Option<&str>, inbox: Inbox) -> (String, u64) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut map = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(bare.to_string()).or_default();
        let mut resource = match requested {
            Some(r) if !r.is_empty() && r.len() <= 1023 && !r.chars().any(char::is_control) => {
                r.to_string()
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        if list.iter().any(|b| b.resource == resource) {
            // Resource conflict: keep both sessions and give the new one a
            // unique resource (RFC 6120 §7.7.2.2 lets the server override).
            resource = format!(
                "{resource}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
        }
        list.push(Bound {
            resource: resource.clone(),
            id,
            inbox,
            available: false,
            priority: 0,
        });
        (resource, id)
    }

    pub fn unbind(&self, bare: &str, id: u64) {
        let mut map = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.get_mut(bare) {
            list.retain(|b| b.id != id);
            if list.is_empty() {
                map.remove(bare);
            }
        }
    }

    pub fn set_presence(&self, bare: &str, id: u64, available: bool, priority: i8) {
        let mut map = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map
            .get_mut(bare)
            .and_then(|l| l.iter_mut().find(|b| b.id == id))
        {
            b.available = available;
            b.priority = priority;
        }
    }

    /// Close every session of an account (after `deluser` / `passwd`).
    pub fn close_account(&self, bare: &str, text: &str) {
        let map = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.get(bare) {
            for b in list {
                let _ = b.inbox.try_send(Delivery::Close {
                    condition: "not-authorized",
                    text: text.to_string(),
                });
            }
        }
    }

    pub fn session_count(&self) -> usize {
        let map = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        map.values().map(Vec::len).sum()
    }

    /// Register an external (or internal) component for `domain`. Fails when
    /// the domain is already connected.
    pub fn register_component(&self, domain: &str, inbox: Inbox) -> Result<(), AlreadyConnected> {
        let mut map = self.components.write().unwrap_or_else(|e| e.into_inner());
        if map.get(domain).is_some_and(|i| !i.is_closed()) {
            return Err(AlreadyConnected);
        }
        map.insert(domain.to_string(), inbox);
        Ok(())
    }

    pub fn unregister_component(&self, domain: &str) {
        let mut map = self.components.write().unwrap_or_else(|e| e.into_inner());
        map.remove(domain);
    }

    fn component_inbox(&self, domain: &str) -> Option<Inbox> {
        let map = self.components.read().unwrap_or_else(|e| e.into_inner());
        map.get(domain).cloned()
    }

    /// Route a stanza whose `from` has been stamped by its sender's session.
    pub fn route(&self, stanza: Element) {
        self.stats.routed.fetch_add(1, Ordering::Relaxed);
        let Some(kind) = stanza::kind(&stanza) else {
            return;
        };
        let Some(to) = stanza.attr("to").and_then(Target::parse) else {
            // Unlike other bounces, this one answers presence too (as Prosody
            // does): a MUC join to an invalid nick must not go unanswered.
            self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
            if stanza.attr("from").is_some()
                && let Some(reply) = stanza::error_reply(
                    &stanza,
                    ErrorType::Modify,
                    "jid-malformed",
                    Some("invalid 'to' address"),
                )
            {
                // The reply's `from` would be the invalid address: drop it.
                let mut reply = reply;
                stanza::remove_attr(&mut reply, "from");
                self.route(reply);
            }
            return;
        };
        let inbox = self.component_inbox(&to.domain).or_else(|| {
            self.services
                .mapped_component(&to.domain)
                .and_then(|d| self.component_inbox(&d))
        });
        if let Some(inbox) = inbox {
            if !self.deliver(&inbox, stanza.clone()) {
                self.bounce(&stanza, ErrorType::Cancel, "service-unavailable");
            }
            return;
        }
        if self.services.is_component(&to.domain) {
            // Configured but not connected (the focus is still starting, or
            // restarting): a temporary condition, as Prosody reports it.
            self.bounce_with(
                &stanza,
                ErrorType::Wait,
                "service-unavailable",
                Some("Component unavailable"),
            );
            return;
        }
        if !self.services.is_host(&to.domain) {
            // No server-to-server: every other domain is unreachable.
            self.bounce(&stanza, ErrorType::Cancel, "remote-server-not-found");
            return;
        }
        let Some(_node) = &to.node else {
            if let Some(reply) = self.services.handle(&stanza, now_unix()) {
                self.route(reply);
            }
            return;
        };
        let bare = to.bare();
        let targets = self.pick_sessions(&bare, to.resource.as_deref(), kind);
        if targets.is_empty() {
            match kind {
                Kind::Presence => {}
                Kind::Iq if to.resource.is_none() => {
                    // IQs to a bare account are the server's to answer on the
                    // user's behalf; we keep no per-account data.
                    if let Some(reply) = crate::services::handle_account_iq(&stanza) {
                        self.route(reply);
                    }
                }
                _ => self.bounce(&stanza, ErrorType::Cancel, "service-unavailable"),
            }
            return;
        }
        for inbox in targets {
            if !self.deliver(&inbox, stanza.clone()) && kind != Kind::Presence {
                self.bounce(&stanza, ErrorType::Cancel, "service-unavailable");
                return;
            }
        }
    }

    /// Which sessions receive a stanza to `bare` (and maybe a resource):
    /// RFC 6121 §8.5 rules reduced to what a server without rosters needs.
    fn pick_sessions(&self, bare: &str, resource: Option<&str>, kind: Kind) -> Vec<Inbox> {
        let map = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get(bare) else {
            return Vec::new();
        };
        if let Some(r) = resource {
            if let Some(b) = list.iter().find(|b| b.resource == r) {
                return vec![b.inbox.clone()];
            }
            // Full JID offline: messages fall back to the bare JID; IQs and
            // presence do not (§8.5.3.2).
            if kind != Kind::Message {
                return Vec::new();
            }
        }
        match kind {
            Kind::Presence => list.iter().map(|b| b.inbox.clone()).collect(),
            Kind::Message => {
                let best = list
                    .iter()
                    .filter(|b| b.available && b.priority >= 0)
                    .map(|b| b.priority)
                    .max();
                match best {
                    Some(p) => list
                        .iter()
                        .filter(|b| b.available && b.priority == p)
                        .map(|b| b.inbox.clone())
                        .collect(),
                    // Nobody has sent presence yet: give it to every session
                    // rather than lose it (no offline storage).
                    None => list.iter().map(|b| b.inbox.clone()).collect(),
                }
            }
            Kind::Iq => Vec::new(),
        }
    }

    /// Hand a stanza to an inbox. False when the recipient is gone. A full
    /// inbox (the recipient stopped reading) answers the sender with
    /// `wait/resource-constraint` instead of losing the stanza silently.
    fn deliver(&self, inbox: &Inbox, stanza: Element) -> bool {
        match inbox.try_send(Delivery::Stanza(stanza)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(Delivery::Stanza(stanza))) => {
                let n = self.stats.dropped_full.fetch_add(1, Ordering::Relaxed) + 1;
                // One line per 1000 drops: a flood must not flood the log too.
                if n % 1000 == 1 {
                    tracing::warn!(
                        dropped_total = n,
                        "recipient not reading: inbox full, stanza refused"
                    );
                }
                if stanza.name() != "presence" {
                    self.bounce_with(
                        &stanza,
                        ErrorType::Wait,
                        "resource-constraint",
                        Some("recipient is not keeping up"),
                    );
                }
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Answer an undeliverable stanza with an error to its sender.
    pub fn bounce(&self, stanza: &Element, etype: ErrorType, condition: &str) {
        self.bounce_with(stanza, etype, condition, None);
    }

    /// Like [`Router::bounce`], with an explanatory text.
    pub fn bounce_with(
        &self,
        stanza: &Element,
        etype: ErrorType,
        condition: &str,
        text: Option<&str>,
    ) {
        self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
        // Presence is never bounced except subscriptions; errors never.
        if stanza.name() == "presence"
            && stanza
                .attr("type")
                .is_none_or(|t| t != "subscribe" && t != "probe")
        {
            return;
        }
        if stanza.attr("from").is_none() {
            return;
        }
        if let Some(reply) = stanza::error_reply(stanza, etype, condition, text) {
            // The reply's `to` is the original sender, which is local or a
            // component; route it like any stanza (one level deep: an error
            // is never bounced again).
            self.route(reply);
        }
    }
}
