//! A page of protected items with what their views show (their points,
//! last backup and policy), read in one query: the page's items are chosen
//! first, then each row gets its points counted through the points' index,
//! its newest Backup job through the jobs' index (newest first, the first
//! of its container) and its policy joined by name.

use super::items::{BY_VM, ITEM_COLUMNS, item, item_filter};
use super::{Conn, Row, Val, Where, limit_of};
use crate::inventory::VmProvider;
use crate::metastore::MetaResult;
use crate::metastore::records::{ItemOverview, ItemQuery, LastJob, PointSummary, PolicyRecord};
use std::collections::HashMap;

/// The operation of the job an overview shows.
const BACKUP: &str = "Backup";

/// Item ids a statement names at most (SQLite takes 32766 parameters).
const IDS_PER_STATEMENT: usize = 500;

/// The container of item row `p` as jobs name it: `<kind>;<group>;<vm>`.
fn container_of_p() -> String {
    let kinds: String = VmProvider::ALL
        .iter()
        .map(|v| format!(" WHEN '{}' THEN '{}'", v.key(), v.container_kind()))
        .collect();
    format!("(CASE p.provider{kinds} END || ';' || p.vm_resource_group || ';' || p.vm_name)")
}

fn overview(r: &Row) -> MetaResult<ItemOverview> {
    let n = ITEM_COLUMNS.split(", ").count();
    let policy = match r.opt_text(n + 4)? {
        Some(name) => Some(PolicyRecord {
            id: r.int(n + 3)?,
            vault: r.int(1)?,
            name,
            properties: r.text(n + 5)?,
        }),
        None => None,
    };
    let last_backup = match r.opt_text(n + 6)? {
        Some(job_id) => Some(LastJob {
            job_id,
            status: r.text(n + 7)?,
            start_time: r.text(n + 8)?,
        }),
        None => None,
    };
    Ok(ItemOverview {
        item: item(r)?,
        points: PointSummary {
            count: u64::try_from(r.int(n)?).unwrap_or(0),
            latest: r.opt_text(n + 1)?,
            damaged: Vec::new(),
        },
        last_backup,
        policy,
    })
}

/// The items of a page (`size` and one more, which tells whether another
/// page follows) with their overviews, in the order of the items' list.
pub(super) fn page(
    c: &mut dyn Conn,
    vault: i64,
    q: &ItemQuery,
    offset: i64,
    size: usize,
) -> MetaResult<Vec<ItemOverview>> {
    let mut w = item_filter(vault, q);
    let filter = w.sql();
    let limit = w.param(limit_of(size));
    let offset = w.param(offset);
    let op = w.param(BACKUP);
    let columns: Vec<String> = ITEM_COLUMNS
        .split(", ")
        .map(|col| format!("o.{col}"))
        .collect();
    let sql = format!(
        "SELECT {}, o.points, o.latest, o.damaged, pol.id, pol.name, pol.properties, j.job_id, j.status, j.start_time \
         FROM (SELECT p.*, \
             (SELECT count(*) FROM recovery_points rp WHERE rp.item = p.id) AS points, \
             (SELECT max(rp.time) FROM recovery_points rp WHERE rp.item = p.id) AS latest, \
             (SELECT count(*) FROM recovery_points rp WHERE rp.item = p.id AND rp.damage IS NOT NULL) AS damaged, \
             (SELECT j.id FROM jobs j WHERE j.vault = p.vault AND lower(j.operation) = lower({op}) \
                 AND lower(j.container) = lower({container}) ORDER BY j.start_ms DESC, j.id DESC LIMIT 1) AS last_job \
           FROM (SELECT * FROM protected_items{filter}{BY_VM} LIMIT {limit} OFFSET {offset}) p) o \
         LEFT JOIN policies pol ON pol.vault = o.vault AND lower(pol.name) = lower(o.policy) \
         LEFT JOIN jobs j ON j.id = o.last_job \
         ORDER BY o.vm_resource_group, o.vm_name, o.id",
        columns.join(", "),
        container = container_of_p(),
    );
    let rows = c.query(&sql, w.params())?;
    let mut items = Vec::with_capacity(rows.len());
    let mut damaged = Vec::new();
    let n = columns.len();
    for r in &rows {
        let o = overview(r)?;
        if r.int(n + 2)? > 0 {
            damaged.push(o.item.id);
        }
        items.push(o);
    }
    if !damaged.is_empty() {
        let mut names = damaged_points(c, &damaged)?;
        for o in &mut items {
            if let Some(n) = names.remove(&o.item.id) {
                o.points.damaged = n;
            }
        }
    }
    Ok(items)
}

/// The names of the damaged points of items, oldest first.
fn damaged_points(c: &mut dyn Conn, items: &[i64]) -> MetaResult<HashMap<i64, Vec<String>>> {
    let mut names: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in items.chunks(IDS_PER_STATEMENT) {
        let mut w = Where::default();
        let list: Vec<String> = chunk.iter().map(|id| w.param(Val::Int(*id))).collect();
        for r in c.query(
            &format!(
                "SELECT item, name FROM recovery_points WHERE damage IS NOT NULL AND item IN ({}) ORDER BY time, id",
                list.join(", ")
            ),
            w.params(),
        )? {
            names.entry(r.int(0)?).or_default().push(r.text(1)?);
        }
    }
    Ok(names)
}
