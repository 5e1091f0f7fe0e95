//! meet-rs `jitsi-xmpp`: typed Jitsi XMPP extensions, shared by `focus` (jicofo's role) and
//! `videobridge` (JVB's role).
//!
//! xmpp-parsers covers standard XMPP (MUC, disco, Jingle, …) but knows no Jitsi namespace, and its
//! strict Jingle structs drop what Jitsi adds to standard elements (`<web-socket>` and
//! `<rtcp-mux/>` in an ICE-UDP transport, `name`/`videoType`/`<ssrc-info owner>` on sources — see
//! docs/dependencies.md §2). This crate works on [`minidom::Element`] directly: every type
//! implements `TryFrom<&Element>` / `TryFrom<Element>` (failing with a [`ParseError`] that names
//! the element and attribute) and `From<&T>` / `From<T>` for `Element`. Parsing never panics;
//! what Jitsi sends that we do not model is kept in `extra: Vec<Element>` fields and written back,
//! so a focus can pass a transport or source set through unchanged.
//!
//! The types are IQ/presence *payloads*; wrap them in xmpp-parsers' `Iq` / `Presence`.
//!
//! How the modules map onto /work/shared/docs/jitsi-protocol.md:
//!
//! | module | protocol section | types |
//! |---|---|---|
//! | [`focus`] | §1 conference request, §2.5 mute | [`ConferenceIq`], [`MuteIq`] |
//! | [`colibri2`] | §4.2–4.3 Colibri2 | [`ConferenceModify`], [`ConferenceModified`], [`Endpoint`], [`Media`], [`Transport`], [`Sctp`], [`Sources`], [`MediaSource`], [`ForceMute`], [`Colibri2Error`] |
//! | [`ice`] | §3.2 Jingle ICE-UDP `<transport>` (embedded by Colibri2) | [`IceUdpTransport`], [`Fingerprint`], [`Candidate`] |
//! | [`sources`] | §3.2/§3.5 `<source>`, `<ssrc-group>` (embedded by Colibri2) | [`Source`], [`SsrcGroup`] |
//! | [`rtp`] | §3.2 `<payload-type>`, `<rtp-hdrext>` (embedded by Colibri2 `<media>`) | [`PayloadType`], [`RtcpFb`], [`RtpHdrExt`] |
//! | [`brewery`] | §5.1–5.2 bridge presence stats, §5.4 health check | [`BridgeStats`], [`HealthCheck`] |
//! | [`ns`] | all | namespace constants |
//!
//! ```
//! use jitsi_xmpp::{ConferenceModify, Endpoint, ParseError};
//! use minidom::Element;
//!
//! let xml = r#"<conference-modify xmlns="jitsi:colibri2" meeting-id="m1" create="true">
//!   <endpoint id="6a8c1f2e" create="true"><capability name="source-names"/></endpoint>
//! </conference-modify>"#;
//! let el: Element = xml.parse().expect("well-formed");
//! let req = ConferenceModify::try_from(&el)?;
//! assert!(req.create);
//! assert!(req.endpoints[0].has_capability("source-names"));
//! let back = Element::from(&req);
//! assert_eq!(ConferenceModify::try_from(&back)?, req);
//!
//! let bad: Element = r#"<conference-modify xmlns="jitsi:colibri2"/>"#.parse().expect("well-formed");
//! assert!(matches!(
//!     ConferenceModify::try_from(&bad),
//!     Err(ParseError::MissingAttribute { attribute: "meeting-id", .. })
//! ));
//! # Ok::<(), ParseError>(())
//! ```

pub mod brewery;
pub mod colibri2;
pub mod error;
pub mod focus;
pub mod ice;
pub mod ns;
pub mod rtp;
pub mod sources;
mod xml;

pub use brewery::{BridgeStats, HealthCheck};
pub use colibri2::{
    Colibri2Error, ConferenceModified, ConferenceModify, Endpoint, ErrorReason, ForceMute, Media,
    MediaSource, MediaType, Sctp, SctpRole, Sources, Transport,
};
pub use error::ParseError;
pub use focus::{ConferenceIq, MuteIq, MuteMedia};
pub use ice::{Candidate, CandidateType, Fingerprint, IceUdpTransport, Setup};
pub use rtp::{PayloadType, RtcpFb, RtpHdrExt};
pub use sources::{Semantics, Source, SsrcGroup};
