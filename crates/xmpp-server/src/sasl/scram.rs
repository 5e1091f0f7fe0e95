//! SCRAM-SHA-1 / SCRAM-SHA-256 server side (RFC 5802, RFC 7677), without
//! channel binding: only the `n` and `y` GS2 flags are accepted.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use subtle::{Choice, ConstantTimeEq};

use super::crypto::{self, HashAlg};
use super::{CredentialLookup, Failure, Overrides, authzid_matches};
use crate::accounts::{self, Credentials, DEFAULT_ITERATIONS, ScramKeys};

/// Random bytes appended to the client nonce (before base64).
const SERVER_NONCE_BYTES: usize = 24;

/// State kept between server-first and client-final.
pub(super) struct Pending {
    alg: HashAlg,
    /// Normalised username; only reported if `known`.
    user: String,
    /// False for unknown users, whose exchange must fail at the proof.
    known: bool,
    authzid: Option<String>,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

/// Handles client-first-message; returns the state and server-first-message.
pub(super) fn client_first(
    alg: HashAlg,
    msg: &[u8],
    lookup: &dyn CredentialLookup,
    overrides: &Overrides,
) -> Result<(Box<Pending>, Vec<u8>), Failure> {
    let msg = std::str::from_utf8(msg)
        .map_err(|_| Failure::malformed("client-first-message is not UTF-8"))?;

    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    let (flag, rest) = msg
        .split_once(',')
        .ok_or_else(|| Failure::malformed("missing GS2 header"))?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => {
            // We never advertise -PLUS, so a client asking for binding is confused or downgraded.
            return Err(Failure::malformed("channel binding is not supported"));
        }
        _ => return Err(Failure::malformed("invalid GS2 channel-binding flag")),
    }
    let (authzid_field, bare) = rest
        .split_once(',')
        .ok_or_else(|| Failure::malformed("missing GS2 header"))?;
    let authzid = if authzid_field.is_empty() {
        None
    } else {
        let raw = authzid_field
            .strip_prefix("a=")
            .ok_or_else(|| Failure::malformed("invalid authzid in GS2 header"))?;
        Some(decode_saslname(raw)?)
    };
    let gs2_header = msg[..flag.len() + authzid_field.len() + 2].to_owned();

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    let mut attrs = bare.split(',');
    let first = attrs.next().unwrap_or_default();
    if first.starts_with("m=") {
        return Err(Failure::malformed("unsupported mandatory extension"));
    }
    let username = first
        .strip_prefix("n=")
        .ok_or_else(|| Failure::malformed("missing username"))?;
    let username = decode_saslname(username)?;
    if username.is_empty() {
        return Err(Failure::malformed("empty username"));
    }
    let client_nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or_else(|| Failure::malformed("missing nonce"))?;
    if !valid_nonce(client_nonce) {
        return Err(Failure::malformed("invalid nonce"));
    }
    if !attrs.all(valid_attribute) {
        return Err(Failure::malformed("invalid attribute"));
    }

    // A name that cannot be registered is handled like any unknown user.
    let normalized = accounts::normalize_username(&username).ok();
    let creds = match &normalized {
        Some(user) => lookup.lookup(user).map_err(|e| {
            tracing::warn!(user, error = %e, "credential lookup failed");
            Failure::TemporaryAuthFailure
        })?,
        None => None,
    };
    let user = normalized.unwrap_or(username);
    let salt_for = |user: &str| {
        overrides
            .salt
            .clone()
            .unwrap_or_else(|| crypto::synthetic_salt(alg, user))
    };
    let keys = match creds {
        Some(Credentials::Plain(password)) => {
            Some(alg.keys(&password, &salt_for(&user), DEFAULT_ITERATIONS))
        }
        Some(Credentials::Hashed { sha1, sha256 }) => Some(match alg {
            HashAlg::Sha1 => sha1,
            HashAlg::Sha256 => sha256,
        }),
        None => None,
    };
    let known = keys.is_some();
    // Unknown users get a plausible salt and keys nobody knows the password for,
    // so the exchange looks the same until the proof is rejected.
    let keys = keys.unwrap_or_else(|| ScramKeys {
        salt: salt_for(&user),
        iterations: DEFAULT_ITERATIONS,
        stored_key: random_bytes(alg.output_len()),
        server_key: random_bytes(alg.output_len()),
    });

    let suffix = overrides
        .nonce_suffix
        .clone()
        .unwrap_or_else(|| BASE64.encode(random_bytes(SERVER_NONCE_BYTES)));
    let nonce = format!("{client_nonce}{suffix}");
    let server_first = format!(
        "r={nonce},s={},i={}",
        BASE64.encode(&keys.salt),
        keys.iterations
    );
    let pending = Box::new(Pending {
        alg,
        user,
        known,
        authzid,
        gs2_header,
        client_first_bare: bare.to_owned(),
        server_first: server_first.clone(),
        nonce,
        stored_key: keys.stored_key,
        server_key: keys.server_key,
    });
    Ok((pending, server_first.into_bytes()))
}

/// Handles client-final-message; returns the username and server-final-message.
pub(super) fn client_final(p: &Pending, msg: &[u8]) -> Result<(String, Vec<u8>), Failure> {
    let msg = std::str::from_utf8(msg)
        .map_err(|_| Failure::malformed("client-final-message is not UTF-8"))?;

    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    let (without_proof, proof) = msg
        .rsplit_once(",p=")
        .ok_or_else(|| Failure::malformed("missing proof"))?;
    if proof.contains(',') {
        return Err(Failure::malformed("proof must be the last attribute"));
    }
    let mut attrs = without_proof.split(',');
    let cbind = attrs
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or_else(|| Failure::malformed("missing channel binding"))?;
    let cbind = BASE64
        .decode(cbind)
        .map_err(|_| Failure::malformed("invalid base64 in channel binding"))?;
    // Without channel binding, c= must echo the GS2 header exactly (RFC 5802 §7).
    if cbind != p.gs2_header.as_bytes() {
        return Err(Failure::malformed(
            "channel binding does not match GS2 header",
        ));
    }
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or_else(|| Failure::malformed("missing nonce"))?;
    if nonce != p.nonce {
        return Err(Failure::malformed("nonce mismatch"));
    }
    if !attrs.all(valid_attribute) {
        return Err(Failure::malformed("invalid attribute"));
    }
    let proof = BASE64
        .decode(proof)
        .map_err(|_| Failure::malformed("invalid base64 in proof"))?;
    if proof.len() != p.alg.output_len() {
        return Err(Failure::malformed("proof has the wrong length"));
    }

    let auth_message = format!("{},{},{without_proof}", p.client_first_bare, p.server_first);
    let client_signature = p.alg.hmac(&p.stored_key, auth_message.as_bytes());
    let client_key = crypto::xor(&proof, &client_signature);
    let proof_ok = p.alg.hash(&client_key).ct_eq(&p.stored_key) & Choice::from(u8::from(p.known));
    if !bool::from(proof_ok) {
        return Err(Failure::NotAuthorized);
    }
    if let Some(authzid) = &p.authzid
        && !authzid_matches(authzid, &p.user)
    {
        return Err(Failure::InvalidAuthzid);
    }
    let server_signature = p.alg.hmac(&p.server_key, auth_message.as_bytes());
    let server_final = format!("v={}", BASE64.encode(server_signature));
    Ok((p.user.clone(), server_final.into_bytes()))
}

/// Undoes the saslname escaping: `=2C` is ',' and `=3D` is '='; any other '=' is invalid.
fn decode_saslname(s: &str) -> Result<String, Failure> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 3) {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(Failure::malformed("invalid escape in saslname")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// printable = %x21-2B / %x2D-7E (RFC 5802 §7).
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// attr-val = ALPHA "=" value
fn valid_attribute(attr: &str) -> bool {
    matches!(attr.as_bytes(), [c, b'=', ..] if c.is_ascii_alphabetic())
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    rand::fill(buf.as_mut_slice());
    buf
}
