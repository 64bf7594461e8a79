//! Authentication: every ARM request carries a bearer token this server's
//! issuer signed ([`crate::login`]); its signature, issuer, audience and
//! times are checked, and its principal and credential must still exist
//! (a reset credential or a deleted principal revokes its tokens). The
//! caller, with what its role assignments allow, goes to the handlers as
//! a [`Caller`]. A refusal is 401 `InvalidAuthenticationToken` (or
//! `AuthenticationFailed` without a token) with `WWW-Authenticate`, as ARM
//! answers.

use crate::AppState;
use crate::arm::ArmError;
use crate::login::audiences;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rsvault_service::identity::rbac::Access;
use rsvault_service::metastore::PrincipalRecord;
use std::sync::Arc;

/// Who made a request, and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: PrincipalRecord,
    pub access: Arc<Access>,
    /// The client's address.
    pub address: Option<std::net::IpAddr>,
}

impl Caller {
    /// How Azure's messages name the caller: a user's sign-in name, an
    /// application's app id.
    pub fn name(&self) -> &str {
        self.principal
            .user_name
            .as_deref()
            .or(self.principal.app_id.as_deref())
            .unwrap_or(&self.principal.object_id)
    }

    /// ARM's 403 for `action` at `scope`.
    pub fn refused(&self, action: &str, scope: &str) -> ArmError {
        ArmError::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                self.name(),
                self.principal.object_id
            ),
        )
    }
}

fn unauthorized(base: &str, tenant: &str, code: &str, message: &str) -> Response {
    let mut r = ArmError::new(StatusCode::UNAUTHORIZED, code, message).into_response();
    let challenge = format!(
        "Bearer authorization_uri=\"{base}/{tenant}\", error=\"invalid_token\", error_description=\"{}\"",
        message.replace('"', "'")
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Checks the bearer token and puts the [`Caller`] in the request's
/// extensions.
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let (peer, base) = crate::urls::peer_and_base(&state, &req);
    let tenant = state.issuer.tenant().to_owned();
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let Some(h) = header else {
        return unauthorized(
            &base,
            &tenant,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
    };
    let Some(token) = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
    else {
        return unauthorized(
            &base,
            &tenant,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        );
    };
    let accepted = audiences(&base);
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    let claims = match state.issuer.verify(token.trim(), &accepted) {
        Ok(c) => c,
        Err(e) => {
            let msg = match e {
                rsvault_service::identity::tokens::TokenError::Expired => {
                    "The access token has expired. Get a new one from the token endpoint."
                        .to_owned()
                }
                other => format!("The access token is invalid: {other}."),
            };
            return unauthorized(&base, &tenant, "InvalidAuthenticationToken", &msg);
        }
    };
    let (oid, cred) = (claims.oid.clone(), claims.rsv_cred.clone());
    let found = crate::handlers::reply::blocking(&state, move |s| {
        let p = s.token_principal(&oid, cred.as_deref())?;
        match p {
            Some(p) => Ok(Some((s.access_of(&p.object_id)?, p))),
            None => Ok(None),
        }
    })
    .await;
    match found {
        Ok(Some((access, principal))) => {
            req.extensions_mut().insert(Caller {
                principal,
                access: Arc::new(access),
                address: peer,
            });
            next.run(req).await
        }
        Ok(None) => unauthorized(
            &base,
            &tenant,
            "InvalidAuthenticationToken",
            "The access token is invalid: its principal or credential no longer exists (deleted or reset).",
        ),
        Err(e) => e.into_response(),
    }
}
