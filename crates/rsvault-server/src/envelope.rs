//! The fallback that keeps every error answer in ARM's envelope: answers
//! made outside the handlers (axum's 405s, the body limit's 413, extractor
//! rejections, the portal's 404s) come as plain text or empty bodies; this
//! layer rewrites each into `{"error": {"code", "message"}}`. Successful
//! answers, and so the portal's pages, pass untouched.

use crate::arm::ArmError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Error bodies longer than this are not read back to be checked.
const MAX_ERROR_BODY: usize = 1 << 20;

/// The largest request body accepted (axum's default limit).
pub const BODY_LIMIT: u64 = 2 << 20;
/// A body declared larger than [`BODY_LIMIT`] but not than this is read
/// and dropped before the 413 goes out, so that the client, still sending,
/// gets to read the answer (over TLS a close with unread data resets the
/// connection first); a larger one is refused at once.
const DRAIN_LIMIT: usize = 16 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Refuses a request whose `Content-Length` is over [`BODY_LIMIT`] with
/// 413 `RequestEntityTooLarge`.
pub async fn oversized(req: Request, next: Next) -> Response {
    let limit = if crate::agent::takes_objects(req.uri().path()) {
        crate::agent::OBJECT_LIMIT
    } else {
        BODY_LIMIT
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(n) = declared.filter(|n| *n > limit) else {
        return next.run(req).await;
    };
    if usize::try_from(n).is_ok_and(|n| n <= DRAIN_LIMIT) {
        let body = req.into_body();
        let _ = tokio::time::timeout(DRAIN_TIME, axum::body::to_bytes(body, DRAIN_LIMIT)).await;
    }
    ArmError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!("The request body is {n} bytes; at most {limit} bytes are accepted."),
    )
    .into_response()
}

/// Rewrites any error answer that is not already the envelope.
pub async fn errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes: axum::body::Bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let html = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    // Pages (the device sign-in's) keep their own error pages.
    if html || is_envelope(&parts.headers, &bytes) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut out = rewrite(status, &method, &path, text.trim()).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Whether a body is JSON of the form `{"error": {"code": "…", "message": "…"}}`,
/// or the token issuer's OAuth2 error (`{"error": "…", "error_description": "…"}`),
/// which OAuth2 clients read as it is.
fn is_envelope(headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    json && serde_json::from_slice::<Value>(body).is_ok_and(|v| {
        (v["error"]["code"].is_string() && v["error"]["message"].is_string())
            || (v["error"].is_string() && v["error_description"].is_string())
    })
}

/// Whether a path (percent-decoded) is valid UTF-8.
fn utf8_path(path: &str) -> bool {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| {
            b.get(j)
                .and_then(|c| char::from(*c).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&out).is_ok()
}

/// The envelope for an error answer of `status` to `method path`; `text` is
/// what the original answer said, if anything.
fn rewrite(status: StatusCode, method: &Method, path: &str, text: &str) -> ArmError {
    let shown: String = path.chars().take(200).collect();
    let api = path
        .trim_start_matches('/')
        .get(..13)
        .is_some_and(|p| p.eq_ignore_ascii_case("subscriptions"));
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "RequestEntityTooLarge",
            "The request content is larger than the 2 MiB this server accepts.".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "MethodNotAllowed",
            format!("The HTTP method '{method}' is not supported at '{shown}'."),
        ),
        StatusCode::NOT_FOUND if api => (
            "InvalidResourceType",
            format!("No resource type or route matches '{shown}'."),
        ),
        StatusCode::NOT_FOUND => ("NotFound", format!("Nothing is found at '{shown}'.")),
        StatusCode::BAD_REQUEST if !utf8_path(path) => (
            "InvalidRequestUri",
            "The request URI is not valid: its path is not UTF-8 once percent-decoded.".to_owned(),
        ),
        StatusCode::BAD_REQUEST => ("InvalidRequestContent", or(text, "The request is invalid.")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "UnsupportedMediaType",
            or(text, "The content type is not supported."),
        ),
        s if s.is_server_error() => (
            "InternalServerError",
            or(text, "The server failed to process the request."),
        ),
        s => (
            "BadRequest",
            or(text, s.canonical_reason().unwrap_or("The request failed.")),
        ),
    };
    ArmError::new(status, code, message)
}

/// `text` if the original answer said something, else `fallback`.
fn or(text: &str, fallback: &str) -> String {
    let t: String = text.chars().take(1000).collect();
    if t.is_empty() { fallback.to_owned() } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_status_and_path() {
        let m = Method::GET;
        let c = |s, p| rewrite(s, &m, p, "").code;
        assert_eq!(
            c(StatusCode::PAYLOAD_TOO_LARGE, "/x"),
            "RequestEntityTooLarge"
        );
        assert_eq!(c(StatusCode::METHOD_NOT_ALLOWED, "/"), "MethodNotAllowed");
        assert_eq!(
            c(StatusCode::NOT_FOUND, "/Subscriptions/x"),
            "InvalidResourceType"
        );
        assert_eq!(c(StatusCode::NOT_FOUND, "/portal/x.js"), "NotFound");
        assert_eq!(
            c(StatusCode::BAD_REQUEST, "/portal/%FF"),
            "InvalidRequestUri"
        );
        assert_eq!(
            c(StatusCode::BAD_REQUEST, "/portal/%C3%A9"),
            "InvalidRequestContent"
        );
    }
}
