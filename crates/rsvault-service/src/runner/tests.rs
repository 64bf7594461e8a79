//! The job runner over a real service and SQLite store: the pool's bound and
//! queue order, cancels of queued and running jobs (here and through the
//! store, as another server records them), progress in the store, panics.

use super::JobSettings;
use crate::jobs::{JobProgressHandle, JobState};
use crate::vault::VaultRef;
use crate::{Service, StorageSettings};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TASK: &str = "Transfer data to vault";

fn vref() -> VaultRef {
    VaultRef {
        subscription: "s".into(),
        resource_group: "rg".into(),
        name: "v1".into(),
    }
}

/// A service with a vault, its pool bounded to `workers`.
fn service(dir: &std::path::Path, workers: usize) -> (Arc<Service>, i64) {
    let s = Arc::new(Service::open(dir).unwrap());
    s.set_job_settings(JobSettings { workers });
    s.put_vault(
        &vref(),
        serde_json::from_value(json!({"location": "westeurope"})).unwrap(),
    )
    .unwrap();
    let row = s.vault_row(&vref()).unwrap().rowid;
    (s, row)
}

/// Records a running job (not yet submitted).
fn record(s: &Service, vault: i64) -> (String, JobProgressHandle) {
    let (job, _, handle) = s
        .start_job(vault, "Backup", "vm1", "c", &["Take Snapshot", TASK], true)
        .unwrap();
    (job, handle)
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn job(s: &Service, job: &str) -> Value {
    serde_json::to_value(s.get_job(&vref(), job).unwrap()).unwrap()["properties"].clone()
}

fn tasks(p: &Value) -> Vec<String> {
    p["extendedInfo"]["tasksList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The job once it no longer runs.
fn ended(s: &Service, id: &str) -> Value {
    let mut last = Value::Null;
    wait_for(&format!("job {id} ends"), || {
        last = job(s, id);
        !matches!(last["status"].as_str(), Some("InProgress" | "Cancelling"))
    });
    last
}

/// What the test jobs report: how many run at once (and at most), which
/// started in which order, which may finish.
#[derive(Default)]
struct Probe {
    running: AtomicUsize,
    most: AtomicUsize,
    started: Mutex<Vec<String>>,
    released: Mutex<HashSet<String>>,
    all_released: AtomicBool,
}

impl Probe {
    fn started(&self) -> Vec<String> {
        self.started.lock().unwrap().clone()
    }

    fn release(&self, job: &str) {
        self.released.lock().unwrap().insert(job.to_owned());
    }

    fn may_finish(&self, job: &str) -> bool {
        self.all_released.load(Ordering::SeqCst) || self.released.lock().unwrap().contains(job)
    }
}

/// A job that runs until released (then Completed) or cancelled (then
/// Cancelled), at 25 % progress.
fn submit_blocking(s: &Arc<Service>, probe: &Arc<Probe>, id: &str, handle: JobProgressHandle) {
    let (svc, p, j) = (s.clone(), probe.clone(), id.to_owned());
    s.spawn_job(
        "backup",
        id,
        (TASK, "vm1".into()),
        move || {
            let n = p.running.fetch_add(1, Ordering::SeqCst) + 1;
            p.most.fetch_max(n, Ordering::SeqCst);
            p.started.lock().unwrap().push(j.clone());
            handle.set(250);
            let cancelled = loop {
                if handle.is_cancelled() {
                    break true;
                }
                if p.may_finish(&j) {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            p.running.fetch_sub(1, Ordering::SeqCst);
            let st = if cancelled {
                JobState::cancelled(
                    &[("Take Snapshot", true), (TASK, false)],
                    "vm1",
                    handle.get(),
                )
            } else {
                JobState::done(TASK, Default::default())
            };
            svc.finish_job(&j, &st).unwrap();
        },
        |_| {},
    )
    .unwrap();
}

#[test]
fn the_pool_runs_at_most_its_bound_and_queued_jobs_start_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (s, vault) = service(dir.path(), 2);
    assert_eq!(s.runner.bound(), 2);
    let probe = Arc::new(Probe::default());
    let jobs: Vec<String> = (0..4)
        .map(|_| {
            let (id, h) = record(&s, vault);
            submit_blocking(&s, &probe, &id, h);
            id
        })
        .collect();
    wait_for("two jobs run", || probe.started().len() == 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(probe.started().len(), 2, "two workers, two jobs at once");
    for queued in &jobs[2..] {
        let p = job(&s, queued);
        assert_eq!(p["status"], "InProgress", "a queued job shows InProgress");
        assert_eq!(tasks(&p), ["NotStarted", "NotStarted"], "{p}");
        assert!(s.runner.is_queued(queued));
        assert!(
            s.metastore()
                .find_job(None, queued)
                .unwrap()
                .unwrap()
                .run_start_time
                .is_none(),
            "the store knows it waits"
        );
    }
    for running in &jobs[..2] {
        let p = job(&s, running);
        assert_eq!(tasks(&p), ["InProgress", "NotStarted"]);
        assert_eq!(p["extendedInfo"]["tasksList"][0]["taskId"], "Take Snapshot");
        assert_eq!(p["extendedInfo"]["tasksList"][1]["taskId"], TASK);
        assert!(
            s.metastore()
                .find_job(None, running)
                .unwrap()
                .unwrap()
                .run_start_time
                .is_some()
        );
    }
    // One worker frees up: the job queued first takes it, not the other.
    probe.release(&jobs[0]);
    wait_for("the third job starts", || probe.started().len() == 3);
    assert_eq!(probe.started()[2], jobs[2], "queued jobs start in order");
    std::thread::sleep(Duration::from_millis(100));
    assert!(s.runner.is_queued(&jobs[3]));
    probe.all_released.store(true, Ordering::SeqCst);
    for j in &jobs {
        assert_eq!(ended(&s, j)["status"], "Completed");
    }
    assert_eq!(probe.most.load(Ordering::SeqCst), 2, "never more than 2");
    assert_eq!(probe.started().len(), 4, "all ran");
}

#[test]
fn a_bigger_pool_starts_queued_jobs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (s, vault) = service(dir.path(), 1);
    let probe = Arc::new(Probe::default());
    let (a, ha) = record(&s, vault);
    let (b, hb) = record(&s, vault);
    submit_blocking(&s, &probe, &a, ha);
    submit_blocking(&s, &probe, &b, hb);
    wait_for("one job runs", || probe.started().len() == 1);
    assert!(s.runner.is_queued(&b));
    s.set_job_settings(JobSettings { workers: 2 });
    wait_for("the queued job starts", || probe.started().len() == 2);
    probe.all_released.store(true, Ordering::SeqCst);
    assert_eq!(ended(&s, &a)["status"], "Completed");
    assert_eq!(ended(&s, &b)["status"], "Completed");
}

#[test]
fn a_queued_job_cancelled_here_or_through_the_store_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (s, vault) = service(dir.path(), 1);
    let probe = Arc::new(Probe::default());
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let (id, h) = record(&s, vault);
            submit_blocking(&s, &probe, &id, h);
            id
        })
        .collect();
    let (running, here, elsewhere) = (&ids[0], &ids[1], &ids[2]);
    wait_for("the first job runs", || probe.started().len() == 1);

    // Cancelled through the API: it leaves the queue and ends at once.
    let op = s.cancel_job(&vref(), here).unwrap();
    let p = job(&s, here);
    assert_eq!(p["status"], "Cancelled", "{p}");
    assert_eq!(tasks(&p), ["Cancelled", "Cancelled"]);
    assert!(p["endTime"].is_string());
    assert!(s.job_operation_done(&vref(), here, &op).unwrap());

    // Cancelled as another server records it: the watcher ends it.
    assert!(s.metastore().request_cancel(elsewhere, s.now()).unwrap());
    let p = ended(&s, elsewhere);
    assert_eq!(p["status"], "Cancelled", "{p}");
    assert_eq!(tasks(&p), ["Cancelled", "Cancelled"]);

    assert_eq!(
        probe.started(),
        std::slice::from_ref(running),
        "neither ran"
    );
    assert_eq!(job(&s, running)["status"], "InProgress");
    probe.all_released.store(true, Ordering::SeqCst);
    assert_eq!(ended(&s, running)["status"], "Completed");
    assert_eq!(probe.started().len(), 1, "nothing else ran");
}

#[test]
fn another_server_sees_progress_and_its_cancel_reaches_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(Service::open(dir.path()).unwrap());
    let shared = s.metastore().clone();
    across_servers(s, shared);
}

/// The same with two servers, each with its own connections, on one
/// PostgreSQL database (when `RSVAULT_TEST_POSTGRES` names a cluster).
#[test]
fn another_server_on_postgres_sees_progress_and_its_cancel_reaches_the_worker() {
    let Some(admin) = crate::metastore::tests::postgres_admin_url() else {
        return;
    };
    let db = crate::metastore::tests::TestDatabase::new(&admin);
    let dir = tempfile::tempdir().unwrap();
    let open = || -> Arc<dyn crate::MetaStore> {
        Arc::new(crate::metastore::sql::SqlStore::postgres(&db.url).unwrap())
    };
    let s = Arc::new(
        Service::open_with_store(
            dir.path(),
            Arc::new(rsvault_engine::clock::SystemClock),
            StorageSettings::default(),
            open(),
        )
        .unwrap(),
    );
    across_servers(s, open());
}

/// Jobs run on `s`; another server over `other_store` (the same database)
/// sees their progress, and cancels recorded there reach their workers.
fn across_servers(s: Arc<Service>, other_store: Arc<dyn crate::MetaStore>) {
    s.set_job_settings(JobSettings { workers: 4 });
    s.put_vault(
        &vref(),
        serde_json::from_value(json!({"location": "westeurope"})).unwrap(),
    )
    .unwrap();
    let vault = s.vault_row(&vref()).unwrap().rowid;
    let other_dir = tempfile::tempdir().unwrap();
    // Opened before the jobs start (its start-up fails the jobs it finds
    // running).
    let other = Service::open_with_store(
        other_dir.path(),
        Arc::new(rsvault_engine::clock::SystemClock),
        StorageSettings::default(),
        other_store.clone(),
    )
    .unwrap();
    let probe = Arc::new(Probe::default());
    let (by_store, h1) = record(&s, vault);
    let (by_api, h2) = record(&s, vault);
    submit_blocking(&s, &probe, &by_store, h1);
    submit_blocking(&s, &probe, &by_api, h2);
    wait_for("both run", || probe.started().len() == 2);

    // Progress is written to the store: the other server shows it.
    wait_for("the other server sees 25 %", || {
        job(&other, &by_store)["extendedInfo"]["progressPercentage"] == 25.0
    });
    assert_eq!(
        other_store
            .find_job(None, &by_store)
            .unwrap()
            .unwrap()
            .progress,
        25.0
    );

    // A cancel recorded in the store, as another server would.
    assert!(other_store.request_cancel(&by_store, s.now()).unwrap());
    let p = ended(&s, &by_store);
    assert_eq!(p["status"], "Cancelled", "{p}");
    assert_eq!(tasks(&p), ["Completed", "Cancelled"]);

    // A cancel through the other server's API, which does not run the job.
    let op = other.cancel_job(&vref(), &by_api).unwrap();
    let status = job(&other, &by_api)["status"].clone();
    assert!(status == "Cancelling" || status == "Cancelled", "{status}");
    let p = ended(&s, &by_api);
    assert_eq!(p["status"], "Cancelled", "{p}");
    assert!(other.job_operation_done(&vref(), &by_api, &op).unwrap());
    assert_eq!(probe.running.load(Ordering::SeqCst), 0);
}

#[test]
fn a_panic_in_one_worker_leaves_the_others_running() {
    let dir = tempfile::tempdir().unwrap();
    let (s, vault) = service(dir.path(), 3);
    let probe = Arc::new(Probe::default());
    let (a, ha) = record(&s, vault);
    let (b, hb) = record(&s, vault);
    submit_blocking(&s, &probe, &a, ha);
    submit_blocking(&s, &probe, &b, hb);
    wait_for("two run", || probe.started().len() == 2);
    let (bad, _) = record(&s, vault);
    s.spawn_job(
        "backup",
        &bad,
        (TASK, "vm1".into()),
        || panic!("index out of range in a worker"),
        |_| {},
    )
    .unwrap();
    let p = ended(&s, &bad);
    assert_eq!(p["status"], "Failed", "{p}");
    assert_eq!(p["errorDetails"][0]["errorCode"], "InternalServerError");
    assert_eq!(probe.running.load(Ordering::SeqCst), 2, "the others run on");
    for j in [&a, &b] {
        assert_eq!(job(&s, j)["status"], "InProgress");
    }
    // The pool is whole: a fourth job runs beside the two.
    let (d, hd) = record(&s, vault);
    submit_blocking(&s, &probe, &d, hd);
    wait_for("the fourth runs", || probe.started().len() == 3);
    probe.all_released.store(true, Ordering::SeqCst);
    for j in [&a, &b, &d] {
        assert_eq!(ended(&s, j)["status"], "Completed");
    }
}

#[test]
fn a_worker_that_panics_ends_its_job_failed_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (s, vault) = service(dir.path(), 4);
    let (job, _) = record(&s, vault);
    s.spawn_job(
        "backup",
        &job,
        (TASK, "vm1".into()),
        || panic!("index out of range in a worker"),
        |_| {},
    )
    .unwrap();
    let got = ended(&s, &job);
    assert_eq!(got["status"], "Failed", "{got}");
    let e = &got["errorDetails"][0];
    assert_eq!(e["errorCode"], "InternalServerError", "{got}");
    let msg = e["errorString"].as_str().unwrap();
    assert!(
        msg.contains("stopped unexpectedly") && msg.contains("index out of range"),
        "{msg}"
    );
    // The service goes on: another job starts and ends normally.
    let (job2, _) = record(&s, vault);
    let (s2, j2) = (s.clone(), job2.clone());
    s.spawn_job(
        "backup",
        &job2,
        (TASK, "vm1".into()),
        move || {
            let _ = s2.finish_job(&j2, &JobState::done(TASK, Default::default()));
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(ended(&s, &job2)["status"], "Completed");
}

#[test]
fn a_worker_that_records_no_outcome_ends_its_job_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, vault) = service(dir.path(), 4);
    let (job, _) = record(&s, vault);
    s.spawn_job("restore", &job, (TASK, "vm1".into()), || {}, |_| {})
        .unwrap();
    let got = ended(&s, &job);
    assert_eq!(got["status"], "Failed", "{got}");
    assert_eq!(got["errorDetails"][0]["errorCode"], "InternalServerError");
}

#[test]
fn queued_jobs_a_dead_process_left_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (s, vault) = service(dir.path(), 1);
    // What the store holds of a job still in the queue when the process
    // died: InProgress, its tasks NotStarted, no worker start.
    let (queued, _) = record(&s, vault);
    let r = s.metastore().find_job(None, &queued).unwrap().unwrap();
    assert_eq!((r.status.as_str(), r.run_start_time), ("InProgress", None));
    let (cancelling, _) = record(&s, vault);
    s.metastore().request_cancel(&cancelling, s.now()).unwrap();
    drop(s);
    let s = Arc::new(Service::open(dir.path()).unwrap());
    for j in [&queued, &cancelling] {
        let p = job(&s, j);
        assert_eq!(p["status"], "Failed", "{p}");
        assert_eq!(p["errorDetails"][0]["errorCode"], "ServiceRestarted");
    }
}
