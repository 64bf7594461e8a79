//! Restore of a recovery point, as a Restore job:
//! - `RestoreDisks`: every disk as an image file under
//!   `<restore-root>/<account>/<vm>-<point>/` (the restore root is
//!   `<data-dir>/storageAccounts` unless `[storage] restore_root` names
//!   another file system), with the VM's
//!   configuration in `vmconfig.json`; the files are named in the job's
//!   property bag;
//! - `OriginalLocation`: the disks of the source VM, which must be stopped,
//!   are replaced in place (each image is written under a temporary name and
//!   renamed over the original only when it is complete and verified).

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::ResourceRef;
use crate::jobs::{JobProgressHandle, JobState, RESTORE_TASK};
use crate::protection::ItemName;
use crate::vault::VaultRef;
use rsvault_engine::source::DiskSource;
use rsvault_engine::{RestoreFormat, RestoreOptions};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

enum Target {
    Disks {
        dir: PathBuf,
        account: String,
        /// The account's record, when the restore creates the account.
        new_account: Option<(PathBuf, crate::storage_accounts::AccountRecord)>,
    },
    Original,
    /// A new VM with restored managed disks.
    Alternate {
        vm: ResourceRef,
        location: String,
        dir: PathBuf,
    },
}

/// The VM a `targetVirtualMachineId` names:
/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}`.
fn target_vm(id: &str) -> Option<ResourceRef> {
    let s: Vec<&str> = id.trim_matches('/').split('/').collect();
    match s.as_slice() {
        [sub, sub_id, rgs, rg, prov, ns, vms, name]
            if sub.eq_ignore_ascii_case("subscriptions")
                && rgs.eq_ignore_ascii_case("resourceGroups")
                && prov.eq_ignore_ascii_case("providers")
                && ns.eq_ignore_ascii_case("Microsoft.Compute")
                && vms.eq_ignore_ascii_case("virtualMachines")
                && !name.is_empty() =>
        {
            Some(ResourceRef {
                subscription: (*sub_id).to_owned(),
                resource_group: (*rg).to_owned(),
                name: (*name).to_owned(),
            })
        }
        _ => None,
    }
}

/// The error code of an in-place restore whose target is not the image the
/// disk had at backup time.
pub const TARGET_CHANGED: &str = "UserErrorOriginalDiskChanged";

fn target_changed(label: &str, why: String) -> ServiceError {
    ServiceError::bad_request(
        TARGET_CHANGED,
        format!(
            "The {label} cannot be replaced in place: {why}. Restore it with RestoreDisks or AlternateLocation instead."
        ),
    )
}

fn disk_label(d: &Value) -> String {
    match d["lun"].as_i64() {
        None => "OS disk".to_owned(),
        Some(l) => format!("data disk (LUN {l})"),
    }
}

impl Service {
    /// The file an in-place restore of disk `d` (as recorded in a recovery
    /// point) may write: only the image the disk had at backup time, still
    /// the VM's disk at that LUN, under the image roots, not a symlink, and
    /// still an image of the recorded format and size.
    fn original_target(&self, d: &Value, current: &[crate::inventory::VmDisk]) -> Result<PathBuf> {
        let label = disk_label(d);
        let recorded = d["path"].as_str().map(PathBuf::from).ok_or_else(|| {
            target_changed(
                &label,
                "the recovery point does not record the disk's image (it predates this check)"
                    .into(),
            )
        })?;
        let cur = current
            .iter()
            .find(|x| x.lun == d["lun"].as_i64())
            .ok_or_else(|| target_changed(&label, "the VM no longer has this disk".into()))?;
        if cur.path != recorded {
            return Err(target_changed(
                &label,
                format!(
                    "the VM's disk is now {}, not {} as at backup time",
                    cur.path.display(),
                    recorded.display()
                ),
            ));
        }
        let (canon, src) =
            rsvault_engine::source::open_image_within(&recorded, &self.image_roots())
                .map_err(|e| target_changed(&label, e.to_string()))?;
        if canon != recorded {
            return Err(target_changed(
                &label,
                format!("{} now resolves to {}", recorded.display(), canon.display()),
            ));
        }
        let (fmt, size) = (
            d["format"].as_str().unwrap_or(""),
            d["size"].as_u64().unwrap_or(0),
        );
        if src.format() != fmt || src.size() != size {
            return Err(target_changed(
                &label,
                format!(
                    "{} is now a {} image of {} bytes, not the {fmt} image of {size} bytes that was backed up",
                    recorded.display(),
                    src.format(),
                    src.size()
                ),
            ));
        }
        Ok(recorded)
    }

    /// Starts a restore of recovery point `rp`; returns the operation id.
    pub fn restore(
        self: &Arc<Self>,
        v: &VaultRef,
        container: &str,
        item: &str,
        rp: &str,
        body: &Value,
    ) -> Result<String> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        // Checks the point belongs to this item.
        self.get_recovery_point(v, container, item, rp)?;
        let disks = self.recovery_point_disks(rp)?;
        let p = &body["properties"];
        let kind = p["recoveryType"].as_str().unwrap_or("");
        let lun_filter = lun_list(&p["restoreDiskLunList"], &disks)?;
        let vm_ref = ResourceRef {
            subscription: v.subscription.clone(),
            resource_group: n.resource_group.clone(),
            name: n.vm.clone(),
        };
        let target = if kind.eq_ignore_ascii_case("RestoreDisks") {
            let sa = p["storageAccountId"].as_str().unwrap_or("");
            let account = sa.rsplit('/').next().filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric()))
                .ok_or_else(|| ServiceError::bad_request("BMSUserErrorInvalidInput", "properties.storageAccountId: the id of a storage account (letters and digits) is required"))?;
            let (account_dir, record) = self.restore_account(account, sa, v)?;
            let dir = account_dir.join(format!("{}-{rp}", n.vm));
            Target::Disks {
                dir,
                account: account.to_owned(),
                new_account: record.map(|r| (account_dir, r)),
            }
        } else if kind.eq_ignore_ascii_case("OriginalLocation") {
            let vm = self.get_vm(n.provider, &vm_ref, true)?;
            let power = vm
                .properties
                .instance_view
                .as_ref()
                .and_then(|iv| iv.statuses.as_ref()?.get(1)?.code.as_deref())
                .unwrap_or("");
            if power == "PowerState/running" {
                return Err(ServiceError::bad_request(
                    "UserErrorVmNotShutDown",
                    format!(
                        "VM '{}' must be stopped before its disks are replaced; power it off and retry.",
                        n.vm
                    ),
                ));
            }
            let current = self.vm_disks(n.provider, &vm_ref)?;
            for d in &disks {
                self.original_target(d, &current)?;
                if !matches!(d["format"].as_str(), Some("raw" | "qcow2")) {
                    return Err(ServiceError::bad_request(
                        "BMSUserErrorInvalidInput",
                        format!(
                            "disk '{}' is a {} image; replacing in place writes raw or qcow2 only — use RestoreDisks",
                            d["name"], d["format"]
                        ),
                    ));
                }
            }
            Target::Original
        } else if kind.eq_ignore_ascii_case("AlternateLocation") {
            let id = p["targetVirtualMachineId"].as_str().unwrap_or("");
            let vm = target_vm(id).ok_or_else(|| {
                ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!("properties.targetVirtualMachineId: '{id}' is not the id of a Microsoft.Compute virtual machine"),
                )
            })?;
            crate::inventory::check_vm_name(&vm.name)?;
            crate::names::check_resource_group_name(&vm.resource_group)?;
            if self
                .get_vm(crate::inventory::VmProvider::Compute, &vm, false)
                .is_ok()
            {
                return Err(ServiceError::conflict(
                    "UserErrorVmAlreadyExists",
                    format!(
                        "A VM named '{}' already exists in resource group '{}'; choose another name.",
                        vm.name, vm.resource_group
                    ),
                ));
            }
            let location = self.vault_row(v)?.location;
            if let Some(r) = p["region"].as_str()
                && !r.replace(' ', "").eq_ignore_ascii_case(&location)
            {
                return Err(ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    format!(
                        "properties.region: a VM is restored in the vault's region '{location}', not '{r}'"
                    ),
                ));
            }
            let dir = self
                .data_dir()
                .join("managedDisks")
                .join(vm.resource_group.to_ascii_lowercase());
            Target::Alternate { vm, location, dir }
        } else {
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!(
                    "properties.recoveryType: '{kind}' is not RestoreDisks, AlternateLocation or OriginalLocation"
                ),
            ));
        };
        let current = self.vm_disks(n.provider, &vm_ref).ok();
        let vm_body = self
            .get_vm(n.provider, &vm_ref, false)
            .map(|vm| serde_json::to_value(vm).unwrap_or_default())
            .unwrap_or_default();
        let entity = n.vm.clone();
        let (job, op, permille) = self.start_job(
            vault.rowid,
            "Restore",
            &entity,
            &n.container_property(),
            &[RESTORE_TASK],
            true,
        )?;
        let svc = self.clone();
        let store_name = vault.store.clone();
        let rp = rp.to_owned();
        let job_id = job.clone();
        self.spawn_job(
            "restore",
            &job_id,
            (RESTORE_TASK, entity.clone()),
            move || {
                let r = svc.run_restore(
                    &store_name,
                    &disks,
                    lun_filter.as_deref(),
                    &target,
                    current.as_deref(),
                    &vm_body,
                    &rp,
                    &permille,
                );
                let state = match r {
                    Ok(bag) => JobState::done(RESTORE_TASK, bag),
                    Err(_) if permille.is_cancelled() => {
                        JobState::cancelled(&[(RESTORE_TASK, false)], &entity, permille.get())
                    }
                    Err(e) => JobState::failed(RESTORE_TASK, &entity, &e, permille.get()),
                };
                let _ = svc.finish_job(&job, &state);
            },
            |_| {},
        )?;
        Ok(op)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_restore(
        &self,
        store_name: &str,
        disks: &[Value],
        luns: Option<&[i64]>,
        target: &Target,
        current: Option<&[crate::inventory::VmDisk]>,
        vm_body: &Value,
        rp: &str,
        permille: &JobProgressHandle,
    ) -> Result<Value> {
        let store = self.open_vault_store(store_name)?;
        let chosen: Vec<&Value> = disks
            .iter()
            .filter(|d| match (luns, d["lun"].as_i64()) {
                (Some(l), Some(lun)) => l.contains(&lun),
                _ => true,
            })
            .collect();
        let total: u64 = chosen.iter().filter_map(|d| d["size"].as_u64()).sum();
        let progress = permille.progress(total, 0);
        let mut bag = serde_json::Map::new();
        // The instant tier, while the point has it: a copy of the snapshot
        // files on this host, without fetching, decrypting and decompressing
        // chunks from the vault.
        let owned: Vec<Value> = chosen.iter().map(|d| (*d).clone()).collect();
        let instant = self.instant_sources(rp, &owned)?;
        bag.insert(
            "Restore Source".into(),
            json!(if instant.is_some() {
                "Snapshot (InstantRP)"
            } else {
                "Vault (HardenedRP)"
            }),
        );
        if let Target::Alternate { dir, .. } = target {
            crate::images::create_private_dir(dir)?;
        }
        if let Target::Disks {
            dir,
            account,
            new_account,
        } = target
        {
            if let Some((account_dir, record)) = new_account {
                self.register_restore_account(account_dir, record)?;
            }
            crate::images::create_private_dir(dir)?;
            bag.insert("Target Storage Account Name".into(), json!(account));
            let config = dir.join("vmconfig.json");
            crate::images::write_private(
                &config,
                &serde_json::to_vec_pretty(
                    &json!({"recoveryPoint": rp, "virtualMachine": vm_body, "disks": chosen}),
                )
                .unwrap_or_default(),
            )?;
            bag.insert(
                "Config Blob Name".into(),
                json!(config.display().to_string()),
            );
        }
        // Every disk is written under a temporary name first; only when all
        // are complete are they renamed into place, so a failed or cancelled
        // restore never leaves a VM with some disks replaced, nor a
        // half-restored set of disks.
        let mut written: Vec<(PathBuf, PathBuf, String, Option<i64>)> = Vec::new();
        let r = (|| -> Result<()> {
            for d in chosen {
                let name = d["store_name"].as_str().unwrap_or("");
                let point = d["point"].as_str().unwrap_or("");
                let m = store.resolve_point(name, point)?;
                let label = match d["lun"].as_i64() {
                    None => "OS disk".to_owned(),
                    Some(l) => format!("Data disk (LUN {l})"),
                };
                let (out, format) = match target {
                    Target::Alternate { vm, dir, .. } => {
                        let disk = match d["lun"].as_i64() {
                            None => format!("{}-osdisk-{rp}", vm.name),
                            Some(l) => format!("{}-datadisk-{l}-{rp}", vm.name),
                        };
                        (dir.join(format!("{disk}.qcow2")), RestoreFormat::Qcow2)
                    }
                    Target::Disks { dir, .. } => {
                        let file = format!(
                            "{}.raw",
                            d["name"]
                                .as_str()
                                .unwrap_or("disk")
                                .replace(['/', '\\'], "_")
                        );
                        (dir.join(file), RestoreFormat::Raw)
                    }
                    Target::Original => {
                        let path = self.original_target(d, current.unwrap_or_default())?;
                        let f = if d["format"] == "qcow2" {
                            RestoreFormat::Qcow2
                        } else {
                            RestoreFormat::Raw
                        };
                        (path, f)
                    }
                };
                let tmp = crate::recovery::restore_temp_of(out.clone());
                let opts = RestoreOptions {
                    format,
                    cancel: Some(permille.cancel_flag()),
                    ..Default::default()
                };
                written.push((tmp.clone(), out, label, d["lun"].as_i64()));
                let snapshot = instant
                    .as_ref()
                    .and_then(|i| i.iter().find(|(lun, _)| *lun == d["lun"].as_i64()));
                match snapshot {
                    Some((_, path)) => {
                        let src = rsvault_engine::source::qcow2::Qcow2Image::open(path)?;
                        if src.size() != m.size {
                            return Err(ServiceError::Internal(format!(
                                "snapshot {} is {} bytes, the point {}",
                                path.display(),
                                src.size(),
                                m.size
                            )));
                        }
                        rsvault_engine::copy_image(&src, &tmp, &opts, &progress)?;
                    }
                    None => {
                        rsvault_engine::restore(&store, &m, &tmp, &opts, &progress)?;
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            for (tmp, ..) in &written {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
        let mut published = Vec::new();
        for (tmp, out, label, lun) in written {
            std::fs::rename(&tmp, &out).map_err(|e| {
                ServiceError::Internal(format!(
                    "rename {} to {}: {e}",
                    tmp.display(),
                    out.display()
                ))
            })?;
            bag.insert(label, json!(out.display().to_string()));
            published.push((out, lun));
        }
        if let Target::Alternate { vm, location, .. } = target {
            if let Err(e) = self.create_restored_vm(vm, location, &published, vm_body) {
                for (f, _) in &published {
                    let _ = std::fs::remove_file(f);
                }
                return Err(e);
            }
            bag.insert("Target VM Name".into(), json!(vm.name));
            bag.insert("Target Resource Group".into(), json!(vm.resource_group));
        }
        Ok(Value::Object(bag))
    }

    /// Registers the restored disks as managed disks and a new VM using them
    /// (running, as Azure starts a restored VM). The disks are published
    /// images already; if registering fails, what was registered is removed.
    fn create_restored_vm(
        &self,
        vm: &ResourceRef,
        location: &str,
        images: &[(PathBuf, Option<i64>)],
        source: &Value,
    ) -> Result<()> {
        use crate::inventory::VmProvider;
        let mut created = Vec::new();
        let r = (|| -> Result<()> {
            let mut os_disk = None;
            let mut data = Vec::new();
            for (img, lun) in images {
                let name = img
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("disk")
                    .to_owned();
                let dr = ResourceRef {
                    name: name.clone(),
                    ..vm.clone()
                };
                let (disk, _) = self.put_disk(&dr, &typed(json!({"location": location, "sku": {"name": "Standard_LRS"},
                    "tags": {"RestoredBy": "rsvault"},
                    "properties": {"creationData": {"createOption": "Import", "sourceUri": format!("file://{}", img.display())}}}))?)?;
                created.push(dr);
                let os_type = source["properties"]["storageProfile"]["osDisk"]["osType"]
                    .as_str()
                    .unwrap_or("Linux");
                match *lun {
                    None => os_disk = Some(json!({"name": name, "osType": os_type, "createOption": "Attach", "managedDisk": {"id": disk.id}})),
                    Some(l) => data.push(json!({"lun": l, "name": name, "createOption": "Attach", "managedDisk": {"id": disk.id}})),
                }
            }
            let os_disk = os_disk.ok_or_else(|| {
                ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    "a new VM needs the OS disk; do not leave it out of restoreDiskLunList",
                )
            })?;
            let size = source["properties"]["hardwareProfile"].clone();
            self.put_vm(
                VmProvider::Compute,
                vm,
                &typed(json!({"location": location, "tags": {"RestoredBy": "rsvault"}, "properties": {
                    "hardwareProfile": if size.is_null() { json!({"vmSize": "Standard_B2s"}) } else { size },
                    "storageProfile": {"osDisk": os_disk, "dataDisks": data}}}))?,
            )?;
            Ok(())
        })();
        if r.is_err() {
            for d in created {
                let _ = self.delete_disk(&d);
            }
        }
        r
    }
}

/// A body the restore builds, as the inventory's typed model.
fn typed<T: serde::de::DeserializeOwned>(body: Value) -> Result<T> {
    serde_json::from_value(body).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// `restoreDiskLunList`: absent (or null) restores every disk; otherwise a
/// list of the point's data-disk LUNs (the OS disk always comes along).
fn lun_list(v: &Value, disks: &[Value]) -> Result<Option<Vec<i64>>> {
    const F: &str = "properties.restoreDiskLunList";
    let bad = |f: String, m: String| {
        ServiceError::bad_request("BMSUserErrorInvalidInput", format!("{f}: {m}"))
    };
    let arr = match v {
        Value::Null => return Ok(None),
        Value::Array(a) => a,
        other => return Err(bad(F.into(), format!("{other} is not a list of LUNs"))),
    };
    let known: Vec<i64> = disks.iter().filter_map(|d| d["lun"].as_i64()).collect();
    let mut out = Vec::with_capacity(arr.len());
    for (i, x) in arr.iter().enumerate() {
        let field = format!("{F}[{i}]");
        let lun = x
            .as_i64()
            .filter(|l| (0..64).contains(l))
            .ok_or_else(|| bad(field.clone(), format!("{x} is not a LUN from 0 to 63")))?;
        if !known.contains(&lun) {
            return Err(bad(
                field,
                format!("the recovery point has no data disk at LUN {lun}"),
            ));
        }
        if !out.contains(&lun) {
            out.push(lun);
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::lun_list;
    use serde_json::json;

    #[test]
    fn lun_lists_name_the_bad_entry() {
        let disks = [json!({"lun": null}), json!({"lun": 0}), json!({"lun": 3})];
        assert_eq!(lun_list(&json!(null), &disks).unwrap(), None);
        assert_eq!(lun_list(&json!([3, 3]), &disks).unwrap(), Some(vec![3]));
        assert_eq!(lun_list(&json!([]), &disks).unwrap(), Some(vec![]));
        for (v, field) in [
            (json!([-1, 99]), "[0]"),
            (json!([0, 99]), "[1]"),
            (json!([0, 5]), "[1]"),
            (json!(["0"]), "[0]"),
            (json!([1.5]), "[0]"),
            (json!(7), ":"),
        ] {
            let e = lun_list(&v, &disks).unwrap_err();
            assert_eq!(e.code(), "BMSUserErrorInvalidInput");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("properties.restoreDiskLunList{field}")),
                "{v}: {msg}"
            );
        }
    }
}
