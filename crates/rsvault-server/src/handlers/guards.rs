//! Multi-user authorization and the activity log: resource guards, a
//! vault's link to one and `unlockDelete`, the requests whose critical
//! changes a guard approves (they carry the caller's [`Approval`]), and
//! the activity log's list.

use super::reply::{Reply, blocking, json, listed, put, status};
use super::{policies, vaults};
use crate::AppState;
use crate::auth::Caller;
use crate::request::ArmRequest as R;
use axum::http::StatusCode;
use rsvault_service::mua::Approval;
use std::sync::Arc;

/// Whether this module runs the request.
pub fn handles(r: &R) -> bool {
    matches!(
        r,
        R::ListResourceGuardProxies { .. }
            | R::GetResourceGuardProxy { .. }
            | R::PutResourceGuardProxy { .. }
            | R::DeleteResourceGuardProxy { .. }
            | R::UnlockDelete { .. }
            | R::ListResourceGuards { .. }
            | R::GetResourceGuard { .. }
            | R::PutResourceGuard { .. }
            | R::DeleteResourceGuard { .. }
            | R::ListGuardRequests { .. }
            | R::GetGuardRequest { .. }
            | R::ListActivityLog { .. }
            | R::PutVault { .. }
            | R::PatchVault { .. }
            | R::SetVaultConfig { .. }
            | R::PutPolicy { .. }
            | R::PutProtectedItem { .. }
    )
}

/// What a request brings to approve a critical operation: the
/// `properties.resourceGuardOperationRequests` of its body, and the
/// caller's rights.
pub fn approval_of(caller: &Caller, body: &[u8]) -> Approval {
    let requests = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/properties/resourceGuardOperationRequests")
                .and_then(|r| serde_json::from_value::<Vec<String>>(r.clone()).ok())
        })
        .unwrap_or_default();
    let access = caller.access.clone();
    Approval::new(
        caller.name(),
        requests,
        Arc::new(move |action, scope| access.allows(action, scope)),
    )
}

#[rustfmt::skip]
pub async fn execute(state: &Arc<AppState>, base: &str, approval: Approval, request: R) -> Reply {
    let a = approval;
    match request {
        R::ListResourceGuardProxies { vault } => listed(blocking(state, move |s| s.list_guard_proxies(&vault)).await?),
        R::GetResourceGuardProxy { vault, name } => json(blocking(state, move |s| s.get_guard_proxy(&vault, &name)).await?),
        R::PutResourceGuardProxy { vault, name, body } => json(blocking(state, move |s| s.put_guard_proxy(&vault, &name, body, &a)).await?),
        R::DeleteResourceGuardProxy { vault, name } => {
            blocking(state, move |s| s.delete_guard_proxy(&vault, &name)).await?;
            status(StatusCode::OK)
        }
        R::UnlockDelete { vault, name, body } => json(blocking(state, move |s| s.unlock_delete(&vault, &name, body, &a)).await?),
        R::ListResourceGuards { subscription, resource_group } => {
            listed(blocking(state, move |s| s.list_resource_guards(&subscription, resource_group.as_deref())).await?)
        }
        R::GetResourceGuard { guard } => json(blocking(state, move |s| s.get_resource_guard(&guard)).await?),
        R::PutResourceGuard { guard, body } => {
            let (g, created) = blocking(state, move |s| s.put_resource_guard(&guard, body)).await?;
            put(g, created)
        }
        R::DeleteResourceGuard { guard } => {
            blocking(state, move |s| s.delete_resource_guard(&guard)).await?;
            status(StatusCode::OK)
        }
        R::ListGuardRequests { guard, request_type } => {
            listed(vec![blocking(state, move |s| s.guard_request(&guard, &request_type, "default")).await?])
        }
        R::GetGuardRequest { guard, request_type, name } => json(blocking(state, move |s| s.guard_request(&guard, &request_type, &name)).await?),
        R::ListActivityLog { subscription, query } => {
            let tenant = state.issuer.tenant().to_owned();
            listed(blocking(state, move |s| s.list_activity(&subscription, &query.filter, &tenant)).await?)
        }
        R::PutVault { vault, body } => vaults::create(state, vault, body, a).await,
        R::PatchVault { vault, body } => vaults::patch(state, vault, body, a).await,
        R::SetVaultConfig { vault, body } => vaults::set_vault_config(state, vault, body, a).await,
        R::PutPolicy { vault, policy, body } => policies::put(state, vault, policy, body, a).await,
        R::PutProtectedItem { item, body } => super::items::put(state, base, item, body, a).await,
        other => Err(crate::arm::ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("no handler runs {other:?}"),
        )),
    }
}
