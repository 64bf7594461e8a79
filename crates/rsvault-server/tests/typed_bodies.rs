//! Vault, setting and policy bodies are read into their typed models once,
//! by the request table: a field of the wrong type is refused with the
//! code the service gives a field that breaks its rules, naming the field,
//! and what a body leaves out stays as it was.

mod common;

use axum::http::{Method, StatusCode};
use common::App;
use serde_json::json;

const VAULTS: &str =
    "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.RecoveryServices/vaults";

async fn vault(app: &App) -> String {
    let v = format!("{VAULTS}/v1");
    let a = app
        .send(Method::PUT, &v, r#"{"location":"westeurope"}"#)
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    v
}

/// Sends `body` and checks the error's status, code and message start.
async fn refused(app: &App, method: Method, path: &str, body: &str, code: &str, starts: &str) {
    let a = app.send(method, path, body.to_owned()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(a.error_code().as_deref(), Some(code), "{body}");
    let message = a.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.starts_with(starts), "{body}: {message}");
}

#[tokio::test]
async fn policy_fields_of_the_wrong_type_name_the_field() {
    let app = App::new();
    let v = vault(&app).await;
    let p = format!("{v}/backupPolicies/odd");
    let hourly = |h: serde_json::Value| {
        json!({"properties": {"backupManagementType": "AzureIaasVM", "policyType": "V2",
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                "hourlySchedule": h}}})
        .to_string()
    };
    let cases = [
        (
            json!({"properties": {"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": "3"}}).to_string(),
            "properties.instantRpRetentionRangeInDays: ",
        ),
        (
            hourly(json!({"interval": 4_294_967_300u64})),
            "properties.schedulePolicy.hourlySchedule.interval: ",
        ),
        (
            hourly(json!({"interval": 4, "scheduleWindowDuration": -1})),
            "properties.schedulePolicy.hourlySchedule.scheduleWindowDuration: ",
        ),
        (
            json!({"properties": {"backupManagementType": "AzureIaasVM", "retentionPolicy": {
                "retentionPolicyType": "LongTermRetentionPolicy", "dailySchedule": {"retentionDuration": {"count": "30"}}}}})
            .to_string(),
            "properties.retentionPolicy.dailySchedule.retentionDuration.count: ",
        ),
        // No properties at all: the service's rule, not a reading error.
        ("{}".to_owned(), "properties.backupManagementType: "),
        ("".to_owned(), "properties.backupManagementType: "),
    ];
    for (body, starts) in cases {
        refused(
            &app,
            Method::PUT,
            &p,
            &body,
            "BMSUserErrorInvalidPolicyInput",
            starts,
        )
        .await;
    }
    refused(
        &app,
        Method::PUT,
        &p,
        "{not json",
        "InvalidRequestContent",
        "The request content was invalid",
    )
    .await;
    assert_eq!(
        app.send(Method::GET, &p, "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn vault_bodies_of_the_wrong_shape_are_invalid_content() {
    let app = App::new();
    let v = vault(&app).await;
    for (method, body, field) in [
        (Method::PUT, r#"{"location":"westeurope","tags":5}"#, "tags"),
        (
            Method::PATCH,
            r#"{"properties":{"securitySettings":{"softDeleteSettings":{"softDeleteRetentionPeriodInDays":"x"}}}}"#,
            "properties.securitySettings.softDeleteSettings.softDeleteRetentionPeriodInDays",
        ),
    ] {
        refused(
            &app,
            method,
            &v,
            body,
            "InvalidRequestContent",
            &format!("The request content was invalid and could not be deserialized: {field}: "),
        )
        .await;
    }
    // Rules the service checks keep their codes.
    refused(
        &app,
        Method::PATCH,
        &v,
        r#"{"properties":{"securitySettings":{"softDeleteSettings":{"softDeleteRetentionPeriodInDays":13}}}}"#,
        "BMSUserErrorInvalidInput",
        "properties.securitySettings.softDeleteSettings.softDeleteRetentionPeriodInDays: 13",
    )
    .await;
    refused(
        &app,
        Method::PATCH,
        &v,
        r#"{"properties":{"redundancySettings":{"standardTierStorageRedundancy":"Mars"}}}"#,
        "BadRequest",
        "standardTierStorageRedundancy 'Mars' is not valid",
    )
    .await;
    let a = app.send(Method::GET, &v, "").await;
    assert_eq!(
        a.json()["properties"]["securitySettings"]["softDeleteSettings"]["softDeleteRetentionPeriodInDays"],
        14
    );
}

#[tokio::test]
async fn a_verify_schedule_left_out_stays_and_a_null_one_resets() {
    let app = App::new();
    let v = vault(&app).await;
    let cfg = format!("{v}/backupconfig/vaultconfig");
    let schedule = |a: &common::Answer| a.json()["properties"]["rsvaultVerify"]["schedule"].clone();
    let a = app
        .send(
            Method::PATCH,
            &cfg,
            r#"{"properties":{"rsvaultVerify":{"schedule":"sat 06:00"}}}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(schedule(&a), "sat 06:00");
    for body in [
        r#"{"properties":{"rsvaultVerify":{}}}"#,
        r#"{"properties":{"softDeleteFeatureState":"Disabled"}}"#,
        "{}",
    ] {
        let a = app.send(Method::PATCH, &cfg, body).await;
        assert_eq!(a.status, StatusCode::OK, "{body}");
        assert_eq!(schedule(&a), "sat 06:00", "{body}");
    }
    assert_eq!(
        app.send(Method::GET, &cfg, "").await.json()["properties"]["softDeleteFeatureState"],
        "Disabled"
    );
    refused(
        &app,
        Method::PUT,
        &cfg,
        r#"{"properties":{"rsvaultVerify":{"schedule":5}}}"#,
        "BMSUserErrorInvalidInput",
        "properties.rsvaultVerify.schedule: ",
    )
    .await;
    let a = app
        .send(
            Method::PUT,
            &cfg,
            r#"{"properties":{"rsvaultVerify":{"schedule":null}}}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(schedule(&a), serde_json::Value::Null);
    assert_eq!(
        a.json()["properties"]["rsvaultVerify"]["scheduleSource"],
        "ServerDefault"
    );
}
