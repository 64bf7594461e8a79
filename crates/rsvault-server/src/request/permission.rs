//! The Azure RBAC action each request needs, spelled as Azure's resource
//! provider operations list them (actions compare case-insensitively in
//! Azure; the spelling here is the documented one). Nothing checks them
//! yet: the dispatcher logs each at `debug`, where the check will go.

use super::ArmRequest as R;
use rsvault_service::inventory::VmProvider;

/// The action of a VM operation, by provider (`verb` after
/// `virtualMachines/`).
fn vm(provider: &VmProvider, compute: &'static str, classic: &'static str) -> &'static str {
    match provider {
        VmProvider::Compute => compute,
        VmProvider::ClassicCompute => classic,
    }
}

impl R {
    /// The Azure RBAC action this request needs.
    #[rustfmt::skip]
    pub fn permission(&self) -> &'static str {
        use super::PowerAction as P;
        match self {
            R::ListTenants => "Microsoft.Resources/tenants/read",
            R::ListSubscriptions => "Microsoft.Resources/subscriptions/read",
            R::ListResourceGroups { .. } | R::GetResourceGroup { .. } => "Microsoft.Resources/subscriptions/resourceGroups/read",
            R::BackupStatus { .. } => "Microsoft.RecoveryServices/locations/backupStatus/action",
            R::ListVms { provider, .. } | R::GetVm { provider, .. } => vm(provider, "Microsoft.Compute/virtualMachines/read", "Microsoft.ClassicCompute/virtualMachines/read"),
            R::GetVmInstanceView { provider, .. } => vm(provider, "Microsoft.Compute/virtualMachines/instanceView/read", "Microsoft.ClassicCompute/virtualMachines/read"),
            R::PutVm { provider, .. } => vm(provider, "Microsoft.Compute/virtualMachines/write", "Microsoft.ClassicCompute/virtualMachines/write"),
            R::DeleteVm { provider, .. } => vm(provider, "Microsoft.Compute/virtualMachines/delete", "Microsoft.ClassicCompute/virtualMachines/delete"),
            R::PowerVm { provider, action: P::Start, .. } => vm(provider, "Microsoft.Compute/virtualMachines/start/action", "Microsoft.ClassicCompute/virtualMachines/start/action"),
            R::PowerVm { provider, action: P::PowerOff, .. } => vm(provider, "Microsoft.Compute/virtualMachines/powerOff/action", "Microsoft.ClassicCompute/virtualMachines/shutdown/action"),
            R::PowerVm { provider, action: P::Deallocate, .. } => vm(provider, "Microsoft.Compute/virtualMachines/deallocate/action", "Microsoft.ClassicCompute/virtualMachines/stop/action"),
            R::ListDisks { .. } | R::GetDisk { .. } => "Microsoft.Compute/disks/read",
            R::PutDisk { .. } => "Microsoft.Compute/disks/write",
            R::DeleteDisk { .. } => "Microsoft.Compute/disks/delete",
            R::ListRestorePointCollections { .. } | R::GetRestorePointCollection { .. } => "Microsoft.Compute/restorePointCollections/read",
            R::GetRestorePoint { .. } => "Microsoft.Compute/restorePointCollections/restorePoints/read",
            R::ListStorageAccounts { .. } | R::GetStorageAccount { .. } => "Microsoft.Storage/storageAccounts/read",
            R::PutStorageAccount { .. } => "Microsoft.Storage/storageAccounts/write",
            R::DeleteStorageAccount { .. } => "Microsoft.Storage/storageAccounts/delete",
            R::ListBlobContainers { .. } | R::GetBlobContainer { .. } | R::ListBlobs { .. } => "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            R::CheckStorageAccountName { .. } => "Microsoft.Storage/checknameavailability/read",
            R::GetClassicStorageAccount { .. } => "Microsoft.ClassicStorage/storageAccounts/read",
            R::ListVaults { .. } | R::GetVault { .. } => "Microsoft.RecoveryServices/Vaults/read",
            R::PutVault { .. } | R::PatchVault { .. } => "Microsoft.RecoveryServices/Vaults/write",
            R::DeleteVault { .. } => "Microsoft.RecoveryServices/Vaults/delete",
            R::GetStorageConfig { .. } => "Microsoft.RecoveryServices/Vaults/backupstorageconfig/read",
            R::PutStorageConfig { .. } | R::PatchStorageConfig { .. } => "Microsoft.RecoveryServices/Vaults/backupstorageconfig/write",
            R::GetVaultConfig { .. } => "Microsoft.RecoveryServices/Vaults/backupconfig/read",
            R::SetVaultConfig { .. } => "Microsoft.RecoveryServices/Vaults/backupconfig/write",
            R::GetEncryptionConfig { .. } => "Microsoft.RecoveryServices/Vaults/backupEncryptionConfigs/read",
            R::ListUsages { .. } => "Microsoft.RecoveryServices/Vaults/usages/read",
            R::ListUsageSummaries { .. } => "Microsoft.RecoveryServices/Vaults/backupUsageSummaries/read",
            R::ListPolicies { .. } | R::GetPolicy { .. } => "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
            R::PutPolicy { .. } => "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
            R::DeletePolicy { .. } => "Microsoft.RecoveryServices/Vaults/backupPolicies/delete",
            R::RefreshContainers { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/refreshContainers/action",
            R::GetFabricOperationResult { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/operationResults/read",
            R::GetOperationResult { .. } => "Microsoft.RecoveryServices/Vaults/backupOperationResults/read",
            R::GetOperationStatus { .. } => "Microsoft.RecoveryServices/Vaults/backupOperations/read",
            R::ListProtectableItems { .. } => "Microsoft.RecoveryServices/Vaults/backupProtectableItems/read",
            R::ListProtectedItems { .. } => "Microsoft.RecoveryServices/Vaults/backupProtectedItems/read",
            R::ListContainers { .. } => "Microsoft.RecoveryServices/Vaults/backupProtectionContainers/read",
            R::ListResourceGuardProxies { .. } | R::GetResourceGuardProxy { .. } => "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/read",
            R::PutResourceGuardProxy { .. } => "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/write",
            R::DeleteResourceGuardProxy { .. } => "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete",
            R::UnlockDelete { .. } => "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/unlockDelete/action",
            R::ListResourceGuards { .. } | R::GetResourceGuard { .. } | R::ListGuardRequests { .. } | R::GetGuardRequest { .. } => rsvault_service::mua::READ_GUARD,
            R::PutResourceGuard { .. } => "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/write",
            R::DeleteResourceGuard { .. } => "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/delete",
            R::ListActivityLog { .. } => "Microsoft.Insights/eventtypes/values/read",
            R::ListMachines { .. } | R::GetMachine { .. } => "Microsoft.HybridCompute/machines/read",
            R::DeleteMachine { .. } => "Microsoft.HybridCompute/machines/delete",
            R::CreateEnrollmentToken { .. } => "Microsoft.HybridCompute/machines/write",
            R::GetProtectedItem { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
            R::PutProtectedItem { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
            R::DeleteProtectedItem { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/delete",
            R::GetItemOperationStatus { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/operationsStatus/read",
            R::GetItemOperationResult { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/operationResults/read",
            R::BackupNow { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action",
            R::ListRecoveryPoints { .. } | R::GetRecoveryPoint { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/read",
            R::Restore { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/restore/action",
            R::ListProtectedItemsCrr { .. } => "Microsoft.RecoveryServices/Vaults/backupProtectedItems/read",
            R::ListRecoveryPointsCrr { .. } | R::GetRecoveryPointCrr { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/read",
            R::GetCrrAccessToken { .. } => "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/accessToken/action",
            R::GetAadProperties { .. } => "Microsoft.RecoveryServices/locations/backupAadProperties/read",
            R::CrossRegionRestore { .. } => "Microsoft.RecoveryServices/locations/backupCrossRegionRestore/action",
            R::GetCrrOperationStatus { .. } => "Microsoft.RecoveryServices/locations/backupCrrOperationsStatus/read",
            R::GetCrrOperationResult { .. } => "Microsoft.RecoveryServices/locations/backupCrrOperationResults/read",
            R::GetCrrJob { .. } => "Microsoft.RecoveryServices/locations/backupCrrJob/action",
            R::ListCrrJobs { .. } => "Microsoft.RecoveryServices/locations/backupCrrJobs/action",
            // rsvault's own verify job: Azure's validate operation of the vault.
            R::VerifyNow { .. } => "Microsoft.RecoveryServices/Vaults/backupValidateOperation/action",
            R::ListJobs { .. } | R::GetJob { .. } => "Microsoft.RecoveryServices/Vaults/backupJobs/read",
            R::CancelJob { .. } => "Microsoft.RecoveryServices/Vaults/backupJobs/cancel/action",
            R::GetJobOperationResult { .. } => "Microsoft.RecoveryServices/Vaults/backupJobs/operationResults/read",
            R::ListRoleAssignments { .. } | R::GetRoleAssignment { .. } => "Microsoft.Authorization/roleAssignments/read",
            R::ListPermissions { .. } => "Microsoft.Authorization/permissions/read",
            R::Graph(g) => g.permission(),
            R::PutRoleAssignment { .. } => "Microsoft.Authorization/roleAssignments/write",
            R::DeleteRoleAssignment { .. } => "Microsoft.Authorization/roleAssignments/delete",
            R::ListRoleDefinitions { .. } | R::GetRoleDefinition { .. } => "Microsoft.Authorization/roleDefinitions/read",
            // The directory is Entra ID's in Azure (Graph permissions, not
            // RBAC); here its actions sit under Microsoft.Authorization, so
            // that only Owner and User Access Administrator change it
            // (Contributor's notActions exclude Microsoft.Authorization
            // writes and deletes), and any role may read it.
            R::ListPrincipals | R::GetPrincipal { .. } => "Microsoft.Authorization/principals/read",
            R::CreateServicePrincipal { .. } | R::CreateUser { .. } => "Microsoft.Authorization/principals/write",
            R::ResetCredential { .. } => "Microsoft.Authorization/principals/credentials/write",
            R::DeletePrincipal { .. } => "Microsoft.Authorization/principals/delete",
        }
    }
}
