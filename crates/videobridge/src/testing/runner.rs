//! One tokio task per synthetic endpoint: it reads the endpoint's socket
//! the moment a datagram arrives (so latency is not inflated by a polling
//! loop), feeds the endpoint, and sleeps until the endpoint's next timer or
//! send. All tasks of a run share one [`RunControl`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::endpoint::{EndpointReport, SyntheticEndpoint};

/// Longest a task sleeps before looking at the control flags.
const MAX_SLEEP: Duration = Duration::from_millis(20);

/// Flags every task of a run watches.
#[derive(Debug, Default)]
pub struct RunControl {
    /// Send media (set once everyone has connected, so connecting is not
    /// slowed down by the media of those already in).
    pub sending: AtomicBool,
    /// Count sent and received packets and latencies.
    pub measuring: AtomicBool,
    /// Leave the loop and report.
    pub stop: AtomicBool,
    /// Endpoints whose DTLS is up.
    pub connected: AtomicUsize,
}

/// Drives `ep` on `socket` until [`RunControl::stop`]; returns what it
/// measured.
pub async fn drive(
    mut ep: SyntheticEndpoint,
    socket: UdpSocket,
    control: Arc<RunControl>,
) -> EndpointReport {
    let mut buf = vec![0u8; 2048];
    let mut counted = false;
    // Time moves on for the endpoint only when it asked for it (or media
    // is due): a str0m timeout walks all of a peer's streams, too costly
    // to run after every datagram of a 50-sender conference.
    let mut next = Instant::now();
    while !control.stop.load(Ordering::Relaxed) {
        ep.set_sending(control.sending.load(Ordering::Relaxed));
        ep.set_measuring(control.measuring.load(Ordering::Relaxed));
        // UDP on loopback: a full buffer loses the datagram, as a network
        // would.
        let send = |data: &[u8], to| {
            let _ = socket.try_send_to(data, to);
        };
        let now = Instant::now();
        if now >= next {
            next = ep.poll(now, send);
        }
        if !counted && ep.is_connected() {
            counted = true;
            control.connected.fetch_add(1, Ordering::Relaxed);
        }
        let wake = next.min(now + MAX_SLEEP);
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                if let Ok((n, src)) = r {
                    let mut want = buf.get(..n).and_then(|d| ep.receive(Instant::now(), src, d, send));
                    // Whatever else is queued, without going back to sleep.
                    while let Ok((n, src)) = socket.try_recv_from(&mut buf) {
                        if let Some(t) = buf.get(..n).and_then(|d| ep.receive(Instant::now(), src, d, send)) {
                            want = Some(want.map_or(t, |w| w.min(t)));
                        }
                    }
                    if let Some(t) = want {
                        next = next.min(t);
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
    ep.into_report()
}
