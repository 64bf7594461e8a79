//! Microsoft Graph over the directory: users, service principals and
//! applications (an application and its service principal are one
//! principal here, with one object id), their passwords, and
//! `directoryObjects/getByIds`, as `az ad` and `az role` call them.

use super::reply::{Reply, blocking, json, listed, put, status};
use crate::AppState;
use crate::arm::ArmError;
use crate::request::graph::GraphRequest as G;
use axum::http::StatusCode;
use rsvault_arm::graph::{DirectoryObject, KeyCredential, PasswordCredential};
use rsvault_service::identity::certificates::{certificate_of, parse_certificate, thumbprint};
use rsvault_service::identity::graph::{Collection, GraphFilter};
use rsvault_service::metastore::{CredentialRecord, PrincipalKind, PrincipalRecord};
use std::sync::Arc;

fn key(c: &CredentialRecord, der: &[u8]) -> KeyCredential {
    KeyCredential {
        key_id: Some(c.key_id.clone()),
        display_name: Some(c.display_name.clone()),
        start_date_time: Some(c.created.clone()),
        end_date_time: c.expires.clone(),
        key: None,
        kind: Some("AsymmetricX509Cert".into()),
        usage: Some("Verify".into()),
        custom_key_identifier: Some(thumbprint(der)),
        extra: Default::default(),
    }
}

/// Adds the certificates a write names (replacing the others when it is
/// a PATCH, as Graph's collections are).
fn add_keys(
    s: &rsvault_service::Service,
    id: &str,
    keys: &[KeyCredential],
    replace: bool,
) -> rsvault_service::Result<()> {
    let mut first = replace;
    for k in keys {
        let der = parse_certificate(k.key.as_deref().unwrap_or(""))?;
        let name = k
            .display_name
            .clone()
            .unwrap_or_else(|| "certificate".into());
        s.add_certificate(id, &der, &name, k.end_date_time.as_deref(), first)?;
        first = false;
    }
    Ok(())
}

fn password(c: &CredentialRecord, secret: Option<String>) -> PasswordCredential {
    PasswordCredential {
        key_id: Some(c.key_id.clone()),
        display_name: Some(c.display_name.clone()),
        start_date_time: Some(c.created.clone()),
        end_date_time: c.expires.clone(),
        hint: secret.as_ref().map(|s| s.chars().take(3).collect()),
        secret_text: secret,
        custom_key_identifier: None,
        extra: Default::default(),
    }
}

/// A principal as a collection shows it.
fn object(c: Collection, p: &PrincipalRecord, creds: &[CredentialRecord]) -> DirectoryObject {
    let mut o = DirectoryObject {
        id: p.object_id.clone(),
        display_name: p.display_name.clone(),
        created_date_time: Some(p.created.clone()),
        ..Default::default()
    };
    match (c, p.kind) {
        (_, PrincipalKind::User) => {
            o.odata_type = "#microsoft.graph.user".into();
            o.user_principal_name = p.user_name.clone();
            o.account_enabled = Some(true);
        }
        (Collection::Applications, _) => {
            o.odata_type = "#microsoft.graph.application".into();
            o.app_id = p.app_id.clone();
            o.password_credentials = Some(
                creds
                    .iter()
                    .filter(|c| certificate_of(c).is_none())
                    .map(|c| password(c, None))
                    .collect(),
            );
            o.key_credentials = Some(
                creds
                    .iter()
                    .filter_map(|c| certificate_of(c).map(|der| key(c, &der)))
                    .collect(),
            );
            o.identifier_uris = Some(Vec::new());
        }
        (_, kind) => {
            o.odata_type = "#microsoft.graph.servicePrincipal".into();
            o.app_id = p.app_id.clone();
            o.service_principal_names = Some(p.app_id.iter().cloned().collect());
            o.service_principal_type = Some(
                if kind == PrincipalKind::ManagedIdentity {
                    "ManagedIdentity"
                } else {
                    "Application"
                }
                .into(),
            );
            o.account_enabled = Some(true);
        }
    }
    o
}

/// A principal and, for an application, its credentials.
fn view(
    s: &rsvault_service::Service,
    c: Collection,
    p: &PrincipalRecord,
) -> rsvault_service::Result<DirectoryObject> {
    let creds = if c == Collection::Applications {
        s.credentials_of(&p.object_id)?
    } else {
        Vec::new()
    };
    Ok(object(c, p, &creds))
}

fn bad(message: &str) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

#[rustfmt::skip]
pub async fn execute(state: &Arc<AppState>, request: G) -> Reply {
    match request {
        G::List { collection, filter } => {
            let f = GraphFilter::parse(&filter)?;
            listed(blocking(state, move |s| {
                s.graph_list(collection, &f)?.iter().map(|p| view(s, collection, p)).collect::<rsvault_service::Result<Vec<_>>>()
            }).await?)
        }
        G::Get { collection, id } => json(blocking(state, move |s| view(s, collection, &s.graph_get(collection, &id)?)).await?),
        G::Create { collection, body } => {
            let name = body.display_name.clone().unwrap_or_default();
            let made = match collection {
                Collection::Users => {
                    let upn = body.user_principal_name.clone().ok_or_else(|| bad("userPrincipalName is required."))?;
                    let pw = body.password_profile.and_then(|p| p.password);
                    blocking(state, move |s| {
                        let (p, _) = s.create_user(&upn, &name, pw.as_deref())?;
                        view(s, collection, &p)
                    }).await?
                }
                Collection::Applications => {
                    let keys = body.key_credentials.clone().unwrap_or_default();
                    blocking(state, move |s| {
                        let p = s.create_application(&name)?;
                        add_keys(s, &p.object_id, &keys, false)?;
                        view(s, collection, &p)
                    }).await?
                }
                Collection::ServicePrincipals => {
                    let app = body.app_id.clone().ok_or_else(|| bad("appId is required."))?;
                    blocking(state, move |s| {
                        let p = s.graph_get(Collection::Applications, &app).map_err(|_| {
                            rsvault_service::ServiceError::bad_request(
                                "Request_BadRequest",
                                format!("The appId '{app}' names no application here: create the application first."),
                            )
                        })?;
                        view(s, collection, &p)
                    }).await?
                }
            };
            put(made, true)
        }
        G::Update { id, body, .. } => {
            blocking(state, move |s| {
                if let Some(name) = &body.display_name {
                    s.rename_principal(&id, name)?;
                }
                if let Some(keys) = &body.key_credentials {
                    let p = s.graph_get(Collection::Applications, &id)?;
                    if keys.is_empty() {
                        for c in s.credentials_of(&p.object_id)? {
                            if certificate_of(&c).is_some() {
                                s.remove_password(&p.object_id, &c.key_id)?;
                            }
                        }
                    }
                    add_keys(s, &p.object_id, keys, true)?;
                }
                Ok(())
            }).await?;
            status(StatusCode::NO_CONTENT)
        }
        G::Delete { collection, id } => {
            blocking(state, move |s| {
                let p = s.graph_get(collection, &id)?;
                s.delete_principal(&p.object_id)
            }).await?;
            status(StatusCode::NO_CONTENT)
        }
        G::AddPassword { id, body } => {
            let want = body.password_credential.unwrap_or_default();
            let name = want.display_name.unwrap_or_else(|| "rbac".into());
            let (cred, secret) = blocking(state, move |s| s.add_password(&id, &name, want.end_date_time.as_deref())).await?;
            json(password(&cred, Some(secret)))
        }
        G::RemovePassword { id, body } => {
            let key = body.key_id.ok_or_else(|| bad("keyId is required."))?;
            blocking(state, move |s| s.remove_password(&id, &key)).await?;
            status(StatusCode::NO_CONTENT)
        }
        G::GetByIds { body } => {
            let types: Vec<String> = body.types.iter().map(|t| t.to_ascii_lowercase()).collect();
            listed(blocking(state, move |s| {
                let mut out = Vec::new();
                for id in &body.ids {
                    let Some(p) = s.find_principal(id)? else { continue };
                    let c = if p.kind == PrincipalKind::User { Collection::Users } else { Collection::ServicePrincipals };
                    let t = if c == Collection::Users { "user" } else { "serviceprincipal" };
                    if types.is_empty() || types.iter().any(|x| x == t) {
                        out.push(object(c, &p, &[]));
                    }
                }
                Ok(out)
            }).await?)
        }
    }
}
