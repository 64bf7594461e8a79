//! The conformance suite's part on the policy limit under concurrent
//! saves.

use super::{vault_id, vref};
use crate::metastore::MetaStore;
use std::sync::Barrier;

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
        names
            .iter()
            .all(|n| n.as_deref() == Some(stored.name.as_str())),
        "every save names the one stored policy: {names:?}"
    );
    assert_eq!(s.list_policies(w).unwrap().len(), 2, "one policy made");
}
