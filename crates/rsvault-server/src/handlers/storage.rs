//! Storage accounts, the targets of `RestoreDisks`. A PUT answers 200 with
//! the account, provisioned (`az storage account create` and the SDK's
//! poller take a 200 whose `provisioningState` is `Succeeded` as done), so
//! no operation URL is involved; DELETE answers 200, or 204 when there was
//! no such account, as Azure does.

use super::reply::{Reply, blocking, json, listed, put, status};
use crate::AppState;
use crate::arm::ArmError;
use axum::http::StatusCode;
use rsvault_arm::storage::{CheckNameRequest, StorageAccountResource};
use rsvault_service::inventory::ResourceRef;
use std::sync::Arc;

pub async fn list(state: &Arc<AppState>, sub: String, rg: Option<String>) -> Reply {
    listed(blocking(state, move |s| s.list_storage_accounts(&sub, rg.as_deref())).await?)
}

pub async fn get(state: &Arc<AppState>, a: ResourceRef) -> Reply {
    json(blocking(state, move |s| s.get_storage_account(&a)).await?)
}

pub async fn create(state: &Arc<AppState>, a: ResourceRef, body: StorageAccountResource) -> Reply {
    let (account, _created) = blocking(state, move |s| s.put_storage_account(&a, &body)).await?;
    put(account, false)
}

pub async fn delete(state: &Arc<AppState>, a: ResourceRef) -> Reply {
    let deleted = blocking(state, move |s| s.delete_storage_account(&a)).await?;
    status(if deleted {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    })
}

pub async fn containers(state: &Arc<AppState>, a: ResourceRef) -> Reply {
    listed(blocking(state, move |s| s.list_blob_containers(&a)).await?)
}

pub async fn container(state: &Arc<AppState>, a: ResourceRef, name: String) -> Reply {
    json(blocking(state, move |s| s.get_blob_container(&a, &name)).await?)
}

pub async fn blobs(state: &Arc<AppState>, a: ResourceRef, container: String) -> Reply {
    listed(blocking(state, move |s| s.list_blobs(&a, &container)).await?)
}

pub async fn check_name(state: &Arc<AppState>, body: CheckNameRequest) -> Reply {
    json(blocking(state, move |s| s.check_storage_account_name(&body)).await?)
}

/// Classic storage accounts do not exist here (`az` asks for one first).
pub fn classic(a: &ResourceRef) -> Reply {
    Err(ArmError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource 'Microsoft.ClassicStorage/storageAccounts/{}' under resource group '{}' was not found.",
            a.name, a.resource_group
        ),
    ))
}
