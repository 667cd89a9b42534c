//! Users: who may sign in, with which roles. A user's password hash lives on
//! the stored user and never in a view, an audit snapshot or a log line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::error::ValidationErrors;
use crate::ids::UserId;
use crate::types::{required_text, Email, Password};

/// Longest display name.
pub const MAX_NAME: usize = 200;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// Lowercased: e-mail addresses are unique case-insensitively.
    pub email: String,
    pub name: String,
    pub active: bool,
    pub roles: Vec<Role>,
    /// argon2id, PHC string.
    pub password_hash: String,
    /// Bumped when the user is deactivated, their roles or password change:
    /// refresh tokens of an older generation are refused.
    pub token_generation: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a user looks like from outside: no hash, no token generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub active: bool,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            active: u.active,
            roles: u.roles.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// A create request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[schemars(extend("format" = "email"))]
    pub email: Option<String>,
    #[schemars(length(max = MAX_NAME))]
    pub name: Option<String>,
    pub password: Option<Password>,
    #[schemars(with = "Option<Vec<Role>>")]
    pub roles: Option<Vec<String>>,
}

/// A create request, checked (the password's strength is checked by the
/// caller, who owns the policy).
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: Password,
    pub roles: Vec<Role>,
}

/// Parses a role list: known names, each once.
pub fn parse_roles(errors: &mut ValidationErrors, field: &str, names: &[String]) -> Vec<Role> {
    let mut roles = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match Role::parse(n) {
            Ok(r) if roles.contains(&r) => errors.push(format!("{field}[{i}]"), "is listed twice"),
            Ok(r) => roles.push(r),
            Err(why) => errors.push(format!("{field}[{i}]"), why),
        }
    }
    roles
}

/// The e-mail as stored and guarded: checked, lowercased.
pub fn parse_email(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
) -> Option<String> {
    match value {
        None => {
            errors.push(field, "is required");
            None
        }
        Some(v) => Email::parse(v)
            .map(|e| e.normalized())
            .map_err(|why| errors.push(field, why))
            .ok(),
    }
}

impl UserInput {
    pub fn parse(&self) -> Result<NewUser, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let email = parse_email(&mut errors, "email", self.email.as_deref());
        let name = required_text(&mut errors, "name", self.name.as_deref(), MAX_NAME);
        if self.password.is_none() {
            errors.push("password", "is required");
        }
        let roles = match &self.roles {
            None => Vec::new(),
            Some(names) => parse_roles(&mut errors, "roles", names),
        };
        match (email, name, self.password.clone(), errors.is_empty()) {
            (Some(email), Some(name), Some(password), true) => Ok(NewUser {
                email,
                name,
                password,
                roles,
            }),
            _ => Err(errors),
        }
    }
}

/// The fields of a user a merge patch may change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchInput {
    #[schemars(length(max = MAX_NAME))]
    pub name: Option<String>,
    pub active: Option<bool>,
}

/// A change of one's own password.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeInput {
    /// The password you have now.
    #[schemars(with = "Option<String>", extend("writeOnly" = true))]
    pub old_password: Option<Password>,
    pub new_password: Option<Password>,
}

/// Sign-in.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    pub email: Option<String>,
    #[schemars(with = "Option<String>", extend("writeOnly" = true))]
    pub password: Option<Password>,
}

/// A refresh token presented (refresh, logout).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshInput {
    /// The refresh token sign-in or the last refresh answered.
    #[schemars(with = "Option<String>", extend("writeOnly" = true))]
    pub refresh_token: Option<Password>,
}

impl User {
    pub fn create(id: UserId, new: &NewUser, password_hash: String, now: DateTime<Utc>) -> User {
        User {
            id,
            email: new.email.clone(),
            name: new.name.clone(),
            active: true,
            roles: new.roles.clone(),
            password_hash,
            token_generation: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// The user after a merge patch of name and active. Deactivating
    /// revokes the user's refresh tokens.
    pub fn patched(
        &self,
        input: &UserPatchInput,
        now: DateTime<Utc>,
    ) -> Result<User, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = match &input.name {
            None => self.name.clone(),
            Some(n) => required_text(&mut errors, "name", Some(n), MAX_NAME).unwrap_or_default(),
        };
        let active = input.active.unwrap_or(self.active);
        let mut next = User {
            name,
            active,
            updated_at: now,
            ..self.clone()
        };
        if self.active && !active {
            next.token_generation += 1;
        }
        errors.into_result(next)
    }

    /// The user with one role more or less; revokes refresh tokens (the
    /// roles are claims of the tokens).
    pub fn with_role(&self, role: Role, granted: bool, now: DateTime<Utc>) -> User {
        let mut roles: Vec<Role> = self.roles.iter().copied().filter(|r| *r != role).collect();
        if granted {
            roles.push(role);
            roles.sort_by_key(|r| r.as_str());
        }
        User {
            roles,
            token_generation: self.token_generation + 1,
            updated_at: now,
            ..self.clone()
        }
    }

    /// The user with a new password hash; revokes refresh tokens.
    pub fn with_password(&self, password_hash: String, now: DateTime<Utc>) -> User {
        User {
            password_hash,
            token_generation: self.token_generation + 1,
            updated_at: now,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TypedId;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn input() -> UserInput {
        UserInput {
            email: Some("Ops.Lead@Example.SG".into()),
            name: Some("Ops Lead".into()),
            password: Some(Password::new("a long enough pass")),
            roles: Some(vec!["ops_admin".into()]),
        }
    }

    #[test]
    fn create_lowercases_the_email_and_checks_roles() {
        let n = input().parse().unwrap();
        assert_eq!(n.email, "ops.lead@example.sg");
        assert_eq!(n.roles, vec![Role::OpsAdmin]);
        let mut bad = input();
        bad.roles = Some(vec!["root".into(), "ops_admin".into(), "ops_admin".into()]);
        bad.email = Some("not-an-email".into());
        let e = bad.parse().unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["email", "roles[0]", "roles[2]"]);
        let e = UserInput::default().parse().unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["email", "name", "password"]);
    }

    #[test]
    fn revocations_bump_the_generation() {
        let n = input().parse().unwrap();
        let u = User::create(
            UserId::parse("0193a4e2-7c1b-7d3e-9a51-2b7f00c0ff01").unwrap(),
            &n,
            "h".into(),
            now(),
        );
        assert_eq!(u.token_generation, 1);
        let renamed = u
            .patched(
                &UserPatchInput {
                    name: Some("New".into()),
                    active: None,
                },
                now(),
            )
            .unwrap();
        assert_eq!(renamed.token_generation, 1);
        let off = u
            .patched(
                &UserPatchInput {
                    name: None,
                    active: Some(false),
                },
                now(),
            )
            .unwrap();
        assert_eq!((off.active, off.token_generation), (false, 2));
        assert_eq!(
            u.with_role(Role::Auditor, true, now()).roles,
            vec![Role::Auditor, Role::OpsAdmin]
        );
        assert_eq!(u.with_role(Role::OpsAdmin, false, now()).roles, vec![]);
        assert_eq!(u.with_password("h2".into(), now()).token_generation, 2);
        let view = UserView::from(&u);
        let json = serde_json::to_string(&view).unwrap();
        assert!(
            !json.contains("password") && !json.contains("generation"),
            "{json}"
        );
        assert!(u
            .patched(
                &UserPatchInput {
                    name: Some(" ".into()),
                    active: None
                },
                now()
            )
            .is_err());
    }
}
