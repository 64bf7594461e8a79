//! `GET /metadata/endpoints`: the cloud's endpoints in Azure's shape (the
//! 2022-09-01 "current cloud" answer), without authentication, so that
//! `az cloud register --endpoint-resource-manager https://host:7431/` and
//! Terraform's `metadata_host` find this server as Resource Manager. `az`
//! asks for `//metadata/endpoints` when given a trailing slash, and paths
//! are matched without regard to case.

use crate::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// The audiences tokens for Resource Manager are asked for: the first is
/// what `az` asks for, the second what the SDKs ask for.
pub const AUDIENCES: [&str; 2] = [
    "https://management.core.windows.net/",
    "https://management.azure.com/",
];

/// Whether a request is for the endpoints document.
fn is_endpoints(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .uri()
            .path()
            .trim_start_matches('/')
            .eq_ignore_ascii_case("metadata/endpoints")
}

/// The document, naming `base` (this server's URL, no trailing `/`).
pub fn document(base: &str) -> Value {
    json!({
        "name": "rsvault",
        "resourceManager": format!("{base}/"),
        "portal": format!("{base}/"),
        "authentication": {
            "loginEndpoint": base,
            "audiences": AUDIENCES,
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "microsoftGraphResourceId": format!("{base}/"),
        "graphAudience": format!("{base}/"),
        "suffixes": {},
    })
}

/// Answers `GET /metadata/endpoints` (any `api-version`) before
/// authentication; passes everything else on.
pub async fn endpoints(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if !is_endpoints(&req) {
        return next.run(req).await;
    }
    let (_, base) = crate::urls::peer_and_base(&state, &req);
    Json(document(&base)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_what_az_and_terraform_require() {
        let d = document("https://vault.example:7431");
        for key in [
            "name",
            "resourceManager",
            "microsoftGraphResourceId",
            "suffixes",
        ] {
            assert!(!d[key].is_null(), "{key}");
        }
        assert_eq!(
            d["authentication"]["loginEndpoint"],
            "https://vault.example:7431"
        );
        assert_eq!(
            d["authentication"]["audiences"][0],
            "https://management.core.windows.net/"
        );
        assert_ne!(
            d["name"], "AzureCloud",
            "that name makes az use Microsoft's login"
        );
    }

    #[test]
    fn double_slashes_and_case_are_accepted() {
        for (path, hit) in [
            ("/metadata/endpoints?api-version=2022-09-01", true),
            ("//metadata/endpoints?api-version=2022-09-01", true),
            ("/Metadata/Endpoints", true),
            ("/metadata/endpoints/x", false),
            ("/subscriptions", false),
        ] {
            let req = Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            assert_eq!(is_endpoints(&req), hit, "{path}");
        }
    }
}
