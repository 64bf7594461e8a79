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

use crate::AppState;
use crate::metadata::AUDIENCES;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rsvault_service::identity::tokens::{self, Subject};
use rsvault_service::metastore::PrincipalKind;
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
fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
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
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["aud", "iss", "iat", "nbf", "exp", "tid", "oid", "sub", "appid", "idtyp", "upn", "name"],
        "tenant_region_scope": "rsvault",
        "cloud_instance_name": "rsvault",
    })
}

/// The audience a v2 `scope` or a v1 `resource` asks for: the resource
/// with a trailing `/` (`https://management.core.windows.net//.default`
/// asks for `https://management.core.windows.net/`).
fn audience_of(form: &HashMap<String, String>, v2: bool) -> Option<String> {
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

fn known_tenant(state: &AppState, tenant: &str) -> bool {
    ["common", "organizations"].contains(&tenant)
        || tenant.eq_ignore_ascii_case(state.issuer.tenant())
}

async fn token(
    state: &Arc<AppState>,
    base: &str,
    tenant: &str,
    v2: bool,
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Response {
    if !known_tenant(state, tenant) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    let ip = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if state.failed_logins.recent(ip) >= MAX_FAILURES {
        let mut r = oauth_error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            50196,
            "Too many failed sign-ins from this address; retry in a minute.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return r;
    }
    let mut form: HashMap<String, String> = match serde_urlencoded::from_bytes(body) {
        Ok(f) => f,
        Err(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The request body must be application/x-www-form-urlencoded.",
            );
        }
    };
    // client_secret_basic: the client id and secret in an Authorization header.
    if let Some((id, secret)) = basic_auth(headers) {
        form.entry("client_id".into()).or_insert(id);
        form.entry("client_secret".into()).or_insert(secret);
    }
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!(
                "The app requested an unsupported grant type '{grant}'. This server supports client_credentials."
            ),
        );
    }
    let Some(audience) = audience_of(&form, v2) else {
        let what = if v2 {
            "'scope' with a '/.default' scope"
        } else {
            "'resource'"
        };
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: {what}."),
        );
    };
    if !audiences(base)
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&audience))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {audience} was not found in the tenant. Resources here: {}.",
                audiences(base).join(", ")
            ),
        );
    }
    let (Some(client), Some(secret)) = (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    ) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id' and 'client_secret' (client assertions are not supported yet).",
        );
    };
    let found = crate::handlers::reply::blocking(state, move |s| {
        s.authenticate(&client, &secret, PrincipalKind::ServicePrincipal)
    })
    .await;
    let who = match found {
        Ok(Some(a)) => a,
        Ok(None) => {
            state.failed_logins.record(ip);
            tracing::warn!(client = ?peer, "a client-credentials login failed");
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to the app.",
            );
        }
        Err(e) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                90033,
                &e.message,
            );
        }
    };
    let p = &who.principal;
    let subject = Subject {
        object_id: p.object_id.clone(),
        app_id: p.app_id.clone(),
        user_name: None,
        display_name: p.display_name.clone(),
        credential: Some(who.credential.clone()),
    };
    let now = tokens::now();
    match state.issuer.issue(&subject, &audience, TOKEN_LIFETIME, now) {
        Ok(t) => token_response(&t, &audience, now, v2),
        Err(e) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            90033,
            &e.to_string(),
        ),
    }
}

fn token_response(access_token: &str, audience: &str, now: i64, v2: bool) -> Response {
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME,
        "ext_expires_in": TOKEN_LIFETIME,
        "access_token": access_token,
    });
    if !v2 {
        body["expires_on"] = json!((now + TOKEN_LIFETIME).to_string());
        body["not_before"] = json!(now.to_string());
        body["resource"] = json!(audience);
    }
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn basic_auth(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b = h
        .strip_prefix("Basic ")
        .or_else(|| h.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    let dec = |v: &str| -> String {
        form_urlencoded::parse(format!("x={v}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
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
        Endpoint::TokenV2(t) | Endpoint::TokenV1(t) => {
            let (parts, body) = req.into_parts();
            let body: Bytes = match axum::body::to_bytes(body, 64 * 1024).await {
                Ok(b) => b,
                Err(_) => {
                    return oauth_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "invalid_request",
                        900144,
                        "The request body is too large.",
                    );
                }
            };
            token(&state, &base, &t, v2, peer, &parts.headers, &body).await
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
