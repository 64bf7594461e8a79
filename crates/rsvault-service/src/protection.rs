//! Discovery and protection of VMs: protectable items (VMs of the vault's
//! region that no vault protects), enabling protection with a policy, and
//! the long-running operation records clients poll.
//!
//! Naming follows Azure: an ARM VM `vm1` in group `rg` is container
//! `IaasVMContainer;iaasvmcontainerv2;rg;vm1` and item
//! `VM;iaasvmcontainerv2;rg;vm1`; a classic VM uses `iaasvmcontainer`.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::{ResourceRef, VmProvider};
use crate::metastore::records::{
    ContainerMatch, ItemOverview, ItemQuery, ItemRecord, NewItem, NewOperation,
};
use crate::metastore::{Page, PageRequest};
use crate::vault::VaultRef;
use rsvault_arm::Resource;
use rsvault_arm::common::{
    BackupManagementType, HealthStatus, ProtectionState, ProtectionStatus, WorkloadType,
};
use rsvault_arm::container::{
    IaasVmContainer, IaasVmProtectableItem, ProtectableItem, ProtectableItemResource,
    ProtectionContainer, ProtectionContainerResource,
};
use rsvault_arm::error::ErrorDetail;
use rsvault_arm::item::{
    GuestAgent, IaasVmProtectedItem, IaasVmProtectedItemExtendedInfo, ProtectedItem,
    ProtectedItemResource,
};
use rsvault_arm::operation::{
    OperationState, OperationStatus, OperationStatusInfo, OperationStatusJob,
};
use serde::Deserialize;

/// A protected (or protectable) VM as the vault names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemName {
    pub provider: VmProvider,
    pub resource_group: String,
    pub vm: String,
}

impl ItemName {
    fn kind(&self) -> &'static str {
        self.provider.container_kind()
    }

    /// The VM's ARM id.
    fn vm_id(&self, subscription: &str) -> String {
        format!(
            "/subscriptions/{subscription}/resourceGroups/{}/providers/{}/virtualMachines/{}",
            self.resource_group,
            self.provider.namespace(),
            self.vm
        )
    }

    /// `IaasVMContainer;iaasvmcontainerv2;rg;vm`.
    pub fn container(&self) -> String {
        format!(
            "IaasVMContainer;{};{};{}",
            self.kind(),
            self.resource_group,
            self.vm
        )
    }

    /// `VM;iaasvmcontainerv2;rg;vm`.
    pub fn item(&self) -> String {
        format!("VM;{};{};{}", self.kind(), self.resource_group, self.vm)
    }

    /// The `containerName` property: the container without its first part.
    pub fn container_property(&self) -> String {
        format!("{};{};{}", self.kind(), self.resource_group, self.vm)
    }

    /// The name of a protected item's VM.
    fn of(r: &ItemRecord) -> ItemName {
        ItemName {
            provider: r.provider,
            resource_group: r.vm.resource_group.clone(),
            vm: r.vm.name.clone(),
        }
    }

    /// Parses a container and item name pair (any case; Terraform sends
    /// them in lower case).
    pub fn parse(container: &str, item: &str) -> Result<ItemName> {
        let bad = || {
            ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!(
                    "'{container}' / '{item}' are not an IaasVMContainer;iaasvmcontainerv2;<group>;<vm> container and VM;iaasvmcontainerv2;<group>;<vm> item"
                ),
            )
        };
        let c: Vec<&str> = container.split(';').collect();
        let i: Vec<&str> = item.split(';').collect();
        if c.len() != 4
            || i.len() != 4
            || !c[0].eq_ignore_ascii_case("IaasVMContainer")
            || !i[0].eq_ignore_ascii_case("VM")
        {
            return Err(bad());
        }
        if !c[1].eq_ignore_ascii_case(i[1])
            || !c[2].eq_ignore_ascii_case(i[2])
            || !c[3].eq_ignore_ascii_case(i[3])
        {
            return Err(bad());
        }
        let provider = if c[1].eq_ignore_ascii_case("iaasvmcontainerv2") {
            VmProvider::Compute
        } else if c[1].eq_ignore_ascii_case("iaasvmcontainer") {
            VmProvider::ClassicCompute
        } else {
            return Err(bad());
        };
        Ok(ItemName {
            provider,
            resource_group: c[2].to_owned(),
            vm: c[3].to_owned(),
        })
    }
}

/// A new random id (operations, jobs).
pub(crate) fn new_id() -> String {
    op_id()
}

fn op_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn policy_name_of(policy_id: &str) -> Option<&str> {
    let lower = policy_id.to_ascii_lowercase();
    let i = lower.rfind("/backuppolicies/")?;
    Some(&policy_id[i + "/backupPolicies/".len()..]).filter(|n| !n.is_empty() && !n.contains('/'))
}

/// The state of one protected item.
pub(crate) struct ItemState {
    pub rowid: i64,
    pub state: String,
    pub policy: String,
    pub deferred: Option<String>,
}

/// `virtualMachineVersion` of a container or protectable item.
fn vm_version(p: VmProvider) -> &'static str {
    match p {
        VmProvider::Compute => "Compute",
        VmProvider::ClassicCompute => "ClassicCompute",
    }
}

/// `policyType` of a stored policy's properties.
#[derive(Debug, Default, Deserialize)]
struct StoredPolicyType {
    #[serde(rename = "policyType", default)]
    policy_type: Option<String>,
}

/// `d.hh:mm:ss` from `now` to `until`.
fn remaining(until: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let secs = (until.as_second() - now.as_second()).max(0);
    format!(
        "{}.{:02}:{:02}:{:02}",
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn item_not_found(v: &VaultRef, item: &str) -> ServiceError {
    ServiceError::not_found(
        "BMSUserErrorProtectedItemNotFound",
        format!("Item '{item}' is not protected by vault '{}'.", v.name),
    )
}

impl Service {
    // ----- operations -----

    /// Records the accepted operation that started a job.
    pub(crate) fn operation_for_job(&self, vault_rowid: i64, job: &str) -> Result<String> {
        let id = op_id();
        let t = self.now().to_string();
        self.meta.insert_operation(&NewOperation {
            vault: vault_rowid,
            op_id: id.clone(),
            status: "Succeeded".into(),
            start_time: t.clone(),
            end_time: Some(t),
            job_id: Some(job.to_owned()),
        })?;
        Ok(id)
    }

    /// An accepted operation naming a job, to record with it.
    pub(crate) fn job_operation(&self, vault_rowid: i64, job: &str) -> NewOperation {
        let t = self.now().to_string();
        NewOperation {
            vault: vault_rowid,
            op_id: op_id(),
            status: "Succeeded".into(),
            start_time: t.clone(),
            end_time: Some(t),
            job_id: Some(job.to_owned()),
        }
    }

    /// Records an operation that has finished; returns its id.
    pub(crate) fn finished_operation(&self, vault_rowid: i64) -> Result<String> {
        let id = op_id();
        let t = self.now().to_string();
        self.meta.insert_operation(&NewOperation {
            vault: vault_rowid,
            op_id: id.clone(),
            status: "Succeeded".into(),
            start_time: t.clone(),
            end_time: Some(t),
            job_id: None,
        })?;
        Ok(id)
    }

    /// An operation's status body (`OperationStatus`).
    pub fn operation_status(&self, v: &VaultRef, op: &str) -> Result<OperationStatus> {
        let vault = self.vault_row(v)?;
        let r = self.meta.find_operation(vault.rowid, op)?.ok_or_else(|| {
            ServiceError::not_found(
                "BMSUserErrorOperationNotFound",
                format!("Operation {op} was not found in vault '{}'.", v.name),
            )
        })?;
        Ok(OperationStatus {
            id: Some(op.to_owned()),
            name: Some(op.to_owned()),
            status: Some(OperationState::from(r.status.as_str())),
            start_time: Some(r.start_time),
            end_time: r.end_time,
            error: r
                .error_code
                .map(|code| ErrorDetail::new(code, r.error_message.unwrap_or_default())),
            properties: r.job_id.map(|job| {
                OperationStatusInfo::Job(OperationStatusJob {
                    job_id: Some(job),
                    ..Default::default()
                })
            }),
            ..Default::default()
        })
    }

    /// Whether an operation has finished (for `operationResults` URLs).
    pub fn operation_done(&self, v: &VaultRef, op: &str) -> Result<bool> {
        Ok(self.operation_status(v, op)?.status != Some(OperationState::InProgress))
    }

    // ----- discovery -----

    /// `refreshContainers`: the hypervisor hosts list their VMs again
    /// ([`crate::hosts`]); the rest of discovery is computed from the
    /// inventory on every read. A host that does not answer keeps its VMs
    /// as they were (and is logged).
    pub fn refresh_containers(&self, v: &VaultRef) -> Result<String> {
        let vault = self.vault_row(v)?;
        if let Err(e) = self.refresh_hosts() {
            tracing::warn!("refreshContainers: {e}");
        }
        self.finished_operation(vault.rowid)
    }

    /// VMs of the vault's subscription and region that no vault protects,
    /// that match a `$filter` (`backupManagementType`).
    pub fn protectable_items(
        &self,
        v: &VaultRef,
        filter: &str,
    ) -> Result<Vec<ProtectableItemResource>> {
        let vault = self.vault_row(v)?;
        let mut out = Vec::new();
        if !crate::filter::Filter::parse(filter)?.management_type_matches() {
            return Ok(out);
        }
        for p in [VmProvider::Compute, VmProvider::ClassicCompute] {
            for vm in self.list_vms(p, &v.subscription, None)? {
                if !vm
                    .location
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&vault.location))
                {
                    continue;
                }
                let rg = resource_group_of(vm.id());
                let name = vm.name().to_owned();
                if self
                    .item_row_for_vm(p, &v.subscription, &rg, &name)?
                    .is_some()
                {
                    continue;
                }
                let n = ItemName {
                    provider: p,
                    resource_group: rg.clone(),
                    vm: name.clone(),
                };
                let item = IaasVmProtectableItem {
                    friendly_name: Some(name),
                    virtual_machine_id: vm.id.clone(),
                    protection_state: Some(ProtectionStatus::NotProtected),
                    backup_management_type: Some(BackupManagementType::AzureIaasVm),
                    workload_type: Some(WorkloadType::Vm),
                    virtual_machine_version: Some(vm_version(p).into()),
                    resource_group: Some(rg),
                    ..Default::default()
                };
                out.push(Resource {
                    id: Some(format!(
                        "{}/backupFabrics/Azure/protectionContainers/{}/protectableItems/{}",
                        v.id(),
                        n.container(),
                        n.item()
                    )),
                    name: Some(n.item()),
                    kind: Some("Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems".into()),
                    ..Resource::with_properties(match p {
                        VmProvider::Compute => ProtectableItem::Compute(item),
                        VmProvider::ClassicCompute => ProtectableItem::ClassicCompute(item),
                    })
                });
            }
        }
        Ok(out)
    }

    // ----- protection -----

    fn item_row_for_vm(
        &self,
        p: VmProvider,
        sub: &str,
        rg: &str,
        vm: &str,
    ) -> Result<Option<(i64, i64)>> {
        let vm = ResourceRef {
            subscription: sub.to_owned(),
            resource_group: rg.to_owned(),
            name: vm.to_owned(),
        };
        Ok(self.meta.item_for_vm(p, &vm)?.map(|i| (i.id, i.vault)))
    }

    /// The protected item of a VM in a vault, if any.
    pub(crate) fn find_item(&self, vault_rowid: i64, n: &ItemName) -> Result<Option<ItemState>> {
        Ok(self
            .meta
            .find_item(vault_rowid, n.provider, &n.resource_group, &n.vm)?
            .map(|i| ItemState {
                rowid: i.id,
                state: i.state,
                policy: i.policy,
                deferred: i.deferred_delete,
            }))
    }

    fn undelete(
        &self,
        vault_rowid: i64,
        n: &ItemName,
        existing: Option<ItemState>,
    ) -> Result<String> {
        let it = existing.filter(|i| i.deferred.is_some()).ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!("The backup data of '{}' is not soft-deleted.", n.vm),
            )
        })?;
        self.meta.undelete_item(it.rowid)?;
        self.completed_job(vault_rowid, "Undelete", &n.vm, &n.container_property())
    }

    /// Stop backup and delete data. With soft delete (the default) the item
    /// and its recovery points stay for the vault's soft-delete period and can
    /// be undeleted; without it they are purged at once.
    pub fn delete_protected_item(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
    ) -> Result<String> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        let it = self
            .find_item(vault.rowid, &n)?
            .ok_or_else(|| item_not_found(v, item))?;
        if crate::immutability::of(&vault.properties).on() {
            return Err(crate::immutability::denied_delete());
        }
        if it.deferred.is_some() {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!(
                    "The backup data of '{}' is already deleted and waiting for its soft-delete period to end.",
                    n.vm
                ),
            ));
        }
        let item_id = format!(
            "{}/backupFabrics/Azure/protectionContainers/{container}/protectedItems/{item}",
            v.id()
        );
        self.approve_delete(&vault, crate::mua::Critical::DeleteProtectedItem, &item_id)?;
        let sd = self
            .get_vault(v)?
            .properties
            .security_settings
            .and_then(|s| s.soft_delete_settings)
            .unwrap_or_default();
        let enabled = !sd
            .soft_delete_state
            .is_some_and(|s| s == rsvault_arm::vault::SoftDeleteState::Disabled);
        if enabled {
            let days =
                i64::from(sd.soft_delete_retention_period_in_days.unwrap_or(14)).clamp(14, 180);
            let until = self
                .now()
                .checked_add(jiff::SignedDuration::from_hours(24 * days))
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            self.meta.soft_delete_item(it.rowid, &until.to_string())?;
        } else {
            self.purge_item(vault.rowid, &vault.store, it.rowid)?;
        }
        self.completed_job(
            vault.rowid,
            "DeleteBackupData",
            &n.vm,
            &n.container_property(),
        )
    }

    /// Purges items whose soft-delete period ended before `now`: their
    /// recovery points are forgotten in the store and the space reclaimed.
    /// Returns how many items were purged.
    pub fn purge_expired(&self, now: jiff::Timestamp) -> Result<usize> {
        let mut n = 0;
        for it in self.meta.soft_deleted_items()? {
            let due = it
                .deferred_delete
                .as_deref()
                .and_then(|u| u.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t <= now);
            if !due {
                continue;
            }
            if let Some(vault) = self.meta.vault_by_id(it.vault)? {
                self.purge_item(vault.id, &vault.store, it.id)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Forgets the engine points of one recovery point's disks (its
    /// `disks` column); points already gone are fine.
    pub(crate) fn forget_point_disks(
        &self,
        store: &rsvault_engine::Store,
        disks: &[crate::point_disks::PointDisk],
    ) -> Result<()> {
        for disk in disks {
            if let Some((name, point)) = disk.engine_point() {
                match store.forget(name, point) {
                    Ok(_) | Err(rsvault_engine::Error::PointNotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn purge_item(&self, vault: i64, store_name: &str, item_rowid: i64) -> Result<()> {
        let disks: Vec<String> = self
            .meta
            .item_points(item_rowid)?
            .into_iter()
            .map(|p| p.disks)
            .collect();
        let store = self.open_vault_store(store_name)?;
        self.drop_item_snapshots(item_rowid)?;
        for d in disks {
            self.forget_point_disks(&store, &crate::point_disks::parse(&d)?)?;
        }
        self.meta.purge_item(item_rowid)?;
        self.note_forgotten(vault);
        rsvault_engine::gc(
            &store,
            &rsvault_engine::GcOptions::default(),
            &rsvault_engine::NoProgress,
        )?;
        Ok(())
    }

    /// Number of items a vault protects (the storage lock and vault delete).
    pub(crate) fn item_count(&self, vault_rowid: i64) -> Result<u64> {
        Ok(self.meta.count_items(vault_rowid, None)?)
    }

    /// Number of items protected with a policy.
    pub(crate) fn policy_item_count(&self, vault_rowid: i64, policy: &str) -> Result<u64> {
        Ok(self.meta.count_items(vault_rowid, Some(policy))?)
    }

    /// PUT of a protected item: enables protection of a VM with a policy, or
    /// moves a protected VM to another policy. Returns the operation id.
    pub fn put_protected_item(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        body: &ProtectedItemResource,
    ) -> Result<String> {
        self.put_protected_item_as(v, container, item, body, &crate::mua::Approval::none())
    }

    /// [`Service::put_protected_item`], with what the request brings to
    /// approve stopping protection, or a move to a policy with shorter
    /// retention, in a vault linked to a resource guard.
    pub fn put_protected_item_as(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        body: &ProtectedItemResource,
        approval: &crate::mua::Approval,
    ) -> Result<String> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        let props = body.properties.read_as_iaas_vm().map_err(|e| {
            ServiceError::bad_request(
                "InvalidRequestContent",
                format!("The request content was invalid and could not be deserialized: {e}"),
            )
        })?;
        let wanted = props.protection_state.as_ref().map_or("", |s| s.as_str());
        let existing = self.find_item(vault.rowid, &n)?;
        if props.is_rehydrate == Some(true) {
            return self.undelete(vault.rowid, &n, existing);
        }
        if let Some(it) = &existing
            && it.deferred.is_some()
        {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!(
                    "The backup data of '{}' is soft-deleted; undelete it (isRehydrate) before changing its protection.",
                    n.vm
                ),
            ));
        }
        if wanted.eq_ignore_ascii_case("ProtectionStopped")
            || wanted.eq_ignore_ascii_case("BackupsSuspended")
        {
            let it = existing.ok_or_else(|| item_not_found(v, item))?;
            let stop = wanted.eq_ignore_ascii_case("ProtectionStopped");
            if stop {
                self.approve(&vault, crate::mua::Critical::StopProtection, approval)?;
            }
            // Stopping keeps the data forever and detaches the policy;
            // suspending keeps the policy (its retention still applies).
            let policy = if stop {
                String::new()
            } else {
                it.policy.clone()
            };
            self.meta.set_item_protection(
                it.rowid,
                if stop {
                    "ProtectionStopped"
                } else {
                    "BackupsSuspended"
                },
                &policy,
            )?;
            return self.completed_job(
                vault.rowid,
                "DisableBackup",
                &n.vm,
                &n.container_property(),
            );
        }
        if !wanted.is_empty()
            && !wanted.eq_ignore_ascii_case("Protected")
            && !wanted.eq_ignore_ascii_case("IRPending")
        {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!(
                    "properties.protectionState: '{wanted}' is not ProtectionStopped, BackupsSuspended or Protected"
                ),
            ));
        }
        let policy_id = props.policy_id.as_deref().unwrap_or("");
        let policy = policy_name_of(policy_id).ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidPolicyInput",
                "properties.policyId: the id of one of the vault's backup policies is required",
            )
        })?;
        // The policy's own error when it does not exist.
        self.get_policy(v, policy)?;
        let (policy, policy_type) = self
            .stored_policy_type(vault.rowid, policy)?
            .unwrap_or_else(|| (policy.to_owned(), None));
        let vm_ref = ResourceRef {
            subscription: v.subscription.clone(),
            resource_group: n.resource_group.clone(),
            name: n.vm.clone(),
        };
        let vm = self.get_vm(n.provider, &vm_ref, false).map_err(|_| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!(
                    "The specified Azure Virtual Machine Not Found: '{}' in resource group '{}'.",
                    n.vm, n.resource_group
                ),
            )
        })?;
        let location = vm.location.as_deref().unwrap_or("");
        if !location.eq_ignore_ascii_case(&vault.location) {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!(
                    "VM '{}' is in {location} and vault '{}' in {}: a VM can only be protected by a vault in its own region.",
                    n.vm, v.name, vault.location
                ),
            ));
        }
        let rg = resource_group_of(vm.id());
        let vm_name = vm.name.clone().unwrap_or_else(|| n.vm.clone());
        match self.item_row_for_vm(n.provider, &v.subscription, &rg, &vm_name)? {
            Some((_, other)) if other != vault.rowid => {
                return Err(ServiceError::bad_request(
                    "BMSUserErrorInvalidConfigureProtectionRequest",
                    format!(
                        "VM '{vm_name}' is already protected by another vault; stop its protection there first."
                    ),
                ));
            }
            Some((id, _)) => {
                let current: String = self
                    .meta
                    .item_by_id(id)?
                    .map(|i| i.policy)
                    .unwrap_or_default();
                let is_v2 = |t: &Option<String>| t.as_deref() == Some("V2");
                let old_v2 = self
                    .stored_policy_type(vault.rowid, &current)
                    .ok()
                    .flatten()
                    .is_some_and(|(_, t)| is_v2(&t));
                if !current.eq_ignore_ascii_case(&policy)
                    && let (Some(from), Some(to)) = (
                        self.stored_retention(vault.rowid, &current)?,
                        self.stored_retention(vault.rowid, &policy)?,
                    )
                    && let Some(why) = crate::immutability::shortens(&from, &to)
                {
                    if crate::immutability::of(&vault.properties).on() {
                        return Err(crate::immutability::denied_retention(
                            &format!("moving '{vm_name}' from policy '{current}' to '{policy}'"),
                            &why,
                        ));
                    }
                    self.approve(&vault, crate::mua::Critical::UpdateProtectedItem, approval)?;
                }
                if old_v2 && !is_v2(&policy_type) {
                    return Err(ServiceError::bad_request(
                        "BMSUserErrorInvalidPolicyInput",
                        "properties.policyId: an item protected by an Enhanced (V2) policy cannot move to a Standard (V1) policy",
                    ));
                }
                let rps = self.meta.item_points(id)?.len();
                let state = if rps > 0 { "Protected" } else { "IRPending" };
                self.meta.set_item_protection(id, state, &policy)?;
            }
            None => {
                let data_id: u64 = rand::random::<u64>() >> 4;
                self.meta.insert_item(&NewItem {
                    vault: vault.rowid,
                    provider: n.provider,
                    vm: ResourceRef {
                        subscription: v.subscription.clone(),
                        resource_group: rg.clone(),
                        name: vm_name.clone(),
                    },
                    policy: policy.clone(),
                    state: "IRPending".into(),
                    data_id: data_id.to_string(),
                    created: self.now().to_string(),
                })?;
            }
        }
        self.completed_job(
            vault.rowid,
            "ConfigureBackup",
            &vm_name,
            &n.container_property(),
        )
    }

    /// The canonical name and `policyType` of a stored policy, if it exists.
    fn stored_policy_type(
        &self,
        vault_rowid: i64,
        name: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        Ok(self.meta.find_policy(vault_rowid, name)?.map(|p| {
            let t = serde_json::from_str::<StoredPolicyType>(&p.properties).unwrap_or_default();
            (p.name, t.policy_type)
        }))
    }

    fn item_view(
        &self,
        v: &VaultRef,
        o: ItemOverview,
        usage: Option<&crate::usage::ItemUsage>,
    ) -> ProtectedItemResource {
        let r = &o.item;
        let n = ItemName::of(r);
        let p = r.provider;
        let vm_id = n.vm_id(&r.vm.subscription);
        let rp_count = o.points.count;
        let last_rp = o.points.latest;
        let last_job = o.last_backup.map(|j| (j.status, j.start_time));
        let health: Option<crate::item_health::StoredHealth> = r
            .health
            .as_deref()
            .and_then(|h| serde_json::from_str(h).ok());
        let mut details = health
            .as_ref()
            .and_then(|h| h.health_details.clone())
            .unwrap_or_default();
        let mut health_status = if details.is_empty() {
            HealthStatus::Passed
        } else {
            HealthStatus::ActionSuggested
        };
        // Damaged recovery points (found by the vault's verify job) need action.
        if let Some(d) = Service::damage_health(&o.points.damaged) {
            details.insert(0, d);
            health_status = HealthStatus::ActionRequired;
        }
        // The server's own schedule (the policy's time zone, DST and all):
        // the next time the scheduler will back this item up.
        let next_backup = (matches!(r.state.as_str(), "Protected" | "IRPending")
            && r.deferred_delete.is_none())
        .then(|| {
            let props = crate::policy::stored_properties(&o.policy.as_ref()?.properties);
            let policy = crate::policy::model::Policy::parse(&props).ok()?;
            crate::policy::schedule::next_run(&policy, self.now())
        })
        .flatten()
        .map(|t| t.to_string());
        let policy_type = o.policy.as_ref().map_or_else(
            || Some("V1".to_owned()),
            |p| {
                serde_json::from_str::<StoredPolicyType>(&p.properties)
                    .unwrap_or_default()
                    .policy_type
            },
        );
        let remaining = r
            .deferred_delete
            .as_deref()
            .and_then(|d| d.parse::<jiff::Timestamp>().ok())
            .map(|d| remaining(d, self.now()));
        let item = IaasVmProtectedItem {
            backup_management_type: Some(BackupManagementType::AzureIaasVm),
            workload_type: Some(WorkloadType::Vm),
            friendly_name: Some(r.vm.name.clone()),
            virtual_machine_id: Some(vm_id.clone()),
            source_resource_id: Some(vm_id),
            container_name: Some(n.container_property()),
            policy_id: Some(format!("{}/backupPolicies/{}", v.id(), r.policy)),
            policy_name: Some(r.policy.clone()),
            policy_type,
            protection_status: Some("Healthy".into()),
            protection_state: Some(ProtectionState::from(r.state.as_str())),
            health_status: Some(health_status),
            health_details: Some(details),
            guest_agent: health.map(|h| GuestAgent {
                status: h.guest_agent_status,
                version: h.guest_agent_version,
                last_checked: h.last_checked,
                ..Default::default()
            }),
            last_backup_status: Some(last_job.as_ref().map(|j| j.0.clone()).unwrap_or_default()),
            last_backup_time: last_job.map(|j| j.1),
            last_recovery_point: last_rp,
            protected_item_data_id: Some(r.data_id.clone()),
            extended_info: Some(IaasVmProtectedItemExtendedInfo {
                recovery_point_count: Some(rp_count),
                policy_inconsistent: Some(false),
                next_scheduled_backup_time: next_backup,
                // rsvault: what the item's points come to (Backup usage per item).
                extra: usage
                    .map(|u| {
                        serde_json::Map::from_iter([
                            ("rsvaultProtectedBytes".to_owned(), u.protected_bytes.into()),
                            ("rsvaultBackedUpBytes".to_owned(), u.backed_up_bytes.into()),
                        ])
                    })
                    .unwrap_or_default(),
                ..Default::default()
            }),
            is_scheduled_for_deferred_delete: Some(r.deferred_delete.is_some()),
            deferred_delete_time_in_utc: r.deferred_delete.clone(),
            deferred_delete_time_remaining: remaining,
            ..Default::default()
        };
        Resource {
            id: Some(format!(
                "{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
                v.id(),
                n.container(),
                n.item()
            )),
            name: Some(n.item()),
            kind: Some(
                "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"
                    .into(),
            ),
            ..Resource::with_properties(match p {
                VmProvider::Compute => ProtectedItem::Compute(item),
                VmProvider::ClassicCompute => ProtectedItem::ClassicCompute(item),
            })
        }
    }

    /// Reads a protected item.
    pub fn get_protected_item(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
    ) -> Result<ProtectedItemResource> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        let q = ItemQuery {
            container: Some(ContainerMatch {
                provider: Some(n.provider),
                resource_group: Some(n.resource_group.clone()),
                vm: n.vm.clone(),
            }),
            ..Default::default()
        };
        let o = self
            .meta
            .list_item_overviews(vault.rowid, &q, &PageRequest::first(1))?
            .items
            .pop()
            .ok_or_else(|| {
                ServiceError::not_found(
                    "BMSUserErrorProtectedItemNotFound",
                    format!("Item '{item}' is not protected by vault '{}'.", v.name),
                )
            })?;
        let usage = self.item_usage(o.item.id)?;
        Ok(self.item_view(v, o, usage.as_ref()))
    }

    /// One page of a vault's protected items that match a `$filter`:
    /// `backupManagementType`, `itemType` (`VM`), `policyName`,
    /// `containerName` (a container's name or its `containerName`
    /// property) and `friendlyName` (the VM's name).
    pub fn list_protected_items(
        &self,
        v: &VaultRef,
        filter: &str,
        page: &PageRequest,
    ) -> Result<Page<ProtectedItemResource>> {
        let vault = self.vault_row(v)?;
        let f = crate::filter::Filter::parse(filter)?;
        if !f.management_type_matches() || !f.allows("itemtype", "VM") {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let q = ItemQuery {
            policy: f.get("policyname").map(str::to_owned),
            container: f.get("containername").map(container_match),
            friendly_name: f.get("friendlyname").map(str::to_owned),
        };
        let usage = self.item_usages(vault.rowid)?;
        Ok(self
            .meta
            .list_item_overviews(vault.rowid, &q, page)?
            .map(|o| {
                let u = usage.get(&o.item.id);
                self.item_view(v, o, u)
            }))
    }

    /// One page of the registered protection containers (one per
    /// protected VM) that match a `$filter`: `backupManagementType`,
    /// `friendlyName` (the VM's name) and `status` (`Registered`).
    pub fn list_containers(
        &self,
        v: &VaultRef,
        filter: &str,
        page: &PageRequest,
    ) -> Result<Page<ProtectionContainerResource>> {
        let vault = self.vault_row(v)?;
        let f = crate::filter::Filter::parse(filter)?;
        if !f.management_type_matches() || !f.allows("status", "Registered") {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let q = ItemQuery {
            friendly_name: f.get("friendlyname").map(str::to_owned),
            ..Default::default()
        };
        Ok(self.meta.list_items(vault.rowid, &q, page)?.map(|r| {
            let p = r.provider;
            let n = ItemName {
                provider: p,
                resource_group: r.vm.resource_group.clone(),
                vm: r.vm.name.clone(),
            };
            let c = IaasVmContainer {
                friendly_name: Some(r.vm.name.clone()),
                backup_management_type: Some(BackupManagementType::AzureIaasVm),
                registration_status: Some("Registered".into()),
                health_status: Some("Healthy".into()),
                virtual_machine_version: Some(vm_version(p).into()),
                resource_group: Some(r.vm.resource_group.clone()),
                ..Default::default()
            };
            Resource {
                id: Some(format!(
                    "{}/backupFabrics/Azure/protectionContainers/{}",
                    v.id(),
                    n.container()
                )),
                name: Some(n.container()),
                kind: Some(
                    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers".into(),
                ),
                ..Resource::with_properties(match p {
                    VmProvider::Compute => ProtectionContainer::Compute(c),
                    VmProvider::ClassicCompute => ProtectionContainer::ClassicCompute(c),
                })
            }
        }))
    }
}

/// What a `containerName` filter names: `IaasVMContainer;<kind>;<group>;<vm>`,
/// `<kind>;<group>;<vm>` (the `containerName` property), or a VM's name.
fn container_match(value: &str) -> ContainerMatch {
    let parts: Vec<&str> = value.split(';').collect();
    let tail = match parts.as_slice() {
        [_, kind, rg, vm] | [kind, rg, vm] => Some((*kind, *rg, *vm)),
        _ => None,
    };
    match tail {
        Some((kind, rg, vm)) => ContainerMatch {
            provider: if kind.eq_ignore_ascii_case("iaasvmcontainerv2") {
                Some(VmProvider::Compute)
            } else if kind.eq_ignore_ascii_case("iaasvmcontainer") {
                Some(VmProvider::ClassicCompute)
            } else {
                None
            },
            resource_group: Some(rg.to_owned()),
            vm: vm.to_owned(),
        },
        None => ContainerMatch {
            provider: None,
            resource_group: None,
            vm: value.to_owned(),
        },
    }
}

fn resource_group_of(id: &str) -> String {
    let seg: Vec<&str> = id.split('/').collect();
    seg.iter()
        .position(|s| s.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| seg.get(i + 1))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        let n = ItemName::parse(
            "iaasvmcontainer;iaasvmcontainerv2;RG;vm1",
            "vm;IAASVMCONTAINERV2;rg;VM1",
        )
        .unwrap();
        assert_eq!(n.provider, VmProvider::Compute);
        assert_eq!(n.container(), "IaasVMContainer;iaasvmcontainerv2;RG;vm1");
        assert_eq!(n.container_property(), "iaasvmcontainerv2;RG;vm1");
        let c = ItemName::parse(
            "IaasVMContainer;iaasvmcontainer;cs;old",
            "VM;iaasvmcontainer;cs;old",
        )
        .unwrap();
        assert_eq!(c.provider, VmProvider::ClassicCompute);
        assert!(
            ItemName::parse(
                "IaasVMContainer;iaasvmcontainerv2;rg;a",
                "VM;iaasvmcontainerv2;rg;b"
            )
            .is_err()
        );
        assert!(ItemName::parse("x", "y").is_err());
        assert_eq!(
            policy_name_of(
                "/subscriptions/s/resourceGroups/r/providers/Microsoft.RecoveryServices/vaults/v/backupPolicies/Daily"
            ),
            Some("Daily")
        );
        assert_eq!(policy_name_of(""), None);
    }
}
