//! The part of Microsoft Graph (`/v1.0`) that `az ad` and `az role
//! assignment create --assignee` use, over the directory: principals as
//! Graph's users, service principals and applications. An application and
//! its service principal are one principal here, with one object id.
//! Filters are the OData forms `az` sends; pure functions of the records.

use super::secrets;
use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::{CredentialRecord, PrincipalKind, PrincipalRecord};

/// One clause of a Graph `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Clause {
    DisplayName(String),
    DisplayNameStarts(String),
    AppId(String),
    UserName(String),
    /// `servicePrincipalNames/any(c:c eq 'X')`: an app id here.
    ServicePrincipalName(String),
    /// `identifierUris/any(s:s eq 'X')`: none here.
    IdentifierUri,
}

/// A parsed Graph `$filter`: clauses joined with `and`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphFilter(Vec<Clause>);

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    s.strip_prefix('\'')?
        .strip_suffix('\'')
        .map(|v| v.replace("''", "'"))
}

impl GraphFilter {
    /// Parses a `$filter` ("" for none).
    pub fn parse(filter: &str) -> Result<GraphFilter> {
        let mut clauses = Vec::new();
        if filter.trim().is_empty() {
            return Ok(GraphFilter(clauses));
        }
        for c in filter.split(" and ") {
            clauses.push(Self::clause(c.trim()).ok_or_else(|| {
                ServiceError::bad_request(
                    "Request_UnsupportedQuery",
                    format!("Unsupported query: '{c}'. Filters are displayName eq, startswith(displayName,…), appId eq, userPrincipalName eq and servicePrincipalNames/any(c:c eq …)."),
                )
            })?);
        }
        Ok(GraphFilter(clauses))
    }

    fn clause(c: &str) -> Option<Clause> {
        let lower = c.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("startswith(displayname,") {
            let value = &c[c.len() - rest.len()..];
            return unquote(value.strip_suffix(')')?).map(Clause::DisplayNameStarts);
        }
        for (prefix, make) in [
            (
                "servicePrincipalNames/any(c:c eq ",
                Clause::ServicePrincipalName as fn(String) -> Clause,
            ),
            ("identifierUris/any(s:s eq ", |_| Clause::IdentifierUri),
        ] {
            if lower.starts_with(&prefix.to_ascii_lowercase()) {
                let value = c[prefix.len()..].strip_suffix(')')?;
                return unquote(value).map(make);
            }
        }
        let (key, value) = c.split_once(" eq ")?;
        let value = unquote(value)?;
        match key.trim().to_ascii_lowercase().as_str() {
            "displayname" => Some(Clause::DisplayName(value)),
            "appid" => Some(Clause::AppId(value)),
            "userprincipalname" => Some(Clause::UserName(value)),
            _ => None,
        }
    }

    /// Whether a principal passes every clause.
    pub fn matches(&self, p: &PrincipalRecord) -> bool {
        let app = p.app_id.as_deref().unwrap_or("");
        self.0.iter().all(|c| match c {
            Clause::DisplayName(v) => p.display_name.eq_ignore_ascii_case(v),
            Clause::DisplayNameStarts(v) => p
                .display_name
                .to_ascii_lowercase()
                .starts_with(&v.to_ascii_lowercase()),
            Clause::AppId(v) | Clause::ServicePrincipalName(v) => app.eq_ignore_ascii_case(v),
            Clause::UserName(v) => p
                .user_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(v)),
            Clause::IdentifierUri => false,
        })
    }
}

/// Which principals a Graph collection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Users,
    ServicePrincipals,
    /// Service principals seen as their applications (not managed identities).
    Applications,
}

impl Collection {
    pub fn holds(self, p: &PrincipalRecord) -> bool {
        match self {
            Collection::Users => p.kind == PrincipalKind::User,
            Collection::ServicePrincipals => p.kind != PrincipalKind::User,
            Collection::Applications => p.kind == PrincipalKind::ServicePrincipal,
        }
    }
}

impl Service {
    /// The principals of a collection that a filter selects.
    pub fn graph_list(&self, c: Collection, f: &GraphFilter) -> Result<Vec<PrincipalRecord>> {
        Ok(self
            .principals()?
            .into_iter()
            .filter(|p| c.holds(p) && f.matches(p))
            .collect())
    }

    /// One principal of a collection, by object id (or app id).
    pub fn graph_get(&self, c: Collection, id: &str) -> Result<PrincipalRecord> {
        self.find_principal(id)?
            .filter(|p| c.holds(p))
            .ok_or_else(|| {
                ServiceError::not_found(
                    "Request_ResourceNotFound",
                    format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
                )
            })
    }

    /// A new application (a service principal without a credential yet).
    pub fn create_application(&self, display_name: &str) -> Result<PrincipalRecord> {
        let (p, _) = self.create_service_principal(display_name)?;
        for c in self.meta.credentials(&p.object_id)? {
            self.meta.delete_credential(&p.object_id, &c.key_id)?;
        }
        Ok(p)
    }

    /// Renames an application.
    pub fn rename_principal(&self, id: &str, display_name: &str) -> Result<PrincipalRecord> {
        let p = self.principal(id)?;
        if p.display_name == display_name {
            return Ok(p);
        }
        Err(ServiceError::bad_request(
            "Request_BadRequest",
            format!(
                "Renaming '{}' is not supported: create a new application named '{display_name}'.",
                p.display_name
            ),
        ))
    }

    /// A principal's credentials.
    pub fn credentials_of(&self, id: &str) -> Result<Vec<CredentialRecord>> {
        let p = self.principal(id)?;
        Ok(self.meta.credentials(&p.object_id)?)
    }

    /// Adds a client secret to an application, valid until `end` (RFC
    /// 3339) if given; returns the credential and the secret (shown once).
    pub fn add_password(
        &self,
        id: &str,
        display_name: &str,
        end: Option<&str>,
    ) -> Result<(CredentialRecord, String)> {
        let p = self.graph_get(Collection::Applications, id)?;
        let expires = match end {
            None => None,
            Some(e) => Some(
                e.parse::<jiff::Timestamp>()
                    .map_err(|x| {
                        ServiceError::bad_request(
                            "Request_BadRequest",
                            format!("passwordCredential.endDateTime: '{e}' is not a time ({x})"),
                        )
                    })?
                    .to_string(),
            ),
        };
        let secret = secrets::new_secret();
        let cred = CredentialRecord {
            key_id: secrets::new_guid(),
            principal: p.object_id.clone(),
            hash: secrets::hash(&secret).map_err(ServiceError::Internal)?,
            display_name: display_name.to_owned(),
            created: self.now().to_string(),
            expires,
        };
        self.meta.add_credential(&cred, false)?;
        Ok((cred, secret))
    }

    /// Removes one client secret of an application.
    pub fn remove_password(&self, id: &str, key_id: &str) -> Result<()> {
        let p = self.graph_get(Collection::Applications, id)?;
        if self.meta.delete_credential(&p.object_id, key_id)? {
            Ok(())
        } else {
            Err(ServiceError::not_found(
                "Request_ResourceNotFound",
                format!(
                    "No password credential with keyId '{key_id}' on '{}'.",
                    p.display_name
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(name: &str, app: &str) -> PrincipalRecord {
        PrincipalRecord {
            object_id: "o1".into(),
            kind: PrincipalKind::ServicePrincipal,
            app_id: Some(app.into()),
            user_name: None,
            display_name: name.into(),
            created: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn filters_read_as_az_writes_them() {
        let p = sp("backup-bot", "APP-1");
        let table = [
            ("", true),
            ("displayName eq 'backup-bot'", true),
            ("displayName eq 'other'", false),
            ("startswith(displayName,'backup')", true),
            ("startswith(displayName,'bot')", false),
            ("appId eq 'app-1'", true),
            ("servicePrincipalNames/any(c:c eq 'app-1')", true),
            ("identifierUris/any(s:s eq 'api://x')", false),
            ("userPrincipalName eq 'a@b'", false),
            ("displayName eq 'backup-bot' and appId eq 'app-1'", true),
        ];
        for (f, want) in table {
            assert_eq!(GraphFilter::parse(f).unwrap().matches(&p), want, "{f}");
        }
        for bad in [
            "accountEnabled eq true",
            "displayName ne 'x'",
            "startswith(displayName,x)",
        ] {
            assert!(GraphFilter::parse(bad).is_err(), "{bad}");
        }
    }
}
