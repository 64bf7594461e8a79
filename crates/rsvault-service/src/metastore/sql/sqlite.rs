//! The SQLite engine: one connection in WAL mode with exclusive locking,
//! serialised behind a mutex (SQLite has one writer; every statement here
//! is short), the database file private to its owner.

use super::{Conn, Driver, Row, SqlStore, Val};
use crate::metastore::{MetaError, MetaResult};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Mutex;

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Never edit a released migration: append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_vaults_and_policies.sql"),
    include_str!("../../../migrations/sqlite/0002_inventory.sql"),
    include_str!("../../../migrations/sqlite/0003_protection_and_operations.sql"),
    include_str!("../../../migrations/sqlite/0004_jobs_and_recovery_points.sql"),
    include_str!("../../../migrations/sqlite/0005_soft_delete.sql"),
    include_str!("../../../migrations/sqlite/0006_scheduler.sql"),
    include_str!("../../../migrations/sqlite/0007_live_vms.sql"),
    include_str!("../../../migrations/sqlite/0008_verify_jobs.sql"),
    include_str!("../../../migrations/sqlite/0009_job_start_ms.sql"),
    include_str!("../../../migrations/sqlite/0010_job_runner.sql"),
    include_str!("../../../migrations/sqlite/0011_geo_replication.sql"),
    include_str!("../../../migrations/sqlite/0012_identity.sql"),
    include_str!("../../../migrations/sqlite/0013_guards_and_activity.sql"),
    include_str!("../../../migrations/sqlite/0014_agent_hosts.sql"),
];

impl From<rusqlite::Error> for MetaError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => MetaError::Full,
            Some(rusqlite::ErrorCode::ConstraintViolation) if e.to_string().contains("UNIQUE") => {
                MetaError::Duplicate(e.to_string())
            }
            Some(rusqlite::ErrorCode::CannotOpen) => MetaError::Unavailable(e.to_string()),
            _ => MetaError::Backend(e.to_string()),
        }
    }
}

/// Creates the database file readable by its owner only (0600), or makes an
/// existing one so; SQLite gives its WAL and shared-memory files the same
/// mode.
fn make_private(path: &Path) -> MetaResult<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |e: std::io::Error| {
        if crate::error::is_storage_full(&e) {
            MetaError::Full
        } else {
            MetaError::Unavailable(format!("create {}: {e}", path.display()))
        }
    };
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err)
}

/// `$1`, `$2`, … as SQLite's `?1`, `?2`, … (outside quoted text).
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

fn read_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let mut vals = Vec::with_capacity(n);
    for i in 0..n {
        vals.push(match r.get_ref(i)? {
            ValueRef::Null => Val::Null,
            ValueRef::Integer(i) => Val::Int(i),
            ValueRef::Real(f) => Val::Real(f),
            ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Val::Text(String::from_utf8_lossy(b).into_owned()),
        });
    }
    Ok(Row(vals))
}

/// The SQLite driver.
#[derive(Debug)]
pub struct SqliteDriver {
    conn: Mutex<Connection>,
}

impl SqliteDriver {
    /// Opens (creating) the database file, private to its owner, and runs
    /// pending migrations.
    pub fn open(path: &Path) -> MetaResult<Self> {
        make_private(path)?;
        Self::init(Connection::open(path)?)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> MetaResult<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> MetaResult<Self> {
        // The server is the database's one user. In exclusive locking mode
        // SQLite keeps the WAL index in memory instead of a `-shm` file it
        // would have to create and size, so a full disk still opens and
        // reads the database (writes fail with SQLITE_FULL, which the
        // service reports as UserErrorStorageFull).
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(MetaError::Schema(format!(
                "the metadata database has schema version {version}, newer than this rsvault ({}); upgrade rsvault",
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(m)
                .map_err(|e| MetaError::Schema(format!("SQLite migration {}: {e}", i + 1)))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(SqliteDriver {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> MetaResult<i64> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

impl Driver for SqliteDriver {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn with_conn<T>(
        &self,
        transaction: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> MetaResult<T>,
    ) -> MetaResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if !transaction {
            let mut c: &Connection = &conn;
            return f(&mut c);
        }
        let tx = conn.transaction()?;
        // `Transaction` derefs to its connection; statements on it run in
        // the transaction, which rolls back when dropped uncommitted.
        let mut inner: &Connection = &tx;
        let r = f(&mut inner)?;
        tx.commit()?;
        Ok(r)
    }
}

impl Conn for &Connection {
    fn execute(&mut self, sql: &str, params: &[Val]) -> MetaResult<u64> {
        let mut st = self.prepare_cached(&placeholders(sql))?;
        Ok(st.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> MetaResult<Vec<Row>> {
        let mut st = self.prepare_cached(&placeholders(sql))?;
        let n = st.column_count();
        let rows = st
            .query_map(rusqlite::params_from_iter(params), |r| read_row(r, n))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

impl SqlStore<SqliteDriver> {
    /// The SQLite store in a file (created and migrated as needed).
    pub fn sqlite(path: &Path) -> MetaResult<Self> {
        Ok(SqlStore::new(SqliteDriver::open(path)?))
    }

    /// An in-memory SQLite store (tests).
    pub fn sqlite_in_memory() -> MetaResult<Self> {
        Ok(SqlStore::new(SqliteDriver::open_in_memory()?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_sqlites() {
        assert_eq!(
            super::placeholders("SELECT '$1', x FROM t WHERE a = $1 AND b = $12 AND c = \"$3\""),
            "SELECT '$1', x FROM t WHERE a = ?1 AND b = ?12 AND c = \"$3\""
        );
    }
}
