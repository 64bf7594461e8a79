//! Subscriptions, resource groups and the backup status of a VM.

use super::reply::{Reply, blocking, json, listed};
use crate::AppState;
use crate::arm::ArmError;
use axum::http::StatusCode;
use rsvault_arm::tenancy::BackupStatusRequest;
use rsvault_service::identity::rbac::Access;
use std::sync::Arc;

/// The one tenant: this server's.
pub fn tenants(state: &Arc<AppState>) -> Reply {
    let t = state.issuer.tenant();
    listed(vec![serde_json::json!({
        "id": format!("/tenants/{t}"),
        "tenantId": t,
        "tenantCategory": "Home",
        "displayName": "rsvault",
        "defaultDomain": "rsvault.local",
        "domains": ["rsvault.local"],
        "tenantType": "AAD",
    })])
}

/// The subscriptions the caller holds a role in: those that hold
/// something, and those its role assignments name.
pub async fn subscriptions(state: &Arc<AppState>, access: Arc<Access>) -> Reply {
    let tenant = state.issuer.tenant().to_owned();
    listed(blocking(state, move |s| s.subscriptions_of(&access, &tenant)).await?)
}

pub async fn resource_groups(state: &Arc<AppState>, sub: String) -> Reply {
    listed(blocking(state, move |s| s.list_resource_groups(&sub)).await?)
}

pub async fn resource_group(state: &Arc<AppState>, sub: String, rg: String) -> Reply {
    let shown = rg.clone();
    let groups = blocking(state, move |s| s.list_resource_groups(&sub)).await?;
    let found = groups
        .into_iter()
        .find(|g| g.name().eq_ignore_ascii_case(&rg));
    match found {
        Some(g) => json(g),
        None => Err(ArmError::new(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{shown}' could not be found."),
        )),
    }
}

pub async fn backup_status(state: &Arc<AppState>, sub: String, body: BackupStatusRequest) -> Reply {
    json(blocking(state, move |s| s.backup_status(&sub, &body)).await?)
}
