//! Who may do what (DESIGN §1): the role matrix as data, and one function
//! that decides a request from the user's roles, the area, the action and
//! whether the acting trainer is assigned to the thing.
//!
//! "Own" means the trainer is assigned to the session (or to a session of
//! the run) and the trainer record is linked to the user. The caller works
//! that out and passes it as [`Ownership`]; this module only decides.
//!
//! Rules of [`decide`]:
//! - no roles: deny;
//! - each role's grant for the area gives allow, deny or hide; the user gets
//!   the most permissive over their roles: allow if any role allows;
//!   otherwise deny when some role can read the thing (so it is known to
//!   exist and a 403 tells nothing new), else hide when some "own" grant
//!   met another trainer's thing (404, so its existence does not leak),
//!   else deny;
//! - an "own" grant with [`Ownership::NotOwn`] hides, for reads and writes
//!   alike; with [`Ownership::NotApplicable`] (a list, a create) it allows
//!   what the grant allows and the caller narrows the list to own items.

use strum::VariantArray;

crate::named_enum! {
    /// A user's role (seed). A user may hold several.
    pub enum Role {
        Admin,
        OpsAdmin,
        Trainer,
        Finance,
        Auditor,
    }
}

crate::named_enum! {
    /// A part of the system the matrix gives access to.
    pub enum Area {
        /// Users and their roles.
        Users,
        /// Course runs and their sessions.
        CourseRuns,
        Trainees,
        Trainers,
        Enrolments,
        Attendance,
        Assessments,
        AuditLogs,
        /// Sync jobs: reading them, and (Write) retrying and redriving them.
        SyncJobs,
    }
}

crate::named_enum! {
    /// What a request does to an area.
    pub enum Action {
        Read,
        /// Create, change, delete; for sync jobs, retry and redrive.
        Write,
        /// Change only the fee and subsidy fields of an enrolment. Whoever
        /// may `Write` an enrolment may do this too; Finance may do only
        /// this.
        WriteFees,
    }
}

/// Whether the acting user, as a trainer, is assigned to the thing the
/// request is about. The caller computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ownership {
    /// Not about one thing (a list, a create), or not a question for this
    /// area.
    NotApplicable,
    /// The acting trainer is assigned to it.
    Own,
    /// It belongs to runs or sessions of other trainers.
    NotOwn,
}

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    /// 403, with a short reason that names the area and the action.
    Deny(&'static str),
    /// 404: another trainer's thing, answered as if it did not exist.
    Hide,
}

/// A role's access to one area: one cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    /// No access.
    None,
    /// Read everything in the area.
    Read,
    /// Read what the trainer is assigned to (own runs, own sessions).
    ReadOwn,
    /// Read and write what the trainer is assigned to (record and sign off
    /// attendance of own sessions, record and void assessments of own runs).
    ReadWriteOwn,
    /// Read everything; write the fee and subsidy fields only
    /// ([`Action::WriteFees`]).
    ReadWriteFees,
    /// Read everything and act on it ([`Action::Write`]: retry and redrive
    /// sync jobs).
    Operate,
    /// Every action on everything in the area.
    Manage,
}

impl Grant {
    /// The word the README's matrix uses for this grant.
    pub fn label(self) -> &'static str {
        match self {
            Grant::None => "-",
            Grant::Read => "read",
            Grant::ReadOwn => "read own",
            Grant::ReadWriteOwn => "read and write own",
            Grant::ReadWriteFees => "read, write fees",
            Grant::Operate => "read, retry, redrive",
            Grant::Manage => "manage",
        }
    }

    /// Whether the grant lets one do `action` at all (ownership aside).
    fn allows(self, action: Action) -> bool {
        match self {
            Grant::None => false,
            Grant::Read | Grant::ReadOwn => action == Action::Read,
            Grant::ReadWriteOwn | Grant::Operate => {
                matches!(action, Action::Read | Action::Write)
            }
            Grant::ReadWriteFees => matches!(action, Action::Read | Action::WriteFees),
            Grant::Manage => true,
        }
    }

    /// Whether the grant covers only the trainer's own things.
    fn own_only(self) -> bool {
        matches!(self, Grant::ReadOwn | Grant::ReadWriteOwn)
    }
}

/// The matrix (DESIGN §1, refined): one row per area, in [`Area::VARIANTS`]
/// order, with one grant per role in [`Role::VARIANTS`] order (admin,
/// ops_admin, trainer, finance, auditor).
pub const MATRIX: &[(Area, [Grant; 5])] = {
    use Grant::{Manage, Operate, Read, ReadOwn, ReadWriteFees, ReadWriteOwn};
    const NO: Grant = Grant::None;
    &[
        (Area::Users, [Manage, NO, NO, NO, Read]),
        (Area::CourseRuns, [Manage, Manage, ReadOwn, Read, Read]),
        (Area::Trainees, [Manage, Manage, ReadOwn, Read, Read]),
        (Area::Trainers, [Manage, Manage, Read, Read, Read]),
        (
            Area::Enrolments,
            [Manage, Manage, ReadOwn, ReadWriteFees, Read],
        ),
        (Area::Attendance, [Manage, Manage, ReadWriteOwn, NO, Read]),
        (Area::Assessments, [Manage, Manage, ReadWriteOwn, NO, Read]),
        (Area::AuditLogs, [Read, Read, NO, NO, Read]),
        (Area::SyncJobs, [Operate, Operate, NO, NO, Read]),
    ]
};

impl Role {
    /// The role's column in [`MATRIX`].
    fn column(self) -> usize {
        match self {
            Role::Admin => 0,
            Role::OpsAdmin => 1,
            Role::Trainer => 2,
            Role::Finance => 3,
            Role::Auditor => 4,
        }
    }
}

/// Declares, for each area, its label in the matrix and the reasons a
/// denial gives (static texts, so a reason is never built from input).
macro_rules! area_texts {
    ($($area:ident => $label:literal, $name:literal;)*) => {
        impl Area {
            /// The area's name in the README's matrix.
            pub fn label(self) -> &'static str {
                match self {
                    $(Area::$area => $label,)*
                }
            }
        }

        fn deny_reason(area: Area, action: Action) -> &'static str {
            match (area, action) {
                $(
                    (Area::$area, Action::Read) => concat!("your roles may not read ", $name),
                    (Area::$area, Action::Write) => concat!("your roles may not write ", $name),
                    (Area::$area, Action::WriteFees) => {
                        concat!("your roles may not write the fee and subsidy fields of ", $name)
                    }
                )*
            }
        }
    };
}

area_texts! {
    Users => "users and roles", "users and roles";
    CourseRuns => "course runs, sessions", "course runs and sessions";
    Trainees => "trainees", "trainees";
    Trainers => "trainers", "trainers";
    Enrolments => "enrolments", "enrolments";
    Attendance => "attendance", "attendance";
    Assessments => "assessments", "assessments";
    AuditLogs => "audit logs", "audit logs";
    SyncJobs => "sync jobs", "sync jobs";
}

/// The reason given to a user without any role.
pub const NO_ROLE: &str = "the user has no role";

/// One role's grant for an area.
pub fn grant(role: Role, area: Area) -> Grant {
    MATRIX
        .iter()
        .find(|(a, _)| *a == area)
        .and_then(|(_, row)| row.get(role.column()).copied())
        .unwrap_or(Grant::None)
}

/// What one grant says, before the reason is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allow,
    Deny,
    Hide,
}

fn outcome(grant: Grant, action: Action, ownership: Ownership) -> Outcome {
    if grant.own_only() && ownership == Ownership::NotOwn {
        Outcome::Hide
    } else if grant.allows(action) {
        Outcome::Allow
    } else {
        Outcome::Deny
    }
}

/// Decides a request (see the module's rules).
pub fn decide(roles: &[Role], area: Area, action: Action, ownership: Ownership) -> Decision {
    if roles.is_empty() {
        return Decision::Deny(NO_ROLE);
    }
    let mut hidden = false;
    let mut visible = false;
    for role in roles {
        let g = grant(*role, area);
        match outcome(g, action, ownership) {
            Outcome::Allow => return Decision::Allow,
            Outcome::Hide => hidden = true,
            Outcome::Deny => visible |= outcome(g, Action::Read, ownership) == Outcome::Allow,
        }
    }
    if hidden && !visible {
        Decision::Hide
    } else {
        Decision::Deny(deny_reason(area, action))
    }
}

/// The matrix as the README shows it: a header row, a separator row, then
/// one row per area in [`MATRIX`] order. The README embeds exactly this
/// text.
pub fn matrix_markdown() -> String {
    let mut out = String::from("| capability |");
    for role in Role::VARIANTS {
        out.push(' ');
        out.push_str(role.as_str());
        out.push_str(" |");
    }
    out.push('\n');
    out.push_str(&"|---".repeat(Role::VARIANTS.len() + 1));
    out.push_str("|\n");
    for (area, grants) in MATRIX {
        out.push_str("| ");
        out.push_str(area.label());
        out.push_str(" |");
        for g in grants {
            out.push(' ');
            out.push_str(g.label());
            out.push_str(" |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected decision for every cell, written out independently of
    /// [`MATRIX`]: per area, per role (admin, ops_admin, trainer, finance,
    /// auditor), three groups for read, write, write_fees, each of three
    /// letters for ownership not applicable, own, not own. A = allow,
    /// D = deny, H = hide (404).
    const EXPECTED: &[(&str, [&str; 5])] = &[
        (
            "users",
            [
                "AAA AAA AAA",
                "DDD DDD DDD",
                "DDD DDD DDD",
                "DDD DDD DDD",
                "AAA DDD DDD",
            ],
        ),
        (
            "course_runs",
            [
                "AAA AAA AAA",
                "AAA AAA AAA",
                "AAH DDH DDH",
                "AAA DDD DDD",
                "AAA DDD DDD",
            ],
        ),
        (
            "trainees",
            [
                "AAA AAA AAA",
                "AAA AAA AAA",
                "AAH DDH DDH",
                "AAA DDD DDD",
                "AAA DDD DDD",
            ],
        ),
        (
            "trainers",
            [
                "AAA AAA AAA",
                "AAA AAA AAA",
                "AAA DDD DDD",
                "AAA DDD DDD",
                "AAA DDD DDD",
            ],
        ),
        (
            "enrolments",
            [
                "AAA AAA AAA",
                "AAA AAA AAA",
                "AAH DDH DDH",
                "AAA DDD AAA",
                "AAA DDD DDD",
            ],
        ),
        (
            "attendance",
            [
                "AAA AAA AAA",
                "AAA AAA AAA",
                "AAH AAH DDH",
                "DDD DDD DDD",
                "AAA DDD DDD",
            ],
        ),
        (
            "assessments",
            [
                "AAA AAA AAA",
                "AAA AAA AAA",
                "AAH AAH DDH",
                "DDD DDD DDD",
                "AAA DDD DDD",
            ],
        ),
        (
            "audit_logs",
            [
                "AAA DDD DDD",
                "AAA DDD DDD",
                "DDD DDD DDD",
                "DDD DDD DDD",
                "AAA DDD DDD",
            ],
        ),
        (
            "sync_jobs",
            [
                "AAA AAA DDD",
                "AAA AAA DDD",
                "DDD DDD DDD",
                "DDD DDD DDD",
                "AAA DDD DDD",
            ],
        ),
    ];

    const ROLES: [&str; 5] = ["admin", "ops_admin", "trainer", "finance", "auditor"];
    const ACTIONS: [&str; 3] = ["read", "write", "write_fees"];
    const OWNERSHIPS: [Ownership; 3] =
        [Ownership::NotApplicable, Ownership::Own, Ownership::NotOwn];

    fn letter(d: Decision) -> char {
        match d {
            Decision::Allow => 'A',
            Decision::Deny(_) => 'D',
            Decision::Hide => 'H',
        }
    }

    fn all_cells() -> Vec<(Area, Action, Ownership)> {
        let mut cells = Vec::new();
        for area in Area::VARIANTS {
            for action in Action::VARIANTS {
                for ownership in OWNERSHIPS {
                    cells.push((*area, *action, ownership));
                }
            }
        }
        cells
    }

    #[test]
    fn names_are_snake_case() {
        let roles: Vec<&str> = Role::VARIANTS.iter().map(|r| r.as_str()).collect();
        assert_eq!(roles, ROLES);
        let areas: Vec<&str> = Area::VARIANTS.iter().map(|a| a.as_str()).collect();
        let expected: Vec<&str> = EXPECTED.iter().map(|(a, _)| *a).collect();
        assert_eq!(areas, expected);
        let actions: Vec<&str> = Action::VARIANTS.iter().map(|a| a.as_str()).collect();
        assert_eq!(actions, ACTIONS);
        assert_eq!(Role::parse("ops_admin"), Ok(Role::OpsAdmin));
        assert!(Role::parse("OpsAdmin").is_err());
        assert_eq!(
            serde_json::to_value(Area::AuditLogs).unwrap(),
            serde_json::json!("audit_logs")
        );
    }

    #[test]
    fn every_cell_of_every_single_role() {
        let mut checked = 0;
        for (area_name, per_role) in EXPECTED {
            let area = Area::parse(area_name).unwrap();
            for (role_name, codes) in ROLES.iter().zip(per_role) {
                let role = Role::parse(role_name).unwrap();
                let groups: Vec<&str> = codes.split(' ').collect();
                assert_eq!(groups.len(), 3);
                for (action_name, group) in ACTIONS.iter().zip(&groups) {
                    let action = Action::parse(action_name).unwrap();
                    for (ownership, want) in OWNERSHIPS.iter().zip(group.chars()) {
                        let got = decide(&[role], area, action, *ownership);
                        assert_eq!(
                            letter(got),
                            want,
                            "{role_name} {action_name} {area_name} {ownership:?}: {got:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 5 * 9 * 3 * 3);
    }

    #[test]
    fn a_denial_names_the_area_and_the_action() {
        assert_eq!(
            decide(
                &[Role::Trainer],
                Area::CourseRuns,
                Action::Write,
                Ownership::Own
            ),
            Decision::Deny("your roles may not write course runs and sessions")
        );
        assert_eq!(
            decide(
                &[Role::Finance],
                Area::Attendance,
                Action::Read,
                Ownership::NotApplicable
            ),
            Decision::Deny("your roles may not read attendance")
        );
        assert_eq!(
            decide(
                &[Role::Auditor],
                Area::Enrolments,
                Action::WriteFees,
                Ownership::NotApplicable
            ),
            Decision::Deny("your roles may not write the fee and subsidy fields of enrolments")
        );
        for (area, action, ownership) in all_cells() {
            if let Decision::Deny(reason) = decide(&[Role::Trainer], area, action, ownership) {
                let verb = if action == Action::Read {
                    "may not read "
                } else {
                    "may not write "
                };
                assert!(reason.contains(verb), "{reason}");
                let first_word = area.label().split([' ', ',']).next().unwrap_or("");
                assert!(reason.contains(first_word), "{reason}");
            }
        }
    }

    #[test]
    fn no_role_is_denied_everything() {
        for (area, action, ownership) in all_cells() {
            assert_eq!(
                decide(&[], area, action, ownership),
                Decision::Deny(NO_ROLE)
            );
        }
    }

    #[test]
    fn several_roles_get_the_most_permissive_result() {
        use Action::*;
        use Ownership::*;
        let t_f = [Role::Trainer, Role::Finance];
        // Finance reads every enrolment; the trainer's "own" does not hide it.
        assert_eq!(
            decide(&t_f, Area::Enrolments, Read, NotOwn),
            Decision::Allow
        );
        assert_eq!(
            decide(&t_f, Area::Enrolments, WriteFees, NotOwn),
            Decision::Allow
        );
        // Visible through Finance, so a write is a 403, not a 404.
        assert!(matches!(
            decide(&t_f, Area::Enrolments, Write, NotOwn),
            Decision::Deny(_)
        ));
        // Finance has no attendance: another trainer's session stays hidden.
        assert_eq!(decide(&t_f, Area::Attendance, Read, NotOwn), Decision::Hide);
        assert_eq!(decide(&t_f, Area::Attendance, Write, Own), Decision::Allow);
        // The auditor sees every attendance record; writes to another
        // trainer's are refused, not hidden.
        let t_a = [Role::Trainer, Role::Auditor];
        assert!(matches!(
            decide(&t_a, Area::Attendance, Write, NotOwn),
            Decision::Deny(_)
        ));
        assert_eq!(decide(&t_a, Area::Attendance, Write, Own), Decision::Allow);
        assert_eq!(
            decide(&t_a, Area::Attendance, Read, NotOwn),
            Decision::Allow
        );
        // Finance and Auditor together: fees yes, sync job retries no.
        let f_a = [Role::Finance, Role::Auditor];
        assert_eq!(
            decide(&f_a, Area::Enrolments, WriteFees, NotApplicable),
            Decision::Allow
        );
        assert!(matches!(
            decide(&f_a, Area::SyncJobs, Write, NotApplicable),
            Decision::Deny(_)
        ));
        // Admin with a narrower role gets what Admin alone gets.
        for (area, action, ownership) in all_cells() {
            let admin = decide(&[Role::Admin], area, action, ownership);
            assert_eq!(
                decide(&[Role::Trainer, Role::Admin], area, action, ownership),
                admin
            );
            if action == Read {
                assert_eq!(admin, Decision::Allow);
            }
        }
    }

    #[test]
    fn two_roles_combine_by_rule_in_any_order() {
        for a in Role::VARIANTS {
            for b in Role::VARIANTS {
                for (area, action, ownership) in all_cells() {
                    let one = decide(&[*a], area, action, ownership);
                    let other = decide(&[*b], area, action, ownership);
                    let both = decide(&[*a, *b], area, action, ownership);
                    assert_eq!(both, decide(&[*b, *a], area, action, ownership));
                    let can_read =
                        |r: Role| decide(&[r], area, Action::Read, ownership) == Decision::Allow;
                    let want = if one == Decision::Allow || other == Decision::Allow {
                        'A'
                    } else if (one == Decision::Hide || other == Decision::Hide)
                        && !can_read(*a)
                        && !can_read(*b)
                    {
                        'H'
                    } else {
                        'D'
                    };
                    assert_eq!(
                        letter(both),
                        want,
                        "{a} + {b}: {action} {area} {ownership:?}"
                    );
                }
            }
        }
        for (area, action, ownership) in all_cells() {
            assert_eq!(
                decide(&[Role::Trainer, Role::Trainer], area, action, ownership),
                decide(&[Role::Trainer], area, action, ownership)
            );
        }
    }

    #[test]
    fn matrix_rows_follow_the_areas() {
        let areas: Vec<Area> = MATRIX.iter().map(|(a, _)| *a).collect();
        assert_eq!(areas, Area::VARIANTS);
        assert_eq!(grant(Role::Finance, Area::Enrolments), Grant::ReadWriteFees);
        assert_eq!(grant(Role::OpsAdmin, Area::Users), Grant::None);
    }

    #[test]
    fn matrix_markdown_is_the_readme_table() {
        let text = matrix_markdown();
        let expected = "\
| capability | admin | ops_admin | trainer | finance | auditor |
|---|---|---|---|---|---|
| users and roles | manage | - | - | - | read |
| course runs, sessions | manage | manage | read own | read | read |
| trainees | manage | manage | read own | read | read |
| trainers | manage | manage | read | read | read |
| enrolments | manage | manage | read own | read, write fees | read |
| attendance | manage | manage | read and write own | - | read |
| assessments | manage | manage | read and write own | - | read |
| audit logs | read | read | - | - | read |
| sync jobs | read, retry, redrive | read, retry, redrive | - | - | read |
";
        assert_eq!(text, expected);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 9);
        let labels: Vec<&str> = lines[2..]
            .iter()
            .map(|l| l.split(" | ").next().unwrap_or("").trim_start_matches("| "))
            .collect();
        assert_eq!(
            labels,
            [
                "users and roles",
                "course runs, sessions",
                "trainees",
                "trainers",
                "enrolments",
                "attendance",
                "assessments",
                "audit logs",
                "sync jobs"
            ]
        );
        assert_eq!(matrix_markdown(), text, "stable");
    }
}
