//! The conformance suite on both engines, against broken drivers, and the
//! SQLite engine's file, migrations and errors.

use super::conformance;
use super::sql::sqlite::{MIGRATIONS, SqliteDriver};
use super::sql::testing::{Fault, Faulty};
use super::sql::{Driver, SqlStore, postgres};
use super::*;

#[test]
fn sqlite_conforms() {
    conformance::run(&SqlStore::sqlite_in_memory().unwrap());
    let dir = tempfile::tempdir().unwrap();
    conformance::run(&SqlStore::sqlite(&dir.path().join("metadata.db")).unwrap());
}

/// The admin URL of a throw-away PostgreSQL cluster, from
/// `RSVAULT_TEST_POSTGRES`. In CI it must be set: the PostgreSQL engine is
/// tested there, never skipped.
pub(crate) fn postgres_admin_url() -> Option<String> {
    match std::env::var("RSVAULT_TEST_POSTGRES") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|c| c == "true") => {
            panic!(
                "CI=true but RSVAULT_TEST_POSTGRES is not set: the PostgreSQL store must be tested in CI"
            )
        }
        _ => {
            eprintln!("RSVAULT_TEST_POSTGRES is not set: the PostgreSQL store is not tested");
            None
        }
    }
}

/// A fresh database on the test cluster, dropped at the end.
pub(crate) struct TestDatabase {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl TestDatabase {
    pub(crate) fn new(admin: &str) -> Self {
        let name = format!("rsvault_test_{}", hex::encode(rand::random::<[u8; 6]>()));
        let url = postgres::create_database(admin, &name).expect("create a test database");
        TestDatabase {
            admin: admin.to_owned(),
            name,
            url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = postgres::drop_database(&self.admin, &self.name) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

#[test]
fn postgres_conforms() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::new(&admin);
    let store = SqlStore::postgres(&db.url).expect("open the PostgreSQL store");
    assert_eq!(store.engine(), "postgres");
    conformance::run(&store);
    drop(store);
    // Opening again runs no migration twice and keeps the data.
    let again = SqlStore::postgres(&db.url).unwrap();
    assert_eq!(
        again.driver().schema_version().unwrap(),
        postgres::MIGRATIONS.len() as i64
    );
    assert!(!again.all_vaults().unwrap().is_empty());
}

#[test]
fn postgres_pools_as_many_connections_as_the_url_says() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::new(&admin);
    let default = SqlStore::postgres(&db.url).unwrap();
    assert_eq!(default.driver().pool_size(), postgres::default_pool());
    drop(default);
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let store = SqlStore::postgres(&format!("{}{sep}pool=3", db.url)).unwrap();
    assert_eq!(store.driver().pool_size(), 3);
    // Twelve threads at once, each holding a connection a while: three
    // connections serve them all.
    let start = std::sync::Barrier::new(12);
    std::thread::scope(|scope| {
        for _ in 0..12 {
            let (store, start) = (&store, &start);
            scope.spawn(move || {
                start.wait();
                for _ in 0..3 {
                    store
                        .driver()
                        .with_conn(false, &mut |c| c.query("SELECT 1 FROM pg_sleep(0.02)", &[]))
                        .expect("a pooled query");
                }
            });
        }
    });
    let mut c = ::postgres::Client::connect(&admin, ::postgres::NoTls).unwrap();
    let open: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(open, 3, "connections the store holds");
}

#[test]
fn postgres_errors_are_typed() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::new(&admin);
    // The URL's password never shows, even when connecting fails.
    let bad = db.url.replacen("://", "://nobody-here:s3cret@", 1) + "_missing";
    let e = SqlStore::postgres(&bad).unwrap_err();
    assert!(matches!(e, MetaError::Unavailable(_)), "{e}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
    let store = SqlStore::postgres(&db.url).unwrap();
    let v = crate::vault::VaultRef {
        subscription: "s".into(),
        resource_group: "r".into(),
        name: "v".into(),
    };
    let new = records::NewVault {
        vref: v,
        location: "l".into(),
        sku: "Standard".into(),
        tags: "{}".into(),
        properties: "{}".into(),
        redundancy: "GeoRedundant".into(),
        cross_region_restore: "Disabled".into(),
        store: "x".into(),
        secondary: None,
        created: "2026-01-01T00:00:00Z".into(),
    };
    store.insert_vault(&new, "DefaultPolicy", "{}").unwrap();
    assert!(matches!(
        store.insert_vault(&new, "DefaultPolicy", "{}"),
        Err(MetaError::Duplicate(_))
    ));
    // PostgreSQL's disk_full is the service's storage full.
    let full = MetaError::from(postgres_disk_full());
    assert!(matches!(full, MetaError::Full), "{full}");
    assert_eq!(
        crate::ServiceError::from(full).code(),
        crate::error::STORAGE_FULL
    );
}

/// A real `53100 disk_full` error from the server (raised by a function,
/// since filling the cluster's disk is not a unit test).
fn postgres_disk_full() -> ::postgres::Error {
    let admin = postgres_admin_url().expect("checked by the caller");
    let mut c = ::postgres::Client::connect(&admin, ::postgres::NoTls).unwrap();
    c.batch_execute("DO $$ BEGIN RAISE EXCEPTION 'no space' USING ERRCODE = 'disk_full'; END $$")
        .unwrap_err()
}

/// A store whose driver does something wrong fails the suite.
fn fails_conformance(fault: Fault) -> bool {
    let driver = Faulty::new(SqliteDriver::open_in_memory().unwrap());
    driver.faults().lock().unwrap().push(fault);
    let store = SqlStore::new(driver);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conformance::run(&store)));
    std::panic::set_hook(hook);
    r.is_err()
}

#[test]
fn broken_stores_fail_the_suite() {
    assert!(fails_conformance(Fault::ReverseRows), "pages out of order");
    assert!(fails_conformance(Fault::DropLastRow), "a row lost");
    assert!(
        fails_conformance(Fault::RefusePoints),
        "points not recorded"
    );
}

#[test]
fn sqlite_migrations_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.db");
    SqliteDriver::open(&p).unwrap();
    let d = SqliteDriver::open(&p).unwrap();
    assert_eq!(d.schema_version().unwrap(), MIGRATIONS.len() as i64);
}

#[test]
fn the_sqlite_database_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("metadata.db");
    let store = SqlStore::sqlite(&p).unwrap();
    store.set_verify_after(1, "t").unwrap(); // a write, so the WAL exists
    for f in ["metadata.db", "metadata.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // An existing database made readable by others is made private.
    drop(store);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    SqlStore::sqlite(&p).unwrap();
    let mode = std::fs::metadata(&p).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn sqlite_disk_full_is_storage_full() {
    let full =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
    let e = MetaError::from(full);
    assert!(matches!(e, MetaError::Full));
    assert_eq!(
        crate::ServiceError::from(e).code(),
        crate::error::STORAGE_FULL
    );
}

/// The migrations released before the metadata store existed (the
/// `MIGRATIONS` of the former `db.rs`), verbatim: a database they made
/// must open and migrate unchanged.
const RELEASED_V8: &[&str] = &[
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
    "ALTER TABLE protected_items ADD COLUMN deferred_delete TEXT;",
    "ALTER TABLE protected_items ADD COLUMN sched_after TEXT;",
    "ALTER TABLE recovery_points ADD COLUMN instant_until TEXT;
     ALTER TABLE protected_items ADD COLUMN health TEXT;",
    "ALTER TABLE vaults ADD COLUMN verify_schedule TEXT;
     ALTER TABLE vaults ADD COLUMN verify_after TEXT;
     ALTER TABLE recovery_points ADD COLUMN damage TEXT;
     ALTER TABLE recovery_points ADD COLUMN verified TEXT;
     ALTER TABLE jobs ADD COLUMN extra TEXT;",
];

#[test]
fn a_version_8_database_opens_and_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("metadata.db");
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        for m in RELEASED_V8 {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", 8).unwrap();
        c.execute_batch(
            "INSERT INTO vaults (id, subscription, resource_group, name, location, sku, tags, properties, redundancy, cross_region_restore, store, created, verify_schedule)
               VALUES (1, 'sub', 'RG', 'Old', 'westeurope', 'Standard', '{}', '{}', 'GeoRedundant', 'Disabled', 'st', '2025-01-01T00:00:00Z', 'daily 01:00');
             INSERT INTO policies (vault, name, properties) VALUES (1, 'DefaultPolicy', '{}');
             INSERT INTO protected_items (id, vault, provider, vm_subscription, vm_resource_group, vm_name, policy, state, data_id, created, health)
               VALUES (1, 1, 'compute', 'sub', 'vms', 'vm1', 'DefaultPolicy', 'Protected', '42', '2025-01-01T00:00:00Z', '{}');
             INSERT INTO jobs (vault, job_id, operation, status, entity, container, start_time, end_time, user_triggered, tasks, progress, bag, errors)
               VALUES (1, 'a', 'Backup', 'Completed', 'vm1', 'c', '2025-01-02T00:00:00.9Z', '2025-01-02T00:01:00Z', 1, '[]', 100, '{}', '[]'),
                      (1, 'b', 'Backup', 'Completed', 'vm1', 'c', '2025-01-02T00:00:00Z', NULL, 0, '[]', 100, '{}', '[]'),
                      (1, 'c', 'Restore', 'Failed', 'vm1', 'c', '2025-01-03T00:00:00Z', NULL, 0, '[]', 5, '{}', '[]');
             INSERT INTO recovery_points (item, name, time, consistency, disks, instant_until, damage)
               VALUES (1, '1735776000000000', '2025-01-02T00:00:00Z', 'CrashConsistent', '[]', NULL, 'pack p');",
        )
        .unwrap();
    }
    let store = SqlStore::sqlite(&p).unwrap();
    assert_eq!(
        store.driver().schema_version().unwrap(),
        MIGRATIONS.len() as i64
    );
    let v = store.vault_by_id(1).unwrap().unwrap();
    assert_eq!(
        (v.vref.name.as_str(), v.verify_schedule.as_deref()),
        ("Old", Some("daily 01:00"))
    );
    assert_eq!(store.list_policies(1).unwrap().len(), 1);
    let it = store.item_by_id(1).unwrap().unwrap();
    assert_eq!(
        (it.data_id.as_str(), it.health.as_deref()),
        ("42", Some("{}"))
    );
    // The jobs' start times were carried into start_ms: time order, not
    // text order ('…00.9Z' sorts before '…00Z' as text).
    let jobs: Vec<String> = store
        .list_jobs(1, &records::JobQuery::default(), &PageRequest::first(10))
        .unwrap()
        .items
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(jobs, ["c", "a", "b"]);
    let q = records::JobQuery {
        start_from: Some("2025-01-02T00:00:00.5Z".parse().unwrap()),
        start_to: Some("2025-01-02T23:00:00Z".parse().unwrap()),
        ..Default::default()
    };
    let jobs: Vec<String> = store
        .list_jobs(1, &q, &PageRequest::first(10))
        .unwrap()
        .items
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(jobs, ["a"]);
    let point = store.find_point("1735776000000000").unwrap().unwrap();
    assert_eq!(point.damage.as_deref(), Some("pack p"));
    let old = crate::vault::VaultRef {
        subscription: "SUB".into(),
        resource_group: "rg".into(),
        name: "old".into(),
    };
    assert!(store.find_vault(&old).unwrap().is_some());
    // A second open finds nothing to migrate.
    drop(store);
    let store = SqlStore::sqlite(&p).unwrap();
    assert_eq!(
        store.driver().schema_version().unwrap(),
        MIGRATIONS.len() as i64
    );
}

#[test]
fn released_migrations_are_unchanged() {
    // Migrations 1–8 are the released text, moved into files.
    assert!(MIGRATIONS.len() > RELEASED_V8.len());
    for (i, (old, new)) in RELEASED_V8.iter().zip(MIGRATIONS).enumerate() {
        assert_eq!(old.trim_end(), new.trim_end(), "migration {}", i + 1);
    }
}

/// Pages through `n` jobs of one vault `size` at a time: every job once,
/// newest first, each page at most `size`.
fn page_through_many_jobs(store: &dyn MetaStore, n: usize, size: usize) {
    let v = crate::vault::VaultRef {
        subscription: "s".into(),
        resource_group: "rg".into(),
        name: "many".into(),
    };
    let new = records::NewVault {
        vref: v,
        location: "l".into(),
        sku: "Standard".into(),
        tags: "{}".into(),
        properties: "{}".into(),
        redundancy: "GeoRedundant".into(),
        cross_region_restore: "Disabled".into(),
        store: "many".into(),
        secondary: None,
        created: "2026-01-01T00:00:00Z".into(),
    };
    let vault = store.insert_vault(&new, "DefaultPolicy", "{}").unwrap();
    let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    for i in 0..n {
        let id = format!("job-{i:05}");
        let start = t0
            .checked_add(jiff::SignedDuration::from_millis((i / 3) as i64))
            .unwrap();
        store
            .insert_job(
                &records::NewJob {
                    vault,
                    job_id: id.clone(),
                    operation: if i % 2 == 0 { "Backup" } else { "Restore" }.into(),
                    status: "Completed".into(),
                    entity: "vm".into(),
                    container: "c".into(),
                    start,
                    end: Some(start),
                    user_triggered: false,
                    tasks: "[]".into(),
                    progress: 100.0,
                    bag: "{}".into(),
                    errors: "[]".into(),
                },
                &records::NewOperation {
                    vault,
                    op_id: format!("op-{id}"),
                    status: "Succeeded".into(),
                    start_time: start.to_string(),
                    end_time: None,
                    job_id: Some(id),
                },
            )
            .unwrap();
    }
    for (query, want) in [
        (records::JobQuery::default(), n),
        (
            records::JobQuery {
                operation: Some("Restore".into()),
                ..Default::default()
            },
            n / 2,
        ),
    ] {
        let mut token = None;
        let mut seen = Vec::with_capacity(want);
        loop {
            let page = store
                .list_jobs(vault, &query, &PageRequest { token, size })
                .unwrap();
            assert!(page.items.len() <= size);
            seen.extend(page.items.into_iter().map(|j| j.job_id));
            match page.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen.len(), want);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, sorted, "newest first, every job once");
    }
}

#[test]
fn ten_thousand_jobs_page_in_the_query_on_sqlite() {
    page_through_many_jobs(&SqlStore::sqlite_in_memory().unwrap(), 10_000, 200);
}

#[test]
fn many_jobs_page_in_the_query_on_postgres() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::new(&admin);
    page_through_many_jobs(&SqlStore::postgres(&db.url).unwrap(), 3_000, 200);
}

/// Appends one activity entry, then tries to change and remove it with
/// raw SQL: the engine refuses both, and the entry is as it was.
fn activity_log_is_append_only<D: Driver>(store: &SqlStore<D>) {
    let e = ActivityRecord {
        event_id: "e-1".into(),
        at_ms: 1,
        at: "2026-01-01T00:00:00Z".into(),
        subscription: "s".into(),
        resource_group: None,
        resource_id: "/subscriptions/s".into(),
        operation: "Microsoft.RecoveryServices/Vaults/delete".into(),
        method: "DELETE".into(),
        status: "Succeeded".into(),
        http_status: 200,
        caller: "mallory".into(),
        caller_oid: "o".into(),
        client_ip: "127.0.0.1".into(),
        correlation_id: "c".into(),
        message: None,
    };
    store.append_activity(&e).unwrap();
    for sql in [
        "UPDATE activity_log SET caller = 'someone else'",
        "DELETE FROM activity_log",
    ] {
        let r = store.driver().with_conn(true, &mut |c| c.execute(sql, &[]));
        assert!(r.is_err(), "{sql} was let through");
    }
    let q = ActivityQuery {
        subscription: "s".into(),
        from_ms: 0,
        to_ms: 10,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.activities(&q).unwrap(), [e]);
}

#[test]
fn sqlite_activity_log_is_append_only() {
    activity_log_is_append_only(&SqlStore::sqlite_in_memory().unwrap());
}

#[test]
fn postgres_activity_log_is_append_only() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let db = TestDatabase::new(&admin);
    activity_log_is_append_only(&SqlStore::postgres(&db.url).unwrap());
}
