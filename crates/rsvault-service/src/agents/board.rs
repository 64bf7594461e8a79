//! The task board: backups waiting for, or running on, agents' hosts. A
//! job puts a task up and watches it; the host's agent takes it at its
//! next heartbeat, reports progress, reads and writes the job's store while
//! the task runs, and reports the result, waiting for the job's verdict
//! (whether the point was recorded). The board is in memory: a server
//! restart fails the jobs that were running, as it does for local ones.

use super::wire::{AgentTask, TaskProgress, TaskResult};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Entry {
    host: String,
    store: String,
    task: AgentTask,
    taken: bool,
    permille: u64,
    snapshot_taken: bool,
    cancel: bool,
    result: Option<TaskResult>,
    verdict: Option<bool>,
    /// The job gave up on it (the host went silent): nothing more is taken.
    ended: bool,
}

/// The board.
#[derive(Debug, Default)]
pub struct Board {
    entries: Mutex<HashMap<String, Entry>>,
    changed: Condvar,
}

/// What a job sees of its task.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seen {
    pub taken: bool,
    pub permille: u64,
    pub snapshot_taken: bool,
    pub result: Option<TaskResult>,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a task up for `host`, on the store `store`.
    pub(crate) fn submit(&self, host: &str, store: &str, task: AgentTask) {
        self.lock().insert(
            task.id.clone(),
            Entry {
                host: host.to_owned(),
                store: store.to_owned(),
                task,
                taken: false,
                permille: 0,
                snapshot_taken: false,
                cancel: false,
                result: None,
                verdict: None,
                ended: false,
            },
        );
    }

    /// The tasks waiting for `host`, now taken.
    pub(crate) fn take_queued(&self, host: &str) -> Vec<AgentTask> {
        let mut m = self.lock();
        let tasks = m
            .values_mut()
            .filter(|e| e.host == host && !e.taken && !e.ended)
            .map(|e| {
                e.taken = true;
                e.task.clone()
            })
            .collect();
        self.changed.notify_all();
        tasks
    }

    /// The store of a running task of `host`: only while the job waits
    /// for it, so an agent reaches a store only for the job it runs.
    pub fn store_of(&self, task: &str, host: &str) -> Option<String> {
        self.lock()
            .get(task)
            .filter(|e| e.host == host && e.taken && !e.ended && e.verdict.is_none())
            .map(|e| e.store.clone())
    }

    /// The host a task is for.
    pub fn host_of(&self, task: &str) -> Option<String> {
        self.lock().get(task).map(|e| e.host.clone())
    }

    /// Progress from the agent; answers whether the job was cancelled
    /// (`None`: no such running task).
    pub(crate) fn progress(&self, task: &str, host: &str, p: &TaskProgress) -> Option<bool> {
        let mut m = self.lock();
        let e = m
            .get_mut(task)
            .filter(|e| e.host == host && !e.ended && e.result.is_none())?;
        e.permille = p.permille.min(1000);
        e.snapshot_taken |= p.snapshot_taken;
        let cancel = e.cancel;
        self.changed.notify_all();
        Some(cancel)
    }

    /// Asks the agent to stop (it sees it at its next progress report).
    pub(crate) fn cancel(&self, task: &str) {
        if let Some(e) = self.lock().get_mut(task) {
            e.cancel = true;
        }
    }

    /// The agent's result; waits up to `wait` for the job's verdict.
    /// `None`: no such running task (the job ended without it).
    pub(crate) fn report(
        &self,
        task: &str,
        host: &str,
        r: TaskResult,
        wait: Duration,
    ) -> Option<bool> {
        let mut m = self.lock();
        let e = m
            .get_mut(task)
            .filter(|e| e.host == host && !e.ended && e.result.is_none())?;
        e.result = Some(r);
        self.changed.notify_all();
        let deadline = Instant::now() + wait;
        loop {
            if let Some(v) = m.get(task).and_then(|e| e.verdict) {
                m.remove(task);
                return Some(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !m.contains_key(task) {
                // The job did not decide in time: it will not record.
                if let Some(e) = m.get_mut(task) {
                    e.ended = true;
                }
                return Some(false);
            }
            m = self
                .changed
                .wait_timeout(m, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` for news of a task, and takes its result if
    /// one came.
    pub(crate) fn watch(&self, task: &str, timeout: Duration) -> Seen {
        let mut m = self.lock();
        let seen = |e: &mut Entry| Seen {
            taken: e.taken,
            permille: e.permille,
            snapshot_taken: e.snapshot_taken,
            result: e.result.clone(),
        };
        if let Some(e) = m.get_mut(task)
            && e.result.is_some()
        {
            return seen(e);
        }
        m = self
            .changed
            .wait_timeout(m, timeout)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        m.get_mut(task).map(seen).unwrap_or_default()
    }

    /// The job's last word on a task: `recorded` tells a waiting agent
    /// whether its point was kept. The task is gone after this.
    pub(crate) fn end(&self, task: &str, recorded: bool) {
        let mut m = self.lock();
        match m.get_mut(task) {
            Some(e) if e.result.is_some() && !e.ended => e.verdict = Some(recorded),
            _ => {
                m.remove(task);
            }
        }
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::BackupTask;
    use super::*;
    use std::sync::Arc;

    fn task(id: &str) -> AgentTask {
        AgentTask {
            id: id.into(),
            restore: None,
            backup: Some(BackupTask {
                job: "j".into(),
                data_id: "d".into(),
                vm_uuid: "u".into(),
                previous: None,
                freeze_timeout_ms: 1,
                agent_timeout_ms: 1,
                rate_limit: None,
            }),
        }
    }

    #[test]
    fn a_task_is_taken_once_by_its_host_and_its_store_is_open_only_while_it_runs() {
        let b = Board::default();
        b.submit("h1", "store-a", task("t1"));
        assert!(b.take_queued("h2").is_empty(), "another host's task");
        assert_eq!(b.store_of("t1", "h1"), None, "not taken yet");
        assert_eq!(b.take_queued("h1").len(), 1);
        assert!(b.take_queued("h1").is_empty(), "taken once");
        assert_eq!(b.store_of("t1", "h1").as_deref(), Some("store-a"));
        assert_eq!(b.store_of("t1", "h2"), None);
        let p = TaskProgress {
            permille: 2000,
            snapshot_taken: true,
        };
        assert_eq!(b.progress("t1", "h1", &p), Some(false));
        let seen = b.watch("t1", Duration::from_millis(1));
        assert_eq!((seen.permille, seen.snapshot_taken), (1000, true));
        b.cancel("t1");
        assert_eq!(b.progress("t1", "h1", &p), Some(true));
        b.end("t1", false);
        assert_eq!(b.store_of("t1", "h1"), None, "closed when it ends");
        assert_eq!(b.progress("t1", "h1", &p), None);
    }

    #[test]
    fn a_result_waits_for_the_verdict() {
        let b = Arc::new(Board::default());
        b.submit("h1", "s", task("t1"));
        b.take_queued("h1");
        let agent = {
            let b = b.clone();
            std::thread::spawn(move || {
                b.report("t1", "h1", TaskResult::default(), Duration::from_secs(30))
            })
        };
        let seen = loop {
            let s = b.watch("t1", Duration::from_millis(50));
            if s.result.is_some() {
                break s;
            }
        };
        assert!(seen.result.is_some());
        assert_eq!(
            b.store_of("t1", "h1").as_deref(),
            Some("s"),
            "still open until the verdict"
        );
        b.end("t1", true);
        assert_eq!(agent.join().unwrap(), Some(true));
        assert_eq!(b.host_of("t1"), None, "gone after the verdict");
        // A result after the job gave up is not taken.
        b.submit("h1", "s", task("t2"));
        b.take_queued("h1");
        b.end("t2", false);
        assert_eq!(
            b.report("t2", "h1", TaskResult::default(), Duration::from_secs(1)),
            None
        );
    }
}
