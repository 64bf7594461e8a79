//! Resource guards, vault links and unlocks in SQL. Guard ids are stored
//! lower-case, so that lookups and the links match in any case.

use super::{Driver, Row, SqlStore, Val};
use crate::metastore::MetaResult;
use crate::metastore::guards::{GuardDeletion, GuardProxyRecord, GuardStore, ResourceGuardRecord};

const GUARD: &str = "SELECT id, subscription, resource_group, name, location, tags, description, exclusions, created, updated FROM resource_guards";
const PROXY: &str = "SELECT vault, guard, description, updated FROM guard_proxies";

fn guard(r: &Row) -> MetaResult<ResourceGuardRecord> {
    Ok(ResourceGuardRecord {
        id: r.text(0)?,
        subscription: r.text(1)?,
        resource_group: r.text(2)?,
        name: r.text(3)?,
        location: r.text(4)?,
        tags: r.text(5)?,
        description: r.opt_text(6)?,
        exclusions: r.text(7)?,
        created: r.text(8)?,
        updated: r.text(9)?,
    })
}

fn proxy(r: &Row) -> MetaResult<GuardProxyRecord> {
    Ok(GuardProxyRecord {
        vault: r.int(0)?,
        guard: r.text(1)?,
        description: r.opt_text(2)?,
        updated: r.text(3)?,
    })
}

fn lower(s: &str) -> Val {
    Val::Text(s.to_ascii_lowercase())
}

impl<D: Driver> GuardStore for SqlStore<D> {
    fn put_resource_guard(&self, g: &ResourceGuardRecord) -> MetaResult<bool> {
        self.tx(|c| {
            let id = lower(&g.id);
            let fields = [
                (&g.location).into(),
                (&g.tags).into(),
                g.description.as_deref().into(),
                (&g.exclusions).into(),
                (&g.updated).into(),
            ];
            let updated = c.execute(
                "UPDATE resource_guards SET location = $1, tags = $2, description = $3, exclusions = $4, updated = $5 WHERE id = $6",
                &[fields.as_slice(), std::slice::from_ref(&id)].concat(),
            )?;
            if updated > 0 {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO resource_guards (location, tags, description, exclusions, updated, id, subscription, resource_group, name, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    fields.as_slice(),
                    &[
                        id.clone(),
                        (&g.subscription).into(),
                        (&g.resource_group).into(),
                        (&g.name).into(),
                        (&g.created).into(),
                    ],
                ]
                .concat(),
            )?;
            Ok(true)
        })
    }

    fn resource_guard(&self, id: &str) -> MetaResult<Option<ResourceGuardRecord>> {
        self.rows(&format!("{GUARD} WHERE id = $1"), &[lower(id)])?
            .first()
            .map(guard)
            .transpose()
    }

    fn list_resource_guards(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<ResourceGuardRecord>> {
        let rows = match resource_group {
            None => self.rows(
                &format!("{GUARD} WHERE lower(subscription) = $1 ORDER BY id"),
                &[lower(subscription)],
            )?,
            Some(rg) => self.rows(
                &format!(
                    "{GUARD} WHERE lower(subscription) = $1 AND lower(resource_group) = $2 ORDER BY id"
                ),
                &[lower(subscription), lower(rg)],
            )?,
        };
        rows.iter().map(guard).collect()
    }

    fn delete_resource_guard(&self, id: &str) -> MetaResult<GuardDeletion> {
        self.tx(|c| {
            let p = [lower(id)];
            if c.query_opt("SELECT vault FROM guard_proxies WHERE guard = $1", &p)?
                .is_some()
            {
                return Ok(GuardDeletion::InUse);
            }
            Ok(
                match c.execute("DELETE FROM resource_guards WHERE id = $1", &p)? {
                    0 => GuardDeletion::NotFound,
                    _ => GuardDeletion::Deleted,
                },
            )
        })
    }

    fn set_guard_proxy(&self, p: &GuardProxyRecord) -> MetaResult<bool> {
        self.tx(|c| {
            if c
                .query_opt("SELECT id FROM resource_guards WHERE id = $1", &[lower(&p.guard)])?
                .is_none()
            {
                return Ok(false);
            }
            c.execute("DELETE FROM guard_proxies WHERE vault = $1", &[p.vault.into()])?;
            c.execute(
                "INSERT INTO guard_proxies (vault, guard, description, updated) VALUES ($1, $2, $3, $4)",
                &[
                    p.vault.into(),
                    lower(&p.guard),
                    p.description.as_deref().into(),
                    (&p.updated).into(),
                ],
            )?;
            Ok(true)
        })
    }

    fn guard_proxy(&self, vault: i64) -> MetaResult<Option<GuardProxyRecord>> {
        self.rows(&format!("{PROXY} WHERE vault = $1"), &[vault.into()])?
            .first()
            .map(proxy)
            .transpose()
    }

    fn delete_guard_proxy(&self, vault: i64) -> MetaResult<bool> {
        self.tx(|c| {
            c.execute(
                "DELETE FROM guard_unlocks WHERE vault = $1",
                &[vault.into()],
            )?;
            Ok(c.execute(
                "DELETE FROM guard_proxies WHERE vault = $1",
                &[vault.into()],
            )? > 0)
        })
    }

    fn grant_unlock(&self, vault: i64, resource: &str, expires_ms: i64) -> MetaResult<()> {
        self.tx(|c| {
            let key = [vault.into(), lower(resource)];
            c.execute(
                "DELETE FROM guard_unlocks WHERE vault = $1 AND resource = $2",
                &key,
            )?;
            c.execute(
                "INSERT INTO guard_unlocks (vault, resource, expires_ms) VALUES ($1, $2, $3)",
                &[key.as_slice(), &[expires_ms.into()]].concat(),
            )
            .map(|_| ())
        })
    }

    fn take_unlock(&self, vault: i64, resource: &str, now_ms: i64) -> MetaResult<bool> {
        self.tx(|c| {
            let key = [vault.into(), lower(resource)];
            let found = c.query_opt(
                "SELECT expires_ms FROM guard_unlocks WHERE vault = $1 AND resource = $2",
                &key,
            )?;
            let Some(row) = found else {
                return Ok(false);
            };
            c.execute(
                "DELETE FROM guard_unlocks WHERE vault = $1 AND resource = $2",
                &key,
            )?;
            Ok(row.int(0)? > now_ms)
        })
    }
}
