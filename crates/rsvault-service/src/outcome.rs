//! A backup job's outcome and its recovery point always agree.
//!
//! The engine commits a point's disks first; then one SQLite transaction
//! records the recovery point in the catalogue, marks the item protected and
//! ends the job Completed. If that transaction fails, the engine points are
//! forgotten (or, if even that fails, reconciled later, see
//! [`crate::recovery`]) and the job fails: a point is listed exactly when its
//! job completed.
//!
//! When the database cannot take a job's final state at all (a full disk),
//! the outcome is kept in memory: the API shows it, and it is written as
//! soon as the database takes writes again (each scheduler tick tries).

use crate::Service;
use crate::error::Result;
use crate::jobs::{JobState, set_job};
use rusqlite::params;
use serde_json::{Value, json};

/// Outcomes the database could not take yet, by job id, with their end time.
pub(crate) type Unrecorded =
    std::sync::Mutex<std::collections::HashMap<String, (JobState, jiff::Timestamp)>>;

/// A recovery point to record: every disk committed to the engine store.
pub(crate) struct NewPoint<'a> {
    pub item_id: i64,
    pub started: jiff::Timestamp,
    pub consistency: &'a str,
    pub expiry: Option<jiff::Timestamp>,
    pub disks: &'a [Value],
    pub instant_until: Option<jiff::Timestamp>,
}

/// Inserts a recovery point's row. Point names are numbers, as Azure's are:
/// the start time in microseconds, made unique if two backups started at
/// once.
fn insert_point(conn: &rusqlite::Connection, p: &NewPoint<'_>) -> Result<String> {
    let disks = Value::Array(p.disks.to_vec()).to_string();
    let mut n = p.started.as_microsecond();
    loop {
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO recovery_points (item, name, time, consistency, expiry, disks, instant_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![p.item_id, n.to_string(), p.started.to_string(), p.consistency, p.expiry.map(|e| e.to_string()), disks, p.instant_until.map(|t| t.to_string())],
        )?;
        if inserted == 1 {
            return Ok(n.to_string());
        }
        n += 1;
    }
}

impl Service {
    /// Records a backup whose disks are committed: the recovery point, the
    /// item protected and the job's final state (its bag gets the point's
    /// name), in one transaction. Returns the point's name. On an error
    /// nothing is recorded and the job is still running.
    pub(crate) fn commit_backup(
        &self,
        job: &str,
        point: &NewPoint<'_>,
        mut st: JobState,
    ) -> Result<String> {
        let end = self.now();
        let rp = {
            let mut conn = self.db.conn();
            let tx = conn.transaction()?;
            let rp = insert_point(&tx, point)?;
            tx.execute(
                "UPDATE protected_items SET state = 'Protected' WHERE id = ?1",
                params![point.item_id],
            )?;
            if let Some(bag) = st.bag.as_object_mut() {
                bag.insert("Recovery Point".into(), json!(rp));
            }
            set_job(&tx, job, &st, end)?;
            tx.commit()?;
            rp
        };
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job);
        Ok(rp)
    }

    /// Keeps a job's outcome that the database did not take.
    pub(crate) fn keep_unrecorded(&self, job: &str, st: JobState, end: jiff::Timestamp) {
        self.unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_owned(), (st, end));
    }

    /// A job's outcome not yet in the database, if any.
    pub(crate) fn unrecorded(&self, job: &str) -> Option<(JobState, jiff::Timestamp)> {
        self.unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .cloned()
    }

    /// Writes the outcomes kept in memory; returns how many are still
    /// waiting.
    pub(crate) fn record_unrecorded(&self) -> usize {
        let waiting: Vec<(String, (JobState, jiff::Timestamp))> = self
            .unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut left = 0;
        for (job, (st, end)) in waiting {
            match set_job(&self.db.conn(), &job, &st, end) {
                Ok(()) => {
                    self.unrecorded
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&job);
                    tracing::info!(%job, status = st.status, "recorded a job's outcome kept in memory");
                }
                Err(_) => left += 1,
            }
        }
        left
    }
}
