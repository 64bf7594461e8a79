//! Command-line interface definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// rsvault: a self-hosted Recovery Services vault for virtual machines.
#[derive(Debug, Parser)]
#[command(name = "rsvault", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v, -vv, before the command); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the vault server: the Azure Recovery Services REST API.
    Serve(ServeArgs),
    /// Back up, restore and check disk images in a local vault store.
    #[command(subcommand)]
    Disk(DiskCommand),
    /// Manage vaults, policies, protection, jobs, recovery points and restores
    /// on an rsvault server, as `az backup` does.
    Backup(crate::backup_cmd::BackupArgs),
    /// Manage the server's virtual machines (disk images on its host), as `az vm` does.
    Vm(crate::vm_cmd::VmArgs),
    /// Manage the server's storage accounts (the targets of restore-disks), as `az storage` does.
    Storage(crate::storage_cmd::StorageArgs),
    /// Manage the server's principals (service principals and users), as `az ad` does.
    Ad(crate::ad_cmd::AdArgs),
    /// Manage role assignments and list role definitions, as `az role` does.
    Role(crate::role_cmd::RoleArgs),
    /// Get an access token for the server, as `az account get-access-token` does.
    Account(crate::ad_cmd::AccountArgs),
    /// Manage resource guards (multi-user authorization), as `az dataprotection resource-guard` does.
    Dataprotection(crate::guard_cmd::GuardArgs),
    /// Read the activity log, as `az monitor activity-log` does.
    Monitor(crate::monitor_cmd::MonitorArgs),
    /// Manage the hypervisor hosts that run the rsvault agent, and make their enrolment tokens.
    Host(crate::host_cmd::HostArgs),
    /// Run the agent of a hypervisor host: enrol with a token once, then report the host's VMs and run their backups.
    Agent(crate::agent::AgentArgs),
}

/// `rsvault serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:7431].
    #[arg(long, env = "RSVAULT_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// Where metadata, vault stores, keys and the identity (token keys, the
    /// host Owner's credential) live
    /// (default: $XDG_DATA_HOME/rsvault or ~/.local/share/rsvault).
    #[arg(long, env = "RSVAULT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The metadata database: postgres://user@host/database (PostgreSQL) or
    /// sqlite:///path/metadata.db [default: SQLite at <data-dir>/metadata.db].
    #[arg(long, env = "RSVAULT_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// A TOML configuration file (see docs/CONFIG.md); flags override it.
    #[arg(long, env = "RSVAULT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Also register demo VMs in two regions, with small disk images
    /// holding real file systems, to try the whole workflow at once.
    #[arg(long)]
    pub demo: bool,
    /// The server's TLS certificate chain (PEM) [default: a self-signed
    /// certificate made on first start at <data-dir>/tls/server.crt].
    #[arg(long, env = "RSVAULT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "RSVAULT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Speak plain HTTP instead of HTTPS: for tests on loopback, or behind a
    /// TLS-terminating proxy named by [server] public_url. Azure's clients
    /// refuse bearer tokens over plain HTTP.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub insecure_http: bool,
    /// Make this machine a libvirt host: its domains (e.g. on
    /// qemu:///system) appear as VMs, backed up through libvirt's backup API.
    #[arg(long, env = "RSVAULT_LIBVIRT")]
    pub libvirt: Option<String>,
    /// The resource group of the libvirt host's VMs [default: rg-libvirt].
    #[arg(long, requires = "libvirt")]
    pub libvirt_resource_group: Option<String>,
    /// The region of the libvirt host's VMs [default: japaneast].
    #[arg(long, requires = "libvirt")]
    pub libvirt_location: Option<String>,
}

/// The store and its key.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The vault store: a directory, or a storage URL (`file:///path`,
    /// `s3://bucket/prefix`, `az://container/prefix`).
    #[arg(long, env = "RSVAULT_STORE")]
    pub store: String,
    /// The store's key file (kept outside the store).
    #[arg(long, env = "RSVAULT_KEY_FILE")]
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Raw,
    Qcow2,
}

#[derive(Debug, Subcommand)]
pub enum DiskCommand {
    /// Create a store and a new key file for it.
    Init {
        #[command(flatten)]
        store: StoreArgs,
        /// Store data without encryption (blobs are still authenticated).
        #[arg(long)]
        no_encryption: bool,
        /// Chunk size in KiB (a power of two, 4 to 4096).
        #[arg(long, default_value_t = 64)]
        chunk_size_kib: u32,
        /// zstd level (1 is fast; 3 to 19 store less and back up slower).
        #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-7..=19))]
        compression_level: i32,
    },
    /// Back up a disk image (raw, qcow2, VHD or VHDX) as a new recovery point.
    Backup {
        #[command(flatten)]
        store: StoreArgs,
        /// Name of the disk in the store; points of one name form its history.
        #[arg(long)]
        name: String,
        /// File of byte ranges changed since the previous point (`OFFSET LENGTH`
        /// lines, or JSON); only those ranges are read.
        #[arg(long)]
        changed_ranges: Option<PathBuf>,
        /// Worker threads (default: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print the recovery point as JSON.
        #[arg(long)]
        json: bool,
        /// The image file.
        image: PathBuf,
    },
    /// List the recovery points of a disk.
    Points {
        #[command(flatten)]
        store: StoreArgs,
        /// Name of the disk (all disks when omitted).
        #[arg(long)]
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a recovery point to an image file.
    Restore {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        name: String,
        /// Recovery point id (or a unique prefix), or `latest`.
        #[arg(long, default_value = "latest")]
        point: String,
        #[arg(long, value_enum, default_value = "raw")]
        format: Format,
        /// Output image file (replaced atomically when the restore succeeds).
        #[arg(long)]
        output: PathBuf,
        /// Worker threads (default: automatic).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Do not fsync the image before returning.
        #[arg(long)]
        no_sync: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete a recovery point (space is reclaimed by `gc`).
    Forget {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        point: String,
        #[arg(long)]
        json: bool,
    },
    /// Copy every recovery point the secondary store lacks to it (a
    /// geo-redundant copy), and forget there the points the primary forgot;
    /// only blobs the secondary lacks are copied, and a run that stopped
    /// part way is resumed.
    Replicate {
        #[command(flatten)]
        store: StoreArgs,
        /// The secondary store's URL or directory; the primary's key opens it.
        #[arg(long)]
        to: String,
        /// Create the secondary first (it must not exist yet).
        #[arg(long)]
        init: bool,
        #[arg(long)]
        json: bool,
    },
    /// Reclaim the space of forgotten points; safe while backups run.
    Gc {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Read and check everything; exits non-zero when anything is damaged.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
}
