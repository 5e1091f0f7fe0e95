//! Layer choice for one receiver: which simulcast layer of each ranked sender
//! source it gets, from its constraints and its available bandwidth.
//!
//! The input is already ranked and cut to lastN (see `lastn`); the output is
//! one optional layer per source. The allocation degrades gracefully: when
//! bandwidth is short, lower-priority sources lose their higher layers first,
//! then are dropped altogether; audio is never part of the trade (its bitrate
//! is reserved by the caller before the budget reaches here).

use std::collections::BTreeMap;

use super::channel::ReceiverVideoConstraints;
use super::model::MAX_LAYERS;

/// A receiver's current `ReceiverVideoConstraints`, merged over time (clients
/// send partial updates; absent fields keep their values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverConstraints {
    /// None = unlimited.
    last_n: Option<u32>,
    on_stage_endpoints: Vec<String>,
    on_stage_sources: Vec<String>,
    selected_endpoints: Vec<String>,
    selected_sources: Vec<String>,
    /// None = unlimited, Some(0) = no video.
    default_max_height: Option<u16>,
    /// Keyed by source name or endpoint id.
    per_source: BTreeMap<String, Option<u16>>,
}

/// Wire heights: negative means unlimited, 0 means off.
fn height_limit(h: Option<i32>) -> Option<u16> {
    match h {
        Some(h) if h >= 0 => Some(u16::try_from(h).unwrap_or(u16::MAX)),
        _ => None,
    }
}

impl ReceiverConstraints {
    /// Constraints before the receiver said anything: unlimited lastN, every
    /// source at `default_max_height`.
    pub fn new(default_max_height: u16) -> Self {
        ReceiverConstraints {
            default_max_height: Some(default_max_height),
            ..Default::default()
        }
    }

    /// Merges a `ReceiverVideoConstraints` message.
    pub fn apply(&mut self, msg: &ReceiverVideoConstraints) {
        if let Some(n) = msg.last_n {
            self.set_last_n(n);
        }
        let lists = [
            (&msg.on_stage_endpoints, &mut self.on_stage_endpoints),
            (&msg.on_stage_sources, &mut self.on_stage_sources),
            (&msg.selected_endpoints, &mut self.selected_endpoints),
            (&msg.selected_sources, &mut self.selected_sources),
        ];
        for (new, field) in lists {
            if let Some(new) = new {
                field.clone_from(new);
            }
        }
        if let Some(d) = &msg.default_constraints {
            self.default_max_height = height_limit(d.max_height);
        }
        if let Some(map) = &msg.constraints {
            self.per_source = map
                .iter()
                .map(|(k, v)| (k.clone(), height_limit(v.max_height)))
                .collect();
        }
    }

    /// Legacy `LastNChangedEvent`; negative means unlimited.
    pub fn set_last_n(&mut self, n: i32) {
        self.last_n = u32::try_from(n).ok();
    }

    /// Legacy `SelectedEndpointsChangedEvent`.
    pub fn set_selected_endpoints(&mut self, ids: Vec<String>) {
        self.selected_endpoints = ids;
    }

    /// Legacy `ReceiverVideoConstraint`: one height for everything.
    pub fn set_default_max_height(&mut self, h: i32) {
        self.default_max_height = height_limit(Some(h));
        self.per_source.clear();
    }

    /// lastN (None = unlimited).
    pub fn last_n(&self) -> Option<u32> {
        self.last_n
    }

    /// Max height for a source (None = unlimited, Some(0) = off): its own
    /// entry by source name, else its endpoint's, else the default.
    pub fn max_height(&self, endpoint_id: &str, source_name: Option<&str>) -> Option<u16> {
        source_name
            .and_then(|n| self.per_source.get(n))
            .or_else(|| self.per_source.get(endpoint_id))
            .copied()
            .unwrap_or(self.default_max_height)
    }

    /// Position among on-stage sources, if on stage.
    pub fn stage_position(&self, endpoint_id: &str, source_name: Option<&str>) -> Option<usize> {
        position(
            &self.on_stage_sources,
            &self.on_stage_endpoints,
            endpoint_id,
            source_name,
        )
    }

    /// Position among selected sources, if selected.
    pub fn selected_position(&self, endpoint_id: &str, source_name: Option<&str>) -> Option<usize> {
        position(
            &self.selected_sources,
            &self.selected_endpoints,
            endpoint_id,
            source_name,
        )
    }
}

fn position(
    sources: &[String],
    endpoints: &[String],
    endpoint_id: &str,
    source_name: Option<&str>,
) -> Option<usize> {
    let by_source = source_name.and_then(|n| sources.iter().position(|s| s == n));
    let by_endpoint = endpoints.iter().position(|e| e == endpoint_id);
    match (by_source, by_endpoint) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One layer as the allocator sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerInfo {
    /// Frame height.
    pub height: u16,
    /// Measured bitrate.
    pub bitrate_bps: u64,
    /// The sender is currently sending it.
    pub active: bool,
}

/// One ranked source to allocate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceRequest {
    /// Its layers, lowest first; only the first `layer_count` are used.
    pub layers: [LayerInfo; MAX_LAYERS],
    /// How many layers it has.
    pub layer_count: usize,
    /// None = unlimited.
    pub max_height: Option<u16>,
    /// On stage: gets a decent layer before thumbnails get anything.
    pub on_stage: bool,
}

impl SourceRequest {
    /// Layers the receiver may get, lowest first: active ones within the max
    /// height, or if none is that small, the lowest active one (a receiver
    /// that wants video at all gets some rather than none).
    fn eligible(&self) -> impl Iterator<Item = (u8, LayerInfo)> + '_ {
        let layers = self.layers.get(..self.layer_count).unwrap_or(&[]);
        let within = |l: &LayerInfo| self.max_height.is_none_or(|m| l.height <= m);
        let any_within = layers.iter().any(|l| l.active && within(l));
        let off = self.max_height == Some(0);
        let mut fallback_taken = false;
        layers.iter().enumerate().filter_map(move |(i, l)| {
            if off || !l.active {
                return None;
            }
            let ok = if any_within {
                within(l)
            } else {
                // Only the lowest active layer stands in.
                !std::mem::replace(&mut fallback_taken, true)
            };
            ok.then(|| (u8::try_from(i).unwrap_or(u8::MAX), *l))
        })
    }

    fn bitrate(&self, layer: u8) -> u64 {
        self.layers
            .get(usize::from(layer))
            .map_or(0, |l| l.bitrate_bps)
    }

    /// The highest eligible layer no taller than `cap` that costs at most
    /// `budget`; if every eligible layer is taller than `cap`, the lowest one
    /// if affordable.
    fn best(&self, cap: Option<u16>, budget: u64) -> Option<u8> {
        let mut best = None;
        let mut lowest = None;
        let mut any_under_cap = false;
        for (i, l) in self.eligible() {
            lowest.get_or_insert((i, l));
            let under_cap = cap.is_none_or(|c| l.height <= c);
            any_under_cap |= under_cap;
            if under_cap && l.bitrate_bps <= budget {
                best = Some(i);
            }
        }
        if best.is_none() && !any_under_cap {
            return lowest
                .filter(|(_, l)| l.bitrate_bps <= budget)
                .map(|(i, _)| i);
        }
        best
    }
}

/// Chooses a layer for each request (in rank order) within `budget_bps`
/// (None = unlimited):
/// 1. on-stage sources get up to `on_stage_preferred_height`;
/// 2. the others get their lowest layer, in rank order, until one does not
///    fit; it and all after it are dropped;
/// 3. in rank order, each allocated source is raised as far as the rest of
///    the budget and its max height allow.
pub fn allocate(
    requests: &[SourceRequest],
    budget_bps: Option<u64>,
    on_stage_preferred_height: u16,
) -> Vec<Option<u8>> {
    let mut remaining = budget_bps.unwrap_or(u64::MAX);
    let mut choice: Vec<Option<u8>> = vec![None; requests.len()];

    for (req, slot) in requests
        .iter()
        .zip(choice.iter_mut())
        .filter(|(r, _)| r.on_stage)
    {
        let cap = Some(req.max_height.map_or(on_stage_preferred_height, |m| {
            m.min(on_stage_preferred_height)
        }));
        if let Some(layer) = req.best(cap, remaining) {
            remaining = remaining.saturating_sub(req.bitrate(layer));
            *slot = Some(layer);
        }
    }

    for (req, slot) in requests
        .iter()
        .zip(choice.iter_mut())
        .filter(|(r, _)| !r.on_stage)
    {
        let Some((layer, info)) = req.eligible().next() else {
            continue;
        };
        if info.bitrate_bps > remaining {
            break;
        }
        remaining -= info.bitrate_bps;
        *slot = Some(layer);
    }

    for (req, slot) in requests.iter().zip(choice.iter_mut()) {
        let Some(current) = *slot else {
            continue;
        };
        let cost = req.bitrate(current);
        let available = remaining.saturating_add(cost);
        if let Some(better) = req.best(req.max_height, available).filter(|&b| b > current) {
            remaining = available.saturating_sub(req.bitrate(better));
            *slot = Some(better);
        }
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::channel::VideoConstraints;

    /// A 3-layer source at 150k / 500k / 1.5M, all active.
    fn simulcast(max_height: Option<u16>, on_stage: bool) -> SourceRequest {
        let l = |height, bitrate_bps| LayerInfo {
            height,
            bitrate_bps,
            active: true,
        };
        SourceRequest {
            layers: [l(180, 150_000), l(360, 500_000), l(720, 1_500_000)],
            layer_count: 3,
            max_height,
            on_stage,
        }
    }

    #[test]
    fn max_height_picks_the_layer() {
        for (max, expected) in [
            (Some(180), Some(0)),
            (Some(360), Some(1)),
            (Some(720), Some(2)),
            (Some(1080), Some(2)),
            (Some(300), Some(0)),
            (Some(100), Some(0)),
            (None, Some(2)),
            (Some(0), None),
        ] {
            assert_eq!(
                allocate(&[simulcast(max, false)], None, 360),
                vec![expected],
                "{max:?}"
            );
        }
    }

    #[test]
    fn inactive_layers_are_skipped() {
        let mut s = simulcast(Some(720), false);
        s.layers[2].active = false;
        assert_eq!(allocate(&[s], None, 360), vec![Some(1)]);
        s.layers = [LayerInfo::default(); 3];
        assert_eq!(allocate(&[s], None, 360), vec![None]);
        // Only the high layer is sent, the receiver wants 180: it gets 720.
        let mut high_only = simulcast(Some(180), false);
        high_only.layers[0].active = false;
        high_only.layers[1].active = false;
        assert_eq!(allocate(&[high_only], None, 360), vec![Some(2)]);
    }

    #[test]
    fn bandwidth_limits_the_layer() {
        let s = simulcast(Some(720), false);
        assert_eq!(allocate(&[s], Some(100_000), 360), vec![None]);
        assert_eq!(allocate(&[s], Some(300_000), 360), vec![Some(0)]);
        assert_eq!(allocate(&[s], Some(800_000), 360), vec![Some(1)]);
        assert_eq!(allocate(&[s], Some(3_000_000), 360), vec![Some(2)]);
    }

    #[test]
    fn lower_priority_sources_are_dropped_first() {
        let s = simulcast(Some(720), false);
        // Room for two thumbnails and not three.
        assert_eq!(
            allocate(&[s, s, s], Some(350_000), 360),
            vec![Some(0), Some(0), None]
        );
        // The first in rank is raised before the others.
        assert_eq!(
            allocate(&[s, s, s], Some(1_000_000), 360),
            vec![Some(1), Some(0), Some(0)]
        );
    }

    #[test]
    fn on_stage_gets_a_good_layer_first() {
        let thumb = simulcast(Some(180), false);
        let stage = simulcast(Some(720), true);
        // 700k: stage 360p (500k) first, one thumbnail (150k), not the second.
        assert_eq!(
            allocate(&[stage, thumb, thumb], Some(700_000), 360),
            vec![Some(1), Some(0), None]
        );
        // Plenty: stage to 720p, thumbnails at 180p.
        assert_eq!(
            allocate(&[stage, thumb, thumb], None, 360),
            vec![Some(2), Some(0), Some(0)]
        );
    }

    #[test]
    fn constraints_merge_partial_updates() {
        let mut c = ReceiverConstraints::new(180);
        assert_eq!(c.max_height("a", Some("a-v0")), Some(180));
        assert_eq!(c.last_n(), None);
        let mut msg = ReceiverVideoConstraints {
            last_n: Some(2),
            on_stage_endpoints: Some(vec!["b".into()]),
            default_constraints: Some(VideoConstraints {
                max_height: Some(360),
                max_frame_rate: None,
            }),
            ..Default::default()
        };
        msg.constraints = Some(BTreeMap::from([
            (
                "b".to_owned(),
                VideoConstraints {
                    max_height: Some(720),
                    max_frame_rate: None,
                },
            ),
            (
                "c-v1".to_owned(),
                VideoConstraints {
                    max_height: Some(0),
                    max_frame_rate: None,
                },
            ),
        ]));
        c.apply(&msg);
        assert_eq!(c.last_n(), Some(2));
        assert_eq!(c.max_height("a", None), Some(360));
        assert_eq!(c.max_height("b", Some("b-v0")), Some(720));
        assert_eq!(c.max_height("c", Some("c-v1")), Some(0));
        assert_eq!(c.stage_position("b", Some("b-v0")), Some(0));
        assert_eq!(c.stage_position("a", None), None);

        // Only lastN: everything else stays.
        c.apply(&ReceiverVideoConstraints {
            last_n: Some(-1),
            ..Default::default()
        });
        assert_eq!(c.last_n(), None);
        assert_eq!(c.max_height("b", None), Some(720));
        assert_eq!(c.stage_position("b", None), Some(0));

        c.set_default_max_height(-1);
        assert_eq!(c.max_height("b", None), None);
    }
}
