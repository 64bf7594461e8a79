//! The route table: a method and a path template per operation, and how
//! its [`ArmRequest`] is built. Templates name their parameters as Azure's
//! REST specifications do; fixed segments match case-insensitively.

use super::graph::GraphRequest as G;
use super::matcher::{Captures, Verb};
use super::{ArmRequest as R, PowerAction};
use crate::arm::ArmError;
use rsvault_service::identity::graph::Collection::{self, Applications, ServicePrincipals, Users};
use rsvault_service::inventory::VmProvider::{ClassicCompute, Compute};
use rsvault_service::policy::INVALID_POLICY;

/// The code of a vault setting that breaks a rule (`backupconfig/vaultconfig`).
const INVALID_INPUT: &str = "BMSUserErrorInvalidInput";

/// One route.
pub struct Route {
    pub verb: Verb,
    pub template: &'static str,
    pub build: fn(&Captures<'_>) -> Result<R, ArmError>,
}

const fn r(
    verb: Verb,
    template: &'static str,
    build: fn(&Captures<'_>) -> Result<R, ArmError>,
) -> Route {
    Route {
        verb,
        template,
        build,
    }
}

/// A path under a resource group.
macro_rules! group {
    ($rest:expr) => {
        concat!(
            "subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}",
            $rest
        )
    };
}

/// A path under a vault.
macro_rules! vault {
    ($rest:expr) => {
        group!(concat!(
            "/providers/Microsoft.RecoveryServices/vaults/{vaultName}",
            $rest
        ))
    };
}

/// A path under a protected item.
macro_rules! item {
    ($rest:expr) => {
        vault!(concat!(
            "/backupFabrics/Azure/protectionContainers/{containerName}/protectedItems/{protectedItemName}",
            $rest
        ))
    };
}

/// A path of a resource guard.
macro_rules! guard {
    ($rest:expr) => {
        group!(concat!(
            "/providers/Microsoft.DataProtection/resourceGuards/{resourceGuardsName}",
            $rest
        ))
    };
}

fn guard(c: &Captures<'_>) -> rsvault_service::mua::guards::GuardRef {
    rsvault_service::mua::guards::GuardRef {
        subscription: c.subscription(),
        resource_group: c.resource_group(),
        name: c.get("resourceGuardsName"),
    }
}

fn graph_list(c: &Captures<'_>, collection: Collection) -> R {
    R::Graph(G::List {
        collection,
        filter: c.list_query().filter,
    })
}

/// A path of a region's passive stamp (cross-region restore).
macro_rules! region {
    ($rest:expr) => {
        concat!(
            "subscriptions/{subscriptionId}/providers/Microsoft.RecoveryServices/locations/{location}",
            $rest
        )
    };
}

use Verb::{Delete, Get, Patch, Post, Put};

/// Every route, in matching order (one line each: a table).
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    // Subscriptions and resource groups.
    r(Get, "tenants", |_| Ok(R::ListTenants)),
    r(Get, "subscriptions", |_| Ok(R::ListSubscriptions)),
    r(Get, "subscriptions/{subscriptionId}/resourceGroups", |c| Ok(R::ListResourceGroups { subscription: c.subscription() })),
    r(Get, group!(""), |c| Ok(R::GetResourceGroup { subscription: c.subscription(), resource_group: c.resource_group() })),
    r(Post, "subscriptions/{subscriptionId}/providers/Microsoft.RecoveryServices/locations/{location}/backupStatus", |c| {
        Ok(R::BackupStatus { subscription: c.subscription(), location: c.get("location"), body: c.typed_body()? })
    }),
    // Virtual machines, Resource Manager and classic.
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.Compute/virtualMachines", |c| Ok(R::ListVms { provider: Compute, subscription: c.subscription(), resource_group: None })),
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.ClassicCompute/virtualMachines", |c| Ok(R::ListVms { provider: ClassicCompute, subscription: c.subscription(), resource_group: None })),
    r(Get, group!("/providers/Microsoft.Compute/virtualMachines"), |c| Ok(R::ListVms { provider: Compute, subscription: c.subscription(), resource_group: Some(c.resource_group()) })),
    r(Get, group!("/providers/Microsoft.ClassicCompute/virtualMachines"), |c| Ok(R::ListVms { provider: ClassicCompute, subscription: c.subscription(), resource_group: Some(c.resource_group()) })),
    r(Get, group!("/providers/Microsoft.Compute/virtualMachines/{vmName}"), |c| Ok(R::GetVm { provider: Compute, vm: c.resource("vmName"), instance_view: c.expands("instanceView") })),
    r(Get, group!("/providers/Microsoft.ClassicCompute/virtualMachines/{vmName}"), |c| Ok(R::GetVm { provider: ClassicCompute, vm: c.resource("vmName"), instance_view: c.expands("instanceView") })),
    r(Get, group!("/providers/Microsoft.Compute/virtualMachines/{vmName}/instanceView"), |c| Ok(R::GetVmInstanceView { provider: Compute, vm: c.resource("vmName") })),
    r(Get, group!("/providers/Microsoft.ClassicCompute/virtualMachines/{vmName}/instanceView"), |c| Ok(R::GetVmInstanceView { provider: ClassicCompute, vm: c.resource("vmName") })),
    r(Put, group!("/providers/Microsoft.Compute/virtualMachines/{vmName}"), |c| Ok(R::PutVm { provider: Compute, vm: c.resource("vmName"), body: c.resource_body()? })),
    r(Put, group!("/providers/Microsoft.ClassicCompute/virtualMachines/{vmName}"), |c| Ok(R::PutVm { provider: ClassicCompute, vm: c.resource("vmName"), body: c.resource_body()? })),
    r(Delete, group!("/providers/Microsoft.Compute/virtualMachines/{vmName}"), |c| Ok(R::DeleteVm { provider: Compute, vm: c.resource("vmName") })),
    r(Delete, group!("/providers/Microsoft.ClassicCompute/virtualMachines/{vmName}"), |c| Ok(R::DeleteVm { provider: ClassicCompute, vm: c.resource("vmName") })),
    r(Post, group!("/providers/Microsoft.Compute/virtualMachines/{vmName}/start"), |c| Ok(R::PowerVm { provider: Compute, vm: c.resource("vmName"), action: PowerAction::Start })),
    r(Post, group!("/providers/Microsoft.ClassicCompute/virtualMachines/{vmName}/start"), |c| Ok(R::PowerVm { provider: ClassicCompute, vm: c.resource("vmName"), action: PowerAction::Start })),
    r(Post, group!("/providers/Microsoft.Compute/virtualMachines/{vmName}/powerOff"), |c| Ok(R::PowerVm { provider: Compute, vm: c.resource("vmName"), action: PowerAction::PowerOff })),
    r(Post, group!("/providers/Microsoft.ClassicCompute/virtualMachines/{vmName}/powerOff"), |c| Ok(R::PowerVm { provider: ClassicCompute, vm: c.resource("vmName"), action: PowerAction::PowerOff })),
    r(Post, group!("/providers/Microsoft.Compute/virtualMachines/{vmName}/deallocate"), |c| Ok(R::PowerVm { provider: Compute, vm: c.resource("vmName"), action: PowerAction::Deallocate })),
    r(Post, group!("/providers/Microsoft.ClassicCompute/virtualMachines/{vmName}/deallocate"), |c| Ok(R::PowerVm { provider: ClassicCompute, vm: c.resource("vmName"), action: PowerAction::Deallocate })),
    // Managed disks.
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.Compute/disks", |c| Ok(R::ListDisks { subscription: c.subscription(), resource_group: None })),
    r(Get, group!("/providers/Microsoft.Compute/disks"), |c| Ok(R::ListDisks { subscription: c.subscription(), resource_group: Some(c.resource_group()) })),
    r(Get, group!("/providers/Microsoft.Compute/disks/{diskName}"), |c| Ok(R::GetDisk { disk: c.resource("diskName") })),
    r(Put, group!("/providers/Microsoft.Compute/disks/{diskName}"), |c| Ok(R::PutDisk { disk: c.resource("diskName"), body: c.resource_body()? })),
    r(Delete, group!("/providers/Microsoft.Compute/disks/{diskName}"), |c| Ok(R::DeleteDisk { disk: c.resource("diskName") })),
    // The instant-restore tier, read-only.
    r(Get, group!("/providers/Microsoft.Compute/restorePointCollections"), |c| Ok(R::ListRestorePointCollections { subscription: c.subscription(), resource_group: c.resource_group() })),
    r(Get, group!("/providers/Microsoft.Compute/restorePointCollections/{restorePointCollectionName}"), |c| {
        Ok(R::GetRestorePointCollection { collection: c.resource("restorePointCollectionName"), expand_restore_points: c.expands("restorePoints") })
    }),
    r(Get, group!("/providers/Microsoft.Compute/restorePointCollections/{restorePointCollectionName}/restorePoints/{restorePointName}"), |c| {
        Ok(R::GetRestorePoint { collection: c.resource("restorePointCollectionName"), point: c.get("restorePointName") })
    }),
    // Storage accounts. `az backup restore restore-disks` reads an account
    // through the generic resources API with an empty resource type, so
    // `storageAccounts//{accountName}`, classic storage first.
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.Storage/storageAccounts", |c| Ok(R::ListStorageAccounts { subscription: c.subscription(), resource_group: None })),
    r(Get, group!("/providers/Microsoft.Storage/storageAccounts"), |c| Ok(R::ListStorageAccounts { subscription: c.subscription(), resource_group: Some(c.resource_group()) })),
    r(Get, group!("/providers/Microsoft.Storage/storageAccounts/{accountName}"), |c| Ok(R::GetStorageAccount { account: c.resource("accountName") })),
    r(Get, group!("/providers/Microsoft.Storage/storageAccounts//{accountName}"), |c| Ok(R::GetStorageAccount { account: c.resource("accountName") })),
    r(Put, group!("/providers/Microsoft.Storage/storageAccounts/{accountName}"), |c| Ok(R::PutStorageAccount { account: c.resource("accountName"), body: c.resource_body()? })),
    r(Delete, group!("/providers/Microsoft.Storage/storageAccounts/{accountName}"), |c| Ok(R::DeleteStorageAccount { account: c.resource("accountName") })),
    r(Get, group!("/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers"), |c| Ok(R::ListBlobContainers { account: c.resource("accountName") })),
    r(Get, group!("/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}"), |c| Ok(R::GetBlobContainer { account: c.resource("accountName"), container: c.get("containerName") })),
    r(Get, group!("/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}/blobs"), |c| Ok(R::ListBlobs { account: c.resource("accountName"), container: c.get("containerName") })),
    r(Post, "subscriptions/{subscriptionId}/providers/Microsoft.Storage/checkNameAvailability", |c| Ok(R::CheckStorageAccountName { subscription: c.subscription(), body: c.typed_body()? })),
    r(Get, group!("/providers/Microsoft.ClassicStorage/storageAccounts/{accountName}"), |c| Ok(R::GetClassicStorageAccount { account: c.resource("accountName") })),
    r(Get, group!("/providers/Microsoft.ClassicStorage/storageAccounts//{accountName}"), |c| Ok(R::GetClassicStorageAccount { account: c.resource("accountName") })),
    // Vaults and their settings.
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.RecoveryServices/vaults", |c| Ok(R::ListVaults { subscription: c.subscription(), resource_group: None })),
    r(Get, group!("/providers/Microsoft.RecoveryServices/vaults"), |c| Ok(R::ListVaults { subscription: c.subscription(), resource_group: Some(c.resource_group()) })),
    r(Get, vault!(""), |c| Ok(R::GetVault { vault: c.vault() })),
    r(Put, vault!(""), |c| Ok(R::PutVault { vault: c.vault(), body: c.typed()? })),
    r(Patch, vault!(""), |c| Ok(R::PatchVault { vault: c.vault(), body: c.typed()? })),
    r(Delete, vault!(""), |c| Ok(R::DeleteVault { vault: c.vault() })),
    r(Get, vault!("/backupstorageconfig/vaultstorageconfig"), |c| Ok(R::GetStorageConfig { vault: c.vault() })),
    r(Put, vault!("/backupstorageconfig/vaultstorageconfig"), |c| Ok(R::PutStorageConfig { vault: c.vault(), body: c.typed()? })),
    r(Patch, vault!("/backupstorageconfig/vaultstorageconfig"), |c| Ok(R::PatchStorageConfig { vault: c.vault(), body: c.typed()? })),
    r(Get, vault!("/backupconfig/vaultconfig"), |c| Ok(R::GetVaultConfig { vault: c.vault() })),
    r(Put, vault!("/backupconfig/vaultconfig"), |c| Ok(R::SetVaultConfig { vault: c.vault(), body: c.typed_or(INVALID_INPUT)? })),
    r(Patch, vault!("/backupconfig/vaultconfig"), |c| Ok(R::SetVaultConfig { vault: c.vault(), body: c.typed_or(INVALID_INPUT)? })),
    r(Get, vault!("/backupEncryptionConfigs/backupResourceEncryptionConfig"), |c| Ok(R::GetEncryptionConfig { vault: c.vault() })),
    r(Get, vault!("/usages"), |c| Ok(R::ListUsages { vault: c.vault() })),
    r(Get, vault!("/backupUsageSummaries"), |c| Ok(R::ListUsageSummaries { vault: c.vault(), query: c.list_query() })),
    // Policies.
    r(Get, vault!("/backupPolicies"), |c| Ok(R::ListPolicies { vault: c.vault(), query: c.list_query() })),
    r(Get, vault!("/backupPolicies/{policyName}"), |c| Ok(R::GetPolicy { vault: c.vault(), policy: c.get("policyName") })),
    r(Put, vault!("/backupPolicies/{policyName}"), |c| Ok(R::PutPolicy { vault: c.vault(), policy: c.get("policyName"), body: c.typed_or(INVALID_POLICY)? })),
    r(Delete, vault!("/backupPolicies/{policyName}"), |c| Ok(R::DeletePolicy { vault: c.vault(), policy: c.get("policyName") })),
    // Containers, items and operations.
    r(Post, vault!("/backupFabrics/Azure/refreshContainers"), |c| Ok(R::RefreshContainers { vault: c.vault() })),
    r(Get, vault!("/backupFabrics/Azure/operationResults/{operationId}"), |c| Ok(R::GetFabricOperationResult { vault: c.vault(), operation: c.get("operationId") })),
    r(Get, vault!("/backupOperationResults/{operationId}"), |c| Ok(R::GetOperationResult { vault: c.vault(), operation: c.get("operationId") })),
    r(Get, vault!("/backupOperations/{operationId}"), |c| Ok(R::GetOperationStatus { vault: c.vault(), operation: c.get("operationId") })),
    r(Get, vault!("/backupProtectableItems"), |c| Ok(R::ListProtectableItems { vault: c.vault(), query: c.list_query() })),
    r(Get, vault!("/backupProtectedItems"), |c| Ok(if c.passive() { R::ListProtectedItemsCrr { vault: c.vault(), query: c.list_query() } } else { R::ListProtectedItems { vault: c.vault(), query: c.list_query() } })),
    r(Get, vault!("/backupProtectionContainers"), |c| Ok(R::ListContainers { vault: c.vault(), query: c.list_query() })),
    r(Get, vault!("/backupResourceGuardProxies"), |c| Ok(R::ListResourceGuardProxies { vault: c.vault() })),
    r(Get, vault!("/backupResourceGuardProxies/{resourceGuardProxyName}"), |c| Ok(R::GetResourceGuardProxy { vault: c.vault(), name: c.get("resourceGuardProxyName") })),
    r(Put, vault!("/backupResourceGuardProxies/{resourceGuardProxyName}"), |c| Ok(R::PutResourceGuardProxy { vault: c.vault(), name: c.get("resourceGuardProxyName"), body: c.resource_body()? })),
    r(Delete, vault!("/backupResourceGuardProxies/{resourceGuardProxyName}"), |c| Ok(R::DeleteResourceGuardProxy { vault: c.vault(), name: c.get("resourceGuardProxyName") })),
    r(Post, vault!("/backupResourceGuardProxies/{resourceGuardProxyName}/unlockDelete"), |c| Ok(R::UnlockDelete { vault: c.vault(), name: c.get("resourceGuardProxyName"), body: c.typed_body()? })),
    r(Get, item!(""), |c| Ok(R::GetProtectedItem { item: c.item() })),
    r(Put, item!(""), |c| Ok(R::PutProtectedItem { item: c.item(), body: c.resource_body()? })),
    r(Delete, item!(""), |c| Ok(R::DeleteProtectedItem { item: c.item() })),
    r(Get, item!("/operationsStatus/{operationId}"), |c| Ok(R::GetItemOperationStatus { item: c.item(), operation: c.get("operationId") })),
    r(Get, item!("/operationResults/{operationId}"), |c| Ok(R::GetItemOperationResult { item: c.item(), operation: c.get("operationId") })),
    r(Post, item!("/backup"), |c| Ok(R::BackupNow { item: c.item(), body: c.properties()? })),
    r(Get, item!("/recoveryPoints"), |c| Ok(if c.passive() { R::ListRecoveryPointsCrr { item: c.item(), query: c.list_query() } } else { R::ListRecoveryPoints { item: c.item(), query: c.list_query() } })),
    r(Get, item!("/recoveryPoints/{recoveryPointId}"), |c| Ok(if c.passive() { R::GetRecoveryPointCrr { item: c.item(), point: c.get("recoveryPointId") } } else { R::GetRecoveryPoint { item: c.item(), point: c.get("recoveryPointId") } })),
    r(Post, item!("/recoveryPoints/{recoveryPointId}/accessToken"), |c| Ok(R::GetCrrAccessToken { item: c.item(), point: c.get("recoveryPointId") })),
    r(Post, item!("/recoveryPoints/{recoveryPointId}/restore"), |c| Ok(R::Restore { item: c.item(), point: c.get("recoveryPointId"), body: Box::new(c.properties()?) })),
    // Cross-region restore, in the vault's paired region (the passive stamp).
    r(Get, region!("/backupAadProperties"), |c| Ok(R::GetAadProperties { subscription: c.subscription(), location: c.get("location") })),
    r(Post, region!("/backupCrossRegionRestore"), |c| Ok(R::CrossRegionRestore { subscription: c.subscription(), location: c.get("location"), body: Box::new(c.typed_body()?) })),
    r(Get, region!("/backupCrrOperationsStatus/{operationId}"), |c| Ok(R::GetCrrOperationStatus { subscription: c.subscription(), location: c.get("location"), operation: c.get("operationId") })),
    r(Get, region!("/backupCrrOperationResults/{operationId}"), |c| Ok(R::GetCrrOperationResult { subscription: c.subscription(), location: c.get("location"), operation: c.get("operationId") })),
    r(Post, region!("/backupCrrJob"), |c| Ok(R::GetCrrJob { subscription: c.subscription(), location: c.get("location"), body: c.typed_body()? })),
    r(Post, region!("/backupCrrJobs"), |c| Ok(R::ListCrrJobs { subscription: c.subscription(), location: c.get("location"), body: c.typed_body()?, query: c.list_query() })),
    // Resource guards (multi-user authorization).
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.DataProtection/resourceGuards", |c| Ok(R::ListResourceGuards { subscription: c.subscription(), resource_group: None })),
    // Hosts that run the rsvault agent, and their enrolment tokens.
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.HybridCompute/machines", |c| Ok(R::ListMachines { subscription: c.subscription(), resource_group: None })),
    r(Get, group!("/providers/Microsoft.HybridCompute/machines"), |c| Ok(R::ListMachines { subscription: c.subscription(), resource_group: Some(c.resource_group()) })),
    r(Get, group!("/providers/Microsoft.HybridCompute/machines/{machineName}"), |c| Ok(R::GetMachine { subscription: c.subscription(), resource_group: c.resource_group(), name: c.get("machineName") })),
    r(Delete, group!("/providers/Microsoft.HybridCompute/machines/{machineName}"), |c| Ok(R::DeleteMachine { subscription: c.subscription(), resource_group: c.resource_group(), name: c.get("machineName") })),
    r(Post, group!("/providers/Microsoft.HybridCompute/enrollmentTokens"), |c| Ok(R::CreateEnrollmentToken { subscription: c.subscription(), resource_group: c.resource_group(), body: c.typed_body()? })),
    r(Get, group!("/providers/Microsoft.DataProtection/resourceGuards"), |c| Ok(R::ListResourceGuards { subscription: c.subscription(), resource_group: Some(c.resource_group()) })),
    r(Get, guard!(""), |c| Ok(R::GetResourceGuard { guard: guard(c) })),
    r(Put, guard!(""), |c| Ok(R::PutResourceGuard { guard: guard(c), body: c.resource_body()? })),
    r(Delete, guard!(""), |c| Ok(R::DeleteResourceGuard { guard: guard(c) })),
    r(Get, guard!("/{requestType}"), |c| Ok(R::ListGuardRequests { guard: guard(c), request_type: c.get("requestType") })),
    r(Get, guard!("/{requestType}/{requestName}"), |c| Ok(R::GetGuardRequest { guard: guard(c), request_type: c.get("requestType"), name: c.get("requestName") })),
    // The activity log (Azure Monitor).
    r(Get, "subscriptions/{subscriptionId}/providers/Microsoft.Insights/eventtypes/management/values", |c| Ok(R::ListActivityLog { subscription: c.subscription(), query: c.list_query() })),
    // Jobs; `verify` is rsvault's own (a Verify job of the vault's store).
    r(Post, vault!("/verify"), |c| Ok(R::VerifyNow { vault: c.vault() })),
    r(Get, vault!("/backupJobs"), |c| Ok(R::ListJobs { vault: c.vault(), query: c.list_query() })),
    r(Get, vault!("/backupJobs/{jobName}"), |c| Ok(R::GetJob { vault: c.vault(), job: c.get("jobName") })),
    r(Post, vault!("/backupJobs/{jobName}/cancel"), |c| Ok(R::CancelJob { vault: c.vault(), job: c.get("jobName") })),
    r(Get, vault!("/backupJobs/{jobName}/operationResults/{operationId}"), |c| {
        Ok(R::GetJobOperationResult { vault: c.vault(), job: c.get("jobName"), operation: c.get("operationId") })
    }),
    // Microsoft Graph: the directory as `az ad` and `az role` see it.
    r(Get, "v1.0/users", |c| Ok(graph_list(c, Users))),
    r(Post, "v1.0/users", |c| Ok(R::Graph(G::Create { collection: Users, body: c.typed_body()? }))),
    r(Get, "v1.0/users/{id}", |c| Ok(R::Graph(G::Get { collection: Users, id: c.get("id") }))),
    r(Delete, "v1.0/users/{id}", |c| Ok(R::Graph(G::Delete { collection: Users, id: c.get("id") }))),
    r(Get, "v1.0/servicePrincipals", |c| Ok(graph_list(c, ServicePrincipals))),
    r(Post, "v1.0/servicePrincipals", |c| Ok(R::Graph(G::Create { collection: ServicePrincipals, body: c.typed_body()? }))),
    r(Get, "v1.0/servicePrincipals/{id}", |c| Ok(R::Graph(G::Get { collection: ServicePrincipals, id: c.get("id") }))),
    r(Delete, "v1.0/servicePrincipals/{id}", |c| Ok(R::Graph(G::Delete { collection: ServicePrincipals, id: c.get("id") }))),
    r(Get, "v1.0/applications", |c| Ok(graph_list(c, Applications))),
    r(Post, "v1.0/applications", |c| Ok(R::Graph(G::Create { collection: Applications, body: c.typed_body()? }))),
    r(Get, "v1.0/applications/{id}", |c| Ok(R::Graph(G::Get { collection: Applications, id: c.get("id") }))),
    r(Patch, "v1.0/applications/{id}", |c| Ok(R::Graph(G::Update { collection: Applications, id: c.get("id"), body: c.typed_body()? }))),
    r(Delete, "v1.0/applications/{id}", |c| Ok(R::Graph(G::Delete { collection: Applications, id: c.get("id") }))),
    r(Post, "v1.0/applications/{id}/addPassword", |c| Ok(R::Graph(G::AddPassword { id: c.get("id"), body: c.typed_body()? }))),
    r(Post, "v1.0/applications/{id}/removePassword", |c| Ok(R::Graph(G::RemovePassword { id: c.get("id"), body: c.typed_body()? }))),
    r(Post, "v1.0/directoryObjects/getByIds", |c| Ok(R::Graph(G::GetByIds { body: c.typed_body()? }))),
    // rsvault's directory of principals (Entra ID's part: what `az ad` manages).
    r(Post, "rsvault/directory/servicePrincipals", |c| Ok(R::CreateServicePrincipal { body: c.typed_body()? })),
    r(Post, "rsvault/directory/users", |c| Ok(R::CreateUser { body: c.typed_body()? })),
    r(Get, "rsvault/directory/principals", |_| Ok(R::ListPrincipals)),
    r(Get, "rsvault/directory/principals/{principalId}", |c| Ok(R::GetPrincipal { id: c.get("principalId") })),
    r(Delete, "rsvault/directory/principals/{principalId}", |c| Ok(R::DeletePrincipal { id: c.get("principalId") })),
    r(Post, "rsvault/directory/principals/{principalId}/resetCredential", |c| Ok(R::ResetCredential { id: c.get("principalId"), body: c.typed_body()? })),
];
