//! The vault service: Recovery Services vaults, their policies and backup
//! stores, kept in the metadata store ([`metastore`]: SQLite or
//! PostgreSQL) and the backup engine. It knows nothing of HTTP;
//! the ARM server and the CLI are thin layers over it. Its data types are
//! shaped as Azure Resource Manager returns them, since that is the one API
//! every front speaks.

pub mod activity;
pub mod agents;
pub mod crr;
pub mod error;
pub(crate) mod filter;
pub(crate) mod geo;
pub(crate) mod host_restore;
pub mod hosts;
pub mod identity;
pub mod images;
pub mod immutability;
pub mod instant;
pub mod inventory;
pub(crate) mod item_health;
pub mod jobs;
pub mod live;
pub mod metastore;
pub mod mua;
pub mod names;
pub(crate) mod outcome;
pub(crate) mod point_disks;
pub mod policy;
pub mod protection;
pub(crate) mod recovery;
pub mod regions;
pub mod restore;
pub mod runner;
pub mod scheduler;
pub mod status;
pub mod storage_accounts;
pub mod storage_containers;
pub mod storage_lock;
pub mod stores;
pub mod usage;
pub mod vault;
pub mod verify;
pub mod verify_schedule;

pub use error::{Result, ServiceError};
pub use metastore::{DatabaseUrl, MetaStore, Page, PageRequest};
pub use vault::{Vault, VaultRef};

use rsvault_engine::clock::{Clock, SystemClock};
use rsvault_engine::{InitOptions, MasterKey, Store};
use rsvault_hypervisor::{Hypervisor, LibvirtHypervisor, QemuHypervisor, RoutingHypervisor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The service over one data directory:
/// `metadata.db` (the SQLite metadata store, unless another is given),
/// `stores/<id>/` (one engine store per vault) and `keys/<id>.key` (each
/// store's key, outside the store).
#[derive(Debug)]
pub struct Service {
    pub(crate) meta: Arc<dyn MetaStore>,
    data_dir: PathBuf,
    /// Runs every background job (see [`runner`]).
    pub(crate) runner: runner::JobRunner,
    clock: Arc<dyn Clock>,
    live: std::sync::RwLock<live::LiveSettings>,
    /// The configured folders disk images may be named under.
    image_roots: std::sync::RwLock<Vec<PathBuf>>,
    /// Job outcomes the database did not take yet (a full disk).
    pub(crate) unrecorded: outcome::Unrecorded,
    /// Stores waiting for reconciliation and gc.
    pub(crate) pending_cleanup: recovery::Pending,
    restore_root: PathBuf,
    verify: std::sync::RwLock<verify::VerifySettings>,
    /// Where the stores of earlier versions' vaults live (by name).
    stores: stores::StoreLocations,
    /// Where each region keeps its vaults' stores.
    pub(crate) regions: regions::RegionMap,
    /// What runs the VMs: snapshots, power states, change tracking.
    pub(crate) hypervisor: Arc<dyn Hypervisor>,
    /// Geo-redundant vaults waiting for replication ([`geo`]).
    pub(crate) replication: geo::ReplicationQueue,
    /// The last object-lock sweep of each immutable vault's stores.
    lock_sweeps: storage_lock::Sweeps,
    /// The hypervisor hosts whose VMs are discovered ([`hosts`]).
    pub(crate) hosts: hosts::Hosts,
    /// Agents' hosts: settings and the tasks they run ([`agents`]).
    pub(crate) agents: agents::Agents,
}

/// QEMU processes through QMP, libvirt domains through libvirt.
fn default_hypervisor() -> Arc<dyn Hypervisor> {
    Arc::new(RoutingHypervisor {
        qemu: Arc::new(QemuHypervisor::default()),
        libvirt: Arc::new(LibvirtHypervisor::default()),
    })
}

/// The data directory's folders, private.
fn create_dirs(data_dir: &Path) -> Result<()> {
    for d in ["stores", "keys", images::DEFAULT_ROOT] {
        images::create_private_dir(&data_dir.join(d))?;
    }
    Ok(())
}

/// Where the service keeps what is not metadata or vault stores.
#[derive(Debug, Clone, Default)]
pub struct StorageSettings {
    /// The storage accounts restores write to (`RestoreDisks`); by default
    /// `<data-dir>/storageAccounts`. Another file system keeps restores
    /// working when the data directory is full.
    pub restore_root: Option<PathBuf>,
    /// The folders disk images may be named under; empty: the data
    /// directory's `images/`. Set at open, so start-up recovery (which
    /// sweeps restore leftovers next to the VMs' images) already obeys them.
    pub image_roots: Vec<PathBuf>,
    /// The base URL of every region's vault stores that `regions` names no
    /// URL for (each region gets `<base>/<region>`); by default the data
    /// directory's `stores/`.
    pub store_base: Option<String>,
    /// Region by region: where vault stores go and the paired region.
    pub regions: std::collections::BTreeMap<String, regions::RegionSettings>,
    /// How to reach object storage where a region names no options of its
    /// own (by default: the environment, `AWS_*` and `AZURE_STORAGE_*`).
    pub store_options: Option<rsvault_engine::backend::StorageOptions>,
}

impl Service {
    /// Opens the service's data directory, creating it and migrating the
    /// database as needed.
    pub fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with_clock(data_dir, Arc::new(SystemClock))
    }

    /// Like [`Service::open`], with the clock every time in the service
    /// comes from (schedules, jobs, expiry): tests and simulations inject
    /// their own.
    pub fn open_with_clock(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        Self::open_with(data_dir, clock, StorageSettings::default())
    }

    /// Like [`Service::open_with_clock`], with storage settings. Start-up
    /// recovery runs here (interrupted jobs fail, stores are reconciled
    /// with the catalogue, leftovers are swept); none of it stops the
    /// service from opening on a full disk.
    pub fn open_with(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        storage: StorageSettings,
    ) -> Result<Self> {
        Self::open_with_database(data_dir, clock, storage, None)
    }

    /// Like [`Service::open_with`], with the metadata database a URL names
    /// (`None`: SQLite at `<data_dir>/metadata.db`).
    pub fn open_with_database(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        storage: StorageSettings,
        database: Option<&DatabaseUrl>,
    ) -> Result<Self> {
        create_dirs(data_dir)?;
        let meta = metastore::open(database, data_dir)?;
        Self::open_with_ports(data_dir, clock, storage, meta, default_hypervisor())
    }

    /// Like [`Service::open_with`], with the hypervisor that runs the VMs
    /// (by default QEMU, [`QemuHypervisor`]); tests inject a fake.
    pub fn open_with_hypervisor(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        storage: StorageSettings,
        hypervisor: Arc<dyn Hypervisor>,
    ) -> Result<Self> {
        create_dirs(data_dir)?;
        let meta = metastore::open(None, data_dir)?;
        Self::open_with_ports(data_dir, clock, storage, meta, hypervisor)
    }

    /// Like [`Service::open_with`], over a metadata store already open.
    pub fn open_with_store(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        storage: StorageSettings,
        meta: Arc<dyn MetaStore>,
    ) -> Result<Self> {
        Self::open_with_ports(data_dir, clock, storage, meta, default_hypervisor())
    }

    /// The service over its ports: the metadata store and the hypervisor.
    pub fn open_with_ports(
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        storage: StorageSettings,
        meta: Arc<dyn MetaStore>,
        hypervisor: Arc<dyn Hypervisor>,
    ) -> Result<Self> {
        create_dirs(data_dir)?;
        let regions = regions::RegionMap::new(
            &match storage.store_base {
                Some(b) => b,
                None => stores::StoreLocations::under_dir(&data_dir.join("stores"))?
                    .base()
                    .to_owned(),
            },
            storage.regions,
        )?;
        let mut stores = stores::StoreLocations::under_dir(&data_dir.join("stores"))?;
        if let Some(o) = storage.store_options {
            stores.set_default_options(o);
        }
        for (base, o) in regions.configured_options() {
            stores.add_options(&base, o.clone());
        }
        let service = Service {
            runner: runner::JobRunner::new(meta.clone(), runner::JobSettings::default()),
            meta,
            data_dir: data_dir.to_owned(),
            clock,
            live: Default::default(),
            image_roots: std::sync::RwLock::new(if storage.image_roots.is_empty() {
                vec![data_dir.join(images::DEFAULT_ROOT)]
            } else {
                storage.image_roots.clone()
            }),
            unrecorded: Default::default(),
            pending_cleanup: Default::default(),
            restore_root: storage
                .restore_root
                .unwrap_or_else(|| data_dir.join("storageAccounts")),
            verify: Default::default(),
            regions,
            stores,
            hypervisor,
            replication: Default::default(),
            lock_sweeps: Default::default(),
            hosts: Default::default(),
            agents: Default::default(),
        };
        let interrupted = service.fail_interrupted_jobs()?;
        if let Err(e) = service.sweep_snapshots() {
            tracing::warn!("could not sweep snapshot files no point refers to: {e}");
        }
        service.recover_at_start(&interrupted);
        Ok(service)
    }

    /// Changes how background jobs run (`[jobs]`): the pool's size.
    pub fn set_job_settings(&self, settings: runner::JobSettings) {
        self.runner.set_settings(settings);
    }

    /// The metadata store.
    pub fn metastore(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }

    /// The directory of the storage accounts restores write to.
    pub fn restore_root(&self) -> &Path {
        &self.restore_root
    }

    /// The service's current time.
    pub fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::try_from(self.clock.now()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn key_path(&self, store: &str) -> Result<PathBuf> {
        let name = stores::store_name(store)?;
        Ok(self.data_dir.join("keys").join(format!("{name}.key")))
    }

    /// Creates a new engine store and its key in `region`'s storage;
    /// returns the store's URL, which the vault records.
    pub(crate) fn create_vault_store(&self, region: &str) -> Result<String> {
        let name = hex::encode(rand::random::<[u8; 16]>());
        let base = self.regions.base_url(region);
        let (url, backend) = self.stores.create_under(&base, &name)?;
        let mut key = MasterKey::generate();
        Store::init(backend, &mut key, &InitOptions::default())?;
        key.save_new(&self.key_path(&url)?)?;
        Ok(url)
    }

    /// Opens a vault's engine store.
    pub fn open_vault_store(&self, store: &str) -> Result<Store> {
        let key = MasterKey::load(&self.key_path(store)?)?;
        let s = Store::open(self.stores.open(store)?, &key)?;
        // On object storage every index file is a request: keep copies.
        Ok(if stores::is_object_storage(store) {
            s.with_index_cache(&self.data_dir.join("cache").join("index"))
        } else {
            s
        })
    }

    pub(crate) fn remove_vault_store(&self, store: &str) -> Result<()> {
        self.stores.destroy(store)?;
        let _ = std::fs::remove_file(self.key_path(store)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsvault_arm::vault::{StorageRedundancy, VaultPut};
    use serde_json::json;

    /// A request body written as JSON.
    fn body<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    fn vref(name: &str) -> VaultRef {
        VaultRef {
            subscription: "sub1".into(),
            resource_group: "RG1".into(),
            name: name.into(),
        }
    }

    #[test]
    fn vault_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let s = Service::open(dir.path()).unwrap();
        let (v, created) = s
            .put_vault(&vref("Vault1"), VaultPut::located("westeurope"))
            .unwrap();
        assert!(created);
        let redundancy = |v: &Vault| {
            v.properties
                .redundancy_settings
                .as_ref()
                .and_then(|r| r.standard_tier_storage_redundancy.clone())
        };
        assert_eq!(redundancy(&v), Some(StorageRedundancy::GeoRedundant));
        // Names and groups match case-insensitively; canonical casing is kept.
        let lower = VaultRef {
            resource_group: "rg1".into(),
            name: "vault1".into(),
            ..vref("x")
        };
        assert_eq!(s.get_vault(&lower).unwrap().name(), "Vault1");
        let (_, created) = s
            .put_vault(
                &lower,
                body(json!({"location": "westeurope", "tags": {"a": "b"}})),
            )
            .unwrap();
        assert!(!created);
        assert!(s.put_vault(&lower, VaultPut::located("eastus")).is_err());
        let v = s
            .patch_vault(&lower, body(json!({"properties": {"redundancySettings": {"standardTierStorageRedundancy": "locallyredundant"}}})))
            .unwrap();
        let redundancy = redundancy(&v).unwrap();
        assert_eq!(redundancy.as_str(), "LocallyRedundant");
        assert_eq!(v.tags.unwrap()["a"], "b");
        assert_eq!(
            s.get_policy(&lower, "defaultpolicy").unwrap().name(),
            "DefaultPolicy"
        );
        assert_eq!(s.list_vaults("SUB1", None).unwrap().len(), 1);
        assert_eq!(s.list_vaults("sub1", Some("other")).unwrap().len(), 0);
        let row = s.vault_row(&lower).unwrap();
        s.open_vault_store(&row.store).unwrap();
        // The vault's store is in its region's storage, under its URL.
        let name = stores::store_name(&row.store).unwrap();
        let folder = dir
            .path()
            .canonicalize()
            .unwrap()
            .join("stores/westeurope")
            .join(name);
        assert_eq!(row.store, format!("file://{}", folder.display()));
        assert!(folder.join("config").is_file());
        s.delete_vault(&lower).unwrap();
        assert!(matches!(
            s.get_vault(&lower),
            Err(ServiceError::NotFound { .. })
        ));
        assert!(!folder.exists());
        assert!(s.put_vault(&vref("1bad"), VaultPut::located("x")).is_err());
        assert_eq!(
            s.put_vault(&vref("ok"), VaultPut::default())
                .unwrap_err()
                .code(),
            "LocationRequired"
        );
    }
}
