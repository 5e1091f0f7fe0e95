//! The XEP-0114 component connection (`focus.DOMAIN`): where clients send
//! their conference requests (jitsi-protocol.md §0.1, §1.1–1.3).
//!
//! The handshake is ours (tokio-xmpp's `component` feature would switch the
//! default namespace for the whole build): stream header in
//! `jabber:component:accept`, the server's stream id, then
//! `<handshake>hex(sha1(id + secret))</handshake>`. Stanzas are handled as
//! plain elements, since xmpp-parsers' typed stanzas expect `jabber:client`.
//! Reconnection: exponential back-off from 1 s to 30 s.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use jitsi_xmpp::ConferenceIq;
use minidom::Element;
use sha1::{Digest, Sha1};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_xmpp::xmlstream::{ReadError, StreamHeader, Timeouts, XmlStream, initiate_stream};
use xmpp_parsers::jid::BareJid;

use crate::state::State;
use crate::xml::{self, NS_DISCO_INFO, NS_PING};

pub const NS_COMPONENT: &str = "jabber:component:accept";
const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

type Stream = XmlStream<BufStream<TcpStream>, Element>;

/// What the component needs from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    /// Our JID, focus.DOMAIN.
    pub domain: String,
    /// The XMPP domain (keepalive pings go there).
    pub xmpp_domain: String,
    pub secret: String,
    /// focus@auth.DOMAIN, announced in conference results.
    pub focus_jid: String,
    pub auth_url: Option<String>,
}

/// XEP-0114 §3: hex(sha1(stream id + secret)).
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let mut h = Sha1::new();
    h.update(stream_id.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn run(settings: Settings, state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        tracing::info!(component = %settings.domain, server = %format!("{}:{}", settings.host, settings.port), "component connecting");
        let mut connected = false;
        let outcome = session(&settings, &state, &mut stop, &mut connected).await;
        state.component_up.store(false, Ordering::Relaxed);
        match outcome {
            Ok(()) => return,
            Err(e) => {
                state.metrics.xmpp_failures.inc();
                if connected {
                    tracing::warn!(component = %settings.domain, error = %e, "component connection lost");
                    backoff = MIN_BACKOFF;
                } else {
                    tracing::warn!(component = %settings.domain, error = %e, "component connection failed");
                }
            }
        }
        tracing::info!(delay_s = backoff.as_secs(), "component reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn login(settings: &Settings) -> Result<Stream, String> {
    let tcp = TcpStream::connect((settings.host.as_str(), settings.port))
        .await
        .map_err(|e| format!("connect to {}:{}: {e}", settings.host, settings.port))?;
    let _ = tcp.set_nodelay(true);
    let header = StreamHeader {
        to: Some(Cow::Owned(settings.domain.clone())),
        from: None,
        id: None,
    };
    let mut pending = initiate_stream(BufStream::new(tcp), NS_COMPONENT, header, Timeouts::tight())
        .await
        .map_err(|e| format!("stream start: {e}"))?;
    let id = pending
        .take_header()
        .id
        .ok_or("the server's stream header has no id")?
        .into_owned();
    // XEP-0114 streams carry no features.
    let mut stream: Stream = pending.skip_features();
    let mut hs = Element::bare("handshake", NS_COMPONENT);
    hs.append_text(handshake_digest(&id, &settings.secret));
    send(&mut stream, &hs).await?;
    loop {
        match stream.next().await {
            Some(Ok(e)) if e.name() == "handshake" => return Ok(stream),
            Some(Ok(e)) if e.name() == "error" && e.ns() == NS_STREAMS => {
                let why = e
                    .children()
                    .next()
                    .map(|c| c.name().to_string())
                    .unwrap_or_default();
                return Err(format!("handshake refused: {why}"));
            }
            Some(Ok(_))
            | Some(Err(ReadError::SoftTimeout))
            | Some(Err(ReadError::ParseError(_))) => {}
            Some(Err(e)) => return Err(format!("handshake: {e}")),
            None => return Err("connection closed during the handshake".to_string()),
        }
    }
}

async fn session(
    settings: &Settings,
    state: &State,
    stop: &mut watch::Receiver<bool>,
    connected: &mut bool,
) -> Result<(), String> {
    let mut stream = tokio::select! {
        r = tokio::time::timeout(LOGIN_TIMEOUT, login(settings)) => r.map_err(|_| "login timed out".to_string())??,
        _ = stop.changed() => return Ok(()),
    };
    *connected = true;
    state.component_up.store(true, Ordering::Relaxed);
    tracing::info!(component = %settings.domain, "component connected");
    let mut pings = 0u64;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = tokio::time::timeout(Duration::from_secs(3), stream.shutdown()).await;
                tracing::info!(component = %settings.domain, "component disconnected");
                return Ok(());
            }
            item = stream.next() => match item {
                None => return Err("connection closed".to_string()),
                Some(Ok(el)) => {
                    if el.name() == "error" && el.ns() == NS_STREAMS {
                        return Err(format!("stream error: {}", String::from(&el)));
                    }
                    if let Some(reply) = handle(settings, state, &el) {
                        send(&mut stream, &reply).await?;
                    }
                }
                Some(Err(ReadError::SoftTimeout)) => {
                    // Silence: make the server answer before the hard timeout.
                    pings += 1;
                    let id = format!("keepalive-{pings}");
                    let mut ping = xml::el("iq", NS_COMPONENT, &[
                        ("type", "get"),
                        ("id", &id),
                        ("from", &settings.domain),
                        ("to", &settings.xmpp_domain),
                    ]);
                    ping.append_child(Element::bare("ping", NS_PING));
                    send(&mut stream, &ping).await?;
                }
                Some(Err(ReadError::ParseError(e))) => {
                    tracing::debug!(error = %e, "unparsable element ignored");
                }
                Some(Err(ReadError::StreamFooterReceived)) => {
                    return Err("server closed the stream".to_string());
                }
                Some(Err(ReadError::HardError(e))) => return Err(format!("read failed: {e}")),
            }
        }
    }
}

async fn send(stream: &mut Stream, el: &Element) -> Result<(), String> {
    match tokio::time::timeout(WRITE_TIMEOUT, stream.send(el)).await {
        Ok(r) => r.map_err(|e| format!("write failed: {e}")),
        Err(_) => Err("write timed out".to_string()),
    }
}

/// The answer to one stanza from the server, if any.
pub fn handle(settings: &Settings, state: &State, el: &Element) -> Option<Element> {
    if el.name() != "iq" || el.ns() != NS_COMPONENT {
        // Messages and presences are not used in this slice.
        return None;
    }
    let type_ = el.attr("type").unwrap_or_default();
    if type_ != "get" && type_ != "set" {
        return None;
    }
    let Some(payload) = el.children().next() else {
        return Some(xml::error_reply(el, "modify", "bad-request", "empty IQ"));
    };
    let ns = payload.ns();
    match (type_, payload.name(), ns.as_str()) {
        ("set", "conference", jitsi_xmpp::ns::FOCUS) => {
            Some(conference(settings, state, el, payload))
        }
        ("get", "ping", NS_PING) => Some(xml::reply(el, "result")),
        ("get", "query", NS_DISCO_INFO) => {
            let mut r = xml::reply(el, "result");
            r.append_child(xml::disco_info(
                "component",
                "generic",
                "meet-rs focus",
                &[NS_DISCO_INFO, NS_PING, jitsi_xmpp::ns::FOCUS],
            ));
            Some(r)
        }
        _ => Some(xml::error_reply(
            el,
            "cancel",
            "service-unavailable",
            "not supported",
        )),
    }
}

/// A conference request (§1.1): answered at once with ready='true' — the
/// conference itself (room join, Jingle) is a later slice.
fn conference(settings: &Settings, state: &State, iq: &Element, payload: &Element) -> Element {
    state.metrics.conference_requests.inc();
    let fail = |type_: &str, cond: &str, text: &str| {
        state.metrics.conference_errors.inc();
        tracing::info!(
            from = iq.attr("from").unwrap_or(""),
            error = text,
            "conference request refused"
        );
        xml::error_reply(iq, type_, cond, text)
    };
    if settings.auth_url.is_some() {
        // TODO: secure domain (org.jitsi.jicofo.auth.URL): session-id
        // checks and the login IQs are not implemented yet.
        return fail(
            "auth",
            "not-authorized",
            "authentication is not implemented by this focus yet",
        );
    }
    let req = match ConferenceIq::try_from(payload) {
        Ok(r) => r,
        Err(e) => return fail("modify", "bad-request", &e.to_string()),
    };
    let room_ok = req
        .room
        .parse::<BareJid>()
        .is_ok_and(|j| j.node().is_some());
    if !room_ok {
        return fail(
            "modify",
            "bad-request",
            &format!("room {:?} is not a room JID", req.room),
        );
    }
    let mut answer = ConferenceIq::new(&req.room);
    answer.ready = Some(true);
    answer.focusjid = Some(settings.focus_jid.clone());
    answer.properties = vec![("authentication".to_string(), "false".to_string())];
    let mut r = xml::reply(iq, "result");
    r.append_child(Element::from(&answer));
    tracing::info!(room = %req.room, from = iq.attr("from").unwrap_or(""), "conference request answered");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            host: "localhost".into(),
            port: 5347,
            domain: "focus.meet.test".into(),
            xmpp_domain: "meet.test".into(),
            secret: "s".into(),
            focus_jid: "focus@auth.meet.test".into(),
            auth_url: None,
        }
    }

    fn iq(xml: &str) -> Element {
        xml.parse().expect("test xml")
    }

    #[test]
    fn digest_is_hex_sha1() {
        // sha1("abc") with an empty secret.
        assert_eq!(
            handshake_digest("abc", ""),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn conference_requests() {
        let s = settings();
        let st = State::new();
        let r = handle(&s, &st, &iq("<iq xmlns='jabber:component:accept' type='set' id='c1' from='u@meet.test/r' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='r1@conference.meet.test' machine-uid='m'/></iq>")).expect("reply");
        assert_eq!(r.attr("type"), Some("result"));
        assert_eq!(r.attr("to"), Some("u@meet.test/r"));
        assert_eq!(r.attr("from"), Some("focus.meet.test"));
        let c = r
            .get_child("conference", jitsi_xmpp::ns::FOCUS)
            .expect("conference");
        assert_eq!(c.attr("ready"), Some("true"));
        assert_eq!(c.attr("focusjid"), Some("focus@auth.meet.test"));
        let c = ConferenceIq::try_from(c).expect("parse");
        assert_eq!(c.property("authentication"), Some("false"));

        for bad in [
            "<conference xmlns='http://jitsi.org/protocol/focus'/>",
            "<conference xmlns='http://jitsi.org/protocol/focus' room='noroom'/>",
        ] {
            let r = handle(&s, &st, &iq(&format!("<iq xmlns='jabber:component:accept' type='set' id='c2' from='u@meet.test/r' to='focus.meet.test'>{bad}</iq>"))).expect("reply");
            assert_eq!(r.attr("type"), Some("error"));
            assert!(
                String::from(&r).contains("bad-request"),
                "{}",
                String::from(&r)
            );
        }
        assert_eq!(st.metrics.conference_errors.get(), 2);

        let mut s2 = settings();
        s2.auth_url = Some("XMPP:meet.test".into());
        let r = handle(&s2, &st, &iq("<iq xmlns='jabber:component:accept' type='set' id='c3' from='u@meet.test/r' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='r1@conference.meet.test'/></iq>")).expect("reply");
        assert!(String::from(&r).contains("not-authorized"));
    }

    #[test]
    fn other_iqs() {
        let s = settings();
        let st = State::new();
        let r = handle(&s, &st, &iq("<iq xmlns='jabber:component:accept' type='get' id='p' from='u@meet.test/r' to='focus.meet.test'><ping xmlns='urn:xmpp:ping'/></iq>")).expect("reply");
        assert_eq!(r.attr("type"), Some("result"));
        let r = handle(&s, &st, &iq("<iq xmlns='jabber:component:accept' type='get' id='d' from='u@meet.test/r' to='focus.meet.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")).expect("reply");
        assert!(String::from(&r).contains("http://jitsi.org/protocol/focus"));
        let r = handle(&s, &st, &iq("<iq xmlns='jabber:component:accept' type='get' id='v' from='u@meet.test/r' to='focus.meet.test'><query xmlns='jabber:iq:version'/></iq>")).expect("reply");
        assert!(String::from(&r).contains("service-unavailable"));
        assert!(handle(&s, &st, &iq("<iq xmlns='jabber:component:accept' type='result' id='keepalive-1' from='meet.test' to='focus.meet.test'/>")).is_none());
    }
}
