//! Whole-conference scenarios driven through the [`crate::manager::Manager`]
//! with hand-written stanzas: no sockets, a fake clock.

use std::time::{Duration, Instant};

use jitsi_xmpp::{ConferenceIq, ConferenceModify, ns};
use minidom::Element;

use crate::auth::Authority;
use crate::conference::Settings;
use crate::manager::{Answer, Manager, Out, Request, RequestKind};
use crate::selection::Candidate;

const ROOM: &str = "room@conference.meet.test";
const B1: &str = "jvbbrewery@internal.auth.meet.test/jvb1";
const B2: &str = "jvbbrewery@internal.auth.meet.test/jvb2";

fn bridge(jid: &str, stress: f64) -> Candidate {
    Candidate {
        jid: jid.into(),
        stress,
        region: None,
        operational: true,
        usable: true,
    }
}

struct World {
    m: Manager,
    bridges: Vec<Candidate>,
    now: Instant,
    /// Everything sent so far and not yet inspected.
    sent: Vec<Element>,
    replies: Vec<(u64, Answer)>,
    failed: Vec<String>,
}

fn parse(xml: &str) -> Element {
    xml.parse().expect("test xml")
}

impl World {
    fn new(auth: Option<&str>) -> World {
        let mut n = 0;
        let m = Manager::new(
            Settings {
                initiator: "focus@auth.meet.test/f1".into(),
                nick: "focus".into(),
                version: "test".into(),
                auth_enabled: auth.is_some(),
            },
            "focus@auth.meet.test",
            auth.map(|u| Authority::from_url(u).expect("url")),
            Box::new(move || {
                n += 1;
                format!("id{n}")
            }),
        );
        World {
            m,
            bridges: vec![bridge(B1, 0.1), bridge(B2, 0.5)],
            now: Instant::now(),
            sent: Vec::new(),
            replies: Vec::new(),
            failed: Vec::new(),
        }
    }

    fn pump(&mut self) {
        for o in self.m.drain() {
            match o {
                Out::Send(e) => self.sent.push(e),
                Out::Reply(t, a) => self.replies.push((t, a)),
                Out::BridgeFailed(b) => self.failed.push(b),
            }
        }
    }

    fn input(&mut self, xml: &str) {
        let e = parse(xml);
        let bridges = self.bridges.clone();
        assert!(
            self.m.on_stanza(&e, &bridges, self.now),
            "not routed: {xml}"
        );
        self.pump();
    }

    fn request(&mut self, token: u64, from: &str, session: Option<&str>) {
        let mut c = ConferenceIq::new(ROOM);
        c.machine_uid = Some("m1".into());
        c.session_id = session.map(Into::into);
        let bridges = self.bridges.clone();
        self.m.on_request(
            Request {
                token,
                from: from.into(),
                kind: RequestKind::Conference(c),
            },
            &bridges,
            self.now,
        );
        self.pump();
    }

    fn set_bridges(&mut self, b: Vec<Candidate>) {
        self.bridges = b;
        let bridges = self.bridges.clone();
        self.m.on_bridges(&bridges, self.now);
        self.pump();
    }

    fn tick(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        let bridges = self.bridges.clone();
        self.m.tick(&bridges, self.now);
        self.pump();
    }

    /// Takes the first sent stanza matching `f`.
    fn take(&mut self, what: &str, f: impl Fn(&Element) -> bool) -> Element {
        match self.sent.iter().position(f) {
            Some(i) => self.sent.remove(i),
            None => panic!(
                "no {what} among {:#?}",
                self.sent.iter().map(String::from).collect::<Vec<_>>()
            ),
        }
    }

    fn has(&self, f: impl Fn(&Element) -> bool) -> bool {
        self.sent.iter().any(f)
    }

    fn take_iq_to(&mut self, to: &str, child: &str) -> Element {
        self.take(&format!("iq to {to} with {child}"), |e| {
            e.name() == "iq"
                && e.attr("to") == Some(to)
                && e.children().next().is_some_and(|c| c.name() == child)
        })
    }

    fn answer(&mut self, req: &Element, payload: &str) {
        let from = req.attr("to").unwrap_or_default();
        let id = req.attr("id").unwrap_or_default();
        self.input(&format!(
            "<iq xmlns='jabber:client' type='result' from='{from}' to='focus@auth.meet.test/f1' id='{id}'>{payload}</iq>"
        ));
    }

    fn fail(&mut self, req: &Element, condition: &str) {
        let from = req.attr("to").unwrap_or_default();
        let id = req.attr("id").unwrap_or_default();
        self.input(&format!(
            "<iq xmlns='jabber:client' type='error' from='{from}' id='{id}'><error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        ));
    }

    /// The focus joins and configures the room.
    fn start_room(&mut self, from: &str) {
        self.request(1, from, None);
        self.take("join presence", |e| {
            e.name() == "presence" && e.attr("to") == Some(&format!("{ROOM}/focus")[..])
        });
        assert!(self.replies.is_empty(), "the answer waits for the join");
        self.input(&format!(
            "<presence xmlns='jabber:client' from='{ROOM}/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus@auth.meet.test/f1' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"
        ));
        let (t, a) = self.replies.remove(0);
        assert_eq!(t, 1);
        let Answer::Ok(Some(c)) = a else {
            panic!("answer {a:?}")
        };
        assert_eq!(c.attr("ready"), Some("true"));
        assert_eq!(c.attr("focusjid"), Some("focus@auth.meet.test"));
        let form = self.take_iq_to(ROOM, "query");
        self.answer(
            &form,
            "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roominfo_meetingId'><value>meeting-1</value></field></x></query>",
        );
        let submit = self.take_iq_to(ROOM, "query");
        assert!(String::from(&submit).contains("anyone"));
        self.answer(&submit, "");
        // The focus's own presence extensions.
        assert!(
            self.has(
                |e| e.name() == "presence" && String::from(e).contains("conference-properties")
            )
        );
        self.sent.retain(|e| e.name() != "presence");
    }

    fn join(&mut self, nick: &str, affiliation: &str) {
        self.input(&format!(
            "<presence xmlns='jabber:client' from='{ROOM}/{nick}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{nick}@meet.test/r' affiliation='{affiliation}' role='participant'/></x></presence>"
        ));
    }

    fn leave(&mut self, nick: &str) {
        self.input(&format!(
            "<presence xmlns='jabber:client' type='unavailable' from='{ROOM}/{nick}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"
        ));
    }

    fn disco(&mut self, nick: &str, json: bool) {
        let q = self.take_iq_to(&format!("{ROOM}/{nick}"), "query");
        let json = if json {
            "<feature var='http://jitsi.org/json-encoded-sources'/>"
        } else {
            ""
        };
        self.answer(
            &q,
            &format!("<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:jingle:apps:rtp:audio'/><feature var='urn:xmpp:jingle:apps:rtp:video'/><feature var='urn:ietf:rfc:4588'/><feature var='http://jitsi.org/tcc'/>{json}</query>"),
        );
    }

    /// Answers the bridge's allocation for `nick` and returns the request.
    fn allocate(&mut self, bridge: &str, nick: &str) -> ConferenceModify {
        let req = self.take_iq_to(bridge, "conference-modify");
        let cm =
            ConferenceModify::try_from(req.children().next().expect("payload")).expect("colibri2");
        assert_eq!(cm.meeting_id, "meeting-1");
        assert_eq!(cm.endpoints.len(), 1);
        assert_eq!(cm.endpoints[0].id, nick);
        assert!(cm.endpoints[0].create);
        assert!(cm.endpoints[0].has_capability("source-names"));
        self.answer(
            &req,
            &format!("<conference-modified xmlns='jitsi:colibri2' meeting-id='meeting-1'><endpoint id='{nick}'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='uf-{nick}' pwd='pw'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA:BB</fingerprint><candidate component='1' foundation='1' generation='0' id='1' ip='127.0.0.1' port='10000' priority='1' protocol='udp' type='host'/><web-socket xmlns='http://jitsi.org/protocol/colibri' url='ws://127.0.0.1/colibri-ws/default-id/c/{nick}?pwd=pw'/></transport></transport></endpoint><sources><media-source type='audio' id='jvb-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1001' name='jvb-a0'/></media-source><media-source type='video' id='jvb-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1002' name='jvb-v0'/></media-source></sources></conference-modified>"),
        );
        cm
    }

    fn take_jingle(&mut self, nick: &str, action: &str) -> Element {
        let to = format!("{ROOM}/{nick}");
        self.take(&format!("{action} to {nick}"), |e| {
            e.attr("to") == Some(to.as_str())
                && e.get_child("jingle", ns::JINGLE)
                    .and_then(|j| j.attr("action"))
                    == Some(action)
        })
    }

    /// The participant's Jingle IQ to the focus; returns the focus's answer.
    fn jingle_from(&mut self, nick: &str, id: &str, jingle: &str) -> Element {
        self.input(&format!(
            "<iq xmlns='jabber:client' type='set' from='{ROOM}/{nick}' to='focus@auth.meet.test/f1' id='{id}'>{jingle}</iq>"
        ));
        let to = format!("{ROOM}/{nick}");
        self.take(&format!("answer {id} to {nick}"), |e| {
            e.attr("id") == Some(id) && e.attr("to") == Some(to.as_str())
        })
    }

    fn accept(&mut self, nick: &str, sid: &str, ssrc: u32) -> Element {
        self.jingle_from(
            nick,
            &format!("acc-{nick}"),
            &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'>\
              <content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{ssrc}'/></description>\
              <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='c-{nick}' pwd='cpw'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>CC:DD</fingerprint></transport></content>\
              <content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{v}'/><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{r}'/><ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='{v}'/><source ssrc='{r}'/></ssrc-group></description></content></jingle>",
                v = ssrc + 1,
                r = ssrc + 2),
        )
    }

    /// Join, discover, allocate, offer, accept: a participant with media.
    fn connect(&mut self, nick: &str, bridge: &str, ssrc: u32, json: bool) -> String {
        self.join(nick, "none");
        self.disco(nick, json);
        self.allocate(bridge, nick);
        let offer = self.take_jingle(nick, "session-initiate");
        let j = offer.get_child("jingle", ns::JINGLE).expect("jingle");
        let sid = j.attr("sid").expect("sid").to_string();
        let x = String::from(&offer);
        assert!(
            x.contains(&format!("uf-{nick}")),
            "the bridge's transport: {x}"
        );
        assert!(x.contains("web-socket"));
        self.answer(&offer, "");
        let r = self.accept(nick, &sid, ssrc);
        assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
        // The bridge learns the participant's transport and sources.
        let upd = self.take_iq_to(bridge, "conference-modify");
        let cm = ConferenceModify::try_from(upd.children().next().expect("p")).expect("c2");
        let ep = &cm.endpoints[0];
        assert_eq!(ep.id, nick);
        assert!(!ep.create);
        assert_eq!(
            ep.transport
                .as_ref()
                .and_then(|t| t.ice.as_ref())
                .and_then(|i| i.ufrag.as_deref()),
            Some(format!("c-{nick}").as_str())
        );
        let s = ep.sources.as_ref().expect("sources");
        assert_eq!(s.media_sources.len(), 2);
        self.answer(
            &upd,
            "<conference-modified xmlns='jitsi:colibri2' meeting-id='meeting-1'/>",
        );
        sid
    }
}

#[test]
fn two_participants_meet_through_the_bridge() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    let sid_a = w.connect("aaaaaaaa", B1, 100, true);
    // The first participant is made owner.
    let grant = w.take_iq_to(ROOM, "query");
    // Affiliations belong to bare JIDs (Prosody refuses a full one).
    let jid = grant
        .children()
        .next()
        .and_then(|q| q.children().next())
        .and_then(|i| i.attr("jid"));
    assert_eq!(jid, Some("aaaaaaaa@meet.test"), "{}", String::from(&grant));
    w.answer(&grant, "");
    let sid_b = w.connect("bbbbbbbb", B1, 200, false);
    assert_ne!(sid_a, sid_b);
    // A hears about B's sources (JSON, A announced json-encoded-sources).
    let add = w.take_jingle("aaaaaaaa", "source-add");
    let x = String::from(&add);
    assert!(
        x.contains("json-message") && x.contains("bbbbbbbb") && x.contains("201"),
        "{x}"
    );
    assert_eq!(
        add.get_child("jingle", ns::JINGLE)
            .and_then(|j| j.attr("sid")),
        Some(sid_a.as_str())
    );
    w.answer(&add, "");
    assert_eq!(w.m.conference_count(), 1);
    assert_eq!(w.m.participant_count(), 2);
    assert_eq!(w.m.conference(ROOM).and_then(|c| c.bridge()), Some(B1));

    // B leaves: its endpoint expires, A gets source-remove.
    w.leave("bbbbbbbb");
    let exp = w.take_iq_to(B1, "conference-modify");
    assert!(String::from(&exp).contains("expire"));
    let rm = w.take_jingle("aaaaaaaa", "source-remove");
    assert!(String::from(&rm).contains("201"));
    // A leaves: the conference is expired on the bridge and the focus leaves.
    w.leave("aaaaaaaa");
    let _ = w.take_iq_to(B1, "conference-modify");
    let exp = w.take_iq_to(B1, "conference-modify");
    let cm = ConferenceModify::try_from(exp.children().next().expect("p")).expect("c2");
    assert!(cm.expire && cm.endpoints.is_empty());
    w.take("focus leaves", |e| {
        e.name() == "presence" && e.attr("type") == Some("unavailable")
    });
    assert_eq!(w.m.conference_count(), 0);
}

#[test]
fn the_second_offer_carries_the_first_participants_sources_in_xml() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    w.connect("aaaaaaaa", B1, 100, true);
    w.join("bbbbbbbb", "none");
    w.disco("bbbbbbbb", false);
    w.allocate(B1, "bbbbbbbb");
    let offer = w.take_jingle("bbbbbbbb", "session-initiate");
    let x = String::from(&offer);
    assert!(x.contains(&format!("owner='{ROOM}/aaaaaaaa'")), "{x}");
    assert!(x.contains("ssrc='101'") && x.contains("semantics='FID'"));
    assert!(
        x.contains("owner='jvb'") && x.contains("1001"),
        "feedback sources: {x}"
    );
}

#[test]
fn moderator_passes_to_the_next_in_join_order() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    w.join("aaaaaaaa", "none");
    let g = w.take_iq_to(ROOM, "query");
    assert!(String::from(&g).contains("aaaaaaaa@meet.test"));
    w.answer(&g, "");
    w.join("bbbbbbbb", "none");
    w.join("cccccccc", "none");
    assert!(
        !w.has(|e| e.attr("to") == Some(ROOM)),
        "an owner exists: no grant"
    );
    w.leave("aaaaaaaa");
    let g = w.take_iq_to(ROOM, "query");
    assert!(
        String::from(&g).contains("bbbbbbbb@meet.test"),
        "{}",
        String::from(&g)
    );
}

#[test]
fn mute_permissions() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    w.join("aaaaaaaa", "none");
    w.join("bbbbbbbb", "none");
    // A is made moderator (presence from the MUC after the grant).
    w.input(&format!("<presence xmlns='jabber:client' from='{ROOM}/aaaaaaaa'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='aaaaaaaa@meet.test/r' affiliation='owner' role='moderator'/></x></presence>"));
    let mute = |target: &str, v: &str| {
        format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/{target}'>{v}</mute>")
    };
    // B (not a moderator) may not mute A.
    let r = w.jingle_from("bbbbbbbb", "m1", &mute("aaaaaaaa", "true"));
    assert!(String::from(&r).contains("not-allowed"));
    // A mutes B: result, and B gets the order from the focus with the actor.
    let r = w.jingle_from("aaaaaaaa", "m2", &mute("bbbbbbbb", "true"));
    assert_eq!(r.attr("type"), Some("result"));
    let order = w.take_iq_to(&format!("{ROOM}/bbbbbbbb"), "mute");
    assert!(String::from(&order).contains(&format!("actor='{ROOM}/aaaaaaaa'")));
    // Nobody unmutes another; one may unmute oneself.
    let r = w.jingle_from("aaaaaaaa", "m3", &mute("bbbbbbbb", "false"));
    assert!(String::from(&r).contains("not-allowed"));
    let r = w.jingle_from("bbbbbbbb", "m4", &mute("bbbbbbbb", "false"));
    assert_eq!(r.attr("type"), Some("result"));
    // Unknown target, garbage.
    let r = w.jingle_from("aaaaaaaa", "m5", &mute("zzzzzzzz", "true"));
    assert!(String::from(&r).contains("item-not-found"));
    let r = w.jingle_from(
        "aaaaaaaa",
        "m6",
        "<mute xmlns='http://jitsi.org/jitmeet/audio' jid='x'>maybe</mute>",
    );
    assert!(String::from(&r).contains("bad-request"));
}

#[test]
fn a_failed_bridge_moves_participants_with_transport_replace() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    let sid = w.connect("aaaaaaaa", B1, 100, true);
    // B1 leaves the brewery.
    w.set_bridges(vec![bridge(B2, 0.5)]);
    let cm = w.allocate(B2, "aaaaaaaa");
    assert!(cm.create, "a new conference on the new bridge");
    let sources = cm.endpoints[0]
        .sources
        .as_ref()
        .expect("the known sources go along");
    assert_eq!(sources.media_sources.len(), 2);
    let replace = w.take_jingle("aaaaaaaa", "transport-replace");
    let j = replace.get_child("jingle", ns::JINGLE).expect("jingle");
    assert_eq!(j.attr("sid"), Some(sid.as_str()), "same session");
    assert!(String::from(&replace).contains("uf-aaaaaaaa"));
    w.answer(&replace, "");
    // transport-accept: the new bridge learns the new transport.
    let r = w.jingle_from("aaaaaaaa", "ta", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='transport-accept' sid='{sid}'><content name='audio'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='new' pwd='p'/></content></jingle>"));
    assert_eq!(r.attr("type"), Some("result"));
    let upd = w.take_iq_to(B2, "conference-modify");
    assert!(String::from(&upd).contains("ufrag='new'"));
    assert_eq!(w.m.conference(ROOM).and_then(|c| c.bridge()), Some(B2));
}

#[test]
fn an_allocation_error_or_silence_fails_the_bridge() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    w.join("aaaaaaaa", "none");
    w.disco("aaaaaaaa", true);
    let req = w.take_iq_to(B1, "conference-modify");
    w.fail(&req, "internal-server-error");
    assert_eq!(w.failed, vec![B1.to_string()]);
    // Retried on the other bridge; that one stays silent.
    let _req = w.take_iq_to(B2, "conference-modify");
    w.tick(16);
    assert_eq!(w.failed, vec![B1.to_string(), B2.to_string()]);
}

#[test]
fn no_bridge_is_announced_and_a_new_bridge_is_used() {
    let mut w = World::new(None);
    w.bridges.clear();
    w.start_room("a@meet.test/r");
    // start_room dropped the presences; the first one said no bridge.
    w.join("aaaaaaaa", "none");
    w.disco("aaaaaaaa", true);
    assert!(!w.has(|e| e.attr("to") == Some(B1)));
    w.set_bridges(vec![bridge(B1, 0.0)]);
    w.allocate(B1, "aaaaaaaa");
    w.take_jingle("aaaaaaaa", "session-initiate");
    let p = w.take("focus presence", |e| e.name() == "presence");
    assert!(!String::from(&p).contains("bridgeNotAvailable"));
}

#[test]
fn hostile_jingle_gets_errors_and_the_conference_goes_on() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    let sid = w.connect("aaaaaaaa", B1, 100, true);
    let cases = [
        (
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept'/>",
            "bad-request",
        ),
        (
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='other'/>",
            "unknown-session",
        ),
        (
            &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'/>")[..],
            "out-of-order",
        ),
        (
            &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='{sid}'/>")[..],
            "feature-not-implemented",
        ),
        (
            &format!(
                "<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{sid}'><content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='100'/></description></content></jingle>"
            )[..],
            "bad-request",
        ),
        (
            &format!(
                "<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{sid}'><content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'><ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='SIM'><source ssrc='777'/></ssrc-group></description></content></jingle>"
            )[..],
            "bad-request",
        ),
        ("<nonsense xmlns='x'/>", "service-unavailable"),
    ];
    for (i, (j, expect)) in cases.iter().enumerate() {
        let r = w.jingle_from("aaaaaaaa", &format!("h{i}"), j);
        let x = String::from(&r);
        assert!(x.contains(expect), "case {i}: {x}");
        assert_eq!(r.attr("type"), Some("error"));
    }
    // Not a participant at all.
    w.input(&format!("<iq xmlns='jabber:client' type='set' from='{ROOM}/zzzzzzzz' id='z'><jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{sid}'/></iq>"));
    let r = w.take("answer z", |e| e.attr("id") == Some("z"));
    assert!(String::from(&r).contains("item-not-found"));
    // Still working: a valid source-add is taken and sent to the bridge.
    let r = w.jingle_from("aaaaaaaa", "ok", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{sid}'><content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='150' name='aaaaaaaa-v1'/></description></content></jingle>"));
    assert_eq!(r.attr("type"), Some("result"));
    let upd = w.take_iq_to(B1, "conference-modify");
    assert!(String::from(&upd).contains("aaaaaaaa-v1"));
}

#[test]
fn session_terminate_with_restart_re_invites() {
    let mut w = World::new(None);
    w.start_room("a@meet.test/r");
    let sid = w.connect("aaaaaaaa", B1, 100, true);
    let bs = {
        // The bridge-session id from the offer is what a client echoes.
        w.join("bbbbbbbb", "none");
        w.disco("bbbbbbbb", true);
        w.allocate(B1, "bbbbbbbb");
        let offer = w.take_jingle("bbbbbbbb", "session-initiate");
        offer
            .get_child("jingle", ns::JINGLE)
            .and_then(|j| j.get_child("bridge-session", ns::FOCUS))
            .and_then(|b| b.attr("id"))
            .expect("bridge-session")
            .to_string()
    };
    let r = w.jingle_from("aaaaaaaa", "t", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='{sid}'><reason><success/></reason><bridge-session xmlns='http://jitsi.org/protocol/focus' id='{bs}' restart='true'/></jingle>"));
    assert_eq!(r.attr("type"), Some("result"));
    let exp = w.take_iq_to(B1, "conference-modify");
    assert!(String::from(&exp).contains("expire"));
    w.allocate(B1, "aaaaaaaa");
    let offer = w.take_jingle("aaaaaaaa", "session-initiate");
    let new_sid = offer
        .get_child("jingle", ns::JINGLE)
        .and_then(|j| j.attr("sid"))
        .expect("sid");
    assert_ne!(new_sid, sid);
}

#[test]
fn secure_domain_rules() {
    let mut w = World::new(Some("XMPP:meet.test"));
    // A guest may not create the room.
    w.request(7, "1234abcd@guest.meet.test/g", None);
    let (t, a) = w.replies.remove(0);
    assert_eq!(t, 7);
    assert!(
        matches!(
            a,
            Answer::Err {
                condition: "not-authorized",
                ..
            }
        ),
        "{a:?}"
    );
    assert_eq!(w.m.conference_count(), 0);
    // An authenticated user creates it (start_room checks ready=true).
    w.start_room("alice@meet.test/x");
    // The guest may now join.
    w.request(8, "1234abcd@guest.meet.test/g", None);
    let (_, a) = w.replies.remove(0);
    let Answer::Ok(Some(c)) = a else {
        panic!("{a:?}")
    };
    let c = ConferenceIq::try_from(&c).expect("conference");
    assert_eq!(c.ready, Some(true));
    assert_eq!(c.property("authentication"), Some("true"));
    // Only the authenticated participant is made owner.
    w.input(&format!("<presence xmlns='jabber:client' from='{ROOM}/gggggggg'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='1234abcd@guest.meet.test/g' affiliation='none' role='participant'/></x></presence>"));
    assert!(!w.has(|e| e.attr("to") == Some(ROOM)));
    w.input(&format!("<presence xmlns='jabber:client' from='{ROOM}/aaaaaaaa'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='alice@meet.test/x' affiliation='none' role='participant'/></x></presence>"));
    let g = w.take_iq_to(ROOM, "query");
    let jid = g
        .children()
        .next()
        .and_then(|q| q.children().next())
        .and_then(|i| i.attr("jid"));
    assert_eq!(jid, Some("alice@meet.test"), "{}", String::from(&g));
}

#[test]
fn bad_rooms_and_a_refused_join() {
    let mut w = World::new(None);
    let bridges = w.bridges.clone();
    for room in ["noroom", "@x", "a@b/c", ""] {
        let mut c = ConferenceIq::new(room);
        c.machine_uid = Some("m".into());
        w.m.on_request(
            Request {
                token: 9,
                from: "u@meet.test/r".into(),
                kind: RequestKind::Conference(c),
            },
            &bridges,
            w.now,
        );
        w.pump();
        let (_, a) = w.replies.remove(0);
        assert!(
            matches!(
                a,
                Answer::Err {
                    condition: "bad-request",
                    ..
                }
            ),
            "{room}: {a:?}"
        );
    }
    w.request(10, "u@meet.test/r", None);
    w.input(&format!("<presence xmlns='jabber:client' type='error' from='{ROOM}/focus'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"));
    let (_, a) = w.replies.remove(0);
    assert!(matches!(a, Answer::Err { .. }), "{a:?}");
    assert_eq!(w.m.conference_count(), 0);
    // A focus that never gets in answers ready=false after a while.
    w.request(11, "u@meet.test/r", None);
    w.tick(11);
    let (_, a) = w.replies.remove(0);
    let Answer::Ok(Some(c)) = a else {
        panic!("{a:?}")
    };
    assert_eq!(c.attr("ready"), Some("false"));
}
