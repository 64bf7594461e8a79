//! Resource guards (ids in any case, create then replace, listing by
//! subscription and group), a vault's link (a missing guard is refused, a
//! linked guard cannot be deleted, deleting the vault drops the link),
//! unlocks (used once, expiry), and the activity log (filters, newest
//! first, and no change or removal of an entry).

use super::*;
use crate::metastore::activity::*;
use crate::metastore::guards::*;

const G1: &str = "/subscriptions/sub-g/resourceGroups/rg-sec/providers/Microsoft.DataProtection/resourceGuards/Guard-1";

fn guard(id: &str, rg: &str, name: &str) -> ResourceGuardRecord {
    ResourceGuardRecord {
        id: id.into(),
        subscription: "sub-g".into(),
        resource_group: rg.into(),
        name: name.into(),
        location: "westeurope".into(),
        tags: "{}".into(),
        description: None,
        exclusions: "[]".into(),
        created: "2026-01-01T00:00:00Z".into(),
        updated: "2026-01-01T00:00:00Z".into(),
    }
}

pub(super) fn guards_links_and_unlocks(s: &dyn MetaStore) {
    assert!(
        s.put_resource_guard(&guard(G1, "rg-sec", "Guard-1"))
            .unwrap()
    );
    let mut changed = guard(&G1.to_uppercase(), "rg-sec", "Guard-1");
    changed.exclusions = r#"["Microsoft.RecoveryServices/vaults/backupPolicies/write"]"#.into();
    changed.updated = "2026-01-02T00:00:00Z".into();
    assert!(
        !s.put_resource_guard(&changed).unwrap(),
        "a PUT of the same id (any case) replaces"
    );
    let got = s
        .resource_guard(&G1.to_lowercase())
        .unwrap()
        .expect("the guard");
    assert_eq!(
        (
            got.exclusions.as_str(),
            got.created.as_str(),
            got.name.as_str()
        ),
        (
            changed.exclusions.as_str(),
            "2026-01-01T00:00:00Z",
            "Guard-1"
        )
    );
    let g2 = G1
        .replace("rg-sec", "rg-other")
        .replace("Guard-1", "Guard-2");
    s.put_resource_guard(&guard(&g2, "rg-other", "Guard-2"))
        .unwrap();
    assert_eq!(s.list_resource_guards("SUB-G", None).unwrap().len(), 2);
    let in_group = s.list_resource_guards("sub-g", Some("RG-SEC")).unwrap();
    assert_eq!(in_group.len(), 1);
    assert_eq!(in_group[0].name, "Guard-1");
    assert!(s.list_resource_guards("sub-none", None).unwrap().is_empty());

    let v = vault_id(s, &vref("sub-g", "rg-v", "guarded"), "guarded");
    let link = |g: &str| GuardProxyRecord {
        vault: v,
        guard: g.into(),
        description: Some("mua".into()),
        updated: "2026-01-03T00:00:00Z".into(),
    };
    assert!(!s.set_guard_proxy(&link("/no/such/guard")).unwrap());
    assert_eq!(
        s.guard_proxy(v).unwrap(),
        None,
        "nothing is linked to a missing guard"
    );
    assert!(s.set_guard_proxy(&link(G1)).unwrap());
    assert_eq!(s.guard_proxy(v).unwrap().unwrap().guard, G1.to_lowercase());
    assert_eq!(s.delete_resource_guard(G1).unwrap(), GuardDeletion::InUse);
    assert!(s.resource_guard(G1).unwrap().is_some());
    assert!(
        s.set_guard_proxy(&link(&g2)).unwrap(),
        "a new link replaces the old"
    );
    assert_eq!(s.guard_proxy(v).unwrap().unwrap().guard, g2.to_lowercase());
    assert_eq!(s.delete_resource_guard(G1).unwrap(), GuardDeletion::Deleted);
    assert_eq!(
        s.delete_resource_guard(G1).unwrap(),
        GuardDeletion::NotFound
    );

    let item = "/subscriptions/sub-g/x/protectedItems/VM;a";
    assert!(!s.take_unlock(v, item, 1_000).unwrap(), "no unlock yet");
    s.grant_unlock(v, item, 5_000).unwrap();
    assert!(s.take_unlock(v, &item.to_uppercase(), 4_999).unwrap());
    assert!(
        !s.take_unlock(v, item, 4_999).unwrap(),
        "an unlock is used once"
    );
    s.grant_unlock(v, item, 5_000).unwrap();
    s.grant_unlock(v, item, 9_000).unwrap();
    assert!(
        s.take_unlock(v, item, 8_000).unwrap(),
        "a new unlock replaces the old"
    );
    s.grant_unlock(v, item, 5_000).unwrap();
    assert!(
        !s.take_unlock(v, item, 5_000).unwrap(),
        "an expired unlock lets nothing through"
    );
    assert!(!s.take_unlock(v, item, 1_000).unwrap(), "and is dropped");

    s.grant_unlock(v, item, 9_000).unwrap();
    assert!(s.delete_guard_proxy(v).unwrap());
    assert!(!s.delete_guard_proxy(v).unwrap());
    assert!(
        !s.take_unlock(v, item, 1_000).unwrap(),
        "unlinking drops the unlocks"
    );

    assert!(s.set_guard_proxy(&link(&g2)).unwrap());
    assert!(s.delete_vault(v).unwrap());
    assert_eq!(s.guard_proxy(v).unwrap(), None);
    assert_eq!(
        s.delete_resource_guard(&g2).unwrap(),
        GuardDeletion::Deleted,
        "deleting the vault dropped its link"
    );
}

fn event(n: i64, rg: Option<&str>, resource: &str, caller: &str) -> ActivityRecord {
    ActivityRecord {
        event_id: format!("00000000-0000-0000-0000-{n:012}"),
        at_ms: 1_000 * n,
        at: format!("2026-01-01T00:00:{n:02}Z"),
        subscription: "sub-a".into(),
        resource_group: rg.map(Into::into),
        resource_id: resource.into(),
        operation: "Microsoft.RecoveryServices/Vaults/write".into(),
        method: "PUT".into(),
        status: "Succeeded".into(),
        http_status: 200,
        caller: caller.into(),
        caller_oid: "oid".into(),
        client_ip: "127.0.0.1".into(),
        correlation_id: format!("corr-{n}"),
        message: None,
    }
}

pub(super) fn activity_log(s: &dyn MetaStore) {
    let vault =
        "/subscriptions/sub-a/resourceGroups/rg-a/providers/Microsoft.RecoveryServices/vaults/v1";
    let sibling =
        "/subscriptions/sub-a/resourceGroups/rg-a/providers/Microsoft.RecoveryServices/vaults/v10";
    s.append_activity(&event(1, Some("rg-a"), vault, "alice"))
        .unwrap();
    s.append_activity(&event(
        2,
        Some("rg-a"),
        &format!("{vault}/backupPolicies/p"),
        "bob",
    ))
    .unwrap();
    s.append_activity(&event(3, Some("rg-a"), sibling, "alice"))
        .unwrap();
    s.append_activity(&event(
        4,
        Some("rg-b"),
        "/subscriptions/sub-a/resourceGroups/rg-b",
        "alice",
    ))
    .unwrap();
    s.append_activity(&event(5, None, "/subscriptions/sub-a", "alice"))
        .unwrap();
    match s.append_activity(&event(5, None, "/subscriptions/sub-a", "alice")) {
        Err(MetaError::Duplicate(_)) => {}
        other => panic!("the same event id twice: {other:?}"),
    }
    let all = ActivityQuery {
        subscription: "SUB-A".into(),
        from_ms: 0,
        to_ms: i64::MAX,
        limit: 100,
        ..Default::default()
    };
    let ids = |q: &ActivityQuery| -> Vec<i64> {
        s.activities(q)
            .unwrap()
            .iter()
            .map(|e| e.at_ms / 1_000)
            .collect()
    };
    assert_eq!(ids(&all), [5, 4, 3, 2, 1], "newest first");
    assert_eq!(
        ids(&ActivityQuery {
            from_ms: 2_000,
            to_ms: 4_000,
            ..all.clone()
        }),
        [4, 3, 2]
    );
    assert_eq!(
        ids(&ActivityQuery {
            resource_group: Some("RG-A".into()),
            ..all.clone()
        }),
        [3, 2, 1]
    );
    assert_eq!(
        ids(&ActivityQuery {
            resource_prefix: Some(vault.to_uppercase()),
            ..all.clone()
        }),
        [2, 1],
        "a resource and what is under it, not a sibling whose name it begins"
    );
    assert_eq!(
        ids(&ActivityQuery {
            correlation_id: Some("CORR-2".into()),
            ..all.clone()
        }),
        [2]
    );
    assert_eq!(
        ids(&ActivityQuery {
            caller: Some("Bob".into()),
            ..all.clone()
        }),
        [2]
    );
    assert_eq!(
        ids(&ActivityQuery {
            limit: 2,
            ..all.clone()
        }),
        [5, 4]
    );
    assert!(
        ids(&ActivityQuery {
            subscription: "sub-b".into(),
            ..all.clone()
        })
        .is_empty()
    );
    let first = &s
        .activities(&ActivityQuery {
            limit: 100,
            ..all.clone()
        })
        .unwrap()[4];
    assert_eq!(
        first,
        &event(1, Some("rg-a"), vault, "alice"),
        "a round trip"
    );
}
