//! The server's configuration file (TOML). Every key is optional; flags and
//! environment variables override the file.
//!
//! ```toml
//! listen = "127.0.0.1:7431"
//! data_dir = "/var/lib/rsvault"
//! demo = false
//!
//! [scheduler]
//! interval_seconds = 30        # time between scheduler ticks
//! max_concurrent_backups = 2   # scheduled backups running at once
//!
//! [api]
//! page_size = 200              # items per page of a list (nextLink beyond)
//!
//! [server]
//! public_url = "https://backup.example.org"  # operation URLs and nextLink start with it
//! trusted_proxies = ["127.0.0.1"]            # peers whose X-Forwarded-Proto/-Host count
//! tls_cert = "/etc/rsvault/server.crt"        # HTTPS with this chain and key (PEM); without
//! tls_key = "/etc/rsvault/server.key"         #   them: a self-signed <data_dir>/tls/server.crt
//! insecure_http = false                       # plain HTTP (loopback or a TLS proxy only)
//!
//! [inventory]
//! image_roots = ["/srv/vm-images"]  # folders disk images may be named under
//!                                   # (default: <data_dir>/images; --demo adds its own)
//!
//! [live]                       # backups of running QEMU VMs
//! freeze_timeout_seconds = 60  # longest wait for guest-fsfreeze-freeze
//! agent_timeout_seconds = 10   # time limit of other guest-agent commands
//! snapshot_rate_limit_mib = 64 # cap on the snapshot copy (MiB/s); none if left out
//!
//! [agents]                     # hypervisor hosts that run `rsvault agent`
//! heartbeat_seconds = 10       # how often agents report
//! stale_after_seconds = 45     # silent this long: Disconnected, backups fail at once
//!
//! [storage]
//! restore_root = "/srv/restores"  # storage accounts restores write to; <data_dir>/storageAccounts if left out
//! stores = "file:///srv/rsvault-stores"  # vault stores go under <stores>/<region>; default <data_dir>/stores
//! [storage.connection]          # how to reach object storage (default: AWS_* / AZURE_STORAGE_* variables)
//! endpoint = "http://127.0.0.1:9000"  # a self-hosted S3 (Ceph RGW, MinIO, Garage) or a Blob account URL
//! path_style = true             # S3 path-style addressing; also: s3_region, allow_http, ca_file,
//!                               # access_key_id, secret_access_key, account_name, account_key,
//!                               # use_emulator (Azurite), single_writer
//! [storage.regions.japaneast]  # one region's own storage and pair (default: Azure's pairs)
//! url = "s3://backups/jpe"     # the region's vault stores
//! pair = "japanwest"           # where its geo-redundant vaults replicate to
//! [storage.regions.japaneast.connection]  # its own endpoint and keys (over [storage.connection])
//! endpoint = "http://s3.jpe.example:9000"
//!                              # A file holding keys must not be readable by group or others.
//! [verify]                     # each vault's verify job (a vault may set its own)
//! schedule = "sun 03:00"       # weekdays and a UTC time: "daily 02:30", "mon..fri 22:00", "off"
//!
//! [database]                 # the metadata database (default: SQLite at <data_dir>/metadata.db)
//! url = "postgres://rsvault@db.example/rsvault"  # or "sqlite:///path/metadata.db"
//! pool = 8                   # PostgreSQL connections at most (default: 2 per core, 4 to 32; a URL's pool=N wins)
//! [libvirt]                  # this machine as a libvirt host (or --libvirt URI)
//! uri = "qemu:///system"     # its domains appear as VMs, backed up through libvirt
//! resource_group = "rg-kvm1" # where they appear (default rg-libvirt)
//! location = "japaneast"     # their region (default japaneast)
//! [jobs]
//! workers = 4                  # backups, restores and verifies running at once; later ones queue
//!
//! [testing]
//! simulated_clock = "2026-03-28T19:00:00Z"  # run on a clock moved by POST /rsvault/clock
//! ```

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub demo: Option<bool>,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    #[serde(default)]
    pub testing: TestingConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub live: LiveConfig,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub inventory: InventoryConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub jobs: JobsConfig,
    #[serde(default)]
    pub libvirt: LibvirtConfig,
    #[serde(default)]
    pub agents: AgentsConfig,
}

/// `[agents]`: hosts that run `rsvault agent`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsConfig {
    /// How often agents send heartbeats (seconds).
    pub heartbeat_seconds: Option<u64>,
    /// A host silent for this long is disconnected (seconds).
    pub stale_after_seconds: Option<u64>,
}

/// `[libvirt]`: this machine as a libvirt host.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibvirtConfig {
    pub uri: Option<String>,
    pub resource_group: Option<String>,
    pub location: Option<String>,
    pub subscription: Option<String>,
}

/// `[database]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The metadata database's URL.
    pub url: Option<String>,
    /// PostgreSQL connections the server opens at most, unless the URL
    /// says (`pool=N`); two per core (4 to 32) when neither does.
    pub pool: Option<usize>,
}

/// `[jobs]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// Background jobs running at once (4 when left out).
    pub workers: Option<usize>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// The URL clients reach the server at (behind a proxy, the proxy's).
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-Proto` and `X-Forwarded-Host` are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The TLS certificate chain and key (PEM); without them a self-signed
    /// certificate is made at `<data_dir>/tls/server.crt`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP (as `--insecure-http`).
    pub insecure_http: Option<bool>,
}

/// `[inventory]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// Folders disk images may be named under (absolute paths).
    pub image_roots: Option<Vec<PathBuf>>,
}

/// `[storage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The directory of the storage accounts `RestoreDisks` writes to.
    pub restore_root: Option<PathBuf>,
    /// The base URL of vault stores: each region's go under
    /// `<stores>/<region>` unless `regions` names their own.
    pub stores: Option<String>,
    /// `[storage.regions.NAME]`: a region's store URL and paired region.
    #[serde(default)]
    pub regions: std::collections::BTreeMap<String, RegionConfig>,
    /// `[storage.connection]`: how to reach object storage.
    pub connection: Option<ConnectionConfig>,
}

/// `[storage.connection]` and `[storage.regions.NAME.connection]`: what
/// object storage needs beside a URL. Keys left out keep what the
/// environment says (`AWS_*`, `AZURE_STORAGE_*`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    pub endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub path_style: Option<bool>,
    pub allow_http: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<rsvault_engine::backend::Secret>,
    pub account_name: Option<String>,
    pub account_key: Option<rsvault_engine::backend::Secret>,
    pub use_emulator: Option<bool>,
    pub single_writer: Option<bool>,
}

impl ConnectionConfig {
    /// Whether it holds a secret (the file must then be private).
    fn has_secret(&self) -> bool {
        self.secret_access_key.is_some() || self.account_key.is_some()
    }

    /// These settings over `base` (key by key).
    fn over(
        &self,
        base: rsvault_engine::backend::StorageOptions,
    ) -> rsvault_engine::backend::StorageOptions {
        rsvault_engine::backend::StorageOptions {
            endpoint: self.endpoint.clone().or(base.endpoint),
            region: self.s3_region.clone().or(base.region),
            path_style: self.path_style.or(base.path_style),
            allow_http: self.allow_http.or(base.allow_http),
            ca_file: self.ca_file.clone().or(base.ca_file),
            access_key_id: self.access_key_id.clone().or(base.access_key_id),
            secret_access_key: self.secret_access_key.clone().or(base.secret_access_key),
            account_name: self.account_name.clone().or(base.account_name),
            account_key: self.account_key.clone().or(base.account_key),
            use_emulator: self.use_emulator.or(base.use_emulator),
            single_writer: self.single_writer.unwrap_or(base.single_writer),
            retry: base.retry,
        }
    }
}

/// `[storage.regions.NAME]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Where the region's vault stores go (a base URL).
    pub url: Option<String>,
    /// The region its geo-redundant vaults replicate to (default: Azure's pair).
    pub pair: Option<String>,
    /// How to reach its object storage, over `[storage.connection]`.
    pub connection: Option<ConnectionConfig>,
}

/// Checks a store base URL from the config: `scheme://…`, a `file://`
/// URL naming an absolute path.
fn check_store_url(key: &str, url: &str) -> Result<()> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!(
            "{key}: '{url}' is not a URL (file:///path, s3://bucket/prefix, az://container/prefix)"
        );
    };
    if scheme == "file" && !rest.starts_with('/') {
        bail!("{key}: a file URL names an absolute path (file:///path)");
    }
    if rest.trim_matches('/').is_empty() {
        bail!("{key}: '{url}' names no location");
    }
    Ok(())
}

/// `[verify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// The default verify schedule of vaults (`sun 03:00` when left out).
    pub schedule: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    pub freeze_timeout_seconds: Option<u64>,
    pub agent_timeout_seconds: Option<u64>,
    pub snapshot_rate_limit_mib: Option<u64>,
}

/// `[api]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Items per page of a list; longer lists continue at `nextLink`.
    pub page_size: Option<usize>,
}

/// `[scheduler]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    pub interval_seconds: Option<u64>,
    pub max_concurrent_backups: Option<usize>,
}

/// `[testing]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestingConfig {
    pub simulated_clock: Option<String>,
}

impl FileConfig {
    /// The libvirt host, from the flags over `[libvirt]`.
    pub fn libvirt_hosts(
        &self,
        uri: Option<&str>,
        resource_group: Option<&str>,
        location: Option<&str>,
    ) -> Result<Vec<rsvault_service::hosts::HostConfig>> {
        let l = &self.libvirt;
        let Some(uri) = uri.map(str::to_owned).or_else(|| l.uri.clone()) else {
            return Ok(Vec::new());
        };
        if !uri.contains(":/") {
            bail!("libvirt: '{uri}' is not a libvirt connection URI (e.g. qemu:///system)");
        }
        let location = location
            .map(str::to_owned)
            .or_else(|| l.location.clone())
            .unwrap_or_else(|| "japaneast".into());
        rsvault_service::names::check_location(&location, "Microsoft.Compute/virtualMachines")
            .map_err(|e| anyhow!("libvirt.location: {e}"))?;
        Ok(vec![rsvault_service::hosts::HostConfig {
            discovery: std::sync::Arc::new(rsvault_hypervisor::LibvirtDiscovery::new(uri)),
            subscription: l
                .subscription
                .clone()
                .unwrap_or_else(|| crate::demo::SUBSCRIPTION.into()),
            resource_group: resource_group
                .map(str::to_owned)
                .or_else(|| l.resource_group.clone())
                .unwrap_or_else(|| "rg-libvirt".into()),
            location,
        }])
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read the configuration file {}", path.display()))?;
        let c =
            Self::parse(&text).with_context(|| format!("configuration file {}", path.display()))?;
        if c.has_secrets() {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "configuration file {}: it holds storage keys but is readable by group or others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                );
            }
        }
        Ok(c)
    }

    /// Whether a storage key is in the file.
    fn has_secrets(&self) -> bool {
        self.storage
            .connection
            .as_ref()
            .is_some_and(ConnectionConfig::has_secret)
            || self
                .storage
                .regions
                .values()
                .filter_map(|r| r.connection.as_ref())
                .any(ConnectionConfig::has_secret)
    }

    fn parse(text: &str) -> Result<Self> {
        let c: FileConfig = toml::from_str(text)?;
        if c.scheduler.interval_seconds == Some(0) {
            bail!("scheduler.interval_seconds must be at least 1");
        }
        if c.api.page_size == Some(0) {
            bail!("api.page_size must be at least 1");
        }
        if c.scheduler.max_concurrent_backups == Some(0) {
            bail!("scheduler.max_concurrent_backups must be at least 1");
        }
        if c.live.freeze_timeout_seconds == Some(0) || c.live.agent_timeout_seconds == Some(0) {
            bail!("live.freeze_timeout_seconds and live.agent_timeout_seconds must be at least 1");
        }
        if c.agents.heartbeat_seconds == Some(0)
            || c.agents
                .stale_after_seconds
                .is_some_and(|s| s <= c.agents.heartbeat_seconds.unwrap_or(10))
        {
            bail!(
                "agents.heartbeat_seconds must be at least 1, and agents.stale_after_seconds longer than it"
            );
        }
        if c.live.snapshot_rate_limit_mib == Some(0) {
            bail!("live.snapshot_rate_limit_mib must be at least 1 (leave it out for no limit)");
        }
        if let Some(u) = &c.server.public_url {
            check_public_url(u)?;
        }
        if let Some(p) = [&c.server.tls_cert, &c.server.tls_key]
            .into_iter()
            .flatten()
            .find(|p| !p.is_absolute())
        {
            bail!(
                "[server] tls_cert and tls_key must be absolute paths, not '{}'",
                p.display()
            );
        }
        if let Some(r) = c
            .inventory
            .image_roots
            .iter()
            .flatten()
            .find(|r| !r.is_absolute())
        {
            bail!(
                "inventory.image_roots: '{}' is not an absolute path",
                r.display()
            );
        }
        if c.storage
            .restore_root
            .as_ref()
            .is_some_and(|r| !r.is_absolute())
        {
            bail!("storage.restore_root must be an absolute path");
        }
        if let Some(u) = &c.storage.stores {
            check_store_url("storage.stores", u)?;
        }
        for (name, r) in &c.storage.regions {
            if let Some(u) = &r.url {
                check_store_url(&format!("storage.regions.{name}.url"), u)?;
            }
        }
        rsvault_service::regions::RegionMap::new("file:///", c.storage_settings().regions)
            .map_err(|e| anyhow!("{e}"))?;
        c.verify_settings()?;
        if let Some(u) = &c.database.url {
            database_url(u).context("database.url")?;
        }
        if c.database.pool == Some(0) {
            bail!("database.pool must be at least 1");
        }
        if c.jobs.workers == Some(0) {
            bail!("jobs.workers must be at least 1");
        }
        if let Some(t) = &c.testing.simulated_clock {
            t.parse::<jiff::Timestamp>().with_context(|| {
                format!("testing.simulated_clock: '{t}' is not an RFC 3339 time")
            })?;
        }
        Ok(c)
    }

    /// The metadata database: `--database` (or RSVAULT_DATABASE), else
    /// `[database] url`; `None` is SQLite in the data directory. A
    /// PostgreSQL URL gets `[database] pool` unless it names its own.
    pub fn database(&self, flag: Option<&str>) -> Result<Option<rsvault_service::DatabaseUrl>> {
        let url = flag
            .or(self.database.url.as_deref())
            .map(database_url)
            .transpose()?;
        Ok(match self.database.pool {
            Some(n) => url.map(|u| u.with_pool(n)),
            None => url,
        })
    }

    /// How the server speaks: the flags first, then `[server]`.
    pub fn transport(
        &self,
        cert: Option<&Path>,
        key: Option<&Path>,
        insecure_http: bool,
    ) -> Result<rsvault_server::tls::Transport> {
        use rsvault_server::tls::Transport;
        let s = &self.server;
        let insecure = insecure_http || s.insecure_http == Some(true);
        let files = match (cert, key) {
            (Some(c), Some(k)) => Some((c.to_owned(), k.to_owned())),
            _ => match (&s.tls_cert, &s.tls_key) {
                (Some(c), Some(k)) => Some((c.clone(), k.clone())),
                (None, None) => None,
                _ => bail!("[server] tls_cert and tls_key go together: set both or neither"),
            },
        };
        Ok(match (insecure, files) {
            (true, Some(_)) => {
                bail!("plain HTTP (--insecure-http) and a TLS certificate exclude each other")
            }
            (true, None) => Transport::InsecureHttp,
            (false, Some((cert, key))) => Transport::Files { cert, key },
            (false, None) => Transport::Generated,
        })
    }

    /// The public URL without a trailing `/` (checked by [`FileConfig::load`]).
    pub fn public_url(&self) -> Option<String> {
        self.server
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
    }

    /// The image roots: as configured, else `<data_dir>/images`; `--demo`
    /// adds the folder of its images.
    pub fn image_roots(&self, data_dir: &Path, demo: bool) -> Vec<PathBuf> {
        let mut roots = self
            .inventory
            .image_roots
            .clone()
            .unwrap_or_else(|| vec![data_dir.join(rsvault_service::images::DEFAULT_ROOT)]);
        if demo {
            roots.push(data_dir.join(crate::demo::IMAGES));
        }
        roots
    }

    /// The scheduler settings, defaults filled in.
    pub fn scheduler_settings(&self) -> rsvault_server::SchedulerSettings {
        let d = rsvault_server::SchedulerSettings::default();
        rsvault_server::SchedulerSettings {
            interval: self
                .scheduler
                .interval_seconds
                .map_or(d.interval, std::time::Duration::from_secs),
            max_concurrent_backups: self
                .scheduler
                .max_concurrent_backups
                .unwrap_or(d.max_concurrent_backups),
        }
    }

    /// The simulated clock's start, if any (checked by [`FileConfig::load`]).
    pub fn live_settings(&self) -> rsvault_service::live::LiveSettings {
        let d = rsvault_service::live::LiveSettings::default();
        rsvault_service::live::LiveSettings {
            freeze_timeout: self
                .live
                .freeze_timeout_seconds
                .map_or(d.freeze_timeout, std::time::Duration::from_secs),
            agent_timeout: self
                .live
                .agent_timeout_seconds
                .map_or(d.agent_timeout, std::time::Duration::from_secs),
            rate_limit: self.live.snapshot_rate_limit_mib.map(|m| m << 20),
        }
    }

    /// The agents' settings (`[agents]`).
    pub fn agent_settings(&self) -> rsvault_service::agents::AgentSettings {
        let d = rsvault_service::agents::AgentSettings::default();
        let secs = std::time::Duration::from_secs;
        rsvault_service::agents::AgentSettings {
            heartbeat: self.agents.heartbeat_seconds.map_or(d.heartbeat, secs),
            stale_after: self.agents.stale_after_seconds.map_or(d.stale_after, secs),
        }
    }

    /// The storage settings (`[storage]`).
    pub fn storage_settings(&self) -> rsvault_service::StorageSettings {
        let env = rsvault_engine::backend::StorageOptions::from_env;
        let default = self.storage.connection.as_ref().map(|c| c.over(env()));
        rsvault_service::StorageSettings {
            store_options: default.clone(),
            restore_root: self.storage.restore_root.clone(),
            image_roots: Vec::new(),
            store_base: self.storage.stores.clone(),
            regions: self
                .storage
                .regions
                .iter()
                .map(|(k, r)| {
                    let s = rsvault_service::regions::RegionSettings {
                        url: r.url.clone(),
                        pair: r.pair.clone(),
                        options: r
                            .connection
                            .as_ref()
                            .map(|c| c.over(default.clone().unwrap_or_else(env))),
                    };
                    (k.clone(), s)
                })
                .collect(),
        }
    }

    /// The verify settings, defaults filled in.
    pub fn verify_settings(&self) -> Result<rsvault_service::verify::VerifySettings> {
        let default_schedule = match &self.verify.schedule {
            None => Default::default(),
            Some(s) => rsvault_service::verify_schedule::parse(s)
                .map_err(|e| anyhow::anyhow!("verify.schedule: {e}"))?,
        };
        Ok(rsvault_service::verify::VerifySettings { default_schedule })
    }

    /// The job runner's settings (`[jobs]`), defaults filled in.
    pub fn job_settings(&self) -> rsvault_service::runner::JobSettings {
        let d = rsvault_service::runner::JobSettings::default();
        rsvault_service::runner::JobSettings {
            workers: self.jobs.workers.unwrap_or(d.workers),
        }
    }

    pub fn simulated_clock(&self) -> Option<jiff::Timestamp> {
        self.testing
            .simulated_clock
            .as_deref()
            .and_then(|t| t.parse().ok())
    }
}

/// A public URL is `http(s)://host[:port][/path]`, without query or fragment.
/// A database URL; errors never show its password.
fn database_url(u: &str) -> Result<rsvault_service::DatabaseUrl> {
    u.parse().map_err(|e| anyhow!("{e}"))
}

fn check_public_url(u: &str) -> Result<()> {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#', '@', ' ']) => {
            Ok(())
        }
        _ => bail!(
            "server.public_url: '{u}' must be an http:// or https:// URL with a host (no query, fragment or user)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_files_table() {
        for (text, ok) in [
            ("", true),
            (
                "listen = \"127.0.0.1:9000\"\n[scheduler]\ninterval_seconds = 5\n",
                true,
            ),
            (
                "[testing]\nsimulated_clock = \"2026-03-28T19:00:00Z\"\n",
                true,
            ),
            ("[testing]\nsimulated_clock = \"tomorrow\"\n", false),
            ("[scheduler]\ninterval_seconds = 0\n", false),
            ("[scheduler]\nmax_concurrent_backups = 0\n", false),
            (
                "[live]\nfreeze_timeout_seconds = 5\nsnapshot_rate_limit_mib = 8\n",
                true,
            ),
            ("[live]\nfreeze_timeout_seconds = 0\n", false),
            ("[live]\nsnapshot_rate_limit_mib = 0\n", false),
            ("[verify]\nschedule = \"daily 02:30\"\n", true),
            ("[verify]\nschedule = \"off\"\n", true),
            ("[verify]\nschedule = \"someday\"\n", false),
            (
                "[database]\nurl = \"postgres://rsvault@db.example/rsvault\"\n",
                true,
            ),
            (
                "[database]\nurl = \"sqlite:///var/lib/rsvault/m.db\"\n",
                true,
            ),
            ("[database]\nurl = \"mysql://u:pw@h/d\"\n", false),
            ("[database]\nuri = \"postgres://h/d\"\n", false),
            ("[database]\npool = 32\n", true),
            ("[database]\npool = 0\n", false),
            ("[database]\nurl = \"postgres://h/d?pool=0\"\n", false),
            ("[verify]\nscheduel = \"sun 03:00\"\n", false),
            ("listen = \"nowhere\"\n", false),
            (
                "[server]\npublic_url = \"https://vault.example.com/\"\ntrusted_proxies = [\"10.0.0.1\", \"::1\"]\n",
                true,
            ),
            ("[server]\npublic_url = \"vault.example.com\"\n", false),
            ("[storage]\nstores = \"s3://backups/rsvault\"\n", true),
            ("[storage]\nstores = \"/srv/stores\"\n", false),
            ("[storage]\nstores = \"file://srv/stores\"\n", false),
            ("[storage]\nstores = \"s3://\"\n", false),
            (
                "[storage.regions.japaneast]\nurl = \"az://jpe/vaults\"\npair = \"japanwest\"\n",
                true,
            ),
            ("[storage.regions.japaneast]\npair = \"JapanEast\"\n", false),
            ("[storage.regions.japaneast]\nurl = \"jpe\"\n", false),
            (
                "[storage.regions.japan-east]\npair = \"japanwest\"\n",
                false,
            ),
            ("[storage.regions.japaneast]\nbucket = \"x\"\n", false),
            ("[server]\npublic_url = \"https://x@evil\"\n", false),
            ("[server]\ntrusted_proxies = [\"proxy\"]\n", false),
            ("[inventory]\nimage_roots = [\"/srv/images\"]\n", true),
            ("[inventory]\nimage_roots = [\"images\"]\n", false),
            ("lisen = \"127.0.0.1:9000\"\n", false),
            ("[storage]\nrestore_root = \"/srv/restores\"\n", true),
            ("[storage]\nrestore_root = \"restores\"\n", false),
            ("[jobs]\nworkers = 2\n", true),
            ("[jobs]\nworkers = 0\n", false),
            ("[jobs]\nworker = 2\n", false),
        ] {
            assert_eq!(FileConfig::parse(text).is_ok(), ok, "{text:?}");
        }
        let c = FileConfig::parse("[scheduler]\ninterval_seconds = 5\n").unwrap();
        assert_eq!(c.scheduler_settings().interval.as_secs(), 5);
        assert_eq!(c.scheduler_settings().max_concurrent_backups, 2);
        let d = Path::new("/data");
        assert_eq!(c.image_roots(d, false), [d.join("images")]);
        assert_eq!(
            c.image_roots(d, true),
            [d.join("images"), d.join("demo-images")]
        );
        let c = FileConfig::parse("[inventory]\nimage_roots = [\"/srv\"]\n[server]\npublic_url = \"https://v.example/\"\n").unwrap();
        assert_eq!(c.image_roots(d, false), [PathBuf::from("/srv")]);
        assert_eq!(c.public_url().as_deref(), Some("https://v.example"));
        assert_eq!(
            c.verify_settings().unwrap().default_schedule.to_string(),
            "sun 03:00"
        );
        assert_eq!(c.job_settings().workers, 4);
        let c = FileConfig::parse("[jobs]\nworkers = 7\n").unwrap();
        assert_eq!(c.job_settings().workers, 7);
    }

    #[test]
    fn the_database_pool_size_goes_into_the_url() {
        let shown = |text: &str, flag: Option<&str>| {
            FileConfig::parse(text)
                .unwrap()
                .database(flag)
                .unwrap()
                .map(|u| u.to_string())
        };
        let pg = "[database]\nurl = \"postgres://rs@db/rsvault\"\n";
        assert_eq!(shown(pg, None).as_deref(), Some("postgres://rs@db/rsvault"));
        let sized = format!("{pg}pool = 24\n");
        assert_eq!(
            shown(&sized, None).as_deref(),
            Some("postgres://rs@db/rsvault?pool=24")
        );
        assert_eq!(
            shown(&sized, Some("postgres://rs@other/x?host=/run/pg")).as_deref(),
            Some("postgres://rs@other/x?host=/run/pg&pool=24"),
            "the flag's URL gets the file's pool"
        );
        assert_eq!(
            shown(&sized, Some("postgres://rs@other/x?pool=2")).as_deref(),
            Some("postgres://rs@other/x?pool=2"),
            "a URL's own pool wins"
        );
        assert_eq!(
            shown("[database]\npool = 24\n", Some("sqlite:///m.db")).as_deref(),
            Some("sqlite:///m.db")
        );
        assert_eq!(shown("[database]\npool = 24\n", None), None);
    }

    #[test]
    fn connections_layer_region_over_storage_and_keys_need_a_private_file() {
        let text = "[storage.connection]\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true\npath_style = true\n\
            [storage.regions.japanwest]\nurl = \"s3://b2/jpw\"\n[storage.regions.japanwest.connection]\n\
            endpoint = \"http://127.0.0.1:9100\"\naccess_key_id = \"id\"\nsecret_access_key = \"hunter2\"\n";
        let c = FileConfig::parse(text).unwrap();
        let s = c.storage_settings();
        let default = s.store_options.clone().unwrap();
        assert_eq!(default.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let jpw = s.regions["japanwest"].options.clone().unwrap();
        assert_eq!(
            (jpw.endpoint.as_deref(), jpw.allow_http, jpw.path_style),
            (Some("http://127.0.0.1:9100"), Some(true), Some(true)),
            "the region's own endpoint, the rest from [storage.connection]"
        );
        assert_eq!(
            jpw.secret_access_key.as_ref().map(|k| k.expose()),
            Some("hunter2")
        );
        assert!(!format!("{c:?}").contains("hunter2"), "keys never show");
        assert!(FileConfig::parse("[storage.connection]\nbucket = \"x\"\n").is_err());

        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rsvault.toml");
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = FileConfig::load(&f).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && !e.contains("hunter2"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        FileConfig::load(&f).unwrap();
        std::fs::write(&f, "[storage.connection]\nendpoint = \"http://x\"\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        FileConfig::load(&f).expect("no key: any mode");
    }
}
