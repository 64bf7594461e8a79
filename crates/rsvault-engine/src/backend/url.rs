//! Backends opened from a URL: `file:///path` (or a plain path),
//! `memory://name`, and object storage: `s3://bucket/prefix` and
//! `az://container/prefix` (see `s3.rs` and `azure.rs` for where their
//! credentials and endpoints come from).

use super::{Backend, LocalBackend, MemoryBackend, StorageOptions};
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

/// The bucket (or container) and the prefix of `scheme://bucket/prefix`.
fn bucket_and_prefix<'a>(url: &str, rest: &'a str) -> Result<(&'a str, &'a str)> {
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    if bucket.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{url:?}: name the bucket or container (s3://bucket/prefix, az://container/prefix)"
        )));
    }
    if prefix.split('/').any(|c| c == "." || c == "..") || prefix.contains("//") {
        return Err(Error::InvalidInput(format!(
            "{url:?}: the prefix has an empty, `.` or `..` component"
        )));
    }
    Ok((bucket, prefix))
}

/// Opens the backend a URL names, with the options the environment sets
/// ([`StorageOptions::from_env`]).
pub fn open_url(url: &str, mode: OpenMode) -> Result<Arc<dyn Backend>> {
    open_url_with(url, mode, &StorageOptions::from_env())
}

/// Opens the backend a URL names; object storage takes `opts` over what the
/// standard environment variables say. Opening object storage lists the
/// prefix once: in [`OpenMode::Existing`] an empty prefix is
/// [`Error::NotAStore`]; in both modes a missing bucket is an error.
pub fn open_url_with(url: &str, mode: OpenMode, opts: &StorageOptions) -> Result<Arc<dyn Backend>> {
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
        Some((scheme @ ("s3" | "az"), rest)) => {
            let (bucket, prefix) = bucket_and_prefix(url, rest)?;
            let b = match scheme {
                "s3" => super::s3::open(bucket, prefix, opts)?,
                _ => super::azure::open(bucket, prefix, opts)?,
            };
            b.check(mode == OpenMode::Existing)?;
            Ok(Arc::new(b))
        }
        Some((scheme, _)) => Err(Error::InvalidInput(format!(
            "{url:?}: storage scheme {scheme:?} is not supported (file://, s3://, az:// and memory:// are)"
        ))),
        None if !url.is_empty() => local(url),
        None => Err(Error::InvalidInput("an empty storage location".into())),
    }
}
