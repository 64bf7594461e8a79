//! Backups of running VMs: the Take Snapshot task through the hypervisor
//! port ([`rsvault_hypervisor::Hypervisor`]), then Transfer data to vault
//! from the snapshot files, with the change-tracking checkpoint's
//! changed-block list when it can be trusted. The snapshot files stay on the host as the
//! point's instant-restore tier ([`crate::instant`]).

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::inventory::VmDisk;
use crate::item_health::StoredHealth;
use crate::jobs::{JobProgressHandle, SNAPSHOT, TRANSFER};
use crate::point_disks::PointDisk;
use rsvault_hypervisor::finding::{self, Finding};
use rsvault_hypervisor::{
    AgentState, Base, DiskCheckpoint, DiskRequest, SnapshotFailure, SnapshotRequest,
    SnapshotSettings, VmAddress, checkpoint_name,
};

use std::sync::atomic::Ordering;
use std::time::Duration;

/// Knobs of live backups (`[live]` in the server's config).
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Longest wait for the guest's file systems to freeze.
    pub freeze_timeout: Duration,
    /// Time limit of other guest-agent commands.
    pub agent_timeout: Duration,
    /// Snapshot copy rate limit (bytes per second), to spare the guest's IO.
    pub rate_limit: Option<u64>,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            freeze_timeout: Duration::from_secs(60),
            agent_timeout: Duration::from_secs(10),
            rate_limit: None,
        }
    }
}

/// What a live backup produced, for the recovery point and the job.
pub(crate) struct LiveOutcome {
    pub consistency: &'static str,
    pub disks: Vec<PointDisk>,
    pub warnings: Vec<rsvault_arm::error::JobErrorInfo>,
    pub bag: crate::jobs::PropertyBag,
}

/// The share of a live job's progress taken by the snapshot copy.
const SNAPSHOT_PERMILLE: u64 = 300;

/// A job's warnings and errors in Azure's shape.
pub(crate) fn findings_json(f: &[Finding]) -> Vec<rsvault_arm::error::JobErrorInfo> {
    f.iter()
        .map(|f| crate::jobs::job_error(f.code, f.message.clone(), &f.recommendation))
        .collect()
}

fn job_error(f: Finding) -> ServiceError {
    ServiceError::Job {
        code: f.code.to_owned(),
        message: f.message,
        recommendation: f.recommendation,
    }
}

/// Refuses an image that a running QEMU has open for writing: reading it in
/// place could give a torn, silently wrong point. QEMU's image locks say
/// so; `qemu-img info` without `-U` asks for them. Without qemu-img the
/// check is skipped (nothing else on the host takes QEMU's locks).
pub(crate) fn check_not_in_use(image: &std::path::Path) -> Result<()> {
    let out = match std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(image)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            tracing::debug!(error = %e, "qemu-img not available; image lock check skipped");
            return Ok(());
        }
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && err.contains("lock") {
        return Err(ServiceError::Job {
            code: finding::DISK_IN_USE.into(),
            message: format!(
                "The disk image {} is open for writing by a running QEMU, so it cannot be read in place.",
                image.display()
            ),
            recommendation: finding::DISK_IN_USE_RECOMMENDATION.into(),
        });
    }
    Ok(())
}

/// What a disk's next snapshot can build on: the previous point's bitmap and
/// snapshot, if that point is this disk's newest in the store and its
/// snapshot is still in the instant tier; otherwise why not.
fn base_of(
    store: &rsvault_engine::Store,
    store_disk: &str,
    prev: Option<&(Vec<PointDisk>, bool)>,
    lun: Option<i64>,
) -> std::result::Result<Base, String> {
    let Some((disks, instant)) = prev else {
        return Err("first backup of this disk".into());
    };
    let p = disks
        .iter()
        .find(|x| x.lun == lun)
        .ok_or("the disk is new since the previous point")?;
    let (Some(bitmap), false) = (p.bitmap.as_deref(), p.point.is_empty()) else {
        return Err("the previous point was taken with the VM off".into());
    };
    let point = p.point.as_str();
    let snap = match (p.snapshot.as_ref(), instant) {
        (Some(s), true) => s,
        _ => return Err("the previous snapshot left the instant-restore tier".into()),
    };
    let newest = store
        .points_of(store_disk)
        .map_err(|e| format!("cannot list the store's points: {e}"))?
        .pop();
    if newest.is_none_or(|n| n.id != point) {
        return Err(
            "the store's newest point of this disk is not the one the bitmap starts from".into(),
        );
    }
    Ok(Base {
        checkpoint: bitmap.to_owned(),
        snapshot: snap.clone(),
    })
}

impl Service {
    /// Live settings in force.
    pub fn live_settings(&self) -> LiveSettings {
        self.live.read().expect("lock").clone()
    }

    /// Changes the live settings.
    pub fn set_live_settings(&self, s: LiveSettings) {
        *self.live.write().expect("lock") = s;
    }

    pub(crate) fn set_health(&self, item_id: i64, health: &StoredHealth) -> Result<()> {
        self.meta.set_item_health(item_id, &health.to_text())?;
        Ok(())
    }

    /// The item's newest point: its disks and whether it is still in the
    /// instant tier.
    fn latest_point(&self, item_id: i64) -> Result<Option<(Vec<PointDisk>, bool)>> {
        let row: Option<(String, Option<String>)> = self
            .meta
            .item_points(item_id)?
            .into_iter()
            .last()
            .map(|p| (p.disks, p.instant_until));
        row.map(|(d, until)| Ok((crate::point_disks::parse(&d)?, until.is_some())))
            .transpose()
    }

    /// Backs up a running VM (`link` is where its hypervisor is reached).
    /// `None` when nothing runs the VM: it is off, and its images are read
    /// in place.
    pub(crate) fn run_live_backup(
        &self,
        run: &crate::jobs::BackupRun<'_>,
        link: &VmAddress,
        permille: &JobProgressHandle,
    ) -> Result<Option<LiveOutcome>> {
        let store = self.open_vault_store(run.store_name)?;
        let prev = self.latest_point(run.item_id)?;
        let job = LiveJob {
            hypervisor: self.hypervisor.as_ref(),
            store: &store,
            link,
            job: run.job,
            data_id: run.data_id,
            disks: run.disks,
            prev: prev.as_ref(),
            snapshot_dir: self
                .data_dir()
                .join("snapshots")
                .join(run.store_name)
                .join(run.data_id.replace(['/', '\\'], "_"))
                .join(run.job),
            settings: self.live_settings(),
        };
        let report = ServiceReport {
            svc: self,
            item_id: run.item_id,
            job: run.job,
        };
        take_live(&job, permille, &report)
    }

    /// After a live point is committed: its checkpoints become the ones the
    /// next backup builds on, the older ones go.
    pub(crate) fn retire_bitmaps(&self, link: &VmAddress, disks: &[PointDisk]) {
        let pairs = checkpoints_of(disks);
        if let Err(e) = self.hypervisor.retire_checkpoints(link, &pairs) {
            tracing::warn!(error = %e, "could not retire old checkpoints (the next backup will)");
        }
    }
}

/// What a live backup works on, wherever it runs (the vault server for its
/// own host, an agent for its).
pub(crate) struct LiveJob<'a> {
    pub hypervisor: &'a dyn rsvault_hypervisor::Hypervisor,
    pub store: &'a rsvault_engine::Store,
    pub link: &'a VmAddress,
    pub job: &'a str,
    pub data_id: &'a str,
    pub disks: &'a [VmDisk],
    /// The item's newest point: its disks, and whether their snapshots are
    /// still there to build on.
    pub prev: Option<&'a (Vec<PointDisk>, bool)>,
    /// Where this job's snapshot files go.
    pub snapshot_dir: std::path::PathBuf,
    pub settings: LiveSettings,
}

/// What a live backup tells as it goes.
pub(crate) trait LiveReport {
    /// The guest agent as the snapshot found it (the item's health).
    fn agent(&self, state: &AgentState);
    /// The snapshot is taken; the transfer starts.
    fn snapshot_taken(&self) -> Result<()>;
}

/// The vault server's own live backups report to its catalogue.
struct ServiceReport<'a> {
    svc: &'a Service,
    item_id: i64,
    job: &'a str,
}

impl LiveReport for ServiceReport<'_> {
    fn agent(&self, state: &AgentState) {
        if let Err(e) = self
            .svc
            .set_health(self.item_id, &StoredHealth::of_agent(state, self.svc.now()))
        {
            tracing::warn!(job = %self.job, "could not record the item's health: {e}");
        }
    }

    fn snapshot_taken(&self) -> Result<()> {
        self.svc.set_job_tasks(
            self.job,
            &[(SNAPSHOT, "Completed"), (TRANSFER, "InProgress")],
            f64::from(SNAPSHOT_PERMILLE as u32) / 10.0,
        )
    }
}

/// The checkpoints a live point's disks started.
pub(crate) fn checkpoints_of(disks: &[PointDisk]) -> Vec<DiskCheckpoint> {
    disks
        .iter()
        .filter_map(|d| {
            Some(DiskCheckpoint {
                image: d.image.clone()?,
                checkpoint: d.bitmap.clone()?,
            })
        })
        .collect()
}

/// The disk's name in the vault store's key (`os`, `lun-N`).
pub(crate) fn disk_key(d: &VmDisk) -> String {
    match d.lun {
        None => "os".to_owned(),
        Some(l) => format!("lun-{l}"),
    }
}

/// Takes the snapshot and transfers it to the store. `None` when nothing
/// runs the VM: it is off, and its images are read in place.
pub(crate) fn take_live(
    j: &LiveJob<'_>,
    permille: &JobProgressHandle,
    report: &dyn LiveReport,
) -> Result<Option<LiveOutcome>> {
    let (job, data_id, disks, store, link) = (j.job, j.data_id, j.disks, j.store, j.link);
    let settings = &j.settings;
    let dir = &j.snapshot_dir;
    let new_bitmap = checkpoint_name(job);
    let key = disk_key;
    let mut requests = Vec::new();
    for d in disks {
        let store_disk = format!("{data_id}/{}", key(d));
        // The bitmap describes writes since the previous point only if
        // that point is this disk's newest in the store, and its snapshot
        // is still there to build on.
        let (base, no_base_reason) = match base_of(store, &store_disk, j.prev, d.lun) {
            Ok(b) => (Some(b), None),
            Err(why) => (None, Some(why)),
        };
        requests.push(DiskRequest {
            image: d.path.clone(),
            target: dir.join(format!("{}.qcow2", key(d))),
            base,
            new_checkpoint: new_bitmap.clone(),
            no_base_reason,
        });
    }
    let request = SnapshotRequest {
        disks: requests,
        settings: SnapshotSettings {
            agent_timeout: settings.agent_timeout,
            freeze_timeout: settings.freeze_timeout,
            rate_limit: settings.rate_limit,
            ..Default::default()
        },
    };
    let cancel = permille.cancel_flag();
    let mut on_progress = |done: u64, total: u64| {
        permille.set(SNAPSHOT_PERMILLE * done.min(total) / total.max(1));
    };
    let snap = match j
        .hypervisor
        .snapshot(link, &request, &mut on_progress, &cancel)
    {
        Ok(s) => s,
        Err(SnapshotFailure::NotRunning(why)) => {
            tracing::debug!(%why, "the VM is not running; its images are read in place");
            return Ok(None);
        }
        Err(SnapshotFailure::Unreachable(f)) => return Err(job_error(f)),
        Err(SnapshotFailure::Snapshot(e)) => {
            report.agent(&e.agent);
            if e.cancelled {
                return Err(rsvault_engine::Error::Cancelled.into());
            }
            return Err(job_error(e.finding));
        }
    };
    report.agent(&snap.agent);
    permille.set(SNAPSHOT_PERMILLE);
    report.snapshot_taken()?;
    let total: u64 = disks.iter().map(|d| d.size).sum();
    let progress = permille.progress(total, SNAPSHOT_PERMILLE);
    let mut recorded = Vec::new();
    let mut committed = Vec::new();
    let mut bag = crate::jobs::PropertyBag::new();
    let (mut read, mut stored) = (0u64, 0u64);
    let r = (|| -> Result<()> {
        for (d, s) in disks.iter().zip(&snap.disks) {
            let img = rsvault_engine::source::qcow2::Qcow2Image::open(&s.target)?;
            let changed = if s.incremental() {
                Some(img.allocated_here()?)
            } else {
                None
            };
            let opts = rsvault_engine::BackupOptions {
                name: format!("{data_id}/{}", key(d)),
                changed_ranges: changed,
                cancel: Some(cancel.clone()),
                ..Default::default()
            };
            let m = rsvault_engine::backup(store, &img, &opts, &progress)?;
            committed.push((m.name.clone(), m.id.clone()));
            read += m.stats.bytes_read;
            stored += m.stats.bytes_stored;
            bag.insert(
                format!("Changed-block tracking ({})", key(d)),
                match &s.full_reason {
                    None => "used".to_owned(),
                    Some(r) => format!("not used: {r}"),
                },
            );
            recorded.push(PointDisk {
                lun: d.lun,
                name: d.name.clone(),
                point: m.id,
                store_name: m.name,
                image: Some(d.path.clone()),
                size: m.size,
                format: d.format.clone(),
                managed: d.managed_id.is_some(),
                snapshot: Some(s.target.clone()),
                base: s.base.clone(),
                bitmap: Some(s.checkpoint.clone()),
                ..Default::default()
            });
        }
        if cancel.load(Ordering::SeqCst) {
            return Err(rsvault_engine::Error::Cancelled.into());
        }
        Ok(())
    })();
    if let Err(e) = r {
        for (name, id) in committed {
            let _ = store.forget(&name, &id);
        }
        // The previous checkpoint still covers every write since the
        // last point; the new one goes.
        let pairs: Vec<_> = snap
            .disks
            .iter()
            .map(|s| DiskCheckpoint {
                image: s.image.clone(),
                checkpoint: s.checkpoint.clone(),
            })
            .collect();
        if let Err(e) = j.hypervisor.discard_checkpoints(link, &pairs) {
            tracing::warn!(error = %e, "could not drop the checkpoints of a failed backup");
        }
        let _ = std::fs::remove_dir_all(dir);
        return Err(e);
    }
    bag.insert("Data Read".into(), format!("{} MB", read.div_ceil(1 << 20)));
    bag.insert(
        "Backup Size".into(),
        format!("{} MB", stored.div_ceil(1 << 20)),
    );
    if let Some(f) = snap.frozen_for {
        bag.insert(
            "File systems frozen for".into(),
            format!("{} ms", f.as_millis()),
        );
    }
    if let AgentState::Ready { version } = &snap.agent {
        bag.insert("Guest agent version".into(), version.clone());
    }
    let warnings: Vec<Finding> = snap
        .warnings
        .into_iter()
        .filter(|w| w.code != finding::CBT_FALLBACK)
        .collect();
    Ok(Some(LiveOutcome {
        consistency: snap.consistency.azure_name(),
        disks: recorded,
        warnings: findings_json(&warnings),
        bag,
    }))
}
