//! Geo-redundant vaults: the secondary store a vault records, the outcome
//! of its last replication, and which recovery points are on the secondary.

use super::*;

pub(super) fn secondary_and_replicated_points(s: &dyn MetaStore) {
    let secondary = Secondary {
        store: "s3://pair/store-geo".into(),
        region: "northeurope".into(),
    };
    let v = s
        .insert_vault(
            &NewVault {
                secondary: Some(secondary.clone()),
                ..new_vault(&vref("sub-geo", "rg", "geo"), "store-geo")
            },
            "DefaultPolicy",
            "{}",
        )
        .unwrap();
    let got = s.vault_by_id(v).unwrap().unwrap();
    assert_eq!(got.secondary.as_ref(), Some(&secondary), "kept at insert");
    assert_eq!((got.replicated_at, got.replication_error), (None, None));
    s.set_vault_replication(v, Err("the secondary is unreachable"))
        .unwrap();
    let got = s.vault_by_id(v).unwrap().unwrap();
    assert_eq!(
        (got.replicated_at, got.replication_error.as_deref()),
        (None, Some("the secondary is unreachable"))
    );
    s.set_vault_replication(v, Ok("2026-05-01T00:00:00Z"))
        .unwrap();
    s.set_vault_replication(v, Err("later")).unwrap();
    let got = s.vault_by_id(v).unwrap().unwrap();
    assert_eq!(
        (
            got.replicated_at.as_deref(),
            got.replication_error.as_deref()
        ),
        (Some("2026-05-01T00:00:00Z"), Some("later")),
        "a failure keeps the last success's time"
    );
    s.set_vault_replication(v, Ok("2026-05-02T00:00:00Z"))
        .unwrap();
    assert_eq!(
        s.vault_by_id(v).unwrap().unwrap().replication_error,
        None,
        "a success clears the error"
    );
    s.set_vault_secondary(v, None).unwrap();
    let got = s.vault_by_id(v).unwrap().unwrap();
    assert_eq!(
        (got.secondary, got.replicated_at),
        (None, None),
        "a cleared secondary starts over"
    );
    s.set_vault_secondary(v, Some(&secondary)).unwrap();
    assert_eq!(
        s.vault_by_id(v).unwrap().unwrap().secondary,
        Some(secondary)
    );

    let item = s
        .insert_item(&new_item(v, "rg-g", "vm-g", "Daily"))
        .unwrap();
    let commit = |job_id: &str, start: &str| commit_point(s, v, item, job_id, "c", start);
    let p1 = commit("geo-j1", "2026-05-01T00:00:00Z");
    let p2 = commit("geo-j2", "2026-05-02T00:00:00Z");
    assert_eq!(s.find_point(&p1).unwrap().unwrap().replicated, None);
    let n = s
        .set_points_replicated(
            &[p1.clone(), "no-such-point".into()],
            "2026-05-01T01:00:00Z",
        )
        .unwrap();
    assert_eq!(n, 1, "only points that exist change");
    let n = s
        .set_points_replicated(&[p1.clone(), p2.clone()], "2026-05-02T01:00:00Z")
        .unwrap();
    assert_eq!(n, 1, "a point recorded before keeps its time");
    let replicated = |name: &str| s.find_point(name).unwrap().unwrap().replicated;
    assert_eq!(replicated(&p1).as_deref(), Some("2026-05-01T01:00:00Z"));
    assert_eq!(replicated(&p2).as_deref(), Some("2026-05-02T01:00:00Z"));
    assert_eq!(
        s.item_points(item).unwrap()[1].replicated.as_deref(),
        Some("2026-05-02T01:00:00Z"),
        "lists read it too"
    );
}
