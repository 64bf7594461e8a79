//! Containers, protected items, backups, recovery points, restores and
//! the operations they start. Operation URLs start with the request's
//! base URL (`crate::urls`), never with one built by hand.

use super::reply::{Reply, accepted, blocking, done_or_running, json, listed};
use crate::AppState;
use crate::paging::paged;
use crate::request::{ItemRef, ListQuery};
use rsvault_arm::item::ProtectedItemResource;
use rsvault_arm::request::{IaasVmBackupRequest, IaasVmRestoreRequest};
use rsvault_service::VaultRef;
use std::sync::Arc;

/// 202 for an operation on an item: its status and result URLs.
fn item_operation(base: &str, item: &ItemRef, op: &str) -> Reply {
    let pi = format!("{base}{}", item.id());
    accepted(
        Some(format!("{pi}/operationsStatus/{op}")),
        format!("{pi}/operationResults/{op}"),
    )
}

/// 202 for an operation of the vault: its status and result URLs.
pub fn vault_operation(base: &str, v: &VaultRef, op: &str) -> Reply {
    let vid = v.id();
    accepted(
        Some(format!("{base}{vid}/backupOperations/{op}")),
        format!("{base}{vid}/backupOperationResults/{op}"),
    )
}

pub async fn refresh_containers(state: &Arc<AppState>, base: &str, v: VaultRef) -> Reply {
    let vid = v.id();
    let op = blocking(state, move |s| s.refresh_containers(&v)).await?;
    accepted(
        None,
        format!("{base}{vid}/backupFabrics/Azure/operationResults/{op}"),
    )
}

pub async fn operation_result(state: &Arc<AppState>, v: VaultRef, op: String) -> Reply {
    done_or_running(blocking(state, move |s| s.operation_done(&v, &op)).await?)
}

pub async fn operation_status(state: &Arc<AppState>, v: VaultRef, op: String) -> Reply {
    json(blocking(state, move |s| s.operation_status(&v, &op)).await?)
}

/// `q.filter` is the raw `$filter`, applied by the service.
pub async fn protectable(state: &Arc<AppState>, v: VaultRef, q: ListQuery) -> Reply {
    listed(blocking(state, move |s| s.protectable_items(&v, &q.filter)).await?)
}

/// Filtered and paged in the metadata store's query.
pub async fn protected(state: &Arc<AppState>, v: VaultRef, q: ListQuery) -> Reply {
    let page = page_request(state, &q);
    Ok(paged(
        blocking(state, move |s| s.list_protected_items(&v, &q.filter, &page)).await?,
    ))
}

/// Filtered and paged in the metadata store's query.
pub async fn containers(state: &Arc<AppState>, v: VaultRef, q: ListQuery) -> Reply {
    let page = page_request(state, &q);
    Ok(paged(
        blocking(state, move |s| s.list_containers(&v, &q.filter, &page)).await?,
    ))
}

/// The page a list request asks for: its `$skiptoken` and the server's
/// page size.
pub fn page_request(state: &AppState, q: &ListQuery) -> rsvault_service::PageRequest {
    rsvault_service::PageRequest {
        token: q.skip_token.clone(),
        size: state.page_size.max(1),
    }
}

pub async fn get(state: &Arc<AppState>, i: ItemRef) -> Reply {
    json(
        blocking(state, move |s| {
            s.get_protected_item(&i.vault, &i.container, &i.item)
        })
        .await?,
    )
}

pub async fn put(
    state: &Arc<AppState>,
    base: &str,
    i: ItemRef,
    body: ProtectedItemResource,
    a: rsvault_service::mua::Approval,
) -> Reply {
    let it = i.clone();
    let op = blocking(state, move |s| {
        s.put_protected_item_as(&it.vault, &it.container, &it.item, &body, &a)
    })
    .await?;
    item_operation(base, &i, &op)
}

pub async fn delete(state: &Arc<AppState>, base: &str, i: ItemRef) -> Reply {
    let v = i.vault.clone();
    let op = blocking(state, move |s| {
        s.delete_protected_item(&i.vault, &i.container, &i.item)
    })
    .await?;
    vault_operation(base, &v, &op)
}

pub async fn backup(
    state: &Arc<AppState>,
    base: &str,
    i: ItemRef,
    body: IaasVmBackupRequest,
) -> Reply {
    let it = i.clone();
    let op = blocking(state, move |s| {
        s.backup_now(&it.vault, &it.container, &it.item, &body)
    })
    .await?;
    item_operation(base, &i, &op)
}

pub async fn recovery_points(state: &Arc<AppState>, i: ItemRef, q: ListQuery) -> Reply {
    listed(
        blocking(state, move |s| {
            s.list_recovery_points(&i.vault, &i.container, &i.item, &q.filter)
        })
        .await?,
    )
}

pub async fn recovery_point(state: &Arc<AppState>, i: ItemRef, rp: String) -> Reply {
    json(
        blocking(state, move |s| {
            s.get_recovery_point(&i.vault, &i.container, &i.item, &rp)
        })
        .await?,
    )
}

pub async fn restore(
    state: &Arc<AppState>,
    base: &str,
    i: ItemRef,
    rp: String,
    body: Box<IaasVmRestoreRequest>,
) -> Reply {
    let it = i.clone();
    let op = blocking(state, move |s| {
        s.restore(
            &it.vault,
            &it.container,
            &it.item,
            &rp,
            &body,
            rsvault_service::restore::RestoreSource::Primary,
        )
    })
    .await?;
    item_operation(base, &i, &op)
}
