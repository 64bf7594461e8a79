//! Session leases: every process that writes to a store (a backup, a gc)
//! announces itself under `sessions/` and keeps a heartbeat, so garbage
//! collection knows which writers may still commit references to blobs it
//! is about to remove.

use crate::backend::{Backend, PutMode};
use crate::clock::{Clock, unix_ms};
use crate::codec::{BlobKind, Codec};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A session is presumed dead when its heartbeat is older than this and its
/// process cannot be checked (another host).
pub const LEASE_MS: u64 = 10 * 60 * 1000;
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What a session record holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub what: String,
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/PID/stat`
    /// field 22), to tell a live process from a reused pid.
    pub proc_start: u64,
    pub started_ms: u64,
    pub heartbeat_ms: u64,
}

/// This machine's host name.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Start time of a process, from `/proc`.
pub fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

impl SessionRecord {
    /// True if the writer may still be running.
    pub fn alive(&self, now_ms: u64) -> bool {
        if self.host == hostname() {
            return proc_start_time(self.pid) == Some(self.proc_start);
        }
        now_ms.saturating_sub(self.heartbeat_ms) < LEASE_MS
    }
}

/// Object key of a session record.
pub fn session_key(id: &str) -> String {
    format!("sessions/{id}")
}

pub(crate) fn encode_record(codec: &Codec, rec: &SessionRecord) -> Vec<u8> {
    let json = serde_json::to_vec(rec).expect("session record serializes");
    codec.encode(
        BlobKind::Meta,
        session_key(&rec.id).as_bytes(),
        &json,
        false,
    )
}

/// Reads every session record; damaged ones are skipped (and reported).
pub fn list_sessions(
    backend: &dyn Backend,
    codec: &Codec,
) -> Result<(Vec<SessionRecord>, Vec<String>)> {
    let mut recs = Vec::new();
    let mut damaged = Vec::new();
    for m in backend.list("sessions/")? {
        let blob = match backend.get(&m.key) {
            Ok(b) => b,
            Err(crate::Error::MissingObject(_)) => continue,
            Err(e) => return Err(e),
        };
        match codec
            .decode(BlobKind::Meta, m.key.as_bytes(), &blob, &m.key)
            .ok()
            .and_then(|j| serde_json::from_slice::<SessionRecord>(&j).ok())
        {
            Some(r) => recs.push(r),
            None => damaged.push(m.key),
        }
    }
    Ok((recs, damaged))
}

/// A live session; the record is removed when it is dropped.
pub struct Session {
    record: SessionRecord,
    backend: Arc<dyn Backend>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    ended: AtomicBool,
    heartbeat: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("record", &self.record)
            .finish()
    }
}

impl Session {
    /// Writes a session record and starts its heartbeat.
    pub fn begin(
        backend: Arc<dyn Backend>,
        codec: Arc<Codec>,
        clock: Arc<dyn Clock>,
        what: &str,
    ) -> Result<Self> {
        let now = unix_ms(clock.now());
        let pid = std::process::id();
        let record = SessionRecord {
            id: format!("{:013x}-{}", now, crate::id::random_hex_id()),
            what: what.to_owned(),
            host: hostname(),
            pid,
            proc_start: proc_start_time(pid).unwrap_or(0),
            started_ms: now,
            heartbeat_ms: now,
        };
        backend.put(
            &session_key(&record.id),
            &encode_record(&codec, &record),
            PutMode::Create,
        )?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let heartbeat = {
            let (backend, stop, mut rec) = (backend.clone(), stop.clone(), record.clone());
            std::thread::Builder::new()
                .name("rsvault-heartbeat".into())
                .spawn(move || {
                    let (lock, cv) = &*stop;
                    let mut stopped = lock.lock().expect("heartbeat lock");
                    loop {
                        // An end() before this thread first waits has set the
                        // flag already: wait only while it is clear.
                        let (s, _) = cv
                            .wait_timeout_while(stopped, HEARTBEAT, |stop| !*stop)
                            .expect("heartbeat lock");
                        stopped = s;
                        if *stopped {
                            return;
                        }
                        rec.heartbeat_ms = unix_ms(clock.now());
                        if let Err(e) = backend.put(
                            &session_key(&rec.id),
                            &encode_record(&codec, &rec),
                            PutMode::Overwrite,
                        ) {
                            tracing::warn!("session heartbeat failed: {e}");
                        }
                    }
                })
                .ok()
        };
        Ok(Session {
            record,
            backend,
            stop,
            ended: AtomicBool::new(false),
            heartbeat,
        })
    }

    /// The session's record.
    pub fn record(&self) -> &SessionRecord {
        &self.record
    }

    /// Ends the session: stops the heartbeat and deletes the record.
    pub fn end(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        if self.ended.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        {
            let (lock, cv) = &*self.stop;
            *lock.lock().expect("heartbeat lock") = true;
            cv.notify_all();
        }
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
        self.backend.delete(&session_key(&self.record.id))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!("could not remove session record: {e}");
        }
    }
}
