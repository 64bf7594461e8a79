//! Vaults and their settings, usages and usage summaries.

use super::reply::{Reply, blocking, json, listed, put, status};
use crate::AppState;
use crate::request::ListQuery;
use axum::http::StatusCode;
use rsvault_arm::vault::{BackupStorageConfigPut, BackupVaultConfigPut, VaultPatch, VaultPut};
use rsvault_service::VaultRef;
use rsvault_service::mua::Approval;
use std::sync::Arc;

pub async fn list(state: &Arc<AppState>, sub: String, rg: Option<String>) -> Reply {
    listed(blocking(state, move |s| s.list_vaults(&sub, rg.as_deref())).await?)
}

pub async fn get(state: &Arc<AppState>, v: VaultRef) -> Reply {
    json(blocking(state, move |s| s.get_vault(&v)).await?)
}

pub async fn create(state: &Arc<AppState>, v: VaultRef, body: VaultPut, a: Approval) -> Reply {
    let (vault, created) = blocking(state, move |s| s.put_vault_as(&v, body, &a)).await?;
    put(vault, created)
}

pub async fn patch(state: &Arc<AppState>, v: VaultRef, body: VaultPatch, a: Approval) -> Reply {
    json(blocking(state, move |s| s.patch_vault_as(&v, body, &a)).await?)
}

pub async fn delete(state: &Arc<AppState>, v: VaultRef) -> Reply {
    blocking(state, move |s| s.delete_vault(&v)).await?;
    status(StatusCode::NO_CONTENT)
}

pub async fn storage_config(state: &Arc<AppState>, v: VaultRef) -> Reply {
    json(blocking(state, move |s| s.storage_config(&v)).await?)
}

pub async fn put_storage_config(
    state: &Arc<AppState>,
    v: VaultRef,
    body: BackupStorageConfigPut,
) -> Reply {
    json(blocking(state, move |s| s.set_storage_config(&v, body)).await?)
}

pub async fn patch_storage_config(
    state: &Arc<AppState>,
    v: VaultRef,
    body: BackupStorageConfigPut,
) -> Reply {
    blocking(state, move |s| s.set_storage_config(&v, body)).await?;
    status(StatusCode::NO_CONTENT)
}

pub async fn vault_config(state: &Arc<AppState>, v: VaultRef) -> Reply {
    json(blocking(state, move |s| s.vault_config(&v)).await?)
}

pub async fn set_vault_config(
    state: &Arc<AppState>,
    v: VaultRef,
    body: BackupVaultConfigPut,
    a: Approval,
) -> Reply {
    json(blocking(state, move |s| s.set_vault_config_as(&v, body, &a)).await?)
}

/// Backups here are encrypted with keys the server manages.
pub async fn encryption_config(state: &Arc<AppState>, v: VaultRef) -> Reply {
    json(blocking(state, move |s| s.encryption_config(&v)).await?)
}

pub async fn usages(state: &Arc<AppState>, v: VaultRef) -> Reply {
    listed(blocking(state, move |s| s.vault_usages(&v)).await?)
}

pub async fn usage_summaries(state: &Arc<AppState>, v: VaultRef, q: ListQuery) -> Reply {
    listed(blocking(state, move |s| s.backup_usage_summaries(&v, &q.filter)).await?)
}
