//! Errors of the metadata store, and how the service sees them.

use crate::error::ServiceError;

/// What went wrong in the metadata store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// The database has no space left (SQLite's `SQLITE_FULL`,
    /// PostgreSQL's `53100 disk_full`).
    #[error("the metadata database is full")]
    Full,
    /// A row with the same key exists already (a unique constraint).
    #[error("the metadata database already holds {0}")]
    Duplicate(String),
    /// The database cannot be reached or opened.
    #[error("the metadata database is unavailable: {0}")]
    Unavailable(String),
    /// The schema is newer than this rsvault, or a migration failed.
    #[error("metadata database schema: {0}")]
    Schema(String),
    /// A page token (`$skiptoken`) the store did not give out.
    #[error("the $skiptoken is not one this server gave out")]
    BadPageToken,
    /// A stored value is not what the schema says (a bug or damage).
    #[error("metadata database row: {0}")]
    Corrupt(String),
    /// Any other failure of the database.
    #[error("metadata database: {0}")]
    Backend(String),
}

/// Result alias of the store.
pub type MetaResult<T> = std::result::Result<T, MetaError>;

impl From<MetaError> for ServiceError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Full => ServiceError::storage_full("write the metadata database"),
            MetaError::Duplicate(what) => ServiceError::conflict(
                "Conflict",
                format!("{what} was created at the same time by another request; retry"),
            ),
            MetaError::BadPageToken => ServiceError::bad_request(
                "InvalidSkipToken",
                "The $skiptoken is not one this server gave out.",
            ),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}
