//! Every background job runs through [`Service::spawn_job`]: on its own
//! named thread, with a panic caught at the thread's edge, so a worker that
//! panics ends its job Failed with an internal-error code and a message,
//! instead of leaving it InProgress until the server restarts.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::jobs::JobState;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// What a caught panic said.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

impl Service {
    /// Runs `work` as the worker of `job` (of `kind`: backup, restore,
    /// verify) on its own thread. If it panics, the job ends Failed on
    /// task `task` of `entity`, and `after_panic` runs (to release what the
    /// job held).
    pub(crate) fn spawn_job(
        self: &Arc<Self>,
        kind: &str,
        job: &str,
        (task, entity): (&'static str, String),
        work: impl FnOnce() + Send + 'static,
        after_panic: impl FnOnce(&Service) + Send + 'static,
    ) -> Result<()> {
        let (svc, job_id, kind_name) = (self.clone(), job.to_owned(), kind.to_owned());
        std::thread::Builder::new()
            .name(format!("{kind}-{job}"))
            .spawn(move || {
                let Err(p) = catch_unwind(AssertUnwindSafe(work)) else {
                    return;
                };
                let msg = panic_message(p.as_ref());
                tracing::error!(job = %job_id, "the {kind_name} job's worker panicked: {msg}");
                after_panic(&svc);
                let e = ServiceError::Internal(format!(
                    "The {kind_name} job's worker stopped unexpectedly ({msg}); nothing partial was kept. The server goes on serving."
                ));
                let _ = svc.finish_job(&job_id, &JobState::failed(task, &entity, &e, 0.0));
            })
            .map(|_| ())
            .map_err(|e| ServiceError::Internal(format!("start {kind} job: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use crate::Service;
    use crate::vault::VaultRef;
    use std::sync::Arc;

    /// The job once it no longer runs.
    fn ended(s: &Service, v: &VaultRef, job: &str) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let j = serde_json::to_value(s.get_job(v, job).unwrap()).unwrap();
            if j["properties"]["status"] != "InProgress" {
                return j;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the job stays InProgress"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn a_worker_that_panics_ends_its_job_failed_and_the_service_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(Service::open(dir.path()).unwrap());
        let v = VaultRef {
            subscription: "s".into(),
            resource_group: "rg".into(),
            name: "v1".into(),
        };
        s.put_vault(&v, rsvault_arm::vault::VaultPut::located("westeurope"))
            .unwrap();
        let row = s.vault_row(&v).unwrap();
        let (job, _, _) = s
            .start_job(
                row.rowid,
                "Backup",
                "vm1",
                "c",
                &["Transfer data to vault"],
                true,
            )
            .unwrap();
        s.spawn_job(
            "backup",
            &job,
            ("Transfer data to vault", "vm1".into()),
            || panic!("index out of range in a worker"),
            |_| {},
        )
        .unwrap();
        let got = ended(&s, &v, &job);
        let p = &got["properties"];
        assert_eq!(p["status"], "Failed", "{got}");
        let e = &p["errorDetails"][0];
        assert_eq!(e["errorCode"], "InternalServerError", "{got}");
        let msg = e["errorString"].as_str().unwrap();
        assert!(
            msg.contains("stopped unexpectedly") && msg.contains("index out of range"),
            "{msg}"
        );
        // The service goes on: another job starts and ends normally.
        let (job2, _, _) = s
            .start_job(
                row.rowid,
                "Backup",
                "vm1",
                "c",
                &["Transfer data to vault"],
                true,
            )
            .unwrap();
        let s2 = s.clone();
        let j2 = job2.clone();
        s.spawn_job(
            "backup",
            &job2,
            ("Transfer data to vault", "vm1".into()),
            move || {
                let _ = s2.finish_job(
                    &j2,
                    &crate::jobs::JobState::done("Transfer data to vault", Default::default()),
                );
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(ended(&s, &v, &job2)["properties"]["status"], "Completed");
    }
}
