//! Prosody's configuration (prosody.cfg.lua with its `Include`s, as the
//! guide writes them) → xmpp-server.toml, which mirrors Prosody key for key.
//! Every setting is either carried over, or reported with its file and line
//! as not needed (Jitsi's plugins are built in, logs go to journald, …) or
//! not supported.

use std::path::{Path, PathBuf};

use super::lua::{self, Statement, Value};
use super::{Located, Notes, Roots};
use crate::templates::quote;

#[derive(Debug, Clone)]
pub enum Kind {
    VirtualHost,
    Component(Option<String>),
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub kind: Kind,
    pub at: Located,
    pub settings: Vec<(String, Value, Located)>,
}

impl Host {
    pub fn get(&self, key: &str) -> Option<&(String, Value, Located)> {
        self.settings.iter().rev().find(|(k, _, _)| k == key)
    }

    #[cfg(test)]
    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key)
            .and_then(|(_, v, _)| v.as_str().map(str::to_string))
    }
}

/// Everything Prosody would load.
#[derive(Debug, Default)]
pub struct Prosody {
    pub global: Vec<(String, Value, Located)>,
    pub hosts: Vec<Host>,
    pub files: Vec<PathBuf>,
}

impl Prosody {
    pub fn global(&self, key: &str) -> Option<&(String, Value, Located)> {
        self.global.iter().rev().find(|(k, _, _)| k == key)
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    pub fn virtual_hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts
            .iter()
            .filter(|h| matches!(h.kind, Kind::VirtualHost))
    }

    pub fn components(&self) -> impl Iterator<Item = &Host> {
        self.hosts
            .iter()
            .filter(|h| matches!(h.kind, Kind::Component(_)))
    }

    /// The first port of a `*_ports` setting, or the default.
    pub fn port(&self, key: &str, default: u16) -> u16 {
        self.global(key)
            .and_then(|(_, v, _)| match v {
                Value::Num(n) => Some(*n),
                Value::Table { items, .. } => items.iter().find_map(|i| match i {
                    Value::Num(n) => Some(*n),
                    _ => None,
                }),
                _ => None,
            })
            .and_then(|n| u16::try_from(n as i64).ok())
            .unwrap_or(default)
    }
}

/// Files matched by an `Include` pattern (a `*` in the file name only), in
/// name order, as Prosody loads them.
fn expand(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let path = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') {
        return Ok(vec![path]);
    }
    let dir = path.parent().unwrap_or(base);
    let (pre, post) = name.split_once('*').unwrap_or((&name, ""));
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len()
                })
            })
            .collect(),
        // Prosody skips a pattern whose folder does not exist.
        Err(_) => Vec::new(),
    };
    out.sort();
    Ok(out)
}

/// Loads `main` (a path under `roots`) and its includes.
pub fn load(roots: &Roots, main: &Path, notes: &mut Notes) -> Result<Prosody, String> {
    let mut p = Prosody::default();
    load_file(roots, main, &mut p, notes, 0)?;
    Ok(p)
}

fn load_file(
    roots: &Roots,
    file: &Path,
    p: &mut Prosody,
    notes: &mut Notes,
    depth: usize,
) -> Result<(), String> {
    if depth > 8 {
        return Err(format!("{}: Include nested too deeply", roots.show(file)));
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", roots.show(file)))?;
    let statements =
        lua::parse(&text).map_err(|e| format!("{}:{}: {}", roots.show(file), e.line, e.message))?;
    p.files.push(file.to_path_buf());
    // Each file starts in the global section, as Prosody reads it.
    let mut current: Option<usize> = None;
    for st in statements {
        match st {
            Statement::Set { key, value, line } => {
                let at = Located::new(roots, file, line);
                match current {
                    Some(i) => p.hosts[i].settings.push((key, value, at)),
                    None => p.global.push((key, value, at)),
                }
            }
            Statement::VirtualHost { name, line } | Statement::Component { name, line, .. }
                if p.hosts.iter().any(|h| h.name == name) =>
            {
                // Prosody merges a repeated section into the first one.
                current = p.hosts.iter().position(|h| h.name == name);
                let _ = line;
            }
            Statement::VirtualHost { name, line } => {
                p.hosts.push(Host {
                    name,
                    kind: Kind::VirtualHost,
                    at: Located::new(roots, file, line),
                    settings: Vec::new(),
                });
                current = Some(p.hosts.len() - 1);
            }
            Statement::Component { name, kind, line } => {
                p.hosts.push(Host {
                    name,
                    kind: Kind::Component(kind),
                    at: Located::new(roots, file, line),
                    settings: Vec::new(),
                });
                current = Some(p.hosts.len() - 1);
            }
            Statement::Include { pattern, line } => {
                let base = file.parent().unwrap_or(Path::new("/"));
                let pattern = roots.map_str(&pattern);
                let files = expand(base, &pattern)?;
                if files.is_empty() {
                    notes.note(
                        &Located::new(roots, file, line),
                        format!("Include {pattern:?} matches no file"),
                    );
                }
                for f in files {
                    load_file(roots, &f, p, notes, depth + 1)?;
                }
            }
        }
    }
    Ok(())
}

/// Global settings carried over as they are (same name, same meaning).
const GLOBAL_KEYS: &[&str] = &[
    "c2s_ports",
    "c2s_interfaces",
    "component_ports",
    "component_interfaces",
    "http_ports",
    "http_interfaces",
    "c2s_timeout",
    "cross_domain_bosh",
    "cross_domain_websocket",
    "consider_bosh_secure",
    "consider_websocket_secure",
    "muc_mapper_domain_base",
    "turncredentials_secret",
    "turncredentials_ttl",
    "c2s_stanza_size_limit",
    "bosh_max_inactivity",
    "bosh_max_wait",
];

/// Global settings meet-rs does not need, with why.
const GLOBAL_NOT_NEEDED: &[(&str, &str)] = &[
    (
        "plugin_paths",
        "Jitsi's Prosody plugins are built into xmpp-server",
    ),
    ("pidfile", "systemd tracks the process"),
    (
        "log",
        "logs go to the journal (journalctl -u meet-rs-xmpp-server)",
    ),
    ("daemonize", "systemd runs the daemon"),
    (
        "modules_enabled",
        "global modules are built in; per-host modules_enabled is kept",
    ),
    ("modules_disabled", "global modules are built in"),
    ("certificates", "each host names its certificate with ssl"),
    ("allow_registration", "in-band registration is not offered"),
    ("s2s_secure_auth", "there is no server-to-server federation"),
    (
        "s2s_insecure_domains",
        "there is no server-to-server federation",
    ),
    (
        "s2s_secure_domains",
        "there is no server-to-server federation",
    ),
    (
        "s2s_require_encryption",
        "there is no server-to-server federation",
    ),
    ("archive_expires_after", "there is no message archive"),
    ("default_storage", "accounts live in SQLite under data_path"),
    ("storage", "accounts live in SQLite under data_path"),
    (
        "limits",
        "xmpp-server has its own limits (c2s_read_rate_limit)",
    ),
    (
        "admins",
        "global admins are not used; admins are set per host and component",
    ),
    (
        "authentication",
        "applied to each VirtualHost that does not set it",
    ),
    (
        "c2s_require_encryption",
        "applied to each VirtualHost that does not set it",
    ),
    (
        "data_path",
        "xmpp-server keeps its own data (SQLite accounts) in /var/lib/meet-rs/xmpp-server",
    ),
    ("network_default_read_size", "not needed"),
    ("http_default_host", "not needed"),
];

const VHOST_KEYS: &[&str] = &[
    "authentication",
    "modules_enabled",
    "c2s_require_encryption",
    "allow_unencrypted_plain_auth",
    "disable_sasl_mechanisms",
    "speakerstats_component",
    "conference_duration_component",
    "admins",
];

const COMPONENT_KEYS: &[&str] = &[
    "component_secret",
    "storage",
    "modules_enabled",
    "admins",
    "muc_room_locking",
    "muc_room_default_public_jids",
    "restrict_room_creation",
    "muc_component",
];

const COMPONENT_TYPES: &[&str] = &[
    "muc",
    "speakerstats_component",
    "conference_duration_component",
];

/// A Lua value as TOML (strings, numbers, booleans, lists of those).
fn toml_value(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(quote(s)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Num(n) if n.fract() == 0.0 => Some(format!("{}", *n as i64)),
        Value::Num(n) => Some(n.to_string()),
        Value::Table { items, fields } if fields.is_empty() => {
            let parts: Option<Vec<String>> = items.iter().map(toml_value).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        _ => None,
    }
}

#[derive(Debug)]
/// Where xmpp-server keeps what it generates (certificates when the
/// guide's are missing, the account database).
pub struct Output {
    pub toml: String,
    /// host → (key, certificate) paths as written.
    pub certificates: Vec<(String, PathBuf, PathBuf)>,
}

/// xmpp-server.toml from Prosody's settings; `data_path` is where
/// xmpp-server keeps accounts (and generated certificates).
pub fn to_toml(
    p: &Prosody,
    roots: &Roots,
    data_path: &Path,
    notes: &mut Notes,
) -> Result<Output, String> {
    let mut t = String::from(
        "# Imported by `meetctl import` from Prosody's configuration; each key is the\n# Prosody setting of the same name (docs/configuration.md).\n",
    );
    t.push_str(&format!(
        "data_path = {}\n",
        quote(&data_path.to_string_lossy())
    ));
    for (key, value, at) in &p.global {
        if GLOBAL_KEYS.contains(&key.as_str()) {
            let Some(v) = toml_value(value) else {
                return Err(format!(
                    "{at}: {key}: a value of this shape is not supported"
                ));
            };
            let v = if key.ends_with("_ports") && v.starts_with(|c: char| c.is_ascii_digit()) {
                format!("[{v}]")
            } else {
                v
            };
            t.push_str(&format!("{key} = {v}\n"));
        } else if let Some((_, why)) = GLOBAL_NOT_NEEDED.iter().find(|(k, _)| k == key) {
            notes.info(at, format!("{key}: not carried over — {why}"));
        } else if key == "turncredentials" {
            notes.note(at, "turncredentials: copy the TURN servers into turncredentials in xmpp-server.toml by hand (format: docs/configuration.md)".to_string());
        } else {
            notes.note(
                at,
                format!("{key}: not supported by meet-rs's xmpp-server, ignored"),
            );
        }
    }
    let global_auth = p
        .global("authentication")
        .and_then(|(_, v, _)| v.as_str().map(str::to_string));
    let global_enc = p
        .global("c2s_require_encryption")
        .map(|(_, v, _)| v.clone());
    let mut certificates = Vec::new();
    for h in p.virtual_hosts() {
        t.push_str(&format!("\n[[virtual_host]]\nhost = {}\n", quote(&h.name)));
        if h.get("authentication").is_none()
            && let Some(a) = &global_auth
        {
            t.push_str(&format!("authentication = {}\n", quote(a)));
        }
        if h.get("c2s_require_encryption").is_none()
            && let Some(v) = global_enc.as_ref().and_then(toml_value)
        {
            t.push_str(&format!("c2s_require_encryption = {v}\n"));
        }
        for (key, value, at) in &h.settings {
            if key == "ssl" {
                let (Some(k), Some(c)) = (
                    value.field("key").and_then(Value::as_str),
                    value.field("certificate").and_then(Value::as_str),
                ) else {
                    return Err(format!("{at}: ssl needs key and certificate"));
                };
                let (k, c) = (roots.map(Path::new(k)), roots.map(Path::new(c)));
                certificates.push((h.name.clone(), k, c));
                continue;
            }
            if key == "authentication" {
                let a = value.as_str().unwrap_or_default();
                if !["anonymous", "internal_plain", "internal_hashed"].contains(&a) {
                    return Err(format!(
                        "{at}: authentication = {a:?} is not supported (anonymous, internal_plain or internal_hashed)"
                    ));
                }
            }
            if VHOST_KEYS.contains(&key.as_str()) {
                let v = toml_value(value).ok_or_else(|| {
                    format!("{at}: {key}: a value of this shape is not supported")
                })?;
                t.push_str(&format!("{key} = {v}\n"));
            } else {
                notes.note(
                    at,
                    format!("{key}: not supported on a VirtualHost by meet-rs, ignored"),
                );
            }
        }
        // The certificate goes last: a TOML inline table after the keys.
        if let Some((_, k, c)) = certificates.iter().find(|(n, _, _)| *n == h.name) {
            t.push_str(&format!(
                "ssl = {{ key = {}, certificate = {} }}\n",
                quote(&k.to_string_lossy()),
                quote(&c.to_string_lossy())
            ));
        }
    }
    for h in p.components() {
        let Kind::Component(kind) = &h.kind else {
            continue;
        };
        if let Some(k) = kind
            && !COMPONENT_TYPES.contains(&k.as_str())
        {
            return Err(format!(
                "{}: Component {:?} {k:?}: this component type is not supported ({})",
                h.at,
                h.name,
                COMPONENT_TYPES.join(", ")
            ));
        }
        t.push_str(&format!("\n[[component]]\nhost = {}\n", quote(&h.name)));
        if let Some(k) = kind {
            t.push_str(&format!("type = {}\n", quote(k)));
        }
        for (key, value, at) in &h.settings {
            if COMPONENT_KEYS.contains(&key.as_str()) {
                let v = toml_value(value).ok_or_else(|| {
                    format!("{at}: {key}: a value of this shape is not supported")
                })?;
                t.push_str(&format!("{key} = {v}\n"));
            } else {
                notes.note(
                    at,
                    format!("{key}: not supported on a Component by meet-rs, ignored"),
                );
            }
        }
    }
    Ok(Output {
        toml: t,
        certificates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_sections_and_translation() {
        let dir = tempfile::tempdir().expect("tmp");
        let etc = dir.path().join("etc/prosody");
        std::fs::create_dir_all(etc.join("conf.d")).expect("mkdir");
        std::fs::write(
            etc.join("prosody.cfg.lua"),
            "admins = { }\nauthentication = \"internal_hashed\"\nlog = { info = \"x\" }\nVirtualHost \"localhost\"\nInclude \"conf.d/*.cfg.lua\"\n",
        )
        .expect("main");
        std::fs::write(
            etc.join("conf.d/a.cfg.lua"),
            "plugin_paths = { \"/p\" }\nconsider_bosh_secure = true;\nweird_option = 1\nVirtualHost \"meet.x\"\n authentication = \"anonymous\"\n ssl = { key = \"/var/lib/prosody/meet.x.key\"; certificate = \"/var/lib/prosody/meet.x.crt\"; }\n modules_enabled = { \"bosh\"; \"ping\" }\nComponent \"conference.meet.x\" \"muc\"\n muc_room_locking = false\n admins = { \"focus@auth.meet.x\" }\nComponent \"focus.meet.x\"\n component_secret = \"s1\"\n",
        )
        .expect("conf.d");
        std::fs::write(etc.join("conf.d/ignored.txt"), "not lua at all ((").expect("other");
        let roots = Roots::new(dir.path());
        let mut notes = Notes::default();
        let p = load(&roots, &etc.join("prosody.cfg.lua"), &mut notes).expect("load");
        assert_eq!(p.files.len(), 2);
        assert_eq!(
            p.host("focus.meet.x")
                .and_then(|h| h.str("component_secret"))
                .as_deref(),
            Some("s1")
        );
        // plugin_paths after the Include belongs to the global section again.
        assert!(p.global("plugin_paths").is_some());
        let out = to_toml(
            &p,
            &roots,
            Path::new("/var/lib/meet-rs/xmpp-server"),
            &mut notes,
        )
        .expect("toml");
        assert!(out.toml.contains("consider_bosh_secure = true"));
        assert!(
            out.toml
                .contains("host = \"meet.x\"\nauthentication = \"anonymous\""),
            "{}",
            out.toml
        );
        assert!(
            out.toml
                .contains("host = \"localhost\"\nauthentication = \"internal_hashed\""),
            "{}",
            out.toml
        );
        assert!(out.toml.contains("muc_room_locking = false"));
        assert!(out.toml.contains(&format!(
            "key = \"{}/var/lib/prosody/meet.x.key\"",
            dir.path().display()
        )));
        let text = notes.render();
        assert!(
            text.contains("a.cfg.lua:3: weird_option: not supported"),
            "{text}"
        );
        assert!(text.contains("plugin_paths: not carried over"), "{text}");

        std::fs::write(
            etc.join("conf.d/b.cfg.lua"),
            "Component \"x.meet.x\" \"client_proxy\"\n",
        )
        .expect("b");
        let p = load(&roots, &etc.join("prosody.cfg.lua"), &mut notes).expect("load");
        let e = to_toml(&p, &roots, Path::new("/d"), &mut notes).expect_err("client_proxy");
        assert!(
            e.contains("b.cfg.lua:1") && e.contains("client_proxy"),
            "{e}"
        );
        std::fs::write(etc.join("conf.d/b.cfg.lua"), "x = y\n").expect("b");
        let e = load(&roots, &etc.join("prosody.cfg.lua"), &mut notes).expect_err("syntax");
        assert!(e.contains("conf.d/b.cfg.lua:1:"), "{e}");
    }
}
