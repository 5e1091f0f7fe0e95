//! `meetctl setup`: everything the guide does by hand, in one idempotent
//! step — the four daemons' configs with matching secrets, certificates, the
//! focus and jvb accounts — then every daemon's own check-config.
//!
//! Re-running keeps what exists: secrets are read back from the files, each
//! file only gains keys it lacks (merge.rs), existing certificates and
//! accounts' passwords stay as the files say. Two explicit flags change
//! existing values: `--secure` (the main host's authentication) and
//! `--cert/--key` (meet-web's certificate).

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

use crate::binaries::{self, XmppServer};
use crate::certs::{self, WebCerts};
use crate::daemons::{self, Daemon};
use crate::deployment::Deployment;
use crate::files::{self, Access};
use crate::merge;
use crate::plan::{self, Plan, Ports, Secrets};
use crate::secret::{random_secret, random_string};
use crate::templates;

/// The command line of `meetctl setup`.
#[derive(Debug, Clone)]
pub struct Args {
    pub domain: String,
    pub secure: bool,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    /// The operator's own certificate and key for meet-web.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// meet-web's static_root in a new web.toml.
    pub static_root: PathBuf,
    pub ports: Ports,
}

/// What happened to one config file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Created,
    Unchanged,
    Updated(Vec<String>),
}

pub fn run(args: &Args) -> Result<(), String> {
    if let Some(problem) = plan::domain_problem(&args.domain) {
        return Err(format!("--domain {:?}: {problem}", args.domain));
    }
    let operator_cert = match (&args.cert, &args.key) {
        (Some(c), Some(k)) => Some((absolute(c)?, absolute(k)?)),
        (None, None) => None,
        _ => return Err("--cert and --key go together".into()),
    };
    if let Some((c, k)) = &operator_cert {
        for p in [c, k] {
            std::fs::File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        }
    }
    let config_dir = absolute(&args.config_dir)?;
    let data_dir = absolute(&args.data_dir)?;
    files::ensure_dir(&config_dir, 0o755)?;
    files::ensure_dir(&plan::certs_dir(&config_dir), 0o755)?;
    files::ensure_dir(&data_dir, 0o755)?;
    // The daemon's own data: closed to the other daemons' users.
    files::ensure_dir(&data_dir.join("xmpp-server"), 0o750)?;

    let existing = Deployment::load(&config_dir)?;
    if let Some(d) = existing.domain()
        && d != args.domain
    {
        return Err(format!(
            "{} already holds the deployment of {d}; pass --domain {d}, or use another --config-dir",
            config_dir.display()
        ));
    }
    let default_web = WebCerts::in_dir(&plan::certs_dir(&config_dir), &args.domain);
    let (web_cert, web_key) = operator_cert
        .clone()
        .unwrap_or((default_web.cert.clone(), default_web.key.clone()));
    let plan = Plan {
        domain: args.domain.clone(),
        secure: args.secure,
        secrets: resolve_secrets(&existing, &args.domain)?,
        bridge_nickname: existing
            .bridge_accounts()
            .into_iter()
            .find_map(|a| a.nickname)
            .unwrap_or_else(|| format!("jvb-{}", random_string(8).to_lowercase())),
        config_dir,
        data_dir,
        ports: args.ports,
        web_cert,
        web_key,
        static_root: absolute(&args.static_root)?,
    };

    println!(
        "meetctl setup: {} in {} (data in {})",
        plan.domain,
        plan.config_dir.display(),
        plan.data_dir.display()
    );
    write_configs(&plan, &existing, operator_cert.is_some())?;

    // Read back what the files now say: the operator's values win.
    let dep = Deployment::load(&plan.config_dir)?;
    let xmpp = XmppServer {
        binary: binaries::require("xmpp-server")?,
        config: dep.path(daemons::XMPP_SERVER),
    };
    xmpp_certificates(&plan, &dep, &xmpp)?;
    if operator_cert.is_none() && dep_web_cert(&dep).as_deref() == Some(default_web.cert.as_path())
    {
        match certs::ensure(&default_web, &plan.domain, daemons::WEB.user)? {
            certs::Made::Nothing => {}
            certs::Made::HostCert => {
                println!("  {}: new host certificate", default_web.cert.display())
            }
            certs::Made::CaAndHostCert => println!(
                "  {}: new CA (browsers: trust this file once) and host certificate {}",
                default_web.ca_cert.display(),
                default_web.cert.display()
            ),
        }
    }
    accounts(&dep, &xmpp)?;
    files::chown_tree(&plan.xmpp_data(), daemons::XMPP_SERVER.user)?;
    check_configs(&dep)?;
    println!(
        "done. Start it: systemctl enable --now meet-rs.target; check it: meetctl status{}",
        if plan.secure {
            "; add room creators: meetctl adduser NAME"
        } else {
            ""
        }
    );
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// The shared secrets: what the existing files say, random where they say
/// nothing. The component secret is in two files; when both have one and
/// they differ, setup cannot know which the operator meant.
fn resolve_secrets(existing: &Deployment, domain: &str) -> Result<Secrets, String> {
    let focus_host = format!("focus.{domain}");
    let component = match (
        existing.component_secret(&focus_host),
        existing.jicofo("secret"),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!(
                "the component secret of {focus_host} differs between {} and {} ([jicofo] secret): \
                 the focus could not connect. Set both to the same value (or delete one and run \
                 setup again to copy the other)",
                existing.path(daemons::XMPP_SERVER).display(),
                existing.path(daemons::FOCUS).display()
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => random_secret(),
    };
    let auth = format!("auth.{domain}");
    Ok(Secrets {
        component,
        focus_password: existing
            .jicofo("auth_password")
            .unwrap_or_else(random_secret),
        jvb_password: existing
            .bridge_accounts()
            .into_iter()
            .find(|a| a.username == "jvb" && a.domain == auth)
            .map(|a| a.password)
            .unwrap_or_else(random_secret),
    })
}

/// One config file to write: its daemon, the generated text, the existing
/// document, who may read it, and its collection tables (merge.rs).
type Job<'a> = (
    Daemon,
    String,
    Option<&'a DocumentMut>,
    Access<'a>,
    &'a [&'a str],
);

fn write_configs(plan: &Plan, existing: &Deployment, force_cert: bool) -> Result<(), String> {
    let secure = plan.secure;
    let domain = plan.domain.clone();
    let jobs: [Job<'_>; 4] = [
        (
            daemons::XMPP_SERVER,
            templates::xmpp_server(plan),
            existing.xmpp.as_ref(),
            Access::Secret {
                group: daemons::XMPP_SERVER.user,
            },
            &[],
        ),
        (
            daemons::FOCUS,
            templates::focus(plan),
            existing.focus.as_ref(),
            Access::Secret {
                group: daemons::FOCUS.user,
            },
            &[],
        ),
        (
            daemons::VIDEOBRIDGE,
            templates::videobridge(plan),
            existing.videobridge.as_ref(),
            Access::Secret {
                group: daemons::VIDEOBRIDGE.user,
            },
            &["videobridge.apis.xmpp-client.configs"],
        ),
        (
            daemons::WEB,
            templates::web(plan),
            existing.web.as_ref(),
            Access::Public,
            &[],
        ),
    ];
    for (daemon, fresh, have, access, collections) in jobs {
        let path = plan.config_dir.join(daemon.config);
        let outcome = match have {
            None => {
                files::write(&path, &fresh, access)?;
                Outcome::Created
            }
            Some(have) => {
                let want: DocumentMut = fresh
                    .parse()
                    .map_err(|e| format!("generated {} is not valid TOML: {e}", daemon.config))?;
                let mut doc = have.clone();
                let mut changed =
                    merge::fill_missing(doc.as_table_mut(), want.as_table(), collections);
                if daemon == daemons::XMPP_SERVER && secure {
                    changed.extend(force_secure_host(&mut doc, &domain));
                }
                if daemon == daemons::WEB && force_cert {
                    changed.extend(force_web_cert(&mut doc, plan));
                }
                if changed.is_empty() {
                    Outcome::Unchanged
                } else {
                    files::write(&path, &doc.to_string(), access)?;
                    Outcome::Updated(changed)
                }
            }
        };
        let fixed = files::enforce(&path, access)?;
        match outcome {
            Outcome::Created => println!("  {}: created", path.display()),
            Outcome::Unchanged => println!(
                "  {}: kept as it is{}",
                path.display(),
                if fixed { " (owner/mode corrected)" } else { "" }
            ),
            Outcome::Updated(keys) => {
                println!(
                    "  {}: kept, added or set {}",
                    path.display(),
                    keys.join(", ")
                )
            }
        }
    }
    Ok(())
}

/// `--secure` on an existing deployment: the main host requires accounts
/// (the guide edits `authentication = "anonymous"` to "internal_hashed").
fn force_secure_host(doc: &mut DocumentMut, domain: &str) -> Vec<String> {
    let Some(hosts) = doc
        .get_mut("virtual_host")
        .and_then(Item::as_array_of_tables_mut)
    else {
        return Vec::new();
    };
    let mut changed = Vec::new();
    for t in hosts.iter_mut() {
        if t.get("host").and_then(Item::as_str) == Some(domain)
            && t.get("authentication").and_then(Item::as_str) != Some("internal_hashed")
        {
            t["authentication"] = toml_edit::value("internal_hashed");
            changed.push(format!("virtual_host[host={domain}].authentication"));
        }
    }
    changed
}

/// `--cert/--key` on an existing deployment: meet-web uses them.
fn force_web_cert(doc: &mut DocumentMut, plan: &Plan) -> Vec<String> {
    let mut changed = Vec::new();
    let server = doc
        .entry("server")
        .or_insert_with(|| Item::Table(toml_edit::Table::new()));
    for (key, path) in [
        ("certificate", &plan.web_cert),
        ("private_key", &plan.web_key),
    ] {
        let value = path.to_string_lossy().into_owned();
        if server.get(key).and_then(Item::as_str) != Some(value.as_str()) {
            server[key] = toml_edit::value(value);
            changed.push(format!("server.{key}"));
        }
    }
    changed
}

fn dep_web_cert(dep: &Deployment) -> Option<PathBuf> {
    dep.web
        .as_ref()
        .and_then(|d| d.get("server"))
        .and_then(|s| s.get("certificate"))
        .and_then(Item::as_str)
        .map(PathBuf::from)
}

/// The XMPP hosts' certificates (`xmpp-server cert generate`, where the
/// config names the default files and they are missing), and the public
/// copy of auth.DOMAIN's certificate that the focus and bridge trust.
fn xmpp_certificates(plan: &Plan, dep: &Deployment, xmpp: &XmppServer) -> Result<(), String> {
    let data = plan.xmpp_data();
    for host in [plan.domain.clone(), plan.auth_domain()] {
        let default_cert = data.join(format!("{host}.crt"));
        let default_key = data.join(format!("{host}.key"));
        let (key, cert) = dep.ssl_files(&host).unwrap_or_default();
        if cert == default_cert && key == default_key && !cert.exists() && !key.exists() {
            xmpp.cert_generate(&host)?;
            println!("  {}: new self-signed certificate", cert.display());
        }
    }
    let (_, auth_cert) = dep.ssl_files(&plan.auth_domain()).unwrap_or_default();
    if let Ok(pem) = std::fs::read_to_string(&auth_cert) {
        let copy = plan.xmpp_ca_file();
        if std::fs::read_to_string(&copy).ok().as_deref() != Some(pem.as_str()) {
            files::write(&copy, &pem, Access::Public)?;
            println!("  {}: copied from {}", copy.display(), auth_cert.display());
        }
    }
    Ok(())
}

/// The focus's and the bridges' accounts exist with the passwords their
/// config files give (accounts on hosts this xmpp-server does not serve,
/// e.g. a bridge pointed at another server, are left alone).
fn accounts(dep: &Deployment, xmpp: &XmppServer) -> Result<(), String> {
    let mut wanted = Vec::new();
    // focus.toml's auth_user defaults to "focus" (JICOFO_AUTH_USER).
    let focus_user = dep.jicofo("auth_user").unwrap_or_else(|| "focus".into());
    if let (Some(host), Some(pw)) = (dep.jicofo("auth_domain"), dep.jicofo("auth_password")) {
        wanted.push((focus_user, host, pw));
    }
    for a in dep.bridge_accounts() {
        wanted.push((a.username, a.domain, a.password));
    }
    for (user, host, pw) in wanted {
        match dep.authentication(&host).as_deref() {
            None | Some("anonymous") => continue,
            Some(_) => {}
        }
        let new = xmpp.ensure_account(&user, &host, &pw)?;
        println!(
            "  account {user}@{host}: {}",
            if new {
                "registered"
            } else {
                "exists, password as in the config"
            }
        );
    }
    Ok(())
}

/// Every daemon's own check-config on its file (meet-web's once it is
/// built or installed): setup fails when a daemon would refuse to start.
fn check_configs(dep: &Deployment) -> Result<(), String> {
    let mut failures = Vec::new();
    for d in [
        daemons::XMPP_SERVER,
        daemons::FOCUS,
        daemons::VIDEOBRIDGE,
        daemons::WEB,
    ] {
        let Some(binary) = binaries::find(d.name) else {
            println!("  {}: not installed, its config was not checked", d.name);
            continue;
        };
        match binaries::check_config(&binary, &dep.path(d)) {
            Ok(summary) => println!("  check-config {}: {summary}", d.name),
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_either_file_and_must_agree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect("w");
        w(
            "xmpp-server.toml",
            "[[component]]\nhost = \"focus.d\"\ncomponent_secret = \"from-xmpp\"\n",
        );
        let s = resolve_secrets(&Deployment::load(dir.path()).expect("load"), "d").expect("ok");
        assert_eq!(s.component, "from-xmpp");
        assert_eq!(s.focus_password.len(), 32);
        w(
            "focus.toml",
            "[jicofo]\nsecret = \"other\"\nauth_password = \"fp\"\n",
        );
        let e = resolve_secrets(&Deployment::load(dir.path()).expect("load"), "d").expect_err("x");
        assert!(e.contains("differs"), "{e}");
        w(
            "focus.toml",
            "[jicofo]\nsecret = \"from-xmpp\"\nauth_password = \"fp\"\n",
        );
        let s = resolve_secrets(&Deployment::load(dir.path()).expect("load"), "d").expect("ok");
        assert_eq!(s.focus_password, "fp");
    }

    #[test]
    fn secure_forces_only_the_main_host() {
        let mut doc: DocumentMut =
            "[[virtual_host]]\nhost = \"d\"\nauthentication = \"anonymous\"\n\
             [[virtual_host]]\nhost = \"guest.d\"\nauthentication = \"anonymous\"\n"
                .parse()
                .expect("toml");
        assert_eq!(force_secure_host(&mut doc, "d").len(), 1);
        assert!(force_secure_host(&mut doc, "d").is_empty());
        let text = doc.to_string();
        assert!(
            text.contains("host = \"guest.d\"\nauthentication = \"anonymous\""),
            "{text}"
        );
    }
}
