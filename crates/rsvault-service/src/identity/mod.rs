//! Identity and access: the principals of the built-in token issuer, their
//! credentials, the tokens it signs, Azure's role definitions and the RBAC
//! check. Nothing here knows HTTP: the server turns requests into these
//! calls.

pub mod assignments;
pub mod certificates;
pub mod directory;
pub mod graph;
pub mod rbac;
pub mod roles;
pub mod secrets;
pub mod tokens;
