//! Errors of the hypervisor edge.

use std::path::PathBuf;

/// An error talking to QEMU or its guest agent.
#[derive(Debug, thiserror::Error)]
pub enum HvError {
    #[error("cannot connect to the {what} socket {}: {source}", path.display())]
    Connect {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0} closed the connection")]
    Closed(&'static str),
    #[error("{0} did not answer in time")]
    Timeout(String),
    #[error("{0}")]
    Protocol(String),
    #[error("{command} failed: {desc} ({class})")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
    #[error("libvirt: {0}")]
    Libvirt(String),
    #[error("cancelled")]
    Cancelled,
}

impl HvError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        HvError::Io {
            what: what.into(),
            source,
        }
    }

    /// True for a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, HvError::Timeout(..))
    }
}

pub type Result<T> = std::result::Result<T, HvError>;
