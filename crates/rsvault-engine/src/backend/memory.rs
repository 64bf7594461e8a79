//! An in-memory backend, for tests and for a store that lives only as long
//! as its process. It keeps the trait's promises exactly: puts are atomic,
//! only-if-absent puts race correctly, listings are sorted. It has object
//! lock as a model of S3's on the current version of each object: locks
//! are kept, extended and hardened as S3 does and refused as S3 refuses,
//! and a put or delete leaves the new current version unlocked (S3 keeps
//! the locked data as an older version, which this model does not hold).

use super::lock::{ObjectLock, Retention, whole_seconds};
use super::{Backend, ObjectMeta, PutMode};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

type Objects = BTreeMap<String, (Arc<Vec<u8>>, SystemTime)>;

/// Objects in a map in memory.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    name: String,
    objects: Mutex<Objects>,
    locks: Mutex<HashMap<String, Retention>>,
}

impl MemoryBackend {
    /// An empty backend; `name` shows in messages.
    pub fn new(name: &str) -> Self {
        MemoryBackend {
            name: name.to_owned(),
            objects: Mutex::new(BTreeMap::new()),
            locks: Mutex::default(),
        }
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Retention>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn object(&self, key: &str) -> Result<Arc<Vec<u8>>> {
        self.objects()
            .get(key)
            .map(|(d, _)| d.clone())
            .ok_or_else(|| Error::MissingObject(key.to_owned()))
    }
}

impl Backend for MemoryBackend {
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> Result<()> {
        if key.is_empty() || key.starts_with('/') || key.split('/').any(str::is_empty) {
            return Err(Error::InvalidInput(format!("invalid object key {key:?}")));
        }
        let mut objects = self.objects();
        if mode == PutMode::Create && objects.contains_key(key) {
            return Err(Error::AlreadyExists(key.to_owned()));
        }
        objects.insert(key.to_owned(), (Arc::new(data.to_vec()), SystemTime::now()));
        self.locks().remove(key);
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        Ok(self.object(key)?.as_ref().clone())
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let data = self.object(key)?;
        let end = offset
            .checked_add(len)
            .filter(|e| *e <= data.len() as u64)
            .ok_or_else(|| {
                Error::corrupt(
                    key,
                    format!("object is shorter than {}", offset.saturating_add(len)),
                )
            })?;
        Ok(data[offset as usize..end as usize].to_vec())
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        Ok(self
            .objects()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (d, t))| ObjectMeta {
                key: k.clone(),
                size: d.len() as u64,
                modified: *t,
            })
            .collect())
    }

    fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        Ok(self.objects().get(key).map(|(d, t)| ObjectMeta {
            key: key.to_owned(),
            size: d.len() as u64,
            modified: *t,
        }))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.objects().remove(key);
        self.locks().remove(key);
        Ok(())
    }

    fn location(&self) -> String {
        format!("memory://{}", self.name)
    }

    fn object_lock(&self) -> Option<&dyn ObjectLock> {
        Some(self)
    }
}

impl ObjectLock for MemoryBackend {
    fn enabled(&self) -> Result<bool> {
        Ok(true)
    }

    fn retain(&self, keys: &[String], retention: Retention) -> Result<()> {
        let want = Retention {
            until: whole_seconds(retention.until),
            ..retention
        };
        let objects = self.objects();
        let mut locks = self.locks();
        for k in keys {
            if !objects.contains_key(k) {
                return Err(Error::MissingObject(k.clone()));
            }
            if let Some(have) = locks.get(k)
                && (have.until > want.until || have.mode > want.mode)
            {
                return Err(Error::Storage {
                    location: self.location(),
                    reason: format!("lock {k}: a lock cannot be shortened or relaxed"),
                });
            }
            locks.insert(k.clone(), want);
        }
        Ok(())
    }

    fn retention(&self, key: &str) -> Result<Option<Retention>> {
        Ok(self.locks().get(key).copied())
    }
}
