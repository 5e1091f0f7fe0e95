//! BOSH (XEP-0124) carrying an XMPP stream (XEP-0206) at `/http-bind`.
//!
//! Each BOSH session is a task owning its [`C2sSession`]; HTTP requests reach
//! it through a channel found by `sid`. The request bookkeeping — which
//! `rid` comes next, which responses may be resent, which requests are held
//! and which get the queued output — is sans-IO ([`RidWindow`],
//! [`Exchange`]) so it can be tested without sockets.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use minidom::Element;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{Body, Ctx, client_ns, response};
use crate::c2s::{C2sSession, Out, Transport};
use crate::config::CrossDomain;
use crate::router::{Delivery, INBOX_DEPTH};
use crate::server::{SessionEnv, Shared};
use crate::wire;
use crate::xml::{NS_STREAMS, StreamHeader, XmlEvent, escape, parse_document};

pub const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
pub const NS_XBOSH: &str = "urn:xmpp:xbosh";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Requests a client may have open at once (XEP-0124 `requests`); also the
/// width of the rid window and of the resend cache.
pub const REQUESTS: u64 = 2;
/// Requests held open at most (`hold`).
pub const HOLD: usize = 1;
/// Shortest allowed interval between polls, announced only (`polling`).
pub const POLLING: u64 = 5;
/// Room for the `<body/>` wrapper and several stanzas around the largest
/// stanza a client may send.
const BODY_OVERHEAD: usize = 16 * 1024;
/// Output queued while the client has no request open, at most; beyond it
/// the router inbox fills and further stanzas are dropped there.
const MAX_PENDING: usize = INBOX_DEPTH;

const XML: &str = "text/xml; charset=utf-8";
const IT_WORKS: &str = "<!DOCTYPE html>\n<html><head><title>BOSH</title></head><body>\
<h1>It works! Now point your BOSH client to this URL to connect to the XMPP server.</h1>\
</body></html>\n";

/// One HTTP request, handed to its session task.
struct BoshRequest {
    body: Element,
    respond: oneshot::Sender<String>,
}

/// Sessions by sid. Process-wide because main.rs runs one [`super::serve`]
/// per listening address, and consecutive requests of one client may arrive
/// on different listeners; sids are random, so servers in one test process
/// cannot collide.
static SESSIONS: LazyLock<Mutex<HashMap<String, mpsc::Sender<BoshRequest>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn lookup(sid: &str) -> Option<mpsc::Sender<BoshRequest>> {
    let map = SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    map.get(sid).cloned()
}

fn register(sid: &str, tx: mpsc::Sender<BoshRequest>) {
    let mut map = SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    map.insert(sid.to_string(), tx);
}

fn unregister(sid: &str) {
    let mut map = SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    map.remove(sid);
}

// ---------------------------------------------------------------------------
// HTTP side

pub(super) async fn handle(req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    let cors = super::origin(req.headers())
        .and_then(|o| cors_origin(&ctx.shared.cfg.cross_domain_bosh, o));
    let mut resp = match *req.method() {
        Method::POST => post(req, ctx).await,
        // Preflight: the CORS headers added below are the whole answer.
        Method::OPTIONS => response(StatusCode::OK, "text/plain; charset=utf-8", ""),
        Method::GET => response(StatusCode::OK, "text/html; charset=utf-8", IT_WORKS),
        _ => {
            let mut r = response(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "method not allowed\n",
            );
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            r
        }
    };
    if let Some(origin) = cors {
        add_cors_headers(resp.headers_mut(), &origin);
    }
    resp
}

/// The `Access-Control-Allow-Origin` value for a request from `origin`, if
/// cross-domain BOSH is allowed for it.
pub(crate) fn cors_origin(cd: &CrossDomain, origin: &str) -> Option<String> {
    if !cd.allows(origin) {
        return None;
    }
    Some(match cd {
        CrossDomain::All(_) => "*".to_string(),
        CrossDomain::Origins(_) => origin.to_string(),
    })
}

fn add_cors_headers(h: &mut hyper::HeaderMap, origin: &str) {
    let Ok(value) = HeaderValue::from_str(origin) else {
        return;
    };
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("7200"),
    );
    if origin != "*" {
        // The answer depends on the request's origin: caches must know.
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn xml(body: String) -> Response<Body> {
    response(StatusCode::OK, XML, body)
}

async fn post(req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    let limit = ctx
        .shared
        .cfg
        .c2s_stanza_size_limit
        .saturating_add(BODY_OVERHEAD);
    let peer = ctx.peer_label(req.headers());
    let bytes = match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain; charset=utf-8",
                "request body too large\n",
            );
        }
        Err(_) => {
            return response(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "incomplete request body\n",
            );
        }
    };
    let body = match parse_document(&bytes, limit) {
        Ok(b) if b.is("body", NS_HTTPBIND) => b,
        Ok(_) | Err(_) => return xml(terminate_body(Some("bad-request"), &[])),
    };
    match body.attr("sid") {
        None => create(body, ctx, peer).await,
        Some(sid) => {
            let Some(tx) = lookup(sid) else {
                return xml(terminate_body(Some("item-not-found"), &[]));
            };
            let (respond, answer) = oneshot::channel();
            if tx.send(BoshRequest { body, respond }).await.is_err() {
                return xml(terminate_body(Some("item-not-found"), &[]));
            }
            // A dropped responder means the session ended without answering.
            xml(answer
                .await
                .unwrap_or_else(|_| terminate_body(Some("item-not-found"), &[])))
        }
    }
}

async fn create(body: Element, ctx: &Ctx, peer: String) -> Response<Body> {
    let cfg = &ctx.shared.cfg;
    let Some(rid) = parse_rid(&body) else {
        return xml(terminate_body(Some("bad-request"), &[]));
    };
    let Some(host) = body.attr("to").map(str::to_ascii_lowercase) else {
        return xml(terminate_body(Some("improper-addressing"), &[]));
    };
    if cfg.virtual_host(&host).is_none() {
        return xml(terminate_body(Some("host-unknown"), &[]));
    }
    let wait = negotiated_wait(body.attr("wait"), cfg.bosh_max_wait);
    let sid = uuid::Uuid::new_v4().simple().to_string();
    let (tx, rx) = mpsc::channel(2 * REQUESTS as usize);
    register(&sid, tx);
    let (respond, answer) = oneshot::channel();
    let lang = body
        .attrs()
        .iter()
        .find(|((ns, k), _)| ns.as_str() == NS_XML && k.as_str() == "lang")
        .map(|(_, v)| v.clone());
    let (session, inbox) = BoshSession::new(ctx.shared.clone(), sid, host, wait, rid, peer);
    let first = BoshRequest { body, respond };
    tokio::spawn(session.run(first, lang, rx, inbox, ctx.stop.clone()));
    xml(answer
        .await
        .unwrap_or_else(|_| terminate_body(Some("internal-server-error"), &[])))
}

/// The client's `wait`, capped by `bosh_max_wait`; absent or bad = the cap.
pub(crate) fn negotiated_wait(client: Option<&str>, max: u64) -> u64 {
    client
        .and_then(|w| w.trim().parse::<u64>().ok())
        .unwrap_or(max)
        .min(max)
}

/// The largest rid XEP-0124 §14.1 allows (2^53 - 1, so JavaScript clients
/// can count); the window arithmetic never gets near overflow below it.
pub const MAX_RID: u64 = (1 << 53) - 1;

fn parse_rid(body: &Element) -> Option<u64> {
    body.attr("rid")
        .and_then(|r| r.trim().parse::<u64>().ok())
        .filter(|r| *r <= MAX_RID)
}

fn xbosh_attr<'a>(body: &'a Element, name: &str) -> Option<&'a str> {
    body.attrs()
        .iter()
        .find(|((ns, k), _)| ns.as_str() == NS_XBOSH && k.as_str() == name)
        .map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------
// Rendering

/// The attributes of a session creation response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Creation {
    pub sid: String,
    pub wait: u64,
    pub inactivity: u64,
    pub host: String,
    pub authid: String,
}

fn body_xml(attrs: &[(&str, &str)], payload: &[String]) -> String {
    let mut s = String::from("<body");
    for (k, v) in attrs {
        s.push_str(&format!(" {k}='{}'", escape(v)));
    }
    s.push_str(&format!(" xmlns='{NS_HTTPBIND}'"));
    if payload.is_empty() {
        s.push_str("/>");
        return s;
    }
    // Clients look stream features up by their qualified name, so the
    // `stream` prefix is declared on the body as XEP-0206 shows.
    s.push_str(&format!(" xmlns:stream='{NS_STREAMS}'>"));
    for p in payload {
        s.push_str(p);
    }
    s.push_str("</body>");
    s
}

/// A normal response: the queued output, or an empty body.
pub(crate) fn payload_body(payload: &[String]) -> String {
    body_xml(&[], payload)
}

/// The session is over; `condition` says why when it is an error.
pub(crate) fn terminate_body(condition: Option<&str>, payload: &[String]) -> String {
    match condition {
        Some(c) => body_xml(&[("type", "terminate"), ("condition", c)], payload),
        None => body_xml(&[("type", "terminate")], payload),
    }
}

/// The session creation response (XEP-0124 §7.1, XEP-0206 §5).
pub(crate) fn creation_body(c: &Creation, payload: &[String]) -> String {
    let wait = c.wait.to_string();
    let inactivity = c.inactivity.to_string();
    let requests = REQUESTS.to_string();
    let hold = HOLD.to_string();
    let polling = POLLING.to_string();
    let mut s = body_xml(
        &[
            ("sid", &c.sid),
            ("wait", &wait),
            ("requests", &requests),
            ("hold", &hold),
            ("inactivity", &inactivity),
            ("polling", &polling),
            ("ver", "1.6"),
            ("from", &c.host),
            ("authid", &c.authid),
        ],
        payload,
    );
    // The xbosh attributes need their namespace declared; insert them right
    // after the element name.
    let xbosh = format!(" xmpp:version='1.0' xmpp:restartlogic='true' xmlns:xmpp='{NS_XBOSH}'");
    s.insert_str("<body".len(), &xbosh);
    s
}

// ---------------------------------------------------------------------------
// Sans-IO bookkeeping

/// What to do with a request, judged by its `rid`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RidCheck {
    /// The next rid: process it.
    Next,
    /// Within the window but an earlier request has not arrived yet:
    /// process it once the gap is filled (XEP-0124 §14.2, in order).
    Ahead,
    /// Already answered: send the same response again (§14.3).
    Resend(String),
    /// Received before and not answered yet (held): the client retried.
    InFlight,
    /// Outside the window: terminate with `item-not-found`.
    Invalid,
}

/// The rid window and the resend cache of one session.
#[derive(Debug)]
pub(crate) struct RidWindow {
    next: u64,
    window: u64,
    answered: VecDeque<(u64, String)>,
}

impl RidWindow {
    /// After the session creation request `first`.
    pub fn new(first: u64, window: u64) -> Self {
        Self {
            next: first.saturating_add(1),
            window: window.max(1),
            answered: VecDeque::new(),
        }
    }

    pub fn next(&self) -> u64 {
        self.next
    }

    pub fn check(&self, rid: u64) -> RidCheck {
        if rid == self.next {
            RidCheck::Next
        } else if rid > self.next && rid - self.next < self.window {
            RidCheck::Ahead
        } else if rid < self.next && self.next - rid <= self.window {
            match self.answered.iter().find(|(r, _)| *r == rid) {
                Some((_, body)) => RidCheck::Resend(body.clone()),
                None => RidCheck::InFlight,
            }
        } else {
            RidCheck::Invalid
        }
    }

    /// The next rid was taken for processing.
    pub fn advance(&mut self) {
        self.next = self.next.saturating_add(1);
    }

    /// Remember the response to `rid` for a resend.
    pub fn record(&mut self, rid: u64, body: &str) {
        self.answered.push_back((rid, body.to_string()));
        while self.answered.len() as u64 > self.window {
            self.answered.pop_front();
        }
    }
}

/// A request waiting for its response.
#[derive(Debug)]
pub(crate) struct Held<R> {
    pub rid: u64,
    pub responder: R,
    pub deadline: Instant,
    /// The session creation request, answered with the session attributes.
    pub creation: bool,
}

/// A response to send now.
#[derive(Debug)]
pub(crate) struct Answer<R> {
    pub rid: u64,
    pub responder: R,
    pub payload: Vec<String>,
    pub creation: bool,
}

/// Held requests and queued output (XEP-0124 §11: at most `hold` requests
/// are kept waiting; output goes to the oldest waiting request).
#[derive(Debug)]
pub(crate) struct Exchange<R> {
    waiting: VecDeque<Held<R>>,
    pending: Vec<String>,
    hold: usize,
}

impl<R> Exchange<R> {
    pub fn new(hold: usize) -> Self {
        Self {
            waiting: VecDeque::new(),
            pending: Vec::new(),
            hold,
        }
    }

    pub fn hold(&mut self, h: Held<R>) {
        self.waiting.push_back(h);
    }

    pub fn push(&mut self, output: String) {
        self.pending.push(output);
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// No request is open: the inactivity clock runs.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.iter().map(|h| h.deadline).min()
    }

    /// The responses due now: queued output to the oldest waiting request,
    /// and empty bodies to those beyond `hold`.
    pub fn settle(&mut self) -> Vec<Answer<R>> {
        let mut out = Vec::new();
        if !self.pending.is_empty()
            && let Some(h) = self.waiting.pop_front()
        {
            out.push(answer(h, std::mem::take(&mut self.pending)));
        }
        while self.waiting.len() > self.hold {
            if let Some(h) = self.waiting.pop_front() {
                out.push(answer(h, Vec::new()));
            }
        }
        out
    }

    /// Empty responses to the requests whose `wait` ran out.
    pub fn expire(&mut self, now: Instant) -> Vec<Answer<R>> {
        let (due, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|h| h.deadline <= now);
        self.waiting = keep;
        due.into_iter().map(|h| answer(h, Vec::new())).collect()
    }

    /// A retried request takes over the held one with the same rid; the
    /// old responder is returned (its connection is most likely gone).
    pub fn replace(&mut self, rid: u64, responder: R) -> Result<R, R> {
        match self.waiting.iter_mut().find(|h| h.rid == rid) {
            Some(h) => Ok(std::mem::replace(&mut h.responder, responder)),
            None => Err(responder),
        }
    }

    /// The queued output (it goes into the terminate body).
    pub fn take_pending(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending)
    }

    /// Every open request, oldest first (the session is ending).
    pub fn drain(&mut self) -> Vec<Held<R>> {
        self.waiting.drain(..).collect()
    }
}

fn answer<R>(h: Held<R>, payload: Vec<String>) -> Answer<R> {
    Answer {
        rid: h.rid,
        responder: h.responder,
        payload,
        creation: h.creation,
    }
}

// ---------------------------------------------------------------------------
// The session task

type Responder = oneshot::Sender<String>;

struct BoshSession {
    shared: Arc<Shared>,
    sid: String,
    host: String,
    wait: u64,
    core: C2sSession,
    env: SessionEnv,
    rids: RidWindow,
    ex: Exchange<Responder>,
    /// Requests that arrived ahead of a missing rid.
    early: BTreeMap<u64, BoshRequest>,
    authid: String,
    /// Once the stream closed: the terminate body for the next request.
    closing: Option<String>,
    done: bool,
    last_activity: Instant,
    jid: Option<String>,
    reason: String,
}

impl BoshSession {
    fn new(
        shared: Arc<Shared>,
        sid: String,
        host: String,
        wait: u64,
        rid: u64,
        peer: String,
    ) -> (Self, mpsc::Receiver<Delivery>) {
        let (inbox, rx) = mpsc::channel::<Delivery>(INBOX_DEPTH);
        let secure = shared.cfg.consider_bosh_secure;
        let env = SessionEnv {
            shared: shared.clone(),
            inbox,
            peer,
        };
        (
            Self {
                shared,
                sid,
                host,
                wait,
                core: C2sSession::new(Transport::Bosh, secure),
                env,
                rids: RidWindow::new(rid, REQUESTS),
                ex: Exchange::new(HOLD),
                early: BTreeMap::new(),
                authid: String::new(),
                closing: None,
                done: false,
                last_activity: Instant::now(),
                jid: None,
                reason: "closed".to_string(),
            },
            rx,
        )
    }

    async fn run(
        mut self,
        first: BoshRequest,
        lang: Option<String>,
        mut requests: mpsc::Receiver<BoshRequest>,
        mut inbox: mpsc::Receiver<Delivery>,
        mut stop: watch::Receiver<bool>,
    ) {
        let shared = self.shared.clone();
        shared.counters.bosh_sessions.inc();
        shared.counters.c2s_connections.inc();
        tracing::info!(peer = %self.env.peer, transport = "bosh", sid = %self.sid, host = %self.host, "c2s session opened");
        let creation_rid = self.rids.next().saturating_sub(1);
        self.ex.hold(Held {
            rid: creation_rid,
            responder: first.respond,
            deadline: Instant::now() + Duration::from_secs(self.wait),
            creation: true,
        });
        let header = StreamHeader {
            ns: NS_HTTPBIND.to_string(),
            name: "body".to_string(),
            to: Some(self.host.clone()),
            version: Some("1.0".to_string()),
            lang,
            ..Default::default()
        };
        self.core
            .handle(XmlEvent::StreamOpen(header), &mut self.env);
        self.flush().await;

        let auth_deadline = Instant::now() + Duration::from_secs(shared.cfg.c2s_timeout.max(1));
        let inactivity = Duration::from_secs(shared.cfg.bosh_max_inactivity.max(1));
        let mut stopping = false;
        while !self.done {
            let wait_deadline = self.ex.next_deadline();
            let idle_deadline = self.last_activity + inactivity;
            tokio::select! {
                r = requests.recv() => match r {
                    Some(r) => self.request(r),
                    // Cannot happen while registered; end rather than spin.
                    None => break,
                },
                d = inbox.recv(), if self.closing.is_none() && self.ex.pending_len() < MAX_PENDING => {
                    if let Some(d) = d {
                        self.deliver(d);
                    }
                }
                _ = tokio::time::sleep_until(wait_deadline.unwrap_or(idle_deadline)), if wait_deadline.is_some() => {
                    let due = self.ex.expire(Instant::now());
                    self.send_answers(due);
                }
                _ = tokio::time::sleep_until(idle_deadline), if self.ex.is_idle() => {
                    if self.closing.is_none() {
                        self.reason = "inactivity".to_string();
                    }
                    break;
                }
                _ = tokio::time::sleep_until(auth_deadline), if !self.core.is_authenticated() && self.closing.is_none() => {
                    self.reason = "authentication timeout".to_string();
                    self.core.fail("connection-timeout", Some("authentication took too long"), &mut self.env);
                }
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    self.reason = "shutdown".to_string();
                    self.core.fail("system-shutdown", None, &mut self.env);
                }
            }
            // Stanzas already waiting (replies to what was just sent, often)
            // go out in the same response.
            while self.closing.is_none() && self.ex.pending_len() < MAX_PENDING {
                match inbox.try_recv() {
                    Ok(d) => self.deliver(d),
                    Err(_) => break,
                }
            }
            self.flush().await;
            if stopping && self.ex.is_idle() {
                // Nobody is waiting to be told; the process is going away.
                break;
            }
        }

        self.core.disconnected(&mut self.env);
        let _ = self.core.take_output();
        unregister(&self.sid);
        // Whoever is still waiting learns that the session is over.
        let last = self
            .closing
            .take()
            .unwrap_or_else(|| terminate_body(None, &[]));
        for h in self.ex.drain() {
            let _ = h.responder.send(last.clone());
        }
        for (_, r) in std::mem::take(&mut self.early) {
            let _ = r.respond.send(last.clone());
        }
        requests.close();
        while let Ok(r) = requests.try_recv() {
            let _ = r.respond.send(last.clone());
        }
        shared.counters.bosh_sessions.dec();
        shared.counters.c2s_connections.dec();
        tracing::info!(
            peer = %self.env.peer,
            transport = "bosh",
            sid = %self.sid,
            jid = self.jid.as_deref().unwrap_or("-"),
            reason = %self.reason,
            "c2s session closed"
        );
    }

    fn deliver(&mut self, d: Delivery) {
        match d {
            Delivery::Stanza(el) => self.core.deliver(el),
            Delivery::Close { condition, text } => {
                self.reason = condition.to_string();
                self.core.fail(condition, Some(&text), &mut self.env);
            }
        }
    }

    /// One HTTP request arrived for this session.
    fn request(&mut self, r: BoshRequest) {
        self.last_activity = Instant::now();
        if let Some(body) = &self.closing {
            let _ = r.respond.send(body.clone());
            self.done = true;
            return;
        }
        let Some(rid) = parse_rid(&r.body) else {
            self.abort("bad-request", r);
            return;
        };
        match self.rids.check(rid) {
            RidCheck::Next => {
                self.process(rid, r);
                // Requests that overtook this one can go now, in rid order.
                while let Some(r) = self.early.remove(&self.rids.next()) {
                    let rid = self.rids.next();
                    self.process(rid, r);
                }
            }
            RidCheck::Ahead => {
                if let Some(old) = self.early.insert(rid, r) {
                    let _ = old.respond.send(payload_body(&[]));
                }
            }
            RidCheck::Resend(body) => {
                let _ = r.respond.send(body);
            }
            RidCheck::InFlight => match self.ex.replace(rid, r.respond) {
                Ok(old) => {
                    let _ = old.send(payload_body(&[]));
                }
                Err(respond) => self.abort(
                    "item-not-found",
                    BoshRequest {
                        body: r.body,
                        respond,
                    },
                ),
            },
            RidCheck::Invalid => self.abort("item-not-found", r),
        }
    }

    /// A request in rid order: hold it and feed its payload to the stream.
    fn process(&mut self, rid: u64, r: BoshRequest) {
        self.rids.advance();
        self.ex.hold(Held {
            rid,
            responder: r.respond,
            deadline: Instant::now() + Duration::from_secs(self.wait),
            creation: false,
        });
        let mut body = r.body;
        let terminate = body.attr("type") == Some("terminate");
        if !terminate && xbosh_attr(&body, "restart") == Some("true") {
            // XEP-0206 §5: a restart request carries no payload.
            let to = body
                .attr("to")
                .map(str::to_ascii_lowercase)
                .unwrap_or_else(|| self.host.clone());
            let header = StreamHeader {
                ns: NS_HTTPBIND.to_string(),
                name: "body".to_string(),
                to: Some(to),
                version: Some("1.0".to_string()),
                ..Default::default()
            };
            self.core
                .handle(XmlEvent::StreamOpen(header), &mut self.env);
            return;
        }
        for node in body.take_nodes() {
            if let minidom::Node::Element(child) = node {
                // Unqualified children inherit the body's namespace.
                let child = client_ns(client_ns(child, NS_HTTPBIND), "");
                self.core.handle(XmlEvent::Element(child), &mut self.env);
            }
        }
        if terminate {
            if self.reason == "closed" {
                self.reason = "client terminated".to_string();
            }
            self.core.handle(XmlEvent::StreamClose, &mut self.env);
        }
    }

    /// A broken request ends the session (XEP-0124 §17).
    fn abort(&mut self, condition: &str, r: BoshRequest) {
        self.reason = format!("bad request ({condition})");
        self.core.disconnected(&mut self.env);
        let _ = self.core.take_output();
        let body = terminate_body(Some(condition), &[]);
        let _ = r.respond.send(body.clone());
        self.closing = Some(body);
        self.done = true;
    }

    /// Carry out the session's actions, then answer what is due.
    async fn flush(&mut self) {
        loop {
            let outs = self.core.take_output();
            if outs.is_empty() {
                break;
            }
            for out in outs {
                match out {
                    Out::Header { id, .. } => self.authid = id,
                    Out::Send(el) => self.ex.push(wire::element(&el)),
                    Out::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                    // Each BOSH request is parsed on its own: nothing to reset.
                    Out::Restart => {}
                    // Never offered over BOSH; end the session should it happen.
                    Out::StartTls => {
                        self.core.disconnected(&mut self.env);
                        self.close(None);
                    }
                    Out::Close(err) => self.close(err),
                }
            }
        }
        if let Some(jid) = self.core.jid() {
            self.jid = Some(jid);
        }
        match self.closing.clone() {
            Some(last) => {
                let mut held = self.ex.drain().into_iter();
                if let Some(first) = held.next() {
                    let _ = first.responder.send(last);
                    for h in held {
                        let _ = h.responder.send(terminate_body(None, &[]));
                    }
                    self.done = true;
                }
            }
            None => {
                let due = self.ex.settle();
                self.send_answers(due);
            }
        }
    }

    /// The stream closed: build the terminate body (queued output first).
    fn close(&mut self, err: Option<Element>) {
        let mut payload = self.ex.take_pending();
        let condition = match err {
            Some(e) => {
                if let Some(cond) = e.children().next() {
                    if self.reason == "closed" {
                        self.reason = format!("stream error ({})", cond.name());
                    }
                    tracing::info!(peer = %self.env.peer, sid = %self.sid, condition = cond.name(), "sending stream error");
                }
                payload.push(wire::element(&e));
                Some("remote-stream-error")
            }
            None => None,
        };
        if self.closing.is_none() {
            self.closing = Some(terminate_body(condition, &payload));
        }
    }

    fn send_answers(&mut self, answers: Vec<Answer<Responder>>) {
        if answers.is_empty() {
            return;
        }
        for a in answers {
            let body = if a.creation {
                let c = Creation {
                    sid: self.sid.clone(),
                    wait: self.wait,
                    inactivity: self.shared.cfg.bosh_max_inactivity,
                    host: self.host.clone(),
                    authid: self.authid.clone(),
                };
                creation_body(&c, &a.payload)
            } else {
                payload_body(&a.payload)
            };
            self.rids.record(a.rid, &body);
            let _ = a.responder.send(body);
        }
        self.last_activity = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_window_orders_resends_and_refuses() {
        let mut w = RidWindow::new(100, REQUESTS);
        assert_eq!(w.check(101), RidCheck::Next);
        assert_eq!(w.check(102), RidCheck::Ahead);
        assert_eq!(w.check(103), RidCheck::Invalid);
        // The creation request (100) is in flight until answered.
        assert_eq!(w.check(100), RidCheck::InFlight);
        w.record(100, "<body a='100'/>");
        assert_eq!(w.check(100), RidCheck::Resend("<body a='100'/>".into()));
        w.advance();
        w.record(101, "<body a='101'/>");
        w.advance();
        w.record(102, "<body a='102'/>");
        assert_eq!(w.next(), 103);
        assert_eq!(w.check(102), RidCheck::Resend("<body a='102'/>".into()));
        assert_eq!(w.check(101), RidCheck::Resend("<body a='101'/>".into()));
        // Only `window` responses are kept: older rids are out of the window.
        assert_eq!(w.check(100), RidCheck::Invalid);
        assert_eq!(w.check(0), RidCheck::Invalid);
        assert_eq!(w.check(u64::MAX), RidCheck::Invalid);
    }

    #[test]
    fn huge_rids_are_refused_and_never_overflow() {
        let rid = |r: &str| parse_rid(&parse(&format!("<body xmlns='{NS_HTTPBIND}' rid='{r}'/>")));
        assert_eq!(rid("9007199254740991"), Some(MAX_RID));
        assert_eq!(rid("9007199254740992"), None);
        assert_eq!(rid("18446744073709551616"), None);
        assert_eq!(rid("-1"), None);
        let mut w = RidWindow::new(u64::MAX, REQUESTS);
        w.advance();
        assert_eq!(w.next(), u64::MAX);
        w.record(u64::MAX, "");
        let _ = w.check(0);
    }

    fn held(rid: u64, creation: bool, after: Duration) -> Held<u64> {
        Held {
            rid,
            responder: rid,
            deadline: Instant::now() + after,
            creation,
        }
    }

    #[test]
    fn output_goes_to_the_oldest_and_one_request_is_held() {
        let mut ex = Exchange::new(HOLD);
        ex.hold(held(1, true, Duration::from_secs(60)));
        assert!(ex.settle().is_empty(), "nothing to say yet: keep holding");
        ex.push("<a/>".into());
        let a = ex.settle();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].rid, a[0].creation), (1, true));
        assert_eq!(a[0].payload, ["<a/>"]);
        assert!(ex.is_idle());

        // A second request while one is held: the held one is answered.
        ex.hold(held(2, false, Duration::from_secs(60)));
        ex.hold(held(3, false, Duration::from_secs(60)));
        let a = ex.settle();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].rid, 2);
        assert!(a[0].payload.is_empty());
        assert!(!ex.is_idle());

        // Output arriving later goes to the held request.
        ex.push("<b/>".into());
        ex.push("<c/>".into());
        let a = ex.settle();
        assert_eq!(a[0].rid, 3);
        assert_eq!(a[0].payload, ["<b/>", "<c/>"]);
        assert_eq!(ex.pending_len(), 0);
    }

    #[test]
    fn queued_output_while_nothing_is_held_waits_for_the_next_request() {
        let mut ex: Exchange<u64> = Exchange::new(HOLD);
        ex.push("<x/>".into());
        assert!(ex.settle().is_empty());
        ex.hold(held(7, false, Duration::from_secs(60)));
        let a = ex.settle();
        assert_eq!((a[0].rid, a[0].payload.len()), (7, 1));
    }

    #[test]
    fn expired_requests_get_empty_bodies() {
        let mut ex = Exchange::new(HOLD);
        ex.hold(held(1, false, Duration::ZERO));
        ex.hold(held(2, false, Duration::from_secs(60)));
        assert!(ex.next_deadline().is_some_and(|d| d <= Instant::now()));
        let a = ex.expire(Instant::now());
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].rid, 1);
        assert!(a[0].payload.is_empty());
        assert_eq!(ex.drain().len(), 1);
        assert!(ex.next_deadline().is_none());
    }

    #[test]
    fn a_retried_request_takes_over_the_held_one() {
        let mut ex = Exchange::new(HOLD);
        ex.hold(held(5, false, Duration::from_secs(60)));
        assert_eq!(ex.replace(5, 55), Ok(5));
        assert_eq!(ex.replace(6, 66), Err(66));
        ex.push("<y/>".into());
        assert_eq!(ex.settle()[0].responder, 55);
    }

    fn parse(s: &str) -> Element {
        parse_document(s.as_bytes(), 100_000).expect("well-formed body")
    }

    #[test]
    fn bodies_are_well_formed_and_carry_their_attributes() {
        let empty = parse(&payload_body(&[]));
        assert!(empty.is("body", NS_HTTPBIND));
        assert_eq!(empty.children().count(), 0);

        let t = parse(&terminate_body(Some("item-not-found"), &[]));
        assert_eq!(t.attr("type"), Some("terminate"));
        assert_eq!(t.attr("condition"), Some("item-not-found"));
        assert_eq!(parse(&terminate_body(None, &[])).attr("condition"), None);

        let err = crate::stanza::stream_error("conflict", Some("replaced"));
        let t = parse(&terminate_body(
            Some("remote-stream-error"),
            &[wire::element(&err)],
        ));
        assert!(t.has_child("error", NS_STREAMS));

        let features = Element::bare("features", NS_STREAMS);
        let c = Creation {
            sid: "s'1".into(),
            wait: 30,
            inactivity: 60,
            host: "example.com".into(),
            authid: "abc".into(),
        };
        let text = creation_body(&c, &[wire::element(&features)]);
        assert!(text.contains("<stream:features"), "{text}");
        let b = parse(&text);
        assert!(b.is("body", NS_HTTPBIND));
        for (k, v) in [
            ("sid", "s'1"),
            ("wait", "30"),
            ("requests", "2"),
            ("hold", "1"),
            ("inactivity", "60"),
            ("polling", "5"),
            ("ver", "1.6"),
            ("from", "example.com"),
            ("authid", "abc"),
        ] {
            assert_eq!(b.attr(k), Some(v), "{k}");
        }
        assert_eq!(xbosh_attr(&b, "version"), Some("1.0"));
        assert_eq!(xbosh_attr(&b, "restartlogic"), Some("true"));
        assert!(b.has_child("features", NS_STREAMS));
    }

    #[test]
    fn wait_is_capped() {
        assert_eq!(negotiated_wait(Some("60"), 30), 30);
        assert_eq!(negotiated_wait(Some("10"), 30), 10);
        assert_eq!(negotiated_wait(Some("x"), 30), 30);
        assert_eq!(negotiated_wait(None, 30), 30);
        assert_eq!(negotiated_wait(Some("-1"), 30), 30);
    }

    #[test]
    fn cors_follows_cross_domain_bosh() {
        let o = "https://meet.example.com";
        assert_eq!(cors_origin(&CrossDomain::All(false), o), None);
        assert_eq!(
            cors_origin(&CrossDomain::All(true), o).as_deref(),
            Some("*")
        );
        let list = CrossDomain::Origins(vec![o.to_string()]);
        assert_eq!(cors_origin(&list, o).as_deref(), Some(o));
        assert_eq!(cors_origin(&list, "https://evil.example"), None);
        let mut h = hyper::HeaderMap::new();
        add_cors_headers(&mut h, o);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], o);
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_METHODS],
            "GET, POST, OPTIONS"
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "Content-Type");
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "7200");
    }

    #[test]
    fn children_of_the_body_become_client_stanzas() {
        let b = parse(
            "<body xmlns='http://jabber.org/protocol/httpbind' rid='1'>\
             <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>\
             <message xmlns='jabber:client'><body>x</body></message></body>",
        );
        let kids: Vec<Element> = b
            .children()
            .map(|c| client_ns(c.clone(), NS_HTTPBIND))
            .collect();
        assert!(kids[0].is("iq", crate::xml::NS_CLIENT));
        assert!(kids[0].has_child("ping", "urn:xmpp:ping"));
        assert!(kids[1].has_child("body", crate::xml::NS_CLIENT));
    }
}
