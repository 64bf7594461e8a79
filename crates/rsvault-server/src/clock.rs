//! `POST /rsvault/clock`: moves a simulated clock and runs the scheduler at
//! the new time. Only a server started on a simulated clock has it; it lets
//! tests and demos show schedules and retention over days in seconds.

use crate::AppState;
use crate::arm::ArmError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// Body: `{"now": "<RFC 3339>"}` or `{"advanceSeconds": N}`. Answers the new
/// time and what the scheduler tick at that time did.
pub async fn set(
    State(state): State<Arc<AppState>>,
    body: Json<Value>,
) -> Result<Json<Value>, ArmError> {
    let clock = state.clock.as_ref().ok_or_else(|| {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "SimulatedClockNotEnabled",
            "This server runs on the real clock; start it with a [testing] simulated_clock to move time.",
        )
    })?;
    let bad = |m: String| ArmError::new(StatusCode::BAD_REQUEST, "InvalidRequestContent", m);
    if let Some(t) = body.get("now").and_then(Value::as_str) {
        let t: jiff::Timestamp = t
            .parse()
            .map_err(|e| bad(format!("now: '{t}' is not an RFC 3339 time: {e}")))?;
        clock.set(rsvault_engine::clock::system_time(t));
    } else if let Some(secs) = body.get("advanceSeconds").and_then(Value::as_u64) {
        clock.advance(std::time::Duration::from_secs(secs));
    } else {
        return Err(bad(
            "give either now (an RFC 3339 time) or advanceSeconds (a whole number)".into(),
        ));
    }
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
