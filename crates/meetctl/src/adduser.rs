//! `meetctl adduser USER`: an account on DOMAIN that may open rooms when the
//! deployment is secure (the guide's `prosodyctl register USER DOMAIN PW`).
//! The password comes from a file or from the terminal, never argv.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::binaries::{self, XmppServer};
use crate::daemons;
use crate::deployment::Deployment;
use crate::files;

pub fn run(
    config_dir: &Path,
    user: &str,
    domain: Option<&str>,
    password_file: Option<&Path>,
) -> Result<(), String> {
    if user.is_empty()
        || user.contains(['@', '/', '"', '\'', '&', '<', '>', ':'])
        || user.contains(char::is_whitespace)
    {
        return Err(format!(
            "{user:?} is not a user name (no spaces, '@', '/', quotes, '&', '<', '>', ':')"
        ));
    }
    let dep = Deployment::load(config_dir)?;
    if dep.xmpp.is_none() {
        return Err(format!(
            "{} is missing: run `meetctl setup --domain DOMAIN --secure` first",
            dep.path(daemons::XMPP_SERVER).display()
        ));
    }
    let domain = match domain {
        Some(d) => d.to_string(),
        None => dep
            .domain()
            .ok_or("the configs do not name a domain; pass --domain")?,
    };
    match dep.authentication(&domain).as_deref() {
        None => {
            return Err(format!(
                "{domain} is not a virtual host in {}",
                dep.path(daemons::XMPP_SERVER).display()
            ));
        }
        Some("anonymous") => {
            return Err(format!(
                "{domain} lets anyone open rooms (authentication = \"anonymous\"), so accounts \
                 are not used there: run `meetctl setup --domain {domain} --secure` first"
            ));
        }
        Some(_) => {}
    }
    let password = match password_file {
        Some(p) => read_password_file(p)?,
        None => prompt(&format!("{user}@{domain}"))?,
    };
    if password.is_empty() {
        return Err("empty password".into());
    }
    let xmpp = XmppServer {
        binary: binaries::require("xmpp-server")?,
        config: dep.path(daemons::XMPP_SERVER),
    };
    let new = xmpp.ensure_account(user, &domain, &password)?;
    // Run as root, the account database may have been created just now.
    if let Some(data) = dep
        .xmpp
        .as_ref()
        .and_then(|d| d.get("data_path"))
        .and_then(|v| v.as_str())
    {
        files::chown_tree(Path::new(data), daemons::XMPP_SERVER.user)?;
    }
    println!(
        "{user}@{domain}: {}",
        if new {
            "added; this account may now open rooms"
        } else {
            "existed; password changed"
        }
    );
    Ok(())
}

/// The first line of the file ("-" is stdin), without its line ending.
fn read_password_file(path: &Path) -> Result<String, String> {
    let mut line = String::new();
    let result = if path == Path::new("-") {
        std::io::stdin().lock().read_line(&mut line)
    } else {
        std::fs::File::open(path).and_then(|f| std::io::BufReader::new(f).read_line(&mut line))
    };
    result.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Ask twice on the terminal with echo off (stty, so no unsafe termios
/// calls here).
fn prompt(jid: &str) -> Result<String, String> {
    if !std::io::stdin().is_terminal() {
        return Err(
            "no terminal to ask for the password on: pass --password-file FILE (or - for stdin)"
                .into(),
        );
    }
    let stty = |arg: &str| {
        let _ = Command::new("stty")
            .arg(arg)
            .stdin(Stdio::inherit())
            .status();
    };
    let ask = |label: &str| -> Result<String, String> {
        eprint!("{label}");
        let _ = std::io::stderr().flush();
        stty("-echo");
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        stty("echo");
        eprintln!();
        read.map_err(|e| format!("cannot read the password: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let first = ask(&format!("Password for {jid}: "))?;
    let again = ask("Again: ")?;
    if first != again {
        return Err("the passwords differ".into());
    }
    Ok(first)
}
