//! A backup job's outcome and its recovery point always agree.
//!
//! The engine commits a point's disks first; then one transaction of the
//! metadata store
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
use crate::jobs::JobState;
use crate::metastore::records::NewRecoveryPoint;
use crate::point_disks::PointDisk;

/// Outcomes the database could not take yet, by job id, with their end time.
pub(crate) type Unrecorded =
    std::sync::Mutex<std::collections::HashMap<String, (JobState, jiff::Timestamp)>>;

/// A recovery point to record: every disk committed to the engine store.
pub(crate) struct NewPoint<'a> {
    pub item_id: i64,
    pub started: jiff::Timestamp,
    pub consistency: &'a str,
    pub expiry: Option<jiff::Timestamp>,
    pub disks: &'a [PointDisk],
    pub instant_until: Option<jiff::Timestamp>,
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
        st: JobState,
    ) -> Result<String> {
        let end = self.now();
        let new = NewRecoveryPoint {
            item: point.item_id,
            started: point.started,
            consistency: point.consistency.to_owned(),
            expiry: point.expiry,
            disks: crate::point_disks::to_text(point.disks),
            instant_until: point.instant_until,
        };
        let rp = self.meta.commit_backup(&new, job, &|rp| {
            let mut st = st.clone();
            st.bag.insert("Recovery Point".into(), rp.to_string());
            st.update(end)
        })?;
        self.runner.forget(job);
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

    /// The statuses of the outcomes kept in memory, by job id (the job
    /// list's status filter goes by them).
    pub(crate) fn unrecorded_statuses(&self) -> Vec<(String, String)> {
        self.unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(job, (st, _))| (job.clone(), st.status.to_owned()))
            .collect()
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
            match self.meta.update_job(&job, &st.update(end)) {
                Ok(_) => {
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
