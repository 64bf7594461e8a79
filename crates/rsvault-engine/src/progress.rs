//! Progress reporting, rendered by the caller (a bar in the CLI, job
//! progress in the server).

/// Receives progress of a long operation.
pub trait Progress: Send + Sync {
    /// A phase begins; `total` is in bytes (0 if unknown).
    fn start(&self, _phase: &str, _total: u64) {}
    /// `n` more bytes are done.
    fn advance(&self, _n: u64) {}
    /// The phase ended.
    fn finish(&self) {}
}

/// Ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
