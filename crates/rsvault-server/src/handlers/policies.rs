//! Backup policies.

use super::reply::{Reply, blocking, json, listed, status};
use crate::AppState;
use crate::request::ListQuery;
use axum::http::StatusCode;
use rsvault_arm::policy::BackupPolicyPut;
use rsvault_service::VaultRef;
use std::sync::Arc;

/// `q.filter` is the raw `$filter`, applied by the service.
pub async fn list(state: &Arc<AppState>, v: VaultRef, q: ListQuery) -> Reply {
    listed(blocking(state, move |s| s.list_policies(&v, &q.filter)).await?)
}

pub async fn get(state: &Arc<AppState>, v: VaultRef, name: String) -> Reply {
    json(blocking(state, move |s| s.get_policy(&v, &name)).await?)
}

pub async fn put(
    state: &Arc<AppState>,
    v: VaultRef,
    name: String,
    body: BackupPolicyPut,
    a: rsvault_service::mua::Approval,
) -> Reply {
    json(blocking(state, move |s| s.put_policy_as(&v, &name, body, &a)).await?)
}

pub async fn delete(state: &Arc<AppState>, v: VaultRef, name: String) -> Reply {
    blocking(state, move |s| s.delete_policy(&v, &name)).await?;
    status(StatusCode::NO_CONTENT)
}
