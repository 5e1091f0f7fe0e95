//! Account store: the equivalent of Prosody's `internal_plain` and
//! `internal_hashed` authentication back ends, kept in one SQLite file.
//!
//! Every account is a row keyed by `(host, username)`. A row either holds the
//! password itself (`plain`) or only the SCRAM keys derived from it for SHA-1
//! and SHA-256 (`hashed`); the unused columns are NULL so a hashed row never
//! carries anything that equals the password.

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::sasl::{self, CredentialLookup};

/// PBKDF2 iteration count for new hashed accounts (Prosody's default).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// Salt length in bytes for new hashed accounts.
const SALT_LEN: usize = 16;

/// Longest accepted local part, in bytes after normalisation (RFC 7622 §3.3).
const MAX_USERNAME_BYTES: usize = 1023;

/// Characters RFC 7622 / nodeprep forbid in a local part.
const FORBIDDEN_USERNAME_CHARS: &str = "\"&'/:<>@";

/// Bumped whenever the table layout changes, so an old binary refuses a newer file.
const SCHEMA_VERSION: i64 = 1;

/// How long a writer waits for another process (e.g. `meetctl`) holding the lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    host              TEXT NOT NULL,
    username          TEXT NOT NULL,
    storage           TEXT NOT NULL CHECK (storage IN ('plain', 'hashed')),
    password          TEXT,
    sha1_salt         BLOB,
    sha1_iterations   INTEGER,
    sha1_stored_key   BLOB,
    sha1_server_key   BLOB,
    sha256_salt       BLOB,
    sha256_iterations INTEGER,
    sha256_stored_key BLOB,
    sha256_server_key BLOB,
    PRIMARY KEY (host, username)
) WITHOUT ROWID;
";

/// Which Prosody back end an account's password is stored for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordStorage {
    /// `internal_plain`: the password itself is stored.
    Plain,
    /// `internal_hashed`: only SCRAM keys are stored.
    Hashed,
}

/// SCRAM verifier for one hash function (RFC 5802 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramKeys {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// What the store knows about an account's secret.
#[derive(Clone)]
pub enum Credentials {
    Plain(String),
    Hashed { sha1: ScramKeys, sha256: ScramKeys },
}

// Hand-written so a stray `{:?}` in a log line cannot leak a plain password.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Plain(_) => f.write_str("Plain(<redacted>)"),
            Credentials::Hashed { sha1, sha256 } => f
                .debug_struct("Hashed")
                .field("sha1", sha1)
                .field("sha256", sha256)
                .finish(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account {user}@{host} does not exist")]
    NotFound { user: String, host: String },
    #[error("account {user}@{host} already exists")]
    AlreadyExists { user: String, host: String },
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("invalid host: {0}")]
    InvalidHost(String),
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
    #[error("account database: {0}")]
    Database(String),
}

/// Wraps a rusqlite error with what we were doing when it happened.
fn db_err(context: &'static str) -> impl FnOnce(rusqlite::Error) -> AccountError {
    move |e| AccountError::Database(format!("{context}: {e}"))
}

/// Shortened, escaped rendering of untrusted input for error messages.
fn quoted(s: &str) -> String {
    const MAX_CHARS: usize = 64;
    if s.chars().count() > MAX_CHARS {
        let head: String = s.chars().take(MAX_CHARS).collect();
        format!("{head:?}...")
    } else {
        format!("{s:?}")
    }
}

/// Nodeprep-lite: lowercases and rejects what nodeprep would forbid.
///
/// This is not full stringprep (no NFKC, no unassigned-code-point tables), but
/// it enforces the rules that matter for safety: no JID separators, no
/// whitespace or control characters, and the RFC 7622 length limit.
pub fn normalize_username(user: &str) -> Result<String, AccountError> {
    let lowered = user.to_lowercase();
    if lowered.is_empty() {
        return Err(AccountError::InvalidUsername("empty".to_owned()));
    }
    if lowered.len() > MAX_USERNAME_BYTES {
        return Err(AccountError::InvalidUsername(format!(
            "{} is longer than {MAX_USERNAME_BYTES} bytes",
            quoted(&lowered)
        )));
    }
    if let Some(c) = lowered
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || FORBIDDEN_USERNAME_CHARS.contains(*c))
    {
        return Err(AccountError::InvalidUsername(format!(
            "{} contains {c:?}",
            quoted(&lowered)
        )));
    }
    Ok(lowered)
}

/// Hosts are compared case-insensitively, like DNS names.
fn normalize_host(host: &str) -> Result<String, AccountError> {
    let lowered = host.to_lowercase();
    if lowered.is_empty() {
        return Err(AccountError::InvalidHost("empty".to_owned()));
    }
    if lowered
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '/')
    {
        return Err(AccountError::InvalidHost(quoted(&lowered)));
    }
    Ok(lowered)
}

/// Column values for one row's secret, whichever storage it uses.
struct SecretColumns {
    storage: &'static str,
    password: Option<String>,
    sha1: Option<ScramKeys>,
    sha256: Option<ScramKeys>,
}

impl SecretColumns {
    fn new(password: &str, storage: PasswordStorage) -> Result<Self, AccountError> {
        // RFC 4616 cannot carry an empty password, so such an account could never log in.
        if password.is_empty() {
            return Err(AccountError::InvalidPassword("empty"));
        }
        Ok(match storage {
            PasswordStorage::Plain => SecretColumns {
                storage: "plain",
                password: Some(password.to_owned()),
                sha1: None,
                sha256: None,
            },
            PasswordStorage::Hashed => {
                // Separate salts so the two verifiers share nothing but the password.
                let mut salt1 = [0u8; SALT_LEN];
                let mut salt256 = [0u8; SALT_LEN];
                rand::fill(&mut salt1);
                rand::fill(&mut salt256);
                SecretColumns {
                    storage: "hashed",
                    password: None,
                    sha1: Some(sasl::scram_keys_sha1(password, &salt1, DEFAULT_ITERATIONS)),
                    sha256: Some(sasl::scram_keys_sha256(
                        password,
                        &salt256,
                        DEFAULT_ITERATIONS,
                    )),
                }
            }
        })
    }
}

/// The four nullable columns holding one hash's keys.
struct KeyColumns<'a> {
    salt: Option<&'a [u8]>,
    iterations: Option<u32>,
    stored_key: Option<&'a [u8]>,
    server_key: Option<&'a [u8]>,
}

impl<'a> KeyColumns<'a> {
    fn of(k: Option<&'a ScramKeys>) -> Self {
        KeyColumns {
            salt: k.map(|k| k.salt.as_slice()),
            iterations: k.map(|k| k.iterations),
            stored_key: k.map(|k| k.stored_key.as_slice()),
            server_key: k.map(|k| k.server_key.as_slice()),
        }
    }
}

/// Rebuilds keys from four nullable columns; `None` means the row is damaged.
fn keys_from_columns(
    salt: Option<Vec<u8>>,
    iterations: Option<i64>,
    stored_key: Option<Vec<u8>>,
    server_key: Option<Vec<u8>>,
) -> Option<ScramKeys> {
    Some(ScramKeys {
        salt: salt?,
        iterations: u32::try_from(iterations?).ok()?,
        stored_key: stored_key?,
        server_key: server_key?,
    })
}

/// SQLite-backed account store, safe to share between threads.
pub struct AccountStore {
    conn: Mutex<Connection>,
}

impl fmt::Debug for AccountStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountStore").finish_non_exhaustive()
    }
}

impl AccountStore {
    /// Opens (creating on first use) the database at `path`; its parent directory must exist.
    pub fn open(path: &Path) -> Result<Self, AccountError> {
        let conn = Connection::open(path)
            .map_err(|e| AccountError::Database(format!("opening {}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db_err("setting busy timeout"))?;
        // WAL lets readers (the server) proceed while `meetctl` writes.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(db_err("enabling WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "account database is not in WAL mode");
        }
        Self::init(conn)
    }

    /// A private, non-persistent store (tests, anonymous-only set-ups).
    pub fn open_in_memory() -> Result<Self, AccountError> {
        let conn = Connection::open_in_memory().map_err(db_err("opening in-memory database"))?;
        Self::init(conn)
    }

    fn init(conn: Connection) -> Result<Self, AccountError> {
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(db_err("reading schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(AccountError::Database(format!(
                "schema version {version} is newer than supported version {SCHEMA_VERSION}"
            )));
        }
        conn.execute_batch(SCHEMA)
            .map_err(db_err("creating schema"))?;
        if version < SCHEMA_VERSION {
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(db_err("writing schema version"))?;
        }
        Ok(AccountStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere cannot leave the connection half-written (SQLite
        // statements are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an account; fails with `AlreadyExists` if it is already there.
    pub fn register(
        &self,
        user: &str,
        host: &str,
        password: &str,
        storage: PasswordStorage,
    ) -> Result<(), AccountError> {
        let user = normalize_username(user)?;
        let host = normalize_host(host)?;
        let secret = SecretColumns::new(password, storage)?;
        // ON CONFLICT DO NOTHING makes the existence check and insert one atomic step.
        let changed = self.write_secret(
            "INSERT INTO accounts (host, username, storage, password,
                     sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key,
                     sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (host, username) DO NOTHING",
            &host,
            &user,
            &secret,
        )?;
        if changed == 0 {
            return Err(AccountError::AlreadyExists { user, host });
        }
        tracing::info!(user, host, ?storage, "account registered");
        Ok(())
    }

    /// Replaces an existing account's password (and possibly its storage kind).
    pub fn set_password(
        &self,
        user: &str,
        host: &str,
        password: &str,
        storage: PasswordStorage,
    ) -> Result<(), AccountError> {
        let user = normalize_username(user)?;
        let host = normalize_host(host)?;
        let secret = SecretColumns::new(password, storage)?;
        // Every secret column is rewritten so switching storage kinds leaves no stale data.
        let changed = self.write_secret(
            "UPDATE accounts SET storage = ?3, password = ?4,
                     sha1_salt = ?5, sha1_iterations = ?6, sha1_stored_key = ?7, sha1_server_key = ?8,
                     sha256_salt = ?9, sha256_iterations = ?10, sha256_stored_key = ?11,
                     sha256_server_key = ?12
                 WHERE host = ?1 AND username = ?2",
            &host,
            &user,
            &secret,
        )?;
        if changed == 0 {
            return Err(AccountError::NotFound { user, host });
        }
        tracing::info!(user, host, ?storage, "password changed");
        Ok(())
    }

    /// Runs an INSERT or UPDATE whose parameters are host, user and the secret columns.
    fn write_secret(
        &self,
        sql: &str,
        host: &str,
        user: &str,
        secret: &SecretColumns,
    ) -> Result<usize, AccountError> {
        let k1 = KeyColumns::of(secret.sha1.as_ref());
        let k2 = KeyColumns::of(secret.sha256.as_ref());
        self.conn()
            .execute(
                sql,
                params![
                    host,
                    user,
                    secret.storage,
                    secret.password,
                    k1.salt,
                    k1.iterations,
                    k1.stored_key,
                    k1.server_key,
                    k2.salt,
                    k2.iterations,
                    k2.stored_key,
                    k2.server_key
                ],
            )
            .map_err(db_err("writing account"))
    }

    /// Removes an account; fails with `NotFound` if it does not exist.
    pub fn delete(&self, user: &str, host: &str) -> Result<(), AccountError> {
        let user = normalize_username(user)?;
        let host = normalize_host(host)?;
        let changed = self
            .conn()
            .execute(
                "DELETE FROM accounts WHERE host = ?1 AND username = ?2",
                params![host, user],
            )
            .map_err(db_err("deleting account"))?;
        if changed == 0 {
            return Err(AccountError::NotFound { user, host });
        }
        tracing::info!(user, host, "account deleted");
        Ok(())
    }

    pub fn exists(&self, user: &str, host: &str) -> Result<bool, AccountError> {
        let user = normalize_username(user)?;
        let host = normalize_host(host)?;
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM accounts WHERE host = ?1 AND username = ?2)",
                params![host, user],
                |row| row.get(0),
            )
            .map_err(db_err("looking up account"))
    }

    /// The stored secret, or `None` if there is no such account.
    pub fn credentials(&self, user: &str, host: &str) -> Result<Option<Credentials>, AccountError> {
        let user = normalize_username(user)?;
        let host = normalize_host(host)?;
        let row = self
            .conn()
            .query_row(
                "SELECT storage, password,
                     sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key,
                     sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key
                 FROM accounts WHERE host = ?1 AND username = ?2",
                params![host, user],
                |row| {
                    let storage: String = row.get(0)?;
                    let password: Option<String> = row.get(1)?;
                    let sha1 =
                        keys_from_columns(row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?);
                    let sha256 =
                        keys_from_columns(row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?);
                    Ok((storage, password, sha1, sha256))
                },
            )
            .optional()
            .map_err(db_err("reading credentials"))?;
        let Some((storage, password, sha1, sha256)) = row else {
            return Ok(None);
        };
        let creds = match (storage.as_str(), password, sha1, sha256) {
            ("plain", Some(password), _, _) => Credentials::Plain(password),
            ("hashed", _, Some(sha1), Some(sha256)) => Credentials::Hashed { sha1, sha256 },
            _ => {
                return Err(AccountError::Database(format!(
                    "account {user}@{host}: damaged {storage:?} row"
                )));
            }
        };
        Ok(Some(creds))
    }

    /// Usernames registered on `host`, sorted.
    pub fn list_users(&self, host: &str) -> Result<Vec<String>, AccountError> {
        let host = normalize_host(host)?;
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT username FROM accounts WHERE host = ?1 ORDER BY username")
            .map_err(db_err("listing users"))?;
        let rows = stmt
            .query_map(params![host], |row| row.get(0))
            .map_err(db_err("listing users"))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(db_err("listing users"))
    }

    /// A [`CredentialLookup`] for SASL on one virtual host.
    pub fn lookup_for_host(&self, host: &str) -> HostCredentials<'_> {
        HostCredentials {
            store: self,
            host: host.to_owned(),
        }
    }
}

/// Adapts the store to SASL, which only knows the local part.
#[derive(Debug)]
pub struct HostCredentials<'a> {
    store: &'a AccountStore,
    host: String,
}

impl CredentialLookup for HostCredentials<'_> {
    fn lookup(&self, username: &str) -> Result<Option<Credentials>, String> {
        match self.store.credentials(username, &self.host) {
            Ok(c) => Ok(c),
            // A name that cannot exist is simply an unknown user, not a server fault.
            Err(AccountError::InvalidUsername(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rusqlite::types::ValueRef;

    fn temp_store() -> (tempfile::TempDir, std::path::PathBuf, AccountStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.sqlite");
        let store = AccountStore::open(&path).unwrap();
        (dir, path, store)
    }

    #[test]
    fn register_lookup_passwd_delete_round_trip() {
        let (_dir, _path, store) = temp_store();
        assert!(!store.exists("alice", "meet.example").unwrap());
        assert!(
            store
                .credentials("alice", "meet.example")
                .unwrap()
                .is_none()
        );

        store
            .register("Alice", "Meet.Example", "s3cret", PasswordStorage::Plain)
            .unwrap();
        assert!(store.exists("alice", "meet.example").unwrap());
        assert!(store.exists("ALICE", "MEET.EXAMPLE").unwrap());
        assert!(!store.exists("alice", "other.example").unwrap());
        match store.credentials("alice", "meet.example").unwrap() {
            Some(Credentials::Plain(p)) => assert_eq!(p, "s3cret"),
            other => panic!("unexpected {other:?}"),
        }

        store
            .set_password("alice", "meet.example", "n3w", PasswordStorage::Hashed)
            .unwrap();
        match store.credentials("alice", "meet.example").unwrap() {
            Some(Credentials::Hashed { sha1, sha256 }) => {
                assert_eq!(sha1.iterations, DEFAULT_ITERATIONS);
                assert_eq!(sha256.iterations, DEFAULT_ITERATIONS);
                assert_eq!(sha1.salt.len(), SALT_LEN);
                assert_eq!(
                    sha1,
                    sasl::scram_keys_sha1("n3w", &sha1.salt, sha1.iterations)
                );
                assert_eq!(
                    sha256,
                    sasl::scram_keys_sha256("n3w", &sha256.salt, sha256.iterations)
                );
            }
            other => panic!("unexpected {other:?}"),
        }

        store
            .set_password("alice", "meet.example", "back", PasswordStorage::Plain)
            .unwrap();
        assert!(matches!(
            store.credentials("alice", "meet.example").unwrap(),
            Some(Credentials::Plain(p)) if p == "back"
        ));

        store.delete("ALICE", "meet.example").unwrap();
        assert!(!store.exists("alice", "meet.example").unwrap());
        assert!(matches!(
            store.delete("alice", "meet.example"),
            Err(AccountError::NotFound { .. })
        ));
        assert!(matches!(
            store.set_password("alice", "meet.example", "x", PasswordStorage::Plain),
            Err(AccountError::NotFound { .. })
        ));
    }

    #[test]
    fn reopen_keeps_data() {
        let (_dir, path, store) = temp_store();
        store
            .register("bob", "meet.example", "pw", PasswordStorage::Hashed)
            .unwrap();
        store
            .register("carol", "meet.example", "pw2", PasswordStorage::Plain)
            .unwrap();
        let before = store.credentials("bob", "meet.example").unwrap();
        drop(store);

        let store = AccountStore::open(&path).unwrap();
        assert_eq!(
            store.list_users("meet.example").unwrap(),
            vec!["bob".to_owned(), "carol".to_owned()]
        );
        let after = store.credentials("bob", "meet.example").unwrap();
        match (before, after) {
            (
                Some(Credentials::Hashed {
                    sha1: a1,
                    sha256: a2,
                }),
                Some(Credentials::Hashed {
                    sha1: b1,
                    sha256: b2,
                }),
            ) => {
                assert_eq!(a1, b1);
                assert_eq!(a2, b2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn duplicate_register_errors() {
        let (_dir, _path, store) = temp_store();
        store
            .register("dave", "meet.example", "pw", PasswordStorage::Plain)
            .unwrap();
        let err = store
            .register("DAVE", "meet.example", "other", PasswordStorage::Hashed)
            .unwrap_err();
        assert!(
            matches!(&err, AccountError::AlreadyExists { user, host } if user == "dave" && host == "meet.example"),
            "{err:?}"
        );
        // The original password survives the failed attempt.
        assert!(matches!(
            store.credentials("dave", "meet.example").unwrap(),
            Some(Credentials::Plain(p)) if p == "pw"
        ));
        // Same name on another host is a different account.
        store
            .register("dave", "guest.meet.example", "pw", PasswordStorage::Plain)
            .unwrap();
    }

    #[test]
    fn hashed_row_stores_no_password() {
        let (_dir, _path, store) = temp_store();
        let password = "correct horse battery staple";
        store
            .register("erin", "meet.example", password, PasswordStorage::Hashed)
            .unwrap();
        let conn = store.conn();
        let mut stmt = conn.prepare("SELECT * FROM accounts").unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let row = rows.next().unwrap().unwrap();
        for i in 0..columns {
            let bytes: Option<&[u8]> = match row.get_ref(i).unwrap() {
                ValueRef::Text(t) => Some(t),
                ValueRef::Blob(b) => Some(b),
                _ => None,
            };
            if let Some(bytes) = bytes {
                assert_ne!(bytes, password.as_bytes(), "column {i} holds the password");
                assert!(
                    !bytes
                        .windows(password.len())
                        .any(|w| w == password.as_bytes()),
                    "column {i} contains the password"
                );
            }
        }
        assert!(rows.next().unwrap().is_none());
    }

    #[test]
    fn invalid_names_rejected() {
        let store = AccountStore::open_in_memory().unwrap();
        for bad in [
            "",
            "a b",
            "tab\there",
            "nul\0",
            "at@sign",
            "slash/x",
            "colon:x",
            "quote\"x",
            "amp&x",
            "apos'x",
            "lt<x",
            "gt>x",
            "\u{2003}em-space",
        ] {
            assert!(
                matches!(
                    store.register(bad, "meet.example", "pw", PasswordStorage::Plain),
                    Err(AccountError::InvalidUsername(_))
                ),
                "{bad:?} accepted"
            );
            assert!(normalize_username(bad).is_err());
        }
        let long = "a".repeat(1024);
        assert!(normalize_username(&long).is_err());
        assert_eq!(normalize_username(&"a".repeat(1023)).unwrap().len(), 1023);
        assert_eq!(normalize_username("JöRG").unwrap(), "jörg");
        assert!(matches!(
            store.register("ok", "", "pw", PasswordStorage::Plain),
            Err(AccountError::InvalidHost(_))
        ));
        assert!(matches!(
            store.register("ok", "meet.example", "", PasswordStorage::Plain),
            Err(AccountError::InvalidPassword(_))
        ));
    }

    #[test]
    fn list_users_is_per_host() {
        let store = AccountStore::open_in_memory().unwrap();
        for (u, h) in [
            ("zed", "a.example"),
            ("amy", "a.example"),
            ("bo", "b.example"),
        ] {
            store.register(u, h, "pw", PasswordStorage::Plain).unwrap();
        }
        assert_eq!(store.list_users("A.example").unwrap(), vec!["amy", "zed"]);
        assert_eq!(store.list_users("b.example").unwrap(), vec!["bo"]);
        assert!(store.list_users("c.example").unwrap().is_empty());
    }

    #[test]
    fn host_lookup_adapter() {
        let store = AccountStore::open_in_memory().unwrap();
        store
            .register("fay", "meet.example", "pw", PasswordStorage::Plain)
            .unwrap();
        let lookup = store.lookup_for_host("meet.example");
        assert!(lookup.lookup("fay").unwrap().is_some());
        assert!(lookup.lookup("nobody").unwrap().is_none());
        assert!(lookup.lookup("bad@name").unwrap().is_none());
    }

    #[test]
    fn debug_redacts_plain_password() {
        let shown = format!("{:?}", Credentials::Plain("hunter2".to_owned()));
        assert!(!shown.contains("hunter2"));
    }
}
