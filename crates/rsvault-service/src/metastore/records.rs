//! The rows of the metadata store as plain Rust values. JSON documents the
//! service keeps (tags, properties, bodies, task lists, disks) are stored
//! and returned as their JSON text; times as RFC 3339 text.

use crate::inventory::{ResourceRef, VmProvider};
use crate::vault::VaultRef;

/// A stored vault.
#[derive(Debug, Clone, PartialEq)]
pub struct VaultRecord {
    pub id: i64,
    pub vref: VaultRef,
    pub location: String,
    pub sku: String,
    pub tags: String,
    pub properties: String,
    pub redundancy: String,
    pub cross_region_restore: String,
    /// The name of the vault's engine store.
    pub store: String,
    pub created: String,
    /// The vault's own verify schedule (`None`: the server's default).
    pub verify_schedule: Option<String>,
    /// The last scheduled verify time handled.
    pub verify_after: Option<String>,
    /// Geo-redundant storage: the secondary store's URL and region.
    pub secondary: Option<Secondary>,
    /// When replication last brought the secondary up to the primary.
    pub replicated_at: Option<String>,
    /// Why the last replication attempt failed (`None` after a success).
    pub replication_error: Option<String>,
}

/// A vault's secondary store (geo-redundant storage): its URL and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secondary {
    pub store: String,
    pub region: String,
}

/// A vault to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVault {
    pub vref: VaultRef,
    pub location: String,
    pub sku: String,
    pub tags: String,
    pub properties: String,
    pub redundancy: String,
    pub cross_region_restore: String,
    pub store: String,
    pub secondary: Option<Secondary>,
    pub created: String,
}

/// The settable fields of a vault.
#[derive(Debug, Clone, PartialEq)]
pub struct VaultUpdate {
    pub sku: String,
    pub tags: String,
    pub properties: String,
    pub redundancy: String,
    pub cross_region_restore: String,
}

/// A backup policy of a vault.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    pub id: i64,
    pub vault: i64,
    pub name: String,
    pub properties: String,
}

/// A managed disk.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskRecord {
    pub id: i64,
    pub disk: ResourceRef,
    pub location: String,
    pub body: String,
}

/// A managed disk to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDisk {
    pub disk: ResourceRef,
    pub location: String,
    pub body: String,
}

/// A virtual machine.
#[derive(Debug, Clone, PartialEq)]
pub struct VmRecord {
    pub id: i64,
    pub provider: VmProvider,
    pub vm: ResourceRef,
    pub location: String,
    pub vm_id: String,
    pub power_state: String,
    pub body: String,
}

/// A virtual machine to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVm {
    pub provider: VmProvider,
    pub vm: ResourceRef,
    pub location: String,
    pub vm_id: String,
    pub power_state: String,
    pub body: String,
}

/// A resource group that holds something, with one of its locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroupRecord {
    pub name: String,
    pub location: String,
}

/// A protected item (a VM a vault protects).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub id: i64,
    pub vault: i64,
    pub provider: VmProvider,
    pub vm: ResourceRef,
    /// The policy's name; empty once protection is stopped.
    pub policy: String,
    pub state: String,
    pub data_id: String,
    pub created: String,
    /// When soft-deleted data is purged, if it is soft-deleted.
    pub deferred_delete: Option<String>,
    /// The last scheduled backup time handled.
    pub sched_after: Option<String>,
    /// The agent health last recorded (JSON).
    pub health: Option<String>,
}

/// A protected item to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    pub vault: i64,
    pub provider: VmProvider,
    pub vm: ResourceRef,
    pub policy: String,
    pub state: String,
    pub data_id: String,
    pub created: String,
}

/// Which container a protected-item query wants: the VM's name, and the
/// group and provider when the container's full name gave them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerMatch {
    pub provider: Option<VmProvider>,
    pub resource_group: Option<String>,
    pub vm: String,
}

/// The `$filter` of a protected-item or container list, as the store
/// applies it (names compare case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemQuery {
    pub policy: Option<String>,
    pub container: Option<ContainerMatch>,
    /// The VM's name (`friendlyName`).
    pub friendly_name: Option<String>,
}

/// A long-running operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationRecord {
    pub vault: i64,
    pub op_id: String,
    pub status: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub job_id: Option<String>,
}

/// An operation to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOperation {
    pub vault: i64,
    pub op_id: String,
    pub status: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub job_id: Option<String>,
}

/// A job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: i64,
    pub vault: i64,
    pub job_id: String,
    pub operation: String,
    pub status: String,
    pub entity: String,
    pub container: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub user_triggered: bool,
    pub tasks: String,
    pub progress: f64,
    pub bag: String,
    pub errors: String,
    /// The job's rsvault extension (JSON), if any.
    pub extra: Option<String>,
    /// When a worker took the job up; `None` while it waits in the queue.
    pub run_start_time: Option<String>,
    /// When its cancellation was requested, if it was.
    pub cancel_requested_at: Option<String>,
}

/// A job to record. One recorded `InProgress` waits for a worker
/// ([`super::JobStore::mark_job_started`]); one recorded in another status
/// started as it was recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub vault: i64,
    pub job_id: String,
    pub operation: String,
    pub status: String,
    pub entity: String,
    pub container: String,
    pub start: jiff::Timestamp,
    pub end: Option<jiff::Timestamp>,
    pub user_triggered: bool,
    pub tasks: String,
    pub progress: f64,
    pub bag: String,
    pub errors: String,
}

/// A job's new state. A status other than `InProgress` ends the job at
/// `end`; a job being cancelled stays `Cancelling` while it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobUpdate {
    pub status: String,
    pub tasks: String,
    pub progress: f64,
    pub bag: String,
    pub errors: String,
    pub end: jiff::Timestamp,
}

/// The `$filter` of a job list, as the store applies it: values compare
/// case-insensitively, times bound the start time (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobQuery {
    pub operation: Option<String>,
    pub status: Option<String>,
    /// Jobs whose status the service knows better than the database (an
    /// outcome a full disk did not take yet): the status filter matches
    /// these ids by the status given here.
    pub status_overrides: Vec<(String, String)>,
    pub start_from: Option<jiff::Timestamp>,
    pub start_to: Option<jiff::Timestamp>,
    /// The job's container (`containerName`), case-insensitively.
    pub container: Option<String>,
}

/// Running jobs (`InProgress` or `Cancelling`) to find.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActiveJobQuery {
    pub vault: Option<i64>,
    /// The job's container, case-insensitively.
    pub container: Option<String>,
    /// Any of these operations; all when empty.
    pub operations: Vec<String>,
}

/// A recovery point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointRecord {
    pub id: i64,
    pub item: i64,
    pub name: String,
    pub time: String,
    pub consistency: String,
    pub expiry: Option<String>,
    /// The engine points of its disks (JSON).
    pub disks: String,
    /// Until when its snapshots are kept (the instant-restore tier).
    pub instant_until: Option<String>,
    /// What verify found damaged, if it did.
    pub damage: Option<String>,
    /// When verify last judged the point.
    pub verified: Option<String>,
    /// When every disk of the point was on the vault's secondary store.
    pub replicated: Option<String>,
}

/// A protected item with what a view of it shows besides its row, read
/// with it ([`super::ItemStore::list_item_overviews`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemOverview {
    pub item: ItemRecord,
    pub points: PointSummary,
    /// Its newest Backup job (in its container, `<kind>;<group>;<vm>`
    /// with its provider's `VmProvider::container_kind`).
    pub last_backup: Option<LastJob>,
    /// The policy it names, if that exists.
    pub policy: Option<PolicyRecord>,
}

/// What an item's recovery points come to, without reading them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PointSummary {
    /// How many points the item has.
    pub count: u64,
    /// The time of its newest point.
    pub latest: Option<String>,
    /// The names of its points verify found damaged, oldest first.
    pub damaged: Vec<String>,
}

/// A job as an item's overview shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastJob {
    pub job_id: String,
    pub status: String,
    pub start_time: String,
}

/// A recovery point to record. Its name is the start time in
/// microseconds, made unique if two backups started at once.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecoveryPoint {
    pub item: i64,
    pub started: jiff::Timestamp,
    pub consistency: String,
    pub expiry: Option<jiff::Timestamp>,
    pub disks: String,
    pub instant_until: Option<jiff::Timestamp>,
}
