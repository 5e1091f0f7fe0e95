//! Writing deployment files with the right owner and mode: secrets are
//! readable by the one daemon that needs them and by nobody else
//! (design.md §3.7), public files by everyone.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// Who may read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// Mode 0644: certificates, configs without secrets.
    Public,
    /// Mode 0640 root:`group` when we run as root and the group exists (the
    /// daemon's user is in it), else 0600 owned by whoever runs setup.
    Secret { group: &'a str },
    /// Mode 0600: only root (or the user running setup) — the CA key.
    Owner,
}

/// What [`Access`] means on this machine: (mode, group id to chown to).
fn resolve(access: Access<'_>) -> (u32, Option<u32>) {
    match access {
        Access::Public => (0o644, None),
        Access::Owner => (0o600, None),
        Access::Secret { group } => match (is_root(), group_id(group)) {
            (true, Some(gid)) => (0o640, Some(gid)),
            _ => (0o600, None),
        },
    }
}

/// True when this process runs as root (uid 0). /proc/self belongs to the
/// process's effective uid, which avoids calling libc (no unsafe code).
pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The numeric id of a group, from the system's databases (getent, so NSS
/// sources count), or None when it does not exist.
pub fn group_id(name: &str) -> Option<u32> {
    getent("group", name)
}

/// The numeric id of a user, like [`group_id`].
pub fn user_id(name: &str) -> Option<u32> {
    getent("passwd", name)
}

/// `getent DB NAME` → the third field (the id). Falls back to reading
/// /etc/DB when getent is missing (minimal containers).
fn getent(db: &str, name: &str) -> Option<u32> {
    let text = match Command::new("getent").args([db, name]).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(_) => return None,
        Err(_) => fs::read_to_string(format!("/etc/{db}")).ok()?,
    };
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// Write `text` to `path` with the owner and mode `access` asks for. The data
/// goes to a temporary file that is renamed over `path`, so a reader never
/// sees half a file and a symlink planted at `path` is replaced, not
/// followed. The mode is set before any secret is written.
pub fn write(path: &Path, text: &str, access: Access<'_>) -> Result<(), String> {
    let (mode, gid) = resolve(access);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{}: not a file path", path.display()))?;
    let tmp = path.with_file_name(format!(".{name}.meetctl-{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have cleared bits of `mode` (e.g. 0644 under 077).
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(gid) = gid {
            std::os::unix::fs::fchown(&f, Some(0), Some(gid))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// Give an existing file the owner and mode `access` asks for (an operator's
/// `chmod o+r` on a secrets file is undone). Returns true when it changed.
pub fn enforce(path: &Path, access: Access<'_>) -> Result<bool, String> {
    let (mode, gid) = resolve(access);
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let meta = fs::metadata(path).map_err(err)?;
    let mut changed = false;
    if meta.mode() & 0o777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err)?;
        changed = true;
    }
    if let Some(gid) = gid
        && (meta.gid() != gid || meta.uid() != 0)
    {
        std::os::unix::fs::chown(path, Some(0), Some(gid)).map_err(err)?;
        changed = true;
    }
    Ok(changed)
}

/// Create a folder (and its parents) if missing, and give it `mode`.
pub fn ensure_dir(path: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))
}

/// Hand a folder and everything in it to `user` (its primary group too):
/// files that setup made as root in a daemon's data folder (the account
/// database, certificates) must belong to the daemon. A no-op when not
/// root or when the user does not exist.
pub fn chown_tree(path: &Path, user: &str) -> Result<(), String> {
    let (Some(uid), Some(gid)) = (user_id(user), group_id(user)) else {
        return Ok(());
    };
    if !is_root() {
        return Ok(());
    }
    let err = |p: &Path, e: std::io::Error| format!("cannot chown {}: {e}", p.display());
    // lchown: a symlink someone put in the folder is not followed.
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| err(path, e))?;
    let meta = fs::symlink_metadata(path).map_err(|e| err(path, e))?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(|e| err(path, e))? {
            let entry = entry.map_err(|e| err(path, e))?;
            chown_tree_as(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn chown_tree_as(path: &Path, uid: u32, gid: u32) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot chown {}: {e}", path.display());
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(err)?;
    let meta = fs::symlink_metadata(path).map_err(err)?;
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(err)? {
            chown_tree_as(&entry.map_err(err)?.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_access() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.toml");
        write(&p, "x = 1\n", Access::Public).expect("write");
        assert_eq!(fs::metadata(&p).expect("meta").mode() & 0o777, 0o644);
        // Not root in unit tests, or the group is missing: owner only.
        let group = "meetctl-no-such-group";
        write(&p, "secret = 1\n", Access::Secret { group }).expect("write");
        assert_eq!(fs::metadata(&p).expect("meta").mode() & 0o777, 0o600);
        assert_eq!(fs::read_to_string(&p).expect("read"), "secret = 1\n");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(enforce(&p, Access::Secret { group }).expect("enforce"));
        assert_eq!(fs::metadata(&p).expect("meta").mode() & 0o777, 0o600);
        assert!(!enforce(&p, Access::Secret { group }).expect("enforce"));
    }

    #[test]
    fn ids_of_root() {
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(group_id("meetctl-no-such-group"), None);
    }
}
