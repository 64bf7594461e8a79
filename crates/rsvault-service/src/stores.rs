//! Where vault stores live: every vault's engine store is the backend at
//! `<base URL>/<store name>`, opened through the engine's `open_url`. A
//! vault records its store's full URL, fixed when the vault is created
//! (its region's base then, see [`crate::regions`]), so a later change of
//! the config never loses a store; vaults of earlier versions record a
//! bare name, under the data directory's `stores/` folder.

use crate::error::{Result, ServiceError};
use rsvault_engine::backend::{Backend, OpenMode, StorageOptions, open_url_with};
use std::path::Path;
use std::sync::Arc;

/// The base URL vault stores are created under, and how to reach the
/// object storage under each configured base.
#[derive(Debug, Clone)]
pub struct StoreLocations {
    base: String,
    /// Options by base URL (the longest that prefixes a store's URL wins).
    options: Vec<(String, StorageOptions)>,
    /// Options of every other URL.
    default_options: StorageOptions,
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
            options: Vec::new(),
            default_options: StorageOptions::from_env(),
        })
    }

    /// Sets the options of URLs no [`StoreLocations::add_options`] covers.
    pub fn set_default_options(&mut self, options: StorageOptions) {
        self.default_options = options;
    }

    /// Sets the options of the stores under `base`.
    pub fn add_options(&mut self, base: &str, options: StorageOptions) {
        let base = base.trim_end_matches('/').to_owned();
        self.options.retain(|(b, _)| *b != base);
        self.options.push((base, options));
    }

    /// The options of a store's URL.
    fn options_for(&self, url: &str) -> &StorageOptions {
        self.options
            .iter()
            .filter(|(b, _)| {
                url.strip_prefix(b.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|(b, _)| b.len())
            .map_or(&self.default_options, |(_, o)| o)
    }

    fn open_url(&self, url: &str, mode: OpenMode) -> rsvault_engine::Result<Arc<dyn Backend>> {
        open_url_with(url, mode, self.options_for(url))
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Stores under a base URL (`file:///path`, `memory://name`…).
    pub fn at(base: &str) -> Self {
        StoreLocations {
            base: base.trim_end_matches('/').to_owned(),
            options: Vec::new(),
            default_options: StorageOptions::from_env(),
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
    pub fn create_under(&self, base: &str, name: &str) -> Result<(String, Arc<dyn Backend>)> {
        let url = join(base.trim_end_matches('/'), store_name(name)?);
        let backend = self.open_url(&url, OpenMode::Create)?;
        Ok((url, backend))
    }

    /// Creates the location of a new store.
    pub fn create(&self, store: &str) -> Result<Arc<dyn Backend>> {
        Ok(self.open_url(&self.url(store)?, OpenMode::Create)?)
    }

    /// Opens an existing store's location.
    pub fn open(&self, store: &str) -> Result<Arc<dyn Backend>> {
        Ok(self.open_url(&self.url(store)?, OpenMode::Existing)?)
    }

    /// Removes a store and everything in it; a store already gone succeeds.
    pub fn destroy(&self, store: &str) -> Result<()> {
        match self.open_url(&self.url(store)?, OpenMode::Existing) {
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

/// Whether a store URL names object storage (S3 or Azure Blob).
pub fn is_object_storage(url: &str) -> bool {
    url.starts_with("s3://") || url.starts_with("az://")
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
        let (url, b) = legacy.create_under(&base, "abc2").unwrap();
        assert_eq!(url, format!("{base}/abc2"));
        b.put("k", b"v", rsvault_engine::backend::PutMode::Create)
            .unwrap();
        assert_eq!(legacy.open(&url).unwrap().get("k").unwrap(), b"v");
        assert_eq!(store_name(&url).unwrap(), "abc2");
        let (mem, _) = legacy.create_under("memory://t-jpe", "abc3").unwrap();
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

    #[test]
    fn each_base_opens_with_its_own_options() {
        let mut s = StoreLocations::at("memory://opts");
        let with = |endpoint: &str| StorageOptions {
            endpoint: Some(endpoint.into()),
            ..Default::default()
        };
        s.set_default_options(with("http://default"));
        s.add_options("s3://a/jpe/", with("http://a"));
        s.add_options("s3://a/jpe/deep", with("http://deep"));
        for (url, want) in [
            ("s3://a/jpe/x1", "http://a"),
            ("s3://a/jpe/deep/x1", "http://deep"),
            ("s3://a/jpe2/x1", "http://default"),
            ("s3://b/x1", "http://default"),
        ] {
            assert_eq!(s.options_for(url).endpoint.as_deref(), Some(want), "{url}");
        }
    }
}
