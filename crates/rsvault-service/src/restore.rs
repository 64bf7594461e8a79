//! Restore of a recovery point, as a Restore job:
//! - `RestoreDisks`: every disk as an image file under
//!   `<restore-root>/<account>/<vm>-<point>/` (the restore root is
//!   `<data-dir>/storageAccounts` unless `[storage] restore_root` names
//!   another file system), with the VM's
//!   configuration in `vmconfig.json`; the files are named in the job's
//!   property bag. With `targetResourceGroupId`, a managed-disk VM's disks
//!   are restored as managed disks (`Microsoft.Compute/disks`) in that
//!   resource group instead, and the account only stages the configuration;
//!   the bag names the disks;
//! - `OriginalLocation`: the disks of the source VM, which must be stopped,
//!   are replaced in place (each image is written under a temporary name and
//!   renamed over the original only when it is complete and verified).

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::ResourceRef;
use crate::jobs::{JobProgressHandle, JobState, PropertyBag, RESTORE_TASK};
use crate::point_disks::PointDisk;
use crate::protection::ItemName;
use crate::vault::VaultRef;
use rsvault_arm::inventory::{
    CreationData, DiskProperties, HardwareProfile, ManagedDisk, ManagedDiskRef, StorageProfile,
    VirtualMachine, VmDisk, VmProperties,
};
use rsvault_arm::request::{IaasVmRestoreRequest, RecoveryType};
use rsvault_arm::{Resource, Sku};
use rsvault_engine::source::DiskSource;
use rsvault_engine::{RestoreFormat, RestoreOptions};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

enum Target {
    Disks {
        dir: PathBuf,
        account: String,
        /// The account's record, when the restore creates the account.
        new_account: Option<(PathBuf, crate::storage_accounts::AccountRecord)>,
        /// Where the disks go as managed disks (`targetResourceGroupId`).
        managed: Option<Box<ManagedTarget>>,
    },
    Original,
    /// In place, on an agent's host, through its agent.
    AgentOriginal {
        host: String,
        uuid: String,
    },
    /// A new domain on an agent's host, defined by its agent and
    /// registered as the target VM.
    AgentAlternate {
        host: String,
        uuid: String,
        vm: ResourceRef,
    },
    /// A new domain on the host of a host's VM.
    Host(Box<crate::host_restore::HostTarget>),
    /// A new VM with restored managed disks.
    Alternate {
        vm: ResourceRef,
        location: String,
        dir: PathBuf,
    },
}

/// Which copy of a recovery point a restore reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// The vault's own store (and the point's snapshots while it has them).
    Primary,
    /// A geo-redundant vault's store in its paired region, and nothing
    /// else (a cross-region restore): it works while the primary storage
    /// is down.
    Secondary(crate::metastore::records::Secondary),
}

/// A restore job's work: which disks of which point go where.
struct RestoreRun {
    job: String,
    store_name: String,
    /// Whether the point's snapshots may serve it (not for a cross-region
    /// restore).
    instant: bool,
    /// The point's disks, all of them.
    disks: Vec<PointDisk>,
    /// `restoreDiskLunList`: the data disks to restore (the OS disk always).
    luns: Option<Vec<i64>>,
    target: Target,
    /// The VM's disks now (for an in-place restore).
    current: Option<Vec<crate::inventory::VmDisk>>,
    /// Where the VM's hypervisor is reached (asked again, before an
    /// in-place restore replaces the disks, whether the VM runs).
    link: Option<rsvault_hypervisor::VmAddress>,
    /// The protected item (whose newest point's checkpoints an in-place
    /// restore invalidates).
    item_id: Option<i64>,
    /// The VM as it is now, for the restored VM's size and OS type and for
    /// `vmconfig.json`.
    source_vm: Option<VirtualMachine>,
    rp: String,
}

/// `vmconfig.json` of a RestoreDisks: the point, the VM, the disks.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VmConfig<'a> {
    recovery_point: &'a str,
    virtual_machine: Option<&'a VirtualMachine>,
    disks: &'a [&'a PointDisk],
}

/// The resource group a RestoreDisks of a managed-disk VM creates its
/// managed disks in, and the folder of their images.
struct ManagedTarget {
    /// The group's subscription and name (`name` is unused).
    group: ResourceRef,
    location: String,
    dir: PathBuf,
    /// The disks' names: the source VM's and when it was restored
    /// (`{vm}-osdisk-{stamp}`).
    vm: String,
    stamp: String,
}

impl ManagedTarget {
    /// The managed disk restored from the disk at `lun` (`None`: the OS disk).
    fn disk(&self, lun: Option<i64>) -> ResourceRef {
        ResourceRef {
            name: managed_disk_name(&self.vm, lun, &self.stamp),
            ..self.group.clone()
        }
    }

    /// Its image file.
    fn image(&self, lun: Option<i64>) -> PathBuf {
        self.dir.join(format!(
            "{}.qcow2",
            managed_disk_name(&self.vm, lun, &self.stamp)
        ))
    }
}

/// The resource group a `targetResourceGroupId` names:
/// `/subscriptions/{s}/resourceGroups/{rg}` (the name is left empty).
fn target_group(id: &str) -> Option<ResourceRef> {
    let s: Vec<&str> = id.trim_matches('/').split('/').collect();
    match s.as_slice() {
        [sub, sub_id, rgs, rg]
            if sub.eq_ignore_ascii_case("subscriptions")
                && rgs.eq_ignore_ascii_case("resourceGroups")
                && !sub_id.is_empty()
                && crate::names::check_resource_group_name(rg).is_ok() =>
        {
            Some(ResourceRef {
                subscription: (*sub_id).to_owned(),
                resource_group: (*rg).to_owned(),
                name: String::new(),
            })
        }
        _ => None,
    }
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

impl Service {
    /// Refuses a restore onto an agent's host that is not connected.
    fn agent_reachable(&self, host: &str) -> Result<()> {
        self.check_host_connected(host).map(drop).map_err(|e| {
            ServiceError::bad_request("UserErrorGuestAgentStatusUnavailable", e.to_string())
        })
    }

    /// The file an in-place restore of disk `d` (as recorded in a recovery
    /// point) may write: see [`original_target_within`].
    fn original_target(
        &self,
        d: &PointDisk,
        current: &[crate::inventory::VmDisk],
    ) -> Result<PathBuf> {
        let files = current.iter().flat_map(|c| c.host_files.iter().cloned());
        original_target_within(d, current, &self.image_roots().with_files(files))
    }

    /// Starts a restore of recovery point `rp` (`properties` of the
    /// request) from the copy `source` names; returns the operation id.
    pub fn restore(
        self: &Arc<Self>,
        v: &VaultRef,
        container: &str,
        item: &str,
        rp: &str,
        req: &IaasVmRestoreRequest,
        source: RestoreSource,
    ) -> Result<String> {
        let n = ItemName::parse(container, item)?;
        let vault = self.vault_row(v)?;
        // Checks the point belongs to this item.
        self.get_recovery_point(v, container, item, rp)?;
        let disks = self.recovery_point_disks(rp)?;
        let kind = req.recovery_type.as_ref();
        let lun_filter = lun_list(req.restore_disk_lun_list.as_deref(), &disks)?;
        let vm_ref = ResourceRef {
            subscription: v.subscription.clone(),
            resource_group: n.resource_group.clone(),
            name: n.vm.clone(),
        };
        // Read once: an in-place restore needs it, the others go on without.
        let (link, link_error) = match self.vm_address(n.provider, &vm_ref) {
            Ok(l) => (l, None),
            Err(e) => (None, Some(e)),
        };
        let agent_host = match &link {
            Some(rsvault_hypervisor::VmAddress::Libvirt(a)) => {
                crate::agents::agent_host_of(&a.uri).map(|h| (h.to_owned(), a.uuid.clone()))
            }
            _ => None,
        };
        let target = if let (Some((host, uuid)), Some(RecoveryType::OriginalLocation)) =
            (&agent_host, kind)
        {
            // The agent checks, on its host, that the VM is off and its
            // disks are the ones backed up; here, that it can be reached.
            self.agent_reachable(host)?;
            for d in &disks {
                writable_in_place(d)?;
            }
            Target::AgentOriginal {
                host: host.clone(),
                uuid: uuid.clone(),
            }
        } else if kind == Some(&RecoveryType::RestoreDisks) {
            let sa = req.storage_account_id.as_deref().unwrap_or("");
            let account = sa.rsplit('/').next().filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric()))
                .ok_or_else(|| ServiceError::bad_request("BMSUserErrorInvalidInput", "properties.storageAccountId: the id of a storage account (letters and digits) is required"))?;
            let (account_dir, record) = self.restore_account(account, sa, v)?;
            let dir = account_dir.join(format!("{}-{rp}", n.vm));
            Target::Disks {
                dir,
                account: account.to_owned(),
                new_account: record.map(|r| (account_dir, r)),
                managed: self.managed_target(v, req, &disks, &n.vm)?,
            }
        } else if kind == Some(&RecoveryType::OriginalLocation) {
            let vm = self.get_vm(n.provider, &vm_ref, true)?;
            let power = vm
                .properties
                .instance_view
                .as_ref()
                .and_then(|iv| iv.statuses.as_ref()?.get(1)?.code.as_deref())
                .unwrap_or("");
            if let Some(e) = link_error {
                return Err(e);
            }
            // A host's word on its VM is current; the inventory's may lag.
            let host_vm = link.as_ref().is_some_and(|l| self.host_of(l).is_some());
            if power == "PowerState/running" && !host_vm {
                return Err(ServiceError::bad_request(
                    "UserErrorVmNotShutDown",
                    format!(
                        "VM '{}' must be stopped before its disks are replaced; power it off and retry.",
                        n.vm
                    ),
                ));
            }
            self.refuse_running(link.as_ref(), &n.vm)?;
            let current = self.vm_disks(n.provider, &vm_ref)?;
            for d in &disks {
                self.original_target(d, &current)?;
                writable_in_place(d)?;
            }
            Target::Original
        } else if kind == Some(&RecoveryType::AlternateLocation) {
            let id = req.target_virtual_machine_id.as_deref().unwrap_or("");
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
            let chosen = chosen_disks(&disks, lun_filter.as_deref());
            if let Some((host, uuid)) = agent_host {
                // The agent places the images and checks the name on its
                // host; here, that it can be reached and that the point
                // holds a definition naming every disk.
                self.agent_reachable(&host)?;
                let config = crate::host_restore::saved_config(&chosen).ok_or_else(|| {
                    ServiceError::bad_request(
                        "BMSUserErrorInvalidInput",
                        "the point holds no definition of the VM to define a new one from; restore the disks with RestoreDisks instead.",
                    )
                })?;
                crate::host_restore::devices_of(&config, &chosen)?;
                Target::AgentAlternate { host, uuid, vm }
            } else if let Some(t) = self.host_alternate(link.as_ref(), &chosen, &vm)? {
                Target::Host(Box::new(t))
            } else {
                let location = match &source {
                    RestoreSource::Primary => self.vault_row(v)?.location,
                    RestoreSource::Secondary(s) => s.region.clone(),
                };
                if let Some(r) = req.region.as_deref()
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
            }
        } else {
            let kind = kind.map_or("", RecoveryType::as_str);
            return Err(ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!(
                    "properties.recoveryType: '{kind}' is not RestoreDisks, AlternateLocation or OriginalLocation"
                ),
            ));
        };
        let current = self.vm_disks(n.provider, &vm_ref).ok();
        let source_vm = self.get_vm(n.provider, &vm_ref, false).ok();
        let entity = n.vm.clone();
        let (operation, store_name, instant) = match source {
            RestoreSource::Primary => ("Restore", vault.store.clone(), true),
            RestoreSource::Secondary(s) => (crate::crr::CRR_OPERATION, s.store, false),
        };
        let (job, op, permille) = self.start_job(
            vault.rowid,
            operation,
            &entity,
            &n.container_property(),
            &[RESTORE_TASK],
            true,
        )?;
        let svc = self.clone();
        let run = RestoreRun {
            job: job.clone(),
            store_name,
            instant,
            disks,
            luns: lun_filter,
            target,
            current,
            link,
            item_id: self.find_item(vault.rowid, &n)?.map(|s| s.rowid),
            source_vm,
            rp: rp.to_owned(),
        };
        let job_id = job.clone();
        self.spawn_job(
            "restore",
            &job_id,
            (RESTORE_TASK, entity.clone()),
            move || {
                let r = svc.run_restore(&run, &permille);
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

    fn run_restore(&self, run: &RestoreRun, permille: &JobProgressHandle) -> Result<PropertyBag> {
        let (target, rp) = (&run.target, run.rp.as_str());
        let chosen = chosen_disks(&run.disks, run.luns.as_deref());
        if let Target::AgentOriginal { host, uuid } | Target::AgentAlternate { host, uuid, .. } =
            target
        {
            let new_vm = match target {
                Target::AgentAlternate { vm, .. } => Some(vm),
                _ => None,
            };
            let done = self.run_agent_restore(
                &crate::agents::run::AgentRestore {
                    job: &run.job,
                    store_name: &run.store_name,
                    host_id: host,
                    vm_uuid: uuid,
                    disks: &chosen,
                    checkpoints: if new_vm.is_some() {
                        Vec::new()
                    } else {
                        self.item_checkpoints(run)
                    },
                    new_vm,
                },
                permille,
            )?;
            let mut bag: PropertyBag = done.written.into_iter().collect();
            bag.insert("Restore Source".into(), "Vault (HardenedRP)".into());
            bag.insert("Host".into(), done.host);
            if let (Some(vm), Some((domain, uuid))) = (new_vm, done.defined) {
                bag.insert("Target VM Name".into(), vm.name.clone());
                bag.insert("Target Resource Group".into(), vm.resource_group.clone());
                bag.insert("Libvirt Domain".into(), domain);
                bag.insert("Libvirt Domain UUID".into(), uuid);
            }
            return Ok(bag);
        }
        let store = self.open_vault_store(&run.store_name)?;
        let total: u64 = chosen.iter().map(|d| d.size).sum();
        let progress = permille.progress(total, 0);
        let mut bag = PropertyBag::new();
        // The instant tier, while the point has it: a copy of the snapshot
        // files on this host, without fetching, decrypting and decompressing
        // chunks from the vault.
        let instant = if run.instant {
            self.instant_sources(rp, &chosen)?
        } else {
            None
        };
        bag.insert(
            "Restore Source".into(),
            if instant.is_some() {
                "Snapshot (InstantRP)"
            } else if run.instant {
                "Vault (HardenedRP)"
            } else {
                "Secondary region vault (HardenedRP)"
            }
            .into(),
        );
        if let Target::Alternate { dir, .. } = target {
            crate::images::create_private_dir(dir)?;
        }
        if let Target::Disks {
            dir,
            account,
            new_account,
            managed,
        } = target
        {
            if let Some((account_dir, record)) = new_account {
                self.register_restore_account(account_dir, record)?;
            }
            crate::images::create_private_dir(dir)?;
            if let Some(m) = managed {
                crate::images::create_private_dir(&m.dir)?;
            }
            bag.insert("Target Storage Account Name".into(), account.clone());
            // The folder is the container the account lists the files in.
            if let Some(c) = dir.file_name() {
                bag.insert(
                    "Config Blob Container Name".into(),
                    c.to_string_lossy().into_owned(),
                );
            }
            let config = dir.join("vmconfig.json");
            crate::images::write_private(
                &config,
                &serde_json::to_vec_pretty(&VmConfig {
                    recovery_point: rp,
                    virtual_machine: run.source_vm.as_ref(),
                    disks: &chosen,
                })
                .unwrap_or_default(),
            )?;
            bag.insert("Config Blob Name".into(), config.display().to_string());
            // A host's VM: the host's own definition, to define it again.
            if let Some(x) = chosen.iter().find_map(|d| d.config.as_deref()) {
                let file = dir.join("domain.xml");
                crate::images::write_private(&file, x.as_bytes())?;
                bag.insert("Domain XML".into(), file.display().to_string());
            }
        }
        // Every disk is written under a temporary name first; only when all
        // are complete are they renamed into place, so a failed or cancelled
        // restore never leaves a VM with some disks replaced, nor a
        // half-restored set of disks.
        let mut written: Vec<(PathBuf, PathBuf, String, Option<i64>)> = Vec::new();
        let r = (|| -> Result<()> {
            for d in chosen {
                let m = store.resolve_point(&d.store_name, &d.point)?;
                let label = match d.lun {
                    None => "OS disk".to_owned(),
                    Some(l) => format!("Data disk (LUN {l})"),
                };
                let (out, format) = match target {
                    Target::Host(t) => (t.domain.image(d.lun), RestoreFormat::Qcow2),
                    Target::Alternate { vm, dir, .. } => {
                        let disk = managed_disk_name(&vm.name, d.lun, rp);
                        (dir.join(format!("{disk}.qcow2")), RestoreFormat::Qcow2)
                    }
                    Target::Disks {
                        managed: Some(m), ..
                    } => (m.image(d.lun), RestoreFormat::Qcow2),
                    Target::Disks { dir, .. } => {
                        let name = if d.name.is_empty() { "disk" } else { &d.name };
                        let file = format!("{}.raw", name.replace(['/', '\\'], "_"));
                        (dir.join(file), RestoreFormat::Raw)
                    }
                    Target::Original => {
                        let path =
                            self.original_target(d, run.current.as_deref().unwrap_or_default())?;
                        let f = if d.format == "qcow2" {
                            RestoreFormat::Qcow2
                        } else {
                            RestoreFormat::Raw
                        };
                        (path, f)
                    }
                    Target::AgentOriginal { .. } | Target::AgentAlternate { .. } => {
                        return Err(ServiceError::Internal(
                            "an agent host's disks are written by its agent".into(),
                        ));
                    }
                };
                let tmp = crate::recovery::restore_temp_of(out.clone());
                let opts = RestoreOptions {
                    format,
                    cancel: Some(permille.cancel_flag()),
                    ..Default::default()
                };
                written.push((tmp.clone(), out, label, d.lun));
                let snapshot = instant
                    .as_ref()
                    .and_then(|i| i.iter().find(|(lun, _)| *lun == d.lun));
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
        if let Target::Original = target
            && let Err(e) = self.refuse_running(run.link.as_ref(), "the VM")
        {
            for (tmp, ..) in &written {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
        let mut published: Vec<(PathBuf, Option<i64>, String)> = Vec::new();
        for (tmp, out, label, lun) in written {
            if let Target::Host(_) = target {
                // A new domain's images never replace a file.
                if let Err(e) = crate::host_restore::publish_new(&tmp, &out) {
                    let _ = std::fs::remove_file(&tmp);
                    for (f, ..) in &published {
                        let _ = std::fs::remove_file(f);
                    }
                    return Err(e);
                }
            } else {
                std::fs::rename(&tmp, &out).map_err(|e| {
                    ServiceError::Internal(format!(
                        "rename {} to {}: {e}",
                        tmp.display(),
                        out.display()
                    ))
                })?;
            }
            bag.insert(label.clone(), out.display().to_string());
            published.push((out, lun, label));
        }
        if let Target::Original = target {
            self.drop_checkpoints(run);
        }
        if let Target::Host(t) = target {
            match self.define_restored(t, &published) {
                Ok(vm) => {
                    bag.insert("Target VM Name".into(), t.vm.name.clone());
                    bag.insert("Target Resource Group".into(), t.vm.resource_group.clone());
                    bag.insert("Libvirt Domain".into(), vm.name);
                    bag.insert("Libvirt Domain UUID".into(), vm.uuid);
                }
                Err(e) => {
                    for (f, ..) in &published {
                        let _ = std::fs::remove_file(f);
                    }
                    return Err(e);
                }
            }
        }
        if let Target::Disks {
            managed: Some(m), ..
        } = target
        {
            match self.create_restored_disks(m, &published) {
                Ok(ids) => {
                    for (label, id) in ids {
                        bag.insert(label, id);
                    }
                    bag.insert(
                        "Target Resource Group".into(),
                        m.group.resource_group.clone(),
                    );
                }
                Err(e) => {
                    for (f, ..) in &published {
                        let _ = std::fs::remove_file(f);
                    }
                    return Err(e);
                }
            }
        }
        if let Target::Alternate { vm, location, .. } = target {
            if let Err(e) =
                self.create_restored_vm(vm, location, &published, run.source_vm.as_ref())
            {
                for (f, ..) in &published {
                    let _ = std::fs::remove_file(f);
                }
                return Err(e);
            }
            bag.insert("Target VM Name".into(), vm.name.clone());
            bag.insert("Target Resource Group".into(), vm.resource_group.clone());
        }
        Ok(bag)
    }

    /// Where a RestoreDisks puts the disks of a managed-disk VM when the
    /// request names `targetResourceGroupId`: managed disks in that group.
    /// A point of a VM with unmanaged disks is restored to the storage
    /// account only, as Azure does.
    fn managed_target(
        &self,
        v: &VaultRef,
        req: &IaasVmRestoreRequest,
        disks: &[PointDisk],
        vm: &str,
    ) -> Result<Option<Box<ManagedTarget>>> {
        let Some(id) = req.target_resource_group_id.as_deref() else {
            return Ok(None);
        };
        let group = target_group(id).ok_or_else(|| {
            ServiceError::bad_request(
                "BMSUserErrorInvalidInput",
                format!(
                    "properties.targetResourceGroupId: '{id}' is not the id of a resource group (/subscriptions/{{s}}/resourceGroups/{{name}})"
                ),
            )
        })?;
        if !disks.iter().any(|d| d.managed) {
            return Ok(None);
        }
        let dir = self
            .data_dir()
            .join(crate::images::MANAGED_DISKS)
            .join(group.resource_group.to_ascii_lowercase());
        let m = ManagedTarget {
            location: self.vault_row(v)?.location,
            group,
            dir,
            vm: vm.to_owned(),
            stamp: self.now().strftime("%Y%m%d-%H%M%S").to_string(),
        };
        // A disk (or image) of that name is never replaced.
        for lun in disks.iter().map(|d| d.lun) {
            let disk = m.disk(lun);
            if self.get_disk(&disk).is_ok() || m.image(lun).exists() {
                return Err(ServiceError::conflict(
                    "UserErrorDiskAlreadyExists",
                    format!(
                        "A disk named '{}' already exists in resource group '{}'; retry in a second.",
                        disk.name, disk.resource_group
                    ),
                ));
            }
        }
        Ok(Some(Box::new(m)))
    }

    /// Registers restored images as managed disks in the target group;
    /// returns each disk's property-bag label (`Managed Disk (OS)`,
    /// `Managed Disk (LUN 1)`) and id. If one cannot be registered, the
    /// ones registered already are removed.
    fn create_restored_disks(
        &self,
        m: &ManagedTarget,
        images: &[(PathBuf, Option<i64>, String)],
    ) -> Result<Vec<(String, String)>> {
        let mut created = Vec::new();
        let r = (|| -> Result<Vec<(String, String)>> {
            let mut ids = Vec::new();
            for (img, lun, _) in images {
                let dr = m.disk(*lun);
                let label = match lun {
                    None => "Managed Disk (OS)".to_owned(),
                    Some(l) => format!("Managed Disk (LUN {l})"),
                };
                let (disk, _) = self.put_disk(&dr, &imported_disk(&m.location, img))?;
                created.push(dr);
                let id = disk.id.clone().unwrap_or_default();
                ids.push((label, id));
            }
            Ok(ids)
        })();
        if r.is_err() {
            for d in created {
                let _ = self.delete_disk(&d);
            }
        }
        r
    }

    /// Registers the restored disks as managed disks and a new VM using them
    /// (running, as Azure starts a restored VM). The disks are published
    /// images already; if registering fails, what was registered is removed.
    fn create_restored_vm(
        &self,
        vm: &ResourceRef,
        location: &str,
        images: &[(PathBuf, Option<i64>, String)],
        source: Option<&VirtualMachine>,
    ) -> Result<()> {
        let source = source.map(|vm| &vm.properties);
        use crate::inventory::VmProvider;
        let mut created = Vec::new();
        let r = (|| -> Result<()> {
            let mut os_disk = None;
            let mut data = Vec::new();
            for (img, lun, _) in images {
                let name = img
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("disk")
                    .to_owned();
                let dr = ResourceRef {
                    name: name.clone(),
                    ..vm.clone()
                };
                let (disk, _) = self.put_disk(&dr, &imported_disk(location, img))?;
                created.push(dr);
                let os_type = source
                    .and_then(|p| {
                        p.storage_profile
                            .as_ref()?
                            .os_disk
                            .as_ref()?
                            .os_type
                            .as_deref()
                    })
                    .unwrap_or("Linux");
                let attached = VmDisk {
                    name: Some(name),
                    create_option: Some("Attach".into()),
                    managed_disk: Some(ManagedDiskRef {
                        id: disk.id.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                match *lun {
                    None => {
                        os_disk = Some(VmDisk {
                            os_type: Some(os_type.to_owned()),
                            ..attached
                        })
                    }
                    Some(l) => data.push(VmDisk {
                        lun: u32::try_from(l).ok(),
                        ..attached
                    }),
                }
            }
            let os_disk = os_disk.ok_or_else(|| {
                ServiceError::bad_request(
                    "BMSUserErrorInvalidInput",
                    "a new VM needs the OS disk; do not leave it out of restoreDiskLunList",
                )
            })?;
            let size = source
                .and_then(|p| p.hardware_profile.clone())
                .unwrap_or_else(|| HardwareProfile {
                    vm_size: Some("Standard_B2s".into()),
                    ..Default::default()
                });
            let body = VirtualMachine {
                location: Some(location.to_owned()),
                tags: Some(restored_by()),
                ..Resource::with_properties(VmProperties {
                    hardware_profile: Some(size),
                    storage_profile: Some(StorageProfile {
                        os_disk: Some(os_disk),
                        data_disks: Some(data),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            };
            self.put_vm(VmProvider::Compute, vm, &body)?;
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

impl Service {
    /// After the VM's disks were replaced in place, the checkpoints its
    /// points started no longer describe them: they go, so that the next
    /// backup reads the disks whole.
    /// The checkpoints every point of the item started: a restore in place
    /// makes them wrong.
    fn item_checkpoints(&self, run: &RestoreRun) -> Vec<rsvault_hypervisor::DiskCheckpoint> {
        let Some(Ok(points)) = run.item_id.map(|i| self.meta.item_points(i)) else {
            return Vec::new();
        };
        let disks: Vec<PointDisk> = points
            .iter()
            .filter_map(|p| crate::point_disks::parse(&p.disks).ok())
            .flatten()
            .collect();
        let mut pairs = crate::live::checkpoints_of(&disks);
        pairs.sort_by(|a, b| a.checkpoint.cmp(&b.checkpoint));
        pairs.dedup_by(|a, b| a.checkpoint == b.checkpoint);
        pairs
    }

    fn drop_checkpoints(&self, run: &RestoreRun) {
        let Some(link) = run.link.as_ref() else {
            return;
        };
        let pairs = self.item_checkpoints(run);
        if pairs.is_empty() {
            return;
        }
        if let Err(e) = self.hypervisor.discard_checkpoints(link, &pairs) {
            tracing::warn!(error = %e, "could not drop the checkpoints of replaced disks");
        }
    }
}

/// The file an in-place restore of disk `d` (as recorded in a recovery
/// point) may write: only the image the disk had at backup time, still
/// the VM's disk at that LUN, within `roots`, not a symlink, and still an
/// image of the recorded format and size.
pub(crate) fn original_target_within(
    d: &PointDisk,
    current: &[crate::inventory::VmDisk],
    roots: &rsvault_engine::source::ImageRoots,
) -> Result<PathBuf> {
    let label = d.label();
    // An offline point records the image it read, a live one the
    // image whose snapshot it took.
    let recorded = d.path.clone().or_else(|| d.image.clone()).ok_or_else(|| {
        target_changed(
            &label,
            "the recovery point does not record the disk's image (it predates this check)".into(),
        )
    })?;
    let cur = current
        .iter()
        .find(|x| x.lun == d.lun)
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
    let (canon, src) = rsvault_engine::source::open_image_within(&recorded, roots)
        .map_err(|e| target_changed(&label, e.to_string()))?;
    if canon != recorded {
        return Err(target_changed(
            &label,
            format!("{} now resolves to {}", recorded.display(), canon.display()),
        ));
    }
    let (fmt, size) = (d.format.as_str(), d.size);
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

/// A disk a restore in place can write: raw or qcow2.
fn writable_in_place(d: &PointDisk) -> Result<()> {
    if matches!(d.format.as_str(), "raw" | "qcow2") {
        return Ok(());
    }
    Err(ServiceError::bad_request(
        "BMSUserErrorInvalidInput",
        format!(
            "disk '{}' is a {} image; replacing in place writes raw or qcow2 only — use RestoreDisks",
            d.name, d.format
        ),
    ))
}

/// The disks a restore writes: the OS disk, and the data disks of
/// `restoreDiskLunList` (all when it is absent).
fn chosen_disks<'a>(disks: &'a [PointDisk], luns: Option<&[i64]>) -> Vec<&'a PointDisk> {
    disks
        .iter()
        .filter(|d| match (luns, d.lun) {
            (Some(l), Some(lun)) => l.contains(&lun),
            _ => true,
        })
        .collect()
}

/// The tags of what a restore creates.
pub(crate) fn restored_by() -> serde_json::Map<String, Value> {
    serde_json::Map::from_iter([("RestoredBy".to_owned(), Value::from("rsvault"))])
}

/// The body of a managed disk imported from a restored image.
fn imported_disk(location: &str, img: &std::path::Path) -> ManagedDisk {
    ManagedDisk {
        location: Some(location.to_owned()),
        sku: Some(Sku {
            name: "Standard_LRS".into(),
            ..Default::default()
        }),
        tags: Some(restored_by()),
        ..Resource::with_properties(DiskProperties {
            creation_data: Some(CreationData {
                create_option: Some("Import".into()),
                source_uri: Some(format!("file://{}", img.display())),
                ..Default::default()
            }),
            ..Default::default()
        })
    }
}

/// The name of a managed disk restored from VM `vm`'s disk at `lun`.
fn managed_disk_name(vm: &str, lun: Option<i64>, suffix: &str) -> String {
    match lun {
        None => format!("{vm}-osdisk-{suffix}"),
        Some(l) => format!("{vm}-datadisk-{l}-{suffix}"),
    }
}

/// `restoreDiskLunList`: absent (or null) restores every disk; otherwise a
/// list of the point's data-disk LUNs (the OS disk always comes along).
fn lun_list(luns: Option<&[u32]>, disks: &[PointDisk]) -> Result<Option<Vec<i64>>> {
    const F: &str = "properties.restoreDiskLunList";
    let bad = |f: String, m: String| {
        ServiceError::bad_request("BMSUserErrorInvalidInput", format!("{f}: {m}"))
    };
    let Some(arr) = luns else {
        return Ok(None);
    };
    let known: Vec<i64> = disks.iter().filter_map(|d| d.lun).collect();
    let mut out = Vec::with_capacity(arr.len());
    for (i, x) in arr.iter().enumerate() {
        let field = format!("{F}[{i}]");
        let lun = Some(i64::from(*x))
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
    use super::{lun_list, target_group};
    use crate::point_disks::PointDisk;

    #[test]
    fn lun_lists_name_the_bad_entry() {
        let disk = |lun| PointDisk {
            lun,
            ..Default::default()
        };
        let disks = [disk(None), disk(Some(0)), disk(Some(3))];
        assert_eq!(lun_list(None, &disks).unwrap(), None);
        assert_eq!(lun_list(Some(&[3, 3]), &disks).unwrap(), Some(vec![3]));
        assert_eq!(lun_list(Some(&[]), &disks).unwrap(), Some(vec![]));
        // Entries that are not LUNs at all (`-1`, `"0"`, `1.5`, `7`) do not
        // read as the request: the server refuses them naming the entry.
        for (luns, field, why) in [
            (&[99, 0][..], "[0]", "is not a LUN from 0 to 63"),
            (&[0, 99], "[1]", "is not a LUN from 0 to 63"),
            (&[0, 5], "[1]", "has no data disk at LUN 5"),
        ] {
            let e = lun_list(Some(luns), &disks).unwrap_err();
            assert_eq!(e.code(), "BMSUserErrorInvalidInput");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("properties.restoreDiskLunList{field}: "))
                    && msg.contains(why),
                "{luns:?}: {msg}"
            );
        }
    }

    #[test]
    fn target_resource_groups() {
        let g = target_group("/subscriptions/s1/resourceGroups/rg-restored").unwrap();
        assert_eq!(
            (g.subscription.as_str(), g.resource_group.as_str()),
            ("s1", "rg-restored")
        );
        assert!(target_group("/SUBSCRIPTIONS/s1/resourcegroups/rg/").is_some());
        for bad in [
            "",
            "rg",
            "/subscriptions/s1",
            "/subscriptions//resourceGroups/rg",
            "/subscriptions/s1/resourceGroups/rg/providers/x",
            "/subscriptions/s1/resourceGroups/bad name!",
        ] {
            assert!(target_group(bad).is_none(), "{bad}");
        }
    }
}
