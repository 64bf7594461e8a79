//! Agent hosts (ids and names in any case, unique names in a group,
//! heartbeats, listing by subscription and group, removal) and enrolment
//! tokens (used once, expiry).

use super::*;
use crate::metastore::hosts::*;

fn host(id: &str, rg: &str, name: &str) -> HostRecord {
    HostRecord {
        id: id.into(),
        subscription: "sub-h".into(),
        resource_group: rg.into(),
        name: name.into(),
        location: "japaneast".into(),
        principal: format!("oid-{name}"),
        agent_version: "1.0.0".into(),
        enrolled: "2026-01-01T00:00:00Z".into(),
        last_contact_ms: None,
        last_error: None,
    }
}

fn token(hash: &str, expires_ms: i64) -> EnrollTokenRecord {
    EnrollTokenRecord {
        hash: hash.into(),
        subscription: "sub-h".into(),
        resource_group: "rg-kvm1".into(),
        location: "japaneast".into(),
        expires_ms,
        created_by: "oid-owner".into(),
    }
}

pub(super) fn hosts_and_tokens(s: &dyn MetaStore) {
    assert!(s.insert_host(&host("AAAA-1", "rg-kvm1", "kvm-a")).unwrap());
    assert!(
        !s.insert_host(&host("aaaa-1", "rg-kvm1", "other")).unwrap(),
        "an id is taken in any case"
    );
    assert!(
        !s.insert_host(&host("bbbb-2", "RG-KVM1", "KVM-A")).unwrap(),
        "a name is taken in its group in any case"
    );
    assert!(s.insert_host(&host("bbbb-2", "rg-kvm2", "kvm-a")).unwrap());
    assert!(s.insert_host(&host("cccc-3", "rg-kvm1", "kvm-b")).unwrap());
    let mut other = host("dddd-4", "rg-kvm1", "kvm-c");
    other.subscription = "sub-other".into();
    assert!(s.insert_host(&other).unwrap());

    let a = s.host("Aaaa-1").unwrap().expect("by id in any case");
    assert_eq!((a.id.as_str(), a.name.as_str()), ("aaaa-1", "kvm-a"));
    assert_eq!(a.last_contact_ms, None);
    assert_eq!(
        s.host_by_name("SUB-H", "Rg-Kvm1", "KVM-B")
            .unwrap()
            .map(|h| h.id),
        Some("cccc-3".into())
    );
    assert!(
        s.host_by_name("sub-h", "rg-kvm2", "kvm-b")
            .unwrap()
            .is_none()
    );
    let names = |v: Vec<HostRecord>| v.into_iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_hosts("sub-h", None).unwrap()),
        ["aaaa-1", "cccc-3", "bbbb-2"]
    );
    assert_eq!(
        names(s.list_hosts("Sub-H", Some("RG-kvm1")).unwrap()),
        ["aaaa-1", "cccc-3"]
    );
    assert_eq!(s.all_hosts().unwrap().len(), 4);

    assert!(
        s.touch_host("AAAA-1", 1_000, "1.1.0", Some("libvirtd is down"))
            .unwrap()
    );
    let a = s.host("aaaa-1").unwrap().unwrap();
    assert_eq!(
        (
            a.last_contact_ms,
            a.agent_version.as_str(),
            a.last_error.as_deref()
        ),
        (Some(1_000), "1.1.0", Some("libvirtd is down"))
    );
    assert!(s.touch_host("aaaa-1", 2_000, "1.1.0", None).unwrap());
    assert_eq!(s.host("aaaa-1").unwrap().unwrap().last_error, None);
    assert!(!s.touch_host("nope", 1, "1", None).unwrap());
    assert!(s.delete_host("CCCC-3").unwrap());
    assert!(!s.delete_host("cccc-3").unwrap());
    assert!(s.host("cccc-3").unwrap().is_none());

    s.insert_enroll_token(&token("ABCDEF", 5_000)).unwrap();
    s.insert_enroll_token(&token("123456", 5_000)).unwrap();
    let t = s
        .take_enroll_token("abcdef", 4_999)
        .unwrap()
        .expect("a live token");
    assert_eq!(
        (t.resource_group.as_str(), t.expires_ms),
        ("rg-kvm1", 5_000)
    );
    assert!(
        s.take_enroll_token("abcdef", 4_999).unwrap().is_none(),
        "a token is used once"
    );
    assert!(
        s.take_enroll_token("123456", 5_000).unwrap().is_none(),
        "an expired token is refused"
    );
    assert!(
        s.take_enroll_token("123456", 1).unwrap().is_none(),
        "and gone"
    );
}
