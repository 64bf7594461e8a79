//! Runs each [`ArmRequest`] against the service: the dispatcher parses the
//! request once, checks the permission it needs against the caller's role
//! assignments at the request's scope (403 `AuthorizationFailed`, before
//! anything runs), and hands the variant to its area's handler. A list at
//! a scope where the caller may not read everything shows what it may.

mod activity;
mod crr;
mod graph;
mod guards;
mod hybrid;
mod identity;
mod inventory;
mod items;
mod jobs;
mod policies;
pub(crate) mod reply;
mod storage;
mod tenancy;
mod vaults;

use crate::AppState;
use crate::arm::ArmError;
use crate::auth::Caller;
use crate::request::ArmRequest as R;
use crate::urls::BaseUrl;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use reply::Reply;
use rsvault_service::identity::rbac::normalize;
use std::sync::Arc;

/// Every ARM request lands here. A write (anything but a read) goes into
/// the activity log with its outcome, refusals included.
pub async fn dispatch(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    axum::Extension(base): axum::Extension<BaseUrl>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: Bytes,
) -> Reply {
    let parsed = R::parse(&method, uri.path(), uri.query(), &body);
    let action = parsed.as_ref().map_or("", |r| r.permission());
    let reply = match parsed {
        Ok(request) => run(&state, &method, &uri, &base, &caller, &body, request).await,
        Err(e) => Err(e),
    };
    if activity::is_write(&method) {
        let outcome = activity::outcome(&reply);
        activity::record(&state, &method, &uri, &headers, &caller, action, outcome).await;
    }
    reply
}

async fn run(
    state: &Arc<AppState>,
    method: &Method,
    uri: &Uri,
    base: &BaseUrl,
    caller: &Caller,
    body: &Bytes,
    request: R,
) -> Reply {
    let action = request.permission();
    let scope = normalize(&crate::request::decode(uri.path()));
    let partial = match authorize(caller, &request, action, &scope) {
        Access::Allowed => false,
        Access::Partly => true,
        Access::Refused => return Err(caller.refused(action, &scope)),
    };
    tracing::debug!(action, caller = caller.name(), "{method} {}", uri.path());
    // Operation URLs are absolute, built from the server's own URL (never
    // from the request's Host header).
    let reply = match request {
        R::ListSubscriptions => tenancy::subscriptions(state, caller.access.clone()).await,
        R::ListTenants => tenancy::tenants(state),
        R::ListPermissions { scope } => reply::listed(caller.access.permissions_at(&scope)),
        R::Graph(g) => graph::execute(state, g).await,
        r if identity::handles(&r) => identity::execute(state, caller, r).await,
        r if hybrid::handles(&r) => hybrid::execute(state, caller, r).await,
        r if guards::handles(&r) => {
            guards::execute(state, &base.0, guards::approval_of(caller, body), r).await
        }
        other => execute(state, &base.0, other).await,
    }?;
    if partial {
        let access = caller.access.clone();
        return Ok(visible_only(reply, move |id| access.allows(action, id)).await);
    }
    Ok(reply)
}

/// What the caller may do with a request.
enum Access {
    Allowed,
    /// A list where the caller may read some of what it holds.
    Partly,
    Refused,
}

fn authorize(caller: &Caller, request: &R, action: &str, scope: &str) -> Access {
    if matches!(
        request,
        R::ListSubscriptions | R::ListTenants | R::ListPermissions { .. }
    ) {
        // Everyone lists the subscriptions they hold a role in (the
        // handler picks them), and reads their own permissions.
        return Access::Allowed;
    }
    if let R::Graph(g) = request
        && g.reads()
    {
        // As in Entra ID, every signed-in principal reads the directory
        // (so `az role assignment create --assignee NAME` resolves names);
        // changing it takes the principals' actions at `/`.
        return Access::Allowed;
    }
    if caller.access.allows(action, scope) {
        return Access::Allowed;
    }
    let list = format!("{request:?}").starts_with("List");
    // The activity log holds what happened anywhere in its subscription.
    let container = match request {
        R::ListActivityLog { subscription, .. } => format!("/subscriptions/{subscription}"),
        _ => container_of(scope).to_owned(),
    };
    if list && caller.access.allows_under(action, &container) {
        Access::Partly
    } else {
        Access::Refused
    }
}

/// The scope that holds what a list lists: a list of a resource type
/// (`…/providers/{namespace}/{type}`) is of what its subscription or group
/// holds.
fn container_of(scope: &str) -> &str {
    let segs: Vec<&str> = scope.rsplitn(4, '/').collect();
    match segs.as_slice() {
        [_, _, p, rest] if p.eq_ignore_ascii_case("providers") => {
            if rest.is_empty() {
                "/"
            } else {
                rest
            }
        }
        _ => scope,
    }
}

/// A list answer with only the entries whose `id` passes `keep`.
async fn visible_only(
    reply: axum::response::Response,
    keep: impl Fn(&str) -> bool,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = reply.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "read a list",
        )
        .into_response();
    };
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    if let Some(items) = v.get_mut("value").and_then(|x| x.as_array_mut()) {
        items.retain(|i| i.get("id").and_then(|x| x.as_str()).is_some_and(&keep));
    }
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(v.to_string()))
}

/// Runs a request outside vaults, or hands it to [`execute_in_vault`].
#[rustfmt::skip]
async fn execute(state: &Arc<AppState>, base: &str, request: R) -> Reply {
    match request {
        R::ListResourceGroups { subscription } => tenancy::resource_groups(state, subscription).await,
        R::GetResourceGroup { subscription, resource_group } => tenancy::resource_group(state, subscription, resource_group).await,
        R::BackupStatus { subscription, body, .. } => tenancy::backup_status(state, subscription, body).await,
        R::ListVms { provider, subscription, resource_group } => inventory::list_vms(state, provider, subscription, resource_group).await,
        R::GetVm { provider, vm, instance_view } => inventory::get_vm(state, provider, vm, instance_view).await,
        R::GetVmInstanceView { provider, vm } => inventory::instance_view(state, provider, vm).await,
        R::PutVm { provider, vm, body } => inventory::put_vm(state, provider, vm, body).await,
        R::DeleteVm { provider, vm } => inventory::delete_vm(state, provider, vm).await,
        R::PowerVm { provider, vm, action } => inventory::power(state, provider, vm, action).await,
        R::ListDisks { subscription, resource_group } => inventory::list_disks(state, subscription, resource_group).await,
        R::GetDisk { disk } => inventory::get_disk(state, disk).await,
        R::PutDisk { disk, body } => inventory::put_disk(state, disk, body).await,
        R::DeleteDisk { disk } => inventory::delete_disk(state, disk).await,
        R::ListRestorePointCollections { subscription, resource_group } => inventory::restore_point_collections(state, subscription, resource_group).await,
        R::GetRestorePointCollection { collection, expand_restore_points } => inventory::restore_point_collection(state, collection, expand_restore_points).await,
        R::GetRestorePoint { collection, point } => inventory::restore_point(state, collection, point).await,
        R::ListStorageAccounts { subscription, resource_group } => storage::list(state, subscription, resource_group).await,
        R::GetStorageAccount { account } => storage::get(state, account).await,
        R::PutStorageAccount { account, body } => storage::create(state, account, body).await,
        R::DeleteStorageAccount { account } => storage::delete(state, account).await,
        R::ListBlobContainers { account } => storage::containers(state, account).await,
        R::GetBlobContainer { account, container } => storage::container(state, account, container).await,
        R::ListBlobs { account, container } => storage::blobs(state, account, container).await,
        R::CheckStorageAccountName { body, .. } => storage::check_name(state, body).await,
        R::GetClassicStorageAccount { account } => storage::classic(&account),
        R::ListVaults { subscription, resource_group } => vaults::list(state, subscription, resource_group).await,
        R::GetAadProperties { subscription, .. } => crr::aad_properties(state, &subscription),
        R::CrossRegionRestore { subscription, location, body } => crr::restore(state, base, subscription, location, body).await,
        R::GetCrrOperationStatus { subscription, operation, .. } => crr::operation_status(state, subscription, operation).await,
        R::GetCrrOperationResult { subscription, operation, .. } => crr::operation_result(state, subscription, operation).await,
        R::GetCrrJob { subscription, location, body } => crr::job(state, subscription, location, body).await,
        R::ListCrrJobs { subscription, location, body, query } => crr::jobs(state, subscription, location, body, query).await,
        other => execute_in_vault(state, base, other).await,
    }
}

/// Runs a request on a vault or what it holds.
#[rustfmt::skip]
async fn execute_in_vault(state: &Arc<AppState>, base: &str, request: R) -> Reply {
    match request {
        R::GetVault { vault } => vaults::get(state, vault).await,
        R::DeleteVault { vault } => vaults::delete(state, vault).await,
        R::GetStorageConfig { vault } => vaults::storage_config(state, vault).await,
        R::PutStorageConfig { vault, body } => vaults::put_storage_config(state, vault, body).await,
        R::PatchStorageConfig { vault, body } => vaults::patch_storage_config(state, vault, body).await,
        R::GetVaultConfig { vault } => vaults::vault_config(state, vault).await,
        R::GetEncryptionConfig { vault } => vaults::encryption_config(state, vault).await,
        R::ListUsages { vault } => vaults::usages(state, vault).await,
        R::ListUsageSummaries { vault, query } => vaults::usage_summaries(state, vault, query).await,
        R::ListPolicies { vault, query } => policies::list(state, vault, query).await,
        R::GetPolicy { vault, policy } => policies::get(state, vault, policy).await,
        R::DeletePolicy { vault, policy } => policies::delete(state, vault, policy).await,
        R::RefreshContainers { vault } => items::refresh_containers(state, base, vault).await,
        R::GetFabricOperationResult { vault, operation } | R::GetOperationResult { vault, operation } => items::operation_result(state, vault, operation).await,
        R::GetOperationStatus { vault, operation } => items::operation_status(state, vault, operation).await,
        R::ListProtectableItems { vault, query } => items::protectable(state, vault, query).await,
        R::ListProtectedItems { vault, query } => items::protected(state, vault, query).await,
        R::ListContainers { vault, query } => items::containers(state, vault, query).await,
        R::GetProtectedItem { item } => items::get(state, item).await,
        R::DeleteProtectedItem { item } => items::delete(state, base, item).await,
        R::GetItemOperationStatus { item, operation } => items::operation_status(state, item.vault, operation).await,
        R::GetItemOperationResult { item, operation } => items::operation_result(state, item.vault, operation).await,
        R::BackupNow { item, body } => items::backup(state, base, item, body).await,
        R::ListRecoveryPoints { item, query } => items::recovery_points(state, item, query).await,
        R::GetRecoveryPoint { item, point } => items::recovery_point(state, item, point).await,
        R::Restore { item, point, body } => items::restore(state, base, item, point, body).await,
        R::ListProtectedItemsCrr { vault, query } => crr::protected(state, vault, query).await,
        R::ListRecoveryPointsCrr { item, query } => crr::recovery_points(state, item, query).await,
        R::GetRecoveryPointCrr { item, point } => crr::recovery_point(state, item, point).await,
        R::GetCrrAccessToken { item, point } => crr::access_token(state, item, point).await,
        R::VerifyNow { vault } => jobs::verify(state, base, vault).await,
        R::ListJobs { vault, query } => jobs::list(state, vault, query).await,
        R::GetJob { vault, job } => jobs::get(state, vault, job).await,
        R::CancelJob { vault, job } => jobs::cancel(state, base, vault, job).await,
        R::GetJobOperationResult { vault, job, operation } => jobs::operation_result(state, vault, job, operation).await,
        other => Err(ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            format!("no handler runs {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::container_of;

    #[test]
    fn a_list_of_a_type_is_of_what_its_group_or_subscription_holds() {
        for (scope, want) in [
            (
                "/subscriptions/s/providers/Microsoft.RecoveryServices/vaults",
                "/subscriptions/s",
            ),
            (
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines",
                "/subscriptions/s/resourceGroups/g",
            ),
            ("/providers/Microsoft.Authorization/roleAssignments", "/"),
            (
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v/backupPolicies",
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v/backupPolicies",
            ),
        ] {
            assert_eq!(container_of(scope), want, "{scope}");
        }
    }
}
