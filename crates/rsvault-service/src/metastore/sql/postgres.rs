//! The PostgreSQL engine: the synchronous `postgres` client over a bounded
//! pool of connections (the service calls the store from blocking threads;
//! `pool=N` in the URL, else [`default_pool`]), each with its prepared
//! statements. The schema lives in the
//! database's default schema; `rsvault_schema` records the migrations run.

use super::pool::{Pool, Pooled};
use super::{Conn, Driver, Row, SqlStore, Val};
use crate::metastore::url::{redact, split_pool};
use crate::metastore::{MetaError, MetaResult};
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{GenericClient, NoTls, Statement};
use std::collections::HashMap;
use std::time::Duration;

/// Schema migrations, applied in order; `rsvault_schema` records how many
/// have run. Never edit a released migration: append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_schema.sql"),
    include_str!("../../../migrations/postgres/0002_job_runner.sql"),
    include_str!("../../../migrations/postgres/0003_geo_replication.sql"),
    include_str!("../../../migrations/postgres/0004_identity.sql"),
    include_str!("../../../migrations/postgres/0005_guards_and_activity.sql"),
    include_str!("../../../migrations/postgres/0006_agent_hosts.sql"),
];

/// The advisory lock that serialises migrations of servers sharing a
/// database.
const MIGRATION_LOCK: i64 = 0x7273_7661_756c_7401;

/// Connections a store opens at most unless its URL says (`pool=N`): two
/// per core of this machine, 4 to 32. More connections than the cores can
/// run only queue in the kernel instead of the pool: on 2 cores with 40
/// readers, a pool of 4 kept the slowest 1 % of requests at SQLite's, one
/// of 16 tripled them (docs/PERFORMANCE.md).
pub fn default_pool() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get() * 2)
        .clamp(4, 32)
}

/// How long a caller waits for a free connection.
const POOL_WAIT: Duration = Duration::from_secs(30);

impl From<postgres::Error> for MetaError {
    fn from(e: postgres::Error) -> Self {
        let detail = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        match e.code() {
            Some(c) if *c == SqlState::DISK_FULL => MetaError::Full,
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => MetaError::Duplicate(detail),
            Some(_) => MetaError::Backend(detail),
            None if e.is_closed() => MetaError::Unavailable(detail),
            None => MetaError::Backend(detail),
        }
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            Val::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("a number cannot be bound to a {ty} parameter").into()),
            },
            Val::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn read_row(r: &postgres::Row) -> MetaResult<Row> {
    let mut vals = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|n| Val::Int(n.into())),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|n| Val::Int(n.into())),
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Val::Int),
            Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|f| Val::Real(f.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Val::Real),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|b| Val::Int(b.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                r.try_get::<_, Option<String>>(i)?.map(Val::Text)
            }
            ref other => {
                return Err(MetaError::Corrupt(format!(
                    "column {} has the unexpected type {other}",
                    col.name()
                )));
            }
        };
        vals.push(v.unwrap_or(Val::Null));
    }
    Ok(Row(vals))
}

/// One pooled connection and the statements prepared on it.
struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
}

/// A connection, or a transaction on one, with its statement cache.
struct Session<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> Session<'_, C> {
    fn statement(&mut self, sql: &str) -> MetaResult<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl<C: GenericClient> Conn for Session<'_, C> {
    fn execute(&mut self, sql: &str, params: &[Val]) -> MetaResult<u64> {
        let st = self.statement(sql)?;
        Ok(self.client.execute(&st, &refs(params))?)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> MetaResult<Vec<Row>> {
        let st = self.statement(sql)?;
        self.client
            .query(&st, &refs(params))?
            .iter()
            .map(read_row)
            .collect()
    }
}

impl Pooled for PgConn {
    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// The PostgreSQL driver.
pub struct PostgresDriver {
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    pool: Pool<PgConn>,
}

impl std::fmt::Debug for PostgresDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresDriver({})", self.shown)
    }
}

impl PostgresDriver {
    /// Connects to the database a URL names and runs pending migrations.
    pub fn open(url: &str) -> MetaResult<Self> {
        let shown = redact(url);
        let (url, size) = split_pool(url)?;
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| MetaError::Unavailable(format!("{shown}: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("rsvault");
        }
        let d = PostgresDriver {
            config,
            shown,
            pool: Pool::new(size.unwrap_or_else(default_pool), POOL_WAIT),
        };
        d.migrate()?;
        Ok(d)
    }

    fn connect(&self) -> MetaResult<PgConn> {
        let client = self
            .config
            .connect(NoTls)
            .map_err(|e| MetaError::Unavailable(format!("connect to {}: {e}", self.shown)))?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    /// A connection of the pool, in the caller's turn.
    fn take(&self) -> MetaResult<PgConn> {
        self.pool.take(|| self.connect()).map_err(|e| match e {
            MetaError::Unavailable(why) if !why.contains(&self.shown) => {
                MetaError::Unavailable(format!("{}: {why}", self.shown))
            }
            other => other,
        })
    }

    /// Returns a connection to the pool (a closed one is dropped).
    fn give_back(&self, c: PgConn) {
        self.pool.give_back(c);
    }

    /// How many connections the pool opens at most.
    pub fn pool_size(&self) -> usize {
        self.pool.size()
    }

    fn migrate(&self) -> MetaResult<()> {
        let mut c = self.take()?;
        let r = (|| -> MetaResult<()> {
            let mut tx = c.client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS rsvault_schema (version BIGINT NOT NULL)",
            )?;
            let version: i64 = tx
                .query_one("SELECT coalesce(max(version), 0) FROM rsvault_schema", &[])?
                .try_get(0)?;
            let version = usize::try_from(version).unwrap_or(usize::MAX);
            if version > MIGRATIONS.len() {
                return Err(MetaError::Schema(format!(
                    "the metadata database has schema version {version}, newer than this rsvault ({}); upgrade rsvault",
                    MIGRATIONS.len()
                )));
            }
            for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
                tx.batch_execute(m).map_err(|e| {
                    MetaError::Schema(format!(
                        "PostgreSQL migration {}: {}",
                        i + 1,
                        MetaError::from(e)
                    ))
                })?;
                tx.execute(
                    "INSERT INTO rsvault_schema (version) VALUES ($1)",
                    &[&((i + 1) as i64)],
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.give_back(c);
        r
    }

    /// The schema version (`rsvault_schema`).
    pub fn schema_version(&self) -> MetaResult<i64> {
        self.with_conn(false, &mut |c| {
            c.query_one("SELECT coalesce(max(version), 0) FROM rsvault_schema", &[])?
                .int(0)
        })
    }
}

impl Drop for PostgresDriver {
    /// Closes the idle connections on a thread of their own: each client
    /// owns a small runtime, which must not be dropped on an async thread
    /// (where the server's last handle on the store may go).
    fn drop(&mut self) {
        let idle = self.pool.drain_idle();
        if idle.is_empty() {
            return;
        }
        let closer = std::thread::Builder::new()
            .name("rsvault-pg-close".into())
            .spawn(move || drop(idle));
        if let Ok(t) = closer {
            let _ = t.join();
        }
    }
}

impl Driver for PostgresDriver {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    fn with_conn<T>(
        &self,
        transaction: bool,
        f: &mut dyn FnMut(&mut dyn Conn) -> MetaResult<T>,
    ) -> MetaResult<T> {
        let mut c = self.take()?;
        let r = (|| {
            let PgConn { client, statements } = &mut c;
            if transaction {
                let mut tx = client.transaction()?;
                let r = f(&mut Session {
                    client: &mut tx,
                    statements,
                })?;
                tx.commit()?;
                Ok(r)
            } else {
                f(&mut Session { client, statements })
            }
        })();
        self.give_back(c);
        r
    }
}

impl SqlStore<PostgresDriver> {
    /// The PostgreSQL store at a URL (migrated as needed).
    pub fn postgres(url: &str) -> MetaResult<Self> {
        Ok(SqlStore::new(PostgresDriver::open(url)?))
    }
}

/// Creates a new, empty database on the server an administrative URL names
/// (tests: one fresh database each); returns the new database's URL.
pub fn create_database(admin_url: &str, name: &str) -> MetaResult<String> {
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(MetaError::Backend(format!(
            "'{name}' is not a plain database name"
        )));
    }
    let config: postgres::Config = admin_url
        .parse()
        .map_err(|e| MetaError::Unavailable(format!("{}: {e}", redact(admin_url))))?;
    let mut admin = config
        .connect(NoTls)
        .map_err(|e| MetaError::Unavailable(format!("connect to {}: {e}", redact(admin_url))))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    Ok(with_database(admin_url, name))
}

/// Drops a database [`create_database`] made.
pub fn drop_database(admin_url: &str, name: &str) -> MetaResult<()> {
    let config: postgres::Config = admin_url
        .parse()
        .map_err(|e| MetaError::Unavailable(format!("{}: {e}", redact(admin_url))))?;
    let mut admin = config
        .connect(NoTls)
        .map_err(|e| MetaError::Unavailable(format!("connect to {}: {e}", redact(admin_url))))?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    Ok(())
}

/// The URL with its database (the path) replaced.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let Some(p) = url[scheme_end..].find(['/', '?']).map(|i| scheme_end + i) else {
        return format!("{url}/{name}");
    };
    let query = url[p..].find('?').map_or("", |q| &url[p + q..]);
    format!("{}/{name}{query}", &url[..p])
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_get_another_database() {
        for (url, want) in [
            ("postgres://u@h/admin", "postgres://u@h/t1"),
            ("postgres://u@h", "postgres://u@h/t1"),
            (
                "postgresql://u@/postgres?host=/tmp/s",
                "postgresql://u@/t1?host=/tmp/s",
            ),
            (
                "postgresql://u@h?host=/tmp/s",
                "postgresql://u@h/t1?host=/tmp/s",
            ),
        ] {
            assert_eq!(super::with_database(url, "t1"), want);
        }
    }
}
