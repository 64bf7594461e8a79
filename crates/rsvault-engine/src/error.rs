//! Typed errors of the engine.

use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine. Messages say what happened and,
/// where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error with the path or object it concerns (the cause is part
    /// of the message, not a separate `source`, so it prints once).
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
    /// A disk image that cannot be read as the format it claims to be.
    #[error("{path}: invalid {format} image: {reason}")]
    InvalidImage {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    /// A disk image that is valid but uses a feature rsvault refuses to read.
    #[error("{path}: unsupported {format} image: {reason}")]
    UnsupportedImage {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    /// The store was written by a newer or unknown format version.
    #[error(
        "store format version {found} is not supported (this rsvault reads version {supported}); upgrade rsvault"
    )]
    UnsupportedStoreVersion { found: u32, supported: u32 },
    /// The directory or bucket does not hold an rsvault store.
    #[error("no rsvault store at {0}: create one with `rsvault disk init`")]
    NotAStore(String),
    /// A store already exists where one was to be created.
    #[error("a store already exists at {0}")]
    StoreExists(String),
    /// The key does not open this store.
    #[error(
        "the key does not open this store ({0}); pass the key file that `rsvault disk init` created for it"
    )]
    WrongKey(String),
    /// The key file is malformed.
    #[error("key file {path}: {reason}")]
    BadKeyFile { path: PathBuf, reason: String },
    /// An object failed authentication, decoding or its hash check.
    #[error("damaged object {object}: {reason}")]
    Corrupt { object: String, reason: String },
    /// An object the store needs is missing.
    #[error("missing object {0}")]
    MissingObject(String),
    /// A chunk or tree node referenced by a recovery point is not in the store.
    #[error("recovery point {point} needs chunk {chunk}, which is missing or damaged")]
    MissingChunk { point: String, chunk: String },
    /// No recovery point matched the request.
    #[error("{0}")]
    PointNotFound(String),
    /// The caller's input is invalid (changed-range files, names, options).
    #[error("{0}")]
    InvalidInput(String),
    /// An object that was to be created exists already.
    #[error("object {0} already exists")]
    AlreadyExists(String),
    /// The object storage failed, or could not be reached, after its
    /// retries. The location names the storage (never its credentials).
    #[error("storage {location} failed: {reason}")]
    Storage { location: String, reason: String },
    /// The storage does not honour only-if-absent puts, and the store was
    /// not opened for a single writer.
    #[error(
        "the storage at {0} ignores conditional writes (If-None-Match: *): with two writers a commit could be lost, so rsvault does not write there; use a server with conditional writes, or set RSVAULT_STORAGE_SINGLE_WRITER=1 if only one process ever writes to this store"
    )]
    NoConditionalPuts(String),
    /// Another process holds an exclusive lock.
    #[error("{0}")]
    Locked(String),
    /// A store that cannot hold replicas of another's recovery points.
    #[error("{secondary} cannot hold replicas of the recovery points of {primary}: {reason}")]
    NotAReplica {
        primary: String,
        secondary: String,
        reason: String,
    },
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// An image file outside the folders images may be read from (see
    /// [`crate::source::ImageRoots`]), or one that is not a plain file.
    #[error("{path}: {reason}")]
    PathNotAllowed { path: PathBuf, reason: String },
}

impl Error {
    /// Wraps an I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            cause: source,
        }
    }

    /// Builds a [`Error::Corrupt`].
    pub fn corrupt(object: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Corrupt {
            object: object.into(),
            reason: reason.into(),
        }
    }
}
