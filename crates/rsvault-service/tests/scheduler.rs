//! The scheduler loop through the service, on an injected clock: scheduled
//! backups fire at the policy's local time across a daylight-saving change,
//! catch up once after downtime, respect the concurrency limit, and
//! retention expires exactly the points no tier keeps (and gc reclaims them).

use rsvault_engine::clock::{ManualClock, system_time};
use rsvault_service::inventory::{ResourceRef, VmProvider};
use rsvault_service::{Service, VaultRef};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct World {
    _dir: tempfile::TempDir,
    svc: Arc<Service>,
    clock: Arc<ManualClock>,
    vault: VaultRef,
}

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn world(start: &str, vms: &[&str], policy: Value) -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(system_time(ts(start))));
    let svc = Arc::new(Service::open_with_clock(dir.path(), clock.clone()).unwrap());
    let vault = VaultRef {
        subscription: "sub".into(),
        resource_group: "rg".into(),
        name: "vault1".into(),
    };
    svc.put_vault(&vault, rsvault_arm::vault::VaultPut::located("westeurope"))
        .unwrap();
    svc.put_policy(
        &vault,
        "nightly",
        serde_json::from_value(json!({"properties": policy})).unwrap(),
    )
    .unwrap();
    for (i, vm) in vms.iter().enumerate() {
        let img = dir.path().join(format!("images/{vm}.raw"));
        std::fs::write(&img, vec![i as u8 + 1; 1 << 20]).unwrap();
        let r = ResourceRef {
            subscription: "sub".into(),
            resource_group: "vms".into(),
            name: (*vm).into(),
        };
        svc.put_vm(VmProvider::Compute, &r, &serde_json::from_value(json!({"location": "westeurope",
            "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": format!("file://{}", img.display())}}}}})).unwrap())
            .unwrap();
        svc.put_protected_item(
            &vault,
            &format!("IaasVMContainer;iaasvmcontainerv2;vms;{vm}"),
            &format!("VM;iaasvmcontainerv2;vms;{vm}"),
            &serde_json::from_value(json!({"properties": {"policyId": format!("{}/backupPolicies/nightly", vault.id())}})).unwrap(),
        )
        .unwrap();
    }
    World {
        _dir: dir,
        svc,
        clock,
        vault,
    }
}

fn daily_policy(tz: &str, days: u32, weekly: Option<u32>) -> Value {
    let t = "2026-01-01T21:00:00Z";
    let mut ret = json!({"retentionPolicyType": "LongTermRetentionPolicy",
        "dailySchedule": {"retentionTimes": [t], "retentionDuration": {"count": days, "durationType": "Days"}}});
    if let Some(w) = weekly {
        ret["weeklySchedule"] = json!({"daysOfTheWeek": ["Sunday"], "retentionTimes": [t],
            "retentionDuration": {"count": w, "durationType": "Weeks"}});
    }
    json!({"backupManagementType": "AzureIaasVM", "timeZone": tz, "instantRpRetentionRangeInDays": 2,
        "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": [t]},
        "retentionPolicy": ret})
}

impl World {
    /// A job as the API shows it.
    fn job(&self, job: &str) -> Value {
        serde_json::to_value(self.svc.get_job(&self.vault, job).unwrap()).unwrap()
    }

    fn wait_jobs(&self, jobs: &[String]) {
        for job in jobs {
            let mut status = Value::Null;
            for _ in 0..1000 {
                status = self.job(job)["properties"]["status"].clone();
                if status != "InProgress" {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(
                status,
                "Completed",
                "job {job}: {}",
                self.job(job)["properties"]["errorDetails"]
            );
        }
    }

    /// Ticks every `step` of simulated time until `until`, waiting for the
    /// backups each tick starts; returns the times backups started at.
    fn run_until(&self, until: &str, step: Duration, max: usize) -> Vec<jiff::Timestamp> {
        let mut started = Vec::new();
        while self.svc.now() < ts(until) {
            self.clock.advance(step);
            let rep = self.svc.scheduler_tick(max).unwrap();
            self.wait_jobs(&rep.started);
            started.extend(rep.started.iter().map(|_| self.svc.now()));
        }
        started
    }

    fn points(&self, vm: &str) -> Vec<jiff::Timestamp> {
        let mut v: Vec<jiff::Timestamp> = self
            .svc
            .list_recovery_points(
                &self.vault,
                &format!("IaasVMContainer;iaasvmcontainerv2;vms;{vm}"),
                &format!("VM;iaasvmcontainerv2;vms;{vm}"),
                "",
            )
            .unwrap()
            .iter()
            .map(|p| {
                p.properties
                    .as_iaas_vm()
                    .and_then(|p| p.recovery_point_time.as_deref())
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        v.sort();
        v
    }
}

#[test]
fn daily_backups_follow_local_time_across_daylight_saving() {
    // Europe switches to summer time on Sunday 2026-03-29 at 01:00 UTC:
    // 21:00 in Berlin is 20:00 UTC before and 19:00 UTC after.
    let w = world(
        "2026-03-27T12:00:00Z",
        &["vm1"],
        daily_policy("W. Europe Standard Time", 7, None),
    );
    let started = w.run_until("2026-03-31T12:00:00Z", Duration::from_secs(15 * 60), 2);
    let want: Vec<jiff::Timestamp> = [
        "2026-03-27T20:00:00Z",
        "2026-03-28T20:00:00Z",
        "2026-03-29T19:00:00Z",
        "2026-03-30T19:00:00Z",
    ]
    .iter()
    .map(|t| ts(t))
    .collect();
    assert_eq!(started, want);
    for t in &started {
        let local = jiff::tz::TimeZone::get("Europe/Berlin")
            .unwrap()
            .to_datetime(*t);
        assert_eq!((local.hour(), local.minute()), (21, 0), "{local}");
    }
    assert_eq!(w.points("vm1"), want, "one recovery point per run");
    let jobs = w
        .svc
        .list_jobs(
            &w.vault,
            "operation eq 'Backup'",
            &rsvault_service::PageRequest::first(100),
        )
        .unwrap()
        .items;
    assert_eq!(jobs.len(), 4);
    assert!(
        jobs.iter()
            .all(|j| j.properties.as_iaas_vm().unwrap().is_user_triggered == Some(false)),
        "scheduled jobs are not user-triggered"
    );
}

#[test]
fn downtime_catches_up_once_and_concurrency_is_limited() {
    let w = world(
        "2026-06-01T12:00:00Z",
        &["vm1", "vm2", "vm3"],
        daily_policy("UTC", 7, None),
    );
    // Three days pass while the server is down: one tick, one backup each
    // (not three), and only one at a time.
    w.clock.advance(Duration::from_secs(3 * 86400));
    let rep = w.svc.scheduler_tick(1).unwrap();
    assert_eq!((rep.started.len(), rep.waiting), (1, 2));
    let mut total = rep.started.len();
    w.wait_jobs(&rep.started);
    for _ in 0..2 {
        let rep = w.svc.scheduler_tick(1).unwrap();
        assert_eq!(rep.started.len(), 1);
        total += 1;
        w.wait_jobs(&rep.started);
    }
    assert_eq!(total, 3);
    let rep = w.svc.scheduler_tick(1).unwrap();
    assert_eq!(
        (rep.started.len(), rep.waiting),
        (0, 0),
        "nothing more is due"
    );
    for vm in ["vm1", "vm2", "vm3"] {
        assert_eq!(w.points(vm).len(), 1, "{vm}");
    }
}

#[test]
fn retention_expires_exactly_the_points_no_tier_keeps() {
    // Daily points kept 7 days, Sunday points 3 weeks; 30 days of nightly
    // backups (2026-05-01 is a Friday).
    let w = world(
        "2026-05-01T12:00:00Z",
        &["vm1"],
        daily_policy("UTC", 7, Some(3)),
    );
    let started = w.run_until("2026-05-31T12:00:00Z", Duration::from_secs(3600), 2);
    assert_eq!(started.len(), 30);
    let now = w.svc.now();
    let day = jiff::SignedDuration::from_hours(24);
    let want: Vec<jiff::Timestamp> = started
        .iter()
        .copied()
        .filter(|t| {
            let daily = now < t.checked_add(day * 7).unwrap();
            let sunday =
                jiff::tz::TimeZone::UTC.to_datetime(*t).weekday() == jiff::civil::Weekday::Sunday;
            let weekly = sunday && now < t.checked_add(day * 21).unwrap();
            daily || weekly
        })
        .collect();
    assert_eq!(w.points("vm1"), want);
    // 7 daily points, plus the Sundays of the two weeks before them.
    assert_eq!(want.len(), 9, "{want:?}");
    // The vault store holds exactly the kept points after gc.
    let store = w
        .svc
        .open_vault_store(&w.svc.vault_store_name(&w.vault).unwrap())
        .unwrap();
    assert_eq!(store.list_points().unwrap().len(), want.len());
}
