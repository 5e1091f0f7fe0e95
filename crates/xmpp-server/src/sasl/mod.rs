//! Sans-IO SASL server mechanisms: SCRAM-SHA-256, SCRAM-SHA-1 (RFC 5802,
//! RFC 7677), PLAIN (RFC 4616) and ANONYMOUS (RFC 4505).
//!
//! The caller owns the XMPP framing: it base64-decodes `<auth/>` and
//! `<response/>` payloads, feeds the raw bytes in, and base64-encodes the
//! challenge or success data that comes back. Nothing here touches sockets,
//! clocks or async runtimes; the only side effects are random numbers and the
//! [`CredentialLookup`] call.
//!
//! Passwords are not run through SASLprep (no Unicode normalisation tables
//! are available); their UTF-8 bytes are used as given, which matches what
//! clients send for ASCII and already-normalised passwords.

mod crypto;
mod plain;
mod scram;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::accounts::{self, Credentials};

pub use crypto::{scram_keys_sha1, scram_keys_sha256};

/// A SASL mechanism this server implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    ScramSha256,
    ScramSha1,
    Plain,
    Anonymous,
}

impl Mechanism {
    /// The IANA-registered name, as it appears in `<mechanism/>`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
            Mechanism::Anonymous => "ANONYMOUS",
        }
    }

    /// Exact match only: SASL mechanism names are case-sensitive (RFC 4422 §3.1).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            "SCRAM-SHA-1" => Some(Mechanism::ScramSha1),
            "PLAIN" => Some(Mechanism::Plain),
            "ANONYMOUS" => Some(Mechanism::Anonymous),
            _ => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A virtual host's `authentication` setting, as in prosody.cfg.lua.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Anonymous,
    InternalPlain,
    InternalHashed,
}

/// The mechanisms offered for `method`, strongest first.
///
/// PLAIN sends the password itself, so it is only offered over TLS unless
/// the operator explicitly allows otherwise.
pub fn mechanisms_for(
    method: AuthMethod,
    secure: bool,
    allow_unencrypted_plain: bool,
) -> Vec<Mechanism> {
    match method {
        AuthMethod::Anonymous => vec![Mechanism::Anonymous],
        AuthMethod::InternalPlain | AuthMethod::InternalHashed => {
            let mut mechs = vec![Mechanism::ScramSha256, Mechanism::ScramSha1];
            if secure || allow_unencrypted_plain {
                mechs.push(Mechanism::Plain);
            }
            mechs
        }
    }
}

/// Where SASL finds an account's secret; `username` is already normalised.
///
/// `Ok(None)` means "no such user"; `Err` means the store could not be read
/// and becomes `temporary-auth-failure`.
pub trait CredentialLookup {
    fn lookup(&self, username: &str) -> Result<Option<Credentials>, String>;
}

/// Who authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The normalised local part of the authenticated account.
    User(String),
    Anonymous,
}

/// What to send back after a client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send `<challenge/>` with this (raw, not yet base64) payload.
    Challenge(Vec<u8>),
    /// Send `<success/>`, with `additional` data if present.
    Success {
        authzid_user: AuthOutcome,
        additional: Option<Vec<u8>>,
    },
    /// Send `<failure/>` with this condition.
    Failure(Failure),
}

/// SASL failure conditions (RFC 6120 §6.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    NotAuthorized,
    /// The reason is for logs and `<text/>`; it never contains client secrets.
    MalformedRequest(String),
    InvalidMechanism,
    InvalidAuthzid,
    TemporaryAuthFailure,
    Aborted,
}

impl Failure {
    /// The RFC 6120 §6.5 child element name of `<failure/>`.
    pub fn condition(&self) -> &'static str {
        match self {
            Failure::NotAuthorized => "not-authorized",
            Failure::MalformedRequest(_) => "malformed-request",
            Failure::InvalidMechanism => "invalid-mechanism",
            Failure::InvalidAuthzid => "invalid-authzid",
            Failure::TemporaryAuthFailure => "temporary-auth-failure",
            Failure::Aborted => "aborted",
        }
    }

    fn malformed(reason: &str) -> Self {
        Failure::MalformedRequest(reason.to_owned())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::MalformedRequest(reason) => write!(f, "malformed-request: {reason}"),
            other => f.write_str(other.condition()),
        }
    }
}

/// An authzid is accepted only when it names the authenticated account, as
/// `local` or `local@host`. Only the local part is compared; which host the
/// stream belongs to is the caller's business.
fn authzid_matches(authzid: &str, user: &str) -> bool {
    let local = authzid.split_once('@').map_or(authzid, |(local, _)| local);
    accounts::normalize_username(local).is_ok_and(|local| local == user)
}

/// Test hooks that replace the session's randomness with fixed values.
#[derive(Default)]
struct Overrides {
    /// Appended to the client nonce instead of fresh random bytes.
    nonce_suffix: Option<String>,
    /// Salt for plain-stored and unknown accounts instead of the synthetic one.
    salt: Option<Vec<u8>>,
}

enum State {
    AwaitPlain,
    AwaitAnonymous,
    AwaitScramFirst(crypto::HashAlg),
    AwaitScramFinal(Box<scram::Pending>),
    Done,
}

/// One authentication exchange on one stream.
pub struct SaslSession {
    mechanism: Mechanism,
    state: State,
    overrides: Overrides,
}

impl fmt::Debug for SaslSession {
    // Hand-written: the pending SCRAM state holds key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslSession")
            .field("mechanism", &self.mechanism)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl SaslSession {
    /// Begins an exchange for `<auth mechanism=.../>`; `initial_response` is
    /// the decoded element text (`Some(b"")` for a lone `=`, `None` if absent).
    pub fn start(
        mech: Mechanism,
        initial_response: Option<&[u8]>,
        lookup: &dyn CredentialLookup,
    ) -> (Self, Step) {
        Self::start_with(mech, initial_response, lookup, Overrides::default())
    }

    /// Like [`SaslSession::start`] but with a fixed SCRAM server-nonce suffix
    /// and salt (for plain-stored or unknown accounts), so published test
    /// vectors can be reproduced. Not for production use.
    #[cfg(test)]
    pub(crate) fn start_with_fixed_params(
        mech: Mechanism,
        initial_response: Option<&[u8]>,
        lookup: &dyn CredentialLookup,
        nonce_suffix: &str,
        salt: &[u8],
    ) -> (Self, Step) {
        let overrides = Overrides {
            nonce_suffix: Some(nonce_suffix.to_owned()),
            salt: Some(salt.to_vec()),
        };
        Self::start_with(mech, initial_response, lookup, overrides)
    }

    fn start_with(
        mech: Mechanism,
        initial_response: Option<&[u8]>,
        lookup: &dyn CredentialLookup,
        overrides: Overrides,
    ) -> (Self, Step) {
        let state = match mech {
            Mechanism::ScramSha256 => State::AwaitScramFirst(crypto::HashAlg::Sha256),
            Mechanism::ScramSha1 => State::AwaitScramFirst(crypto::HashAlg::Sha1),
            Mechanism::Plain => State::AwaitPlain,
            Mechanism::Anonymous => State::AwaitAnonymous,
        };
        let mut session = SaslSession {
            mechanism: mech,
            state,
            overrides,
        };
        let step = match initial_response {
            Some(response) => session.step(response, lookup),
            // ANONYMOUS trace data is optional, so there is nothing to wait for.
            None if mech == Mechanism::Anonymous => session.step(&[], lookup),
            // Ask for the client's first message with an empty challenge (RFC 6120 §6.4.2).
            None => Step::Challenge(Vec::new()),
        };
        (session, step)
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// True once a `Success` or `Failure` has been returned.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Handles the client's `<abort/>`.
    pub fn abort(&mut self) -> Step {
        self.state = State::Done;
        Step::Failure(Failure::Aborted)
    }

    /// Feeds the decoded payload of a `<response/>`.
    pub fn step(&mut self, response: &[u8], lookup: &dyn CredentialLookup) -> Step {
        // Every failure ends the exchange, so start from Done and only move on
        // when a challenge is sent.
        match std::mem::replace(&mut self.state, State::Done) {
            State::Done => Step::Failure(Failure::malformed("authentication already finished")),
            State::AwaitAnonymous => Step::Success {
                authzid_user: AuthOutcome::Anonymous,
                additional: None,
            },
            State::AwaitPlain => match plain::authenticate(response, lookup) {
                Ok(user) => Step::Success {
                    authzid_user: AuthOutcome::User(user),
                    additional: None,
                },
                Err(f) => Step::Failure(f),
            },
            State::AwaitScramFirst(alg) => {
                match scram::client_first(alg, response, lookup, &self.overrides) {
                    Ok((pending, server_first)) => {
                        self.state = State::AwaitScramFinal(pending);
                        Step::Challenge(server_first)
                    }
                    Err(f) => Step::Failure(f),
                }
            }
            State::AwaitScramFinal(pending) => match scram::client_final(&pending, response) {
                Ok((user, server_final)) => Step::Success {
                    authzid_user: AuthOutcome::User(user),
                    additional: Some(server_final),
                },
                Err(f) => Step::Failure(f),
            },
        }
    }
}
