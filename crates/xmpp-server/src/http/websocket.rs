//! XMPP over WebSocket (RFC 7395) at `/xmpp-websocket`: one complete XML
//! element per text message; `<open/>` and `<close/>` of the framing
//! namespace stand for the stream header and the stream end.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_tungstenite::HyperWebsocketStream;
use hyper_tungstenite::tungstenite::Message;
use hyper_tungstenite::tungstenite::protocol::WebSocketConfig;
use minidom::Element;
use tokio::sync::{mpsc, watch};

use super::{Body, Ctx, client_ns, response};
use crate::c2s::{C2sSession, Out, Transport};
use crate::config::CrossDomain;
use crate::router::{Delivery, INBOX_DEPTH};
use crate::server::{SessionEnv, Shared};
use crate::wire;
use crate::xml::{StreamHeader, XmlError, XmlEvent, escape, parse_document};

pub const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
pub const SUBPROTOCOL: &str = "xmpp";
/// Our stream end, and the answer to the client's.
pub const CLOSE: &str = "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

const IT_WORKS: &str =
    "It works! Now point your WebSocket client to this URL to connect to the XMPP server.\n";

pub(super) fn handle(mut req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET {
        let mut r = response(StatusCode::METHOD_NOT_ALLOWED, TEXT, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    if !hyper_tungstenite::is_upgrade_request(&req) {
        return response(StatusCode::OK, TEXT, IT_WORKS);
    }
    if !offers_xmpp(req.headers()) {
        return response(
            StatusCode::BAD_REQUEST,
            TEXT,
            "the WebSocket sub-protocol 'xmpp' is required (RFC 7395)\n",
        );
    }
    if let Some(origin) = super::origin(req.headers())
        && !origin_allowed(&ctx.shared.cfg.cross_domain_websocket, origin)
    {
        tracing::info!(peer = %ctx.peer, origin, "WebSocket from a foreign origin refused");
        return response(StatusCode::FORBIDDEN, TEXT, "origin not allowed\n");
    }
    let limit = ctx.shared.cfg.c2s_stanza_size_limit;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let peer = ctx.peer_label(req.headers());
    match hyper_tungstenite::upgrade(&mut req, Some(config)) {
        Ok((mut resp, upgrade)) => {
            resp.headers_mut().insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(SUBPROTOCOL),
            );
            let shared = ctx.shared.clone();
            let stop = ctx.stop.clone();
            tokio::spawn(async move {
                match upgrade.await {
                    Ok(ws) => run(ws, shared, peer, stop).await,
                    Err(e) => tracing::debug!(%peer, error = %e, "WebSocket upgrade failed"),
                }
            });
            resp
        }
        Err(e) => response(
            StatusCode::BAD_REQUEST,
            TEXT,
            format!("bad WebSocket handshake: {e}\n"),
        ),
    }
}

/// Whether the handshake offers the `xmpp` sub-protocol.
pub(crate) fn offers_xmpp(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(SUBPROTOCOL))
}

/// Origin policy. Only an explicit list restricts origins: with the default
/// `false` the web server and this endpoint share one origin behind the
/// reverse proxy, which cannot be told apart from here (our own URL is the
/// proxy's), so any origin is accepted — browsers' same-origin page is the
/// only one loading the client anyway. `true` accepts any origin too.
pub(crate) fn origin_allowed(cd: &CrossDomain, origin: &str) -> bool {
    match cd {
        CrossDomain::All(_) => true,
        CrossDomain::Origins(_) => cd.allows(origin),
    }
}

/// Our stream header as an `<open/>` (RFC 7395 §3.4).
pub(crate) fn open_element(id: &str, from: &str) -> String {
    let from_attr = if from.is_empty() {
        String::new()
    } else {
        format!(" from='{}'", escape(from))
    };
    format!(
        "<open xmlns='{NS_FRAMING}'{from_attr} id='{}' version='1.0' xml:lang='en'/>",
        escape(id)
    )
}

/// One text message as a stream event.
pub(crate) fn frame_event(data: &[u8], limit: usize) -> Result<XmlEvent, XmlError> {
    let el = parse_document(data, limit)?;
    if el.ns() == NS_FRAMING {
        match el.name() {
            "open" => return Ok(XmlEvent::StreamOpen(open_header(&el))),
            "close" => return Ok(XmlEvent::StreamClose),
            _ => {}
        }
    }
    Ok(XmlEvent::Element(client_ns(el, "")))
}

fn open_header(el: &Element) -> StreamHeader {
    let attr = |k: &str| el.attr(k).map(str::to_string);
    StreamHeader {
        ns: el.ns(),
        name: el.name().to_string(),
        to: attr("to"),
        from: attr("from"),
        id: attr("id"),
        version: attr("version"),
        lang: el
            .attrs()
            .iter()
            .find(|((ns, k), _)| ns.as_str() == NS_XML && k.as_str() == "lang")
            .map(|(_, v)| v.clone()),
    }
}

async fn run(
    mut ws: HyperWebsocketStream,
    shared: Arc<Shared>,
    peer: String,
    mut stop: watch::Receiver<bool>,
) {
    shared.counters.websocket_sessions.inc();
    shared.counters.c2s_connections.inc();
    tracing::info!(%peer, transport = "websocket", "c2s session opened");
    let (tx, mut rx) = mpsc::channel::<Delivery>(INBOX_DEPTH);
    let mut env = SessionEnv {
        shared: shared.clone(),
        inbox: tx,
        peer: peer.clone(),
    };
    let mut core = C2sSession::new(Transport::WebSocket, shared.cfg.consider_websocket_secure);
    let limit = shared.cfg.c2s_stanza_size_limit;
    let auth_deadline =
        tokio::time::Instant::now() + Duration::from_secs(shared.cfg.c2s_timeout.max(1));
    let mut stopping = false;
    let mut reason = String::from("closed");
    let mut jid: Option<String> = None;
    loop {
        let mut gone = false;
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(text))) => match frame_event(text.as_bytes(), limit) {
                    Ok(ev) => core.handle(ev, &mut env),
                    Err(e) => {
                        tracing::info!(%peer, error = %e, "closing stream: bad XML");
                        shared.counters.stream_errors.inc();
                        core.fail(e.condition(), Some(&e.to_string()), &mut env);
                    }
                },
                Some(Ok(Message::Binary(_))) => {
                    // RFC 7395 §3.2: XMPP goes in text messages only.
                    core.fail("bad-format", Some("binary messages are not XMPP"), &mut env);
                }
                Some(Ok(Message::Ping(_))) => {
                    // tungstenite queued the pong; send it now.
                    let _ = ws.flush().await;
                }
                Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) => {
                    // Send the close reply tungstenite queued.
                    let _ = ws.flush().await;
                    core.disconnected(&mut env);
                    reason = "peer closed the WebSocket".to_string();
                    gone = true;
                }
                None => {
                    core.disconnected(&mut env);
                    reason = "peer disconnected".to_string();
                    gone = true;
                }
                Some(Err(e)) => {
                    core.disconnected(&mut env);
                    reason = format!("WebSocket error: {e}");
                    gone = true;
                }
            },
            d = rx.recv() => match d {
                Some(Delivery::Stanza(el)) => core.deliver(el),
                Some(Delivery::Close { condition, text }) => {
                    reason = condition.to_string();
                    core.fail(condition, Some(&text), &mut env);
                }
                None => {}
            },
            _ = tokio::time::sleep_until(auth_deadline), if !core.is_authenticated() => {
                tracing::info!(%peer, "closing unauthenticated stream: timeout");
                reason = "authentication timeout".to_string();
                core.fail("connection-timeout", Some("authentication took too long"), &mut env);
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                reason = "shutdown".to_string();
                core.fail("system-shutdown", None, &mut env);
            }
        }
        if let Some(j) = core.jid() {
            jid = Some(j);
        }
        let mut closed = gone || core.is_closed();
        for out in core.take_output() {
            if gone {
                break;
            }
            let frame = match out {
                Out::Header { id, from } => open_element(&id, &from),
                Out::Send(el) => wire::element(&el),
                Out::Delay(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    continue;
                }
                // The client opens the new stream with a new <open/>.
                Out::Restart => continue,
                // Never offered over WebSocket (TLS is the proxy's job).
                Out::StartTls => {
                    close(&mut ws, None).await;
                    closed = true;
                    break;
                }
                Out::Close(err) => {
                    if let Some(cond) = err.as_ref().and_then(|e| e.children().next()) {
                        if reason == "closed" {
                            reason = format!("stream error ({})", cond.name());
                        }
                        tracing::info!(%peer, condition = cond.name(), "sending stream error");
                    } else if reason == "closed" {
                        reason = "client closed the stream".to_string();
                    }
                    close(&mut ws, err.as_ref()).await;
                    closed = true;
                    break;
                }
            };
            if ws.send(Message::text(frame)).await.is_err() {
                core.disconnected(&mut env);
                reason = "write failed".to_string();
                closed = true;
                break;
            }
        }
        if closed {
            break;
        }
    }
    core.disconnected(&mut env);
    shared.counters.websocket_sessions.dec();
    shared.counters.c2s_connections.dec();
    tracing::info!(
        %peer,
        transport = "websocket",
        jid = jid.as_deref().unwrap_or("-"),
        %reason,
        "c2s session closed"
    );
}

/// End the stream: the error if any, `<close/>`, then the WebSocket close
/// handshake (waiting briefly for the client's close frame).
async fn close(ws: &mut HyperWebsocketStream, err: Option<&Element>) {
    if let Some(e) = err {
        let _ = ws.send(Message::text(wire::element(e))).await;
    }
    let _ = ws.send(Message::text(CLOSE)).await;
    if ws.close(None).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::NS_CLIENT;

    #[test]
    fn open_and_close_elements() {
        let open =
            parse_document(open_element("i'd", "example.com").as_bytes(), 1000).expect("open");
        assert!(open.is("open", NS_FRAMING));
        assert_eq!(open.attr("id"), Some("i'd"));
        assert_eq!(open.attr("from"), Some("example.com"));
        assert_eq!(open.attr("version"), Some("1.0"));
        assert!(!open_element("x", "").contains("from="));
        let close = parse_document(CLOSE.as_bytes(), 1000).expect("close");
        assert!(close.is("close", NS_FRAMING));
    }

    #[test]
    fn frames_become_stream_events() {
        let ev = frame_event(
            b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0' xml:lang='de'/>",
            1000,
        )
        .expect("open");
        let XmlEvent::StreamOpen(h) = ev else {
            panic!("not an open: {ev:?}")
        };
        assert_eq!(h.to.as_deref(), Some("example.com"));
        assert_eq!(h.version.as_deref(), Some("1.0"));
        assert_eq!(h.lang.as_deref(), Some("de"));
        assert_eq!((h.ns.as_str(), h.name.as_str()), (NS_FRAMING, "open"));

        let ev = frame_event(CLOSE.as_bytes(), 1000).expect("close");
        assert_eq!(ev, XmlEvent::StreamClose);

        // Unqualified stanzas are jabber:client, children included.
        let ev = frame_event(
            b"<message to='a@b'><body>hi</body><x xmlns='other'/></message>",
            1000,
        )
        .expect("message");
        let XmlEvent::Element(m) = ev else {
            panic!("not an element: {ev:?}")
        };
        assert!(m.is("message", NS_CLIENT));
        assert!(m.has_child("body", NS_CLIENT));
        assert!(m.has_child("x", "other"));

        // Nonzas keep their namespace.
        let ev = frame_event(
            b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>",
            1000,
        )
        .expect("auth");
        let XmlEvent::Element(a) = ev else {
            panic!("not an element: {ev:?}")
        };
        assert_eq!(a.ns(), crate::c2s::NS_SASL);

        assert!(matches!(
            frame_event(b"<message>", 1000),
            Err(XmlError::NotWellFormed(_))
        ));
        assert!(matches!(
            frame_event(&[b'x'; 2000], 1000),
            Err(XmlError::TooBig(1000))
        ));
    }

    #[test]
    fn subprotocol_must_be_offered() {
        let mut h = HeaderMap::new();
        assert!(!offers_xmpp(&h));
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat, xmpp"),
        );
        assert!(offers_xmpp(&h));
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("xmpp-other"),
        );
        assert!(!offers_xmpp(&h));
    }

    #[test]
    fn only_an_origin_list_restricts() {
        let o = "https://evil.example";
        assert!(origin_allowed(&CrossDomain::All(false), o));
        assert!(origin_allowed(&CrossDomain::All(true), o));
        let list = CrossDomain::Origins(vec!["https://meet.example.com".into()]);
        assert!(!origin_allowed(&list, o));
        assert!(origin_allowed(&list, "https://MEET.example.com"));
    }
}
