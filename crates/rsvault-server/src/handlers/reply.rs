//! What the handlers share: running a service call off the async threads,
//! and ARM's answers (JSON, lists, 201 for a creation, 202 with the URLs
//! clients poll).

use crate::AppState;
use crate::arm::{ArmError, list};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rsvault_service::Service;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// A handler's answer.
pub type Reply = Result<Response, ArmError>;

/// Runs a blocking service call off the async threads. The service comes
/// as its shared handle, which calls that start background jobs need.
pub async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&Arc<Service>) -> rsvault_service::Result<T> + Send + 'static,
) -> Result<T, ArmError> {
    let svc = state.service.clone();
    tokio::task::spawn_blocking(move || f(&svc))
        .await
        .map_err(|e| {
            ArmError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                e.to_string(),
            )
        })?
        .map_err(ArmError::from)
}

fn to_value<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// 200 with a JSON body.
pub fn json<T: Serialize>(v: T) -> Reply {
    Ok(Json(to_value(v)).into_response())
}

/// A list body (`value` and `nextLink`).
pub fn listed<T: Serialize>(items: Vec<T>) -> Reply {
    Ok(list(items.into_iter().map(to_value).collect()).into_response())
}

/// 201 for a resource a PUT created, 200 for one it updated.
pub fn put<T: Serialize>(v: T, created: bool) -> Reply {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(to_value(v))).into_response())
}

/// An answer without a body.
pub fn status(s: StatusCode) -> Reply {
    Ok(s.into_response())
}

/// An operation's result: 204 when it is done, 202 while it runs.
pub fn done_or_running(done: bool) -> Reply {
    status(if done {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

/// 202 Accepted with the headers Azure's clients poll (`status_url` as
/// `Azure-AsyncOperation` when there is one, `result_url` as `Location`).
/// Both are absolute URLs under the request's [`crate::urls::BaseUrl`].
pub fn accepted(status_url: Option<String>, result_url: String) -> Reply {
    let mut r = StatusCode::ACCEPTED.into_response();
    let h = r.headers_mut();
    if let Some(Ok(v)) = status_url.map(|u| HeaderValue::from_str(&u)) {
        h.insert("Azure-AsyncOperation", v);
    }
    if let Ok(v) = HeaderValue::from_str(&result_url) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(r)
}
