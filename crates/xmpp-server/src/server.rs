//! The running server's shared state, and the [`C2sEnv`] every transport
//! edge gives its session: account look-ups, routing, binding, counters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use meet_service::metrics::{Metric, Registry};
use minidom::Element;

use crate::accounts::{AccountStore, Credentials};
use crate::c2s::{C2sEnv, HostPolicy};
use crate::config::{self, ServerConfig};
use crate::router::{Inbox, Router};
use crate::sasl::AuthMethod;
use crate::services::HostServices;

/// Counters exported on /metrics.
#[derive(Debug)]
pub struct Counters {
    pub c2s_connections: Arc<Metric>,
    pub c2s_sessions: Arc<Metric>,
    pub logins: Arc<Metric>,
    pub login_failures: Arc<Metric>,
    pub stream_errors: Arc<Metric>,
    pub components: Arc<Metric>,
    pub bosh_sessions: Arc<Metric>,
    pub websocket_sessions: Arc<Metric>,
    pub rejected_connections: Arc<Metric>,
    pub muc_rooms: Arc<Metric>,
    pub muc_occupants: Arc<Metric>,
}

pub struct Shared {
    pub cfg: Arc<ServerConfig>,
    pub router: Arc<Router>,
    pub accounts: Arc<AccountStore>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub registry: Registry,
    pub counters: Counters,
    unauthenticated: Mutex<HashMap<IpAddr, u32>>,
}

impl Shared {
    pub fn new(
        cfg: ServerConfig,
        accounts: AccountStore,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Arc<Self> {
        let services = HostServices::from_config(&cfg);
        let mut registry = Registry::new();
        let counters = Counters {
            c2s_connections: registry.gauge(
                "xmpp_c2s_connections",
                "Open client connections (all transports).",
            ),
            c2s_sessions: registry.gauge("xmpp_c2s_sessions", "Bound client sessions."),
            logins: registry.counter("xmpp_logins_total", "Successful SASL authentications."),
            login_failures: registry
                .counter("xmpp_login_failures_total", "Failed SASL authentications."),
            stream_errors: registry.counter(
                "xmpp_stream_errors_total",
                "Streams closed with a stream error.",
            ),
            components: registry.gauge("xmpp_components", "Connected external components."),
            bosh_sessions: registry.gauge("xmpp_bosh_sessions", "Open BOSH sessions."),
            websocket_sessions: registry
                .gauge("xmpp_websocket_sessions", "Open WebSocket sessions."),
            muc_rooms: registry.gauge("xmpp_muc_rooms", "MUC rooms in memory."),
            muc_occupants: registry.gauge("xmpp_muc_occupants", "MUC occupants."),
            rejected_connections: registry.counter(
                "xmpp_rejected_connections_total",
                "Connections refused by the per-address limit on unauthenticated streams.",
            ),
        };
        Arc::new(Self {
            cfg: Arc::new(cfg),
            router: Router::new(services),
            accounts: Arc::new(accounts),
            tls,
            registry,
            counters,
            unauthenticated: Mutex::new(HashMap::new()),
        })
    }

    /// Count an unauthenticated connection from `ip`; false when the address
    /// is over its limit (the connection should be refused).
    pub fn admit_unauthenticated(&self, ip: IpAddr) -> bool {
        let mut map = self
            .unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.cfg.max_unauthenticated_per_ip {
            self.counters.rejected_connections.inc();
            return false;
        }
        *n += 1;
        true
    }

    pub fn release_unauthenticated(&self, ip: IpAddr) {
        let mut map = self
            .unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }
}

/// The environment of one client session.
pub struct SessionEnv {
    pub shared: Arc<Shared>,
    pub inbox: Inbox,
    pub peer: String,
}

pub fn auth_method(m: config::AuthMethod) -> AuthMethod {
    match m {
        config::AuthMethod::Anonymous => AuthMethod::Anonymous,
        config::AuthMethod::InternalPlain => AuthMethod::InternalPlain,
        config::AuthMethod::InternalHashed => AuthMethod::InternalHashed,
    }
}

impl C2sEnv for SessionEnv {
    fn host_policy(&self, host: &str) -> Option<HostPolicy> {
        self.shared.cfg.virtual_host(host).map(|vh| HostPolicy {
            auth: auth_method(vh.authentication),
            require_encryption: vh.c2s_require_encryption,
            allow_unencrypted_plain: vh.allow_unencrypted_plain_auth,
            disabled_mechanisms: vh.disable_sasl_mechanisms.clone(),
        })
    }

    fn tls_available(&self, host: &str) -> bool {
        self.shared.tls.is_some()
            && self
                .shared
                .cfg
                .virtual_host(host)
                .is_some_and(|vh| vh.ssl.is_some())
    }

    fn credentials(&self, user: &str, host: &str) -> Result<Option<Credentials>, String> {
        self.shared
            .accounts
            .credentials(user, host)
            .map_err(|e| e.to_string())
    }

    fn bind(&mut self, bare: &str, requested: Option<&str>) -> (String, u64) {
        self.shared.counters.c2s_sessions.inc();
        self.shared.router.bind(bare, requested, self.inbox.clone())
    }

    fn unbind(&mut self, bare: &str, id: u64) {
        self.shared.counters.c2s_sessions.dec();
        self.shared.router.unbind(bare, id);
    }

    fn set_presence(&mut self, bare: &str, id: u64, available: bool, priority: i8) {
        self.shared
            .router
            .set_presence(bare, id, available, priority);
    }

    fn route(&mut self, stanza: Element) {
        self.shared.router.route(stanza);
    }

    fn auth_failed(&mut self, user: Option<&str>, host: &str, reason: &str) {
        self.shared.counters.login_failures.inc();
        tracing::info!(peer = %self.peer, host, user = user.unwrap_or("-"), reason, "authentication failed");
    }

    fn auth_succeeded(&mut self, jid: &str, mechanism: &str) {
        self.shared.counters.logins.inc();
        tracing::info!(peer = %self.peer, jid = %jid, mechanism = %mechanism, "authenticated");
    }
}
