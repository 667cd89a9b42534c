//! Passwords: argon2id hashes in the PHC string form (what the users table
//! stores) and the policy a new password must meet.
//!
//! Hashing uses the OWASP parameters for argon2id: 19 MiB of memory
//! (m = 19456 KiB), two passes (t = 2), one lane (p = 1), a 16-byte salt from
//! the operating system's random source and a 32-byte output.
//! Verification reads the parameters from the stored string, so a later
//! change of parameters still verifies older hashes.

use password_hash::rand_core::OsRng;
use password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use argon2::{Algorithm, Argon2, Params, Version};
use tms_domain::Password;

/// Memory cost in KiB (OWASP: 19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Passes over the memory (OWASP: 2).
pub const ITERATIONS: u32 = 2;
/// Lanes (OWASP: 1).
pub const PARALLELISM: u32 = 1;

/// The fewest characters a password may have.
pub const MIN_LEN: usize = 12;
/// The most characters a password may have (bounds the hashing input).
pub const MAX_LEN: usize = 128;

/// A hash of a password nobody knows, with the parameters [`hash`] uses:
/// [`verify_dummy`] checks against it so that a login for an unknown
/// e-mail costs what a login for a known one costs.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$w6q1Hyas7b/xxcaF7/c6sA$+iyiPRkIiQOPjKl+TYaPu906YdOq9EL0no6lZcCPpJM";

/// Why a password could not be hashed (never the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password hashing parameters are invalid")]
    Parameters,
    #[error("the password could not be hashed")]
    Hash,
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|_| PasswordError::Parameters)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with a fresh random salt into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash(password: &Password) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()?
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hash)
}

/// Whether the password matches the stored PHC string (compared in
/// constant time). False for a string that is not an argon2id PHC string.
pub fn verify(password: &Password, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(argon2) = hasher() else {
        return false;
    };
    argon2
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok()
}

/// Does the work of [`verify`] against a fixed hash, for a login whose
/// e-mail is unknown: the answer then takes as long as for a known one.
pub fn verify_dummy(password: &Password) {
    std::hint::black_box(verify(password, std::hint::black_box(DUMMY_PHC)));
}

/// Whether a new password meets the policy, or why not (a reason to show
/// the user: it never repeats the password). `email` is the account's
/// e-mail address.
pub fn check_policy(password: &Password, email: &str) -> Result<(), String> {
    let text = password.expose();
    let chars = text.chars().count();
    if chars < MIN_LEN {
        return Err(format!("must be at least {MIN_LEN} characters"));
    }
    if chars > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters"));
    }
    // Any printable character, spaces included (NIST SP 800-63B); control
    // and format characters (bidi overrides, zero-width ones), line and
    // paragraph separators are never typed, only injected: refused as in
    // every text field.
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".to_string());
    }
    if let Some(why) = tms_domain::types::text_problem(text) {
        return Err(why.to_string());
    }
    let mut distinct = text.chars();
    if let Some(first) = distinct.next() {
        if distinct.all(|c| c == first) {
            return Err("must not be one character repeated".to_string());
        }
    }
    let lower = text.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err("is one of the most commonly used passwords".to_string());
    }
    let local = email
        .rsplit_once('@')
        .map_or(email, |(local, _)| local)
        .trim()
        .to_lowercase();
    if local.chars().count() >= 4 && lower.contains(&local) {
        return Err("must not contain the name part of your e-mail address".to_string());
    }
    Ok(())
}

/// The most commonly used passwords (from public breach-derived top lists),
/// lowercase: short ones, and the long variants that pass the length rule.
/// Compared with the password lowercased.
pub const COMMON: &[&str] = &[
    // short ones (the length rule refuses them too)
    "123456",
    "password",
    "123456789",
    "12345678",
    "12345",
    "qwerty",
    "1234567",
    "111111",
    "1234567890",
    "123123",
    "abc123",
    "1234",
    "password1",
    "iloveyou",
    "1q2w3e4r",
    "000000",
    "qwerty123",
    "zaq12wsx",
    "dragon",
    "sunshine",
    "princess",
    "letmein",
    "654321",
    "monkey",
    "1qaz2wsx",
    "123321",
    "qwertyuiop",
    "superman",
    "asdfghjkl",
    "welcome",
    "admin",
    "football",
    "baseball",
    "master",
    "shadow",
    "michael",
    "jennifer",
    "trustno1",
    "hunter2",
    "666666",
    "121212",
    "7777777",
    "888888",
    "123qwe",
    "passw0rd",
    "password123",
    "p@ssw0rd",
    "p@ssword",
    "login",
    "starwars",
    "whatever",
    "freedom",
    "batman",
    "charlie",
    "hello",
    "access",
    "flower",
    "loveme",
    "mustang",
    "ninja",
    "azerty",
    "qazwsx",
    "1qazxsw2",
    "aa123456",
    "1234qwer",
    "qwer1234",
    "123abc",
    "computer",
    "pokemon",
    "killer",
    "soccer",
    "hockey",
    "secret",
    "cheese",
    "internet",
    "samsung",
    "google",
    "chocolate",
    "purple",
    "liverpool",
    "arsenal",
    "chelsea",
    "singapore",
    "singapore123",
    "changeme",
    "default",
    "guest",
    "test",
    "test123",
    "root",
    "toor",
    "administrator",
    "welcome1",
    "welcome123",
    "letmein1",
    "iloveyou1",
    "11111111",
    "00000000",
    "12341234",
    "987654321",
    "147258369",
    "159753",
    "112233",
    "555555",
    "999999",
    "1111111111",
    "0987654321",
    "asdf1234",
    "asdfasdf",
    "qwertyui",
    "zxcvbnm",
    "zxcvbnm123",
    "12345678910",
    "abcd1234",
    "1q2w3e4r5t",
    "qweasdzxc",
    // long ones, which the length rule lets through
    "password1234",
    "password12345",
    "password123456",
    "password1234!",
    "password12345!",
    "password!234",
    "password@123",
    "password@1234",
    "password2023",
    "password2024",
    "password2025",
    "password2026",
    "passwordpassword",
    "passw0rd1234",
    "p@ssw0rd1234",
    "p@ssw0rd12345",
    "p@ssword1234",
    "mypassword123",
    "mypassword1234",
    "secretpassword",
    "supersecret123",
    "qwertyuiop12",
    "qwertyuiop123",
    "qwertyuiop1234",
    "qwertyuiopasdf",
    "qwertyuiopasdfghjkl",
    "qwertyqwerty",
    "qwerty123456",
    "qwerty1234567",
    "qwerty123456789",
    "asdfghjkl123",
    "asdfghjkl1234",
    "asdfasdfasdf",
    "asdfqwerzxcv",
    "zxcvbnm12345",
    "zxcvbnm123456",
    "1234qwerasdf",
    "1234qwerasdfzxcv",
    "qwer1234asdf",
    "qwerasdfzxcv",
    "123456qwerty",
    "123qweasdzxc",
    "qweasdzxc123",
    "1q2w3e4r5t6y",
    "1q2w3e4r5t6y7u",
    "1q2w3e4r5t6y7u8i",
    "q1w2e3r4t5y6",
    "1qaz2wsx3edc",
    "1qaz2wsx3edc4rfv",
    "1qazxsw23edc",
    "!qaz2wsx#edc",
    "zaq12wsxcde3",
    "zaq1zaq1zaq1",
    "qazwsxedcrfv",
    "qazwsxedc123",
    "123456789012",
    "1234567890123",
    "123456789101",
    "12345678900",
    "111111111111",
    "000000000000",
    "123123123123",
    "121212121212",
    "123412341234",
    "112233445566",
    "999999999999",
    "abcdefghijkl",
    "abcdefgh1234",
    "abc123456789",
    "abcd12345678",
    "123456abcdef",
    "abcdef123456",
    "a1b2c3d4e5f6",
    "iloveyou1234",
    "iloveyou12345",
    "iloveyou2024",
    "iloveyouforever",
    "iloveyoubaby",
    "iloveyouiloveyou",
    "welcome12345",
    "welcome123456",
    "welcome@123",
    "welcome@1234",
    "letmein12345",
    "letmein123456",
    "letmein1234!",
    "letmeinletmein",
    "administrator1",
    "administrator123",
    "adminadmin123",
    "admin1234567",
    "admin12345678",
    "admin@123456",
    "changeme1234",
    "changeme12345",
    "trustno1trustno1",
    "singapore1234",
    "singapore2024",
    "sunshine1234",
    "football1234",
    "baseball1234",
    "princess1234",
    "superman1234",
    "starwars1234",
    "monkey123456",
    "dragon123456",
    "master123456",
    "correcthorsebatterystaple",
    "thequickbrownfox",
    "skillsfuture",
    "skillsfuture1",
    "skillsfuture123",
    "training1234",
    "training12345",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused() {
        for bad in [
            "a long pass\u{0}word",
            "a long pass\tword!",
            "new\nline passphrase",
        ] {
            assert_eq!(
                check_policy(&Password::new(bad), "x@example.sg"),
                Err("must not contain control characters".to_string()),
                "{bad:?}"
            );
        }
        assert!(check_policy(&Password::new("spaces are fine here é"), "x@example.sg").is_ok());
    }

    fn pw(s: &str) -> Password {
        Password::new(s)
    }

    const EMAIL: &str = "Jane.Tan@example.sg";

    #[test]
    fn policy_accepts_a_long_unusual_password() {
        assert_eq!(check_policy(&pw("violet kettle 42 harbour"), EMAIL), Ok(()));
        assert_eq!(check_policy(&pw("Zp9!qLm2#vTx"), EMAIL), Ok(()));
        // exactly the bounds, counted in characters
        assert_eq!(check_policy(&pw("ab€d€fgh€jkl"), EMAIL), Ok(()));
        assert_eq!(check_policy(&pw(&"ab".repeat(64)), EMAIL), Ok(()));
    }

    #[test]
    fn policy_reasons() {
        let reason = |p: &str, email: &str| check_policy(&pw(p), email).unwrap_err();
        assert_eq!(reason("short", EMAIL), "must be at least 12 characters");
        assert_eq!(
            reason("€€€€€€€€€€€", EMAIL),
            "must be at least 12 characters"
        );
        assert_eq!(reason("", EMAIL), "must be at least 12 characters");
        assert_eq!(
            reason(&"abc".repeat(43), EMAIL),
            "must be at most 128 characters"
        );
        assert_eq!(
            reason(&"x".repeat(129), EMAIL),
            "must be at most 128 characters"
        );
        assert_eq!(
            reason("aaaaaaaaaaaa", EMAIL),
            "must not be one character repeated"
        );
        assert_eq!(
            reason("            ", EMAIL),
            "must not be one character repeated"
        );
        for common in [
            "password1234",
            "Password1234",
            "PASSWORD1234",
            "qwertyuiop12",
            "123456789012",
            "iloveyou1234",
            "1q2w3e4r5t6y",
            "P@ssw0rd1234",
            "SkillsFuture",
        ] {
            assert_eq!(
                reason(common, EMAIL),
                "is one of the most commonly used passwords",
                "{common}"
            );
        }
        for (p, email) in [
            ("jane.tan-is-great", EMAIL),
            ("myJANE.TANpassword", EMAIL),
            ("xx-roberto-2025-xx", "Roberto@example.sg"),
            ("xx-robe-2025-xx!", "robe@example.sg"),
        ] {
            assert_eq!(
                reason(p, email),
                "must not contain the name part of your e-mail address",
                "{p}"
            );
        }
        // A local part under four characters is not checked.
        assert_eq!(
            check_policy(&pw("bob-likes-tea-42"), "bob@example.sg"),
            Ok(())
        );
        assert_eq!(check_policy(&pw("some jane tan notes"), EMAIL), Ok(()));
    }

    #[test]
    fn the_common_list_is_lowercase_unique_and_catches_long_ones() {
        assert!(COMMON.len() >= 200, "{}", COMMON.len());
        let mut seen = std::collections::HashSet::new();
        for p in COMMON {
            assert_eq!(*p, p.to_lowercase(), "{p}");
            assert!(seen.insert(*p), "repeated: {p}");
        }
        let long = COMMON
            .iter()
            .filter(|p| (MIN_LEN..=MAX_LEN).contains(&p.chars().count()))
            .count();
        assert!(long >= 90, "{long}");
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let parsed = PasswordHash::new(DUMMY_PHC).unwrap();
        assert_eq!(parsed.algorithm, argon2::ARGON2ID_IDENT);
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (MEMORY_KIB, ITERATIONS, PARALLELISM)
        );
        assert_eq!(params.output_len(), Some(32));
        assert_eq!(parsed.salt.map(|s| s.len()), Some(22));
    }

    /// The three full-cost argon2id computations of the tests: one hash,
    /// one verify, one dummy verify.
    #[test]
    fn hash_verify_round_trip_and_dummy() {
        let secret = pw("violet kettle 42 harbour");
        let phc = hash(&secret).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("violet"));
        assert!(verify(&secret, &phc));
        verify_dummy(&secret);
    }

    /// A wrong password, checked against a cheap argon2id hash (verify
    /// reads the cost from the string) so the tests stay fast.
    #[test]
    fn a_wrong_password_does_not_verify() {
        let cheap = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let phc = cheap
            .hash_password(b"violet kettle 42 harbour", &salt)
            .unwrap()
            .to_string();
        assert!(verify(&pw("violet kettle 42 harbour"), &phc));
        assert!(!verify(&pw("violet kettle 42 harbouR"), &phc));
        assert!(!verify(&pw(""), &phc));
        // Two hashes of one password differ (fresh salts).
        let salt2 = SaltString::generate(&mut OsRng);
        assert_ne!(salt.as_str(), salt2.as_str());
    }

    #[test]
    fn a_malformed_or_foreign_hash_does_not_verify() {
        let p = pw("violet kettle 42 harbour");
        for phc in [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$!!!",
            // argon2i, argon2d: not what we write
            "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$pbkdf2-sha256$29000$N2ZMKTFoMV4hUCsB$ZNcX0PpV9mFJbnWDXmvr6Z9tP8yB6n0zQwVjB5jHq2k",
        ] {
            assert!(!verify(&p, phc), "{phc}");
        }
    }
}
