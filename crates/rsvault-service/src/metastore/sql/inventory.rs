//! The inventory in SQL.

use super::{Driver, Row, SqlStore, Where};
use crate::inventory::{ResourceRef, VmProvider};
use crate::metastore::records::{DiskRecord, NewDisk, NewVm, ResourceGroupRecord, VmRecord};
use crate::metastore::{InventoryStore, MetaResult};

const DISK: &str = "SELECT id, subscription, resource_group, name, location, body FROM disks";
const VM: &str = "SELECT id, provider, subscription, resource_group, name, location, vm_id, power_state, body FROM vms";

fn disk(r: &Row) -> MetaResult<DiskRecord> {
    Ok(DiskRecord {
        id: r.int(0)?,
        disk: ResourceRef {
            subscription: r.text(1)?,
            resource_group: r.text(2)?,
            name: r.text(3)?,
        },
        location: r.text(4)?,
        body: r.text(5)?,
    })
}

fn vm(r: &Row) -> MetaResult<VmRecord> {
    Ok(VmRecord {
        id: r.int(0)?,
        provider: VmProvider::from_key(&r.text(1)?),
        vm: ResourceRef {
            subscription: r.text(2)?,
            resource_group: r.text(3)?,
            name: r.text(4)?,
        },
        location: r.text(5)?,
        vm_id: r.text(6)?,
        power_state: r.text(7)?,
        body: r.text(8)?,
    })
}

/// Rows of one subscription (and group), case-insensitively.
fn scope(w: &mut Where, subscription: &str, resource_group: Option<&str>) {
    w.and("lower(subscription) = lower({})", vec![subscription.into()]);
    if let Some(rg) = resource_group {
        w.and("lower(resource_group) = lower({})", vec![rg.into()]);
    }
}

impl<D: Driver> InventoryStore for SqlStore<D> {
    fn find_disk(&self, d: &ResourceRef) -> MetaResult<Option<DiskRecord>> {
        self.rows(
            &format!(
                "{DISK} WHERE lower(subscription) = lower($1) AND lower(resource_group) = lower($2) AND lower(name) = lower($3)"
            ),
            &[
                (&d.subscription).into(),
                (&d.resource_group).into(),
                (&d.name).into(),
            ],
        )?
        .first()
        .map(disk)
        .transpose()
    }

    fn insert_disk(&self, d: &NewDisk) -> MetaResult<i64> {
        self.run(|c| {
            c.query_one(
                "INSERT INTO disks (subscription, resource_group, name, location, body) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    (&d.disk.subscription).into(),
                    (&d.disk.resource_group).into(),
                    (&d.disk.name).into(),
                    (&d.location).into(),
                    (&d.body).into(),
                ],
            )?
            .int(0)
        })
    }

    fn update_disk_body(&self, id: i64, body: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE disks SET body = $1 WHERE id = $2",
            &[body.into(), id.into()],
        )?;
        Ok(())
    }

    fn delete_disk(&self, id: i64) -> MetaResult<bool> {
        Ok(self.exec("DELETE FROM disks WHERE id = $1", &[id.into()])? > 0)
    }

    fn list_disks(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<DiskRecord>> {
        let mut w = Where::default();
        scope(&mut w, subscription, resource_group);
        self.rows(
            &format!("{DISK}{} ORDER BY resource_group, name, id", w.sql()),
            w.params(),
        )?
        .iter()
        .map(disk)
        .collect()
    }

    fn find_vm(&self, p: VmProvider, v: &ResourceRef) -> MetaResult<Option<VmRecord>> {
        self.rows(
            &format!(
                "{VM} WHERE provider = $1 AND lower(subscription) = lower($2) AND lower(resource_group) = lower($3) AND lower(name) = lower($4)"
            ),
            &[
                p.key().into(),
                (&v.subscription).into(),
                (&v.resource_group).into(),
                (&v.name).into(),
            ],
        )?
        .first()
        .map(vm)
        .transpose()
    }

    fn insert_vm(&self, v: &NewVm) -> MetaResult<i64> {
        self.run(|c| {
            c.query_one(
                "INSERT INTO vms (provider, subscription, resource_group, name, location, vm_id, power_state, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    v.provider.key().into(),
                    (&v.vm.subscription).into(),
                    (&v.vm.resource_group).into(),
                    (&v.vm.name).into(),
                    (&v.location).into(),
                    (&v.vm_id).into(),
                    (&v.power_state).into(),
                    (&v.body).into(),
                ],
            )?
            .int(0)
        })
    }

    fn update_vm_body(&self, id: i64, body: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE vms SET body = $1 WHERE id = $2",
            &[body.into(), id.into()],
        )?;
        Ok(())
    }

    fn set_vm_power(&self, id: i64, state: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE vms SET power_state = $1 WHERE id = $2",
            &[state.into(), id.into()],
        )?;
        Ok(())
    }

    fn delete_vm(&self, id: i64) -> MetaResult<bool> {
        Ok(self.exec("DELETE FROM vms WHERE id = $1", &[id.into()])? > 0)
    }

    fn list_vms(
        &self,
        p: VmProvider,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> MetaResult<Vec<VmRecord>> {
        let mut w = Where::default();
        w.and("provider = {}", vec![p.key().into()]);
        scope(&mut w, subscription, resource_group);
        self.rows(
            &format!("{VM}{} ORDER BY resource_group, name, id", w.sql()),
            w.params(),
        )?
        .iter()
        .map(vm)
        .collect()
    }

    fn all_vms(&self) -> MetaResult<Vec<VmRecord>> {
        self.rows(&format!("{VM} ORDER BY id"), &[])?
            .iter()
            .map(vm)
            .collect()
    }

    fn subscriptions(&self) -> MetaResult<Vec<String>> {
        self.rows(
            "SELECT subscription FROM vaults UNION SELECT subscription FROM vms UNION SELECT subscription FROM disks ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| r.text(0))
        .collect()
    }

    fn resource_groups(&self, subscription: &str) -> MetaResult<Vec<ResourceGroupRecord>> {
        self.rows(
            "SELECT min(resource_group), min(location) FROM (
                SELECT resource_group, location FROM vaults WHERE lower(subscription) = lower($1)
                UNION ALL SELECT resource_group, location FROM vms WHERE lower(subscription) = lower($1)
                UNION ALL SELECT resource_group, location FROM disks WHERE lower(subscription) = lower($1)) AS held
             GROUP BY lower(resource_group) ORDER BY lower(resource_group)",
            &[subscription.into()],
        )?
        .iter()
        .map(|r| {
            Ok(ResourceGroupRecord {
                name: r.text(0)?,
                location: r.text(1)?,
            })
        })
        .collect()
    }
}
