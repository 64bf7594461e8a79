//! The vault host's managed identity, in App Service's shape (what MSAL,
//! `az login --identity` and azure-identity's `ManagedIdentityCredential`
//! use with `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`):
//! `GET /metadata/identity/oauth2/token?api-version=2019-08-01&resource=…`
//! with the header `X-IDENTITY-HEADER`, whose value is the secret in
//! `<data-dir>/identity/managed-identity-header` (0600: only the server's
//! user, and whoever it gives it to, can read it). The identity is the
//! principal `rsvault-host`; it may do what its role assignments allow
//! (none until an Owner assigns some).

use super::{TOKEN_LIFETIME, audiences};
use crate::AppState;
use crate::arm::ArmError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rsvault_service::identity::tokens::{self, Subject};
use serde_json::json;
use std::sync::Arc;

/// The file of the identity header's secret, under the data directory.
pub const HEADER_FILE: &str = "identity/managed-identity-header";

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    ArmError::new(status, code, message).into_response()
}

/// Answers a token request of the host's managed identity.
pub async fn token(
    state: &Arc<AppState>,
    base: &str,
    headers: &axum::http::HeaderMap,
    query: Option<&str>,
) -> Response {
    let path = state.service.data_dir().join(HEADER_FILE);
    let expected = match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => s.trim().to_owned(),
        _ => {
            return refuse(
                StatusCode::NOT_FOUND,
                "ManagedIdentityNotEnabled",
                "The vault host's managed identity is not set up (its header secret is missing).",
            );
        }
    };
    let given = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "InvalidIdentityHeader",
            "The X-IDENTITY-HEADER is missing or is not this host's.",
        );
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        query
            .iter()
            .find(|(q, _)| q.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let Some(resource) = get("resource") else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "The 'resource' query parameter is required.",
        );
    };
    let resource = if resource.ends_with('/') {
        resource
    } else {
        format!("{resource}/")
    };
    if !audiences(base)
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&resource))
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidResource",
            &format!(
                "Tokens are for {}, not {resource}.",
                audiences(base).join(", ")
            ),
        );
    }
    let found = crate::handlers::reply::blocking(state, |s| s.host_identity()).await;
    let p = match found {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let subject = Subject {
        object_id: p.object_id.clone(),
        app_id: p.app_id.clone(),
        user_name: None,
        display_name: p.display_name.clone(),
        credential: None,
    };
    let now = tokens::now();
    match state.issuer.issue(&subject, &resource, TOKEN_LIFETIME, now) {
        Ok(t) => {
            let mut r = Json(json!({
                "access_token": t,
                "expires_on": (now + TOKEN_LIFETIME).to_string(),
                "expires_in": TOKEN_LIFETIME.to_string(),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": p.app_id,
            }))
            .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            &e.to_string(),
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
