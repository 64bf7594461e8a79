//! Hosts that run the rsvault agent (`Microsoft.HybridCompute/machines`)
//! and their enrolment tokens.

use super::reply::{Reply, blocking, json, listed, status};
use crate::AppState;
use crate::arm::ArmError;
use crate::auth::Caller;
use crate::request::ArmRequest as R;
use axum::http::StatusCode;
use std::sync::Arc;

/// Whether a request is one of these.
pub fn handles(r: &R) -> bool {
    matches!(
        r,
        R::ListMachines { .. }
            | R::GetMachine { .. }
            | R::DeleteMachine { .. }
            | R::CreateEnrollmentToken { .. }
    )
}

#[rustfmt::skip]
pub async fn execute(state: &Arc<AppState>, caller: &Caller, request: R) -> Reply {
    match request {
        R::ListMachines { subscription, resource_group } => {
            listed(blocking(state, move |s| s.list_machines(&subscription, resource_group.as_deref())).await?)
        }
        R::GetMachine { subscription, resource_group, name } => {
            json(blocking(state, move |s| s.get_machine(&subscription, &resource_group, &name)).await?)
        }
        R::DeleteMachine { subscription, resource_group, name } => {
            blocking(state, move |s| s.delete_machine(&subscription, &resource_group, &name)).await?;
            status(StatusCode::OK)
        }
        R::CreateEnrollmentToken { subscription, resource_group, body } => {
            let Some(cert) = state.certificate_sha256.clone() else {
                return Err(ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "EnrollmentNeedsHttps",
                    "Agents enrol only with a server that speaks HTTPS (they pin its certificate); start it without --insecure-http.",
                ));
            };
            let by = caller.principal.object_id.clone();
            json(blocking(state, move |s| {
                s.create_enroll_token(&subscription, &resource_group, &body.location, body.expires_in_minutes, &by, &cert)
            }).await?)
        }
        other => Err(ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("no handler runs {other:?}"),
        )),
    }
}
