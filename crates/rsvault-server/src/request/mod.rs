//! Every ARM request, parsed once into a typed [`ArmRequest`]: one variant
//! per operation, with its path parameters, the query it reads and its
//! body. The routes are a declarative table ([`table::ROUTES`]: method and
//! path template) run by one matcher ([`matcher`]); ARM matches paths
//! case-insensitively after percent-decoding, and names keep the caller's
//! casing. Each variant names the Azure RBAC action it needs
//! ([`ArmRequest::permission`]).

mod authorization;
pub mod graph;
mod matcher;
mod permission;
pub(crate) mod table;
#[cfg(test)]
mod tests;

use crate::arm::ArmError;
use axum::http::{Method, StatusCode};
use rsvault_arm::authorization::{
    CredentialReset, RoleAssignment, ServicePrincipalCreate, UserCreate,
};
use rsvault_arm::crr::{CrossRegionRestoreRequest, CrrJobRequest};
use rsvault_arm::guard::{ResourceGuardProxyResource, ResourceGuardResource, UnlockDeleteRequest};
use rsvault_arm::inventory::{ManagedDisk, VirtualMachine};
use rsvault_arm::item::ProtectedItemResource;
use rsvault_arm::policy::BackupPolicyPut;
use rsvault_arm::request::{IaasVmBackupRequest, IaasVmRestoreRequest};
use rsvault_arm::storage::{CheckNameRequest, StorageAccountResource};
use rsvault_arm::tenancy::BackupStatusRequest;
use rsvault_arm::vault::{BackupStorageConfigPut, BackupVaultConfigPut, VaultPatch, VaultPut};
use rsvault_service::VaultRef;
use rsvault_service::inventory::{ResourceRef, VmProvider};
use rsvault_service::mua::guards::GuardRef;

pub use matcher::decode;

/// A request body not yet read into its model (see [`matcher::Captures::typed`]).
pub type Body = serde_json::Value;

/// Names a protected item (of the `Azure` fabric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    pub vault: VaultRef,
    pub container: String,
    pub item: String,
}

impl ItemRef {
    /// The item's ARM id (its path under the server's URL).
    pub fn id(&self) -> String {
        format!(
            "{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
            self.vault.id(),
            self.container,
            self.item
        )
    }
}

/// What a list request asks beyond its path: the raw (decoded) `$filter`,
/// and the paging parameters (the paging layer cuts pages; they are kept
/// for handlers that page themselves).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: String,
    pub skip_token: Option<String>,
    pub top: Option<String>,
}

/// A VM power action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Start,
    PowerOff,
    Deallocate,
}

impl PowerAction {
    /// The power state the action leads to (as the service names it).
    pub fn state(self) -> &'static str {
        match self {
            PowerAction::Start => "running",
            PowerAction::PowerOff => "stopped",
            PowerAction::Deallocate => "deallocated",
        }
    }
}

/// One ARM operation and what it needs.
// A request is parsed once and moved into its handler; boxing the typed
// bodies would only make every access longer.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ArmRequest {
    // Tenants, subscriptions and resource groups.
    ListTenants,
    ListSubscriptions,
    ListResourceGroups {
        subscription: String,
    },
    GetResourceGroup {
        subscription: String,
        resource_group: String,
    },
    BackupStatus {
        subscription: String,
        location: String,
        body: BackupStatusRequest,
    },
    // Compute: VMs, managed disks and the instant-restore tier.
    ListVms {
        provider: VmProvider,
        subscription: String,
        resource_group: Option<String>,
    },
    GetVm {
        provider: VmProvider,
        vm: ResourceRef,
        instance_view: bool,
    },
    GetVmInstanceView {
        provider: VmProvider,
        vm: ResourceRef,
    },
    PutVm {
        provider: VmProvider,
        vm: ResourceRef,
        body: VirtualMachine,
    },
    DeleteVm {
        provider: VmProvider,
        vm: ResourceRef,
    },
    PowerVm {
        provider: VmProvider,
        vm: ResourceRef,
        action: PowerAction,
    },
    ListDisks {
        subscription: String,
        resource_group: Option<String>,
    },
    GetDisk {
        disk: ResourceRef,
    },
    PutDisk {
        disk: ResourceRef,
        body: ManagedDisk,
    },
    DeleteDisk {
        disk: ResourceRef,
    },
    ListRestorePointCollections {
        subscription: String,
        resource_group: String,
    },
    GetRestorePointCollection {
        collection: ResourceRef,
        expand_restore_points: bool,
    },
    GetRestorePoint {
        collection: ResourceRef,
        point: String,
    },
    // Storage accounts (the targets of RestoreDisks).
    ListStorageAccounts {
        subscription: String,
        resource_group: Option<String>,
    },
    GetStorageAccount {
        account: ResourceRef,
    },
    PutStorageAccount {
        account: ResourceRef,
        body: StorageAccountResource,
    },
    DeleteStorageAccount {
        account: ResourceRef,
    },
    ListBlobContainers {
        account: ResourceRef,
    },
    GetBlobContainer {
        account: ResourceRef,
        container: String,
    },
    /// The blobs of a container (rsvault's management-plane listing; Azure
    /// lists blobs on the data plane only).
    ListBlobs {
        account: ResourceRef,
        container: String,
    },
    CheckStorageAccountName {
        subscription: String,
        body: CheckNameRequest,
    },
    GetClassicStorageAccount {
        account: ResourceRef,
    },
    // Vaults and their settings.
    ListVaults {
        subscription: String,
        resource_group: Option<String>,
    },
    GetVault {
        vault: VaultRef,
    },
    PutVault {
        vault: VaultRef,
        body: VaultPut,
    },
    PatchVault {
        vault: VaultRef,
        body: VaultPatch,
    },
    DeleteVault {
        vault: VaultRef,
    },
    GetStorageConfig {
        vault: VaultRef,
    },
    PutStorageConfig {
        vault: VaultRef,
        body: BackupStorageConfigPut,
    },
    PatchStorageConfig {
        vault: VaultRef,
        body: BackupStorageConfigPut,
    },
    GetVaultConfig {
        vault: VaultRef,
    },
    SetVaultConfig {
        vault: VaultRef,
        body: BackupVaultConfigPut,
    },
    GetEncryptionConfig {
        vault: VaultRef,
    },
    ListUsages {
        vault: VaultRef,
    },
    ListUsageSummaries {
        vault: VaultRef,
        query: ListQuery,
    },
    // Policies.
    ListPolicies {
        vault: VaultRef,
        query: ListQuery,
    },
    GetPolicy {
        vault: VaultRef,
        policy: String,
    },
    PutPolicy {
        vault: VaultRef,
        policy: String,
        body: BackupPolicyPut,
    },
    DeletePolicy {
        vault: VaultRef,
        policy: String,
    },
    // Containers, items, recovery points and their operations.
    RefreshContainers {
        vault: VaultRef,
    },
    GetFabricOperationResult {
        vault: VaultRef,
        operation: String,
    },
    GetOperationResult {
        vault: VaultRef,
        operation: String,
    },
    GetOperationStatus {
        vault: VaultRef,
        operation: String,
    },
    ListProtectableItems {
        vault: VaultRef,
        query: ListQuery,
    },
    ListProtectedItems {
        vault: VaultRef,
        query: ListQuery,
    },
    ListContainers {
        vault: VaultRef,
        query: ListQuery,
    },
    ListResourceGuardProxies {
        vault: VaultRef,
    },
    GetResourceGuardProxy {
        vault: VaultRef,
        name: String,
    },
    PutResourceGuardProxy {
        vault: VaultRef,
        name: String,
        body: ResourceGuardProxyResource,
    },
    DeleteResourceGuardProxy {
        vault: VaultRef,
        name: String,
    },
    UnlockDelete {
        vault: VaultRef,
        name: String,
        body: UnlockDeleteRequest,
    },
    ListResourceGuards {
        subscription: String,
        resource_group: Option<String>,
    },
    GetResourceGuard {
        guard: GuardRef,
    },
    PutResourceGuard {
        guard: GuardRef,
        body: ResourceGuardResource,
    },
    DeleteResourceGuard {
        guard: GuardRef,
    },
    ListGuardRequests {
        guard: GuardRef,
        request_type: String,
    },
    GetGuardRequest {
        guard: GuardRef,
        request_type: String,
        name: String,
    },
    ListActivityLog {
        subscription: String,
        query: ListQuery,
    },
    ListMachines {
        subscription: String,
        resource_group: Option<String>,
    },
    GetMachine {
        subscription: String,
        resource_group: String,
        name: String,
    },
    DeleteMachine {
        subscription: String,
        resource_group: String,
        name: String,
    },
    CreateEnrollmentToken {
        subscription: String,
        resource_group: String,
        body: rsvault_arm::hybrid::EnrollmentTokenRequest,
    },
    GetProtectedItem {
        item: ItemRef,
    },
    PutProtectedItem {
        item: ItemRef,
        body: ProtectedItemResource,
    },
    DeleteProtectedItem {
        item: ItemRef,
    },
    GetItemOperationStatus {
        item: ItemRef,
        operation: String,
    },
    GetItemOperationResult {
        item: ItemRef,
        operation: String,
    },
    BackupNow {
        item: ItemRef,
        /// `properties` of the request.
        body: IaasVmBackupRequest,
    },
    ListRecoveryPoints {
        item: ItemRef,
        query: ListQuery,
    },
    GetRecoveryPoint {
        item: ItemRef,
        point: String,
    },
    Restore {
        item: ItemRef,
        point: String,
        /// `properties` of the request (boxed: the largest body).
        body: Box<IaasVmRestoreRequest>,
    },
    // Cross-region restore: the paired region's view and operations.
    ListProtectedItemsCrr {
        vault: VaultRef,
        query: ListQuery,
    },
    ListRecoveryPointsCrr {
        item: ItemRef,
        query: ListQuery,
    },
    GetRecoveryPointCrr {
        item: ItemRef,
        point: String,
    },
    GetCrrAccessToken {
        item: ItemRef,
        point: String,
    },
    GetAadProperties {
        subscription: String,
        location: String,
    },
    CrossRegionRestore {
        subscription: String,
        location: String,
        body: Box<CrossRegionRestoreRequest>,
    },
    GetCrrOperationStatus {
        subscription: String,
        location: String,
        operation: String,
    },
    GetCrrOperationResult {
        subscription: String,
        location: String,
        operation: String,
    },
    GetCrrJob {
        subscription: String,
        location: String,
        body: CrrJobRequest,
    },
    ListCrrJobs {
        subscription: String,
        location: String,
        body: CrrJobRequest,
        query: ListQuery,
    },
    // Jobs (and rsvault's verify job).
    VerifyNow {
        vault: VaultRef,
    },
    ListJobs {
        vault: VaultRef,
        query: ListQuery,
    },
    GetJob {
        vault: VaultRef,
        job: String,
    },
    CancelJob {
        vault: VaultRef,
        job: String,
    },
    GetJobOperationResult {
        vault: VaultRef,
        job: String,
        operation: String,
    },
    // Azure RBAC (`{scope}/providers/Microsoft.Authorization/…`).
    ListRoleAssignments {
        scope: String,
        filter: String,
    },
    /// A Microsoft Graph request (`/v1.0/…`).
    Graph(graph::GraphRequest),
    /// What the caller may do at a scope (the portal hides the rest).
    ListPermissions {
        scope: String,
    },
    GetRoleAssignment {
        scope: String,
        name: String,
    },
    PutRoleAssignment {
        scope: String,
        name: String,
        body: RoleAssignment,
    },
    DeleteRoleAssignment {
        scope: String,
        name: String,
    },
    ListRoleDefinitions {
        scope: String,
        filter: String,
    },
    GetRoleDefinition {
        scope: String,
        id: String,
    },
    // The directory of principals (`rsvault/directory/…`).
    CreateServicePrincipal {
        body: ServicePrincipalCreate,
    },
    CreateUser {
        body: UserCreate,
    },
    ListPrincipals,
    GetPrincipal {
        id: String,
    },
    DeletePrincipal {
        id: String,
    },
    ResetCredential {
        id: String,
        body: CredentialReset,
    },
}

/// The answer to a request no route takes (ARM's answer for an unknown
/// resource type or a method a type does not have).
pub fn no_route(method: &Method, path: &str) -> ArmError {
    let shown: String = path.chars().take(500).collect();
    ArmError::new(
        StatusCode::NOT_FOUND,
        "NoRegisteredProviderFound",
        format!("No route for {method} {shown} in this rsvault server."),
    )
}

impl ArmRequest {
    /// Parses a request: its method, path (percent-encoded, as sent), query
    /// and body. Every error is ARM's envelope.
    pub fn parse(
        method: &Method,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<ArmRequest, ArmError> {
        // Empty segments (`//`, a trailing `/`) are dropped, as ARM does.
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect();
        // ARM checks a resource group's name before it looks for the route.
        if segments.len() >= 4
            && segments[0].eq_ignore_ascii_case("subscriptions")
            && segments[2].eq_ignore_ascii_case("resourceGroups")
        {
            rsvault_service::names::check_resource_group_name(&segments[3])
                .map_err(ArmError::from)?;
        }
        let query = matcher::Query::parse(query.unwrap_or(""));
        if let Some(r) = authorization::parse(method, &segments, &query, body) {
            return r;
        }
        matcher::find(method, &segments, &query, body)
            .unwrap_or_else(|| Err(no_route(method, path)))
    }
}
