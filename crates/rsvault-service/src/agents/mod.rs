//! The rsvault agent's side of the vault server: hypervisor hosts that
//! enrol with a one-time token, report their VMs at every heartbeat and run
//! the backups of those VMs themselves (Azure's VM agent and backup
//! extension).
//!
//! - Enrolment ([`Service::create_enroll_token`], [`Service::enroll_host`]):
//!   an owner makes a token for a resource group and region; the agent
//!   trades it, once, for a service principal holding the `rsvault Backup
//!   Agent` role on that group. The token also carries the SHA-256 of the
//!   server's certificate, which the agent pins; the server keeps only the
//!   token's hash.
//! - Heartbeats ([`Service::host_heartbeat`]): the host's VMs become VMs of
//!   the group (as libvirt domains of the server's own host do,
//!   [`crate::hosts`]), reached at `rsvault-agent://<host id>`. Their disk
//!   paths are the host's: the server never opens them.
//! - Health: a host not heard from for [`AgentSettings::stale_after`] is
//!   `Disconnected`, and backups of its VMs fail at once with
//!   `UserErrorGuestAgentStatusUnavailable`.
//! - Backups ([`run`]): the job hands the host a task; the agent snapshots
//!   and reads the disks, writes the data through the task's store API
//!   ([`board`]), and reports the engine points, which the server checks in
//!   the store before it records the recovery point.

pub mod board;
pub mod leftovers;
mod restore_task;
pub(crate) mod run;
pub mod wire;
pub mod worker;

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::hosts::HostConfig;
use crate::metastore::{EnrollTokenRecord, HostRecord};
use rsvault_arm::Resource;
use rsvault_arm::hybrid::{
    DetectedProperties, EnrollmentToken, MachineProperties, MachineResource,
};
use std::time::Duration;

/// How VMs of an agent's host are reached: `rsvault-agent://<host id>`.
pub const AGENT_SCHEME: &str = "rsvault-agent://";

/// This build's agent version.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The prefix of an enrolment token.
const TOKEN_PREFIX: &str = "rsv1";

/// The connection URI of an agent's host.
pub fn agent_uri(host_id: &str) -> String {
    format!("{AGENT_SCHEME}{host_id}")
}

/// The host id of an agent's connection URI.
pub fn agent_host_of(uri: &str) -> Option<&str> {
    uri.strip_prefix(AGENT_SCHEME).filter(|h| !h.is_empty())
}

/// Knobs of the agents (`[agents]` in the server's config).
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// How often agents send heartbeats.
    pub heartbeat: Duration,
    /// A host not heard from for this long is disconnected.
    pub stale_after: Duration,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            heartbeat: Duration::from_secs(10),
            stale_after: Duration::from_secs(45),
        }
    }
}

/// The agents' state in the server: settings and the task board.
#[derive(Debug, Default)]
pub struct Agents {
    settings: std::sync::RwLock<AgentSettings>,
    pub(crate) board: board::Board,
}

/// The parts of an enrolment token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken {
    pub secret: String,
    /// Hex SHA-256 of the server certificate the agent must see.
    pub certificate_sha256: String,
}

/// Reads `rsv1.<secret>.<certificate sha-256>`.
pub fn parse_token(token: &str) -> Option<ParsedToken> {
    let mut parts = token.trim().split('.');
    let (Some(TOKEN_PREFIX), Some(secret), Some(cert), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let hex64 = cert.len() == 64 && cert.chars().all(|c| c.is_ascii_hexdigit());
    (secret.len() >= 32 && hex64).then(|| ParsedToken {
        secret: secret.to_owned(),
        certificate_sha256: cert.to_ascii_lowercase(),
    })
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

fn bad_token() -> ServiceError {
    ServiceError::Forbidden {
        code: "InvalidEnrollmentToken".into(),
        message: "The enrolment token is not valid: it is malformed, was used already or has expired. Make a new one with 'rsvault host enroll-token'.".into(),
    }
}

fn task_gone() -> ServiceError {
    ServiceError::not_found(
        "TaskNotFound",
        "The task is not running: its job ended (cancelled, failed or timed out).",
    )
}

fn ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

/// A machine's ARM id.
pub fn machine_id(subscription: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.HybridCompute/machines/{name}"
    )
}

impl Service {
    /// The agent settings in force.
    pub fn agent_settings(&self) -> AgentSettings {
        self.agents.settings.read().expect("lock").clone()
    }

    /// Changes the agent settings.
    pub fn set_agent_settings(&self, s: AgentSettings) {
        *self.agents.settings.write().expect("lock") = s;
    }

    /// Makes a one-time enrolment token for a host whose VMs appear in
    /// `resource_group` and `location`; `certificate_sha256` is the
    /// fingerprint of the certificate this server presents.
    pub fn create_enroll_token(
        &self,
        subscription: &str,
        resource_group: &str,
        location: &str,
        minutes: Option<u32>,
        created_by: &str,
        certificate_sha256: &str,
    ) -> Result<EnrollmentToken> {
        crate::names::check_resource_group_name(resource_group)?;
        crate::names::check_location(location, "Microsoft.HybridCompute/machines")?;
        let minutes = minutes.unwrap_or(60);
        if !(1..=1440).contains(&minutes) {
            return Err(ServiceError::bad_request(
                "InvalidParameter",
                format!("expiresInMinutes: {minutes} is not between 1 and 1440."),
            ));
        }
        let location = location.replace(' ', "").to_ascii_lowercase();
        let secret = crate::identity::secrets::new_secret().replace(['.', '~'], "_");
        let secret = format!(
            "{secret}{}",
            crate::identity::secrets::new_guid().replace('-', "")
        );
        let expires = self
            .now()
            .checked_add(jiff::SignedDuration::from_mins(i64::from(minutes)))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.meta.insert_enroll_token(&EnrollTokenRecord {
            hash: sha256_hex(secret.as_bytes()),
            subscription: subscription.to_owned(),
            resource_group: resource_group.to_owned(),
            location: location.clone(),
            expires_ms: ms(expires),
            created_by: created_by.to_owned(),
        })?;
        Ok(EnrollmentToken {
            token: format!("{TOKEN_PREFIX}.{secret}.{certificate_sha256}"),
            expires_on: expires.to_string(),
            resource_group: resource_group.to_owned(),
            location,
            server_certificate_sha256: certificate_sha256.to_owned(),
            ..Default::default()
        })
    }

    /// Trades an enrolment token for a host and its agent's principal;
    /// returns the host and the principal's secret (shown once).
    pub fn enroll_host(
        &self,
        token: &str,
        host_name: &str,
        agent_version: &str,
    ) -> Result<(HostRecord, String, String)> {
        let parsed = parse_token(token).ok_or_else(bad_token)?;
        let t = self
            .meta
            .take_enroll_token(&sha256_hex(parsed.secret.as_bytes()), ms(self.now()))?
            .ok_or_else(bad_token)?;
        crate::inventory::check_vm_name(host_name).map_err(|_| {
            ServiceError::bad_request(
                "InvalidParameter",
                format!("hostName: '{}' is not a valid machine name (1 to 64 letters, digits, '-', '_' or '.').", host_name.escape_debug()),
            )
        })?;
        if self
            .meta
            .host_by_name(&t.subscription, &t.resource_group, host_name)?
            .is_some()
        {
            return Err(ServiceError::conflict(
                "MachineAlreadyEnrolled",
                format!(
                    "A host named '{host_name}' is already enrolled in resource group '{}'. Delete it first ('rsvault host delete'), or enrol under another name.",
                    t.resource_group
                ),
            ));
        }
        let (p, secret) = self.create_service_principal(&format!("rsvault-agent-{host_name}"))?;
        let host = HostRecord {
            id: crate::identity::secrets::new_guid(),
            subscription: t.subscription.clone(),
            resource_group: t.resource_group.clone(),
            name: host_name.to_owned(),
            location: t.location.clone(),
            principal: p.object_id.clone(),
            agent_version: agent_version.to_owned(),
            enrolled: self.now().to_string(),
            last_contact_ms: Some(ms(self.now())),
            last_error: None,
        };
        let assigned = self.create_role_assignment(
            &crate::identity::assignments::NewAssignment {
                scope: format!(
                    "/subscriptions/{}/resourceGroups/{}",
                    t.subscription, t.resource_group
                ),
                name: crate::identity::secrets::new_guid(),
                role_definition_id: crate::identity::roles::BACKUP_AGENT.into(),
                principal_id: p.object_id.clone(),
                principal_type: Some("ServicePrincipal".into()),
                description: Some(format!("The rsvault agent of host {host_name}")),
            },
            &t.created_by,
        );
        let inserted = assigned.and_then(|_| Ok(self.meta.insert_host(&host)?));
        if !matches!(inserted, Ok(true)) {
            let _ = self.delete_principal(&p.object_id);
            inserted?;
            return Err(ServiceError::conflict(
                "MachineAlreadyEnrolled",
                format!("A host named '{host_name}' was enrolled meanwhile."),
            ));
        }
        tracing::info!(host = %host.id, name = %host_name, resource_group = %host.resource_group, "host enrolled");
        Ok((host, p.app_id.unwrap_or_default(), secret))
    }

    /// The host an agent's principal speaks for, or 403.
    pub fn agent_host(&self, host_id: &str, caller_oid: &str) -> Result<HostRecord> {
        match self.meta.host(host_id)? {
            Some(h) if h.principal == caller_oid => Ok(h),
            _ => Err(ServiceError::forbidden(
                "AuthorizationFailed",
                format!("The caller is not the agent of host '{host_id}'."),
            )),
        }
    }

    /// Whether a host was heard from recently enough.
    pub(crate) fn host_connected(&self, h: &HostRecord) -> bool {
        let stale =
            i64::try_from(self.agent_settings().stale_after.as_millis()).unwrap_or(i64::MAX);
        h.last_contact_ms
            .is_some_and(|t| ms(self.now()).saturating_sub(t) <= stale)
    }

    /// A heartbeat: the host's VMs into the inventory, and the tasks
    /// waiting for it.
    pub fn host_heartbeat(
        &self,
        host_id: &str,
        caller_oid: &str,
        hb: &wire::Heartbeat,
    ) -> Result<wire::HeartbeatReply> {
        let h = self.agent_host(host_id, caller_oid)?;
        let error = match (&hb.vms, &hb.error) {
            (None, None) => Some("the agent did not list its VMs".to_owned()),
            (_, e) => e.clone(),
        };
        self.meta
            .touch_host(&h.id, ms(self.now()), &hb.agent_version, error.as_deref())?;
        if let Some(vms) = &hb.vms {
            let uri = agent_uri(&h.id);
            let listed = vms.iter().map(|v| v.to_host_vm(&uri)).collect();
            let config = HostConfig {
                discovery: std::sync::Arc::new(crate::hosts::Reported::new(uri, listed)),
                subscription: h.subscription.clone(),
                resource_group: h.resource_group.clone(),
                location: h.location.clone(),
            };
            self.refresh_reported(config)?;
        }
        Ok(wire::HeartbeatReply {
            interval_seconds: self.agent_settings().heartbeat.as_secs().max(1),
            tasks: self.agents.board.take_queued(&h.id),
        })
    }

    /// The host a running task is for, if the caller is its agent.
    fn task_host(&self, task: &str, caller_oid: &str) -> Result<HostRecord> {
        let host = self.agents.board.host_of(task).ok_or_else(task_gone)?;
        self.agent_host(&host, caller_oid)
    }

    /// Progress of a task; answers whether its job was cancelled.
    pub fn agent_progress(
        &self,
        task: &str,
        caller_oid: &str,
        p: &wire::TaskProgress,
    ) -> Result<wire::ProgressReply> {
        let h = self.task_host(task, caller_oid)?;
        let cancel = self
            .agents
            .board
            .progress(task, &h.id, p)
            .ok_or_else(task_gone)?;
        Ok(wire::ProgressReply { cancel })
    }

    /// A task's result; waits for the job to record (or not) its point.
    pub fn agent_result(
        &self,
        task: &str,
        caller_oid: &str,
        r: wire::TaskResult,
    ) -> Result<wire::ResultReply> {
        let h = self.task_host(task, caller_oid)?;
        let recorded = self
            .agents
            .board
            .report(task, &h.id, r, Duration::from_secs(300))
            .ok_or_else(task_gone)?;
        Ok(wire::ResultReply { recorded })
    }

    /// The store of a running task, for its agent: the backend and what
    /// the agent needs to write to it.
    pub fn agent_task_store(
        &self,
        task: &str,
        caller_oid: &str,
    ) -> Result<(
        std::sync::Arc<dyn rsvault_engine::backend::Backend>,
        wire::StoreInfo,
    )> {
        let h = self.task_host(task, caller_oid)?;
        let store = self
            .agents
            .board
            .store_of(task, &h.id)
            .ok_or_else(task_gone)?;
        let backend = self.stores.open(&store)?;
        let key = rsvault_engine::MasterKey::load(&self.key_path(&store)?)?;
        let info = wire::StoreInfo {
            location: format!("vault store of job {}", task),
            key: hex::encode(key.to_bytes()),
            conditional_puts: backend.conditional_puts()?,
            parallel_writes: backend.parallel_writes(),
        };
        Ok((backend, info))
    }

    fn machine_view(&self, h: &HostRecord) -> MachineResource {
        let connected = self.host_connected(h);
        let status = match (connected, &h.last_error) {
            (false, _) => "Disconnected",
            (true, Some(_)) => "Error",
            (true, None) => "Connected",
        };
        let last = h
            .last_contact_ms
            .and_then(|t| jiff::Timestamp::from_millisecond(t).ok())
            .map(|t| t.to_string());
        let vms = self.reported_vm_count(&agent_uri(&h.id));
        let errors = match (connected, &h.last_error) {
            (false, _) => Some(vec![rsvault_arm::ErrorDetail {
                code: "UserErrorGuestAgentStatusUnavailable".into(),
                message: format!(
                    "The agent on host '{}' has not sent a heartbeat since {}. Check that 'rsvault agent' runs on the host and reaches the vault server.",
                    h.name,
                    last.as_deref().unwrap_or("enrolment")
                ),
                ..Default::default()
            }]),
            (true, Some(e)) => Some(vec![rsvault_arm::ErrorDetail {
                code: "UserErrorHypervisorUnavailable".into(),
                message: format!("The agent cannot list the host's VMs: {e}"),
                ..Default::default()
            }]),
            (true, None) => None,
        };
        let props = MachineProperties {
            provisioning_state: Some("Succeeded".into()),
            status: Some(status.into()),
            last_status_change: last,
            agent_version: Some(h.agent_version.clone()),
            vm_id: Some(h.id.clone()),
            display_name: Some(h.name.clone()),
            os_type: Some("linux".into()),
            error_details: errors,
            detected_properties: Some(DetectedProperties {
                vm_count: Some(vms.to_string()),
                enrolled: Some(h.enrolled.clone()),
                principal_id: Some(h.principal.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        Resource {
            id: Some(machine_id(&h.subscription, &h.resource_group, &h.name)),
            name: Some(h.name.clone()),
            kind: Some("Microsoft.HybridCompute/machines".into()),
            location: Some(h.location.clone()),
            tags: Some(Default::default()),
            ..Resource::with_properties(props)
        }
    }

    /// The hosts of a subscription or one of its groups.
    pub fn list_machines(
        &self,
        subscription: &str,
        resource_group: Option<&str>,
    ) -> Result<Vec<MachineResource>> {
        Ok(self
            .meta
            .list_hosts(subscription, resource_group)?
            .iter()
            .map(|h| self.machine_view(h))
            .collect())
    }

    fn machine_record(&self, subscription: &str, rg: &str, name: &str) -> Result<HostRecord> {
        self.meta.host_by_name(subscription, rg, name)?.ok_or_else(|| {
            ServiceError::not_found(
                "ResourceNotFound",
                format!("The Resource 'Microsoft.HybridCompute/machines/{name}' under resource group '{rg}' was not found."),
            )
        })
    }

    /// One host.
    pub fn get_machine(&self, subscription: &str, rg: &str, name: &str) -> Result<MachineResource> {
        Ok(self.machine_view(&self.machine_record(subscription, rg, name)?))
    }

    /// Removes a host: its agent's principal goes (its tokens stop working)
    /// and its VMs are marked removed; their recovery points stay.
    pub fn delete_machine(&self, subscription: &str, rg: &str, name: &str) -> Result<()> {
        let h = self.machine_record(subscription, rg, name)?;
        self.meta.delete_host(&h.id)?;
        if let Err(e) = self.delete_principal(&h.principal) {
            tracing::warn!(host = %h.id, "could not delete the agent's principal: {e}");
        }
        let uri = agent_uri(&h.id);
        self.refresh_reported(HostConfig {
            discovery: std::sync::Arc::new(crate::hosts::Reported::new(uri, Vec::new())),
            subscription: h.subscription,
            resource_group: h.resource_group,
            location: h.location,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
