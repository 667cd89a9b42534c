//! Authentication, as pure computation: the signing key, HS256 tokens
//! (JWT), argon2id password hashes and the password policy, refresh
//! tokens. Used by login, by the token middleware and by the Lambda
//! authorizer alike, so that all three decide the same way. No I/O and no
//! clock: the time is passed in; the only outside input is the operating
//! system's random source (salts, refresh tokens, nonces). Also the keys
//! that seal national ids at rest (`pii`).

pub mod jwt;
pub mod key;
pub mod password;
pub mod pii;
pub mod refresh;

pub use jwt::{Claims, Expect, TokenError};
pub use key::{KeyError, SigningKey};
pub use password::PasswordError;
