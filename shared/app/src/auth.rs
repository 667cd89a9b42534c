//! Sign-in: login, refresh-token rotation, logout, the access token's
//! signing key (from the secrets port), and the check of an access token
//! that every request but login and refresh goes through.
//!
//! Access tokens are JWTs signed with HS256 (tms-auth), at most 15 minutes
//! long. Refresh tokens are random, stored only as their SHA-256, with a
//! TTL; each login starts a chain, each refresh marks the presented token
//! used and issues the next; presenting a used token again revokes the
//! chain. Deactivating a user, changing their roles or password bumps their
//! token generation, which refuses every refresh token issued before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tms_auth::jwt::{self, Claims, Expect};
use tms_auth::{password, refresh, SigningKey};
use tms_domain::access::Role;
use tms_domain::ids::{TypedId, UserId};
use tms_domain::types::Password;
use tms_domain::user::{parse_email, LoginInput, RefreshInput, User};
use tms_domain::{EntityType, ValidationErrors};
use tms_ports::{Condition, Item, Secrets, StoreError, WriteOp};
use tokio::sync::Mutex;

use crate::context::Actor;
use crate::error::AppError;
use crate::records::decode;
use crate::{keys, App};

/// Failed sign-ins allowed for one e-mail within [`LOGIN_WINDOW_SECS`].
pub const MAX_FAILED_LOGINS: u32 = 5;
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// The longest an access token may live.
pub const MAX_ACCESS_TTL: Duration = Duration::from_secs(15 * 60);

/// How tokens are issued and checked.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The secret holding `{"signing_key": "<base64 of >= 32 bytes>"}`.
    pub secret_id: String,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a read signing key is used before it is read again.
    pub key_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            secret_id: "tms/auth".into(),
            issuer: "tms".into(),
            audience: "tms-api".into(),
            access_ttl: MAX_ACCESS_TTL,
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            key_ttl: Duration::from_secs(300),
        }
    }
}

/// The signing key, read through the secrets port and cached.
pub struct AuthKeys {
    secrets: Arc<dyn Secrets>,
    pub settings: AuthSettings,
    cache: Mutex<Option<(SigningKey, Instant)>>,
}

#[derive(Deserialize)]
struct AuthSecret {
    signing_key: String,
}

impl AuthKeys {
    pub fn new(secrets: Arc<dyn Secrets>, mut settings: AuthSettings) -> Self {
        settings.access_ttl = settings.access_ttl.min(MAX_ACCESS_TTL);
        AuthKeys {
            secrets,
            settings,
            cache: Mutex::new(None),
        }
    }

    pub async fn key(&self) -> Result<SigningKey, AppError> {
        let mut slot = self.cache.lock().await;
        if let Some((k, at)) = slot.as_ref() {
            if at.elapsed() < self.settings.key_ttl {
                return Ok(k.clone());
            }
        }
        let text = self
            .secrets
            .read(&self.settings.secret_id)
            .await
            .map_err(|e| AppError::Unavailable(format!("the token signing key: {e}")))?;
        let doc: AuthSecret = serde_json::from_str(text.expose()).map_err(|_| {
            AppError::Internal("the auth secret is not {\"signing_key\": \"<base64>\"}".into())
        })?;
        let key = SigningKey::from_base64(&doc.signing_key)
            .map_err(|e| AppError::Internal(format!("the auth secret's signing_key: {e}")))?;
        *slot = Some((key.clone(), Instant::now()));
        Ok(key)
    }

    fn expect(&self) -> Expect {
        Expect {
            issuer: self.settings.issuer.clone(),
            audience: self.settings.audience.clone(),
            leeway_secs: 30,
        }
    }

    /// The actor of a bearer token, or 401.
    pub async fn actor_of(&self, token: &str, now: DateTime<Utc>) -> Result<Actor, AppError> {
        let key = self.key().await?;
        let claims = jwt::verify(&key, token, &self.expect(), now.timestamp()).map_err(|e| {
            tracing::info!(reason = %e, "access token refused");
            AppError::Unauthenticated
        })?;
        let user_id = UserId::parse(&claims.sub).map_err(|_| AppError::Unauthenticated)?;
        let roles = claims
            .roles
            .iter()
            .map(|r| Role::parse(r).map_err(|_| AppError::Unauthenticated))
            .collect::<Result<Vec<Role>, AppError>>()?;
        Ok(Actor {
            user_id: user_id.to_string(),
            roles,
        })
    }
}

/// What login and refresh answer.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// A stored refresh token (under the SHA-256 of the token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RefreshRecord {
    user_id: String,
    chain_id: String,
    generation: u64,
    used: bool,
    expires_at: DateTime<Utc>,
}

/// A chain of refresh tokens, from one login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ChainRecord {
    user_id: String,
    revoked: bool,
}

/// Failed sign-ins of one e-mail in the current window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FailedLogins {
    count: u32,
    window_start: DateTime<Utc>,
}

fn item(pk: String, entity: EntityType, data: serde_json::Value, expires: Option<i64>) -> Item {
    let mut i = Item::new(pk.clone(), pk, entity.as_str(), data);
    i.expires_at = expires;
    i
}

fn data<T: Serialize>(v: &T) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(v).map_err(|e| AppError::Internal(format!("serialize: {e}")))
}

/// A password given to be checked (sign-in, the old one of a change): it
/// cannot be anyone's if it is over-long or holds characters no password
/// may hold; said as a field error, with no look at any user.
pub(crate) fn presented_password(errors: &mut ValidationErrors, field: &str, p: &Password) {
    let text = p.expose();
    if text.chars().count() > password::MAX_LEN {
        errors.push(
            field,
            format!("must be at most {} characters", password::MAX_LEN),
        );
    } else if text.chars().any(char::is_control) {
        errors.push(field, "must not contain control characters");
    } else if let Some(why) = tms_domain::types::text_problem(text) {
        errors.push(field, why);
    } else if text.is_empty() {
        errors.push(field, "is required");
    }
}

/// A refresh token as this system issues them (43 base64url characters),
/// or a 422 naming the field: a malformed one cannot be anyone's.
fn presented_refresh_token(input: RefreshInput) -> Result<Password, AppError> {
    let Some(token) = input.refresh_token else {
        return Err(ValidationErrors::single("refresh_token", "is required").into());
    };
    let t = token.expose();
    if t.len() != 43
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ValidationErrors::single(
            "refresh_token",
            "is not a refresh token: 43 characters of A-Z, a-z, 0-9, - and _",
        )
        .into());
    }
    Ok(token)
}

impl App {
    /// Hashing and verifying passwords is deliberately slow work: off the
    /// async threads.
    pub(crate) async fn hash_password(&self, p: Password) -> Result<String, AppError> {
        tokio::task::spawn_blocking(move || password::hash(&p))
            .await
            .map_err(|_| AppError::Internal("password hashing stopped".into()))?
            .map_err(|e| AppError::Internal(format!("password hashing: {e}")))
    }

    async fn verify_password(&self, p: Password, hash: Option<String>) -> bool {
        tokio::task::spawn_blocking(move || match hash {
            Some(h) => password::verify(&p, &h),
            None => {
                password::verify_dummy(&p);
                false
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Signs in: the same 401 after the same work for an unknown e-mail, a
    /// wrong password or a deactivated user; 429 after too many failures.
    pub async fn login(&self, input: LoginInput) -> Result<TokenPair, AppError> {
        let mut errors = ValidationErrors::default();
        let email = parse_email(&mut errors, "email", input.email.as_deref());
        match &input.password {
            None => errors.push("password", "is required"),
            Some(p) => presented_password(&mut errors, "password", p),
        }
        let (Some(email), Some(pw), true) = (email, input.password, errors.is_empty()) else {
            return Err(errors.into());
        };
        let now = self.now();
        let fail_pk = keys::login_failures_pk(&email);
        let failures = self.store.get(&fail_pk, &fail_pk).await?;
        let current: Option<(FailedLogins, u64)> = match &failures {
            Some(i) => Some((serde_json::from_value(i.data.clone())?, i.version)),
            None => None,
        };
        let window_end =
            |f: &FailedLogins| f.window_start + chrono::Duration::seconds(LOGIN_WINDOW_SECS);
        if let Some((f, _)) = &current {
            if f.count >= MAX_FAILED_LOGINS && window_end(f) > now {
                let secs = (window_end(f) - now).num_seconds().max(1);
                return Err(AppError::TooManyAttempts {
                    retry_after_secs: u32::try_from(secs).unwrap_or(u32::MAX),
                });
            }
        }
        let user = self.user_by_email(&email).await?;
        let ok = self
            .verify_password(pw, user.as_ref().map(|(u, _)| u.password_hash.clone()))
            .await;
        let user = match user {
            Some((u, _)) if ok && u.active => u,
            _ => {
                self.count_failed_login(&fail_pk, current, now).await?;
                tracing::info!("sign-in refused");
                return Err(AppError::Unauthenticated);
            }
        };
        if failures.is_some() {
            let _ = self
                .store
                .transact_write(vec![WriteOp::Delete {
                    pk: fail_pk.clone(),
                    sk: fail_pk,
                    condition: Condition::None,
                }])
                .await;
        }
        let chain_id = self.ids.new_id();
        let chain = item(
            keys::refresh_chain_pk(&chain_id),
            EntityType::RefreshChain,
            data(&ChainRecord {
                user_id: user.id.to_string(),
                revoked: false,
            })?,
            Some((now + self.refresh_ttl()).timestamp()),
        );
        let (pair, token_item) = self.issue(&user, &chain_id, now).await?;
        self.store
            .transact_write(vec![
                WriteOp::Put {
                    item: chain,
                    condition: Condition::NotExists,
                },
                WriteOp::Put {
                    item: token_item,
                    condition: Condition::NotExists,
                },
            ])
            .await?;
        tracing::info!(user_id = %user.id, "signed in");
        Ok(pair)
    }

    fn refresh_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.auth.settings.refresh_ttl)
            .unwrap_or(chrono::Duration::days(7))
    }

    /// An access token and a new refresh token (its item to store).
    async fn issue(
        &self,
        user: &User,
        chain_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(TokenPair, Item), AppError> {
        let key = self.auth.key().await?;
        let ttl = self.auth.settings.access_ttl;
        let claims = Claims {
            sub: user.id.to_string(),
            roles: user.roles.iter().map(|r| r.as_str().to_string()).collect(),
            iss: self.auth.settings.issuer.clone(),
            aud: self.auth.settings.audience.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: now.timestamp() + ttl.as_secs() as i64,
            jti: self.ids.new_id(),
        };
        let refresh_token = refresh::new_token();
        let expires = now + self.refresh_ttl();
        let record = RefreshRecord {
            user_id: user.id.to_string(),
            chain_id: chain_id.to_string(),
            generation: user.token_generation,
            used: false,
            expires_at: expires,
        };
        let token_item = item(
            keys::refresh_token_pk(&refresh::token_hash(&refresh_token)),
            EntityType::RefreshToken,
            data(&record)?,
            Some(expires.timestamp()),
        );
        Ok((
            TokenPair {
                access_token: jwt::sign(&key, &claims),
                token_type: "Bearer",
                expires_in: ttl.as_secs(),
                refresh_token,
            },
            token_item,
        ))
    }

    async fn count_failed_login(
        &self,
        pk: &str,
        current: Option<(FailedLogins, u64)>,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let (next, condition, version) = match current {
            Some((f, v)) if f.window_start + chrono::Duration::seconds(LOGIN_WINDOW_SECS) > now => {
                (
                    FailedLogins {
                        count: f.count + 1,
                        window_start: f.window_start,
                    },
                    Condition::VersionIs(v),
                    v + 1,
                )
            }
            Some((_, v)) => (
                FailedLogins {
                    count: 1,
                    window_start: now,
                },
                Condition::VersionIs(v),
                v + 1,
            ),
            None => (
                FailedLogins {
                    count: 1,
                    window_start: now,
                },
                Condition::NotExists,
                1,
            ),
        };
        let mut i = item(
            pk.to_string(),
            EntityType::LoginFailures,
            data(&next)?,
            Some((next.window_start + chrono::Duration::seconds(LOGIN_WINDOW_SECS)).timestamp()),
        );
        i.version = version;
        match self.store.put(i, condition).await {
            // A concurrent failure counted first: one of the two counts is
            // enough to keep the limit close (the next failure counts again).
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Rotates a refresh token: the presented one becomes used and a new
    /// pair is issued. A used, revoked, expired or unknown token is 401; a
    /// used one presented again revokes its whole chain.
    pub async fn refresh(&self, input: RefreshInput) -> Result<TokenPair, AppError> {
        let token = presented_refresh_token(input)?;
        let now = self.now();
        let pk = keys::refresh_token_pk(&refresh::token_hash(token.expose()));
        let Some(found) = self.store.get(&pk, &pk).await? else {
            return Err(AppError::InvalidRefreshToken);
        };
        let record: RefreshRecord = serde_json::from_value(found.data.clone())?;
        if record.expires_at <= now {
            return Err(AppError::InvalidRefreshToken);
        }
        let chain_pk = keys::refresh_chain_pk(&record.chain_id);
        let Some(chain_item) = self.store.get(&chain_pk, &chain_pk).await? else {
            return Err(AppError::InvalidRefreshToken);
        };
        let chain: ChainRecord = serde_json::from_value(chain_item.data.clone())?;
        if chain.revoked {
            return Err(AppError::InvalidRefreshToken);
        }
        if record.used {
            tracing::warn!(user_id = %record.user_id, "a used refresh token was presented again; its chain is revoked");
            self.revoke_chain(&chain_pk, chain, chain_item.version)
                .await?;
            return Err(AppError::InvalidRefreshToken);
        }
        let user = match UserId::parse(&record.user_id) {
            Ok(id) => self.read_user(&id).await.ok(),
            Err(_) => None,
        };
        let Some((user, _)) =
            user.filter(|(u, _)| u.active && u.token_generation == record.generation)
        else {
            return Err(AppError::InvalidRefreshToken);
        };
        let (pair, next_item) = self.issue(&user, &record.chain_id, now).await?;
        let mut used = found.clone();
        used.data = data(&RefreshRecord {
            used: true,
            ..record
        })?;
        used.version = found.version + 1;
        let mut chain_next = chain_item.clone();
        chain_next.expires_at = Some((now + self.refresh_ttl()).timestamp());
        chain_next.version = chain_item.version + 1;
        let written = self
            .store
            .transact_write(vec![
                WriteOp::Put {
                    item: used,
                    condition: Condition::VersionIs(found.version),
                },
                WriteOp::Put {
                    item: chain_next,
                    condition: Condition::VersionIs(chain_item.version),
                },
                WriteOp::Put {
                    item: next_item,
                    condition: Condition::NotExists,
                },
            ])
            .await;
        match written {
            Ok(()) => Ok(pair),
            // The same token rotated concurrently: a reuse.
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                if let Some(c) = self.store.get(&chain_pk, &chain_pk).await? {
                    let chain: ChainRecord = serde_json::from_value(c.data.clone())?;
                    self.revoke_chain(&chain_pk, chain, c.version).await?;
                }
                Err(AppError::InvalidRefreshToken)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn revoke_chain(
        &self,
        pk: &str,
        chain: ChainRecord,
        version: u64,
    ) -> Result<(), AppError> {
        let mut i = item(
            pk.to_string(),
            EntityType::RefreshChain,
            data(&ChainRecord {
                revoked: true,
                ..chain
            })?,
            Some((self.now() + self.refresh_ttl()).timestamp()),
        );
        i.version = version + 1;
        match self.store.put(i, Condition::VersionIs(version)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the refresh token's chain. An unknown token is accepted
    /// silently (logging out twice is not an error).
    pub async fn logout(&self, input: RefreshInput) -> Result<(), AppError> {
        let token = presented_refresh_token(input)?;
        let pk = keys::refresh_token_pk(&refresh::token_hash(token.expose()));
        let Some(found) = self.store.get(&pk, &pk).await? else {
            return Ok(());
        };
        let record: RefreshRecord = serde_json::from_value(found.data.clone())?;
        let chain_pk = keys::refresh_chain_pk(&record.chain_id);
        if let Some(c) = self.store.get(&chain_pk, &chain_pk).await? {
            let chain: ChainRecord = serde_json::from_value(c.data.clone())?;
            self.revoke_chain(&chain_pk, chain, c.version).await?;
        }
        tracing::info!(user_id = %record.user_id, "signed out");
        Ok(())
    }

    /// The user an e-mail belongs to (through its guard item).
    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<(User, u64)>, AppError> {
        let pk = keys::email_guard_pk(email);
        let Some(guard) = self.store.get(&pk, &pk).await? else {
            return Ok(None);
        };
        let Some(id) = guard
            .data
            .get("user_id")
            .and_then(|v| v.as_str())
            .and_then(|s| UserId::parse(s).ok())
        else {
            return Ok(None);
        };
        match self.read_user(&id).await {
            Ok(u) => Ok(Some(u)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn read_user(&self, id: &UserId) -> Result<(User, u64), AppError> {
        let pk = keys::user_pk(id);
        let item = self
            .store
            .get(&pk, &pk)
            .await?
            .ok_or(AppError::NotFound("user"))?;
        Ok((decode(&item)?, item.version))
    }
}
