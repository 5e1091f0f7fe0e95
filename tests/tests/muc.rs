//! MUC service and Jitsi components of xmpp-server, driven by several real
//! client connections (tokio-xmpp's stream layer): room creation and
//! cleanup, presence order and status codes, real JIDs, roles and
//! affiliations, kick, ban, passwords, members-only, IQ forwarding through
//! occupant JIDs, tenant mapping, meetingId, speakerstats and conference
//! duration, and hostile input.

use std::time::Duration;

use meet_tests::tx::TxClient;
use meet_tests::xmpp::XmppServer;
use minidom::Element;

const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const ROOM: &str = "room1@conference.meet.test";

async fn anon(s: &XmppServer) -> TxClient {
    TxClient::login(s.c2s_port, &s.ca_pems, "anon@meet.test", "")
        .await
        .expect("anonymous login")
}

async fn focus(s: &XmppServer) -> TxClient {
    s.register("focus", "auth.meet.test", "focus-pw");
    TxClient::login(s.c2s_port, &s.ca_pems, "focus@auth.meet.test", "focus-pw")
        .await
        .expect("focus login")
}

fn statuses(p: &Element) -> Vec<String> {
    p.get_child("x", MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn item(p: &Element) -> Element {
    p.get_child("x", MUC_USER)
        .and_then(|x| x.get_child("item", MUC_USER))
        .cloned()
        .unwrap_or_else(|| panic!("no muc#user item in {}", String::from(p)))
}

fn error_condition(e: &Element) -> String {
    e.get_child("error", "jabber:client")
        .and_then(|er| {
            er.children()
                .find(|c| c.ns() == STANZAS && c.name() != "text")
        })
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| format!("no error in {}", String::from(e)))
}

/// Join `room/nick`; returns the presences received from the room up to and
/// including the self-presence (status 110), or the error presence.
async fn join_with(
    c: &mut TxClient,
    room: &str,
    nick: &str,
    extra: &str,
) -> Result<Vec<Element>, Element> {
    c.send_xml(&format!(
        "<presence xmlns='jabber:client' to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>{extra}</x><nick xmlns='http://jabber.org/protocol/nick'>{nick} display</nick></presence>"
    ))
    .await;
    let mut got = Vec::new();
    let room_prefix = format!("{room}/");
    loop {
        let p = c
            .next_matching(|e| {
                e.name() == "presence"
                    && e.attr("from")
                        .is_some_and(|f| f.starts_with(&room_prefix) || f == room)
            })
            .await
            .unwrap_or_else(|e| panic!("joining {room}/{nick}: {e}"));
        if p.attr("type") == Some("error") {
            return Err(p);
        }
        let own = statuses(&p).contains(&"110".to_string());
        got.push(p);
        if own {
            return Ok(got);
        }
    }
}

async fn join(c: &mut TxClient, room: &str, nick: &str) -> Vec<Element> {
    join_with(c, room, nick, "")
        .await
        .unwrap_or_else(|e| panic!("join refused: {}", String::from(&e)))
}

/// The next presence from `room/nick`.
async fn presence_of(c: &mut TxClient, room: &str, nick: &str) -> Element {
    let from = format!("{room}/{nick}");
    c.next_matching(|e| e.name() == "presence" && e.attr("from") == Some(from.as_str()))
        .await
        .unwrap_or_else(|e| panic!("presence of {from}: {e}"))
}

async fn iq(c: &mut TxClient, xml: &str, id: &str) -> Element {
    c.send_xml(xml).await;
    c.next_matching(|e| e.name() == "iq" && e.attr("id") == Some(id))
        .await
        .unwrap_or_else(|e| panic!("iq {id}: {e}"))
}

async fn disco_info(c: &mut TxClient, jid: &str, id: &str) -> Element {
    iq(
        c,
        &format!("<iq xmlns='jabber:client' type='get' id='{id}' to='{jid}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"),
        id,
    )
    .await
}

fn form_value(info: &Element, var: &str) -> Option<String> {
    let q = info.get_child("query", "http://jabber.org/protocol/disco#info")?;
    q.children()
        .filter(|x| x.name() == "x" && x.ns() == "jabber:x:data")
        .flat_map(|x| x.children())
        .find(|f| f.attr("var") == Some(var))
        .and_then(|f| f.children().find(|v| v.name() == "value"))
        .map(|v| v.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_join_presence_order_real_jids_and_cleanup() {
    let s = XmppServer::start();
    let mut a = anon(&s).await;
    let created = join(&mut a, ROOM, "alice").await;
    assert_eq!(created.len(), 1, "only the self-presence in a new room");
    let codes = statuses(&created[0]);
    for c in ["110", "201", "100"] {
        assert!(
            codes.contains(&c.to_string()),
            "creation self-presence lacks {c}: {codes:?}"
        );
    }
    let it = item(&created[0]);
    assert_eq!(it.attr("affiliation"), Some("owner"));
    assert_eq!(it.attr("role"), Some("moderator"));
    assert_eq!(
        it.attr("jid"),
        Some(a.jid.as_str()),
        "real JID must be public"
    );
    // The room is usable at once (muc_room_locking = false): a second user joins.
    let mut b = anon(&s).await;
    let seen = join(&mut b, ROOM, "bob").await;
    assert_eq!(seen.len(), 2, "existing occupant first, then self");
    assert_eq!(seen[0].attr("from"), Some(format!("{ROOM}/alice").as_str()));
    assert_eq!(item(&seen[0]).attr("jid"), Some(a.jid.as_str()));
    assert!(
        seen[0].has_child("nick", "http://jabber.org/protocol/nick"),
        "extensions kept"
    );
    assert!(!statuses(&seen[1]).contains(&"201".to_string()));
    assert_eq!(item(&seen[1]).attr("role"), Some("participant"));
    let p = presence_of(&mut a, ROOM, "bob").await;
    assert_eq!(item(&p).attr("jid"), Some(b.jid.as_str()));
    // A presence update with Jitsi's extensions is broadcast untouched.
    b.send_xml(&format!(
        "<presence xmlns='jabber:client' to='{ROOM}/bob'><audiomuted xmlns='http://jitsi.org/jitmeet/audio'>true</audiomuted><stats-id>Bob-1</stats-id></presence>"
    ))
    .await;
    let p = presence_of(&mut a, ROOM, "bob").await;
    assert_eq!(
        p.get_child("audiomuted", "http://jitsi.org/jitmeet/audio")
            .map(|e| e.text())
            .as_deref(),
        Some("true")
    );
    assert!(
        p.has_child("stats-id", "jabber:client"),
        "{}",
        String::from(&p)
    );
    // Nick change: 303 then the new nick.
    b.send_xml(&format!(
        "<presence xmlns='jabber:client' to='{ROOM}/robert'/>"
    ))
    .await;
    let gone = presence_of(&mut a, ROOM, "bob").await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert!(statuses(&gone).contains(&"303".to_string()));
    assert_eq!(item(&gone).attr("nick"), Some("robert"));
    presence_of(&mut a, ROOM, "robert").await;
    // Leaving: everyone gets unavailable; the last one out destroys the room.
    a.send_xml(&format!(
        "<presence xmlns='jabber:client' type='unavailable' to='{ROOM}/alice'/>"
    ))
    .await;
    let left = presence_of(&mut b, ROOM, "alice").await;
    assert_eq!(left.attr("type"), Some("unavailable"));
    drop(b); // vanishes without a word: the server withdraws its presence
    tokio::time::sleep(Duration::from_millis(500)).await;
    let info = disco_info(&mut a, ROOM, "gone1").await;
    assert_eq!(
        info.attr("type"),
        Some("error"),
        "room survived: {}",
        String::from(&info)
    );
    assert_eq!(error_condition(&info), "item-not-found");
    // Nothing is left behind: the gauges on /metrics are back to zero.
    let metrics = http_get(s.http_port, "/metrics").await;
    assert!(metrics.contains("\nxmpp_muc_rooms 0\n"), "{metrics}");
    assert!(metrics.contains("\nxmpp_muc_occupants 0\n"), "{metrics}");
}

async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_sent_when_an_occupant_disconnects() {
    let s = XmppServer::start();
    let mut a = anon(&s).await;
    join(&mut a, ROOM, "alice").await;
    let mut b = anon(&s).await;
    join(&mut b, ROOM, "bob").await;
    presence_of(&mut a, ROOM, "bob").await;
    drop(b);
    let p = presence_of(&mut a, ROOM, "bob").await;
    assert_eq!(p.attr("type"), Some("unavailable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_own_every_room_and_moderator_grant_revoke_kick_ban() {
    let s = XmppServer::start();
    let mut a = anon(&s).await;
    join(&mut a, ROOM, "alice").await;
    let mut f = focus(&s).await;
    let seen = join(&mut f, ROOM, "focus").await;
    let me = seen.last().expect("self");
    assert_eq!(
        item(me).attr("affiliation"),
        Some("owner"),
        "admins are owners of every room"
    );
    assert_eq!(item(me).attr("role"), Some("moderator"));
    let mut b = anon(&s).await;
    join(&mut b, ROOM, "bob").await;
    presence_of(&mut f, ROOM, "bob").await;

    // A participant may not grant roles.
    let r = iq(&mut b, &format!("<iq xmlns='jabber:client' type='set' id='x1' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item nick='alice' role='none'/></query></iq>"), "x1").await;
    assert_eq!(r.attr("type"), Some("error"));
    assert!(
        ["not-allowed", "forbidden"].contains(&error_condition(&r).as_str()),
        "{}",
        String::from(&r)
    );

    // Grant moderator to bob, then revoke.
    let r = iq(&mut f, &format!("<iq xmlns='jabber:client' type='set' id='g1' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item nick='bob' role='moderator'/></query></iq>"), "g1").await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let p = presence_of(&mut b, ROOM, "bob").await;
    assert_eq!(item(&p).attr("role"), Some("moderator"));
    let r = iq(&mut f, &format!("<iq xmlns='jabber:client' type='set' id='g2' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item nick='bob' role='participant'/></query></iq>"), "g2").await;
    assert_eq!(r.attr("type"), Some("result"));
    let p = presence_of(&mut b, ROOM, "bob").await;
    assert_eq!(item(&p).attr("role"), Some("participant"));

    // Kick with a reason: 307 to the kicked (with 110) and to the others.
    let r = iq(&mut f, &format!("<iq xmlns='jabber:client' type='set' id='k1' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item nick='bob' role='none'><reason>be nice</reason></item></query></iq>"), "k1").await;
    assert_eq!(r.attr("type"), Some("result"));
    let p = presence_of(&mut b, ROOM, "bob").await;
    assert_eq!(p.attr("type"), Some("unavailable"));
    let codes = statuses(&p);
    assert!(
        codes.contains(&"307".to_string()) && codes.contains(&"110".to_string()),
        "{codes:?}"
    );
    assert_eq!(
        item(&p)
            .get_child("reason", MUC_USER)
            .map(|r| r.text())
            .as_deref(),
        Some("be nice")
    );
    let from = format!("{ROOM}/bob");
    let p = a
        .next_matching(|e| {
            e.attr("from") == Some(from.as_str()) && e.attr("type") == Some("unavailable")
        })
        .await
        .expect("kick seen by others");
    assert!(
        statuses(&p).contains(&"307".to_string()),
        "{}",
        String::from(&p)
    );

    // Ban by real JID: 301, and rejoining is forbidden.
    join(&mut b, ROOM, "bob").await;
    presence_of(&mut f, ROOM, "bob").await;
    let bare_b = b.jid.split('/').next().unwrap_or_default().to_string();
    let r = iq(&mut f, &format!("<iq xmlns='jabber:client' type='set' id='b1' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item jid='{bare_b}' affiliation='outcast'/></query></iq>"), "b1").await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let p = presence_of(&mut b, ROOM, "bob").await;
    assert!(
        statuses(&p).contains(&"301".to_string()),
        "{}",
        String::from(&p)
    );
    let refused = join_with(&mut b, ROOM, "bob2", "")
        .await
        .expect_err("banned user rejoined");
    assert_eq!(error_condition(&refused), "forbidden");
    // The outcast list names bob.
    let r = iq(&mut f, &format!("<iq xmlns='jabber:client' type='get' id='l1' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item affiliation='outcast'/></query></iq>"), "l1").await;
    assert!(String::from(&r).contains(&bare_b), "{}", String::from(&r));
    // Nobody may kick the owner-admin focus.
    let r = iq(&mut a, &format!("<iq xmlns='jabber:client' type='set' id='k2' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item nick='focus' role='none'/></query></iq>"), "k2").await;
    assert_eq!(r.attr("type"), Some("error"), "{}", String::from(&r));
}

async fn configure(owner: &mut TxClient, room: &str, fields: &[(&str, &str)], id: &str) -> Element {
    let mut xml = format!(
        "<iq xmlns='jabber:client' type='set' id='{id}' to='{room}'><query xmlns='{MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
    );
    for (var, value) in fields {
        xml.push_str(&format!(
            "<field var='{var}'><value>{value}</value></field>"
        ));
    }
    xml.push_str("</x></query></iq>");
    iq(owner, &xml, id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_members_only_rooms() {
    let s = XmppServer::start();
    let mut o = anon(&s).await;
    join(&mut o, ROOM, "owner").await;
    // The owner reads the config form.
    let form = iq(&mut o, &format!("<iq xmlns='jabber:client' type='get' id='c0' to='{ROOM}'><query xmlns='{MUC_OWNER}'/></iq>"), "c0").await;
    let text = String::from(&form);
    for var in [
        "muc#roomconfig_roomsecret",
        "muc#roomconfig_passwordprotectedroom",
        "muc#roomconfig_membersonly",
        "muc#roomconfig_whois",
    ] {
        assert!(text.contains(var), "config form lacks {var}: {text}");
    }
    let r = configure(
        &mut o,
        ROOM,
        &[
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_roomsecret", "s3cret"),
        ],
        "c1",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    let mut g = anon(&s).await;
    let e = join_with(&mut g, ROOM, "guest", "")
        .await
        .expect_err("no password");
    assert_eq!(error_condition(&e), "not-authorized");
    let e = join_with(&mut g, ROOM, "guest", "<password>wrong</password>")
        .await
        .expect_err("wrong password");
    assert_eq!(error_condition(&e), "not-authorized");
    join_with(&mut g, ROOM, "guest", "<password>s3cret</password>")
        .await
        .expect("right password");
    let info = disco_info(&mut g, ROOM, "i1").await;
    assert!(
        String::from(&info).contains("muc_passwordprotected"),
        "{}",
        String::from(&info)
    );
    // Remove the password; make the room members-only.
    let r = configure(
        &mut o,
        ROOM,
        &[
            ("muc#roomconfig_passwordprotectedroom", "0"),
            ("muc#roomconfig_membersonly", "1"),
        ],
        "c2",
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"));
    let mut m = anon(&s).await;
    let e = join_with(&mut m, ROOM, "m", "")
        .await
        .expect_err("not a member");
    assert_eq!(error_condition(&e), "registration-required");
    let bare = m.jid.split('/').next().unwrap_or_default().to_string();
    let r = iq(&mut o, &format!("<iq xmlns='jabber:client' type='set' id='c3' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item jid='{bare}' affiliation='member'/></query></iq>"), "c3").await;
    assert_eq!(r.attr("type"), Some("result"), "{}", String::from(&r));
    join(&mut m, ROOM, "m").await;
    // A non-owner may not configure.
    let r = configure(&mut m, ROOM, &[("muc#roomconfig_membersonly", "0")], "c4").await;
    assert_eq!(r.attr("type"), Some("error"));
    assert_eq!(error_condition(&r), "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_iq_forwarding_through_occupant_jids() {
    let s = XmppServer::start();
    let mut f = focus(&s).await;
    join(&mut f, ROOM, "focus").await;
    let mut b = anon(&s).await;
    join(&mut b, ROOM, "bob").await;
    presence_of(&mut f, ROOM, "bob").await;
    // groupchat to everyone, from room/nick.
    b.send_xml(&format!("<message xmlns='jabber:client' type='groupchat' to='{ROOM}' id='g1'><body>hello all</body></message>")).await;
    let m = f
        .next_matching(|e| {
            e.name() == "message"
                && e.attr("type") == Some("groupchat")
                && e.has_child("body", "jabber:client")
        })
        .await
        .expect("groupchat");
    assert_eq!(m.attr("from"), Some(format!("{ROOM}/bob").as_str()));
    // private message.
    f.send_xml(&format!("<message xmlns='jabber:client' type='chat' to='{ROOM}/bob' id='p1'><body>psst</body></message>")).await;
    let m = b
        .next_matching(|e| e.name() == "message" && e.attr("id") == Some("p1"))
        .await
        .expect("private");
    assert_eq!(m.attr("from"), Some(format!("{ROOM}/focus").as_str()));
    // IQ focus → room/bob arrives at bob's real JID from room/focus (Jingle goes this way) ...
    f.send_xml(&format!("<iq xmlns='jabber:client' type='set' id='j1' to='{ROOM}/bob'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s1'/></iq>")).await;
    let got = b
        .next_matching(|e| e.name() == "iq" && e.has_child("jingle", "urn:xmpp:jingle:1"))
        .await
        .expect("jingle at bob");
    assert_eq!(got.attr("from"), Some(format!("{ROOM}/focus").as_str()));
    assert_eq!(got.attr("to"), Some(b.jid.as_str()));
    // ... and bob's result comes back to the focus from room/bob.
    let id = got.attr("id").unwrap_or_default().to_string();
    b.send_xml(&format!(
        "<iq xmlns='jabber:client' type='result' id='{id}' to='{ROOM}/focus'/>"
    ))
    .await;
    let res = f
        .next_matching(|e| e.name() == "iq" && e.attr("id") == Some("j1"))
        .await
        .expect("result at focus");
    assert_eq!(res.attr("type"), Some("result"));
    assert_eq!(res.attr("from"), Some(format!("{ROOM}/bob").as_str()));
    // Same in the other direction (a client's request to the focus occupant).
    b.send_xml(&format!("<iq xmlns='jabber:client' type='get' id='q9' to='{ROOM}/focus'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")).await;
    let got = f
        .next_matching(|e| e.name() == "iq" && e.attr("type") == Some("get"))
        .await
        .expect("at focus");
    assert_eq!(got.attr("from"), Some(format!("{ROOM}/bob").as_str()));
    let id = got.attr("id").unwrap_or_default().to_string();
    f.send_xml(&format!("<iq xmlns='jabber:client' type='error' id='{id}' to='{ROOM}/bob'><error type='cancel'><item-not-found xmlns='{STANZAS}'/></error></iq>")).await;
    let res = b
        .next_matching(|e| e.attr("id") == Some("q9"))
        .await
        .expect("error at bob");
    assert_eq!(res.attr("type"), Some("error"));
    // Unknown occupant: item-not-found; non-occupant: not-acceptable.
    let r = iq(&mut f, &format!("<iq xmlns='jabber:client' type='get' id='u1' to='{ROOM}/nobody'><ping xmlns='urn:xmpp:ping'/></iq>"), "u1").await;
    assert_eq!(r.attr("type"), Some("error"));
    let mut outsider = anon(&s).await;
    outsider.send_xml(&format!("<message xmlns='jabber:client' type='groupchat' to='{ROOM}' id='o1'><body>spam</body></message>")).await;
    let r = outsider
        .next_matching(|e| e.attr("id") == Some("o1"))
        .await
        .expect("error");
    assert_eq!(error_condition(&r), "not-acceptable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_rooms_meeting_id_and_disco() {
    let s = XmppServer::start();
    let mut a = anon(&s).await;
    join(&mut a, "myroom@conference.acme.meet.test", "alice").await;
    let mut b = anon(&s).await;
    let seen = join(&mut b, "[acme]myroom@conference.meet.test", "bob").await;
    assert_eq!(seen.len(), 2, "both forms are the same room: {seen:?}");
    let i1 = disco_info(&mut a, "myroom@conference.acme.meet.test", "m1").await;
    let id1 = form_value(&i1, "muc#roominfo_meetingId").expect("meetingId");
    let i2 = disco_info(&mut b, "[acme]myroom@conference.meet.test", "m2").await;
    assert_eq!(
        form_value(&i2, "muc#roominfo_meetingId").as_deref(),
        Some(id1.as_str()),
        "meetingId is fixed for the room"
    );
    assert!(String::from(&i1).contains("http://jabber.org/protocol/muc"));
    // The service's own disco.
    let svc = disco_info(&mut a, "conference.meet.test", "m3").await;
    assert!(
        String::from(&svc).contains("conference"),
        "{}",
        String::from(&svc)
    );
    // A different room has a different meetingId.
    join(&mut a, "other@conference.meet.test", "alice").await;
    let i3 = disco_info(&mut a, "other@conference.meet.test", "m4").await;
    assert_ne!(form_value(&i3, "muc#roominfo_meetingId"), Some(id1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_rooms_need_the_owner_to_configure_them() {
    let s = XmppServer::start();
    let mut o = anon(&s).await;
    let created = join(&mut o, "r@locked.meet.test", "owner").await;
    assert!(statuses(&created[0]).contains(&"201".to_string()));
    let mut g = anon(&s).await;
    let e = join_with(&mut g, "r@locked.meet.test", "guest", "")
        .await
        .expect_err("locked");
    assert_eq!(error_condition(&e), "item-not-found");
    // Instant room: accept the defaults.
    let r = iq(&mut o, &format!("<iq xmlns='jabber:client' type='set' id='inst' to='r@locked.meet.test'><query xmlns='{MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>"), "inst").await;
    assert_eq!(r.attr("type"), Some("result"));
    join(&mut g, "r@locked.meet.test", "guest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conference_duration_and_speakerstats() {
    let s = XmppServer::start();
    let mut a = anon(&s).await;
    join(&mut a, ROOM, "alice").await;
    let mut b = anon(&s).await;
    join(&mut b, ROOM, "bob").await;
    let m = b
        .next_matching(|e| {
            e.name() == "message" && e.attr("from") == Some("conferenceduration.meet.test")
        })
        .await
        .expect("conference_duration message");
    let json = m
        .get_child("json-message", "http://jitsi.org/jitmeet")
        .expect("json-message")
        .text();
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["type"], "conference_duration");
    let ts = v["created_timestamp"].as_u64().expect("timestamp");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    assert!(ts <= now && now - ts < 60_000, "{ts} vs {now}");
    // alice becomes the dominant speaker, speaks for a while.
    a.send_xml(&format!("<message xmlns='jabber:client' to='speakerstats.meet.test'><speakerstats xmlns='http://jitsi.org/jitmeet' room='{ROOM}'/></message>")).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut c = anon(&s).await;
    join(&mut c, ROOM, "carol").await;
    // carol gets both component messages (in either order).
    let (mut stats, mut duration) = (None, None);
    while stats.is_none() || duration.is_none() {
        let m = c
            .next_matching(|e| {
                e.name() == "message" && e.has_child("json-message", "http://jitsi.org/jitmeet")
            })
            .await
            .unwrap_or_else(|e| panic!("component messages for carol: {e}"));
        let v: serde_json::Value = serde_json::from_str(
            &m.get_child("json-message", "http://jitsi.org/jitmeet")
                .expect("json")
                .text(),
        )
        .expect("json");
        match m.attr("from") {
            Some("speakerstats.meet.test") => stats = Some(v),
            Some("conferenceduration.meet.test") => duration = Some(v),
            other => panic!("unexpected sender {other:?}"),
        }
    }
    let v = stats.expect("stats");
    assert_eq!(v["type"], "speakerstats");
    let t = v["users"]["alice"]["totalDominantSpeakerTime"]
        .as_u64()
        .expect("alice's time");
    assert!(t >= 500, "alice spoke ~700 ms, got {t}: {v}");
    let v = duration.expect("duration");
    assert_eq!(v["created_timestamp"].as_u64(), Some(ts));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_without_harming_the_room() {
    let s = XmppServer::start();
    let mut a = anon(&s).await;
    join(&mut a, ROOM, "alice").await;
    let mut h = anon(&s).await;
    // Existing nick.
    let e = join_with(&mut h, ROOM, "alice", "")
        .await
        .expect_err("nick conflict");
    assert_eq!(error_condition(&e), "conflict");
    // Nicks no client library would send: over raw sockets.
    let huge = "n".repeat(2000);
    for nick in [huge.as_str(), "bad\u{1}nick", ""] {
        let mut raw = meet_tests::raw::RawConn::connect(s.c2s_port).await;
        raw.anonymous_login("meet.test").await;
        let to = if nick.is_empty() {
            ROOM.to_string()
        } else {
            format!("{ROOM}/{nick}")
        };
        let to = to.replace('\u{1}', "&#1;");
        raw.send(&format!(
            "<presence to='{to}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
        let got = raw.read_until_or_close("</presence>").await;
        assert!(
            got.contains("type='error'")
                || got.contains("type=\"error\"")
                || got.contains("not-well-formed"),
            "nick {:?}: {got}",
            &nick[..nick.len().min(20)]
        );
    }
    // Malformed admin IQ and form.
    join(&mut h, ROOM, "mallory").await;
    let r = iq(&mut h, &format!("<iq xmlns='jabber:client' type='set' id='h1' to='{ROOM}'><query xmlns='{MUC_ADMIN}'><item/></query></iq>"), "h1").await;
    assert_eq!(r.attr("type"), Some("error"));
    let r = iq(&mut h, &format!("<iq xmlns='jabber:client' type='set' id='h2' to='{ROOM}'><query xmlns='{MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_maxusers'><value>lots</value></field></x></query></iq>"), "h2").await;
    assert_eq!(r.attr("type"), Some("error"));
    let r = iq(&mut h, &format!("<iq xmlns='jabber:client' type='set' id='h3' to='{ROOM}'><query xmlns='{MUC_OWNER}'><destroy/></query></iq>"), "h3").await;
    assert_eq!(
        r.attr("type"),
        Some("error"),
        "a participant destroyed the room"
    );
    // The room still works for alice.
    a.send_xml(&format!("<message xmlns='jabber:client' type='groupchat' to='{ROOM}' id='ok'><body>still here</body></message>")).await;
    let m = a
        .next_matching(|e| e.name() == "message" && e.attr("id") == Some("ok"))
        .await
        .expect("echo");
    assert_eq!(m.attr("from"), Some(format!("{ROOM}/alice").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brewery_room_carries_bridge_stats_to_the_focus() {
    let s = XmppServer::start();
    s.register("jvb", "auth.meet.test", "jvb-pw");
    let mut f = focus(&s).await;
    join(&mut f, "jvbbrewery@internal.auth.meet.test", "focus").await;
    let mut jvb = TxClient::login(s.c2s_port, &s.ca_pems, "jvb@auth.meet.test", "jvb-pw")
        .await
        .expect("jvb");
    jvb.send_xml(
        "<presence xmlns='jabber:client' to='jvbbrewery@internal.auth.meet.test/jvb-1'><x xmlns='http://jabber.org/protocol/muc'/><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level' value='0.05'/></stats></presence>",
    )
    .await;
    let p = presence_of(&mut f, "jvbbrewery@internal.auth.meet.test", "jvb-1").await;
    let stats = p
        .get_child("stats", "http://jitsi.org/protocol/colibri")
        .expect("stats kept");
    assert!(String::from(stats).contains("stress_level"));
    assert_eq!(item(&p).attr("jid"), Some(jvb.jid.as_str()));
    // The focus sends the bridge an IQ through its occupant JID.
    f.send_xml("<iq xmlns='jabber:client' type='get' id='health1' to='jvbbrewery@internal.auth.meet.test/jvb-1'><healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/></iq>").await;
    let got = jvb
        .next_matching(|e| e.name() == "iq" && e.attr("type") == Some("get"))
        .await
        .expect("at jvb");
    let id = got.attr("id").unwrap_or_default().to_string();
    jvb.send_xml(&format!("<iq xmlns='jabber:client' type='result' id='{id}' to='jvbbrewery@internal.auth.meet.test/focus'/>")).await;
    let r = f
        .next_matching(|e| e.attr("id") == Some("health1"))
        .await
        .expect("health result");
    assert_eq!(r.attr("type"), Some("result"));
}
