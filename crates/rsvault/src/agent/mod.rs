//! `rsvault agent`: the VM agent and backup extension of a hypervisor host.
//! It enrols once with a token from the vault server (`rsvault host
//! enroll-token`), keeps its credential in its state directory (0600),
//! speaks HTTPS only to the certificate the token pinned, reports the
//! host's libvirt domains (and the plain QEMU VMs its `--qemu-vms` file
//! lists) at every heartbeat, and runs the backups the server hands it:
//! snapshot and read on this host, data written straight into the vault
//! store through the server's store API.

mod client;
mod qemu_vms;
mod store;

use anyhow::{Context, Result, bail};
use clap::Args;
use client::{Login, Server};
use rsvault_hypervisor::route::RoutingHypervisor;
use rsvault_hypervisor::{
    Discovery, HostDiscoveries, Hypervisor, LibvirtDiscovery, LibvirtHypervisor, QemuHypervisor,
    QemuVmsDiscovery,
};
use rsvault_service::agents::wire::{
    self, AgentTask, EnrollRequest, Enrollment, HeartbeatReply, ResultReply, TaskProgress,
};
use rsvault_service::agents::worker::{TaskChannel, Worker};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `rsvault agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The vault server, e.g. https://vault:7431.
    #[arg(long, env = "RSVAULT_AGENT_SERVER")]
    pub server: String,
    /// A one-time enrolment token (`rsvault host enroll-token`); needed on
    /// the first start only.
    #[arg(long, env = "RSVAULT_AGENT_ENROLL", hide_env_values = true)]
    pub enroll: Option<String>,
    /// The host's libvirt connection.
    #[arg(long, env = "RSVAULT_AGENT_LIBVIRT", default_value = "qemu:///system")]
    pub libvirt: String,
    /// The host runs no libvirt: only the `--qemu-vms` file's VMs.
    #[arg(long, conflicts_with = "libvirt", requires = "qemu_vms")]
    pub no_libvirt: bool,
    /// A TOML file of the host's plain QEMU VMs (no libvirt), each with
    /// its QMP socket, guest-agent socket and disks (docs/AGENTS.md).
    #[arg(long, env = "RSVAULT_AGENT_QEMU_VMS", value_name = "FILE")]
    pub qemu_vms: Option<PathBuf>,
    /// A folder the plain QEMU VMs' disks lie under; repeat for more (in
    /// the environment, `:`-separated). Their disks are read, and restored
    /// in place, only there.
    #[arg(
        long,
        value_name = "DIR",
        env = "RSVAULT_AGENT_IMAGE_ROOTS",
        value_delimiter = ':'
    )]
    pub image_root: Vec<PathBuf>,
    /// Where the agent keeps its credential and snapshots
    /// [default: /var/lib/rsvault-agent].
    #[arg(
        long,
        env = "RSVAULT_AGENT_STATE_DIR",
        default_value = "/var/lib/rsvault-agent"
    )]
    pub state_dir: PathBuf,
    /// The host's name in the vault [default: this machine's host name].
    #[arg(long, env = "RSVAULT_AGENT_NAME")]
    pub name: Option<String>,
    /// Where libvirt's backup jobs put their scratch files [default:
    /// libvirt's own qemu directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// What enrolment left in the state directory (`agent.json`, 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credential {
    server: String,
    certificate_sha256: String,
    #[serde(flatten)]
    enrollment: Enrollment,
}

const CREDENTIAL: &str = "agent.json";

fn load_credential(dir: &Path) -> Result<Option<Credential>> {
    let path = dir.join(CREDENTIAL);
    match std::fs::read(&path) {
        Ok(b) => {
            Ok(Some(serde_json::from_slice(&b).with_context(|| {
                format!("{} does not read", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

fn enroll(args: &AgentArgs, token: &str) -> Result<Credential> {
    let parsed = rsvault_service::agents::parse_token(token)
        .context("the enrolment token is malformed (it starts with rsv1.)")?;
    let http = client::pinned_client(&parsed.certificate_sha256, Duration::from_secs(60))?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => rsvault_engine::session::hostname(),
    };
    let base = args.server.trim_end_matches('/');
    let url = format!("{base}/rsvault/agent/enroll");
    let body = EnrollRequest {
        token: token.trim().to_owned(),
        host_name: name,
        agent_version: rsvault_service::agents::AGENT_VERSION.into(),
    };
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body)?)
        .send()
        .with_context(|| {
            format!("POST {url} (is the server's certificate the one the token names?)")
        })?;
    let enrollment: Enrollment = client::read_json(r, "enrolment")?;
    let cred = Credential {
        server: base.to_owned(),
        certificate_sha256: parsed.certificate_sha256,
        enrollment,
    };
    rsvault_service::images::create_private_dir(&args.state_dir)
        .with_context(|| format!("create {}", args.state_dir.display()))?;
    rsvault_service::identity::tokens::write_private(
        &args.state_dir.join(CREDENTIAL),
        &serde_json::to_vec_pretty(&cred)?,
    )
    .context("write the agent's credential")?;
    Ok(cred)
}

/// Reports a task's progress to its job.
struct Channel<'a> {
    server: &'a Server,
    task: &'a str,
}

impl TaskChannel for Channel<'_> {
    fn progress(&self, p: &TaskProgress) -> bool {
        let path = format!("/rsvault/agent/tasks/{}/progress", self.task);
        match self.server.post::<_, wire::ProgressReply>(&path, p) {
            Ok(r) => r.cancel,
            Err(e) => {
                tracing::warn!(task = %self.task, "could not report progress: {e:#}");
                false
            }
        }
    }
}

fn store_error(e: &anyhow::Error) -> wire::TaskResult {
    wire::TaskResult {
        error: Some(rsvault_arm::error::JobErrorInfo {
            error_code: Some("UserErrorVaultStoreUnavailable".into()),
            error_string: Some(format!("The agent cannot open the vault store: {e:#}")),
            recommendations: Some(vec![
                "Check the vault server's log, then run the job again.".into(),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn run_task(server: &Arc<Server>, worker: &Worker, task: &AgentTask) {
    let (kind, job) = match (&task.backup, &task.restore) {
        (Some(b), _) => ("backup", b.job.as_str()),
        (None, Some(r)) => ("restore", r.job.as_str()),
        (None, None) => {
            tracing::warn!(task = %task.id, "a task of a kind this agent does not know: ignored");
            return;
        }
    };
    tracing::info!(task = %task.id, job, kind, "task taken");
    let chan = Channel {
        server,
        task: &task.id,
    };
    let store = store::TaskStore::open(server.clone(), &task.id).and_then(|s| {
        let key = s.key()?;
        Ok(rsvault_engine::Store::open(Arc::new(s), &key)?)
    });
    let result = match (&store, &task.backup, &task.restore) {
        (Err(e), ..) => store_error(e),
        (Ok(store), Some(b), _) => worker.backup(b, store, &chan),
        (Ok(store), None, Some(r)) => worker.restore(r, store, &chan),
        (Ok(_), None, None) => return,
    };
    let path = format!("/rsvault/agent/tasks/{}/result", task.id);
    let verdict = match server.post::<_, ResultReply>(&path, &result) {
        Ok(r) => Some(r.recorded),
        Err(e) => {
            tracing::warn!(task = %task.id, "the server did not take the result: {e:#}");
            None
        }
    };
    let recorded = verdict == Some(true);
    if let Some(b) = &task.backup {
        worker.finish(b, &result, recorded);
    }
    if let Some(r) = &task.restore {
        worker.finish_restore(r, &result, verdict);
    }
    let ok = result.done.is_some() || result.restored.is_some();
    tracing::info!(task = %task.id, kind, recorded, ok, "task ended");
}

/// The host's hypervisor and its lists of VMs: libvirt's domains, and
/// the plain QEMU VMs of `--qemu-vms` (each call to the one that runs it).
fn host_of(args: &AgentArgs) -> Result<(Arc<dyn Hypervisor>, Arc<dyn Discovery>)> {
    let qemu: Arc<dyn Hypervisor> = Arc::new(QemuHypervisor::default());
    let libvirt: Arc<dyn Hypervisor> = Arc::new(match &args.work_dir {
        Some(d) => LibvirtHypervisor::new(d.clone()),
        None => LibvirtHypervisor::default(),
    });
    let mut lists: Vec<Arc<dyn Discovery>> = Vec::new();
    if !args.no_libvirt {
        lists.push(Arc::new(LibvirtDiscovery::new(args.libvirt.clone())));
    }
    if let Some(file) = &args.qemu_vms {
        let vms = qemu_vms::load(file, &args.image_root)?;
        tracing::info!(vms = vms.len(), file = %file.display(), "plain QEMU VMs");
        let uri = format!("qemu+config://{}", file.display());
        lists.push(Arc::new(QemuVmsDiscovery::new(uri, vms, qemu.clone())));
    } else if !args.image_root.is_empty() {
        bail!("--image-root is for the disks of --qemu-vms: pass that file too");
    }
    let discovery: Arc<dyn Discovery> = match lists.len() {
        1 => lists.remove(0),
        _ => Arc::new(HostDiscoveries { hosts: lists }),
    };
    Ok((Arc::new(RoutingHypervisor { qemu, libvirt }), discovery))
}

/// Runs the agent until it is stopped.
pub fn run(args: AgentArgs) -> Result<ExitCode> {
    // The host's configuration first: a mistake in it costs no token.
    let (hypervisor, discovery) = host_of(&args)?;
    let cred = match (load_credential(&args.state_dir)?, &args.enroll) {
        (Some(c), _) => {
            if args.enroll.is_some() {
                tracing::warn!(
                    "already enrolled; --enroll is ignored (delete {} to enrol again)",
                    CREDENTIAL
                );
            }
            c
        }
        (None, Some(t)) => enroll(&args, t)?,
        (None, None) => bail!(
            "this agent is not enrolled: pass --enroll TOKEN (make one with 'rsvault host enroll-token')"
        ),
    };
    let e = &cred.enrollment;
    println!(
        "rsvault agent of host {} ({}) in {} / {}, server {}",
        e.machine_id, e.host_id, e.resource_group, e.location, cred.server
    );
    let http = client::pinned_client(&cred.certificate_sha256, Duration::from_secs(120))?;
    let server = Arc::new(Server::new(
        &cred.server,
        http,
        Login {
            tenant: e.tenant_id.clone(),
            client_id: e.client_id.clone(),
            client_secret: e.client_secret.clone(),
        },
    ));
    let worker = Worker::new(hypervisor, discovery, args.state_dir.clone());
    let swept = rsvault_service::agents::leftovers::sweep(&args.state_dir);
    if swept > 0 {
        tracing::info!(
            files = swept,
            "removed what unfinished restores had left on this host"
        );
    }
    let heartbeat = format!("/rsvault/agent/hosts/{}/heartbeat", e.host_id);
    let mut interval = Duration::from_secs(10);
    loop {
        let hb = worker.heartbeat();
        match server.post::<_, HeartbeatReply>(&heartbeat, &hb) {
            Ok(reply) => {
                interval = Duration::from_secs(reply.interval_seconds.clamp(1, 300));
                for task in reply.tasks {
                    let (server, worker) = (server.clone(), worker.clone());
                    std::thread::Builder::new()
                        .name(format!("task-{}", task.id))
                        .spawn(move || run_task(&server, &worker, &task))
                        .context("start a task thread")?;
                }
            }
            Err(e) => tracing::warn!("heartbeat failed: {e:#}"),
        }
        std::thread::sleep(interval);
    }
}
