//! The conformance suite's part on a page of items with their overviews
//! (read for the whole page at once).

use super::{commit_point, job, new_item, page, update, vault_id, vref};
use crate::inventory::VmProvider;
use crate::metastore::records::{ItemOverview, ItemQuery, LastJob, NewItem, PointSummary};
use crate::metastore::{MetaError, MetaStore, PageRequest};

pub(super) fn item_overviews(s: &dyn MetaStore) {
    let v = vault_id(s, &vref("sub-io", "rg", "overviews"), "store-io");
    let other = vault_id(s, &vref("sub-io", "rg", "others"), "store-io2");
    s.save_policy(v, "Daily", r#"{"policyType":"V2"}"#, 200)
        .unwrap();
    // Two items of one group and VM name, of either provider; one without
    // a policy, one naming a policy that is gone.
    let a = s
        .insert_item(&new_item(v, "rg-o", "vm-1", "DAILY"))
        .unwrap();
    let b = s
        .insert_item(&NewItem {
            provider: VmProvider::ClassicCompute,
            ..new_item(v, "rg-o", "vm-1", "DefaultPolicy")
        })
        .unwrap();
    let c = s.insert_item(&new_item(v, "rg-o", "vm-2", "")).unwrap();
    let d = s.insert_item(&new_item(v, "rg-o", "vm-3", "Gone")).unwrap();
    let container = |p: VmProvider, vm: &str| format!("{};rg-o;{vm}", p.container_kind());
    let (ca, cb) = (
        container(VmProvider::Compute, "vm-1"),
        container(VmProvider::ClassicCompute, "vm-1"),
    );
    job(s, v, "o-1", "Backup", &ca, "2026-10-01T00:00:01Z");
    job(s, v, "o-2", "Backup", &cb, "2026-10-01T00:00:02Z");
    // The newest backup of a, its container in another case; then a newer
    // job that is no backup.
    job(
        s,
        v,
        "o-3",
        "Backup",
        &ca.to_uppercase(),
        "2026-10-01T00:00:03Z",
    );
    s.update_job("o-3", &update("Completed", "2026-10-01T00:00:09Z"))
        .unwrap();
    job(s, v, "o-4", "Restore", &ca, "2026-10-01T00:00:04Z");
    // Started in the same millisecond: the one recorded last is newest.
    let cd = container(VmProvider::Compute, "vm-3");
    job(s, v, "o-5", "Backup", &cd, "2026-10-01T00:00:05Z");
    job(s, v, "o-6", "Backup", &cd, "2026-10-01T00:00:05Z");
    // Another vault's backup in c's container.
    job(
        s,
        other,
        "o-7",
        "Backup",
        &container(VmProvider::Compute, "vm-2"),
        "2026-10-01T00:00:07Z",
    );
    let commit =
        |item: i64, job_id: &str, start: &str| commit_point(s, v, item, job_id, "elsewhere", start);
    let a1 = commit(a, "op-1", "2026-09-01T00:00:00Z");
    let a2 = commit(a, "op-2", "2026-09-03T00:00:00Z");
    let a3 = commit(a, "op-3", "2026-09-02T00:00:00Z");
    commit(b, "op-4", "2026-09-04T00:00:00Z");
    let id = |name: &str| s.find_point(name).unwrap().unwrap().id;
    for name in [&a2, &a1] {
        assert!(
            s.set_point_verified(id(name), Some("pack x"), "2026-09-05T00:00:00Z")
                .unwrap()
        );
    }
    assert!(
        s.set_point_verified(id(&a3), None, "2026-09-05T00:00:00Z")
            .unwrap()
    );
    let got = s
        .list_item_overviews(v, &ItemQuery::default(), &page(10, None))
        .unwrap();
    let listed = s
        .list_items(v, &ItemQuery::default(), &page(10, None))
        .unwrap();
    assert_eq!(got.next, None);
    assert_eq!(
        got.items.iter().map(|o| o.item.clone()).collect::<Vec<_>>(),
        listed.items,
        "the items of list_items, in its order"
    );
    assert_eq!(
        got.items.iter().map(|o| o.item.id).collect::<Vec<_>>(),
        [a, b, c, d]
    );
    let last = |job_id: &str, status: &str, start: &str| {
        Some(LastJob {
            job_id: job_id.into(),
            status: status.into(),
            start_time: start.into(),
        })
    };
    let daily = s.find_policy(v, "Daily").unwrap();
    let default = s.find_policy(v, "DefaultPolicy").unwrap();
    let want = [
        (
            PointSummary {
                count: 3,
                latest: Some("2026-09-03T00:00:00Z".into()),
                damaged: vec![a1.clone(), a2.clone()],
            },
            last("o-3", "Completed", "2026-10-01T00:00:03Z"),
            daily,
        ),
        (
            PointSummary {
                count: 1,
                latest: Some("2026-09-04T00:00:00Z".into()),
                damaged: Vec::new(),
            },
            last("o-2", "InProgress", "2026-10-01T00:00:02Z"),
            default,
        ),
        (PointSummary::default(), None, None),
        (
            PointSummary::default(),
            last("o-6", "InProgress", "2026-10-01T00:00:05Z"),
            None,
        ),
    ];
    for (o, (points, last_backup, policy)) in got.items.iter().zip(want) {
        let id = o.item.id;
        assert_eq!(
            o.points, points,
            "item {id}: its points, damaged ones oldest first"
        );
        assert_eq!(
            o.last_backup, last_backup,
            "item {id}: its newest backup, in its provider's container of any case, of its vault"
        );
        assert_eq!(
            o.policy, policy,
            "item {id}: its policy, by name in any case"
        );
    }
    // Pages and filters are those of list_items.
    let first = s
        .list_item_overviews(v, &ItemQuery::default(), &page(2, None))
        .unwrap();
    assert_eq!(first.items, got.items[..2]);
    assert_eq!(
        first.next,
        s.list_items(v, &ItemQuery::default(), &page(2, None))
            .unwrap()
            .next
    );
    let second = s
        .list_item_overviews(v, &ItemQuery::default(), &page(2, first.next))
        .unwrap();
    assert_eq!(
        (second.items.as_slice(), second.next),
        (&got.items[2..], None)
    );
    let daily_only = ItemQuery {
        policy: Some("daily".into()),
        ..Default::default()
    };
    let filtered: Vec<ItemOverview> = s
        .list_item_overviews(v, &daily_only, &PageRequest::first(10))
        .unwrap()
        .items;
    assert_eq!(filtered, got.items[..1]);
    assert!(
        s.list_item_overviews(other, &ItemQuery::default(), &PageRequest::first(10))
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        s.list_item_overviews(v, &ItemQuery::default(), &page(2, Some("x".into()))),
        Err(MetaError::BadPageToken)
    ));
}
