//! The conformance suite of [`MetaStore`]: every method, on an empty store.
//! Round trips, names that match regardless of case, uniqueness, cascades,
//! filters and paging edges (empty, exactly one page, the last page, a bad
//! token), one transaction per method, writers on several threads
//! (`conformance/policy_limit.rs`: the policy limit under concurrent saves),
//! overviews of a page of items (`conformance/overviews.rs`), and the
//! replication state of geo-redundant vaults (`conformance/replication.rs`),
//! and principals with their credentials and role assignments
//! (`conformance/identity.rs`), resource guards with their links and
//! unlocks, and the append-only activity log (`conformance/guards.rs`),
//! agent hosts and their one-time enrolment tokens (`conformance/hosts.rs`).
//! It panics on the first difference, naming it.
//!
//! ```no_run
//! let store = rsvault_service::metastore::sql::SqlStore::sqlite_in_memory().unwrap();
//! rsvault_service::metastore::conformance::run(&store);
//! ```

mod guards;
mod hosts;
mod identity;
mod overviews;
mod policy_limit;
mod replication;

use super::records::*;
use super::{MetaError, MetaStore, PageRequest};
use crate::inventory::{ResourceRef, VmProvider};
use crate::vault::VaultRef;

/// Runs the whole suite on an empty store.
pub fn run(store: &dyn MetaStore) {
    vaults(store);
    policies(store);
    inventory(store);
    items(store);
    operations_and_jobs(store);
    job_paging(store);
    job_runner_state(store);
    points(store);
    cascades(store);
    concurrent_writers(store);
    overviews::item_overviews(store);
    replication::secondary_and_replicated_points(store);
    policy_limit::concurrent_policy_saves(store);
    identity::principals_and_assignments(store);
    guards::guards_links_and_unlocks(store);
    guards::activity_log(store);
    hosts::hosts_and_tokens(store);
}

fn vref(sub: &str, rg: &str, name: &str) -> VaultRef {
    VaultRef {
        subscription: sub.into(),
        resource_group: rg.into(),
        name: name.into(),
    }
}

fn rref(sub: &str, rg: &str, name: &str) -> ResourceRef {
    ResourceRef {
        subscription: sub.into(),
        resource_group: rg.into(),
        name: name.into(),
    }
}

fn t(s: &str) -> jiff::Timestamp {
    s.parse().expect("a test time")
}

fn new_vault(v: &VaultRef, store: &str) -> NewVault {
    NewVault {
        vref: v.clone(),
        location: "westeurope".into(),
        sku: "Standard".into(),
        tags: r#"{"a":"b"}"#.into(),
        properties: "{}".into(),
        redundancy: "GeoRedundant".into(),
        cross_region_restore: "Disabled".into(),
        store: store.into(),
        secondary: None,
        created: "2026-01-01T00:00:00Z".into(),
    }
}

fn vault_id(s: &dyn MetaStore, v: &VaultRef, store: &str) -> i64 {
    s.insert_vault(&new_vault(v, store), "DefaultPolicy", r#"{"p":1}"#)
        .expect("insert vault")
}

fn new_item(vault: i64, rg: &str, vm: &str, policy: &str) -> NewItem {
    NewItem {
        vault,
        provider: VmProvider::Compute,
        vm: rref("sub-i", rg, vm),
        policy: policy.into(),
        state: "IRPending".into(),
        data_id: format!("{vault}-{vm}"),
        created: "2026-01-01T00:00:00Z".into(),
    }
}

fn op(vault: i64, id: &str, job: Option<&str>) -> NewOperation {
    NewOperation {
        vault,
        op_id: id.into(),
        status: "Succeeded".into(),
        start_time: "2026-01-01T00:00:00Z".into(),
        end_time: Some("2026-01-01T00:00:00Z".into()),
        job_id: job.map(str::to_owned),
    }
}

fn new_job(vault: i64, id: &str, operation: &str, container: &str, start: &str) -> NewJob {
    NewJob {
        vault,
        job_id: id.into(),
        operation: operation.into(),
        status: "InProgress".into(),
        entity: "vm".into(),
        container: container.into(),
        start: t(start),
        end: None,
        user_triggered: true,
        tasks: "[]".into(),
        progress: 0.0,
        bag: "{}".into(),
        errors: "[]".into(),
    }
}

fn update(status: &str, end: &str) -> JobUpdate {
    JobUpdate {
        status: status.into(),
        tasks: r#"[{"taskId":"t"}]"#.into(),
        progress: 42.5,
        bag: r#"{"k":"v"}"#.into(),
        errors: "[]".into(),
        end: t(end),
    }
}

fn job(s: &dyn MetaStore, vault: i64, id: &str, operation: &str, container: &str, start: &str) {
    s.insert_job(
        &new_job(vault, id, operation, container, start),
        &op(vault, &format!("op-{id}"), Some(id)),
    )
    .expect("insert job");
}

/// Records a completed backup job `job_id` of `item` started at `start`
/// with a point of no disks; returns the point's name.
fn commit_point(
    s: &dyn MetaStore,
    vault: i64,
    item: i64,
    job_id: &str,
    container: &str,
    start: &str,
) -> String {
    job(s, vault, job_id, "Backup", container, start);
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
}

fn page(size: usize, token: Option<String>) -> PageRequest {
    PageRequest { token, size }
}

fn vaults(s: &dyn MetaStore) {
    let a = vref("sub-v", "RG-B", "Vault1");
    let id = vault_id(s, &a, "store-a");
    let got = s
        .find_vault(&vref("SUB-V", "rg-b", "vault1"))
        .unwrap()
        .expect("vaults are found by name in any case");
    assert_eq!(got.id, id);
    assert_eq!(got.vref, a, "the canonical casing is kept");
    assert_eq!(
        (got.location.as_str(), got.tags.as_str(), got.store.as_str()),
        ("westeurope", r#"{"a":"b"}"#, "store-a")
    );
    assert_eq!((got.verify_schedule, got.verify_after), (None, None));
    assert_eq!(s.vault_by_id(id).unwrap().map(|v| v.vref), Some(a.clone()));
    assert_eq!(s.vault_by_id(id + 1000).unwrap(), None);
    assert_eq!(s.vault_by_store("store-a").unwrap().map(|v| v.id), Some(id));
    assert_eq!(s.vault_by_store("nope").unwrap(), None);
    assert!(
        s.find_policy(id, "defaultpolicy").unwrap().is_some(),
        "a vault comes with its first policy"
    );
    match s.insert_vault(
        &new_vault(&vref("sub-v", "rg-b", "VAULT1"), "store-x"),
        "DefaultPolicy",
        "{}",
    ) {
        Err(MetaError::Duplicate(_)) => {}
        other => panic!("a vault name taken in another case is a duplicate: {other:?}"),
    }
    assert!(
        s.vault_by_store("store-x").unwrap().is_none(),
        "nothing of a refused vault stays"
    );
    let b = vault_id(s, &vref("sub-v", "rg-a", "zeta"), "store-b");
    let c = vault_id(s, &vref("sub-v", "rg-b", "alpha"), "store-c");
    vault_id(s, &vref("sub-other", "rg-a", "x"), "store-d");
    let names = |rows: Vec<VaultRecord>| -> Vec<String> {
        rows.into_iter().map(|v| v.vref.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(s.list_vaults("SUB-V", None).unwrap()),
        ["Vault1", "zeta", "alpha"],
        "by group, then name (bytewise: RG-B, rg-a, rg-b)"
    );
    assert_eq!(
        names(s.list_vaults("sub-v", Some("RG-b")).unwrap()),
        ["Vault1", "alpha"]
    );
    assert!(s.list_vaults("none", None).unwrap().is_empty());
    let all: Vec<i64> = s.all_vaults().unwrap().iter().map(|v| v.id).collect();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "all vaults by id");
    assert!(all.contains(&b) && all.contains(&c));
    s.update_vault(
        id,
        &VaultUpdate {
            sku: "RS0".into(),
            tags: "{}".into(),
            properties: r#"{"x":1}"#.into(),
            redundancy: "LocallyRedundant".into(),
            cross_region_restore: "Enabled".into(),
        },
    )
    .unwrap();
    let got = s.vault_by_id(id).unwrap().unwrap();
    assert_eq!(
        (
            got.sku.as_str(),
            got.tags.as_str(),
            got.properties.as_str(),
            got.redundancy.as_str(),
            got.cross_region_restore.as_str()
        ),
        ("RS0", "{}", r#"{"x":1}"#, "LocallyRedundant", "Enabled")
    );
    s.set_verify_schedule(id, Some("daily 02:00"), "2026-02-01T00:00:00Z")
        .unwrap();
    let got = s.vault_by_id(id).unwrap().unwrap();
    assert_eq!(got.verify_schedule.as_deref(), Some("daily 02:00"));
    assert_eq!(got.verify_after.as_deref(), Some("2026-02-01T00:00:00Z"));
    s.set_verify_after(id, "2026-03-01T00:00:00Z").unwrap();
    s.set_verify_schedule(c, None, "2026-04-01T00:00:00Z")
        .unwrap();
    let got = s.vault_by_id(id).unwrap().unwrap();
    assert_eq!(got.verify_after.as_deref(), Some("2026-03-01T00:00:00Z"));
    assert_eq!(s.vault_by_id(c).unwrap().unwrap().verify_schedule, None);
    assert!(s.delete_vault(b).unwrap());
    assert!(!s.delete_vault(b).unwrap(), "a vault deletes once");
    assert!(s.vault_by_id(b).unwrap().is_none());
    assert!(
        s.find_policy(b, "DefaultPolicy").unwrap().is_none(),
        "its policies go with it"
    );
}

fn policies(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-p", "rg", "pv"), "store-p");
    let other = vault_id(s, &vref("sub-p", "rg", "pv2"), "store-p2");
    assert_eq!(
        s.save_policy(v, "Daily", r#"{"d":1}"#, 4)
            .unwrap()
            .as_deref(),
        Some("Daily")
    );
    assert_eq!(
        s.save_policy(v, "DAILY", r#"{"d":2}"#, 4)
            .unwrap()
            .as_deref(),
        Some("Daily"),
        "saving in another case replaces, keeping the stored name"
    );
    let p = s
        .find_policy(v, "daily")
        .unwrap()
        .expect("found in any case");
    assert_eq!(
        (p.vault, p.name.as_str(), p.properties.as_str()),
        (v, "Daily", r#"{"d":2}"#)
    );
    assert!(
        s.find_policy(other, "Daily").unwrap().is_none(),
        "per vault"
    );
    s.save_policy(v, "Alpha", "{}", 4).unwrap();
    s.save_policy(v, "weekly", "{}", 4).unwrap();
    assert_eq!(
        s.save_policy(v, "Fifth", "{}", 4).unwrap(),
        None,
        "the limit counts every policy of the vault"
    );
    assert_eq!(
        s.save_policy(v, "alpha", r#"{"u":1}"#, 4)
            .unwrap()
            .as_deref(),
        Some("Alpha"),
        "an update is no new policy"
    );
    let names: Vec<String> = s
        .list_policies(v)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["Alpha", "Daily", "DefaultPolicy", "weekly"]);
    assert!(s.delete_policy(v, "WEEKLY").unwrap());
    assert!(!s.delete_policy(v, "weekly").unwrap());
    assert!(!s.delete_policy(other, "Daily").unwrap());
    assert_eq!(s.list_policies(v).unwrap().len(), 3);
    assert_eq!(s.list_policies(other).unwrap().len(), 1);
}

fn inventory(s: &dyn MetaStore) {
    let d1 = s
        .insert_disk(&NewDisk {
            disk: rref("sub-n", "RG2", "Data1"),
            location: "westeurope".into(),
            body: r#"{"b":1}"#.into(),
        })
        .unwrap();
    s.insert_disk(&NewDisk {
        disk: rref("sub-n", "rg1", "data2"),
        location: "japaneast".into(),
        body: "{}".into(),
    })
    .unwrap();
    match s.insert_disk(&NewDisk {
        disk: rref("SUB-N", "rg2", "DATA1"),
        location: "x".into(),
        body: "{}".into(),
    }) {
        Err(MetaError::Duplicate(_)) => {}
        other => panic!("a disk name taken in another case is a duplicate: {other:?}"),
    }
    let d = s
        .find_disk(&rref("sub-n", "rg2", "data1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.id, d.disk.name.as_str(), d.body.as_str()),
        (d1, "Data1", r#"{"b":1}"#)
    );
    s.update_disk_body(d1, r#"{"b":2}"#).unwrap();
    assert_eq!(
        s.find_disk(&rref("sub-n", "RG2", "Data1"))
            .unwrap()
            .unwrap()
            .body,
        r#"{"b":2}"#
    );
    let names = |v: Vec<DiskRecord>| v.into_iter().map(|d| d.disk.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_disks("sub-n", None).unwrap()),
        ["Data1", "data2"]
    );
    assert_eq!(
        names(s.list_disks("SUB-N", Some("rg1")).unwrap()),
        ["data2"]
    );
    assert!(s.delete_disk(d1).unwrap());
    assert!(!s.delete_disk(d1).unwrap());
    assert!(
        s.find_disk(&rref("sub-n", "rg2", "data1"))
            .unwrap()
            .is_none()
    );

    let vm = |p: VmProvider, rg: &str, name: &str| NewVm {
        provider: p,
        vm: rref("sub-n", rg, name),
        location: "westeurope".into(),
        vm_id: format!("id-{name}"),
        power_state: "running".into(),
        body: r#"{"v":1}"#.into(),
    };
    let v1 = s.insert_vm(&vm(VmProvider::Compute, "rg1", "VM1")).unwrap();
    let v2 = s
        .insert_vm(&vm(VmProvider::ClassicCompute, "rg1", "vm1"))
        .unwrap();
    let v3 = s.insert_vm(&vm(VmProvider::Compute, "RG0", "b")).unwrap();
    match s.insert_vm(&vm(VmProvider::Compute, "RG1", "vm1")) {
        Err(MetaError::Duplicate(_)) => {}
        other => panic!("a VM name taken in another case is a duplicate: {other:?}"),
    }
    let got = s
        .find_vm(VmProvider::Compute, &rref("SUB-N", "rg1", "vm1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            got.id,
            got.provider,
            got.vm.name.as_str(),
            got.vm_id.as_str()
        ),
        (v1, VmProvider::Compute, "VM1", "id-VM1")
    );
    assert_eq!(
        s.find_vm(VmProvider::ClassicCompute, &rref("sub-n", "rg1", "VM1"))
            .unwrap()
            .map(|v| v.id),
        Some(v2),
        "providers are separate"
    );
    s.update_vm_body(v1, r#"{"v":2}"#).unwrap();
    s.set_vm_power(v1, "deallocated").unwrap();
    let got = s
        .find_vm(VmProvider::Compute, &rref("sub-n", "rg1", "vm1"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.body.as_str(), got.power_state.as_str()),
        (r#"{"v":2}"#, "deallocated")
    );
    let names = |v: Vec<VmRecord>| v.into_iter().map(|d| d.vm.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_vms(VmProvider::Compute, "sub-n", None).unwrap()),
        ["b", "VM1"],
        "by group (bytewise: RG0 before rg1), then name"
    );
    assert_eq!(
        names(
            s.list_vms(VmProvider::Compute, "sub-n", Some("rg0"))
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            s.list_vms(VmProvider::ClassicCompute, "SUB-N", None)
                .unwrap()
        ),
        ["vm1"]
    );
    let all: Vec<i64> = s.all_vms().unwrap().iter().map(|v| v.id).collect();
    assert_eq!(all, [v1, v2, v3]);
    assert!(s.delete_vm(v3).unwrap());
    assert!(!s.delete_vm(v3).unwrap());
    let subs = s.subscriptions().unwrap();
    for want in ["sub-n", "sub-p", "sub-v"] {
        assert!(subs.iter().any(|x| x == want), "{want} in {subs:?}");
    }
    let mut sorted = subs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(subs, sorted, "subscriptions sorted, once each");
    vault_id(s, &vref("sub-n", "Rg1", "vaultn"), "store-n");
    let groups = s.resource_groups("SUB-N").unwrap();
    let names: Vec<String> = groups.iter().map(|g| g.name.to_ascii_lowercase()).collect();
    assert_eq!(names, ["rg1"], "one entry per group name in any case");
    assert!(
        ["japaneast", "westeurope"].contains(&groups[0].location.as_str()),
        "{groups:?}"
    );
}

fn items(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-i", "rg", "iv"), "store-i");
    let w = vault_id(s, &vref("sub-i", "rg", "iw"), "store-iw");
    let a = s
        .insert_item(&new_item(v, "RG-B", "vm-a", "Daily"))
        .unwrap();
    let b = s
        .insert_item(&new_item(v, "rg-a", "vm-b", "daily"))
        .unwrap();
    let c = s
        .insert_item(&new_item(v, "rg-a", "vm-c", "Weekly"))
        .unwrap();
    let other = s
        .insert_item(&new_item(w, "rg-z", "vm-z", "Daily"))
        .unwrap();
    match s.insert_item(&new_item(w, "rg-b", "VM-A", "Daily")) {
        Err(MetaError::Duplicate(_)) => {}
        other => panic!("a VM is protected once, by one vault: {other:?}"),
    }
    let got = s.item_by_id(a).unwrap().unwrap();
    assert_eq!(
        (
            got.vault,
            got.provider,
            got.vm.clone(),
            got.policy.as_str(),
            got.state.as_str()
        ),
        (
            v,
            VmProvider::Compute,
            rref("sub-i", "RG-B", "vm-a"),
            "Daily",
            "IRPending"
        )
    );
    assert_eq!(
        (got.deferred_delete, got.sched_after, got.health),
        (None, None, None)
    );
    assert_eq!(
        s.find_item(v, VmProvider::Compute, "rg-b", "VM-A")
            .unwrap()
            .map(|i| i.id),
        Some(a)
    );
    assert!(
        s.find_item(w, VmProvider::Compute, "rg-b", "vm-a")
            .unwrap()
            .is_none()
    );
    assert!(
        s.find_item(v, VmProvider::ClassicCompute, "rg-b", "vm-a")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.item_for_vm(VmProvider::Compute, &rref("SUB-I", "rg-z", "VM-Z"))
            .unwrap()
            .map(|i| i.id),
        Some(other)
    );
    assert!(
        s.item_for_vm(VmProvider::Compute, &rref("sub-x", "rg-z", "vm-z"))
            .unwrap()
            .is_none()
    );
    let ids = |items: &[ItemRecord]| items.iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&s.vault_items(v).unwrap()),
        [a, b, c],
        "by group (bytewise: RG-B before rg-a), then name"
    );
    let all = ItemQuery::default();
    let p = s.list_items(v, &all, &page(10, None)).unwrap();
    assert_eq!((ids(&p.items), p.next), (vec![a, b, c], None));
    let p = s.list_items(v, &all, &page(3, None)).unwrap();
    assert_eq!(
        (ids(&p.items), p.next),
        (vec![a, b, c], None),
        "exactly one page has no next page"
    );
    let p1 = s.list_items(v, &all, &page(2, None)).unwrap();
    assert_eq!(ids(&p1.items), [a, b]);
    let p2 = s.list_items(v, &all, &page(2, p1.next.clone())).unwrap();
    assert_eq!(
        (ids(&p2.items), p2.next),
        (vec![c], None),
        "the last page is what is left"
    );
    assert!(matches!(
        s.list_items(v, &all, &page(2, Some("x".into()))),
        Err(MetaError::BadPageToken)
    ));
    let q = |policy: Option<&str>, friendly: Option<&str>, container: Option<ContainerMatch>| {
        ItemQuery {
            policy: policy.map(str::to_owned),
            container,
            friendly_name: friendly.map(str::to_owned),
        }
    };
    let got = |q: ItemQuery| ids(&s.list_items(v, &q, &page(10, None)).unwrap().items);
    assert_eq!(
        got(q(Some("DAILY"), None, None)),
        [a, b],
        "policy in any case"
    );
    assert_eq!(got(q(None, Some("VM-C"), None)), [c]);
    assert_eq!(
        got(q(Some("weekly"), Some("vm-a"), None)),
        Vec::<i64>::new()
    );
    let cm = |provider, rg: Option<&str>, vm: &str| ContainerMatch {
        provider,
        resource_group: rg.map(str::to_owned),
        vm: vm.into(),
    };
    assert_eq!(got(q(None, None, Some(cm(None, None, "vm-b")))), [b]);
    assert_eq!(
        got(q(
            None,
            None,
            Some(cm(Some(VmProvider::Compute), Some("RG-A"), "vm-b"))
        )),
        [b]
    );
    assert!(
        got(q(None, None, Some(cm(None, Some("rg-b"), "vm-b")))).is_empty(),
        "the container's group counts"
    );
    assert!(
        got(q(
            None,
            None,
            Some(cm(Some(VmProvider::ClassicCompute), None, "vm-b"))
        ))
        .is_empty(),
        "the container's provider counts"
    );
    assert!(
        s.list_items(v + w + 1000, &all, &page(5, None))
            .unwrap()
            .items
            .is_empty(),
        "an empty list has one empty page"
    );
    assert_eq!(s.count_items(v, None).unwrap(), 3);
    assert_eq!(s.count_items(v, Some("DAILY")).unwrap(), 2);
    assert_eq!(s.count_items(w, None).unwrap(), 1);
    assert_eq!(ids(&s.scheduled_items().unwrap())[..3], [a, b, c]);
    s.set_item_protection(c, "ProtectionStopped", "").unwrap();
    let got_c = s.item_by_id(c).unwrap().unwrap();
    assert_eq!(
        (got_c.state.as_str(), got_c.policy.as_str()),
        ("ProtectionStopped", "")
    );
    assert!(
        !ids(&s.scheduled_items().unwrap()).contains(&c),
        "no policy, no schedule"
    );
    s.soft_delete_item(b, "2026-05-01T00:00:00Z").unwrap();
    let got_b = s.item_by_id(b).unwrap().unwrap();
    assert_eq!(
        (
            got_b.state.as_str(),
            got_b.policy.as_str(),
            got_b.deferred_delete.as_deref()
        ),
        ("ProtectionStopped", "", Some("2026-05-01T00:00:00Z"))
    );
    assert_eq!(ids(&s.soft_deleted_items().unwrap()), [b]);
    s.undelete_item(b).unwrap();
    let got_b = s.item_by_id(b).unwrap().unwrap();
    assert_eq!(
        (got_b.state.as_str(), got_b.deferred_delete),
        ("ProtectionStopped", None)
    );
    assert!(s.soft_deleted_items().unwrap().is_empty());
    s.set_item_health(a, r#"{"h":1}"#).unwrap();
    s.set_item_sched_after(a, "2026-01-02T00:00:00Z").unwrap();
    let got_a = s.item_by_id(a).unwrap().unwrap();
    assert_eq!(got_a.health.as_deref(), Some(r#"{"h":1}"#));
    assert_eq!(got_a.sched_after.as_deref(), Some("2026-01-02T00:00:00Z"));
    let j = format!("job-purge-{a}");
    job(s, v, &j, "Backup", "c", "2026-01-01T00:00:00Z");
    let point = NewRecoveryPoint {
        item: a,
        started: t("2026-01-01T01:00:00Z"),
        consistency: "CrashConsistent".into(),
        expiry: None,
        disks: "[]".into(),
        instant_until: None,
    };
    let name = s
        .commit_backup(&point, &j, &|_| update("Completed", "2026-01-01T01:00:01Z"))
        .unwrap();
    s.purge_item(a).unwrap();
    assert!(s.item_by_id(a).unwrap().is_none());
    assert!(
        s.find_point(&name).unwrap().is_none(),
        "its points go with it"
    );
    assert_eq!(s.count_items(v, None).unwrap(), 2);
}

fn operations_and_jobs(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-j", "rg", "jv"), "store-j");
    let w = vault_id(s, &vref("sub-j", "rg", "jw"), "store-jw");
    s.insert_operation(&op(v, "op-plain", None)).unwrap();
    let o = s.find_operation(v, "op-plain").unwrap().unwrap();
    assert_eq!(
        (
            o.vault,
            o.status.as_str(),
            o.end_time.as_deref(),
            o.job_id,
            o.error_code
        ),
        (v, "Succeeded", Some("2026-01-01T00:00:00Z"), None, None)
    );
    assert!(
        s.find_operation(w, "op-plain").unwrap().is_none(),
        "per vault"
    );
    job(
        s,
        v,
        "j1",
        "Backup",
        "iaasvmcontainerv2;RG;vm1",
        "2026-01-01T10:00:00Z",
    );
    assert_eq!(
        s.find_operation(v, "op-j1")
            .unwrap()
            .unwrap()
            .job_id
            .as_deref(),
        Some("j1"),
        "a job comes with its operation"
    );
    match s.insert_job(
        &new_job(v, "j1", "Backup", "c", "2026-01-01T10:00:00Z"),
        &op(v, "op-j1-again", Some("j1")),
    ) {
        Err(MetaError::Duplicate(_)) => {}
        other => panic!("a job id is unique: {other:?}"),
    }
    assert!(
        s.find_operation(v, "op-j1-again").unwrap().is_none(),
        "a refused job leaves no operation"
    );
    let j = s.find_job(Some(v), "j1").unwrap().unwrap();
    assert_eq!(
        (
            j.vault,
            j.operation.as_str(),
            j.status.as_str(),
            j.start_time.as_str(),
            j.end_time.clone(),
            j.user_triggered,
            j.progress,
            j.extra.clone()
        ),
        (
            v,
            "Backup",
            "InProgress",
            "2026-01-01T10:00:00Z",
            None,
            true,
            0.0,
            None
        )
    );
    assert!(s.find_job(Some(w), "j1").unwrap().is_none());
    assert_eq!(s.find_job(None, "j1").unwrap().map(|j| j.id), Some(j.id));
    s.set_job_tasks("j1", r#"[{"taskId":"x"}]"#, 12.5).unwrap();
    let j = s.find_job(None, "j1").unwrap().unwrap();
    assert_eq!(
        (j.tasks.as_str(), j.progress),
        (r#"[{"taskId":"x"}]"#, 12.5)
    );
    assert!(s.request_cancel("j1", t("2026-01-01T10:00:01Z")).unwrap());
    assert!(
        s.request_cancel("j1", t("2026-01-01T10:00:02Z")).unwrap(),
        "a job being cancelled may be asked again"
    );
    assert!(
        s.update_job("j1", &update("InProgress", "2026-01-01T10:00:05Z"))
            .unwrap()
    );
    let j = s.find_job(None, "j1").unwrap().unwrap();
    assert_eq!(
        (j.status.as_str(), j.end_time, j.progress, j.bag.as_str()),
        ("Cancelling", None, 42.5, r#"{"k":"v"}"#),
        "a job being cancelled stays Cancelling while it runs"
    );
    assert!(
        s.update_job("j1", &update("Cancelled", "2026-01-01T10:00:09Z"))
            .unwrap()
    );
    let j = s.find_job(None, "j1").unwrap().unwrap();
    assert_eq!(
        (j.status.as_str(), j.end_time.as_deref()),
        ("Cancelled", Some("2026-01-01T10:00:09Z"))
    );
    assert!(
        !s.request_cancel("j1", t("2026-01-01T10:00:10Z")).unwrap(),
        "only a running job"
    );
    assert!(
        !s.update_job("nope", &update("Failed", "2026-01-01T10:00:09Z"))
            .unwrap()
    );
    s.set_job_extra("j1", r#"{"e":1}"#).unwrap();
    assert_eq!(
        s.find_job(None, "j1").unwrap().unwrap().extra.as_deref(),
        Some(r#"{"e":1}"#)
    );
    job(
        s,
        v,
        "j2",
        "Restore",
        "iaasvmcontainerv2;rg;VM1",
        "2026-01-01T11:00:00Z",
    );
    job(
        s,
        v,
        "j3",
        "Backup",
        "iaasvmcontainerv2;rg;vm2",
        "2026-01-01T12:00:00Z",
    );
    job(
        s,
        w,
        "j4",
        "Backup",
        "iaasvmcontainerv2;rg;vm1",
        "2026-01-01T12:00:00Z",
    );
    s.request_cancel("j3", t("2026-01-01T12:00:01Z")).unwrap();
    let active = |q: ActiveJobQuery| -> Vec<String> {
        s.active_jobs(&q)
            .unwrap()
            .into_iter()
            .map(|j| j.job_id)
            .collect()
    };
    let mine = |ids: Vec<String>| -> Vec<String> {
        ids.into_iter()
            .filter(|i| ["j1", "j2", "j3", "j4"].contains(&i.as_str()))
            .collect()
    };
    assert_eq!(mine(active(ActiveJobQuery::default())), ["j2", "j3", "j4"]);
    assert_eq!(
        active(ActiveJobQuery {
            vault: Some(v),
            ..Default::default()
        }),
        ["j2", "j3"],
        "Cancelling is running too"
    );
    assert_eq!(
        mine(active(ActiveJobQuery {
            container: Some("IAASVMCONTAINERV2;rg;vm1".into()),
            ..Default::default()
        })),
        ["j2", "j4"],
        "containers in any case"
    );
    assert_eq!(
        active(ActiveJobQuery {
            vault: Some(v),
            container: None,
            operations: vec!["Backup".into(), "Verify".into()],
        }),
        ["j3"]
    );
    let list = |q: JobQuery| -> Vec<String> {
        s.list_jobs(v, &q, &page(50, None))
            .unwrap()
            .items
            .into_iter()
            .map(|j| j.job_id)
            .collect()
    };
    assert_eq!(
        list(JobQuery::default()),
        ["j3", "j2", "j1"],
        "newest first"
    );
    assert_eq!(
        list(JobQuery {
            operation: Some("backup".into()),
            ..Default::default()
        }),
        ["j3", "j1"]
    );
    assert_eq!(
        list(JobQuery {
            status: Some("cancelled".into()),
            ..Default::default()
        }),
        ["j1"]
    );
    assert_eq!(
        list(JobQuery {
            status: Some("Failed".into()),
            status_overrides: vec![
                ("j2".into(), "Failed".into()),
                ("j1".into(), "Failed".into())
            ],
            ..Default::default()
        }),
        ["j2", "j1"],
        "statuses the service knows better count"
    );
    assert_eq!(
        list(JobQuery {
            status: Some("Cancelled".into()),
            status_overrides: vec![("j1".into(), "Failed".into())],
            ..Default::default()
        }),
        Vec::<String>::new(),
        "an overridden status no longer matches"
    );
    assert_eq!(
        list(JobQuery {
            start_from: Some(t("2026-01-01T11:00:00Z")),
            start_to: Some(t("2026-01-01T11:59:59Z")),
            ..Default::default()
        }),
        ["j2"],
        "start bounds are inclusive"
    );
    assert_eq!(
        list(JobQuery {
            container: Some("IAASVMCONTAINERV2;RG;VM1".into()),
            ..Default::default()
        }),
        ["j2", "j1"]
    );
}

/// What the job runner keeps in a job's row: when a worker took it up,
/// its cancel request, its progress; none of it changes an ended job.
fn job_runner_state(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-r", "rg", "rv"), "store-r");
    job(s, v, "r1", "Backup", "c", "2026-02-01T10:00:00Z");
    job(s, v, "r2", "Backup", "c", "2026-02-01T10:00:01Z");
    job(s, v, "r3", "Restore", "c", "2026-02-01T10:00:02Z");
    let row = |id: &str| s.find_job(None, id).unwrap().expect("the job");
    let r = row("r1");
    assert_eq!(
        (r.run_start_time, r.cancel_requested_at),
        (None, None),
        "a running job waits for a worker until one takes it up"
    );
    let done_id = "r-done";
    s.insert_job(
        &NewJob {
            status: "Completed".into(),
            end: Some(t("2026-02-01T09:00:00Z")),
            ..new_job(v, done_id, "ConfigureBackup", "c", "2026-02-01T09:00:00Z")
        },
        &op(v, "op-r-done", Some(done_id)),
    )
    .unwrap();
    assert_eq!(
        row(done_id).run_start_time.as_deref(),
        Some("2026-02-01T09:00:00Z"),
        "a job recorded ended started as it was recorded"
    );

    let tasks = r#"[{"taskId":"a","status":"InProgress"}]"#;
    assert!(
        s.mark_job_started("r1", tasks, t("2026-02-01T10:00:05Z"))
            .unwrap()
    );
    let r = row("r1");
    assert_eq!(
        (
            r.tasks.as_str(),
            r.run_start_time.as_deref(),
            r.status.as_str()
        ),
        (tasks, Some("2026-02-01T10:00:05Z"), "InProgress")
    );

    assert!(s.set_job_progress("r1", 37.5).unwrap());
    assert_eq!(row("r1").progress, 37.5);
    assert!(!s.set_job_progress("nope", 1.0).unwrap());

    let all: Vec<String> = ["r1", "r2", "r3", "nope", done_id]
        .iter()
        .map(|i| (*i).to_owned())
        .collect();
    assert!(s.cancel_requested(&all).unwrap().is_empty());
    assert!(s.cancel_requested(&[]).unwrap().is_empty());
    assert!(
        s.request_cancel("r2", t("2026-02-01T10:00:06Z")).unwrap(),
        "a job waiting for a worker can be cancelled"
    );
    assert!(s.request_cancel("r3", t("2026-02-01T10:00:07Z")).unwrap());
    assert!(s.request_cancel("r3", t("2026-02-01T10:00:09Z")).unwrap());
    assert!(
        !s.request_cancel(done_id, t("2026-02-01T10:00:07Z"))
            .unwrap()
    );
    assert!(!s.request_cancel("nope", t("2026-02-01T10:00:07Z")).unwrap());
    assert_eq!(s.cancel_requested(&all).unwrap(), ["r2", "r3"]);
    assert_eq!(
        s.cancel_requested(&["r3".to_owned(), "r1".to_owned()])
            .unwrap(),
        ["r3"],
        "only the jobs asked about"
    );
    let r = row("r3");
    assert_eq!(
        (r.status.as_str(), r.cancel_requested_at.as_deref()),
        ("Cancelling", Some("2026-02-01T10:00:07Z")),
        "the first request is kept"
    );
    assert!(
        s.set_job_progress("r3", 12.0).unwrap(),
        "a job being cancelled still runs"
    );

    // An ended job keeps its outcome: no late progress, start or request.
    assert!(
        s.update_job("r3", &update("Cancelled", "2026-02-01T10:00:10Z"))
            .unwrap()
    );
    assert!(!s.set_job_progress("r3", 99.0).unwrap());
    assert!(
        !s.mark_job_started("r3", "[]", t("2026-02-01T10:00:11Z"))
            .unwrap()
    );
    let r = row("r3");
    assert_eq!(
        (
            r.status.as_str(),
            r.progress,
            r.tasks.as_str(),
            r.run_start_time
        ),
        ("Cancelled", 42.5, r#"[{"taskId":"t"}]"#, None)
    );
    assert_eq!(
        s.cancel_requested(&all).unwrap(),
        ["r2"],
        "an ended job is no longer to stop"
    );
    assert_eq!(
        row("r3").cancel_requested_at.as_deref(),
        Some("2026-02-01T10:00:07Z"),
        "the request stays on record"
    );
}

fn job_paging(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-jp", "rg", "pages"), "store-jp");
    let empty = s
        .list_jobs(v, &JobQuery::default(), &page(3, None))
        .unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none(), "empty");
    // Ten jobs, two of them at the same millisecond, one sub-second start
    // that text order would put in the wrong place.
    let starts = [
        "2026-02-01T00:00:01Z",
        "2026-02-01T00:00:02Z",
        "2026-02-01T00:00:02.5Z",
        "2026-02-01T00:00:03Z",
        "2026-02-01T00:00:03Z",
        "2026-02-01T00:00:04Z",
        "2026-02-01T00:00:05Z",
        "2026-02-01T00:00:06Z",
        "2026-02-01T00:00:07Z",
        "2026-02-01T00:00:08Z",
    ];
    for (i, st) in starts.iter().enumerate() {
        job(s, v, &format!("p{i}"), "Backup", "c", st);
    }
    let want: Vec<String> = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
        .iter()
        .map(|i| format!("p{i}"))
        .collect();
    let walk = |size: usize, q: &JobQuery| -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            let p = s.list_jobs(v, q, &page(size, token)).unwrap();
            assert!(p.items.len() <= size, "a page holds at most its size");
            pages += 1;
            seen.extend(p.items.into_iter().map(|j| j.job_id));
            match p.next {
                Some(n) => token = Some(n),
                None => break,
            }
            assert!(pages < 100, "paging ends");
        }
        (seen, pages)
    };
    assert_eq!(walk(3, &JobQuery::default()), (want.clone(), 4));
    assert_eq!(
        walk(10, &JobQuery::default()),
        (want.clone(), 1),
        "exactly one page"
    );
    assert_eq!(walk(5, &JobQuery::default()), (want.clone(), 2));
    assert_eq!(walk(1, &JobQuery::default()).0, want);
    let q = JobQuery {
        start_from: Some(t("2026-02-01T00:00:02.5Z")),
        start_to: Some(t("2026-02-01T00:00:06Z")),
        ..Default::default()
    };
    assert_eq!(
        walk(2, &q).0,
        ["p7", "p6", "p5", "p4", "p3", "p2"],
        "filters hold across pages"
    );
    // A job started while a client pages shows up on no page already read,
    // nor twice.
    let first = s
        .list_jobs(v, &JobQuery::default(), &page(4, None))
        .unwrap();
    job(s, v, "late", "Backup", "c", "2026-02-01T00:01:00Z");
    let rest = s
        .list_jobs(v, &JobQuery::default(), &page(50, first.next.clone()))
        .unwrap();
    let ids: Vec<String> = first
        .items
        .iter()
        .chain(&rest.items)
        .map(|j| j.job_id.clone())
        .collect();
    assert_eq!(ids, want, "keyset paging");
    for bad in ["x", "1", "a_b", "_"] {
        assert!(
            matches!(
                s.list_jobs(v, &JobQuery::default(), &page(2, Some(bad.into()))),
                Err(MetaError::BadPageToken)
            ),
            "token {bad}"
        );
    }
}

fn points(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-rp", "rg", "rv"), "store-rp");
    let a = s
        .insert_item(&new_item(v, "rg-p", "vm-p1", "Daily"))
        .unwrap();
    let b = s
        .insert_item(&new_item(v, "rg-p", "vm-p2", "Daily"))
        .unwrap();
    let commit = |item: i64, job_id: &str, start: &str, instant: bool| -> String {
        job(s, v, job_id, "Backup", "c", start);
        let p = NewRecoveryPoint {
            item,
            started: t(start),
            consistency: "CrashConsistent".into(),
            expiry: Some(t("2027-01-01T00:00:00Z")),
            disks: format!(r#"[{{"job":"{job_id}"}}]"#),
            instant_until: instant.then(|| t("2026-03-05T00:00:00Z")),
        };
        s.commit_backup(&p, job_id, &|name| JobUpdate {
            bag: format!(r#"{{"Recovery Point":"{name}"}}"#),
            ..update("Completed", "2026-03-01T00:00:09Z")
        })
        .unwrap()
    };
    let start = "2026-03-01T00:00:00.000001Z";
    let p1 = commit(a, "rp-j1", start, true);
    assert_eq!(
        p1,
        t(start).as_microsecond().to_string(),
        "named by its start in µs"
    );
    let p2 = commit(b, "rp-j2", start, false);
    assert_eq!(
        p2,
        (t(start).as_microsecond() + 1).to_string(),
        "made unique when two backups start at once"
    );
    let p3 = commit(a, "rp-j3", "2026-03-02T00:00:00Z", true);
    let j = s.find_job(None, "rp-j2").unwrap().unwrap();
    assert_eq!(
        (j.status.as_str(), j.bag, j.end_time.as_deref()),
        (
            "Completed",
            format!(r#"{{"Recovery Point":"{p2}"}}"#),
            Some("2026-03-01T00:00:09Z")
        )
    );
    assert_eq!(s.item_by_id(a).unwrap().unwrap().state, "Protected");
    let got = s.find_point(&p1).unwrap().unwrap();
    assert_eq!(
        (
            got.item,
            got.time.as_str(),
            got.consistency.as_str(),
            got.expiry.as_deref(),
            got.disks.as_str(),
            got.instant_until.as_deref(),
            got.damage.clone(),
            got.verified.clone()
        ),
        (
            a,
            "2026-03-01T00:00:00.000001Z",
            "CrashConsistent",
            Some("2027-01-01T00:00:00Z"),
            r#"[{"job":"rp-j1"}]"#,
            Some("2026-03-05T00:00:00Z"),
            None,
            None
        )
    );
    // A commit that fails leaves nothing: no point, the job running.
    job(s, v, "rp-bad", "Backup", "c", "2026-03-03T00:00:00Z");
    let dup = NewRecoveryPoint {
        item: a + b + 1000,
        started: t("2026-03-03T00:00:00Z"),
        consistency: "CrashConsistent".into(),
        expiry: None,
        disks: "[]".into(),
        instant_until: None,
    };
    assert!(
        s.commit_backup(&dup, "rp-bad", &|_| update(
            "Completed",
            "2026-03-03T00:00:01Z"
        ))
        .is_err(),
        "a point of no item is refused"
    );
    assert_eq!(
        s.find_job(None, "rp-bad").unwrap().unwrap().status,
        "InProgress"
    );
    assert!(
        s.find_point(&t("2026-03-03T00:00:00Z").as_microsecond().to_string())
            .unwrap()
            .is_none()
    );
    let names = |p: Vec<PointRecord>| p.into_iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.item_points(a).unwrap()),
        [p1.clone(), p3.clone()],
        "oldest first"
    );
    assert_eq!(names(s.item_points(b).unwrap()), std::slice::from_ref(&p2));
    assert_eq!(
        names(s.vault_points(v).unwrap()),
        [p1.clone(), p2.clone(), p3.clone()]
    );
    let instant: Vec<String> = names(s.instant_points().unwrap());
    assert_eq!(instant, [p1.clone(), p3.clone()]);
    let id1 = s.find_point(&p1).unwrap().unwrap().id;
    let id3 = s.find_point(&p3).unwrap().unwrap().id;
    s.set_point_disks(id1, r#"[{"new":1}]"#).unwrap();
    assert_eq!(s.find_point(&p1).unwrap().unwrap().disks, r#"[{"new":1}]"#);
    s.leave_instant_tier(id1, r#"[{"left":1}]"#).unwrap();
    let got = s.find_point(&p1).unwrap().unwrap();
    assert_eq!(
        (got.disks.as_str(), got.instant_until),
        (r#"[{"left":1}]"#, None)
    );
    assert_eq!(
        names(s.instant_points().unwrap()),
        std::slice::from_ref(&p3)
    );
    s.clear_item_instant(a).unwrap();
    assert!(s.instant_points().unwrap().is_empty());
    assert!(
        s.set_point_verified(id3, Some("pack x"), "2026-04-01T00:00:00Z")
            .unwrap()
    );
    let got = s.find_point(&p3).unwrap().unwrap();
    assert_eq!(
        (got.damage.as_deref(), got.verified.as_deref()),
        (Some("pack x"), Some("2026-04-01T00:00:00Z"))
    );
    assert!(
        s.set_point_verified(id3, None, "2026-04-02T00:00:00Z")
            .unwrap()
    );
    assert_eq!(s.find_point(&p3).unwrap().unwrap().damage, None);
    assert!(!s.set_point_verified(id3 + id1 + 1000, None, "x").unwrap());
    assert!(!s.delete_point(b, &p1).unwrap(), "a point of another item");
    assert!(s.delete_point(a, &p1).unwrap());
    assert!(!s.delete_point(a, &p1).unwrap());
    assert_eq!(names(s.item_points(a).unwrap()), [p3]);
}

fn cascades(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-c", "rg", "gone"), "store-gone");
    s.save_policy(v, "Extra", "{}", 10).unwrap();
    job(s, v, "cj", "Backup", "c", "2026-05-01T00:00:00Z");
    s.insert_operation(&op(v, "cop", None)).unwrap();
    assert!(s.delete_vault(v).unwrap());
    assert!(s.find_policy(v, "Extra").unwrap().is_none());
    assert!(s.list_policies(v).unwrap().is_empty());
    assert!(
        s.find_job(None, "cj").unwrap().is_none(),
        "jobs go with the vault"
    );
    assert!(s.find_operation(v, "cop").unwrap().is_none());
    assert!(s.find_operation(v, "op-cj").unwrap().is_none());
}

fn concurrent_writers(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-t", "rg", "threads"), "store-t");
    let item = s
        .insert_item(&new_item(v, "rg-t", "vm-t", "Daily"))
        .unwrap();
    const THREADS: usize = 4;
    const EACH: usize = 12;
    let start = t("2026-06-01T00:00:00Z");
    std::thread::scope(|scope| {
        for th in 0..THREADS {
            scope.spawn(move || {
                for i in 0..EACH {
                    let id = format!("t{th}-{i}");
                    job(s, v, &id, "Backup", "c", "2026-06-01T00:00:00Z");
                    let p = NewRecoveryPoint {
                        item,
                        started: start,
                        consistency: "CrashConsistent".into(),
                        expiry: None,
                        disks: "[]".into(),
                        instant_until: None,
                    };
                    // Every point starts at the same time: names stay unique.
                    s.commit_backup(&p, &id, &|_| update("Completed", "2026-06-01T00:00:01Z"))
                        .expect("concurrent commit");
                    s.set_job_extra(&id, &format!(r#"{{"n":{i}}}"#)).unwrap();
                }
            });
        }
    });
    let mut names: Vec<String> = s
        .item_points(item)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), THREADS * EACH, "every commit recorded");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), THREADS * EACH, "point names unique");
    let done = s
        .list_jobs(
            v,
            &JobQuery {
                status: Some("Completed".into()),
                ..Default::default()
            },
            &page(1000, None),
        )
        .unwrap();
    assert_eq!(done.items.len(), THREADS * EACH, "every job ended");
    assert!(done.items.iter().all(|j| j.extra.is_some()));
}
