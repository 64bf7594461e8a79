//! Geo-redundant storage through the service, with the fake hypervisor and
//! local stores: a GeoRedundant vault's points reach the paired region's
//! store, which verifies and restores on its own; a LocallyRedundant vault
//! writes nothing there; deletion reaches the secondary; a secondary that
//! cannot be opened shows in the vault's storage config and catches up.
//! Needs `qemu-img` and `qemu-io` as `live_fake.rs` does.

mod common;

use common::*;
use rsvault_engine::backend::{OpenMode, open_url};
use rsvault_engine::{MasterKey, Store};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The vault's primary store URL and its secondary's folder.
fn stores(w: &World) -> (String, PathBuf) {
    let primary = w.svc.vault_store_name(&w.vault).unwrap();
    let name = primary.rsplit('/').next().unwrap().to_owned();
    let root = std::fs::canonicalize(w.dir.path().join("stores")).unwrap();
    (primary, root.join("northeurope").join(name))
}

fn open(w: &World, url: &str) -> Store {
    let name = url.rsplit('/').next().unwrap();
    let key = MasterKey::load(&w.dir.path().join("keys").join(format!("{name}.key"))).unwrap();
    Store::open(open_url(url, OpenMode::Existing).unwrap(), &key).unwrap()
}

fn replication(w: &World) -> Value {
    value(w.svc.storage_config(&w.vault).unwrap())["properties"]["rsvaultReplication"].clone()
}

/// A backup that made its point (crash-consistent: the fake runs no agent).
fn done(job: &Value) {
    assert_eq!(job["status"], "CompletedWithWarnings", "{job}");
    assert!(
        job["extendedInfo"]["propertyBag"]["Recovery Point"].is_string(),
        "{job}"
    );
}

/// Waits until no replication runs and the last one has been taken up: a
/// backup's job ends just before it asks for its point's second copy, so
/// "not busy" alone can be seen before the request. Settled is: no
/// replication (a local vault), nothing pending, or an attempt that failed.
fn settle(w: &World) {
    for _ in 0..1500 {
        if !w.svc.replication_busy() {
            let r = replication(w);
            if r.is_null() || r["pendingRecoveryPoints"] == 0 || !r["lastError"].is_null() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("replication did not end");
}

/// Every disk of every point of `store`, restored, by (disk, point id).
fn restored(store: &Store, out: &Path) -> Vec<(String, String, Vec<u8>)> {
    let mut all = Vec::new();
    for m in store.list_points().unwrap() {
        let file = out.join(format!("{}.raw", m.id));
        rsvault_engine::restore(
            store,
            &m,
            &file,
            &Default::default(),
            &rsvault_engine::NoProgress,
        )
        .unwrap();
        all.push((m.name.clone(), m.id.clone(), std::fs::read(&file).unwrap()));
    }
    all.sort();
    all
}

#[test]
fn a_geo_redundant_vault_keeps_a_complete_second_copy_in_the_paired_region() {
    if !tools_present() {
        return;
    }
    let w = world();
    let (primary, secondary) = stores(&w);
    assert!(
        secondary.join("config").is_file(),
        "the secondary is created with the vault"
    );
    let r = replication(&w);
    assert_eq!(r["secondaryRegion"], "northeurope", "{r}");
    assert_eq!(
        (r["state"].clone(), r["pendingRecoveryPoints"].clone()),
        (json!("InSync"), json!(0))
    );

    done(&w.backup());
    settle(&w);
    w.hv.guest_write(&w.vm, 0, 4096, 4096, 1).unwrap();
    let changed = std::fs::read(w.dir.path().join("images/os.raw")).unwrap();
    done(&w.backup());
    settle(&w);
    let r = replication(&w);
    assert_eq!(r["state"], "InSync", "{r}");
    assert_eq!(
        (
            r["pendingRecoveryPoints"].clone(),
            r["lagInSeconds"].clone()
        ),
        (json!(0), json!(0))
    );
    assert!(
        r["lastSyncTime"].is_string() && r["lastError"].is_null(),
        "{r}"
    );

    let secondary_url = format!("file://{}", secondary.display());
    let (p, s) = (open(&w, &primary), open(&w, &secondary_url));
    let report = rsvault_engine::verify(&s, 2, &rsvault_engine::NoProgress).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.points, 4, "two points of two disks");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("p"), tmp.path().join("s"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let from_secondary = restored(&s, &b);
    assert_eq!(restored(&p, &a), from_secondary, "bit for bit");
    assert!(
        from_secondary
            .iter()
            .any(|(n, _, d)| n.ends_with("/os") && *d == changed),
        "the last OS disk as it was backed up"
    );
}

#[test]
fn a_locally_redundant_vault_writes_nothing_to_the_pair() {
    if !tools_present() {
        return;
    }
    let w = world_with(
        Default::default(),
        serde_json::from_value(json!({"location": "westeurope", "properties": {"redundancySettings": {"standardTierStorageRedundancy": "LocallyRedundant"}}})).unwrap(),
    );
    done(&w.backup());
    settle(&w);
    assert!(!w.dir.path().join("stores/northeurope").exists());
    assert!(replication(&w).is_null());
}

#[test]
fn deletion_reaches_the_secondary_and_a_broken_secondary_shows_then_catches_up() {
    if !tools_present() {
        return;
    }
    let w = world();
    let (_, secondary) = stores(&w);
    let secondary_url = format!("file://{}", secondary.display());
    done(&w.backup());
    settle(&w);
    assert_eq!(open(&w, &secondary_url).list_points().unwrap().len(), 2);

    // The secondary cannot be opened: the vault shows why, and the point
    // waits.
    let config = secondary.join("config");
    let hidden = secondary.join("config.away");
    std::fs::rename(&config, &hidden).unwrap();
    done(&w.backup()); // the backup does not wait for the pair
    settle(&w);
    let r = replication(&w);
    assert_eq!(
        (r["state"].clone(), r["pendingRecoveryPoints"].clone()),
        (json!("Failed"), json!(1)),
        "{r}"
    );
    assert!(
        r["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        "{r}"
    );
    std::fs::rename(&hidden, &config).unwrap();
    w.svc.scheduler_tick(2).unwrap();
    settle(&w);
    let r = replication(&w);
    assert_eq!(
        (r["state"].clone(), r["lastError"].clone()),
        (json!("InSync"), Value::Null),
        "{r}"
    );
    assert_eq!(open(&w, &secondary_url).list_points().unwrap().len(), 4);

    // Stop protection and delete the data (soft delete off): the points
    // leave the secondary too, and its gc reclaims their packs.
    let body = json!({"properties": {"softDeleteFeatureState": "Disabled"}});
    w.svc
        .set_vault_config(&w.vault, serde_json::from_value(body).unwrap())
        .unwrap();
    w.svc.delete_protected_item(&w.vault, C, I).unwrap();
    w.svc.scheduler_tick(2).unwrap();
    settle(&w);
    let s = open(&w, &secondary_url);
    assert!(s.list_points().unwrap().is_empty());
    assert_eq!(
        s.backend().list("packs/").unwrap().len(),
        0,
        "gc left no pack on the secondary"
    );
}
