//! The Take Snapshot task of a running VM.
//!
//! 1. Find each disk's node in the running QEMU and decide, per disk,
//!    whether its dirty bitmap can drive an incremental snapshot.
//! 2. Create the snapshot files (qcow2; an incremental one is an overlay on
//!    the previous snapshot) and attach them as block nodes.
//! 3. Run the guest's pre-script, freeze the guest's file systems.
//! 4. One QMP transaction: per disk, a new persistent dirty bitmap (the
//!    next backup's changed-block list) and a `blockdev-backup` job whose
//!    point in time is this instant (copy-before-write keeps it while the
//!    guest goes on writing).
//! 5. Thaw at once (and on every path: errors, timeouts, cancellation),
//!    run the post-script.
//! 6. Wait for the backup jobs to fill the snapshot files; detach them.
//!
//! The previous point's bitmap is kept (`bitmap-mode: never`): it is retired
//! only once the new recovery point is committed ([`crate::bitmaps`]), so a
//! failed transfer leaves changed-block tracking intact.

use crate::agent::{self, GuestAgent, QemuAgent};
use crate::error::HvError;
use crate::finding::{self, Finding};
use crate::port::{
    AgentState, Base, Consistency, DiskRequest, DiskSnapshot, Snapshot, SnapshotError,
    SnapshotSettings as Settings,
};
use crate::qmp::{self, BlockNode, Monitor};
use crate::scripts::{self, Phase};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The bitmaps rsvault owns start with this.
pub const BITMAP_PREFIX: &str = crate::port::CHECKPOINT_PREFIX;
/// Bitmap granularity: one bit per 64 KiB, the engine's chunk size.
pub const GRANULARITY: u64 = crate::port::GRANULARITY;

/// A link to the guest agent.
pub enum AgentLink {
    NotConfigured,
    Unreachable(String),
    Connected(Box<dyn GuestAgent>),
}

impl AgentLink {
    /// Connects to qemu-ga at `socket`, if one is configured.
    pub fn connect(socket: Option<&Path>, timeout: Duration) -> Self {
        match socket {
            None => AgentLink::NotConfigured,
            Some(p) => match QemuAgent::connect(p, timeout) {
                Ok(a) => AgentLink::Connected(Box::new(a)),
                Err(e) => AgentLink::Unreachable(e.to_string()),
            },
        }
    }
}

fn fail(code: &'static str, msg: impl Into<String>, rec: &str) -> SnapshotError {
    SnapshotError {
        finding: Finding::new(code, msg, rec),
        cancelled: false,
        agent: AgentState::NotConfigured,
    }
}

const QEMU_REC: &str =
    "Check that the VM is running and its QMP socket answers, then run Backup now again.";

/// Decides whether `base` can drive an incremental snapshot of `node`.
fn plan_incremental(
    node: &BlockNode,
    base: Option<&Base>,
    no_base_reason: Option<&str>,
) -> (Option<PathBuf>, Option<String>) {
    let Some(b) = base else {
        let why = no_base_reason.unwrap_or("first backup of this disk");
        return (None, Some(why.to_owned()));
    };
    let Some(bm) = node.bitmaps.iter().find(|x| x.name == b.checkpoint) else {
        return (
            None,
            Some(format!(
                "dirty bitmap {} is missing (QEMU stopped without saving it, it was removed, the VM runs from another copy of its disk, or the disk is raw and QEMU restarted)",
                b.checkpoint
            )),
        );
    };
    if bm.inconsistent {
        return (
            None,
            Some(format!(
                "dirty bitmap {} is inconsistent: QEMU stopped without saving it, so it may miss writes",
                b.checkpoint
            )),
        );
    }
    if !bm.recording || bm.busy {
        return (
            None,
            Some(format!("dirty bitmap {} is not recording", b.checkpoint)),
        );
    }
    if bm.granularity == 0 || bm.granularity > GRANULARITY {
        return (
            None,
            Some(format!(
                "dirty bitmap {} has granularity {} (64 KiB or finer is needed)",
                b.checkpoint, bm.granularity
            )),
        );
    }
    if !b.snapshot.is_file() {
        return (
            None,
            Some("the previous snapshot left the instant-restore tier".into()),
        );
    }
    (Some(b.snapshot.clone()), None)
}

fn qemu_img_create(target: &Path, size: u64, base: Option<&Path>) -> Result<(), String> {
    let mut c = Command::new("qemu-img");
    c.args(["create", "-q", "-f", "qcow2", "-o", "cluster_size=65536"]);
    if let Some(b) = base {
        c.arg("-b").arg(b).args(["-F", "qcow2"]);
    }
    c.arg(target).arg(size.to_string());
    let out = c
        .output()
        .map_err(|e| format!("cannot run qemu-img: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "qemu-img create {}: {}",
            target.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// What has been set up in QEMU and on disk, undone on failure.
#[derive(Default)]
struct Undo {
    files: Vec<PathBuf>,
    nodes: Vec<String>,
    bitmaps: Vec<(String, String)>,
    jobs: Vec<String>,
}

impl Undo {
    fn run(&self, m: &mut dyn Monitor) {
        for j in &self.jobs {
            let _ = m.execute("job-cancel", json!({"id": j}));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for j in &self.jobs {
            while Instant::now() < deadline {
                match m.execute("job-dismiss", json!({"id": j})) {
                    Ok(_) => break,
                    Err(HvError::Command { desc, .. }) if desc.contains("not found") => break,
                    Err(HvError::Command { .. }) => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(_) => break,
                }
            }
        }
        for n in &self.nodes {
            let _ = m.execute("blockdev-del", json!({"node-name": n}));
        }
        for (node, name) in &self.bitmaps {
            let _ = m.execute(
                "block-dirty-bitmap-remove",
                json!({"node": node, "name": name}),
            );
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// A short tag for node and job names (letters and digits of the bitmap
/// name's end).
fn tag_of(bitmap: &str) -> String {
    let t: String = bitmap.chars().filter(char::is_ascii_alphanumeric).collect();
    t[t.len().saturating_sub(12)..].to_owned()
}

/// Takes a snapshot of every disk of a running VM. `progress` is told
/// (done, total) bytes of the snapshot copy.
pub fn take(
    m: &mut dyn Monitor,
    agent_link: AgentLink,
    disks: &[DiskRequest],
    s: &Settings,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<Snapshot, SnapshotError> {
    let mut undo = Undo::default();
    let r = take_inner(m, agent_link, disks, s, progress, cancel, &mut undo);
    if r.is_err() {
        undo.run(m);
    }
    r
}

/// One disk's plan: the request, its block node, the snapshot file the copy
/// builds on (if incremental) and why it is not incremental (if not).
struct Planned<'a> {
    disk: &'a DiskRequest,
    node: BlockNode,
    base: Option<PathBuf>,
    full_reason: Option<String>,
}

fn take_inner(
    m: &mut dyn Monitor,
    agent_link: AgentLink,
    disks: &[DiskRequest],
    s: &Settings,
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
    undo: &mut Undo,
) -> Result<Snapshot, SnapshotError> {
    // 1. Plan.
    let planned = plan(m, disks)?;
    // 2. Snapshot files, attached as nodes.
    let tag = tag_of(
        disks
            .first()
            .map(|d| d.new_checkpoint.as_str())
            .unwrap_or(""),
    );
    attach_targets(m, &planned, &tag, undo)?;
    // 3. Agent: pre-script, freeze.
    let mut guest = Guest::connect(agent_link, s);
    guest.load_scripts();
    guest.pre_script()?;
    if cancel.load(Ordering::SeqCst) {
        return Err(SnapshotError {
            finding: Finding::new("Cancelled", "The backup was cancelled.", ""),
            cancelled: true,
            agent: guest.state.clone(),
        });
    }
    guest.freeze(s);
    // 4. The transaction.
    let tx = m.execute(
        "transaction",
        json!({"actions": transaction_actions(&planned, &tag, s)}),
    );
    // 5. Thaw at once, whatever happened.
    let frozen_for = guest.thaw(s);
    if let Err(e) = tx {
        return Err(guest.failed(fail(
            finding::SNAPSHOT_FAILED,
            format!("QEMU refused the snapshot transaction: {e}"),
            QEMU_REC,
        )));
    }
    for (i, p) in planned.iter().enumerate() {
        undo.jobs.push(format!("rsv{tag}j{i}"));
        undo.bitmaps
            .push((p.node.node.clone(), p.disk.new_checkpoint.clone()));
    }
    let consistency = guest.post_script()?;
    // 6. Wait for the copies.
    wait_jobs(m, &undo.jobs.clone(), progress, cancel).map_err(|e| guest.failed(e))?;
    detach_targets(m, undo).map_err(|e| guest.failed(e))?;
    let mut warnings = std::mem::take(&mut guest.warnings);
    let disks = planned
        .into_iter()
        .map(|p| finished(p, &mut warnings))
        .collect();
    Ok(Snapshot {
        consistency,
        warnings,
        agent: guest.state,
        disks,
        frozen_for,
    })
}

/// Finds each disk's block node and decides full or incremental.
fn plan<'a>(
    m: &mut dyn Monitor,
    disks: &'a [DiskRequest],
) -> Result<Vec<Planned<'a>>, SnapshotError> {
    let nodes = qmp::block_nodes(m).map_err(|e| {
        fail(
            finding::SNAPSHOT_FAILED,
            format!("Cannot list the VM's disks: {e}"),
            QEMU_REC,
        )
    })?;
    let mut planned = Vec::new();
    for d in disks {
        let node = qmp::node_for_image(&nodes, &d.image).ok_or_else(|| {
            fail(
                finding::DISK_NOT_ATTACHED,
                format!(
                    "The running VM has no disk with image {} (QEMU must be given the image's absolute path).",
                    d.image.display()
                ),
                "Attach the VM's disks to QEMU under the paths the VM's storage profile names, or update the VM.",
            )
        })?;
        // Bitmaps QEMU could not trust are of no use to anyone.
        for b in &node.bitmaps {
            if b.inconsistent && b.name.starts_with(BITMAP_PREFIX) {
                let _ = m.execute(
                    "block-dirty-bitmap-remove",
                    json!({"node": node.node, "name": b.name}),
                );
            }
        }
        let (base, full_reason) =
            plan_incremental(node, d.base.as_ref(), d.no_base_reason.as_deref());
        planned.push(Planned {
            disk: d,
            node: node.clone(),
            base,
            full_reason,
        });
    }
    Ok(planned)
}

/// Creates each disk's snapshot file and attaches it to QEMU as a node.
fn attach_targets(
    m: &mut dyn Monitor,
    planned: &[Planned<'_>],
    tag: &str,
    undo: &mut Undo,
) -> Result<(), SnapshotError> {
    const SPACE_REC: &str = "Check the rsvault data directory's free space and permissions.";
    for (i, p) in planned.iter().enumerate() {
        let target = &p.disk.target;
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                fail(
                    finding::SNAPSHOT_FAILED,
                    format!("Cannot create {}: {e}", dir.display()),
                    SPACE_REC,
                )
            })?;
        }
        qemu_img_create(target, p.node.virtual_size, p.base.as_deref())
            .map_err(|e| fail(finding::SNAPSHOT_FAILED, e, SPACE_REC))?;
        undo.files.push(target.clone());
        let name = format!("rsv{tag}t{i}");
        m.execute(
            "blockdev-add",
            json!({"driver": "qcow2", "node-name": name, "file": {"driver": "file", "filename": target}}),
        )
        .map_err(|e| fail(finding::SNAPSHOT_FAILED, format!("Cannot attach the snapshot file: {e}"), QEMU_REC))?;
        undo.nodes.push(name);
    }
    Ok(())
}

/// The one QMP transaction: a new bitmap and a point-in-time copy per disk.
fn transaction_actions(planned: &[Planned<'_>], tag: &str, s: &Settings) -> Vec<Value> {
    let mut actions = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        actions.push(json!({"type": "block-dirty-bitmap-add", "data": {
            "node": p.node.node, "name": p.disk.new_checkpoint, "granularity": GRANULARITY,
            "persistent": p.node.driver == "qcow2"}}));
        let mut backup = json!({"job-id": format!("rsv{tag}j{i}"), "device": p.node.node,
            "target": format!("rsv{tag}t{i}"), "auto-dismiss": false});
        if p.base.is_some() {
            let b = p.disk.base.as_ref().map(|b| b.checkpoint.as_str());
            backup["sync"] = json!("bitmap");
            backup["bitmap"] = json!(b.unwrap_or_default());
            backup["bitmap-mode"] = json!("never");
        } else {
            backup["sync"] = json!("full");
        }
        if let Some(speed) = s.rate_limit {
            backup["speed"] = json!(speed);
        }
        actions.push(json!({"type": "blockdev-backup", "data": backup}));
    }
    actions
}

/// Dismisses the finished copy jobs and detaches the snapshot files.
fn detach_targets(m: &mut dyn Monitor, undo: &mut Undo) -> Result<(), SnapshotError> {
    for j in &undo.jobs {
        let _ = m.execute("job-dismiss", json!({"id": j}));
    }
    undo.jobs.clear();
    for n in std::mem::take(&mut undo.nodes) {
        m.execute("blockdev-del", json!({"node-name": n}))
            .map_err(|e| {
                fail(
                    finding::SNAPSHOT_FAILED,
                    format!("Cannot detach the snapshot file: {e}"),
                    QEMU_REC,
                )
            })?;
    }
    Ok(())
}

/// A disk's snapshot once its copy is done: durable, with a finding when it
/// was read in full.
fn finished(p: Planned<'_>, warnings: &mut Vec<Finding>) -> DiskSnapshot {
    let d = p.disk;
    // QEMU flushed on detach; make it durable before the transfer.
    if let Ok(f) = std::fs::File::open(&d.target) {
        let _ = f.sync_all();
    }
    if let Some(r) = &p.full_reason {
        warnings.push(Finding::cbt_fallback(&d.image, r, "bitmap"));
    }
    DiskSnapshot {
        image: d.image.clone(),
        target: d.target.clone(),
        base: p.base,
        checkpoint: d.new_checkpoint.clone(),
        full_reason: p.full_reason,
    }
}

/// The guest's side of a snapshot: the agent, the pre/post scripts and the
/// freeze, and what they found.
struct Guest {
    agent: Option<Box<dyn GuestAgent>>,
    state: AgentState,
    config: Option<scripts::ScriptConfig>,
    warnings: Vec<Finding>,
    /// A failed pre-script (with continueBackupOnFailure) made the point
    /// crash-consistent.
    crash_forced: bool,
    scripts_ok: bool,
    freeze_wanted: bool,
    frozen: bool,
    /// The agent did not answer a freeze or thaw in time.
    hung: bool,
    freeze_started: Option<Instant>,
}

impl Guest {
    fn connect(link: AgentLink, s: &Settings) -> Guest {
        let mut warnings = Vec::new();
        let mut agent = None;
        let unavailable = |msg: String| {
            Finding::new(
                finding::AGENT_UNAVAILABLE,
                msg,
                finding::AGENT_RECOMMENDATION,
            )
        };
        let state = match link {
            AgentLink::NotConfigured => {
                warnings.push(unavailable(
                    "The VM names no guest agent socket, so the snapshot is crash-consistent."
                        .into(),
                ));
                AgentState::NotConfigured
            }
            AgentLink::Unreachable(why) => {
                warnings.push(unavailable(format!(
                    "The guest agent did not answer ({why}), so the snapshot is crash-consistent."
                )));
                AgentState::Unreachable(why)
            }
            AgentLink::Connected(mut a) => match agent::info(a.as_mut(), s.agent_timeout) {
                Ok(i) => {
                    agent = Some(a);
                    AgentState::Ready { version: i.version }
                }
                Err(e) => {
                    warnings.push(unavailable(format!(
                        "The guest agent did not answer guest-info ({e}), so the snapshot is crash-consistent."
                    )));
                    AgentState::Unreachable(e.to_string())
                }
            },
        };
        Guest {
            agent,
            state,
            config: None,
            warnings,
            crash_forced: false,
            scripts_ok: false,
            freeze_wanted: false,
            frozen: false,
            hung: false,
            freeze_started: None,
        }
    }

    /// An error of the snapshot, with the agent's state.
    fn failed(&self, e: SnapshotError) -> SnapshotError {
        SnapshotError {
            agent: self.state.clone(),
            ..e
        }
    }

    /// Reads the guest's pre/post script configuration, if any.
    fn load_scripts(&mut self) {
        let Some(a) = self.agent.as_mut() else {
            return;
        };
        match scripts::load(a.as_mut()) {
            Ok(None) => {}
            Ok(Some(Ok(c))) => self.config = Some(c),
            Ok(Some(Err(why))) => self.warnings.push(Finding::new(
                finding::SCRIPT_CONFIG_INVALID,
                format!("The pre/post script configuration is not used: {why}"),
                "Fix /etc/azure/VMSnapshotScriptPluginConfig.json in the guest (see docs/LIVE-VMS.md).",
            )),
            Err(e) => self.warnings.push(Finding::new(
                finding::SCRIPT_CONFIG_INVALID,
                format!("Cannot read {} through the guest agent: {e}", scripts::CONFIG_PATH),
                "Allow guest-file-open and guest-file-read in qemu-ga.",
            )),
        }
    }

    /// Runs the pre-script; an error when it failed and the configuration
    /// says not to back up without it.
    fn pre_script(&mut self) -> Result<(), SnapshotError> {
        if let (Some(a), Some(c)) = (self.agent.as_mut(), self.config.as_ref()) {
            match scripts::run(a.as_mut(), c, Phase::Pre) {
                Ok(Ok(())) => self.scripts_ok = true,
                Ok(Err(why)) if c.continue_backup_on_failure => {
                    self.warnings.push(Finding::new(
                        finding::PRE_SCRIPT_FAILED,
                        format!("{why}; continueBackupOnFailure is set, so the snapshot is crash-consistent."),
                        "Fix the pre-script, then check it by running it in the guest.",
                    ));
                    self.crash_forced = true;
                }
                Ok(Err(why)) => {
                    return Err(self.failed(fail(
                        finding::PRE_SCRIPT_FAILED,
                        format!(
                            "{why}; continueBackupOnFailure is not set, so no snapshot was taken."
                        ),
                        "Fix the pre-script, or set continueBackupOnFailure to back up without it.",
                    )));
                }
                Err(e) => {
                    self.warnings.push(Finding::new(
                        finding::PRE_SCRIPT_FAILED,
                        format!("The pre-script could not be run through the guest agent ({e}); the snapshot is crash-consistent."),
                        "Allow guest-exec and guest-exec-status in qemu-ga.",
                    ));
                    self.crash_forced = true;
                }
            }
        }
        self.freeze_wanted =
            !self.crash_forced && self.config.as_ref().is_none_or(|c| c.fs_freeze_enabled);
        Ok(())
    }

    /// Freezes the guest's file systems, if wanted and possible.
    fn freeze(&mut self, s: &Settings) {
        if !self.freeze_wanted {
            return;
        }
        let Some(a) = self.agent.as_mut() else {
            return;
        };
        self.freeze_started = Some(Instant::now());
        match agent::freeze(a.as_mut(), s.freeze_timeout) {
            Ok(_) => self.frozen = true,
            Err(e) if e.is_timeout() => {
                self.hung = true;
                self.warnings.push(Finding::new(
                    finding::FREEZE_TIMEOUT,
                    format!(
                        "guest-fsfreeze-freeze did not answer within {} s; the snapshot is crash-consistent and the guest is sent a thaw.",
                        s.freeze_timeout.as_secs()
                    ),
                    "Check the guest's fsfreeze hooks and qemu-ga; a hook that blocks holds up the freeze.",
                ));
            }
            Err(e) => {
                self.warnings.push(Finding::new(
                    finding::FREEZE_FAILED,
                    format!("Freezing the guest's file systems failed ({e}); the snapshot is crash-consistent."),
                    "Check the guest's mounts and fsfreeze hooks (qemu-ga's log names the failing one).",
                ));
                // qemu-ga thaws what it froze when a freeze fails; thaw
                // again to be sure.
                let _ = agent::thaw(a.as_mut(), s.agent_timeout);
            }
        }
    }

    /// Thaws what was frozen; how long the file systems were frozen. A hung
    /// agent is handed to a thread that thaws when it answers.
    fn thaw(&mut self, s: &Settings) -> Option<Duration> {
        let mut frozen_for = None;
        if self.frozen
            && let Some(a) = self.agent.as_mut()
        {
            match agent::thaw(a.as_mut(), s.agent_timeout) {
                Ok(_) => frozen_for = self.freeze_started.map(|t| t.elapsed()),
                Err(e) => {
                    self.hung = true;
                    self.warnings.push(Finding::new(
                        finding::THAW_FAILED,
                        format!("guest-fsfreeze-thaw failed ({e}); it is retried in the background."),
                        "Check qemu-ga in the guest; run 'fsfreeze -u' on frozen mounts if the guest stays frozen.",
                    ));
                }
            }
        }
        if self.hung
            && let Some(mut a) = self.agent.take()
        {
            // The agent is busy with the late freeze (or thaw): hand it to a
            // thread that waits for it and then thaws, so the guest is never
            // left frozen.
            let grace = s.thaw_grace;
            std::thread::Builder::new()
                .name("rsvault-thaw".into())
                .spawn(move || match agent::thaw(a.as_mut(), grace) {
                    Ok(n) => tracing::info!(thawed = n, "late thaw of a hung guest agent done"),
                    Err(e) => tracing::error!(error = %e, "a hung guest agent never took the thaw"),
                })
                .ok();
        }
        frozen_for
    }

    /// Runs the post-script after a pre-script that ran; the consistency
    /// the point has.
    fn post_script(&mut self) -> Result<Consistency, SnapshotError> {
        let mut consistency = Consistency::judge(
            self.crash_forced,
            self.scripts_ok,
            self.freeze_wanted,
            self.frozen,
        );
        if self.hung || !self.scripts_ok {
            return Ok(consistency);
        }
        let (Some(a), Some(c)) = (self.agent.as_mut(), self.config.as_ref()) else {
            return Ok(consistency);
        };
        match scripts::run(a.as_mut(), c, Phase::Post) {
            Ok(Ok(())) => {}
            Ok(Err(why)) if c.continue_backup_on_failure => {
                self.warnings.push(Finding::new(
                    finding::POST_SCRIPT_FAILED,
                    format!("{why}; continueBackupOnFailure is set, so the point is kept as crash-consistent."),
                    "Fix the post-script, then check it by running it in the guest.",
                ));
                consistency = Consistency::Crash;
            }
            Ok(Err(why)) => {
                return Err(self.failed(fail(
                    finding::POST_SCRIPT_FAILED,
                    format!(
                        "{why}; continueBackupOnFailure is not set, so the snapshot was discarded."
                    ),
                    "Fix the post-script, or set continueBackupOnFailure.",
                )));
            }
            Err(e) => {
                self.warnings.push(Finding::new(
                    finding::POST_SCRIPT_FAILED,
                    format!("The post-script could not be run through the guest agent ({e})."),
                    "Allow guest-exec and guest-exec-status in qemu-ga.",
                ));
                consistency = Consistency::Crash;
            }
        }
        Ok(consistency)
    }
}

fn wait_jobs(
    m: &mut dyn Monitor,
    jobs: &[String],
    progress: &mut dyn FnMut(u64, u64),
    cancel: &AtomicBool,
) -> Result<(), SnapshotError> {
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err(SnapshotError {
                finding: Finding::new("Cancelled", "The backup was cancelled.", ""),
                cancelled: true,
                agent: AgentState::NotConfigured,
            });
        }
        let r = m.execute("query-jobs", json!({})).map_err(|e| {
            fail(
                finding::SNAPSHOT_FAILED,
                match e {
                    HvError::Closed(_) => "The VM stopped while its snapshot was taken.".to_owned(),
                    e => format!("Lost QEMU while the snapshot was taken: {e}"),
                },
                QEMU_REC,
            )
        })?;
        let mine: Vec<&Value> = r
            .as_array()
            .into_iter()
            .flatten()
            .filter(|j| {
                j["id"]
                    .as_str()
                    .is_some_and(|id| jobs.iter().any(|x| x == id))
            })
            .collect();
        if mine.len() != jobs.len() {
            return Err(fail(
                finding::SNAPSHOT_FAILED,
                "A snapshot job vanished from QEMU.",
                QEMU_REC,
            ));
        }
        let done: u64 = mine
            .iter()
            .filter_map(|j| j["current-progress"].as_u64())
            .sum();
        let total: u64 = mine
            .iter()
            .filter_map(|j| j["total-progress"].as_u64())
            .sum();
        progress(done, total);
        if let Some(e) = mine.iter().find_map(|j| j["error"].as_str()) {
            return Err(fail(
                finding::SNAPSHOT_FAILED,
                format!("QEMU's snapshot job failed: {e}"),
                QEMU_REC,
            ));
        }
        if mine.iter().all(|j| j["status"] == "concluded") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qmp::BitmapInfo;

    #[test]
    fn consistency_table() {
        use Consistency::*;
        // (crash_forced, scripts_ok, freeze_wanted, frozen) -> consistency
        let table = [
            ((false, true, true, true), Application),
            ((false, true, false, false), Application),
            ((false, true, true, false), Crash),
            ((false, false, true, true), FileSystem),
            ((false, false, true, false), Crash),
            ((false, false, false, false), Crash),
            ((true, true, true, true), Crash),
            ((true, false, false, false), Crash),
        ];
        for ((c, s, w, f), want) in table {
            assert_eq!(Consistency::judge(c, s, w, f), want, "{c} {s} {w} {f}");
        }
    }

    fn node(bitmaps: Vec<BitmapInfo>) -> BlockNode {
        BlockNode {
            node: "n".into(),
            file: "/x".into(),
            driver: "qcow2".into(),
            virtual_size: 1 << 20,
            bitmaps,
        }
    }

    fn bm(name: &str) -> BitmapInfo {
        BitmapInfo {
            name: name.into(),
            granularity: 65536,
            recording: true,
            persistent: true,
            busy: false,
            inconsistent: false,
            count: 0,
        }
    }

    #[test]
    fn incremental_only_from_a_trusted_bitmap_and_a_present_snapshot() {
        let d = tempfile::tempdir().unwrap();
        let snap = d.path().join("prev.qcow2");
        std::fs::write(&snap, b"x").unwrap();
        let base = Base {
            checkpoint: "rsvault-a".into(),
            snapshot: snap.clone(),
        };
        let ok = plan_incremental(&node(vec![bm("rsvault-a")]), Some(&base), None);
        assert_eq!(ok, (Some(snap.clone()), None));
        let cases: Vec<(BlockNode, Option<&Base>, &str)> = vec![
            (node(vec![bm("rsvault-a")]), None, "first backup"),
            (node(vec![bm("rsvault-b")]), Some(&base), "missing"),
            (
                node(vec![BitmapInfo {
                    inconsistent: true,
                    ..bm("rsvault-a")
                }]),
                Some(&base),
                "inconsistent",
            ),
            (
                node(vec![BitmapInfo {
                    recording: false,
                    ..bm("rsvault-a")
                }]),
                Some(&base),
                "not recording",
            ),
            (
                node(vec![BitmapInfo {
                    granularity: 1 << 20,
                    ..bm("rsvault-a")
                }]),
                Some(&base),
                "granularity",
            ),
        ];
        for (n, b, why) in cases {
            let (inc, reason) = plan_incremental(&n, b, None);
            assert!(
                inc.is_none() && reason.as_deref().is_some_and(|r| r.contains(why)),
                "{why}: {reason:?}"
            );
        }
        std::fs::remove_file(&snap).unwrap();
        let (inc, reason) = plan_incremental(&node(vec![bm("rsvault-a")]), Some(&base), None);
        assert!(inc.is_none() && reason.unwrap().contains("instant-restore tier"));
    }

    /// A monitor whose transaction fails; it records every command.
    struct FailingTx {
        image: PathBuf,
        log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Monitor for FailingTx {
        fn execute(&mut self, command: &str, _args: Value) -> crate::Result<Value> {
            self.log.lock().unwrap().push(command.to_owned());
            match command {
                "query-block" => Ok(json!([{"device": "drive0", "inserted": {
                    "node-name": "disk0", "file": self.image, "drv": "qcow2",
                    "image": {"virtual-size": 1 << 20}}}])),
                "transaction" => Err(HvError::Command {
                    command: command.into(),
                    class: "GenericError".into(),
                    desc: "injected".into(),
                }),
                _ => Ok(json!({})),
            }
        }
    }

    /// An agent that freezes and thaws; it records every command.
    struct Agent(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl GuestAgent for Agent {
        fn call(&mut self, command: &str, _args: Value, _t: Duration) -> crate::Result<Value> {
            self.0.lock().unwrap().push(command.to_owned());
            match command {
                "guest-info" => Ok(json!({"version": "9.9"})),
                "guest-file-open" => Err(HvError::Command {
                    command: command.into(),
                    class: "GenericError".into(),
                    desc: "No such file or directory".into(),
                }),
                _ => Ok(json!(1)),
            }
        }
    }

    #[test]
    fn a_failed_transaction_after_the_freeze_still_thaws_and_undoes_everything() {
        let d = tempfile::tempdir().unwrap();
        let image = d.path().join("disk.qcow2");
        std::fs::write(&image, b"").unwrap();
        let target = d.path().join("snap/os.qcow2");
        let qlog = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let alog = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut m = FailingTx {
            image: image.clone(),
            log: qlog.clone(),
        };
        let req = DiskRequest {
            image,
            target: target.clone(),
            base: None,
            new_checkpoint: "rsvault-t1".into(),
            no_base_reason: None,
        };
        let e = take(
            &mut m,
            AgentLink::Connected(Box::new(Agent(alog.clone()))),
            &[req],
            &Settings::default(),
            &mut |_, _| {},
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert_eq!(e.finding.code, finding::SNAPSHOT_FAILED);
        assert_eq!(
            e.agent,
            AgentState::Ready {
                version: "9.9".into()
            }
        );
        let a = alog.lock().unwrap().clone();
        let f = a
            .iter()
            .position(|c| c == "guest-fsfreeze-freeze")
            .expect("froze");
        assert!(
            a[f..].iter().any(|c| c == "guest-fsfreeze-thaw"),
            "thawed after the freeze: {a:?}"
        );
        let q = qlog.lock().unwrap().clone();
        assert!(
            q.iter().any(|c| c == "blockdev-del"),
            "the snapshot node is detached: {q:?}"
        );
        assert!(!target.exists(), "the snapshot file is removed");
    }
}
