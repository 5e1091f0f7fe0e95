//! What `meetctl setup` is asked to produce: the domain, folders, ports and
//! the deployment's shared secrets, from which every file is generated.

use std::path::{Path, PathBuf};

/// Listening ports written into fresh configs (existing values are kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// xmpp-server client port (5222), also what focus and videobridge use.
    pub c2s: u16,
    /// xmpp-server component port (5347), the focus's JICOFO_PORT.
    pub component: u16,
    /// xmpp-server HTTP port (5280): BOSH and WebSocket behind meet-web.
    pub xmpp_http: u16,
    /// The focus's REST port (8888).
    pub focus_http: u16,
    /// The videobridge's HTTP port (8080).
    pub jvb_http: u16,
    /// The videobridge's media port (10000/udp).
    pub jvb_udp: u16,
    /// meet-web's HTTPS port (443).
    pub https: u16,
    /// meet-web's HTTP port (80, redirects to HTTPS).
    pub web_http: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            c2s: 5222,
            component: 5347,
            xmpp_http: 5280,
            focus_http: 8888,
            jvb_http: 8080,
            jvb_udp: 10000,
            https: 443,
            web_http: 80,
        }
    }
}

/// The passwords the daemons must agree on (the guide's secret1..3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    /// xmpp-server's component_secret for focus.DOMAIN = focus's secret.
    pub component: String,
    /// The focus@auth.DOMAIN account's password.
    pub focus_password: String,
    /// The jvb@auth.DOMAIN account's password.
    pub jvb_password: String,
}

/// Everything the generated files are made from.
#[derive(Debug, Clone)]
pub struct Plan {
    pub domain: String,
    /// The guide's last section: accounts create rooms, guests join.
    pub secure: bool,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub ports: Ports,
    pub secrets: Secrets,
    /// The bridge's brewery nickname, unique per bridge.
    pub bridge_nickname: String,
    /// meet-web's certificate and key (generated, or the operator's).
    pub web_cert: PathBuf,
    pub web_key: PathBuf,
    /// The web app's files (meet-web's static_root).
    pub static_root: PathBuf,
}

impl Plan {
    /// xmpp-server's data_path: accounts and its host certificates.
    pub fn xmpp_data(&self) -> PathBuf {
        self.data_dir.join("xmpp-server")
    }

    /// Public certificates (and the web key) live here.
    pub fn certs_dir(&self) -> PathBuf {
        certs_dir(&self.config_dir)
    }

    pub fn auth_domain(&self) -> String {
        format!("auth.{}", self.domain)
    }

    pub fn guest_domain(&self) -> String {
        format!("guest.{}", self.domain)
    }

    /// The copy of the auth host's certificate the focus and the bridge
    /// trust (xmpp-server's data folder is closed to them).
    pub fn xmpp_ca_file(&self) -> PathBuf {
        self.certs_dir().join(format!("{}.crt", self.auth_domain()))
    }
}

pub fn certs_dir(config_dir: &Path) -> PathBuf {
    config_dir.join("certs")
}

/// Why `domain` cannot name a deployment, if it cannot: a lowercase DNS
/// name (it ends up in JIDs, file names and TOML strings unquoted).
pub fn domain_problem(domain: &str) -> Option<String> {
    if domain.is_empty() || domain.len() > 253 {
        return Some("must be 1 to 253 characters".into());
    }
    for label in domain.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Some("every dot-separated part must be 1 to 63 characters".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Some("only lowercase letters, digits, '-' and '.' are allowed".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("a part may not start or end with '-'".into());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for ok in ["jitsi2.test.alt", "localhost", "meet-1.example.com"] {
            assert_eq!(domain_problem(ok), None, "{ok}");
        }
        for bad in ["", "Meet.example", "a..b", "-a.b", "a\".b", "a b", "x.y/z"] {
            assert!(domain_problem(bad).is_some(), "{bad}");
        }
    }
}
