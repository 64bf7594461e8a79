//! The route table: every template parses to its variant and names its
//! permission; matching is case-insensitive with percent-decoding; what no
//! route takes gets the same answers as before the table.

use super::table::ROUTES;
use super::*;

/// A path of `template` with each `{name}` replaced by `x<name>`.
fn sample(template: &str) -> String {
    let segs: Vec<String> = template
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("x{name}"),
                None => s.to_owned(),
            },
        )
        .collect();
    format!("/{}", segs.join("/"))
}

fn parse(method: Method, path: &str) -> Result<ArmRequest, ArmError> {
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    ArmRequest::parse(&method, path, query, b"{}")
}

fn variant(r: &ArmRequest) -> String {
    let d = format!("{r:?}");
    d.split([' ', '{']).next().unwrap_or_default().to_owned()
}

/// Every route: method, template, the variant it builds and its permission.
const EXPECTED: &[(&str, &str, &str, &str)] = include!("tests_expected.in");

#[test]
fn every_route_parses_to_its_variant_with_its_permission() {
    let mut seen = Vec::new();
    for route in ROUTES {
        let method = route.verb.method();
        let path = sample(route.template);
        let r = parse(method.clone(), &path)
            .unwrap_or_else(|e| panic!("{method} {path}: {} {}", e.code, e.message));
        let p = r.permission();
        assert!(
            p.starts_with("Microsoft.")
                && (p.ends_with("/read")
                    || p.ends_with("/write")
                    || p.ends_with("/delete")
                    || p.ends_with("/action")),
            "{path}: {p}"
        );
        seen.push((
            method.to_string(),
            route.template.to_owned(),
            variant(&r),
            p.to_owned(),
        ));
    }
    let expected: Vec<(String, String, String, String)> = EXPECTED
        .iter()
        .map(|(m, t, v, p)| ((*m).into(), (*t).into(), (*v).into(), (*p).into()))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn templates_capture_every_parameter_their_request_carries() {
    let item = "/subscriptions/xs/resourceGroups/xg/providers/Microsoft.RecoveryServices/vaults/xv/backupFabrics/Azure/protectionContainers/xc/protectedItems/xi/recoveryPoints/xp/restore";
    let ArmRequest::Restore { item, point, body } = parse(Method::POST, item).unwrap() else {
        panic!("not a restore")
    };
    assert_eq!(
        (
            item.vault.id(),
            item.container.as_str(),
            item.item.as_str(),
            point.as_str()
        ),
        (
            "/subscriptions/xs/resourceGroups/xg/providers/Microsoft.RecoveryServices/vaults/xv"
                .to_owned(),
            "xc",
            "xi",
            "xp"
        )
    );
    assert_eq!(*body, rsvault_arm::request::IaasVmRestoreRequest::default());
    let r = parse(Method::GET, "/subscriptions/xs/resourceGroups/xg/providers/Microsoft.RecoveryServices/vaults/xv/backupJobs/xj/operationResults/xo").unwrap();
    assert_eq!(
        r,
        ArmRequest::GetJobOperationResult {
            vault: VaultRef {
                subscription: "xs".into(),
                resource_group: "xg".into(),
                name: "xv".into()
            },
            job: "xj".into(),
            operation: "xo".into(),
        }
    );
}

#[test]
fn matching_is_case_insensitive_and_names_keep_their_casing() {
    let a = parse(Method::GET, "/SUBSCRIPTIONS/Sub/RESOURCEGROUPS/RG/PROVIDERS/microsoft.recoveryservices/VAULTS/MyVault/BACKUPPOLICIES/DefaultPolicy").unwrap();
    assert_eq!(
        a,
        ArmRequest::GetPolicy {
            vault: VaultRef {
                subscription: "Sub".into(),
                resource_group: "RG".into(),
                name: "MyVault".into()
            },
            policy: "DefaultPolicy".into(),
        }
    );
    assert_eq!(
        a.permission(),
        "Microsoft.RecoveryServices/Vaults/backupPolicies/read"
    );
    let b = parse(
        Method::GET,
        "/subscriptions/s/resourcegroups/rg/providers/MICROSOFT.CLASSICCOMPUTE/virtualmachines/VM1",
    )
    .unwrap();
    assert!(
        matches!(b, ArmRequest::GetVm { provider: VmProvider::ClassicCompute, ref vm, instance_view: false } if vm.name == "VM1")
    );
}

#[test]
fn segments_and_queries_are_percent_decoded() {
    let p = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3Brg%3Bvm/protectedItems/VM%3Biaasvmcontainerv2%3Brg%3Bvm/recoveryPoints?$filter=startDate%20eq%20'2024-01-01'+and+x&%24skiptoken=4&$top=2&api-version=2024-04-01";
    let ArmRequest::ListRecoveryPoints { item, query } = parse(Method::GET, p).unwrap() else {
        panic!("not a list of points")
    };
    assert_eq!(item.container, "IaasVMContainer;iaasvmcontainerv2;rg;vm");
    assert_eq!(item.item, "VM;iaasvmcontainerv2;rg;vm");
    assert_eq!(
        query,
        ListQuery {
            filter: "startDate eq '2024-01-01' and x".into(),
            skip_token: Some("4".into()),
            top: Some("2".into()),
        }
    );
    assert_eq!(decode("a%3Bb"), "a;b");
    assert_eq!(decode("a%"), "a%");
    assert_eq!(decode("%zz"), "%zz");
    assert_eq!(decode("x%2"), "x%2");
    let v = parse(Method::GET, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm?%24expand=instanceView").unwrap();
    assert!(matches!(
        v,
        ArmRequest::GetVm {
            instance_view: true,
            ..
        }
    ));
}

#[test]
fn what_no_route_takes_gets_the_answers_it_got_before() {
    let vault = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v";
    for (m, p) in [
        (Method::PATCH, format!("{vault}/backupPolicies/p")),
        (Method::DELETE, format!("{vault}/backupJobs")),
        (Method::PUT, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines".to_owned()),
        (Method::HEAD, vault.to_owned()),
        (Method::OPTIONS, "/subscriptions".to_owned()),
        (Method::GET, format!("{vault}/nothing")),
        (Method::GET, "/subscriptions/s/providers/Microsoft.ClassicCompute/disks".to_owned()),
        (Method::POST, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/restart".to_owned()),
        (Method::GET, "/".to_owned()),
        (Method::GET, "/subscriptions/s/x/y".to_owned()),
    ] {
        let e = parse(m.clone(), &p).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (StatusCode::NOT_FOUND, "NoRegisteredProviderFound"), "{m} {p}");
    }
    // A resource group's name is checked before the route is looked for.
    let e = parse(Method::GET, "/subscriptions/s/resourceGroups/rg./anything").unwrap_err();
    assert_eq!(
        (e.status, e.code.as_str()),
        (StatusCode::BAD_REQUEST, "InvalidResourceGroup")
    );
    // A body is read only by the routes that take one.
    let bad = br#"{"location": "#;
    let e = ArmRequest::parse(&Method::PUT, vault, None, bad).unwrap_err();
    assert_eq!(e.code, "InvalidRequestContent");
    assert!(ArmRequest::parse(&Method::GET, vault, None, bad).is_ok());
}

#[test]
fn az_reads_storage_accounts_with_an_empty_resource_type() {
    let g = "/subscriptions/s/resourcegroups/rg/providers";
    let a = parse(
        Method::GET,
        &format!("{g}/Microsoft.Storage/storageAccounts//mysa?api-version=2016-01-01"),
    )
    .unwrap();
    assert!(
        matches!(a, ArmRequest::GetStorageAccount { ref account } if account.name == "mysa" && account.resource_group == "rg")
    );
    let c = parse(
        Method::GET,
        &format!("{g}/Microsoft.ClassicStorage/storageAccounts//mysa?api-version=2015-12-01"),
    )
    .unwrap();
    assert_eq!(
        c.permission(),
        "Microsoft.ClassicStorage/storageAccounts/read"
    );
}

#[test]
fn action_bodies_read_as_their_models_or_are_refused_naming_the_field() {
    let item = "/subscriptions/xs/resourceGroups/xg/providers/Microsoft.RecoveryServices/vaults/xv/backupFabrics/Azure/protectionContainers/xc/protectedItems/xi";
    let restore = format!("{item}/recoveryPoints/xp/restore");
    let backup = format!("{item}/backup");
    let post =
        |path: &str, body: &str| ArmRequest::parse(&Method::POST, path, None, body.as_bytes());

    let r = post(&restore, r#"{"properties": {"objectType": "IaasVMRestoreRequest", "recoveryType": "restoredisks",
        "restoreDiskLunList": [0, 2], "targetResourceGroupId": "/subscriptions/xs/resourceGroups/rg2"}}"#)
    .unwrap();
    let ArmRequest::Restore { body, .. } = r else {
        panic!("not a restore: {r:?}")
    };
    assert_eq!(
        body.recovery_type,
        Some(rsvault_arm::request::RecoveryType::RestoreDisks)
    );
    assert_eq!(body.restore_disk_lun_list, Some(vec![0, 2]));
    assert_eq!(
        body.target_resource_group_id.as_deref(),
        Some("/subscriptions/xs/resourceGroups/rg2")
    );
    let r = post(&backup, r#"{"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": "2030-01-01T00:00:00Z"}}"#).unwrap();
    let ArmRequest::BackupNow { body, .. } = r else {
        panic!("not a backup: {r:?}")
    };
    assert_eq!(
        body.recovery_point_expiry_time_in_utc.as_deref(),
        Some("2030-01-01T00:00:00Z")
    );
    // No properties (or no body): the request's defaults.
    for empty in ["", "{}", r#"{"properties": null}"#] {
        assert!(
            matches!(post(&backup, empty), Ok(ArmRequest::BackupNow { body, .. }) if body == Default::default())
        );
    }

    // (path, body, what the message starts with)
    let refused = [
        (
            &restore,
            r#"{"properties": {"restoreDiskLunList": [-1, 99]}}"#,
            "properties.restoreDiskLunList[0]: ",
        ),
        (
            &restore,
            r#"{"properties": {"restoreDiskLunList": [0, 1.5]}}"#,
            "properties.restoreDiskLunList[1]: ",
        ),
        (
            &restore,
            r#"{"properties": {"restoreDiskLunList": "0"}}"#,
            "properties.restoreDiskLunList: ",
        ),
        (
            &restore,
            r#"{"properties": {"recoveryType": 7}}"#,
            "properties.recoveryType: ",
        ),
        (&restore, r#"{"properties": []}"#, "properties: "),
        (
            &backup,
            r#"{"properties": {"recoveryPointExpiryTimeInUTC": 12345}}"#,
            "properties.recoveryPointExpiryTimeInUTC: ",
        ),
        (
            &backup,
            r#"{"properties": {"recoveryPointExpiryTimeInUTC": true}}"#,
            "properties.recoveryPointExpiryTimeInUTC: ",
        ),
        (&backup, "[1]", ".: "),
    ];
    for (path, body, starts) in refused {
        let e = post(path, body).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::BAD_REQUEST, "InvalidRequestContent"),
            "{body}"
        );
        assert!(e.message.starts_with(starts), "{body}: {}", e.message);
    }
    let e = post(&backup, "{not json").unwrap_err();
    assert!(
        e.message
            .starts_with("The request content was invalid and could not be deserialized")
    );
}

#[test]
fn the_passive_stamps_api_versions_read_the_secondary_region() {
    let pi = "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/Azure/protectionContainers/c/protectedItems/i";
    let vault = "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v";
    for version in ["2018-12-20", "2021-11-15", "2023-01-15", "2026-07-15"] {
        for (path, want) in [
            (
                format!("{vault}/backupProtectedItems/"),
                "ListProtectedItemsCrr",
            ),
            (format!("{pi}/recoveryPoints/"), "ListRecoveryPointsCrr"),
            (format!("{pi}/recoveryPoints/7"), "GetRecoveryPointCrr"),
        ] {
            let r = parse(Method::GET, &format!("{path}?api-version={version}")).unwrap();
            assert_eq!(variant(&r), want, "{path} {version}");
        }
    }
    for (path, want) in [
        (
            format!("{vault}/backupProtectedItems"),
            "ListProtectedItems",
        ),
        (format!("{pi}/recoveryPoints"), "ListRecoveryPoints"),
        (format!("{pi}/recoveryPoints/7"), "GetRecoveryPoint"),
    ] {
        let r = parse(Method::GET, &format!("{path}?api-version=2025-02-01")).unwrap();
        assert_eq!(variant(&r), want, "{path}");
    }
}
