//! The web portal: static files served at `/` (`index.html`) and under
//! `/portal/`. They are embedded in the binary; with `RSVAULT_PORTAL_DIR`
//! set, they are read from that directory instead (portal development).
//! The portal talks to the same ARM API, with the same bearer token, as
//! every other client; serving its files needs no token. Every file goes
//! with a strict Content-Security-Policy (scripts, styles and connections
//! from this origin only: no inline script or style, no framing), and the
//! page is never shown in a frame (clickjacking) nor leaks its URL.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "portal/"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Option<Vec<u8>> {
    if path.split('/').any(|s| s == ".." || s.is_empty()) {
        return None;
    }
    match std::env::var_os("RSVAULT_PORTAL_DIR") {
        Some(dir) => std::fs::read(std::path::Path::new(&dir).join(path)).ok(),
        None => Assets::get(path).map(|f| f.data.into_owned()),
    }
}

fn serve(path: &str) -> Response {
    match file(path) {
        Some(body) => {
            let mut r = body.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The portal's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /`: the portal's page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /portal/{*path}`: the portal's scripts, styles and images.
pub async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    serve(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded_and_paths_cannot_escape() {
        assert!(file("index.html").is_some_and(|b| b.starts_with(b"<!doctype html>")));
        assert!(file("../Cargo.toml").is_none());
        assert!(file("a//b").is_none());
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
    }
}
