//! Jobs and operations in SQL. Jobs are paged by keyset, newest first:
//! the page token is the last job's `start_ms` and id, so a job started
//! while a client pages through neither repeats nor hides one.

use super::{Conn, Driver, Row, SqlStore, Val, Where, bad_token, limit_of};
use crate::metastore::records::{
    ActiveJobQuery, JobQuery, JobRecord, JobUpdate, NewJob, NewOperation, OperationRecord,
};
use crate::metastore::{JobStore, MetaResult, Page, PageRequest};

const JOB: &str = "SELECT id, vault, job_id, operation, status, entity, container, start_time, end_time, user_triggered, tasks, progress, bag, errors, extra, start_ms, run_start_time, cancel_requested_at FROM jobs";

/// The statuses of a job that runs (or waits in the queue).
const RUNNING: &str = "status IN ('InProgress', 'Cancelling')";

fn job(r: &Row) -> MetaResult<JobRecord> {
    Ok(JobRecord {
        id: r.int(0)?,
        vault: r.int(1)?,
        job_id: r.text(2)?,
        operation: r.text(3)?,
        status: r.text(4)?,
        entity: r.text(5)?,
        container: r.text(6)?,
        start_time: r.text(7)?,
        end_time: r.opt_text(8)?,
        user_triggered: r.int(9)? != 0,
        tasks: r.text(10)?,
        progress: r.real(11)?,
        bag: r.text(12)?,
        errors: r.text(13)?,
        extra: r.opt_text(14)?,
        run_start_time: r.opt_text(16)?,
        cancel_requested_at: r.opt_text(17)?,
    })
}

fn insert_operation(c: &mut dyn Conn, op: &NewOperation) -> MetaResult<()> {
    c.execute(
        "INSERT INTO operations (vault, op_id, status, start_time, end_time, job_id) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            op.vault.into(),
            (&op.op_id).into(),
            (&op.status).into(),
            (&op.start_time).into(),
            op.end_time.as_ref().into(),
            op.job_id.as_ref().into(),
        ],
    )?;
    Ok(())
}

/// Records a job's state; a status other than `InProgress` also ends it.
pub(crate) fn update_job(c: &mut dyn Conn, job_id: &str, u: &JobUpdate) -> MetaResult<bool> {
    let params: [Val; 6] = [
        (&u.status).into(),
        (&u.tasks).into(),
        u.progress.into(),
        (&u.bag).into(),
        (&u.errors).into(),
        job_id.into(),
    ];
    let n = if u.status == "InProgress" {
        // A job being cancelled stays Cancelling until it ends.
        c.execute(
            "UPDATE jobs SET status = CASE WHEN status = 'Cancelling' THEN status ELSE $1 END, tasks = $2, progress = $3, bag = $4, errors = $5 WHERE job_id = $6",
            &params,
        )?
    } else {
        let mut params = params.to_vec();
        params.push(u.end.to_string().into());
        c.execute(
            "UPDATE jobs SET status = $1, tasks = $2, progress = $3, bag = $4, errors = $5, end_time = $7 WHERE job_id = $6",
            &params,
        )?
    };
    Ok(n > 0)
}

/// The keyset a job page token names: the last job's start and id.
fn keyset(token: &str) -> MetaResult<(i64, i64)> {
    let (ms, id) = token.split_once('_').ok_or_else(bad_token)?;
    Ok((
        ms.parse().map_err(|_| bad_token())?,
        id.parse().map_err(|_| bad_token())?,
    ))
}

fn in_list(w: &mut Where, values: &[String]) -> String {
    values
        .iter()
        .map(|v| w.param(v.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The conditions of a job query.
fn job_filter(w: &mut Where, q: &JobQuery) {
    if let Some(op) = &q.operation {
        w.and("lower(operation) = lower({})", vec![op.into()]);
    }
    if let Some(status) = &q.status {
        let overridden: Vec<String> = q.status_overrides.iter().map(|o| o.0.clone()).collect();
        let matching: Vec<String> = q
            .status_overrides
            .iter()
            .filter(|o| o.1.eq_ignore_ascii_case(status))
            .map(|o| o.0.clone())
            .collect();
        let s = w.param(status.as_str());
        let mut clause = format!("lower(status) = lower({s})");
        if !overridden.is_empty() {
            clause = format!("({clause} AND job_id NOT IN ({}))", in_list(w, &overridden));
        }
        if !matching.is_empty() {
            clause = format!("({clause} OR job_id IN ({}))", in_list(w, &matching));
        }
        w.and(&clause, vec![]);
    }
    if let Some(t) = q.start_from {
        w.and("start_ms >= {}", vec![t.as_millisecond().into()]);
    }
    if let Some(t) = q.start_to {
        w.and("start_ms <= {}", vec![t.as_millisecond().into()]);
    }
    if let Some(c) = &q.container {
        w.and("lower(container) = lower({})", vec![c.into()]);
    }
}

impl<D: Driver> JobStore for SqlStore<D> {
    fn insert_operation(&self, op: &NewOperation) -> MetaResult<()> {
        self.run(|c| insert_operation(c, op))
    }

    fn find_operation(&self, vault: i64, op_id: &str) -> MetaResult<Option<OperationRecord>> {
        self.rows(
            "SELECT vault, op_id, status, start_time, end_time, error_code, error_message, job_id FROM operations WHERE vault = $1 AND op_id = $2",
            &[vault.into(), op_id.into()],
        )?
        .first()
        .map(|r| {
            Ok(OperationRecord {
                vault: r.int(0)?,
                op_id: r.text(1)?,
                status: r.text(2)?,
                start_time: r.text(3)?,
                end_time: r.opt_text(4)?,
                error_code: r.opt_text(5)?,
                error_message: r.opt_text(6)?,
                job_id: r.opt_text(7)?,
            })
        })
        .transpose()
    }

    fn insert_job(&self, j: &NewJob, op: &NewOperation) -> MetaResult<()> {
        self.tx(|c| {
            c.execute(
                "INSERT INTO jobs (vault, job_id, operation, status, entity, container, start_time, end_time, user_triggered, tasks, progress, bag, errors, start_ms, run_start_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, CASE WHEN $4 = 'InProgress' THEN NULL ELSE $7 END)",
                &[
                    j.vault.into(),
                    (&j.job_id).into(),
                    (&j.operation).into(),
                    (&j.status).into(),
                    (&j.entity).into(),
                    (&j.container).into(),
                    j.start.to_string().into(),
                    j.end.map(|e| e.to_string()).into(),
                    j.user_triggered.into(),
                    (&j.tasks).into(),
                    j.progress.into(),
                    (&j.bag).into(),
                    (&j.errors).into(),
                    j.start.as_millisecond().into(),
                ],
            )?;
            insert_operation(c, op)
        })
    }

    fn find_job(&self, vault: Option<i64>, job_id: &str) -> MetaResult<Option<JobRecord>> {
        let mut w = Where::default();
        w.and("job_id = {}", vec![job_id.into()]);
        if let Some(v) = vault {
            w.and("vault = {}", vec![v.into()]);
        }
        self.rows(&format!("{JOB}{}", w.sql()), w.params())?
            .first()
            .map(job)
            .transpose()
    }

    fn update_job(&self, job_id: &str, u: &JobUpdate) -> MetaResult<bool> {
        self.run(|c| update_job(c, job_id, u))
    }

    fn set_job_tasks(&self, job_id: &str, tasks: &str, progress: f64) -> MetaResult<()> {
        self.exec(
            "UPDATE jobs SET tasks = $1, progress = $2 WHERE job_id = $3",
            &[tasks.into(), progress.into(), job_id.into()],
        )?;
        Ok(())
    }

    fn request_cancel(&self, job_id: &str, at: jiff::Timestamp) -> MetaResult<bool> {
        Ok(self.exec(
            &format!("UPDATE jobs SET status = 'Cancelling', cancel_requested_at = COALESCE(cancel_requested_at, $2) WHERE job_id = $1 AND {RUNNING}"),
            &[job_id.into(), at.to_string().into()],
        )? > 0)
    }

    fn cancel_requested(&self, job_ids: &[String]) -> MetaResult<Vec<String>> {
        if job_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut w = Where::default();
        w.and(RUNNING, vec![]);
        w.and("cancel_requested_at IS NOT NULL", vec![]);
        let list = in_list(&mut w, job_ids);
        w.and(&format!("job_id IN ({list})"), vec![]);
        self.rows(
            &format!("SELECT job_id FROM jobs{} ORDER BY id", w.sql()),
            w.params(),
        )?
        .iter()
        .map(|r| r.text(0))
        .collect()
    }

    fn mark_job_started(&self, job_id: &str, tasks: &str, at: jiff::Timestamp) -> MetaResult<bool> {
        Ok(self.exec(
            &format!(
                "UPDATE jobs SET tasks = $2, run_start_time = $3 WHERE job_id = $1 AND {RUNNING}"
            ),
            &[job_id.into(), tasks.into(), at.to_string().into()],
        )? > 0)
    }

    fn set_job_progress(&self, job_id: &str, progress: f64) -> MetaResult<bool> {
        Ok(self.exec(
            &format!("UPDATE jobs SET progress = $2 WHERE job_id = $1 AND {RUNNING}"),
            &[job_id.into(), progress.into()],
        )? > 0)
    }

    fn set_job_extra(&self, job_id: &str, extra: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE jobs SET extra = $1 WHERE job_id = $2",
            &[extra.into(), job_id.into()],
        )?;
        Ok(())
    }

    fn list_jobs(
        &self,
        vault: i64,
        q: &JobQuery,
        page: &PageRequest,
    ) -> MetaResult<Page<JobRecord>> {
        let size = page.size.max(1);
        let mut w = Where::default();
        w.and("vault = {}", vec![vault.into()]);
        job_filter(&mut w, q);
        if let Some(t) = &page.token {
            let (ms, id) = keyset(t)?;
            w.and(
                "(start_ms < {} OR (start_ms = {} AND id < {}))",
                vec![ms.into(), ms.into(), id.into()],
            );
        }
        let limit = w.param(limit_of(size));
        let rows = self.rows(
            &format!(
                "{JOB}{} ORDER BY start_ms DESC, id DESC LIMIT {limit}",
                w.sql()
            ),
            w.params(),
        )?;
        let more = rows.len() > size;
        let mut items = Vec::with_capacity(size);
        let mut last = None;
        for r in rows.iter().take(size) {
            items.push(job(r)?);
            last = Some((r.int(15)?, r.int(0)?));
        }
        let next = last.filter(|_| more).map(|(ms, id)| format!("{ms}_{id}"));
        Ok(Page { items, next })
    }

    fn active_jobs(&self, q: &ActiveJobQuery) -> MetaResult<Vec<JobRecord>> {
        let mut w = Where::default();
        w.and(RUNNING, vec![]);
        if let Some(v) = q.vault {
            w.and("vault = {}", vec![v.into()]);
        }
        if let Some(c) = &q.container {
            w.and("lower(container) = lower({})", vec![c.into()]);
        }
        if !q.operations.is_empty() {
            let list = in_list(&mut w, &q.operations);
            w.and(&format!("operation IN ({list})"), vec![]);
        }
        self.rows(&format!("{JOB}{} ORDER BY id", w.sql()), w.params())?
            .iter()
            .map(job)
            .collect()
    }
}
