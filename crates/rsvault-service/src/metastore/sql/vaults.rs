//! Vaults and policies in SQL.

use super::{Driver, Row, SqlStore};
use crate::metastore::records::{NewVault, PolicyRecord, Secondary, VaultRecord, VaultUpdate};
use crate::metastore::{MetaResult, PolicyStore, VaultStore};
use crate::vault::VaultRef;

const VAULT: &str = "SELECT id, subscription, resource_group, name, location, sku, tags, properties, redundancy, cross_region_restore, store, created, verify_schedule, verify_after, secondary_store, secondary_region, replicated_at, replication_error FROM vaults";

fn vault(r: &Row) -> MetaResult<VaultRecord> {
    Ok(VaultRecord {
        id: r.int(0)?,
        vref: VaultRef {
            subscription: r.text(1)?,
            resource_group: r.text(2)?,
            name: r.text(3)?,
        },
        location: r.text(4)?,
        sku: r.text(5)?,
        tags: r.text(6)?,
        properties: r.text(7)?,
        redundancy: r.text(8)?,
        cross_region_restore: r.text(9)?,
        store: r.text(10)?,
        created: r.text(11)?,
        verify_schedule: r.opt_text(12)?,
        verify_after: r.opt_text(13)?,
        secondary: match (r.opt_text(14)?, r.opt_text(15)?) {
            (Some(store), Some(region)) => Some(Secondary { store, region }),
            _ => None,
        },
        replicated_at: r.opt_text(16)?,
        replication_error: r.opt_text(17)?,
    })
}

fn vaults(rows: Vec<Row>) -> MetaResult<Vec<VaultRecord>> {
    rows.iter().map(vault).collect()
}

fn policy(r: &Row) -> MetaResult<PolicyRecord> {
    Ok(PolicyRecord {
        id: r.int(0)?,
        vault: r.int(1)?,
        name: r.text(2)?,
        properties: r.text(3)?,
    })
}

const POLICY: &str = "SELECT id, vault, name, properties FROM policies";

impl<D: Driver> VaultStore for SqlStore<D> {
    fn insert_vault(
        &self,
        v: &NewVault,
        policy_name: &str,
        policy_properties: &str,
    ) -> MetaResult<i64> {
        self.tx(|c| {
            let id = c
                .query_one(
                    "INSERT INTO vaults (subscription, resource_group, name, location, sku, tags, properties, redundancy, cross_region_restore, store, created, secondary_store, secondary_region)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                    &[
                        (&v.vref.subscription).into(),
                        (&v.vref.resource_group).into(),
                        (&v.vref.name).into(),
                        (&v.location).into(),
                        (&v.sku).into(),
                        (&v.tags).into(),
                        (&v.properties).into(),
                        (&v.redundancy).into(),
                        (&v.cross_region_restore).into(),
                        (&v.store).into(),
                        (&v.created).into(),
                        v.secondary.as_ref().map(|s| s.store.as_str()).into(),
                        v.secondary.as_ref().map(|s| s.region.as_str()).into(),
                    ],
                )?
                .int(0)?;
            c.execute(
                "INSERT INTO policies (vault, name, properties) VALUES ($1, $2, $3)",
                &[id.into(), policy_name.into(), policy_properties.into()],
            )?;
            Ok(id)
        })
    }

    fn find_vault(&self, v: &VaultRef) -> MetaResult<Option<VaultRecord>> {
        self.rows(
            &format!(
                "{VAULT} WHERE lower(subscription) = lower($1) AND lower(resource_group) = lower($2) AND lower(name) = lower($3)"
            ),
            &[
                (&v.subscription).into(),
                (&v.resource_group).into(),
                (&v.name).into(),
            ],
        )?
        .first()
        .map(vault)
        .transpose()
    }

    fn vault_by_id(&self, id: i64) -> MetaResult<Option<VaultRecord>> {
        self.rows(&format!("{VAULT} WHERE id = $1"), &[id.into()])?
            .first()
            .map(vault)
            .transpose()
    }

    fn vault_by_store(&self, store: &str) -> MetaResult<Option<VaultRecord>> {
        self.rows(&format!("{VAULT} WHERE store = $1"), &[store.into()])?
            .first()
            .map(vault)
            .transpose()
    }

    fn list_vaults(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<VaultRecord>> {
        match resource_group {
            Some(rg) => vaults(self.rows(
                &format!(
                    "{VAULT} WHERE lower(subscription) = lower($1) AND lower(resource_group) = lower($2) ORDER BY name, id"
                ),
                &[subscription.into(), rg.into()],
            )?),
            None => vaults(self.rows(
                &format!(
                    "{VAULT} WHERE lower(subscription) = lower($1) ORDER BY resource_group, name, id"
                ),
                &[subscription.into()],
            )?),
        }
    }

    fn all_vaults(&self) -> MetaResult<Vec<VaultRecord>> {
        vaults(self.rows(&format!("{VAULT} ORDER BY id"), &[])?)
    }

    fn update_vault(&self, id: i64, u: &VaultUpdate) -> MetaResult<()> {
        self.exec(
            "UPDATE vaults SET sku = $1, tags = $2, properties = $3, redundancy = $4, cross_region_restore = $5 WHERE id = $6",
            &[
                (&u.sku).into(),
                (&u.tags).into(),
                (&u.properties).into(),
                (&u.redundancy).into(),
                (&u.cross_region_restore).into(),
                id.into(),
            ],
        )?;
        Ok(())
    }

    fn delete_vault(&self, id: i64) -> MetaResult<bool> {
        Ok(self.exec("DELETE FROM vaults WHERE id = $1", &[id.into()])? > 0)
    }

    fn set_verify_schedule(&self, id: i64, schedule: Option<&str>, after: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE vaults SET verify_schedule = $1, verify_after = $2 WHERE id = $3",
            &[schedule.into(), after.into(), id.into()],
        )?;
        Ok(())
    }

    fn set_vault_secondary(&self, id: i64, secondary: Option<&Secondary>) -> MetaResult<()> {
        self.exec(
            "UPDATE vaults SET secondary_store = $1, secondary_region = $2, replicated_at = NULL, replication_error = NULL WHERE id = $3",
            &[
                secondary.map(|s| s.store.as_str()).into(),
                secondary.map(|s| s.region.as_str()).into(),
                id.into(),
            ],
        )?;
        Ok(())
    }

    fn set_vault_replication(
        &self,
        id: i64,
        outcome: std::result::Result<&str, &str>,
    ) -> MetaResult<()> {
        match outcome {
            Ok(at) => self.exec(
                "UPDATE vaults SET replicated_at = $1, replication_error = NULL WHERE id = $2",
                &[at.into(), id.into()],
            )?,
            Err(error) => self.exec(
                "UPDATE vaults SET replication_error = $1 WHERE id = $2",
                &[error.into(), id.into()],
            )?,
        };
        Ok(())
    }

    fn set_verify_after(&self, id: i64, after: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE vaults SET verify_after = $1 WHERE id = $2",
            &[after.into(), id.into()],
        )?;
        Ok(())
    }
}

impl<D: Driver> PolicyStore for SqlStore<D> {
    fn find_policy(&self, vault: i64, name: &str) -> MetaResult<Option<PolicyRecord>> {
        self.rows(
            &format!("{POLICY} WHERE vault = $1 AND lower(name) = lower($2)"),
            &[vault.into(), name.into()],
        )?
        .first()
        .map(policy)
        .transpose()
    }

    fn save_policy(
        &self,
        vault: i64,
        name: &str,
        properties: &str,
        limit: usize,
    ) -> MetaResult<Option<String>> {
        self.tx(|c| {
            // A write that changes nothing locks the vault's row until the
            // transaction ends: saves of the vault's policies (from any
            // thread or server) take turns, so each counts the others'.
            c.execute("UPDATE vaults SET sku = sku WHERE id = $1", &[vault.into()])?;
            let existing = c.query_opt(
                "SELECT id, name FROM policies WHERE vault = $1 AND lower(name) = lower($2)",
                &[vault.into(), name.into()],
            )?;
            if let Some(row) = existing {
                c.execute(
                    "UPDATE policies SET properties = $1 WHERE id = $2",
                    &[properties.into(), row.int(0)?.into()],
                )?;
                return Ok(Some(row.text(1)?));
            }
            let n = c
                .query_one(
                    "SELECT count(*) FROM policies WHERE vault = $1",
                    &[vault.into()],
                )?
                .int(0)?;
            if usize::try_from(n).unwrap_or(usize::MAX) >= limit {
                return Ok(None);
            }
            c.execute(
                "INSERT INTO policies (vault, name, properties) VALUES ($1, $2, $3)",
                &[vault.into(), name.into(), properties.into()],
            )?;
            Ok(Some(name.to_owned()))
        })
    }

    fn delete_policy(&self, vault: i64, name: &str) -> MetaResult<bool> {
        Ok(self.exec(
            "DELETE FROM policies WHERE vault = $1 AND lower(name) = lower($2)",
            &[vault.into(), name.into()],
        )? > 0)
    }

    fn list_policies(&self, vault: i64) -> MetaResult<Vec<PolicyRecord>> {
        self.rows(
            &format!("{POLICY} WHERE vault = $1 ORDER BY name, id"),
            &[vault.into()],
        )?
        .iter()
        .map(policy)
        .collect()
    }
}
