//! The SQL implementation of the metadata store, written once in the SQL
//! that SQLite and PostgreSQL both understand, over a small [`Driver`] per
//! engine:
//!
//! - placeholders are `$1`, `$2`, … (the SQLite driver makes them `?1`, …);
//! - names compare regardless of case as `lower(x) = lower($n)`; each
//!   engine's schema makes text sort bytewise and keeps names unique
//!   regardless of case (SQLite `COLLATE NOCASE`, PostgreSQL indexes on
//!   `lower(...)`);
//! - ids come from each engine's own DDL, read back with `RETURNING id`;
//! - migrations are files per engine under `migrations/<engine>/`.
//!
//! A new engine is a new driver (a [`Driver`] and its migrations) here.

mod activity;
mod guards;
mod hosts;
mod identity;
mod inventory;
mod items;
mod jobs;
mod overviews;
mod points;
mod pool;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod testing;
mod vaults;

use super::{MetaError, MetaResult, MetaStore};

/// A value bound to or read from a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_owned())
    }
}

impl From<&String> for Val {
    fn from(s: &String) -> Self {
        Val::Text(s.clone())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::Int(i)
    }
}

impl From<f64> for Val {
    fn from(f: f64) -> Self {
        Val::Real(f)
    }
}

impl From<bool> for Val {
    fn from(b: bool) -> Self {
        Val::Int(i64::from(b))
    }
}

impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(o: Option<T>) -> Self {
        o.map_or(Val::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn at(&self, i: usize) -> MetaResult<&Val> {
        self.0
            .get(i)
            .ok_or_else(|| MetaError::Corrupt(format!("column {i} missing")))
    }

    /// An integer column.
    pub fn int(&self, i: usize) -> MetaResult<i64> {
        match self.at(i)? {
            Val::Int(n) => Ok(*n),
            other => Err(MetaError::Corrupt(format!(
                "column {i}: {other:?} is not an integer"
            ))),
        }
    }

    /// A real column (integers are taken too).
    pub fn real(&self, i: usize) -> MetaResult<f64> {
        match self.at(i)? {
            Val::Real(f) => Ok(*f),
            Val::Int(n) => Ok(*n as f64),
            other => Err(MetaError::Corrupt(format!(
                "column {i}: {other:?} is not a number"
            ))),
        }
    }

    /// A text column.
    pub fn text(&self, i: usize) -> MetaResult<String> {
        match self.at(i)? {
            Val::Text(s) => Ok(s.clone()),
            other => Err(MetaError::Corrupt(format!(
                "column {i}: {other:?} is not text"
            ))),
        }
    }

    /// An integer column that may be NULL.
    pub fn opt_int(&self, i: usize) -> MetaResult<Option<i64>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A text column that may be NULL.
    pub fn opt_text(&self, i: usize) -> MetaResult<Option<String>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
}

/// A connection (or a transaction on one) of an engine.
pub trait Conn {
    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Val]) -> MetaResult<u64>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Val]) -> MetaResult<Vec<Row>>;
}

impl dyn Conn + '_ {
    /// The first row of a query, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Val]) -> MetaResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row of a query.
    pub fn query_one(&mut self, sql: &str, params: &[Val]) -> MetaResult<Row> {
        self.query_opt(sql, params)?
            .ok_or_else(|| MetaError::Corrupt(format!("no row from: {sql}")))
    }
}

/// An engine: runs work on one of its connections.
pub trait Driver: Send + Sync + 'static {
    /// The engine's name.
    fn engine(&self) -> &'static str;
    /// Runs `f` on a connection, in a transaction when `transaction` is
    /// set (committed when `f` succeeds, rolled back otherwise).
    fn with_conn<T>(
        &self,
        transaction: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> MetaResult<T>,
    ) -> MetaResult<T>;
}

/// The metadata store over one engine.
#[derive(Debug)]
pub struct SqlStore<D> {
    driver: D,
}

impl<D: Driver> SqlStore<D> {
    /// A store over a driver whose schema is migrated.
    pub fn new(driver: D) -> Self {
        SqlStore { driver }
    }

    /// The driver.
    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// Runs `f` on a connection, outside a transaction.
    fn run<T>(&self, mut f: impl FnMut(&mut dyn Conn) -> MetaResult<T>) -> MetaResult<T> {
        self.driver.with_conn(false, &mut f)
    }

    /// Runs `f` in a transaction.
    fn tx<T>(&self, mut f: impl FnMut(&mut dyn Conn) -> MetaResult<T>) -> MetaResult<T> {
        self.driver.with_conn(true, &mut f)
    }

    /// Runs one statement.
    fn exec(&self, sql: &str, params: &[Val]) -> MetaResult<u64> {
        self.run(|c| c.execute(sql, params))
    }

    /// Runs one query.
    fn rows(&self, sql: &str, params: &[Val]) -> MetaResult<Vec<Row>> {
        self.run(|c| c.query(sql, params))
    }
}

impl<D: Driver> MetaStore for SqlStore<D> {
    fn engine(&self) -> &'static str {
        self.driver.engine()
    }
}

/// A `WHERE` clause under construction: conditions joined with `AND`, and
/// their parameters numbered in order.
#[derive(Debug, Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    params: Vec<Val>,
}

impl Where {
    /// A parameter's placeholder (`$n`) for a value.
    pub(crate) fn param(&mut self, v: impl Into<Val>) -> String {
        self.params.push(v.into());
        format!("${}", self.params.len())
    }

    /// Adds a condition; `{}` in it stands for each value's placeholder, in
    /// order.
    pub(crate) fn and(&mut self, clause: &str, values: Vec<Val>) {
        let mut out = String::new();
        let mut parts = clause.split("{}");
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        let mut values = values.into_iter();
        for part in parts {
            let p = self.param(values.next().unwrap_or(Val::Null));
            out.push_str(&p);
            out.push_str(part);
        }
        self.clauses.push(out);
    }

    /// ` WHERE …` (empty without conditions).
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The parameters.
    pub(crate) fn params(&self) -> &[Val] {
        &self.params
    }
}

/// A `$skiptoken` that is not one the store gave out.
pub(crate) fn bad_token() -> MetaError {
    MetaError::BadPageToken
}

/// The offset a page token names (tokens of offset-paged lists are offsets).
pub(crate) fn offset_of(token: Option<&str>) -> MetaResult<i64> {
    match token {
        None => Ok(0),
        Some(t) => t
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(bad_token),
    }
}

/// `LIMIT` for a page: one more row than the page, which tells whether
/// another page follows.
pub(crate) fn limit_of(size: usize) -> i64 {
    i64::try_from(size.max(1)).unwrap_or(i64::MAX - 1) + 1
}
