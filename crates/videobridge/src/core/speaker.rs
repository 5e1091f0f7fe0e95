//! Dominant-speaker detection from RFC 6464 audio levels.
//!
//! Each audio packet carries a level in -dBov (0 = loudest, 127 = silence).
//! The hot path only adds the packet's loudness above a noise floor to the
//! sender's accumulator. At each evaluation (the caller's tick) the interval's
//! mean loudness feeds an exponential moving average per endpoint: its speech
//! activity score. An interval without packets counts as silence, which is
//! what DTX and muted microphones look like.
//!
//! The dominant speaker changes only when another endpoint's score is above
//! the speech threshold and clearly (by a margin) above the current speaker's
//! for a minimum duration; brief noise does not last long enough, and when
//! everyone is silent nobody is clearly louder, so the last speaker stays.
//!
//! The detector also keeps the speaker order used to rank senders for lastN:
//! most recent dominant speakers first, then everyone else in join order.

use std::time::Duration;

use super::clock::Timestamp;
use super::model::EndpointIdx;

/// Tuning of the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerConfig {
    /// How often the caller should evaluate (the core's poll interval).
    pub tick: Duration,
    /// Time constant of the score's moving average.
    pub time_constant: Duration,
    /// How long a challenger must stay clearly louder before it takes over.
    pub min_switch_duration: Duration,
    /// Levels at or above this (in -dBov) count as silence; louder levels
    /// count by how far they are above it.
    pub noise_floor_level: u8,
    /// Lowest score that counts as speech.
    pub speech_threshold: f32,
    /// How much higher a challenger's score must be than the speaker's.
    pub switch_margin: f32,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        SpeakerConfig {
            tick: Duration::from_millis(100),
            time_constant: Duration::from_millis(300),
            min_switch_duration: Duration::from_secs(1),
            // -70 dBov is room noise; conversational speech is -10 to -40.
            noise_floor_level: 70,
            speech_threshold: 12.0,
            switch_margin: 8.0,
        }
    }
}

/// A change of dominant speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeakerChange {
    /// The new dominant speaker.
    pub dominant: EndpointIdx,
    /// The one before, if any.
    pub previous: Option<EndpointIdx>,
}

#[derive(Debug, Clone)]
struct Entry {
    idx: EndpointIdx,
    loudness_sum: u32,
    packets: u32,
    score: f32,
    has_been_dominant: bool,
}

/// The detector for one conference.
#[derive(Debug, Clone)]
pub struct SpeakerDetector {
    config: SpeakerConfig,
    /// Indexed by endpoint slot.
    entries: Vec<Option<Entry>>,
    dominant: Option<EndpointIdx>,
    /// Who is clearly louder than the dominant speaker, and since when.
    challenger: Option<(EndpointIdx, Timestamp)>,
    /// Recent dominant speakers first, then the rest in join order.
    order: Vec<EndpointIdx>,
    last_evaluation: Option<Timestamp>,
}

impl SpeakerDetector {
    /// A detector with no endpoints.
    pub fn new(config: SpeakerConfig) -> Self {
        SpeakerDetector {
            config,
            entries: Vec::new(),
            dominant: None,
            challenger: None,
            order: Vec::new(),
            last_evaluation: None,
        }
    }

    fn entry(&self, idx: EndpointIdx) -> Option<&Entry> {
        self.entries
            .get(idx.slot())
            .and_then(Option::as_ref)
            .filter(|e| e.idx == idx)
    }

    fn entry_mut(&mut self, idx: EndpointIdx) -> Option<&mut Entry> {
        self.entries
            .get_mut(idx.slot())
            .and_then(Option::as_mut)
            .filter(|e| e.idx == idx)
    }

    /// Starts tracking an endpoint (last in the speaker order).
    pub fn add(&mut self, idx: EndpointIdx) {
        if self.entries.len() <= idx.slot() {
            self.entries.resize_with(idx.slot() + 1, || None);
        }
        if let Some(slot) = self.entries.get_mut(idx.slot()) {
            *slot = Some(Entry {
                idx,
                loudness_sum: 0,
                packets: 0,
                score: 0.0,
                has_been_dominant: false,
            });
        }
        self.order.retain(|&e| e != idx);
        self.order.push(idx);
    }

    /// Stops tracking an endpoint. If it was the dominant speaker there is
    /// none until someone speaks.
    pub fn remove(&mut self, idx: EndpointIdx) {
        if let Some(slot) = self.entries.get_mut(idx.slot())
            && slot.as_ref().is_some_and(|e| e.idx == idx)
        {
            *slot = None;
        }
        self.order.retain(|&e| e != idx);
        if self.dominant == Some(idx) {
            self.dominant = None;
        }
        if self.challenger.is_some_and(|(c, _)| c == idx) {
            self.challenger = None;
        }
    }

    /// Counts one packet's audio level (the hot path: two adds).
    #[inline]
    pub fn on_audio_level(&mut self, idx: EndpointIdx, level: u8) {
        let loudness = self.config.noise_floor_level.saturating_sub(level.min(127));
        if let Some(e) = self.entry_mut(idx) {
            e.loudness_sum = e.loudness_sum.saturating_add(u32::from(loudness));
            e.packets = e.packets.saturating_add(1);
        }
    }

    /// Folds the levels counted since the last evaluation into the scores and
    /// decides whether the dominant speaker changes.
    pub fn evaluate(&mut self, now: Timestamp) -> Option<SpeakerChange> {
        let Some(last) = self.last_evaluation.replace(now) else {
            // First call: nothing to measure the interval against yet.
            for e in self.entries.iter_mut().flatten() {
                e.loudness_sum = 0;
                e.packets = 0;
            }
            return None;
        };
        let dt = now.saturating_since(last).as_secs_f32();
        let tau = self.config.time_constant.as_secs_f32().max(1e-3);
        let alpha = 1.0 - (-dt / tau).exp();
        for e in self.entries.iter_mut().flatten() {
            let mean = if e.packets == 0 {
                0.0
            } else {
                e.loudness_sum as f32 / e.packets as f32
            };
            e.score += alpha * (mean - e.score);
            e.loudness_sum = 0;
            e.packets = 0;
        }

        let dominant_score = self
            .dominant
            .and_then(|d| self.entry(d))
            .map_or(0.0, |e| e.score);
        let loudest = self
            .entries
            .iter()
            .flatten()
            .filter(|e| Some(e.idx) != self.dominant)
            .max_by(|a, b| a.score.total_cmp(&b.score));
        let clearly_louder = loudest
            .filter(|e| {
                e.score >= self.config.speech_threshold
                    && e.score >= dominant_score + self.config.switch_margin
            })
            .map(|e| e.idx);
        let Some(candidate) = clearly_louder else {
            self.challenger = None;
            return None;
        };
        match self.challenger {
            Some((c, since)) if c == candidate => {
                if now.saturating_since(since) >= self.config.min_switch_duration {
                    return Some(self.switch_to(candidate));
                }
            }
            _ => self.challenger = Some((candidate, now)),
        }
        None
    }

    fn switch_to(&mut self, idx: EndpointIdx) -> SpeakerChange {
        let previous = self.dominant.replace(idx);
        self.challenger = None;
        if let Some(e) = self.entry_mut(idx) {
            e.has_been_dominant = true;
        }
        self.order.retain(|&e| e != idx);
        self.order.insert(0, idx);
        SpeakerChange {
            dominant: idx,
            previous,
        }
    }

    /// The dominant speaker, if anyone has spoken.
    pub fn dominant(&self) -> Option<EndpointIdx> {
        self.dominant
    }

    /// Everyone, recent dominant speakers first, then in join order.
    pub fn order(&self) -> &[EndpointIdx] {
        &self.order
    }

    /// Earlier dominant speakers, most recent first (for
    /// `DominantSpeakerEndpointChangeEvent.previousSpeakers`).
    pub fn previous_speakers(&self) -> impl Iterator<Item = EndpointIdx> + '_ {
        self.order
            .iter()
            .copied()
            .filter(move |&e| Some(e) != self.dominant)
            .filter(|&e| self.entry(e).is_some_and(|x| x.has_been_dominant))
    }

    /// An endpoint's current speech activity score.
    pub fn score(&self, idx: EndpointIdx) -> Option<f32> {
        self.entry(idx).map(|e| e.score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SILENCE: u8 = 127;
    const SPEECH: u8 = 25;

    struct Run {
        d: SpeakerDetector,
        now: Timestamp,
        changes: Vec<(Timestamp, SpeakerChange)>,
    }

    impl Run {
        fn new(n: u32) -> (Self, Vec<EndpointIdx>) {
            let mut d = SpeakerDetector::new(SpeakerConfig::default());
            let ids: Vec<_> = (0..n).map(|i| EndpointIdx::new(i, 0)).collect();
            for &i in &ids {
                d.add(i);
            }
            d.evaluate(Timestamp::ZERO);
            (
                Run {
                    d,
                    now: Timestamp::ZERO,
                    changes: Vec::new(),
                },
                ids,
            )
        }

        /// Feeds 20 ms audio packets with the given levels for `ms`,
        /// evaluating every 100 ms.
        fn feed(&mut self, ms: u64, levels: &[(EndpointIdx, u8)]) {
            for _ in 0..ms / 20 {
                self.now += Duration::from_millis(20);
                for &(i, level) in levels {
                    self.d.on_audio_level(i, level);
                }
                if self.now.as_micros().is_multiple_of(100_000)
                    && let Some(c) = self.d.evaluate(self.now)
                {
                    self.changes.push((self.now, c));
                }
            }
        }
    }

    #[test]
    fn sustained_speech_takes_over_after_the_minimum_duration() {
        let (mut r, ids) = Run::new(2);
        let (a, b) = (ids[0], ids[1]);
        r.feed(3000, &[(a, SPEECH), (b, SILENCE)]);
        assert_eq!(r.changes.len(), 1);
        let (t, c) = r.changes[0];
        assert_eq!(
            c,
            SpeakerChange {
                dominant: a,
                previous: None
            }
        );
        assert!(
            t >= Timestamp::from_millis(1000) && t <= Timestamp::from_millis(1500),
            "{t:?}"
        );

        r.changes.clear();
        let start = r.now;
        r.feed(3000, &[(a, SILENCE), (b, SPEECH)]);
        assert_eq!(r.changes.len(), 1);
        let (t, c) = r.changes[0];
        assert_eq!(
            c,
            SpeakerChange {
                dominant: b,
                previous: Some(a)
            }
        );
        let after = t.saturating_since(start);
        assert!(
            after >= Duration::from_millis(1000) && after <= Duration::from_millis(1700),
            "{after:?}"
        );
        assert_eq!(r.d.order(), &[b, a]);
        assert_eq!(r.d.previous_speakers().collect::<Vec<_>>(), vec![a]);
    }

    #[test]
    fn brief_noise_does_not_switch() {
        let (mut r, ids) = Run::new(2);
        let (a, b) = (ids[0], ids[1]);
        r.feed(2000, &[(a, SPEECH), (b, SILENCE)]);
        assert_eq!(r.d.dominant(), Some(a));
        r.changes.clear();
        // A loud 300 ms cough from b while a keeps talking...
        r.feed(300, &[(a, SPEECH), (b, 5)]);
        r.feed(2000, &[(a, SPEECH), (b, SILENCE)]);
        // ...and again while a is silent.
        r.feed(300, &[(a, SILENCE), (b, 5)]);
        r.feed(3000, &[(a, SILENCE), (b, SILENCE)]);
        assert!(r.changes.is_empty(), "{:?}", r.changes);
        assert_eq!(r.d.dominant(), Some(a), "silence keeps the last speaker");
    }

    #[test]
    fn background_noise_is_not_speech() {
        let (mut r, ids) = Run::new(2);
        r.feed(5000, &[(ids[0], 65), (ids[1], SILENCE)]);
        assert_eq!(r.d.dominant(), None);
    }

    #[test]
    fn missing_packets_count_as_silence() {
        let (mut r, ids) = Run::new(2);
        let (a, b) = (ids[0], ids[1]);
        r.feed(2000, &[(a, SPEECH)]);
        assert_eq!(r.d.dominant(), Some(a));
        // a goes quiet by sending nothing (DTX / muted).
        r.feed(3000, &[(b, SPEECH)]);
        assert_eq!(r.d.dominant(), Some(b));
    }

    #[test]
    fn removal_forgets_the_speaker() {
        let (mut r, ids) = Run::new(3);
        r.feed(2000, &[(ids[1], SPEECH)]);
        assert_eq!(r.d.dominant(), Some(ids[1]));
        r.d.remove(ids[1]);
        assert_eq!(r.d.dominant(), None);
        assert_eq!(r.d.order(), &[ids[0], ids[2]]);
        // A stale index (same slot, other generation) is ignored.
        r.d.on_audio_level(EndpointIdx::new(1, 7), 0);
        r.d.add(EndpointIdx::new(1, 1));
        assert_eq!(r.d.order(), &[ids[0], ids[2], EndpointIdx::new(1, 1)]);
    }
}
