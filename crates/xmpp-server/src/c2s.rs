//! The client-to-server session as a sans-IO state machine.
//!
//! Transport edges (TCP with STARTTLS, WebSocket, BOSH) turn their framing
//! into [`XmlEvent`]s, call [`C2sSession::handle`], and carry out the
//! returned [`Out`] actions. Everything that needs the outside world — the
//! account store, the router — goes through [`C2sEnv`], which unit tests fake.
//!
//! Flow (RFC 6120): header → features (STARTTLS?) → SASL → restart →
//! bind (+ legacy session) → stanzas, stamped with the bound JID and routed.

use std::collections::BTreeSet;

use base64::Engine;
use minidom::Element;

use crate::accounts::Credentials;
use crate::sasl::{
    self, AuthMethod, AuthOutcome, CredentialLookup, Failure, Mechanism, SaslSession, Step,
};
use crate::stanza::{self, ErrorType, Kind, el, set_attr};
use crate::xml::{NS_CLIENT, StreamHeader, XmlEvent};

pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";

/// Directed presences (rooms joined) one session may hold at once.
pub const MAX_DIRECTED_PRESENCES: usize = 10_000;

/// Failed SASL attempts allowed on one stream before it is closed.
pub const MAX_AUTH_ATTEMPTS: u32 = 3;
/// Delay before a SASL failure is sent, so guessing passwords is slow.
pub const AUTH_FAILURE_DELAY_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    WebSocket,
    Bosh,
}

/// A virtual host's rules for c2s.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    pub auth: AuthMethod,
    pub require_encryption: bool,
    pub allow_unencrypted_plain: bool,
    /// Mechanisms the operator switched off (prosody disable_sasl_mechanisms).
    pub disabled_mechanisms: Vec<String>,
}

impl HostPolicy {
    /// What this host offers on a stream that is (or is not) secure.
    pub fn mechanisms(&self, secure: bool) -> Vec<Mechanism> {
        let mut m = sasl::mechanisms_for(self.auth, secure, self.allow_unencrypted_plain);
        m.retain(|x| {
            !self
                .disabled_mechanisms
                .iter()
                .any(|d| d.eq_ignore_ascii_case(x.name()))
        });
        m
    }
}

/// The session's view of the rest of the server.
pub trait C2sEnv {
    fn host_policy(&self, host: &str) -> Option<HostPolicy>;
    /// Whether STARTTLS can be offered for this host (a certificate exists).
    fn tls_available(&self, host: &str) -> bool;
    fn credentials(&self, user: &str, host: &str) -> Result<Option<Credentials>, String>;
    /// Register the bound session; returns the resource and a session id.
    fn bind(&mut self, bare: &str, requested: Option<&str>) -> (String, u64);
    fn unbind(&mut self, bare: &str, id: u64);
    fn set_presence(&mut self, bare: &str, id: u64, available: bool, priority: i8);
    fn route(&mut self, stanza: Element);
    /// A login failed (for logs and counters; never given the password).
    fn auth_failed(&mut self, user: Option<&str>, host: &str, reason: &str);
    fn auth_succeeded(&mut self, jid: &str, mechanism: &str);
}

/// Actions for the transport edge, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Open our side of the stream (TCP header / WebSocket `<open/>` / BOSH
    /// session attributes).
    Header { id: String, from: String },
    /// A stream-level element: features, SASL and TLS nonzas, stanzas.
    Send(Element),
    /// Wait before continuing with the next actions.
    Delay(u64),
    /// Start TLS now (after `<proceed/>` was sent), then expect a new header.
    StartTls,
    /// Reset the parser and expect a new header (after SASL success).
    Restart,
    /// Close the stream, with a stream error if given.
    Close(Option<Element>),
}

#[derive(Debug)]
enum State {
    AwaitHeader,
    Negotiating,
    Sasl(Box<SaslSession>, Mechanism),
    /// SASL succeeded; a new header is expected.
    AwaitRestart,
    /// Header after SASL received; waiting for resource binding.
    AwaitBind,
    Bound,
    Closed,
}

#[derive(Debug)]
pub struct C2sSession {
    transport: Transport,
    stream_id: String,
    state: State,
    secure: bool,
    host: Option<String>,
    user: Option<AuthOutcome>,
    /// `node@host` once authenticated.
    bare: Option<String>,
    resource: Option<String>,
    session_id: u64,
    available: bool,
    /// Full JIDs we sent directed available presence to (MUC rooms): they
    /// get unavailable when the session ends.
    directed: BTreeSet<String>,
    auth_failures: u32,
    out: Vec<Out>,
}

struct EnvLookup<'a, E: C2sEnv + ?Sized> {
    env: &'a E,
    host: &'a str,
}

impl<E: C2sEnv + ?Sized> CredentialLookup for EnvLookup<'_, E> {
    fn lookup(&self, username: &str) -> Result<Option<Credentials>, String> {
        self.env.credentials(username, self.host)
    }
}

impl C2sSession {
    /// `secure` is true for a transport already encrypted or configured to be
    /// treated as such (consider_bosh_secure, consider_websocket_secure).
    pub fn new(transport: Transport, secure: bool) -> Self {
        Self {
            transport,
            stream_id: uuid::Uuid::new_v4().simple().to_string(),
            state: State::AwaitHeader,
            secure,
            host: None,
            user: None,
            bare: None,
            resource: None,
            session_id: 0,
            available: false,
            directed: BTreeSet::new(),
            auth_failures: 0,
            out: Vec::new(),
        }
    }

    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// The bound full JID, once bound.
    pub fn jid(&self) -> Option<String> {
        match (&self.bare, &self.resource) {
            (Some(b), Some(r)) => Some(format!("{b}/{r}")),
            _ => None,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Take the pending actions.
    pub fn take_output(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    /// TLS was established by the edge after [`Out::StartTls`].
    pub fn tls_established(&mut self) {
        self.secure = true;
        self.state = State::AwaitHeader;
    }

    pub fn handle(&mut self, ev: XmlEvent, env: &mut dyn C2sEnv) {
        if self.is_closed() {
            return;
        }
        match ev {
            XmlEvent::StreamOpen(h) => self.on_header(h, env),
            XmlEvent::Element(e) => self.on_element(e, env),
            XmlEvent::StreamClose => {
                self.end(env);
                self.out.push(Out::Close(None));
            }
        }
    }

    /// The peer vanished or the edge closed the stream: leave cleanly.
    pub fn disconnected(&mut self, env: &mut dyn C2sEnv) {
        if !self.is_closed() {
            self.end(env);
        }
    }

    /// A stanza for this session from the router: deliver as is.
    pub fn deliver(&mut self, stanza: Element) {
        if matches!(self.state, State::Bound) {
            self.out.push(Out::Send(stanza));
        }
    }

    /// Close with a stream error (also used by the edge for XML errors,
    /// timeouts and limits).
    pub fn fail(&mut self, condition: &str, text: Option<&str>, env: &mut dyn C2sEnv) {
        if self.is_closed() {
            return;
        }
        if matches!(self.state, State::AwaitHeader) && self.host.is_none() {
            // RFC 6120 §4.9.1.1: open a stream before sending the error.
            self.out.push(Out::Header {
                id: self.stream_id.clone(),
                from: String::new(),
            });
        }
        self.end(env);
        self.out
            .push(Out::Close(Some(stanza::stream_error(condition, text))));
    }

    fn end(&mut self, env: &mut dyn C2sEnv) {
        if let (Some(bare), Some(resource)) = (self.bare.clone(), self.resource.clone()) {
            let full = format!("{bare}/{resource}");
            // Directed presence must be withdrawn (RFC 6121 §4.6.3) — this is
            // how MUC rooms learn that an occupant is gone.
            for target in std::mem::take(&mut self.directed) {
                let p = el(
                    "presence",
                    NS_CLIENT,
                    &[("type", "unavailable"), ("from", &full), ("to", &target)],
                );
                env.route(p);
            }
            env.unbind(&bare, self.session_id);
        }
        self.resource = None;
        self.state = State::Closed;
    }

    fn on_header(&mut self, h: StreamHeader, env: &mut dyn C2sEnv) {
        if !matches!(self.state, State::AwaitHeader | State::AwaitRestart) {
            self.fail("invalid-xml", Some("unexpected stream header"), env);
            return;
        }
        if self.transport == Transport::Tcp
            && (h.name != "stream" || h.ns != crate::xml::NS_STREAMS)
        {
            self.fail("invalid-namespace", None, env);
            return;
        }
        let Some(to) = h.to.as_deref().map(str::to_ascii_lowercase) else {
            self.fail("host-unknown", Some("missing 'to'"), env);
            return;
        };
        if self.host.as_deref().is_some_and(|cur| cur != to) {
            self.fail("host-unknown", Some("host changed on restart"), env);
            return;
        }
        let Some(policy) = env.host_policy(&to) else {
            self.out.push(Out::Header {
                id: self.stream_id.clone(),
                from: to.clone(),
            });
            self.fail(
                "host-unknown",
                Some("this server does not serve that host"),
                env,
            );
            return;
        };
        if let Some(v) = &h.version
            && !v.starts_with("1.")
        {
            self.out.push(Out::Header {
                id: self.stream_id.clone(),
                from: to.clone(),
            });
            self.fail("unsupported-version", None, env);
            return;
        }
        self.host = Some(to.clone());
        // A fresh id per stream (restart included), as RFC 6120 §4.7.3 wants.
        self.stream_id = uuid::Uuid::new_v4().simple().to_string();
        self.out.push(Out::Header {
            id: self.stream_id.clone(),
            from: to.clone(),
        });
        let mut features = Element::bare("features", crate::xml::NS_STREAMS);
        if self.user.is_none() {
            self.state = State::Negotiating;
            let tls_offer =
                self.transport == Transport::Tcp && !self.secure && env.tls_available(&to);
            if tls_offer {
                let mut st = Element::bare("starttls", NS_TLS);
                if policy.require_encryption {
                    st.append_child(Element::bare("required", NS_TLS));
                }
                features.append_child(st);
            }
            if self.secure || !policy.require_encryption {
                let mut mechs = Element::bare("mechanisms", NS_SASL);
                for m in policy.mechanisms(self.secure) {
                    let mut me = Element::bare("mechanism", NS_SASL);
                    me.append_text(m.name().to_string());
                    mechs.append_child(me);
                }
                features.append_child(mechs);
            }
        } else {
            self.state = State::AwaitBind;
            features.append_child(Element::bare("bind", NS_BIND));
            let mut sess = Element::bare("session", NS_SESSION);
            sess.append_child(Element::bare("optional", NS_SESSION));
            features.append_child(sess);
        }
        self.out.push(Out::Send(features));
    }

    fn on_element(&mut self, e: Element, env: &mut dyn C2sEnv) {
        match &self.state {
            State::AwaitHeader | State::AwaitRestart => {
                self.fail("not-authorized", Some("stream not open"), env);
            }
            State::Negotiating | State::Sasl(..) => self.negotiate(e, env),
            State::AwaitBind => {
                if stanza::kind(&e) == Some(Kind::Iq) {
                    self.bind_iq(e, env);
                } else {
                    self.fail("not-authorized", Some("bind a resource first"), env);
                }
            }
            State::Bound => self.stanza(e, env),
            State::Closed => {}
        }
    }

    fn negotiate(&mut self, e: Element, env: &mut dyn C2sEnv) {
        let ns = e.ns();
        let host = self.host.clone().unwrap_or_default();
        let Some(policy) = env.host_policy(&host) else {
            self.fail("host-unknown", None, env);
            return;
        };
        match (e.name(), ns.as_str()) {
            ("starttls", NS_TLS) => {
                if self.transport != Transport::Tcp || self.secure || !env.tls_available(&host) {
                    self.out.push(Out::Send(Element::bare("failure", NS_TLS)));
                    self.end(env);
                    self.out.push(Out::Close(None));
                    return;
                }
                self.out.push(Out::Send(Element::bare("proceed", NS_TLS)));
                self.out.push(Out::StartTls);
                self.state = State::AwaitHeader;
            }
            ("auth", NS_SASL) => {
                if !self.secure && policy.require_encryption {
                    self.sasl_failure(&host, None, "encryption-required", env);
                    return;
                }
                let offered = policy.mechanisms(self.secure);
                let mech = e.attr("mechanism").and_then(Mechanism::from_name);
                let Some(mech) = mech.filter(|m| offered.contains(m)) else {
                    self.sasl_failure(&host, None, "invalid-mechanism", env);
                    return;
                };
                let initial = match decode_sasl_payload(&e.text()) {
                    Ok(v) => v,
                    Err(()) => {
                        self.sasl_failure(&host, None, "incorrect-encoding", env);
                        return;
                    }
                };
                let lookup = EnvLookup {
                    env: &*env,
                    host: &host,
                };
                let (session, step) = SaslSession::start(mech, initial.as_deref(), &lookup);
                self.state = State::Sasl(Box::new(session), mech);
                self.sasl_step(step, &host, env);
            }
            ("response", NS_SASL) => {
                let State::Sasl(session, _) = &mut self.state else {
                    self.fail("policy-violation", Some("response without auth"), env);
                    return;
                };
                let data = match decode_sasl_payload(&e.text()) {
                    Ok(v) => v.unwrap_or_default(),
                    Err(()) => {
                        self.state = State::Negotiating;
                        self.sasl_failure(&host, None, "incorrect-encoding", env);
                        return;
                    }
                };
                let lookup = EnvLookup {
                    env: &*env,
                    host: &host,
                };
                let step = session.step(&data, &lookup);
                self.sasl_step(step, &host, env);
            }
            ("abort", NS_SASL) => {
                self.state = State::Negotiating;
                self.out.push(Out::Send(sasl_failure_element("aborted")));
            }
            _ => {
                self.fail("not-authorized", Some("authenticate first"), env);
            }
        }
    }

    fn sasl_step(&mut self, step: Step, host: &str, env: &mut dyn C2sEnv) {
        let mech_name = match &self.state {
            State::Sasl(_, m) => m.name(),
            _ => "",
        };
        match step {
            Step::Challenge(data) => {
                let mut c = Element::bare("challenge", NS_SASL);
                c.append_text(base64::engine::general_purpose::STANDARD.encode(data));
                self.out.push(Out::Send(c));
            }
            Step::Success {
                authzid_user,
                additional,
            } => {
                let node = match &authzid_user {
                    AuthOutcome::User(u) => u.clone(),
                    // lib-jitsi-meet derives the participant id from the
                    // first 8 hex digits of this node (jitsi-protocol.md §0.3).
                    AuthOutcome::Anonymous => uuid::Uuid::new_v4().to_string(),
                };
                let bare = format!("{node}@{host}");
                env.auth_succeeded(&bare, mech_name);
                self.bare = Some(bare);
                self.user = Some(authzid_user);
                let mut s = Element::bare("success", NS_SASL);
                if let Some(a) = additional {
                    s.append_text(base64::engine::general_purpose::STANDARD.encode(a));
                }
                self.out.push(Out::Send(s));
                self.out.push(Out::Restart);
                self.state = State::AwaitRestart;
            }
            Step::Failure(f) => {
                self.state = State::Negotiating;
                let cond = f.condition();
                let reason = match &f {
                    Failure::MalformedRequest(r) => r.clone(),
                    other => format!("{other:?}"),
                };
                self.sasl_failure(host, Some(&reason), cond, env);
            }
        }
    }

    fn sasl_failure(
        &mut self,
        host: &str,
        reason: Option<&str>,
        condition: &str,
        env: &mut dyn C2sEnv,
    ) {
        self.auth_failures += 1;
        env.auth_failed(None, host, reason.unwrap_or(condition));
        self.out.push(Out::Delay(AUTH_FAILURE_DELAY_MS));
        self.out.push(Out::Send(sasl_failure_element(condition)));
        if self.auth_failures >= MAX_AUTH_ATTEMPTS {
            self.fail(
                "policy-violation",
                Some("too many failed authentication attempts"),
                env,
            );
        }
    }

    fn bind_iq(&mut self, iq: Element, env: &mut dyn C2sEnv) {
        let Some(bind) = iq
            .get_child("bind", NS_BIND)
            .filter(|_| iq.attr("type") == Some("set"))
        else {
            if let Some(r) = stanza::error_reply(
                &iq,
                ErrorType::Auth,
                "not-authorized",
                Some("bind a resource first"),
            ) {
                self.out.push(Out::Send(r));
            }
            return;
        };
        let requested = bind.get_child("resource", NS_BIND).map(|r| r.text());
        let requested = requested
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty());
        let Some(bare) = self.bare.clone() else {
            self.fail("internal-server-error", None, env);
            return;
        };
        let (resource, id) = env.bind(&bare, requested);
        self.session_id = id;
        let full = format!("{bare}/{resource}");
        self.resource = Some(resource);
        self.state = State::Bound;
        let mut b = Element::bare("bind", NS_BIND);
        let mut j = Element::bare("jid", NS_BIND);
        j.append_text(full);
        b.append_child(j);
        let mut reply = el("iq", NS_CLIENT, &[("type", "result")]);
        if let Some(id) = iq.attr("id") {
            set_attr(&mut reply, "id", id);
        }
        reply.append_child(b);
        self.out.push(Out::Send(reply));
    }

    fn stanza(&mut self, mut e: Element, env: &mut dyn C2sEnv) {
        let Some(kind) = stanza::kind(&e) else {
            // Nonzas we do not support (e.g. stream management) are answered
            // by ignoring them, as Prosody does for unknown top-level elements
            // in a foreign namespace; unknown jabber:client elements are errors.
            if e.ns() == NS_CLIENT {
                self.fail("unsupported-stanza-type", None, env);
            }
            return;
        };
        let (Some(bare), Some(resource)) = (self.bare.clone(), self.resource.clone()) else {
            return;
        };
        let full = format!("{bare}/{resource}");
        // RFC 6120 §8.1.2.1: the server stamps the sender's full JID.
        set_attr(&mut e, "from", &full);
        let to = e.attr("to").map(str::to_string);
        let to_self = to.as_deref().is_none_or(|t| t.eq_ignore_ascii_case(&bare));
        match kind {
            Kind::Iq => {
                let ty = e.attr("type").unwrap_or("");
                if !matches!(ty, "get" | "set" | "result" | "error") || e.attr("id").is_none() {
                    if let Some(r) = stanza::error_reply(&e, ErrorType::Modify, "bad-request", None)
                    {
                        self.out.push(Out::Send(r));
                    }
                    return;
                }
                if to_self {
                    if e.has_child("session", NS_SESSION) && ty == "set" {
                        self.out.push(Out::Send(stanza::iq_result(&e, None)));
                        return;
                    }
                    if let Some(mut r) = crate::services::handle_account_iq(&e) {
                        // Replies to self-addressed IQs come from the bare JID.
                        if to.is_none() {
                            crate::stanza::remove_attr(&mut r, "from");
                        }
                        self.out.push(Out::Send(r));
                    }
                    return;
                }
                env.route(e);
            }
            Kind::Presence => {
                let ty = e.attr("type").map(str::to_string);
                match to {
                    None => {
                        // Broadcast presence: no roster to fan out to; just
                        // remember availability for message routing.
                        let available = ty.is_none();
                        let priority = e
                            .get_child("priority", NS_CLIENT)
                            .and_then(|p| p.text().trim().parse::<i8>().ok())
                            .unwrap_or(0);
                        self.available = available;
                        env.set_presence(&bare, self.session_id, available, priority);
                        if !available {
                            for target in std::mem::take(&mut self.directed) {
                                let p = el(
                                    "presence",
                                    NS_CLIENT,
                                    &[("type", "unavailable"), ("from", &full), ("to", &target)],
                                );
                                env.route(p);
                            }
                        }
                    }
                    Some(t) => {
                        match ty.as_deref() {
                            None if !self.directed.contains(&t) => {
                                // Bounded: past the cap the presence is
                                // refused rather than sent untracked, which
                                // would leave the target (a MUC room) with an
                                // occupant nobody withdraws on disconnect.
                                if self.directed.len() >= MAX_DIRECTED_PRESENCES {
                                    if let Some(r) = stanza::error_reply(
                                        &e,
                                        ErrorType::Wait,
                                        "resource-constraint",
                                        Some("too many directed presences (rooms joined)"),
                                    ) {
                                        self.out.push(Out::Send(r));
                                    }
                                    return;
                                }
                                self.directed.insert(t);
                            }
                            Some("unavailable") => {
                                self.directed.remove(&t);
                            }
                            _ => {}
                        }
                        env.route(e);
                    }
                }
            }
            Kind::Message => {
                if to.is_none() {
                    // A message to one's own account: deliver to own resources.
                    set_attr(&mut e, "to", &bare);
                }
                env.route(e);
            }
        }
    }
}

fn sasl_failure_element(condition: &str) -> Element {
    let mut f = Element::bare("failure", NS_SASL);
    f.append_child(Element::bare(condition, NS_SASL));
    f
}

/// SASL payloads are base64; `=` means an empty response, an empty element
/// means "no initial response" (RFC 6120 §6.4.2).
fn decode_sasl_payload(text: &str) -> Result<Option<Vec<u8>>, ()> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t == "=" {
        return Ok(Some(Vec::new()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .map(Some)
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_document;

    /// An environment with one anonymous host and one hashed host, recording
    /// routed stanzas.
    #[derive(Default)]
    struct FakeEnv {
        routed: Vec<Element>,
        bound: Vec<String>,
        unbound: Vec<String>,
        failures: u32,
        tls: bool,
    }

    impl C2sEnv for FakeEnv {
        fn host_policy(&self, host: &str) -> Option<HostPolicy> {
            match host {
                "anon.test" => Some(HostPolicy {
                    auth: AuthMethod::Anonymous,
                    require_encryption: false,
                    allow_unencrypted_plain: false,
                    disabled_mechanisms: vec![],
                }),
                "users.test" => Some(HostPolicy {
                    auth: AuthMethod::InternalPlain,
                    require_encryption: true,
                    allow_unencrypted_plain: false,
                    disabled_mechanisms: vec!["SCRAM-SHA-256".into()],
                }),
                _ => None,
            }
        }
        fn tls_available(&self, _host: &str) -> bool {
            self.tls
        }
        fn credentials(&self, user: &str, _host: &str) -> Result<Option<Credentials>, String> {
            Ok((user == "alice").then(|| Credentials::Plain("pw".into())))
        }
        fn bind(&mut self, bare: &str, requested: Option<&str>) -> (String, u64) {
            let r = requested.unwrap_or("gen").to_string();
            self.bound.push(format!("{bare}/{r}"));
            (r, 7)
        }
        fn unbind(&mut self, bare: &str, _id: u64) {
            self.unbound.push(bare.to_string());
        }
        fn set_presence(&mut self, _bare: &str, _id: u64, _available: bool, _priority: i8) {}
        fn route(&mut self, stanza: Element) {
            self.routed.push(stanza);
        }
        fn auth_failed(&mut self, _user: Option<&str>, _host: &str, _reason: &str) {
            self.failures += 1;
        }
        fn auth_succeeded(&mut self, _jid: &str, _mechanism: &str) {}
    }

    fn header(to: &str) -> XmlEvent {
        XmlEvent::StreamOpen(StreamHeader {
            ns: crate::xml::NS_STREAMS.into(),
            name: "stream".into(),
            to: Some(to.into()),
            version: Some("1.0".into()),
            ..Default::default()
        })
    }

    fn elem(xml: &str) -> XmlEvent {
        XmlEvent::Element(parse_document(xml.as_bytes(), 100_000).expect("xml"))
    }

    fn sent(out: &[Out]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Out::Send(e) => Some(crate::wire::element(e)),
                _ => None,
            })
            .collect()
    }

    fn anon_bound(env: &mut FakeEnv) -> C2sSession {
        let mut s = C2sSession::new(Transport::Tcp, false);
        s.handle(header("anon.test"), env);
        let out = s.take_output();
        assert!(
            sent(&out)[0].contains("<mechanism>ANONYMOUS</mechanism>"),
            "{out:?}"
        );
        s.handle(
            elem("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>"),
            env,
        );
        let out = s.take_output();
        assert!(out.contains(&Out::Restart), "{out:?}");
        s.handle(header("anon.test"), env);
        let out = s.take_output();
        assert!(
            sent(&out)[0].contains("urn:ietf:params:xml:ns:xmpp-bind"),
            "{out:?}"
        );
        s.handle(
            elem("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r1</resource></bind></iq>"),
            env,
        );
        let out = s.take_output();
        assert!(sent(&out)[0].contains("/r1</jid>"), "{out:?}");
        s
    }

    #[test]
    fn anonymous_login_binds_a_uuid_node() {
        let mut env = FakeEnv::default();
        let s = anon_bound(&mut env);
        let jid = s.jid().expect("bound");
        let node = jid.split('@').next().expect("node");
        assert_eq!(node.len(), 36, "{jid}");
        assert!(jid.ends_with("@anon.test/r1"));
        assert_eq!(env.bound.len(), 1);
    }

    #[test]
    fn stanzas_are_stamped_and_routed() {
        let mut env = FakeEnv::default();
        let mut s = anon_bound(&mut env);
        s.handle(elem("<message xmlns='jabber:client' to='b@anon.test' from='forged@x'><body>hi</body></message>"), &mut env);
        let m = env.routed.pop().expect("routed");
        assert_eq!(m.attr("from"), s.jid().as_deref());
        // IQ without id is a bad request, answered locally.
        s.handle(elem("<iq xmlns='jabber:client' type='get' to='x@anon.test'><ping xmlns='urn:xmpp:ping'/></iq>"), &mut env);
        assert!(sent(&s.take_output())[0].contains("bad-request"));
        // Roster get to self is answered with an empty roster.
        s.handle(elem("<iq xmlns='jabber:client' type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>"), &mut env);
        let out = sent(&s.take_output());
        assert!(
            out[0].contains("type=\"result\"") || out[0].contains("type='result'"),
            "{out:?}"
        );
    }

    #[test]
    fn directed_presence_is_withdrawn_on_disconnect() {
        let mut env = FakeEnv::default();
        let mut s = anon_bound(&mut env);
        s.handle(elem("<presence xmlns='jabber:client' to='room@conf.test/nick'><x xmlns='http://jabber.org/protocol/muc'/></presence>"), &mut env);
        assert_eq!(env.routed.len(), 1);
        s.disconnected(&mut env);
        let last = env.routed.last().expect("unavailable");
        assert_eq!(last.attr("type"), Some("unavailable"));
        assert_eq!(last.attr("to"), Some("room@conf.test/nick"));
        assert_eq!(env.unbound.len(), 1);
        // A second disconnect does nothing more.
        s.disconnected(&mut env);
        assert_eq!(env.unbound.len(), 1);
    }

    #[test]
    fn directed_presences_are_capped_not_leaked() {
        let mut env = FakeEnv::default();
        let mut s = anon_bound(&mut env);
        for i in 0..MAX_DIRECTED_PRESENCES {
            s.handle(
                elem(&format!(
                    "<presence xmlns='jabber:client' to='r{i}@conf.test/n'/>"
                )),
                &mut env,
            );
        }
        let routed = env.routed.len();
        s.handle(
            elem("<presence xmlns='jabber:client' to='one-more@conf.test/n'/>"),
            &mut env,
        );
        assert_eq!(
            env.routed.len(),
            routed,
            "the presence over the cap must not be routed"
        );
        let out = sent(&s.take_output());
        assert!(
            out.last()
                .is_some_and(|e| e.contains("resource-constraint")),
            "{:?}",
            out.last()
        );
        // Every tracked room is left on disconnect.
        s.disconnected(&mut env);
        let unavailable = env
            .routed
            .iter()
            .filter(|e| e.attr("type") == Some("unavailable"))
            .count();
        assert_eq!(unavailable, MAX_DIRECTED_PRESENCES);
    }

    #[test]
    fn unknown_host_and_bad_version_are_stream_errors() {
        let mut env = FakeEnv::default();
        let mut s = C2sSession::new(Transport::Tcp, false);
        s.handle(header("nope.test"), &mut env);
        let out = s.take_output();
        assert!(matches!(out.first(), Some(Out::Header { .. })));
        assert!(
            matches!(out.last(), Some(Out::Close(Some(e))) if e.has_child("host-unknown", crate::stanza::NS_STREAM_ERRORS))
        );
        assert!(s.is_closed());
        let mut s = C2sSession::new(Transport::Tcp, false);
        s.handle(
            XmlEvent::StreamOpen(StreamHeader {
                ns: crate::xml::NS_STREAMS.into(),
                name: "stream".into(),
                to: Some("anon.test".into()),
                version: Some("2.0".into()),
                ..Default::default()
            }),
            &mut env,
        );
        assert!(
            matches!(s.take_output().last(), Some(Out::Close(Some(e))) if e.has_child("unsupported-version", crate::stanza::NS_STREAM_ERRORS))
        );
    }

    #[test]
    fn encryption_required_hides_mechanisms_and_offers_starttls() {
        let mut env = FakeEnv {
            tls: true,
            ..Default::default()
        };
        let mut s = C2sSession::new(Transport::Tcp, false);
        s.handle(header("users.test"), &mut env);
        let f = sent(&s.take_output());
        assert!(
            f[0].contains("starttls") && f[0].contains("required"),
            "{f:?}"
        );
        assert!(!f[0].contains("mechanisms"), "{f:?}");
        s.handle(elem("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth>"), &mut env);
        let out = s.take_output();
        assert!(sent(&out)[0].contains("encryption-required"), "{out:?}");
        s.handle(
            elem("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            &mut env,
        );
        let out = s.take_output();
        assert!(out.contains(&Out::StartTls), "{out:?}");
        s.tls_established();
        s.handle(header("users.test"), &mut env);
        let f = sent(&s.take_output());
        assert!(
            f[0].contains("<mechanism>PLAIN</mechanism>") && !f[0].contains("starttls"),
            "{f:?}"
        );
        // PLAIN alice/pw succeeds.
        s.handle(elem("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth>"), &mut env);
        let out = s.take_output();
        assert!(sent(&out)[0].starts_with("<success"), "{out:?}");
    }

    #[test]
    fn repeated_auth_failures_close_the_stream_after_delays() {
        let mut env = FakeEnv {
            tls: true,
            ..Default::default()
        };
        let mut s = C2sSession::new(Transport::Tcp, true);
        s.handle(header("users.test"), &mut env);
        s.take_output();
        for i in 0..MAX_AUTH_ATTEMPTS {
            // alice / wrong
            s.handle(elem("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHdyb25n</auth>"), &mut env);
            let out = s.take_output();
            assert_eq!(out[0], Out::Delay(AUTH_FAILURE_DELAY_MS));
            assert!(sent(&out)[0].contains("not-authorized"), "{out:?}");
            assert_eq!(s.is_closed(), i + 1 == MAX_AUTH_ATTEMPTS);
        }
        assert_eq!(env.failures, MAX_AUTH_ATTEMPTS);
    }

    #[test]
    fn stanzas_before_authentication_are_refused() {
        let mut env = FakeEnv::default();
        let mut s = C2sSession::new(Transport::Tcp, false);
        s.handle(header("anon.test"), &mut env);
        s.take_output();
        s.handle(
            elem("<message xmlns='jabber:client' to='x@anon.test'><body>x</body></message>"),
            &mut env,
        );
        assert!(s.is_closed());
        assert!(env.routed.is_empty());
        // Bad base64 in auth is incorrect-encoding, not a crash.
        let mut s = C2sSession::new(Transport::Tcp, false);
        s.handle(header("anon.test"), &mut env);
        s.take_output();
        s.handle(
            elem("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'>!!!</auth>"),
            &mut env,
        );
        assert!(sent(&s.take_output())[0].contains("incorrect-encoding"));
        // Unknown mechanism.
        s.handle(
            elem("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-FOO'/>"),
            &mut env,
        );
        assert!(sent(&s.take_output())[0].contains("invalid-mechanism"));
    }
}
