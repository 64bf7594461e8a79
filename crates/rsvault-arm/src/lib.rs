//! rsvault's typed Azure Resource Manager models: what the vault server
//! sends and takes, and the CLI reads and sends.
//!
//! Every model carries the exact wire names (camelCase, with explicit
//! renames where ARM differs) and keeps what it does not model: each
//! object has an `extra` map, polymorphic objects ([`arm_union!`]) keep an
//! object of an unknown kind whole, and enums ([`arm_enum!`]) keep an
//! unknown value. Enums compare case-insensitively and are written in their
//! canonical spelling. A field the server may omit is an `Option` that is
//! not written when `None`; a field the server always writes, null or not,
//! is an `Option` that is written as null. So every body the server sends
//! reads into these types and writes back as the same JSON
//! (`rsvault-server/tests/round_trip.rs`), except that an explicit null
//! where the server would otherwise omit a field is dropped, and a
//! non-canonical enum spelling is written canonically.

pub mod activity;
pub mod authorization;
pub mod common;
pub mod container;
pub mod crr;
pub mod de;
pub mod error;
pub mod graph;
pub mod guard;
pub mod hybrid;
pub mod inventory;
pub mod item;
pub mod job;
mod macros;
pub mod operation;
pub mod policy;
pub mod recovery_point;
pub mod request;
pub mod resource;
pub mod restore_point;
pub mod storage;
pub mod tenancy;
pub mod usage;
pub mod vault;

pub use error::{Code, ErrorDetail, ErrorResponse};
pub use resource::{Extra, List, Resource, ResourceBody, Sku};
