//! The daemons' own command lines that setup and adduser drive: xmpp-server's
//! prosodyctl jobs (cert generate, register, passwd) and every daemon's
//! check-config. Passwords go through stdin, never argv (visible in ps).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::secret::random_secret;

/// A daemon's binary: next to meetctl (the package installs all of them
/// in /usr/bin; a cargo build puts them in one target folder), else on PATH.
pub fn find(name: &str) -> Option<PathBuf> {
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    sibling.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// Like [`find`], with an error that says what to do.
pub fn require(name: &str) -> Result<PathBuf, String> {
    find(name).ok_or_else(|| {
        format!(
            "{name} not found next to meetctl or on PATH (install the meet-rs package, or build it: cargo build -p {name})"
        )
    })
}

/// Run `cmd`, feeding `stdin`; Ok(stdout) on success, else the command's
/// own error text.
fn run(mut cmd: Command, stdin: Option<&str>, what: &str) -> Result<String, String> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("{what}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A write error shows up as the command's failure below.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.trim();
        Err(if err.is_empty() {
            format!("{what} failed ({})", out.status)
        } else {
            format!("{what} failed: {err}")
        })
    }
}

/// `BINARY --config CONFIG check-config`: Ok(its one-line summary).
pub fn check_config(binary: &Path, config: &Path) -> Result<String, String> {
    let mut cmd = Command::new(binary);
    cmd.arg("--config").arg(config).arg("check-config");
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    run(cmd, None, &format!("{name} check-config")).map(|s| s.trim().to_string())
}

/// xmpp-server with one config file.
pub struct XmppServer {
    pub binary: PathBuf,
    pub config: PathBuf,
}

impl XmppServer {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--config").arg(&self.config);
        c
    }

    /// `cert generate HOST` (prosodyctl cert generate): a self-signed key
    /// and certificate under data_path.
    pub fn cert_generate(&self, host: &str) -> Result<(), String> {
        let mut c = self.cmd();
        c.args(["cert", "generate", host]);
        run(c, None, &format!("xmpp-server cert generate {host}")).map(drop)
    }

    /// Make `user@host` exist with `password`, whether or not it existed.
    /// `register` takes the password as an argument, so the account is
    /// made with a throw-away one and then given the real one by `passwd`
    /// on stdin. Returns true when the account is new.
    pub fn ensure_account(&self, user: &str, host: &str, password: &str) -> Result<bool, String> {
        let mut c = self.cmd();
        c.args(["register", user, host, &random_secret()]);
        let registered = run(c, None, &format!("register {user}@{host}"));
        let mut c = self.cmd();
        c.args(["passwd", &format!("{user}@{host}")]);
        match run(
            c,
            Some(&format!("{password}\n")),
            &format!("passwd {user}@{host}"),
        ) {
            Ok(_) => Ok(registered.is_ok()),
            // The register error may say more (e.g. an anonymous host).
            Err(e) => Err(match registered {
                Err(r) => format!("{r}; {e}"),
                Ok(_) => e,
            }),
        }
    }
}
