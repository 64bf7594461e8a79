//! Dispatch of ARM paths. ARM matches paths case-insensitively, so paths are
//! split into segments and the fixed ones compared in lower case; names keep
//! the caller's casing.

use crate::AppState;
use crate::arm::{ArmError, list};
use crate::paging::paged;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rsvault_service::inventory::{ResourceRef, VmProvider};
use rsvault_service::{Service, VaultRef};
use serde_json::Value;
use std::sync::Arc;

type Reply = Result<Response, ArmError>;

fn decode(seg: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn body_json(body: &Bytes) -> Result<Value, ArmError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|e| {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: {e}"),
        )
    })
}

/// Runs a blocking service call off the async threads. The service comes
/// as its shared handle, which calls that start background jobs need.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&Arc<Service>) -> rsvault_service::Result<T> + Send + 'static,
) -> Result<T, ArmError> {
    let svc = state.service.clone();
    tokio::task::spawn_blocking(move || f(&svc))
        .await
        .map_err(|e| {
            ArmError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                e.to_string(),
            )
        })?
        .map_err(ArmError::from)
}

/// The absolute URL of the protected item a vault-scoped path names
/// (`orig` holds the path segments after the vault).
fn item_url(base: &str, v: &VaultRef, orig: &[String]) -> String {
    format!(
        "{base}{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
        v.id(),
        orig[3],
        orig[5]
    )
}

fn no_route(method: &Method, path: &str) -> ArmError {
    ArmError::new(
        StatusCode::NOT_FOUND,
        "NoRegisteredProviderFound",
        format!("No route for {method} {path} in this rsvault server."),
    )
}

/// Every ARM request lands here.
pub async fn dispatch(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    axum::Extension(base): axum::Extension<crate::urls::BaseUrl>,
    axum::Extension(page): axum::Extension<crate::paging::PageParams>,
    body: Bytes,
) -> Reply {
    // Operation URLs are absolute, built from the server's own URL (never
    // from the request's Host header).
    let base = base.0;
    let path = uri.path();
    let seg: Vec<String> = path.trim_matches('/').split('/').map(decode).collect();
    let lc: Vec<String> = seg.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lc.iter().map(String::as_str).collect();
    if let ["subscriptions", _, "resourcegroups", _, ..] = l.as_slice() {
        rsvault_service::names::check_resource_group_name(&seg[3]).map_err(ArmError::from)?;
    }
    match l.as_slice() {
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.recoveryservices",
            "vaults",
        ] if method == Method::GET => {
            let sub = seg[1].clone();
            let vaults = blocking(&state, move |s| s.list_vaults(&sub, None)).await?;
            Ok(list(vaults.into_iter().map(to_value).collect()).into_response())
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.recoveryservices",
            "vaults",
        ] if method == Method::GET => {
            let (sub, rg) = (seg[1].clone(), seg[3].clone());
            let vaults = blocking(&state, move |s| s.list_vaults(&sub, Some(&rg))).await?;
            Ok(list(vaults.into_iter().map(to_value).collect()).into_response())
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.recoveryservices",
            "vaults",
            _,
            rest @ ..,
        ] => {
            let v = VaultRef {
                subscription: seg[1].clone(),
                resource_group: seg[3].clone(),
                name: seg[7].clone(),
            };
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            let orig: Vec<String> = seg[8..].to_vec();
            vault_scoped(
                &state,
                &base,
                &odata_filter(uri.query()),
                page.0,
                method,
                v,
                &rest,
                &orig,
                body,
            )
            .await
        }
        ["subscriptions"] if method == Method::GET => {
            let subs = blocking(&state, |s| s.list_subscriptions()).await?;
            Ok(list(subs).into_response())
        }
        ["subscriptions", _, "resourcegroups"] if method == Method::GET => {
            let sub = seg[1].clone();
            let groups = blocking(&state, move |s| s.list_resource_groups(&sub)).await?;
            Ok(list(groups).into_response())
        }
        ["subscriptions", _, "resourcegroups", _] if method == Method::GET => {
            let (sub, rg) = (seg[1].clone(), seg[3].clone());
            let groups = blocking(&state, move |s| s.list_resource_groups(&sub)).await?;
            match groups.into_iter().find(|g| {
                g["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&rg))
            }) {
                Some(g) => Ok(Json(g).into_response()),
                None => Err(ArmError::new(
                    StatusCode::NOT_FOUND,
                    "ResourceGroupNotFound",
                    format!("Resource group '{}' could not be found.", seg[3]),
                )),
            }
        }
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.recoveryservices",
            "locations",
            _,
            "backupstatus",
        ] if method == Method::POST => {
            let sub = seg[1].clone();
            let body = body_json(&body)?;
            let v = blocking(&state, move |s| s.backup_status(&sub, &body)).await?;
            Ok(Json(v).into_response())
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            "microsoft.compute",
            "restorepointcollections",
            rest @ ..,
        ] if method == Method::GET => {
            // The instant-restore tier, read-only.
            let (sub, rg) = (seg[1].clone(), seg[3].clone());
            let expand = uri
                .query()
                .unwrap_or("")
                .to_ascii_lowercase()
                .contains("expand=restorepoints");
            match rest {
                [] => {
                    let v = blocking(&state, move |s| {
                        s.list_restore_point_collections(&sub, Some(&rg))
                    })
                    .await?;
                    Ok(list(v).into_response())
                }
                [_] => {
                    let name = seg[7].clone();
                    let v = blocking(&state, move |s| {
                        s.get_restore_point_collection(&sub, &rg, &name, expand)
                    })
                    .await?;
                    Ok(Json(v).into_response())
                }
                [_, "restorepoints", _] => {
                    let (name, point) = (seg[7].clone(), seg[9].clone());
                    let v = blocking(&state, move |s| {
                        s.get_restore_point(&sub, &rg, &name, &point)
                    })
                    .await?;
                    Ok(Json(v).into_response())
                }
                _ => Err(no_route(&method, path)),
            }
        }
        [
            "subscriptions",
            _,
            "providers",
            ns @ ("microsoft.compute" | "microsoft.classiccompute"),
            kind @ ("virtualmachines" | "disks"),
        ] if method == Method::GET => {
            let (sub, ns, kind) = (seg[1].clone(), ns.to_string(), kind.to_string());
            inventory_list(&state, sub, None, &ns, &kind).await
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            ns @ ("microsoft.compute" | "microsoft.classiccompute"),
            kind @ ("virtualmachines" | "disks"),
            rest @ ..,
        ] => {
            let r = ResourceRef {
                subscription: seg[1].clone(),
                resource_group: seg[3].clone(),
                name: seg.get(7).cloned().unwrap_or_default(),
            };
            let (ns, kind) = (ns.to_string(), kind.to_string());
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            inventory(
                &state,
                method,
                uri.query().unwrap_or(""),
                r,
                &ns,
                &kind,
                &rest,
                body,
            )
            .await
        }
        _ => Err(no_route(&method, path)),
    }
}

async fn inventory_list(
    state: &Arc<AppState>,
    sub: String,
    rg: Option<String>,
    ns: &str,
    kind: &str,
) -> Reply {
    let items = if kind == "disks" {
        if ns != "microsoft.compute" {
            return Err(no_route(&Method::GET, kind));
        }
        blocking(state, move |s| s.list_disks(&sub, rg.as_deref())).await?
    } else {
        let p = provider(ns);
        blocking(state, move |s| s.list_vms(p, &sub, rg.as_deref())).await?
    };
    Ok(list(items).into_response())
}

fn provider(ns: &str) -> VmProvider {
    if ns == "microsoft.classiccompute" {
        VmProvider::ClassicCompute
    } else {
        VmProvider::Compute
    }
}

#[allow(clippy::too_many_arguments)]
async fn inventory(
    state: &Arc<AppState>,
    method: Method,
    query: &str,
    r: ResourceRef,
    ns: &str,
    kind: &str,
    rest: &[String],
    body: Bytes,
) -> Reply {
    let r_: Vec<&str> = rest.iter().map(String::as_str).collect();
    if r_.is_empty() {
        let (sub, rg) = (r.subscription.clone(), r.resource_group.clone());
        return inventory_list(state, sub, Some(rg), ns, kind).await;
    }
    let p = provider(ns);
    let expand = query.to_ascii_lowercase().contains("instanceview");
    match (kind, method.clone(), &r_[1..]) {
        ("disks", Method::PUT, []) if ns == "microsoft.compute" => {
            let b = body_json(&body)?;
            let (d, created) = blocking(state, move |s| s.put_disk(&r, &b)).await?;
            Ok((
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                Json(d),
            )
                .into_response())
        }
        ("disks", Method::GET, []) if ns == "microsoft.compute" => {
            Ok(Json(blocking(state, move |s| s.get_disk(&r)).await?).into_response())
        }
        ("disks", Method::DELETE, []) if ns == "microsoft.compute" => {
            blocking(state, move |s| s.delete_disk(&r)).await?;
            Ok(StatusCode::OK.into_response())
        }
        ("virtualmachines", Method::PUT, []) => {
            let b = body_json(&body)?;
            let (v, created) = blocking(state, move |s| s.put_vm(p, &r, &b)).await?;
            Ok((
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                Json(v),
            )
                .into_response())
        }
        ("virtualmachines", Method::GET, []) => {
            Ok(Json(blocking(state, move |s| s.get_vm(p, &r, expand)).await?).into_response())
        }
        ("virtualmachines", Method::GET, ["instanceview"]) => {
            let v = blocking(state, move |s| s.get_vm(p, &r, true)).await?;
            Ok(Json(v["properties"]["instanceView"].clone()).into_response())
        }
        ("virtualmachines", Method::DELETE, []) => {
            blocking(state, move |s| s.delete_vm(p, &r)).await?;
            Ok(StatusCode::OK.into_response())
        }
        ("virtualmachines", Method::POST, [action @ ("start" | "poweroff" | "deallocate")]) => {
            let state_name = match *action {
                "start" => "running",
                "poweroff" => "stopped",
                _ => "deallocated",
            };
            blocking(state, move |s| s.set_power(p, &r, state_name)).await?;
            Ok(StatusCode::OK.into_response())
        }
        _ => Err(no_route(&method, &rest.join("/"))),
    }
}

/// The decoded `$filter` of a query string ("" when absent).
fn odata_filter(query: Option<&str>) -> String {
    query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (decode(k).eq_ignore_ascii_case("$filter")).then(|| decode(&v.replace('+', " ")))
        })
        .unwrap_or_default()
}

fn to_value<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// 202 Accepted with the headers Azure's clients poll.
fn accepted(status_url: String, result_url: String) -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        h.insert("Azure-AsyncOperation", v);
    }
    if let Ok(v) = HeaderValue::from_str(&result_url) {
        h.insert(axum::http::header::LOCATION, v);
    }
    h.insert(
        axum::http::header::RETRY_AFTER,
        HeaderValue::from_static("1"),
    );
    r
}

/// An operation's result: 202 while it runs, 204 when it is done.
async fn op_result(state: &Arc<AppState>, v: VaultRef, op: String) -> Reply {
    let done = blocking(state, move |s| s.operation_done(&v, &op)).await?;
    Ok(if done {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    }
    .into_response())
}

#[allow(clippy::too_many_arguments)]
async fn vault_scoped(
    state: &Arc<AppState>,
    base: &str,
    filter: &str,
    page: rsvault_service::PageRequest,
    method: Method,
    v: VaultRef,
    rest: &[String],
    orig: &[String],
    body: Bytes,
) -> Reply {
    let r: Vec<&str> = rest.iter().map(String::as_str).collect();
    match (method.clone(), r.as_slice()) {
        (Method::PUT, []) => {
            let b = body_json(&body)?;
            let (vault, created) = blocking(state, move |s| s.put_vault(&v, &b)).await?;
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(vault)).into_response())
        }
        (Method::GET, []) => {
            Ok(Json(blocking(state, move |s| s.get_vault(&v)).await?).into_response())
        }
        (Method::PATCH, []) => {
            let b = body_json(&body)?;
            Ok(Json(blocking(state, move |s| s.patch_vault(&v, &b)).await?).into_response())
        }
        (Method::DELETE, []) => {
            blocking(state, move |s| s.delete_vault(&v)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::GET, ["backupstorageconfig", "vaultstorageconfig"]) => {
            Ok(Json(blocking(state, move |s| s.storage_config(&v)).await?).into_response())
        }
        (Method::PUT, ["backupstorageconfig", "vaultstorageconfig"]) => {
            let b = body_json(&body)?;
            Ok(Json(blocking(state, move |s| s.set_storage_config(&v, &b)).await?).into_response())
        }
        (Method::PATCH, ["backupstorageconfig", "vaultstorageconfig"]) => {
            let b = body_json(&body)?;
            blocking(state, move |s| s.set_storage_config(&v, &b)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::GET, ["usages"]) => {
            Ok(list(blocking(state, move |s| s.vault_usages(&v)).await?).into_response())
        }
        (Method::GET, ["backupusagesummaries"]) => {
            let f = filter.to_owned();
            Ok(
                list(blocking(state, move |s| s.backup_usage_summaries(&v, &f)).await?)
                    .into_response(),
            )
        }
        (Method::GET, ["backupconfig", "vaultconfig"]) => {
            Ok(Json(blocking(state, move |s| s.vault_config(&v)).await?).into_response())
        }
        (Method::PUT | Method::PATCH, ["backupconfig", "vaultconfig"]) => {
            let b = body_json(&body)?;
            Ok(Json(blocking(state, move |s| s.set_vault_config(&v, &b)).await?).into_response())
        }
        (Method::GET, ["backupencryptionconfigs", "backupresourceencryptionconfig"]) => {
            let id = format!(
                "{}/backupEncryptionConfigs/backupResourceEncryptionConfig",
                v.id()
            );
            blocking(state, move |s| s.get_vault(&v)).await?;
            Ok(Json(serde_json::json!({
                "id": id, "name": "backupResourceEncryptionConfig",
                "type": "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs",
                "properties": {"encryptionAtRestType": "MicrosoftManaged", "infrastructureEncryptionState": "Disabled", "lastUpdateStatus": "Succeeded"}
            }))
            .into_response())
        }
        (Method::GET, ["backuppolicies"]) => {
            let f = filter.to_owned();
            Ok(list(blocking(state, move |s| s.list_policies(&v, &f)).await?).into_response())
        }
        (Method::GET, ["backuppolicies", _]) => {
            let name = orig[1].clone();
            Ok(Json(blocking(state, move |s| s.get_policy(&v, &name)).await?).into_response())
        }
        (Method::PUT, ["backuppolicies", _]) => {
            let (name, b) = (orig[1].clone(), body_json(&body)?);
            Ok(Json(blocking(state, move |s| s.put_policy(&v, &name, &b)).await?).into_response())
        }
        (Method::DELETE, ["backuppolicies", _]) => {
            let name = orig[1].clone();
            blocking(state, move |s| s.delete_policy(&v, &name)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::POST, ["backupfabrics", "azure", "refreshcontainers"]) => {
            let vid = v.id();
            let op = blocking(state, move |s| s.refresh_containers(&v)).await?;
            let url = format!("{base}{vid}/backupFabrics/Azure/operationResults/{op}");
            let mut r = accepted(url.clone(), url);
            r.headers_mut().remove("Azure-AsyncOperation");
            Ok(r)
        }
        (Method::GET, ["backupfabrics", "azure", "operationresults", _])
        | (Method::GET, ["backupoperationresults", _]) => {
            let op = orig.last().cloned().unwrap_or_default();
            op_result(state, v, op).await
        }
        (Method::GET, ["backupoperations", _]) => {
            let op = orig[1].clone();
            Ok(Json(blocking(state, move |s| s.operation_status(&v, &op)).await?).into_response())
        }
        (Method::GET, ["backupprotectableitems"]) => {
            let f = filter.to_owned();
            Ok(list(blocking(state, move |s| s.protectable_items(&v, &f)).await?).into_response())
        }
        (Method::GET, ["backupprotecteditems"]) => {
            let f = filter.to_owned();
            Ok(paged(
                blocking(state, move |s| s.list_protected_items(&v, &f, &page)).await?,
            ))
        }
        (Method::GET, ["backupprotectioncontainers"]) => {
            let f = filter.to_owned();
            Ok(paged(
                blocking(state, move |s| s.list_containers(&v, &f, &page)).await?,
            ))
        }
        (Method::GET, ["backupresourceguardproxies"]) => Ok(list(Vec::new()).into_response()),
        (
            Method::GET,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
            ],
        ) => {
            let (c, i) = (orig[3].clone(), orig[5].clone());
            Ok(
                Json(blocking(state, move |s| s.get_protected_item(&v, &c, &i)).await?)
                    .into_response(),
            )
        }
        (
            Method::PUT,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
            ],
        ) => {
            let (c, i, b) = (orig[3].clone(), orig[5].clone(), body_json(&body)?);
            let pi = item_url(base, &v, orig);
            let op = blocking(state, move |s| s.put_protected_item(&v, &c, &i, &b)).await?;
            Ok(accepted(
                format!("{pi}/operationsStatus/{op}"),
                format!("{pi}/operationResults/{op}"),
            ))
        }
        (
            Method::GET,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
                "operationsstatus",
                _,
            ],
        ) => {
            let op = orig[7].clone();
            Ok(Json(blocking(state, move |s| s.operation_status(&v, &op)).await?).into_response())
        }
        (
            Method::GET,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
                "operationresults",
                _,
            ],
        ) => {
            let op = orig[7].clone();
            op_result(state, v, op).await
        }
        (
            Method::POST,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
                "backup",
            ],
        ) => {
            let (c, i, b) = (orig[3].clone(), orig[5].clone(), body_json(&body)?);
            let pi = item_url(base, &v, orig);
            let op = blocking(state, move |s| s.backup_now(&v, &c, &i, &b)).await?;
            Ok(accepted(
                format!("{pi}/operationsStatus/{op}"),
                format!("{pi}/operationResults/{op}"),
            ))
        }
        (
            Method::GET,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
                "recoverypoints",
            ],
        ) => {
            let (c, i, f) = (orig[3].clone(), orig[5].clone(), filter.to_owned());
            Ok(
                list(blocking(state, move |s| s.list_recovery_points(&v, &c, &i, &f)).await?)
                    .into_response(),
            )
        }
        (
            Method::GET,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
                "recoverypoints",
                _,
            ],
        ) => {
            let (c, i, rp) = (orig[3].clone(), orig[5].clone(), orig[7].clone());
            Ok(
                Json(blocking(state, move |s| s.get_recovery_point(&v, &c, &i, &rp)).await?)
                    .into_response(),
            )
        }
        // rsvault extension: verify the vault's store now (a Verify job).
        (Method::POST, ["verify"]) => {
            let vid = v.id();
            let op = blocking(state, move |s| s.verify_now(&v)).await?;
            Ok(accepted(
                format!("{base}{vid}/backupOperations/{op}"),
                format!("{base}{vid}/backupOperationResults/{op}"),
            ))
        }
        (Method::GET, ["backupjobs"]) => {
            let f = filter.to_owned();
            Ok(paged(
                blocking(state, move |s| s.list_jobs(&v, &f, &page)).await?,
            ))
        }
        (Method::GET, ["backupjobs", _]) => {
            let job = orig[1].clone();
            Ok(Json(blocking(state, move |s| s.get_job(&v, &job)).await?).into_response())
        }
        (Method::POST, ["backupjobs", _, "cancel"]) => {
            let (job, vid) = (orig[1].clone(), v.id());
            let j = job.clone();
            let op = blocking(state, move |s| s.cancel_job(&v, &j)).await?;
            Ok(accepted(
                format!("{base}{vid}/backupOperations/{op}"),
                format!("{base}{vid}/backupJobs/{job}/operationResults/{op}"),
            ))
        }
        (Method::GET, ["backupjobs", _, "operationresults", _]) => {
            let (job, op) = (orig[1].clone(), orig[3].clone());
            let done = blocking(state, move |s| s.job_operation_done(&v, &job, &op)).await?;
            Ok(if done {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::ACCEPTED
            }
            .into_response())
        }
        (
            Method::DELETE,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
            ],
        ) => {
            let (c, i, vid) = (orig[3].clone(), orig[5].clone(), v.id());
            let op = blocking(state, move |s| s.delete_protected_item(&v, &c, &i)).await?;
            Ok(accepted(
                format!("{base}{vid}/backupOperations/{op}"),
                format!("{base}{vid}/backupOperationResults/{op}"),
            ))
        }
        (
            Method::POST,
            [
                "backupfabrics",
                "azure",
                "protectioncontainers",
                _,
                "protecteditems",
                _,
                "recoverypoints",
                _,
                "restore",
            ],
        ) => {
            let (c, i, rp, b) = (
                orig[3].clone(),
                orig[5].clone(),
                orig[7].clone(),
                body_json(&body)?,
            );
            let pi = item_url(base, &v, orig);
            let op = blocking(state, move |s| s.restore(&v, &c, &i, &rp, &b)).await?;
            Ok(accepted(
                format!("{pi}/operationsStatus/{op}"),
                format!("{pi}/operationResults/{op}"),
            ))
        }
        _ => Err(no_route(&method, &format!("{}/{}", v.id(), orig.join("/")))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::decode("a%3Bb"), "a;b");
        assert_eq!(super::decode("a%"), "a%");
        assert_eq!(super::decode("%zz"), "%zz");
        assert_eq!(super::decode("x%2"), "x%2");
    }
}
