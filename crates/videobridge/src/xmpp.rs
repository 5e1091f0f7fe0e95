//! The bridge's XMPP client: one task per configured XMPP server
//! (`videobridge.apis.xmpp-client.configs.<ID>`), each logging in as
//! `username@domain`, joining the brewery rooms and serving the focus
//! (jitsi-protocol.md §4, §5).
//!
//! A connection: TCP to `hostname:port`, STARTTLS (trusting `ca_file`, or
//! any certificate with `disable_certificate_verification`), SASL with
//! tokio-xmpp's `client_login`, resource binding, then presence to each
//! room in `muc_jids` as `muc_nickname`. Every `stats.interval` seconds the
//! bridge re-sends its presence with the stats extension; the focus treats
//! occupants carrying stats as bridges.
//!
//! IQs from the focus arrive through the brewery (`from` = room/focus-nick)
//! and are answered to `from` with the same id: health check, XEP-0199 ping,
//! disco#info and Colibri2 `conference-modify`; anything else gets
//! `service-unavailable`.
//!
//! Only tokio-xmpp's stream layer is used: its high-level `Client` sometimes
//! never surfaces incoming stanzas. Reconnection is ours: exponential
//! back-off from 1 s to 30 s, then a fresh login and rejoin. Conferences live
//! in the media plane and the Colibri2 state, so they survive a reconnect.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use minidom::Element;
use tokio::sync::watch;
use tokio_xmpp::Stanza;
use tokio_xmpp::xmlstream::{ReadError, XmppStream, XmppStreamElement};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use jitsi_xmpp::{Colibri2Error, ConferenceModify};

use crate::colibri::{Bridge, Colibri2Failure, Condition};
use crate::config::XmppServerConfig;

const NS_MUC: &str = "http://jabber.org/protocol/muc";
const NS_PING: &str = "urn:xmpp:ping";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// Features answered to disco#info.
pub const DISCO_FEATURES: &[&str] = &[
    NS_DISCO_INFO,
    NS_PING,
    jitsi_xmpp::ns::HEALTHCHECK,
    jitsi_xmpp::ns::COLIBRI2,
];

/// First and last reconnection delay.
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Bound on TCP connect + STARTTLS + SASL + bind.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the goodbye (unavailable presence, stream footer) may take.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(3);

use xmpp_client::{Io, send};

/// One XMPP server to stay connected to.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The config id (the guide's `shard`), for logs.
    pub id: String,
    pub server: XmppServerConfig,
    /// Seconds between stats presences.
    pub interval: Duration,
}

/// The TLS settings for one XMPP server: trust `ca_file`, or accept any
/// certificate when `disable_certificate_verification` is set. Without
/// either there is nothing to trust (the system roots are deliberately not
/// used: XMPP servers of a Jitsi deployment have self-signed certificates),
/// so this fails, naming both keys.
pub fn tls_config(server: &XmppServerConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    xmpp_client::tls_config(
        server.ca_file.as_deref(),
        server.disable_certificate_verification,
    )
}

/// Keep one XMPP connection up until `stop` turns true; then leave the
/// brewery and close the stream.
pub async fn run(
    conn: Connection,
    bridge: Arc<Bridge>,
    tls: Arc<rustls::ClientConfig>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let mut session = Session::new(&conn, &bridge);
        tracing::info!(
            xmpp = %conn.id,
            server = %format!("{}:{}", conn.server.hostname, conn.server.port),
            "xmpp connecting"
        );
        let outcome = session.run(&tls, &mut stop).await;
        let joined_once = session.joined_once;
        let connected = session.connected;
        session.mark_down();
        match outcome {
            Ok(()) => return,
            Err(e) => {
                bridge.status().metrics.xmpp_failures.inc();
                if connected {
                    tracing::warn!(xmpp = %conn.id, error = %e, "xmpp connection lost");
                } else {
                    tracing::warn!(xmpp = %conn.id, error = %e, "xmpp connection failed");
                }
            }
        }
        if joined_once {
            backoff = MIN_BACKOFF;
        }
        tracing::info!(xmpp = %conn.id, delay_s = backoff.as_secs(), "xmpp reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A brewery room and whether we are in it.
#[derive(Debug)]
struct Room {
    /// Our occupant JID, room@service/nick.
    occupant: FullJid,
    joined: bool,
    /// The last join failure logged, so a refusal is logged once, not every tick.
    last_error: Option<String>,
}

/// One login: from TCP connect to disconnect.
struct Session<'a> {
    conn: &'a Connection,
    bridge: &'a Arc<Bridge>,
    rooms: Vec<Room>,
    /// This session counts in the bridge's "XMPP connections up".
    counted_up: bool,
    joined_once: bool,
    /// Login completed (for telling "failed" from "lost" in the log).
    connected: bool,
    pings: u64,
}

impl<'a> Session<'a> {
    fn new(conn: &'a Connection, bridge: &'a Arc<Bridge>) -> Self {
        let rooms = brewery_rooms(conn)
            .into_iter()
            .map(|occupant| Room {
                occupant,
                joined: false,
                last_error: None,
            })
            .collect();
        Self {
            conn,
            bridge,
            rooms,
            counted_up: false,
            joined_once: false,
            connected: false,
            pings: 0,
        }
    }

    fn mark_down(&mut self) {
        if self.counted_up {
            self.counted_up = false;
            self.bridge.status().xmpp_down();
        }
    }

    /// Count this connection as up while at least one room is joined.
    fn update_up(&mut self) {
        let any = self.rooms.iter().any(|r| r.joined);
        if any && !self.counted_up {
            self.counted_up = true;
            self.joined_once = true;
            self.bridge.status().xmpp_up();
        } else if !any {
            self.mark_down();
        }
    }

    /// Ok(()) when stopped on request; Err when the connection failed.
    async fn run(
        &mut self,
        tls: &Arc<rustls::ClientConfig>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let server = &self.conn.server;
        let jid: BareJid = format!("{}@{}", server.username, server.domain)
            .parse()
            .map_err(|e| format!("invalid account JID: {e}"))?;
        let login = tokio::time::timeout(LOGIN_TIMEOUT, login(server, &jid, tls));
        let (mut stream, bound) = tokio::select! {
            r = login => r.map_err(|_| "login timed out".to_string())??,
            _ = stop.changed() => return Ok(()),
        };
        self.connected = true;
        tracing::info!(xmpp = %self.conn.id, jid = %bound, "xmpp connected");

        let mut tick = tokio::time::interval(self.conn.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    self.goodbye(&mut stream).await;
                    return Ok(());
                }
                _ = tick.tick() => {
                    self.send_presences(&mut stream).await?;
                }
                item = stream.next() => {
                    let element = match item {
                        None => return Err("connection closed".to_string()),
                        Some(Ok(el)) => el.into_read_error(),
                        Some(Err(e)) => Err(e),
                    };
                    match element {
                        Ok(el) => self.on_element(&mut stream, el, &jid).await?,
                        Err(ReadError::SoftTimeout) => {
                            // Silence: make the server say something before
                            // the hard timeout declares the stream dead.
                            self.pings += 1;
                            let ping = Iq::Get {
                                from: None,
                                to: Some(Jid::from(jid.domain().to_owned())),
                                id: format!("keepalive-{}", self.pings),
                                payload: Element::bare("ping", NS_PING),
                            };
                            send(&mut stream, Stanza::Iq(ping)).await?;
                        }
                        Err(ReadError::ParseError(e)) => {
                            tracing::debug!(xmpp = %self.conn.id, error = %e, "unparsable stanza ignored");
                        }
                        Err(ReadError::StreamFooterReceived) => {
                            return Err("server closed the stream".to_string());
                        }
                        Err(ReadError::HardError(e)) => return Err(format!("read failed: {e}")),
                    }
                }
            }
        }
    }

    async fn on_element(
        &mut self,
        stream: &mut XmppStream<Io>,
        el: XmppStreamElement,
        account: &BareJid,
    ) -> Result<(), String> {
        match el {
            XmppStreamElement::Stanza(Stanza::Iq(iq)) => {
                if let Some(reply) = self.on_iq(iq, account).await {
                    send(stream, Stanza::Iq(reply)).await?;
                }
                Ok(())
            }
            XmppStreamElement::Stanza(Stanza::Presence(p)) => {
                self.on_presence(&p);
                Ok(())
            }
            XmppStreamElement::Stanza(Stanza::Message(_)) => Ok(()),
            XmppStreamElement::StreamError(e) => Err(format!("stream error: {e:?}")),
            _ => Ok(()),
        }
    }

    /// The answer to an IQ, or None for results and errors (the only IQs we
    /// send are keepalive pings, whose answers need no action).
    async fn on_iq(&self, iq: Iq, account: &BareJid) -> Option<Iq> {
        let (from, id, payload, is_set) = match iq {
            Iq::Get {
                from, id, payload, ..
            } => (from, id, payload, false),
            Iq::Set {
                from, id, payload, ..
            } => (from, id, payload, true),
            Iq::Result { .. } | Iq::Error { .. } => return None,
        };
        let ns = payload.ns();
        let reply = match (is_set, payload.name(), ns.as_str()) {
            (false, "healthcheck", jitsi_xmpp::ns::HEALTHCHECK) => {
                self.bridge.status().metrics.health_checks.inc();
                match self.bridge.status().media_health() {
                    Ok(()) => Ok(None),
                    Err(reason) => Err(stanza_error(
                        ErrorType::Cancel,
                        DefinedCondition::InternalServerError,
                        &reason,
                        None,
                    )),
                }
            }
            (false, "ping", NS_PING) => Ok(None),
            (false, "query", NS_DISCO_INFO) => Ok(Some(disco_info())),
            (true, "conference-modify", jitsi_xmpp::ns::COLIBRI2) => {
                if self.may_send_colibri(from.as_ref(), account) {
                    self.colibri(&payload, from.as_ref(), &id).await
                } else {
                    tracing::warn!(xmpp = %self.conn.id, from = ?from.as_ref().map(Jid::as_str), "colibri2 request from outside the brewery refused");
                    Err(stanza_error(
                        ErrorType::Auth,
                        DefinedCondition::Forbidden,
                        "Colibri2 is only accepted from the brewery",
                        None,
                    ))
                }
            }
            _ => Err(stanza_error(
                ErrorType::Cancel,
                DefinedCondition::ServiceUnavailable,
                "not supported",
                None,
            )),
        };
        Some(match reply {
            Ok(payload) => Iq::Result {
                from: None,
                to: from,
                id,
                payload,
            },
            Err(error) => Iq::Error {
                from: None,
                to: from,
                id,
                error,
                payload: None,
            },
        })
    }

    /// Colibri2 requests come from a focus in one of our brewery rooms, or
    /// from an account of our own domain addressing us directly.
    fn may_send_colibri(&self, from: Option<&Jid>, account: &BareJid) -> bool {
        let Some(from) = from else {
            return false;
        };
        let bare = from.to_bare();
        self.rooms.iter().any(|r| r.occupant.to_bare() == bare)
            || (from.node().is_some() && bare.domain() == account.domain())
    }

    async fn colibri(
        &self,
        payload: &Element,
        from: Option<&Jid>,
        id: &str,
    ) -> Result<Option<Element>, StanzaError> {
        let req = match ConferenceModify::try_from(payload) {
            Ok(r) => r,
            Err(e) => {
                self.bridge.status().metrics.colibri_requests.inc();
                self.bridge.status().metrics.colibri_errors.inc();
                tracing::info!(xmpp = %self.conn.id, iq = id, error = %e, "malformed conference-modify");
                return Err(stanza_error(
                    ErrorType::Modify,
                    DefinedCondition::BadRequest,
                    &e.to_string(),
                    None,
                ));
            }
        };
        let meeting_id = req.meeting_id.clone();
        match self.bridge.handle_async(req).await {
            Ok(answer) => Ok(Some(Element::from(&answer))),
            Err(f) => {
                tracing::info!(
                    xmpp = %self.conn.id,
                    from = from.map(Jid::as_str).unwrap_or(""),
                    meeting_id = %meeting_id,
                    error = %f,
                    "conference-modify failed"
                );
                Err(colibri_error(&f))
            }
        }
    }

    fn on_presence(&mut self, p: &Presence) {
        let Some(from) = &p.from else {
            return;
        };
        let Some(room) = self
            .rooms
            .iter_mut()
            .find(|r| from.try_as_full().is_ok_and(|full| *full == r.occupant))
        else {
            return;
        };
        let xmpp = &self.conn.id;
        match p.type_ {
            PresenceType::None => {
                room.last_error = None;
                if !room.joined {
                    room.joined = true;
                    tracing::info!(%xmpp, room = %room.occupant, "joined brewery");
                }
            }
            PresenceType::Unavailable if room.joined => {
                room.joined = false;
                tracing::warn!(%xmpp, room = %room.occupant, "left brewery (kicked or room gone); rejoining");
            }
            PresenceType::Error => {
                room.joined = false;
                let why = p
                    .payloads
                    .iter()
                    .find(|e| e.name() == "error")
                    .and_then(|e| e.children().next().map(|c| c.name().to_string()))
                    .unwrap_or_else(|| "unknown".to_string());
                if room.last_error.as_deref() != Some(why.as_str()) {
                    tracing::warn!(%xmpp, room = %room.occupant, error = %why, "brewery join refused; retrying every stats interval");
                    room.last_error = Some(why);
                }
            }
            _ => {}
        }
        self.update_up();
    }

    /// Stats presence to every joined room; a join (with the MUC element)
    /// to every room we are not in.
    async fn send_presences(&mut self, stream: &mut XmppStream<Io>) -> Result<(), String> {
        let Some(snap) = self.bridge.snapshot_async().await else {
            return Ok(());
        };
        let stats = Element::from(&snap.to_bridge_stats());
        for room in &self.rooms {
            let mut payloads = vec![stats.clone()];
            if !room.joined {
                payloads.push(Element::bare("x", NS_MUC));
            }
            let p = Presence::available()
                .with_to(room.occupant.clone())
                .with_payloads(payloads);
            send(stream, Stanza::Presence(p)).await?;
        }
        Ok(())
    }

    /// Leave every room (the focus sees the bridge go) and close the stream.
    async fn goodbye(&mut self, stream: &mut XmppStream<Io>) {
        let leave = async {
            for room in &self.rooms {
                let p = Presence::unavailable().with_to(room.occupant.clone());
                send(stream, Stanza::Presence(p)).await?;
            }
            stream
                .shutdown()
                .await
                .map_err(|e| format!("closing the stream: {e}"))
        };
        match tokio::time::timeout(GOODBYE_TIMEOUT, leave).await {
            Ok(Ok(())) => tracing::info!(xmpp = %self.conn.id, "left brewery; xmpp disconnected"),
            Ok(Err(e)) => {
                tracing::warn!(xmpp = %self.conn.id, error = %e, "leaving the brewery failed")
            }
            Err(_) => tracing::warn!(xmpp = %self.conn.id, "leaving the brewery timed out"),
        }
        for room in &mut self.rooms {
            room.joined = false;
        }
        self.mark_down();
    }
}

/// Our occupant JIDs, one per valid room in `muc_jids`.
fn brewery_rooms(conn: &Connection) -> Vec<FullJid> {
    let nick = &conn.server.muc_nickname;
    conn.server
        .muc_jids
        .split(',')
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .filter_map(|j| {
            match j
                .parse::<BareJid>()
                .and_then(|room| room.with_resource_str(nick))
            {
                Ok(full) => Some(full),
                Err(e) => {
                    tracing::error!(xmpp = %conn.id, room = j, nick = %nick, error = %e, "invalid brewery room JID; skipped");
                    None
                }
            }
        })
        .collect()
}

/// Log in as the bridge's account (see the xmpp-client crate).
async fn login(
    server: &XmppServerConfig,
    jid: &BareJid,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(XmppStream<Io>, String), String> {
    let account = xmpp_client::Account {
        host: &server.hostname,
        port: server.port,
        jid,
        password: &server.password,
    };
    xmpp_client::login(&account, tls).await
}

fn stanza_error(
    type_: ErrorType,
    condition: DefinedCondition,
    text: &str,
    other: Option<Element>,
) -> StanzaError {
    let mut e = StanzaError::new(type_, condition, "en", text);
    e.other = other;
    e
}

/// A Colibri2 failure as an IQ error: the condition, the text, and the
/// colibri2 `<error reason=…/>` the focus acts on.
pub fn colibri_error(f: &Colibri2Failure) -> StanzaError {
    let (type_, condition) = match f.condition {
        Condition::BadRequest => (ErrorType::Modify, DefinedCondition::BadRequest),
        Condition::Conflict => (ErrorType::Cancel, DefinedCondition::Conflict),
        Condition::ItemNotFound => (ErrorType::Cancel, DefinedCondition::ItemNotFound),
        Condition::ServiceUnavailable => (ErrorType::Cancel, DefinedCondition::ServiceUnavailable),
        Condition::InternalServerError => {
            (ErrorType::Cancel, DefinedCondition::InternalServerError)
        }
        Condition::FeatureNotImplemented => {
            (ErrorType::Cancel, DefinedCondition::FeatureNotImplemented)
        }
    };
    let other = f.reason.as_ref().map(|reason| {
        Element::from(&Colibri2Error {
            reason: reason.clone(),
        })
    });
    stanza_error(type_, condition, &f.text, other)
}

/// The disco#info answer: a bridge that speaks Colibri2, health checks and ping.
pub fn disco_info() -> Element {
    let mut identity = Element::bare("identity", NS_DISCO_INFO);
    set_attr(&mut identity, "category", "component");
    set_attr(&mut identity, "type", "generic");
    set_attr(&mut identity, "name", "meet-rs videobridge");
    let mut query = Element::bare("query", NS_DISCO_INFO);
    query.append_child(identity);
    for f in DISCO_FEATURES {
        let mut feature = Element::bare("feature", NS_DISCO_INFO);
        set_attr(&mut feature, "var", f);
        query.append_child(feature);
    }
    query
}

/// Sets an attribute whose name is one of this module's constants (always
/// a valid XML name).
fn set_attr(el: &mut Element, name: &str, value: &str) {
    if let Ok(n) = minidom::rxml::NcName::try_from(name) {
        el.set_attr(minidom::rxml::Namespace::NONE, n, value);
    }
}

/// Per-connection settings from the config: one entry per `configs.<ID>`.
pub fn connections(cfg: &crate::config::Config) -> BTreeMap<String, Connection> {
    let vb = &cfg.videobridge;
    vb.apis
        .xmpp_client
        .configs
        .iter()
        .map(|(id, server)| {
            (
                id.clone(),
                Connection {
                    id: id.clone(),
                    server: server.clone(),
                    interval: Duration::from_secs(vb.stats.interval.max(1)),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colibri::ColibriConfig;
    use crate::fake_media::FakeMedia;
    use crate::stats::BridgeStatus;
    use jitsi_xmpp::ErrorReason;

    fn server() -> XmppServerConfig {
        XmppServerConfig {
            hostname: "localhost".into(),
            port: 5222,
            domain: "auth.meet.test".into(),
            username: "jvb".into(),
            password: "pw".into(),
            muc_jids: "JvbBrewery@internal.auth.meet.test, bad@@jid ,other@internal.auth.meet.test"
                .into(),
            muc_nickname: "jvb-1".into(),
            disable_certificate_verification: false,
            ca_file: None,
        }
    }

    fn bridge() -> Arc<Bridge> {
        Arc::new(Bridge::new(
            Arc::new(FakeMedia::new()),
            ColibriConfig {
                server_id: "jvb-1".into(),
                websocket_base_url: "ws://127.0.0.1:8080/colibri-ws".into(),
            },
            Arc::new(BridgeStatus::new()),
            None,
        ))
    }

    fn conn() -> Connection {
        Connection {
            id: "shard".into(),
            server: server(),
            interval: Duration::from_secs(5),
        }
    }

    #[test]
    fn tls_needs_a_ca_or_an_explicit_opt_out() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let e = tls_config(&server()).expect_err("nothing to trust");
        assert!(
            e.contains("ca_file") && e.contains("disable_certificate_verification"),
            "{e}"
        );
        let mut s = server();
        s.disable_certificate_verification = true;
        tls_config(&s).expect("accept-any verifier");
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").expect("write");
        let mut s = server();
        s.ca_file = Some(empty);
        let e = tls_config(&s).expect_err("no certificate");
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn rooms_skip_invalid_jids() {
        let rooms = brewery_rooms(&conn());
        let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        // JIDs are compared in their normalised (nodeprep: lower-case) form.
        assert_eq!(
            rooms,
            [
                "jvbbrewery@internal.auth.meet.test/jvb-1",
                "other@internal.auth.meet.test/jvb-1"
            ]
        );
    }

    fn iq(xml: &str) -> Iq {
        let el: Element = xml.parse().expect("test XML");
        Iq::try_from(el).expect("iq")
    }

    fn answer(reply: Option<Iq>) -> Element {
        Element::from(reply.expect("a reply"))
    }

    #[tokio::test]
    async fn iqs_are_answered_to_their_sender() {
        let b = bridge();
        let c = conn();
        let s = Session::new(&c, &b);
        let account: BareJid = "jvb@auth.meet.test".parse().expect("jid");
        let focus = "jvbbrewery@internal.auth.meet.test/focus";

        let r = answer(
            s.on_iq(
                iq(&format!(
                    "<iq xmlns='jabber:client' type='get' id='h1' from='{focus}'><healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/></iq>"
                )),
                &account,
            )
            .await,
        );
        assert_eq!(r.attr("type"), Some("result"));
        assert_eq!(r.attr("id"), Some("h1"));
        assert_eq!(r.attr("to"), Some(focus));

        let r = answer(
            s.on_iq(
                iq(&format!("<iq xmlns='jabber:client' type='get' id='p1' from='{focus}'><ping xmlns='urn:xmpp:ping'/></iq>")),
                &account,
            )
            .await,
        );
        assert_eq!(r.attr("type"), Some("result"));

        let r = answer(
            s.on_iq(
                iq(&format!("<iq xmlns='jabber:client' type='get' id='d1' from='{focus}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")),
                &account,
            )
            .await,
        );
        let q = r.get_child("query", NS_DISCO_INFO).expect("query");
        let features: Vec<_> = q.children().filter_map(|f| f.attr("var")).collect();
        assert!(features.contains(&"jitsi:colibri2"), "{features:?}");
        assert!(features.contains(&"http://jitsi.org/protocol/healthcheck"));

        let r = answer(
            s.on_iq(
                iq(&format!("<iq xmlns='jabber:client' type='get' id='v1' from='{focus}'><query xmlns='jabber:iq:version'/></iq>")),
                &account,
            )
            .await,
        );
        assert_eq!(r.attr("type"), Some("error"));
        assert!(String::from(&r).contains("service-unavailable"));

        assert!(
            s.on_iq(
                iq("<iq xmlns='jabber:client' type='result' id='keepalive-1' from='auth.meet.test'/>"),
                &account
            )
            .await
            .is_none()
        );
    }

    #[tokio::test]
    async fn colibri_requests_are_handled_or_refused() {
        let b = bridge();
        let c = conn();
        let s = Session::new(&c, &b);
        let account: BareJid = "jvb@auth.meet.test".parse().expect("jid");
        let create = |from: &str, id: &str| {
            iq(&format!(
                "<iq xmlns='jabber:client' type='set' id='{id}' from='{from}'><conference-modify xmlns='jitsi:colibri2' meeting-id='m1' create='true'><endpoint id='e1' create='true'><capability name='source-names'/></endpoint></conference-modify></iq>"
            ))
        };
        let r = answer(
            s.on_iq(
                create("JvbBrewery@internal.auth.meet.test/focus", "c1"),
                &account,
            )
            .await,
        );
        assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
        assert!(
            r.get_child("conference-modified", "jitsi:colibri2")
                .is_some()
        );

        // Not from the brewery or our domain.
        let r = answer(s.on_iq(create("mallory@evil.test/x", "c2"), &account).await);
        assert!(String::from(&r).contains("forbidden"));

        // Malformed: no meeting-id.
        let r = answer(
            s.on_iq(
                iq("<iq xmlns='jabber:client' type='set' id='c3' from='focus@auth.meet.test/f'><conference-modify xmlns='jitsi:colibri2'/></iq>"),
                &account,
            )
            .await,
        );
        assert_eq!(r.attr("type"), Some("error"));
        assert!(String::from(&r).contains("bad-request"));

        // Unknown conference: item-not-found with the colibri2 reason.
        let r = answer(
            s.on_iq(
                iq("<iq xmlns='jabber:client' type='set' id='c4' from='focus@auth.meet.test/f'><conference-modify xmlns='jitsi:colibri2' meeting-id='zz'/></iq>"),
                &account,
            )
            .await,
        );
        let err = r.get_child("error", "jabber:client").expect("error");
        assert!(
            err.get_child("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas")
                .is_some()
        );
        let reason = err
            .get_child("error", "jitsi:colibri2")
            .expect("colibri2 error");
        assert_eq!(
            reason.attr("reason"),
            Some(ErrorReason::ConferenceNotFound.as_str())
        );
    }

    #[test]
    fn presence_tracks_joins_and_refusals() {
        let b = bridge();
        let c = conn();
        let mut s = Session::new(&c, &b);
        let p = |xml: &str| {
            let el: Element = xml.parse().expect("xml");
            Presence::try_from(el).expect("presence")
        };
        s.on_presence(&p("<presence xmlns='jabber:client' from='JvbBrewery@internal.auth.meet.test/jvb-1'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x></presence>"));
        assert!(s.rooms[0].joined);
        assert_eq!(b.status().xmpp_connections(), 1);
        // Someone else's presence changes nothing.
        s.on_presence(&p("<presence xmlns='jabber:client' type='unavailable' from='JvbBrewery@internal.auth.meet.test/focus'/>"));
        assert!(s.rooms[0].joined);
        s.on_presence(&p("<presence xmlns='jabber:client' type='unavailable' from='JvbBrewery@internal.auth.meet.test/jvb-1'/>"));
        assert!(!s.rooms[0].joined);
        assert_eq!(b.status().xmpp_connections(), 0);
        s.on_presence(&p("<presence xmlns='jabber:client' type='error' from='other@internal.auth.meet.test/jvb-1'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"));
        assert_eq!(s.rooms[1].last_error.as_deref(), Some("conflict"));
        s.mark_down();
        assert_eq!(b.status().xmpp_connections(), 0);
    }

    #[test]
    fn failures_map_to_stanza_errors() {
        let f = Colibri2Failure {
            condition: Condition::ServiceUnavailable,
            reason: Some(ErrorReason::GracefulShutdown),
            text: "In graceful shutdown".into(),
            engine_stopped: false,
        };
        let e = colibri_error(&f);
        assert_eq!(e.defined_condition, DefinedCondition::ServiceUnavailable);
        let other = e.other.expect("colibri2 error");
        assert_eq!(other.attr("reason"), Some("graceful_shutdown"));
    }
}
