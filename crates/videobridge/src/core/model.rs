//! Who is in the conference and what they send.
//!
//! Endpoints are named by [`EndpointId`] (the MUC nick, as the bridge channel
//! and Colibri2 name them) and addressed on the hot path by [`EndpointIdx`], a
//! slot index with a generation so a stale index never reaches a newcomer who
//! reused the slot. Signalled sources arrive as plain [`SourceDescription`]s
//! (the Colibri2 parsing lives elsewhere) and are validated here into the shape
//! forwarding needs: audio SSRCs, and video sources as simulcast layers, each
//! with its RTX partner.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use super::bitrate::BitrateMeter;
use super::clock::Timestamp;
use super::forwarding::Projection;

/// Most simulcast layers a video source may have (Jitsi clients send 3).
pub const MAX_LAYERS: usize = 3;
/// Longest accepted endpoint id, in bytes.
pub const MAX_ENDPOINT_ID_LEN: usize = 256;
/// Most SSRCs one endpoint may signal (jicofo allows 20; a little slack).
pub const MAX_SSRCS_PER_ENDPOINT: usize = 32;
/// Longest accepted source name, in bytes.
pub const MAX_SOURCE_NAME_LEN: usize = 256;

/// Nominal heights of simulcast layers, lowest first, for a 720p capture
/// scaled down by 4, 2 and 1 (what Jitsi clients configure). Signalling does
/// not carry heights, so these stand in for them.
const NOMINAL_HEIGHTS: [u16; MAX_LAYERS] = [180, 360, 720];

/// An endpoint's public id: the participant's MUC nick.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(Arc<str>);

impl EndpointId {
    /// Validates an id: non-empty, at most [`MAX_ENDPOINT_ID_LEN`] bytes, no
    /// control characters (ids end up in logs and JSON).
    pub fn new(id: &str) -> Result<Self, ModelError> {
        if id.is_empty() || id.len() > MAX_ENDPOINT_ID_LEN || id.chars().any(char::is_control) {
            return Err(ModelError::InvalidEndpointId);
        }
        Ok(EndpointId(Arc::from(id)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An endpoint's handle inside one conference core: cheap to copy and compare,
/// and stale once the endpoint is removed (the generation changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointIdx {
    slot: u32,
    generation: u32,
}

impl EndpointIdx {
    pub(crate) fn new(slot: u32, generation: u32) -> Self {
        EndpointIdx { slot, generation }
    }

    /// The slot number; dense, so the edge may use it to index its own tables.
    pub fn slot(self) -> usize {
        self.slot as usize
    }

    pub(crate) fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for EndpointIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.slot, self.generation)
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// An audio source (no simulcast, no RTX).
    Audio,
    /// A video source, possibly simulcast, possibly with RTX.
    Video,
}

/// What a video source carries, from the sender's `VideoTypeMessage` /
/// `SourceVideoTypeMessage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum VideoType {
    /// A camera (the default until told otherwise).
    #[default]
    Camera,
    /// A screen share.
    Desktop,
    /// Not sending video: never allocated, so it takes no lastN slot.
    None,
}

/// One signalled source, as the focus describes it (Colibri2 `<source>`s and
/// `<ssrc-group>`s of one source name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDescription {
    /// Audio or video.
    pub kind: MediaKind,
    /// The source name (e.g. `b91e03d4-v0`), if signalled.
    pub name: Option<String>,
    /// Every SSRC of the source, RTX included.
    pub ssrcs: Vec<u32>,
    /// The SIM group, lowest layer first; its first SSRC is the primary one
    /// receivers know the stream by.
    pub sim_group: Option<Vec<u32>>,
    /// FID groups as (media SSRC, RTX SSRC).
    pub fid_pairs: Vec<(u32, u32)>,
}

impl SourceDescription {
    /// An audio source with one SSRC.
    pub fn audio(name: Option<&str>, ssrc: u32) -> Self {
        SourceDescription {
            kind: MediaKind::Audio,
            name: name.map(str::to_owned),
            ssrcs: vec![ssrc],
            sim_group: None,
            fid_pairs: Vec::new(),
        }
    }

    /// A single-layer video source, with an optional RTX partner.
    pub fn video(name: Option<&str>, ssrc: u32, rtx: Option<u32>) -> Self {
        let mut ssrcs = vec![ssrc];
        ssrcs.extend(rtx);
        SourceDescription {
            kind: MediaKind::Video,
            name: name.map(str::to_owned),
            ssrcs,
            sim_group: None,
            fid_pairs: rtx.map(|r| (ssrc, r)).into_iter().collect(),
        }
    }

    /// A simulcast video source: layers lowest first, each with its RTX SSRC.
    pub fn simulcast(name: Option<&str>, layers: &[u32], rtx: &[u32]) -> Self {
        let mut ssrcs = layers.to_vec();
        ssrcs.extend_from_slice(rtx);
        SourceDescription {
            kind: MediaKind::Video,
            name: name.map(str::to_owned),
            ssrcs,
            sim_group: Some(layers.to_vec()),
            fid_pairs: layers.iter().copied().zip(rtx.iter().copied()).collect(),
        }
    }
}

/// Why an endpoint or its sources were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Empty, too long, or containing control characters.
    #[error("invalid endpoint id")]
    InvalidEndpointId,
    /// A source without SSRCs.
    #[error("a source has no SSRC")]
    NoSsrc,
    /// The same SSRC appears twice in one endpoint's sources.
    #[error("SSRC {0} is listed twice")]
    DuplicateSsrc(u32),
    /// The SSRC belongs to another endpoint of the conference.
    #[error("SSRC {0} is already used by another endpoint")]
    SsrcInUse(u32),
    /// A SIM or FID group names an SSRC the source does not list.
    #[error("a group names SSRC {0}, which the source does not list")]
    GroupSsrcNotListed(u32),
    /// A SIM group that is empty or has more layers than supported.
    #[error("a SIM group has {0} SSRCs; 1 to 3 are supported")]
    BadSimGroup(usize),
    /// A SIM group lists an RTX SSRC as a layer.
    #[error("SSRC {0} is both a simulcast layer and an RTX stream")]
    RtxAsLayer(u32),
    /// Audio has no simulcast and no RTX in Jitsi.
    #[error("an audio source has SIM or FID groups")]
    AudioWithGroups,
    /// Several media SSRCs without a SIM group saying which is which.
    #[error("a video source lists several media SSRCs without a SIM group")]
    AmbiguousPrimary,
    /// More SSRCs than [`MAX_SSRCS_PER_ENDPOINT`].
    #[error("{0} SSRCs for one endpoint; at most 32 are accepted")]
    TooManySsrcs(usize),
    /// A source name longer than [`MAX_SOURCE_NAME_LEN`].
    #[error("a source name is too long")]
    SourceNameTooLong,
}

/// A validated audio source.
#[derive(Debug, Clone)]
pub(crate) struct AudioSource {
    pub ssrcs: Vec<u32>,
}

/// One simulcast layer of a video source, with what the core measures and
/// remembers about it.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub ssrc: u32,
    pub rtx: Option<u32>,
    pub height: u16,
    pub rate: BitrateMeter,
    /// Whether media arrived recently; flips to true on the hot path (so a
    /// starting layer is allocated at the next poll) and back when the layer
    /// stalls (checked at each tick).
    pub active: bool,
    /// When the last media packet arrived.
    pub last_packet: Option<Timestamp>,
    pub last_keyframe_request: Option<Timestamp>,
}

/// A validated video source and its per-receiver forwarding state.
#[derive(Debug, Clone)]
pub(crate) struct VideoSource {
    pub name: Option<Arc<str>>,
    /// Receivers know the stream by the first layer's SSRC and its RTX
    /// partner; copied out of `layers` for the hot path.
    pub primary_ssrc: u32,
    pub primary_rtx: Option<u32>,
    pub layers: Vec<Layer>,
    pub video_type: VideoType,
    /// One projection per receiver, indexed by the receiver's slot.
    pub projections: Vec<Option<Projection>>,
}

impl VideoSource {
    pub fn layer_ssrcs_equal(&self, other: &VideoSource) -> bool {
        self.layers.len() == other.layers.len()
            && self
                .layers
                .iter()
                .zip(&other.layers)
                .all(|(a, b)| a.ssrc == b.ssrc && a.rtx == b.rtx)
    }
}

/// What an SSRC of the conference stands for; the hot path's one lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SsrcEntry {
    pub endpoint: EndpointIdx,
    pub kind: SsrcKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SsrcKind {
    Audio,
    Video { source: u16, layer: u8, rtx: bool },
}

/// Validated sources of one endpoint, before they are wired into a conference.
#[derive(Debug, Default)]
pub(crate) struct ValidatedSources {
    pub audio: Vec<AudioSource>,
    pub video: Vec<VideoSource>,
}

impl ValidatedSources {
    /// Every SSRC and what it stands for, relative to the endpoint.
    pub fn ssrc_kinds(&self) -> impl Iterator<Item = (u32, SsrcKind)> + '_ {
        let audio = self
            .audio
            .iter()
            .flat_map(|a| a.ssrcs.iter().map(|&s| (s, SsrcKind::Audio)));
        let video = self.video.iter().enumerate().flat_map(|(si, src)| {
            let source = u16::try_from(si).unwrap_or(u16::MAX);
            src.layers.iter().enumerate().flat_map(move |(li, layer)| {
                let layer_idx = u8::try_from(li).unwrap_or(u8::MAX);
                let media = (
                    layer.ssrc,
                    SsrcKind::Video {
                        source,
                        layer: layer_idx,
                        rtx: false,
                    },
                );
                let rtx = layer.rtx.map(|r| {
                    (
                        r,
                        SsrcKind::Video {
                            source,
                            layer: layer_idx,
                            rtx: true,
                        },
                    )
                });
                std::iter::once(media).chain(rtx)
            })
        });
        audio.chain(video)
    }
}

/// Checks an endpoint's complete source set and builds the forwarding shape.
pub(crate) fn validate_sources(
    descs: &[SourceDescription],
) -> Result<ValidatedSources, ModelError> {
    let total: usize = descs.iter().map(|d| d.ssrcs.len()).sum();
    if total > MAX_SSRCS_PER_ENDPOINT {
        return Err(ModelError::TooManySsrcs(total));
    }
    let mut seen = HashSet::with_capacity(total);
    let mut out = ValidatedSources::default();
    for desc in descs {
        if desc.ssrcs.is_empty() {
            return Err(ModelError::NoSsrc);
        }
        if desc
            .name
            .as_ref()
            .is_some_and(|n| n.len() > MAX_SOURCE_NAME_LEN)
        {
            return Err(ModelError::SourceNameTooLong);
        }
        for &ssrc in &desc.ssrcs {
            if !seen.insert(ssrc) {
                return Err(ModelError::DuplicateSsrc(ssrc));
            }
        }
        match desc.kind {
            MediaKind::Audio => {
                if desc.sim_group.is_some() || !desc.fid_pairs.is_empty() {
                    return Err(ModelError::AudioWithGroups);
                }
                out.audio.push(AudioSource {
                    ssrcs: desc.ssrcs.clone(),
                });
            }
            MediaKind::Video => out.video.push(validate_video(desc)?),
        }
    }
    Ok(out)
}

fn validate_video(desc: &SourceDescription) -> Result<VideoSource, ModelError> {
    let listed = |ssrc: u32| desc.ssrcs.contains(&ssrc);
    for &(media, rtx) in &desc.fid_pairs {
        for s in [media, rtx] {
            if !listed(s) {
                return Err(ModelError::GroupSsrcNotListed(s));
            }
        }
    }
    let is_rtx = |ssrc: u32| desc.fid_pairs.iter().any(|&(_, r)| r == ssrc);
    let layer_ssrcs: Vec<u32> = match &desc.sim_group {
        Some(group) => {
            if group.is_empty() || group.len() > MAX_LAYERS {
                return Err(ModelError::BadSimGroup(group.len()));
            }
            for &s in group {
                if !listed(s) {
                    return Err(ModelError::GroupSsrcNotListed(s));
                }
                if is_rtx(s) {
                    return Err(ModelError::RtxAsLayer(s));
                }
            }
            group.clone()
        }
        None => {
            let mut media = desc.ssrcs.iter().copied().filter(|&s| !is_rtx(s));
            match (media.next(), media.next()) {
                (Some(primary), None) => vec![primary],
                (None, _) => return Err(ModelError::NoSsrc),
                (Some(_), Some(_)) => return Err(ModelError::AmbiguousPrimary),
            }
        }
    };
    // Heights are anchored at the top: a 2-layer source is 360 + 720.
    let skip = MAX_LAYERS.saturating_sub(layer_ssrcs.len());
    let layers: Vec<Layer> = layer_ssrcs
        .iter()
        .zip(NOMINAL_HEIGHTS.iter().skip(skip))
        .map(|(&ssrc, &height)| Layer {
            ssrc,
            rtx: desc
                .fid_pairs
                .iter()
                .find(|&&(m, _)| m == ssrc)
                .map(|&(_, r)| r),
            height,
            rate: BitrateMeter::new(),
            active: false,
            last_packet: None,
            last_keyframe_request: None,
        })
        .collect();
    let Some(primary) = layers.first() else {
        return Err(ModelError::NoSsrc);
    };
    Ok(VideoSource {
        name: desc.name.as_deref().map(Arc::from),
        primary_ssrc: primary.ssrc,
        primary_rtx: primary.rtx,
        layers,
        video_type: VideoType::Camera,
        projections: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_are_validated() {
        assert!(EndpointId::new("b91e03d4").is_ok());
        assert_eq!(EndpointId::new(""), Err(ModelError::InvalidEndpointId));
        assert_eq!(EndpointId::new("a\nb"), Err(ModelError::InvalidEndpointId));
        assert_eq!(
            EndpointId::new(&"x".repeat(MAX_ENDPOINT_ID_LEN + 1)),
            Err(ModelError::InvalidEndpointId)
        );
    }

    #[test]
    fn simulcast_with_rtx_becomes_three_layers() {
        let v = validate_sources(&[SourceDescription::simulcast(
            Some("a-v0"),
            &[1, 2, 3],
            &[11, 12, 13],
        )])
        .unwrap();
        let src = &v.video[0];
        assert_eq!(src.primary_ssrc, 1);
        assert_eq!(src.primary_rtx, Some(11));
        let layers: Vec<_> = src
            .layers
            .iter()
            .map(|l| (l.ssrc, l.rtx, l.height))
            .collect();
        assert_eq!(
            layers,
            vec![(1, Some(11), 180), (2, Some(12), 360), (3, Some(13), 720)]
        );
        let kinds: Vec<_> = v.ssrc_kinds().collect();
        assert_eq!(kinds.len(), 6);
        assert!(kinds.contains(&(
            12,
            SsrcKind::Video {
                source: 0,
                layer: 1,
                rtx: true
            }
        )));
    }

    #[test]
    fn single_layer_video_finds_its_primary() {
        let v = validate_sources(&[SourceDescription::video(None, 7, Some(8))]).unwrap();
        assert_eq!(v.video[0].primary_ssrc, 7);
        assert_eq!(v.video[0].primary_rtx, Some(8));
        assert_eq!(v.video[0].layers[0].height, 720);
    }

    #[test]
    fn bad_source_sets_are_refused() {
        let dup = [
            SourceDescription::audio(None, 1),
            SourceDescription::video(None, 1, None),
        ];
        assert_eq!(
            validate_sources(&dup).unwrap_err(),
            ModelError::DuplicateSsrc(1)
        );

        let mut unlisted = SourceDescription::simulcast(None, &[1, 2], &[]);
        unlisted.ssrcs = vec![1];
        assert_eq!(
            validate_sources(&[unlisted]).unwrap_err(),
            ModelError::GroupSsrcNotListed(2)
        );

        let four = SourceDescription::simulcast(None, &[1, 2, 3, 4], &[]);
        assert_eq!(
            validate_sources(&[four]).unwrap_err(),
            ModelError::BadSimGroup(4)
        );

        let mut audio = SourceDescription::audio(None, 1);
        audio.fid_pairs.push((1, 2));
        audio.ssrcs.push(2);
        assert_eq!(
            validate_sources(&[audio]).unwrap_err(),
            ModelError::AudioWithGroups
        );

        let mut ambiguous = SourceDescription::video(None, 1, None);
        ambiguous.ssrcs.push(2);
        assert_eq!(
            validate_sources(&[ambiguous]).unwrap_err(),
            ModelError::AmbiguousPrimary
        );

        let many: Vec<_> = (0..40).map(|s| SourceDescription::audio(None, s)).collect();
        assert_eq!(
            validate_sources(&many).unwrap_err(),
            ModelError::TooManySsrcs(40)
        );

        let mut rtx_layer = SourceDescription::simulcast(None, &[1, 2], &[2]);
        rtx_layer.ssrcs = vec![1, 2];
        assert!(validate_sources(&[rtx_layer]).is_err());
        assert_eq!(
            validate_sources(&[SourceDescription {
                kind: MediaKind::Video,
                name: None,
                ssrcs: vec![],
                sim_group: None,
                fid_pairs: vec![]
            }])
            .unwrap_err(),
            ModelError::NoSsrc
        );
    }
}
