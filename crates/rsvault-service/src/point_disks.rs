//! The disks of a recovery point, as the catalogue records them: for each
//! disk, the engine point that holds its data and, for a live backup, the
//! snapshot and checkpoint that the instant tier and the next incremental
//! build on. Stored as JSON text in the point's row (the metadata store
//! keeps bodies as text); read and written only through this type.

use crate::error::{Result, ServiceError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One disk of a recovery point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct PointDisk {
    /// `None` for the OS disk.
    #[serde(default)]
    pub lun: Option<i64>,
    #[serde(default)]
    pub name: String,
    /// The engine point (manifest id) of the disk's data.
    #[serde(default)]
    pub point: String,
    /// The disk's name in the vault store.
    #[serde(default)]
    pub store_name: String,
    /// The image the disk had at backup time (an offline backup's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// A live backup's image (where its checkpoint lives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// Virtual size in bytes.
    #[serde(default)]
    pub size: u64,
    /// The source image's format (`raw`, `qcow2`, ...).
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub managed: bool,
    /// The OS disk's operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_type: Option<String>,
    /// The instant tier's snapshot file, while the point is in the tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<PathBuf>,
    /// The snapshot file that `snapshot` is a delta over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<PathBuf>,
    /// The checkpoint (dirty bitmap) started with this point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitmap: Option<String>,
    /// The agent's host that took the point (its id): `path`, `image` and
    /// `host_snapshot` are that host's, never opened by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The snapshot file the agent keeps on its host for the next
    /// incremental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_snapshot: Option<PathBuf>,
    /// On the OS disk of a host's VM: the host's definition of the VM at
    /// backup time (libvirt's inactive domain XML), which a restore
    /// defines again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

impl PointDisk {
    /// "OS disk" or "data disk (LUN n)", for messages.
    pub fn label(&self) -> String {
        match self.lun {
            None => "OS disk".to_owned(),
            Some(l) => format!("data disk (LUN {l})"),
        }
    }

    /// The engine point holding the disk's data, if recorded.
    pub fn engine_point(&self) -> Option<(&str, &str)> {
        (!self.store_name.is_empty() && !self.point.is_empty())
            .then_some((self.store_name.as_str(), self.point.as_str()))
    }
}

/// Reads a point's disks. A row that does not read is an error, never an
/// empty list: callers decide what to keep or delete from it.
pub(crate) fn parse(text: &str) -> Result<Vec<PointDisk>> {
    serde_json::from_str(text).map_err(|e| {
        ServiceError::Internal(format!(
            "a recovery point's disk list in the catalogue does not read: {e}"
        ))
    })
}

/// The stored text of a point's disks.
pub(crate) fn to_text(disks: &[PointDisk]) -> String {
    serde_json::to_string(disks).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_by_earlier_versions_read() {
        // An offline point (with `path`, a null os_type on the data disk)
        // and a live one (snapshot, base, bitmap, image).
        let old = r#"[{"lun":null,"name":"os","point":"p1","store_name":"d/os","path":"/i/os.raw","size":8,"format":"raw","managed":false,"os_type":"Linux"},
            {"lun":1,"name":"data","point":"p2","store_name":"d/lun-1","path":"/i/d.qcow2","size":4,"format":"qcow2","managed":true,"os_type":null},
            {"lun":2,"name":"live","point":"p3","store_name":"d/lun-2","size":2,"format":"raw","managed":false,"snapshot":"/s/a.qcow2","base":null,"bitmap":"cp-1","image":"/i/l.raw"}]"#;
        let d = parse(old).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0].os_type.as_deref(), Some("Linux"));
        assert_eq!(d[0].label(), "OS disk");
        assert_eq!(d[1].label(), "data disk (LUN 1)");
        assert!(d[1].managed && d[1].os_type.is_none());
        assert_eq!(d[2].engine_point(), Some(("d/lun-2", "p3")));
        assert_eq!(d[2].bitmap.as_deref(), Some("cp-1"));
        assert_eq!(parse(&to_text(&d)).unwrap(), d);
    }

    #[test]
    fn a_damaged_row_is_an_error_not_an_empty_list() {
        assert!(parse("[{").is_err());
        assert!(parse(r#"{"lun":1}"#).is_err());
        assert!(parse(r#"[{"lun":"one"}]"#).is_err());
        assert_eq!(parse("[]").unwrap(), Vec::new());
        assert_eq!(PointDisk::default().engine_point(), None);
    }
}
