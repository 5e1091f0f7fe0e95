//! `meetctl status`: asks each daemon's health endpoint (the guide's
//! `curl -i localhost:8888/about/health`, for all four), shows the bridges
//! the focus sees, and says in plain words what is wrong and where to look.
//! Addresses come from the configs, so moved ports are followed.

use std::net::SocketAddr;
use std::path::Path;

use crate::daemons::{self, Daemon};
use crate::deployment::Deployment;
use crate::probe::{self, Failure};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub subject: String,
    pub ok: bool,
    pub text: String,
}

impl Finding {
    fn ok(subject: &str, text: String) -> Self {
        Self {
            subject: subject.into(),
            ok: true,
            text,
        }
    }
    fn problem(subject: &str, text: String) -> Self {
        Self {
            subject: subject.into(),
            ok: false,
            text,
        }
    }
}

/// Print the report; Ok(true) when everything is healthy.
pub fn run(config_dir: &Path) -> Result<bool, String> {
    let findings = check(config_dir)?;
    for f in &findings {
        println!("{}: {}", f.subject, f.text);
    }
    let problems = findings.iter().filter(|f| !f.ok).count();
    if problems == 0 {
        println!("healthy");
    } else {
        println!(
            "{problems} problem{} found",
            if problems == 1 { "" } else { "s" }
        );
    }
    Ok(problems == 0)
}

/// Every finding, in the order the stack starts.
pub fn check(config_dir: &Path) -> Result<Vec<Finding>, String> {
    let dep = Deployment::load(config_dir)?;
    let mut out = Vec::new();
    let present = [
        (daemons::XMPP_SERVER, dep.xmpp.is_some()),
        (daemons::FOCUS, dep.focus.is_some()),
        (daemons::VIDEOBRIDGE, dep.videobridge.is_some()),
        (daemons::WEB, dep.web.is_some()),
    ];
    for (d, there) in present {
        if !there {
            out.push(Finding::problem(
                d.name,
                format!(
                    "not set up: {} is missing — run `meetctl setup --domain DOMAIN --config-dir {}`",
                    dep.path(d).display(),
                    config_dir.display()
                ),
            ));
        }
    }
    let env = std::fs::read_to_string(JICOFO_ENV_FILE).unwrap_or_default();
    out.extend(consistency(&dep, &shell_vars(&env)));
    if dep.xmpp.is_some() {
        out.push(health(
            daemons::XMPP_SERVER,
            dep.xmpp_http_addr(),
            None,
            |_| None,
        ));
    }
    let mut videobridge_down = false;
    if dep.videobridge.is_some() {
        let f = health(
            daemons::VIDEOBRIDGE,
            dep.videobridge_http_addr(),
            None,
            |_| {
                Some(format!(
                    "check `journalctl -u {}`",
                    daemons::VIDEOBRIDGE.unit
                ))
            },
        );
        videobridge_down = !f.ok;
        out.push(f);
    }
    if dep.focus.is_some() {
        let domain = dep.domain().unwrap_or_else(|| "DOMAIN".into());
        out.push(health(
            daemons::FOCUS,
            dep.focus_http_addr(),
            None,
            |reason| Some(focus_hint(reason, &domain, videobridge_down)),
        ));
        out.push(bridges(dep.focus_http_addr()));
    }
    if dep.web.is_some() {
        let (addr, tls) = dep.web_addr();
        let name = dep.domain();
        out.push(health(
            daemons::WEB,
            addr,
            tls.then_some(name.as_deref().unwrap_or("localhost")),
            |_| Some(format!("check `journalctl -u {}`", daemons::WEB.unit)),
        ));
    }
    Ok(out)
}

/// GET /about/health; 200 is healthy, anything else is explained, with
/// `hint(reason)` added for an unhealthy answer.
fn health(
    d: Daemon,
    addr: SocketAddr,
    tls_name: Option<&str>,
    hint: impl Fn(&str) -> Option<String>,
) -> Finding {
    let scheme = if tls_name.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}/about/health");
    match probe::get(addr, "/about/health", tls_name) {
        Ok(r) if r.status == 200 => Finding::ok(d.name, format!("healthy ({url})")),
        Ok(r) => {
            let reason = r.body.trim();
            let reason = if reason.is_empty() {
                format!("unhealthy (HTTP {} from {url})", r.status)
            } else {
                reason.to_string()
            };
            let text = match hint(&reason) {
                Some(h) => format!("{reason} — {h}"),
                None => reason,
            };
            Finding::problem(d.name, text)
        }
        Err(Failure::Refused) => Finding::problem(
            d.name,
            format!(
                "not running (nothing answers on {addr}) — start it: `systemctl start {unit}`; \
                 why it stopped: `journalctl -u {unit}`",
                unit = d.unit
            ),
        ),
        Err(e) => Finding::problem(
            d.name,
            format!(
                "no health answer from {url} ({e}) — check `journalctl -u {}`",
                d.unit
            ),
        ),
    }
}

/// What a focus health failure usually means (the focus's own reasons are
/// jicofo's texts, see focus/src/state.rs).
fn focus_hint(reason: &str, domain: &str, videobridge_down: bool) -> String {
    let vb = daemons::VIDEOBRIDGE.unit;
    let focus = daemons::FOCUS.unit;
    if reason.contains("No operational bridges") {
        if videobridge_down {
            format!("videobridge is not running (see its line); check `journalctl -u {vb}`")
        } else {
            format!(
                "is videobridge running and logged in to the brewery? check `journalctl -u {vb}`"
            )
        }
    } else if reason.contains("component") {
        format!(
            "the focus cannot connect as focus.{domain}: is xmpp-server running, and is \
             focus.toml's [jicofo] secret its component_secret? check `journalctl -u {focus}`"
        )
    } else if reason.contains("client") {
        format!(
            "the focus account cannot log in: is xmpp-server running, and does \
             focus.toml's auth_password match the account (`meetctl setup` sets it again)? \
             check `journalctl -u {focus}`"
        )
    } else {
        format!("check `journalctl -u {focus}`")
    }
}

/// The bridges the focus sees, from its /stats (jicofo's bridge_selector).
fn bridges(addr: SocketAddr) -> Finding {
    let stats = probe::get(addr, "/stats", None)
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok());
    let Some(stats) = stats else {
        return Finding::problem(
            "bridges",
            "unknown: the focus's /stats did not answer".into(),
        );
    };
    let count = |k: &str| {
        stats
            .get("bridge_selector")
            .and_then(|b| b.get(k))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let (total, operational) = (count("bridge_count"), count("operational_bridge_count"));
    let text = format!(
        "the focus sees {total} bridge{}, {operational} operational",
        if total == 1 { "" } else { "s" }
    );
    if operational > 0 {
        Finding::ok("bridges", text)
    } else {
        Finding::problem("bridges", text)
    }
}

/// The guide's jicofo settings, which meet-rs-focus.service reads as an
/// optional EnvironmentFile: its JICOFO_* values override focus.toml.
const JICOFO_ENV_FILE: &str = "/etc/jitsi/jicofo/config";

/// `KEY=value` lines of a shell-style file (comments skipped, one level of
/// quotes removed), as systemd's EnvironmentFile reads them.
fn shell_vars(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// Mismatches between files that stop the daemons from talking to each
/// other, found without asking them. `env` is the guide's jicofo file.
fn consistency(dep: &Deployment, env: &[(String, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(domain) = dep.domain() else {
        return out;
    };
    let var = |k: &str| {
        env.iter()
            .rev()
            .find(|(key, v)| key == k && !v.trim().is_empty())
            .map(|(_, v)| v.clone())
    };
    let focus_host = dep
        .jicofo("component_domain")
        .unwrap_or_else(|| format!("focus.{domain}"));
    let component_secret = dep.component_secret(&focus_host);
    if let (Some(a), Some(b)) = (&component_secret, var("JICOFO_SECRET"))
        && *a != b
    {
        out.push(Finding::problem(
            "config",
            format!(
                "{JICOFO_ENV_FILE} sets JICOFO_SECRET, which the focus uses instead of \
                 focus.toml's secret, and it is not xmpp-server.toml's component_secret for \
                 {focus_host}: remove that line (meet-rs does not need the file) and restart {}",
                daemons::FOCUS.unit
            ),
        ));
    }
    if let (Some(a), Some(b)) = (dep.jicofo("auth_password"), var("JICOFO_AUTH_PASSWORD"))
        && a != b
    {
        out.push(Finding::problem(
            "config",
            format!(
                "{JICOFO_ENV_FILE} sets JICOFO_AUTH_PASSWORD, which the focus logs in with \
                 instead of focus.toml's auth_password (the one `meetctl setup` gives the \
                 account): remove that line and restart {}",
                daemons::FOCUS.unit
            ),
        ));
    }
    if let (Some(a), Some(b)) = (component_secret, dep.jicofo("secret"))
        && a != b
    {
        out.push(Finding::problem(
            "config",
            format!(
                "focus.toml's [jicofo] secret differs from xmpp-server.toml's component_secret \
                 for {focus_host}: the focus cannot connect; make them equal and restart \
                 {} and {}",
                daemons::XMPP_SERVER.unit,
                daemons::FOCUS.unit
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_jicofo_file_overriding_the_secrets_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("w");
        w(
            "xmpp-server.toml",
            "[[component]]\nhost = \"focus.d\"\ncomponent_secret = \"a\"\n",
        );
        w(
            "focus.toml",
            "[jicofo]\ndomain = \"d\"\nsecret = \"a\"\nauth_password = \"p\"\n",
        );
        let dep = Deployment::load(dir.path()).expect("load");
        let guide = "# Jitsi Conference Focus settings\nJICOFO_HOST=localhost\n\
                     JICOFO_SECRET=secret1\nJICOFO_AUTH_PASSWORD=\"secret2\"\n";
        let f = consistency(&dep, &shell_vars(guide));
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].text.contains("JICOFO_SECRET"), "{f:?}");
        assert!(f[1].text.contains("JICOFO_AUTH_PASSWORD"), "{f:?}");
        // Matching or empty values are fine (an empty value counts as unset).
        let ok = "JICOFO_SECRET=a\nJICOFO_AUTH_PASSWORD='p'\nJICOFO_PORT=\n";
        assert!(consistency(&dep, &shell_vars(ok)).is_empty());
        assert!(consistency(&dep, &[]).is_empty());
    }

    #[test]
    fn hints_name_the_daemon_to_look_at() {
        let r = "No operational bridges available (total bridge count: 0)";
        assert!(focus_hint(r, "d", false).contains("journalctl -u meet-rs-videobridge"));
        assert!(focus_hint("XMPP component connection is down", "d", false).contains("secret"));
        assert!(
            focus_hint("XMPP client connection (brewery) is down", "d", false)
                .contains("auth_password")
        );
    }

    #[test]
    fn nothing_running_and_mismatched_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("w");
        // Port 1 on loopback: nothing listens there.
        w(
            "xmpp-server.toml",
            "http_ports = [1]\n[[component]]\nhost = \"focus.d\"\ncomponent_secret = \"a\"\n",
        );
        w(
            "focus.toml",
            "[jicofo]\ndomain = \"d\"\nsecret = \"b\"\n[http]\nport = 1\n",
        );
        let f = check(dir.path()).expect("check");
        // (The guide's jicofo file, read from its fixed path, is not
        // expected on a test machine; its own test is below.)
        let text: Vec<String> = f
            .iter()
            .map(|f| format!("{}: {}", f.subject, f.text))
            .collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(has("videobridge: not set up"), "{text:#?}");
        assert!(has("meet-web: not set up"), "{text:#?}");
        assert!(
            has("config: focus.toml's [jicofo] secret differs"),
            "{text:#?}"
        );
        assert!(has("xmpp-server: not running"), "{text:#?}");
        assert!(has("journalctl -u meet-rs-focus"), "{text:#?}");
        assert!(f.iter().all(|f| !f.ok));
    }
}
