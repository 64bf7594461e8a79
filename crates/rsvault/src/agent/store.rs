//! The vault store of a running task, reached through the server's store
//! API (`/rsvault/agent/tasks/{id}/store/…`): a [`Backend`] over HTTPS, so
//! the agent's engine chunks, deduplicates, compresses and encrypts on the
//! host, and only new packs cross the network.

use super::client::Server;
use rsvault_engine::Error;
use rsvault_engine::backend::{Backend, ObjectMeta, PutMode};
use rsvault_service::agents::wire::{StoreInfo, StoreObject};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The task's store.
#[derive(Debug)]
pub struct TaskStore {
    server: Arc<Server>,
    /// `/rsvault/agent/tasks/{id}/store`.
    path: String,
    info: StoreInfo,
}

fn storage(location: &str, reason: impl std::fmt::Display) -> Error {
    Error::Storage {
        location: location.to_owned(),
        reason: reason.to_string(),
    }
}

/// Percent-encodes a key's segments (keys are `/`-separated).
fn key_path(key: &str) -> String {
    key.split('/')
        .map(|s| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn time(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

impl TaskStore {
    /// Opens the task's store: what it offers, and its key.
    pub fn open(server: Arc<Server>, task: &str) -> anyhow::Result<Self> {
        let path = format!("/rsvault/agent/tasks/{task}/store");
        let r = server.send(|c, base| c.get(format!("{base}{path}/info")))?;
        let info: StoreInfo = super::client::read_json(r, "the task's store")?;
        Ok(TaskStore { server, path, info })
    }

    /// The store's master key.
    pub fn key(&self) -> anyhow::Result<rsvault_engine::MasterKey> {
        let bytes: [u8; 32] = decode_hex(&self.info.key)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("the server sent a malformed store key"))?;
        Ok(rsvault_engine::MasterKey::from_bytes(bytes))
    }

    fn object(&self, key: &str) -> String {
        format!("{}/objects/{}", self.path, key_path(key))
    }

    fn call(
        &self,
        what: &str,
        build: impl Fn(&reqwest::blocking::Client, &str) -> reqwest::blocking::RequestBuilder,
    ) -> rsvault_engine::Result<reqwest::blocking::Response> {
        self.server
            .send(build)
            .map_err(|e| storage(&self.info.location, format!("{what}: {e:#}")))
    }

    fn failed(&self, what: &str, r: reqwest::blocking::Response) -> Error {
        let status = r.status();
        let text = r.text().unwrap_or_default();
        storage(&self.info.location, format!("{what}: {status}: {text}"))
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

impl Backend for TaskStore {
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> rsvault_engine::Result<()> {
        let url = self.object(key);
        let mode_s = match mode {
            PutMode::Create => "create",
            PutMode::Overwrite => "overwrite",
        };
        let r = self.call("put", |c, base| {
            c.put(format!("{base}{url}"))
                .header("x-rsvault-put-mode", mode_s)
                .body(data.to_vec())
        })?;
        match r.status().as_u16() {
            200..=299 => Ok(()),
            412 => Err(Error::AlreadyExists(key.to_owned())),
            _ => Err(self.failed(&format!("put {key}"), r)),
        }
    }

    fn get(&self, key: &str) -> rsvault_engine::Result<Vec<u8>> {
        let url = self.object(key);
        let r = self.call("get", |c, base| c.get(format!("{base}{url}")))?;
        match r.status().as_u16() {
            200..=299 => Ok(r
                .bytes()
                .map_err(|e| storage(&self.info.location, e))?
                .to_vec()),
            404 => Err(Error::MissingObject(key.to_owned())),
            _ => Err(self.failed(&format!("get {key}"), r)),
        }
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> rsvault_engine::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let url = self.object(key);
        let range = format!("bytes={offset}-{}", offset + len - 1);
        let r = self.call("get", |c, base| {
            c.get(format!("{base}{url}")).header("range", &range)
        })?;
        match r.status().as_u16() {
            200..=299 => {
                let b = r.bytes().map_err(|e| storage(&self.info.location, e))?;
                if b.len() as u64 != len {
                    return Err(storage(
                        &self.info.location,
                        format!("{key}: asked for {len} bytes at {offset}, got {}", b.len()),
                    ));
                }
                Ok(b.to_vec())
            }
            404 => Err(Error::MissingObject(key.to_owned())),
            _ => Err(self.failed(&format!("get {key}"), r)),
        }
    }

    fn list(&self, prefix: &str) -> rsvault_engine::Result<Vec<ObjectMeta>> {
        let url = format!(
            "{}/list?{}",
            self.path,
            super::client::form(&[("prefix", prefix)])
        );
        let r = self.call("list", |c, base| c.get(format!("{base}{url}")))?;
        if !r.status().is_success() {
            return Err(self.failed(&format!("list {prefix}"), r));
        }
        let text = r.text().map_err(|e| storage(&self.info.location, e))?;
        let objects: Vec<StoreObject> =
            serde_json::from_str(&text).map_err(|e| storage(&self.info.location, e))?;
        Ok(objects
            .into_iter()
            .map(|o| ObjectMeta {
                key: o.key,
                size: o.size,
                modified: time(o.modified_ms),
            })
            .collect())
    }

    fn head(&self, key: &str) -> rsvault_engine::Result<Option<ObjectMeta>> {
        let url = self.object(key);
        let r = self.call("head", |c, base| c.head(format!("{base}{url}")))?;
        match r.status().as_u16() {
            200..=299 => {
                let num = |h: &str| {
                    r.headers()
                        .get(h)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                };
                match (num("x-rsvault-size"), num("x-rsvault-modified-ms")) {
                    (Some(size), Some(ms)) => Ok(Some(ObjectMeta {
                        key: key.to_owned(),
                        size,
                        modified: time(ms),
                    })),
                    _ => Err(storage(&self.info.location, format!("head {key}: no size"))),
                }
            }
            404 => Ok(None),
            _ => Err(self.failed(&format!("head {key}"), r)),
        }
    }

    fn delete(&self, key: &str) -> rsvault_engine::Result<()> {
        let url = self.object(key);
        let r = self.call("delete", |c, base| c.delete(format!("{base}{url}")))?;
        if r.status().is_success() || r.status().as_u16() == 404 {
            Ok(())
        } else {
            Err(self.failed(&format!("delete {key}"), r))
        }
    }

    fn location(&self) -> String {
        self.info.location.clone()
    }

    fn conditional_puts(&self) -> rsvault_engine::Result<bool> {
        Ok(self.info.conditional_puts)
    }

    fn parallel_writes(&self) -> usize {
        self.info.parallel_writes.clamp(1, 8)
    }
}
