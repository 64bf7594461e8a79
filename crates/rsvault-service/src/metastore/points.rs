//! Recovery points.

use super::MetaResult;
use super::records::{JobUpdate, NewRecoveryPoint, PointRecord};

/// Recovery points.
pub trait PointStore {
    /// Records a backup whose disks are committed, in one transaction: the
    /// recovery point, its item `Protected`, and the job's final state
    /// (`job_update` is given the point's name). Returns the point's name.
    /// On an error nothing is recorded.
    fn commit_backup(
        &self,
        point: &NewRecoveryPoint,
        job_id: &str,
        job_update: &dyn Fn(&str) -> JobUpdate,
    ) -> MetaResult<String>;
    /// A recovery point by name.
    fn find_point(&self, name: &str) -> MetaResult<Option<PointRecord>>;
    /// An item's recovery points, oldest first.
    fn item_points(&self, item: i64) -> MetaResult<Vec<PointRecord>>;
    /// The recovery points of every item of a vault, oldest first.
    fn vault_points(&self, vault: i64) -> MetaResult<Vec<PointRecord>>;
    /// Recovery points in the instant-restore tier, oldest first.
    fn instant_points(&self) -> MetaResult<Vec<PointRecord>>;
    /// Replaces a point's disks.
    fn set_point_disks(&self, id: i64, disks: &str) -> MetaResult<()>;
    /// Takes a point out of the instant tier, with its disks updated.
    fn leave_instant_tier(&self, id: i64, disks: &str) -> MetaResult<()>;
    /// Takes every point of an item out of the instant tier.
    fn clear_item_instant(&self, item: i64) -> MetaResult<()>;
    /// Records what verify found of a point (`damage` `None`: intact);
    /// false when the point is gone.
    fn set_point_verified(&self, id: i64, damage: Option<&str>, verified: &str)
    -> MetaResult<bool>;
    /// Records that the points named are on the vault's secondary store
    /// (those recorded before keep their time); returns how many changed.
    fn set_points_replicated(&self, names: &[String], at: &str) -> MetaResult<usize>;
    /// Deletes an item's point; false when there was none.
    fn delete_point(&self, item: i64, name: &str) -> MetaResult<bool>;
}
