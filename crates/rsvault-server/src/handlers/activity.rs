//! Records each write made through the API in the activity log: the
//! caller, the operation (its RBAC action), the scope, the outcome and the
//! client's address. A log that cannot be written does not fail the
//! request; it is logged at `warn`.

use super::reply::Reply;
use crate::AppState;
use crate::auth::Caller;
use axum::http::{HeaderMap, Method, Uri};
use rsvault_service::identity::rbac::normalize;
use rsvault_service::metastore::ActivityRecord;
use std::sync::Arc;

/// Whether a request writes (and so goes into the log).
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The subscription and resource group a scope is in.
fn placement(scope: &str) -> (String, Option<String>) {
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let after = |key: &str| {
        segs.iter()
            .position(|s| s.eq_ignore_ascii_case(key))
            .and_then(|i| segs.get(i + 1))
            .map(|s| (*s).to_owned())
    };
    (
        after("subscriptions").unwrap_or_default(),
        after("resourceGroups"),
    )
}

pub fn outcome(reply: &Reply) -> (String, i64, Option<String>) {
    let (status, message) = match reply {
        Ok(r) => (r.status(), None),
        Err(e) => (e.status, Some(format!("{}: {}", e.code, e.message))),
    };
    let word = match status.as_u16() {
        202 => "Accepted",
        s if s < 400 => "Succeeded",
        _ => "Failed",
    };
    (word.to_owned(), i64::from(status.as_u16()), message)
}

pub async fn record(
    state: &Arc<AppState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    caller: &Caller,
    action: &str,
    outcome: (String, i64, Option<String>),
) {
    let scope = normalize(&crate::request::decode(uri.path()));
    let (subscription, resource_group) = placement(&scope);
    let (status, http_status, message) = outcome;
    let now = state.service.now();
    let correlation_id = ["x-ms-correlation-request-id", "x-ms-client-request-id"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map_or_else(rsvault_service::identity::secrets::new_guid, str::to_owned);
    let e = ActivityRecord {
        event_id: rsvault_service::identity::secrets::new_guid(),
        at_ms: now.as_millisecond(),
        at: now.to_string(),
        subscription,
        resource_group,
        resource_id: scope,
        operation: if action.is_empty() {
            format!("{method} (not a known operation)")
        } else {
            action.to_owned()
        },
        method: method.to_string(),
        status,
        http_status,
        caller: caller.name().to_owned(),
        caller_oid: caller.principal.object_id.clone(),
        client_ip: caller.address.map(|a| a.to_string()).unwrap_or_default(),
        correlation_id,
        message,
    };
    let svc = state.service.clone();
    let written = tokio::task::spawn_blocking(move || svc.record_activity(&e)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("could not write the activity log: {e}"),
        Err(e) => tracing::warn!("could not write the activity log: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_their_subscription_and_group() {
        let table = [
            ("/subscriptions/s1", "s1", None),
            (
                "/subscriptions/s1/resourceGroups/rg/providers/X/y/z",
                "s1",
                Some("rg"),
            ),
            ("/subscriptions/s1/resourcegroups/RG", "s1", Some("RG")),
            (
                "/providers/Microsoft.Authorization/roleAssignments/a",
                "",
                None,
            ),
        ];
        for (scope, sub, rg) in table {
            assert_eq!(
                placement(scope),
                (sub.to_owned(), rg.map(str::to_owned)),
                "{scope}"
            );
        }
    }
}
