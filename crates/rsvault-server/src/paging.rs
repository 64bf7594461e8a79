//! `nextLink` paging of every ARM list, as a layer over the handlers: a
//! list longer than a page is cut, and `nextLink` is the same request with
//! `$skiptoken` set to where the next page starts. The SDKs and `az` follow
//! `nextLink` until it is null.

use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

/// The `$skiptoken` of a query, and the query without it.
fn split_query(query: &str) -> (Option<String>, Vec<&str>) {
    let mut skip = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v))
                if k.eq_ignore_ascii_case("$skiptoken")
                    || k.eq_ignore_ascii_case("%24skiptoken") =>
            {
                skip = Some(v.to_owned())
            }
            _ => rest.push(pair),
        }
    }
    (skip, rest)
}

/// Cuts list responses into pages.
pub async fn paginate(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let base = req
        .extensions()
        .get::<crate::urls::BaseUrl>()
        .map_or_else(|| state.urls.listen_url.clone(), |b| b.0.clone());
    let path = req.uri().path().to_owned();
    let (skip, rest) = split_query(req.uri().query().unwrap_or(""));
    let rest: Vec<String> = rest.into_iter().map(str::to_owned).collect();
    let skip = match skip.map(|s| s.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return crate::arm::ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidSkipToken",
                "The $skiptoken is not one this server gave out.",
            )
            .into_response();
        }
    };
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut doc: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Response::from_parts(parts, Body::from(bytes)),
    };
    let page = state.page_size.max(1);
    let is_list = doc.get("nextLink").is_some_and(Value::is_null) && doc["value"].is_array();
    if !is_list || (skip == 0 && doc["value"].as_array().is_some_and(|a| a.len() <= page)) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let all = doc["value"].as_array_mut().expect("checked above");
    let total = all.len();
    let items: Vec<Value> = all.drain(..).skip(skip).take(page).collect();
    doc["value"] = Value::Array(items);
    if let Some(next) = skip.checked_add(page)
        && next < total
    {
        let mut q = rest.join("&");
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(&format!("$skiptoken={next}"));
        doc["nextLink"] = Value::String(format!("{base}{path}?{q}"));
    }
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(doc.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn skiptoken_is_split_from_the_query() {
        let (s, rest) = super::split_query("api-version=1&$skiptoken=4&$filter=x");
        assert_eq!(s.as_deref(), Some("4"));
        assert_eq!(rest, ["api-version=1", "$filter=x"]);
        assert_eq!(super::split_query("").0, None);
    }
}
