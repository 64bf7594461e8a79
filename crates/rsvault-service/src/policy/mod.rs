//! Backup policies of a vault (reading them, and the `DefaultPolicy` every
//! vault is created with).

use crate::Service;
pub mod model;
pub mod retention;
pub mod schedule;
pub mod timezone;

use crate::error::{Result, ServiceError};
use crate::vault::VaultRef;
use rsvault_arm::Resource;
use rsvault_arm::policy::{
    BackupPolicy, BackupPolicyPut, DailyRetentionSchedule, IaasVmPolicy, IaasVmPolicyType,
    InstantRpDetails, LongTermRetentionPolicy, ProtectionPolicy, RetentionDuration,
    RetentionDurationType, RetentionPolicy, SchedulePolicy, ScheduleRunType, SimpleSchedulePolicy,
};

/// The policy every vault is created with.
pub const DEFAULT_POLICY: &str = "DefaultPolicy";

/// Policies a vault holds at most.
const MAX_POLICIES: usize = 200;

/// The ARM resource type of a policy.
pub const POLICY_TYPE: &str = "Microsoft.RecoveryServices/vaults/backupPolicies";

/// The Azure error code of a policy that breaks a rule (every field, and a
/// body that does not read as a policy).
pub const INVALID_POLICY: &str = "BMSUserErrorInvalidPolicyInput";

/// Properties of `DefaultPolicy` as Azure creates it: daily at 21:00 UTC,
/// daily points kept 30 days, instant restore 2 days.
pub fn default_policy_properties() -> ProtectionPolicy {
    let t = || vec!["2020-04-28T21:00:00Z".to_owned()];
    ProtectionPolicy::AzureIaasVm(IaasVmPolicy {
        policy_type: Some(IaasVmPolicyType::V1),
        instant_rp_details: Some(InstantRpDetails::default()),
        schedule_policy: Some(SchedulePolicy::Simple(SimpleSchedulePolicy {
            schedule_run_frequency: Some(ScheduleRunType::Daily),
            schedule_run_times: Some(t()),
            schedule_weekly_frequency: Some(0),
            ..Default::default()
        })),
        retention_policy: Some(RetentionPolicy::LongTerm(LongTermRetentionPolicy {
            daily_schedule: Some(DailyRetentionSchedule {
                retention_times: Some(t()),
                retention_duration: Some(RetentionDuration {
                    count: Some(30),
                    duration_type: Some(RetentionDurationType::Days),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })),
        instant_rp_retention_range_in_days: Some(2),
        time_zone: Some("UTC".into()),
        ..Default::default()
    })
}

/// Whether a policy is Enhanced (V2).
pub fn is_enhanced(p: &BackupPolicy) -> bool {
    p.properties
        .as_iaas_vm()
        .and_then(|p| p.policy_type.as_ref())
        .is_some_and(|t| *t == IaasVmPolicyType::V2)
}

/// A stored policy's properties read into their model (an unreadable one,
/// which validation never stores, reads as an empty object).
pub(crate) fn stored_properties(json: &str) -> ProtectionPolicy {
    serde_json::from_str(json).unwrap_or_else(|e| {
        tracing::warn!("a stored policy does not read: {e}");
        ProtectionPolicy::Other(Default::default())
    })
}

fn envelope(v: &VaultRef, name: &str, mut props: ProtectionPolicy, count: u64) -> BackupPolicy {
    match &mut props {
        ProtectionPolicy::AzureIaasVm(p) => p.protected_items_count = Some(count),
        ProtectionPolicy::Other(m) => {
            m.insert("protectedItemsCount".into(), count.into());
        }
    }
    Resource {
        id: Some(format!("{}/backupPolicies/{name}", v.id())),
        name: Some(name.to_owned()),
        kind: Some(POLICY_TYPE.into()),
        ..Resource::with_properties(props)
    }
}

/// Checks a policy name: 3–150 characters, a letter first, then letters,
/// digits, `-`, `_` or `!`.
pub fn check_policy_name(name: &str) -> Result<()> {
    let ok = (3..=150).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_!".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(
            INVALID_POLICY,
            format!(
                "The policy name '{name}' is invalid: it must be 3 to 150 characters long, start with a letter, and contain only letters, numbers, '-', '_' and '!'."
            ),
        ))
    }
}

/// The stored form of valid policy properties: the client's body with the
/// defaults Azure fills in made explicit.
fn normalized(mut p: IaasVmPolicy, policy: &model::Policy) -> ProtectionPolicy {
    p.policy_type = Some(match policy.version {
        model::PolicyVersion::V1 => IaasVmPolicyType::V1,
        model::PolicyVersion::V2 => IaasVmPolicyType::V2,
    });
    p.instant_rp_retention_range_in_days = Some(policy.instant_rp_days);
    p.time_zone = Some(policy.time_zone_name.clone());
    p.instant_rp_details.get_or_insert_with(Default::default);
    p.protected_items_count = None;
    ProtectionPolicy::AzureIaasVm(p)
}

impl Service {
    /// Creates or replaces a policy after validating it.
    pub fn put_policy(
        &self,
        v: &VaultRef,
        name: &str,
        body: BackupPolicyPut,
    ) -> Result<BackupPolicy> {
        self.put_policy_as(v, name, body, &crate::mua::Approval::none())
    }

    /// [`Service::put_policy`], with what the request brings to approve a
    /// change that shortens retention in a vault linked to a resource guard.
    pub fn put_policy_as(
        &self,
        v: &VaultRef,
        name: &str,
        body: BackupPolicyPut,
        approval: &crate::mua::Approval,
    ) -> Result<BackupPolicy> {
        check_policy_name(name)?;
        let vault = self.vault_row(v)?;
        let props = body
            .properties
            .unwrap_or_else(|| ProtectionPolicy::Other(Default::default()));
        let policy = model::Policy::parse(&props)?;
        if let Some(old) = self.stored_retention(vault.rowid, name)?
            && let Some(why) = crate::immutability::shortens(&old, &policy.retention)
        {
            if crate::immutability::of(&vault.properties).on() {
                return Err(crate::immutability::denied_retention(
                    &format!("changing policy '{name}'"),
                    &why,
                ));
            }
            self.approve(&vault, crate::mua::Critical::UpdatePolicy, approval)?;
        }
        let ProtectionPolicy::AzureIaasVm(mut props) = props else {
            return Err(ServiceError::Internal(
                "a valid policy is a VM policy".into(),
            ));
        };
        // An approval is for the one request.
        props.resource_guard_operation_requests = None;
        let stored = serde_json::to_string(&normalized(props, &policy))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let name = self
            .meta
            .save_policy(vault.rowid, name, &stored, MAX_POLICIES)?
            .ok_or_else(|| {
                ServiceError::bad_request(INVALID_POLICY, "A vault holds at most 200 policies.")
            })?;
        self.get_policy(v, &name)
    }

    /// The retention of a stored policy, if the vault has one of that name.
    pub(crate) fn stored_retention(
        &self,
        vault: i64,
        name: &str,
    ) -> Result<Option<model::Retention>> {
        let Some(p) = self.meta.find_policy(vault, name)? else {
            return Ok(None);
        };
        let props: ProtectionPolicy = serde_json::from_str(&p.properties)
            .map_err(|e| ServiceError::Internal(format!("stored policy '{name}': {e}")))?;
        Ok(Some(model::Policy::parse(&props)?.retention))
    }

    /// Deletes a policy that protects no item.
    pub fn delete_policy(&self, v: &VaultRef, name: &str) -> Result<()> {
        let vault = self.vault_row(v)?;
        let used = self.policy_item_count(vault.rowid, name)?;
        if used > 0 {
            return Err(ServiceError::bad_request(
                "BMSUserErrorPolicyInUse",
                format!(
                    "Policy '{name}' protects {used} item(s); move them to another policy before deleting it."
                ),
            ));
        }
        if !self.meta.delete_policy(vault.rowid, name)? {
            return Err(ServiceError::not_found(
                "BMSUserErrorPolicyNotExist",
                format!("The policy '{name}' does not exist in vault '{}'.", v.name),
            ));
        }
        Ok(())
    }

    /// Reads a policy.
    pub fn get_policy(&self, v: &VaultRef, name: &str) -> Result<BackupPolicy> {
        let vault = self.vault_row(v)?;
        let found = self
            .meta
            .find_policy(vault.rowid, name)?
            .map(|p| (p.name, p.properties));
        let (name, props) = found.ok_or_else(|| {
            ServiceError::not_found(
                "BMSUserErrorPolicyNotExist",
                format!("The policy '{name}' does not exist in vault '{}'.", v.name),
            )
        })?;
        let count = self.policy_item_count(vault.rowid, &name)?;
        Ok(envelope(v, &name, stored_properties(&props), count))
    }

    /// Lists a vault's policies that match a `$filter`
    /// (`backupManagementType`: every policy here is `AzureIaasVM`).
    pub fn list_policies(&self, v: &VaultRef, filter: &str) -> Result<Vec<BackupPolicy>> {
        let vault = self.vault_row(v)?;
        let f = crate::filter::Filter::parse(filter)?;
        if !f.management_type_matches() {
            return Ok(Vec::new());
        }
        self.meta
            .list_policies(vault.rowid)?
            .into_iter()
            .map(|p| {
                let count = self.policy_item_count(vault.rowid, &p.name)?;
                Ok(envelope(
                    v,
                    &p.name,
                    stored_properties(&p.properties),
                    count,
                ))
            })
            .collect()
    }
}
