//! Payload encryption (API-NOTES §3): AES-256-CBC with PKCS7 padding, the
//! provider's 32-byte key (given base64-encoded), and the fixed IV
//! `SSGAPIInitVector` for every request and response. The ciphertext
//! travels as standard base64 (with `=` padding); the plaintext is the UTF-8
//! JSON document itself (not base64-encoded first).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The fixed initialisation vector every TPGateway payload uses.
pub const IV: &[u8; 16] = b"SSGAPIInitVector";

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The configured key is not base64 of exactly 32 bytes (no key
    /// material in the message).
    #[error("the payload encryption key must be base64 of exactly 32 bytes")]
    BadKey,
    /// The text is not base64, or does not decrypt with this key and IV.
    #[error("the payload is not base64 ciphertext that this key decrypts")]
    NotCiphertext,
    /// It decrypted, but not to UTF-8 text.
    #[error("the decrypted payload is not UTF-8 text")]
    NotText,
}

/// The provider's payload key. It cannot be printed: `Debug` shows nothing
/// of it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey([u8; 32]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl EncryptionKey {
    /// The key from its base64 form, as the TPGateway portal shows it.
    pub fn from_base64(text: &str) -> Result<EncryptionKey, CryptoError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(EncryptionKey(key))
    }

    /// Encrypts a UTF-8 document into the base64 text TPGateway takes.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let ciphertext = Encryptor::new(&self.0.into(), IV.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
        STANDARD.encode(ciphertext)
    }

    /// Decrypts TPGateway's base64 text. Surrounding whitespace and a JSON
    /// string wrapping (`"..."`, a form working clients send) are accepted.
    pub fn decrypt(&self, text: &str) -> Result<String, CryptoError> {
        let t = text.trim();
        let t = t
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(t);
        let ciphertext = STANDARD.decode(t).map_err(|_| CryptoError::NotCiphertext)?;
        let plaintext = Decryptor::new(&self.0.into(), IV.into())
            .decrypt_padded_vec_mut::<Pkcs7>(&ciphertext)
            .map_err(|_| CryptoError::NotCiphertext)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::NotText)
    }

    /// A response body that may arrive encrypted or plain (error bodies
    /// do both, API-NOTES §3): the decrypted text when it decrypts, else
    /// the body as it came.
    pub fn decrypt_or_plain(&self, body: &str) -> String {
        self.decrypt(body).unwrap_or_else(|_| body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const PLAIN: &str = r#"{"course":{"courseReferenceNumber":"TGS-2020000697"}}"#;
    const CIPHER: &str =
        "GTsM3ft4Df9CUF/0gcrqbZTGgUUhz82UoEjIuHaoqvp5XFtWt95wRWgtlB92vtrkC/g5L9byZf+PQ9649gMx8Q==";

    /// The known answer the issue pins, both directions.
    #[test]
    fn known_answer_both_ways() {
        let key = EncryptionKey::from_base64(KEY).unwrap();
        assert_eq!(key.encrypt(PLAIN), CIPHER);
        assert_eq!(key.decrypt(CIPHER).unwrap(), PLAIN);
        assert_eq!(key.decrypt(&format!("\"{CIPHER}\"")).unwrap(), PLAIN);
        assert_eq!(key.decrypt(&format!(" {CIPHER}\n")).unwrap(), PLAIN);
    }

    #[test]
    fn round_trips_any_text() {
        let key = EncryptionKey::from_base64(KEY).unwrap();
        for text in [
            "",
            "a",
            "exactly sixteen!",
            r#"{"name":"Tan Ah Kow","é":"東京"}"#,
        ] {
            assert_eq!(key.decrypt(&key.encrypt(text)).unwrap(), text);
        }
    }

    #[test]
    fn bad_keys_and_texts_are_errors_without_secrets() {
        for bad in ["", "not base64!", "MDEy", &STANDARD.encode([0u8; 31])] {
            assert_eq!(EncryptionKey::from_base64(bad), Err(CryptoError::BadKey));
        }
        let key = EncryptionKey::from_base64(KEY).unwrap();
        assert_eq!(format!("{key:?}"), "EncryptionKey(<redacted>)");
        assert_eq!(key.decrypt("not base64!"), Err(CryptoError::NotCiphertext));
        assert_eq!(key.decrypt("AAAA"), Err(CryptoError::NotCiphertext));
        let other = EncryptionKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(other.decrypt(CIPHER).map(|t| t != PLAIN).unwrap_or(true));
        // Error bodies come plain or encrypted.
        assert_eq!(
            key.decrypt_or_plain(r#"{"status":400}"#),
            r#"{"status":400}"#
        );
        assert_eq!(key.decrypt_or_plain(CIPHER), PLAIN);
    }
}
