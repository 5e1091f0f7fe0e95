//! The SCRAM key schedule (RFC 5802 §3), shared by SCRAM, PLAIN-against-hashed
//! and the account store, so the crypto lives in exactly one place.

use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::accounts::ScramKeys;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HashAlg {
    Sha1,
    Sha256,
}

impl HashAlg {
    /// Digest size, which is also the size of a valid ClientProof.
    pub(crate) fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
        }
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => Sha1::digest(data).to_vec(),
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC hashes over-long keys and pads short ones, so no key length is
        // invalid; the constructor is only fallible because of a shared trait.
        match self {
            HashAlg::Sha1 => {
                let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
                    unreachable!("HMAC accepts keys of any length")
                };
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            HashAlg::Sha256 => {
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                    unreachable!("HMAC accepts keys of any length")
                };
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// SaltedPassword := Hi(Normalize(password), salt, i)
    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            HashAlg::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            HashAlg::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
        }
        out
    }

    /// StoredKey := H(HMAC(SaltedPassword, "Client Key"))
    pub(crate) fn stored_key(self, salted_password: &[u8]) -> Vec<u8> {
        self.hash(&self.hmac(salted_password, b"Client Key"))
    }

    /// ServerKey := HMAC(SaltedPassword, "Server Key")
    pub(crate) fn server_key(self, salted_password: &[u8]) -> Vec<u8> {
        self.hmac(salted_password, b"Server Key")
    }

    pub(crate) fn keys(self, password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
        // No SASLprep: the password's UTF-8 bytes are used as given (see module docs).
        let salted = self.salted_password(password.as_bytes(), salt, iterations);
        ScramKeys {
            salt: salt.to_vec(),
            iterations,
            stored_key: self.stored_key(&salted),
            server_key: self.server_key(&salted),
        }
    }
}

/// SCRAM-SHA-1 verifier for `password`.
pub fn scram_keys_sha1(password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
    HashAlg::Sha1.keys(password, salt, iterations)
}

/// SCRAM-SHA-256 verifier for `password`.
pub fn scram_keys_sha256(password: &str, salt: &[u8], iterations: u32) -> ScramKeys {
    HashAlg::Sha256.keys(password, salt, iterations)
}

/// Per-process secret behind salts we have to invent.
fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(rand::random)
}

/// A salt that is stable for one username within this process.
///
/// Used both for unknown users and for plain-stored accounts: a repeated
/// probe sees the same salt either way, so the salt does not reveal whether
/// the account exists (as a fresh random salt per attempt would).
pub(crate) fn synthetic_salt(alg: HashAlg, username: &str) -> Vec<u8> {
    let label: &[u8] = match alg {
        HashAlg::Sha1 => b"scram-sha-1 salt\0",
        HashAlg::Sha256 => b"scram-sha-256 salt\0",
    };
    let mut input = label.to_vec();
    input.extend_from_slice(username.as_bytes());
    let mut salt = HashAlg::Sha256.hmac(process_secret(), &input);
    salt.truncate(16);
    salt
}

/// XOR of equal-length byte strings (ClientKey := ClientProof XOR ClientSignature).
pub(crate) fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}
