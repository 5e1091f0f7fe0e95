//! What the handles know without asking the workers: which conferences and
//! endpoints exist, their ICE credentials, the SSRCs each endpoint owns,
//! and which worker each conference lives on. Everything the media plane
//! refuses is refused here, synchronously, so the control plane can answer
//! Colibri2 with the reason; a worker then never meets a request it would
//! have to drop silently. Touched per signalling request, never per packet.

use std::collections::HashMap;

use crate::core::model::{self, MAX_SSRCS_PER_ENDPOINT};
use crate::core::{ModelError, SourceDescription};
use crate::engine::{EndpointSource, EngineError};

use super::endpoint::to_core;
use super::placement::Placement;

/// An endpoint as the handles know it.
#[derive(Debug)]
pub struct Registered {
    pub ufrag: String,
    pub pwd: String,
    /// Every SSRC of its accepted sources.
    pub ssrcs: Vec<u32>,
}

#[derive(Debug)]
pub struct RegisteredConference {
    pub shard: usize,
    pub endpoints: HashMap<String, Registered>,
}

#[derive(Debug)]
pub struct Registry {
    pub conferences: HashMap<String, RegisteredConference>,
    placement: Placement,
    max_endpoints: usize,
}

/// What an expiry removed: the worker to tell, and the ufrags to unroute.
#[derive(Debug)]
pub struct Removed {
    pub shard: usize,
    pub ufrags: Vec<String>,
}

impl Registry {
    pub fn new(shards: usize, max_endpoints: usize) -> Self {
        Registry {
            conferences: HashMap::new(),
            placement: Placement::new(shards),
            max_endpoints,
        }
    }

    /// Adds an endpoint (and its conference, placed on the least loaded
    /// worker, if new); returns the conference's worker.
    pub fn allocate(
        &mut self,
        conference: &str,
        endpoint: &str,
        ufrag: &str,
        pwd: &str,
    ) -> Result<usize, EngineError> {
        if let Some(conf) = self.conferences.get(conference) {
            if conf.endpoints.contains_key(endpoint) {
                return Err(EngineError::EndpointExists(endpoint.to_string()));
            }
            if conf.endpoints.len() >= self.max_endpoints {
                return Err(EngineError::ConferenceFull(self.max_endpoints));
            }
        }
        let placement = &mut self.placement;
        let conf = self
            .conferences
            .entry(conference.to_string())
            .or_insert_with(|| RegisteredConference {
                shard: placement.place_conference(),
                endpoints: HashMap::new(),
            });
        conf.endpoints.insert(
            endpoint.to_string(),
            Registered {
                ufrag: ufrag.to_string(),
                pwd: pwd.to_string(),
                ssrcs: Vec::new(),
            },
        );
        self.placement.add_endpoint(conf.shard);
        Ok(conf.shard)
    }

    pub fn endpoint(&self, conference: &str, endpoint: &str) -> Result<&Registered, EngineError> {
        self.conferences
            .get(conference)
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?
            .endpoints
            .get(endpoint)
            .ok_or_else(|| EngineError::EndpointNotFound(endpoint.to_string()))
    }

    pub fn shard_of(&self, conference: &str) -> Option<usize> {
        self.conferences.get(conference).map(|c| c.shard)
    }

    /// Checks a complete new source set of an endpoint and records its
    /// SSRCs; returns the sources the worker should apply (kinds other
    /// than audio and video carry no RTP and are left out).
    pub fn set_sources(
        &mut self,
        conference: &str,
        endpoint: &str,
        sources: Vec<EndpointSource>,
    ) -> Result<(usize, Vec<EndpointSource>), EngineError> {
        let conf = self
            .conferences
            .get_mut(conference)
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?;
        if !conf.endpoints.contains_key(endpoint) {
            return Err(EngineError::EndpointNotFound(endpoint.to_string()));
        }
        let (sources, ignored): (Vec<_>, Vec<_>) = sources
            .into_iter()
            .partition(|s| matches!(s.kind.as_str(), "audio" | "video"));
        if !ignored.is_empty() {
            tracing::debug!(
                conference,
                endpoint,
                count = ignored.len(),
                "non-RTP sources ignored"
            );
        }
        let ssrcs = check_sources(&sources)?;
        for &ssrc in &ssrcs {
            if let Some((owner, _)) = conf
                .endpoints
                .iter()
                .find(|(id, e)| id.as_str() != endpoint && e.ssrcs.contains(&ssrc))
            {
                return Err(EngineError::SsrcInUse {
                    ssrc,
                    owner: owner.clone(),
                });
            }
        }
        if let Some(e) = conf.endpoints.get_mut(endpoint) {
            e.ssrcs = ssrcs;
        }
        Ok((conf.shard, sources))
    }

    pub fn expire_endpoint(
        &mut self,
        conference: &str,
        endpoint: &str,
    ) -> Result<Removed, EngineError> {
        let conf = self
            .conferences
            .get_mut(conference)
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?;
        let removed = conf
            .endpoints
            .remove(endpoint)
            .ok_or_else(|| EngineError::EndpointNotFound(endpoint.to_string()))?;
        let shard = conf.shard;
        self.placement.remove_endpoints(shard, 1);
        // The worker drops an empty conference too.
        if conf.endpoints.is_empty() {
            self.conferences.remove(conference);
            self.placement.remove_conference(shard, 0);
        }
        Ok(Removed {
            shard,
            ufrags: vec![removed.ufrag],
        })
    }

    pub fn expire_conference(&mut self, conference: &str) -> Result<Removed, EngineError> {
        let conf = self
            .conferences
            .remove(conference)
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?;
        self.placement
            .remove_conference(conf.shard, conf.endpoints.len());
        Ok(Removed {
            shard: conf.shard,
            ufrags: conf.endpoints.into_values().map(|e| e.ufrag).collect(),
        })
    }

    pub fn endpoint_count(&self) -> usize {
        self.conferences.values().map(|c| c.endpoints.len()).sum()
    }
}

/// The checks of the forwarding core's model (so the worker's core never
/// refuses what was accepted here), plus SSRC 0, which str0m and libwebrtc
/// use for probing. Returns every SSRC of the set.
fn check_sources(sources: &[EndpointSource]) -> Result<Vec<u32>, EngineError> {
    let descs: Vec<SourceDescription> = sources.iter().map(to_core).collect();
    model::validate_sources(&descs).map_err(|e| match e {
        ModelError::TooManySsrcs(count) => EngineError::TooManySources {
            count,
            max: MAX_SSRCS_PER_ENDPOINT,
        },
        other => EngineError::InvalidSources(other.to_string()),
    })?;
    let ssrcs: Vec<u32> = sources
        .iter()
        .flat_map(|s| s.ssrcs.iter().copied())
        .collect();
    if ssrcs.contains(&0) {
        return Err(EngineError::InvalidSources(
            "SSRC 0 is reserved (probing)".into(),
        ));
    }
    Ok(ssrcs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(ssrc: u32) -> EndpointSource {
        EndpointSource {
            kind: "audio".into(),
            name: String::new(),
            ssrcs: vec![ssrc],
            sim: vec![],
            fid: vec![],
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::new(2, 3);
        r.allocate("c", "a", "ua", "pa").unwrap();
        r.allocate("c", "b", "ub", "pb").unwrap();
        r
    }

    #[test]
    fn an_ssrc_of_another_endpoint_is_refused_with_its_owner() {
        let mut r = registry();
        r.set_sources("c", "a", vec![audio(5)]).unwrap();
        assert_eq!(
            r.set_sources("c", "b", vec![audio(5)]).unwrap_err(),
            EngineError::SsrcInUse {
                ssrc: 5,
                owner: "a".into()
            }
        );
        // The endpoint itself may re-signal it; once it lets go, b may take it.
        r.set_sources("c", "a", vec![audio(5)]).unwrap();
        r.set_sources("c", "a", vec![audio(6)]).unwrap();
        r.set_sources("c", "b", vec![audio(5)]).unwrap();
        // Other conferences are separate.
        r.allocate("d", "x", "ux", "px").unwrap();
        r.set_sources("d", "x", vec![audio(5)]).unwrap();
    }

    #[test]
    fn malformed_and_excessive_sources_are_refused() {
        let mut r = registry();
        let many: Vec<_> = (1..=40).map(audio).collect();
        assert_eq!(
            r.set_sources("c", "a", many).unwrap_err(),
            EngineError::TooManySources {
                count: 40,
                max: MAX_SSRCS_PER_ENDPOINT
            }
        );
        assert!(matches!(
            r.set_sources("c", "a", vec![audio(0)]),
            Err(EngineError::InvalidSources(_))
        ));
        assert!(matches!(
            r.set_sources("c", "a", vec![audio(7), audio(7)]),
            Err(EngineError::InvalidSources(t)) if t.contains("listed twice")
        ));
        let bad_sim = EndpointSource {
            kind: "video".into(),
            name: String::new(),
            ssrcs: vec![1, 2],
            sim: vec![1, 2, 3],
            fid: vec![],
        };
        assert!(matches!(
            r.set_sources("c", "a", vec![bad_sim]),
            Err(EngineError::InvalidSources(_))
        ));
        // Nothing was recorded by the refused requests.
        assert!(r.endpoint("c", "a").unwrap().ssrcs.is_empty());
        // Non-RTP kinds are ignored, not refused.
        let data = EndpointSource {
            kind: "data".into(),
            ..audio(9)
        };
        let (_, kept) = r.set_sources("c", "a", vec![data, audio(8)]).unwrap();
        assert_eq!(kept, vec![audio(8)]);
        assert_eq!(
            r.set_sources("x", "a", vec![]).unwrap_err(),
            EngineError::ConferenceNotFound("x".into())
        );
        assert_eq!(
            r.set_sources("c", "z", vec![]).unwrap_err(),
            EngineError::EndpointNotFound("z".into())
        );
    }

    #[test]
    fn conferences_are_placed_and_bounded() {
        let mut r = registry();
        assert_eq!(
            r.allocate("c", "a", "u", "p").unwrap_err(),
            EngineError::EndpointExists("a".into())
        );
        r.allocate("c", "c3", "u3", "p3").unwrap();
        assert_eq!(
            r.allocate("c", "c4", "u4", "p4").unwrap_err(),
            EngineError::ConferenceFull(3)
        );
        // "c" sits on worker 0 with 3 endpoints: the next conference goes
        // to worker 1, and all of its endpoints with it.
        assert_eq!(r.shard_of("c"), Some(0));
        assert_eq!(r.allocate("d", "x", "ux", "px").unwrap(), 1);
        assert_eq!(r.allocate("d", "y", "uy", "py").unwrap(), 1);
        let removed = r.expire_conference("c").unwrap();
        assert_eq!(removed.shard, 0);
        assert_eq!(removed.ufrags.len(), 3);
        assert_eq!(r.allocate("e", "x", "ue", "pe").unwrap(), 0);
        let removed = r.expire_endpoint("e", "x").unwrap();
        assert_eq!(removed.ufrags, vec!["ue".to_string()]);
        assert!(r.shard_of("e").is_none(), "empty conference dropped");
        assert_eq!(r.endpoint_count(), 2);
    }
}
