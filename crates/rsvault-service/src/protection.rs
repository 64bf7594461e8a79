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
use crate::vault::VaultRef;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

/// A protected (or protectable) VM as the vault names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemName {
    pub provider: VmProvider,
    pub resource_group: String,
    pub vm: String,
}

impl ItemName {
    fn kind(&self) -> &'static str {
        match self.provider {
            VmProvider::Compute => "iaasvmcontainerv2",
            VmProvider::ClassicCompute => "iaasvmcontainer",
        }
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

fn item_not_found(v: &VaultRef, item: &str) -> ServiceError {
    ServiceError::not_found(
        "BMSUserErrorProtectedItemNotFound",
        format!("Item '{item}' is not protected by vault '{}'.", v.name),
    )
}

struct ItemRow {
    rowid: i64,
    vault: i64,
    deferred: Option<String>,
    provider: String,
    vm_subscription: String,
    vm_resource_group: String,
    vm_name: String,
    policy: String,
    state: String,
    data_id: String,
    /// The agent health last recorded (JSON), if any.
    health: Option<String>,
}

impl Service {
    // ----- operations -----

    /// Records the accepted operation that started a job.
    pub(crate) fn operation_for_job(&self, vault_rowid: i64, job: &str) -> Result<String> {
        let id = op_id();
        let t = self.now().to_string();
        self.db.conn().execute(
            "INSERT INTO operations (vault, op_id, status, start_time, end_time, job_id) VALUES (?1, ?2, 'Succeeded', ?3, ?3, ?4)",
            params![vault_rowid, id, t, job],
        )?;
        Ok(id)
    }

    /// Records an operation that has finished; returns its id.
    pub(crate) fn finished_operation(&self, vault_rowid: i64) -> Result<String> {
        let id = op_id();
        let t = self.now().to_string();
        self.db.conn().execute(
            "INSERT INTO operations (vault, op_id, status, start_time, end_time) VALUES (?1, ?2, 'Succeeded', ?3, ?3)",
            params![vault_rowid, id, t],
        )?;
        Ok(id)
    }

    /// An operation's status body (`OperationStatus`).
    pub fn operation_status(&self, v: &VaultRef, op: &str) -> Result<Value> {
        let vault = self.vault_row(v)?;
        let body = self
            .db
            .conn()
            .query_row(
                "SELECT status, start_time, end_time, error_code, error_message, job_id FROM operations WHERE vault = ?1 AND op_id = ?2",
                params![vault.rowid, op],
                |r| {
                    let mut body = json!({"id": op, "name": op, "status": r.get::<_, String>(0)?,
                        "startTime": r.get::<_, String>(1)?, "endTime": r.get::<_, Option<String>>(2)?});
                    if let Some(code) = r.get::<_, Option<String>>(3)? {
                        body["error"] = json!({"code": code, "message": r.get::<_, Option<String>>(4)?.unwrap_or_default()});
                    }
                    if let Some(job) = r.get::<_, Option<String>>(5)? {
                        body["properties"] = json!({"objectType": "OperationStatusJobExtendedInfo", "jobId": job});
                    }
                    Ok(body)
                },
            )
            .optional()?
            .ok_or_else(|| ServiceError::not_found("BMSUserErrorOperationNotFound", format!("Operation {op} was not found in vault '{}'.", v.name)))?;
        Ok(body)
    }

    /// Whether an operation has finished (for `operationResults` URLs).
    pub fn operation_done(&self, v: &VaultRef, op: &str) -> Result<bool> {
        Ok(self.operation_status(v, op)?["status"] != "InProgress")
    }

    // ----- discovery -----

    /// `refreshContainers`: discovery is computed from the inventory on
    /// every read, so the refresh itself completes at once.
    pub fn refresh_containers(&self, v: &VaultRef) -> Result<String> {
        let vault = self.vault_row(v)?;
        self.finished_operation(vault.rowid)
    }

    /// VMs of the vault's subscription and region that no vault protects.
    pub fn protectable_items(&self, v: &VaultRef) -> Result<Vec<Value>> {
        let vault = self.vault_row(v)?;
        let mut out = Vec::new();
        for p in [VmProvider::Compute, VmProvider::ClassicCompute] {
            for vm in self.list_vms(p, &v.subscription, None)? {
                if !vm["location"]
                    .as_str()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&vault.location))
                {
                    continue;
                }
                let rg = resource_group_of(vm["id"].as_str().unwrap_or(""));
                let name = vm["name"].as_str().unwrap_or("").to_owned();
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
                out.push(json!({
                    "id": format!("{}/backupFabrics/Azure/protectionContainers/{}/protectableItems/{}", v.id(), n.container(), n.item()),
                    "name": n.item(),
                    "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems",
                    "properties": {
                        "protectableItemType": format!("{}/virtualMachines", p.namespace()),
                        "friendlyName": name, "virtualMachineId": vm["id"], "protectionState": "NotProtected",
                        "backupManagementType": "AzureIaasVM", "workloadType": "VM",
                        "virtualMachineVersion": if p == VmProvider::Compute { "Compute" } else { "ClassicCompute" },
                        "resourceGroup": rg,
                    }
                }));
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
        let key = p.key();
        Ok(self
            .db
            .conn()
            .query_row(
                "SELECT id, vault FROM protected_items WHERE provider = ?1 AND vm_subscription = ?2 COLLATE NOCASE AND vm_resource_group = ?3 COLLATE NOCASE AND vm_name = ?4 COLLATE NOCASE",
                params![key, sub, rg, vm],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The protected item of a VM in a vault, if any.
    pub(crate) fn find_item(&self, vault_rowid: i64, n: &ItemName) -> Result<Option<ItemState>> {
        let key = n.provider.key();
        Ok(self
            .db
            .conn()
            .query_row(
                "SELECT id, state, policy, deferred_delete FROM protected_items WHERE vault = ?1 AND provider = ?2 AND vm_resource_group = ?3 COLLATE NOCASE AND vm_name = ?4 COLLATE NOCASE",
                params![vault_rowid, key, n.resource_group, n.vm],
                |r| Ok(ItemState { rowid: r.get(0)?, state: r.get(1)?, policy: r.get(2)?, deferred: r.get(3)? }),
            )
            .optional()?)
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
        self.db.conn().execute(
            "UPDATE protected_items SET deferred_delete = NULL, state = 'ProtectionStopped' WHERE id = ?1",
            params![it.rowid],
        )?;
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
        if it.deferred.is_some() {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!(
                    "The backup data of '{}' is already deleted and waiting for its soft-delete period to end.",
                    n.vm
                ),
            ));
        }
        let sd = &self.get_vault(v)?.properties["securitySettings"]["softDeleteSettings"];
        let enabled = !sd["softDeleteState"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("Disabled"));
        if enabled {
            let days = sd["softDeleteRetentionPeriodInDays"]
                .as_i64()
                .unwrap_or(14)
                .clamp(14, 180);
            let until = self
                .now()
                .checked_add(jiff::SignedDuration::from_hours(24 * days))
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            self.db.conn().execute(
                "UPDATE protected_items SET deferred_delete = ?1, state = 'ProtectionStopped', policy = '' WHERE id = ?2",
                params![until.to_string(), it.rowid],
            )?;
        } else {
            self.purge_item(&vault.store, it.rowid)?;
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
        let due: Vec<(i64, String, String)> = {
            let conn = self.db.conn();
            let mut st = conn.prepare(
                "SELECT pi.id, pi.deferred_delete, v.store FROM protected_items pi JOIN vaults v ON pi.vault = v.id WHERE pi.deferred_delete IS NOT NULL",
            )?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut n = 0;
        for (id, until, store) in due {
            if until.parse::<jiff::Timestamp>().is_ok_and(|t| t <= now) {
                self.purge_item(&store, id)?;
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
        disks: &str,
    ) -> Result<()> {
        let d: Value = serde_json::from_str(disks).unwrap_or(json!([]));
        for disk in d.as_array().into_iter().flatten() {
            if let (Some(name), Some(point)) = (disk["store_name"].as_str(), disk["point"].as_str())
            {
                match store.forget(name, point) {
                    Ok(_) | Err(rsvault_engine::Error::PointNotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn purge_item(&self, store_name: &str, item_rowid: i64) -> Result<()> {
        let disks: Vec<String> = {
            let conn = self.db.conn();
            let mut st = conn.prepare("SELECT disks FROM recovery_points WHERE item = ?1")?;
            st.query_map(params![item_rowid], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let store = self.open_vault_store(store_name)?;
        self.drop_item_snapshots(item_rowid)?;
        for d in disks {
            self.forget_point_disks(&store, &d)?;
        }
        self.db.conn().execute(
            "DELETE FROM recovery_points WHERE item = ?1",
            params![item_rowid],
        )?;
        self.db.conn().execute(
            "DELETE FROM protected_items WHERE id = ?1",
            params![item_rowid],
        )?;
        rsvault_engine::gc(
            &store,
            &rsvault_engine::GcOptions::default(),
            &rsvault_engine::NoProgress,
        )?;
        Ok(())
    }

    /// Number of items a vault protects (the storage lock and vault delete).
    pub(crate) fn item_count(&self, vault_rowid: i64) -> Result<i64> {
        Ok(self.db.conn().query_row(
            "SELECT count(*) FROM protected_items WHERE vault = ?1",
            params![vault_rowid],
            |r| r.get(0),
        )?)
    }

    /// Number of items protected with a policy.
    pub(crate) fn policy_item_count(&self, vault_rowid: i64, policy: &str) -> Result<i64> {
        Ok(self.db.conn().query_row(
            "SELECT count(*) FROM protected_items WHERE vault = ?1 AND policy = ?2 COLLATE NOCASE",
            params![vault_rowid, policy],
            |r| r.get(0),
        )?)
    }

    /// PUT of a protected item: enables protection of a VM with a policy, or
    /// moves a protected VM to another policy. Returns the operation id.
    pub fn put_protected_item(
        &self,
        v: &VaultRef,
        container: &str,
        item: &str,
        body: &Value,
    ) -> Result<String> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        let props = &body["properties"];
        let wanted = props["protectionState"].as_str().unwrap_or("");
        let existing = self.find_item(vault.rowid, &n)?;
        if props["isRehydrate"].as_bool() == Some(true) {
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
            // Stopping keeps the data forever and detaches the policy;
            // suspending keeps the policy (its retention still applies).
            let policy = if stop {
                String::new()
            } else {
                it.policy.clone()
            };
            self.db.conn().execute(
                "UPDATE protected_items SET state = ?1, policy = ?2 WHERE id = ?3",
                params![
                    if stop {
                        "ProtectionStopped"
                    } else {
                        "BackupsSuspended"
                    },
                    policy,
                    it.rowid
                ],
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
        let policy_id = props["policyId"].as_str().unwrap_or("");
        let policy = policy_name_of(policy_id).ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidPolicyInput",
                "properties.policyId: the id of one of the vault's backup policies is required",
            )
        })?;
        let policy_doc = self.get_policy(v, policy)?;
        let policy = policy_doc["name"].as_str().unwrap_or(policy).to_owned();
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
        let location = vm["location"].as_str().unwrap_or("");
        if !location.eq_ignore_ascii_case(&vault.location) {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidConfigureProtectionRequest",
                format!(
                    "VM '{}' is in {location} and vault '{}' in {}: a VM can only be protected by a vault in its own region.",
                    n.vm, v.name, vault.location
                ),
            ));
        }
        let rg = resource_group_of(vm["id"].as_str().unwrap_or(""));
        let vm_name = vm["name"].as_str().unwrap_or(&n.vm).to_owned();
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
                let current: String = self.db.conn().query_row(
                    "SELECT policy FROM protected_items WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                let old_v2 = self
                    .get_policy(v, &current)
                    .map(|p| p["properties"]["policyType"] == "V2")
                    .unwrap_or(false);
                if old_v2 && policy_doc["properties"]["policyType"] != "V2" {
                    return Err(ServiceError::bad_request(
                        "BMSUserErrorInvalidPolicyInput",
                        "properties.policyId: an item protected by an Enhanced (V2) policy cannot move to a Standard (V1) policy",
                    ));
                }
                let rps: i64 = self.db.conn().query_row(
                    "SELECT count(*) FROM recovery_points WHERE item = ?1",
                    params![id],
                    |r| r.get(0),
                )?;
                let state = if rps > 0 { "Protected" } else { "IRPending" };
                self.db.conn().execute(
                    "UPDATE protected_items SET policy = ?1, state = ?2 WHERE id = ?3",
                    params![policy, state, id],
                )?;
            }
            None => {
                let key = n.provider.key();
                let data_id: u64 = rand::random::<u64>() >> 4;
                self.db.conn().execute(
                    "INSERT INTO protected_items (vault, provider, vm_subscription, vm_resource_group, vm_name, policy, state, data_id, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'IRPending', ?7, ?8)",
                    params![vault.rowid, key, v.subscription, rg, vm_name, policy, data_id.to_string(), self.now().to_string()],
                )?;
            }
        }
        self.completed_job(
            vault.rowid,
            "ConfigureBackup",
            &vm_name,
            &n.container_property(),
        )
    }

    fn item_rows(&self, vault_rowid: i64) -> Result<Vec<ItemRow>> {
        let conn = self.db.conn();
        let mut st = conn.prepare(
            "SELECT id, provider, vm_subscription, vm_resource_group, vm_name, policy, state, data_id, deferred_delete, vault, health FROM protected_items WHERE vault = ?1 ORDER BY vm_resource_group, vm_name",
        )?;
        let rows = st
            .query_map(params![vault_rowid], |r| {
                Ok(ItemRow {
                    rowid: r.get(0)?,
                    provider: r.get(1)?,
                    vm_subscription: r.get(2)?,
                    vm_resource_group: r.get(3)?,
                    vm_name: r.get(4)?,
                    policy: r.get(5)?,
                    state: r.get(6)?,
                    data_id: r.get(7)?,
                    deferred: r.get(8)?,
                    vault: r.get(9)?,
                    health: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn item_view(&self, v: &VaultRef, r: &ItemRow) -> Value {
        let p = VmProvider::from_key(&r.provider);
        let n = ItemName {
            provider: p,
            resource_group: r.vm_resource_group.clone(),
            vm: r.vm_name.clone(),
        };
        let vm_id = ResourceRef {
            subscription: r.vm_subscription.clone(),
            resource_group: r.vm_resource_group.clone(),
            name: r.vm_name.clone(),
        };
        let vm_id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{}/virtualMachines/{}",
            vm_id.subscription,
            vm_id.resource_group,
            p.namespace(),
            vm_id.name
        );
        let (rp_count, last_rp): (i64, Option<String>) = self
            .db
            .conn()
            .query_row(
                "SELECT count(*), max(time) FROM recovery_points WHERE item = ?1",
                params![r.rowid],
                |x| Ok((x.get(0)?, x.get(1)?)),
            )
            .unwrap_or((0, None));
        let last_job: Option<(String, String)> = self
            .db
            .conn()
            .query_row(
                "SELECT status, start_time FROM jobs WHERE container = ?1 COLLATE NOCASE AND operation = 'Backup' ORDER BY start_time DESC LIMIT 1",
                params![n.container_property()],
                |x| Ok((x.get(0)?, x.get(1)?)),
            )
            .optional()
            .unwrap_or(None);
        let health: Value = r
            .health
            .as_deref()
            .and_then(|h| serde_json::from_str(h).ok())
            .unwrap_or(Value::Null);
        let mut details = health["healthDetails"].clone();
        let mut health_status = if details.as_array().is_some_and(|d| !d.is_empty()) {
            "ActionSuggested"
        } else {
            "Passed"
        };
        // Damaged recovery points (found by the vault's verify job) need action.
        if let Some(d) = self.damage_health(r.rowid) {
            if !details.is_array() {
                details = json!([]);
            }
            if let Some(a) = details.as_array_mut() {
                a.insert(0, d);
            }
            health_status = "ActionRequired";
        }
        // The server's own schedule (the policy's time zone, DST and all):
        // the next time the scheduler will back this item up.
        let next_backup = (matches!(r.state.as_str(), "Protected" | "IRPending")
            && r.deferred.is_none())
        .then(|| {
            let policy = self.item_policy(r.vault, &r.policy).ok()??;
            crate::policy::schedule::next_run(&policy, self.now())
        })
        .flatten()
        .map(|t| t.to_string());
        let policy_type = self
            .get_policy(v, &r.policy)
            .map(|d| d["properties"]["policyType"].clone())
            .unwrap_or(json!("V1"));
        json!({
            "id": format!("{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}", v.id(), n.container(), n.item()),
            "name": n.item(),
            "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
            "properties": {
                "protectedItemType": format!("{}/virtualMachines", p.namespace()),
                "backupManagementType": "AzureIaasVM", "workloadType": "VM",
                "friendlyName": r.vm_name, "virtualMachineId": vm_id, "sourceResourceId": vm_id,
                "containerName": n.container_property(),
                "policyId": format!("{}/backupPolicies/{}", v.id(), r.policy), "policyName": r.policy, "policyType": policy_type,
                "protectionStatus": "Healthy", "protectionState": r.state, "healthStatus": health_status,
                "healthDetails": if details.is_array() { details } else { json!([]) },
                "guestAgent": if health.is_object() { json!({"status": health["guestAgentStatus"], "version": health["guestAgentVersion"], "lastChecked": health["lastChecked"]}) } else { Value::Null },
                "lastBackupStatus": last_job.as_ref().map(|j| j.0.clone()).unwrap_or_default(),
                "lastBackupTime": last_job.map(|j| j.1),
                "lastRecoveryPoint": last_rp,
                "protectedItemDataId": r.data_id,
                "extendedInfo": {"recoveryPointCount": rp_count, "policyInconsistent": false, "nextScheduledBackupTime": next_backup},
                "isScheduledForDeferredDelete": r.deferred.is_some(),
                "deferredDeleteTimeInUTC": r.deferred,
                "deferredDeleteTimeRemaining": r.deferred.as_deref().and_then(|d| d.parse::<jiff::Timestamp>().ok()).map(|d| {
                    let secs = (d.as_second() - self.now().as_second()).max(0);
                    format!("{}.{:02}:{:02}:{:02}", secs / 86400, secs % 86400 / 3600, secs % 3600 / 60, secs % 60)
                }),
            }
        })
    }

    /// Reads a protected item.
    pub fn get_protected_item(&self, v: &VaultRef, container: &str, item: &str) -> Result<Value> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        self.item_rows(vault.rowid)?
            .iter()
            .find(|r| {
                r.vm_resource_group.eq_ignore_ascii_case(&n.resource_group)
                    && r.vm_name.eq_ignore_ascii_case(&n.vm)
                    && VmProvider::from_key(&r.provider) == n.provider
            })
            .map(|r| self.item_view(v, r))
            .ok_or_else(|| {
                ServiceError::not_found(
                    "BMSUserErrorProtectedItemNotFound",
                    format!("Item '{item}' is not protected by vault '{}'.", v.name),
                )
            })
    }

    /// Lists a vault's protected items.
    pub fn list_protected_items(&self, v: &VaultRef) -> Result<Vec<Value>> {
        let vault = self.vault_row(v)?;
        Ok(self
            .item_rows(vault.rowid)?
            .iter()
            .map(|r| self.item_view(v, r))
            .collect())
    }

    /// Lists the registered protection containers (one per protected VM).
    pub fn list_containers(&self, v: &VaultRef) -> Result<Vec<Value>> {
        let vault = self.vault_row(v)?;
        Ok(self
            .item_rows(vault.rowid)?
            .iter()
            .map(|r| {
                let p = VmProvider::from_key(&r.provider);
                let n = ItemName { provider: p, resource_group: r.vm_resource_group.clone(), vm: r.vm_name.clone() };
                json!({
                    "id": format!("{}/backupFabrics/Azure/protectionContainers/{}", v.id(), n.container()),
                    "name": n.container(),
                    "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers",
                    "properties": {
                        "containerType": format!("{}/virtualMachines", p.namespace()),
                        "backupManagementType": "AzureIaasVM", "friendlyName": r.vm_name, "registrationStatus": "Registered",
                        "healthStatus": "Healthy", "resourceGroup": r.vm_resource_group,
                        "virtualMachineVersion": if p == VmProvider::Compute { "Compute" } else { "ClassicCompute" },
                    }
                })
            })
            .collect())
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
