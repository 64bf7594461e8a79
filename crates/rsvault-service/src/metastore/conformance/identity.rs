//! Principals, credentials and role assignments: lookups in any case,
//! uniqueness, a credential reset in one step, and the cascade of a
//! principal's deletion.

use super::*;
use crate::metastore::MetaResult;
use crate::metastore::identity::*;

fn sp(object_id: &str, app_id: &str, name: &str) -> PrincipalRecord {
    PrincipalRecord {
        object_id: object_id.into(),
        kind: PrincipalKind::ServicePrincipal,
        app_id: Some(app_id.into()),
        user_name: None,
        display_name: name.into(),
        created: "2026-01-01T00:00:00Z".into(),
    }
}

fn cred(key: &str, principal: &str, created: &str) -> CredentialRecord {
    CredentialRecord {
        key_id: key.into(),
        principal: principal.into(),
        hash: format!("$argon2id$hash-of-{key}"),
        display_name: "rbac".into(),
        created: created.into(),
        expires: None,
    }
}

fn ra(name: &str, scope: &str, role: &str, principal: &str) -> RoleAssignmentRecord {
    RoleAssignmentRecord {
        name: name.into(),
        scope: scope.into(),
        role_definition: role.into(),
        principal: principal.into(),
        principal_type: "ServicePrincipal".into(),
        description: None,
        created: "2026-01-02T00:00:00Z".into(),
        created_by: "owner".into(),
    }
}

/// The object id of the conformance suite's user.
fn user_id(_: &dyn MetaStore) -> String {
    "bbbb0000-0000-0000-0000-000000000002".into()
}

fn duplicate<T: std::fmt::Debug>(r: MetaResult<T>, what: &str) {
    match r {
        Err(MetaError::Duplicate(_)) => {}
        other => panic!("{what}: expected Duplicate, got {other:?}"),
    }
}

pub(super) fn principals_and_assignments(s: &dyn MetaStore) {
    let a = sp(
        "aaaa0000-0000-0000-0000-000000000001",
        "app-a",
        "backup-bot",
    );
    s.insert_principal(&a).unwrap();
    let user = PrincipalRecord {
        object_id: "bbbb0000-0000-0000-0000-000000000002".into(),
        kind: PrincipalKind::User,
        app_id: None,
        user_name: Some("Alice@rsvault.local".into()),
        display_name: "Alice".into(),
        created: "2026-01-01T00:00:01Z".into(),
    };
    s.insert_principal(&user).unwrap();
    let mi = PrincipalRecord {
        object_id: "cccc0000-0000-0000-0000-000000000003".into(),
        kind: PrincipalKind::ManagedIdentity,
        app_id: Some("app-mi".into()),
        user_name: None,
        display_name: "host".into(),
        created: "2026-01-01T00:00:02Z".into(),
    };
    s.insert_principal(&mi).unwrap();

    // Lookups in any case; ids come back lower-case, names as written.
    let got = s
        .find_principal("AAAA0000-0000-0000-0000-000000000001")
        .unwrap();
    assert_eq!(got.as_ref(), Some(&a), "by object id in another case");
    assert_eq!(s.find_principal_by_app("APP-A").unwrap(), Some(a.clone()));
    assert_eq!(
        s.find_principal_by_user("alice@RSVAULT.local").unwrap(),
        Some(user.clone())
    );
    assert_eq!(s.find_principal_by_app("app-b").unwrap(), None);
    assert_eq!(s.find_principal("nobody").unwrap(), None);
    assert_eq!(
        s.find_principal_by_app("app-mi").unwrap().unwrap().kind,
        PrincipalKind::ManagedIdentity
    );

    // Uniqueness of object id, app id and user name, in any case.
    duplicate(
        s.insert_principal(&sp("AAAA0000-0000-0000-0000-000000000001", "app-z", "x")),
        "same object id",
    );
    duplicate(s.insert_principal(&sp("dddd", "APP-A", "x")), "same app id");
    duplicate(
        s.insert_principal(&PrincipalRecord {
            object_id: "eeee".into(),
            user_name: Some("ALICE@rsvault.local".into()),
            ..user.clone()
        }),
        "same user name",
    );
    let names: Vec<String> = s
        .list_principals()
        .unwrap()
        .into_iter()
        .map(|p| p.display_name)
        .collect();
    assert_eq!(names, ["Alice", "backup-bot", "host"], "by display name");

    // Credentials: oldest first; a reset replaces all in one step.
    s.add_credential(&cred("k2", &a.object_id, "2026-01-03T00:00:00Z"), false)
        .unwrap();
    s.add_credential(&cred("k1", &a.object_id, "2026-01-02T00:00:00Z"), false)
        .unwrap();
    let keys = |p: &str| -> Vec<String> {
        s.credentials(p)
            .unwrap()
            .into_iter()
            .map(|c| c.key_id)
            .collect()
    };
    assert_eq!(keys(&a.object_id), ["k1", "k2"]);
    assert!(
        !s.delete_credential(&user_id(s), "k1").unwrap(),
        "another principal's key"
    );
    assert!(
        s.delete_credential(&a.object_id.to_uppercase(), "K1")
            .unwrap()
    );
    assert!(!s.delete_credential(&a.object_id, "k1").unwrap());
    assert_eq!(keys(&a.object_id), ["k2"], "one key removed");
    s.add_credential(&cred("k1", &a.object_id, "2026-01-02T00:00:00Z"), false)
        .unwrap();
    assert_eq!(
        s.credentials(&a.object_id.to_uppercase()).unwrap().len(),
        2,
        "by principal in another case"
    );
    duplicate(
        s.add_credential(&cred("K1", &a.object_id, "2026-01-04T00:00:00Z"), false),
        "same key id",
    );
    s.add_credential(&cred("k3", &a.object_id, "2026-01-05T00:00:00Z"), true)
        .unwrap();
    assert_eq!(keys(&a.object_id), ["k3"], "a reset keeps only the new one");
    let c = &s.credentials(&a.object_id).unwrap()[0];
    assert_eq!(c.hash, "$argon2id$hash-of-k3");
    assert_eq!(c.expires, None);

    // Role assignments: unique by name and by (scope in any case, role,
    // principal); listed by scope.
    let sub = "/subscriptions/sub-id";
    let rg = "/subscriptions/sub-id/resourceGroups/RG1";
    s.insert_role_assignment(&ra("ra-1", rg, "ROLE-OP", &a.object_id))
        .unwrap();
    s.insert_role_assignment(&ra("ra-2", sub, "role-reader", &user.object_id))
        .unwrap();
    duplicate(
        s.insert_role_assignment(&ra("RA-1", sub, "role-x", &a.object_id)),
        "same name",
    );
    duplicate(
        s.insert_role_assignment(&ra(
            "ra-3",
            "/subscriptions/SUB-ID/resourcegroups/rg1",
            "role-op",
            &a.object_id.to_uppercase(),
        )),
        "same principal, role and scope in another case",
    );
    s.insert_role_assignment(&ra("ra-4", rg, "role-op", &user.object_id))
        .unwrap();
    let got = s.find_role_assignment("RA-1").unwrap().unwrap();
    assert_eq!(got.scope, rg, "scope kept as written");
    assert_eq!(got.role_definition, "role-op", "ids lower-case");
    let all: Vec<String> = s
        .list_role_assignments()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(all, ["ra-2", "ra-1", "ra-4"], "by scope then name");
    let of_user: Vec<String> = s
        .role_assignments_of(&user.object_id)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(of_user, ["ra-2", "ra-4"]);
    let gone = s.delete_role_assignment("Ra-4").unwrap();
    assert_eq!(gone.map(|r| r.name).as_deref(), Some("ra-4"));
    assert_eq!(s.delete_role_assignment("ra-4").unwrap(), None);

    // Deleting a principal deletes its credentials and assignments.
    assert!(s.delete_principal(&a.object_id.to_uppercase()).unwrap());
    assert!(!s.delete_principal(&a.object_id).unwrap());
    assert_eq!(s.find_principal(&a.object_id).unwrap(), None);
    assert!(s.credentials(&a.object_id).unwrap().is_empty());
    assert_eq!(s.find_role_assignment("ra-1").unwrap(), None);
    assert_eq!(s.role_assignments_of(&user.object_id).unwrap().len(), 1);
    // Its app id is free again.
    s.insert_principal(&sp("ffff", "app-a", "again")).unwrap();
}
