//! Requests of `Microsoft.Authorization` at any scope: `{scope}/providers/
//! Microsoft.Authorization/roleAssignments[/{name}]` and
//! `…/roleDefinitions[/{id}]`, where the scope is `/`, a subscription, a
//! resource group or a resource.

use super::ArmRequest as R;
use super::matcher::Query;
use crate::arm::ArmError;
use axum::http::{Method, StatusCode};

fn invalid(e: impl std::fmt::Display) -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: {e}"),
    )
}

/// The request, when the path is one of `Microsoft.Authorization`'s.
pub fn parse(
    method: &Method,
    segments: &[String],
    query: &Query,
    body: &[u8],
) -> Option<Result<R, ArmError>> {
    let at = segments.windows(2).position(|w| {
        w[0].eq_ignore_ascii_case("providers")
            && w[1].eq_ignore_ascii_case("Microsoft.Authorization")
    })?;
    let scope = format!("/{}", segments[..at].join("/"));
    let rest: Vec<&str> = segments[at + 2..].iter().map(String::as_str).collect();
    let kind = rest.first()?.to_ascii_lowercase();
    let filter = query.filter.clone();
    let r = match (kind.as_str(), &rest[1..], method) {
        ("roleassignments", [], &Method::GET) => Ok(R::ListRoleAssignments { scope, filter }),
        ("roleassignments", [name], &Method::GET) => Ok(R::GetRoleAssignment {
            scope,
            name: (*name).into(),
        }),
        ("roleassignments", [name], &Method::DELETE) => Ok(R::DeleteRoleAssignment {
            scope,
            name: (*name).into(),
        }),
        ("roleassignments", [name], &Method::PUT) => {
            let parsed = if body.is_empty() {
                Err(invalid("the body is empty"))
            } else {
                serde_json::from_slice(body).map_err(invalid)
            };
            parsed.map(|body| R::PutRoleAssignment {
                scope,
                name: (*name).into(),
                body,
            })
        }
        ("roledefinitions", [], &Method::GET) => Ok(R::ListRoleDefinitions { scope, filter }),
        ("permissions", [], &Method::GET) => Ok(R::ListPermissions { scope }),
        ("roledefinitions", [id], &Method::GET) => Ok(R::GetRoleDefinition {
            scope,
            id: (*id).into(),
        }),
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_path(method: Method, path: &str, body: &str) -> Option<Result<R, ArmError>> {
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        let _ = p;
        parse(&method, &segs, &Query::parse(q), body.as_bytes())
    }

    #[test]
    fn assignments_and_definitions_parse_at_every_scope() {
        let vault =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v";
        for scope in [
            "",
            "/subscriptions/s",
            "/subscriptions/s/resourceGroups/g",
            vault,
        ] {
            let r = parse_path(
                Method::GET,
                &format!("{scope}/providers/Microsoft.Authorization/roleAssignments"),
                "",
            )
            .unwrap()
            .unwrap();
            let want = if scope.is_empty() { "/" } else { scope };
            assert!(
                matches!(&r, R::ListRoleAssignments { scope, .. } if scope == want),
                "{r:?}"
            );
            let r = parse_path(
                Method::DELETE,
                &format!("{scope}/providers/microsoft.authorization/ROLEASSIGNMENTS/n1"),
                "",
            )
            .unwrap()
            .unwrap();
            assert!(
                matches!(&r, R::DeleteRoleAssignment { name, .. } if name == "n1"),
                "{r:?}"
            );
            let r = parse_path(
                Method::GET,
                &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/d1"),
                "",
            )
            .unwrap()
            .unwrap();
            assert!(
                matches!(&r, R::GetRoleDefinition { id, .. } if id == "d1"),
                "{r:?}"
            );
        }
        let put = parse_path(
            Method::PUT,
            "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/n",
            r#"{"properties":{"roleDefinitionId":"x","principalId":"p"}}"#,
        )
        .unwrap()
        .unwrap();
        assert!(
            matches!(&put, R::PutRoleAssignment { body, .. } if body.properties.principal_id == "p")
        );
        assert!(
            parse_path(
                Method::PUT,
                "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/n",
                "{"
            )
            .unwrap()
            .is_err()
        );
        assert!(
            parse_path(
                Method::POST,
                "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments",
                ""
            )
            .is_none()
        );
        assert!(
            parse_path(
                Method::GET,
                "/subscriptions/s/providers/Microsoft.RecoveryServices/vaults",
                ""
            )
            .is_none()
        );
    }
}
