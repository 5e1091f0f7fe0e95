#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::crypto::{self, HashAlg};
use super::*;
use crate::accounts::{AccountStore, PasswordStorage, ScramKeys};

#[derive(Default)]
struct MapLookup(HashMap<String, Credentials>);

impl MapLookup {
    fn with(user: &str, creds: Credentials) -> Self {
        let mut m = MapLookup::default();
        m.0.insert(user.to_owned(), creds);
        m
    }
}

impl CredentialLookup for MapLookup {
    fn lookup(&self, username: &str) -> Result<Option<Credentials>, String> {
        Ok(self.0.get(username).cloned())
    }
}

struct BrokenLookup;

impl CredentialLookup for BrokenLookup {
    fn lookup(&self, _: &str) -> Result<Option<Credentials>, String> {
        Err("database is locked".to_owned())
    }
}

fn plain(pw: &str) -> Credentials {
    Credentials::Plain(pw.to_owned())
}

fn hashed(pw: &str) -> Credentials {
    Credentials::Hashed {
        sha1: scram_keys_sha1(pw, b"salt-for-sha1...", 4096),
        sha256: scram_keys_sha256(pw, b"salt-for-sha256.", 4096),
    }
}

fn alg_of(mech: Mechanism) -> HashAlg {
    match mech {
        Mechanism::ScramSha1 => HashAlg::Sha1,
        _ => HashAlg::Sha256,
    }
}

fn challenge(step: Step) -> String {
    match step {
        Step::Challenge(c) => String::from_utf8(c).unwrap(),
        other => panic!("expected challenge, got {other:?}"),
    }
}

fn failure(step: Step) -> Failure {
    match step {
        Step::Failure(f) => f,
        other => panic!("expected failure, got {other:?}"),
    }
}

fn assert_malformed(step: Step, what: &str) {
    match step {
        Step::Failure(Failure::MalformedRequest(_)) => {}
        other => panic!("{what}: expected malformed-request, got {other:?}"),
    }
}

fn attr<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split(',')
        .find_map(|a| a.strip_prefix(name).and_then(|a| a.strip_prefix('=')))
        .unwrap()
}

/// Client side of SCRAM, independent of the session code paths under test.
fn client_final(
    alg: HashAlg,
    password: &str,
    gs2_header: &str,
    client_first_bare: &str,
    server_first: &str,
) -> String {
    let nonce = attr(server_first, "r");
    let salt = BASE64.decode(attr(server_first, "s")).unwrap();
    let iterations: u32 = attr(server_first, "i").parse().unwrap();
    let salted = alg.salted_password(password.as_bytes(), &salt, iterations);
    let client_key = alg.hmac(&salted, b"Client Key");
    let stored_key = alg.hash(&client_key);
    let without_proof = format!("c={},r={nonce}", BASE64.encode(gs2_header));
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = alg.hmac(&stored_key, auth_message.as_bytes());
    let proof = crypto::xor(&client_key, &signature);
    format!("{without_proof},p={}", BASE64.encode(proof))
}

/// Full SCRAM exchange with fresh randomness; returns the final step.
fn scram_login(mech: Mechanism, user_field: &str, password: &str, lookup: &MapLookup) -> Step {
    let bare = format!("n={user_field},r=clientnonce123");
    let (mut s, step) = SaslSession::start(mech, Some(format!("n,,{bare}").as_bytes()), lookup);
    let server_first = challenge(step);
    let last = client_final(alg_of(mech), password, "n,,", &bare, &server_first);
    s.step(last.as_bytes(), lookup)
}

// --- RFC test vectors -------------------------------------------------------

const RFC5802_CLIENT_FIRST: &str = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
const RFC5802_SERVER_FIRST: &str =
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const RFC5802_CLIENT_FINAL: &str =
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
const RFC5802_SERVER_FINAL: &str = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

const RFC7677_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn run_vector(
    mech: Mechanism,
    creds: Credentials,
    salt_b64: &str,
    nonce_suffix: &str,
    msgs: [&str; 4],
) {
    let lookup = MapLookup::with("user", creds);
    let salt = BASE64.decode(salt_b64).unwrap();
    let (mut s, step) = SaslSession::start_with_fixed_params(
        mech,
        Some(msgs[0].as_bytes()),
        &lookup,
        nonce_suffix,
        &salt,
    );
    assert_eq!(challenge(step), msgs[1]);
    assert_eq!(
        s.step(msgs[2].as_bytes(), &lookup),
        Step::Success {
            authzid_user: AuthOutcome::User("user".to_owned()),
            additional: Some(msgs[3].as_bytes().to_vec()),
        }
    );
    assert!(s.is_finished());
}

#[test]
fn rfc5802_scram_sha1_vector_plain_credentials() {
    run_vector(
        Mechanism::ScramSha1,
        plain("pencil"),
        "QSXCR+Q6sek8bf92",
        "3rfcNHYJY1ZVvWVs7j",
        [
            RFC5802_CLIENT_FIRST,
            RFC5802_SERVER_FIRST,
            RFC5802_CLIENT_FINAL,
            RFC5802_SERVER_FINAL,
        ],
    );
}

#[test]
fn rfc5802_scram_sha1_vector_hashed_credentials() {
    let salt = BASE64.decode("QSXCR+Q6sek8bf92").unwrap();
    let creds = Credentials::Hashed {
        sha1: scram_keys_sha1("pencil", &salt, 4096),
        // Deliberately different, to prove the SHA-1 keys are the ones used.
        sha256: scram_keys_sha256("other", b"x", 1),
    };
    // The injected salt must be ignored: stored keys bring their own.
    run_vector(
        Mechanism::ScramSha1,
        creds,
        "AAAAAAAAAAAAAAAA",
        "3rfcNHYJY1ZVvWVs7j",
        [
            RFC5802_CLIENT_FIRST,
            RFC5802_SERVER_FIRST,
            RFC5802_CLIENT_FINAL,
            RFC5802_SERVER_FINAL,
        ],
    );
}

#[test]
fn rfc7677_scram_sha256_vector_plain_credentials() {
    run_vector(
        Mechanism::ScramSha256,
        plain("pencil"),
        "W22ZaJ0SNY7soEsUEjb6gQ==",
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        [
            RFC7677_CLIENT_FIRST,
            RFC7677_SERVER_FIRST,
            RFC7677_CLIENT_FINAL,
            RFC7677_SERVER_FINAL,
        ],
    );
}

#[test]
fn rfc7677_scram_sha256_vector_hashed_credentials() {
    let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let creds = Credentials::Hashed {
        sha1: scram_keys_sha1("other", b"x", 1),
        sha256: scram_keys_sha256("pencil", &salt, 4096),
    };
    run_vector(
        Mechanism::ScramSha256,
        creds,
        "AAAAAAAAAAAAAAAA",
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        [
            RFC7677_CLIENT_FIRST,
            RFC7677_SERVER_FIRST,
            RFC7677_CLIENT_FINAL,
            RFC7677_SERVER_FINAL,
        ],
    );
}

#[test]
fn rfc_vectors_reproduced_by_test_client() {
    // Cross-checks the helper used by the other tests against the RFC proofs.
    let bare = &RFC5802_CLIENT_FIRST[3..];
    let ours = client_final(HashAlg::Sha1, "pencil", "n,,", bare, RFC5802_SERVER_FIRST);
    assert_eq!(ours, RFC5802_CLIENT_FINAL);
    let bare = &RFC7677_CLIENT_FIRST[3..];
    let ours = client_final(HashAlg::Sha256, "pencil", "n,,", bare, RFC7677_SERVER_FIRST);
    assert_eq!(ours, RFC7677_CLIENT_FINAL);
}

#[test]
fn rfc_vector_wrong_proof_fails() {
    let lookup = MapLookup::with("user", plain("pencil"));
    let salt = BASE64.decode("QSXCR+Q6sek8bf92").unwrap();
    let (mut s, step) = SaslSession::start_with_fixed_params(
        Mechanism::ScramSha1,
        Some(RFC5802_CLIENT_FIRST.as_bytes()),
        &lookup,
        "3rfcNHYJY1ZVvWVs7j",
        &salt,
    );
    challenge(step);
    let tampered = RFC5802_CLIENT_FINAL.replace("p=v0X8", "p=v1X8");
    assert_eq!(
        failure(s.step(tampered.as_bytes(), &lookup)),
        Failure::NotAuthorized
    );
}

// --- SCRAM behaviour ----------------------------------------------------------

#[test]
fn scram_round_trip_both_hashes_and_storages() {
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        for creds in [plain("pw"), hashed("pw")] {
            let lookup = MapLookup::with("alice", creds);
            match scram_login(mech, "Alice", "pw", &lookup) {
                Step::Success {
                    authzid_user: AuthOutcome::User(u),
                    additional: Some(v),
                } => {
                    assert_eq!(u, "alice");
                    assert!(v.starts_with(b"v="));
                }
                other => panic!("{mech}: {other:?}"),
            }
        }
    }
}

#[test]
fn scram_server_signature_verifies() {
    let lookup = MapLookup::with("alice", hashed("pw"));
    let bare = "n=alice,r=abcdef";
    let (mut s, step) = SaslSession::start(
        Mechanism::ScramSha256,
        Some(format!("n,,{bare}").as_bytes()),
        &lookup,
    );
    let server_first = challenge(step);
    let nonce = attr(&server_first, "r");
    assert!(nonce.starts_with("abcdef"));
    assert_eq!(nonce.len(), "abcdef".len() + 32);
    let last = client_final(HashAlg::Sha256, "pw", "n,,", bare, &server_first);
    let Step::Success {
        additional: Some(v),
        ..
    } = s.step(last.as_bytes(), &lookup)
    else {
        panic!("no success");
    };
    // The client checks v= with its own ServerKey.
    let salt = BASE64.decode(attr(&server_first, "s")).unwrap();
    let salted = HashAlg::Sha256.salted_password(b"pw", &salt, 4096);
    let server_key = HashAlg::Sha256.server_key(&salted);
    let without_proof = last.rsplit_once(",p=").unwrap().0;
    let auth = format!("{bare},{server_first},{without_proof}");
    let expected = format!(
        "v={}",
        BASE64.encode(HashAlg::Sha256.hmac(&server_key, auth.as_bytes()))
    );
    assert_eq!(String::from_utf8(v).unwrap(), expected);
}

#[test]
fn scram_without_initial_response_sends_empty_challenge() {
    let lookup = MapLookup::with("alice", plain("pw"));
    let (mut s, step) = SaslSession::start(Mechanism::ScramSha1, None, &lookup);
    assert_eq!(step, Step::Challenge(Vec::new()));
    let bare = "n=alice,r=xyz";
    let server_first = challenge(s.step(format!("y,,{bare}").as_bytes(), &lookup));
    let last = client_final(HashAlg::Sha1, "pw", "y,,", bare, &server_first);
    assert!(matches!(
        s.step(last.as_bytes(), &lookup),
        Step::Success { .. }
    ));
}

#[test]
fn scram_wrong_password_fails() {
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        for creds in [plain("right"), hashed("right")] {
            let lookup = MapLookup::with("alice", creds);
            assert_eq!(
                failure(scram_login(mech, "alice", "wrong", &lookup)),
                Failure::NotAuthorized
            );
        }
    }
}

#[test]
fn scram_unknown_user_fails_only_at_proof() {
    let lookup = MapLookup::with("alice", hashed("pw"));
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let first = b"n,,n=mallory,r=nonce1";
        let (mut s, step) = SaslSession::start(mech, Some(first), &lookup);
        let server_first = challenge(step);
        // Looks like any other server-first message.
        assert!(server_first.starts_with("r=nonce1"));
        assert_eq!(BASE64.decode(attr(&server_first, "s")).unwrap().len(), 16);
        assert_eq!(attr(&server_first, "i"), "4096");
        // A second probe sees the same salt, as it would for a real account.
        let (_, again) = SaslSession::start(mech, Some(first), &lookup);
        assert_eq!(attr(&challenge(again), "s"), attr(&server_first, "s"));

        let last = client_final(
            alg_of(mech),
            "pw",
            "n,,",
            "n=mallory,r=nonce1",
            &server_first,
        );
        assert_eq!(
            failure(s.step(last.as_bytes(), &lookup)),
            Failure::NotAuthorized
        );
    }
    // Names that could never be registered take the same path.
    let (_, step) = SaslSession::start(Mechanism::ScramSha1, Some(b"n,,n=a b,r=n"), &lookup);
    challenge(step);
}

#[test]
fn scram_saslname_escapes_are_decoded() {
    let lookup = MapLookup::with("a,b=c", plain("pw"));
    match scram_login(Mechanism::ScramSha256, "A=2Cb=3DC", "pw", &lookup) {
        Step::Success {
            authzid_user: AuthOutcome::User(u),
            ..
        } => assert_eq!(u, "a,b=c"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scram_authzid() {
    let lookup = MapLookup::with("alice", plain("pw"));
    for (authzid, ok) in [
        ("alice", true),
        ("alice@meet.example", true),
        ("ALICE@meet.example", true),
        ("bob@meet.example", false),
    ] {
        let gs2 = format!("n,a={authzid},");
        let bare = "n=alice,r=r1";
        let (mut s, step) = SaslSession::start(
            Mechanism::ScramSha1,
            Some(format!("{gs2}{bare}").as_bytes()),
            &lookup,
        );
        let server_first = challenge(step);
        let last = client_final(HashAlg::Sha1, "pw", &gs2, bare, &server_first);
        let result = s.step(last.as_bytes(), &lookup);
        if ok {
            assert!(
                matches!(result, Step::Success { .. }),
                "{authzid}: {result:?}"
            );
        } else {
            assert_eq!(failure(result), Failure::InvalidAuthzid, "{authzid}");
        }
    }
}

#[test]
fn scram_malformed_client_first() {
    let lookup = MapLookup::with("user", plain("pencil"));
    let cases: &[&[u8]] = &[
        b"",
        b"n",
        b"n,",
        b"n,,",
        b"n,,r=abc",
        b"n,,n=user",
        b"n,,n=user,",
        b"n,,n=user,r=",
        b"n,,n=,r=abc",
        b"n,,n=us=er,r=abc",
        b"n,,n=us=2,r=abc",
        b"n,,n=user,r=a\x01b",
        b"n,,n=user,r=abc,bogus",
        b"x,,n=user,r=abc",
        b"n,x=y,n=user,r=abc",
        b"n,,m=ext,n=user,r=abc",
        b"p=tls-unique,,n=user,r=abc",
        b"p=tls-exporter,,n=user,r=abc",
        b"n,,n=\xff,r=abc",
        b"\0\0\0",
    ];
    for &case in cases {
        for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
            let (s, step) = SaslSession::start(mech, Some(case), &lookup);
            assert_malformed(step, &String::from_utf8_lossy(case));
            assert!(s.is_finished());
        }
    }
}

#[test]
fn scram_malformed_client_final() {
    let lookup = MapLookup::with("user", plain("pencil"));
    let salt = BASE64.decode("QSXCR+Q6sek8bf92").unwrap();
    let nonce = "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
    let proof = "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"c=biws".to_vec(),
        format!("c=biws,r={nonce}").into_bytes(),
        format!("c=biws,r={nonce},p=").into_bytes(),
        format!("r={nonce},p={proof}").into_bytes(),
        format!("c=!!!!,r={nonce},p={proof}").into_bytes(),
        format!("c=eSws,r={nonce},p={proof}").into_bytes(), // "y,," for an "n,," exchange
        format!("c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p={proof}").into_bytes(),
        format!("c=biws,r={nonce}x,p={proof}").into_bytes(),
        format!("c=biws,p={proof}").into_bytes(),
        format!("c=biws,r={nonce},p=not*base64").into_bytes(),
        format!("c=biws,r={nonce},p=AAAA").into_bytes(),
        format!("c=biws,r={nonce},p={proof},x=1").into_bytes(),
        format!("c=biws,r={nonce},junk,p={proof}").into_bytes(),
        b"c=biws,r=\xff,p=AAAA".to_vec(),
    ];
    for case in cases {
        let (mut s, step) = SaslSession::start_with_fixed_params(
            Mechanism::ScramSha1,
            Some(RFC5802_CLIENT_FIRST.as_bytes()),
            &lookup,
            "3rfcNHYJY1ZVvWVs7j",
            &salt,
        );
        challenge(step);
        assert_malformed(s.step(&case, &lookup), &String::from_utf8_lossy(&case));
        assert!(s.is_finished());
    }
}

#[test]
fn scram_extensions_are_ignored() {
    let lookup = MapLookup::with("alice", plain("pw"));
    let bare = "n=alice,r=abc,x=whatever";
    let (mut s, step) = SaslSession::start(
        Mechanism::ScramSha256,
        Some(format!("n,,{bare}").as_bytes()),
        &lookup,
    );
    let server_first = challenge(step);
    let last = client_final(HashAlg::Sha256, "pw", "n,,", bare, &server_first);
    assert!(matches!(
        s.step(last.as_bytes(), &lookup),
        Step::Success { .. }
    ));
}

// --- PLAIN ----------------------------------------------------------------------

fn plain_auth(msg: &[u8], lookup: &dyn CredentialLookup) -> Step {
    SaslSession::start(Mechanism::Plain, Some(msg), lookup).1
}

#[test]
fn plain_against_plain_and_hashed_credentials() {
    for creds in [plain("pencil"), hashed("pencil")] {
        let lookup = MapLookup::with("user", creds);
        assert_eq!(
            plain_auth(b"\0User\0pencil", &lookup),
            Step::Success {
                authzid_user: AuthOutcome::User("user".to_owned()),
                additional: None,
            }
        );
        assert_eq!(
            failure(plain_auth(b"\0user\0pencils", &lookup)),
            Failure::NotAuthorized
        );
        assert_eq!(
            failure(plain_auth(b"\0user\0Pencil", &lookup)),
            Failure::NotAuthorized
        );
    }
}

#[test]
fn plain_with_account_store() {
    let store = AccountStore::open_in_memory().unwrap();
    store
        .register("hal", "meet.example", "pencil", PasswordStorage::Hashed)
        .unwrap();
    store
        .register("ivy", "meet.example", "crayon", PasswordStorage::Plain)
        .unwrap();
    let lookup = store.lookup_for_host("meet.example");
    assert!(matches!(
        plain_auth(b"\0hal\0pencil", &lookup),
        Step::Success { .. }
    ));
    assert!(matches!(
        plain_auth(b"\0ivy\0crayon", &lookup),
        Step::Success { .. }
    ));
    assert_eq!(
        failure(plain_auth(b"\0hal\0crayon", &lookup)),
        Failure::NotAuthorized
    );
    // The stored hashed keys also drive SCRAM.
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let bare = "n=hal,r=q";
        let (mut s, step) =
            SaslSession::start(mech, Some(format!("n,,{bare}").as_bytes()), &lookup);
        let server_first = challenge(step);
        let last = client_final(alg_of(mech), "pencil", "n,,", bare, &server_first);
        assert!(matches!(
            s.step(last.as_bytes(), &lookup),
            Step::Success { .. }
        ));
    }
}

#[test]
fn plain_unknown_user_fails() {
    let lookup = MapLookup::with("user", plain("pencil"));
    assert_eq!(
        failure(plain_auth(b"\0nobody\0pencil", &lookup)),
        Failure::NotAuthorized
    );
    assert_eq!(
        failure(plain_auth(b"\0bad@name\0pencil", &lookup)),
        Failure::NotAuthorized
    );
}

#[test]
fn plain_authzid() {
    let lookup = MapLookup::with("user", plain("pencil"));
    for ok in [
        &b"user\0user\0pencil"[..],
        b"user@meet.example\0user\0pencil",
        b"USER@x\0user\0pencil",
    ] {
        assert!(matches!(plain_auth(ok, &lookup), Step::Success { .. }));
    }
    assert_eq!(
        failure(plain_auth(b"admin\0user\0pencil", &lookup)),
        Failure::InvalidAuthzid
    );
    assert_eq!(
        failure(plain_auth(b"admin@meet.example\0user\0pencil", &lookup)),
        Failure::InvalidAuthzid
    );
    // Credentials are checked first, so a bad authzid cannot probe accounts.
    assert_eq!(
        failure(plain_auth(b"admin\0user\0wrong", &lookup)),
        Failure::NotAuthorized
    );
}

#[test]
fn plain_malformed() {
    let lookup = MapLookup::with("user", plain("hunter2"));
    let cases: &[&[u8]] = &[
        b"",
        b"user",
        b"user\0hunter2",
        b"\0\0",
        b"\0user\0",
        b"\0\0hunter2",
        b"a\0user\0hunter2\0extra",
        b"\0us\xffer\0hunter2",
    ];
    for &case in cases {
        match plain_auth(case, &lookup) {
            Step::Failure(Failure::MalformedRequest(reason)) => {
                assert!(!reason.contains("hunter2"));
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(case)),
        }
    }
}

#[test]
fn plain_without_initial_response() {
    let lookup = MapLookup::with("user", plain("pencil"));
    let (mut s, step) = SaslSession::start(Mechanism::Plain, None, &lookup);
    assert_eq!(step, Step::Challenge(Vec::new()));
    assert!(!s.is_finished());
    assert!(matches!(
        s.step(b"\0user\0pencil", &lookup),
        Step::Success { .. }
    ));
}

// --- ANONYMOUS, lifecycle, lookup errors --------------------------------------

#[test]
fn anonymous_accepts_any_trace() {
    let lookup = MapLookup::default();
    let expected = Step::Success {
        authzid_user: AuthOutcome::Anonymous,
        additional: None,
    };
    assert_eq!(
        SaslSession::start(Mechanism::Anonymous, None, &lookup).1,
        expected
    );
    assert_eq!(
        SaslSession::start(Mechanism::Anonymous, Some(b""), &lookup).1,
        expected
    );
    assert_eq!(
        SaslSession::start(Mechanism::Anonymous, Some(b"sirhc@example.com"), &lookup).1,
        expected
    );
    assert_eq!(
        SaslSession::start(Mechanism::Anonymous, Some(b"\xff\0"), &BrokenLookup).1,
        expected
    );
}

#[test]
fn step_after_finish_is_malformed() {
    let lookup = MapLookup::with("user", plain("pencil"));
    let (mut s, step) = SaslSession::start(Mechanism::Plain, Some(b"\0user\0pencil"), &lookup);
    assert!(matches!(step, Step::Success { .. }));
    assert_malformed(s.step(b"\0user\0pencil", &lookup), "after success");

    let (mut s, step) = SaslSession::start(Mechanism::Plain, Some(b"\0user\0nope"), &lookup);
    assert_eq!(failure(step), Failure::NotAuthorized);
    assert_malformed(s.step(b"\0user\0pencil", &lookup), "after failure");

    let (mut s, _) = SaslSession::start(Mechanism::Anonymous, None, &lookup);
    assert_malformed(s.step(b"", &lookup), "after anonymous");

    let (mut s, step) = SaslSession::start(Mechanism::ScramSha1, Some(b"n,,n=user,r=a"), &lookup);
    challenge(step);
    assert_eq!(s.abort(), Step::Failure(Failure::Aborted));
    assert_malformed(s.step(b"c=biws,r=a,p=AAAA", &lookup), "after abort");
}

#[test]
fn lookup_error_is_temporary_failure() {
    assert_eq!(
        failure(plain_auth(b"\0user\0pencil", &BrokenLookup)),
        Failure::TemporaryAuthFailure
    );
    let (_, step) = SaslSession::start(
        Mechanism::ScramSha256,
        Some(b"n,,n=user,r=a"),
        &BrokenLookup,
    );
    assert_eq!(failure(step), Failure::TemporaryAuthFailure);
}

// --- Small API pieces -----------------------------------------------------------

#[test]
fn mechanism_names_round_trip() {
    for m in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
        Mechanism::Anonymous,
    ] {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
    }
    assert_eq!(Mechanism::ScramSha1.name(), "SCRAM-SHA-1");
    assert_eq!(Mechanism::from_name("plain"), None);
    assert_eq!(Mechanism::from_name("SCRAM-SHA-1-PLUS"), None);
    assert_eq!(Mechanism::from_name("DIGEST-MD5"), None);
}

#[test]
fn mechanisms_offered_per_method() {
    use Mechanism::*;
    assert_eq!(
        mechanisms_for(AuthMethod::Anonymous, true, true),
        vec![Anonymous]
    );
    assert_eq!(
        mechanisms_for(AuthMethod::Anonymous, false, false),
        vec![Anonymous]
    );
    for method in [AuthMethod::InternalPlain, AuthMethod::InternalHashed] {
        assert_eq!(
            mechanisms_for(method, true, false),
            vec![ScramSha256, ScramSha1, Plain]
        );
        assert_eq!(
            mechanisms_for(method, false, true),
            vec![ScramSha256, ScramSha1, Plain]
        );
        assert_eq!(
            mechanisms_for(method, false, false),
            vec![ScramSha256, ScramSha1]
        );
    }
}

#[test]
fn failure_conditions() {
    assert_eq!(Failure::NotAuthorized.condition(), "not-authorized");
    assert_eq!(
        Failure::MalformedRequest("x".into()).condition(),
        "malformed-request"
    );
    assert_eq!(Failure::InvalidMechanism.condition(), "invalid-mechanism");
    assert_eq!(Failure::InvalidAuthzid.condition(), "invalid-authzid");
    assert_eq!(
        Failure::TemporaryAuthFailure.condition(),
        "temporary-auth-failure"
    );
    assert_eq!(Failure::Aborted.condition(), "aborted");
}

#[test]
fn scram_keys_match_manual_derivation() {
    let keys: ScramKeys = scram_keys_sha1("pencil", b"salt", 2);
    let salted = HashAlg::Sha1.salted_password(b"pencil", b"salt", 2);
    assert_eq!(
        keys.stored_key,
        HashAlg::Sha1.hash(&HashAlg::Sha1.hmac(&salted, b"Client Key"))
    );
    assert_eq!(keys.server_key, HashAlg::Sha1.hmac(&salted, b"Server Key"));
    assert_eq!(keys.stored_key.len(), 20);
    assert_eq!(scram_keys_sha256("pencil", b"salt", 2).stored_key.len(), 32);
}
