//! `POST /rsvault/clock`: moves a simulated clock and runs the scheduler at
//! the new time. Only a server started on a simulated clock has it; it lets
//! tests and demos show schedules and retention over days in seconds.

use crate::AppState;
use crate::arm::ArmError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;

/// The latest time the clock may show: far enough from jiff's end of time
/// (9999-12-31) that the service's own date arithmetic (retention of up to
/// 99 years, soft-delete periods) never overflows.
const LATEST: &str = "9000-01-01T00:00:00Z";

fn bad(m: String) -> ArmError {
    ArmError::new(StatusCode::BAD_REQUEST, "InvalidRequestContent", m)
}

/// The time the body asks for: `now`, or the current time moved forward by
/// `advanceSeconds`, checked to lie between 1970 and [`LATEST`].
fn requested_time(body: &Value, current: Timestamp) -> Result<Timestamp, ArmError> {
    let latest: Timestamp = LATEST.parse().expect("a valid constant");
    let (t, field) = if let Some(t) = body.get("now").and_then(Value::as_str) {
        let ts: Timestamp = t
            .parse()
            .map_err(|e| bad(format!("now: '{t}' is not an RFC 3339 time: {e}")))?;
        (Some(ts), "now")
    } else if let Some(secs) = body.get("advanceSeconds").filter(|v| !v.is_null()) {
        let secs = secs
            .as_u64()
            .and_then(|s| i64::try_from(s).ok())
            .ok_or_else(|| {
                bad(format!(
                    "advanceSeconds: {secs} is not a whole number of seconds"
                ))
            })?;
        let t = jiff::SignedDuration::from_secs(secs);
        (current.checked_add(t).ok(), "advanceSeconds")
    } else {
        return Err(bad(
            "give either now (an RFC 3339 time) or advanceSeconds (a whole number)".into(),
        ));
    };
    t.filter(|t| *t >= Timestamp::UNIX_EPOCH && *t < latest)
        .ok_or_else(|| {
            bad(format!(
                "{field}: the clock must stay between 1970 and {LATEST}"
            ))
        })
}

/// Body: `{"now": "<RFC 3339>"}` or `{"advanceSeconds": N}`. Answers the new
/// time and what the scheduler tick at that time did.
pub async fn set(
    State(state): State<Arc<AppState>>,
    axum::Extension(caller): axum::Extension<crate::auth::Caller>,
    body: Bytes,
) -> Result<Json<Value>, ArmError> {
    // Moving time runs every schedule and expiry at once: the server's
    // own action, which only `*` (Owner, Contributor) holds.
    const ACTION: &str = "rsvault/clock/write";
    if !caller.access.allows(ACTION, "/") {
        return Err(caller.refused(ACTION, "/"));
    }
    let clock = state.clock.as_ref().ok_or_else(|| {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "SimulatedClockNotEnabled",
            "This server runs on the real clock; start it with a [testing] simulated_clock to move time.",
        )
    })?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "The request content was invalid and could not be deserialized: {e}"
        ))
    })?;
    let t = requested_time(&body, state.service.now())?;
    clock.set(rsvault_engine::clock::system_time(t));
    let rep = crate::scheduler_tick(&state.service, state.scheduler)
        .await
        .map_err(ArmError::from)?;
    Ok(Json(json!({
        "now": state.service.now().to_string(),
        "startedJobs": rep.started,
        "waitingBackups": rep.waiting,
        "expiredRecoveryPoints": rep.expired,
        "purgedItems": rep.purged,
        "instantExpired": rep.instant_expired,
        "startedVerifyJobs": rep.verify_started,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn advancing_never_overflows() {
        let now = at("2025-01-01T00:00:00Z");
        let t = requested_time(&json!({"advanceSeconds": 3600}), now).unwrap();
        assert_eq!(t, at("2025-01-01T01:00:00Z"));
        for body in [
            json!({"advanceSeconds": u64::MAX}),
            json!({"advanceSeconds": i64::MAX}),
            json!({"advanceSeconds": -1}),
            json!({"advanceSeconds": "60"}),
            json!({"advanceSeconds": 1.5}),
            json!({"now": "9999-12-31T00:00:00Z"}),
            json!({"now": "1900-01-01T00:00:00Z"}),
            json!({}),
        ] {
            let e = requested_time(&body, now).expect_err(&body.to_string());
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
        }
    }
}
