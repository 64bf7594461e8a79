//! Object lock of immutable vaults' stores: so that a stolen storage key
//! cannot delete what the server's own rules keep. While a vault is
//! Unlocked its store's objects are locked in governance mode, once it is
//! Locked in compliance mode (which nobody can lift), each until the
//! *window* after rsvault last saw it: the vault's soft-delete period, at
//! least [`MIN_WINDOW_DAYS`] days.
//!
//! What a backup or a replication wrote is locked as soon as it ends; the
//! scheduler extends every object's lock once half the window has passed
//! since the last full sweep (and after a start, or a change of mode). An
//! object that the server deletes (expired points, collected packs) is no
//! longer extended and its data goes when its lock ends. Storage without
//! object lock (local folders, Azure Blob, a bucket made without it) keeps
//! only the server's protection; the first sweep of such a store says so.

use crate::Service;
use crate::error::Result;
use crate::immutability::{self, Immutability};
use crate::metastore::records::VaultRecord;
use rsvault_arm::vault::{ObjectLockState, ObjectLockStatus, VaultProperties};
use rsvault_engine::backend::lock::{LockMode, Retention, retain_store};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The shortest lock window, in days (Azure's shortest soft-delete period).
pub const MIN_WINDOW_DAYS: u32 = 14;

/// How a vault's store is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub mode: LockMode,
    pub window: Duration,
}

/// The lock a vault's properties call for (`None`: immutability off).
pub fn plan(props: &VaultProperties) -> Option<Plan> {
    let mode = match immutability::of(props) {
        Immutability::Disabled => return None,
        Immutability::Unlocked => LockMode::Governance,
        Immutability::Locked => LockMode::Compliance,
    };
    let days = props
        .security_settings
        .as_ref()
        .and_then(|s| s.soft_delete_settings.as_ref())
        .and_then(|s| s.soft_delete_retention_period_in_days)
        .unwrap_or(MIN_WINDOW_DAYS)
        .max(MIN_WINDOW_DAYS);
    Some(Plan {
        mode,
        window: Duration::from_secs(u64::from(days) * 86_400),
    })
}

/// What the service last did to a store's locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Every object locked in `mode` at `at`, until `until`.
    Done {
        mode: LockMode,
        at: SystemTime,
        until: SystemTime,
    },
    /// The storage has no object lock (said once).
    Unsupported,
}

/// Whether a store needs a full sweep now.
pub fn due(last: Option<Sweep>, plan: Plan, now: SystemTime) -> bool {
    match last {
        None => true,
        Some(Sweep::Unsupported) => false,
        Some(Sweep::Done { mode, at, .. }) => {
            mode != plan.mode || now.duration_since(at).unwrap_or_default() >= plan.window / 2
        }
    }
}

/// The last sweep of each store, by URL (kept in memory: a start sweeps
/// every immutable vault's stores once).
#[derive(Debug, Default)]
pub struct Sweeps(Mutex<HashMap<String, Sweep>>);

impl Sweeps {
    fn get(&self, store: &str) -> Option<Sweep> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(store)
            .copied()
    }

    /// Marks `store` as without object lock; true only for the caller
    /// that marked it first (so that it is said once, however many
    /// backups and sweeps found it at the same moment).
    fn mark_unsupported(&self, store: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(store.to_owned(), Sweep::Unsupported)
            != Some(Sweep::Unsupported)
    }

    fn set(&self, store: &str, s: Sweep) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(store.to_owned(), s);
    }
}

/// A timestamp of the service's clock as a `SystemTime` (which holds every
/// time jiff does on the platforms rsvault runs on).
fn system_time(t: jiff::Timestamp) -> SystemTime {
    SystemTime::try_from(t).unwrap_or(SystemTime::UNIX_EPOCH)
}

impl Service {
    fn lock_plan(v: &VaultRecord) -> Option<Plan> {
        serde_json::from_str::<VaultProperties>(&v.properties)
            .ok()
            .as_ref()
            .and_then(plan)
    }

    /// The stores of a vault: its own and its secondary's.
    fn stores_of(v: &VaultRecord) -> Vec<&str> {
        let mut out = vec![v.store.as_str()];
        out.extend(v.secondary.as_ref().map(|s| s.store.as_str()));
        out
    }

    /// Locks the objects of `store` (`since`: only those written since
    /// then); returns how many, or `None` when its storage has no object
    /// lock.
    fn lock_store(
        &self,
        store: &str,
        plan: Plan,
        since: Option<SystemTime>,
    ) -> Result<Option<usize>> {
        if self.lock_sweeps.get(store) == Some(Sweep::Unsupported) {
            return Ok(None);
        }
        let backend = self.stores.open(store)?;
        let on = match backend.object_lock() {
            Some(l) => l.enabled()?,
            None => false,
        };
        if !on {
            if self.lock_sweeps.mark_unsupported(store) {
                tracing::warn!(
                    store = %backend.location(),
                    "the vault is immutable but its storage has no object lock: only the server protects its data from deletion"
                );
            }
            return Ok(None);
        }
        let now = system_time(self.now());
        // Never earlier than a lock already set (a window since shortened):
        // storage refuses to shorten one, or, where it does not, would
        // give up protection.
        let until = match self.lock_sweeps.get(store) {
            Some(Sweep::Done { until, .. }) => until.max(now + plan.window),
            _ => now + plan.window,
        };
        let retention = Retention {
            mode: plan.mode,
            until,
        };
        let n = retain_store(backend.as_ref(), retention, since)?;
        if since.is_none() {
            self.lock_sweeps.set(
                store,
                Sweep::Done {
                    mode: plan.mode,
                    at: now,
                    until,
                },
            );
        }
        Ok(Some(n))
    }

    /// How the object lock of a vault (its properties, its store) stands.
    pub(crate) fn object_lock_status(
        &self,
        props: &VaultProperties,
        store: &str,
    ) -> ObjectLockStatus {
        let Some(plan) = plan(props) else {
            return ObjectLockStatus {
                state: Some(ObjectLockState::Disabled),
                ..Default::default()
            };
        };
        let (state, last) = match self.lock_sweeps.get(store) {
            None => (ObjectLockState::Pending, None),
            Some(Sweep::Unsupported) => (ObjectLockState::NotSupported, None),
            Some(Sweep::Done { at, .. }) => (ObjectLockState::Enabled, Some(at)),
        };
        ObjectLockStatus {
            state: Some(state),
            mode: Some(
                match plan.mode {
                    LockMode::Governance => "Governance",
                    LockMode::Compliance => "Compliance",
                }
                .to_owned(),
            ),
            window_in_days: u32::try_from(plan.window.as_secs() / 86_400).ok(),
            last_extended: last
                .and_then(|t| jiff::Timestamp::try_from(t).ok())
                .map(|t| t.to_string()),
            ..Default::default()
        }
    }

    /// Locks what a backup or replication of vault `vault` wrote to
    /// `store` since `since`, a time of the storage's clock (what listings
    /// give; the wall clock here, not the service's). A failure is logged:
    /// the next sweep locks it.
    pub(crate) fn lock_written(&self, vault: i64, store: &str, since: SystemTime) {
        let Ok(Some(v)) = self.meta.vault_by_id(vault) else {
            return;
        };
        let Some(plan) = Self::lock_plan(&v) else {
            return;
        };
        if self.lock_sweeps.get(store).is_none() {
            // Not swept since the start: the whole store now.
            if let Err(e) = self.lock_store(store, plan, None) {
                tracing::warn!(%store, "cannot lock the store's objects: {e}");
            }
            return;
        }
        match self.lock_store(store, plan, Some(since)) {
            Ok(Some(n)) => {
                tracing::info!(%store, objects = n, mode = plan.mode.as_s3(), "locked the objects written")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(%store, "cannot lock the objects written: {e}"),
        }
    }

    /// The scheduler's part: extends the locks of every immutable vault's
    /// stores that are due ([`due`]); returns how many stores were swept.
    pub(crate) fn extend_store_locks(&self) -> Result<usize> {
        let now = system_time(self.now());
        let mut swept = 0;
        for v in self.meta.all_vaults()? {
            let Some(plan) = Self::lock_plan(&v) else {
                continue;
            };
            for store in Self::stores_of(&v) {
                if !due(self.lock_sweeps.get(store), plan, now) {
                    continue;
                }
                match self.lock_store(store, plan, None) {
                    Ok(Some(n)) => {
                        swept += 1;
                        tracing::info!(vault = %v.vref.name, %store, objects = n, mode = plan.mode.as_s3(), "extended the store's object locks");
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(vault = %v.vref.name, %store, "cannot extend the store's object locks: {e}")
                    }
                }
            }
        }
        Ok(swept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StorageSettings, VaultRef};
    use rsvault_engine::backend::{Backend, PutMode};
    use rsvault_engine::clock::ManualClock;
    use std::sync::Arc;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_store_without_object_lock_is_marked_once_among_racing_callers() {
        let sweeps = Arc::new(Sweeps::default());
        let first: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| usize::from(sweeps.mark_unsupported("s3://b/x"))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(first, 1);
        assert_eq!(sweeps.get("s3://b/x"), Some(Sweep::Unsupported));
        assert!(sweeps.mark_unsupported("s3://b/y"));
    }

    fn service(base: &str) -> (tempfile::TempDir, Arc<ManualClock>, Service) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let storage = StorageSettings {
            store_base: Some(base.to_owned()),
            ..Default::default()
        };
        let svc = Service::open_with(dir.path(), clock.clone(), storage).unwrap();
        (dir, clock, svc)
    }

    fn vault(svc: &Service, name: &str, state: &str) -> (i64, Arc<dyn Backend>) {
        let v = VaultRef {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: name.into(),
        };
        let body = serde_json::from_value(serde_json::json!({"location": "westeurope",
            "properties": {"securitySettings": {"immutabilitySettings": {"state": state}}}}))
        .unwrap();
        svc.put_vault(&v, body).unwrap();
        let rec = svc.meta.find_vault(&v).unwrap().unwrap();
        (rec.id, svc.stores.open(&rec.store).unwrap())
    }

    fn locks(b: &dyn Backend) -> Vec<(String, Option<Retention>)> {
        let l = b.object_lock().unwrap();
        b.list("")
            .unwrap()
            .into_iter()
            .map(|o| (o.key.clone(), l.retention(&o.key).unwrap()))
            .collect()
    }

    fn all_until(b: &dyn Backend, mode: LockMode, until: SystemTime) {
        let got = locks(b);
        assert!(!got.is_empty());
        for (k, r) in got {
            assert_eq!(r, Some(Retention { mode, until }), "{k}");
        }
    }

    #[test]
    fn immutable_vaults_stores_are_locked_and_extended_every_half_window() {
        let (_dir, clock, svc) = service("memory://lock-sweeps");
        let (id, store) = vault(&svc, "v-locked", "Unlocked");
        let (_, open) = vault(&svc, "v-open", "Disabled");
        let t0 = system_time(svc.now());

        // Geo-redundant (the default): its store and its secondary.
        assert_eq!(
            svc.extend_store_locks().unwrap(),
            2,
            "the immutable vault's stores only"
        );
        all_until(store.as_ref(), LockMode::Governance, t0 + 14 * DAY);
        assert!(locks(open.as_ref()).iter().all(|(_, r)| r.is_none()));

        // A backup's objects are locked when it ends (with those written
        // in the few minutes before, as storage clocks may be off ours).
        clock.advance(3 * DAY);
        assert_eq!(svc.extend_store_locks().unwrap(), 0, "not due yet");
        let began = SystemTime::now();
        store.put("data/new", b"pack", PutMode::Create).unwrap();
        svc.lock_written(id, &svc.meta.vault_by_id(id).unwrap().unwrap().store, began);
        let l = store.object_lock().unwrap();
        assert_eq!(
            l.retention("data/new").unwrap().map(|r| r.until),
            Some(t0 + 17 * DAY)
        );

        // Half the window after the sweep: every object again.
        clock.advance(4 * DAY);
        assert_eq!(svc.extend_store_locks().unwrap(), 2);
        all_until(store.as_ref(), LockMode::Governance, t0 + 21 * DAY);

        // Locked: compliance at once.
        let patch = serde_json::from_value(serde_json::json!({"properties": {"securitySettings":
            {"immutabilitySettings": {"state": "Locked"}}}}))
        .unwrap();
        svc.patch_vault(
            &VaultRef {
                subscription: "s".into(),
                resource_group: "rg".into(),
                name: "v-locked".into(),
            },
            patch,
        )
        .unwrap();
        clock.advance(DAY);
        assert_eq!(svc.extend_store_locks().unwrap(), 2);
        all_until(store.as_ref(), LockMode::Compliance, t0 + 22 * DAY);
    }

    #[test]
    fn a_shortened_soft_delete_period_never_shortens_a_lock() {
        let (_dir, clock, svc) = service("memory://lock-shortened");
        let v = VaultRef {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "v30".into(),
        };
        let body = |days: u32| {
            serde_json::from_value::<rsvault_arm::vault::VaultPatch>(serde_json::json!({"properties": {"securitySettings": {
                "immutabilitySettings": {"state": "Unlocked"},
                "softDeleteSettings": {"softDeleteState": "Enabled", "softDeleteRetentionPeriodInDays": days}}}}))
            .unwrap()
        };
        let (_, store) = vault(&svc, "v30", "Unlocked");
        svc.patch_vault(&v, body(30)).unwrap();
        let t0 = system_time(svc.now());
        assert!(svc.extend_store_locks().unwrap() >= 1);
        all_until(store.as_ref(), LockMode::Governance, t0 + 30 * DAY);
        svc.patch_vault(&v, body(14)).unwrap();
        clock.advance(8 * DAY);
        assert!(
            svc.extend_store_locks().unwrap() >= 1,
            "due after half the new window"
        );
        all_until(store.as_ref(), LockMode::Governance, t0 + 30 * DAY);
        clock.advance(10 * DAY);
        assert!(svc.extend_store_locks().unwrap() >= 1);
        all_until(store.as_ref(), LockMode::Governance, t0 + 32 * DAY);
    }

    #[test]
    fn storage_without_object_lock_is_said_once_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("stores");
        std::fs::create_dir(&base).unwrap();
        let (_d, _clock, svc) = service(&format!("file://{}", base.display()));
        let (id, store) = vault(&svc, "v1", "Unlocked");
        assert!(store.object_lock().is_none());
        assert_eq!(svc.extend_store_locks().unwrap(), 0);
        let url = svc.meta.vault_by_id(id).unwrap().unwrap().store;
        assert_eq!(svc.lock_sweeps.get(&url), Some(Sweep::Unsupported));
        assert_eq!(svc.extend_store_locks().unwrap(), 0);
    }

    fn props(json: &str) -> VaultProperties {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn plans_follow_immutability_and_the_soft_delete_period() {
        let day = 86_400;
        let cases: [(&str, Option<(LockMode, u64)>); 5] = [
            (r#"{}"#, None),
            (
                r#"{"securitySettings":{"immutabilitySettings":{"state":"Disabled"}}}"#,
                None,
            ),
            (
                r#"{"securitySettings":{"immutabilitySettings":{"state":"Unlocked"}}}"#,
                Some((LockMode::Governance, 14 * day)),
            ),
            (
                r#"{"securitySettings":{"immutabilitySettings":{"state":"Locked"},"softDeleteSettings":{"softDeleteRetentionPeriodInDays":30}}}"#,
                Some((LockMode::Compliance, 30 * day)),
            ),
            (
                r#"{"securitySettings":{"immutabilitySettings":{"state":"Locked"},"softDeleteSettings":{"softDeleteRetentionPeriodInDays":5}}}"#,
                Some((LockMode::Compliance, 14 * day)),
            ),
        ];
        for (json, want) in cases {
            let got = plan(&props(json)).map(|p| (p.mode, p.window.as_secs()));
            assert_eq!(got, want, "{json}");
        }
    }

    #[test]
    fn sweeps_are_due_at_start_after_half_the_window_and_on_a_change_of_mode() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let day = Duration::from_secs(86_400);
        let plan = Plan {
            mode: LockMode::Governance,
            window: 14 * day,
        };
        let done = |mode, at| {
            Some(Sweep::Done {
                mode,
                at,
                until: at,
            })
        };
        let cases = [
            (None, t0, true),
            (Some(Sweep::Unsupported), t0, false),
            (done(LockMode::Governance, t0), t0 + 6 * day, false),
            (done(LockMode::Governance, t0), t0 + 7 * day, true),
            (done(LockMode::Compliance, t0), t0 + day, true),
            // A clock that went back: not yet.
            (done(LockMode::Governance, t0), t0 - day, false),
        ];
        for (i, (last, now, want)) in cases.into_iter().enumerate() {
            assert_eq!(due(last, plan, now), want, "case {i}");
        }
    }
}
