//! The focus's client connection (`focus@auth.DOMAIN`): STARTTLS, SASL,
//! bind, then the brewery (jitsi-protocol.md §5): join `bridge_muc` as
//! `focus`, track bridges from their stats presences, and health-check them
//! every 10 s when enabled (§5.4).
//!
//! Only tokio-xmpp's stream layer is used (its `Client` can lose stanzas).
//! Reconnection: exponential back-off from 1 s to 30 s, then a fresh login
//! and rejoin; the bridge list is rebuilt from the presences after a rejoin.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use jitsi_xmpp::{BridgeStats, HealthCheck};
use minidom::Element;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_xmpp::Stanza;
use tokio_xmpp::xmlstream::{ReadError, XmppStream, XmppStreamElement};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::manager::{Answer, Manager, Out, Request};
use crate::selection::Candidate;
use crate::state::State;
use crate::xml::{NS_DISCO_INFO, NS_PING};

/// The client side's ends of the channels to the component connection,
/// and the conferences, which outlive a reconnect of this connection
/// (their rooms do not: the server removes a vanished occupant).
pub struct Conferences {
    pub manager: Manager,
    pub requests: tokio::sync::mpsc::Receiver<Request>,
    pub answers: tokio::sync::mpsc::Sender<(u64, Answer)>,
}

const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub const NICK: &str = "focus";
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);
/// jicofo's JvbDoctor interval and our answer deadline.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an unanswered join waits before it is sent again.
const REJOIN_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    /// The account, focus@auth.DOMAIN.
    pub jid: BareJid,
    pub password: String,
    pub brewery: BareJid,
    pub health_checks: bool,
}

pub async fn run(
    settings: Settings,
    tls: Arc<rustls::ClientConfig>,
    state: Arc<State>,
    mut conferences: Conferences,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        tracing::info!(jid = %settings.jid, server = %format!("{}:{}", settings.host, settings.port), "xmpp client connecting");
        let mut session = Session::new(&settings, &state, &mut conferences);
        let outcome = session.run(&tls, &mut stop).await;
        let (joined_once, connected) = (session.joined_once, session.connected);
        drop(session);
        state.client_up.store(false, Ordering::Relaxed);
        conferences.manager.connection_lost();
        flush_replies(&mut conferences).await;
        // Presences are the only source of the bridge list: start afresh.
        state.clear_bridges();
        match outcome {
            Ok(()) => return,
            Err(e) => {
                state.metrics.xmpp_failures.inc();
                if joined_once {
                    backoff = MIN_BACKOFF;
                }
                if connected {
                    tracing::warn!(error = %e, "xmpp client connection lost");
                } else {
                    tracing::warn!(error = %e, "xmpp client connection failed");
                }
            }
        }
        tracing::info!(delay_s = backoff.as_secs(), "xmpp client reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

struct Session<'a> {
    settings: &'a Settings,
    state: &'a State,
    conf: &'a mut Conferences,
    /// brewery/focus
    occupant: Option<FullJid>,
    joined: bool,
    joined_once: bool,
    connected: bool,
    last_join: Option<Instant>,
    next_health: Instant,
    /// Health-check IQ id → (bridge occupant, sent at).
    pending: HashMap<String, (String, Instant)>,
    seq: u64,
}

impl<'a> Session<'a> {
    fn new(settings: &'a Settings, state: &'a State, conf: &'a mut Conferences) -> Self {
        Self {
            settings,
            state,
            conf,
            occupant: settings.brewery.with_resource_str(NICK).ok(),
            joined: false,
            joined_once: false,
            connected: false,
            last_join: None,
            next_health: Instant::now(),
            pending: HashMap::new(),
            seq: 0,
        }
    }

    async fn run(
        &mut self,
        tls: &Arc<rustls::ClientConfig>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let login = tokio::time::timeout(LOGIN_TIMEOUT, login(self.settings, tls));
        let (mut stream, bound) = tokio::select! {
            r = login => r.map_err(|_| "login timed out".to_string())??,
            _ = stop.changed() => return Ok(()),
        };
        self.connected = true;
        self.conf.manager.set_initiator(&bound);
        tracing::info!(jid = %bound, "xmpp client connected");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    let bridges = self.candidates();
                    self.conf.manager.shutdown(&bridges, std::time::Instant::now());
                    let _ = self.flush(&mut stream).await;
                    self.goodbye(&mut stream).await;
                    return Ok(());
                }
                _ = tick.tick() => {
                    for stanza in self.on_tick(Instant::now()) {
                        send(&mut stream, stanza).await?;
                    }
                    if self.joined {
                        let bridges = self.candidates();
                        let now = std::time::Instant::now();
                        // Health checks may have failed a bridge.
                        self.conf.manager.on_bridges(&bridges, now);
                        self.conf.manager.tick(&bridges, now);
                    }
                    self.flush(&mut stream).await?;
                }
                req = self.conf.requests.recv(), if self.joined => {
                    let Some(req) = req else {
                        return Err("the component connection's task stopped".to_string());
                    };
                    let bridges = self.candidates();
                    self.conf.manager.on_request(req, &bridges, std::time::Instant::now());
                    self.flush(&mut stream).await?;
                }
                item = stream.next() => {
                    let element = match item {
                        None => return Err("connection closed".to_string()),
                        Some(Ok(el)) => el.into_read_error(),
                        Some(Err(e)) => Err(e),
                    };
                    match element {
                        Ok(XmppStreamElement::Stanza(Stanza::Iq(iq))) => {
                            let el = Element::from(iq.clone());
                            let bridges = self.candidates();
                            if self.conf.manager.on_stanza(&el, &bridges, std::time::Instant::now()) {
                                self.flush(&mut stream).await?;
                            } else if let Some(reply) = self.on_iq(iq) {
                                send(&mut stream, Stanza::Iq(reply)).await?;
                            }
                        }
                        Ok(XmppStreamElement::Stanza(Stanza::Presence(p))) => {
                            let el = Element::from(p.clone());
                            let bridges = self.candidates();
                            if self.conf.manager.on_stanza(&el, &bridges, std::time::Instant::now()) {
                                self.flush(&mut stream).await?;
                            } else {
                                let before = self.candidates();
                                self.on_presence(&p);
                                let after = self.candidates();
                                if before != after {
                                    self.conf.manager.on_bridges(&after, std::time::Instant::now());
                                    self.flush(&mut stream).await?;
                                }
                            }
                        }
                        Ok(XmppStreamElement::StreamError(e)) => return Err(format!("stream error: {e:?}")),
                        Ok(_) => {}
                        Err(ReadError::SoftTimeout) => {
                            // Silence: make the server answer before the hard timeout.
                            self.seq += 1;
                            let ping = Iq::Get {
                                from: None,
                                to: Some(Jid::from(self.settings.jid.domain().to_owned())),
                                id: format!("keepalive-{}", self.seq),
                                payload: Element::bare("ping", NS_PING),
                            };
                            send(&mut stream, Stanza::Iq(ping)).await?;
                        }
                        Err(ReadError::ParseError(e)) => {
                            tracing::debug!(error = %e, "unparsable stanza ignored");
                        }
                        Err(ReadError::StreamFooterReceived) => return Err("server closed the stream".to_string()),
                        Err(ReadError::HardError(e)) => return Err(format!("read failed: {e}")),
                    }
                }
            }
        }
    }

    /// The bridges as selection sees them.
    fn candidates(&self) -> Vec<Candidate> {
        self.state
            .bridges()
            .iter()
            .map(|(jid, info)| Candidate::from_info(jid, info))
            .collect()
    }

    /// Sends what the conferences produced and hands answers to the
    /// component connection.
    async fn flush(&mut self, stream: &mut XmppStream<Io>) -> Result<(), String> {
        let mut failed_any = false;
        for out in self.conf.manager.drain() {
            match out {
                Out::Send(el) => match to_stanza(el) {
                    Ok(stanza) => send(stream, stanza).await?,
                    Err(e) => {
                        tracing::error!(error = %e, "a conference produced an invalid stanza")
                    }
                },
                Out::Reply(token, answer) => {
                    if self.conf.answers.try_send((token, answer)).is_err() {
                        tracing::warn!(
                            "a conference answer could not reach the component connection"
                        );
                    }
                }
                Out::BridgeFailed(bridge) => {
                    tracing::warn!(%bridge, "bridge failed a request; marked non-operational");
                    self.state.metrics.health_check_failures.inc();
                    self.state.set_health(&bridge, false);
                    failed_any = true;
                }
            }
        }
        self.state
            .conferences
            .store(self.conf.manager.conference_count(), Ordering::Relaxed);
        self.state
            .participants
            .store(self.conf.manager.participant_count(), Ordering::Relaxed);
        if failed_any {
            let bridges = self.candidates();
            self.conf
                .manager
                .on_bridges(&bridges, std::time::Instant::now());
            // One more round: the moves produce stanzas (no further
            // failures can come out of on_bridges itself).
            for out in self.conf.manager.drain() {
                if let Out::Send(el) = out {
                    if let Ok(stanza) = to_stanza(el) {
                        send(stream, stanza).await?;
                    }
                } else if let Out::Reply(token, answer) = out {
                    let _ = self.conf.answers.try_send((token, answer));
                }
            }
        }
        Ok(())
    }

    /// Once a second: (re)join when needed, send due health checks, fail the
    /// unanswered ones.
    fn on_tick(&mut self, now: Instant) -> Vec<Stanza> {
        let mut out = Vec::new();
        let Some(occupant) = self.occupant.clone() else {
            return out;
        };
        if !self.joined
            && self
                .last_join
                .is_none_or(|t| now.duration_since(t) >= REJOIN_DELAY)
        {
            self.last_join = Some(now);
            let p = Presence::available()
                .with_to(occupant)
                .with_payloads(vec![Element::bare("x", NS_MUC)]);
            out.push(Stanza::Presence(p));
        }
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (_, sent))| now.duration_since(*sent) >= HEALTH_TIMEOUT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some((bridge, _)) = self.pending.remove(&id) {
                tracing::warn!(%bridge, "bridge health check timed out; marked non-operational");
                self.state.metrics.health_check_failures.inc();
                self.state.set_health(&bridge, false);
            }
        }
        if self.settings.health_checks && self.joined && now >= self.next_health {
            self.next_health = now + HEALTH_INTERVAL;
            let bridges: Vec<String> = self.state.bridges().keys().cloned().collect();
            for bridge in bridges {
                let Ok(to) = bridge.parse::<Jid>() else {
                    continue;
                };
                self.seq += 1;
                let id = format!("health-{}", self.seq);
                self.pending.insert(id.clone(), (bridge, now));
                self.state.metrics.health_checks.inc();
                out.push(Stanza::Iq(Iq::Get {
                    from: None,
                    to: Some(to),
                    id,
                    payload: Element::from(&HealthCheck),
                }));
            }
        }
        out
    }

    fn on_iq(&mut self, iq: Iq) -> Option<Iq> {
        match iq {
            Iq::Result { id, .. } => {
                if let Some((bridge, _)) = self.pending.remove(&id) {
                    tracing::debug!(%bridge, "bridge health check passed");
                    self.state.set_health(&bridge, true);
                }
                None
            }
            Iq::Error { id, error, .. } => {
                if let Some((bridge, _)) = self.pending.remove(&id) {
                    // §5.4: only these two mean the bridge is unwell.
                    let failed = matches!(
                        error.defined_condition,
                        DefinedCondition::InternalServerError
                            | DefinedCondition::ServiceUnavailable
                    );
                    tracing::warn!(%bridge, condition = ?error.defined_condition, failed, "bridge health check answered with an error");
                    if failed {
                        self.state.metrics.health_check_failures.inc();
                        self.state.set_health(&bridge, false);
                    }
                }
                None
            }
            Iq::Get {
                from, id, payload, ..
            } => {
                let ns = payload.ns();
                let result = match (payload.name(), ns.as_str()) {
                    ("ping", NS_PING) => Ok(None),
                    ("query", NS_DISCO_INFO) => Ok(Some(crate::xml::disco_info(
                        "client",
                        "bot",
                        "meet-rs focus",
                        &[NS_DISCO_INFO, NS_PING],
                    ))),
                    _ => Err(()),
                };
                Some(answer(from, id, result))
            }
            Iq::Set { from, id, .. } => Some(answer(from, id, Err(()))),
        }
    }

    fn on_presence(&mut self, p: &Presence) {
        let Some(from) = &p.from else {
            return;
        };
        if from.to_bare() != self.settings.brewery {
            return;
        }
        let Some(nick) = from.resource() else {
            return;
        };
        if nick.as_str() == NICK {
            self.on_own_presence(p);
            return;
        }
        let occupant = from.to_string();
        match p.type_ {
            PresenceType::Unavailable if self.state.bridge_gone(&occupant) => {
                tracing::info!(bridge = %occupant, "bridge left the brewery");
            }
            PresenceType::None => {
                let Some(stats) = p
                    .payloads
                    .iter()
                    .find(|e| e.is("stats", jitsi_xmpp::ns::COLIBRI))
                else {
                    return;
                };
                match BridgeStats::try_from(stats) {
                    Ok(stats) => {
                        let stress = stats.stress_level();
                        if self.state.bridge_seen(&occupant, stats) {
                            tracing::info!(bridge = %occupant, stress = ?stress, "bridge joined the brewery");
                        }
                    }
                    Err(e) => {
                        tracing::info!(bridge = %occupant, error = %e, "unparsable bridge stats ignored")
                    }
                }
            }
            _ => {}
        }
    }

    fn on_own_presence(&mut self, p: &Presence) {
        match p.type_ {
            PresenceType::None => {
                if !self.joined {
                    tracing::info!(room = %self.settings.brewery, "joined the brewery");
                }
                self.joined = true;
                self.joined_once = true;
                self.state.client_up.store(true, Ordering::Relaxed);
            }
            PresenceType::Unavailable | PresenceType::Error => {
                if self.joined {
                    tracing::warn!(room = %self.settings.brewery, "out of the brewery; rejoining");
                } else {
                    tracing::warn!(room = %self.settings.brewery, "brewery join refused; retrying");
                }
                self.joined = false;
                self.state.client_up.store(false, Ordering::Relaxed);
                self.state.clear_bridges();
                self.pending.clear();
            }
            _ => {}
        }
    }

    async fn goodbye(&mut self, stream: &mut XmppStream<Io>) {
        let leave = async {
            if let Some(occupant) = &self.occupant {
                let p = Presence::unavailable().with_to(occupant.clone());
                send(stream, Stanza::Presence(p)).await?;
            }
            stream.shutdown().await.map_err(|e| e.to_string())
        };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(3), leave)
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()))
        {
            tracing::warn!(error = %e, "leaving the brewery failed");
        } else {
            tracing::info!("left the brewery; xmpp client disconnected");
        }
        self.joined = false;
    }
}

fn answer(from: Option<Jid>, id: String, result: Result<Option<Element>, ()>) -> Iq {
    match result {
        Ok(payload) => Iq::Result {
            from: None,
            to: from,
            id,
            payload,
        },
        Err(()) => Iq::Error {
            from: None,
            to: from,
            id,
            error: StanzaError::new(
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
                "en",
                "not supported",
            ),
            payload: None,
        },
    }
}

use xmpp_client::{Io, send};

/// Answers produced while the connection was going down.
async fn flush_replies(conf: &mut Conferences) {
    for out in conf.manager.drain() {
        if let Out::Reply(token, answer) = out {
            let _ = conf.answers.send((token, answer)).await;
        }
    }
}

/// A conference's stanza element as a typed stanza for the stream layer.
fn to_stanza(el: Element) -> Result<Stanza, String> {
    match el.name() {
        "iq" => Iq::try_from(el).map(Stanza::Iq).map_err(|e| e.to_string()),
        "presence" => Presence::try_from(el)
            .map(Stanza::Presence)
            .map_err(|e| e.to_string()),
        "message" => xmpp_parsers::message::Message::try_from(el)
            .map(Stanza::Message)
            .map_err(|e| e.to_string()),
        other => Err(format!("not a stanza: {other}")),
    }
}

/// Log in as the focus account (see the xmpp-client crate).
async fn login(
    settings: &Settings,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(XmppStream<Io>, String), String> {
    let account = xmpp_client::Account {
        host: &settings.host,
        port: settings.port,
        jid: &settings.jid,
        password: &settings.password,
    };
    xmpp_client::login(&account, tls).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            host: "localhost".into(),
            port: 5222,
            jid: "focus@auth.meet.test".parse().expect("jid"),
            password: "pw".into(),
            brewery: "JvbBrewery@internal.auth.meet.test".parse().expect("jid"),
            health_checks: true,
        }
    }

    fn presence(xml: &str) -> Presence {
        let el: Element = xml.parse().expect("xml");
        Presence::try_from(el).expect("presence")
    }

    #[test]
    fn brewery_bridges_and_health_checks() {
        let s = settings();
        let st = State::new();
        let (_req_tx, req_rx) = tokio::sync::mpsc::channel(1);
        let (ans_tx, _ans_rx) = tokio::sync::mpsc::channel(1);
        let mut conf = Conferences {
            manager: Manager::new(
                crate::conference::Settings {
                    initiator: "focus@auth.meet.test/r".into(),
                    nick: NICK.into(),
                    version: "test".into(),
                    auth_enabled: false,
                },
                "focus@auth.meet.test",
                None,
                Box::new(|| "id".into()),
            ),
            requests: req_rx,
            answers: ans_tx,
        };
        let mut sess = Session::new(&s, &st, &mut conf);
        let t0 = Instant::now();
        let out = sess.on_tick(t0);
        assert_eq!(out.len(), 1, "a join");
        assert!(sess.on_tick(t0 + Duration::from_secs(1)).is_empty());
        sess.on_presence(&presence("<presence xmlns='jabber:client' from='jvbbrewery@internal.auth.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'/></presence>"));
        assert!(st.client_up.load(Ordering::Relaxed));
        let bridge = "jvbbrewery@internal.auth.meet.test/jvb-1";
        sess.on_presence(&presence(&format!("<presence xmlns='jabber:client' from='{bridge}'><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level' value='0.1'/></stats></presence>")));
        // An occupant without stats is not a bridge.
        sess.on_presence(&presence(
            "<presence xmlns='jabber:client' from='jvbbrewery@internal.auth.meet.test/other'/>",
        ));
        assert_eq!(st.bridge_counts(), (1, 1));

        // A health check goes out; no answer within 5 s fails the bridge.
        let out = sess.on_tick(t0 + Duration::from_secs(2));
        assert_eq!(out.len(), 1);
        let Stanza::Iq(Iq::Get { id, to, .. }) = &out[0] else {
            panic!("health-check IQ expected");
        };
        assert_eq!(to.as_ref().map(Jid::to_string).as_deref(), Some(bridge));
        let first = id.clone();
        sess.on_tick(t0 + Duration::from_secs(8));
        assert_eq!(st.bridge_counts(), (1, 0));
        assert!(st.health().is_err());
        // A late answer is ignored; the next passing check restores it.
        let out = sess.on_tick(t0 + Duration::from_secs(12));
        let Stanza::Iq(Iq::Get { id, .. }) = &out[0] else {
            panic!("health-check IQ expected");
        };
        assert_ne!(*id, first);
        sess.on_iq(Iq::Result {
            from: None,
            to: None,
            id: id.clone(),
            payload: None,
        });
        assert_eq!(st.bridge_counts(), (1, 1));

        // Only internal-server-error / service-unavailable answers fail it.
        let error = |sess: &mut Session, id: &str, condition| {
            sess.on_iq(Iq::Error {
                from: None,
                to: None,
                id: id.to_string(),
                error: StanzaError::new(ErrorType::Cancel, condition, "en", ""),
                payload: None,
            });
        };
        let check_id = |out: &[Stanza]| match out.first() {
            Some(Stanza::Iq(Iq::Get { id, .. })) => id.clone(),
            _ => panic!("health-check IQ expected"),
        };
        let id = check_id(&sess.on_tick(t0 + Duration::from_secs(22)));
        error(&mut sess, &id, DefinedCondition::ItemNotFound);
        assert_eq!(st.bridge_counts(), (1, 1));
        let id = check_id(&sess.on_tick(t0 + Duration::from_secs(32)));
        error(&mut sess, &id, DefinedCondition::InternalServerError);
        assert_eq!(st.bridge_counts(), (1, 0));

        sess.on_presence(&presence(&format!(
            "<presence xmlns='jabber:client' type='unavailable' from='{bridge}'/>"
        )));
        assert_eq!(st.bridge_counts(), (0, 0));
        sess.on_presence(&presence("<presence xmlns='jabber:client' type='unavailable' from='jvbbrewery@internal.auth.meet.test/focus'/>"));
        assert!(!st.client_up.load(Ordering::Relaxed));
    }
}
