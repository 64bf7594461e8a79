//! Backup policies (`backupPolicies`): AzureIaasVM policies, Standard (V1)
//! and Enhanced (V2), with their schedule and long-term retention.

use crate::common::{BackupManagementType, DayOfWeek, MonthOfYear, WeekOfMonth};
use crate::resource::{Extra, Resource, ResourceBody};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A backup policy.
pub type BackupPolicy = Resource<ProtectionPolicy>;
/// The body of a policy PUT (the server requires the properties).
pub type BackupPolicyPut = ResourceBody<ProtectionPolicy>;

crate::arm_union! {
    /// `properties` of a policy, by `backupManagementType`.
    pub enum ProtectionPolicy tag "backupManagementType" {
        /// An Azure IaaS VM policy.
        AzureIaasVm("AzureIaasVM") => IaasVmPolicy,
    }
}

impl ProtectionPolicy {
    /// The VM policy, if this is one.
    pub fn as_iaas_vm(&self) -> Option<&IaasVmPolicy> {
        match self {
            ProtectionPolicy::AzureIaasVm(p) => Some(p),
            ProtectionPolicy::Other(_) => None,
        }
    }

    /// The `backupManagementType`.
    pub fn management_type(&self) -> BackupManagementType {
        self.kind().into()
    }
}

crate::arm_enum! {
    /// `policyType`: Standard (V1) or Enhanced (V2).
    pub enum IaasVmPolicyType { Invalid, V1, V2 }
}

crate::arm_enum! {
    /// How often a schedule runs.
    pub enum ScheduleRunType { Invalid, Daily, Weekly, Hourly }
}

crate::arm_enum! {
    /// The unit of a retention duration or of a tiering duration.
    pub enum RetentionDurationType { Invalid, Days, Weeks, Months, Years }
}

crate::arm_enum! {
    /// Whether monthly and yearly retention name dates (`Daily`) or
    /// weekdays of weeks (`Weekly`).
    pub enum RetentionScheduleFormat { Invalid, Daily, Weekly }
}

crate::arm_enum! {
    /// When recovery points move to the archive tier.
    pub enum TieringMode { Invalid, TierRecommended, TierAfter, DoNotTier }
}

/// `properties` of an AzureIaasVM policy (AzureIaaSVMProtectionPolicy).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasVmPolicy {
    /// How many items the policy protects (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_items_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<IaasVmPolicyType>,
    #[serde(
        rename = "instantRPDetails",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instant_rp_details: Option<InstantRpDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_policy: Option<SchedulePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicy>,
    /// Tiering by tier name (`ArchivedRP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiering_policy: Option<BTreeMap<String, TieringPolicy>>,
    /// Days the instant (snapshot) tier keeps a point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instant_rp_retention_range_in_days: Option<u32>,
    /// A Windows time zone name (`UTC`, `Pacific Standard Time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_consistency_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_guard_operation_requests: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `instantRPDetails`: how instant-restore resource groups are named.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InstantRpDetails {
    #[serde(
        rename = "azureBackupRGNamePrefix",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub azure_backup_rg_name_prefix: Option<String>,
    #[serde(
        rename = "azureBackupRGNameSuffix",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub azure_backup_rg_name_suffix: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::arm_union! {
    /// `schedulePolicy`, by `schedulePolicyType`.
    pub enum SchedulePolicy tag "schedulePolicyType" {
        /// The Standard (V1) schedule: daily or weekly.
        Simple("SimpleSchedulePolicy") => SimpleSchedulePolicy,
        /// The Enhanced (V2) schedule: hourly, daily or weekly.
        SimpleV2("SimpleSchedulePolicyV2") => SimpleSchedulePolicyV2,
    }
}

/// SimpleSchedulePolicy (V1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleSchedulePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run_frequency: Option<ScheduleRunType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run_days: Option<Vec<DayOfWeek>>,
    /// ISO 8601 times; only the time of day (UTC) counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run_times: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_schedule: Option<HourlySchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_weekly_frequency: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// SimpleSchedulePolicyV2 (Enhanced).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleSchedulePolicyV2 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run_frequency: Option<ScheduleRunType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_schedule: Option<HourlySchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_schedule: Option<DailySchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_schedule: Option<WeeklySchedule>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `hourlySchedule`: every `interval` hours within a window.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourlySchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_window_start_time: Option<String>,
    /// Hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_window_duration: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `dailySchedule` of a V2 schedule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailySchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run_times: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `weeklySchedule` of a V2 schedule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeeklySchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run_days: Option<Vec<DayOfWeek>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run_times: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

crate::arm_union! {
    /// `retentionPolicy`, by `retentionPolicyType`.
    pub enum RetentionPolicy tag "retentionPolicyType" {
        /// Daily, weekly, monthly and yearly tiers.
        LongTerm("LongTermRetentionPolicy") => LongTermRetentionPolicy,
        /// One duration for every point.
        Simple("SimpleRetentionPolicy") => SimpleRetentionPolicy,
    }
}

/// LongTermRetentionPolicy: the tiers a point is kept in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LongTermRetentionPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_schedule: Option<DailyRetentionSchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_schedule: Option<WeeklyRetentionSchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_schedule: Option<MonthlyRetentionSchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly_schedule: Option<YearlyRetentionSchedule>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// SimpleRetentionPolicy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleRetentionPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<RetentionDuration>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// How long a tier keeps a point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionDuration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_type: Option<RetentionDurationType>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The daily tier.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyRetentionSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_times: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<RetentionDuration>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The weekly tier.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyRetentionSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_the_week: Option<Vec<DayOfWeek>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_times: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<RetentionDuration>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The monthly tier, in the daily format (dates) or the weekly one
/// (weekdays of weeks).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyRetentionSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_schedule_format_type: Option<RetentionScheduleFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_schedule_daily: Option<DailyRetentionFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_schedule_weekly: Option<WeeklyRetentionFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_times: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<RetentionDuration>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The yearly tier: months of the year, and days in them as for monthly.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct YearlyRetentionSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_schedule_format_type: Option<RetentionScheduleFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months_of_year: Option<Vec<MonthOfYear>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_schedule_daily: Option<DailyRetentionFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_schedule_weekly: Option<WeeklyRetentionFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_times: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_duration: Option<RetentionDuration>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The daily format of monthly and yearly retention: dates of the month.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyRetentionFormat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_the_month: Option<Vec<Day>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A date of the month (1–28), or the last day.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_last: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The weekly format of monthly and yearly retention.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyRetentionFormat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_the_week: Option<Vec<DayOfWeek>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weeks_of_the_month: Option<Vec<WeekOfMonth>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// When points move to another tier.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TieringPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiering_mode: Option<TieringMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_type: Option<RetentionDurationType>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_tier_reads_typed() {
        let t = "2024-01-01T21:00:00Z";
        let body = json!({"backupManagementType": "AzureIaasVM", "policyType": "V1", "timeZone": "UTC",
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": [t]},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": [t], "retentionDuration": {"count": 30, "durationType": "Days"}},
                "weeklySchedule": {"daysOfTheWeek": ["Sunday"], "retentionTimes": [t], "retentionDuration": {"count": 12, "durationType": "Weeks"}},
                "monthlySchedule": {"retentionScheduleFormatType": "Daily", "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 1}, {"isLast": true}]},
                    "retentionTimes": [t], "retentionDuration": {"count": 12, "durationType": "Months"}},
                "yearlySchedule": {"retentionScheduleFormatType": "Weekly", "monthsOfYear": ["January"],
                    "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["First", "Last"]},
                    "retentionTimes": [t], "retentionDuration": {"count": 10, "durationType": "Years"}}},
            "tieringPolicy": {"ArchivedRP": {"tieringMode": "TierAfter", "duration": 3, "durationType": "Months"}}});
        let p: ProtectionPolicy = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap(), body);
        let vm = p.as_iaas_vm().unwrap();
        let Some(RetentionPolicy::LongTerm(r)) = &vm.retention_policy else {
            panic!("long-term retention")
        };
        let y = r.yearly_schedule.as_ref().unwrap();
        assert_eq!(
            y.months_of_year.as_deref(),
            Some(&[MonthOfYear::January][..])
        );
        assert_eq!(
            y.retention_schedule_weekly
                .as_ref()
                .unwrap()
                .weeks_of_the_month
                .as_deref(),
            Some(&[WeekOfMonth::First, WeekOfMonth::Last][..])
        );
        let m = r.monthly_schedule.as_ref().unwrap();
        let days = m
            .retention_schedule_daily
            .as_ref()
            .unwrap()
            .days_of_the_month
            .as_ref()
            .unwrap();
        assert_eq!((days[0].date, days[1].is_last), (Some(1), Some(true)));
        assert!(matches!(
            vm.schedule_policy,
            Some(SchedulePolicy::Simple(_))
        ));
        assert_eq!(p.management_type(), BackupManagementType::AzureIaasVm);
    }

    #[test]
    fn other_workloads_are_kept_whole() {
        let body = json!({"backupManagementType": "AzureWorkload", "workLoadType": "SQLDataBase", "settings": {"isCompression": true}});
        let p: ProtectionPolicy = serde_json::from_value(body.clone()).unwrap();
        assert!(p.as_iaas_vm().is_none());
        assert_eq!(p.management_type(), BackupManagementType::AzureWorkload);
        assert_eq!(serde_json::to_value(&p).unwrap(), body);
    }
}
