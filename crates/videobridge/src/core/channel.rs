//! Bridge-channel messages (colibri-ws or the SCTP data channel).
//!
//! One JSON object per message, tagged by `colibriClass`. Incoming text is
//! size-checked and parsed into [`ClientMessage`]; anything malformed is an
//! error value, never a panic. Classes we do not act on parse as
//! [`ClientMessage::Unknown`] so newer clients are not treated as broken.
//! Outgoing messages are [`BridgeMessage`]s serialized with
//! [`BridgeMessage::to_json`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest accepted incoming message. Endpoint messages carry app payloads
/// (chat, reactions, E2EE key exchange), which stay well below this.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why an incoming message was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Longer than [`MAX_MESSAGE_BYTES`].
    #[error("bridge-channel message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the message.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, not an object, no `colibriClass`, or a field of the wrong type.
    #[error("malformed bridge-channel message: {0}")]
    Malformed(#[source] serde_json::Error),
}

/// A message from an endpoint to the bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "colibriClass")]
pub enum ClientMessage {
    /// Asks for a `ServerHello` (a testing aid).
    ClientHello {},
    /// An application message to relay to one endpoint or to all.
    EndpointMessage(EndpointMessage),
    /// Connection statistics to relay to the other endpoints.
    EndpointStats(EndpointStats),
    /// Legacy: the receiver's lastN.
    LastNChangedEvent {
        /// -1 = unlimited.
        #[serde(rename = "lastN")]
        last_n: i32,
    },
    /// Legacy: the endpoints the receiver selected.
    SelectedEndpointsChangedEvent {
        /// Endpoint ids.
        #[serde(rename = "selectedEndpoints", default)]
        selected_endpoints: Vec<String>,
    },
    /// Legacy: one max height for everything.
    ReceiverVideoConstraint {
        /// Max frame height.
        #[serde(rename = "maxFrameHeight")]
        max_frame_height: i32,
    },
    /// What the receiver wants to receive.
    ReceiverVideoConstraints(ReceiverVideoConstraints),
    /// The sender's video type (all its video sources).
    VideoTypeMessage {
        /// camera, desktop or none.
        #[serde(rename = "videoType")]
        video_type: WireVideoType,
    },
    /// The video type of one of the sender's sources.
    SourceVideoTypeMessage {
        /// The source name.
        #[serde(rename = "sourceName")]
        source_name: String,
        /// camera, desktop or none.
        #[serde(rename = "videoType")]
        video_type: WireVideoType,
    },
    /// Any other class: accepted and ignored.
    #[serde(other)]
    Unknown,
}

/// `EndpointMessage`: `to` is an endpoint id, or empty/absent for everyone;
/// the bridge sets `from`. Every other field (`msgPayload` and whatever the
/// app adds) is relayed untouched.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EndpointMessage {
    /// Sender id, set by the bridge (a client-supplied value is overwritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Recipient id; empty or absent means broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Everything else, relayed as is.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `EndpointStats`: free-form statistics, relayed with `from` set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EndpointStats {
    /// Sender id, set by the bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The statistics.
    #[serde(flatten)]
    pub stats: Map<String, Value>,
}

/// `ReceiverVideoConstraints`. Absent fields leave the previous value in
/// place (clients send partial updates). Both the Dec-2021 endpoint-keyed
/// fields and the newer source-keyed ones are accepted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverVideoConstraints {
    /// -1 = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_n: Option<i32>,
    /// Endpoint ids, prioritised after the on-stage ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_endpoints: Option<Vec<String>>,
    /// Endpoint ids shown large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_stage_endpoints: Option<Vec<String>>,
    /// Source names, prioritised after the on-stage ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_sources: Option<Vec<String>>,
    /// Source names shown large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_stage_sources: Option<Vec<String>>,
    /// Constraints for sources without their own entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_constraints: Option<VideoConstraints>,
    /// Per endpoint id or source name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<BTreeMap<String, VideoConstraints>>,
    /// A bandwidth the client asks us to assume (testing aid; parsed, unused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumed_bandwidth_bps: Option<u64>,
}

/// Constraints on one video source.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoConstraints {
    /// Largest wanted height; 0 = none, negative or absent = no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_height: Option<i32>,
    /// Largest wanted frame rate (parsed; temporal layers are not chosen yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_frame_rate: Option<f64>,
}

/// Video type as sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireVideoType {
    /// A camera.
    Camera,
    /// A screen share.
    Desktop,
    /// A high-frame-rate screen share (treated as desktop).
    DesktopHighFps,
    /// No video.
    None,
    /// Anything newer (treated as camera).
    #[serde(other)]
    Other,
}

/// A message from the bridge to an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "colibriClass")]
pub enum BridgeMessage {
    /// Sent when the channel opens and in reply to `ClientHello`.
    ServerHello {
        /// The bridge's version, if configured.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// The conference's dominant speaker changed.
    DominantSpeakerEndpointChangeEvent {
        /// The new dominant speaker.
        #[serde(rename = "dominantSpeakerEndpoint")]
        dominant_speaker_endpoint: String,
        /// Earlier dominant speakers, most recent first.
        #[serde(rename = "previousSpeakers", default)]
        previous_speakers: Vec<String>,
    },
    /// The endpoints whose video this receiver now gets (JVB's
    /// ForwardedEndpointsMessage).
    LastNEndpointsChangeEvent {
        /// Endpoint ids, in priority order.
        #[serde(rename = "lastNEndpoints")]
        last_n_endpoints: Vec<String>,
    },
    /// The source-name form of the above (newer clients).
    ForwardedSources {
        /// Source names.
        #[serde(rename = "forwardedSources")]
        forwarded_sources: Vec<String>,
    },
    /// Another endpoint's media stopped or resumed arriving.
    EndpointConnectivityStatusChangeEvent {
        /// The endpoint id.
        endpoint: String,
        /// `"true"` or `"false"`: a string on the wire.
        active: String,
    },
    /// The largest height any receiver currently wants from this sender.
    SenderVideoConstraints {
        /// `{"idealHeight": N}`.
        #[serde(rename = "videoConstraints")]
        video_constraints: SenderVideoConstraints,
    },
    /// The per-source form of the above (newer clients).
    SenderSourceConstraints {
        /// The source name.
        #[serde(rename = "sourceName")]
        source_name: String,
        /// The largest wanted height.
        #[serde(rename = "maxHeight")]
        max_height: i32,
    },
    /// A relayed endpoint message.
    EndpointMessage(EndpointMessage),
    /// Relayed statistics.
    EndpointStats(EndpointStats),
}

/// Body of `SenderVideoConstraints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderVideoConstraints {
    /// The height the sender should encode at most.
    pub ideal_height: i32,
}

/// Parses one incoming bridge-channel text message.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ChannelError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ChannelError::TooLarge {
            len: text.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    serde_json::from_str(text).map_err(ChannelError::Malformed)
}

impl BridgeMessage {
    /// Serializes for the wire.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn receiver_video_constraints_from_the_protocol_doc() {
        let text = r#"{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"onStageEndpoints":["b91e03d4"],"selectedEndpoints":[],"defaultConstraints":{"maxHeight":180},"constraints":{"b91e03d4":{"maxHeight":720}}}"#;
        let ClientMessage::ReceiverVideoConstraints(c) = parse_client_message(text).unwrap() else {
            panic!("wrong class");
        };
        assert_eq!(c.last_n, Some(-1));
        assert_eq!(
            c.on_stage_endpoints.as_deref(),
            Some(&["b91e03d4".to_owned()][..])
        );
        assert_eq!(c.selected_endpoints, Some(vec![]));
        assert_eq!(c.default_constraints.unwrap().max_height, Some(180));
        assert_eq!(c.constraints.unwrap()["b91e03d4"].max_height, Some(720));
        assert_eq!(c.on_stage_sources, None);
    }

    #[test]
    fn source_based_constraints() {
        let text = r#"{"colibriClass":"ReceiverVideoConstraints","onStageSources":["a-v0"],"constraints":{"a-v0":{"maxHeight":360,"maxFrameRate":15}},"assumedBandwidthBps":1000000}"#;
        let ClientMessage::ReceiverVideoConstraints(c) = parse_client_message(text).unwrap() else {
            panic!("wrong class");
        };
        assert_eq!(c.on_stage_sources, Some(vec!["a-v0".to_owned()]));
        assert_eq!(c.last_n, None, "absent fields stay absent");
        assert_eq!(c.constraints.unwrap()["a-v0"].max_frame_rate, Some(15.0));
    }

    #[test]
    fn endpoint_message_keeps_every_field() {
        let text = r#"{"colibriClass":"EndpointMessage","to":"","from":"spoofed","msgPayload":{"type":"reaction","n":[1,2]},"extra":true}"#;
        let ClientMessage::EndpointMessage(m) = parse_client_message(text).unwrap() else {
            panic!("wrong class");
        };
        assert_eq!(m.to.as_deref(), Some(""));
        assert_eq!(m.from.as_deref(), Some("spoofed"));
        assert!(!m.rest.contains_key("colibriClass"));
        assert_eq!(m.rest["msgPayload"], json!({"type":"reaction","n":[1,2]}));
        assert_eq!(m.rest["extra"], json!(true));

        let relayed = BridgeMessage::EndpointMessage(EndpointMessage {
            from: Some("a".into()),
            ..m
        });
        let v: Value = serde_json::from_str(&relayed.to_json().unwrap()).unwrap();
        assert_eq!(
            v,
            json!({"colibriClass":"EndpointMessage","from":"a","to":"","msgPayload":{"type":"reaction","n":[1,2]},"extra":true})
        );
    }

    #[test]
    fn legacy_and_misc_classes() {
        assert_eq!(
            parse_client_message(r#"{"colibriClass":"LastNChangedEvent","lastN":3}"#).unwrap(),
            ClientMessage::LastNChangedEvent { last_n: 3 }
        );
        assert_eq!(
            parse_client_message(
                r#"{"colibriClass":"ReceiverVideoConstraint","maxFrameHeight":360}"#
            )
            .unwrap(),
            ClientMessage::ReceiverVideoConstraint {
                max_frame_height: 360
            }
        );
        assert_eq!(
            parse_client_message(
                r#"{"colibriClass":"SelectedEndpointsChangedEvent","selectedEndpoints":["x"]}"#
            )
            .unwrap(),
            ClientMessage::SelectedEndpointsChangedEvent {
                selected_endpoints: vec!["x".into()]
            }
        );
        assert_eq!(
            parse_client_message(
                r#"{"colibriClass":"VideoTypeMessage","videoType":"desktop_high_fps"}"#
            )
            .unwrap(),
            ClientMessage::VideoTypeMessage {
                video_type: WireVideoType::DesktopHighFps
            }
        );
        assert_eq!(
            parse_client_message(r#"{"colibriClass":"VideoTypeMessage","videoType":"hologram"}"#)
                .unwrap(),
            ClientMessage::VideoTypeMessage {
                video_type: WireVideoType::Other
            }
        );
        assert_eq!(
            parse_client_message(r#"{"colibriClass":"ClientHello","extra":1}"#).unwrap(),
            ClientMessage::ClientHello {}
        );
        assert_eq!(
            parse_client_message(r#"{"colibriClass":"ReceiverAudioSubscription","mode":"All"}"#)
                .unwrap(),
            ClientMessage::Unknown
        );
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        let deep = format!(
            r#"{{"colibriClass":"EndpointMessage","msgPayload":{}{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let junk = [
            "",
            "not json",
            "[]",
            "42",
            "null",
            "{}",
            r#"{"colibriClass":5}"#,
            r#"{"colibriClass":null}"#,
            r#"{"colibriClass":"LastNChangedEvent"}"#,
            r#"{"colibriClass":"LastNChangedEvent","lastN":"three"}"#,
            r#"{"colibriClass":"LastNChangedEvent","lastN":99999999999}"#,
            r#"{"colibriClass":"ReceiverVideoConstraints","constraints":[1]}"#,
            r#"{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":1.5}}"#,
            r#"{"colibriClass":"EndpointMessage","to":7}"#,
            r#"{"colibriClass":"EndpointMessage""#,
            "{\"colibriClass\":\"ClientHello\"}\u{0}",
            &deep,
        ];
        for text in junk {
            assert!(
                matches!(parse_client_message(text), Err(ChannelError::Malformed(_))),
                "accepted {text:.40}"
            );
        }
        let big = format!(
            r#"{{"colibriClass":"EndpointMessage","msgPayload":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert!(matches!(
            parse_client_message(&big),
            Err(ChannelError::TooLarge { .. })
        ));
    }

    #[test]
    fn bridge_messages_serialize_as_clients_expect() {
        let cases = [
            (
                BridgeMessage::ServerHello { version: None },
                json!({"colibriClass":"ServerHello"}),
            ),
            (
                BridgeMessage::DominantSpeakerEndpointChangeEvent {
                    dominant_speaker_endpoint: "a".into(),
                    previous_speakers: vec!["b".into()],
                },
                json!({"colibriClass":"DominantSpeakerEndpointChangeEvent","dominantSpeakerEndpoint":"a","previousSpeakers":["b"]}),
            ),
            (
                BridgeMessage::LastNEndpointsChangeEvent {
                    last_n_endpoints: vec!["a".into(), "b".into()],
                },
                json!({"colibriClass":"LastNEndpointsChangeEvent","lastNEndpoints":["a","b"]}),
            ),
            (
                BridgeMessage::ForwardedSources {
                    forwarded_sources: vec!["a-v0".into()],
                },
                json!({"colibriClass":"ForwardedSources","forwardedSources":["a-v0"]}),
            ),
            (
                BridgeMessage::EndpointConnectivityStatusChangeEvent {
                    endpoint: "a".into(),
                    active: "false".into(),
                },
                json!({"colibriClass":"EndpointConnectivityStatusChangeEvent","endpoint":"a","active":"false"}),
            ),
            (
                BridgeMessage::SenderVideoConstraints {
                    video_constraints: SenderVideoConstraints { ideal_height: 360 },
                },
                json!({"colibriClass":"SenderVideoConstraints","videoConstraints":{"idealHeight":360}}),
            ),
            (
                BridgeMessage::SenderSourceConstraints {
                    source_name: "a-v0".into(),
                    max_height: 180,
                },
                json!({"colibriClass":"SenderSourceConstraints","sourceName":"a-v0","maxHeight":180}),
            ),
        ];
        for (msg, expected) in cases {
            let text = msg.to_json().unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value, expected);
            let back: BridgeMessage = serde_json::from_str(&text).unwrap();
            assert_eq!(back, msg);
        }
    }
}
