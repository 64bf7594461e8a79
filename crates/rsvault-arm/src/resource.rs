//! What every ARM resource and list shares: the envelope ([`Resource`]),
//! the SKU, and list pages ([`List`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields of an object this version does not model, kept as received so a
/// round trip loses nothing.
pub type Extra = Map<String, Value>;

/// The envelope of an ARM resource: `id`, `name`, `type`, `location`,
/// `tags`, `etag` and the kind-specific `properties`.
///
/// Every field but `properties` may be absent (request bodies carry none of
/// `id`, `name`, `type`). Tags are kept as sent: ARM requires string
/// values, but a body that breaks that rule still reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resource<P> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The resource type, e.g. `Microsoft.RecoveryServices/vaults`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Map<String, Value>>,
    /// `etag`, as `Microsoft.RecoveryServices/vaults` spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `eTag`, as the backup resources under a vault spell it.
    #[serde(rename = "eTag", default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    pub properties: P,
    #[serde(flatten)]
    pub extra: Extra,
}

impl<P> Resource<P> {
    /// A request body: just these properties.
    pub fn with_properties(properties: P) -> Self {
        Resource {
            id: None,
            name: None,
            kind: None,
            location: None,
            tags: None,
            etag: None,
            e_tag: None,
            sku: None,
            properties,
            extra: Extra::new(),
        }
    }

    /// The id, or "" when there is none.
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }

    /// The name, or "" when there is none.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The resource group the id names (`/resourceGroups/{rg}/`).
    pub fn resource_group(&self) -> Option<&str> {
        resource_group_of(self.id())
    }
}

/// A PUT or PATCH body as the server reads it: the envelope fields a client
/// sets, and the `properties`, any of which may be left out (the server
/// says what it requires).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceBody<P> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// (A missing `Option` reads as `None`; `default` here would ask `P: Default`.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<P>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl<P> Default for ResourceBody<P> {
    fn default() -> Self {
        ResourceBody {
            location: None,
            tags: None,
            sku: None,
            properties: None,
            extra: Extra::new(),
        }
    }
}

impl<P> ResourceBody<P> {
    /// A body with just a location.
    pub fn located(location: impl Into<String>) -> Self {
        ResourceBody {
            location: Some(location.into()),
            ..Default::default()
        }
    }

    /// A body with just these properties.
    pub fn with_properties(properties: P) -> Self {
        ResourceBody {
            properties: Some(properties),
            ..Default::default()
        }
    }
}

/// The resource group named in an ARM id (`/resourceGroups/{rg}/`), in
/// any case of the `resourceGroups` segment.
pub fn resource_group_of(id: &str) -> Option<&str> {
    segment_after(id, "resourceGroups")
}

/// The segment after `key` (compared case-insensitively) in an ARM id.
pub fn segment_after<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut seg = id.split('/');
    while let Some(s) = seg.next() {
        if s.eq_ignore_ascii_case(key) {
            return seg.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// A SKU: `{"name": "Standard"}` of a vault, `{"name": "Standard_LRS",
/// "tier": "Standard"}` of a managed disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One page of an ARM list: `{"value": [...], "nextLink": ...}`.
/// `nextLink` is written even when null, as ARM writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(default)]
    pub next_link: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl<T> List<T> {
    /// The link to the next page, if there is one (an empty link is none).
    pub fn next(&self) -> Option<&str> {
        self.next_link.as_deref().filter(|l| !l.is_empty())
    }
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            value: Vec::new(),
            next_link: None,
            extra: Extra::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_round_trip_and_requests_stay_small() {
        let body = json!({"id": "/subscriptions/s/resourceGroups/rg1/providers/x/y/z", "name": "z",
            "type": "x/y", "location": "westeurope", "tags": {"a": "b"}, "eTag": "W/1",
            "properties": {"k": 1}, "identity": {"type": "None"}});
        let r: Resource<Value> = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(r.resource_group(), Some("rg1"));
        assert_eq!(r.extra["identity"], json!({"type": "None"}));
        assert_eq!(serde_json::to_value(&r).unwrap(), body);
        let req = Resource::with_properties(json!({"k": 2}));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"properties": {"k": 2}})
        );
        assert!(serde_json::from_value::<Resource<Value>>(json!({"id": "x"})).is_err());
    }

    #[test]
    fn request_bodies_may_leave_everything_out() {
        let b: ResourceBody<Value> = serde_json::from_value(json!({})).unwrap();
        assert_eq!(b, ResourceBody::default());
        let body = json!({"location": "westeurope", "sku": {"name": "Standard"}, "etag": "x",
            "properties": {"k": 1}});
        let b: ResourceBody<Value> = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(b.extra["etag"], "x");
        assert_eq!(serde_json::to_value(&b).unwrap(), body);
        assert_eq!(
            serde_json::to_value(ResourceBody::<Value>::located("eastus")).unwrap(),
            json!({"location": "eastus"})
        );
    }

    #[test]
    fn lists_keep_next_link() {
        let page = json!({"value": [1, 2], "nextLink": null});
        let l: List<u8> = serde_json::from_value(page.clone()).unwrap();
        assert_eq!(l.next(), None);
        assert_eq!(serde_json::to_value(&l).unwrap(), page);
        let l: List<u8> =
            serde_json::from_value(json!({"value": [], "nextLink": "http://h/x?$skiptoken=2"}))
                .unwrap();
        assert_eq!(l.next(), Some("http://h/x?$skiptoken=2"));
        let l: List<u8> = serde_json::from_value(json!({"nextLink": ""})).unwrap();
        assert!(l.value.is_empty() && l.next().is_none());
        assert_eq!(
            segment_after("/a/protectedItems/VM;x", "protecteditems"),
            Some("VM;x")
        );
        assert_eq!(resource_group_of("/subscriptions/s"), None);
    }
}
