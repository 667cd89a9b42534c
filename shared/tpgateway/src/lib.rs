//! TPGateway's wire protocol, as API-NOTES.md describes it, shared by the
//! TPGateway client (an adapter) and the fake TPGateway the tests and the
//! local run talk to, so that both sides encrypt and decrypt the same way.

pub mod crypto;
pub mod secret;

pub use crypto::{CryptoError, EncryptionKey};
pub use secret::{Auth, SecretError, SecretText, TpGatewaySecret};
