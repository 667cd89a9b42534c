//! The key that signs and checks tokens, kept in a secret as standard
//! base64. It cannot be printed: `Debug` shows nothing of it, there is no
//! `Display`, and errors never carry the value.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The fewest bytes a signing key may have: HS256 needs a key at least as
/// long as its output (RFC 7518 §3.2).
pub const MIN_KEY_BYTES: usize = 32;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// An HS256 signing key, held as the HMAC state keyed with it.
#[derive(Clone)]
pub struct SigningKey(HmacSha256);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Why a key text is refused; never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the signing key is not standard base64")]
    NotBase64,
    #[error("the signing key must decode to at least 32 bytes")]
    TooShort,
}

impl SigningKey {
    /// The key from standard base64 (with `=` padding; whitespace around it
    /// is ignored, as a secret file often ends with a newline), at least
    /// [`MIN_KEY_BYTES`] once decoded.
    pub fn from_base64(text: &str) -> Result<SigningKey, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::NotBase64)?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort);
        }
        HmacSha256::new_from_slice(&bytes)
            .map(SigningKey)
            .map_err(|_| KeyError::TooShort)
    }

    /// A fresh signing-key document, `{"signing_key": "<base64>"}`: 32
    /// bytes from the operating system's random source. For the local run
    /// and the bootstrap of a local endpoint; in AWS CloudFormation makes
    /// it once and keeps it.
    ///
    /// The OS source does not fail on the platforms this runs on (Linux
    /// `getrandom`); if it ever did, this panics rather than make a weak
    /// key.
    pub fn generate_document() -> String {
        use password_hash::rand_core::{OsRng, RngCore};
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        serde_json::json!({ "signing_key": STANDARD.encode(bytes) }).to_string()
    }

    /// A fresh HMAC state keyed with this key.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 32 bytes: "0123456789abcdef0123456789abcdef"
    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn generated_documents_hold_fresh_valid_keys() {
        let a: serde_json::Value = serde_json::from_str(&SigningKey::generate_document()).unwrap();
        let b: serde_json::Value = serde_json::from_str(&SigningKey::generate_document()).unwrap();
        let key = a["signing_key"].as_str().unwrap();
        assert!(SigningKey::from_base64(key).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn reads_standard_base64_of_32_bytes_or_more() {
        assert!(SigningKey::from_base64(KEY).is_ok());
        assert!(SigningKey::from_base64(&format!(" {KEY}\n")).is_ok());
        let long = STANDARD.encode([7u8; 64]);
        assert!(SigningKey::from_base64(&long).is_ok());
    }

    #[test]
    fn refuses_short_or_non_base64_keys_without_showing_them() {
        let short = STANDARD.encode([7u8; 31]);
        assert_eq!(
            SigningKey::from_base64(&short).err(),
            Some(KeyError::TooShort)
        );
        assert_eq!(SigningKey::from_base64("").err(), Some(KeyError::TooShort));
        for bad in [
            "not base64 at all!",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY-_w==",
        ] {
            let e = SigningKey::from_base64(bad).err().unwrap();
            assert_eq!(e, KeyError::NotBase64, "{bad}");
            assert!(!e.to_string().contains(bad));
        }
    }

    #[test]
    fn debug_prints_nothing_of_the_key() {
        let k = SigningKey::from_base64(KEY).unwrap();
        let printed = format!("{k:?}");
        assert_eq!(printed, "SigningKey(<redacted>)");
        assert!(!printed.contains("MDEy"));
    }
}
