//! XML namespaces of the Jitsi extensions and the Jingle parts they embed
//! (jitsi-protocol.md §1, §2.5, §3.2, §4.2, §5).

/// Colibri2 focus ↔ bridge protocol: `<conference-modify>`, `<conference-modified>` (§4.2).
pub const COLIBRI2: &str = "jitsi:colibri2";
/// Colibri v1; also the namespace of `<web-socket>` and of the brewery `<stats>` (§4.1, §5.1).
pub const COLIBRI: &str = "http://jitsi.org/protocol/colibri";
/// Bridge health check IQ `<healthcheck/>` (§5.4).
pub const HEALTHCHECK: &str = "http://jitsi.org/protocol/healthcheck";
/// Focus conference request `<conference>`, `<bridge-session>`, `<session-invalid>` (§1, §3.2).
pub const FOCUS: &str = "http://jitsi.org/protocol/focus";
/// Jitsi Meet: `<ssrc-info>`, `<json-message>` (§3.2).
pub const JITMEET: &str = "http://jitsi.org/jitmeet";
/// Audio mute IQ `<mute>` (§2.5).
pub const JITMEET_AUDIO: &str = "http://jitsi.org/jitmeet/audio";
/// Video mute IQ `<mute>` (§2.5).
pub const JITMEET_VIDEO: &str = "http://jitsi.org/jitmeet/video";
/// Desktop (screen-share) mute IQ `<mute>` (newer jicofo).
pub const JITMEET_DESKTOP: &str = "http://jitsi.org/jitmeet/desktop";
/// Start-muted hint in session-initiate (§3.2).
pub const JITMEET_START_MUTED: &str = "http://jitsi.org/jitmeet/start-muted";

/// XEP-0166 Jingle.
pub const JINGLE: &str = "urn:xmpp:jingle:1";
/// XEP-0176 Jingle ICE-UDP transport.
pub const JINGLE_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
/// XEP-0320 DTLS fingerprints in Jingle.
pub const JINGLE_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
/// XEP-0343 `<sctpmap>` in a Jingle transport.
pub const JINGLE_DTLS_SCTP: &str = "urn:xmpp:jingle:transports:dtls-sctp:1";
/// XEP-0167 Jingle RTP: `<description>`, `<payload-type>`, `<parameter>`.
pub const JINGLE_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
/// XEP-0293 `<rtcp-fb>`.
pub const JINGLE_RTCP_FB: &str = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0";
/// XEP-0294 `<rtp-hdrext>` (and Jitsi's `<extmap-allow-mixed>`).
pub const JINGLE_RTP_HDREXT: &str = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0";
/// XEP-0339 `<source>`, `<ssrc-group>`.
pub const JINGLE_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
/// XEP-0338 `<group semantics='BUNDLE'>`.
pub const JINGLE_GROUPING: &str = "urn:xmpp:jingle:apps:grouping:0";
