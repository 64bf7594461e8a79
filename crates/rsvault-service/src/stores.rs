//! Where vault stores live: every vault's engine store is the backend at
//! `<base URL>/<store name>`, opened through the engine's `open_url`. A
//! vault records its store's full URL, fixed when the vault is created
//! (its region's base then, see [`crate::regions`]), so a later change of
//! the config never loses a store; vaults of earlier versions record a
//! bare name, under the data directory's `stores/` folder.

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

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Stores under a base URL (`file:///path`, `memory://name`…).
    pub fn at(base: &str) -> Self {
        StoreLocations {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The URL of a store a vault records: its full URL, or a bare name
    /// under this base.
    pub fn url(&self, store: &str) -> Result<String> {
        if store.contains("://") {
            store_name(store)?;
            return Ok(store.to_owned());
        }
        let name = store_name(store)?;
        Ok(join(&self.base, name))
    }

    /// Creates a new store `name` under `base` (a base URL); returns its URL.
    pub fn create_under(base: &str, name: &str) -> Result<(String, Arc<dyn Backend>)> {
        let url = join(base.trim_end_matches('/'), store_name(name)?);
        let backend = open_url(&url, OpenMode::Create)?;
        Ok((url, backend))
    }

    /// Creates the location of a new store.
    pub fn create(&self, store: &str) -> Result<Arc<dyn Backend>> {
        Ok(open_url(&self.url(store)?, OpenMode::Create)?)
    }

    /// Opens an existing store's location.
    pub fn open(&self, store: &str) -> Result<Arc<dyn Backend>> {
        Ok(open_url(&self.url(store)?, OpenMode::Existing)?)
    }

    /// Removes a store and everything in it; a store already gone succeeds.
    pub fn destroy(&self, store: &str) -> Result<()> {
        match open_url(&self.url(store)?, OpenMode::Existing) {
            Ok(b) => Ok(b.destroy()?),
            Err(rsvault_engine::Error::NotAStore(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// `<base>/<name>`; `memory://NAME` has no folders, so its stores are
/// siblings.
pub(crate) fn join(base: &str, name: &str) -> String {
    match base.strip_prefix("memory://") {
        Some(n) => format!("memory://{n}-{name}"),
        None => format!("{base}/{name}"),
    }
}

/// The name of a store (its URL's last segment): letters and digits, which
/// also name its key file.
pub fn store_name(store: &str) -> Result<&str> {
    let name = if let Some(rest) = store.strip_prefix("memory://") {
        rest.rsplit('-').next().unwrap_or_default()
    } else if store.contains("://") {
        store.rsplit('/').next().unwrap_or_default()
    } else {
        store
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ServiceError::Internal(format!(
            "{store:?} does not name a store"
        )));
    }
    Ok(name)
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

    #[test]
    fn stores_by_url_open_wherever_they_were_created() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = StoreLocations::under_dir(dir.path()).unwrap();
        let region = dir.path().join("japaneast");
        let base = format!("file://{}", region.display());
        let (url, b) = StoreLocations::create_under(&base, "abc2").unwrap();
        assert_eq!(url, format!("{base}/abc2"));
        b.put("k", b"v", rsvault_engine::backend::PutMode::Create)
            .unwrap();
        assert_eq!(legacy.open(&url).unwrap().get("k").unwrap(), b"v");
        assert_eq!(store_name(&url).unwrap(), "abc2");
        let (mem, _) = StoreLocations::create_under("memory://t-jpe", "abc3").unwrap();
        assert_eq!(mem, "memory://t-jpe-abc3");
        assert_eq!(store_name(&mem).unwrap(), "abc3");
        legacy.destroy(&url).unwrap();
        assert!(
            legacy.open(&url).is_err() || legacy.open(&url).unwrap().head("k").unwrap().is_none()
        );
        for bad in ["", "file:///x/", "file:///x/a.b", "../x"] {
            assert!(store_name(bad).is_err(), "{bad:?}");
        }
    }
}
