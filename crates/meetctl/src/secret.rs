//! Random secrets: the focus component secret and the focus and jvb account
//! passwords (the guide's secret1, secret2, secret3).

use rand::Rng;

/// Letters and digits only, so a secret needs no quoting in TOML, in the
/// guide's shell-style /etc/jitsi/jicofo/config or on a command line.
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// 32 characters from a 62-letter alphabet: about 190 bits.
pub fn random_secret() -> String {
    random_string(32)
}

/// `len` random characters of [`ALPHABET`] from the thread's CSPRNG.
pub fn random_string(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_distinct_and_plain() {
        let (a, b) = (random_secret(), random_secret());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
