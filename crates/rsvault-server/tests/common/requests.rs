//! Generated HTTP requests over every route family of the server: paths
//! from real route templates with names, odd segments and encodings mixed
//! in, queries, and bodies that are valid, mutated, hostile JSON or bytes.
//! Shared by the seeded test (`tests/http_fuzz.rs`) and the cargo-fuzz
//! target (`fuzz/fuzz_targets/http_routes.rs`), which feeds its input in
//! as the entropy.

#![allow(dead_code)]

use serde_json::{Value, json};

/// Where the choices come from.
pub trait Entropy {
    fn next_u64(&mut self) -> u64;

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }

    /// One of `items`.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A seeded xorshift64* generator.
pub struct XorShift(pub u64);

impl Entropy for XorShift {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Entropy read from a fuzzer's input; zeros once it runs out.
pub struct FromBytes<'a>(pub &'a [u8]);

impl Entropy for FromBytes<'_> {
    fn next_u64(&mut self) -> u64 {
        let n = self.0.len().min(8);
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(b)
    }
}

/// The names the setup creates, so generated paths reach real resources.
pub const SUB: &str = "s1";
pub const RG: &str = "rg1";
pub const VAULT: &str = "v1";
pub const VM: &str = "vm1";
pub const CONTAINER: &str = "IaasVMContainer;iaasvmcontainerv2;rg1;vm1";
pub const ITEM: &str = "VM;iaasvmcontainerv2;rg1;vm1";

/// A generated request.
pub struct Generated {
    pub method: &'static str,
    pub uri: String,
    pub body: Vec<u8>,
}

const METHODS: [&str; 7] = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Route templates: `{s}` subscription, `{g}` resource group, `{v}` vault,
/// `{m}` VM, `{c}` container, `{i}` item, `{n}` any name.
const TEMPLATES: &[&str] = &[
    "/healthz",
    "/",
    "/portal/{n}",
    "/rsvault/clock",
    "/subscriptions",
    "/subscriptions/{s}/resourceGroups",
    "/subscriptions/{s}/resourceGroups/{g}",
    "/subscriptions/{s}/providers/Microsoft.RecoveryServices/vaults",
    "/subscriptions/{s}/providers/Microsoft.RecoveryServices/locations/{n}/backupStatus",
    "/subscriptions/{s}/providers/Microsoft.Compute/virtualMachines",
    "/subscriptions/{s}/providers/Microsoft.Compute/disks",
    "/subscriptions/{s}/providers/Microsoft.ClassicCompute/virtualMachines",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{m}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{m}/instanceView",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{m}/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ClassicCompute/virtualMachines/{m}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/disks/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/restorePointCollections",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/restorePointCollections/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/restorePointCollections/{n}/restorePoints/{n}",
    "/subscriptions/{s}/providers/Microsoft.Storage/storageAccounts",
    "/subscriptions/{s}/providers/Microsoft.Storage/checkNameAvailability",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts//{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts/{n}/blobServices/default/containers",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts/{n}/blobServices/default/containers/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Storage/storageAccounts/{n}/blobServices/default/containers/{n}/blobs",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ClassicStorage/storageAccounts//{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupstorageconfig/vaultstorageconfig",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupconfig/vaultconfig",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupEncryptionConfigs/backupResourceEncryptionConfig",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/usages",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupUsageSummaries",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupPolicies",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupPolicies/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/refreshContainers",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/operationResults/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupOperationResults/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupOperations/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupProtectableItems",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupProtectedItems",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupProtectionContainers",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupResourceGuardProxies",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}/operationsStatus/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}/operationResults/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}/backup",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}/recoveryPoints",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}/recoveryPoints/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}/recoveryPoints/{n}/restore",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupJobs",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupJobs/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupJobs/{n}/cancel",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/backupJobs/{n}/operationResults/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.RecoveryServices/vaults/{v}/{n}",
    "/subscriptions/{s}/{n}/{n}",
    "/{n}",
    "/{n}/{n}/{n}",
];

/// Odd path segments: empty, traversal, control characters, invalid
/// UTF-8, long, Unicode, numbers at the edges.
const ODD: &[&str] = &[
    "",
    ".",
    "..",
    "%00",
    "%FF",
    "%C3%28",
    "%",
    "%2",
    "%2F",
    "a%20b",
    "東京",
    "rg.",
    "(x)",
    "-1",
    "0",
    "4294967298",
    "18446744073709551616",
    "99999999999999999999999",
    "DefaultPolicy",
    "westeurope",
    "mars",
    "index.html",
    "app.js",
];

/// Hostile JSON values.
fn odd_value(e: &mut impl Entropy) -> Value {
    match e.below(14) {
        0 => json!(u64::MAX),
        1 => json!(i64::MIN),
        2 => json!(4_294_967_298u64),
        3 => json!(-1),
        4 => json!(1.5),
        5 => json!(1e308),
        6 => json!("3"),
        7 => json!(""),
        8 => json!(null),
        9 => json!(true),
        10 => json!([]),
        11 => json!({}),
        12 => json!("9999-12-31T23:59:59Z"),
        _ => json!("\u{0}x".repeat(e.below(50))),
    }
}

/// Valid bodies of the routes, as the starting points of mutation.
fn valid_bodies() -> Vec<Value> {
    let t = "2024-01-01T21:00:00Z";
    vec![
        json!({"location": "westeurope", "sku": {"name": "Standard"}, "tags": {"a": "b"}}),
        json!({"properties": {"redundancySettings": {"standardTierStorageRedundancy": "LocallyRedundant"}}}),
        json!({"properties": {"softDeleteFeatureState": "Enabled", "softDeleteRetentionPeriodInDays": 14}}),
        json!({"properties": {"securitySettings": {"softDeleteSettings": {"softDeleteState": "Enabled", "softDeleteRetentionPeriodInDays": 30}}}}),
        json!({"properties": {"backupManagementType": "AzureIaasVM", "timeZone": "UTC", "instantRpRetentionRangeInDays": 2,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": [t]},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": [t], "retentionDuration": {"count": 30, "durationType": "Days"}}}}}),
        json!({"properties": {"backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "UTC", "instantRpRetentionRangeInDays": 7,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {"interval": 4, "scheduleWindowStartTime": "2021-12-17T08:00:00Z", "scheduleWindowDuration": 16}},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionDuration": {"count": 180, "durationType": "Days"}}}}}),
        json!({"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "protectionState": "ProtectionStopped", "policyId": ""}}),
        json!({"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": "2030-01-01T00:00:00Z"}}),
        json!({"properties": {"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks",
            "storageAccountId": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa", "restoreDiskLunList": [0]}}),
        json!({"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": "file:///nonexistent.raw"}}}}}),
        json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "properties": {"creationData": {"createOption": "Import", "sourceUri": "file:///nonexistent.raw"}}}),
        json!({"resourceType": "VM", "resourceId": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1"}),
        json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": {"a": "b"}}),
        json!({"name": "restoresa", "type": "Microsoft.Storage/storageAccounts"}),
        json!({"advanceSeconds": 60}),
        json!({"now": "2025-06-02T00:00:00Z"}),
    ]
}

/// Replaces one leaf (or adds one key) of `v` with a hostile value.
fn mutate(v: &mut Value, e: &mut impl Entropy) {
    match v {
        Value::Object(m) if !m.is_empty() && e.chance(80) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = e.pick(&keys).clone();
            mutate(m.get_mut(&k).expect("a key of the map"), e);
        }
        Value::Object(m) => {
            let keys = ["location", "properties", "count", "interval", "lun", "now"];
            m.insert((*e.pick(&keys)).to_owned(), odd_value(e));
        }
        Value::Array(a) if !a.is_empty() && e.chance(70) => {
            let i = e.below(a.len());
            mutate(&mut a[i], e);
        }
        _ => *v = odd_value(e),
    }
}

fn body(e: &mut impl Entropy) -> Vec<u8> {
    match e.below(10) {
        0 if e.chance(2) => vec![b' '; (2 << 20) + 1],
        0 => Vec::new(),
        1 => (0..e.below(64))
            .map(|_| e.next_u64().to_le_bytes()[0])
            .collect(),
        2 => b"{\"properties\": {\"a\": [1, 2,".to_vec(),
        3 => odd_value(e).to_string().into_bytes(),
        4 => "[".repeat(200 + e.below(200)).into_bytes(),
        _ => {
            let mut v = e.pick(&valid_bodies()).clone();
            for _ in 0..1 + e.below(3) {
                if e.chance(85) {
                    mutate(&mut v, e);
                }
            }
            v.to_string().into_bytes()
        }
    }
}

/// A random segment of URI-safe characters and percent escapes.
fn random_segment(e: &mut impl Entropy) -> String {
    let n = if e.chance(3) {
        100 + e.below(5000)
    } else {
        e.below(12)
    };
    (0..n)
        .map(|_| {
            let b = e.next_u64().to_le_bytes()[0];
            if b.is_ascii_alphanumeric() || b"-._~()".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn segment(e: &mut impl Entropy, real: &str) -> String {
    match e.below(20) {
        0..=15 => real.to_owned(),
        16 | 17 => (*e.pick(ODD)).to_owned(),
        18 => real.to_uppercase(),
        _ => random_segment(e),
    }
}

fn path(e: &mut impl Entropy) -> String {
    let t = *e.pick(TEMPLATES);
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let key = &rest[open + 1..open + 2];
        let real = match key {
            "s" => SUB,
            "g" => RG,
            "v" => VAULT,
            "m" => VM,
            "c" => CONTAINER,
            "i" => ITEM,
            _ => "DefaultPolicy",
        };
        out.push_str(&segment(e, real).replace(';', "%3B"));
        rest = &rest[open + 3..];
    }
    out.push_str(rest);
    out
}

fn query(e: &mut impl Entropy) -> String {
    let parts = [
        "api-version=2024-04-01".to_owned(),
        format!("$skiptoken={}", e.pick(ODD)),
        format!("%24skiptoken={}", e.next_u64()),
        format!("$filter={}", random_segment(e)),
        "$filter=operation%20eq%20'Backup'%20and%20startTime%20eq%20'9999-12-31%2011:59:59%20PM'"
            .to_owned(),
        "$expand=instanceView".to_owned(),
        "$expand=restorePoints".to_owned(),
        random_segment(e),
    ];
    let n = e.below(3);
    let q: Vec<String> = (0..n).map(|_| e.pick(&parts).clone()).collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// One request.
pub fn request(e: &mut impl Entropy) -> Generated {
    let method = match e.below(20) {
        0..=8 => "GET",
        9..=12 => "PUT",
        13..=16 => "POST",
        _ => *e.pick(&METHODS),
    };
    let uri = format!("{}{}", path(e), query(e));
    Generated {
        method,
        uri,
        body: body(e),
    }
}
