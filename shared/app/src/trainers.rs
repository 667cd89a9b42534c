//! Trainers (Admin and Ops Admin manage; every role but none reads), their
//! link to a user (one trainer per user, by a guard item), and the trainer
//! of the acting user (what "own" means for a Trainer).

use serde::{Deserialize, Serialize};
use tms_domain::access::{Action, Area};
use tms_domain::ids::{TrainerId, TypedId, UserId};
use tms_domain::patch::MergePatch;
use tms_domain::trainer::{Trainer, TrainerInput, TrainerStatus};
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Index, Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::error::AppError;
use crate::records::{decode, trainer_item, trainer_user_guard_item};
use crate::write::{outcome, ChangeSet, OnConflict};
use crate::{keys, parse_paging, App, ListPage};

/// A trainer with its ETag version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrainerView {
    #[serde(flatten)]
    pub trainer: Trainer,
    pub version: u64,
}

impl TrainerView {
    pub fn location(&self) -> String {
        format!("/trainers/{}", self.trainer.id)
    }
}

/// The query string of `GET /trainers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainerListParams {
    #[schemars(with = "Option<tms_domain::trainer::TrainerStatus>")]
    pub status: Option<String>,
    /// Items per page (default 20).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const LINKED: OnConflict =
    OnConflict::Exists("trainer for this user (a user is one trainer at most)");
const NO_USER: OnConflict = OnConflict::Missing {
    field: "user_id",
    reason: "names no user",
};

impl App {
    /// Creates a trainer, optionally linked to a user: 1 TransactWriteItems
    /// (trainer, the user's guard, a check that the user exists, audit).
    pub async fn create_trainer(
        &self,
        ctx: &RequestContext,
        input: TrainerInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::Trainers, Action::Write, "trainer")?;
        let fields = match self
            .replay_or(ctx, idem.as_ref(), input.parse().map_err(AppError::from))
            .await?
        {
            Ok(f) => f,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        let id = TrainerId::parse(&self.ids.new_id())
            .map_err(|_| AppError::Internal("the id generator made a bad trainer id".into()))?;
        let now = self.now();
        let trainer = Trainer::create(id, fields, now);
        let view = TrainerView {
            trainer,
            version: 1,
        };
        let response = Written::of(&view, 1, Some(view.location()))?;
        let t = &view.trainer;
        let mut change = ChangeSet::default();
        change.put_new(trainer_item(t, 1)?, OnConflict::Exists("trainer"));
        if let Some(user) = &t.fields.user_id {
            link(&mut change, user, &t.id);
        }
        change.audit(&self.audit_record(
            ctx,
            EntityType::Trainer,
            t.id.as_str(),
            AuditAction::TrainerCreated,
            response.body.clone(),
            now,
        ))?;
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    /// Trainers by name, all or of one status: 1 Query per page.
    pub async fn list_trainers(
        &self,
        ctx: &RequestContext,
        params: &TrainerListParams,
    ) -> Result<ListPage<TrainerView>, AppError> {
        self.authorize(ctx, Area::Trainers, Action::Read, "trainer")?;
        let mut errors = ValidationErrors::default();
        let status = params.status.as_deref().and_then(|s| {
            TrainerStatus::parse(s)
                .map_err(|why| errors.push("status", why))
                .ok()
        });
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        if let Err(AppError::InvalidQuery(v)) = &paging {
            errors.0.extend(v.0.iter().cloned());
        }
        if !errors.is_empty() {
            return Err(AppError::InvalidQuery(errors));
        }
        let (limit, cursor) = paging?;
        if cursor.as_ref().is_some_and(|c| !keys::is_trainer_cursor(c)) {
            return Err(AppError::InvalidCursor);
        }
        let (index, pk) = match status {
            Some(s) => (Index::Gsi2, keys::trainers_by_status(s)),
            None => (Index::Gsi1, keys::TRAINERS.to_string()),
        };
        let query = Query {
            index: Some(index),
            pk,
            sk: SkCondition::Any,
            forward: true,
            limit,
            cursor,
        };
        self.list_page(&query, |item| {
            Ok(TrainerView {
                trainer: decode(item)?,
                version: item.version,
            })
        })
        .await
    }

    pub async fn get_trainer(
        &self,
        ctx: &RequestContext,
        id: &TrainerId,
    ) -> Result<TrainerView, AppError> {
        self.authorize(ctx, Area::Trainers, Action::Read, "trainer")?;
        self.read_trainer(id).await
    }

    pub(crate) async fn read_trainer(&self, id: &TrainerId) -> Result<TrainerView, AppError> {
        let pk = keys::trainer_pk(id);
        let item = self
            .store
            .get(&pk, &pk)
            .await?
            .ok_or(AppError::NotFound("trainer"))?;
        Ok(TrainerView {
            trainer: decode(&item)?,
            version: item.version,
        })
    }

    /// Changes a trainer by merge patch (If-Match); relinking to another
    /// user moves the guard in the same transaction.
    pub async fn update_trainer(
        &self,
        ctx: &RequestContext,
        id: &TrainerId,
        if_match: Option<Precondition>,
        patch: MergePatch,
    ) -> Result<Written, AppError> {
        self.authorize(ctx, Area::Trainers, Action::Write, "trainer")?;
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let current = self.read_trainer(id).await?;
        let expected = Precondition::check(if_match.as_ref(), current.version)?;
        let next = current.trainer.patched(&patch, self.now())?;
        let view = TrainerView {
            trainer: next,
            version: expected + 1,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let mut change = ChangeSet::default();
        change.put_versioned(
            trainer_item(&view.trainer, expected + 1)?,
            expected,
            OnConflict::against(if_match.as_ref(), "trainer"),
        );
        let (old, new) = (
            &current.trainer.fields.user_id,
            &view.trainer.fields.user_id,
        );
        if old != new {
            if let Some(u) = old {
                let pk = keys::trainer_user_guard_pk(u);
                change.delete_existing(pk.clone(), pk, OnConflict::Moved("trainer link"));
            }
            if let Some(u) = new {
                link(&mut change, u, &view.trainer.id);
            }
        }
        change.audit(&self.audit_record(
            ctx,
            EntityType::Trainer,
            id.as_str(),
            AuditAction::TrainerUpdated,
            response.body.clone(),
            view.trainer.updated_at,
        ))?;
        self.commit(ctx, change, None).await?;
        Ok(response)
    }

    /// The trainer linked to the acting user, if any: 1 GetItem.
    pub(crate) async fn actor_trainer(
        &self,
        ctx: &RequestContext,
    ) -> Result<Option<TrainerId>, AppError> {
        let Ok(user) = UserId::parse(&ctx.actor.user_id) else {
            return Ok(None);
        };
        let pk = keys::trainer_user_guard_pk(&user);
        Ok(self
            .store
            .get(&pk, &pk)
            .await?
            .and_then(|g| {
                g.data
                    .get("trainer_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .and_then(|t| TrainerId::parse(&t).ok()))
    }

    /// Checks that every trainer named exists and is active (a 422 naming
    /// the field otherwise).
    pub(crate) async fn check_trainers(
        &self,
        named: &[(String, &TrainerId)],
    ) -> Result<(), AppError> {
        let mut errors = ValidationErrors::default();
        for (field, id) in named {
            match self.read_trainer(id).await {
                Ok(t) if t.trainer.fields.status == TrainerStatus::Active => {}
                Ok(_) => errors.push(field.clone(), "names an inactive trainer"),
                Err(AppError::NotFound(_)) => errors.push(field.clone(), "names no trainer"),
                Err(e) => return Err(e),
            }
        }
        errors.into_result(()).map_err(AppError::from)
    }
}

/// The guard linking `user` to `trainer`, and the check that the user
/// exists, added to a change.
fn link(change: &mut ChangeSet, user: &UserId, trainer: &TrainerId) {
    change.put_new(trainer_user_guard_item(user, trainer), LINKED);
    let pk = keys::user_pk(user);
    change.check_exists(pk.clone(), pk, NO_USER);
}
