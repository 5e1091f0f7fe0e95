//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.

use std::hint::black_box;

use subtle::ConstantTimeEq;

use super::crypto::{self, HashAlg};
use super::{CredentialLookup, Failure, authzid_matches};
use crate::accounts::{self, Credentials, DEFAULT_ITERATIONS, ScramKeys};

/// Checks one PLAIN message and returns the normalised username on success.
pub(super) fn authenticate(msg: &[u8], lookup: &dyn CredentialLookup) -> Result<String, Failure> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Failure::malformed(
            "expected [authzid] NUL authcid NUL password",
        ));
    };
    let (Ok(authzid), Ok(authcid), Ok(passwd)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(authcid),
        std::str::from_utf8(passwd),
    ) else {
        return Err(Failure::malformed("PLAIN message is not UTF-8"));
    };
    if authcid.is_empty() {
        return Err(Failure::malformed("empty authcid"));
    }
    if passwd.is_empty() {
        return Err(Failure::malformed("empty password"));
    }

    // A name that cannot be registered is treated like any unknown user.
    let user = accounts::normalize_username(authcid).ok();
    let creds = match &user {
        Some(user) => lookup.lookup(user).map_err(|e| {
            tracing::warn!(user, error = %e, "credential lookup failed");
            Failure::TemporaryAuthFailure
        })?,
        None => None,
    };
    let ok = match (&user, creds) {
        (Some(_), Some(Credentials::Plain(stored))) => plain_matches(&stored, passwd),
        (Some(_), Some(Credentials::Hashed { sha256, .. })) => hashed_matches(&sha256, passwd),
        _ => {
            // Spend the same PBKDF2 time as a hashed account, so response time
            // does not tell an attacker which usernames exist.
            let salt = crypto::synthetic_salt(HashAlg::Sha256, authcid);
            black_box(HashAlg::Sha256.salted_password(
                passwd.as_bytes(),
                &salt,
                DEFAULT_ITERATIONS,
            ));
            false
        }
    };
    let Some(user) = user.filter(|_| ok) else {
        return Err(Failure::NotAuthorized);
    };
    // Authorization is checked only after authentication, so a wrong authzid
    // cannot be used to probe for accounts.
    if !authzid.is_empty() && !authzid_matches(authzid, &user) {
        return Err(Failure::InvalidAuthzid);
    }
    Ok(user)
}

/// Compares digests so neither the content nor the length of the stored
/// password leaks through timing.
fn plain_matches(stored: &str, given: &str) -> bool {
    let a = HashAlg::Sha256.hash(stored.as_bytes());
    let b = HashAlg::Sha256.hash(given.as_bytes());
    a.ct_eq(&b).into()
}

/// Re-derives StoredKey from the offered password with the stored parameters.
fn hashed_matches(keys: &ScramKeys, given: &str) -> bool {
    let salted = HashAlg::Sha256.salted_password(given.as_bytes(), &keys.salt, keys.iterations);
    let stored_key = HashAlg::Sha256.stored_key(&salted);
    stored_key.ct_eq(&keys.stored_key).into()
}
