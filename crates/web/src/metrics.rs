//! The web server's counters, rendered at `/metrics` by meet-service's
//! registry. The registry has no labels, so the status class is part of
//! the name (`web_responses_2xx_total`).

use std::sync::Arc;

use meet_service::metrics::{Metric, Registry};

pub struct Metrics {
    registry: Registry,
    pub responses: [Arc<Metric>; 5],
    pub connections_active: Arc<Metric>,
    pub tls_handshake_failures: Arc<Metric>,
    pub websockets_active: Arc<Metric>,
    pub proxied_bytes_to_upstream: Arc<Metric>,
    pub proxied_bytes_to_client: Arc<Metric>,
    pub upstream_errors: Arc<Metric>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::new();
        let responses = [
            r.counter(
                "web_responses_1xx_total",
                "Responses with a 1xx status (WebSocket upgrades).",
            ),
            r.counter("web_responses_2xx_total", "Responses with a 2xx status."),
            r.counter(
                "web_responses_3xx_total",
                "Responses with a 3xx status (redirects, not modified).",
            ),
            r.counter("web_responses_4xx_total", "Responses with a 4xx status."),
            r.counter("web_responses_5xx_total", "Responses with a 5xx status."),
        ];
        Self {
            connections_active: r.gauge(
                "web_connections_active",
                "Client connections open (WebSockets included).",
            ),
            tls_handshake_failures: r.counter(
                "web_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out.",
            ),
            websockets_active: r.gauge(
                "web_websockets_active",
                "Proxied WebSockets open (XMPP and colibri-ws).",
            ),
            proxied_bytes_to_upstream: r.counter(
                "web_proxied_bytes_to_upstream_total",
                "Bytes of request bodies and WebSocket traffic sent to xmpp-server and videobridge.",
            ),
            proxied_bytes_to_client: r.counter(
                "web_proxied_bytes_to_client_total",
                "Bytes of response bodies and WebSocket traffic from xmpp-server and videobridge.",
            ),
            upstream_errors: r.counter(
                "web_upstream_errors_total",
                "Proxied requests answered 502 or 504 because the upstream failed.",
            ),
            responses,
            registry: r,
        }
    }

    /// Count a response by its status class.
    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].inc();
    }

    pub fn render(&self) -> String {
        self.registry.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class() {
        let m = Metrics::new();
        m.response(200);
        m.response(204);
        m.response(101);
        m.response(502);
        m.response(999);
        let text = m.render();
        assert!(text.contains("web_responses_2xx_total 2\n"), "{text}");
        assert!(text.contains("web_responses_1xx_total 1\n"), "{text}");
        assert!(text.contains("web_responses_5xx_total 2\n"), "{text}");
        assert!(
            text.contains("# TYPE web_websockets_active gauge\n"),
            "{text}"
        );
    }
}
