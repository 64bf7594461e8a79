//! Cross-region restore: the paired region's view of a geo-redundant
//! vault (items and replicated recovery points, read with the passive
//! stamp's api-versions on the vault's own paths) and its operations under
//! `…/locations/{region}/`.

use super::reply::{Reply, accepted, blocking, done_or_running, json, listed};
use crate::AppState;
use crate::paging::paged;
use crate::request::{ItemRef, ListQuery};
use rsvault_arm::crr::{CrossRegionRestoreRequest, CrrJobRequest};
use rsvault_service::VaultRef;
use std::sync::Arc;

pub async fn protected(state: &Arc<AppState>, v: VaultRef, q: ListQuery) -> Reply {
    let page = super::items::page_request(state, &q);
    Ok(paged(
        blocking(state, move |s| {
            s.list_protected_items_secondary(&v, &q.filter, &page)
        })
        .await?,
    ))
}

pub async fn recovery_points(state: &Arc<AppState>, i: ItemRef, q: ListQuery) -> Reply {
    listed(
        blocking(state, move |s| {
            s.list_recovery_points_secondary(&i.vault, &i.container, &i.item, &q.filter)
        })
        .await?,
    )
}

pub async fn recovery_point(state: &Arc<AppState>, i: ItemRef, rp: String) -> Reply {
    json(
        blocking(state, move |s| {
            s.get_recovery_point_secondary(&i.vault, &i.container, &i.item, &rp)
        })
        .await?,
    )
}

pub async fn access_token(state: &Arc<AppState>, i: ItemRef, rp: String) -> Reply {
    json(
        blocking(state, move |s| {
            s.crr_access_token(&i.vault, &i.container, &i.item, &rp)
        })
        .await?,
    )
}

pub fn aad_properties(state: &Arc<AppState>, subscription: &str) -> Reply {
    json(state.service.aad_properties(subscription))
}

/// 202 with the secondary region's operation URLs (`az` reads the
/// operation id off `Azure-AsyncOperation`).
pub async fn restore(
    state: &Arc<AppState>,
    base: &str,
    subscription: String,
    location: String,
    body: Box<CrossRegionRestoreRequest>,
) -> Reply {
    let region = format!(
        "{base}/subscriptions/{subscription}/providers/Microsoft.RecoveryServices/locations/{location}"
    );
    let op = blocking(state, move |s| {
        s.cross_region_restore(&subscription, &location, &body)
    })
    .await?;
    accepted(
        Some(format!("{region}/backupCrrOperationsStatus/{op}")),
        format!("{region}/backupCrrOperationResults/{op}"),
    )
}

pub async fn operation_status(state: &Arc<AppState>, subscription: String, op: String) -> Reply {
    json(blocking(state, move |s| s.crr_operation_status(&subscription, &op)).await?)
}

pub async fn operation_result(state: &Arc<AppState>, subscription: String, op: String) -> Reply {
    let status = blocking(state, move |s| s.crr_operation_status(&subscription, &op)).await?;
    done_or_running(status.status != Some(rsvault_arm::operation::OperationState::InProgress))
}

pub async fn job(
    state: &Arc<AppState>,
    subscription: String,
    location: String,
    body: CrrJobRequest,
) -> Reply {
    json(blocking(state, move |s| s.crr_job(&subscription, &location, &body)).await?)
}

pub async fn jobs(
    state: &Arc<AppState>,
    subscription: String,
    location: String,
    body: CrrJobRequest,
    q: ListQuery,
) -> Reply {
    listed(
        blocking(state, move |s| {
            s.crr_jobs(&subscription, &location, &body, &q.filter)
        })
        .await?,
    )
}
