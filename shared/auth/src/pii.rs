//! The keys that protect national ids at rest (DESIGN §6): AES-256-GCM
//! encryption, and a keyed hash that finds duplicates without decrypting.
//!
//! # The secret document
//!
//! The keys live in one secret, a JSON document:
//!
//! ```json
//! {"current_key_id": "k1", "hash_key_id": "k1",
//!  "keys": {"k1": "<at least 32 characters of random text>", "k2": "..."}}
//! ```
//!
//! - `keys`: every key that may still open a stored value, by id. A key id
//!   is 1 to 16 characters of `A-Z`, `a-z`, `0-9`, `_` and `-`; a key text
//!   is at least 32 characters (e.g. [`PiiKeys::generate_document`]'s 43
//!   base64url characters from the OS random source).
//! - `current_key_id`: the key that seals new values.
//! - `hash_key_id` (optional): the key of the keyed hash; when absent, `k1`
//!   if there is one, else `current_key_id`. It must not change while
//!   hashes made with it are stored, since a different key gives different
//!   hashes and duplicates would no longer be found.
//!
//! A key may also be a top-level member `"key_<id>": "<text>"` (the form
//! CloudFormation generates: `{"current_key_id": "k1", "key_k1": "..."}`);
//! the two forms mix, but one id may be given once only.
//!
//! To rotate, add a key (`k2`), make it current, and keep the old one until
//! every value sealed with it has been sealed again: [`Sealed::key_id`] says
//! which key opens a value.
//!
//! Each key text is turned into a 32-byte AES key as
//! HMAC-SHA256(key text, `"tms national id encryption v1"`), and the hash
//! key as HMAC-SHA256(text of `hash_key_id`, `"tms national id hash v1"`).
//!
//! Nothing here prints a key: [`PiiKeys`]'s `Debug` shows the key ids only,
//! and no [`PiiError`] carries key material, a value or the document.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::Mac;
use password_hash::rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::key::HmacSha256;

/// The fewest characters a key text may have.
pub const MIN_KEY_CHARS: usize = 32;
/// The most characters a key id may have.
pub const MAX_KEY_ID_CHARS: usize = 16;
/// The bytes of an AES-GCM nonce.
pub const NONCE_BYTES: usize = 12;

const ENCRYPTION_LABEL: &[u8] = b"tms national id encryption v1";
const HASH_LABEL: &[u8] = b"tms national id hash v1";
/// The key id `hash_key_id` defaults to when it is present.
const DEFAULT_HASH_KEY_ID: &str = "k1";

/// Why a key document is refused or a value cannot be sealed or opened.
/// Never carries key material, the value or the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    #[error("the national-id key document is not JSON of the form {{\"current_key_id\", \"hash_key_id\"?, \"keys\"}}")]
    MalformedDocument,
    #[error("a key id in the national-id key document is not 1 to 16 characters of A-Z, a-z, 0-9, _ or -")]
    BadKeyId,
    #[error("the national-id key document has no key under its current_key_id")]
    MissingCurrentKey,
    #[error("the national-id key document has no key under its hash_key_id")]
    MissingHashKey,
    #[error("a key in the national-id key document is shorter than 32 characters")]
    KeyTooShort,
    #[error("a key could not be derived from the national-id key document")]
    KeyDerivation,
    #[error("the value could not be sealed")]
    Seal,
    #[error("the sealed value names a key that is not in the national-id key document")]
    UnknownKeyId,
    #[error("the sealed value's nonce or ciphertext is not standard base64 of the expected size")]
    MalformedSealed,
    #[error("the sealed value could not be opened: wrong key or record, or it was altered")]
    Open,
}

/// A value sealed with AES-256-GCM: the id of the key that sealed it, a
/// 12-byte random nonce and the ciphertext with its 16-byte tag, both in
/// standard base64. What the table stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: String,
    pub ciphertext: String,
}

/// The keys of a key document, ready to seal, open and hash. Built only by
/// [`PiiKeys::from_document`]; its `Debug` shows the key ids only.
#[derive(Clone)]
pub struct PiiKeys {
    current_key_id: String,
    hash_key_id: String,
    ciphers: BTreeMap<String, Aes256Gcm>,
    hash: HmacSha256,
}

impl std::fmt::Debug for PiiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiiKeys")
            .field("current_key_id", &self.current_key_id)
            .field("hash_key_id", &self.hash_key_id)
            .field("key_ids", &self.ciphers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The secret document as it is written.
struct Document {
    current_key_id: String,
    hash_key_id: Option<String>,
    keys: BTreeMap<String, String>,
}

impl Document {
    /// Reads the document: `current_key_id`, `hash_key_id`, the `keys` map
    /// and top-level `key_<id>` members (the form a generated secret
    /// takes: CloudFormation generates one top-level member). Any other
    /// member, or a key given twice, is refused.
    fn parse(text: &str) -> Result<Document, PiiError> {
        let members: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text.trim()).map_err(|_| PiiError::MalformedDocument)?;
        let string = |v: serde_json::Value| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(PiiError::MalformedDocument),
        };
        let mut current_key_id = None;
        let mut hash_key_id = None;
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in members {
            match name.as_str() {
                "current_key_id" => current_key_id = Some(string(value)?),
                "hash_key_id" => hash_key_id = Some(string(value)?),
                "keys" => {
                    let map: BTreeMap<String, String> =
                        serde_json::from_value(value).map_err(|_| PiiError::MalformedDocument)?;
                    for (id, key) in map {
                        if keys.insert(id, key).is_some() {
                            return Err(PiiError::MalformedDocument);
                        }
                    }
                }
                other => match other.strip_prefix("key_") {
                    Some(id) => {
                        if keys.insert(id.to_string(), string(value)?).is_some() {
                            return Err(PiiError::MalformedDocument);
                        }
                    }
                    None => return Err(PiiError::MalformedDocument),
                },
            }
        }
        Ok(Document {
            current_key_id: current_key_id.ok_or(PiiError::MalformedDocument)?,
            hash_key_id,
            keys,
        })
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// HMAC-SHA256(key text, label): 32 bytes.
fn derive(text: &str, label: &[u8]) -> Result<[u8; 32], PiiError> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(text.as_bytes())
        .map_err(|_| PiiError::KeyDerivation)?;
    mac.update(label);
    Ok(mac.finalize().into_bytes().into())
}

impl PiiKeys {
    /// Reads a key document (see the module documentation). Whitespace
    /// around the JSON is ignored; unknown fields are refused (a misspelt
    /// `hash_key_id` would otherwise change every hash).
    pub fn from_document(text: &str) -> Result<PiiKeys, PiiError> {
        let doc = Document::parse(text)?;
        if !valid_key_id(&doc.current_key_id) {
            return Err(PiiError::BadKeyId);
        }
        let hash_key_id = match doc.hash_key_id {
            Some(id) => id,
            None if doc.keys.contains_key(DEFAULT_HASH_KEY_ID) => DEFAULT_HASH_KEY_ID.to_string(),
            None => doc.current_key_id.clone(),
        };
        if !valid_key_id(&hash_key_id) {
            return Err(PiiError::BadKeyId);
        }
        let mut ciphers = BTreeMap::new();
        for (id, key) in &doc.keys {
            if !valid_key_id(id) {
                return Err(PiiError::BadKeyId);
            }
            if key.chars().count() < MIN_KEY_CHARS {
                return Err(PiiError::KeyTooShort);
            }
            let aes_key = derive(key, ENCRYPTION_LABEL)?;
            let cipher = <Aes256Gcm as KeyInit>::new_from_slice(&aes_key)
                .map_err(|_| PiiError::KeyDerivation)?;
            ciphers.insert(id.clone(), cipher);
        }
        if !ciphers.contains_key(&doc.current_key_id) {
            return Err(PiiError::MissingCurrentKey);
        }
        let hash_text = doc.keys.get(&hash_key_id).ok_or(PiiError::MissingHashKey)?;
        let hash = <HmacSha256 as Mac>::new_from_slice(&derive(hash_text, HASH_LABEL)?)
            .map_err(|_| PiiError::KeyDerivation)?;
        Ok(PiiKeys {
            current_key_id: doc.current_key_id,
            hash_key_id,
            ciphers,
            hash,
        })
    }

    /// A fresh key document with one key, `k1`: 32 bytes from the operating
    /// system's random source as 43 base64url characters. For the local
    /// run; in AWS the secret is made once and kept.
    ///
    /// The OS source does not fail on the platforms this runs on (Linux
    /// `getrandom`); if it ever did, this panics rather than make a weak
    /// key.
    pub fn generate_document() -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let key = URL_SAFE_NO_PAD.encode(bytes);
        serde_json::json!({
            "current_key_id": "k1",
            "hash_key_id": "k1",
            "keys": { "k1": key },
        })
        .to_string()
    }

    /// The id of the key that seals new values.
    pub fn current_key_id(&self) -> &str {
        &self.current_key_id
    }

    /// Seals `plaintext` with the current key and a fresh random nonce.
    /// `aad` binds the sealed value to its record (e.g. the trainee id):
    /// [`open`](Self::open) needs the same `aad`.
    pub fn seal(&self, plaintext: &str, aad: &str) -> Result<Sealed, PiiError> {
        let cipher = self
            .ciphers
            .get(&self.current_key_id)
            .ok_or(PiiError::MissingCurrentKey)?;
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| PiiError::Seal)?;
        Ok(Sealed {
            key_id: self.current_key_id.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }

    /// Opens a sealed value with the key it names and the `aad` it was
    /// sealed with. An unknown key, bad base64, a wrong `aad` or an altered
    /// value is an error.
    pub fn open(&self, sealed: &Sealed, aad: &str) -> Result<String, PiiError> {
        let cipher = self
            .ciphers
            .get(&sealed.key_id)
            .ok_or(PiiError::UnknownKeyId)?;
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .map_err(|_| PiiError::MalformedSealed)?;
        if nonce.len() != NONCE_BYTES {
            return Err(PiiError::MalformedSealed);
        }
        let ciphertext = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| PiiError::MalformedSealed)?;
        let payload = Payload {
            msg: &ciphertext,
            aad: aad.as_bytes(),
        };
        let plain = cipher
            .decrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| PiiError::Open)?;
        String::from_utf8(plain).map_err(|_| PiiError::Open)
    }

    /// The keyed hash of a normalized value, for finding duplicates: 64
    /// lowercase hex digits of HMAC-SHA256(hash key, value). Stable for as
    /// long as `hash_key_id` names the same key text.
    pub fn keyed_hash(&self, normalized: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut mac = self.hash.clone();
        mac.update(normalized.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(64);
        for b in digest {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1-0123456789abcdefghijklmnopqrstuv";
    const K2: &str = "k2-zyxwvutsrqponmlkjihgfedcba987654";

    fn doc_k1() -> String {
        serde_json::json!({"current_key_id": "k1", "keys": {"k1": K1}}).to_string()
    }

    fn doc_rotated() -> String {
        serde_json::json!({"current_key_id": "k2", "hash_key_id": "k1",
            "keys": {"k1": K1, "k2": K2}})
        .to_string()
    }

    fn keys(doc: &str) -> PiiKeys {
        PiiKeys::from_document(doc).unwrap()
    }

    #[test]
    fn seals_and_opens() {
        let k = keys(&doc_k1());
        assert_eq!(k.current_key_id(), "k1");
        let s = k.seal("S1234567D", "trainee-1").unwrap();
        assert_eq!(s.key_id, "k1");
        assert_eq!(STANDARD.decode(&s.nonce).unwrap().len(), NONCE_BYTES);
        // 9 bytes of text and a 16-byte tag
        assert_eq!(STANDARD.decode(&s.ciphertext).unwrap().len(), 9 + 16);
        assert!(!s.ciphertext.contains("S1234567D"));
        assert_eq!(k.open(&s, "trainee-1").unwrap(), "S1234567D");
        let empty = k.seal("", "").unwrap();
        assert_eq!(k.open(&empty, "").unwrap(), "");
    }

    #[test]
    fn each_seal_has_a_fresh_nonce() {
        let k = keys(&doc_k1());
        let a = k.seal("S1234567D", "t").unwrap();
        let b = k.seal("S1234567D", "t").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(k.open(&a, "t").unwrap(), k.open(&b, "t").unwrap());
    }

    #[test]
    fn sealed_round_trips_through_json() {
        let k = keys(&doc_k1());
        let s = k.seal("S1234567D", "t").unwrap();
        let json = serde_json::to_value(&s).unwrap();
        let names: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(names, ["key_id", "nonce", "ciphertext"]);
        let back: Sealed = serde_json::from_value(json).unwrap();
        assert_eq!(k.open(&back, "t").unwrap(), "S1234567D");
    }

    #[test]
    fn a_rotated_document_opens_old_values_and_seals_with_the_new_key() {
        let old = keys(&doc_k1());
        let sealed_k1 = old.seal("S1234567D", "t").unwrap();
        let new = keys(&doc_rotated());
        assert_eq!(new.current_key_id(), "k2");
        assert_eq!(new.open(&sealed_k1, "t").unwrap(), "S1234567D");
        let sealed_k2 = new.seal("S1234567D", "t").unwrap();
        assert_eq!(sealed_k2.key_id, "k2");
        assert_eq!(new.open(&sealed_k2, "t").unwrap(), "S1234567D");
        // the old keys do not know k2
        assert_eq!(old.open(&sealed_k2, "t"), Err(PiiError::UnknownKeyId));
    }

    #[test]
    fn the_keyed_hash_is_stable_across_rotation() {
        let old = keys(&doc_k1());
        let new = keys(&doc_rotated());
        let h = old.keyed_hash("S1234567D");
        assert_eq!(h.len(), 64);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(new.keyed_hash("S1234567D"), h);
        assert_eq!(old.keyed_hash("S1234567D"), h);
        assert_ne!(old.keyed_hash("S1234567E"), h);
        // hash_key_id defaults to k1 when present, else the current key
        let implicit = keys(
            &serde_json::json!({"current_key_id": "k2", "keys": {"k1": K1, "k2": K2}}).to_string(),
        );
        assert_eq!(implicit.keyed_hash("S1234567D"), h);
        let only_k2 =
            keys(&serde_json::json!({"current_key_id": "k2", "keys": {"k2": K2}}).to_string());
        assert_ne!(only_k2.keyed_hash("S1234567D"), h);
        let hashed_by_k2 = keys(
            &serde_json::json!({"current_key_id": "k1", "hash_key_id": "k2",
                "keys": {"k1": K1, "k2": K2}})
            .to_string(),
        );
        assert_eq!(
            hashed_by_k2.keyed_hash("S1234567D"),
            only_k2.keyed_hash("S1234567D")
        );
    }

    #[test]
    fn the_derivation_is_as_documented() {
        let expect_hash = {
            let mut m = <HmacSha256 as Mac>::new_from_slice(K1.as_bytes()).unwrap();
            m.update(HASH_LABEL);
            let hk = m.finalize().into_bytes();
            let mut m = <HmacSha256 as Mac>::new_from_slice(&hk).unwrap();
            m.update(b"S1234567D");
            m.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(keys(&doc_k1()).keyed_hash("S1234567D"), expect_hash);

        let aes_key = derive(K1, ENCRYPTION_LABEL).unwrap();
        let cipher = <Aes256Gcm as KeyInit>::new_from_slice(&aes_key).unwrap();
        let nonce = [7u8; NONCE_BYTES];
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: b"S1234567D",
                    aad: b"t",
                },
            )
            .unwrap();
        let sealed = Sealed {
            key_id: "k1".into(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ct),
        };
        assert_eq!(keys(&doc_k1()).open(&sealed, "t").unwrap(), "S1234567D");
    }

    #[test]
    fn a_wrong_aad_fails() {
        let k = keys(&doc_k1());
        let s = k.seal("S1234567D", "trainee-1").unwrap();
        assert_eq!(k.open(&s, "trainee-2"), Err(PiiError::Open));
        assert_eq!(k.open(&s, ""), Err(PiiError::Open));
    }

    #[test]
    fn a_tampered_value_fails() {
        let k = keys(&doc_k1());
        let s = k.seal("S1234567D", "t").unwrap();
        let mut bytes = STANDARD.decode(&s.ciphertext).unwrap();
        for i in [0, bytes.len() - 1] {
            bytes[i] ^= 1;
            let t = Sealed {
                ciphertext: STANDARD.encode(&bytes),
                ..s.clone()
            };
            assert_eq!(k.open(&t, "t"), Err(PiiError::Open), "byte {i}");
            bytes[i] ^= 1;
        }
        let truncated = Sealed {
            ciphertext: STANDARD.encode(&bytes[..10]),
            ..s.clone()
        };
        assert_eq!(k.open(&truncated, "t"), Err(PiiError::Open));
        let no_ciphertext = Sealed {
            ciphertext: String::new(),
            ..s.clone()
        };
        assert_eq!(k.open(&no_ciphertext, "t"), Err(PiiError::Open));
        let other_nonce = Sealed {
            nonce: STANDARD.encode([0u8; NONCE_BYTES]),
            ..s.clone()
        };
        assert_eq!(k.open(&other_nonce, "t"), Err(PiiError::Open));
        // a value sealed with k1 but labelled k2 does not open with k2
        let relabelled = Sealed {
            key_id: "k2".into(),
            ..s.clone()
        };
        assert_eq!(
            keys(&doc_rotated()).open(&relabelled, "t"),
            Err(PiiError::Open)
        );
    }

    #[test]
    fn malformed_sealed_values_fail_without_panicking() {
        let k = keys(&doc_k1());
        let s = k.seal("S1234567D", "t").unwrap();
        for nonce in [
            "not base64!".to_string(),
            String::new(),
            STANDARD.encode([0u8; 11]),
            STANDARD.encode([0u8; 13]),
            URL_SAFE_NO_PAD.encode([0xffu8; 12]),
        ] {
            let t = Sealed {
                nonce: nonce.clone(),
                ..s.clone()
            };
            assert_eq!(k.open(&t, "t"), Err(PiiError::MalformedSealed), "{nonce:?}");
        }
        let t = Sealed {
            ciphertext: "%%%".into(),
            ..s.clone()
        };
        assert_eq!(k.open(&t, "t"), Err(PiiError::MalformedSealed));
    }

    #[test]
    fn an_unknown_key_id_fails() {
        let k = keys(&doc_k1());
        let s = k.seal("S1234567D", "t").unwrap();
        for id in ["k9", "", "K1"] {
            let t = Sealed {
                key_id: id.into(),
                ..s.clone()
            };
            assert_eq!(k.open(&t, "t"), Err(PiiError::UnknownKeyId), "{id:?}");
        }
    }

    #[test]
    fn bad_documents_are_refused_without_showing_keys() {
        let short = "only-31-characters-of-key-text!";
        assert_eq!(short.len(), 31);
        let cases = [
            ("", PiiError::MalformedDocument),
            ("{", PiiError::MalformedDocument),
            ("[]", PiiError::MalformedDocument),
            (r#"{"keys": {}}"#, PiiError::MalformedDocument),
            (r#"{"current_key_id": "k1"}"#, PiiError::MissingCurrentKey),
            (
                r#"{"current_key_id": 1, "keys": {}}"#,
                PiiError::MalformedDocument,
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(PiiKeys::from_document(doc).err(), Some(want), "{doc}");
        }
        let json = |v: serde_json::Value| v.to_string();
        let cases = [
            (
                json(serde_json::json!({"current_key_id": "k1", "keys": {"k1": short}})),
                PiiError::KeyTooShort,
            ),
            (
                json(serde_json::json!({"current_key_id": "k2", "keys": {"k1": K1, "k2": short}})),
                PiiError::KeyTooShort,
            ),
            (
                json(serde_json::json!({"current_key_id": "k2", "keys": {"k1": K1}})),
                PiiError::MissingCurrentKey,
            ),
            (
                json(serde_json::json!({"current_key_id": "k1", "keys": {}})),
                PiiError::MissingCurrentKey,
            ),
            (
                json(
                    serde_json::json!({"current_key_id": "k1", "hash_key_id": "k3",
                    "keys": {"k1": K1}}),
                ),
                PiiError::MissingHashKey,
            ),
            (
                json(serde_json::json!({"current_key_id": "k 1", "keys": {"k 1": K1}})),
                PiiError::BadKeyId,
            ),
            (
                json(serde_json::json!({"current_key_id": "", "keys": {"k1": K1}})),
                PiiError::BadKeyId,
            ),
            (
                json(serde_json::json!({"current_key_id": "k1",
                    "keys": {"k1": K1, "a-key-id-of-17-ch": K2}})),
                PiiError::BadKeyId,
            ),
            (
                json(
                    serde_json::json!({"current_key_id": "k1", "hash_key_id": "k/1",
                    "keys": {"k1": K1}}),
                ),
                PiiError::BadKeyId,
            ),
            (
                json(serde_json::json!({"current_key_id": "k1", "hash_key": "k1",
                    "keys": {"k1": K1}})),
                PiiError::MalformedDocument,
            ),
            (
                json(serde_json::json!({"current_key_id": "k1", "keys": {"k1": 12345}})),
                PiiError::MalformedDocument,
            ),
        ];
        for (doc, want) in cases {
            let e = PiiKeys::from_document(&doc).err();
            assert_eq!(e, Some(want), "{doc}");
            let msg = want.to_string();
            assert!(!msg.contains(K1) && !msg.contains(K2) && !msg.contains(short));
        }
        // exactly 32 characters and a 16-character id are enough
        let ok = serde_json::json!({"current_key_id": "Key_id-16-chars_",
            "keys": {"Key_id-16-chars_": "0123456789abcdef0123456789abcdef"}});
        assert!(PiiKeys::from_document(&ok.to_string()).is_ok());
        assert!(PiiKeys::from_document(&format!("  {}\n", doc_k1())).is_ok());
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let k = keys(&doc_rotated());
        for printed in [format!("{k:?}"), format!("{k:#?}")] {
            assert!(
                printed.contains("k1") && printed.contains("k2"),
                "{printed}"
            );
            assert!(!printed.contains(K1) && !printed.contains(K2), "{printed}");
            assert!(!printed.contains("0123456789"), "{printed}");
        }
        assert_eq!(
            format!("{k:?}"),
            r#"PiiKeys { current_key_id: "k2", hash_key_id: "k1", key_ids: ["k1", "k2"] }"#
        );
    }

    #[test]
    fn generated_documents_parse_and_differ() {
        let a = PiiKeys::generate_document();
        let b = PiiKeys::generate_document();
        assert_ne!(a, b);
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v["current_key_id"], "k1");
        assert_eq!(v["hash_key_id"], "k1");
        let key = v["keys"]["k1"].as_str().unwrap();
        assert_eq!(key.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(key).unwrap().len(), 32);
        let k = PiiKeys::from_document(&a).unwrap();
        assert_eq!(k.current_key_id(), "k1");
        let s = k.seal("S1234567D", "t").unwrap();
        assert_eq!(k.open(&s, "t").unwrap(), "S1234567D");
        let other = PiiKeys::from_document(&b).unwrap();
        assert_eq!(other.open(&s, "t"), Err(PiiError::Open));
        assert_ne!(k.keyed_hash("S1234567D"), other.keyed_hash("S1234567D"));
    }

    #[test]
    fn top_level_key_members_are_read_as_keys() {
        let long = "x".repeat(40);
        let flat =
            format!(r#"{{"current_key_id": "k1", "hash_key_id": "k1", "key_k1": "{long}"}}"#);
        let nested = format!(r#"{{"current_key_id": "k1", "keys": {{"k1": "{long}"}}}}"#);
        let a = PiiKeys::from_document(&flat).unwrap();
        let b = PiiKeys::from_document(&nested).unwrap();
        assert_eq!(a.keyed_hash("S1234567D"), b.keyed_hash("S1234567D"));
        let sealed = a.seal("S1234567D", "t").unwrap();
        assert_eq!(b.open(&sealed, "t").unwrap(), "S1234567D");
        let twice = format!(
            r#"{{"current_key_id": "k1", "key_k1": "{long}", "keys": {{"k1": "{long}"}}}}"#
        );
        assert_eq!(
            PiiKeys::from_document(&twice).unwrap_err(),
            PiiError::MalformedDocument
        );
        let other =
            format!(r#"{{"current_key_id": "k1", "key_k1": "{long}", "hash_kee_id": "k1"}}"#);
        assert_eq!(
            PiiKeys::from_document(&other).unwrap_err(),
            PiiError::MalformedDocument
        );
    }
}
