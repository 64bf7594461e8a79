//! Service errors, each with the Azure error code clients see.

/// What went wrong, in Azure's terms: the code, the message, and the kind of
/// failure (which the HTTP layer maps to a status).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request is invalid (400).
    #[error("{message}")]
    BadRequest { code: String, message: String },
    /// The resource does not exist (404).
    #[error("{message}")]
    NotFound { code: String, message: String },
    /// The request conflicts with the resource's state (409).
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// A failure of the server itself (500).
    #[error("{0}")]
    Internal(String),
    /// A job failed for a reason the user can act on (a job's error
    /// details: code, message and the recommended action).
    #[error("{message}")]
    Job {
        code: String,
        message: String,
        recommendation: String,
    },
}

impl ServiceError {
    /// A 400 error.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        ServiceError::BadRequest {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A 404 error.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        ServiceError::NotFound {
            code: code.into(),
            message: message.into(),
        }
    }

    /// A 409 error.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The recommended action, where the error names one.
    pub fn recommendation(&self) -> Option<&str> {
        match self {
            ServiceError::Job { recommendation, .. } => Some(recommendation),
            _ => None,
        }
    }

    /// The Azure error code.
    pub fn code(&self) -> &str {
        match self {
            ServiceError::BadRequest { code, .. }
            | ServiceError::NotFound { code, .. }
            | ServiceError::Conflict { code, .. }
            | ServiceError::Job { code, .. } => code,
            ServiceError::Internal(_) => "InternalServerError",
        }
    }
}

impl From<rusqlite::Error> for ServiceError {
    fn from(e: rusqlite::Error) -> Self {
        ServiceError::Internal(format!("metadata database: {e}"))
    }
}

impl From<rsvault_engine::Error> for ServiceError {
    fn from(e: rsvault_engine::Error) -> Self {
        ServiceError::Internal(format!("vault store: {e}"))
    }
}

/// Result alias of the service.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
