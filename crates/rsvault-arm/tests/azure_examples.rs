//! Bodies in the shape of the Azure REST API examples
//! (azure-rest-api-specs, `recoveryservicesbackup`, stable 2024-04-01:
//! `V2Policy/IaaS_v2_hourly`, `ProtectionPolicies_CreateOrUpdate_Complex`,
//! `RecoveryPoints_Get`, `ListJobsWithAllSupportedFilters`,
//! `TriggerRestore_ALR_IaasVMRestoreRequest`, a protected item GET),
//! written here with their field names and our own values. They read into
//! the typed models with every field modelled (nothing lands in `extra`),
//! and write back the same, nulls aside (Azure writes some absent fields
//! as null; rsvault writes others as null that Azure omits).

use rsvault_arm::common::{
    BackupManagementType, DayOfWeek, HealthStatus, MonthOfYear, ProtectionState, WeekOfMonth,
};
use rsvault_arm::item::ProtectedItemResource;
use rsvault_arm::job::{JobOperation, JobResource, JobStatus};
use rsvault_arm::policy::{
    BackupPolicy, IaasVmPolicyType, RetentionPolicy, RetentionScheduleFormat, SchedulePolicy,
    ScheduleRunType,
};
use rsvault_arm::recovery_point::{
    RecoveryPointConsistency, RecoveryPointResource, RecoveryPointTierStatus, RecoveryPointTierType,
};
use rsvault_arm::request::{RecoveryType, RestoreRequest, RestoreRequestResource};
use rsvault_arm::{Code, List};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        v => v.clone(),
    }
}

fn read<T: Serialize + DeserializeOwned>(body: Value) -> T {
    let t: T = serde_json::from_value(body.clone()).expect("reads as its model");
    let back = serde_json::to_value(&t).unwrap();
    assert_eq!(without_nulls(&back), without_nulls(&body));
    t
}

#[test]
fn v2_hourly_policy() {
    let t = "2025-03-01T06:00:00+00:00";
    let d = |count: u32, unit: &str| json!({"count": count, "durationType": unit});
    let p: BackupPolicy = read(json!({
        "id": "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupPolicies/hourly",
        "name": "hourly", "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
        "properties": {
            "backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": 10, "policyType": "V2",
            "snapshotConsistencyType": "OnlyCrashConsistent", "protectedItemsCount": 3,
            "resourceGuardOperationRequests": null, "timeZone": "W. Europe Standard Time",
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {"interval": 8, "scheduleWindowDuration": 24, "scheduleWindowStartTime": "2025-03-01T06:00:00Z"}},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionDuration": d(30, "Days"), "retentionTimes": [t]},
                "weeklySchedule": {"daysOfTheWeek": ["Saturday"], "retentionDuration": d(8, "Weeks"), "retentionTimes": [t]},
                "monthlySchedule": {"retentionDuration": d(24, "Months"), "retentionScheduleDaily": null,
                    "retentionScheduleFormatType": "Weekly",
                    "retentionScheduleWeekly": {"daysOfTheWeek": ["Saturday"], "weeksOfTheMonth": ["Second"]},
                    "retentionTimes": [t]},
                "yearlySchedule": {"monthsOfYear": ["March"], "retentionDuration": d(5, "Years"),
                    "retentionScheduleDaily": null, "retentionScheduleFormatType": "Weekly",
                    "retentionScheduleWeekly": {"daysOfTheWeek": ["Saturday"], "weeksOfTheMonth": ["Last"]},
                    "retentionTimes": [t]}}}
    }));
    let vm = p.properties.as_iaas_vm().expect("a VM policy");
    assert!(vm.extra.is_empty(), "{:?}", vm.extra);
    assert_eq!(vm.policy_type, Some(IaasVmPolicyType::V2));
    assert_eq!(vm.protected_items_count, Some(3));
    let Some(SchedulePolicy::SimpleV2(s)) = &vm.schedule_policy else {
        panic!("a V2 schedule")
    };
    assert_eq!(s.schedule_run_frequency, Some(ScheduleRunType::Hourly));
    let h = s.hourly_schedule.as_ref().expect("hourly");
    assert_eq!(
        (h.interval, h.schedule_window_duration),
        (Some(8), Some(24))
    );
    let Some(RetentionPolicy::LongTerm(r)) = &vm.retention_policy else {
        panic!("long-term retention")
    };
    let y = r.yearly_schedule.as_ref().expect("yearly");
    assert!(y.extra.is_empty());
    assert_eq!(y.months_of_year.as_deref(), Some(&[MonthOfYear::March][..]));
    assert_eq!(
        y.retention_schedule_format_type,
        Some(RetentionScheduleFormat::Weekly)
    );
    let w = y.retention_schedule_weekly.as_ref().expect("weekly format");
    assert_eq!(
        w.weeks_of_the_month.as_deref(),
        Some(&[WeekOfMonth::Last][..])
    );
    assert_eq!(
        r.weekly_schedule
            .as_ref()
            .and_then(|w| w.days_of_the_week.clone()),
        Some(vec![DayOfWeek::Saturday])
    );
}

#[test]
fn v1_weekly_policy_with_weekly_formats() {
    let t = "2025-01-08T23:30:00Z";
    let p: BackupPolicy = read(json!({"name": "weekly", "properties": {
        "backupManagementType": "AzureIaasVM", "timeZone": "Pacific Standard Time", "protectedItemsCount": 0,
        "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Weekly",
            "scheduleRunDays": ["Tuesday", "Friday"], "scheduleRunTimes": [t], "scheduleWeeklyFrequency": 0},
        "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
            "weeklySchedule": {"daysOfTheWeek": ["Tuesday", "Friday"], "retentionTimes": [t],
                "retentionDuration": {"count": 3, "durationType": "Weeks"}},
            "monthlySchedule": {"retentionScheduleFormatType": "Weekly",
                "retentionScheduleWeekly": {"daysOfTheWeek": ["Friday"], "weeksOfTheMonth": ["First", "Third"]},
                "retentionTimes": [t], "retentionDuration": {"count": 4, "durationType": "Months"}},
            "yearlySchedule": {"retentionScheduleFormatType": "Weekly", "monthsOfYear": ["April", "October"],
                "retentionScheduleWeekly": {"daysOfTheWeek": ["Tuesday"], "weeksOfTheMonth": ["Fourth"]},
                "retentionTimes": [t], "retentionDuration": {"count": 3, "durationType": "Years"}}}}}));
    let vm = p.properties.as_iaas_vm().expect("a VM policy");
    assert_eq!(
        p.properties.management_type(),
        BackupManagementType::AzureIaasVm
    );
    let Some(SchedulePolicy::Simple(s)) = &vm.schedule_policy else {
        panic!("a V1 schedule")
    };
    assert_eq!(s.schedule_run_days.as_ref().map(Vec::len), Some(2));
    assert_eq!(s.schedule_weekly_frequency, Some(0));
}

#[test]
fn recovery_point_get() {
    let rp: RecoveryPointResource = read(json!({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg;vm/protectedItems/VM;iaasvmcontainerv2;rg;vm/recoveryPoints/4242",
        "name": "4242",
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints",
        "properties": {"objectType": "IaasVMRecoveryPoint", "recoveryPointType": "AppConsistent",
            "recoveryPointTime": "2025-02-03T04:05:06.1234567Z", "recoveryPointAdditionalInfo": "",
            "sourceVMStorageType": "NormalStorage", "isSourceVMEncrypted": false, "isInstantIlrSessionActive": false,
            "recoveryPointTierDetails": [{"type": "InstantRP", "status": "Valid"}, {"type": "HardenedRP", "status": "Valid"}],
            "recoveryPointMoveReadinessInfo": {"ArchivedRP": {"isReadyForMove": false, "additionalInfo": "too young"}},
            "isManagedVirtualMachine": true, "virtualMachineSize": "Standard_B2s", "originalStorageAccountOption": false,
            "zones": ["2"], "isPrivateAccessEnabledOnAnyDisk": false}
    }));
    let p = rp.properties.as_iaas_vm().expect("a VM point");
    assert!(p.extra.is_empty(), "{:?}", p.extra);
    assert_eq!(
        p.recovery_point_type,
        Some(RecoveryPointConsistency::AppConsistent)
    );
    assert!(p.has_tier(
        RecoveryPointTierType::InstantRp,
        RecoveryPointTierStatus::Valid
    ));
    assert!(!p.has_tier(
        RecoveryPointTierType::ArchivedRp,
        RecoveryPointTierStatus::Valid
    ));
    assert_eq!(
        p.recovery_point_move_readiness_info
            .as_ref()
            .and_then(|m| m["ArchivedRP"].is_ready_for_move),
        Some(false)
    );
}

#[test]
fn job_list_and_a_failed_job() {
    let jobs: List<JobResource> = read(json!({"value": [
        {"id": "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupJobs/j1",
         "name": "j1", "type": "Microsoft.RecoveryServices/vaults/backupJobs",
         "properties": {"jobType": "AzureIaaSVMJob", "duration": "PT1M2.5S", "virtualMachineVersion": "Compute",
            "entityFriendlyName": "web1", "backupManagementType": "AzureIaasVM", "operation": "Backup",
            "status": "InProgress", "startTime": "2025-04-01T01:00:00.5Z", "activityId": "a-1"}},
        {"name": "j2", "properties": {"jobType": "AzureIaaSVMJobV2", "operation": "Restore", "status": "Failed",
            "errorDetails": [{"errorCode": 400001, "errorString": "The disk is busy.", "errorTitle": "",
                "recommendations": ["Retry later."]}],
            "extendedInfo": {"tasksList": [{"taskId": "Transfer data from vault", "status": "Failed", "duration": "PT0S"}],
                "propertyBag": {"Job Type": "Recover disks"}, "dynamicErrorMessage": "busy"}}}
    ], "nextLink": null}));
    let j1 = jobs.value[0].properties.as_iaas_vm().expect("a VM job");
    assert!(j1.extra.is_empty(), "{:?}", j1.extra);
    assert_eq!(j1.status, Some(JobStatus::InProgress));
    assert_eq!(j1.operation, Some(JobOperation::Backup));
    let j2 = jobs.value[1].properties.as_iaas_vm().expect("a V2 job");
    let e = &j2.error_details.as_ref().expect("errors")[0];
    assert_eq!(e.error_code, Some(Code::Number(400001)));
    assert!(
        j2.extended_info
            .as_ref()
            .is_some_and(|x| x.extra.is_empty())
    );
}

#[test]
fn protected_item_get() {
    let item: ProtectedItemResource = read(json!({
        "id": "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;rg;web1/protectedItems/VM;iaasvmcontainerv2;rg;web1",
        "name": "VM;iaasvmcontainerv2;rg;web1",
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
        "properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "friendlyName": "web1",
            "virtualMachineId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web1",
            "protectionStatus": "Healthy", "protectionState": "Protected", "healthStatus": "ActionSuggested",
            "healthDetails": [{"code": 400239, "title": "IaasVmHealthOrangeDefault", "message": "Backup pre-check status of this virtual machine is warning.", "recommendations": []}],
            "kpisHealths": {"TransferToVault": {"resourceHealthStatus": "Healthy"}},
            "lastBackupStatus": "Completed", "lastBackupTime": "2025-05-01T10:00:00Z",
            "protectedItemDataId": "17592186044418",
            "extendedInfo": {"oldestRecoveryPoint": "2025-04-01T10:00:00Z", "recoveryPointCount": 30, "policyInconsistent": false},
            "backupManagementType": "AzureIaasVM", "workloadType": "VM", "containerName": "iaasvmcontainerv2;rg;web1",
            "sourceResourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web1",
            "policyId": "/Subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupPolicies/DefaultPolicy",
            "lastRecoveryPoint": "2025-05-01T10:00:05Z"}
    }));
    let p = item.properties.as_iaas_vm().expect("a VM item");
    assert!(p.extra.is_empty(), "{:?}", p.extra);
    assert_eq!(p.protection_state, Some(ProtectionState::Protected));
    assert_eq!(p.health_status, Some(HealthStatus::ActionSuggested));
    assert_eq!(
        p.health_details.as_ref().and_then(|d| d[0].code.clone()),
        Some(Code::Number(400239))
    );
    assert_eq!(
        p.extended_info
            .as_ref()
            .and_then(|e| e.recovery_point_count),
        Some(30)
    );
    assert_eq!(item.resource_group(), Some("rg"));
}

#[test]
fn alternate_location_restore_request() {
    let r: RestoreRequestResource = read(json!({"properties": {
        "objectType": "IaasVMRestoreRequest", "recoveryPointId": "4242", "recoveryType": "AlternateLocation",
        "sourceResourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web1",
        "targetVirtualMachineId": "/subscriptions/s/resourceGroups/rg2/providers/Microsoft.Compute/virtualmachines/web1-copy",
        "targetResourceGroupId": "/subscriptions/s/resourceGroups/rg2",
        "storageAccountId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/staging1",
        "virtualNetworkId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/net",
        "subnetId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/net/subnets/default",
        "region": "westeurope", "createNewCloudService": false, "originalStorageAccountOption": false,
        "encryptionDetails": {"encryptionEnabled": false},
        "identityInfo": {"isSystemAssignedIdentity": true}}}));
    let RestoreRequest::IaasVm(p) = &r.properties else {
        panic!("a VM restore")
    };
    assert!(p.extra.is_empty(), "{:?}", p.extra);
    assert_eq!(p.recovery_type, Some(RecoveryType::AlternateLocation));
    assert_eq!(
        p.identity_info
            .as_ref()
            .and_then(|i| i.is_system_assigned_identity),
        Some(true)
    );
}
