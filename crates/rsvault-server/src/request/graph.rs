//! Microsoft Graph requests (`/v1.0/…`), the part `az ad` and `az role`
//! send: one [`GraphRequest`] per operation, carried by
//! [`ArmRequest::Graph`](super::ArmRequest::Graph).

use rsvault_arm::graph::{AddPassword, DirectoryWrite, GetByIds, RemovePassword};
use rsvault_service::identity::graph::Collection;

#[derive(Debug, Clone, PartialEq)]
pub enum GraphRequest {
    List {
        collection: Collection,
        filter: String,
    },
    Get {
        collection: Collection,
        id: String,
    },
    Create {
        collection: Collection,
        body: DirectoryWrite,
    },
    Update {
        collection: Collection,
        id: String,
        body: DirectoryWrite,
    },
    Delete {
        collection: Collection,
        id: String,
    },
    AddPassword {
        id: String,
        body: AddPassword,
    },
    RemovePassword {
        id: String,
        body: RemovePassword,
    },
    GetByIds {
        body: GetByIds,
    },
}

impl GraphRequest {
    /// Whether it only reads the directory.
    pub fn reads(&self) -> bool {
        matches!(
            self,
            GraphRequest::List { .. } | GraphRequest::Get { .. } | GraphRequest::GetByIds { .. }
        )
    }

    /// The RBAC action (rsvault's directory is managed under `/`).
    pub fn permission(&self) -> &'static str {
        match self {
            GraphRequest::List { .. }
            | GraphRequest::Get { .. }
            | GraphRequest::GetByIds { .. } => "Microsoft.Authorization/principals/read",
            GraphRequest::Create { .. } | GraphRequest::Update { .. } => {
                "Microsoft.Authorization/principals/write"
            }
            GraphRequest::Delete { .. } => "Microsoft.Authorization/principals/delete",
            GraphRequest::AddPassword { .. } | GraphRequest::RemovePassword { .. } => {
                "Microsoft.Authorization/principals/credentials/write"
            }
        }
    }
}
