//! The built-in token issuer's endpoints, in Entra ID's shape, answered
//! before authentication: the OpenID configuration
//! (`/{tenant}/v2.0/.well-known/openid-configuration`, and v1's without
//! `/v2.0`), the signing keys (`/{tenant}/discovery/v2.0/keys`), and the
//! token endpoints (`/{tenant}/oauth2/v2.0/token`, v1's
//! `/{tenant}/oauth2/token`) for the client-credentials grant with a client
//! secret. `{tenant}` is this server's tenant id, `organizations` or
//! `common`. Paths match regardless of case and of doubled slashes (`az`
//! lower-cases the authority; Terraform doubles a trailing slash). Failed
//! logins are limited per client address.

mod device;
mod grants;
mod managed;

pub use device::DeviceCodes;
pub use managed::HEADER_FILE as MANAGED_IDENTITY_HEADER_FILE;

use crate::AppState;
use crate::metadata::AUDIENCES;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an access token lives (as Entra's do: about an hour).
pub const TOKEN_LIFETIME: i64 = 3599;
/// Failed logins from one address within [`FAILURE_WINDOW`] before its
/// logins are refused for the rest of the window.
pub const MAX_FAILURES: usize = 10;
/// The window of [`MAX_FAILURES`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// One of the issuer's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    OpenIdV2(String),
    OpenIdV1(String),
    Keys,
    TokenV2(String),
    TokenV1(String),
    UserRealm(String),
    DeviceCode(String, bool),
    DeviceLoginForm,
    DeviceLoginSubmit,
    ManagedIdentity,
}

/// Which endpoint a method and path name, if any.
fn endpoint(method: &Method, path: &str) -> Option<Endpoint> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    match s.as_slice() {
        [t, "v2.0", ".well-known", "openid-configuration"] if get => {
            Some(Endpoint::OpenIdV2((*t).into()))
        }
        [t, ".well-known", "openid-configuration"] if get => Some(Endpoint::OpenIdV1((*t).into())),
        [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] | ["discovery", "keys"]
            if get =>
        {
            Some(Endpoint::Keys)
        }
        [t, "oauth2", "v2.0", "token"] if post => Some(Endpoint::TokenV2((*t).into())),
        [t, "oauth2", "token"] if post => Some(Endpoint::TokenV1((*t).into())),
        ["oauth2", "token"] if post => Some(Endpoint::TokenV1("common".into())),
        [_, "userrealm", user] if get => Some(Endpoint::UserRealm((*user).into())),
        [t, "oauth2", "v2.0", "devicecode"] if post => {
            Some(Endpoint::DeviceCode((*t).into(), true))
        }
        [t, "oauth2", "devicecode"] if post => Some(Endpoint::DeviceCode((*t).into(), false)),
        ["devicelogin"] if get => Some(Endpoint::DeviceLoginForm),
        ["metadata", "identity", "oauth2", "token"] if get => Some(Endpoint::ManagedIdentity),
        ["devicelogin"] if post => Some(Endpoint::DeviceLoginSubmit),
        _ => None,
    }
}

/// Failed logins per client address.
#[derive(Debug, Default)]
pub struct FailedLogins(Mutex<HashMap<IpAddr, Vec<Instant>>>);

impl FailedLogins {
    fn recent(&self, ip: IpAddr) -> usize {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        m.retain(|_, v| {
            v.retain(|t| now.duration_since(*t) < FAILURE_WINDOW);
            !v.is_empty()
        });
        m.get(&ip).map_or(0, Vec::len)
    }

    fn record(&self, ip: IpAddr) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(ip).or_default().push(Instant::now());
    }
}

/// An OAuth2 error answer, as Entra ID sends it.
pub(crate) fn oauth_error(
    status: StatusCode,
    error: &str,
    code: u32,
    description: &str,
) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}"),
        "error_codes": [code],
        "timestamp": jiff::Timestamp::now().to_string(),
        "trace_id": rsvault_service::identity::secrets::new_guid(),
        "correlation_id": rsvault_service::identity::secrets::new_guid(),
    });
    let mut r = (status, Json(body)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The OpenID configuration of `tenant`, naming endpoints under `base`.
pub fn openid_configuration(base: &str, tenant: &str, issuer: &str, v2: bool) -> Value {
    let v = if v2 { "/v2.0" } else { "" };
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/{tenant}/oauth2{v}/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2{v}/token"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2{v}/devicecode"),
        "jwks_uri": format!("{base}/{tenant}/discovery{v}/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials", "password", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["aud", "iss", "iat", "nbf", "exp", "tid", "oid", "sub", "appid", "idtyp", "upn", "name"],
        "tenant_region_scope": "rsvault",
        "cloud_instance_name": "rsvault",
    })
}

/// The audience a v2 `scope` or a v1 `resource` asks for: the resource
/// with a trailing `/` (`https://management.core.windows.net//.default`
/// asks for `https://management.core.windows.net/`).
pub(crate) fn audience_of(form: &HashMap<String, String>, v2: bool) -> Option<String> {
    if v2 {
        let scope = form.get("scope")?;
        let s = scope
            .split_whitespace()
            .find(|s| s.ends_with("/.default"))?;
        let r = s.strip_suffix(".default")?;
        Some(if r.ends_with("//") {
            r[..r.len() - 1].to_owned()
        } else {
            r.to_owned()
        })
    } else {
        let r = form.get("resource")?;
        Some(if r.ends_with('/') {
            r.clone()
        } else {
            format!("{r}/")
        })
    }
}

/// The audiences this server's tokens may be for: Resource Manager as
/// Azure's clients name it, and this server's own URL (its Graph
/// resource and Resource Manager in the metadata document).
pub fn audiences(base: &str) -> Vec<String> {
    let mut a: Vec<String> = AUDIENCES.iter().map(|s| (*s).to_owned()).collect();
    a.push(format!("{}/", base.trim_end_matches('/')));
    a
}

pub(crate) fn known_tenant(state: &AppState, tenant: &str) -> bool {
    ["common", "organizations"].contains(&tenant)
        || tenant.eq_ignore_ascii_case(state.issuer.tenant())
}

/// Answers the issuer's endpoints before authentication; passes
/// everything else on.
pub async fn endpoints(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(ep) = endpoint(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let (peer, base) = crate::urls::peer_and_base(&state, &req);
    let issuer = state.issuer.issuer().to_owned();
    let v2 = matches!(ep, Endpoint::TokenV2(_));
    match ep {
        Endpoint::OpenIdV2(t) | Endpoint::OpenIdV1(t) if !known_tenant(&state, &t) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{t}' not found."),
        ),
        Endpoint::OpenIdV2(t) => {
            Json(openid_configuration(&base, &t, &issuer, true)).into_response()
        }
        Endpoint::OpenIdV1(t) => {
            Json(openid_configuration(&base, &t, &issuer, false)).into_response()
        }
        Endpoint::Keys => Json(state.issuer.jwks()).into_response(),
        // Users sign in here with a password (no federation): MSAL then
        // uses the resource-owner password grant.
        Endpoint::UserRealm(user) => Json(json!({
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": user.rsplit_once('@').map_or("rsvault.local", |(_, d)| d),
            "cloud_instance_name": "rsvault",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }))
        .into_response(),
        Endpoint::DeviceLoginForm => device::form(req.headers()),
        Endpoint::ManagedIdentity => {
            managed::token(&state, &base, req.headers(), req.uri().query()).await
        }
        Endpoint::TokenV2(_)
        | Endpoint::TokenV1(_)
        | Endpoint::DeviceCode(..)
        | Endpoint::DeviceLoginSubmit => {
            let (parts, body) = req.into_parts();
            let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
                return oauth_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    900144,
                    "The request body is too large.",
                );
            };
            match ep {
                Endpoint::DeviceCode(t, _) if !known_tenant(&state, &t) => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_tenant",
                    90002,
                    &format!("Tenant '{t}' not found."),
                ),
                Endpoint::DeviceCode(_, v2) => device::start(&state, &base, &body, v2),
                Endpoint::DeviceLoginSubmit => {
                    device::submit(&state, &parts.headers, peer, &body, &state.failed_logins).await
                }
                Endpoint::TokenV2(t) | Endpoint::TokenV1(t) => {
                    grants::token(
                        &state,
                        grants::TokenRequest {
                            base: &base,
                            tenant: &t,
                            v2,
                            peer,
                            headers: &parts.headers,
                            body: &body,
                        },
                    )
                    .await
                }
                // The endpoints without a body were answered above.
                _ => oauth_error(
                    StatusCode::NOT_FOUND,
                    "invalid_request",
                    900144,
                    "No such endpoint.",
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match_in_any_case_and_with_double_slashes() {
        let get = Method::GET;
        let post = Method::POST;
        let table = [
            (
                &get,
                "/t1/v2.0/.well-known/openid-configuration",
                Some(Endpoint::OpenIdV2("t1".into())),
            ),
            (
                &get,
                "//T1/V2.0/.well-known/OpenID-Configuration",
                Some(Endpoint::OpenIdV2("t1".into())),
            ),
            (
                &get,
                "/organizations/.well-known/openid-configuration",
                Some(Endpoint::OpenIdV1("organizations".into())),
            ),
            (&get, "/t1/discovery/v2.0/keys", Some(Endpoint::Keys)),
            (
                &post,
                "/t1/oauth2/v2.0/token",
                Some(Endpoint::TokenV2("t1".into())),
            ),
            (
                &post,
                "//t1//oauth2/v2.0/token",
                Some(Endpoint::TokenV2("t1".into())),
            ),
            (
                &post,
                "/t1/oauth2/token",
                Some(Endpoint::TokenV1("t1".into())),
            ),
            (
                &post,
                "/oauth2/token",
                Some(Endpoint::TokenV1("common".into())),
            ),
            (&get, "/t1/oauth2/v2.0/token", None),
            (
                &get,
                "/common/userrealm/alice@rsvault.local",
                Some(Endpoint::UserRealm("alice@rsvault.local".into())),
            ),
            (
                &post,
                "/t1/oauth2/v2.0/devicecode",
                Some(Endpoint::DeviceCode("t1".into(), true)),
            ),
            (&get, "/DeviceLogin", Some(Endpoint::DeviceLoginForm)),
            (&post, "/devicelogin", Some(Endpoint::DeviceLoginSubmit)),
            (
                &get,
                "/metadata/identity/oauth2/token",
                Some(Endpoint::ManagedIdentity),
            ),
            (&get, "/subscriptions", None),
        ];
        for (m, path, want) in table {
            assert_eq!(endpoint(m, path), want, "{m} {path}");
        }
    }

    #[test]
    fn scopes_and_resources_name_the_audience() {
        let f = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        let table = [
            (
                f("scope", "https://management.core.windows.net//.default"),
                true,
                Some("https://management.core.windows.net/"),
            ),
            (
                f("scope", "https://management.azure.com/.default"),
                true,
                Some("https://management.azure.com/"),
            ),
            (
                f("scope", "openid https://h:7431//.default offline_access"),
                true,
                Some("https://h:7431/"),
            ),
            (
                f("scope", "https://management.azure.com/user_impersonation"),
                true,
                None,
            ),
            (
                f("resource", "https://management.core.windows.net/"),
                false,
                Some("https://management.core.windows.net/"),
            ),
            (
                f("resource", "https://management.azure.com"),
                false,
                Some("https://management.azure.com/"),
            ),
            (HashMap::new(), false, None),
        ];
        for (form, v2, want) in table {
            assert_eq!(audience_of(&form, v2).as_deref(), want, "{form:?}");
        }
    }
}
