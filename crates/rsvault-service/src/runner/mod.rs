//! The job runner: it owns every background job (backup, restore, verify).
//!
//! A bounded pool of worker threads (`[jobs] workers`) takes jobs from one
//! queue in submission order; a job submitted while every worker is busy
//! waits there, `InProgress` with its first task `NotStarted`, as Azure
//! shows a queued job. Each worker catches a panic at its edge, so a job
//! whose work panics ends Failed (InternalServerError) and the worker and
//! the server go on (see [`job`]).
//!
//! What the store can hold is held there, in the job's row: whether a
//! worker took it up, a cancel request, the progress. A watcher thread
//! ([`watch`]) writes the progress of the jobs running here at a bounded
//! rate and reads the cancel requests of the jobs it knows, whichever
//! server recorded them. The in-memory state here (the queue's closures, a
//! progress and cancel flag per job) is only what cannot live in a
//! database, and a cache of what does.

mod job;
#[cfg(test)]
mod tests;
mod watch;

pub(crate) use job::Job;

use crate::error::{Result, ServiceError};
use crate::jobs::JobProgressHandle;
use crate::metastore::MetaStore;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// How the runner runs jobs (`[jobs]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// Jobs running at once; later ones wait in the queue (at least 1).
    pub workers: usize,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings { workers: 4 }
    }
}

/// Where a job this process knows is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Recorded, not yet submitted.
    Recorded,
    /// In the queue, waiting for a worker.
    Queued,
    /// On a worker.
    Running,
}

/// A job this process knows: its live progress and cancel flag, and the
/// progress last written to the store (per-mille, when).
#[derive(Debug)]
struct Tracked {
    handle: JobProgressHandle,
    stage: Stage,
    written: (u64, std::time::Instant),
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    tracked: HashMap<String, Tracked>,
    /// Worker threads alive.
    workers: usize,
    /// Workers running a job.
    busy: usize,
    /// The pool's bound.
    max: usize,
    watching: bool,
    shutdown: bool,
    /// Numbers the worker threads' names.
    spawned: usize,
}

struct Shared {
    state: Mutex<State>,
    /// Workers wait here for a job.
    work: Condvar,
    /// The watcher waits here between rounds.
    tick: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The job runner of a service.
pub(crate) struct JobRunner {
    shared: Arc<Shared>,
    meta: Arc<dyn MetaStore>,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("JobRunner")
            .field("workers", &st.workers)
            .field("busy", &st.busy)
            .field("max", &st.max)
            .field("queued", &st.queue.len())
            .finish()
    }
}

impl JobRunner {
    /// A runner whose jobs' state lives in `meta`. Its threads start with
    /// the first job.
    pub(crate) fn new(meta: Arc<dyn MetaStore>, settings: JobSettings) -> Self {
        let state = State {
            max: settings.workers.max(1),
            ..Default::default()
        };
        JobRunner {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                work: Condvar::new(),
                tick: Condvar::new(),
            }),
            meta,
        }
    }

    /// Changes the pool's bound: more workers start if jobs wait; extra
    /// ones stop once their job ends.
    pub(crate) fn set_settings(&self, settings: JobSettings) {
        let mut st = self.shared.lock();
        st.max = settings.workers.max(1);
        while st.workers < st.max && st.queue.len() > st.workers - st.busy {
            if let Err(e) = self.start_worker(&mut st) {
                tracing::warn!("could not start a job worker: {e}");
                break;
            }
        }
        self.shared.work.notify_all();
    }

    /// The pool's bound.
    #[cfg(test)]
    pub(crate) fn bound(&self) -> usize {
        self.shared.lock().max
    }

    /// Starts tracking a job just recorded (its live progress and cancel
    /// flag).
    pub(crate) fn track(&self, job: &str, handle: JobProgressHandle) {
        self.shared.lock().tracked.insert(
            job.to_owned(),
            Tracked {
                handle,
                stage: Stage::Recorded,
                written: (0, std::time::Instant::now()),
            },
        );
    }

    /// Stops tracking a job (it ended).
    pub(crate) fn forget(&self, job: &str) {
        self.shared.lock().tracked.remove(job);
    }

    /// A job's live progress and cancel flag, if it runs here.
    pub(crate) fn handle(&self, job: &str) -> Option<JobProgressHandle> {
        self.shared
            .lock()
            .tracked
            .get(job)
            .map(|t| t.handle.clone())
    }

    /// The jobs this process runs or has queued.
    pub(crate) fn job_ids(&self) -> Vec<String> {
        self.shared.lock().tracked.keys().cloned().collect()
    }

    /// Whether a job waits in the queue here.
    #[cfg(test)]
    pub(crate) fn is_queued(&self, job: &str) -> bool {
        self.shared
            .lock()
            .tracked
            .get(job)
            .is_some_and(|t| t.stage == Stage::Queued)
    }

    /// Queues a job; a free worker takes it up, or a new one while the pool
    /// is below its bound. Fails only when no worker can run it at all.
    pub(crate) fn submit(&self, job: Job) -> Result<()> {
        let mut st = self.shared.lock();
        if st.shutdown {
            return Err(ServiceError::Internal(format!(
                "start {} job {}: the service is shutting down",
                job.kind, job.id
            )));
        }
        let handle = job.handle.clone();
        let id = job.id.clone();
        st.tracked
            .entry(id.clone())
            .and_modify(|t| t.stage = Stage::Queued)
            .or_insert_with(|| Tracked {
                handle,
                stage: Stage::Queued,
                written: (0, std::time::Instant::now()),
            });
        st.queue.push_back(job);
        if st.workers < st.max
            && st.queue.len() > st.workers - st.busy
            && let Err(e) = self.start_worker(&mut st)
            && st.workers == 0
        {
            let job = st.queue.pop_back();
            st.tracked.remove(&id);
            drop(st);
            drop(job);
            return Err(ServiceError::Internal(format!(
                "start a worker for job {id}: {e}"
            )));
        }
        if !st.watching {
            match self.start_watcher() {
                Ok(()) => st.watching = true,
                // Jobs still run; cancels recorded elsewhere and progress
                // wait for the next submission to try again.
                Err(e) => tracing::warn!("could not start the job watcher: {e}"),
            }
        }
        drop(st);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Cancels a job this process knows: its flag is set (its worker stops
    /// at its next checkpoint). A job still queued leaves the queue and is
    /// returned, to be ended without running.
    pub(crate) fn cancel(&self, job: &str) -> Option<Job> {
        let mut st = self.shared.lock();
        take_if_cancelled(&mut st, job)
    }

    fn start_worker(&self, st: &mut State) -> std::io::Result<()> {
        let shared = self.shared.clone();
        st.spawned += 1;
        std::thread::Builder::new()
            .name(format!("job-worker-{}", st.spawned))
            .spawn(move || worker(&shared))?;
        st.workers += 1;
        Ok(())
    }

    fn start_watcher(&self) -> std::io::Result<()> {
        // The watcher does not keep the store open once the service is
        // gone (SQLite's exclusive lock would outlive it).
        let (shared, meta) = (self.shared.clone(), Arc::downgrade(&self.meta));
        std::thread::Builder::new()
            .name("job-watcher".into())
            .spawn(move || watch::run(&shared, &meta))?;
        Ok(())
    }
}

impl Drop for JobRunner {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        self.shared.tick.notify_all();
    }
}

/// Sets a known job's cancel flag; takes it out of the queue if it waits
/// there.
fn take_if_cancelled(st: &mut State, job: &str) -> Option<Job> {
    let t = st.tracked.get(job)?;
    t.handle.cancel();
    if t.stage != Stage::Queued {
        return None;
    }
    let at = st.queue.iter().position(|j| j.id == job)?;
    st.tracked.remove(job);
    st.queue.remove(at)
}

/// A worker: takes the queue's next job and runs it, until the runner shuts
/// down or the pool shrinks below it.
fn worker(shared: &Shared) {
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if st.shutdown || st.workers > st.max {
                    st.workers -= 1;
                    return;
                }
                if let Some(job) = st.queue.pop_front() {
                    if let Some(t) = st.tracked.get_mut(&job.id) {
                        t.stage = Stage::Running;
                        t.written = (t.handle.permille(), std::time::Instant::now());
                    }
                    st.busy += 1;
                    break job;
                }
                st = shared.work.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        job.run();
        shared.lock().busy -= 1;
    }
}
