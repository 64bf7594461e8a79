//! One job as the runner holds it, what a worker does with it, and how the
//! service hands jobs to the runner ([`Service::spawn_job`]) and ends one
//! that never started.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::jobs::{JobProgressHandle, JobState};
use rsvault_arm::job::{JobStatus, JobTask};
use serde_json::{Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// A submitted job: its task id (the job id), its kind, the work, and what
/// a panic of the work fails.
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) handle: JobProgressHandle,
    /// The task and entity a panic fails the job on.
    fail_on: (&'static str, String),
    svc: Arc<Service>,
    work: Box<dyn FnOnce() + Send>,
    after_panic: Box<dyn FnOnce(&Service) + Send>,
}

/// What a caught panic said.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

impl Job {
    /// Runs the job on the calling worker: unless its cancellation was
    /// requested meanwhile (here or on another server: it then ends
    /// Cancelled without running), it is recorded as started and its work
    /// runs. A panic of the work ends the job Failed on its task, after
    /// `after_panic` released what the job held.
    pub(crate) fn run(self) {
        let Job {
            id,
            kind,
            handle,
            fail_on: (task, entity),
            svc,
            work,
            after_panic,
        } = self;
        let _span = tracing::info_span!("job", %id, %kind).entered();
        let requested = svc
            .meta
            .cancel_requested(std::slice::from_ref(&id))
            .map(|c| !c.is_empty())
            .unwrap_or_else(|e| {
                tracing::warn!("could not read the job's cancel request: {e}");
                false
            });
        if requested || handle.is_cancelled() {
            handle.cancel();
            tracing::info!("the {kind} job was cancelled before it started");
            if let Err(e) = svc.end_unstarted(&id) {
                tracing::warn!("could not record the cancelled {kind} job: {e}");
            }
            return;
        }
        if let Err(e) = svc.mark_started(&id) {
            tracing::warn!("could not record that the {kind} job started: {e}");
        }
        let e = match catch_unwind(AssertUnwindSafe(work)) {
            // The work records the job's outcome, which forgets the job.
            Ok(()) if svc.runner.handle(&id).is_none() => return,
            Ok(()) => {
                tracing::error!("the {kind} job's worker returned without recording an outcome");
                ServiceError::Internal(format!(
                    "The {kind} job's worker ended without recording an outcome."
                ))
            }
            Err(p) => {
                let msg = panic_message(p.as_ref());
                tracing::error!("the {kind} job's worker panicked: {msg}");
                after_panic(&svc);
                ServiceError::Internal(format!(
                    "The {kind} job's worker stopped unexpectedly ({msg}); nothing partial was kept. The server goes on serving."
                ))
            }
        };
        let _ = svc.finish_job(&id, &JobState::failed(task, &entity, &e, handle.get()));
    }

    /// Ends a job taken out of the queue before it ran: Cancelled.
    pub(crate) fn end_cancelled(self) {
        if let Err(e) = self.svc.end_unstarted(&self.id) {
            tracing::warn!(job = %self.id, "could not record the cancelled {} job: {e}", self.kind);
        }
    }
}

impl Service {
    /// Submits `work` as the worker of `job` (of `kind`: backup, restore,
    /// verify) to the job runner. It runs on one of the pool's workers, at
    /// once or after the jobs queued before it. If it panics, the job ends
    /// Failed on task `task` of `entity`, and `after_panic` runs (to release
    /// what the job held).
    pub(crate) fn spawn_job(
        self: &Arc<Self>,
        kind: &str,
        job: &str,
        (task, entity): (&'static str, String),
        work: impl FnOnce() + Send + 'static,
        after_panic: impl FnOnce(&Service) + Send + 'static,
    ) -> Result<()> {
        let handle = self.runner.handle(job).unwrap_or_default();
        self.runner.submit(Job {
            id: job.to_owned(),
            kind: kind.to_owned(),
            handle,
            fail_on: (task, entity),
            svc: self.clone(),
            work: Box::new(work),
            after_panic: Box::new(after_panic),
        })
    }

    /// Records that a worker took a job up: its first task, `NotStarted`
    /// while the job was queued, is now `InProgress`.
    pub(crate) fn mark_started(&self, job: &str) -> Result<()> {
        let Some(r) = self.meta.find_job(None, job)? else {
            return Ok(());
        };
        let mut tasks: Value = serde_json::from_str(&r.tasks).unwrap_or(json!([]));
        if let Some(first) = tasks.get_mut(0)
            && first["status"] == "NotStarted"
        {
            first["status"] = json!("InProgress");
        }
        self.meta
            .mark_job_started(job, &tasks.to_string(), self.now())?;
        Ok(())
    }

    /// Ends a job that never ran as Cancelled: every task not completed is
    /// cancelled.
    pub(crate) fn end_unstarted(&self, job: &str) -> Result<()> {
        let Some(r) = self.meta.find_job(None, job)? else {
            self.runner.forget(job);
            return Ok(());
        };
        let mut tasks: Vec<JobTask> = serde_json::from_str(&r.tasks).unwrap_or_default();
        for t in &mut tasks {
            if t.status.as_ref().map(JobStatus::as_str) != Some("Completed") {
                t.status = Some(JobStatus::from("Cancelled"));
            }
        }
        let st = JobState {
            status: "Cancelled",
            tasks,
            progress: r.progress,
            bag: serde_json::from_str(&r.bag).unwrap_or_default(),
            errors: Vec::new(),
        };
        self.finish_job(job, &st)
    }
}
