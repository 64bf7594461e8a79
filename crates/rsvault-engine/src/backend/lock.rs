//! Object lock: storage that keeps an object's data until a retain-until
//! date whoever asks, the holder of the storage key included (S3 Object
//! Lock; see `s3_lock.rs`). A backend that has it answers
//! [`super::Backend::object_lock`]; one that has not keeps the default
//! `None`, and only the server's own rules protect its data.
//!
//! On S3 a lock is per object version and the bucket must have been
//! created with object lock on (which also turns versioning on): a delete
//! of a locked object then only hides it behind a delete marker, and its
//! data stays until the date has passed. A lock can be extended and moved
//! from governance to compliance mode, never shortened nor relaxed.

use crate::error::{Error, Result};
use std::time::{Duration, SystemTime};

/// Who may lift a lock before its date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LockMode {
    /// A principal with the storage's bypass-governance right may (S3
    /// `GOVERNANCE`): the lock of a vault whose immutability is Unlocked.
    Governance,
    /// Nobody may (S3 `COMPLIANCE`): the lock of a Locked vault.
    Compliance,
}

impl LockMode {
    /// S3's name of the mode.
    pub fn as_s3(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }

    /// The mode S3 names `s`.
    pub fn from_s3(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(LockMode::Governance),
            "COMPLIANCE" => Some(LockMode::Compliance),
            _ => None,
        }
    }
}

/// A lock on an object's current data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    /// Whole seconds: storage keeps dates to the second.
    pub until: SystemTime,
}

/// The object lock of a backend.
pub trait ObjectLock: Send + Sync + std::fmt::Debug {
    /// Whether the bucket or container has object lock turned on (on S3,
    /// only possible when it was created).
    fn enabled(&self) -> Result<bool>;
    /// Locks the current data of each key in `mode` until `until` (rounded
    /// up to a second). A key that does not exist is
    /// [`Error::MissingObject`]; a lock storage refuses to change (shorter,
    /// or compliance to governance) is [`Error::Storage`].
    fn retain(&self, keys: &[String], retention: Retention) -> Result<()>;
    /// The lock on a key's current data, if any.
    fn retention(&self, key: &str) -> Result<Option<Retention>>;
}

/// `t` rounded up to a whole second.
pub fn whole_seconds(t: SystemTime) -> SystemTime {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

/// Locks every object of a store, or those written at or after `since`
/// (a time of the storage's clock, which may be a little off ours: five
/// minutes' margin), in `mode`
/// until `until`; returns how many. A backend without object lock, or
/// whose bucket has it off, is [`Error::InvalidInput`].
pub fn retain_store(
    backend: &dyn super::Backend,
    retention: Retention,
    since: Option<SystemTime>,
) -> Result<usize> {
    let lock = usable(backend)?;
    let since = since.map(|t| t.checked_sub(Duration::from_secs(300)).unwrap_or(t));
    let keys: Vec<String> = backend
        .list("")?
        .into_iter()
        .filter(|o| since.is_none_or(|s| o.modified >= s))
        .map(|o| o.key)
        .collect();
    for chunk in keys.chunks(256) {
        if lock.retain(chunk, retention).is_err() {
            for k in chunk {
                retain_one(lock, k, retention)?;
            }
        }
    }
    Ok(keys.len())
}

/// Locks one key, where a batch failed. An object deleted between the
/// listing and its lock (a collection running) needs none; one whose lock
/// already reaches as far, as hard (a window since shortened: storage
/// refuses to shorten a lock), keeps it.
fn retain_one(lock: &dyn ObjectLock, key: &str, want: Retention) -> Result<()> {
    match lock.retain(&[key.to_owned()], want) {
        Ok(()) | Err(Error::MissingObject(_)) => Ok(()),
        Err(e) => match lock.retention(key) {
            Ok(Some(have)) if have.until >= whole_seconds(want.until) && have.mode >= want.mode => {
                Ok(())
            }
            _ => Err(e),
        },
    }
}

/// The backend's object lock, if it has one and it is on.
pub fn usable(backend: &dyn super::Backend) -> Result<&dyn ObjectLock> {
    match backend.object_lock() {
        Some(l) if l.enabled()? => Ok(l),
        Some(_) => Err(Error::InvalidInput(format!(
            "{}: the bucket does not have object lock enabled (it can only be turned on when the bucket is created)",
            backend.location()
        ))),
        None => Err(Error::InvalidInput(format!(
            "{}: this storage has no object lock",
            backend.location()
        ))),
    }
}

/// Checks a backend's object lock (when it has one that is on; part of
/// [`super::conformance`], under its `conformance/` prefix): locks
/// read back as set, extend, harden from governance to compliance, and a
/// missing key is [`Error::MissingObject`].
pub fn conformance(backend: &dyn super::Backend) {
    let lock = usable(backend).expect("object lock is on");
    let now = whole_seconds(SystemTime::now());
    for k in ["conformance/lock/a", "conformance/lock/b"] {
        backend
            .put(k, k.as_bytes(), super::PutMode::Overwrite)
            .unwrap();
    }
    let keys = vec![
        "conformance/lock/a".to_owned(),
        "conformance/lock/b".to_owned(),
    ];
    assert_eq!(
        lock.retention("conformance/lock/a").unwrap(),
        None,
        "a new object is not locked"
    );
    let first = Retention {
        mode: LockMode::Governance,
        until: now + Duration::from_secs(3600),
    };
    lock.retain(&keys, first).unwrap();
    for k in &keys {
        assert_eq!(lock.retention(k).unwrap(), Some(first), "{k}");
    }
    let later = Retention {
        mode: LockMode::Compliance,
        until: now + Duration::from_secs(7200) + Duration::from_millis(300),
    };
    lock.retain(&keys[..1], later).unwrap();
    assert_eq!(
        lock.retention("conformance/lock/a").unwrap(),
        Some(Retention {
            until: now + Duration::from_secs(7201),
            ..later
        }),
        "extended, hardened and rounded up to a second"
    );
    assert_eq!(
        lock.retention("conformance/lock/b").unwrap(),
        Some(first),
        "only the named keys"
    );
    assert!(matches!(
        lock.retain(&["conformance/lock/none".to_owned()], first),
        Err(Error::MissingObject(_))
    ));
    lock.retain(&[], first).unwrap();
    backend
        .put("conformance/lock/c", b"c", super::PutMode::Overwrite)
        .unwrap();
    let since = retain_store(backend, later, Some(now)).unwrap();
    assert!(since >= 3, "objects written since a time: {since}");
    assert_eq!(
        lock.retention("conformance/lock/c")
            .unwrap()
            .map(|r| r.mode),
        Some(LockMode::Compliance)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, MemoryBackend, PutMode};

    #[test]
    fn a_shorter_window_leaves_the_locks_that_reach_further() {
        let b = MemoryBackend::new("lock-shorter");
        let now = whole_seconds(SystemTime::now());
        for k in ["a", "b"] {
            b.put(k, b"x", PutMode::Create).unwrap();
        }
        let long = Retention {
            mode: LockMode::Compliance,
            until: now + Duration::from_secs(30 * 86_400),
        };
        let lock = b.object_lock().unwrap();
        lock.retain(&["a".to_owned()], long).unwrap();
        let short = Retention {
            mode: LockMode::Compliance,
            until: now + Duration::from_secs(14 * 86_400),
        };
        assert!(
            lock.retain(&["a".to_owned()], short).is_err(),
            "storage refuses to shorten"
        );
        assert_eq!(retain_store(&b, short, None).unwrap(), 2);
        assert_eq!(lock.retention("a").unwrap(), Some(long));
        assert_eq!(lock.retention("b").unwrap(), Some(short));
        // Relaxing compliance to governance is refused, not skipped.
        let relaxed = Retention {
            mode: LockMode::Governance,
            until: now + Duration::from_secs(40 * 86_400),
        };
        assert!(retain_store(&b, relaxed, None).is_err());
    }
}
