//! A test double of the media plane: [`FakeMedia`] implements
//! [`MediaHandle`] with no sockets, hands out deterministic ICE credentials
//! and fingerprints, records every call, and can be told to fail like a
//! stopped engine. The control plane's unit and integration tests run against
//! it so they do not depend on UDP or str0m.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};

use crate::engine::{
    EndpointSource, EngineError, LocalCandidate, LocalTransport, MediaHandle, MediaStats,
    RemoteTransport,
};

/// The fake's feedback SSRCs (audio, video), fixed so tests can look for them.
pub const FEEDBACK_SSRCS: (u32, u32) = (3_191_927_963, 1_863_439_907);

/// The fingerprint every fake endpoint offers.
pub const FINGERPRINT: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

/// One recorded call on the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Allocate {
        conference: String,
        endpoint: String,
    },
    SetRemoteTransport {
        conference: String,
        endpoint: String,
        remote: RemoteTransport,
    },
    SetSources {
        conference: String,
        endpoint: String,
        sources: Vec<EndpointSource>,
    },
    ExpireEndpoint {
        conference: String,
        endpoint: String,
    },
    ExpireConference {
        conference: String,
    },
}

#[derive(Debug, Default)]
struct Inner {
    /// conference → endpoint → the transport offered to it.
    conferences: BTreeMap<String, BTreeMap<String, LocalTransport>>,
    calls: Vec<Call>,
    allocations: u64,
    stopped: bool,
    /// What the next set_sources fails with, if anything.
    refuse_sources: Option<EngineError>,
    /// Traffic figures the test wants the bridge to report.
    traffic: MediaStats,
}

/// See the module documentation.
#[derive(Debug)]
pub struct FakeMedia {
    inner: Mutex<Inner>,
    /// Address of the single host candidate.
    host: SocketAddr,
}

impl Default for FakeMedia {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeMedia {
    /// A fake whose host candidate is 127.0.0.1:10000.
    pub fn new() -> Self {
        Self::with_host(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 10000))
    }

    /// A fake whose host candidate is `host` (plus one srflx candidate in
    /// TEST-NET-3, so answers carry both kinds).
    pub fn with_host(host: SocketAddr) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            host,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide later assertions behind a
        // poisoned lock; the data is plain bookkeeping.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Forget the recorded calls.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Whether the fake currently has `endpoint` in `conference`.
    pub fn has_endpoint(&self, conference: &str, endpoint: &str) -> bool {
        self.lock()
            .conferences
            .get(conference)
            .is_some_and(|c| c.contains_key(endpoint))
    }

    /// Whether the fake currently has `conference`.
    pub fn has_conference(&self, conference: &str) -> bool {
        self.lock().conferences.contains_key(conference)
    }

    /// From now on every call fails with [`EngineError::Stopped`].
    pub fn stop(&self) {
        self.lock().stopped = true;
    }

    /// The next [`MediaHandle::set_sources`] fails with `e` (as the real
    /// media plane refuses an SSRC of another endpoint, say).
    pub fn refuse_next_sources(&self, e: EngineError) {
        self.lock().refuse_sources = Some(e);
    }

    /// Traffic figures (rates, totals, stress) that [`MediaHandle::stats`]
    /// reports; conference and endpoint counts always come from the fake's state.
    pub fn set_traffic(&self, traffic: MediaStats) {
        self.lock().traffic = traffic;
    }

    fn transport_for(&self, n: u64) -> LocalTransport {
        let srflx = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), self.host.port());
        LocalTransport {
            // ICE ufrag ≥ 4 and pwd ≥ 22 characters of ice-char (RFC 8839).
            ufrag: format!("fake{n:04}"),
            pwd: format!("fakepwd{n:04}abcdefghijklmnopq+/"),
            fingerprint_sha256: FINGERPRINT.to_string(),
            candidates: vec![
                LocalCandidate {
                    addr: self.host,
                    typ: "host",
                    related: None,
                    priority: 2_130_706_431,
                    foundation: "1".to_string(),
                },
                LocalCandidate {
                    addr: srflx,
                    typ: "srflx",
                    related: Some(self.host),
                    priority: 1_694_498_815,
                    foundation: "2".to_string(),
                },
            ],
        }
    }

    fn check_endpoint(inner: &Inner, conference: &str, endpoint: &str) -> Result<(), EngineError> {
        let conf = inner
            .conferences
            .get(conference)
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))?;
        if conf.contains_key(endpoint) {
            Ok(())
        } else {
            Err(EngineError::EndpointNotFound(endpoint.to_string()))
        }
    }
}

impl MediaHandle for FakeMedia {
    fn allocate(&self, conference: &str, endpoint: &str) -> Result<LocalTransport, EngineError> {
        let mut inner = self.lock();
        inner.calls.push(Call::Allocate {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
        });
        if inner.stopped {
            return Err(EngineError::Stopped);
        }
        if inner
            .conferences
            .get(conference)
            .is_some_and(|c| c.contains_key(endpoint))
        {
            return Err(EngineError::EndpointExists(endpoint.to_string()));
        }
        inner.allocations += 1;
        let transport = self.transport_for(inner.allocations);
        inner
            .conferences
            .entry(conference.to_string())
            .or_default()
            .insert(endpoint.to_string(), transport.clone());
        Ok(transport)
    }

    fn set_remote_transport(
        &self,
        conference: &str,
        endpoint: &str,
        remote: RemoteTransport,
    ) -> Result<(), EngineError> {
        let mut inner = self.lock();
        inner.calls.push(Call::SetRemoteTransport {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
            remote,
        });
        if inner.stopped {
            return Err(EngineError::Stopped);
        }
        Self::check_endpoint(&inner, conference, endpoint)
    }

    fn set_sources(
        &self,
        conference: &str,
        endpoint: &str,
        sources: Vec<EndpointSource>,
    ) -> Result<(), EngineError> {
        let mut inner = self.lock();
        inner.calls.push(Call::SetSources {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
            sources,
        });
        if inner.stopped {
            return Err(EngineError::Stopped);
        }
        Self::check_endpoint(&inner, conference, endpoint)?;
        match inner.refuse_sources.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn expire_endpoint(&self, conference: &str, endpoint: &str) -> Result<(), EngineError> {
        let mut inner = self.lock();
        inner.calls.push(Call::ExpireEndpoint {
            conference: conference.to_string(),
            endpoint: endpoint.to_string(),
        });
        if inner.stopped {
            return Err(EngineError::Stopped);
        }
        Self::check_endpoint(&inner, conference, endpoint)?;
        if let Some(conf) = inner.conferences.get_mut(conference) {
            conf.remove(endpoint);
        }
        Ok(())
    }

    fn expire_conference(&self, conference: &str) -> Result<(), EngineError> {
        let mut inner = self.lock();
        inner.calls.push(Call::ExpireConference {
            conference: conference.to_string(),
        });
        if inner.stopped {
            return Err(EngineError::Stopped);
        }
        inner
            .conferences
            .remove(conference)
            .map(|_| ())
            .ok_or_else(|| EngineError::ConferenceNotFound(conference.to_string()))
    }

    fn feedback_ssrcs(&self) -> (u32, u32) {
        FEEDBACK_SSRCS
    }

    fn stats(&self) -> MediaStats {
        let inner = self.lock();
        MediaStats {
            conferences: inner.conferences.len(),
            endpoints: inner.conferences.values().map(BTreeMap::len).sum(),
            ..inner.traffic.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_deterministic_and_recorded() {
        let m = FakeMedia::new();
        let a = m.allocate("c", "e1").expect("first");
        let b = m.allocate("c", "e2").expect("second");
        assert_eq!(a.ufrag, "fake0001");
        assert_eq!(b.ufrag, "fake0002");
        assert!(a.pwd.len() >= 22);
        assert_eq!(a.candidates.len(), 2);
        assert_eq!(
            m.allocate("c", "e1"),
            Err(EngineError::EndpointExists("e1".into()))
        );
        assert_eq!(m.stats().conferences, 1);
        assert_eq!(m.stats().endpoints, 2);
        m.expire_endpoint("c", "e1").expect("expire");
        assert!(!m.has_endpoint("c", "e1"));
        assert_eq!(
            m.set_sources("c", "e1", vec![]),
            Err(EngineError::EndpointNotFound("e1".into()))
        );
        m.expire_conference("c").expect("expire conference");
        assert!(!m.has_conference("c"));
        assert_eq!(m.calls().len(), 6);
        m.stop();
        assert_eq!(m.allocate("c", "e3"), Err(EngineError::Stopped));
    }
}
