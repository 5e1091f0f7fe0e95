//! XEP-0114 external components (the focus connects as focus.DOMAIN).
//!
//! The handshake is ours, not tokio-xmpp's `component` feature (that feature
//! switches xmpp-parsers' default namespace for the whole build and breaks
//! every c2s client; dependencies.md §2b). [`Handshake`] is the sans-IO part;
//! [`serve`] is the socket edge.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use minidom::Element;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::router::{Delivery, INBOX_DEPTH, Target};
use crate::server::Shared;
use crate::stanza::stream_error;
use crate::wire;
use crate::xml::{NS_CLIENT, NS_COMPONENT, StreamParser, XmlEvent, rename_ns};

/// `hex(sha1(stream_id + secret))`, XEP-0114 §3.
pub fn handshake_digest(stream_id: &str, secret: &str) -> String {
    let mut h = Sha1::new();
    h.update(stream_id.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Does the handshake text prove knowledge of the secret? Constant-time.
pub fn verify_handshake(stream_id: &str, secret: &str, presented: &str) -> bool {
    let want = handshake_digest(stream_id, secret);
    let got = presented.trim().to_ascii_lowercase();
    want.len() == got.len() && bool::from(want.as_bytes().ct_eq(got.as_bytes()))
}

/// Is `from` an address the component `domain` may send from (its domain,
/// a subdomain, or any JID at either)?
pub fn may_send_from(domain: &str, from: &str) -> bool {
    Target::parse(from)
        .is_some_and(|t| t.domain == domain || t.domain.ends_with(&format!(".{domain}")))
}

pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                let stop = stop.clone();
                tokio::spawn(async move { handle(stream, peer, shared, stop).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "component accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn send(stream: &mut TcpStream, data: &str) -> bool {
    stream.write_all(data.as_bytes()).await.is_ok()
}

async fn close_with(stream: &mut TcpStream, condition: &str, text: Option<&str>) {
    let _ = send(stream, &wire::element(&stream_error(condition, text))).await;
    let _ = send(stream, wire::STREAM_CLOSE).await;
    let _ = stream.shutdown().await;
}

async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let limit = shared.cfg.c2s_stanza_size_limit.max(1 << 20);
    let mut parser = StreamParser::new(limit);
    let mut buf = vec![0u8; 32 * 1024];
    let stream_id = uuid::Uuid::new_v4().simple().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(shared.cfg.c2s_timeout.max(1));
    let mut pending: Vec<XmlEvent> = Vec::new();
    let mut domain: Option<String> = None;
    let mut secret = String::new();

    // Phase 1: header and handshake.
    let authenticated = loop {
        if let Some(ev) = (!pending.is_empty()).then(|| pending.remove(0)) {
            match (ev, &domain) {
                (XmlEvent::StreamOpen(h), None) => {
                    let to = h.to.unwrap_or_default().to_ascii_lowercase();
                    let configured = shared
                        .cfg
                        .component(&to)
                        .and_then(|c| c.component_secret.clone())
                        .filter(|_| shared.cfg.component(&to).is_some_and(|c| c.kind.is_none()));
                    let _ = send(
                        &mut stream,
                        &wire::stream_header(NS_COMPONENT, &stream_id, &to),
                    )
                    .await;
                    match configured {
                        Some(s) => {
                            secret = s;
                            domain = Some(to);
                        }
                        None => {
                            tracing::warn!(%peer, component = %to, "unknown component");
                            close_with(
                                &mut stream,
                                "host-unknown",
                                Some("no such external component"),
                            )
                            .await;
                            break false;
                        }
                    }
                }
                (XmlEvent::Element(e), Some(d))
                    if e.name() == "handshake" && e.ns() == NS_COMPONENT =>
                {
                    if verify_handshake(&stream_id, &secret, &e.text()) {
                        break true;
                    }
                    tracing::warn!(%peer, component = %d, "component authentication failed");
                    shared.counters.login_failures.inc();
                    tokio::time::sleep(Duration::from_millis(crate::c2s::AUTH_FAILURE_DELAY_MS))
                        .await;
                    close_with(
                        &mut stream,
                        "not-authorized",
                        Some("wrong component secret"),
                    )
                    .await;
                    break false;
                }
                _ => {
                    close_with(&mut stream, "not-authorized", Some("handshake expected")).await;
                    break false;
                }
            }
            continue;
        }
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => break false,
                Ok(n) => if let Err(e) = parser.feed(&buf[..n], &mut pending) {
                    close_with(&mut stream, e.condition(), Some(&e.to_string())).await;
                    break false;
                }
            },
            _ = tokio::time::sleep_until(deadline) => {
                close_with(&mut stream, "connection-timeout", None).await;
                break false;
            }
        }
    };
    let Some(domain) = domain.filter(|_| authenticated) else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<Delivery>(INBOX_DEPTH);
    if shared.router.register_component(&domain, tx).is_err() {
        tracing::warn!(%peer, component = %domain, "component already connected");
        close_with(&mut stream, "conflict", Some("component already connected")).await;
        return;
    }
    let _ = send(&mut stream, &format!("<handshake xmlns='{NS_COMPONENT}'/>")).await;
    shared.counters.components.inc();
    tracing::info!(%peer, component = %domain, "component connected");

    // Phase 2: stanzas both ways. Anything parsed together with the handshake
    // is handled first.
    let mut reason = "closed";
    'outer: loop {
        for ev in pending.drain(..) {
            match ev {
                XmlEvent::Element(e) => {
                    if let Some(err) = from_component(&shared, &domain, e) {
                        close_with(&mut stream, err, None).await;
                        reason = "invalid stanza";
                        break 'outer;
                    }
                }
                XmlEvent::StreamClose => {
                    let _ = send(&mut stream, wire::STREAM_CLOSE).await;
                    break 'outer;
                }
                XmlEvent::StreamOpen(_) => {
                    close_with(&mut stream, "invalid-xml", None).await;
                    break 'outer;
                }
            }
        }
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => { reason = "peer disconnected"; break; }
                Ok(n) => if let Err(e) = parser.feed(&buf[..n], &mut pending) {
                    for ev in pending.drain(..) {
                        if let XmlEvent::Element(e) = ev {
                            let _ = from_component(&shared, &domain, e);
                        }
                    }
                    close_with(&mut stream, e.condition(), Some(&e.to_string())).await;
                    reason = "bad XML";
                    break;
                }
            },
            d = rx.recv() => match d {
                Some(Delivery::Stanza(el)) => {
                    let el = rename_ns(el, NS_CLIENT, NS_COMPONENT);
                    if !send(&mut stream, &wire::element(&el)).await { reason = "write failed"; break; }
                }
                Some(Delivery::Close { condition, text }) => {
                    close_with(&mut stream, condition, Some(&text)).await;
                    break;
                }
                None => break,
            },
            _ = stop.changed() => {
                close_with(&mut stream, "system-shutdown", None).await;
                break;
            }
        }
    }
    shared.router.unregister_component(&domain);
    shared.counters.components.dec();
    tracing::info!(%peer, component = %domain, reason, "component disconnected");
}

/// Route one stanza from the component; Some(condition) closes the stream.
fn from_component(shared: &Shared, domain: &str, e: Element) -> Option<&'static str> {
    if e.ns() != NS_COMPONENT || !matches!(e.name(), "message" | "presence" | "iq") {
        return Some("unsupported-stanza-type");
    }
    let e = rename_ns(e, NS_COMPONENT, NS_CLIENT);
    match e.attr("from") {
        Some(f) if may_send_from(domain, f) => {}
        _ => {
            // XEP-0114 §3: the component must stamp a from on its domain.
            return Some("invalid-from");
        }
    }
    shared.router.route(e);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_is_hex_sha1_of_id_and_secret() {
        // sha1("3BF96D75" + "secret") — computed independently with sha1sum.
        assert_eq!(
            handshake_digest("3BF96D75", "secret"),
            "20631b4b87b2d6381daeb556438f05036e09ad66"
        );
        assert!(verify_handshake(
            "abc",
            "s3cret",
            &handshake_digest("abc", "s3cret").to_uppercase()
        ));
        assert!(!verify_handshake(
            "abc",
            "s3cret",
            &handshake_digest("abc", "other")
        ));
        assert!(!verify_handshake("abc", "s3cret", ""));
    }

    #[test]
    fn from_must_be_on_the_component_domain() {
        assert!(may_send_from("focus.x", "focus.x"));
        assert!(may_send_from("focus.x", "user@focus.x/r"));
        assert!(may_send_from("focus.x", "sub.focus.x"));
        assert!(!may_send_from("focus.x", "x"));
        assert!(!may_send_from("focus.x", "evilfocus.x"));
        assert!(!may_send_from("focus.x", "not a jid@@"));
    }
}
