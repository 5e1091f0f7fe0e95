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
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use jitsi_xmpp::ConferenceIq;
use minidom::Element;
use sha1::{Digest, Sha1};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_xmpp::xmlstream::{ReadError, StreamHeader, Timeouts, XmlStream, initiate_stream};

use crate::manager::{Answer, Request, RequestKind};
use crate::state::State;
use crate::xml::{self, NS_DISCO_INFO, NS_PING};

/// A request the conference manager has not answered in this time gets
/// `wait/service-unavailable` (the client retries).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// The component's ends of the channels to the conference manager (which
/// runs on the client connection's task).
pub struct Link {
    pub requests: mpsc::Sender<Request>,
    pub answers: mpsc::Receiver<(u64, Answer)>,
}

pub const NS_COMPONENT: &str = "jabber:component:accept";
const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

type Stream = XmlStream<BufStream<VersionedHeader<TcpStream>>, Element>;

/// XEP-0114 §3: the server answers the component's stream header without a
/// `version` attribute (Prosody does), while tokio-xmpp's stream layer
/// refuses a header without `version='1.0'` unless its `component` feature
/// is on (which would change the default namespace for the whole build).
/// This reader adds the attribute to the server's stream header when it is
/// missing; everything after the header passes through untouched.
struct VersionedHeader<S> {
    io: S,
    /// What has been read while looking for the end of the header.
    head: Vec<u8>,
    /// The (rewritten) header, not yet handed out.
    out: Vec<u8>,
    out_pos: usize,
    header_done: bool,
}

/// Longest stream header looked at; a longer one is passed on unchanged.
const MAX_HEADER: usize = 4096;

impl<S> VersionedHeader<S> {
    fn new(io: S) -> Self {
        Self {
            io,
            head: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            header_done: false,
        }
    }
}

/// The end (index of `>`) of the first start tag that is not a
/// declaration or processing instruction, quotes respected.
fn stream_header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' && bytes.get(i + 1).is_some_and(|b| *b != b'?' && *b != b'!') {
            let start = i;
            let mut quote = None;
            for (j, b) in bytes.iter().enumerate().skip(i + 1) {
                match (quote, *b) {
                    (None, b'"' | b'\'') => quote = Some(*b),
                    (Some(q), b) if b == q => quote = None,
                    (None, b'>') => return Some((start, j)),
                    _ => {}
                }
            }
            return None;
        }
        i += 1;
    }
    None
}

/// With `version='1.0'` added to the stream header in `head`, if missing.
fn add_version(mut head: Vec<u8>, start: usize, end: usize) -> Vec<u8> {
    let tag = &head[start..end];
    let has_version = tag
        .windows(8)
        .enumerate()
        .any(|(k, w)| w.starts_with(b"version") && k > 0 && tag[k - 1].is_ascii_whitespace());
    if !has_version {
        // Before a self-closing slash there is none: a stream header never closes itself.
        head.splice(end..end, b" version='1.0'".iter().copied());
    }
    head
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for VersionedHeader<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                return Poll::Ready(Ok(()));
            }
            if this.header_done {
                return std::pin::Pin::new(&mut this.io).poll_read(cx, buf);
            }
            let mut chunk = [0u8; 1024];
            let mut rb = tokio::io::ReadBuf::new(&mut chunk);
            match std::pin::Pin::new(&mut this.io).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            let got = rb.filled();
            let head = if got.is_empty() {
                // End of stream: hand over what there is.
                Some(std::mem::take(&mut this.head))
            } else {
                this.head.extend_from_slice(got);
                match stream_header_end(&this.head) {
                    Some((start, end)) => {
                        Some(add_version(std::mem::take(&mut this.head), start, end))
                    }
                    None if this.head.len() > MAX_HEADER => Some(std::mem::take(&mut this.head)),
                    None => None,
                }
            };
            if let Some(head) = head {
                this.header_done = true;
                this.out = head;
                this.out_pos = 0;
                if this.out.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for VersionedHeader<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

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

pub async fn run(
    settings: Settings,
    state: Arc<State>,
    mut link: Link,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        tracing::info!(component = %settings.domain, server = %format!("{}:{}", settings.host, settings.port), "component connecting");
        let mut connected = false;
        let outcome = session(&settings, &state, &mut link, &mut stop, &mut connected).await;
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
    let mut pending = initiate_stream(
        BufStream::new(VersionedHeader::new(tcp)),
        NS_COMPONENT,
        header,
        Timeouts::tight(),
    )
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
    link: &mut Link,
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
    // Requests handed to the manager: token → (the IQ, when).
    let mut waiting: HashMap<u64, (Element, Instant)> = HashMap::new();
    let mut next_token = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                let late: Vec<u64> = waiting
                    .iter()
                    .filter(|(_, (_, at))| now.duration_since(*at) >= ANSWER_TIMEOUT)
                    .map(|(t, _)| *t)
                    .collect();
                for t in late {
                    if let Some((iq, _)) = waiting.remove(&t) {
                        state.metrics.conference_errors.inc();
                        let r = xml::error_reply(&iq, "wait", "service-unavailable", "the focus is not ready");
                        send(&mut stream, &r).await?;
                    }
                }
            }
            answer = link.answers.recv() => {
                let Some((token, answer)) = answer else {
                    return Err("the conference manager stopped".to_string());
                };
                if let Some((iq, _)) = waiting.remove(&token) {
                    if matches!(answer, Answer::Err { .. }) {
                        state.metrics.conference_errors.inc();
                    }
                    send(&mut stream, &answer_element(&iq, answer)).await?;
                }
            }
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
                    match handle(settings, state, &el) {
                        Handled::Reply(reply) => send(&mut stream, &reply).await?,
                        Handled::Forward(kind) => {
                            next_token += 1;
                            let req = Request {
                                token: next_token,
                                from: el.attr("from").unwrap_or_default().to_string(),
                                kind,
                            };
                            waiting.insert(next_token, (el.clone(), Instant::now()));
                            if link.requests.try_send(req).is_err() {
                                waiting.remove(&next_token);
                                let r = xml::error_reply(&el, "wait", "resource-constraint", "the focus is busy");
                                send(&mut stream, &r).await?;
                            }
                        }
                        Handled::Nothing => {}
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

/// What to do with one stanza from the server.
#[derive(Debug)]
pub enum Handled {
    Reply(Element),
    /// A focus request for the conference manager.
    Forward(RequestKind),
    Nothing,
}

/// The reply to a forwarded request.
pub fn answer_element(iq: &Element, answer: Answer) -> Element {
    match answer {
        Answer::Ok(payload) => {
            let mut r = xml::reply(iq, "result");
            if let Some(p) = payload {
                r.append_child(p);
            }
            r
        }
        Answer::Err {
            type_,
            condition,
            text,
            app,
        } => {
            let mut r = xml::error_reply(iq, type_, condition, &text);
            if let (Some(app), Some(e)) = (app, r.children_mut().find(|c| c.name() == "error")) {
                e.append_child(app);
            }
            r
        }
    }
}

/// Reads one stanza from the server.
pub fn handle(_settings: &Settings, state: &State, el: &Element) -> Handled {
    if el.name() != "iq" || el.ns() != NS_COMPONENT {
        // Messages and presences to the focus carry nothing we use.
        return Handled::Nothing;
    }
    let type_ = el.attr("type").unwrap_or_default();
    if type_ != "get" && type_ != "set" {
        return Handled::Nothing;
    }
    let Some(payload) = el.children().next() else {
        return Handled::Reply(xml::error_reply(el, "modify", "bad-request", "empty IQ"));
    };
    let ns = payload.ns();
    match (type_, payload.name(), ns.as_str()) {
        ("set", "conference", jitsi_xmpp::ns::FOCUS) => {
            state.metrics.conference_requests.inc();
            match ConferenceIq::try_from(payload) {
                Ok(req) => Handled::Forward(RequestKind::Conference(req)),
                Err(e) => {
                    state.metrics.conference_errors.inc();
                    tracing::info!(from = el.attr("from").unwrap_or(""), error = %e, "malformed conference request");
                    Handled::Reply(xml::error_reply(
                        el,
                        "modify",
                        "bad-request",
                        &e.to_string(),
                    ))
                }
            }
        }
        ("get", "login-url", jitsi_xmpp::ns::FOCUS) => Handled::Forward(RequestKind::LoginUrl {
            room: payload.attr("room").unwrap_or_default().to_string(),
        }),
        ("set", "logout", jitsi_xmpp::ns::FOCUS) => Handled::Forward(RequestKind::Logout {
            session_id: payload.attr("session-id").unwrap_or_default().to_string(),
        }),
        ("get", "ping", NS_PING) => Handled::Reply(xml::reply(el, "result")),
        ("get", "query", NS_DISCO_INFO) => {
            let mut r = xml::reply(el, "result");
            r.append_child(xml::disco_info(
                "component",
                "generic",
                "meet-rs focus",
                &[NS_DISCO_INFO, NS_PING, jitsi_xmpp::ns::FOCUS],
            ));
            Handled::Reply(r)
        }
        _ => Handled::Reply(xml::error_reply(
            el,
            "cancel",
            "service-unavailable",
            "not supported",
        )),
    }
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

    #[tokio::test]
    async fn a_stream_header_without_version_gets_one() {
        use tokio::io::AsyncReadExt;
        let read_all = |input: &'static [u8]| async move {
            let mut r = VersionedHeader::new(input);
            let mut out = String::new();
            r.read_to_string(&mut out).await.expect("read");
            out
        };
        // Prosody 0.12's answer (XEP-0114 §3 example 2 has no version either).
        let prosody = b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' from='focus.meet.test' xml:lang='en' id='50c5' xmlns:stream='http://etherx.jabber.org/streams'><handshake/>";
        assert_eq!(
            read_all(prosody).await,
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' from='focus.meet.test' xml:lang='en' id='50c5' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><handshake/>"
        );
        // A header with a version, and a quoted '>', pass unchanged.
        let ours = b"<stream:stream id='a>b' version='1.0' xmlns='jabber:component:accept'>";
        assert_eq!(read_all(ours).await.as_bytes(), ours);
        let empty: &[u8] = b"";
        assert_eq!(read_all(empty).await, "");
    }

    #[test]
    fn digest_is_hex_sha1() {
        // sha1("abc") with an empty secret.
        assert_eq!(
            handshake_digest("abc", ""),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    fn reply(h: Handled) -> Element {
        match h {
            Handled::Reply(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn conference_requests_go_to_the_manager() {
        let s = settings();
        let st = State::new();
        let req = iq(
            "<iq xmlns='jabber:component:accept' type='set' id='c1' from='u@meet.test/r' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='r1@conference.meet.test' machine-uid='m'/></iq>",
        );
        let Handled::Forward(RequestKind::Conference(c)) = handle(&s, &st, &req) else {
            panic!("not forwarded")
        };
        assert_eq!(c.room, "r1@conference.meet.test");
        // The manager's answer becomes the IQ result, from the component.
        let mut a = ConferenceIq::new("r1@conference.meet.test");
        a.ready = Some(true);
        let r = answer_element(&req, Answer::Ok(Some(Element::from(&a))));
        assert_eq!(r.attr("type"), Some("result"));
        assert_eq!(r.attr("to"), Some("u@meet.test/r"));
        assert_eq!(r.attr("from"), Some("focus.meet.test"));
        let r = answer_element(
            &req,
            Answer::Err {
                type_: "cancel",
                condition: "not-acceptable",
                text: "invalid session".into(),
                app: Some(Element::bare("session-invalid", jitsi_xmpp::ns::FOCUS)),
            },
        );
        let x = String::from(&r);
        assert!(
            x.contains("not-acceptable") && x.contains("session-invalid"),
            "{x}"
        );

        let bad = iq(
            "<iq xmlns='jabber:component:accept' type='set' id='c2' from='u@meet.test/r' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus'/></iq>",
        );
        let r = reply(handle(&s, &st, &bad));
        assert!(String::from(&r).contains("bad-request"));
        assert_eq!(st.metrics.conference_errors.get(), 1);
        let login = iq(
            "<iq xmlns='jabber:component:accept' type='get' id='l' from='u@meet.test/r' to='focus.meet.test'><login-url xmlns='http://jitsi.org/protocol/focus' room='r@c'/></iq>",
        );
        assert!(matches!(
            handle(&s, &st, &login),
            Handled::Forward(RequestKind::LoginUrl { .. })
        ));
    }

    #[test]
    fn other_iqs() {
        let s = settings();
        let st = State::new();
        let r = reply(handle(
            &s,
            &st,
            &iq(
                "<iq xmlns='jabber:component:accept' type='get' id='p' from='u@meet.test/r' to='focus.meet.test'><ping xmlns='urn:xmpp:ping'/></iq>",
            ),
        ));
        assert_eq!(r.attr("type"), Some("result"));
        let r = reply(handle(
            &s,
            &st,
            &iq(
                "<iq xmlns='jabber:component:accept' type='get' id='d' from='u@meet.test/r' to='focus.meet.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            ),
        ));
        assert!(String::from(&r).contains("http://jitsi.org/protocol/focus"));
        let r = reply(handle(
            &s,
            &st,
            &iq(
                "<iq xmlns='jabber:component:accept' type='get' id='v' from='u@meet.test/r' to='focus.meet.test'><query xmlns='jabber:iq:version'/></iq>",
            ),
        ));
        assert!(String::from(&r).contains("service-unavailable"));
        assert!(matches!(
            handle(
                &s,
                &st,
                &iq(
                    "<iq xmlns='jabber:component:accept' type='result' id='keepalive-1' from='meet.test' to='focus.meet.test'/>"
                )
            ),
            Handled::Nothing
        ));
    }
}
