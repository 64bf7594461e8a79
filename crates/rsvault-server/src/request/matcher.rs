//! The one matcher of the route table: a template's fixed segments compare
//! case-insensitively with the decoded path segments, `{name}` segments
//! capture them (as sent, decoded); the first route of the request's method
//! whose template matches builds the request from its [`Captures`].

use super::table::ROUTES;
use super::{ArmRequest, Body, ItemRef, ListQuery};
use crate::arm::ArmError;
use axum::http::{Method, StatusCode};
use rsvault_arm::Resource;
use rsvault_service::VaultRef;
use rsvault_service::inventory::ResourceRef;
use serde::de::DeserializeOwned;

/// The methods of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Put,
    Patch,
    Post,
    Delete,
}

impl Verb {
    fn of(method: &Method) -> Option<Verb> {
        Some(match *method {
            Method::GET => Verb::Get,
            Method::PUT => Verb::Put,
            Method::PATCH => Verb::Patch,
            Method::POST => Verb::Post,
            Method::DELETE => Verb::Delete,
            _ => return None,
        })
    }

    /// The HTTP method.
    #[cfg(test)]
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Post => Method::POST,
            Verb::Delete => Method::DELETE,
        }
    }
}

/// Percent-decodes one path segment (an invalid escape stays as it is).
pub fn decode(seg: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters requests read, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub filter: String,
    pub expand: String,
    pub skip_token: Option<String>,
    pub top: Option<String>,
    pub api_version: Option<String>,
}

impl Query {
    /// Parses a query string (`+` is a space in values).
    pub fn parse(query: &str) -> Query {
        let mut q = Query::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(&v.replace('+', " "));
            match decode(k).to_ascii_lowercase().as_str() {
                "$filter" if q.filter.is_empty() => q.filter = v,
                "$expand" if q.expand.is_empty() => q.expand = v,
                "$skiptoken" => q.skip_token = Some(v),
                "$top" => q.top = Some(v),
                "api-version" => q.api_version = Some(v),
                _ => {}
            }
        }
        q
    }
}

/// The api-versions of Azure's passive-stamp (cross-region restore) API.
const PASSIVE_API_VERSIONS: &[&str] = &["2018-12-20", "2021-11-15", "2023-01-15", "2026-07-15"];

/// What a matched route builds its request from.
pub struct Captures<'a> {
    names: Vec<(&'static str, &'a str)>,
    query: &'a Query,
    body: &'a [u8],
}

impl Captures<'_> {
    /// A captured path parameter (the table's templates name every one
    /// their builders read; the table's tests check it).
    pub fn get(&self, name: &str) -> String {
        let found = self.names.iter().find(|(n, _)| *n == name);
        debug_assert!(found.is_some(), "the template captures {{{name}}}");
        found.map(|(_, v)| (*v).to_owned()).unwrap_or_default()
    }

    pub fn subscription(&self) -> String {
        self.get("subscriptionId")
    }

    pub fn resource_group(&self) -> String {
        self.get("resourceGroupName")
    }

    /// The resource named by the `{name}` parameter in the path's group.
    pub fn resource(&self, name: &str) -> ResourceRef {
        ResourceRef {
            subscription: self.subscription(),
            resource_group: self.resource_group(),
            name: self.get(name),
        }
    }

    pub fn vault(&self) -> VaultRef {
        VaultRef {
            subscription: self.subscription(),
            resource_group: self.resource_group(),
            name: self.get("vaultName"),
        }
    }

    pub fn item(&self) -> ItemRef {
        ItemRef {
            vault: self.vault(),
            container: self.get("containerName"),
            item: self.get("protectedItemName"),
        }
    }

    pub fn list_query(&self) -> ListQuery {
        ListQuery {
            filter: self.query.filter.clone(),
            skip_token: self.query.skip_token.clone(),
            top: self.query.top.clone(),
        }
    }

    /// Whether the request is for a geo-redundant vault's secondary region:
    /// Azure routes those by api-version alone (the passive stamp's), the
    /// paths being the primary's.
    pub fn passive(&self) -> bool {
        self.query
            .api_version
            .as_deref()
            .is_some_and(|v| PASSIVE_API_VERSIONS.contains(&v))
    }

    /// Whether `$expand` names `what` (case-insensitively).
    pub fn expands(&self, what: &str) -> bool {
        self.query
            .expand
            .to_ascii_lowercase()
            .contains(&what.to_ascii_lowercase())
    }

    /// The body read into its typed model ([`Captures::body`] first): one
    /// that does not read is `InvalidRequestContent`, naming the field.
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T, ArmError> {
        rsvault_arm::de::from_value(self.body()?).map_err(|e| {
            ArmError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContent",
                format!("The request content was invalid and could not be deserialized: {e}"),
            )
        })
    }

    /// The body read into its typed model, where the service names a field
    /// that breaks its rules with `code` (`properties.{field}: why`): a
    /// field of the wrong type gets the same code and form. A body that is
    /// not JSON is `InvalidRequestContent`.
    pub fn typed_or<T: DeserializeOwned>(&self, code: &str) -> Result<T, ArmError> {
        rsvault_arm::de::from_value(self.body()?)
            .map_err(|e| ArmError::new(StatusCode::BAD_REQUEST, code, e.to_string()))
    }

    /// The body as JSON; an empty body is `{}`.
    pub fn body(&self) -> Result<Body, ArmError> {
        if self.body.is_empty() {
            return Ok(Body::Object(Default::default()));
        }
        serde_json::from_slice(self.body).map_err(invalid_content)
    }

    /// The body as its typed model; an empty body is `{}`. A body that
    /// does not read as the model is `InvalidRequestContent`, as one that
    /// is not JSON.
    pub fn typed_body<T: DeserializeOwned>(&self) -> Result<T, ArmError> {
        serde_json::from_value(self.body()?).map_err(invalid_content)
    }

    /// The body of a resource's PUT as `Resource<P>`. Its `properties`
    /// may be absent or null (they read as `{}`): the service then names
    /// the property that is missing.
    pub fn resource_body<P: DeserializeOwned>(&self) -> Result<Resource<P>, ArmError> {
        let mut body = self.body()?;
        if let Some(m) = body.as_object_mut()
            && m.get("properties").is_none_or(serde_json::Value::is_null)
        {
            m.insert("properties".into(), Body::Object(Default::default()));
        }
        serde_json::from_value(body).map_err(invalid_content)
    }

    /// The `properties` of a body read as the model `P` (its default when
    /// the body has none). A body that is not JSON is refused as by
    /// [`Self::body`]; one that does not read as `P` is refused naming the
    /// field first (`properties.restoreDiskLunList[0]: invalid value…`).
    pub fn properties<P: serde::de::DeserializeOwned + Default>(&self) -> Result<P, ArmError> {
        let body = self.body()?;
        let r: rsvault_arm::Resource<Option<P>> =
            serde_path_to_error::deserialize(body).map_err(|e| {
                ArmError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContent",
                    format!(
                        "{}: {} (the request content was invalid and could not be deserialized)",
                        e.path(),
                        e.inner()
                    ),
                )
            })?;
        Ok(r.properties.unwrap_or_default())
    }
}

/// ARM's answer to a body that does not read.
fn invalid_content(e: serde_json::Error) -> ArmError {
    ArmError::new(
        StatusCode::BAD_REQUEST,
        "InvalidRequestContent",
        format!("The request content was invalid and could not be deserialized: {e}"),
    )
}

/// The captures of `template` over `segments`, if it matches.
fn captures<'a>(
    template: &'static str,
    segments: &'a [String],
) -> Option<Vec<(&'static str, &'a str)>> {
    let mut names = Vec::new();
    let mut parts = template.split('/');
    for seg in segments {
        let part = parts.next()?;
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => names.push((name, seg.as_str())),
            None if part.eq_ignore_ascii_case(seg) => {}
            None => return None,
        }
    }
    parts.next().is_none().then_some(names)
}

/// Builds the request of the first route that matches, if one does.
pub fn find(
    method: &Method,
    segments: &[String],
    query: &Query,
    body: &[u8],
) -> Option<Result<ArmRequest, ArmError>> {
    let verb = Verb::of(method)?;
    ROUTES.iter().filter(|r| r.verb == verb).find_map(|r| {
        let names = captures(r.template, segments)?;
        Some((r.build)(&Captures { names, query, body }))
    })
}
