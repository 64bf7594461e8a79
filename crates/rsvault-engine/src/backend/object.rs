//! One backend over the `object_store` crate's [`ObjectStore`], for every
//! object storage scheme (`s3://`, `az://`; see `s3.rs` and `azure.rs` for
//! how each is built).
//!
//! The [`Backend`] trait is synchronous and its callers run on ordinary or
//! blocking threads: each call runs its requests on one tokio runtime shared
//! by every object backend of the process (its connection pools live as
//! long as the process). Called from inside a tokio runtime, a call runs on
//! a scoped thread of its own rather than blocking the caller's runtime.
//!
//! Puts are single requests and so atomic; objects above
//! [`MULTIPART_THRESHOLD`] go up in parts, and an upload that fails is
//! aborted. Only-if-absent puts are conditional requests (`If-None-Match:
//! *`). Whether the server honours them is probed once per process and
//! bucket, at the first only-if-absent put: a server that does not makes
//! the store refuse writes, unless the options allow a single writer.

use super::options::{RetryOptions, StorageOptions};
use super::{Backend, ObjectMeta, PutMode};
use crate::error::{Error, Result};
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::client::HttpErrorKind;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, RetryConfig, WriteMultipart,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;
use tokio::runtime::Runtime;

/// Objects larger than this are uploaded in parts. Packs (16 MiB and one
/// chunk) stay below it and go up in one request.
pub const MULTIPART_THRESHOLD: usize = 64 << 20;
const PART_SIZE: usize = 16 << 20;
/// Parts in flight at once, for a multipart upload.
const PARTS_IN_FLIGHT: usize = 4;
/// The scratch objects of the conditional-put probe, at the root of the
/// store's prefix; listings skip them.
const PROBE_PREFIX: &str = ".rsvault-probe-";

/// The runtime every object backend's requests run on.
fn runtime() -> Result<&'static Runtime> {
    static RT: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rsvault-storage")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Storage {
        location: "object storage".into(),
        reason: format!("cannot start the I/O runtime: {e}"),
    })
}

/// Runs `f` to completion on the shared runtime.
pub(crate) fn block_on<F>(f: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(f));
    }
    // Inside a runtime (an async caller): blocking it in place would
    // panic, so the call gets a thread of its own.
    Ok(std::thread::scope(|s| {
        s.spawn(|| rt.block_on(f))
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }))
}

/// Results of the conditional-put probe, per bucket and endpoint.
fn probed() -> std::sync::MutexGuard<'static, HashMap<String, bool>> {
    static ALL: OnceLock<Mutex<HashMap<String, bool>>> = OnceLock::new();
    ALL.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// object_store's retry policy from ours.
pub(crate) fn retry_config(r: &RetryOptions) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: r.init_backoff,
            max_backoff: r.max_backoff,
            base: 2.0,
        },
        max_retries: r.max_retries,
        retry_timeout: r.retry_timeout,
    }
}

/// The HTTP client's options: what the environment set (read back from the
/// builder through `get`), then the options' time limits, plain-HTTP
/// permission and extra CA certificates.
pub(crate) fn client_options(
    get: impl Fn(ClientConfigKey) -> Option<String>,
    o: &StorageOptions,
    location: &str,
) -> Result<ClientOptions> {
    let mut c = ClientOptions::new();
    for k in [
        ClientConfigKey::AllowHttp,
        ClientConfigKey::AllowInvalidCertificates,
        ClientConfigKey::NoSystemCertificates,
        ClientConfigKey::Http1Only,
        ClientConfigKey::Http2Only,
        ClientConfigKey::PoolIdleTimeout,
        ClientConfigKey::PoolMaxIdlePerHost,
        ClientConfigKey::ProxyUrl,
        ClientConfigKey::ProxyCaCertificate,
        ClientConfigKey::ProxyExcludes,
    ] {
        if let Some(v) = get(k) {
            c = c.with_config(k, v);
        }
    }
    c = c
        .with_timeout(o.retry.request_timeout)
        .with_connect_timeout(o.retry.connect_timeout);
    if let Some(h) = o.allow_http {
        c = c.with_allow_http(h);
    }
    if let Some(ca) = &o.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| Error::io(format!("{location}: read CA file {}", ca.display()), e))?;
        let certs = object_store::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::InvalidInput(format!(
                "{location}: CA file {} is not PEM certificates: {e}",
                ca.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{location}: CA file {} holds no certificate",
                ca.display()
            )));
        }
        for cert in certs {
            c = c.with_root_certificate(cert);
        }
    }
    Ok(c)
}

/// Packs a writer stores at once on object storage (16 MiB each): enough
/// puts in flight to hide each one's round trips and the server's time.
const OBJECT_PARALLEL_WRITES: usize = 6;

/// A store's objects under a prefix of a bucket or container.
pub struct ObjectBackend {
    store: Arc<dyn ObjectStore>,
    /// The prefix inside the bucket, without slashes at its ends; may be empty.
    root: String,
    /// `s3://bucket/prefix`, for messages (never credentials).
    location: String,
    /// The bucket and endpoint, which the probe's answer is kept under.
    service: String,
    single_writer: bool,
    retry: RetryOptions,
    /// The bucket's object lock, for the schemes that have one.
    lock: Option<Box<dyn super::lock::ObjectLock>>,
}

impl std::fmt::Debug for ObjectBackend {
    // The store's own Debug shows its credentials: only the location here.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBackend")
            .field("location", &self.location)
            .field("single_writer", &self.single_writer)
            .finish()
    }
}

/// Whether the request may have been sent before its transport failed (a
/// broken connection, a timeout), which object_store retries only for
/// idempotent requests. Connect and request errors it retries itself.
fn interrupted(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            return !matches!(h.kind(), HttpErrorKind::Connect | HttpErrorKind::Request);
        }
        cause = c.source();
    }
    false
}

fn is_conflict(e: &object_store::Error) -> bool {
    matches!(
        e,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
    )
}

impl ObjectBackend {
    /// A backend for the objects of `store` under `root` (slashes at its
    /// ends ignored). `location` names it in messages; `service` names the
    /// bucket and endpoint, whose conditional-put support is probed once.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        root: &str,
        location: String,
        service: String,
        opts: &StorageOptions,
    ) -> Result<Self> {
        let root = root.trim_matches('/').to_owned();
        if !root.is_empty() {
            Path::parse(&root)
                .map_err(|e| Error::InvalidInput(format!("{location}: invalid prefix: {e}")))?;
        }
        Ok(ObjectBackend {
            store,
            root,
            location,
            service,
            single_writer: opts.single_writer,
            retry: opts.retry,
            lock: None,
        })
    }

    /// The backend with the bucket's object lock.
    pub(crate) fn with_lock(mut self, lock: Box<dyn super::lock::ObjectLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Checks that the bucket can be listed and, for `must_hold_objects`,
    /// that something is stored under the prefix (else
    /// [`Error::NotAStore`]). One LIST request.
    pub fn check(&self, must_hold_objects: bool) -> Result<()> {
        let root = self.root_path();
        let first = block_on(async {
            let mut s = self.store.list(root.as_ref());
            while let Some(r) = s.next().await {
                match r {
                    Ok(m) if self.is_probe(m.location.as_ref()) => continue,
                    Ok(_) => return Ok(true),
                    Err(e) => return Err(e),
                }
            }
            Ok(false)
        })?;
        match first {
            Ok(true) => Ok(()),
            Ok(false) | Err(object_store::Error::NotFound { .. }) if must_hold_objects => {
                Err(Error::NotAStore(self.location.clone()))
            }
            Ok(false) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(self.failed(
                "open",
                "",
                "the bucket or container does not exist (create it first)",
            )),
            Err(e) => Err(self.storage("list", "", e)),
        }
    }

    fn root_path(&self) -> Option<Path> {
        // Valid: `new` parsed it.
        Path::parse(&self.root)
            .ok()
            .filter(|_| !self.root.is_empty())
    }

    fn full(&self, key: &str) -> String {
        if self.root.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.root)
        }
    }

    fn path(&self, key: &str) -> Result<Path> {
        if key.is_empty()
            || key.starts_with('/')
            || key
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(Error::InvalidInput(format!("invalid object key {key:?}")));
        }
        Path::parse(self.full(key))
            .map_err(|e| Error::InvalidInput(format!("invalid object key {key:?}: {e}")))
    }

    /// The key of a listed object, relative to the prefix.
    fn relative<'a>(&self, location: &'a str) -> Option<&'a str> {
        if self.root.is_empty() {
            Some(location)
        } else {
            location
                .strip_prefix(self.root.as_str())
                .and_then(|r| r.strip_prefix('/'))
        }
    }

    fn is_probe(&self, location: &str) -> bool {
        self.relative(location)
            .is_some_and(|k| k.starts_with(PROBE_PREFIX))
    }

    fn failed(&self, op: &str, key: &str, reason: impl std::fmt::Display) -> Error {
        let what = if key.is_empty() {
            op.to_owned()
        } else {
            format!("{op} {key}")
        };
        Error::Storage {
            location: self.location.clone(),
            reason: format!("{what}: {reason}"),
        }
    }

    fn storage(&self, op: &str, key: &str, e: object_store::Error) -> Error {
        self.failed(op, key, e)
    }

    /// Whether the server refuses a second only-if-absent put of one key:
    /// two puts of a scratch object, then its delete.
    fn probe(&self) -> Result<bool> {
        let key = format!("{PROBE_PREFIX}{}", crate::id::random_hex_id());
        let path = self.path(&key)?;
        let create = || PutOptions::from(object_store::PutMode::Create);
        let r = block_on(async {
            let first = self
                .store
                .put_opts(&path, PutPayload::from_static(b"1"), create())
                .await;
            let second = match first {
                // A retried first put that had landed: refused, as it should be.
                Err(e) if is_conflict(&e) => Err(e),
                Err(e) => return Err(e),
                Ok(_) => {
                    self.store
                        .put_opts(&path, PutPayload::from_static(b"2"), create())
                        .await
                }
            };
            let _ = self.store.delete(&path).await;
            Ok(second)
        })?;
        match r {
            Ok(Err(e)) if is_conflict(&e) => Ok(true),
            Ok(Ok(_)) | Ok(Err(object_store::Error::NotImplemented { .. })) => Ok(false),
            Err(object_store::Error::NotImplemented { .. }) => Ok(false),
            Ok(Err(e)) | Err(e) => Err(self.storage("probe conditional puts with", &key, e)),
        }
    }

    /// Whether an object equal to `data` is at `path`: a conditional put
    /// that was retried after its first attempt had landed sees its own
    /// object, and has succeeded.
    async fn holds(&self, path: &Path, data: &[u8]) -> bool {
        match self.store.head(path).await {
            Ok(m) if m.size == data.len() as u64 => {}
            _ => return false,
        }
        match self.store.get(path).await {
            Ok(r) => r.bytes().await.is_ok_and(|b| b[..] == *data),
            Err(_) => false,
        }
    }

    /// A conditional put. object_store does not retry one whose connection
    /// broke after it was sent (it cannot know whether it landed); this
    /// does, within the retry options' time, since a retry of a put that
    /// had landed finds its own object. `Err(None)`: another object is
    /// there.
    async fn create(
        &self,
        path: &Path,
        data: &[u8],
    ) -> std::result::Result<(), Option<object_store::Error>> {
        let payload = PutPayload::from(Bytes::copy_from_slice(data));
        let put = self
            .again("conditional put", || {
                let opts = PutOptions::from(object_store::PutMode::Create);
                self.store.put_opts(path, payload.clone(), opts)
            })
            .await;
        match put {
            Ok(_) => Ok(()),
            // A retry of a put that had landed finds its own object.
            Err(e) if is_conflict(&e) => {
                if self.holds(path, data).await {
                    Ok(())
                } else {
                    Err(None)
                }
            }
            Err(e) => Err(Some(e)),
        }
    }

    /// Runs an idempotent request (a read, a delete, an overwriting put)
    /// again when its connection broke after it was sent or while its
    /// answer was read, which object_store does not retry (it retries
    /// connect errors and error statuses itself), within the retry options.
    async fn again<T, F, Fut>(&self, what: &str, mut op: F) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = object_store::Result<T>>,
    {
        let started = std::time::Instant::now();
        let mut backoff = self.retry.init_backoff;
        let mut attempts = 0;
        loop {
            match op().await {
                Err(e)
                    if interrupted(&e)
                        && attempts < self.retry.max_retries
                        && started.elapsed() + backoff < self.retry.retry_timeout =>
                {
                    attempts += 1;
                    tracing::info!("retrying an interrupted {what}: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                }
                r => return r,
            }
        }
    }

    async fn put_multipart(&self, path: &Path, data: &[u8]) -> object_store::Result<()> {
        let upload = self.store.put_multipart(path).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        for part in data.chunks(PART_SIZE) {
            if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = w.abort().await;
                return Err(e);
            }
            w.write(part);
        }
        // `finish` aborts the upload itself when a part or the completion fails.
        w.finish().await.map(|_| ())
    }
}

impl Backend for ObjectBackend {
    fn put(&self, key: &str, data: &[u8], mode: PutMode) -> Result<()> {
        let path = self.path(key)?;
        if mode == PutMode::Create && !self.conditional_puts()? {
            if !self.single_writer {
                return Err(Error::NoConditionalPuts(self.location.clone()));
            }
            // A single writer: checking first is enough.
            if self.head(key)?.is_some() {
                return Err(Error::AlreadyExists(key.to_owned()));
            }
            return self.put(key, data, PutMode::Overwrite);
        }
        let r = block_on(async {
            match mode {
                PutMode::Overwrite if data.len() > MULTIPART_THRESHOLD => self
                    .again("multipart put", || self.put_multipart(&path, data))
                    .await
                    .map_err(Some),
                PutMode::Overwrite => {
                    let payload = PutPayload::from(Bytes::copy_from_slice(data));
                    self.again("put", || {
                        self.store
                            .put_opts(&path, payload.clone(), PutOptions::default())
                    })
                    .await
                    .map(|_| ())
                    .map_err(Some)
                }
                PutMode::Create => self.create(&path, data).await,
            }
        })?;
        match r {
            Ok(()) => Ok(()),
            Err(None) => Err(Error::AlreadyExists(key.to_owned())),
            Err(Some(e)) => Err(self.storage("put", key, e)),
        }
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        let r = block_on(self.again("get", || async {
            let got = self.store.get(&path).await?;
            got.bytes().await
        }))?;
        match r {
            Ok(b) => Ok(b.to_vec()),
            Err(object_store::Error::NotFound { .. }) => Err(Error::MissingObject(key.to_owned())),
            Err(e) => Err(self.storage("get", key, e)),
        }
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let path = self.path(key)?;
        let short = |size: u64| {
            Error::corrupt(
                key,
                format!(
                    "object is shorter ({size} bytes) than {}",
                    offset.saturating_add(len)
                ),
            )
        };
        let Some(end) = offset.checked_add(len) else {
            return Err(short(self.head(key)?.map_or(0, |m| m.size)));
        };
        if len == 0 {
            return match self.head(key)? {
                None => Err(Error::MissingObject(key.to_owned())),
                Some(m) if m.size < offset => Err(short(m.size)),
                Some(_) => Ok(Vec::new()),
            };
        }
        let r = block_on(self.again("range read", || self.store.get_range(&path, offset..end)))?;
        match r {
            Ok(b) if b.len() as u64 == len => Ok(b.to_vec()),
            Ok(b) => Err(short(offset + b.len() as u64)),
            Err(object_store::Error::NotFound { .. }) => Err(Error::MissingObject(key.to_owned())),
            // A range past the end is refused (416) or cut short: say
            // which, from the object's size.
            Err(e) => match self.head(key)? {
                None => Err(Error::MissingObject(key.to_owned())),
                Some(m) if m.size < end => Err(short(m.size)),
                Some(_) => Err(self.storage("read range of", key, e)),
            },
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let full = self.full(prefix);
        // List the deepest folder the prefix names, then filter.
        let dir = match full.rfind('/') {
            Some(i) => &full[..i],
            None => "",
        };
        let dir = match dir {
            "" => None,
            d => Some(Path::parse(d).map_err(|e| {
                Error::InvalidInput(format!("invalid listing prefix {prefix:?}: {e}"))
            })?),
        };
        let r = block_on(self.again("list", || async {
            let mut out = Vec::new();
            let mut s = self.store.list(dir.as_ref());
            while let Some(m) = s.next().await {
                out.push(m?);
            }
            Ok::<_, object_store::Error>(out)
        }))?;
        let listed = match r {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.storage("list", prefix, e)),
        };
        let mut out: Vec<ObjectMeta> = listed
            .into_iter()
            .filter(|m| {
                m.location.as_ref().starts_with(&full) && !self.is_probe(m.location.as_ref())
            })
            .filter_map(|m| {
                Some(ObjectMeta {
                    key: self.relative(m.location.as_ref())?.to_owned(),
                    size: m.size,
                    modified: SystemTime::from(m.last_modified),
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let path = self.path(key)?;
        match block_on(self.again("head", || self.store.head(&path)))? {
            Ok(m) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: m.size,
                modified: SystemTime::from(m.last_modified),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.storage("head", key, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match block_on(self.again("delete", || self.store.delete(&path)))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.storage("delete", key, e)),
        }
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    fn object_lock(&self) -> Option<&dyn super::lock::ObjectLock> {
        self.lock.as_deref()
    }

    fn parallel_writes(&self) -> usize {
        OBJECT_PARALLEL_WRITES
    }

    fn conditional_puts(&self) -> Result<bool> {
        if let Some(&ok) = probed().get(&self.service) {
            return Ok(ok);
        }
        let ok = self.probe()?;
        if !ok {
            tracing::warn!(
                storage = %self.location,
                single_writer = self.single_writer,
                "the storage ignores conditional puts (If-None-Match: *)"
            );
        }
        probed().insert(self.service.clone(), ok);
        Ok(ok)
    }

    /// Deletes every object under the prefix (bulk deletes where the
    /// service has them). The bucket itself stays: it is not the store's.
    fn destroy(&self) -> Result<()> {
        let root = self.root_path();
        let r = block_on(async {
            let paths = self
                .store
                .list(root.as_ref())
                .map(|m| m.map(|m| m.location))
                .boxed();
            let mut deleted = self.store.delete_stream(paths);
            while let Some(r) = deleted.next().await {
                match r {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })?;
        r.map_err(|e| self.storage("destroy", "", e))
    }
}
