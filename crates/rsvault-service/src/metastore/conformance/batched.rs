//! The conformance suite's part on batched reads (what a page of items
//! shows, read for the whole page at once) and on the policy limit under
//! concurrent saves.

use super::{job, new_item, t, update, vault_id, vref};
use crate::metastore::MetaStore;
use crate::metastore::records::{NewRecoveryPoint, PointSummary};
use std::sync::Barrier;

/// More than one statement's batch, so that batches are joined in order.
const MANY: usize = 450;

pub(super) fn point_summaries(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-ps", "rg", "sums"), "store-ps");
    let a = s.insert_item(&new_item(v, "rg", "vm-s1", "Daily")).unwrap();
    let b = s.insert_item(&new_item(v, "rg", "vm-s2", "Daily")).unwrap();
    let none = s.insert_item(&new_item(v, "rg", "vm-s3", "Daily")).unwrap();
    assert!(s.point_summaries(&[]).unwrap().is_empty());
    let commit = |item: i64, job_id: &str, start: &str| -> String {
        job(s, v, job_id, "Backup", "c", start);
        let p = NewRecoveryPoint {
            item,
            started: t(start),
            consistency: "CrashConsistent".into(),
            expiry: None,
            disks: "[]".into(),
            instant_until: None,
        };
        s.commit_backup(&p, job_id, &|_| update("Completed", start))
            .unwrap()
    };
    let a1 = commit(a, "ps-1", "2026-07-01T00:00:00Z");
    let a2 = commit(a, "ps-2", "2026-07-03T00:00:00Z");
    let a3 = commit(a, "ps-3", "2026-07-02T00:00:00Z");
    let b1 = commit(b, "ps-4", "2026-07-04T00:00:00Z");
    let sum = |item, count, latest: Option<&str>, damaged: &[&String]| PointSummary {
        item,
        count,
        latest: latest.map(str::to_owned),
        damaged: damaged.iter().map(|n| (*n).clone()).collect(),
    };
    assert_eq!(
        s.point_summaries(&[b, none, a, -7, b]).unwrap(),
        [
            sum(b, 1, Some("2026-07-04T00:00:00Z"), &[]),
            sum(none, 0, None, &[]),
            sum(a, 3, Some("2026-07-03T00:00:00Z"), &[]),
            sum(-7, 0, None, &[]),
            sum(b, 1, Some("2026-07-04T00:00:00Z"), &[]),
        ],
        "one summary per item asked, in order: the count and the newest time"
    );
    let id = |name: &str| s.find_point(name).unwrap().unwrap().id;
    for name in [&a2, &a1, &b1] {
        assert!(s.set_point_verified(id(name), Some("pack x"), "2026-08-01T00:00:00Z").unwrap());
    }
    assert!(s.set_point_verified(id(&a3), None, "2026-08-01T00:00:00Z").unwrap());
    assert_eq!(
        s.point_summaries(&[a, b]).unwrap(),
        [
            sum(a, 3, Some("2026-07-03T00:00:00Z"), &[&a1, &a2]),
            sum(b, 1, Some("2026-07-04T00:00:00Z"), &[&b1]),
        ],
        "damaged points by name, oldest first; intact ones left out"
    );
    let mut many: Vec<i64> = (0..MANY as i64).map(|i| -1000 - i).collect();
    many.push(b);
    many.insert(3, a);
    let got = s.point_summaries(&many).unwrap();
    assert_eq!(got.len(), many.len());
    assert_eq!((got[3].item, got[3].count), (a, 3));
    assert_eq!(
        got.last(),
        Some(&sum(b, 1, Some("2026-07-04T00:00:00Z"), &[&b1])),
        "past the first batch"
    );
    assert!(got.iter().filter(|p| p.count > 0).count() == 2);
}

pub(super) fn latest_jobs(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-lj", "rg", "latest"), "store-lj");
    let other = vault_id(s, &vref("sub-lj", "rg", "other"), "store-lj2");
    assert_eq!(
        s.latest_jobs(v, "Backup", &[]).unwrap(),
        Vec::<Option<_>>::new()
    );
    job(s, v, "lj-1", "Backup", "kind;rg;vm1", "2026-09-01T00:00:01Z");
    job(s, v, "lj-2", "Backup", "kind;rg;vm2", "2026-09-01T00:00:02Z");
    job(s, v, "lj-3", "Backup", "kind;rg;vm1", "2026-09-01T00:00:03Z");
    // Newer, but not a backup.
    job(s, v, "lj-4", "Restore", "kind;rg;vm1", "2026-09-01T00:00:04Z");
    // Started in the same millisecond: the one recorded last is newest.
    job(s, v, "lj-5", "Backup", "kind;rg;vm3", "2026-09-01T00:00:05Z");
    job(s, v, "lj-6", "Backup", "kind;rg;vm3", "2026-09-01T00:00:05Z");
    // Another vault's job of the same container.
    job(s, other, "lj-7", "Backup", "kind;rg;vm1", "2026-09-01T00:00:09Z");
    let ids = |got: Vec<Option<crate::metastore::records::JobRecord>>| {
        got.into_iter()
            .map(|j| j.map(|j| j.job_id))
            .collect::<Vec<_>>()
    };
    let some = |id: &str| Some(id.to_owned());
    let containers: Vec<String> = ["KIND;RG;VM1", "kind;rg;vm2", "kind;rg;none", "kind;rg;vm3", "kind;rg;vm1"]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(
        ids(s.latest_jobs(v, "backup", &containers).unwrap()),
        [some("lj-3"), some("lj-2"), None, some("lj-6"), some("lj-3")],
        "per container in any case, in order, of the operation in any case, of the vault"
    );
    let full = s.latest_jobs(v, "Backup", &containers[1..2]).unwrap();
    assert_eq!(
        full[0].as_ref(),
        s.find_job(Some(v), "lj-2").unwrap().as_ref(),
        "the whole job"
    );
    assert_eq!(
        ids(s.latest_jobs(v, "Restore", &containers[..2]).unwrap()),
        [some("lj-4"), None]
    );
    assert_eq!(
        ids(s.latest_jobs(other, "Backup", &containers[..2]).unwrap()),
        [some("lj-7"), None]
    );
    let mut many: Vec<String> = (0..MANY).map(|i| format!("kind;rg;x{i}")).collect();
    many.insert(5, "kind;rg;vm2".into());
    many.push("kind;rg;vm1".into());
    let got = ids(s.latest_jobs(v, "Backup", &many).unwrap());
    assert_eq!(got.len(), many.len());
    assert_eq!((&got[5], got.last()), (&some("lj-2"), Some(&some("lj-3"))));
    assert_eq!(got.iter().flatten().count(), 2, "past the first batch");
}

pub(super) fn find_policies(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-fp", "rg", "pols"), "store-fp");
    let other = vault_id(s, &vref("sub-fp", "rg", "pols2"), "store-fp2");
    for name in ["Daily", "weekly", "Monthly"] {
        s.save_policy(v, name, &format!(r#"{{"n":"{name}"}}"#), 200)
            .unwrap();
    }
    s.save_policy(other, "Daily", "{}", 200).unwrap();
    let names = |got: Vec<crate::metastore::records::PolicyRecord>| {
        got.into_iter()
            .map(|p| (p.vault, p.name))
            .collect::<Vec<_>>()
    };
    assert!(s.find_policies(v, &[]).unwrap().is_empty());
    let asked: Vec<String> = ["WEEKLY", "daily", "nope", "Daily", ""]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(
        names(s.find_policies(v, &asked).unwrap()),
        [(v, "Daily".to_owned()), (v, "weekly".to_owned())],
        "in any case, once each, by name, of the vault only"
    );
    let got = s.find_policies(v, &asked[1..2]).unwrap();
    assert_eq!(got, [s.find_policy(v, "Daily").unwrap().unwrap()]);
    let mut many: Vec<String> = (0..MANY).map(|i| format!("p{i}")).collect();
    many.insert(7, "monthly".into());
    many.push("DEFAULTPOLICY".into());
    assert_eq!(
        names(s.find_policies(v, &many).unwrap()),
        [
            (v, "DefaultPolicy".to_owned()),
            (v, "Monthly".to_owned())
        ],
        "past the first batch, still by name"
    );
}

/// Threads (and, on a database server, connections) saving policies at
/// once never take a vault past the limit, and saves of one name in any
/// case make one policy.
pub(super) fn concurrent_policy_saves(s: &dyn MetaStore) {
    const THREADS: usize = 8;
    const EACH: usize = 6;
    const LIMIT: usize = 20;
    let v = vault_id(s, &vref("sub-cp", "rg", "limit"), "store-cp");
    // One round per name at a time, so that every thread's save races.
    let start = Barrier::new(THREADS);
    let saved: Vec<Option<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|th| {
                let start = &start;
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            start.wait();
                            s.save_policy(v, &format!("P{th}-{i}"), "{}", LIMIT)
                                .expect("a concurrent save")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a saving thread"))
            .collect()
    });
    let policies = s.list_policies(v).unwrap();
    assert_eq!(
        policies.len(),
        LIMIT,
        "the limit holds when saves race (DefaultPolicy and {} saved)",
        saved.iter().flatten().count()
    );
    assert_eq!(saved.iter().flatten().count(), LIMIT - 1);
    let w = vault_id(s, &vref("sub-cp", "rg", "same"), "store-cp2");
    let start = Barrier::new(THREADS);
    let names: Vec<Option<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|th| {
                let start = &start;
                scope.spawn(move || {
                    let name = if th % 2 == 0 { "Shared" } else { "SHARED" };
                    start.wait();
                    s.save_policy(w, name, &format!(r#"{{"th":{th}}}"#), LIMIT)
                        .expect("a concurrent save of one name")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a saving thread"))
            .collect()
    });
    let stored = s.find_policy(w, "shared").unwrap().expect("saved");
    assert!(
        names.iter().all(|n| n.as_deref() == Some(stored.name.as_str())),
        "every save names the one stored policy: {names:?}"
    );
    assert_eq!(s.list_policies(w).unwrap().len(), 2, "one policy made");
}
