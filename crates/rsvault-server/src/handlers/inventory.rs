//! Virtual machines, managed disks and the instant-restore tier.

use super::reply::{Reply, blocking, json, listed, put, status};
use crate::AppState;
use crate::request::PowerAction;
use axum::http::StatusCode;
use rsvault_arm::inventory::{ManagedDisk, VirtualMachine};
use rsvault_service::inventory::{ResourceRef, VmProvider};
use std::sync::Arc;

pub async fn list_vms(
    state: &Arc<AppState>,
    p: VmProvider,
    sub: String,
    rg: Option<String>,
) -> Reply {
    listed(blocking(state, move |s| s.list_vms(p, &sub, rg.as_deref())).await?)
}

pub async fn get_vm(state: &Arc<AppState>, p: VmProvider, vm: ResourceRef, view: bool) -> Reply {
    json(blocking(state, move |s| s.get_vm(p, &vm, view)).await?)
}

pub async fn instance_view(state: &Arc<AppState>, p: VmProvider, vm: ResourceRef) -> Reply {
    let v = blocking(state, move |s| s.get_vm(p, &vm, true)).await?;
    json(v.properties.instance_view)
}

pub async fn put_vm(
    state: &Arc<AppState>,
    p: VmProvider,
    vm: ResourceRef,
    body: VirtualMachine,
) -> Reply {
    let (v, created) = blocking(state, move |s| s.put_vm(p, &vm, &body)).await?;
    put(v, created)
}

pub async fn delete_vm(state: &Arc<AppState>, p: VmProvider, vm: ResourceRef) -> Reply {
    blocking(state, move |s| s.delete_vm(p, &vm)).await?;
    status(StatusCode::OK)
}

pub async fn power(state: &Arc<AppState>, p: VmProvider, vm: ResourceRef, a: PowerAction) -> Reply {
    blocking(state, move |s| s.set_power(p, &vm, a.state())).await?;
    status(StatusCode::OK)
}

pub async fn list_disks(state: &Arc<AppState>, sub: String, rg: Option<String>) -> Reply {
    listed(blocking(state, move |s| s.list_disks(&sub, rg.as_deref())).await?)
}

pub async fn get_disk(state: &Arc<AppState>, d: ResourceRef) -> Reply {
    json(blocking(state, move |s| s.get_disk(&d)).await?)
}

pub async fn put_disk(state: &Arc<AppState>, d: ResourceRef, body: ManagedDisk) -> Reply {
    let (v, created) = blocking(state, move |s| s.put_disk(&d, &body)).await?;
    put(v, created)
}

pub async fn delete_disk(state: &Arc<AppState>, d: ResourceRef) -> Reply {
    blocking(state, move |s| s.delete_disk(&d)).await?;
    status(StatusCode::OK)
}

pub async fn restore_point_collections(state: &Arc<AppState>, sub: String, rg: String) -> Reply {
    listed(
        blocking(state, move |s| {
            s.list_restore_point_collections(&sub, Some(&rg))
        })
        .await?,
    )
}

pub async fn restore_point_collection(
    state: &Arc<AppState>,
    c: ResourceRef,
    expand: bool,
) -> Reply {
    let (sub, rg, name) = (c.subscription, c.resource_group, c.name);
    json(
        blocking(state, move |s| {
            s.get_restore_point_collection(&sub, &rg, &name, expand)
        })
        .await?,
    )
}

pub async fn restore_point(state: &Arc<AppState>, c: ResourceRef, point: String) -> Reply {
    let (sub, rg, name) = (c.subscription, c.resource_group, c.name);
    json(
        blocking(state, move |s| {
            s.get_restore_point(&sub, &rg, &name, &point)
        })
        .await?,
    )
}
