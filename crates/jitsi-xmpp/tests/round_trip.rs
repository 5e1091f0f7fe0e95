//! Round trips of stanza fragments shaped like jitsi-protocol.md's examples (written for these
//! tests): parse → Element → bytes → parse, typed values equal, nothing Jitsi sends lost.

mod common;

use common::{el, find, over_the_wire, round_trip};
use jitsi_xmpp::{
    BridgeStats, Candidate, CandidateType, Colibri2Error, ConferenceIq, ConferenceModified,
    ConferenceModify, Endpoint, ErrorReason, Fingerprint, ForceMute, HealthCheck, IceUdpTransport,
    Media, MediaSource, MediaType, MuteIq, MuteMedia, PayloadType, RtcpFb, RtpHdrExt, Sctp,
    SctpRole, Semantics, Setup, Source, Sources, SsrcGroup, Transport, ns,
};
use minidom::Element;

// ---------------------------------------------------------------- §1 focus conference IQ

const CONFERENCE_REQUEST: &str = r#"
<conference xmlns="http://jitsi.org/protocol/focus" room="myroom@conference.meet.example.com"
            machine-uid="0b8f1c77d2e2" session-id="prev-session">
  <property name="disableRtx" value="false"/>
  <property name="startBitrate" value="800"/>
  <property name="startAudioMuted" value="10"/>
  <property name="rtcstatsEnabled" value="false"/>
</conference>"#;

#[test]
fn conference_request() {
    let (c, _) = round_trip::<ConferenceIq>(CONFERENCE_REQUEST);
    assert_eq!(c.room, "myroom@conference.meet.example.com");
    assert_eq!(c.machine_uid.as_deref(), Some("0b8f1c77d2e2"));
    assert_eq!(c.session_id.as_deref(), Some("prev-session"));
    assert_eq!(c.ready, None);
    assert_eq!(c.properties.len(), 4);
    assert_eq!(c.property("startBitrate"), Some("800"));
    assert_eq!(c.property("disableRtx"), Some("false"));
    assert_eq!(c.property("minBitrate"), None);
}

#[test]
fn conference_result() {
    let (c, wire) = round_trip::<ConferenceIq>(
        r#"<conference xmlns="http://jitsi.org/protocol/focus" room="myroom@conference.meet.example.com"
                  ready="true" focusjid="focus@auth.meet.example.com" session-id="s1"
                  identity="user@meet.example.com">
             <property name="authentication" value="false"/>
             <property name="sipGatewayEnabled" value="true"/>
           </conference>"#,
    );
    assert_eq!(c.ready, Some(true));
    assert_eq!(c.focusjid.as_deref(), Some("focus@auth.meet.example.com"));
    assert_eq!(c.identity.as_deref(), Some("user@meet.example.com"));
    assert_eq!(c.property("authentication"), Some("false"));
    assert_eq!(wire.attr("ready"), Some("true"));
}

#[test]
fn conference_built_from_scratch() {
    let mut c = ConferenceIq::new("r@conference.d");
    c.ready = Some(false);
    c.focusjid = Some("focus@auth.d".into());
    c.properties.push(("authentication".into(), "false".into()));
    let wire = over_the_wire(&Element::from(&c));
    assert!(wire.is("conference", ns::FOCUS));
    assert_eq!(wire.attr("ready"), Some("false"));
    assert_eq!(ConferenceIq::try_from(wire).expect("parses"), c);
}

// ---------------------------------------------------------------- §2.5 mute IQs

#[test]
fn mute_request_and_order() {
    let (m, wire) = round_trip::<MuteIq>(
        r#"<mute xmlns="http://jitsi.org/jitmeet/audio" jid="room@conference.d/6a8c1f2e">true</mute>"#,
    );
    assert_eq!(m.media, MuteMedia::Audio);
    assert_eq!(m.jid.as_deref(), Some("room@conference.d/6a8c1f2e"));
    assert!(m.mute);
    assert_eq!(wire.text(), "true");

    let (m, wire) = round_trip::<MuteIq>(
        r#"<mute xmlns="http://jitsi.org/jitmeet/video" actor="room@conference.d/mod">false</mute>"#,
    );
    assert_eq!(m.media, MuteMedia::Video);
    assert_eq!(m.actor.as_deref(), Some("room@conference.d/mod"));
    assert!(!m.mute);
    assert!(wire.is("mute", ns::JITMEET_VIDEO));

    let (m, _) =
        round_trip::<MuteIq>(r#"<mute xmlns="http://jitsi.org/jitmeet/desktop"> true </mute>"#);
    assert_eq!(m.media, MuteMedia::Desktop);
    assert!(m.mute);
}

// ---------------------------------------------------------------- §3.2 ICE-UDP transport

const BRIDGE_TRANSPORT: &str = r#"
<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="3kg4b1fmrn9qf" pwd="4u0l0h1tf8ol4dcu2kq2ifqe3o">
  <web-socket xmlns="http://jitsi.org/protocol/colibri"
              url="wss://meet.example.com/colibri-ws/default-id/5c3e92a1b0d47e11/6a8c1f2e?pwd=4u0l0h1tf8ol4dcu2kq2ifqe3o"/>
  <rtcp-mux/>
  <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">AB:CD:01:23:EF</fingerprint>
  <candidate component="1" foundation="1" generation="0" id="653aa1ba2" network="0" priority="2130706431"
             protocol="udp" ip="198.51.100.7" port="10000" type="host"/>
  <candidate component="1" foundation="2" generation="0" id="653aa1ba3" network="0" priority="1694498815"
             protocol="udp" ip="203.0.113.9" port="10000" type="srflx" rel-addr="198.51.100.7" rel-port="10000"/>
  <sctpmap xmlns="urn:xmpp:jingle:transports:dtls-sctp:1" number="5000" protocol="webrtc-datachannel" streams="1024"/>
</transport>"#;

#[test]
fn ice_transport_keeps_jitsi_extras() {
    let (t, wire) = round_trip::<IceUdpTransport>(BRIDGE_TRANSPORT);
    assert_eq!(t.ufrag.as_deref(), Some("3kg4b1fmrn9qf"));
    assert_eq!(t.pwd.as_deref(), Some("4u0l0h1tf8ol4dcu2kq2ifqe3o"));
    assert!(t.rtcp_mux);
    assert_eq!(
        t.web_socket.as_deref(),
        Some(
            "wss://meet.example.com/colibri-ws/default-id/5c3e92a1b0d47e11/6a8c1f2e?pwd=4u0l0h1tf8ol4dcu2kq2ifqe3o"
        )
    );
    assert_eq!(
        t.fingerprints,
        vec![Fingerprint {
            hash: "sha-256".into(),
            setup: Some(Setup::Actpass),
            required: None,
            value: "AB:CD:01:23:EF".into(),
        }]
    );
    assert_eq!(t.candidates.len(), 2);
    let srflx = &t.candidates[1];
    assert_eq!(srflx.typ, CandidateType::Srflx);
    assert_eq!(srflx.priority, 1_694_498_815);
    assert_eq!(srflx.rel_addr.as_deref(), Some("198.51.100.7"));
    assert_eq!(srflx.rel_port, Some(10000));
    assert_eq!(srflx.network, Some(0));
    assert_eq!(srflx.generation, Some(0));
    assert_eq!(srflx.id.as_deref(), Some("653aa1ba3"));
    // <sctpmap> is not modelled: kept verbatim.
    assert_eq!(t.extra.len(), 1);
    assert!(t.extra[0].is("sctpmap", ns::JINGLE_DTLS_SCTP));

    // On the wire, in the right namespaces.
    let ws = find(&wire, "web-socket", ns::COLIBRI).expect("web-socket kept");
    assert!(ws.attr("url").is_some_and(|u| u.starts_with("wss://")));
    assert!(find(&wire, "rtcp-mux", ns::JINGLE_ICE_UDP).is_some());
    let fp = find(&wire, "fingerprint", ns::JINGLE_DTLS).expect("fingerprint kept");
    assert_eq!(fp.attr("setup"), Some("actpass"));
    assert_eq!(fp.text(), "AB:CD:01:23:EF");
    let sctpmap = find(&wire, "sctpmap", ns::JINGLE_DTLS_SCTP).expect("sctpmap kept");
    assert_eq!(sctpmap.attr("streams"), Some("1024"));
}

#[test]
fn client_transport_info() {
    // LJM's transport-info: fingerprint with setup=active and required, mDNS / tcp candidates.
    let (t, _) = round_trip::<IceUdpTransport>(
        r#"<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Xyz1" pwd="pw">
             <candidate component="1" foundation="842163049" generation="0" id="c1" network="1"
                        priority="1677729535" protocol="udp" ip="192.0.2.44" port="54321" type="srflx"
                        rel-addr="0.0.0.0" rel-port="0"/>
             <candidate component="1" foundation="9" priority="2122260223" protocol="udp"
                        ip="4f2a6e1c-3b1d-4c55-9d7e-2f7f2b9a1a11.local" port="61000" type="host"/>
             <candidate component="1" foundation="3" priority="1518280447" protocol="tcp"
                        ip="192.0.2.44" port="9" type="host" tcptype="active"/>
             <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active" required="true">
               12:34:56
             </fingerprint>
           </transport>"#,
    );
    assert!(!t.rtcp_mux);
    assert_eq!(t.web_socket, None);
    assert_eq!(t.fingerprints[0].setup, Some(Setup::Active));
    assert_eq!(t.fingerprints[0].required, Some(true));
    assert_eq!(t.fingerprints[0].value, "12:34:56");
    assert_eq!(
        t.candidates[1].ip,
        "4f2a6e1c-3b1d-4c55-9d7e-2f7f2b9a1a11.local"
    );
    assert_eq!(t.candidates[1].generation, None);
    assert_eq!(t.candidates[2].tcptype.as_deref(), Some("active"));
    assert!(t.extra.is_empty());
}

#[test]
fn candidate_and_fingerprint_alone() {
    let (c, _) = round_trip::<Candidate>(
        r#"<candidate xmlns="urn:xmpp:jingle:transports:ice-udp:1" component="1" foundation="1"
             priority="4294967295" protocol="udp" ip="2001:db8::1" port="65535" type="relay"
             rel-addr="198.51.100.1" rel-port="3478"/>"#,
    );
    assert_eq!(c.priority, u32::MAX);
    assert_eq!(c.port, u16::MAX);
    assert_eq!(c.typ, CandidateType::Relay);

    let (f, _) = round_trip::<Fingerprint>(
        r#"<fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-1"/>"#,
    );
    assert_eq!(f.setup, None);
    assert_eq!(f.value, "");
}

// ---------------------------------------------------------------- §3.2 sources

#[test]
fn source_with_everything_jitsi_sends() {
    let (s, wire) = round_trip::<Source>(
        r#"<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1111" name="b91e03d4-v0" videoType="camera">
             <parameter name="cname" value="mixed"/>
             <parameter name="msid" value="stream1 track1"/>
             <ssrc-info xmlns="http://jitsi.org/jitmeet" owner="room@conference.d/b91e03d4"/>
           </source>"#,
    );
    assert_eq!(s.ssrc, 1111);
    assert_eq!(s.name.as_deref(), Some("b91e03d4-v0"));
    assert_eq!(s.msid.as_deref(), Some("stream1 track1"));
    assert_eq!(s.owner.as_deref(), Some("room@conference.d/b91e03d4"));
    assert_eq!(s.video_type.as_deref(), Some("camera"));
    assert_eq!(
        s.parameters,
        vec![("cname".to_owned(), Some("mixed".to_owned()))]
    );

    assert_eq!(wire.attr("name"), Some("b91e03d4-v0"));
    assert_eq!(wire.attr("videoType"), Some("camera"));
    let info = find(&wire, "ssrc-info", ns::JITMEET).expect("ssrc-info kept");
    assert_eq!(info.attr("owner"), Some("room@conference.d/b91e03d4"));
    let msid = wire
        .children()
        .find(|c| c.is("parameter", ns::JINGLE_SSMA) && c.attr("name") == Some("msid"))
        .expect("msid parameter kept");
    assert_eq!(msid.attr("value"), Some("stream1 track1"));
}

#[test]
fn source_minimal_and_max_ssrc() {
    let (s, _) = round_trip::<Source>(
        r#"<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="4294967295"/>"#,
    );
    assert_eq!(s, Source::new(u32::MAX));
}

#[test]
fn ssrc_groups() {
    let (g, _) = round_trip::<SsrcGroup>(
        r#"<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="SIM">
             <source ssrc="1111"/><source ssrc="5555"/><source ssrc="6666"/>
           </ssrc-group>"#,
    );
    assert_eq!(g.semantics, Semantics::Sim);
    assert_eq!(g.ssrcs, vec![1111, 5555, 6666]);

    let (g, _) = round_trip::<SsrcGroup>(
        r#"<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="1111"/><source ssrc="1112"/></ssrc-group>"#,
    );
    assert_eq!(g.semantics, Semantics::Fid);

    let (g, wire) = round_trip::<SsrcGroup>(
        r#"<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FEC-FR"><source ssrc="1"/><source ssrc="2"/></ssrc-group>"#,
    );
    assert_eq!(g.semantics, Semantics::Other("FEC-FR".into()));
    assert_eq!(wire.attr("semantics"), Some("FEC-FR"));
}

// ---------------------------------------------------------------- §3.2 RTP

#[test]
fn payload_types() {
    let (opus, wire) = round_trip::<PayloadType>(
        r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="111" name="opus" clockrate="48000" channels="2">
             <parameter name="minptime" value="10"/>
             <parameter name="useinbandfec" value="1"/>
             <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"/>
           </payload-type>"#,
    );
    assert_eq!(opus.id, 111);
    assert_eq!(opus.name.as_deref(), Some("opus"));
    assert_eq!(opus.clockrate, Some(48000));
    assert_eq!(opus.channels, Some(2));
    assert_eq!(opus.parameter("useinbandfec"), Some("1"));
    assert_eq!(opus.rtcp_fbs, vec![RtcpFb::new("transport-cc", None)]);
    assert!(find(&wire, "rtcp-fb", ns::JINGLE_RTCP_FB).is_some());

    let (vp8, _) = round_trip::<PayloadType>(
        r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="100" name="VP8" clockrate="90000">
             <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="ccm" subtype="fir"/>
             <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="nack"/>
             <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="nack" subtype="pli"/>
             <parameter name="x-google-start-bitrate" value="800"/>
             <rtcp-fb-trr-int xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" value="100"/>
           </payload-type>"#,
    );
    assert_eq!(
        vp8.rtcp_fbs,
        vec![
            RtcpFb::new("ccm", Some("fir")),
            RtcpFb::new("nack", None),
            RtcpFb::new("nack", Some("pli")),
        ]
    );
    assert_eq!(vp8.parameter("x-google-start-bitrate"), Some("800"));
    assert_eq!(vp8.extra.len(), 1, "rtcp-fb-trr-int kept verbatim");

    // RED: LJM writes fmtp without '=' as a bare value.
    let (red, wire) = round_trip::<PayloadType>(
        r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="112" name="red" clockrate="48000" channels="2">
             <parameter value="111/111"/>
           </payload-type>"#,
    );
    assert_eq!(red.parameters, vec![(String::new(), "111/111".to_owned())]);
    let p = find(&wire, "parameter", ns::JINGLE_RTP).expect("parameter kept");
    assert_eq!(p.attr("name"), None);
    assert_eq!(p.attr("value"), Some("111/111"));

    let (rtx, _) = round_trip::<PayloadType>(
        r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="96" name="rtx" clockrate="90000"><parameter name="apt" value="100"/></payload-type>"#,
    );
    assert_eq!(rtx.parameter("apt"), Some("100"));

    let (pcmu, _) =
        round_trip::<PayloadType>(r#"<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="0"/>"#);
    assert_eq!(pcmu.name, None);
}

#[test]
fn rtp_hdrext() {
    let (h, wire) = round_trip::<RtpHdrExt>(
        r#"<rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/>"#,
    );
    assert_eq!(
        h,
        RtpHdrExt::new(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
    );
    assert!(wire.is("rtp-hdrext", ns::JINGLE_RTP_HDREXT));
}

// ---------------------------------------------------------------- §4.2 Colibri2

const ALLOCATE: &str = r#"
<conference-modify xmlns="jitsi:colibri2" meeting-id="0b9e5a2c-1b7f-4a1e-9f5e-3c1d2b3a4f5e"
                   name="room@conference.meet.example.com" create="true" rtcstats-enabled="false">
  <endpoint id="6a8c1f2e" create="true" stats-id="Elmer-3ab" muc-role="moderator">
    <media type="audio">
      <payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="111" name="opus" clockrate="48000" channels="2">
        <parameter name="minptime" value="10"/>
        <parameter name="useinbandfec" value="1"/>
        <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"/>
      </payload-type>
      <payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="126" name="telephone-event" clockrate="8000"/>
      <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/>
      <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="5" uri="http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"/>
      <extmap-allow-mixed xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"/>
    </media>
    <media type="video">
      <payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="100" name="VP8" clockrate="90000">
        <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="ccm" subtype="fir"/>
        <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="nack"/>
        <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="nack" subtype="pli"/>
      </payload-type>
      <payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="96" name="rtx" clockrate="90000">
        <parameter name="apt" value="100"/>
      </payload-type>
      <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="3" uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"/>
    </media>
    <transport ice-controlling="true"><sctp/></transport>
    <capability name="source-names"/>
    <capability name="ssrc-rewriting"/>
    <force-mute audio="true" video="false"/>
    <initial-last-n value="-1"/>
  </endpoint>
</conference-modify>"#;

#[test]
fn colibri2_allocate() {
    let (c, wire) = round_trip::<ConferenceModify>(ALLOCATE);
    assert_eq!(c.meeting_id, "0b9e5a2c-1b7f-4a1e-9f5e-3c1d2b3a4f5e");
    assert_eq!(c.name.as_deref(), Some("room@conference.meet.example.com"));
    assert!(c.create);
    assert!(!c.expire);
    assert_eq!(c.rtcstats_enabled, Some(false));
    assert_eq!(c.callstats_enabled, None);
    assert!(c.extra.is_empty());

    let ep = &c.endpoints[0];
    assert_eq!(ep.id, "6a8c1f2e");
    assert!(ep.create);
    assert_eq!(ep.stats_id.as_deref(), Some("Elmer-3ab"));
    assert_eq!(ep.muc_role.as_deref(), Some("moderator"));
    assert_eq!(ep.media.len(), 2);
    let audio = &ep.media[0];
    assert_eq!(audio.kind, MediaType::Audio);
    assert_eq!(audio.payload_types.len(), 2);
    assert_eq!(audio.payload_types[0].parameter("minptime"), Some("10"));
    assert_eq!(audio.hdrexts[1].id, 5);
    assert!(audio.extmap_allow_mixed);
    let video = &ep.media[1];
    assert_eq!(video.kind, MediaType::Video);
    assert!(!video.extmap_allow_mixed);
    assert_eq!(video.payload_types[1].parameter("apt"), Some("100"));
    let t = ep.transport.as_ref().expect("transport");
    assert_eq!(t.ice_controlling, Some(true));
    assert_eq!(t.sctp, Some(Sctp::default()));
    assert_eq!(t.ice, None);
    assert!(ep.has_capability("source-names"));
    assert_eq!(ep.capabilities, vec!["source-names", "ssrc-rewriting"]);
    assert_eq!(
        ep.force_mute,
        Some(ForceMute {
            audio: true,
            video: false
        })
    );
    assert_eq!(ep.initial_last_n, Some(-1));
    assert!(ep.extra.is_empty());

    // Spot-check the wire form.
    assert!(wire.is("conference-modify", ns::COLIBRI2));
    assert_eq!(wire.attr("create"), Some("true"));
    assert_eq!(wire.attr("rtcstats-enabled"), Some("false"));
    assert!(find(&wire, "payload-type", ns::JINGLE_RTP).is_some());
    assert!(find(&wire, "extmap-allow-mixed", ns::JINGLE_RTP_HDREXT).is_some());
    let fm = find(&wire, "force-mute", ns::COLIBRI2).expect("force-mute");
    assert_eq!(fm.attr("audio"), Some("true"));
    assert_eq!(fm.attr("video"), Some("false"));
}

const ALLOCATED: &str = r#"
<conference-modified xmlns="jitsi:colibri2" meeting-id="0b9e5a2c-1b7f-4a1e-9f5e-3c1d2b3a4f5e">
  <endpoint id="6a8c1f2e">
    <transport>
      <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="3kg4b1fmrn9qf" pwd="4u0l0h1tf8ol4dcu2kq2ifqe3o">
        <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">AB:CD:EF</fingerprint>
        <candidate component="1" foundation="1" generation="0" id="653aa1ba2" network="0" priority="2130706431"
                   protocol="udp" ip="198.51.100.7" port="10000" type="host"/>
        <web-socket xmlns="http://jitsi.org/protocol/colibri" url="wss://meet.example.com/colibri-ws/default-id/c0ffee/6a8c1f2e?pwd=4u0l0h1tf8ol4dcu2kq2ifqe3o"/>
        <rtcp-mux/>
      </transport>
      <sctp port="5000" role="server"/>
    </transport>
  </endpoint>
  <sources>
    <media-source type="audio" id="jvb-a0">
      <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="3191927963" name="jvb-a0"/>
    </media-source>
    <media-source type="video" id="jvb-v0">
      <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1863439907" name="jvb-v0"/>
    </media-source>
  </sources>
</conference-modified>"#;

#[test]
fn colibri2_allocated() {
    let (c, wire) = round_trip::<ConferenceModified>(ALLOCATED);
    assert_eq!(
        c.meeting_id.as_deref(),
        Some("0b9e5a2c-1b7f-4a1e-9f5e-3c1d2b3a4f5e")
    );
    let t = c.endpoints[0].transport.as_ref().expect("transport");
    assert_eq!(
        t.sctp,
        Some(Sctp {
            port: Some(5000),
            role: Some(SctpRole::Server)
        })
    );
    let ice = t.ice.as_ref().expect("ice-udp transport");
    assert_eq!(ice.ufrag.as_deref(), Some("3kg4b1fmrn9qf"));
    assert!(ice.rtcp_mux);
    assert!(
        ice.web_socket
            .as_deref()
            .is_some_and(|u| u.contains("/colibri-ws/"))
    );
    assert_eq!(ice.fingerprints[0].setup, Some(Setup::Actpass));
    assert_eq!(ice.candidates[0].port, 10000);

    let sources = c.sources.as_ref().expect("feedback sources");
    assert_eq!(sources.media_sources.len(), 2);
    assert_eq!(sources.media_sources[0].kind, MediaType::Audio);
    assert_eq!(sources.media_sources[0].id, "jvb-a0");
    assert_eq!(sources.media_sources[0].sources[0].ssrc, 3_191_927_963);
    assert_eq!(
        sources.media_sources[1].sources[0].name.as_deref(),
        Some("jvb-v0")
    );

    // Nested transports keep their namespaces on the wire.
    let outer = find(&wire, "transport", ns::COLIBRI2).expect("colibri2 transport");
    assert!(outer.get_child("transport", ns::JINGLE_ICE_UDP).is_some());
    assert!(find(&wire, "web-socket", ns::COLIBRI).is_some());
    assert!(find(&wire, "rtcp-mux", ns::JINGLE_ICE_UDP).is_some());
}

#[test]
fn colibri2_update_endpoint_with_client_transport_and_sources() {
    let (c, _) = round_trip::<ConferenceModify>(
        r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1">
             <endpoint id="b91e03d4">
               <transport ice-restart="true" use-unique-port="true">
                 <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Xyz1" pwd="pw">
                   <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">12:34</fingerprint>
                   <candidate component="1" foundation="1" priority="1" protocol="udp" ip="192.0.2.44" port="5000" type="host"/>
                 </transport>
               </transport>
               <sources>
                 <media-source type="video" id="b91e03d4-v0">
                   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1111" name="b91e03d4-v0" videoType="camera">
                     <parameter name="msid" value="stream1 track1"/>
                   </source>
                   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1112" name="b91e03d4-v0"/>
                   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="5555" name="b91e03d4-v0"/>
                   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="6666" name="b91e03d4-v0"/>
                   <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="SIM">
                     <source ssrc="1111"/><source ssrc="5555"/><source ssrc="6666"/>
                   </ssrc-group>
                   <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID">
                     <source ssrc="1111"/><source ssrc="1112"/>
                   </ssrc-group>
                 </media-source>
                 <media-source type="audio" id="b91e03d4-a0">
                   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="2222" name="b91e03d4-a0">
                     <parameter name="msid" value="stream1 track2"/>
                   </source>
                 </media-source>
               </sources>
             </endpoint>
           </conference-modify>"#,
    );
    assert!(!c.create);
    let ep = &c.endpoints[0];
    assert!(!ep.create);
    let t = ep.transport.as_ref().expect("transport");
    assert!(t.ice_restart);
    assert!(t.use_unique_port);
    assert_eq!(t.ice_controlling, None);
    assert_eq!(t.sctp, None);
    let ice = t.ice.as_ref().expect("ice");
    assert_eq!(ice.fingerprints[0].setup, Some(Setup::Active));
    let sources = ep.sources.as_ref().expect("sources");
    let video = &sources.media_sources[0];
    assert_eq!(video.kind, MediaType::Video);
    assert_eq!(video.sources.len(), 4);
    assert_eq!(video.sources[0].msid.as_deref(), Some("stream1 track1"));
    assert_eq!(video.sources[0].video_type.as_deref(), Some("camera"));
    assert_eq!(video.ssrc_groups.len(), 2);
    assert_eq!(video.ssrc_groups[0].semantics, Semantics::Sim);
    assert_eq!(video.ssrc_groups[1].ssrcs, vec![1111, 1112]);
    assert_eq!(sources.media_sources[1].kind, MediaType::Audio);
}

#[test]
fn colibri2_expire_endpoint_and_conference() {
    let (c, wire) = round_trip::<ConferenceModify>(
        r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"><endpoint id="EP" expire="true"/></conference-modify>"#,
    );
    assert!(c.endpoints[0].expire);
    let ep = find(&wire, "endpoint", ns::COLIBRI2).expect("endpoint");
    assert_eq!(ep.attr("expire"), Some("true"));
    assert_eq!(ep.attr("create"), None);

    let (c, wire) = round_trip::<ConferenceModify>(
        r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1" expire="true"/>"#,
    );
    assert!(c.expire);
    assert!(c.endpoints.is_empty());
    assert_eq!(wire.attr("expire"), Some("true"));
}

#[test]
fn colibri2_unmodelled_children_pass_through() {
    let (c, wire) = round_trip::<ConferenceModify>(
        r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1" callstats-enabled="false">
             <relay id="jvb-2" create="true" mesh-id="0">
               <transport><sctp/></transport>
               <endpoints><endpoint id="remote1"/></endpoints>
             </relay>
             <connects><connect url="wss://example.com/x" protocol="mediajson" type="transcriber" audio="true"/></connects>
             <endpoint id="e1">
               <feature xmlns="jitsi:colibri2" name="future-thing"/>
               <media type="audio"><x-future xmlns="urn:example:future" a="1"/></media>
             </endpoint>
             <sources><media-source type="audio" id="conf-a0"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="7"/></media-source></sources>
           </conference-modify>"#,
    );
    assert_eq!(c.callstats_enabled, Some(false));
    assert_eq!(c.extra.len(), 2, "relay and connects kept");
    assert!(c.extra[0].is("relay", ns::COLIBRI2));
    assert!(c.extra[1].is("connects", ns::COLIBRI2));
    assert_eq!(c.endpoints[0].extra.len(), 1);
    assert_eq!(c.endpoints[0].media[0].extra.len(), 1);
    assert_eq!(c.sources.as_ref().map(|s| s.media_sources.len()), Some(1));
    let relay = find(&wire, "relay", ns::COLIBRI2).expect("relay on the wire");
    assert_eq!(relay.attr("mesh-id"), Some("0"));
    assert!(find(&wire, "x-future", "urn:example:future").is_some());
}

#[test]
fn colibri2_parts_alone() {
    let (e, _) = round_trip::<Endpoint>(r#"<endpoint xmlns="jitsi:colibri2" id="only-id"/>"#);
    assert_eq!(e, Endpoint::new("only-id"));

    let (m, _) = round_trip::<Media>(r#"<media xmlns="jitsi:colibri2" type="video"/>"#);
    assert_eq!(m, Media::new(MediaType::Video));

    let (t, _) =
        round_trip::<Transport>(r#"<transport xmlns="jitsi:colibri2" ice-controlling="false"/>"#);
    assert_eq!(t.ice_controlling, Some(false));

    let (s, _) = round_trip::<Sctp>(r#"<sctp xmlns="jitsi:colibri2" port="5000" role="client"/>"#);
    assert_eq!(s.role, Some(SctpRole::Client));

    let (s, _) = round_trip::<Sources>(r#"<sources xmlns="jitsi:colibri2"/>"#);
    assert!(
        s.media_sources.is_empty(),
        "an empty set clears all sources"
    );

    let (ms, _) = round_trip::<MediaSource>(
        r#"<media-source xmlns="jitsi:colibri2" type="audio" id="a-0"/>"#,
    );
    assert_eq!(ms, MediaSource::new(MediaType::Audio, "a-0"));

    let (f, _) = round_trip::<ForceMute>(r#"<force-mute xmlns="jitsi:colibri2" video="true"/>"#);
    assert_eq!(
        f,
        ForceMute {
            audio: false,
            video: true
        }
    );
}

#[test]
fn colibri2_errors() {
    let (e, wire) = round_trip::<Colibri2Error>(
        r#"<error xmlns="jitsi:colibri2" reason="conference_not_found"/>"#,
    );
    assert_eq!(e.reason, ErrorReason::ConferenceNotFound);
    assert_eq!(wire.attr("reason"), Some("conference_not_found"));

    let (e, _) = round_trip::<Colibri2Error>(
        r#"<error xmlns="jitsi:colibri2" reason="GRACEFUL_SHUTDOWN"/>"#,
    );
    assert_eq!(e.reason, ErrorReason::GracefulShutdown);

    let (e, _) = round_trip::<Colibri2Error>(r#"<error xmlns="jitsi:colibri2"/>"#);
    assert_eq!(e.reason, ErrorReason::Unspecified);

    let (e, _) = round_trip::<Colibri2Error>(
        r#"<error xmlns="jitsi:colibri2" reason="endpoint_not_found"/>"#,
    );
    assert_eq!(e.reason, ErrorReason::Other("endpoint_not_found".into()));
}

#[test]
fn colibri2_built_by_the_focus() {
    // What our focus would build for a first participant, then what the bridge would answer.
    let mut ep = Endpoint::new("6a8c1f2e");
    ep.create = true;
    ep.stats_id = Some("Elmer-3ab".into());
    ep.capabilities.push("source-names".into());
    let mut audio = Media::new(MediaType::Audio);
    let mut opus = PayloadType::new(111, "opus", 48000);
    opus.channels = Some(2);
    opus.parameters.push(("useinbandfec".into(), "1".into()));
    audio.payload_types.push(opus);
    audio.hdrexts.push(RtpHdrExt::new(
        1,
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    ));
    ep.media.push(audio);
    ep.transport = Some(Transport {
        ice_controlling: Some(true),
        sctp: Some(Sctp::default()),
        ..Default::default()
    });
    let mut req = ConferenceModify::new("m-1");
    req.create = true;
    req.name = Some("room@conference.d".into());
    req.endpoints.push(ep);
    let wire = over_the_wire(&Element::from(req.clone()));
    assert_eq!(ConferenceModify::try_from(wire).expect("parses"), req);

    let mut src = Source::new(3_191_927_963);
    src.name = Some("jvb-a0".into());
    let mut ms = MediaSource::new(MediaType::Audio, "jvb-a0");
    ms.sources.push(src);
    let resp = ConferenceModified {
        meeting_id: Some("m-1".into()),
        endpoints: vec![Endpoint::new("6a8c1f2e")],
        sources: Some(Sources {
            media_sources: vec![ms],
        }),
        extra: Vec::new(),
    };
    let wire = over_the_wire(&Element::from(&resp));
    assert_eq!(ConferenceModified::try_from(&wire).expect("parses"), resp);
}

// ---------------------------------------------------------------- §5 brewery

const STATS: &str = r#"
<stats xmlns="http://jitsi.org/protocol/colibri">
  <stat name="stress_level" value="0.012"/>
  <stat name="average_participant_stress" value="0.01"/>
  <stat name="version" value="2.1.595-g3637fda4"/>
  <stat name="region" value="us-east-1"/>
  <stat name="relay_id" value="10.0.0.5"/>
  <stat name="graceful_shutdown" value="false"/>
  <stat name="drain" value="true"/>
  <stat name="shutting_down" value="false"/>
  <stat name="healthy" value="true"/>
  <stat name="release" value="9909"/>
  <stat name="colibri2" value="true"/>
  <stat name="current_timestamp" value="2021-12-10 11:44:05.123"/>
  <stat name="conferences" value="3"/>
  <stat name="participants" value="7"/>
</stats>"#;

#[test]
fn bridge_stats() {
    let (s, wire) = round_trip::<BridgeStats>(STATS);
    assert_eq!(s.stats.len(), 14);
    assert_eq!(s.stress_level(), Some(0.012));
    assert_eq!(s.average_participant_stress(), Some(0.01));
    assert_eq!(s.version(), Some("2.1.595-g3637fda4"));
    assert_eq!(s.release(), Some("9909"));
    assert_eq!(s.region(), Some("us-east-1"));
    assert_eq!(s.relay_id(), Some("10.0.0.5"));
    assert!(!s.graceful_shutdown());
    assert!(s.drain());
    assert!(!s.shutting_down());
    assert_eq!(s.healthy(), Some(true));
    assert!(s.colibri2());
    assert_eq!(s.conferences(), Some(3));
    assert_eq!(s.participants(), Some(7));
    assert_eq!(s.get("current_timestamp"), Some("2021-12-10 11:44:05.123"));
    // Order is kept.
    let names: Vec<_> = wire.children().filter_map(|c| c.attr("name")).collect();
    assert_eq!(names.first(), Some(&"stress_level"));
    assert_eq!(names.last(), Some(&"participants"));
}

#[test]
fn bridge_stats_accessors_are_forgiving() {
    let mut s = BridgeStats::new();
    assert_eq!(s.stress_level(), None);
    assert!(!s.graceful_shutdown());
    assert_eq!(s.healthy(), None);
    s.set("stress_level", "lots")
        .set("conferences", "-3")
        .set("graceful_shutdown", "perhaps")
        .set("participants", "99999999999999999999999");
    assert_eq!(s.stress_level(), None);
    assert_eq!(s.conferences(), None);
    assert!(!s.graceful_shutdown());
    assert_eq!(s.participants(), None);
    s.set("stress_level", "NaN");
    assert_eq!(s.stress_level(), None);
    s.set("stress_level", 0.5);
    assert_eq!(s.stress_level(), Some(0.5));
    assert_eq!(s.stats.len(), 4, "set replaces in place");
    assert_eq!(s.stats[0], ("stress_level".to_owned(), "0.5".to_owned()));
    let wire = over_the_wire(&Element::from(&s));
    assert_eq!(BridgeStats::try_from(&wire).expect("parses"), s);
}

#[test]
fn health_check() {
    let (h, wire) = round_trip::<HealthCheck>(
        r#"<healthcheck xmlns="http://jitsi.org/protocol/healthcheck"/>"#,
    );
    assert_eq!(h, HealthCheck);
    assert!(wire.is("healthcheck", ns::HEALTHCHECK));
    assert_eq!(wire.children().count(), 0);
}

// ---------------------------------------------------------------- owned conversions

#[test]
fn owned_conversions() {
    let e = el(r#"<force-mute xmlns="jitsi:colibri2" audio="1" video="0"/>"#);
    let f = ForceMute::try_from(e).expect("parses");
    assert_eq!(
        f,
        ForceMute {
            audio: true,
            video: false
        }
    );
    let back: Element = f.into();
    assert_eq!(back.attr("audio"), Some("true"));
    assert_eq!(back.attr("video"), Some("false"));

    let c = Candidate::try_from(el(
        r#"<candidate xmlns="urn:xmpp:jingle:transports:ice-udp:1" component="1" foundation="f" priority="1" protocol="udp" ip="::1" port="1" type="prflx"/>"#,
    ))
    .expect("parses");
    let back: Element = c.clone().into();
    assert_eq!(Candidate::try_from(back).expect("parses"), c);
}
