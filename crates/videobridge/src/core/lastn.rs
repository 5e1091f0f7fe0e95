//! lastN: which sender sources a receiver may get video from, in priority
//! order, and the `LastNEndpointsChangeEvent` bookkeeping.
//!
//! Order: on-stage sources first (in the receiver's order), then selected
//! ones, then by speaker order (dominant speaker, recent speakers, everyone
//! else in join order). Sources the receiver switched off (max height 0) or
//! whose sender says it sends no video take no slot. lastN caps the list;
//! -1 means no cap. lastN counts sources, which for Dec-2021 clients (one
//! video source per endpoint) is the same as counting endpoints.

use super::layers::ReceiverConstraints;
use super::model::{EndpointId, EndpointIdx, VideoType};

/// A sender source considered for one receiver.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'a> {
    pub endpoint: EndpointIdx,
    pub source: u16,
    pub endpoint_id: &'a str,
    pub source_name: Option<&'a str>,
    pub video_type: VideoType,
    /// Position of the sender in the speaker order.
    pub speaker_rank: usize,
    /// Filled in by [`select`].
    pub max_height: Option<u16>,
    /// Filled in by [`select`].
    pub on_stage: bool,
}

/// Orders `candidates` by priority for a receiver, drops those it cannot
/// get, and caps the list at lastN (the receiver's, and the bridge's
/// `limit`, whichever is smaller).
pub(crate) fn select(
    candidates: &mut Vec<Candidate<'_>>,
    constraints: &ReceiverConstraints,
    limit: Option<u32>,
) {
    candidates.retain_mut(|c| {
        c.max_height = constraints.max_height(c.endpoint_id, c.source_name);
        c.video_type != VideoType::None && c.max_height != Some(0)
    });
    candidates.sort_by_cached_key(|c| {
        let stage = constraints.stage_position(c.endpoint_id, c.source_name);
        let selected = constraints.selected_position(c.endpoint_id, c.source_name);
        (
            stage.unwrap_or(usize::MAX),
            selected.unwrap_or(usize::MAX),
            c.speaker_rank,
            c.source,
        )
    });
    for c in candidates.iter_mut() {
        c.on_stage = constraints
            .stage_position(c.endpoint_id, c.source_name)
            .is_some();
    }
    let cap = match (constraints.last_n(), limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(cap) = cap {
        candidates.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
}

/// The forwarded-endpoints list last sent to one receiver.
#[derive(Debug, Clone, Default)]
pub(crate) struct ForwardedEndpoints {
    last_sent: Option<Vec<EndpointId>>,
}

impl ForwardedEndpoints {
    /// Records `now_forwarded` (priority order); true if the set differs from
    /// what the receiver was last told. Reordering alone is not news: the
    /// client only shows who is and is not forwarded.
    pub fn update(&mut self, now_forwarded: &[EndpointId]) -> bool {
        let changed = match &self.last_sent {
            None => true,
            Some(prev) => {
                prev.len() != now_forwarded.len()
                    || !now_forwarded.iter().all(|id| prev.contains(id))
            }
        };
        if changed {
            self.last_sent = Some(now_forwarded.to_vec());
        }
        changed
    }

    /// The list last sent, if any.
    pub fn current(&self) -> Option<&[EndpointId]> {
        self.last_sent.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::channel::ReceiverVideoConstraints;

    fn cand(slot: u32, id: &'static str, rank: usize) -> Candidate<'static> {
        Candidate {
            endpoint: EndpointIdx::new(slot, 0),
            source: 0,
            endpoint_id: id,
            source_name: None,
            video_type: VideoType::Camera,
            speaker_rank: rank,
            max_height: None,
            on_stage: false,
        }
    }

    fn ids(c: &[Candidate<'_>]) -> Vec<&'static str> {
        c.iter()
            .map(|c| match c.endpoint.slot() {
                1 => "a",
                2 => "b",
                3 => "c",
                _ => "d",
            })
            .collect()
    }

    #[test]
    fn speaker_order_then_last_n() {
        let mut c = ReceiverConstraints::new(180);
        let mut list = vec![cand(1, "a", 2), cand(2, "b", 0), cand(3, "c", 1)];
        select(&mut list, &c, None);
        assert_eq!(ids(&list), ["b", "c", "a"]);

        c.set_last_n(1);
        let mut list = vec![cand(1, "a", 2), cand(2, "b", 0), cand(3, "c", 1)];
        select(&mut list, &c, None);
        assert_eq!(ids(&list), ["b"]);

        // The bridge's own limit applies too.
        c.set_last_n(-1);
        let mut list = vec![cand(1, "a", 2), cand(2, "b", 0), cand(3, "c", 1)];
        select(&mut list, &c, Some(2));
        assert_eq!(ids(&list), ["b", "c"]);
    }

    #[test]
    fn on_stage_and_selected_come_first() {
        let mut c = ReceiverConstraints::new(180);
        c.apply(&ReceiverVideoConstraints {
            last_n: Some(2),
            on_stage_endpoints: Some(vec!["a".into()]),
            selected_endpoints: Some(vec!["c".into()]),
            ..Default::default()
        });
        let mut list = vec![
            cand(1, "a", 2),
            cand(2, "b", 0),
            cand(3, "c", 1),
            cand(4, "d", 3),
        ];
        select(&mut list, &c, None);
        assert_eq!(ids(&list), ["a", "c"]);
        assert!(list[0].on_stage);
        assert!(!list[1].on_stage);
    }

    #[test]
    fn switched_off_sources_take_no_slot() {
        let mut c = ReceiverConstraints::new(180);
        c.set_last_n(1);
        c.apply(&ReceiverVideoConstraints {
            constraints: Some(
                [(
                    "b".to_owned(),
                    crate::core::channel::VideoConstraints {
                        max_height: Some(0),
                        max_frame_rate: None,
                    },
                )]
                .into(),
            ),
            ..Default::default()
        });
        let mut muted = cand(3, "c", 1);
        muted.video_type = VideoType::None;
        let mut list = vec![cand(1, "a", 2), cand(2, "b", 0), muted];
        select(&mut list, &c, None);
        assert_eq!(ids(&list), ["a"]);
    }

    #[test]
    fn forwarded_list_changes_are_set_changes() {
        let a = EndpointId::new("a").unwrap();
        let b = EndpointId::new("b").unwrap();
        let mut f = ForwardedEndpoints::default();
        assert!(f.update(&[]), "the first list is always news");
        assert!(!f.update(&[]));
        assert!(f.update(&[a.clone(), b.clone()]));
        assert!(!f.update(&[b.clone(), a.clone()]));
        assert!(f.update(std::slice::from_ref(&b)));
        assert_eq!(f.current(), Some(&[b][..]));
    }
}
