//! jicofo's REST routes (jitsi-protocol.md §7.1): `/about/health`,
//! `/about/version`, `/stats`, `/metrics`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use meet_service::http::Reply;
use tokio::net::TcpListener;

use crate::state::State;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn route(state: &State, method: &str, path: &str) -> Reply {
    let path = path.split('?').next().unwrap_or(path);
    if method != "GET" {
        return Reply::not_found();
    }
    match path {
        // jicofo answers 200 with an empty body, or 500 with the reason.
        "/about/health" => match state.health() {
            Ok(()) => Reply::text(200, ""),
            Err(reason) => Reply::text(500, reason),
        },
        "/about/version" => Reply::json(
            200,
            &serde_json::json!({"name": "Jicofo", "version": VERSION, "os": std::env::consts::OS}),
        ),
        "/stats" => Reply::json(200, &stats(state)),
        "/metrics" => {
            let (total, operational) = state.bridge_counts();
            let conferences = state.conferences.load(Ordering::Relaxed);
            let participants = state.participants.load(Ordering::Relaxed);
            let mut text = state.metrics.registry.render();
            text.push_str(&format!(
                "# HELP jicofo_bridges Bridges in the brewery.\n# TYPE jicofo_bridges gauge\njicofo_bridges {total}\n\
                 # HELP jicofo_bridges_operational Operational bridges.\n# TYPE jicofo_bridges_operational gauge\njicofo_bridges_operational {operational}\n\
                 # HELP jicofo_conferences Conferences in progress.\n# TYPE jicofo_conferences gauge\njicofo_conferences {conferences}\n\
                 # HELP jicofo_participants Participants in conferences.\n# TYPE jicofo_participants gauge\njicofo_participants {participants}\n"
            ));
            Reply::prometheus(text)
        }
        _ => Reply::not_found(),
    }
}

fn stats(state: &State) -> serde_json::Value {
    let (total, operational) = state.bridge_counts();
    let mut v = serde_json::json!({
        "conferences": state.conferences.load(Ordering::Relaxed),
        "participants": state.participants.load(Ordering::Relaxed),
        "bridge_selector": {
            "bridge_count": total,
            "operational_bridge_count": operational,
        },
        "xmpp": {
            "component_connected": state.component_up.load(Ordering::Relaxed),
            "client_connected": state.client_up.load(Ordering::Relaxed),
        },
    });
    if let (Some(obj), serde_json::Value::Object(m)) =
        (v.as_object_mut(), state.metrics.registry.to_json())
    {
        obj.extend(m);
    }
    v
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    stop: impl Future<Output = ()> + Send,
) {
    meet_service::http::serve(
        listener,
        // The method's type (hyper's) is inferred from serve's bound.
        move |m, p: String| {
            let state = state.clone();
            let reply = route(&state, m.as_str(), &p);
            async move { reply }
        },
        stop,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn routes() {
        let s = State::new();
        let r = route(&s, "GET", "/about/health");
        assert_eq!(r.status, 500);
        s.component_up.store(true, Ordering::Relaxed);
        s.client_up.store(true, Ordering::Relaxed);
        let r = route(&s, "GET", "/about/health");
        assert_eq!(
            (r.status, &r.body[..]),
            (
                500,
                &b"No operational bridges available (total bridge count: 0)"[..]
            )
        );
        let r = route(&s, "GET", "/stats");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["bridge_selector"]["bridge_count"], 0);
        let r = route(&s, "GET", "/about/version");
        assert!(String::from_utf8_lossy(&r.body).contains("Jicofo"));
        let r = route(&s, "GET", "/metrics");
        assert!(String::from_utf8_lossy(&r.body).contains("jicofo_bridges 0"));
        assert_eq!(route(&s, "GET", "/nope").status, 404);
    }
}
