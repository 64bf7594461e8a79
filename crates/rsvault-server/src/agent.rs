//! The agent protocol's endpoints (`/rsvault/agent/…`, see
//! [`rsvault_service::agents::wire`]): enrolment with a one-time token,
//! heartbeats, task progress and results, and the store of a running task.
//! Every call but enrolment is the agent's principal's, and only for its
//! own host and tasks.

use crate::AppState;
use crate::arm::ArmError;
use crate::auth::Caller;
use crate::handlers::reply::{Reply, blocking, json};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use rsvault_engine::backend::{Backend, PutMode};
use rsvault_service::agents::wire;
use std::sync::Arc;

/// The largest object an agent puts (a pack is about 16 MiB).
pub const OBJECT_LIMIT: u64 = 64 << 20;

/// Whether a path is a store object's (which takes bodies up to
/// [`OBJECT_LIMIT`]).
pub fn takes_objects(path: &str) -> bool {
    path.starts_with("/rsvault/agent/tasks/") && path.contains("/store/objects/")
}

/// The routes under `/rsvault/agent` that need the agent's token.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/hosts/{host}/heartbeat", post(heartbeat))
        .route("/tasks/{task}/progress", post(progress))
        .route("/tasks/{task}/result", post(result))
        .route("/tasks/{task}/store/info", get(store_info))
        .route("/tasks/{task}/store/list", get(store_list))
        .route(
            "/tasks/{task}/store/objects/{*key}",
            get(object_get)
                .put(object_put)
                .delete(object_delete)
                .head(object_head),
        )
        .layer(DefaultBodyLimit::max(OBJECT_LIMIT as usize))
}

fn bad(message: impl Into<String>) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, "InvalidRequestContent", message)
}

fn body<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ArmError> {
    serde_json::from_slice(b).map_err(|e| {
        bad(format!(
            "The request content was invalid and could not be deserialized: {e}"
        ))
    })
}

/// `POST /rsvault/agent/enroll`: the token is the credential.
pub async fn enroll(State(state): State<Arc<AppState>>, b: Bytes) -> Reply {
    let req: wire::EnrollRequest = body(&b)?;
    let tenant = state.issuer.tenant().to_owned();
    let (host, client, secret) = blocking(&state, move |s| {
        s.enroll_host(&req.token, &req.host_name, &req.agent_version)
    })
    .await?;
    json(wire::Enrollment {
        machine_id: rsvault_service::agents::machine_id(
            &host.subscription,
            &host.resource_group,
            &host.name,
        ),
        host_id: host.id,
        subscription: host.subscription,
        resource_group: host.resource_group,
        location: host.location,
        tenant_id: tenant,
        client_id: client,
        client_secret: secret,
    })
}

async fn heartbeat(
    State(state): State<Arc<AppState>>,
    Path(host): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    b: Bytes,
) -> Reply {
    let hb: wire::Heartbeat = body(&b)?;
    let oid = caller.principal.object_id;
    json(blocking(&state, move |s| s.host_heartbeat(&host, &oid, &hb)).await?)
}

async fn progress(
    State(state): State<Arc<AppState>>,
    Path(task): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    b: Bytes,
) -> Reply {
    let p: wire::TaskProgress = body(&b)?;
    let oid = caller.principal.object_id;
    json(blocking(&state, move |s| s.agent_progress(&task, &oid, &p)).await?)
}

async fn result(
    State(state): State<Arc<AppState>>,
    Path(task): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
    b: Bytes,
) -> Reply {
    let r: wire::TaskResult = body(&b)?;
    let oid = caller.principal.object_id;
    json(blocking(&state, move |s| s.agent_result(&task, &oid, r)).await?)
}

/// The task's store, for its agent.
async fn store(
    state: &Arc<AppState>,
    task: String,
    caller: Caller,
) -> Result<(Arc<dyn Backend>, wire::StoreInfo), ArmError> {
    let oid = caller.principal.object_id;
    blocking(state, move |s| s.agent_task_store(&task, &oid)).await
}

/// Runs a backend call off the async threads.
async fn on_backend<T: Send + 'static>(
    backend: Arc<dyn Backend>,
    f: impl FnOnce(&dyn Backend) -> rsvault_engine::Result<T> + Send + 'static,
) -> Result<T, ArmError> {
    tokio::task::spawn_blocking(move || f(backend.as_ref()))
        .await
        .map_err(|e| {
            ArmError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                e.to_string(),
            )
        })?
        .map_err(store_error)
}

fn store_error(e: rsvault_engine::Error) -> ArmError {
    match e {
        rsvault_engine::Error::MissingObject(k) => ArmError::new(
            StatusCode::NOT_FOUND,
            "ObjectNotFound",
            format!("no object {k}"),
        ),
        rsvault_engine::Error::AlreadyExists(k) => ArmError::new(
            StatusCode::PRECONDITION_FAILED,
            "ObjectExists",
            format!("the object {k} exists"),
        ),
        other => ArmError::from(rsvault_service::ServiceError::from(other)),
    }
}

fn check_key(key: &str) -> Result<(), ArmError> {
    let ok = !key.is_empty()
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
        && !key.contains('\\');
    if ok {
        Ok(())
    } else {
        Err(bad(format!("'{key}' is not a store key")))
    }
}

async fn store_info(
    State(state): State<Arc<AppState>>,
    Path(task): Path<String>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Reply {
    json(store(&state, task, caller).await?.1)
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    prefix: String,
}

async fn store_list(
    State(state): State<Arc<AppState>>,
    Path(task): Path<String>,
    Query(q): Query<ListQuery>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Reply {
    if !(q.prefix.is_empty() || q.prefix.ends_with('/')) {
        return Err(bad("a prefix ends in '/' or is empty"));
    }
    let (b, _) = store(&state, task, caller).await?;
    let listed = on_backend(b, move |b| b.list(&q.prefix)).await?;
    json(
        listed
            .into_iter()
            .map(|o| wire::StoreObject {
                key: o.key,
                size: o.size,
                modified_ms: rsvault_engine::clock::unix_ms(o.modified),
            })
            .collect::<Vec<_>>(),
    )
}

/// `Range: bytes=A-B` as (offset, length).
fn range(h: &HeaderMap) -> Result<Option<(u64, u64)>, ArmError> {
    let Some(v) = h.get(header::RANGE) else {
        return Ok(None);
    };
    let parsed = v
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| b >= a);
    match parsed {
        Some((a, b)) => Ok(Some((a, b - a + 1))),
        None => Err(bad("Range must be bytes=START-END")),
    }
}

async fn object_get(
    State(state): State<Arc<AppState>>,
    Path((task, key)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Reply {
    check_key(&key)?;
    let r = range(&headers)?;
    let (b, _) = store(&state, task, caller).await?;
    let data = on_backend(b, move |b| match r {
        Some((off, len)) => b.get_range(&key, off, len),
        None => b.get(&key),
    })
    .await?;
    Ok(data.into_response())
}

async fn object_head(
    State(state): State<Arc<AppState>>,
    Path((task, key)): Path<(String, String)>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Reply {
    check_key(&key)?;
    let (b, _) = store(&state, task, caller).await?;
    match on_backend(b, move |b| b.head(&key)).await? {
        Some(m) => Ok((
            [
                ("x-rsvault-size", m.size.to_string()),
                (
                    "x-rsvault-modified-ms",
                    rsvault_engine::clock::unix_ms(m.modified).to_string(),
                ),
            ],
            StatusCode::OK,
        )
            .into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

async fn object_put(
    State(state): State<Arc<AppState>>,
    Path((task, key)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Extension(caller): axum::Extension<Caller>,
    data: Bytes,
) -> Reply {
    check_key(&key)?;
    let mode = match headers
        .get("x-rsvault-put-mode")
        .and_then(|v| v.to_str().ok())
    {
        Some("create") => PutMode::Create,
        Some("overwrite") | None => PutMode::Overwrite,
        Some(other) => {
            return Err(bad(format!(
                "x-rsvault-put-mode: '{other}' is not create or overwrite"
            )));
        }
    };
    let (b, _) = store(&state, task, caller).await?;
    on_backend(b, move |b| b.put(&key, &data, mode)).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn object_delete(
    State(state): State<Arc<AppState>>,
    Path((task, key)): Path<(String, String)>,
    axum::Extension(caller): axum::Extension<Caller>,
) -> Reply {
    check_key(&key)?;
    let (b, _) = store(&state, task, caller).await?;
    on_backend(b, move |b| b.delete(&key)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
