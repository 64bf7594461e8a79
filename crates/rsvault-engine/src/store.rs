//! A vault store: configuration, recovery points, the chunk index and blob
//! reads, over any [`Backend`].
//!
//! Layout (every object but the first line of `config` is encrypted or MACed):
//! - `config`: `RSVAULT-STORE\n | version:u32le | encryption:u8 | store_id[32] | encoded config`
//! - `packs/XX/<id>`: packs of chunk and tree-node blobs
//! - `index/<id>`: index files (caches of pack trailers)
//! - `points/<id>`: recovery point manifests (the commit point of a backup)
//! - `forgotten/<id>`: tombstones of deleted points
//! - `sessions/<id>`: leases of running writers
//! - `gc/<id>`: packs condemned by garbage collection
//! - `revived/<pack>`: condemned packs that a committed point needs again

use crate::backend::{Backend, ObjectMeta, PutMode};
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::codec::{BlobKind, Codec, Encryption};
use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::index::{ChunkIndex, Location, decode_index_file};
use crate::key::MasterKey;
use crate::manifest::Manifest;
use crate::pack::{self, PackEntry, pack_id_of_key, pack_key};
use crate::session::Session;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The store format this build reads and writes.
pub const STORE_VERSION: u32 = 1;
const CONFIG_KEY: &str = "config";
const CONFIG_MAGIC: &[u8; 14] = b"RSVAULT-STORE\n";
/// Default chunk size: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;

/// Settings fixed when a store is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub store_id: String,
    pub version: u32,
    pub chunk_size: u32,
    pub encryption: Encryption,
    pub zstd_level: i32,
    pub created: String,
    /// Set in a replica ([`Store::init_replica`]): the id of the store whose
    /// key opens it, which is the id a key file names. A replica has a
    /// store id of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Options of [`Store::init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub chunk_size: u32,
    pub encryption: Encryption,
    pub zstd_level: i32,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            encryption: Encryption::Aes256Gcm,
            zstd_level: 1,
        }
    }
}

/// A record of packs condemned by garbage collection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GcRecord {
    pub id: String,
    pub created_ms: u64,
    /// When the record was written: sessions that began after this no
    /// longer see its packs.
    pub ready_ms: u64,
    pub packs: Vec<String>,
    /// The writer sessions that were registered once the record was
    /// durable: only they can have seen its packs. `None` in a record whose
    /// writing was interrupted (or from an older build): then every session
    /// that started no later than `ready_ms` counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocking: Option<Vec<String>>,
}

impl GcRecord {
    /// True while a session that may have seen this record's packs is alive.
    pub fn waits_for(&self, alive: &[crate::session::SessionRecord], me: &str) -> bool {
        alive.iter().any(|s| {
            s.id != me
                && match &self.blocking {
                    Some(ids) => ids.contains(&s.id),
                    None => s.started_ms <= self.ready_ms,
                }
        })
    }
}

/// The chunk index as loaded, with what was found wrong on the way.
#[derive(Debug, Default)]
pub struct LoadedIndex {
    pub index: ChunkIndex,
    /// Every pack object, by pack id.
    pub packs: HashMap<String, ObjectMeta>,
    /// Index files read, by id.
    pub files: Vec<String>,
    /// Index files that could not be read, with the reason.
    pub damaged_files: Vec<(String, String)>,
    /// Packs named by index files that do not exist.
    pub missing_packs: Vec<String>,
    /// Packs whose trailer could not be read, with the reason.
    pub bad_packs: Vec<(String, String)>,
    /// Packs condemned by gc: not visible unless also in `revived`.
    pub condemned: HashSet<String>,
    /// Condemned packs that a point committed since needs (`revived/`
    /// markers): visible again, and never deleted by the gc that settles
    /// their record.
    pub revived: HashSet<String>,
    /// Gc records.
    pub gc_records: Vec<GcRecord>,
    /// Packs not in any index file whose trailers were read.
    pub unindexed: Vec<String>,
}

impl LoadedIndex {
    /// True if writers and readers see the pack.
    pub fn is_visible(&self, pack_id: &str) -> bool {
        !self.condemned.contains(pack_id) || self.revived.contains(pack_id)
    }
}

/// Manifests that could not be read: object key and error.
pub type DamagedManifests = Vec<(String, Error)>;

/// An open store.
pub struct Store {
    backend: Arc<dyn Backend>,
    codec: Arc<Codec>,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
    index_cache: Option<crate::index_cache::IndexCache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.backend.location())
            .field("config", &self.config)
            .finish()
    }
}

impl Store {
    /// Creates a new store. The key's `store_id` is set to the new store's.
    pub fn init(
        backend: Arc<dyn Backend>,
        key: &mut MasterKey,
        opts: &InitOptions,
    ) -> Result<Store> {
        if !opts.chunk_size.is_power_of_two() || !(4096..=4 << 20).contains(&opts.chunk_size) {
            return Err(Error::InvalidInput(format!(
                "chunk size {} must be a power of two between 4 KiB and 4 MiB",
                opts.chunk_size
            )));
        }
        if backend.head(CONFIG_KEY)?.is_some() {
            return Err(Error::StoreExists(backend.location()));
        }
        let store_id = crate::id::random_hex_id();
        key.store_id = Some(store_id.clone());
        let config = StoreConfig {
            store_id,
            version: STORE_VERSION,
            chunk_size: opts.chunk_size,
            encryption: opts.encryption,
            zstd_level: opts.zstd_level,
            created: rfc3339(std::time::SystemTime::now()),
            origin: None,
        };
        let codec = Codec::new(key, opts.encryption, opts.zstd_level);
        Self::create(backend, Arc::new(codec), config)
    }

    /// Creates a replica of `primary` on `backend`: a store of its own (its
    /// own store id, sessions, gc) that the primary's key opens, with the
    /// settings blobs depend on copied (encryption, chunk size; the keys
    /// that encrypt blobs and derive chunk ids come from the master key
    /// alone, so the primary's encoded blobs are valid in the replica as
    /// they are). Fill it with [`crate::replicate::replicate_point`].
    pub fn init_replica(backend: Arc<dyn Backend>, primary: &Store) -> Result<Store> {
        if backend.head(CONFIG_KEY)?.is_some() {
            return Err(Error::StoreExists(backend.location()));
        }
        let p = &primary.config;
        let config = StoreConfig {
            store_id: crate::id::random_hex_id(),
            version: STORE_VERSION,
            chunk_size: p.chunk_size,
            encryption: p.encryption,
            zstd_level: p.zstd_level,
            created: rfc3339(std::time::SystemTime::now()),
            origin: Some(p.origin.clone().unwrap_or_else(|| p.store_id.clone())),
        };
        Self::create(backend, primary.codec.clone(), config)
    }

    /// Writes the `config` object of a new store.
    fn create(backend: Arc<dyn Backend>, codec: Arc<Codec>, config: StoreConfig) -> Result<Store> {
        let store_id = &config.store_id;
        let mut obj = Vec::new();
        obj.extend_from_slice(CONFIG_MAGIC);
        obj.extend_from_slice(&STORE_VERSION.to_le_bytes());
        obj.push(match config.encryption {
            Encryption::Aes256Gcm => 1,
            Encryption::None => 0,
        });
        obj.extend_from_slice(store_id.as_bytes());
        let json = serde_json::to_vec(&config).expect("config serializes");
        obj.extend_from_slice(&codec.encode(BlobKind::Config, store_id.as_bytes(), &json, false));
        backend
            .put(CONFIG_KEY, &obj, PutMode::Create)
            .map_err(|e| match e {
                Error::AlreadyExists(_) => Error::StoreExists(backend.location()),
                e => e,
            })?;
        Ok(Store {
            backend,
            codec,
            config,
            clock: Arc::new(SystemClock),
            index_cache: None,
        })
    }

    /// Opens an existing store with its key.
    pub fn open(backend: Arc<dyn Backend>, key: &MasterKey) -> Result<Store> {
        let obj = match backend.get(CONFIG_KEY) {
            Ok(o) => o,
            Err(Error::MissingObject(_)) => return Err(Error::NotAStore(backend.location())),
            Err(e) => return Err(e),
        };
        let head = CONFIG_MAGIC.len() + 4 + 1 + 32;
        if obj.len() < head || &obj[..CONFIG_MAGIC.len()] != CONFIG_MAGIC {
            return Err(Error::NotAStore(backend.location()));
        }
        let mut p = CONFIG_MAGIC.len();
        let version = u32::from_le_bytes(obj[p..p + 4].try_into().expect("4 bytes"));
        if version != STORE_VERSION {
            return Err(Error::UnsupportedStoreVersion {
                found: version,
                supported: STORE_VERSION,
            });
        }
        p += 4;
        let encryption = match obj[p] {
            1 => Encryption::Aes256Gcm,
            0 => Encryption::None,
            b => {
                return Err(Error::corrupt(
                    CONFIG_KEY,
                    format!("unknown encryption mode {b}"),
                ));
            }
        };
        p += 1;
        let store_id = std::str::from_utf8(&obj[p..p + 32])
            .map_err(|_| Error::corrupt(CONFIG_KEY, "bad store id"))?
            .to_owned();
        p += 32;
        // A key names the store it was made for; a replica is opened by its
        // origin's key too.
        let key_mismatch = |origin: Option<&str>| match &key.store_id {
            Some(kid) if *kid != store_id && origin != Some(kid.as_str()) => Some(Error::WrongKey(
                format!("the key is for store {kid}, this is store {store_id}"),
            )),
            _ => None,
        };
        let probe = Codec::new(key, encryption, 1);
        let json = probe
            .decode(BlobKind::Config, store_id.as_bytes(), &obj[p..], CONFIG_KEY)
            .map_err(|_| {
                key_mismatch(None).unwrap_or_else(|| {
                    Error::WrongKey(format!("store {store_id} at {}", backend.location()))
                })
            })?;
        let config: StoreConfig = serde_json::from_slice(&json)
            .map_err(|e| Error::corrupt(CONFIG_KEY, format!("bad config: {e}")))?;
        if config.store_id != store_id || config.version != version {
            return Err(Error::corrupt(
                CONFIG_KEY,
                "config does not match its header",
            ));
        }
        if let Some(e) = key_mismatch(config.origin.as_deref()) {
            return Err(e);
        }
        let codec = Codec::new(key, encryption, config.zstd_level);
        Ok(Store {
            backend,
            codec: Arc::new(codec),
            config,
            clock: Arc::new(SystemClock),
            index_cache: None,
        })
    }

    /// Replaces the clock (tests, scheduler).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same store over another handle on its backend (a wrapper that
    /// counts requests).
    pub(crate) fn with_backend(&self, backend: Arc<dyn Backend>) -> Store {
        Store {
            backend,
            codec: self.codec.clone(),
            config: self.config.clone(),
            clock: self.clock.clone(),
            index_cache: self.index_cache.clone(),
        }
    }

    /// Keeps a local copy of the store's index files under
    /// `<root>/<store id>/` (see [`crate::index_cache`]): worth it on
    /// object storage, where each is a request.
    pub fn with_index_cache(mut self, root: &std::path::Path) -> Self {
        self.index_cache = crate::index_cache::IndexCache::open(root, &self.config.store_id);
        self
    }

    /// An index file's bytes: the cached copy if it still decodes, else
    /// read from the store (and cached).
    fn index_file(&self, m: &ObjectMeta, file_id: &str) -> Result<Vec<(String, Vec<PackEntry>)>> {
        let cache = self.index_cache.as_ref();
        if let Some(bytes) = cache.and_then(|c| c.get(file_id, m.size))
            && let Ok(packs) = decode_index_file(&self.codec, file_id, &bytes)
        {
            return Ok(packs);
        }
        let bytes = self.backend.get(&m.key)?;
        let packs = decode_index_file(&self.codec, file_id, &bytes)?;
        if let Some(c) = cache {
            c.put(file_id, &bytes);
        }
        Ok(packs)
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The codec.
    pub fn codec(&self) -> &Arc<Codec> {
        &self.codec
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Starts a writer session.
    pub fn begin_session(&self, what: &str) -> Result<Session> {
        Session::begin(
            self.backend.clone(),
            self.codec.clone(),
            self.clock.clone(),
            what,
        )
    }

    /// Starts a reader's session (restore, verify): gc then defers deleting
    /// any pack until the reader ends, so a pack gc repacks or condemns
    /// cannot vanish under a read. A store that cannot take the session
    /// record (a full or read-only disk) is still read, without one: gc
    /// cannot run there either, since it writes before it deletes.
    pub fn begin_read_session(&self, what: &str) -> Option<Session> {
        match self.begin_session(what) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("{what}: reading without a session (gc is not held off): {e}");
                None
            }
        }
    }

    // ----- recovery points -----

    /// Object key of a point.
    pub fn point_key(id: &str) -> String {
        format!("points/{id}")
    }

    fn decode_point(&self, key: &str, blob: &[u8]) -> Result<Manifest> {
        let id = key.trim_start_matches("points/");
        let json = self
            .codec
            .decode(BlobKind::Manifest, id.as_bytes(), blob, key)?;
        let m: Manifest = serde_json::from_slice(&json)
            .map_err(|e| Error::corrupt(key, format!("bad manifest: {e}")))?;
        if m.id != id {
            return Err(Error::corrupt(key, "manifest id does not match its key"));
        }
        Ok(m)
    }

    /// One point by its full id, or `None` when its manifest does not exist.
    pub fn point(&self, id: &str) -> Result<Option<Manifest>> {
        if !crate::manifest::is_point_id(id) {
            return Err(Error::InvalidInput(format!(
                "{id:?} is not a recovery point id"
            )));
        }
        let key = Self::point_key(id);
        match self.backend.get(&key) {
            Ok(b) => self.decode_point(&key, &b).map(Some),
            Err(Error::MissingObject(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every point, oldest first, and the manifests that could not be read.
    pub fn list_points_checked(&self) -> Result<(Vec<Manifest>, DamagedManifests)> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for m in self.backend.list("points/")? {
            match self
                .backend
                .get(&m.key)
                .and_then(|b| self.decode_point(&m.key, &b))
            {
                Ok(p) => out.push(p),
                Err(Error::MissingObject(_)) => {}
                Err(e) => bad.push((m.key.clone(), e)),
            }
        }
        out.sort_by(|a, b| (&a.time, &a.id).cmp(&(&b.time, &b.id)));
        Ok((out, bad))
    }

    /// Bytes the store occupies in its backend: packs, index files,
    /// manifests and config, that is after deduplication and compression.
    pub fn stored_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for prefix in ["packs/", "index/", "points/", "config"] {
            total += self
                .backend
                .list(prefix)?
                .iter()
                .map(|o| o.size)
                .sum::<u64>();
        }
        Ok(total)
    }

    /// Every point, oldest first. A damaged manifest is an error.
    pub fn list_points(&self) -> Result<Vec<Manifest>> {
        let (points, mut bad) = self.list_points_checked()?;
        match bad.pop() {
            Some((_, e)) => Err(e),
            None => Ok(points),
        }
    }

    /// The points of one disk, oldest first.
    pub fn points_of(&self, name: &str) -> Result<Vec<Manifest>> {
        Ok(self
            .list_points()?
            .into_iter()
            .filter(|p| p.name == name)
            .collect())
    }

    /// Resolves `latest`, a full id or a unique id prefix among a disk's points.
    pub fn resolve_point(&self, name: &str, spec: &str) -> Result<Manifest> {
        let points = self.points_of(name)?;
        if spec == "latest" {
            return points.into_iter().last().ok_or_else(|| {
                Error::PointNotFound(format!(
                    "disk {name:?} has no recovery points in this store"
                ))
            });
        }
        let mut matches: Vec<Manifest> = points
            .into_iter()
            .filter(|p| p.id.starts_with(spec))
            .collect();
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(Error::PointNotFound(format!(
                "disk {name:?} has no recovery point {spec:?}; list them with `rsvault disk points`"
            ))),
            n => Err(Error::InvalidInput(format!(
                "{spec:?} matches {n} recovery points; give more of the id"
            ))),
        }
    }

    /// Commits a manifest: the point exists once this returns.
    pub(crate) fn commit_point(&self, m: &Manifest) -> Result<()> {
        let json = serde_json::to_vec(m).expect("manifest serializes");
        let blob = self
            .codec
            .encode(BlobKind::Manifest, m.id.as_bytes(), &json, true);
        self.backend
            .put(&Self::point_key(&m.id), &blob, PutMode::Create)
    }

    /// Deletes a recovery point (its data goes at the next gc). Leaves a
    /// tombstone so verify can tell a forgotten point from a lost one.
    pub fn forget(&self, name: &str, spec: &str) -> Result<Manifest> {
        let m = self.resolve_point(name, spec)?;
        let stone =
            serde_json::json!({"id": m.id, "name": m.name, "forgotten": rfc3339(self.clock.now())});
        let key = format!("forgotten/{}", m.id);
        let blob = self.codec.encode(
            BlobKind::Meta,
            key.as_bytes(),
            stone.to_string().as_bytes(),
            false,
        );
        self.backend.put(&key, &blob, PutMode::Overwrite)?;
        self.backend.delete(&Self::point_key(&m.id))?;
        Ok(m)
    }

    /// Ids of forgotten points.
    pub fn forgotten(&self) -> Result<HashSet<String>> {
        Ok(self
            .backend
            .list("forgotten/")?
            .into_iter()
            .map(|m| m.key.trim_start_matches("forgotten/").to_owned())
            .collect())
    }

    // ----- gc records -----

    /// Reads every gc record (damaged ones are an error: they guard deletions).
    pub fn gc_records(&self) -> Result<Vec<GcRecord>> {
        let mut out = Vec::new();
        for m in self.backend.list("gc/")? {
            let blob = match self.backend.get(&m.key) {
                Ok(b) => b,
                Err(Error::MissingObject(_)) => continue,
                Err(e) => return Err(e),
            };
            let json = self
                .codec
                .decode(BlobKind::Meta, m.key.as_bytes(), &blob, &m.key)?;
            out.push(
                serde_json::from_slice(&json).map_err(|e| Error::corrupt(&m.key, e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// Writes a gc record.
    pub(crate) fn put_gc_record(&self, rec: &GcRecord) -> Result<()> {
        let key = format!("gc/{}", rec.id);
        let json = serde_json::to_vec(rec).expect("gc record serializes");
        let blob = self
            .codec
            .encode(BlobKind::Meta, key.as_bytes(), &json, true);
        self.backend.put(&key, &blob, PutMode::Overwrite)
    }

    // ----- index and blobs -----

    /// Reads a pack's trailer.
    pub fn read_trailer(&self, pack_id: &str, size: u64) -> Result<Vec<PackEntry>> {
        let key = pack_key(pack_id);
        if size < pack::TAIL + 8 {
            return Err(Error::corrupt(&key, "pack is too short"));
        }
        let tail = self
            .backend
            .get_range(&key, size - pack::TAIL, pack::TAIL)?;
        let tlen = pack::trailer_len(&tail, &key)? as u64;
        if tlen + pack::TAIL + 8 > size {
            return Err(Error::corrupt(&key, "trailer length exceeds the pack"));
        }
        let start = size - pack::TAIL - tlen;
        let trailer = self.backend.get_range(&key, start, tlen)?;
        pack::parse_trailer(&self.codec, pack_id, &trailer, start)
    }

    /// Loads the index of visible blobs, as writers deduplicate against it:
    /// every pack not condemned by gc (or condemned and revived), from index
    /// files where they cover it and from pack trailers otherwise.
    pub fn load_index(&self) -> Result<LoadedIndex> {
        self.load_index_with(false)
    }

    /// Loads the index that readers (restore, verify, copy) use: the visible
    /// packs first, then condemned packs that still exist. A writer that
    /// deduplicated against a pack before gc condemned it may have committed
    /// a point that needs it; gc deletes such a pack only after reviving
    /// what a committed point needs, so a reader finds every blob of every
    /// committed point.
    pub fn load_index_readable(&self) -> Result<LoadedIndex> {
        self.load_index_with(true)
    }

    fn load_index_with(&self, with_condemned: bool) -> Result<LoadedIndex> {
        let mut li = LoadedIndex::default();
        for m in self.backend.list("packs/")? {
            if let Some(id) = pack_id_of_key(&m.key) {
                li.packs.insert(id.to_owned(), m);
            }
        }
        li.gc_records = self.gc_records()?;
        li.condemned = li
            .gc_records
            .iter()
            .flat_map(|r| r.packs.iter().cloned())
            .collect();
        li.revived = self.revived_markers()?;
        let mut covered: HashSet<String> = HashSet::new();
        let mut hidden: BTreeMap<String, Vec<PackEntry>> = BTreeMap::new();
        let mut missing: BTreeMap<String, ()> = BTreeMap::new();
        let listed = self.backend.list("index/")?;
        if let Some(c) = &self.index_cache {
            c.retain(
                &listed
                    .iter()
                    .map(|m| m.key.trim_start_matches("index/").to_owned())
                    .collect(),
            );
        }
        for m in listed {
            let file_id = m.key.trim_start_matches("index/").to_owned();
            let decoded = match self.index_file(&m, &file_id) {
                Err(Error::MissingObject(_)) => continue,
                other => other,
            };
            match decoded {
                Ok(packs) => {
                    for (pid, entries) in packs {
                        if covered.contains(&pid) {
                            continue;
                        }
                        if !li.packs.contains_key(&pid) {
                            if li.is_visible(&pid) {
                                missing.insert(pid, ());
                            }
                            continue;
                        }
                        if !li.is_visible(&pid) {
                            hidden.entry(pid).or_insert(entries);
                            continue;
                        }
                        li.index.add_pack(&pid, &entries);
                        covered.insert(pid);
                    }
                    li.files.push(file_id);
                }
                Err(e) => li.damaged_files.push((file_id, e.to_string())),
            }
        }
        let mut uncovered: Vec<(String, u64)> = li
            .packs
            .iter()
            .filter(|(id, _)| !covered.contains(*id) && li.is_visible(id))
            .map(|(id, m)| (id.clone(), m.size))
            .collect();
        uncovered.sort();
        for (pid, size) in uncovered {
            match self.read_trailer(&pid, size) {
                Ok(entries) => {
                    li.index.add_pack(&pid, &entries);
                    li.unindexed.push(pid);
                }
                Err(Error::MissingObject(_)) => {}
                Err(e) => li.bad_packs.push((pid, e.to_string())),
            }
        }
        if with_condemned {
            self.add_condemned(&mut li, hidden);
        }
        li.missing_packs = missing.into_keys().collect();
        Ok(li)
    }

    /// Adds condemned packs that still exist, after every visible one.
    fn add_condemned(&self, li: &mut LoadedIndex, mut known: BTreeMap<String, Vec<PackEntry>>) {
        let mut ids: Vec<(String, u64)> = li
            .packs
            .iter()
            .filter(|(id, _)| !li.is_visible(id))
            .map(|(id, m)| (id.clone(), m.size))
            .collect();
        ids.sort();
        for (pid, size) in ids {
            let entries = match known.remove(&pid) {
                Some(e) => e,
                None => match self.read_trailer(&pid, size) {
                    Ok(e) => e,
                    // Gone meanwhile, or unreadable: gc never deletes what a
                    // committed point needs, so a reader that misses it here
                    // reports the blob as missing.
                    Err(_) => continue,
                },
            };
            li.index.add_pack(&pid, &entries);
        }
    }

    // ----- revived packs -----

    /// Packs with a `revived/` marker (an unreadable marker counts: it can
    /// only keep a pack).
    pub fn revived_markers(&self) -> Result<HashSet<String>> {
        Ok(self
            .backend
            .list("revived/")?
            .into_iter()
            .map(|m| m.key.trim_start_matches("revived/").to_owned())
            .collect())
    }

    /// Marks condemned packs as needed by a committed point: visible again
    /// at once, and revived (not deleted) by the gc that settles their record.
    pub fn revive_packs(&self, packs: &[String], by: &str) -> Result<()> {
        for pid in packs {
            let key = format!("revived/{pid}");
            let body =
                serde_json::json!({"pack": pid, "by": by, "time": rfc3339(self.clock.now())});
            let blob = self.codec.encode(
                BlobKind::Meta,
                key.as_bytes(),
                body.to_string().as_bytes(),
                false,
            );
            self.backend.put(&key, &blob, PutMode::Overwrite)?;
        }
        Ok(())
    }

    /// Removes a pack's `revived/` marker.
    pub(crate) fn drop_revived_marker(&self, pack_id: &str) -> Result<()> {
        self.backend.delete(&format!("revived/{pack_id}"))
    }

    /// Reads, authenticates, decodes and hash-checks one blob.
    pub fn read_blob(&self, index: &ChunkIndex, id: &ChunkId) -> Result<Vec<u8>> {
        let loc = index
            .get(id)
            .ok_or_else(|| Error::MissingObject(format!("blob {id} (not in any readable pack)")))?;
        self.read_blob_at(index.pack_id(loc), id, loc)
    }

    /// Reads one blob from a known location.
    pub fn read_blob_at(&self, pack_id: &str, id: &ChunkId, loc: &Location) -> Result<Vec<u8>> {
        let key = pack_key(pack_id);
        let blob = self
            .backend
            .get_range(&key, loc.offset as u64, loc.len as u64)?;
        self.decode_blob(&key, id, loc.kind, &blob)
    }

    /// Decodes an encoded blob and checks its content hash.
    pub fn decode_blob(
        &self,
        object: &str,
        id: &ChunkId,
        kind: BlobKind,
        blob: &[u8],
    ) -> Result<Vec<u8>> {
        let what = format!("{object} blob {id}");
        let data = self.codec.decode(kind, &id.0, blob, &what)?;
        let actual = match kind {
            BlobKind::Chunk => self.codec.chunk_id(&data),
            BlobKind::Tree => self.codec.tree_id(&data),
            _ => return Err(Error::corrupt(&what, "not a chunk or tree blob")),
        };
        if actual != *id {
            return Err(Error::corrupt(&what, "content hash mismatch"));
        }
        Ok(data)
    }

    /// Reads a tree node's entries.
    pub fn read_node(&self, index: &ChunkIndex, id: &ChunkId) -> Result<Vec<ChunkId>> {
        let data = self.read_blob(index, id)?;
        crate::tree::decode_node(&data, &format!("tree node {id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::GcRecord;
    use crate::session::SessionRecord;

    fn session(id: &str, started_ms: u64) -> SessionRecord {
        SessionRecord {
            id: id.into(),
            what: "backup".into(),
            host: "h".into(),
            pid: 1,
            proc_start: 0,
            started_ms,
            heartbeat_ms: started_ms,
        }
    }

    #[test]
    fn a_record_waits_for_the_sessions_it_names_or_for_older_ones() {
        let named = |ids: Option<&[&str]>| GcRecord {
            id: "r".into(),
            created_ms: 100,
            ready_ms: 100,
            packs: vec!["p".into()],
            blocking: ids.map(|v| v.iter().map(|s| s.to_string()).collect()),
        };
        // (record's sessions, live sessions (id, start), waits?)
        type Case<'a> = (Option<&'a [&'a str]>, &'a [(&'a str, u64)], bool);
        let cases: &[Case] = &[
            (Some(&["a"]), &[("a", 50)], true),
            (Some(&["a"]), &[("b", 50)], false),
            // A clock that jumps does not matter when sessions are named.
            (Some(&["a"]), &[("a", 500)], true),
            (Some(&[]), &[("a", 50)], false),
            (Some(&["gc"]), &[("gc", 50)], false),
            // Interrupted record: every session no younger than it.
            (None, &[("a", 100)], true),
            (None, &[("a", 101)], false),
            (None, &[("gc", 10)], false),
        ];
        for (ids, live, want) in cases {
            let live: Vec<SessionRecord> = live.iter().map(|(i, t)| session(i, *t)).collect();
            assert_eq!(
                named(*ids).waits_for(&live, "gc"),
                *want,
                "{ids:?} {live:?}"
            );
        }
    }
}
