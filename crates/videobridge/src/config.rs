//! The videobridge's configuration: a TOML tree that mirrors the guide's
//! application.conf (`videobridge { apis { xmpp-client { configs { shard {...} } } } }`)
//! plus the NAT settings of its sip-communicator.properties and the HTTP
//! listener. Loaded with meet-service (TOML + `VIDEOBRIDGE__...` environment).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use meet_service::config::{ConfigError, ConfigProblem, Validate};
use serde::Deserialize;

pub const DEFAULT_PATH: &str = "/etc/meet-rs/videobridge.toml";
pub const ENV_PREFIX: &str = "VIDEOBRIDGE";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub videobridge: Videobridge,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Videobridge {
    /// This bridge's id in colibri-ws URLs and stats (JVB: videobridge.websockets.server-id).
    #[serde(default = "default_server_id")]
    pub server_id: String,
    /// Region reported in brewery stats (JVB: videobridge.relay.region).
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub stats: Stats,
    pub apis: Apis,
    #[serde(default)]
    pub ice: Ice,
    #[serde(default)]
    pub nat: Nat,
    #[serde(default)]
    pub media: Media,
    #[serde(default)]
    pub http: Http,
    /// Public base URL of colibri-ws as clients reach it (through the web
    /// server's /colibri-ws/ proxy), e.g. "wss://meet.example.com/colibri-ws".
    #[serde(default)]
    pub websocket_base_url: Option<String>,
}

fn default_server_id() -> String {
    "default-id".to_string()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// JVB: videobridge.stats.enabled
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds between brewery presence updates (JVB: videobridge.stats.interval, 5 s).
    #[serde(default = "five")]
    pub interval: u64,
    /// JVB: videobridge.stats.transports = [{ type = "muc" }]; only "muc" exists here.
    #[serde(default = "muc_transport")]
    pub transports: Vec<StatsTransport>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatsTransport {
    #[serde(rename = "type")]
    pub kind: String,
}

fn yes() -> bool {
    true
}
fn five() -> u64 {
    5
}
fn muc_transport() -> Vec<StatsTransport> {
    vec![StatsTransport { kind: "muc".into() }]
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: 5,
            transports: muc_transport(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Apis {
    #[serde(rename = "xmpp-client")]
    pub xmpp_client: XmppClient,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct XmppClient {
    /// One entry per XMPP server (the guide's `shard`); the key is the id.
    pub configs: BTreeMap<String, XmppServerConfig>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct XmppServerConfig {
    /// JVB: hostname (the XMPP server to connect to).
    pub hostname: String,
    /// c2s port (JVB: port, default 5222).
    #[serde(default = "c2s_port")]
    pub port: u16,
    /// JVB: domain (the jvb account's domain, auth.DOMAIN).
    pub domain: String,
    /// JVB: username.
    pub username: String,
    /// JVB: password.
    pub password: String,
    /// JVB: muc_jids (the brewery room, comma separated if several).
    pub muc_jids: String,
    /// JVB: muc_nickname, unique per bridge.
    pub muc_nickname: String,
    /// JVB: disable_certificate_verification (self-signed certificates on the XMPP server).
    #[serde(default)]
    pub disable_certificate_verification: bool,
    /// A PEM file with the CA (or self-signed certificate) to trust for this server.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn c2s_port() -> u16 {
    5222
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ice {
    pub udp: IceUdp,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IceUdp {
    /// JVB: videobridge.ice.udp.port (10000): every endpoint's media on this one port.
    #[serde(default = "udp_port")]
    pub port: u16,
    /// Address to bind the media socket to.
    #[serde(default = "any_v4")]
    pub bind_address: IpAddr,
}

fn udp_port() -> u16 {
    10000
}
fn any_v4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

impl Default for Ice {
    fn default() -> Self {
        Self {
            udp: IceUdp {
                port: udp_port(),
                bind_address: any_v4(),
            },
        }
    }
}

/// The media plane's threads and socket buffers (no JVB equivalent: JVB
/// sizes its thread pools from the core count and leaves the socket
/// buffers to the system defaults).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Media worker threads; conferences are spread over them. 0 (the
    /// default) means one per available core.
    #[serde(default)]
    pub threads: usize,
    /// SO_RCVBUF of the media socket in bytes (the kernel caps it at
    /// net.core.rmem_max).
    #[serde(default = "eight_mib")]
    pub udp_receive_buffer: usize,
    /// SO_SNDBUF of the media socket in bytes (capped at net.core.wmem_max).
    #[serde(default = "eight_mib")]
    pub udp_send_buffer: usize,
}

/// Most media threads accepted.
pub const MAX_MEDIA_THREADS: usize = 256;
/// Largest socket buffer accepted.
const MAX_SOCKET_BUFFER: usize = 1 << 30;

fn eight_mib() -> usize {
    8 << 20
}

impl Default for Media {
    fn default() -> Self {
        Self {
            threads: 0,
            udp_receive_buffer: eight_mib(),
            udp_send_buffer: eight_mib(),
        }
    }
}

impl Media {
    /// The number of worker threads to start: the configured one, else one
    /// per available core.
    pub fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }
}

/// sip-communicator.properties' NAT settings:
/// org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS / _PUBLIC_ADDRESS and
/// STUN_MAPPING_HARVESTER_ADDRESSES.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    /// Addresses advertised as host candidates; default: the addresses of the
    /// machine's interfaces (loopback excluded unless nothing else exists).
    #[serde(default)]
    pub local_addresses: Vec<IpAddr>,
    /// The public address in front of the NAT (advertised as srflx).
    #[serde(default)]
    pub public_address: Option<IpAddr>,
    /// STUN servers (host:port) used to learn the public address at start.
    #[serde(default)]
    pub stun_mapping_harvester_addresses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// JVB's private REST interface: loopback 8080 (health, stats, metrics, colibri-ws).
    #[serde(default = "http_host")]
    pub host: IpAddr,
    #[serde(default = "http_port")]
    pub port: u16,
}

fn http_host() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
fn http_port() -> u16 {
    8080
}

impl Default for Http {
    fn default() -> Self {
        Self {
            host: http_host(),
            port: http_port(),
        }
    }
}

impl Http {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        meet_service::config::load(path, ENV_PREFIX)
    }

    pub fn from_toml_str(path: &Path, text: &str) -> Result<Self, ConfigError> {
        meet_service::config::parse_str(path, text)
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let vb = &self.videobridge;
        if vb.server_id.is_empty()
            || !vb
                .server_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            p.push(ConfigProblem::new(
                "videobridge.server_id",
                "use letters, digits, '-' and '_' only",
            ));
        }
        if vb.media.threads > MAX_MEDIA_THREADS {
            p.push(ConfigProblem::new(
                "videobridge.media.threads",
                format!("at most {MAX_MEDIA_THREADS} (0 means one per core)"),
            ));
        }
        for (key, value) in [
            ("udp_receive_buffer", vb.media.udp_receive_buffer),
            ("udp_send_buffer", vb.media.udp_send_buffer),
        ] {
            if value > MAX_SOCKET_BUFFER {
                p.push(ConfigProblem::new(
                    format!("videobridge.media.{key}"),
                    "at most 1073741824 bytes",
                ));
            }
        }
        if vb.apis.xmpp_client.configs.is_empty() {
            p.push(ConfigProblem::new(
                "videobridge.apis.xmpp-client.configs",
                "at least one XMPP server is needed",
            ));
        }
        for (id, c) in &vb.apis.xmpp_client.configs {
            let key = |k: &str| format!("videobridge.apis.xmpp-client.configs.{id}.{k}");
            if c.hostname.trim().is_empty() {
                p.push(ConfigProblem::new(key("hostname"), "must not be empty"));
            }
            if c.domain.trim().is_empty() || c.domain.contains('@') {
                p.push(ConfigProblem::new(
                    key("domain"),
                    "must be a domain such as auth.meet.example.com",
                ));
            }
            if c.username.trim().is_empty() || c.username.contains('@') {
                p.push(ConfigProblem::new(
                    key("username"),
                    "must be the account's local part, e.g. jvb",
                ));
            }
            if c.password.is_empty() {
                p.push(ConfigProblem::new(key("password"), "must not be empty"));
            }
            if c.muc_jids.split(',').any(|j| !j.trim().contains('@')) {
                p.push(ConfigProblem::new(
                    key("muc_jids"),
                    "must be room JIDs such as JvbBrewery@internal.auth.DOMAIN",
                ));
            }
            if c.muc_nickname.is_empty()
                || c.muc_nickname.len() > 256
                || c.muc_nickname.contains('/')
            {
                p.push(ConfigProblem::new(
                    key("muc_nickname"),
                    "must be 1..256 characters without '/'",
                ));
            }
            if c.port == 0 {
                p.push(ConfigProblem::new(key("port"), "must not be 0"));
            }
            if let Some(ca) = c.ca_file.as_ref().filter(|ca| !ca.exists()) {
                p.push(ConfigProblem::new(
                    key("ca_file"),
                    format!("file not found: {}", ca.display()),
                ));
            }
        }
        if vb.ice.udp.port == 0 {
            p.push(ConfigProblem::new(
                "videobridge.ice.udp.port",
                "must not be 0",
            ));
        }
        if vb.http.port == 0 {
            p.push(ConfigProblem::new("videobridge.http.port", "must not be 0"));
        }
        if vb.stats.interval == 0 || vb.stats.interval > 3600 {
            p.push(ConfigProblem::new(
                "videobridge.stats.interval",
                "seconds between 1 and 3600",
            ));
        }
        for (i, t) in vb.stats.transports.iter().enumerate() {
            if t.kind != "muc" {
                p.push(ConfigProblem::new(
                    format!("videobridge.stats.transports[{i}].type"),
                    format!("unsupported stats transport `{}` (only \"muc\")", t.kind),
                ));
            }
        }
        for (i, s) in vb.nat.stun_mapping_harvester_addresses.iter().enumerate() {
            if s.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
            {
                p.push(ConfigProblem::new(
                    format!("videobridge.nat.stun_mapping_harvester_addresses[{i}]"),
                    "expected host:port",
                ));
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE: &str = r#"
[videobridge.stats]
enabled = true
transports = [ { type = "muc" } ]

[videobridge.apis.xmpp-client.configs.shard]
hostname = "localhost"
domain = "auth.jitsi2.test.alt"
username = "jvb"
password = "secret3"
muc_jids = "JvbBrewery@internal.auth.jitsi2.test.alt"
muc_nickname = "jvb-mid-123"
"#;

    #[test]
    fn the_guides_application_conf_translated() {
        let c = Config::from_toml_str(Path::new("videobridge.toml"), GUIDE).expect("valid");
        let shard = &c.videobridge.apis.xmpp_client.configs["shard"];
        assert_eq!(shard.hostname, "localhost");
        assert_eq!(shard.port, 5222);
        assert_eq!(shard.domain, "auth.jitsi2.test.alt");
        assert_eq!(shard.muc_jids, "JvbBrewery@internal.auth.jitsi2.test.alt");
        assert_eq!(c.videobridge.ice.udp.port, 10000);
        assert_eq!(c.videobridge.http.addr().to_string(), "127.0.0.1:8080");
        assert_eq!(c.videobridge.stats.interval, 5);
        assert_eq!(c.videobridge.media, Media::default());
        assert!(c.videobridge.media.worker_threads() >= 1);
    }

    #[test]
    fn media_threads_and_buffers() {
        let cfg =
            format!("{GUIDE}\n[videobridge.media]\nthreads = 3\nudp_receive_buffer = 4194304\n");
        let c = Config::from_toml_str(Path::new("vb.toml"), &cfg).expect("valid");
        assert_eq!(c.videobridge.media.worker_threads(), 3);
        assert_eq!(c.videobridge.media.udp_receive_buffer, 4 << 20);
        assert_eq!(c.videobridge.media.udp_send_buffer, 8 << 20);
        let bad = format!("{GUIDE}\n[videobridge.media]\nthreads = 1000\n");
        let e = Config::from_toml_str(Path::new("vb.toml"), &bad).expect_err("too many");
        assert!(e.to_string().contains("videobridge.media.threads"), "{e}");
        let bad = format!("{GUIDE}\n[videobridge.media]\nudp_send_buffer = 4294967296\n");
        let e = Config::from_toml_str(Path::new("vb.toml"), &bad).expect_err("huge");
        assert!(
            e.to_string().contains("videobridge.media.udp_send_buffer"),
            "{e}"
        );
    }

    #[test]
    fn problems_name_the_key() {
        let bad = GUIDE.replace("password = \"secret3\"", "password = \"\"");
        let e = Config::from_toml_str(Path::new("vb.toml"), &bad).expect_err("empty password");
        assert!(
            e.to_string()
                .contains("videobridge.apis.xmpp-client.configs.shard.password"),
            "{e}"
        );
        let bad = format!("{GUIDE}\n[videobridge.ice.udp]\nport = 0\n");
        let e = Config::from_toml_str(Path::new("vb.toml"), &bad).expect_err("port 0");
        assert!(e.to_string().contains("videobridge.ice.udp.port"), "{e}");
        let bad = GUIDE.replace("muc_nickname", "muc_nick");
        let e = Config::from_toml_str(Path::new("vb.toml"), &bad).expect_err("typo");
        assert!(e.to_string().contains("muc_nick"), "{e}");
    }
}
