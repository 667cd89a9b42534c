//! The application layer: one function per use case. Each authorizes (from
//! a later issue on), validates through the domain, and turns the use case
//! into one atomic write (entity + audit record + sync job) through the
//! ports, then enqueues the job.

pub mod access;
pub mod assessments;
pub mod attendance;
pub mod audit;
pub mod auth;
pub mod context;
pub mod course_runs;
pub mod enrolments;
pub mod error;
pub mod keys;
pub mod pii;
pub mod records;
pub mod sync;
mod sync_assessment;
mod sync_attendance;
mod sync_course_run;
mod sync_enrolment;
pub mod sync_jobs;
pub mod trainees;
pub mod trainers;
pub mod users;
mod write;

use std::sync::Arc;

use tms_ports::{Clock, IdGen, Queue, Store, TpGateway};

pub use context::{Actor, IdempotencyRequest, Idempotent, Precondition, RequestContext, Written};
pub use error::AppError;

/// Everything a use case needs, built once per process.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGen>,
    pub tpgateway: Arc<dyn TpGateway>,
    pub sync: SyncSettings,
    /// The access tokens' signing key and settings.
    pub auth: Arc<auth::AuthKeys>,
    /// The keys that seal national ids and key their duplicate guard.
    pub pii: Arc<pii::PiiVault>,
}

/// How the sync worker paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// How long a claimed job (and its entity's lock) is held; a worker
    /// that dies leaves it for the sweeper after this.
    pub lease: std::time::Duration,
    /// First retry delay after a transient failure; doubles per attempt.
    pub backoff_base: std::time::Duration,
    /// Longest retry delay.
    pub backoff_max: std::time::Duration,
    /// The queue's maxReceiveCount: the receive that reaches it is the
    /// last before the dead-letter queue.
    pub max_receive_count: u32,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            lease: std::time::Duration::from_secs(120),
            backoff_base: std::time::Duration::from_secs(5),
            backoff_max: std::time::Duration::from_secs(15 * 60),
            max_receive_count: 5,
        }
    }
}

/// Identifiers as UUIDv7: time-ordered, so new items sort after old ones.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidV7Ids;

impl IdGen for UuidV7Ids {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

/// A page of a list, with the opaque cursor of the next page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct ListPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl App {
    /// One page of a list: one Query, each item decoded by `decode_item`,
    /// and the cursor of the next page.
    pub(crate) async fn list_page<T>(
        &self,
        query: &tms_ports::Query,
        decode_item: impl Fn(&tms_ports::Item) -> Result<T, AppError>,
    ) -> Result<ListPage<T>, AppError> {
        let page = self.store.query(query).await?;
        let items = page
            .items
            .iter()
            .map(decode_item)
            .collect::<Result<Vec<T>, AppError>>()?;
        Ok(ListPage {
            items,
            next_cursor: page.next.map(|c| c.encode()),
        })
    }
}

/// Default and largest page sizes of the HTTP lists.
pub const DEFAULT_PAGE_SIZE: u32 = 25;
pub const MAX_PAGE_SIZE: u32 = tms_ports::store::MAX_PAGE_SIZE;

/// Parses `limit` and `cursor` of a list request.
pub fn parse_paging(
    limit: Option<&str>,
    cursor: Option<&str>,
) -> Result<(u32, Option<tms_ports::Cursor>), AppError> {
    let limit = match limit {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(AppError::InvalidQuery(
                    tms_domain::ValidationErrors::single(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                    ),
                ))
            }
        },
    };
    let cursor = match cursor {
        None => None,
        Some(c) => Some(tms_ports::Cursor::decode(c).map_err(|_| AppError::InvalidCursor)?),
    };
    Ok((limit, cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_limits_and_cursor() {
        assert_eq!(parse_paging(None, None).unwrap(), (DEFAULT_PAGE_SIZE, None));
        assert_eq!(parse_paging(Some("100"), None).unwrap().0, 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert!(
                matches!(
                    parse_paging(Some(bad), None),
                    Err(AppError::InvalidQuery(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_paging(None, Some("not a cursor")),
            Err(AppError::InvalidCursor)
        ));
        let c = tms_ports::Cursor {
            pk: "P".into(),
            sk: "S".into(),
            ipk: None,
            isk: None,
        };
        assert_eq!(parse_paging(None, Some(&c.encode())).unwrap().1, Some(c));
    }
}
