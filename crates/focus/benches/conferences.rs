//! Load scenario for the focus's conference logic (issue 5: "thousands of
//! conferences per process"): the sans-IO manager runs N conferences of P
//! participants through the whole signalling life — conference request,
//! room join, owner form, disco#info, Colibri2 allocation, session-initiate,
//! session-accept with sources (source-add to everyone else), then everyone
//! leaves (source-remove, expiry). The room, the participants and the
//! bridge are answered in-process, so what is measured is the focus's own
//! work per stanza, plus its memory per conference.
//!
//! `cargo bench -p focus --bench conferences [-- CONFERENCES PARTICIPANTS]`
//! (defaults 2000 × 4). Figures go to docs/performance.md.

use std::time::{Duration, Instant};

use focus::conference::Settings;
use focus::manager::{Manager, Out, Request, RequestKind};
use focus::selection::Candidate;
use jitsi_xmpp::ConferenceIq;
use minidom::Element;

const BRIDGE: &str = "jvbbrewery@internal.auth.meet.test/jvb1";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn el(xml: &str) -> Element {
    xml.parse().expect("bench xml")
}

struct Driver {
    m: Manager,
    bridges: Vec<Candidate>,
    now: Instant,
    /// Stanzas the focus sent, to be answered by the simulated world.
    queue: Vec<Element>,
    stanzas_in: u64,
    stanzas_out: u64,
    replies: u64,
}

impl Driver {
    fn pump(&mut self) {
        for o in self.m.drain() {
            match o {
                Out::Send(e) => {
                    self.stanzas_out += 1;
                    self.queue.push(e);
                }
                Out::Reply(..) => self.replies += 1,
                Out::BridgeFailed(b) => panic!("bridge failed: {b}"),
            }
        }
    }

    fn feed(&mut self, e: &Element) {
        self.stanzas_in += 1;
        // Answers to a conference that has ended are not routed: fine.
        let _ = self.m.on_stanza(e, &self.bridges, self.now);
        self.pump();
    }

    /// Answers everything the focus sent, as the MUC, the participants and
    /// the bridge would, until nothing is left.
    fn settle(&mut self, ssrc_base: &mut u32) {
        while !self.queue.is_empty() {
            let batch = std::mem::take(&mut self.queue);
            for out in batch {
                for answer in world_answers(&out, ssrc_base) {
                    self.feed(&answer);
                }
            }
        }
    }
}

/// What the world answers to one stanza from the focus.
fn world_answers(out: &Element, ssrc_base: &mut u32) -> Vec<Element> {
    let to = out.attr("to").unwrap_or_default().to_string();
    let id = out.attr("id").unwrap_or_default().to_string();
    let result = |payload: &str| {
        el(&format!(
            "<iq xmlns='jabber:client' type='result' from='{to}' id='{id}'>{payload}</iq>"
        ))
    };
    match out.name() {
        "presence" => {
            // The focus's join: the MUC's self-presence.
            if out.attr("type").is_none() && out.children().any(|c| c.name() == "x") {
                return vec![el(&format!(
                    "<presence xmlns='jabber:client' from='{to}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus@auth.meet.test/f' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"
                ))];
            }
            vec![]
        }
        "iq" if out.attr("type") == Some("set") || out.attr("type") == Some("get") => {
            let Some(p) = out.children().next() else {
                return vec![];
            };
            match p.name() {
                "query" if p.ns() == "http://jabber.org/protocol/muc#owner" => {
                    vec![result(
                        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roominfo_meetingId'><value>m</value></field></x></query>",
                    )]
                }
                "query" if p.ns() == "http://jabber.org/protocol/disco#info" => vec![result(
                    "<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:jingle:apps:rtp:audio'/><feature var='urn:xmpp:jingle:apps:rtp:video'/><feature var='urn:ietf:rfc:4588'/><feature var='http://jitsi.org/tcc'/><feature var='http://jitsi.org/json-encoded-sources'/></query>",
                )],
                "conference-modify" => {
                    let create = p.children().find(|e| e.attr("create") == Some("true"));
                    match create.and_then(|e| e.attr("id")) {
                        Some(ep) => vec![result(&format!(
                            "<conference-modified xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='{ep}'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u{ep}' pwd='p'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA:BB</fingerprint><candidate component='1' foundation='1' generation='0' id='1' ip='127.0.0.1' port='10000' priority='1' protocol='udp' type='host'/><web-socket xmlns='http://jitsi.org/protocol/colibri' url='ws://x/colibri-ws/j/c/{ep}'/></transport></transport></endpoint><sources><media-source type='audio' id='jvb-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1'/></media-source></sources></conference-modified>"
                        ))],
                        None => vec![result("")],
                    }
                }
                "jingle" => {
                    let mut v = vec![result("")];
                    if p.attr("action") == Some("session-initiate") {
                        let sid = p.attr("sid").unwrap_or_default();
                        *ssrc_base += 3;
                        let (a, vi, r) = (*ssrc_base, *ssrc_base + 1, *ssrc_base + 2);
                        v.push(el(&format!(
                            "<iq xmlns='jabber:client' type='set' from='{to}' id='acc{a}'><jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'>\
                             <content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{a}'/></description>\
                             <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='c' pwd='cp'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>CC</fingerprint></transport></content>\
                             <content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{vi}'/><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{r}'/>\
                             <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='{vi}'/><source ssrc='{r}'/></ssrc-group></description></content></jingle></iq>"
                        )));
                    }
                    v
                }
                _ => vec![result("")],
            }
        }
        _ => vec![],
    }
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let conferences = args.first().copied().unwrap_or(2000);
    let participants = args.get(1).copied().unwrap_or(4);
    let mut n = 0u64;
    let mut d = Driver {
        m: Manager::new(
            Settings {
                initiator: "focus@auth.meet.test/f".into(),
                nick: "focus".into(),
                version: "bench".into(),
                auth_enabled: false,
            },
            "focus@auth.meet.test",
            None,
            Box::new(move || {
                n += 1;
                format!("id-{n}")
            }),
        ),
        bridges: vec![Candidate {
            jid: BRIDGE.into(),
            stress: 0.0,
            region: None,
            operational: true,
            usable: true,
        }],
        now: Instant::now(),
        queue: Vec::new(),
        stanzas_in: 0,
        stanzas_out: 0,
        replies: 0,
    };
    let rss0 = rss_kib();
    let mut ssrc = 1000u32;
    let t0 = Instant::now();
    for c in 0..conferences {
        let room = format!("room{c}@conference.meet.test");
        let req = ConferenceIq::new(&room);
        d.m.on_request(
            Request {
                token: c as u64,
                from: "u@meet.test/r".into(),
                kind: RequestKind::Conference(req),
            },
            &d.bridges,
            d.now,
        );
        d.pump();
        d.settle(&mut ssrc);
        for p in 0..participants {
            let nick = format!("{c:04x}{p:04x}");
            let presence = el(&format!(
                "<presence xmlns='jabber:client' from='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{nick}@meet.test/r' affiliation='none' role='participant'/></x></presence>"
            ));
            d.feed(&presence);
            d.settle(&mut ssrc);
        }
    }
    let setup = t0.elapsed();
    let rss1 = rss_kib();
    assert_eq!(d.m.conference_count(), conferences);
    assert_eq!(d.m.participant_count(), conferences * participants);
    assert_eq!(d.replies, conferences as u64, "every request answered");
    let (in1, out1) = (d.stanzas_in, d.stanzas_out);
    let t1 = Instant::now();
    for c in 0..conferences {
        let room = format!("room{c}@conference.meet.test");
        for p in 0..participants {
            let nick = format!("{c:04x}{p:04x}");
            d.feed(&el(&format!(
                "<presence xmlns='jabber:client' type='unavailable' from='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
            )));
            d.settle(&mut ssrc);
        }
    }
    let teardown = t1.elapsed();
    assert_eq!(d.m.conference_count(), 0);
    let per = |dur: Duration, n: usize| dur.as_secs_f64() * 1e6 / n as f64;
    println!(
        "focus conference load: {conferences} conferences × {participants} participants (sans-IO manager, one thread)"
    );
    println!(
        "  set-up:   {:.2} s — {:.0} µs per conference, {:.0} participants joined/s; {} stanzas in, {} out ({:.0} stanzas handled/s)",
        setup.as_secs_f64(),
        per(setup, conferences),
        (conferences * participants) as f64 / setup.as_secs_f64(),
        in1,
        out1,
        (in1 + out1) as f64 / setup.as_secs_f64()
    );
    println!(
        "  teardown: {:.2} s — {:.0} µs per conference",
        teardown.as_secs_f64(),
        per(teardown, conferences)
    );
    println!(
        "  memory:   RSS {} → {} KiB: {:.1} KiB per conference of {participants} ({:.1} KiB per participant)",
        rss0,
        rss1,
        rss1.saturating_sub(rss0) as f64 / conferences as f64,
        rss1.saturating_sub(rss0) as f64 / (conferences * participants) as f64
    );
}
