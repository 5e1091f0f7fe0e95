//! All conferences of one focus, sans-IO: conference requests from the
//! component connection, stanzas from the client connection and the
//! brewery's bridge list in; stanzas, request answers and bridge failures
//! out. One owner (the client connection's task) drives it, so no lock is
//! taken per stanza; each conference is its own state machine
//! ([`crate::conference`]) reached through a map keyed by room.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jitsi_xmpp::{ConferenceIq, ns};
use minidom::Element;

use crate::auth::{Authority, Refusal};
use crate::codecs::OfferOptions;
use crate::conference::{self, Conference, Ctx, Output};
use crate::muc::split_occupant;
use crate::selection::{Candidate, Selector};
use crate::xml::el;

/// A conference request waits this long for the focus to join the room
/// before it is answered `ready="false"` (the client then retries).
pub const JOIN_WAIT: Duration = Duration::from_secs(10);
/// New endpoints per bridge per minute before another bridge is preferred.
pub const DEFAULT_JOINS_PER_MINUTE: usize = 120;

/// A request the component connection received for the focus.
#[derive(Debug, Clone)]
pub enum RequestKind {
    Conference(ConferenceIq),
    /// `<login-url room=…/>`
    LoginUrl {
        room: String,
    },
    /// `<logout session-id=…/>`
    Logout {
        session_id: String,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    /// The component side's handle for the answer.
    pub token: u64,
    /// The requester's full JID.
    pub from: String,
    pub kind: RequestKind,
}

/// The answer to a [`Request`]: a payload, or an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Ok(Option<Element>),
    Err {
        type_: &'static str,
        condition: &'static str,
        text: String,
        app: Option<Element>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Send(Element),
    Reply(u64, Answer),
    BridgeFailed(String),
}

struct Deferred {
    token: u64,
    answer: ConferenceIq,
    since: Instant,
}

pub struct Manager {
    settings: conference::Settings,
    focus_jid: String,
    conferences: HashMap<String, Conference>,
    /// IQ id prefix → room.
    prefixes: HashMap<String, String>,
    next_id: u64,
    selector: Selector,
    auth: Option<Authority>,
    deferred: HashMap<String, Vec<Deferred>>,
    out: Vec<Out>,
    new_id: Box<dyn FnMut() -> String + Send>,
}

fn property_u32(req: &ConferenceIq, name: &str) -> Option<u32> {
    req.property(name).and_then(|v| v.trim().parse().ok())
}

impl Manager {
    /// `new_id` makes meeting and session ids (random UUIDs in the daemon,
    /// predictable in tests).
    pub fn new(
        settings: conference::Settings,
        focus_jid: &str,
        auth: Option<Authority>,
        new_id: Box<dyn FnMut() -> String + Send>,
    ) -> Self {
        Manager {
            settings,
            focus_jid: focus_jid.to_string(),
            conferences: HashMap::new(),
            prefixes: HashMap::new(),
            next_id: 0,
            selector: Selector::new(DEFAULT_JOINS_PER_MINUTE),
            auth,
            deferred: HashMap::new(),
            out: Vec::new(),
            new_id,
        }
    }

    /// The focus's full JID on the current connection (Jingle `initiator`).
    pub fn set_initiator(&mut self, jid: &str) {
        self.settings.initiator = jid.to_string();
    }

    pub fn drain(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    pub fn conference_count(&self) -> usize {
        self.conferences.len()
    }

    pub fn participant_count(&self) -> usize {
        self.conferences
            .values()
            .map(|c| c.participant_count())
            .sum()
    }

    pub fn conference(&self, room: &str) -> Option<&Conference> {
        self.conferences.get(room)
    }

    /// Runs `f` on one conference with a context, then collects its output.
    fn with_conference(
        &mut self,
        room: &str,
        bridges: &[Candidate],
        now: Instant,
        f: impl FnOnce(&mut Conference, &mut Ctx<'_>),
    ) {
        let Some(conf) = self.conferences.get_mut(room) else {
            return;
        };
        let auth = &self.auth;
        let authenticated = |jid: &str| auth.as_ref().is_some_and(|a| a.is_authenticated(jid));
        let mut ctx = Ctx {
            now,
            bridges,
            selector: &mut self.selector,
            authenticated: &authenticated,
        };
        f(conf, &mut ctx);
        let outputs = conf.drain();
        self.collect(room, outputs, now);
    }

    fn collect(&mut self, room: &str, outputs: Vec<Output>, now: Instant) {
        for o in outputs {
            match o {
                Output::Send(e) => self.out.push(Out::Send(e)),
                Output::BridgeFailed(b) => self.out.push(Out::BridgeFailed(b)),
                Output::Joined => {
                    for d in self.deferred.remove(room).unwrap_or_default() {
                        self.reply_ready(d.token, d.answer, true);
                    }
                }
                Output::JoinFailed(why) => {
                    for d in self.deferred.remove(room).unwrap_or_default() {
                        self.out.push(Out::Reply(
                            d.token,
                            Answer::Err {
                                type_: "wait",
                                condition: "internal-server-error",
                                text: why.clone(),
                                app: None,
                            },
                        ));
                    }
                }
                Output::Ended => {
                    if let Some(c) = self.conferences.remove(room) {
                        self.prefixes.remove(c.prefix());
                    }
                    let _ = now;
                }
            }
        }
    }

    fn reply_ready(&mut self, token: u64, mut answer: ConferenceIq, ready: bool) {
        answer.ready = Some(ready);
        self.out
            .push(Out::Reply(token, Answer::Ok(Some(Element::from(&answer)))));
    }

    /// A request from the component connection.
    pub fn on_request(&mut self, req: Request, bridges: &[Candidate], now: Instant) {
        match req.kind {
            RequestKind::Conference(c) => self.on_conference(req.token, &req.from, c, bridges, now),
            RequestKind::LoginUrl { room } => {
                let answer = if self.auth.is_some() {
                    // jicofo's XMPP type: the app reloads the room with
                    // ?login=true and logs in on the login domain.
                    let local = room.split('@').next().unwrap_or_default();
                    let url = format!("./{local}?login=true");
                    Answer::Ok(Some(el("login-url", ns::FOCUS, &[("url", &url)])))
                } else {
                    not_supported("authentication is not enabled")
                };
                self.out.push(Out::Reply(req.token, answer));
            }
            RequestKind::Logout { session_id } => {
                let answer = match self.auth.as_mut().map(|a| a.logout(&session_id)) {
                    Some(true) => Answer::Ok(Some(Element::bare("logout", ns::FOCUS))),
                    Some(false) => session_invalid(),
                    None => not_supported("authentication is not enabled"),
                };
                self.out.push(Out::Reply(req.token, answer));
            }
        }
    }

    fn on_conference(
        &mut self,
        token: u64,
        from: &str,
        req: ConferenceIq,
        bridges: &[Candidate],
        now: Instant,
    ) {
        let room = req.room.trim().to_string();
        let valid = room.split_once('@').is_some_and(|(node, domain)| {
            !node.is_empty() && !domain.is_empty() && !domain.contains('/')
        }) && !room.contains('/');
        if !valid {
            self.out.push(Out::Reply(
                token,
                Answer::Err {
                    type_: "modify",
                    condition: "bad-request",
                    text: format!("room {room:?} is not a room JID"),
                    app: None,
                },
            ));
            return;
        }
        let exists = self.conferences.contains_key(&room);
        let mut answer = ConferenceIq::new(&room);
        answer.focusjid = Some(self.focus_jid.clone());
        if let Some(auth) = &mut self.auth {
            let new_id = &mut self.new_id;
            match auth.check(
                from,
                req.session_id.as_deref(),
                req.machine_uid.as_deref(),
                exists,
                now,
                new_id,
            ) {
                Ok(grant) => {
                    answer.session_id = grant.session_id;
                    answer.identity = grant.identity;
                }
                Err(r) => {
                    tracing::info!(%room, %from, refusal = ?r, "conference request refused");
                    self.out.push(Out::Reply(token, refusal(r)));
                    return;
                }
            }
            answer.properties = vec![
                ("authentication".into(), "true".into()),
                ("externalAuth".into(), "false".into()),
            ];
        } else {
            answer.properties = vec![("authentication".into(), "false".into())];
        }
        if let Some(conf) = self.conferences.get(&room) {
            if conf.is_joined() {
                self.reply_ready(token, answer, true);
            } else {
                self.deferred.entry(room).or_default().push(Deferred {
                    token,
                    answer,
                    since: now,
                });
            }
            // A newly authenticated participant may now be owner.
            return;
        }
        self.next_id += 1;
        let options = OfferOptions {
            disable_rtx: req.property("disableRtx") == Some("true"),
            start_bitrate: property_u32(&req, "startBitrate"),
            min_bitrate: property_u32(&req, "minBitrate"),
        };
        let meeting_id = (self.new_id)();
        let conf = Conference::new(
            &room,
            self.next_id,
            meeting_id,
            self.settings.clone(),
            options,
        );
        tracing::info!(%room, %from, "conference created");
        self.prefixes
            .insert(conf.prefix().to_string(), room.clone());
        self.conferences.insert(room.clone(), conf);
        self.deferred
            .entry(room.clone())
            .or_default()
            .push(Deferred {
                token,
                answer,
                since: now,
            });
        self.with_conference(&room, bridges, now, |_, _| {});
    }

    /// A stanza from the client connection; `false` when it belongs to no
    /// conference (the caller handles it).
    pub fn on_stanza(&mut self, el: &Element, bridges: &[Candidate], now: Instant) -> bool {
        let from = el.attr("from").unwrap_or_default();
        let bare = from.split('/').next().unwrap_or_default().to_string();
        match el.name() {
            "presence" => {
                if !self.conferences.contains_key(&bare) {
                    return false;
                }
                self.with_conference(&bare, bridges, now, |c, ctx| c.on_presence(el, ctx));
                true
            }
            "iq" => match el.attr("type") {
                Some("result") | Some("error") => {
                    let id = el.attr("id").unwrap_or_default();
                    let room = id
                        .find('-')
                        .and_then(|i| self.prefixes.get(&id[..=i]))
                        .cloned();
                    match room {
                        Some(room) => {
                            self.with_conference(&room, bridges, now, |c, ctx| {
                                c.on_iq_response(el, ctx)
                            });
                            true
                        }
                        None => false,
                    }
                }
                Some("get") | Some("set") => {
                    if split_occupant(from).is_none() || !self.conferences.contains_key(&bare) {
                        return false;
                    }
                    self.with_conference(&bare, bridges, now, |c, ctx| c.on_iq_request(el, ctx));
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn rooms(&self) -> Vec<String> {
        self.conferences.keys().cloned().collect()
    }

    /// The bridge list changed.
    pub fn on_bridges(&mut self, bridges: &[Candidate], now: Instant) {
        for room in self.rooms() {
            self.with_conference(&room, bridges, now, |c, ctx| c.on_bridges(ctx));
        }
    }

    /// Once a second: timeouts and waiting participants.
    pub fn tick(&mut self, bridges: &[Candidate], now: Instant) {
        for room in self.rooms() {
            self.with_conference(&room, bridges, now, |c, ctx| c.tick(ctx));
        }
        let mut late = Vec::new();
        for (room, list) in &mut self.deferred {
            let (old, keep): (Vec<Deferred>, Vec<Deferred>) = list
                .drain(..)
                .partition(|d| now.duration_since(d.since) >= JOIN_WAIT);
            *list = keep;
            late.extend(old.into_iter().map(|d| (room.clone(), d)));
        }
        self.deferred.retain(|_, l| !l.is_empty());
        for (room, d) in late {
            tracing::warn!(%room, "the focus has not joined the room yet; answering ready=false");
            self.reply_ready(d.token, d.answer, false);
        }
    }

    /// The client connection went down: the rooms are gone with it.
    pub fn connection_lost(&mut self) {
        for (_, list) in self.deferred.drain() {
            for d in list {
                self.out.push(Out::Reply(
                    d.token,
                    Answer::Err {
                        type_: "wait",
                        condition: "service-unavailable",
                        text: "the focus lost its XMPP connection".into(),
                        app: None,
                    },
                ));
            }
        }
        self.conferences.clear();
        self.prefixes.clear();
    }

    /// SIGTERM: end every conference (terminate sessions, expire on the
    /// bridge, leave the rooms).
    pub fn shutdown(&mut self, bridges: &[Candidate], now: Instant) {
        for room in self.rooms() {
            self.with_conference(&room, bridges, now, |c, ctx| c.shutdown(ctx));
        }
    }
}

fn not_supported(text: &str) -> Answer {
    Answer::Err {
        type_: "cancel",
        condition: "service-unavailable",
        text: text.into(),
        app: None,
    }
}

fn session_invalid() -> Answer {
    Answer::Err {
        type_: "cancel",
        condition: "not-acceptable",
        text: "invalid session".into(),
        app: Some(Element::bare("session-invalid", ns::FOCUS)),
    }
}

fn refusal(r: Refusal) -> Answer {
    match r {
        Refusal::SessionInvalid => session_invalid(),
        Refusal::NotAcceptable(text) => Answer::Err {
            type_: "cancel",
            condition: "not-acceptable",
            text: text.into(),
            app: None,
        },
        Refusal::NotAuthorized => Answer::Err {
            type_: "auth",
            condition: "not-authorized",
            text: "not authorized user domain".into(),
            app: None,
        },
    }
}
