//! An existing deployment as its config folder holds it: the four TOML
//! files, parsed (format-preserving, so setup can merge into them), and the
//! few values setup, adduser and status read from them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

use crate::daemons::{self, Daemon};

/// The parsed files; None where a file does not exist yet.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub dir: PathBuf,
    pub xmpp: Option<DocumentMut>,
    pub focus: Option<DocumentMut>,
    pub videobridge: Option<DocumentMut>,
    pub web: Option<DocumentMut>,
}

/// A videobridge's XMPP account as its config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeAccount {
    pub username: String,
    pub domain: String,
    pub password: String,
    pub nickname: Option<String>,
}

impl Deployment {
    /// Read every file that exists; a file that is not valid TOML is an
    /// error (setup must not replace what it cannot read).
    pub fn load(dir: &Path) -> Result<Self, String> {
        let read = |d: Daemon| -> Result<Option<DocumentMut>, String> {
            let path = dir.join(d.config);
            match std::fs::read_to_string(&path) {
                Ok(text) => text
                    .parse::<DocumentMut>()
                    .map(Some)
                    .map_err(|e| format!("{}: not valid TOML: {e}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            xmpp: read(daemons::XMPP_SERVER)?,
            focus: read(daemons::FOCUS)?,
            videobridge: read(daemons::VIDEOBRIDGE)?,
            web: read(daemons::WEB)?,
        })
    }

    pub fn path(&self, d: Daemon) -> PathBuf {
        self.dir.join(d.config)
    }

    /// The deployment's domain: the focus's JICOFO_HOSTNAME, else web's
    /// [hosts] domain, else xmpp-server's muc_mapper_domain_base.
    pub fn domain(&self) -> Option<String> {
        string_at(self.focus.as_ref(), &["jicofo", "domain"])
            .or_else(|| string_at(self.web.as_ref(), &["hosts", "domain"]))
            .or_else(|| string_at(self.xmpp.as_ref(), &["muc_mapper_domain_base"]))
    }

    /// xmpp-server's component_secret for the component `host`.
    pub fn component_secret(&self, host: &str) -> Option<String> {
        entry(self.xmpp.as_ref(), "component", host)
            .and_then(|t| t.get("component_secret"))
            .and_then(Item::as_str)
            .map(str::to_string)
    }

    /// A `[jicofo]` string of focus.toml.
    pub fn jicofo(&self, key: &str) -> Option<String> {
        string_at(self.focus.as_ref(), &["jicofo", key])
    }

    /// The authentication of an xmpp-server virtual host.
    pub fn authentication(&self, host: &str) -> Option<String> {
        entry(self.xmpp.as_ref(), "virtual_host", host)
            .map(|t| {
                t.get("authentication")
                    .and_then(Item::as_str)
                    // xmpp-server's default for a virtual host.
                    .unwrap_or("internal_hashed")
            })
            .map(str::to_string)
    }

    /// The `ssl` files (key, certificate) of an xmpp-server virtual host.
    pub fn ssl_files(&self, host: &str) -> Option<(PathBuf, PathBuf)> {
        let ssl = entry(self.xmpp.as_ref(), "virtual_host", host)?
            .get("ssl")?
            .as_table_like()?;
        let path = |k: &str| ssl.get(k).and_then(Item::as_str).map(PathBuf::from);
        Some((path("key")?, path("certificate")?))
    }

    /// Every XMPP account the videobridge config logs in with.
    pub fn bridge_accounts(&self) -> Vec<BridgeAccount> {
        let configs = self
            .videobridge
            .as_ref()
            .and_then(|d| d.get("videobridge"))
            .and_then(|v| v.get("apis"))
            .and_then(|v| v.get("xmpp-client"))
            .and_then(|v| v.get("configs"))
            .and_then(Item::as_table_like);
        let Some(configs) = configs else {
            return Vec::new();
        };
        configs
            .iter()
            .filter_map(|(_, c)| {
                let s = |k: &str| c.get(k).and_then(Item::as_str).map(str::to_string);
                Some(BridgeAccount {
                    username: s("username")?,
                    domain: s("domain")?,
                    password: s("password")?,
                    nickname: s("muc_nickname"),
                })
            })
            .collect()
    }

    /// Where xmpp-server's HTTP listener (health, BOSH) answers locally.
    pub fn xmpp_http_addr(&self) -> SocketAddr {
        let doc = self.xmpp.as_ref();
        let port = first_int(doc, "http_ports").unwrap_or(5280);
        let ip = doc
            .and_then(|d| d.get("http_interfaces"))
            .and_then(Item::as_array)
            .and_then(|a| a.get(0))
            .and_then(|v| v.as_str())
            .map(local_ip)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        SocketAddr::new(ip, port)
    }

    /// The focus's REST address ([http] host/port, default 127.0.0.1:8888).
    pub fn focus_http_addr(&self) -> SocketAddr {
        http_addr(self.focus.as_ref(), &["http"], 8888)
    }

    /// The videobridge's HTTP address ([videobridge.http], default :8080).
    pub fn videobridge_http_addr(&self) -> SocketAddr {
        http_addr(self.videobridge.as_ref(), &["videobridge", "http"], 8080)
    }

    /// How to reach meet-web's health endpoint: (address, TLS?). HTTPS on
    /// the first https_listen address unless plain_http is set.
    pub fn web_addr(&self) -> (SocketAddr, bool) {
        let server = self.web.as_ref().and_then(|d| d.get("server"));
        let plain = server
            .and_then(|s| s.get("plain_http"))
            .and_then(Item::as_bool)
            .unwrap_or(false);
        let (key, default) = if plain {
            ("http_listen", "0.0.0.0:80")
        } else {
            ("https_listen", "0.0.0.0:443")
        };
        let addr = server
            .and_then(|s| s.get(key))
            .and_then(Item::as_array)
            .and_then(|a| a.get(0))
            .and_then(|v| v.as_str())
            .unwrap_or(default);
        let addr = addr
            .parse::<SocketAddr>()
            .map(|a| SocketAddr::new(local_ip(&a.ip().to_string()), a.port()))
            .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 443));
        (addr, !plain)
    }
}

/// A listening address as a local client reaches it: "0.0.0.0" and "*"
/// mean every IPv4 address, so 127.0.0.1; "::" means ::1.
fn local_ip(text: &str) -> IpAddr {
    match text.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() && ip.is_ipv6() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Ok(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Ok(ip) => ip,
        Err(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

fn http_addr(doc: Option<&DocumentMut>, table: &[&str], default_port: u16) -> SocketAddr {
    let mut item = doc.map(|d| d.as_item());
    for k in table {
        item = item.and_then(|i| i.get(k));
    }
    let host = item
        .and_then(|t| t.get("host"))
        .and_then(Item::as_str)
        .map(local_ip)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let port = item
        .and_then(|t| t.get("port"))
        .and_then(Item::as_integer)
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(default_port);
    SocketAddr::new(host, port)
}

fn first_int(doc: Option<&DocumentMut>, key: &str) -> Option<u16> {
    doc?.get(key)?
        .as_array()?
        .get(0)?
        .as_integer()
        .and_then(|p| u16::try_from(p).ok())
}

fn string_at(doc: Option<&DocumentMut>, keys: &[&str]) -> Option<String> {
    let mut item = doc?.as_item();
    for k in keys {
        item = item.get(k)?;
    }
    item.as_str().map(str::to_string)
}

/// The `[[aot]]` entry whose `host` is `host`.
fn entry<'a>(doc: Option<&'a DocumentMut>, aot: &str, host: &str) -> Option<&'a toml_edit::Table> {
    doc?.get(aot)?
        .as_array_of_tables()?
        .iter()
        .find(|t| t.get("host").and_then(Item::as_str) == Some(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_and_addresses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("w");
        w(
            "xmpp-server.toml",
            "http_ports = [5999]\nhttp_interfaces = [\"0.0.0.0\"]\n[[virtual_host]]\nhost = \"d\"\n\
             authentication = \"anonymous\"\n[[component]]\nhost = \"focus.d\"\ncomponent_secret = \"s\"\n",
        );
        w(
            "focus.toml",
            "[jicofo]\ndomain = \"d\"\n[http]\nport = 9000\n",
        );
        w(
            "videobridge.toml",
            "[videobridge.apis.xmpp-client.configs.a]\nusername = \"jvb\"\ndomain = \"auth.d\"\npassword = \"p\"\n",
        );
        w("web.toml", "[server]\nhttps_listen = [\"[::]:8443\"]\n");
        let d = Deployment::load(dir.path()).expect("load");
        assert_eq!(d.domain().as_deref(), Some("d"));
        assert_eq!(d.component_secret("focus.d").as_deref(), Some("s"));
        assert_eq!(d.authentication("d").as_deref(), Some("anonymous"));
        assert_eq!(d.authentication("x"), None);
        assert_eq!(d.ssl_files("d"), None);
        assert_eq!(d.bridge_accounts().len(), 1);
        assert_eq!(d.xmpp_http_addr().to_string(), "127.0.0.1:5999");
        assert_eq!(d.focus_http_addr().to_string(), "127.0.0.1:9000");
        assert_eq!(d.videobridge_http_addr().to_string(), "127.0.0.1:8080");
        assert_eq!(d.web_addr(), ("[::1]:8443".parse().expect("addr"), true));
    }

    #[test]
    fn invalid_toml_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("focus.toml"), "[jicofo\n").expect("w");
        let e = Deployment::load(dir.path()).expect_err("invalid");
        assert!(e.contains("focus.toml"), "{e}");
    }
}
