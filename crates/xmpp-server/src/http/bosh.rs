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
    let cors = super::origin(req.headers()).and_then(|o| cors_origin(&ctx.shared.cfg.cross_domain_bosh, o));
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
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, OPTIONS"));
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
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("7200"));
    if origin != "*" {
        // The answer depends on the request's origin: caches must know.
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn xml(body: String) -> Response<Body> {
    response(StatusCode::OK, XML, body)
}

async fn post(req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    let limit = ctx.shared.cfg.c2s_stanza_size_limit.saturating_add(BODY_OVERHEAD);
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

fn parse_rid(body: &Element) -> Option<u64> {
    body.attr("rid").and_then(|r| r.trim().parse::<u64>().ok())
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
    let xbosh = format!(
        " xmpp:version='1.0' xmpp:restartlogic='true' xmlns:xmpp='{NS_XBOSH}'"
    );
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
        let (due, keep): (VecDeque<_>, VecDeque<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|h| h.deadline <= now);
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

    /// Everything still open, oldest first, and the queued output (the
    /// session is ending).
    pub fn drain(&mut self) -> (Vec<Held<R>>, Vec<String>) {
        (
            self.waiting.drain(..).collect(),
            std::mem::take(&mut self.pending),
        )
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
    reason: &'static str,
}

impl BoshSession {
    fn new(shared: Arc<Shared>, sid: String, host: String, wait: u64, rid: u64, peer: String) -> (Self, mpsc::Receiver<Delivery>) {
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
                reason: "closed",
            },
            rx,
        )
    }
}
