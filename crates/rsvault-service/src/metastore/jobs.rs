//! Jobs and long-running operations.

use super::records::{
    ActiveJobQuery, JobQuery, JobRecord, JobUpdate, NewJob, NewOperation, OperationRecord,
};
use super::{MetaResult, Page, PageRequest};

/// Jobs and operations.
pub trait JobStore {
    /// Records an operation.
    fn insert_operation(&self, op: &NewOperation) -> MetaResult<()>;
    /// An operation of a vault.
    fn find_operation(&self, vault: i64, op_id: &str) -> MetaResult<Option<OperationRecord>>;
    /// Records a job and the operation that names it, in one transaction.
    fn insert_job(&self, job: &NewJob, op: &NewOperation) -> MetaResult<()>;
    /// A job, of one vault when given.
    fn find_job(&self, vault: Option<i64>, job_id: &str) -> MetaResult<Option<JobRecord>>;
    /// Records a job's state (see [`JobUpdate`]); false when there is no
    /// such job.
    fn update_job(&self, job_id: &str, update: &JobUpdate) -> MetaResult<bool>;
    /// Records a running job's tasks and progress.
    fn set_job_tasks(&self, job_id: &str, tasks: &str, progress: f64) -> MetaResult<()>;
    /// Marks a running job `Cancelling`; false when it was not running.
    fn mark_cancelling(&self, job_id: &str) -> MetaResult<bool>;
    /// Sets a job's rsvault extension (JSON).
    fn set_job_extra(&self, job_id: &str, extra: &str) -> MetaResult<()>;
    /// One page of a vault's jobs that match a query, newest first.
    fn list_jobs(
        &self,
        vault: i64,
        query: &JobQuery,
        page: &PageRequest,
    ) -> MetaResult<Page<JobRecord>>;
    /// Running jobs (`InProgress` or `Cancelling`), by id.
    fn active_jobs(&self, query: &ActiveJobQuery) -> MetaResult<Vec<JobRecord>>;
}
