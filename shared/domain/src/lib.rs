//! The domain: entities, their validation and status machines. Pure: no AWS,
//! no HTTP, no clock or randomness (timestamps and ids are passed in).
//!
//! Input arrives as loosely typed `*Input` structs (what the JSON said) and
//! leaves through a parser that returns either typed values or every
//! field-level problem at once ("parse, don't validate").

pub mod access;
pub mod assessment;
pub mod attendance;
pub mod audit;
pub mod course_run;
pub mod enrolment;
pub mod error;
pub mod ids;
pub mod kinds;
pub mod national_id;
pub mod patch;
pub mod sync;
pub mod tpg;
pub mod trainee;
pub mod trainer;
pub mod types;
pub mod user;

pub use access::{decide, matrix_markdown, Action, Area, Decision, Grant, Ownership, Role};
pub use error::{DomainError, FieldError, ValidationErrors};
pub use ids::{EnrolmentId, JobId, RunId, SessionId, TraineeId, TrainerId, TypedId, UserId};
pub use kinds::{AuditAction, EntityType};
pub use types::Password;
