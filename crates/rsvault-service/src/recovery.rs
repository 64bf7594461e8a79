//! What failed jobs and crashes leave behind, and how the service clears it.
//!
//! - A failed or cancelled backup leaves packs no point references: a gc of
//!   its store runs before the job ends.
//! - A crash between the engine's commit and the catalogue's leaves engine
//!   points the catalogue does not know: at start (and after a catalogue
//!   write that failed) such points are forgotten, then gc reclaims them.
//!   Only points of this vault's items, and never while a backup of the
//!   vault runs.
//! - A killed restore leaves `*.rsvault-restore` files: swept at start.
//!
//! Stores whose clean-up could not finish (a full disk, another gc holding
//! the lock, other writers delaying deletions) stay pending; every scheduler
//! tick tries them again.

use crate::Service;
use crate::error::Result;
use crate::point_disks::PointDisk;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Names of stores waiting for reconciliation and gc.
pub(crate) type Pending = std::sync::Mutex<std::collections::BTreeSet<String>>;

/// Engine points as (disk name, point id).
type EnginePoints = HashSet<(String, String)>;

/// The suffix of a restore's temporary files.
pub(crate) const RESTORE_TMP_SUFFIX: &str = ".rsvault-restore";

impl Service {
    /// Start-up recovery, run before any job can start: every vault's store
    /// is reconciled with the catalogue, and stores that lost points or had
    /// backups interrupted are left for the first scheduler tick's gc.
    /// Restores' temporary files are swept. Failures are logged, never
    /// fatal: the server must start even on a full disk.
    pub(crate) fn recover_at_start(&self, interrupted_vaults: &[i64]) {
        let stores = match self.vault_stores() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("start-up reconciliation skipped: {e}");
                Vec::new()
            }
        };
        for (vault, store) in stores {
            let forgot = match self.reconcile_store(vault, &store) {
                Ok(n) => n.unwrap_or(0),
                Err(e) => {
                    tracing::warn!(%store, "could not reconcile the store with the catalogue (retried at the next scheduler tick): {e}");
                    self.mark_for_cleanup(&store);
                    0
                }
            };
            if forgot > 0 || interrupted_vaults.contains(&vault) {
                self.mark_for_cleanup(&store);
            }
        }
        self.sweep_restore_temps();
    }

    fn vault_stores(&self) -> Result<Vec<(i64, String)>> {
        Ok(self
            .meta
            .all_vaults()?
            .into_iter()
            .map(|v| (v.id, v.store))
            .collect())
    }

    /// Forgets the engine points of this vault's items that the catalogue
    /// does not know; returns how many, or `None` when a backup of the
    /// vault is running (its points may not be catalogued yet).
    ///
    /// The order matters: the store is listed first, then running backups
    /// are checked, then the catalogue is read. A point listed was committed
    /// before the listing, so by a job that had started; if that job is no
    /// longer running, it recorded its point (or failed) before the
    /// catalogue is read.
    pub(crate) fn reconcile_store(&self, vault: i64, store_name: &str) -> Result<Option<usize>> {
        let store = self.open_vault_store(store_name)?;
        let points = store.list_points()?;
        if self.backup_running(vault)? {
            return Ok(None);
        }
        let (known, items) = self.catalogued(vault)?;
        let mut forgotten = 0;
        for p in points {
            let ours = p
                .name
                .split_once('/')
                .is_some_and(|(data_id, _)| items.contains(data_id));
            if !ours || known.contains(&(p.name.clone(), p.id.clone())) {
                continue;
            }
            tracing::info!(%store_name, disk = %p.name, point = %p.id, "forgetting an engine point no recovery point records (its backup failed or was interrupted)");
            match store.forget(&p.name, &p.id) {
                Ok(_) | Err(rsvault_engine::Error::PointNotFound(_)) => forgotten += 1,
                Err(e) => return Err(e.into()),
            }
        }
        if forgotten > 0 {
            self.note_forgotten(vault);
        }
        Ok(Some(forgotten))
    }

    /// Whether a backup job of the vault is running in this process.
    fn backup_running(&self, vault: i64) -> Result<bool> {
        for job in self.runner.job_ids() {
            if self
                .meta
                .find_job(Some(vault), &job)?
                .is_some_and(|j| j.operation == "Backup")
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The engine points (disk name, point id) the vault's recovery points
    /// record, and the data ids of its items.
    fn catalogued(&self, vault: i64) -> Result<(EnginePoints, HashSet<String>)> {
        // A row that does not read stops reconciliation: its engine points
        // must not look uncatalogued.
        let mut known = EnginePoints::new();
        for p in self.meta.vault_points(vault)? {
            for d in crate::point_disks::parse(&p.disks)? {
                if let Some((name, point)) = d.engine_point() {
                    known.insert((name.to_owned(), point.to_owned()));
                }
            }
        }
        let items = self
            .meta
            .vault_items(vault)?
            .into_iter()
            .map(|i| i.data_id)
            .collect();
        Ok((known, items))
    }

    /// Forgets the engine points of a backup the catalogue did not take;
    /// what cannot be forgotten now is reconciled later.
    pub(crate) fn forget_uncatalogued(&self, store_name: &str, disks: &[PointDisk]) {
        let r = self
            .open_vault_store(store_name)
            .and_then(|store| self.forget_point_disks(&store, disks));
        if let Err(e) = r {
            tracing::warn!(%store_name, "could not forget the points of a failed backup (reconciled later): {e}");
        }
        self.mark_for_cleanup(store_name);
    }

    /// Leaves a store for the next clean-up.
    pub(crate) fn mark_for_cleanup(&self, store_name: &str) {
        self.pending_cleanup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(store_name.to_owned());
    }

    /// After a failed or cancelled backup: gc removes what only it wrote.
    /// If that cannot finish now, the store stays pending.
    pub(crate) fn collect_after_failure(&self, store_name: &str) {
        if !self.gc_store(store_name) {
            self.mark_for_cleanup(store_name);
        }
    }

    /// Reconciles and collects every pending store, and writes job
    /// outcomes kept in memory; returns the stores still pending.
    pub fn clean_up_pending(&self) -> usize {
        self.record_unrecorded();
        let pending: Vec<String> = self
            .pending_cleanup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        for store in pending {
            if self.clean_up_store(&store) {
                self.pending_cleanup
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&store);
            }
        }
        self.pending_cleanup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Reconciles a store, then collects it; true when both are done.
    fn clean_up_store(&self, store_name: &str) -> bool {
        let vault: Option<i64> = self
            .meta
            .vault_by_store(store_name)
            .ok()
            .flatten()
            .map(|v| v.id);
        let Some(vault) = vault else {
            return true; // the vault is gone, and its store with it
        };
        let reconciled = match self.reconcile_store(vault, store_name) {
            Ok(r) => r.is_some(),
            Err(e) => {
                tracing::warn!(%store_name, "reconciliation failed (retried at the next tick): {e}");
                false
            }
        };
        self.gc_store(store_name) && reconciled
    }

    /// Runs gc on a store; true when it removed every condemned pack.
    fn gc_store(&self, store_name: &str) -> bool {
        let r = self.open_vault_store(store_name).and_then(|store| {
            Ok(rsvault_engine::gc(
                &store,
                &rsvault_engine::GcOptions::default(),
                &rsvault_engine::NoProgress,
            )?)
        });
        match r {
            Ok(stats) => {
                tracing::info!(%store_name, deleted = stats.packs_deleted, pending = stats.packs_pending, freed = stats.bytes_before.saturating_sub(stats.bytes_after), "gc after a failed or interrupted backup");
                stats.packs_pending == 0
            }
            Err(e) => {
                tracing::warn!(%store_name, "gc failed (retried at the next scheduler tick): {e}");
                false
            }
        }
    }

    /// Removes the temporary files of restores a crash interrupted: under
    /// the restore root, the restored managed disks, and next to every
    /// VM's disk images (replaced in place). Run at start, when no restore
    /// runs.
    pub(crate) fn sweep_restore_temps(&self) -> usize {
        let mut found = Vec::new();
        for root in [
            self.restore_root().to_owned(),
            self.data_dir().join("managedDisks"),
        ] {
            find_restore_temps(&root, &mut found);
        }
        match self.all_disk_images() {
            Ok(images) => found.extend(
                images
                    .into_iter()
                    .map(restore_temp_of)
                    .filter(|t| t.is_file()),
            ),
            Err(e) => {
                tracing::warn!("could not list the VMs' disks to sweep restore leftovers: {e}")
            }
        }
        let mut removed = 0;
        for f in found {
            match std::fs::remove_file(&f) {
                Ok(()) => {
                    tracing::info!(file = %f.display(), "removed the temporary file of an interrupted restore");
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(file = %f.display(), "could not remove an interrupted restore's file: {e}")
                }
            }
        }
        removed
    }
}

/// The temporary file a restore writes before it replaces `out`.
pub(crate) fn restore_temp_of(out: PathBuf) -> PathBuf {
    let mut tmp = out.into_os_string();
    tmp.push(RESTORE_TMP_SUFFIX);
    PathBuf::from(tmp)
}

/// Every file a restore of `out` may leave while it runs: its temporary
/// file and the engine's partial file of that.
pub(crate) fn restore_temps_of(out: PathBuf) -> [PathBuf; 2] {
    let tmp = restore_temp_of(out);
    let mut partial = tmp.clone().into_os_string();
    partial.push(ENGINE_PARTIAL_SUFFIX);
    [tmp, PathBuf::from(partial)]
}

/// A restore's temporary file, or the engine's partial file of one (the
/// engine writes `NAME.rsvault-partial` and renames it to `NAME` at the end).
pub(crate) fn is_restore_temp(p: &Path) -> bool {
    let name = p.to_string_lossy();
    name.ends_with(RESTORE_TMP_SUFFIX)
        || name.ends_with(&format!("{RESTORE_TMP_SUFFIX}{ENGINE_PARTIAL_SUFFIX}"))
}

/// The suffix of the engine's partial restore files.
const ENGINE_PARTIAL_SUFFIX: &str = ".rsvault-partial";

fn find_restore_temps(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => find_restore_temps(&p, out),
            Ok(t) if t.is_file() && is_restore_temp(&p) => out.push(p),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{ResourceRef, VmProvider};
    use crate::metastore::sql::testing::Fault;
    use crate::vault::VaultRef;
    use serde_json::{Value, json};
    use std::sync::Arc;

    const C: &str = "IaasVMContainer;iaasvmcontainerv2;vms;vm1";
    const I: &str = "VM;iaasvmcontainerv2;vms;vm1";

    fn vref() -> VaultRef {
        VaultRef {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "vault1".into(),
        }
    }

    /// A vault protecting `vm1`, whose disk is 3 MiB of random data.
    fn protected(dir: &Path) -> Arc<Service> {
        protect(Arc::new(Service::open(dir).unwrap()), dir)
    }

    /// [`protected`], over a metadata store whose faults can be switched on.
    fn protected_with_faults(
        dir: &Path,
    ) -> (
        Arc<Service>,
        Arc<std::sync::Mutex<Vec<crate::metastore::sql::testing::Fault>>>,
    ) {
        use crate::metastore::sql::{SqlStore, sqlite::SqliteDriver, testing::Faulty};
        let driver = Faulty::new(SqliteDriver::open(&dir.join("metadata.db")).unwrap());
        let faults = driver.faults();
        let s = Service::open_with_store(
            dir,
            Arc::new(rsvault_engine::clock::SystemClock),
            crate::StorageSettings::default(),
            Arc::new(SqlStore::new(driver)),
        )
        .unwrap();
        (protect(Arc::new(s), dir), faults)
    }

    fn protect(s: Arc<Service>, dir: &Path) -> Arc<Service> {
        s.set_image_roots(vec![dir.to_owned()]);
        s.put_vault(&vref(), rsvault_arm::vault::VaultPut::located("westeurope"))
            .unwrap();
        let img = dir.join("os.raw");
        std::fs::write(
            &img,
            (0..3 << 20)
                .map(|_| rand::random::<u8>())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let vm = ResourceRef {
            subscription: "s".into(),
            resource_group: "vms".into(),
            name: "vm1".into(),
        };
        s.put_vm(VmProvider::Compute, &vm, &serde_json::from_value(json!({"location": "westeurope",
            "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": format!("file://{}", img.display())}}}}})).unwrap())
            .unwrap();
        let policy = format!("{}/backupPolicies/DefaultPolicy", vref().id());
        s.put_protected_item(
            &vref(),
            C,
            I,
            &serde_json::from_value(json!({"properties": {"policyId": policy}})).unwrap(),
        )
        .unwrap();
        s
    }

    /// Runs Backup now and waits for the job; returns it.
    fn backup(s: &Arc<Service>) -> Value {
        let op = s.backup_now(&vref(), C, I, &Default::default()).unwrap();
        let job = s
            .operation_status(&vref(), &op)
            .unwrap()
            .job_id()
            .unwrap()
            .to_owned();
        for _ in 0..1000 {
            let j = serde_json::to_value(s.get_job(&vref(), &job).unwrap()).unwrap();
            if !matches!(
                j["properties"]["status"].as_str(),
                Some("InProgress" | "Cancelling")
            ) {
                return j;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("job {job} did not end");
    }

    fn store_of(s: &Service) -> rsvault_engine::Store {
        s.open_vault_store(&s.vault_row(&vref()).unwrap().store)
            .unwrap()
    }

    fn packs(store: &rsvault_engine::Store) -> usize {
        store.backend().list("packs/").unwrap().len()
    }

    fn listed(s: &Service) -> usize {
        s.list_recovery_points(&vref(), C, I, "").unwrap().len()
    }

    #[test]
    fn a_crash_between_engine_and_catalogue_commits_is_reconciled_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let s = protected(dir.path());
        assert_eq!(backup(&s)["properties"]["status"], "Completed");
        let store = store_of(&s);
        let points = store.list_points().unwrap();
        let data_id = points[0].name.split_once('/').unwrap().0.to_owned();
        // What `kill -9` leaves: a running job whose disk the engine
        // committed, with no recovery point in the catalogue; and a point
        // of a disk the service does not know, which is not its to forget.
        let vault = s.vault_row(&vref()).unwrap().rowid;
        let (job, ..) = s
            .start_job(
                vault,
                "Backup",
                "vm1",
                "iaasvmcontainerv2;vms;vm1",
                &["t"],
                true,
            )
            .unwrap();
        let mut sizes = Vec::new();
        for name in ["someone-else/os".to_owned(), format!("{data_id}/os")] {
            let img = dir.path().join("other.raw");
            std::fs::write(
                &img,
                (0..2 << 20)
                    .map(|_| rand::random::<u8>())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            let src = rsvault_engine::source::open_image(&img).unwrap();
            let opts = rsvault_engine::BackupOptions {
                name,
                ..Default::default()
            };
            rsvault_engine::backup(&store, src.as_ref(), &opts, &rsvault_engine::NoProgress)
                .unwrap();
            sizes.push(store.stored_bytes().unwrap());
        }
        drop(s);

        let s = Arc::new(Service::open(dir.path()).unwrap());
        assert_eq!(
            serde_json::to_value(s.get_job(&vref(), &job).unwrap()).unwrap()["properties"]["status"],
            "Failed"
        );
        let kept: Vec<String> = store
            .list_points()
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(
            kept.len(),
            2,
            "the catalogued point and the foreign one stay"
        );
        assert!(kept.contains(&points[0].id));
        assert_eq!(listed(&s), 1);
        assert_eq!(s.clean_up_pending(), 0, "the first scheduler tick collects");
        assert_eq!(store.forgotten().unwrap().len(), 1);
        let after = store.stored_bytes().unwrap();
        assert!(
            after < sizes[0] + (64 << 10),
            "the crashed job's 2 MiB are reclaimed: {after} bytes, {sizes:?} before"
        );
    }

    #[test]
    fn a_catalogue_that_refuses_the_point_fails_the_job_and_keeps_no_point() {
        let dir = tempfile::tempdir().unwrap();
        let (s, faults) = protected_with_faults(dir.path());
        faults.lock().unwrap().push(Fault::RefusePoints);
        let job = backup(&s);
        assert_eq!(job["properties"]["status"], "Failed", "{job}");
        assert_eq!(listed(&s), 0);
        let store = store_of(&s);
        assert!(
            store.list_points().unwrap().is_empty(),
            "the engine point is forgotten"
        );
        assert_eq!(packs(&store), 0, "and gc took its packs");
    }

    #[test]
    fn an_outcome_the_database_cannot_take_is_still_the_jobs_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let (s, faults) = protected_with_faults(dir.path());
        faults.lock().unwrap().push(Fault::JobsCannotEnd);
        let job = backup(&s);
        assert_eq!(
            job["properties"]["status"], "Failed",
            "not InProgress for ever: {job}"
        );
        assert!(job["properties"]["endTime"].is_string());
        assert_eq!(listed(&s), 0, "no point without a completed job");
        assert!(store_of(&s).list_points().unwrap().is_empty());
        let id = job["name"].as_str().unwrap();
        let row = |s: &Service| -> String { s.meta.find_job(None, id).unwrap().unwrap().status };
        assert_eq!(row(&s), "InProgress");
        faults.lock().unwrap().clear();
        assert_eq!(s.clean_up_pending(), 0);
        assert_eq!(row(&s), "Failed", "written once the database takes it");
        // And a backup runs again: the failed job does not hold the item.
        assert_eq!(backup(&s)["properties"]["status"], "Completed");
        assert_eq!(listed(&s), 1);
    }

    #[test]
    fn restore_leftovers_are_swept_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let s = protected(dir.path());
        let restores = dir.path().join("restores");
        drop(s);
        let open = || {
            Service::open_with(
                dir.path(),
                Arc::new(rsvault_engine::clock::SystemClock),
                crate::StorageSettings {
                    restore_root: Some(restores.clone()),
                    image_roots: vec![dir.path().to_owned()],
                    ..Default::default()
                },
            )
            .unwrap()
        };
        drop(open());
        let account = restores.join("sa1").join("vm1-123");
        std::fs::create_dir_all(&account).unwrap();
        let managed = dir.path().join("managedDisks").join("rg");
        std::fs::create_dir_all(&managed).unwrap();
        let left = [
            account.join("os.raw.rsvault-restore"),
            managed.join("vm2-osdisk-1.qcow2.rsvault-restore"),
            dir.path().join("os.raw.rsvault-restore"),
            account.join("data.raw.rsvault-restore.rsvault-partial"),
        ];
        let kept = [account.join("os.raw"), account.join("vmconfig.json")];
        for f in left.iter().chain(&kept) {
            std::fs::write(f, b"x").unwrap();
        }
        let s = open();
        assert_eq!(s.restore_root(), restores);
        for f in &left {
            assert!(!f.exists(), "{} swept", f.display());
        }
        for f in &kept {
            assert!(f.exists(), "{} kept", f.display());
        }
        assert!(
            dir.path().join("os.raw").exists(),
            "the VM's disk itself stays"
        );
    }
}
