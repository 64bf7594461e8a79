//! `nextLink` paging of every ARM list, as a layer over the handlers: a
//! list longer than a page is cut, and `nextLink` is the same request with
//! `$skiptoken` set to where the next page starts. The SDKs and `az` follow
//! `nextLink` until it is null.
//!
//! Lists the metadata store pages in its query (jobs, protected items,
//! containers) read the page asked for from [`PageParams`] and answer with
//! [`paged`]: the layer then only turns their next page's token into
//! `nextLink`, and leaves the `$skiptoken` to them.

use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rsvault_service::{Page, PageRequest};
use serde_json::Value;
use std::sync::Arc;

/// The page a request asks for: its `$skiptoken` as sent, and the server's
/// page size. Set on every request.
#[derive(Debug, Clone)]
pub struct PageParams(pub PageRequest);

/// Marks a list that paged itself, with its next page's token.
#[derive(Debug, Clone)]
struct SelfPaged(Option<String>);

/// The answer of a list paged in its query (items of any model).
pub fn paged<T: serde::Serialize>(page: Page<T>) -> Response {
    let items = page
        .items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
        .collect();
    let mut r = crate::arm::list(items).into_response();
    r.extensions_mut().insert(SelfPaged(page.next));
    r
}

/// The next page's URL: the request with its `$skiptoken` replaced.
fn next_link(base: &str, path: &str, rest: &[String], token: &str) -> String {
    let mut q = rest.join("&");
    if !q.is_empty() {
        q.push('&');
    }
    q.push_str(&format!("$skiptoken={token}"));
    format!("{base}{path}?{q}")
}

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
pub async fn paginate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let (token, _) = split_query(req.uri().query().unwrap_or(""));
    req.extensions_mut().insert(PageParams(PageRequest {
        token,
        size: state.page_size.max(1),
    }));
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
        None => Some(0),
        Some(Ok(n)) => Some(n),
        // A token of a list paged in its query; others are refused below.
        Some(Err(_)) => None,
    };
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let self_paged = resp.extensions().get::<SelfPaged>().cloned();
    let Some(skip) = skip.filter(|_| self_paged.is_none()) else {
        return match self_paged {
            Some(SelfPaged(next)) => with_next_link(resp, next, &base, &path, &rest).await,
            None => crate::arm::ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidSkipToken",
                "The $skiptoken is not one this server gave out.",
            )
            .into_response(),
        };
    };
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
        doc["nextLink"] = Value::String(next_link(&base, &path, &rest, &next.to_string()));
    }
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(doc.to_string()))
}

/// A self-paged list's answer with `nextLink` set from its next token.
async fn with_next_link(
    resp: Response,
    next: Option<String>,
    base: &str,
    path: &str,
    rest: &[String],
) -> Response {
    let Some(token) = next else {
        return resp;
    };
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut doc: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Response::from_parts(parts, Body::from(bytes)),
    };
    doc["nextLink"] = Value::String(next_link(base, path, rest, &token));
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
