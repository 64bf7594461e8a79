//! The token endpoint's grants: client credentials (a service principal's
//! app id and secret, in the body or HTTP Basic), password (a user's name
//! and password: the resource-owner flow `az login --username` and the
//! portal use), and refresh tokens (what the user flows hand out with
//! their tokens). A user's answer carries what MSAL builds its account
//! from: an ID token and `client_info`.

use super::device::Poll;
use super::{
    FailedLogins, MAX_FAILURES, TOKEN_LIFETIME, audience_of, audiences, known_tenant, oauth_error,
};
use crate::AppState;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rsvault_service::identity::directory::Authenticated;
use rsvault_service::identity::tokens::{self, REFRESH_AUDIENCE, Subject};
use rsvault_service::metastore::PrincipalKind;
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One token request.
pub struct TokenRequest<'a> {
    pub base: &'a str,
    pub tenant: &'a str,
    pub v2: bool,
    pub peer: Option<IpAddr>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

fn bad(code: u32, error: &str, description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, error, code, description)
}

fn server_error(e: impl std::fmt::Display) -> Response {
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        90033,
        &e.to_string(),
    )
}

fn too_many() -> Response {
    let mut r = oauth_error(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        50196,
        "Too many failed sign-ins from this address; retry in a minute.",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// Answers a token request.
pub async fn token(state: &Arc<AppState>, req: TokenRequest<'_>) -> Response {
    if !known_tenant(state, req.tenant) {
        return bad(
            90002,
            "invalid_request",
            &format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.",
                req.tenant
            ),
        );
    }
    let ip = req.peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if state.failed_logins.recent(ip) >= MAX_FAILURES {
        return too_many();
    }
    let Ok(mut form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(req.body) else {
        return bad(
            900144,
            "invalid_request",
            "The request body must be application/x-www-form-urlencoded.",
        );
    };
    if let Some((id, secret)) = basic_auth(req.headers) {
        form.entry("client_id".into()).or_insert(id);
        form.entry("client_secret".into()).or_insert(secret);
    }
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if grant == DEVICE_CODE_GRANT {
        return device_code(state, &form, &req);
    }
    let Some(audience) = audience_of(&form, req.v2) else {
        let what = if req.v2 {
            "'scope' with a '/.default' scope"
        } else {
            "'resource'"
        };
        return bad(
            900144,
            "invalid_request",
            &format!("The request body must contain the following parameter: {what}."),
        );
    };
    if !audiences(req.base)
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&audience))
    {
        return bad(
            500011,
            "invalid_resource",
            &format!(
                "The resource principal named {audience} was not found in the tenant. Resources here: {}.",
                audiences(req.base).join(", ")
            ),
        );
    }
    let field = |k: &str| form.get(k).cloned();
    let who = match grant.as_str() {
        "client_credentials" if field("client_assertion").is_some() => {
            let (Some(id), Some(kind), Some(assertion)) = (
                field("client_id"),
                field("client_assertion_type"),
                field("client_assertion"),
            ) else {
                return bad(
                    900144,
                    "invalid_request",
                    "The request body must contain the following parameter: 'client_id' and 'client_assertion_type'.",
                );
            };
            if kind != JWT_BEARER {
                return bad(
                    70002,
                    "invalid_client",
                    &format!("client_assertion_type must be '{JWT_BEARER}'."),
                );
            }
            let ends = [
                format!("{}/{}/oauth2/v2.0/token", req.base, req.tenant),
                format!("{}/{}/oauth2/token", req.base, req.tenant),
                format!("{}/{}/oauth2/v2.0/token", req.base, state.issuer.tenant()),
                format!("{}/{}/oauth2/token", req.base, state.issuer.tenant()),
            ];
            asserted(state, ip, id, assertion, ends.to_vec()).await
        }
        "client_credentials" => {
            let (Some(id), Some(secret)) = (field("client_id"), field("client_secret")) else {
                return bad(
                    900144,
                    "invalid_request",
                    "The request body must contain the following parameter: 'client_id' and 'client_secret' or 'client_assertion'.",
                );
            };
            check(
                state,
                &state.failed_logins,
                ip,
                id,
                secret,
                PrincipalKind::ServicePrincipal,
            )
            .await
        }
        "password" => {
            let (Some(user), Some(password)) = (field("username"), field("password")) else {
                return bad(
                    900144,
                    "invalid_request",
                    "The request body must contain the following parameter: 'username' and 'password'.",
                );
            };
            check(
                state,
                &state.failed_logins,
                ip,
                user,
                password,
                PrincipalKind::User,
            )
            .await
        }
        "refresh_token" => {
            let Some(t) = field("refresh_token") else {
                return bad(
                    900144,
                    "invalid_request",
                    "The request body must contain the following parameter: 'refresh_token'.",
                );
            };
            refreshed(state, &t).await
        }
        other => {
            return bad(
                70003,
                "unsupported_grant_type",
                &format!(
                    "The app requested an unsupported grant type '{other}'. This server supports client_credentials, password and refresh_token."
                ),
            );
        }
    };
    let who = match who {
        Ok(w) => w,
        Err(r) => return r,
    };
    answer(state, &who, &audience, field("client_id").as_deref(), &req)
}

/// The grant of the device-code flow.
const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A poll of the device-code flow: pending until the user signs in at
/// `/devicelogin`, then the user's tokens (once).
fn device_code(
    state: &AppState,
    form: &HashMap<String, String>,
    req: &TokenRequest<'_>,
) -> Response {
    let Some(code) = form.get("device_code") else {
        return bad(
            900144,
            "invalid_request",
            "The request body must contain the following parameter: 'device_code'.",
        );
    };
    match state.device_codes.poll(code) {
        Poll::Waiting => bad(
            70016,
            "authorization_pending",
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ),
        Poll::Expired => bad(70019, "expired_token", "Verification code expired."),
        Poll::Approved {
            who,
            audience,
            client_id,
        } => answer(state, &who, &audience, Some(&client_id), req),
    }
}

/// Checks a secret; a failure counts against the address.
async fn check(
    state: &Arc<AppState>,
    failed: &FailedLogins,
    ip: IpAddr,
    id: String,
    secret: String,
    kind: PrincipalKind,
) -> Result<Authenticated, Response> {
    let found =
        crate::handlers::reply::blocking(state, move |s| s.authenticate(&id, &secret, kind)).await;
    match found {
        Ok(Some(a)) => Ok(a),
        Ok(None) => {
            failed.record(ip);
            tracing::warn!(client = %ip, "a login failed");
            Err(match kind {
                PrincipalKind::User => bad(
                    50126,
                    "invalid_grant",
                    "Error validating credentials due to invalid username or password.",
                ),
                _ => oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to the app.",
                ),
            })
        }
        Err(e) => Err(server_error(e.message)),
    }
}

/// RFC 7523's client assertion type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Checks a client assertion (a certificate's signed JWT); a failure
/// counts against the address.
async fn asserted(
    state: &Arc<AppState>,
    ip: IpAddr,
    id: String,
    assertion: String,
    audiences: Vec<String>,
) -> Result<Authenticated, Response> {
    let found = crate::handlers::reply::blocking(state, move |s| {
        s.authenticate_assertion(&id, &assertion, &audiences)
    })
    .await;
    match found {
        Ok(Some(a)) => Ok(a),
        Ok(None) => {
            state.failed_logins.record(ip);
            tracing::warn!(client = %ip, "a certificate login failed");
            Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700027,
                "Client assertion failed signature validation, or names no certificate of this application, or is expired or for another audience.",
            ))
        }
        Err(e) => Err(server_error(e.message)),
    }
}

/// The principal a refresh token names, while its credential lives.
async fn refreshed(state: &Arc<AppState>, token: &str) -> Result<Authenticated, Response> {
    let expired = || {
        bad(
            70008,
            "invalid_grant",
            "The provided authorization code or refresh token has expired or was revoked. Sign in again.",
        )
    };
    let claims = state
        .issuer
        .verify(token, &[REFRESH_AUDIENCE])
        .map_err(|_| expired())?;
    let (oid, cred) = (claims.oid.clone(), claims.rsv_cred.clone());
    let found =
        crate::handlers::reply::blocking(state, move |s| s.token_principal(&oid, cred.as_deref()))
            .await;
    match found {
        Ok(Some(principal)) => Ok(Authenticated {
            principal,
            credential: claims.rsv_cred.unwrap_or_default(),
        }),
        Ok(None) => Err(expired()),
        Err(e) => Err(server_error(e.message)),
    }
}

/// The token answer: an access token, and for a user an ID token, a
/// refresh token and `client_info`.
fn answer(
    state: &AppState,
    who: &Authenticated,
    audience: &str,
    client_id: Option<&str>,
    req: &TokenRequest<'_>,
) -> Response {
    let p = &who.principal;
    let subject = Subject {
        object_id: p.object_id.clone(),
        app_id: p.app_id.clone(),
        user_name: p.user_name.clone(),
        display_name: p.display_name.clone(),
        credential: Some(who.credential.clone()),
    };
    let now = tokens::now();
    let access = match state.issuer.issue(&subject, audience, TOKEN_LIFETIME, now) {
        Ok(t) => t,
        Err(e) => return server_error(e),
    };
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME,
        "ext_expires_in": TOKEN_LIFETIME,
        "access_token": access,
    });
    if p.kind == PrincipalKind::User {
        let client = client_id.unwrap_or("rsvault");
        let (id_token, refresh) = match (
            state.issuer.issue_id_token(&subject, client, now),
            state.issuer.issue_refresh_token(&subject, now),
        ) {
            (Ok(i), Ok(r)) => (i, r),
            (Err(e), _) | (_, Err(e)) => return server_error(e),
        };
        let info = json!({"uid": p.object_id, "utid": state.issuer.tenant()}).to_string();
        body["id_token"] = json!(id_token);
        body["refresh_token"] = json!(refresh);
        body["client_info"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(info));
        body["scope"] = json!(format!("{audience}user_impersonation {audience}.default"));
    }
    if !req.v2 {
        body["expires_on"] = json!((now + TOKEN_LIFETIME).to_string());
        body["not_before"] = json!(now.to_string());
        body["resource"] = json!(audience);
    }
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `client_secret_basic`: the client id and secret in an Authorization
/// header (each form-encoded).
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
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
