//! Principals, credentials and role assignments in SQL. Ids are stored
//! lower-case, so that lookups and foreign keys match in any case on both
//! engines.

use super::{Driver, Row, SqlStore, Val};
use crate::metastore::MetaResult;
use crate::metastore::identity::{
    CredentialRecord, IdentityStore, PrincipalKind, PrincipalRecord, RoleAssignmentRecord,
};

const PRINCIPAL: &str =
    "SELECT object_id, kind, app_id, user_name, display_name, created FROM principals";
const CREDENTIAL: &str =
    "SELECT key_id, principal, hash, display_name, created, expires FROM credentials";
const ASSIGNMENT: &str = "SELECT name, scope, role_definition, principal, principal_type, description, created, created_by FROM role_assignments";

fn principal(r: &Row) -> MetaResult<PrincipalRecord> {
    Ok(PrincipalRecord {
        object_id: r.text(0)?,
        kind: PrincipalKind::parse(&r.text(1)?)?,
        app_id: r.opt_text(2)?,
        user_name: r.opt_text(3)?,
        display_name: r.text(4)?,
        created: r.text(5)?,
    })
}

fn credential(r: &Row) -> MetaResult<CredentialRecord> {
    Ok(CredentialRecord {
        key_id: r.text(0)?,
        principal: r.text(1)?,
        hash: r.text(2)?,
        display_name: r.text(3)?,
        created: r.text(4)?,
        expires: r.opt_text(5)?,
    })
}

fn assignment(r: &Row) -> MetaResult<RoleAssignmentRecord> {
    Ok(RoleAssignmentRecord {
        name: r.text(0)?,
        scope: r.text(1)?,
        role_definition: r.text(2)?,
        principal: r.text(3)?,
        principal_type: r.text(4)?,
        description: r.opt_text(5)?,
        created: r.text(6)?,
        created_by: r.text(7)?,
    })
}

fn id(s: &str) -> Val {
    Val::Text(s.to_ascii_lowercase())
}

impl<D: Driver> SqlStore<D> {
    fn principal_where(&self, column: &str, value: &str) -> MetaResult<Option<PrincipalRecord>> {
        self.rows(
            &format!("{PRINCIPAL} WHERE lower({column}) = lower($1)"),
            &[value.into()],
        )?
        .first()
        .map(principal)
        .transpose()
    }
}

impl<D: Driver> IdentityStore for SqlStore<D> {
    fn insert_principal(&self, p: &PrincipalRecord) -> MetaResult<()> {
        self.exec(
            "INSERT INTO principals (object_id, kind, app_id, user_name, display_name, created) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                id(&p.object_id),
                p.kind.as_str().into(),
                p.app_id.as_deref().map(id).unwrap_or(Val::Null),
                p.user_name.as_deref().into(),
                (&p.display_name).into(),
                (&p.created).into(),
            ],
        )
        .map(|_| ())
    }

    fn find_principal(&self, object_id: &str) -> MetaResult<Option<PrincipalRecord>> {
        self.principal_where("object_id", object_id)
    }

    fn find_principal_by_app(&self, app_id: &str) -> MetaResult<Option<PrincipalRecord>> {
        self.principal_where("app_id", app_id)
    }

    fn find_principal_by_user(&self, user_name: &str) -> MetaResult<Option<PrincipalRecord>> {
        self.principal_where("user_name", user_name)
    }

    fn list_principals(&self) -> MetaResult<Vec<PrincipalRecord>> {
        self.rows(
            &format!("{PRINCIPAL} ORDER BY display_name, object_id"),
            &[],
        )?
        .iter()
        .map(principal)
        .collect()
    }

    fn delete_principal(&self, object_id: &str) -> MetaResult<bool> {
        // The cascades are spelled out: SQLite enforces foreign keys only
        // where a connection turned them on.
        self.tx(|c| {
            let p = [id(object_id)];
            c.execute("DELETE FROM credentials WHERE principal = $1", &p)?;
            c.execute("DELETE FROM role_assignments WHERE principal = $1", &p)?;
            Ok(c.execute("DELETE FROM principals WHERE object_id = $1", &p)? > 0)
        })
    }

    fn add_credential(&self, cr: &CredentialRecord, replace: bool) -> MetaResult<()> {
        self.tx(|c| {
            if replace {
                c.execute(
                    "DELETE FROM credentials WHERE principal = $1",
                    &[id(&cr.principal)],
                )?;
            }
            c.execute(
                "INSERT INTO credentials (key_id, principal, hash, display_name, created, expires) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    id(&cr.key_id),
                    id(&cr.principal),
                    (&cr.hash).into(),
                    (&cr.display_name).into(),
                    (&cr.created).into(),
                    cr.expires.as_deref().into(),
                ],
            )
            .map(|_| ())
        })
    }

    fn delete_credential(&self, principal: &str, key_id: &str) -> MetaResult<bool> {
        Ok(self.exec(
            "DELETE FROM credentials WHERE principal = $1 AND key_id = $2",
            &[id(principal), id(key_id)],
        )? > 0)
    }

    fn credentials(&self, principal: &str) -> MetaResult<Vec<CredentialRecord>> {
        self.rows(
            &format!("{CREDENTIAL} WHERE principal = $1 ORDER BY created, key_id"),
            &[id(principal)],
        )?
        .iter()
        .map(credential)
        .collect()
    }

    fn insert_role_assignment(&self, a: &RoleAssignmentRecord) -> MetaResult<()> {
        self.exec(
            "INSERT INTO role_assignments (name, scope, role_definition, principal, principal_type, description, created, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                id(&a.name),
                (&a.scope).into(),
                id(&a.role_definition),
                id(&a.principal),
                (&a.principal_type).into(),
                a.description.as_deref().into(),
                (&a.created).into(),
                (&a.created_by).into(),
            ],
        )
        .map(|_| ())
    }

    fn find_role_assignment(&self, name: &str) -> MetaResult<Option<RoleAssignmentRecord>> {
        self.rows(&format!("{ASSIGNMENT} WHERE name = $1"), &[id(name)])?
            .first()
            .map(assignment)
            .transpose()
    }

    fn delete_role_assignment(&self, name: &str) -> MetaResult<Option<RoleAssignmentRecord>> {
        self.tx(|c| {
            let found = c
                .query_opt(&format!("{ASSIGNMENT} WHERE name = $1"), &[id(name)])?
                .as_ref()
                .map(assignment)
                .transpose()?;
            if found.is_some() {
                c.execute("DELETE FROM role_assignments WHERE name = $1", &[id(name)])?;
            }
            Ok(found)
        })
    }

    fn list_role_assignments(&self) -> MetaResult<Vec<RoleAssignmentRecord>> {
        self.rows(&format!("{ASSIGNMENT} ORDER BY scope, name"), &[])?
            .iter()
            .map(assignment)
            .collect()
    }

    fn role_assignments_of(&self, principal: &str) -> MetaResult<Vec<RoleAssignmentRecord>> {
        self.rows(
            &format!("{ASSIGNMENT} WHERE principal = $1 ORDER BY scope, name"),
            &[id(principal)],
        )?
        .iter()
        .map(assignment)
        .collect()
    }
}
