//! Every body the server sends reads into the typed models and writes
//! back as the same JSON: the real router (in process, on its own data
//! directory) walks the main flow, and each answer is checked.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::App;
use common::requests::{CONTAINER, ITEM, RG, SUB, VAULT};
use rsvault_arm::common::ProtectionState;
use rsvault_arm::container::{ProtectableItemResource, ProtectionContainerResource};
use rsvault_arm::inventory::{InstanceView, ManagedDisk, VirtualMachine};
use rsvault_arm::item::{ProtectedItem, ProtectedItemResource};
use rsvault_arm::job::{JobOperation, JobResource, JobStatus};
use rsvault_arm::operation::{OperationState, OperationStatus};
use rsvault_arm::policy::{BackupPolicy, RetentionPolicy, SchedulePolicy};
use rsvault_arm::recovery_point::{RecoveryPointConsistency, RecoveryPointResource};
use rsvault_arm::request::{
    BackupRequest, IaasVmBackupRequest, IaasVmRestoreRequest, RecoveryType, RestoreRequest,
};
use rsvault_arm::vault::{
    BackupEncryptionConfig, BackupStorageConfig, BackupVaultConfig, StorageRedundancy, Vault,
};
use rsvault_arm::{ErrorResponse, List, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

const BASE: &str = "http://127.0.0.1:7431";

/// The first place two JSON values differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (p, q) = (x.get(k), y.get(k));
                let here = format!("{path}.{k}");
                match (p, q) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &here) {
                            return Some(d);
                        }
                    }
                    _ => return Some(format!("{here}: {p:?} != {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}[{i}]"))),
        _ => (a != b).then(|| format!("{path}: {a} != {b}")),
    }
}

/// Reads `body` as `T` and checks that it writes back identical.
fn same<T: Serialize + DeserializeOwned>(what: &str, body: &Value) -> T {
    let typed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: does not read as its model: {e}\n{body:#}"));
    let back = serde_json::to_value(&typed).expect("serialise");
    if let Some(d) = first_difference(&back, body, "") {
        panic!("{what}: the round trip changed the body at {d}\n{body:#}");
    }
    typed
}

/// One answer with its headers.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

struct Flow {
    app: App,
    checked: usize,
}

impl Flow {
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let uri = uri.strip_prefix(BASE).unwrap_or(uri);
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.app.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request");
        let resp = self
            .app
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("infallible");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON answer")
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request that must succeed with `want`; its body read as `T`.
    async fn ok<T: Serialize + DeserializeOwned>(
        &mut self,
        method: Method,
        uri: &str,
        body: Option<Value>,
        want: StatusCode,
    ) -> T {
        let r = self.call(method.clone(), uri, body).await;
        assert_eq!(r.status, want, "{method} {uri}: {:#}", r.body);
        self.checked += 1;
        same(&format!("{method} {uri}"), &r.body)
    }

    async fn get<T: Serialize + DeserializeOwned>(&mut self, uri: &str) -> T {
        self.ok(Method::GET, uri, None, StatusCode::OK).await
    }

    /// Every page of a list, each checked as `List<T>`.
    async fn list<T: Serialize + DeserializeOwned>(&mut self, uri: &str) -> Vec<T> {
        let mut out = Vec::new();
        let mut next = Some(uri.to_owned());
        while let Some(u) = next {
            let page: List<T> = self.get(&u).await;
            next = page.next().map(str::to_owned);
            out.extend(page.value);
        }
        out
    }

    /// An error answer with `status` and `code`, checked as the envelope.
    async fn error(
        &mut self,
        method: Method,
        uri: &str,
        body: Option<&str>,
        status: StatusCode,
        code: &str,
    ) {
        let req = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.app.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .expect("request");
        let a = self.app.send_request(req).await;
        assert_eq!(a.status, status, "{method} {uri}");
        let e: ErrorResponse = same(&format!("{method} {uri}"), &a.json());
        assert_eq!(e.error.code, code, "{method} {uri}");
        assert!(!e.error.message.is_empty());
        self.checked += 1;
    }

    /// An accepted request: follows its `Azure-AsyncOperation` URL to the
    /// operation's status, and returns it.
    async fn accepted(
        &mut self,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> OperationStatus {
        let r = self.call(method.clone(), uri, body).await;
        assert_eq!(
            r.status,
            StatusCode::ACCEPTED,
            "{method} {uri}: {:#}",
            r.body
        );
        let url = r.headers["azure-asyncoperation"]
            .to_str()
            .expect("header")
            .to_owned();
        let st: OperationStatus = self.get(&url).await;
        assert_eq!(st.status, Some(OperationState::Succeeded), "{url}");
        st
    }

    /// Polls a job until it ends; every answer is checked.
    async fn wait_job(&mut self, vault: &str, job: &str) -> JobResource {
        for _ in 0..600 {
            let j: JobResource = self.get(&format!("{vault}/backupJobs/{job}")).await;
            let status = j.properties.as_iaas_vm().and_then(|p| p.status.clone());
            if !status.as_ref().is_some_and(JobStatus::is_running) {
                return j;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {job} did not end");
    }
}

fn vault_path(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{name}"
    )
}

fn vm_path(name: &str) -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/{name}"
    )
}

fn item_path(vault: &str, vm: &str) -> String {
    format!(
        "{vault}/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3B{RG}%3B{vm}/protectedItems/VM%3Biaasvmcontainerv2%3B{RG}%3B{vm}"
    )
}

const T: &str = "2024-01-01T21:00:00Z";

/// Policies with every schedule and every retention tier and format.
fn policies() -> Vec<(&'static str, Value)> {
    let d = |count: u32, unit: &str| json!({"count": count, "durationType": unit});
    vec![
        (
            "v1-daily-all-tiers",
            json!({"properties": {"backupManagementType": "AzureIaasVM", "timeZone": "UTC", "instantRpRetentionRangeInDays": 2,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": [T], "scheduleWeeklyFrequency": 0},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": [T], "retentionDuration": d(30, "Days")},
                "weeklySchedule": {"daysOfTheWeek": ["Sunday", "Wednesday"], "retentionTimes": [T], "retentionDuration": d(12, "Weeks")},
                "monthlySchedule": {"retentionScheduleFormatType": "Daily", "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 1}, {"date": 15}, {"isLast": true}]},
                    "retentionTimes": [T], "retentionDuration": d(12, "Months")},
                "yearlySchedule": {"retentionScheduleFormatType": "Weekly", "monthsOfYear": ["January", "July"],
                    "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["First", "Last"]},
                    "retentionTimes": [T], "retentionDuration": d(10, "Years")}}}}),
        ),
        (
            "v1-weekly",
            json!({"properties": {"backupManagementType": "AzureIaasVM", "timeZone": "Pacific Standard Time", "instantRpRetentionRangeInDays": 5,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Weekly",
                "scheduleRunDays": ["Monday", "Thursday"], "scheduleRunTimes": ["2018-01-24T10:00:00Z"]},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "weeklySchedule": {"daysOfTheWeek": ["Monday"], "retentionTimes": ["2018-01-24T10:00:00Z"], "retentionDuration": d(4, "Weeks")},
                "monthlySchedule": {"retentionScheduleFormatType": "Weekly",
                    "retentionScheduleWeekly": {"daysOfTheWeek": ["Thursday"], "weeksOfTheMonth": ["Second", "Third"]},
                    "retentionTimes": ["2018-01-24T10:00:00Z"], "retentionDuration": d(6, "Months")},
                "yearlySchedule": {"retentionScheduleFormatType": "Daily", "monthsOfYear": ["December"],
                    "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 28}]},
                    "retentionTimes": ["2018-01-24T10:00:00Z"], "retentionDuration": d(2, "Years")}}}}),
        ),
        (
            "v2-hourly",
            json!({"properties": {"backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "India Standard Time",
            "instantRpRetentionRangeInDays": 30, "snapshotConsistencyType": "OnlyCrashConsistent",
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {"interval": 4, "scheduleWindowStartTime": "2021-12-17T08:00:00Z", "scheduleWindowDuration": 16}},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": ["2021-12-17T08:00:00+00:00"], "retentionDuration": d(180, "Days")},
                "weeklySchedule": {"daysOfTheWeek": ["Sunday"], "retentionTimes": ["2021-12-17T08:00:00+00:00"], "retentionDuration": d(12, "Weeks")}}}}),
        ),
        (
            "v2-daily",
            json!({"properties": {"backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "UTC",
            "instantRPDetails": {"azureBackupRGNamePrefix": "rsv-ir-", "azureBackupRGNameSuffix": "-x"},
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Daily",
                "dailySchedule": {"scheduleRunTimes": [T]}},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": [T], "retentionDuration": d(7, "Days")}},
            "tieringPolicy": {"ArchivedRP": {"tieringMode": "DoNotTier", "duration": 0, "durationType": "Invalid"}}}}),
        ),
        (
            "v2-weekly",
            json!({"properties": {"backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "UTC", "instantRpRetentionRangeInDays": 5,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Weekly",
                "weeklySchedule": {"scheduleRunDays": ["Saturday"], "scheduleRunTimes": [T]}},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "weeklySchedule": {"daysOfTheWeek": ["Saturday"], "retentionTimes": [T], "retentionDuration": d(8, "Weeks")}}}}),
        ),
    ]
}

/// A VM on a small raw image in the data directory's images folder.
async fn put_vm(f: &mut Flow, name: &str) -> (VirtualMachine, std::path::PathBuf) {
    let img = f.app.dir().join("images").join(format!("{name}.raw"));
    std::fs::write(&img, vec![0x5a; 1 << 20]).expect("image");
    let body = json!({"location": "westeurope", "tags": {"owner": "round-trip"}, "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {"osDisk": {"name": format!("{name}_OsDisk"), "osType": "Linux", "createOption": "Attach",
            "vhd": {"uri": format!("file://{}", img.display())}}, "dataDisks": []}}});
    let vm = f
        .ok(Method::PUT, &vm_path(name), Some(body), StatusCode::CREATED)
        .await;
    (vm, img)
}

/// Flips a byte in the middle of every pack of every store.
fn damage_packs(dir: &std::path::Path) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            damage_packs(&p);
        } else if p.components().any(|c| c.as_os_str() == "packs") {
            let mut b = std::fs::read(&p).expect("pack");
            let i = b.len() / 2;
            b[i] ^= 0xff;
            std::fs::write(&p, b).expect("pack");
        }
    }
}

fn protect_body(vault: &str, policy: &str) -> Value {
    json!({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines",
        "policyId": format!("{vault}/backupPolicies/{policy}")}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_of_the_main_flow_round_trips() {
    let mut f = Flow {
        app: App::new(),
        checked: 0,
    };
    // The baseline: vault v1, VM vm1 protected by DefaultPolicy.
    f.app.populate().await;
    let v1 = vault_path(VAULT);

    // Vaults: update, create, read, list (paged), patch, settings.
    let vault: Vault = f
        .ok(
            Method::PUT,
            &v1,
            Some(json!({"location": "westeurope", "tags": {"env": "test"}, "sku": {"name": "Standard"},
                "properties": {"publicNetworkAccess": "Enabled",
                    "securitySettings": {"softDeleteSettings": {"softDeleteState": "Enabled", "softDeleteRetentionPeriodInDays": 14}},
                    "monitoringSettings": {"azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"}}}})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(vault.name(), VAULT);
    assert!(
        vault.properties.extra.contains_key("monitoringSettings"),
        "client settings are kept"
    );
    for name in ["v2", "v3"] {
        let v: Vault = f
            .ok(
                Method::PUT,
                &vault_path(name),
                Some(json!({"location": "westeurope"})),
                StatusCode::CREATED,
            )
            .await;
        let p = &v.properties;
        assert!(
            p.extra.is_empty(),
            "every vault property is modelled: {:?}",
            p.extra
        );
        let rs = p.redundancy_settings.as_ref().expect("redundancy");
        assert_eq!(
            rs.standard_tier_storage_redundancy,
            Some(StorageRedundancy::GeoRedundant)
        );
        assert!(
            p.rsvault_verify
                .as_ref()
                .is_some_and(|r| r.extra.is_empty())
        );
    }
    let _: Vault = f.get(&v1).await;
    let listed: Vec<Vault> = f
        .list(&format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults"
        ))
        .await;
    assert_eq!(listed.len(), 3, "three vaults over two pages");
    let _: Vec<Vault> = f
        .list(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults"
        ))
        .await;
    let v2 = vault_path("v2");
    let patched: Vault = f
        .ok(
            Method::PATCH,
            &v2,
            Some(json!({"properties": {"redundancySettings": {"standardTierStorageRedundancy": "locallyredundant"},
                "securitySettings": {"softDeleteSettings": {"softDeleteState": "AlwaysOn"}}}})),
            StatusCode::OK,
        )
        .await;
    let rs = patched.properties.redundancy_settings.expect("redundancy");
    assert_eq!(
        rs.standard_tier_storage_redundancy,
        Some(StorageRedundancy::LocallyRedundant)
    );
    let sc: BackupStorageConfig = f
        .get(&format!("{v2}/backupstorageconfig/vaultstorageconfig"))
        .await;
    assert!(sc.properties.extra.is_empty(), "{:?}", sc.properties.extra);
    let _: BackupStorageConfig = f
        .ok(
            Method::PUT,
            &format!("{v2}/backupstorageconfig/vaultstorageconfig"),
            Some(json!({"properties": {"storageType": "GeoRedundant"}})),
            StatusCode::OK,
        )
        .await;
    let _: BackupStorageConfig = f
        .get(&format!("{v1}/backupstorageconfig/vaultstorageconfig"))
        .await;
    let vc: BackupVaultConfig = f.get(&format!("{v2}/backupconfig/vaultconfig")).await;
    assert!(vc.properties.extra.is_empty(), "{:?}", vc.properties.extra);
    let vc: BackupVaultConfig = f
        .ok(
            Method::PATCH,
            &format!("{v2}/backupconfig/vaultconfig"),
            Some(json!({"properties": {"rsvaultVerify": {"schedule": "sun 03:00"}}})),
            StatusCode::OK,
        )
        .await;
    let verify = vc.properties.rsvault_verify.expect("verify settings");
    assert_eq!(verify.schedule.as_deref(), Some("sun 03:00"));
    let _: Vault = f.get(&v2).await;
    let _: BackupEncryptionConfig = f
        .get(&format!(
            "{v1}/backupEncryptionConfigs/backupResourceEncryptionConfig"
        ))
        .await;

    // Policies: V1 and V2, every schedule and retention tier.
    for (name, body) in policies() {
        let uri = format!("{v1}/backupPolicies/{name}");
        let p: BackupPolicy = f.ok(Method::PUT, &uri, Some(body), StatusCode::OK).await;
        let vm = p.properties.as_iaas_vm().expect("a VM policy");
        assert!(vm.extra.is_empty(), "{name}: {:?}", vm.extra);
        match vm.schedule_policy.as_ref().expect("schedule") {
            SchedulePolicy::Simple(s) => assert!(s.extra.is_empty()),
            SchedulePolicy::SimpleV2(s) => assert!(s.extra.is_empty()),
            SchedulePolicy::Other(o) => panic!("{name}: unknown schedule {o:?}"),
        }
        let Some(RetentionPolicy::LongTerm(r)) = &vm.retention_policy else {
            panic!("{name}: long-term retention")
        };
        assert!(r.extra.is_empty());
        let got: BackupPolicy = f.get(&uri).await;
        assert_eq!(got, p);
    }
    let all: Vec<BackupPolicy> = f.list(&format!("{v1}/backupPolicies")).await;
    assert_eq!(all.len(), 6, "DefaultPolicy and five more");

    // Discovery: another VM, unprotected; containers and protected items.
    let (_, _) = put_vm(&mut f, "vm2").await;
    let r = f
        .call(
            Method::POST,
            &format!("{v1}/backupFabrics/Azure/refreshContainers"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let protectable: Vec<ProtectableItemResource> =
        f.list(&format!("{v1}/backupProtectableItems")).await;
    assert_eq!(protectable.len(), 1);
    let pv = protectable[0].properties.as_iaas_vm().expect("a VM");
    assert!(pv.extra.is_empty(), "{:?}", pv.extra);
    assert_eq!(pv.friendly_name.as_deref(), Some("vm2"));
    let containers: Vec<ProtectionContainerResource> =
        f.list(&format!("{v1}/backupProtectionContainers")).await;
    assert_eq!(containers[0].name(), CONTAINER);
    assert!(
        containers[0]
            .properties
            .as_iaas_vm()
            .is_some_and(|c| c.extra.is_empty())
    );
    let item: ProtectedItemResource = f.get(&item_path(&v1, "vm1")).await;
    assert_eq!(item.name(), ITEM);
    assert!(matches!(item.properties, ProtectedItem::Compute(_)));
    let pi = item.properties.as_iaas_vm().expect("a VM item");
    assert!(pi.extra.is_empty(), "{:?}", pi.extra);
    assert_eq!(pi.protection_state, Some(ProtectionState::IrPending));

    // Protect vm2 with a V2 policy; the operation names its job.
    let st = f
        .accepted(
            Method::PUT,
            &item_path(&v1, "vm2"),
            Some(protect_body(&v1, "v2-daily")),
        )
        .await;
    let job = st.job_id().expect("the operation names its job").to_owned();
    let j = f.wait_job(&v1, &job).await;
    assert_eq!(
        j.properties.as_iaas_vm().and_then(|p| p.operation.clone()),
        Some(JobOperation::ConfigureBackup)
    );

    // Backup now of vm1: running, then completed.
    let req = Resource::with_properties(BackupRequest::IaasVm(IaasVmBackupRequest {
        recovery_point_expiry_time_in_utc: Some("2030-01-01T00:00:00.000Z".into()),
        ..Default::default()
    }));
    let st = f
        .accepted(
            Method::POST,
            &format!("{}/backup", item_path(&v1, "vm1")),
            Some(serde_json::to_value(&req).unwrap()),
        )
        .await;
    let job = st.job_id().expect("job").to_owned();
    let done = f.wait_job(&v1, &job).await;
    let dj = done.properties.as_iaas_vm().expect("a VM job");
    assert_eq!(
        dj.status,
        Some(JobStatus::Completed),
        "{:?}",
        dj.error_details
    );
    assert!(dj.extra.is_empty(), "{:?}", dj.extra);
    let ext = dj.extended_info.as_ref().expect("extended info");
    assert!(ext.extra.is_empty(), "{:?}", ext.extra);
    assert!(ext.tasks_list.iter().flatten().all(|t| t.extra.is_empty()));
    assert!(
        ext.property_bag
            .as_ref()
            .is_some_and(|b| b.contains_key("Backup Size"))
    );

    // vm3, protected and never backed up (it is soft-deleted below).
    put_vm(&mut f, "vm3").await;
    f.accepted(
        Method::PUT,
        &item_path(&v1, "vm3"),
        Some(protect_body(&v1, "DefaultPolicy")),
    )
    .await;
    let jobs: Vec<JobResource> = f.list(&format!("{v1}/backupJobs")).await;
    assert_eq!(jobs.len(), 4, "ConfigureBackup ×3 and a Backup");

    // Recovery points, then a restore of the disks.
    let rps: Vec<RecoveryPointResource> = f
        .list(&format!("{}/recoveryPoints", item_path(&v1, "vm1")))
        .await;
    assert_eq!(rps.len(), 1);
    let rp = rps[0].properties.as_iaas_vm().expect("a VM point");
    assert!(rp.extra.is_empty(), "{:?}", rp.extra);
    assert_eq!(
        rp.recovery_point_type,
        Some(RecoveryPointConsistency::CrashConsistent)
    );
    let rp_uri = format!("{}/recoveryPoints/{}", item_path(&v1, "vm1"), rps[0].name());
    let one: RecoveryPointResource = f.get(&rp_uri).await;
    assert_eq!(one, rps[0]);
    let restore = Resource::with_properties(RestoreRequest::IaasVm(IaasVmRestoreRequest {
        recovery_point_id: Some(rps[0].name().to_owned()),
        recovery_type: Some(RecoveryType::RestoreDisks),
        source_resource_id: Some(vm_path("vm1")),
        storage_account_id: Some(format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/rtrestore"
        )),
        region: Some("westeurope".into()),
        create_new_cloud_service: Some(false),
        original_storage_account_option: Some(false),
        ..Default::default()
    }));
    let st = f
        .accepted(
            Method::POST,
            &format!("{rp_uri}/restore"),
            Some(serde_json::to_value(&restore).unwrap()),
        )
        .await;
    let restored = f.wait_job(&v1, st.job_id().expect("job")).await;
    let rj = restored.properties.as_iaas_vm().expect("a VM job");
    assert_eq!(
        rj.status,
        Some(JobStatus::Completed),
        "{:?}",
        rj.error_details
    );

    // Verify jobs (rsvault): a clean one, then a failed one after the
    // store's packs are damaged; the point and its item show the damage.
    let st = f
        .accepted(Method::POST, &format!("{v1}/verify"), None)
        .await;
    let verified = f.wait_job(&v1, st.job_id().expect("job")).await;
    let vj = verified.properties.as_iaas_vm().expect("a VM job");
    assert_eq!(
        (vj.operation.clone(), vj.status.clone()),
        (Some(JobOperation::Verify), Some(JobStatus::Completed))
    );
    let report = vj
        .extended_info
        .as_ref()
        .and_then(|e| e.rsvault_verify.as_ref())
        .expect("verify report");
    assert!(report.extra.is_empty(), "{:?}", report.extra);
    damage_packs(&f.app.dir().join("stores"));
    let st = f
        .accepted(Method::POST, &format!("{v1}/verify"), None)
        .await;
    let failed = f.wait_job(&v1, st.job_id().expect("job")).await;
    let fj = failed.properties.as_iaas_vm().expect("a VM job");
    assert_eq!(fj.status, Some(JobStatus::Failed));
    let errors = fj.error_details.as_ref().expect("error details");
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| e.extra.is_empty() && e.recommendations.is_some())
    );
    let report = fj
        .extended_info
        .as_ref()
        .and_then(|e| e.rsvault_verify.as_ref())
        .expect("verify report");
    assert!(
        report
            .damaged_recovery_points
            .as_ref()
            .is_some_and(|d| !d.is_empty() && d.iter().all(|p| p.extra.is_empty()))
    );
    let damaged: RecoveryPointResource = f.get(&rp_uri).await;
    let integrity = damaged
        .properties
        .as_iaas_vm()
        .and_then(|p| p.rsvault_verify.clone())
        .expect("integrity");
    assert!(integrity.damage.is_some() && integrity.extra.is_empty());
    let sick: ProtectedItemResource = f.get(&item_path(&v1, "vm1")).await;
    let details = sick
        .properties
        .as_iaas_vm()
        .and_then(|p| p.health_details.clone())
        .expect("health details");
    assert!(!details.is_empty() && details.iter().all(|d| d.extra.is_empty()));
    let v: Vault = f.get(&v1).await;
    assert!(
        v.properties
            .rsvault_verify
            .and_then(|r| r.last_verify)
            .is_some_and(|l| l.extra.is_empty())
    );
    let _: Vec<JobResource> = f
        .list(&format!("{v1}/backupJobs?$filter=status%20eq%20'Failed'"))
        .await;

    // Items after their backups, stopped, and soft-deleted.
    let items: Vec<ProtectedItemResource> = f.list(&format!("{v1}/backupProtectedItems")).await;
    assert_eq!(items.len(), 3);
    let stop = json!({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "protectionState": "ProtectionStopped", "policyId": ""}});
    f.accepted(Method::PUT, &item_path(&v1, "vm2"), Some(stop))
        .await;
    let stopped: ProtectedItemResource = f.get(&item_path(&v1, "vm2")).await;
    assert_eq!(
        stopped
            .properties
            .as_iaas_vm()
            .and_then(|p| p.protection_state.clone()),
        Some(ProtectionState::ProtectionStopped)
    );
    f.accepted(Method::DELETE, &item_path(&v1, "vm3"), None)
        .await;
    let deleted: ProtectedItemResource = f.get(&item_path(&v1, "vm3")).await;
    let d = deleted.properties.as_iaas_vm().expect("a VM item");
    assert_eq!(d.is_scheduled_for_deferred_delete, Some(true));
    assert!(d.deferred_delete_time_remaining.is_some());

    // The inventory: VMs, their instance view, managed disks.
    let _: VirtualMachine = f.get(&vm_path("vm1")).await;
    let live: VirtualMachine = f
        .get(&format!("{}?$expand=instanceView", vm_path("vm1")))
        .await;
    assert!(live.properties.power_state().is_some());
    assert!(
        live.properties.extra.is_empty(),
        "{:?}",
        live.properties.extra
    );
    let _: InstanceView = f.get(&format!("{}/instanceView", vm_path("vm1"))).await;
    let vms: Vec<VirtualMachine> = f
        .list(&format!(
            "/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines"
        ))
        .await;
    assert_eq!(vms.len(), 3);
    let img = f.app.dir().join("images").join("disk1.raw");
    std::fs::write(&img, vec![1; 1 << 20]).expect("image");
    let disk_uri =
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/disk1");
    let disk: ManagedDisk = f
        .ok(
            Method::PUT,
            &disk_uri,
            Some(json!({"location": "westeurope", "sku": {"name": "premium_lrs"},
                "properties": {"creationData": {"createOption": "Import", "sourceUri": format!("file://{}", img.display())}}})),
            StatusCode::CREATED,
        )
        .await;
    assert!(
        disk.properties.extra.is_empty(),
        "{:?}",
        disk.properties.extra
    );
    assert_eq!(
        disk.sku.as_ref().map(|s| s.name.as_str()),
        Some("Premium_LRS")
    );
    let _: ManagedDisk = f.get(&disk_uri).await;
    let _: Vec<ManagedDisk> = f
        .list(&format!(
            "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks"
        ))
        .await;

    // Error envelopes of a few 4xx.
    f.error(
        Method::GET,
        &vault_path("nope"),
        None,
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    )
    .await;
    f.error(
        Method::PUT,
        &vault_path("1-bad"),
        Some(r#"{"location":"westeurope"}"#),
        StatusCode::BAD_REQUEST,
        "InvalidResourceName",
    )
    .await;
    f.error(
        Method::GET,
        &format!("{v1}/backupPolicies/ghost"),
        None,
        StatusCode::NOT_FOUND,
        "BMSUserErrorPolicyNotExist",
    )
    .await;
    f.error(
        Method::PUT,
        &format!("{v1}/backupPolicies/bad-times"),
        Some(r#"{"properties":{"backupManagementType":"AzureIaasVM","schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Daily","scheduleRunTimes":["2024-01-01T21:15:00Z"]}}}"#),
        StatusCode::BAD_REQUEST,
        "BMSUserErrorInvalidPolicyInput",
    )
    .await;
    f.error(
        Method::GET,
        &format!("{v1}/backupJobs/ghost"),
        None,
        StatusCode::NOT_FOUND,
        "BMSUserErrorJobNotFound",
    )
    .await;
    f.error(
        Method::PUT,
        &v1,
        Some("{not json"),
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
    )
    .await;
    f.error(
        Method::GET,
        &format!("{v1}/backupFabrics/Azure/protectionContainers/x/protectedItems/y"),
        None,
        StatusCode::BAD_REQUEST,
        "BMSUserErrorInvalidInput",
    )
    .await;
    f.error(
        Method::DELETE,
        &format!("{v1}/backupPolicies/DefaultPolicy"),
        None,
        StatusCode::BAD_REQUEST,
        "BMSUserErrorPolicyInUse",
    )
    .await;

    assert!(f.checked >= 60, "{} bodies checked", f.checked);
    eprintln!("{} server bodies round-tripped", f.checked);
}
