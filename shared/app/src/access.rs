//! Enforcement of the authorization policy (tms_domain::access) in the
//! application layer: every use case asks before it reads or writes, so the
//! Lambdas and the local server share one set of rules.

use tms_domain::access::{decide, Action, Area, Decision, Ownership};

use crate::context::RequestContext;
use crate::error::AppError;
use crate::App;

impl App {
    /// Allows the acting user to do `action` on `area` (no ownership
    /// involved), or answers 403.
    pub(crate) fn authorize(
        &self,
        ctx: &RequestContext,
        area: Area,
        action: Action,
        what: &'static str,
    ) -> Result<(), AppError> {
        self.authorize_owned(ctx, area, action, Ownership::NotApplicable, what)
    }

    /// As [`App::authorize`], for one thing that may be the acting
    /// trainer's own: another trainer's thing is answered as not found.
    pub(crate) fn authorize_owned(
        &self,
        ctx: &RequestContext,
        area: Area,
        action: Action,
        ownership: Ownership,
        what: &'static str,
    ) -> Result<(), AppError> {
        match decide(&ctx.actor.roles, area, action, ownership) {
            Decision::Allow => Ok(()),
            Decision::Deny(why) => {
                tracing::info!(user_id = %ctx.actor.user_id, area = area.as_str(), action = action.as_str(), "request denied");
                Err(AppError::Forbidden(why))
            }
            Decision::Hide => Err(AppError::NotFound(what)),
        }
    }
}
