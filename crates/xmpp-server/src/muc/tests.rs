//! MucService driven stanza by stanza; every test asserts the exact
//! stanzas (order, addresses, status codes, items, errors) it produces.

use minidom::Element;

use super::*;
use crate::stanza::NS_STANZAS;
use crate::xml::{NS_CLIENT, parse_document};

const DOMAIN: &str = "conference.meet.test";
const ROOM: &str = "room@conference.meet.test";
const ALICE: &str = "alice@meet.test/a1";
const BOB: &str = "bob@meet.test/b1";
const CAROL: &str = "carol@meet.test/c1";
const EVE: &str = "eve@meet.test/e1";
const FOCUS: &str = "focus@auth.meet.test/f1";

fn cfg() -> MucConfig {
    MucConfig {
        domain: DOMAIN.into(),
        admins: vec!["focus@auth.meet.test".into()],
        room_locking: false,
        default_public_jids: true,
        restrict_room_creation: false,
        meeting_id: true,
        mapper_base: Some("meet.test".into()),
    }
}

fn xml(s: &str) -> Element {
    parse_document(s.as_bytes(), 1 << 20).expect("test stanza parses")
}

fn oj(nick: &str) -> String {
    format!("{ROOM}/{nick}")
}

#[derive(Debug, Default)]
struct Out {
    s: Vec<Element>,
    e: Vec<RoomEvent>,
}

impl Out {
    /// "kind type from -> to" of each stanza, for order assertions.
    fn brief(&self) -> Vec<String> {
        self.s.iter().map(brief).collect()
    }
    fn only(&self) -> &Element {
        assert_eq!(
            self.s.len(),
            1,
            "expected one stanza, got {:#?}",
            self.brief()
        );
        &self.s[0]
    }
    fn to(&self, real: &str) -> Vec<&Element> {
        self.s
            .iter()
            .filter(|s| s.attr("to") == Some(real))
            .collect()
    }
}

fn brief(e: &Element) -> String {
    format!(
        "{} {} {} -> {}",
        e.name(),
        e.attr("type").unwrap_or("-"),
        e.attr("from").unwrap_or("?"),
        e.attr("to").unwrap_or("?")
    )
}

struct T {
    muc: MucService,
    now: u64,
    /// Milliseconds that pass per stanza.
    step: u64,
}

impl T {
    fn new() -> Self {
        Self::with(cfg())
    }
    fn with(cfg: MucConfig) -> Self {
        Self {
            muc: MucService::new(cfg),
            now: 1_700_000_000_000,
            step: 1000,
        }
    }
    fn send(&mut self, s: &str) -> Out {
        self.send_el(xml(s))
    }
    fn send_el(&mut self, e: Element) -> Out {
        let mut out = Out::default();
        self.now += self.step;
        self.muc.handle(e, self.now, &mut out.s, &mut out.e);
        out
    }
    fn join_x(&mut self, from: &str, to: &str, inner: &str) -> Out {
        self.send(&format!(
            "<presence xmlns='jabber:client' from='{from}' to='{to}'><x xmlns='http://jabber.org/protocol/muc'>{inner}</x></presence>"
        ))
    }
    fn join(&mut self, from: &str, to: &str) -> Out {
        self.join_x(from, to, "")
    }
    fn leave(&mut self, from: &str, to: &str) -> Out {
        self.send(&format!(
            "<presence xmlns='jabber:client' type='unavailable' from='{from}' to='{to}'/>"
        ))
    }
    fn iq(&mut self, from: &str, to: &str, typ: &str, id: &str, payload: &str) -> Out {
        self.send(&format!(
            "<iq xmlns='jabber:client' type='{typ}' id='{id}' from='{from}' to='{to}'>{payload}</iq>"
        ))
    }
    fn admin(&mut self, from: &str, items: &str) -> Out {
        self.iq(
            from,
            ROOM,
            "set",
            "adm",
            &format!("<query xmlns='http://jabber.org/protocol/muc#admin'>{items}</query>"),
        )
    }
    fn submit(&mut self, from: &str, room: &str, fields: &[(&str, &str)]) -> Out {
        let mut f = String::from(
            "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>",
        );
        for (var, value) in fields {
            f.push_str(&format!(
                "<field var='{var}'><value>{value}</value></field>"
            ));
        }
        self.iq(
            from,
            room,
            "set",
            "cfg",
            &format!("<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>{f}</x></query>"),
        )
    }
    /// alice creates ROOM, bob joins.
    fn two() -> Self {
        let mut t = Self::new();
        t.join(ALICE, &oj("alice"));
        t.join(BOB, &oj("bob"));
        t
    }
}

fn muc_x(e: &Element) -> &Element {
    e.get_child("x", NS_MUC_USER)
        .unwrap_or_else(|| panic!("no muc#user x in {}", String::from(e)))
}

fn item(e: &Element) -> &Element {
    muc_x(e)
        .get_child("item", NS_MUC_USER)
        .unwrap_or_else(|| panic!("no item in {}", String::from(e)))
}

fn codes(e: &Element) -> Vec<u16> {
    let mut c: Vec<u16> = e
        .get_child("x", NS_MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", NS_MUC_USER))
                .filter_map(|c| c.attr("code").and_then(|v| v.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    c.sort_unstable();
    c
}

fn aff_role(e: &Element) -> (String, String) {
    let i = item(e);
    (
        i.attr("affiliation").unwrap_or("?").to_string(),
        i.attr("role").unwrap_or("?").to_string(),
    )
}

/// (error type, condition) of an error stanza.
fn error_of(e: &Element) -> (String, String) {
    assert_eq!(
        e.attr("type"),
        Some("error"),
        "not an error: {}",
        String::from(e)
    );
    let err = e.get_child("error", NS_CLIENT).expect("error child");
    let cond = err
        .children()
        .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
        .map(|c| c.name().to_string())
        .unwrap_or_default();
    (err.attr("type").unwrap_or_default().to_string(), cond)
}

fn assert_error(out: &Out, etype: &str, cond: &str) {
    let (t, c) = error_of(out.only());
    assert_eq!(
        (t.as_str(), c.as_str()),
        (etype, cond),
        "{}",
        String::from(out.only())
    );
}

fn form_value(container: &Element, var: &str) -> Option<String> {
    container
        .children()
        .filter(|x| x.is("x", NS_DATA))
        .flat_map(|x| x.children())
        .find(|f| f.attr("var") == Some(var))
        .map(|f| {
            f.children()
                .find(|v| v.name() == "value")
                .map(|v| v.text())
                .unwrap_or_default()
        })
}

fn features(info: &Element) -> Vec<String> {
    let q = info.get_child("query", NS_DISCO_INFO).expect("disco query");
    q.children()
        .filter(|c| c.is("feature", NS_DISCO_INFO))
        .filter_map(|c| c.attr("var").map(str::to_string))
        .collect()
}

fn disco_info(t: &mut T, from: &str, to: &str) -> Out {
    t.iq(
        from,
        to,
        "get",
        "di",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    )
}

// ---------------------------------------------------------------- 1. creation

#[test]
fn first_join_creates_an_unlocked_room_owned_by_its_creator() {
    let mut t = T::new();
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' id='j1' from='{ALICE}' to='{}'><x xmlns='http://jabber.org/protocol/muc'/><nick xmlns='http://jabber.org/protocol/nick'>Alice</nick></presence>",
        oj("alice")
    ));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence - {ROOM}/alice -> {ALICE}"),
            format!("message groupchat {ROOM} -> {ALICE}"),
        ]
    );
    let p = &out.s[0];
    assert_eq!(codes(p), vec![100, 110, 201]);
    assert_eq!(aff_role(p), ("owner".into(), "moderator".into()));
    assert_eq!(item(p).attr("jid"), Some(ALICE));
    assert_eq!(
        p.attr("id"),
        Some("j1"),
        "the self-presence reflects the join's id"
    );
    assert!(p.has_child("nick", NS_NICK));
    assert!(
        !p.has_child("x", NS_MUC),
        "the join <x> (password) is never relayed"
    );
    // An empty subject follows the presences.
    assert_eq!(
        out.s[1].get_child("subject", NS_CLIENT).map(|s| s.text()),
        Some(String::new())
    );
    assert_eq!(
        out.e,
        vec![RoomEvent::Joined {
            room: ROOM.into(),
            nick: "alice".into(),
            real_jid: ALICE.into(),
            occupants: 1,
            is_admin: false,
        }]
    );
    assert_eq!((t.muc.room_count(), t.muc.occupant_count()), (1, 1));
}

#[test]
fn join_order_existing_occupants_then_broadcast_then_self_then_subject() {
    let mut t = T::new();
    t.join(ALICE, &oj("alice"));
    t.join(BOB, &oj("bob"));
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' from='{CAROL}' to='{}'><x xmlns='http://jabber.org/protocol/muc'/><stats-id>Carol-1</stats-id><audiomuted>false</audiomuted></presence>",
        oj("carol")
    ));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence - {ROOM}/alice -> {CAROL}"),
            format!("presence - {ROOM}/bob -> {CAROL}"),
            format!("presence - {ROOM}/carol -> {ALICE}"),
            format!("presence - {ROOM}/carol -> {BOB}"),
            format!("presence - {ROOM}/carol -> {CAROL}"),
            format!("message groupchat {ROOM} -> {CAROL}"),
        ]
    );
    assert_eq!(item(&out.s[0]).attr("jid"), Some(ALICE));
    assert_eq!(aff_role(&out.s[0]), ("owner".into(), "moderator".into()));
    assert_eq!(item(&out.s[1]).attr("jid"), Some(BOB));
    assert_eq!(aff_role(&out.s[1]), ("none".into(), "participant".into()));
    for p in &out.s[0..2] {
        assert_eq!(codes(p), Vec::<u16>::new(), "no codes about others");
    }
    // Others see carol's extensions untouched, with her real JID.
    for p in &out.s[2..4] {
        assert_eq!(item(p).attr("jid"), Some(CAROL));
        assert_eq!(
            p.get_child("stats-id", NS_CLIENT)
                .map(|e| e.text())
                .as_deref(),
            Some("Carol-1")
        );
        assert!(p.has_child("audiomuted", NS_CLIENT));
        assert_eq!(codes(p), Vec::<u16>::new());
    }
    assert_eq!(
        codes(&out.s[4]),
        vec![100, 110],
        "no 201 when the room exists"
    );
    assert_eq!(out.e.len(), 1);
    assert!(matches!(&out.e[0], RoomEvent::Joined { occupants: 3, .. }));
}

#[test]
fn join_without_muc_x_is_accepted() {
    let mut t = T::new();
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' from='{ALICE}' to='{}'/>",
        oj("alice")
    ));
    assert_eq!(codes(&out.s[0]), vec![100, 110, 201]);
    assert_eq!(t.muc.occupant_count(), 1);
}

#[test]
fn locked_room_refuses_others_until_the_owner_configures_it() {
    let mut t = T::with(MucConfig {
        room_locking: true,
        ..cfg()
    });
    let out = t.join(ALICE, &oj("alice"));
    assert_eq!(codes(&out.s[0]), vec![100, 110, 201]);
    let out = t.join(BOB, &oj("bob"));
    assert_error(&out, "cancel", "item-not-found");
    assert_eq!(out.s[0].attr("from"), Some(oj("bob").as_str()));
    assert_eq!(out.s[0].attr("to"), Some(BOB));
    assert_error(&disco_info(&mut t, BOB, ROOM), "cancel", "item-not-found");
    // The owner may look at it while locked.
    assert_eq!(
        disco_info(&mut t, ALICE, ROOM).only().attr("type"),
        Some("result")
    );
    // Cancel leaves it locked (Prosody).
    let out = t.iq(
        ALICE,
        ROOM,
        "set",
        "c",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query>",
    );
    assert_eq!(out.only().attr("type"), Some("result"));
    assert_error(&t.join(BOB, &oj("bob")), "cancel", "item-not-found");
    // Instant room: accept the defaults. Nothing changed, so no 104.
    let out = t.iq(
        ALICE,
        ROOM,
        "set",
        "inst",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>",
    );
    assert_eq!(out.brief(), vec![format!("iq result {ROOM} -> {ALICE}")]);
    let out = t.join(BOB, &oj("bob"));
    assert_eq!(codes(out.to(BOB)[1]), vec![100, 110]);
}

#[test]
fn restricted_creation_is_for_admins_only() {
    let mut t = T::with(MucConfig {
        restrict_room_creation: true,
        ..cfg()
    });
    let out = t.join(BOB, "jvbbrewery@conference.meet.test/bob");
    assert_error(&out, "cancel", "not-allowed");
    assert_eq!(t.muc.room_count(), 0);
    assert!(out.e.is_empty());
    let out = t.join(FOCUS, "jvbbrewery@conference.meet.test/focus");
    assert_eq!(codes(&out.s[0]), vec![100, 110, 201]);
    assert!(matches!(
        &out.e[0],
        RoomEvent::Joined { is_admin: true, .. }
    ));
    // Joining an existing room is not creating one.
    let out = t.join(BOB, "jvbbrewery@conference.meet.test/jvb-1");
    assert_eq!(out.s.len(), 4);
}

// ------------------------------------------------------- 2. presence semantics

#[test]
fn presence_update_is_broadcast_with_extensions_untouched() {
    let mut t = T::two();
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' from='{BOB}' to='{}'><x xmlns='http://jabber.org/protocol/muc#user'><item role='moderator'/></x><audiomuted>true</audiomuted><videomuted>false</videomuted><jitsi_participant_region>eu</jitsi_participant_region><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/><nick xmlns='http://jabber.org/protocol/nick'>Bob</nick></presence>",
        oj("bob")
    ));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence - {ROOM}/bob -> {ALICE}"),
            format!("presence - {ROOM}/bob -> {BOB}"),
        ]
    );
    for p in &out.s {
        let names: Vec<&str> = p.children().map(|c| c.name()).collect();
        assert_eq!(
            names,
            vec![
                "audiomuted",
                "videomuted",
                "jitsi_participant_region",
                "c",
                "nick",
                "x"
            ],
            "client's muc#user x dropped, ours last"
        );
        assert_eq!(
            aff_role(p),
            ("none".into(), "participant".into()),
            "a client cannot set its own role"
        );
    }
    assert_eq!(codes(&out.s[0]), Vec::<u16>::new());
    assert_eq!(codes(&out.s[1]), vec![110]);
    assert!(out.e.is_empty());
    assert_eq!(
        t.muc
            .occupant_by_real_jid(ROOM, BOB)
            .and_then(|o| o.display_name),
        Some("Bob".into())
    );
}

#[test]
fn rejoin_with_muc_x_resends_the_room_state() {
    let mut t = T::two();
    let out = t.join(BOB, &oj("bob"));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence - {ROOM}/alice -> {BOB}"),
            format!("presence - {ROOM}/bob -> {ALICE}"),
            format!("presence - {ROOM}/bob -> {BOB}"),
            format!("message groupchat {ROOM} -> {BOB}"),
        ]
    );
    assert_eq!(codes(&out.s[2]), vec![100, 110]);
    assert!(out.e.is_empty(), "not a new occupant");
    assert_eq!(t.muc.occupant_count(), 2);
}

#[test]
fn leaving_sends_unavailable_to_all_and_the_last_one_destroys_the_room() {
    let mut t = T::two();
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' type='unavailable' from='{BOB}' to='{}'><status>bye</status></presence>",
        oj("bob")
    ));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence unavailable {ROOM}/bob -> {ALICE}"),
            format!("presence unavailable {ROOM}/bob -> {BOB}"),
        ]
    );
    assert_eq!(codes(&out.s[0]), Vec::<u16>::new());
    assert_eq!(codes(&out.s[1]), vec![110]);
    assert_eq!(aff_role(&out.s[0]), ("none".into(), "none".into()));
    assert_eq!(
        out.s[0]
            .get_child("status", NS_CLIENT)
            .map(|s| s.text())
            .as_deref(),
        Some("bye")
    );
    assert_eq!(
        out.e,
        vec![RoomEvent::Left {
            room: ROOM.into(),
            nick: "bob".into(),
            real_jid: BOB.into(),
            display_name: None,
        }]
    );
    // A stray unavailable from a non-occupant does nothing.
    assert!(t.leave(BOB, &oj("bob")).s.is_empty());
    let out = t.leave(ALICE, &oj("alice"));
    assert_eq!(
        out.brief(),
        vec![format!("presence unavailable {ROOM}/alice -> {ALICE}")]
    );
    assert_eq!(out.e.len(), 2);
    assert_eq!(out.e[1], RoomEvent::Destroyed { room: ROOM.into() });
    assert_eq!((t.muc.room_count(), t.muc.occupant_count()), (0, 0));
    assert_error(&disco_info(&mut t, ALICE, ROOM), "cancel", "item-not-found");
}

#[test]
fn left_event_carries_the_display_name() {
    let mut t = T::new();
    t.join_x(ALICE, &oj("alice"), "");
    t.send(&format!(
        "<presence xmlns='jabber:client' from='{ALICE}' to='{}'><nick xmlns='http://jabber.org/protocol/nick'>Alice A.</nick></presence>",
        oj("alice")
    ));
    let out = t.leave(ALICE, &oj("alice"));
    assert!(matches!(&out.e[0], RoomEvent::Left { display_name: Some(d), .. } if d == "Alice A."));
}

#[test]
fn nick_conflicts_are_refused() {
    let mut t = T::two();
    // Somebody else.
    assert_error(&t.join(CAROL, &oj("alice")), "cancel", "conflict");
    // The same account from another resource.
    assert_error(
        &t.join("alice@meet.test/other", &oj("alice")),
        "cancel",
        "conflict",
    );
    // Changing into a taken nick.
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' from='{BOB}' to='{}'/>",
        oj("alice")
    ));
    assert_error(&out, "cancel", "conflict");
    assert_eq!(t.muc.occupant_count(), 2);
    // The same account with another nick is a separate occupant.
    let out = t.join("alice@meet.test/other", &oj("alice2"));
    assert_eq!(out.e.len(), 1);
}

#[test]
fn nick_change_is_303_then_the_new_nick() {
    let mut t = T::two();
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' from='{BOB}' to='{}'><nick xmlns='http://jabber.org/protocol/nick'>Rob</nick></presence>",
        oj("robert")
    ));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence unavailable {ROOM}/bob -> {ALICE}"),
            format!("presence unavailable {ROOM}/bob -> {BOB}"),
            format!("presence - {ROOM}/robert -> {ALICE}"),
            format!("presence - {ROOM}/robert -> {BOB}"),
        ]
    );
    assert_eq!(codes(&out.s[0]), vec![303]);
    assert_eq!(codes(&out.s[1]), vec![110, 303]);
    assert_eq!(item(&out.s[0]).attr("nick"), Some("robert"));
    assert_eq!(codes(&out.s[3]), vec![110]);
    assert!(out.s[2].has_child("nick", NS_NICK));
    assert!(out.e.is_empty());
    let occ: Vec<String> = t.muc.occupants(ROOM).into_iter().map(|o| o.nick).collect();
    assert_eq!(occ, vec!["alice", "robert"]);
}

#[test]
fn error_presence_from_an_occupant_removes_it() {
    let mut t = T::two();
    let out = t.send(&format!(
        "<presence xmlns='jabber:client' type='error' from='{BOB}' to='{}'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
        oj("bob")
    ));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence unavailable {ROOM}/bob -> {ALICE}"),
            format!("presence unavailable {ROOM}/bob -> {BOB}"),
        ]
    );
    assert_eq!(codes(&out.s[0]), vec![333]);
    assert_eq!(out.e.len(), 1);
    assert_eq!(t.muc.occupant_count(), 1);
}

#[test]
fn message_errors_that_mean_gone_remove_the_occupant() {
    let mut t = T::two();
    // A harmless error condition does not.
    let out = t.send(&format!(
        "<message xmlns='jabber:client' type='error' from='{BOB}' to='{ROOM}'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    ));
    assert!(out.s.is_empty());
    let out = t.send(&format!(
        "<message xmlns='jabber:client' type='error' from='{BOB}' to='{ROOM}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    ));
    assert_eq!(codes(&out.s[0]), vec![333]);
    assert_eq!(t.muc.occupant_count(), 1);
}

#[test]
fn hostile_nicks_are_jid_malformed() {
    let mut t = T::two();
    let long = "n".repeat(1024);
    for to in [
        format!("{ROOM}/"),
        format!("{ROOM}/{long}"),
        format!("{ROOM}/a\u{7f}b"),
        format!("{ROOM}/a\u{85}b"),
        format!("{ROOM}/\u{e000}"),
        ROOM.to_string(),
    ] {
        let out = t.join(CAROL, &to);
        assert_error(&out, "modify", "jid-malformed");
        assert!(out.e.is_empty());
    }
    // A nick of exactly 1023 bytes is fine.
    let ok = "n".repeat(1023);
    assert_eq!(t.join(CAROL, &format!("{ROOM}/{ok}")).e.len(), 1);
    assert_eq!(t.muc.occupant_count(), 3);
}

#[test]
fn max_occupants_gives_service_unavailable() {
    let mut t = T::two();
    let out = t.submit(ALICE, ROOM, &[("muc#roomconfig_maxusers", "2")]);
    assert_eq!(out.s.last().and_then(|s| s.attr("type")), Some("result"));
    assert_error(
        &t.join(CAROL, &oj("carol")),
        "cancel",
        "service-unavailable",
    );
    // Admins and owners still get in.
    assert_eq!(t.join(FOCUS, &oj("focus")).e.len(), 1);
}

// ------------------------------------------------------------------ 3. whois

#[test]
fn semi_anonymous_rooms_show_real_jids_to_moderators_only() {
    let mut t = T::with(MucConfig {
        default_public_jids: false,
        ..cfg()
    });
    let out = t.join(ALICE, &oj("alice"));
    assert_eq!(
        codes(&out.s[0]),
        vec![110, 201],
        "no 100 in a semi-anonymous room"
    );
    assert_eq!(
        item(&out.s[0]).attr("jid"),
        Some(ALICE),
        "self sees its own JID"
    );
    let out = t.join(BOB, &oj("bob"));
    // bob (participant) does not see alice's JID; alice (moderator) sees bob's.
    assert_eq!(out.s[0].attr("to"), Some(BOB));
    assert_eq!(item(&out.s[0]).attr("jid"), None);
    assert_eq!(out.s[1].attr("to"), Some(ALICE));
    assert_eq!(item(&out.s[1]).attr("jid"), Some(BOB));
    assert_eq!(item(&out.s[2]).attr("jid"), Some(BOB));
    assert_eq!(codes(&out.s[2]), vec![110]);
    let info = disco_info(&mut t, BOB, ROOM);
    assert!(features(info.only()).contains(&"muc_semianonymous".to_string()));

    // The focus makes it non-anonymous: 104 + 172, and everyone is
    // re-announced with real JIDs.
    let out = t.submit(ALICE, ROOM, &[("muc#roomconfig_whois", "anyone")]);
    assert_eq!(
        out.brief(),
        vec![
            format!("message groupchat {ROOM} -> {ALICE}"),
            format!("message groupchat {ROOM} -> {BOB}"),
            format!("presence - {ROOM}/alice -> {BOB}"),
            format!("presence - {ROOM}/bob -> {ALICE}"),
            format!("iq result {ROOM} -> {ALICE}"),
        ]
    );
    assert_eq!(codes(&out.s[0]), vec![104, 172]);
    assert_eq!(item(&out.s[2]).attr("jid"), Some(ALICE));
}

// ------------------------------------------------------ 4. roles/affiliations

#[test]
fn service_admins_are_owners_of_every_room() {
    let mut t = T::two();
    let out = t.join(FOCUS, &oj("focus"));
    let own = out.to(FOCUS);
    let me = own.iter().find(|p| codes(p).contains(&110)).expect("self");
    assert_eq!(aff_role(me), ("owner".into(), "moderator".into()));
    assert!(matches!(
        &out.e[0],
        RoomEvent::Joined {
            is_admin: true,
            occupants: 3,
            ..
        }
    ));
    let info = t.muc.occupant_by_real_jid(ROOM, FOCUS).expect("focus");
    assert_eq!(
        (info.role, info.affiliation),
        (Role::Moderator, Affiliation::Owner)
    );
    // Nobody may kick or demote it, not even an owner.
    assert_error(
        &t.admin(ALICE, "<item nick='focus' role='none'/>"),
        "cancel",
        "not-allowed",
    );
    assert_error(
        &t.admin(ALICE, "<item nick='focus' role='participant'/>"),
        "cancel",
        "not-allowed",
    );
    assert_error(
        &t.admin(
            ALICE,
            "<item jid='focus@auth.meet.test' affiliation='outcast'/>",
        ),
        "cancel",
        "not-allowed",
    );
}

#[test]
fn grant_and_revoke_moderator_broadcast_the_new_role() {
    let mut t = T::two();
    t.join(FOCUS, &oj("focus"));
    let out = t.admin(FOCUS, "<item nick='bob' role='moderator'/>");
    assert_eq!(
        out.brief(),
        vec![
            format!("presence - {ROOM}/bob -> {ALICE}"),
            format!("presence - {ROOM}/bob -> {FOCUS}"),
            format!("presence - {ROOM}/bob -> {BOB}"),
            format!("iq result {ROOM} -> {FOCUS}"),
        ]
    );
    assert_eq!(aff_role(&out.s[0]), ("none".into(), "moderator".into()));
    assert_eq!(codes(&out.s[2]), vec![110]);
    let out = t.admin(FOCUS, "<item nick='bob' role='participant'/>");
    assert_eq!(aff_role(&out.s[0]), ("none".into(), "participant".into()));
    // Setting the current role again changes nothing but succeeds.
    let out = t.admin(FOCUS, "<item nick='bob' role='participant'/>");
    assert_eq!(out.brief(), vec![format!("iq result {ROOM} -> {FOCUS}")]);
}

#[test]
fn kick_sends_307_with_actor_and_reason() {
    let mut t = T::two();
    t.join(CAROL, &oj("carol"));
    let out = t.admin(
        ALICE,
        "<item nick='bob' role='none'><reason>be nice</reason></item>",
    );
    assert_eq!(
        out.brief(),
        vec![
            format!("presence unavailable {ROOM}/bob -> {ALICE}"),
            format!("presence unavailable {ROOM}/bob -> {CAROL}"),
            format!("presence unavailable {ROOM}/bob -> {BOB}"),
            format!("iq result {ROOM} -> {ALICE}"),
        ]
    );
    assert_eq!(codes(&out.s[0]), vec![307]);
    assert_eq!(codes(&out.s[2]), vec![110, 307]);
    let it = item(&out.s[2]);
    assert_eq!(it.attr("role"), Some("none"));
    assert_eq!(
        it.get_child("actor", NS_MUC_USER)
            .and_then(|a| a.attr("nick")),
        Some("alice")
    );
    assert_eq!(
        it.get_child("reason", NS_MUC_USER)
            .map(|r| r.text())
            .as_deref(),
        Some("be nice")
    );
    assert_eq!(
        out.e,
        vec![RoomEvent::Left {
            room: ROOM.into(),
            nick: "bob".into(),
            real_jid: BOB.into(),
            display_name: None,
        }]
    );
    // A kicked user may come back.
    assert_eq!(t.join(BOB, &oj("bob")).e.len(), 1);
}

#[test]
fn ban_sends_301_and_keeps_the_outcast_out() {
    let mut t = T::two();
    let out = t.admin(
        ALICE,
        "<item jid='bob@meet.test' affiliation='outcast'><reason>spam</reason></item>",
    );
    assert_eq!(
        out.brief(),
        vec![
            format!("presence unavailable {ROOM}/bob -> {ALICE}"),
            format!("presence unavailable {ROOM}/bob -> {BOB}"),
            format!("iq result {ROOM} -> {ALICE}"),
        ]
    );
    assert_eq!(codes(&out.s[1]), vec![110, 301]);
    assert_eq!(aff_role(&out.s[1]), ("outcast".into(), "none".into()));
    assert_error(&t.join(BOB, &oj("bob")), "auth", "forbidden");
    assert_error(
        &t.join("bob@meet.test/other", &oj("bobby")),
        "auth",
        "forbidden",
    );
    let out = t.iq(
        ALICE,
        ROOM,
        "get",
        "l",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query>",
    );
    let q = out.only().get_child("query", NS_MUC_ADMIN).expect("list");
    let items: Vec<(Option<&str>, Option<&str>)> = q
        .children()
        .map(|i| (i.attr("jid"), i.attr("affiliation")))
        .collect();
    assert_eq!(items, vec![(Some("bob@meet.test"), Some("outcast"))]);
    // Lifting the ban lets bob in again.
    t.admin(ALICE, "<item jid='bob@meet.test' affiliation='none'/>");
    assert_eq!(t.join(BOB, &oj("bob")).e.len(), 1);
}

#[test]
fn granting_owner_by_nick_or_full_jid_updates_the_presence() {
    let mut t = T::two();
    t.join(CAROL, &oj("carol"));
    // LJM's form: by nick.
    let out = t.admin(
        ALICE,
        "<item affiliation='owner' nick='bob'><reason>r</reason></item>",
    );
    assert_eq!(
        out.brief(),
        vec![
            format!("presence - {ROOM}/bob -> {ALICE}"),
            format!("presence - {ROOM}/bob -> {CAROL}"),
            format!("presence - {ROOM}/bob -> {BOB}"),
            format!("iq result {ROOM} -> {ALICE}"),
        ]
    );
    assert_eq!(aff_role(&out.s[0]), ("owner".into(), "moderator".into()));
    assert_eq!(codes(&out.s[2]), vec![110]);
    // Jicofo's form: by full JID (its bare JID is what gets the affiliation).
    t.join(FOCUS, &oj("focus"));
    let out = t.admin(FOCUS, &format!("<item affiliation='owner' jid='{CAROL}'/>"));
    assert_eq!(aff_role(&out.s[0]), ("owner".into(), "moderator".into()));
    let info = t.muc.occupant_by_real_jid(ROOM, CAROL).expect("carol");
    assert_eq!(info.affiliation, Affiliation::Owner);
    // Owner → member drops the moderator role.
    let out = t.admin(FOCUS, "<item affiliation='member' nick='carol'/>");
    assert_eq!(aff_role(&out.s[0]), ("member".into(), "participant".into()));
    // Affiliations for people not in the room are just stored.
    let out = t.admin(ALICE, "<item affiliation='member' jid='dave@meet.test'/>");
    assert_eq!(out.brief(), vec![format!("iq result {ROOM} -> {ALICE}")]);
}

#[test]
fn permission_checks_on_roles_and_affiliations() {
    let mut t = T::two();
    t.join(CAROL, &oj("carol"));
    // A participant can neither kick nor change affiliations.
    assert_error(
        &t.admin(BOB, "<item nick='carol' role='none'/>"),
        "cancel",
        "not-allowed",
    );
    assert_error(
        &t.admin(BOB, "<item nick='alice' role='none'/>"),
        "cancel",
        "not-allowed",
    );
    assert_error(
        &t.admin(BOB, "<item jid='carol@meet.test' affiliation='member'/>"),
        "cancel",
        "not-allowed",
    );
    // A stranger: roles need an occupant; affiliations need a rank.
    assert_error(
        &t.admin(EVE, "<item nick='bob' role='none'/>"),
        "cancel",
        "not-acceptable",
    );
    assert_error(
        &t.admin(EVE, "<item jid='bob@meet.test' affiliation='outcast'/>"),
        "auth",
        "forbidden",
    );
    // Unknown nick.
    assert_error(
        &t.admin(ALICE, "<item nick='nobody' role='none'/>"),
        "cancel",
        "item-not-found",
    );
    assert_error(
        &t.admin(ALICE, "<item nick='nobody' affiliation='member'/>"),
        "cancel",
        "item-not-found",
    );
    // An admin may not touch owners or make owners/admins.
    t.admin(ALICE, "<item jid='bob@meet.test' affiliation='admin'/>");
    assert_error(
        &t.admin(BOB, "<item nick='alice' role='none'/>"),
        "cancel",
        "not-allowed",
    );
    assert_error(
        &t.admin(BOB, "<item jid='alice@meet.test' affiliation='member'/>"),
        "cancel",
        "not-allowed",
    );
    assert_error(
        &t.admin(BOB, "<item jid='carol@meet.test' affiliation='owner'/>"),
        "cancel",
        "not-allowed",
    );
    assert_error(
        &t.admin(BOB, "<item jid='carol@meet.test' affiliation='admin'/>"),
        "cancel",
        "not-allowed",
    );
    // ... nor demote an owner's role, but may manage members and bans.
    assert_error(
        &t.admin(BOB, "<item nick='alice' role='participant'/>"),
        "cancel",
        "not-allowed",
    );
    let out = t.admin(BOB, "<item jid='carol@meet.test' affiliation='member'/>");
    assert_eq!(out.s.last().and_then(|s| s.attr("type")), Some("result"));
    // A moderator by role only (affiliation none) may kick a participant but
    // not grant moderator.
    t.admin(ALICE, "<item jid='bob@meet.test' affiliation='none'/>");
    t.admin(ALICE, "<item nick='bob' role='moderator'/>");
    t.join("dave@meet.test/d", &oj("dave"));
    assert_error(
        &t.admin(BOB, "<item nick='dave' role='moderator'/>"),
        "cancel",
        "not-allowed",
    );
    // ... nor kick a member (higher affiliation).
    assert_error(
        &t.admin(BOB, "<item nick='carol' role='none'/>"),
        "cancel",
        "not-allowed",
    );
    let out = t.admin(BOB, "<item nick='dave' role='none'/>");
    assert_eq!(codes(&out.s[0]), vec![307]);
    // The last owner cannot step down; with another owner it can.
    assert_error(
        &t.admin(ALICE, "<item jid='alice@meet.test' affiliation='member'/>"),
        "cancel",
        "conflict",
    );
    t.admin(ALICE, "<item jid='carol@meet.test' affiliation='owner'/>");
    let out = t.admin(ALICE, "<item jid='alice@meet.test' affiliation='member'/>");
    assert_eq!(out.s.last().and_then(|s| s.attr("type")), Some("result"));
    // Owners may kick owners (Jitsi's moderators are all owners).
    let out = t.admin(CAROL, "<item nick='alice' role='none'/>");
    assert!(out.s.is_empty() || out.s.last().and_then(|s| s.attr("type")) == Some("result"));
    assert_eq!(t.muc.occupant_count(), 2);
}

#[test]
fn malformed_admin_requests_are_bad_requests_and_change_nothing() {
    let mut t = T::two();
    for items in [
        "",
        "<item/>",
        "<item nick='bob'/>",
        "<item nick='bob' role='king'/>",
        "<item role='none'/>",
        "<item nick='bob' role='none' affiliation='member'/>",
        "<item affiliation='member'/>",
        "<item jid='bob@meet.test' affiliation='emperor'/>",
        // All-or-nothing: a bad second item cancels the first.
        "<item nick='bob' role='none'/><item nick='bob' role='king'/>",
    ] {
        let out = t.admin(ALICE, items);
        assert_error(&out, "modify", "bad-request");
    }
    assert_error(
        &t.admin(ALICE, "<item jid='a@@b' affiliation='member'/>"),
        "modify",
        "jid-malformed",
    );
    let many = "<item nick='bob' role='participant'/>".repeat(300);
    assert_error(&t.admin(ALICE, &many), "modify", "bad-request");
    // Lists: exactly one item with a listable value.
    for q in [
        "<query xmlns='http://jabber.org/protocol/muc#admin'/>",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='none'/></query>",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item role='none'/></query>",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/><item affiliation='owner'/></query>",
    ] {
        assert_error(&t.iq(ALICE, ROOM, "get", "q", q), "modify", "bad-request");
    }
    assert_eq!(t.muc.occupant_count(), 2);
    assert_eq!(
        t.muc.occupant_by_real_jid(ROOM, BOB).map(|o| o.role),
        Some(Role::Participant)
    );
}

#[test]
fn affiliation_and_role_lists() {
    let mut t = T::two();
    t.admin(ALICE, "<item jid='zed@meet.test' affiliation='member'/><item jid='bob@meet.test' affiliation='member'/>");
    let out = t.iq(
        ALICE,
        ROOM,
        "get",
        "m",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>",
    );
    let q = out.only().get_child("query", NS_MUC_ADMIN).expect("list");
    let jids: Vec<&str> = q.children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(jids, vec!["bob@meet.test", "zed@meet.test"]);
    let out = t.iq(
        ALICE,
        ROOM,
        "get",
        "o",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner'/></query>",
    );
    let q = out.only().get_child("query", NS_MUC_ADMIN).expect("list");
    assert_eq!(
        q.children()
            .filter_map(|i| i.attr("jid"))
            .collect::<Vec<_>>(),
        vec!["alice@meet.test"]
    );
    let out = t.iq(
        ALICE,
        ROOM,
        "get",
        "r",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item role='moderator'/></query>",
    );
    let q = out.only().get_child("query", NS_MUC_ADMIN).expect("list");
    let nicks: Vec<&str> = q.children().filter_map(|i| i.attr("nick")).collect();
    assert_eq!(nicks, vec!["alice"]);
    // Participants may not read them.
    let out = t.iq(
        BOB,
        ROOM,
        "get",
        "m",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query>",
    );
    assert_error(&out, "auth", "forbidden");
    let out = t.iq(
        BOB,
        ROOM,
        "get",
        "r",
        "<query xmlns='http://jabber.org/protocol/muc#admin'><item role='moderator'/></query>",
    );
    assert_error(&out, "auth", "forbidden");
}

#[test]
fn moderated_rooms_make_visitors_who_need_voice() {
    let mut t = T::new();
    t.join(ALICE, &oj("alice"));
    t.submit(ALICE, ROOM, &[("muc#roomconfig_moderatedroom", "1")]);
    let out = t.join(BOB, &oj("bob"));
    assert_eq!(aff_role(out.to(BOB)[1]), ("none".into(), "visitor".into()));
    let msg = format!(
        "<message xmlns='jabber:client' type='groupchat' from='{BOB}' to='{ROOM}'><body>hi</body></message>"
    );
    assert_error(&t.send(&msg), "auth", "forbidden");
    let out = t.admin(ALICE, "<item nick='bob' role='participant'/>");
    assert_eq!(aff_role(&out.s[0]), ("none".into(), "participant".into()));
    assert_eq!(t.send(&msg).s.len(), 2);
}

// ------------------------------------------------------------- 5. muc#owner

#[test]
fn owner_gets_the_config_form_with_meeting_id() {
    let mut t = T::two();
    let out = t.iq(
        ALICE,
        ROOM,
        "get",
        "f",
        "<query xmlns='http://jabber.org/protocol/muc#owner'/>",
    );
    let q = out.only().get_child("query", NS_MUC_OWNER).expect("query");
    let x = q.get_child("x", NS_DATA).expect("form");
    assert_eq!(x.attr("type"), Some("form"));
    let vars: Vec<&str> = x.children().filter_map(|f| f.attr("var")).collect();
    for v in [
        "FORM_TYPE",
        "muc#roomconfig_roomname",
        "muc#roomconfig_roomdesc",
        "muc#roomconfig_persistentroom",
        "muc#roomconfig_publicroom",
        "muc#roomconfig_membersonly",
        "muc#roomconfig_moderatedroom",
        "muc#roomconfig_changesubject",
        "muc#roomconfig_passwordprotectedroom",
        "muc#roomconfig_roomsecret",
        "muc#roomconfig_whois",
        "muc#roomconfig_maxusers",
        "muc#roominfo_meetingId",
    ] {
        assert!(vars.contains(&v), "form lacks {v}: {vars:?}");
    }
    assert_eq!(
        form_value(q, "muc#roomconfig_whois").as_deref(),
        Some("anyone")
    );
    assert_eq!(
        form_value(q, "muc#roomconfig_maxusers").as_deref(),
        Some("none")
    );
    let form_id = form_value(q, "muc#roominfo_meetingId").expect("meeting id");
    let info = disco_info(&mut t, BOB, ROOM);
    let iq = info
        .only()
        .get_child("query", NS_DISCO_INFO)
        .expect("query");
    assert_eq!(form_value(iq, "muc#roominfo_meetingId"), Some(form_id));
    // Non-owners: forbidden, for reading and writing.
    let out = t.iq(
        BOB,
        ROOM,
        "get",
        "f",
        "<query xmlns='http://jabber.org/protocol/muc#owner'/>",
    );
    assert_error(&out, "auth", "forbidden");
    assert_error(
        &t.submit(BOB, ROOM, &[("muc#roomconfig_roomname", "x")]),
        "auth",
        "forbidden",
    );
    assert_error(
        &t.submit(EVE, ROOM, &[("muc#roomconfig_roomname", "x")]),
        "auth",
        "forbidden",
    );
}

#[test]
fn password_protection_and_disco_features() {
    let mut t = T::new();
    t.join(ALICE, &oj("alice"));
    // LJM's lockRoom form.
    let out = t.submit(
        ALICE,
        ROOM,
        &[
            ("muc#roomconfig_roomsecret", "s3cret"),
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_whois", "anyone"),
        ],
    );
    assert_eq!(
        out.brief(),
        vec![
            format!("message groupchat {ROOM} -> {ALICE}"),
            format!("iq result {ROOM} -> {ALICE}")
        ]
    );
    assert_eq!(codes(&out.s[0]), vec![104]);
    assert_error(&t.join(BOB, &oj("bob")), "auth", "not-authorized");
    assert_error(
        &t.join_x(BOB, &oj("bob"), "<password>wrong</password>"),
        "auth",
        "not-authorized",
    );
    assert_error(
        &t.send(&format!(
            "<presence xmlns='jabber:client' from='{BOB}' to='{}'/>",
            oj("bob")
        )),
        "auth",
        "not-authorized",
    );
    // Admins need no password.
    assert_eq!(t.join(FOCUS, &oj("focus")).e.len(), 1);
    let out = t.join_x(BOB, &oj("bob"), "<password>s3cret</password>");
    assert_eq!(out.e.len(), 1);
    let info = disco_info(&mut t, BOB, ROOM);
    let f = features(info.only());
    assert!(f.contains(&"muc_passwordprotected".to_string()), "{f:?}");
    assert!(!f.contains(&"muc_unsecured".to_string()));
    // Unlock: empty secret and 0.
    t.submit(
        ALICE,
        ROOM,
        &[
            ("muc#roomconfig_roomsecret", ""),
            ("muc#roomconfig_passwordprotectedroom", "0"),
        ],
    );
    assert!(features(disco_info(&mut t, BOB, ROOM).only()).contains(&"muc_unsecured".to_string()));
    assert_eq!(t.join(CAROL, &oj("carol")).e.len(), 1);
    // A secret alone protects the room too.
    t.submit(ALICE, ROOM, &[("muc#roomconfig_roomsecret", "x")]);
    assert_error(
        &t.join("dave@meet.test/d", &oj("dave")),
        "auth",
        "not-authorized",
    );
}

#[test]
fn bad_form_values_are_not_acceptable_and_change_nothing() {
    let mut t = T::two();
    for (var, value) in [
        ("muc#roomconfig_maxusers", "lots"),
        ("muc#roomconfig_maxusers", "-1"),
        ("muc#roomconfig_whois", "everybody"),
        ("muc#roomconfig_membersonly", "maybe"),
        ("muc#roomconfig_persistentroom", "yes"),
    ] {
        let out = t.submit(
            ALICE,
            ROOM,
            &[("muc#roomconfig_roomname", "Renamed"), (var, value)],
        );
        assert_error(&out, "modify", "not-acceptable");
    }
    let big = "x".repeat(5000);
    assert_error(
        &t.submit(ALICE, ROOM, &[("muc#roomconfig_roomname", &big)]),
        "modify",
        "not-acceptable",
    );
    let info = disco_info(&mut t, ALICE, ROOM);
    let q = info
        .only()
        .get_child("query", NS_DISCO_INFO)
        .expect("query");
    assert_eq!(
        q.get_child("identity", NS_DISCO_INFO)
            .and_then(|i| i.attr("name")),
        Some("room"),
        "nothing was renamed"
    );
    // Structurally wrong owner requests.
    for payload in [
        "<query xmlns='http://jabber.org/protocol/muc#owner'/>",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data'/></query>",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'/></query>",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><foo/></query>",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/><destroy/></query>",
    ] {
        assert_error(
            &t.iq(ALICE, ROOM, "set", "b", payload),
            "modify",
            "bad-request",
        );
    }
    // Unknown fields are ignored; fields without var too.
    let out = t.iq(
        ALICE,
        ROOM,
        "set",
        "u",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='x-unknown'><value>1</value></field><field><value>v</value></field></x></query>",
    );
    assert_eq!(out.only().attr("type"), Some("result"));
    assert_eq!(t.muc.occupant_count(), 2);
}

#[test]
fn members_only_rooms_refuse_non_members_and_remove_them() {
    let mut t = T::two();
    t.join(CAROL, &oj("carol"));
    // LJM grants membership to those present first (bob), then switches.
    t.admin(ALICE, "<item affiliation='member' jid='bob@meet.test'/>");
    let out = t.submit(ALICE, ROOM, &[("muc#roomconfig_membersonly", "1")]);
    assert_eq!(
        out.brief(),
        vec![
            format!("message groupchat {ROOM} -> {ALICE}"),
            format!("message groupchat {ROOM} -> {BOB}"),
            format!("message groupchat {ROOM} -> {CAROL}"),
            format!("presence unavailable {ROOM}/carol -> {ALICE}"),
            format!("presence unavailable {ROOM}/carol -> {BOB}"),
            format!("presence unavailable {ROOM}/carol -> {CAROL}"),
            format!("iq result {ROOM} -> {ALICE}"),
        ]
    );
    assert_eq!(codes(&out.s[5]), vec![110, 322]);
    assert_error(
        &t.join(CAROL, &oj("carol")),
        "auth",
        "registration-required",
    );
    let info = disco_info(&mut t, BOB, ROOM);
    assert!(features(info.only()).contains(&"muc_membersonly".to_string()));
    // Membership lets carol in; losing it takes her out with 321.
    t.admin(ALICE, "<item affiliation='member' jid='carol@meet.test'/>");
    assert_eq!(t.join(CAROL, &oj("carol")).e.len(), 1);
    let out = t.admin(ALICE, "<item affiliation='none' nick='carol'/>");
    assert_eq!(codes(out.to(CAROL)[0]), vec![110, 321]);
}

#[test]
fn subject_changes_and_is_sent_to_joiners() {
    let mut t = T::two();
    let set = |from: &str, text: &str| {
        format!(
            "<message xmlns='jabber:client' type='groupchat' from='{from}' to='{ROOM}'><subject>{text}</subject></message>"
        )
    };
    assert_error(&t.send(&set(BOB, "mine")), "auth", "forbidden");
    assert_error(&t.send(&set(EVE, "mine")), "modify", "not-acceptable");
    let out = t.send(&set(ALICE, "Agenda"));
    assert_eq!(
        out.brief(),
        vec![
            format!("message groupchat {ROOM}/alice -> {ALICE}"),
            format!("message groupchat {ROOM}/alice -> {BOB}"),
        ]
    );
    let out = t.join(CAROL, &oj("carol"));
    let last = out.s.last().expect("subject");
    assert_eq!(
        brief(last),
        format!("message groupchat {ROOM}/alice -> {CAROL}")
    );
    assert_eq!(
        last.get_child("subject", NS_CLIENT)
            .map(|s| s.text())
            .as_deref(),
        Some("Agenda")
    );
    let info = disco_info(&mut t, CAROL, ROOM);
    let q = info.only().get_child("query", NS_DISCO_INFO).expect("q");
    assert_eq!(
        form_value(q, "muc#roominfo_subject").as_deref(),
        Some("Agenda")
    );
    // With changesubject anyone may.
    t.submit(ALICE, ROOM, &[("muc#roomconfig_changesubject", "1")]);
    assert_eq!(t.send(&set(BOB, "Bob's")).s.len(), 3);
}

#[test]
fn owner_destroys_the_room() {
    let mut t = T::two();
    assert_error(
        &t.iq(
            BOB,
            ROOM,
            "set",
            "d",
            "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query>",
        ),
        "auth",
        "forbidden",
    );
    let out = t.iq(
        ALICE,
        ROOM,
        "set",
        "d",
        "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy jid='other@conference.meet.test'><reason>done</reason></destroy></query>",
    );
    assert_eq!(
        out.brief(),
        vec![
            format!("presence unavailable {ROOM}/alice -> {ALICE}"),
            format!("presence unavailable {ROOM}/bob -> {BOB}"),
            format!("iq result {ROOM} -> {ALICE}"),
        ]
    );
    for p in &out.s[0..2] {
        let d = muc_x(p).get_child("destroy", NS_MUC_USER).expect("destroy");
        assert_eq!(d.attr("jid"), Some("other@conference.meet.test"));
        assert_eq!(
            d.get_child("reason", NS_MUC_USER)
                .map(|r| r.text())
                .as_deref(),
            Some("done")
        );
        assert_eq!(aff_role(p), ("none".into(), "none".into()));
    }
    assert_eq!(out.e.len(), 3);
    assert_eq!(out.e[2], RoomEvent::Destroyed { room: ROOM.into() });
    assert_eq!(t.muc.room_count(), 0);
}

#[test]
fn persistent_rooms_outlive_their_occupants() {
    let mut t = T::new();
    t.join(ALICE, &oj("alice"));
    t.submit(
        ALICE,
        ROOM,
        &[
            ("muc#roomconfig_persistentroom", "1"),
            ("muc#roomconfig_roomname", "Standing"),
        ],
    );
    let out = t.leave(ALICE, &oj("alice"));
    assert_eq!(out.e.len(), 1, "Left only");
    assert_eq!((t.muc.room_count(), t.muc.occupant_count()), (1, 0));
    let info = disco_info(&mut t, EVE, ROOM);
    let f = features(info.only());
    assert!(f.contains(&"muc_persistent".to_string()));
    // The owner turns it back into a temporary room from outside: gone.
    let out = t.submit(ALICE, ROOM, &[("muc#roomconfig_persistentroom", "0")]);
    assert_eq!(out.e, vec![RoomEvent::Destroyed { room: ROOM.into() }]);
    assert_eq!(t.muc.room_count(), 0);
}

// ------------------------------------------------------------------ 6. disco

#[test]
fn room_disco_info_has_identity_features_and_roominfo() {
    let mut t = T::two();
    let out = disco_info(&mut t, BOB, ROOM);
    let r = out.only();
    assert_eq!(brief(r), format!("iq result {ROOM} -> {BOB}"));
    let q = r.get_child("query", NS_DISCO_INFO).expect("query");
    let id = q.get_child("identity", NS_DISCO_INFO).expect("identity");
    assert_eq!(
        (id.attr("category"), id.attr("type"), id.attr("name")),
        (Some("conference"), Some("text"), Some("room"))
    );
    let f = features(r);
    for want in [
        "http://jabber.org/protocol/muc",
        "muc_public",
        "muc_temporary",
        "muc_open",
        "muc_unmoderated",
        "muc_nonanonymous",
        "muc_unsecured",
    ] {
        assert!(f.contains(&want.to_string()), "missing {want}: {f:?}");
    }
    assert_eq!(
        form_value(q, "FORM_TYPE").as_deref(),
        Some("http://jabber.org/protocol/muc#roominfo")
    );
    assert_eq!(
        form_value(q, "muc#roominfo_occupants").as_deref(),
        Some("2")
    );
    assert_eq!(
        form_value(q, "muc#roominfo_description").as_deref(),
        Some("")
    );
    let id = form_value(q, "muc#roominfo_meetingId").expect("meeting id");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    // Fixed for the room's lifetime, different for another room.
    let again = disco_info(&mut t, ALICE, ROOM);
    let q2 = again.only().get_child("query", NS_DISCO_INFO).expect("q");
    assert_eq!(form_value(q2, "muc#roominfo_meetingId"), Some(id.clone()));
    t.join(ALICE, "other@conference.meet.test/alice");
    let other = disco_info(&mut t, ALICE, "other@conference.meet.test");
    let q3 = other.only().get_child("query", NS_DISCO_INFO).expect("q");
    assert_ne!(form_value(q3, "muc#roominfo_meetingId"), Some(id));
    // Room items: empty.
    let out = t.iq(
        BOB,
        ROOM,
        "get",
        "it",
        "<query xmlns='http://jabber.org/protocol/disco#items'/>",
    );
    let q = out
        .only()
        .get_child("query", NS_DISCO_ITEMS)
        .expect("items");
    assert_eq!(q.children().count(), 0);
    // Nodes are not offered.
    let out = t.iq(
        BOB,
        ROOM,
        "get",
        "n",
        "<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/>",
    );
    assert_error(&out, "cancel", "item-not-found");
}

#[test]
fn without_meeting_id_module_there_is_no_meeting_id() {
    let mut t = T::with(MucConfig {
        meeting_id: false,
        ..cfg()
    });
    t.join(ALICE, &oj("alice"));
    let out = disco_info(&mut t, ALICE, ROOM);
    let q = out.only().get_child("query", NS_DISCO_INFO).expect("q");
    assert_eq!(form_value(q, "muc#roominfo_meetingId"), None);
}

#[test]
fn disco_of_a_missing_room_is_item_not_found() {
    let mut t = T::new();
    assert_error(
        &disco_info(&mut t, ALICE, "nope@conference.meet.test"),
        "cancel",
        "item-not-found",
    );
    assert_eq!(t.muc.room_count(), 0, "disco creates nothing");
    let out = t.send(&format!(
        "<message xmlns='jabber:client' type='groupchat' from='{ALICE}' to='nope@conference.meet.test'><body>x</body></message>"
    ));
    assert_error(&out, "cancel", "item-not-found");
}

#[test]
fn service_disco_info_and_public_room_items() {
    let mut t = T::new();
    let out = disco_info(&mut t, ALICE, DOMAIN);
    let q = out.only().get_child("query", NS_DISCO_INFO).expect("q");
    let id = q.get_child("identity", NS_DISCO_INFO).expect("identity");
    assert_eq!(
        (id.attr("category"), id.attr("type")),
        (Some("conference"), Some("text"))
    );
    assert!(features(out.only()).contains(&NS_MUC.to_string()));
    t.join(ALICE, "b-room@conference.meet.test/alice");
    t.join(ALICE, "a-room@conference.meet.test/alice");
    t.join(ALICE, "hidden@conference.meet.test/alice");
    t.submit(
        ALICE,
        "hidden@conference.meet.test",
        &[("muc#roomconfig_publicroom", "0")],
    );
    t.submit(
        ALICE,
        "a-room@conference.meet.test",
        &[("muc#roomconfig_roomname", "Room A")],
    );
    t.join(BOB, "myroom@conference.acme.meet.test/bob");
    let out = t.iq(
        ALICE,
        DOMAIN,
        "get",
        "i",
        "<query xmlns='http://jabber.org/protocol/disco#items'/>",
    );
    let q = out.only().get_child("query", NS_DISCO_ITEMS).expect("q");
    let items: Vec<(Option<&str>, Option<&str>)> = q
        .children()
        .map(|i| (i.attr("jid"), i.attr("name")))
        .collect();
    assert_eq!(
        items,
        vec![
            (
                Some("[acme]myroom@conference.meet.test"),
                Some("[acme]myroom")
            ),
            (Some("a-room@conference.meet.test"), Some("Room A")),
            (Some("b-room@conference.meet.test"), Some("b-room")),
        ]
    );
    // A tenant's domain lists that tenant's rooms in tenant form.
    let out = t.iq(
        ALICE,
        "conference.acme.meet.test",
        "get",
        "i",
        "<query xmlns='http://jabber.org/protocol/disco#items'/>",
    );
    let q = out.only().get_child("query", NS_DISCO_ITEMS).expect("q");
    let jids: Vec<&str> = q.children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(jids, vec!["myroom@conference.acme.meet.test"]);
    // Other service IQs.
    let out = t.iq(ALICE, DOMAIN, "get", "p", "<ping xmlns='urn:xmpp:ping'/>");
    assert_eq!(out.only().attr("type"), Some("result"));
    let out = t.iq(
        ALICE,
        DOMAIN,
        "set",
        "v",
        "<query xmlns='jabber:iq:version'/>",
    );
    assert_error(&out, "cancel", "service-unavailable");
}

// --------------------------------------------------------------- 7. messages

#[test]
fn groupchat_is_broadcast_and_kept_as_history() {
    let mut t = T::two();
    let out = t.send(&format!(
        "<message xmlns='jabber:client' type='groupchat' id='m1' from='{BOB}' to='{ROOM}'><body>hello</body><json-message xmlns='http://jitsi.org/jitmeet'>{{}}</json-message></message>"
    ));
    assert_eq!(
        out.brief(),
        vec![
            format!("message groupchat {ROOM}/bob -> {ALICE}"),
            format!("message groupchat {ROOM}/bob -> {BOB}"),
        ]
    );
    for m in &out.s {
        assert_eq!(m.attr("id"), Some("m1"));
        assert!(m.has_child("json-message", "http://jitsi.org/jitmeet"));
    }
    // Non-occupants may not post.
    let out = t.send(&format!(
        "<message xmlns='jabber:client' type='groupchat' id='s' from='{EVE}' to='{ROOM}'><body>spam</body></message>"
    ));
    assert_error(&out, "modify", "not-acceptable");
    // A late joiner gets the history with delay stamps, before the subject.
    let out = t.join(CAROL, &oj("carol"));
    assert_eq!(
        out.brief()[5..],
        [
            format!("message groupchat {ROOM}/bob -> {CAROL}"),
            format!("message groupchat {ROOM} -> {CAROL}"),
        ]
    );
    let delay = out.s[5].get_child("delay", NS_DELAY).expect("delay");
    assert_eq!(delay.attr("from"), Some(ROOM));
    assert!(
        delay
            .attr("stamp")
            .is_some_and(|s| s.starts_with("2023-11-14T") && s.ends_with('Z'))
    );
    // ... unless it asks for none.
    let out = t.join_x("dave@meet.test/d", &oj("dave"), "<history maxstanzas='0'/>");
    assert!(
        out.to("dave@meet.test/d")
            .iter()
            .all(|s| !s.has_child("body", NS_CLIENT))
    );
    // Only the last 20 are kept.
    for i in 0..25 {
        t.send(&format!(
            "<message xmlns='jabber:client' type='groupchat' from='{ALICE}' to='{ROOM}'><body>{i}</body></message>"
        ));
    }
    let out = t.join("erin@meet.test/e", &oj("erin"));
    let bodies: Vec<String> = out
        .s
        .iter()
        .filter_map(|s| s.get_child("body", NS_CLIENT).map(|b| b.text()))
        .collect();
    assert_eq!(bodies.len(), 20);
    assert_eq!(bodies.first().map(String::as_str), Some("5"));
}

#[test]
fn private_messages_go_to_the_real_jid_from_the_occupant_jid() {
    let mut t = T::two();
    let out = t.send(&format!(
        "<message xmlns='jabber:client' type='chat' id='p1' from='{ALICE}' to='{}'><body>psst</body></message>",
        oj("bob")
    ));
    assert_eq!(
        out.brief(),
        vec![format!("message chat {ROOM}/alice -> {BOB}")]
    );
    assert_eq!(out.s[0].attr("id"), Some("p1"));
    assert!(out.s[0].has_child("x", NS_MUC_USER));
    let unknown = format!(
        "<message xmlns='jabber:client' type='chat' from='{ALICE}' to='{}'><body>?</body></message>",
        oj("nobody")
    );
    assert_error(&t.send(&unknown), "cancel", "item-not-found");
    let outsider = format!(
        "<message xmlns='jabber:client' type='chat' from='{EVE}' to='{}'><body>hi</body></message>",
        oj("bob")
    );
    assert_error(&t.send(&outsider), "modify", "not-acceptable");
    let gc = format!(
        "<message xmlns='jabber:client' type='groupchat' from='{ALICE}' to='{}'><body>?</body></message>",
        oj("bob")
    );
    assert_error(&t.send(&gc), "modify", "bad-request");
}

#[test]
fn mediated_invitations() {
    let mut t = T::two();
    let out = t.send(&format!(
        "<message xmlns='jabber:client' from='{BOB}' to='{ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@meet.test'><reason>join us</reason></invite></x></message>"
    ));
    assert_eq!(
        out.brief(),
        vec![format!("message - {ROOM} -> carol@meet.test")]
    );
    let inv = muc_x(&out.s[0])
        .get_child("invite", NS_MUC_USER)
        .expect("invite");
    assert_eq!(inv.attr("from"), Some("bob@meet.test"));
    let outsider = format!(
        "<message xmlns='jabber:client' from='{EVE}' to='{ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@meet.test'/></x></message>"
    );
    assert_error(&t.send(&outsider), "modify", "not-acceptable");
    let plain = format!(
        "<message xmlns='jabber:client' type='chat' from='{BOB}' to='{ROOM}'><body>x</body></message>"
    );
    assert_error(&t.send(&plain), "modify", "bad-request");
}

#[test]
fn iqs_are_forwarded_through_occupant_jids_both_ways() {
    let mut t = T::two();
    t.join(FOCUS, &oj("focus"));
    // focus → bob (Jingle).
    let out = t.iq(
        FOCUS,
        &oj("bob"),
        "set",
        "j1",
        "<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s1'/>",
    );
    assert_eq!(out.brief(), vec![format!("iq set {ROOM}/focus -> {BOB}")]);
    assert_eq!(out.s[0].attr("id"), Some("j1"));
    assert!(out.s[0].has_child("jingle", "urn:xmpp:jingle:1"));
    assert_eq!(t.muc.pending_iq_count(), 1);
    let out = t.iq(BOB, &oj("focus"), "result", "j1", "");
    assert_eq!(
        out.brief(),
        vec![format!("iq result {ROOM}/bob -> {FOCUS}")]
    );
    assert_eq!(out.s[0].attr("id"), Some("j1"));
    assert_eq!(t.muc.pending_iq_count(), 0);
    // A second, unsolicited result is dropped.
    assert!(t.iq(BOB, &oj("focus"), "result", "j1", "").s.is_empty());
    // bob → focus (mute request), answered with an error.
    let out = t.iq(
        BOB,
        &oj("focus"),
        "set",
        "m1",
        "<mute xmlns='http://jitsi.org/jitmeet/audio'>true</mute>",
    );
    assert_eq!(out.brief(), vec![format!("iq set {ROOM}/bob -> {FOCUS}")]);
    let out = t.send(&format!(
        "<iq xmlns='jabber:client' type='error' id='m1' from='{FOCUS}' to='{}'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        oj("bob")
    ));
    assert_eq!(out.brief(), vec![format!("iq error {ROOM}/focus -> {BOB}")]);
    assert_eq!(error_of(&out.s[0]).1, "not-allowed");
    assert_eq!(t.muc.pending_iq_count(), 0);
}

#[test]
fn colliding_iq_ids_from_different_senders_are_routed_apart() {
    let mut t = T::two();
    t.join(FOCUS, &oj("focus"));
    t.iq(
        ALICE,
        &oj("focus"),
        "get",
        "1",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    t.iq(
        BOB,
        &oj("focus"),
        "get",
        "1",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    // Same id in the other direction between the same pair.
    t.iq(
        FOCUS,
        &oj("bob"),
        "get",
        "1",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    assert_eq!(t.muc.pending_iq_count(), 3);
    let out = t.iq(FOCUS, &oj("bob"), "result", "1", "");
    assert_eq!(
        out.brief(),
        vec![format!("iq result {ROOM}/focus -> {BOB}")]
    );
    let out = t.iq(FOCUS, &oj("alice"), "result", "1", "");
    assert_eq!(
        out.brief(),
        vec![format!("iq result {ROOM}/focus -> {ALICE}")]
    );
    let out = t.iq(BOB, &oj("focus"), "result", "1", "");
    assert_eq!(
        out.brief(),
        vec![format!("iq result {ROOM}/bob -> {FOCUS}")]
    );
    assert_eq!(t.muc.pending_iq_count(), 0);
    // alice has no pending request from bob: bob cannot "answer" her.
    assert!(t.iq(BOB, &oj("alice"), "result", "1", "").s.is_empty());
}

#[test]
fn iq_to_occupant_errors_self_ping_and_nick_change() {
    let mut t = T::two();
    assert_error(
        &t.iq(EVE, &oj("bob"), "get", "x", "<ping xmlns='urn:xmpp:ping'/>"),
        "cancel",
        "not-acceptable",
    );
    assert_error(
        &t.iq(
            ALICE,
            &oj("nobody"),
            "get",
            "x",
            "<ping xmlns='urn:xmpp:ping'/>",
        ),
        "cancel",
        "item-not-found",
    );
    // XEP-0410 self-ping is answered by the room.
    let out = t.iq(
        BOB,
        &oj("bob"),
        "get",
        "sp",
        "<ping xmlns='urn:xmpp:ping'/>",
    );
    assert_eq!(out.brief(), vec![format!("iq result {ROOM}/bob -> {BOB}")]);
    // A result from a non-occupant is dropped, never answered.
    assert!(t.iq(EVE, &oj("bob"), "result", "x", "").s.is_empty());
    // A response still finds the asker after it changed nick.
    t.iq(
        ALICE,
        &oj("bob"),
        "get",
        "q",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    t.send(&format!(
        "<presence xmlns='jabber:client' from='{ALICE}' to='{}'/>",
        oj("alicia")
    ));
    let out = t.iq(BOB, &oj("alicia"), "result", "q", "");
    assert_eq!(
        out.brief(),
        vec![format!("iq result {ROOM}/bob -> {ALICE}")]
    );
}

#[test]
fn pending_iqs_are_dropped_when_occupants_leave_and_bounded() {
    let mut t = T::two();
    t.iq(
        ALICE,
        &oj("bob"),
        "get",
        "a",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    t.iq(
        BOB,
        &oj("alice"),
        "get",
        "b",
        "<query xmlns='http://jabber.org/protocol/disco#info'/>",
    );
    assert_eq!(t.muc.pending_iq_count(), 2);
    t.leave(BOB, &oj("bob"));
    assert_eq!(t.muc.pending_iq_count(), 0);
    t.join(BOB, &oj("bob"));
    // Fast enough that nothing expires: the cap alone bounds the map.
    t.step = 1;
    for i in 0..(room::MAX_PENDING_IQS + 50) {
        t.iq(
            ALICE,
            &oj("bob"),
            "get",
            &format!("id{i}"),
            "<ping xmlns='urn:xmpp:ping'/>",
        );
    }
    assert_eq!(t.muc.pending_iq_count(), room::MAX_PENDING_IQS);
    // The newest is still routable; the oldest was evicted.
    let last = format!("id{}", room::MAX_PENDING_IQS + 49);
    assert_eq!(t.iq(BOB, &oj("alice"), "result", &last, "").s.len(), 1);
    assert!(t.iq(BOB, &oj("alice"), "result", "id0", "").s.is_empty());
}

// ----------------------------------------------------------------- 8. mapper

#[test]
fn tenant_forms_name_the_same_room_and_each_occupant_keeps_its_form() {
    let mut t = T::new();
    let tenant_room = "myroom@conference.acme.meet.test";
    let canonical = "[acme]myroom@conference.meet.test";
    let out = t.join(ALICE, &format!("{tenant_room}/alice"));
    assert_eq!(
        out.s[0].attr("from"),
        Some(format!("{tenant_room}/alice").as_str())
    );
    assert!(matches!(&out.e[0], RoomEvent::Joined { room, .. } if room == canonical));
    let out = t.join(BOB, &format!("{canonical}/bob"));
    assert_eq!(
        out.brief(),
        vec![
            format!("presence - {canonical}/alice -> {BOB}"),
            format!("presence - {tenant_room}/bob -> {ALICE}"),
            format!("presence - {canonical}/bob -> {BOB}"),
            format!("message groupchat {canonical} -> {BOB}"),
        ]
    );
    assert_eq!(t.muc.room_count(), 1);
    assert_eq!(
        t.muc.canonical_room(tenant_room).as_deref(),
        Some(canonical)
    );
    assert_eq!(t.muc.canonical_room(canonical).as_deref(), Some(canonical));
    assert_eq!(
        t.muc
            .canonical_room("MyRoom@Conference.ACME.meet.test/nick")
            .as_deref(),
        Some(canonical)
    );
    assert_eq!(t.muc.canonical_room("room@elsewhere.test"), None);
    assert_eq!(t.muc.canonical_room("room@conference.a.b.meet.test"), None);
    assert_eq!(t.muc.canonical_room(DOMAIN), None);
    assert_eq!(t.muc.occupants(tenant_room).len(), 2);
    // IQs cross forms: bob (canonical) → alice (tenant form).
    let out = t.iq(
        BOB,
        &format!("{canonical}/alice"),
        "get",
        "x",
        "<ping xmlns='urn:xmpp:ping'/>",
    );
    assert_eq!(
        out.brief(),
        vec![format!("iq get {tenant_room}/bob -> {ALICE}")]
    );
    let out = t.iq(ALICE, &format!("{tenant_room}/bob"), "result", "x", "");
    assert_eq!(
        out.brief(),
        vec![format!("iq result {canonical}/alice -> {BOB}")]
    );
    // Room-level replies use the form asked in.
    let out = disco_info(&mut t, ALICE, tenant_room);
    assert_eq!(out.only().attr("from"), Some(tenant_room));
    // Without the mapper the tenant form is not ours.
    let mut plain = T::with(MucConfig {
        mapper_base: None,
        ..cfg()
    });
    assert_error(
        &plain.join(ALICE, &format!("{tenant_room}/alice")),
        "cancel",
        "item-not-found",
    );
    assert_eq!(plain.muc.canonical_room(tenant_room), None);
}

// ------------------------------------------------------------------ API bits

#[test]
fn occupant_queries() {
    let t = T::two();
    let a = t.muc.occupant_by_real_jid(ROOM, ALICE).expect("alice");
    assert_eq!(
        a,
        OccupantInfo {
            nick: "alice".into(),
            real_jid: ALICE.into(),
            role: Role::Moderator,
            affiliation: Affiliation::Owner,
            display_name: None,
        }
    );
    assert_eq!(
        t.muc
            .occupant_by_real_jid(ROOM, "bob@meet.test")
            .map(|o| o.nick),
        Some("bob".into())
    );
    assert_eq!(
        t.muc
            .occupant_by_real_jid(ROOM, "BOB@meet.test/b1")
            .map(|o| o.nick),
        Some("bob".into())
    );
    assert!(
        t.muc
            .occupant_by_real_jid(ROOM, "bob@meet.test/other")
            .is_none()
    );
    assert!(
        t.muc
            .occupant_by_real_jid("none@conference.meet.test", ALICE)
            .is_none()
    );
    assert!(t.muc.occupant_by_real_jid(ROOM, "not a jid@@").is_none());
    let nicks: Vec<String> = t.muc.occupants(ROOM).into_iter().map(|o| o.nick).collect();
    assert_eq!(nicks, vec!["alice", "bob"]);
    assert!(t.muc.occupants("nothing@conference.meet.test").is_empty());
    assert_eq!((t.muc.room_count(), t.muc.occupant_count()), (1, 2));
}

#[test]
fn timestamps_are_xep_0082() {
    assert_eq!(room::timestamp(0), "1970-01-01T00:00:00Z");
    assert_eq!(room::timestamp(951_782_400_000), "2000-02-29T00:00:00Z");
    assert_eq!(room::timestamp(1_700_000_000_123), "2023-11-14T22:13:20Z");
    assert_eq!(room::timestamp(1_709_251_199_000), "2024-02-29T23:59:59Z");
    assert_eq!(room::timestamp(253_402_300_799_000), "9999-12-31T23:59:59Z");
    // Any clock value is cheap and well-formed.
    assert!(room::timestamp(u64::MAX).ends_with('Z'));
}

// ------------------------------------------------------------ 9. hostile input

#[test]
fn hostile_input_never_panics_and_never_harms_the_room() {
    let mut t = T::two();
    let hostile = [
        // Not ours or not a stanza.
        "<presence xmlns='jabber:server' from='a@b/c' to='room@conference.meet.test/x'/>"
            .to_string(),
        "<foo xmlns='jabber:client' from='a@b/c' to='room@conference.meet.test'/>".to_string(),
        // No sender, no or broken address.
        "<presence xmlns='jabber:client' to='room@conference.meet.test/x'/>".to_string(),
        format!("<presence xmlns='jabber:client' from='{EVE}'/>"),
        format!(
            "<iq xmlns='jabber:client' type='get' id='1' from='{EVE}' to='@@@'><query xmlns='x'/></iq>"
        ),
        format!(
            "<message xmlns='jabber:client' from='{EVE}' to='room@other.domain'><body>x</body></message>"
        ),
        // Odd types and shapes.
        format!("<iq xmlns='jabber:client' type='bogus' id='1' from='{ALICE}' to='{ROOM}'/>"),
        format!("<iq xmlns='jabber:client' type='get' id='1' from='{ALICE}' to='{ROOM}'/>"),
        format!(
            "<iq xmlns='jabber:client' type='set' id='1' from='{ALICE}' to='{ROOM}'><a xmlns='x'/><b xmlns='y'/></iq>"
        ),
        format!(
            "<iq xmlns='jabber:client' type='get' from='{ALICE}' to='{ROOM}/bob'><ping xmlns='urn:xmpp:ping'/></iq>"
        ),
        format!(
            "<iq xmlns='jabber:client' type='set' id='1' from='{EVE}' to='{ROOM}'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='bob' role='none'><reason><b>nested</b></reason></item><junk/></query></iq>"
        ),
        format!(
            "<iq xmlns='jabber:client' type='set' id='1' from='{ALICE}' to='{ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_maxusers'><value>99999999999999999999</value></field></x></query></iq>"
        ),
        format!(
            "<iq xmlns='jabber:client' type='set' id='1' from='{ALICE}' to='{ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_whois'/></x></query></iq>"
        ),
        format!(
            "<presence xmlns='jabber:client' type='subscribe' from='{EVE}' to='{}'/>",
            oj("alice")
        ),
        format!("<presence xmlns='jabber:client' type='probe' from='{EVE}' to='{ROOM}'/>"),
        format!(
            "<presence xmlns='jabber:client' type='error' from='{EVE}' to='{}'/>",
            oj("x")
        ),
        format!(
            "<message xmlns='jabber:client' type='error' from='{EVE}' to='{}'/>",
            oj("bob")
        ),
        format!(
            "<message xmlns='jabber:client' type='headline' from='{ALICE}' to='{ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='@@'/></x></message>"
        ),
        format!(
            "<message xmlns='jabber:client' type='groupchat' from='{ALICE}' to='{DOMAIN}'><body>x</body></message>"
        ),
        format!("<presence xmlns='jabber:client' from='{ALICE}' to='{DOMAIN}'/>"),
        format!("<presence xmlns='jabber:client' from='{EVE}' to='{ROOM}/'/>"),
    ];
    for s in &hostile {
        let out = t.send(s);
        // Errors are never answered with errors, and nothing leaks out to others.
        for o in &out.s {
            assert_ne!(
                o.attr("to"),
                Some(BOB),
                "{s} reached bob: {}",
                String::from(o)
            );
        }
    }
    // The owner's maxusers overflow was refused.
    let out = t.submit(
        ALICE,
        ROOM,
        &[("muc#roomconfig_maxusers", "99999999999999999999")],
    );
    assert_error(&out, "modify", "not-acceptable");
    // The room still works.
    assert_eq!(t.muc.occupant_count(), 2);
    let out = t.send(&format!(
        "<message xmlns='jabber:client' type='groupchat' from='{ALICE}' to='{ROOM}'><body>still here</body></message>"
    ));
    assert_eq!(out.s.len(), 2);
}

#[test]
fn room_creation_is_bounded() {
    let mut t = T::new();
    t.muc.set_max_rooms(2);
    t.join(ALICE, "a@conference.meet.test/alice");
    t.join(ALICE, "b@conference.meet.test/alice");
    assert_error(
        &t.join(ALICE, "c@conference.meet.test/alice"),
        "wait",
        "resource-constraint",
    );
    // Existing rooms stay joinable.
    assert_eq!(t.join(BOB, "a@conference.meet.test/bob").e.len(), 1);
    assert_eq!(t.muc.room_count(), 2);
}

#[test]
fn non_owner_owner_actions_are_refused() {
    let mut t = T::two();
    let destroy = "<query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query>";
    assert_error(&t.iq(BOB, ROOM, "set", "d", destroy), "auth", "forbidden");
    assert_error(&t.iq(EVE, ROOM, "set", "d", destroy), "auth", "forbidden");
    // An admin (not owner) may not configure either.
    t.admin(ALICE, "<item jid='bob@meet.test' affiliation='admin'/>");
    assert_error(&t.iq(BOB, ROOM, "set", "d", destroy), "auth", "forbidden");
    assert_error(
        &t.submit(BOB, ROOM, &[("muc#roomconfig_persistentroom", "1")]),
        "auth",
        "forbidden",
    );
    assert_eq!(t.muc.room_count(), 1);
}

// ------------------------------------------------------------- memory flatness

#[test]
fn ten_thousand_create_leave_cycles_leave_no_state() {
    let mut t = T::new();
    for i in 0..10_000 {
        let room = format!("r{}@conference.meet.test", i % 7);
        t.join(ALICE, &format!("{room}/alice"));
        t.join(BOB, &format!("{room}/bob"));
        // Leave an IQ unanswered and some history behind.
        t.iq(
            BOB,
            &format!("{room}/alice"),
            "get",
            "q",
            "<ping xmlns='urn:xmpp:ping'/>",
        );
        t.send(&format!(
            "<message xmlns='jabber:client' type='groupchat' from='{ALICE}' to='{room}'><body>{i}</body></message>"
        ));
        t.leave(ALICE, &format!("{room}/alice"));
        let out = t.leave(BOB, &format!("{room}/bob"));
        assert_eq!(
            out.e.last(),
            Some(&RoomEvent::Destroyed { room: room.clone() })
        );
        assert_eq!(t.muc.room_count(), 0);
    }
    assert_eq!(t.muc.room_count(), 0);
    assert_eq!(t.muc.occupant_count(), 0);
    assert_eq!(t.muc.pending_iq_count(), 0);
    // A room created afterwards starts from scratch (no history, no subject).
    let out = t.join(ALICE, "r0@conference.meet.test/alice");
    assert_eq!(out.s.len(), 2);
    assert_eq!(codes(&out.s[0]), vec![100, 110, 201]);
}
