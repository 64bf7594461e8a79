//! Jobs: list, show, cancel, and rsvault's verify job.

use super::items::vault_operation;
use super::reply::{Reply, accepted, blocking, done_or_running, json};
use crate::AppState;
use crate::request::ListQuery;
use rsvault_service::VaultRef;
use std::sync::Arc;

pub async fn verify(state: &Arc<AppState>, base: &str, v: VaultRef) -> Reply {
    let vault = v.clone();
    let op = blocking(state, move |s| s.verify_now(&vault)).await?;
    vault_operation(base, &v, &op)
}

pub async fn list(state: &Arc<AppState>, v: VaultRef, q: ListQuery) -> Reply {
    let page = super::items::page_request(state, &q);
    let jobs = blocking(state, move |s| s.list_jobs(&v, &q.filter, &page)).await?;
    Ok(crate::paging::paged(jobs.map(|j| {
        serde_json::to_value(j).unwrap_or(serde_json::Value::Null)
    })))
}

pub async fn get(state: &Arc<AppState>, v: VaultRef, job: String) -> Reply {
    json(blocking(state, move |s| s.get_job(&v, &job)).await?)
}

pub async fn cancel(state: &Arc<AppState>, base: &str, v: VaultRef, job: String) -> Reply {
    let (vid, vault, j) = (v.id(), v.clone(), job.clone());
    let op = blocking(state, move |s| s.cancel_job(&vault, &j)).await?;
    accepted(
        Some(format!("{base}{vid}/backupOperations/{op}")),
        format!("{base}{vid}/backupJobs/{job}/operationResults/{op}"),
    )
}

pub async fn operation_result(
    state: &Arc<AppState>,
    v: VaultRef,
    job: String,
    op: String,
) -> Reply {
    done_or_running(blocking(state, move |s| s.job_operation_done(&v, &job, &op)).await?)
}
