//! The media profile every endpoint shares: the payload types and RTP header
//! extension ids of the offer jicofo builds (jitsi-protocol.md §3.2), and what
//! the bridge reads out of payloads (keyframes).
//!
//! The bridge forwards packets unchanged apart from the header fields the
//! core rewrites, so sender and receivers must agree on these numbers; Jitsi
//! clients take them from the offer, and the test clients from here.

use str0m::RtcConfig;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, Pt};
use str0m::rtp::Extension;

/// Opus, 48 kHz stereo.
pub const PT_OPUS: u8 = 111;
/// VP8 and its RTX.
pub const PT_VP8: u8 = 100;
pub const PT_VP8_RTX: u8 = 96;
/// VP9 and its RTX.
pub const PT_VP9: u8 = 101;
pub const PT_VP9_RTX: u8 = 97;
/// H.264 (constrained baseline, packetization-mode 1) and its RTX.
pub const PT_H264: u8 = 107;
pub const PT_H264_RTX: u8 = 99;

/// Header extension ids as jicofo assigns them.
pub const EXT_AUDIO_LEVEL: u8 = 1;
pub const EXT_ABS_SEND_TIME: u8 = 3;
pub const EXT_TRANSPORT_CC: u8 = 5;

/// Replaces str0m's default codecs and extension ids with Jitsi's.
pub fn apply(config: RtcConfig) -> RtcConfig {
    let mut config = config
        .clear_codecs()
        .clear_extension_map()
        .set_extension(EXT_AUDIO_LEVEL, Extension::AudioLevel)
        .set_extension(EXT_ABS_SEND_TIME, Extension::AbsoluteSendTime)
        .set_extension(EXT_TRANSPORT_CC, Extension::TransportSequenceNumber);
    let codecs = config.codec_config();
    codecs.add_config(
        Pt::new_with_value(PT_OPUS),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            ..FormatParams::default()
        },
    );
    for (pt, rtx, codec) in [
        (PT_VP8, PT_VP8_RTX, Codec::Vp8),
        (PT_VP9, PT_VP9_RTX, Codec::Vp9),
    ] {
        codecs.add_config(
            Pt::new_with_value(pt),
            Some(Pt::new_with_value(rtx)),
            codec,
            Frequency::NINETY_KHZ,
            None,
            FormatParams::default(),
        );
    }
    // 42e01f: constrained baseline level 3.1, what jicofo offers.
    codecs.add_h264(
        Pt::new_with_value(PT_H264),
        Some(Pt::new_with_value(PT_H264_RTX)),
        true,
        0x42e01f,
    );
    config
}

/// Whether the packet starts a keyframe, for the codecs of the profile.
/// Layer switches wait for this, so a false positive would show a broken
/// picture until the next keyframe and a false negative delays the switch.
pub fn is_keyframe_start(pt: u8, payload: &[u8]) -> bool {
    match pt {
        PT_VP8 => str0m::format::detect_vp8_keyframe(payload),
        // P=0 marks every packet of a keyframe; B=1 the first one.
        PT_VP9 => {
            str0m::format::detect_vp9_keyframe(payload)
                && payload.first().is_some_and(|b| b & 0x08 != 0)
        }
        PT_H264 => str0m::format::detect_h264_keyframe(payload),
        _ => false,
    }
}

/// Whether the payload type carries video (NACK-able, keyframes).
pub fn is_video(pt: u8) -> bool {
    matches!(pt, PT_VP8 | PT_VP9 | PT_H264)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_start() {
        // X=1, S=1, PID=0; I=1 with a 15-bit picture id; then P=0.
        let key = [0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00];
        assert!(is_keyframe_start(PT_VP8, &key));
        let mut delta = key;
        delta[4] = 0x11;
        assert!(!is_keyframe_start(PT_VP8, &delta));
        // Not the start of the partition.
        let mut cont = key;
        cont[0] = 0x80;
        assert!(!is_keyframe_start(PT_VP8, &cont));
        for cut in 0..key.len() {
            let _ = is_keyframe_start(PT_VP8, &key[..cut]);
        }
        assert!(!is_keyframe_start(PT_OPUS, &key));
    }

    #[test]
    fn config_is_accepted_by_str0m() {
        let rtc = apply(str0m::Rtc::builder())
            .set_rtp_mode(true)
            .build(std::time::Instant::now());
        let pts: Vec<u8> = rtc
            .codec_config()
            .params()
            .iter()
            .map(|p| *p.pt())
            .collect();
        assert_eq!(pts, vec![PT_OPUS, PT_VP8, PT_VP9, PT_H264]);
    }
}
