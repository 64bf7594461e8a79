//! The activity log: every write made through the API, recorded by the
//! HTTP layer after it answered, and read back as Azure Monitor's
//! `EventData` (`Microsoft.Insights/eventtypes/management/values`) with
//! the `$filter` `az monitor activity-log list` sends. The store keeps it
//! append-only.

use crate::Service;
use crate::error::{Result, ServiceError};
use crate::metastore::{ActivityQuery, ActivityRecord};
use rsvault_arm::activity::{EventData, HttpRequestInfo, LocalizableString, SenderAuthorization};

/// What a list returns at most.
pub const MAX_EVENTS: usize = 1000;
/// How far back a query without a start looks (Azure keeps 90 days).
const DEFAULT_DAYS: i64 = 90;
const BAD_FILTER: &str = "BadRequest";

/// A parsed activity log `$filter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub from: Option<jiff::Timestamp>,
    pub to: Option<jiff::Timestamp>,
    pub resource_group: Option<String>,
    pub resource_id: Option<String>,
    pub resource_provider: Option<String>,
    pub correlation_id: Option<String>,
    pub caller: Option<String>,
    pub status: Option<String>,
}

/// A time as `az` (`2026-12-02T10:00:00.123456`, UTC) or an SDK (RFC 3339)
/// writes it, quoted or not.
fn filter_time(v: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    let dt: jiff::civil::DateTime = v.parse().ok()?;
    jiff::tz::TimeZone::UTC
        .to_ambiguous_timestamp(dt)
        .compatible()
        .ok()
}

/// Parses `eventTimestamp ge T and eventTimestamp le T [and key eq 'v']…`.
pub fn parse_filter(filter: &str) -> Result<EventFilter> {
    let bad = |why: String| {
        ServiceError::bad_request(
            BAD_FILTER,
            format!(
                "The $filter '{filter}' is not valid: {why}. Use eventTimestamp ge/le, resourceGroupName, resourceId, resourceUri, resourceProvider, correlationId, caller or status."
            ),
        )
    };
    let mut f = EventFilter::default();
    let trimmed = filter.trim();
    if trimmed.is_empty() {
        return Ok(f);
    }
    for clause in split_and(trimmed) {
        let mut parts = clause.trim().splitn(3, ' ');
        let (Some(key), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(format!("'{clause}' is not 'key op value'")));
        };
        let value = value.trim().trim_matches('\'').to_owned();
        let (key, op) = (key.to_ascii_lowercase(), op.to_ascii_lowercase());
        let time = || filter_time(&value).ok_or_else(|| bad(format!("'{value}' is not a time")));
        match (key.as_str(), op.as_str()) {
            ("eventtimestamp", "ge") => f.from = Some(time()?),
            ("eventtimestamp", "le") => f.to = Some(time()?),
            ("resourcegroupname", "eq") => f.resource_group = Some(value),
            ("resourceid" | "resourceuri", "eq") => f.resource_id = Some(value),
            ("resourceprovider", "eq") => f.resource_provider = Some(value),
            ("correlationid", "eq") => f.correlation_id = Some(value),
            ("caller", "eq") => f.caller = Some(value),
            ("status", "eq") => f.status = Some(value),
            _ => return Err(bad(format!("'{key} {op}' is not supported"))),
        }
    }
    Ok(f)
}

/// Splits on ` and ` outside quotes, in any case.
fn split_and(s: &str) -> Vec<&str> {
    let lower = s.to_ascii_lowercase();
    let (mut out, mut start, mut quoted) = (Vec::new(), 0, false);
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && lower[i..].starts_with(" and ") {
            out.push(&s[start..i]);
            i += 5;
            start = i;
            continue;
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// The provider and type of a resource id (`Microsoft.RecoveryServices`,
/// `Microsoft.RecoveryServices/vaults/backupPolicies`).
fn provider_and_type(resource_id: &str) -> (String, String) {
    let segs: Vec<&str> = resource_id.split('/').filter(|s| !s.is_empty()).collect();
    let Some(p) = segs
        .iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"))
    else {
        return match segs.len() {
            0..=2 => (
                "Microsoft.Resources".into(),
                "Microsoft.Resources/subscriptions".into(),
            ),
            _ => (
                "Microsoft.Resources".into(),
                "Microsoft.Resources/subscriptions/resourceGroups".into(),
            ),
        };
    };
    let namespace = segs.get(p + 1).copied().unwrap_or("").to_owned();
    let mut kind = namespace.clone();
    // Types are every other segment after the namespace.
    for t in segs.iter().skip(p + 2).step_by(2) {
        kind.push('/');
        kind.push_str(t);
    }
    (namespace, kind)
}

fn event_view(e: &ActivityRecord, tenant: &str) -> EventData {
    let (provider, kind) = provider_and_type(&e.resource_id);
    let mut claims = serde_json::Map::new();
    claims.insert("oid".into(), e.caller_oid.clone().into());
    let mut properties = serde_json::Map::new();
    properties.insert("statusCode".into(), e.http_status.to_string().into());
    if let Some(m) = &e.message {
        properties.insert("statusMessage".into(), m.clone().into());
    }
    let sub_status = http_reason(e.http_status);
    EventData {
        id: format!(
            "{}/events/{}/ticks/{}",
            e.resource_id,
            e.event_id,
            ticks(e.at_ms)
        ),
        event_data_id: e.event_id.clone(),
        authorization: SenderAuthorization {
            action: e.operation.clone(),
            scope: e.resource_id.clone(),
            role: None,
        },
        caller: e.caller.clone(),
        channels: "Operation".into(),
        claims,
        correlation_id: e.correlation_id.clone(),
        description: String::new(),
        category: LocalizableString::of("Administrative"),
        event_name: LocalizableString {
            value: "EndRequest".into(),
            localized_value: Some("End request".into()),
        },
        event_timestamp: e.at.clone(),
        submission_timestamp: e.at.clone(),
        http_request: HttpRequestInfo {
            client_request_id: e.correlation_id.clone(),
            client_ip_address: e.client_ip.clone(),
            method: e.method.clone(),
        },
        level: if e.status == "Failed" {
            "Error"
        } else {
            "Informational"
        }
        .into(),
        operation_id: e.correlation_id.clone(),
        operation_name: LocalizableString::of(&e.operation),
        resource_group_name: e.resource_group.clone(),
        resource_provider_name: LocalizableString::of(&provider),
        resource_type: LocalizableString::of(&kind),
        resource_id: e.resource_id.clone(),
        status: LocalizableString::of(&e.status),
        sub_status: LocalizableString::of(sub_status),
        subscription_id: e.subscription.clone(),
        tenant_id: tenant.to_owned(),
        properties,
        extra: Default::default(),
    }
}

/// .NET ticks (100 ns since 0001-01-01), as Azure's event ids carry them.
fn ticks(at_ms: i64) -> i64 {
    const EPOCH_TICKS: i64 = 621_355_968_000_000_000;
    at_ms.saturating_mul(10_000).saturating_add(EPOCH_TICKS)
}

fn http_reason(status: i64) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "NoContent",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        _ if status >= 500 => "InternalServerError",
        _ => "",
    }
}

impl Service {
    /// Appends an entry to the activity log.
    pub fn record_activity(&self, e: &ActivityRecord) -> Result<()> {
        Ok(self.meta.append_activity(e)?)
    }

    /// A subscription's activity log, newest first, as a `$filter` selects
    /// it (at most [`MAX_EVENTS`] entries).
    pub fn list_activity(
        &self,
        subscription: &str,
        filter: &str,
        tenant: &str,
    ) -> Result<Vec<EventData>> {
        let f = parse_filter(filter)?;
        let now = self.now();
        let to = f.to.unwrap_or(now);
        let from = match f.from {
            Some(t) => t,
            None => to
                .checked_sub(jiff::SignedDuration::from_hours(24 * DEFAULT_DAYS))
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
        };
        let q = ActivityQuery {
            subscription: subscription.to_owned(),
            from_ms: from.as_millisecond(),
            to_ms: to.as_millisecond(),
            resource_group: f.resource_group.clone(),
            resource_prefix: f.resource_id.clone(),
            correlation_id: f.correlation_id.clone(),
            caller: f.caller.clone(),
            limit: MAX_EVENTS,
        };
        Ok(self
            .meta
            .activities(&q)?
            .iter()
            .filter(|e| {
                f.status
                    .as_ref()
                    .is_none_or(|s| s.eq_ignore_ascii_case(&e.status))
            })
            .map(|e| event_view(e, tenant))
            .filter(|v| {
                f.resource_provider
                    .as_ref()
                    .is_none_or(|p| p.eq_ignore_ascii_case(&v.resource_provider_name.value))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_as_az_and_the_sdks_write_them() {
        let f = parse_filter(
            "eventTimestamp ge 2026-12-01T10:00:00.123456 and eventTimestamp le '2026-12-02T10:00:00Z' and resourceGroupName eq 'RG and more'",
        )
        .unwrap();
        assert_eq!(f.from, Some("2026-12-01T10:00:00.123456Z".parse().unwrap()));
        assert_eq!(f.to, Some("2026-12-02T10:00:00Z".parse().unwrap()));
        assert_eq!(f.resource_group.as_deref(), Some("RG and more"));
        let table = [
            ("", true),
            ("resourceUri eq '/subscriptions/s/x'", true),
            (
                "correlationId eq 'c' AND caller eq 'me' and status eq 'Failed'",
                true,
            ),
            ("resourceProvider eq 'Microsoft.RecoveryServices'", true),
            ("eventTimestamp ge yesterday", false),
            ("level eq 'Error'", false),
            ("eventTimestamp", false),
        ];
        for (filter, ok) in table {
            assert_eq!(parse_filter(filter).is_ok(), ok, "{filter}");
        }
    }

    #[test]
    fn resource_ids_name_their_provider_and_type() {
        let table = [
            (
                "/subscriptions/s",
                "Microsoft.Resources",
                "Microsoft.Resources/subscriptions",
            ),
            (
                "/subscriptions/s/resourceGroups/g",
                "Microsoft.Resources",
                "Microsoft.Resources/subscriptions/resourceGroups",
            ),
            (
                "/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v/backupPolicies/p",
                "Microsoft.RecoveryServices",
                "Microsoft.RecoveryServices/vaults/backupPolicies",
            ),
        ];
        for (id, provider, kind) in table {
            assert_eq!(
                provider_and_type(id),
                (provider.into(), kind.into()),
                "{id}"
            );
        }
    }
}
