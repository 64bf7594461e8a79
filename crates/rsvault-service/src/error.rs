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
    /// The caller may not do this (403): a critical operation of a vault
    /// that multi-user authorization guards, without the guard's approval.
    #[error("{message}")]
    Forbidden { code: String, message: String },
    /// The request conflicts with the resource's state (409).
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// A failure of the server itself (500).
    #[error("{0}")]
    Internal(String),
    /// The file system that holds the data (the vault store, the metadata
    /// database or a restore target) has no space left (507 for a request;
    /// a job's error details otherwise).
    #[error("{message}")]
    StorageFull { message: String },
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

    /// A 403 error.
    pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
        ServiceError::Forbidden {
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

    /// The error of a write that found no space left: `what` says what was
    /// being written.
    pub fn storage_full(what: impl std::fmt::Display) -> Self {
        ServiceError::StorageFull {
            message: format!(
                "The storage is full: no space left on the file system to {what}. Nothing partial was kept."
            ),
        }
    }

    /// An I/O error of the service: a full file system is
    /// [`ServiceError::StorageFull`], anything else internal.
    pub fn io(what: impl std::fmt::Display, e: &std::io::Error) -> Self {
        if is_storage_full(e) {
            Self::storage_full(what)
        } else {
            ServiceError::Internal(format!("{what}: {e}"))
        }
    }

    /// The recommended action, where the error names one.
    pub fn recommendation(&self) -> Option<&str> {
        match self {
            ServiceError::StorageFull { .. } => Some(STORAGE_FULL_RECOMMENDATION),
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
            | ServiceError::Forbidden { code, .. }
            | ServiceError::Job { code, .. } => code,
            ServiceError::StorageFull { .. } => STORAGE_FULL,
            ServiceError::Internal(_) => "InternalServerError",
        }
    }
}

/// The code of [`ServiceError::StorageFull`].
pub const STORAGE_FULL: &str = "UserErrorStorageFull";

/// What to do about a full storage.
pub const STORAGE_FULL_RECOMMENDATION: &str = "Free space on the file system that holds the rsvault data directory (or the restore root, for a restore): delete recovery points you no longer need or stop protection with delete data, or grow the file system; then retry. Reads and restores to another file system keep working meanwhile.";

/// The code of a vault store whose object storage failed or is unreachable.
pub const STORAGE_UNAVAILABLE: &str = "UserErrorVaultStorageUnavailable";

/// What to do about storage that failed.
pub const STORAGE_UNAVAILABLE_RECOMMENDATION: &str = "Check that the storage named in the error (its S3 or Blob endpoint, the bucket or container, and the credentials the server has) is reachable from the rsvault server, then retry the operation. Committed recovery points are not affected.";

/// Whether an I/O error means the file system (or the user's quota) is full.
pub fn is_storage_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(28 | 122))
}

impl From<rsvault_engine::Error> for ServiceError {
    fn from(e: rsvault_engine::Error) -> Self {
        match &e {
            rsvault_engine::Error::Io { context, cause } if is_storage_full(cause) => {
                Self::storage_full(format_args!("{context} in the vault store"))
            }
            rsvault_engine::Error::Storage { .. } | rsvault_engine::Error::NoConditionalPuts(_) => {
                ServiceError::Job {
                    code: STORAGE_UNAVAILABLE.into(),
                    message: format!(
                        "The vault's storage could not be used: {e}. Nothing partial was kept."
                    ),
                    recommendation: STORAGE_UNAVAILABLE_RECOMMENDATION.into(),
                }
            }
            _ => ServiceError::Internal(format!("vault store: {e}")),
        }
    }
}

/// Result alias of the service.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_storage_full_with_a_recommendation() {
        let enospc = std::io::Error::from_raw_os_error(28);
        let e: ServiceError = rsvault_engine::Error::io("write object packs/ab/cd", enospc).into();
        assert_eq!(e.code(), STORAGE_FULL);
        assert!(e.to_string().contains("storage is full"), "{e}");
        assert!(e.recommendation().is_some_and(|r| r.contains("Free space")));
        let other = std::io::Error::from_raw_os_error(5);
        let e: ServiceError = rsvault_engine::Error::io("read", other).into();
        assert_eq!(e.code(), "InternalServerError");
        let edquot = std::io::Error::from_raw_os_error(122);
        assert_eq!(ServiceError::io("write x", &edquot).code(), STORAGE_FULL);
        let full = crate::metastore::MetaError::Full;
        assert_eq!(ServiceError::from(full).code(), STORAGE_FULL);
    }

    #[test]
    fn failed_object_storage_is_a_job_error_naming_it() {
        let e: ServiceError = rsvault_engine::Error::Storage {
            location: "s3://bucket/vault".into(),
            reason: "put packs/ab/cd: connection refused".into(),
        }
        .into();
        assert_eq!(e.code(), STORAGE_UNAVAILABLE);
        assert!(e.to_string().contains("s3://bucket/vault"), "{e}");
        assert!(e.recommendation().is_some_and(|r| r.contains("reachable")));
        let lax: ServiceError = rsvault_engine::Error::NoConditionalPuts("s3://b".into()).into();
        assert_eq!(lax.code(), STORAGE_UNAVAILABLE);
    }
}
