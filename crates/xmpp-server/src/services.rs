//! What a virtual host itself answers (IQs addressed to the bare domain):
//! disco#info / disco#items with the Jitsi component identities
//! (jitsi-protocol.md §0.3), XEP-0199 ping, XEP-0092 version and XEP-0215
//! external services with coturn-style TURN credentials (§2.12).
//! Sans-IO: the caller passes the time.

use base64::Engine;
use hmac::{Hmac, Mac};
use minidom::Element;
use sha1::Sha1;

use crate::config::{ComponentType, ServerConfig, TurnService};
use crate::stanza::{self, ErrorType, el};
use crate::xml::NS_CLIENT;

pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const NS_PING: &str = "urn:xmpp:ping";
pub const NS_VERSION: &str = "jabber:iq:version";
pub const NS_EXTDISCO_1: &str = "urn:xmpp:extdisco:1";
pub const NS_EXTDISCO_2: &str = "urn:xmpp:extdisco:2";
pub const NS_ROSTER: &str = "jabber:iq:roster";

/// Per-host answers, computed once from the config.
#[derive(Debug, Clone)]
pub struct HostServices {
    hosts: Vec<HostView>,
    turn_secret: Option<String>,
    turn_ttl: u64,
    turn_services: Vec<TurnService>,
    components: Vec<String>,
    mapper_base: Option<String>,
}

#[derive(Debug, Clone)]
struct HostView {
    host: String,
    /// (category, type, name) of each identity beyond the server's own.
    identities: Vec<(String, String, String)>,
    items: Vec<String>,
    extdisco: bool,
}

impl HostServices {
    pub fn from_config(cfg: &ServerConfig) -> Self {
        let mut hosts = Vec::new();
        for vh in &cfg.virtual_host {
            let mut identities = Vec::new();
            if let Some(c) = &vh.speakerstats_component {
                identities.push(("component".into(), "speakerstats".into(), c.clone()));
            }
            if let Some(c) = &vh.conference_duration_component {
                identities.push(("component".into(), "conference_duration".into(), c.clone()));
            }
            // Components that live under this host are its disco items
            // (Prosody lists its subdomain components the same way).
            let suffix = format!(".{}", vh.host);
            let items = cfg
                .component
                .iter()
                .filter(|c| c.host.ends_with(&suffix))
                .map(|c| c.host.clone())
                .collect();
            let extdisco = vh
                .modules_enabled
                .iter()
                .any(|m| m == "turncredentials" || m == "external_services");
            hosts.push(HostView {
                host: vh.host.to_ascii_lowercase(),
                identities,
                items,
                extdisco,
            });
        }
        // A MUC component under a host is advertised as the conference service
        // too (LJM reads it only from config, but it helps generic clients).
        for c in &cfg.component {
            if c.kind == Some(ComponentType::Muc) {
                for h in &mut hosts {
                    if c.host.ends_with(&format!(".{}", h.host)) && !h.items.contains(&c.host) {
                        h.items.push(c.host.clone());
                    }
                }
            }
        }
        Self {
            hosts,
            turn_secret: cfg.turncredentials_secret.clone(),
            turn_ttl: cfg.turncredentials_ttl,
            turn_services: cfg.turncredentials.clone(),
            components: cfg
                .component
                .iter()
                .map(|c| c.host.to_ascii_lowercase())
                .collect(),
            mapper_base: cfg
                .muc_mapper_domain_base
                .as_ref()
                .map(|b| b.to_ascii_lowercase()),
        }
    }

    /// muc_domain_mapper: `conference.TENANT.BASE` is served by the component
    /// `conference.BASE` (jitsi-protocol.md §2.10).
    pub fn mapped_component(&self, domain: &str) -> Option<String> {
        let base = self.mapper_base.as_deref()?;
        let rest = domain.strip_suffix(base)?.strip_suffix('.')?;
        let (first, tenant) = rest.split_once('.')?;
        if tenant.is_empty() {
            return None;
        }
        let candidate = format!("{first}.{base}");
        self.is_component(&candidate).then_some(candidate)
    }

    /// A configured component's domain (connected or not).
    pub fn is_component(&self, domain: &str) -> bool {
        self.components.iter().any(|c| c == domain)
    }

    pub fn is_host(&self, domain: &str) -> bool {
        self.hosts.iter().any(|h| h.host == domain)
    }

    /// Answer a stanza addressed to the bare host. Returns the reply to route
    /// (None for stanzas that need no answer).
    pub fn handle(&self, stanza: &Element, now_unix: u64) -> Option<Element> {
        if stanza.name() != "iq" {
            // Messages and presence to the server itself are dropped, as
            // Prosody does without offline/roster modules for the host JID.
            return None;
        }
        let ty = stanza.attr("type").unwrap_or("");
        if ty != "get" && ty != "set" {
            return None;
        }
        let to = stanza.attr("to").unwrap_or("").to_ascii_lowercase();
        let Some(host) = self.hosts.iter().find(|h| h.host == to) else {
            return stanza::error_reply(stanza, ErrorType::Cancel, "item-not-found", None);
        };
        let Some(payload) = stanza::iq_payload(stanza) else {
            return stanza::error_reply(
                stanza,
                ErrorType::Modify,
                "bad-request",
                Some("IQ without payload"),
            );
        };
        let ns = payload.ns();
        match (ty, payload.name(), ns.as_str()) {
            ("get", "query", NS_DISCO_INFO) => {
                if payload.attr("node").is_some() {
                    return stanza::error_reply(stanza, ErrorType::Cancel, "item-not-found", None);
                }
                Some(stanza::iq_result(stanza, Some(self.disco_info(host))))
            }
            ("get", "query", NS_DISCO_ITEMS) => {
                let mut q = Element::bare("query", NS_DISCO_ITEMS);
                for item in &host.items {
                    q.append_child(el("item", NS_DISCO_ITEMS, &[("jid", item)]));
                }
                Some(stanza::iq_result(stanza, Some(q)))
            }
            ("get", "ping", NS_PING) => Some(stanza::iq_result(stanza, None)),
            ("get", "query", NS_VERSION) => {
                let mut q = Element::bare("query", NS_VERSION);
                for (n, v) in [
                    ("name", "meet-rs xmpp-server"),
                    ("version", env!("CARGO_PKG_VERSION")),
                ] {
                    let mut e = Element::bare(n, NS_VERSION);
                    e.append_text(v.to_string());
                    q.append_child(e);
                }
                Some(stanza::iq_result(stanza, Some(q)))
            }
            ("get", "services", NS_EXTDISCO_1 | NS_EXTDISCO_2) if host.extdisco => {
                Some(stanza::iq_result(
                    stanza,
                    Some(self.services(&ns, payload.attr("type"), now_unix)),
                ))
            }
            ("get", "credentials", NS_EXTDISCO_1 | NS_EXTDISCO_2) if host.extdisco => Some(
                stanza::iq_result(stanza, Some(self.services(&ns, None, now_unix))),
            ),
            _ => stanza::error_reply(stanza, ErrorType::Cancel, "service-unavailable", None),
        }
    }

    fn disco_info(&self, host: &HostView) -> Element {
        let mut q = Element::bare("query", NS_DISCO_INFO);
        q.append_child(el(
            "identity",
            NS_DISCO_INFO,
            &[("category", "server"), ("type", "im"), ("name", "meet-rs")],
        ));
        for (cat, ty, name) in &host.identities {
            q.append_child(el(
                "identity",
                NS_DISCO_INFO,
                &[("category", cat), ("type", ty), ("name", name)],
            ));
        }
        let mut features = vec![
            NS_DISCO_INFO,
            NS_DISCO_ITEMS,
            NS_PING,
            NS_VERSION,
            "urn:xmpp:sm:3",
        ];
        features.retain(|f| *f != "urn:xmpp:sm:3");
        if host.extdisco {
            features.push(NS_EXTDISCO_1);
            features.push(NS_EXTDISCO_2);
        }
        for f in features {
            q.append_child(el("feature", NS_DISCO_INFO, &[("var", f)]));
        }
        q
    }

    fn services(&self, ns: &str, only_type: Option<&str>, now_unix: u64) -> Element {
        let mut s = Element::bare("services", ns);
        let expires = now_unix.saturating_add(self.turn_ttl);
        for svc in &self.turn_services {
            let ty = svc.r#type.as_str();
            if only_type.is_some_and(|t| t != ty) {
                continue;
            }
            let port = svc.port.to_string();
            let mut attrs: Vec<(&str, String)> = vec![
                ("type", ty.to_string()),
                ("host", svc.host.clone()),
                ("port", port),
            ];
            if let Some(t) = &svc.transport {
                attrs.push(("transport", t.as_str().to_string()));
            }
            if let Some(secret) = self.turn_secret.as_ref().filter(|_| ty != "stun") {
                let (user, pass) = turn_credentials(secret, expires);
                attrs.push(("username", user));
                attrs.push(("password", pass));
                attrs.push(("restricted", "1".to_string()));
                attrs.push(("expires", format_unix(expires)));
            }
            let refs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.append_child(el("service", ns, &refs));
        }
        s
    }
}

/// coturn `use-auth-secret` credentials: username is the expiry time, the
/// password base64(HMAC-SHA1(secret, username)) — what Jitsi's
/// mod_turncredentials computes.
pub fn turn_credentials(secret: &str, expires_unix: u64) -> (String, String) {
    let username = expires_unix.to_string();
    let password = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    (username, password)
}

/// XEP-0082 date-time in UTC for a unix timestamp.
pub fn format_unix(t: u64) -> String {
    let days = t / 86_400;
    let secs = t % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for the Gregorian calendar.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Answer IQs a client sends to its own account (no `to`, or its bare JID):
/// an empty roster (we keep none) and service-unavailable for the rest.
pub fn handle_account_iq(iq: &Element) -> Option<Element> {
    let ty = iq.attr("type").unwrap_or("");
    if ty != "get" && ty != "set" {
        return None;
    }
    match stanza::iq_payload(iq) {
        Some(p) if p.is("query", NS_ROSTER) && ty == "get" => Some(stanza::iq_result(
            iq,
            Some(Element::bare("query", NS_ROSTER)),
        )),
        Some(p) if p.is("ping", NS_PING) => Some(stanza::iq_result(iq, None)),
        _ => stanza::error_reply(iq, ErrorType::Cancel, "service-unavailable", None),
    }
}

#[allow(dead_code)]
const _NS: &str = NS_CLIENT;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_credentials_match_coturn_rest_api() {
        // Same computation as coturn's turnutils / Jitsi's mod_turncredentials:
        // HMAC-SHA1 over the decimal expiry, base64.
        let (u, p) = turn_credentials("secret", 1_700_000_000);
        assert_eq!(u, "1700000000");
        let mut mac = Hmac::<Sha1>::new_from_slice(b"secret").expect("key");
        mac.update(b"1700000000");
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(p, want);
        assert_eq!(p.len(), 28);
    }

    #[test]
    fn formats_xep0082_dates() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix(1_795_998_896), "2026-11-30T00:34:56Z");
    }
}
