//! What the conference tests share: a plain HTTP GET for the daemons'
//! health routes, waiting for a health answer, and driving participants
//! (media and signalling) until everyone hears everyone.

use std::time::Duration;

use crate::participant::Participant;

/// `GET path` on 127.0.0.1:`port`: (status, body), or (0, "") when nothing
/// answers.
pub async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, String::new());
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf).await;
    let code = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Polls `/about/health` on `port` until it answers `want` (status, body),
/// for at most 30 s; `logs` explains a failure.
pub async fn wait_health(port: u16, want: (u16, &str), logs: impl Fn() -> String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = (0, String::new());
    while tokio::time::Instant::now() < deadline {
        last = http_get(port, "/about/health").await;
        if last.0 == want.0 && last.1 == want.1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "/about/health never became {want:?}; last {last:?}\n{}",
        logs()
    );
}

/// Everyone sends media and handles signalling for `dur`.
pub async fn run_all(ps: &mut [&mut Participant], dur: Duration) {
    let deadline = std::time::Instant::now() + dur;
    while std::time::Instant::now() < deadline {
        for p in ps.iter_mut() {
            p.send_media();
            p.run_for(Duration::from_millis(10)).await;
        }
    }
}

/// Waits (20 s) for the participant's ICE and DTLS with the bridge.
pub async fn wait_connected(p: &mut Participant, logs: &str) {
    assert!(
        p.run_until(Duration::from_secs(20), |p| p.connected())
            .await,
        "{}: no ICE/DTLS with the bridge (jingle: {:?})\n{logs}",
        p.nick,
        p.jingle_log
    );
}

/// After 3 s of media, everyone has received at least 20 audio and 20
/// video packets from everyone else.
pub async fn check_media(ps: &mut [&mut Participant], logs: impl Fn() -> String) {
    run_all(ps, Duration::from_secs(3)).await;
    for i in 0..ps.len() {
        for j in 0..ps.len() {
            if i == j {
                continue;
            }
            let (a, v) = ps[i].received_from(ps[j]);
            assert!(
                a >= 20 && v >= 20,
                "{} got {a} audio / {v} video packets from {}; received {:?}, remote {:?}\n{}",
                ps[i].nick,
                ps[j].nick,
                ps[i].received,
                ps[i].remote,
                logs()
            );
        }
    }
}
