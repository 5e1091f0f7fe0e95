//! `xmpp-server.toml`: the settings of `prosody.cfg.lua` that a Jitsi Meet
//! deployment uses, key for key, so an operator can translate a Prosody
//! configuration line by line (see `etc/xmpp-server.toml` and
//! `docs/configuration.md`).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use meet_service::config::{ConfigError, ConfigProblem, Validate};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// Where the daemon looks for its configuration unless told otherwise.
pub const DEFAULT_PATH: &str = "/etc/meet-rs/xmpp-server.toml";
/// Environment overrides: `XMPP_SERVER__C2S_PORTS=5222` sets `c2s_ports`.
pub const ENV_PREFIX: &str = "XMPP_SERVER";

/// Smallest accepted `c2s_stanza_size_limit`: below this, ordinary Jingle
/// stanzas from Jitsi clients no longer fit.
pub const MIN_STANZA_SIZE_LIMIT: usize = 10 * 1024;
/// Largest accepted `c2s_stanza_size_limit`: more only helps memory exhaustion.
pub const MAX_STANZA_SIZE_LIMIT: usize = 64 * 1024 * 1024;

/// The whole file. Every key is optional except that validation wants at
/// least one `[[virtual_host]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where accounts and other state live. Default `/var/lib/meet-rs/xmpp-server`.
    /// Prosody: `data_path`.
    pub data_path: PathBuf,
    /// Client (c2s) ports. Default `[5222]`. Prosody: `c2s_ports`.
    #[serde(deserialize_with = "de_ports")]
    pub c2s_ports: Vec<u16>,
    /// Addresses the c2s listener binds. Default `["0.0.0.0"]`; `"*"` means
    /// `0.0.0.0`, `"::"` all IPv6 addresses. Prosody: `c2s_interfaces`.
    #[serde(deserialize_with = "de_interfaces")]
    pub c2s_interfaces: Vec<IpAddr>,
    /// External component (XEP-0114) ports. Default `[5347]`.
    /// Prosody: `component_ports`.
    #[serde(deserialize_with = "de_ports")]
    pub component_ports: Vec<u16>,
    /// Addresses the component listener binds. Default `["127.0.0.1"]`:
    /// components (jicofo) run on the same machine, so nothing else should
    /// reach the port. Prosody: `component_interfaces`.
    #[serde(deserialize_with = "de_interfaces")]
    pub component_interfaces: Vec<IpAddr>,
    /// BOSH / WebSocket HTTP ports. Default `[5280]`. Prosody: `http_ports`.
    #[serde(deserialize_with = "de_ports")]
    pub http_ports: Vec<u16>,
    /// Addresses the HTTP listener binds. Default `["0.0.0.0"]`.
    /// Prosody: `http_interfaces`.
    #[serde(deserialize_with = "de_interfaces")]
    pub http_interfaces: Vec<IpAddr>,
    /// Largest stanza a client may send, in bytes. Default 262144 (256 KiB);
    /// accepted range 10 KiB ..= 64 MiB. Prosody: `c2s_stanza_size_limit`.
    pub c2s_stanza_size_limit: usize,
    /// Read rate per client connection, bytes per second. Default 524288
    /// (512 KiB/s); 0 = unlimited. Prosody: `limits = { c2s = { rate = ... } }`
    /// (mod_limits).
    pub c2s_read_rate_limit: u64,
    /// Not yet authenticated connections allowed per source IP address.
    /// Default 32. No Prosody equivalent.
    pub max_unauthenticated_per_ip: u32,
    /// Seconds an unauthenticated client stream may stay open. Default 30.
    /// Prosody: `c2s_timeout`.
    pub c2s_timeout: u64,
    /// Seconds a BOSH session survives without a pending request. Default 60.
    /// Prosody: `bosh_max_inactivity`.
    pub bosh_max_inactivity: u64,
    /// Longest a BOSH request is held open, in seconds. Default 60.
    /// Prosody: `bosh_max_wait`.
    pub bosh_max_wait: u64,
    /// CORS for BOSH: `false` (default), `true` (any origin) or a list of
    /// origins. Prosody: `cross_domain_bosh`.
    pub cross_domain_bosh: CrossDomain,
    /// CORS / origin check for WebSocket, same forms. Default `false`.
    /// Prosody: `cross_domain_websocket`.
    pub cross_domain_websocket: CrossDomain,
    /// Treat BOSH sessions as encrypted (TLS ends at the reverse proxy).
    /// Default `false`. Prosody: `consider_bosh_secure`.
    pub consider_bosh_secure: bool,
    /// Treat WebSocket sessions as encrypted. Default `false`.
    /// Prosody: `consider_websocket_secure`.
    pub consider_websocket_secure: bool,
    /// Base domain for multi-tenant room names. Default unset.
    /// Prosody (Jitsi's mod_muc_domain_mapper): `muc_mapper_domain_base`.
    pub muc_mapper_domain_base: Option<String>,
    /// Shared secret for TURN credentials (coturn's `static-auth-secret`).
    /// Default unset. Prosody (Jitsi's mod_turncredentials): `turncredentials_secret`.
    pub turncredentials_secret: Option<String>,
    /// Lifetime of TURN credentials, seconds. Default 86400.
    /// Prosody: `turncredentials_ttl`.
    pub turncredentials_ttl: u64,
    /// STUN/TURN servers announced to clients (XEP-0215). Default none.
    /// Prosody: `turncredentials = { { type = ..., host = ..., port = ... } }`.
    pub turncredentials: Vec<TurnService>,
    /// Prosody: `VirtualHost "..."` blocks.
    pub virtual_host: Vec<VirtualHost>,
    /// Prosody: `Component "..." ["type"]` blocks.
    pub component: Vec<Component>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            data_path: PathBuf::from("/var/lib/meet-rs/xmpp-server"),
            c2s_ports: vec![5222],
            c2s_interfaces: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            component_ports: vec![5347],
            component_interfaces: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            http_ports: vec![5280],
            http_interfaces: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            c2s_stanza_size_limit: 256 * 1024,
            c2s_read_rate_limit: 512 * 1024,
            max_unauthenticated_per_ip: 32,
            c2s_timeout: 30,
            bosh_max_inactivity: 60,
            bosh_max_wait: 60,
            cross_domain_bosh: CrossDomain::default(),
            cross_domain_websocket: CrossDomain::default(),
            consider_bosh_secure: false,
            consider_websocket_secure: false,
            muc_mapper_domain_base: None,
            turncredentials_secret: None,
            turncredentials_ttl: 86400,
            turncredentials: Vec::new(),
            virtual_host: Vec::new(),
            component: Vec::new(),
        }
    }
}

/// Which browser origins may use BOSH / WebSocket: `true`, `false` or a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "must be true, false or a list of origins such as [\"https://meet.example.com\"]"
)]
pub enum CrossDomain {
    /// `true`: any origin; `false`: none (same-origin only).
    All(bool),
    /// Exactly these origins (`scheme://host[:port]`).
    Origins(Vec<String>),
}

impl Default for CrossDomain {
    fn default() -> Self {
        Self::All(false)
    }
}

impl CrossDomain {
    /// Whether a request with this `Origin` header value is allowed.
    /// Scheme and host are case-insensitive, so the comparison is too.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::All(all) => *all,
            Self::Origins(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

/// One entry of `turncredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnService {
    /// `"stun"`, `"turn"` or `"turns"`.
    #[serde(rename = "type")]
    pub r#type: TurnType,
    /// Host name or address clients connect to.
    pub host: String,
    /// Port clients connect to (required; coturn listens on 3478 / 5349).
    pub port: u16,
    /// `"udp"` or `"tcp"`; unset = let the client choose.
    #[serde(default)]
    pub transport: Option<TurnTransport>,
}

/// Kind of a `turncredentials` server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
// Parsed through `FromStr` rather than derived variant names: the loader's
// own message for an unknown variant does not list the accepted values.
#[serde(try_from = "String")]
pub enum TurnType {
    Stun,
    Turn,
    Turns,
}

/// Transport of a `turncredentials` server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum TurnTransport {
    Udp,
    Tcp,
}

/// Prosody: `VirtualHost "host"` and the keys indented under it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualHost {
    /// The domain (required), e.g. `"jitsi2.test.alt"`.
    pub host: String,
    /// Default `"internal_hashed"` (Prosody's default).
    #[serde(default)]
    pub authentication: AuthMethod,
    /// Certificate for STARTTLS. Default none (no TLS for this host).
    #[serde(default)]
    pub ssl: Option<Ssl>,
    /// Default `[]`.
    #[serde(default)]
    pub modules_enabled: Vec<String>,
    /// Refuse to authenticate clients before TLS. Default `true` (Prosody's default).
    #[serde(default = "yes")]
    pub c2s_require_encryption: bool,
    /// Allow SASL PLAIN over unencrypted streams. Default `false`.
    #[serde(default)]
    pub allow_unencrypted_plain_auth: bool,
    /// SASL mechanisms not to offer, e.g. `["PLAIN"]` (prosody
    /// `disable_sasl_mechanisms`). Default `[]`.
    #[serde(default)]
    pub disable_sasl_mechanisms: Vec<String>,
    /// Host of the `speakerstats_component` this host reports to. Default unset.
    #[serde(default)]
    pub speakerstats_component: Option<String>,
    /// Host of the `conference_duration_component`. Default unset.
    #[serde(default)]
    pub conference_duration_component: Option<String>,
    /// Bare JIDs with admin rights on this host. Default `[]`.
    #[serde(default)]
    pub admins: Vec<String>,
}

/// Prosody: `authentication = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum AuthMethod {
    /// Anyone may log in with a random JID (the Jitsi guest domain).
    Anonymous,
    /// Accounts with passwords stored as given.
    InternalPlain,
    /// Accounts with SCRAM-hashed passwords (Prosody's default).
    #[default]
    InternalHashed,
}

/// Prosody: `ssl = { key = "..."; certificate = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ssl {
    /// PEM private key.
    pub key: PathBuf,
    /// PEM certificate (chain, leaf first).
    pub certificate: PathBuf,
}

/// Prosody: `Component "host" ["type"]` and the keys indented under it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// The component's domain (required), e.g. `"conference.jitsi2.test.alt"`.
    pub host: String,
    /// Internal component type; unset = external XEP-0114 component
    /// (which then needs `component_secret`).
    #[serde(rename = "type", default)]
    pub kind: Option<ComponentType>,
    /// Secret of an external component (jicofo's `JICOFO_SECRET`).
    #[serde(default)]
    pub component_secret: Option<String>,
    /// muc only: `"memory"` or `"internal"`. Default unset (= `"internal"`).
    #[serde(default)]
    pub storage: Option<String>,
    /// Default `[]`.
    #[serde(default)]
    pub modules_enabled: Vec<String>,
    /// Bare JIDs with admin rights (e.g. `focus@auth.example.com`). Default `[]`.
    #[serde(default)]
    pub admins: Vec<String>,
    /// muc only: new rooms stay locked until configured. Default `true`
    /// (Prosody's default; the Jitsi guide sets `false`).
    #[serde(default = "yes")]
    pub muc_room_locking: bool,
    /// muc only: new rooms show occupants' real JIDs. Default `false`.
    #[serde(default)]
    pub muc_room_default_public_jids: bool,
    /// muc only: only admins may create rooms. Default `false`.
    #[serde(default)]
    pub restrict_room_creation: bool,
    /// speakerstats / conference_duration only: the muc component they watch.
    #[serde(default)]
    pub muc_component: Option<String>,
}

/// Prosody's second `Component` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ComponentType {
    Muc,
    SpeakerstatsComponent,
    ConferenceDurationComponent,
}

/// One spelling table per enum, so parsing, `Display` and the error message
/// listing the accepted values cannot drift apart.
macro_rules! spelled {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order the documentation lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling used in the configuration file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| unknown_value($what, s, Self::ALL.iter().map(|v| v.as_str())))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
    };
}

spelled!(TurnType, "turncredentials type", {
    Stun => "stun",
    Turn => "turn",
    Turns => "turns",
});
spelled!(TurnTransport, "transport", { Udp => "udp", Tcp => "tcp" });
spelled!(AuthMethod, "authentication method", {
    Anonymous => "anonymous",
    InternalPlain => "internal_plain",
    InternalHashed => "internal_hashed",
});
spelled!(ComponentType, "component type", {
    Muc => "muc",
    SpeakerstatsComponent => "speakerstats_component",
    ConferenceDurationComponent => "conference_duration_component",
});

/// `unknown component type `mux` (use "muc", "speakerstats_component" or ...)`.
fn unknown_value(what: &str, value: &str, accepted: impl Iterator<Item = &'static str>) -> String {
    let quoted: Vec<String> = accepted.map(|a| format!("\"{a}\"")).collect();
    let list = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    };
    format!("unknown {what} `{value}` (use {list})")
}

fn yes() -> bool {
    true
}

impl ServerConfig {
    /// Read `path` plus `XMPP_SERVER__*` environment overrides and validate.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        meet_service::config::load(path, ENV_PREFIX)
    }

    /// Like [`ServerConfig::load`], but the `ssl` key and certificate files
    /// need not exist yet: for `cert generate`, which creates them (the
    /// guide's configuration names them before they are generated).
    pub fn load_without_file_checks(path: &Path) -> Result<Self, ConfigError> {
        meet_service::config::load::<WithoutFileChecks>(path, ENV_PREFIX).map(|c| c.0)
    }

    /// Parse and validate TOML text (no environment); `path_for_messages`
    /// only names the file in errors.
    pub fn from_toml_str(path_for_messages: &Path, text: &str) -> Result<Self, ConfigError> {
        meet_service::config::parse_str(path_for_messages, text)
    }

    /// The virtual host named `host` (domain names are case-insensitive).
    pub fn virtual_host(&self, host: &str) -> Option<&VirtualHost> {
        self.virtual_host
            .iter()
            .find(|v| v.host.eq_ignore_ascii_case(host))
    }

    /// The component named `host` (case-insensitive).
    pub fn component(&self, host: &str) -> Option<&Component> {
        self.component
            .iter()
            .find(|c| c.host.eq_ignore_ascii_case(host))
    }

    /// The SQLite account store.
    pub fn accounts_db_path(&self) -> PathBuf {
        self.data_path.join("accounts.sqlite")
    }
}

// ---------------------------------------------------------------------------
// Deserialisation helpers

/// Ports: a list, a single number, or a comma-separated string — the last two
/// so that environment overrides (`XMPP_SERVER__C2S_PORTS=5222,5223`) work.
fn de_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    struct Ports;
    impl<'de> Visitor<'de> for Ports {
        type Value = Vec<u16>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of port numbers such as [5222]")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            port(v).map(|p| vec![p])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u16::try_from(v)
                .map(|p| vec![p])
                .map_err(|_| E::custom(format!("`{v}` is not a port number (1-65535)")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            split_list(v)
                .map(|s| {
                    s.parse::<u16>()
                        .map_err(|_| E::custom(format!("`{s}` is not a port number (1-65535)")))
                })
                .collect()
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            // Read wide and narrow ourselves, for a message that names the value.
            while let Some(v) = seq.next_element::<u64>()? {
                out.push(port(v)?);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Ports)
}

/// Interfaces: a list of addresses, one address, or a comma-separated string;
/// `"*"` is Prosody's spelling of "all IPv4 addresses".
fn de_interfaces<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpAddr>, D::Error> {
    struct Interfaces;
    impl<'de> Visitor<'de> for Interfaces {
        type Value = Vec<IpAddr>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of IP addresses such as [\"0.0.0.0\"]")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            split_list(v)
                .map(|s| parse_interface(s).map_err(E::custom))
                .collect()
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                out.push(parse_interface(&s).map_err(de::Error::custom)?);
            }
            Ok(out)
        }
    }
    d.deserialize_any(Interfaces)
}

fn port<E: de::Error>(v: u64) -> Result<u16, E> {
    u16::try_from(v).map_err(|_| E::custom(format!("`{v}` is not a port number (1-65535)")))
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_interface(s: &str) -> Result<IpAddr, String> {
    let t = s.trim();
    if t == "*" {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    t.parse().map_err(|_| {
        format!(
            "`{s}` is not an IP address (use \"*\" or \"0.0.0.0\" for all IPv4 addresses, \"::\" for all IPv6 ones)"
        )
    })
}

// ---------------------------------------------------------------------------
// Validation

/// Why `name` is not an acceptable host name, if it is not. Lowercase only:
/// JID domains arrive normalised to lowercase, so a mixed-case host written
/// here would be easy to miss in a lookup.
pub(crate) fn domain_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > 253 {
        return Some(format!("too long ({} characters, at most 253)", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return Some(if c.is_ascii_uppercase() {
            format!(
                "`{name}` must be lowercase: `{}`",
                name.to_ascii_lowercase()
            )
        } else {
            format!(
                "`{name}`: character `{c}` is not allowed (lowercase letters, digits, '-' and '.')"
            )
        });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Some(format!(
                "`{name}` has an empty label (leading, trailing or double dot)"
            ));
        }
        if label.len() > 63 {
            return Some(format!(
                "`{name}`: label `{label}` is longer than 63 characters"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!("`{name}`: label `{label}` starts or ends with '-'"));
        }
    }
    None
}

/// Why `path` cannot be read as a file, if it cannot; with `check_exists`
/// false only the path itself is checked. Relative paths are refused because
/// they would depend on the daemon's working directory.
fn file_problem(path: &Path, check_exists: bool) -> Option<String> {
    use std::io::ErrorKind;
    if !path.is_absolute() {
        return Some(format!("must be an absolute path: {}", path.display()));
    }
    if !check_exists {
        return None;
    }
    match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Some(format!("file not found: {}", path.display()));
        }
        Err(e) => return Some(format!("cannot access {}: {e}", path.display())),
        Ok(m) if !m.is_file() => return Some(format!("not a regular file: {}", path.display())),
        Ok(_) => {}
    }
    match std::fs::File::open(path) {
        Ok(_) => None,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Some(format!(
            "not readable (permission denied): {}",
            path.display()
        )),
        Err(e) => Some(format!("cannot read {}: {e}", path.display())),
    }
}

fn jid_problem(jid: &str) -> Option<String> {
    match jid::BareJid::new(jid) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "`{jid}` is not a bare JID such as user@domain ({e})"
        )),
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after.
fn origin_problem(origin: &str) -> Option<String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains('/') => None,
        _ => Some(format!(
            "`{origin}` is not an origin (write scheme://host[:port], e.g. \"https://meet.example.com\")"
        )),
    }
}

struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, problem: impl Into<String>) {
        self.0.push(ConfigProblem::new(key, problem));
    }
}

impl Validate for ServerConfig {
    fn validate(&self) -> Vec<ConfigProblem> {
        self.problems(true)
    }
}

/// Deserialises exactly like [`ServerConfig`]; validation leaves out whether
/// the `ssl` files exist (see [`ServerConfig::load_without_file_checks`]).
#[derive(Deserialize)]
#[serde(transparent)]
struct WithoutFileChecks(ServerConfig);

impl Validate for WithoutFileChecks {
    fn validate(&self) -> Vec<ConfigProblem> {
        self.0.problems(false)
    }
}

impl ServerConfig {
    /// Every problem; `check_files` = whether the `ssl` files must exist.
    fn problems(&self, check_files: bool) -> Vec<ConfigProblem> {
        let mut p = Problems(Vec::new());
        self.check_globals(&mut p);
        self.check_listeners(&mut p);
        self.check_turn(&mut p);
        self.check_hosts(&mut p);
        for (i, vh) in self.virtual_host.iter().enumerate() {
            self.check_virtual_host(i, vh, check_files, &mut p);
        }
        for (i, c) in self.component.iter().enumerate() {
            self.check_component(i, c, &mut p);
        }
        p.0
    }

    fn check_globals(&self, p: &mut Problems) {
        if !self.data_path.is_absolute() {
            p.add(
                "data_path",
                format!("must be an absolute path: {}", self.data_path.display()),
            );
        }
        if !(MIN_STANZA_SIZE_LIMIT..=MAX_STANZA_SIZE_LIMIT).contains(&self.c2s_stanza_size_limit) {
            p.add(
                "c2s_stanza_size_limit",
                format!(
                    "{} is out of range: must be between {MIN_STANZA_SIZE_LIMIT} (10 KiB) and {MAX_STANZA_SIZE_LIMIT} (64 MiB)",
                    self.c2s_stanza_size_limit
                ),
            );
        }
        // Zero would refuse every client or end every session at once.
        for (key, value) in [
            (
                "max_unauthenticated_per_ip",
                u64::from(self.max_unauthenticated_per_ip),
            ),
            ("c2s_timeout", self.c2s_timeout),
            ("bosh_max_inactivity", self.bosh_max_inactivity),
            ("bosh_max_wait", self.bosh_max_wait),
            ("turncredentials_ttl", self.turncredentials_ttl),
        ] {
            if value == 0 {
                p.add(key, "must be at least 1");
            }
        }
        for (key, cd) in [
            ("cross_domain_bosh", &self.cross_domain_bosh),
            ("cross_domain_websocket", &self.cross_domain_websocket),
        ] {
            if let CrossDomain::Origins(list) = cd {
                for (i, o) in list.iter().enumerate() {
                    if let Some(problem) = origin_problem(o) {
                        p.add(format!("{key}[{i}]"), problem);
                    }
                }
            }
        }
        if let Some(base) = &self.muc_mapper_domain_base
            && let Some(problem) = domain_name_problem(base)
        {
            p.add("muc_mapper_domain_base", problem);
        }
    }

    fn check_listeners(&self, p: &mut Problems) {
        let mut used: HashMap<u16, String> = HashMap::new();
        for (key, ports) in [
            ("c2s_ports", &self.c2s_ports),
            ("component_ports", &self.component_ports),
            ("http_ports", &self.http_ports),
        ] {
            for (i, &port) in ports.iter().enumerate() {
                let here = format!("{key}[{i}]");
                if port == 0 {
                    p.add(here, "port 0 is not allowed");
                } else if let Some(first) = used.get(&port) {
                    p.add(here, format!("port {port} is already used by {first}"));
                } else {
                    used.insert(port, here);
                }
            }
        }
        for (key, ports_key, interfaces, ports) in [
            (
                "c2s_interfaces",
                "c2s_ports",
                &self.c2s_interfaces,
                &self.c2s_ports,
            ),
            (
                "component_interfaces",
                "component_ports",
                &self.component_interfaces,
                &self.component_ports,
            ),
            (
                "http_interfaces",
                "http_ports",
                &self.http_interfaces,
                &self.http_ports,
            ),
        ] {
            if interfaces.is_empty() && !ports.is_empty() {
                p.add(
                    key,
                    format!("empty, so nothing would listen on {ports_key} (set {ports_key} = [] to disable this listener)"),
                );
            }
            for (i, addr) in interfaces.iter().enumerate() {
                if interfaces[..i].contains(addr) {
                    p.add(format!("{key}[{i}]"), format!("{addr} is listed twice"));
                }
            }
        }
    }

    fn check_turn(&self, p: &mut Problems) {
        let has_secret = match &self.turncredentials_secret {
            Some(s) if s.is_empty() => {
                p.add("turncredentials_secret", "must not be empty");
                false
            }
            Some(_) => true,
            None => false,
        };
        let mut secret_reported = false;
        for (i, t) in self.turncredentials.iter().enumerate() {
            if t.host.trim().is_empty() {
                p.add(format!("turncredentials[{i}].host"), "must not be empty");
            }
            if t.port == 0 {
                p.add(
                    format!("turncredentials[{i}].port"),
                    "port 0 is not allowed",
                );
            }
            let needs_secret = matches!(t.r#type, TurnType::Turn | TurnType::Turns);
            if needs_secret && !has_secret && !secret_reported {
                // One message is enough: the fix is the same for every entry.
                secret_reported = true;
                p.add(
                    "turncredentials_secret",
                    format!(
                        "missing: turncredentials[{i}] is a {} server, which needs the shared secret (coturn's static-auth-secret)",
                        t.r#type.as_str()
                    ),
                );
            }
        }
    }

    /// Host names are valid and unique across virtual hosts and components.
    fn check_hosts(&self, p: &mut Problems) {
        if self.virtual_host.is_empty() {
            p.add(
                "virtual_host",
                "at least one [[virtual_host]] is needed (prosody: VirtualHost \"...\")",
            );
        }
        let hosts = self
            .virtual_host
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("virtual_host[{i}]"), &v.host))
            .chain(
                self.component
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("component[{i}]"), &c.host)),
            );
        let mut seen: HashMap<String, String> = HashMap::new();
        for (section, host) in hosts {
            let key = format!("{section}.host");
            if let Some(problem) = domain_name_problem(host) {
                p.add(key, problem);
                continue;
            }
            if let Some(first) = seen.get(host) {
                p.add(key, format!("`{host}` is already used by {first}"));
            } else {
                seen.insert(host.clone(), section);
            }
        }
    }

    /// `Some(problem)` unless `host` names a component of type `kind`.
    fn component_ref_problem(&self, host: &str, kind: ComponentType) -> Option<String> {
        match self.component(host) {
            Some(c) if c.kind == Some(kind) => None,
            _ => Some(format!(
                "unknown component `{host}` (no [[component]] with that host and type {kind})"
            )),
        }
    }

    fn check_virtual_host(&self, i: usize, vh: &VirtualHost, check_files: bool, p: &mut Problems) {
        let sec = format!("virtual_host[{i}]");
        if let Some(ssl) = &vh.ssl {
            for (name, path) in [("key", &ssl.key), ("certificate", &ssl.certificate)] {
                if let Some(problem) = file_problem(path, check_files) {
                    p.add(format!("{sec}.ssl.{name}"), problem);
                }
            }
        }
        for (name, target, kind) in [
            (
                "speakerstats_component",
                &vh.speakerstats_component,
                ComponentType::SpeakerstatsComponent,
            ),
            (
                "conference_duration_component",
                &vh.conference_duration_component,
                ComponentType::ConferenceDurationComponent,
            ),
        ] {
            if let Some(host) = target
                && let Some(problem) = self.component_ref_problem(host, kind)
            {
                p.add(format!("{sec}.{name}"), problem);
            }
        }
        check_modules(&sec, &vh.modules_enabled, p);
        check_admins(&sec, &vh.admins, p);
        for (j, m) in vh.disable_sasl_mechanisms.iter().enumerate() {
            if !["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "ANONYMOUS"].contains(&m.as_str()) {
                p.add(
                    format!("{sec}.disable_sasl_mechanisms[{j}]"),
                    format!("unknown mechanism `{m}` (known: PLAIN, SCRAM-SHA-1, SCRAM-SHA-256, ANONYMOUS)"),
                );
            }
        }
    }

    fn check_component(&self, i: usize, c: &Component, p: &mut Problems) {
        let sec = format!("component[{i}]");
        match (&c.kind, &c.component_secret) {
            (None, None) => p.add(
                sec.clone(),
                "needs either `type` (muc, speakerstats_component or conference_duration_component) or `component_secret` (an external component such as jicofo)",
            ),
            (Some(kind), Some(_)) => p.add(
                format!("{sec}.component_secret"),
                format!("a component of type {kind} has no secret: remove `component_secret`, or remove `type` to make it an external component"),
            ),
            (None, Some(secret)) if secret.is_empty() => {
                p.add(format!("{sec}.component_secret"), "must not be empty");
            }
            _ => {}
        }
        let is_muc = c.kind == Some(ComponentType::Muc);
        if let Some(storage) = &c.storage {
            if !is_muc {
                p.add(format!("{sec}.storage"), "only applies to muc components");
            } else if storage != "memory" && storage != "internal" {
                p.add(
                    format!("{sec}.storage"),
                    format!("unknown storage `{storage}` (use \"memory\" or \"internal\")"),
                );
            }
        }
        if !is_muc {
            // Only values that differ from the default can be told apart from "not set".
            for (name, differs) in [
                ("muc_room_locking", !c.muc_room_locking),
                (
                    "muc_room_default_public_jids",
                    c.muc_room_default_public_jids,
                ),
                ("restrict_room_creation", c.restrict_room_creation),
            ] {
                if differs {
                    p.add(format!("{sec}.{name}"), "only applies to muc components");
                }
            }
        }
        let watches_muc = matches!(
            c.kind,
            Some(ComponentType::SpeakerstatsComponent | ComponentType::ConferenceDurationComponent)
        );
        match (&c.muc_component, c.kind) {
            (None, Some(kind)) if watches_muc => p.add(
                format!("{sec}.muc_component"),
                format!("missing: a {kind} needs the host of the muc component it watches"),
            ),
            (Some(host), _) if watches_muc => {
                if let Some(problem) = self.component_ref_problem(host, ComponentType::Muc) {
                    p.add(format!("{sec}.muc_component"), problem);
                }
            }
            (Some(_), _) => p.add(
                format!("{sec}.muc_component"),
                "only applies to speakerstats_component and conference_duration_component",
            ),
            _ => {}
        }
        check_modules(&sec, &c.modules_enabled, p);
        check_admins(&sec, &c.admins, p);
    }
}

fn check_modules(sec: &str, modules: &[String], p: &mut Problems) {
    for (j, m) in modules.iter().enumerate() {
        if m.trim().is_empty() {
            p.add(format!("{sec}.modules_enabled[{j}]"), "empty module name");
        }
    }
}

fn check_admins(sec: &str, admins: &[String], p: &mut Problems) {
    for (j, a) in admins.iter().enumerate() {
        if let Some(problem) = jid_problem(a) {
            p.add(format!("{sec}.admins[{j}]"), problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE: &str = include_str!("../../../etc/xmpp-server.toml");
    const SSL_DIR: &str = "/var/lib/meet-rs/xmpp-server/";

    fn parse(text: &str) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_toml_str(Path::new("test.toml"), text)
    }

    /// The guide's file with its ssl paths pointing at files that exist.
    fn guide_with_certs(dir: &Path) -> String {
        for host in ["jitsi2.test.alt", "auth.jitsi2.test.alt"] {
            for ext in ["key", "crt"] {
                std::fs::write(dir.join(format!("{host}.{ext}")), "x").expect("write");
            }
        }
        let dir = format!("{}/", dir.display());
        GUIDE.replace(SSL_DIR, &dir)
    }

    fn keys(e: &ConfigError) -> Vec<&str> {
        e.problems.iter().map(|p| p.key.as_str()).collect()
    }

    fn problem<'a>(e: &'a ConfigError, key: &str) -> &'a str {
        e.problems
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.problem.as_str())
            .unwrap_or_else(|| panic!("no problem for {key}: {e}"))
    }

    const MINIMAL: &str = "[[virtual_host]]\nhost = \"example.com\"\n";

    #[test]
    fn guide_file_matches_the_guide() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = parse(&guide_with_certs(dir.path())).expect("guide config is valid");

        assert_eq!(
            cfg.muc_mapper_domain_base.as_deref(),
            Some("jitsi2.test.alt")
        );
        assert_eq!(cfg.cross_domain_bosh, CrossDomain::All(false));
        assert!(cfg.consider_bosh_secure);

        let hosts: Vec<_> = cfg.virtual_host.iter().map(|v| v.host.as_str()).collect();
        assert_eq!(hosts, ["jitsi2.test.alt", "auth.jitsi2.test.alt"]);

        let main = cfg.virtual_host("jitsi2.test.alt").expect("main host");
        assert_eq!(main.authentication, AuthMethod::Anonymous);
        assert!(!main.c2s_require_encryption);
        let ssl = main.ssl.as_ref().expect("ssl");
        assert!(ssl.key.ends_with("jitsi2.test.alt.key"));
        assert!(ssl.certificate.ends_with("jitsi2.test.alt.crt"));
        assert_eq!(
            main.modules_enabled,
            [
                "bosh",
                "pubsub",
                "ping",
                "speakerstats",
                "turncredentials",
                "conference_duration"
            ]
        );
        assert_eq!(
            main.speakerstats_component.as_deref(),
            Some("speakerstats.jitsi2.test.alt")
        );
        assert_eq!(
            main.conference_duration_component.as_deref(),
            Some("conferenceduration.jitsi2.test.alt")
        );

        let auth = cfg.virtual_host("AUTH.jitsi2.test.alt").expect("auth host");
        assert_eq!(auth.authentication, AuthMethod::InternalPlain);
        assert!(auth.c2s_require_encryption);
        assert!(auth.ssl.is_some());

        let conference = cfg.component("conference.jitsi2.test.alt").expect("muc");
        assert_eq!(conference.kind, Some(ComponentType::Muc));
        assert_eq!(conference.storage.as_deref(), Some("memory"));
        assert_eq!(
            conference.modules_enabled,
            ["muc_meeting_id", "muc_domain_mapper"]
        );
        assert_eq!(conference.admins, ["focus@auth.jitsi2.test.alt"]);
        assert!(!conference.muc_room_locking);
        assert!(conference.muc_room_default_public_jids);

        let internal = cfg
            .component("internal.auth.jitsi2.test.alt")
            .expect("internal");
        assert_eq!(internal.kind, Some(ComponentType::Muc));
        assert_eq!(internal.storage.as_deref(), Some("memory"));
        assert_eq!(internal.modules_enabled, ["ping"]);
        assert_eq!(
            internal.admins,
            ["focus@auth.jitsi2.test.alt", "jvb@auth.jitsi2.test.alt"]
        );
        assert!(!internal.muc_room_locking);
        assert!(internal.muc_room_default_public_jids);

        let focus = cfg.component("focus.jitsi2.test.alt").expect("focus");
        assert_eq!(focus.kind, None);
        assert_eq!(focus.component_secret.as_deref(), Some("secret1"));

        let stats = cfg
            .component("speakerstats.jitsi2.test.alt")
            .expect("stats");
        assert_eq!(stats.kind, Some(ComponentType::SpeakerstatsComponent));
        assert_eq!(
            stats.muc_component.as_deref(),
            Some("conference.jitsi2.test.alt")
        );
        let duration = cfg
            .component("conferenceduration.jitsi2.test.alt")
            .expect("dur");
        assert_eq!(
            duration.kind,
            Some(ComponentType::ConferenceDurationComponent)
        );
        assert_eq!(
            duration.muc_component.as_deref(),
            Some("conference.jitsi2.test.alt")
        );
        assert_eq!(cfg.component.len(), 5);
    }

    #[test]
    fn guide_file_commented_defaults_are_the_defaults() {
        // Every "# key = value" line claims to show a default: uncommenting
        // them all must change nothing (and must not hit an unknown key).
        let dir = tempfile::tempdir().expect("tempdir");
        let text = guide_with_certs(dir.path());
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if is_key_line(rest) => rest,
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(uncommented, text, "the file shows no defaults");
        let plain = parse(&text).expect("plain");
        let with_defaults = parse(&uncommented).expect("uncommented");
        assert_eq!(plain, with_defaults);
    }

    #[test]
    fn every_key_in_the_example_is_documented() {
        let docs = include_str!("../../../docs/configuration.md");
        let mut seen = 0;
        for line in GUIDE.lines() {
            let line = line.trim_start_matches('#').trim_start();
            if !is_key_line(line) {
                continue;
            }
            let key = line.split(" = ").next().unwrap_or_default();
            seen += 1;
            assert!(
                docs.contains(&format!("| `{key}` |")),
                "`{key}` is not in docs/configuration.md"
            );
        }
        assert!(seen > 30, "only {seen} keys found");
    }

    fn is_key_line(s: &str) -> bool {
        match s.split_once(" = ") {
            Some((k, _)) => !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            None => false,
        }
    }

    #[test]
    fn defaults() {
        let cfg = parse(MINIMAL).expect("minimal");
        let d = ServerConfig::default();
        assert_eq!(cfg.c2s_ports, [5222]);
        assert_eq!(cfg.component_ports, [5347]);
        assert_eq!(cfg.http_ports, [5280]);
        assert_eq!(
            cfg.c2s_interfaces,
            ["0.0.0.0".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(
            cfg.component_interfaces,
            ["127.0.0.1".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(cfg.c2s_stanza_size_limit, 262_144);
        assert_eq!(cfg.c2s_read_rate_limit, 524_288);
        assert_eq!(cfg.turncredentials_ttl, 86_400);
        assert_eq!(cfg.data_path, d.data_path);
        assert_eq!(
            cfg.accounts_db_path(),
            Path::new("/var/lib/meet-rs/xmpp-server/accounts.sqlite")
        );
        let vh = &cfg.virtual_host[0];
        assert_eq!(vh.authentication, AuthMethod::InternalHashed);
        assert!(vh.c2s_require_encryption);
        assert!(!vh.allow_unencrypted_plain_auth);
        assert!(vh.ssl.is_none());
    }

    #[test]
    fn interfaces_and_ports_forms() {
        let cfg = parse(&format!(
            "c2s_interfaces = [\"*\", \"::\"]\nhttp_interfaces = \"127.0.0.1, ::1\"\nc2s_ports = 5223\nhttp_ports = \"5280,5281\"\n{MINIMAL}"
        ))
        .expect("valid");
        assert_eq!(
            cfg.c2s_interfaces,
            [
                "0.0.0.0".parse::<IpAddr>().expect("ip"),
                "::".parse().expect("ip")
            ]
        );
        assert_eq!(
            cfg.http_interfaces,
            [
                "127.0.0.1".parse::<IpAddr>().expect("ip"),
                "::1".parse().expect("ip")
            ]
        );
        assert_eq!(cfg.c2s_ports, [5223]);
        assert_eq!(cfg.http_ports, [5280, 5281]);

        let e = parse(&format!("c2s_interfaces = [\"eth0\"]\n{MINIMAL}")).expect_err("bad ip");
        assert!(e.to_string().contains("`eth0` is not an IP address"), "{e}");
        let e = parse(&format!("c2s_ports = [5222, 70000]\n{MINIMAL}")).expect_err("bad port");
        assert_eq!(
            problem(&e, "c2s_ports"),
            "`70000` is not a port number (1-65535)"
        );
    }

    #[test]
    fn cross_domain_forms() {
        let cfg = parse(&format!(
            "cross_domain_bosh = true\ncross_domain_websocket = [\"https://meet.example.com\"]\n{MINIMAL}"
        ))
        .expect("valid");
        assert!(cfg.cross_domain_bosh.allows("https://anything.example"));
        assert!(
            cfg.cross_domain_websocket
                .allows("https://meet.example.com")
        );
        assert!(
            cfg.cross_domain_websocket
                .allows("HTTPS://Meet.Example.com")
        );
        assert!(!cfg.cross_domain_websocket.allows("https://evil.example"));
        assert!(!CrossDomain::default().allows("https://meet.example.com"));

        let e = parse(&format!(
            "cross_domain_bosh = [\"https://meet.example.com/\"]\n{MINIMAL}"
        ))
        .expect_err("path in origin");
        assert!(problem(&e, "cross_domain_bosh[0]").contains("not an origin"));
        let e = parse(&format!("cross_domain_bosh = \"yes\"\n{MINIMAL}")).expect_err("string");
        assert!(
            e.to_string().contains("true, false or a list of origins"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_reported() {
        let e = parse(&format!("c2s_port = [5222]\n{MINIMAL}")).expect_err("typo");
        assert!(e.to_string().contains("c2s_port"), "{e}");
        let e =
            parse("[[virtual_host]]\nhost = \"example.com\"\nauthentification = \"anonymous\"\n")
                .expect_err("typo");
        assert!(e.to_string().contains("authentification"), "{e}");
        let e = parse(&format!("{MINIMAL}authentication = \"ldap\"\n")).expect_err("variant");
        assert!(
            e.to_string().ends_with(
                "unknown authentication method `ldap` (use \"anonymous\", \"internal_plain\" or \"internal_hashed\")"
            ),
            "{e}"
        );
        let e = parse(&format!(
            "{MINIMAL}[[component]]\nhost = \"c.example.com\"\ntype = \"mux\"\n"
        ))
        .expect_err("variant");
        assert!(
            e.to_string().contains("unknown component type `mux`"),
            "{e}"
        );
        assert_eq!("udp".parse::<TurnTransport>(), Ok(TurnTransport::Udp));
        assert_eq!(
            "sctp".parse::<TurnTransport>(),
            Err("unknown transport `sctp` (use \"udp\" or \"tcp\")".to_string())
        );
        for t in ComponentType::ALL {
            assert_eq!(t.as_str().parse::<ComponentType>(), Ok(*t));
        }
    }

    #[test]
    fn needs_a_virtual_host() {
        let e = parse("").expect_err("no hosts");
        assert_eq!(keys(&e), ["virtual_host"]);
    }

    #[test]
    fn host_names_are_checked() {
        let e = parse(
            "[[virtual_host]]\nhost = \"Example.com\"\n\
             [[virtual_host]]\nhost = \"a..b\"\n\
             [[virtual_host]]\nhost = \"ok.example\"\n\
             [[component]]\nhost = \"ok.example\"\ncomponent_secret = \"s\"\n\
             [[component]]\nhost = \"bad_host\"\ncomponent_secret = \"s\"\n",
        )
        .expect_err("bad hosts");
        assert!(problem(&e, "virtual_host[0].host").contains("lowercase"));
        assert!(problem(&e, "virtual_host[1].host").contains("empty label"));
        assert_eq!(
            problem(&e, "component[0].host"),
            "`ok.example` is already used by virtual_host[2]"
        );
        assert!(problem(&e, "component[1].host").contains("`_`"));
        assert_eq!(e.problems.len(), 4, "{e}");
        assert!(domain_name_problem(&"a".repeat(254)).is_some());
        assert!(domain_name_problem(&format!("{}.com", "a".repeat(64))).is_some());
        assert!(domain_name_problem("-a.com").is_some());
        assert!(domain_name_problem("meet-1.example.com").is_none());
    }

    #[test]
    fn component_rules() {
        let e = parse(&format!(
            "{MINIMAL}\
             [[component]]\nhost = \"neither.example.com\"\n\
             [[component]]\nhost = \"both.example.com\"\ntype = \"muc\"\ncomponent_secret = \"s\"\n\
             [[component]]\nhost = \"empty.example.com\"\ncomponent_secret = \"\"\n\
             [[component]]\nhost = \"stats.example.com\"\ntype = \"speakerstats_component\"\nstorage = \"memory\"\n\
             [[component]]\nhost = \"muc.example.com\"\ntype = \"muc\"\nstorage = \"sql\"\n\
             [[component]]\nhost = \"dur.example.com\"\ntype = \"conference_duration_component\"\nmuc_component = \"stats.example.com\"\n\
             [[component]]\nhost = \"ext.example.com\"\ncomponent_secret = \"s\"\nmuc_room_locking = false\nmuc_component = \"muc.example.com\"\nadmins = [\"a@b/c\"]\n"
        ))
        .expect_err("bad components");
        assert!(problem(&e, "component[0]").contains("needs either `type`"));
        assert!(problem(&e, "component[1].component_secret").contains("has no secret"));
        assert_eq!(
            problem(&e, "component[2].component_secret"),
            "must not be empty"
        );
        assert_eq!(
            problem(&e, "component[3].storage"),
            "only applies to muc components"
        );
        assert!(problem(&e, "component[3].muc_component").starts_with("missing"));
        assert_eq!(
            problem(&e, "component[4].storage"),
            "unknown storage `sql` (use \"memory\" or \"internal\")"
        );
        assert_eq!(
            problem(&e, "component[5].muc_component"),
            "unknown component `stats.example.com` (no [[component]] with that host and type muc)"
        );
        assert_eq!(
            problem(&e, "component[6].muc_room_locking"),
            "only applies to muc components"
        );
        assert!(problem(&e, "component[6].muc_component").starts_with("only applies"));
        assert!(problem(&e, "component[6].admins[0]").contains("not a bare JID"));
        assert_eq!(e.problems.len(), 10, "{e}");
    }

    #[test]
    fn virtual_host_component_references() {
        let e = parse(
            "[[virtual_host]]\nhost = \"x.example\"\n\
             speakerstats_component = \"speakerstats.x.example\"\n\
             conference_duration_component = \"conference.x.example\"\n\
             [[component]]\nhost = \"conference.x.example\"\ntype = \"muc\"\n",
        )
        .expect_err("dangling references");
        assert_eq!(
            problem(&e, "virtual_host[0].speakerstats_component"),
            "unknown component `speakerstats.x.example` (no [[component]] with that host and type speakerstats_component)"
        );
        assert_eq!(
            problem(&e, "virtual_host[0].conference_duration_component"),
            "unknown component `conference.x.example` (no [[component]] with that host and type conference_duration_component)"
        );
    }

    #[test]
    fn ssl_files_must_exist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("a.key");
        std::fs::write(&key, "x").expect("write");
        let crt = dir.path().join("missing.crt");
        let text = format!(
            "[[virtual_host]]\nhost = \"a.example\"\nssl = {{ key = \"{}\", certificate = \"{}\" }}\n\
             [[virtual_host]]\nhost = \"b.example\"\nssl = {{ key = \"relative.key\", certificate = \"{}\" }}\n",
            key.display(),
            crt.display(),
            dir.path().display(),
        );
        let e = parse(&text).expect_err("missing files");
        assert_eq!(
            problem(&e, "virtual_host[0].ssl.certificate"),
            format!("file not found: {}", crt.display())
        );
        assert!(problem(&e, "virtual_host[1].ssl.key").starts_with("must be an absolute path"));
        assert!(problem(&e, "virtual_host[1].ssl.certificate").starts_with("not a regular file"));
        assert_eq!(e.problems.len(), 3, "{e}");
    }

    #[test]
    fn listener_rules() {
        let e = parse(&format!(
            "c2s_ports = [5222, 0]\ncomponent_ports = [5222]\nhttp_ports = [5280]\nhttp_interfaces = []\n\
             c2s_interfaces = [\"::\", \"::\"]\nc2s_stanza_size_limit = 1024\nc2s_timeout = 0\n{MINIMAL}"
        ))
        .expect_err("bad listeners");
        assert_eq!(problem(&e, "c2s_ports[1]"), "port 0 is not allowed");
        assert_eq!(
            problem(&e, "component_ports[0]"),
            "port 5222 is already used by c2s_ports[0]"
        );
        assert!(problem(&e, "http_interfaces").contains("nothing would listen"));
        assert_eq!(problem(&e, "c2s_interfaces[1]"), ":: is listed twice");
        assert!(problem(&e, "c2s_stanza_size_limit").contains("out of range"));
        assert_eq!(problem(&e, "c2s_timeout"), "must be at least 1");
        assert_eq!(e.problems.len(), 6, "{e}");
        // An empty listener is a way to switch it off.
        parse(&format!("http_ports = []\nhttp_interfaces = []\n{MINIMAL}")).expect("disabled");
    }

    #[test]
    fn turn_rules() {
        let turn = "[[turncredentials]]\ntype = \"turns\"\nhost = \"turn.example.com\"\nport = 5349\ntransport = \"tcp\"\n";
        let e = parse(&format!("{MINIMAL}{turn}")).expect_err("no secret");
        assert!(
            problem(&e, "turncredentials_secret").contains("turncredentials[0] is a turns server")
        );
        let cfg = parse(&format!("turncredentials_secret = \"s3\"\n{MINIMAL}{turn}"))
            .expect("with secret");
        assert_eq!(
            cfg.turncredentials,
            [TurnService {
                r#type: TurnType::Turns,
                host: "turn.example.com".into(),
                port: 5349,
                transport: Some(TurnTransport::Tcp),
            }]
        );
        // STUN needs no credentials.
        parse(&format!(
            "{MINIMAL}[[turncredentials]]\ntype = \"stun\"\nhost = \"stun.example.com\"\nport = 3478\n"
        ))
        .expect("stun without secret");
    }

    #[test]
    fn load_reads_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("xmpp-server.toml");
        std::fs::write(&path, MINIMAL).expect("write");
        let cfg = ServerConfig::load(&path).expect("load");
        assert_eq!(cfg.virtual_host[0].host, "example.com");
        // The guide's file names certificates that `cert generate` has yet to create.
        let guide = dir.path().join("guide.toml");
        std::fs::write(&guide, GUIDE).expect("write");
        let e = ServerConfig::load(&guide).expect_err("certificates missing");
        assert!(
            e.problems
                .iter()
                .all(|p| p.problem.starts_with("file not found")),
            "{e}"
        );
        assert_eq!(e.problems.len(), 4, "{e}");
        let cfg = ServerConfig::load_without_file_checks(&guide).expect("no file checks");
        assert_eq!(cfg.virtual_host.len(), 2);
        let e = ServerConfig::load(&dir.path().join("nope.toml")).expect_err("missing");
        assert_eq!(e.problems[0].problem, "file not found");
    }
}
