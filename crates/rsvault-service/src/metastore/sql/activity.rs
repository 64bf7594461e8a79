//! The activity log in SQL: inserts only (the schema's triggers refuse
//! updates and deletes).

use super::{Driver, Row, SqlStore, Val, Where};
use crate::metastore::MetaResult;
use crate::metastore::activity::{ActivityQuery, ActivityRecord, ActivityStore};

const COLUMNS: &str = "event_id, at_ms, at, subscription, resource_group, resource_id, operation, method, status, http_status, caller, caller_oid, client_ip, correlation_id, message";

fn activity(r: &Row) -> MetaResult<ActivityRecord> {
    Ok(ActivityRecord {
        event_id: r.text(0)?,
        at_ms: r.int(1)?,
        at: r.text(2)?,
        subscription: r.text(3)?,
        resource_group: r.opt_text(4)?,
        resource_id: r.text(5)?,
        operation: r.text(6)?,
        method: r.text(7)?,
        status: r.text(8)?,
        http_status: r.int(9)?,
        caller: r.text(10)?,
        caller_oid: r.text(11)?,
        client_ip: r.text(12)?,
        correlation_id: r.text(13)?,
        message: r.opt_text(14)?,
    })
}

fn lower(s: &str) -> Val {
    Val::Text(s.to_ascii_lowercase())
}

impl<D: Driver> ActivityStore for SqlStore<D> {
    fn append_activity(&self, e: &ActivityRecord) -> MetaResult<()> {
        self.exec(
            &format!(
                "INSERT INTO activity_log ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ),
            &[
                (&e.event_id).into(),
                e.at_ms.into(),
                (&e.at).into(),
                (&e.subscription).into(),
                e.resource_group.as_deref().into(),
                (&e.resource_id).into(),
                (&e.operation).into(),
                (&e.method).into(),
                (&e.status).into(),
                e.http_status.into(),
                (&e.caller).into(),
                (&e.caller_oid).into(),
                (&e.client_ip).into(),
                (&e.correlation_id).into(),
                e.message.as_deref().into(),
            ],
        )
        .map(|_| ())
    }

    fn activities(&self, q: &ActivityQuery) -> MetaResult<Vec<ActivityRecord>> {
        let mut w = Where::default();
        w.and("lower(subscription) = {}", vec![lower(&q.subscription)]);
        w.and("at_ms >= {}", vec![q.from_ms.into()]);
        w.and("at_ms <= {}", vec![q.to_ms.into()]);
        if let Some(rg) = &q.resource_group {
            w.and("lower(resource_group) = {}", vec![lower(rg)]);
        }
        if let Some(prefix) = &q.resource_prefix {
            let under = format!("{}/", prefix.to_ascii_lowercase());
            let len = i64::try_from(under.len()).unwrap_or(i64::MAX);
            w.and(
                "(lower(resource_id) = {} OR substr(lower(resource_id), 1, CAST({} AS INTEGER)) = {})",
                vec![lower(prefix), len.into(), under.into()],
            );
        }
        if let Some(c) = &q.correlation_id {
            w.and("lower(correlation_id) = {}", vec![lower(c)]);
        }
        if let Some(c) = &q.caller {
            w.and("lower(caller) = {}", vec![lower(c)]);
        }
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {COLUMNS} FROM activity_log{} ORDER BY at_ms DESC, seq DESC LIMIT {limit}",
            w.sql()
        );
        self.rows(&sql, w.params())?.iter().map(activity).collect()
    }
}
