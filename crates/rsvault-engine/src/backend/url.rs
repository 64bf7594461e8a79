//! Backends opened from a URL: `file:///path` (or a plain path) and
//! `memory://name`. Object storage schemes come with their backends.

use super::{Backend, LocalBackend, MemoryBackend};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Whether opening may create the location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the location when missing (for `init`).
    Create,
    /// The location must exist.
    Existing,
}

/// In-memory backends by name, so that every open of `memory://NAME` in a
/// process sees the same objects.
fn memory(name: &str, mode: OpenMode) -> Result<Arc<MemoryBackend>> {
    static ALL: OnceLock<Mutex<HashMap<String, Arc<MemoryBackend>>>> = OnceLock::new();
    let mut all = ALL
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match (all.get(name), mode) {
        (Some(b), _) => Ok(b.clone()),
        (None, OpenMode::Existing) => Err(Error::NotAStore(format!("memory://{name}"))),
        (None, OpenMode::Create) => {
            let b = Arc::new(MemoryBackend::new(name));
            all.insert(name.to_owned(), b.clone());
            Ok(b)
        }
    }
}

/// Opens the backend a URL names.
pub fn open_url(url: &str, mode: OpenMode) -> Result<Arc<dyn Backend>> {
    let local = |p: &str| -> Result<Arc<dyn Backend>> {
        let path = Path::new(p);
        if !path.is_absolute() && url.starts_with("file:") {
            return Err(Error::InvalidInput(format!(
                "{url:?}: a file URL names an absolute path (file:///path)"
            )));
        }
        Ok(match mode {
            OpenMode::Create => Arc::new(LocalBackend::new(path)?),
            OpenMode::Existing => Arc::new(LocalBackend::open_existing(path)?),
        })
    };
    match url.split_once("://") {
        Some(("file", rest)) => local(rest),
        Some(("memory", name)) if !name.is_empty() && !name.contains('/') => {
            Ok(memory(name, mode)?)
        }
        Some(("memory", _)) => Err(Error::InvalidInput(format!(
            "{url:?}: an in-memory store is named memory://NAME (no slashes)"
        ))),
        Some((scheme, _)) => Err(Error::InvalidInput(format!(
            "{url:?}: storage scheme {scheme:?} is not supported by this build (file:// and memory:// are)"
        ))),
        None if !url.is_empty() => local(url),
        None => Err(Error::InvalidInput("an empty storage location".into())),
    }
}
