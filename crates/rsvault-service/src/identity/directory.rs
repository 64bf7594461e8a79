//! The directory: principals and their credentials, how they log in, and
//! the host's own Owner. Secrets leave here once, when made; the store
//! keeps their argon2 hashes.

use super::rbac::Access;
use super::roles;
use super::secrets::{self, new_guid};
use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::{CredentialRecord, PrincipalKind, PrincipalRecord, RoleAssignmentRecord};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The display name of the Owner the first start makes.
pub const HOST_OWNER: &str = "rsvault-host-owner";
/// The file, under the data directory, that holds the host Owner's
/// credential (0600).
pub const OWNER_FILE: &str = "identity/owner.json";
/// The admin token of earlier versions, imported as the host Owner's
/// secret and then removed.
pub const LEGACY_TOKEN_FILE: &str = "admin-token";

/// A principal's credential as `az ad sp create-for-rbac` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpCredential {
    pub app_id: String,
    pub display_name: String,
    pub password: String,
    pub tenant: String,
}

/// A principal that proved who it is, and with which credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub principal: PrincipalRecord,
    pub credential: String,
}

fn invalid(code: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::bad_request(code, message)
}

/// A display name or user name: 1 to 256 characters, no control
/// characters.
fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(invalid(
            "Request_BadRequest",
            format!(
                "Invalid value specified for property '{what}': it must be 1 to 256 characters without control characters."
            ),
        ));
    }
    Ok(())
}

/// A secret the caller chose (at least 8 characters), or a new random one.
fn chosen_or_new(secret: Option<&str>) -> Result<String> {
    match secret {
        Some(s) if s.chars().count() < 8 => Err(invalid(
            "Request_BadRequest",
            "The password does not comply with the password policy: at least 8 characters.",
        )),
        Some(s) => Ok(s.to_owned()),
        None => Ok(secrets::new_secret()),
    }
}

impl Service {
    fn credential_record(
        &self,
        principal: &str,
        secret: &str,
        display_name: &str,
    ) -> Result<CredentialRecord> {
        Ok(CredentialRecord {
            key_id: new_guid(),
            principal: principal.to_owned(),
            hash: secrets::hash(secret).map_err(ServiceError::Internal)?,
            display_name: display_name.to_owned(),
            created: self.now().to_string(),
            expires: None,
        })
    }

    fn insert_with_secret(&self, p: &PrincipalRecord, secret: &str) -> Result<()> {
        let cred = self.credential_record(&p.object_id, secret, "rbac")?;
        self.meta.insert_principal(p).map_err(|e| match e {
            crate::metastore::MetaError::Duplicate(_) => ServiceError::conflict(
                "Request_MultipleObjectsWithSameKeyValue",
                format!("Another object with the same value for property userPrincipalName or appId already exists: '{}'.", p.user_name.as_deref().unwrap_or(&p.display_name)),
            ),
            other => other.into(),
        })?;
        self.meta.add_credential(&cred, true)?;
        Ok(())
    }

    /// Makes a service principal with a new client secret; returns it and
    /// the secret (shown once).
    pub fn create_service_principal(
        &self,
        display_name: &str,
    ) -> Result<(PrincipalRecord, String)> {
        check_name("displayName", display_name)?;
        let p = PrincipalRecord {
            object_id: new_guid(),
            kind: PrincipalKind::ServicePrincipal,
            app_id: Some(new_guid()),
            user_name: None,
            display_name: display_name.to_owned(),
            created: self.now().to_string(),
        };
        let secret = secrets::new_secret();
        self.insert_with_secret(&p, &secret)?;
        Ok((p, secret))
    }

    /// Makes a user with `password` (a new random one when `None`);
    /// returns it and the password.
    pub fn create_user(
        &self,
        user_name: &str,
        display_name: &str,
        password: Option<&str>,
    ) -> Result<(PrincipalRecord, String)> {
        check_name("userPrincipalName", user_name)?;
        check_name("displayName", display_name)?;
        if !user_name.contains('@') || user_name.contains(char::is_whitespace) {
            return Err(invalid(
                "Request_BadRequest",
                format!(
                    "The user principal name '{user_name}' is not valid: it is name@domain, without spaces."
                ),
            ));
        }
        let password = chosen_or_new(password)?;
        let p = PrincipalRecord {
            object_id: new_guid(),
            kind: PrincipalKind::User,
            app_id: None,
            user_name: Some(user_name.to_owned()),
            display_name: display_name.to_owned(),
            created: self.now().to_string(),
        };
        self.insert_with_secret(&p, &password)?;
        Ok((p, password))
    }

    /// Every principal.
    pub fn principals(&self) -> Result<Vec<PrincipalRecord>> {
        Ok(self.meta.list_principals()?)
    }

    /// A principal by object id, app id or user name.
    pub fn find_principal(&self, id: &str) -> Result<Option<PrincipalRecord>> {
        if let Some(p) = self.meta.find_principal(id)? {
            return Ok(Some(p));
        }
        if let Some(p) = self.meta.find_principal_by_app(id)? {
            return Ok(Some(p));
        }
        Ok(self.meta.find_principal_by_user(id)?)
    }

    /// A principal by object id, app id, user name or display name (one).
    pub fn principal(&self, id: &str) -> Result<PrincipalRecord> {
        if let Some(p) = self.find_principal(id)? {
            return Ok(p);
        }
        let named: Vec<PrincipalRecord> = self
            .principals()?
            .into_iter()
            .filter(|p| p.display_name.eq_ignore_ascii_case(id))
            .collect();
        match named.len() {
            1 => Ok(named.into_iter().next().expect("one")),
            0 => Err(ServiceError::not_found(
                "Request_ResourceNotFound",
                format!(
                    "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
                ),
            )),
            n => Err(invalid(
                "Request_BadRequest",
                format!("{n} principals are named '{id}': name one by its object id or app id."),
            )),
        }
    }

    /// Deletes a principal, its credentials and its role assignments.
    /// The last Owner of the whole server cannot be deleted.
    pub fn delete_principal(&self, id: &str) -> Result<PrincipalRecord> {
        let p = self.principal(id)?;
        let owners = self.root_owners()?;
        if owners.iter().all(|a| a.principal == p.object_id) && !owners.is_empty() {
            return Err(ServiceError::conflict(
                "LastOwner",
                format!(
                    "'{}' is the last principal with the Owner role at scope '/': deleting it would leave nobody able to manage this server. Assign Owner at '/' to another principal first.",
                    p.display_name
                ),
            ));
        }
        self.meta.delete_principal(&p.object_id)?;
        Ok(p)
    }

    /// The role assignments of Owner at `/`.
    pub(crate) fn root_owners(&self) -> Result<Vec<RoleAssignmentRecord>> {
        Ok(self
            .meta
            .list_role_assignments()?
            .into_iter()
            .filter(|a| a.scope == "/" && a.role_definition == roles::OWNER)
            .collect())
    }

    /// Replaces a principal's credentials with a new secret (`secret`, or
    /// a random one); tokens got with the old ones stop working. Returns
    /// the principal and the secret.
    pub fn reset_credential(
        &self,
        id: &str,
        secret: Option<&str>,
    ) -> Result<(PrincipalRecord, String)> {
        let p = self.principal(id)?;
        if p.kind == PrincipalKind::ManagedIdentity {
            return Err(invalid(
                "Request_BadRequest",
                "A managed identity has no secret: it logs in through the vault host's managed-identity endpoint.",
            ));
        }
        let secret = chosen_or_new(secret)?;
        let cred = self.credential_record(&p.object_id, &secret, "rbac")?;
        self.meta.add_credential(&cred, true)?;
        Ok((p, secret))
    }

    /// Checks a secret (a client secret or a password) against the
    /// credentials of the principal with that app id or user name.
    pub fn authenticate(
        &self,
        id: &str,
        secret: &str,
        kind: PrincipalKind,
    ) -> Result<Option<Authenticated>> {
        let found = match kind {
            PrincipalKind::User => self.meta.find_principal_by_user(id)?,
            _ => self.meta.find_principal_by_app(id)?,
        };
        let Some(principal) = found.filter(|p| p.kind == kind) else {
            // As long as a real check, so that timing tells nothing.
            let _ = secrets::verify(secret, dummy_hash());
            return Ok(None);
        };
        let now = self.now().to_string();
        for c in self.meta.credentials(&principal.object_id)? {
            if c.expires.as_deref().is_some_and(|e| e <= now.as_str()) {
                continue;
            }
            if secrets::verify(secret, &c.hash) {
                return Ok(Some(Authenticated {
                    principal,
                    credential: c.key_id,
                }));
            }
        }
        Ok(None)
    }

    /// The principal a token names, if it and the credential the token
    /// was got with still exist (`None` for a token of a credential that
    /// was reset or a principal that was deleted).
    pub fn token_principal(
        &self,
        object_id: &str,
        credential: Option<&str>,
    ) -> Result<Option<PrincipalRecord>> {
        let Some(p) = self.meta.find_principal(object_id)? else {
            return Ok(None);
        };
        match (p.kind, credential) {
            (PrincipalKind::ManagedIdentity, _) => Ok(Some(p)),
            (_, None) => Ok(None),
            (_, Some(c)) => {
                let live = self
                    .meta
                    .credentials(&p.object_id)?
                    .iter()
                    .any(|k| k.key_id.eq_ignore_ascii_case(c));
                Ok(live.then_some(p))
            }
        }
    }

    /// The ids of a principal's credentials, oldest first.
    pub fn credential_ids(&self, object_id: &str) -> Result<Vec<String>> {
        Ok(self
            .meta
            .credentials(object_id)?
            .into_iter()
            .map(|c| c.key_id)
            .collect())
    }

    /// What a principal may do.
    pub fn access_of(&self, object_id: &str) -> Result<Access> {
        Ok(Access::of(&self.meta.role_assignments_of(object_id)?))
    }

    /// The host's managed identity (made when first asked for).
    pub fn host_identity(&self) -> Result<PrincipalRecord> {
        const NAME: &str = "rsvault-host";
        if let Some(p) = self
            .principals()?
            .into_iter()
            .find(|p| p.kind == PrincipalKind::ManagedIdentity && p.display_name == NAME)
        {
            return Ok(p);
        }
        let p = PrincipalRecord {
            object_id: new_guid(),
            kind: PrincipalKind::ManagedIdentity,
            app_id: Some(new_guid()),
            user_name: None,
            display_name: NAME.into(),
            created: self.now().to_string(),
        };
        self.meta.insert_principal(&p)?;
        Ok(p)
    }

    /// On a server with no principal yet: makes the host Owner (Owner at
    /// `/`) and writes its credential to `<data-dir>/identity/owner.json`
    /// (0600). The secret of an earlier version's `admin-token` file, when
    /// there is one, becomes its secret, and the file goes. Returns the
    /// credential file's path when it made the Owner now.
    pub fn ensure_host_owner(&self, tenant: &str) -> Result<Option<std::path::PathBuf>> {
        let dir = self.data_dir().to_path_buf();
        let file = dir.join(OWNER_FILE);
        let legacy = dir.join(LEGACY_TOKEN_FILE);
        if !self.principals()?.is_empty() {
            if legacy.exists() {
                let _ = std::fs::remove_file(&legacy);
            }
            return Ok(None);
        }
        let secret = match std::fs::read_to_string(&legacy) {
            Ok(t) if t.trim().len() >= 16 => t.trim().to_owned(),
            _ => secrets::new_secret(),
        };
        let p = PrincipalRecord {
            object_id: new_guid(),
            kind: PrincipalKind::ServicePrincipal,
            app_id: Some(new_guid()),
            user_name: None,
            display_name: HOST_OWNER.into(),
            created: self.now().to_string(),
        };
        self.insert_with_secret(&p, &secret)?;
        self.meta.insert_role_assignment(&RoleAssignmentRecord {
            name: new_guid(),
            scope: "/".into(),
            role_definition: roles::OWNER.into(),
            principal: p.object_id.clone(),
            principal_type: "ServicePrincipal".into(),
            description: Some("The vault host's own Owner, made at first start.".into()),
            created: self.now().to_string(),
            created_by: p.object_id.clone(),
        })?;
        write_credential(
            &file,
            &SpCredential {
                app_id: p.app_id.clone().unwrap_or_default(),
                display_name: p.display_name.clone(),
                password: secret,
                tenant: tenant.to_owned(),
            },
        )?;
        let _ = std::fs::remove_file(&legacy);
        Ok(Some(file))
    }
}

/// An argon2id hash of a random secret nobody knows, checked when a
/// principal is unknown.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| secrets::hash(&secrets::new_secret()).unwrap_or_default())
}

/// Writes a credential file (0600, replaced atomically).
pub fn write_credential(path: &Path, c: &SpCredential) -> Result<()> {
    if let Some(d) = path.parent() {
        crate::images::create_private_dir(d)?;
    }
    let body = serde_json::to_vec_pretty(c).map_err(|e| ServiceError::Internal(e.to_string()))?;
    super::tokens::write_private(path, &body)
        .map_err(|e| ServiceError::Internal(format!("write {}: {e}", path.display())))
}
