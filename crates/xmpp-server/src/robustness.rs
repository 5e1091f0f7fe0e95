//! Randomised robustness tests: mutated and truncated input fed to the XML
//! stream parser, the client session and the MUC service must never panic,
//! and a well-formed session must keep working afterwards. Deterministic
//! (a fixed-seed xorshift generator), so a failure reproduces exactly.

use crate::c2s::{C2sEnv, C2sSession, HostPolicy, Transport};
use crate::muc::{MucConfig, MucService, RoomEvent};
use crate::sasl::AuthMethod;
use crate::xml::{StreamParser, XmlEvent, parse_document};
use minidom::Element;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: tiny and good enough to pick mutations.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const CORPUS: &[&str] = &[
    "<presence xmlns='jabber:client' from='a@meet.test/r' to='room@conference.meet.test/alice'><x xmlns='http://jabber.org/protocol/muc'><password>p</password></x><nick xmlns='http://jabber.org/protocol/nick'>Alice</nick></presence>",
    "<iq xmlns='jabber:client' type='set' id='1' from='a@meet.test/r' to='room@conference.meet.test'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='bob' role='none'><reason>x</reason></item></query></iq>",
    "<iq xmlns='jabber:client' type='set' id='2' from='a@meet.test/r' to='room@conference.meet.test'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomsecret'><value>s</value></field><field var='muc#roomconfig_maxusers'><value>5</value></field></x></query></iq>",
    "<message xmlns='jabber:client' type='groupchat' from='a@meet.test/r' to='room@conference.meet.test'><body>hi</body><subject>s</subject></message>",
    "<iq xmlns='jabber:client' type='get' id='3' from='b@meet.test/r' to='room@conference.meet.test/alice'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s'/></iq>",
    "<iq xmlns='jabber:client' type='result' id='3' from='a@meet.test/r' to='room@conference.meet.test/bob'/>",
    "<presence xmlns='jabber:client' type='unavailable' from='a@meet.test/r' to='room@conference.meet.test/alice'/>",
    "<iq xmlns='jabber:client' type='get' id='4' from='a@meet.test/r' to='[t]room@conference.meet.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
];

fn mutate(rng: &mut Rng, input: &str) -> Vec<u8> {
    let mut b = input.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = (rng.next() & 0xff) as u8;
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b.truncate(i);
            }
            2 if !b.is_empty() => {
                let i = rng.below(b.len());
                let j = rng.below(b.len());
                let (lo, hi) = (i.min(j), i.max(j));
                let piece = b[lo..hi].to_vec();
                b.splice(hi..hi, piece);
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                let j = (i + rng.below(16)).min(b.len());
                b.drain(i..j);
            }
            4 => {
                let tokens: [&[u8]; 8] = [
                    b"<",
                    b">",
                    b"'",
                    b"&amp;",
                    b"/>",
                    b"\xff",
                    b"xmlns='x'",
                    b"<a>",
                ];
                let t = tokens[rng.below(tokens.len())];
                let i = rng.below(b.len() + 1);
                b.splice(i..i, t.iter().copied());
            }
            _ => {}
        }
    }
    b
}

#[test]
fn stream_parser_never_panics_on_mutated_streams() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let mut p = StreamParser::new(4096);
        let mut out = Vec::new();
        let header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='meet.test' version='1.0'>";
        let mut data = mutate(&mut rng, header);
        data.extend(mutate(&mut rng, CORPUS[round % CORPUS.len()]));
        // Feed in random-sized chunks, as a socket would.
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len());
            if p.feed(&rest[..n], &mut out).is_err() {
                break;
            }
            rest = &rest[n..];
        }
    }
}

fn parse_mutated(rng: &mut Rng) -> Option<Element> {
    let src = CORPUS[rng.below(CORPUS.len())];
    parse_document(&mutate(rng, src), 65536).ok()
}

#[test]
fn muc_service_never_panics_and_keeps_serving() {
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let mut muc = MucService::new(MucConfig {
        domain: "conference.meet.test".into(),
        admins: vec!["focus@auth.meet.test".into()],
        room_locking: false,
        default_public_jids: true,
        restrict_room_creation: false,
        meeting_id: true,
        mapper_base: Some("meet.test".into()),
    });
    let (mut out, mut events) = (Vec::new(), Vec::<RoomEvent>::new());
    let mut handled = 0;
    for i in 0..5000u64 {
        // Interleave valid stanzas so rooms and occupants exist to be hit.
        let el = if i % 3 == 0 {
            parse_document(CORPUS[rng.below(CORPUS.len())].as_bytes(), 65536).ok()
        } else {
            parse_mutated(&mut rng)
        };
        if let Some(el) = el {
            muc.handle(el, i, &mut out, &mut events);
            handled += 1;
        }
        out.clear();
        events.clear();
    }
    assert!(
        handled > 1000,
        "the corpus mostly failed to parse: {handled}"
    );
    // Still works: a fresh join creates a room and answers with 110.
    let join = parse_document(
        b"<presence xmlns='jabber:client' from='z@meet.test/r' to='fresh@conference.meet.test/zed'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
        4096,
    )
    .expect("join");
    muc.handle(join, 9999, &mut out, &mut events);
    assert!(
        out.iter()
            .any(|e| crate::xml::to_string(e).contains("code=\"110\"")
                || crate::xml::to_string(e).contains("code='110'"))
    );
}

struct NullEnv;

impl C2sEnv for NullEnv {
    fn host_policy(&self, host: &str) -> Option<HostPolicy> {
        (host == "meet.test").then(|| HostPolicy {
            auth: AuthMethod::Anonymous,
            require_encryption: false,
            allow_unencrypted_plain: false,
            disabled_mechanisms: vec![],
        })
    }
    fn tls_available(&self, _host: &str) -> bool {
        false
    }
    fn credentials(
        &self,
        _u: &str,
        _h: &str,
    ) -> Result<Option<crate::accounts::Credentials>, String> {
        Ok(None)
    }
    fn bind(&mut self, _bare: &str, requested: Option<&str>) -> (String, u64) {
        (requested.unwrap_or("r").to_string(), 1)
    }
    fn unbind(&mut self, _bare: &str, _id: u64) {}
    fn set_presence(&mut self, _b: &str, _id: u64, _a: bool, _p: i8) {}
    fn route(&mut self, _stanza: Element) {}
    fn auth_failed(&mut self, _u: Option<&str>, _h: &str, _r: &str) {}
    fn auth_succeeded(&mut self, _j: &str, _m: &str) {}
}

#[test]
fn client_session_never_panics_on_mutated_input() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let mut env = NullEnv;
    let steps = [
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>",
        "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>",
        "<presence xmlns='jabber:client' to='room@conference.meet.test/n'/>",
        "<message xmlns='jabber:client' to='x@meet.test'><body>b</body></message>",
        "<iq xmlns='jabber:client' type='get' id='p' to='meet.test'><ping xmlns='urn:xmpp:ping'/></iq>",
    ];
    for _ in 0..2000 {
        let mut s = C2sSession::new(Transport::WebSocket, true);
        s.handle(
            XmlEvent::StreamOpen(crate::xml::StreamHeader {
                to: Some("meet.test".into()),
                version: Some("1.0".into()),
                ..Default::default()
            }),
            &mut env,
        );
        for (k, step) in steps.iter().enumerate() {
            let bytes = if rng.below(3) == 0 {
                mutate(&mut rng, step)
            } else {
                step.as_bytes().to_vec()
            };
            if let Ok(el) = parse_document(&bytes, 65536) {
                s.handle(XmlEvent::Element(el), &mut env);
            }
            if k == 0 && !s.is_closed() {
                // The restart after SASL success.
                s.handle(
                    XmlEvent::StreamOpen(crate::xml::StreamHeader {
                        to: Some("meet.test".into()),
                        version: Some("1.0".into()),
                        ..Default::default()
                    }),
                    &mut env,
                );
            }
            let _ = s.take_output();
        }
        s.disconnected(&mut env);
    }
}
