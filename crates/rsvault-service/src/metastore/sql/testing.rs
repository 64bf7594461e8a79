//! Test drivers: a driver wrapper that injects failures (a catalogue that
//! refuses a write, a database that cannot end jobs) or breaks results (rows
//! out of order, a row lost), to show that the service copes and that the
//! conformance suite notices.

use super::{Conn, Driver, Row, Val};
use crate::metastore::{MetaError, MetaResult};
use std::sync::{Arc, Mutex};

/// What a [`Faulty`] driver does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Recovery points cannot be recorded.
    RefusePoints,
    /// Jobs cannot be ended (as on a full disk).
    JobsCannotEnd,
    /// Queries return their rows in reverse order.
    ReverseRows,
    /// Queries of more than one row lose their last.
    DropLastRow,
}

/// A driver whose faults can be switched on and off.
#[derive(Debug)]
pub(crate) struct Faulty<D> {
    inner: D,
    faults: Arc<Mutex<Vec<Fault>>>,
}

impl<D> Faulty<D> {
    pub(crate) fn new(inner: D) -> Self {
        Faulty {
            inner,
            faults: Default::default(),
        }
    }

    /// The switch of its faults.
    pub(crate) fn faults(&self) -> Arc<Mutex<Vec<Fault>>> {
        self.faults.clone()
    }
}

struct FaultyConn<'a> {
    inner: &'a mut dyn Conn,
    faults: Vec<Fault>,
}

impl FaultyConn<'_> {
    fn check(&self, sql: &str) -> MetaResult<()> {
        if self.faults.contains(&Fault::RefusePoints) && sql.contains("INSERT INTO recovery_points")
        {
            return Err(MetaError::Backend("simulated catalogue failure".into()));
        }
        if self.faults.contains(&Fault::JobsCannotEnd)
            && sql.starts_with("UPDATE jobs")
            && sql.contains("end_time =")
        {
            return Err(MetaError::Backend("database or disk is full".into()));
        }
        Ok(())
    }
}

impl Conn for FaultyConn<'_> {
    fn execute(&mut self, sql: &str, params: &[Val]) -> MetaResult<u64> {
        self.check(sql)?;
        self.inner.execute(sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> MetaResult<Vec<Row>> {
        self.check(sql)?;
        let mut rows = self.inner.query(sql, params)?;
        if self.faults.contains(&Fault::ReverseRows) {
            rows.reverse();
        }
        if self.faults.contains(&Fault::DropLastRow) && rows.len() > 1 {
            rows.pop();
        }
        Ok(rows)
    }
}

impl<D: Driver> Driver for Faulty<D> {
    fn engine(&self) -> &'static str {
        self.inner.engine()
    }

    fn with_conn<T>(
        &self,
        transaction: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> MetaResult<T>,
    ) -> MetaResult<T> {
        let faults = self
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.inner.with_conn(transaction, &mut |c| {
            f(&mut FaultyConn {
                inner: c,
                faults: faults.clone(),
            })
        })
    }
}
