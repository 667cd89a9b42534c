//! Users and their roles (Admin), one's own record and password (anyone
//! signed in), and the first Admin of a new installation.

use serde::{Deserialize, Serialize};
use tms_auth::password;
use tms_domain::access::{Action, Area, Role};
use tms_domain::ids::{TypedId, UserId};
use tms_domain::patch::{apply_merge_patch, MergePatch};
use tms_domain::types::Password;
use tms_domain::user::{NewUser, PasswordChangeInput, User, UserInput, UserPatchInput, UserView};
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::error::AppError;
use crate::records::{decode, email_guard_item, user_item};
use crate::write::{outcome, ChangeSet, OnConflict};
use crate::{keys, parse_paging, App, ListPage};

/// A user as answered, with its ETag version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserRecordView {
    #[serde(flatten)]
    pub user: UserView,
    pub version: u64,
}

impl UserRecordView {
    fn of(u: &User, version: u64) -> Self {
        UserRecordView {
            user: UserView::from(u),
            version,
        }
    }
    pub fn location(&self) -> String {
        format!("/users/{}", self.user.id)
    }
}

/// The query string of `GET /users`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserListParams {
    /// Items per page (default 20).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The password policy's verdict as a field error.
fn check_password(errors: &mut ValidationErrors, field: &str, p: &Password, email: &str) {
    if let Err(why) = password::check_policy(p, email) {
        errors.push(field, why);
    }
}

impl App {
    /// Creates a user with roles (Admin): 1 TransactWriteItems (user, e-mail
    /// guard, audit record). 409 when the e-mail is taken.
    pub async fn create_user(
        &self,
        ctx: &RequestContext,
        input: UserInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::Users, Action::Write, "user")?;
        let parsed = input.parse().and_then(|n| {
            let mut errors = ValidationErrors::default();
            check_password(&mut errors, "password", &n.password, &n.email);
            errors.into_result(n)
        });
        let new = match self
            .replay_or(ctx, idem.as_ref(), parsed.map_err(AppError::from))
            .await?
        {
            Ok(n) => n,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        let (view, change) = self.new_user_change(ctx, &new).await?;
        let response = Written::of(&view, 1, Some(view.location()))?;
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    async fn new_user_change(
        &self,
        ctx: &RequestContext,
        new: &NewUser,
    ) -> Result<(UserRecordView, ChangeSet), AppError> {
        let hash = self.hash_password(new.password.clone()).await?;
        let now = self.now();
        let id: UserId = UserId::parse(&self.ids.new_id())
            .map_err(|_| AppError::Internal("the id generator made a bad user id".into()))?;
        let user = User::create(id, new, hash, now);
        let view = UserRecordView::of(&user, 1);
        let mut change = ChangeSet::default();
        change.put_new(user_item(&user, 1)?, OnConflict::Exists("user"));
        change.put_new(
            email_guard_item(&user.email, &user.id),
            OnConflict::Exists("user with this e-mail"),
        );
        change.audit(&self.audit_record(
            ctx,
            EntityType::User,
            user.id.as_str(),
            AuditAction::UserCreated,
            serde_json::to_value(&view.user)?,
            now,
        ))?;
        Ok((view, change))
    }

    /// Users by e-mail (Admin, Auditor): 1 Query per page.
    pub async fn list_users(
        &self,
        ctx: &RequestContext,
        params: &UserListParams,
    ) -> Result<ListPage<UserRecordView>, AppError> {
        self.authorize(ctx, Area::Users, Action::Read, "user")?;
        let (limit, cursor) = parse_paging(params.limit.as_deref(), params.cursor.as_deref())?;
        if cursor.as_ref().is_some_and(|c| !keys::is_user_cursor(c)) {
            return Err(AppError::InvalidCursor);
        }
        let query = Query {
            index: Some(tms_ports::Index::Gsi1),
            pk: keys::USERS.into(),
            sk: SkCondition::Any,
            forward: true,
            limit,
            cursor,
        };
        self.list_page(&query, |item| {
            Ok(UserRecordView::of(&decode::<User>(item)?, item.version))
        })
        .await
    }

    /// One user (Admin, Auditor; anyone for themselves): 1 GetItem.
    pub async fn get_user(
        &self,
        ctx: &RequestContext,
        id: &UserId,
    ) -> Result<UserRecordView, AppError> {
        if ctx.actor.user_id != id.as_str() {
            self.authorize(ctx, Area::Users, Action::Read, "user")?;
        }
        let (u, v) = self.read_user(id).await?;
        Ok(UserRecordView::of(&u, v))
    }

    /// The signed-in user.
    pub async fn me(&self, ctx: &RequestContext) -> Result<UserRecordView, AppError> {
        let id = UserId::parse(&ctx.actor.user_id).map_err(|_| AppError::NotFound("user"))?;
        self.get_user(ctx, &id).await
    }

    /// Changes a user's name or active flag by merge patch (Admin).
    /// Deactivating revokes their refresh tokens; no one deactivates
    /// themselves.
    pub async fn update_user(
        &self,
        ctx: &RequestContext,
        id: &UserId,
        if_match: Option<Precondition>,
        patch: MergePatch,
    ) -> Result<Written, AppError> {
        self.authorize(ctx, Area::Users, Action::Write, "user")?;
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let (current, version) = self.read_user(id).await?;
        let expected = Precondition::check(if_match.as_ref(), version)?;
        let base = UserPatchInput {
            name: Some(current.name.clone()),
            active: Some(current.active),
        };
        let merged: UserPatchInput = apply_merge_patch(&base, &patch)?;
        let mut errors = ValidationErrors::default();
        if merged.name.is_none() {
            errors.push("name", "is required");
        }
        if merged.active.is_none() {
            errors.push("active", "is required");
        }
        if merged.active == Some(false) && ctx.actor.user_id == id.as_str() {
            errors.push("active", "you cannot deactivate yourself");
        }
        errors.into_result(())?;
        let next = current.patched(&merged, self.now())?;
        self.write_user(
            ctx,
            &next,
            expected,
            if_match.as_ref(),
            AuditAction::UserUpdated,
        )
        .await
    }

    /// Grants or revokes a role (Admin). Revokes the user's refresh tokens
    /// (roles are claims of the tokens); an Admin keeps their own Admin role.
    pub async fn set_role(
        &self,
        ctx: &RequestContext,
        id: &UserId,
        role: Role,
        granted: bool,
        if_match: Option<Precondition>,
    ) -> Result<Written, AppError> {
        self.authorize(ctx, Area::Users, Action::Write, "user")?;
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        if !granted && role == Role::Admin && ctx.actor.user_id == id.as_str() {
            return Err(AppError::Conflict(
                "you cannot remove your own admin role; another admin can".into(),
            ));
        }
        let (current, version) = self.read_user(id).await?;
        let expected = Precondition::check(if_match.as_ref(), version)?;
        if current.roles.contains(&role) == granted {
            return Err(AppError::Conflict(if granted {
                "the user has this role already".into()
            } else {
                "the user does not have this role".into()
            }));
        }
        let next = current.with_role(role, granted, self.now());
        let action = if granted {
            AuditAction::UserRoleGranted
        } else {
            AuditAction::UserRoleRevoked
        };
        self.write_user(ctx, &next, expected, if_match.as_ref(), action)
            .await
    }

    /// Changes the signed-in user's own password (the old one required).
    pub async fn change_own_password(
        &self,
        ctx: &RequestContext,
        input: PasswordChangeInput,
    ) -> Result<(), AppError> {
        let mut errors = ValidationErrors::default();
        match &input.old_password {
            None => errors.push("old_password", "is required"),
            Some(p) => crate::auth::presented_password(&mut errors, "old_password", p),
        }
        match &input.new_password {
            None => errors.push("new_password", "is required"),
            // What can be said without the user (length, characters,
            // common passwords) is said before anything is read.
            Some(new) => check_password(&mut errors, "new_password", new, ""),
        }
        let (Some(old), Some(new), true) =
            (input.old_password, input.new_password, errors.is_empty())
        else {
            return Err(errors.into());
        };
        let id = UserId::parse(&ctx.actor.user_id).map_err(|_| AppError::Unauthenticated)?;
        let (current, version) = self.read_user(&id).await?;
        check_password(&mut errors, "new_password", &new, &current.email);
        let hash = current.password_hash.clone();
        let old_ok = tokio::task::spawn_blocking(move || password::verify(&old, &hash))
            .await
            .unwrap_or(false);
        if !old_ok {
            errors.push("old_password", "is not your current password");
        }
        errors.into_result(())?;
        let next = current.with_password(self.hash_password(new).await?, self.now());
        self.write_user(ctx, &next, version, None, AuditAction::UserPasswordChanged)
            .await?;
        Ok(())
    }

    /// Writes a user at the next version with its audit record (the
    /// snapshot is the view: no hash).
    async fn write_user(
        &self,
        ctx: &RequestContext,
        next: &User,
        expected: u64,
        if_match: Option<&Precondition>,
        action: AuditAction,
    ) -> Result<Written, AppError> {
        let view = UserRecordView::of(next, expected + 1);
        let response = Written::of(&view, expected + 1, None)?;
        let mut change = ChangeSet::default();
        change.put_versioned(
            user_item(next, expected + 1)?,
            expected,
            match if_match {
                Some(p) => OnConflict::against(Some(p), "user"),
                None => OnConflict::Moved("user"),
            },
        );
        change.audit(&self.audit_record(
            ctx,
            EntityType::User,
            next.id.as_str(),
            action,
            serde_json::to_value(&view.user)?,
            next.updated_at,
        ))?;
        self.commit(ctx, change, None).await?;
        Ok(response)
    }

    /// The first Admin: created when no user has this e-mail yet, by the
    /// system (the local run on start, or the one-off bootstrap command).
    /// Returns whether it was created.
    pub async fn ensure_admin(&self, email: &str, password: Password) -> Result<bool, AppError> {
        let input = UserInput {
            email: Some(email.to_string()),
            name: Some("Administrator".into()),
            password: Some(password),
            roles: Some(vec![Role::Admin.as_str().to_string()]),
        };
        let mut new = input.parse()?;
        let mut errors = ValidationErrors::default();
        check_password(&mut errors, "password", &new.password, &new.email);
        errors.into_result(())?;
        if self.user_by_email(&new.email).await?.is_some() {
            return Ok(false);
        }
        new.roles = vec![Role::Admin];
        let ctx = RequestContext {
            actor: crate::context::Actor {
                user_id: "system:bootstrap".into(),
                roles: vec![Role::Admin],
            },
            correlation_id: uuid::Uuid::new_v4().to_string(),
        };
        let (_, change) = self.new_user_change(&ctx, &new).await?;
        match self.commit(&ctx, change, None).await {
            Ok(_) => Ok(true),
            // Created meanwhile by another instance.
            Err(AppError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
