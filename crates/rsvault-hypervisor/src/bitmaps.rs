//! Dirty bitmaps after the transfer: keep the new point's bitmap and retire
//! the rest, or, when the transfer failed, drop the new one (the previous
//! bitmap still holds every write since the last committed point).

use crate::port::DiskCheckpoint;
use crate::qmp::{self, Monitor};
use crate::snapshot::BITMAP_PREFIX;
use serde_json::json;

/// After a committed point: on each disk, removes every rsvault bitmap but
/// `keep`. Returns how many were removed.
pub fn retire(m: &mut dyn Monitor, disks: &[DiskCheckpoint]) -> crate::Result<usize> {
    let nodes = qmp::block_nodes(m)?;
    let mut n = 0;
    for DiskCheckpoint {
        image,
        checkpoint: keep,
    } in disks
    {
        let Some(node) = qmp::node_for_image(&nodes, image) else {
            continue;
        };
        for b in &node.bitmaps {
            if b.name.starts_with(BITMAP_PREFIX) && &b.name != keep {
                m.execute(
                    "block-dirty-bitmap-remove",
                    json!({"node": node.node, "name": b.name}),
                )?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// After a failed transfer: removes the bitmaps the snapshot started.
pub fn discard(m: &mut dyn Monitor, disks: &[DiskCheckpoint]) -> crate::Result<()> {
    let nodes = qmp::block_nodes(m)?;
    for DiskCheckpoint {
        image,
        checkpoint: name,
    } in disks
    {
        if let Some(node) = qmp::node_for_image(&nodes, image)
            && node.bitmaps.iter().any(|b| &b.name == name)
        {
            m.execute(
                "block-dirty-bitmap-remove",
                json!({"node": node.node, "name": name}),
            )?;
        }
    }
    Ok(())
}
