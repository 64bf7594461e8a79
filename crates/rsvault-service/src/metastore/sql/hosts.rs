//! Agent hosts and enrolment tokens in SQL. Ids are stored lower-case.

use super::{Driver, Row, SqlStore, Val};
use crate::metastore::MetaResult;
use crate::metastore::hosts::{EnrollTokenRecord, HostRecord, HostStore};

const HOST: &str = "SELECT id, subscription, resource_group, name, location, principal, agent_version, enrolled, last_contact_ms, last_error FROM agent_hosts";

fn host(r: &Row) -> MetaResult<HostRecord> {
    Ok(HostRecord {
        id: r.text(0)?,
        subscription: r.text(1)?,
        resource_group: r.text(2)?,
        name: r.text(3)?,
        location: r.text(4)?,
        principal: r.text(5)?,
        agent_version: r.text(6)?,
        enrolled: r.text(7)?,
        last_contact_ms: r.opt_int(8)?,
        last_error: r.opt_text(9)?,
    })
}

fn lower(s: &str) -> Val {
    Val::Text(s.to_ascii_lowercase())
}

impl<D: Driver> HostStore for SqlStore<D> {
    fn insert_host(&self, h: &HostRecord) -> MetaResult<bool> {
        self.tx(|c| {
            let taken = c.query_opt(
                "SELECT id FROM agent_hosts WHERE id = $1 OR (lower(subscription) = $2 AND lower(resource_group) = $3 AND lower(name) = $4)",
                &[lower(&h.id), lower(&h.subscription), lower(&h.resource_group), lower(&h.name)],
            )?;
            if taken.is_some() {
                return Ok(false);
            }
            c.execute(
                "INSERT INTO agent_hosts (id, subscription, resource_group, name, location, principal, agent_version, enrolled, last_contact_ms, last_error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    lower(&h.id),
                    (&h.subscription).into(),
                    (&h.resource_group).into(),
                    (&h.name).into(),
                    (&h.location).into(),
                    (&h.principal).into(),
                    (&h.agent_version).into(),
                    (&h.enrolled).into(),
                    h.last_contact_ms.into(),
                    h.last_error.as_deref().into(),
                ],
            )?;
            Ok(true)
        })
    }

    fn host(&self, id: &str) -> MetaResult<Option<HostRecord>> {
        self.rows(&format!("{HOST} WHERE id = $1"), &[lower(id)])?
            .first()
            .map(host)
            .transpose()
    }

    fn host_by_name(
        &self,
        subscription: &str,
        resource_group: &str,
        name: &str,
    ) -> MetaResult<Option<HostRecord>> {
        self.rows(
            &format!("{HOST} WHERE lower(subscription) = $1 AND lower(resource_group) = $2 AND lower(name) = $3"),
            &[lower(subscription), lower(resource_group), lower(name)],
        )?
        .first()
        .map(host)
        .transpose()
    }

    fn list_hosts(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<HostRecord>> {
        let rows = match resource_group {
            None => self.rows(
                &format!("{HOST} WHERE lower(subscription) = $1 ORDER BY lower(resource_group), lower(name)"),
                &[lower(subscription)],
            )?,
            Some(rg) => self.rows(
                &format!("{HOST} WHERE lower(subscription) = $1 AND lower(resource_group) = $2 ORDER BY lower(name)"),
                &[lower(subscription), lower(rg)],
            )?,
        };
        rows.iter().map(host).collect()
    }

    fn all_hosts(&self) -> MetaResult<Vec<HostRecord>> {
        self.rows(&format!("{HOST} ORDER BY id"), &[])?
            .iter()
            .map(host)
            .collect()
    }

    fn touch_host(
        &self,
        id: &str,
        at_ms: i64,
        agent_version: &str,
        error: Option<&str>,
    ) -> MetaResult<bool> {
        self.tx(|c| {
            Ok(c.execute(
                "UPDATE agent_hosts SET last_contact_ms = $1, agent_version = $2, last_error = $3 WHERE id = $4",
                &[at_ms.into(), agent_version.into(), error.into(), lower(id)],
            )? > 0)
        })
    }

    fn delete_host(&self, id: &str) -> MetaResult<bool> {
        self.tx(|c| Ok(c.execute("DELETE FROM agent_hosts WHERE id = $1", &[lower(id)])? > 0))
    }

    fn insert_enroll_token(&self, t: &EnrollTokenRecord) -> MetaResult<()> {
        self.tx(|c| {
            c.execute(
                "INSERT INTO enroll_tokens (hash, subscription, resource_group, location, expires_ms, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    lower(&t.hash),
                    (&t.subscription).into(),
                    (&t.resource_group).into(),
                    (&t.location).into(),
                    t.expires_ms.into(),
                    (&t.created_by).into(),
                ],
            )
            .map(|_| ())
        })
    }

    fn take_enroll_token(&self, hash: &str, now_ms: i64) -> MetaResult<Option<EnrollTokenRecord>> {
        self.tx(|c| {
            // Expired tokens go on every use.
            c.execute("DELETE FROM enroll_tokens WHERE expires_ms <= $1", &[now_ms.into()])?;
            let key = [lower(hash)];
            let Some(r) = c.query_opt(
                "SELECT hash, subscription, resource_group, location, expires_ms, created_by FROM enroll_tokens WHERE hash = $1",
                &key,
            )?
            else {
                return Ok(None);
            };
            c.execute("DELETE FROM enroll_tokens WHERE hash = $1", &key)?;
            Ok(Some(EnrollTokenRecord {
                hash: r.text(0)?,
                subscription: r.text(1)?,
                resource_group: r.text(2)?,
                location: r.text(3)?,
                expires_ms: r.int(4)?,
                created_by: r.text(5)?,
            }))
        })
    }
}
