//! Protected items in SQL.

use super::{Driver, Row, SqlStore, Where, limit_of, offset_of};
use crate::inventory::{ResourceRef, VmProvider};
use crate::metastore::records::{ItemOverview, ItemQuery, ItemRecord, NewItem};
use crate::metastore::{ItemStore, MetaResult, Page, PageRequest};

pub(super) const ITEM_COLUMNS: &str = "id, vault, provider, vm_subscription, vm_resource_group, vm_name, policy, state, data_id, created, deferred_delete, sched_after, health";

const ITEM: &str = "SELECT id, vault, provider, vm_subscription, vm_resource_group, vm_name, policy, state, data_id, created, deferred_delete, sched_after, health FROM protected_items";

/// The order of a vault's items.
pub(super) const BY_VM: &str = " ORDER BY vm_resource_group, vm_name, id";

/// An item from the first columns of a row ([`ITEM_COLUMNS`]).
pub(super) fn item(r: &Row) -> MetaResult<ItemRecord> {
    Ok(ItemRecord {
        id: r.int(0)?,
        vault: r.int(1)?,
        provider: VmProvider::from_key(&r.text(2)?),
        vm: ResourceRef {
            subscription: r.text(3)?,
            resource_group: r.text(4)?,
            name: r.text(5)?,
        },
        policy: r.text(6)?,
        state: r.text(7)?,
        data_id: r.text(8)?,
        created: r.text(9)?,
        deferred_delete: r.opt_text(10)?,
        sched_after: r.opt_text(11)?,
        health: r.opt_text(12)?,
    })
}

fn items(rows: Vec<Row>) -> MetaResult<Vec<ItemRecord>> {
    rows.iter().map(item).collect()
}

/// The conditions of an item query.
pub(super) fn item_filter(vault: i64, q: &ItemQuery) -> Where {
    let mut w = Where::default();
    w.and("vault = {}", vec![vault.into()]);
    if let Some(p) = &q.policy {
        w.and("lower(policy) = lower({})", vec![p.into()]);
    }
    if let Some(name) = &q.friendly_name {
        w.and("lower(vm_name) = lower({})", vec![name.into()]);
    }
    if let Some(c) = &q.container {
        w.and("lower(vm_name) = lower({})", vec![(&c.vm).into()]);
        if let Some(rg) = &c.resource_group {
            w.and("lower(vm_resource_group) = lower({})", vec![rg.into()]);
        }
        if let Some(p) = c.provider {
            w.and("provider = {}", vec![p.key().into()]);
        }
    }
    w
}

impl<D: Driver> ItemStore for SqlStore<D> {
    fn insert_item(&self, i: &NewItem) -> MetaResult<i64> {
        self.run(|c| {
            c.query_one(
                "INSERT INTO protected_items (vault, provider, vm_subscription, vm_resource_group, vm_name, policy, state, data_id, created)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    i.vault.into(),
                    i.provider.key().into(),
                    (&i.vm.subscription).into(),
                    (&i.vm.resource_group).into(),
                    (&i.vm.name).into(),
                    (&i.policy).into(),
                    (&i.state).into(),
                    (&i.data_id).into(),
                    (&i.created).into(),
                ],
            )?
            .int(0)
        })
    }

    fn item_by_id(&self, id: i64) -> MetaResult<Option<ItemRecord>> {
        self.rows(&format!("{ITEM} WHERE id = $1"), &[id.into()])?
            .first()
            .map(item)
            .transpose()
    }

    fn find_item(
        &self,
        vault: i64,
        provider: VmProvider,
        resource_group: &str,
        vm: &str,
    ) -> MetaResult<Option<ItemRecord>> {
        self.rows(
            &format!(
                "{ITEM} WHERE vault = $1 AND provider = $2 AND lower(vm_resource_group) = lower($3) AND lower(vm_name) = lower($4)"
            ),
            &[
                vault.into(),
                provider.key().into(),
                resource_group.into(),
                vm.into(),
            ],
        )?
        .first()
        .map(item)
        .transpose()
    }

    fn item_for_vm(
        &self,
        provider: VmProvider,
        vm: &ResourceRef,
    ) -> MetaResult<Option<ItemRecord>> {
        self.rows(
            &format!(
                "{ITEM} WHERE provider = $1 AND lower(vm_subscription) = lower($2) AND lower(vm_resource_group) = lower($3) AND lower(vm_name) = lower($4)"
            ),
            &[
                provider.key().into(),
                (&vm.subscription).into(),
                (&vm.resource_group).into(),
                (&vm.name).into(),
            ],
        )?
        .first()
        .map(item)
        .transpose()
    }

    fn list_items(
        &self,
        vault: i64,
        q: &ItemQuery,
        page: &PageRequest,
    ) -> MetaResult<Page<ItemRecord>> {
        let offset = offset_of(page.token.as_deref())?;
        let size = page.size.max(1);
        let w = item_filter(vault, q);
        let mut params = w.params().to_vec();
        let n = params.len();
        params.push(limit_of(size).into());
        params.push(offset.into());
        let mut rows = items(self.rows(
            &format!(
                "{ITEM}{}{BY_VM} LIMIT ${} OFFSET ${}",
                w.sql(),
                n + 1,
                n + 2
            ),
            &params,
        )?)?;
        let next = (rows.len() > size).then(|| {
            rows.truncate(size);
            (offset + size as i64).to_string()
        });
        Ok(Page { items: rows, next })
    }

    fn list_item_overviews(
        &self,
        vault: i64,
        q: &ItemQuery,
        page: &PageRequest,
    ) -> MetaResult<Page<ItemOverview>> {
        let offset = offset_of(page.token.as_deref())?;
        let size = page.size.max(1);
        let mut items = self.run(|c| super::overviews::page(c, vault, q, offset, size))?;
        let next = (items.len() > size).then(|| {
            items.truncate(size);
            (offset + size as i64).to_string()
        });
        Ok(Page { items, next })
    }

    fn vault_items(&self, vault: i64) -> MetaResult<Vec<ItemRecord>> {
        items(self.rows(&format!("{ITEM} WHERE vault = $1{BY_VM}"), &[vault.into()])?)
    }

    fn soft_deleted_items(&self) -> MetaResult<Vec<ItemRecord>> {
        items(self.rows(
            &format!("{ITEM} WHERE deferred_delete IS NOT NULL ORDER BY id"),
            &[],
        )?)
    }

    fn scheduled_items(&self) -> MetaResult<Vec<ItemRecord>> {
        items(self.rows(
            &format!("{ITEM} WHERE policy <> '' AND deferred_delete IS NULL ORDER BY id"),
            &[],
        )?)
    }

    fn count_items(&self, vault: i64, policy: Option<&str>) -> MetaResult<u64> {
        let n = match policy {
            None => self.run(|c| {
                c.query_one(
                    "SELECT count(*) FROM protected_items WHERE vault = $1",
                    &[vault.into()],
                )?
                .int(0)
            })?,
            Some(p) => self.run(|c| {
                c.query_one(
                    "SELECT count(*) FROM protected_items WHERE vault = $1 AND lower(policy) = lower($2)",
                    &[vault.into(), p.into()],
                )?
                .int(0)
            })?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn set_item_protection(&self, id: i64, state: &str, policy: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE protected_items SET state = $1, policy = $2 WHERE id = $3",
            &[state.into(), policy.into(), id.into()],
        )?;
        Ok(())
    }

    fn soft_delete_item(&self, id: i64, until: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE protected_items SET deferred_delete = $1, state = 'ProtectionStopped', policy = '' WHERE id = $2",
            &[until.into(), id.into()],
        )?;
        Ok(())
    }

    fn undelete_item(&self, id: i64) -> MetaResult<()> {
        self.exec(
            "UPDATE protected_items SET deferred_delete = NULL, state = 'ProtectionStopped' WHERE id = $1",
            &[id.into()],
        )?;
        Ok(())
    }

    fn set_item_health(&self, id: i64, health: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE protected_items SET health = $1 WHERE id = $2",
            &[health.into(), id.into()],
        )?;
        Ok(())
    }

    fn set_item_sched_after(&self, id: i64, after: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE protected_items SET sched_after = $1 WHERE id = $2",
            &[after.into(), id.into()],
        )?;
        Ok(())
    }

    fn purge_item(&self, id: i64) -> MetaResult<()> {
        self.tx(|c| {
            c.execute("DELETE FROM recovery_points WHERE item = $1", &[id.into()])?;
            c.execute("DELETE FROM protected_items WHERE id = $1", &[id.into()])?;
            Ok(())
        })
    }
}
