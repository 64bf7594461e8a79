//! Recovery points in SQL.

use super::{Driver, Row, SqlStore};
use crate::metastore::records::{JobUpdate, NewRecoveryPoint, PointRecord};
use crate::metastore::{MetaResult, PointStore};

const POINT: &str = "SELECT rp.id, rp.item, rp.name, rp.time, rp.consistency, rp.expiry, rp.disks, rp.instant_until, rp.damage, rp.verified, rp.replicated FROM recovery_points rp";

/// The order of points: by time, then as recorded.
const OLDEST_FIRST: &str = " ORDER BY rp.time, rp.id";

fn point(r: &Row) -> MetaResult<PointRecord> {
    Ok(PointRecord {
        id: r.int(0)?,
        item: r.int(1)?,
        name: r.text(2)?,
        time: r.text(3)?,
        consistency: r.text(4)?,
        expiry: r.opt_text(5)?,
        disks: r.text(6)?,
        instant_until: r.opt_text(7)?,
        damage: r.opt_text(8)?,
        verified: r.opt_text(9)?,
        replicated: r.opt_text(10)?,
    })
}

fn points(rows: Vec<Row>) -> MetaResult<Vec<PointRecord>> {
    rows.iter().map(point).collect()
}

impl<D: Driver> PointStore for SqlStore<D> {
    fn commit_backup(
        &self,
        p: &NewRecoveryPoint,
        job_id: &str,
        job_update: &dyn Fn(&str) -> JobUpdate,
    ) -> MetaResult<String> {
        self.tx(|c| {
            // Point names are numbers, as Azure's are: the start time in
            // microseconds, made unique if two backups started at once.
            let mut n = p.started.as_microsecond();
            let name = loop {
                let inserted = c.execute(
                    "INSERT INTO recovery_points (item, name, time, consistency, expiry, disks, instant_until) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                    &[
                        p.item.into(),
                        n.to_string().into(),
                        p.started.to_string().into(),
                        (&p.consistency).into(),
                        p.expiry.map(|e| e.to_string()).into(),
                        (&p.disks).into(),
                        p.instant_until.map(|t| t.to_string()).into(),
                    ],
                )?;
                if inserted == 1 {
                    break n.to_string();
                }
                n += 1;
            };
            c.execute(
                "UPDATE protected_items SET state = 'Protected' WHERE id = $1",
                &[p.item.into()],
            )?;
            super::jobs::update_job(c, job_id, &job_update(&name))?;
            Ok(name)
        })
    }

    fn find_point(&self, name: &str) -> MetaResult<Option<PointRecord>> {
        self.rows(&format!("{POINT} WHERE rp.name = $1"), &[name.into()])?
            .first()
            .map(point)
            .transpose()
    }

    fn item_points(&self, item: i64) -> MetaResult<Vec<PointRecord>> {
        points(self.rows(
            &format!("{POINT} WHERE rp.item = $1{OLDEST_FIRST}"),
            &[item.into()],
        )?)
    }

    fn vault_points(&self, vault: i64) -> MetaResult<Vec<PointRecord>> {
        points(self.rows(
            &format!(
                "{POINT} JOIN protected_items pi ON rp.item = pi.id WHERE pi.vault = $1{OLDEST_FIRST}"
            ),
            &[vault.into()],
        )?)
    }

    fn instant_points(&self) -> MetaResult<Vec<PointRecord>> {
        points(self.rows(
            &format!("{POINT} WHERE rp.instant_until IS NOT NULL{OLDEST_FIRST}"),
            &[],
        )?)
    }

    fn set_point_disks(&self, id: i64, disks: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE recovery_points SET disks = $1 WHERE id = $2",
            &[disks.into(), id.into()],
        )?;
        Ok(())
    }

    fn leave_instant_tier(&self, id: i64, disks: &str) -> MetaResult<()> {
        self.exec(
            "UPDATE recovery_points SET disks = $1, instant_until = NULL WHERE id = $2",
            &[disks.into(), id.into()],
        )?;
        Ok(())
    }

    fn clear_item_instant(&self, item: i64) -> MetaResult<()> {
        self.exec(
            "UPDATE recovery_points SET instant_until = NULL WHERE item = $1",
            &[item.into()],
        )?;
        Ok(())
    }

    fn set_point_verified(
        &self,
        id: i64,
        damage: Option<&str>,
        verified: &str,
    ) -> MetaResult<bool> {
        Ok(self.exec(
            "UPDATE recovery_points SET damage = $1, verified = $2 WHERE id = $3",
            &[damage.into(), verified.into(), id.into()],
        )? > 0)
    }

    fn set_points_replicated(&self, names: &[String], at: &str) -> MetaResult<usize> {
        self.tx(|c| {
            let mut n = 0;
            for name in names {
                n += c.execute(
                    "UPDATE recovery_points SET replicated = $1 WHERE name = $2 AND replicated IS NULL",
                    &[at.into(), name.into()],
                )?;
            }
            Ok(n as usize)
        })
    }

    fn delete_point(&self, item: i64, name: &str) -> MetaResult<bool> {
        Ok(self.exec(
            "DELETE FROM recovery_points WHERE item = $1 AND name = $2",
            &[item.into(), name.into()],
        )? > 0)
    }
}
