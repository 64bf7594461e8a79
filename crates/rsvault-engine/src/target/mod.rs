//! Restore targets: writers for the image formats a recovery point is restored to.

pub mod qcow2;
