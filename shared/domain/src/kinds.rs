//! The names the system writes into its records: entity types and audit
//! actions, as enums so that a typo cannot compile.

/// Declares an enum of names: serde and strum agree on each variant's
/// name (snake_case unless a variant says otherwise), with `as_str`,
/// `parse` (which lists the names on failure) and `VARIANTS`.
#[macro_export]
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            serde::Serialize,
            serde::Deserialize,
            strum::AsRefStr,
            strum::EnumString,
            strum::VariantArray,
            strum::IntoStaticStr,
            schemars::JsonSchema,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(value: &str) -> Result<Self, String> {
                $crate::kinds::parse_name(value)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// Every kind of item the table holds.
    pub enum EntityType {
        CourseRun,
        Session,
        AuditRecord,
        SyncJob,
        IdempotencyRecord,
        /// The lock that lets one sync job at a time act for an entity.
        SyncLock,
        User,
        /// The guard that keeps e-mail addresses unique.
        EmailGuard,
        /// A refresh token, under its SHA-256.
        RefreshToken,
        /// The chain of refresh tokens of one sign-in.
        RefreshChain,
        /// Failed sign-ins of one e-mail in the current window.
        LoginFailures,
        Trainer,
        /// The guard that links a user to one trainer only.
        TrainerUserGuard,
        Trainee,
        /// The guard that keeps national ids unique (under their keyed hash).
        NatidGuard,
        Enrolment,
        /// The guard of one enrolment per trainee and run.
        EnrolmentGuard,
        /// A session's attendance sheet: its sign-off, and the ETag of the
        /// session's attendance (the audit trail of attendance is its).
        SessionAttendance,
        /// One trainee's attendance of one session.
        AttendanceRecord,
        Assessment,
        /// One immutable version of an assessment (its history).
        AssessmentVersion,
    }
}

named_enum! {
    /// What an audit record says happened.
    pub enum AuditAction {
        #[serde(rename = "course_run.created")]
        #[strum(serialize = "course_run.created")]
        CourseRunCreated,
        #[serde(rename = "course_run.updated")]
        #[strum(serialize = "course_run.updated")]
        CourseRunUpdated,
        #[serde(rename = "course_run.cancelled")]
        #[strum(serialize = "course_run.cancelled")]
        CourseRunCancelled,
        #[serde(rename = "session.added")]
        #[strum(serialize = "session.added")]
        SessionAdded,
        #[serde(rename = "session.updated")]
        #[strum(serialize = "session.updated")]
        SessionUpdated,
        #[serde(rename = "session.removed")]
        #[strum(serialize = "session.removed")]
        SessionRemoved,
        /// TPGateway has the run's current version (the worker's record).
        #[serde(rename = "course_run.synced")]
        #[strum(serialize = "course_run.synced")]
        CourseRunSynced,
        /// TPGateway refused the run's current version.
        #[serde(rename = "course_run.sync_failed")]
        #[strum(serialize = "course_run.sync_failed")]
        CourseRunSyncFailed,
        #[serde(rename = "user.created")]
        #[strum(serialize = "user.created")]
        UserCreated,
        #[serde(rename = "user.updated")]
        #[strum(serialize = "user.updated")]
        UserUpdated,
        #[serde(rename = "user.role_granted")]
        #[strum(serialize = "user.role_granted")]
        UserRoleGranted,
        #[serde(rename = "user.role_revoked")]
        #[strum(serialize = "user.role_revoked")]
        UserRoleRevoked,
        #[serde(rename = "user.password_changed")]
        #[strum(serialize = "user.password_changed")]
        UserPasswordChanged,
        #[serde(rename = "trainer.created")]
        #[strum(serialize = "trainer.created")]
        TrainerCreated,
        #[serde(rename = "trainer.updated")]
        #[strum(serialize = "trainer.updated")]
        TrainerUpdated,
        #[serde(rename = "trainee.created")]
        #[strum(serialize = "trainee.created")]
        TraineeCreated,
        #[serde(rename = "trainee.updated")]
        #[strum(serialize = "trainee.updated")]
        TraineeUpdated,
        #[serde(rename = "enrolment.created")]
        #[strum(serialize = "enrolment.created")]
        EnrolmentCreated,
        #[serde(rename = "enrolment.updated")]
        #[strum(serialize = "enrolment.updated")]
        EnrolmentUpdated,
        #[serde(rename = "enrolment.cancelled")]
        #[strum(serialize = "enrolment.cancelled")]
        EnrolmentCancelled,
        /// TPGateway has the enrolment's current version (the worker's record).
        #[serde(rename = "enrolment.synced")]
        #[strum(serialize = "enrolment.synced")]
        EnrolmentSynced,
        #[serde(rename = "enrolment.sync_failed")]
        #[strum(serialize = "enrolment.sync_failed")]
        EnrolmentSyncFailed,
        /// A session's rows recorded in one request.
        #[serde(rename = "attendance.recorded")]
        #[strum(serialize = "attendance.recorded")]
        AttendanceRecorded,
        /// One row changed.
        #[serde(rename = "attendance.row_changed")]
        #[strum(serialize = "attendance.row_changed")]
        AttendanceRowChanged,
        #[serde(rename = "attendance.signed_off")]
        #[strum(serialize = "attendance.signed_off")]
        AttendanceSignedOff,
        /// The worker uploaded the session's rows to TPGateway.
        #[serde(rename = "attendance.synced")]
        #[strum(serialize = "attendance.synced")]
        AttendanceSynced,
        #[serde(rename = "attendance.sync_failed")]
        #[strum(serialize = "attendance.sync_failed")]
        AttendanceSyncFailed,
        /// A person asked for a failed or dead-lettered job to run again.
        #[serde(rename = "sync_job.retried")]
        #[strum(serialize = "sync_job.retried")]
        SyncJobRetried,
        #[serde(rename = "assessment.created")]
        #[strum(serialize = "assessment.created")]
        AssessmentCreated,
        #[serde(rename = "assessment.updated")]
        #[strum(serialize = "assessment.updated")]
        AssessmentUpdated,
        #[serde(rename = "assessment.voided")]
        #[strum(serialize = "assessment.voided")]
        AssessmentVoided,
        /// TPGateway has the assessment's current version (the worker's record).
        #[serde(rename = "assessment.synced")]
        #[strum(serialize = "assessment.synced")]
        AssessmentSynced,
        #[serde(rename = "assessment.sync_failed")]
        #[strum(serialize = "assessment.sync_failed")]
        AssessmentSyncFailed,
    }
}

/// Parses one of an enum's names, or says which names there are.
pub fn parse_name<T>(value: &str) -> Result<T, String>
where
    T: std::str::FromStr + strum::VariantArray + AsRef<str>,
{
    value.parse::<T>().map_err(|_| {
        let names: Vec<&str> = T::VARIANTS.iter().map(AsRef::as_ref).collect();
        format!("must be one of: {}", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn names_round_trip_through_serde_and_strum() {
        for t in EntityType::VARIANTS {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, t.as_str());
            assert_eq!(parse_name::<EntityType>(t.as_str()), Ok(*t));
        }
        for a in AuditAction::VARIANTS {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        assert_eq!(AuditAction::SessionRemoved.as_str(), "session.removed");
        assert_eq!(EntityType::CourseRun.as_str(), "course_run");
        assert!(parse_name::<EntityType>("Course_Run").is_err());
    }
}
