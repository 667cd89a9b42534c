//! Trainees (Admin and Ops Admin manage; Finance and Auditor read; a
//! Trainer reads the trainees enrolled in their own runs). The national id
//! is sealed (AES-256-GCM, the trainee id as associated data) before it is
//! stored, kept unique by a guard item under its keyed hash, and answered,
//! audited and logged only masked.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use tms_domain::access::{Action, Area, Ownership};
use tms_domain::ids::{RunId, TraineeId, TypedId};
use tms_domain::national_id::NationalId;
use tms_domain::patch::MergePatch;
use tms_domain::trainee::{CheckedTrainee, Trainee, TraineeInput};
use tms_domain::{AuditAction, EntityType, ValidationErrors};
use tms_ports::{Index, Query, SkCondition};

use crate::context::{IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
use crate::course_runs::only_own;
use crate::error::AppError;
use crate::records::{decode, natid_guard_item, trainee_item, StoredTrainee};
use crate::write::{outcome, ChangeSet, OnConflict};
use crate::{keys, parse_paging, App, ListPage};

/// Most trainees a Trainer's list holds (one page: the trainees of their
/// own runs).
pub const MAX_OWN_TRAINEES: usize = 1000;

/// A trainee with its ETag version (the national id masked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TraineeView {
    #[serde(flatten)]
    pub trainee: Trainee,
    pub version: u64,
}

impl TraineeView {
    pub fn location(&self) -> String {
        format!("/trainees/{}", self.trainee.id)
    }
}

/// The query string of `GET /trainees`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraineeListParams {
    /// Trainees whose name starts with this (any case): a letter, then
    /// letters, spaces and ' - . ,
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    /// Items per page (default 20).
    #[schemars(with = "Option<u32>", range(min = 1, max = crate::MAX_PAGE_SIZE))]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const DUPLICATE: OnConflict = OnConflict::Exists("trainee with this national id");

impl App {
    /// Today in Singapore, where the trainees are: bounds a date of birth.
    pub(crate) fn today_sg(&self) -> NaiveDate {
        (self.now() + Duration::hours(8)).date_naive()
    }

    /// Creates a trainee: 1 TransactWriteItems (trainee, national-id guard,
    /// audit; + the Idempotency-Key record). A national id already held by
    /// another trainee is a 409 that names no one.
    pub async fn create_trainee(
        &self,
        ctx: &RequestContext,
        input: TraineeInput,
        idem: Option<IdempotencyRequest>,
    ) -> Result<Idempotent, AppError> {
        self.authorize(ctx, Area::Trainees, Action::Write, "trainee")?;
        let checked = input.parse(self.today_sg(), true).map_err(AppError::from);
        let checked = match self.replay_or(ctx, idem.as_ref(), checked).await? {
            Ok(c) => c,
            Err(first) => return Ok(Idempotent::Replayed(first)),
        };
        let Some(national_id) = checked.national_id.clone() else {
            return Err(ValidationErrors::single("national_id", "is required").into());
        };
        let id = TraineeId::parse(&self.ids.new_id())
            .map_err(|_| AppError::Internal("the id generator made a bad trainee id".into()))?;
        let now = self.now();
        let trainee = Trainee::create(id, &checked, national_id.masked(), now);
        let stored = self.seal(trainee, &national_id).await?;
        let view = TraineeView {
            trainee: stored.trainee.clone(),
            version: 1,
        };
        let response = Written::of(&view, 1, Some(view.location()))?;
        let mut change = ChangeSet::default();
        change.put_new(trainee_item(&stored, 1)?, OnConflict::Exists("trainee"));
        change.put_new(
            natid_guard_item(&stored.national_id_hash, &view.trainee.id),
            DUPLICATE,
        );
        change.audit(&self.audit_record(
            ctx,
            EntityType::Trainee,
            view.trainee.id.as_str(),
            AuditAction::TraineeCreated,
            response.body.clone(),
            now,
        ))?;
        let committed = self
            .commit(ctx, change, idem.as_ref().map(|i| (i, &response)))
            .await?;
        Ok(outcome(committed, response))
    }

    /// The trainee with its national id sealed and hashed.
    async fn seal(&self, trainee: Trainee, id: &NationalId) -> Result<StoredTrainee, AppError> {
        let keys = self.pii.keys().await?;
        let sealed = keys
            .seal(id.expose(), trainee.id.as_str())
            .map_err(|e| AppError::Internal(format!("sealing a national id: {e}")))?;
        Ok(StoredTrainee {
            national_id_hash: keys.keyed_hash(id.expose()),
            national_id_sealed: sealed,
            trainee,
        })
    }

    /// Trainees by name (optionally those whose name starts with `name`):
    /// 1 Query per page. A Trainer gets the trainees enrolled in their own
    /// runs, in one page.
    pub async fn list_trainees(
        &self,
        ctx: &RequestContext,
        params: &TraineeListParams,
    ) -> Result<ListPage<TraineeView>, AppError> {
        self.authorize(ctx, Area::Trainees, Action::Read, "trainee")?;
        let mut errors = ValidationErrors::default();
        let prefix = params.name.clone();
        if let Some(p) = &prefix {
            if let Err(why) = check_name_prefix(p) {
                errors.push("name", why);
            }
        }
        let paging = parse_paging(params.limit.as_deref(), params.cursor.as_deref());
        if let Err(AppError::InvalidQuery(v)) = &paging {
            errors.0.extend(v.0.iter().cloned());
        }
        if !errors.is_empty() {
            return Err(AppError::InvalidQuery(errors));
        }
        let (limit, cursor) = paging?;
        if cursor.as_ref().is_some_and(|c| !keys::is_trainee_cursor(c)) {
            return Err(AppError::InvalidCursor);
        }
        if only_own(ctx, Area::Trainees) {
            return self.own_trainees(ctx, prefix.as_deref()).await;
        }
        let query = Query {
            index: Some(Index::Gsi1),
            pk: keys::TRAINEES.to_string(),
            sk: match &prefix {
                Some(p) => SkCondition::BeginsWith(keys::trainee_name_prefix(p)),
                None => SkCondition::Any,
            },
            forward: true,
            limit,
            cursor,
        };
        self.list_page(&query, view_of).await
    }

    /// The trainees enrolled in the acting trainer's runs (each run's
    /// enrolments, GSI1 `RUN#<id>#ENROLMENTS`, then each trainee), by name.
    async fn own_trainees(
        &self,
        ctx: &RequestContext,
        prefix: Option<&str>,
    ) -> Result<ListPage<TraineeView>, AppError> {
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for run in self.own_run_ids(ctx).await? {
            let mut query = Query {
                index: Some(Index::Gsi1),
                pk: keys::run_enrolments_pk(&run),
                sk: SkCondition::Any,
                forward: true,
                limit: tms_ports::store::MAX_PAGE_SIZE,
                cursor: None,
            };
            loop {
                let page = self.store.query(&query).await?;
                ids.extend(page.items.iter().filter_map(|i| {
                    i.data
                        .get("trainee_id")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                }));
                match page.next {
                    Some(c) if ids.len() < MAX_OWN_TRAINEES => query.cursor = Some(c),
                    _ => break,
                }
            }
        }
        let lowered = prefix.map(str::to_lowercase);
        let mut items = Vec::new();
        for id in ids.iter().take(MAX_OWN_TRAINEES) {
            let Ok(id) = TraineeId::parse(id) else {
                continue;
            };
            match self.read_trainee(&id).await {
                Ok((t, version)) => {
                    let keep = lowered
                        .as_deref()
                        .is_none_or(|p| t.trainee.fields.name.to_lowercase().starts_with(p));
                    if keep {
                        items.push(TraineeView {
                            trainee: t.trainee,
                            version,
                        });
                    }
                }
                Err(AppError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        items.sort_by(|a, b| {
            (a.trainee.fields.name.to_lowercase(), a.trainee.id.as_str())
                .cmp(&(b.trainee.fields.name.to_lowercase(), b.trainee.id.as_str()))
        });
        Ok(ListPage {
            items,
            next_cursor: None,
        })
    }

    pub async fn get_trainee(
        &self,
        ctx: &RequestContext,
        id: &TraineeId,
    ) -> Result<TraineeView, AppError> {
        let ownership = self.trainee_ownership(ctx, id).await?;
        self.authorize_owned(ctx, Area::Trainees, Action::Read, ownership, "trainee")?;
        let (t, version) = self.read_trainee(id).await?;
        Ok(TraineeView {
            trainee: t.trainee,
            version,
        })
    }

    /// For a Trainer: whether the trainee is enrolled in one of their runs
    /// (GSI2 `TRAINEE#<id>#ENROLMENTS`, against their runs).
    async fn trainee_ownership(
        &self,
        ctx: &RequestContext,
        id: &TraineeId,
    ) -> Result<Ownership, AppError> {
        if !only_own(ctx, Area::Trainees) {
            return Ok(Ownership::NotApplicable);
        }
        let query = Query {
            index: Some(Index::Gsi2),
            pk: keys::trainee_enrolments_pk(id),
            sk: SkCondition::Any,
            forward: true,
            limit: tms_ports::store::MAX_PAGE_SIZE,
            cursor: None,
        };
        let runs: Vec<RunId> = self
            .store
            .query(&query)
            .await?
            .items
            .iter()
            .filter_map(|i| i.data.get("course_run_id").and_then(|v| v.as_str()))
            .filter_map(|r| RunId::parse(r).ok())
            .collect();
        if runs.is_empty() {
            return Ok(Ownership::NotOwn);
        }
        let own = self.own_run_ids(ctx).await?;
        Ok(if runs.iter().any(|r| own.contains(r)) {
            Ownership::Own
        } else {
            Ownership::NotOwn
        })
    }

    /// The stored trainee (national id sealed) and its version: 1 GetItem.
    /// For the use cases and the sync worker; never answered as it is.
    pub async fn read_trainee(&self, id: &TraineeId) -> Result<(StoredTrainee, u64), AppError> {
        let pk = keys::trainee_pk(id);
        let item = self
            .store
            .get(&pk, &pk)
            .await?
            .ok_or(AppError::NotFound("trainee"))?;
        Ok((decode(&item)?, item.version))
    }

    /// Changes a trainee by merge patch (If-Match). A new national id is
    /// sealed again and its guard moves in the same transaction (409 when
    /// another trainee holds it).
    pub async fn update_trainee(
        &self,
        ctx: &RequestContext,
        id: &TraineeId,
        if_match: Option<Precondition>,
        patch: MergePatch,
    ) -> Result<Written, AppError> {
        self.authorize(ctx, Area::Trainees, Action::Write, "trainee")?;
        if if_match.is_none() {
            return Err(AppError::PreconditionRequired);
        }
        let (current, version) = self.read_trainee(id).await?;
        let expected = Precondition::check(if_match.as_ref(), version)?;
        let checked: CheckedTrainee = current.trainee.patched(&patch, self.today_sg())?;
        let now = self.now();
        let next = current.trainee.updated(&checked, now);
        let stored = match &checked.national_id {
            Some(nid) => self.seal(next, nid).await?,
            None => StoredTrainee {
                trainee: next,
                ..current.clone()
            },
        };
        let view = TraineeView {
            trainee: stored.trainee.clone(),
            version: expected + 1,
        };
        let response = Written::of(&view, expected + 1, None)?;
        let mut change = ChangeSet::default();
        change.put_versioned(
            trainee_item(&stored, expected + 1)?,
            expected,
            OnConflict::against(if_match.as_ref(), "trainee"),
        );
        if stored.national_id_hash != current.national_id_hash {
            let old = keys::natid_guard_pk(&current.national_id_hash);
            change.delete_existing(old.clone(), old, OnConflict::Moved("trainee's national id"));
            change.put_new(natid_guard_item(&stored.national_id_hash, id), DUPLICATE);
        }
        change.audit(&self.audit_record(
            ctx,
            EntityType::Trainee,
            id.as_str(),
            AuditAction::TraineeUpdated,
            response.body.clone(),
            now,
        ))?;
        self.commit(ctx, change, None).await?;
        Ok(response)
    }

    /// The national id of a trainee, opened: for a TPGateway payload only
    /// (the sync worker). Never logged, answered or stored elsewhere.
    pub async fn open_national_id(&self, stored: &StoredTrainee) -> Result<NationalId, AppError> {
        let keys = self.pii.keys().await?;
        let text = keys
            .open(&stored.national_id_sealed, stored.trainee.id.as_str())
            .map_err(|e| AppError::Internal(format!("opening a national id: {e}")))?;
        NationalId::parse(stored.trainee.fields.national_id_type, &text)
            .map_err(|_| AppError::Internal("a stored national id does not parse".into()))
    }
}

/// A name prefix to search by: the start of a name, so a letter first,
/// then letters, spaces and the punctuation names carry (`'`, `-`, `.`,
/// `,`), at most 200 characters, no space at either end.
fn check_name_prefix(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("must not be blank");
    }
    if p.chars().count() > tms_domain::trainee::MAX_NAME {
        return Err("must be at most 200 characters");
    }
    if let Some(why) = tms_domain::types::text_problem(p) {
        return Err(why);
    }
    let first_is_letter = p.chars().next().is_some_and(char::is_alphabetic);
    let ok = first_is_letter
        && !p.ends_with(' ')
        && p.chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.' | ','));
    if ok {
        Ok(())
    } else {
        Err("must be the start of a name: a letter, then letters, spaces and ' - . ,")
    }
}

fn view_of(item: &tms_ports::Item) -> Result<TraineeView, AppError> {
    let stored: StoredTrainee = decode(item)?;
    Ok(TraineeView {
        trainee: stored.trainee,
        version: item.version,
    })
}
