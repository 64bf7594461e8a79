//! The watcher: every round it reads, from the store, the cancel requests
//! of the jobs this process knows (whichever server recorded them) and
//! writes the progress of those running here, at a bounded rate: when it
//! moved by at least 1 %, or at most every few seconds if it moved less.

use super::{Shared, Stage, take_if_cancelled};
use crate::metastore::MetaStore;
use std::sync::Weak;
use std::time::{Duration, Instant};

/// Time between rounds: how long a cancel recorded by another server takes
/// at most to reach the worker.
pub(super) const ROUND: Duration = Duration::from_millis(250);

/// Progress is written when it moved by this much (per-mille)…
const STEP: u64 = 10;

/// …or, if it moved less, once this long has passed since the last write.
const EVERY: Duration = Duration::from_secs(2);

/// Whether a job's progress is due to be written.
fn due(now_permille: u64, written: (u64, Instant), at: Instant) -> bool {
    let (last, when) = written;
    now_permille.abs_diff(last) >= STEP
        || (now_permille != last && at.duration_since(when) >= EVERY)
}

/// Runs rounds until the runner shuts down or the store is gone.
pub(super) fn run(shared: &Shared, meta: &Weak<dyn MetaStore>) {
    loop {
        let known: Vec<String> = {
            let st = shared.lock();
            let (st, _) = shared
                .tick
                .wait_timeout(st, ROUND)
                .unwrap_or_else(|p| p.into_inner());
            if st.shutdown {
                return;
            }
            st.tracked.keys().cloned().collect()
        };
        if known.is_empty() {
            continue;
        }
        let Some(meta) = meta.upgrade() else {
            return;
        };
        cancel_requested(shared, meta.as_ref(), &known);
        write_progress(shared, meta.as_ref());
    }
}

/// Sets the cancel flag of every known job whose cancellation the store
/// records; ends the queued ones without running them.
fn cancel_requested(shared: &Shared, meta: &dyn MetaStore, known: &[String]) {
    let requested = match meta.cancel_requested(known) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("could not read the jobs' cancel requests: {e}");
            return;
        }
    };
    for job in requested {
        let taken = take_if_cancelled(&mut shared.lock(), &job);
        if let Some(j) = taken {
            tracing::info!(%job, "a queued {} job was cancelled", j.kind);
            j.end_cancelled();
        }
    }
}

/// Writes the progress of the running jobs whose progress is due.
fn write_progress(shared: &Shared, meta: &dyn MetaStore) {
    let now = Instant::now();
    let due_jobs: Vec<(String, u64)> = shared
        .lock()
        .tracked
        .iter()
        .filter(|(_, t)| t.stage == Stage::Running)
        .map(|(id, t)| (id.clone(), t.handle.permille(), t.written))
        .filter(|(_, p, w)| due(*p, *w, now))
        .map(|(id, p, _)| (id, p))
        .collect();
    for (job, permille) in due_jobs {
        match meta.set_job_progress(&job, permille as f64 / 10.0) {
            Ok(_) => {
                if let Some(t) = shared.lock().tracked.get_mut(&job) {
                    t.written = (permille, now);
                }
            }
            Err(e) => tracing::warn!(%job, "could not record the job's progress: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_written_by_steps_or_after_a_while() {
        let t0 = Instant::now();
        let soon = t0 + Duration::from_millis(300);
        let later = t0 + EVERY;
        assert!(!due(0, (0, t0), later), "no change, no write");
        assert!(!due(5, (0, t0), soon), "a small change waits");
        assert!(due(5, (0, t0), later), "…until a while has passed");
        assert!(due(10, (0, t0), soon), "1 % is written at once");
        assert!(due(990, (1000, t0), soon), "in either direction");
    }
}
