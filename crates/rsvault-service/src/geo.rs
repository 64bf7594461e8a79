//! Geo-redundant storage: a GeoRedundant vault keeps a second, complete
//! engine store in its region's pair, and every committed recovery point is
//! copied there asynchronously, as Azure does.
//!
//! - The secondary is created with the vault (or, for a vault made
//!   GeoRedundant later or by an earlier version, by its first
//!   replication), under the paired region's base URL with the primary's
//!   name, so one key file opens both.
//! - One replication thread at a time works through the vaults that want
//!   it: a backup that commits a point asks for its vault; a scheduler tick
//!   asks for every vault that is behind, failed last time, lost points on
//!   the primary (retention, deletion), or was not brought up for an hour.
//! - A replication is the engine's [`rsvault_engine::replicate_all`]:
//!   points the secondary lacks are copied (only the blobs it does not
//!   have), then points the primary forgot are forgotten there and the
//!   secondary's gc reclaims them. Recovery points whose every disk is on
//!   the secondary are marked replicated (what the secondary region's API
//!   lists); the vault records when it was last in sync, or why not.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::records::{Secondary, VaultRecord};
use crate::vault::VaultRow;
use rsvault_arm::vault::{ReplicationState, ReplicationStatus};
use rsvault_engine::{ReplicateOptions, Store};
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

/// A vault whose last sync is older than this is brought up again at the
/// next tick (it catches what nothing asked for, e.g. a crash mid-way).
const RESYNC_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(3600);

/// The vaults waiting for replication, and whether a thread works on them.
#[derive(Debug, Default)]
pub(crate) struct ReplicationQueue {
    state: Mutex<QueueState>,
}

#[derive(Debug, Default)]
struct QueueState {
    wanted: BTreeSet<i64>,
    running: bool,
    /// Vaults whose primary forgot points since their last replication.
    forgot: BTreeSet<i64>,
}

impl ReplicationQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Service {
    /// Where a vault in `location` keeps its second copy: the paired
    /// region and a store URL there with the primary's name.
    fn secondary_location(&self, location: &str, primary: &str) -> Result<(String, String)> {
        let region = self.regions.require_pair(location)?;
        let name = crate::stores::store_name(primary)?;
        let base = self.regions.base_url(&region);
        let url = crate::stores::join(&base, name);
        if url == primary {
            return Err(ServiceError::bad_request(
                "InvalidConfiguration",
                format!(
                    "Region '{location}' and its pair '{region}' keep their vault stores in the same place ({base}), so a second copy there would be the same store; give storage.regions.{region}.url another location."
                ),
            ));
        }
        Ok((region, url))
    }

    /// Creates the secondary of a vault's store (`primary`, in `location`);
    /// a secondary left by an earlier attempt is taken over when it holds
    /// replicas of this primary.
    pub(crate) fn create_secondary(&self, location: &str, primary: &str) -> Result<Secondary> {
        let (region, url) = self.secondary_location(location, primary)?;
        let primary_store = self.open_vault_store(primary)?;
        let backend = self.stores.create(&url)?;
        match Store::init_replica(backend, &primary_store) {
            Ok(_) => {}
            Err(rsvault_engine::Error::StoreExists(_)) => {
                let existing = self.open_vault_store(&url)?;
                rsvault_engine::replicate::check_replica(&primary_store, &existing)?;
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(%region, store = %url, "created the secondary store of a geo-redundant vault");
        Ok(Secondary { store: url, region })
    }

    /// The vault's secondary, created and recorded if it has none yet.
    fn ensure_secondary(&self, v: &VaultRecord) -> Result<Secondary> {
        if let Some(s) = &v.secondary {
            return Ok(s.clone());
        }
        let s = self.create_secondary(&v.location, &v.store)?;
        self.meta.set_vault_secondary(v.id, Some(&s))?;
        Ok(s)
    }

    /// Removes a vault's secondary store (its data only: the key file is
    /// the primary's too).
    pub(crate) fn remove_secondary(&self, secondary: &Secondary) -> Result<()> {
        self.stores.destroy(&secondary.store)
    }

    /// Sets up or takes down the secondary after a redundancy change.
    pub(crate) fn apply_redundancy(&self, row: &VaultRow) -> Result<()> {
        let Some(v) = self.meta.vault_by_id(row.rowid)? else {
            return Ok(());
        };
        match (v.redundancy.as_str(), &v.secondary) {
            ("GeoRedundant", None) => {
                self.ensure_secondary(&v)?;
            }
            ("GeoRedundant", Some(_)) => {}
            (_, Some(s)) => {
                self.meta.set_vault_secondary(v.id, None)?;
                self.remove_secondary(s)?;
            }
            (_, None) => {}
        }
        Ok(())
    }

    /// Asks for a vault's replication; a thread starts if none runs.
    pub(crate) fn request_replication(self: &Arc<Self>, vault: i64) {
        let mut st = self.replication.lock();
        st.wanted.insert(vault);
        if st.running {
            return;
        }
        st.running = true;
        drop(st);
        let svc = self.clone();
        let spawned = std::thread::Builder::new()
            .name("rsvault-replicate".into())
            .spawn(move || svc.replication_worker());
        if let Err(e) = spawned {
            tracing::warn!("could not start replication (retried at the next tick): {e}");
            self.replication.lock().running = false;
        }
    }

    /// Notes that a vault's primary forgot points: the next tick brings the
    /// secondary along.
    pub(crate) fn note_forgotten(&self, vault: i64) {
        self.replication.lock().forgot.insert(vault);
    }

    fn replication_worker(&self) {
        loop {
            let next = {
                let mut st = self.replication.lock();
                match st.wanted.pop_first() {
                    Some(v) => {
                        st.forgot.remove(&v);
                        v
                    }
                    None => {
                        st.running = false;
                        return;
                    }
                }
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.replicate_vault(next)
            }));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(
                    vault = next,
                    "replication failed (retried at the next tick): {e}"
                ),
                Err(_) => {
                    tracing::error!(
                        vault = next,
                        "replication panicked (retried at the next tick)"
                    );
                    let _ = self
                        .meta
                        .set_vault_replication(next, Err("internal error: replication panicked"));
                }
            }
        }
    }

    /// Whether replication is running or asked for (tests wait on it).
    pub fn replication_busy(&self) -> bool {
        let st = self.replication.lock();
        st.running || !st.wanted.is_empty()
    }

    /// Brings a geo-redundant vault's secondary up to its primary now, and
    /// records the outcome; a vault that is not geo-redundant is left alone.
    pub fn replicate_vault(&self, vault: i64) -> Result<()> {
        let Some(v) = self.meta.vault_by_id(vault)? else {
            return Ok(());
        };
        if v.redundancy != "GeoRedundant" {
            return Ok(());
        }
        let began = std::time::SystemTime::now();
        let r = self.replicate_record(&v);
        if r.is_ok()
            && let Some(s) = self.meta.vault_by_id(vault)?.and_then(|v| v.secondary)
        {
            self.lock_written(vault, &s.store, began);
        }
        let outcome = match &r {
            Ok(()) => self
                .meta
                .set_vault_replication(vault, Ok(&self.now().to_string())),
            Err(e) => self
                .meta
                .set_vault_replication(vault, Err(&storage_error_text(e))),
        };
        outcome?;
        r
    }

    fn replicate_record(&self, v: &VaultRecord) -> Result<()> {
        let secondary = self.ensure_secondary(v)?;
        let primary = self.open_vault_store(&v.store)?;
        let replica = self.open_vault_store(&secondary.store)?;
        let stats = rsvault_engine::replicate_all(
            &primary,
            &replica,
            &ReplicateOptions::default(),
            &rsvault_engine::NoProgress,
        )?;
        let forgot = stats
            .points
            .iter()
            .any(|p| p.outcome == rsvault_engine::ReplicationOutcome::Forgotten);
        if forgot {
            match rsvault_engine::gc(
                &replica,
                &rsvault_engine::GcOptions::default(),
                &rsvault_engine::NoProgress,
            ) {
                Ok(_) | Err(rsvault_engine::Error::Locked(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let on_secondary: HashSet<(String, String)> = replica
            .list_points()?
            .into_iter()
            .map(|m| (m.name, m.id))
            .collect();
        let mut done = Vec::new();
        for p in self.meta.vault_points(v.id)? {
            if p.replicated.is_some() {
                continue;
            }
            let disks = crate::point_disks::parse(&p.disks)?;
            let all = !disks.is_empty()
                && disks.iter().all(|d| {
                    d.engine_point().is_some_and(|(name, id)| {
                        on_secondary.contains(&(name.to_owned(), id.to_owned()))
                    })
                });
            if all {
                done.push(p.name);
            }
        }
        if !done.is_empty() {
            self.meta
                .set_points_replicated(&done, &self.now().to_string())?;
        }
        tracing::info!(vault = %v.vref.name, copied = stats.blobs_copied(), bytes = stats.bytes_copied, points = done.len(), "replicated to the secondary region");
        Ok(())
    }

    /// Asks for the replication of every geo-redundant vault that is
    /// behind: points not on the secondary, a failed last attempt, points
    /// the primary forgot, or no sync for an hour.
    pub(crate) fn request_due_replications(self: &Arc<Self>, now: jiff::Timestamp) -> Result<()> {
        let forgot = std::mem::take(&mut self.replication.lock().forgot);
        for v in self.meta.all_vaults()? {
            if v.redundancy != "GeoRedundant" {
                continue;
            }
            let stale = v
                .replicated_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_none_or(|t| now.duration_since(t) >= RESYNC_AFTER);
            let due = stale
                || v.replication_error.is_some()
                || forgot.contains(&v.id)
                || self
                    .meta
                    .vault_points(v.id)?
                    .iter()
                    .any(|p| p.replicated.is_none());
            if due {
                self.request_replication(v.id);
            }
        }
        Ok(())
    }

    /// The replication state a vault's `backupstorageconfig` shows
    /// (`None` for a vault that is not geo-redundant).
    pub(crate) fn replication_status(&self, row: &VaultRow) -> Result<Option<ReplicationStatus>> {
        if row.redundancy != "GeoRedundant" {
            return Ok(None);
        }
        let Some(v) = self.meta.vault_by_id(row.rowid)? else {
            return Ok(None);
        };
        let now = self.now();
        let pending: Vec<jiff::Timestamp> = self
            .meta
            .vault_points(v.id)?
            .into_iter()
            .filter(|p| p.replicated.is_none())
            .filter_map(|p| p.time.parse().ok())
            .collect();
        let lag = pending.iter().min().map_or(0, |t| {
            now.duration_since(*t).as_secs().max(0).unsigned_abs()
        });
        let state = if v.replication_error.is_some() {
            ReplicationState::Failed
        } else if pending.is_empty() {
            ReplicationState::InSync
        } else {
            ReplicationState::Replicating
        };
        let region = v
            .secondary
            .as_ref()
            .map(|s| s.region.clone())
            .or_else(|| self.regions.pair(&v.location));
        Ok(Some(ReplicationStatus {
            secondary_region: region,
            state: Some(state),
            pending_recovery_points: Some(pending.len() as u64),
            lag_in_seconds: Some(lag),
            last_sync_time: v.replicated_at,
            last_error: v.replication_error,
            ..Default::default()
        }))
    }
}

/// An error as the vault's replication state shows it.
fn storage_error_text(e: &ServiceError) -> String {
    let s = e.to_string();
    s.chars().take(1000).collect()
}
