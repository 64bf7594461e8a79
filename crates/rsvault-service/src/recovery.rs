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
use rusqlite::params;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Names of stores waiting for reconciliation and gc.
pub(crate) type Pending = std::sync::Mutex<std::collections::BTreeSet<String>>;

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
        let conn = self.db.conn();
        let mut st = conn.prepare("SELECT id, store FROM vaults ORDER BY id")?;
        Ok(st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?)
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
        Ok(Some(forgotten))
    }

    /// Whether a backup job of the vault is running in this process.
    fn backup_running(&self, vault: i64) -> Result<bool> {
        let running: Vec<String> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        let conn = self.db.conn();
        let mut st = conn.prepare(
            "SELECT count(*) FROM jobs WHERE job_id = ?1 AND vault = ?2 AND operation = 'Backup'",
        )?;
        for job in running {
            if st.query_row(params![job, vault], |r| r.get::<_, i64>(0))? > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The engine points (disk name, point id) the vault's recovery points
    /// record, and the data ids of its items.
    fn catalogued(&self, vault: i64) -> Result<(HashSet<(String, String)>, HashSet<String>)> {
        let conn = self.db.conn();
        let mut st = conn.prepare(
            "SELECT rp.disks FROM recovery_points rp JOIN protected_items pi ON rp.item = pi.id WHERE pi.vault = ?1",
        )?;
        let rows: Vec<String> = st
            .query_map(params![vault], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let known = rows
            .iter()
            .flat_map(|d| serde_json::from_str::<Vec<Value>>(d).unwrap_or_default())
            .filter_map(|d| {
                Some((
                    d["store_name"].as_str()?.to_owned(),
                    d["point"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let mut st = conn.prepare("SELECT data_id FROM protected_items WHERE vault = ?1")?;
        let items = st
            .query_map(params![vault], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((known, items))
    }

    /// Forgets the engine points of a backup the catalogue did not take;
    /// what cannot be forgotten now is reconciled later.
    pub(crate) fn forget_uncatalogued(&self, store_name: &str, disks: &[Value]) {
        let r = self.open_vault_store(store_name).and_then(|store| {
            self.forget_point_disks(&store, &Value::Array(disks.to_vec()).to_string())
        });
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
            .db
            .conn()
            .query_row(
                "SELECT id FROM vaults WHERE store = ?1",
                params![store_name],
                |r| r.get(0),
            )
            .ok();
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

fn find_restore_temps(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => find_restore_temps(&p, out),
            Ok(t) if t.is_file() && p.to_string_lossy().ends_with(RESTORE_TMP_SUFFIX) => {
                out.push(p)
            }
            _ => {}
        }
    }
}
