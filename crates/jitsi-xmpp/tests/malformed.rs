//! Malformed input: every case is a ParseError naming what is wrong, never a panic. The last
//! tests mutate every attribute and drop every child of full fixtures and check that parsing
//! either fails cleanly or yields a value that round-trips.

mod common;

use std::fmt::Debug;

use common::{el, over_the_wire, parse_err};
use jitsi_xmpp::error::MAX_VALUE_CHARS;
use jitsi_xmpp::{
    BridgeStats, Candidate, Colibri2Error, ConferenceIq, ConferenceModified, ConferenceModify,
    Endpoint, Fingerprint, ForceMute, HealthCheck, IceUdpTransport, Media, MediaSource, MuteIq,
    ParseError, PayloadType, RtpHdrExt, Sctp, Source, SsrcGroup, Transport,
};
use minidom::Element;
use minidom::rxml::{Namespace, NcName};

fn missing(element: &'static str, attribute: &'static str) -> ParseError {
    ParseError::MissingAttribute { element, attribute }
}

fn invalid_attr(err: &ParseError) -> (&'static str, &'static str, &str) {
    match err {
        ParseError::InvalidAttribute {
            element,
            attribute,
            value,
            ..
        } => (element, attribute, value.as_str()),
        other => panic!("expected InvalidAttribute, got {other:?}"),
    }
}

// ---------------------------------------------------------------- required attributes

#[test]
fn missing_required_attributes() {
    assert_eq!(
        parse_err::<ConferenceModify>(
            r#"<conference-modify xmlns="jitsi:colibri2" create="true"/>"#
        ),
        missing("conference-modify", "meeting-id")
    );
    assert_eq!(
        parse_err::<Endpoint>(r#"<endpoint xmlns="jitsi:colibri2" create="true"/>"#),
        missing("endpoint", "id")
    );
    assert_eq!(
        parse_err::<Media>(r#"<media xmlns="jitsi:colibri2"/>"#),
        missing("media", "type")
    );
    assert_eq!(
        parse_err::<MediaSource>(r#"<media-source xmlns="jitsi:colibri2" type="audio"/>"#),
        missing("media-source", "id")
    );
    assert_eq!(
        parse_err::<Source>(r#"<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" name="x"/>"#),
        missing("source", "ssrc")
    );
    assert_eq!(
        parse_err::<SsrcGroup>(
            r#"<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0"><source ssrc="1"/></ssrc-group>"#
        ),
        missing("ssrc-group", "semantics")
    );
    assert_eq!(
        parse_err::<Candidate>(
            r#"<candidate xmlns="urn:xmpp:jingle:transports:ice-udp:1" component="1" foundation="1" priority="1" protocol="udp" port="1" type="host"/>"#
        ),
        missing("candidate", "ip")
    );
    assert_eq!(
        parse_err::<Fingerprint>(
            r#"<fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" setup="active">AB</fingerprint>"#
        ),
        missing("fingerprint", "hash")
    );
    assert_eq!(
        parse_err::<IceUdpTransport>(
            r#"<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"><web-socket xmlns="http://jitsi.org/protocol/colibri"/></transport>"#
        ),
        missing("web-socket", "url")
    );
    assert_eq!(
        parse_err::<PayloadType>(
            r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" name="opus"/>"#
        ),
        missing("payload-type", "id")
    );
    assert_eq!(
        parse_err::<RtpHdrExt>(
            r#"<rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1"/>"#
        ),
        missing("rtp-hdrext", "uri")
    );
    assert_eq!(
        parse_err::<ConferenceIq>(
            r#"<conference xmlns="http://jitsi.org/protocol/focus" machine-uid="x"/>"#
        ),
        missing("conference", "room")
    );
    assert_eq!(
        parse_err::<ConferenceIq>(
            r#"<conference xmlns="http://jitsi.org/protocol/focus" room="r@c.d"><property value="1"/></conference>"#
        ),
        missing("property", "name")
    );
    assert_eq!(
        parse_err::<BridgeStats>(
            r#"<stats xmlns="http://jitsi.org/protocol/colibri"><stat value="1"/></stats>"#
        ),
        missing("stat", "name")
    );
    assert_eq!(
        parse_err::<BridgeStats>(
            r#"<stats xmlns="http://jitsi.org/protocol/colibri"><stat name="x"/></stats>"#
        ),
        missing("stat", "value")
    );
    assert_eq!(
        parse_err::<Endpoint>(
            r#"<endpoint xmlns="jitsi:colibri2" id="e"><capability/></endpoint>"#
        ),
        missing("capability", "name")
    );
    assert_eq!(
        parse_err::<Endpoint>(
            r#"<endpoint xmlns="jitsi:colibri2" id="e"><initial-last-n/></endpoint>"#
        ),
        missing("initial-last-n", "value")
    );
}

// ---------------------------------------------------------------- bad numbers

#[test]
fn non_numeric_and_out_of_range_numbers() {
    let src = |ssrc: &str| {
        parse_err::<Source>(&format!(
            r#"<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="{ssrc}"/>"#
        ))
    };
    for bad in ["abc", "", "-1", "4294967296", "1.5", " 1", "0x10", "１"] {
        let e = src(bad);
        assert_eq!(invalid_attr(&e).1, "ssrc", "ssrc={bad:?}");
    }

    let cand = |port: &str, priority: &str, component: &str| {
        Candidate::try_from(&el(&format!(
            r#"<candidate xmlns="urn:xmpp:jingle:transports:ice-udp:1" component="{component}" foundation="1"
                 priority="{priority}" protocol="udp" ip="192.0.2.1" port="{port}" type="host"/>"#
        )))
    };
    assert!(cand("10000", "1", "1").is_ok());
    for bad_port in ["65536", "-1", "abc", "99999999999999999999999999"] {
        let e = cand(bad_port, "1", "1").expect_err("bad port");
        assert_eq!(invalid_attr(&e).1, "port");
    }
    for bad_priority in ["4294967296", "-5", "high", "1e3"] {
        let e = cand("1", bad_priority, "1").expect_err("bad priority");
        assert_eq!(invalid_attr(&e).1, "priority");
    }
    let e = cand("1", "1", "256").expect_err("bad component");
    assert_eq!(invalid_attr(&e).1, "component");

    let e = parse_err::<Candidate>(
        r#"<candidate xmlns="urn:xmpp:jingle:transports:ice-udp:1" component="1" foundation="1" priority="1"
             protocol="udp" ip="192.0.2.1" port="1" type="host" rel-port="70000"/>"#,
    );
    assert_eq!(invalid_attr(&e).1, "rel-port");

    for bad_id in ["128", "255", "256", "opus", "-1"] {
        let e = parse_err::<PayloadType>(&format!(
            r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="{bad_id}" name="opus"/>"#
        ));
        assert_eq!(invalid_attr(&e).1, "id", "id={bad_id:?}");
    }
    let e = parse_err::<PayloadType>(
        r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="111" clockrate="fast"/>"#,
    );
    assert_eq!(invalid_attr(&e).1, "clockrate");

    for bad_id in ["0", "256", "x"] {
        let e = parse_err::<RtpHdrExt>(&format!(
            r#"<rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="{bad_id}" uri="u"/>"#
        ));
        assert_eq!(invalid_attr(&e).1, "id");
    }

    let e = parse_err::<SsrcGroup>(
        r#"<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="1"/><source ssrc="x"/></ssrc-group>"#,
    );
    assert_eq!(invalid_attr(&e), ("source", "ssrc", "x"));

    let e = parse_err::<Sctp>(r#"<sctp xmlns="jitsi:colibri2" port="five-thousand"/>"#);
    assert_eq!(invalid_attr(&e).1, "port");

    let e = parse_err::<Endpoint>(
        r#"<endpoint xmlns="jitsi:colibri2" id="e"><initial-last-n value="3000000000"/></endpoint>"#,
    );
    assert_eq!(invalid_attr(&e), ("initial-last-n", "value", "3000000000"));
}

#[test]
fn huge_values_are_truncated_in_errors() {
    // The XML reader caps attribute length, so build the elements directly: a peer-facing edge
    // may use another reader, and elements can be built by code.
    let with_attr = |xml: &str, name: &str, value: String| {
        let mut e = el(xml);
        let nc = NcName::try_from(name).expect("valid attribute name");
        e.set_attr(Namespace::NONE, nc, value);
        e
    };
    let huge = "9".repeat(1_000_000);
    let e = Source::try_from(&with_attr(
        r#"<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1"/>"#,
        "ssrc",
        huge,
    ))
    .expect_err("huge ssrc");
    let (_, attribute, value) = invalid_attr(&e);
    assert_eq!(attribute, "ssrc");
    assert!(value.chars().count() <= MAX_VALUE_CHARS + 1);
    assert!(e.to_string().len() < 400, "error message stays small");

    let e = Candidate::try_from(&with_attr(
        r#"<candidate xmlns="urn:xmpp:jingle:transports:ice-udp:1" component="1" foundation="1" priority="1" protocol="udp" ip="a" port="1" type="host"/>"#,
        "priority",
        "1".repeat(1_000_000),
    ))
    .expect_err("huge priority");
    assert_eq!(invalid_attr(&e).1, "priority");
    assert!(e.to_string().len() < 400);

    // Huge but valid strings are not this crate's business (size limits live at the edge).
    let ep = Endpoint::try_from(&with_attr(
        r#"<endpoint xmlns="jitsi:colibri2" id="x"/>"#,
        "id",
        "e".repeat(1_000_000),
    ))
    .expect("long ids parse");
    assert_eq!(ep.id.len(), 1_000_000);

    // Through the reader, as long a value as it allows.
    let e = parse_err::<Source>(&format!(
        r#"<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="{}"/>"#,
        "9".repeat(1000)
    ));
    assert_eq!(invalid_attr(&e).1, "ssrc");
}

// ---------------------------------------------------------------- bad enumerations / booleans / text

#[test]
fn bad_enumerations_booleans_and_text() {
    let e = parse_err::<Media>(r#"<media xmlns="jitsi:colibri2" type="application"/>"#);
    assert_eq!(invalid_attr(&e).1, "type");
    let e =
        parse_err::<MediaSource>(r#"<media-source xmlns="jitsi:colibri2" type="data" id="x"/>"#);
    assert_eq!(invalid_attr(&e).1, "type");
    let e = parse_err::<Candidate>(
        r#"<candidate xmlns="urn:xmpp:jingle:transports:ice-udp:1" component="1" foundation="1" priority="1" protocol="udp" ip="a" port="1" type="turn"/>"#,
    );
    assert_eq!(invalid_attr(&e).1, "type");
    let e = parse_err::<Fingerprint>(
        r#"<fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="server">AB</fingerprint>"#,
    );
    assert_eq!(invalid_attr(&e).1, "setup");
    let e = parse_err::<Sctp>(r#"<sctp xmlns="jitsi:colibri2" role="peer"/>"#);
    assert_eq!(invalid_attr(&e).1, "role");
    let e = parse_err::<ForceMute>(r#"<force-mute xmlns="jitsi:colibri2" audio="maybe"/>"#);
    assert_eq!(invalid_attr(&e), ("force-mute", "audio", "maybe"));
    let e = parse_err::<ConferenceModify>(
        r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m" create="yes"/>"#,
    );
    assert_eq!(invalid_attr(&e).1, "create");
    let e = parse_err::<ConferenceIq>(
        r#"<conference xmlns="http://jitsi.org/protocol/focus" room="r@c.d" ready="soon"/>"#,
    );
    assert_eq!(invalid_attr(&e).1, "ready");
    let e = parse_err::<Transport>(r#"<transport xmlns="jitsi:colibri2" ice-controlling="2"/>"#);
    assert_eq!(invalid_attr(&e).1, "ice-controlling");

    for text in ["", "yes", "mute", "truefalse"] {
        let e = parse_err::<MuteIq>(&format!(
            r#"<mute xmlns="http://jitsi.org/jitmeet/audio">{text}</mute>"#
        ));
        assert!(
            matches!(
                e,
                ParseError::InvalidText {
                    element: "mute",
                    ..
                }
            ),
            "{text:?}: {e:?}"
        );
    }
    let e = parse_err::<SsrcGroup>(
        r#"<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics=""/>"#,
    );
    assert_eq!(invalid_attr(&e).1, "semantics");
}

// ---------------------------------------------------------------- wrong names / namespaces

#[test]
fn wrong_namespace_or_name() {
    fn wrong<T>(xml: &str)
    where
        T: for<'a> TryFrom<&'a Element, Error = ParseError> + Debug,
    {
        let e = parse_err::<T>(xml);
        assert!(matches!(e, ParseError::WrongElement { .. }), "{xml}: {e:?}");
    }
    // Colibri v1 namespace is not Colibri2.
    wrong::<ConferenceModify>(
        r#"<conference-modify xmlns="http://jitsi.org/protocol/colibri" meeting-id="m"/>"#,
    );
    wrong::<ConferenceModify>(r#"<conference-modified xmlns="jitsi:colibri2" meeting-id="m"/>"#);
    wrong::<ConferenceModified>(r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m"/>"#);
    wrong::<Endpoint>(r#"<endpoint xmlns="http://jitsi.org/protocol/colibri" id="e"/>"#);
    wrong::<Transport>(r#"<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"/>"#);
    wrong::<IceUdpTransport>(r#"<transport xmlns="jitsi:colibri2"/>"#);
    wrong::<IceUdpTransport>(r#"<transport xmlns="urn:xmpp:jingle:transports:raw-udp:1"/>"#);
    wrong::<Source>(r#"<source xmlns="jitsi:colibri2" ssrc="1"/>"#);
    wrong::<PayloadType>(r#"<payload-type xmlns="jitsi:colibri2" id="1"/>"#);
    wrong::<ConferenceIq>(r#"<conference xmlns="http://jitsi.org/protocol/colibri" room="r"/>"#);
    wrong::<MuteIq>(r#"<mute xmlns="http://jitsi.org/jitmeet">true</mute>"#);
    wrong::<MuteIq>(r#"<unmute xmlns="http://jitsi.org/jitmeet/audio">true</unmute>"#);
    wrong::<BridgeStats>(r#"<stats xmlns="jitsi:colibri2"/>"#);
    wrong::<HealthCheck>(r#"<healthcheck xmlns="http://jitsi.org/protocol/colibri"/>"#);
    wrong::<Colibri2Error>(r#"<error xmlns="jabber:client"/>"#);

    // A long bogus name is truncated in the error.
    let long = "x".repeat(5000);
    let e = parse_err::<HealthCheck>(&format!(r#"<{long} xmlns="urn:example"/>"#));
    assert!(e.to_string().len() < 400);
}

#[test]
fn wrong_namespace_children_are_not_misread() {
    // A <payload-type> in the colibri2 namespace is not a Jingle payload type: kept verbatim,
    // not parsed (and so cannot fail).
    let m = Media::try_from(&el(
        r#"<media xmlns="jitsi:colibri2" type="audio"><payload-type id="not-a-number"/></media>"#,
    ))
    .expect("parses");
    assert!(m.payload_types.is_empty());
    assert_eq!(m.extra.len(), 1);
}

// ---------------------------------------------------------------- structure

#[test]
fn duplicate_singletons_and_nested_errors() {
    let e = parse_err::<Endpoint>(
        r#"<endpoint xmlns="jitsi:colibri2" id="e"><transport/><transport/></endpoint>"#,
    );
    assert_eq!(
        e,
        ParseError::DuplicateChild {
            element: "endpoint",
            child: "transport"
        }
    );
    let e =
        parse_err::<Transport>(r#"<transport xmlns="jitsi:colibri2"><sctp/><sctp/></transport>"#);
    assert!(matches!(
        e,
        ParseError::DuplicateChild { child: "sctp", .. }
    ));
    let e = parse_err::<ConferenceModified>(
        r#"<conference-modified xmlns="jitsi:colibri2"><sources/><sources/></conference-modified>"#,
    );
    assert!(matches!(
        e,
        ParseError::DuplicateChild {
            child: "sources",
            ..
        }
    ));

    // An error deep inside is reported as such.
    let e = parse_err::<ConferenceModify>(
        r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m">
             <endpoint id="e"><sources><media-source type="video" id="e-v0">
               <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="12345678901"/>
             </media-source></sources></endpoint>
           </conference-modify>"#,
    );
    assert_eq!(invalid_attr(&e), ("source", "ssrc", "12345678901"));
    assert!(e.to_string().contains("ssrc"));

    let e = parse_err::<ConferenceModified>(
        r#"<conference-modified xmlns="jitsi:colibri2"><endpoint id="e"><transport>
             <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1">
               <candidate component="1" foundation="1" priority="1" protocol="udp" ip="a" port="-80" type="host"/>
             </transport></transport></endpoint></conference-modified>"#,
    );
    assert_eq!(invalid_attr(&e), ("candidate", "port", "-80"));
}

#[test]
fn error_messages_name_element_and_attribute() {
    let e = parse_err::<ConferenceModify>(r#"<conference-modify xmlns="jitsi:colibri2"/>"#);
    assert_eq!(
        e.to_string(),
        "<conference-modify> is missing required attribute 'meeting-id'"
    );
    let e = parse_err::<Source>(r#"<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="abc"/>"#);
    let msg = e.to_string();
    assert!(
        msg.contains("<source>") && msg.contains("'ssrc'") && msg.contains("\"abc\""),
        "{msg}"
    );
}

// ---------------------------------------------------------------- mutation sweep

const NASTY: &[&str] = &[
    "",
    "-1",
    "0",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999999999999999999",
    "NaN",
    "1e400",
    "abc",
    "true",
    " ",
    "é\u{1F600}",
];

/// Paths (child indices from the root) of every element of `e`.
fn element_paths(e: &Element, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(prefix.clone());
    for (i, c) in e.children().enumerate() {
        prefix.push(i);
        element_paths(c, prefix, out);
        prefix.pop();
    }
}

fn at_mut<'a>(e: &'a mut Element, path: &[usize]) -> &'a mut Element {
    match path.split_first() {
        None => e,
        Some((first, rest)) => at_mut(
            e.children_mut()
                .nth(*first)
                .expect("path from element_paths"),
            rest,
        ),
    }
}

fn attr_names(e: &Element) -> Vec<String> {
    e.attrs()
        .iter()
        .map(|((_, name), _)| name.as_str().to_owned())
        .collect()
}

/// Parses `e` as T; whatever the outcome, it must not panic, and an accepted value must
/// round-trip.
fn try_parse<T>(e: &Element) -> bool
where
    T: for<'a> TryFrom<&'a Element, Error = ParseError> + PartialEq + Debug,
    for<'a> Element: From<&'a T>,
{
    match T::try_from(e) {
        Ok(v) => {
            let again = T::try_from(&over_the_wire(&Element::from(&v)))
                .expect("an accepted value must re-parse");
            assert_eq!(again, v);
            true
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            false
        }
    }
}

/// Every attribute set to every nasty value, every attribute removed, every child removed,
/// every element's text replaced.
fn sweep<T>(xml: &str) -> (usize, usize)
where
    T: for<'a> TryFrom<&'a Element, Error = ParseError> + PartialEq + Debug,
    for<'a> Element: From<&'a T>,
{
    let root = el(xml);
    assert!(try_parse::<T>(&root), "fixture must parse");
    let mut paths = Vec::new();
    element_paths(&root, &mut Vec::new(), &mut paths);
    let (mut ok, mut rejected) = (0, 0);
    let mut record = |accepted: bool| {
        if accepted { ok += 1 } else { rejected += 1 }
    };
    for path in &paths {
        let names = attr_names(at_mut(&mut root.clone(), path));
        for name in &names {
            let nc = NcName::try_from(name.as_str()).expect("attribute names are NCNames");
            for value in NASTY {
                let mut m = root.clone();
                at_mut(&mut m, path).set_attr(Namespace::NONE, nc.clone(), (*value).to_owned());
                record(try_parse::<T>(&m));
            }
            let mut m = root.clone();
            at_mut(&mut m, path)
                .attrs_mut()
                .remove(&Namespace::NONE, &nc);
            record(try_parse::<T>(&m));
        }
        let n_children = at_mut(&mut root.clone(), path).children().count();
        for i in 0..n_children {
            let mut m = root.clone();
            let target = at_mut(&mut m, path);
            let kept: Vec<Element> = target
                .children()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, c)| c.clone())
                .collect();
            target.take_nodes();
            for c in kept {
                target.append_child(c);
            }
            record(try_parse::<T>(&m));
        }
        for text in NASTY {
            let mut m = root.clone();
            at_mut(&mut m, path).append_text_node(*text);
            record(try_parse::<T>(&m));
        }
    }
    (ok, rejected)
}

const SWEEP_MODIFY: &str = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1" name="r@c.d" create="true" rtcstats-enabled="false" callstats-enabled="true">
  <endpoint id="e1" create="true" stats-id="s" muc-role="moderator">
    <media type="audio">
      <payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="111" name="opus" clockrate="48000" channels="2" ptime="20" maxptime="60">
        <parameter name="minptime" value="10"/>
        <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="nack" subtype="pli"/>
      </payload-type>
      <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/>
      <extmap-allow-mixed xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"/>
    </media>
    <transport ice-controlling="true" use-unique-port="true" ice-restart="false">
      <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p">
        <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active" required="true">AB:CD</fingerprint>
        <candidate component="1" foundation="1" generation="0" id="c" network="0" priority="2130706431" protocol="udp" ip="192.0.2.1" port="10000" type="srflx" rel-addr="10.0.0.1" rel-port="10000"/>
        <web-socket xmlns="http://jitsi.org/protocol/colibri" url="wss://x/colibri-ws/a/b/c"/>
        <rtcp-mux/>
      </transport>
      <sctp port="5000" role="server"/>
    </transport>
    <sources>
      <media-source type="video" id="e1-v0">
        <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1111" name="e1-v0" videoType="camera" rid="r0">
          <parameter name="msid" value="s t"/>
          <ssrc-info xmlns="http://jitsi.org/jitmeet" owner="e1"/>
        </source>
        <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="1111"/><source ssrc="1112"/></ssrc-group>
      </media-source>
    </sources>
    <force-mute audio="true" video="false"/>
    <capability name="source-names"/>
    <initial-last-n value="5"/>
  </endpoint>
</conference-modify>"#;

#[test]
fn mutation_sweep_colibri2() {
    let (ok, rejected) = sweep::<ConferenceModify>(SWEEP_MODIFY);
    assert!(ok > 0 && rejected > 0, "ok={ok} rejected={rejected}");
    let (ok, rejected) = sweep::<ConferenceModified>(
        r#"<conference-modified xmlns="jitsi:colibri2" meeting-id="m1">
             <endpoint id="e1"><transport><sctp port="5000" role="server"/></transport></endpoint>
             <sources><media-source type="audio" id="jvb-a0"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="3191927963" name="jvb-a0"/></media-source></sources>
           </conference-modified>"#,
    );
    assert!(ok > 0 && rejected > 0, "ok={ok} rejected={rejected}");
    sweep::<Colibri2Error>(r#"<error xmlns="jitsi:colibri2" reason="conference_not_found"/>"#);
}

#[test]
fn mutation_sweep_focus_and_brewery() {
    sweep::<ConferenceIq>(
        r#"<conference xmlns="http://jitsi.org/protocol/focus" room="r@c.d" machine-uid="m" session-id="s" ready="true" focusjid="f@a.d" identity="i">
             <property name="startBitrate" value="800"/>
           </conference>"#,
    );
    sweep::<MuteIq>(
        r#"<mute xmlns="http://jitsi.org/jitmeet/video" jid="r@c.d/x" actor="r@c.d/y">true</mute>"#,
    );
    sweep::<BridgeStats>(
        r#"<stats xmlns="http://jitsi.org/protocol/colibri"><stat name="stress_level" value="0.1"/><stat name="drain" value="false"/></stats>"#,
    );
    sweep::<HealthCheck>(r#"<healthcheck xmlns="http://jitsi.org/protocol/healthcheck"/>"#);
}
