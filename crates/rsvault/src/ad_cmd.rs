//! `rsvault ad …` and `rsvault account get-access-token`: the server's
//! directory of principals, in the manner of `az ad` (service principals
//! and users), and the token this client logs in with. On the server's
//! host, `--data-dir` logs in as the host Owner without a secret typed.

use crate::arm_client::{Arm, ConnArgs, encode};
use crate::backup_cmd::confirm;
use crate::output::{self, Column, col, show};
use anyhow::Result;
use clap::{Args, Subcommand};
use rsvault_arm::authorization::{
    Credential, CredentialReset, Principal, ServicePrincipalCreate, UserCreate,
};
use std::process::ExitCode;

const DIRECTORY: &str = "/rsvault/directory";
const API: [(&str, &str); 1] = [("api-version", "2022-04-01")];

/// `rsvault ad`.
#[derive(Debug, Args)]
pub struct AdArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: AdCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdCommand {
    /// Manage service principals (applications that log in with a secret).
    #[command(subcommand)]
    Sp(SpCommand),
    /// Manage users (people who log in with a password).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum SpCommand {
    /// Create a service principal and assign it a role, as `az ad sp
    /// create-for-rbac` does; prints its appId, password and tenant once.
    CreateForRbac {
        /// Display name of the service principal.
        #[arg(short = 'n', long)]
        name: String,
        /// Role of the service principal (name or GUID).
        #[arg(long)]
        role: Option<String>,
        /// Space-separated scopes the role assignment applies to.
        #[arg(long, num_args = 1..)]
        scopes: Vec<String>,
    },
    /// List service principals and managed identities.
    List,
    /// Show a principal (object id, app id or display name).
    Show {
        #[arg(long)]
        id: String,
    },
    /// Delete a service principal with its credentials and role assignments.
    Delete {
        #[arg(long)]
        id: String,
    },
    /// Manage a service principal's credentials.
    #[command(subcommand)]
    Credential(CredentialCommand),
}

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Replace the credentials with a new secret, or with a certificate
    /// (--cert); tokens got with the old ones stop working.
    Reset {
        #[arg(long)]
        id: String,
        /// A PEM file of the certificate to log in with instead of a secret
        /// (`az login --service-principal --certificate`).
        #[arg(long)]
        cert: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints the password once (a random one unless given).
    Create {
        /// The user principal name, e.g. alice@rsvault.local.
        #[arg(long = "user-principal-name")]
        user_principal_name: String,
        /// The display name.
        #[arg(long = "display-name")]
        display_name: String,
        /// The password (default: a random one; better in RSVAULT_USER_PASSWORD).
        #[arg(long, env = "RSVAULT_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List users.
    List,
    /// Delete a user with its role assignments.
    Delete {
        #[arg(long)]
        id: String,
        /// Do not prompt for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Set a new password (a random one unless given).
    Update {
        #[arg(long)]
        id: String,
        #[arg(long, env = "RSVAULT_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// `rsvault account`.
#[derive(Debug, Args)]
pub struct AccountArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: AccountCommand,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Print an access token for the server, as `az account get-access-token` does.
    GetAccessToken,
}

const PRINCIPALS: &[Column<Principal>] = &[
    col("DisplayName", |p| p.display_name.clone()),
    col("Id", |p| p.id.clone()),
    col("AppId", |p| show(&p.app_id)),
    col("UserPrincipalName", |p| show(&p.user_principal_name)),
    col("Type", |p| p.principal_type.clone()),
];

const CREDENTIALS: &[Column<Credential>] = &[
    col("AppId", |c| show(&c.app_id)),
    col("UserPrincipalName", |c| show(&c.user_principal_name)),
    col("DisplayName", |c| c.display_name.clone()),
    col("Password", |c| show(&c.password)),
    col("Tenant", |c| c.tenant.clone()),
];

fn principal_path(id: &str) -> String {
    format!("{DIRECTORY}/principals/{}", encode(id))
}

fn reset(
    arm: &Arm,
    id: &str,
    password: Option<String>,
    certificate: Option<String>,
) -> Result<Credential> {
    let path = format!("{}/resetCredential", principal_path(id));
    let body = CredentialReset {
        password,
        certificate,
    };
    arm.send_json("POST", &path, &API, &body)?.body()
}

fn list_of(arm: &Arm, users: bool) -> Result<Vec<Principal>> {
    let all: Vec<Principal> = arm.list(&format!("{DIRECTORY}/principals"), "2022-04-01", None)?;
    Ok(all
        .into_iter()
        .filter(|p| (p.principal_type == "User") == users)
        .collect())
}

/// Runs one `rsvault ad` command.
pub fn run(args: AdArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let format = args.conn.output;
    match args.command {
        AdCommand::Sp(SpCommand::CreateForRbac { name, role, scopes }) => {
            let body = ServicePrincipalCreate {
                display_name: name,
                role,
                scopes,
            };
            let c: Credential = arm
                .send_json(
                    "POST",
                    &format!("{DIRECTORY}/servicePrincipals"),
                    &API,
                    &body,
                )?
                .body()?;
            output::print_one(format, &c, CREDENTIALS)?;
        }
        AdCommand::Sp(SpCommand::List) => {
            output::print_list(format, &list_of(&arm, false)?, PRINCIPALS)?
        }
        AdCommand::Sp(SpCommand::Show { id }) => {
            let p: Principal = arm.get(&principal_path(&id), "2022-04-01")?;
            output::print_one(format, &p, PRINCIPALS)?;
        }
        AdCommand::Sp(SpCommand::Delete { id }) => {
            arm.send("DELETE", &principal_path(&id), &API)?;
        }
        AdCommand::Sp(SpCommand::Credential(CredentialCommand::Reset { id, cert })) => {
            let certificate = cert
                .map(|p| {
                    std::fs::read_to_string(&p)
                        .map_err(|e| anyhow::anyhow!("--cert {}: {e}", p.display()))
                })
                .transpose()?;
            output::print_one(format, &reset(&arm, &id, None, certificate)?, CREDENTIALS)?;
        }
        AdCommand::User(UserCommand::Create {
            user_principal_name,
            display_name,
            password,
        }) => {
            let body = UserCreate {
                user_principal_name,
                display_name,
                password,
            };
            let c: Credential = arm
                .send_json("POST", &format!("{DIRECTORY}/users"), &API, &body)?
                .body()?;
            output::print_one(format, &c, CREDENTIALS)?;
        }
        AdCommand::User(UserCommand::List) => {
            output::print_list(format, &list_of(&arm, true)?, PRINCIPALS)?
        }
        AdCommand::User(UserCommand::Delete { id, yes }) => {
            if confirm(
                yes,
                "The user and its role assignments will be deleted. Are you sure you want to perform this operation?",
            )? {
                arm.send("DELETE", &principal_path(&id), &API)?;
            }
        }
        AdCommand::User(UserCommand::Update { id, password }) => {
            output::print_one(format, &reset(&arm, &id, password, None)?, CREDENTIALS)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one `rsvault account` command.
pub fn run_account(args: AccountArgs) -> Result<ExitCode> {
    let arm = Arm::new(&args.conn)?;
    let AccountCommand::GetAccessToken = args.command;
    let claims = claims_of(arm.token());
    let exp = claims["exp"].as_i64().unwrap_or_default();
    let out = serde_json::json!({
        "accessToken": arm.token(),
        "expiresOn": jiff::Timestamp::from_second(exp).map(|t| t.to_string()).unwrap_or_default(),
        "expires_on": exp,
        "subscription": arm.subscription(),
        "tenant": claims["tid"],
        "tokenType": "Bearer",
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// A JWT's claims, unverified (for display).
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
