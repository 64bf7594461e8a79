//! ARM wire conventions: the error envelope and list bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rsvault_service::ServiceError;
use serde_json::{Value, json};

/// An error as ARM sends it: a status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ArmError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The recommended actions (`error.recommendations`).
    pub recommendations: Vec<String>,
}

impl ArmError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ArmError {
            status,
            code: code.into(),
            message: message.into(),
            recommendations: Vec::new(),
        }
    }
}

impl From<ServiceError> for ArmError {
    fn from(e: ServiceError) -> Self {
        let status = match &e {
            ServiceError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServiceError::Conflict { .. } => StatusCode::CONFLICT,
            ServiceError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ServiceError::StorageFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error: {e}");
        }
        if status == StatusCode::INSUFFICIENT_STORAGE {
            tracing::warn!("request refused: {e}");
        }
        let mut err = ArmError::new(status, e.code(), e.to_string());
        err.recommendations = e.recommendation().map(str::to_owned).into_iter().collect();
        err
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if !self.recommendations.is_empty() {
            body["error"]["recommendations"] = json!(self.recommendations);
        }
        (self.status, Json(body)).into_response()
    }
}

/// A list body: `{"value": [...], "nextLink": null}`.
pub fn list(items: Vec<Value>) -> Json<Value> {
    Json(json!({"value": items, "nextLink": null}))
}
