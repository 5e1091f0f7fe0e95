//! A test conference participant, doing what lib-jitsi-meet does
//! (jitsi-protocol.md §9) with tokio-xmpp's stream layer for signalling and
//! str0m for media: the conference request to the focus, the MUC join, the
//! disco#info answer, session-initiate → session-accept, source-add /
//! source-remove, transport-replace → transport-accept, mute orders; then
//! RTP to and from the bridge (ICE controlling against the ICE-lite bridge,
//! DTLS client), counting what arrives per SSRC.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use minidom::Element;
use str0m::config::Fingerprint;
use str0m::media::{ExtensionValues, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceCreds, Input, Output, Rtc, RtcConfig};

use crate::tx::TxClient;

pub const NS_JINGLE: &str = "urn:xmpp:jingle:1";
pub const NS_FOCUS: &str = "http://jitsi.org/protocol/focus";
const NS_ICE: &str = "urn:xmpp:jingle:transports:ice-udp:1";
const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
const NS_JITMEET: &str = "http://jitsi.org/jitmeet";
const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const PT_OPUS: u8 = 111;
const PT_VP8: u8 = 100;
const PT_VP8_RTX: u8 = 96;

/// The str0m side of one session.
struct Media {
    rtc: Rtc,
    socket: UdpSocket,
    addr: SocketAddr,
    connected: bool,
    expected: BTreeSet<u32>,
    /// The bridge asked for a keyframe (PLI/FIR).
    keyframe_wanted: bool,
}

/// The ICE/DTLS parameters of an offer's transport.
#[derive(Debug, Clone)]
pub struct OfferTransport {
    pub ufrag: String,
    pub pwd: String,
    pub fingerprint: String,
    pub candidates: Vec<SocketAddr>,
    pub web_socket: Option<String>,
}

impl OfferTransport {
    pub fn parse(jingle: &Element) -> Option<OfferTransport> {
        let t = jingle
            .children()
            .filter(|c| c.is("content", NS_JINGLE))
            .find_map(|c| c.get_child("transport", NS_ICE))?;
        Some(OfferTransport {
            ufrag: t.attr("ufrag")?.to_string(),
            pwd: t.attr("pwd")?.to_string(),
            fingerprint: t.get_child("fingerprint", NS_DTLS)?.text(),
            candidates: t
                .children()
                .filter(|c| c.is("candidate", NS_ICE))
                .filter_map(|c| {
                    format!("{}:{}", c.attr("ip")?, c.attr("port")?)
                        .parse()
                        .ok()
                })
                .collect(),
            web_socket: t
                .get_child("web-socket", "http://jitsi.org/protocol/colibri")
                .and_then(|w| w.attr("url"))
                .map(str::to_string),
        })
    }
}

/// The video SSRCs of a Jingle element (JSON or XML encoding).
pub fn video_ssrcs(jingle: &Element) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    if let Some(j) = jingle.get_child("json-message", NS_JITMEET) {
        let v: serde_json::Value = serde_json::from_str(&j.text()).expect("json sources");
        for lists in v["sources"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
        {
            for s in lists[0].as_array().into_iter().flatten() {
                if let Some(ssrc) = s["s"].as_u64().and_then(|x| u32::try_from(x).ok()) {
                    out.insert(ssrc);
                }
            }
        }
    }
    for c in jingle.children().filter(|c| c.is("content", NS_JINGLE)) {
        let Some(d) = c.get_child("description", NS_RTP) else {
            continue;
        };
        if d.attr("media") != Some("video") {
            continue;
        }
        for s in d.children().filter(|s| s.is("source", NS_SSMA)) {
            if let Some(ssrc) = s.attr("ssrc").and_then(|v| v.parse().ok()) {
                out.insert(ssrc);
            }
        }
    }
    out
}

/// Remote SSRCs by owner in a Jingle element (JSON or XML encoding),
/// the bridge's own ("jvb") excluded.
pub fn sources_by_owner(jingle: &Element) -> BTreeMap<String, Vec<u32>> {
    let mut out: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    if let Some(j) = jingle.get_child("json-message", NS_JITMEET) {
        let v: serde_json::Value = serde_json::from_str(&j.text()).expect("json sources");
        if let Some(map) = v["sources"].as_object() {
            for (owner, lists) in map {
                for idx in [0, 2] {
                    for s in lists[idx].as_array().into_iter().flatten() {
                        if let Some(ssrc) = s["s"].as_u64() {
                            out.entry(owner.clone())
                                .or_default()
                                .push(u32::try_from(ssrc).expect("ssrc"));
                        }
                    }
                }
            }
        }
    }
    for c in jingle.children().filter(|c| c.is("content", NS_JINGLE)) {
        let Some(d) = c.get_child("description", NS_RTP) else {
            continue;
        };
        for s in d.children().filter(|s| s.is("source", NS_SSMA)) {
            let owner = s
                .get_child("ssrc-info", NS_JITMEET)
                .and_then(|i| i.attr("owner"))
                .map(|o| o.rsplit('/').next().unwrap_or(o).to_string())
                .unwrap_or_default();
            if let Some(ssrc) = s.attr("ssrc").and_then(|v| v.parse().ok()) {
                out.entry(owner).or_default().push(ssrc);
            }
        }
    }
    out.remove("jvb");
    out
}

pub struct Participant {
    pub nick: String,
    pub room: String,
    pub xmpp: TxClient,
    /// Announce `json-encoded-sources` in disco#info.
    pub json_sources: bool,
    pub audio_ssrc: u32,
    pub video_ssrc: u32,
    pub rtx_ssrc: u32,
    /// Send three simulcast layers (SIM group): SSRCs video_ssrc, +2, +4,
    /// each with an RTX partner one above. Set before the offer arrives.
    pub simulcast: bool,
    /// Send a loud audio level (RFC 6464) instead of silence.
    pub loud: bool,
    pub sid: Option<String>,
    pub transport: Option<OfferTransport>,
    media: Option<Media>,
    /// Remote sources known from the offer and source-add/remove.
    pub remote: BTreeMap<String, Vec<u32>>,
    remote_video: BTreeSet<u32>,
    /// RTP packets received per SSRC (this session and earlier ones).
    pub received: BTreeMap<u32, usize>,
    /// Video payloads received per (SSRC, layer they were sent on).
    pub layers: BTreeMap<(u32, u32), usize>,
    /// The bridge channel (colibri-ws), once opened.
    ws: Option<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    >,
    /// Bridge-channel messages received, oldest first.
    pub channel: Vec<serde_json::Value>,
    /// Stanzas not handled automatically, oldest first.
    pub inbox: Vec<Element>,
    /// Jingle actions received, in order.
    pub jingle_log: Vec<String>,
    seq: u16,
    frames: u32,
}

impl Participant {
    /// Logs in anonymously on meet.test, asks the focus for `room`, joins it.
    pub async fn join(
        c2s_port: u16,
        ca_pems: &[String],
        room: &str,
        nick: &str,
        ssrc_base: u32,
        json_sources: bool,
    ) -> Participant {
        Self::join_on(
            c2s_port,
            ca_pems,
            "meet.test",
            room,
            nick,
            ssrc_base,
            json_sources,
        )
        .await
    }

    /// Like [`Participant::join`], logging in anonymously on `domain`.
    pub async fn join_on(
        c2s_port: u16,
        ca_pems: &[String],
        domain: &str,
        room: &str,
        nick: &str,
        ssrc_base: u32,
        json_sources: bool,
    ) -> Participant {
        let xmpp = TxClient::login(c2s_port, ca_pems, &format!("anon@{domain}"), "")
            .await
            .expect("anonymous login");
        Self::join_with(xmpp, room, nick, ssrc_base, json_sources, None)
            .await
            .expect("join")
    }

    /// With an existing connection; `session` is a secure-domain session id.
    pub async fn join_with(
        mut xmpp: TxClient,
        room: &str,
        nick: &str,
        ssrc_base: u32,
        json_sources: bool,
        session: Option<&str>,
    ) -> Result<Participant, Element> {
        let reply = conference_request(&mut xmpp, room, session).await;
        if reply.attr("type") != Some("result") {
            return Err(reply);
        }
        let c = reply.get_child("conference", NS_FOCUS).expect("conference");
        assert_eq!(c.attr("ready"), Some("true"), "{}", String::from(&reply));
        xmpp.send_xml(&format!(
            "<presence xmlns='jabber:client' to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/><nick xmlns='http://jabber.org/protocol/nick'>{nick}</nick></presence>"
        ))
        .await;
        Ok(Participant {
            nick: nick.to_string(),
            room: room.to_string(),
            xmpp,
            json_sources,
            audio_ssrc: ssrc_base,
            video_ssrc: ssrc_base + 1,
            rtx_ssrc: ssrc_base + 2,
            simulcast: false,
            loud: false,
            sid: None,
            transport: None,
            media: None,
            remote: BTreeMap::new(),
            remote_video: BTreeSet::new(),
            received: BTreeMap::new(),
            layers: BTreeMap::new(),
            ws: None,
            channel: Vec::new(),
            inbox: Vec::new(),
            jingle_log: Vec::new(),
            seq: 1,
            frames: 0,
        })
    }

    fn focus(&self) -> String {
        format!("{}/focus", self.room)
    }

    /// Handles signalling and media for `dur`.
    pub async fn run_for(&mut self, dur: Duration) {
        let deadline = Instant::now() + dur;
        while Instant::now() < deadline {
            self.poll_media();
            self.poll_channel().await;
            match tokio::time::timeout(Duration::from_millis(5), self.xmpp.recv()).await {
                Ok(Ok(Some(el))) => self.on_stanza(el).await,
                Ok(Ok(None)) => panic!("{}: stream ended", self.nick),
                Ok(Err(e)) => panic!("{}: {e}", self.nick),
                Err(_) => {}
            }
        }
    }

    /// Runs until `done` holds (at most `limit`).
    pub async fn run_until(
        &mut self,
        limit: Duration,
        done: impl Fn(&Participant) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(self) {
                return true;
            }
            self.run_for(Duration::from_millis(20)).await;
        }
        done(self)
    }

    async fn ack(&mut self, iq: &Element) {
        let id = iq.attr("id").unwrap_or_default();
        let to = iq.attr("from").unwrap_or_default();
        self.xmpp
            .send_xml(&format!(
                "<iq xmlns='jabber:client' type='result' id='{id}' to='{to}'/>"
            ))
            .await;
    }

    async fn on_stanza(&mut self, el: Element) {
        if el.name() == "iq" && matches!(el.attr("type"), Some("get") | Some("set")) {
            let Some(p) = el.children().next().cloned() else {
                return;
            };
            if p.is("query", "http://jabber.org/protocol/disco#info") {
                let id = el.attr("id").unwrap_or_default().to_string();
                let to = el.attr("from").unwrap_or_default().to_string();
                let json = if self.json_sources {
                    "<feature var='http://jitsi.org/json-encoded-sources'/>"
                } else {
                    ""
                };
                self.xmpp.send_xml(&format!(
                    "<iq xmlns='jabber:client' type='result' id='{id}' to='{to}'><query xmlns='http://jabber.org/protocol/disco#info'>\
                     <feature var='urn:xmpp:jingle:1'/><feature var='urn:xmpp:jingle:apps:rtp:1'/><feature var='urn:xmpp:jingle:transports:ice-udp:1'/>\
                     <feature var='urn:xmpp:jingle:apps:dtls:0'/><feature var='urn:xmpp:jingle:apps:rtp:audio'/><feature var='urn:xmpp:jingle:apps:rtp:video'/>\
                     <feature var='urn:ietf:rfc:4588'/><feature var='http://jitsi.org/tcc'/><feature var='urn:ietf:rfc:5761'/><feature var='urn:ietf:rfc:5888'/>{json}</query></iq>"
                )).await;
                return;
            }
            if p.is("jingle", NS_JINGLE) {
                self.ack(&el).await;
                self.on_jingle(&p).await;
                return;
            }
            if p.name() == "mute" {
                self.ack(&el).await;
            }
        }
        self.inbox.push(el);
    }

    async fn on_jingle(&mut self, j: &Element) {
        let action = j.attr("action").unwrap_or_default().to_string();
        self.jingle_log.push(action.clone());
        self.remote_video.extend(video_ssrcs(j));
        match action.as_str() {
            "session-initiate" | "transport-replace" => {
                self.sid = j.attr("sid").map(str::to_string);
                self.remote = sources_by_owner(j);
                let t = OfferTransport::parse(j).expect("offer transport");
                self.start_media(&t);
                self.transport = Some(t);
                let answer = if action == "session-initiate" {
                    "session-accept"
                } else {
                    "transport-accept"
                };
                let x = self.answer_jingle(answer);
                self.xmpp.send(x).await;
            }
            "source-add" => {
                for (owner, ssrcs) in sources_by_owner(j) {
                    self.remote.entry(owner).or_default().extend(ssrcs);
                }
                self.expect_remote();
            }
            "source-remove" => {
                for (owner, ssrcs) in sources_by_owner(j) {
                    if let Some(list) = self.remote.get_mut(&owner) {
                        list.retain(|s| !ssrcs.contains(s));
                        if list.is_empty() {
                            self.remote.remove(&owner);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// session-accept / transport-accept with our transport and sources.
    pub fn answer_jingle(&mut self, action: &str) -> Element {
        let sid = self.sid.clone().unwrap_or_default();
        let (ufrag, pwd, fp, addr) = {
            let m = self.media.as_mut().expect("media");
            let addr = m.addr;
            let api = m.rtc.direct_api();
            let c = api.local_ice_credentials();
            (
                c.ufrag,
                c.pass,
                format_fingerprint(api.local_dtls_fingerprint()),
                addr,
            )
        };
        let transport = format!(
            "<transport xmlns='{NS_ICE}' ufrag='{ufrag}' pwd='{pwd}'><fingerprint xmlns='{NS_DTLS}' hash='sha-256' setup='active'>{fp}</fingerprint>\
             <candidate component='1' foundation='1' generation='0' id='c1' ip='{}' port='{}' priority='2130706431' protocol='udp' type='host' network='0'/></transport>",
            addr.ip(),
            addr.port()
        );
        let (a, v, r) = (self.audio_ssrc, self.video_ssrc, self.rtx_ssrc);
        let mut video = format!(
            "<source xmlns='{NS_SSMA}' ssrc='{v}'><parameter name='msid' value='{nick}-s {nick}-v'/></source><source xmlns='{NS_SSMA}' ssrc='{r}'/>",
            nick = self.nick
        );
        let mut groups = format!(
            "<ssrc-group xmlns='{NS_SSMA}' semantics='FID'><source ssrc='{v}'/><source ssrc='{r}'/></ssrc-group>"
        );
        if self.simulcast {
            for (m, x) in [(v + 2, v + 3), (v + 4, v + 5)] {
                video.push_str(&format!(
                    "<source xmlns='{NS_SSMA}' ssrc='{m}'/><source xmlns='{NS_SSMA}' ssrc='{x}'/>"
                ));
                groups.push_str(&format!("<ssrc-group xmlns='{NS_SSMA}' semantics='FID'><source ssrc='{m}'/><source ssrc='{x}'/></ssrc-group>"));
            }
            groups.push_str(&format!(
                "<ssrc-group xmlns='{NS_SSMA}' semantics='SIM'><source ssrc='{v}'/><source ssrc='{}'/><source ssrc='{}'/></ssrc-group>",
                v + 2,
                v + 4
            ));
        }
        let xml = format!(
            "<iq xmlns='jabber:client' type='set' to='{focus}' id='{action}-{sid}'><jingle xmlns='{NS_JINGLE}' action='{action}' sid='{sid}' responder='{room}/{nick}'>\
             <content creator='responder' name='audio' senders='both'><description xmlns='{NS_RTP}' media='audio'><payload-type id='111' name='opus' clockrate='48000' channels='2'/>\
             <source xmlns='{NS_SSMA}' ssrc='{a}'><parameter name='msid' value='{nick}-s {nick}-a'/></source></description>{transport}</content>\
             <content creator='responder' name='video' senders='both'><description xmlns='{NS_RTP}' media='video'><payload-type id='100' name='VP8' clockrate='90000'/>\
             {video}{groups}</description>{transport}</content></jingle></iq>",
            focus = self.focus(),
            room = self.room,
            nick = self.nick,
        );
        xml.parse().expect("answer xml")
    }

    fn start_media(&mut self, t: &OfferTransport) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let addr = socket.local_addr().expect("addr");
        let mut rtc = jitsi_profile(Rtc::builder())
            .set_rtp_mode(true)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        for c in &t.candidates {
            rtc.add_remote_candidate(Candidate::host(*c, "udp").expect("candidate"));
        }
        let mut api = rtc.direct_api();
        // As a browser answering the offer: ICE-controlled (the bridge
        // controls and nominates).
        api.set_ice_controlling(false);
        api.set_remote_ice_credentials(IceCreds {
            ufrag: t.ufrag.clone(),
            pass: t.pwd.clone(),
        });
        api.set_remote_fingerprint(Fingerprint {
            hash_func: "sha-256".into(),
            bytes: t
                .fingerprint
                .split(':')
                .map(|h| u8::from_str_radix(h, 16).expect("fingerprint hex"))
                .collect(),
        });
        api.declare_media(Mid::from("a"), MediaKind::Audio);
        api.declare_media(Mid::from("v"), MediaKind::Video);
        api.declare_stream_tx(Ssrc::from(self.audio_ssrc), None, Mid::from("a"), None);
        for (i, (media, rtx)) in self.video_layers().into_iter().enumerate() {
            // One mid per layer: str0m paces send streams by mid.
            let mid = if i == 0 {
                "v".to_string()
            } else {
                format!("v{i}")
            };
            let mid = Mid::from(mid.as_str());
            if i > 0 {
                api.declare_media(mid, MediaKind::Video);
            }
            api.declare_stream_tx(Ssrc::from(media), Some(Ssrc::from(rtx)), mid, None);
        }
        api.start_dtls(true).expect("dtls");
        self.media = Some(Media {
            rtc,
            socket,
            addr,
            connected: false,
            expected: BTreeSet::new(),
            keyframe_wanted: true,
        });
        self.expect_remote();
    }

    /// Tell str0m about remote SSRCs (what a browser's remote SDP does).
    fn expect_remote(&mut self) {
        let Some(m) = self.media.as_mut() else {
            return;
        };
        let all: Vec<u32> = self.remote.values().flatten().copied().collect();
        let mut api = m.rtc.direct_api();
        for ssrc in all {
            if m.expected.insert(ssrc) {
                let mid = if self.remote_video.contains(&ssrc) {
                    "v"
                } else {
                    "a"
                };
                api.expect_stream_rx(Ssrc::from(ssrc), None, Mid::from(mid), None);
            }
        }
    }

    /// (media, rtx) SSRC per video layer sent, lowest first.
    pub fn video_layers(&self) -> Vec<(u32, u32)> {
        let v = self.video_ssrc;
        if self.simulcast {
            vec![(v, v + 1), (v + 2, v + 3), (v + 4, v + 5)]
        } else {
            vec![(v, self.rtx_ssrc)]
        }
    }

    pub fn connected(&self) -> bool {
        self.media.as_ref().is_some_and(|m| m.connected)
    }

    fn poll_media(&mut self) {
        let Some(m) = self.media.as_mut() else {
            return;
        };
        let mut buf = [0u8; 2048];
        loop {
            drain(m, &mut self.received, &mut self.layers);
            match m.socket.recv_from(&mut buf) {
                Ok((n, src)) => {
                    if let Ok(r) = Receive::new(Protocol::Udp, src, m.addr, &buf[..n]) {
                        let _ = m.rtc.handle_input(Input::Receive(Instant::now(), r));
                    }
                }
                Err(_) => break,
            }
        }
        let _ = m.rtc.handle_input(Input::Timeout(Instant::now()));
        drain(m, &mut self.received, &mut self.layers);
    }

    /// One audio packet (with an audio level) and one video packet per
    /// layer (a keyframe every 30 frames or when the bridge asks). Video
    /// payloads carry their layer's SSRC in bytes 2..6.
    pub fn send_media(&mut self) {
        let layers = self.video_layers();
        let Some(m) = self.media.as_mut() else {
            return;
        };
        if !m.connected {
            return;
        }
        self.seq = self.seq.wrapping_add(1);
        self.frames += 1;
        let now = Instant::now();
        let seq = u64::from(self.seq);
        let key = std::mem::take(&mut m.keyframe_wanted) || self.frames % 30 == 1;
        let mut api = m.rtc.direct_api();
        if let Some(tx) = api.stream_tx(&Ssrc::from(self.audio_ssrc)) {
            let mut p = vec![0xfc];
            p.extend(std::iter::repeat_n(0x5a, 60));
            #[allow(clippy::cast_possible_truncation)]
            let ts = (seq * 960) as u32;
            let ext = ExtensionValues {
                audio_level: Some(if self.loud { -10 } else { -127 }),
                voice_activity: Some(self.loud),
                ..ExtensionValues::default()
            };
            tx.write_rtp(
                RtpWrite::new(Pt::new_with_value(PT_OPUS), SeqNo::from(seq), ts, now, p)
                    .ext_vals(ext),
            );
        }
        #[allow(clippy::cast_possible_truncation)]
        let ts = (u64::from(self.frames) * 3000) as u32;
        for (media, _) in layers {
            let Some(tx) = api.stream_tx(&Ssrc::from(media)) else {
                continue;
            };
            // VP8 descriptor S=1, PID=0; payload header P=0 on a keyframe.
            let mut p = vec![0x10, if key { 0x00 } else { 0x01 }];
            p.extend_from_slice(&media.to_be_bytes());
            p.extend(std::iter::repeat_n(0xa5, 300));
            tx.write_rtp(
                RtpWrite::new(Pt::new_with_value(PT_VP8), SeqNo::from(seq), ts, now, p)
                    .marker(true)
                    .nackable(true),
            );
        }
        drain(m, &mut self.received, &mut self.layers);
    }

    /// Video packets received from `other`, by the layer they were sent on.
    pub fn layers_from(&self, other: &Participant) -> BTreeMap<u32, usize> {
        self.layers
            .iter()
            .filter(|((ssrc, _), _)| *ssrc == other.video_ssrc)
            .map(|((_, layer), n)| (*layer, *n))
            .collect()
    }

    /// Opens the bridge channel: the colibri-ws URL of the offer.
    pub async fn open_channel(&mut self) {
        let url = self
            .transport
            .as_ref()
            .and_then(|t| t.web_socket.clone())
            .expect("the offer has a colibri-ws URL");
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("{}: colibri-ws {url}: {e}", self.nick));
        self.ws = Some(ws);
    }

    /// Sends one bridge-channel message.
    pub async fn send_channel(&mut self, msg: serde_json::Value) {
        use futures::SinkExt;
        let ws = self.ws.as_mut().expect("open_channel first");
        ws.send(tokio_tungstenite::tungstenite::Message::text(
            msg.to_string(),
        ))
        .await
        .expect("colibri-ws send");
    }

    async fn poll_channel(&mut self) {
        use futures::StreamExt;
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(1), ws.next()).await
        {
            if let tokio_tungstenite::tungstenite::Message::Text(t) = m
                && let Ok(v) = serde_json::from_str(t.as_str())
            {
                self.channel.push(v);
            }
        }
    }

    /// Bridge-channel messages of one `colibriClass`.
    pub fn channel_of(&self, class: &str) -> Vec<&serde_json::Value> {
        self.channel
            .iter()
            .filter(|m| m["colibriClass"] == class)
            .collect()
    }

    /// Packets received from `other`'s audio and video SSRCs.
    pub fn received_from(&self, other: &Participant) -> (usize, usize) {
        (
            self.received.get(&other.audio_ssrc).copied().unwrap_or(0),
            self.received.get(&other.video_ssrc).copied().unwrap_or(0),
        )
    }

    /// Takes the first inbox stanza matching `f`, waiting for it.
    pub async fn wait_for(&mut self, what: &str, f: impl Fn(&Element) -> bool) -> Element {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(i) = self.inbox.iter().position(&f) {
                return self.inbox.remove(i);
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: no {what}; inbox: {:#?}",
                    self.nick,
                    self.inbox.iter().map(String::from).collect::<Vec<_>>()
                );
            }
            self.run_for(Duration::from_millis(20)).await;
        }
    }

    /// Sends an IQ and waits for its answer.
    pub async fn iq(&mut self, xml: &str) -> Element {
        let el: Element = xml.parse().expect("iq xml");
        let id = el.attr("id").expect("iq id").to_string();
        self.xmpp.send(el).await;
        self.wait_for(&format!("answer to {id}"), |e| {
            e.name() == "iq" && e.attr("id") == Some(id.as_str())
        })
        .await
    }

    /// The latest presence of `nick` in our room says affiliation `owner`.
    pub fn sees_owner(&self, nick: &str) -> bool {
        let from = format!("{}/{nick}", self.room);
        self.inbox
            .iter()
            .rev()
            .find(|e| e.name() == "presence" && e.attr("from") == Some(from.as_str()))
            .and_then(|p| p.get_child("x", NS_MUC_USER))
            .and_then(|x| x.get_child("item", NS_MUC_USER))
            .is_some_and(|i| i.attr("affiliation") == Some("owner"))
    }

    pub async fn leave(mut self) {
        self.xmpp
            .send_xml(&format!(
                "<presence xmlns='jabber:client' type='unavailable' to='{}/{}'/>",
                self.room, self.nick
            ))
            .await;
        self.run_for(Duration::from_millis(200)).await;
    }
}

/// The conference request (§1.1), answered by the focus (the guide's
/// `focus.DOMAIN` for rooms on `conference.DOMAIN`).
pub async fn conference_request(xmpp: &mut TxClient, room: &str, session: Option<&str>) -> Element {
    let session = session
        .map(|s| format!(" session-id='{s}'"))
        .unwrap_or_default();
    let muc = room.split('@').nth(1).unwrap_or_default();
    let focus = format!("focus.{}", muc.strip_prefix("conference.").unwrap_or(muc));
    xmpp.send_xml(&format!(
        "<iq xmlns='jabber:client' type='set' to='{focus}' id='conf1'><conference xmlns='{NS_FOCUS}' room='{room}' machine-uid='machine-1'{session}><property name='disableRtx' value='false'/></conference></iq>"
    ))
    .await;
    xmpp.next_matching(|e| e.name() == "iq" && e.attr("id") == Some("conf1"))
        .await
        .expect("conference answer")
}

fn drain(
    m: &mut Media,
    received: &mut BTreeMap<u32, usize>,
    layers: &mut BTreeMap<(u32, u32), usize>,
) {
    while let Ok(out) = m.rtc.poll_output() {
        match out {
            Output::Timeout(_) => break,
            Output::Transmit(t) => {
                let _ = m.socket.send_to(&t.contents, t.destination);
            }
            Output::Event(Event::Connected) => m.connected = true,
            Output::Event(Event::RtpPacket(p)) => {
                let ssrc = *p.header.ssrc;
                *received.entry(ssrc).or_default() += 1;
                if *p.header.payload_type == PT_VP8 && p.payload.len() >= 6 {
                    let layer = u32::from_be_bytes([
                        p.payload[2],
                        p.payload[3],
                        p.payload[4],
                        p.payload[5],
                    ]);
                    *layers.entry((ssrc, layer)).or_default() += 1;
                }
            }
            Output::Event(Event::KeyframeRequest(_)) => m.keyframe_wanted = true,
            Output::Event(_) => {}
        }
    }
}

fn format_fingerprint(fp: &str0m::config::Fingerprint) -> String {
    fp.bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Jitsi's payload types and extension ids (what jicofo offers).
fn jitsi_profile(config: RtcConfig) -> RtcConfig {
    use str0m::format::{Codec, FormatParams};
    use str0m::media::Frequency;
    use str0m::rtp::Extension;
    let mut config = config
        .clear_codecs()
        .clear_extension_map()
        .set_extension(1, Extension::AudioLevel)
        .set_extension(3, Extension::AbsoluteSendTime)
        .set_extension(5, Extension::TransportSequenceNumber);
    let codecs = config.codec_config();
    codecs.add_config(
        Pt::new_with_value(PT_OPUS),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams::default(),
    );
    codecs.add_config(
        Pt::new_with_value(PT_VP8),
        Some(Pt::new_with_value(PT_VP8_RTX)),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    config
}
