//! Counting the requests made of a backend: object stores bill per request
//! (GET, PUT, LIST), so replication reports what it asked of each side.

use crate::backend::{Backend, ObjectMeta, PutMode};
use crate::error::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Requests made of one backend, by kind, and the bytes they moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// Whole-object reads.
    pub get: u64,
    /// Ranged reads.
    pub get_range: u64,
    pub put: u64,
    pub list: u64,
    pub head: u64,
    pub delete: u64,
    /// Bytes read by `get` and `get_range`.
    pub bytes_read: u64,
    /// Bytes written by `put`.
    pub bytes_written: u64,
}

impl RequestCounts {
    /// Requests of every kind.
    pub fn total(&self) -> u64 {
        self.get + self.get_range + self.put + self.list + self.head + self.delete
    }

    /// GET requests, whole and ranged (the billing class of both).
    pub fn gets(&self) -> u64 {
        self.get + self.get_range
    }

    /// The requests since `before` was taken.
    pub fn since(&self, before: &RequestCounts) -> RequestCounts {
        RequestCounts {
            get: self.get - before.get,
            get_range: self.get_range - before.get_range,
            put: self.put - before.put,
            list: self.list - before.list,
            head: self.head - before.head,
            delete: self.delete - before.delete,
            bytes_read: self.bytes_read - before.bytes_read,
            bytes_written: self.bytes_written - before.bytes_written,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    get: AtomicU64,
    get_range: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    head: AtomicU64,
    delete: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// A backend that counts the requests made of another (successful or not).
#[derive(Debug)]
pub struct CountingBackend {
    inner: Arc<dyn Backend>,
    counters: Counters,
}

impl CountingBackend {
    /// Counts the requests made of `inner`.
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        CountingBackend {
            inner,
            counters: Counters::default(),
        }
    }

    /// The requests made so far.
    pub fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestCounts {
            get: l(&c.get),
            get_range: l(&c.get_range),
            put: l(&c.put),
            list: l(&c.list),
            head: l(&c.head),
            delete: l(&c.delete),
            bytes_read: l(&c.bytes_read),
            bytes_written: l(&c.bytes_written),
        }
    }

    fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

impl Backend for CountingBackend {
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> Result<()> {
        Self::bump(&self.counters.put, 1);
        Self::bump(&self.counters.bytes_written, data.len() as u64);
        self.inner.put(key, data, mode)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        Self::bump(&self.counters.get, 1);
        let data = self.inner.get(key)?;
        Self::bump(&self.counters.bytes_read, data.len() as u64);
        Ok(data)
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        Self::bump(&self.counters.get_range, 1);
        let data = self.inner.get_range(key, offset, len)?;
        Self::bump(&self.counters.bytes_read, data.len() as u64);
        Ok(data)
    }

    fn parallel_writes(&self) -> usize {
        self.inner.parallel_writes()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        Self::bump(&self.counters.list, 1);
        self.inner.list(prefix)
    }

    fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        Self::bump(&self.counters.head, 1);
        self.inner.head(key)
    }

    fn delete(&self, key: &str) -> Result<()> {
        Self::bump(&self.counters.delete, 1);
        self.inner.delete(key)
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    fn sweep_incomplete(&self, older_than: SystemTime) -> Result<usize> {
        self.inner.sweep_incomplete(older_than)
    }

    fn destroy(&self) -> Result<()> {
        self.inner.destroy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemoryBackend;

    #[test]
    fn counts_each_kind_of_request_and_the_bytes() {
        let b = CountingBackend::new(Arc::new(MemoryBackend::new("c")));
        b.put("a/x", b"hello", PutMode::Create).unwrap();
        assert!(b.put("a/x", b"hello", PutMode::Create).is_err());
        assert_eq!(b.get("a/x").unwrap(), b"hello");
        assert_eq!(b.get_range("a/x", 1, 3).unwrap(), b"ell");
        assert!(b.get("a/missing").is_err());
        b.list("a/").unwrap();
        b.head("a/x").unwrap();
        b.delete("a/x").unwrap();
        let c = b.counts();
        let want = RequestCounts {
            get: 2,
            get_range: 1,
            put: 2,
            list: 1,
            head: 1,
            delete: 1,
            bytes_read: 8,
            bytes_written: 10,
        };
        assert_eq!(c, want);
        assert_eq!(c.total(), 8);
        assert_eq!(c.gets(), 3);
        assert_eq!(c.since(&RequestCounts::default()), c);
    }
}
