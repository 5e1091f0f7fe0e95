//! The focus's configuration: a TOML file mirroring the guide's jicofo
//! settings (`/etc/jitsi/jicofo/config` variables and
//! `sip-communicator.properties`), then the guide's `JICOFO_*` environment
//! variables on top, so the guide's config file works unchanged as a systemd
//! `EnvironmentFile`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use meet_service::config::{ConfigError, ConfigProblem, Validate};
use serde::Deserialize;

pub const DEFAULT_PATH: &str = "/etc/meet-rs/focus.toml";
/// Generic `FOCUS__section__key` overrides (meet-service); the guide's
/// `JICOFO_*` names are read explicitly in [`Config::apply_env`].
pub const ENV_PREFIX: &str = "FOCUS";

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub jicofo: Jicofo,
    #[serde(default)]
    pub http: Http,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Jicofo {
    /// JICOFO_HOST: the XMPP server for the component connection.
    #[serde(default = "localhost")]
    pub host: String,
    /// JICOFO_PORT: its XEP-0114 component port.
    #[serde(default = "component_port")]
    pub port: u16,
    /// JICOFO_SECRET: the component secret.
    #[serde(default)]
    pub secret: String,
    /// JICOFO_HOSTNAME: the XMPP domain users connect to.
    #[serde(default)]
    pub domain: String,
    /// The component's JID; "focus." + domain when unset
    /// (JICOFO_FOCUS_SUBDOMAIN + "." + domain in the guide).
    #[serde(default)]
    pub component_domain: Option<String>,
    /// JICOFO_AUTH_DOMAIN: the domain of the focus's client account.
    #[serde(default)]
    pub auth_domain: String,
    /// JICOFO_AUTH_USER.
    #[serde(default = "focus_user")]
    pub auth_user: String,
    /// JICOFO_AUTH_PASSWORD.
    #[serde(default)]
    pub auth_password: String,
    /// The c2s port of the XMPP server (on `host`).
    #[serde(default = "c2s_port")]
    pub c2s_port: u16,
    /// Certificate (or CA) of the XMPP server for STARTTLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (development only).
    #[serde(default)]
    pub disable_certificate_verification: bool,
    /// org.jitsi.jicofo.BRIDGE_MUC: the brewery room.
    #[serde(default)]
    pub bridge_muc: String,
    /// org.jitsi.jicofo.health.ENABLE_HEALTH_CHECKS: health-check bridges.
    #[serde(default)]
    pub enable_health_checks: bool,
    /// org.jitsi.jicofo.auth.URL: secure-domain authentication (not in this
    /// slice: conference requests are refused while it is set).
    #[serde(default)]
    pub auth_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// jicofo.rest.host equivalent.
    #[serde(default = "loopback")]
    pub host: IpAddr,
    /// jicofo.rest.port (8888).
    #[serde(default = "http_port")]
    pub port: u16,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            host: loopback(),
            port: http_port(),
        }
    }
}

impl Http {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

fn localhost() -> String {
    "localhost".into()
}
fn component_port() -> u16 {
    5347
}
fn c2s_port() -> u16 {
    5222
}
fn focus_user() -> String {
    "focus".into()
}
fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
fn http_port() -> u16 {
    8888
}

/// Checks run after the environment is applied (see [`Config::load`]), so
/// deserialisation itself checks nothing.
impl Validate for Config {
    fn validate(&self) -> Vec<ConfigProblem> {
        Vec::new()
    }
}

impl Config {
    /// File, then `FOCUS__…`, then `JICOFO_*`, then validation.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut cfg: Config = meet_service::config::load(path, ENV_PREFIX)?;
        cfg.apply_env(|k| std::env::var(k).ok());
        cfg.checked(path)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let cfg: Config = meet_service::config::parse_str(path, text)?;
        cfg.checked(path)
    }

    fn checked(self, path: &Path) -> Result<Self, ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError {
                file: path.to_path_buf(),
                problems,
            })
        }
    }

    /// The guide's variables override the file; an empty value counts as unset.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let j = &mut self.jicofo;
        if let Some(v) = get("JICOFO_HOST") {
            j.host = v;
        }
        if let Some(v) = get("JICOFO_HOSTNAME") {
            j.domain = v;
        }
        if let Some(v) = get("JICOFO_SECRET") {
            j.secret = v;
        }
        if let Some(v) = get("JICOFO_PORT").and_then(|v| v.trim().parse().ok()) {
            j.port = v;
        }
        if let Some(v) = get("JICOFO_AUTH_DOMAIN") {
            j.auth_domain = v;
        }
        if let Some(v) = get("JICOFO_AUTH_USER") {
            j.auth_user = v;
        }
        if let Some(v) = get("JICOFO_AUTH_PASSWORD") {
            j.auth_password = v;
        }
        // After JICOFO_HOSTNAME: the subdomain is relative to the domain.
        if let Some(v) = get("JICOFO_FOCUS_SUBDOMAIN") {
            j.component_domain = Some(format!("{}.{}", v.trim(), j.domain));
        }
    }

    fn problems(&self) -> Vec<ConfigProblem> {
        let j = &self.jicofo;
        let mut p = Vec::new();
        let mut required = |key: &str, value: &str, origin: &str| {
            if value.trim().is_empty() {
                p.push(ConfigProblem::new(
                    format!("jicofo.{key}"),
                    format!("missing (or set {origin})"),
                ));
            }
        };
        required("host", &j.host, "JICOFO_HOST");
        required("secret", &j.secret, "JICOFO_SECRET");
        required("domain", &j.domain, "JICOFO_HOSTNAME");
        required("auth_domain", &j.auth_domain, "JICOFO_AUTH_DOMAIN");
        required("auth_user", &j.auth_user, "JICOFO_AUTH_USER");
        required("auth_password", &j.auth_password, "JICOFO_AUTH_PASSWORD");
        required(
            "bridge_muc",
            &j.bridge_muc,
            "org.jitsi.jicofo.BRIDGE_MUC's value",
        );
        if !j.bridge_muc.is_empty() && j.bridge_muc.parse::<xmpp_parsers::jid::BareJid>().is_err() {
            p.push(ConfigProblem::new(
                "jicofo.bridge_muc",
                format!("{:?} is not a room JID (room@service)", j.bridge_muc),
            ));
        }
        for (key, port) in [("port", j.port), ("c2s_port", j.c2s_port)] {
            if port == 0 {
                p.push(ConfigProblem::new(format!("jicofo.{key}"), "must not be 0"));
            }
        }
        if !j.disable_certificate_verification && j.ca_file.is_none() {
            p.push(ConfigProblem::new(
                "jicofo.ca_file",
                "set ca_file to the XMPP server's certificate (or its CA), or \
                 disable_certificate_verification = true",
            ));
        }
        if let Some(f) = &j.ca_file
            && !f.is_file()
        {
            p.push(ConfigProblem::new(
                "jicofo.ca_file",
                format!("{} is not a readable file", f.display()),
            ));
        }
        p
    }

    /// The component's JID, focus.DOMAIN unless configured.
    pub fn component_domain(&self) -> String {
        match &self.jicofo.component_domain {
            Some(d) if !d.trim().is_empty() => d.trim().to_string(),
            _ => format!("focus.{}", self.jicofo.domain),
        }
    }

    /// The focus's client account, focus@auth.DOMAIN.
    pub fn focus_jid(&self) -> String {
        format!("{}@{}", self.jicofo.auth_user, self.jicofo.auth_domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[jicofo]
secret = "s"
domain = "meet.test"
auth_domain = "auth.meet.test"
auth_password = "pw"
bridge_muc = "JvbBrewery@internal.auth.meet.test"
disable_certificate_verification = true
"#;

    #[test]
    fn defaults_follow_the_guide() {
        let c = Config::parse(Path::new("f.toml"), MINIMAL).expect("valid");
        assert_eq!(c.jicofo.host, "localhost");
        assert_eq!(c.jicofo.port, 5347);
        assert_eq!(c.jicofo.c2s_port, 5222);
        assert_eq!(c.component_domain(), "focus.meet.test");
        assert_eq!(c.focus_jid(), "focus@auth.meet.test");
        assert_eq!(c.http.addr().to_string(), "127.0.0.1:8888");
    }

    #[test]
    fn problems_name_file_and_key() {
        let e = Config::parse(Path::new("f.toml"), "[jicofo]\nbridge_muc = \"a@@b\"\n")
            .expect_err("invalid");
        let text = e.to_string();
        for key in [
            "jicofo.secret",
            "JICOFO_SECRET",
            "jicofo.bridge_muc",
            "jicofo.ca_file",
        ] {
            assert!(text.contains(key), "{key}: {text}");
        }
        assert!(text.starts_with("f.toml: key `"), "{text}");
    }

    #[test]
    fn guide_variables_override_the_file() {
        let mut c = Config::parse(Path::new("f.toml"), MINIMAL).expect("valid");
        c.apply_env(|k| match k {
            "JICOFO_HOST" => Some("xmpp.internal".into()),
            "JICOFO_HOSTNAME" => Some("jitsi2.test.alt".into()),
            "JICOFO_PORT" => Some("5348".into()),
            "JICOFO_SECRET" => Some("secret1".into()),
            "JICOFO_AUTH_PASSWORD" => Some("secret2".into()),
            "JICOFO_AUTH_USER" => Some(String::new()),
            "JICOFO_FOCUS_SUBDOMAIN" => Some("conf".into()),
            _ => None,
        });
        assert_eq!(c.jicofo.host, "xmpp.internal");
        assert_eq!(c.jicofo.port, 5348);
        assert_eq!(c.jicofo.secret, "secret1");
        assert_eq!(c.jicofo.auth_password, "secret2");
        assert_eq!(c.jicofo.auth_user, "focus");
        assert_eq!(c.component_domain(), "conf.jitsi2.test.alt");
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/focus.toml"));
        let text = std::fs::read_to_string(path).expect("etc/focus.toml");
        let mut c: Config = meet_service::config::parse_str(path, &text).expect("parses");
        // ca_file names a path of the target machine; accept-any keeps the
        // check independent of it.
        c.jicofo.ca_file = None;
        c.jicofo.disable_certificate_verification = true;
        let c = c.checked(path).expect("valid");
        assert_eq!(c.component_domain(), "focus.jitsi2.test.alt");
        assert_eq!(c.focus_jid(), "focus@auth.jitsi2.test.alt");
        assert!(c.jicofo.enable_health_checks);
    }
}
