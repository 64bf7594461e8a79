//! Where vault stores live: every vault's engine store is the backend at
//! `<base URL>/<store name>`, opened through the engine's `open_url`. The
//! base is the data directory's `stores/` folder today; object storage
//! adds its schemes in the engine, and nothing here changes.

use crate::error::{Result, ServiceError};
use rsvault_engine::backend::{Backend, OpenMode, open_url};
use std::path::Path;
use std::sync::Arc;

/// The base URL vault stores are created under.
#[derive(Debug, Clone)]
pub struct StoreLocations {
    base: String,
}

impl StoreLocations {
    /// Stores as folders under `dir` (which must exist).
    pub fn under_dir(dir: &Path) -> Result<Self> {
        let dir = dir
            .canonicalize()
            .map_err(|e| ServiceError::Internal(format!("resolve {}: {e}", dir.display())))?;
        let dir = dir.to_str().ok_or_else(|| {
            ServiceError::Internal(format!(
                "the store folder {} is not valid UTF-8",
                dir.display()
            ))
        })?;
        Ok(StoreLocations {
            base: format!("file://{dir}"),
        })
    }

    /// Stores under a base URL (`file:///path`, `memory://name`…).
    pub fn at(base: &str) -> Self {
        StoreLocations {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn url(&self, name: &str) -> Result<String> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ServiceError::Internal(format!(
                "store name {name:?} is not a store name"
            )));
        }
        // `memory://NAME` has no folders: its stores are siblings.
        Ok(match self.base.strip_prefix("memory://") {
            Some(n) => format!("memory://{n}-{name}"),
            None => format!("{}/{name}", self.base),
        })
    }

    /// Creates the location of a new store.
    pub fn create(&self, name: &str) -> Result<Arc<dyn Backend>> {
        Ok(open_url(&self.url(name)?, OpenMode::Create)?)
    }

    /// Opens an existing store's location.
    pub fn open(&self, name: &str) -> Result<Arc<dyn Backend>> {
        Ok(open_url(&self.url(name)?, OpenMode::Existing)?)
    }

    /// Removes a store and everything in it; a store already gone succeeds.
    pub fn destroy(&self, name: &str) -> Result<()> {
        match open_url(&self.url(name)?, OpenMode::Existing) {
            Ok(b) => Ok(b.destroy()?),
            Err(rsvault_engine::Error::NotAStore(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_created_opened_and_destroyed_by_name() {
        for base in [None, Some("memory://stores-test")] {
            let dir = tempfile::tempdir().unwrap();
            let s = match base {
                None => StoreLocations::under_dir(dir.path()).unwrap(),
                Some(b) => StoreLocations::at(b),
            };
            assert!(s.open("abc1").is_err(), "{base:?}: not created yet");
            let b = s.create("abc1").unwrap();
            b.put("k", b"v", rsvault_engine::backend::PutMode::Create)
                .unwrap();
            assert_eq!(s.open("abc1").unwrap().get("k").unwrap(), b"v");
            s.destroy("abc1").unwrap();
            assert_eq!(
                s.open("abc1").map(|b| b.head("k").unwrap()).ok().flatten(),
                None
            );
            s.destroy("abc1").unwrap();
            assert!(s.create("../x").is_err() && s.create("").is_err());
        }
    }
}
