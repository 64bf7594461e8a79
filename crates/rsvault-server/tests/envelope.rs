//! Every error answer is ARM's envelope, whoever makes it: the handlers,
//! axum (405, 413, extractor rejections) or the portal (404); and numbers a
//! caller gives never overflow.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::App;

const VAULTS: &str =
    "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.RecoveryServices/vaults";

#[tokio::test]
async fn bodies_over_the_limit_get_request_entity_too_large() {
    let app = App::new();
    let big = vec![b' '; 3 << 20];
    let a = app.send(Method::PUT, &format!("{VAULTS}/v1"), big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.error_code().as_deref(), Some("RequestEntityTooLarge"));
}

#[tokio::test]
async fn unsupported_methods_get_method_not_allowed() {
    let app = App::new();
    for (m, p) in [
        (Method::GET, "/rsvault/clock"),
        (Method::POST, "/healthz"),
        (Method::DELETE, "/"),
        (Method::PUT, "/portal/app.js"),
    ] {
        let a = app.send(m.clone(), p, Body::empty()).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {p}");
        assert_eq!(
            a.error_code().as_deref(),
            Some("MethodNotAllowed"),
            "{m} {p}"
        );
    }
}

#[tokio::test]
async fn missing_portal_files_and_bad_paths_get_the_envelope() {
    let app = App::new();
    let a = app
        .send(Method::GET, "/portal/nothing-here.js", Body::empty())
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.error_code().as_deref(), Some("NotFound"));
    let a = app.send(Method::GET, "/portal/%FF%FE", Body::empty()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.error_code().as_deref(), Some("InvalidRequestUri"));
    // The portal's page and files are untouched.
    let a = app.send(Method::GET, "/", Body::empty()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.content_type.starts_with("text/html"));
}

#[tokio::test]
async fn answers_without_a_token_are_the_envelope() {
    let app = App::new();
    let req = Request::builder()
        .uri(VAULTS)
        .body(Body::empty())
        .expect("request");
    let a = app.send_request(req).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.error_code().as_deref(), Some("AuthenticationFailed"));
}

#[tokio::test]
async fn the_clock_refuses_overflowing_and_malformed_moves() {
    let app = App::new();
    for body in [
        r#"{"advanceSeconds":18446744073709551615}"#,
        r#"{"advanceSeconds":9223372036854775807}"#,
        r#"{"advanceSeconds":-5}"#,
        r#"{"now":"9999-12-31T23:00:00Z"}"#,
        r#"{"now":"not a time"}"#,
        r#"{}"#,
        "not json",
        "",
    ] {
        let a = app.send(Method::POST, "/rsvault/clock", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            a.error_code().as_deref(),
            Some("InvalidRequestContent"),
            "{body}"
        );
    }
    let a = app
        .send(Method::POST, "/rsvault/clock", r#"{"advanceSeconds":3600}"#)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["now"], "2025-06-01T13:00:00Z");
}

#[tokio::test]
async fn a_huge_skiptoken_gives_an_empty_page() {
    let app = App::new();
    for v in ["v1", "v2", "v3"] {
        let a = app
            .send(
                Method::PUT,
                &format!("{VAULTS}/{v}"),
                r#"{"location":"westeurope"}"#,
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED);
    }
    let a = app
        .send(
            Method::GET,
            &format!("{VAULTS}?$skiptoken={}", usize::MAX),
            Body::empty(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["value"], serde_json::json!([]));
    assert!(a.json()["nextLink"].is_null());
}

#[tokio::test]
async fn resource_group_names_and_regions_are_checked() {
    let app = App::new();
    let long = "a".repeat(5000);
    for rg in ["bad%00rg", "rg.", "a%2Fb", long.as_str()] {
        let p = format!(
            "/subscriptions/s1/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/v1"
        );
        let a = app
            .send(Method::PUT, &p, r#"{"location":"westeurope"}"#)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{rg}");
        assert_eq!(
            a.error_code().as_deref(),
            Some("InvalidResourceGroup"),
            "{rg}"
        );
    }
    let a = app
        .send(
            Method::PUT,
            &format!("{VAULTS}/v1"),
            r#"{"location":"mars"}"#,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.error_code().as_deref(),
        Some("LocationNotAvailableForResourceType")
    );
    let vm = "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm1";
    let a = app.send(Method::PUT, vm, r#"{"location":"mars"}"#).await;
    assert_eq!(
        a.error_code().as_deref(),
        Some("LocationNotAvailableForResourceType")
    );
}
