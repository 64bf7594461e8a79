//! `rsvault role …`: Azure RBAC on the server, in the manner of `az role`:
//! role assignments at a scope (`/`, a subscription, a resource group or a
//! resource such as a vault) and the role definitions.

use crate::arm_client::{Arm, ConnArgs, encode};
use crate::output::{self, Column, col, show};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use rsvault_arm::authorization::{
    Principal, RoleAssignment, RoleAssignmentProperties, RoleDefinition,
};
use std::process::ExitCode;

const ASSIGNMENT_API: &str = "2022-04-01";
const DEFINITION_API: &str = "2022-05-01-preview";

/// `rsvault role`.
#[derive(Debug, Args)]
pub struct RoleArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: RoleCommand,
}

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Manage role assignments.
    #[command(subcommand)]
    Assignment(AssignmentCommand),
    /// List role definitions.
    #[command(subcommand)]
    Definition(DefinitionCommand),
}

#[derive(Debug, Subcommand)]
pub enum AssignmentCommand {
    /// Create a role assignment.
    Create {
        /// The principal: object id, app id, user principal name or display name.
        #[arg(long)]
        assignee: String,
        /// Role name or id.
        #[arg(long)]
        role: String,
        /// Scope: /, /subscriptions/S, /subscriptions/S/resourceGroups/G or a resource id.
        #[arg(long)]
        scope: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List role assignments at a scope (and above and below it).
    List {
        /// Scope (default: the subscription).
        #[arg(long)]
        scope: Option<String>,
        /// Only the assignments of this principal.
        #[arg(long)]
        assignee: Option<String>,
    },
    /// Delete role assignments: by id, or by assignee, role and scope.
    Delete {
        /// Space-separated role assignment ids.
        #[arg(long, num_args = 1..)]
        ids: Vec<String>,
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        scope: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DefinitionCommand {
    /// List role definitions (Azure's built-in roles and rsvault's agent role).
    List {
        /// Only the role of this name.
        #[arg(long)]
        name: Option<String>,
    },
}

const ASSIGNMENTS: &[Column<RoleAssignment>] = &[
    col("Principal", |a| a.properties.principal_id.clone()),
    col("Role", |a| {
        a.properties
            .role_definition_id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    }),
    col("Scope", |a| show(&a.properties.scope)),
    col("Name", |a| show(&a.name)),
];

const DEFINITIONS: &[Column<RoleDefinition>] = &[
    col("Name", |d| d.properties.role_name.clone()),
    col("Type", |d| d.properties.kind.clone()),
    col("Description", |d| d.properties.description.clone()),
];

fn sub_scope(arm: &Arm) -> String {
    format!("/subscriptions/{}", arm.subscription())
}

fn scope_path(scope: &str) -> String {
    let s = scope.trim_end_matches('/');
    s.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// The role definition a name or id names, as seen from `scope`.
fn role_id(arm: &Arm, scope: &str, role: &str) -> Result<String> {
    let path = format!(
        "{}/providers/Microsoft.Authorization/roleDefinitions",
        scope_path(scope)
    );
    let filter = format!("roleName eq '{}'", role.replace('\'', "''"));
    let found: Vec<RoleDefinition> = arm.list(&path, DEFINITION_API, Some(&filter))?;
    if let Some(d) = found.first() {
        return Ok(d.id.clone().unwrap_or_default());
    }
    let guid = role.rsplit('/').next().unwrap_or(role);
    let d: RoleDefinition = arm.get(&format!("{path}/{}", encode(guid)), DEFINITION_API)?;
    Ok(d.id.unwrap_or_default())
}

/// The object id of a principal named any way the directory knows.
fn object_id(arm: &Arm, assignee: &str) -> Result<String> {
    let p: Principal = arm.get(
        &format!("/rsvault/directory/principals/{}", encode(assignee)),
        "2022-04-01",
    )?;
    Ok(p.id)
}

fn list_at(arm: &Arm, scope: &str, principal: Option<&str>) -> Result<Vec<RoleAssignment>> {
    let path = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments",
        scope_path(scope)
    );
    let filter = principal.map(|p| format!("principalId eq '{p}'"));
    arm.list(&path, ASSIGNMENT_API, filter.as_deref())
}

/// Runs one `rsvault role` command.
pub fn run(args: RoleArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let format = args.conn.output;
    let api = [("api-version", ASSIGNMENT_API)];
    match args.command {
        RoleCommand::Assignment(AssignmentCommand::Create {
            assignee,
            role,
            scope,
            description,
        }) => {
            let body = RoleAssignment::with_properties(RoleAssignmentProperties {
                role_definition_id: role_id(&arm, &scope, &role)?,
                principal_id: object_id(&arm, &assignee)?,
                description,
                ..Default::default()
            });
            let name = uuid::Uuid::new_v4();
            let path = format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{name}",
                scope_path(&scope)
            );
            let made: RoleAssignment = arm.send_json("PUT", &path, &api, &body)?.body()?;
            output::print_one(format, &made, ASSIGNMENTS)?;
        }
        RoleCommand::Assignment(AssignmentCommand::List { scope, assignee }) => {
            let scope = scope.unwrap_or_else(|| sub_scope(&arm));
            let principal = assignee.map(|a| object_id(&arm, &a)).transpose()?;
            output::print_list(
                format,
                &list_at(&arm, &scope, principal.as_deref())?,
                ASSIGNMENTS,
            )?;
        }
        RoleCommand::Assignment(AssignmentCommand::Delete {
            ids,
            assignee,
            role,
            scope,
        }) => {
            let ids = if ids.is_empty() {
                let (Some(assignee), Some(scope)) = (assignee, scope) else {
                    bail!(
                        "name the assignments with --ids, or with --assignee and --scope (and --role)"
                    );
                };
                let p = object_id(&arm, &assignee)?;
                let role = role.map(|r| role_id(&arm, &scope, &r)).transpose()?;
                list_at(&arm, &scope, Some(&p))?
                    .into_iter()
                    .filter(|a| {
                        a.properties.scope.as_deref().is_some_and(|s| {
                            s.eq_ignore_ascii_case(scope.trim_end_matches('/'))
                                || (s == "/" && scope == "/")
                        })
                    })
                    .filter(|a| {
                        role.as_deref()
                            .is_none_or(|r| a.properties.role_definition_id.eq_ignore_ascii_case(r))
                    })
                    .filter_map(|a| a.id)
                    .collect()
            } else {
                ids
            };
            for id in ids {
                arm.send("DELETE", &scope_path(&id), &api)?;
            }
        }
        RoleCommand::Definition(DefinitionCommand::List { name }) => {
            let path = format!(
                "{}/providers/Microsoft.Authorization/roleDefinitions",
                scope_path(&sub_scope(&arm))
            );
            let filter = name.map(|n| format!("roleName eq '{}'", n.replace('\'', "''")));
            let all: Vec<RoleDefinition> = arm.list(&path, DEFINITION_API, filter.as_deref())?;
            output::print_list(format, &all, DEFINITIONS)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
