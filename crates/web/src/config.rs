//! The web server's configuration: `/etc/meet-rs/web.toml` (etc/web.toml
//! in the repository documents every key), `WEB__SECTION__KEY` environment
//! overrides, and the checks that run before anything starts. Each key
//! replaces a directive of the guide's Apache site or a key of its
//! `config.js`; the doc comment of each field names it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use meet_service::config::{ConfigError, ConfigProblem, Validate};
use serde::Deserialize;

pub const DEFAULT_PATH: &str = "/etc/meet-rs/web.toml";
/// `WEB__SERVER__PLAIN_HTTP=true` overrides `server.plain_http`.
pub const ENV_PREFIX: &str = "WEB";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub hosts: Hosts,
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub proxy: Proxy,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub config_js: ConfigJs,
}

/// config.js `hosts.*`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    /// hosts.domain (required).
    pub domain: String,
    /// hosts.anonymousdomain: secure-domain mode's guest domain.
    #[serde(default)]
    pub anonymousdomain: Option<String>,
    /// hosts.muc; "conference." + domain when unset.
    #[serde(default)]
    pub muc: Option<String>,
    /// hosts.focus; "focus." + domain when unset.
    #[serde(default)]
    pub focus: Option<String>,
}

impl Hosts {
    pub fn muc(&self) -> String {
        self.muc
            .clone()
            .unwrap_or_else(|| format!("conference.{}", self.domain))
    }
    pub fn focus(&self) -> String {
        self.focus
            .clone()
            .unwrap_or_else(|| format!("focus.{}", self.domain))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// `<VirtualHost *:443>`.
    #[serde(default = "default_https_listen")]
    pub https_listen: Vec<SocketAddr>,
    /// `<VirtualHost *:80>` with its 301 redirect (the app itself in
    /// plain_http mode).
    #[serde(default = "default_http_listen")]
    pub http_listen: Vec<SocketAddr>,
    /// No TLS: serve everything on http_listen (localhost development).
    #[serde(default)]
    pub plain_http: bool,
    /// SSLCertificateFile.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// SSLCertificateKeyFile.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    /// DocumentRoot.
    #[serde(default = "default_static_root")]
    pub static_root: PathBuf,
    /// `Header set Strict-Transport-Security "max-age=31536000"`; 0 = none.
    #[serde(default = "default_hsts_max_age")]
    pub hsts_max_age: u64,
    /// /metrics answers loopback clients only unless this is set.
    #[serde(default)]
    pub metrics_allow_remote: bool,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            https_listen: default_https_listen(),
            http_listen: default_http_listen(),
            plain_http: false,
            certificate: None,
            private_key: None,
            static_root: default_static_root(),
            hsts_max_age: default_hsts_max_age(),
            metrics_allow_remote: false,
        }
    }
}

/// Where the proxied paths go (`ProxyPass`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// BOSH `/http-bind` and WebSocket `/xmpp-websocket`.
    #[serde(default = "default_xmpp_server")]
    pub xmpp_server: String,
    /// colibri-ws `/colibri-ws/…`.
    #[serde(default = "default_videobridge")]
    pub videobridge: String,
}

impl Default for Proxy {
    fn default() -> Self {
        Self {
            xmpp_server: default_xmpp_server(),
            videobridge: default_videobridge(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// LimitRequestBody: larger request bodies are answered 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// LimitRequestFieldSize / LimitRequestLine: request line plus headers;
    /// larger is answered 431.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// KeepAliveTimeout / Timeout: idle keep-alive connections, slow
    /// request headers and bodies, TLS handshakes.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// MaxRequestWorkers: simultaneous client connections (WebSockets
    /// included).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_header_bytes: default_max_header_bytes(),
            idle_timeout_secs: default_idle_timeout_secs(),
            max_connections: default_max_connections(),
        }
    }
}

/// The rest of the guide's `<domain>-config.js`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigJs {
    /// p2p.enabled. Off by default: every call goes through the bridge.
    #[serde(default)]
    pub p2p_enabled: bool,
    /// p2p.stunServers, as `stun:host:port` URLs.
    #[serde(default)]
    pub p2p_stun_servers: Vec<String>,
    /// Whether config.js names the WebSocket URL (else BOSH only).
    #[serde(default = "yes")]
    pub websocket: bool,
    /// focusUserJid.
    #[serde(default)]
    pub focus_user_jid: Option<String>,
    /// defaultLanguage.
    #[serde(default)]
    pub default_language: Option<String>,
    /// requireDisplayName.
    #[serde(default)]
    pub require_display_name: bool,
    /// prejoinPageEnabled.
    #[serde(default)]
    pub prejoin_page_enabled: bool,
    /// startAudioMuted.
    #[serde(default)]
    pub start_audio_muted: Option<u32>,
    /// startVideoMuted.
    #[serde(default)]
    pub start_video_muted: Option<u32>,
    /// channelLastN.
    #[serde(default = "default_channel_last_n")]
    pub channel_last_n: i32,
    /// Any other config.js key, verbatim; wins over the keys above.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for ConfigJs {
    fn default() -> Self {
        Self {
            p2p_enabled: false,
            p2p_stun_servers: Vec::new(),
            websocket: true,
            focus_user_jid: None,
            default_language: None,
            require_display_name: false,
            prejoin_page_enabled: false,
            start_audio_muted: None,
            start_video_muted: None,
            channel_last_n: default_channel_last_n(),
            extra: serde_json::Map::new(),
        }
    }
}

fn default_https_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 443))]
}
fn default_http_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 80))]
}
fn default_static_root() -> PathBuf {
    PathBuf::from("/usr/share/meet-rs/web")
}
fn default_hsts_max_age() -> u64 {
    31_536_000
}
fn default_xmpp_server() -> String {
    "http://127.0.0.1:5280".into()
}
fn default_videobridge() -> String {
    "http://127.0.0.1:8080".into()
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_max_header_bytes() -> usize {
    16 * 1024
}
fn default_idle_timeout_secs() -> u64 {
    60
}
fn default_max_connections() -> usize {
    8192
}
fn default_channel_last_n() -> i32 {
    -1
}
fn yes() -> bool {
    true
}

/// Smallest header limit accepted: a browser's ordinary request with
/// cookies needs a few KiB, and less would refuse real clients.
pub const MIN_HEADER_BYTES: usize = 2048;

/// A proxy target: plain HTTP on a host and port (loopback in a standard
/// deployment; TLS ends here, as it did at Apache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`, as written into request URIs and used to connect.
    pub authority: String,
}

impl Upstream {
    /// Parse `http://host[:port][/]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: must start with http:// (TLS ends at meet-web)"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        if authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "{url:?}: only scheme, host and port (the request's path is kept)"
            ));
        }
        let uri: hyper::Uri = format!("http://{authority}/")
            .parse()
            .map_err(|e| format!("{url:?}: {e}"))?;
        let host = uri.host().unwrap_or_default();
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let port = uri.port_u16().unwrap_or(80);
        if port == 0 {
            return Err(format!("{url:?}: port 0"));
        }
        Ok(Self {
            authority: format!("{host}:{port}"),
        })
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        self.validate_hosts(&mut p);
        self.validate_server(&mut p);
        for (key, url) in [
            ("proxy.xmpp_server", &self.proxy.xmpp_server),
            ("proxy.videobridge", &self.proxy.videobridge),
        ] {
            if let Err(e) = Upstream::parse(url) {
                p.push(ConfigProblem::new(key, e));
            }
        }
        self.validate_limits(&mut p);
        p
    }
}

impl Config {
    /// File, then `WEB__…` overrides, then validation.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        meet_service::config::load(path, ENV_PREFIX)
    }

    /// TOML text (no environment), for tests.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        meet_service::config::parse_str(path, text)
    }

    pub fn xmpp_upstream(&self) -> Result<Upstream, String> {
        Upstream::parse(&self.proxy.xmpp_server)
    }

    pub fn videobridge_upstream(&self) -> Result<Upstream, String> {
        Upstream::parse(&self.proxy.videobridge)
    }

    /// The port HTTPS is reached on from outside, for redirects: the first
    /// HTTPS listener's.
    pub fn https_port(&self) -> u16 {
        self.server.https_listen.first().map_or(443, |a| a.port())
    }

    fn validate_hosts(&self, p: &mut Vec<ConfigProblem>) {
        let h = &self.hosts;
        if let Some(problem) = domain_problem(&h.domain) {
            p.push(ConfigProblem::new("hosts.domain", problem));
        }
        for (key, value) in [
            ("hosts.anonymousdomain", &h.anonymousdomain),
            ("hosts.muc", &h.muc),
            ("hosts.focus", &h.focus),
        ] {
            if let Some(problem) = value.as_deref().and_then(domain_problem) {
                p.push(ConfigProblem::new(key, problem));
            }
        }
    }

    fn validate_server(&self, p: &mut Vec<ConfigProblem>) {
        let s = &self.server;
        if s.plain_http {
            if s.http_listen.is_empty() {
                p.push(ConfigProblem::new(
                    "server.http_listen",
                    "empty: with plain_http = true the app is served here",
                ));
            }
        } else {
            if s.https_listen.is_empty() {
                p.push(ConfigProblem::new(
                    "server.https_listen",
                    "empty: at least one address (or set plain_http = true)",
                ));
            }
            for (key, value) in [
                ("server.certificate", &s.certificate),
                ("server.private_key", &s.private_key),
            ] {
                if value.as_ref().is_none_or(|v| v.as_os_str().is_empty()) {
                    p.push(ConfigProblem::new(
                        key,
                        "missing (required unless plain_http = true)",
                    ));
                }
            }
        }
        let mut seen = HashSet::new();
        let lists = [
            ("server.https_listen", &s.https_listen),
            ("server.http_listen", &s.http_listen),
        ];
        for (key, list) in lists {
            if key == "server.https_listen" && s.plain_http {
                continue;
            }
            for (i, addr) in list.iter().enumerate() {
                if addr.port() == 0 {
                    p.push(ConfigProblem::new(format!("{key}[{i}]"), "port 0"));
                } else if !seen.insert(*addr) {
                    p.push(ConfigProblem::new(
                        format!("{key}[{i}]"),
                        format!("{addr} is listed twice"),
                    ));
                }
            }
        }
        if !s.static_root.is_dir() {
            p.push(ConfigProblem::new(
                "server.static_root",
                format!("{} is not a directory", s.static_root.display()),
            ));
        }
    }

    fn validate_limits(&self, p: &mut Vec<ConfigProblem>) {
        let l = &self.limits;
        if l.max_body_bytes == 0 {
            p.push(ConfigProblem::new("limits.max_body_bytes", "must not be 0"));
        }
        if l.max_header_bytes < MIN_HEADER_BYTES {
            p.push(ConfigProblem::new(
                "limits.max_header_bytes",
                format!("at least {MIN_HEADER_BYTES}"),
            ));
        }
        if l.idle_timeout_secs == 0 {
            p.push(ConfigProblem::new(
                "limits.idle_timeout_secs",
                "must not be 0",
            ));
        }
        if l.max_connections == 0 || l.max_connections > u32::MAX as usize {
            p.push(ConfigProblem::new(
                "limits.max_connections",
                "between 1 and 4294967295",
            ));
        }
    }
}

/// Why `name` is not a usable DNS domain for config.js, if it is not. The
/// names end up in a script, so only the DNS alphabet is allowed.
pub fn domain_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("empty".into());
    }
    if name.len() > 253 {
        return Some("longer than 253 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Some(format!(
            "{name:?}: {c:?} is not allowed in a domain (letters, digits, '-', '.')"
        ));
    }
    if name.split('.').any(str::is_empty) {
        return Some(format!("{name:?}: empty label"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("web.toml"), text)
    }

    fn minimal(root: &Path) -> String {
        format!(
            "[hosts]\ndomain = \"meet.example.com\"\n[server]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\nstatic_root = \"{}\"\n",
            root.display()
        )
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = parse(&minimal(dir.path())).expect("valid");
        assert_eq!(cfg.hosts.muc(), "conference.meet.example.com");
        assert_eq!(cfg.hosts.focus(), "focus.meet.example.com");
        assert_eq!(cfg.server.https_listen, default_https_listen());
        assert_eq!(cfg.https_port(), 443);
        assert_eq!(cfg.limits, Limits::default());
        assert!(!cfg.config_js.p2p_enabled);
        assert!(cfg.config_js.websocket);
        assert_eq!(
            cfg.xmpp_upstream().expect("upstream").authority,
            "127.0.0.1:5280"
        );
    }

    #[test]
    fn repository_example_is_valid_apart_from_its_paths() {
        let text = include_str!("../../../etc/web.toml");
        let dir = tempfile::tempdir().expect("tempdir");
        let text = text.replace("/usr/share/meet-rs/web", &dir.path().display().to_string());
        let cfg = parse(&text).expect("etc/web.toml");
        assert_eq!(cfg.hosts.domain, "jitsi2.test.alt");
        assert_eq!(cfg.server.hsts_max_age, 31_536_000);
    }

    #[test]
    fn problems_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = minimal(dir.path());
        let cases = [
            (
                "domain = \"meet.example.com\"",
                "domain = \"x'y\"",
                "hosts.domain",
            ),
            (
                "[server]",
                "[server]\nhttps_listen = []",
                "server.https_listen",
            ),
            ("certificate = \"c.pem\"\n", "", "server.certificate"),
            (
                "[server]",
                "[proxy]\nxmpp_server = \"https://x\"\n[server]",
                "proxy.xmpp_server",
            ),
            (
                "[server]",
                "[limits]\nmax_header_bytes = 100\n[server]",
                "limits.max_header_bytes",
            ),
            (
                "[server]",
                "[server]\nhttp_listen = [\"0.0.0.0:443\"]\nhttps_listen = [\"0.0.0.0:443\"]",
                "server.http_listen[0]",
            ),
        ];
        for (from, to, key) in cases {
            let text = base.replacen(from, to, 1);
            let e = parse(&text).expect_err(key).to_string();
            assert!(e.contains(&format!("key `{key}`")), "{key}: {e}");
            assert!(e.starts_with("web.toml: "), "{e}");
        }
        let e = parse("[hosts]\n").expect_err("no domain").to_string();
        assert!(e.contains("domain"), "{e}");
        let e = parse(&base.replace("[server]", "[server]\nbogus = 1"))
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = parse(&base.replace(&dir.path().display().to_string(), "/nonexistent/x"))
            .expect_err("root")
            .to_string();
        assert!(e.contains("server.static_root"), "{e}");
    }

    #[test]
    fn plain_http_needs_no_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[hosts]\ndomain = \"localhost\"\n[server]\nplain_http = true\nhttp_listen = [\"127.0.0.1:8000\"]\nstatic_root = \"{}\"\n",
            dir.path().display()
        );
        let cfg = parse(&text).expect("valid");
        assert!(cfg.server.plain_http);
    }

    #[test]
    fn extra_config_js_keys_keep_their_case() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "{}[config_js.extra]\ndisableDeepLinking = true\ntoolbarButtons = [\"chat\"]\n",
            minimal(dir.path())
        );
        let cfg = parse(&text).expect("valid");
        assert_eq!(cfg.config_js.extra["disableDeepLinking"], true);
        assert_eq!(
            cfg.config_js.extra["toolbarButtons"],
            serde_json::json!(["chat"])
        );
    }

    #[test]
    fn upstream_urls() {
        assert_eq!(
            Upstream::parse("http://localhost").expect("ok").authority,
            "localhost:80"
        );
        assert_eq!(
            Upstream::parse("http://[::1]:5280/").expect("ok").authority,
            "[::1]:5280"
        );
        assert!(Upstream::parse("http://h:1/http-bind").is_err());
        assert!(Upstream::parse("ftp://h").is_err());
        assert!(Upstream::parse("http://").is_err());
        assert!(Upstream::parse("http://u@h").is_err());
    }

    #[test]
    fn domains() {
        assert!(domain_problem("meet.example.com").is_none());
        assert!(domain_problem("localhost").is_none());
        assert!(domain_problem("").is_some());
        assert!(domain_problem("a..b").is_some());
        assert!(domain_problem("a'b").is_some());
        assert!(domain_problem("a</script>").is_some());
    }
}
