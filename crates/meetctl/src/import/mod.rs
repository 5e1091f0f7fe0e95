//! `meetctl import`: the files the guide writes by hand — Prosody's
//! prosody.cfg.lua (with `Include "conf.d/*.cfg.lua"`), jicofo's `config`
//! and sip-communicator.properties, the videobridge's `config`,
//! application.conf (HOCON) and sip-communicator.properties, the web app's
//! DOMAIN-config.js and the Apache site — become meet-rs's four TOML files.
//!
//! Every setting is carried over, or reported with its file and line (not
//! needed by meet-rs, or not supported). Values that must agree across the
//! files (the focus component secret, the brewery room, the domains) are
//! checked; a disagreement — the guide's commonest mistake — stops the
//! import with both places named. `--root` reads a copy of a machine's
//! files from another folder (absolute paths inside them are taken under
//! it too), which is how the tests import the guide's exact files.

mod hocon;
mod lua;
mod props;
mod prosody;
mod web;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::binaries;
use crate::daemons;
use crate::files::{self, Access};
use crate::templates::quote;

/// Absolute paths in the imported files, seen under `--root`.
pub struct Roots {
    root: PathBuf,
}

impl Roots {
    pub fn new(root: &Path) -> Roots {
        Roots {
            root: root.to_path_buf(),
        }
    }

    /// `/etc/x` → `<root>/etc/x`.
    pub fn map(&self, p: &Path) -> PathBuf {
        match p.strip_prefix("/") {
            Ok(rel) if self.root != Path::new("/") => self.root.join(rel),
            _ => p.to_path_buf(),
        }
    }

    pub fn map_str(&self, p: &str) -> String {
        if Path::new(p).is_absolute() {
            self.map(Path::new(p)).to_string_lossy().into_owned()
        } else {
            p.to_string()
        }
    }

    /// A path as the operator knows it (without the root).
    pub fn show(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(rel) if self.root != Path::new("/") => format!("/{}", rel.display()),
            _ => p.display().to_string(),
        }
    }
}

/// A file and line, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
}

impl Located {
    pub fn new(roots: &Roots, file: &Path, line: usize) -> Located {
        Located {
            file: roots.show(file),
            line,
        }
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// What the import tells the operator: `note` for settings dropped that
/// may matter, `info` for settings meet-rs does not need.
#[derive(Debug, Default)]
pub struct Notes {
    lines: Vec<(bool, String)>,
}

impl Notes {
    pub fn note(&mut self, at: &Located, text: String) {
        self.lines.push((true, format!("{at}: {text}")));
    }

    pub fn info(&mut self, at: &Located, text: String) {
        self.lines.push((false, format!("{at}: {text}")));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (important, l) in &self.lines {
            out.push_str(if *important { "  note: " } else { "  info: " });
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

pub struct Options {
    pub root: PathBuf,
    pub out: PathBuf,
    pub data_dir: PathBuf,
    /// meet-web's static_root (the built meeting UI).
    pub static_root: PathBuf,
    /// Overwrite existing files in `out`.
    pub force: bool,
    /// Create the focus and jvb accounts (and missing certificates) with
    /// xmpp-server, as the guide does with prosodyctl.
    pub accounts: bool,
}

/// A value from jicofo's `config` or its properties, with where it is.
struct Setting {
    value: String,
    at: Located,
}

fn read(roots: &Roots, path: &Path) -> Result<(String, PathBuf), String> {
    let real = roots.map(path);
    std::fs::read_to_string(&real)
        .map(|t| (t, real))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn syntax(roots: &Roots, file: &Path, e: lua::SyntaxError) -> String {
    format!("{}:{}: {}", roots.show(file), e.line, e.message)
}

fn entries(
    roots: &Roots,
    path: &Path,
    parse: fn(&str) -> Result<props::Entries, lua::SyntaxError>,
) -> Result<(props::Entries, PathBuf), String> {
    let (text, real) = read(roots, path)?;
    let e = parse(&text).map_err(|e| syntax(roots, &real, e))?;
    Ok((e, real))
}

fn setting(roots: &Roots, file: &Path, e: &props::Entries, key: &str) -> Option<Setting> {
    e.iter()
        .rev()
        .find(|(k, _, _)| k == key)
        .map(|(_, v, l)| Setting {
            value: v.clone(),
            at: Located::new(roots, file, *l),
        })
}

/// The result of an import.
pub struct Imported {
    pub domain: String,
    pub written: Vec<PathBuf>,
    pub notes: Notes,
}

pub fn run(opts: &Options) -> Result<Imported, String> {
    let roots = Roots::new(&opts.root);
    let mut notes = Notes::default();

    // ---- Prosody ------------------------------------------------------
    let main = roots.map(Path::new("/etc/prosody/prosody.cfg.lua"));
    let p = prosody::load(&roots, &main, &mut notes)?;
    let xmpp_data = opts.data_dir.join("xmpp-server");
    let xmpp = prosody::to_toml(&p, &roots, &xmpp_data, &mut notes)?;

    // ---- jicofo -------------------------------------------------------
    let jicofo_cfg = Path::new("/etc/jitsi/jicofo/config");
    let (jv, jv_file) = entries(&roots, jicofo_cfg, props::shell_vars)?;
    let jicofo_props = Path::new("/etc/jitsi/jicofo/sip-communicator.properties");
    let (jp, jp_file) = match entries(&roots, jicofo_props, props::properties) {
        Ok(x) => x,
        Err(_) => (Vec::new(), roots.map(jicofo_props)),
    };
    let jvar = |k: &str| setting(&roots, &jv_file, &jv, k).filter(|s| !s.value.is_empty());
    let jprop = |k: &str| setting(&roots, &jp_file, &jp, k);
    let required = |s: Option<Setting>, what: &str| {
        s.ok_or_else(|| format!("{}: {what} is not set", jicofo_cfg.display()))
    };
    let domain = required(jvar("JICOFO_HOSTNAME"), "JICOFO_HOSTNAME")?;
    let d = domain.value.clone();
    let secret = required(jvar("JICOFO_SECRET"), "JICOFO_SECRET")?;
    let auth_domain = required(jvar("JICOFO_AUTH_DOMAIN"), "JICOFO_AUTH_DOMAIN")?;
    let auth_user = jvar("JICOFO_AUTH_USER")
        .map(|s| s.value)
        .unwrap_or_else(|| "focus".into());
    let auth_password = required(jvar("JICOFO_AUTH_PASSWORD"), "JICOFO_AUTH_PASSWORD")?;
    let subdomain = jvar("JICOFO_FOCUS_SUBDOMAIN")
        .map(|s| s.value)
        .unwrap_or_else(|| "focus".into());
    let focus_component = format!("{subdomain}.{d}");
    for (k, _, l) in &jv {
        let at = Located::new(&roots, &jv_file, *l);
        match k.as_str() {
            "JICOFO_HOST"
            | "JICOFO_HOSTNAME"
            | "JICOFO_SECRET"
            | "JICOFO_PORT"
            | "JICOFO_AUTH_DOMAIN"
            | "JICOFO_AUTH_USER"
            | "JICOFO_AUTH_PASSWORD"
            | "JICOFO_FOCUS_SUBDOMAIN" => {}
            "JICOFO_OPTS" => notes.info(
                &at,
                "JICOFO_OPTS: not needed (the subdomain is JICOFO_FOCUS_SUBDOMAIN)".into(),
            ),
            "JAVA_SYS_PROPS" => notes.info(
                &at,
                "JAVA_SYS_PROPS: not needed (no JVM; logs go to the journal)".into(),
            ),
            other => notes.note(
                &at,
                format!("{other}: not supported by meet-rs's focus, ignored"),
            ),
        }
    }
    // The guide's commonest mistake: JICOFO_SECRET ≠ the component's secret.
    let comp = p.host(&focus_component).ok_or_else(|| {
        format!(
            "{}: the focus component {focus_component:?} is not declared in Prosody's configuration (Component \"{focus_component}\" with component_secret)",
            secret.at
        )
    })?;
    match comp.get("component_secret") {
        Some((_, v, at)) if v.as_str() == Some(secret.value.as_str()) => {
            let _ = at;
        }
        Some((_, _, at)) => {
            return Err(format!(
                "JICOFO_SECRET ({}) differs from component_secret of {focus_component} ({at}): jicofo could not connect",
                secret.at
            ));
        }
        None => {
            return Err(format!(
                "{}: Component {focus_component:?} has no component_secret",
                comp.at
            ));
        }
    }
    let auth_cert = xmpp
        .certificates
        .iter()
        .find(|(h, _, _)| *h == auth_domain.value)
        .map(|(_, _, c)| c.clone())
        .unwrap_or_else(|| xmpp_data.join(format!("{}.crt", auth_domain.value)));
    let brewery = jprop("org.jitsi.jicofo.BRIDGE_MUC")
        .map(|s| s.value)
        .unwrap_or_else(|| format!("JvbBrewery@internal.{}", auth_domain.value));
    let health = jprop("org.jitsi.jicofo.health.ENABLE_HEALTH_CHECKS")
        .map(|s| s.value != "false")
        .unwrap_or(true);
    let auth_url = jprop("org.jitsi.jicofo.auth.URL");
    for (k, _, l) in &jp {
        if ![
            "org.jitsi.jicofo.BRIDGE_MUC",
            "org.jitsi.jicofo.health.ENABLE_HEALTH_CHECKS",
            "org.jitsi.jicofo.auth.URL",
        ]
        .contains(&k.as_str())
        {
            notes.note(
                &Located::new(&roots, &jp_file, *l),
                format!("{k}: not supported by meet-rs's focus, ignored"),
            );
        }
    }
    if let Some(u) = &auth_url
        && !u.value.starts_with("XMPP:")
    {
        return Err(format!(
            "{}: org.jitsi.jicofo.auth.URL={}: only XMPP:<domain> is supported",
            u.at, u.value
        ));
    }
    let component_port = p.port("component_ports", 5347);
    let c2s_port = p.port("c2s_ports", 5222);
    let http_port = p.port("http_ports", 5280);
    let focus_host = jvar("JICOFO_HOST")
        .map(|s| s.value)
        .unwrap_or_else(|| "localhost".into());
    let focus_port = match jvar("JICOFO_PORT") {
        Some(s) => s
            .value
            .parse::<u16>()
            .map_err(|_| format!("{}: JICOFO_PORT={} is not a port number", s.at, s.value))?,
        None => component_port,
    };
    let mut focus = format!(
        "# Imported by `meetctl import` from /etc/jitsi/jicofo/config and\n# sip-communicator.properties (etc/focus.toml documents each key).\n[jicofo]\nhost = {}\nport = {}\nsecret = {}\ndomain = {}\n",
        quote(&focus_host),
        focus_port,
        quote(&secret.value),
        quote(&d),
    );
    if subdomain != "focus" {
        focus.push_str(&format!("component_domain = {}\n", quote(&focus_component)));
    }
    focus.push_str(&format!(
        "auth_domain = {}\nauth_user = {}\nauth_password = {}\nc2s_port = {c2s_port}\n# The guide adds Prosody's certificates to the system's trust store; here\n# the auth domain's certificate is trusted by name.\nca_file = {}\nbridge_muc = {}\nenable_health_checks = {health}\n",
        quote(&auth_domain.value),
        quote(&auth_user),
        quote(&auth_password.value),
        quote(&auth_cert.to_string_lossy()),
        quote(&brewery),
    ));
    if let Some(u) = &auth_url {
        focus.push_str(&format!("auth_url = {}\n", quote(&u.value)));
    }

    // ---- videobridge ----------------------------------------------------
    let jvb_cfg = Path::new("/etc/jitsi/videobridge/config");
    let (vv, vv_file) = entries(&roots, jvb_cfg, props::shell_vars)?;
    let mut app_conf = PathBuf::from("/etc/jitsi/videobridge/application.conf");
    for (k, v, l) in &vv {
        let at = Located::new(&roots, &vv_file, *l);
        match k.as_str() {
            "JAVA_SYS_PROPS" => {
                if let Some(f) = v
                    .split_whitespace()
                    .find_map(|a| a.strip_prefix("-Dconfig.file="))
                {
                    app_conf = PathBuf::from(f);
                }
                notes.info(
                    &at,
                    "JAVA_SYS_PROPS: only -Dconfig.file is used (no JVM; logs go to the journal)"
                        .into(),
                );
            }
            "JVB_OPTS" => notes.info(
                &at,
                "JVB_OPTS: not needed (Colibri goes over the brewery only)".into(),
            ),
            other => notes.note(
                &at,
                format!("{other}: not supported by meet-rs's videobridge, ignored"),
            ),
        }
    }
    let (app_text, app_file) = read(&roots, &app_conf)?;
    let app = hocon::parse(&app_text).map_err(|e| syntax(&roots, &app_file, e))?;
    let vprops_path = Path::new("/etc/jitsi/videobridge/sip-communicator.properties");
    let (vp, vp_file) = match entries(&roots, vprops_path, props::properties) {
        Ok(x) => x,
        Err(_) => (Vec::new(), roots.map(vprops_path)),
    };
    // xmpp-client connections: application.conf, then the legacy properties
    // (org.jitsi.videobridge.xmpp.user.<ID>.<KEY>) for what it lacks.
    let mut shards: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        std::collections::BTreeMap::new();
    if let Some(configs) = app.object("videobridge.apis.xmpp-client.configs") {
        for (id, c) in configs {
            if let hocon::Value::Object(m) = c {
                let entry = shards.entry(id.clone()).or_default();
                for (k, v) in m {
                    if let hocon::Value::Scalar(s) = v {
                        entry.insert(k.to_ascii_lowercase(), s.clone());
                    }
                }
            }
        }
    }
    let mut stun = Vec::new();
    let mut local = Vec::new();
    let mut public = None;
    for (k, v, l) in &vp {
        let at = Located::new(&roots, &vp_file, *l);
        if let Some(rest) = k.strip_prefix("org.jitsi.videobridge.xmpp.user.") {
            let Some((id, key)) = rest.split_once('.') else {
                notes.note(&at, format!("{k}: not understood, ignored"));
                continue;
            };
            let key = key.to_ascii_lowercase();
            let entry = shards.entry(id.to_string()).or_default();
            match entry.get(&key) {
                Some(existing) if existing != v => notes.note(
                    &at,
                    format!("{k}={v} differs from application.conf's {key} = {existing:?}; application.conf's is used (jitsi-videobridge's new config takes precedence)"),
                ),
                Some(_) => {}
                None => {
                    entry.insert(key, v.clone());
                }
            }
            continue;
        }
        match k.as_str() {
            "org.ice4j.ice.harvest.STUN_MAPPING_HARVESTER_ADDRESSES" => {
                stun.extend(
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                );
            }
            "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS" => local.push(v.clone()),
            "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS" => public = Some(v.clone()),
            "org.ice4j.ice.harvest.DISABLE_AWS_HARVESTER" => {
                notes.info(&at, format!("{k}: not needed (there is no AWS harvester)"))
            }
            "org.jitsi.videobridge.ENABLE_STATISTICS"
            | "org.jitsi.videobridge.STATISTICS_TRANSPORT" => {
                notes.info(
                    &at,
                    format!("{k}: statistics always go to the brewery (muc)"),
                );
            }
            other => notes.note(
                &at,
                format!("{other}: not supported by meet-rs's videobridge, ignored"),
            ),
        }
    }
    if shards.is_empty() {
        return Err(format!(
            "{}: no videobridge.apis.xmpp-client.configs connection (the guide's `shard`)",
            roots.show(&app_file)
        ));
    }
    let mut jvb_password = None;
    let mut vb = String::from(
        "# Imported by `meetctl import` from /etc/jitsi/videobridge/application.conf and\n# sip-communicator.properties (etc/videobridge.toml documents each key).\n[videobridge]\n",
    );
    if let Some(id) = app.scalar("videobridge.websockets.server-id") {
        vb.push_str(&format!("server_id = {}\n", quote(id)));
    }
    if let Some(r) = app.scalar("videobridge.relay.region") {
        vb.push_str(&format!("region = {}\n", quote(r)));
    }
    // Browsers reach colibri-ws through meet-web on the public domain.
    let ws_domain = app.scalar("videobridge.websockets.domain").unwrap_or(&d);
    let ws_tls = app
        .scalar("videobridge.websockets.tls")
        .is_none_or(|t| t != "false");
    vb.push_str(&format!(
        "websocket_base_url = {}\n\n[videobridge.stats]\nenabled = {}\n",
        quote(&format!(
            "{}://{ws_domain}/colibri-ws",
            if ws_tls { "wss" } else { "ws" }
        )),
        app.scalar("videobridge.stats.enabled").unwrap_or("true"),
    ));
    let jvb_http_port = app
        .scalar("videobridge.http-servers.private.port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(8080);
    for (id, c) in &shards {
        let get = |k: &str| c.get(k).cloned();
        let missing = |k: &str| {
            format!(
                "{}: xmpp-client connection {id:?} has no {k}",
                roots.show(&app_file)
            )
        };
        let user_domain = get("domain").ok_or_else(|| missing("domain"))?;
        let username = get("username").ok_or_else(|| missing("username"))?;
        let password = get("password").ok_or_else(|| missing("password"))?;
        let muc_jids = get("muc_jids").ok_or_else(|| missing("muc_jids"))?;
        let nick = get("muc_nickname").ok_or_else(|| missing("muc_nickname"))?;
        if !muc_jids
            .split(',')
            .any(|j| j.trim().eq_ignore_ascii_case(&brewery))
        {
            return Err(format!(
                "the videobridge's muc_jids ({muc_jids}, {}) does not name jicofo's BRIDGE_MUC ({brewery}): the focus would see no bridge",
                roots.show(&app_file)
            ));
        }
        if user_domain == auth_domain.value {
            jvb_password = Some((username.clone(), password.clone()));
        }
        vb.push_str(&format!(
            "\n[videobridge.apis.xmpp-client.configs.{}]\nhostname = {}\nport = {c2s_port}\ndomain = {}\nusername = {}\npassword = {}\nmuc_jids = {}\nmuc_nickname = {}\nca_file = {}\n",
            quote(id),
            quote(&get("hostname").unwrap_or_else(|| "localhost".into())),
            quote(&user_domain),
            quote(&username),
            quote(&password),
            quote(&muc_jids),
            quote(&nick),
            quote(&auth_cert.to_string_lossy()),
        ));
        if get("disable_certificate_verification").as_deref() == Some("true") {
            vb.push_str("disable_certificate_verification = true\n");
        }
    }
    if let Some(port) = app.scalar("videobridge.ice.udp.port") {
        vb.push_str(&format!("\n[videobridge.ice.udp]\nport = {port}\n"));
    }
    vb.push_str("\n[videobridge.nat]\n");
    if !stun.is_empty() {
        let list: Vec<String> = stun.iter().map(|s| quote(s)).collect();
        vb.push_str(&format!(
            "stun_mapping_harvester_addresses = [{}]\n",
            list.join(", ")
        ));
    }
    if !local.is_empty() {
        let list: Vec<String> = local.iter().map(|s| quote(s)).collect();
        vb.push_str(&format!("local_addresses = [{}]\n", list.join(", ")));
    }
    if let Some(pa) = &public {
        vb.push_str(&format!("public_address = {}\n", quote(pa)));
    }
    vb.push_str(&format!("\n[videobridge.http]\nport = {jvb_http_port}\n"));

    // ---- web ------------------------------------------------------------
    let config_js = PathBuf::from(format!("/etc/jitsi/meet/{d}-config.js"));
    let (js, js_file) = read(&roots, &config_js)?;
    let hosts = web::config_js_hosts(&js).map_err(|e| syntax(&roots, &js_file, e))?;
    let js_at = Located::new(&roots, &js_file, 1);
    if hosts.domain.as_deref().is_some_and(|h| h != d) {
        return Err(format!(
            "{js_at}: hosts.domain {:?} differs from JICOFO_HOSTNAME {d:?} ({})",
            hosts.domain.unwrap_or_default(),
            domain.at
        ));
    }
    if let Some(anon) = &hosts.anonymousdomain
        && p.host(anon).is_none()
    {
        return Err(format!(
            "{js_at}: hosts.anonymousdomain {anon:?} has no VirtualHost in Prosody's configuration (the guide's VirtualHost \"guest.{d}\")"
        ));
    }
    let mut site = web::Site::default();
    for candidate in [
        format!("/etc/httpd2/conf/sites-available/{d}.conf"),
        format!("/etc/apache2/sites-available/{d}.conf"),
    ] {
        if let Ok((text, file)) = read(&roots, Path::new(&candidate)) {
            site = web::apache_site(&text).map_err(|e| syntax(&roots, &file, e))?;
            for (line, n) in &site.notes {
                notes.note(&Located::new(&roots, &file, *line), n.clone());
            }
            break;
        }
    }
    let cert = site
        .certificate
        .as_deref()
        .map(|c| roots.map(Path::new(c)))
        .unwrap_or_else(|| PathBuf::from(format!("/etc/jitsi/meet/{d}.crt")));
    let key = site
        .key
        .as_deref()
        .map(|c| roots.map(Path::new(c)))
        .unwrap_or_else(|| PathBuf::from(format!("/etc/jitsi/meet/{d}.key")));
    let https = site.https_ports.first().copied().unwrap_or(443);
    let http = site.http_ports.first().copied().unwrap_or(80);
    let mut webt = format!(
        "# Imported by `meetctl import` from /etc/jitsi/meet/{d}-config.js and the\n# Apache site (etc/web.toml documents each key).\n[hosts]\ndomain = {}\n",
        quote(hosts.domain.as_deref().unwrap_or(&d))
    );
    for (k, v) in [
        ("anonymousdomain", &hosts.anonymousdomain),
        ("muc", &hosts.muc),
        ("focus", &hosts.focus),
    ] {
        if let Some(v) = v {
            webt.push_str(&format!("{k} = {}\n", quote(v)));
        }
    }
    webt.push_str(&format!(
        "\n[server]\nhttps_listen = [\"0.0.0.0:{https}\"]\nhttp_listen = [\"0.0.0.0:{http}\"]\ncertificate = {}\nprivate_key = {}\nstatic_root = {}\n\n[proxy]\nxmpp_server = \"http://127.0.0.1:{http_port}\"\nvideobridge = \"http://127.0.0.1:{jvb_http_port}\"\n",
        quote(&cert.to_string_lossy()),
        quote(&key.to_string_lossy()),
        quote(&opts.static_root.to_string_lossy()),
    ));

    // ---- write ----------------------------------------------------------
    // The guide makes them with prosodyctl cert generate; without them
    // xmpp-server cannot offer TLS, so stop before writing anything.
    let missing: Vec<&(String, PathBuf, PathBuf)> = xmpp
        .certificates
        .iter()
        .filter(|(_, k, c)| !k.exists() || !c.exists())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "certificates named by Prosody's configuration do not exist: {} — run `prosodyctl cert generate` as the guide does (or `xmpp-server cert generate HOST`) and import again",
            missing
                .iter()
                .map(|(h, _, c)| format!("{h} ({})", roots.show(c)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    files::ensure_dir(&opts.out, 0o755)?;
    let outputs = [
        (
            daemons::XMPP_SERVER,
            xmpp.toml,
            Access::Secret {
                group: daemons::XMPP_SERVER.user,
            },
        ),
        (
            daemons::FOCUS,
            focus,
            Access::Secret {
                group: daemons::FOCUS.user,
            },
        ),
        (
            daemons::VIDEOBRIDGE,
            vb,
            Access::Secret {
                group: daemons::VIDEOBRIDGE.user,
            },
        ),
        (daemons::WEB, webt, Access::Public),
    ];
    for (daemon, _, _) in &outputs {
        let path = opts.out.join(daemon.config);
        if path.exists() && !opts.force {
            return Err(format!(
                "{} exists; pass --force to replace it (meetctl setup keeps edits; import starts over)",
                path.display()
            ));
        }
    }
    let mut written = Vec::new();
    for (daemon, text, access) in outputs {
        let path = opts.out.join(daemon.config);
        files::write(&path, &text, access)?;
        written.push(path);
    }
    if opts.accounts {
        let bin = binaries::require("xmpp-server")?;
        let server = binaries::XmppServer {
            binary: bin,
            config: opts.out.join(daemons::XMPP_SERVER.config),
        };
        files::ensure_dir(&xmpp_data, 0o750)?;
        server.ensure_account(&auth_user, &auth_domain.value, &auth_password.value)?;
        match &jvb_password {
            Some((user, pw)) => {
                server.ensure_account(user, &auth_domain.value, pw)?;
            }
            None => notes.note(
                &Located::new(&roots, &app_file, 1),
                format!(
                    "no xmpp-client connection logs in on {}: no jvb account was created",
                    auth_domain.value
                ),
            ),
        }
    }
    // Every file must pass its daemon's own check.
    for daemon in [
        daemons::XMPP_SERVER,
        daemons::FOCUS,
        daemons::VIDEOBRIDGE,
        daemons::WEB,
    ] {
        if let Some(bin) = binaries::find(binary_name(daemon)) {
            binaries::check_config(&bin, &opts.out.join(daemon.config)).map_err(|e| {
                format!(
                    "the imported {} does not pass check-config: {e}",
                    daemon.config
                )
            })?;
        }
    }
    Ok(Imported {
        domain: d,
        written,
        notes,
    })
}

fn binary_name(d: daemons::Daemon) -> &'static str {
    if d == daemons::WEB {
        "meet-web"
    } else {
        d.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_map_and_show() {
        let r = Roots::new(Path::new("/tmp/x"));
        assert_eq!(r.map(Path::new("/etc/a")), PathBuf::from("/tmp/x/etc/a"));
        assert_eq!(r.show(Path::new("/tmp/x/etc/a")), "/etc/a");
        let r = Roots::new(Path::new("/"));
        assert_eq!(r.map(Path::new("/etc/a")), PathBuf::from("/etc/a"));
        assert_eq!(r.show(Path::new("/etc/a")), "/etc/a");
    }
}
