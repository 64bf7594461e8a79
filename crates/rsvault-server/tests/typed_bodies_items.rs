//! The bodies of protection and inventory as typed models: what the server
//! answers outside the main flow (subscriptions, resource groups,
//! `backupStatus`, usages, storage accounts) reads into its model and
//! writes back identical, and request bodies are read into their models
//! in one place: one that does not read is `InvalidRequestContent`, one
//! that reads but lacks a property gets the service's own code.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use common::requests::{CONTAINER, ITEM, RG, SUB, VAULT};
use rsvault_arm::List;
use rsvault_arm::storage::{CheckNameResult, StorageAccountResource};
use rsvault_arm::tenancy::{BackupStatusResponse, ResourceGroup, Subscription};
use rsvault_arm::usage::UsageEntry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Reads `body` as `T` and checks that it writes back identical.
fn same<T: Serialize + DeserializeOwned>(what: &str, body: &Value) -> T {
    let typed: T = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("{what}: does not read as its model: {e}\n{body:#}"));
    assert_eq!(
        &serde_json::to_value(&typed).expect("serialise"),
        body,
        "{what}"
    );
    typed
}

/// GETs `uri`: 200 and the body.
async fn get(app: &App, uri: &str) -> Value {
    let a = app.send(Method::GET, uri, "").await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&a.body)
    );
    a.json()
}

/// Sends `body`; the status and the error code.
async fn refused(app: &App, method: Method, uri: &str, body: &str) -> (StatusCode, String) {
    let a = app.send(method, uri, body.to_owned()).await;
    (a.status, a.error_code().unwrap_or_default())
}

fn vault() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"
    )
}

fn item() -> String {
    format!(
        "{}/backupFabrics/Azure/protectionContainers/{}/protectedItems/{}",
        vault(),
        CONTAINER.replace(';', "%3B"),
        ITEM.replace(';', "%3B")
    )
}

#[tokio::test]
async fn tenancy_status_and_usage_bodies_round_trip() {
    let app = App::new();
    app.populate().await;
    let subs: List<Subscription> = same("subscriptions", &get(&app, "/subscriptions").await);
    assert_eq!(subs.value[0].subscription_id.as_deref(), Some(SUB));
    let groups: List<ResourceGroup> = same(
        "resource groups",
        &get(&app, &format!("/subscriptions/{SUB}/resourceGroups")).await,
    );
    assert_eq!(groups.value[0].name(), RG);
    let g: ResourceGroup = same(
        "resource group",
        &get(
            &app,
            &format!("/subscriptions/{SUB}/resourceGroups/{}", RG.to_uppercase()),
        )
        .await,
    );
    assert_eq!(g.location.as_deref(), Some("westeurope"));
    let status = |id: String| {
        let app = &app;
        async move {
            let uri = format!(
                "/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/locations/westeurope/backupStatus"
            );
            let a = app
                .send(
                    Method::POST,
                    &uri,
                    json!({"resourceType": "VM", "resourceId": id}).to_string(),
                )
                .await;
            assert_eq!(a.status, StatusCode::OK);
            same::<BackupStatusResponse>("backupStatus", &a.json())
        }
    };
    let vm = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
    );
    let st = status(vm).await;
    assert_eq!(
        (
            st.protection_status.as_deref(),
            st.protected_item_name.as_deref()
        ),
        (Some("Protected"), Some(ITEM))
    );
    let st = status(vm_other()).await;
    assert_eq!(st.protection_status.as_deref(), Some("NotProtected"));
    let usages: List<UsageEntry> = same("usages", &get(&app, &format!("{}/usages", vault())).await);
    let count = usages
        .value
        .iter()
        .find(|u| u.name() == "ProtectedItemCount");
    assert_eq!(count.and_then(|u| u.current_value), Some(1));
    let summaries: List<UsageEntry> = same(
        "usage summaries",
        &get(&app, &format!("{}/backupUsageSummaries", vault())).await,
    );
    assert_eq!(summaries.value[0].name(), "ProtectedItemCount");
}

fn vm_other() -> String {
    format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/nobody"
    )
}

#[tokio::test]
async fn storage_account_bodies_round_trip() {
    let app = App::new();
    let sa = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/restoresa"
    );
    // A PUT body without properties reads (as `{}`).
    let body = json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": {"a": "b"}});
    let a = app.send(Method::PUT, &sa, body.to_string()).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let put: StorageAccountResource = same("storage account PUT", &a.json());
    let got: StorageAccountResource = same("storage account", &get(&app, &sa).await);
    assert_eq!(put, got);
    assert_eq!(rsvault_arm::storage::account_kind(&got), Some("StorageV2"));
    let list: List<StorageAccountResource> = same(
        "storage accounts",
        &get(
            &app,
            &format!("/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts"),
        )
        .await,
    );
    assert_eq!(list.value.len(), 1);
    let check = format!("/subscriptions/{SUB}/providers/Microsoft.Storage/checkNameAvailability");
    let a = app
        .send(
            Method::POST,
            &check,
            r#"{"name":"restoresa","type":"Microsoft.Storage/storageAccounts"}"#,
        )
        .await;
    let r: CheckNameResult = same("name check", &a.json());
    assert_eq!(
        (r.name_available, r.reason.as_deref()),
        (false, Some("AlreadyExists"))
    );
    // The service names a missing name; a name that is not text does not read.
    for (body, code) in [
        (
            r#"{"type":"Microsoft.Storage/storageAccounts"}"#,
            "MissingRequiredProperty",
        ),
        (
            r#"{"name":"x","type":"Microsoft.Compute/disks"}"#,
            "InvalidRequestPropertyValue",
        ),
        (r#"{"name":5}"#, "InvalidRequestContent"),
    ] {
        assert_eq!(
            refused(&app, Method::POST, &check, body).await,
            (StatusCode::BAD_REQUEST, code.to_owned()),
            "{body}"
        );
    }
    for (body, code) in [
        (r#"{"location":"westeurope"}"#, "MissingRequiredProperty"),
        (
            r#"{"location":"westeurope","sku":{"name":"Standard_LRS"},"tags":{"a":1}}"#,
            "InvalidTagValue",
        ),
        (
            r#"{"location":"westeurope","sku":{"name":"Standard_LRS"},"tags":"x"}"#,
            "InvalidRequestContent",
        ),
        (r#"{"sku":{"name":"Standard_LRS"}}"#, "LocationRequired"),
    ] {
        assert_eq!(
            refused(&app, Method::PUT, &sa, body).await,
            (StatusCode::BAD_REQUEST, code.to_owned()),
            "{body}"
        );
    }
}

#[tokio::test]
async fn request_bodies_read_into_their_models_or_are_refused() {
    let app = App::new();
    app.populate().await;
    let vm = format!(
        "/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm2"
    );
    let disk =
        format!("/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/d1");
    let cases = [
        // Without properties, the service names what is missing.
        (
            Method::PUT,
            vm.clone(),
            r#"{"location":"westeurope"}"#,
            "InvalidParameter",
        ),
        (
            Method::PUT,
            vm.clone(),
            r#"{"location":"westeurope","properties":null}"#,
            "InvalidParameter",
        ),
        (
            Method::PUT,
            vm.clone(),
            r#"{"properties":{}}"#,
            "LocationRequired",
        ),
        (
            Method::PUT,
            disk.clone(),
            r#"{"location":"westeurope"}"#,
            "InvalidParameter",
        ),
        (Method::PUT, item(), "{}", "BMSUserErrorInvalidPolicyInput"),
        (
            Method::PUT,
            item(),
            r#"{"properties":{"protectionState":"Sleeping"}}"#,
            "BMSUserErrorInvalidConfigureProtectionRequest",
        ),
        // A field of the wrong type does not read as the model.
        (
            Method::PUT,
            vm.clone(),
            r#"{"location":"westeurope","properties":{"storageProfile":{"osDisk":"x"}}}"#,
            "InvalidRequestContent",
        ),
        (
            Method::PUT,
            vm,
            r#"{"location":7,"properties":{}}"#,
            "InvalidRequestContent",
        ),
        (
            Method::PUT,
            disk,
            r#"{"location":"westeurope","properties":{"diskSizeGB":"big"}}"#,
            "InvalidRequestContent",
        ),
        (
            Method::PUT,
            item(),
            r#"{"properties":{"protectedItemType":"Microsoft.Compute/virtualMachines","policyId":5}}"#,
            "InvalidRequestContent",
        ),
        (
            Method::PUT,
            item(),
            r#"{"properties":{"policyId":[1]}}"#,
            "InvalidRequestContent",
        ),
        (Method::PUT, item(), "[]", "InvalidRequestContent"),
    ];
    for (method, uri, body, code) in cases {
        assert_eq!(
            refused(&app, method, &uri, body).await,
            (StatusCode::BAD_REQUEST, code.to_owned()),
            "{uri} {body}"
        );
    }
    // The item is untouched by what was refused.
    let pi = get(&app, &item()).await;
    assert_eq!(pi["properties"]["policyName"], "DefaultPolicy");
}
