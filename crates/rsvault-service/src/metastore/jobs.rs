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
    /// Records a request to cancel a running job and marks it `Cancelling`
    /// (the first request's time is kept); false when it was not running.
    /// Whichever server runs the job sees the request
    /// ([`JobStore::cancel_requested`]).
    fn request_cancel(&self, job_id: &str, at: jiff::Timestamp) -> MetaResult<bool>;
    /// Of these jobs, the running ones whose cancellation was requested.
    fn cancel_requested(&self, job_ids: &[String]) -> MetaResult<Vec<String>>;
    /// Records that a worker took up a running job that waited in the
    /// queue, with its tasks as it starts; false when it no longer runs.
    fn mark_job_started(&self, job_id: &str, tasks: &str, at: jiff::Timestamp) -> MetaResult<bool>;
    /// Records a running job's progress (percent); false when it no longer
    /// runs (a late write never changes an ended job).
    fn set_job_progress(&self, job_id: &str, progress: f64) -> MetaResult<bool>;
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
