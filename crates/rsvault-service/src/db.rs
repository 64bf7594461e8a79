//! The metadata database: SQLite in WAL mode with exclusive locking,
//! migrated at start.

use crate::error::Result;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Never edit a released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: vaults and their policies.
    "CREATE TABLE vaults (
        id INTEGER PRIMARY KEY,
        subscription TEXT NOT NULL,
        resource_group TEXT NOT NULL,
        name TEXT NOT NULL,
        location TEXT NOT NULL,
        sku TEXT NOT NULL,
        tags TEXT NOT NULL,
        properties TEXT NOT NULL,
        redundancy TEXT NOT NULL,
        cross_region_restore TEXT NOT NULL,
        store TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (subscription COLLATE NOCASE, resource_group COLLATE NOCASE, name COLLATE NOCASE)
    );
    CREATE TABLE policies (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        properties TEXT NOT NULL,
        UNIQUE (vault, name COLLATE NOCASE)
    );",
    // 2: the inventory: virtual machines and managed disks.
    "CREATE TABLE disks (
        id INTEGER PRIMARY KEY,
        subscription TEXT NOT NULL,
        resource_group TEXT NOT NULL,
        name TEXT NOT NULL,
        location TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (subscription COLLATE NOCASE, resource_group COLLATE NOCASE, name COLLATE NOCASE)
    );
    CREATE TABLE vms (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        subscription TEXT NOT NULL,
        resource_group TEXT NOT NULL,
        name TEXT NOT NULL,
        location TEXT NOT NULL,
        vm_id TEXT NOT NULL,
        power_state TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (provider COLLATE NOCASE, subscription COLLATE NOCASE, resource_group COLLATE NOCASE, name COLLATE NOCASE)
    );",
    // 3: protection and long-running operations.
    "CREATE TABLE protected_items (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id),
        provider TEXT NOT NULL,
        vm_subscription TEXT NOT NULL,
        vm_resource_group TEXT NOT NULL,
        vm_name TEXT NOT NULL,
        policy TEXT NOT NULL,
        state TEXT NOT NULL,
        data_id TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (provider, vm_subscription COLLATE NOCASE, vm_resource_group COLLATE NOCASE, vm_name COLLATE NOCASE)
    );
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        op_id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT,
        error_code TEXT,
        error_message TEXT,
        job_id TEXT
    );",
    // 4: jobs and recovery points.
    "CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        vault INTEGER NOT NULL REFERENCES vaults(id) ON DELETE CASCADE,
        job_id TEXT NOT NULL UNIQUE,
        operation TEXT NOT NULL,
        status TEXT NOT NULL,
        entity TEXT NOT NULL,
        container TEXT NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT,
        user_triggered INTEGER NOT NULL,
        tasks TEXT NOT NULL,
        progress REAL NOT NULL,
        bag TEXT NOT NULL,
        errors TEXT NOT NULL
    );
    CREATE TABLE recovery_points (
        id INTEGER PRIMARY KEY,
        item INTEGER NOT NULL REFERENCES protected_items(id),
        name TEXT NOT NULL UNIQUE,
        time TEXT NOT NULL,
        consistency TEXT NOT NULL,
        expiry TEXT,
        disks TEXT NOT NULL
    );",
    // 5: soft delete of protected items.
    "ALTER TABLE protected_items ADD COLUMN deferred_delete TEXT;",
    // 6: the scheduler: the last scheduled time handled for each item.
    "ALTER TABLE protected_items ADD COLUMN sched_after TEXT;",
    // 7: live VMs: the instant-restore tier of a point (until when its
    // snapshots are kept) and each item's last agent health.
    "ALTER TABLE recovery_points ADD COLUMN instant_until TEXT;
     ALTER TABLE protected_items ADD COLUMN health TEXT;",
    // 8: verify jobs: each vault's verify schedule (NULL: the server's
    // default) and last scheduled time handled; what verify last found of
    // each recovery point (damage NULL: intact or not yet verified); a
    // job's structured rsvault extension.
    "ALTER TABLE vaults ADD COLUMN verify_schedule TEXT;
     ALTER TABLE vaults ADD COLUMN verify_after TEXT;
     ALTER TABLE recovery_points ADD COLUMN damage TEXT;
     ALTER TABLE recovery_points ADD COLUMN verified TEXT;
     ALTER TABLE jobs ADD COLUMN extra TEXT;",
];

/// Creates the database file readable by its owner only (0600), or makes an
/// existing one so; SQLite gives its WAL and shared-memory files the same
/// mode.
fn make_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let err = |e: std::io::Error| {
        crate::error::ServiceError::Internal(format!("create {}: {e}", path.display()))
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

/// The database connection, serialised behind a mutex (SQLite has one
/// writer; every statement here is short).
#[derive(Debug)]
pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (creating) the database and runs pending migrations.
    pub fn open(path: &Path) -> Result<Self> {
        make_private(path)?;
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
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
            return Err(crate::error::ServiceError::Internal(format!(
                "the metadata database has schema version {version}, newer than this rsvault ({}); upgrade rsvault",
                MIGRATIONS.len()
            )));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    /// The connection.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.db");
        super::Db::open(&p).unwrap();
        let db = super::Db::open(&p).unwrap();
        let v: i64 = db
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, super::MIGRATIONS.len());
    }

    #[test]
    fn the_database_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metadata.db");
        let db = super::Db::open(&p).unwrap();
        db.conn().execute_batch("CREATE TABLE t (x)").unwrap();
        for f in ["metadata.db", "metadata.db-wal"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        // An existing database made readable by others is made private.
        drop(db);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::Db::open(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
